//! Forgets the expired JWT ids of the replay cache the replicas share (PostgreSQL), every five
//! minutes.

use std::sync::Arc;
use std::time::Duration;

use super::{Stop, every};
use crate::store::Store;

pub async fn run(store: Arc<Store>, stop: Stop) {
    every(Duration::from_secs(300), Duration::from_secs(300), stop, || async {
        if let Some(db) = store.db().filter(|db| db.is_shared()) {
            if let Err(e) = db.forget_expired_tokens(crate::clock::now_millis()).await {
                tracing::debug!(error = %e, "store: expired token ids not forgotten; tried again later");
            }
        }
    })
    .await;
}
