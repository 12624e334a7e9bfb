//! Cards as people read them: `text` the way an EHR shows a card (colour on a terminal), and
//! `markdown` for reports. `json` output is the HTTP response itself and needs no rendering.

use std::fmt::Write;

use serde_json::Value;

/// ANSI styling, or none when the output is not a terminal.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }
    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
    fn indicator(&self, indicator: &str) -> String {
        let label = format!("[{}]", indicator.to_uppercase());
        match indicator {
            "critical" => self.paint("1;31", &label),
            "warning" => self.paint("1;33", &label),
            _ => self.paint("1;36", &label),
        }
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

fn list(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().cloned().unwrap_or_default()
}

/// The cards a response lists as held back (`evaluate --store`): (why, card).
fn held_back(response: &Value) -> Vec<(String, Value)> {
    list(&response["extension"], crate::call::fatigue::HELD_BACK)
        .into_iter()
        .map(|h| (str_of(&h, "why").to_owned(), h["card"].clone()))
        .collect()
}

/// One case's cards as terminal text; the cards held back after them, each saying why.
pub fn text(title: &str, response: &Value, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.bold(title));
    let cards = list(response, "cards");
    let held = held_back(response);
    if cards.is_empty() && held.is_empty() {
        let _ = writeln!(out, "  {}", style.dim("no card (the guideline is silent)"));
    } else if cards.is_empty() {
        let _ = writeln!(out, "  {}", style.dim("no card shown (the EHR would see none)"));
    }
    let cards = cards.into_iter().map(|c| (None, c)).chain(held.into_iter().map(|(why, c)| (Some(why), c)));
    for (why, card) in cards {
        if let Some(why) = why {
            let _ = writeln!(out, "  {}", style.paint("1;35", &format!("[HELD BACK] {why}")));
        }
        let _ =
            writeln!(out, "  {} {}", style.indicator(str_of(&card, "indicator")), style.bold(str_of(&card, "summary")));
        for line in str_of(&card, "detail").lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "      {}", line.replace("**", ""));
            }
        }
        let suggestions = list(&card, "suggestions");
        if !suggestions.is_empty() {
            let _ = writeln!(out, "    {}", style.bold("Suggestions (choose at most one):"));
            for s in suggestions {
                let mark = if s["isRecommended"] == true { "★" } else { "·" };
                let _ = writeln!(out, "      {mark} {}", str_of(&s, "label"));
                for a in list(&s, "actions") {
                    let target = a["resourceId"].as_str().map(str::to_owned).unwrap_or_else(|| {
                        a["resource"]["medicationCodeableConcept"]["text"].as_str().unwrap_or_default().to_owned()
                    });
                    let _ = writeln!(out, "          {} {}", str_of(&a, "type"), style.dim(&target));
                }
            }
        }
        let reasons: Vec<String> =
            list(&card, "overrideReasons").iter().map(|r| str_of(r, "display").to_owned()).collect();
        if !reasons.is_empty() {
            let _ = writeln!(out, "    {} {}", style.bold("Override reasons:"), reasons.join(" · "));
        }
        for link in list(&card, "links") {
            let _ = writeln!(out, "    {} {}", str_of(&link, "label"), style.dim(str_of(&link, "url")));
        }
        let source = &card["source"];
        let _ = writeln!(
            out,
            "    {}",
            style.dim(&format!("Source: {} — card {}", str_of(source, "label"), str_of(&card, "uuid")))
        );
    }
    out
}

/// One case's cards as Markdown; the cards held back after them, each saying why.
pub fn markdown(title: &str, response: &Value) -> String {
    let mut out = format!("## {title}\n\n");
    let cards = list(response, "cards");
    let held = held_back(response);
    if cards.is_empty() && held.is_empty() {
        out.push_str("No card (the guideline is silent).\n\n");
    } else if cards.is_empty() {
        out.push_str("No card shown (the EHR would see none).\n\n");
    }
    let cards = cards.into_iter().map(|c| (None, c)).chain(held.into_iter().map(|(why, c)| (Some(why), c)));
    for (why, card) in cards {
        let icon = match str_of(&card, "indicator") {
            "critical" => "🛑",
            "warning" => "⚠️",
            _ => "ℹ️",
        };
        let held = if why.is_some() { " *(held back)*" } else { "" };
        let _ = writeln!(out, "### {icon} {} — {}{held}\n", str_of(&card, "indicator"), str_of(&card, "summary"));
        if let Some(why) = why {
            let _ = writeln!(out, "> {}\n", crate::guideline::capitalise(&why));
        }
        let _ = writeln!(out, "{}\n", str_of(&card, "detail"));
        let suggestions = list(&card, "suggestions");
        if !suggestions.is_empty() {
            out.push_str("**Suggestions** (at most one):\n\n");
            for s in suggestions {
                let rec = if s["isRecommended"] == true { " *(recommended)*" } else { "" };
                let _ = writeln!(out, "- {}{rec}", str_of(&s, "label"));
            }
            out.push('\n');
        }
        let reasons: Vec<String> = list(&card, "overrideReasons")
            .iter()
            .map(|r| format!("`{}` {}", str_of(r, "code"), str_of(r, "display")))
            .collect();
        if !reasons.is_empty() {
            let _ = writeln!(out, "**Override reasons**: {}\n", reasons.join("; "));
        }
        let links: Vec<String> =
            list(&card, "links").iter().map(|l| format!("[{}]({})", str_of(l, "label"), str_of(l, "url"))).collect();
        if !links.is_empty() {
            let _ = writeln!(out, "**References**: {}\n", links.join(", "));
        }
    }
    out
}
