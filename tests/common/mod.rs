//! Shared test helpers: the embedded knowledge, a fixed "now", one-call evaluation, a real
//! server on a loopback port, and the response checks every answer must pass.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ketamine_cds::call::{self, services};
use ketamine_cds::config::{FileConfig, ServeConfig};
use ketamine_cds::hooks::{HookError, HookRequest};
use ketamine_cds::knowledge::Knowledge;
use ketamine_cds::startup;
use serde_json::Value;

pub mod bulk;
pub mod fhir_versions;
pub mod postgres;

/// A loopback port nothing listens on (now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

pub fn knowledge() -> &'static Knowledge {
    static K: OnceLock<Knowledge> = OnceLock::new();
    K.get_or_init(|| Knowledge::embedded().expect("embedded profiles load"))
}

/// The "now" of every test and example: 2026-11-21.
pub fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-21 12:00 UTC)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test data the repository carries (`tests/data/`, sources in its SOURCES.md): public
/// conformance requests, synthetic patients, the product table, the checked codes.
pub fn data() -> PathBuf {
    repo().join("tests/data")
}

/// Every `.json` file under `dir`, recursively, sorted (none when `dir` cannot be read: callers
/// assert how many they expect).
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(items) = std::fs::read_dir(&dir) else { continue };
        for path in items.flatten().map(|item| item.path()) {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The service id that answers a hook.
pub fn service_for(hook: &str) -> &'static str {
    match hook {
        "order-select" => "ketamine-order-select",
        "patient-view" => "ketamine-patient-view",
        _ => "ketamine-order-sign",
    }
}

/// Evaluates a request body with the library, as the server would (fixed now).
pub fn evaluate(request: &Value) -> Result<Value, HookError> {
    let hook = request["hook"].as_str().unwrap_or_default();
    let service = services::service(service_for(hook)).expect("service exists");
    let request = HookRequest::from_value(request.clone())?;
    let evaluation = call::answer_offline(service, request, knowledge(), now())?;
    Ok(serde_json::to_value(evaluation.response).expect("response serialises"))
}

/// Asserts the CDS Hooks response schema, including the null/empty rule.
pub fn assert_valid_response(response: &Value) {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = V.get_or_init(|| {
        let schema = read_json(&repo().join("src/hooks/response.schema.json"));
        jsonschema::validator_for(&schema).expect("response schema compiles")
    });
    let errors: Vec<String> = validator.iter_errors(response).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "response breaks the schema: {errors:#?}\n{response:#}");
    assert_no_null_or_empty(response, "");
}

/// No `null`, `""`, `[]` or `{}` anywhere except `cards: []`.
pub fn assert_no_null_or_empty(value: &Value, path: &str) {
    match value {
        Value::Null => panic!("null at {path}"),
        Value::String(s) => assert!(!s.is_empty(), "empty string at {path}"),
        Value::Array(items) => {
            assert!(!items.is_empty() || path == "/cards", "empty array at {path}");
            for (i, item) in items.iter().enumerate() {
                assert_no_null_or_empty(item, &format!("{path}/{i}"));
            }
        }
        Value::Object(map) => {
            assert!(!map.is_empty(), "empty object at {path}");
            for (k, v) in map {
                assert_no_null_or_empty(v, &format!("{path}/{k}"));
            }
        }
        _ => {}
    }
}

/// A server in its own thread and runtime on a free loopback port; stopped when dropped.
pub struct AppServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Tells the test thread the server is ready to be called.
pub struct Ready(std::sync::mpsc::Sender<SocketAddr>, SocketAddr);

impl Ready {
    pub fn signal(self) {
        self.0.send(self.1).expect("report address");
    }
}

impl AppServer {
    /// Runs `serve(listener, stop, ready)` on a fresh runtime; `serve` signals `ready` once
    /// calls may come, and returns once `stop` fires.
    fn spawn<F, Fut>(serve: F) -> Self
    where
        F: FnOnce(tokio::net::TcpListener, tokio::sync::oneshot::Receiver<()>, Ready) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
                let ready = Ready(ready_tx, listener.local_addr().expect("local addr"));
                serve(listener, stop_rx, ready).await;
            });
        });
        let addr = ready_rx.recv().expect("server started");
        Self { addr, stop: Some(stop_tx), thread: Some(thread) }
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Any axum app (a JWKS endpoint, a FHIR test server) on a loopback port.
pub fn serve_app(app: axum::Router) -> AppServer {
    AppServer::spawn(move |listener, stop, ready| async move {
        ready.signal();
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await;
    })
}

/// The real ketamine-cds server on a free loopback port; stopped when dropped.
pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    _running: AppServer,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Starts with the default config adjusted by `tune`.
    pub fn start_with(tune: impl FnOnce(&mut ServeConfig)) -> Self {
        Self::start_full(tune, FileConfig::default())
    }

    /// Starts with adjusted flags and a file configuration (authentication, fallback).
    pub fn start_full(tune: impl FnOnce(&mut ServeConfig), file: FileConfig) -> Self {
        let mut config = ServeConfig {
            listen: "127.0.0.1:0".into(),
            profiles: None,
            config: None,
            max_body_bytes: 5 * 1024 * 1024,
            request_timeout_ms: 10_000,
            max_inflight_body_bytes: 10 * 1024 * 1024,
            max_draft_orders: 100,
            max_bundle_entries: 20_000,
            header_read_timeout_ms: 10_000,
            max_connections: 1024,
            store: Some("none".into()),
            drain_timeout_ms: 10_000,
        };
        tune(&mut config);
        let knowledge = startup::load_knowledge(&config).expect("knowledge loads");
        let running = AppServer::spawn(move |listener, stop, ready| async move {
            // Start-up (JWKS reads included) completes before the first call, as in `serve`.
            let state = startup::state(knowledge, &config, &file).await.expect("state builds");
            let after = state.clone();
            ready.signal();
            let _ = startup::serve_on(listener, state, async {
                let _ = stop.await;
            })
            .await;
            startup::close(&after, std::time::Duration::from_secs(5)).await;
        });
        Self { base: format!("http://{}", running.addr), addr: running.addr, _running: running }
    }
}

/// A replica on the shared PostgreSQL store at `url` (the same patient-key secret as every other
/// replica), its file configuration adjusted by `tune`.
pub fn replica(url: &str, tune: impl FnOnce(&mut FileConfig)) -> TestServer {
    let mut file = FileConfig::default();
    file.store.patient_key_secret = Some("the-same-secret-on-every-replica".into());
    tune(&mut file);
    let url = url.to_owned();
    TestServer::start_full(move |c| c.store = Some(url), file)
}

/// Authentication required, with the public CDS Hooks sandbox's keys pinned from a file.
pub fn sandbox_auth(file: &mut FileConfig) {
    file.auth.mode = Some(ketamine_cds::config::AuthMode::Required);
    file.public_base_url = Some("https://cds.example.org".into());
    file.auth.issuers = vec![ketamine_cds::config::IssuerConfig {
        iss: "https://sandbox.cds-hooks.org".into(),
        jwks_url: None,
        jwks_file: Some(data().join("cds-hooks/sandbox-jwks.json")),
        jku: None,
        tenants: Vec::new(),
        client: None,
        rollout: None,
    }];
}

/// A GET's body as JSON.
pub async fn get_json(url: &str) -> Value {
    client().get(url).send().await.expect("server answers").json().await.expect("a JSON body")
}

/// A shipped example hook request, by name (`01-untreated-patient`, `.json` optional).
pub fn example(name: &str) -> Value {
    read_json(&repo().join("examples/hooks").join(format!("{}.json", name.trim_end_matches(".json"))))
}

/// POSTs a hook request to the service of its hook.
pub async fn post_hook(base: &str, request: &Value) -> reqwest::Response {
    let hook = request["hook"].as_str().expect("a hook");
    client().post(format!("{base}/cds-services/{}", service_for(hook))).json(request).send().await.expect("answered")
}

/// A hook call's answer (it must be a 200).
pub async fn call(base: &str, request: &Value) -> Value {
    let response = post_hook(base, request).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JSON answer")
}

/// The kinds of an answer's cards, in order.
pub fn kinds(response: &Value) -> Vec<String> {
    let cards = response["cards"].as_array().expect("cards");
    cards.iter().map(|c| c["extension"]["ketamine-cds-card"]["kind"].as_str().unwrap_or_default().to_owned()).collect()
}

/// The answer's card of a kind (`step-therapy`, `contraindication`, `info`).
pub fn card_of_kind<'a>(response: &'a Value, kind: &str) -> &'a Value {
    let cards = response["cards"].as_array().expect("cards");
    cards
        .iter()
        .find(|c| c["extension"]["ketamine-cds-card"]["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} card in {response:#}"))
}

/// The uuid of the answer's card of a kind.
pub fn card_uuid(response: &Value, kind: &str) -> String {
    card_of_kind(response, kind)["uuid"].as_str().expect("a uuid").to_owned()
}

/// An RFC 3339 time `minutes` from now (outcomes follow their cards).
pub fn in_minutes(minutes: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::minutes(minutes);
    at.format(&time::format_description::well_known::Rfc3339).expect("formats")
}

/// A feedback item overriding `card` with one of the service's own reasons.
pub fn overridden(card: &str, code: &str) -> Value {
    serde_json::json!({
        "card": card,
        "outcome": "overridden",
        "overrideReason": {
            "reason": { "system": "https://fhir.ketamine-cds.example/CodeSystem/override-reason", "code": code },
            "userComment": "the patient told me about her earlier trials"
        },
        "outcomeTimestamp": in_minutes(2)
    })
}

/// POSTs feedback items to a service; the status.
pub async fn send_feedback(base: &str, service: &str, items: Value) -> u16 {
    let body = serde_json::json!({ "feedback": items });
    let response =
        client().post(format!("{base}/cds-services/{service}/feedback")).json(&body).send().await.expect("answered");
    response.status().as_u16()
}

/// Overrides a card (the feedback must be kept).
pub async fn override_card(base: &str, service: &str, card: &str, code: &str) {
    assert_eq!(send_feedback(base, service, serde_json::json!([overridden(card, code)])).await, 200);
}

/// A server with a SQLite store in `dir`.
pub fn sqlite_server(dir: &tempfile::TempDir, file: FileConfig) -> TestServer {
    let path = dir.path().join("store.sqlite");
    TestServer::start_full(move |c| c.store = Some(format!("sqlite:{}", path.display())), file)
}

/// The analytics report (JSON, every day) once `ready` holds of it (the hook path writes
/// through a queue), within 20 s.
pub async fn report_when(base: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let response =
            client().get(format!("{base}/analytics?format=json&since=2026-01-01&until=2100-01-01")).send().await;
        let response = response.expect("answered");
        assert_eq!(response.status(), 200);
        let report: Value = response.json().await.expect("JSON");
        if ready(&report) {
            return report;
        }
        assert!(std::time::Instant::now() < deadline, "the report never got there: {report:#}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A GET's body as text.
pub async fn get_text(url: &str) -> String {
    client().get(url).send().await.expect("server answers").text().await.expect("a text body")
}

/// A blocking-free HTTP client for tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().expect("client")
}

/// The CORS preflight a browser (the CDS Hooks sandbox) sends before a signed POST to `url`.
pub async fn preflight(url: &str) -> reqwest::Response {
    client()
        .request(reqwest::Method::OPTIONS, url)
        .header("origin", "https://sandbox.cds-hooks.org")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .expect("server answers")
}

/// Runs the independent FHIR validator (`tests/validate-fhir.py`: PyPI's fhir.resources, R4B
/// models) on `paths`; panics with its findings. The interpreter is
/// `KETAMINE_CDS_FHIR_PYTHON` (`.ci/test` sets it up) or `python3`.
pub fn validate_fhir(paths: &[&Path]) {
    let python = std::env::var("KETAMINE_CDS_FHIR_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = std::process::Command::new(&python)
        .arg(repo().join("tests/validate-fhir.py"))
        .args(paths)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (the README's test command, .ci/test, sets up the validator)"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(
        !text.contains("No module named"),
        "the FHIR validator needs PyPI's fhir.resources (.ci/test installs it): {text}"
    );
    assert!(output.status.success(), "FHIR validation failed:\n{text}");
}
