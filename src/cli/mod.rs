//! The command line's subcommands besides `serve`: `evaluate` (cases through the same code as
//! the server), `check-profiles` (is a profiles set sound?), `report` (override analytics from
//! the store), `snoozes` (list and lift them), `replay` (a Bulk Data export through the rule)
//! and `package` (the knowledge as a FHIR package).

pub mod cases;
pub mod evaluate;
pub mod expect;
pub mod package;
pub mod render;
pub mod replay;
pub mod report;
pub mod snoozes;

use std::io::Write;
use std::path::Path;

use crate::knowledge::Knowledge;
use crate::store::Location;
use crate::store::db::Db;

/// The store a reading command (`report`, `snoozes`) opens: a SQLite file that exists or a
/// PostgreSQL URL (`none`, and a file not there, would read nothing — or create an empty one).
fn existing_store(url: &str) -> Result<Location, String> {
    match Location::parse(url)? {
        Location::None => Err("--store none keeps nothing to read".into()),
        Location::Sqlite(path) if !path.is_file() => {
            Err(format!("no store at {} (the service creates it on first start)", path.display()))
        }
        location => Ok(location),
    }
}

/// Runs `read` on the store at `location` on a runtime of its own, then closes the store.
fn with_store<T>(location: &Location, read: impl AsyncFnOnce(&Db) -> Result<T, sqlx::Error>) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let db = Db::connect_lazy(location)?.ok_or_else(|| "no store".to_owned())?;
        let result = read(&db).await.map_err(|e| format!("store {}: {e}", location.describe()));
        db.close().await;
        result
    })
}

/// Writes a command's output to `output` (a file) or `out`; a failure is said on `err` as
/// `ketamine-cds COMMAND: …`. True when written.
fn write_output(command: &str, text: &str, output: Option<&Path>, out: &mut dyn Write, err: &mut dyn Write) -> bool {
    let written = match output {
        Some(path) => std::fs::write(path, text),
        None => out.write_all(text.as_bytes()),
    };
    if let Err(e) = &written {
        let _ = writeln!(err, "ketamine-cds {command}: {e}");
    }
    written.is_ok()
}

/// `check-profiles [DIR]`: prints every problem with file and JSON path (exit code 1 if any),
/// the warnings (code systems the rules do not know), and what the set holds: its version
/// (site-modified or shipped), the codes per code system and per value set.
pub fn check_profiles(dir: Option<&Path>, out: &mut dyn Write) -> u8 {
    let what = dir.map(|d| d.display().to_string()).unwrap_or_else(|| "embedded profiles".to_owned());
    let problems = Knowledge::problems(dir);
    if !problems.is_empty() {
        for p in &problems {
            let _ = writeln!(out, "{p}");
        }
        let _ = writeln!(out, "{what}: {} problem(s)", problems.len());
        return 1;
    }
    let Ok((k, census)) = Knowledge::load_checked(dir) else { return 1 };
    for w in &census.warnings {
        let _ = writeln!(out, "WARNING {w}");
    }
    let shipped = Knowledge::embedded().ok();
    let version = if k.site_modified() {
        format!(
            "{} (site-modified: it differs from the shipped {})",
            k.version(),
            k.version().split('+').next().unwrap_or_default()
        )
    } else {
        format!("{} (as shipped)", k.version())
    };
    let codes = match shipped.map(|s| s.medications.code_count()) {
        Some(n) if n != k.medications.code_count() => {
            format!("{} medication codes (shipped: {n})", k.medications.code_count())
        }
        _ => format!("{} medication codes", k.medications.code_count()),
    };
    let warned = match census.warnings.len() {
        0 => String::new(),
        n => format!(" with {n} warning(s)"),
    };
    let _ = writeln!(
        out,
        "{what}: OK{warned} — knowledge {version}, {} drug classes, {codes}, {} contraindication groups",
        k.plan.classes.len(),
        k.plan.contraindication_groups.len()
    );
    let _ = writeln!(out, "\nCodes per code system:");
    for (system, n) in &census.by_system {
        let _ = writeln!(out, "  {n:>6}  {system}");
    }
    let _ = writeln!(out, "\nCodes per value set:");
    for (file, systems) in &census.by_value_set {
        let counts: Vec<String> = systems.iter().map(|(system, n)| format!("{n} {}", short_system(system))).collect();
        let _ = writeln!(out, "  {file}: {}", counts.join(", "));
    }
    0
}

/// A code system as a short name in a count (`rxnorm`, `sct`, `icd-10-cm`, …).
fn short_system(system: &str) -> &str {
    system.trim_end_matches('/').rsplit(['/', ':']).next().unwrap_or(system)
}
