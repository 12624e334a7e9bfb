//! What the service writes in a client's FHIR version: the draft orders suggestions create and
//! the references they name (cards), and the searches of the FHIR-server fallback. Beside
//! [`super::version`], which tells the version; the readers accept every version's shape.

use serde_json::{Value, json};

use super::version::FhirVersion;

/// A first-line order as a draft in `version`: an R4 (R4B) MedicationRequest; R5's with
/// `medication.concept`; STU3's with the dose on the Dosage and the encounter as `context`;
/// DSTU2's MedicationOrder (`patient`, no `intent`). `dosage` is written as R4's.
pub fn draft_order(
    version: FhirVersion,
    patient_id: &str,
    encounter_id: Option<&str>,
    medication: &Value,
    dosage: &Value,
) -> Value {
    let patient = json!({ "reference": format!("Patient/{patient_id}") });
    let encounter =
        encounter_id.map(|e| json!({ "reference": format!("Encounter/{}", e.trim_start_matches("Encounter/")) }));
    let mut order = match version {
        FhirVersion::R4 => json!({
            "resourceType": "MedicationRequest", "status": "draft", "intent": "order",
            "medicationCodeableConcept": medication, "subject": patient, "dosageInstruction": dosage,
        }),
        FhirVersion::R5 => json!({
            "resourceType": "MedicationRequest", "status": "draft", "intent": "order",
            "medication": { "concept": medication }, "subject": patient, "dosageInstruction": dosage,
        }),
        FhirVersion::Stu3 => json!({
            "resourceType": "MedicationRequest", "status": "draft", "intent": "order",
            "medicationCodeableConcept": medication, "subject": patient, "dosageInstruction": dose_in_place(dosage),
        }),
        FhirVersion::Dstu2 => json!({
            "resourceType": "MedicationOrder", "status": "draft",
            "medicationCodeableConcept": medication, "patient": patient, "dosageInstruction": dose_in_place(dosage),
        }),
    };
    if let Some(encounter) = encounter {
        let key = if version == FhirVersion::Stu3 { "context" } else { "encounter" };
        order[key] = encounter;
    }
    order
}

/// R4 Dosages with the dose moved from `doseAndRate[0]` onto the Dosage itself (STU3, DSTU2).
fn dose_in_place(dosage: &Value) -> Value {
    let mut dosage = dosage.clone();
    for d in dosage.as_array_mut().into_iter().flatten() {
        let Some(rates) = d.as_object_mut().and_then(|d| d.remove("doseAndRate")) else { continue };
        if let Some(first) = rates.get(0).and_then(Value::as_object) {
            for (k, v) in first {
                d[k] = v.clone();
            }
        }
    }
    dosage
}

/// An order's reference (`MedicationRequest/id`) as a client of `version` names it (DSTU2:
/// `MedicationOrder/…`).
pub fn order_reference(version: FhirVersion, order_ref: &str) -> String {
    match (version, order_ref.strip_prefix("MedicationRequest/")) {
        (FhirVersion::Dstu2, Some(id)) => format!("MedicationOrder/{id}"),
        _ => order_ref.to_owned(),
    }
}

/// A search written for R4 as a server of `version` runs it (DSTU2 has MedicationOrder).
pub fn search_path(version: FhirVersion, path: String) -> String {
    if version == FhirVersion::Dstu2 { path.replace("MedicationRequest", "MedicationOrder") } else { path }
}
