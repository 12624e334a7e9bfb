//! The `ketamine-cds serve` binary as an operator runs it: embedded defaults, `--listen` and its
//! environment variable, a broken `--profiles` directory refused by name, SIGTERM handled.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A plain HTTP/1.1 GET; returns (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

fn wait_ready(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some((200, _)) = get(port, "/ready") {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server not ready on port {port}");
}

fn serve(args: &[&str], envs: &[(&str, String)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"));
    // The logs go nowhere: a pipe nobody reads fills, and a process whose log writes block
    // stops answering.
    command.arg("serve").args(args).stdout(Stdio::null()).stderr(Stdio::null());
    command.env_remove("KETAMINE_CDS_LISTEN").env_remove("KETAMINE_CDS_PROFILES");
    // Not the default SQLite file in the working directory (the repository): tests of the store
    // say where theirs is.
    command.env("KETAMINE_CDS_STORE", "none");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.spawn().expect("binary starts")
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_with_listen_answers_discovery_and_stops_cleanly_on_sigterm() {
    let port = free_port();
    let mut child = serve(&["--listen", &format!("127.0.0.1:{port}")], &[]);
    wait_ready(&mut child, port);
    let (status, body) = get(port, "/cds-services").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("ketamine-order-sign"));
    assert!(terminate(&mut child).success(), "exit code after SIGTERM");
}

#[test]
fn the_listen_address_can_come_from_the_environment() {
    let port = free_port();
    let mut child = serve(&[], &[("KETAMINE_CDS_LISTEN", format!("127.0.0.1:{port}"))]);
    wait_ready(&mut child, port);
    let (status, body) = get(port, "/ready").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(knowledge().version()));
    terminate(&mut child);
}

#[test]
fn a_profiles_directory_is_loaded_instead_of_the_embedded_one() {
    // A site's copy of the profiles that knows its local ketamine code KX-77.
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("profiles")).unwrap().flatten() {
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let agent = dir.path().join("ValueSet-agent-ketamine.json");
    let mut value_set = read_json(&agent);
    value_set["compose"]["include"].as_array_mut().unwrap().push(serde_json::json!({
        "system": "urn:oid:1.2.3.4.5",
        "concept": [{ "code": "KX-77", "display": "Ketamine infusion (local)", "extension": [{
            "url": "https://fhir.ketamine-cds.example/StructureDefinition/local-code", "valueBoolean": true }] }] }));
    std::fs::write(&agent, value_set.to_string()).unwrap();
    let request = serde_json::json!({
        "hook": "order-sign", "hookInstance": "5b0f3c1e-local-code",
        "context": { "userId": "Practitioner/1", "patientId": "p1", "draftOrders": { "resourceType": "Bundle", "entry": [
            { "resource": { "resourceType": "MedicationRequest", "id": "k1", "status": "draft", "intent": "order",
                            "subject": { "reference": "Patient/p1" },
                            "medicationCodeableConcept": { "coding": [{ "system": "urn:oid:1.2.3.4.5", "code": "KX-77" }] } } }] } },
        "prefetch": { "conditions": { "resourceType": "Bundle", "type": "searchset", "entry": [{ "resource": {
            "resourceType": "Condition", "id": "c1", "subject": { "reference": "Patient/p1" },
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
            "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.42" }] } } }] },
            "medicationRequests": null, "medicationStatements": null, "allergyIntolerances": null } });
    let embedded = evaluate(&request).unwrap();
    assert_eq!(embedded["cards"], serde_json::json!([]), "the embedded knowledge does not know KX-77");

    let port = free_port();
    let mut child = serve(&["--listen", &format!("127.0.0.1:{port}"), "--profiles", dir.path().to_str().unwrap()], &[]);
    wait_ready(&mut child, port);
    let answer = post_hook(port, &request.to_string());
    terminate(&mut child);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"indicator\":\"warning\""), "the site's code is a ketamine order there: {answer}");
}

#[test]
fn a_broken_profiles_directory_refuses_to_start_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("profiles")).unwrap().flatten() {
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    std::fs::write(dir.path().join("ValueSet-class-snri.json"), "[]").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["serve", "--listen", "127.0.0.1:0", "--profiles", dir.path().to_str().unwrap()])
        .env_remove("KETAMINE_CDS_PROFILES")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ValueSet-class-snri.json") && stderr.contains("profiles set is broken"), "{stderr}");
}

#[test]
fn sigterm_during_a_slow_call_lets_it_finish() {
    // A FHIR server that takes 1.5 s to answer keeps a call in flight.
    let slow = serve_app(axum::Router::new().route(
        "/fhir/{kind}",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            axum::Json(serde_json::json!({ "resourceType": "Bundle", "type": "searchset" }))
        }),
    ));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[auth]\nmode = \"off\"\n[fhir]\nallow_insecure_http = true\ndeadline_ms = 3000\n")
        .unwrap();
    let port = free_port();
    let mut child = serve(&["--listen", &format!("127.0.0.1:{port}"), "--config", config.to_str().unwrap()], &[]);
    wait_ready(&mut child, port);
    let mut request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    request.as_object_mut().unwrap().remove("prefetch");
    request["fhirServer"] = serde_json::json!(format!("http://{}/fhir", slow.addr));
    let body = request.to_string();
    let call = std::thread::spawn(move || post_hook(port, &body));
    std::thread::sleep(Duration::from_millis(400));
    let exit = terminate(&mut child);
    let answer = call.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "the call in flight was answered: {answer}");
    // The slow server's searchsets are empty: no neuropathic condition, so no card — but an answer.
    assert!(answer.ends_with("{\"cards\":[]}"), "{answer}");
    assert!(exit.success());
}

/// An order-sign call to `port`; returns the raw HTTP answer.
fn post_hook(port: u16, body: &str) -> String {
    post(port, "/cds-services/ketamine-order-sign", body)
}

#[cfg(not(feature = "otlp"))]
#[test]
fn trace_export_asked_of_a_build_without_it_is_refused_at_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("KETAMINE_CDS_TELEMETRY__OTLP_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("otlp_endpoint") && stderr.contains("--features otlp"), "{stderr}");
}

#[cfg(feature = "otlp")]
#[test]
fn hook_call_spans_are_exported_to_the_otlp_collector_without_phi() {
    use std::sync::{Arc, Mutex};
    /// What the collector received: content type and body of each export.
    type Exports = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let received: Exports = Arc::default();
    let sink = received.clone();
    let collector = serve_app(axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                sink.lock().unwrap().push((kind, body.to_vec()));
                axum::http::StatusCode::OK
            }
        }),
    ));
    let port = free_port();
    let endpoint = format!("http://{}/v1/traces", collector.addr);
    let mut child = serve(
        &["--listen", &format!("127.0.0.1:{port}")],
        &[
            ("KETAMINE_CDS_TELEMETRY__OTLP_ENDPOINT", endpoint),
            ("KETAMINE_CDS_TELEMETRY__SERVICE_NAME", "cds-test".into()),
        ],
    );
    wait_ready(&mut child, port);
    let example = read_json(&repo().join("examples/hooks/01-untreated-patient.json")).to_string();
    assert!(post_hook(port, &example).contains("\"indicator\":\"warning\""));
    // Spans are sent in batches; shutdown flushes the last one.
    assert!(terminate(&mut child).success());
    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "the collector received spans");
    let (kind, body) = &received[0];
    assert_eq!(kind, "application/x-protobuf");
    let text = String::from_utf8_lossy(body);
    assert!(text.contains("hook_call") && text.contains("cds-test") && text.contains("ketamine-order-sign"), "{text}");
    let request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    let patient = request["context"]["patientId"].as_str().unwrap();
    assert!(!text.contains(patient), "no patient id in exported spans");
}

/// A POST of `body` to `path`; returns the raw HTTP answer.
fn post(port: u16, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn report_json(store: &str) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["report", "--store", store, "--format", "json", "--since", "2026-01-01", "--until", "2100-01-01"])
        .env_remove("KETAMINE_CDS_STORE")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}

#[test]
fn everything_acknowledged_before_sigterm_is_in_the_store_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("store.sqlite").display());
    let port = free_port();
    let mut child = serve(&["--listen", &format!("127.0.0.1:{port}"), "--store", &store], &[]);
    wait_ready(&mut child, port);
    let mut example = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    let mut last_card = String::new();
    for i in 0..40 {
        example["hookInstance"] = serde_json::json!(format!("8c1d7f00-0000-4000-8000-{i:012}"));
        let answer = post_hook(port, &example.to_string());
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let body: serde_json::Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
        last_card = body["cards"][0]["uuid"].as_str().unwrap().to_owned();
    }
    let feedback = serde_json::json!({ "feedback": [{
        "card": last_card, "outcome": "overridden",
        "overrideReason": { "reason": { "system": "https://fhir.ketamine-cds.example/CodeSystem/override-reason", "code": "crps" } },
        "outcomeTimestamp": "2100-01-01T00:00:00Z"
    }]});
    let answer = post(port, "/cds-services/ketamine-order-sign/feedback", &feedback.to_string());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // SIGTERM at once: the rows still queued are written before the process ends.
    assert!(terminate(&mut child).success());
    let report = report_json(&store);
    assert_eq!(report["examined_orders"], 40);
    assert_eq!(report["cards"]["step-therapy"], 40);
    assert_eq!(report["feedback"]["overridden"], 1);
    assert_eq!(report["override_reasons"]["crps"], 1);
}

#[test]
fn the_embedded_default_stores_in_sqlite_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("KETAMINE_CDS_STORE")
        .env_remove("KETAMINE_CDS_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&mut child, port);
    let example = read_json(&repo().join("examples/hooks/01-untreated-patient.json")).to_string();
    assert!(post_hook(port, &example).contains("\"indicator\":\"warning\""));
    assert!(terminate(&mut child).success());
    assert!(dir.path().join("ketamine-cds.sqlite").is_file(), "the default store is created on first start");
    assert!(dir.path().join("ketamine-cds.sqlite.key").is_file(), "with its per-install secret beside it");
    let report = report_json(&format!("sqlite:{}", dir.path().join("ketamine-cds.sqlite").display()));
    assert_eq!(report["examined_orders"], 1);
}

#[test]
fn a_host_name_and_port_0_are_served_the_bound_port_is_logged_and_logs_to_a_file_have_no_colour() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("service.log");
    let store = dir.path().join("new.sqlite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["serve", "--listen", "localhost:0", "--store", &format!("sqlite:{}", store.display())])
        .env_remove("KETAMINE_CDS_LISTEN")
        .env_remove("KETAMINE_CDS_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let bound = text.lines().find(|l| l.contains("ketamine-cds ready")).and_then(|l| {
            let address = l.split("listen=").nth(1)?.split_whitespace().next()?;
            address.rsplit_once(':')?.1.parse::<u16>().ok()
        });
        if let Some(port) = bound {
            break port;
        }
        assert!(Instant::now() < deadline, "never ready: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(port, 0, "the port the system chose is logged, not :0");
    wait_ready(&mut child, port);
    assert!(terminate(&mut child).success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\u{1b}'), "no ANSI escape codes in a log file: {text}");
    assert!(text.contains("a new, empty one is created"), "a new store is said loudly: {text}");

    // A mistyped directory is refused rather than becoming a new store elsewhere.
    let output = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", "sqlite:/mistyped/dir/x.db"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the directory /mistyped/dir does not exist"), "{stderr}");
    let output =
        Command::new(env!("CARGO_BIN_EXE_ketamine-cds")).args(["serve", "--listen", "no port"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected HOST:PORT"));
}

#[test]
fn report_refuses_a_store_that_does_not_exist() {
    let output = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["report", "--store", "sqlite:/nonexistent/store.sqlite"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no store at /nonexistent/store.sqlite"));
}

#[test]
fn a_postgresql_store_without_a_patient_key_secret_is_refused_at_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", "postgres://cds:pw@127.0.0.1:1/cds"])
        .env_remove("KETAMINE_CDS_STORE__PATIENT_KEY_SECRET")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("patient_key_secret"), "{stderr}");
    assert!(!stderr.contains(":pw@"), "the password is never printed: {stderr}");
}

/// A memory figure of a process from /proc (`VmHWM`: peak resident, `VmRSS`: resident now),
/// in MiB.
fn memory_mib(child: &Child, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// The heaviest ordinary call the limits let through: 100 ketamine drafts (the draft limit) and
/// 26,000 medication entries, 4.9 MB (just under the body limit).
fn heaviest_call() -> String {
    let mut request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    let draft = request["context"]["draftOrders"]["entry"][0].clone();
    let drafts: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            let mut d = draft.clone();
            d["resource"]["id"] = serde_json::json!(format!("k{i}"));
            d
        })
        .collect();
    request["context"]["draftOrders"]["entry"] = serde_json::json!(drafts);
    let bundle = |kind: &str, n: usize, extra: serde_json::Value| {
        let entries: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let id = format!("{}{i}", &kind[..1]);
                let mut r = serde_json::json!({ "resourceType": kind, "id": id, "subject": { "reference": "Patient/example-patient" } });
                for (k, v) in extra.as_object().unwrap() {
                    r[k] = v.clone();
                }
                serde_json::json!({ "resource": r })
            })
            .collect();
        serde_json::json!({ "resourceType": "Bundle", "type": "searchset", "entry": entries })
    };
    request["prefetch"]["medicationStatements"] = bundle(
        "MedicationStatement",
        20_000,
        serde_json::json!({ "status": "completed", "medicationCodeableConcept": { "text": "duloxetine 30 mg" } }),
    );
    request["prefetch"]["medicationRequests"] = bundle(
        "MedicationRequest",
        6_000,
        serde_json::json!({ "status": "stopped", "intent": "order", "medicationCodeableConcept": { "text": "gabapentin 300 mg" } }),
    );
    let body = request.to_string();
    assert!(body.len() < 5 * 1024 * 1024, "under the body limit: {}", body.len());
    body
}

/// The patient-level findings are made once per call, not once per draft order: the heaviest
/// call the limits admit stays within a bounded time and memory (it took 3.3 s and 1.29 GB of
/// RSS in a release build when every one of its 100 drafts had its own copy).
#[test]
fn the_heaviest_call_the_limits_admit_is_bounded_in_memory_and_time() {
    let port = free_port();
    let mut child = serve(&["--listen", &format!("127.0.0.1:{port}")], &[]);
    wait_ready(&mut child, port);
    let body = heaviest_call();
    let started = Instant::now();
    let answer = post_hook(port, &body);
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", &answer[..answer.len().min(300)]);
    assert!(answer.contains("\"indicator\":\"warning\""));
    let peak = memory_mib(&child, "VmHWM");
    assert!(peak < 250, "peak RSS {peak} MiB");
    assert!(took < Duration::from_secs(8), "took {took:?} (a debug build)");
    assert!(terminate(&mut child).success());
}

/// The request timeout covers the CPU a call takes, not only its waits: the heaviest call with a
/// timeout shorter than its work is answered 408 (before, the timeout never fired while the call
/// computed, and it was answered 200 whenever it finished).
#[test]
fn the_request_timeout_covers_the_cpu_of_a_call() {
    let port = free_port();
    let mut child = serve(&["--listen", &format!("127.0.0.1:{port}"), "--request-timeout-ms", "150"], &[]);
    wait_ready(&mut child, port);
    let answer = post_hook(port, &heaviest_call());
    assert!(answer.starts_with("HTTP/1.1 408"), "{}", &answer[..answer.len().min(300)]);
    assert!(answer.contains("longer than the service allows"));
    let example = read_json(&repo().join("examples/hooks/01-untreated-patient.json")).to_string();
    assert!(post_hook(port, &example).starts_with("HTTP/1.1 200"), "an ordinary call fits in the time");
    assert!(terminate(&mut child).success());
}

/// A short soak: ordinary calls, feedback, hostile bodies and connections trickling headers at
/// once for a few seconds. Every ordinary call answers 200 with its card and quickly, nothing
/// answers 5xx, memory comes back down, and SIGTERM ends the process within the drain bound.
#[test]
fn a_short_soak_under_attack_keeps_answering_with_bounded_memory_and_ends_on_sigterm() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let port = free_port();
    let mut child = serve(
        &["--listen", &format!("127.0.0.1:{port}"), "--header-read-timeout-ms", "1000", "--drain-timeout-ms", "3000"],
        &[],
    );
    wait_ready(&mut child, port);
    let example = read_json(&repo().join("examples/hooks/01-untreated-patient.json")).to_string();
    for _ in 0..20 {
        assert!(post_hook(port, &example).contains("\"indicator\":\"warning\""));
    }
    let warm = memory_mib(&child, "VmRSS");
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, slowest_ms, server_errors) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (stop, answered, slowest_ms, example) =
            (stop.clone(), answered.clone(), slowest_ms.clone(), example.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let answer = post_hook(port, &example);
                assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("\"indicator\":\"warning\""), "{answer}");
                slowest_ms.fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    {
        // Hostile bodies: a million empty drafts, malformed JSON, deep nesting, a huge feedback.
        let (stop, server_errors) = (stop.clone(), server_errors.clone());
        threads.push(std::thread::spawn(move || {
            let drafts = format!(
                "{{\"hook\":\"order-sign\",\"hookInstance\":\"x\",\"context\":{{\"draftOrders\":[{}]}}}}",
                vec!["{}"; 1_000_000].join(",")
            );
            let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
            let feedback = format!(
                "{{\"feedback\":[{}]}}",
                vec![
                    "{\"card\":\"c\",\"outcome\":\"overridden\",\"outcomeTimestamp\":\"2026-12-02T00:00:00Z\"}";
                    20_000
                ]
                .join(",")
            );
            let bodies = [
                ("/cds-services/ketamine-order-sign", drafts),
                ("/cds-services/ketamine-order-sign", "{\"hook\":".to_owned()),
                ("/cds-services/ketamine-order-sign", deep),
                ("/cds-services/ketamine-order-sign/feedback", feedback),
            ];
            while !stop.load(Ordering::Relaxed) {
                for (path, body) in &bodies {
                    let answer = post(port, path, body);
                    if answer.starts_with("HTTP/1.1 5") || answer.is_empty() {
                        server_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    {
        // Slowloris: connections that send half their headers and wait.
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut open = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                    let _ = s.write_all(b"POST /cds-services/ketamine-order-sign HTTP/1.1\r\nHost: x\r\n");
                    open.push(s);
                }
                if open.len() > 50 {
                    open.remove(0);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(6));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("no thread saw a wrong answer");
    }
    assert_eq!(server_errors.load(Ordering::Relaxed), 0, "no 5xx, no dropped connection");
    assert!(answered.load(Ordering::Relaxed) >= 20, "ordinary calls went on: {}", answered.load(Ordering::Relaxed));
    let slowest = slowest_ms.load(Ordering::Relaxed);
    assert!(slowest < 2_000, "the slowest ordinary call took {slowest} ms");
    let peak = memory_mib(&child, "VmHWM");
    assert!(peak < 300, "peak RSS {peak} MiB");
    std::thread::sleep(Duration::from_millis(500));
    let after = memory_mib(&child, "VmRSS");
    assert!(after < warm + 64, "memory came back down: {warm} MiB warm, {after} MiB after");
    let started = Instant::now();
    assert!(terminate(&mut child).success());
    assert!(started.elapsed() < Duration::from_secs(4), "shutdown took {:?}", started.elapsed());
}

/// Two `ketamine-cds serve` processes on one PostgreSQL store, as replicas behind a load
/// balancer: a card issued by one and overridden through the other joins into one report, the
/// snooze it starts holds on both, and an order-select override on one keeps order-sign on the
/// other from repeating the card.
#[test]
fn two_replica_processes_on_one_postgresql_share_cards_feedback_snoozes_and_repeats() {
    let pg = postgres::Postgres::start();
    let url = pg.database("processes");
    let env = || {
        vec![
            ("KETAMINE_CDS_STORE", url.clone()),
            ("KETAMINE_CDS_STORE__PATIENT_KEY_SECRET", "the-same-secret-on-every-replica".to_owned()),
            ("KETAMINE_CDS_STORE__MEMORY_REFRESH_MS", "200".to_owned()),
        ]
    };
    let (pa, pb) = (free_port(), free_port());
    let mut a = serve(&["--listen", &format!("127.0.0.1:{pa}")], &env());
    let mut b = serve(&["--listen", &format!("127.0.0.1:{pb}")], &env());
    wait_ready(&mut a, pa);
    wait_ready(&mut b, pb);
    let call = |port: u16, hook: &str, encounter: &str, n: u32| -> serde_json::Value {
        let mut r = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
        r["hookInstance"] = serde_json::json!(format!("3a7e1c00-0000-4000-8000-{n:012}"));
        r["hook"] = serde_json::json!(hook);
        r["context"]["encounterId"] = serde_json::json!(encounter);
        if hook == "order-select" {
            r["context"]["selections"] = serde_json::json!(["MedicationRequest/ketamine-draft"]);
        }
        let service = if hook == "order-select" { "ketamine-order-select" } else { "ketamine-order-sign" };
        let answer = post(port, &format!("/cds-services/{service}"), &r.to_string());
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap()
    };
    let overridden = |port: u16, service: &str, card: &serde_json::Value, code: &str| {
        let body = serde_json::json!({ "feedback": [{
            "card": card["uuid"], "outcome": "overridden",
            "overrideReason": { "reason": { "system": "https://fhir.ketamine-cds.example/CodeSystem/override-reason", "code": code } },
            "outcomeTimestamp": "2100-01-01T00:00:00Z"
        }]});
        let answer = post(port, &format!("/cds-services/{service}/feedback"), &body.to_string());
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    };
    let until_empty = |port: u16, hook: &str, encounter: &str, from: u32| {
        let deadline = Instant::now() + Duration::from_secs(10);
        for n in from.. {
            if call(port, hook, encounter, n)["cards"] == serde_json::json!([]) {
                return;
            }
            assert!(Instant::now() < deadline, "the other replica never held the card back");
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    // Order-select on A, overridden ("does not apply": no snooze) through B; order-sign on B in
    // the same encounter does not repeat it, in another encounter it does.
    let select = call(pa, "order-select", "encounter-1", 1);
    overridden(pb, "ketamine-order-select", &select["cards"][0], "not-applicable");
    until_empty(pb, "order-sign", "encounter-1", 100);
    assert_eq!(call(pb, "order-sign", "encounter-2", 2)["cards"][0]["indicator"], "warning");

    // A sign card from A snoozed through B holds on A too.
    let sign = call(pa, "order-sign", "encounter-3", 3);
    overridden(pb, "ketamine-order-sign", &sign["cards"][0], "pain-specialist-plan");
    until_empty(pa, "order-sign", "encounter-4", 200);
    assert!(terminate(&mut a).success() && terminate(&mut b).success());

    // One report of both.
    let report = report_json(&url);
    assert_eq!(report["feedback"]["overridden"], 2);
    assert_eq!(report["feedback"]["unmatched"], 0);
    assert!(report["suppressed"].as_i64() >= Some(2), "{report:#}");
    assert_eq!(report["override_reasons"], serde_json::json!({ "not-applicable": 1, "pain-specialist-plan": 1 }));
}

#[test]
fn a_corrupt_store_is_said_once_not_every_second_and_hook_calls_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.sqlite");
    // Not a database: bytes no SQLite file starts with.
    let noise: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&store, noise).unwrap();
    let log = dir.path().join("service.log");
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"));
    command.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--store",
        &format!("sqlite:{}", store.display()),
    ]);
    let text = ride_out_a_broken_store(command, port, &log);
    assert!(text.contains("store: failing"), "{text}");
}

/// The store on a read-only file system (the service runs in its own mount namespace, where
/// the store's directory is bound read-only; `unshare` needs no privilege beyond user
/// namespaces): hook calls go on, feedback is refused, the log says why once, and what was
/// acknowledged before is still there.
#[test]
fn a_store_on_a_read_only_file_system_refuses_feedback_and_keeps_what_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("store.sqlite").display());
    // First, writable: one override acknowledged.
    let port = free_port();
    let mut child = serve(&["--listen", &format!("127.0.0.1:{port}"), "--store", &store], &[]);
    wait_ready(&mut child, port);
    let answer = post_hook(port, &read_json(&repo().join("examples/hooks/01-untreated-patient.json")).to_string());
    let body: serde_json::Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
    let card = body["cards"][0]["uuid"].as_str().unwrap().to_owned();
    let kept = post(port, "/cds-services/ketamine-order-sign/feedback", &overridden_body(&card));
    assert!(kept.starts_with("HTTP/1.1 200"), "{kept}");
    assert!(terminate(&mut child).success());

    // Then read-only.
    let log = dir.path().join("service.log");
    let port = free_port();
    let d = dir.path().display();
    let mut command = Command::new("unshare");
    command.args([
        "--user",
        "--map-root-user",
        "--mount",
        "bash",
        "-c",
        &format!(
            "mount --bind '{d}' '{d}' && mount -o remount,bind,ro '{d}' && exec '{}' serve --listen 127.0.0.1:{port} --store '{store}'",
            env!("CARGO_BIN_EXE_ketamine-cds")
        ),
    ]);
    let text = ride_out_a_broken_store(command, port, &log);
    assert!(text.contains("unable to open database file"), "the cause is said: {text}");
    let report = report_json(&store);
    assert_eq!(report["feedback"]["overridden"], 1, "only the acknowledged item: {report:#}");
    assert_eq!(report["examined_orders"], 1, "{report:#}");
}

fn overridden_body(card: &str) -> String {
    serde_json::json!({ "feedback": [{ "card": card, "outcome": "overridden",
        "overrideReason": { "reason": { "system": "https://fhir.ketamine-cds.example/CodeSystem/override-reason", "code": "crps" } },
        "outcomeTimestamp": "2026-12-02T10:00:00Z" }] })
    .to_string()
}

/// Runs `command` (a `serve` on a store that cannot be used) logging to `log`, and checks what
/// a broken store must never change: hook calls answer their cards, feedback is a quick 503
/// `transient`, `/ready` stays 200 and says the store is degraded, `/metrics` has the gauge,
/// and the log says the fault once (nothing of sqlx). Returns the log.
fn ride_out_a_broken_store(mut command: Command, port: u16, log: &std::path::Path) -> String {
    let mut child = command
        .env_remove("KETAMINE_CDS_LISTEN")
        .env_remove("RUST_LOG")
        .env("KETAMINE_CDS_STORE__MEMORY_REFRESH_MS", "200")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    wait_ready(&mut child, port);
    let example = read_json(&repo().join("examples/hooks/01-untreated-patient.json")).to_string();
    let feedback = overridden_body("c1");
    // The fault is found by the first store operations (each waits for the pool's timeout).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !get(port, "/ready").is_some_and(|(_, body)| body.contains("\"degraded\"")) {
        assert!(Instant::now() < deadline, "the store never said degraded");
        std::thread::sleep(Duration::from_millis(100));
    }
    let until = Instant::now() + Duration::from_secs(3);
    let mut calls = 0;
    while Instant::now() < until {
        let answer = post_hook(port, &example);
        assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("\"indicator\":\"warning\""), "{answer}");
        calls += 1;
        let started = Instant::now();
        let kept = post(port, "/cds-services/ketamine-order-sign/feedback", &feedback);
        assert!(kept.starts_with("HTTP/1.1 503") && kept.contains("transient"), "feedback it cannot keep: {kept}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a failing store is not waited for: {:?}",
            started.elapsed()
        );
    }
    assert!(calls > 3, "{calls} rounds in 3 s");
    let (status, ready) = get(port, "/ready").unwrap();
    assert_eq!(status, 200, "hook calls work without the store");
    assert!(ready.contains("\"degraded\"") && ready.contains("failing_since"), "{ready}");
    let (_, metrics) = get(port, "/metrics").unwrap();
    assert!(metrics.contains("ketamine_cds_store_failing 1"), "{metrics}");
    assert!(terminate(&mut child).success());
    let text = std::fs::read_to_string(log).unwrap();
    let store_lines = text.lines().filter(|l| l.contains("store")).count();
    assert!(text.contains("store: failing"), "{text}");
    assert!(store_lines <= 4, "the fault is said once, not every second ({store_lines} lines):\n{text}");
    assert!(!text.contains("sqlx"), "{text}");
    text
}

/// The store on a full disk (the service's files limited to 600 KB by `ulimit -f`, with
/// SIGXFSZ ignored, so a write past it fails with EFBIG as on a full file system): every
/// feedback answered 200 is in the store afterwards; the others were answered 503.
#[test]
fn on_a_full_disk_every_acknowledged_feedback_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.sqlite");
    let port = free_port();
    let script = format!(
        "ulimit -f 600; trap '' XFSZ; exec '{}' serve --listen 127.0.0.1:{port} --store 'sqlite:{}'",
        env!("CARGO_BIN_EXE_ketamine-cds"),
        store.display()
    );
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .env_remove("KETAMINE_CDS_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&mut child, port);
    let mut request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    let (mut acknowledged, mut refused) = (0, 0);
    for i in 0..1500u32 {
        request["hookInstance"] = serde_json::json!(format!("9a1b2c3d-0000-4000-8000-{i:012}"));
        let answer = post_hook(port, &request.to_string());
        assert!(answer.starts_with("HTTP/1.1 200"), "hook calls never fail: {answer}");
        if i % 50 == 0 {
            let body: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
            let card = body["cards"][0]["uuid"].as_str().unwrap();
            let item = serde_json::json!({ "feedback": [{ "card": card, "outcome": "overridden",
                "overrideReason": { "reason": { "system": "https://fhir.ketamine-cds.example/CodeSystem/override-reason", "code": "not-applicable" } },
                "outcomeTimestamp": "2026-12-02T10:00:00Z" }] });
            let kept = post(port, "/cds-services/ketamine-order-sign/feedback", &item.to_string());
            if kept.starts_with("HTTP/1.1 200") {
                acknowledged += 1;
            } else {
                assert!(kept.starts_with("HTTP/1.1 503"), "{kept}");
                refused += 1;
            }
        }
    }
    assert!(terminate(&mut child).success());
    assert!(refused > 0, "the disk did fill ({acknowledged} acknowledged)");
    let report = report_json(&format!("sqlite:{}", store.display()));
    let kept = report["feedback"]["overridden"].as_i64().unwrap() + report["feedback"]["unmatched"].as_i64().unwrap();
    assert_eq!(kept, acknowledged, "every acknowledged item, and only those, is in the store: {report:#}");
}
