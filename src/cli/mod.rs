//! The command line's subcommands besides `serve`: `evaluate` (cases through the same code as
//! the server), `check-profiles` (is a profiles set sound?), `report` (override analytics from
//! the store) and `snoozes` (list and lift them).

pub mod cases;
pub mod evaluate;
pub mod expect;
pub mod render;
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

/// `check-profiles [DIR]`: prints every problem with file and JSON path; exit code 1 if any.
pub fn check_profiles(dir: Option<&Path>, out: &mut dyn Write) -> u8 {
    let what = dir.map(|d| d.display().to_string()).unwrap_or_else(|| "embedded profiles".to_owned());
    let problems = Knowledge::problems(dir);
    if problems.is_empty() {
        if let Ok(k) = Knowledge::load(dir) {
            let _ = writeln!(
                out,
                "{what}: OK — knowledge {}, {} drug classes, {} medication codes, {} contraindication groups",
                k.version(),
                k.plan.classes.len(),
                k.medications.code_count(),
                k.plan.contraindication_groups.len()
            );
        }
        return 0;
    }
    for p in &problems {
        let _ = writeln!(out, "{p}");
    }
    let _ = writeln!(out, "{what}: {} problem(s)", problems.len());
    1
}
