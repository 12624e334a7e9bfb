//! Reading the PlanDefinition (CPG-on-FHIR style) of `profiles/` into the typed [`Plan`]: the
//! classes and policy from the step-therapy action, statements with grades
//! (`cqf-strengthOfRecommendation`) and citations, card texts, topics, override reasons. Every
//! canonical it names must resolve, every grade must be known.

use serde_json::Value;

use super::artifacts::{Artifact, Artifacts};
use super::medications::{AgentId, WordSet};
use super::plan::{
    AvoidedWith, CardText, Citation, Code, ContraindicationGroup, DrugClass, Grade, Plan, Statement, SuggestedOrder,
};
use super::{EXT, KnowledgeError};

const STRENGTH: &str = "http://hl7.org/fhir/StructureDefinition/cqf-strengthOfRecommendation";

/// Reads the one PlanDefinition of the set. `agents_of` expands a class ValueSet to its agents.
pub fn read(
    artifacts: &Artifacts,
    agents_of: &mut dyn FnMut(&str) -> Result<Vec<AgentId>, String>,
) -> Result<Plan, KnowledgeError> {
    let plans: Vec<&Artifact> = artifacts.of_type("PlanDefinition").collect();
    let [plan] = plans.as_slice() else {
        return Err(KnowledgeError::new("profiles", "", format!("expected one PlanDefinition, found {}", plans.len())));
    };
    let reader = Reader { artifacts, file: &plan.file };
    let pd = &plan.resource;
    let step = reader.action(pd, "step-therapy")?;
    let evidence = reader.action(pd, "ketamine-evidence")?;
    let contra = reader.action(pd, "contraindications")?;
    let mut classes = Vec::new();
    for (i, class) in step.1["action"].as_array().into_iter().flatten().enumerate() {
        let path = format!("{}/action/{i}", step.0);
        let value_set = reader.input_value_set(&path, class)?;
        let agents = agents_of(&value_set).map_err(|e| reader.error(&path, e))?;
        let suggestion = match class["definitionCanonical"].as_str() {
            Some(url) => Some(reader.suggested_order(&path, url)?),
            None => None,
        };
        let required = ext(class, "required").and_then(|e| e["valueBoolean"].as_bool()).unwrap_or(false);
        let min_daily_mg = match ext(class, "minimum-daily-dose") {
            Some(e) if e["valueQuantity"]["unit"] == "mg/d" || e["valueQuantity"]["code"] == "mg/d" => {
                e["valueQuantity"]["value"].as_f64()
            }
            Some(_) => {
                return Err(reader.error(&path, "minimum-daily-dose must be a Quantity in mg/d".into()));
            }
            None => None,
        };
        let systemic = ext(class, "systemic-trial").and_then(|e| e["valueBoolean"].as_bool()).unwrap_or(false);
        classes.push(DrugClass {
            id: text(class, "id"),
            title: text(class, "title"),
            required,
            agents,
            statement: reader.statement(&path, class)?,
            min_daily_mg,
            systemic,
            suggestion_avoided: reader.avoided_with(&path, class)?,
            names: reader.class_names(&value_set),
            suggestion,
        });
    }
    if classes.is_empty() {
        return Err(reader.error(&step.0, "the step-therapy action names no drug class".into()));
    }
    let mut contraindication_groups = Vec::new();
    for (i, group) in contra.1["action"].as_array().into_iter().flatten().enumerate() {
        let path = format!("{}/action/{i}", contra.0);
        contraindication_groups.push(ContraindicationGroup {
            id: text(group, "id"),
            title: text(group, "title"),
            advice: text(group, "description"),
            grade: reader.grade(&path, group)?,
            value_set: reader.input_value_set(&path, group)?,
        });
    }
    let sub = |id: &str| -> Result<(String, &Value), KnowledgeError> { reader.sub_action(&evidence, id) };
    let (cancer_path, cancer) = sub("cancer-pain")?;
    let (crps_path, crps) = sub("crps")?;
    let (rct_path, rct) = sub("rct-2020")?;
    let risks = reader.action(pd, "risks")?;
    let monitoring = reader.action(pd, "monitoring")?;
    let inputs = |path: &str, action: &Value, kind: &str| reader.input_of_type(path, action, kind);
    Ok(Plan {
        url: text(pd, "url"),
        version: text(pd, "version"),
        source_label: ext(pd, "card-source").map(|e| text(e, "valueString")).unwrap_or_else(|| text(pd, "title")),
        source_url: ext(pd, "card-source-url").and_then(|e| e["valueUrl"].as_str()).map(str::to_owned),
        step_therapy: reader.card_text(&step)?,
        classes,
        trigger_value_set: inputs(&step.0, step.1, "MedicationRequest")?,
        in_scope_value_set: inputs(&step.0, step.1, "Condition")?,
        non_pain_value_set: reader.canonical_ext(&step, "non-pain-use")?,
        order_reason_required_value_set: reader.canonical_ext(&step, "order-reason-required")?,
        failure_no_response_value_set: reader.canonical_ext(&step, "failure-no-response")?,
        failure_intolerance_value_set: reader.canonical_ext(&step, "failure-intolerance")?,
        cancer: reader.statement(&cancer_path, cancer)?,
        cancer_value_set: reader.input_value_set(&cancer_path, cancer)?,
        crps: reader.statement(&crps_path, crps)?,
        crps_value_set: reader.input_value_set(&crps_path, crps)?,
        rct: reader.statement(&rct_path, rct)?,
        risks: reader.statement(&risks.0, risks.1)?,
        monitoring: reader.card_text(&monitoring)?,
        contraindication: reader.card_text(&contra)?,
        contraindication_groups,
        topical_forms: WordSet::new(&words(step.1, "topical-form")),
        order_reason_required_forms: WordSet::inside_words(&words(step.1, "order-reason-required-form")),
        order_reason_required_product_value_set: reader
            .optional_canonical_ext(&step, "order-reason-required-product")?,
        retrial_text: string_ext(step.1, "retrial-text"),
        retrial_label: string_ext(step.1, "retrial-label"),
        running_trial_text: string_ext(step.1, "running-trial-text"),
        not_a_failure_text: string_ext(step.1, "not-a-failure-text"),
        record_outcome_text: string_ext(step.1, "record-outcome-text"),
        adult_age: ext(step.1, "adult-age")
            .and_then(|e| e["valueInteger"].as_u64())
            .and_then(|a| u32::try_from(a).ok()),
        minor_text: string_ext(step.1, "minor-text"),
        signed_order_text: string_ext(step.1, "signed-order-text"),
    })
}

/// The `valueString` of extension `name` of an action, or "".
fn string_ext(action: &Value, name: &str) -> String {
    ext(action, name).map(|e| text(e, "valueString")).unwrap_or_default()
}

/// The lower-cased `valueString`s of every extension `name` of an action.
fn words(action: &Value, name: &str) -> Vec<String> {
    action["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["url"].as_str().and_then(|u| u.strip_prefix(EXT)) == Some(name))
        .filter_map(|e| e["valueString"].as_str().map(str::to_lowercase))
        .collect()
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn ext<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["extension"].as_array()?.iter().find(|e| e["url"].as_str().is_some_and(|u| u.strip_prefix(EXT) == Some(name)))
}

struct Reader<'a> {
    artifacts: &'a Artifacts,
    file: &'a str,
}

impl<'a> Reader<'a> {
    fn error(&self, path: &str, problem: String) -> KnowledgeError {
        KnowledgeError::new(self.file, path, problem)
    }

    fn action(&self, pd: &'a Value, id: &str) -> Result<(String, &'a Value), KnowledgeError> {
        let actions = pd["action"].as_array().into_iter().flatten().enumerate();
        actions
            .map(|(i, a)| (format!("/action/{i}"), a))
            .find(|(_, a)| a["id"] == id)
            .ok_or_else(|| self.error("/action", format!("no action with id '{id}'")))
    }

    fn sub_action(&self, parent: &(String, &'a Value), id: &str) -> Result<(String, &'a Value), KnowledgeError> {
        let actions = parent.1["action"].as_array().into_iter().flatten().enumerate();
        actions
            .map(|(i, a)| (format!("{}/action/{i}", parent.0), a))
            .find(|(_, a)| a["id"] == id)
            .ok_or_else(|| self.error(&parent.0, format!("no sub-action with id '{id}'")))
    }

    fn resolve(&self, path: &str, url: &str, kind: &str) -> Result<&'a Artifact, KnowledgeError> {
        match self.artifacts.get(url) {
            Some(a) if a.resource["resourceType"] == kind => Ok(a),
            Some(a) => Err(self.error(path, format!("{url} is a {}, not a {kind}", a.resource["resourceType"]))),
            None => {
                // The url the plan names may be right and the artifact's edited: name that file.
                let same_kind = self.artifacts.of_type(kind).map(|a| a.resource["url"].as_str().unwrap_or_default());
                let edited = super::census::nearest(url, same_kind).and_then(|near| self.artifacts.get(near));
                Err(match edited {
                    Some(a) => KnowledgeError::new(
                        &a.file,
                        "/url",
                        format!(
                            "its url is '{}', but the PlanDefinition ({path}) names '{url}': was this url edited?",
                            a.resource["url"].as_str().unwrap_or_default()
                        ),
                    ),
                    None => self.error(path, format!("{url}: no {kind} with this url in the profiles")),
                })
            }
        }
    }

    fn input_of_type(&self, path: &str, action: &Value, kind: &str) -> Result<String, KnowledgeError> {
        let url = action["input"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["type"] == kind)
            .find_map(|i| i["codeFilter"][0]["valueSet"].as_str())
            .ok_or_else(|| self.error(path, format!("no input of type {kind} with a codeFilter valueSet")))?;
        self.resolve(path, url, "ValueSet")?;
        Ok(url.to_owned())
    }

    fn input_value_set(&self, path: &str, action: &Value) -> Result<String, KnowledgeError> {
        let kind = action["input"][0]["type"].as_str().unwrap_or("Condition");
        self.input_of_type(path, action, kind)
    }

    /// As [`Self::canonical_ext`], for an extension a profiles set may leave out.
    fn optional_canonical_ext(&self, action: &(String, &Value), name: &str) -> Result<Option<String>, KnowledgeError> {
        match ext(action.1, name) {
            Some(_) => self.canonical_ext(action, name).map(Some),
            None => Ok(None),
        }
    }

    fn canonical_ext(&self, action: &(String, &Value), name: &str) -> Result<String, KnowledgeError> {
        let url = ext(action.1, name)
            .and_then(|e| e["valueCanonical"].as_str())
            .ok_or_else(|| self.error(&action.0, format!("missing extension {EXT}{name} (valueCanonical)")))?;
        self.resolve(&action.0, url, "ValueSet")?;
        Ok(url.to_owned())
    }

    /// The concept a coding names in one of the profiles' CodeSystems: (system, code, concept).
    fn concept(&self, path: &str, coding: &Value, what: &str) -> Result<(String, String, &'a Value), KnowledgeError> {
        let (system, code) =
            (coding["system"].as_str().unwrap_or_default(), coding["code"].as_str().unwrap_or_default());
        let cs = self.resolve(path, system, "CodeSystem")?;
        let concept = cs.resource["concept"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["code"] == code)
            .ok_or_else(|| self.error(path, format!("{what} '{code}' is not in {system}")))?;
        Ok((system.to_owned(), code.to_owned(), concept))
    }

    fn grade(&self, path: &str, action: &Value) -> Result<Option<Grade>, KnowledgeError> {
        let Some(coding) = action["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["url"] == STRENGTH)
            .map(|e| &e["valueCodeableConcept"]["coding"][0])
        else {
            return Ok(None);
        };
        let (system, code, concept) = self.concept(path, coding, "grade")?;
        let rank = concept["property"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["code"] == "rank")
            .and_then(|p| p["valueInteger"].as_i64())
            .unwrap_or(0);
        Ok(Some(Grade { system, code, display: text(concept, "display"), rank }))
    }

    fn coding(&self, path: &str, coding: &Value) -> Result<Code, KnowledgeError> {
        let (system, code, concept) = self.concept(path, coding, "code")?;
        Ok(Code { system, code, display: text(concept, "display") })
    }

    /// An override reason's `snooze-days` concept property (a positive integer), if it has one.
    fn snooze_days(&self, path: &str, coding: &Value) -> Result<Option<u32>, KnowledgeError> {
        let (_, code, concept) = self.concept(path, coding, "code")?;
        let Some(property) = concept["property"].as_array().into_iter().flatten().find(|p| p["code"] == "snooze-days")
        else {
            return Ok(None);
        };
        match property["valueInteger"].as_u64().and_then(|d| u32::try_from(d).ok()).filter(|d| *d > 0) {
            Some(days) => Ok(Some(days)),
            None => Err(self.error(path, format!("override reason '{code}': snooze-days must be a positive integer"))),
        }
    }

    fn statement(&self, path: &str, action: &Value) -> Result<Statement, KnowledgeError> {
        let citations = action["documentation"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                Some(Citation { label: d["label"].as_str()?.to_owned(), url: d["url"].as_str()?.to_owned() })
            })
            .collect();
        Ok(Statement {
            title: text(action, "title"),
            text: text(action, "description"),
            short: action["textEquivalent"].as_str().map(str::to_owned),
            grade: self.grade(path, action)?,
            citations,
        })
    }

    fn card_text(&self, action: &(String, &Value)) -> Result<CardText, KnowledgeError> {
        let (path, action) = (&action.0, action.1);
        let topic = match action["code"][0]["coding"].get(0) {
            Some(coding) => Some(self.coding(path, coding)?),
            None => None,
        };
        let mut override_reasons = Vec::new();
        let mut snooze_days = Vec::new();
        for e in action["extension"].as_array().into_iter().flatten() {
            if e["url"].as_str().and_then(|u| u.strip_prefix(EXT)) == Some("override-reason") {
                override_reasons.push(self.coding(path, &e["valueCoding"])?);
                snooze_days.push(self.snooze_days(path, &e["valueCoding"])?);
            }
        }
        let source = ext(action, "card-source").map(|e| {
            (
                text(e, "valueString"),
                ext(action, "card-source-url").and_then(|u| u["valueUrl"].as_str()).map(str::to_owned),
            )
        });
        Ok(CardText {
            summary: text(action, "title"),
            statement: self.statement(path, action)?,
            source,
            topic,
            override_reasons,
            snooze_days,
        })
    }

    /// The `suggestion-avoided` extensions of a class action: each a ValueSet (which must
    /// resolve) and the reason.
    fn avoided_with(&self, path: &str, class: &Value) -> Result<Vec<AvoidedWith>, KnowledgeError> {
        let mut avoided = Vec::new();
        for e in class["extension"].as_array().into_iter().flatten() {
            if e["url"].as_str().and_then(|u| u.strip_prefix(EXT)) != Some("suggestion-avoided") {
                continue;
            }
            let part = |name: &str| e["extension"].as_array().into_iter().flatten().find(|p| p["url"] == name);
            let value_set = part("valueSet").and_then(|p| p["valueCanonical"].as_str()).unwrap_or_default();
            self.resolve(path, value_set, "ValueSet")?;
            let reason = part("reason").and_then(|p| p["valueString"].as_str()).unwrap_or_default();
            avoided.push(AvoidedWith { value_set: value_set.to_owned(), reason: reason.to_owned() });
        }
        Ok(avoided)
    }

    /// A class ValueSet's title and `class-synonym`s, lower case.
    fn class_names(&self, url: &str) -> Vec<String> {
        let Some(vs) = self.artifacts.get(url).map(|a| &a.resource) else { return Vec::new() };
        std::iter::once(vs["title"].as_str().unwrap_or_default().to_lowercase())
            .chain(words(vs, "class-synonym"))
            .filter(|n| !n.is_empty())
            .collect()
    }

    fn suggested_order(&self, path: &str, url: &str) -> Result<SuggestedOrder, KnowledgeError> {
        let ad = &self.resolve(path, url, "ActivityDefinition")?.resource;
        Ok(SuggestedOrder {
            title: text(ad, "title"),
            medication: ad["productCodeableConcept"].clone(),
            dosage: ad["dosage"].clone(),
        })
    }
}
