//! Reads what the hook path remembers (snoozes, order-select overrides, chart-open warnings
//! shown) from the store every `store.memory_refresh_ms`, so that what another replica recorded
//! holds here within that. A failed read keeps the last snapshot.

use std::sync::Arc;
use std::time::Duration;

use super::{Stop, every};
use crate::store::Store;

pub async fn run(store: Arc<Store>, stop: Stop) {
    let period = Duration::from_millis(store.settings().memory_refresh_ms);
    every(Duration::ZERO, period, stop, || store.refresh()).await;
}
