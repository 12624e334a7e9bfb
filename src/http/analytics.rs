//! `GET /analytics`: the override-analytics report as a page (or `?format=json|csv|text`), for
//! the informatics team. It reads the store (never on the hook path) and sits behind the admin
//! credentials of `[admin]`; with authentication required and none configured it is refused,
//! so it is never public by accident.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use crate::clock::millis;
use crate::report::render::{self, Format};
use crate::report::{self, window};

#[derive(Debug, Deserialize)]
pub struct Params {
    since: Option<String>,
    until: Option<String>,
    format: Option<String>,
}

/// Longest the page waits for the store.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn digest(value: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, value)
}

/// The same bytes (compared by digest, so the comparison takes no longer for a closer guess).
fn same(given: &[u8], expected: &[u8]) -> bool {
    digest(given).as_ref() == digest(expected).as_ref()
}

/// Whether the caller may read the page.
pub fn admitted(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let admin = &state.admin;
    if !admin.configured() {
        return if state.auth.is_some() {
            Err(ApiError::Forbidden(
                "the analytics page needs [admin] credentials (bearer_token or basic) when authentication is required",
            ))
        } else {
            Ok(())
        };
    }
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let (Some(token), Some(bearer)) = (&admin.bearer_token, given.strip_prefix("Bearer ")) {
        if same(bearer.trim().as_bytes(), token.as_bytes()) {
            return Ok(());
        }
    }
    if let (Some(basic), Some(encoded)) = (&admin.basic, given.strip_prefix("Basic ")) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap_or_default();
        if same(&decoded, basic.as_bytes()) {
            return Ok(());
        }
    }
    Err(ApiError::AdminUnauthorized { basic: admin.basic.is_some() && admin.bearer_token.is_none() })
}

pub async fn handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    admitted(&state, &headers)?;
    let Query(params) = params.map_err(|e| ApiError::BadQuery(format!("query: {}", e.body_text())))?;
    let format = match params.format.as_deref().unwrap_or("html") {
        "html" => Format::Html,
        "json" => Format::Json,
        "csv" => Format::Csv,
        "text" => Format::Text,
        _ => return Err(ApiError::BadQuery("format: one of html, json, csv, text".into())),
    };
    let now = millis(time::OffsetDateTime::now_utc());
    let window = window(params.since.as_deref(), params.until.as_deref(), now).map_err(ApiError::BadQuery)?;
    let Some(db) = state.store.db() else {
        return Err(ApiError::Forbidden("the store is off (--store none): there is nothing to report"));
    };
    let arms = match tokio::time::timeout(READ_TIMEOUT, db.tallies_by_arm(window.since, window.until)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "analytics: store not readable");
            return Err(ApiError::StoreUnavailable("the store cannot be read".into()));
        }
        Err(_) => return Err(ApiError::StoreUnavailable("the store did not answer in time".into())),
    };
    let report = report::build_with_arms(arms, window).with_reason_names(&state.knowledge.override_reasons());
    let content_type = match format {
        Format::Html => "text/html; charset=utf-8",
        Format::Json => "application/json",
        Format::Csv => "text/csv; charset=utf-8",
        Format::Text => "text/plain; charset=utf-8",
    };
    let mut response =
        ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], render::render(&report, format))
            .into_response();
    let headers = response.headers_mut();
    // No script, no external asset: the page needs nothing else.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}
