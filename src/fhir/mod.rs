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
//! the lenient reader. `tests/records.rs` checks the invariant on every example, conformance
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

pub use record::{Origin, PatientRecord};
