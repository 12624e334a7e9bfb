//! Clinical rules §4: outcomes and card content.

use super::*;

#[test]
fn backed_order_on_order_sign_is_silent() {
    assert!(Case::sign().all_first_line_failed().cards().is_empty());
}

#[test]
fn backed_order_on_order_select_gets_an_info_card_listing_the_failures() {
    let cards = Case::select().all_first_line_failed().cards();
    assert_eq!(topics(&cards), ["ketamine-monitoring"]);
    let card = &cards[0];
    assert_eq!(card["indicator"], "info");
    assert_eq!(
        card["summary"],
        "Ketamine: first-line failures documented (SNRI, gabapentinoid and TCA); monitor closely"
    );
    let detail = card["detail"].as_str().unwrap();
    assert!(
        detail.contains("- TCA: Amitriptyline 100 mg/day, stopped (ordered 2025-03-02): no response to treatment"),
        "{detail}"
    );
    assert!(detail.contains("**Monitoring**:"));
    assert!(card.get("suggestions").is_none() && card.get("overrideReasons").is_none());
    let facts = &card["extension"]["ketamine-cds-card"];
    assert_eq!(facts["kind"], "info");
    assert_eq!(facts["orders"], json!(["MedicationRequest/k1"]));
}

#[test]
fn not_backed_order_select_gets_the_same_warning_as_order_sign() {
    let select = Case::select().step_card();
    let sign = Case::sign().step_card();
    assert_eq!(select["summary"], sign["summary"]);
    assert_eq!(select["detail"], sign["detail"]);
}

#[test]
fn suggestions_replace_ketamine_with_each_undocumented_class_and_recommend_duloxetine() {
    let card = Case::sign().step_card();
    assert_eq!(card["selectionBehavior"], "at-most-one");
    assert_eq!(
        suggestion_labels(&card),
        [
            "Order duloxetine 30 mg once daily (SNRI, Level I, Grade A)",
            "Order gabapentin 300 mg at bedtime (gabapentinoid, strong recommendation)",
            "Order amitriptyline 10 mg at night (TCA, strong recommendation)",
        ]
    );
    let recommended: Vec<bool> =
        card["suggestions"].as_array().unwrap().iter().map(|s| s["isRecommended"].as_bool().unwrap_or(false)).collect();
    assert_eq!(recommended, [true, false, false]);
    // `create` first: some clients (the public sandbox) apply only the first action.
    let actions = &card["suggestions"][0]["actions"];
    assert_eq!(actions[0]["type"], "create");
    assert_eq!(
        actions[1],
        json!({ "type": "delete", "description": "Remove the ketamine order", "resourceId": "MedicationRequest/k1" })
    );
    let created = &actions[0]["resource"];
    assert_eq!(created["resourceType"], "MedicationRequest");
    assert_eq!(created["status"], "draft");
    assert_eq!(created["subject"]["reference"], "Patient/p1");
    assert_eq!(created["medicationCodeableConcept"]["coding"][0]["code"], "596930");
    assert_eq!(created["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"], 30);
}

#[test]
fn when_snri_failed_gabapentin_is_the_recommended_suggestion() {
    let card = Case::sign().history(vec![duloxetine_failed()]).step_card();
    assert_eq!(card["suggestions"].as_array().unwrap().len(), 2);
    assert_eq!(card["suggestions"][0]["isRecommended"], true);
    assert!(card["suggestions"][0]["label"].as_str().unwrap().starts_with("Order gabapentin"));
}

#[test]
fn step_therapy_card_carries_coded_override_reasons_links_source_and_position() {
    let card = Case::sign().step_card();
    let reasons: Vec<&str> =
        card["overrideReasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "first-line-failures-elsewhere",
            "first-line-contraindicated",
            "crps",
            "pain-specialist-plan",
            "clinical-trial",
            "palliative-care",
            "not-applicable"
        ]
    );
    for r in card["overrideReasons"].as_array().unwrap() {
        assert_eq!(r["system"], "https://fhir.ketamine-cds.example/CodeSystem/override-reason");
        assert!(!r["display"].as_str().unwrap().is_empty());
    }
    let links: Vec<&str> = card["links"].as_array().unwrap().iter().map(|l| l["url"].as_str().unwrap()).collect();
    assert!(links.contains(&"https://doi.org/10.1097/AAP.0000000000000808"));
    assert!(links.contains(&"https://doi.org/10.1097/ALN.0000000000003345"));
    assert!(card["links"].as_array().unwrap().iter().all(|l| l["type"] == "absolute"));
    assert_eq!(card["source"]["topic"]["code"], "ketamine-step-therapy");
    assert!(card["source"]["url"].as_str().unwrap().starts_with("https://doi.org/"));
    let detail = card["detail"].as_str().unwrap();
    for phrase in [
        "last resort",
        "35 days",
        "psychedelic effects",
        "cardiovascular stimulation",
        "hepatotoxicity",
        "abuse and tolerance",
        "monitor closely",
    ] {
        assert!(detail.contains(phrase), "detail lacks '{phrase}':\n{detail}");
    }
    assert!(detail.lines().count() <= 15, "short enough for a side panel:\n{detail}");
    // The class lines first; the position, the RCT and the risks in two lines at the end.
    assert!(detail.starts_with("**Required first-line classes**"), "{detail}");
    let last: Vec<&str> = detail.lines().rev().filter(|l| !l.is_empty()).take(2).collect();
    assert!(last[1].starts_with("**Guideline position**: a last resort") && last[1].contains("2020 RCT"), "{detail}");
    assert!(last[0].starts_with("**Risks**: "), "{detail}");
    let facts = &card["extension"]["ketamine-cds-card"];
    assert_eq!(facts["kind"], "step-therapy");
    assert_eq!(facts["orders"], json!(["MedicationRequest/k1"]));
    let grades: Vec<&str> = facts["grades"].as_array().unwrap().iter().map(|g| g["code"].as_str().unwrap()).collect();
    assert_eq!(grades, ["level-i-grade-a", "strong", "guideline-position", "rct"]);
    assert!(
        facts["grades"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["system"] == "https://fhir.ketamine-cds.example/CodeSystem/evidence-grade")
    );
    let statuses: Vec<(&str, &str)> = facts["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["class"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("snri", "not-documented"),
            ("gabapentinoid", "not-documented"),
            ("tca", "not-documented"),
            ("second-line", "not-documented")
        ]
    );
}

#[test]
fn no_suggestion_for_an_agent_the_patients_conditions_rule_out_and_the_detail_says_why() {
    let cirrhosis_and_nstemi =
        vec![pdn(), condition(ICD, "K74.60", "Cirrhosis of liver"), condition(SCT, "401314000", "Acute NSTEMI")];
    let card = Case::sign().conditions(cirrhosis_and_nstemi).step_card();
    assert_eq!(
        suggestion_labels(&card),
        ["Order gabapentin 300 mg at bedtime (gabapentinoid, strong recommendation)"],
        "neither duloxetine (hepatic disease) nor amitriptyline (recent MI)"
    );
    assert_eq!(card["suggestions"][0]["isRecommended"], true, "the highest-graded remaining one");
    let detail = card["detail"].as_str().unwrap();
    let line = detail.lines().find(|l| l.starts_with("**Not suggested**")).expect(detail);
    assert!(line.contains("duloxetine — Cirrhosis of liver: avoid in chronic liver disease"), "{line}");
    assert!(
        line.contains("amitriptyline — Acute NSTEMI: contraindicated after a recent myocardial infarction"),
        "{line}"
    );
    assert!(line.contains("liver disease") && line.contains("myocardial infarction"), "{line}");
    let old_mi = Case::sign().conditions(vec![pdn(), condition(SCT, "399211009", "History of myocardial infarction")]);
    assert_eq!(suggestion_labels(&old_mi.step_card()).len(), 3, "a history of MI rules nothing out");
}

#[test]
fn a_mixed_call_of_ketamine_and_esketamine_names_both() {
    let esketamine =
        with(draft("e1", text("Esketamine 50 mg/2 mL injection")), "reasonCode", json!([code(ICD, "E11.42", "PDN")]));
    let card = Case::sign().drafts(vec![ketamine_draft(), esketamine]).step_card();
    assert!(card["summary"].as_str().unwrap().starts_with("Ketamine and esketamine for neuropathic pain"), "{card}");
}

#[test]
fn card_and_suggestion_uuids_are_deterministic_per_hook_instance() {
    let a = Case::sign().step_card();
    let b = Case::sign().step_card();
    assert_eq!(a["uuid"], b["uuid"]);
    let mut other = Case::sign().body();
    other["hookInstance"] = json!("another-instance");
    let c = evaluate(&other).unwrap()["cards"][0].clone();
    assert_ne!(a["uuid"], c["uuid"]);
    assert_ne!(a["suggestions"][0]["uuid"], a["suggestions"][1]["uuid"]);
}

// Revision 3 (§4).

#[test]
fn a_class_with_a_running_trial_gets_no_new_order_of_that_class_and_the_line_names_the_running_agent() {
    let old_inadequate =
        request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(no_response()), Some(daily(25.0, "mg", 1)));
    let mut nortriptyline =
        request("nor", code(RX, "7531", "nortriptyline"), "active", None, Some(daily(50.0, "mg", 1)));
    nortriptyline["authoredOn"] = json!("2026-10-01");
    let card = Case::sign().history(vec![old_inadequate, nortriptyline]).step_card();
    let labels = suggestion_labels(&card);
    assert!(labels.iter().all(|l| !l.contains("amitriptyline")), "no duplicate TCA: {labels:?}");
    assert_eq!(labels.len(), 2, "SNRI and gabapentinoid only: {labels:?}");
    let line = class_line(&card, "TCA");
    assert!(line.contains("— inadequate trial**"), "{line}");
    assert!(
        line.contains("Nortriptyline 50 mg/day, active (ordered 2026-10-01): trial still running — take it to an adequate trial and record the outcome"),
        "{line}"
    );
}

#[test]
fn an_ongoing_class_says_to_finish_the_trial_and_gets_no_suggestion() {
    let running = request("dul", code(RX, "72625", "duloxetine"), "active", None, Some(daily(60.0, "mg", 1)));
    let card = Case::sign().history(vec![running]).step_card();
    let line = class_line(&card, "SNRI");
    assert!(line.contains("trial still running — take it to an adequate trial and record the outcome"), "{line}");
    assert!(suggestion_labels(&card).iter().all(|l| !l.contains("duloxetine")));
}

#[test]
fn a_recorded_reason_that_is_no_failure_is_quoted_and_says_what_would_count() {
    for (reason, words) in [
        (code(SCT, "274512008", "Drug therapy discontinued"), "Drug therapy discontinued"),
        (
            code(
                "http://terminology.hl7.org/CodeSystem/medicationrequest-status-reason",
                "altchoice",
                "Treatment changed",
            ),
            "Treatment changed",
        ),
        (text("Ineffective"), "Ineffective"),
    ] {
        let stopped =
            request("gab", code(RX, "25480", "gabapentin"), "stopped", Some(reason), Some(daily(300.0, "mg", 3)));
        let card = Case::sign().history(vec![stopped]).step_card();
        let line = class_line(&card, "Gabapentinoid");
        assert!(!line.contains("no reason recorded"), "{line}");
        assert!(
            line.contains(&format!(": \"{words}\" is not a recorded failure — record no response or intolerance")),
            "{line}"
        );
    }
    let without = request("gab", code(RX, "25480", "gabapentin"), "stopped", None, None);
    let line = class_line(&Case::sign().history(vec![without]).step_card(), "Gabapentinoid");
    assert!(line.ends_with(": no reason recorded — record no response or intolerance"), "{line}");
}

#[test]
fn every_class_without_a_failure_says_what_would_back_the_order() {
    let inadequate =
        request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(no_response()), Some(daily(25.0, "mg", 1)));
    let unknown = request("gab", code(RX, "25480", "gabapentin"), "completed", None, None);
    let card = Case::sign().history(vec![inadequate, unknown]).step_card();
    assert!(class_line(&card, "SNRI").ends_with("no trial on record"));
    assert!(class_line(&card, "Gabapentinoid").ends_with("record no response or intolerance"));
    assert!(class_line(&card, "TCA").ends_with("below the 75 mg/day an adequate trial needs"));
}

#[test]
fn a_patient_under_18_gets_the_warning_without_adult_dosed_suggestions() {
    let card = Case::sign().born("2012-05-01").step_card();
    assert_eq!(card["indicator"], "warning");
    let suggestions = card["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 1, "{suggestions:#?}");
    assert_eq!(suggestions[0]["label"], "Remove the ketamine order");
    assert_eq!(
        suggestions[0]["actions"],
        json!([{ "type": "delete", "description": "Remove the ketamine order", "resourceId": "MedicationRequest/k1" }])
    );
    let detail = card["detail"].as_str().unwrap();
    assert!(detail.contains("**Patient under 18**: The first-line evidence and doses come from adults"), "{detail}");
    assert!(detail.contains("paediatric pain specialists"), "{detail}");
    assert!(Case::sign().born("2012-05-01").assess()[0].minor);
}

#[test]
fn an_adult_or_a_patient_of_unknown_age_gets_the_first_line_suggestions() {
    // "Now" is 2026-11-21 in the tests: born 2008-11-21 is 18 today.
    for case in
        [Case::sign().born("1980-02-29"), Case::sign().born("2008-11-21"), Case::sign().born("??"), Case::sign()]
    {
        assert!(!case.assess()[0].minor);
        assert_eq!(suggestion_labels(&case.step_card()).len(), 3);
    }
}

#[test]
fn without_a_patient_prefetch_the_call_is_answered_not_refused() {
    // The Patient is never required: no prefetch key for it, and no 412.
    let body = Case::sign().body();
    assert!(body["prefetch"].get("patient").is_none());
    assert!(evaluate(&body).is_ok());
}

#[test]
fn suggestion_labels_are_at_most_80_characters() {
    let inadequate =
        request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(no_response()), Some(daily(25.0, "mg", 1)));
    for card in [Case::sign().step_card(), Case::sign().history(vec![inadequate]).step_card()] {
        for label in suggestion_labels(&card) {
            assert!(label.chars().count() <= 80, "{label}");
        }
    }
}
