//! One hook call from request to cards, the same for the HTTP API and the command line:
//! hook request → patient record → assessment → cards. Pure: "now" is an argument.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::cards::{self, CallInfo};
use crate::fhir::{Origin, PatientRecord};
use crate::guideline::{self, Hook, Today};
use crate::hooks::discovery::{REQUIRED_PREFETCH, ServiceDef};
use crate::hooks::{HookError, HookRequest, PrefetchData, Prefetched, Response};
use crate::knowledge::Knowledge;

/// The answer to a call and what went into it (for logs and metrics; no PHI).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub response: Response,
    /// Ketamine orders examined.
    pub examined: usize,
    /// Prefetch keys the client sent and the rules used.
    pub prefetched: usize,
    /// Prefetch keys read from the FHIR server.
    pub fetched: usize,
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

/// A call checked against its service, its draft orders read; the patient data may still be
/// missing (see [`Prepared::missing`]).
pub struct Prepared {
    hook: Hook,
    request: HookRequest,
    record: PatientRecord,
    examined: usize,
    fetched: usize,
}

impl Prepared {
    /// Prefetch keys the rules need and the client did not send. Empty when no ketamine order
    /// is examined: such a call needs no patient data.
    pub fn missing(&self) -> Vec<String> {
        if self.examined == 0 { Vec::new() } else { missing_prefetch(&self.request) }
    }

    /// The call's FHIR server and access token, for the fallback reads.
    pub fn fhir_server(&self) -> Option<(&str, Option<&str>)> {
        let server = self.request.fhir_server.as_deref()?;
        Some((server, self.request.fhir_authorization.as_ref().map(|a| a.access_token.as_str())))
    }

    pub fn patient_id(&self) -> &str {
        &self.request.context.patient_id
    }

    /// Supplies a prefetch key read from the FHIR server.
    pub fn add_fetched(&mut self, key: &str, data: Value) {
        self.request.prefetch.insert(key.to_owned(), Prefetched::Data(PrefetchData::from_value(data)));
        self.fetched += 1;
    }

    /// Assesses and answers the call; 412 if needed data is still missing (`why` gives the
    /// reason per key, where a read was tried).
    pub fn finish(
        mut self,
        knowledge: &Knowledge,
        now: time::OffsetDateTime,
        why: &[(String, String)],
    ) -> Result<Evaluation, HookError> {
        let missing = self.missing();
        if !missing.is_empty() {
            let reasons = missing
                .into_iter()
                .map(|key| {
                    let reason = why.iter().find(|(k, _)| *k == key).map(|(_, r)| r.clone()).unwrap_or_else(|| {
                        "not prefetched (absent or an OperationOutcome) and no fhirServer to read it from".to_owned()
                    });
                    (key, reason)
                })
                .collect();
            return Err(HookError::MissingData(reasons));
        }
        let mut prefetched = 0;
        if self.examined > 0 {
            prefetched =
                self.request.prefetch.values().filter(|v| matches!(v, Prefetched::Data(_))).count() - self.fetched;
            for value in std::mem::take(&mut self.request.prefetch).into_values() {
                if let Prefetched::Data(data) = value {
                    data.add_to(&mut self.record, Origin::History);
                }
            }
        }
        let today = Today::from_datetime(now);
        let request = &self.request;
        let assessments = guideline::assess(self.hook, &request.context.selections, &self.record, knowledge, &today);
        let call = CallInfo {
            hook: self.hook,
            hook_instance: &request.hook_instance,
            patient_id: &request.context.patient_id,
            encounter_id: request.context.encounter_id.as_deref(),
        };
        Ok(Evaluation {
            response: Response { cards: cards::cards(&call, &assessments, knowledge) },
            examined: self.examined,
            prefetched,
            fetched: self.fetched,
            resources_read: self.record.stats.read,
            resources_skipped: self.record.stats.skipped,
        })
    }
}

/// Checks the call against its service and reads its draft orders.
pub fn prepare(
    service: &'static ServiceDef,
    mut request: HookRequest,
    knowledge: &Knowledge,
) -> Result<Prepared, HookError> {
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
    Ok(Prepared { hook, request, record, examined, fetched: 0 })
}

/// Answers a call from what it carries (no FHIR-server reads): the command line's path, and
/// the server's when nothing is missing.
pub fn evaluate(
    service: &'static ServiceDef,
    request: HookRequest,
    knowledge: &Knowledge,
    now: time::OffsetDateTime,
) -> Result<Evaluation, HookError> {
    prepare(service, request, knowledge)?.finish(knowledge, now, &[])
}
