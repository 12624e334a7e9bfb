//! Guideline knowledge: `profiles/` (FHIR R4 ValueSets, CodeSystems, a ConceptMap, a
//! PlanDefinition and ActivityDefinitions) loaded, validated and indexed for the rules.
//!
//! The embedded set is used unless a directory is given; either way a broken set is refused with
//! every problem named by file and JSON path.

pub mod artifacts;
pub mod census;
pub mod concepts;
pub mod examples;
pub mod lint;
pub mod medications;
pub mod package;
pub mod plan;
pub mod plan_definition;

use std::path::Path;

use regex_lite::Regex;
use serde_json::Value;

use artifacts::Artifacts;
pub use concepts::ConceptSet;
pub use medications::{AgentId, MedicationCatalog};
pub use plan::{Code, DrugClass, Grade, Plan, Statement};

/// Base of the canonical URLs of this project's own artifacts and extensions.
pub const BASE: &str = "https://fhir.ketamine-cds.example";
pub const EXT: &str = "https://fhir.ketamine-cds.example/StructureDefinition/";

/// A problem in a profiles set, located by file and JSON path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{}: {problem}", if path.is_empty() { String::new() } else { format!(" at {path}") })]
pub struct KnowledgeError {
    pub file: String,
    pub path: String,
    pub problem: String,
}

impl KnowledgeError {
    pub fn new(file: impl Into<String>, path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { file: file.into(), path: path.into(), problem: problem.into() }
    }
}

/// Everything the rules and cards read, loaded once and shared by every call.
#[derive(Debug, Clone)]
pub struct Knowledge {
    pub plan: Plan,
    pub medications: MedicationCatalog,
    /// Agents whose orders are examined (ketamine, esketamine).
    pub trigger_agents: Vec<AgentId>,
    /// Trigger agents that need an order-level pain reason (esketamine).
    pub order_reason_required: Vec<AgentId>,
    /// Product codes of those agents that need it (the nasal esketamine products).
    pub order_reason_required_products: ConceptSet,
    pub in_scope: ConceptSet,
    pub cancer_pain: ConceptSet,
    pub crps: ConceptSet,
    pub non_pain: ConceptSet,
    pub no_response: ConceptSet,
    pub intolerance: ConceptSet,
    /// One set per `plan.contraindication_groups` entry, same order.
    pub contraindications: Vec<ConceptSet>,
    /// Per class of the plan, one set per `suggestion_avoided` entry, same order.
    pub suggestion_avoided: Vec<Vec<ConceptSet>>,
}

impl Knowledge {
    /// The knowledge a process runs on: the profiles set of `dir` when one is given (it replaces
    /// the embedded set whole), else the embedded one. The one place that decides.
    pub fn load(dir: Option<&Path>) -> Result<Self, Vec<KnowledgeError>> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::embedded(),
        }
    }

    /// The profiles compiled into the binary.
    pub fn embedded() -> Result<Self, Vec<KnowledgeError>> {
        Self::build(&Artifacts::embedded()?)
    }

    /// A complete profiles set from a directory (it replaces the embedded one). A set that
    /// differs from the shipped one is versioned `SHIPPED+site.DIGEST`, so that the analytics,
    /// `/ready` and the snoozes tell a site's edit from the shipped knowledge (and one edit from
    /// another).
    pub fn from_dir(dir: &Path) -> Result<Self, Vec<KnowledgeError>> {
        Self::of_site(&site_artifacts(dir)?)
    }

    /// The knowledge of a site's set, versioned as [`Knowledge::from_dir`] says.
    fn of_site(artifacts: &Artifacts) -> Result<Self, Vec<KnowledgeError>> {
        let mut knowledge = Self::build(artifacts)?;
        if !artifacts.is_shipped() {
            knowledge.plan.version = format!("{}+site.{}", knowledge.plan.version, artifacts.digest());
        }
        Ok(knowledge)
    }

    /// [`Knowledge::load`], and what the set holds (codes per system and value set, the code
    /// systems it names that the rules do not know), from one read of the files.
    pub fn load_checked(dir: Option<&Path>) -> Result<(Self, census::Census), Vec<KnowledgeError>> {
        let artifacts = match dir {
            Some(dir) => site_artifacts(dir)?,
            None => Artifacts::embedded()?,
        };
        let knowledge = if dir.is_some() { Self::of_site(&artifacts)? } else { Self::build(&artifacts)? };
        Ok((knowledge, census::census(&artifacts)))
    }

    /// Whether this knowledge is a site's edit of the shipped set.
    pub fn site_modified(&self) -> bool {
        self.plan.version.contains("+site.")
    }

    /// Every problem of a profiles set (the embedded one without `dir`): schema, cross-references
    /// and malformed codes, for `check-profiles`. Empty when the set is sound.
    pub fn problems(dir: Option<&Path>) -> Vec<KnowledgeError> {
        let artifacts = match dir.map_or_else(Artifacts::embedded, site_artifacts) {
            Ok(a) => a,
            Err(errors) => return errors,
        };
        let mut problems = lint::lint(&artifacts);
        if let Err(errors) = Self::build(&artifacts) {
            problems.extend(errors);
        }
        problems
    }

    pub fn version(&self) -> &str {
        &self.plan.version
    }

    /// The override reasons the service offers, on every card that has some.
    pub fn override_reasons(&self) -> Vec<Code> {
        let plan = &self.plan;
        let mut reasons: Vec<Code> = plan.step_therapy.override_reasons.clone();
        for reason in &plan.contraindication.override_reasons {
            if !reasons.contains(reason) {
                reasons.push(reason.clone());
            }
        }
        reasons
    }

    fn build(artifacts: &Artifacts) -> Result<Self, Vec<KnowledgeError>> {
        let mut sets = SetBuilder { artifacts, medications: MedicationCatalog::default() };
        let plan = plan_definition::read(artifacts, &mut |url| sets.agents_of(url, 0)).map_err(|e| vec![e])?;
        let one = |e: KnowledgeError| vec![e];
        let trigger_agents =
            sets.agents_of(&plan.trigger_value_set, 0).map_err(|p| one(sets.err(&plan.trigger_value_set, p)))?;
        let order_reason_required = sets
            .agents_of(&plan.order_reason_required_value_set, 0)
            .map_err(|p| one(sets.err(&plan.order_reason_required_value_set, p)))?;
        sets.add_products();
        sets.medications.search_always(&trigger_agents);
        let mut contraindications = Vec::new();
        for group in &plan.contraindication_groups {
            contraindications.push(sets.concepts(&group.value_set, 0)?);
        }
        let mut suggestion_avoided = Vec::new();
        for class in &plan.classes {
            let sets: Result<Vec<ConceptSet>, _> =
                class.suggestion_avoided.iter().map(|a| sets.concepts(&a.value_set, 0)).collect();
            suggestion_avoided.push(sets?);
        }
        let knowledge = Knowledge {
            suggestion_avoided,
            in_scope: sets.concepts(&plan.in_scope_value_set, 0)?,
            cancer_pain: sets.concepts(&plan.cancer_value_set, 0)?,
            crps: sets.concepts(&plan.crps_value_set, 0)?,
            non_pain: sets.concepts(&plan.non_pain_value_set, 0)?,
            no_response: sets.concepts(&plan.failure_no_response_value_set, 0)?,
            intolerance: sets.concepts(&plan.failure_intolerance_value_set, 0)?,
            contraindications,
            trigger_agents,
            order_reason_required,
            order_reason_required_products: match &plan.order_reason_required_product_value_set {
                Some(url) => sets.concepts(url, 0)?,
                None => ConceptSet::default(),
            },
            medications: sets.medications,
            plan,
        };
        Ok(knowledge)
    }
}

/// The project's extensions of a resource (or element) with this name.
fn extensions<'a>(resource: &'a Value, name: &'a str) -> impl Iterator<Item = &'a Value> {
    resource["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |e| e["url"].as_str().and_then(|u| u.strip_prefix(EXT)) == Some(name))
}

/// Expands ValueSets (following `include.valueSet`) into concept sets and agents.
struct SetBuilder<'a> {
    artifacts: &'a Artifacts,
    medications: MedicationCatalog,
}

const MAX_DEPTH: usize = 8;

/// A site's profiles directory: a complete copy of the shipped set (one file missing would be
/// read as "no such value set" deep in a cross-reference).
fn site_artifacts(dir: &Path) -> Result<Artifacts, Vec<KnowledgeError>> {
    let missing = Artifacts::missing_from(dir);
    if !missing.is_empty() && dir.is_dir() {
        let shown: Vec<&str> = missing.iter().copied().take(5).collect();
        let more = if missing.len() > shown.len() {
            format!(" and {} more", missing.len() - shown.len())
        } else {
            String::new()
        };
        return Err(vec![KnowledgeError::new(
            dir.display().to_string(),
            "",
            format!(
                "a site set must be a complete copy of profiles/ (cp -r profiles DIR, then edit the copy): \
                 {} of the shipped files are not here: {}{more}",
                missing.len(),
                shown.join(", ")
            ),
        )]);
    }
    Artifacts::from_dir(dir)
}

impl SetBuilder<'_> {
    fn err(&self, url: &str, problem: String) -> KnowledgeError {
        let file = self.artifacts.get(url).map(|a| a.file.clone()).unwrap_or_else(|| "profiles".into());
        KnowledgeError::new(file, "/compose", problem)
    }

    fn value_set(&self, url: &str) -> Result<&Value, String> {
        match self.artifacts.get(url) {
            Some(a) if a.resource["resourceType"] == "ValueSet" => Ok(&a.resource),
            _ => {
                let urls = self.artifacts.of_type("ValueSet").map(|a| a.resource["url"].as_str().unwrap_or_default());
                let edited = census::nearest(url, urls).and_then(|near| self.artifacts.get(near));
                Err(match edited {
                    Some(a) => format!(
                        "ValueSet {url} is not in the profiles; {} has the url '{}': was it edited?",
                        a.file,
                        a.resource["url"].as_str().unwrap_or_default()
                    ),
                    None => format!("ValueSet {url} is not in the profiles"),
                })
            }
        }
    }

    /// The agents of a medication ValueSet: a ValueSet that includes no other ValueSet is one
    /// agent (its title is the agent's name); one that does is the union of those it includes.
    fn agents_of(&mut self, url: &str, depth: usize) -> Result<Vec<AgentId>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("ValueSet {url}: includes nest deeper than {MAX_DEPTH} (a cycle?)"));
        }
        let vs = self.value_set(url)?;
        let includes: Vec<Value> = vs["compose"]["include"].as_array().cloned().unwrap_or_default();
        let nested: Vec<String> = includes
            .iter()
            .flat_map(|i| i["valueSet"].as_array().into_iter().flatten())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if nested.is_empty() {
            let title = vs["title"].as_str().unwrap_or_default().to_owned();
            let synonyms: Vec<String> =
                extensions(vs, "agent-synonym").filter_map(|e| e["valueString"].as_str().map(str::to_owned)).collect();
            let agent = self.medications.add_agent(&title, url);
            for synonym in synonyms {
                self.medications.add_alias(agent, &synonym);
            }
            for include in &includes {
                let system = include["system"].as_str().unwrap_or_default();
                for concept in include["concept"].as_array().into_iter().flatten() {
                    if let Some(code) = concept["code"].as_str() {
                        self.medications.add_code(system, code, agent);
                    }
                }
            }
            return Ok(vec![agent]);
        }
        let mut agents = Vec::new();
        for inner in nested {
            agents.extend(self.agents_of(&inner, depth + 1)?);
        }
        agents.sort_unstable();
        agents.dedup();
        Ok(agents)
    }

    /// Maps every product of the ConceptMaps to the agents whose RxNorm codes are its targets.
    fn add_products(&mut self) {
        for map in self.artifacts.of_type("ConceptMap") {
            for group in map.resource["group"].as_array().into_iter().flatten() {
                let system = group["target"].as_str().unwrap_or_default();
                for element in group["element"].as_array().into_iter().flatten() {
                    let code = element["code"].as_str().unwrap_or_default();
                    let name = element["display"].as_str();
                    // Brand names for the text rule: a brand-name concept's own name, and the
                    // bracketed brand of a branded product ("… [Ketalar]").
                    let brand_concept = extensions(element, "rxnorm-tty").any(|e| e["valueCode"] == "BN");
                    let brand = match name {
                        Some(name) if brand_concept => Some(name),
                        Some(name) => name.rsplit_once('[').and_then(|(_, rest)| rest.strip_suffix(']')),
                        None => None,
                    };
                    for target in element["target"].as_array().into_iter().flatten() {
                        let target = target["code"].as_str().unwrap_or_default();
                        for agent in self.medications.agents_for_code(system, target) {
                            self.medications.add_product(code, name, agent);
                            if let Some(brand) = brand {
                                self.medications.add_alias(agent, brand);
                            }
                        }
                    }
                }
            }
        }
    }

    fn concepts(&self, url: &str, depth: usize) -> Result<ConceptSet, Vec<KnowledgeError>> {
        let fail = |p: String| vec![self.err(url, p)];
        if depth > MAX_DEPTH {
            return Err(fail(format!("includes nest deeper than {MAX_DEPTH} (a cycle?)")));
        }
        let vs = self.value_set(url).map_err(fail)?;
        let mut set = self.part(url, &vs["compose"]["include"], "include", depth)?;
        if vs["compose"]["exclude"].as_array().is_some_and(|e| !e.is_empty()) {
            set.exclude(self.part(url, &vs["compose"]["exclude"], "exclude", depth)?);
        }
        Ok(set)
    }

    /// The codes, filters and value sets of `compose.include` (or `compose.exclude`).
    fn part(&self, url: &str, items: &Value, name: &str, depth: usize) -> Result<ConceptSet, Vec<KnowledgeError>> {
        let mut set = ConceptSet::default();
        for (i, include) in items.as_array().into_iter().flatten().enumerate() {
            for inner in include["valueSet"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                set.extend(&self.concepts(inner, depth + 1)?);
            }
            let system = include["system"].as_str().unwrap_or_default();
            for concept in include["concept"].as_array().into_iter().flatten() {
                set.insert(system, concept["code"].as_str().unwrap_or_default());
            }
            for filter in include["filter"].as_array().into_iter().flatten() {
                let value = filter["value"].as_str().unwrap_or_default();
                let parsed = match filter["op"].as_str() {
                    Some("is-a") => concepts::Filter::IsA(concepts::canonical_code(system, value)),
                    _ => concepts::Filter::Regex(Regex::new(value).map_err(|e| {
                        vec![KnowledgeError::new(
                            self.artifacts.get(url).map(|a| a.file.as_str()).unwrap_or("profiles"),
                            format!("/compose/{name}/{i}/filter"),
                            format!("bad regex '{value}': {e}"),
                        )]
                    })?),
                };
                set.add_filter(system, parsed);
            }
        }
        Ok(set)
    }
}
