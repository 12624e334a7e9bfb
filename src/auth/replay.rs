//! Replay protection: every `jti` seen is remembered until its token expires. Bounded: when
//! full, the oldest entries are forgotten first (and expired ones before that). With replicas,
//! a [`SharedReplay`] is asked too.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;

/// Replay protection across processes (replicas on one PostgreSQL store): a token's key
/// recorded once for all of them.
pub trait SharedReplay: Send + Sync {
    /// `Some(true)` the first time `key` is seen, `Some(false)` after that (until `expires_at`,
    /// Unix seconds), `None` when the shared record cannot answer now (then the process's own
    /// cache decides alone).
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        expires_at: u64,
    ) -> Pin<Box<dyn Future<Output = Option<bool>> + Send + 'a>>;
}

/// The shared record's key of a token: a digest of issuer and jti (bounded, and no jti text in
/// the database).
pub fn token_key(issuer: &str, jti: &str) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(issuer.as_bytes());
    context.update(b"\0");
    context.update(jti.as_bytes());
    context.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    expiry: HashMap<(String, String), u64>,
    order: VecDeque<((String, String), u64)>,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), expiry: HashMap::new(), order: VecDeque::new() }
    }

    /// Records `(issuer, jti)` valid until `exp`; false if it was already seen and unexpired.
    pub fn first_use(&mut self, issuer: &str, jti: &str, exp: u64, now: u64) -> bool {
        while let Some((key, at)) = self.order.front() {
            if *at >= now && self.order.len() < self.capacity {
                break;
            }
            if self.expiry.get(key) == Some(at) {
                self.expiry.remove(key);
            }
            self.order.pop_front();
        }
        let key = (issuer.to_owned(), jti.to_owned());
        if self.expiry.get(&key).is_some_and(|at| *at >= now) {
            return false;
        }
        self.expiry.insert(key.clone(), exp);
        self.order.push_back((key, exp));
        true
    }

    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_accepted_once_until_it_expires() {
        let mut cache = ReplayCache::new(10);
        assert!(cache.first_use("iss", "a", 100, 50));
        assert!(!cache.first_use("iss", "a", 100, 60));
        assert!(cache.first_use("other", "a", 100, 60), "jti is per issuer");
        assert!(cache.first_use("iss", "a", 300, 200), "expired entries are forgotten");
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = ReplayCache::new(3);
        for jti in ["a", "b", "c", "d", "e"] {
            assert!(cache.first_use("iss", jti, 1000, 1));
        }
        assert!(cache.len() <= 3);
    }
}
