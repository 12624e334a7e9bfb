//! Clinical rules §3: first-line classes and what counts as a documented failure.

use super::*;

#[test]
fn duloxetine_stopped_for_no_response_is_a_failed_snri_with_its_evidence() {
    let card = Case::sign().history(vec![duloxetine_failed()]).step_card();
    assert_eq!(
        class_line(&card, "SNRI"),
        "- **SNRI — failed** (Level I, Grade A): Duloxetine 60 mg/day, stopped (ordered 2025-03-02): no response to treatment"
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
    // A re-trial to an adequate dose is suggested, and says so in its label and dosage text.
    let suggestions = card["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 1);
    let label = suggestions[0]["label"].as_str().unwrap();
    assert_eq!(label, "Order amitriptyline 10 mg at night (titrate to ≥ 75 mg/day)");
    assert_eq!(
        suggestions[0]["actions"][0]["description"],
        "Order amitriptyline 10 mg at night, then titrate to at least 75 mg/day: an adequate trial (TCA, strong recommendation)"
    );
    assert_eq!(suggestions[0]["isRecommended"], true);
    let created = &suggestions[0]["actions"][0];
    assert_eq!(created["type"], "create");
    let text = created["resource"]["dosageInstruction"][0]["text"].as_str().unwrap();
    assert!(text.ends_with("titrate to at least 75 mg/day: an adequate trial"), "{text}");
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
        "- **Gabapentinoid — failed** (strong recommendation): Pregabalin 300 mg/day, completed (taken 2025-04-30): lack of drug action"
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
    let detail = step["detail"].as_str().unwrap();
    let line = detail.lines().find(|l| l.starts_with("**Second-line agents** (not required)")).expect(detail);
    assert!(line.contains("Tramadol, active (ordered 2025-03-02): trial still running"), "{line}");
    let untreated = Case::sign().step_card();
    assert!(!untreated["detail"].as_str().unwrap().contains("Second-line"), "only when the record has any");
}

#[test]
fn a_topical_first_line_product_is_no_trial_of_its_systemic_class() {
    let cream = request("dox", text("doxepin 50 MG/ML Topical Cream"), "stopped", Some(no_response()), None);
    let gel = statement("gel", text("amitriptyline/ketamine gel"), "stopped", Some(intolerance()), None);
    let patch_route = with(
        request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(intolerance()), None),
        "dosageInstruction",
        json!([{ "route": { "coding": [{ "display": "Transdermal route" }] } }]),
    );
    let order = &Case::sign().history(vec![cream, gel, patch_route]).assess()[0];
    let tca = order.classes.iter().find(|c| knowledge().plan.classes[c.class].id == "tca").unwrap();
    assert_eq!(tca.status, ClassStatus::NotDocumented, "{:?}", tca.evidence);
}

#[test]
fn an_inactive_or_resolved_allergy_is_no_failure() {
    for status in ["inactive", "resolved"] {
        let allergy = json!({ "resourceType": "AllergyIntolerance", "id": "a", "patient": { "reference": format!("Patient/{PID}") },
            "clinicalStatus": { "coding": [{ "code": status }] }, "category": ["medication"], "code": code(RX, "25480", "gabapentin") });
        let order = &Case::sign().history(vec![allergy]).assess()[0];
        let gaba = order.classes.iter().find(|c| knowledge().plan.classes[c.class].id == "gabapentinoid").unwrap();
        assert_eq!(gaba.status, ClassStatus::NotDocumented, "{status}");
    }
}

#[test]
fn an_allergy_to_a_whole_class_is_a_failure_of_that_class() {
    let allergy = json!({ "resourceType": "AllergyIntolerance", "id": "tca", "patient": { "reference": format!("Patient/{PID}") },
        "clinicalStatus": { "coding": [{ "code": "active" }] }, "recordedDate": "2023-05-01",
        "code": { "text": "Tricyclic antidepressant" } });
    let case = Case::sign().history(vec![allergy]);
    let order = &case.assess()[0];
    let tca = order.classes.iter().find(|c| knowledge().plan.classes[c.class].id == "tca").unwrap();
    assert_eq!(tca.status, ClassStatus::Failed);
    let line = class_line(&case.step_card(), "TCA");
    assert_eq!(
        line,
        "- **TCA — failed** (strong recommendation): Tricyclic antidepressant: allergy/intolerance recorded 2023-05-01"
    );
}

#[test]
fn a_dose_range_counts_its_low_end_and_millilitres_their_concentration() {
    let range = json!([{ "timing": { "repeat": { "frequency": 1, "period": 1, "periodUnit": "d" } },
        "doseAndRate": [{ "doseRange": { "low": { "value": 75, "unit": "mg" }, "high": { "value": 100, "unit": "mg" } } }] }]);
    let by_range = request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(no_response()), Some(range));
    let order = &Case::sign().history(vec![by_range]).assess()[0];
    let tca = order.classes.iter().find(|c| knowledge().plan.classes[c.class].id == "tca").unwrap();
    assert_eq!((tca.status, tca.evidence[0].daily_dose_mg), (ClassStatus::Failed, Some(75.0)));
    let solution = request(
        "sol",
        text("amitriptyline 2 MG/ML Oral Solution"),
        "stopped",
        Some(no_response()),
        Some(daily(20.0, "mL", 2)),
    );
    let order = &Case::sign().history(vec![solution]).assess()[0];
    let tca = order.classes.iter().find(|c| knowledge().plan.classes[c.class].id == "tca").unwrap();
    assert_eq!((tca.status, tca.evidence[0].daily_dose_mg), (ClassStatus::Failed, Some(80.0)));
}

// Revision 3 (§3): as-needed lines, times of day, several doses on a line, DSTU2's periodUnits.

fn amitriptyline_no_response(dosage: Value) -> Value {
    request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(no_response()), Some(dosage))
}

fn tca_status(dosage: Value) -> ClassStatus {
    let assessed = Case::sign().history(vec![amitriptyline_no_response(dosage)]).assess();
    let classes = &knowledge().plan.classes;
    assessed[0].classes.iter().find(|c| classes[c.class].id == "tca").unwrap().status
}

#[test]
fn an_as_needed_tca_documents_no_daily_dose_and_is_no_adequate_trial() {
    let prn = json!([{ "asNeededBoolean": true, "timing": { "repeat": { "frequency": 1, "period": 8, "periodUnit": "h" } },
                       "doseAndRate": [{ "doseQuantity": { "value": 25, "unit": "mg" } }] }]);
    assert_eq!(tca_status(prn.clone()), ClassStatus::InadequateTrial, "25 mg every 8 h as needed is not 75 mg/day");
    let line = class_line(&Case::sign().history(vec![amitriptyline_no_response(prn)]).step_card(), "TCA");
    assert!(line.contains("dose not documented"), "{line}");
    let for_pain = json!([{ "asNeededCodeableConcept": text("pain"), "timing": { "repeat": { "frequency": 1, "period": 8, "periodUnit": "h" } },
                            "doseAndRate": [{ "doseQuantity": { "value": 25, "unit": "mg" } }] }]);
    assert_eq!(tca_status(for_pain), ClassStatus::InadequateTrial);
    let scheduled = json!([{ "timing": { "repeat": { "frequency": 1, "period": 8, "periodUnit": "h" } },
                             "doseAndRate": [{ "doseQuantity": { "value": 25, "unit": "mg" } }] }]);
    assert_eq!(tca_status(scheduled), ClassStatus::Failed, "the same dose on a schedule is 75 mg/day");
}

#[test]
fn times_of_day_are_the_frequency_when_it_is_missing() {
    let twice = json!([{ "timing": { "repeat": { "timeOfDay": ["08:00:00", "20:00:00"], "period": 1, "periodUnit": "d" } },
                         "doseAndRate": [{ "doseQuantity": { "value": 37.5, "unit": "mg" } }] }]);
    let card = Case::sign().history(vec![amitriptyline_no_response(twice)]).step_card();
    assert!(class_line(&card, "TCA").contains("— failed**"), "37.5 mg at 08:00 and 20:00 is 75 mg/day");
    let when = json!([{ "timing": { "repeat": { "when": ["HS"], "period": 1, "periodUnit": "d" } },
                        "doseAndRate": [{ "doseQuantity": { "value": 50, "unit": "mg" } }] }]);
    let card = Case::sign().history(vec![amitriptyline_no_response(when)]).step_card();
    assert!(class_line(&card, "TCA").contains("Amitriptyline 50 mg/day"), "{}", class_line(&card, "TCA"));
}

#[test]
fn of_several_doses_on_a_line_the_mg_dose_counts_and_a_dose_per_kg_alone_documents_nothing() {
    let q = |value: f64, unit: &str| json!({ "doseQuantity": { "value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit } });
    let line = |doses: Value| json!([{ "timing": { "repeat": { "frequency": 1, "period": 1, "periodUnit": "d" } }, "doseAndRate": doses }]);
    assert_eq!(tca_status(line(json!([q(1.2, "mg/kg"), q(100.0, "mg")]))), ClassStatus::Failed);
    assert_eq!(tca_status(line(json!([q(100.0, "mL"), q(25.0, "mg")]))), ClassStatus::InadequateTrial, "mg first");
    assert_eq!(tca_status(line(json!([q(1.2, "mg/kg")]))), ClassStatus::InadequateTrial, "per kg alone");
}
