//! `replay` (issue 27): over a generated Bulk export, each ketamine order gets exactly the cards
//! that posting its call to `serve` gives (the test builds that call itself, from the export,
//! leaving out what was recorded after the order); a DSTU2 export (gzip'd, through its manifest)
//! gives the same answers as its R4 twin; a knowledge edit is reported on exactly the orders it
//! affects; STU3 and R5 exports answer as their R4 twin; bad lines are reported with file and
//! line, and the command line refuses what it cannot read before any work.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::common::bulk::{self, BulkOptions, GeneratedOrder};
use crate::common::*;
use ketamine_cds::knowledge::Knowledge;
use ketamine_cds::replay::{self, export::Export};
use serde_json::{Value, json};

fn options(today: time::Date) -> BulkOptions {
    BulkOptions {
        patients: 48,
        ketamine_percent: 60,
        order_day: today,
        spread_days: 0,
        dstu2: false,
        gzip: false,
        late_records: true,
        synthea: true,
    }
}

/// What a test compares of a card: kind, indicator, summary, suggestion labels.
fn digest(cards: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = cards
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let labels: Vec<&Value> = c["suggestions"].as_array().into_iter().flatten().map(|s| &s["label"]).collect();
            json!([c["extension"]["ketamine-cds-card"]["kind"], c["indicator"], c["summary"], labels])
        })
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

/// Replays `dir` in process: each order's shown cards, digested, by order id.
fn replayed(
    dir: &Path,
    knowledge: &Knowledge,
    compare: Option<&Knowledge>,
) -> (BTreeMap<String, Vec<Value>>, replay::Scan) {
    let export = Export::open(dir).expect("the export opens");
    let mut by_order = BTreeMap::new();
    let scan = replay::run(&export, knowledge, compare, &replay::Options::default(), &|_| {}, &mut |order| {
        let cards = match order.answer {
            Ok(evaluation) => serde_json::to_value(&evaluation.response.cards).unwrap(),
            Err(e) => panic!("order {} not replayed: {e}", order.order_id),
        };
        by_order.insert(order.order_id.to_owned(), digest(&cards));
    });
    (by_order, scan)
}

/// Every resource of the export, by patient id (Medications under their own ids).
fn resources(dir: &Path) -> (HashMap<String, Vec<Value>>, HashMap<String, Value>) {
    let (mut by_patient, mut medications): (HashMap<String, Vec<Value>>, HashMap<String, Value>) = Default::default();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if !path.to_string_lossy().ends_with(".ndjson") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            let id = r["id"].as_str().unwrap_or_default().to_owned();
            match r["resourceType"].as_str() {
                Some("Medication") => {
                    medications.insert(id, r);
                }
                Some("Patient") => by_patient.entry(id).or_default().push(r),
                _ => {
                    let reference = r["subject"]["reference"].as_str().or(r["patient"]["reference"].as_str());
                    if let Some(patient) = reference.and_then(|p| p.strip_prefix("Patient/")) {
                        by_patient.entry(patient.to_owned()).or_default().push(r);
                    }
                }
            }
        }
    }
    (by_patient, medications)
}

/// The call an EHR would have sent when `order` was signed today, built by the test: the order
/// as the draft, the patient's other records dated up to today (R4).
fn call_for(
    order: &GeneratedOrder,
    by_patient: &HashMap<String, Vec<Value>>,
    medications: &HashMap<String, Value>,
    today: &str,
) -> Value {
    let recorded_after = |r: &Value| {
        ["authoredOn", "recordedDate", "onsetDateTime", "effectiveDateTime", "dateAsserted"]
            .iter()
            .filter_map(|k| r[*k].as_str())
            .chain(r["effectivePeriod"]["start"].as_str())
            .any(|d| d.get(..10).is_some_and(|d| d > today))
    };
    let mut keys: BTreeMap<&str, Vec<Value>> =
        ["conditions", "medicationRequests", "medicationStatements", "allergyIntolerances"]
            .iter()
            .map(|k| (*k, vec![]))
            .collect();
    let (mut patient, mut draft) = (Value::Null, Value::Null);
    for r in &by_patient[&order.patient_id] {
        if r["id"] == order.order_id.as_str() {
            draft = r.clone();
            draft["status"] = json!("draft");
            continue;
        }
        if recorded_after(r) {
            continue;
        }
        let key = match r["resourceType"].as_str().unwrap_or_default() {
            "Patient" => {
                patient = r.clone();
                continue;
            }
            "Condition" => "conditions",
            "MedicationRequest" => "medicationRequests",
            "MedicationStatement" => "medicationStatements",
            "AllergyIntolerance" => "allergyIntolerances",
            _ => continue,
        };
        keys.get_mut(key).unwrap().push(r.clone());
    }
    let n = order.order_id.split('-').next().unwrap();
    for (id, medication) in medications {
        if id.starts_with(&format!("{n}-")) {
            keys.get_mut("medicationRequests").unwrap().push(medication.clone());
        }
    }
    let mut prefetch = json!({ "patient": patient });
    for (key, list) in keys {
        let entries: Vec<Value> = list.into_iter().map(|r| json!({ "resource": r })).collect();
        prefetch[key] = json!({ "resourceType": "Bundle", "type": "searchset", "entry": entries });
    }
    json!({
        "hook": "order-sign",
        "hookInstance": uuid_for(&order.order_id),
        "context": { "userId": "Practitioner/replay-test", "patientId": order.patient_id,
            "draftOrders": { "resourceType": "Bundle", "type": "collection", "entry": [{ "resource": draft }] } },
        "prefetch": prefetch,
    })
}

fn uuid_for(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let b = digest.as_ref();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-8{:01x}{:02x}-{}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6] & 15,
        b[7],
        b[8] & 15,
        b[9],
        b[10..16].iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replayed_order_gets_exactly_the_cards_its_call_to_serve_gets() {
    let dir = tempfile::tempdir().unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let orders = bulk::write(dir.path(), &repo(), &options(today));
    assert!(orders.len() > 20, "{} orders", orders.len());
    let (by_order, scan) = replayed(dir.path(), knowledge(), None);
    assert_eq!(by_order.len(), orders.len(), "every ketamine order is replayed, once");
    assert!(scan.unreplayable.is_empty() && scan.malformed.is_empty(), "{scan:?}");
    assert!(scan.files_skipped.contains_key("Observation"), "types not needed are skipped: {:?}", scan.files_skipped);

    let server = TestServer::start();
    let (by_patient, medications) = resources(dir.path());
    let today = today.to_string();
    let mut with_cards = 0;
    for order in &orders {
        let request = call_for(order, &by_patient, &medications, &today);
        let answer = call(&server.base, &request).await;
        let served = digest(&answer["cards"]);
        assert_eq!(
            by_order[&order.order_id], served,
            "order {} ({}): replay and serve differ",
            order.order_id, order.scenario
        );
        with_cards += usize::from(!served.is_empty());
    }
    assert!(with_cards > 5 && with_cards < orders.len(), "{with_cards} of {} orders with cards", orders.len());
    // Patient 0: the untreated example, with failures of every class documented after its order:
    // they do not count, and the step-therapy warning is given.
    let untreated = orders.iter().find(|o| o.patient_id == "p0000000").expect("patient 0 has an order");
    assert!(untreated.late_records && untreated.scenario == "01-untreated-patient");
    let cards = &by_order[&untreated.order_id];
    assert_eq!(cards[0][0], "step-therapy", "{cards:?}");
}

#[test]
fn a_dstu2_export_gzipped_behind_its_manifest_gives_the_answers_of_its_r4_twin() {
    let today = time::OffsetDateTime::now_utc().date();
    let (r4, dstu2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut o = options(today);
    o.spread_days = 120;
    let orders = bulk::write(r4.path(), &repo(), &o);
    o.dstu2 = true;
    o.gzip = true;
    assert_eq!(bulk::write(dstu2.path(), &repo(), &o), orders);
    let (a, _) = replayed(r4.path(), knowledge(), None);
    let (b, scan) = replayed(&dstu2.path().join("manifest.json"), knowledge(), None);
    assert!(scan.malformed.is_empty(), "{:?}", scan.malformed);
    assert_eq!(a.len(), orders.len());
    let kinds = |m: &BTreeMap<String, Vec<Value>>| -> BTreeMap<String, Vec<(Value, Value, Value)>> {
        m.iter()
            .map(|(k, cards)| (k.clone(), cards.iter().map(|c| (c[0].clone(), c[1].clone(), c[2].clone())).collect()))
            .collect()
    };
    assert_eq!(kinds(&a), kinds(&b), "MedicationOrder, dateWritten, patient: read as R4's");
}

#[test]
fn comparing_knowledge_reports_exactly_the_orders_a_value_set_edit_affects() {
    let dir = tempfile::tempdir().unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    // Only the examples' histories: a Synthea record may hold another cardiovascular
    // contraindication, which keeps the card (rightly: its summary does not change).
    let orders = bulk::write(dir.path(), &repo(), &BulkOptions { synthea: false, ..options(today) });
    // The site takes heart failure (I50.x) off the cardiovascular contraindications.
    let site = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("profiles")).unwrap().flatten() {
        std::fs::copy(entry.path(), site.path().join(entry.file_name())).unwrap();
    }
    let path = site.path().join("ValueSet-contraindication-cardiovascular.json");
    let mut vs = read_json(&path);
    vs["compose"]["include"].as_array_mut().unwrap().retain(|i| i["filter"][0]["value"] != "I50");
    std::fs::write(&path, serde_json::to_vec_pretty(&vs).unwrap()).unwrap();
    let edited = Knowledge::load(Some(site.path())).expect("the edited set loads");

    let export = Export::open(dir.path()).unwrap();
    let mut summary = replay::summary::Summary::new(knowledge().version(), Some(edited.version()));
    let keys = ketamine_cds::store::keys::Keys::new(b"a-test-secret-of-enough-bytes");
    let mut changed_ids = Vec::new();
    let scan = replay::run(&export, knowledge(), Some(&edited), &replay::Options::default(), &|_| {}, &mut |order| {
        let before = replay::summary::digests(order.answer.as_ref().unwrap());
        let after = replay::summary::digests(order.compared.unwrap().as_ref().unwrap());
        if before != after {
            changed_ids.push(order.order_id.to_owned());
        }
        summary.add(&order, &keys);
    });
    let summary = summary.finish(scan);
    let expected: Vec<&str> = orders
        .iter()
        .filter(|o| o.scenario == "13-contraindication-heart-failure")
        .map(|o| o.order_id.as_str())
        .collect();
    assert!(!expected.is_empty());
    changed_ids.sort();
    let mut expected_sorted: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    expected_sorted.sort();
    assert_eq!(changed_ids, expected_sorted, "exactly the heart-failure patients' orders");
    assert_eq!(summary.changed_orders, Some(expected.len() as u64));
    let changes = summary.changes.as_ref().unwrap();
    assert!(
        changes.iter().all(|c| c.before.iter().any(|d| d.kind == "contraindication")
            && c.after.iter().all(|d| d.kind != "contraindication")),
        "{changes:#?}"
    );
    // Keys, never ids.
    let text = serde_json::to_string(&summary).unwrap();
    assert!(!text.contains("p00000") && !text.contains("-s-"), "no patient or order id in the output");
}

#[test]
fn malformed_lines_are_counted_with_file_and_line_and_the_rest_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let orders = bulk::write(dir.path(), &repo(), &options(today));
    let path = dir.path().join("MedicationRequest.ndjson");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.insert_str(
        0,
        "{\"resourceType\":\"MedicationRequest\",\"medicationCodeableConcept\":{\"text\":\"ketamine\"\n",
    );
    text.push_str("not json at all, but ketamine\n");
    std::fs::write(&path, text).unwrap();
    let (by_order, scan) = replayed(dir.path(), knowledge(), None);
    assert_eq!(by_order.len(), orders.len(), "the good lines are all replayed");
    let lines: Vec<(String, u64)> = scan
        .malformed
        .iter()
        .filter(|m| m.file.ends_with("MedicationRequest.ndjson"))
        .map(|m| (m.file.rsplit('/').next().unwrap().to_owned(), m.line))
        .collect();
    let last = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
    assert!(lines.contains(&("MedicationRequest.ndjson".into(), 1)), "{:?}", scan.malformed);
    assert!(lines.contains(&("MedicationRequest.ndjson".into(), last)), "{:?}", scan.malformed);
}

/// The patient a resource belongs to (a Patient: itself).
fn owner(r: &Value) -> Option<String> {
    if r["resourceType"] == "Patient" {
        return r["id"].as_str().map(str::to_owned);
    }
    let reference = r["subject"]["reference"].as_str().or(r["patient"]["reference"].as_str())?;
    reference.strip_prefix("Patient/").map(str::to_owned)
}

#[test]
fn stu3_and_r5_exports_give_the_answers_of_their_r4_twin() {
    use crate::common::fhir_versions::{FhirVersion, write};
    use std::collections::HashSet;
    let today = time::OffsetDateTime::now_utc().date();
    let r4 = tempfile::tempdir().unwrap();
    let o = BulkOptions { synthea: false, late_records: false, spread_days: 90, ..options(today) };
    let orders = bulk::write(r4.path(), &repo(), &o);
    let (r4_answers, _) = replayed(r4.path(), knowledge(), None);
    let lines: Vec<(String, Value)> = std::fs::read_dir(r4.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".ndjson"))
        .flat_map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            text.lines()
                .map(|l| {
                    let mut r: Value = serde_json::from_str(l).unwrap();
                    // What the rules read of a Patient (its Synthea address and names are not).
                    if r["resourceType"] == "Patient" {
                        r.as_object_mut()
                            .unwrap()
                            .retain(|k, _| ["resourceType", "id", "gender", "birthDate"].contains(&k.as_str()));
                    }
                    (name.clone(), r)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for version in [FhirVersion::Stu3, FhirVersion::R5] {
        // A patient with a record the version cannot say (an STU3 MedicationRequest has no
        // statusReason) is left out of both sides.
        let written: Vec<(String, Option<String>, Result<Value, String>)> =
            lines.iter().map(|(file, r)| (file.clone(), owner(r), write(version, r))).collect();
        let unsayable: HashSet<String> =
            written.iter().filter(|(_, _, w)| w.is_err()).filter_map(|(_, patient, _)| patient.clone()).collect();
        assert!(written.iter().all(|(_, p, w)| w.is_ok() || p.is_some()), "{version:?}: every Medication can be said");
        let dir = tempfile::tempdir().unwrap();
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        for (file, patient, w) in written {
            if patient.as_ref().is_some_and(|p| unsayable.contains(p)) {
                continue;
            }
            let text = files.entry(file).or_default();
            text.push_str(&serde_json::to_string(&w.unwrap()).unwrap());
            text.push('\n');
        }
        for (file, text) in files {
            std::fs::write(dir.path().join(file), text).unwrap();
        }
        let (theirs, scan) = replayed(dir.path(), knowledge(), None);
        assert!(scan.malformed.is_empty(), "{version:?}: {:?}", scan.malformed);
        let compared: Vec<&GeneratedOrder> = orders.iter().filter(|o| !unsayable.contains(&o.patient_id)).collect();
        assert!(compared.len() >= 10, "{version:?}: {} orders compared", compared.len());
        assert_eq!(theirs.len(), compared.len(), "{version:?}: every order found");
        for order in compared {
            let summary = |m: &BTreeMap<String, Vec<Value>>| -> Vec<(Value, Value, Value)> {
                m[&order.order_id].iter().map(|c| (c[0].clone(), c[1].clone(), c[2].clone())).collect()
            };
            assert_eq!(
                summary(&theirs),
                summary(&r4_answers),
                "{version:?}: order {} ({})",
                order.order_id,
                order.scenario
            );
        }
    }
}
