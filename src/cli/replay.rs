//! `ketamine-cds replay`: the rule over a FHIR Bulk Data export before go-live (see
//! `crate::replay`), with a progress line on a terminal and the summary as text, JSON, CSV or a
//! page.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::knowledge::Knowledge;
use crate::replay::{self, export::Export, record::Recorder, summary::Summary};
use crate::report::render::Format;
use crate::store::keys::{Keys, given_secret};

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The export: a directory of .ndjson / .ndjson.gz files, or a Bulk Data manifest.
    pub export: PathBuf,
    /// Orders authored on or after this day (YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<String>,
    /// Orders authored before this day (YYYY-MM-DD).
    #[arg(long)]
    pub until: Option<String>,
    /// A site's knowledge directory instead of the embedded one.
    #[arg(long, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// Replay every order under this knowledge too, and list the orders whose answer changes.
    #[arg(long, value_name = "DIR")]
    pub compare_profiles: Option<PathBuf>,
    /// Only the patients of shard K of N (by a hash of the patient id: every machine agrees).
    #[arg(long, value_name = "K/N", value_parser = parse_shard, conflicts_with = "shards")]
    pub shard: Option<(u32, u32)>,
    /// N shards, this one named by the environment's JOB_COMPLETION_INDEX (0-based: a
    /// Kubernetes Indexed Job's completion index).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Record the replayed calls and cards in this store (sqlite:PATH or postgres://…) as a
    /// replay run `report` and /analytics show; every shard of a run names the same store and run.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The run's name in the store.
    #[arg(long, value_name = "NAME", default_value = "replay")]
    pub run: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

fn parse_shard(value: &str) -> Result<(u32, u32), String> {
    let (k, n) = value.split_once('/').ok_or("K/N, e.g. 3/8")?;
    let (k, n): (u32, u32) =
        (k.trim().parse().map_err(|_| "K: a number")?, n.trim().parse().map_err(|_| "N: a number")?);
    if n == 0 || k == 0 || k > n {
        return Err("K/N with 1 <= K <= N".into());
    }
    Ok((k, n))
}

fn day(name: &str, value: Option<&str>) -> Result<Option<String>, String> {
    let Some(value) = value else { return Ok(None) };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format).map_err(|_| format!("--{name}: a day, YYYY-MM-DD"))?;
    Ok(Some(value.to_owned()))
}

/// The keys patients and orders are hashed under: the site's secret when the environment gives
/// it (`KETAMINE_CDS_STORE__PATIENT_KEY_SECRET`, as the service's store), else random per run.
fn keys() -> Result<(Keys, &'static str), String> {
    if let Ok(secret) = std::env::var("KETAMINE_CDS_STORE__PATIENT_KEY_SECRET") {
        return Ok((Keys::new(&given_secret(&secret)?), "site secret"));
    }
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret).map_err(|_| "no randomness")?;
    Ok((Keys::new(&secret), "random per run"))
}

/// Runs the replay; the exit code (2: bad arguments, an export or profiles that cannot be read).
pub fn run(args: &ReplayArgs, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> u8 {
    match summary(args) {
        Ok(summary) => {
            let text = crate::replay::render::render(&summary, args.format);
            if super::write_output("replay", &text, args.output.as_deref(), out, err) { 0 } else { 2 }
        }
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds replay: {e}");
            2
        }
    }
}

/// The replay's summary: every problem that stops it is said before any work.
pub fn summary(args: &ReplayArgs) -> Result<Summary, String> {
    let shard = match (args.shard, args.shards) {
        (Some(shard), _) => Some(shard),
        (None, Some(n)) => {
            let index = std::env::var("JOB_COMPLETION_INDEX").map_err(
                |_| "--shards N takes its shard from JOB_COMPLETION_INDEX, which is not set (or give --shard K/N)",
            )?;
            let index: u32 = index.trim().parse().map_err(|_| format!("JOB_COMPLETION_INDEX={index}: not a number"))?;
            Some(parse_shard(&format!("{}/{n}", index + 1))?)
        }
        (None, None) => None,
    };
    if args.run.is_empty() || args.run.len() > 64 || args.run.chars().any(|c| c.is_control()) {
        return Err("--run: a name of 1 to 64 characters".into());
    }
    let options = replay::Options {
        since: day("since", args.since.as_deref())?,
        until: day("until", args.until.as_deref())?,
        shard,
        run: args.store.as_ref().map(|_| args.run.clone()),
    };
    let load = |dir: Option<&std::path::Path>| {
        Knowledge::load(dir).map_err(|errors| {
            let what = dir.map_or_else(|| "embedded profiles".to_owned(), |d| d.display().to_string());
            format!("{what}: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
        })
    };
    let knowledge = load(args.profiles.as_deref())?;
    let compare = args.compare_profiles.as_deref().map(|d| load(Some(d))).transpose()?;
    let export = Export::open(&args.export)?;
    let mut recorder =
        args.store.as_deref().map(|url| Recorder::open(url, &args.run, knowledge.version())).transpose()?;
    let (keys, keyed) = match &recorder {
        Some(r) => (r.keys().clone(), "site secret"),
        None => keys()?,
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {bytes} of NDJSON read ({bytes_per_sec}), {msg}") {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut summary = Summary::new(knowledge.version(), compare.as_ref().map(Knowledge::version));
    summary.since = options.since.clone();
    summary.until = options.until.clone();
    summary.shard = shard.map(|(k, n)| format!("{k}/{n}"));
    summary.keys = keyed.to_owned();
    let files = std::cell::Cell::new(0u64);
    let progress = |p: replay::Progress| match p {
        replay::Progress::Bytes(bytes) => bar.inc(bytes),
        replay::Progress::File => {
            files.set(files.get() + 1);
            bar.set_message(format!("file {} of {} (two passes)", files.get(), export.files.len()));
        }
    };
    let mut orders = 0u64;
    let scan = replay::run(&export, &knowledge, compare.as_ref(), &options, &progress, &mut |order| {
        summary.add(&order, &keys);
        if let (Some(recorder), Ok(evaluation)) = (recorder.as_mut(), order.answer) {
            recorder.add(evaluation, order.day);
        }
        orders += 1;
        if orders % 100 == 0 {
            bar.set_message(format!("{orders} orders replayed, {} files opened", files.get()));
        }
    });
    bar.finish_and_clear();
    if let Some(recorder) = recorder {
        recorder.finish()?;
    }
    Ok(summary.finish(scan))
}
