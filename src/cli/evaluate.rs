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
use crate::call::{self, services};
use crate::guideline::Hook;
use crate::hooks::HookRequest;
use crate::knowledge::Knowledge;

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
    /// The draft order of a Bundle, instead of every ketamine MedicationRequest with status draft.
    #[arg(long, value_name = "MedicationRequest/ID")]
    pub order: Option<String>,
    /// "Now" for the rules (YYYY-MM-DD or RFC 3339), for reproducible results. Default: the clock.
    #[arg(long, value_name = "DATE")]
    pub now: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Compare each case with NAME.expected.json (or NAME.response.json) beside it; exit 1 on
    /// any mismatch, and on any case without an expectation.
    #[arg(long)]
    pub check: bool,
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
    Answered { response: Value, check: Option<Result<(), Vec<String>>> },
    Failed(String),
}

/// Evaluates one case file.
/// A case's response, and how many of its resources were another patient's (dropped).
pub fn evaluate_file(
    path: &Path,
    options: &BundleOptions,
    knowledge: &Knowledge,
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
    let evaluation = call::answer_offline(service, request, knowledge, now).map_err(|e| describe(&e))?;
    let other_patient = evaluation.resources_other_patient;
    Ok((serde_json::to_value(evaluation.response).map_err(|e| e.to_string())?, other_patient))
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

/// Runs the command; returns the process exit code.
pub fn run(args: &EvaluateArgs, knowledge: &Knowledge, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let now = match args.now.as_deref().map(parse_now).transpose() {
        Ok(now) => now.unwrap_or_else(time::OffsetDateTime::now_utc),
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds: {e}");
            return 2;
        }
    };
    let options = BundleOptions {
        hook: match args.hook {
            HookArg::OrderSign => Hook::OrderSign,
            HookArg::OrderSelect => Hook::OrderSelect,
        },
        order: args.order.clone(),
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
    let (mut with_cards, mut silent, mut errors, mut passed, mut failed, mut unchecked) = (0, 0, 0, 0, 0, 0);
    let mut other_patient = 0;
    for file in &files {
        let display = file.display().to_string();
        progress.set_message(display.clone());
        let outcome = match evaluate_file(file, &options, knowledge, now) {
            Ok((response, dropped)) => {
                if dropped > 0 {
                    progress.suspend(|| {
                        let note = format!(
                            "NOTE {display}: {dropped} resource(s) of another patient than the call's were dropped"
                        );
                        let _ = writeln!(err, "{note}");
                    });
                }
                other_patient += dropped;
                let check = args.check.then(|| expectation_check(file, &response)).flatten();
                Outcome::Answered { response, check }
            }
            Err(e) => Outcome::Failed(e),
        };
        progress.suspend(|| match &outcome {
            Outcome::Answered { response, check } => {
                let printed = match args.format {
                    Format::Json => serde_json::to_string(response).map(|s| s + "\n").unwrap_or_default(),
                    Format::Text => render::text(&display, response, style),
                    Format::Markdown => render::markdown(&display, response),
                };
                let _ = out.write_all(printed.as_bytes());
                if let Some(Err(diffs)) = check {
                    let _ = writeln!(err, "MISMATCH {display}");
                    for d in diffs {
                        let _ = writeln!(err, "    {d}");
                    }
                }
                if args.check && check.is_none() {
                    let _ = writeln!(
                        err,
                        "NO EXPECTATION {display}: add NAME.expected.json (or NAME.response.json) beside it"
                    );
                }
            }
            Outcome::Failed(e) => {
                let _ = writeln!(err, "ERROR {display}: {e}");
            }
        });
        match outcome {
            Outcome::Answered { response, check } => {
                if response["cards"].as_array().is_some_and(|c| !c.is_empty()) {
                    with_cards += 1;
                } else {
                    silent += 1;
                }
                match check {
                    Some(Ok(())) => passed += 1,
                    Some(Err(_)) => failed += 1,
                    None if args.check => unchecked += 1,
                    None => {}
                }
            }
            Outcome::Failed(_) => errors += 1,
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let total = files.len();
    if args.check {
        let _ = writeln!(err, "\n| cases | passed | failed | errors | no expectation |");
        let _ = writeln!(err, "|---|---|---|---|---|");
        let _ = writeln!(err, "| {total} | {passed} | {failed} | {errors} | {unchecked} |");
    }
    let _ = writeln!(err, "evaluated {total} case(s): {with_cards} with cards, {silent} silent, {errors} error(s)");
    if other_patient > 0 {
        let _ = writeln!(err, "{other_patient} resource(s) of another patient than their call's were dropped");
    }
    // With --check a case without an expectation fails the run: a misnamed expectation file
    // must not make a green run.
    if errors > 0 || failed > 0 || unchecked > 0 || total == 0 { 1 } else { 0 }
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
