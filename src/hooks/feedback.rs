//! CDS Hooks feedback (`POST /cds-services/{id}/feedback`): parsed and checked here, logged by
//! the HTTP layer and kept by the store. The free-text `userComment` is kept only when the site
//! turns that on.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accepted,
    Overridden,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReasonCoding {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

/// Why a card was overridden: the service's coded reason, or one the EHR built (Epic's, read
/// as a coding of [`EPIC_REASON_SYSTEM`] whose code is its category).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideReason {
    pub reason: Option<ReasonCoding>,
    /// Kept only when the site turns that on (`store.keep_comments`): it may hold PHI.
    pub user_comment: Option<String>,
    /// Epic's reason built in Epic: `com.epic.cdshooks.feedback.overrideReason.*` keys.
    #[serde(default)]
    extension: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AcceptedSuggestion {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub card: String,
    pub outcome: Outcome,
    pub accepted_suggestions: Vec<AcceptedSuggestion>,
    pub override_reason: Option<OverrideReason>,
    pub outcome_timestamp: String,
}

/// One feedback item as a client sends it: CDS Hooks 2.0's `overrideReason`, or Epic's
/// `overrideReasons` (one object, or a list of them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    card: String,
    outcome: Outcome,
    #[serde(default)]
    accepted_suggestions: Vec<AcceptedSuggestion>,
    override_reason: Option<OverrideReason>,
    override_reasons: Option<OneOrMany>,
    outcome_timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(OverrideReason),
    Many(Vec<OverrideReason>),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Body {
    feedback: Vec<Value>,
}

/// The code system an Epic-built override reason is kept under (its code is Epic's category).
pub const EPIC_REASON_SYSTEM: &str = "urn:com.epic.cdshooks.feedback.override-reason-category";
const EPIC_REASON: &str = "com.epic.cdshooks.feedback.overrideReason.";

/// How EHR-built override reasons are read: an Epic category a site maps (`[feedback]
/// epic_reason_map`) becomes the service's own reason code of `system`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReasonMap<'a> {
    pub epic: Option<&'a BTreeMap<String, String>>,
    /// The service's override-reason CodeSystem.
    pub system: &'a str,
}

/// Parses a feedback body; the error says what is wrong in words a client developer can act on.
pub fn parse(body: &[u8]) -> Result<Vec<Entry>, String> {
    parse_with(body, ReasonMap::default())
}

/// As [`parse`], reading EHR-built override reasons with `reasons`. Every item is read or the
/// body is refused naming the item: one item of an unknown shape never drops the others.
pub fn parse_with(body: &[u8], reasons: ReasonMap<'_>) -> Result<Vec<Entry>, String> {
    let body: Body = serde_json::from_slice(body).map_err(|e| format!("feedback body: {e}"))?;
    if body.feedback.is_empty() {
        return Err("feedback body: 'feedback' must hold at least one entry".into());
    }
    let mut entries = Vec::with_capacity(body.feedback.len());
    for (i, item) in body.feedback.into_iter().enumerate() {
        let item: Item = serde_json::from_value(item).map_err(|e| format!("feedback[{i}]: {e}"))?;
        if item.card.is_empty() {
            return Err(format!("feedback[{i}].card: must be the uuid of a card"));
        }
        let plural = match item.override_reasons {
            Some(OneOrMany::One(reason)) => Some(reason),
            Some(OneOrMany::Many(list)) => list.into_iter().next(),
            None => None,
        };
        let override_reason = item.override_reason.or(plural).map(|r| read_reason(r, reasons));
        if item.outcome == Outcome::Accepted && override_reason.is_some() {
            return Err(format!("feedback[{i}]: an accepted card has no overrideReason"));
        }
        entries.push(Entry {
            card: item.card,
            outcome: item.outcome,
            accepted_suggestions: item.accepted_suggestions,
            override_reason,
            outcome_timestamp: item.outcome_timestamp,
        });
    }
    Ok(entries)
}

/// A reason the EHR built (Epic's category, display, title) as a coding: the service's own
/// code when the site maps the category, else Epic's category under [`EPIC_REASON_SYSTEM`].
fn read_reason(mut reason: OverrideReason, map: ReasonMap<'_>) -> OverrideReason {
    let Some(extension) = reason.extension.take() else { return reason };
    if reason.reason.is_some() {
        return reason;
    }
    let field = |name: &str| match extension.get(&format!("{EPIC_REASON}{name}")) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let Some(category) = field("reasonCategory") else { return reason };
    let display = field("reasonDisplay").or_else(|| field("reasonTitle"));
    reason.reason = Some(match map.epic.and_then(|m| m.get(&category)) {
        Some(ours) => ReasonCoding { system: Some(map.system.to_owned()), code: Some(ours.clone()), display: None },
        None => ReasonCoding { system: Some(EPIC_REASON_SYSTEM.to_owned()), code: Some(category), display },
    });
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_with_coded_reason_is_read() {
        let body = br#"{"feedback":[{"card":"c1","outcome":"overridden","overrideReason":{"reason":{"system":"s","code":"crps"},"userComment":"free text"},"outcomeTimestamp":"2026-01-01T00:00:00Z"}]}"#;
        let entries = parse(body).unwrap();
        assert_eq!(entries[0].outcome, Outcome::Overridden);
        assert_eq!(entries[0].override_reason.as_ref().unwrap().reason.as_ref().unwrap().code.as_deref(), Some("crps"));
    }

    #[test]
    fn unknown_outcome_and_empty_list_are_rejected() {
        assert!(parse(br#"{"feedback":[]}"#).unwrap_err().contains("at least one"));
        let bad = br#"{"feedback":[{"card":"c1","outcome":"ignored","outcomeTimestamp":"x"}]}"#;
        assert!(parse(bad).unwrap_err().contains("unknown variant"));
    }

    #[test]
    fn epic_override_reasons_are_read_as_one_object_or_a_list() {
        let ours = br#"{"feedback":[{"card":"c1","outcome":"overridden","overrideReasons":{"reason":{"system":"s","code":"crps","display":"CRPS"},"userComment":"x"},"outcomeTimestamp":"2026-01-01T00:00:00Z"},
            {"card":"c2","outcome":"overridden","overrideReasons":[{"reason":{"system":"s","code":"palliative-care"}}],"outcomeTimestamp":"2026-01-01T00:00:00Z"}]}"#;
        let entries = parse(ours).unwrap();
        let code = |e: &Entry| e.override_reason.as_ref()?.reason.as_ref()?.code.clone();
        assert_eq!(code(&entries[0]).as_deref(), Some("crps"));
        assert_eq!(entries[0].override_reason.as_ref().unwrap().user_comment.as_deref(), Some("x"));
        assert_eq!(code(&entries[1]).as_deref(), Some("palliative-care"));
    }

    #[test]
    fn an_epic_built_reason_is_kept_under_its_category_or_mapped_to_ours() {
        let body = br#"{"feedback":[{"card":"c1","outcome":"overridden","overrideReasons":{"extension":{
            "com.epic.cdshooks.feedback.overrideReason.reasonCategory":"45",
            "com.epic.cdshooks.feedback.overrideReason.reasonDisplay":"Does not meet criteria",
            "com.epic.cdshooks.feedback.overrideReason.reasonTitle":"Not applicable"}},"outcomeTimestamp":"2026-01-01T00:00:00Z"}]}"#;
        let reason = |entries: Vec<Entry>| entries[0].override_reason.clone().unwrap().reason.unwrap();
        let kept = reason(parse(body).unwrap());
        assert_eq!(kept.system.as_deref(), Some(EPIC_REASON_SYSTEM));
        assert_eq!(kept.code.as_deref(), Some("45"));
        assert_eq!(kept.display.as_deref(), Some("Does not meet criteria"));
        let map: BTreeMap<String, String> = [("45".to_owned(), "not-applicable".to_owned())].into();
        let mapped = reason(parse_with(body, ReasonMap { epic: Some(&map), system: "ours" }).unwrap());
        assert_eq!((mapped.system.as_deref(), mapped.code.as_deref()), (Some("ours"), Some("not-applicable")));
    }

    #[test]
    fn an_item_of_an_unknown_shape_is_refused_by_its_place() {
        let body = br#"{"feedback":[{"card":"c1","outcome":"accepted","outcomeTimestamp":"t"},{"card":"c2","outcome":"overridden","overrideReasons":"no","outcomeTimestamp":"t"}]}"#;
        let error = parse(body).unwrap_err();
        assert!(error.starts_with("feedback[1]:"), "{error}");
    }
}
