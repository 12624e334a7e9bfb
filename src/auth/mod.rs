//! CDS Hooks authentication (CDS Hooks 2.0 §Security): the client's `Authorization: Bearer` JWT,
//! signed with ES256/ES384, RS256/RS384 or PS256/PS384 by a key of an allowlisted issuer's JWKS.
//! Checked: the token's size, no `crit` (this service understands no JWS extension) or `zip`
//! header (a JWE header, RFC 7516), `iss` allowlisted, `jku` (if any) equal to that issuer's
//! configured JWKS URL or pinned `jku`, `kid` known, signature, `aud` equal to the URL called,
//! `exp` not past nor absurdly far (`max_token_lifetime_seconds`) and `iat` not ahead (with
//! leeway), `jti` of bounded length and never seen before, `tenant` allowed. No arithmetic on
//! claims can overflow. Any failure is one reason code for the log; the client sees a bare 401.
//! Tokens are never logged.

pub mod jwks;
pub mod replay;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::AuthConfig;
use jwks::IssuerKeys;
use replay::{ReplayCache, SharedReplay};

/// Signature algorithms accepted. Never `none`, never HMAC.
pub const ALGORITHMS: &[Algorithm] =
    &[Algorithm::ES256, Algorithm::ES384, Algorithm::RS256, Algorithm::RS384, Algorithm::PS256, Algorithm::PS384];

/// Why a call was refused (for the log only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    MissingToken,
    Malformed,
    AlgorithmNotAllowed,
    UnknownIssuer,
    JkuNotAllowed,
    MissingKid,
    UnknownKid,
    BadSignature,
    WrongAudience,
    Expired,
    IssuedInFuture,
    MissingClaim,
    Replayed,
    TenantNotAllowed,
    TooLarge,
    CriticalHeader,
    Compressed,
    LifetimeTooLong,
    JtiTooLong,
}

impl Failure {
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingToken => "missing-token",
            Self::Malformed => "malformed-token",
            Self::AlgorithmNotAllowed => "algorithm-not-allowed",
            Self::UnknownIssuer => "unknown-issuer",
            Self::JkuNotAllowed => "jku-not-allowed",
            Self::MissingKid => "missing-kid",
            Self::UnknownKid => "unknown-kid",
            Self::BadSignature => "bad-signature",
            Self::WrongAudience => "wrong-audience",
            Self::Expired => "expired",
            Self::IssuedInFuture => "issued-in-future",
            Self::MissingClaim => "missing-claim",
            Self::Replayed => "replayed-jti",
            Self::TenantNotAllowed => "tenant-not-allowed",
            Self::TooLarge => "token-too-large",
            Self::CriticalHeader => "crit-not-understood",
            Self::Compressed => "zip-not-allowed",
            Self::LifetimeTooLong => "lifetime-too-long",
            Self::JtiTooLong => "jti-too-long",
        }
    }
}

/// A refusal with what may be logged about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub failure: Failure,
    pub issuer: Option<String>,
    pub kid: Option<String>,
}

/// An accepted caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub issuer: String,
    pub tenant: Option<String>,
    /// The EHR the issuer is configured as, if any.
    pub client: Option<crate::cards::profile::Client>,
    /// The issuer's own rollout mode, if configured.
    pub rollout: Option<crate::config::RolloutMode>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    exp: u64,
    iat: Option<u64>,
    jti: Option<String>,
    tenant: Option<String>,
}

pub struct Authenticator {
    issuers: HashMap<String, Arc<IssuerKeys>>,
    leeway: u64,
    max_token_bytes: usize,
    max_jti_bytes: usize,
    max_lifetime: u64,
    min_refetch: Duration,
    replay: Mutex<ReplayCache>,
    /// The replicas' shared record of token ids, when there is one.
    shared: Option<Arc<dyn SharedReplay>>,
    client: reqwest::Client,
    refresh_every: Duration,
}

fn b64_json(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Authenticator {
    /// Loads the issuers (JWKS files now; URLs by [`Self::start`]).
    pub fn new(config: &AuthConfig) -> Result<Self, String> {
        let min_refetch = Duration::from_secs(config.jwks_min_refetch_seconds);
        let mut issuers = HashMap::new();
        for issuer in &config.issuers {
            issuers.insert(issuer.iss.clone(), Arc::new(IssuerKeys::new(issuer.clone(), min_refetch)?));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .https_only(false)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            issuers,
            leeway: config.leeway_seconds,
            max_token_bytes: config.max_token_bytes,
            max_jti_bytes: config.max_jti_bytes,
            max_lifetime: config.max_token_lifetime_seconds,
            min_refetch,
            replay: Mutex::new(ReplayCache::new(config.replay_cache_size)),
            shared: None,
            client,
            refresh_every: Duration::from_secs(config.jwks_refresh_seconds.max(1)),
        })
    }

    /// Asks `shared` too whether a token was seen (replicas on one PostgreSQL store).
    pub fn share_replay(&mut self, shared: Arc<dyn SharedReplay>) {
        self.shared = Some(shared);
    }

    /// Reads every JWKS URL once now, then keeps them fresh in the background.
    pub async fn start(self: &Arc<Self>) {
        for issuer in self.issuers.values() {
            issuer.refresh(&self.client, true).await;
        }
        if self.issuers.values().any(|i| i.config.jwks_file.is_some()) {
            // JWKS files are cheap to look at: checked for a change every `min_refetch`.
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(this.min_refetch.max(Duration::from_secs(1)));
                loop {
                    tick.tick().await;
                    for issuer in this.issuers.values() {
                        issuer.check_file(true).await;
                    }
                }
            });
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.refresh_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                for issuer in this.issuers.values() {
                    issuer.refresh(&this.client, true).await;
                }
            }
        });
    }

    /// Verifies the `Authorization` header of a call to `url_called`.
    pub async fn verify(&self, authorization: Option<&str>, url_called: &str) -> Result<Caller, Refusal> {
        let refuse = |failure, issuer: Option<&str>, kid: Option<&str>| Refusal {
            failure,
            issuer: issuer.map(str::to_owned),
            kid: kid.map(str::to_owned),
        };
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| refuse(Failure::MissingToken, None, None))?;
        if token.len() > self.max_token_bytes {
            return Err(refuse(Failure::TooLarge, None, None));
        }
        let mut parts = token.split('.');
        let (Some(head), Some(body), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(refuse(Failure::Malformed, None, None));
        };
        let (Some(head), Some(body)) = (b64_json(head), b64_json(body)) else {
            return Err(refuse(Failure::Malformed, None, None));
        };
        let iss = body["iss"].as_str();
        let kid = head["kid"].as_str();
        if head.get("crit").is_some() {
            return Err(refuse(Failure::CriticalHeader, iss, kid));
        }
        if head.get("zip").is_some() {
            return Err(refuse(Failure::Compressed, iss, kid));
        }
        let alg: Option<Algorithm> = head["alg"].as_str().and_then(|a| a.parse().ok());
        let Some(alg) = alg.filter(|a| ALGORITHMS.contains(a)) else {
            return Err(refuse(Failure::AlgorithmNotAllowed, iss, kid));
        };
        let issuer = iss.and_then(|i| self.issuers.get(i)).ok_or_else(|| refuse(Failure::UnknownIssuer, iss, kid))?;
        if let Some(jku) = head.get("jku") {
            let allowed = [issuer.config.jwks_url.as_deref(), issuer.config.jku.as_deref()];
            if !jku.as_str().is_some_and(|jku| allowed.contains(&Some(jku))) {
                return Err(refuse(Failure::JkuNotAllowed, iss, kid));
            }
        }
        let kid = kid.ok_or_else(|| refuse(Failure::MissingKid, iss, None))?;
        let key = match issuer.key(kid).await {
            Some(key) => key,
            None => {
                issuer.refresh(&self.client, false).await;
                issuer.key(kid).await.ok_or_else(|| refuse(Failure::UnknownKid, iss, Some(kid)))?
            }
        };
        if key.alg.is_some_and(|a| a != alg) {
            return Err(refuse(Failure::AlgorithmNotAllowed, iss, Some(kid)));
        }
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway;
        validation.set_audience(&[url_called]);
        validation.set_issuer(&[issuer.config.iss.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                let failure = match e.kind() {
                    K::InvalidSignature | K::InvalidEcdsaKey | K::InvalidRsaKey(_) | K::InvalidAlgorithm => {
                        Failure::BadSignature
                    }
                    K::ExpiredSignature | K::ImmatureSignature => Failure::Expired,
                    K::InvalidAudience => Failure::WrongAudience,
                    K::InvalidIssuer => Failure::UnknownIssuer,
                    K::MissingRequiredClaim(_) => Failure::MissingClaim,
                    _ => Failure::Malformed,
                };
                refuse(failure, iss, Some(kid))
            })?
            .claims;
        let now = now_unix();
        if claims.exp > now.saturating_add(self.max_lifetime).saturating_add(self.leeway) {
            return Err(refuse(Failure::LifetimeTooLong, iss, Some(kid)));
        }
        let iat = claims.iat.ok_or_else(|| refuse(Failure::MissingClaim, iss, Some(kid)))?;
        if iat > now.saturating_add(self.leeway) {
            return Err(refuse(Failure::IssuedInFuture, iss, Some(kid)));
        }
        let jti = claims
            .jti
            .as_deref()
            .filter(|j| !j.is_empty())
            .ok_or_else(|| refuse(Failure::MissingClaim, iss, Some(kid)))?;
        if jti.len() > self.max_jti_bytes {
            return Err(refuse(Failure::JtiTooLong, iss, Some(kid)));
        }
        if !issuer.config.tenants.is_empty()
            && !claims.tenant.as_ref().is_some_and(|t| issuer.config.tenants.contains(t))
        {
            return Err(refuse(Failure::TenantNotAllowed, iss, Some(kid)));
        }
        let expires = claims.exp.saturating_add(self.leeway);
        if !self.replay.lock().await.first_use(&claims.iss, jti, expires, now) {
            return Err(refuse(Failure::Replayed, iss, Some(kid)));
        }
        if let Some(shared) = &self.shared {
            // Another replica saw it first. (Unanswered: this process's cache has decided.)
            if shared.first_use(&replay::token_key(&claims.iss, jti), expires).await == Some(false) {
                return Err(refuse(Failure::Replayed, iss, Some(kid)));
            }
        }
        Ok(Caller {
            issuer: claims.iss,
            tenant: claims.tenant,
            client: issuer.config.client,
            rollout: issuer.config.rollout,
        })
    }
}
