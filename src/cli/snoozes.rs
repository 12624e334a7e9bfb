//! `ketamine-cds snoozes`: the snoozes in force in a store (which overridden step-therapy card
//! holds the warning back, why, since and until when), and lifting one by its card uuid. Patients
//! appear only as the first characters of their keyed hash.

use clap::Args;

use crate::knowledge::Knowledge;
use crate::store::db::Db;
use crate::store::events::millis;
use crate::store::memory::Snapshot;
use crate::store::{Location, location};

#[derive(Debug, Clone, Args)]
pub struct SnoozesArgs {
    /// The store: sqlite:PATH or postgres://user@host:port/db.
    #[arg(long, env = "KETAMINE_CDS_STORE", default_value = location::DEFAULT, value_name = "URL")]
    pub store: String,
    /// The profiles whose override reasons set the snooze periods (default: the embedded ones).
    #[arg(long, env = "KETAMINE_CDS_PROFILES", value_name = "DIR")]
    pub profiles: Option<std::path::PathBuf>,
    /// Lift the snooze of this overridden card (its uuid, as listed): the warning shows again.
    #[arg(long, value_name = "CARD_UUID")]
    pub lift: Option<String>,
}

/// Lists (or lifts); the exit code (2: bad arguments or no store, 1: the store failed or no
/// such snooze).
pub fn run(
    args: &SnoozesArgs,
    knowledge: &Knowledge,
    now: time::OffsetDateTime,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    let location = match Location::parse(&args.store) {
        Ok(Location::Sqlite(path)) if !path.is_file() => {
            let _ = writeln!(err, "ketamine-cds snoozes: no store at {}", path.display());
            return 2;
        }
        Ok(Location::None) => {
            let _ = writeln!(err, "ketamine-cds snoozes: --store none keeps no snoozes");
            return 2;
        }
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds snoozes: {e}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds snoozes: {e}");
            return 1;
        }
    };
    let now = millis(now);
    let step_therapy = &knowledge.plan.step_therapy;
    let result = runtime.block_on(async {
        let db = Db::connect_lazy(&location)?.ok_or_else(|| "no store".to_owned())?;
        let describe = |e: sqlx::Error| format!("store {}: {e}", location.describe());
        let outcome = match &args.lift {
            Some(card) => {
                let rows = db.overridden_step_therapy(0).await.map_err(describe)?;
                let snapshot = Snapshot::build(&rows, |s, c| step_therapy.snooze_days(s, c), now);
                if !snapshot.snoozes.values().flatten().any(|s| &s.card_uuid == card) {
                    Err(format!("no snooze in force for card {card}"))
                } else {
                    db.lift(card, now).await.map_err(describe)?;
                    Ok(format!("lifted: the step-therapy warning of card {card} shows again\n"))
                }
            }
            None => {
                let longest = step_therapy.snooze_days.iter().flatten().copied().max().unwrap_or(0);
                let since = now.saturating_sub(i64::from(longest) * 86_400_000);
                let rows = db.overridden_step_therapy(since).await.map_err(describe)?;
                let snapshot = Snapshot::build(&rows, |s, c| step_therapy.snooze_days(s, c), now);
                let mut listed: Vec<(&String, &crate::store::memory::Snooze)> = snapshot
                    .snoozes
                    .iter()
                    .flat_map(|(patient, list)| list.iter().map(move |s| (patient, s)))
                    .collect();
                listed.sort_by_key(|(_, s)| s.since);
                let mut text = format!("{} snoozes in force\n", listed.len());
                for (patient, s) in listed {
                    text.push_str(&format!(
                        "{}  patient {}…  {}  since {}  until {}  knowledge {}  classes {}\n",
                        s.card_uuid,
                        patient.get(..12).unwrap_or(patient),
                        s.reason_code,
                        crate::report::instant(s.since),
                        crate::report::instant(s.until),
                        s.knowledge_version,
                        s.classes
                    ));
                }
                Ok(text)
            }
        };
        db.close().await;
        outcome
    });
    match result {
        Ok(text) => {
            let _ = out.write_all(text.as_bytes());
            0
        }
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds snoozes: {e}");
            1
        }
    }
}
