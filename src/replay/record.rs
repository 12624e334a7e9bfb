//! A replay recorded in the store (`replay --store URL --run NAME`): each replayed order's call
//! and cards as the service records them, in the arm `replay:NAME` and at the order's own time,
//! so that `report` and `/analytics` show the run beside the live figures — every shard of a run
//! writing to one PostgreSQL store counted together. Rows are written in batches, idempotently
//! (a shard run again writes nothing twice).

use crate::call::Evaluation;
use crate::store::Location;
use crate::store::db::Db;
use crate::store::events::{self, CallContext, Event};
use crate::store::keys::{self, Keys};

/// Orders' rows written at once.
const BATCH_ORDERS: usize = 500;

pub struct Recorder {
    runtime: tokio::runtime::Runtime,
    db: Db,
    keys: Keys,
    arm: String,
    knowledge_version: String,
    rows: Vec<Event>,
    orders: usize,
    /// The first write error; nothing more is written after one.
    pub failed: Option<String>,
}

impl Recorder {
    /// Opens the store at `url` (a SQLite file is created if need be, with its key beside it;
    /// PostgreSQL needs the site's secret, `KETAMINE_CDS_STORE__PATIENT_KEY_SECRET`).
    pub fn open(url: &str, run: &str, knowledge_version: &str) -> Result<Self, String> {
        let location = Location::parse(url)?;
        let secret = match (&location, std::env::var("KETAMINE_CDS_STORE__PATIENT_KEY_SECRET")) {
            (Location::None, _) => return Err("--store none records nothing".into()),
            (_, Ok(secret)) => keys::given_secret(&secret)?,
            (Location::Sqlite(path), Err(_)) => {
                let mut key = path.clone().into_os_string();
                key.push(".key");
                keys::install_secret(std::path::Path::new(&key))?
            }
            (Location::Postgres(_), Err(_)) => {
                return Err("a PostgreSQL store needs KETAMINE_CDS_STORE__PATIENT_KEY_SECRET (the service's)".into());
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let db = {
            let _context = runtime.enter();
            Db::connect_lazy(&location)?.ok_or("no store")?
        };
        runtime.block_on(db.ready()).map_err(|e| format!("store {}: {e}", location.describe()))?;
        Ok(Self {
            runtime,
            db,
            keys: Keys::new(&secret),
            arm: format!("replay:{run}"),
            knowledge_version: knowledge_version.to_owned(),
            rows: Vec::new(),
            orders: 0,
            failed: None,
        })
    }

    /// The keys the store hashes patients under (the summary uses the same).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Queues one replayed order's rows (written every [`BATCH_ORDERS`] orders).
    pub fn add(&mut self, evaluation: &Evaluation, day: &str) {
        let at = crate::report::parse_time(day).unwrap_or(0);
        let call = CallContext {
            service: crate::call::services::for_hook(crate::guideline::Hook::OrderSign).id,
            hook: crate::guideline::Hook::OrderSign.name(),
            ids: &evaluation.ids,
            knowledge_version: &self.knowledge_version,
            at,
            trigger: None,
            arm: &self.arm,
        };
        let held: Vec<&crate::hooks::Card> = evaluation.held_cards().collect();
        let rows = events::of_call(
            &call,
            evaluation.outcome,
            evaluation.examined,
            &evaluation.response.cards,
            &held,
            &self.keys,
        );
        self.rows.extend(rows);
        self.orders += 1;
        if self.orders % BATCH_ORDERS == 0 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.failed.is_some() || self.rows.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.rows);
        if let Err(e) = self.runtime.block_on(self.db.write(&rows)) {
            self.failed = Some(e.to_string());
        }
    }

    /// Writes what is left and closes the store; the first error, if any.
    pub fn finish(mut self) -> Result<(), String> {
        self.flush();
        self.runtime.block_on(self.db.close());
        match self.failed {
            Some(e) => Err(format!("the replay was not all recorded: {e}")),
            None => Ok(()),
        }
    }
}
