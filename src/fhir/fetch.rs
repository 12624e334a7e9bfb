//! The FHIR-server fallback: reads what the client did not prefetch from `fhirServer`, with the
//! call's `fhirAuthorization` token, running the same searches the prefetch templates declare.
//! All reads of one call run concurrently under one deadline; `next` links are followed (on the
//! same server only) up to a resource cap. Anything that goes wrong is a per-key reason for the
//! 412, never a hang or a 5xx. The token is used for this call only and never logged; neither
//! are URLs (they hold the patient id).
//!
//! **The server's version.** Before its first search of a server, the fallback reads the
//! server's `/metadata` (its CapabilityStatement's `fhirVersion`) and keeps the answer for an
//! hour ([`VERSION_TTL`]; a server that did not say is asked again after a minute), for at most
//! [`MAX_SERVERS`] servers; concurrent first calls to a server wait for one read. The searches
//! are then written for that version (a DSTU2 server's orders are `MedicationOrder`s), and the
//! suggestions too when the drafts do not tell. The read has a quarter of the deadline; a server
//! that does not say is searched as the version the call's own resources tell.
//!
//! reqwest directly rather than fhir-sdk's client: that client parses into fhir-sdk's typed
//! resources (the whole `Resource` enum, see `resources.rs`) and brings its own TLS stack, while
//! the fallback must hand the same raw JSON as prefetch to the same lenient normalisation —
//! the rules must see identical data whichever way it arrived. A search past the resource cap is
//! refused rather than used partially: a partial record could silence or raise a card wrongly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span};

use super::version::{FhirVersion, of_fhir_version};
use crate::config::FhirConfig;

/// How long a server's `/metadata` answer is kept (a server may be upgraded).
pub const VERSION_TTL: Duration = Duration::from_secs(3600);
/// How long a server that did not say its version is left unasked.
const NO_VERSION_TTL: Duration = Duration::from_secs(60);
/// Most servers whose versions are kept (the fhirServer of a call is the client's to name).
pub const MAX_SERVERS: usize = 1024;
/// Most bytes read of one answer (a search page or a CapabilityStatement).
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// A server's version (`None`: it did not say) and when it was read; empty until the first read,
/// behind an async lock so that concurrent first calls to a server make one read.
type VersionSlot = Arc<tokio::sync::Mutex<Option<(Instant, Option<FhirVersion>)>>>;
type KnownVersions = HashMap<String, VersionSlot>;

/// Whether a version read at `at` is still kept.
fn fresh((at, version): (Instant, Option<FhirVersion>)) -> bool {
    at.elapsed() < if version.is_some() { VERSION_TTL } else { NO_VERSION_TTL }
}

/// The two elements of a CapabilityStatement read (the rest is skipped unbuilt).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Capabilities {
    resource_type: Option<String>,
    fhir_version: Option<String>,
}

/// Reads prefetch keys from a FHIR server; one per process, its connections reused.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FhirConfig,
    versions: Arc<Mutex<KnownVersions>>,
}

/// One search to run for a prefetch key: the key, and the query relative to the server's base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub key: &'static str,
    pub path: String,
}

/// What one key's reads gave: a searchset Bundle, or why not.
pub type KeyResult = (&'static str, Result<Value, String>);

impl Fetcher {
    pub fn new(config: FhirConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self { client, config, versions: Arc::default() })
    }

    /// Runs the searches `searches_for` writes for the server's version (`None`: it did not
    /// say); each key gets a searchset Bundle or the reason it could not. Returns the version too.
    pub async fn fetch(
        &self,
        fhir_server: &str,
        token: Option<&str>,
        searches_for: impl FnOnce(Option<FhirVersion>) -> Vec<Search>,
    ) -> (Option<FhirVersion>, Vec<KeyResult>) {
        let base = fhir_server.trim_end_matches('/').to_owned();
        let secure = base.starts_with("https://") || (self.config.allow_insecure_http && base.starts_with("http://"));
        if !secure {
            let why = "fhirServer is not an https URL (http is allowed only when [fhir] allow_insecure_http is set)";
            return (None, searches_for(None).iter().map(|s| (s.key, Err(why.to_owned()))).collect());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.config.deadline_ms);
        let version = self.server_version(&base, token).await;
        (version, self.search_all(&base, token, &searches_for(version), deadline).await)
    }

    /// The server's FHIR version: kept, or read from its `/metadata` within a quarter of the
    /// deadline.
    async fn server_version(&self, base: &str, token: Option<&str>) -> Option<FhirVersion> {
        let slot = {
            let Ok(mut versions) = self.versions.lock() else { return self.read_version(base, token).await };
            if !versions.contains_key(base) && versions.len() >= MAX_SERVERS {
                // Forget the stale (a slot being read is in use, and kept).
                versions.retain(|_, slot| slot.try_lock().map_or(true, |kept| kept.is_some_and(fresh)));
            }
            if !versions.contains_key(base) && versions.len() >= MAX_SERVERS {
                None
            } else {
                Some(Arc::clone(versions.entry(base.to_owned()).or_default()))
            }
        };
        let Some(slot) = slot else { return self.read_version(base, token).await };
        // Concurrent first calls to a server wait for one read (at most its budget).
        let mut kept = slot.lock().await;
        if let Some((at, version)) = *kept {
            if fresh((at, version)) {
                return version;
            }
        }
        let version = self.read_version(base, token).await;
        *kept = Some((Instant::now(), version));
        version
    }

    /// Reads the server's `/metadata` for its `fhirVersion`.
    async fn read_version(&self, base: &str, token: Option<&str>) -> Option<FhirVersion> {
        let budget = Duration::from_millis(self.config.deadline_ms / 4);
        let url = format!("{base}/metadata");
        let version = match tokio::time::timeout(budget, self.get(&url, token)).await {
            Ok(Ok(body)) => serde_json::from_slice::<Capabilities>(&body)
                .ok()
                // DSTU2 calls it a Conformance.
                .filter(|c| matches!(c.resource_type.as_deref(), Some("CapabilityStatement" | "Conformance")))
                .and_then(|c| c.fhir_version)
                .and_then(|v| of_fhir_version(&v)),
            _ => None,
        };
        info!(known = version.is_some(), "FHIR server version read");
        version
    }

    /// Runs `searches` until `deadline`.
    async fn search_all(
        &self,
        base: &str,
        token: Option<&str>,
        searches: &[Search],
        deadline: tokio::time::Instant,
    ) -> Vec<KeyResult> {
        let mut tasks = JoinSet::new();
        for search in searches {
            let url = format!("{base}/{}", search.path);
            let (this, key, base, token) = (self.clone(), search.key, base.to_owned(), token.map(str::to_owned));
            let span =
                info_span!("fhir_fetch", key = %key, status = tracing::field::Empty, resources = tracing::field::Empty);
            tasks.spawn(
                async move {
                    let started = Instant::now();
                    let result = this.search(&base, &url, token.as_deref()).await;
                    let span = tracing::Span::current();
                    match &result {
                        Ok(bundle) => {
                            let count = bundle["entry"].as_array().map_or(0, Vec::len);
                            span.record("resources", count);
                            span.record("status", "ok");
                        }
                        Err(_) => {
                            span.record("status", "failed");
                        }
                    }
                    info!(duration_ms = started.elapsed().as_millis() as u64, "FHIR search done");
                    (key, result)
                }
                .instrument(span),
            );
        }
        let mut results: Vec<KeyResult> = Vec::new();
        let collected = tokio::time::timeout_at(deadline, async {
            while let Some(done) = tasks.join_next().await {
                if let Ok(result) = done {
                    results.push(result);
                }
            }
        })
        .await;
        if collected.is_err() {
            tasks.abort_all();
        }
        for search in searches {
            if !results.iter().any(|(k, _)| *k == search.key) {
                let why = format!("the FHIR server did not answer within {} ms", self.config.deadline_ms);
                results.push((search.key, Err(why)));
            }
        }
        results
    }

    /// One search, following `next` links, merged into one searchset Bundle.
    async fn search(&self, base: &str, first: &str, token: Option<&str>) -> Result<Value, String> {
        let mut entries: Vec<Value> = Vec::new();
        let mut next = Some(first.to_owned());
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            let mut page = self.page(&url, token).await?;
            if let Some(Value::Array(items)) = page.get_mut("entry") {
                entries.append(items);
            }
            if entries.len() > self.config.max_resources {
                return Err(format!(
                    "more than {} resources (the [fhir] max_resources cap)",
                    self.config.max_resources
                ));
            }
            next = page["link"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str())
                .map(str::to_owned);
            if let Some(link) = &next {
                if !link.starts_with(base) {
                    return Err("a paging link leads off the FHIR server; not followed".into());
                }
                if pages >= 1000 {
                    return Err("more than 1000 pages".into());
                }
            }
        }
        Ok(serde_json::json!({ "resourceType": "Bundle", "type": "searchset", "entry": entries }))
    }

    /// One GET of FHIR JSON: its body, at most [`MAX_ANSWER_BYTES`].
    async fn get(&self, url: &str, token: Option<&str>) -> Result<Vec<u8>, String> {
        let mut request = self.client.get(url).header(reqwest::header::ACCEPT, "application/fhir+json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.map_err(|e| {
            if e.is_connect() {
                "the FHIR server could not be reached".to_owned()
            } else {
                "the FHIR request failed".to_owned()
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the FHIR server answered {status}"));
        }
        let too_large = || format!("the FHIR server's answer is larger than {} MiB", MAX_ANSWER_BYTES >> 20);
        if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| "the FHIR server's answer was cut off".to_owned())? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn page(&self, url: &str, token: Option<&str>) -> Result<Value, String> {
        let body = self.get(url, token).await?;
        let value =
            super::prune::bundle_from_slice(&body).map_err(|_| "the FHIR server's answer is not JSON".to_owned())?;
        match (value["resourceType"].as_str(), value["type"].as_str()) {
            (Some("Bundle"), Some("searchset")) => Ok(value),
            (Some("Bundle"), other) => {
                Err(format!("the FHIR server sent a Bundle of type {}, not a searchset", other.unwrap_or("(none)")))
            }
            (other, _) => {
                Err(format!("the FHIR server sent {}, not a searchset Bundle", other.unwrap_or("no FHIR resource")))
            }
        }
    }
}
