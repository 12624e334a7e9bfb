//! `POST /PlanDefinition/{id}/$apply` and `POST /PlanDefinition/$apply` (with `url`), and
//! `GET /metadata`: the guideline's answer as an R4 RequestGroup for engines that do not speak
//! CDS Hooks (`call::apply`). Authenticated, bounded and timed like a hook call; answered by the
//! same call pipeline. Decision: an `$apply` is not an EHR's alert — no snooze or card option
//! holds anything back, and nothing is recorded in the store (it is not a firing).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::fhir_json;
use super::{ApiError, AppState, body};
use crate::call::{self, apply, services};
use crate::guideline::Hook;
use crate::hooks::HookRequest;

/// The PlanDefinition's id (the last segment of its canonical URL).
fn plan_id(state: &AppState) -> &str {
    state.knowledge.plan.url.rsplit('/').next().unwrap_or_default()
}

pub async fn instance(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    raw: Request,
) -> Result<Response, ApiError> {
    if id != plan_id(&state) {
        return Err(ApiError::UnknownPlanDefinition(format!(
            "PlanDefinition/{}",
            id.chars().take(64).collect::<String>()
        )));
    }
    let body = read(&state, raw).await?;
    answer(&state, &body).await
}

pub async fn type_level(State(state): State<Arc<AppState>>, raw: Request) -> Result<Response, ApiError> {
    let body = read(&state, raw).await?;
    let url = apply::text_parameter(&body, "url").ok_or_else(|| {
        ApiError::BadParameters("Parameters: 'url' (the PlanDefinition's canonical) is required here".into())
    })?;
    let (canonical, version) = url.split_once('|').map_or((url, None), |(u, v)| (u, Some(v)));
    if canonical != state.knowledge.plan.url || version.is_some_and(|v| v != state.knowledge.version()) {
        return Err(ApiError::UnknownPlanDefinition(url.chars().take(200).collect()));
    }
    answer(&state, &body).await
}

async fn read(state: &AppState, raw: Request) -> Result<Value, ApiError> {
    let bytes = body::read(raw, state.config.max_body_bytes).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Unreadable(format!("not JSON: {e}")))
}

async fn answer(state: &AppState, body: &Value) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let applied = apply::request_of(body, &state.knowledge, now).map_err(ApiError::BadParameters)?;
    // The same limits as a hook call, counted while the request is read.
    let bytes = bytes::Bytes::from(serde_json::to_vec(&applied.request).map_err(|_| ApiError::Internal)?);
    let request = HookRequest::from_bytes_within(&bytes, &state.config.request_limits)?;
    let limits = call::Limits {
        options: state.options,
        links_allowed: state.links_allowed.clone(),
        deadline: Some(started + state.config.request_timeout),
    };
    let service = services::for_hook(Hook::OrderSign);
    let evaluation =
        call::answer_with(service, request, &state.knowledge, &state.fetcher, &call::fatigue::Nothing, now, &limits)
            .await?;
    tracing::info!(
        actions = evaluation.response.cards.len(),
        examined = evaluation.examined,
        "PlanDefinition/$apply answered"
    );
    Ok(fhir_json(StatusCode::OK, apply::request_group(&evaluation, &applied.subject, &state.knowledge, now)))
}

/// The CapabilityStatement: the one FHIR operation this service offers, and nothing else.
pub async fn metadata(State(state): State<Arc<AppState>>) -> Response {
    let base = if state.public_base_url.is_empty() { "http://localhost" } else { state.public_base_url.as_str() };
    fhir_json(
        StatusCode::OK,
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            // An instance's statement: as of now.
            "date": time::OffsetDateTime::now_utc().date().to_string(),
            "publisher": "ketamine-cds",
            "kind": "instance",
            "software": { "name": "ketamine-cds", "version": env!("CARGO_PKG_VERSION") },
            "implementation": { "description": format!("ketamine-cds (knowledge {})", state.knowledge.version()), "url": base },
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "instantiates": [],
            "rest": [{
                "mode": "server",
                "documentation": "PlanDefinition/$apply of the ketamine step-therapy guideline (CDS Hooks services are at /cds-services).",
                "resource": [{
                    "type": "PlanDefinition",
                    "operation": [{ "name": "apply", "definition": "http://hl7.org/fhir/OperationDefinition/PlanDefinition-apply" }]
                }]
            }]
        }),
    )
}
