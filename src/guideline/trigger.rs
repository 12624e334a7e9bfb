//! Which orders are examined (clinical rules §1, `docs/clinical-rules.md`): on order-sign every
//! draft MedicationRequest, on order-select only the selected ones; ketamine or esketamine by the
//! recognition rules; not `entered-in-error`, `cancelled` or `completed`, and not an order *not*
//! to give it (`doNotPerform`).

use crate::fhir::resources::MedicationRequest;

use crate::fhir::PatientRecord;
use crate::knowledge::{AgentId, Knowledge};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    OrderSelect,
    OrderSign,
    /// Chart open (Epic's open-chart trigger, Oracle Health Millennium's only hook): no draft
    /// orders exist; the patient's running ketamine orders are examined.
    PatientView,
}

impl Hook {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "order-select" => Some(Self::OrderSelect),
            "order-sign" => Some(Self::OrderSign),
            "patient-view" => Some(Self::PatientView),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::OrderSelect => "order-select",
            Self::OrderSign => "order-sign",
            Self::PatientView => "patient-view",
        }
    }
}

/// The orders the hook examines: on order-sign every draft, on order-select the selected ones,
/// on patient-view the patient's `active` and `on-hold` orders of the record; never those
/// `entered-in-error`, `cancelled` or `completed`, nor those with `doNotPerform`.
fn in_scope<'r>(
    hook: Hook,
    selections: &'r [String],
    record: &'r PatientRecord,
) -> impl Iterator<Item = &'r MedicationRequest> {
    let orders = if hook == Hook::PatientView { &record.medication_requests } else { &record.drafts };
    orders
        .iter()
        .filter(move |order| match hook {
            Hook::OrderSign => true,
            Hook::PatientView => matches!(order.status.as_str(), "active" | "on-hold"),
            Hook::OrderSelect => order
                .id
                .as_deref()
                .is_some_and(|id| selections.iter().any(|s| s.strip_prefix("MedicationRequest/") == Some(id))),
        })
        .filter(|order| !matches!(order.status.as_str(), "entered-in-error" | "cancelled" | "completed"))
        .filter(|order| !order.do_not_perform())
}

/// The trigger agent an order names (ketamine before esketamine when a product names both), or
/// `None` when it is no ketamine order.
pub fn ketamine_agent(order: &MedicationRequest, record: &PatientRecord, knowledge: &Knowledge) -> Option<AgentId> {
    let concept = record.request_medication(order)?;
    let agents = knowledge.medications.recognise(&concept);
    knowledge.trigger_agents.iter().copied().find(|a| agents.contains(a))
}

/// The examined ketamine drafts with the trigger agent each names.
pub fn examined_orders<'r>(
    hook: Hook,
    selections: &'r [String],
    record: &'r PatientRecord,
    knowledge: &'r Knowledge,
) -> Vec<(&'r MedicationRequest, AgentId)> {
    in_scope(hook, selections, record)
        .filter_map(|order| Some((order, ketamine_agent(order, record, knowledge)?)))
        .collect()
}

/// Whether the call may examine a ketamine order, from what the record holds so far: an
/// in-scope draft that is a ketamine order, or one whose Medication the record does not hold yet
/// (it may come with the prefetch, an `_include`d Medication, or from the FHIR server). This
/// decides whether the patient's data is needed at all; which orders are examined is decided by
/// [`examined_orders`] once every source is read.
pub fn may_examine(hook: Hook, selections: &[String], record: &PatientRecord, knowledge: &Knowledge) -> bool {
    // On chart open the orders are the patient's data itself: it is always read.
    if hook == Hook::PatientView {
        return true;
    }
    in_scope(hook, selections, record)
        .any(|order| record.medication_unresolved(order) || ketamine_agent(order, record, knowledge).is_some())
}
