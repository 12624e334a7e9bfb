//! Medication recognition (clinical rules §1): which agents a medication concept names, by RxNorm
//! ingredient or product code, ATC, local code, then the whole-word text rule (ingredient and
//! brand names; the trigger agents are searched in the text even when a code is recognised);
//! dose forms named in a product (topical, nasal); and the product strength (mg) or
//! concentration (mg/mL) used for doses counted in tablets, capsules or millilitres.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::fhir::datatypes::CodeableConcept;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

/// Index of an agent in the catalog.
pub type AgentId = usize;

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// Lower-case name, as the text rule searches for it ("amitriptyline").
    pub name: String,
    /// Canonical URL of the agent's ValueSet.
    pub value_set: String,
    /// Other names the text rule searches for: brand names ("elavil"), "s-ketamine".
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MedicationCatalog {
    agents: Vec<Agent>,
    /// Agents by system, then code: looked up without allocating.
    by_code: HashMap<String, HashMap<String, Vec<AgentId>>>,
    product_names: HashMap<String, String>,
    /// Agents searched for in a text even when a coding is recognised (the trigger agents: a
    /// compounded gel coded as its amitriptyline is still a ketamine order).
    always_searched: Vec<AgentId>,
    /// The agents' names, searched for in one pass over a text; built on first use after the
    /// agents change.
    names: OnceLock<Names>,
    /// The names of the always-searched agents alone, likewise.
    always_searched_names: OnceLock<Names>,
}

/// Every agent name in one automaton: pattern `i` is `agents_by_name[i].0`.
#[derive(Debug, Clone)]
struct Names {
    automaton: AhoCorasick,
    agents_by_name: Vec<(String, Vec<AgentId>)>,
}

impl Names {
    /// The names of `agents` (of those listed in `only`, when given).
    fn of(agents: &[Agent], only: Option<&[AgentId]>) -> Self {
        let mut agents_by_name: Vec<(String, Vec<AgentId>)> = Vec::new();
        for (id, agent) in agents.iter().enumerate().filter(|(id, _)| only.is_none_or(|o| o.contains(id))) {
            for name in std::iter::once(&agent.name).chain(&agent.aliases).filter(|n| !n.is_empty()) {
                match agents_by_name.iter_mut().find(|(known, _)| known == name) {
                    Some((_, ids)) if ids.contains(&id) => {}
                    Some((_, ids)) => ids.push(id),
                    None => agents_by_name.push((name.clone(), vec![id])),
                }
            }
        }
        // A DFA, chosen rather than left to the builder: with the brand names there are some two
        // hundred names, past which it would pick a slower NFA; the DFA of short names is small.
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .build(agents_by_name.iter().map(|(name, _)| name))
            .expect("agent names are short literals");
        Self { automaton, agents_by_name }
    }

    /// The agents named as whole words in `text`; a name inside a longer name found at the same
    /// place ("ketamine" in "s-ketamine") does not count. The names are lower case: an ASCII text
    /// is searched as it is (ASCII case folded by the automaton), any other lower-cased first.
    fn named_in(&self, text: &str, found: &mut Vec<AgentId>) {
        let text = &*searchable(text);
        let words: Vec<(usize, usize, usize)> = self
            .automaton
            .find_overlapping_iter(text)
            .filter(|m| is_whole_word(text, m.start(), m.end()))
            .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
            .collect();
        for &(start, end, pattern) in &words {
            let inside_another = words.iter().any(|&(s, e, _)| s <= start && end <= e && (s, e) != (start, end));
            if !inside_another {
                found.extend(&self.agents_by_name[pattern].1);
            }
        }
    }
}

/// A few words (dose-form words: "topical", "nasal"), looked for in one pass over a text,
/// without allocating for an ASCII text: as whole words, or inside any word ("nasal" in
/// "Intranasal").
#[derive(Debug, Clone)]
pub struct WordSet {
    words: Vec<String>,
    automaton: Option<AhoCorasick>,
    inside_words: bool,
}

impl PartialEq for WordSet {
    fn eq(&self, other: &Self) -> bool {
        self.words == other.words && self.inside_words == other.inside_words
    }
}

impl WordSet {
    /// Words found inside any word: "nasal" in "Intranasal" and "Transnasal".
    pub fn inside_words(words: &[String]) -> Self {
        Self { inside_words: true, ..Self::new(words) }
    }

    /// Words found as whole words only.
    pub fn new(words: &[String]) -> Self {
        let words: Vec<String> = words.iter().map(|w| w.trim().to_lowercase()).filter(|w| !w.is_empty()).collect();
        let automaton = (!words.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(true)
                .build(&words)
                .expect("a few short words")
        });
        Self { words, automaton, inside_words: false }
    }

    pub fn found_in(&self, text: &str) -> bool {
        let Some(automaton) = &self.automaton else { return false };
        let text = &*searchable(text);
        automaton.find_overlapping_iter(text).any(|m| self.inside_words || is_whole_word(text, m.start(), m.end()))
    }
}

impl MedicationCatalog {
    pub fn add_agent(&mut self, name: &str, value_set: &str) -> AgentId {
        if let Some(id) = self.agents.iter().position(|a| a.value_set == value_set) {
            return id;
        }
        self.agents.push(Agent {
            name: name.trim().to_lowercase(),
            value_set: value_set.to_owned(),
            aliases: Vec::new(),
        });
        self.names = OnceLock::new();
        self.always_searched_names = OnceLock::new();
        self.agents.len() - 1
    }

    /// Another name of `agent` for the text rule (a brand name).
    pub fn add_alias(&mut self, agent: AgentId, name: &str) {
        let name = name.trim().to_lowercase();
        let known = &mut self.agents[agent];
        if !name.is_empty() && name != known.name && !known.aliases.contains(&name) {
            known.aliases.push(name);
            self.names = OnceLock::new();
            self.always_searched_names = OnceLock::new();
        }
    }

    /// Agents searched for in texts even when a coding is recognised.
    pub fn search_always(&mut self, agents: &[AgentId]) {
        self.always_searched = agents.to_vec();
        self.always_searched_names = OnceLock::new();
    }

    pub fn add_code(&mut self, system: &str, code: &str, agent: AgentId) {
        let ids = self.by_code.entry(system.to_owned()).or_default().entry(code.trim().to_owned()).or_default();
        if !ids.contains(&agent) {
            ids.push(agent);
        }
    }

    /// A product RxCUI whose ingredients include `agent`; `name` carries its strength.
    pub fn add_product(&mut self, code: &str, name: Option<&str>, agent: AgentId) {
        self.add_code(RXNORM, code, agent);
        if let Some(name) = name {
            self.product_names.entry(code.to_owned()).or_insert_with(|| name.to_owned());
        }
    }

    pub fn agent(&self, id: AgentId) -> &Agent {
        &self.agents[id]
    }

    /// Every code (of any system) and every name or alias by which `agents` are recognised: a
    /// text holding none of them names none of them by code or by name (the replay's filter
    /// before it parses a line).
    pub fn literals_of(&self, agents: &[AgentId]) -> Vec<String> {
        let codes = self
            .by_code
            .values()
            .flat_map(|codes| codes.iter())
            .filter(|(_, ids)| ids.iter().any(|id| agents.contains(id)))
            .map(|(code, _)| code.clone());
        let names =
            agents.iter().flat_map(|id| std::iter::once(&self.agents[*id].name).chain(&self.agents[*id].aliases));
        let mut literals: Vec<String> = codes.chain(names.cloned()).filter(|l| !l.is_empty()).collect();
        literals.sort();
        literals.dedup();
        literals
    }

    pub fn code_count(&self) -> usize {
        self.by_code.values().map(HashMap::len).sum()
    }

    /// The agents one code names (a copy: the catalog may be extended while iterating).
    pub fn agents_for_code(&self, system: &str, code: &str) -> Vec<AgentId> {
        self.by_code.get(system).and_then(|codes| codes.get(code.trim())).cloned().unwrap_or_default()
    }

    /// The agents the codings of a concept name, without the text rule.
    pub fn recognise_codes(&self, concept: &CodeableConcept) -> Vec<AgentId> {
        let mut found: Vec<AgentId> = concept
            .coding
            .iter()
            .filter_map(|c| self.by_code.get(c.system.as_deref()?)?.get(c.code.as_deref()?))
            .flatten()
            .copied()
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The agents a medication concept names (sorted, no duplicates). Codes decide when any
    /// coding is recognised, except that the trigger agents are still looked for in its text;
    /// otherwise the text and displays are searched for every agent's names.
    pub fn recognise(&self, concept: &CodeableConcept) -> Vec<AgentId> {
        let mut found = self.recognise_codes(concept);
        let names = if found.is_empty() {
            self.names.get_or_init(|| Names::of(&self.agents, None))
        } else {
            self.always_searched_names.get_or_init(|| Names::of(&self.agents, Some(&self.always_searched)))
        };
        for text in texts(concept) {
            names.named_in(text, &mut found);
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Whether the concept's texts, its RxNorm product names or `more` (a route, a Medication's
    /// form) name one of `words` ("topical", "nasal") as a whole word.
    pub fn names_form(&self, concept: &CodeableConcept, more: &[&str], words: &WordSet) -> bool {
        let product_names = concept
            .coding
            .iter()
            .filter(|c| c.system.as_deref() == Some(RXNORM))
            .filter_map(|c| self.product_names.get(c.code.as_deref()?).map(String::as_str));
        texts(concept).chain(product_names).chain(more.iter().copied()).any(|text| words.found_in(text))
    }

    /// Strength in mg of `agent` per tablet or capsule, from the RxNorm product name of a coding
    /// or from the concept's own text and displays ("amitriptyline 25 MG Oral Tablet").
    pub fn strength_mg(&self, concept: &CodeableConcept, agent: AgentId) -> Option<f64> {
        self.amount_after_name(concept, agent, "mg")
    }

    /// Concentration in mg/mL of `agent`, likewise ("amitriptyline 2 MG/ML Oral Solution").
    pub fn concentration_mg_per_ml(&self, concept: &CodeableConcept, agent: AgentId) -> Option<f64> {
        self.amount_after_name(concept, agent, "mg/ml")
    }

    fn amount_after_name(&self, concept: &CodeableConcept, agent: AgentId, unit: &str) -> Option<f64> {
        let name = &self.agent(agent).name;
        let product_names = concept
            .coding
            .iter()
            .filter(|c| c.system.as_deref() == Some(RXNORM))
            .filter_map(|c| self.product_names.get(c.code.as_deref()?).map(String::as_str));
        product_names.chain(texts(concept)).find_map(|text| amount_after(text, name, unit))
    }
}

fn texts(concept: &CodeableConcept) -> impl Iterator<Item = &str> {
    concept.text.as_deref().into_iter().chain(concept.coding.iter().filter_map(|c| c.display.as_deref()))
}

/// Byte offsets just past each whole-word occurrence of `word` in the lower-cased `lower`.
fn word_ends_in(lower: &str, word: &str) -> Vec<usize> {
    lower
        .match_indices(word)
        .filter(|(start, _)| is_whole_word(lower, *start, start + word.len()))
        .map(|(start, _)| start + word.len())
        .collect()
}

/// A text as the (lower-case, ASCII case-folding) automata search it: an ASCII text as it is,
/// any other lower-cased.
fn searchable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() { std::borrow::Cow::Borrowed(text) } else { std::borrow::Cow::Owned(text.to_lowercase()) }
}

/// Is `text[start..end]` a whole word: no letter just before or after it? A word ends at any
/// character that is not a letter, digits included ("KETAMINE50MG/ML" names ketamine).
fn is_whole_word(text: &str, start: usize, end: usize) -> bool {
    let is_word = |c: char| c.is_alphabetic();
    !text[..start].chars().next_back().is_some_and(is_word) && !text[end..].chars().next().is_some_and(is_word)
}

/// Does `text` name `word` as a whole word? "Amitriptyline HCl 25 mg" names amitriptyline;
/// "nortriptyline" does not; "esketamine" does not name ketamine.
pub fn names(text: &str, word: &str) -> bool {
    !word.is_empty() && !word_ends_in(&text.to_lowercase(), word).is_empty()
}

/// The first "N `unit`" ("N mg", not "N mg/ml", or "N mg/ml") that follows the agent's name
/// within a few words.
fn amount_after(text: &str, agent: &str, unit_wanted: &str) -> Option<f64> {
    let lower = text.to_lowercase();
    word_ends_in(&lower, agent).into_iter().find_map(|end| {
        let tokens: Vec<&str> = lower[end..]
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
            .filter(|t| !t.is_empty())
            .take(6)
            .collect();
        tokens.iter().enumerate().find_map(|(i, token)| {
            let (number, unit) = match token.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
                Some(0) => return None,
                Some(split) => (&token[..split], &token[split..]),
                None => (*token, tokens.get(i + 1).copied().unwrap_or("")),
            };
            let value: f64 = number.parse().ok()?;
            (unit == unit_wanted).then_some(value)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concept(json: serde_json::Value) -> CodeableConcept {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn whole_word_text_rule() {
        assert!(names("Amitriptyline HCl 25 mg tab", "amitriptyline"));
        assert!(!names("nortriptyline 25 mg", "amitriptyline"));
        assert!(!names("Esketamine nasal spray", "ketamine"));
        assert!(names("Esketamine nasal spray", "esketamine"));
        assert!(names("KETAMINE/midazolam", "ketamine"));
    }

    #[test]
    fn brand_names_digits_as_word_ends_and_names_inside_longer_names() {
        let mut catalog = MedicationCatalog::default();
        let ket = catalog.add_agent("ketamine", "vs/ket");
        let esk = catalog.add_agent("esketamine", "vs/esk");
        catalog.add_alias(ket, "Ketalar");
        catalog.add_alias(esk, "S-ketamine");
        let named = |text: &str| catalog.recognise(&concept(serde_json::json!({ "text": text })));
        assert_eq!(named("KETALAR 50MG/ML"), vec![ket]);
        assert_eq!(named("KETAMINE50MG/ML"), vec![ket], "a digit ends a word");
        assert_eq!(named("S-ketamine 25 mg/mL"), vec![esk], "ketamine inside s-ketamine does not count");
        assert_eq!(named("ketamine or s-ketamine"), vec![ket, esk]);
        assert!(named("ketaminex").is_empty());
        let mut coded = MedicationCatalog::default();
        let ami = coded.add_agent("amitriptyline", "vs/ami");
        let ket = coded.add_agent("ketamine", "vs/ket");
        coded.add_code(RXNORM, "704", ami);
        coded.search_always(&[ket]);
        let gel = concept(
            serde_json::json!({ "coding": [{ "system": RXNORM, "code": "704" }], "text": "ketamine/amitriptyline gel" }),
        );
        assert_eq!(coded.recognise(&gel), vec![ami, ket], "the trigger agent is read from the text too");
        assert_eq!(
            coded.concentration_mg_per_ml(
                &concept(serde_json::json!({ "text": "amitriptyline 2 MG/ML Oral Solution" })),
                ami
            ),
            Some(2.0)
        );
    }

    #[test]
    fn product_code_recognised_and_strength_read_from_its_name() {
        let mut catalog = MedicationCatalog::default();
        let ami = catalog.add_agent("amitriptyline", "vs/ami");
        catalog.add_product("856792", Some("amitriptyline hydrochloride 25 MG Oral Tablet"), ami);
        let c = concept(serde_json::json!({"coding": [{"system": RXNORM, "code": "856792"}]}));
        assert_eq!(catalog.recognise(&c), vec![ami]);
        assert_eq!(catalog.strength_mg(&c, ami), Some(25.0));
        let by_text = concept(serde_json::json!({"text": "Amitriptyline 10mg tablets"}));
        assert_eq!(catalog.recognise(&by_text), vec![ami]);
        assert_eq!(catalog.strength_mg(&by_text, ami), Some(10.0));
        let solution = concept(serde_json::json!({"text": "amitriptyline 10 mg/ml oral solution"}));
        assert_eq!(catalog.strength_mg(&solution, ami), None);
    }

    #[test]
    fn text_rule_finds_every_agent_named_as_a_whole_word() {
        let mut catalog = MedicationCatalog::default();
        let ket = catalog.add_agent("ketamine", "vs/ket");
        let esk = catalog.add_agent("esketamine", "vs/esk");
        let text = |t: &str| catalog.recognise(&concept(serde_json::json!({ "text": t })));
        assert_eq!(text("Esketamine then KETAMINE infusion"), vec![ket, esk]);
        assert_eq!(text("esketamine nasal spray"), vec![esk]);
        assert_eq!(text("ketamines"), Vec::<AgentId>::new());
        assert_eq!(text("KÉTAMINE ketamine"), vec![ket], "non-ASCII text is lower-cased first");
        assert_eq!(text("ÉKETAMINE"), Vec::<AgentId>::new(), "a non-ASCII letter joins the word");
        // An agent added after a search is found by the next one.
        let dul = catalog.add_agent("duloxetine", "vs/dul");
        assert_eq!(catalog.recognise(&concept(serde_json::json!({ "text": "duloxetine" }))), vec![dul]);
    }

    #[test]
    fn recognised_code_wins_over_text() {
        let mut catalog = MedicationCatalog::default();
        let ket = catalog.add_agent("ketamine", "vs/ket");
        let dul = catalog.add_agent("duloxetine", "vs/dul");
        catalog.add_code(RXNORM, "6130", ket);
        let c = concept(serde_json::json!({"coding": [{"system": RXNORM, "code": "6130"}], "text": "duloxetine"}));
        assert_eq!(catalog.recognise(&c), vec![ket]);
        let local = concept(
            serde_json::json!({"coding": [{"system": "urn:local", "code": "X1", "display": "Duloxetine DR 30"}]}),
        );
        assert_eq!(catalog.recognise(&local), vec![dul]);
    }
}
