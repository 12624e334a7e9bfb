//! Which FHIR version a client speaks (CDS Hooks requests do not say): told by its draft orders'
//! shapes (DSTU2 `MedicationOrder`, R5 `medication` CodeableReference, STU3 dose on the Dosage
//! itself or the encounter as `context`), else by its FHIR server's `/metadata` when the
//! fallback read it, else by the other resources of the call ([`of_resource`]); R4 (and R4B)
//! otherwise. The rules read every version into one record; the suggestions are written in the
//! client's version.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FhirVersion {
    Dstu2,
    Stu3,
    #[default]
    R4,
    R5,
}

/// The version a resource's shape tells, if it does: of a draft, a MedicationOrder (DSTU2), a
/// `medication` CodeableReference (R5), a dose on the Dosage itself or the encounter as
/// `context` (STU3), `doseAndRate` or `encounter` (R4) — a draft with neither dose nor
/// encounter reads alike in STU3 and R4. The record asks this of every resource it reads the
/// lenient way (drafts always are, and other versions' resources, see `super::direct`), so a
/// call whose drafts are silent is told by its prefetch (an STU3 MedicationStatement's `taken`,
/// a DSTU2 Condition's `patient`). Every tell of a version other than R4 is one the direct reader
/// hands to the normaliser, so both readers see it.
pub fn of_resource(resource: &Value) -> Option<FhirVersion> {
    let has = |key: &str| resource.get(key).is_some();
    let string = |key: &str| resource.get(key).is_some_and(Value::is_string);
    match resource["resourceType"].as_str()? {
        "MedicationOrder" => Some(FhirVersion::Dstu2),
        "MedicationRequest" | "MedicationStatement" if resource["medication"].is_object() => Some(FhirVersion::R5),
        "MedicationRequest" => {
            let dosages = resource["dosageInstruction"].as_array().map_or(&[][..], Vec::as_slice);
            let dose = |key: &str| dosages.iter().any(|d| d.get(key).is_some());
            if dose("doseQuantity") || dose("doseRange") || has("context") {
                Some(FhirVersion::Stu3)
            } else if dose("doseAndRate") || has("encounter") {
                Some(FhirVersion::R4)
            } else {
                None
            }
        }
        "MedicationStatement" if has("wasNotTaken") || has("patient") => Some(FhirVersion::Dstu2),
        "MedicationStatement" if has("taken") => Some(FhirVersion::Stu3),
        "Condition" if string("clinicalStatus") || string("verificationStatus") => {
            Some(if has("patient") { FhirVersion::Dstu2 } else { FhirVersion::Stu3 })
        }
        "AllergyIntolerance" if has("substance") => Some(FhirVersion::Dstu2),
        "AllergyIntolerance" if string("clinicalStatus") || string("verificationStatus") || has("assertedDate") => {
            Some(FhirVersion::Stu3)
        }
        "Medication" if has("product") => Some(FhirVersion::Dstu2),
        "Medication" if has("doseForm") => Some(FhirVersion::R5),
        _ => None,
    }
}

/// The version of a FHIR server's CapabilityStatement `fhirVersion` ("1.0.2", "3.0.1",
/// "4.0.1", "4.3.0", "5.0.0"), if it is one this service speaks.
pub fn of_fhir_version(fhir_version: &str) -> Option<FhirVersion> {
    let mut parts = fhir_version.trim().split(['.', '-']);
    let (major, minor) = (parts.next()?.parse::<u32>().ok()?, parts.next()?.parse::<u32>().ok()?);
    match (major, minor) {
        (1, 0..=2) => Some(FhirVersion::Dstu2),
        (3, 0) => Some(FhirVersion::Stu3),
        // R4 and R4B (4.3) read and write alike here.
        (4, 0..=3) => Some(FhirVersion::R4),
        (5, _) => Some(FhirVersion::R5),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of_drafts(drafts: &Value) -> Option<FhirVersion> {
        let mut record = crate::fhir::PatientRecord::new("p");
        record.add(drafts.clone(), crate::fhir::Origin::Draft);
        record.seen_version
    }

    fn bundle(resource: Value) -> Value {
        json!({ "resourceType": "Bundle", "entry": [{ "resource": resource }] })
    }

    #[test]
    fn each_version_is_told_by_its_shapes() {
        assert_eq!(of_drafts(&bundle(json!({ "resourceType": "MedicationOrder" }))), Some(FhirVersion::Dstu2));
        assert_eq!(
            of_drafts(&bundle(json!({ "resourceType": "MedicationRequest", "medication": { "concept": {} } }))),
            Some(FhirVersion::R5)
        );
        let stu3 =
            json!({ "resourceType": "MedicationRequest", "dosageInstruction": [{ "doseQuantity": { "value": 1 } }] });
        assert_eq!(of_drafts(&bundle(stu3)), Some(FhirVersion::Stu3));
        assert_eq!(
            of_drafts(&bundle(
                json!({ "resourceType": "MedicationRequest", "context": { "reference": "Encounter/1" } })
            )),
            Some(FhirVersion::Stu3)
        );
        let r4 = json!({ "resourceType": "MedicationRequest", "dosageInstruction": [{ "doseAndRate": [{ "doseQuantity": {} }] }] });
        assert_eq!(of_drafts(&bundle(r4)), Some(FhirVersion::R4));
        assert_eq!(of_drafts(&bundle(json!({ "resourceType": "MedicationRequest", "status": "draft" }))), None);
        assert_eq!(of_drafts(&Value::Null), None);
    }

    #[test]
    fn a_silent_draft_leaves_the_version_to_the_other_resources() {
        let cases = [
            (json!({ "resourceType": "MedicationStatement", "taken": "y" }), FhirVersion::Stu3),
            (json!({ "resourceType": "MedicationStatement", "wasNotTaken": false }), FhirVersion::Dstu2),
            (json!({ "resourceType": "MedicationStatement", "medication": { "concept": {} } }), FhirVersion::R5),
            (json!({ "resourceType": "Condition", "clinicalStatus": "active", "subject": {} }), FhirVersion::Stu3),
            (json!({ "resourceType": "Condition", "clinicalStatus": "active", "patient": {} }), FhirVersion::Dstu2),
            (json!({ "resourceType": "AllergyIntolerance", "substance": {} }), FhirVersion::Dstu2),
            (json!({ "resourceType": "AllergyIntolerance", "assertedDate": "2020" }), FhirVersion::Stu3),
            (json!({ "resourceType": "Medication", "doseForm": {} }), FhirVersion::R5),
            (json!({ "resourceType": "Medication", "product": {} }), FhirVersion::Dstu2),
        ];
        for (resource, version) in cases {
            assert_eq!(of_resource(&resource), Some(version), "{resource}");
        }
        let r4_condition = json!({ "resourceType": "Condition", "clinicalStatus": { "coding": [] } });
        assert_eq!(of_resource(&r4_condition), None);
    }

    #[test]
    fn a_servers_fhir_version_names_its_release() {
        for (text, version) in [
            ("1.0.2", Some(FhirVersion::Dstu2)),
            ("3.0.1", Some(FhirVersion::Stu3)),
            ("4.0.1", Some(FhirVersion::R4)),
            ("4.3.0", Some(FhirVersion::R4)),
            ("5.0.0", Some(FhirVersion::R5)),
            ("5.0.0-ballot", Some(FhirVersion::R5)),
            ("0.5.0", None),
            ("6.0.0", None),
            ("", None),
            ("four", None),
        ] {
            assert_eq!(of_fhir_version(text), version, "{text}");
        }
    }
}
