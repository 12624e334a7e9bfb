//! How the cards word things: evidence lines, class lines, grades, numbers, lists. Written to
//! read like a pharmacist's note: short, specific to this patient, grades shown.

use crate::guideline::{ClassAssessment, ClassStatus, FailureKind, Trial, TrialOf, capitalise};
use crate::knowledge::{DrugClass, Knowledge, Statement};

/// 60.0 → "60", 37.5 → "37.5".
pub fn number(value: f64) -> String {
    if value.fract().abs() < 1e-9 { format!("{value:.0}") } else { format!("{}", (value * 100.0).round() / 100.0) }
}

/// "a", "a and b", "a, b and c".
pub fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Cuts a summary to the CDS Hooks limit (< 140 characters), at a word's end.
pub fn limit(summary: String) -> String {
    shorten(summary, 139)
}

/// Cuts a text to at most `max` characters, at a word's end, marking the cut with "…": a
/// name is never shown cut mid-word.
pub fn shorten(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(end) if end > 0 => &cut[..end],
        _ => cut.as_str(),
    };
    format!("{}…", at_word.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ':'))
}

pub fn grade(statement: &Statement) -> String {
    statement.grade.as_ref().map(|g| g.display.clone()).unwrap_or_else(|| "not graded".to_owned())
}

/// "Duloxetine 60 mg/day, stopped (ordered 2025-03-02): no response to treatment"; "Duloxetine
/// 60 mg/day, active (started 2026-10-01): trial still running"; "Gabapentin: allergy/intolerance
/// recorded 2024-09-09".
pub fn trial(trial: &Trial, knowledge: &Knowledge) -> String {
    let mut line = match &trial.of {
        TrialOf::Agent(agent) => capitalise(&knowledge.medications.agent(*agent).name),
        TrialOf::Class(_, named) => capitalise(named),
    };
    if let Some(dose) = trial.daily_dose_mg {
        line.push_str(&format!(" {} mg/day", number(dose)));
    }
    let reason = trial.failure.as_ref().map(|(_, words)| words.to_lowercase());
    let kind = trial.date_kind.word();
    match (trial.record_status.as_str(), trial.date.as_deref()) {
        ("allergy", date) => {
            let date = date.map(|d| format!(" {d}")).unwrap_or_default();
            line.push_str(&format!(": {}{date}", reason.unwrap_or_default()));
        }
        // What the date is, as the record says: "stopped 2025-03-02", "active (ordered 2026-10-01)".
        (status, date) => {
            let when = match date {
                Some(d) if kind == status => format!(" {d}"),
                Some(d) => format!(" ({kind} {d})"),
                None => String::new(),
            };
            // A reason the record gives is quoted, and said to be no failure reason.
            let not_a_failure = || {
                let quoted = trial.other_reason.as_ref()?;
                Some(format!("\"{quoted}\" is {}", knowledge.plan.not_a_failure_text))
            };
            let why = match trial.outcome {
                ClassStatus::Ongoing => "trial still running".to_owned(),
                _ => reason.or_else(not_a_failure).unwrap_or_else(|| "no reason recorded".to_owned()),
            };
            line.push_str(&format!(", {status}{when}: {why}"));
        }
    }
    line
}

/// The shortfall of an inadequate trial: "below 75 mg/day" or "dose not documented".
fn shortfall(trial: &Trial, class: &DrugClass) -> Option<String> {
    let min = class.min_daily_mg?;
    if trial.outcome != ClassStatus::InadequateTrial || !matches!(trial.failure, Some((FailureKind::NoResponse, _))) {
        return None;
    }
    Some(match trial.daily_dose_mg {
        Some(_) => format!("below the {} mg/day an adequate trial needs", number(min)),
        None => format!("dose not documented; an adequate trial is at least {} mg/day", number(min)),
    })
}

pub fn status_label(status: ClassStatus) -> &'static str {
    match status {
        ClassStatus::Failed => "failed",
        ClassStatus::InadequateTrial => "inadequate trial",
        ClassStatus::Ongoing => "trial ongoing",
        ClassStatus::TriedOutcomeUnknown => "tried, outcome not recorded",
        ClassStatus::NotDocumented => "not documented",
    }
}

/// "- **TCA — inadequate trial** (strong recommendation): Amitriptyline 25 mg/day, stopped …":
/// the class's status, the records behind it, and — for a class without a failure — what would
/// back the order: no trial on record, the outcome to record, the running trial to finish, the
/// dose an adequate trial needs.
pub fn class_line(assessment: &ClassAssessment, knowledge: &Knowledge) -> String {
    let class = &knowledge.plan.classes[assessment.class];
    let mut title = capitalise(&class.title);
    if !class.required {
        title.push_str(" (not required)");
    }
    let evidence: Vec<String> = assessment
        .evidence
        .iter()
        .map(|t| match shortfall(t, class) {
            Some(s) => format!("{} — {s}", trial(t, knowledge)),
            None => trial(t, knowledge),
        })
        .collect();
    let mut evidence = if evidence.is_empty() { "no trial on record".to_owned() } else { evidence.join("; ") };
    let plan = &knowledge.plan;
    match assessment.status {
        ClassStatus::TriedOutcomeUnknown => evidence.push_str(&format!(" — {}", plan.record_outcome_text)),
        ClassStatus::Ongoing => evidence.push_str(&format!(" — {}", plan.running_trial_text)),
        ClassStatus::InadequateTrial if assessment.is_running() => {
            let running: Vec<String> = assessment.running.iter().map(|t| trial(t, knowledge)).collect();
            evidence.push_str(&format!("; {} — {}", running.join("; "), plan.running_trial_text));
        }
        _ => {}
    }
    let grade = class.statement.grade.as_ref().map(|g| format!(" ({})", g.display)).unwrap_or_default();
    format!("- **{title} — {}**{grade}: {evidence}", status_label(assessment.status))
}
