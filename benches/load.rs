//! Load test: the service against the "floor" — the cheapest server for the same request, an
//! axum handler that parses the body into `serde_json::Value` and answers `{"cards":[]}` — with
//! the same load generator (`wrk`) and request files, in the same run, so that the ratio means
//! something on a noisy machine.
//!
//!   cargo bench --bench load                  # 10 s per measurement
//!   cargo bench --bench load -- --seconds 3   # quicker, noisier
//!   cargo bench --bench load -- --write DIR   # only write the request files and wrk script
//!   cargo bench --bench load -- --store-only  # only the store on against off
//!
//! Needs `wrk` (Debian package). Prints one Markdown table: requests/s and p50/p99 latency at 1
//! and 16 connections for a 200-resource (~200 KiB) and a 5,000-resource (~5 MiB) order-sign
//! call, each with its ratio to the floor, then peak RSS and process start → `/ready` 200; then
//! the store on (SQLite) against off (`--store none`) at 16 connections on the 200-resource call,
//! every request with its own hookInstance so that each one writes new rows.
//!
//! The floor runs as a second process of this same binary (`--floor PORT`), on the same Tokio
//! runtime as the service, so neither is measured inside the other. Not part of `cargo test`;
//! CI only checks that it compiles.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

const SERVICE_PATH: &str = "/cds-services/ketamine-order-sign";
/// The requests measured: history resources in the prefetch, and how their narratives end (the
/// 200-resource record also with an em dash, plain and `\u`-escaped: an escape in text that no
/// rule reads must cost nothing).
const RECORDS: [(usize, Dash); 4] = [(200, Dash::None), (200, Dash::Plain), (200, Dash::Escaped), (5_000, Dash::None)];

#[derive(Clone, Copy, PartialEq)]
enum Dash {
    None,
    Plain,
    Escaped,
}

impl Dash {
    fn label(self) -> &'static str {
        match self {
            Dash::None => "",
            Dash::Plain => ", narratives with —",
            Dash::Escaped => ", narratives with \\u2014",
        }
    }
}
const CONNECTIONS: [usize; 2] = [1, 16];

const WRK_SCRIPT: &str = r#"
local f = assert(io.open(os.getenv("LOAD_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
"#;

/// How every wrk script reports: one line of figures.
const WRK_DONE: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"#;

/// As [`WRK_SCRIPT`], each request with its own hookInstance (a counter where the body says
/// `HOOKINSTANCE`: the run's start second and a counter, so no two runs share one).
const WRK_UNIQUE_SCRIPT: &str = r#"
local f = assert(io.open(os.getenv("LOAD_BODY"), "rb"))
local body = f:read("*a")
f:close()
local at = assert(string.find(body, "HOOKINSTANCE", 1, true))
local head, tail = string.sub(body, 1, at - 1), string.sub(body, at + 12)
local start, n = os.time(), 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, head .. start .. "-" .. n .. tail)
end
"#;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(port) = flag(&args, "--floor") {
        return floor(port.parse().expect("--floor PORT"));
    }
    let seconds: u64 = flag(&args, "--seconds").map_or(10, |s| s.parse().expect("--seconds N"));
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed (apt-get install wrk)");
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = flag(&args, "--write").map_or_else(|| dir.path().to_owned(), PathBuf::from);
    let script = out.join("post.lua");
    std::fs::write(&script, format!("{WRK_SCRIPT}{WRK_DONE}")).expect("write wrk script");
    let bodies: Vec<(String, PathBuf, usize)> = RECORDS
        .iter()
        .enumerate()
        .map(|(i, &(n, dash))| {
            let plain = support::order_sign_request(n);
            let body = match dash {
                Dash::None => plain,
                Dash::Plain | Dash::Escaped => support::with_narrative_dash(&plain, dash == Dash::Escaped),
            };
            let path = out.join(format!("order-sign-{i}-{n}.json"));
            std::fs::write(&path, &body).expect("write request file");
            (format!("{n} resources{}", dash.label()), path, body.len())
        })
        .collect();
    if flag(&args, "--write").is_some() {
        return println!("request files and wrk script written to {}", out.display());
    }

    let service_bin = env!("CARGO_BIN_EXE_ketamine-cds");
    if args.iter().any(|a| a == "--store-only") {
        return store_on_and_off(service_bin, &out, seconds);
    }
    let startup =
        (0..5).map(|_| Server::start_service(service_bin, &["--store", "none"]).started).min().expect("five starts");
    let service = Server::start_service(service_bin, &["--store", "none"]);
    let floor = Server::start_floor();
    for (n, path, _) in &bodies {
        let body = std::fs::read(path).expect("read request file");
        let answer = post(service.addr, SERVICE_PATH, &body);
        assert!(answer.contains("\"indicator\":\"warning\""), "service must answer a warning card for {n}");
        assert!(post(floor.addr, SERVICE_PATH, &body).contains("{\"cards\":[]}"), "floor answers no cards");
    }

    println!(
        "\nLoad: wrk, 1 thread, {seconds} s per row, keep-alive; service = `ketamine-cds serve` (release), floor = parse to serde_json::Value, answer {{\"cards\":[]}}\n"
    );
    println!(
        "| record | body | conns | floor req/s | service req/s | ratio | floor p50 | service p50 | ratio | floor p99 | service p99 | service peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (n, path, len) in &bodies {
        for conns in CONNECTIONS {
            let f = wrk(&script, path, floor.addr, conns, seconds);
            let s = wrk(&script, path, service.addr, conns, seconds);
            println!(
                "| {n} | {} | {conns} | {:.0} | {:.0} | {:.2}× | {} | {} | {:.2}× | {} | {} | {} |",
                kib(*len),
                f.rate(),
                s.rate(),
                s.rate() / f.rate(),
                ms(f.p50_us),
                ms(s.p50_us),
                s.p50_us as f64 / f.p50_us.max(1) as f64,
                ms(f.p99_us),
                ms(s.p99_us),
                mib(service.peak_rss_kib()),
            );
        }
    }
    println!(
        "\nPeak RSS (VmHWM) over the whole run: service {}, floor {}. Process start → /ready 200: {:.1} ms (best of 5).",
        mib(service.peak_rss_kib()),
        mib(floor.peak_rss_kib()),
        startup.as_secs_f64() * 1e3
    );
    drop((service, floor));
    store_on_and_off(service_bin, &out, seconds);
}

/// Rounds of the store comparison (each an off run then an on run).
const ROUNDS: usize = 3;

/// The store on against off: the same service and request, each call a new hookInstance (so a
/// new card and call row to write), runs interleaved off, on, off, on.
fn store_on_and_off(service_bin: &str, out: &Path, seconds: u64) {
    let script = out.join("post-unique.lua");
    std::fs::write(&script, format!("{WRK_UNIQUE_SCRIPT}{WRK_DONE}")).expect("write wrk script");
    let body = String::from_utf8(support::order_sign_request(200)).expect("a JSON request is UTF-8");
    let body = body.replace("7b1a4f4e-bench", "7b1a4f4e-HOOKINSTANCE");
    let path = out.join("order-sign-unique.json");
    std::fs::write(&path, &body).expect("write request file");
    let store_dir = tempfile::tempdir().expect("temporary directory");
    let store = format!("sqlite:{}", store_dir.path().join("bench.sqlite").display());
    let off = Server::start_service(service_bin, &["--store", "none"]);
    let on = Server::start_service(service_bin, &["--store", &store]);
    let conns = 16;
    let mut runs: Vec<(&str, Run)> = Vec::new();
    for _ in 0..ROUNDS {
        runs.push(("off", wrk(&script, &path, off.addr, conns, seconds)));
        runs.push(("on", wrk(&script, &path, on.addr, conns, seconds)));
    }
    let total = |which: &str| -> (f64, u64) {
        let mine: Vec<&Run> = runs.iter().filter(|(w, _)| *w == which).map(|(_, r)| r).collect();
        let rate = mine.iter().map(|r| r.rate()).sum::<f64>() / mine.len() as f64;
        let p50 = mine.iter().map(|r| r.p50_us).sum::<u64>() / mine.len() as u64;
        (rate, p50)
    };
    let ((off_rate, off_p50), (on_rate, on_p50)) = (total("off"), total("on"));
    let written = metric(on.addr, "ketamine_cds_store_written_rows_total");
    let dropped = metric(on.addr, "ketamine_cds_store_dropped_rows_total");
    println!("
Store on (SQLite) vs off, {conns} connections, 200 resources, a new hookInstance per call, {ROUNDS} × {seconds} s each, interleaved:
");
    println!("| store | req/s | p50 | ratio req/s | rows written | rows dropped | peak RSS |");
    println!("|---|---|---|---|---|---|---|");
    println!("| off | {off_rate:.0} | {} | 1.00× | – | – | {} |", ms(off_p50), mib(off.peak_rss_kib()));
    println!(
        "| on (SQLite) | {on_rate:.0} | {} | {:.2}× | {written} | {dropped} | {} |",
        ms(on_p50),
        on_rate / off_rate,
        mib(on.peak_rss_kib())
    );
}

/// A counter's value from `/metrics`.
fn metric(addr: SocketAddr, name: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else { return "?".into() };
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    if stream.write_all(request.as_bytes()).is_err() || stream.read_to_string(&mut answer).is_err() {
        return "?".into();
    }
    answer
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// One wrk run's figures.
struct Run {
    requests: u64,
    duration_us: u64,
    p50_us: u64,
    p99_us: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6)
    }
}

fn wrk(script: &Path, body: &Path, addr: SocketAddr, conns: usize, seconds: u64) -> Run {
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{conns}"), &format!("-d{seconds}s"), "--timeout", "30s", "-s"])
        .arg(script)
        .arg(format!("http://{addr}{SERVICE_PATH}"))
        .env("LOAD_BODY", body)
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("RESULT ")).unwrap_or_else(|| panic!("wrk said:\n{text}"));
    let f: Vec<u64> = line.split_whitespace().map(|x| x.parse().expect("wrk figure")).collect();
    assert_eq!((f[4], f[5]), (0, 0), "wrk saw non-2xx answers or socket errors against {addr}");
    Run { requests: f[0], duration_us: f[1], p50_us: f[2], p99_us: f[3] }
}

/// A server process under test; killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Process start → `/ready` 200.
    started: Duration,
}

impl Server {
    fn start_service(bin: &str, extra: &[&str]) -> Self {
        let addr = free_port();
        let mut command = Command::new(bin);
        command.args(["serve", "--listen", &addr.to_string()]).args(extra).env("RUST_LOG", "warn");
        Self::start(command, addr, "/ready")
    }

    fn start_floor() -> Self {
        let addr = free_port();
        let mut command = Command::new(std::env::current_exe().expect("own path"));
        command.args(["--floor", &addr.port().to_string()]);
        Self::start(command, addr, "/")
    }

    fn start(mut command: Command, addr: SocketAddr, ready_path: &str) -> Self {
        let begun = Instant::now();
        let child = command.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("start server");
        // Built first, so that the process is killed and reaped however this ends.
        let mut server = Self { child, addr, started: Duration::ZERO };
        while !get_ok(addr, ready_path) {
            assert!(begun.elapsed() < Duration::from_secs(10), "{addr} not ready in 10 s");
            std::thread::sleep(Duration::from_micros(200));
        }
        server.started = begun.elapsed();
        server
    }

    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address")
}

fn get_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

fn post(addr: SocketAddr, path: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body)).expect("send request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read answer");
    answer
}

fn kib(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// The floor: parse the body into `serde_json::Value`, answer `{"cards":[]}`. Same runtime
/// (multi-threaded Tokio) and body limit as the service.
fn floor(port: u16) {
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::DefaultBodyLimit;
    use axum::http::StatusCode;
    use axum::routing::{get, post};

    async fn answer(body: Bytes) -> (StatusCode, &'static str) {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(value) => {
                std::hint::black_box(value);
                (StatusCode::OK, "{\"cards\":[]}")
            }
            Err(_) => (StatusCode::BAD_REQUEST, "{}"),
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async move {
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .route(SERVICE_PATH, post(answer))
            .layer(DefaultBodyLimit::max(5 << 20 | 1 << 19));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind floor");
        axum::serve(listener, app).await.expect("floor serves");
    });
}
