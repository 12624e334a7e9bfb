//! Clinical rules §3: first-line classes and what counts as a documented failure.

use super::*;

#[test]
fn duloxetine_stopped_for_no_response_is_a_failed_snri_with_its_evidence() {
    let card = Case::sign().history(vec![duloxetine_failed()]).step_card();
    assert_eq!(
        class_line(&card, "SNRI"),
        "- **SNRI — failed** (Level I, Grade A): Duloxetine 60 mg/day, stopped 2025-03-02: no response to treatment"
    );
    assert_eq!(card["summary"], "Ketamine for neuropathic pain: no documented failure of gabapentinoid and TCA");
}

#[test]
fn synthea_product_code_for_duloxetine_counts_as_duloxetine() {
    let dul = request(
        "dul",
        code(RX, "596926", "duloxetine 20 MG Delayed Release Oral Capsule"),
        "stopped",
        Some(intolerance()),
        None,
    );
    let card = Case::sign().history(vec![dul]).step_card();
    assert!(class_line(&card, "SNRI").contains("failed"));
}

#[test]
fn suspected_intolerance_status_reason_is_a_failure() {
    let sintol = json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-status-reason", "code": "sintol" }] });
    let gab = request("gab", code(RX, "187832", "pregabalin"), "stopped", Some(sintol), None);
    let card = Case::sign().history(vec![gab]).step_card();
    assert!(class_line(&card, "Gabapentinoid").contains("— failed**"));
}

#[test]
fn tca_failure_below_75mg_is_an_inadequate_trial() {
    let ami =
        request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(no_response()), Some(daily(25.0, "mg", 1)));
    let card = Case::sign().history(vec![duloxetine_failed(), gabapentin_failed(), ami]).step_card();
    assert_eq!(card["summary"], "Ketamine for neuropathic pain: no documented failure of TCA");
    let line = class_line(&card, "TCA");
    assert!(line.contains("— inadequate trial**"), "{line}");
    assert!(line.contains("Amitriptyline 25 mg/day") && line.contains("below the 75 mg/day"), "{line}");
    assert!(card.get("suggestions").is_none(), "no suggestion for an inadequate (not undocumented) class");
}

#[test]
fn tca_no_response_without_documented_dose_is_an_inadequate_trial() {
    let ami = request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(no_response()), None);
    let line = class_line(&Case::sign().history(vec![ami]).step_card(), "TCA");
    assert!(line.contains("inadequate trial") && line.contains("dose not documented"), "{line}");
}

#[test]
fn tca_failure_at_75mg_from_tablets_times_strength_is_a_real_failure() {
    let ami = request(
        "ami",
        code(RX, "856834", "amitriptyline hydrochloride 25 MG Oral Tablet"),
        "stopped",
        Some(no_response()),
        Some(daily(1.0, "{tbl}", 3)),
    );
    let cards = Case::sign().history(vec![duloxetine_failed(), gabapentin_failed(), ami]).cards();
    assert!(cards.is_empty(), "backed on order-sign: {cards:#?}");
}

#[test]
fn tca_intolerance_at_a_low_dose_is_a_real_failure() {
    let nortrip =
        request("nor", text("Nortriptyline 10 mg capsule"), "stopped", Some(intolerance()), Some(daily(10.0, "mg", 1)));
    let cards = Case::sign().history(vec![duloxetine_failed(), gabapentin_failed(), nortrip]).cards();
    assert!(cards.is_empty());
}

#[test]
fn an_active_or_on_hold_trial_is_ongoing_and_gets_no_suggestion() {
    for status in ["active", "on-hold"] {
        let dul = request("dul", code(RX, "72625", "duloxetine"), status, None, Some(daily(60.0, "mg", 1)));
        let card = Case::sign().history(vec![dul, gabapentin_failed(), amitriptyline_failed_at_100mg()]).step_card();
        let line = class_line(&card, "SNRI");
        assert!(line.contains("— trial ongoing**") && line.contains("trial still running"), "{line}");
        assert!(card.get("suggestions").is_none());
    }
}

#[test]
fn stopped_without_a_failure_reason_is_tried_outcome_unknown() {
    let discontinued = code(SCT, "274512008", "Drug therapy discontinued");
    let dul = request("dul", code(RX, "72625", "duloxetine"), "stopped", Some(discontinued), None);
    let line = class_line(&Case::sign().history(vec![dul]).step_card(), "SNRI");
    assert!(line.contains("— tried, outcome not recorded**"), "{line}");
}

#[test]
fn records_that_document_nothing_leave_the_class_not_documented() {
    for status in ["cancelled", "draft", "intended", "unknown", "entered-in-error"] {
        let dul = request("dul", code(RX, "72625", "duloxetine"), status, Some(no_response()), None);
        let line = class_line(&Case::sign().history(vec![dul]).step_card(), "SNRI");
        assert!(line.contains("not documented"), "{status}: {line}");
    }
    let not_taken = statement("s", code(RX, "72625", "duloxetine"), "not-taken", Some(no_response()), None);
    let line = class_line(&Case::sign().history(vec![not_taken]).step_card(), "SNRI");
    assert!(line.contains("not documented"), "{line}");
}

#[test]
fn medication_statement_with_failure_reason_code_is_a_failure() {
    let mut pregabalin = statement(
        "s",
        code(RX, "483438", "pregabalin 100 MG Oral Capsule"),
        "completed",
        None,
        Some(daily(150.0, "mg", 2)),
    );
    pregabalin["reasonCode"] = json!([code(SCT, "58848006", "Lack of drug action")]);
    let line = class_line(&Case::sign().history(vec![pregabalin]).step_card(), "Gabapentinoid");
    assert_eq!(
        line,
        "- **Gabapentinoid — failed** (strong recommendation): Pregabalin 300 mg/day, completed 2025-04-30: lack of drug action"
    );
}

#[test]
fn allergy_intolerance_to_an_agent_is_a_failure_unless_refuted() {
    let allergy = json!({ "resourceType": "AllergyIntolerance", "id": "a1", "patient": { "reference": format!("Patient/{PID}") },
                          "category": ["medication"], "recordedDate": "2024-09-09", "code": code(RX, "25480", "gabapentin") });
    let line = class_line(&Case::sign().history(vec![allergy.clone()]).step_card(), "Gabapentinoid");
    assert!(line.contains("— failed**") && line.contains("allergy/intolerance recorded 2024-09-09"), "{line}");
    let refuted = with(allergy, "verificationStatus", json!({ "coding": [{ "code": "refuted" }] }));
    let line = class_line(&Case::sign().history(vec![refuted]).step_card(), "Gabapentinoid");
    assert!(line.contains("not documented"), "{line}");
}

#[test]
fn the_best_status_of_a_class_wins() {
    let ongoing = request("dul2", code(RX, "39786", "venlafaxine"), "active", None, None);
    let line = class_line(&Case::sign().history(vec![ongoing, duloxetine_failed()]).step_card(), "SNRI");
    assert!(line.contains("— failed**") && !line.contains("Venlafaxine"), "{line}");
}

#[test]
fn a_record_dated_after_today_is_not_a_prior_trial() {
    let future = with(duloxetine_failed(), "authoredOn", json!("2027-01-01"));
    let line = class_line(&Case::sign().history(vec![future]).step_card(), "SNRI");
    assert!(line.contains("not documented"), "{line}");
}

#[test]
fn second_line_agents_are_reported_but_not_required() {
    let tramadol = request("tra", code(RX, "10689", "tramadol"), "stopped", Some(no_response()), None);
    let case = Case::select().all_first_line_failed().history(vec![tramadol]);
    let cards = case.cards();
    assert_eq!(topics(&cards), ["ketamine-monitoring"], "backed without second line");
    let step =
        Case::sign().history(vec![request("tra", code(RX, "10689", "tramadol"), "active", None, None)]).step_card();
    assert!(class_line(&step, "Second-line agent").contains("(not required) — trial ongoing"));
}
