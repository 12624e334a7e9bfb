//! Relative contraindications (RULES.md §5): active Conditions of the contraindication groups.

use super::Today;
use super::indication::{display, in_set, is_active};
use crate::fhir::PatientRecord;
use crate::knowledge::Knowledge;

#[derive(Debug, Clone, PartialEq)]
pub struct ContraindicationFinding {
    /// Index into `knowledge.plan.contraindication_groups`.
    pub group: usize,
    /// How the record names the conditions found.
    pub conditions: Vec<String>,
}

pub fn find(record: &PatientRecord, knowledge: &Knowledge, today: &Today) -> Vec<ContraindicationFinding> {
    knowledge
        .contraindications
        .iter()
        .enumerate()
        .filter_map(|(group, set)| {
            let mut conditions: Vec<String> = record
                .conditions
                .iter()
                .filter(|c| is_active(c, today))
                .filter_map(|c| c.code.as_ref())
                .filter(|code| in_set(code, set))
                .map(display)
                .collect();
            conditions.dedup();
            (!conditions.is_empty()).then_some(ContraindicationFinding { group, conditions })
        })
        .collect()
}
