//! A bounded mutation fuzzer on stable Rust (cargo-fuzz needs nightly, which cannot be installed
//! here): every example request and public conformance request, mutated many times over by a
//! seeded generator — values replaced by other JSON types, members dropped or duplicated,
//! arrays repeated, strings escaped or made huge, bytes cut off or flipped — goes through the
//! request reader, the patient-record builder and the rules (`call::answer_offline`); a sample
//! of the profiles, mutated likewise, through the profile loader. Nothing may panic; the reader
//! answers every input with a value or one of its errors. Deterministic (fixed seed): a failure
//! is reproducible, and its input is printed to be kept as a regression test.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use crate::common::*;
use ketamine_cds::call::{self, services};
use ketamine_cds::hooks::HookRequest;
use ketamine_cds::knowledge::Knowledge;
use serde_json::{Value, json};

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A value of another JSON type (or a hostile one of the same).
fn replacement(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(1e308),
        4 => json!(""),
        5 => json!("\u{0000}\u{202e}\\u00e9 <img src=x onerror=alert(1)>"),
        6 => json!([]),
        7 => json!({}),
        8 => json!("x".repeat(10_000)),
        _ => json!(u64::MAX),
    }
}

/// Mutates one place of `value`, chosen at random along a random path.
fn mutate(value: &mut Value, rng: &mut Rng, depth: usize) {
    let descend = depth < 12 && rng.below(4) != 0;
    match value {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys[rng.below(keys.len())].clone();
            if descend {
                if let Some(inner) = map.get_mut(&key) {
                    return mutate(inner, rng, depth + 1);
                }
            }
            match rng.below(3) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    map.insert(key, replacement(rng));
                }
                _ => {
                    let copy = map.get(&key).cloned().unwrap_or(Value::Null);
                    map.insert(format!("{key}_"), copy.clone());
                    map.insert(key, json!([copy]));
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let at = rng.below(items.len());
            if descend {
                return mutate(&mut items[at], rng, depth + 1);
            }
            match rng.below(3) {
                0 => {
                    items.remove(at);
                }
                1 if items.len() < 100 => {
                    let copy = items[at].clone();
                    items.extend(std::iter::repeat_n(copy, 50));
                }
                1 => {
                    items.truncate(1);
                }
                _ => items[at] = replacement(rng),
            }
        }
        other => *other = replacement(rng),
    }
}

/// Byte-level damage of a serialised body: cut, flipped or doubled bytes.
fn damage(bytes: &mut Vec<u8>, rng: &mut Rng) {
    if bytes.is_empty() {
        return;
    }
    match rng.below(3) {
        0 => bytes.truncate(rng.below(bytes.len())),
        1 => {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        _ => {
            let at = rng.below(bytes.len());
            let tail = bytes[at..].to_vec();
            bytes.extend_from_slice(&tail[..tail.len().min(256)]);
        }
    }
}

fn answer(body: &[u8]) {
    let Ok(request) = HookRequest::from_slice(body) else { return };
    let hook = request.hook.clone();
    let service = services::service(service_for(&hook)).expect("a service");
    let _ = call::answer_offline(service, request, knowledge(), now());
}

#[test]
fn mutated_requests_never_panic_the_reader_the_record_or_the_rules() {
    let mut seeds: Vec<PathBuf> = json_files(&repo().join("examples/hooks"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".response.json"))
        .collect();
    seeds.extend(json_files(&data().join("conformance/requests")));
    seeds.sort();
    assert!(seeds.len() > 150, "{} seeds", seeds.len());
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    let mut cases = 0;
    for seed in &seeds {
        let original: Value = read_json(seed);
        for round in 0..100 {
            let mut value = original.clone();
            for _ in 0..=rng.below(4) {
                mutate(&mut value, &mut rng, 0);
            }
            let mut body = serde_json::to_vec(&value).expect("serialises");
            if round % 5 == 4 {
                damage(&mut body, &mut rng);
            }
            if catch_unwind(AssertUnwindSafe(|| answer(&body))).is_err() {
                panic!(
                    "{}: a mutated request panicked; keep it as a regression test:\n{}",
                    seed.display(),
                    String::from_utf8_lossy(&body)
                );
            }
            cases += 1;
        }
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("fuzz: {cases} mutated requests, no panic\n").as_bytes(),
    );
}

#[test]
fn mutated_profiles_are_refused_by_name_or_loaded_never_a_panic() {
    let profiles = repo().join("profiles");
    let files = json_files(&profiles);
    let mut rng = Rng(0x0BAD_5EED_0DDB_A110);
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        for file in &files {
            std::fs::copy(file, dir.path().join(file.file_name().unwrap())).unwrap();
        }
        let victim = &files[rng.below(files.len())];
        let mut value: Value = read_json(victim);
        for _ in 0..=rng.below(3) {
            mutate(&mut value, &mut rng, 0);
        }
        let mut bytes = serde_json::to_vec_pretty(&value).unwrap();
        if round % 4 == 3 {
            damage(&mut bytes, &mut rng);
        }
        std::fs::write(dir.path().join(victim.file_name().unwrap()), &bytes).unwrap();
        let loaded = catch_unwind(AssertUnwindSafe(|| Knowledge::from_dir(dir.path())));
        match loaded {
            Ok(Ok(_)) => {}
            Ok(Err(errors)) => assert!(errors.iter().all(|e| !e.to_string().is_empty())),
            Err(_) => panic!(
                "{}: a mutated profile panicked the loader:\n{}",
                victim.display(),
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
}
