//! `PlanDefinition/$apply` and `/metadata` (issue 29): for every shipped example Bundle the
//! RequestGroup says what the cards of the same order-sign call say — recommendation, grades,
//! class statuses, suggested agents — and nothing when the guideline is silent; every
//! RequestGroup and the CapabilityStatement pass the independent validator; bad input is a 4xx
//! OperationOutcome.

use crate::common::*;
use ketamine_cds::call::apply::{CLASS_STATUS_EXTENSION, GRADE_EXTENSION};
use ketamine_cds::call::bundle::{self, BundleOptions};
use ketamine_cds::guideline::Hook;
use serde_json::{Value, json};

const APPLY: &str = "/PlanDefinition/ketamine-step-therapy/$apply";

async fn apply(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = client().post(format!("{base}{path}")).json(body).send().await.expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn parameters(subject: &str, data: &Value) -> Value {
    json!({ "resourceType": "Parameters", "parameter": [
        { "name": "subject", "valueString": subject },
        { "name": "data", "resource": data },
    ] })
}

fn example_bundles() -> Vec<(String, Value)> {
    let mut names: Vec<_> = std::fs::read_dir(repo().join("examples/bundles"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    names.sort();
    names.into_iter().map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), read_json(&p))).collect()
}

fn extension_values<'a>(action: &'a Value, url: &str) -> Vec<&'a Value> {
    action["extension"].as_array().into_iter().flatten().filter(|e| e["url"] == url).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_gives_a_request_group_that_says_what_its_cards_say() {
    let server = TestServer::start();
    let out = tempfile::tempdir().unwrap();
    let options = BundleOptions { hook: Hook::OrderSign, order: None };
    let mut with_actions = 0;
    for (name, bundle) in example_bundles() {
        let request = bundle::request_for(bundle.clone(), &name, &options, knowledge()).expect("an order-sign call");
        let patient = request["context"]["patientId"].as_str().unwrap().to_owned();
        let cards = call(&server.base, &request).await["cards"].clone();
        let (status, group) = apply(&server.base, APPLY, &parameters(&format!("Patient/{patient}"), &bundle)).await;
        assert_eq!(status, 200, "{name}: {group:#}");
        assert_eq!(group["resourceType"], "RequestGroup");
        assert_eq!(group["subject"]["reference"], format!("Patient/{patient}"));
        assert_eq!(group["instantiatesCanonical"][0], format!("{}|{}", knowledge().plan.url, knowledge().version()));
        let cards = cards.as_array().unwrap();
        let actions = group["action"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert_eq!(actions.len(), cards.len(), "{name}: one action per card");
        with_actions += usize::from(!actions.is_empty());
        for (card, action) in cards.iter().zip(actions) {
            assert_eq!(action["title"], card["summary"], "{name}");
            assert_eq!(action["description"], card["detail"], "{name}");
            let facts = &card["extension"]["ketamine-cds-card"];
            let grades: Vec<&Value> =
                extension_values(action, GRADE_EXTENSION).iter().map(|e| &e["valueCoding"]["code"]).collect();
            let card_grades: Vec<&Value> = facts["grades"].as_array().unwrap().iter().map(|g| &g["code"]).collect();
            assert_eq!(grades, card_grades, "{name}: the grades");
            let statuses: Vec<(Value, Value)> = extension_values(action, CLASS_STATUS_EXTENSION)
                .iter()
                .map(|e| (e["extension"][0]["valueCode"].clone(), e["extension"][1]["valueCode"].clone()))
                .collect();
            let card_statuses: Vec<(Value, Value)> = facts["classes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| (c["class"].clone(), c["status"].clone()))
                .collect();
            assert_eq!(statuses, card_statuses, "{name}: the class statuses");
            let links: Vec<&Value> = card["links"].as_array().into_iter().flatten().map(|l| &l["url"]).collect();
            let cited: Vec<&Value> = action["documentation"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["type"] == "citation")
                .map(|d| &d["url"])
                .collect();
            assert_eq!(cited, links, "{name}: the citations");
            // Each suggestion a sub-action whose contained MedicationRequest orders its agent.
            let suggestions = card["suggestions"].as_array().map(Vec::as_slice).unwrap_or_default();
            let subs = action["action"].as_array().map(Vec::as_slice).unwrap_or_default();
            assert_eq!(subs.len(), suggestions.len(), "{name}");
            if !subs.is_empty() {
                assert_eq!(action["selectionBehavior"], "at-most-one");
            }
            for (suggestion, sub) in suggestions.iter().zip(subs) {
                assert_eq!(sub["title"], suggestion["label"]);
                let local = sub["resource"]["reference"].as_str().unwrap().trim_start_matches('#');
                let resource = group["contained"].as_array().unwrap().iter().find(|r| r["id"] == local).unwrap();
                let ordered = &suggestion["actions"][0]["resource"];
                assert_eq!(resource["resourceType"], "MedicationRequest");
                assert_eq!(
                    resource["medicationCodeableConcept"], ordered["medicationCodeableConcept"],
                    "{name}: the agent"
                );
            }
        }
        std::fs::write(out.path().join(format!("RequestGroup-{name}.json")), serde_json::to_vec(&group).unwrap())
            .unwrap();
    }
    assert!(with_actions >= 8, "most examples fire: {with_actions}");
    let metadata = client().get(format!("{}/metadata", server.base)).send().await.unwrap();
    assert_eq!(metadata.headers()["content-type"], "application/fhir+json");
    let metadata: Value = metadata.json().await.unwrap();
    assert_eq!(metadata["rest"][0]["resource"][0]["operation"][0]["name"], "apply");
    std::fs::write(out.path().join("CapabilityStatement.json"), serde_json::to_vec(&metadata).unwrap()).unwrap();
    validate_fhir(&[out.path()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_a_4xx_operation_outcome_and_the_url_form_is_answered() {
    let server = TestServer::start();
    let base = &server.base;
    let bundle = read_json(&repo().join("examples/bundles/01-untreated-patient.json"));
    let refused = |status: u16, body: &Value, says: &str| {
        assert_eq!(body["resourceType"], "OperationOutcome", "{body:#}");
        let text = body["issue"][0]["diagnostics"].as_str().unwrap_or_default().to_owned();
        assert!(text.contains(says), "{status}: {text}");
    };
    let (status, body) = apply(base, APPLY, &json!({ "resourceType": "Bundle" })).await;
    assert_eq!(status, 400);
    refused(status, &body, "must be a FHIR R4 Parameters resource");
    let (status, body) = apply(
        base,
        APPLY,
        &json!({ "resourceType": "Parameters", "parameter": [{ "name": "data", "resource": bundle }] }),
    )
    .await;
    assert_eq!(status, 400);
    refused(status, &body, "'subject'");
    let (status, body) =
        apply(base, APPLY, &parameters("Patient/example-patient", &json!({ "resourceType": "Bundle", "entry": [] })))
            .await;
    assert_eq!(status, 400);
    refused(status, &body, "no patient data");
    let mut no_draft = bundle.clone();
    for entry in no_draft["entry"].as_array_mut().unwrap() {
        if entry["resource"]["resourceType"] == "MedicationRequest" {
            entry["resource"]["status"] = json!("active");
        }
    }
    let (status, body) = apply(base, APPLY, &parameters("Patient/example-patient", &no_draft)).await;
    assert_eq!(status, 400);
    refused(status, &body, "name one with the 'order' parameter");
    // The draft named by `order`, whatever its status.
    let mut named = parameters("Patient/example-patient", &no_draft);
    named["parameter"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "order", "valueString": "MedicationRequest/ketamine-draft" }));
    let (status, group) = apply(base, APPLY, &named).await;
    assert_eq!(status, 200, "{group:#}");
    // The data as prefetchData parts (key and Bundle, as the CPG IG's operation has them): the
    // same answer as one data Bundle.
    let request = bundle::request_for(
        bundle.clone(),
        "parts",
        &BundleOptions { hook: Hook::OrderSign, order: None },
        knowledge(),
    )
    .unwrap();
    let mut parts = vec![json!({ "name": "subject", "valueString": "Patient/example-patient" })];
    parts.push(json!({ "name": "prefetchData", "part": [
        { "name": "key", "valueString": "draftOrders" }, { "name": "data", "resource": request["context"]["draftOrders"] } ] }));
    for (key, value) in request["prefetch"].as_object().unwrap() {
        if value.is_object() {
            parts.push(json!({ "name": "prefetchData", "part": [
                { "name": "key", "valueString": key }, { "name": "data", "resource": value } ] }));
        }
    }
    let (status, by_parts) = apply(base, APPLY, &json!({ "resourceType": "Parameters", "parameter": parts })).await;
    assert_eq!(status, 200, "{by_parts:#}");
    let (_, by_data) = apply(base, APPLY, &parameters("Patient/example-patient", &bundle)).await;
    let titles = |g: &Value| g["action"].as_array().unwrap().iter().map(|a| a["title"].clone()).collect::<Vec<_>>();
    assert_eq!(titles(&by_parts), titles(&by_data));
    // A draft of another patient than the subject is refused, as in a hook call.
    let (status, body) = apply(base, APPLY, &parameters("Patient/someone-else", &bundle)).await;
    assert_eq!(status, 400, "{body:#}");
    let (status, body) =
        apply(base, "/PlanDefinition/another-guideline/$apply", &parameters("Patient/example-patient", &bundle)).await;
    assert_eq!(status, 404);
    refused(status, &body, "PlanDefinition/another-guideline is not known here");
    // The type-level form, by canonical URL (and version).
    let mut by_url = parameters("Patient/example-patient", &bundle);
    by_url["parameter"].as_array_mut().unwrap().push(json!({ "name": "url", "valueUri": knowledge().plan.url }));
    let (status, group) = apply(base, "/PlanDefinition/$apply", &by_url).await;
    assert_eq!(status, 200, "{group:#}");
    assert_eq!(
        group["action"][0]["title"],
        "Ketamine for neuropathic pain: no documented failure of SNRI, gabapentinoid and TCA"
    );
    by_url["parameter"][2]["valueUri"] = json!(format!("{}|0.0.1", knowledge().plan.url));
    assert_eq!(apply(base, "/PlanDefinition/$apply", &by_url).await.0, 404);
    // The hook call's limits: a Bundle past max_bundle_entries.
    let mut big = bundle.clone();
    let filler = json!({ "resource": { "resourceType": "Condition", "id": "x", "subject": { "reference": "Patient/example-patient" } } });
    big["entry"].as_array_mut().unwrap().extend(std::iter::repeat_n(filler, 20_001));
    let (status, body) = apply(base, APPLY, &parameters("Patient/example-patient", &big)).await;
    assert_eq!(status, 413, "{body:#}");
    let (status, _) = apply(base, APPLY, &json!("not even an object")).await;
    assert_eq!(status, 400);
}
