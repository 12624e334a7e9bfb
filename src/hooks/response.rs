//! CDS Hooks response types: cards, suggestions, actions, links.
//!
//! Every optional field is omitted when absent or empty, so a serialised response never holds
//! `null`, `""`, `[]` or `{}` (the CDS Hooks null/empty rule); only `cards` may be empty.

use serde::Serialize;
use serde_json::Value;

/// A code with its system and display, as CDS Hooks `overrideReasons` and `source.topic` need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coding {
    pub system: String,
    pub code: String,
    pub display: String,
}

/// The body of a service answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    pub cards: Vec<Card>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Indicator {
    Info,
    Warning,
    Critical,
}

impl Indicator {
    pub fn name(self) -> &'static str {
        match self {
            Indicator::Info => "info",
            Indicator::Warning => "warning",
            Indicator::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<Coding>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub uuid: String,
    pub summary: String,
    pub indicator: Indicator,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub source: Source,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection_behavior: Option<SelectionBehavior>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub override_reasons: Vec<Coding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// CDS Hooks extensions of the card, by name.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub extension: serde_json::Map<String, Value>,
    /// What the card says, as the service that made it knows it (never sent as is): the fatigue
    /// step, the store and the analytics read this, never the card's JSON.
    #[serde(skip)]
    pub facts: CardFacts,
}

/// Which rule a card gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CardKind {
    StepTherapy,
    Contraindication,
    /// The monitoring card (order-select, first-line failures documented).
    #[default]
    Info,
}

impl CardKind {
    /// The kind as the card's extension and the store name it.
    pub fn code(self) -> &'static str {
        match self {
            CardKind::StepTherapy => "step-therapy",
            CardKind::Contraindication => "contraindication",
            CardKind::Info => "info",
        }
    }
}

/// A card's kind, the orders it speaks for (`MedicationRequest/id`), the class statuses it
/// shows (`(class, status)`, in the plan's order) and the evidence grades it cites (`(system,
/// code)`, each once).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CardFacts {
    pub kind: CardKind,
    pub orders: Vec<String>,
    pub classes: Vec<(String, String)>,
    pub grades: Vec<(String, String)>,
}

impl CardFacts {
    /// The class statuses as one key, `class=status` joined by `,` (what a snooze is bound to).
    pub fn classes_key(&self) -> String {
        self.classes.iter().map(|(class, status)| format!("{class}={status}")).collect::<Vec<_>>().join(",")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionBehavior {
    AtMostOne,
    Any,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub label: String,
    pub uuid: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_recommended: bool,
    pub actions: Vec<Action>,
    /// What the suggestion stands for, as the service that made it knows it (never sent): the
    /// store and the analytics read this, not the actions' resources, whose shape depends on the
    /// client's FHIR version and EHR.
    #[serde(skip)]
    pub stands_for: Option<SuggestionFact>,
}

/// The class and agent a suggestion orders (`removal` for one that only removes orders).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SuggestionFact {
    pub class: String,
    pub agent: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionType {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    #[serde(rename = "type")]
    pub kind: ActionType,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub label: String,
    pub url: String,
    #[serde(rename = "type")]
    pub kind: LinkType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkType {
    Absolute,
    Smart,
}
