//! Relative contraindications (clinical rules §5): active Conditions of the contraindication
//! groups; and the suggestions the patient's active conditions rule out (§4: no duloxetine with
//! severe hepatic disease, no TCA after a recent myocardial infarction).

use super::Today;
use super::indication::{display, in_set, is_active};
use crate::fhir::PatientRecord;
use crate::fhir::datatypes::CodeableConcept;
use crate::knowledge::{ConceptSet, Knowledge};

#[derive(Debug, Clone, PartialEq)]
pub struct ContraindicationFinding {
    /// Index into `knowledge.plan.contraindication_groups`.
    pub group: usize,
    /// How the record names the conditions found.
    pub conditions: Vec<String>,
}

/// A class whose suggested first-line order the patient's conditions rule out.
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestionRuledOut {
    /// Index into `knowledge.plan.classes`.
    pub class: usize,
    /// How the record names the conditions.
    pub conditions: Vec<String>,
    /// Why (the labelling), from the knowledge.
    pub reason: String,
}

/// The codes of the patient's active conditions, read once for every set they are checked in.
pub fn active_codes<'r>(record: &'r PatientRecord, today: &Today) -> Vec<&'r CodeableConcept> {
    record.conditions.iter().filter(|c| is_active(c, today)).filter_map(|c| c.code.as_ref()).collect()
}

/// How the record names its active conditions of `set`.
fn active_in(active: &[&CodeableConcept], set: &ConceptSet) -> Vec<String> {
    let mut conditions: Vec<String> = active.iter().filter(|code| in_set(code, set)).map(|c| display(c)).collect();
    conditions.dedup();
    conditions
}

pub fn find(active: &[&CodeableConcept], knowledge: &Knowledge) -> Vec<ContraindicationFinding> {
    knowledge
        .contraindications
        .iter()
        .enumerate()
        .filter_map(|(group, set)| {
            let conditions = active_in(active, set);
            (!conditions.is_empty()).then_some(ContraindicationFinding { group, conditions })
        })
        .collect()
}

pub fn suggestions_ruled_out(active: &[&CodeableConcept], knowledge: &Knowledge) -> Vec<SuggestionRuledOut> {
    let mut ruled_out = Vec::new();
    for (class, sets) in knowledge.suggestion_avoided.iter().enumerate() {
        for (set, avoided) in sets.iter().zip(&knowledge.plan.classes[class].suggestion_avoided) {
            let conditions = active_in(active, set);
            if !conditions.is_empty() {
                ruled_out.push(SuggestionRuledOut { class, conditions, reason: avoided.reason.clone() });
            }
        }
    }
    ruled_out
}
