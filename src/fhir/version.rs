//! Which FHIR version a client speaks, read from its draft orders' shapes (CDS Hooks requests
//! do not say): DSTU2 `MedicationOrder`, R5 `medication` CodeableReference, STU3 dose on the
//! Dosage itself or the encounter as `context`; R4 (and R4B) otherwise. The rules read every
//! version into one record; the suggestions are written in the client's version.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FhirVersion {
    Dstu2,
    Stu3,
    #[default]
    R4,
    R5,
}

/// The version the draft orders (a Bundle, or the list some clients send) are written in.
pub fn of_drafts(draft_orders: &Value) -> FhirVersion {
    let entries = match draft_orders {
        Value::Array(items) => items.as_slice(),
        v => v["entry"].as_array().map_or(&[][..], Vec::as_slice),
    };
    let resources = entries.iter().map(|e| if e.get("resource").is_some() { &e["resource"] } else { e });
    let mut version = FhirVersion::R4;
    for r in resources {
        match r["resourceType"].as_str() {
            Some("MedicationOrder") => return FhirVersion::Dstu2,
            Some("MedicationRequest") if r["medication"].is_object() => return FhirVersion::R5,
            Some("MedicationRequest") => {
                let dose_in_place = r["dosageInstruction"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|d| d.get("doseQuantity").is_some() || d.get("doseRange").is_some()));
                if dose_in_place || r.get("context").is_some() {
                    version = FhirVersion::Stu3;
                }
            }
            _ => {}
        }
    }
    version
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bundle(resource: Value) -> Value {
        json!({ "resourceType": "Bundle", "entry": [{ "resource": resource }] })
    }

    #[test]
    fn each_version_is_told_by_its_shapes() {
        assert_eq!(of_drafts(&bundle(json!({ "resourceType": "MedicationOrder" }))), FhirVersion::Dstu2);
        assert_eq!(
            of_drafts(&bundle(json!({ "resourceType": "MedicationRequest", "medication": { "concept": {} } }))),
            FhirVersion::R5
        );
        let stu3 =
            json!({ "resourceType": "MedicationRequest", "dosageInstruction": [{ "doseQuantity": { "value": 1 } }] });
        assert_eq!(of_drafts(&bundle(stu3)), FhirVersion::Stu3);
        assert_eq!(
            of_drafts(&bundle(
                json!({ "resourceType": "MedicationRequest", "context": { "reference": "Encounter/1" } })
            )),
            FhirVersion::Stu3
        );
        let r4 = json!({ "resourceType": "MedicationRequest", "dosageInstruction": [{ "doseAndRate": [{ "doseQuantity": {} }] }] });
        assert_eq!(of_drafts(&bundle(r4)), FhirVersion::R4);
        assert_eq!(of_drafts(&json!([{ "resourceType": "MedicationOrder" }])), FhirVersion::Dstu2, "a bare list");
        assert_eq!(of_drafts(&Value::Null), FhirVersion::R4);
    }
}
