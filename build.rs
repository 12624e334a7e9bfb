//! Embeds every `profiles/*.json` file in the binary, so `ketamine-cds serve` needs no setup.

use std::{env, fs, path::Path};

fn main() {
    // The manifest directory of this run, not of the build (`env!`): a build script compiled in
    // one checkout may run for another that shares its target directory (CI's second clone).
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR set by cargo");
    let dir = Path::new(&manifest).join("profiles");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("profiles/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut out = String::from(
        "/// `profiles/*.json` as shipped: (file name, text).\npub static EMBEDDED: &[(&str, &str)] = &[\n",
    );
    // The texts themselves, not `include_str!` of their paths: the generated file then stands on
    // its own, whichever checkout last ran this script into a shared target directory (CI runs
    // the tests from a second clone with the same one).
    for name in &names {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = fs::read_to_string(&path).expect("profiles are UTF-8");
        let fence = "#".repeat((1..).find(|n| !text.contains(&format!("\"{}", "#".repeat(*n)))).unwrap_or(1));
        out.push_str(&format!("    ({name:?}, r{fence}\"{text}\"{fence}),\n"));
    }
    out.push_str("];\n");
    let target = Path::new(&env::var("OUT_DIR").expect("OUT_DIR set by cargo")).join("embedded_profiles.rs");
    fs::write(target, out).expect("write embedded_profiles.rs");
}
