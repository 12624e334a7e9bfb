//! The FHIR-server fallback against a local FHIR test server (an axum app serving searchsets
//! built from `tests/data/patients/` records, honouring `patient=`, `_count` and paging with `next`
//! links, checking the bearer token): the same call gives the same cards whether its data comes
//! from prefetch, from the server, or half from each; every way the server can fail is a clear
//! 412 within the deadline, and other calls keep being answered meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ketamine_cds::config::{FhirConfig, FileConfig};
use serde_json::{Value, json};

const TOKEN: &str = "fallback-test-token";

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Normal,
    Slow,
    Status(u16),
    NotJson,
    WrongBundle,
}

struct FhirData {
    by_type: HashMap<String, Vec<Value>>,
    page_size: usize,
    behaviour: Behaviour,
    /// The `fhirVersion` `/metadata` reports (none: it answers as any unknown path).
    fhir_version: Option<&'static str>,
    metadata_reads: std::sync::atomic::AtomicUsize,
}

async fn metadata(State(data): State<Arc<FhirData>>) -> Response {
    data.metadata_reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    match data.fhir_version {
        // DSTU2 calls its CapabilityStatement a Conformance.
        Some(version) => {
            let kind = if version.starts_with("1.") { "Conformance" } else { "CapabilityStatement" };
            let statement = json!({ "resourceType": kind, "status": "active", "fhirVersion": version, "format": ["json"],
                                    "rest": [{ "mode": "server", "resource": [] }] });
            ([("content-type", "application/fhir+json")], axum::Json(statement)).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn reference_id(reference: &Value) -> String {
    let r = reference["reference"].as_str().unwrap_or_default();
    r.rsplit('/').next().unwrap_or_default().trim_start_matches("urn:uuid:").to_owned()
}

async fn search(
    State(data): State<Arc<FhirData>>,
    Path(kind): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return (StatusCode::UNAUTHORIZED, "no").into_response();
    }
    match data.behaviour {
        Behaviour::Slow => tokio::time::sleep(Duration::from_secs(5)).await,
        Behaviour::Status(code) => return StatusCode::from_u16(code).unwrap().into_response(),
        Behaviour::NotJson => return "<html>gateway</html>".into_response(),
        Behaviour::WrongBundle => {
            return axum::Json(json!({ "resourceType": "Bundle", "type": "collection" })).into_response();
        }
        Behaviour::Normal => {}
    }
    let patient = params.get("patient").cloned().unwrap_or_default();
    let count: usize = params.get("_count").and_then(|c| c.parse().ok()).unwrap_or(data.page_size);
    let page: usize = params.get("_page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let mut matches: Vec<Value> = data
        .by_type
        .get(&kind)
        .into_iter()
        .flatten()
        .filter(|r| reference_id(r.get("subject").unwrap_or(&r["patient"])) == patient)
        .cloned()
        .collect();
    if kind.starts_with("Medication") {
        matches.extend(data.by_type.get("Medication").into_iter().flatten().cloned());
    }
    let total = matches.len();
    let entries: Vec<Value> = matches
        .into_iter()
        .skip(page * count)
        .take(count)
        .map(|r| json!({ "fullUrl": format!("urn:uuid:{}", r["id"].as_str().unwrap_or("")), "resource": r, "search": { "mode": "match" } }))
        .collect();
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let mut bundle = json!({ "resourceType": "Bundle", "type": "searchset", "total": total, "entry": entries });
    if (page + 1) * count < total {
        let next = format!("http://{host}/fhir/{kind}?patient={patient}&_count={count}&_page={}", page + 1);
        bundle["link"] = json!([{ "relation": "next", "url": next }]);
    }
    ([("content-type", "application/fhir+json")], axum::Json(bundle)).into_response()
}

fn fhir_server(record: &Value, behaviour: Behaviour, page_size: usize) -> AppServer {
    versioned_fhir_server(record, behaviour, page_size, None).0
}

/// A FHIR server whose `/metadata` says `fhir_version`; also the data, to count its reads.
fn versioned_fhir_server(
    record: &Value,
    behaviour: Behaviour,
    page_size: usize,
    fhir_version: Option<&'static str>,
) -> (AppServer, Arc<FhirData>) {
    let mut by_type: HashMap<String, Vec<Value>> = HashMap::new();
    for entry in record["entry"].as_array().into_iter().flatten() {
        let r = &entry["resource"];
        by_type.entry(r["resourceType"].as_str().unwrap_or_default().to_owned()).or_default().push(r.clone());
    }
    let data = Arc::new(FhirData { by_type, page_size, behaviour, fhir_version, metadata_reads: Default::default() });
    let app = axum::Router::new()
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/{kind}", get(search))
        .with_state(Arc::clone(&data));
    (serve_app(app), data)
}

fn server_with(fhir: FhirConfig) -> TestServer {
    TestServer::start_full(|_| {}, FileConfig { fhir, ..FileConfig::default() })
}

fn local_fhir() -> FhirConfig {
    FhirConfig { allow_insecure_http: true, deadline_ms: 2000, max_resources: 5000 }
}

/// The large Synthea record with its ketamine draft, as the hook request an EHR would send.
fn synthea_case() -> (Value, Value) {
    let record = read_json(&repo().join("examples/bundles/20-large-synthea-record-with-ketamine-draft.json"));
    let options =
        ketamine_cds::call::bundle::BundleOptions { hook: ketamine_cds::guideline::Hook::OrderSign, order: None };
    let request = ketamine_cds::call::bundle::request_for(record.clone(), "fallback", &options, knowledge()).unwrap();
    (record, request)
}

async fn post(server: &TestServer, request: &Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response =
        client().post(format!("{}/cds-services/ketamine-order-sign", server.base)).json(request).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null), started.elapsed())
}

fn pointing_at(mut request: Value, fhir: &AppServer, keep: &[&str]) -> Value {
    let prefetch = request["prefetch"].as_object_mut().unwrap();
    prefetch.retain(|k, _| keep.contains(&k.as_str()));
    request["fhirServer"] = json!(format!("http://{}/fhir", fhir.addr));
    request["fhirAuthorization"] = json!({ "access_token": TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read", "subject": "ketamine-cds" });
    request
}

fn diagnostics(outcome: &Value) -> String {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["diagnostics"].as_str().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_cards_whether_data_is_prefetched_fetched_or_half_and_half() {
    let (record, request) = synthea_case();
    let fhir = fhir_server(&record, Behaviour::Normal, 7);
    let server = server_with(local_fhir());
    let (status, prefetched, _) = post(&server, &request).await;
    assert_eq!(status, 200);
    // The step-therapy warning and the contraindication (an active SNOMED "dependent drug abuse").
    assert_eq!(prefetched["cards"].as_array().unwrap().len(), 2, "{prefetched:#}");
    let (status, fetched, _) = post(&server, &pointing_at(request.clone(), &fhir, &[])).await;
    assert_eq!(status, 200, "{fetched:#}");
    assert_eq!(fetched, prefetched);
    let (status, half, _) =
        post(&server, &pointing_at(request.clone(), &fhir, &["conditions", "allergyIntolerances"])).await;
    assert_eq!(status, 200, "{half:#}");
    assert_eq!(half, prefetched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_found_only_on_the_server_still_count() {
    // Example 09: duloxetine failure via a Medication the server returns as an include.
    let request = read_json(&repo().join("examples/hooks/09-medication-reference.json"));
    let mut record = json!({ "resourceType": "Bundle", "type": "collection", "entry": [] });
    for key in ["conditions", "medicationRequests"] {
        for entry in request["prefetch"][key]["entry"].as_array().unwrap() {
            record["entry"].as_array_mut().unwrap().push(entry.clone());
        }
    }
    let fhir = fhir_server(&record, Behaviour::Normal, 50);
    let server = server_with(local_fhir());
    let (status, body, _) =
        post(&server, &pointing_at(request, &fhir, &["medicationStatements", "allergyIntolerances"])).await;
    assert_eq!(status, 200);
    assert_eq!(body, read_json(&repo().join("examples/hooks/09-medication-reference.response.json")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_gets_412_within_the_deadline_and_other_calls_keep_working() {
    let (record, request) = synthea_case();
    let fhir = fhir_server(&record, Behaviour::Slow, 50);
    let server = Arc::new(server_with(FhirConfig { deadline_ms: 1500, ..local_fhir() }));
    let slow_request = pointing_at(request, &fhir, &[]);
    let slow = {
        let server = Arc::clone(&server);
        tokio::spawn(async move { post(&server, &slow_request).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A small prefetched call while the slow one waits on its FHIR server.
    let (status, _, took) = post(&server, &read_json(&repo().join("examples/hooks/01-untreated-patient.json"))).await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_millis(700), "a prefetched call waited {took:?} behind a slow one");
    let (status, outcome, took) = slow.await.unwrap();
    assert_eq!(status, 412);
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_millis(3000), "412 after {took:?}");
    let text = diagnostics(&outcome);
    assert!(
        text.contains("prefetch 'conditions' could not be read: the FHIR server did not answer within 1500 ms"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_server_failure_is_a_clear_412() {
    let (record, request) = synthea_case();
    let server = server_with(local_fhir());
    for (behaviour, expected) in [
        (Behaviour::Status(500), "the FHIR server answered 500 Internal Server Error"),
        (Behaviour::Status(403), "the FHIR server answered 403 Forbidden"),
        (Behaviour::NotJson, "the FHIR server's answer is not JSON"),
        (Behaviour::WrongBundle, "the FHIR server sent a Bundle of type collection, not a searchset"),
    ] {
        let fhir = fhir_server(&record, behaviour, 50);
        let (status, outcome, _) = post(&server, &pointing_at(request.clone(), &fhir, &[])).await;
        assert_eq!(status, 412);
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        let text = diagnostics(&outcome);
        for key in ["conditions", "medicationRequests", "medicationStatements", "allergyIntolerances"] {
            assert!(text.contains(&format!("prefetch '{key}' could not be read: {expected}")), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_token_is_a_401_from_the_server_and_a_412_here() {
    let (record, request) = synthea_case();
    let fhir = fhir_server(&record, Behaviour::Normal, 50);
    let server = server_with(local_fhir());
    let mut no_token = pointing_at(request.clone(), &fhir, &[]);
    no_token.as_object_mut().unwrap().remove("fhirAuthorization");
    let (status, outcome, _) = post(&server, &no_token).await;
    assert_eq!(status, 412);
    assert!(diagnostics(&outcome).contains("answered 401 Unauthorized"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_servers_are_refused_unless_allowed() {
    let (record, request) = synthea_case();
    let fhir = fhir_server(&record, Behaviour::Normal, 50);
    let server = server_with(FhirConfig { allow_insecure_http: false, ..local_fhir() });
    let (status, outcome, _) = post(&server, &pointing_at(request, &fhir, &[])).await;
    assert_eq!(status, 412);
    assert!(diagnostics(&outcome).contains("not an https URL"), "{outcome}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_resources_than_the_cap_is_a_412() {
    let (record, request) = synthea_case();
    let fhir = fhir_server(&record, Behaviour::Normal, 5);
    let server = server_with(FhirConfig { max_resources: 12, ..local_fhir() });
    let (status, outcome, _) =
        post(&server, &pointing_at(request, &fhir, &["allergyIntolerances", "medicationStatements"])).await;
    assert_eq!(status, 412);
    assert!(diagnostics(&outcome).contains("more than 12 resources"), "{outcome}");
}

/// The prefetched resources of `request` as one collection (what a FHIR server would hold).
fn server_record(request: &Value) -> Value {
    let mut entries = Vec::new();
    for bundle in request["prefetch"].as_object().into_iter().flat_map(|p| p.values()) {
        entries.extend(bundle["entry"].as_array().into_iter().flatten().cloned());
    }
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dstu2_server_is_read_for_its_medication_orders_and_asked_its_version_once() {
    use crate::common::fhir_versions::{self, FhirVersion};
    // Example 09 (a duloxetine failure through a Medication) as a DSTU2 EHR holds it.
    let r4 = read_json(&repo().join("examples/hooks/09-medication-reference.json"));
    let request = fhir_versions::write_request(FhirVersion::Dstu2, &r4).unwrap();
    let (fhir, data) = versioned_fhir_server(&server_record(&request), Behaviour::Normal, 50, Some("1.0.2"));
    assert!(data.by_type.contains_key("MedicationOrder") && !data.by_type.contains_key("MedicationRequest"));
    let server = Arc::new(server_with(local_fhir()));
    let expected = evaluate(&r4).unwrap();
    let request = pointing_at(request, &fhir, &[]);
    // Four calls at once to a server not seen before, then one more.
    let mut calls = Vec::new();
    for _ in 0..4 {
        let (server, request) = (Arc::clone(&server), request.clone());
        calls.push(tokio::spawn(async move { post(&server, &request).await }));
    }
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    answers.push(post(&server, &request).await);
    for (status, body, _) in answers {
        assert_eq!(status, 200, "{body:#}");
        let cards = |v: &Value| v["cards"].as_array().cloned().unwrap_or_default();
        // The failure is found only among the server's MedicationOrders.
        fhir_versions::assert_same_cards(FhirVersion::Dstu2, &cards(&expected), &cards(&body));
    }
    assert_eq!(data.metadata_reads.load(std::sync::atomic::Ordering::SeqCst), 1, "the version is asked once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_version_writes_the_suggestions_when_the_drafts_do_not_tell() {
    use crate::common::fhir_versions::{self, FhirVersion};
    let mut request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    let draft = request["context"]["draftOrders"]["entry"][0]["resource"].as_object_mut().unwrap();
    draft.remove("dosageInstruction");
    draft.remove("encounter");
    let record = server_record(&request);
    for (version, expected) in
        [(Some("3.0.1"), FhirVersion::Stu3), (Some("4.0.1"), FhirVersion::R4), (None, FhirVersion::R4)]
    {
        let (fhir, _) = versioned_fhir_server(&record, Behaviour::Normal, 50, version);
        let server = server_with(local_fhir());
        let (status, body, _) = post(&server, &pointing_at(request.clone(), &fhir, &[])).await;
        assert_eq!(status, 200, "{body:#}");
        let created = &body["cards"][0]["suggestions"][0]["actions"][0]["resource"];
        fhir_versions::validate(expected, created).unwrap_or_else(|e| panic!("{version:?}: {e}"));
        assert_eq!(created.get("context").is_some(), expected == FhirVersion::Stu3, "{version:?}: {created}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patient_is_read_with_the_missing_keys_and_a_child_gets_no_adult_dosed_order() {
    let (mut record, request) = synthea_case();
    for entry in record["entry"].as_array_mut().unwrap() {
        if entry["resource"]["resourceType"] == "Patient" {
            entry["resource"]["birthDate"] = json!("2014-06-01");
        }
    }
    let fhir = fhir_server(&record, Behaviour::Normal, 50);
    let server = server_with(local_fhir());
    let step = |body: &Value| {
        body["cards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["extension"]["ketamine-cds-card"]["kind"] == "step-therapy")
            .cloned()
            .unwrap()
    };
    // Everything from the server, the Patient included: no first-line order for a 12-year-old.
    let (status, fetched, _) = post(&server, &pointing_at(request.clone(), &fhir, &[])).await;
    assert_eq!(status, 200, "{fetched:#}");
    let card = step(&fetched);
    let labels: Vec<&str> =
        card["suggestions"].as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["Remove the ketamine order"], "{fetched:#}");
    // The other keys prefetched, no Patient and no server: answered as an adult, never a 412.
    let mut no_patient = request.clone();
    no_patient["prefetch"].as_object_mut().unwrap().remove("patient");
    let (status, adult, _) = post(&server, &no_patient).await;
    assert_eq!(status, 200, "{adult:#}");
    assert_eq!(step(&adult)["suggestions"].as_array().unwrap().len(), 3);
}
