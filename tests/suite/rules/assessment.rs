//! The rules' assessment itself, before any card is worded: which orders are examined and with
//! which trigger agent, whether the guideline applies and why not, each class's status and the
//! evidence behind it, the contraindication groups found. A change of card wording cannot break
//! these; a change of a rule must.

use super::*;
use ketamine_cds::guideline::{Applicability, Silence};

/// Each plan class's id and status, in plan order.
fn statuses(assessment: &OrderAssessment) -> Vec<(String, ClassStatus)> {
    let classes = &knowledge().plan.classes;
    assessment.classes.iter().map(|c| (classes[c.class].id.clone(), c.status)).collect()
}

fn status_of(assessment: &OrderAssessment, class_id: &str) -> ClassStatus {
    statuses(assessment).into_iter().find(|(id, _)| id == class_id).map(|(_, s)| s).expect("a class of the plan")
}

fn agent_name(assessment: &OrderAssessment) -> String {
    knowledge().medications.agent(assessment.agent).name.clone()
}

#[test]
fn an_untreated_patient_has_every_required_class_not_documented_and_is_not_backed() {
    let assessed = Case::sign().assess();
    assert_eq!(assessed.len(), 1);
    let order = &assessed[0];
    assert_eq!(order.order_ref.as_deref(), Some("MedicationRequest/k1"));
    assert_eq!(agent_name(order), "ketamine");
    assert!(matches!(&order.applicability, Applicability::Applies { from_order: false, .. }));
    let required: Vec<ClassStatus> =
        order.classes.iter().filter(|c| knowledge().plan.classes[c.class].required).map(|c| c.status).collect();
    assert_eq!(required, [ClassStatus::NotDocumented; 3]);
    assert!(!order.backed(knowledge()));
}

#[test]
fn three_documented_failures_back_the_order() {
    let assessed = Case::sign().all_first_line_failed().assess();
    let order = &assessed[0];
    for class in ["snri", "gabapentinoid", "tca"] {
        assert_eq!(status_of(order, class), ClassStatus::Failed, "{class}");
    }
    assert!(order.backed(knowledge()));
    let tca = order.classes.iter().find(|c| knowledge().plan.classes[c.class].id == "tca").unwrap();
    assert_eq!(tca.evidence.len(), 1);
    assert_eq!(tca.evidence[0].resource, "MedicationRequest/ami");
    assert_eq!(tca.evidence[0].daily_dose_mg, Some(100.0));
}

#[test]
fn a_tca_no_response_below_75_mg_a_day_is_an_inadequate_trial() {
    let low =
        request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(no_response()), Some(daily(25.0, "mg", 2)));
    let order = &Case::sign().history(vec![low]).assess()[0];
    assert_eq!(status_of(order, "tca"), ClassStatus::InadequateTrial);
    assert_eq!(status_of(order, "snri"), ClassStatus::NotDocumented);
}

#[test]
fn ongoing_and_outcome_unknown_trials_are_told_apart() {
    let active = request("d", code(RX, "72625", "duloxetine"), "active", None, None);
    let stopped = request("g", code(RX, "25480", "gabapentin"), "stopped", None, None);
    let order = &Case::sign().history(vec![active, stopped]).assess()[0];
    assert_eq!(status_of(order, "snri"), ClassStatus::Ongoing);
    assert_eq!(status_of(order, "gabapentinoid"), ClassStatus::TriedOutcomeUnknown);
}

#[test]
fn a_non_pain_order_reason_silences_with_its_reason() {
    let order = with(ketamine_draft(), "reasonCode", json!([code(SCT, "50697003", "General anesthesia")]));
    let assessed = Case::sign().drafts(vec![order]).assess();
    assert_eq!(assessed[0].applicability, Applicability::NotApplicable(Silence::NonPainOrderReason));
    assert!(assessed[0].classes.is_empty(), "no classes are assessed when the guideline is silent");
}

#[test]
fn no_in_scope_condition_is_silence_for_that_reason() {
    let assessed = Case::sign().conditions(vec![condition(ICD, "J06.9", "Acute upper respiratory infection")]).assess();
    assert_eq!(assessed[0].applicability, Applicability::NotApplicable(Silence::NoInScopeCondition));
}

#[test]
fn esketamine_named_in_text_is_esketamine_not_ketamine_and_needs_an_order_pain_reason() {
    let assessed = Case::sign().drafts(vec![draft("e1", text("Esketamine 28 MG nasal spray"))]).assess();
    assert_eq!(agent_name(&assessed[0]), "esketamine");
    assert_eq!(assessed[0].applicability, Applicability::NotApplicable(Silence::NoOrderLevelPainReason));
}

#[test]
fn an_order_reason_is_the_indication_and_says_so() {
    let order = with(ketamine_draft(), "reasonCode", json!([code(ICD, "G90.511", "CRPS I of right upper limb")]));
    let assessed = Case::sign().drafts(vec![order]).conditions(vec![]).assess();
    assert!(
        matches!(
            &assessed[0].applicability,
            Applicability::Applies { from_order: true, crps: true, cancer_related: false, .. }
        ),
        "{:?}",
        assessed[0].applicability
    );
}

#[test]
fn an_active_heart_failure_is_found_in_the_cardiovascular_group() {
    let assessed =
        Case::sign().conditions(vec![pdn(), condition(ICD, "I50.22", "Chronic systolic heart failure")]).assess();
    let groups = &knowledge().plan.contraindication_groups;
    let found: Vec<(&str, &[String])> =
        assessed[0].contraindications.iter().map(|f| (groups[f.group].id.as_str(), f.conditions.as_slice())).collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].0.contains("cardiovascular"), "{found:?}");
    assert_eq!(found[0].1, ["Chronic systolic heart failure".to_owned()]);
}

#[test]
fn order_select_assesses_only_the_selected_ketamine_draft() {
    let mut case = Case::select().drafts(vec![draft("k1", ketamine()), draft("k2", ketamine())]);
    case.selections = Some(vec!["MedicationRequest/k2".into()]);
    let assessed = case.assess();
    assert_eq!(assessed.len(), 1);
    assert_eq!(assessed[0].order_ref.as_deref(), Some("MedicationRequest/k2"));
}

#[test]
fn a_search_bundle_of_operation_outcomes_only_is_an_empty_result() {
    let outcome_only = json!({ "resourceType": "Bundle", "type": "searchset", "entry": [
        { "resource": { "resourceType": "OperationOutcome",
                        "issue": [{ "severity": "information", "code": "not-found", "diagnostics": "no results" }] },
          "search": { "mode": "outcome" } }] });
    let mut body = Case::sign().body();
    body["prefetch"]["medicationStatements"] = outcome_only.clone();
    body["prefetch"]["allergyIntolerances"] = outcome_only;
    let response = evaluate(&body).expect("no 412: a known empty result");
    assert_eq!(response, evaluate(&Case::sign().body()).unwrap());
}

#[test]
fn a_running_trial_is_kept_apart_from_the_status_it_does_not_decide() {
    let old =
        request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(no_response()), Some(daily(25.0, "mg", 1)));
    let running = request("nor", code(RX, "7531", "nortriptyline"), "on-hold", None, None);
    let order = &Case::sign().history(vec![old, running]).assess()[0];
    let tca = order.classes.iter().find(|c| knowledge().plan.classes[c.class].id == "tca").unwrap();
    assert_eq!(tca.status, ClassStatus::InadequateTrial);
    assert_eq!(tca.running.iter().map(|t| t.resource.as_str()).collect::<Vec<_>>(), ["MedicationRequest/nor"]);
}
