//! One hook call from request to cards, the same for the HTTP API and the command line:
//! hook request → patient record → assessment → cards. Pure: "now" is an argument.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::cards::{self, CallInfo};
use crate::fhir::{Origin, PatientRecord};
use crate::guideline::{self, Hook, Today};
use crate::hooks::discovery::{REQUIRED_PREFETCH, ServiceDef};
use crate::hooks::{HookError, HookRequest, Prefetched, Response};
use crate::knowledge::Knowledge;

/// The answer to a call and what went into it (for logs and metrics; no PHI).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub response: Response,
    /// Ketamine orders examined.
    pub examined: usize,
    /// Resources read and skipped while building the patient record.
    pub resources_read: usize,
    pub resources_skipped: usize,
}

/// `Type/id` of every entry of the draftOrders Bundle.
fn draft_refs(draft_orders: &Value) -> BTreeSet<String> {
    draft_orders["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let r = &e["resource"];
            let kind = r["resourceType"].as_str()?;
            let kind = if kind == "MedicationOrder" { "MedicationRequest" } else { kind };
            Some(format!("{kind}/{}", r["id"].as_str()?))
        })
        .collect()
}

/// Prefetch keys the rules need that the client did not provide (absent, or an
/// OperationOutcome): these must come from the FHIR server, or the call gets 412.
pub fn missing_prefetch(request: &HookRequest) -> Vec<String> {
    REQUIRED_PREFETCH
        .iter()
        .filter(|key| matches!(request.prefetch.get(**key), None | Some(Prefetched::Failed(_))))
        .map(|key| (*key).to_owned())
        .collect()
}

/// Checks the call against its service and answers it.
pub fn evaluate(
    service: &ServiceDef,
    mut request: HookRequest,
    knowledge: &Knowledge,
    now: time::OffsetDateTime,
) -> Result<Evaluation, HookError> {
    if request.hook != service.hook {
        return Err(HookError::HookMismatch { expected: service.hook.to_owned(), got: request.hook.clone() });
    }
    let hook = Hook::from_name(service.hook).ok_or_else(|| HookError::HookMismatch {
        expected: "order-select or order-sign".into(),
        got: request.hook.clone(),
    })?;
    let drafts = draft_refs(&request.context.draft_orders);
    if let Some(unknown) = request.context.selections.iter().find(|s| !drafts.contains(*s)) {
        return Err(HookError::UnknownSelection(unknown.clone()));
    }
    let mut record = PatientRecord::new(&request.context.patient_id);
    record.add(std::mem::take(&mut request.context.draft_orders), Origin::Draft);
    let examined = guideline::trigger::examined_orders(hook, &request.context.selections, &record, knowledge).len();
    if examined > 0 {
        let missing = missing_prefetch(&request);
        if !missing.is_empty() {
            return Err(HookError::MissingData(missing));
        }
        for value in std::mem::take(&mut request.prefetch).into_values() {
            if let Prefetched::Data(data) = value {
                record.add(data, Origin::History);
            }
        }
    }
    let today = Today::from_datetime(now);
    let assessments = guideline::assess(hook, &request.context.selections, &record, knowledge, &today);
    let call = CallInfo {
        hook,
        hook_instance: &request.hook_instance,
        patient_id: &request.context.patient_id,
        encounter_id: request.context.encounter_id.as_deref(),
    };
    Ok(Evaluation {
        response: Response { cards: cards::cards(&call, &assessments, knowledge) },
        examined,
        resources_read: record.stats.read,
        resources_skipped: record.stats.skipped,
    })
}
