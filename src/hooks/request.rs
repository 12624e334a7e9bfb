//! CDS Hooks request envelope: validation against the shipped JSON Schema, then the typed view
//! the rest of the service reads (hook, hookInstance, context, prefetch in its four states).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::HookError;
use bytes::Bytes;

use super::envelope::{self, RawEntries};
use crate::config::RequestLimits;
use crate::fhir::raw::{RawEntry, limit_passed};

static SCHEMA_TEXT: &str = include_str!("request.schema.json");

static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA_TEXT).expect("shipped request schema is JSON");
    jsonschema::validator_for(&schema).expect("shipped request schema is a valid JSON Schema")
});

/// Compiles the request schema now (at start-up) rather than on the first call.
pub fn warm_up() {
    LazyLock::force(&SCHEMA);
}

/// One prefetch key as the client sent it. An absent key is simply not in the map.
#[derive(Debug, Clone, PartialEq)]
pub enum Prefetched {
    /// `null`: the client ran the query and there is nothing (a known empty result).
    Null,
    /// An OperationOutcome: the client's query failed; treated as absent.
    Failed(Value),
    /// A Bundle (searchset) or a single resource.
    Data(PrefetchData),
}

/// A prefetched Bundle or resource. A Bundle read from a request body has its entries apart,
/// unparsed (`entries`); one built from a parsed value (the command line) keeps them in `value`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrefetchData {
    /// The Bundle or resource (pruned of elements the rules never read).
    pub value: Value,
    pub entries: Vec<RawEntry>,
}

/// The `fhirAuthorization` object. Its token is never logged: `Debug` hides it.
#[derive(Clone, PartialEq)]
pub struct FhirAuthorization {
    pub access_token: String,
    pub token_type: Option<String>,
}

impl std::fmt::Debug for FhirAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirAuthorization").field("access_token", &"<redacted>").finish()
    }
}

/// The context fields of `order-select` and `order-sign`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderContext {
    /// Bare patient id (a `Patient/` prefix is removed).
    pub patient_id: String,
    pub user_id: Option<String>,
    pub encounter_id: Option<String>,
    /// `Type/id` references into `draft_orders`; empty for `order-sign`.
    pub selections: Vec<String>,
    /// The `draftOrders` Bundle.
    pub draft_orders: Value,
}

/// A validated hook request.
#[derive(Debug, Clone, PartialEq)]
pub struct HookRequest {
    pub hook: String,
    pub hook_instance: String,
    pub fhir_server: Option<String>,
    pub fhir_authorization: Option<FhirAuthorization>,
    pub context: OrderContext,
    pub prefetch: BTreeMap<String, Prefetched>,
    /// The request's `extension` (the card options of [`super::options`] are read from it).
    pub extension: Option<Value>,
}

/// A draft's reference as the record reads it: a DSTU2 `MedicationOrder/…` is the
/// `MedicationRequest/…` it is read as.
fn as_read(reference: &str) -> String {
    match reference.strip_prefix("MedicationOrder/") {
        Some(id) => format!("MedicationRequest/{id}"),
        None => reference.to_owned(),
    }
}

impl HookRequest {
    /// Parses and validates a request body. Prefetched resources keep only the elements the
    /// rules read, and the entries of prefetched Bundles stay unparsed until the patient record
    /// reads them (see [`envelope`]).
    pub fn from_bytes(body: &Bytes) -> Result<Self, HookError> {
        Self::from_bytes_within(body, &RequestLimits::default())
    }

    /// As [`Self::from_bytes`], within `limits` (a limit passed is [`HookError::LimitPassed`]).
    pub fn from_bytes_within(body: &Bytes, limits: &RequestLimits) -> Result<Self, HookError> {
        let (value, entries) = envelope::request_within(body, limits).map_err(|e| match limit_passed(&e) {
            Some(limit) => HookError::LimitPassed(limit),
            None => HookError::MalformedJson(e.to_string()),
        })?;
        Self::read(value, entries)
    }

    /// `Type/id` of every entry of the draftOrders Bundle (a DSTU2 `MedicationOrder` named as
    /// the MedicationRequest it is read as).
    pub fn draft_refs(&self) -> BTreeSet<String> {
        self.context.draft_orders["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let r = &e["resource"];
                Some(as_read(&format!("{}/{}", r["resourceType"].as_str()?, r["id"].as_str()?)))
            })
            .collect()
    }

    /// As [`Self::from_bytes`], for a body that is not already shared (copied once).
    pub fn from_slice(body: &[u8]) -> Result<Self, HookError> {
        Self::from_bytes(&Bytes::copy_from_slice(body))
    }

    /// Validates a parsed request body against the schema and reads it.
    pub fn from_value(value: Value) -> Result<Self, HookError> {
        Self::read(value, RawEntries::new())
    }

    fn read(mut value: Value, mut raw_entries: RawEntries) -> Result<Self, HookError> {
        normalize_envelope(&mut value);
        let findings: Vec<String> = SCHEMA
            .iter_errors(&value)
            .map(|e| {
                let path = e.instance_path().to_string();
                let at = if path.is_empty() { "request".to_owned() } else { path };
                // Masked: the finding names the rule broken, never the request's own values.
                format!("{at}: {}", e.masked())
            })
            .take(20)
            .collect();
        if !findings.is_empty() {
            return Err(HookError::Invalid(findings));
        }
        let Value::Object(mut root) = value else {
            return Err(HookError::Invalid(vec!["request: not a JSON object".into()]));
        };
        let hook = take_string(&mut root, "hook").unwrap_or_default();
        let hook_instance = take_string(&mut root, "hookInstance").unwrap_or_default();
        let fhir_server = take_string(&mut root, "fhirServer");
        let fhir_authorization = match root.remove("fhirAuthorization") {
            Some(Value::Object(mut auth)) => Some(FhirAuthorization {
                access_token: take_string(&mut auth, "access_token").unwrap_or_default(),
                token_type: take_string(&mut auth, "token_type"),
            }),
            _ => None,
        };
        let mut context = match root.remove("context") {
            Some(Value::Object(context)) => context,
            _ => Map::new(),
        };
        let patient_id = take_string(&mut context, "patientId").unwrap_or_default();
        let patient_id = patient_id.strip_prefix("Patient/").unwrap_or(&patient_id).to_owned();
        let selections = match context.remove("selections") {
            // A DSTU2 client selects `MedicationOrder/…`: the drafts are read as MedicationRequests.
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(as_read).collect(),
            _ => Vec::new(),
        };
        let context = OrderContext {
            patient_id,
            user_id: take_string(&mut context, "userId"),
            encounter_id: take_string(&mut context, "encounterId"),
            selections,
            draft_orders: context.remove("draftOrders").unwrap_or(Value::Null),
        };
        let prefetch = match root.remove("prefetch") {
            Some(Value::Object(keys)) => keys
                .into_iter()
                .map(|(key, value)| {
                    let state = match value {
                        Value::Null => Prefetched::Null,
                        v if v.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome") => {
                            Prefetched::Failed(v)
                        }
                        v => {
                            // Entries kept apart belong to the item only if it is still a Bundle
                            // (an item given as a Bundle entry was unwrapped to its resource).
                            let entries = raw_entries.remove(&key).unwrap_or_default();
                            let bundle = v.get("resourceType").and_then(Value::as_str) == Some("Bundle");
                            let entries = if bundle { entries } else { Vec::new() };
                            Prefetched::Data(PrefetchData { value: v, entries })
                        }
                    };
                    (key, state)
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let extension = root.remove("extension");
        Ok(Self { hook, hook_instance, fhir_server, fhir_authorization, context, prefetch, extension })
    }
}

/// Older shapes whose meaning is clear, rewritten before validation: `draftOrders` as one
/// resource or an array of them (CDS Hooks 1.0 era, the STU3 opioid IG) or `null` (no drafts);
/// a prefetch value given as a Bundle entry (`{"resource": …, "response": …}`).
fn normalize_envelope(value: &mut Value) {
    if let Some(drafts) = value.get_mut("context").and_then(|c| c.get_mut("draftOrders")) {
        let entries: Option<Vec<Value>> = match drafts.take() {
            Value::Null => Some(Vec::new()),
            Value::Array(items) => Some(
                items
                    .into_iter()
                    .map(|item| if item.get("resource").is_some() { item } else { json!({ "resource": item }) })
                    .collect(),
            ),
            bundle if bundle.get("resourceType").and_then(Value::as_str) == Some("Bundle") => {
                *drafts = bundle;
                None
            }
            single @ Value::Object(_) if single.get("resourceType").is_some() => {
                Some(vec![json!({ "resource": single })])
            }
            other => {
                *drafts = other;
                None
            }
        };
        if let Some(entries) = entries {
            *drafts = json!({ "resourceType": "Bundle", "type": "collection", "entry": entries });
        }
    }
    if let Some(Value::Object(prefetch)) = value.get_mut("prefetch") {
        for item in prefetch.values_mut() {
            if item.get("resourceType").is_none() {
                if let Some(resource) = item.get_mut("resource").filter(|r| r.get("resourceType").is_some()) {
                    *item = resource.take();
                }
            }
        }
    }
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(draft_orders: Value) -> Value {
        json!({ "hook": "order-sign", "hookInstance": "h", "context": { "patientId": "Patient/1", "draftOrders": draft_orders } })
    }

    #[test]
    fn four_prefetch_states_stay_distinct() {
        let mut body = minimal(json!({ "resourceType": "Bundle" }));
        body["prefetch"] = json!({
            "conditions": null,
            "medicationRequests": { "resourceType": "OperationOutcome", "issue": [] },
            "medicationStatements": { "resourceType": "Bundle", "type": "searchset" }
        });
        let request = HookRequest::from_value(body).unwrap();
        assert_eq!(request.prefetch.get("conditions"), Some(&Prefetched::Null));
        assert!(matches!(request.prefetch.get("medicationRequests"), Some(Prefetched::Failed(_))));
        assert!(matches!(request.prefetch.get("medicationStatements"), Some(Prefetched::Data(_))));
        assert_eq!(request.prefetch.get("allergyIntolerances"), None);
        assert_eq!(request.context.patient_id, "1");
    }

    #[test]
    fn old_draft_order_shapes_become_a_bundle() {
        let single =
            HookRequest::from_value(minimal(json!({ "resourceType": "MedicationRequest", "id": "a" }))).unwrap();
        assert_eq!(single.context.draft_orders["entry"][0]["resource"]["id"], "a");
        let list =
            HookRequest::from_value(minimal(json!([{ "resourceType": "MedicationRequest", "id": "b" }]))).unwrap();
        assert_eq!(list.context.draft_orders["entry"][0]["resource"]["id"], "b");
        let none = HookRequest::from_value(minimal(Value::Null)).unwrap();
        assert_eq!(none.context.draft_orders["entry"], json!([]));
        assert!(HookRequest::from_value(minimal(json!("nonsense"))).is_err());
    }

    #[test]
    fn prefetch_given_as_bundle_entry_is_unwrapped() {
        let mut body = minimal(json!({ "resourceType": "Bundle" }));
        body["prefetch"] = json!({ "patient": { "resource": { "resourceType": "Patient", "id": "1" }, "response": { "status": "200 OK" } } });
        let request = HookRequest::from_value(body).unwrap();
        assert!(matches!(request.prefetch.get("patient"), Some(Prefetched::Data(p)) if p.value["id"] == "1"));
    }

    #[test]
    fn access_token_never_shows_in_debug_output() {
        let mut body = minimal(json!({ "resourceType": "Bundle" }));
        body["fhirAuthorization"] = json!({ "access_token": "SECRET-TOKEN", "token_type": "Bearer" });
        let request = HookRequest::from_value(body).unwrap();
        assert!(!format!("{request:?}").contains("SECRET-TOKEN"));
    }
}
