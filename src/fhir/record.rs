//! The patient record of one hook call: the FHIR resources the rules read, parsed into the lean
//! structs of [`super::resources`] from prefetch (or the FHIR server) and from the draft orders.
//!
//! Only six resource types are parsed, chosen by `resourceType` before typed parsing; every other
//! entry is passed over. A resource that cannot be read even after normalisation is skipped and
//! counted, never fatal. Resources that name another patient as their subject are dropped.

use std::collections::HashMap;

use std::borrow::Cow;

use super::datatypes::{CodeableConcept, Reference};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::direct::{self, Direct, PatientRef, Typed};
use super::normalize::{normalize, take_contained};
use super::raw::RawEntry;
use super::resources::{
    AllergyIntolerance, Condition, Medication, MedicationRef, MedicationRequest, MedicationStatement, Patient,
};

/// The resource a `medicationReference` belongs to (its contained resources are its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner<'a> {
    pub kind: &'a str,
    pub id: Option<&'a str>,
}

impl Owner<'_> {
    /// `Type/id`, the key its contained resources are kept under.
    fn key(&self) -> String {
        format!("{}/{}", self.kind, self.id.unwrap_or_default())
    }
}

/// Where a resource came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Prefetch, the FHIR server or an exported record: the patient's history.
    History,
    /// `context.draftOrders`: what is being ordered now.
    Draft,
}

/// Counts of what was read, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub read: usize,
    /// Entries of a relevant type that could not be parsed.
    pub skipped: usize,
    /// Entries whose subject is another patient.
    pub other_patient: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatientRecord {
    /// Bare patient id of the call (may be empty for a record read from a file).
    pub patient_id: String,
    pub patient: Option<Patient>,
    pub conditions: Vec<Condition>,
    /// Prior MedicationRequests (never this call's drafts).
    pub medication_requests: Vec<MedicationRequest>,
    pub medication_statements: Vec<MedicationStatement>,
    pub allergies: Vec<AllergyIntolerance>,
    /// MedicationRequests of `context.draftOrders`.
    pub drafts: Vec<MedicationRequest>,
    /// Medications by reference key (`Medication/id`, a bundle `fullUrl`).
    medications: HashMap<String, Medication>,
    /// Contained Medications by `(owner key, "#id")`.
    contained: HashMap<(String, String), Medication>,
    /// Contained Conditions (an order's own reason, `reasonReference: "#id"`) by
    /// `(owner key, "#id")`. Not on the problem list: they are the order's.
    contained_conditions: HashMap<(String, String), Condition>,
    pub stats: ReadStats,
    /// Draft orders whose subject names another patient than the call's: `(MedicationRequest/id,
    /// the other patient's id)`. The call refuses them (the EHR's inconsistency).
    pub foreign_drafts: Vec<(String, String)>,
    /// The FHIR version the first draft that tells one is written in, else the first other
    /// resource of another version than R4 (see [`super::version::of_resource`]).
    pub seen_version: Option<super::version::FhirVersion>,
}

impl PatientRecord {
    pub fn new(patient_id: &str) -> Self {
        Self { patient_id: patient_id.to_owned(), ..Self::default() }
    }

    /// Adds every relevant resource of a Bundle (its entries) or of a single resource.
    pub fn add(&mut self, value: Value, origin: Origin) {
        match value {
            Value::Object(mut obj) if obj.get("resourceType").and_then(Value::as_str) == Some("Bundle") => {
                let Some(Value::Array(entries)) = obj.remove("entry") else {
                    return;
                };
                for entry in entries {
                    let Value::Object(mut entry) = entry else {
                        continue;
                    };
                    let full_url = match entry.remove("fullUrl") {
                        Some(Value::String(url)) => Some(url),
                        _ => None,
                    };
                    if let Some(resource) = entry.remove("resource") {
                        self.add_resource(resource, full_url, origin);
                    }
                }
            }
            other => self.add_resource(other, None, origin),
        }
    }

    fn add_resource(&mut self, mut resource: Value, full_url: Option<String>, origin: Origin) {
        // R4 is told by the drafts alone: a history resource read this way may be an R4 one
        // that needed a repair, while every other version's resource is always read this way.
        if self.seen_version.is_none() {
            let told = super::version::of_resource(&resource);
            if origin == Origin::Draft || told != Some(super::version::FhirVersion::R4) {
                self.seen_version = told;
            }
        }
        let Some(kind) = normalize(&mut resource) else {
            return;
        };
        if !matches!(
            kind.as_str(),
            "Patient" | "Condition" | "MedicationRequest" | "MedicationStatement" | "AllergyIntolerance" | "Medication"
        ) {
            return;
        }
        if self.names_other_patient(&kind, &resource) {
            self.stats.other_patient += 1;
            if origin == Origin::Draft && kind == "MedicationRequest" {
                // Named in the refusal: at most 64 characters of each id.
                let cut = |s: &str| s.chars().take(64).collect::<String>();
                let id = resource.get("id").and_then(Value::as_str).unwrap_or("(no id)");
                let named = resource["subject"]["reference"].as_str().and_then(patient_named);
                self.foreign_drafts.push((format!("MedicationRequest/{}", cut(id)), named.map_or(String::new(), cut)));
            }
            return;
        }
        let id = resource.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let owner = format!("{kind}/{id}");
        for contained in take_contained(&mut resource) {
            self.add_contained(&owner, contained);
        }
        let typed = match kind.as_str() {
            "Patient" => parse(resource).map(Typed::Patient),
            "Condition" => parse(resource).map(Typed::Condition),
            "MedicationRequest" => parse(resource).map(Typed::Request),
            "MedicationStatement" => parse(resource).map(Typed::Statement),
            "AllergyIntolerance" => parse(resource).map(Typed::Allergy),
            _ => parse(resource).map(Typed::Medication),
        };
        match typed {
            Some(typed) => self.store(typed, full_url, origin),
            None => self.stats.skipped += 1,
        }
    }

    /// Adds Bundle entries kept as JSON text (see [`super::raw`]): each read the fast way where
    /// it can be, the lenient way of [`Self::add`] where not (see [`super`] for why both agree).
    pub fn add_entries(&mut self, entries: Vec<RawEntry>, origin: Origin) {
        for entry in entries {
            let text = entry.text();
            match direct::read(text) {
                Direct::Typed(typed) => {
                    if self.is_other_patient(typed.patient_reference()) {
                        self.stats.other_patient += 1;
                    } else {
                        self.store(typed, entry.full_url, origin);
                    }
                }
                Direct::NotRead => {}
                Direct::Repair => {
                    if let Ok(value) = super::prune::resource_from_str(text) {
                        self.add_resource(value, entry.full_url, origin);
                    }
                }
            }
        }
    }

    fn store(&mut self, typed: Typed, full_url: Option<String>, origin: Origin) {
        match typed {
            Typed::Patient(p) => self.patient = Some(p),
            Typed::Condition(c) => self.conditions.push(c),
            Typed::Request(mr) => match origin {
                Origin::History => self.medication_requests.push(mr),
                Origin::Draft => self.drafts.push(mr),
            },
            Typed::Statement(ms) => self.medication_statements.push(ms),
            Typed::Allergy(ai) => self.allergies.push(ai),
            Typed::Medication(m) => {
                if let Some(url) = full_url {
                    self.medications.insert(url, m.clone());
                }
                let key = format!("Medication/{}", m.id.as_deref().unwrap_or_default());
                self.medications.insert(key, m);
            }
        }
        self.stats.read += 1;
    }

    /// A contained Medication or Condition, kept under its owner; any other type is passed over.
    fn add_contained(&mut self, owner: &str, mut resource: Value) {
        let kind = normalize(&mut resource);
        if !matches!(kind.as_deref(), Some("Medication" | "Condition")) {
            return;
        }
        let Some(id) = resource.get("id").and_then(Value::as_str).map(|id| format!("#{id}")) else {
            return;
        };
        let key = (owner.to_owned(), id);
        let kept = match kind.as_deref() {
            Some("Medication") => parse::<Medication>(resource).map(|m| self.contained.insert(key, m)).is_some(),
            _ => parse::<Condition>(resource).map(|c| self.contained_conditions.insert(key, c)).is_some(),
        };
        if !kept {
            self.stats.skipped += 1;
        }
    }

    fn names_other_patient(&self, kind: &str, resource: &Value) -> bool {
        if kind == "Patient" {
            return self.is_other_patient(PatientRef::Id(resource.get("id").and_then(Value::as_str)));
        }
        let subject = match kind {
            "AllergyIntolerance" => resource.get("patient"),
            _ => resource.get("subject"),
        };
        self.is_other_patient(PatientRef::Reference(subject.and_then(|s| s.get("reference")).and_then(Value::as_str)))
    }

    /// Whether a resource's patient (its `Patient` id, or the reference of its subject) is
    /// another patient than the call's.
    fn is_other_patient(&self, patient: PatientRef<'_>) -> bool {
        if self.patient_id.is_empty() {
            return false;
        }
        match patient {
            PatientRef::Id(id) => id.is_some_and(|id| id != self.patient_id),
            PatientRef::Reference(reference) => {
                reference.and_then(patient_named).is_some_and(|id| id != self.patient_id)
            }
        }
    }

    /// The Medication a `medicationReference` of a resource points to: contained (`#id`, looked
    /// up under its owner, `Type/id`), in the draft orders or prefetch (`Medication/id`, absolute
    /// URL, fullUrl).
    pub fn medication(&self, owner: Owner<'_>, reference: &Reference) -> Option<&Medication> {
        let target = reference.reference.as_deref()?;
        if target.starts_with('#') {
            return self.contained.get(&(owner.key(), target.to_owned()));
        }
        if let Some(m) = self.medications.get(target) {
            return Some(m);
        }
        let mut parts = target.rsplit('/');
        let (id, kind) = (parts.next()?, parts.next()?);
        self.medications.get(&format!("{kind}/{id}"))
    }

    /// The medication concept of an order: its `medicationCodeableConcept`, or the code of the
    /// Medication its `medicationReference` resolves to, or else the reference's display text.
    pub fn request_medication<'a>(&'a self, request: &'a MedicationRequest) -> Option<Cow<'a, CodeableConcept>> {
        let owner = Owner { kind: "MedicationRequest", id: request.id.as_deref() };
        self.concept_of(owner, request.medication()?)
    }

    /// Whether an order names its medication by a reference to a Medication this record does not
    /// (yet) hold, or whose ingredients reference one it does not hold.
    pub fn medication_unresolved(&self, request: &MedicationRequest) -> bool {
        let owner = Owner { kind: "MedicationRequest", id: request.id.as_deref() };
        let Some(MedicationRef::Reference(r)) = request.medication() else { return false };
        let Some(medication) = self.medication(owner, r) else { return true };
        let scope = Self::scope_of(owner, r, medication);
        medication
            .ingredient
            .iter()
            .filter_map(|i| i.item_reference.as_ref())
            .any(|item| self.medication(scope, item).is_none())
    }

    /// The resource whose contained resources a Medication's own `#id` references point into:
    /// a contained Medication's are its owner's (contained resources hold none of their own:
    /// an ingredient `#ing-ket` is a sibling); any other Medication's are its own.
    fn scope_of<'m>(owner: Owner<'m>, reference: &Reference, medication: &'m Medication) -> Owner<'m> {
        if reference.reference.as_deref().is_some_and(|r| r.starts_with('#')) {
            owner
        } else {
            Owner { kind: "Medication", id: medication.id.as_deref() }
        }
    }

    /// As [`Self::request_medication`], for a MedicationStatement.
    pub fn statement_medication<'a>(&'a self, statement: &'a MedicationStatement) -> Option<Cow<'a, CodeableConcept>> {
        let owner = Owner { kind: "MedicationStatement", id: statement.id.as_deref() };
        self.concept_of(owner, statement.medication()?)
    }

    fn concept_of<'a>(&'a self, owner: Owner<'_>, medication: MedicationRef<'a>) -> Option<Cow<'a, CodeableConcept>> {
        let reference = match medication {
            MedicationRef::Concept(c) => return Some(Cow::Borrowed(c)),
            MedicationRef::Reference(r) => r,
        };
        if let Some(medication) = self.medication(owner, reference) {
            if let Some(concept) = self.medication_concept(Self::scope_of(owner, reference, medication), medication) {
                return Some(concept);
            }
        }
        let display = reference.display.as_deref()?;
        Some(Cow::Owned(CodeableConcept::from_text(display)))
    }

    /// What a Medication names: its code, with the item of each ingredient (a concept, or the
    /// code of the Medication it references, `#id` references resolved in `owner`'s contained resources) added to its
    /// codings and text.
    fn medication_concept<'a>(
        &'a self,
        owner: Owner<'_>,
        medication: &'a Medication,
    ) -> Option<Cow<'a, CodeableConcept>> {
        if medication.ingredient.is_empty() {
            return medication.code.as_ref().map(Cow::Borrowed);
        }
        let mut merged = medication.code.clone().unwrap_or_default();
        for ingredient in &medication.ingredient {
            let referenced = || self.medication(owner, ingredient.item_reference.as_ref()?)?.code.as_ref();
            let Some(item) = ingredient.item_codeable_concept.as_ref().or_else(referenced) else { continue };
            merged.coding.extend(item.coding.iter().cloned());
            if let Some(text) = &item.text {
                merged.text = Some(match merged.text.take() {
                    Some(own) => format!("{own}; {text}"),
                    None => text.clone(),
                });
            }
        }
        Some(Cow::Owned(merged))
    }

    /// The dose form of the Medication an order or statement references, if it names one.
    pub fn medication_form(&self, owner: Owner<'_>, medication: Option<MedicationRef<'_>>) -> Option<&CodeableConcept> {
        match medication? {
            MedicationRef::Reference(r) => self.medication(owner, r)?.form.as_ref(),
            MedicationRef::Concept(_) => None,
        }
    }

    /// A Condition a resource references: contained in it (`#id`), or of the record
    /// (`Condition/id`, absolute URL or `urn:uuid:`: the draft Bundle, prefetch, the server).
    pub fn condition(&self, owner: Owner<'_>, reference: &Reference) -> Option<&Condition> {
        let target = reference.reference.as_deref()?;
        if target.starts_with('#') {
            return self.contained_conditions.get(&(owner.key(), target.to_owned()));
        }
        let id = target.rsplit('/').next()?.trim_start_matches("urn:uuid:");
        self.conditions.iter().find(|c| c.id.as_deref() == Some(id))
    }
}

/// The patient id a reference names (`Patient/p1`, or an absolute URL ending so), if any.
fn patient_named(reference: &str) -> Option<&str> {
    reference.rsplit_once("Patient/").map(|(_, id)| id)
}

fn parse<T: DeserializeOwned>(value: Value) -> Option<T> {
    serde_json::from_value(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unreadable_resource_is_skipped_and_counted() {
        let mut record = PatientRecord::new("p1");
        record.add(
            json!({"resourceType": "Bundle", "entry": [
                {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}, "code": {"text": "x"}}},
                {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}, "code": "not-a-concept"}},
                {"resource": {"resourceType": "Observation", "status": "final"}}
            ]}),
            Origin::History,
        );
        assert_eq!(record.conditions.len(), 1);
        assert_eq!(record.stats, ReadStats { read: 1, skipped: 1, other_patient: 0 });
    }

    #[test]
    fn another_patients_resource_is_dropped() {
        let mut record = PatientRecord::new("p1");
        record.add(json!({"resourceType": "Condition", "subject": {"reference": "Patient/p2"}}), Origin::History);
        assert!(record.conditions.is_empty());
        assert_eq!(record.stats.other_patient, 1);
    }

    fn reference(target: &str) -> Reference {
        serde_json::from_value(json!({ "reference": target })).unwrap()
    }

    #[test]
    fn contained_and_bundled_medications_resolve() {
        let mut record = PatientRecord::new("p1");
        record.add(
            json!({"resourceType": "Bundle", "entry": [
                {"fullUrl": "urn:uuid:m2", "resource": {"resourceType": "Medication", "id": "m2", "code": {"text": "gabapentin"}}},
                {"resource": {"resourceType": "MedicationRequest", "id": "o1", "status": "draft", "intent": "order",
                  "contained": [{"resourceType": "Medication", "id": "m1", "code": {"text": "ketamine"}}],
                  "medicationReference": {"reference": "#m1"}, "subject": {"reference": "Patient/p1"}}}
            ]}),
            Origin::Draft,
        );
        let contained = reference("#m1");
        let text = |m: &Medication| m.code.as_ref().and_then(|c| c.text.clone());
        let owner = Owner { kind: "MedicationRequest", id: Some("o1") };
        assert_eq!(record.medication(owner, &contained).and_then(text).as_deref(), Some("ketamine"));
        let other = Owner { kind: "MedicationRequest", id: Some("o2") };
        assert_eq!(record.medication(other, &contained), None, "contained resources are their owner's");
        let by_url = reference("urn:uuid:m2");
        assert_eq!(record.medication(other, &by_url).and_then(text).as_deref(), Some("gabapentin"));
        let by_id = reference("https://ehr.example/fhir/Medication/m2");
        assert_eq!(record.medication(other, &by_id).and_then(text).as_deref(), Some("gabapentin"));
    }
}
