//! `ketamine-cds snoozes`: the snoozes in force in a store (which overridden step-therapy card
//! holds the warning back, why, since and until when), and lifting one by its card uuid. Patients
//! appear only as the first characters of their keyed hash.

use clap::Args;

use crate::knowledge::Knowledge;
use crate::store::events::millis;
use crate::store::location;
use crate::store::memory::Snapshot;

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
    let location = match super::existing_store(&args.store) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(err, "ketamine-cds snoozes: {e}");
            return 2;
        }
    };
    let now = millis(now);
    let step_therapy = &knowledge.plan.step_therapy;
    let snapshot =
        |rows: &[crate::store::db::OverriddenCard]| Snapshot::build(rows, |s, c| step_therapy.snooze_days(s, c), now);
    let result = match &args.lift {
        Some(card) => super::with_store(&location, async |db| {
            let in_force = snapshot(&db.overridden_step_therapy(0).await?)
                .snoozes
                .values()
                .flatten()
                .any(|s| &s.card_uuid == card);
            if in_force {
                db.lift(card, now).await?;
            }
            Ok(in_force)
        })
        .and_then(|in_force| {
            if in_force {
                Ok(format!("lifted: the step-therapy warning of card {card} shows again\n"))
            } else {
                Err(format!("no snooze in force for card {card}"))
            }
        }),
        None => super::with_store(&location, async |db| {
            db.overridden_step_therapy(step_therapy.snooze_look_back(now, 0)).await
        })
        .map(|rows| {
            let snapshot = snapshot(&rows);
            let mut listed: Vec<(&String, &crate::store::memory::Snooze)> =
                snapshot.snoozes.iter().flat_map(|(patient, list)| list.iter().map(move |s| (patient, s))).collect();
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
            text
        }),
    };
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
