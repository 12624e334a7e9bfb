//! Which of the cards a call computed the clinician sees (alert fatigue, one step of the call):
//! the card options in force (`show-info-cards`, `alert-non-serious`, `max-cards`), then for the
//! step-therapy warning a snooze, order-sign's no-repeat rule and chart-open's interval. What the
//! store remembers comes in through [`Remembers`] ([`Nothing`] for tests and a command line
//! without a store), so the step is a plain function of the cards, the call and that memory.
//!
//! Every computed card leaves with its fate: the ones to show, and the ones held back with what
//! held them. The store records both alike (a held-back card is a firing the site chose not to
//! show, counted apart from the shown ones); the call's log line counts the held-back cards by
//! cause, the playground shows them as such, and `evaluate --store` prints them.

use std::collections::BTreeSet;

use super::CallIds;
use crate::guideline::Hook;
use crate::hooks::options::CardOptions;
use crate::hooks::response::{Card, CardFacts, CardKind, Indicator};

/// The response extension that lists the cards held back (playground calls, `evaluate --store`;
/// never an EHR's answer).
pub const HELD_BACK: &str = "ketamine-cds-held-back";

/// A snooze as the store remembers it: the overridden card that holds the warning back, the
/// override reason's code, and until when (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snoozed {
    pub overridden_card: String,
    pub reason: String,
    pub until: i64,
}

/// What the store remembers, as the fatigue step asks it.
pub trait Remembers: Sync {
    /// The snooze that holds back this patient's step-therapy card showing these facts under
    /// this knowledge version (the rule and the class statuses unchanged), if one is in force.
    fn snooze(&self, ids: &CallIds, facts: &CardFacts, knowledge_version: &str, now: i64) -> Option<Snoozed>;
    /// Whether this step-therapy card was overridden on order-select in the call's encounter.
    fn overridden_on_select(&self, ids: &CallIds, facts: &CardFacts) -> bool;
    /// Whether a chart-open warning may be shown to the patient (none was since `since`); when
    /// it may, it counts as shown `now` (one decision, so two chart opens at once show it once).
    fn chart_open_due(&self, ids: &CallIds, since: i64, now: i64) -> bool;
}

/// Remembers nothing: every card the options let through is shown.
pub struct Nothing;

impl Remembers for Nothing {
    fn snooze(&self, _: &CallIds, _: &CardFacts, _: &str, _: i64) -> Option<Snoozed> {
        None
    }
    fn overridden_on_select(&self, _: &CallIds, _: &CardFacts) -> bool {
        false
    }
    fn chart_open_due(&self, _: &CallIds, _: i64, _: i64) -> bool {
        true
    }
}

/// What held a card back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldBy {
    /// A card option of the site or the request: `show-info-cards`, `alert-non-serious` or
    /// `max-cards`.
    CardOption(&'static str),
    /// The patient's step-therapy warning was overridden with a reason that snoozes it.
    Snooze(Snoozed),
    /// Overridden on order-select in this encounter: order-sign does not repeat it.
    Repeat,
    /// Shown on a chart open of this patient within the interval (days).
    ChartOpenInterval(u32),
}

impl HeldBy {
    /// The cause as the log line and the playground name it.
    pub fn code(&self) -> &'static str {
        match self {
            HeldBy::CardOption(_) => "card-option",
            HeldBy::Snooze(_) => "snooze",
            HeldBy::Repeat => "repeat",
            HeldBy::ChartOpenInterval(_) => "chart-open-interval",
        }
    }

    /// One line saying why the card is not shown.
    pub fn describe(&self) -> String {
        match self {
            HeldBy::CardOption(option) => format!("held back by the card option {option}"),
            HeldBy::Snooze(s) => format!(
                "held back by a snooze until {}: card {} was overridden with reason '{}'",
                crate::clock::instant(s.until),
                s.overridden_card,
                s.reason
            ),
            HeldBy::Repeat => {
                "held back: overridden on order-select in this encounter, not repeated on order-sign".into()
            }
            HeldBy::ChartOpenInterval(days) => {
                format!("held back: shown on a chart open of this patient in the last {days} days")
            }
        }
    }
}

/// A card computed and not shown, with what held it back.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldBack {
    pub card: Card,
    pub by: HeldBy,
}

/// The cards to show, in the order computed, and the ones held back.
pub fn sort(
    cards: Vec<Card>,
    hook: Hook,
    options: &CardOptions,
    (ids, knowledge_version): (&CallIds, &str),
    remembered: &dyn Remembers,
    now: i64,
) -> (Vec<Card>, Vec<HeldBack>) {
    let (cards, mut held_back) = within_options(cards, options);
    let mut shown = Vec::with_capacity(cards.len());
    for card in cards {
        match held_by(&card, hook, options, (ids, knowledge_version), remembered, now) {
            Some(by) => held_back.push(HeldBack { card, by }),
            None => shown.push(card),
        }
    }
    (shown, held_back)
}

/// What holds a card the options let through back: only the step-therapy warning is ever held
/// (a safety card never is).
fn held_by(
    card: &Card,
    hook: Hook,
    options: &CardOptions,
    (ids, knowledge_version): (&CallIds, &str),
    remembered: &dyn Remembers,
    now: i64,
) -> Option<HeldBy> {
    if card.facts.kind != CardKind::StepTherapy {
        return None;
    }
    if let Some(snoozed) = remembered.snooze(ids, &card.facts, knowledge_version, now) {
        return Some(HeldBy::Snooze(snoozed));
    }
    if hook == Hook::OrderSign
        && options.filter_out_repeated_alerts
        && remembered.overridden_on_select(ids, &card.facts)
    {
        return Some(HeldBy::Repeat);
    }
    let days = options.patient_view_interval_days;
    if hook == Hook::PatientView && days > 0 {
        // On chart open: at most once per patient in the interval (it does not nag).
        let since = now.saturating_sub(i64::from(days) * 86_400_000);
        if !remembered.chart_open_due(ids, since, now) {
            return Some(HeldBy::ChartOpenInterval(days));
        }
    }
    None
}

/// The cards the negotiated options let through: info cards only if shown and non-serious
/// alerts are wanted, then at most `max_cards`, the safety card (contraindication) first, then
/// the step-therapy warning, then the info card; what is kept keeps its order.
fn within_options(cards: Vec<Card>, options: &CardOptions) -> (Vec<Card>, Vec<HeldBack>) {
    let mut held_back = Vec::new();
    let mut kept = Vec::with_capacity(cards.len());
    for card in cards {
        if card.indicator == Indicator::Info && !options.show_info_cards {
            held_back.push(HeldBack { card, by: HeldBy::CardOption("show-info-cards") });
        } else if card.indicator == Indicator::Info && !options.alert_non_serious {
            held_back.push(HeldBack { card, by: HeldBy::CardOption("alert-non-serious") });
        } else {
            kept.push(card);
        }
    }
    let limit = usize::try_from(options.max_cards).unwrap_or(usize::MAX);
    if kept.len() > limit {
        let rank = |c: &Card| match c.facts.kind {
            CardKind::Contraindication => 0,
            CardKind::StepTherapy => 1,
            CardKind::Info => 2,
        };
        let mut by_rank: Vec<usize> = (0..kept.len()).collect();
        by_rank.sort_by_key(|i| rank(&kept[*i]));
        let first: BTreeSet<usize> = by_rank.into_iter().take(limit).collect();
        let (within, over): (Vec<_>, Vec<_>) = kept.into_iter().enumerate().partition(|(i, _)| first.contains(i));
        held_back.extend(over.into_iter().map(|(_, card)| HeldBack { card, by: HeldBy::CardOption("max-cards") }));
        kept = within.into_iter().map(|(_, card)| card).collect();
    }
    (kept, held_back)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(kind: CardKind, indicator: Indicator) -> Card {
        use crate::hooks::response::Source;
        Card {
            uuid: kind.code().into(),
            summary: "s".into(),
            indicator,
            detail: None,
            source: Source { label: "l".into(), url: None, topic: None },
            suggestions: Vec::new(),
            selection_behavior: None,
            override_reasons: Vec::new(),
            links: Vec::new(),
            extension: serde_json::Map::new(),
            facts: CardFacts { kind, orders: vec!["MedicationRequest/k1".into()], ..CardFacts::default() },
        }
    }

    fn computed() -> Vec<Card> {
        vec![card(CardKind::StepTherapy, Indicator::Warning), card(CardKind::Contraindication, Indicator::Warning)]
    }

    /// Remembers one snooze, one order-select override and a chart open long ago.
    struct Recalls;

    impl Remembers for Recalls {
        fn snooze(&self, _: &CallIds, _: &CardFacts, version: &str, now: i64) -> Option<Snoozed> {
            (version == "v1").then(|| Snoozed { overridden_card: "c0".into(), reason: "crps".into(), until: now + 1 })
        }
        fn overridden_on_select(&self, _: &CallIds, _: &CardFacts) -> bool {
            true
        }
        fn chart_open_due(&self, _: &CallIds, since: i64, _: i64) -> bool {
            since > 1_000
        }
    }

    fn uuids(cards: &[Card]) -> Vec<&str> {
        cards.iter().map(|c| c.uuid.as_str()).collect()
    }

    #[test]
    fn a_snooze_holds_the_step_therapy_warning_back_never_the_safety_card() {
        let ids = CallIds::default();
        let options = CardOptions::default();
        let (shown, held) = sort(computed(), Hook::OrderSign, &options, (&ids, "v1"), &Recalls, 5_000);
        assert_eq!(uuids(&shown), ["contraindication"]);
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].card.uuid, "step-therapy");
        assert_eq!(held[0].by.code(), "snooze");
        assert!(held[0].by.describe().starts_with("held back by a snooze until 1970-01-01T00:00:05Z: card c0"));
    }

    #[test]
    fn another_rule_version_is_not_snoozed_and_order_sign_does_not_repeat_an_order_select_override() {
        let ids = CallIds::default();
        let mut options = CardOptions::default();
        let (shown, held) = sort(computed(), Hook::OrderSign, &options, (&ids, "v2"), &Recalls, 5_000);
        assert_eq!((uuids(&shown), held[0].by.clone()), (vec!["contraindication"], HeldBy::Repeat));
        options.filter_out_repeated_alerts = false;
        let (shown, held) = sort(computed(), Hook::OrderSign, &options, (&ids, "v2"), &Recalls, 5_000);
        assert_eq!((shown.len(), held.len()), (2, 0));
        let (shown, _) = sort(computed(), Hook::OrderSelect, &CardOptions::default(), (&ids, "v2"), &Recalls, 5_000);
        assert_eq!(shown.len(), 2, "the no-repeat rule is order-sign's");
    }

    #[test]
    fn chart_open_shows_the_warning_once_per_interval() {
        let ids = CallIds::default();
        let mut options = CardOptions::default();
        let day = 86_400_000;
        let (_, held) = sort(computed(), Hook::PatientView, &options, (&ids, "v2"), &Recalls, 7 * day);
        assert_eq!(held[0].by, HeldBy::ChartOpenInterval(7));
        let (shown, _) = sort(computed(), Hook::PatientView, &options, (&ids, "v2"), &Recalls, 8 * day);
        assert_eq!(shown.len(), 2, "the last showing is older than the interval");
        options.patient_view_interval_days = 0;
        let (shown, _) = sort(computed(), Hook::PatientView, &options, (&ids, "v2"), &Recalls, 7 * day);
        assert_eq!(shown.len(), 2, "0: every chart open");
    }

    #[test]
    fn options_hold_cards_back_by_name_the_safety_card_first() {
        let ids = CallIds::default();
        let mut options = CardOptions { max_cards: 1, ..CardOptions::default() };
        let (shown, held) = sort(computed(), Hook::OrderSign, &options, (&ids, "v2"), &Nothing, 0);
        assert_eq!(uuids(&shown), ["contraindication"]);
        assert_eq!(held[0].by, HeldBy::CardOption("max-cards"));
        options.max_cards = 10;
        options.show_info_cards = false;
        let info = vec![card(CardKind::Info, Indicator::Info)];
        let (shown, held) = sort(info.clone(), Hook::OrderSelect, &options, (&ids, "v2"), &Nothing, 0);
        assert_eq!((shown.len(), held[0].by.clone()), (0, HeldBy::CardOption("show-info-cards")));
        options.show_info_cards = true;
        options.alert_non_serious = false;
        let (_, held) = sort(info, Hook::OrderSelect, &options, (&ids, "v2"), &Nothing, 0);
        assert_eq!(held[0].by, HeldBy::CardOption("alert-non-serious"));
    }
}
