//! CDS Hooks feedback (`POST /cds-services/{id}/feedback`): parsed and checked here, logged by
//! the HTTP layer and kept by the store. The free-text `userComment` is kept only when the site
//! turns that on.

use serde::Deserialize;

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
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideReason {
    pub reason: Option<ReasonCoding>,
    /// Kept only when the site turns that on (`store.keep_comments`): it may hold PHI.
    pub user_comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AcceptedSuggestion {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub card: String,
    pub outcome: Outcome,
    #[serde(default)]
    pub accepted_suggestions: Vec<AcceptedSuggestion>,
    pub override_reason: Option<OverrideReason>,
    pub outcome_timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Body {
    feedback: Vec<Entry>,
}

/// Parses a feedback body; the error says what is wrong in words a client developer can act on.
pub fn parse(body: &[u8]) -> Result<Vec<Entry>, String> {
    let body: Body = serde_json::from_slice(body).map_err(|e| format!("feedback body: {e}"))?;
    if body.feedback.is_empty() {
        return Err("feedback body: 'feedback' must hold at least one entry".into());
    }
    for (i, entry) in body.feedback.iter().enumerate() {
        if entry.card.is_empty() {
            return Err(format!("feedback[{i}].card: must be the uuid of a card"));
        }
        if entry.outcome == Outcome::Accepted && entry.override_reason.is_some() {
            return Err(format!("feedback[{i}]: an accepted card has no overrideReason"));
        }
    }
    Ok(body.feedback)
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
}
