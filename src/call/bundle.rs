//! A FHIR Bundle (a patient record as an EHR or Synthea exports it) made into the hook request
//! an EHR would send: its ketamine draft(s) as `draftOrders`, the rest as prefetch, one key per
//! resource type. `ketamine-cds evaluate` and the playground page read Bundles this way.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::prefetch;
use crate::fhir::{Origin, PatientRecord};
use crate::guideline::{Hook, trigger};
use crate::knowledge::Knowledge;

/// How a Bundle becomes a hook request.
#[derive(Debug, Clone)]
pub struct BundleOptions {
    pub hook: Hook,
    /// `MedicationRequest/ID` to treat as the draft, instead of every ketamine draft.
    pub order: Option<String>,
}

/// A hook request body for a case file's JSON.
pub fn request_for(value: Value, name: &str, options: &BundleOptions, knowledge: &Knowledge) -> Result<Value, String> {
    if value.get("hook").is_some() || value.get("context").is_some() {
        return Ok(value);
    }
    if value.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
        return from_bundle(value, name, options, knowledge);
    }
    Err("neither a CDS Hooks request (no 'hook') nor a FHIR Bundle".to_owned())
}

fn from_bundle(bundle: Value, name: &str, options: &BundleOptions, knowledge: &Knowledge) -> Result<Value, String> {
    let entries: Vec<Value> = match bundle.get("entry") {
        Some(Value::Array(entries)) => entries.iter().filter_map(|e| e.get("resource").cloned()).collect(),
        _ => Vec::new(),
    };
    let id_of = |r: &Value| format!("{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""));
    let is_draft: Vec<bool> = match &options.order {
        Some(order) => {
            let marks: Vec<bool> = entries.iter().map(|r| &id_of(r) == order).collect();
            if !marks.contains(&true) {
                return Err(format!("{order} is not in the Bundle"));
            }
            marks
        }
        None => ketamine_drafts(&entries, knowledge),
    };
    if !is_draft.contains(&true) {
        return Err("the Bundle has no ketamine MedicationRequest with status 'draft' (name one with --order)".into());
    }
    let mut drafts = Vec::new();
    let mut by_key: Map<String, Value> = Map::new();
    let mut patient_id = String::new();
    for (resource, draft) in entries.into_iter().zip(is_draft) {
        let kind = resource["resourceType"].as_str().unwrap_or_default().to_owned();
        if draft {
            if patient_id.is_empty() {
                // DSTU2 names the patient `patient`.
                patient_id = reference_id(resource.get("subject").unwrap_or(&resource["patient"]));
            }
            drafts.push(json!({ "resource": resource }));
            continue;
        }
        if kind == "Patient" {
            patient_id = resource["id"].as_str().unwrap_or_default().to_owned();
            by_key.insert("patient".into(), resource);
            continue;
        }
        let Some(key) = prefetch::key_for(&kind) else { continue };
        let bundle =
            by_key.entry(key).or_insert_with(|| json!({ "resourceType": "Bundle", "type": "searchset", "entry": [] }));
        if let Some(Value::Array(list)) = bundle.get_mut("entry") {
            list.push(json!({ "resource": resource }));
        }
    }
    for key in prefetch::REQUIRED {
        by_key.entry(*key).or_insert(Value::Null);
    }
    let mut context = json!({
        "userId": "Practitioner/ketamine-cds-evaluate",
        "patientId": patient_id,
        "draftOrders": { "resourceType": "Bundle", "type": "collection", "entry": drafts },
    });
    if options.hook == Hook::OrderSelect {
        let selections: Vec<Value> = context["draftOrders"]["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| Value::from(id_of(&e["resource"])))
            .collect();
        context["selections"] = Value::Array(selections);
    }
    let hook_instance = Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("ketamine-cds-evaluate/{name}").as_bytes());
    Ok(json!({
        "hook": options.hook.name(),
        "hookInstance": hook_instance.to_string(),
        "context": context,
        "prefetch": by_key,
    }))
}

/// Marks the MedicationRequests (or DSTU2 MedicationOrders) with status `draft` that are
/// ketamine orders by the trigger rule (their Medication found anywhere in the Bundle).
fn ketamine_drafts(entries: &[Value], knowledge: &Knowledge) -> Vec<bool> {
    let mut record = PatientRecord::new("");
    let drafts: Vec<Value> = entries
        .iter()
        .filter(|r| r["resourceType"] == "Medication" || (is_order(r) && r["status"] == "draft"))
        .cloned()
        .collect();
    record.add(json!({ "resourceType": "Bundle", "entry": drafts.into_iter().map(|r| json!({ "resource": r })).collect::<Vec<_>>() }), Origin::Draft);
    let ketamine_ids: Vec<String> = record
        .drafts
        .iter()
        .filter(|order| trigger::ketamine_agent(order, &record, knowledge).is_some())
        .filter_map(|order| order.id.clone())
        .collect();
    entries
        .iter()
        .map(|r| {
            is_order(r)
                && r["status"] == "draft"
                && r["id"].as_str().is_some_and(|id| ketamine_ids.iter().any(|k| k == id))
        })
        .collect()
}

/// Whether `order` (a MedicationRequest or DSTU2 MedicationOrder, of any status) names a trigger
/// agent by the trigger rule, its Medication looked up among `medications`.
pub fn names_ketamine(order: &Value, medications: &[&Value], knowledge: &Knowledge) -> bool {
    let mut record = PatientRecord::new("");
    let entries: Vec<Value> =
        std::iter::once(order).chain(medications.iter().copied()).map(|r| json!({ "resource": r })).collect();
    record.add(json!({ "resourceType": "Bundle", "entry": entries }), Origin::Draft);
    record.drafts.iter().any(|o| trigger::ketamine_agent(o, &record, knowledge).is_some())
}

/// A MedicationRequest, or DSTU2's MedicationOrder.
fn is_order(resource: &Value) -> bool {
    matches!(resource["resourceType"].as_str(), Some("MedicationRequest" | "MedicationOrder"))
}

fn reference_id(reference: &Value) -> String {
    let target = reference["reference"].as_str().unwrap_or_default();
    target.rsplit('/').next().unwrap_or_default().trim_start_matches("urn:uuid:").to_owned()
}
