//! Cases for `evaluate`: a file is either a CDS Hooks request or a FHIR Bundle (a patient record
//! as an EHR or Synthea exports it), which `crate::call::bundle` makes into the hook request an
//! EHR would send.

use std::path::{Path, PathBuf};

/// File names that hold expectations, not cases.
pub fn is_expectation(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.ends_with(".expected.json") || name.ends_with(".response.json")
}

/// Every case file under the given paths (directories recursively, sorted).
pub fn collect(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut stack = vec![path.clone()];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    out.push(dir);
                    continue;
                };
                for entry in entries.flatten() {
                    let p = entry.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x == "json") && !is_expectation(&p) {
                        out.push(p);
                    }
                }
            }
        } else {
            out.push(path.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}
