//! ketamine-cds: a CDS Hooks 2.0 service that flags ketamine orders for neuropathic pain not
//! backed by documented failures of the first-line agents (SNRIs, gabapentinoids, TCAs).
//!
//! Data flows one way, each step a plain function:
//!
//! ```text
//! HTTP request → hooks::HookRequest → fhir::PatientRecord → guideline::assess → cards::cards → HTTP response
//! ```
//!
//! - [`hooks`]: CDS Hooks wire types (request envelope and its JSON Schema, discovery, cards,
//!   feedback). Knows nothing of ketamine.
//! - [`fhir`]: reading EHR JSON (pruned while parsed, straight into typed structs where no
//!   repair is needed, through lenient normalisation where one is) into the per-call patient
//!   record (lean structs of the elements the rules read, tested against fhir-sdk's R4B models).
//! - [`knowledge`]: `profiles/` (FHIR ValueSets, CodeSystems, ConceptMap, PlanDefinition,
//!   ActivityDefinitions) loaded and validated; medication recognition.
//! - [`guideline`]: the rules of RULES.md: trigger, indication, class status, daily dose,
//!   contraindications. No I/O, no clock.
//! - [`cards`]: assessment → cards (texts, suggestions, override reasons, links, uuids).
//! - [`service`]: one call end to end, shared by the HTTP API and the command line.
//! - [`http`]: router, handlers, errors → OperationOutcome. [`config`]: `serve` settings.
//!   [`telemetry`]: logs, and OpenTelemetry trace export when built with the `otlp` feature.

pub mod auth;
pub mod cards;
pub mod cli;
pub mod config;
pub mod fhir;
pub mod guideline;
pub mod hooks;
pub mod http;
pub mod knowledge;
pub mod server;
pub mod service;
pub mod telemetry;
