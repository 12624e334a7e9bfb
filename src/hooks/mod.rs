//! CDS Hooks 2.0 wire types: the request envelope, discovery, cards, feedback. Nothing here
//! knows about ketamine; the guideline and the HTTP layer both build on these types.

pub mod discovery;
pub mod envelope;
pub mod feedback;
pub mod options;
pub mod request;
pub mod response;

pub use request::{HookRequest, PrefetchData, Prefetched};
pub use response::{Card, Response};

/// What can be wrong with a hook call, independent of HTTP (the HTTP layer maps each variant to
/// its status code and an OperationOutcome in one place).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HookError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request does not conform to the CDS Hooks request schema")]
    Invalid(Vec<String>),
    #[error("this service answers hook '{expected}', the request is for hook '{got}'")]
    HookMismatch { expected: String, got: String },
    #[error("context.selections names '{0}', which is not an entry of context.draftOrders")]
    UnknownSelection(String),
    /// A draft order for another patient than the call's: the EHR's inconsistency, never a
    /// draft silently dropped.
    #[error("context.draftOrders: {draft} is for Patient/{named}, but context.patientId is '{patient}'")]
    OtherPatientDraft { draft: String, named: String, patient: String },
    #[error("data the rules need was neither prefetched nor fetched")]
    MissingData(Vec<(String, String)>),
    #[error("the request is larger than this service reads: {0}")]
    LimitPassed(String),
    /// A card option of the request's extension with a value of the wrong type.
    #[error("{0}")]
    BadOption(String),
    /// The call took longer than the request timeout (its CPU included).
    #[error("the call took longer than the service allows")]
    DeadlinePassed,
}
