//! Configuration: the `serve` flags (listen address, profiles, limits) and the TOML file of
//! `--config` (public URL, authentication, FHIR-server fallback), every key of which can also
//! come from the environment: `KETAMINE_CDS_` + the key path in capitals, sections joined by
//! `__` (`KETAMINE_CDS_PUBLIC_BASE_URL`, `KETAMINE_CDS_AUTH__MODE`,
//! `KETAMINE_CDS_AUTH__ISSUERS='[{iss="…", jwks_url="…"}]'`, `KETAMINE_CDS_FHIR__DEADLINE_MS`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

/// Bounds on what a request may make the service build, checked while it is parsed (before
/// anything is allocated for what is past them); each is answered with a 413 naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Draft orders in `context.draftOrders`.
    pub max_draft_orders: usize,
    /// Entries of one prefetched Bundle.
    pub max_bundle_entries: usize,
    /// JSON values (array items and object members, counted together) of the request outside
    /// `prefetch`, and how deep they nest.
    pub max_envelope_values: usize,
    pub max_depth: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self { max_draft_orders: 100, max_bundle_entries: 20_000, max_envelope_values: 100_000, max_depth: 64 }
    }
}

/// Bounds on connections (src/startup.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest a client may take to send a request's headers, from the moment the connection
    /// waits for them (a new connection, or a kept-alive one after a response): also the idle
    /// timeout of kept-alive connections.
    pub header_read_timeout: Duration,
    /// Connections served at once; one more is closed at once (keep it below the process's
    /// file-descriptor limit).
    pub max_connections: usize,
    /// Longest the calls in flight may take to finish after SIGTERM.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Limits and switches of the HTTP layer, from the `serve` flags.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Bytes of request bodies in flight at once (see `http::budget`).
    pub max_inflight_body_bytes: usize,
    pub request_limits: RequestLimits,
    pub connections: ConnectionLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            max_inflight_body_bytes: 10 * 1024 * 1024,
            request_limits: RequestLimits::default(),
            connections: ConnectionLimits::default(),
        }
    }
}

/// `HOST:PORT` (`[IPv6]:PORT`), checked for its shape; the host is resolved when bound.
fn listen_address(text: &str) -> Result<String, String> {
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(text.to_owned());
    }
    let (host, port) = text.rsplit_once(':').ok_or("expected HOST:PORT, e.g. 127.0.0.1:8080 or localhost:8080")?;
    port.parse::<u16>().map_err(|_| format!("port '{port}' is not a number from 0 to 65535"))?;
    let name_like = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !name_like {
        return Err(format!("host '{host}' is neither an IP address nor a host name"));
    }
    Ok(text.to_owned())
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on: HOST:PORT, the host an IP address or a name (`localhost:8080`);
    /// port 0 picks a free port (the log line "ketamine-cds ready" says which).
    #[arg(long, env = "KETAMINE_CDS_LISTEN", default_value = "127.0.0.1:8080", value_parser = listen_address)]
    pub listen: String,
    /// A complete profiles directory to load instead of the embedded knowledge.
    #[arg(long, env = "KETAMINE_CDS_PROFILES", value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// TOML configuration file (public URL, authentication, FHIR-server fallback).
    #[arg(long, env = "KETAMINE_CDS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Largest request body accepted, in bytes (larger gets 413).
    #[arg(long, env = "KETAMINE_CDS_MAX_BODY_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Longest a request may take, in milliseconds (longer gets 408).
    #[arg(long, env = "KETAMINE_CDS_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Request bodies read and evaluated at once, in bytes (by Content-Length); calls beyond it
    /// wait their turn. Bounds memory under load; never below --max-body-bytes.
    #[arg(long, env = "KETAMINE_CDS_MAX_INFLIGHT_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_inflight_body_bytes: usize,
    /// Most draft orders in one call (more gets 413).
    #[arg(long, env = "KETAMINE_CDS_MAX_DRAFT_ORDERS", default_value_t = 100)]
    pub max_draft_orders: usize,
    /// Most entries in one prefetched Bundle (more gets 413).
    #[arg(long, env = "KETAMINE_CDS_MAX_BUNDLE_ENTRIES", default_value_t = 20_000)]
    pub max_bundle_entries: usize,
    /// Longest a client may take to send a request's headers, and idle time of a kept-alive
    /// connection, in milliseconds (then the connection is closed).
    #[arg(long, env = "KETAMINE_CDS_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,
    /// Where cards and feedback are kept: `sqlite:PATH` (the default,
    /// `sqlite:ketamine-cds.sqlite` in the working directory), `postgres://user@host:port/db`
    /// (several replicas) or `none`. Overrides `store.url` of the config file.
    #[arg(long, env = "KETAMINE_CDS_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Connections served at once; more are closed at once.
    #[arg(long, env = "KETAMINE_CDS_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Longest the calls in flight may take to finish after SIGTERM, in milliseconds.
    #[arg(long, env = "KETAMINE_CDS_DRAIN_TIMEOUT_MS", default_value_t = 10_000)]
    pub drain_timeout_ms: u64,
}

impl ServeConfig {
    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            max_inflight_body_bytes: self.max_inflight_body_bytes,
            request_limits: RequestLimits {
                max_draft_orders: self.max_draft_orders,
                max_bundle_entries: self.max_bundle_entries,
                ..RequestLimits::default()
            },
            connections: ConnectionLimits {
                header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
                max_connections: self.max_connections.max(1),
                drain_timeout: Duration::from_millis(self.drain_timeout_ms),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Required,
    Off,
}

/// One trusted CDS client (an EHR, the sandbox).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IssuerConfig {
    /// The `iss` claim the client signs with.
    pub iss: String,
    /// Where its JWKS is published (https; http only on loopback, for tests).
    pub jwks_url: Option<String>,
    /// Or a JWKS file on disk (re-read when it changes: a Kubernetes ConfigMap or Secret
    /// updated in place).
    pub jwks_file: Option<PathBuf>,
    /// A `jku` header value this issuer's tokens may carry besides `jwks_url` (compared, never
    /// fetched): for an issuer pinned by `jwks_file` whose tokens name their JWKS URL, as the
    /// public CDS Hooks sandbox's always do.
    pub jku: Option<String>,
    /// When not empty, the `tenant` claim must be one of these.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// The EHR this issuer is (`generic`, `epic`, `oracle`): the shape of the cards it gets.
    #[serde(default)]
    pub client: Option<Client>,
    /// This EHR's rollout mode, overriding `[rollout] mode` (a pilot still reads
    /// `[rollout] pilot_users` and `pilot_percent`).
    #[serde(default)]
    pub rollout: Option<RolloutMode>,
}

fn default_leeway() -> u64 {
    60
}
fn default_replay_cache() -> usize {
    100_000
}
fn default_jwks_refresh() -> u64 {
    3600
}
fn default_jwks_refetch() -> u64 {
    10
}
fn default_max_token_bytes() -> usize {
    8 * 1024
}
fn default_max_jti_bytes() -> usize {
    256
}
fn default_max_token_lifetime() -> u64 {
    3600
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuthConfig {
    /// `required` or `off`; when unset: `required` if a config file is given, else `off`.
    pub mode: Option<AuthMode>,
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Clock skew tolerated for `exp`, `nbf` and `iat`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Most `jti` values remembered for replay protection (oldest forgotten first).
    #[serde(default = "default_replay_cache")]
    pub replay_cache_size: usize,
    /// How often each JWKS URL is read again, in seconds.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_seconds: u64,
    /// Least time between two reads of one JWKS URL (or checks of one JWKS file) when an unknown
    /// `kid` arrives, in seconds; JWKS files are also checked for changes this often.
    #[serde(default = "default_jwks_refetch")]
    pub jwks_min_refetch_seconds: u64,
    /// Largest token accepted, in bytes (a larger one is refused before it is decoded).
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// Longest `jti` accepted, in bytes: with `replay_cache_size` it bounds the replay cache's memory.
    #[serde(default = "default_max_jti_bytes")]
    pub max_jti_bytes: usize,
    /// Latest `exp` accepted, in seconds from now (CDS clients issue tokens for about five minutes).
    #[serde(default = "default_max_token_lifetime")]
    pub max_token_lifetime_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: None,
            issuers: Vec::new(),
            leeway_seconds: default_leeway(),
            replay_cache_size: default_replay_cache(),
            jwks_refresh_seconds: default_jwks_refresh(),
            jwks_min_refetch_seconds: default_jwks_refetch(),
            max_token_bytes: default_max_token_bytes(),
            max_jti_bytes: default_max_jti_bytes(),
            max_token_lifetime_seconds: default_max_token_lifetime(),
        }
    }
}

fn default_deadline() -> u64 {
    2000
}
fn default_max_resources() -> usize {
    5000
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FhirConfig {
    /// Allow `http://` fhirServer URLs (local testing only).
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Total budget for all fallback reads of one call, in milliseconds.
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
    /// Most resources read per search, across pages.
    #[serde(default = "default_max_resources")]
    pub max_resources: usize,
}

impl Default for FhirConfig {
    fn default() -> Self {
        Self { allow_insecure_http: false, deadline_ms: default_deadline(), max_resources: default_max_resources() }
    }
}

/// The TOML file of `--config`, overlaid by the environment.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct FileConfig {
    /// The URL the EHR calls (`https://cds.example.org`); JWT `aud` is checked against it.
    pub public_base_url: Option<String>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub fhir: FhirConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub admin: AdminConfig,
    /// The card options' defaults (a request may set its own, see `hooks::options`).
    #[serde(default)]
    pub cards: CardOptions,
    /// The playground page (`GET /`).
    #[serde(default)]
    pub playground: PlaygroundConfig,
    /// `[links]`: which links cards may carry.
    #[serde(default)]
    pub links: LinksConfig,
    /// `[feedback]`: how EHR-built override reasons are read.
    #[serde(default)]
    pub feedback: FeedbackConfig,
    /// `[rollout]`: whether cards are shown (`live`), only recorded (`silent`), or shown to a
    /// pilot's clinicians (`pilot`).
    #[serde(default)]
    pub rollout: RolloutConfig,
}

/// `[rollout] mode` (and `[[auth.issuers]] rollout`): cards shown, only recorded, or shown to a
/// pilot's clinicians.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutMode {
    #[default]
    Live,
    Silent,
    Pilot,
}

/// `[rollout] mode = "live" | "silent" | "pilot"`, `pilot_users = ["Practitioner/123"]`,
/// `pilot_percent = 10` (see `call::rollout`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutConfig {
    #[serde(default)]
    pub mode: RolloutMode,
    /// In a pilot: these `userId`s (exact) are live.
    #[serde(default)]
    pub pilot_users: Vec<String>,
    /// In a pilot: this share (0–100) of the other users is live, by a stable hash of `userId`.
    #[serde(default)]
    pub pilot_percent: u8,
}

/// `[links] allowed = ["https://doi.org/", …]`: when set, a card's link or source URL that
/// starts with none of these prefixes is dropped, never sent (Oracle Health removes links off
/// its registration's allow-list; a site may want the same for every client).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksConfig {
    #[serde(default)]
    pub allowed: Vec<String>,
}

/// `[feedback] epic_reason_map = { "45" = "not-applicable" }`: an Epic-built override reason's
/// category read as one of the service's own override reason codes (so its snooze applies);
/// an unmapped one is kept as Epic's, and starts no snooze.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackConfig {
    #[serde(default)]
    pub epic_reason_map: std::collections::BTreeMap<String, String>,
}

/// `[admin]`: who may read `GET /analytics`. With authentication required the page needs one of
/// these (without, it answers 403: it is never public by accident); with authentication off it
/// is open unless one is set.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct AdminConfig {
    /// `Authorization: Bearer TOKEN` (at least 16 characters).
    pub bearer_token: Option<String>,
    /// HTTP basic credentials, `user:password`.
    pub basic: Option<String>,
}

impl AdminConfig {
    pub fn configured(&self) -> bool {
        self.bearer_token.is_some() || self.basic.is_some()
    }
}

/// `[telemetry]`: OpenTelemetry trace export (off unless an endpoint is given).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TelemetryConfig {
    /// OTLP/HTTP (protobuf) traces URL, e.g. `http://otel-collector:4318/v1/traces`.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    #[serde(default = "default_service_name")]
    pub service_name: String,
}

fn default_service_name() -> String {
    "ketamine-cds".to_owned()
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { otlp_endpoint: None, service_name: default_service_name() }
    }
}

/// The environment variables of the `serve` flags, as figment names them (`KETAMINE_CDS_LISTEN`
/// → `listen`), read from the flags' own definitions; and `log_format` (read by telemetry).
fn flag_variables() -> Vec<String> {
    use clap::Args as _;
    let command = ServeConfig::augment_args(clap::Command::new("serve"));
    let flags = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .filter_map(|env| Some(env.to_str()?.strip_prefix("KETAMINE_CDS_")?.to_ascii_lowercase()));
    flags.chain(std::iter::once("log_format".to_owned())).collect()
}

impl FileConfig {
    /// Reads `file` (if any), then the environment; checks what cannot work.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.is_file() {
                return Err(format!("config file {} does not exist", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        // The variables of the `serve` flags (and the log format) are not keys of the file.
        let ignored = flag_variables();
        let ignored: Vec<&str> = ignored.iter().map(String::as_str).collect();
        let env = Env::prefixed("KETAMINE_CDS_").split("__").ignore(&ignored);
        let mut config: FileConfig = figment.merge(env).extract().map_err(|e| format!("configuration: {e}"))?;
        if config.auth.mode.is_none() {
            config.auth.mode = Some(if file.is_some() { AuthMode::Required } else { AuthMode::Off });
        }
        config.check()?;
        Ok(config)
    }

    pub fn auth_required(&self) -> bool {
        self.auth.mode == Some(AuthMode::Required)
    }

    fn check(&self) -> Result<(), String> {
        if self.admin.bearer_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err("admin.bearer_token: at least 16 characters".into());
        }
        if self.admin.basic.as_ref().is_some_and(|b| !b.contains(':')) {
            return Err("admin.basic: give user:password".into());
        }
        if self.rollout.pilot_percent > 100 {
            return Err("rollout.pilot_percent: a share of 0 to 100".into());
        }
        if !self.auth_required() {
            return Ok(());
        }
        if self.auth.issuers.is_empty() {
            return Err("auth.mode is \"required\" but no [[auth.issuers]] is configured".into());
        }
        let base = self.public_base_url.as_deref().unwrap_or_default();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(
                "auth.mode is \"required\": set public_base_url (the URL EHRs call; JWT aud is checked against it)"
                    .into(),
            );
        }
        for issuer in &self.auth.issuers {
            match (&issuer.jwks_url, &issuer.jwks_file) {
                (Some(url), None) if url.starts_with("https://") || is_loopback_http(url) => {}
                (Some(url), None) => {
                    return Err(format!("issuer {}: jwks_url {url} must be https (http only on loopback)", issuer.iss));
                }
                (None, Some(_)) => {}
                _ => return Err(format!("issuer {}: give exactly one of jwks_url and jwks_file", issuer.iss)),
            }
        }
        Ok(())
    }
}

/// `http://127.0.0.1…`, `http://localhost…`, `http://[::1]…`: allowed for tests.
pub fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host =
        host.rsplit_once(':').map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
    host == "localhost" || host == "[::1]" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Which EHR's shape the cards take (`[cards] client`, `[[auth.issuers]] client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Client {
    #[default]
    Generic,
    Epic,
    Oracle,
}

/// `[store]` of the configuration file (each key also `KETAMINE_CDS_STORE__KEY`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StoreSettings {
    /// `sqlite:PATH`, `postgres://…` or `none` (the `--store` flag, `KETAMINE_CDS_STORE`, wins).
    pub url: Option<String>,
    /// The secret patient, encounter and order keys are hashed under (at least 16 bytes). Required
    /// with PostgreSQL (every replica must use the same); with SQLite, a random one is kept in
    /// `PATH.key` when none is given.
    pub patient_key_secret: Option<String>,
    /// Rows older than this are deleted (daily).
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
    /// Rows of the hook path waiting to be written, at most (more are dropped and counted).
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Keep feedback's free-text `userComment` (off: comments may hold PHI).
    #[serde(default)]
    pub keep_comments: bool,
    /// Longest a feedback call waits for its write before it is answered 503, in milliseconds.
    #[serde(default = "default_feedback_timeout")]
    pub feedback_timeout_ms: u64,
    /// How often the snoozes and order-select overrides are read again from the store (what
    /// another replica recorded is honoured within this), in milliseconds.
    #[serde(default = "default_memory_refresh")]
    pub memory_refresh_ms: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: None,
            patient_key_secret: None,
            retention_days: default_retention_days(),
            queue_capacity: default_queue_capacity(),
            keep_comments: false,
            feedback_timeout_ms: default_feedback_timeout(),
            memory_refresh_ms: default_memory_refresh(),
        }
    }
}

fn default_retention_days() -> u64 {
    400
}
fn default_queue_capacity() -> usize {
    10_000
}
fn default_feedback_timeout() -> u64 {
    5_000
}
fn default_memory_refresh() -> u64 {
    5_000
}

/// `[playground]` of the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct PlaygroundConfig {
    /// Unset: on when authentication is off, off when it is required.
    pub enabled: Option<bool>,
}

/// The options in force for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CardOptions {
    /// Order-sign does not repeat a step-therapy card overridden on order-select for the same
    /// draft in the same encounter.
    pub filter_out_repeated_alerts: bool,
    /// Most cards in an answer (the safety card first).
    pub max_cards: u32,
    /// The order-select monitoring card (info) for a backed order.
    pub show_info_cards: bool,
    /// When false, only the warning cards.
    pub alert_non_serious: bool,
    /// On chart open (patient-view), the step-therapy card is shown at most once per patient in
    /// this many days (0: every time); the store remembers when it was shown.
    pub patient_view_interval_days: u32,
    /// The EHR whose shape the cards take (`generic`, `epic`, `oracle`): the site's default
    /// (`[cards] client`), or a trusted issuer's own (`[[auth.issuers]] client`). Never set by
    /// the request; without either, a request with Epic's extension keys is Epic's.
    pub client: Option<Client>,
}

impl Default for CardOptions {
    fn default() -> Self {
        Self {
            filter_out_repeated_alerts: true,
            max_cards: 10,
            show_info_cards: true,
            alert_non_serious: true,
            patient_view_interval_days: 7,
            client: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_serve_flag_variable_is_kept_out_of_the_file_keys() {
        let ignored = super::flag_variables();
        for name in ["listen", "profiles", "config", "store", "max_connections", "drain_timeout_ms", "log_format"] {
            assert!(ignored.iter().any(|i| i == name), "{name}: {ignored:?}");
        }
    }

    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback_http("http://127.0.0.1:8080/jwks.json"));
        assert!(is_loopback_http("http://localhost/jwks"));
        assert!(!is_loopback_http("http://127.0.0.1.evil.example/jwks"));
        assert!(!is_loopback_http("https://127.0.0.1/jwks"));
        assert!(!is_loopback_http("http://10.0.0.1/jwks"));
    }
}
