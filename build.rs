//! Embeds every `profiles/*.json` file in the binary, so `ketamine-cds serve` needs no setup, and
//! the example calls and Bundles of `examples/` (not their expectations), for the playground.

use std::{env, fs, path::Path};

fn main() {
    // The manifest directory of this run, not of the build (`env!`): a build script compiled in
    // one checkout may run for another that shares its target directory (CI's second clone).
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR set by cargo");
    let dir = Path::new(&manifest).join("profiles");
    let names = json_files(&dir);
    let mut out = String::from(
        "/// `profiles/*.json` as shipped: (file name, text).\npub static EMBEDDED: &[(&str, &str)] = &[\n",
    );
    // The texts themselves, not `include_str!` of their paths: the generated file then stands on
    // its own, whichever checkout last ran this script into a shared target directory (CI runs
    // the tests from a second clone with the same one).
    for name in &names {
        out.push_str(&format!("    ({name:?}, {}),\n", raw_string(&read(&dir.join(name)))));
    }
    out.push_str("];\n");
    let target = Path::new(&env::var("OUT_DIR").expect("OUT_DIR set by cargo")).join("embedded_profiles.rs");
    fs::write(target, out).expect("write embedded_profiles.rs");
    examples(Path::new(&manifest));
}

/// The `*.json` file names of `dir`, sorted (the build runs again when any changes).
fn json_files(dir: &Path) -> Vec<String> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// A file's text (the build runs again when it changes).
fn read(path: &Path) -> String {
    println!("cargo:rerun-if-changed={}", path.display());
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A Rust raw string literal of `text`.
fn raw_string(text: &str) -> String {
    let fence = "#".repeat((1..).find(|n| !text.contains(&format!("\"{}", "#".repeat(*n)))).unwrap_or(1));
    format!("r{fence}\"{text}\"{fence}")
}

/// `examples/hooks/*.json` and `examples/bundles/*.json` but `*.response.json` and
/// `*.expected.json`: `EXAMPLES: &[(path under examples/, text)]`.
fn examples(manifest: &Path) {
    let mut out = String::from(
        "/// The shipped examples: (path under `examples/`, text).\npub static EXAMPLES: &[(&str, &str)] = &[\n",
    );
    for kind in ["hooks", "bundles"] {
        let dir = manifest.join("examples").join(kind);
        for name in json_files(&dir) {
            if name.ends_with(".response.json") || name.ends_with(".expected.json") {
                continue;
            }
            out.push_str(&format!("    (\"{kind}/{name}\", {}),\n", raw_string(&read(&dir.join(&name)))));
        }
    }
    out.push_str("];\n");
    let target = Path::new(&env::var("OUT_DIR").expect("OUT_DIR set by cargo")).join("embedded_examples.rs");
    fs::write(target, out).expect("write embedded_examples.rs");
}
