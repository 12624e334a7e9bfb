//! The HTTP API against a real server on a loopback port: every status code it can answer, with
//! the OperationOutcome content asserted; discovery, CORS, health, readiness, OpenAPI, feedback.

use crate::common::*;
use serde_json::{Value, json};

async fn post(server: &TestServer, path: &str, body: impl Into<reqwest::Body>) -> (u16, Option<String>, Value) {
    let response = client()
        .post(format!("{}{path}", server.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("server answers");
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    (status, content_type, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts an OperationOutcome whose diagnostics mention every `needle`.
fn assert_outcome(body: &Value, code: &str, needles: &[&str]) {
    assert_eq!(body["resourceType"], "OperationOutcome", "{body:#}");
    let issues = body["issue"].as_array().expect("issues");
    assert!(!issues.is_empty());
    assert!(issues.iter().all(|i| i["severity"] == "error" && i["code"] == code), "{body:#}");
    let text: String =
        issues.iter().map(|i| i["diagnostics"].as_str().unwrap_or_default()).collect::<Vec<_>>().join("\n");
    for needle in needles {
        assert!(text.contains(needle), "diagnostics lack '{needle}': {text}");
    }
}

const SIGN: &str = "/cds-services/ketamine-order-sign";
const SELECT: &str = "/cds-services/ketamine-order-select";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_both_services_with_prefetch_templates() {
    let server = TestServer::start();
    let body: Value = client().get(format!("{}/cds-services", server.base)).send().await.unwrap().json().await.unwrap();
    let services = body["services"].as_array().unwrap();
    let ids: Vec<&str> = services.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ketamine-order-select", "ketamine-order-sign", "ketamine-patient-view"]);
    let hooks: Vec<&str> = services.iter().map(|s| s["hook"].as_str().unwrap()).collect();
    assert_eq!(hooks, ["order-select", "order-sign", "patient-view"]);
    for s in services {
        assert!(!s["title"].as_str().unwrap().is_empty() && !s["description"].as_str().unwrap().is_empty());
        let prefetch = &s["prefetch"];
        assert_eq!(prefetch["patient"], "Patient/{{context.patientId}}");
        assert_eq!(prefetch["conditions"], "Condition?patient={{context.patientId}}");
        assert!(prefetch["medicationRequests"].as_str().unwrap().contains("_include=MedicationRequest:medication"));
        assert!(prefetch["medicationStatements"].as_str().unwrap().starts_with("MedicationStatement?patient="));
        assert_eq!(prefetch["allergyIntolerances"], "AllergyIntolerance?patient={{context.patientId}}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_call_answers_200_with_cards() {
    let server = TestServer::start();
    let (status, _, body) = post(&server, SIGN, example("01-untreated-patient.json").to_string()).await;
    assert_eq!(status, 200);
    assert_valid_response(&body);
    assert_eq!(body["cards"][0]["indicator"], "warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_id_given_as_a_reference_is_accepted() {
    let server = TestServer::start();
    let mut request = example("01-untreated-patient.json");
    request["context"]["patientId"] = json!("Patient/example-patient");
    let (status, _, body) = post(&server, SIGN, request.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["cards"][0]["suggestions"][0]["actions"][0]["resource"]["subject"]["reference"],
        "Patient/example-patient"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_structure() {
    let server = TestServer::start();
    let (status, content_type, body) = post(&server, SIGN, "{\"hook\": \"order-sign\",").await;
    assert_eq!(status, 400);
    assert_eq!(content_type.as_deref(), Some("application/fhir+json"));
    assert_outcome(&body, "structure", &["not valid JSON"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_hook_hook_instance_or_context_is_400_naming_the_field() {
    let server = TestServer::start();
    for field in ["hook", "hookInstance", "context"] {
        let mut request = example("01-untreated-patient.json");
        request.as_object_mut().unwrap().remove(field);
        let (status, _, body) = post(&server, SIGN, request.to_string()).await;
        assert_eq!(status, 400, "{field}");
        assert_outcome(&body, "structure", &[&format!("\"{field}\" is a required property")]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_select_without_selections_is_400() {
    let server = TestServer::start();
    let mut request = example("03-all-first-line-failed-select-info.json");
    request["context"].as_object_mut().unwrap().remove("selections");
    let (status, _, body) = post(&server, SELECT, request.to_string()).await;
    assert_eq!(status, 400);
    assert_outcome(&body, "structure", &["/context", "selections"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_does_not_match_the_service_is_400() {
    let server = TestServer::start();
    let (status, _, body) = post(&server, SELECT, example("01-untreated-patient.json").to_string()).await;
    assert_eq!(status, 400);
    assert_outcome(&body, "invalid", &["answers hook 'order-select'", "'order-sign'"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selection_not_in_draft_orders_is_400() {
    let server = TestServer::start();
    let mut request = example("03-all-first-line-failed-select-info.json");
    request["context"]["selections"] = json!(["MedicationRequest/nowhere"]);
    let (status, _, body) = post(&server, SELECT, request.to_string()).await;
    assert_eq!(status, 400);
    assert_outcome(&body, "invalid", &["MedicationRequest/nowhere", "draftOrders"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_service_is_404() {
    let server = TestServer::start();
    let (status, _, body) =
        post(&server, "/cds-services/statin-check", example("01-untreated-patient.json").to_string()).await;
    assert_eq!(status, 404);
    assert_outcome(&body, "not-found", &["statin-check"]);
    let (status, _, body) = post(&server, "/nowhere", "{}").await;
    assert_eq!(status, 404);
    assert_outcome(&body, "not-found", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 4096);
    let mut request = example("01-untreated-patient.json");
    request["padding"] = json!("x".repeat(8192));
    let (status, _, body) = post(&server, SIGN, request.to_string()).await;
    assert_eq!(status, 413);
    assert_outcome(&body, "too-long", &["4096-byte limit"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_body_limit_takes_five_mib() {
    let server = TestServer::start();
    let mut request = example("01-untreated-patient.json");
    request["padding"] = json!("x".repeat(4 * 1024 * 1024));
    let (status, _, _) = post(&server, SIGN, request.to_string()).await;
    assert_eq!(status, 200);
    request["padding"] = json!("x".repeat(6 * 1024 * 1024));
    let (status, _, _) = post(&server, SIGN, request.to_string()).await;
    assert_eq!(status, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_405() {
    let server = TestServer::start();
    let response = client().get(format!("{}{SIGN}", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_outcome(&response.json().await.unwrap(), "not-supported", &["method not allowed"]);
    let response = client().delete(format!("{}/cds-services", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_prefetch_for_a_ketamine_order_is_412_naming_the_keys() {
    let server = TestServer::start();
    let mut request = example("01-untreated-patient.json");
    let prefetch = request["prefetch"].as_object_mut().unwrap();
    prefetch.remove("medicationStatements");
    prefetch.insert("conditions".into(), json!({ "resourceType": "OperationOutcome", "issue": [] }));
    let (status, _, body) = post(&server, SIGN, request.to_string()).await;
    assert_eq!(status, 412);
    assert_outcome(&body, "incomplete", &["prefetch 'conditions'", "prefetch 'medicationStatements'"]);
    // With fhirServer but no way to read it yet, still 412 (the FHIR-server fallback is its own issue).
    request["fhirServer"] = json!("https://ehr.example.org/fhir");
    request["fhirAuthorization"] = json!({ "access_token": "secret", "token_type": "Bearer" });
    let (status, _, _) = post(&server, SIGN, request.to_string()).await;
    assert_eq!(status, 412);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_prefetch_at_all_is_fine_when_no_ketamine_is_ordered() {
    let server = TestServer::start();
    let mut request = example("18-order-select-other-draft-selected.json");
    request.as_object_mut().unwrap().remove("prefetch");
    let (status, _, body) = post(&server, SELECT, request.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "cards": [] }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_responses_never_echo_the_request() {
    let server = TestServer::start();
    let mut request = example("01-untreated-patient.json");
    request["context"]["patientId"] = json!("MARKER-PATIENT-123");
    request.as_object_mut().unwrap().remove("hookInstance");
    let (status, _, body) = post(&server, SIGN, request.to_string()).await;
    assert_eq!(status, 400);
    assert!(!body.to_string().contains("MARKER-PATIENT-123"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_succeeds_without_auth() {
    let server = TestServer::start();
    let response = preflight(&format!("{}{SIGN}", server.base)).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
    assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("POST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_openapi_answer() {
    let server = TestServer::start();
    let health: Value = client().get(format!("{}/health", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready: Value = client().get(format!("{}/ready", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["knowledge"], knowledge().version());
    let openapi: Value =
        client().get(format!("{}/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");
    assert!(openapi["paths"]["/cds-services/{id}"]["post"]["responses"]["412"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_is_accepted_and_bad_feedback_is_400() {
    let server = TestServer::start();
    let good = json!({ "feedback": [
        { "card": "49369fa3-0c7c-551d-813c-c1f30a21f660", "outcome": "overridden",
          "overrideReason": { "reason": { "system": "https://fhir.ketamine-cds.example/CodeSystem/override-reason", "code": "crps" },
                              "userComment": "free text that is never logged" },
          "outcomeTimestamp": "2026-11-21T10:00:00Z" },
        { "card": "49369fa3-0c7c-551d-813c-c1f30a21f660", "outcome": "accepted",
          "acceptedSuggestions": [{ "id": "884a341e-b5a3-5f7b-a3f0-5bb6548a0d5a" }], "outcomeTimestamp": "2026-11-21T10:00:00Z" } ] });
    let path = "/cds-services/ketamine-order-sign/feedback";
    let (status, _, _) = post(&server, path, good.to_string()).await;
    assert_eq!(status, 200);
    // Nothing is stored yet (feedback is logged): the same items sent again are simply
    // acknowledged again. The feedback store will make this a check of idempotent storage.
    let (status, _, _) = post(&server, path, good.to_string()).await;
    assert_eq!(status, 200, "the same feedback sent again is acknowledged again");
    let bad = json!({ "feedback": [{ "card": "c", "outcome": "maybe", "outcomeTimestamp": "t" }] });
    let (status, _, body) = post(&server, path, bad.to_string()).await;
    assert_eq!(status, 400);
    assert_outcome(&body, "invalid", &["unknown variant `maybe`"]);
    let (status, _, body) = post(&server, "/cds-services/nope/feedback", good.to_string()).await;
    assert_eq!(status, 404);
    assert_outcome(&body, "not-found", &["nope"]);
}

/// Sends an order-sign call (its body in two halves, `pause` apart), begins shutdown once the
/// server has read the head and the first half, and returns the raw answer; the server must have
/// stopped listening after.
async fn call_across_shutdown(pause: std::time::Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start();
    let addr = server.addr;
    let body = std::fs::read(repo().join("examples/hooks/01-untreated-patient.json")).unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /cds-services/ketamine-order-sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    // The call is accepted (its head read, its handler reading the body) before shutdown begins.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stopping = std::thread::spawn(move || drop(server));
    tokio::time::sleep(pause).await;
    let mut answer = String::new();
    if stream.write_all(rest).await.is_ok() {
        let _ = stream.read_to_string(&mut answer).await;
    }
    stopping.join().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening after shutdown");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_a_call_in_flight_and_stops_listening() {
    // A FHIR server that takes 800 ms: the call reading its allergies from there is surely in
    // flight when shutdown begins 300 ms after it was sent.
    let slow_fhir = serve_app(axum::Router::new().route(
        "/fhir/{kind}",
        axum::routing::get(|| async {
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
            axum::Json(json!({ "resourceType": "Bundle", "type": "searchset" }))
        }),
    ));
    let fhir = ketamine_cds::config::FhirConfig { allow_insecure_http: true, deadline_ms: 5000, max_resources: 100 };
    let server = TestServer::start_full(|_| {}, ketamine_cds::config::FileConfig { fhir, ..Default::default() });
    let (base, addr) = (server.base.clone(), server.addr);
    let mut request = example("01-untreated-patient.json");
    request["prefetch"].as_object_mut().unwrap().remove("allergyIntolerances");
    request["fhirServer"] = json!(format!("http://{}/fhir", slow_fhir.addr));
    request["fhirAuthorization"] = json!({ "access_token": "t", "token_type": "Bearer" });
    let call = tokio::spawn(async move {
        let response = client().post(format!("{base}{SIGN}")).json(&request).send().await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let base = server.base.clone();
    let stopping = std::thread::spawn(move || drop(server));
    // While it drains, probes and new calls on new connections are answered 503.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let ready = client().get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "/ready says not ready from the first moment of the drain");
    let late = client().post(format!("{base}{SIGN}")).json(&example("01-untreated-patient.json")).send().await.unwrap();
    assert_eq!(late.status(), 503);
    assert_outcome(&late.json().await.unwrap(), "transient", &["shutting down"]);
    let (status, body) = call.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cards"][0]["indicator"], "warning", "the call in flight got its card: {body}");
    stopping.join().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_a_call_whose_body_is_still_arriving() {
    let answer = call_across_shutdown(std::time::Duration::from_millis(300)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "the half-sent call was not answered: {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_cards_refusals_and_data_sources() {
    let server = TestServer::start();
    post(&server, SIGN, example("13-contraindication-heart-failure.json").to_string()).await;
    post(&server, SIGN, example("06-anaesthesia-is-silent.json").to_string()).await;
    post(&server, SIGN, "{").await;
    let mut missing = example("01-untreated-patient.json");
    missing["prefetch"].as_object_mut().unwrap().remove("conditions");
    post(&server, SIGN, missing.to_string()).await;
    let response = client().get(format!("{}/metrics", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for line in [
        r#"ketamine_cds_calls_total{service="ketamine-order-sign",outcome="cards"} 1"#,
        r#"ketamine_cds_calls_total{service="ketamine-order-sign",outcome="no-card"} 1"#,
        r#"ketamine_cds_calls_total{service="ketamine-order-sign",outcome="refused"} 2"#,
        r#"ketamine_cds_cards_total{service="ketamine-order-sign",indicator="warning"} 2"#,
        r#"ketamine_cds_refusals_total{status="400",reason="malformed-json"} 1"#,
        r#"ketamine_cds_refusals_total{status="412",reason="missing-data"} 1"#,
        r#"ketamine_cds_call_duration_seconds_count{service="ketamine-order-sign"} 4"#,
        r#"ketamine_cds_patient_data_keys_total{source="prefetch"} 4"#,
        r#"ketamine_cds_patient_data_keys_total{source="fhir-server"} 0"#,
    ] {
        assert!(text.contains(line), "no '{line}' in:\n{text}");
    }
    assert!(text.contains(&format!(r#"ketamine_cds_knowledge{{version="{}"}} 1"#, knowledge().version())), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_content_length_is_a_413_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start();
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = "POST /cds-services/ketamine-order-sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{\"hook\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(3), stream.read(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("5242880-byte limit"), "the 413 names the limit: {answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_empty_draft_orders_are_refused_by_count_without_building_them() {
    let server = TestServer::start();
    let drafts = vec!["{}"; 1_000_000].join(",");
    let body =
        format!(r#"{{"hook":"order-sign","hookInstance":"h","context":{{"patientId":"p","draftOrders":[{drafts}]}}}}"#);
    let started = std::time::Instant::now();
    let (status, _, outcome) = post(&server, SIGN, body).await;
    assert_eq!(status, 413);
    assert_outcome(&outcome, "too-long", &["more than 100000 values"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "refused while read: {:?}", started.elapsed());
    let too_many = vec![r#"{"resourceType":"MedicationRequest","status":"draft"}"#; 101].join(",");
    let body = format!(
        r#"{{"hook":"order-sign","hookInstance":"h","context":{{"patientId":"p","draftOrders":[{too_many}]}}}}"#
    );
    let (status, _, outcome) = post(&server, SIGN, body).await;
    assert_eq!(status, 413);
    assert_outcome(&outcome, "too-long", &["context.draftOrders has 101 orders, more than 100 (--max-draft-orders)"]);
}

/// Opens a connection that sends half a request head and then nothing.
async fn trickler(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"POST /cds-services/ketamine-order-sign HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    stream
}

/// Whether the server has closed `stream` (a read ends or fails within `within`).
async fn closed(stream: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 512];
    matches!(tokio::time::timeout(within, stream.read(&mut buffer)).await, Ok(Ok(0) | Err(_)))
        || matches!(tokio::time::timeout(within, stream.read(&mut buffer)).await, Ok(Ok(0) | Err(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_trickling_their_headers_are_closed_and_normal_calls_go_on() {
    let server = TestServer::start_with(|c| c.header_read_timeout_ms = 600);
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(trickler(server.addr).await);
    }
    let started = std::time::Instant::now();
    let (status, _, body) = post(&server, SIGN, example("01-untreated-patient.json").to_string()).await;
    assert_eq!((status, body["cards"][0]["indicator"].as_str()), (200, Some("warning")));
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "a normal call meanwhile: {:?}",
        started.elapsed()
    );
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    for stream in &mut slow {
        assert!(closed(stream, std::time::Duration::from_millis(500)).await, "a trickling connection is closed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_at_once_and_the_slots_come_back() {
    let server = TestServer::start_with(|c| {
        c.max_connections = 4;
        c.header_read_timeout_ms = 800;
    });
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(trickler(server.addr).await);
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut fifth = trickler(server.addr).await;
    assert!(closed(&mut fifth, std::time::Duration::from_millis(300)).await, "the fifth connection is closed at once");
    // The held ones time out, their slots are free again.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let (status, _, _) = post(&server, SIGN, example("01-untreated-patient.json").to_string()).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_the_drain_timeout_even_with_half_sent_headers() {
    let server = TestServer::start_with(|c| {
        c.header_read_timeout_ms = 60_000;
        c.drain_timeout_ms = 500;
    });
    let _stuck = trickler(server.addr).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    drop(server);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "shutdown took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_of_large_bodies_do_not_starve_ordinary_calls() {
    use tokio::io::AsyncWriteExt;
    // Two connections declare 5 MiB bodies and trickle them: together they hold the whole
    // in-flight budget (10 MiB) for as long as they take.
    let server = TestServer::start();
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "POST /cds-services/ketamine-order-sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
            5 * 1024 * 1024 - 1
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let (status, _, body) = post(&server, SIGN, example("01-untreated-patient.json").to_string()).await;
    assert_eq!((status, body["cards"][0]["indicator"].as_str()), (200, Some("warning")));
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "an ordinary call waited {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_for_another_patient_is_refused_naming_it_and_a_huge_patient_id_is_refused() {
    let server = TestServer::start();
    let mut request = example("01-untreated-patient.json");
    request["context"]["draftOrders"]["entry"][0]["resource"]["subject"] =
        json!({ "reference": "Patient/EXAMPLE-PATIENT" });
    let (status, _, body) = post(&server, SIGN, request.to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["resourceType"], "OperationOutcome");
    let diagnostics = body["issue"][0]["diagnostics"].as_str().unwrap();
    assert_eq!(
        diagnostics,
        "context.draftOrders: MedicationRequest/ketamine-draft is for Patient/EXAMPLE-PATIENT, but context.patientId is 'example-patient'"
    );
    // The same patient named another way, or no subject at all: answered as before.
    for subject in [json!({ "reference": "https://ehr.example.org/fhir/Patient/example-patient" }), Value::Null] {
        let mut same = example("01-untreated-patient.json");
        same["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = subject.clone();
        let (status, _, body) = post(&server, SIGN, same.to_string()).await;
        assert_eq!(status, 200, "{subject}: {body}");
        assert_eq!(body["cards"][0]["indicator"], "warning");
    }
    // A 4 MB patient id is refused by the request schema, which names the rule and not the value.
    let mut huge = example("01-untreated-patient.json");
    huge["context"]["patientId"] = json!("p".repeat(4 * 1024 * 1024));
    let (status, _, body) = post(&server, SIGN, huge.to_string()).await;
    assert_eq!(status, 400);
    let text = body.to_string();
    assert!(text.contains("/context/patientId") && text.len() < 4096, "{}", &text[..text.len().min(500)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_another_patient_is_dropped_and_counted_in_the_metrics() {
    let server = TestServer::start();
    let mut request = example("01-untreated-patient.json");
    for entry in request["prefetch"]["conditions"]["entry"].as_array_mut().unwrap() {
        entry["resource"]["subject"] = json!({ "reference": "Patient/EXAMPLE-PATIENT" });
    }
    let (status, _, body) = post(&server, SIGN, request.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(body["cards"], json!([]), "no in-scope condition of this patient: silent");
    let metrics = client().get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ketamine_cds_resources_other_patient_total 1"), "{metrics}");
}
