//! Which orders are examined (RULES.md §1): on order-sign every draft MedicationRequest, on
//! order-select only the selected ones; ketamine or esketamine by the recognition rules; not
//! `entered-in-error`, `cancelled` or `completed`.

use crate::fhir::resources::MedicationRequest;

use crate::fhir::PatientRecord;
use crate::knowledge::{AgentId, Knowledge};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    OrderSelect,
    OrderSign,
}

impl Hook {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "order-select" => Some(Self::OrderSelect),
            "order-sign" => Some(Self::OrderSign),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::OrderSelect => "order-select",
            Self::OrderSign => "order-sign",
        }
    }
}

/// The examined ketamine drafts with the trigger agent each names (ketamine before
/// esketamine when a product names both).
pub fn examined_orders<'r>(
    hook: Hook,
    selections: &[String],
    record: &'r PatientRecord,
    knowledge: &Knowledge,
) -> Vec<(&'r MedicationRequest, AgentId)> {
    record
        .drafts
        .iter()
        .filter(|order| match hook {
            Hook::OrderSign => true,
            Hook::OrderSelect => order
                .id
                .as_deref()
                .is_some_and(|id| selections.iter().any(|s| s.strip_prefix("MedicationRequest/") == Some(id))),
        })
        .filter(|order| !matches!(order.status.as_str(), "entered-in-error" | "cancelled" | "completed"))
        .filter_map(|order| {
            let concept = record.request_medication(order)?;
            let agents = knowledge.medications.recognise(&concept);
            let agent = knowledge.trigger_agents.iter().copied().find(|a| agents.contains(a))?;
            Some((order, agent))
        })
        .collect()
}
