//! The report as text (for a terminal), JSON (a stable interface), or CSV (the weekly series,
//! one row per week, hook and card kind, for a spreadsheet).

use std::fmt::Write;

use super::{DEFINITIONS, KINDS, Report, decimal, percent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Csv,
    Html,
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Csv => csv(report),
        Format::Html => super::html::page(report),
    }
}

pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ketamine-cds report, {} to {}", r.since, r.until);
    let _ = writeln!(out);
    let _ = writeln!(out, "Ketamine orders examined: {}", r.examined_orders);
    for (outcome, calls) in &r.examined_calls {
        let _ = writeln!(out, "  calls {outcome}: {calls}");
    }
    if r.examined_by_trigger.keys().any(|t| t != "none") {
        let by: Vec<String> = r.examined_by_trigger.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        let _ = writeln!(out, "  calls by EHR trigger: {}", by.join(", "));
    }
    let _ = writeln!(
        out,
        "Cards computed (firings per 100 orders: {}; shown per 100 orders: {}):",
        decimal(r.firings_per_100_orders),
        decimal(r.shown_per_100_orders)
    );
    for kind in KINDS {
        let _ = writeln!(
            out,
            "  {kind}: {} computed, {} shown, {} held back",
            r.cards.get(kind).copied().unwrap_or(0),
            r.cards_shown.get(kind).copied().unwrap_or(0),
            r.cards_held_back.get(kind).copied().unwrap_or(0)
        );
    }
    for (hook, h) in &r.by_hook {
        let _ = writeln!(
            out,
            "  {hook}: {} orders, {} cards computed, {} shown",
            h.examined_orders, h.cards, h.cards_shown
        );
    }
    if r.silent.any() {
        let s = &r.silent;
        let _ = writeln!(
            out,
            "Silent arm (recorded, not shown): {} orders examined; would have fired per 100 orders: {}, shown per 100 orders: {}",
            s.examined_orders,
            decimal(s.firings_per_100_orders),
            decimal(s.shown_per_100_orders)
        );
        for kind in KINDS {
            let _ = writeln!(
                out,
                "  {kind}: {} computed, {} would have been shown",
                s.cards.get(kind).copied().unwrap_or(0),
                s.cards_shown.get(kind).copied().unwrap_or(0)
            );
        }
    }
    for (run, figures) in &r.replays {
        let _ = writeln!(
            out,
            "Replay run {run} (an export, by the orders' own dates): {} orders; would have fired per 100 orders: {}; cards: {}",
            figures.examined_orders,
            decimal(figures.firings_per_100_orders),
            KINDS
                .iter()
                .map(|k| format!("{k} {}", figures.cards.get(*k).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let f = &r.feedback;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Feedback (shown cards): {} cards with feedback, {} overridden, {} accepted, {} without feedback; \
         {} item(s) for unknown cards, {} invalid",
        f.cards_with_feedback, f.overridden, f.accepted, f.cards_without_feedback, f.unmatched, f.invalid
    );
    let _ = writeln!(out, "Override rate: {}", percent(r.override_rate));
    for (kind, rate) in &r.override_rate_by_kind {
        let _ = writeln!(out, "  {kind}: {}", percent(Some(*rate)));
    }
    let _ = writeln!(out, "Override reasons (cards; share of shown cards with feedback):");
    for (code, n) in &r.override_reasons {
        let name = match r.reason_name(code) {
            name if name == code => code.clone(),
            name => format!("{name} ({code})"),
        };
        let _ = writeln!(out, "  {name}: {n} ({})", percent(r.override_rate_by_reason.get(code).copied()));
    }
    let _ = writeln!(out, "Suggestions (accepted / offered):");
    for s in &r.suggestions {
        let _ = writeln!(out, "  {}: {} / {} ({})", s.agent, s.accepted, s.offered, percent(s.acceptance_rate));
    }
    let _ = writeln!(out, "Median time from card to outcome: {} min", decimal(r.median_minutes_to_outcome));
    let _ = writeln!(out);
    let _ = writeln!(out, "Week        orders  cards  per 100  limits");
    let silent_weeks = r.silent.weeks.iter().map(|w| (w, " (silent)"));
    for (w, arm) in r.weeks.iter().map(|w| (w, "")).chain(silent_weeks) {
        let limits = w.control.map_or_else(|| "–".to_owned(), |c| format!("{:.1}–{:.1}", c.lower, c.upper));
        let flag = if w.out_of_control { "  OUT OF CONTROL" } else { "" };
        let _ = writeln!(
            out,
            "{}  {:>6}  {:>5}  {:>7}  {limits}{flag}{arm}",
            w.week_start,
            w.examined_orders,
            w.firings,
            decimal(w.firings_per_100_orders)
        );
    }
    for v in &r.knowledge_versions {
        let _ = writeln!(out, "Knowledge {} first seen {}", v.version, v.first_seen);
    }
    let _ = writeln!(out, "\n{}", r.alarm_line());
    let _ = writeln!(out, "\nDefinitions:");
    for (term, meaning) in DEFINITIONS {
        let _ = writeln!(out, "  {term}: {meaning}");
    }
    out
}

/// Quotes a CSV field when it needs it.
pub fn field(value: &str) -> String {
    if value.contains([',', '"', '\n']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value.to_owned() }
}

/// The weekly series (the live arm's weeks, then the silent arm's, then each replay run's;
/// column `arm`), then (after a
/// blank line) the override reasons: `reason_code, reason,
/// cards, share_of_shown_cards_with_feedback`.
pub fn csv(r: &Report) -> String {
    let mut out = String::from(
        "week_start,hook,kind,per_100_hook_orders,week_examined_orders,week_firings,week_per_100_orders,center,lower,upper,out_of_control,arm\n",
    );
    let silent_weeks = r.silent.weeks.iter().map(|w| (w, "silent".to_owned()));
    let replay_weeks = r.replays.iter().flat_map(|(run, f)| f.weeks.iter().map(move |w| (w, format!("replay:{run}"))));
    for (w, arm) in r.weeks.iter().map(|w| (w, "live".to_owned())).chain(silent_weeks).chain(replay_weeks) {
        let (center, lower, upper) = w.control.map_or((String::new(), String::new(), String::new()), |c| {
            (format!("{:.3}", c.center), format!("{:.3}", c.lower), format!("{:.3}", c.upper))
        });
        let rate = w.firings_per_100_orders.map(|v| format!("{v:.3}")).unwrap_or_default();
        let rows: Vec<(String, String, String)> = if w.by_hook.is_empty() {
            vec![(String::new(), String::new(), String::new())]
        } else {
            w.by_hook
                .iter()
                .flat_map(|(hook, kinds)| {
                    kinds.iter().map(move |(kind, v)| (hook.clone(), kind.clone(), format!("{v:.3}")))
                })
                .collect()
        };
        for (hook, kind, per_hook) in rows {
            let _ = writeln!(
                out,
                "{},{},{},{per_hook},{},{},{rate},{center},{lower},{upper},{},{}",
                w.week_start,
                field(&hook),
                field(&kind),
                w.examined_orders,
                w.firings,
                w.out_of_control,
                field(&arm)
            );
        }
    }
    out.push_str("\nreason_code,reason,cards,share_of_shown_cards_with_feedback\n");
    for (code, n) in &r.override_reasons {
        let share = r.override_rate_by_reason.get(code).map(|v| format!("{v:.4}")).unwrap_or_default();
        let _ = writeln!(out, "{},{},{n},{share}", field(code), field(r.reason_name(code)));
    }
    out
}
