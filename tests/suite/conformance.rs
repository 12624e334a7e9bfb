//! Every public example request under `tests/data/conformance/requests/` (written by others: HL7,
//! Inferno, Da Vinci, CDS Connect, the opioid CDS…) posted to the matching service of the running
//! server: 200 with a schema-valid response, or a 4xx with an OperationOutcome, never a 5xx.
//! Context-only fragments and other hooks go to the order-sign service and must be refused cleanly.

use std::collections::BTreeMap;

use crate::common::*;
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

/// An order-sign call shaped as Epic sends it (`tests/data/ehr/epic-order-sign.json`, written for
/// this project from Epic's public documentation): Epic's request extension, a PractitionerRole
/// user, a scope string in Epic's own words, the draft naming its Medication by a reference
/// with a display, the Medication as an extra `draftOrders` entry with Epic's several codings,
/// three typed `doseAndRate` entries on each dosage line, and searches that found nothing as
/// OperationOutcome-only Bundles. Pinned so that each keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epic_shaped_order_sign_call_is_read_whole_and_answered_in_epics_shape() {
    let server = TestServer::start();
    let request = read_json(&data().join("ehr/epic-order-sign.json"));
    let post = |body: Value| {
        let url = format!("{}/cds-services/ketamine-order-sign", server.base);
        async move { client().post(url).json(&body).send().await.unwrap() }
    };
    let response = post(request.clone()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let card = &body["cards"][0];
    assert_eq!(
        card["summary"], "Ketamine for neuropathic pain: no documented failure of gabapentinoid and TCA",
        "{body:#}"
    );
    let detail = card["detail"].as_str().unwrap();
    // The duloxetine trial's dose is its mg entry (60 mg), not its capsules or the dose per kg.
    assert!(
        detail.contains("**SNRI — failed** (Level I, Grade A): Duloxetine 60 mg/day, stopped (ordered 2025-03-02): no response to treatment"),
        "{detail}"
    );
    assert!(detail.contains("**Order**: KETAMINE 50 MG/ML INJ SOLN, for "), "{detail}");
    assert_eq!(card["source"]["topic"]["code"], "KetamineStepTherapy");
    assert_eq!(card["selectionBehavior"], "any");
    let deletes: Vec<&Value> = card["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["actions"].as_array().unwrap())
        .filter(|a| a["type"] == "delete")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["resourceId"], "MedicationRequest/eWxT9.2-ketamine-4477");
    // Before Epic's February 2024 release only the reference and its display were sent: the
    // display names the product.
    let mut older = request;
    older["context"]["draftOrders"]["entry"].as_array_mut().unwrap().truncate(1);
    let response = post(older).await;
    assert_eq!(response.status(), 200);
    let older: Value = response.json().await.unwrap();
    assert_eq!(older["cards"][0]["summary"], card["summary"]);
}
