//! Reading FHIR JSON while dropping what the rules never read.
//!
//! A hook request is mostly patient history, and most of each history resource (narrative,
//! identifiers, meta, extensions, encounter, requester, notes…) is never looked at. This reader
//! builds the `serde_json::Value` of a FHIR Bundle, a resource or a Bundle entry, but inside FHIR
//! resources (entries, contained resources) it keeps only the elements the lean structs of
//! [`super::resources`] and the normaliser read ([`READ_ELEMENTS`]); everything else is checked
//! for syntax and skipped without being built. The result reads exactly as the whole tree
//! would: the structs ignore unknown elements anyway.
//!
//! Given a place to put them ([`PrefetchItem`]), the entries of a Bundle are not built into the
//! tree at all but kept as their JSON text ([`super::raw`]).

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::raw::{EntryList, RawEntry};
use super::value_scalars;

/// Elements of a FHIR resource that are kept: every element the lean structs read, the other
/// versions' spellings the normaliser rewrites (`patient`, `reasonCodeableConcept`,
/// `dateWritten`, `reasonEnded`, `reasonNotTaken`, `reasonForUse…`, `substance`, `product`,
/// `assertedDate`; R5's `medication`, `reason`, `adherence`, `doseForm`; `taken`,
/// `wasNotTaken`), STU3's `context` (it tells the version), and `resourceType`.
/// A test checks this against the structs' own field lists.
pub const READ_ELEMENTS: &[&str] = &[
    "resourceType",
    "id",
    "status",
    "doNotPerform",
    "statusReason",
    "medicationCodeableConcept",
    "medicationReference",
    "medication",
    "subject",
    "patient",
    "authoredOn",
    "dateWritten",
    "reasonCode",
    "reasonCodeableConcept",
    "reasonReference",
    "reason",
    "taken",
    "wasNotTaken",
    "reasonEnded",
    "reasonNotTaken",
    "reasonForUseCodeableConcept",
    "reasonForUseReference",
    "adherence",
    "substance",
    "assertedDate",
    "doseForm",
    "product",
    "context",
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
    "abatementDateTime",
    "abatementAge",
    "abatementPeriod",
    "abatementRange",
    "abatementString",
    "abatementBoolean",
    "category",
    "recordedDate",
    "reaction",
    "form",
    "ingredient",
    "gender",
    "birthDate",
];

/// Elements of a Bundle kept besides its entries: the search-page fields the fallback reads.
const BUNDLE_ELEMENTS: &[&str] = &["type", "link"];

/// Parses a FHIR search page (a Bundle) or a single resource, pruning its resources.
pub fn bundle_from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Pruned::at(Place::Item).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Parses one resource, pruned.
pub fn resource_from_str(text: &str) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Pruned::at(Place::Resource).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A prefetch value as a request carries it (a Bundle, a resource, or a Bundle entry), pruned;
/// a Bundle's entries go to `entries` as text, slices of `body`, instead of into the tree.
pub struct PrefetchItem<'s> {
    pub entries: &'s mut Vec<RawEntry>,
    pub body: &'s Bytes,
    /// Most entries a Bundle may have.
    pub max_entries: usize,
}

impl<'de> DeserializeSeed<'de> for PrefetchItem<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer
            .deserialize_any(Pruned { place: Place::Item, raw: Some((self.entries, self.body, self.max_entries)) })
    }
}

/// Where a JSON value sits, which decides what of it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Kept whole.
    All,
    /// A Bundle, a resource, or a Bundle entry.
    Item,
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
            (Place::Item, "entry") => Some(Place::Entries),
            (Place::Item, "resource") | (Place::Entries | Place::Entry, "resource") => Some(Place::Resource),
            (Place::Entries | Place::Entry, "fullUrl") => Some(Place::All),
            (Place::Entries | Place::Entry, _) => None,
            (_, "contained") => Some(Place::Resources),
            (Place::Item, k) if BUNDLE_ELEMENTS.contains(&k) => Some(Place::All),
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

/// Builds the value at a place, pruned for that place.
struct Pruned<'s> {
    place: Place,
    /// Set when Bundle entries are to be kept apart, unparsed, with the body they are slices of.
    raw: Option<(&'s mut Vec<RawEntry>, &'s Bytes, usize)>,
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

    value_scalars!();

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
                (Some((_, Place::Entries)), Some((entries, body, max))) => {
                    entries.clear();
                    map.next_value_seed(EntryList(entries, body, *max))?;
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
    use super::*;
    use crate::fhir::resources::{
        AllergyIntolerance, Condition, DispenseRequest, Medication, MedicationRequest, MedicationStatement, Patient,
        Reaction,
    };
    use serde::de::{self, Error as _, Visitor};

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
}
