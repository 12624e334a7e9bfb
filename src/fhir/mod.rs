//! FHIR input: the JSON of draft orders, prefetch and FHIR-server pages read into the per-call
//! patient record ([`record`]) of lean structs ([`resources`], [`datatypes`], [`dates`]).
//!
//! **Two readers, one result.** A resource is read one of two ways:
//! - the fast way ([`direct`]): its JSON text straight into its struct, for the common resource
//!   that needs no repair (most of a request);
//! - the lenient way ([`normalize`] then a typed read): the resource as a `serde_json::Value`,
//!   repaired (older shapes, lone objects for lists, nulls, `patient` for `subject`, STU3 doses,
//!   contained resources) before it is read.
//!
//! Invariant: **both ways read every resource alike.** The fast reader only takes a resource
//! whose text shows it needs none of the lenient reader's repairs — every repair is of a shape the
//! strict read refuses, or is recognised by its text before reading — and hands anything else to
//! the lenient reader. `tests/suite/records.rs` checks the invariant on every example, conformance
//! request and patient record, and on resources made to need each repair.
//!
//! Around them: [`prune`] drops unread elements while parsing, [`raw`] keeps Bundle entries as
//! text until the record reads them, [`fetch`] reads what the client did not prefetch from its
//! FHIR server.

pub mod datatypes;
pub mod dates;
pub mod direct;
pub mod fetch;
pub mod normalize;
pub mod prune;
pub mod raw;
pub mod record;
pub mod resources;
pub mod version;
pub mod written;

pub use record::{Origin, PatientRecord};

// The serde visitor helpers the readers share ([`prune`], [`raw`]): here, below both, so that
// neither imports from the other for them.

/// Visitor methods that build any JSON scalar as its `Value`.
macro_rules! value_scalars {
    () => {
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
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
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
    };
}
pub(crate) use value_scalars;

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
pub(crate) use ignore_scalars;
