//! `ketamine-cds report`: the override-analytics report from a store, as text, JSON (a stable
//! interface), CSV (the weekly series) or the HTML page `/analytics` serves.

use std::path::PathBuf;

use clap::Args;

use crate::report::{self, render, window};
use crate::store::location;

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The store to read: sqlite:PATH or postgres://user@host:port/db.
    #[arg(long, env = "KETAMINE_CDS_STORE", default_value = location::DEFAULT, value_name = "URL")]
    pub store: String,
    /// First day (2026-11-01, UTC) or instant (RFC 3339) included; default 26 weeks before --until.
    #[arg(long)]
    pub since: Option<String>,
    /// First day or instant not included; default now.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: render::Format,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Runs the report; the exit code (2: bad arguments or no store, 1: the store failed).
pub fn run(
    args: &ReportArgs,
    now: time::OffsetDateTime,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    let location = match super::existing_store(&args.store) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds report: {e}");
            return 2;
        }
    };
    let window = match window(args.since.as_deref(), args.until.as_deref(), crate::clock::millis(now)) {
        Ok(w) => w,
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds report: {e}");
            return 2;
        }
    };
    let arms = match super::with_store(&location, async |db| db.tallies_by_arm(window.since, window.until).await) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds report: {e}");
            return 1;
        }
    };
    // The service's own reasons by their displays (the embedded knowledge's; a site's edited
    // set names the same codes).
    let reasons = crate::knowledge::Knowledge::embedded().map(|k| k.override_reasons()).unwrap_or_default();
    let report = report::build_with_arms(arms, window).with_reason_names(&reasons);
    let text = render::render(&report, args.format);
    if super::write_output("report", &text, args.output.as_deref(), out, err) { 0 } else { 1 }
}
