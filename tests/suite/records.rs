//! The two ways a patient record is read — Bundle entries straight from their text (the request
//! path) and the whole tree through the normaliser (the command line, the FHIR-server fallback,
//! and every resource the direct read refuses) — give the same record, on every example, every
//! public conformance request and every synthetic patient, and on resources made to need each
//! repair. And the lean datatypes read what fhir-sdk's R4B datatypes read, on the same corpus.

use std::path::PathBuf;

use fhir_sdk::r4b::types as sdk;
use ketamine_cds::fhir::datatypes;
use ketamine_cds::fhir::dates::FhirDate;
use ketamine_cds::fhir::direct::{self, Direct};
use ketamine_cds::fhir::{Origin, PatientRecord};
use ketamine_cds::hooks::envelope;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The Bundles of a file: itself, or the values of its `prefetch`; with the patient id to read
/// them for.
fn bundles(value: &Value) -> Vec<(String, Value)> {
    let patient = value["context"]["patientId"].as_str().unwrap_or_default();
    let patient = patient.trim_start_matches("Patient/").to_owned();
    if value["resourceType"] == "Bundle" {
        let id = value["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["resource"]["resourceType"] == "Patient")
            .and_then(|e| e["resource"]["id"].as_str())
            .unwrap_or_default();
        return vec![(id.to_owned(), value.clone())];
    }
    let Some(prefetch) = value["prefetch"].as_object() else { return Vec::new() };
    prefetch.values().filter(|v| v["resourceType"] == "Bundle").map(|v| (patient.clone(), v.clone())).collect()
}

/// Reads `bundle` both ways; returns how many entries the direct read took.
fn compare(patient: &str, bundle: &Value, what: &str) -> usize {
    let mut through_tree = PatientRecord::new(patient);
    through_tree.add(bundle.clone(), Origin::History);

    let body = serde_json::to_vec(&json!({ "prefetch": { "k": bundle } })).expect("serialises");
    let (_, mut raw) = envelope::request_from_bytes(&body.into()).expect("parses");
    let entries = raw.remove("k").unwrap_or_default();
    let direct = entries.iter().filter(|e| matches!(direct::read(e.text()), Direct::Typed(_))).count();
    let mut from_text = PatientRecord::new(patient);
    from_text.add_entries(entries, Origin::History);

    assert_eq!(from_text, through_tree, "{what}: the two ways read differently");
    direct
}

/// Every JSON file of the examples, the public conformance requests and the synthetic patients.
fn corpus() -> Vec<PathBuf> {
    [
        crate::common::repo().join("examples"),
        crate::common::data().join("conformance"),
        crate::common::data().join("patients"),
    ]
    .iter()
    .flat_map(|dir| crate::common::json_files(dir))
    .collect()
}

#[test]
fn both_ways_read_every_example_conformance_request_and_patient_alike() {
    let files = corpus();
    let (mut bundles_read, mut direct) = (0, 0);
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
        for (patient, bundle) in bundles(&value) {
            direct += compare(&patient, &bundle, &file.display().to_string());
            // And as another patient's call: the other-patient check must agree too.
            compare("someone-else", &bundle, &file.display().to_string());
            bundles_read += 1;
        }
    }
    println!("{bundles_read} bundles from {} files; {direct} resources read directly", files.len());
    assert!(bundles_read > 50, "the corpus was found ({bundles_read} bundles)");
    assert!(direct > 250, "the direct read is what reads most resources ({direct})");
}

#[test]
fn both_ways_agree_on_resources_made_to_need_each_repair() {
    let subject = json!({ "reference": "Patient/p1" });
    let dose = json!([{ "doseAndRate": [{ "doseQuantity": { "value": 60, "unit": "mg" } }],
        "timing": { "repeat": { "frequency": 1, "period": 1, "periodUnit": "d" } } }]);
    let resources = vec![
        json!({ "resourceType": "MedicationRequest", "id": "plain", "status": "stopped", "subject": subject, "dosageInstruction": dose,
                "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "596926" }] } }),
        json!({ "resourceType": "MedicationOrder", "id": "dstu2", "status": "completed", "patient": subject,
                "reasonCodeableConcept": { "text": "pain" }, "dateWritten": "2020-01-01" }),
        json!({ "resourceType": "MedicationRequest", "id": "lone", "status": "active", "reasonCode": { "coding": { "code": "x" } } }),
        json!({ "resourceType": "MedicationRequest", "id": "nulls", "status": null, "reasonCode": [null, { "text": "y" }] }),
        json!({ "resourceType": "MedicationRequest", "id": "list-reason", "status": "stopped", "statusReason": [{ "text": "no effect" }] }),
        json!({ "resourceType": "MedicationRequest", "id": "stu3-dose", "status": "active",
                "dosageInstruction": [{ "doseQuantity": { "value": 10, "unit": "mg" }, "timing": { "repeat": { "frequency": 0, "period": 1, "periodUnit": "d" } } }] }),
        json!({ "resourceType": "MedicationRequest", "id": "mixed-dose", "status": "active",
                "dosageInstruction": [{ "doseAndRate": [{ "doseQuantity": { "value": 1 } }] }, { "doseQuantity": { "value": 2 } }] }),
        json!({ "resourceType": "MedicationRequest", "id": "contained", "status": "active", "medicationReference": { "reference": "#m" },
                "contained": [{ "resourceType": "Medication", "id": "m", "code": { "text": "ketamine" } }] }),
        json!({ "resourceType": "MedicationRequest", "id": "other", "status": "active", "subject": { "reference": "Patient/p2" } }),
        json!({ "resourceType": "MedicationRequest", "id": "ref-identifier", "status": "active",
                "subject": { "reference": "Patient/p1", "identifier": { "value": "MRN1" } } }),
        json!({ "resourceType": "MedicationRequest", "id": "bad-date", "status": "active", "authoredOn": "yesterday" }),
        json!({ "resourceType": "MedicationStatement", "id": "ms", "status": "completed", "subject": subject, "dosage": dose,
                "medicationCodeableConcept": { "text": "duloxetine 60 mg" } }),
        json!({ "resourceType": "MedicationStatement", "id": "ms-patient", "status": "completed", "patient": { "reference": "Patient/p2" } }),
        json!({ "resourceType": "MedicationStatement", "id": "ms-lone", "status": "completed", "dosage": { "text": "daily" } }),
        json!({ "resourceType": "MedicationStatement", "id": "ms-odd-subject", "status": "completed", "subject": "Patient/p1" }),
        json!({ "resourceType": "Condition", "id": "c", "subject": subject,
                "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
                "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.42" }] } }),
        json!({ "resourceType": "Condition", "id": "c-stu3", "clinicalStatus": "active", "verificationStatus": "confirmed" }),
        json!({ "resourceType": "Condition", "id": "c-escaped", "code": { "text": "neuropathy \u{00e9}" }, "sub\u{006a}ect": {} }),
        json!({ "resourceType": "AllergyIntolerance", "id": "ai", "patient": subject, "category": "medication", "code": { "text": "ketamine" } }),
        json!({ "resourceType": "Medication", "id": "med", "code": { "text": "gabapentin" } }),
        json!({ "resourceType": "Medication", "id": "med-subject", "subject": { "reference": "Patient/p2" } }),
        json!({ "resourceType": "Patient", "id": "p1", "gender": "female" }),
        json!({ "resourceType": "Patient", "id": "p9" }),
        json!({ "resourceType": "Observation", "id": "o", "status": "final" }),
        json!({ "resourceType": 7 }),
        json!(["resourceType", "Condition"]),
        Value::Null,
    ];
    let entries: Vec<Value> = resources
        .into_iter()
        .enumerate()
        .map(|(i, r)| json!({ "fullUrl": format!("urn:uuid:{i}"), "resource": r }))
        .collect();
    let bundle = json!({ "resourceType": "Bundle", "type": "searchset", "entry": entries });
    let direct = compare("p1", &bundle, "repairs");
    assert!(direct >= 4, "the plain resources were read directly ({direct})");
    compare("p2", &bundle, "repairs, as p2");
    compare("", &bundle, "repairs, no patient");
    // Escaped text in a string goes the normaliser's way but reads the same.
    let escaped = r#"{"prefetch": {"k": {"resourceType": "Bundle", "entry": [{"resource":
        {"resourceType": "Condition", "id": "e", "code": {"text": "caf\u00e9"}, "subj\u0065ct": {"reference": "Patient/p2"}}}]}}}"#;
    let (_, mut raw) = envelope::request_from_bytes(&escaped.into()).expect("parses");
    let mut record = PatientRecord::new("p1");
    record.add_entries(raw.remove("k").unwrap_or_default(), Origin::History);
    assert_eq!(record.stats.other_patient, 1, "an escaped key still names the subject");
}

/// Elements of the six resources (and their parts) by the datatype the rules read them as.
const CONCEPTS: &[&str] = &[
    "statusReason",
    "medicationCodeableConcept",
    "reasonCode",
    "clinicalStatus",
    "verificationStatus",
    "code",
    "manifestation",
];
const REFERENCES: &[&str] = &["medicationReference", "subject", "reasonReference", "patient"];
const PERIODS: &[&str] = &["effectivePeriod", "validityPeriod"];
const QUANTITIES: &[&str] = &["doseQuantity"];
const DATES: &[&str] = &["authoredOn", "effectiveDateTime", "dateAsserted", "onsetDateTime", "recordedDate"];

/// What a datatype says to the rules, read by fhir-sdk and by the lean reader (`None` where that
/// reader refuses it), in one spelling for comparison.
fn both<S: DeserializeOwned, L: DeserializeOwned, T: std::fmt::Debug>(
    value: &Value,
    sdk: impl Fn(S) -> T,
    lean: impl Fn(L) -> T,
) -> (Option<String>, Option<String>) {
    let read = |said: Option<T>| said.map(|t| format!("{t:?}"));
    (
        read(serde_json::from_value(value.clone()).ok().map(sdk)),
        read(serde_json::from_value(value.clone()).ok().map(lean)),
    )
}

fn sdk_date(date: fhir_sdk::DateTime) -> String {
    FhirDate::from(&date).to_string()
}

/// A concept's codings (system, code, display) and text.
type Said = (Vec<(Option<String>, Option<String>, Option<String>)>, Option<String>);

fn sdk_codings(c: sdk::CodeableConcept) -> Said {
    let codings = c.coding.iter().flatten().map(|c| (c.system.clone(), c.code.clone(), c.display.clone())).collect();
    (codings, c.text.clone())
}

fn lean_codings(c: datatypes::CodeableConcept) -> Said {
    (c.coding.into_iter().map(|c| (c.system, c.code, c.display)).collect(), c.text)
}

/// Compares every datatype element under `value`; counts (read alike, refused by fhir-sdk only).
fn compare_datatypes(value: &Value, file: &str, counts: &mut (usize, usize)) {
    let members = match value {
        Value::Object(members) => members,
        Value::Array(items) => return items.iter().for_each(|item| compare_datatypes(item, file, counts)),
        _ => return,
    };
    for (key, member) in members {
        let items: Vec<&Value> = member.as_array().map_or_else(|| vec![member], |items| items.iter().collect());
        for item in items {
            let key = key.as_str();
            let datatype = item.get("resourceType").is_none(); // not a resource (a `patient` prefetch)
            let (sdk, lean) = match key {
                _ if !datatype => {
                    compare_datatypes(item, file, counts);
                    continue;
                }
                _ if CONCEPTS.contains(&key) && item.is_object() => both(item, sdk_codings, lean_codings),
                _ if REFERENCES.contains(&key) && item.is_object() => both(
                    item,
                    |r: sdk::Reference| (r.reference.clone(), r.display.clone()),
                    |r: datatypes::Reference| (r.reference, r.display),
                ),
                _ if PERIODS.contains(&key) && item.is_object() => both(
                    item,
                    |p: sdk::Period| (p.start.clone().map(sdk_date), p.end.clone().map(sdk_date)),
                    |p: datatypes::Period| (p.start.map(|d| d.to_string()), p.end.map(|d| d.to_string())),
                ),
                _ if QUANTITIES.contains(&key) && item.is_object() => both(
                    item,
                    |q: sdk::Quantity| (q.value, q.unit.clone(), q.code.clone()),
                    |q: datatypes::Quantity| (q.value, q.unit, q.code),
                ),
                _ if DATES.contains(&key) && item.is_string() => both(item, sdk_date, |d: FhirDate| d.to_string()),
                _ => {
                    compare_datatypes(item, file, counts);
                    continue;
                }
            };
            match (sdk, lean) {
                (Some(sdk), Some(lean)) => {
                    assert_eq!(lean, sdk, "{file}: {key} reads differently: {item}");
                    counts.0 += 1;
                }
                (None, Some(_)) => {
                    println!("{file}: {key} refused by fhir-sdk only: {item}");
                    counts.1 += 1;
                }
                (Some(_), None) => panic!("{file}: {key} is read by fhir-sdk but refused by the lean reader: {item}"),
                (None, None) => {}
            }
        }
    }
}

#[test]
fn lean_datatypes_read_what_fhir_sdks_r4b_datatypes_read() {
    let (mut agree, mut lenient) = (0, 0);
    for file in corpus() {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let Ok(mut value) = serde_json::from_str::<Value>(&text) else { continue };
        // As the resources are read: normalised (nulls dropped, lone objects listed).
        normalize_all(&mut value);
        let mut counts = (0, 0);
        compare_datatypes(&value, &file.display().to_string(), &mut counts);
        (agree, lenient) = (agree + counts.0, lenient + counts.1);
    }
    println!("{agree} datatype values read alike; {lenient} refused by fhir-sdk only");
    assert!(agree > 5_000, "the corpus was found ({agree})");
}

/// Normalises every resource under `value` as the record does before reading it.
fn normalize_all(value: &mut Value) {
    if value.get("resourceType").is_some_and(Value::is_string) {
        ketamine_cds::fhir::normalize::normalize(value);
    }
    match value {
        Value::Object(members) => members.values_mut().for_each(normalize_all),
        Value::Array(items) => items.iter_mut().for_each(normalize_all),
        _ => {}
    }
}

/// Other FHIR versions' shapes of the elements the rules read, in a prefetch (the direct reader
/// passes them to the normaliser) and in the drafts: R5's `medication` and `reason`
/// CodeableReferences, DSTU2's `wasNotTaken`, STU3's `taken`.
#[test]
fn r5_medication_and_reasons_and_older_not_taken_flags_are_read() {
    use crate::common::{evaluate, read_json, repo};
    let mut request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    let r4 = evaluate(&request).unwrap();
    // R5: the draft's medication as a CodeableReference, and its reason.
    let draft = &mut request["context"]["draftOrders"]["entry"][0]["resource"];
    let concept = draft.as_object_mut().unwrap().remove("medicationCodeableConcept").expect("an R4 draft");
    draft["medication"] = serde_json::json!({ "concept": concept });
    let r5 = evaluate(&request).unwrap();
    assert_eq!(r5["cards"][0]["summary"], r4["cards"][0]["summary"], "an R5 ketamine draft is examined as the R4 one");
    assert_eq!(r5["cards"][0]["indicator"], "warning");

    // An R5 duloxetine statement in the prefetch counts as the R4 one would; the same with
    // `taken: "n"` (STU3) or `wasNotTaken: true` (DSTU2) documents nothing.
    let statement = |extra: serde_json::Value| {
        let mut r = serde_json::json!({
            "resourceType": "MedicationStatement", "id": "ms-1", "status": "completed",
            "subject": { "reference": "Patient/example-patient" },
            "medication": { "concept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "596930", "display": "duloxetine 30 MG Delayed Release Oral Capsule" }] } },
            "effectivePeriod": { "start": "2026-01-01", "end": "2026-04-01" },
            "reason": [{ "concept": { "text": "ineffective" } }]
        });
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    let with = |resource: serde_json::Value| {
        let mut r = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
        r["prefetch"]["medicationStatements"] =
            serde_json::json!({ "resourceType": "Bundle", "type": "searchset", "entry": [{ "resource": resource }] });
        let answer = evaluate(&r).unwrap();
        answer["cards"][0]["extension"]["ketamine-cds-card"]["classes"][0]["status"].as_str().unwrap().to_owned()
    };
    let tried = with(statement(serde_json::json!({})));
    assert_ne!(tried, "not-documented", "the R5 statement is a trial of the SNRI class");
    assert_eq!(with(statement(serde_json::json!({ "taken": "n" }))), "not-documented");
    assert_eq!(with(statement(serde_json::json!({ "wasNotTaken": true }))), "not-documented");
}
