//! Clinical rules §2: when the guideline speaks.

use super::*;

#[test]
fn ketamine_for_general_anaesthesia_or_sedation_is_silent() {
    for reason in [code(SCT, "50697003", "General anesthesia"), code(SCT, "72641008", "Sedation")] {
        let order = with(ketamine_draft(), "reasonCode", json!([reason]));
        assert!(Case::sign().drafts(vec![order]).cards().is_empty());
    }
}

#[test]
fn ketamine_ordered_for_depression_is_silent() {
    let order = with(
        ketamine_draft(),
        "reasonCode",
        json!([code(ICD, "F33.1", "Major depressive disorder, recurrent, moderate")]),
    );
    assert!(Case::sign().drafts(vec![order]).cards().is_empty());
}

#[test]
fn depression_on_the_problem_list_does_not_silence_an_order_without_reason() {
    let case = Case::sign().conditions(vec![pdn(), condition(SCT, "370143000", "Major depressive disorder")]);
    assert_eq!(case.step_card()["indicator"], "warning");
}

#[test]
fn an_order_pain_reason_wins_over_a_non_pain_reason_on_the_same_order() {
    let order = with(
        ketamine_draft(),
        "reasonCode",
        json!([code(SCT, "72641008", "Sedation"), code(SCT, "247398009", "Neuropathic pain")]),
    );
    let card = Case::sign().conditions(vec![]).drafts(vec![order]).step_card();
    assert!(card["detail"].as_str().unwrap().contains(", for Neuropathic pain (reason on the order)"));
}

#[test]
fn esketamine_without_an_order_pain_reason_is_silent() {
    let order = draft("e1", code(RX, "2201625", "Spravato Nasal Spray"));
    assert!(Case::sign().drafts(vec![order]).cards().is_empty());
    let by_name = draft("e2", text("Esketamine 28 mg nasal spray"));
    assert!(Case::sign().drafts(vec![by_name]).cards().is_empty());
}

#[test]
fn esketamine_with_an_order_level_pain_reason_speaks() {
    let order = with(
        draft("e1", code(ATC, "N06AX27", "esketamine")),
        "reasonCode",
        json!([code(ICD, "M79.7", "Fibromyalgia")]),
    );
    let card = Case::sign().drafts(vec![order]).step_card();
    assert!(card["summary"].as_str().unwrap().starts_with("Esketamine for neuropathic pain"));
}

#[test]
fn order_reason_reference_to_a_condition_is_the_indication() {
    let phn = condition(SCT, "2177002", "Postherpetic neuralgia");
    let order = with(ketamine_draft(), "reasonReference", json!([{ "reference": "Condition/c-2177002" }]));
    let card = Case::sign().conditions(vec![phn]).drafts(vec![order]).step_card();
    assert!(card["detail"].as_str().unwrap().contains("for Postherpetic neuralgia (reason on the order)"));
}

#[test]
fn an_unrecognised_order_reason_falls_back_to_the_problem_list() {
    let order = with(ketamine_draft(), "reasonCode", json!([text("chronic pain")]));
    let card = Case::sign().drafts(vec![order]).step_card();
    assert!(card["detail"].as_str().unwrap().contains("(active problem list)"));
}

#[test]
fn every_in_scope_pain_syndrome_makes_the_guideline_speak() {
    for (system, c) in [
        (SCT, "247398009"),
        (SCT, "368581000119106"),
        (ICD, "M79.2"),
        (ICD, "M54.16"),
        (ICD, "B02.29"),
        (ICD, "E10.42"),
        (ICD, "G50.0"),
        (ICD, "G90.512"),
        (ICD, "G56.41"),
        (ICD, "G54.6"),
        (ICD, "G62.0"),
        (ICD, "G89.0"),
        (ICD, "M79.7"),
        (ICD, "m5416"),
    ] {
        let cards = Case::sign().conditions(vec![condition(system, c, "x")]).cards();
        assert_eq!(topics(&cards), ["ketamine-step-therapy"], "{system} {c}");
    }
}

#[test]
fn conditions_outside_the_scope_are_silent() {
    for (system, c) in [(ICD, "G54.7"), (ICD, "M54.50"), (ICD, "M54.19"), (ICD, "G89.3"), (SCT, "22298006")] {
        let cards = Case::sign().conditions(vec![condition(system, c, "x")]).cards();
        assert!(cards.is_empty(), "{system} {c}");
    }
}

#[test]
fn resolved_or_refuted_neuropathy_does_not_count() {
    let mut resolved = pdn();
    resolved["clinicalStatus"]["coding"][0]["code"] = json!("resolved");
    assert!(Case::sign().conditions(vec![resolved]).cards().is_empty());
    let mut refuted = pdn();
    refuted["verificationStatus"] = json!({ "coding": [{ "code": "refuted" }] });
    assert!(Case::sign().conditions(vec![refuted]).cards().is_empty());
}

#[test]
fn cancer_related_neuropathic_pain_marks_the_grade_d_statement() {
    let case = Case::sign().conditions(vec![pdn(), condition(ICD, "G89.3", "Neoplasm related pain")]);
    let card = case.step_card();
    let detail = card["detail"].as_str().unwrap().to_owned();
    let line = detail.lines().find(|l| l.contains("Cancer-related neuropathic pain")).unwrap();
    assert!(line.contains("(Level II, Grade D)"), "{line}");
    assert!(!detail.contains("CRPS"), "the CRPS evidence is not this patient's: {detail}");
    let grades = card["extension"]["ketamine-cds-card"]["grades"].as_array().unwrap();
    assert!(grades.iter().any(|g| g["code"] == "level-ii-grade-d"), "{grades:?}");
}

#[test]
fn the_indication_specific_evidence_is_shown_only_to_patients_it_applies_to() {
    let detail = Case::sign().step_card()["detail"].as_str().unwrap().to_owned();
    assert!(!detail.contains("Cancer-related") && !detail.contains("CRPS"), "a diabetic neuropathy patient: {detail}");
    assert!(detail.contains("2020 RCT") && detail.contains("last resort") && detail.contains("**Risks**"), "{detail}");
}

#[test]
fn crps_marks_the_moderate_evidence_statement() {
    let order =
        with(ketamine_draft(), "reasonCode", json!([code(SCT, "734947007", "Complex regional pain syndrome type I")]));
    let detail = Case::sign().drafts(vec![order]).step_card()["detail"].as_str().unwrap().to_owned();
    let line = detail.lines().find(|l| l.starts_with("**Guideline position**")).unwrap();
    assert!(line.contains("CRPS (Grade B): the one condition with moderate evidence"), "{line}");
    assert!(!detail.contains("Cancer-related"), "{detail}");
}

#[test]
fn snomed_coded_pain_syndromes_of_revision_2_make_the_guideline_speak() {
    for (c, display) in [
        ("408751001", "Complex regional pain syndrome type II"),
        ("5771000119106", "Phantom limb syndrome with pain"),
        ("277286006", "Central post-stroke pain"),
        ("762595001", "Chronic painful polyneuropathy following chemotherapy"),
        ("128196005", "Lumbar radiculopathy"),
    ] {
        let cards = Case::sign().conditions(vec![condition(SCT, c, display)]).cards();
        assert_eq!(topics(&cards), ["ketamine-step-therapy"], "{c}");
    }
    let without_pain = Case::sign().conditions(vec![condition(SCT, "193114000", "Phantom limb without pain")]).cards();
    assert!(without_pain.is_empty());
}

#[test]
fn esketamine_injection_without_an_order_reason_is_examined_like_ketamine() {
    let order = draft("e1", text("Esketamine 50 mg/2 mL solution for injection"));
    assert_eq!(topics(&Case::sign().drafts(vec![order]).cards()), ["ketamine-step-therapy"]);
    let by_route = with(
        draft("e2", code(RX, "2119365", "esketamine")),
        "dosageInstruction",
        json!([{ "route": { "text": "Nasal" } }]),
    );
    assert!(Case::sign().drafts(vec![by_route]).cards().is_empty(), "a nasal route is the nasal-spray product");
}

#[test]
fn a_condition_without_clinical_status_is_active_unless_it_has_abated() {
    let mut no_status = pdn();
    no_status.as_object_mut().unwrap().remove("clinicalStatus");
    assert_eq!(topics(&Case::sign().conditions(vec![no_status.clone()]).cards()), ["ketamine-step-therapy"]);
    let abated = with(no_status, "abatementDateTime", json!("2024-01-01"));
    assert!(Case::sign().conditions(vec![abated]).cards().is_empty());
}

// Revision 3 (§2): what makes esketamine the nasal depression product.

#[test]
fn esketamine_in_any_nasal_form_without_an_order_pain_reason_is_silent() {
    let route = |display: &str| {
        with(
            draft("e1", code(RX, "2119365", "esketamine")),
            "dosageInstruction",
            json!([{ "route": { "coding": [{ "system": SCT, "code": "46713006", "display": display }] } }]),
        )
    };
    let route_text =
        |t: &str| with(draft("e1", text("esketamine 28 mg")), "dosageInstruction", json!([{ "route": text(t) }]));
    for order in [
        route("Intranasal"),
        route("Transnasal"),
        route_text("INTRANASAL"),
        draft("e1", text("ESKETAMINE INTRANASAL SPRAY")),
        draft("e1", json!({ "coding": [{ "system": RX, "code": "2201623" }] })),
        draft("e1", json!({ "coding": [{ "system": RX, "code": "2201625" }] })),
        draft("e1", json!({ "coding": [{ "system": RX, "code": "2119382" }] })),
        draft("e1", text("SPRAVATO 28 MG/DEVICE NA SOLN")),
        draft("e1", code(ATC, "N06AX27", "esketamine")),
    ] {
        let case = Case::sign().drafts(vec![order.clone()]);
        let assessed = case.assess();
        assert_eq!(assessed.len(), 1, "{order}: an esketamine order is examined");
        assert_eq!(
            assessed[0].applicability,
            ketamine_cds::guideline::Applicability::NotApplicable(
                ketamine_cds::guideline::Silence::NoOrderLevelPainReason
            ),
            "{order}"
        );
        assert!(case.cards().is_empty(), "{order}");
    }
}

#[test]
fn esketamine_whose_form_is_not_stated_or_is_an_injection_is_examined() {
    for order in [
        draft("e1", code(RX, "2119365", "esketamine")),
        draft("e1", text("esketamine")),
        draft("e1", code(ATC, "N01AX14", "esketamine")),
        draft("e1", text("Esketamine 25 mg/mL injection")),
    ] {
        let card = Case::sign().drafts(vec![order.clone()]).step_card();
        assert!(card["summary"].as_str().unwrap().starts_with("Esketamine for neuropathic pain"), "{order}");
    }
}
