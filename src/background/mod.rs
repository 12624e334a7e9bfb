//! The work that runs beside the hook calls, started and stopped in one place: the store's
//! retention ([`retention`]), the snapshot of what the hook path remembers ([`snapshot`]), the
//! shared replay cache's purge ([`tokens`]) and the firing-rate alarm ([`alarm`]). Each loop is a
//! task of its own that ends at once when told to (on shutdown, before the store is closed): what
//! it was doing is abandoned — reads, and deletes that happen whole or not at all. The store's
//! writer is the store's (it drains on close).

pub mod alarm;
pub mod retention;
pub mod snapshot;
pub mod tokens;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::Store;

/// The running loops.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// What a loop is told: `stopped().await` completes when it must end.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Completes when the loops are told to stop.
    pub async fn stopped(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

impl Background {
    /// Starts every loop the store needs (none without a store) on the current runtime.
    pub fn start(store: &Arc<Store>) -> Self {
        let (stop, told) = watch::channel(false);
        let mut tasks = Vec::new();
        if store.db().is_some() {
            tasks.push(tokio::spawn(retention::run(Arc::clone(store), Stop(told.clone()))));
            tasks.push(tokio::spawn(snapshot::run(Arc::clone(store), Stop(told.clone()))));
            tasks.push(tokio::spawn(alarm::run(Arc::clone(store), Stop(told.clone()))));
            if store.db().is_some_and(|db| db.is_shared()) {
                tasks.push(tokio::spawn(tokens::run(Arc::clone(store), Stop(told.clone()))));
            }
        }
        Self { stop, tasks: Mutex::new(tasks) }
    }

    /// How many loops run.
    pub fn running(&self) -> usize {
        self.tasks.lock().map(|t| t.iter().filter(|t| !t.is_finished()).count()).unwrap_or(0)
    }

    /// Tells every loop to stop and waits for them (at most `within`; one still busy is
    /// abandoned with the runtime).
    pub async fn stop(&self, within: Duration) {
        let _ = self.stop.send(true);
        let tasks: Vec<JoinHandle<()>> = self.tasks.lock().map(|mut t| t.drain(..).collect()).unwrap_or_default();
        let _ = tokio::time::timeout(within, async {
            for task in tasks {
                let _ = task.await;
            }
        })
        .await;
    }
}

/// Runs `work` every `period` (the first time after `first`) until told to stop; a tick missed
/// while working is not made up.
pub(crate) async fn every<F, Fut>(first: Duration, period: Duration, mut stop: Stop, mut work: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = tokio::time::Instant::now() + first;
    let mut ticks = tokio::time::interval_at(start, period.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.stopped() => return,
            _ = ticks.tick() => {}
        }
        // A store that hangs must not hold the shutdown: the work is raced against the stop.
        tokio::select! {
            _ = stop.stopped() => return,
            () = work() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_loops_start_with_a_store_and_end_when_told() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let knowledge = crate::knowledge::Knowledge::embedded().expect("the embedded knowledge");
        let location = crate::store::Location::Sqlite(dir.path().join("store.sqlite"));
        let store =
            Arc::new(Store::open(location, &crate::config::StoreSettings::default(), &knowledge).expect("opens"));
        let background = Background::start(&store);
        tokio::task::yield_now().await;
        assert_eq!(background.running(), 3, "retention, snapshot and alarm (no shared replay cache on SQLite)");
        let started = std::time::Instant::now();
        background.stop(Duration::from_secs(5)).await;
        assert!(started.elapsed() < Duration::from_secs(1), "every loop ends at once when told");
        assert_eq!(background.running(), 0);
        store.close(Duration::from_secs(1)).await;

        let none = Arc::new(Store::off(&knowledge));
        assert_eq!(Background::start(&none).running(), 0, "no store, no loops");
    }
}
