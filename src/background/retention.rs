//! Deletes the store's rows older than `store.retention_days`, at start and then daily.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

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
            Err(e) => warn!(error = %e, "store: retention not applied; tried again tomorrow"),
        }
    })
    .await;
}
