//! First-line classes (clinical rules §3, `docs/clinical-rules.md`): each class's status, best first — `failed`,
//! `inadequate-trial`, `ongoing`, `tried-outcome-unknown`, `not-documented` — with the records
//! behind it. Only prior records count (prefetch or FHIR server), never this call's drafts.

use crate::fhir::datatypes::CodeableConcept;

use super::Today;
use super::dose::{Unit, daily_dose_mg};
use super::indication::in_set;
use crate::fhir::PatientRecord;
use crate::fhir::dates::FhirDate;
use crate::fhir::record::Owner;
use crate::fhir::resources::{AllergyIntolerance, Dosage, MedicationRequest, MedicationStatement};
use crate::knowledge::medications::names;
use crate::knowledge::{AgentId, DrugClass, Knowledge};

/// A class's status; the order of the variants is "best first".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClassStatus {
    Failed,
    InadequateTrial,
    Ongoing,
    TriedOutcomeUnknown,
    NotDocumented,
}

impl ClassStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::InadequateTrial => "inadequate-trial",
            Self::Ongoing => "ongoing",
            Self::TriedOutcomeUnknown => "tried-outcome-unknown",
            Self::NotDocumented => "not-documented",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    NoResponse,
    Intolerance,
}

/// What a trial is of: an agent, or a whole class (an allergy recorded to "Tricyclic
/// antidepressant").
#[derive(Debug, Clone, PartialEq)]
pub enum TrialOf {
    Agent(AgentId),
    /// Index into `knowledge.plan.classes`, and how the record names the class.
    Class(usize, String),
}

/// What a record's date is, as the record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateKind {
    /// `MedicationRequest.authoredOn`.
    Ordered,
    /// The start of `MedicationStatement.effectivePeriod`.
    Started,
    /// The end of `MedicationStatement.effectivePeriod`.
    Stopped,
    /// `MedicationStatement.effectiveDateTime`.
    Taken,
    /// `MedicationStatement.dateAsserted`, `AllergyIntolerance.recordedDate`.
    Recorded,
}

impl DateKind {
    pub fn word(self) -> &'static str {
        match self {
            Self::Ordered => "ordered",
            Self::Started => "started",
            Self::Stopped => "stopped",
            Self::Taken => "taken",
            Self::Recorded => "recorded",
        }
    }
}

/// One prior record of an agent of a class, and what it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// `MedicationStatement/abc`.
    pub resource: String,
    pub of: TrialOf,
    /// The record's status (`stopped`, `active`, …), or `allergy` for an AllergyIntolerance.
    pub record_status: String,
    /// The record's date, `YYYY[-MM[-DD]]`, and what it is.
    pub date: Option<String>,
    pub date_kind: DateKind,
    /// A topical product (cream, gel, transdermal…): no trial of a systemic class.
    pub topical: bool,
    /// The failure reason and how the record words it.
    pub failure: Option<(FailureKind, String)>,
    /// A reason the record gives that is no failure reason ("Drug therapy discontinued",
    /// "Treatment changed", free text "Ineffective"), as the record words it.
    pub other_reason: Option<String>,
    pub daily_dose_mg: Option<f64>,
    pub outcome: ClassStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClassAssessment {
    /// Index into `knowledge.plan.classes`.
    pub class: usize,
    pub status: ClassStatus,
    /// The records that give the status, newest first (empty for `not-documented`).
    pub evidence: Vec<Trial>,
    /// Every running (`active`, `on-hold`) record of the class, newest first, whatever the
    /// status: a class with a running trial gets no new order of that class (§4).
    pub running: Vec<Trial>,
}

impl ClassAssessment {
    /// Whether a trial of one of the class's agents is still running.
    pub fn is_running(&self) -> bool {
        !self.running.is_empty()
    }
}

pub fn assess_classes(record: &PatientRecord, knowledge: &Knowledge, today: &Today) -> Vec<ClassAssessment> {
    let trials = all_trials(record, knowledge, today);
    knowledge
        .plan
        .classes
        .iter()
        .enumerate()
        .map(|(index, class)| {
            let of_class = |t: &&Trial| match &t.of {
                TrialOf::Agent(agent) => class.agents.contains(agent) && !(class.systemic && t.topical),
                TrialOf::Class(c, _) => *c == index,
            };
            let mut mine: Vec<Trial> = trials.iter().filter(of_class).map(|t| judge(t.clone(), class)).collect();
            mine.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.resource.cmp(&b.resource)));
            let status = mine.iter().map(|t| t.outcome).min().unwrap_or(ClassStatus::NotDocumented);
            let running: Vec<Trial> = mine.iter().filter(|t| t.outcome == ClassStatus::Ongoing).cloned().collect();
            let evidence: Vec<Trial> = mine.into_iter().filter(|t| t.outcome == status).collect();
            ClassAssessment { class: index, status, evidence, running }
        })
        .collect()
}

/// Every prior record of any agent, classified without class policy.
fn all_trials(record: &PatientRecord, knowledge: &Knowledge, today: &Today) -> Vec<Trial> {
    let mut trials = Vec::new();
    // An order not to give a medication (`doNotPerform`) is no trial of it.
    for request in record.medication_requests.iter().filter(|r| !r.do_not_perform()) {
        if let Some(concept) = record.request_medication(request) {
            trials.extend(from_request(request, &concept, record, knowledge));
        }
    }
    for statement in &record.medication_statements {
        if let Some(concept) = record.statement_medication(statement) {
            trials.extend(from_statement(statement, &concept, record, knowledge));
        }
    }
    for allergy in &record.allergies {
        trials.extend(from_allergy(allergy, knowledge));
    }
    trials.retain(|t| !t.date.as_deref().is_some_and(|d| today.is_before(d)));
    trials
}

fn outcome(status: &str, failure: &Option<(FailureKind, String)>) -> Option<ClassStatus> {
    match status {
        "stopped" | "completed" if failure.is_some() => Some(ClassStatus::Failed),
        "stopped" | "completed" => Some(ClassStatus::TriedOutcomeUnknown),
        "active" | "on-hold" => Some(ClassStatus::Ongoing),
        // entered-in-error is ignored; cancelled, draft, intended, unknown, not-taken document nothing.
        _ => None,
    }
}

fn failure_reason<'a>(
    concepts: impl Iterator<Item = &'a CodeableConcept>,
    knowledge: &Knowledge,
) -> Option<(FailureKind, String)> {
    let mut found: Option<(FailureKind, String)> = None;
    for concept in concepts {
        for coding in concept.coding.iter() {
            let (Some(system), Some(code)) = (coding.system.as_deref(), coding.code.as_deref()) else {
                continue;
            };
            let kind = if knowledge.intolerance.contains(system, code) {
                FailureKind::Intolerance
            } else if knowledge.no_response.contains(system, code) {
                FailureKind::NoResponse
            } else {
                continue;
            };
            let words = coding.display.clone().or_else(|| concept.text.clone()).unwrap_or_else(|| code.to_owned());
            // Intolerance outranks no response: it is a real failure at any dose.
            if found.as_ref().is_none_or(|(k, _)| *k == FailureKind::NoResponse) {
                found = Some((kind, words));
            }
        }
    }
    found
}

/// The first reason a record gives, as it words it (a coding's display, the concept's text, a
/// code), when it gives no failure reason: what the card quotes as "not a recorded failure".
fn other_reason<'a>(concepts: impl Iterator<Item = &'a CodeableConcept>) -> Option<String> {
    concepts
        .filter_map(|c| {
            c.text
                .clone()
                .or_else(|| c.coding.iter().find_map(|c| c.display.clone()))
                .or_else(|| c.coding.iter().find_map(|c| c.code.clone()))
        })
        .find(|words| !words.trim().is_empty())
}

/// What a MedicationRequest or MedicationStatement says of a trial, before its agents are known.
struct Facts<'a> {
    resource: String,
    status: &'a str,
    date: Option<(DateKind, String)>,
    failure: Option<(FailureKind, String)>,
    other_reason: Option<String>,
    dosage: &'a [Dosage],
    topical: bool,
}

/// Whether a product is topical: its names, its Medication's form or a dosage route say so.
fn is_topical(
    concept: &CodeableConcept,
    form: Option<&CodeableConcept>,
    dosage: &[Dosage],
    knowledge: &Knowledge,
) -> bool {
    knowledge.medications.names_form(concept, &super::form_words(form, dosage), &knowledge.plan.topical_forms)
}

/// One trial per agent the medication names (a combination product counts for each).
fn trials(facts: Facts<'_>, agents: Vec<AgentId>, concept: &CodeableConcept, knowledge: &Knowledge) -> Vec<Trial> {
    let Some(outcome) = outcome(facts.status, &facts.failure) else {
        return Vec::new();
    };
    agents
        .into_iter()
        .map(|agent| Trial {
            resource: facts.resource.clone(),
            of: TrialOf::Agent(agent),
            record_status: facts.status.to_owned(),
            date: facts.date.as_ref().map(|(_, d)| d.clone()),
            date_kind: facts.date.as_ref().map_or(DateKind::Recorded, |(k, _)| *k),
            topical: facts.topical,
            failure: facts.failure.clone(),
            other_reason: facts.other_reason.clone(),
            daily_dose_mg: daily_dose_mg(facts.dosage, |unit| match unit {
                Unit::Unit => knowledge.medications.strength_mg(concept, agent),
                Unit::Millilitre => knowledge.medications.concentration_mg_per_ml(concept, agent),
            }),
            outcome,
        })
        .collect()
}

fn from_request(
    request: &MedicationRequest,
    concept: &CodeableConcept,
    record: &PatientRecord,
    knowledge: &Knowledge,
) -> Vec<Trial> {
    // Most of a record is other medications: recognised (or not) before anything else is read.
    let agents = knowledge.medications.recognise(concept);
    if agents.is_empty() {
        return Vec::new();
    }
    let owner = Owner { kind: "MedicationRequest", id: request.id.as_deref() };
    let form = record.medication_form(owner, request.medication());
    let facts = Facts {
        resource: format!("MedicationRequest/{}", request.id.as_deref().unwrap_or("?")),
        status: &request.status,
        date: request.authored_on.as_ref().map(|d| (DateKind::Ordered, d.to_string())),
        failure: failure_reason(request.status_reason.iter(), knowledge),
        other_reason: other_reason(request.status_reason.iter()),
        dosage: &request.dosage_instruction,
        topical: is_topical(concept, form, &request.dosage_instruction, knowledge),
    };
    trials(facts, agents, concept, knowledge)
}

fn from_statement(
    statement: &MedicationStatement,
    concept: &CodeableConcept,
    record: &PatientRecord,
    knowledge: &Knowledge,
) -> Vec<Trial> {
    let agents = knowledge.medications.recognise(concept);
    if agents.is_empty() {
        return Vec::new();
    }
    let owner = Owner { kind: "MedicationStatement", id: statement.id.as_deref() };
    let form = record.medication_form(owner, statement.medication());
    let period = statement.effective_period.as_ref().and_then(|p| {
        let end = p.end.as_ref().map(|d| (DateKind::Stopped, d));
        end.or_else(|| p.start.as_ref().map(|d| (DateKind::Started, d)))
    });
    let date = statement
        .effective_date_time
        .as_ref()
        .map(|d| (DateKind::Taken, d))
        .or(period)
        .or(statement.date_asserted.as_ref().map(|d| (DateKind::Recorded, d)));
    let facts = Facts {
        resource: format!("MedicationStatement/{}", statement.id.as_deref().unwrap_or("?")),
        status: &statement.status,
        date: date.map(|(kind, d)| (kind, d.to_string())),
        failure: failure_reason(statement.status_reason.iter().chain(statement.reason_code.iter()), knowledge),
        // A statement's reasonCode is also why the medication was taken: an indication of the
        // guideline's is not quoted as a reason for stopping.
        other_reason: other_reason(
            statement
                .status_reason
                .iter()
                .chain(statement.reason_code.iter().filter(|c| !in_set(c, &knowledge.in_scope))),
        ),
        dosage: &statement.dosage,
        topical: is_topical(concept, form, &statement.dosage, knowledge),
    };
    trials(facts, agents, concept, knowledge)
}

/// An AllergyIntolerance to an agent, or to a whole class (category medication, or no
/// category), that is still active (clinicalStatus active or absent) and not refuted or entered
/// in error documents an intolerance failure.
fn from_allergy(allergy: &AllergyIntolerance, knowledge: &Knowledge) -> Vec<Trial> {
    let medication = allergy.category.is_empty() || allergy.category.iter().any(|c| c == "medication");
    let has = |concept: &Option<CodeableConcept>, codes: &[&str]| {
        concept.as_ref().is_some_and(|v| v.coding.iter().any(|c| c.code.as_deref().is_some_and(|x| codes.contains(&x))))
    };
    let refuted = has(&allergy.verification_status, &["refuted", "entered-in-error"]);
    let taken_back = has(&allergy.clinical_status, &["inactive", "resolved"]);
    let Some(code) = allergy.code.as_ref().filter(|_| medication && !refuted && !taken_back) else {
        return Vec::new();
    };
    let reaction = allergy
        .reaction
        .iter()
        .flat_map(|r| r.manifestation.iter())
        .find_map(|m| m.text.clone().or_else(|| m.coding.iter().find_map(|c| c.display.clone())));
    let words = match reaction {
        Some(r) => format!("allergy/intolerance ({r}) recorded"),
        None => "allergy/intolerance recorded".to_owned(),
    };
    let date = allergy.recorded_date.as_ref().map(FhirDate::to_string);
    let agents = knowledge.medications.recognise(code).into_iter().map(TrialOf::Agent);
    let classes = classes_named(code, knowledge).into_iter().map(|(class, named)| TrialOf::Class(class, named));
    agents
        .chain(classes)
        .map(|of| Trial {
            resource: format!("AllergyIntolerance/{}", allergy.id.as_deref().unwrap_or("?")),
            of,
            record_status: "allergy".to_owned(),
            date: date.clone(),
            date_kind: DateKind::Recorded,
            topical: false,
            failure: Some((FailureKind::Intolerance, words.clone())),
            other_reason: None,
            daily_dose_mg: None,
            outcome: ClassStatus::Failed,
        })
        .collect()
}

/// The classes a concept names by a name of the class itself ("Tricyclic antidepressant"), with
/// the words the record uses.
fn classes_named(concept: &CodeableConcept, knowledge: &Knowledge) -> Vec<(usize, String)> {
    let texts: Vec<&String> =
        concept.text.iter().chain(concept.coding.iter().filter_map(|c| c.display.as_ref())).collect();
    knowledge
        .plan
        .classes
        .iter()
        .enumerate()
        .filter_map(|(index, class)| {
            let text = texts.iter().find(|t| class.names.iter().any(|n| names(t, n)))?;
            Some((index, (*text).clone()))
        })
        .collect()
}

/// Applies the class's dose threshold: a "no response" failure below it (or without a
/// documented dose) is an inadequate trial. Intolerance at any dose is a real failure.
pub fn judge(mut trial: Trial, class: &DrugClass) -> Trial {
    if let (ClassStatus::Failed, Some((FailureKind::NoResponse, _)), Some(min)) =
        (trial.outcome, &trial.failure, class.min_daily_mg)
    {
        if trial.daily_dose_mg.is_none_or(|d| d < min) {
            trial.outcome = ClassStatus::InadequateTrial;
        }
    }
    trial
}
