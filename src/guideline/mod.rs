//! The ketamine step-therapy rules (`docs/clinical-rules.md`) as plain functions:
//! (hook, patient record, knowledge, now) → assessment. No I/O and no clock inside.
//!
//! - [`trigger`]: which draft orders are ketamine orders to examine (§1);
//! - [`indication`]: whether the guideline speaks for an order (§2);
//! - [`trials`] and [`dose`]: each first-line class's status and the evidence behind it (§3);
//! - [`contraindications`]: relative contraindications on record (§5);
//! - [`age`]: whether the patient is under the adult age of the suggested doses (§4).

pub mod age;
pub mod contraindications;
pub mod dose;
pub mod indication;
pub mod trials;
pub mod trigger;

use std::sync::Arc;

use crate::fhir::datatypes::CodeableConcept;
use crate::fhir::resources::Dosage;

use crate::fhir::PatientRecord;
use crate::knowledge::{AgentId, Knowledge};
pub use contraindications::{ContraindicationFinding, SuggestionRuledOut};
pub use indication::{Applicability, Silence};
pub use trials::{ClassAssessment, ClassStatus, DateKind, FailureKind, Trial, TrialOf};
pub use trigger::Hook;

/// "Now" as the rules see it: the calendar date, `YYYY-MM-DD`. Records dated after it are not
/// prior trials and conditions with an onset after it are not yet on the problem list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Today(pub String);

impl Today {
    pub fn from_datetime(now: time::OffsetDateTime) -> Self {
        let d = now.date();
        Self(format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
    }

    /// Is a FHIR date or dateTime (any precision) after today?
    pub fn is_before(&self, fhir_date: &str) -> bool {
        fhir_date.get(..10.min(fhir_date.len())).is_some_and(|d| d > self.0.as_str())
    }
}

/// The assessment of one examined ketamine order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderAssessment {
    /// `MedicationRequest/id` of the draft, when it has an id.
    pub order_ref: Option<String>,
    /// The trigger agent (ketamine or esketamine).
    pub agent: AgentId,
    /// What the order says it is, for card text.
    pub medication_text: String,
    pub applicability: Applicability,
    /// The patient's findings (the same for every order of the call: made once and shared).
    /// One per class of the plan, in plan order; empty when not applicable.
    pub classes: Arc<[ClassAssessment]>,
    pub contraindications: Arc<[ContraindicationFinding]>,
    /// Classes whose suggestion the patient's conditions rule out.
    pub suggestions_ruled_out: Arc<[SuggestionRuledOut]>,
    /// The patient is under the plan's adult age: no adult-dosed first-line order is suggested.
    /// False when the age is unknown.
    pub minor: bool,
}

impl OrderAssessment {
    /// Backed: every required class is `failed` (clinical rules §4).
    pub fn backed(&self, knowledge: &Knowledge) -> bool {
        self.classes
            .iter()
            .filter(|c| knowledge.plan.classes[c.class].required)
            .all(|c| c.status == ClassStatus::Failed)
    }

    pub fn applies(&self) -> bool {
        matches!(self.applicability, Applicability::Applies { .. })
    }
}

/// Assesses every examined ketamine order of the call. The classes and contraindications are
/// the patient's: they are assessed once, for the first order the guideline applies to, and
/// shared by every other (a call may hold 100 drafts and a record of 20,000 medications).
pub fn assess(
    hook: Hook,
    selections: &[String],
    record: &PatientRecord,
    knowledge: &Knowledge,
    today: &Today,
) -> Vec<OrderAssessment> {
    let mut patient: Option<PatientFindings> = None;
    trigger::examined_orders(hook, selections, record, knowledge)
        .into_iter()
        .map(|(order, agent)| {
            let applicability = indication::applicability(order, agent, record, knowledge, today);
            let findings = if matches!(applicability, Applicability::Applies { .. }) {
                patient.get_or_insert_with(|| PatientFindings::of(record, knowledge, today)).clone()
            } else {
                PatientFindings::default()
            };
            // How the order names its product: the reference's display (as the EHR shows it),
            // else the medication's text or a coding's display. (A Medication's concept also
            // holds its ingredients' words, for recognition: not for the card.)
            let reference_display =
                order.medication_reference.as_ref().and_then(|r| r.display.clone()).filter(|d| !d.trim().is_empty());
            let medication_text = reference_display
                .or_else(|| {
                    let concept = record.request_medication(order)?;
                    concept.text.clone().or_else(|| concept.coding.iter().find_map(|c| c.display.clone()))
                })
                .unwrap_or_else(|| capitalise(&knowledge.medications.agent(agent).name));
            OrderAssessment {
                order_ref: order.id.as_ref().map(|id| format!("MedicationRequest/{id}")),
                agent,
                medication_text,
                classes: findings.classes,
                contraindications: findings.contraindications,
                suggestions_ruled_out: findings.suggestions_ruled_out,
                minor: findings.minor,
                applicability,
            }
        })
        .collect()
}

/// What the record says of the patient, whichever order is examined.
#[derive(Debug, Clone, Default)]
struct PatientFindings {
    classes: Arc<[ClassAssessment]>,
    contraindications: Arc<[ContraindicationFinding]>,
    suggestions_ruled_out: Arc<[SuggestionRuledOut]>,
    minor: bool,
}

impl PatientFindings {
    fn of(record: &PatientRecord, knowledge: &Knowledge, today: &Today) -> Self {
        let active = contraindications::active_codes(record, today);
        let birth_date = record.patient.as_ref().and_then(|p| p.birth_date.as_deref());
        let minor = match (birth_date, knowledge.plan.adult_age) {
            (Some(born), Some(adult)) => age::under(born, adult, today).unwrap_or(false),
            _ => false,
        };
        Self {
            minor,
            classes: trials::assess_classes(record, knowledge, today).into(),
            contraindications: contraindications::find(&active, knowledge).into(),
            suggestions_ruled_out: contraindications::suggestions_ruled_out(&active, knowledge).into(),
        }
    }
}

/// Words that may name a product's dose form besides its own names: the referenced
/// Medication's form and the dosage lines' routes.
pub(crate) fn form_words<'a>(form: Option<&'a CodeableConcept>, dosage: &'a [Dosage]) -> Vec<&'a str> {
    let form_words =
        form.into_iter().flat_map(|f| f.text.iter().chain(f.coding.iter().filter_map(|c| c.display.as_ref())));
    let route_words = dosage.iter().flat_map(|d| d.route.0.iter());
    form_words.chain(route_words).map(String::as_str).collect()
}

/// "amitriptyline" → "Amitriptyline".
pub fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
