//! Clinical rules §1: which orders are examined (docs/clinical-rules.md).

use super::*;

#[test]
fn untreated_patient_gets_a_step_therapy_warning_naming_every_class() {
    let card = Case::sign().step_card();
    assert_eq!(card["indicator"], "warning");
    assert_eq!(card["summary"], "Ketamine for neuropathic pain: no documented failure of SNRI, gabapentinoid and TCA");
    assert!(card["summary"].as_str().unwrap().chars().count() < 140);
    for class in ["SNRI", "Gabapentinoid", "TCA"] {
        assert!(class_line(&card, class).contains("not documented"), "{class}");
    }
    assert!(class_line(&card, "SNRI").contains("(Level I, Grade A)"));
    assert!(class_line(&card, "TCA").contains("(strong recommendation)"));
}

#[test]
fn non_ketamine_order_is_silent_and_needs_no_prefetch() {
    let mut body = Case::sign().drafts(vec![draft("d1", code(RX, "596930", "duloxetine 30 MG"))]).body();
    body.as_object_mut().unwrap().remove("prefetch");
    assert_eq!(evaluate(&body).unwrap(), json!({ "cards": [] }));
}

#[test]
fn ketamine_is_recognised_by_ingredient_product_atc_and_name() {
    for medication in [
        code(RX, "6130", "ketamine"),
        code(RX, "238084", "ketamine 50 MG/ML Injectable Solution"),
        code(RX, "203184", "ketamine hydrochloride"),
        code(ATC, "N01AX03", "ketamine"),
        code("urn:local:formulary", "K-50", "KETAMINE HCL 50 MG/ML INJ"),
        text("Ketamine 10 mg/mL infusion"),
    ] {
        let cards = Case::sign().drafts(vec![draft("k1", medication.clone())]).cards();
        assert_eq!(topics(&cards), ["ketamine-step-therapy"], "{medication}");
    }
}

#[test]
fn nortriptyline_named_in_text_is_not_a_ketamine_order() {
    let cards = Case::sign().drafts(vec![draft("x", text("Nortriptyline 25 mg capsule"))]).cards();
    assert!(cards.is_empty());
}

#[test]
fn ketamine_via_contained_medication_reference_is_examined() {
    let mut order = ketamine_draft();
    order.as_object_mut().unwrap().remove("medicationCodeableConcept");
    order["medicationReference"] = json!({ "reference": "#m" });
    order["contained"] =
        json!([{ "resourceType": "Medication", "id": "m", "code": code(RX, "238082", "ketamine 10 MG/ML") }]);
    assert_eq!(topics(&Case::sign().drafts(vec![order]).cards()), ["ketamine-step-therapy"]);
}

#[test]
fn ketamine_via_medication_in_the_draft_bundle_is_examined() {
    let mut order = ketamine_draft();
    order.as_object_mut().unwrap().remove("medicationCodeableConcept");
    order["medicationReference"] = json!({ "reference": "Medication/km" });
    let medication = json!({ "resourceType": "Medication", "id": "km", "code": code(RX, "206972", "Ketalar 50 MG/ML Injectable Solution") });
    let card = Case::sign().drafts(vec![order, medication]).step_card();
    assert_eq!(card["indicator"], "warning");
}

#[test]
fn cancelled_entered_in_error_and_completed_ketamine_orders_are_not_examined() {
    for status in ["cancelled", "entered-in-error", "completed"] {
        let order = with(ketamine_draft(), "status", json!(status));
        assert!(Case::sign().drafts(vec![order]).cards().is_empty(), "{status}");
    }
}

#[test]
fn order_select_examines_only_the_selected_orders() {
    let mut case = Case::select().drafts(vec![ketamine_draft(), draft("d1", code(RX, "596930", "duloxetine 30 MG"))]);
    case.selections = Some(vec!["MedicationRequest/d1".into()]);
    assert!(case.cards().is_empty());
    case.selections = Some(vec!["MedicationRequest/k1".into()]);
    assert_eq!(topics(&case.cards()), ["ketamine-step-therapy"]);
}

#[test]
fn a_duloxetine_draft_of_the_same_session_is_not_a_prior_trial() {
    let duloxetine_draft = with(draft("d1", code(RX, "72625", "duloxetine")), "status", json!("active"));
    let card = Case::sign().drafts(vec![ketamine_draft(), duloxetine_draft]).step_card();
    assert!(class_line(&card, "SNRI").contains("not documented"));
}

#[test]
fn two_ketamine_drafts_on_order_sign_get_a_card_each_with_distinct_uuids() {
    let cards = Case::sign().drafts(vec![ketamine_draft(), draft("k2", text("ketamine oral solution"))]).cards();
    assert_eq!(topics(&cards), ["ketamine-step-therapy", "ketamine-step-therapy"]);
    assert_ne!(cards[0]["uuid"], cards[1]["uuid"]);
    assert_eq!(cards[1]["suggestions"][0]["actions"][0]["resourceId"], "MedicationRequest/k2");
}

/// A ketamine draft coded by reference to a Medication that only the prefetch carries (the
/// `_include`d Medication of the MedicationRequest search).
fn ketamine_draft_referencing(reference: &str) -> Value {
    let mut order = ketamine_draft();
    order.as_object_mut().unwrap().remove("medicationCodeableConcept");
    order["medicationReference"] = json!({ "reference": reference });
    order
}

fn included_ketamine_medication() -> Value {
    json!({ "resourceType": "Medication", "id": "med-k", "code": code(RX, "238084", "ketamine 50 MG/ML Injectable Solution") })
}

#[test]
fn ketamine_via_a_medication_only_in_prefetch_is_examined_on_both_hooks() {
    for reference in ["Medication/med-k", "https://ehr.example/fhir/Medication/med-k"] {
        let case = Case::sign()
            .drafts(vec![ketamine_draft_referencing(reference)])
            .history(vec![included_ketamine_medication()]);
        assert_eq!(topics(&case.cards()), ["ketamine-step-therapy"], "order-sign, {reference}");
        let select = Case { hook: "order-select", ..case };
        assert_eq!(topics(&select.cards()), ["ketamine-step-therapy"], "order-select, {reference}");
        let assessed = select.assess();
        assert_eq!(assessed.len(), 1);
        assert_eq!(assessed[0].order_ref.as_deref(), Some("MedicationRequest/k1"));
    }
}

#[test]
fn a_referenced_medication_found_nowhere_with_the_prefetch_present_is_no_ketamine_order() {
    let case = Case::sign().drafts(vec![ketamine_draft_referencing("Medication/elsewhere")]);
    assert!(case.cards().is_empty());
}

#[test]
fn a_referenced_medication_that_only_missing_prefetch_could_hold_is_a_412() {
    let mut body = Case::sign().drafts(vec![ketamine_draft_referencing("Medication/med-k")]).body();
    body.as_object_mut().unwrap().remove("prefetch");
    match evaluate(&body) {
        Err(ketamine_cds::hooks::HookError::MissingData(keys)) => {
            let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
            assert!(names.contains(&"medicationRequests"), "{names:?}");
        }
        other => panic!("expected a 412, got {other:?}"),
    }
}
