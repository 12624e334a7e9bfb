//! Whether a feedback item may count: it names a card of the service it was sent to, an override
//! reason that card offered, and suggestions that card had. Checked when the item arrives (the
//! card known: a wrong item is refused with a 400 naming it) and again when a card arrives after
//! its feedback (a wrong item is then kept, marked, and counted apart in the report).
//!
//! An override reason the EHR built itself (Epic's own list, kept under
//! [`EPIC_REASON_SYSTEM`]) was offered by the EHR, not by the card: it counts.

use std::collections::HashSet;

use super::events::FeedbackRecord;
use crate::hooks::feedback::EPIC_REASON_SYSTEM;

/// A card as the store knows it, for checking feedback against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KnownCard {
    pub uuid: String,
    pub service: String,
    /// The override reasons it offered (`system|code`); `None` for a card kept before they were.
    pub override_reasons: Option<HashSet<String>>,
    pub suggestions: HashSet<String>,
    /// The rollout arm it was computed in (`live`, `silent`).
    pub arm: String,
}

/// `system|code`, as [`KnownCard::override_reasons`] holds a reason.
pub fn reason_key(system: &str, code: &str) -> String {
    format!("{system}|{code}")
}

/// Why the item does not count against its card, if it does not.
pub fn problem(item: &FeedbackRecord, card: &KnownCard) -> Option<String> {
    if card.arm != "live" {
        return Some(format!(
            "card '{}' was never shown: it was computed in the {} arm of the rollout",
            card.uuid, card.arm
        ));
    }
    if item.service != card.service {
        return Some(format!(
            "card '{}' is a card of service '{}', not of '{}'",
            card.uuid, card.service, item.service
        ));
    }
    if item.outcome == "overridden" {
        if let (Some(code), Some(offered)) = (&item.reason_code, &card.override_reasons) {
            let system = item.reason_system.as_deref().unwrap_or_default();
            if system != EPIC_REASON_SYSTEM && !offered.contains(&reason_key(system, code)) {
                return Some(format!(
                    "override reason '{code}' (system '{system}') is not one card '{}' offered",
                    card.uuid
                ));
            }
        }
    }
    let foreign = item.accepted.iter().find(|s| !card.suggestions.contains(*s))?;
    Some(format!("accepted suggestion '{foreign}' is not one of card '{}'s suggestions", card.uuid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> KnownCard {
        KnownCard {
            uuid: "c1".into(),
            service: "ketamine-order-sign".into(),
            override_reasons: Some([reason_key("urn:reasons", "crps")].into()),
            suggestions: ["s1".to_owned()].into(),
            arm: "live".into(),
        }
    }

    fn item(outcome: &str, reason: Option<(&str, &str)>, accepted: &[&str]) -> FeedbackRecord {
        FeedbackRecord {
            id: "f".into(),
            card_uuid: "c1".into(),
            received_at: 0,
            service: "ketamine-order-sign".into(),
            outcome: outcome.into(),
            reason_system: reason.map(|r| r.0.to_owned()),
            reason_code: reason.map(|r| r.1.to_owned()),
            reason_display: None,
            outcome_at: None,
            comment: None,
            accepted: accepted.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn an_item_counts_only_with_what_its_card_offered() {
        assert_eq!(problem(&item("overridden", Some(("urn:reasons", "crps")), &[]), &card()), None);
        assert_eq!(problem(&item("overridden", None, &[]), &card()), None, "an override may give no reason");
        assert_eq!(problem(&item("accepted", None, &["s1"]), &card()), None);
        let wrong = problem(&item("overridden", Some(("urn:reasons", "made-up")), &[]), &card()).unwrap();
        assert_eq!(wrong, "override reason 'made-up' (system 'urn:reasons') is not one card 'c1' offered");
        let typo = problem(&item("overridden", Some(("urn:reasonz", "crps")), &[]), &card());
        assert!(typo.is_some(), "the system is part of the reason");
        let epic = item("overridden", Some((EPIC_REASON_SYSTEM, "7")), &[]);
        assert_eq!(problem(&epic, &card()), None, "Epic's own reasons are the EHR's offer");
        let foreign = problem(&item("accepted", None, &["s9"]), &card()).unwrap();
        assert_eq!(foreign, "accepted suggestion 's9' is not one of card 'c1's suggestions");
        let mut elsewhere = item("accepted", None, &["s1"]);
        elsewhere.service = "ketamine-order-select".into();
        assert!(problem(&elsewhere, &card()).unwrap().contains("a card of service 'ketamine-order-sign'"));
        let old = KnownCard { override_reasons: None, ..card() };
        assert_eq!(problem(&item("overridden", Some(("x", "y")), &[]), &old), None, "not known: not checked");
        let silent = KnownCard { arm: "silent".into(), ..card() };
        let never_shown = problem(&item("overridden", None, &[]), &silent).unwrap();
        assert_eq!(never_shown, "card 'c1' was never shown: it was computed in the silent arm of the rollout");
    }
}
