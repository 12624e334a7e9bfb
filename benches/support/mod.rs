//! Deterministic order-sign requests for the benchmarks: a ketamine draft for painful diabetic
//! neuropathy and `n` history resources — Conditions, MedicationRequests with dosage, dispense
//! and narrative, MedicationStatements, in a fixed mix — with one failed duloxetine trial, so
//! the answer is a warning card. About 1 KiB per history resource.

use serde_json::{Value, json};

const RX: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

/// The request body with `n` history resources.
pub fn order_sign_request(n: usize) -> Vec<u8> {
    let subject = json!({ "reference": "Patient/p1" });
    let narrative = json!({ "status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", "history ".repeat(72)) });
    let (mut conditions, mut requests, mut statements) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        match i % 4 {
            0 => conditions.push(json!({ "resource": {
                "resourceType": "Condition", "id": format!("c{i}"), "subject": subject, "text": narrative,
                "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": if i == 0 { "active" } else { "resolved" } }] },
                "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": if i == 0 { "E11.42" } else { "J06.9" } }] } } })),
            1 | 2 => requests.push(json!({ "resource": {
                "resourceType": "MedicationRequest", "id": format!("m{i}"), "status": if i == 1 { "stopped" } else { "completed" }, "intent": "order",
                "subject": subject, "text": narrative, "authoredOn": "2024-05-01",
                "statusReason": { "coding": [{ "system": "http://snomed.info/sct", "code": "266721009" }] },
                "medicationCodeableConcept": { "coding": [{ "system": RX, "code": if i == 1 { "596926" } else { "197361" }, "display": "some product 10 MG Oral Tablet" }] },
                "dosageInstruction": [{ "text": "one daily", "timing": { "repeat": { "frequency": 1, "period": 1, "periodUnit": "d" } },
                                        "doseAndRate": [{ "doseQuantity": { "value": 60, "unit": "mg" } }] }],
                "dispenseRequest": { "numberOfRepeatsAllowed": 3, "quantity": { "value": 30 } } } })),
            _ => statements.push(json!({ "resource": {
                "resourceType": "MedicationStatement", "id": format!("s{i}"), "status": "completed", "subject": subject,
                "effectiveDateTime": "2023-02-01", "medicationCodeableConcept": { "text": "Omeprazole 20 mg capsule" },
                "dosage": [{ "timing": { "repeat": { "frequency": 1, "period": 1, "periodUnit": "d" } }, "doseAndRate": [{ "doseQuantity": { "value": 20, "unit": "mg" } }] }] } })),
        }
    }
    let bundle = |entries: Vec<Value>| json!({ "resourceType": "Bundle", "type": "searchset", "entry": entries });
    let body = json!({
        "hook": "order-sign", "hookInstance": "7b1a4f4e-bench",
        "context": { "userId": "Practitioner/1", "patientId": "p1", "draftOrders": { "resourceType": "Bundle", "entry": [{ "resource": {
            "resourceType": "MedicationRequest", "id": "k1", "status": "draft", "intent": "order", "subject": subject,
            "medicationCodeableConcept": { "coding": [{ "system": RX, "code": "238084" }] } } }] } },
        "prefetch": { "conditions": bundle(conditions), "medicationRequests": bundle(requests),
                      "medicationStatements": bundle(statements), "allergyIntolerances": null }
    });
    serde_json::to_vec(&body).expect("serialises")
}
