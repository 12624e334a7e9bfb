//! Clinical rules §4 on chart open (`patient-view`, the `ketamine-patient-view` service): the
//! patient's running ketamine orders are examined with the same rules; an unbacked one gets the
//! step-therapy card whose suggestions only create first-line orders; a backed one gets nothing;
//! a relative contraindication gets its card; the same card is the same card on every chart open.

use super::*;

/// The case's call as a chart open: no drafts; `orders` are the patient's MedicationRequests.
fn chart_open(case: &Case, orders: Vec<Value>, hook_instance: &str) -> Value {
    let mut body = case.body();
    body["hook"] = json!("patient-view");
    body["hookInstance"] = json!(hook_instance);
    let context = body["context"].as_object_mut().unwrap();
    context.remove("draftOrders");
    context.remove("selections");
    let mut requests = case.requests.clone();
    requests.extend(orders);
    body["prefetch"]["medicationRequests"] = bundle(&requests);
    body
}

fn running(status: &str) -> Value {
    with(with(ketamine_draft(), "status", json!(status)), "authoredOn", json!("2026-11-02"))
}

fn cards_of_every_version(body: &Value) -> Vec<Value> {
    let cards = cards_of(body);
    for version in fhir_versions::OTHER_VERSIONS {
        let Ok(written) = fhir_versions::write_request(version, body) else { continue };
        let told = fhir_versions::told(version, &written, body);
        fhir_versions::assert_same_cards(told, &cards, &cards_of(&written));
    }
    cards
}

#[test]
fn a_running_unbacked_ketamine_order_gets_the_warning_whose_suggestions_only_create() {
    for status in ["active", "on-hold"] {
        let cards = cards_of_every_version(&chart_open(&Case::sign(), vec![running(status)], "pv-1"));
        assert_eq!(topics(&cards), ["ketamine-step-therapy"], "{status}");
        let card = &cards[0];
        assert_eq!(
            card["summary"],
            "Ketamine for neuropathic pain: no documented failure of SNRI, gabapentinoid and TCA"
        );
        assert!(
            card["detail"]
                .as_str()
                .unwrap()
                .contains("**Signed order**: This ketamine order is already signed: review it")
        );
        for s in card["suggestions"].as_array().unwrap() {
            let kinds: Vec<&str> =
                s["actions"].as_array().unwrap().iter().map(|a| a["type"].as_str().unwrap()).collect();
            assert_eq!(kinds, ["create"], "no delete of a signed order: {s}");
        }
        assert_eq!(card["suggestions"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn orders_that_are_not_running_are_not_examined_on_chart_open() {
    for status in ["draft", "completed", "stopped", "cancelled", "entered-in-error"] {
        assert!(cards_of(&chart_open(&Case::sign(), vec![running(status)], "pv-1")).is_empty(), "{status}");
    }
    let not_to_give = with(running("active"), "doNotPerform", json!(true));
    assert!(cards_of(&chart_open(&Case::sign(), vec![not_to_give], "pv-1")).is_empty());
    assert!(cards_of(&chart_open(&Case::sign(), vec![], "pv-1")).is_empty(), "no ketamine order: silent");
}

#[test]
fn a_backed_order_gets_nothing_on_chart_open_and_a_contraindication_its_card() {
    let backed = Case::sign().all_first_line_failed();
    assert!(cards_of(&chart_open(&backed, vec![running("active")], "pv-1")).is_empty(), "no info card on chart open");
    let with_hf = backed.conditions(vec![pdn(), condition(ICD, "I50.22", "Chronic systolic heart failure")]);
    assert_eq!(
        topics(&cards_of(&chart_open(&with_hf, vec![running("active")], "pv-1"))),
        ["ketamine-contraindication"]
    );
    let not_in_scope = Case::sign().conditions(vec![condition(ICD, "J06.9", "Acute upper respiratory infection")]);
    assert!(cards_of(&chart_open(&not_in_scope, vec![running("active")], "pv-1")).is_empty());
}

#[test]
fn the_same_card_on_every_chart_open_until_the_class_statuses_change() {
    let first = cards_of(&chart_open(&Case::sign(), vec![running("active")], "pv-1"));
    let again = cards_of(&chart_open(&Case::sign(), vec![running("active")], "pv-2"));
    assert_eq!(first[0]["uuid"], again[0]["uuid"], "another chart open, the same card");
    assert_eq!(first[0]["suggestions"][0]["uuid"], again[0]["suggestions"][0]["uuid"]);
    let changed = Case::sign().history(vec![duloxetine_failed()]);
    let after = cards_of(&chart_open(&changed, vec![running("active")], "pv-3"));
    assert_ne!(first[0]["uuid"], after[0]["uuid"], "new evidence, a new card");
}

#[test]
fn a_chart_open_without_the_patients_data_is_a_412_as_for_the_order_hooks() {
    let mut body = chart_open(&Case::sign(), vec![running("active")], "pv-1");
    body["prefetch"].as_object_mut().unwrap().remove("medicationRequests");
    assert!(matches!(evaluate(&body), Err(ketamine_cds::hooks::HookError::MissingData(_))));
}
