//! The FHIR datatypes the rules read — CodeableConcept, Coding, Reference, Period, Quantity and
//! date/dateTime — with only the elements the rules read.
//!
//! fhir-sdk's versions read every element (ids, extensions, `_system` primitive extensions,
//! `userSelected`, comparators…) into boxed structs: in a 200-resource record they were the
//! larger part of reading a call. These read the same elements the same way; elements they do not
//! hold are skipped, so a malformed one (an `extension` that is not a list, say) no longer makes
//! the whole resource unreadable. Dates are [`FhirDate`]s.

use serde::Deserialize;

pub use super::dates::FhirDate;

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
}
