//! Client profiles: the cards' shape for the EHR that asked, a step after the cards are made
//! (never a second assessment). The card's facts — its kind, classes, orders, what each
//! suggestion stands for — do not change with the shape, so feedback, snoozes and analytics work
//! alike under every profile.
//!
//! - `generic`: CDS Hooks 2.0 as written (the sandbox's and the specification's shape).
//! - `epic`: Epic takes `selectionBehavior: any` and one action per suggestion, shows an
//!   action's description rather than its label, and ties an override to an alphanumeric topic
//!   code: each create and each delete becomes a suggestion of its own, RxNorm codings are also
//!   sent under Epic's OID, the topic code is the CamelCase of ours, and the detail is marked as
//!   markdown.
//! - `oracle`: Millennium turns a `critical` card into a pop-up: none is sent.
//!
//! Under every profile, when the site lists allowed link prefixes (`[links] allowed`), a link or
//! source URL off the list is dropped, never sent.

use serde_json::Value;
use uuid::Uuid;

use crate::hooks::response::{ActionType, Card, Indicator, SelectionBehavior, Suggestion, SuggestionFact};
use crate::knowledge::medications::RXNORM;

pub use crate::config::Client;

impl Client {
    /// The client a request says it is, without configuration: a request whose `extension`
    /// holds any `com.epic.cdshooks.request.*` key is Epic's.
    pub fn of_request(extension: Option<&Value>) -> Option<Client> {
        let keys = extension?.as_object()?.keys();
        keys.into_iter().any(|k| k.starts_with(EPIC_REQUEST)).then_some(Client::Epic)
    }
}

const EPIC_REQUEST: &str = "com.epic.cdshooks.request.";
/// The request extension in which Epic says what triggered a call ("60" open chart…).
const EPIC_TRIGGER: &str = "com.epic.cdshooks.request.bpa-trigger-action";

/// What triggered a call, as Epic's request extension says, at most 64 characters (logged and
/// stored for analytics; never used by the rules).
pub fn epic_trigger(extension: Option<&Value>) -> Option<String> {
    let text = match extension?.get(EPIC_TRIGGER)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(text.chars().take(64).collect())
}
/// The card extension that tells Epic how to render `detail`.
pub const EPIC_CONTENT_TYPE: &str = "com.epic.cdshooks.card.detail.content-type";
/// RxNorm as Epic recognises it in a created order.
pub const EPIC_RXNORM: &str = "urn:oid:2.16.840.1.113883.6.88";
/// A site's Epic preference-list item, in an ActivityDefinition's product (Epic only).
pub const EPIC_PREFERENCE_LIST: &str = "urn:com.epic.cdshooks.action.code.system.preference-list-item";
/// Epic's longest topic code.
const EPIC_TOPIC_MAX: usize = 100;

/// The cards in `client`'s shape, links off `links_allowed` (prefixes; empty: all) dropped.
pub fn apply(cards: Vec<Card>, client: Client, links_allowed: &[String]) -> Vec<Card> {
    cards
        .into_iter()
        .map(|mut card| {
            if !links_allowed.is_empty() {
                let allowed = |url: &str| links_allowed.iter().any(|prefix| url.starts_with(prefix.as_str()));
                card.links.retain(|l| allowed(&l.url));
                if card.source.url.as_deref().is_some_and(|u| !allowed(u)) {
                    card.source.url = None;
                }
            }
            match client {
                Client::Epic => epic(card),
                Client::Oracle => {
                    if card.indicator == Indicator::Critical {
                        card.indicator = Indicator::Warning;
                    }
                    without_epic_codings(card)
                }
                Client::Generic => without_epic_codings(card),
            }
        })
        .collect()
}

/// Epic's shape of one card.
fn epic(mut card: Card) -> Card {
    if let Some(topic) = card.source.topic.as_mut() {
        topic.code = epic_topic(&topic.code);
    }
    card.extension.insert(EPIC_CONTENT_TYPE.to_owned(), Value::from("text/markdown"));
    let mut suggestions: Vec<Suggestion> = Vec::new();
    let mut removals: Vec<Suggestion> = Vec::new();
    for suggestion in std::mem::take(&mut card.suggestions) {
        let creates = suggestion.actions.iter().filter(|a| a.kind != ActionType::Delete).count();
        for action in &suggestion.actions {
            if action.kind == ActionType::Delete {
                let target = action.resource_id.clone().unwrap_or_default();
                if removals.iter().any(|r| r.actions[0].resource_id.as_deref() == Some(target.as_str())) {
                    continue;
                }
                removals.push(Suggestion {
                    label: action.description.clone(),
                    uuid: derived_uuid(&card.uuid, &format!("delete|{target}")),
                    is_recommended: false,
                    actions: vec![action.clone()],
                    stands_for: Some(SuggestionFact {
                        class: super::REMOVAL.to_owned(),
                        agent: action.description.clone(),
                    }),
                });
                continue;
            }
            let mut action = action.clone();
            if let Some(resource) = action.resource.as_mut() {
                epic_codings(resource);
            }
            // A suggestion of one create keeps its uuid: feedback on it names what it ordered.
            let uuid = if creates == 1 {
                suggestion.uuid.clone()
            } else {
                derived_uuid(&suggestion.uuid, &action.description)
            };
            suggestions.push(Suggestion {
                label: suggestion.label.clone(),
                uuid,
                is_recommended: suggestion.is_recommended,
                actions: vec![action],
                stands_for: suggestion.stands_for.clone(),
            });
        }
    }
    suggestions.extend(removals);
    card.selection_behavior = (!suggestions.is_empty()).then_some(SelectionBehavior::Any);
    card.suggestions = suggestions;
    card
}

/// "ketamine-step-therapy" → "KetamineStepTherapy": letters and digits only, at most 100, the
/// same for the same card in every call, version and replica.
pub fn epic_topic(code: &str) -> String {
    let mut topic: String = code
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    topic.truncate(EPIC_TOPIC_MAX);
    topic
}

fn derived_uuid(base: &str, part: &str) -> String {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("{base}|{part}").as_bytes()).to_string()
}

/// The medication concept of a created order, whatever the FHIR version wrote it as.
fn medication_concept(resource: &mut Value) -> Option<&mut Value> {
    if resource.get("medicationCodeableConcept").is_some() {
        return resource.get_mut("medicationCodeableConcept");
    }
    resource.get_mut("medication")?.get_mut("concept")
}

/// Each RxNorm coding also under Epic's OID for RxNorm.
fn epic_codings(resource: &mut Value) {
    let Some(codings) = medication_concept(resource).and_then(|c| c.get_mut("coding")).and_then(Value::as_array_mut)
    else {
        return;
    };
    let mut added: Vec<Value> = codings
        .iter()
        .filter(|c| c["system"] == RXNORM)
        .map(|c| {
            let mut copy = c.clone();
            copy["system"] = Value::from(EPIC_RXNORM);
            copy
        })
        .collect();
    codings.append(&mut added);
}

/// A site's Epic preference-list codings are Epic's alone: other clients get the order without.
fn without_epic_codings(mut card: Card) -> Card {
    for action in card.suggestions.iter_mut().flat_map(|s| s.actions.iter_mut()) {
        let Some(resource) = action.resource.as_mut() else { continue };
        if let Some(codings) =
            medication_concept(resource).and_then(|c| c.get_mut("coding")).and_then(Value::as_array_mut)
        {
            codings.retain(|c| c["system"] != EPIC_PREFERENCE_LIST);
        }
    }
    card
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_codes_are_alphanumeric_camel_case() {
        assert_eq!(epic_topic("ketamine-step-therapy"), "KetamineStepTherapy");
        assert_eq!(epic_topic("ketamine-contraindication"), "KetamineContraindication");
        assert_eq!(epic_topic("a.b_c 9d"), "ABC9d");
        assert!(epic_topic(&"x-".repeat(300)).len() <= 100);
    }

    fn card_with_an_order(codings: Value) -> Card {
        use crate::hooks::response::{Action, Source};
        let create = Action {
            kind: ActionType::Create,
            description: "Order duloxetine 30 mg once daily (SNRI, Level I, Grade A)".into(),
            resource: Some(
                serde_json::json!({ "resourceType": "MedicationRequest", "medicationCodeableConcept": { "coding": codings } }),
            ),
            resource_id: None,
        };
        let delete = Action {
            kind: ActionType::Delete,
            description: "Remove the ketamine order".into(),
            resource: None,
            resource_id: Some("MedicationRequest/k1".into()),
        };
        Card {
            uuid: "card".into(),
            summary: "s".into(),
            indicator: Indicator::Critical,
            detail: None,
            source: Source { label: "l".into(), url: Some("https://elsewhere.example/x".into()), topic: None },
            suggestions: vec![Suggestion {
                label: "Order duloxetine".into(),
                uuid: "s1".into(),
                is_recommended: true,
                actions: vec![create, delete],
                stands_for: Some(SuggestionFact { class: "snri".into(), agent: "Duloxetine 30 mg once daily".into() }),
            }],
            selection_behavior: Some(SelectionBehavior::AtMostOne),
            override_reasons: Vec::new(),
            links: Vec::new(),
            extension: serde_json::Map::new(),
            facts: crate::hooks::response::CardFacts::default(),
        }
    }

    #[test]
    fn a_sites_preference_list_item_goes_to_epic_only_and_oracle_gets_no_critical_card() {
        let codings = serde_json::json!([
            { "system": RXNORM, "code": "596926" },
            { "system": EPIC_PREFERENCE_LIST, "code": "10501" }
        ]);
        let epic = apply(vec![card_with_an_order(codings.clone())], Client::Epic, &[]);
        let sent = &epic[0].suggestions[0].actions[0].resource.as_ref().unwrap()["medicationCodeableConcept"]["coding"];
        let systems: Vec<&str> = sent.as_array().unwrap().iter().map(|c| c["system"].as_str().unwrap()).collect();
        assert_eq!(systems, [RXNORM, EPIC_PREFERENCE_LIST, EPIC_RXNORM]);
        assert_eq!(epic[0].suggestions.len(), 2, "the create and the delete, each a suggestion");
        assert_eq!(epic[0].suggestions[0].uuid, "s1");
        assert_eq!(epic[0].suggestions[1].stands_for.as_ref().unwrap().class, "removal");
        for client in [Client::Generic, Client::Oracle] {
            let other = apply(vec![card_with_an_order(codings.clone())], client, &["https://doi.org/".into()]);
            let sent =
                &other[0].suggestions[0].actions[0].resource.as_ref().unwrap()["medicationCodeableConcept"]["coding"];
            assert_eq!(sent.as_array().unwrap().len(), 1, "{client:?}: no preference-list item");
            assert_eq!(other[0].source.url, None, "{client:?}: a source URL off the allow-list is dropped");
            assert_eq!(other[0].indicator == Indicator::Critical, client == Client::Generic);
        }
    }

    #[test]
    fn a_request_with_an_epic_extension_key_is_epic() {
        let epic = serde_json::json!({ "com.epic.cdshooks.request.bpa-trigger-action": "23" });
        assert_eq!(Client::of_request(Some(&epic)), Some(Client::Epic));
        assert_eq!(Client::of_request(Some(&serde_json::json!({ "davinci-crd.configuration": {} }))), None);
        assert_eq!(Client::of_request(None), None);
    }
}
