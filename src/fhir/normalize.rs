//! Lenient normalisation of FHIR JSON before typed parsing.
//!
//! EHRs and example generators send shapes the strict typed read rejects: a lone object where
//! the element is a list (the CDS Hooks sandbox sends `reasonCode` and `category` that way), nulls
//! inside lists, a zero `frequency`; and other FHIR versions' spellings of what the rules read —
//! DSTU2's (`MedicationOrder`, `reasonEnded`, `wasNotTaken`, `Timing.repeat.periodUnits`, `substance` and one `status` on an
//! AllergyIntolerance, `Medication.product`), STU3's (a string `clinicalStatus`, `doseQuantity`
//! directly on a Dosage, `taken`, `reasonNotTaken`, `assertedDate`) and R5's (CodeableReferences
//! for medication, reason and manifestation, a MedicationStatement's `adherence`,
//! `Medication.doseForm`). The mapping per version: `docs/fhir-versions.md`. Each fix keeps the
//! meaning; anything still unreadable is skipped by the caller and counted.

use serde_json::{Map, Value, json};

/// Elements that are lists wherever they occur in the resources this service reads. (Not
/// `identifier`: a list on a resource, but a single Identifier in a Reference.)
fn is_list_element(key: &str) -> bool {
    matches!(
        key,
        "coding"
            | "extension"
            | "modifierExtension"
            | "reasonCode"
            | "reasonReference"
            | "reason"
            | "dosageInstruction"
            | "doseAndRate"
            | "note"
            | "additionalInstruction"
            | "event"
            | "when"
            | "dayOfWeek"
            | "timeOfDay"
            | "ingredient"
            | "reaction"
            | "manifestation"
            | "bodySite"
            | "stage"
            | "evidence"
            | "basedOn"
            | "partOf"
            | "derivedFrom"
            | "supportingInformation"
            | "insurance"
            | "detectedIssue"
            | "eventHistory"
            | "instantiatesCanonical"
            | "instantiatesUri"
            | "name"
            | "given"
            | "prefix"
            | "suffix"
            | "line"
            | "telecom"
            | "address"
    )
}

/// Normalises `resource` in place for its `resourceType`, which may be rewritten (DSTU2
/// `MedicationOrder` becomes `MedicationRequest`). Returns the resulting type.
pub fn normalize(resource: &mut Value) -> Option<String> {
    let obj = resource.as_object_mut()?;
    let mut kind = obj.get("resourceType")?.as_str()?.to_owned();
    // DSTU2's orders are MedicationOrders and its statements name their `patient`: their
    // Timing spells `periodUnits` (R4 and STU3: `periodUnit`).
    let dstu2 = kind == "MedicationOrder" || (kind == "MedicationStatement" && obj.contains_key("patient"));
    if kind == "MedicationOrder" {
        kind = "MedicationRequest".to_owned();
        obj.insert("resourceType".into(), Value::from(kind.clone()));
        rename(obj, "reasonCodeableConcept", "reasonCode");
        rename(obj, "patient", "subject");
        rename(obj, "dateWritten", "authoredOn");
        rename(obj, "reasonEnded", "statusReason");
    }
    wrap_lists(obj);
    match kind.as_str() {
        "MedicationRequest" => {
            r5_medication(obj);
            r5_reasons(obj);
            r5_request_status(obj);
            first_of_list(obj, "statusReason");
            normalize_dosages(obj, "dosageInstruction", dstu2);
        }
        "MedicationStatement" => {
            r5_medication(obj);
            r5_reasons(obj);
            r5_adherence(obj);
            not_taken(obj);
            rename(obj, "patient", "subject");
            // DSTU2 and STU3: why it was not taken; DSTU2: why it is taken.
            rename(obj, "reasonNotTaken", "statusReason");
            rename(obj, "reasonForUseCodeableConcept", "reasonCode");
            rename(obj, "reasonForUseReference", "reasonReference");
            ensure_list(obj, "statusReason");
            ensure_list(obj, "reasonCode");
            ensure_list(obj, "reasonReference");
            ensure_list(obj, "dosage");
            dstu2_statement_doses(obj);
            normalize_dosages(obj, "dosage", dstu2);
        }
        "Medication" => other_version_medication(obj),
        "Condition" => {
            rename(obj, "patient", "subject");
            status_string_to_concept(obj, "clinicalStatus", "http://terminology.hl7.org/CodeSystem/condition-clinical");
            status_string_to_concept(
                obj,
                "verificationStatus",
                "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            );
        }
        "AllergyIntolerance" => {
            dstu2_allergy(obj);
            rename(obj, "assertedDate", "recordedDate");
            r5_manifestations(obj);
            ensure_list(obj, "category");
            status_string_to_concept(
                obj,
                "clinicalStatus",
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
            );
            status_string_to_concept(
                obj,
                "verificationStatus",
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
            );
        }
        _ => {}
    }
    Some(kind)
}

/// R5 names the medication of a MedicationRequest or MedicationStatement with one
/// CodeableReference, `medication: {concept | reference}`: read as R4's
/// `medicationCodeableConcept` / `medicationReference`.
fn r5_medication(obj: &mut Map<String, Value>) {
    if obj.contains_key("medicationCodeableConcept") || obj.contains_key("medicationReference") {
        return;
    }
    let Some(Value::Object(mut medication)) = obj.remove("medication") else { return };
    if let Some(concept) = medication.remove("concept") {
        obj.insert("medicationCodeableConcept".into(), concept);
    }
    if let Some(reference) = medication.remove("reference") {
        obj.insert("medicationReference".into(), reference);
    }
}

/// R5's `reason` (a list of CodeableReferences) read as R4's `reasonCode` and
/// `reasonReference`.
fn r5_reasons(obj: &mut Map<String, Value>) {
    let Some(Value::Array(reasons)) = obj.remove("reason") else { return };
    for reason in reasons {
        let Value::Object(mut reason) = reason else { continue };
        for (part, key) in [("concept", "reasonCode"), ("reference", "reasonReference")] {
            if let Some(value) = reason.remove(part) {
                if let Value::Array(list) = obj.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
                    list.push(value);
                }
            }
        }
    }
}

/// R5's MedicationRequest status `ended` (closed, no further action) reads as R4's `completed`.
fn r5_request_status(obj: &mut Map<String, Value>) {
    if obj.get("status").is_some_and(|s| s == "ended") {
        obj.insert("status".into(), Value::from("completed"));
    }
}

/// R5 records a MedicationStatement (`status: recorded`) and says whether the medication is
/// taken in `adherence`: read as R4's status (`stopped…` → stopped, `on-hold…` → on-hold,
/// `not-taking` → not-taken, `taking…` → active, `unknown` → unknown) with the adherence's
/// reason as the statusReason. A recorded statement without an adherence is a record of use:
/// `active`.
fn r5_adherence(obj: &mut Map<String, Value>) {
    let adherence = obj.remove("adherence");
    if !obj.get("status").is_some_and(|s| s == "recorded") {
        return;
    }
    let code = adherence.as_ref().and_then(|a| a["code"]["coding"].as_array()).and_then(|codings| {
        codings.iter().find_map(|c| c["code"].as_str().filter(|_| c["system"] == ADHERENCE).map(str::to_owned))
    });
    let status = match code.as_deref() {
        Some(c) if c.starts_with("stopped") => "stopped",
        Some(c) if c.starts_with("on-hold") => "on-hold",
        Some("not-taking") => "not-taken",
        Some("unknown") => "unknown",
        _ => "active",
    };
    obj.insert("status".into(), Value::from(status));
    if let Some(reason) = adherence.and_then(|mut a| a.get_mut("reason").map(Value::take)) {
        obj.entry("statusReason").or_insert(reason);
    }
}

const ADHERENCE: &str = "http://hl7.org/fhir/CodeSystem/medication-statement-adherence";

/// DSTU2's MedicationStatement Dosage gives its dose as `quantityQuantity` / `quantityRange`.
fn dstu2_statement_doses(obj: &mut Map<String, Value>) {
    for dosage in obj.get_mut("dosage").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(dosage) = dosage.as_object_mut() {
            rename(dosage, "quantityQuantity", "doseQuantity");
            rename(dosage, "quantityRange", "doseRange");
        }
    }
}

/// R5's `doseForm` and CodeableReference ingredients, DSTU2's `product` (form and
/// ingredients by reference), read as R4's Medication.
fn other_version_medication(obj: &mut Map<String, Value>) {
    rename(obj, "doseForm", "form");
    if let Some(Value::Object(mut product)) = obj.remove("product") {
        for key in ["form", "ingredient"] {
            if let Some(value) = product.remove(key) {
                obj.entry(key).or_insert(value);
            }
        }
    }
    for ingredient in obj.get_mut("ingredient").and_then(Value::as_array_mut).into_iter().flatten() {
        let Some(ingredient) = ingredient.as_object_mut() else { continue };
        let Some(Value::Object(mut item)) = ingredient.remove("item") else { continue };
        // R5: a CodeableReference (`concept`, or `reference` holding a Reference); DSTU2: the
        // Reference itself (`reference` holding a string).
        if item.contains_key("concept") || item.get("reference").is_some_and(Value::is_object) {
            if let Some(concept) = item.remove("concept") {
                ingredient.insert("itemCodeableConcept".into(), concept);
            }
            if let Some(reference) = item.remove("reference") {
                ingredient.insert("itemReference".into(), reference);
            }
        } else {
            ingredient.insert("itemReference".into(), Value::Object(item));
        }
    }
}

/// DSTU2's AllergyIntolerance: `substance` for the code, one `status` for R4's clinical and
/// verification statuses.
fn dstu2_allergy(obj: &mut Map<String, Value>) {
    rename(obj, "substance", "code");
    let Some(Value::String(status)) = obj.remove("status") else { return };
    let key = match status.as_str() {
        "active" | "inactive" | "resolved" => "clinicalStatus",
        _ => "verificationStatus",
    };
    obj.entry(key).or_insert(Value::String(status));
}

/// R5's reaction manifestations are CodeableReferences: their concept is R4's manifestation.
fn r5_manifestations(obj: &mut Map<String, Value>) {
    for reaction in obj.get_mut("reaction").and_then(Value::as_array_mut).into_iter().flatten() {
        for m in reaction.get_mut("manifestation").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(concept) = m.get_mut("concept").map(Value::take) {
                *m = concept;
            }
        }
    }
}

/// DSTU2's `wasNotTaken: true` and STU3's `taken: "n"` say what R4's status `not-taken` says.
fn not_taken(obj: &mut Map<String, Value>) {
    let dstu2 = obj.remove("wasNotTaken").is_some_and(|v| v == Value::Bool(true));
    let stu3 = obj.remove("taken").is_some_and(|v| v == "n");
    if dstu2 || stu3 {
        obj.insert("status".into(), Value::from("not-taken"));
    }
}

/// Removes and returns the `contained` resources of `resource`, so that a broken contained
/// resource cannot make its parent unreadable.
pub fn take_contained(resource: &mut Value) -> Vec<Value> {
    match resource.as_object_mut().and_then(|o| o.remove("contained")) {
        Some(Value::Array(items)) => items,
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    }
}

fn wrap_lists(obj: &mut Map<String, Value>) {
    for (key, value) in obj.iter_mut() {
        if is_list_element(key) && !value.is_array() && !value.is_null() {
            *value = Value::Array(vec![value.take()]);
        }
        match value {
            Value::Object(inner) => wrap_lists(inner),
            Value::Array(items) => {
                items.retain(|item| !item.is_null());
                for item in items.iter_mut() {
                    if let Value::Object(inner) = item {
                        wrap_lists(inner);
                    }
                }
            }
            _ => {}
        }
    }
    obj.retain(|_, v| !v.is_null());
}

fn ensure_list(obj: &mut Map<String, Value>, key: &str) {
    if let Some(value) = obj.get_mut(key) {
        if !value.is_array() {
            *value = Value::Array(vec![value.take()]);
        }
    }
}

fn first_of_list(obj: &mut Map<String, Value>, key: &str) {
    if let Some(Value::Array(items)) = obj.get_mut(key) {
        let first = items.drain(..).next();
        match first {
            Some(v) => {
                obj.insert(key.to_owned(), v);
            }
            None => {
                obj.remove(key);
            }
        }
    }
}

fn rename(obj: &mut Map<String, Value>, from: &str, to: &str) {
    if from != to && !obj.contains_key(to) {
        if let Some(v) = obj.remove(from) {
            obj.insert(to.to_owned(), v);
        }
    }
    if from == "reasonCodeableConcept" {
        ensure_list(obj, to);
    }
}

/// STU3/DSTU2 put `doseQuantity` on the Dosage itself; R4 has it in `doseAndRate`. A zero
/// frequency (which R4B forbids) means the same as none. DSTU2's `periodUnits` and
/// `durationUnits` are R4's `periodUnit` and `durationUnit`.
fn normalize_dosages(obj: &mut Map<String, Value>, key: &str, dstu2: bool) {
    if let Some(Value::Array(dosages)) = obj.get_mut(key) {
        dosages.iter_mut().filter_map(Value::as_object_mut).for_each(|d| normalize_dosage(d, dstu2));
    }
}

fn normalize_dosage(dosage: &mut Map<String, Value>, dstu2: bool) {
    if !dosage.contains_key("doseAndRate") {
        let mut dose_and_rate = Map::new();
        for key in ["doseQuantity", "doseRange", "doseSimpleQuantity"] {
            if let Some(v) = dosage.remove(key) {
                let key = if key == "doseSimpleQuantity" { "doseQuantity" } else { key };
                dose_and_rate.insert(key.to_owned(), v);
            }
        }
        if !dose_and_rate.is_empty() {
            dosage.insert("doseAndRate".into(), Value::Array(vec![Value::Object(dose_and_rate)]));
        }
    }
    let repeat = dosage.get_mut("timing").and_then(|t| t.get_mut("repeat")).and_then(Value::as_object_mut);
    if let Some(repeat) = repeat {
        if dstu2 {
            rename(repeat, "periodUnits", "periodUnit");
            rename(repeat, "durationUnits", "durationUnit");
        }
        for key in ["frequency", "frequencyMax", "count", "countMax"] {
            if repeat.get(key).and_then(Value::as_f64).is_some_and(|n| n < 1.0 || n.fract() != 0.0) {
                repeat.remove(key);
            }
        }
    }
}

fn status_string_to_concept(obj: &mut Map<String, Value>, key: &str, system: &str) {
    if let Some(Value::String(code)) = obj.get(key) {
        let concept = json!({ "coding": [{ "system": system, "code": code }] });
        obj.insert(key.to_owned(), concept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_lone_reason_code_and_category_become_lists() {
        let mut mr = json!({"resourceType": "MedicationRequest", "status": "draft",
            "reasonCode": {"coding": {"code": "x"}}, "category": {"text": "c"}});
        assert_eq!(normalize(&mut mr).as_deref(), Some("MedicationRequest"));
        assert_eq!(mr["reasonCode"][0]["coding"][0]["code"], "x");
    }

    #[test]
    fn dstu2_medication_order_reads_as_medication_request() {
        let mut mo = json!({"resourceType": "MedicationOrder", "status": "active",
            "reasonCodeableConcept": {"text": "pain"}, "patient": {"reference": "Patient/1"},
            "dosageInstruction": [{"doseQuantity": {"value": 10, "unit": "mg"}}]});
        assert_eq!(normalize(&mut mo).as_deref(), Some("MedicationRequest"));
        assert_eq!(mo["reasonCode"][0]["text"], "pain");
        assert_eq!(mo["subject"]["reference"], "Patient/1");
        assert_eq!(mo["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"], 10);
    }

    #[test]
    fn r5_adherence_says_the_status_and_why() {
        let statement = |code: &str| {
            let mut ms = json!({"resourceType": "MedicationStatement", "status": "recorded",
                "adherence": {"code": {"coding": [{"system": ADHERENCE, "code": code}]}, "reason": {"text": "no effect"}}});
            normalize(&mut ms);
            ms
        };
        for (code, status) in [
            ("stopped-not-as-directed", "stopped"),
            ("on-hold", "on-hold"),
            ("not-taking", "not-taken"),
            ("taking", "active"),
            ("unknown", "unknown"),
        ] {
            assert_eq!(statement(code)["status"], status, "{code}");
        }
        assert_eq!(statement("stopped")["statusReason"][0]["text"], "no effect");
        let mut no_adherence = json!({"resourceType": "MedicationStatement", "status": "recorded"});
        normalize(&mut no_adherence);
        assert_eq!(no_adherence["status"], "active");
        let mut ended = json!({"resourceType": "MedicationRequest", "status": "ended"});
        normalize(&mut ended);
        assert_eq!(ended["status"], "completed");
    }

    #[test]
    fn dstu2_statement_and_allergy_shapes_read_as_r4() {
        let mut ms = json!({"resourceType": "MedicationStatement", "status": "intended", "wasNotTaken": true,
            "patient": {"reference": "Patient/1"}, "reasonNotTaken": {"text": "refused"},
            "reasonForUseCodeableConcept": {"text": "pain"}, "dosage": [{"quantityQuantity": {"value": 25}}]});
        normalize(&mut ms);
        assert_eq!(ms["status"], "not-taken");
        assert_eq!(ms["statusReason"][0]["text"], "refused");
        assert_eq!(ms["reasonCode"][0]["text"], "pain");
        assert_eq!(ms["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"], 25);
        let mut ai = json!({"resourceType": "AllergyIntolerance", "status": "refuted", "substance": {"text": "gabapentin"},
            "category": "medication"});
        normalize(&mut ai);
        assert_eq!(ai["code"]["text"], "gabapentin");
        assert_eq!(ai["verificationStatus"]["coding"][0]["code"], "refuted");
        assert_eq!(ai["category"], json!(["medication"]));
        let mut mo =
            json!({"resourceType": "MedicationOrder", "status": "stopped", "reasonEnded": {"text": "no effect"}});
        normalize(&mut mo);
        assert_eq!(mo["statusReason"]["text"], "no effect");
    }

    #[test]
    fn r5_and_dstu2_medication_forms_and_ingredients_read_as_r4() {
        let mut r5 = json!({"resourceType": "Medication", "doseForm": {"text": "Topical Cream"},
            "ingredient": [{"item": {"concept": {"text": "doxepin"}}}, {"item": {"reference": {"reference": "Medication/x"}}}]});
        normalize(&mut r5);
        assert_eq!(r5["form"]["text"], "Topical Cream");
        assert_eq!(r5["ingredient"][0]["itemCodeableConcept"]["text"], "doxepin");
        assert_eq!(r5["ingredient"][1]["itemReference"]["reference"], "Medication/x");
        let mut dstu2 = json!({"resourceType": "Medication", "product": {"form": {"text": "Tablet"},
            "ingredient": [{"item": {"reference": "Substance/s"}}]}});
        normalize(&mut dstu2);
        assert_eq!(dstu2["form"]["text"], "Tablet");
        assert_eq!(dstu2["ingredient"][0]["itemReference"]["reference"], "Substance/s");
    }

    #[test]
    fn stu3_string_clinical_status_becomes_a_concept() {
        let mut c = json!({"resourceType": "Condition", "clinicalStatus": "active"});
        normalize(&mut c);
        assert_eq!(c["clinicalStatus"]["coding"][0]["code"], "active");
    }
}
