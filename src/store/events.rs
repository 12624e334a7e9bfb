//! What the store keeps, as plain rows built from a call's answer or a feedback body: cards
//! issued (with their suggestions), calls that examined a ketamine order, feedback items. Ids
//! are keyed hashes ([`Keys`]); nothing here is PHI.

use crate::call::{CallIds, CallOutcome};
use crate::hooks::feedback::{Entry, Outcome};
use crate::hooks::response::{Card, CardFacts};

use super::keys::Keys;

#[derive(Debug, Clone, PartialEq)]
pub struct IssuedSuggestion {
    pub uuid: String,
    pub class: String,
    pub agent: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IssuedCard {
    pub uuid: String,
    pub issued_at: i64,
    pub service: String,
    pub hook: String,
    pub hook_instance: String,
    /// `step-therapy`, `contraindication` or `info`.
    pub kind: String,
    pub indicator: String,
    /// `class=status` joined by `,`.
    pub classes: String,
    pub knowledge_version: String,
    pub patient_key: String,
    pub encounter_key: Option<String>,
    pub order_key: String,
    pub suppressed: bool,
    pub suggestions: Vec<IssuedSuggestion>,
    /// The override reasons it offered, `system|code`.
    pub override_reasons: Vec<String>,
    /// The rollout arm: `live` (shown or held back) or `silent` (what would have been).
    pub arm: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExaminedCall {
    pub id: String,
    pub at: i64,
    pub service: String,
    pub hook: String,
    pub outcome: CallOutcome,
    pub orders: i64,
    pub knowledge_version: String,
    /// What triggered the call, as the EHR said (Epic's `bpa-trigger-action`).
    pub trigger: Option<String>,
    /// The rollout arm of the call.
    pub arm: String,
}

/// One row written by the hook path (through the queue).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Card(IssuedCard),
    Examined(ExaminedCall),
    /// A chart-open (patient-view) step-therapy warning shown: the patient's key and when.
    ChartOpen {
        patient_key: String,
        at: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeedbackRecord {
    pub id: String,
    pub card_uuid: String,
    pub received_at: i64,
    pub service: String,
    pub outcome: String,
    pub reason_system: Option<String>,
    pub reason_code: Option<String>,
    /// How the reason reads, as the feedback gave it (an EHR-built reason).
    pub reason_display: Option<String>,
    pub outcome_at: Option<i64>,
    pub comment: Option<String>,
    pub accepted: Vec<String>,
}

/// The call a set of rows comes from.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    pub service: &'a str,
    pub hook: &'a str,
    pub ids: &'a CallIds,
    pub knowledge_version: &'a str,
    pub at: i64,
    /// What triggered the call, as the EHR said.
    pub trigger: Option<&'a str>,
    /// The rollout arm (`live`, `silent`).
    pub arm: &'a str,
}

/// The key of the orders a card speaks for: orders without ids are keyed by the call, so they
/// never match another call's.
pub fn order_key(keys: &Keys, ids: &CallIds, facts: &CardFacts) -> String {
    if facts.orders.is_empty() { keys.order(&ids.hook_instance) } else { keys.order(&facts.orders.join("+")) }
}

/// The rows of one answered call: the call (when it examined a ketamine order), its cards shown
/// and those held back (suppressed).
pub fn of_call(
    call: &CallContext<'_>,
    outcome: Option<CallOutcome>,
    examined_orders: usize,
    shown: &[Card],
    held_back: &[&Card],
    keys: &Keys,
) -> Vec<Event> {
    let Some(outcome) = outcome else { return Vec::new() };
    let mut events = Vec::with_capacity(1 + shown.len() + held_back.len());
    events.push(Event::Examined(ExaminedCall {
        id: uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("{}|{}", call.service, call.ids.hook_instance).as_bytes(),
        )
        .to_string(),
        at: call.at,
        service: call.service.to_owned(),
        hook: call.hook.to_owned(),
        outcome,
        orders: examined_orders as i64,
        knowledge_version: call.knowledge_version.to_owned(),
        trigger: call.trigger.map(str::to_owned),
        arm: call.arm.to_owned(),
    }));
    let patient_key = keys.patient(&call.ids.patient_id);
    let encounter_key = call.ids.encounter_id.as_deref().map(|e| keys.encounter(e));
    let cards = shown.iter().map(|c| (c, false)).chain(held_back.iter().map(|c| (*c, true)));
    for (card, suppressed) in cards {
        // What each suggestion stands for, as the cards step said: never read back from the
        // actions' resources, whose shape is the client's (FHIR version, EHR profile).
        let suggestions = card
            .suggestions
            .iter()
            .map(|s| {
                let fact = s.stands_for.as_ref();
                IssuedSuggestion {
                    uuid: s.uuid.clone(),
                    class: fact.map_or_else(|| "unknown".to_owned(), |f| f.class.clone()),
                    agent: fact.map_or_else(|| s.label.clone(), |f| f.agent.clone()),
                }
            })
            .collect();
        events.push(Event::Card(IssuedCard {
            uuid: card.uuid.clone(),
            issued_at: call.at,
            service: call.service.to_owned(),
            hook: call.hook.to_owned(),
            hook_instance: call.ids.hook_instance.clone(),
            kind: card.facts.kind.code().to_owned(),
            indicator: card.indicator.name().to_owned(),
            classes: card.facts.classes_key(),
            knowledge_version: call.knowledge_version.to_owned(),
            patient_key: patient_key.clone(),
            encounter_key: encounter_key.clone(),
            order_key: order_key(keys, call.ids, &card.facts),
            suppressed,
            suggestions,
            override_reasons: card
                .override_reasons
                .iter()
                .map(|r| super::validity::reason_key(&r.system, &r.code))
                .collect(),
            arm: call.arm.to_owned(),
        }));
    }
    events
}

/// The rows of a feedback body. An item's id is a digest of what it says, so the same item sent
/// again (an EHR retrying after a 503) is kept once.
pub fn of_feedback(service: &str, entries: &[Entry], received_at: i64, keep_comments: bool) -> Vec<FeedbackRecord> {
    entries
        .iter()
        .map(|entry| {
            let outcome = match entry.outcome {
                Outcome::Accepted => "accepted",
                Outcome::Overridden => "overridden",
            };
            let reason = entry.override_reason.as_ref().and_then(|r| r.reason.as_ref());
            let accepted: Vec<String> = entry.accepted_suggestions.iter().map(|s| s.id.clone()).collect();
            let digest = format!(
                "{}|{}|{}|{}|{}|{}",
                entry.card,
                outcome,
                reason.and_then(|r| r.system.as_deref()).unwrap_or_default(),
                reason.and_then(|r| r.code.as_deref()).unwrap_or_default(),
                entry.outcome_timestamp,
                accepted.join(" ")
            );
            FeedbackRecord {
                id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, digest.as_bytes()).to_string(),
                card_uuid: entry.card.clone(),
                received_at,
                service: service.to_owned(),
                outcome: outcome.to_owned(),
                reason_system: reason.and_then(|r| r.system.clone()),
                reason_code: reason.and_then(|r| r.code.clone()),
                reason_display: reason.and_then(|r| r.display.clone()),
                outcome_at: millis_of(&entry.outcome_timestamp),
                comment: if keep_comments {
                    entry.override_reason.as_ref().and_then(|r| r.user_comment.clone())
                } else {
                    None
                },
                accepted,
            }
        })
        .collect()
}

pub use crate::clock::{millis, millis_of};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_is_kept_only_when_the_site_says_so_and_the_same_item_has_the_same_id() {
        let body = br#"{"feedback":[{"card":"c1","outcome":"overridden","overrideReason":{"reason":{"system":"s","code":"crps"},"userComment":"seen by Dr X"},"outcomeTimestamp":"2026-12-02T10:00:00Z"}]}"#;
        let entries = crate::hooks::feedback::parse(body).unwrap();
        let dropped = of_feedback("svc", &entries, 1, false);
        assert_eq!(dropped[0].comment, None);
        let kept = of_feedback("svc", &entries, 2, true);
        assert_eq!(kept[0].comment.as_deref(), Some("seen by Dr X"));
        assert_eq!(dropped[0].id, kept[0].id, "a retry of the same item is the same row");
        assert_eq!(kept[0].reason_code.as_deref(), Some("crps"));
        assert_eq!(kept[0].outcome_at, millis_of("2026-12-02T10:00:00Z"));
        assert_eq!(millis_of("not a time"), None);
    }
}
