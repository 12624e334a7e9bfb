//! `ketamine-cds replay`: the rule over a population before go-live. For every ketamine order of
//! a FHIR Bulk Data export it builds the call the EHR would have made when the order was signed
//! — the order as the draft, the patient's other records as they stood that day
//! ([`history`]), "now" = its `authoredOn` — and answers it with the same call as `serve`
//! (`call::bundle` makes the request, `call::answer_offline` answers it): no rule is
//! implemented twice.
//!
//! It streams, in two passes over the files of the types it reads ([`export`]): the first finds
//! the ketamine orders (a line naming no ketamine code or name is never parsed), the second
//! keeps the lines of those orders' patients only. Memory grows with the patients who have
//! ketamine orders, not with the export. Each replayed order is handed to a visitor
//! ([`summary::Summary`] tallies them); bad lines are counted with their file and line number.

pub mod export;
pub mod history;
pub mod record;
pub mod render;
pub mod summary;

use std::collections::{HashMap, HashSet};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::call::bundle::{self, BundleOptions};
use crate::call::{self, Evaluation, services};
use crate::fhir::dates::FhirDate;
use crate::guideline::Hook;
use crate::hooks::HookRequest;
use crate::knowledge::Knowledge;
use export::{Export, Lines};

/// The types of the orders, of what the first pass also needs, and of the patient records.
const ORDER_TYPES: [&str; 2] = ["MedicationRequest", "MedicationOrder"];
const RECORD_TYPES: [&str; 6] =
    ["Patient", "MedicationRequest", "MedicationOrder", "MedicationStatement", "Condition", "AllergyIntolerance"];

/// Which orders are replayed.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `YYYY-MM-DD`: orders authored on or after this day.
    pub since: Option<String>,
    /// `YYYY-MM-DD`: orders authored before this day.
    pub until: Option<String>,
    /// `(k, n)`: only the patients in shard k of n (1-based), by a hash of the patient's id.
    pub shard: Option<(u32, u32)>,
    /// The run's name: part of each call's hookInstance (and so of its cards' uuids), so that
    /// the runs recorded in one store never share a card.
    pub run: Option<String>,
}

/// One replayed order, as the visitor sees it. Ids are for the visitor to key (never printed).
pub struct Replayed<'a> {
    pub order_id: &'a str,
    pub patient_id: &'a str,
    /// The order's `authoredOn` day, `YYYY-MM-DD`.
    pub day: &'a str,
    /// The answer under the knowledge, and under the knowledge compared (`--compare-profiles`).
    pub answer: &'a Result<Evaluation, String>,
    pub compared: Option<&'a Result<Evaluation, String>>,
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Malformed {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

/// What the passes read, besides the orders.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub files_read: u64,
    /// Files of types the replay does not need, by type (never parsed).
    pub files_skipped: HashMap<String, u64>,
    /// NDJSON bytes read (decompressed), over both passes.
    pub bytes_read: u64,
    pub lines_read: u64,
    /// The first [`MAX_MALFORMED_LISTED`] malformed lines (all are counted).
    pub malformed: Vec<Malformed>,
    /// Ketamine orders that could not be replayed, by reason.
    pub unreplayable: HashMap<String, u64>,
    pub patients: u64,
    /// The lines reported malformed (both passes read some files: each is reported once).
    seen_malformed: HashSet<(std::path::PathBuf, u64)>,
}

/// What the passes tell a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A file is being opened (both passes count: some files are read twice).
    File,
    /// NDJSON bytes read since the last report.
    Bytes(u64),
}

/// The most malformed lines listed (all are counted).
pub const MAX_MALFORMED_LISTED: usize = 1_000;

impl Scan {
    /// Malformed lines, each counted once.
    pub fn malformed_count(&self) -> u64 {
        self.seen_malformed.len() as u64
    }

    fn malformed(&mut self, file: &std::path::Path, line: u64, reason: impl Into<String>) {
        if !self.seen_malformed.insert((file.to_owned(), line)) {
            return;
        }
        if self.malformed.len() < MAX_MALFORMED_LISTED {
            self.malformed.push(Malformed { file: file.display().to_string(), line, reason: reason.into() });
        }
    }

    fn unreplayable(&mut self, reason: impl Into<String>) {
        *self.unreplayable.entry(reason.into()).or_default() += 1;
    }
}

/// The references a line is read for in the second pass.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Lean {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    id: Option<String>,
    subject: Option<Reference>,
    patient: Option<Reference>,
    #[serde(rename = "medicationReference")]
    medication_reference: Option<Reference>,
    medication: Option<R5Medication>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Reference {
    reference: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct R5Medication {
    reference: Option<Reference>,
}

impl Lean {
    fn patient(&self) -> Option<&str> {
        self.subject.as_ref().or(self.patient.as_ref()).and_then(|r| target_id(r.reference.as_deref()?))
    }

    fn medication(&self) -> Option<&str> {
        let r5 = self.medication.as_ref().and_then(|m| m.reference.as_ref());
        self.medication_reference.as_ref().or(r5).and_then(|r| target_id(r.reference.as_deref()?))
    }
}

/// The id a reference points at (`Patient/123`, `urn:uuid:…`).
fn target_id(reference: &str) -> Option<&str> {
    let id = reference.rsplit('/').next()?.trim_start_matches("urn:uuid:");
    (!id.is_empty()).then_some(id)
}

/// Lines that may be a ketamine order or Medication: a ketamine code or name (ASCII case
/// folded), a Medication reference, or a JSON escape (which could spell either).
struct Prefilter(Option<AhoCorasick>);

impl Prefilter {
    fn new(knowledge: &Knowledge) -> Self {
        let mut literals = knowledge.medications.literals_of(&knowledge.trigger_agents);
        if literals.iter().any(|l| !l.is_ascii()) {
            // A non-ASCII name folds in ways the automaton does not: every line is parsed.
            return Self(None);
        }
        literals.extend(["medicationReference", "Medication/", "\"reference\"", "\\u"].map(str::to_owned));
        Self(AhoCorasickBuilder::new().ascii_case_insensitive(true).build(&literals).ok())
    }

    fn may_name(&self, line: &[u8]) -> bool {
        self.0.as_ref().is_none_or(|a| a.is_match(line))
    }
}

/// Reads every file of `types`, handing each non-empty line to `each` (malformed lines are
/// recorded); `progress` hears each file opened and the bytes read.
fn each_line(
    export: &Export,
    types: &[&str],
    scan: &mut Scan,
    progress: &dyn Fn(Progress),
    mut each: impl FnMut(&[u8], &mut Scan, &std::path::Path, u64),
) {
    for file in export.of_types(types) {
        progress(Progress::File);
        let mut lines = match export::reader(&file.path) {
            Ok(reader) => Lines::new(reader),
            Err(e) => {
                scan.malformed(&file.path, 0, e);
                continue;
            }
        };
        let mut reported = 0;
        while let Some((number, line)) = lines.next_line() {
            match line {
                Ok(line) if line.iter().all(u8::is_ascii_whitespace) => {}
                Ok(line) => {
                    scan.lines_read += 1;
                    each(line, scan, &file.path, number);
                }
                Err(e) => scan.malformed(&file.path, number, e.to_string()),
            }
            if lines.bytes - reported > 1 << 20 {
                progress(Progress::Bytes(lines.bytes - reported));
                reported = lines.bytes;
            }
        }
        progress(Progress::Bytes(lines.bytes - reported));
        scan.bytes_read += lines.bytes;
    }
}

/// The ketamine orders found by the first pass, by patient id: each order's id.
type Orders = HashMap<String, Vec<String>>;

/// Replays every ketamine order of `export` under `knowledge` (and `compare`), handing each to
/// `visit`; returns what was read.
pub fn run(
    export: &Export,
    knowledge: &Knowledge,
    compare: Option<&Knowledge>,
    options: &Options,
    progress: &dyn Fn(Progress),
    visit: &mut dyn FnMut(Replayed<'_>),
) -> Scan {
    let mut scan = Scan::default();
    for file in &export.files {
        let used = RECORD_TYPES.contains(&file.resource_type.as_str()) || file.resource_type == "Medication";
        if used {
            scan.files_read += 1;
        } else {
            *scan.files_skipped.entry(file.resource_type.clone()).or_default() += 1;
        }
    }
    let prefilter = Prefilter::new(knowledge);
    let medications = ketamine_medications(export, knowledge, &prefilter, &mut scan, progress);
    let orders = ketamine_orders(export, knowledge, &prefilter, &medications, options, &mut scan, progress);
    scan.patients = orders.len() as u64;
    let records = patient_records(export, &orders, &mut scan, progress);
    let service = services::for_hook(Hook::OrderSign);
    let mut patients: Vec<&String> = orders.keys().collect();
    patients.sort();
    for patient_id in patients {
        let lines = records.get(patient_id.as_str()).map(Vec::as_slice).unwrap_or_default();
        let resources: Vec<Value> = lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
        for order_id in &orders[patient_id] {
            let Some(order) = resources.iter().find(|r| is_order(r) && r["id"].as_str() == Some(order_id.as_str()))
            else {
                scan.unreplayable("the order was not found again in the second pass");
                continue;
            };
            let Some(day) = order_day(order) else {
                scan.unreplayable("authoredOn is missing or not a full date");
                continue;
            };
            let name = format!("replay/{}/{patient_id}/{order_id}", options.run.as_deref().unwrap_or_default());
            let request = match request_at(order, &resources, &day, &name, knowledge) {
                Ok(request) => request,
                Err(why) => {
                    scan.unreplayable(why);
                    continue;
                }
            };
            let now = midnight(&day);
            let answer_with = |k: &Knowledge| -> Result<Evaluation, String> {
                let parsed = HookRequest::from_value(request.clone()).map_err(|e| e.to_string())?;
                call::answer_offline(service, parsed, k, now).map_err(|e| e.to_string())
            };
            let answer = answer_with(knowledge);
            if let Err(why) = &answer {
                scan.unreplayable(format!("the call was refused: {why}"));
            }
            let compared = compare.map(answer_with);
            visit(Replayed { order_id, patient_id, day: &day, answer: &answer, compared: compared.as_ref() });
        }
    }
    scan
}

fn is_order(resource: &Value) -> bool {
    ORDER_TYPES.contains(&resource["resourceType"].as_str().unwrap_or_default())
}

/// The order's `authoredOn` (DSTU2: `dateWritten`) as a day, when it is a full date.
fn order_day(order: &Value) -> Option<String> {
    let written = order.get("authoredOn").or_else(|| order.get("dateWritten"))?.as_str()?;
    let date: FhirDate = written.parse().ok()?;
    (date.as_str().len() == 10).then(|| date.as_str().to_owned())
}

fn midnight(day: &str) -> time::OffsetDateTime {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day, &format).map_or(time::OffsetDateTime::UNIX_EPOCH, |d| d.midnight().assume_utc())
}

/// The first pass's Medications that name a trigger agent, by id.
fn ketamine_medications(
    export: &Export,
    knowledge: &Knowledge,
    prefilter: &Prefilter,
    scan: &mut Scan,
    progress: &dyn Fn(Progress),
) -> HashMap<String, Value> {
    let mut found = HashMap::new();
    each_line(export, &["Medication"], scan, progress, |line, scan, file, number| {
        if !prefilter.may_name(line) {
            return;
        }
        let medication: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => return scan.malformed(file, number, e.to_string()),
        };
        let Some(id) = medication["id"].as_str().map(str::to_owned) else { return };
        let probe = json!({ "resourceType": "MedicationRequest", "medicationReference": { "reference": format!("Medication/{id}") } });
        if bundle::names_ketamine(&probe, &[&medication], knowledge) {
            found.insert(id, medication);
        }
    });
    found
}

/// The first pass: the ketamine orders in the window (and shard), by patient.
fn ketamine_orders(
    export: &Export,
    knowledge: &Knowledge,
    prefilter: &Prefilter,
    medications: &HashMap<String, Value>,
    options: &Options,
    scan: &mut Scan,
    progress: &dyn Fn(Progress),
) -> Orders {
    let mut orders: Orders = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    each_line(export, &ORDER_TYPES, scan, progress, |line, scan, file, number| {
        if !prefilter.may_name(line) {
            return;
        }
        let order: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => return scan.malformed(file, number, e.to_string()),
        };
        if order["status"] == "entered-in-error" {
            return;
        }
        let lean = Lean::deserialize(&order).unwrap_or_default();
        let referenced: Vec<&Value> = lean.medication().and_then(|id| medications.get(id)).into_iter().collect();
        if !bundle::names_ketamine(&order, &referenced, knowledge) {
            return;
        }
        let (Some(patient), Some(id)) = (lean.patient(), lean.id.as_deref()) else {
            scan.unreplayable("the order names no patient or has no id");
            return;
        };
        if let Some(day) = order_day(&order) {
            let early = options.since.as_deref().is_some_and(|since| day.as_str() < since);
            let late = options.until.as_deref().is_some_and(|until| day.as_str() >= until);
            if early || late {
                return;
            }
        }
        if options.shard.is_some_and(|(k, n)| shard_of(patient, n) != k) {
            return;
        }
        if seen.insert(format!("{patient}/{id}")) {
            orders.entry(patient.to_owned()).or_default().push(id.to_owned());
        }
    });
    orders
}

/// The shard (1..=n) of a patient: the first eight bytes of SHA-256 of its id, big-endian,
/// modulo n, plus one — the same on every machine, with no secret to share.
pub fn shard_of(patient_id: &str, n: u32) -> u32 {
    call::rollout::stable_bucket("", patient_id, n) + 1
}

/// The second pass: the lines of the patients with ketamine orders, and the Medications they
/// reference.
fn patient_records(
    export: &Export,
    orders: &Orders,
    scan: &mut Scan,
    progress: &dyn Fn(Progress),
) -> HashMap<String, Vec<Box<str>>> {
    let mut records: HashMap<String, Vec<Box<str>>> = HashMap::new();
    let mut referenced: HashMap<String, Vec<String>> = HashMap::new();
    each_line(export, &RECORD_TYPES, scan, progress, |line, scan, file, number| {
        let lean: Lean = match serde_json::from_slice(line) {
            Ok(lean) => lean,
            Err(e) => return scan.malformed(file, number, e.to_string()),
        };
        let patient =
            if lean.resource_type.as_deref() == Some("Patient") { lean.id.as_deref() } else { lean.patient() };
        let Some(patient) = patient.filter(|p| orders.contains_key(*p)) else { return };
        let Ok(text) = std::str::from_utf8(line) else { return scan.malformed(file, number, "not UTF-8") };
        if let Some(medication) = lean.medication() {
            referenced.entry(medication.to_owned()).or_default().push(patient.to_owned());
        }
        records.entry(patient.to_owned()).or_default().push(text.into());
    });
    each_line(export, &["Medication"], scan, progress, |line, scan, file, number| {
        let lean: Lean = match serde_json::from_slice(line) {
            Ok(lean) => lean,
            Err(e) => return scan.malformed(file, number, e.to_string()),
        };
        let Some(patients) = lean.id.as_deref().and_then(|id| referenced.get(id)) else { return };
        let Ok(text) = std::str::from_utf8(line) else { return };
        for patient in patients {
            records.entry(patient.clone()).or_default().push(text.into());
        }
    });
    records
}

/// The order-sign request for `order` on `day`: the order as the draft, the patient's other
/// records as they stood then.
fn request_at(
    order: &Value,
    resources: &[Value],
    day: &str,
    name: &str,
    knowledge: &Knowledge,
) -> Result<Value, String> {
    let order_ref =
        format!("{}/{}", order["resourceType"].as_str().unwrap_or_default(), order["id"].as_str().unwrap_or_default());
    let mut draft = order.clone();
    draft["status"] = Value::from("draft");
    let mut entries = vec![json!({ "resource": draft })];
    for resource in resources {
        let same = is_order(resource) && resource["id"] == order["id"];
        if same {
            continue;
        }
        if let Some(then) = history::as_of(resource.clone(), day) {
            entries.push(json!({ "resource": then }));
        }
    }
    let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": entries });
    let options = BundleOptions { hook: Hook::OrderSign, order: Some(order_ref) };
    bundle::request_for(bundle, name, &options, knowledge)
}
