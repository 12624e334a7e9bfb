//! One test per rule branch of RULES.md, named after the clinical situation, built from small
//! FHIR fixtures and asserting the cards' actual content.

mod common;

use common::*;
use serde_json::{Value, json};

const RX: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const SCT: &str = "http://snomed.info/sct";
const ICD: &str = "http://hl7.org/fhir/sid/icd-10-cm";
const ATC: &str = "http://www.whocc.no/atc";
const PID: &str = "p1";

fn code(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": system, "code": code, "display": display }] })
}

fn text(t: &str) -> Value {
    json!({ "text": t })
}

fn ketamine() -> Value {
    code(RX, "6130", "ketamine")
}

fn draft(id: &str, medication: Value) -> Value {
    json!({ "resourceType": "MedicationRequest", "id": id, "status": "draft", "intent": "order",
            "subject": { "reference": format!("Patient/{PID}") }, "medicationCodeableConcept": medication })
}

fn ketamine_draft() -> Value {
    draft("k1", ketamine())
}

fn with(mut resource: Value, key: &str, value: Value) -> Value {
    resource[key] = value;
    resource
}

fn condition(system: &str, c: &str, display: &str) -> Value {
    json!({ "resourceType": "Condition", "id": format!("c-{c}"), "subject": { "reference": format!("Patient/{PID}") },
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
            "code": code(system, c, display) })
}

fn pdn() -> Value {
    condition(ICD, "E11.42", "Type 2 diabetes mellitus with diabetic polyneuropathy")
}

fn no_response() -> Value {
    code(SCT, "266721009", "No response to treatment")
}

fn intolerance() -> Value {
    code(SCT, "407563006", "Treatment not tolerated")
}

/// Daily dosing: `dose` `unit` × `per_day` a day.
fn daily(dose: f64, unit: &str, per_day: u32) -> Value {
    json!([{ "timing": { "repeat": { "frequency": per_day, "period": 1, "periodUnit": "d" } },
             "doseAndRate": [{ "doseQuantity": { "value": dose, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit } }] }])
}

fn request(id: &str, medication: Value, status: &str, reason: Option<Value>, dosage: Option<Value>) -> Value {
    let mut r = json!({ "resourceType": "MedicationRequest", "id": id, "status": status, "intent": "order",
                        "subject": { "reference": format!("Patient/{PID}") }, "authoredOn": "2025-03-02",
                        "medicationCodeableConcept": medication });
    if let Some(reason) = reason {
        r["statusReason"] = reason;
    }
    if let Some(dosage) = dosage {
        r["dosageInstruction"] = dosage;
    }
    r
}

fn statement(id: &str, medication: Value, status: &str, reason: Option<Value>, dosage: Option<Value>) -> Value {
    let mut r = json!({ "resourceType": "MedicationStatement", "id": id, "status": status,
                        "subject": { "reference": format!("Patient/{PID}") }, "effectiveDateTime": "2025-04-30",
                        "medicationCodeableConcept": medication });
    if let Some(reason) = reason {
        r["statusReason"] = json!([reason]);
    }
    if let Some(dosage) = dosage {
        r["dosage"] = dosage;
    }
    r
}

fn duloxetine_failed() -> Value {
    request("dul", code(RX, "72625", "duloxetine"), "stopped", Some(no_response()), Some(daily(60.0, "mg", 1)))
}

fn gabapentin_failed() -> Value {
    request("gab", code(RX, "25480", "gabapentin"), "stopped", Some(no_response()), Some(daily(600.0, "mg", 3)))
}

fn amitriptyline_failed_at_100mg() -> Value {
    request("ami", code(RX, "704", "amitriptyline"), "stopped", Some(no_response()), Some(daily(50.0, "mg", 2)))
}

fn bundle(resources: &[Value]) -> Value {
    if resources.is_empty() {
        return Value::Null;
    }
    let entries: Vec<Value> = resources.iter().map(|r| json!({ "resource": r })).collect();
    json!({ "resourceType": "Bundle", "type": "searchset", "entry": entries })
}

/// A hook call under construction.
#[derive(Clone)]
struct Case {
    hook: &'static str,
    drafts: Vec<Value>,
    selections: Option<Vec<String>>,
    conditions: Vec<Value>,
    requests: Vec<Value>,
    statements: Vec<Value>,
    allergies: Vec<Value>,
}

impl Case {
    fn sign() -> Self {
        Case {
            hook: "order-sign",
            drafts: vec![ketamine_draft()],
            selections: None,
            conditions: vec![pdn()],
            requests: vec![],
            statements: vec![],
            allergies: vec![],
        }
    }

    fn select() -> Self {
        Case { hook: "order-select", ..Case::sign() }
    }

    fn drafts(mut self, drafts: Vec<Value>) -> Self {
        self.drafts = drafts;
        self
    }

    fn conditions(mut self, conditions: Vec<Value>) -> Self {
        self.conditions = conditions;
        self
    }

    fn history(mut self, resources: Vec<Value>) -> Self {
        for r in resources {
            match r["resourceType"].as_str() {
                Some("MedicationStatement") => self.statements.push(r),
                Some("AllergyIntolerance") => self.allergies.push(r),
                _ => self.requests.push(r),
            }
        }
        self
    }

    fn all_first_line_failed(self) -> Self {
        self.history(vec![duloxetine_failed(), gabapentin_failed(), amitriptyline_failed_at_100mg()])
    }

    fn body(&self) -> Value {
        let entries: Vec<Value> = self.drafts.iter().map(|r| json!({ "resource": r })).collect();
        let mut context = json!({ "userId": "Practitioner/u1", "patientId": PID,
                                  "draftOrders": { "resourceType": "Bundle", "type": "collection", "entry": entries } });
        if self.hook == "order-select" {
            let selections = self.selections.clone().unwrap_or_else(|| {
                self.drafts.iter().take(1).map(|d| format!("MedicationRequest/{}", d["id"].as_str().unwrap())).collect()
            });
            context["selections"] = json!(selections);
        }
        json!({ "hook": self.hook, "hookInstance": "0f6c2a43-7b61-4c1e-9d39-1a2b3c4d5e6f", "context": context,
                "prefetch": { "conditions": bundle(&self.conditions), "medicationRequests": bundle(&self.requests),
                              "medicationStatements": bundle(&self.statements), "allergyIntolerances": bundle(&self.allergies) } })
    }

    fn cards(&self) -> Vec<Value> {
        let response = evaluate(&self.body()).expect("call accepted");
        assert_valid_response(&response);
        response["cards"].as_array().cloned().unwrap_or_default()
    }

    fn step_card(&self) -> Value {
        let cards = self.cards();
        cards
            .iter()
            .find(|c| c["source"]["topic"]["code"] == "ketamine-step-therapy")
            .cloned()
            .unwrap_or_else(|| panic!("no step-therapy card in {cards:#?}"))
    }
}

fn topics(cards: &[Value]) -> Vec<String> {
    cards.iter().map(|c| c["source"]["topic"]["code"].as_str().unwrap_or_default().to_owned()).collect()
}

/// The detail line of one class ("- **TCA — inadequate trial** …").
fn class_line(card: &Value, class: &str) -> String {
    let detail = card["detail"].as_str().unwrap_or_default();
    detail
        .lines()
        .find(|l| l.starts_with(&format!("- **{class} — ")) || l.starts_with(&format!("- **{class} (")))
        .unwrap_or_else(|| panic!("no line for {class} in:\n{detail}"))
        .to_owned()
}

fn suggestion_labels(card: &Value) -> Vec<String> {
    card["suggestions"].as_array().into_iter().flatten().map(|s| s["label"].as_str().unwrap().to_owned()).collect()
}

// ---------- §1 Trigger ----------

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
fn nortriptyline_named_text_is_not_ketamine_and_esketamine_is_not_ketamine() {
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

// ---------- §2 Applicability ----------

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
    assert!(card["detail"].as_str().unwrap().contains("**Indication** (reason on the order): Neuropathic pain"));
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
    assert!(card["detail"].as_str().unwrap().contains("(reason on the order): Postherpetic neuralgia"));
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
    let detail = case.step_card()["detail"].as_str().unwrap().to_owned();
    let line = detail.lines().find(|l| l.contains("Cancer-related neuropathic pain")).unwrap();
    assert!(line.contains("(Level II, Grade D)") && line.contains("Applies to this patient"), "{line}");
}

#[test]
fn crps_marks_the_moderate_evidence_statement() {
    let order =
        with(ketamine_draft(), "reasonCode", json!([code(SCT, "734947007", "Complex regional pain syndrome type I")]));
    let detail = Case::sign().drafts(vec![order]).step_card()["detail"].as_str().unwrap().to_owned();
    let line = detail.lines().find(|l| l.starts_with("- CRPS")).unwrap();
    assert!(line.contains("(Grade B)") && line.contains("Applies to this patient"), "{line}");
}

// ---------- §3 First-line classes ----------

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

// ---------- §4 Outcomes ----------

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
        detail.contains("- TCA: Amitriptyline 100 mg/day, stopped 2025-03-02: no response to treatment"),
        "{detail}"
    );
    assert!(detail.contains("**Monitoring**:"));
    assert!(card.get("suggestions").is_none() && card.get("overrideReasons").is_none());
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
            "Order duloxetine 30 mg once daily (SNRI, Level I, Grade A) instead",
            "Order gabapentin 300 mg at bedtime (gabapentinoid, strong recommendation) instead",
            "Order amitriptyline 10 mg at night (TCA, strong recommendation) instead",
        ]
    );
    let recommended: Vec<bool> =
        card["suggestions"].as_array().unwrap().iter().map(|s| s["isRecommended"].as_bool().unwrap_or(false)).collect();
    assert_eq!(recommended, [true, false, false]);
    let actions = &card["suggestions"][0]["actions"];
    assert_eq!(
        actions[0],
        json!({ "type": "delete", "description": "Remove the ketamine order", "resourceId": "MedicationRequest/k1" })
    );
    assert_eq!(actions[1]["type"], "create");
    let created = &actions[1]["resource"];
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
        "Level II, Grade D",
        "35 days",
        "CRPS",
        "Psychedelic effects",
        "cardiovascular stimulation",
        "hepatotoxicity",
        "abuse and tolerance",
        "close monitoring is mandatory",
    ] {
        assert!(detail.contains(phrase), "detail lacks '{phrase}':\n{detail}");
    }
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

// ---------- §5 Relative contraindications ----------

#[test]
fn each_contraindication_group_adds_a_graded_warning() {
    for (c, display, group, grade) in [
        ("I50.22", "Chronic systolic heart failure", "Poorly controlled cardiovascular disease", "Grade B"),
        ("I21.4", "NSTEMI", "Poorly controlled cardiovascular disease", "Grade B"),
        ("O09.90", "Supervision of high risk pregnancy", "Pregnancy", "Grade B"),
        ("Z33.1", "Pregnant state", "Pregnancy", "Grade B"),
        ("F20.9", "Schizophrenia", "Active psychosis", "Grade B"),
        ("K74.60", "Cirrhosis of liver", "Severe hepatic disease", "Grade C"),
        ("H40.11X0", "Primary open-angle glaucoma", "Raised intracranial or intraocular pressure", "Grade C"),
        ("F11.20", "Opioid dependence", "Active substance use disorder", "Grade C"),
    ] {
        let cards = Case::sign().conditions(vec![pdn(), condition(ICD, c, display)]).cards();
        assert_eq!(topics(&cards), ["ketamine-step-therapy", "ketamine-contraindication"], "{c}");
        let card = &cards[1];
        assert_eq!(card["indicator"], "warning");
        assert_eq!(card["summary"], format!("Ketamine: relative contraindication on record: {display}"));
        let line = format!("- **{group}** ({grade}): {display}");
        assert!(card["detail"].as_str().unwrap().contains(&line), "{c}: {}", card["detail"]);
    }
}

#[test]
fn substance_use_in_remission_or_unspecified_use_is_not_a_contraindication() {
    let cards = Case::sign().conditions(vec![pdn(), condition(ICD, "F11.90", "Opioid use, unspecified")]).cards();
    assert_eq!(topics(&cards), ["ketamine-step-therapy"]);
}

#[test]
fn contraindication_warns_even_when_the_order_is_backed() {
    let cards = Case::sign()
        .all_first_line_failed()
        .conditions(vec![pdn(), condition(ICD, "F20.0", "Paranoid schizophrenia")])
        .cards();
    assert_eq!(topics(&cards), ["ketamine-contraindication"]);
}

#[test]
fn contraindication_is_silent_when_the_guideline_does_not_apply() {
    let cards = Case::sign().conditions(vec![condition(ICD, "I50.22", "Heart failure")]).cards();
    assert!(cards.is_empty());
}

// ---------- §6 Data rules ----------

#[test]
fn a_null_prefetch_key_is_a_known_empty_result() {
    let card = Case::sign().step_card();
    assert!(class_line(&card, "SNRI").contains("not documented"));
}

#[test]
fn an_unreadable_history_resource_is_skipped_not_fatal() {
    let broken = json!({ "resourceType": "MedicationRequest", "id": "bad", "status": "stopped", "dosageInstruction": "twice daily",
                         "medicationCodeableConcept": code(RX, "72625", "duloxetine") });
    let card = Case::sign().history(vec![broken, gabapentin_failed()]).step_card();
    assert!(class_line(&card, "Gabapentinoid").contains("failed"));
    assert!(class_line(&card, "SNRI").contains("not documented"));
}
