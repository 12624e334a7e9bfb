//! Criterion benchmarks of the pipeline stages at 10, 100, 1,000 and 10,000 history resources:
//! (a) request bytes → patient record, (b) evaluation (assessment), (c) cards → response bytes,
//! and the whole call. The records are generated deterministically (see `record`).
//!
//!   cargo bench --bench pipeline
//!   PIPELINE_SIZES=1000,2000,5000,10000,20000,40000 cargo bench --bench pipeline -- b-assessment
//!
//! (`PIPELINE_SIZES` replaces the four record sizes, to see where a cost stops being linear.)
//!
//! Not part of `cargo test`; CI only checks that it compiles (`cargo bench --no-run`).

use std::hint::black_box;

use bytes::Bytes;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ketamine_cds::call::{self, services};
use ketamine_cds::cards::{self, CallInfo};
use ketamine_cds::fhir::PatientRecord;
use ketamine_cds::guideline::{self, Hook, Today};
use ketamine_cds::hooks::HookRequest;
use ketamine_cds::hooks::response::Response;
use ketamine_cds::knowledge::Knowledge;

mod support;
use support::order_sign_request as request;

fn record_of(bytes: &Bytes) -> (HookRequest, PatientRecord) {
    let mut request = HookRequest::from_bytes(bytes).expect("valid request");
    let mut record = call::read_drafts(&mut request);
    call::read_prefetch(&mut request, &mut record);
    (request, record)
}

fn stages(c: &mut Criterion) {
    let knowledge = Knowledge::embedded().expect("embedded profiles");
    let today = Today("2026-11-21".into());
    let service = services::service("ketamine-order-sign").expect("service");
    let now = time::macros::datetime!(2026-11-21 12:00 UTC);
    for n in sizes() {
        let bytes = Bytes::from(request(n));
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
            version: Default::default(),
            hook_instance: &request.hook_instance,
            patient_id: "p1",
            encounter_id: None,
        };
        group.bench_function(BenchmarkId::new("c-cards-to-bytes", n), |b| {
            b.iter(|| black_box(serde_json::to_vec(&Response { cards: cards::cards(&call, &assessments, &knowledge) })))
        });
        group.bench_with_input(BenchmarkId::new("whole-call", n), &bytes, |b, bytes| {
            b.iter(|| {
                let request = HookRequest::from_bytes(bytes).expect("valid");
                let evaluation = call::answer_offline(service, request, &knowledge, now).expect("answered");
                black_box(serde_json::to_vec(&evaluation.response))
            })
        });
        group.finish();
    }
}

fn sizes() -> Vec<usize> {
    match std::env::var("PIPELINE_SIZES") {
        Ok(list) => {
            list.split(',').map(|n| n.trim().parse().expect("PIPELINE_SIZES: numbers, comma-separated")).collect()
        }
        Err(_) => vec![10, 100, 1_000, 10_000],
    }
}

criterion_group!(benches, stages);
criterion_main!(benches);
