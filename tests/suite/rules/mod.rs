//! One test per rule branch of docs/clinical-rules.md, a file per section, named after the clinical
//! situation, built from small FHIR fixtures and asserting the cards' actual content; the
//! assessment itself (class statuses, applicability, contraindications) is asserted apart, in
//! `assessment.rs`, so that a change of wording cannot break a rule test.

mod assessment;
mod s1_trigger;
mod s2_applicability;
mod s3_first_line_classes;
mod s4_cards;
mod s4_patient_view;
mod s5_contraindications;

use crate::common::fhir_versions;
use crate::common::*;
use ketamine_cds::call;
use ketamine_cds::guideline::{ClassStatus, Hook, OrderAssessment};
use ketamine_cds::hooks::HookRequest;
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
    /// The prefetched Patient, when the case has one.
    patient: Option<Value>,
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
            patient: None,
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

    /// A prefetched Patient born on `birth_date`.
    fn born(mut self, birth_date: &str) -> Self {
        self.patient = Some(json!({ "resourceType": "Patient", "id": PID, "birthDate": birth_date }));
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
        let mut body = json!({ "hook": self.hook, "hookInstance": "0f6c2a43-7b61-4c1e-9d39-1a2b3c4d5e6f", "context": context,
                "prefetch": { "conditions": bundle(&self.conditions), "medicationRequests": bundle(&self.requests),
                              "medicationStatements": bundle(&self.statements), "allergyIntolerances": bundle(&self.allergies) } });
        if let Some(patient) = &self.patient {
            body["prefetch"]["patient"] = patient.clone();
        }
        body
    }

    /// The assessment the rules make of this call (no cards), as the product's own call makes it.
    fn assess(&self) -> Vec<OrderAssessment> {
        let request = HookRequest::from_value(self.body()).expect("a valid request");
        let hook = Hook::from_name(self.hook).expect("a hook");
        let service = call::services::for_hook(hook);
        call::answer_offline(service, request, knowledge(), now()).expect("the call is answered").assessments
    }

    /// The cards of this call in R4 — after checking that every other FHIR version able to say
    /// the same situation ([`fhir_versions`]) gets the same cards, its suggestions valid
    /// resources of its own version. (A call that reads the same in STU3 and R4 — a draft
    /// without dose or encounter, nothing else STU3's own — is answered in R4.)
    fn cards(&self) -> Vec<Value> {
        let body = self.body();
        let cards = cards_of(&body);
        for version in fhir_versions::OTHER_VERSIONS {
            let Ok(written) = fhir_versions::write_request(version, &body) else { continue };
            let told = fhir_versions::told(version, &written, &body);
            fhir_versions::assert_same_cards(told, &cards, &cards_of(&written));
        }
        cards
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

fn cards_of(body: &Value) -> Vec<Value> {
    let response = evaluate(body).expect("call accepted");
    assert_valid_response(&response);
    response["cards"].as_array().cloned().unwrap_or_default()
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
