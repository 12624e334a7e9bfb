//! The report as one HTML page (`GET /analytics`, `report --format html`): server-rendered
//! tables and two inline SVG charts drawn with plotters — the weekly firing rate with its
//! control limits and the knowledge versions marked, and the override reasons. No script, no
//! external asset: the page works offline and under a strict Content-Security-Policy.

use std::fmt::Write;

use base64::Engine;
use plotters::prelude::*;

use super::{AlarmState, DEFINITIONS, KINDS, Report, decimal, percent};

/// Text for HTML: `<`, `>`, `&`, `"` and `'` escaped (reason codes and agents come from EHRs).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}\
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.alarm{background:#fde2e1;padding:.5rem 1rem;\
border-left:4px solid #c0392b}.alarm-state{background:#eef4ee;padding:.5rem 1rem;border-left:4px solid #5a8f5a}\
dt{font-weight:600;margin-top:.4rem}dd{margin-left:1rem}.out{background:#fde2e1}figure{margin:1rem 0}small{color:#666}";

/// The silent arm beside the live one: what would have fired and been shown, by kind and week.
fn silent_section(out: &mut String, s: &super::ArmFigures) {
    let _ = write!(
        out,
        "<h2>Silent arm (recorded, not shown)</h2><table id=\"silent\"><tr><th>Ketamine orders examined</th><td>{}</td></tr>\
         <tr><th>Would have fired per 100 orders</th><td>{}</td></tr><tr><th>Would have been shown per 100 orders</th><td>{}</td></tr></table>\
         <table id=\"silent-cards\"><tr><th>Card kind</th><th>Computed</th><th>Would have been shown</th></tr>",
        s.examined_orders,
        decimal(s.firings_per_100_orders),
        decimal(s.shown_per_100_orders)
    );
    for kind in KINDS {
        let n = |m: &std::collections::BTreeMap<String, i64>| m.get(kind).copied().unwrap_or(0);
        let _ = write!(out, "<tr><td>{kind}</td><td>{}</td><td>{}</td></tr>", n(&s.cards), n(&s.cards_shown));
    }
    out.push_str(
        "</table><table id=\"silent-weeks\"><tr><th>Week</th><th>Orders</th><th>Cards</th><th>Per 100</th></tr>",
    );
    for w in &s.weeks {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            w.week_start,
            w.examined_orders,
            w.firings,
            decimal(w.firings_per_100_orders)
        );
    }
    out.push_str("</table>");
}

pub fn page(r: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ketamine-cds analytics</title>\
         <style>{STYLE}</style></head><body><h1>ketamine-cds analytics</h1><p><small>{} to {}</small></p>",
        escape(&r.since),
        escape(&r.until)
    );
    // The alarm's state, always, in one line.
    let class = if r.alarm_state == AlarmState::Sounding { "alarm" } else { "alarm-state" };
    let _ = write!(out, "<p class=\"{class}\" id=\"alarm\">{}</p>", escape(&r.alarm_line()));
    let f = &r.feedback;
    let _ = write!(
        out,
        "<h2>Summary</h2><table id=\"summary\"><tr><th>Ketamine orders examined</th><td>{}</td></tr>\
         <tr><th>Firings per 100 orders</th><td>{}</td></tr><tr><th>Shown per 100 orders</th><td>{}</td></tr>\
         <tr><th>Held back (every kind)</th><td>{}</td></tr>\
         <tr><th>Shown cards with feedback</th><td>{}</td></tr>\
         <tr><th>Overridden</th><td>{}</td></tr><tr><th>Accepted</th><td>{}</td></tr>\
         <tr><th>Shown cards without feedback</th><td>{}</td></tr><tr><th>Feedback for unknown cards</th><td>{}</td></tr>\
         <tr><th>Invalid feedback</th><td>{}</td></tr>\
         <tr><th>Override rate</th><td>{}</td></tr><tr><th>Median minutes to outcome</th><td>{}</td></tr></table>",
        r.examined_orders,
        decimal(r.firings_per_100_orders),
        decimal(r.shown_per_100_orders),
        r.suppressed,
        f.cards_with_feedback,
        f.overridden,
        f.accepted,
        f.cards_without_feedback,
        f.unmatched,
        f.invalid,
        percent(r.override_rate),
        decimal(r.median_minutes_to_outcome)
    );
    out.push_str("<table id=\"cards\"><tr><th>Card kind</th><th>Computed</th><th>Shown</th><th>Held back</th></tr>");
    for kind in KINDS {
        let n = |m: &std::collections::BTreeMap<String, i64>| m.get(kind).copied().unwrap_or(0);
        let _ = write!(
            out,
            "<tr><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            n(&r.cards),
            n(&r.cards_shown),
            n(&r.cards_held_back)
        );
    }
    out.push_str("</table><table id=\"by-hook\"><tr><th>Hook</th><th>Orders examined</th><th>Cards computed</th><th>Shown</th></tr>");
    for (hook, h) in &r.by_hook {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(hook),
            h.examined_orders,
            h.cards,
            h.cards_shown
        );
    }
    out.push_str("</table>");
    out.push_str("<h2>Firings per 100 examined orders, by week</h2>");
    let _ = write!(out, "<figure id=\"firing-chart\">{}</figure>", firing_chart(r));
    out.push_str("<table id=\"weeks\"><tr><th>Week</th><th>Orders</th><th>Cards</th><th>Per 100</th><th>By hook and kind</th><th>Limits</th></tr>");
    for w in &r.weeks {
        let by: Vec<String> = w
            .by_hook
            .iter()
            .flat_map(|(hook, kinds)| {
                kinds.iter().map(move |(kind, v)| format!("{} {}: {v:.1}", escape(hook), escape(kind)))
            })
            .collect();
        let limits = w.control.map_or_else(|| "–".to_owned(), |c| format!("{:.1}–{:.1}", c.lower, c.upper));
        let class = if w.out_of_control { " class=\"out\"" } else { "" };
        let _ = write!(
            out,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{limits}</td></tr>",
            w.week_start,
            w.examined_orders,
            w.firings,
            decimal(w.firings_per_100_orders),
            by.join("; ")
        );
    }
    out.push_str("</table>");
    if r.silent.any() {
        silent_section(&mut out, &r.silent);
    }
    if !r.replays.is_empty() {
        out.push_str(
            "<h2>Replays of an export</h2><table id=\"replays\"><tr><th>Run</th><th>Orders</th><th>Per 100 orders</th>\
             <th>Step-therapy</th><th>Contraindication</th><th>Info</th></tr>",
        );
        for (run, f) in &r.replays {
            let n = |k: &str| f.cards.get(k).copied().unwrap_or(0);
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(run),
                f.examined_orders,
                decimal(f.firings_per_100_orders),
                n("step-therapy"),
                n("contraindication"),
                n("info")
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Overrides</h2>");
    let _ = write!(out, "<figure id=\"reasons-chart\">{}</figure>", reasons_chart(r));
    out.push_str(
        "<table id=\"override-reasons\"><tr><th>Reason</th><th>Cards</th><th>Share of shown cards with feedback</th></tr>",
    );
    for (code, n) in &r.override_reasons {
        let _ = write!(
            out,
            "<tr><td title=\"{}\">{}</td><td>{n}</td><td>{}</td></tr>",
            escape(code),
            escape(r.reason_name(code)),
            percent(r.override_rate_by_reason.get(code).copied())
        );
    }
    out.push_str("</table><table id=\"override-kinds\"><tr><th>Card kind</th><th>Override rate</th><th>Without feedback</th></tr>");
    for kind in KINDS {
        let _ = write!(
            out,
            "<tr><td>{kind}</td><td>{}</td><td>{}</td></tr>",
            percent(r.override_rate_by_kind.get(kind).copied()),
            r.cards_without_feedback.get(kind).copied().unwrap_or(0)
        );
    }
    out.push_str("</table><h2>Suggestions taken</h2><table id=\"suggestions\"><tr><th>Agent</th><th>Offered</th><th>Accepted</th><th>Rate</th></tr>");
    for s in &r.suggestions {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.agent),
            s.offered,
            s.accepted,
            percent(s.acceptance_rate)
        );
    }
    out.push_str(
        "</table><h2>Knowledge versions</h2><table id=\"versions\"><tr><th>Version</th><th>First seen</th></tr>",
    );
    for v in &r.knowledge_versions {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td></tr>", escape(&v.version), escape(&v.first_seen));
    }
    out.push_str("</table><h2>Definitions</h2><dl id=\"definitions\">");
    for (term, meaning) in DEFINITIONS {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", escape(term), escape(meaning));
    }
    // The JSON travels with the page (a saved page keeps a working link).
    let json = serde_json::to_string(r).unwrap_or_default();
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    let _ = writeln!(
        out,
        "</dl><p><small><a id=\"json\" download=\"ketamine-cds-analytics.json\" \
         href=\"data:application/json;base64,{encoded}\">This report as JSON</a> \
         (also <code>ketamine-cds report --format json</code>, or <code>GET /analytics?format=json</code>).</small></p></body></html>"
    );
    out
}

/// The weekly rate (blue), its control limits (red) and centre (grey), weeks out of
/// control (red dots) and knowledge version changes (grey verticals, labelled).
fn firing_chart(r: &Report) -> String {
    let mut svg = String::new();
    let weeks = &r.weeks;
    let top = weeks
        .iter()
        .flat_map(|w| [w.firings_per_100_orders.unwrap_or(0.0), w.control.map_or(0.0, |c| c.upper)])
        .fold(10.0_f64, f64::max)
        * 1.1;
    let n = weeks.len().max(1) as f64;
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (760, 300)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .build_cartesian_2d(-0.5..(n - 0.5), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .label_style(("sans-serif", 13))
            .x_labels(weeks.len().clamp(1, 12))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() > 0.01 || i < 0.0 {
                    return String::new();
                }
                weeks.get(i as usize).map(|w| w.week_start.clone()).unwrap_or_default()
            })
            .y_desc("cards per 100 orders")
            .draw()?;
        let points = |f: &dyn Fn(&super::Week) -> Option<f64>| -> Vec<(f64, f64)> {
            weeks.iter().enumerate().filter_map(|(i, w)| Some((i as f64, f(w)?))).collect()
        };
        chart.draw_series(LineSeries::new(points(&|w| w.control.map(|c| c.upper)), RED.stroke_width(1)))?;
        chart.draw_series(LineSeries::new(points(&|w| w.control.map(|c| c.lower)), RED.stroke_width(1)))?;
        chart.draw_series(LineSeries::new(
            points(&|w| w.control.map(|c| c.center)),
            RGBColor(150, 150, 150).stroke_width(1),
        ))?;
        chart.draw_series(LineSeries::new(points(&|w| w.firings_per_100_orders), BLUE.stroke_width(2)))?;
        chart
            .draw_series(points(&|w| w.firings_per_100_orders).into_iter().map(|p| Circle::new(p, 3, BLUE.filled())))?;
        chart.draw_series(
            weeks
                .iter()
                .enumerate()
                .filter(|(_, w)| w.out_of_control)
                .filter_map(|(i, w)| Some(Circle::new((i as f64, w.firings_per_100_orders?), 6, RED.filled()))),
        )?;
        for mark in r.knowledge_versions.iter().skip(1) {
            // The boundary before the week it was first seen in.
            let seen = mark.first_seen.get(..10).unwrap_or_default();
            let Some(i) = weeks.iter().rposition(|w| w.week_start.as_str() <= seen) else { continue };
            let x = i as f64 - 0.5;
            chart.draw_series(std::iter::once(PathElement::new(vec![(x, 0.0), (x, top)], RGBColor(120, 120, 120))))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("knowledge {}", mark.version),
                (x + 0.05, top * 0.95),
                ("sans-serif", 12).into_font(),
            )))?;
        }
        root.present()?;
        Ok(())
    })();
    if drawn.is_err() {
        return "<p>(chart could not be drawn)</p>".to_owned();
    }
    svg
}

/// Overridden cards by reason, as horizontal bars.
fn reasons_chart(r: &Report) -> String {
    let reasons: Vec<(&String, &i64)> = r.override_reasons.iter().collect();
    if reasons.is_empty() {
        return "<p>No overrides in this period.</p>".to_owned();
    }
    let mut svg = String::new();
    let top = reasons.iter().map(|(_, n)| **n).max().unwrap_or(1).max(1) as f64 * 1.15;
    let height = 60 + 28 * reasons.len() as u32;
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (760, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(230)
            .build_cartesian_2d(0.0..top, -0.5..(reasons.len() as f64 - 0.5))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .label_style(("sans-serif", 13))
            .x_labels(top.ceil().min(10.0) as usize + 1)
            .x_label_formatter(&|x| if x.fract().abs() < 1e-9 { format!("{x:.0}") } else { String::new() })
            .y_labels(reasons.len())
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() > 0.01 || i < 0.0 {
                    return String::new();
                }
                reasons.get(i as usize).map(|(code, _)| (*code).clone()).unwrap_or_default()
            })
            .x_desc("overridden cards")
            .draw()?;
        chart.draw_series(reasons.iter().enumerate().map(|(i, (_, n))| {
            Rectangle::new([(0.0, i as f64 - 0.35), (**n as f64, i as f64 + 0.35)], RGBColor(52, 101, 164).filled())
        }))?;
        root.present()?;
        Ok(())
    })();
    if drawn.is_err() {
        return "<p>(chart could not be drawn)</p>".to_owned();
    }
    svg
}
