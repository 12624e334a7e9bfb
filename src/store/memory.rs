//! What the hook path remembers from the store without waiting for it: the snoozes (a
//! step-therapy card overridden with a reason that carries a snooze period) and the overrides on
//! order-select that order-sign must not repeat. Rebuilt from the store every few seconds (so
//! every replica on one PostgreSQL sees what another recorded) and at once after a feedback
//! call on this replica; the hook path only reads the last snapshot.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use super::db::OverriddenCard;

/// A step-therapy warning not shown again for a patient until `until`, while the rule's version
/// and the class statuses are those the overridden card showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snooze {
    pub card_uuid: String,
    pub reason_code: String,
    pub knowledge_version: String,
    pub classes: String,
    pub since: i64,
    pub until: i64,
}

/// One snapshot of what the store says.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Snoozes by patient key.
    pub snoozes: HashMap<String, Vec<Snooze>>,
    /// (patient, encounter, order) keys of step-therapy cards overridden on order-select.
    pub overridden_on_select: HashSet<(String, String, String)>,
    /// When a chart-open (patient-view) step-therapy warning was last shown, by patient key.
    pub chart_open_shown: HashMap<String, i64>,
}

impl Snapshot {
    /// The snapshot of the overridden step-therapy cards under the card's override reasons
    /// (their snooze periods).
    pub fn of_overrides(rows: &[OverriddenCard], step_therapy: &crate::knowledge::plan::CardText, now: i64) -> Self {
        Self::build(rows, |system, code| step_therapy.snooze_days(system, code), now)
    }

    /// Builds the snapshot from the overridden step-therapy cards, given each reason's snooze
    /// period (days) and the time.
    pub fn build(
        rows: &[OverriddenCard],
        snooze_days: impl Fn(Option<&str>, Option<&str>) -> Option<u32>,
        now: i64,
    ) -> Self {
        let mut snapshot = Snapshot::default();
        for row in rows {
            if row.hook == "order-select" {
                if let Some(encounter) = &row.encounter_key {
                    snapshot.overridden_on_select.insert((
                        row.patient_key.clone(),
                        encounter.clone(),
                        row.order_key.clone(),
                    ));
                }
            }
            let Some(days) = snooze_days(row.reason_system.as_deref(), row.reason_code.as_deref()) else { continue };
            let until = row.received_at.saturating_add(i64::from(days) * 86_400_000);
            if until <= now {
                continue;
            }
            snapshot.snoozes.entry(row.patient_key.clone()).or_default().push(Snooze {
                card_uuid: row.card_uuid.clone(),
                reason_code: row.reason_code.clone().unwrap_or_default(),
                knowledge_version: row.knowledge_version.clone(),
                classes: row.classes.clone(),
                since: row.received_at,
                until,
            });
        }
        snapshot
    }

    /// The snooze in force for this patient's step-therapy card with these facts (the rule's
    /// version and the class statuses the overridden card showed), if any.
    pub fn snooze(&self, patient_key: &str, knowledge_version: &str, classes: &str, now: i64) -> Option<&Snooze> {
        self.snoozes
            .get(patient_key)
            .into_iter()
            .flatten()
            .find(|s| s.until > now && s.knowledge_version == knowledge_version && s.classes == classes)
    }

    /// Whether the step-therapy card of these orders was overridden on order-select in this
    /// encounter (no encounter: never).
    pub fn overridden_on_select(&self, patient_key: &str, encounter_key: Option<&str>, order_key: &str) -> bool {
        encounter_key.is_some_and(|encounter| {
            self.overridden_on_select.contains(&(patient_key.to_owned(), encounter.to_owned(), order_key.to_owned()))
        })
    }
}

/// The latest snapshot, swapped whole; and the chart-open warnings this replica showed since
/// (the store has them a moment later, the next snapshot from then on).
#[derive(Default)]
pub struct Memory(RwLock<Arc<Snapshot>>, std::sync::Mutex<HashMap<String, i64>>);

impl Memory {
    pub fn current(&self) -> Arc<Snapshot> {
        self.0.read().map(|s| Arc::clone(&s)).unwrap_or_default()
    }

    pub fn replace(&self, snapshot: Snapshot) {
        if let Ok(mut current) = self.0.write() {
            *current = Arc::new(snapshot);
        }
    }

    /// Whether a chart-open warning was shown to this patient after `since` (in the snapshot or
    /// by this replica); when not, records that it is shown `now`. One decision under one lock,
    /// so two chart opens at once show it once.
    pub fn chart_open_due(&self, patient_key: &str, since: i64, now: i64) -> bool {
        let Ok(mut local) = self.1.lock() else { return true };
        let shown = self.current().chart_open_shown.get(patient_key).copied();
        let last = shown.into_iter().chain(local.get(patient_key).copied()).max();
        if last.is_some_and(|at| at > since) {
            return false;
        }
        local.retain(|_, at| *at > since);
        local.insert(patient_key.to_owned(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overridden(hook: &str, reason: &str, received_at: i64) -> OverriddenCard {
        OverriddenCard {
            card_uuid: format!("card-{hook}-{reason}"),
            hook: hook.into(),
            patient_key: "patient".into(),
            encounter_key: Some("encounter".into()),
            order_key: "order".into(),
            classes: "snri=not-documented".into(),
            knowledge_version: "v1".into(),
            reason_system: None,
            reason_code: Some(reason.into()),
            received_at,
        }
    }

    const DAY: i64 = 86_400_000;

    fn days(_: Option<&str>, code: Option<&str>) -> Option<u32> {
        (code == Some("plan")).then_some(90)
    }

    #[test]
    fn a_snooze_holds_while_version_and_classes_are_unchanged_and_until_it_expires() {
        let rows = [overridden("order-sign", "plan", 0)];
        let snapshot = Snapshot::build(&rows, days, DAY);
        let classes = "snri=not-documented";
        let held = snapshot.snooze("patient", "v1", classes, DAY).unwrap();
        assert_eq!(
            (held.card_uuid.as_str(), held.reason_code.as_str(), held.until),
            ("card-order-sign-plan", "plan", 90 * DAY)
        );
        assert_eq!(snapshot.snooze("other", "v1", classes, DAY), None, "another patient");
        assert_eq!(snapshot.snooze("patient", "v2", classes, DAY), None, "a new rule version");
        assert_eq!(snapshot.snooze("patient", "v1", "snri=failed", DAY), None, "new evidence");
        assert_eq!(snapshot.snooze("patient", "v1", classes, 90 * DAY + 1), None, "expired");
        assert!(Snapshot::build(&rows, days, 91 * DAY).snoozes.is_empty(), "an expired snooze is not kept");
    }

    #[test]
    fn an_order_select_override_is_known_only_for_that_encounter_and_order() {
        let rows = [overridden("order-select", "none", 0)];
        let snapshot = Snapshot::build(&rows, days, DAY);
        assert!(snapshot.snoozes.is_empty(), "no snooze period");
        assert!(snapshot.overridden_on_select("patient", Some("encounter"), "order"));
        assert!(!snapshot.overridden_on_select("patient", Some("other"), "order"));
        assert!(!snapshot.overridden_on_select("patient", Some("encounter"), "another-order"));
        assert!(!snapshot.overridden_on_select("patient", None, "order"), "no encounter, no match");
        let on_sign = [overridden("order-sign", "none", 0)];
        assert!(Snapshot::build(&on_sign, days, DAY).overridden_on_select.is_empty());
    }
}
