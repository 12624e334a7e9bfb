//! `ketamine-cds evaluate`: run hook requests and patient-record Bundles through the same code
//! as the server and print the cards; with `--check`, compare them with expectations.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::cases;
use super::expect;
use super::render::{self, Style};
use crate::call::bundle::{self, BundleOptions};
use crate::call::fatigue::{HELD_BACK, Nothing, Remembers};
use crate::call::{self, services};
use crate::guideline::Hook;
use crate::hooks::HookRequest;
use crate::knowledge::Knowledge;
use crate::store::{Store, StoreSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Cards as an EHR shows them (colour on a terminal).
    Text,
    /// Exactly the HTTP response body (one JSON document per line when there are several cases).
    Json,
    /// A Markdown report.
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookArg {
    OrderSign,
    OrderSelect,
}

#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// Hook request JSON files, FHIR Bundles, or directories of them (searched recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The hook a Bundle is evaluated as (hook requests name their own).
    #[arg(long, value_enum, default_value = "order-sign")]
    pub hook: HookArg,
    /// The draft order of a Bundle (`MedicationRequest/ID` or the bare `ID`), instead of every
    /// ketamine MedicationRequest with status draft.
    #[arg(long, value_name = "MedicationRequest/ID")]
    pub order: Option<String>,
    /// "Now" for the rules (YYYY-MM-DD or RFC 3339), for reproducible results. Default: the clock.
    #[arg(long, value_name = "DATE")]
    pub now: Option<String>,
    /// Output: text, or json (one file: exactly the HTTP response body; several: one line per
    /// case, `{"case": PATH, "response": BODY}` or `{"case": PATH, "error": …}`), or markdown.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Compare each case with NAME.expected.json (or NAME.response.json) beside it: one PASS,
    /// FAIL, ERROR or NO EXPECTATION line per case (everything on stdout), the cards only of the
    /// failed cases (all with -v), a table naming the failed ones; exit 1 on any failure,
    /// error or case without an expectation.
    #[arg(long)]
    pub check: bool,
    /// With --check: print the cards of every case, not only of the failed ones.
    #[arg(short, long)]
    pub verbose: bool,
    /// Apply what this store remembers as the service would (snoozes, order-select overrides,
    /// chart-open warnings shown): the cards it holds back are printed as held back, and why.
    /// Only read. Without it nothing is held back: every card the rules give is printed.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Profiles directory to use instead of the embedded knowledge.
    #[arg(long, env = "KETAMINE_CDS_PROFILES", value_name = "DIR")]
    pub profiles: Option<PathBuf>,
}

/// Parses `--now`.
pub fn parse_now(text: &str) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| format!("--now {text}: expected YYYY-MM-DD or an RFC 3339 date-time"))
}

/// The outcome of one case.
enum Outcome {
    /// The answer (with the held-back cards in its extension) and its check.
    Answered {
        response: Value,
        check: Option<Result<(), Vec<String>>>,
    },
    Failed(String),
}

/// Evaluates one case file: its answer (the held-back cards in the response extension when
/// `remembered` held any back) and how many of its resources were another patient's (dropped).
pub fn evaluate_file(
    path: &Path,
    options: &BundleOptions,
    knowledge: &Knowledge,
    remembered: &dyn Remembers,
    now: time::OffsetDateTime,
) -> Result<(Value, usize), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {e}"))?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let body = bundle::request_for(value, &name, options, knowledge)?;
    let hook = body["hook"].as_str().unwrap_or_default().to_owned();
    let service = Hook::from_name(&hook).map(services::for_hook).ok_or_else(|| {
        format!("hook '{hook}' is not one this service answers (order-select, order-sign, patient-view)")
    })?;
    let request = HookRequest::from_value(body).map_err(|e| describe(&e))?;
    let evaluation =
        call::answer_offline_remembering(service, request, knowledge, remembered, now).map_err(|e| describe(&e))?;
    Ok((evaluation.body_with_held_back(), evaluation.resources_other_patient))
}

fn describe(error: &crate::hooks::HookError) -> String {
    match error {
        crate::hooks::HookError::Invalid(findings) => format!("{error}: {}", findings.join("; ")),
        crate::hooks::HookError::MissingData(keys) => {
            let keys: Vec<String> = keys.iter().map(|(k, why)| format!("{k} ({why})")).collect();
            format!("{error}: prefetch {}", keys.join(", "))
        }
        other => other.to_string(),
    }
}

/// The store `--store` names, opened to read what it remembers (on `runtime`, which must live
/// while the cases run).
fn remembering(url: &str, knowledge: &Knowledge, runtime: &tokio::runtime::Runtime) -> Result<Store, String> {
    let location = super::existing_store(url)?;
    let _enter = runtime.enter();
    let settings = StoreSettings {
        patient_key_secret: std::env::var("KETAMINE_CDS_STORE__PATIENT_KEY_SECRET").ok(),
        ..StoreSettings::default()
    };
    let store = Store::open(location, &settings, knowledge)?;
    runtime.block_on(store.recall()).map_err(|e| format!("store {}: {e}", store.location().describe()))?;
    Ok(store)
}

/// Counts of a run.
#[derive(Default)]
struct Tally {
    with_cards: usize,
    silent: usize,
    errors: usize,
    passed: usize,
    held_back: usize,
    other_patient: usize,
    /// Cases that failed a check, had no expectation, or could not be evaluated: (path, why).
    failed: Vec<(String, &'static str)>,
}

/// Runs the command; returns the process exit code.
pub fn run(args: &EvaluateArgs, knowledge: &Knowledge, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let now = match args.now.as_deref().map(parse_now).transpose() {
        Ok(now) => now.unwrap_or_else(time::OffsetDateTime::now_utc),
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds: {e}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds: {e}");
            return 2;
        }
    };
    let store = match args.store.as_deref().map(|url| remembering(url, knowledge, &runtime)).transpose() {
        Ok(store) => store,
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds evaluate: --store: {e}");
            return 2;
        }
    };
    let remembered: &dyn Remembers = match &store {
        Some(store) => store,
        None => &Nothing,
    };
    let options = BundleOptions {
        hook: match args.hook {
            HookArg::OrderSign => Hook::OrderSign,
            HookArg::OrderSelect => Hook::OrderSelect,
        },
        // A bare id names the MedicationRequest of that id.
        order: args.order.as_ref().map(|o| if o.contains('/') { o.clone() } else { format!("MedicationRequest/{o}") }),
    };
    let files = cases::collect(&args.paths);
    let style = Style { colour: std::io::stdout().is_terminal() };
    let progress = if std::io::stderr().is_terminal() && files.len() > 5 {
        let bar = ProgressBar::with_draw_target(Some(files.len() as u64), ProgressDrawTarget::stderr());
        if let Ok(s) = ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}") {
            bar.set_style(s);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let several = files.len() > 1;
    let mut tally = Tally::default();
    for file in &files {
        let display = file.display().to_string();
        progress.set_message(display.clone());
        let outcome = match evaluate_file(file, &options, knowledge, remembered, now) {
            Ok((response, dropped)) => {
                if dropped > 0 {
                    progress.suspend(|| {
                        let note = format!(
                            "NOTE {display}: {dropped} resource(s) of another patient than the call's were dropped"
                        );
                        let _ = writeln!(err, "{note}");
                    });
                }
                tally.other_patient += dropped;
                let check = args.check.then(|| expectation_check(file, &response)).flatten();
                Outcome::Answered { response, check }
            }
            Err(e) => Outcome::Failed(e),
        };
        progress.suspend(|| report(args, &display, &outcome, several, style, out, err));
        match outcome {
            Outcome::Answered { response, check } => {
                if response["cards"].as_array().is_some_and(|c| !c.is_empty()) {
                    tally.with_cards += 1;
                } else {
                    tally.silent += 1;
                }
                tally.held_back += response["extension"][HELD_BACK].as_array().map_or(0, Vec::len);
                match check {
                    Some(Ok(())) => tally.passed += 1,
                    Some(Err(_)) => tally.failed.push((display, "failed")),
                    None if args.check => tally.failed.push((display, "no expectation")),
                    None => {}
                }
            }
            Outcome::Failed(_) => {
                tally.errors += 1;
                tally.failed.push((display, "error"));
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    summary(args, files.len(), &tally, if args.check { out } else { err });
    // With --check a case without an expectation fails the run: a misnamed expectation file
    // must not make a green run.
    if !tally.failed.is_empty() || files.is_empty() { 1 } else { 0 }
}

/// Prints one case: its cards (with --check, only a failed case's, or every case's with -v),
/// and with --check its PASS / FAIL / ERROR / NO EXPECTATION line (on stdout, with its
/// differences).
fn report(
    args: &EvaluateArgs,
    display: &str,
    outcome: &Outcome,
    several: bool,
    style: Style,
    out: &mut dyn Write,
    err: &mut dyn Write,
) {
    match outcome {
        Outcome::Answered { response, check } => {
            let show_cards = !args.check || args.verbose || matches!(check, Some(Err(_)) | None);
            if show_cards {
                let printed = match args.format {
                    Format::Json if several => {
                        serde_json::json!({ "case": display, "response": response }).to_string() + "\n"
                    }
                    Format::Json => serde_json::to_string(response).map(|s| s + "\n").unwrap_or_default(),
                    Format::Text => render::text(display, response, style),
                    Format::Markdown => render::markdown(display, response),
                };
                let _ = out.write_all(printed.as_bytes());
            }
            if !args.check {
                return;
            }
            match check {
                Some(Ok(())) => {
                    let _ = writeln!(out, "PASS {display}");
                }
                Some(Err(diffs)) => {
                    let _ = writeln!(out, "FAIL {display}");
                    for d in diffs {
                        let _ = writeln!(out, "    {d}");
                    }
                }
                None => {
                    let _ = writeln!(
                        out,
                        "NO EXPECTATION {display}: add NAME.expected.json (or NAME.response.json) beside it"
                    );
                }
            }
        }
        Outcome::Failed(e) => {
            if args.format == Format::Json && several && !args.check {
                let _ = writeln!(out, "{}", serde_json::json!({ "case": display, "error": e }));
            }
            // With --check the whole report is on stdout; otherwise errors go to stderr.
            if args.check {
                let _ = writeln!(out, "ERROR {display}: {e}");
            } else {
                let _ = writeln!(err, "ERROR {display}: {e}");
            }
        }
    }
}

/// The closing lines: with --check a table and the failed cases, then the counts.
fn summary(args: &EvaluateArgs, total: usize, tally: &Tally, sink: &mut dyn Write) {
    if args.check {
        let count = |why: &str| tally.failed.iter().filter(|(_, w)| *w == why).count();
        let _ = writeln!(sink, "\n| cases | passed | failed | errors | no expectation |");
        let _ = writeln!(sink, "|---|---|---|---|---|");
        let _ = writeln!(
            sink,
            "| {total} | {} | {} | {} | {} |",
            tally.passed,
            count("failed"),
            count("error"),
            count("no expectation")
        );
        if !tally.failed.is_empty() {
            let _ = writeln!(sink, "\nNot passed:");
            for (case, why) in &tally.failed {
                let _ = writeln!(sink, "- {case} ({why})");
            }
        }
    }
    let _ = writeln!(
        sink,
        "evaluated {total} case(s): {} with cards, {} silent, {} error(s)",
        tally.with_cards, tally.silent, tally.errors
    );
    if args.store.is_some() {
        let _ = writeln!(sink, "{} card(s) held back by what the store remembers", tally.held_back);
    }
    if tally.other_patient > 0 {
        let _ = writeln!(sink, "{} resource(s) of another patient than their call's were dropped", tally.other_patient);
    }
}

/// `None` when the case has no expectation file.
fn expectation_check(case: &Path, response: &Value) -> Option<Result<(), Vec<String>>> {
    let path = expect::expectation_for(case)?;
    let expected = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => return Some(Err(vec![format!("{}: {e}", path.display())])),
    };
    let diffs = expect::differences(&expected, response);
    Some(if diffs.is_empty() { Ok(()) } else { Err(diffs) })
}
