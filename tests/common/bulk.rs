//! A synthetic FHIR Bulk Data export (the replay's tests and benchmark; never shipped): N
//! patients made from the Synthea records in `tests/data/patients` (new ids, dates shifted, every
//! resource type they hold, so the replay's skipping is exercised), a share of them given a
//! ketamine order with the history of one of the shipped examples (new ids, dates moved so that
//! the order falls on its day), and — when asked — records dated after the order that must not
//! count. Written as one NDJSON file per type (optionally gzip'd) with a Bulk manifest, in R4 or
//! in DSTU2 (orders as `MedicationOrder`s, `patient` for `subject`, …).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

/// The examples whose histories ketamine patients get (order-sign, one draft each).
pub const SCENARIOS: [&str; 12] = [
    "01-untreated-patient",
    "02-all-first-line-failed-sign",
    "04-inadequate-tca-trial",
    "05-tca-intolerance-at-low-dose",
    "09-medication-reference",
    "10-ongoing-snri-trial",
    "11-medication-statement-failure",
    "12-allergy-intolerance-failure",
    "13-contraindication-heart-failure",
    "14-cancer-related-neuropathic-pain",
    "15-crps-order-reason",
    "22-suggestions-ruled-out-by-cirrhosis-and-nstemi",
];

/// The day the examples' drafts are authored.
const EXAMPLE_DAY: &str = "2026-11-20";

#[derive(Debug, Clone)]
pub struct BulkOptions {
    pub patients: usize,
    /// Patients given a ketamine order, per hundred.
    pub ketamine_percent: u64,
    /// The latest order day; orders spread over `spread_days` before it (0: all on the day).
    pub order_day: time::Date,
    pub spread_days: i64,
    pub dstu2: bool,
    pub gzip: bool,
    /// One ketamine patient in four also gets first-line failures documented after its order.
    pub late_records: bool,
    /// The Synthea records' resources besides each Patient (false: the examples' histories only).
    pub synthea: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedOrder {
    pub patient_id: String,
    pub order_id: String,
    pub scenario: &'static str,
    pub day: String,
    pub late_records: bool,
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("readable")).expect("JSON")
}

fn day(text: &str) -> time::Date {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).expect("a day")
}

/// Every date and dateTime string moved by `days`.
fn shift(value: &mut Value, days: i64) {
    match value {
        Value::String(s) => {
            let b = s.as_bytes();
            let looks = s.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit);
            if looks {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                if let Ok(d) = time::Date::parse(&s[..10], &format) {
                    let moved = d + time::Duration::days(days);
                    *s = format!("{}{}", moved.format(&format).expect("formats"), &s[10..]);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| shift(v, days)),
        Value::Object(map) => map.values_mut().for_each(|v| shift(v, days)),
        _ => {}
    }
}

/// References to the example's Medications renamed with `prefix`.
fn rename_medications(value: &mut Value, prefix: &str) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("reference") {
                if let Some(id) = r.strip_prefix("Medication/") {
                    *r = format!("Medication/{prefix}{id}");
                }
            }
            map.values_mut().for_each(|v| rename_medications(v, prefix));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_medications(v, prefix)),
        _ => {}
    }
}

/// A resource of the patient's: new id, subject (or DSTU2's patient) pointed at the patient.
fn own(mut resource: Value, id: String, patient: &str) -> Value {
    resource["id"] = Value::from(id);
    for key in ["subject", "patient"] {
        if resource.get(key).is_some() {
            resource[key] = json!({ "reference": format!("Patient/{patient}") });
        }
    }
    resource
}

/// The resource as a DSTU2 server exports it (what the service reads of it).
fn dstu2(mut resource: Value) -> Value {
    let Some(object) = resource.as_object_mut() else { return resource };
    let rename = |o: &mut serde_json::Map<String, Value>, from: &str, to: &str| {
        if let Some(v) = o.remove(from) {
            o.insert(to.into(), v);
        }
    };
    let status_code = |v: Option<Value>| v.and_then(|v| v.pointer("/coding/0/code").cloned());
    match object.get("resourceType").and_then(Value::as_str).unwrap_or_default() {
        "MedicationRequest" => {
            object.insert("resourceType".into(), Value::from("MedicationOrder"));
            object.remove("intent");
            rename(object, "subject", "patient");
            rename(object, "authoredOn", "dateWritten");
            rename(object, "statusReason", "reasonEnded");
            rename(object, "reasonCode", "reasonCodeableConcept");
            if let Some(Value::Array(mut reasons)) = object.remove("reasonCodeableConcept") {
                if !reasons.is_empty() {
                    object.insert("reasonCodeableConcept".into(), reasons.swap_remove(0));
                }
            }
        }
        "MedicationStatement" => rename(object, "subject", "patient"),
        "Condition" => {
            rename(object, "subject", "patient");
            rename(object, "recordedDate", "dateRecorded");
            for key in ["clinicalStatus", "verificationStatus"] {
                if let Some(code) = status_code(object.remove(key)) {
                    object.insert(key.into(), code);
                }
            }
        }
        "AllergyIntolerance" => {
            rename(object, "code", "substance");
            object.remove("verificationStatus");
            if let Some(code) = status_code(object.remove("clinicalStatus")) {
                object.insert("status".into(), code);
            }
        }
        _ => {}
    }
    resource
}

/// The example's resources: its draft first, then its history; and its Patient.
fn scenario(repo: &Path, name: &str) -> (Vec<Value>, Option<Value>) {
    let request = read(&repo.join("examples/hooks").join(format!("{name}.json")));
    let mut resources: Vec<Value> = request["context"]["draftOrders"]["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["resource"].clone())
        .collect();
    let mut patient = None;
    for (key, value) in request["prefetch"].as_object().into_iter().flatten() {
        if key == "patient" {
            patient = Some(value.clone());
            continue;
        }
        for entry in value["entry"].as_array().into_iter().flatten() {
            resources.push(entry["resource"].clone());
        }
    }
    (resources, patient)
}

/// Writes the export into `dir` (one file per type and `manifest.json`); returns its ketamine
/// orders.
pub fn write(dir: &Path, repo: &Path, options: &BulkOptions) -> Vec<GeneratedOrder> {
    let mut templates: Vec<Vec<Value>> = Vec::new();
    let mut names: Vec<_> =
        std::fs::read_dir(repo.join("tests/data/patients")).unwrap().flatten().map(|e| e.path()).collect();
    names.sort();
    for path in names {
        let bundle = read(&path);
        templates.push(bundle["entry"].as_array().unwrap().iter().map(|e| e["resource"].clone()).collect());
    }
    let scenarios: Vec<(Vec<Value>, Option<Value>)> = SCENARIOS.iter().map(|s| scenario(repo, s)).collect();
    let late_history: Vec<Value> = scenario(repo, "02-all-first-line-failed-sign")
        .0
        .into_iter()
        .skip(1)
        .filter(|r| matches!(r["resourceType"].as_str(), Some("MedicationRequest" | "MedicationStatement")))
        .collect();
    let mut by_type: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut emit = |resource: Value| {
        let resource = if options.dstu2 { dstu2(resource) } else { resource };
        let kind = resource["resourceType"].as_str().unwrap_or("Unknown").to_owned();
        let out = by_type.entry(kind).or_default();
        serde_json::to_writer(&mut *out, &resource).unwrap();
        out.push(b'\n');
    };
    let mut orders = Vec::new();
    let example_day = day(EXAMPLE_DAY);
    for n in 0..options.patients {
        let patient_id = format!("p{n:07}");
        let template = &templates[n % templates.len()];
        let synthea_shift = -((n as i64 * 37) % 1000);
        let ketamine = (n as u64).wrapping_mul(2_654_435_761) % 100 < options.ketamine_percent;
        let (scenario_name, order_day) = (
            SCENARIOS[n % SCENARIOS.len()],
            options.order_day
                - time::Duration::days(if options.spread_days > 0 { (n as i64 * 13) % options.spread_days } else { 0 }),
        );
        let delta = (order_day - example_day).whole_days();
        for (i, resource) in template.iter().enumerate() {
            let mut r = resource.clone();
            shift(&mut r, synthea_shift);
            if r["resourceType"] == "Patient" {
                r["id"] = Value::from(patient_id.clone());
                if ketamine {
                    // The example's age and sex, so that its rule applies as written.
                    if let Some(p) = &scenarios[n % SCENARIOS.len()].1 {
                        let mut p = p.clone();
                        shift(&mut p, delta);
                        for key in ["birthDate", "gender"] {
                            if let Some(v) = p.get(key) {
                                r[key] = v.clone();
                            }
                        }
                    }
                }
                emit(r);
                continue;
            }
            if options.synthea {
                emit(own(r, format!("{n}-{i}"), &patient_id));
            }
        }
        if !ketamine {
            continue;
        }
        let prefix = format!("{n}-s-");
        let (resources, _) = &scenarios[n % SCENARIOS.len()];
        for (i, resource) in resources.iter().enumerate() {
            let mut r = resource.clone();
            shift(&mut r, delta);
            rename_medications(&mut r, &prefix);
            let id = format!("{prefix}{}", r["id"].as_str().unwrap_or("x"));
            if r["resourceType"] == "Medication" {
                r["id"] = Value::from(id);
                emit(r);
                continue;
            }
            if i == 0 {
                // The order as the export has it: signed long ago, running, or stopped.
                r["status"] = Value::from(["completed", "active", "stopped"][n % 3]);
                orders.push(GeneratedOrder {
                    patient_id: patient_id.clone(),
                    order_id: id.clone(),
                    scenario: scenario_name,
                    day: order_day.to_string(),
                    late_records: options.late_records && n % 4 == 0,
                });
            }
            emit(own(r, id, &patient_id));
        }
        if options.late_records && n % 4 == 0 {
            // Failures of every class, all documented after the order: they must not count.
            for resource in &late_history {
                let mut r = resource.clone();
                shift(&mut r, delta + 915);
                let id = format!("{n}-late-{}", r["id"].as_str().unwrap_or("x"));
                emit(own(r, id, &patient_id));
            }
        }
    }
    let mut manifest = Vec::new();
    for (kind, lines) in by_type {
        let name = if options.gzip { format!("{kind}.ndjson.gz") } else { format!("{kind}.ndjson") };
        let path = dir.join(&name);
        let file = std::fs::File::create(&path).unwrap();
        if options.gzip {
            let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
            gz.write_all(&lines).unwrap();
            gz.finish().unwrap();
        } else {
            let mut file = file;
            file.write_all(&lines).unwrap();
        }
        manifest.push(json!({ "type": kind, "url": format!("https://ehr.example.org/bulk/job-1/{name}") }));
    }
    let manifest = json!({ "transactionTime": "2026-12-01T00:00:00Z", "request": "https://ehr.example.org/fhir/$export", "requiresAccessToken": true, "output": manifest, "error": [] });
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    orders
}
