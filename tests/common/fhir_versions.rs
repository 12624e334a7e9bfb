//! One fixture writer per FHIR version: a resource the tests write in R4 is rewritten the way a
//! DSTU2, STU3 or R5 EHR sends the same facts — or refused, naming what that version cannot say
//! (an STU3 MedicationRequest has no `statusReason`, DSTU2 no `stopped` MedicationStatement). The
//! rule tests run each situation through every version that can express it
//! (`tests/suite/rules/mod.rs`), and the writers' output and the service's suggestions are checked
//! against fhir-sdk's STU3, R4B and R5 models ([`validate`]).
//!
//! Written from the versions' specifications, apart from the service's reader
//! (`src/fhir/normalize.rs`), so that each checks the other. An element a writer does not know is
//! refused rather than passed through: a fixture never carries an R4 element into another
//! version unnoticed.

pub use ketamine_cds::fhir::version::FhirVersion;
use serde_json::{Map, Value, json};

pub const OTHER_VERSIONS: [FhirVersion; 3] = [FhirVersion::Dstu2, FhirVersion::Stu3, FhirVersion::R5];

/// A resource written in one version, or what that version cannot say.
pub type Written = Result<Value, String>;

type Obj = Map<String, Value>;

/// `r4` (an R4 resource) as `version` writes it.
pub fn write(version: FhirVersion, r4: &Value) -> Written {
    let mut obj = r4.as_object().cloned().ok_or("a resource is an object")?;
    if let Some(Value::Array(contained)) = obj.get("contained") {
        let written: Result<Vec<Value>, String> = contained.iter().map(|c| write(version, c)).collect();
        obj.insert("contained".into(), Value::Array(written?));
    }
    let kind = obj.get("resourceType").and_then(Value::as_str).unwrap_or_default().to_owned();
    let v = version;
    match (version, kind.as_str()) {
        (FhirVersion::R4, _) => return Ok(Value::Object(obj)),
        (_, "Patient") => only(v, &obj, &["resourceType", "id", "gender", "birthDate"])?,
        (_, "MedicationRequest") => medication_request(v, &mut obj)?,
        (_, "MedicationStatement") => medication_statement(v, &mut obj)?,
        (_, "Condition") => condition(v, &mut obj)?,
        (_, "AllergyIntolerance") => allergy(v, &mut obj)?,
        (_, "Medication") => medication(v, &mut obj)?,
        (_, other) => return Err(format!("no {v:?} writer for {other}")),
    }
    Ok(Value::Object(obj))
}

/// A whole hook request in `version`: its drafts, its prefetched resources, and its selections
/// (a DSTU2 client selects `MedicationOrder/…`).
pub fn write_request(version: FhirVersion, r4: &Value) -> Written {
    let mut request = r4.clone();
    let resources = request_resources(&mut request);
    for resource in resources {
        *resource = write(version, resource)?;
    }
    if version == FhirVersion::Dstu2 {
        for selection in request.pointer_mut("/context/selections").and_then(Value::as_array_mut).into_iter().flatten()
        {
            if let Some(id) = selection.as_str().and_then(|s| s.strip_prefix("MedicationRequest/")) {
                *selection = json!(format!("MedicationOrder/{id}"));
            }
        }
    }
    Ok(request)
}

fn cannot(version: FhirVersion, what: &str) -> String {
    format!("{version:?} cannot say {what}")
}

/// Refuses an element the writer does not know.
fn only(version: FhirVersion, obj: &Obj, known: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(format!("the {version:?} writer does not know {}.{key}", obj["resourceType"])),
        None => Ok(()),
    }
}

fn rename(obj: &mut Obj, from: &str, to: &str) {
    if let Some(value) = obj.remove(from) {
        obj.insert(to.to_owned(), value);
    }
}

fn list_len(obj: &Obj, key: &str) -> usize {
    obj.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

/// A list element that is single in `version`: its one item (or the lone value), or refused.
fn take_single(version: FhirVersion, obj: &mut Obj, key: &str) -> Result<Option<Value>, String> {
    match obj.remove(key) {
        Some(Value::Array(mut items)) if items.len() <= 1 => Ok(items.pop()),
        Some(Value::Array(_)) => Err(cannot(version, &format!("more than one {key}"))),
        other => Ok(other),
    }
}

/// As [`take_single`], put back as `to`.
fn single(version: FhirVersion, obj: &mut Obj, key: &str, to: &str) -> Result<(), String> {
    if let Some(item) = take_single(version, obj, key)? {
        obj.insert(to.to_owned(), item);
    }
    Ok(())
}

/// DSTU2's one reason (of an order, or for a use): R4's `reasonCode` as `[code, reference]`'s
/// concept key, `reasonReference` as its reference key; more than one is refused.
fn dstu2_reason(obj: &mut Obj, [code, reference]: [&str; 2]) -> Result<(), String> {
    let v = FhirVersion::Dstu2;
    if list_len(obj, "reasonCode") + list_len(obj, "reasonReference") > 1 {
        return Err(cannot(v, "more than one reason"));
    }
    single(v, obj, "reasonCode", code)?;
    single(v, obj, "reasonReference", reference)
}

fn status(obj: &Obj) -> String {
    obj.get("status").and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The code of a CodeableConcept status (`clinicalStatus`, `verificationStatus`).
fn concept_code(obj: &Obj, key: &str) -> Option<String> {
    obj.get(key)?["coding"][0]["code"].as_str().map(str::to_owned)
}

/// R4's Dosages with the dose moved out of `doseAndRate` onto the Dosage (STU3 and DSTU2
/// orders: `doseQuantity`; DSTU2 statements: `quantityQuantity`).
fn flat_doses(version: FhirVersion, obj: &mut Obj, key: &str, names: [&str; 2]) -> Result<(), String> {
    for dosage in obj.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
        let Some(dosage) = dosage.as_object_mut() else { continue };
        let Some(Value::Array(rates)) = dosage.remove("doseAndRate") else { continue };
        if rates.len() > 1 {
            return Err(cannot(version, "more than one doseAndRate"));
        }
        for (k, v) in rates.into_iter().next().and_then(|r| r.as_object().cloned()).unwrap_or_default() {
            let name = match k.as_str() {
                "doseQuantity" => names[0],
                "doseRange" => names[1],
                other => return Err(cannot(version, &format!("doseAndRate.{other}"))),
            };
            dosage.insert(name.to_owned(), v);
        }
    }
    Ok(())
}

/// R4's Dosage timing and as-needed elements as `version` spells them: DSTU2's
/// `Timing.repeat.periodUnits` / `durationUnits` and one `when` (no `timeOfDay`); R5's
/// `asNeeded` and `asNeededFor` (a list). STU3 spells them as R4.
fn dosages(version: FhirVersion, obj: &mut Obj, key: &str) -> Result<(), String> {
    for dosage in obj.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
        let Some(dosage) = dosage.as_object_mut() else { continue };
        match version {
            FhirVersion::Dstu2 => {
                let repeat = dosage.get_mut("timing").and_then(|t| t.get_mut("repeat")).and_then(Value::as_object_mut);
                if let Some(repeat) = repeat {
                    if repeat.contains_key("timeOfDay") {
                        return Err(cannot(version, "a time of day (no Timing.repeat.timeOfDay)"));
                    }
                    single(version, repeat, "when", "when")?;
                    rename(repeat, "periodUnit", "periodUnits");
                    rename(repeat, "durationUnit", "durationUnits");
                }
            }
            FhirVersion::R5 => {
                rename(dosage, "asNeededBoolean", "asNeeded");
                if let Some(concept) = dosage.remove("asNeededCodeableConcept") {
                    dosage.insert("asNeededFor".into(), json!([concept]));
                }
            }
            FhirVersion::Stu3 | FhirVersion::R4 => {}
        }
    }
    Ok(())
}

/// R4's `medicationCodeableConcept` / `medicationReference` as R5's CodeableReference.
fn r5_medication(obj: &mut Obj) {
    for (from, part) in [("medicationCodeableConcept", "concept"), ("medicationReference", "reference")] {
        if let Some(value) = obj.remove(from) {
            obj.insert("medication".into(), json!({ part: value }));
        }
    }
}

/// R4's `reasonCode` and `reasonReference` as R5's `reason` CodeableReferences.
fn r5_reasons(obj: &mut Obj) {
    let mut reasons = Vec::new();
    for (from, part) in [("reasonCode", "concept"), ("reasonReference", "reference")] {
        if let Some(Value::Array(items)) = obj.remove(from) {
            reasons.extend(items.into_iter().map(|item| json!({ part: item })));
        }
    }
    if !reasons.is_empty() {
        obj.insert("reason".into(), Value::Array(reasons));
    }
}

const REQUEST_KEYS: &[&str] = &[
    "resourceType",
    "id",
    "contained",
    "status",
    "intent",
    "doNotPerform",
    "statusReason",
    "medicationCodeableConcept",
    "medicationReference",
    "subject",
    "encounter",
    "authoredOn",
    "reasonCode",
    "reasonReference",
    "dosageInstruction",
    "dispenseRequest",
];

fn medication_request(v: FhirVersion, obj: &mut Obj) -> Result<(), String> {
    only(v, obj, REQUEST_KEYS)?;
    if obj.contains_key("doNotPerform") && matches!(v, FhirVersion::Dstu2 | FhirVersion::Stu3) {
        return Err(cannot(v, "an order not to give a medication (no doNotPerform)"));
    }
    dosages(v, obj, "dosageInstruction")?;
    match v {
        FhirVersion::Stu3 => {
            if obj.contains_key("statusReason") {
                return Err(cannot(v, "why a MedicationRequest was stopped (no statusReason)"));
            }
            rename(obj, "encounter", "context");
            flat_doses(v, obj, "dosageInstruction", ["doseQuantity", "doseRange"])
        }
        FhirVersion::Dstu2 => {
            obj.insert("resourceType".into(), json!("MedicationOrder"));
            if matches!(status(obj).as_str(), "cancelled" | "unknown") {
                return Err(cannot(v, &format!("a MedicationOrder {}", status(obj))));
            }
            if obj.remove("intent").is_some_and(|i| i != "order") {
                return Err(cannot(v, "a MedicationOrder other than an order"));
            }
            dstu2_reason(obj, ["reasonCodeableConcept", "reasonReference"])?;
            rename(obj, "subject", "patient");
            rename(obj, "authoredOn", "dateWritten");
            rename(obj, "statusReason", "reasonEnded");
            flat_doses(v, obj, "dosageInstruction", ["doseQuantity", "doseRange"])
        }
        FhirVersion::R5 => {
            r5_medication(obj);
            r5_reasons(obj);
            Ok(())
        }
        FhirVersion::R4 => Ok(()),
    }
}

const STATEMENT_KEYS: &[&str] = &[
    "resourceType",
    "id",
    "contained",
    "status",
    "statusReason",
    "medicationCodeableConcept",
    "medicationReference",
    "subject",
    "effectiveDateTime",
    "effectivePeriod",
    "dateAsserted",
    "reasonCode",
    "reasonReference",
    "dosage",
];

fn medication_statement(v: FhirVersion, obj: &mut Obj) -> Result<(), String> {
    only(v, obj, STATEMENT_KEYS)?;
    dosages(v, obj, "dosage")?;
    let status = status(obj);
    let not_taken = status == "not-taken";
    if obj.contains_key("statusReason") && !not_taken && v != FhirVersion::R5 {
        return Err(cannot(v, "why a MedicationStatement's use ended (no statusReason)"));
    }
    match v {
        FhirVersion::Stu3 => {
            let (status, taken) = match status.as_str() {
                "not-taken" => ("intended", "n"),
                "entered-in-error" | "intended" => (status.as_str(), "unk"),
                "active" | "completed" | "stopped" | "on-hold" => (status.as_str(), "y"),
                other => return Err(cannot(v, &format!("a MedicationStatement {other}"))),
            };
            obj.insert("status".into(), json!(status));
            obj.insert("taken".into(), json!(taken));
            rename(obj, "statusReason", "reasonNotTaken");
            flat_doses(v, obj, "dosage", ["doseQuantity", "doseRange"])
        }
        FhirVersion::Dstu2 => {
            match status.as_str() {
                "not-taken" => {
                    obj.insert("status".into(), json!("intended"));
                    obj.insert("wasNotTaken".into(), json!(true));
                }
                "active" | "completed" | "entered-in-error" | "intended" => {}
                other => return Err(cannot(v, &format!("a MedicationStatement {other}"))),
            }
            dstu2_reason(obj, ["reasonForUseCodeableConcept", "reasonForUseReference"])?;
            rename(obj, "subject", "patient");
            rename(obj, "statusReason", "reasonNotTaken");
            flat_doses(v, obj, "dosage", ["quantityQuantity", "quantityRange"])
        }
        FhirVersion::R5 => {
            // R5 records a statement; whether the medication is taken is its adherence.
            let adherence = match status.as_str() {
                "active" => "taking",
                "on-hold" => "on-hold",
                "stopped" => "stopped",
                "not-taken" => "not-taking",
                "unknown" => "unknown",
                "entered-in-error" if !obj.contains_key("statusReason") => "",
                other => return Err(cannot(v, &format!("a MedicationStatement {other}"))),
            };
            if !adherence.is_empty() {
                let system = "http://hl7.org/fhir/CodeSystem/medication-statement-adherence";
                let mut value = json!({ "code": { "coding": [{ "system": system, "code": adherence }] } });
                if let Some(reason) = take_single(v, obj, "statusReason")? {
                    value["reason"] = reason;
                }
                obj.insert("status".into(), json!("recorded"));
                obj.insert("adherence".into(), value);
            }
            r5_medication(obj);
            r5_reasons(obj);
            Ok(())
        }
        FhirVersion::R4 => Ok(()),
    }
}

const CONDITION_KEYS: &[&str] = &[
    "resourceType",
    "id",
    "clinicalStatus",
    "verificationStatus",
    "code",
    "subject",
    "onsetDateTime",
    "abatementDateTime",
    "abatementPeriod",
    "abatementRange",
    "abatementString",
    "abatementBoolean",
    "recordedDate",
];

fn condition(v: FhirVersion, obj: &mut Obj) -> Result<(), String> {
    only(v, obj, CONDITION_KEYS)?;
    let clinical = concept_code(obj, "clinicalStatus");
    let verification = concept_code(obj, "verificationStatus");
    match v {
        FhirVersion::Stu3 | FhirVersion::Dstu2 => {
            let clinical_codes: &[&str] = if v == FhirVersion::Stu3 {
                &["active", "recurrence", "inactive", "remission", "resolved"]
            } else {
                &["active", "relapse", "remission", "resolved"]
            };
            let verification_codes = ["provisional", "differential", "confirmed", "refuted", "entered-in-error"];
            for (key, code, codes) in [
                ("clinicalStatus", &clinical, clinical_codes),
                ("verificationStatus", &verification, &verification_codes[..]),
            ] {
                match code {
                    Some(code) if codes.contains(&code.as_str()) => {
                        obj.insert(key.to_owned(), json!(code));
                    }
                    Some(code) => return Err(cannot(v, &format!("a Condition {key} {code}"))),
                    None => {}
                }
            }
            if v == FhirVersion::Dstu2 {
                rename(obj, "subject", "patient");
                rename(obj, "recordedDate", "dateRecorded");
                // Required in DSTU2; `unknown` says no more than R4's absent element.
                obj.entry("verificationStatus").or_insert(json!("unknown"));
            } else {
                rename(obj, "recordedDate", "assertedDate");
            }
            Ok(())
        }
        FhirVersion::R5 if clinical.is_none() => Err(cannot(v, "a Condition without a clinicalStatus (required)")),
        _ => Ok(()),
    }
}

const ALLERGY_KEYS: &[&str] = &[
    "resourceType",
    "id",
    "clinicalStatus",
    "verificationStatus",
    "type",
    "category",
    "criticality",
    "code",
    "patient",
    "recordedDate",
    "reaction",
];

fn allergy(v: FhirVersion, obj: &mut Obj) -> Result<(), String> {
    only(v, obj, ALLERGY_KEYS)?;
    let clinical = concept_code(obj, "clinicalStatus");
    let verification = concept_code(obj, "verificationStatus");
    match v {
        FhirVersion::Stu3 => {
            for (key, code) in [("clinicalStatus", clinical), ("verificationStatus", verification)] {
                if let Some(code) = code {
                    obj.insert(key.to_owned(), json!(code));
                }
            }
            // Required in STU3: `unconfirmed` claims no more than R4's absent element.
            obj.entry("verificationStatus").or_insert(json!("unconfirmed"));
            rename(obj, "recordedDate", "assertedDate");
            Ok(())
        }
        FhirVersion::Dstu2 => {
            obj.remove("clinicalStatus");
            obj.remove("verificationStatus");
            let status = match (clinical.as_deref(), verification.as_deref()) {
                (_, Some(v @ ("refuted" | "entered-in-error"))) => Some(v),
                (Some(c @ ("inactive" | "resolved")), _) => Some(c),
                (_, Some(v @ ("unconfirmed" | "confirmed"))) => Some(v),
                (Some("active"), _) => Some("active"),
                (None, None) => None,
                _ => return Err(cannot(v, "this AllergyIntolerance status")),
            };
            if let Some(status) = status {
                obj.insert("status".into(), json!(status));
            }
            rename(obj, "code", "substance");
            if obj.get("category").and_then(Value::as_array).is_some_and(|c| c.iter().any(|c| c == "biologic")) {
                return Err(cannot(v, "an AllergyIntolerance category biologic"));
            }
            single(v, obj, "category", "category")?;
            if let Some(criticality) = obj.get("criticality").and_then(Value::as_str) {
                let code = match criticality {
                    "low" => "CRITL",
                    "high" => "CRITH",
                    _ => "CRITU",
                };
                obj.insert("criticality".into(), json!(code));
            }
            Ok(())
        }
        FhirVersion::R5 => {
            if let Some(kind) = obj.remove("type") {
                let system = "http://hl7.org/fhir/allergy-intolerance-type";
                obj.insert("type".into(), json!({ "coding": [{ "system": system, "code": kind }] }));
            }
            for reaction in obj.get_mut("reaction").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(Value::Array(manifestations)) = reaction.get_mut("manifestation") {
                    for m in manifestations {
                        *m = json!({ "concept": m.take() });
                    }
                }
            }
            Ok(())
        }
        FhirVersion::R4 => Ok(()),
    }
}

fn medication(v: FhirVersion, obj: &mut Obj) -> Result<(), String> {
    only(v, obj, &["resourceType", "id", "code", "form", "ingredient"])?;
    let ingredients = obj.remove("ingredient").and_then(|i| i.as_array().cloned()).unwrap_or_default();
    let mut written = Vec::new();
    for ingredient in ingredients {
        let mut ingredient = ingredient.as_object().cloned().unwrap_or_default();
        match v {
            FhirVersion::Stu3 => rename(&mut ingredient, "strength", "amount"),
            FhirVersion::Dstu2 => {
                if ingredient.contains_key("itemCodeableConcept") {
                    return Err(cannot(v, "a Medication ingredient by code (only by reference)"));
                }
                rename(&mut ingredient, "itemReference", "item");
                rename(&mut ingredient, "strength", "amount");
            }
            FhirVersion::R5 => {
                for (from, part) in [("itemCodeableConcept", "concept"), ("itemReference", "reference")] {
                    if let Some(value) = ingredient.remove(from) {
                        ingredient.insert("item".into(), json!({ part: value }));
                    }
                }
                rename(&mut ingredient, "strength", "strengthRatio");
            }
            FhirVersion::R4 => {}
        }
        written.push(Value::Object(ingredient));
    }
    match v {
        FhirVersion::Dstu2 => {
            let mut product = Map::new();
            if let Some(form) = obj.remove("form") {
                product.insert("form".into(), form);
            }
            if !written.is_empty() {
                product.insert("ingredient".into(), Value::Array(written));
            }
            if !product.is_empty() {
                obj.insert("product".into(), Value::Object(product));
            }
        }
        _ => {
            if v == FhirVersion::R5 {
                rename(obj, "form", "doseForm");
            }
            if !written.is_empty() {
                obj.insert("ingredient".into(), Value::Array(written));
            }
        }
    }
    Ok(())
}

/// The version a request `written` from `r4` is answered in: `version`, unless the writer
/// changed nothing (a call that reads alike in STU3 and R4 is answered in R4).
pub fn told(version: FhirVersion, written: &Value, r4: &Value) -> FhirVersion {
    if written == r4 { FhirVersion::R4 } else { version }
}

/// `theirs` (the cards of `version`) say what the R4 cards say; the resources their suggestions
/// create are valid in `version` and order what R4's order.
pub fn assert_same_cards(version: FhirVersion, r4: &[Value], theirs: &[Value]) {
    let (mut r4, mut theirs) = (r4.to_vec(), theirs.to_vec());
    let (ours, created) = (created_resources(&mut r4), created_resources(&mut theirs));
    assert_eq!(theirs, r4, "{version:?} cards differ from R4's");
    for (r4_resource, resource) in ours.iter().zip(&created) {
        validate(version, resource).unwrap_or_else(|e| panic!("{version:?} suggestion {resource}: {e}"));
        let medication = |r: &Value| r.get("medicationCodeableConcept").unwrap_or(&r["medication"]["concept"]).clone();
        assert_eq!(medication(resource), medication(r4_resource), "{version:?} orders another medication");
    }
    assert_eq!(ours.len(), created.len());
}

/// Takes the resources the cards' suggestions create out of them (and names deleted drafts as
/// R4 does), leaving what every version's cards must share.
pub fn created_resources(cards: &mut [Value]) -> Vec<Value> {
    let mut created = Vec::new();
    for action in cards
        .iter_mut()
        .flat_map(|c| c["suggestions"].as_array_mut().into_iter().flatten())
        .flat_map(|s| s["actions"].as_array_mut().into_iter().flatten())
    {
        if let Some(resource) = action.as_object_mut().and_then(|a| a.remove("resource")) {
            created.push(resource);
        }
        if let Some(id) = action["resourceId"].as_str().and_then(|id| id.strip_prefix("MedicationOrder/")) {
            action["resourceId"] = json!(format!("MedicationRequest/{id}"));
        }
    }
    created
}

/// Whether `resource` is a valid resource of `version`: it reads as fhir-sdk's model of that
/// version (STU3, R4B for R4, R5) and loses nothing in the reading — fhir-sdk's models ignore
/// unknown elements, so one that is not that version's would vanish. fhir-sdk has no DSTU2
/// models: a DSTU2 resource is checked against the elements its writer and the suggestions use.
pub fn validate(version: FhirVersion, resource: &Value) -> Result<(), String> {
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(resource: &Value) -> Result<(), String> {
        let model: T = serde_json::from_value(resource.clone()).map_err(|e| e.to_string())?;
        let back = serde_json::to_value(&model).map_err(|e| e.to_string())?;
        match first_difference(resource, &back, "") {
            Some(path) => Err(format!("{path} does not survive the model")),
            None => Ok(()),
        }
    }
    match version {
        FhirVersion::Stu3 => round_trip::<fhir_sdk::stu3::resources::Resource>(&stu3_event_timings(resource)?),
        FhirVersion::R4 => round_trip::<fhir_sdk::r4b::resources::Resource>(resource),
        FhirVersion::R5 => round_trip::<fhir_sdk::r5::resources::Resource>(resource),
        FhirVersion::Dstu2 => dstu2_shape(resource),
    }
}

/// STU3's `Timing.repeat.when` takes FHIR's event timings and HL7 v3's TimingEvent codes
/// (`HS`, bedtime); fhir-sdk's STU3 model knows only the first. The codes are checked here and
/// taken out for the model.
fn stu3_event_timings(resource: &Value) -> Result<Value, String> {
    const STU3_WHEN: &[&str] = &[
        "MORN", "AFT", "EVE", "NIGHT", "PHS", "HS", "WAKE", "C", "CM", "CD", "CV", "AC", "ACM", "ACD", "ACV", "PC",
        "PCM", "PCD", "PCV",
    ];
    let mut resource = resource.clone();
    for key in ["dosageInstruction", "dosage"] {
        for dosage in resource.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
            let Some(repeat) = dosage.pointer_mut("/timing/repeat").and_then(Value::as_object_mut) else { continue };
            for code in repeat.remove("when").and_then(|w| w.as_array().cloned()).unwrap_or_default() {
                if !code.as_str().is_some_and(|c| STU3_WHEN.contains(&c)) {
                    return Err(format!("{code} is not an STU3 event timing"));
                }
            }
        }
    }
    Ok(resource)
}

/// Where `a` and `b` first differ (numbers compared by value).
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .find_map(|(k, v)| first_difference(v, y.get(k).unwrap_or(&Value::Null), &format!("{at}.{k}")))
            .or_else(|| y.keys().find(|k| !x.contains_key(*k)).map(|k| format!("{at}.{k} (added)"))),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]")))
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        _ if a == b => None,
        _ => Some(at.to_owned()),
    }
}

/// The DSTU2 elements this project writes (DSTU2 1.0.2's MedicationOrder, MedicationStatement,
/// Condition, AllergyIntolerance and Medication), with their cardinalities.
fn dstu2_shape(resource: &Value) -> Result<(), String> {
    let obj = resource.as_object().ok_or("a resource is an object")?;
    let kind = obj.get("resourceType").and_then(Value::as_str).unwrap_or_default();
    let (known, lists): (&[&str], &[&str]) = match kind {
        "MedicationOrder" => (
            &[
                "resourceType",
                "id",
                "contained",
                "status",
                "medicationCodeableConcept",
                "medicationReference",
                "patient",
                "encounter",
                "dateWritten",
                "reasonCodeableConcept",
                "reasonReference",
                "reasonEnded",
                "dosageInstruction",
                "dispenseRequest",
            ],
            &["dosageInstruction", "contained"],
        ),
        "MedicationStatement" => (
            &[
                "resourceType",
                "id",
                "contained",
                "status",
                "wasNotTaken",
                "reasonNotTaken",
                "medicationCodeableConcept",
                "medicationReference",
                "patient",
                "effectiveDateTime",
                "effectivePeriod",
                "dateAsserted",
                "reasonForUseCodeableConcept",
                "reasonForUseReference",
                "dosage",
            ],
            &["reasonNotTaken", "dosage", "contained"],
        ),
        "Condition" => (
            &[
                "resourceType",
                "id",
                "patient",
                "code",
                "clinicalStatus",
                "verificationStatus",
                "onsetDateTime",
                "abatementDateTime",
                "abatementPeriod",
                "abatementRange",
                "abatementString",
                "abatementBoolean",
                "dateRecorded",
            ],
            &[],
        ),
        "AllergyIntolerance" => (
            &[
                "resourceType",
                "id",
                "patient",
                "substance",
                "status",
                "type",
                "category",
                "criticality",
                "recordedDate",
                "reaction",
            ],
            &["reaction"],
        ),
        "Medication" => (&["resourceType", "id", "code", "product"], &[]),
        "Patient" => (&["resourceType", "id", "gender", "birthDate"], &[]),
        other => return Err(format!("not a DSTU2 resource this project writes: {other}")),
    };
    for (key, value) in obj {
        if !known.contains(&key.as_str()) {
            return Err(format!("DSTU2 {kind} has no {key}"));
        }
        if value.is_array() != lists.contains(&key.as_str()) {
            return Err(format!("DSTU2 {kind}.{key} has the wrong cardinality"));
        }
    }
    let dosage_keys: &[&str] = match kind {
        "MedicationOrder" => &["text", "timing", "route", "doseQuantity", "doseRange", "asNeededBoolean"],
        "MedicationStatement" => &["text", "timing", "route", "quantityQuantity", "quantityRange", "asNeededBoolean"],
        _ => &[],
    };
    for dosage in ["dosageInstruction", "dosage"].iter().filter_map(|k| obj.get(*k)?.as_array()).flatten() {
        if let Some(key) =
            dosage.as_object().into_iter().flat_map(|d| d.keys()).find(|k| !dosage_keys.contains(&k.as_str()))
        {
            return Err(format!("a DSTU2 {kind} Dosage has no {key}"));
        }
    }
    if kind == "MedicationOrder" && !obj.contains_key("patient") {
        return Err("a DSTU2 MedicationOrder names its patient".into());
    }
    Ok(())
}

/// An STU3 resource as R4 says the same (the corpus's STU3 requests have R4 equivalents made
/// this way): a dose on the Dosage into `doseAndRate`, `context` as `encounter`, `taken: n` as
/// status `not-taken` with `reasonNotTaken` as its statusReason, code statuses as
/// CodeableConcepts, `assertedDate` as `recordedDate`, a Medication ingredient's `amount` as its
/// `strength`. (The reverse of [`write`]'s STU3 writer, written apart from the service's reader.)
pub fn stu3_to_r4(stu3: &Value) -> Value {
    let Some(mut obj) = stu3.as_object().cloned() else { return stu3.clone() };
    if let Some(Value::Array(contained)) = obj.get("contained") {
        let upgraded = contained.iter().map(stu3_to_r4).collect();
        obj.insert("contained".into(), Value::Array(upgraded));
    }
    let doses_into_rates = |obj: &mut Obj, key: &str| {
        for dosage in
            obj.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut)
        {
            let mut rate = Map::new();
            for part in ["doseQuantity", "doseRange", "rateQuantity", "rateRange", "rateRatio"] {
                if let Some(value) = dosage.remove(part) {
                    rate.insert(part.to_owned(), value);
                }
            }
            if !rate.is_empty() {
                dosage.insert("doseAndRate".into(), json!([rate]));
            }
        }
    };
    let code_to_concept = |obj: &mut Obj, key: &str, system: &str| {
        if let Some(Value::String(code)) = obj.get(key).cloned() {
            obj.insert(key.to_owned(), json!({ "coding": [{ "system": system, "code": code }] }));
        }
    };
    match obj.get("resourceType").and_then(Value::as_str).unwrap_or_default() {
        "MedicationRequest" => {
            doses_into_rates(&mut obj, "dosageInstruction");
            rename(&mut obj, "context", "encounter");
            if let Some(Value::Object(requester)) = obj.remove("requester") {
                if let Some(agent) = requester.get("agent") {
                    obj.insert("requester".into(), agent.clone());
                }
            }
            if let Some(category) = obj.remove("category") {
                obj.insert("category".into(), if category.is_array() { category } else { json!([category]) });
            }
        }
        "MedicationStatement" => {
            doses_into_rates(&mut obj, "dosage");
            if obj.remove("taken").is_some_and(|t| t == "n") {
                obj.insert("status".into(), json!("not-taken"));
            }
            rename(&mut obj, "reasonNotTaken", "statusReason");
        }
        "Condition" => {
            code_to_concept(&mut obj, "clinicalStatus", "http://terminology.hl7.org/CodeSystem/condition-clinical");
            code_to_concept(
                &mut obj,
                "verificationStatus",
                "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            );
            rename(&mut obj, "assertedDate", "recordedDate");
            // R4 has no abatementBoolean: `true` says it abated (and no more), `false` nothing.
            if let Some(abated) = obj.remove("abatementBoolean") {
                if abated == true {
                    obj.insert("abatementString".into(), json!("abated"));
                }
            }
        }
        "AllergyIntolerance" => {
            let clinical = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
            code_to_concept(&mut obj, "clinicalStatus", clinical);
            let verification = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
            code_to_concept(&mut obj, "verificationStatus", verification);
            rename(&mut obj, "assertedDate", "recordedDate");
        }
        "Medication" => {
            for ingredient in obj
                .get_mut("ingredient")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object_mut)
            {
                rename(ingredient, "amount", "strength");
            }
        }
        _ => {}
    }
    Value::Object(obj)
}

/// Every resource of a request (its drafts, prefetch Bundles' entries, lone prefetched
/// resources).
pub fn request_resources(request: &mut Value) -> Vec<&mut Value> {
    let mut resources: Vec<&mut Value> = Vec::new();
    let Some(parts) = request.as_object_mut() else { return resources };
    for (key, value) in parts.iter_mut() {
        match key.as_str() {
            // A Bundle, as CDS Hooks 2.0 says; some older examples send the one resource.
            "context" => {
                if let Some(drafts) = value.get_mut("draftOrders") {
                    bundle_or_resource(drafts, &mut resources);
                }
            }
            "prefetch" => {
                for item in value.as_object_mut().into_iter().flat_map(|p| p.values_mut()) {
                    bundle_or_resource(item, &mut resources);
                }
            }
            _ => {}
        }
    }
    resources
}

/// A Bundle's entries' resources, or a lone resource.
fn bundle_or_resource<'a>(value: &'a mut Value, into: &mut Vec<&'a mut Value>) {
    if value["resourceType"] == "Bundle" {
        into.extend(
            value.get_mut("entry").and_then(Value::as_array_mut).into_iter().flatten().map(|e| &mut e["resource"]),
        );
    } else if value.get("resourceType").is_some() {
        into.push(value);
    }
}
