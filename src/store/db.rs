//! The database: one schema (`migrations/`, applied on first use) and the same SQL on SQLite
//! and PostgreSQL through sqlx's `Any` driver. Writes are batched in one transaction and
//! idempotent (a row already kept is skipped), so a retried batch or an EHR's retried feedback
//! is kept once. Times are Unix milliseconds; a week is counted from Monday 00:00 UTC.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::any::AnyRow;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, Connection, Row};

use super::events::{Event, ExaminedCall, FeedbackRecord, IssuedCard, IssuedSuggestion};
use super::location::Location;
use super::validity::{self, KnownCard};

/// Milliseconds in a week, and from the Unix epoch (a Thursday) to the first Monday.
pub const WEEK_MS: i64 = 604_800_000;
pub const FIRST_MONDAY_MS: i64 = 345_600_000;

/// The migrations, in order (embedded: the binary needs no files beside it).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "cards and feedback", include_str!("../../migrations/0001_cards_and_feedback.sql")),
    (2, "snoozes and replay", include_str!("../../migrations/0002_snoozes_and_replay.sql")),
    (3, "ehr profiles", include_str!("../../migrations/0003_ehr_profiles.sql")),
    (4, "feedback validity", include_str!("../../migrations/0004_feedback_validity.sql")),
    (5, "rollout", include_str!("../../migrations/0005_rollout.sql")),
];

pub struct Db {
    pool: AnyPool,
    sqlite: bool,
    migrated: tokio::sync::OnceCell<()>,
    /// Why the last new connection was refused once opened (the pool retries until its timeout
    /// and then says only that it timed out; the operator needs the cause).
    last_connect_error: Arc<std::sync::Mutex<Option<String>>>,
}

/// Calls that examined ketamine orders in one week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExaminedTally {
    pub hook: String,
    pub outcome: String,
    pub knowledge_version: String,
    pub week: i64,
    pub calls: i64,
    pub orders: i64,
}

/// A report's tallies by arm: live, silent, and each replay run by name.
#[derive(Debug, Clone, Default)]
pub struct Arms {
    pub live: Tallies,
    pub silent: Tallies,
    pub replays: Vec<(String, Tallies)>,
}

/// Cards issued in one week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardTally {
    pub hook: String,
    pub kind: String,
    pub suppressed: bool,
    pub week: i64,
    pub cards: i64,
}

/// Cards of one kind with at least one feedback item of this outcome (and reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeTally {
    pub kind: String,
    pub outcome: String,
    pub reason_code: Option<String>,
    /// How the reason reads, when the feedback said (an EHR-built reason).
    pub reason_display: Option<String>,
    pub cards: i64,
}

/// An overridden step-therapy card not lifted: what snoozes and the no-repeat rule are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverriddenCard {
    pub card_uuid: String,
    pub hook: String,
    pub patient_key: String,
    pub encounter_key: Option<String>,
    pub order_key: String,
    pub classes: String,
    pub knowledge_version: String,
    pub reason_system: Option<String>,
    pub reason_code: Option<String>,
    pub received_at: i64,
}

/// Most overridden cards read into memory.
const MAX_OVERRIDDEN: i64 = 200_000;

/// What the store holds for a report over `[since, until)` (by the card's or call's time).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tallies {
    pub examined: Vec<ExaminedTally>,
    pub cards: Vec<CardTally>,
    /// Per card kind, reason `None`: cards with feedback of each outcome.
    pub outcomes: Vec<OutcomeTally>,
    /// Overridden cards by kind and reason code.
    pub override_reasons: Vec<OutcomeTally>,
    /// Cards with any feedback, by kind.
    pub with_feedback: Vec<(String, i64)>,
    /// Suggestions offered and accepted, by agent.
    pub offered: Vec<(String, i64)>,
    pub accepted: Vec<(String, i64)>,
    /// outcomeTimestamp − issued, in milliseconds, of each feedback item that has both (an
    /// outcome before its card, a client's clock far off, is left out).
    pub delays_ms: Vec<i64>,
    /// Feedback received in the window for cards the store does not know (yet).
    pub unmatched_feedback: i64,
    /// Feedback items that do not count (marked when their card arrived after them).
    pub invalid_feedback: i64,
    /// Calls that examined a ketamine order, by what triggered them as the EHR said (`none`).
    pub triggers: Vec<(String, i64)>,
    /// Each knowledge version and when it was first seen.
    pub versions: Vec<(String, i64)>,
}

/// The row counts of the multi-row INSERTs a batch is cut into, largest first: few statement
/// shapes, so that each engine prepares each once and reuses it. Kept short: SQLite finds a `$N`
/// parameter by a linear search, so a statement of n values costs n² (13 columns × 16 is far
/// below both engines' limits on bound values).
const STATEMENT_ROWS: [usize; 3] = [16, 4, 1];

/// `items` cut into runs of [`STATEMENT_ROWS`] lengths.
fn runs<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut runs = Vec::new();
    for size in STATEMENT_ROWS {
        while items.len() >= size {
            let (run, rest) = items.split_at(size);
            runs.push(run);
            items = rest;
        }
    }
    runs
}

/// A batch's rows by table: cards, suggestions, calls examined, chart-open warnings shown.
type Rows<'a> = (
    &'a [&'a IssuedCard],
    &'a [(&'a IssuedCard, &'a IssuedSuggestion)],
    &'a [&'a ExaminedCall],
    &'a [(&'a String, i64)],
);

/// Ids looked up in one `IN (…)` list, at most.
const LOOKUP_CHUNK: usize = 256;

/// `$1, $2, …, $n`.
fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A query of an `IN ({placeholders})` list with the ids bound, in order.
fn bind_ids<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ids: &[&'q str],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    ids.iter().fold(query, |query, id| query.bind(*id))
}

/// `INSERT INTO table (columns) VALUES ($1, …), (…) ON CONFLICT (key) DO NOTHING` for `rows` rows
/// of `columns` values: a row already kept is skipped (the same SQL on both engines).
fn insert_sql(table: &str, columns: usize, rows: usize, key: &str) -> String {
    let mut sql = format!("INSERT INTO {table} VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * columns + column + 1).to_string());
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (");
    sql.push_str(key);
    sql.push_str(") DO NOTHING");
    sql
}

/// Most delays read for the median.
const MAX_DELAYS: i64 = 100_000;

impl Db {
    /// A pool that connects when first used: the service starts while the database is down,
    /// and the store connects (and migrates) once it is up.
    pub fn connect_lazy(location: &Location) -> Result<Option<Self>, String> {
        static DRIVERS: std::sync::Once = std::sync::Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let Some(url) = location.connect_url() else { return Ok(None) };
        if let Location::Sqlite(path) = location {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("store directory {}: {e}", dir.display()))?;
            }
        }
        let sqlite = matches!(location, Location::Sqlite(_));
        let last_connect_error = Arc::new(std::sync::Mutex::new(None));
        let recorded = last_connect_error.clone();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(3))
            .after_connect(move |connection, _| {
                let recorded = recorded.clone();
                Box::pin(async move {
                    if sqlite {
                        // With the write-ahead log, NORMAL syncs at checkpoints rather than at
                        // every commit: a process crash loses nothing, a power cut at most the
                        // last commits.
                        let set = sqlx::query("PRAGMA synchronous = NORMAL").execute(connection).await;
                        if let Ok(mut last) = recorded.lock() {
                            *last = set.as_ref().err().map(|e| e.to_string());
                        }
                        set?;
                    }
                    Ok(())
                })
            })
            .connect_lazy(&url)
            .map_err(|e| format!("store {}: {e}", location.describe()))?;
        Ok(Some(Self { pool, sqlite, migrated: tokio::sync::OnceCell::new(), last_connect_error }))
    }

    /// What an operator reads of a store error: a pool that timed out is said with why its
    /// last connection was refused, when that is known.
    pub fn explain(&self, error: &sqlx::Error) -> String {
        let last = self.last_connect_error.lock().ok().and_then(|l| l.clone());
        let timed_out = match error {
            sqlx::Error::PoolTimedOut => true,
            sqlx::Error::Migrate(e) => matches!(**e, sqlx::migrate::MigrateError::Execute(sqlx::Error::PoolTimedOut)),
            _ => false,
        };
        match last {
            Some(cause) if timed_out => format!("{error} (the last connection was refused: {cause})"),
            _ => error.to_string(),
        }
    }

    /// PostgreSQL: shared by every replica that names it (SQLite belongs to one process).
    pub fn is_shared(&self) -> bool {
        !self.sqlite
    }

    /// Applies the migrations not yet applied (once per process; PostgreSQL replicas starting
    /// together take turns on an advisory lock).
    pub async fn ready(&self) -> Result<(), sqlx::Error> {
        self.migrated
            .get_or_try_init(|| async {
                let migrations: Vec<Migration> = MIGRATIONS
                    .iter()
                    .map(|(version, description, sql)| {
                        Migration::new(
                            *version,
                            Cow::Borrowed(*description),
                            MigrationType::Simple,
                            Cow::Borrowed(*sql),
                            false,
                        )
                    })
                    .collect();
                let migrator = Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT };
                migrator.run(&self.pool).await.map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
                if self.sqlite {
                    sqlx::query("PRAGMA journal_mode = WAL").fetch_all(&self.pool).await?;
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Writes a batch of the hook path's rows in one transaction, in multi-row INSERTs.
    pub async fn write(&self, events: &[Event]) -> Result<(), sqlx::Error> {
        self.ready().await?;
        let cards: Vec<&IssuedCard> =
            events.iter().filter_map(|e| if let Event::Card(c) = e { Some(c) } else { None }).collect();
        let calls: Vec<&ExaminedCall> =
            events.iter().filter_map(|e| if let Event::Examined(c) = e { Some(c) } else { None }).collect();
        let opens: Vec<(&String, i64)> = events
            .iter()
            .filter_map(|e| if let Event::ChartOpen { patient_key, at } = e { Some((patient_key, *at)) } else { None })
            .collect();
        let suggestions: Vec<(&IssuedCard, &IssuedSuggestion)> =
            cards.iter().flat_map(|c| c.suggestions.iter().map(move |s| (*c, s))).collect();
        let mut conn = self.pool.acquire().await?;
        let written = Self::insert_rows(&mut conn, (&cards, &suggestions, &calls, &opens)).await;
        if written.is_err() {
            // Never back into the pool: see `write_feedback`.
            conn.close_on_drop();
        }
        written?;
        // Feedback that arrived before its card is checked now (a retried batch checks again:
        // marking is idempotent).
        if !cards.is_empty() {
            let uuids: Vec<&str> = cards.iter().map(|c| c.uuid.as_str()).collect();
            self.check_late_feedback(&uuids).await?;
        }
        Ok(())
    }

    /// The rows of a batch in one transaction on `conn`, in multi-row INSERTs.
    async fn insert_rows(
        conn: &mut AnyConnection,
        (cards, suggestions, calls, opens): Rows<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = conn.begin().await?;
        for chunk in runs(cards) {
            let sql = insert_sql(
                "cards (uuid, issued_at, service, hook, hook_instance, kind, indicator, classes, knowledge_version, \
                 patient_key, encounter_key, order_key, suppressed, override_reasons, arm)",
                15,
                chunk.len(),
                "uuid",
            );
            let mut query = sqlx::query(&sql);
            for card in chunk {
                query = query
                    .bind(&card.uuid)
                    .bind(card.issued_at)
                    .bind(&card.service)
                    .bind(&card.hook)
                    .bind(&card.hook_instance)
                    .bind(&card.kind)
                    .bind(&card.indicator)
                    .bind(&card.classes)
                    .bind(&card.knowledge_version)
                    .bind(&card.patient_key)
                    .bind(&card.encounter_key)
                    .bind(&card.order_key)
                    .bind(i64::from(card.suppressed))
                    .bind(card.override_reasons.join("\n"))
                    .bind(&card.arm);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in runs(suggestions) {
            let sql = insert_sql("suggestions (uuid, card_uuid, issued_at, class, agent)", 5, chunk.len(), "uuid");
            let mut query = sqlx::query(&sql);
            for (card, s) in chunk {
                query = query.bind(&s.uuid).bind(&card.uuid).bind(card.issued_at).bind(&s.class).bind(&s.agent);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in runs(calls) {
            let sql = insert_sql(
                "examined (id, at, service, hook, outcome, orders, knowledge_version, trigger_action, arm)",
                9,
                chunk.len(),
                "id",
            );
            let mut query = sqlx::query(&sql);
            for call in chunk {
                query = query
                    .bind(&call.id)
                    .bind(call.at)
                    .bind(&call.service)
                    .bind(&call.hook)
                    .bind(call.outcome.code())
                    .bind(call.orders)
                    .bind(&call.knowledge_version)
                    .bind(&call.trigger)
                    .bind(&call.arm);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in runs(opens) {
            let sql = insert_sql("chart_opens (patient_key, shown_at)", 2, chunk.len(), "patient_key, shown_at");
            let mut query = sqlx::query(&sql);
            for (patient_key, at) in chunk {
                query = query.bind(*patient_key).bind(*at);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// The cards of these uuids the store has, with the override reasons they offered and their
    /// suggestions.
    pub async fn known_cards(&self, uuids: &[&str]) -> Result<Vec<KnownCard>, sqlx::Error> {
        self.ready().await?;
        let mut known: Vec<KnownCard> = Vec::new();
        for chunk in uuids.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT uuid, service, override_reasons, arm FROM cards WHERE uuid IN ({})",
                placeholders(chunk.len())
            );
            for row in bind_ids(sqlx::query(&sql), chunk).fetch_all(&self.pool).await? {
                let reasons: Option<String> = row.try_get(2)?;
                known.push(KnownCard {
                    uuid: row.try_get(0)?,
                    service: row.try_get(1)?,
                    override_reasons: reasons.map(|r| r.lines().map(str::to_owned).collect()),
                    suggestions: Default::default(),
                    arm: row.try_get(3)?,
                });
            }
            let sql =
                format!("SELECT uuid, card_uuid FROM suggestions WHERE card_uuid IN ({})", placeholders(chunk.len()));
            for row in bind_ids(sqlx::query(&sql), chunk).fetch_all(&self.pool).await? {
                let (suggestion, card): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                if let Some(k) = known.iter_mut().find(|k| k.uuid == card) {
                    k.suggestions.insert(suggestion);
                }
            }
        }
        Ok(known)
    }

    /// Checks the counted feedback that names these cards against them, and marks each item
    /// that does not count (with why); the number marked.
    pub async fn check_late_feedback(&self, cards: &[&str]) -> Result<usize, sqlx::Error> {
        self.ready().await?;
        let mut items: Vec<FeedbackRecord> = Vec::new();
        for chunk in cards.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT f.id, f.card_uuid, f.service, f.outcome, f.reason_system, f.reason_code, a.suggestion_uuid \
                 FROM feedback f LEFT JOIN accepted a ON a.feedback_id = f.id \
                 WHERE f.invalid IS NULL AND f.card_uuid IN ({})",
                placeholders(chunk.len())
            );
            for row in bind_ids(sqlx::query(&sql), chunk).fetch_all(&self.pool).await? {
                let id: String = row.try_get(0)?;
                let accepted: Option<String> = row.try_get(6)?;
                if let Some(item) = items.iter_mut().find(|i| i.id == id) {
                    item.accepted.extend(accepted);
                    continue;
                }
                items.push(FeedbackRecord {
                    id,
                    card_uuid: row.try_get(1)?,
                    service: row.try_get(2)?,
                    outcome: row.try_get(3)?,
                    reason_system: row.try_get(4)?,
                    reason_code: row.try_get(5)?,
                    accepted: accepted.into_iter().collect(),
                    ..FeedbackRecord::default()
                });
            }
        }
        if items.is_empty() {
            return Ok(0);
        }
        let named: Vec<&str> = items.iter().map(|i| i.card_uuid.as_str()).collect();
        let known = self.known_cards(&named).await?;
        let mut marked = 0;
        for item in &items {
            let Some(card) = known.iter().find(|k| k.uuid == item.card_uuid) else { continue };
            if let Some(why) = validity::problem(item, card) {
                sqlx::query("UPDATE feedback SET invalid = $1 WHERE id = $2")
                    .bind(why)
                    .bind(&item.id)
                    .execute(&self.pool)
                    .await?;
                marked += 1;
            }
        }
        Ok(marked)
    }

    /// Writes feedback items in one transaction; an item already kept is skipped. `Ok` only when
    /// the transaction that holds them committed.
    ///
    /// A connection whose transaction failed is closed, never returned to the pool: when the
    /// disk is full its rollback fails too, and the connection would stay inside the failed
    /// transaction — the next "transaction" on it a savepoint of that one, "committed" into a
    /// transaction that never is (feedback acknowledged and lost).
    pub async fn write_feedback(&self, items: &[FeedbackRecord]) -> Result<(), sqlx::Error> {
        self.ready().await?;
        let mut conn = self.pool.acquire().await?;
        let written = Self::insert_feedback(&mut conn, items).await;
        if written.is_err() {
            conn.close_on_drop();
        }
        written
    }

    /// Feedback items in one transaction on `conn`; an item already kept is skipped.
    async fn insert_feedback(conn: &mut AnyConnection, items: &[FeedbackRecord]) -> Result<(), sqlx::Error> {
        let mut tx = conn.begin().await?;
        for item in items {
            sqlx::query(
                "INSERT INTO feedback (id, card_uuid, received_at, service, outcome, reason_system, reason_code, \
                 outcome_at, comment, reason_display) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&item.id)
            .bind(&item.card_uuid)
            .bind(item.received_at)
            .bind(&item.service)
            .bind(&item.outcome)
            .bind(&item.reason_system)
            .bind(&item.reason_code)
            .bind(item.outcome_at)
            .bind(&item.comment)
            .bind(&item.reason_display)
            .execute(&mut *tx)
            .await?;
            for suggestion in &item.accepted {
                sqlx::query(
                    "INSERT INTO accepted (feedback_id, suggestion_uuid, received_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (feedback_id, suggestion_uuid) DO NOTHING",
                )
                .bind(&item.id)
                .bind(suggestion)
                .bind(item.received_at)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await
    }

    /// Deletes every row older than `before` (Unix ms); the number deleted.
    pub async fn purge(&self, before: i64) -> Result<u64, sqlx::Error> {
        self.ready().await?;
        let mut deleted = 0;
        for statement in [
            "DELETE FROM cards WHERE issued_at < $1",
            "DELETE FROM suggestions WHERE issued_at < $1",
            "DELETE FROM examined WHERE at < $1",
            "DELETE FROM feedback WHERE received_at < $1",
            "DELETE FROM accepted WHERE received_at < $1",
            "DELETE FROM lifted WHERE lifted_at < $1",
        ] {
            deleted += sqlx::query(statement).bind(before).execute(&self.pool).await?.rows_affected();
        }
        Ok(deleted)
    }

    /// Everything a report over `[since, until)` needs, counted by the database.
    pub async fn tallies(&self, since: i64, until: i64) -> Result<Tallies, sqlx::Error> {
        self.tallies_of(since, until, "live").await
    }

    /// The live arm's tallies, the silent arm's, and each replay run's (`replay:NAME`), for a
    /// report.
    pub async fn tallies_by_arm(&self, since: i64, until: i64) -> Result<Arms, sqlx::Error> {
        let live = self.tallies_of(since, until, "live").await?;
        let silent = self.tallies_of(since, until, "silent").await?;
        let runs: Vec<String> = sqlx::query(
            "SELECT DISTINCT arm FROM examined WHERE at >= $1 AND at < $2 AND arm LIKE 'replay:%' ORDER BY arm LIMIT 100",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        let mut replays = Vec::with_capacity(runs.len());
        for arm in runs {
            let tallies = self.tallies_of(since, until, &arm).await?;
            replays.push((arm.trim_start_matches("replay:").to_owned(), tallies));
        }
        Ok(Arms { live, silent, replays })
    }

    /// The tallies of one rollout arm (`live`, `silent`): the calls and cards of that arm, and
    /// their feedback (a silent card has none; feedback for unknown cards counts as live).
    pub async fn tallies_of(&self, since: i64, until: i64, arm: &str) -> Result<Tallies, sqlx::Error> {
        self.ready().await?;
        // Every query of a report binds the window as $1, $2, the arm as $3, and reads its
        // rows with `read`.
        let window = |sql: &'static str| sqlx::query(sql).bind(since).bind(until).bind(arm.to_owned());
        let live = arm == "live";
        async fn rows<'q, T>(
            query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
            pool: &AnyPool,
            read: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
        ) -> Result<Vec<T>, sqlx::Error> {
            query.fetch_all(pool).await?.iter().map(read).collect()
        }
        let pool = &self.pool;
        let pair = |r: &AnyRow| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?));
        let outcome = |r: &AnyRow| {
            Ok(OutcomeTally {
                kind: r.try_get(0)?,
                outcome: r.try_get(1)?,
                reason_code: r.try_get(2)?,
                reason_display: r.try_get(3)?,
                cards: r.try_get(4)?,
            })
        };
        let examined = rows(
            window(
                "SELECT hook, outcome, knowledge_version, (at - 345600000) / 604800000 AS week, COUNT(*) AS calls, \
                 CAST(SUM(orders) AS BIGINT) AS orders FROM examined WHERE at >= $1 AND at < $2 AND arm = $3 \
                 GROUP BY hook, outcome, knowledge_version, week ORDER BY week, hook, outcome",
            ),
            pool,
            |r| {
                Ok(ExaminedTally {
                    hook: r.try_get(0)?,
                    outcome: r.try_get(1)?,
                    knowledge_version: r.try_get(2)?,
                    week: r.try_get(3)?,
                    calls: r.try_get(4)?,
                    orders: r.try_get(5)?,
                })
            },
        )
        .await?;
        let cards = rows(
            window(
                "SELECT hook, kind, suppressed, (issued_at - 345600000) / 604800000 AS week, COUNT(*) AS n FROM cards \
                 WHERE issued_at >= $1 AND issued_at < $2 AND arm = $3 GROUP BY hook, kind, suppressed, week \
                 ORDER BY week, hook, kind",
            ),
            pool,
            |r| {
                Ok(CardTally {
                    hook: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    suppressed: r.try_get::<i64, _>(2)? != 0,
                    week: r.try_get(3)?,
                    cards: r.try_get(4)?,
                })
            },
        )
        .await?;
        let outcomes = rows(
            window(
                "SELECT c.kind, f.outcome, CAST(NULL AS TEXT), CAST(NULL AS TEXT), COUNT(DISTINCT c.uuid) FROM cards c \
                 JOIN feedback f ON f.card_uuid = c.uuid AND f.invalid IS NULL \
                 WHERE c.issued_at >= $1 AND c.issued_at < $2 AND c.suppressed = 0 AND c.arm = $3 \
                 GROUP BY c.kind, f.outcome ORDER BY c.kind, f.outcome",
            ),
            pool,
            outcome,
        )
        .await?;
        let override_reasons = rows(
            window(
                "SELECT c.kind, f.outcome, f.reason_code, MAX(f.reason_display), COUNT(DISTINCT c.uuid) FROM cards c \
                 JOIN feedback f ON f.card_uuid = c.uuid AND f.invalid IS NULL \
                 WHERE c.issued_at >= $1 AND c.issued_at < $2 AND c.suppressed = 0 AND c.arm = $3 \
                 AND f.outcome = 'overridden' GROUP BY c.kind, f.outcome, f.reason_code ORDER BY c.kind, f.reason_code",
            ),
            pool,
            outcome,
        )
        .await?;
        let with_feedback = rows(
            window(
                "SELECT c.kind, COUNT(*) FROM cards c WHERE c.issued_at >= $1 AND c.issued_at < $2 AND c.suppressed = 0 \
                 AND c.arm = $3 AND EXISTS (SELECT 1 FROM feedback f WHERE f.card_uuid = c.uuid AND f.invalid IS NULL) \
                 GROUP BY c.kind ORDER BY c.kind",
            ),
            pool,
            pair,
        )
        .await?;
        let offered = rows(
            window(
                "SELECT s.agent, COUNT(*) FROM suggestions s JOIN cards c ON c.uuid = s.card_uuid \
                 WHERE s.issued_at >= $1 AND s.issued_at < $2 AND c.suppressed = 0 AND c.arm = $3 \
                 GROUP BY s.agent ORDER BY s.agent",
            ),
            pool,
            pair,
        )
        .await?;
        let accepted = rows(
            window(
                "SELECT s.agent, COUNT(DISTINCT s.uuid) FROM accepted a JOIN suggestions s ON s.uuid = a.suggestion_uuid \
                 JOIN feedback f ON f.id = a.feedback_id AND f.invalid IS NULL JOIN cards c ON c.uuid = s.card_uuid \
                 WHERE s.issued_at >= $1 AND s.issued_at < $2 AND c.arm = $3 GROUP BY s.agent ORDER BY s.agent",
            ),
            pool,
            pair,
        )
        .await?;
        let versions = rows(
            window(
                "SELECT knowledge_version, MIN(at) FROM examined WHERE at >= $1 AND at < $2 AND arm = $3 \
                 GROUP BY knowledge_version ORDER BY MIN(at)",
            ),
            pool,
            pair,
        )
        .await?;
        let triggers = rows(
            window(
                "SELECT COALESCE(trigger_action, 'none'), COUNT(*) FROM examined WHERE at >= $1 AND at < $2 AND arm = $3 \
                 GROUP BY COALESCE(trigger_action, 'none') ORDER BY 1",
            ),
            pool,
            pair,
        )
        .await?;
        let delays_ms = rows(
            window(
                "SELECT f.outcome_at - c.issued_at FROM feedback f JOIN cards c ON c.uuid = f.card_uuid \
                 WHERE c.issued_at >= $1 AND c.issued_at < $2 AND c.arm = $3 AND f.outcome_at >= c.issued_at \
                 AND f.invalid IS NULL LIMIT $4",
            )
            .bind(MAX_DELAYS),
            pool,
            |r| r.try_get::<i64, _>(0),
        )
        .await?;
        // Feedback alone (no card of an arm to read): live.
        let feedback_only = |sql: &'static str| sqlx::query(sql).bind(since).bind(until);
        let (mut unmatched_feedback, mut invalid_feedback) = (0, 0);
        if live {
            unmatched_feedback = feedback_only(
                "SELECT COUNT(*) FROM feedback f WHERE f.received_at >= $1 AND f.received_at < $2 \
                 AND NOT EXISTS (SELECT 1 FROM cards c WHERE c.uuid = f.card_uuid)",
            )
            .fetch_one(pool)
            .await?
            .try_get(0)?;
            invalid_feedback = feedback_only(
                "SELECT COUNT(*) FROM feedback f WHERE f.received_at >= $1 AND f.received_at < $2 \
                 AND f.invalid IS NOT NULL",
            )
            .fetch_one(pool)
            .await?
            .try_get(0)?;
        }
        Ok(Tallies {
            invalid_feedback,
            examined,
            cards,
            outcomes,
            override_reasons,
            with_feedback,
            offered,
            accepted,
            delays_ms,
            unmatched_feedback,
            versions,
            triggers,
        })
    }

    /// Step-therapy cards overridden since `since` (by feedback received), not lifted.
    pub async fn overridden_step_therapy(&self, since: i64) -> Result<Vec<OverriddenCard>, sqlx::Error> {
        self.ready().await?;
        sqlx::query(
            "SELECT c.uuid, c.hook, c.patient_key, c.encounter_key, c.order_key, c.classes, c.knowledge_version, \
             f.reason_system, f.reason_code, f.received_at FROM feedback f JOIN cards c ON c.uuid = f.card_uuid \
             WHERE f.outcome = 'overridden' AND f.invalid IS NULL AND c.kind = 'step-therapy' AND f.received_at >= $1 \
             AND NOT EXISTS (SELECT 1 FROM lifted l WHERE l.card_uuid = c.uuid) ORDER BY f.received_at LIMIT $2",
        )
        .bind(since)
        .bind(MAX_OVERRIDDEN)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(OverriddenCard {
                card_uuid: r.try_get(0)?,
                hook: r.try_get(1)?,
                patient_key: r.try_get(2)?,
                encounter_key: r.try_get(3)?,
                order_key: r.try_get(4)?,
                classes: r.try_get(5)?,
                knowledge_version: r.try_get(6)?,
                reason_system: r.try_get(7)?,
                reason_code: r.try_get(8)?,
                received_at: r.try_get(9)?,
            })
        })
        .collect()
    }

    /// When each patient's chart-open (patient-view) step-therapy warning was last shown, since
    /// `since`.
    pub async fn chart_opens_shown(&self, since: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
        self.ready().await?;
        sqlx::query(
            "SELECT patient_key, MAX(shown_at) FROM chart_opens WHERE shown_at >= $1 GROUP BY patient_key LIMIT $2",
        )
        .bind(since)
        .bind(MAX_OVERRIDDEN)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }

    /// Lifts the snooze of an overridden card; false if it was lifted already.
    pub async fn lift(&self, card_uuid: &str, at: i64) -> Result<bool, sqlx::Error> {
        self.ready().await?;
        let done =
            sqlx::query("INSERT INTO lifted (card_uuid, lifted_at) VALUES ($1, $2) ON CONFLICT (card_uuid) DO NOTHING")
                .bind(card_uuid)
                .bind(at)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a token's key until `expires_at`; false if another process recorded it first.
    pub async fn first_use_of_token(&self, key: &str, expires_at: i64) -> Result<bool, sqlx::Error> {
        self.ready().await?;
        let done = sqlx::query(
            "INSERT INTO replay (token_key, expires_at) VALUES ($1, $2) ON CONFLICT (token_key) DO NOTHING",
        )
        .bind(key)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets the tokens expired before `now`.
    pub async fn forget_expired_tokens(&self, now: i64) -> Result<u64, sqlx::Error> {
        self.ready().await?;
        Ok(sqlx::query("DELETE FROM replay WHERE expires_at < $1").bind(now).execute(&self.pool).await?.rows_affected())
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_batch_is_cut_into_few_statement_shapes() {
        let items: Vec<u32> = (0..75).collect();
        let lengths: Vec<usize> = super::runs(&items).iter().map(|r| r.len()).collect();
        assert_eq!(lengths, [16, 16, 16, 16, 4, 4, 1, 1, 1]);
        assert_eq!(super::runs(&items).concat(), items);
    }

    #[test]
    fn a_multi_row_insert_numbers_its_values_in_order() {
        assert_eq!(
            super::insert_sql("t (a, b)", 2, 2, "a"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT (a) DO NOTHING"
        );
    }
}
