//! `PlanDefinition/$apply` (the Clinical Practice Guidelines IG's "reasoning as a service"),
//! for engines that do not speak CDS Hooks: R4 `Parameters` in (`subject`, the patient's data as
//! a `data` Bundle or `prefetchData` parts, optionally `order` naming the draft), the same call
//! as an order-sign hook out as an R4 `RequestGroup` that says what the cards say. Pure: the
//! request is built here and answered by [`super::answer_with`]; HTTP is `http::apply`.
//!
//! The RequestGroup: one action per card — the step-therapy recommendation, the contraindication
//! warning, an information card — with its summary as title, its detail as description, its links
//! and source as `documentation`, its evidence grades and class statuses as extensions, and for
//! each suggestion a sub-action whose resource is the first-line MedicationRequest the
//! ActivityDefinition makes (contained), `selectionBehavior` `at-most-one`. No action when the
//! guideline is silent.

use serde_json::{Map, Value, json};

use super::Evaluation;
use super::bundle::{self, BundleOptions};
use crate::guideline::Hook;
use crate::hooks::response::{ActionType, Card, Indicator};
use crate::knowledge::Knowledge;

/// The extensions of an action: an evidence grade the card cites, a class status it shows.
pub const GRADE_EXTENSION: &str = "https://fhir.ketamine-cds.example/StructureDefinition/evidence-grade";
pub const CLASS_STATUS_EXTENSION: &str = "https://fhir.ketamine-cds.example/StructureDefinition/class-status";

/// The input parameter naming the draft (`MedicationRequest/ID`), when `data` holds several.
pub const ORDER_PARAMETER: &str = "order";

/// What the Parameters asked for.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The hook request the Parameters stand for.
    pub request: Value,
    /// `Patient/ID`.
    pub subject: String,
}

fn parameters(body: &Value) -> Result<&Vec<Value>, String> {
    if body["resourceType"] != "Parameters" {
        return Err("the body must be a FHIR R4 Parameters resource".into());
    }
    body["parameter"].as_array().ok_or_else(|| "Parameters has no 'parameter'".to_owned())
}

/// The value of a string-like parameter (`valueString`, `valueUri`, `valueCanonical`,
/// `valueReference.reference`).
fn text_of(parameter: &Value) -> Option<&str> {
    ["valueString", "valueUri", "valueCanonical", "valueId"]
        .iter()
        .find_map(|k| parameter[*k].as_str())
        .or_else(|| parameter["valueReference"]["reference"].as_str())
}

/// The named parameter's text, if given.
pub fn text_parameter<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    parameters(body).ok()?.iter().find(|p| p["name"] == name).and_then(text_of)
}

/// Reads the Parameters into the order-sign request they stand for, asked at `now` (which
/// names the call).
pub fn request_of(body: &Value, knowledge: &Knowledge, now: time::OffsetDateTime) -> Result<Applied, String> {
    let params = parameters(body)?;
    let subject = params
        .iter()
        .find(|p| p["name"] == "subject")
        .and_then(text_of)
        .ok_or("Parameters: 'subject' (the Patient, e.g. valueString \"Patient/123\") is required")?;
    let patient_id = subject.strip_prefix("Patient/").filter(|id| !id.is_empty() && !id.contains('/'));
    let patient_id =
        patient_id.ok_or_else(|| format!("Parameters: subject '{subject}' is not a Patient reference (Patient/ID)"))?;
    let mut resources: Vec<Value> = Vec::new();
    let mut take = |resource: &Value, what: &str| -> Result<(), String> {
        match resource["resourceType"].as_str() {
            Some("Bundle") => {
                for entry in resource["entry"].as_array().into_iter().flatten() {
                    if entry["resource"].is_object() {
                        resources.push(entry["resource"].clone());
                    }
                }
                Ok(())
            }
            Some(_) => {
                resources.push(resource.clone());
                Ok(())
            }
            None => Err(format!("Parameters: {what} holds no FHIR resource")),
        }
    };
    for p in params {
        match p["name"].as_str() {
            Some("data") => take(&p["resource"], "'data'")?,
            Some("prefetchData") => {
                for part in p["part"].as_array().into_iter().flatten().filter(|part| part["name"] == "data") {
                    take(&part["resource"], "a 'prefetchData' part")?;
                }
            }
            _ => {}
        }
    }
    if resources.is_empty() {
        return Err("Parameters: no patient data: give it as 'data' (a Bundle) or as 'prefetchData' parts".into());
    }
    let order = text_parameter(body, ORDER_PARAMETER)
        .map(|o| if o.contains('/') { o.to_owned() } else { format!("MedicationRequest/{o}") });
    let entries: Vec<Value> = resources.into_iter().map(|r| json!({ "resource": r })).collect();
    let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": entries });
    let options = BundleOptions { hook: Hook::OrderSign, order };
    let name = format!("apply/{subject}/{}", crate::clock::millis(now));
    let mut request = bundle::request_for(bundle, &name, &options, knowledge).map_err(|e| {
        if e.contains("no ketamine MedicationRequest") {
            format!("no ketamine MedicationRequest with status 'draft' in the data (name one with the '{ORDER_PARAMETER}' parameter)")
        } else {
            e
        }
    })?;
    // The subject is the call's patient: records of another are dropped, a draft of another is
    // refused, as in a hook call.
    request["context"]["patientId"] = Value::from(patient_id);
    request["context"]["userId"] = Value::from("Practitioner/plan-definition-apply");
    Ok(Applied { request, subject: subject.to_owned() })
}

/// The RequestGroup of an answered call, from its cards' typed fields (never their JSON read
/// back).
pub fn request_group(
    evaluation: &Evaluation,
    subject: &str,
    knowledge: &Knowledge,
    now: time::OffsetDateTime,
) -> Value {
    let mut contained: Vec<Value> = Vec::new();
    let actions: Vec<Value> = evaluation.response.cards.iter().map(|card| action(card, &mut contained)).collect();
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("request-group|{}", evaluation.ids.hook_instance).as_bytes(),
    );
    let mut group = json!({
        "resourceType": "RequestGroup",
        "id": id.to_string(),
        "instantiatesCanonical": [format!("{}|{}", knowledge.plan.url, knowledge.version())],
        "status": "draft",
        "intent": "proposal",
        "subject": { "reference": subject },
        "authoredOn": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    });
    if !contained.is_empty() {
        group["contained"] = Value::Array(contained);
    }
    if !actions.is_empty() {
        group["action"] = Value::Array(actions);
    }
    group
}

/// One card as an action; its suggestions' MedicationRequests go to `contained`.
fn action(card: &Card, contained: &mut Vec<Value>) -> Value {
    let mut action = Map::new();
    let facts = &card.facts;
    let grades = facts
        .grades
        .iter()
        .map(|(system, code)| json!({ "url": GRADE_EXTENSION, "valueCoding": { "system": system, "code": code } }));
    let statuses = facts.classes.iter().map(|(class, status)| {
        json!({ "url": CLASS_STATUS_EXTENSION, "extension": [
            { "url": "class", "valueCode": class }, { "url": "status", "valueCode": status } ] })
    });
    let extensions: Vec<Value> = grades.chain(statuses).collect();
    if !extensions.is_empty() {
        action.insert("extension".into(), Value::Array(extensions));
    }
    action.insert("id".into(), Value::from(card.uuid.as_str()));
    action.insert("title".into(), Value::from(card.summary.as_str()));
    if let Some(detail) = &card.detail {
        action.insert("description".into(), Value::from(detail.as_str()));
    }
    let priority = match card.indicator {
        Indicator::Critical => "stat",
        Indicator::Warning => "urgent",
        Indicator::Info => "routine",
    };
    action.insert("priority".into(), Value::from(priority));
    if let Some(topic) = &card.source.topic {
        action.insert(
            "code".into(),
            json!([{ "coding": [{ "system": topic.system, "code": topic.code, "display": topic.display }] }]),
        );
    }
    let source =
        card.source.url.iter().map(|url| json!({ "type": "documentation", "display": card.source.label, "url": url }));
    let citations = card.links.iter().map(|l| json!({ "type": "citation", "display": l.label, "url": l.url }));
    let documentation: Vec<Value> = source.chain(citations).collect();
    if !documentation.is_empty() {
        action.insert("documentation".into(), Value::Array(documentation));
    }
    let mut sub_actions = Vec::new();
    for suggestion in &card.suggestions {
        let mut sub = json!({ "id": suggestion.uuid, "title": suggestion.label });
        if let Some(create) = suggestion.actions.iter().find(|a| a.kind == ActionType::Create) {
            sub["description"] = Value::from(create.description.as_str());
            if let Some(resource) = &create.resource {
                let mut resource = resource.clone();
                let local = format!("suggestion-{}", contained.len() + 1);
                resource["id"] = Value::from(local.clone());
                contained.push(resource);
                sub["resource"] = json!({ "reference": format!("#{local}") });
            }
        }
        sub_actions.push(sub);
    }
    if !sub_actions.is_empty() {
        action.insert("selectionBehavior".into(), Value::from("at-most-one"));
        action.insert("action".into(), Value::Array(sub_actions));
    }
    Value::Object(action)
}
