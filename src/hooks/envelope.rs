//! Parsing a hook request body: the envelope (hook, context, fhirServer…) is built whole, each
//! prefetch value is parsed by the FHIR reader with unread elements dropped
//! ([`crate::fhir::prune`]), and the entries of prefetched Bundles come back apart, unparsed, as
//! slices of the body ([`crate::fhir::raw`]).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::fhir::prune::{PrefetchItem, value_scalars};
use crate::fhir::raw::RawEntry;

/// The entries of each prefetched Bundle, by prefetch key.
pub type RawEntries = BTreeMap<String, Vec<RawEntry>>;

/// Parses a whole hook request; the entries of its prefetched Bundles come back apart.
pub fn request_from_bytes(body: &Bytes) -> serde_json::Result<(Value, RawEntries)> {
    let mut entries = RawEntries::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Envelope { entries: &mut entries, body }.deserialize(&mut de)?;
    de.end()?;
    Ok((value, entries))
}

/// The request object: `prefetch` read by [`Prefetch`], every other member kept whole.
struct Envelope<'s> {
    entries: &'s mut RawEntries,
    body: &'s Bytes,
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
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<Value>()? {
                items.push(item);
            }
            Ok(Value::Array(items))
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
                map.next_value_seed(Prefetch { entries: self.entries, body: self.body })?
            } else {
                map.next_value::<Value>()?
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
            let value = map.next_value_seed(PrefetchItem { entries: &mut entries, body: self.body })?;
            self.entries.insert(key.clone(), entries);
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    keep_as_is!();
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
    fn syntax_errors_in_dropped_elements_are_still_errors() {
        let bad = br#"{"prefetch": {"x": {"resourceType": "Patient", "text": {"div": tru}}}}"#;
        assert!(request_from_bytes(&Bytes::copy_from_slice(bad)).is_err());
        assert!(request_from_bytes(&Bytes::copy_from_slice(br#"{"hook": "x"} trailing"#)).is_err());
        assert!(bundle_from_slice(br#"{"resourceType": "Bundle", "entry": [{"search": [1,]}]}"#).is_err());
    }
}
