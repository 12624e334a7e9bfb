//! `ketamine-cds replay` throughput and memory over generated Bulk exports (the test utility
//! `tests/common/bulk.rs`: Synthea records with new ids, a share given a ketamine order and an
//! example's history). For each size it writes the export to a temporary directory, runs the
//! release binary under `/usr/bin/time` and prints: the export's size, the NDJSON the replay
//! actually read (types it does not need are skipped unread), seconds, MB/s, resources/s and
//! the peak RSS.
//!
//! `cargo bench --bench replay` (1,000 and 20,000 patients at 5 %, and 20,000 at 1 %); or
//! `cargo bench --bench replay -- --runs 1000:5,20000:1` (patients:percent).

#[path = "../tests/common/bulk.rs"]
#[allow(dead_code)]
mod bulk;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: Vec<(usize, u64)> = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map(|list| {
            list.split(',')
                .filter_map(|r| {
                    let (n, p) = r.split_once(':')?;
                    Some((n.parse().ok()?, p.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_else(|| vec![(1_000, 5), (20_000, 5), (20_000, 1)]);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_ketamine-cds");
    println!(
        "| patients | ketamine % | orders | export | NDJSON read | resources read | seconds | MB/s read | export MB/s | resources/s | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (patients, percent) in runs {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = bulk::BulkOptions {
            patients,
            ketamine_percent: percent,
            order_day: time::macros::date!(2026 - 11 - 20),
            spread_days: 365,
            dstu2: false,
            gzip: false,
            late_records: true,
            synthea: true,
        };
        let generated = Instant::now();
        let orders = bulk::write(dir.path(), repo, &options);
        let export_bytes: u64 =
            std::fs::read_dir(dir.path()).unwrap().flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum();
        eprintln!("{patients} patients: {} MB written in {:.0?}", export_bytes / 1_000_000, generated.elapsed());
        let started = Instant::now();
        let output = Command::new("/usr/bin/time")
            .args(["-f", "%e %M", bin, "replay", "--format", "json"])
            .arg(dir.path())
            .output()
            .expect("/usr/bin/time runs the replay");
        let wall = started.elapsed().as_secs_f64();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let rss_kib: f64 = stderr.lines().last().and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0.0);
        assert_eq!(summary["orders_replayed"].as_u64(), Some(orders.len() as u64));
        let read = summary["files"]["bytes_read"].as_u64().unwrap_or(0) as f64;
        let lines = summary["files"]["lines_read"].as_u64().unwrap_or(0) as f64;
        println!(
            "| {patients} | {percent} | {} | {:.0} MB | {:.0} MB | {:.0} | {wall:.2} | {:.0} | {:.0} | {:.0} | {:.0} MiB |",
            orders.len(),
            export_bytes as f64 / 1e6,
            read / 1e6,
            lines,
            read / 1e6 / wall,
            export_bytes as f64 / 1e6 / wall,
            lines / wall,
            rss_kib / 1024.0
        );
    }
}
