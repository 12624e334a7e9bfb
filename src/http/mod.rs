//! The HTTP API: router and shared state, one handler per endpoint. Handlers are thin: they
//! read the body, call [`crate::call::answer`] and map errors through [`error::ApiError`].

pub mod analytics;
pub mod apply;
mod body;
pub mod budget;
pub mod error;
pub mod metrics;
pub mod playground;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};
use tracing::{Instrument, info, info_span, warn};

use crate::auth::Authenticator;
use crate::call::{self, services};
use crate::config::HttpConfig;
use crate::fhir::fetch::Fetcher;
use crate::hooks::{HookRequest, feedback};
use crate::knowledge::Knowledge;
use error::ApiError;

/// The shipped OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Shared by every request.
pub struct AppState {
    pub knowledge: Knowledge,
    pub config: HttpConfig,
    pub metrics: metrics::Metrics,
    /// Reads what the client did not prefetch from its FHIR server.
    pub fetcher: Fetcher,
    /// Verifies callers when authentication is required.
    pub auth: Option<Arc<Authenticator>>,
    /// The URL EHRs call (JWT `aud` is this plus the path called).
    pub public_base_url: String,
    /// False until start-up is complete and again once shutdown begins.
    pub ready: AtomicBool,
    /// Bounds the request bodies held at once.
    pub body_budget: budget::BodyBudget,
    /// Where cards and feedback are kept (possibly nowhere).
    pub store: Arc<crate::store::Store>,
    /// Who may read `/analytics`.
    pub admin: crate::config::AdminConfig,
    /// The site's card-option defaults.
    pub options: crate::hooks::options::CardOptions,
    /// Whether the playground page is served.
    pub playground: playground::PlaygroundConfig,
    /// Link prefixes cards may carry (`[links] allowed`; empty: every link).
    pub links_allowed: Arc<[String]>,
    /// How EHR-built override reasons are read (`[feedback]`).
    pub feedback: crate::config::FeedbackConfig,
    /// Whose cards are shown (`[rollout]`).
    pub rollout: crate::config::RolloutConfig,
    /// The loops beside the calls (stopped by `startup::close`).
    pub background: crate::background::Background,
}

pub fn router(state: Arc<AppState>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
        .max_age(Duration::from_secs(86_400));
    let timeout = state.config.request_timeout;
    let services = Router::new()
        .route("/cds-services", get(discovery_handler).fallback(method_not_allowed))
        .route("/cds-services/{id}", post(hook_handler).fallback(method_not_allowed))
        .route("/cds-services/{id}/feedback", post(feedback_handler).fallback(method_not_allowed))
        .route("/PlanDefinition/$apply", post(apply::type_level).fallback(method_not_allowed))
        .route("/PlanDefinition/{id}/$apply", post(apply::instance).fallback(method_not_allowed))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), budget::wait_for_budget))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), authenticate))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), refuse_while_draining));
    // The playground's own hook endpoints: the same handlers, behind the admin check instead
    // of the EHR's JWT (authentication required and the playground enabled).
    let playground_services = Router::new()
        .route("/playground/cds-services/{id}", post(hook_handler).fallback(method_not_allowed))
        .route("/playground/cds-services/{id}/feedback", post(feedback_handler).fallback(method_not_allowed))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), budget::wait_for_budget))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), playground::admit))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), refuse_while_draining));
    Router::new()
        .merge(services)
        .merge(playground_services)
        .route("/", get(playground::index).fallback(method_not_allowed))
        .route("/playground/app.js", get(playground::script).fallback(method_not_allowed))
        .route("/playground/app.css", get(playground::style).fallback(method_not_allowed))
        .route("/playground/examples", get(playground::examples).fallback(method_not_allowed))
        .route("/playground/examples/{*path}", get(playground::example).fallback(method_not_allowed))
        .route("/playground/request", post(playground::request).fallback(method_not_allowed))
        .route("/playground/snoozes/{card}/lift", post(playground::lift).fallback(method_not_allowed))
        // Browsers ask for an icon on every page load: nothing, rather than a 404 in the console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }).fallback(method_not_allowed))
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }).fallback(method_not_allowed))
        .route("/ready", get(ready_handler).fallback(method_not_allowed))
        .route("/openapi.json", get(openapi_handler).fallback(method_not_allowed))
        .route("/metadata", get(apply::metadata).fallback(method_not_allowed))
        .route("/metrics", get(metrics_handler).fallback(method_not_allowed))
        .route("/analytics", get(analytics::handler).fallback(method_not_allowed))
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::from_fn(move |req, next: axum::middleware::Next| async move {
            match tokio::time::timeout(timeout, next.run(req)).await {
                Ok(response) => response,
                Err(_) => ApiError::Timeout.into_response(),
            }
        }))
        .layer(cors)
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            // A bug, never client input: answer like a server error, keep serving.
            tracing::error!("a handler panicked");
            ApiError::Internal.into_response()
        }))
        .with_state(state)
}

/// While the server drains (after SIGTERM) new service calls get a 503, so that the client or its
/// load balancer tries another replica; the calls already in flight finish.
async fn refuse_while_draining(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if state.ready.load(Ordering::Acquire) {
        next.run(request).await
    } else {
        state.metrics.refusal(503, ApiError::Draining.reason());
        ApiError::Draining.into_response()
    }
}

/// Requires a valid CDS Hooks JWT on the service endpoints when authentication is on. A refusal
/// is a bare 401; why is logged (reason code, issuer, kid), never the token.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(auth) = &state.auth else { return next.run(request).await };
    let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let url = format!("{}{}", state.public_base_url.trim_end_matches('/'), request.uri().path());
    match auth.verify(header, &url).await {
        Ok(caller) => {
            tracing::debug!(issuer = %caller.issuer, "caller authenticated");
            // The handlers read who called (the issuer's EHR profile).
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refusal) => {
            state.metrics.refusal(401, refusal.failure.code());
            warn!(
                reason = refusal.failure.code(),
                issuer = refusal.issuer.as_deref().unwrap_or("-"),
                kid = refusal.kid.as_deref().unwrap_or("-"),
                "call refused: authentication"
            );
            ApiError::Unauthorized.into_response()
        }
    }
}

/// A client-chosen value as it may be logged: at most 64 characters (a 4 MB `hook` must not
/// make a 4 MB log line).
fn loggable(value: &str) -> &str {
    match value.char_indices().nth(64) {
        Some((cut, _)) => &value[..cut],
        None => value,
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn discovery_handler(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(services::document(state.knowledge.version(), &state.options))
}

async fn ready_handler(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        // Hook calls work without the store: ready, and the store's state said.
        let store = match (state.store.db(), state.store.instruments.health.failing_since()) {
            (None, _) => json!({ "status": "off" }),
            (Some(_), None) => json!({ "status": "ok" }),
            (Some(_), Some(since)) => {
                json!({ "status": "degraded", "failing_since": crate::clock::instant(since.saturating_mul(1000)) })
            }
        };
        Json(json!({ "status": "ready", "knowledge": state.knowledge.version(), "store": store })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not ready" }))).into_response()
    }
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    let content_type = HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type)], state.metrics.render()).into_response()
}

async fn openapi_handler() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], OPENAPI).into_response()
}

async fn hook_handler(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    raw: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let service = services::service(&id).ok_or_else(|| ApiError::UnknownService(id.clone()))?;
    let span = info_span!(
        "hook_call",
        service = service.id,
        hook = tracing::field::Empty,
        hook_instance = tracing::field::Empty,
        examined = tracing::field::Empty,
        fetched = tracing::field::Empty,
        cards = tracing::field::Empty,
        resources = tracing::field::Empty,
        skipped = tracing::field::Empty,
        other_patient = tracing::field::Empty,
        held_back = tracing::field::Empty,
        held_by = tracing::field::Empty,
        arm = tracing::field::Empty,
        silenced = tracing::field::Empty,
        latency_us = tracing::field::Empty,
        trigger = tracing::field::Empty,
    );
    // The playground's calls also get the cards held back, to show them as such.
    let playground = raw.extensions().get::<playground::PlaygroundCall>().is_some();
    async move {
        let result = answer(&state, service, raw, started, playground).await;
        let span = tracing::Span::current();
        span.record("latency_us", started.elapsed().as_micros() as u64);
        match result {
            Ok(evaluation) => {
                let at = crate::clock::now_millis();
                state.store.answered(service.id, service.hook, &evaluation, state.knowledge.version(), at);
                span.record("examined", evaluation.examined);
                span.record("fetched", evaluation.fetched);
                span.record("cards", evaluation.response.cards.len());
                span.record("resources", evaluation.resources_read);
                span.record("skipped", evaluation.resources_skipped);
                span.record("other_patient", evaluation.resources_other_patient);
                if evaluation.arm != call::rollout::Arm::Live {
                    span.record("arm", evaluation.arm.name());
                    span.record("silenced", evaluation.silenced.len());
                    state.metrics.silenced(service.id, evaluation.silenced.len());
                }
                if !evaluation.held_back.is_empty() {
                    span.record("held_back", evaluation.held_back.len());
                    let mut causes: Vec<&str> = evaluation.held_back.iter().map(|h| h.by.code()).collect();
                    causes.sort_unstable();
                    causes.dedup();
                    span.record("held_by", causes.join(",").as_str());
                }
                state.metrics.other_patient(evaluation.resources_other_patient);
                if let Some(trigger) = &evaluation.trigger {
                    span.record("trigger", trigger.as_str());
                }
                let indicators: Vec<&str> = evaluation.response.cards.iter().map(|c| c.indicator.name()).collect();
                let seconds = started.elapsed().as_secs_f64();
                state.metrics.answered(service.id, &indicators, seconds, evaluation.prefetched, evaluation.fetched);
                info!("hook answered");
                if playground {
                    return Ok(Json(evaluation.body_with_held_back()).into_response());
                }
                Ok(Json(evaluation.response).into_response())
            }
            Err(error) => {
                warn!(status = error.status().as_u16(), reason = error.reason(), "hook refused");
                state.metrics.refused_call(service.id, started.elapsed().as_secs_f64());
                state.metrics.refusal(error.status().as_u16(), error.reason());
                Err(error)
            }
        }
    }
    .instrument(span)
    .await
}

/// Reads the body and answers the call ([`call::answer`], the FHIR-server fallback reading what
/// the client did not prefetch).
///
/// The CPU-bound steps run on the async worker itself: there are as many workers as cores, so
/// at most that many calls compute at once, each without a thread hand-off. (Moving them to the
/// blocking pool was measured: more threads than cores, each with its own allocator arena, cost
/// half the throughput and several times the memory.)
async fn answer(
    state: &AppState,
    service: &'static call::ServiceDef,
    raw: Request,
    started: Instant,
    playground: bool,
) -> Result<call::Evaluation, ApiError> {
    let caller = raw.extensions().get::<crate::auth::Caller>().cloned();
    let caller = caller.as_ref();
    let bytes = body::read(raw, state.config.max_body_bytes).await?;
    // The record's entries are slices of `bytes`: it is freed when they have been read.
    let request = HookRequest::from_bytes_within(&bytes, &state.config.request_limits)?;
    drop(bytes);
    let span = tracing::Span::current();
    span.record("hook", loggable(&request.hook));
    span.record("hook_instance", loggable(&request.hook_instance));
    let now = time::OffsetDateTime::now_utc();
    let mut options = state.options;
    // A trusted issuer configured as an EHR gets that EHR's cards, whatever the site default.
    if let Some(client) = caller.and_then(|c| c.client) {
        options.client = Some(client);
    }
    let limits = call::Limits {
        options,
        links_allowed: state.links_allowed.clone(),
        deadline: Some(started + state.config.request_timeout),
    };
    let remembered: &dyn call::fatigue::Remembers = state.store.as_ref();
    let mut evaluation =
        call::answer_with(service, request, &state.knowledge, &state.fetcher, remembered, now, &limits).await?;
    // The playground shows the cards whatever the rollout (it is where a site looks at them).
    if !playground {
        let issuer = caller.and_then(|c| c.rollout);
        let arm = call::rollout::arm(&state.rollout, issuer, evaluation.ids.user_id.as_deref());
        call::rollout::apply(&mut evaluation, arm);
    }
    Ok(evaluation)
}

async fn feedback_handler(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    raw: Request,
) -> Result<StatusCode, ApiError> {
    let service = services::service(&id).ok_or_else(|| ApiError::UnknownService(id.clone()))?;
    let bytes = body::read(raw, state.config.max_body_bytes).await?;
    let system = state.knowledge.plan.step_therapy.override_reasons.first().map_or("", |r| r.system.as_str());
    let reasons = feedback::ReasonMap { epic: Some(&state.feedback.epic_reason_map), system };
    let entries = feedback::parse_with(&bytes, reasons).map_err(ApiError::BadFeedback)?;
    drop(bytes);
    let at = crate::clock::now_millis();
    match state.store.record_feedback(service.id, &entries, at).await {
        Ok(()) => {}
        Err(crate::store::NotKept::Invalid(problems)) => {
            warn!(service = service.id, items = entries.len(), invalid = problems.len(), "feedback refused: 400");
            state.metrics.refusal(400, "invalid-feedback");
            return Err(ApiError::BadFeedback(problems.join("; ")));
        }
        Err(e) => {
            // The store's fault itself is said by store::health (once, then once a minute).
            tracing::debug!(service = service.id, items = entries.len(), error = %e, "feedback not kept: answered 503");
            state.metrics.refusal(503, "store-unavailable");
            return Err(ApiError::StoreUnavailable("the feedback could not be kept".into()));
        }
    }
    // One line per call, never one per item: the items are the client's, and so is their number.
    let overridden = entries.iter().filter(|e| e.outcome == feedback::Outcome::Overridden).count();
    let mut codes: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.override_reason.as_ref()?.reason.as_ref()?.code.as_deref())
        .map(loggable)
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes.truncate(8);
    info!(
        service = service.id,
        items = entries.len(),
        accepted = entries.len() - overridden,
        overridden,
        override_codes = ?codes,
        "feedback"
    );
    Ok(StatusCode::OK)
}
