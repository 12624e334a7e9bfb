//! Override analytics from the store (`ketamine-cds report`, `GET /analytics`): how often the
//! rule fires per 100 examined ketamine orders (by hook, card kind and week, with control limits),
//! how often and why it is overridden, which suggestion is taken, how long clinicians take, and
//! where the knowledge changed. [`build`] is a plain function of the store's tallies; the
//! renderers ([`render`], [`html`]) turn a [`Report`] into text, JSON, CSV or a page.

pub mod html;
pub mod render;
pub mod spc;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::db::{FIRST_MONDAY_MS, Tallies, WEEK_MS};
use spc::Control;

/// The card kinds, as the cards' extension names them.
pub const KINDS: [&str; 3] = ["step-therapy", "contraindication", "info"];

/// The report's time window: `[since, until)`, Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: i64,
    pub until: i64,
}

impl Window {
    /// The 26 weeks before `until` (the page's and the command's default).
    pub fn weeks_before(until: i64, weeks: i64) -> Self {
        Self { since: until.saturating_sub(weeks.saturating_mul(WEEK_MS)), until }
    }
}

/// A date (`2026-11-01`, midnight UTC) or an RFC 3339 instant, as Unix milliseconds.
pub fn parse_time(value: &str) -> Option<i64> {
    if let Some(ms) = crate::clock::millis_of(value) {
        return Some(ms);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(value, &format).ok()?;
    Some(crate::clock::millis(date.midnight().assume_utc()))
}

/// The window of `since`/`until` (default: the 26 weeks before now).
pub fn window(since: Option<&str>, until: Option<&str>, now: i64) -> Result<Window, String> {
    let read = |name: &str, value: Option<&str>| -> Result<Option<i64>, String> {
        value
            .map(|v| parse_time(v).ok_or_else(|| format!("{name}: expected a date (2026-11-01) or an RFC 3339 time")))
            .transpose()
    };
    let until = read("until", until)?.unwrap_or(now);
    let since = read("since", since)?.unwrap_or_else(|| Window::weeks_before(until, 26).since);
    if since >= until {
        return Err("since must be before until".into());
    }
    Ok(Window { since, until })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackCounts {
    /// Cards with at least one overridden (accepted) feedback item.
    pub overridden: i64,
    pub accepted: i64,
    pub cards_with_feedback: i64,
    pub cards_without_feedback: i64,
    /// Feedback received for cards the store does not know (sent before the card was written,
    /// or for a card older than the retention); joined when the card is known.
    pub unmatched: i64,
    /// Feedback items that do not count: checked when their card arrived after them, they named
    /// another service's card, or a reason or a suggestion the card did not offer. (Such an
    /// item naming a card already known is refused with a 400 and never kept.)
    pub invalid: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuggestionRate {
    pub agent: String,
    pub offered: i64,
    pub accepted: i64,
    pub acceptance_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Week {
    /// The Monday (UTC) the week starts.
    pub week_start: String,
    pub examined_orders: i64,
    /// Cards of every kind issued in the week (suppressed ones included).
    pub firings: i64,
    pub firings_per_100_orders: Option<f64>,
    /// Per hook, per card kind: cards per 100 of that hook's examined orders.
    pub by_hook: BTreeMap<String, BTreeMap<String, f64>>,
    /// Limits from the weeks before (none until four weeks have orders).
    pub control: Option<Control>,
    pub out_of_control: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionMark {
    pub version: String,
    pub first_seen: String,
}

/// One hook's share of the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct HookCounts {
    pub examined_orders: i64,
    /// Cards computed (shown or held back), and those shown.
    pub cards: i64,
    pub cards_shown: i64,
}

/// Whether the malfunction alarm can sound, and whether it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmState {
    /// Control limits need four weeks with examined orders before the latest week.
    NotArmed,
    Quiet,
    Sounding,
}

/// Weeks with examined orders that control limits need before a week is judged.
pub const WEEKS_BEFORE_LIMITS: usize = 4;

/// The report: `--format json` prints it as is, a stable interface for other tools.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub since: String,
    pub until: String,
    /// Ketamine orders examined, and the calls that examined them by what the rule concluded
    /// (`not-applicable`, `backed`, `warned`).
    pub examined_orders: i64,
    pub examined_calls: BTreeMap<String, i64>,
    /// Those calls by what triggered them, as the EHR said (Epic's `bpa-trigger-action`;
    /// `none` when it did not say).
    pub examined_by_trigger: BTreeMap<String, i64>,
    /// Cards computed by kind: the rule's firings, shown or held back.
    pub cards: BTreeMap<String, i64>,
    /// Cards shown to the clinician, by kind: what feedback, override rates and suggestions
    /// offered are counted over.
    pub cards_shown: BTreeMap<String, i64>,
    /// Cards computed and held back (a snooze, a repeat, the chart-open interval, a card
    /// option), by kind.
    pub cards_held_back: BTreeMap<String, i64>,
    /// Cards held back, of every kind.
    pub suppressed: i64,
    pub feedback: FeedbackCounts,
    /// Overridden cards by reason code (`none` when the EHR sent no reason).
    pub override_reasons: BTreeMap<String, i64>,
    /// How each reason code of `override_reasons` reads: the service's own reasons as its
    /// CodeSystem words them, an EHR-built reason (Epic's category) as the EHR sent it.
    pub override_reason_displays: BTreeMap<String, String>,
    /// Accepted suggestions by suggested agent.
    pub accepted_suggestions: BTreeMap<String, i64>,
    pub suggestions: Vec<SuggestionRate>,
    /// Cards of every kind computed (shown or held back) per 100 examined ketamine orders: how
    /// often the rule fires (the alarm watches this).
    pub firings_per_100_orders: Option<f64>,
    /// Cards shown per 100 examined ketamine orders: how often a clinician sees one.
    pub shown_per_100_orders: Option<f64>,
    /// Overridden ÷ cards with feedback; by kind and by reason the same denominator per kind.
    pub override_rate: Option<f64>,
    pub override_rate_by_kind: BTreeMap<String, f64>,
    pub override_rate_by_reason: BTreeMap<String, f64>,
    pub cards_without_feedback: BTreeMap<String, i64>,
    /// Median of outcomeTimestamp − card issued, in minutes, over feedback that has both.
    pub median_minutes_to_outcome: Option<f64>,
    pub weeks: Vec<Week>,
    pub knowledge_versions: Vec<VersionMark>,
    /// The latest week's firing rate is outside its control limits.
    pub alarm: bool,
    /// `not-armed` (fewer than four earlier weeks with orders), `quiet` or `sounding`.
    pub alarm_state: AlarmState,
    /// Orders and cards by hook.
    pub by_hook: BTreeMap<String, HookCounts>,
    /// The silent arm of the rollout (calls whose cards were recorded, not shown), beside the
    /// live figures above (which count the live arm only). All zero when nothing ran silent.
    pub silent: ArmFigures,
    /// Replays of an export recorded in the store (`replay --store`), by run name: what the
    /// rule would have said, by the orders' own dates (every shard of a run counted together).
    pub replays: BTreeMap<String, ArmFigures>,
}

/// The figures of one rollout arm (the silent one): the same keys as the live report's.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ArmFigures {
    pub examined_orders: i64,
    /// Cards computed by kind: what would have fired (shown or held back).
    pub cards: BTreeMap<String, i64>,
    /// Of those, what would have been shown, and held back.
    pub cards_shown: BTreeMap<String, i64>,
    pub cards_held_back: BTreeMap<String, i64>,
    pub firings_per_100_orders: Option<f64>,
    pub shown_per_100_orders: Option<f64>,
    pub by_hook: BTreeMap<String, HookCounts>,
    pub weeks: Vec<Week>,
}

impl ArmFigures {
    fn of(report: Report) -> Self {
        Self {
            examined_orders: report.examined_orders,
            cards: report.cards,
            cards_shown: report.cards_shown,
            cards_held_back: report.cards_held_back,
            firings_per_100_orders: report.firings_per_100_orders,
            shown_per_100_orders: report.shown_per_100_orders,
            by_hook: report.by_hook,
            weeks: report.weeks,
        }
    }

    /// Something ran silent in the window.
    pub fn any(&self) -> bool {
        self.examined_orders > 0
    }
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn per_100(part: i64, whole: i64) -> Option<f64> {
    ratio(part, whole).map(|r| r * 100.0)
}

pub use crate::clock::instant;

/// `12.5%`, or `–` when there is nothing to divide.
pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

pub fn decimal(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"))
}

/// The index of the week (from Monday 00:00 UTC, as the store counts them) an instant falls in.
pub fn week_of(ms: i64) -> i64 {
    (ms - FIRST_MONDAY_MS).div_euclid(WEEK_MS)
}

/// The Monday a week index starts on.
pub fn week_start(week: i64) -> String {
    instant(week.saturating_mul(WEEK_MS).saturating_add(FIRST_MONDAY_MS)).get(..10).unwrap_or_default().to_owned()
}

/// The median of `values` (sorted here).
fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 0 { (values[mid - 1] as f64 + values[mid] as f64) / 2.0 } else { values[mid] as f64 })
}

impl Report {
    /// Names the service's own override reasons by their displays (`reasons`: the knowledge's),
    /// leaving the names an EHR sent for its own reasons.
    pub fn with_reason_names(mut self, reasons: &[crate::knowledge::Code]) -> Self {
        for code in self.override_reasons.keys() {
            if let Some(known) = reasons.iter().find(|r| &r.code == code) {
                self.override_reason_displays.insert(code.clone(), known.display.clone());
            }
        }
        self
    }

    /// How a reason code reads in the report: its display, else the code.
    pub fn reason_name<'a>(&'a self, code: &'a str) -> &'a str {
        self.override_reason_displays.get(code).map_or(code, String::as_str)
    }
}

pub fn build(mut tallies: Tallies, window: Window) -> Report {
    let examined_orders: i64 = tallies.examined.iter().map(|e| e.orders).sum();
    let mut examined_calls: BTreeMap<String, i64> = BTreeMap::new();
    for e in &tallies.examined {
        *examined_calls.entry(e.outcome.clone()).or_default() += e.calls;
    }
    let mut cards: BTreeMap<String, i64> = KINDS.iter().map(|k| ((*k).to_owned(), 0)).collect();
    for c in &tallies.cards {
        *cards.entry(c.kind.clone()).or_default() += c.cards;
    }
    let mut cards_shown: BTreeMap<String, i64> = KINDS.iter().map(|k| ((*k).to_owned(), 0)).collect();
    let mut cards_held_back = cards_shown.clone();
    for c in &tallies.cards {
        let split = if c.suppressed { &mut cards_held_back } else { &mut cards_shown };
        *split.entry(c.kind.clone()).or_default() += c.cards;
    }
    let suppressed: i64 = cards_held_back.values().sum();
    let all_cards: i64 = cards.values().sum();
    let shown: i64 = cards_shown.values().sum();

    let with_feedback: BTreeMap<String, i64> = tallies.with_feedback.iter().cloned().collect();
    let cards_with_feedback: i64 = with_feedback.values().sum();
    let outcome_of =
        |outcome: &str| -> i64 { tallies.outcomes.iter().filter(|o| o.outcome == outcome).map(|o| o.cards).sum() };
    let mut override_rate_by_kind = BTreeMap::new();
    for (kind, with) in &with_feedback {
        let overridden: i64 =
            tallies.outcomes.iter().filter(|o| &o.kind == kind && o.outcome == "overridden").map(|o| o.cards).sum();
        if let Some(rate) = ratio(overridden, *with) {
            override_rate_by_kind.insert(kind.clone(), rate);
        }
    }
    let mut override_reasons: BTreeMap<String, i64> = BTreeMap::new();
    let mut override_reason_displays: BTreeMap<String, String> = BTreeMap::new();
    for o in &tallies.override_reasons {
        let code = o.reason_code.clone().unwrap_or_else(|| "none".to_owned());
        if let Some(display) = &o.reason_display {
            override_reason_displays.insert(code.clone(), display.clone());
        }
        *override_reasons.entry(code).or_default() += o.cards;
    }
    let override_rate_by_reason =
        override_reasons.iter().filter_map(|(code, n)| Some((code.clone(), ratio(*n, cards_with_feedback)?))).collect();
    let cards_without_feedback: BTreeMap<String, i64> =
        cards_shown.iter().map(|(kind, n)| (kind.clone(), n - with_feedback.get(kind).copied().unwrap_or(0))).collect();

    let accepted: BTreeMap<String, i64> = tallies.accepted.iter().cloned().collect();
    let suggestions = tallies
        .offered
        .iter()
        .map(|(agent, offered)| {
            let taken = accepted.get(agent).copied().unwrap_or(0);
            SuggestionRate {
                agent: agent.clone(),
                offered: *offered,
                accepted: taken,
                acceptance_rate: ratio(taken, *offered),
            }
        })
        .collect();

    let weeks = weekly(&tallies);
    let alarm = weeks.last().is_some_and(|w| w.out_of_control);
    let alarm_state = match weeks.last() {
        Some(w) if w.out_of_control => AlarmState::Sounding,
        Some(w) if w.control.is_some() => AlarmState::Quiet,
        _ => AlarmState::NotArmed,
    };
    let mut by_hook: BTreeMap<String, HookCounts> = BTreeMap::new();
    for e in &tallies.examined {
        by_hook.entry(e.hook.clone()).or_default().examined_orders += e.orders;
    }
    for c in &tallies.cards {
        let counts = by_hook.entry(c.hook.clone()).or_default();
        counts.cards += c.cards;
        if !c.suppressed {
            counts.cards_shown += c.cards;
        }
    }
    let knowledge_versions = tallies
        .versions
        .iter()
        .map(|(version, first)| VersionMark { version: version.clone(), first_seen: instant(*first) })
        .collect();
    Report {
        since: instant(window.since),
        until: instant(window.until),
        examined_orders,
        examined_calls,
        firings_per_100_orders: per_100(all_cards, examined_orders),
        shown_per_100_orders: per_100(shown, examined_orders),
        cards,
        cards_shown,
        cards_held_back,
        suppressed,
        feedback: FeedbackCounts {
            overridden: outcome_of("overridden"),
            accepted: outcome_of("accepted"),
            cards_with_feedback,
            cards_without_feedback: shown - cards_with_feedback,
            unmatched: tallies.unmatched_feedback,
            invalid: tallies.invalid_feedback,
        },
        override_rate: ratio(outcome_of("overridden"), cards_with_feedback),
        override_rate_by_kind,
        override_rate_by_reason,
        override_reasons,
        override_reason_displays,
        examined_by_trigger: tallies.triggers.iter().cloned().collect(),
        accepted_suggestions: accepted,
        suggestions,
        cards_without_feedback,
        median_minutes_to_outcome: median(&mut tallies.delays_ms).map(|ms| ms / 60_000.0),
        weeks,
        knowledge_versions,
        alarm,
        alarm_state,
        by_hook,
        silent: ArmFigures::default(),
        replays: BTreeMap::new(),
    }
}

/// The report of the live arm with the silent arm's and the replay runs' figures beside it.
pub fn build_with_arms(arms: crate::store::db::Arms, window: Window) -> Report {
    let replays = arms.replays.into_iter().map(|(run, t)| (run, ArmFigures::of(build(t, window)))).collect();
    Report { silent: ArmFigures::of(build(arms.silent, window)), replays, ..build(arms.live, window) }
}

impl Report {
    /// The alarm's state in one line.
    pub fn alarm_line(&self) -> String {
        match self.alarm_state {
            AlarmState::Sounding => {
                "Malfunction alarm: SOUNDING — the latest week's firing rate is outside its control \
                 limits; check recent knowledge or EHR changes."
                    .to_owned()
            }
            AlarmState::Quiet => {
                "Malfunction alarm: quiet — the latest week's firing rate is within its control limits.".to_owned()
            }
            AlarmState::NotArmed => format!(
                "Malfunction alarm: not armed yet — control limits need {WEEKS_BEFORE_LIMITS} weeks with examined \
                 orders before the week judged ({} so far).",
                self.weeks.iter().filter(|w| w.examined_orders > 0).count()
            ),
        }
    }
}

/// What each figure of the report means (the page and the text print these).
pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "Cards computed",
        "the cards the rules gave: shown, or held back (a snooze, no repeat after an order-select override, the chart-open interval, a card option); every one is a firing",
    ),
    (
        "Held back",
        "computed and not shown to the clinician; feedback, override rates and suggestions offered count only the cards shown",
    ),
    (
        "Firings per 100 orders",
        "cards computed ÷ ketamine orders examined × 100: how often the rule fires (the alarm watches this, week by week)",
    ),
    ("Shown per 100 orders", "cards shown ÷ ketamine orders examined × 100: how often a clinician sees a card"),
    ("Override rate", "shown cards with an overridden feedback item ÷ shown cards with any feedback"),
    ("Share (override reasons)", "cards overridden with that reason ÷ shown cards with any feedback"),
    ("Acceptance rate", "suggestions accepted ÷ suggestions offered on shown cards, per agent"),
    ("Without feedback", "shown cards no feedback named (the EHR sent none, or the clinician moved on)"),
    ("Feedback for unknown cards", "feedback items naming a card the store does not hold (yet)"),
    (
        "Invalid feedback",
        "items that do not count: another service's card, or a reason or suggestion the card did not offer (checked when the card arrived after them)",
    ),
    (
        "Silent",
        "calls in the silent arm of the rollout: assessed exactly as live, their cards recorded as what would have been shown and not sent; counted apart (the figures above are the live arm's)",
    ),
    (
        "Control limits",
        "each week's firing rate against the pooled rate of up to 12 weeks before it ± 3σ (a u-chart); none until four weeks have orders",
    ),
];

/// The weekly series, every week from the first with data to the last, each with the limits
/// set by the weeks before it.
fn weekly(tallies: &Tallies) -> Vec<Week> {
    let weeks = tallies.examined.iter().map(|e| e.week).chain(tallies.cards.iter().map(|c| c.week));
    let (Some(first), Some(last)) = (weeks.clone().min(), weeks.max()) else { return Vec::new() };
    let mut series: Vec<Week> = Vec::new();
    let mut history: Vec<(i64, i64)> = Vec::new();
    for week in first..=last {
        let mut orders_by_hook: BTreeMap<&str, i64> = BTreeMap::new();
        for e in tallies.examined.iter().filter(|e| e.week == week) {
            *orders_by_hook.entry(&e.hook).or_default() += e.orders;
        }
        let orders: i64 = orders_by_hook.values().sum();
        let mut cards_by: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for c in tallies.cards.iter().filter(|c| c.week == week) {
            *cards_by.entry((&c.hook, &c.kind)).or_default() += c.cards;
        }
        let firings: i64 = cards_by.values().sum();
        let mut by_hook: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for ((hook, kind), n) in &cards_by {
            if let Some(rate) = per_100(*n, orders_by_hook.get(hook).copied().unwrap_or(0)) {
                by_hook.entry((*hook).to_owned()).or_default().insert((*kind).to_owned(), rate);
            }
        }
        let rate = per_100(firings, orders);
        let control = spc::limits(&history, orders);
        let out_of_control = matches!((rate, control), (Some(r), Some(c)) if r > c.upper || r < c.lower);
        history.push((firings, orders));
        series.push(Week {
            week_start: week_start(week),
            examined_orders: orders,
            firings,
            firings_per_100_orders: rate,
            by_hook,
            control,
            out_of_control,
        });
    }
    series
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::{CardTally, ExaminedTally};

    /// `weeks` of (firings, orders), as the store would tally them.
    fn tallies(weeks: &[(i64, i64)]) -> Tallies {
        let mut t = Tallies::default();
        for (i, (firings, orders)) in weeks.iter().enumerate() {
            let week = 2900 + i as i64;
            t.examined.push(ExaminedTally {
                hook: "order-sign".into(),
                outcome: "warned".into(),
                knowledge_version: "v1".into(),
                week,
                calls: *orders,
                orders: *orders,
            });
            t.cards.push(CardTally {
                hook: "order-sign".into(),
                kind: "step-therapy".into(),
                suppressed: false,
                week,
                cards: *firings,
            });
        }
        t
    }

    fn window() -> Window {
        Window { since: 0, until: 3000 * WEEK_MS }
    }

    #[test]
    fn a_jump_in_the_weekly_rate_raises_the_alarm_and_a_steady_rule_does_not() {
        let steady = [(50, 100), (48, 100), (52, 100), (51, 100), (49, 100), (50, 100)];
        let report = build(tallies(&steady), window());
        assert!(!report.alarm);
        assert!(report.weeks[..4].iter().all(|w| w.control.is_none()), "four weeks before limits are set");
        assert!(report.weeks[4].control.is_some());

        let mut broken = steady.to_vec();
        broken.push((95, 100));
        let report = build(tallies(&broken), window());
        assert!(report.alarm, "{:?}", report.weeks.last());
        assert!(report.weeks.last().unwrap().out_of_control);
        assert!(!report.weeks[5].out_of_control);

        let mut silent = steady.to_vec();
        silent.push((0, 100));
        assert!(build(tallies(&silent), window()).alarm, "a rule that stopped firing is a malfunction too");
    }

    #[test]
    fn weeks_without_data_are_in_the_series_and_set_no_limits() {
        let mut t = tallies(&[(1, 2)]);
        t.examined[0].week = 2900;
        t.cards[0].week = 2903;
        let report = build(t, window());
        assert_eq!(report.weeks.len(), 4);
        assert_eq!(report.weeks[1].firings_per_100_orders, None);
        assert_eq!(report.weeks[0].week_start, week_start(2900));
    }

    #[test]
    fn a_report_of_nothing_has_no_rates() {
        let report = build(Tallies::default(), window());
        assert_eq!(report.firings_per_100_orders, None);
        assert_eq!(report.override_rate, None);
        assert_eq!(report.cards.len(), 3, "every kind is named, with 0");
        assert!(!report.alarm);
        assert!(html::page(&report).contains("No overrides in this period"));
    }
}
