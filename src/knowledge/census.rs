//! What a profiles set holds, for `check-profiles`: the codes per code system and per value set
//! (so that a drop after an edit is visible), warnings for code systems the rules do not know
//! (a typo in a system URL silently stops its codes from matching), the nearest known name for a
//! mistyped one, and whether the set is the shipped one or a site's edit of it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::KnowledgeError;
use super::artifacts::Artifacts;
use super::concepts::ICD10CM;
use super::lint::{ATC, SNOMED};
use super::medications::RXNORM;

/// The extension that marks a code (or an include) as the site's own.
pub const LOCAL_CODE: &str = "https://fhir.ketamine-cds.example/StructureDefinition/local-code";

/// Code systems the rules read by name.
const KNOWN_SYSTEMS: [&str; 5] = [RXNORM, ATC, SNOMED, ICD10CM, "http://unitsofmeasure.org"];

/// Prefixes of code systems that are known whole: HL7's terminologies, FHIR's own, the project's.
const KNOWN_PREFIXES: [&str; 3] =
    ["http://terminology.hl7.org/", "http://hl7.org/fhir/", "https://fhir.ketamine-cds.example/"];

fn known(system: &str) -> bool {
    KNOWN_SYSTEMS.contains(&system) || KNOWN_PREFIXES.iter().any(|p| system.starts_with(p))
}

/// The candidate nearest to `text`, when it is near enough to be a typo of it.
pub fn nearest<'a>(text: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let (best, distance) = candidates.into_iter().map(|c| (c, strsim::levenshtein(text, c))).min_by_key(|(_, d)| *d)?;
    (distance > 0 && distance <= (text.len() / 8).max(3)).then_some(best)
}

fn is_local(value: &Value) -> bool {
    value["extension"].as_array().into_iter().flatten().any(|e| e["url"] == LOCAL_CODE)
}

/// Codes of a profiles set, by system and by value set.
#[derive(Debug, Clone, Default)]
pub struct Census {
    /// Codes (concepts and filters) per code system, every file.
    pub by_system: BTreeMap<String, usize>,
    /// Per value set file: its codes per code system.
    pub by_value_set: BTreeMap<String, BTreeMap<String, usize>>,
    /// Code systems neither known nor marked local, with a hint.
    pub warnings: Vec<KnowledgeError>,
}

/// Counts the codes and checks their systems.
pub fn census(artifacts: &Artifacts) -> Census {
    let mut census = Census::default();
    let mut sorted: Vec<_> = artifacts.by_url.values().collect();
    sorted.sort_by(|a, b| a.file.cmp(&b.file));
    for artifact in sorted {
        let r = &artifact.resource;
        let name = artifact.file.rsplit('/').next().unwrap_or(&artifact.file).to_owned();
        for (i, include) in r["compose"]["include"].as_array().into_iter().flatten().enumerate() {
            let Some(system) = include["system"].as_str() else { continue };
            let concepts = include["concept"].as_array().map_or(0, Vec::len);
            let codes = concepts + include["filter"].as_array().map_or(0, Vec::len);
            *census.by_system.entry(system.to_owned()).or_default() += codes;
            *census.by_value_set.entry(name.clone()).or_default().entry(system.to_owned()).or_default() += codes;
            let local = is_local(include)
                || (concepts > 0 && include["concept"].as_array().into_iter().flatten().all(is_local));
            if !known(system) && !local {
                let hint = match nearest(system, KNOWN_SYSTEMS) {
                    Some(near) => format!("; did you mean '{near}'?"),
                    None => "; mark the site's own codes with the local-code extension".to_owned(),
                };
                census.warnings.push(KnowledgeError::new(
                    &artifact.file,
                    format!("/compose/include/{i}/system"),
                    format!(
                        "code system '{system}' ({codes} code(s)) is not one the rules use, nor marked local: \
                         its codes match nothing the EHR sends under the real system{hint}"
                    ),
                ));
            }
        }
        for (g, group) in r["group"].as_array().into_iter().flatten().enumerate() {
            for side in ["source", "target"] {
                let Some(system) = group[side].as_str() else { continue };
                if !known(system) {
                    let hint =
                        nearest(system, KNOWN_SYSTEMS).map(|n| format!("; did you mean '{n}'?")).unwrap_or_default();
                    census.warnings.push(KnowledgeError::new(
                        &artifact.file,
                        format!("/group/{g}/{side}"),
                        format!("code system '{system}' is not one the rules use{hint}"),
                    ));
                }
            }
        }
    }
    census
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_system_gets_the_nearest_known_one_and_a_far_one_none() {
        assert_eq!(nearest("http://www.nlm.nih.gov/research/umls/rxnrom", KNOWN_SYSTEMS), Some(RXNORM));
        assert_eq!(nearest("http://snomed.info/sctt", KNOWN_SYSTEMS), Some(SNOMED));
        assert_eq!(nearest("urn:oid:1.2.3.4.5", KNOWN_SYSTEMS), None);
        assert_eq!(nearest(RXNORM, KNOWN_SYSTEMS), None, "a known one is no typo");
        assert!(known("http://terminology.hl7.org/CodeSystem/v3-ActCode") && known(ICD10CM));
    }
}
