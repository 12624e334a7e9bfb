//! Card options an EHR may negotiate per call, in the shape of the Da Vinci CRD guide: discovery
//! lists them in each service's `extension` (`davinci-crd.configuration-options`: code, type,
//! name, description, default) and a request sets some in its `extension`
//! (`davinci-crd.configuration`: `{code: value}`). Unknown options are ignored; a known one with
//! a value of the wrong type is refused (400 naming it). Sites set the defaults (`[cards]` of the
//! config file, the same names in snake case: `max_cards = 3`).

use serde_json::{Value, json};

use super::HookError;

/// The request extension holding the options.
pub const REQUEST_EXTENSION: &str = "davinci-crd.configuration";
/// The discovery extension listing them.
pub const DISCOVERY_EXTENSION: &str = "davinci-crd.configuration-options";

pub use crate::config::CardOptions;

enum Kind {
    Boolean,
    Integer,
}

/// code, type, name, description.
const OPTIONS: [(&str, Kind, &str, &str); 5] = [
    (
        "filter-out-repeated-alerts",
        Kind::Boolean,
        "Filter out repeated alerts",
        "On order-sign, leave out the step-therapy card the clinician overrode on order-select for the same draft order in the same encounter.",
    ),
    (
        "max-cards",
        Kind::Integer,
        "Maximum cards",
        "The most cards returned (the contraindication warning first, then the step-therapy warning, then the info card).",
    ),
    (
        "show-info-cards",
        Kind::Boolean,
        "Show info cards",
        "Return the order-select monitoring card when documented first-line failures back the order.",
    ),
    ("alert-non-serious", Kind::Boolean, "Alert non-serious", "When false, return only warning cards (no info card)."),
    (
        "patient-view-interval-days",
        Kind::Integer,
        "Days between chart-open warnings",
        "On patient-view, show the step-therapy warning for a patient at most once in this many days (0: on every chart open).",
    ),
];

impl CardOptions {
    /// These defaults overlaid by what the request's extension sets.
    pub fn with_request(mut self, extension: Option<&Value>) -> Result<Self, HookError> {
        let Some(config) = extension.and_then(|e| e.get(REQUEST_EXTENSION)) else { return Ok(self) };
        let Some(config) = config.as_object() else {
            return Err(HookError::BadOption(format!(
                "extension.{REQUEST_EXTENSION}: must be an object of option codes"
            )));
        };
        for (code, kind, _, _) in &OPTIONS {
            let Some(value) = config.get(*code) else { continue };
            let wrong = |expected: &str| {
                HookError::BadOption(format!("extension.{REQUEST_EXTENSION}.{code}: must be {expected}"))
            };
            match kind {
                Kind::Boolean => {
                    let b = value.as_bool().ok_or_else(|| wrong("a boolean"))?;
                    match *code {
                        "filter-out-repeated-alerts" => self.filter_out_repeated_alerts = b,
                        "show-info-cards" => self.show_info_cards = b,
                        _ => self.alert_non_serious = b,
                    }
                }
                Kind::Integer => {
                    let n = value
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| wrong("a non-negative integer"))?;
                    match *code {
                        "max-cards" => self.max_cards = n,
                        _ => self.patient_view_interval_days = n,
                    }
                }
            }
        }
        Ok(self)
    }

    /// The discovery extension: every option with its type and this site's default.
    pub fn discovery(&self) -> Value {
        let options: Vec<Value> = OPTIONS
            .iter()
            .map(|(code, kind, name, description)| {
                let (kind, default) = match (kind, *code) {
                    (Kind::Integer, "max-cards") => ("integer", json!(self.max_cards)),
                    (Kind::Integer, _) => ("integer", json!(self.patient_view_interval_days)),
                    (Kind::Boolean, "filter-out-repeated-alerts") => {
                        ("boolean", json!(self.filter_out_repeated_alerts))
                    }
                    (Kind::Boolean, "show-info-cards") => ("boolean", json!(self.show_info_cards)),
                    (Kind::Boolean, _) => ("boolean", json!(self.alert_non_serious)),
                };
                json!({ "code": code, "type": kind, "name": name, "description": description, "default": default })
            })
            .collect();
        json!({ DISCOVERY_EXTENSION: options })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_options_overlay_the_defaults_and_unknown_ones_are_ignored() {
        let ext = json!({ REQUEST_EXTENSION: { "max-cards": 1, "show-info-cards": false, "davinci-other": "x" } });
        let options = CardOptions::default().with_request(Some(&ext)).unwrap();
        assert_eq!(options.max_cards, 1);
        assert!(!options.show_info_cards);
        assert!(options.filter_out_repeated_alerts && options.alert_non_serious);
        assert_eq!(CardOptions::default().with_request(None).unwrap(), CardOptions::default());
        assert_eq!(CardOptions::default().with_request(Some(&json!({"other": 1}))).unwrap(), CardOptions::default());
    }

    #[test]
    fn a_known_option_of_the_wrong_type_is_named() {
        for (code, value, expected) in [
            ("max-cards", json!("2"), "non-negative integer"),
            ("max-cards", json!(-1), "non-negative integer"),
            ("alert-non-serious", json!("false"), "boolean"),
            ("filter-out-repeated-alerts", json!(1), "boolean"),
        ] {
            let ext = json!({ REQUEST_EXTENSION: { code: value } });
            let err = CardOptions::default().with_request(Some(&ext)).unwrap_err().to_string();
            assert!(err.contains(code) && err.contains(expected), "{err}");
        }
        let err = CardOptions::default().with_request(Some(&json!({ REQUEST_EXTENSION: [1] }))).unwrap_err();
        assert!(err.to_string().contains("object"));
    }

    #[test]
    fn discovery_lists_every_option_with_the_site_default() {
        let site = CardOptions { max_cards: 2, patient_view_interval_days: 14, ..CardOptions::default() };
        let listed = site.discovery();
        let options = listed[DISCOVERY_EXTENSION].as_array().unwrap();
        let codes: Vec<&str> = options.iter().map(|o| o["code"].as_str().unwrap()).collect();
        assert_eq!(
            codes,
            [
                "filter-out-repeated-alerts",
                "max-cards",
                "show-info-cards",
                "alert-non-serious",
                "patient-view-interval-days"
            ]
        );
        assert_eq!(options[1]["type"], "integer");
        assert_eq!(options[1]["default"], 2);
        assert_eq!(options[4]["default"], 14);
        let asked = json!({ REQUEST_EXTENSION: { "patient-view-interval-days": 0 } });
        assert_eq!(site.with_request(Some(&asked)).unwrap().patient_view_interval_days, 0);
        assert_eq!(site.with_request(Some(&asked)).unwrap().max_cards, 2, "the other integer option is untouched");
        assert!(options.iter().all(|o| o["name"].is_string() && o["description"].is_string()));
    }
}
