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
use serde::de::IgnoredAny;

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

/// The parts of a Dosage the dose rule reads (clinical rules §3, `docs/clinical-rules.md`): the dose of `doseAndRate`,
/// `timing.repeat` and whether the line is as needed. (fhir-sdk's Dosage reads every element, through serde's buffering of its
/// choice types — half the cost of reading an order — and refuses the whole order for a flaw
/// in an element no rule reads, such as a `route` given as text.)
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dosage {
    #[serde(default)]
    pub dose_and_rate: Vec<Option<DoseAndRate>>,
    pub timing: Option<Timing>,
    /// The route's words (its text and codings' displays), whatever its shape: a topical or
    /// nasal route changes what the order or trial is.
    #[serde(default)]
    pub route: Words,
    /// As needed (PRN): R4 and earlier `asNeededBoolean` / `asNeededCodeableConcept`, R5
    /// `asNeeded` / `asNeededFor`. Such a line documents no daily dose.
    pub as_needed_boolean: Option<bool>,
    pub as_needed_codeable_concept: Option<IgnoredAny>,
    pub as_needed: Option<bool>,
    pub as_needed_for: Option<IgnoredAny>,
}

impl Dosage {
    /// Whether the line is taken as needed (PRN).
    pub fn is_as_needed(&self) -> bool {
        self.as_needed_boolean == Some(true)
            || self.as_needed == Some(true)
            || self.as_needed_codeable_concept.is_some()
            || self.as_needed_for.is_some()
    }
}

/// `Dosage.doseAndRate`: `doseQuantity`, or the low end of `doseRange` (rates are not read).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoseAndRate {
    pub dose_quantity: Option<Quantity>,
    pub dose_range: Option<DoseRange>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct DoseRange {
    pub low: Option<Quantity>,
}

/// The words of a CodeableConcept (`text`, codings' `display`) read from any JSON: an element
/// that is not a concept (a route given as a string) gives its string, or nothing, and never
/// makes the resource unreadable.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Words(pub Vec<String>);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let mut words = Vec::new();
        match &value {
            serde_json::Value::String(s) => words.push(s.clone()),
            serde_json::Value::Object(concept) => {
                words.extend(concept.get("text").and_then(|t| t.as_str()).map(str::to_owned));
                let codings = concept.get("coding").and_then(|c| c.as_array()).into_iter().flatten();
                words.extend(codings.filter_map(|c| c.get("display")?.as_str().map(str::to_owned)));
            }
            _ => {}
        }
        Ok(Words(words))
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Timing {
    pub repeat: Option<TimingRepeat>,
}

/// `Timing.repeat`: how often. Frequencies are positive integers, as FHIR requires. Only the
/// number of `timeOfDay` and `when` entries is read: without a frequency, each is one dose.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingRepeat {
    pub frequency: Option<NonZeroU32>,
    pub period: Option<f64>,
    pub period_unit: Option<String>,
    #[serde(default)]
    pub time_of_day: Vec<IgnoredAny>,
    #[serde(default)]
    pub when: Vec<IgnoredAny>,
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
    /// An order *not* to give the medication: no order of it, and no trial of it.
    pub do_not_perform: Option<bool>,
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
    pub fn do_not_perform(&self) -> bool {
        self.do_not_perform == Some(true)
    }

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
    /// `abatement[x]`: only whether the record gives one is read (a resolved condition), and the
    /// STU3 boolean's value (`false` is no abatement).
    pub abatement_date_time: Option<IgnoredAny>,
    pub abatement_age: Option<IgnoredAny>,
    pub abatement_period: Option<IgnoredAny>,
    pub abatement_range: Option<IgnoredAny>,
    pub abatement_string: Option<IgnoredAny>,
    pub abatement_boolean: Option<bool>,
}

impl Condition {
    /// Whether the record says the condition has abated.
    pub fn abated(&self) -> bool {
        self.abatement_date_time.is_some()
            || self.abatement_age.is_some()
            || self.abatement_period.is_some()
            || self.abatement_range.is_some()
            || self.abatement_string.is_some()
            || self.abatement_boolean == Some(true)
    }
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
    pub clinical_status: Option<CodeableConcept>,
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
    /// The dose form ("Topical Cream", "Nasal Spray").
    pub form: Option<CodeableConcept>,
    #[serde(default)]
    pub ingredient: Vec<Ingredient>,
}

/// `Medication.ingredient`: its item, a concept or a reference to another Medication.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingredient {
    pub item_codeable_concept: Option<CodeableConcept>,
    pub item_reference: Option<Reference>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub id: Option<String>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
}
