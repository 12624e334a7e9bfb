//! Bundle entries kept as their JSON text: while a request is parsed, each entry of a prefetched
//! Bundle is cut out as a shared slice of the body (no copy, not parsed), for the patient record
//! to read one at a time (see [`super`] for the two ways it does).

use bytes::Bytes;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::ignore_scalars;

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

/// `Bundle.entry` kept apart: each entry's `fullUrl` and its resource's JSON text. As when the
/// tree is read, an `entry` that is not a list, and items that are not objects or have no
/// `resource`, contribute nothing. More than `max` entries is an error naming the limit.
pub struct EntryList<'s>(pub &'s mut Vec<RawEntry>, pub &'s Bytes, pub usize);

/// How a parse error says that a limit was passed (see [`limit_passed`]).
pub const LIMIT_PASSED: &str = "limit passed: ";

/// The limit a parse error names, if it is one of [`LIMIT_PASSED`] (without serde_json's
/// position suffix).
pub fn limit_passed(error: &serde_json::Error) -> Option<String> {
    let text = error.to_string();
    let rest = text.strip_prefix(LIMIT_PASSED)?;
    Some(rest.rsplit_once(" at line ").map_or(rest, |(message, _)| message).to_owned())
}

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
        let mut seen = 0usize;
        while let Some(entry) = seq.next_element_seed(EntryItem(self.1))? {
            seen += 1;
            if seen > self.2 {
                return Err(serde::de::Error::custom(format!(
                    "{LIMIT_PASSED}a prefetched Bundle has more than {} entries (--max-bundle-entries)",
                    self.2
                )));
            }
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
        while let Some(key) = map.next_key_seed(EntryKey)? {
            match key {
                EntryField::FullUrl => {
                    full_url = match map.next_value::<Value>()? {
                        Value::String(url) => Some(url),
                        _ => None,
                    }
                }
                EntryField::Resource => resource = Some(share(self.0, map.next_value::<&RawValue>()?.get().as_bytes())),
                EntryField::Other => {
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

/// The members of an entry that are read.
enum EntryField {
    FullUrl,
    Resource,
    Other,
}

/// An entry's member name, read without allocating.
struct EntryKey;

impl<'de> DeserializeSeed<'de> for EntryKey {
    type Value = EntryField;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for EntryKey {
    type Value = EntryField;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(match key {
            "fullUrl" => EntryField::FullUrl,
            "resource" => EntryField::Resource,
            _ => EntryField::Other,
        })
    }
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
