//! The example library (`examples/hooks/`): each hook request's exact response is checked in
//! beside it (`NAME.response.json`), and the same answer must come from the library and from the
//! running server. `UPDATE_EXAMPLES=1 cargo test --test examples` rewrites the expected files
//! after a deliberate change; review the diff before committing it.

use std::path::PathBuf;

use crate::common::*;
use serde_json::Value;

fn example_requests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("examples/hooks"))
        .expect("examples/hooks exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.to_string_lossy().ends_with(".response.json"))
        .collect();
    files.sort();
    files
}

fn expected_path(request: &std::path::Path) -> PathBuf {
    request.with_extension("response.json")
}

#[test]
fn there_are_at_least_fifteen_examples_and_the_readme_lists_each() {
    let files = example_requests();
    assert!(files.len() >= 15, "only {} examples", files.len());
    let readme = std::fs::read_to_string(repo().join("examples/README.md")).expect("examples/README.md");
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(readme.contains(&name), "examples/README.md does not list {name}");
    }
}

#[test]
fn every_example_gives_its_checked_in_response() {
    let update = std::env::var("UPDATE_EXAMPLES").is_ok_and(|v| v == "1");
    let mut drifted = Vec::new();
    for file in example_requests() {
        let response = evaluate(&read_json(&file)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_valid_response(&response);
        let expected_file = expected_path(&file);
        if update {
            let text = serde_json::to_string_pretty(&response).unwrap() + "\n";
            std::fs::write(&expected_file, text).unwrap();
            continue;
        }
        let expected = read_json(&expected_file);
        if expected != response {
            drifted.push(format!(
                "{}: response drifted from {}\n--- got:\n{response:#}",
                file.display(),
                expected_file.display()
            ));
        }
    }
    assert!(drifted.is_empty(), "{}", drifted.join("\n\n"));
}

#[test]
fn the_same_call_gives_byte_identical_responses() {
    for file in example_requests() {
        let request = read_json(&file);
        let a = serde_json::to_string(&evaluate(&request).unwrap()).unwrap();
        let b = serde_json::to_string(&evaluate(&request).unwrap()).unwrap();
        assert_eq!(a, b, "{}", file.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_posted_to_the_server_gives_its_checked_in_response() {
    let server = TestServer::start();
    let client = client();
    for file in example_requests() {
        let request = read_json(&file);
        let service = service_for(request["hook"].as_str().unwrap());
        let response = client
            .post(format!("{}/cds-services/{service}", server.base))
            .json(&request)
            .send()
            .await
            .expect("server answers");
        assert_eq!(response.status(), 200, "{}", file.display());
        let body: Value = response.json().await.expect("JSON body");
        // The server reads the real clock; the examples are dated so that "now" does not matter.
        assert_eq!(body, read_json(&expected_path(&file)), "{}", file.display());
    }
}

/// Words a reader reads: whitespace-separated tokens with a letter or digit (markdown marks,
/// dashes and bullets alone are not words).
fn words(text: &str) -> usize {
    text.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count()
}

#[test]
fn every_shipped_step_therapy_detail_is_at_most_120_words_and_every_label_at_most_80_characters() {
    let mut measured = 0;
    for file in example_requests() {
        let response = read_json(&expected_path(&file));
        for card in response["cards"].as_array().into_iter().flatten() {
            for label in card["suggestions"].as_array().into_iter().flatten().filter_map(|s| s["label"].as_str()) {
                assert!(
                    label.chars().count() <= 80,
                    "{}: label of {} characters: {label}",
                    file.display(),
                    label.len()
                );
            }
            if card["extension"]["ketamine-cds-card"]["kind"] != "step-therapy" {
                continue;
            }
            let detail = card["detail"].as_str().unwrap_or_default();
            assert!(words(detail) <= 120, "{}: {} words:\n{detail}", file.display(), words(detail));
            measured += 1;
        }
    }
    assert!(measured >= 10, "only {measured} step-therapy cards measured");
    assert_eq!(words("**Risks**: psychedelic effects — a, b.\n- **SNRI — x**"), 7);
}

/// Epic's rules for a card, from its public CDS Hooks documentation: `selectionBehavior: any`,
/// one action per suggestion with a uuid and label, the action description saying what is ordered,
/// RxNorm also under its OID, a stable alphanumeric topic code, markdown detail marked.
fn assert_epic_card(card: &Value, generic: &Value, file: &std::path::Path) {
    let at = file.display();
    let topic = card["source"]["topic"]["code"].as_str().unwrap_or_default();
    assert!(
        !topic.is_empty() && topic.len() <= 100 && topic.chars().all(|c| c.is_ascii_alphanumeric()),
        "{at}: {topic}"
    );
    let expected_topic = match generic["source"]["topic"]["code"].as_str() {
        Some("ketamine-step-therapy") => "KetamineStepTherapy",
        Some("ketamine-contraindication") => "KetamineContraindication",
        Some("ketamine-monitoring") => "KetamineMonitoring",
        other => panic!("{at}: unknown topic {other:?}"),
    };
    assert_eq!(topic, expected_topic, "{at}: the same card, the same topic");
    assert_eq!(card["extension"]["com.epic.cdshooks.card.detail.content-type"], "text/markdown", "{at}");
    assert_eq!(
        card["extension"]["ketamine-cds-card"], generic["extension"]["ketamine-cds-card"],
        "{at}: facts unchanged"
    );
    assert!(!card["uuid"].as_str().unwrap_or_default().is_empty(), "{at}");
    let suggestions = card["suggestions"].as_array().cloned().unwrap_or_default();
    if suggestions.is_empty() {
        assert!(card.get("selectionBehavior").is_none(), "{at}");
        return;
    }
    assert_eq!(card["selectionBehavior"], "any", "{at}");
    let mut creates = 0;
    let mut deletes = 0;
    for s in &suggestions {
        assert!(
            !s["uuid"].as_str().unwrap_or_default().is_empty() && !s["label"].as_str().unwrap_or_default().is_empty(),
            "{at}: {s}"
        );
        let actions = s["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 1, "{at}: one action per suggestion: {s}");
        let description = actions[0]["description"].as_str().unwrap_or_default();
        match actions[0]["type"].as_str() {
            Some("create") => {
                creates += 1;
                // What the clinician reads: the agent, dose, frequency, class and grade.
                assert!(
                    description.contains(" mg ") && description.contains('(') && description.contains(", "),
                    "{at}: {description}"
                );
                let codings = actions[0]["resource"]["medicationCodeableConcept"]["coding"].as_array().unwrap();
                assert!(codings.iter().any(|c| c["system"] == "urn:oid:2.16.840.1.113883.6.88"), "{at}: {codings:?}");
                assert!(codings.iter().any(|c| c["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"), "{at}");
            }
            Some("delete") => {
                deletes += 1;
                assert_eq!(description, "Remove the ketamine order", "{at}");
                assert!(
                    actions[0]["resourceId"].as_str().unwrap_or_default().starts_with("MedicationRequest/"),
                    "{at}"
                );
            }
            other => panic!("{at}: action {other:?}"),
        }
    }
    let generic_suggestions = generic["suggestions"].as_array().unwrap();
    assert_eq!(creates, generic_suggestions.len(), "{at}: one create per first-line agent the card suggests");
    // One delete per examined ketamine draft; on chart open the order is signed: none.
    let expected_deletes = usize::from(!at.to_string().contains("patient-view"));
    assert_eq!(deletes, expected_deletes, "{at}: one delete per examined ketamine draft");
    let recommended = |list: &[Value]| -> Vec<String> {
        list.iter().filter(|s| s["isRecommended"] == true).map(|s| s["uuid"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(
        recommended(&suggestions),
        recommended(generic_suggestions),
        "{at}: the recommended create keeps its uuid"
    );
}

#[test]
fn every_card_of_every_example_passes_epics_rules_when_epic_calls() {
    let mut checked = 0;
    for file in example_requests() {
        let mut request = read_json(&file);
        let generic = read_json(&expected_path(&file));
        // Epic tells itself by its request extension.
        request["extension"] = serde_json::json!({ "com.epic.cdshooks.request.bpa-trigger-action": "23",
                                                   "com.epic.cdshooks.request.fhir-version": "R4" });
        let epic = evaluate(&request).expect("answered");
        let (cards, generic_cards) = (epic["cards"].as_array().unwrap(), generic["cards"].as_array().unwrap());
        assert_eq!(cards.len(), generic_cards.len(), "{}", file.display());
        for (card, generic) in cards.iter().zip(generic_cards) {
            assert_eq!((&card["summary"], &card["detail"]), (&generic["summary"], &generic["detail"]));
            assert_epic_card(card, generic, &file);
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} cards");
}
