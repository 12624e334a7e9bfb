//! The FHIR datatypes the rules read — CodeableConcept, Coding, Reference, Period, Quantity and
//! date/dateTime — with only the elements the rules read.
//!
//! fhir-sdk's versions read every element (ids, extensions, `_system` primitive extensions,
//! `userSelected`, comparators…) into boxed structs: in a 200-resource record they were the
//! larger part of reading a call. These read the same elements the same way; elements they do not
//! hold are skipped, so a malformed one (an `extension` that is not a list, say) no longer makes
//! the whole resource unreadable. Dates are [`FhirDate`]s.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

pub use super::dates::FhirDate;
use super::ignore_scalars;

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct CodeableConcept {
    #[serde(default)]
    pub coding: Vec<Coding>,
    pub text: Option<String>,
}

impl CodeableConcept {
    /// A concept that is only text (a `medicationReference` known by its display).
    pub fn from_text(text: &str) -> Self {
        Self { coding: Vec::new(), text: Some(text.to_owned()) }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Coding {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Reference {
    pub reference: Option<String>,
    pub display: Option<String>,
}

/// A `subject` read only for its `reference`, and leniently: a subject of any shape reads, and
/// only an object's string `reference` counts (the last one, if repeated), so that a subject
/// the rules cannot use never makes its resource unreadable.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LooseReference(pub Option<String>);

impl<'de> Deserialize<'de> for LooseReference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseReferenceVisitor)
    }
}

struct LooseReferenceVisitor;

impl<'de> Visitor<'de> for LooseReferenceVisitor {
    type Value = LooseReference;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LooseReference, A::Error> {
        let mut reference = None;
        while let Some(IsReference(is_reference)) = map.next_key()? {
            if is_reference {
                reference = match map.next_value::<Value>()? {
                    Value::String(r) => Some(r),
                    _ => None,
                };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(LooseReference(reference))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<LooseReference, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| LooseReference(None))
    }

    ignore_scalars!(LooseReference(None));
}

/// An object key, read only for whether it is `reference`.
struct IsReference(bool);

impl<'de> Deserialize<'de> for IsReference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_str_with(deserializer, "an object key", |key| Ok::<_, String>(IsReference(key == "reference")))
    }
}

/// Reads a JSON string (borrowed where it can be) through `read`, without owning it first.
pub(super) fn from_str_with<'de, D, T, E>(
    deserializer: D,
    expecting: &'static str,
    read: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
{
    struct StrVisitor<F>(&'static str, F);
    impl<T, E: fmt::Display, F: FnOnce(&str) -> Result<T, E>> Visitor<'_> for StrVisitor<F> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_str<Er: de::Error>(self, s: &str) -> Result<T, Er> {
            (self.1)(s).map_err(Er::custom)
        }
    }
    deserializer.deserialize_str(StrVisitor(expecting, read))
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Period {
    pub start: Option<FhirDate>,
    pub end: Option<FhirDate>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Quantity {
    pub value: Option<f64>,
    pub unit: Option<String>,
    pub code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_not_read_do_not_matter() {
        let concept: CodeableConcept = serde_json::from_value(serde_json::json!({
            "id": 7, "extension": "not a list",
            "coding": [{"system": "s", "code": "c", "userSelected": "yes", "_code": {"extension": []}}]
        }))
        .unwrap();
        assert_eq!(concept.coding, vec![Coding { system: Some("s".into()), code: Some("c".into()), display: None }]);
        let wrong_type = serde_json::from_value::<Coding>(serde_json::json!({"code": 5}));
        assert!(wrong_type.is_err(), "an element that is read keeps its type");
    }

    #[test]
    fn a_loose_reference_reads_any_shape_as_value_get_would() {
        for text in [
            r#"{"reference": "Patient/1", "display": "x"}"#,
            r#"{"display": "x", "identifier": {"value": 1}}"#,
            r#"{"reference": 7}"#,
            r#"{"reference": "Patient/1", "reference": "Patient/2"}"#,
            r#"{"reference": "Patient/1", "reference": null}"#,
            r#""Patient/1""#,
            r#"["Patient/1"]"#,
            "12",
            "true",
            r#"{"a": [1, {"reference": "nested"}], "reference": "Patient/\u0031"}"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let expected = value.get("reference").and_then(Value::as_str).map(str::to_owned);
            let from_text: LooseReference = serde_json::from_str(text).unwrap();
            let from_value: LooseReference = serde_json::from_value(value).unwrap();
            assert_eq!(from_text.0, expected, "{text}");
            assert_eq!(from_value.0, expected, "{text}");
        }
    }
}
