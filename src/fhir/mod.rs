//! FHIR input: lenient normalisation and the per-call patient record.

pub mod datatypes;
pub mod dates;
pub mod direct;
pub mod fetch;
pub mod normalize;
pub mod prune;
pub mod record;
pub mod resources;

pub use record::{Origin, PatientRecord};
