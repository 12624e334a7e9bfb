//! Expected outcomes for `evaluate --check`: a case `NAME.json` may have `NAME.expected.json`
//! (or `NAME.response.json`) beside it, holding `{"cards": [...]}`. Each expected card is
//! compared field by field with the card in the same position: every field the expectation
//! names must be equal (objects recursively, lists whole); fields it leaves out are not checked.
//! So `[{"indicator": "warning", "summary": "…"}]` checks just that, and a full response checks
//! everything.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The expectation file of a case, if there is one.
pub fn expectation_for(case: &Path) -> Option<PathBuf> {
    let stem = case.file_stem()?.to_string_lossy().into_owned();
    ["expected", "response"].iter().map(|kind| case.with_file_name(format!("{stem}.{kind}.json"))).find(|p| p.is_file())
}

/// The differences between an expected and an actual response, one readable line each. An
/// expectation without a `cards` list is itself a difference (never read as "no cards").
pub fn differences(expected: &Value, actual: &Value) -> Vec<String> {
    if !expected["cards"].is_array() {
        return vec!["the expectation has no \"cards\" list (write {\"cards\": []} for a silent case)".to_owned()];
    }
    let empty = Vec::new();
    let expected_cards = expected["cards"].as_array().unwrap_or(&empty);
    let actual_cards = actual["cards"].as_array().unwrap_or(&empty);
    let mut out = Vec::new();
    if expected_cards.len() != actual_cards.len() {
        let summaries = |cards: &[Value]| {
            cards
                .iter()
                .map(|c| {
                    format!("{} \"{}\"", c["indicator"].as_str().unwrap_or("?"), c["summary"].as_str().unwrap_or("?"))
                })
                .collect::<Vec<_>>()
        };
        out.push(format!(
            "expected {} card(s), got {}:\n      expected: {:?}\n      got:      {:?}",
            expected_cards.len(),
            actual_cards.len(),
            summaries(expected_cards),
            summaries(actual_cards)
        ));
        return out;
    }
    for (i, (e, a)) in expected_cards.iter().zip(actual_cards).enumerate() {
        compare(e, a, &format!("cards[{i}]"), &mut out);
    }
    out
}

fn compare(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                match a.get(key) {
                    Some(actual) => compare(value, actual, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}: expected {}, got nothing", short(value))),
                }
            }
        }
        _ if expected == actual => {}
        _ => whole(expected, actual, path, out),
    }
}

/// Where two values that must be equal whole (lists, and what is inside them) differ: the path
/// of each difference (`cards[0].suggestions[1].label`), both values in full.
fn whole(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        _ if expected == actual => {}
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                match a.get(key) {
                    Some(actual) => whole(value, actual, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}: expected {}, got nothing", short(value))),
                }
            }
            for (key, value) in a.iter().filter(|(key, _)| !e.contains_key(*key)) {
                out.push(format!("{path}.{key}: expected nothing, got {}", short(value)));
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (e, a)) in e.iter().zip(a).enumerate() {
                whole(e, a, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Array(e), Value::Array(a)) => out.push(format!(
            "{path}: expected {} item(s), got {}: expected {}, got {}",
            e.len(),
            a.len(),
            short(expected),
            short(actual)
        )),
        _ => out.push(format!("{path}: expected {}, got {}", short(expected), short(actual))),
    }
}

/// A value in full: two long texts that differ late must not look alike.
fn short(value: &Value) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_partial_expectation_checks_only_what_it_names() {
        let actual = json!({"cards": [{"indicator": "warning", "summary": "s", "detail": "d"}]});
        assert!(differences(&json!({"cards": [{"indicator": "warning"}]}), &actual).is_empty());
        let diff = differences(&json!({"cards": [{"indicator": "info"}]}), &actual);
        assert_eq!(diff, ["cards[0].indicator: expected \"info\", got \"warning\""]);
        let count = differences(&json!({"cards": []}), &actual);
        assert!(count[0].starts_with("expected 0 card(s), got 1"));
        assert!(differences(&json!({"card": []}), &actual)[0].contains("no \"cards\" list"));
        let long = "x".repeat(300);
        let diff = differences(
            &json!({"cards": [{"detail": format!("{long}a")}]}),
            &json!({"cards": [{"detail": format!("{long}b")}]}),
        );
        assert!(
            diff[0].starts_with("cards[0].detail: ")
                && diff[0].contains(&format!("{long}a"))
                && diff[0].contains(&format!("{long}b"))
        );
    }

    #[test]
    fn a_difference_inside_a_list_is_named_by_its_path() {
        let card = |label: &str| json!({"cards": [{"suggestions": [{"label": "a", "uuid": "1"}, {"label": label, "uuid": "2"}]}]});
        let diff = differences(&card("Order duloxetine"), &card("Order gabapentin"));
        assert_eq!(diff, ["cards[0].suggestions[1].label: expected \"Order duloxetine\", got \"Order gabapentin\""]);
        // Lists stay whole: an extra field inside one is a difference, and so is a missing item.
        let mut extra = card("x");
        extra["cards"][0]["suggestions"][0]["isRecommended"] = json!(true);
        let diff = differences(&card("x"), &extra);
        assert_eq!(diff, ["cards[0].suggestions[0].isRecommended: expected nothing, got true"]);
        let mut fewer = card("x");
        fewer["cards"][0]["suggestions"].as_array_mut().unwrap().pop();
        assert!(differences(&card("x"), &fewer)[0].starts_with("cards[0].suggestions: expected 2 item(s), got 1"));
    }
}
