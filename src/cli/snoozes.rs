//! `ketamine-cds snoozes`: the snoozes in force in a store (which overridden step-therapy card
//! holds the warning back, why, since and until when), and lifting one by its card uuid. Patients
//! appear only as the first characters of their keyed hash.

use clap::Args;

use crate::clock::millis;
use crate::knowledge::Knowledge;
use crate::store::Lifted;
use crate::store::location;
use crate::store::memory::{Snapshot, Snooze};

#[derive(Debug, Clone, Args)]
pub struct SnoozesArgs {
    /// The store: sqlite:PATH or postgres://user@host:port/db.
    #[arg(long, env = "KETAMINE_CDS_STORE", default_value = location::DEFAULT, value_name = "URL")]
    pub store: String,
    /// The profiles whose override reasons set the snooze periods (default: the embedded ones).
    #[arg(long, env = "KETAMINE_CDS_PROFILES", value_name = "DIR")]
    pub profiles: Option<std::path::PathBuf>,
    /// Lift the snooze of this overridden card (its uuid, as listed); says which other snoozes
    /// still hold the patient's warning back.
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
    let snapshot = |rows: &[crate::store::db::OverriddenCard]| Snapshot::of_overrides(rows, step_therapy, now);
    let result = match &args.lift {
        Some(card) => super::with_store(&location, async |db| crate::store::lift(db, step_therapy, card, now).await)
            .and_then(|lifted| lifted_text(card, &lifted)),
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
                    "{}  patient {}…  {}\n",
                    s.card_uuid,
                    patient.get(..12).unwrap_or(patient),
                    line(s)
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

/// A snooze's reason, period and the facts it is bound to.
fn line(s: &Snooze) -> String {
    format!(
        "{}  since {}  until {}  knowledge {}  classes {}",
        s.reason_code,
        crate::clock::instant(s.since),
        crate::clock::instant(s.until),
        s.knowledge_version,
        s.classes
    )
}

/// What `--lift` says: lifted, and whether another snooze still holds the patient's warning.
fn lifted_text(card: &str, lifted: &Lifted) -> Result<String, String> {
    if !lifted.was_in_force {
        return Err(format!("no snooze in force for card {card}"));
    }
    if lifted.still_in_force.is_empty() {
        return Ok(format!(
            "lifted: the snooze of card {card}; no other snooze covers the patient: the step-therapy warning shows again\n"
        ));
    }
    let mut text = format!(
        "lifted: the snooze of card {card}; {} other snooze(s) of this patient still in force — the warning stays \
         held back while one of them matches the rule version and the class statuses:\n",
        lifted.still_in_force.len()
    );
    for s in &lifted.still_in_force {
        text.push_str(&format!("{}  {}\n", s.card_uuid, line(s)));
    }
    Ok(text)
}
