//! Every error the HTTP API can answer, mapped to its status and a FHIR OperationOutcome in this
//! one place (a 401 alone is bare, as CDS Hooks clients expect). Client input never produces a
//! 5xx; request bodies are never echoed back.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::hooks::HookError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error("no CDS service with id '{0}'; GET /cds-services lists the services")]
    UnknownService(String),
    #[error("the request body is larger than the {0}-byte limit")]
    TooLarge(usize),
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
    #[error("{0}")]
    BadFeedback(String),
    #[error("method not allowed here")]
    MethodNotAllowed,
    #[error("no such endpoint; GET /cds-services lists the services")]
    NotFound,
    #[error("the request took longer than the service allows")]
    Timeout,
    /// No valid CDS Hooks JWT (why is logged, never told).
    #[error("authentication required")]
    Unauthorized,
    /// A bug (a handler panicked), never client input.
    #[error("internal error")]
    Internal,
    #[error("the service is shutting down; call another replica")]
    Draining,
    /// Feedback (or a report) the store cannot take now: the client should retry.
    #[error("{0}; try again")]
    StoreUnavailable(String),
    /// The analytics page without (valid) admin credentials.
    #[error("admin credentials required")]
    AdminUnauthorized { basic: bool },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadQuery(String),
    #[error("no snooze in force for card '{0}'")]
    NoSuchSnooze(String),
    /// `$apply` Parameters that cannot be answered.
    #[error("{0}")]
    BadParameters(String),
    #[error("{0} is not known here; GET /metadata says what is")]
    UnknownPlanDefinition(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Hook(HookError::MissingData(_)) => StatusCode::PRECONDITION_FAILED,
            ApiError::Hook(HookError::LimitPassed(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Hook(HookError::DeadlinePassed) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Hook(_) | ApiError::BadFeedback(_) | ApiError::Unreadable(_) => StatusCode::BAD_REQUEST,
            ApiError::UnknownService(_)
            | ApiError::NotFound
            | ApiError::NoSuchSnooze(_)
            | ApiError::UnknownPlanDefinition(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Draining | ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::AdminUnauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadQuery(_) | ApiError::BadParameters(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// A short reason code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Hook(HookError::MalformedJson(_)) => "malformed-json",
            ApiError::Hook(HookError::Invalid(_)) => "schema",
            ApiError::Hook(HookError::HookMismatch { .. }) => "hook-mismatch",
            ApiError::Hook(HookError::UnknownSelection(_)) => "unknown-selection",
            ApiError::Hook(HookError::OtherPatientDraft { .. }) => "other-patient-draft",
            ApiError::Hook(HookError::MissingData(_)) => "missing-data",
            ApiError::Hook(HookError::LimitPassed(_)) => "limit",
            ApiError::Hook(HookError::BadOption(_)) => "bad-option",
            ApiError::Hook(HookError::DeadlinePassed) => "timeout",
            ApiError::UnknownService(_) => "unknown-service",
            ApiError::TooLarge(_) => "too-large",
            ApiError::Unreadable(_) => "unreadable-body",
            ApiError::BadFeedback(_) => "bad-feedback",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::NotFound => "not-found",
            ApiError::Timeout => "timeout",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Internal => "internal",
            ApiError::Draining => "draining",
            ApiError::StoreUnavailable(_) => "store-unavailable",
            ApiError::AdminUnauthorized { .. } => "admin-unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::BadQuery(_) => "bad-query",
            ApiError::NoSuchSnooze(_) => "no-such-snooze",
            ApiError::BadParameters(_) => "bad-parameters",
            ApiError::UnknownPlanDefinition(_) => "unknown-plan-definition",
        }
    }

    /// FHIR IssueType code and one diagnostics line per issue.
    fn issues(&self) -> (&'static str, Vec<String>) {
        match self {
            ApiError::Hook(HookError::Invalid(findings)) => ("structure", findings.clone()),
            ApiError::Hook(HookError::MissingData(keys)) => (
                "incomplete",
                keys.iter().map(|(key, why)| format!("prefetch '{key}' could not be read: {why}")).collect(),
            ),
            ApiError::Hook(HookError::LimitPassed(_)) => ("too-long", vec![self.to_string()]),
            ApiError::Hook(HookError::DeadlinePassed) => ("timeout", vec![self.to_string()]),
            ApiError::Hook(HookError::MalformedJson(_)) | ApiError::Unreadable(_) => {
                ("structure", vec![self.to_string()])
            }
            ApiError::Hook(_) | ApiError::BadFeedback(_) => ("invalid", vec![self.to_string()]),
            ApiError::UnknownService(_)
            | ApiError::NotFound
            | ApiError::NoSuchSnooze(_)
            | ApiError::UnknownPlanDefinition(_) => ("not-found", vec![self.to_string()]),
            ApiError::TooLarge(_) => ("too-long", vec![self.to_string()]),
            ApiError::MethodNotAllowed => ("not-supported", vec![self.to_string()]),
            ApiError::Timeout => ("timeout", vec![self.to_string()]),
            ApiError::Unauthorized => ("login", vec![self.to_string()]),
            ApiError::Internal => ("exception", vec![self.to_string()]),
            ApiError::Draining | ApiError::StoreUnavailable(_) => ("transient", vec![self.to_string()]),
            ApiError::AdminUnauthorized { .. } => ("login", vec![self.to_string()]),
            ApiError::Forbidden(_) => ("forbidden", vec![self.to_string()]),
            ApiError::BadQuery(_) | ApiError::BadParameters(_) => ("invalid", vec![self.to_string()]),
        }
    }
}

/// A FHIR OperationOutcome with one error issue per line.
pub fn operation_outcome(code: &str, lines: &[String]) -> Value {
    let issues: Vec<Value> =
        lines.iter().map(|d| json!({ "severity": "error", "code": code, "diagnostics": d })).collect();
    json!({ "resourceType": "OperationOutcome", "issue": issues })
}

/// A FHIR resource as the answer, `application/fhir+json`.
pub fn fhir_json(status: StatusCode, resource: Value) -> Response {
    let mut response = (status, Json(resource)).into_response();
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/fhir+json"));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Unauthorized = self {
            let challenge = [(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"))];
            return (self.status(), challenge).into_response();
        }
        let (code, lines) = self.issues();
        let mut response = fhir_json(self.status(), operation_outcome(code, &lines));
        if let ApiError::AdminUnauthorized { basic } = self {
            let scheme = if basic { "Basic realm=\"ketamine-cds analytics\"" } else { "Bearer" };
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static(scheme));
        }
        response
    }
}
