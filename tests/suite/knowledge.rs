//! The knowledge artifacts in `profiles/`: no invented codes, the product map complete, broken
//! sets refused with file and problem, and a site's edits (local codes, thresholds, policy)
//! taking effect from a profiles directory without recompiling.

use std::path::Path;

use crate::common::*;
use ketamine_cds::call::{self, services};
use ketamine_cds::hooks::HookRequest;
use ketamine_cds::knowledge::Knowledge;
use serde_json::{Value, json};

const LOCAL: &str = "https://fhir.ketamine-cds.example/StructureDefinition/local-code";
const SOURCE: &str = "https://fhir.ketamine-cds.example/StructureDefinition/terminology-source";

fn profiles() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(repo().join("profiles"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), read_json(&p)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn product_rows() -> Vec<Vec<String>> {
    let tsv = std::fs::read_to_string(data().join("guideline/rxnorm-products.tsv")).unwrap();
    tsv.lines().skip(1).map(|l| l.split('\t').map(str::to_owned).collect()).collect()
}

/// Is `code` among the checked codes, alone or inside a range such as `G56.40–G56.43`?
fn in_terminology(terminology: &str, code: &str) -> bool {
    let is_code_char = |c: char| c.is_ascii_alphanumeric() || c == '.';
    let tokens: Vec<&str> =
        terminology.split(|c: char| !is_code_char(c) && c != '–').filter(|t| !t.is_empty()).collect();
    tokens.iter().any(|token| {
        if *token == code || *token == format!("{code}.x") || *token == format!("{code}x") {
            return true;
        }
        let Some((low, high)) = token.split_once('–') else { return false };
        let low = low.trim_end_matches('.');
        low.len() == code.len() && high.len() == code.len() && low <= code && code <= high && {
            let common = low.chars().zip(high.chars()).take_while(|(a, b)| a == b).count();
            code.starts_with(&low[..common])
        }
    })
}

#[test]
fn every_code_in_profiles_is_checked_in_terminology_or_the_product_table_or_marked_local() {
    let checked_codes = std::fs::read_to_string(data().join("guideline/checked-codes.txt")).unwrap();
    let terminology: String = checked_codes.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let products: std::collections::HashSet<String> = product_rows().into_iter().map(|r| r[0].clone()).collect();
    let own = "https://fhir.ketamine-cds.example/";
    let mut unknown = Vec::new();
    let mut checked = 0;
    for (file, resource) in profiles() {
        let mut check = |system: &str, code: &str, marked_local: bool| {
            if system.starts_with(own) || marked_local {
                return;
            }
            checked += 1;
            let rxnorm = system == "http://www.nlm.nih.gov/research/umls/rxnorm";
            if !(in_terminology(&terminology, code) || (rxnorm && products.contains(code))) {
                unknown.push(format!("{file}: {system} {code}"));
            }
        };
        for include in resource["compose"]["include"].as_array().into_iter().flatten() {
            let system = include["system"].as_str().unwrap_or_default();
            for concept in include["concept"].as_array().into_iter().flatten() {
                let local = concept["extension"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["url"] == LOCAL && e["valueBoolean"] == true);
                check(system, concept["code"].as_str().unwrap(), local);
            }
            for filter in include["filter"].as_array().into_iter().flatten() {
                let source = filter["extension"].as_array().into_iter().flatten().find(|e| e["url"] == SOURCE);
                let source = source.and_then(|e| e["valueString"].as_str()).unwrap_or_default();
                let cited: Vec<&str> = source
                    .split(|c: char| c.is_whitespace() || c == ',' || c == '/')
                    .filter(|t| t.chars().any(|c| c.is_ascii_digit()) && !t.ends_with("th"))
                    .collect();
                assert!(
                    !cited.is_empty() && cited.iter().all(|t| in_terminology(&terminology, t)),
                    "{file}: filter {filter} does not cite a checked range (tests/data/guideline/checked-codes.txt)"
                );
                if filter["op"] == "is-a" {
                    check(system, filter["value"].as_str().unwrap(), false);
                }
            }
        }
        if let Some(coding) = resource["productCodeableConcept"]["coding"].as_array() {
            for c in coding {
                check(c["system"].as_str().unwrap(), c["code"].as_str().unwrap(), false);
            }
        }
    }
    assert!(checked > 100, "only {checked} codes checked");
    assert!(
        unknown.is_empty(),
        "codes neither checked (tests/data/guideline/checked-codes.txt) nor in rxnorm-products.tsv:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn the_product_concept_map_holds_every_row_of_the_shared_product_table() {
    let (_, map) = profiles().into_iter().find(|(f, _)| f == "ConceptMap-rxnorm-products.json").unwrap();
    let mut pairs = std::collections::HashSet::new();
    for element in map["group"][0]["element"].as_array().unwrap() {
        for target in element["target"].as_array().unwrap() {
            pairs.insert((element["code"].as_str().unwrap().to_owned(), target["code"].as_str().unwrap().to_owned()));
        }
    }
    let rows = product_rows();
    assert!(rows.len() > 2400);
    let brand_names: std::collections::HashSet<&str> = map["group"][0]["element"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["extension"][0]["valueCode"] == "BN")
        .filter_map(|e| e["code"].as_str())
        .collect();
    for row in &rows {
        assert!(pairs.contains(&(row[0].clone(), row[3].clone())), "missing product {} → {}", row[0], row[3]);
        assert_eq!(
            row[1] == "BN",
            brand_names.contains(row[0].as_str()),
            "{} is marked BN exactly when it is one",
            row[0]
        );
    }
}

#[test]
fn the_embedded_knowledge_loads_with_its_classes_and_grades() {
    let k = knowledge();
    let classes: Vec<(&str, bool)> = k.plan.classes.iter().map(|c| (c.title.as_str(), c.required)).collect();
    assert_eq!(classes, [("SNRI", true), ("gabapentinoid", true), ("TCA", true), ("second-line agent", false)]);
    assert_eq!(k.plan.classes[2].min_daily_mg, Some(75.0));
    assert_eq!(k.plan.classes[0].statement.grade.as_ref().unwrap().display, "Level I, Grade A");
    assert_eq!(k.plan.contraindication_groups.len(), 6);
    // Every product of the 17 agents (methadone, carbamazepine, oxcarbazepine have no role yet).
    assert!(k.medications.code_count() > 2000, "{}", k.medications.code_count());
}

fn copy_profiles() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (file, resource) in profiles() {
        std::fs::write(dir.path().join(file), serde_json::to_string_pretty(&resource).unwrap()).unwrap();
    }
    dir
}

fn edit(dir: &Path, file: &str, change: impl FnOnce(&mut Value)) {
    let path = dir.join(file);
    let mut value = read_json(&path);
    change(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

fn load_errors(dir: &Path) -> String {
    let errors = Knowledge::from_dir(dir).expect_err("broken set refused");
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_file_that_is_not_json_is_refused_by_name() {
    let dir = copy_profiles();
    std::fs::write(dir.path().join("ValueSet-class-tca.json"), "{ not json").unwrap();
    let errors = load_errors(dir.path());
    assert!(errors.contains("ValueSet-class-tca.json") && errors.contains("not valid JSON"), "{errors}");
}

#[test]
fn a_schema_violation_is_refused_with_file_and_path() {
    let dir = copy_profiles();
    edit(dir.path(), "ValueSet-crps.json", |v| {
        v["compose"]["include"][0]["concept"][0]["code"] = json!(" bad code ");
    });
    let errors = load_errors(dir.path());
    assert!(errors.contains("ValueSet-crps.json at /compose/include/0/concept/0/code"), "{errors}");
    // In the editor's words, not the schema's regular expression.
    assert!(errors.contains("\" bad code \" has a space at its start or end"), "{errors}");
    assert!(!errors.contains("^[^"), "{errors}");
}

#[test]
fn a_set_missing_a_shipped_file_is_refused_as_incomplete_naming_the_file() {
    let dir = copy_profiles();
    std::fs::remove_file(dir.path().join("ValueSet-contraindication-hepatic.json")).unwrap();
    let errors = load_errors(dir.path());
    assert!(errors.contains("a site set must be a complete copy of profiles/"), "{errors}");
    assert!(errors.contains("1 of the shipped files are not here: ValueSet-contraindication-hepatic.json"), "{errors}");
}

#[test]
fn an_edited_url_is_reported_against_the_file_that_was_edited() {
    let dir = copy_profiles();
    edit(dir.path(), "ValueSet-class-snri.json", |v| {
        v["url"] = json!("https://fhir.ketamine-cds.example/ValueSet/class-snrii");
    });
    let errors = load_errors(dir.path());
    assert!(errors.contains("ValueSet-class-snri.json at /url: its url is"), "{errors}");
    assert!(
        errors.contains("names 'https://fhir.ketamine-cds.example/ValueSet/class-snri': was this url edited?"),
        "{errors}"
    );
    // A url far from any is still reported where it is named.
    let dir = copy_profiles();
    edit(dir.path(), "PlanDefinition-ketamine-step-therapy.json", |v| {
        let text = v.to_string().replace("ValueSet/contraindication-hepatic", "ValueSet/something-else-entirely");
        *v = serde_json::from_str(&text).unwrap();
    });
    let errors = load_errors(dir.path());
    assert!(errors.contains("PlanDefinition-ketamine-step-therapy.json"), "{errors}");
    assert!(errors.contains("ValueSet/something-else-entirely: no ValueSet with this url"), "{errors}");
}

#[test]
fn a_mistyped_code_system_is_warned_with_the_nearest_known_one_and_the_counts_show_the_drop() {
    let shipped = Knowledge::load_checked(None).unwrap().1;
    assert!(shipped.warnings.is_empty(), "the shipped set warns of nothing: {:?}", shipped.warnings);
    let dir = copy_profiles();
    edit(dir.path(), "ValueSet-agent-duloxetine.json", |v| {
        let text = v.to_string().replace("umls/rxnorm", "umls/rxnrom");
        *v = serde_json::from_str(&text).unwrap();
    });
    // It loads (a site may use any system)...
    let knowledge = Knowledge::from_dir(dir.path()).unwrap();
    let embedded = Knowledge::embedded().unwrap();
    assert!(knowledge.medications.code_count() < embedded.medications.code_count(), "duloxetine's codes stop matching");
    // ...and is warned of, with the system it was meant to be.
    let census = Knowledge::load_checked(Some(dir.path())).unwrap().1;
    assert_eq!(census.warnings.len(), 1, "{:?}", census.warnings);
    let w = &census.warnings[0];
    assert!(w.file.ends_with("ValueSet-agent-duloxetine.json") && w.path == "/compose/include/0/system");
    assert!(w.problem.contains("did you mean 'http://www.nlm.nih.gov/research/umls/rxnorm'?"), "{}", w.problem);
    assert_eq!(census.by_system.get("http://www.nlm.nih.gov/research/umls/rxnrom"), Some(&1));
    assert_eq!(
        census.by_value_set["ValueSet-agent-duloxetine.json"].get("http://www.nlm.nih.gov/research/umls/rxnorm"),
        None
    );
    // A local system marked local is not warned of.
    let dir = copy_profiles();
    edit(dir.path(), "ValueSet-agent-ketamine.json", |v| {
        v["compose"]["include"].as_array_mut().unwrap().push(json!({ "system": "urn:oid:1.2.3.4.5", "concept": [{
            "code": "KX-77", "display": "Ketamine infusion (local)",
            "extension": [{ "url": "https://fhir.ketamine-cds.example/StructureDefinition/local-code", "valueBoolean": true }]
        }]}));
    });
    assert!(Knowledge::load_checked(Some(dir.path())).unwrap().1.warnings.is_empty());
}

#[test]
fn a_site_modified_set_has_a_version_of_its_own() {
    let shipped = Knowledge::embedded().unwrap().version().to_owned();
    let copy = copy_profiles();
    assert_eq!(Knowledge::from_dir(copy.path()).unwrap().version(), shipped, "an exact copy is the shipped set");
    let edited = |threshold: u64| {
        let dir = copy_profiles();
        edit(dir.path(), "ValueSet-crps.json", |v| v["title"] = json!(format!("CRPS {threshold}")));
        Knowledge::from_dir(dir.path()).unwrap().version().to_owned()
    };
    let (one, other) = (edited(1), edited(2));
    assert!(one.starts_with(&format!("{shipped}+site.")), "{one}");
    assert_ne!(one, other, "two different edits are two versions");
    assert_eq!(one, edited(1), "the same edit is the same version");
}

#[test]
fn an_unknown_grade_is_refused() {
    let dir = copy_profiles();
    edit(dir.path(), "PlanDefinition-ketamine-step-therapy.json", |v| {
        v["action"][0]["action"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = json!("grade-z");
    });
    let errors = load_errors(dir.path());
    assert!(errors.contains("grade 'grade-z' is not in"), "{errors}");
}

#[test]
fn an_invalid_regex_filter_is_refused() {
    let dir = copy_profiles();
    edit(dir.path(), "ValueSet-neuropathic-pain.json", |v| {
        let includes = v["compose"]["include"].as_array_mut().unwrap();
        let last = includes.last_mut().unwrap();
        last["filter"][0]["value"] = json!("M54\\.1[0-8");
    });
    let errors = load_errors(dir.path());
    assert!(errors.contains("ValueSet-neuropathic-pain.json") && errors.contains("bad regex"), "{errors}");
}

fn cards_with(knowledge: &Knowledge, request: &Value) -> Vec<Value> {
    let service = services::service("ketamine-order-sign").unwrap();
    let request = HookRequest::from_value(request.clone()).unwrap();
    let response = call::answer_offline(service, request, knowledge, now()).unwrap();
    serde_json::to_value(response.response).unwrap()["cards"].as_array().cloned().unwrap()
}

#[test]
fn a_local_medication_code_added_to_a_profiles_directory_is_recognised() {
    let mut request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    let order = &mut request["context"]["draftOrders"]["entry"][0]["resource"];
    order["medicationCodeableConcept"] =
        json!({ "coding": [{ "system": "urn:oid:1.2.3.4.5", "code": "KX-77", "display": "NMDA infusion protocol" }] });
    assert!(cards_with(knowledge(), &request).is_empty(), "unknown local code: silent");
    let dir = copy_profiles();
    edit(dir.path(), "ValueSet-agent-ketamine.json", |v| {
        v["compose"]["include"].as_array_mut().unwrap().push(json!({
            "system": "urn:oid:1.2.3.4.5",
            "concept": [{ "code": "KX-77", "display": "NMDA infusion protocol (local)",
                          "extension": [{ "url": LOCAL, "valueBoolean": true }] }] }));
    });
    let site = Knowledge::from_dir(dir.path()).expect("site profiles load");
    let cards = cards_with(&site, &request);
    assert_eq!(cards.len(), 1);
    assert_eq!(
        cards[0]["summary"],
        "Ketamine for neuropathic pain: no documented failure of SNRI, gabapentinoid and TCA"
    );
}

/// The extension of a PlanDefinition action whose URL ends with `name`.
fn extension_named<'a>(action: &'a mut Value, name: &str) -> &'a mut Value {
    let extensions = action["extension"].as_array_mut().unwrap();
    extensions.iter_mut().find(|e| e["url"].as_str().unwrap().ends_with(name)).unwrap()
}

#[test]
fn a_site_can_lower_the_tca_threshold_and_require_second_line() {
    let request = read_json(&repo().join("examples/hooks/04-inadequate-tca-trial.json"));
    assert_eq!(
        cards_with(knowledge(), &request)[0]["summary"],
        "Ketamine for neuropathic pain: no documented failure of TCA"
    );
    let dir = copy_profiles();
    edit(dir.path(), "PlanDefinition-ketamine-step-therapy.json", |v| {
        let classes = v["action"][0]["action"].as_array_mut().unwrap();
        extension_named(&mut classes[2], "/minimum-daily-dose")["valueQuantity"]["value"] = json!(25);
        extension_named(&mut classes[3], "/required")["valueBoolean"] = json!(true);
    });
    let site = Knowledge::from_dir(dir.path()).expect("site profiles load");
    let cards = cards_with(&site, &request);
    assert_eq!(cards[0]["summary"], "Ketamine for neuropathic pain: no documented failure of second-line agent");
}
