//! A replay's summary as text (a terminal), JSON (the stable interface: [`Summary`] as is), CSV
//! (the weekly series, then the changes) or one HTML page like `/analytics`.

use std::fmt::Write;

use super::summary::{CardDigest, Summary};
use crate::report::html::{STYLE, escape};
use crate::report::render::{Format, field};
use crate::report::{KINDS, decimal};

pub fn render(s: &Summary, format: Format) -> String {
    match format {
        Format::Text => text(s),
        Format::Json => serde_json::to_string_pretty(s).unwrap_or_default() + "\n",
        Format::Csv => csv(s),
        Format::Html => page(s),
    }
}

fn counts(map: &std::collections::BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = map.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    if parts.is_empty() { "none".to_owned() } else { parts.join(", ") }
}

pub fn text(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ketamine-cds replay, knowledge {}", s.knowledge_version);
    if let Some(shard) = &s.shard {
        let _ = writeln!(out, "Shard {shard}");
    }
    let _ = writeln!(out, "Ketamine orders replayed: {} ({} patients)", s.orders_replayed, s.patients);
    let _ = writeln!(out, "Cards (firings per 100 orders: {}):", decimal(s.firings_per_100_orders));
    for kind in KINDS {
        let _ = writeln!(out, "  {kind}: {}", s.cards.get(kind).copied().unwrap_or(0));
    }
    let _ = writeln!(
        out,
        "  by indicator: {}; held back by card options: {}",
        counts(&s.cards_by_indicator),
        s.cards_held_back
    );
    let _ = writeln!(out, "Orders with a contraindication: {}", s.contraindications);
    let _ = writeln!(out, "First-line classes on the step-therapy cards:");
    for (class, statuses) in &s.class_statuses {
        let _ = writeln!(out, "  {class}: {}", counts(statuses));
    }
    let _ = writeln!(out, "Suggestions that would have been offered: {}", counts(&s.suggestions));
    let _ = writeln!(out, "Orders without a card, by why: {}", counts(&s.silent_orders));
    let _ = writeln!(out, "Orders not replayed: {} ({})", s.unreplayable.count, counts(&s.unreplayable.reasons));
    let _ = writeln!(out, "Malformed lines: {}", s.malformed_lines.count);
    for m in s.malformed_lines.lines.iter().take(20) {
        let _ = writeln!(out, "  {}:{}: {}", m.file, m.line, m.reason);
    }
    let _ = writeln!(
        out,
        "Files read: {} ({} MB of NDJSON, {} lines); skipped unread: {}",
        s.files.read,
        s.files.bytes_read / 1_000_000,
        s.files.lines_read,
        counts(&s.files.skipped)
    );
    let _ = writeln!(out, "\nWeek        orders  cards  per 100");
    for w in &s.weeks {
        let _ = writeln!(
            out,
            "{}  {:>6}  {:>5}  {:>7}",
            w.week_start,
            w.orders,
            w.cards,
            decimal(w.firings_per_100_orders)
        );
    }
    if let (Some(version), Some(changes)) = (&s.compare_knowledge_version, &s.changes) {
        let _ = writeln!(out, "\nCompared with knowledge {version}: {} order(s) change", changes.len());
        for c in changes {
            let say = |cards: &[CardDigest]| -> String {
                if cards.is_empty() {
                    return "no card".to_owned();
                }
                cards
                    .iter()
                    .map(|d| format!("{} \"{}\" [{}]", d.kind, d.summary, d.classes))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let _ = writeln!(out, "  {} order {}…: {} → {}", c.day, short(&c.order_key), say(&c.before), say(&c.after));
        }
    }
    let _ = writeln!(out, "\nPatients and orders are keyed ({}), never named.", s.keys);
    out
}

/// One side of a change on one line (the CSV and the page): each card's kind and summary.
fn side(cards: &[CardDigest]) -> String {
    cards.iter().map(|d| format!("{}: {}", d.kind, d.summary)).collect::<Vec<_>>().join(" | ")
}

/// An order key as the text and the page show it: its first 12 characters.
fn short(key: &str) -> &str {
    key.get(..12).unwrap_or(key)
}

/// `week_start,orders,cards,per_100_orders`, then (comparing) a blank line and
/// `day,order_key,patient_key,before,after` (each side's card summaries joined by ` | `).
pub fn csv(s: &Summary) -> String {
    let mut out = String::from("week_start,orders,cards,per_100_orders\n");
    for w in &s.weeks {
        let rate = w.firings_per_100_orders.map(|v| format!("{v:.3}")).unwrap_or_default();
        let _ = writeln!(out, "{},{},{},{rate}", w.week_start, w.orders, w.cards);
    }
    if let Some(changes) = &s.changes {
        out.push_str("\nday,order_key,patient_key,before,after\n");
        for c in changes {
            let _ = writeln!(
                out,
                "{},{},{},{},{}",
                c.day,
                c.order_key,
                c.patient_key,
                field(&side(&c.before)),
                field(&side(&c.after))
            );
        }
    }
    out
}

fn rows(out: &mut String, id: &str, head: &str, map: &std::collections::BTreeMap<String, u64>) {
    let _ = write!(out, "<table id=\"{id}\"><tr><th>{head}</th><th>Count</th></tr>");
    for (k, n) in map {
        let _ = write!(out, "<tr><td>{}</td><td>{n}</td></tr>", escape(k));
    }
    out.push_str("</table>");
}

pub fn page(s: &Summary) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ketamine-cds replay</title>\
         <style>{STYLE}</style></head><body><h1>ketamine-cds replay</h1><p><small>knowledge {}</small></p>\
         <table id=\"summary\"><tr><th>Ketamine orders replayed</th><td>{}</td></tr><tr><th>Patients</th><td>{}</td></tr>\
         <tr><th>Firings per 100 orders</th><td>{}</td></tr><tr><th>Orders with a contraindication</th><td>{}</td></tr>\
         <tr><th>Orders not replayed</th><td>{}</td></tr><tr><th>Malformed lines</th><td>{}</td></tr></table>",
        escape(&s.knowledge_version),
        s.orders_replayed,
        s.patients,
        decimal(s.firings_per_100_orders),
        s.contraindications,
        s.unreplayable.count,
        s.malformed_lines.count
    );
    out.push_str("<h2>Cards</h2>");
    rows(&mut out, "cards", "Card kind", &s.cards);
    rows(&mut out, "silent-orders", "Orders without a card, by why", &s.silent_orders);
    out.push_str("<h2>First-line classes on the step-therapy cards</h2><table id=\"classes\"><tr><th>Class</th><th>Statuses</th></tr>");
    for (class, statuses) in &s.class_statuses {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td></tr>", escape(class), escape(&counts(statuses)));
    }
    out.push_str("</table><h2>Suggestions that would have been offered</h2>");
    rows(&mut out, "suggestions", "Agent", &s.suggestions);
    out.push_str(
        "<h2>By week</h2><table id=\"weeks\"><tr><th>Week</th><th>Orders</th><th>Cards</th><th>Per 100</th></tr>",
    );
    for w in &s.weeks {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            w.week_start,
            w.orders,
            w.cards,
            decimal(w.firings_per_100_orders)
        );
    }
    out.push_str("</table>");
    if let Some(changes) = &s.changes {
        let _ = write!(
            out,
            "<h2>Orders whose answer changes ({})</h2><table id=\"changes\"><tr><th>Day</th><th>Order</th><th>Before</th><th>After</th></tr>",
            changes.len()
        );
        for c in changes {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.day,
                escape(short(&c.order_key)),
                escape(&side(&c.before)),
                escape(&side(&c.after))
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}
