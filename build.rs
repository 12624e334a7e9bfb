//! Embeds every `profiles/*.json` file in the binary, so `ketamine-cds serve` needs no setup.

use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
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
    for name in &names {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        out.push_str(&format!("    ({name:?}, include_str!({:?})),\n", path.display().to_string()));
    }
    out.push_str("];\n");
    let target = Path::new(&env::var("OUT_DIR").expect("OUT_DIR set by cargo")).join("embedded_profiles.rs");
    fs::write(target, out).expect("write embedded_profiles.rs");
}
