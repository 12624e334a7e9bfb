//! The recommendation as the rules and cards use it: the drug classes and their policy (which
//! are required, the minimum daily dose of an adequate trial), the graded statements with their
//! citations, card texts, topics and override reasons. Read from the PlanDefinition of
//! `profiles/` by [`super::plan_definition`].

use serde_json::Value;

use super::medications::{AgentId, WordSet};

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
    /// The evidence-grade CodeSystem's URL.
    pub system: String,
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
    /// What a card shows of it in a few words (the action's `textEquivalent`); the full text
    /// stays behind the card's source and links.
    pub short: Option<String>,
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
    /// Only a systemic trial counts (a topical product of its agents is no trial of the class).
    pub systemic: bool,
    /// When to offer no suggestion of this class: an active condition of the ValueSet rules
    /// its preferred agent out (duloxetine with severe hepatic disease).
    pub suggestion_avoided: Vec<AvoidedWith>,
    /// Names of the class itself, lower case (its ValueSet's title and `class-synonym`s): an
    /// allergy recorded to the class ("Tricyclic antidepressant") is a failure of the class.
    pub names: Vec<String>,
    pub suggestion: Option<SuggestedOrder>,
}

impl Statement {
    /// The short text when there is one, else the full text.
    pub fn brief(&self) -> &str {
        self.short.as_deref().unwrap_or(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContraindicationGroup {
    pub id: String,
    /// The category, as a card's summary names it ("cardiovascular disease").
    pub title: String,
    /// What to do (the action's description): "avoid".
    pub advice: String,
    pub grade: Option<Grade>,
    pub value_set: String,
}

/// A ValueSet of conditions that rule out a class's suggested agent, and why (the labelling).
#[derive(Debug, Clone, PartialEq)]
pub struct AvoidedWith {
    pub value_set: String,
    pub reason: String,
}

/// A card-producing action: its summary template, text, topic, override reasons and links.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CardText {
    /// With `{agent}`, `{classes}`, `{conditions}`, `{categories}` placeholders.
    pub summary: String,
    pub statement: Statement,
    /// The card's own source (label, URL) when the action names one; else the plan's.
    pub source: Option<(String, Option<String>)>,
    pub topic: Option<Code>,
    pub override_reasons: Vec<Code>,
    /// Days an override with each reason (same order) holds the step-therapy card back for the
    /// patient (the reason's `snooze-days` property); none: the card shows again next time.
    pub snooze_days: Vec<Option<u32>>,
}

impl CardText {
    /// The snooze period of an override reason of this card, by system and code.
    pub fn snooze_days(&self, system: Option<&str>, code: Option<&str>) -> Option<u32> {
        let code = code?;
        self.override_reasons
            .iter()
            .zip(&self.snooze_days)
            .find(|(r, _)| r.code == code && system.is_none_or(|s| s == r.system))
            .and_then(|(_, days)| *days)
    }

    /// How far back an override can still hold a snooze: the longest snooze period, as the
    /// earliest override time (ms since the epoch) at `now` — at least `at_least_days` back.
    pub fn snooze_look_back(&self, now_ms: i64, at_least_days: u32) -> i64 {
        let days = self.snooze_days.iter().flatten().copied().max().unwrap_or(0).max(at_least_days);
        now_ms.saturating_sub(i64::from(days) * 86_400_000)
    }
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
    /// Words that make a product or route topical ("topical", "transdermal", "gel"…).
    pub topical_forms: WordSet,
    /// Words of the dose form, route or brand that make the product the one that needs an
    /// order-level pain reason ("nasal" inside any word, "spravato": the esketamine depression
    /// product).
    pub order_reason_required_forms: WordSet,
    /// Codes of that product (nasal esketamine products, the Spravato brand, ATC N06AX27).
    pub order_reason_required_product_value_set: Option<String>,
    /// What a suggestion after an inadequate trial adds to its dosage text and description,
    /// with `{dose}` for the minimum daily dose.
    pub retrial_text: String,
    /// The same, short, for the suggestion's label ("titrate to ≥ {dose} mg/day").
    pub retrial_label: String,
    /// What a class line says of a running trial ("take it to an adequate trial and record the
    /// outcome").
    pub running_trial_text: String,
    /// What a class line says of a recorded reason that is no failure reason ("not a recorded
    /// failure"), and what would make it one ("record no response or intolerance").
    pub not_a_failure_text: String,
    pub record_outcome_text: String,
    /// Under this age (years) no first-line order is suggested (the doses are adult doses).
    pub adult_age: Option<u32>,
    /// What the step-therapy card says to a patient under that age.
    pub minor_text: String,
    /// What the step-therapy card says on chart open, of an order already signed.
    pub signed_order_text: String,
}
