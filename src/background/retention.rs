//! Deletes the store's rows older than `store.retention_days`, at start and then daily.

use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use super::{Stop, every};
use crate::store::Store;

pub async fn run(store: Arc<Store>, stop: Stop) {
    every(Duration::ZERO, Duration::from_secs(86_400), stop, || async {
        let Some(db) = store.db() else { return };
        let days = store.settings().retention_days;
        let age_ms = i64::try_from(days.saturating_mul(86_400_000)).unwrap_or(i64::MAX);
        let before = crate::clock::now_millis().saturating_sub(age_ms);
        match db.purge(before).await {
            Ok(deleted) => info!(deleted, retention_days = days, "store: retention applied"),
            // Tried again tomorrow; the fault is said by the store's health.
            Err(e) => store.instruments.health.fault("retention", &db.explain(&e)),
        }
    })
    .await;
}
