//! The recommendation as the rules and cards use it: the drug classes and their policy (which
//! are required, the minimum daily dose of an adequate trial), the graded statements with their
//! citations, card texts, topics and override reasons. Read from the PlanDefinition of
//! `profiles/` by [`super::plan_definition`].

use serde_json::Value;

use super::medications::AgentId;

/// A code of one of the profiles' CodeSystems, with its display (a card's topic, an override
/// reason).
#[derive(Debug, Clone, PartialEq)]
pub struct Code {
    pub system: String,
    pub code: String,
    pub display: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grade {
    pub code: String,
    pub display: String,
    /// Higher is stronger.
    pub rank: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Citation {
    pub label: String,
    pub url: String,
}

/// One graded statement of the guideline.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Statement {
    pub title: String,
    pub text: String,
    pub grade: Option<Grade>,
    pub citations: Vec<Citation>,
}

/// The draft order a suggestion creates (from an ActivityDefinition).
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestedOrder {
    pub title: String,
    pub medication: Value,
    pub dosage: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DrugClass {
    pub id: String,
    pub title: String,
    pub required: bool,
    pub agents: Vec<AgentId>,
    pub statement: Statement,
    /// A "no response" failure below this daily dose is an inadequate trial.
    pub min_daily_mg: Option<f64>,
    pub suggestion: Option<SuggestedOrder>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContraindicationGroup {
    pub id: String,
    pub title: String,
    pub grade: Option<Grade>,
    pub value_set: String,
}

/// A card-producing action: its summary template, text, topic, override reasons and links.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CardText {
    /// With `{agent}`, `{classes}`, `{conditions}` placeholders.
    pub summary: String,
    pub statement: Statement,
    pub topic: Option<Code>,
    pub override_reasons: Vec<Code>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub url: String,
    pub version: String,
    pub source_label: String,
    pub source_url: Option<String>,
    pub step_therapy: CardText,
    pub classes: Vec<DrugClass>,
    pub trigger_value_set: String,
    pub in_scope_value_set: String,
    pub non_pain_value_set: String,
    pub order_reason_required_value_set: String,
    pub failure_no_response_value_set: String,
    pub failure_intolerance_value_set: String,
    pub cancer: Statement,
    pub cancer_value_set: String,
    pub crps: Statement,
    pub crps_value_set: String,
    pub rct: Statement,
    pub risks: Statement,
    pub monitoring: CardText,
    pub contraindication: CardText,
    pub contraindication_groups: Vec<ContraindicationGroup>,
}
