//! Whether the store is failing, said once: a fault is logged when it starts, then at most once
//! a minute with how many operations failed meanwhile, and once when it ends; `/metrics` has it
//! as a gauge (`ketamine_cds_store_failing`, and since when) and `/ready` says the store is
//! degraded while hook calls go on without it. Every store operation reports to it: the
//! writer's batches, the snapshot reads, feedback writes.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use prometheus_client::metrics::gauge::Gauge;
use tracing::{info, warn};

/// The store's health, shared by everything that uses the store.
#[derive(Clone, Default)]
pub struct Health {
    /// 1 while failing.
    pub failing: Gauge,
    /// Unix seconds the current fault started (0: none).
    pub failing_since: Gauge,
    state: std::sync::Arc<State>,
}

#[derive(Default)]
struct State {
    /// Unix seconds of the last fault line (0: none yet in this fault).
    last_line: AtomicI64,
    /// Operations failed since the last line.
    failed_since_line: AtomicU64,
    /// Operations failed in this fault.
    failed: AtomicU64,
    /// Unix seconds of the last failed operation.
    last_fault: AtomicI64,
}

/// A fault ends when an operation succeeds this long after the last one failed (a store that
/// fails one write in two is failing, not recovering twice a second).
const QUIET_S: i64 = 10;

impl Health {
    /// An operation (`what`: "write", "snapshot read", "feedback write"…) failed.
    pub fn fault(&self, what: &str, error: &dyn std::fmt::Display) {
        self.fault_at(what, error, time::OffsetDateTime::now_utc().unix_timestamp());
    }

    fn fault_at(&self, what: &str, error: &dyn std::fmt::Display, now: i64) {
        let state = &self.state;
        state.last_fault.store(now, Ordering::Relaxed);
        state.failed.fetch_add(1, Ordering::Relaxed);
        state.failed_since_line.fetch_add(1, Ordering::Relaxed);
        if self.failing_since.get() == 0 && self.failing_since.set(now) == 0 {
            self.failing.set(1);
            state.last_line.store(now, Ordering::Relaxed);
            state.failed_since_line.store(0, Ordering::Relaxed);
            warn!(operation = what, error = %error, "store: failing (hook calls go on; feedback is answered 503)");
            return;
        }
        let last = state.last_line.load(Ordering::Relaxed);
        if now - last >= 60 && state.last_line.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            let failed = state.failed_since_line.swap(0, Ordering::Relaxed);
            let since = self.failing_since.get();
            warn!(operation = what, error = %error, failed, failing_for_s = now - since, "store: still failing");
        }
    }

    /// An operation succeeded: a fault in progress ends, once none has failed for ten seconds.
    pub fn ok(&self) {
        self.ok_at(time::OffsetDateTime::now_utc().unix_timestamp());
    }

    fn ok_at(&self, now: i64) {
        let since = self.failing_since.get();
        if since == 0 || now - self.state.last_fault.load(Ordering::Relaxed) < QUIET_S {
            return;
        }
        if self.failing_since.set(0) != 0 {
            self.failing.set(0);
            let failed = self.state.failed.swap(0, Ordering::Relaxed);
            self.state.failed_since_line.store(0, Ordering::Relaxed);
            info!(failed, failed_for_s = now - since, "store: working again");
        }
    }

    /// Unix seconds the current fault started, if the store is failing.
    pub fn failing_since(&self) -> Option<i64> {
        Some(self.failing_since.get()).filter(|s| *s != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_said_when_it_starts_at_most_once_a_minute_and_when_it_ends() {
        let health = Health::default();
        assert_eq!(health.failing_since(), None);
        health.fault_at("write", &"disk full", 1_000);
        assert_eq!((health.failing_since(), health.failing.get()), (Some(1_000), 1));
        for second in 1_001..1_030 {
            health.fault_at("write", &"disk full", second);
        }
        assert_eq!(health.state.last_line.load(Ordering::Relaxed), 1_000, "no line within the minute");
        health.fault_at("write", &"disk full", 1_061);
        assert_eq!(health.state.last_line.load(Ordering::Relaxed), 1_061, "one line a minute later");
        assert_eq!(health.failing_since(), Some(1_000), "the fault started once");
        health.ok_at(1_065);
        assert_eq!(health.failing_since(), Some(1_000), "one success between failures ends nothing");
        health.ok_at(1_071);
        assert_eq!((health.failing_since(), health.failing.get()), (None, 0), "ten quiet seconds end it");
        health.fault_at("snapshot read", &"gone", 2_000);
        assert_eq!(health.failing_since(), Some(2_000), "a new fault");
    }
}
