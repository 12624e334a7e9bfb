//! The shipped examples, embedded: `examples/hooks/*.json` and `examples/bundles/*.json` (not
//! their expectations) as `(path under examples/, text)`. The playground offers them; the FHIR
//! package carries the Bundles as its examples.

include!(concat!(env!("OUT_DIR"), "/embedded_examples.rs"));
