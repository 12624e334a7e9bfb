//! Codes that look malformed for their system (`check-profiles`): RxNorm and SNOMED CT
//! identifiers are digits (SNOMED's last digit is a Verhoeff check digit), ICD-10-CM and ATC
//! codes have fixed shapes. A typo in a site's local edit is caught before go-live.

use super::KnowledgeError;
use super::artifacts::Artifacts;
use super::concepts::ICD10CM;
use super::medications::RXNORM;

pub const SNOMED: &str = "http://snomed.info/sct";
pub const ATC: &str = "http://www.whocc.no/atc";

/// Why `code` is malformed for `system`, or `None` when it looks right (or the system is not
/// one this check knows).
pub fn malformed(system: &str, code: &str) -> Option<String> {
    let digits = !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit());
    match system {
        RXNORM if !digits || code.len() > 8 => Some("an RxNorm RxCUI is 1–8 digits".into()),
        SNOMED if !digits || !(6..=18).contains(&code.len()) => Some("a SNOMED CT id is 6–18 digits".into()),
        SNOMED if !verhoeff_valid(code) => {
            Some("a SNOMED CT id ends in a Verhoeff check digit, and this one does not check".into())
        }
        ICD10CM if !icd10cm_shape(code) => Some("an ICD-10-CM code looks like A00, A00.0 or A00.0000".into()),
        ATC if !atc_shape(code) => Some("an ATC code looks like N, N06, N06A, N06AX or N06AX21".into()),
        _ => None,
    }
}

fn icd10cm_shape(code: &str) -> bool {
    let b = code.as_bytes();
    let head = b.len() >= 3
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_digit()
        && (b[2].is_ascii_digit() || b[2].is_ascii_uppercase());
    let tail = match code.get(3..) {
        Some("") => true,
        Some(rest) => {
            rest.starts_with('.')
                && (2..=5).contains(&rest.len())
                && rest[1..].bytes().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        }
        None => false,
    };
    head && tail
}

fn atc_shape(code: &str) -> bool {
    // Levels: letter, 2 digits, letter, letter, 2 digits.
    let pattern = [b'A', b'9', b'9', b'A', b'A', b'9', b'9'];
    matches!(code.len(), 1 | 3 | 4 | 5 | 7)
        && code.bytes().zip(pattern).all(|(c, p)| if p == b'A' { c.is_ascii_uppercase() } else { c.is_ascii_digit() })
}

fn verhoeff_valid(number: &str) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0u8;
    for (i, digit) in number.bytes().rev().enumerate() {
        c = D[c as usize][P[i % 8][(digit - b'0') as usize] as usize];
    }
    c == 0
}

/// Every malformed code of the value sets and concept maps, by file and JSON path.
pub fn lint(artifacts: &Artifacts) -> Vec<KnowledgeError> {
    let mut problems = Vec::new();
    let mut sorted: Vec<_> = artifacts.by_url.values().collect();
    sorted.sort_by(|a, b| a.file.cmp(&b.file));
    for artifact in sorted {
        let r = &artifact.resource;
        let mut check = |system: &str, code: &str, path: String| {
            if let Some(problem) = malformed(system, code) {
                problems.push(KnowledgeError::new(&artifact.file, path, format!("'{code}': {problem}")));
            }
        };
        for (i, include) in r["compose"]["include"].as_array().into_iter().flatten().enumerate() {
            let system = include["system"].as_str().unwrap_or_default();
            for (j, concept) in include["concept"].as_array().into_iter().flatten().enumerate() {
                check(
                    system,
                    concept["code"].as_str().unwrap_or_default(),
                    format!("/compose/include/{i}/concept/{j}/code"),
                );
            }
        }
        for (g, group) in r["group"].as_array().into_iter().flatten().enumerate() {
            let (source, target) =
                (group["source"].as_str().unwrap_or_default(), group["target"].as_str().unwrap_or_default());
            for (i, element) in group["element"].as_array().into_iter().flatten().enumerate() {
                check(source, element["code"].as_str().unwrap_or_default(), format!("/group/{g}/element/{i}/code"));
                for (t, tgt) in element["target"].as_array().into_iter().flatten().enumerate() {
                    let code = tgt["code"].as_str().unwrap_or_default();
                    check(target, code, format!("/group/{g}/element/{i}/target/{t}/code"));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_codes_pass() {
        for (system, code) in [
            (SNOMED, "247398009"),
            (SNOMED, "368581000119106"),
            (SNOMED, "2177002"),
            (RXNORM, "596926"),
            (ICD10CM, "G90.512"),
            (ICD10CM, "H40.11X0"),
            (ICD10CM, "F32.A"),
            (ICD10CM, "I21"),
            (ATC, "N06AX21"),
            (ATC, "N01AX"),
        ] {
            assert_eq!(malformed(system, code), None, "{system} {code}");
        }
    }

    #[test]
    fn typos_are_caught() {
        assert!(malformed(SNOMED, "247398008").unwrap().contains("Verhoeff"));
        assert!(malformed(RXNORM, "5969A6").is_some());
        assert!(malformed(ICD10CM, "GO0.512").is_some());
        assert!(malformed(ICD10CM, "E11.").is_some());
        assert!(malformed(ATC, "N6AX21").is_some());
        assert_eq!(malformed("urn:local", "anything goes"), None);
    }
}
