//! Assessment → CDS Hooks cards (clinical rules §4–§5): one step-therapy warning per call with its
//! first-line suggestions, the monitoring info card (order-select, backed), and one
//! contraindication warning per call. The classes are the patient's, not the order's: a call
//! with several ketamine drafts gets one card naming them all, whose suggestions replace them
//! all. Card and suggestion uuids are UUID v5 of hookInstance + rule + orders (+ class), so the
//! same call always gives byte-identical cards and feedback leads back to the rule. Every card
//! carries its kind, its orders, the grades it cites and the class statuses in an `extension`.

pub mod profile;
pub mod wording;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::fhir::datatypes::CodeableConcept;
use crate::fhir::version::FhirVersion;
use crate::fhir::written;
use crate::guideline::{
    Applicability, ClassAssessment, ClassStatus, Hook, OrderAssessment, SuggestionRuledOut, capitalise,
};
use crate::hooks::response::{
    Action, ActionType, Card, CardFacts, CardKind, Coding, Indicator, Link, LinkType, SelectionBehavior, Source,
    Suggestion, SuggestionFact,
};
use crate::knowledge::plan::{CardText, DrugClass, Statement};
use crate::knowledge::{BASE, Code, Grade, Knowledge};
use wording::{class_line, grade, join_and, limit, number, shorten, trial};

/// The class a suggestion that only removes the ketamine orders stands for.
pub const REMOVAL: &str = "removal";

/// The most characters a suggestion's label has (§4): the rest is in its actions'
/// descriptions and the order.
pub const MAX_LABEL: usize = 80;

/// The name of the card extension (CDS Hooks extensions are keyed by name).
pub const EXTENSION: &str = "ketamine-cds-card";

/// What the cards need to know of the call besides the assessment.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    pub hook: Hook,
    /// The client's FHIR version: the suggestions' resources are written in it.
    pub version: FhirVersion,
    pub hook_instance: &'a str,
    pub patient_id: &'a str,
    pub encounter_id: Option<&'a str>,
}

/// The examined ketamine orders the guideline speaks for, as the cards name them.
struct Orders<'a> {
    assessed: Vec<&'a OrderAssessment>,
    /// The uuid key: `MedicationRequest/id` of each order (one without an id named by its
    /// place), joined.
    key: String,
}

impl<'a> Orders<'a> {
    fn of(assessments: &'a [OrderAssessment]) -> Option<Self> {
        let (places, assessed): (Vec<usize>, Vec<&OrderAssessment>) =
            assessments.iter().enumerate().filter(|(_, o)| o.applies()).unzip();
        if assessed.is_empty() {
            return None;
        }
        let refs: Vec<String> = assessed
            .iter()
            .zip(places)
            .map(|(o, place)| o.order_ref.clone().unwrap_or_else(|| format!("order-{place}")))
            .collect();
        Some(Self { key: refs.join("+"), assessed })
    }

    /// The assessment the patient-level findings (classes, contraindications) are read from:
    /// the same record gives every order the same.
    fn patient(&self) -> &'a OrderAssessment {
        self.assessed[0]
    }

    /// "Ketamine", or "Ketamine and esketamine".
    fn agents(&self, knowledge: &Knowledge) -> String {
        let mut names: Vec<String> = Vec::new();
        for o in &self.assessed {
            let name = knowledge.medications.agent(o.agent).name.clone();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        capitalise(&join_and(&names))
    }

    /// References of the orders that have an id (what delete actions and the extension name).
    fn ids(&self) -> impl Iterator<Item = &'a String> {
        self.assessed.iter().filter_map(|o| o.order_ref.as_ref())
    }
}

pub fn cards(call: &CallInfo<'_>, assessments: &[OrderAssessment], knowledge: &Knowledge) -> Vec<Card> {
    let Some(orders) = Orders::of(assessments) else {
        return Vec::new();
    };
    let patient = orders.patient();
    let mut cards = Vec::new();
    if !patient.backed(knowledge) {
        cards.push(step_therapy(call, &orders, knowledge));
    } else if call.hook == Hook::OrderSelect {
        cards.push(monitoring(call, &orders, knowledge));
    }
    if !patient.contraindications.is_empty() {
        cards.push(contraindication(call, &orders, knowledge));
    }
    cards
}

fn uuid(call: &CallInfo<'_>, parts: &[&str]) -> String {
    let namespace = Uuid::new_v5(&Uuid::NAMESPACE_URL, BASE.as_bytes());
    // On chart open the same card must be the same card whenever the chart is opened (so an
    // EHR's acknowledgement of it holds): keyed by the patient, not by the call.
    let seed = match call.hook {
        Hook::PatientView => format!("patient-view|{}", call.patient_id),
        _ => call.hook_instance.to_owned(),
    };
    let name = std::iter::once(seed.as_str()).chain(parts.iter().copied()).collect::<Vec<_>>().join("|");
    Uuid::new_v5(&namespace, name.as_bytes()).to_string()
}

fn coding(code: &Code) -> Coding {
    Coding { system: code.system.clone(), code: code.code.clone(), display: code.display.clone() }
}

fn codings(codes: &[Code]) -> Vec<Coding> {
    codes.iter().map(coding).collect()
}

/// The card's source: its own (the contraindication card cites the ASRA consensus) or the plan's.
fn source(text: &CardText, knowledge: &Knowledge) -> Source {
    let (label, url) = match &text.source {
        Some((label, url)) => (label.clone(), url.clone()),
        None => (knowledge.plan.source_label.clone(), knowledge.plan.source_url.clone()),
    };
    Source { label, url, topic: text.topic.as_ref().map(coding) }
}

fn links(text: &CardText) -> Vec<Link> {
    text.statement
        .citations
        .iter()
        .map(|c| Link { label: c.label.clone(), url: c.url.clone(), kind: LinkType::Absolute })
        .collect()
}

/// The card's facts: its kind, its orders and the class statuses it shows.
fn facts(
    kind: CardKind,
    orders: &Orders<'_>,
    classes: &[ClassAssessment],
    grades: &[&Grade],
    knowledge: &Knowledge,
) -> CardFacts {
    let mut cited: Vec<(String, String)> = Vec::new();
    for g in grades {
        let grade = (g.system.clone(), g.code.clone());
        if !cited.contains(&grade) {
            cited.push(grade);
        }
    }
    CardFacts {
        kind,
        grades: cited,
        orders: orders.ids().cloned().collect(),
        classes: classes
            .iter()
            .map(|c| (knowledge.plan.classes[c.class].id.clone(), c.status.code().to_owned()))
            .collect(),
    }
}

/// The card's machine-readable extension, written from its facts: its kind, its orders, the
/// grades it cites and the class statuses it shows.
fn extension(facts: &CardFacts) -> serde_json::Map<String, Value> {
    let codes: Vec<Value> =
        facts.grades.iter().map(|(system, code)| json!({ "system": system, "code": code })).collect();
    let mut extension = json!({ "kind": facts.kind.code() });
    if !facts.orders.is_empty() {
        extension["orders"] = json!(facts.orders);
    }
    if !codes.is_empty() {
        extension["grades"] = Value::Array(codes);
    }
    if !facts.classes.is_empty() {
        let statuses: Vec<Value> =
            facts.classes.iter().map(|(class, status)| json!({ "class": class, "status": status })).collect();
        extension["classes"] = Value::Array(statuses);
    }
    let mut map = serde_json::Map::new();
    map.insert(EXTENSION.to_owned(), extension);
    map
}

/// A summary template with its `{name}` placeholders filled.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |text, (name, value)| text.replace(&format!("{{{name}}}"), value))
}

/// "**Orders**: Ketamine 50 MG/ML Injectable Solution; Ketamine 10 mg/mL infusion".
fn orders_line(orders: &Orders<'_>) -> String {
    let texts: Vec<&str> = orders.assessed.iter().map(|o| o.medication_text.as_str()).collect();
    let label = if texts.len() == 1 { "Order" } else { "Orders" };
    format!("**{label}**: {}", texts.join("; "))
}

/// The orders and what they are for, on one line: "**Order**: ketamine 50 MG/ML Injectable
/// Solution, for Postherpetic neuralgia (active problem list)".
fn order_and_indication_line(orders: &Orders<'_>) -> String {
    let (names, whence) = indication(orders);
    format!("{}, for {} ({whence})", orders_line(orders), join_and(&names))
}

/// The indication of the orders: the conditions each names, and where they came from.
fn indication_line(orders: &Orders<'_>) -> String {
    let (names, whence) = indication(orders);
    format!("**Indication** ({whence}): {}", join_and(&names))
}

/// The conditions of the orders' indications, and where they came from.
fn indication(orders: &Orders<'_>) -> (Vec<String>, &'static str) {
    let (mut names, mut from_order, mut from_list) = (Vec::<String>::new(), false, false);
    for o in &orders.assessed {
        if let Applicability::Applies { conditions, from_order: own, .. } = &o.applicability {
            for c in conditions {
                if !names.contains(&c.display) {
                    names.push(c.display.clone());
                }
            }
            if *own { from_order = true } else { from_list = true }
        }
    }
    let whence = match (from_order, from_list) {
        (true, true) => "reason on the order and active problem list",
        (true, false) => "reason on the order",
        _ => "active problem list",
    };
    (names, whence)
}

/// Whether any order's indication is cancer-related, or CRPS.
fn indication_marks(orders: &Orders<'_>) -> (bool, bool) {
    orders.assessed.iter().fold((false, false), |(cancer, crps), o| match o.applicability {
        Applicability::Applies { cancer_related, crps: is_crps, .. } => (cancer || cancer_related, crps || is_crps),
        Applicability::NotApplicable(_) => (cancer, crps),
    })
}

/// In two lines: the guideline's position on ketamine, the indication-specific evidence only
/// where it applies to this patient, the 2020 RCT; then the risks — each in its short form (the
/// full texts are behind the card's source and links). Returns the text and the statements it
/// cites.
fn position<'k>(orders: &Orders<'_>, knowledge: &'k Knowledge) -> (String, Vec<&'k Statement>) {
    let plan = &knowledge.plan;
    let (cancer, crps) = indication_marks(orders);
    let mut cited = vec![&plan.step_therapy.statement];
    let mut parts = vec![plan.step_therapy.statement.brief().to_owned()];
    let mut evidence = |statement: &'k Statement| {
        parts.push(format!("{} ({}): {}", statement.title, grade(statement), statement.brief()));
        cited.push(statement);
    };
    if cancer {
        evidence(&plan.cancer);
    }
    if crps {
        evidence(&plan.crps);
    }
    evidence(&plan.rct);
    let text = format!("**Guideline position**: {}.\n\n**Risks**: {}.", parts.join("; "), plan.risks.brief());
    (text, cited)
}

/// On chart open, the class statuses the card shows (its uuid changes when they do); nothing on
/// the order hooks, whose uuids are the call's.
fn chart_open_statuses(call: &CallInfo<'_>, classes: &[ClassAssessment], knowledge: &Knowledge) -> String {
    if call.hook != Hook::PatientView {
        return String::new();
    }
    let statuses: Vec<String> =
        classes.iter().map(|c| format!("{}={}", knowledge.plan.classes[c.class].id, c.status.code())).collect();
    statuses.join(",")
}

/// Titles of the required classes whose assessment passes `keep`, in plan order.
fn required_class_titles(
    classes: &[ClassAssessment],
    knowledge: &Knowledge,
    keep: impl Fn(&ClassAssessment) -> bool,
) -> Vec<String> {
    let plan_classes = &knowledge.plan.classes;
    classes
        .iter()
        .filter(|c| plan_classes[c.class].required && keep(c))
        .map(|c| plan_classes[c.class].title.clone())
        .collect()
}

fn step_therapy(call: &CallInfo<'_>, orders: &Orders<'_>, knowledge: &Knowledge) -> Card {
    let plan = &knowledge.plan;
    let patient = orders.patient();
    let agent = orders.agents(knowledge);
    let missing = required_class_titles(&patient.classes, knowledge, |c| c.status != ClassStatus::Failed);
    let summary = limit(fill(&plan.step_therapy.summary, &[("agent", &agent), ("classes", &join_and(&missing))]));
    let required: Vec<String> =
        patient.classes.iter().filter(|c| plan.classes[c.class].required).map(|c| class_line(c, knowledge)).collect();
    // The class lines first: what the clinician must read.
    let mut sections =
        vec![format!("**Required first-line classes** (each needs a documented failure):\n{}", required.join("\n"))];
    // Second-line agents only when the record has any, on a line of their own.
    let second_line: Vec<String> = patient
        .classes
        .iter()
        .filter(|c| !plan.classes[c.class].required && c.status != ClassStatus::NotDocumented)
        .flat_map(|c| c.evidence.iter().map(|t| trial(t, knowledge)))
        .collect();
    if !second_line.is_empty() {
        sections.push(format!("**Second-line agents** (not required): {}", second_line.join("; ")));
    }
    sections.push(order_and_indication_line(orders));
    let (suggestions, left_out) = suggestions(call, orders, knowledge);
    if !left_out.is_empty() {
        sections.push(format!("**Not suggested**: {}", left_out.join("; ")));
    }
    if patient.minor {
        let age = plan.adult_age.map(|a| format!(" under {a}")).unwrap_or_default();
        sections.push(format!("**Patient{age}**: {}", capitalise(&plan.minor_text)));
    }
    if call.hook == Hook::PatientView {
        sections.push(format!("**Signed order**: {}", capitalise(&plan.signed_order_text)));
    }
    let (position, cited) = position(orders, knowledge);
    sections.push(position);
    let mut grades: Vec<&Grade> = patient
        .classes
        .iter()
        .filter(|c| plan.classes[c.class].required)
        .filter_map(|c| plan.classes[c.class].statement.grade.as_ref())
        .collect();
    grades.extend(cited.iter().filter_map(|s| s.grade.as_ref()));
    let facts = facts(CardKind::StepTherapy, orders, &patient.classes, &grades, knowledge);
    Card {
        uuid: {
            let statuses = chart_open_statuses(call, &patient.classes, knowledge);
            let mut parts = vec!["step-therapy", orders.key.as_str()];
            if !statuses.is_empty() {
                parts.push(&statuses);
            }
            uuid(call, &parts)
        },
        summary,
        indicator: Indicator::Warning,
        detail: Some(sections.join("\n\n")),
        source: source(&plan.step_therapy, knowledge),
        selection_behavior: (!suggestions.is_empty()).then_some(SelectionBehavior::AtMostOne),
        suggestions,
        override_reasons: codings(&plan.step_therapy.override_reasons),
        links: links(&plan.step_therapy),
        extension: extension(&facts),
        facts,
    }
}

/// One suggestion per required class with no trial on record or only an inadequate one, and no
/// trial of it still running: a `create` of the class's preferred first-line order, then a
/// `delete` of every examined ketamine draft (some clients apply only the first action). No
/// suggestion for an agent the patient's conditions rule out; those are returned as lines for
/// the detail. The highest-graded suggestion is recommended. A patient under the adult age gets
/// no first-line order (the doses are adult doses): only the removal of the ketamine drafts.
fn suggestions(call: &CallInfo<'_>, orders: &Orders<'_>, knowledge: &Knowledge) -> (Vec<Suggestion>, Vec<String>) {
    let plan = &knowledge.plan;
    let patient = orders.patient();
    let mut left_out = Vec::new();
    let mut candidates: Vec<(&DrugClass, ClassStatus)> = Vec::new();
    for c in patient.classes.iter() {
        let class = &plan.classes[c.class];
        let Some(suggested) = class.suggestion.as_ref() else { continue };
        let wanted = matches!(c.status, ClassStatus::NotDocumented | ClassStatus::InadequateTrial);
        if !class.required || !wanted || c.is_running() {
            continue;
        }
        let ruled_out: Vec<&SuggestionRuledOut> =
            patient.suggestions_ruled_out.iter().filter(|r| r.class == c.class).collect();
        if ruled_out.is_empty() {
            candidates.push((class, c.status));
        } else {
            // The agent's name, read only for a suggestion left out (it costs a recognition).
            let name =
                suggested_agent(&suggested.medication, knowledge).unwrap_or_else(|| suggested.title.to_lowercase());
            left_out.extend(ruled_out.iter().map(|r| format!("{name} — {}: {}", join_and(&r.conditions), r.reason)));
        }
    }
    if patient.minor {
        return (removal(call, orders, knowledge).into_iter().collect(), left_out);
    }
    let rank = |class: &DrugClass| class.statement.grade.as_ref().map_or(i64::MIN, |g| g.rank);
    let best = candidates.iter().map(|(class, _)| rank(class)).max();
    let mut recommended_given = false;
    let suggestions = candidates
        .into_iter()
        .filter_map(|(class, status)| {
            let suggested = class.suggestion.as_ref()?;
            let is_recommended = !recommended_given && Some(rank(class)) == best;
            recommended_given |= is_recommended;
            let retrial = match (status, class.min_daily_mg) {
                (ClassStatus::InadequateTrial, Some(min)) => Some(number(min)),
                _ => None,
            };
            let retrial_text = retrial.as_ref().map(|dose| plan.retrial_text.replace("{dose}", dose));
            let mut dosage = suggested.dosage.clone();
            if let (Some(retrial), Some(first)) = (&retrial_text, dosage.get_mut(0)) {
                let text = first["text"].as_str().map_or_else(|| retrial.clone(), |t| format!("{t}; {retrial}"));
                first["text"] = Value::String(text);
            }
            let title = suggested.title.to_lowercase();
            let grade = format!("{}, {}", class.title, grade(&class.statement));
            let then = retrial_text.map(|r| format!(", then {r}")).unwrap_or_default();
            let mut actions = vec![Action {
                kind: ActionType::Create,
                description: format!("Order {title}{then} ({grade})"),
                resource: Some(draft_order(call, &suggested.medication, &dosage)),
                resource_id: None,
            }];
            actions.extend(deletes(call, orders, knowledge));
            // The label says what is ordered; after an inadequate trial, the dose to reach.
            let label = match &retrial {
                Some(dose) => format!("Order {title} ({})", plan.retrial_label.replace("{dose}", dose)),
                None => format!("Order {title} ({grade})"),
            };
            Some(Suggestion {
                label: shorten(label, MAX_LABEL),
                uuid: uuid(call, &["step-therapy", &orders.key, &class.id]),
                is_recommended,
                actions,
                stands_for: Some(SuggestionFact { class: class.id.clone(), agent: suggested.title.clone() }),
            })
        })
        .collect();
    (suggestions, left_out)
}

/// The agent a suggested order's medication names ("duloxetine"), for short text.
fn suggested_agent(medication: &Value, knowledge: &Knowledge) -> Option<String> {
    let concept: CodeableConcept = serde_json::from_value(medication.clone()).ok()?;
    let agent = *knowledge.medications.recognise(&concept).first()?;
    Some(knowledge.medications.agent(agent).name.clone())
}

/// A `delete` of each examined ketamine draft that has an id; none on chart open, where the
/// order is signed: it is reviewed, not deleted by a click.
fn deletes(call: &CallInfo<'_>, orders: &Orders<'_>, knowledge: &Knowledge) -> Vec<Action> {
    if call.hook == Hook::PatientView {
        return Vec::new();
    }
    let agent = &knowledge.medications.agent(orders.patient().agent).name;
    let several = orders.assessed.len() > 1;
    orders
        .assessed
        .iter()
        .filter_map(|o| Some((o, o.order_ref.as_ref()?)))
        .map(|(o, order_ref)| Action {
            kind: ActionType::Delete,
            description: if several {
                format!("Remove the {agent} order ({})", o.medication_text)
            } else {
                format!("Remove the {agent} order")
            },
            resource: None,
            resource_id: Some(order_reference(call, order_ref)),
        })
        .collect()
}

/// The suggestion that only removes the ketamine drafts (a patient under the adult age), when
/// any has an id to remove (so none on chart open).
fn removal(call: &CallInfo<'_>, orders: &Orders<'_>, knowledge: &Knowledge) -> Option<Suggestion> {
    let actions = deletes(call, orders, knowledge);
    let agent = &knowledge.medications.agent(orders.patient().agent).name;
    let label =
        if actions.len() > 1 { format!("Remove the {agent} orders") } else { format!("Remove the {agent} order") };
    (!actions.is_empty()).then(|| Suggestion {
        stands_for: Some(SuggestionFact { class: REMOVAL.to_owned(), agent: label.clone() }),
        label: shorten(label, MAX_LABEL),
        uuid: uuid(call, &["step-therapy", &orders.key, "remove"]),
        is_recommended: false,
        actions,
    })
}

/// The suggested first-line order, as a draft in the client's FHIR version.
fn draft_order(call: &CallInfo<'_>, medication: &Value, dosage: &Value) -> Value {
    written::draft_order(call.version, call.patient_id, call.encounter_id, medication, dosage)
}

/// An examined order's reference as the client names it.
fn order_reference(call: &CallInfo<'_>, order_ref: &str) -> String {
    written::order_reference(call.version, order_ref)
}

fn monitoring(call: &CallInfo<'_>, orders: &Orders<'_>, knowledge: &Knowledge) -> Card {
    let plan = &knowledge.plan;
    let patient = orders.patient();
    let agent = orders.agents(knowledge);
    let required = required_class_titles(&patient.classes, knowledge, |_| true);
    let failures: Vec<String> = patient
        .classes
        .iter()
        .filter(|c| plan.classes[c.class].required)
        .flat_map(|c| {
            let title = capitalise(&plan.classes[c.class].title);
            c.evidence.iter().map(move |t| format!("- {title}: {}", trial(t, knowledge)))
        })
        .collect();
    let detail = format!(
        "{}\n\n{}\n\n**Documented first-line failures**:\n{}\n\n**Monitoring**: {}\n\n**Risks**: {}",
        orders_line(orders),
        indication_line(orders),
        failures.join("\n"),
        plan.monitoring.statement.text,
        plan.risks.text
    );
    let grades: Vec<&Grade> = patient
        .classes
        .iter()
        .filter(|c| plan.classes[c.class].required)
        .filter_map(|c| plan.classes[c.class].statement.grade.as_ref())
        .chain(plan.monitoring.statement.grade.as_ref())
        .collect();
    let facts = facts(CardKind::Info, orders, &patient.classes, &grades, knowledge);
    Card {
        uuid: uuid(call, &["monitoring", &orders.key]),
        summary: limit(fill(&plan.monitoring.summary, &[("agent", &agent), ("classes", &join_and(&required))])),
        indicator: Indicator::Info,
        detail: Some(detail),
        source: source(&plan.monitoring, knowledge),
        suggestions: Vec::new(),
        selection_behavior: None,
        override_reasons: Vec::new(),
        links: links(&plan.step_therapy),
        extension: extension(&facts),
        facts,
    }
}

fn contraindication(call: &CallInfo<'_>, orders: &Orders<'_>, knowledge: &Knowledge) -> Card {
    let plan = &knowledge.plan;
    let patient = orders.patient();
    let agent = orders.agents(knowledge);
    let conditions: Vec<String> = patient.contraindications.iter().flat_map(|f| f.conditions.iter().cloned()).collect();
    let categories: Vec<String> =
        patient.contraindications.iter().map(|f| plan.contraindication_groups[f.group].title.clone()).collect();
    // Each category: the conditions the record names, its grade and what to do.
    let lines: Vec<String> = patient
        .contraindications
        .iter()
        .map(|f| {
            let group = &plan.contraindication_groups[f.group];
            let grade = group.grade.as_ref().map_or("not graded".to_owned(), |g| g.display.clone());
            let advice = if group.advice.is_empty() { String::new() } else { format!(" — {}", group.advice) };
            format!("- **{}** ({grade}): {}{advice}", capitalise(&group.title), join_and(&f.conditions))
        })
        .collect();
    let detail = format!(
        "{}\n\n{}\n\n**Relative contraindications on record**:\n{}",
        orders_line(orders),
        plan.contraindication.statement.text,
        lines.join("\n")
    );
    let grades: Vec<&Grade> =
        patient.contraindications.iter().filter_map(|f| plan.contraindication_groups[f.group].grade.as_ref()).collect();
    let facts = facts(CardKind::Contraindication, orders, &[], &grades, knowledge);
    Card {
        uuid: uuid(call, &["contraindications", &orders.key]),
        summary: limit(fill(
            &plan.contraindication.summary,
            &[("agent", &agent), ("categories", &join_and(&categories)), ("conditions", &join_and(&conditions))],
        )),
        indicator: Indicator::Warning,
        detail: Some(detail),
        source: source(&plan.contraindication, knowledge),
        suggestions: Vec::new(),
        selection_behavior: None,
        override_reasons: codings(&plan.contraindication.override_reasons),
        links: links(&plan.contraindication),
        extension: extension(&facts),
        facts,
    }
}
