//! Assessment → CDS Hooks cards (RULES.md §4–§5): the step-therapy warning with its first-line
//! suggestions, the monitoring info card (order-select, backed), and the contraindication
//! warning. Card and suggestion uuids are UUID v5 of hookInstance + rule + order (+ class), so
//! the same call always gives byte-identical cards and feedback leads back to the rule.

pub mod wording;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::guideline::{Applicability, ClassAssessment, ClassStatus, Hook, OrderAssessment, capitalise};
use crate::hooks::response::{
    Action, ActionType, Card, Coding, Indicator, Link, LinkType, SelectionBehavior, Source, Suggestion,
};
use crate::knowledge::plan::CardText;
use crate::knowledge::{BASE, Code, Knowledge};
use wording::{class_line, grade, join_and, limit, trial};

/// What the cards need to know of the call besides the assessment.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    pub hook: Hook,
    pub hook_instance: &'a str,
    pub patient_id: &'a str,
    pub encounter_id: Option<&'a str>,
}

pub fn cards(call: &CallInfo<'_>, assessments: &[OrderAssessment], knowledge: &Knowledge) -> Vec<Card> {
    let mut cards = Vec::new();
    for (index, order) in assessments.iter().enumerate() {
        if !order.applies() {
            continue;
        }
        let key = order.order_ref.clone().unwrap_or_else(|| format!("order-{index}"));
        if !order.backed(knowledge) {
            cards.push(step_therapy(call, &key, order, knowledge));
        } else if call.hook == Hook::OrderSelect {
            cards.push(monitoring(call, &key, order, knowledge));
        }
        if !order.contraindications.is_empty() {
            cards.push(contraindication(call, &key, order, knowledge));
        }
    }
    cards
}

fn uuid(call: &CallInfo<'_>, parts: &[&str]) -> String {
    let namespace = Uuid::new_v5(&Uuid::NAMESPACE_URL, BASE.as_bytes());
    let name = std::iter::once(call.hook_instance).chain(parts.iter().copied()).collect::<Vec<_>>().join("|");
    Uuid::new_v5(&namespace, name.as_bytes()).to_string()
}

fn source(text: &CardText, knowledge: &Knowledge) -> Source {
    Source {
        label: knowledge.plan.source_label.clone(),
        url: knowledge.plan.source_url.clone(),
        topic: text.topic.as_ref().map(coding),
    }
}

fn coding(code: &Code) -> Coding {
    Coding { system: code.system.clone(), code: code.code.clone(), display: code.display.clone() }
}

fn codings(codes: &[Code]) -> Vec<Coding> {
    codes.iter().map(coding).collect()
}

fn links(text: &CardText) -> Vec<Link> {
    text.statement
        .citations
        .iter()
        .map(|c| Link { label: c.label.clone(), url: c.url.clone(), kind: LinkType::Absolute })
        .collect()
}

fn fill(template: &str, agent: &str, classes: &str, conditions: &str) -> String {
    template.replace("{agent}", agent).replace("{classes}", classes).replace("{conditions}", conditions)
}

fn agent_name(order: &OrderAssessment, knowledge: &Knowledge) -> String {
    capitalise(&knowledge.medications.agent(order.agent).name)
}

/// The guideline's position on ketamine and its risks, with grades; the statements that apply to
/// this patient (cancer-related pain, CRPS) are marked.
fn position(order: &OrderAssessment, knowledge: &Knowledge) -> String {
    let plan = &knowledge.plan;
    let (cancer, crps) = match order.applicability {
        Applicability::Applies { cancer_related, crps, .. } => (cancer_related, crps),
        Applicability::NotApplicable(_) => (false, false),
    };
    let mark = |applies: bool| {
        if applies { " **Applies to this patient.**" } else { "" }
    };
    format!(
        "**Guideline position**: {}\n\n\
         - {} ({}): {}{}\n\
         - {} ({}): {}\n\
         - {} ({}): {}{}\n\n\
         **Risks**: {}",
        plan.step_therapy.statement.text,
        plan.cancer.title,
        grade(&plan.cancer),
        plan.cancer.text,
        mark(cancer),
        plan.rct.title,
        grade(&plan.rct),
        plan.rct.text,
        plan.crps.title,
        grade(&plan.crps),
        plan.crps.text,
        mark(crps),
        plan.risks.text,
    )
}

fn indication_line(order: &OrderAssessment) -> String {
    match &order.applicability {
        Applicability::Applies { conditions, from_order, .. } => {
            let names: Vec<String> = conditions.iter().map(|c| c.display.clone()).collect();
            let whence = if *from_order { "reason on the order" } else { "active problem list" };
            format!("**Indication** ({whence}): {}", join_and(&names))
        }
        Applicability::NotApplicable(_) => String::new(),
    }
}

/// Titles of the required classes whose assessment passes `keep`, in plan order.
fn required_class_titles(
    order: &OrderAssessment,
    knowledge: &Knowledge,
    keep: impl Fn(&ClassAssessment) -> bool,
) -> Vec<String> {
    let classes = &knowledge.plan.classes;
    order
        .classes
        .iter()
        .filter(|c| classes[c.class].required && keep(c))
        .map(|c| classes[c.class].title.clone())
        .collect()
}

fn step_therapy(call: &CallInfo<'_>, key: &str, order: &OrderAssessment, knowledge: &Knowledge) -> Card {
    let plan = &knowledge.plan;
    let agent = agent_name(order, knowledge);
    let missing = required_class_titles(order, knowledge, |c| c.status != ClassStatus::Failed);
    let summary = limit(fill(&plan.step_therapy.summary, &agent, &join_and(&missing), ""));
    let class_lines: Vec<String> = order.classes.iter().map(|c| class_line(c, knowledge)).collect();
    let detail = format!(
        "{}\n\n**First-line classes** (each required class needs a documented failure):\n{}\n\n{}",
        indication_line(order),
        class_lines.join("\n"),
        position(order, knowledge)
    );
    let suggestions = suggestions(call, key, order, knowledge);
    Card {
        uuid: uuid(call, &["step-therapy", key]),
        summary,
        indicator: Indicator::Warning,
        detail: Some(detail),
        source: source(&plan.step_therapy, knowledge),
        selection_behavior: (!suggestions.is_empty()).then_some(SelectionBehavior::AtMostOne),
        suggestions,
        override_reasons: codings(&plan.step_therapy.override_reasons),
        links: links(&plan.step_therapy),
    }
}

/// One suggestion per required class with no trial on record: replace the ketamine draft with
/// the class's preferred first-line order. The highest-graded is recommended.
fn suggestions(call: &CallInfo<'_>, key: &str, order: &OrderAssessment, knowledge: &Knowledge) -> Vec<Suggestion> {
    let plan = &knowledge.plan;
    let agent = knowledge.medications.agent(order.agent).name.clone();
    let candidates: Vec<_> = order
        .classes
        .iter()
        .map(|c| &plan.classes[c.class])
        .zip(order.classes.iter())
        .filter(|(class, c)| class.required && c.status == ClassStatus::NotDocumented)
        .filter_map(|(class, _)| Some((class, class.suggestion.as_ref()?)))
        .collect();
    let rank = |class: &crate::knowledge::DrugClass| class.statement.grade.as_ref().map_or(i64::MIN, |g| g.rank);
    let best = candidates.iter().map(|(class, _)| rank(class)).max();
    let mut recommended_given = false;
    candidates
        .into_iter()
        .map(|(class, suggested)| {
            let is_recommended = !recommended_given && Some(rank(class)) == best;
            recommended_given |= is_recommended;
            let mut actions = Vec::new();
            if let Some(order_ref) = &order.order_ref {
                actions.push(Action {
                    kind: ActionType::Delete,
                    description: format!("Remove the {agent} order"),
                    resource: None,
                    resource_id: Some(order_ref.clone()),
                });
            }
            actions.push(Action {
                kind: ActionType::Create,
                description: format!("Order {}", suggested.title.to_lowercase()),
                resource: Some(draft_order(call, &suggested.medication, &suggested.dosage)),
                resource_id: None,
            });
            Suggestion {
                label: format!(
                    "Order {} ({}, {}) instead",
                    suggested.title.to_lowercase(),
                    class.title,
                    grade(&class.statement)
                ),
                uuid: uuid(call, &["step-therapy", key, &class.id]),
                is_recommended,
                actions,
            }
        })
        .collect()
}

fn draft_order(call: &CallInfo<'_>, medication: &Value, dosage: &Value) -> Value {
    let mut order = json!({
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": medication,
        "subject": { "reference": format!("Patient/{}", call.patient_id) },
        "dosageInstruction": dosage,
    });
    if let Some(encounter) = call.encounter_id {
        order["encounter"] =
            json!({ "reference": format!("Encounter/{}", encounter.trim_start_matches("Encounter/")) });
    }
    order
}

fn monitoring(call: &CallInfo<'_>, key: &str, order: &OrderAssessment, knowledge: &Knowledge) -> Card {
    let plan = &knowledge.plan;
    let agent = agent_name(order, knowledge);
    let required = required_class_titles(order, knowledge, |_| true);
    let failures: Vec<String> = order
        .classes
        .iter()
        .filter(|c| plan.classes[c.class].required)
        .flat_map(|c| {
            let title = capitalise(&plan.classes[c.class].title);
            c.evidence.iter().map(move |t| format!("- {title}: {}", trial(t, knowledge)))
        })
        .collect();
    let detail = format!(
        "{}\n\n**Documented first-line failures**:\n{}\n\n**Monitoring**: {}\n\n**Risks**: {}",
        indication_line(order),
        failures.join("\n"),
        plan.monitoring.statement.text,
        plan.risks.text
    );
    Card {
        uuid: uuid(call, &["monitoring", key]),
        summary: limit(fill(&plan.monitoring.summary, &agent, &join_and(&required), "")),
        indicator: Indicator::Info,
        detail: Some(detail),
        source: source(&plan.monitoring, knowledge),
        suggestions: Vec::new(),
        selection_behavior: None,
        override_reasons: Vec::new(),
        links: links(&plan.step_therapy),
    }
}

fn contraindication(call: &CallInfo<'_>, key: &str, order: &OrderAssessment, knowledge: &Knowledge) -> Card {
    let plan = &knowledge.plan;
    let agent = agent_name(order, knowledge);
    let conditions: Vec<String> = order.contraindications.iter().flat_map(|f| f.conditions.iter().cloned()).collect();
    let lines: Vec<String> = order
        .contraindications
        .iter()
        .map(|f| {
            let group = &plan.contraindication_groups[f.group];
            let grade = group.grade.as_ref().map_or("not graded".to_owned(), |g| g.display.clone());
            format!("- **{}** ({grade}): {}", capitalise(&group.title), join_and(&f.conditions))
        })
        .collect();
    let detail = format!(
        "{}\n\n**Relative contraindications on record**:\n{}",
        plan.contraindication.statement.text,
        lines.join("\n")
    );
    Card {
        uuid: uuid(call, &["contraindications", key]),
        summary: limit(fill(&plan.contraindication.summary, &agent, "", &join_and(&conditions))),
        indicator: Indicator::Warning,
        detail: Some(detail),
        source: source(&plan.contraindication, knowledge),
        suggestions: Vec::new(),
        selection_behavior: None,
        override_reasons: codings(&plan.contraindication.override_reasons),
        links: links(&plan.contraindication),
    }
}
