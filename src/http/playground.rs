//! The playground page (`GET /`): the shipped examples and any pasted Bundle or hook request,
//! sent to the service's own endpoints and the cards rendered as an EHR renders them
//! (`src/playground/`: one HTML page, a stylesheet and a script, embedded; no build step, no
//! CDN). Served under a strict Content-Security-Policy: the page's own script and style only,
//! calls to this origin only.
//!
//! On by default when authentication is off (the embedded default); off when authentication is
//! required unless `[playground] enabled = true`, and then behind the admin credentials of
//! `[admin]`. Its hook calls go to `/playground/cds-services/…`, the same handlers as the CDS
//! Hooks endpoints with the admin check in place of the EHR's JWT; their answers also list the
//! cards held back (a snooze, a repeat, the chart-open interval, a card option), and a snooze can
//! be lifted from the page (`POST /playground/snoozes/{card}/lift`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::call::bundle::{BundleOptions, request_for};
use crate::guideline::Hook;

const INDEX: &str = include_str!("../playground/index.html");
const SCRIPT: &str = include_str!("../playground/app.js");
const STYLE: &str = include_str!("../playground/app.css");

use crate::knowledge::examples as embedded;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub use crate::config::PlaygroundConfig;

/// Whether the page is served, and whether it needs the admin credentials.
pub fn served(state: &AppState) -> Result<(), ApiError> {
    let on = state.playground.enabled.unwrap_or(state.auth.is_none());
    if !on {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

fn with_headers(content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `POST /playground/snoozes/{card}/lift`: lifts the snooze of an overridden card (behind the
/// admin check when one is set) and says which other snoozes of the patient remain.
pub async fn lift(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(card): Path<String>,
) -> Result<Response, ApiError> {
    admitted(&state, &headers)?;
    if state.store.db().is_none() {
        return Err(ApiError::Forbidden("the store is off (--store none): there is no snooze to lift"));
    }
    let lifted = state.store.lift(&card, crate::clock::now_millis()).await.map_err(|e| {
        tracing::warn!(error = %e, "playground: snooze not lifted, the store failed");
        ApiError::StoreUnavailable("the store cannot be written".into())
    })?;
    if !lifted.was_in_force {
        return Err(ApiError::NoSuchSnooze(card.chars().take(64).collect()));
    }
    let still: Vec<Value> = lifted
        .still_in_force
        .iter()
        .map(|s| json!({ "card": s.card_uuid, "reason": s.reason_code, "until": crate::clock::instant(s.until) }))
        .collect();
    tracing::info!(still_in_force = still.len(), "playground: snooze lifted");
    Ok(with_headers("application/json", axum::Json(json!({ "lifted": card, "stillInForce": still }))))
}

/// Admitted to the page: served, and (authentication required) with the admin credentials.
fn admitted(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    served(state)?;
    if state.auth.is_some() || state.admin.configured() {
        super::analytics::admitted(state, headers)?;
    }
    Ok(())
}

/// Marks a hook call made through the playground's endpoints: its answer carries the cards held
/// back too.
#[derive(Debug, Clone, Copy)]
pub struct PlaygroundCall;

/// The admin check as middleware, for the playground's own hook endpoints.
pub async fn admit(
    State(state): State<Arc<AppState>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match admitted(&state, request.headers()) {
        Ok(()) => {
            request.extensions_mut().insert(PlaygroundCall);
            next.run(request).await
        }
        Err(refused) => refused.into_response(),
    }
}

pub async fn index(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    admitted(&state, &headers)?;
    Ok(with_headers("text/html; charset=utf-8", INDEX))
}

pub async fn script(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    admitted(&state, &headers)?;
    Ok(with_headers("text/javascript; charset=utf-8", SCRIPT))
}

pub async fn style(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    admitted(&state, &headers)?;
    Ok(with_headers("text/css; charset=utf-8", STYLE))
}

/// The examples: `[{"path": "hooks/01-….json", "kind": "hook request" | "Bundle", "name": …}]`.
pub async fn examples(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    admitted(&state, &headers)?;
    let list: Vec<Value> = embedded::EXAMPLES
        .iter()
        .map(|(path, _)| {
            let kind = if path.starts_with("hooks/") { "hook request" } else { "Bundle" };
            let name = path.rsplit('/').next().unwrap_or(path).trim_end_matches(".json");
            json!({ "path": path, "kind": kind, "name": name })
        })
        .collect();
    Ok(with_headers("application/json", axum::Json(list)))
}

pub async fn example(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    admitted(&state, &headers)?;
    let (_, text) = embedded::EXAMPLES.iter().find(|(p, _)| *p == path).ok_or(ApiError::NotFound)?;
    Ok(with_headers("application/json", *text))
}

#[derive(Debug, Deserialize)]
pub struct RequestParams {
    hook: Option<String>,
    order: Option<String>,
}

/// A Bundle made into the hook request the page sends (as `ketamine-cds evaluate` makes it).
pub async fn request(
    State(state): State<Arc<AppState>>,
    params: Result<Query<RequestParams>, axum::extract::rejection::QueryRejection>,
    raw: axum::extract::Request,
) -> Result<Response, ApiError> {
    admitted(&state, raw.headers())?;
    let Query(params) = params.map_err(|e| ApiError::BadQuery(format!("query: {}", e.body_text())))?;
    let body = super::body::read(raw, state.config.max_body_bytes).await?;
    let hook = match params.hook.as_deref().unwrap_or("order-sign") {
        "order-sign" => Hook::OrderSign,
        "order-select" => Hook::OrderSelect,
        _ => return Err(ApiError::BadQuery("hook: order-sign or order-select".into())),
    };
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadQuery(format!("the body is not JSON: {e}")))?;
    let options = BundleOptions { hook, order: params.order };
    let request = request_for(value, "playground", &options, &state.knowledge).map_err(ApiError::BadQuery)?;
    Ok(with_headers("application/json", axum::Json(request)))
}
