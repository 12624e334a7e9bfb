//! A patient's records as they stood on the day an order was signed: what was recorded or started
//! after it does not count, and a stop after it is undone (the medicine was still being taken,
//! the condition still active). Decided on the resource read in R4's shape (`fhir::normalize`:
//! DSTU2's `dateRecorded`, STU3's `assertedDate`…); a resource left as it was is kept in its own
//! version's shape, one changed is given in R4's.
//!
//! Dates compare by their calendar part, at the precision given: a record of the same day counts
//! (it was there at signing), and a partial date (`2026-12`) that may be the same month counts
//! too. A stop the record gives no date for (a `stopped` MedicationRequest) is taken as it stands.

use std::str::FromStr;

use serde_json::{Map, Value};

use crate::fhir::dates::FhirDate;

/// `date` (a FHIR date or dateTime) is after `day` (`YYYY-MM-DD`).
pub fn after(date: Option<&Value>, day: &str) -> bool {
    date.and_then(Value::as_str).and_then(|d| FhirDate::from_str(d).ok()).is_some_and(|d| d.as_str() > day)
}

fn at<'a>(object: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(object.get(*first)?, |value, key| value.get(*key))
}

/// The resource as it stood on `day`, or `None` when it was recorded or started after it.
pub fn as_of(resource: Value, day: &str) -> Option<Value> {
    let mut normal = resource.clone();
    let kind = crate::fhir::normalize::normalize(&mut normal)?;
    let Value::Object(object) = &mut normal else { return Some(resource) };
    let later = |path: &[&str]| after(at(object, path), day);
    let undone = match kind.as_str() {
        "MedicationRequest" => {
            if later(&["authoredOn"]) {
                return None;
            }
            let ends_later = object
                .get("dosageInstruction")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|d| after(d.pointer("/timing/repeat/boundsPeriod/end"), day));
            ends_later && undo_stop(object, &[])
        }
        "MedicationStatement" => {
            let started = [&["dateAsserted"][..], &["effectiveDateTime"], &["effectivePeriod", "start"]];
            if started.iter().any(|path| later(path)) {
                return None;
            }
            later(&["effectivePeriod", "end"]) && undo_stop(object, &["effectivePeriod", "end"])
        }
        "Condition" => {
            let recorded = [
                &["recordedDate"][..],
                &["assertedDate"],
                &["dateRecorded"],
                &["onsetDateTime"],
                &["onsetPeriod", "start"],
            ];
            if recorded.iter().any(|path| later(path)) {
                return None;
            }
            let abated = ["abatementDateTime", "abatementPeriod", "abatementString", "abatementBoolean"];
            if later(&["abatementDateTime"]) || later(&["abatementPeriod", "start"]) {
                for key in abated {
                    object.remove(key);
                }
                object.insert(
                    "clinicalStatus".into(),
                    serde_json::json!({ "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] }),
                );
                true
            } else {
                false
            }
        }
        "AllergyIntolerance" => {
            if later(&["recordedDate"]) || later(&["onsetDateTime"]) {
                return None;
            }
            // A reaction that happened later was not known at signing.
            let Some(Value::Array(reactions)) = object.get_mut("reaction") else { return Some(resource) };
            let before = reactions.len();
            reactions.retain(|r| !after(r.get("onset"), day));
            reactions.len() != before
        }
        _ => false,
    };
    Some(if undone { normal } else { resource })
}

/// Makes a medicine stopped later one still taken: `active`, no reason for the stop, and the
/// end at `end` (a path) removed. True: the resource was changed.
fn undo_stop(object: &mut Map<String, Value>, end: &[&str]) -> bool {
    if let [parent, key] = end {
        if let Some(Value::Object(period)) = object.get_mut(*parent) {
            period.remove(*key);
        }
    }
    object.insert("status".into(), Value::from("active"));
    object.remove("statusReason");
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_was_recorded_or_started_after_the_day_does_not_count() {
        let day = "2026-06-15";
        let authored =
            |date: &str| json!({ "resourceType": "MedicationRequest", "status": "stopped", "authoredOn": date });
        assert!(as_of(authored("2026-06-15T23:00:00Z"), day).is_some(), "the same day counts");
        assert!(as_of(authored("2026-06"), day).is_some(), "a partial date that may be the same month counts");
        assert!(as_of(authored("2026-06-16"), day).is_none());
        assert!(as_of(authored("2027"), day).is_none());
        let dstu2 = json!({ "resourceType": "Condition", "patient": { "reference": "Patient/p" }, "dateRecorded": "2026-07-01" });
        assert!(as_of(dstu2, day).is_none(), "DSTU2's dateRecorded is read");
        let statement = json!({ "resourceType": "MedicationStatement", "status": "active", "effectivePeriod": { "start": "2026-07-01" } });
        assert!(as_of(statement, day).is_none());
        let allergy = json!({ "resourceType": "AllergyIntolerance", "recordedDate": "2026-09-01" });
        assert!(as_of(allergy, day).is_none());
    }

    #[test]
    fn a_stop_after_the_day_is_undone_and_what_is_unchanged_keeps_its_shape() {
        let day = "2026-06-15";
        let stopped_later = json!({ "resourceType": "MedicationStatement", "status": "stopped",
            "statusReason": [{ "text": "no effect" }], "effectivePeriod": { "start": "2026-01-01", "end": "2026-08-01" } });
        let then = as_of(stopped_later, day).unwrap();
        assert_eq!(then["status"], "active");
        assert!(then.get("statusReason").is_none(), "the failure documented later does not count");
        assert_eq!(then["effectivePeriod"], json!({ "start": "2026-01-01" }));
        let abated_later = json!({ "resourceType": "Condition", "onsetDateTime": "2025-01-01", "abatementDateTime": "2026-09-01",
            "clinicalStatus": { "coding": [{ "code": "resolved" }] } });
        let then = as_of(abated_later, day).unwrap();
        assert_eq!(then["clinicalStatus"]["coding"][0]["code"], "active");
        assert!(then.get("abatementDateTime").is_none());
        let order = json!({ "resourceType": "MedicationOrder", "status": "stopped", "dateWritten": "2026-01-01",
            "reasonEnded": { "text": "no effect" },
            "dosageInstruction": [{ "timing": { "repeat": { "boundsPeriod": { "end": "2026-09-01" } } } }] });
        let then = as_of(order, day).unwrap();
        assert_eq!(
            (then["resourceType"].as_str(), then["status"].as_str()),
            (Some("MedicationRequest"), Some("active"))
        );
        let reactions = json!({ "resourceType": "AllergyIntolerance", "recordedDate": "2026-01-01",
            "reaction": [{ "onset": "2026-02-01" }, { "onset": "2026-10-01" }] });
        assert_eq!(as_of(reactions, day).unwrap()["reaction"], json!([{ "onset": "2026-02-01" }]));
        let dstu2 = json!({ "resourceType": "MedicationOrder", "status": "stopped", "dateWritten": "2026-01-01" });
        assert_eq!(as_of(dstu2.clone(), day), Some(dstu2), "unchanged: its own version's shape");
    }
}
