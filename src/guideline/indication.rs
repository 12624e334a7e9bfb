//! Applicability (clinical rules §2, `docs/clinical-rules.md`): the order's own reason decides; without one, the patient's
//! active problem list does. A non-pain order reason (anaesthesia, sedation, depression) silences
//! the order; esketamine speaks only with an order-level pain reason.

use crate::fhir::datatypes::CodeableConcept;

use super::Today;
use crate::fhir::PatientRecord;
use crate::fhir::record::Owner;
use crate::fhir::resources::{Condition, MedicationRequest};
use crate::knowledge::{AgentId, ConceptSet, Knowledge};

/// Why the guideline stays silent for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// The order's reason is anaesthesia, sedation or depression and names no in-scope pain.
    NonPainOrderReason,
    /// Esketamine nasal spray without an order-level pain reason is the depression product.
    NoOrderLevelPainReason,
    /// No in-scope pain condition in the indication.
    NoInScopeCondition,
}

/// A condition of the indication, for card text.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicationCondition {
    pub display: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Applicability {
    NotApplicable(Silence),
    Applies {
        /// In-scope conditions of the indication.
        conditions: Vec<IndicationCondition>,
        /// True when the indication came from the order itself.
        from_order: bool,
        /// Cancer-related neuropathic pain (G89.3 beside a neuropathic code).
        cancer_related: bool,
        /// CRPS, the one condition with moderate evidence for ketamine.
        crps: bool,
    },
}

/// A reason of the order: a reasonCode concept, or the code of a referenced Condition.
fn order_reasons<'a>(order: &'a MedicationRequest, record: &'a PatientRecord) -> Vec<&'a CodeableConcept> {
    let codes = order.reason_code.iter().filter(|c| !c.coding.is_empty() || c.text.is_some());
    let owner = Owner { kind: "MedicationRequest", id: order.id.as_deref() };
    let referenced = order.reason_reference.iter().filter_map(move |r| record.condition(owner, r)?.code.as_ref());
    codes.chain(referenced).collect()
}

pub fn in_set(concept: &CodeableConcept, set: &ConceptSet) -> bool {
    concept.coding.iter().any(|c| match (c.system.as_deref(), c.code.as_deref()) {
        (Some(system), Some(code)) => set.contains(system, code),
        _ => false,
    })
}

/// The display a card shows for a condition concept.
pub fn display(concept: &CodeableConcept) -> String {
    concept
        .text
        .clone()
        .or_else(|| concept.coding.iter().find_map(|c| c.display.clone()))
        .or_else(|| concept.coding.iter().find_map(|c| c.code.clone()))
        .unwrap_or_else(|| "condition".to_owned())
}

/// Active on the problem list: clinicalStatus active/recurrence/relapse — or no clinicalStatus
/// and no abatement (problem lists often omit the status) — not refuted or entered in error, and
/// not starting after today.
pub fn is_active(condition: &Condition, today: &Today) -> bool {
    let has = |concept: Option<&CodeableConcept>, codes: &[&str]| {
        concept.is_some_and(|c| c.coding.iter().any(|c| c.code.as_deref().is_some_and(|x| codes.contains(&x))))
    };
    let status_active = match &condition.clinical_status {
        Some(status) => has(Some(status), &["active", "recurrence", "relapse"]),
        None => !condition.abated(),
    };
    let onset_later = condition.onset_date_time.as_ref().is_some_and(|onset| today.is_before(onset.as_str()));
    status_active && !has(condition.verification_status.as_ref(), &["refuted", "entered-in-error"]) && !onset_later
}

/// Whether an order is the product that needs an order-level pain reason (esketamine as a nasal
/// spray: the depression product), by a product code of it (a nasal product, the Spravato brand,
/// ATC N06AX27), or by its product names, its Medication's form or its route ("nasal" inside any
/// word, "Spravato").
fn in_reason_required_form(order: &MedicationRequest, record: &PatientRecord, knowledge: &Knowledge) -> bool {
    let Some(concept) = record.request_medication(order) else { return false };
    if in_set(&concept, &knowledge.order_reason_required_products) {
        return true;
    }
    let owner = Owner { kind: "MedicationRequest", id: order.id.as_deref() };
    let more = super::form_words(record.medication_form(owner, order.medication()), &order.dosage_instruction);
    knowledge.medications.names_form(&concept, &more, &knowledge.plan.order_reason_required_forms)
}

pub fn applicability(
    order: &MedicationRequest,
    agent: AgentId,
    record: &PatientRecord,
    knowledge: &Knowledge,
    today: &Today,
) -> Applicability {
    let reasons = order_reasons(order, record);
    let active: Vec<&CodeableConcept> =
        record.conditions.iter().filter(|c| is_active(c, today)).filter_map(|c| c.code.as_ref()).collect();
    let cancer_related = reasons.iter().chain(&active).any(|c| in_set(c, &knowledge.cancer_pain));
    let pain: Vec<&CodeableConcept> = reasons.iter().copied().filter(|c| in_set(c, &knowledge.in_scope)).collect();
    if !pain.is_empty() {
        return applies(&pain, true, cancer_related, knowledge);
    }
    if reasons.iter().any(|c| in_set(c, &knowledge.non_pain)) {
        return Applicability::NotApplicable(Silence::NonPainOrderReason);
    }
    if knowledge.order_reason_required.contains(&agent) && in_reason_required_form(order, record, knowledge) {
        return Applicability::NotApplicable(Silence::NoOrderLevelPainReason);
    }
    // No usable order reason (none given, or none this guideline recognises): the problem list.
    let pain: Vec<&CodeableConcept> = active.iter().copied().filter(|c| in_set(c, &knowledge.in_scope)).collect();
    if pain.is_empty() {
        return Applicability::NotApplicable(Silence::NoInScopeCondition);
    }
    applies(&pain, false, cancer_related, knowledge)
}

fn applies(pain: &[&CodeableConcept], from_order: bool, cancer_related: bool, knowledge: &Knowledge) -> Applicability {
    let mut conditions: Vec<IndicationCondition> = Vec::new();
    for c in pain {
        let display = display(c);
        if !conditions.iter().any(|x| x.display == display) {
            conditions.push(IndicationCondition { display });
        }
    }
    Applicability::Applies {
        conditions,
        from_order,
        cancer_related,
        crps: pain.iter().any(|c| in_set(c, &knowledge.crps)),
    }
}
