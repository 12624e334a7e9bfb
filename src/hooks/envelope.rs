//! Parsing a hook request body: the envelope (hook, context, fhirServer…) is built whole, each
//! prefetch value is parsed by the FHIR reader with unread elements dropped
//! ([`crate::fhir::prune`]), and the entries of prefetched Bundles come back apart, unparsed, as
//! slices of the body ([`crate::fhir::raw`]). Bounded while it is read ([`RequestLimits`]): the
//! envelope's values are counted and their nesting measured, each Bundle's entries counted, so
//! that a small body (a million `{}` draft orders) cannot make the service build a large tree.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::config::RequestLimits;
use crate::fhir::prune::PrefetchItem;
use crate::fhir::raw::{LIMIT_PASSED, RawEntry};
use crate::fhir::value_scalars;

/// The entries of each prefetched Bundle, by prefetch key.
pub type RawEntries = BTreeMap<String, Vec<RawEntry>>;

/// Parses a whole hook request; the entries of its prefetched Bundles come back apart.
pub fn request_from_bytes(body: &Bytes) -> serde_json::Result<(Value, RawEntries)> {
    request_within(body, &RequestLimits::default())
}

/// As [`request_from_bytes`], within `limits`.
pub fn request_within(body: &Bytes, limits: &RequestLimits) -> serde_json::Result<(Value, RawEntries)> {
    let mut entries = RawEntries::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    // serde_json's own recursion limit (128) stays in force; ours is lower and named.
    let budget = std::cell::Cell::new(limits.max_envelope_values);
    let value = Envelope { entries: &mut entries, body, limits, budget: &budget }.deserialize(&mut de)?;
    de.end()?;
    let drafts = draft_count(&value);
    if drafts > limits.max_draft_orders {
        return Err(serde::de::Error::custom(format!(
            "{LIMIT_PASSED}context.draftOrders has {drafts} orders, more than {} (--max-draft-orders)",
            limits.max_draft_orders
        )));
    }
    Ok((value, entries))
}

/// How many draft orders `context.draftOrders` holds, in any of the shapes the request reader
/// accepts (a Bundle's entries, an array, one resource).
fn draft_count(request: &Value) -> usize {
    match request.get("context").and_then(|c| c.get("draftOrders")) {
        Some(Value::Array(items)) => items.len(),
        Some(Value::Object(bundle)) => match bundle.get("entry") {
            Some(Value::Array(entries)) => entries.len(),
            _ => usize::from(bundle.contains_key("resourceType")),
        },
        _ => 0,
    }
}

/// The request object: `prefetch` read by [`Prefetch`], every other member built as a
/// [`Bounded`] value.
struct Envelope<'s> {
    entries: &'s mut RawEntries,
    body: &'s Bytes,
    limits: &'s RequestLimits,
    budget: &'s std::cell::Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for Envelope<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Anything but an object is kept as it is (the schema then refuses it).
macro_rules! keep_as_is {
    () => {
        value_scalars!();
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
            serde::de::IgnoredAny.visit_seq(seq).map(|_| Value::Array(Vec::new()))
        }
    };
}

impl<'de> Visitor<'de> for Envelope<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a CDS Hooks request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = if key == "prefetch" {
                // A repeated key: the last one wins, as in the tree.
                self.entries.clear();
                map.next_value_seed(Prefetch {
                    entries: self.entries,
                    body: self.body,
                    max_entries: self.limits.max_bundle_entries,
                })?
            } else {
                map.next_value_seed(Bounded {
                    budget: self.budget,
                    max_values: self.limits.max_envelope_values,
                    depth: 1,
                    max_depth: self.limits.max_depth,
                })?
            };
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    keep_as_is!();
}

/// The `prefetch` object: each value is a prefetch item, its Bundle entries kept apart by key.
struct Prefetch<'s> {
    entries: &'s mut RawEntries,
    body: &'s Bytes,
    max_entries: usize,
}

impl<'de> DeserializeSeed<'de> for Prefetch<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Prefetch<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the prefetch object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let mut entries = Vec::new();
            let value = map.next_value_seed(PrefetchItem {
                entries: &mut entries,
                body: self.body,
                max_entries: self.max_entries,
            })?;
            self.entries.insert(key.clone(), entries);
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    keep_as_is!();
}

/// A JSON value built while its values are counted against a shared budget and its nesting
/// against a depth: past either, an error naming the limit, before more is allocated.
#[derive(Clone, Copy)]
struct Bounded<'s> {
    budget: &'s std::cell::Cell<usize>,
    max_values: usize,
    depth: usize,
    max_depth: usize,
}

impl Bounded<'_> {
    fn spend<E: serde::de::Error>(&self) -> Result<(), E> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(E::custom(format!(
                "{LIMIT_PASSED}the request outside prefetch has more than {} values",
                self.max_values
            ))),
        }
    }

    fn inner<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth >= self.max_depth {
            return Err(E::custom(format!("{LIMIT_PASSED}the request nests deeper than {} levels", self.max_depth)));
        }
        Ok(Self { depth: self.depth + 1, ..self })
    }
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    value_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut items = Vec::new();
        while let Some(item) = {
            self.spend()?;
            seq.next_element_seed(inner)?
        } {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.spend()?;
            object.insert(key, map.next_value_seed(inner)?);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fhir::prune::{bundle_from_slice, resource_from_str};

    #[test]
    fn resources_lose_unread_elements_and_keep_the_rest_whole() {
        let body = json!({
            "hook": "order-sign", "extra": {"text": "kept: not a resource"},
            "context": {"draftOrders": {"entry": [{"resource": {"text": "drafts are kept whole"}}]}},
            "prefetch": {
                "meds": {"resourceType": "Bundle", "type": "searchset", "total": 1, "link": [{"relation": "self"}],
                    "entry": [{"fullUrl": "urn:a", "search": {"mode": "match"}, "resource": {
                        "resourceType": "MedicationRequest", "id": "a", "text": {"div": "narrative"},
                        "identifier": [{"value": "x"}], "patient": {"reference": "Patient/1"},
                        "dosageInstruction": [{"text": "kept", "extension": [{"url": "kept"}]}],
                        "contained": {"resourceType": "Medication", "id": "m", "code": {"text": "k"}, "meta": {}}}}]},
                "patient": {"resource": {"resourceType": "Patient", "id": "1", "name": [{"family": "dropped"}]}},
                "none": null
            }
        });
        let (pruned, raw) = request_from_bytes(&serde_json::to_vec(&body).unwrap().into()).unwrap();
        assert_eq!(pruned["extra"], body["extra"]);
        assert_eq!(pruned["context"], body["context"]);
        let bundle = &pruned["prefetch"]["meds"];
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["link"], body["prefetch"]["meds"]["link"]);
        assert!(bundle.get("total").is_none() && bundle.get("entry").is_none());
        // The entries are apart, as text: fullUrl and the whole resource.
        let entries = &raw["meds"];
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].full_url.as_deref(), Some("urn:a"));
        let resource: Value = serde_json::from_str(entries[0].text()).unwrap();
        assert_eq!(resource, body["prefetch"]["meds"]["entry"][0]["resource"]);
        // A resource read through the tree is pruned.
        let tree = resource_from_str(entries[0].text()).unwrap();
        assert_eq!(
            tree,
            json!({
            "resourceType": "MedicationRequest", "id": "a", "patient": {"reference": "Patient/1"},
            "dosageInstruction": [{"text": "kept", "extension": [{"url": "kept"}]}],
            "contained": {"resourceType": "Medication", "id": "m", "code": {"text": "k"}}})
        );
        assert_eq!(pruned["prefetch"]["patient"], json!({"resource": {"resourceType": "Patient", "id": "1"}}));
        assert_eq!(pruned["prefetch"]["none"], Value::Null);
        assert!(raw["patient"].is_empty() && raw["none"].is_empty());
        // Search pages (the FHIR-server fallback) keep their entries in the tree, pruned.
        let page = bundle_from_slice(&serde_json::to_vec(&body["prefetch"]["meds"]).unwrap()).unwrap();
        assert_eq!(page["entry"][0]["resource"], tree);
        assert!(page["entry"][0].get("search").is_none());
    }

    #[test]
    fn entries_that_are_not_objects_with_a_resource_contribute_nothing() {
        let body = br#"{"prefetch": {
            "a": {"resourceType": "Bundle", "entry": [null, 3, "x", [1], {"fullUrl": 5}, {"resource": null}]},
            "b": {"resourceType": "Bundle", "entry": {"resource": {"resourceType": "Condition"}}},
            "c": {"resourceType": "Bundle", "entry": [{"resource": {"id": "1"}}], "entry": [{"resource": {"id": "2"}}]}
        }}"#;
        let (_, raw) = request_from_bytes(&Bytes::copy_from_slice(body)).unwrap();
        assert_eq!(raw["a"].len(), 1, "only the entry with a (null) resource");
        assert_eq!(raw["a"][0].text(), "null");
        assert!(raw["b"].is_empty(), "a lone entry object is not a list, as when the tree is read");
        assert_eq!(raw["c"].len(), 1, "a repeated key: the last wins");
        assert!(raw["c"][0].text().contains("\"2\""));
    }

    #[test]
    fn a_request_is_bounded_while_it_is_read() {
        let limits =
            RequestLimits { max_draft_orders: 2, max_bundle_entries: 2, max_envelope_values: 50, max_depth: 5 };
        let read = |body: &str| request_within(&Bytes::copy_from_slice(body.as_bytes()), &limits).map(|_| ());
        let limit = |body: &str| read(body).err().and_then(|e| crate::fhir::raw::limit_passed(&e)).unwrap_or_default();
        assert!(read(r#"{"context":{"draftOrders":[{},{}]}}"#).is_ok());
        assert!(limit(r#"{"context":{"draftOrders":[{},{},{}]}}"#).contains("more than 2 (--max-draft-orders)"));
        let many = format!(r#"{{"context":{{"draftOrders":[{}]}}}}"#, vec!["{}"; 60].join(","));
        assert!(limit(&many).contains("more than 50 values"), "{}", limit(&many));
        assert!(limit(r#"{"a":[[[[[[1]]]]]]}"#).contains("deeper than 5 levels"));
        let entries =
            r#"{"prefetch":{"k":{"resourceType":"Bundle","entry":[{"resource":{}},{"resource":{}},{"resource":{}}]}}}"#;
        assert!(limit(entries).contains("more than 2 entries"));
    }

    #[test]
    fn syntax_errors_in_dropped_elements_are_still_errors() {
        let bad = br#"{"prefetch": {"x": {"resourceType": "Patient", "text": {"div": tru}}}}"#;
        assert!(request_from_bytes(&Bytes::copy_from_slice(bad)).is_err());
        assert!(request_from_bytes(&Bytes::copy_from_slice(br#"{"hook": "x"} trailing"#)).is_err());
        assert!(bundle_from_slice(br#"{"resourceType": "Bundle", "entry": [{"search": [1,]}]}"#).is_err());
    }
}
