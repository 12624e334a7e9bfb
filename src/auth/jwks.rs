//! The keys of one issuer: its JWKS from a URL (refreshed on a schedule and, rate-limited, when
//! an unknown `kid` arrives) or from a file (read again when it changes, checked on a short
//! schedule and, rate-limited, when an unknown `kid` arrives). A failed refresh keeps the keys
//! already known, so a JWKS outage does not take down calls signed with cached keys.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};
use tracing::{info, warn};

use crate::config::IssuerConfig;

#[derive(Clone)]
pub struct Key {
    pub key: DecodingKey,
    /// The JWK's own `alg`, when it names one.
    pub alg: Option<Algorithm>,
}

pub struct IssuerKeys {
    pub config: IssuerConfig,
    keys: RwLock<HashMap<String, Key>>,
    last_fetch: Mutex<Option<Instant>>,
    min_refetch: Duration,
    /// The JWKS file's modification time and length when it was last read.
    file_seen: Mutex<Option<(std::time::SystemTime, u64)>>,
}

fn file_stamp(file: &std::path::Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(file).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read_file(file: &std::path::Path) -> Result<HashMap<String, Key>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    parse_jwks(&text).map_err(|e| format!("{}: {e}", file.display()))
}

/// Parses a JWKS document into keys by `kid` (keys without a `kid`, or of a kind this service
/// does not verify with, are left out).
pub fn parse_jwks(text: &str) -> Result<HashMap<String, Key>, String> {
    let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) else { continue };
        let alg = jwk.common.key_algorithm.and_then(|a| a.to_string().parse().ok());
        keys.insert(kid, Key { key, alg });
    }
    Ok(keys)
}

impl IssuerKeys {
    pub fn new(config: IssuerConfig, min_refetch: Duration) -> Result<Self, String> {
        let (keys, seen) = match &config.jwks_file {
            Some(file) => (read_file(file)?, file_stamp(file)),
            None => (HashMap::new(), None),
        };
        Ok(Self {
            config,
            keys: RwLock::new(keys),
            last_fetch: Mutex::new(None),
            min_refetch,
            file_seen: Mutex::new(seen),
        })
    }

    /// Reads the JWKS file again if it changed since it was last read (a failed read keeps the
    /// keys). Returns whether new keys were loaded.
    async fn reread_file(&self) -> bool {
        let Some(file) = &self.config.jwks_file else { return false };
        let stamp = file_stamp(file);
        let mut seen = self.file_seen.lock().await;
        if stamp.is_none() || stamp == *seen {
            return false;
        }
        match read_file(file) {
            Ok(keys) => {
                info!(issuer = %self.config.iss, keys = keys.len(), "JWKS file read again");
                *self.keys.write().await = keys;
                *seen = stamp;
                true
            }
            Err(error) => {
                warn!(issuer = %self.config.iss, %error, "JWKS file could not be read; keeping the keys already known");
                false
            }
        }
    }

    /// Checks the JWKS file for a change, at most every `min_refetch` unless `force`.
    pub async fn check_file(&self, force: bool) -> bool {
        if self.config.jwks_file.is_none() {
            return false;
        }
        if !self.may_fetch(force).await {
            return false;
        }
        self.reread_file().await
    }

    /// Whether a read may happen now (rate limit), noting that it does.
    async fn may_fetch(&self, force: bool) -> bool {
        let mut last = self.last_fetch.lock().await;
        if !force && last.is_some_and(|t| t.elapsed() < self.min_refetch) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    pub async fn key(&self, kid: &str) -> Option<Key> {
        self.keys.read().await.get(kid).cloned()
    }

    /// Reads the JWKS URL again unless it was read less than `min_refetch` ago (`force` skips
    /// that limit, for the scheduled refresh). Returns whether new keys were loaded.
    pub async fn refresh(&self, client: &reqwest::Client, force: bool) -> bool {
        let Some(url) = &self.config.jwks_url else { return self.check_file(force).await };
        if !self.may_fetch(force).await {
            return false;
        }
        let fetched = async {
            let response = client.get(url).send().await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("status {}", response.status()));
            }
            let text = response.text().await.map_err(|e| e.to_string())?;
            parse_jwks(&text)
        }
        .await;
        match fetched {
            Ok(keys) => {
                info!(issuer = %self.config.iss, keys = keys.len(), "JWKS loaded");
                *self.keys.write().await = keys;
                true
            }
            Err(error) => {
                warn!(issuer = %self.config.iss, %error, "JWKS could not be read; keeping the keys already known");
                false
            }
        }
    }
}
