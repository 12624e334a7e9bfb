//! Sets the firing-rate alarm metric (`ketamine_cds_firing_rate_alarm`) from the store's last
//! 26 weeks every 15 minutes, the first time a minute after start.

use std::sync::Arc;
use std::time::Duration;

use super::{Stop, every};
use crate::store::Store;

pub async fn run(store: Arc<Store>, stop: Stop) {
    every(Duration::from_secs(60), Duration::from_secs(900), stop, || async {
        let Some(db) = store.db() else { return };
        let now = crate::clock::now_millis();
        let window = crate::report::Window::weeks_before(now, 26);
        if let Ok(tallies) = db.tallies(window.since, window.until).await {
            let alarm = crate::report::build(tallies, window).alarm;
            store.instruments.firing_alarm.set(i64::from(alarm));
        }
    })
    .await;
}
