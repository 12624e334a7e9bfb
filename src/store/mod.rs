//! The card and outcome store: every card issued, every call that examined a ketamine order,
//! every feedback item — so that an informatics team can see how often the rule fires, how
//! often and why it is overridden, and which suggestion is taken (`crate::report`).
//!
//! SQLite by default (`sqlite:PATH`, one process), PostgreSQL for replicas, or `none`. The hook
//! path never waits for it: its rows go through a bounded queue ([`writer`]); a feedback call
//! waits for its write and is refused (503) when the database cannot take it, so that nothing
//! acknowledged is lost. Ids are kept only as keyed hashes ([`keys`]).

pub mod db;
pub mod events;
pub mod health;
pub mod keys;
pub mod location;
pub mod memory;
pub mod validity;
pub mod writer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::warn;

use crate::call::fatigue::{Remembers, Snoozed};
use crate::call::rollout::Arm;
use crate::call::{CallIds, Evaluation};
use crate::guideline::Hook;
use crate::hooks::feedback::Entry;
use crate::hooks::response::{CardFacts, CardKind};
use crate::knowledge::Knowledge;
use crate::knowledge::plan::CardText;
use db::Db;
use events::{CallContext, Event};
use keys::Keys;
pub use location::Location;
use memory::{Memory, Snapshot};
use writer::{Instruments, Queue, Writer};

/// How long an order-select override keeps order-sign from repeating the card (the encounter
/// key must match too).
const REPEAT_DAYS: u32 = 30;

/// How far back the chart-open warnings shown are read: a `patient-view-interval-days` longer
/// than this is as this (a year).
const CHART_OPEN_DAYS: i64 = 366;

pub use crate::config::StoreSettings;

/// Why a feedback call could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("the store did not answer within {0} ms")]
    Timeout(u64),
    #[error("the store cannot be written: {0}")]
    Failed(String),
}

/// Why feedback was not kept.
#[derive(Debug, thiserror::Error)]
pub enum NotKept {
    /// Items that name a known card and do not count against it, each `feedback[i]: why`.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

struct Open {
    db: Arc<Db>,
    queue: Queue,
    keys: Keys,
}

pub struct Store {
    location: Location,
    open: Option<Open>,
    writer: Mutex<Option<Writer>>,
    settings: StoreSettings,
    /// The step-therapy card's override reasons with their snooze periods.
    step_therapy: CardText,
    memory: Memory,
    pub instruments: Instruments,
}

impl Store {
    /// No store: rows are not kept, feedback is only logged.
    pub fn off(knowledge: &Knowledge) -> Self {
        Self {
            location: Location::None,
            open: None,
            writer: Mutex::new(None),
            settings: StoreSettings::default(),
            step_therapy: knowledge.plan.step_therapy.clone(),
            memory: Memory::default(),
            instruments: Instruments::default(),
        }
    }

    /// Opens the store at `location` and starts its writer (on the current runtime). The
    /// database is connected to when first used, so a database that is down does not stop the
    /// service from starting.
    pub fn open(location: Location, settings: &StoreSettings, knowledge: &Knowledge) -> Result<Self, String> {
        let mut store = Self::off(knowledge);
        store.settings = settings.clone();
        if let Location::Sqlite(path) = &location {
            // A mistyped directory must not silently become a new, empty store somewhere else.
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            if !dir.is_dir() {
                return Err(format!(
                    "store sqlite:{}: the directory {} does not exist (create it, or give another path)",
                    path.display(),
                    dir.display()
                ));
            }
            if !path.exists() {
                warn!(path = %path.display(), "store: no store at this path yet: a new, empty one is created");
            }
        }
        let Some(db) = Db::connect_lazy(&location)? else { return Ok(store) };
        let secret = match (&settings.patient_key_secret, &location) {
            (Some(secret), _) => keys::given_secret(secret)?,
            (None, Location::Sqlite(path)) => {
                let mut key = path.clone().into_os_string();
                key.push(".key");
                keys::install_secret(std::path::Path::new(&key))?
            }
            (None, _) => {
                return Err("store: a PostgreSQL store needs store.patient_key_secret (KETAMINE_CDS_STORE__PATIENT_KEY_SECRET), \
                     the same on every replica"
                    .into());
            }
        };
        let db = Arc::new(db);
        let (queue, writer) = writer::start(db.clone(), settings.queue_capacity, store.instruments.clone());
        store.open = Some(Open { db, queue, keys: Keys::new(&secret) });
        store.writer = Mutex::new(Some(writer));
        store.location = location;
        Ok(store)
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The database, when there is one (reports read it).
    pub fn db(&self) -> Option<&Db> {
        self.open.as_ref().map(|o| o.db.as_ref())
    }

    /// Queues the rows of an answered call: the call, its cards shown and those held back (as
    /// suppressed: the analytics still see the firing), and a chart-open warning shown. Never
    /// waits. A call that examined no ketamine order has no rows.
    pub fn answered(&self, service: &str, hook: Hook, evaluation: &Evaluation, knowledge_version: &str, at: i64) {
        if !evaluation.held_back.is_empty() {
            self.instruments.suppressed.inc_by(evaluation.held_back.len() as u64);
        }
        let Some(open) = &self.open else { return };
        let Some(outcome) = evaluation.outcome else { return };
        let trigger = evaluation.trigger.as_deref();
        let arm = evaluation.arm.name();
        let call =
            CallContext { service, hook: hook.name(), ids: &evaluation.ids, knowledge_version, at, trigger, arm };
        let held: Vec<&crate::hooks::Card> = evaluation.held_cards().collect();
        // A silent call's cards are recorded as if shown: what the live rule would have shown.
        let shown = if evaluation.arm == Arm::Silent { &evaluation.silenced } else { &evaluation.response.cards };
        let mut rows = events::of_call(&call, Some(outcome), evaluation.examined, shown, &held, &open.keys);
        // A chart-open warning the clinician never saw starts no interval.
        let chart_open_shown = hook == Hook::PatientView
            && evaluation.response.cards.iter().any(|c| c.facts.kind == CardKind::StepTherapy);
        if chart_open_shown {
            rows.push(Event::ChartOpen { patient_key: open.keys.patient(&evaluation.ids.patient_id), at });
        }
        open.queue.offer(rows);
    }

    /// Checks a feedback body's items against the cards they name and writes them before the
    /// call is answered; `Ok` when they are kept (or there is no store). An item that names a
    /// known card and does not count against it (another service's card, a reason or a
    /// suggestion the card did not offer) refuses the body; one whose card is not known yet is
    /// kept, and checked when the card arrives.
    pub async fn record_feedback(&self, service: &str, entries: &[Entry], at: i64) -> Result<(), NotKept> {
        let Some(open) = &self.open else { return Ok(()) };
        let items = events::of_feedback(service, entries, at, self.settings.keep_comments);
        let timeout = self.settings.feedback_timeout_ms;
        let health = &self.instruments.health;
        let failing = health.failing_since().is_some();
        let db = &open.db;
        // A store known to be failing gets a short try (it may be back: the periodic read says
        // so within `memory_refresh_ms`), so the EHR hears 503 at once rather than after the
        // whole feedback timeout. The timeout covers the whole call, the wait below included.
        let timeout = if failing { timeout.min(500) } else { timeout };
        let started = std::time::Instant::now();
        // The cards this replica issued are written first (queued before their calls were
        // answered), so the items are checked against them now rather than later — unless the
        // store is failing: then nothing is written, and the answer must not wait for it. The
        // wait takes at most half the timeout.
        if !failing {
            open.queue.flushed(Duration::from_millis(timeout / 2).min(Duration::from_secs(2))).await;
        }
        let keep = async {
            let mut named: Vec<&str> = items.iter().map(|i| i.card_uuid.as_str()).collect();
            named.sort_unstable();
            named.dedup();
            let known = db.known_cards(&named).await?;
            let problems: Vec<String> = items
                .iter()
                .enumerate()
                .filter_map(|(n, item)| {
                    let card = known.iter().find(|k| k.uuid == item.card_uuid)?;
                    Some(format!("feedback[{n}]: {}", validity::problem(item, card)?))
                })
                .collect();
            if !problems.is_empty() {
                return Ok(Err(problems));
            }
            db.write_feedback(&items).await?;
            // A card written meanwhile did not see these items: check them against it now.
            let unknown: Vec<&str> = named.into_iter().filter(|n| !known.iter().any(|k| k.uuid == *n)).collect();
            if !unknown.is_empty() {
                db.check_late_feedback(&unknown).await?;
            }
            Ok::<_, sqlx::Error>(Ok(()))
        };
        let left = Duration::from_millis(timeout).saturating_sub(started.elapsed());
        match tokio::time::timeout(left, keep).await {
            Ok(Ok(Ok(()))) => health.ok(),
            Ok(Ok(Err(problems))) => {
                health.ok();
                return Err(NotKept::Invalid(problems));
            }
            Ok(Err(e)) => {
                health.fault("feedback write", &db.explain(&e));
                return Err(Unavailable::Failed(e.to_string()).into());
            }
            Err(_) => {
                health.fault("feedback write", &format!("no answer within {timeout} ms"));
                return Err(Unavailable::Timeout(timeout).into());
            }
        }
        if items.iter().any(|i| i.outcome == "overridden") {
            // The override holds from the next call on this replica. The feedback is kept: a
            // slow read must not hold its answer (the periodic one catches up).
            let _ = tokio::time::timeout(Duration::from_secs(2), self.refresh()).await;
        }
        Ok(())
    }

    /// Lifts the snooze of an overridden card (the warning may show again from the next call
    /// on this replica, within `memory_refresh_ms` on the others); what is still in force for
    /// the patient is said.
    pub async fn lift(&self, card_uuid: &str, now: i64) -> Result<Lifted, sqlx::Error> {
        let Some(db) = self.db() else { return Ok(Lifted::default()) };
        let lifted = lift(db, &self.step_therapy, card_uuid, now).await?;
        if lifted.was_in_force {
            self.refresh().await;
        }
        Ok(lifted)
    }

    /// Reads the snoozes and order-select overrides again (a failure keeps the last snapshot).
    pub async fn refresh(&self) {
        match self.recall().await {
            // The last snapshot read holds meanwhile.
            Err(e) => {
                let said = self.db().map_or_else(|| e.to_string(), |db| db.explain(&e));
                self.instruments.health.fault("snapshot read", &said);
            }
            Ok(()) if self.open.is_some() => self.instruments.health.ok(),
            Ok(()) => {}
        }
    }

    /// Reads what the hook path remembers (snoozes, order-select overrides, chart-open
    /// warnings shown) from the store now; `evaluate --store` calls it once.
    pub async fn recall(&self) -> Result<(), sqlx::Error> {
        let Some(db) = self.db() else { return Ok(()) };
        let now = crate::clock::now_millis();
        let since = self.step_therapy.snooze_look_back(now, REPEAT_DAYS);
        let rows = db.overridden_step_therapy(since).await?;
        let shown = db.chart_opens_shown(now.saturating_sub(CHART_OPEN_DAYS * 86_400_000)).await?;
        let mut snapshot = Snapshot::of_overrides(&rows, &self.step_therapy, now);
        snapshot.chart_open_shown = shown.into_iter().collect();
        self.memory.replace(snapshot);
        Ok(())
    }

    /// Records a token id for every replica (PostgreSQL only): `Some(false)` when another
    /// process saw it first, `None` when there is no shared store or it did not answer in time.
    pub async fn first_use_of_token(&self, key: &str, expires_at: i64) -> Option<bool> {
        let db = self.db().filter(|db| db.is_shared())?;
        match tokio::time::timeout(Duration::from_millis(250), db.first_use_of_token(key, expires_at)).await {
            Ok(Ok(first)) => Some(first),
            _ => None,
        }
    }

    /// The store's settings (`[store]`).
    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    /// Writes what is queued (within `within`), then closes the database.
    pub async fn close(&self, within: Duration) {
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            writer.finish(within).await;
        }
        if let Some(db) = self.db() {
            db.close().await;
        }
    }
}

impl crate::auth::replay::SharedReplay for Store {
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        expires_at: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<bool>> + Send + 'a>> {
        Box::pin(async move {
            let expires_ms = i64::try_from(expires_at.saturating_mul(1000)).unwrap_or(i64::MAX);
            self.first_use_of_token(key, expires_ms).await
        })
    }
}

/// What lifting a snooze did: whether the card held one, and the other snoozes still in force
/// for the same patient (any of them holds the warning back while its facts match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifted {
    pub was_in_force: bool,
    pub still_in_force: Vec<memory::Snooze>,
}

/// Lifts the snooze of an overridden card in a store (`snoozes --lift`, the playground).
pub async fn lift(db: &Db, step_therapy: &CardText, card_uuid: &str, now: i64) -> Result<Lifted, sqlx::Error> {
    let rows = db.overridden_step_therapy(step_therapy.snooze_look_back(now, 0)).await?;
    let snapshot = Snapshot::of_overrides(&rows, step_therapy, now);
    let Some(list) = snapshot.snoozes.values().find(|list| list.iter().any(|s| s.card_uuid == card_uuid)) else {
        return Ok(Lifted::default());
    };
    db.lift(card_uuid, now).await?;
    let still_in_force = list.iter().filter(|s| s.card_uuid != card_uuid).cloned().collect();
    Ok(Lifted { was_in_force: true, still_in_force })
}

/// The hook path's view of the store: the last snapshot read, by keyed ids. Without a store it
/// remembers nothing.
impl Remembers for Store {
    fn snooze(&self, ids: &CallIds, facts: &CardFacts, knowledge_version: &str, now: i64) -> Option<Snoozed> {
        let open = self.open.as_ref()?;
        let snapshot = self.memory.current();
        // Most calls: no snooze at all, and no patient key to compute.
        if snapshot.snoozes.is_empty() {
            return None;
        }
        let s = snapshot.snooze(&open.keys.patient(&ids.patient_id), knowledge_version, &facts.classes_key(), now)?;
        Some(Snoozed { overridden_card: s.card_uuid.clone(), reason: s.reason_code.clone(), until: s.until })
    }

    fn overridden_on_select(&self, ids: &CallIds, facts: &CardFacts) -> bool {
        let Some(open) = &self.open else { return false };
        let snapshot = self.memory.current();
        if snapshot.overridden_on_select.is_empty() || ids.encounter_id.is_none() {
            return false;
        }
        let encounter = ids.encounter_id.as_deref().map(|e| open.keys.encounter(e));
        let order = events::order_key(&open.keys, ids, facts);
        snapshot.overridden_on_select(&open.keys.patient(&ids.patient_id), encounter.as_deref(), &order)
    }

    fn chart_open_due(&self, ids: &CallIds, since: i64, now: i64) -> bool {
        let Some(open) = &self.open else { return true };
        self.memory.chart_open_due(&open.keys.patient(&ids.patient_id), since, now)
    }
}
