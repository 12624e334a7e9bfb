//! Every public example request under `tests/data/conformance/requests/` (written by others: HL7,
//! Inferno, Da Vinci, CDS Connect, the opioid CDS…) posted to the matching service of the running
//! server: 200 with a schema-valid response, or a 4xx with an OperationOutcome, never a 5xx.
//! Context-only fragments and other hooks go to the order-sign service and must be refused cleanly.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_example_request_gets_a_well_formed_answer() {
    let server = TestServer::start();
    let client = client();
    let requests = json_files(&data().join("conformance/requests"));
    assert!(requests.len() > 100, "expected the public corpus, found {} files", requests.len());
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for file in &requests {
        let bytes = std::fs::read(file).unwrap();
        let hook = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v["hook"].as_str().map(str::to_owned));
        let service = service_for(hook.as_deref().unwrap_or(""));
        let response = client
            .post(format!("{}/cds-services/{service}", server.base))
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: no answer: {e}", file.display()));
        let status = response.status().as_u16();
        *counts.entry(status).or_default() += 1;
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let name = file.strip_prefix(data()).unwrap().display().to_string();
        match status {
            200 => {
                if let Err(e) = std::panic::catch_unwind(|| assert_valid_response(&body)) {
                    failures.push(format!("{name}: 200 with an invalid response: {e:?}"));
                }
            }
            400..=499 => {
                if body["resourceType"] != "OperationOutcome" || body["issue"].as_array().is_none_or(Vec::is_empty) {
                    failures.push(format!("{name}: {status} without an OperationOutcome: {body}"));
                }
            }
            _ => failures.push(format!("{name}: status {status}: {body}")),
        }
    }
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    // Written past the test harness's capture, so the counts show in every test run.
    let line = format!("public example requests: {} files; by status: {}\n", requests.len(), summary.join(", "));
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
