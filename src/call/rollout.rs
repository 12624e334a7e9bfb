//! Rollout: whether a call's cards are shown (`live`) or only recorded (`silent`), as a CDS
//! committee switches a rule on — silent first, then a pilot for some clinicians, then live.
//! Pure: the arm is a function of the site's `[rollout]`, the calling issuer's own mode and the
//! call's `userId`; a pilot's share is a stable hash of the `userId`, so a clinician is always
//! in or always out, on every replica and in every version.

use serde::Serialize;

use super::Evaluation;
use crate::config::{RolloutConfig, RolloutMode as Mode};

/// The arm of one call: its cards are shown, or recorded as what would have been shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    #[default]
    Live,
    Silent,
}

impl Arm {
    /// As the store and the log name it.
    pub fn name(self) -> &'static str {
        match self {
            Arm::Live => "live",
            Arm::Silent => "silent",
        }
    }
}

/// Puts an evaluation (computed exactly as live) in its arm: a silent one answers no card, and
/// keeps the cards it would have shown in `silenced` (recorded as such by the store).
///
/// A silenced card and its suggestions get uuids of their own (derived from the live ones): a
/// card's uuid may be stable across calls (a chart-open warning's is), and the silent record
/// of one must never stand for the live card a pilot's clinician is later shown.
pub fn apply(evaluation: &mut Evaluation, arm: Arm) {
    evaluation.arm = arm;
    if arm == Arm::Silent {
        evaluation.silenced = std::mem::take(&mut evaluation.response.cards);
        for card in &mut evaluation.silenced {
            card.uuid = silent_uuid(&card.uuid);
            for suggestion in &mut card.suggestions {
                suggestion.uuid = silent_uuid(&suggestion.uuid);
            }
        }
    }
}

fn silent_uuid(live: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("silent|{live}").as_bytes()).to_string()
}

/// The arm of a call by `user` under `config`, the calling issuer's mode (`issuer`) overriding
/// the site's. In a pilot, a call without a `userId` is silent (no clinician to be in it).
pub fn arm(config: &RolloutConfig, issuer: Option<Mode>, user: Option<&str>) -> Arm {
    match issuer.unwrap_or(config.mode) {
        Mode::Live => Arm::Live,
        Mode::Silent => Arm::Silent,
        Mode::Pilot => match user {
            Some(user) if config.pilot_users.iter().any(|u| u == user) => Arm::Live,
            Some(user) if bucket(user) < u32::from(config.pilot_percent.min(100)) => Arm::Live,
            _ => Arm::Silent,
        },
    }
}

/// The user's bucket, 0..100: the first eight bytes of SHA-256("ketamine-cds-pilot:" + userId),
/// big-endian, modulo 100 (documented, so a site can say in advance who is in).
pub fn bucket(user: &str) -> u32 {
    stable_bucket("ketamine-cds-pilot:", user, 100)
}

/// `0..n` for `id`: the first eight bytes of SHA-256(`salt` + `id`), big-endian, modulo `n` (at
/// least 1) — the same on every machine and in every version, with no secret to share. A pilot's
/// share and a replay's shards are cut by it.
pub fn stable_bucket(salt: &str, id: &str, n: u32) -> u32 {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(salt.as_bytes());
    context.update(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&context.finish().as_ref()[..8]);
    (u64::from_be_bytes(first) % u64::from(n.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pilot(users: &[&str], percent: u8) -> RolloutConfig {
        RolloutConfig {
            mode: Mode::Pilot,
            pilot_users: users.iter().map(|u| (*u).to_owned()).collect(),
            pilot_percent: percent,
        }
    }

    #[test]
    fn live_and_silent_ignore_the_user_and_an_issuers_mode_wins() {
        let live = RolloutConfig::default();
        assert_eq!(arm(&live, None, Some("Practitioner/1")), Arm::Live);
        assert_eq!(arm(&live, Some(Mode::Silent), Some("Practitioner/1")), Arm::Silent);
        let silent = RolloutConfig { mode: Mode::Silent, ..RolloutConfig::default() };
        assert_eq!(arm(&silent, None, None), Arm::Silent);
        assert_eq!(arm(&silent, Some(Mode::Live), None), Arm::Live);
    }

    #[test]
    fn a_pilot_takes_its_named_users_and_a_stable_share_of_the_others() {
        let config = pilot(&["Practitioner/named"], 0);
        assert_eq!(arm(&config, None, Some("Practitioner/named")), Arm::Live);
        assert_eq!(arm(&config, None, Some("Practitioner/other")), Arm::Silent);
        assert_eq!(arm(&config, None, None), Arm::Silent, "no userId: no clinician in the pilot");
        assert_eq!(arm(&pilot(&[], 100), None, Some("Practitioner/any")), Arm::Live);
        // The hash is fixed: these values are what a site computes to know who is in.
        assert_eq!(bucket("Practitioner/1"), bucket("Practitioner/1"));
        let users: Vec<String> = (0..2_000).map(|i| format!("Practitioner/{i}")).collect();
        let in_pilot = users.iter().filter(|u| arm(&pilot(&[], 30), None, Some(u)) == Arm::Live).count();
        assert!((500..700).contains(&in_pilot), "about 30% of 2,000: {in_pilot}");
        // A larger share keeps everyone a smaller one had.
        for u in &users {
            if arm(&pilot(&[], 30), None, Some(u)) == Arm::Live {
                assert_eq!(arm(&pilot(&[], 60), None, Some(u)), Arm::Live);
            }
        }
    }
}
