//! Reading request JSON while dropping what the rules never read.
//!
//! A hook request is mostly patient history, and most of each history resource (narrative,
//! identifiers, meta, extensions, encounter, requester, notes…) is never looked at. This reader
//! builds the `serde_json::Value` of a request or a FHIR search page, but inside FHIR resources
//! (prefetch items, Bundle entries, contained resources) it keeps only the elements the lean
//! structs of [`super::resources`] and the normaliser read ([`READ_ELEMENTS`]); everything else
//! is checked for syntax and skipped without being built. The result reads exactly as the whole
//! tree would: the structs ignore unknown elements anyway.
//!
//! The entries of a prefetched Bundle are not built into the tree at all: each entry's resource
//! is kept as its JSON text ([`RawEntry`], a shared slice of the request body, not a copy), for
//! [`super::PatientRecord::add_entries`] to read straight into the typed structs, one at a time.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// One entry of a prefetched Bundle, its resource not yet parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEntry {
    pub full_url: Option<String>,
    /// The resource's JSON text, in the request body.
    pub resource: Bytes,
}

impl RawEntry {
    /// The resource's JSON text (always UTF-8: the parser checked it).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.resource).unwrap_or_default()
    }
}

/// The entries of each prefetched Bundle, by prefetch key.
pub type RawEntries = BTreeMap<String, Vec<RawEntry>>;

/// Elements of a FHIR resource that are kept: every element the lean structs read, the older
/// spellings the normaliser renames (`patient`, `reasonCodeableConcept`, `dateWritten`), and
/// `resourceType`. A test checks this against the structs' own field lists.
pub const READ_ELEMENTS: &[&str] = &[
    "resourceType",
    "id",
    "status",
    "statusReason",
    "medicationCodeableConcept",
    "medicationReference",
    "subject",
    "patient",
    "authoredOn",
    "dateWritten",
    "reasonCode",
    "reasonCodeableConcept",
    "reasonReference",
    "dosageInstruction",
    "dispenseRequest",
    "effectiveDateTime",
    "effectivePeriod",
    "dateAsserted",
    "dosage",
    "clinicalStatus",
    "verificationStatus",
    "code",
    "onsetDateTime",
    "category",
    "recordedDate",
    "reaction",
    "gender",
    "birthDate",
];

/// Elements of a Bundle kept besides its entries: the search-page fields the fallback reads.
const BUNDLE_ELEMENTS: &[&str] = &["type", "link"];

/// Parses a whole hook request, pruning the resources of its `prefetch`; the entries of its
/// prefetched Bundles come back apart, unparsed, as slices of `body`.
pub fn request_from_bytes(body: &Bytes) -> serde_json::Result<(Value, RawEntries)> {
    let mut entries = RawEntries::new();
    let value = from_slice(body, Place::Request, Some(Sink::Keys(&mut entries, body)))?;
    Ok((value, entries))
}

/// Parses a FHIR search page (a Bundle) or a single resource, pruning its resources.
pub fn bundle_from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    from_slice(bytes, Place::PrefetchItem, None)
}

/// Parses one resource, pruned.
pub fn resource_from_str(text: &str) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Pruned { place: Place::Resource, raw: None }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

fn from_slice(bytes: &[u8], place: Place, raw: Option<Sink<'_>>) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Pruned { place, raw }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Where a JSON value sits, which decides what of it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Kept whole.
    All,
    /// The request object: `prefetch` is pruned, the rest kept whole.
    Request,
    /// The `prefetch` object: each value is a prefetch item.
    Prefetch,
    /// A prefetch value or search page: a Bundle, a resource, or a Bundle entry.
    PrefetchItem,
    /// `Bundle.entry`.
    Entries,
    Entry,
    /// `contained`.
    Resources,
    Resource,
}

impl Place {
    /// Where the value of `key` of an object at this place sits; `None` drops it.
    fn child(self, key: &str) -> Option<Place> {
        match (self, key) {
            (Place::Request, "prefetch") => Some(Place::Prefetch),
            (Place::Request, _) => Some(Place::All),
            (Place::Prefetch, _) => Some(Place::PrefetchItem),
            (Place::PrefetchItem, "entry") => Some(Place::Entries),
            (Place::PrefetchItem, "resource") | (Place::Entries | Place::Entry, "resource") => Some(Place::Resource),
            (Place::Entries | Place::Entry, "fullUrl") => Some(Place::All),
            (Place::Entries | Place::Entry, _) => None,
            (_, "contained") => Some(Place::Resources),
            (Place::PrefetchItem, k) if BUNDLE_ELEMENTS.contains(&k) => Some(Place::All),
            (_, k) if is_read_element(k) => Some(Place::All),
            _ => None,
        }
    }

    /// Where the items of an array at this place sit.
    fn item(self) -> Place {
        match self {
            Place::Entries => Place::Entry,
            Place::Resources => Place::Resource,
            other => other,
        }
    }
}

fn is_read_element(key: &str) -> bool {
    READ_ELEMENTS.contains(&key)
}

/// Where the entries of prefetched Bundles go instead of the tree, with the body they are
/// slices of.
enum Sink<'s> {
    /// The request: entries by prefetch key.
    Keys(&'s mut RawEntries, &'s Bytes),
    /// One prefetch item's entries.
    Entries(&'s mut Vec<RawEntry>, &'s Bytes),
}

/// Builds the value at a place, pruned for that place.
struct Pruned<'s> {
    place: Place,
    /// Set when Bundle entries are to be kept apart, unparsed.
    raw: Option<Sink<'s>>,
}

impl Pruned<'_> {
    fn at(place: Place) -> Self {
        Self { place, raw: None }
    }
}

impl<'de> DeserializeSeed<'de> for Pruned<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.place {
            Place::All => Value::deserialize(deserializer),
            _ => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Pruned<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Pruned::at(self.place.item()))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Pruned { place, mut raw } = self;
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(Key(place))? {
            match (key, &mut raw) {
                (Some((key, Place::Prefetch)), Some(Sink::Keys(keys, body))) => {
                    keys.clear();
                    let raw = Some(Sink::Keys(keys, body));
                    let value = map.next_value_seed(Pruned { place: Place::Prefetch, raw })?;
                    object.insert(key, value);
                }
                // A prefetch item: its entries (if any) go to its own list; a repeated key's last
                // value wins, as in the tree.
                (Some((key, Place::PrefetchItem)), Some(Sink::Keys(keys, body))) => {
                    let mut entries = Vec::new();
                    let item = Pruned { place: Place::PrefetchItem, raw: Some(Sink::Entries(&mut entries, body)) };
                    let value = map.next_value_seed(item)?;
                    keys.insert(key.clone(), entries);
                    object.insert(key, value);
                }
                (Some((_, Place::Entries)), Some(Sink::Entries(entries, body))) => {
                    entries.clear();
                    map.next_value_seed(EntryList(entries, body))?;
                }
                (Some((key, place)), _) => {
                    let value = map.next_value_seed(Pruned::at(place))?;
                    object.insert(key, value);
                }
                (None, _) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(object))
    }
}

/// Visitor methods that accept any JSON scalar and make `$nothing` of it.
macro_rules! ignore_scalars {
    ($nothing:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($nothing)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($nothing)
        }
    };
}
pub(super) use ignore_scalars;

/// `Bundle.entry` kept apart: each entry's `fullUrl` and its resource's JSON text. As when the
/// tree is read, an `entry` that is not a list, and items that are not objects or have no
/// `resource`, contribute nothing.
struct EntryList<'s>(&'s mut Vec<RawEntry>, &'s Bytes);

impl<'de> DeserializeSeed<'de> for EntryList<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntryList<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("Bundle entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element_seed(EntryItem(self.1))? {
            self.0.extend(entry);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        IgnoredAny.visit_map(map).map(drop)
    }

    ignore_scalars!(());
}

/// One item of `Bundle.entry`, read as `Some` if it is an object with a `resource`; the seed
/// holds the body the resource's text is a slice of.
struct EntryItem<'s>(&'s Bytes);

impl<'de> DeserializeSeed<'de> for EntryItem<'_> {
    type Value = Option<RawEntry>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntryItem<'_> {
    type Value = Option<RawEntry>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Bundle entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut full_url, mut resource) = (None, None);
        while let Some(key) = map.next_key_seed(Key(Place::Entry))? {
            match key.as_ref().map(|(k, _)| k.as_str()) {
                Some("fullUrl") => {
                    full_url = match map.next_value::<Value>()? {
                        Value::String(url) => Some(url),
                        _ => None,
                    }
                }
                Some("resource") => resource = Some(share(self.0, map.next_value::<&RawValue>()?.get().as_bytes())),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(resource.map(|resource| RawEntry { full_url, resource }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| None)
    }

    ignore_scalars!(None);
}

/// `part` as a shared slice of `body` when it lies within it (it always does: the parser reads
/// `body`), else as a copy.
fn share(body: &Bytes, part: &[u8]) -> Bytes {
    let offset = (part.as_ptr() as usize).checked_sub(body.as_ptr() as usize);
    match offset.filter(|start| start + part.len() <= body.len()) {
        Some(start) => body.slice(start..start + part.len()),
        None => Bytes::copy_from_slice(part),
    }
}

/// An object key at a place: the key and its value's place if kept, `None` (not allocated) if
/// dropped.
struct Key(Place);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<(String, Place)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key {
    type Value = Option<(String, Place)>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.child(key).map(|place| (key.to_owned(), place)))
    }

    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        Err(E::custom("object key is not a string"))
    }
}

#[cfg(test)]
mod tests {
    use serde::de::{self, Error as _, Visitor};
    use serde_json::json;

    use super::*;
    use crate::fhir::resources::{
        AllergyIntolerance, Condition, DispenseRequest, Medication, MedicationRequest, MedicationStatement, Patient,
        Reaction,
    };

    /// A deserializer that only records the field list a derived struct asks for.
    struct FieldNames<'a>(&'a mut Vec<&'static str>);

    impl<'de> Deserializer<'de> for FieldNames<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("fields only"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.extend_from_slice(fields);
            Err(Self::Error::custom("fields only"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    fn fields<T: for<'de> Deserialize<'de>>() -> Vec<&'static str> {
        let mut names = Vec::new();
        let _ = T::deserialize(FieldNames(&mut names));
        names
    }

    #[test]
    fn every_element_the_resource_structs_read_is_kept() {
        // Top-level elements only: what sits below a kept element is kept whole.
        let top = [
            fields::<MedicationRequest>(),
            fields::<MedicationStatement>(),
            fields::<Condition>(),
            fields::<AllergyIntolerance>(),
            fields::<Medication>(),
            fields::<Patient>(),
        ];
        let read: Vec<_> = top.concat();
        assert!(read.len() > 30, "the struct field lists were read: {read:?}");
        for name in read {
            assert!(is_read_element(name), "{name} is read by a resource struct but pruned");
        }
        // Nested structs are kept whole under their parent element; their fields need no entry.
        assert!(!fields::<DispenseRequest>().is_empty() && !fields::<Reaction>().is_empty());
    }

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
