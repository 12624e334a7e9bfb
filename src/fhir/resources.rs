//! The six FHIR R4 resources the rules read, as lean structs built from the lean datatypes of
//! [`super::datatypes`].
//!
//! Why not fhir-sdk's resource structs: every one of them holds `contained: Vec<Resource>`, so
//! deserialising any of them instantiates the whole 145-type `Resource` enum in this crate — six
//! minutes of release build on two cores, and parsing of elements the rules never read. These
//! structs read only the elements the rules use (unknown elements are skipped) and nothing is
//! required, so a resource missing `intent` or `subject` still reads.

use std::num::NonZeroU32;

use serde::Deserialize;

use super::datatypes::{CodeableConcept, FhirDate, LooseReference, Period, Quantity, Reference};

fn unknown() -> String {
    "unknown".to_owned()
}

/// `medication[x]` of an order or statement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MedicationRef<'a> {
    Concept(&'a CodeableConcept),
    Reference(&'a Reference),
}

/// The parts of a Dosage the dose rule reads (RULES.md §3): the dose of `doseAndRate` and
/// `timing.repeat`. (fhir-sdk's Dosage reads every element, through serde's buffering of its
/// choice types — half the cost of reading an order — and refuses the whole order for a flaw
/// in an element no rule reads, such as a `route` given as text.)
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dosage {
    #[serde(default)]
    pub dose_and_rate: Vec<Option<DoseAndRate>>,
    pub timing: Option<Timing>,
}

/// `Dosage.doseAndRate`: `doseQuantity` (a `doseRange` is not a documented dose; rates are not
/// read).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoseAndRate {
    pub dose_quantity: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Timing {
    pub repeat: Option<TimingRepeat>,
}

/// `Timing.repeat`: how often. Frequencies are positive integers, as FHIR requires.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingRepeat {
    pub frequency: Option<NonZeroU32>,
    pub period: Option<f64>,
    pub period_unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispenseRequest {
    pub validity_period: Option<Period>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationRequest {
    pub id: Option<String>,
    #[serde(default = "unknown")]
    pub status: String,
    pub status_reason: Option<CodeableConcept>,
    pub medication_codeable_concept: Option<CodeableConcept>,
    pub medication_reference: Option<Reference>,
    pub subject: Option<Reference>,
    pub authored_on: Option<FhirDate>,
    #[serde(default)]
    pub reason_code: Vec<CodeableConcept>,
    #[serde(default)]
    pub reason_reference: Vec<Reference>,
    #[serde(default)]
    pub dosage_instruction: Vec<Dosage>,
    pub dispense_request: Option<DispenseRequest>,
}

impl MedicationRequest {
    pub fn medication(&self) -> Option<MedicationRef<'_>> {
        medication(&self.medication_codeable_concept, &self.medication_reference)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationStatement {
    pub id: Option<String>,
    #[serde(default = "unknown")]
    pub status: String,
    /// Only its `reference` is read (is this the call's patient?), and a subject of some other
    /// shape must not make the statement unreadable.
    pub subject: Option<LooseReference>,
    #[serde(default)]
    pub status_reason: Vec<CodeableConcept>,
    pub medication_codeable_concept: Option<CodeableConcept>,
    pub medication_reference: Option<Reference>,
    pub effective_date_time: Option<FhirDate>,
    pub effective_period: Option<Period>,
    pub date_asserted: Option<FhirDate>,
    #[serde(default)]
    pub reason_code: Vec<CodeableConcept>,
    #[serde(default)]
    pub dosage: Vec<Dosage>,
}

impl MedicationStatement {
    pub fn medication(&self) -> Option<MedicationRef<'_>> {
        medication(&self.medication_codeable_concept, &self.medication_reference)
    }
}

fn medication<'a>(concept: &'a Option<CodeableConcept>, reference: &'a Option<Reference>) -> Option<MedicationRef<'a>> {
    match (concept, reference) {
        (Some(c), _) => Some(MedicationRef::Concept(c)),
        (None, Some(r)) => Some(MedicationRef::Reference(r)),
        (None, None) => None,
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    pub id: Option<String>,
    /// As for [`MedicationStatement::subject`].
    pub subject: Option<LooseReference>,
    pub clinical_status: Option<CodeableConcept>,
    pub verification_status: Option<CodeableConcept>,
    pub code: Option<CodeableConcept>,
    pub onset_date_time: Option<FhirDate>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Reaction {
    #[serde(default)]
    pub manifestation: Vec<CodeableConcept>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyIntolerance {
    pub id: Option<String>,
    pub verification_status: Option<CodeableConcept>,
    /// `food`, `medication`, `environment`, `biologic`.
    #[serde(default)]
    pub category: Vec<String>,
    pub code: Option<CodeableConcept>,
    pub recorded_date: Option<FhirDate>,
    #[serde(default)]
    pub reaction: Vec<Reaction>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Medication {
    pub id: Option<String>,
    pub code: Option<CodeableConcept>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub id: Option<String>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
}
