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
