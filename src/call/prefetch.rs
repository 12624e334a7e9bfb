//! Where a 412 comes from: the prefetch templates the services declare, the keys the rules
//! need, and the decision that data is missing.
//!
//! A call needs patient data only when it may examine a ketamine order. Then every key of
//! [`REQUIRED`] must hold data: prefetched by the client (`null` is a known empty result), or
//! read from its `fhirServer` with the same query (the fallback). A key that is absent or an
//! OperationOutcome and could not be read answers 412, naming the key and why.

use std::collections::BTreeMap;

use crate::fhir::fetch::Search;
use crate::fhir::version::FhirVersion;
use crate::hooks::{HookError, Prefetched};

/// Prefetch keys and the FHIR query each stands for. The patient record is built from these;
/// the FHIR-server fallback runs the same queries.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("patient", "Patient/{{context.patientId}}"),
    ("conditions", "Condition?patient={{context.patientId}}"),
    ("medicationRequests", "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication"),
    (
        "medicationStatements",
        "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication",
    ),
    ("allergyIntolerances", "AllergyIntolerance?patient={{context.patientId}}"),
];

/// Prefetch keys without which a ketamine order cannot be assessed.
pub const REQUIRED: &[&str] = &["conditions", "medicationRequests", "medicationStatements", "allergyIntolerances"];

/// The prefetch key whose query returns resources of `resource_type` (a Medication comes with
/// the MedicationRequests that `_include` it; DSTU2's MedicationOrders are its
/// MedicationRequests).
pub fn key_for(resource_type: &str) -> Option<&'static str> {
    match resource_type {
        "Patient" => Some("patient"),
        "Condition" => Some("conditions"),
        "MedicationRequest" | "MedicationOrder" | "Medication" => Some("medicationRequests"),
        "MedicationStatement" => Some("medicationStatements"),
        "AllergyIntolerance" => Some("allergyIntolerances"),
        _ => None,
    }
}

/// Required keys the client did not provide (absent, or an OperationOutcome).
pub fn missing(prefetch: &BTreeMap<String, Prefetched>) -> Vec<&'static str> {
    REQUIRED.iter().copied().filter(|key| matches!(prefetch.get(*key), None | Some(Prefetched::Failed(_)))).collect()
}

/// The searches that read `keys` for `patient_id` from a server of `version`: the templates,
/// the patient id filled in (the Patient as a search by `_id`, so that every answer is a
/// searchset). Every version has the templates' search parameters (`patient`, `_id`,
/// `_include`) but DSTU2, whose orders are `MedicationOrder`s. None filters Conditions by
/// status: the parameter differs (`clinicalstatus` in DSTU2, a code in STU3, a token on a
/// CodeableConcept from R4), and a server-side filter would drop the problem-list entries
/// without a status, which the rules count as active.
pub fn searches(keys: &[&'static str], patient_id: &str, version: FhirVersion) -> Vec<Search> {
    keys.iter()
        .filter_map(|key| {
            let (_, template) = TEMPLATES.iter().find(|(k, _)| k == key)?;
            let path = match *key {
                "patient" => format!("Patient?_id={patient_id}"),
                _ => template.replace("{{context.patientId}}", patient_id),
            };
            Some(Search { key, path: crate::fhir::written::search_path(version, path) })
        })
        .collect()
}

/// Why a key could not be had when no read said otherwise.
const NOT_READ: &str = "not prefetched (absent or an OperationOutcome) and no fhirServer to read it from";

/// The 412: every key still missing, with the reason its read gave (`why`) or [`NOT_READ`].
pub fn missing_data(still_missing: &[&'static str], why: &[(&'static str, String)]) -> HookError {
    let reasons = still_missing
        .iter()
        .map(|key| {
            let reason = why.iter().find(|(k, _)| k == key).map_or(NOT_READ, |(_, r)| r.as_str());
            ((*key).to_owned(), reason.to_owned())
        })
        .collect();
    HookError::MissingData(reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_required_key_has_a_template_and_every_record_type_a_key() {
        for key in REQUIRED {
            assert_eq!(searches(&[key], "p1", FhirVersion::R4).len(), 1, "{key} has no template");
        }
        for kind in ["Condition", "MedicationRequest", "Medication", "MedicationStatement", "AllergyIntolerance"] {
            assert!(key_for(kind).is_some_and(|k| REQUIRED.contains(&k)), "{kind}");
        }
        assert_eq!(searches(&["conditions"], "p1", FhirVersion::R4)[0].path, "Condition?patient=p1");
    }

    #[test]
    fn a_dstu2_server_is_searched_for_medication_orders_the_others_as_the_templates_say() {
        let keys = ["conditions", "medicationRequests"];
        let paths = |v| searches(&keys, "p1", v).into_iter().map(|s| s.path).collect::<Vec<_>>();
        assert_eq!(
            paths(FhirVersion::Dstu2),
            ["Condition?patient=p1", "MedicationOrder?patient=p1&_include=MedicationOrder:medication"]
        );
        for version in [FhirVersion::Stu3, FhirVersion::R4, FhirVersion::R5] {
            assert_eq!(
                paths(version),
                ["Condition?patient=p1", "MedicationRequest?patient=p1&_include=MedicationRequest:medication"]
            );
        }
    }

    #[test]
    fn absent_and_failed_keys_are_missing_null_is_not() {
        let mut prefetch = BTreeMap::new();
        prefetch.insert("conditions".to_owned(), Prefetched::Null);
        prefetch.insert("medicationRequests".to_owned(), Prefetched::Failed(serde_json::Value::Null));
        assert_eq!(missing(&prefetch), ["medicationRequests", "medicationStatements", "allergyIntolerances"]);
        let HookError::MissingData(reasons) =
            missing_data(&["medicationRequests"], &[("medicationRequests", "x".into())])
        else {
            panic!("a 412")
        };
        assert_eq!(reasons, [("medicationRequests".to_owned(), "x".to_owned())]);
    }
}
