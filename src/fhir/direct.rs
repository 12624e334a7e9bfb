//! Reading a resource's JSON text straight into its struct, for the common case that needs none
//! of the normaliser's repairs.
//!
//! The normaliser ([`super::normalize`]) works on a `serde_json::Value`: building that tree and
//! walking it cost more than the rules themselves. Most resources need none of its repairs, and
//! a strict read of the text tells which: every repair is of a shape the strict read refuses
//! (a lone object where a list belongs, a null, a string status), except a few it would silently
//! misread, and those are recognised by their text before reading (older spellings, contained
//! resources, a dose outside `doseAndRate`, escaped or null content). Whatever is refused or
//! recognised goes the normaliser's way, so both ways read every resource alike — a test checks
//! this on every example and patient record.

use std::borrow::Cow;

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::datatypes::LooseReference;
use super::resources::{
    AllergyIntolerance, Condition, Dosage, Medication, MedicationRequest, MedicationStatement, Patient,
};

/// A resource of a type the rules read, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Patient(Patient),
    Condition(Condition),
    Request(MedicationRequest),
    Statement(MedicationStatement),
    Allergy(AllergyIntolerance),
    Medication(Medication),
}

/// Whose record a resource is: a Patient's own id, or the reference of a resource's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientRef<'a> {
    Id(Option<&'a str>),
    Reference(Option<&'a str>),
}

impl Typed {
    /// The patient the resource belongs to, for the other-patient check.
    pub fn patient_reference(&self) -> PatientRef<'_> {
        let reference = match self {
            Typed::Patient(p) => return PatientRef::Id(p.id.as_deref()),
            Typed::Request(mr) => mr.subject.as_ref().and_then(|s| s.reference.as_deref()),
            Typed::Statement(ms) => subject_reference(&ms.subject),
            Typed::Condition(c) => subject_reference(&c.subject),
            // Never read directly (see `read`): their patient is not in their struct.
            Typed::Allergy(_) | Typed::Medication(_) => None,
        };
        PatientRef::Reference(reference)
    }
}

fn subject_reference(subject: &Option<LooseReference>) -> Option<&str> {
    subject.as_ref()?.0.as_deref()
}

/// What reading a resource's text directly came to.
// Returned once per resource and moved straight into the record: boxing the large variant
// would cost an allocation per resource for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Direct {
    Typed(Typed),
    /// Not a type the rules read: passed over, as the normaliser's way would.
    NotRead,
    /// Needs (or may need) the normaliser.
    Repair,
}

/// Reads one resource's JSON text directly, or says it needs repair.
pub fn read(text: &str) -> Direct {
    if !text.trim_start().starts_with('{') {
        return Direct::Repair;
    }
    let marks = Marks::of(text);
    let resource_type = match leading_resource_type(text, &marks) {
        Some(kind) => Some(Cow::Borrowed(kind)),
        None => match serde_json::from_str::<Kind>(text) {
            Ok(Kind { resource_type }) => resource_type,
            Err(_) => return Direct::Repair,
        },
    };
    let Some(kind) = resource_type else {
        return Direct::NotRead;
    };
    // An escaped key could spell any element the needles look for; nulls are dropped by the
    // normaliser but kept by some lists of the strict read; contained resources are read
    // separately. An escape in a value (a narrative's `\u2014`) needs nothing: serde decodes it.
    if (marks.has(Needle::Escape) && escaped_key(text)) || marks.has(Needle::Null) || marks.has(Needle::Contained) {
        return Direct::Repair;
    }
    let typed = match kind.as_ref() {
        "Patient" => strict(text).map(Typed::Patient),
        "Condition" if !marks.has(Needle::Patient) => strict(text).map(Typed::Condition),
        "MedicationRequest" | "MedicationStatement" if marks.has(Needle::OtherVersion) => None,
        "MedicationRequest" => strict::<MedicationRequest>(text)
            .filter(|mr| doses_in_place(&mr.dosage_instruction, &marks))
            .map(Typed::Request),
        "MedicationStatement" if !marks.has(Needle::Patient) => {
            strict::<MedicationStatement>(text).filter(|ms| doses_in_place(&ms.dosage, &marks)).map(Typed::Statement)
        }
        "Medication" if !marks.has(Needle::Subject) && !marks.has(Needle::OtherVersion) => {
            strict(text).map(Typed::Medication)
        }
        "Condition" | "MedicationStatement" | "Medication" | "AllergyIntolerance" | "MedicationOrder" => None,
        _ => return Direct::NotRead,
    };
    typed.map_or(Direct::Repair, Direct::Typed)
}

/// The `resourceType` of an object that starts with it, as nearly every resource does, when it
/// is plain text and not repeated later; otherwise `None` (the whole object is then read for it).
fn leading_resource_type<'t>(text: &'t str, marks: &Marks) -> Option<&'t str> {
    let rest = text.trim_start().strip_prefix('{')?.trim_start().strip_prefix("\"resourceType\"")?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = memchr::memchr(b'"', rest.as_bytes())?;
    let kind = &rest[..end];
    (!kind.contains('\\') && marks.resource_types == 1).then_some(kind)
}

/// Text whose presence decides how a resource is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needle {
    ResourceType,
    Escape,
    Null,
    Contained,
    Patient,
    Subject,
    DoseSimpleQuantity,
    DoseQuantity,
    DoseRange,
    /// Keys of other FHIR versions the lean structs do not have: R5's `medication` and `reason`
    /// (CodeableReferences), DSTU2's `wasNotTaken`, STU3's `taken` and encounter as `context`;
    /// of a Medication, R5's `doseForm` and ingredient `item`, DSTU2's `product`.
    OtherVersion,
}

/// In the order of [`Needle`]'s variants (the last eight are all [`Needle::OtherVersion`]).
const NEEDLES: [&str; 17] = [
    "\"resourceType\"",
    "\\u",
    "null",
    "\"contained\"",
    "\"patient\"",
    "\"subject\"",
    "\"doseSimpleQuantity\"",
    "\"doseQuantity\"",
    "\"doseRange\"",
    "\"medication\"",
    "\"reason\"",
    "\"wasNotTaken\"",
    "\"taken\"",
    "\"doseForm\"",
    "\"item\"",
    "\"product\"",
    "\"context\"",
];

/// The needles' searcher: SIMD Teddy where the CPU has it, the automaton elsewhere.
enum NeedleSearch {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

/// Which needles a resource's text holds, found in one pass over it.
struct Marks {
    found: u16,
    resource_types: usize,
}

impl Marks {
    fn of(text: &str) -> Self {
        // Leftmost, not overlapping, matches: a vectorised search. In valid JSON (which the text
        // is) no two needles can overlap, so none is missed. The packed (Teddy) searcher is asked
        // for by name: past 13 needles the automaton's own choice fell back to a start-byte
        // prefilter that stops at every quote, which doubled the cost of reading a record.
        static NEEDLE_SEARCH: LazyLock<NeedleSearch> = LazyLock::new(|| {
            let packed = aho_corasick::packed::Config::new()
                .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
                .builder()
                .extend(NEEDLES)
                .build();
            match packed {
                Some(searcher) => NeedleSearch::Packed(searcher),
                None => NeedleSearch::Automaton(
                    AhoCorasick::builder()
                        .match_kind(MatchKind::LeftmostFirst)
                        .build(NEEDLES)
                        .expect("a few short literals"),
                ),
            }
        });
        let mut marks = Self { found: 0, resource_types: 0 };
        let mut mark = |pattern: usize| {
            let index = pattern.min(Needle::OtherVersion as usize);
            marks.found |= 1 << index;
            marks.resource_types += usize::from(index == Needle::ResourceType as usize);
        };
        match &*NEEDLE_SEARCH {
            NeedleSearch::Packed(searcher) => searcher.find_iter(text).for_each(|m| mark(m.pattern().as_usize())),
            NeedleSearch::Automaton(searcher) => searcher.find_iter(text).for_each(|m| mark(m.pattern().as_usize())),
        }
        marks
    }

    fn has(&self, needle: Needle) -> bool {
        self.found & (1 << needle as usize) != 0
    }
}

/// Whether an object key of `text` (valid JSON) holds a `\u` escape: such a key could spell an
/// element the guards look for by its text (`"contained"`, `"patient"`…), so the resource goes
/// the normaliser's way. An escape in a value needs nothing: both readers decode it alike.
fn escaped_key(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(open) = memchr::memchr(b'"', &bytes[at..]) {
        // A string starts after `open`; find its end, noting a \u escape on the way.
        let mut i = at + open + 1;
        let mut escaped = false;
        loop {
            let Some(next) = bytes.get(i..).and_then(|rest| memchr::memchr2(b'"', b'\\', rest)) else {
                return false;
            };
            i += next;
            if bytes[i] == b'"' {
                break;
            }
            escaped |= bytes.get(i + 1) == Some(&b'u');
            i += 2;
        }
        at = i + 1;
        if escaped && bytes[at..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':') {
            return true;
        }
    }
    false
}

#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<Cow<'a, str>>,
}

fn strict<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

/// The normaliser moves a dose given on the Dosage itself (STU3) into `doseAndRate`; the strict
/// read would ignore it. Such a resource is only read directly if every dosage has its
/// `doseAndRate`.
fn doses_in_place(dosages: &[Dosage], marks: &Marks) -> bool {
    if marks.has(Needle::DoseSimpleQuantity) {
        return false;
    }
    let loose_dose = marks.has(Needle::DoseQuantity) || marks.has(Needle::DoseRange);
    !loose_dose || dosages.iter().all(|d| !d.dose_and_rate.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> &'static str {
        match read(text) {
            Direct::Typed(_) => "typed",
            Direct::NotRead => "not read",
            Direct::Repair => "repair",
        }
    }

    #[test]
    fn escapes_in_values_are_read_directly_escapes_in_keys_are_not() {
        let narrative =
            r#"{"resourceType":"Condition","text":{"div":"pain \u2014 left foot"},"code":{"text":"a \\u b"}}"#;
        assert_eq!(kind(narrative), "typed");
        assert!(!escaped_key(narrative));
        assert!(escaped_key(r#"{"a":"\u0041","\u0062":1}"#));
        assert!(!escaped_key(r#"{"a\\":"u","b":"\\u"}"#), "an escaped backslash before u is no \\u escape");
        assert!(!escaped_key(r#"{"a":"x\"y","b":"\u0041 \":"}"#), "quotes inside values");
    }

    #[test]
    fn leading_resource_type_is_read_only_when_plain_and_single() {
        let leading = |text: &str| leading_resource_type(text, &Marks::of(text)).map(str::to_owned);
        assert_eq!(leading(r#"{"resourceType":"Condition","id":"1"}"#).as_deref(), Some("Condition"));
        assert_eq!(leading("{\n  \"resourceType\" : \"Patient\",\n}").as_deref(), Some("Patient"));
        assert_eq!(leading(r#"{"id":"1","resourceType":"Condition"}"#), None);
        assert_eq!(leading(r#"{"resourceType":"Cond\"ition"}"#), None);
        assert_eq!(leading(r#"{"resourceType":"Condition","resourceType":"Patient"}"#), None);
        assert_eq!(kind(r#"{"resourceType":"Observation","resourceType":"Condition"}"#), "repair");
    }

    #[test]
    fn plain_resources_are_read_directly_and_repairs_are_recognised() {
        let mr = r#"{"resourceType":"MedicationRequest","id":"a","status":"active","subject":{"reference":"Patient/1"},
            "dosageInstruction":[{"doseAndRate":[{"doseQuantity":{"value":5,"unit":"mg"}}]}]}"#;
        assert_eq!(kind(mr), "typed");
        assert_eq!(kind(r#"{"resourceType":"Observation","status":"final"}"#), "not read");
        assert_eq!(kind(r#"{"status":"final"}"#), "not read");
        for repair in [
            r#"{"resourceType":"MedicationOrder","status":"active"}"#,
            r#"{"resourceType":"Condition","clinicalStatus":"active"}"#,
            r#"{"resourceType":"Condition","patient":{"reference":"Patient/1"}}"#,
            r#"{"resourceType":"MedicationRequest","reasonCode":{"text":"lone object"}}"#,
            r#"{"resourceType":"MedicationRequest","status":null}"#,
            r#"{"resourceType":"MedicationRequest","dosageInstruction":[{"doseQuantity":{"value":5}}]}"#,
            r#"{"resourceType":"MedicationRequest","contained":[{"resourceType":"Medication","id":"m"}]}"#,
            r#"{"resourceType":"MedicationRequest","st\u0061tus":"active"}"#,
            r#"{"resourceType":"MedicationRequest","cont\u0061ined":[{"resourceType":"Medication","id":"m"}]}"#,
            r#"{"resourceType":"Condition", "p\u0061tient" :{"reference":"Patient/1"}}"#,
            r#"{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"}}"#,
            r#"{"resourceType":"Medication","subject":{"reference":"Patient/2"}}"#,
            r#"["resourceType","Condition"]"#,
            r#"{"resourceType":7}"#,
        ] {
            assert_eq!(kind(repair), "repair", "{repair}");
        }
    }
}
