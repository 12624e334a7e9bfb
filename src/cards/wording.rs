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

/// Cuts a summary to the CDS Hooks limit (< 140 characters).
pub fn limit(summary: String) -> String {
    if summary.chars().count() < 140 {
        return summary;
    }
    let cut: String = summary.chars().take(138).collect();
    format!("{}…", cut.trim_end())
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
            let why = match trial.outcome {
                ClassStatus::Ongoing => "trial still running".to_owned(),
                _ => reason.unwrap_or_else(|| "no reason recorded".to_owned()),
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

/// "- **TCA — inadequate trial** (strong recommendation): Amitriptyline 25 mg/day, stopped …".
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
    let evidence = if evidence.is_empty() { "no trial on record".to_owned() } else { evidence.join("; ") };
    let grade = class.statement.grade.as_ref().map(|g| format!(" ({})", g.display)).unwrap_or_default();
    format!("- **{title} — {}**{grade}: {evidence}", status_label(assessment.status))
}
