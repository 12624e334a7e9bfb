//! What a replay found, tallied order by order: the would-be cards by kind and indicator, firings
//! per 100 orders by week, the first-line classes the step-therapy cards found undocumented,
//! contraindications, suggestions, orders that would have been silent and why, orders not
//! replayed, malformed lines — and, comparing two knowledge sets, the orders whose answer
//! changes. `--format json` prints [`Summary`] as is: a stable interface. Patients and orders
//! appear only as keyed hashes ([`Keys`]), never as ids.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Malformed, Replayed, Scan};
use crate::call::{CallOutcome, Evaluation};
use crate::hooks::Card;
use crate::report::KINDS;
use crate::store::keys::Keys;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayWeek {
    /// The Monday (UTC) the week starts.
    pub week_start: String,
    pub orders: u64,
    pub cards: u64,
    pub firings_per_100_orders: Option<f64>,
}

/// A card as a change is told: enough to see what differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardDigest {
    pub kind: String,
    pub indicator: String,
    pub summary: String,
    /// `class=status`, joined by `,`.
    pub classes: String,
    pub suggestions: Vec<String>,
}

/// An order whose answer changes under the knowledge compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub order_key: String,
    pub patient_key: String,
    pub day: String,
    pub before: Vec<CardDigest>,
    pub after: Vec<CardDigest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Unreplayable {
    pub count: u64,
    pub reasons: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct MalformedLines {
    pub count: u64,
    /// The first 1,000, with file and line number.
    pub lines: Vec<Malformed>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Files {
    pub read: u64,
    /// Files of types the replay does not read (never parsed), by type.
    pub skipped: BTreeMap<String, u64>,
    /// NDJSON bytes read (decompressed), both passes.
    pub bytes_read: u64,
    pub lines_read: u64,
}

/// A replay's findings.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Summary {
    pub knowledge_version: String,
    /// With `--compare-profiles`: the version compared.
    pub compare_knowledge_version: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// `K/N` when one shard was replayed.
    pub shard: Option<String>,
    /// Ketamine orders replayed, and their patients.
    pub orders_replayed: u64,
    pub patients: u64,
    /// Cards computed, by kind (`step-therapy`, `contraindication`, `info`) and by indicator.
    pub cards: BTreeMap<String, u64>,
    pub cards_by_indicator: BTreeMap<String, u64>,
    /// Of the cards computed, those the site's card options would hold back (none remembered).
    pub cards_held_back: u64,
    pub firings_per_100_orders: Option<f64>,
    pub weeks: Vec<ReplayWeek>,
    /// On the step-therapy cards: each first-line class's status, counted.
    pub class_statuses: BTreeMap<String, BTreeMap<String, u64>>,
    /// Orders with a contraindication card.
    pub contraindications: u64,
    /// Suggestions the cards would have offered, by agent.
    pub suggestions: BTreeMap<String, u64>,
    /// Orders answered with no card, by why: `not-applicable` (not for neuropathic pain, or an
    /// exclusion), `backed` (first-line failures documented), `held-back` (a card option).
    pub silent_orders: BTreeMap<String, u64>,
    pub unreplayable: Unreplayable,
    pub malformed_lines: MalformedLines,
    pub files: Files,
    /// With `--compare-profiles`: how many orders' answers change, and each change.
    pub changed_orders: Option<u64>,
    pub changes: Option<Vec<Change>>,
    /// How patients and orders are keyed: `site secret` (the store's, or
    /// KETAMINE_CDS_STORE__PATIENT_KEY_SECRET) or `random per run`.
    pub keys: String,
    #[serde(skip)]
    week_counts: BTreeMap<i64, (u64, u64)>,
}

impl Summary {
    pub fn new(knowledge_version: &str, compare: Option<&str>) -> Self {
        Self {
            knowledge_version: knowledge_version.to_owned(),
            compare_knowledge_version: compare.map(str::to_owned),
            cards: KINDS.iter().map(|k| ((*k).to_owned(), 0)).collect(),
            changes: compare.map(|_| Vec::new()),
            ..Self::default()
        }
    }

    /// Tallies one replayed order.
    pub fn add(&mut self, order: &Replayed<'_>, keys: &Keys) {
        let Ok(evaluation) = order.answer else { return };
        self.orders_replayed += 1;
        let computed: Vec<&Card> = evaluation.computed_cards().collect();
        self.cards_held_back += evaluation.held_back.len() as u64;
        for card in &computed {
            *self.cards.entry(card.facts.kind.code().to_owned()).or_default() += 1;
            *self.cards_by_indicator.entry(card.indicator.name().to_owned()).or_default() += 1;
            for suggestion in &card.suggestions {
                let agent = suggestion.stands_for.as_ref().map_or(suggestion.label.as_str(), |f| f.agent.as_str());
                *self.suggestions.entry(agent.to_owned()).or_default() += 1;
            }
            if card.facts.kind.code() == "step-therapy" {
                for (class, status) in &card.facts.classes {
                    *self.class_statuses.entry(class.clone()).or_default().entry(status.clone()).or_default() += 1;
                }
            }
        }
        if computed.iter().any(|c| c.facts.kind.code() == "contraindication") {
            self.contraindications += 1;
        }
        if evaluation.response.cards.is_empty() {
            let why = match evaluation.outcome {
                _ if !evaluation.held_back.is_empty() => "held-back",
                Some(CallOutcome::Backed) => "backed",
                _ => "not-applicable",
            };
            *self.silent_orders.entry(why.to_owned()).or_default() += 1;
        }
        let week = crate::report::parse_time(order.day).map_or(0, crate::report::week_of);
        let counts = self.week_counts.entry(week).or_default();
        counts.0 += 1;
        counts.1 += computed.len() as u64;
        if let Some(Ok(after)) = order.compared {
            let (before, after) = (digests(evaluation), digests(after));
            if before != after {
                if let Some(changes) = self.changes.as_mut() {
                    changes.push(Change {
                        order_key: keys.order(order.order_id),
                        patient_key: keys.patient(order.patient_id),
                        day: order.day.to_owned(),
                        before,
                        after,
                    });
                }
            }
        }
    }

    /// Closes the tally with what the passes read.
    pub fn finish(mut self, scan: Scan) -> Self {
        let cards: u64 = self.cards.values().sum();
        self.firings_per_100_orders =
            (self.orders_replayed > 0).then(|| cards as f64 * 100.0 / self.orders_replayed as f64);
        self.weeks = self
            .week_counts
            .iter()
            .map(|(week, (orders, cards))| ReplayWeek {
                week_start: crate::report::week_start(*week),
                orders: *orders,
                cards: *cards,
                firings_per_100_orders: (*orders > 0).then(|| *cards as f64 * 100.0 / *orders as f64),
            })
            .collect();
        self.patients = scan.patients;
        let malformed = scan.malformed_count();
        self.unreplayable =
            Unreplayable { count: scan.unreplayable.values().sum(), reasons: scan.unreplayable.into_iter().collect() };
        self.malformed_lines = MalformedLines { count: malformed, lines: scan.malformed };
        self.files = Files {
            read: scan.files_read,
            skipped: scan.files_skipped.into_iter().collect(),
            bytes_read: scan.bytes_read,
            lines_read: scan.lines_read,
        };
        if let Some(changes) = self.changes.as_mut() {
            changes.sort_by(|a, b| (&a.day, &a.order_key).cmp(&(&b.day, &b.order_key)));
            self.changed_orders = Some(changes.len() as u64);
        }
        self
    }
}

/// The cards of an answer (shown and held back), as a change compares them: in a stable order.
pub fn digests(evaluation: &Evaluation) -> Vec<CardDigest> {
    let mut digests: Vec<CardDigest> = evaluation
        .computed_cards()
        .map(|card| CardDigest {
            kind: card.facts.kind.code().to_owned(),
            indicator: card.indicator.name().to_owned(),
            summary: card.summary.clone(),
            classes: card.facts.classes_key(),
            suggestions: card.suggestions.iter().map(|s| s.label.clone()).collect(),
        })
        .collect();
    digests.sort_by(|a, b| (&a.kind, &a.summary, &a.classes).cmp(&(&b.kind, &b.summary, &b.classes)));
    digests
}
