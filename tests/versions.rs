//! The same situation sent in each FHIR version an EHR may speak (the drafts' shapes tell which)
//! gives the same card, and its suggestions create resources in the client's version: a DSTU2
//! client gets a MedicationOrder, an STU3 one an STU3 MedicationRequest, an R5 one an R5 one.

mod common;

use common::*;
use serde_json::{Value, json};

/// Example 01 (the untreated patient) with its draft rewritten by `shape`.
fn untreated(shape: impl Fn(&mut serde_json::Map<String, Value>)) -> Value {
    let mut request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    let draft = request["context"]["draftOrders"]["entry"][0]["resource"].as_object_mut().unwrap();
    shape(draft);
    request
}

fn dose_in_place(draft: &mut serde_json::Map<String, Value>) {
    for d in draft["dosageInstruction"].as_array_mut().unwrap() {
        if let Some(rates) = d.as_object_mut().unwrap().remove("doseAndRate") {
            d["doseQuantity"] = rates[0]["doseQuantity"].clone();
        }
    }
}

fn created(response: &Value) -> &Value {
    &response["cards"][0]["suggestions"][0]["actions"][0]["resource"]
}

fn deleted(response: &Value) -> &Value {
    &response["cards"][0]["suggestions"][0]["actions"][1]["resourceId"]
}

#[test]
fn every_version_gets_the_same_card_and_suggestions_in_its_own_shape() {
    let r4 = evaluate(&untreated(|_| {})).unwrap();
    let summary = r4["cards"][0]["summary"].clone();
    assert_eq!(created(&r4)["resourceType"], "MedicationRequest");
    assert!(created(&r4)["medicationCodeableConcept"].is_object());
    assert!(created(&r4)["dosageInstruction"][0]["doseAndRate"].is_array());

    // DSTU2, as the public sandbox sends it for a FHIR server below 3.0.
    let dstu2 = evaluate(&untreated(|d| {
        d.insert("resourceType".into(), json!("MedicationOrder"));
        let subject = d.remove("subject").unwrap();
        d.insert("patient".into(), subject);
        d.remove("intent");
        if let Some(authored) = d.remove("authoredOn") {
            d.insert("dateWritten".into(), authored);
        }
        dose_in_place(d);
    }))
    .unwrap();
    assert_eq!(dstu2["cards"][0]["summary"], summary);
    let order = created(&dstu2);
    assert_eq!(order["resourceType"], "MedicationOrder");
    assert_eq!(order["patient"]["reference"], "Patient/example-patient");
    assert!(order.get("intent").is_none() && order.get("subject").is_none());
    assert!(order["dosageInstruction"][0]["doseQuantity"]["value"].is_number());
    assert!(order["dosageInstruction"][0].get("doseAndRate").is_none());
    assert_eq!(deleted(&dstu2), "MedicationOrder/ketamine-draft");

    // STU3: the encounter as `context` (and a dose would sit on the Dosage itself).
    let stu3 = evaluate(&untreated(|d| {
        d.insert("context".into(), json!({ "reference": "Encounter/example-encounter" }));
        dose_in_place(d);
    }))
    .unwrap();
    assert_eq!(stu3["cards"][0]["summary"], summary);
    let order = created(&stu3);
    assert_eq!(order["resourceType"], "MedicationRequest");
    assert!(order["dosageInstruction"][0]["doseQuantity"].is_object());
    assert_eq!(order["context"]["reference"], "Encounter/example-encounter", "STU3's encounter is `context`");
    assert!(order.get("encounter").is_none());
    assert_eq!(deleted(&stu3), "MedicationRequest/ketamine-draft");

    // R5: the medication as a CodeableReference.
    let r5 = evaluate(&untreated(|d| {
        let concept = d.remove("medicationCodeableConcept").unwrap();
        d.insert("medication".into(), json!({ "concept": concept }));
    }))
    .unwrap();
    assert_eq!(r5["cards"][0]["summary"], summary);
    let order = created(&r5);
    assert!(order["medication"]["concept"]["coding"].is_array());
    assert!(order.get("medicationCodeableConcept").is_none());
    assert!(order["dosageInstruction"][0]["doseAndRate"].is_array());
    assert_eq!(order["encounter"]["reference"], "Encounter/example-encounter");
}

/// A call shaped as the public CDS Hooks sandbox sends it to a DSTU2 FHIR server: the draft a
/// `MedicationOrder` with `patient` and `dateWritten`, over HTTP. The warning comes back with a
/// MedicationOrder to create and the draft (named as a MedicationOrder) to delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_shaped_dstu2_medication_order_call() {
    let server = TestServer::start();
    let request = untreated(|d| {
        d.insert("resourceType".into(), json!("MedicationOrder"));
        let subject = d.remove("subject").unwrap();
        d.insert("patient".into(), subject);
        d.remove("intent");
        d.insert("dateWritten".into(), json!("2026-11-20"));
    });
    let response =
        client().post(format!("{}/cds-services/ketamine-order-sign", server.base)).json(&request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_valid_response(&body);
    assert_eq!(body["cards"][0]["indicator"], "warning");
    assert_eq!(created(&body)["resourceType"], "MedicationOrder");
    assert_eq!(deleted(&body), "MedicationOrder/ketamine-draft");
}
