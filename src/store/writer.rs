//! The hook path's writes: a bounded queue drained by one task that writes in batches. The hook
//! path only offers a row to the queue (never waits); a full queue drops the row, counted in
//! `/metrics` and logged at most once a minute. A failing database delays the batch in hand
//! (retried with backoff) while the queue fills; writing resumes by itself when it is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{mpsc, watch};
use tracing::warn;

use super::db::Db;
use super::events::Event;

/// Rows written per transaction at most.
const BATCH: usize = 512;
/// How long the writer gathers rows after the first of a batch arrives: one transaction for
/// every call in that time, instead of one (with its commit) per call.
const GATHER: Duration = Duration::from_millis(50);

/// The store's instruments, registered in `/metrics` by the HTTP layer.
#[derive(Clone)]
pub struct Instruments {
    pub queue_depth: Gauge,
    pub written: Counter,
    pub dropped: Counter,
    pub failures: Counter,
    pub write_seconds: Histogram,
    pub suppressed: Counter,
    /// 1 while the latest week's firing rate is outside its control limits.
    pub firing_alarm: Gauge,
    /// Whether the store is failing (every store operation reports to it).
    pub health: super::health::Health,
}

impl Default for Instruments {
    fn default() -> Self {
        Self {
            queue_depth: Gauge::default(),
            written: Counter::default(),
            dropped: Counter::default(),
            failures: Counter::default(),
            write_seconds: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 14)),
            suppressed: Counter::default(),
            firing_alarm: Gauge::default(),
            health: super::health::Health::default(),
        }
    }
}

/// At most one log line a minute for a recurring condition (Unix seconds of the last one).
#[derive(Default)]
pub struct Throttle(AtomicI64);

impl Throttle {
    pub fn due(&self) -> bool {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let last = self.0.load(Ordering::Relaxed);
        now - last >= 60 && self.0.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

/// Rows offered to the queue and rows the writer is done with (written or given up), so that
/// a caller can wait until what was offered before it is in the database.
#[derive(Default)]
struct Progress {
    offered: AtomicU64,
    handled: AtomicU64,
}

/// The sending end, held by the shared state.
pub struct Queue {
    sender: mpsc::Sender<Event>,
    instruments: Instruments,
    dropped_log: Throttle,
    progress: Arc<Progress>,
}

impl Queue {
    /// Offers rows to the queue; what does not fit is dropped (and counted).
    pub fn offer(&self, events: Vec<Event>) {
        for event in events {
            match self.sender.try_send(event) {
                Ok(()) => {
                    self.instruments.queue_depth.inc();
                    self.progress.offered.fetch_add(1, Ordering::AcqRel);
                }
                Err(_) => {
                    self.instruments.dropped.inc();
                    if self.dropped_log.due() {
                        warn!(dropped_total = self.instruments.dropped.get(), "store queue full: rows dropped");
                    }
                }
            }
        }
    }
    /// Waits (at most `within`) until every row offered so far has been written; false if the
    /// time ran out (the database is slow or down).
    pub async fn flushed(&self, within: Duration) -> bool {
        let target = self.progress.offered.load(Ordering::Acquire);
        let deadline = Instant::now() + within;
        while self.progress.handled.load(Ordering::Acquire) < target {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

/// The writing task's handle: [`Writer::finish`] writes what is queued, then stops.
pub struct Writer {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    /// Writes what is still queued (within `within`), then ends the task.
    pub async fn finish(self, within: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(within, &mut task).await.is_err() {
            warn!("store: rows still queued at shutdown were not written in time");
            task.abort();
        }
    }
}

/// Starts the writing task on the current runtime.
pub fn start(db: Arc<Db>, capacity: usize, instruments: Instruments) -> (Queue, Writer) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    let (stop, stopping) = watch::channel(false);
    let progress = Arc::new(Progress::default());
    let task = tokio::spawn(run(db, receiver, stopping, instruments.clone(), progress.clone()));
    (Queue { sender, instruments, dropped_log: Throttle::default(), progress }, Writer { stop, task })
}

async fn run(
    db: Arc<Db>,
    mut receiver: mpsc::Receiver<Event>,
    mut stopping: watch::Receiver<bool>,
    instruments: Instruments,
    progress: Arc<Progress>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let stop = *stopping.borrow();
        if stop {
            // Shutdown: what is queued now is all there will be.
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                return;
            }
        } else {
            tokio::select! {
                got = receiver.recv_many(&mut batch, BATCH) => if got == 0 { return },
                _ = stopping.changed() => continue,
            }
            // Let the batch fill for a moment (a shutdown cuts the wait short).
            tokio::select! {
                () = tokio::time::sleep(GATHER) => {}
                _ = stopping.changed() => {}
            }
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
        }
        instruments.queue_depth.dec_by(batch.len() as i64);
        let mut backoff = Duration::from_millis(100);
        let mut tried_while_stopping = false;
        loop {
            let started = Instant::now();
            match db.write(&batch).await {
                Ok(()) => {
                    instruments.write_seconds.observe(started.elapsed().as_secs_f64());
                    instruments.written.inc_by(batch.len() as u64);
                    progress.handled.fetch_add(batch.len() as u64, Ordering::AcqRel);
                    instruments.health.ok();
                    break;
                }
                Err(e) => {
                    instruments.failures.inc();
                    // Said once when the fault starts, then once a minute (the batch is retried).
                    instruments.health.fault("write", &db.explain(&e));
                    if *stopping.borrow() && tried_while_stopping {
                        // Shutting down and the store still fails: what is queued cannot be
                        // kept, and the process must not wait for a store that is gone.
                        let lost = batch.len() as u64 + receiver.len() as u64;
                        instruments.dropped.inc_by(lost);
                        warn!(rows = lost, "store: failing at shutdown: the queued rows were not written");
                        return;
                    }
                    tried_while_stopping = *stopping.borrow();
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = stopping.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        batch.clear();
    }
}
