//! The two ways a patient record is read — Bundle entries straight from their text (the request
//! path) and the whole tree through the normaliser (the command line, the FHIR-server fallback,
//! and every resource the direct read refuses) — give the same record, on every example, every
//! public conformance request and every synthetic patient, and on resources made to need each
//! repair.

mod common;

use std::path::{Path, PathBuf};

use ketamine_cds::fhir::direct::{self, Direct};
use ketamine_cds::fhir::prune;
use ketamine_cds::fhir::{Origin, PatientRecord};
use serde_json::{Value, json};

/// Every `.json` file under `dir`.
fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(items) = std::fs::read_dir(dir) else { return };
    for item in items.flatten() {
        let path = item.path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

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
    let (_, mut raw) = prune::request_from_slice(&body).expect("parses");
    let entries = raw.remove("k").unwrap_or_default();
    let direct = entries.iter().filter(|e| matches!(direct::read(e.resource.get()), Direct::Typed(_))).count();
    let mut from_text = PatientRecord::new(patient);
    from_text.add_entries(entries, Origin::History);

    assert_eq!(from_text, through_tree, "{what}: the two ways read differently");
    direct
}

#[test]
fn both_ways_read_every_example_conformance_request_and_patient_alike() {
    let mut files = Vec::new();
    for dir in
        [common::repo().join("examples"), common::shared().join("conformance"), common::shared().join("patients")]
    {
        json_files(&dir, &mut files);
    }
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
    assert!(direct > 1_000, "the direct read is what reads most resources ({direct})");
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
    let (_, mut raw) = prune::request_from_slice(escaped.as_bytes()).expect("parses");
    let mut record = PatientRecord::new("p1");
    record.add_entries(raw.remove("k").unwrap_or_default(), Origin::History);
    assert_eq!(record.stats.other_patient, 1, "an escaped key still names the subject");
}
