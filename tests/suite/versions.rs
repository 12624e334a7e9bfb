//! The same situation sent in each FHIR version an EHR may speak gives the same cards, and their
//! suggestions create resources in the client's version: a DSTU2 client gets a MedicationOrder,
//! an STU3 one an STU3 MedicationRequest, an R5 one an R5 one. The situations: every example
//! written in each version by `crate::common::fhir_versions`, and the public corpus's STU3 order hooks
//! beside their R4 equivalents. (The rule tests run on every version too: `tests/rules`.)

use crate::common::fhir_versions::{self, FhirVersion, OTHER_VERSIONS};
use crate::common::*;
use ketamine_cds::call;
use ketamine_cds::fhir::PatientRecord;
use ketamine_cds::hooks::HookRequest;
use serde_json::{Value, json};

fn example_requests() -> Vec<(String, Value)> {
    json_files(&repo().join("examples/hooks"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".response.json"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), read_json(&p)))
        .collect()
}

fn created(response: &Value) -> &Value {
    &response["cards"][0]["suggestions"][0]["actions"][0]["resource"]
}

fn deleted(response: &Value) -> &Value {
    &response["cards"][0]["suggestions"][0]["actions"][1]["resourceId"]
}

fn cards(response: &Value) -> Vec<Value> {
    response["cards"].as_array().cloned().unwrap_or_default()
}

#[test]
fn every_example_written_in_every_version_gets_the_same_cards() {
    let mut ran = std::collections::BTreeMap::<String, usize>::new();
    for (name, r4) in example_requests() {
        let r4_response = evaluate(&r4).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        for version in OTHER_VERSIONS {
            let Ok(mut written) = fhir_versions::write_request(version, &r4) else { continue };
            for resource in fhir_versions::request_resources(&mut written) {
                fhir_versions::validate(version, resource).unwrap_or_else(|e| panic!("{name} {version:?}: {e}"));
            }
            let response = evaluate(&written).unwrap_or_else(|e| panic!("{name} {version:?}: {e:?}"));
            assert_valid_response(&response);
            let told = fhir_versions::told(version, &written, &r4);
            fhir_versions::assert_same_cards(told, &cards(&r4_response), &cards(&response));
            *ran.entry(format!("{version:?}")).or_default() += 1;
        }
    }
    // What a version cannot say (an STU3 order's stop reason, a DSTU2 stopped statement) is
    // left out; most examples are said in every version.
    let examples = example_requests().len();
    for version in OTHER_VERSIONS {
        let n = ran.get(&format!("{version:?}")).copied().unwrap_or(0);
        assert!(n * 2 >= examples, "{version:?} said only {n} of {examples} examples");
    }
}

#[test]
fn each_version_gets_its_own_shape_of_suggestion() {
    let r4_request = example("01-untreated-patient.json");
    let written = |v| evaluate(&fhir_versions::write_request(v, &r4_request).unwrap()).unwrap();
    let r4 = evaluate(&r4_request).unwrap();
    assert_eq!(created(&r4)["resourceType"], "MedicationRequest");
    assert!(created(&r4)["medicationCodeableConcept"].is_object());
    assert!(created(&r4)["dosageInstruction"][0]["doseAndRate"].is_array());

    let dstu2 = written(FhirVersion::Dstu2);
    let order = created(&dstu2);
    assert_eq!(order["resourceType"], "MedicationOrder");
    assert_eq!(order["patient"]["reference"], "Patient/example-patient");
    assert!(order.get("intent").is_none() && order.get("subject").is_none());
    assert!(order["dosageInstruction"][0]["doseQuantity"]["value"].is_number());
    assert!(order["dosageInstruction"][0].get("doseAndRate").is_none());
    assert_eq!(deleted(&dstu2), "MedicationOrder/ketamine-draft");

    let stu3 = written(FhirVersion::Stu3);
    let order = created(&stu3);
    assert_eq!(order["resourceType"], "MedicationRequest");
    assert!(order["dosageInstruction"][0]["doseQuantity"].is_object());
    assert_eq!(order["context"]["reference"], "Encounter/example-encounter", "STU3's encounter is `context`");
    assert!(order.get("encounter").is_none());
    assert_eq!(deleted(&stu3), "MedicationRequest/ketamine-draft");

    let r5 = written(FhirVersion::R5);
    let order = created(&r5);
    assert!(order["medication"]["concept"]["coding"].is_array());
    assert!(order.get("medicationCodeableConcept").is_none());
    assert!(order["dosageInstruction"][0]["doseAndRate"].is_array());
    assert_eq!(order["encounter"]["reference"], "Encounter/example-encounter");
    for (version, response) in
        [(FhirVersion::R4, &r4), (FhirVersion::Dstu2, &dstu2), (FhirVersion::Stu3, &stu3), (FhirVersion::R5, &r5)]
    {
        assert_eq!(response["cards"][0]["summary"], r4["cards"][0]["summary"]);
        fhir_versions::validate(version, created(response)).unwrap_or_else(|e| panic!("{version:?}: {e}"));
    }
}

/// The resources of a request as one Bundle (a patient record as an EHR exports it).
fn bundle_of(request: &Value) -> Value {
    let mut request = request.clone();
    let entries: Vec<Value> =
        fhir_versions::request_resources(&mut request).into_iter().map(|r| json!({ "resource": r })).collect();
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
}

/// `ketamine-cds evaluate` and the playground read a patient's Bundle as a hook request: one
/// exported from a DSTU2, STU3 or R5 EHR gives the cards its R4 equivalent gives.
#[test]
fn a_bundle_from_any_version_makes_the_same_call() {
    let options =
        ketamine_cds::call::bundle::BundleOptions { hook: ketamine_cds::guideline::Hook::OrderSign, order: None };
    let request =
        |bundle: Value| ketamine_cds::call::bundle::request_for(bundle, "case", &options, knowledge()).unwrap();
    let mut compared = 0;
    for (name, r4) in example_requests() {
        let Ok(r4_request) = ketamine_cds::call::bundle::request_for(bundle_of(&r4), "case", &options, knowledge())
        else {
            continue;
        };
        let r4_cards = cards(&evaluate(&r4_request).unwrap());
        for version in OTHER_VERSIONS {
            let Ok(written) = fhir_versions::write_request(version, &r4) else { continue };
            let response =
                evaluate(&request(bundle_of(&written))).unwrap_or_else(|e| panic!("{name} {version:?}: {e:?}"));
            let told = fhir_versions::told(version, &written, &r4);
            fhir_versions::assert_same_cards(told, &r4_cards, &cards(&response));
            compared += 1;
        }
    }
    assert!(compared >= 30, "only {compared} bundles compared");
}

/// A call's record with the version it was told left out (the one thing that differs).
fn record_of(request: &Value) -> PatientRecord {
    let mut request = HookRequest::from_value(request.clone()).expect("a valid request");
    let mut record = call::read_drafts(&mut request);
    call::read_prefetch(&mut request, &mut record);
    record.seen_version = None;
    record
}

#[test]
fn the_corpus_stu3_order_hooks_read_and_answer_as_their_r4_equivalents() {
    let manifest = read_json(&data().join("conformance/manifest.json"));
    let stu3: Vec<&Value> = manifest["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["fhir_version"] == "STU3")
        .filter(|r| r["hook"].as_str().is_some_and(|h| h.starts_with("order-select") || h.starts_with("order-sign")))
        .collect();
    assert_eq!(stu3.len(), 47, "the corpus's STU3 order hooks");
    let (mut changed, mut answered) = (0, 0);
    for entry in stu3 {
        let file = entry["file"].as_str().unwrap();
        let request = read_json(&data().join("conformance").join(file));
        let mut r4 = request.clone();
        for resource in fhir_versions::request_resources(&mut r4) {
            *resource = fhir_versions::stu3_to_r4(resource);
        }
        // Those that read alike carry their orders in `context.medications` (before CDS Hooks
        // 1.0), which the order hooks do not have.
        assert!(r4 != request || request["context"].get("draftOrders").is_none(), "{file} holds nothing STU3's own");
        changed += usize::from(r4 != request);
        if HookRequest::from_value(request.clone()).is_ok() {
            assert_eq!(record_of(&request), record_of(&r4), "{file}: read differently from its R4 equivalent");
        }
        match (evaluate(&request), evaluate(&r4)) {
            (Ok(stu3_response), Ok(r4_response)) => {
                fhir_versions::assert_same_cards(FhirVersion::Stu3, &cards(&r4_response), &cards(&stu3_response));
                answered += 1;
            }
            (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{file}"),
            (a, b) => panic!("{file}: STU3 {a:?}, R4 {b:?}"),
        }
    }
    assert!(changed >= 37, "only {changed} of the STU3 requests hold anything STU3's own");
    // The rest are refused alike in both versions (the same 4xx: no hookInstance, a hook this
    // service does not serve…).
    assert!(answered >= 20, "only {answered} answered");
}

/// A call shaped as the public CDS Hooks sandbox sends it to a DSTU2 FHIR server: the draft a
/// `MedicationOrder` with `patient` and `dateWritten`, over HTTP, and on order-select its
/// selection a `MedicationOrder/…`. The warning comes back with a MedicationOrder to create and
/// the draft (named as a MedicationOrder) to delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_shaped_dstu2_medication_order_call() {
    let server = TestServer::start();
    for (service, mut request) in [
        ("ketamine-order-sign", example("01-untreated-patient.json")),
        ("ketamine-order-select", example("01-untreated-patient.json")),
    ] {
        if service.ends_with("select") {
            request["hook"] = json!("order-select");
            request["context"]["selections"] = json!(["MedicationRequest/ketamine-draft"]);
        }
        let mut request = fhir_versions::write_request(FhirVersion::Dstu2, &request).unwrap();
        request["context"]["draftOrders"]["entry"][0]["resource"]["dateWritten"] = json!("2026-11-20");
        let response =
            client().post(format!("{}/cds-services/{service}", server.base)).json(&request).send().await.unwrap();
        assert_eq!(response.status(), 200, "{service}");
        let body: Value = response.json().await.unwrap();
        assert_valid_response(&body);
        assert_eq!(body["cards"][0]["indicator"], "warning");
        assert_eq!(created(&body)["resourceType"], "MedicationOrder");
        assert_eq!(deleted(&body), "MedicationOrder/ketamine-draft");
    }
}
