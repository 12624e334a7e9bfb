//! Criterion benchmarks of the pipeline stages at 10, 100, 1,000 and 10,000 history resources:
//! (a) request bytes → patient record, (b) evaluation (assessment), (c) cards → response bytes,
//! and the whole call. The records are generated deterministically (see `record`).
//!
//!   cargo bench --bench pipeline
//!
//! Not part of `cargo test`; CI only checks that it compiles (`cargo bench --no-run`).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ketamine_cds::cards::{self, CallInfo};
use ketamine_cds::fhir::{Origin, PatientRecord};
use ketamine_cds::guideline::{self, Hook, Today};
use ketamine_cds::hooks::response::Response;
use ketamine_cds::hooks::{HookRequest, Prefetched, discovery};
use ketamine_cds::knowledge::Knowledge;
use ketamine_cds::service;
use serde_json::{Value, json};

const RX: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

/// An order-sign request with `n` history resources: Conditions, MedicationRequests with dosage
/// and narrative, MedicationStatements, in a fixed mix; one painful-neuropathy condition and one
/// failed duloxetine trial, so the answer is a warning card.
fn request(n: usize) -> Vec<u8> {
    let subject = json!({ "reference": "Patient/p1" });
    let narrative = json!({ "status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", "history ".repeat(40)) });
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

fn record_of(bytes: &[u8]) -> (HookRequest, PatientRecord) {
    let mut request = HookRequest::from_slice(bytes).expect("valid request");
    let mut record = PatientRecord::new(&request.context.patient_id);
    record.add(std::mem::take(&mut request.context.draft_orders), Origin::Draft);
    for value in std::mem::take(&mut request.prefetch).into_values() {
        if let Prefetched::Data(data) = value {
            record.add(data, Origin::History);
        }
    }
    (request, record)
}

fn stages(c: &mut Criterion) {
    let knowledge = Knowledge::embedded().expect("embedded profiles");
    let today = Today("2026-11-21".into());
    let service = discovery::service("ketamine-order-sign").expect("service");
    let now = time::macros::datetime!(2026-11-21 12:00 UTC);
    for n in [10, 100, 1_000, 10_000] {
        let bytes = request(n);
        let mut group = c.benchmark_group(format!("{n}-resources"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("a-bytes-to-record", n), &bytes, |b, bytes| {
            b.iter(|| black_box(record_of(bytes)))
        });
        let (request, record) = record_of(&bytes);
        group.bench_function(BenchmarkId::new("b-assessment", n), |b| {
            b.iter(|| black_box(guideline::assess(Hook::OrderSign, &[], &record, &knowledge, &today)))
        });
        let assessments = guideline::assess(Hook::OrderSign, &[], &record, &knowledge, &today);
        let call = CallInfo {
            hook: Hook::OrderSign,
            hook_instance: &request.hook_instance,
            patient_id: "p1",
            encounter_id: None,
        };
        group.bench_function(BenchmarkId::new("c-cards-to-bytes", n), |b| {
            b.iter(|| black_box(serde_json::to_vec(&Response { cards: cards::cards(&call, &assessments, &knowledge) })))
        });
        group.bench_with_input(BenchmarkId::new("whole-call", n), &bytes, |b, bytes| {
            b.iter(|| {
                let request = HookRequest::from_slice(bytes).expect("valid");
                let evaluation = service::evaluate(service, request, &knowledge, now).expect("answered");
                black_box(serde_json::to_vec(&evaluation.response))
            })
        });
        group.finish();
    }
}

criterion_group!(benches, stages);
criterion_main!(benches);
