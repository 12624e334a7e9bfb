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
fn two_ketamine_drafts_get_one_card_naming_both_whose_suggestions_replace_both() {
    let cards = Case::sign().drafts(vec![ketamine_draft(), draft("k2", text("ketamine oral solution"))]).cards();
    assert_eq!(topics(&cards), ["ketamine-step-therapy"], "one step-therapy card per call");
    let card = &cards[0];
    let detail = card["detail"].as_str().unwrap();
    assert!(detail.contains("\n\n**Orders**: ketamine; ketamine oral solution, for "), "{detail}");
    assert_eq!(
        card["extension"]["ketamine-cds-card"]["orders"],
        json!(["MedicationRequest/k1", "MedicationRequest/k2"])
    );
    let suggestions = card["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 3, "one first-line order per class, not one per draft");
    for s in suggestions {
        let actions = s["actions"].as_array().unwrap();
        let kinds: Vec<&str> = actions.iter().map(|a| a["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["create", "delete", "delete"], "{s}");
        assert_eq!(actions[1]["resourceId"], "MedicationRequest/k1");
        assert_eq!(actions[2]["resourceId"], "MedicationRequest/k2");
        assert_eq!(actions[2]["description"], "Remove the ketamine order (ketamine oral solution)");
    }
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

#[test]
fn brand_names_name_their_ingredient_in_text() {
    for (medication, topic) in [
        ("Ketalar 50 mg/mL vial", "ketamine-step-therapy"),
        ("KETAMINE50MG/ML INJ", "ketamine-step-therapy"),
        ("Ketamine-HCl 10mg/ml", "ketamine-step-therapy"),
    ] {
        let cards = Case::sign().drafts(vec![draft("k1", text(medication))]).cards();
        assert_eq!(topics(&cards), [topic], "{medication}");
    }
    // A prior trial named by its brand counts for its ingredient's class.
    let cymbalta = request("c", text("Cymbalta 60 mg capsule"), "stopped", Some(no_response()), None);
    let lyrica = request("l", text("LYRICA 75MG CAP"), "stopped", Some(intolerance()), None);
    let elavil = request("e", text("Elavil 25 mg tablet"), "stopped", Some(intolerance()), None);
    let order = &Case::sign().history(vec![cymbalta, lyrica, elavil]).assess()[0];
    let failed: Vec<ClassStatus> = order.classes.iter().take(3).map(|c| c.status).collect();
    assert_eq!(failed, [ClassStatus::Failed; 3]);
}

#[test]
fn s_ketamine_names_esketamine_not_ketamine() {
    let assessed = Case::sign().drafts(vec![draft("e1", text("S-ketamine 25 mg/mL injection"))]).assess();
    assert_eq!(knowledge().medications.agent(assessed[0].agent).name, "esketamine");
}

#[test]
fn a_compounded_gel_coded_as_its_amitriptyline_is_still_a_ketamine_order() {
    let gel =
        json!({ "coding": [{ "system": RX, "code": "704" }], "text": "ketamine 5% / amitriptyline 2% / baclofen gel" });
    let assessed = Case::sign().drafts(vec![draft("g1", gel)]).assess();
    assert_eq!(assessed.len(), 1, "examined");
    assert_eq!(knowledge().medications.agent(assessed[0].agent).name, "ketamine");
}

#[test]
fn a_medication_is_recognised_by_its_ingredients() {
    let mut order = ketamine_draft();
    order.as_object_mut().unwrap().remove("medicationCodeableConcept");
    order["medicationReference"] = json!({ "reference": "#compounded" });
    order["contained"] = json!([{ "resourceType": "Medication", "id": "compounded",
        "code": { "coding": [{ "system": "urn:oid:1.2.3.4.5", "code": "CMP-12", "display": "Compounded infusion" }] },
        "ingredient": [{ "itemCodeableConcept": code(RX, "6130", "ketamine") }, { "itemCodeableConcept": { "text": "midazolam" } }] }]);
    assert_eq!(topics(&Case::sign().drafts(vec![order]).cards()), ["ketamine-step-therapy"]);
}

// Revision 3 (§1).

#[test]
fn an_order_not_to_give_ketamine_is_not_examined() {
    let not_ketamine = with(ketamine_draft(), "doNotPerform", json!(true));
    assert!(Case::sign().drafts(vec![not_ketamine.clone()]).cards().is_empty());
    assert!(Case::sign().drafts(vec![not_ketamine]).assess().is_empty(), "no order is examined");
    let explicit_false = with(ketamine_draft(), "doNotPerform", json!(false));
    assert_eq!(Case::sign().drafts(vec![explicit_false]).step_card()["indicator"], "warning");
}

#[test]
fn an_order_not_to_give_a_first_line_agent_is_no_trial_of_it() {
    let not_duloxetine = with(duloxetine_failed(), "doNotPerform", json!(true));
    let card = Case::sign().history(vec![not_duloxetine]).step_card();
    assert!(class_line(&card, "SNRI").contains("not documented"), "{}", class_line(&card, "SNRI"));
}

/// A compounded order: a Medication contained in the order whose ingredient `itemReference`
/// points to `item` (a sibling `#ing-ket`, or a Medication of the prefetch).
fn compounded_draft(item: &str, contained_ketamine: bool) -> Value {
    let mut contained =
        vec![json!({ "resourceType": "Medication", "id": "compound", "code": text("Compounded infusion"),
        "ingredient": [{ "itemReference": { "reference": item } },
                       { "itemCodeableConcept": code(RX, "4337", "fentanyl") }] })];
    if contained_ketamine {
        contained.push(json!({ "resourceType": "Medication", "id": "ing-ket", "code": ketamine() }));
    }
    json!({ "resourceType": "MedicationRequest", "id": "k1", "status": "draft", "intent": "order",
            "subject": { "reference": format!("Patient/{PID}") }, "contained": contained,
            "medicationReference": { "reference": "#compound" } })
}

#[test]
fn a_compounded_order_whose_ingredient_references_a_sibling_contained_medication_is_a_ketamine_order() {
    let card = Case::sign().drafts(vec![compounded_draft("#ing-ket", true)]).step_card();
    assert_eq!(card["summary"], "Ketamine for neuropathic pain: no documented failure of SNRI, gabapentinoid and TCA");
    assert_eq!(card["extension"]["ketamine-cds-card"]["orders"], json!(["MedicationRequest/k1"]));
}

#[test]
fn a_compounded_order_whose_ingredient_is_only_in_prefetch_is_a_ketamine_order() {
    let ketamine_medication = json!({ "resourceType": "Medication", "id": "ket-bulk", "code": ketamine() });
    let mut case = Case::sign().drafts(vec![compounded_draft("Medication/ket-bulk", false)]);
    case.requests.push(ketamine_medication);
    assert_eq!(case.step_card()["indicator"], "warning");
    // The same order without that prefetch is not known to be ketamine until it is read: a 412.
    let mut body = Case::sign().drafts(vec![compounded_draft("Medication/ket-bulk", false)]).body();
    body["prefetch"].as_object_mut().unwrap().remove("medicationRequests");
    assert!(evaluate(&body).is_err(), "the ingredient may be in the missing prefetch");
}

#[test]
fn an_order_reason_contained_in_the_order_is_its_indication() {
    let reason = |c: Value| {
        let condition = json!({ "resourceType": "Condition", "id": "why", "code": c,
                                "subject": { "reference": format!("Patient/{PID}") } });
        let order = with(ketamine_draft(), "contained", json!([condition]));
        with(order, "reasonReference", json!([{ "reference": "#why" }]))
    };
    // Trigeminal neuralgia on the order, an empty problem list: the guideline speaks.
    let trigeminal = reason(code(ICD, "G50.0", "Trigeminal neuralgia"));
    let card = Case::sign().conditions(vec![]).drafts(vec![trigeminal]).step_card();
    assert!(card["detail"].as_str().unwrap().contains("for Trigeminal neuralgia (reason on the order)"), "{card}");
    // Depression on the order: silent, whatever the problem list says.
    let depression = reason(code(ICD, "F33.1", "Major depressive disorder, recurrent, moderate"));
    assert!(Case::sign().drafts(vec![depression]).cards().is_empty());
    // A contained reason is the order's, not a problem-list entry of the patient's.
    let only_contained = reason(code(ICD, "G50.0", "Trigeminal neuralgia"));
    let other = with(draft("k2", ketamine()), "reasonCode", json!([text("unrecognised")]));
    let mut case = Case::select().conditions(vec![]).drafts(vec![only_contained, other]);
    case.selections = Some(vec!["MedicationRequest/k2".into()]);
    assert!(case.cards().is_empty(), "k2 has no in-scope indication of its own");
}
