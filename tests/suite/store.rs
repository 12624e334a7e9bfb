//! The card and outcome store on both engines: every query against a known sequence of cards,
//! calls and feedback (exact counts), on SQLite and on a real PostgreSQL (tests/common/postgres.rs);
//! idempotent writes; retention.

use ketamine_cds::call::{CallIds, CallOutcome};
use ketamine_cds::report::{self, Window};
use ketamine_cds::store::Location;
use ketamine_cds::store::db::{Db, WEEK_MS};
use ketamine_cds::store::events::{Event, ExaminedCall, FeedbackRecord, IssuedCard, IssuedSuggestion};

/// Monday 2026-11-02 00:00 UTC.
const W0: i64 = 1_793_577_600_000;
const W1: i64 = W0 + WEEK_MS;
const MINUTE: i64 = 60_000;

fn examined(id: &str, at: i64, hook: &str, outcome: CallOutcome, orders: i64, version: &str) -> Event {
    Event::Examined(ExaminedCall {
        id: id.into(),
        at,
        service: format!("ketamine-{hook}"),
        hook: hook.into(),
        outcome,
        orders,
        knowledge_version: version.into(),
        // Calls on chart open say what triggered them (Epic's "60": open patient chart).
        trigger: (hook == "patient-view").then(|| "60".into()),
        arm: "live".into(),
    })
}

fn card(uuid: &str, at: i64, hook: &str, kind: &str, suggestions: &[(&str, &str)], version: &str) -> Event {
    Event::Card(IssuedCard {
        uuid: uuid.into(),
        issued_at: at,
        service: format!("ketamine-{hook}"),
        hook: hook.into(),
        hook_instance: format!("hi-{uuid}"),
        kind: kind.into(),
        indicator: if kind == "info" { "info" } else { "warning" }.into(),
        classes: "snri=not-documented,gabapentinoid=not-documented,tca=not-documented".into(),
        knowledge_version: version.into(),
        patient_key: "p".repeat(64),
        encounter_key: Some("e".repeat(64)),
        order_key: "o".repeat(64),
        suppressed: false,
        arm: "live".into(),
        suggestions: suggestions
            .iter()
            .map(|(id, agent)| IssuedSuggestion { uuid: (*id).into(), class: "snri".into(), agent: (*agent).into() })
            .collect(),
        // Every test card offers the step-therapy card's override reasons.
        override_reasons: crate::common::knowledge()
            .plan
            .step_therapy
            .override_reasons
            .iter()
            .map(|r| format!("{}|{}", r.system, r.code))
            .collect(),
    })
}

fn feedback(
    id: &str,
    card: &str,
    outcome: &str,
    reason: Option<&str>,
    outcome_at: Option<i64>,
    accepted: &[&str],
) -> FeedbackRecord {
    FeedbackRecord {
        id: id.into(),
        card_uuid: card.into(),
        received_at: outcome_at.unwrap_or(W1 + 3 * MINUTE),
        service: "ketamine-order-sign".into(),
        outcome: outcome.into(),
        reason_system: reason.map(|_| "https://fhir.ketamine-cds.example/CodeSystem/override-reason".into()),
        reason_code: reason.map(Into::into),
        reason_display: None,
        outcome_at,
        comment: None,
        accepted: accepted.iter().map(|s| (*s).into()).collect(),
    }
}

const AGENTS: [(&str, &str); 3] = [("s1", "Duloxetine"), ("s2", "Gabapentin"), ("s3", "Amitriptyline")];

/// Two weeks: five calls (six orders), four cards, four feedback items (one for an unknown card,
/// one sent twice).
fn sequence() -> (Vec<Event>, Vec<FeedbackRecord>) {
    let a: Vec<(&str, &str)> = AGENTS.iter().map(|(id, agent)| (*id, *agent)).collect();
    let d: Vec<(String, &str)> = AGENTS.iter().map(|(id, agent)| (format!("d-{id}"), *agent)).collect();
    let d: Vec<(&str, &str)> = d.iter().map(|(id, agent)| (id.as_str(), *agent)).collect();
    let events = vec![
        examined("call-a", W0 + MINUTE, "order-select", CallOutcome::Warned, 1, "v1"),
        card("a1", W0 + MINUTE, "order-select", "step-therapy", &a, "v1"),
        card("a2", W0 + MINUTE, "order-select", "contraindication", &[], "v1"),
        examined("call-b", W0 + 2 * MINUTE, "order-sign", CallOutcome::NotApplicable, 1, "v1"),
        examined("call-c", W0 + 3 * MINUTE, "order-sign", CallOutcome::Backed, 2, "v1"),
        examined("call-d", W1 + MINUTE, "order-sign", CallOutcome::Warned, 1, "v2"),
        card("d1", W1 + MINUTE, "order-sign", "step-therapy", &d, "v2"),
        examined("call-e", W1 + 2 * MINUTE, "order-select", CallOutcome::Backed, 1, "v2"),
        card("e1", W1 + 2 * MINUTE, "order-select", "info", &[], "v2"),
    ];
    let feedback = vec![
        feedback("f1", "a1", "overridden", Some("pain-specialist-plan"), Some(W0 + 3 * MINUTE), &[]),
        feedback("f1", "a1", "overridden", Some("pain-specialist-plan"), Some(W0 + 3 * MINUTE), &[]),
        feedback("f2", "a2", "overridden", Some("crps"), Some(W0 + 5 * MINUTE), &[]),
        feedback("f3", "d1", "accepted", None, Some(W1 + 7 * MINUTE), &["d-s1"]),
        feedback("f4", "unknown-card", "overridden", Some("not-applicable"), None, &[]),
    ];
    (events, feedback)
}

async fn check_every_query(db: &Db) {
    let (events, items) = sequence();
    db.write(&events).await.expect("events written");
    // A batch written again (a retry) is kept once.
    db.write(&events[..3]).await.expect("a retried batch is taken");
    db.write_feedback(&items).await.expect("feedback written");

    let window = Window { since: W0, until: W1 + WEEK_MS };
    let tallies = db.tallies(window.since, window.until).await.expect("tallies");
    assert_eq!(tallies.examined.iter().map(|e| e.calls).sum::<i64>(), 5);
    assert_eq!(tallies.unmatched_feedback, 1);
    assert_eq!(tallies.versions.iter().map(|(v, _)| v.as_str()).collect::<Vec<_>>(), ["v1", "v2"]);
    let mut delays = tallies.delays_ms.clone();
    delays.sort_unstable();
    assert_eq!(delays, [2 * MINUTE, 4 * MINUTE, 6 * MINUTE]);

    let r = report::build(tallies, window);
    assert_eq!(r.examined_orders, 6);
    assert_eq!(r.examined_calls.get("warned"), Some(&2));
    assert_eq!(r.examined_calls.get("backed"), Some(&2));
    assert_eq!(r.examined_calls.get("not-applicable"), Some(&1));
    assert_eq!(r.cards.get("step-therapy"), Some(&2));
    assert_eq!(r.cards.get("contraindication"), Some(&1));
    assert_eq!(r.cards.get("info"), Some(&1));
    assert_eq!(r.suppressed, 0);
    assert_eq!(r.feedback.cards_with_feedback, 3);
    assert_eq!(r.feedback.overridden, 2);
    assert_eq!(r.feedback.accepted, 1);
    assert_eq!(r.feedback.cards_without_feedback, 1);
    assert_eq!(r.feedback.unmatched, 1);
    assert_eq!(r.override_rate, Some(2.0 / 3.0));
    assert_eq!(r.override_rate_by_kind.get("step-therapy"), Some(&0.5));
    assert_eq!(r.override_rate_by_kind.get("contraindication"), Some(&1.0));
    assert_eq!(r.override_reasons.get("pain-specialist-plan"), Some(&1));
    assert_eq!(r.override_reasons.get("crps"), Some(&1));
    assert_eq!(r.override_reasons.len(), 2, "the unknown card's reason is not joined: {:?}", r.override_reasons);
    assert_eq!(r.accepted_suggestions.get("Duloxetine"), Some(&1));
    assert_eq!(r.accepted_suggestions.len(), 1);
    let duloxetine = r.suggestions.iter().find(|s| s.agent == "Duloxetine").expect("offered");
    assert_eq!((duloxetine.offered, duloxetine.accepted, duloxetine.acceptance_rate), (2, 1, Some(0.5)));
    assert_eq!(r.cards_without_feedback.get("info"), Some(&1));
    assert_eq!(r.median_minutes_to_outcome, Some(4.0));
    let rate = r.firings_per_100_orders.expect("a rate");
    assert!((rate - 400.0 / 6.0).abs() < 1e-9, "{rate}");
    assert_eq!(r.weeks.len(), 2);
    assert_eq!(r.weeks[0].week_start, "2026-11-02");
    assert_eq!((r.weeks[0].examined_orders, r.weeks[0].firings), (4, 2));
    assert_eq!(r.weeks[0].firings_per_100_orders, Some(50.0));
    // order-select examined one order in week 0 and gave it two cards.
    assert_eq!(r.weeks[0].by_hook["order-select"]["step-therapy"], 100.0);
    assert_eq!(r.weeks[1].firings_per_100_orders, Some(100.0));
    assert_eq!(r.knowledge_versions.len(), 2);
    assert!(!r.alarm, "two weeks set no control limits");

    // The late card joins the feedback kept for it.
    db.write(&[card("unknown-card", W1 + 4 * MINUTE, "order-sign", "step-therapy", &[], "v2")]).await.unwrap();
    let r = report::build(db.tallies(window.since, window.until).await.unwrap(), window);
    assert_eq!(r.feedback.unmatched, 0);
    assert_eq!(r.feedback.overridden, 3);
    assert_eq!(r.override_reasons.get("not-applicable"), Some(&1));

    // A window is a window: week 1 alone.
    let r = report::build(db.tallies(W1, W1 + WEEK_MS).await.unwrap(), Window { since: W1, until: W1 + WEEK_MS });
    assert_eq!(r.examined_orders, 2);
    assert_eq!(r.weeks.len(), 1);

    // Retention: everything before week 1 goes.
    let deleted = db.purge(W1).await.expect("purge");
    assert_eq!(deleted, 3 + 2 + 3 + 2, "3 calls, 2 cards, 3 suggestions, 2 feedback items of week 0");
    let r = report::build(db.tallies(window.since, window.until).await.unwrap(), window);
    assert_eq!(r.examined_orders, 2);
    assert_eq!(r.cards.get("step-therapy"), Some(&2), "d1 and the late card");
    assert_eq!(r.weeks.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::parse(&format!("sqlite:{}", dir.path().join("store.sqlite").display())).unwrap();
    let db = Db::connect_lazy(&location).unwrap().expect("a database");
    check_every_query(&db).await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_on_postgresql() {
    let pg = crate::common::postgres::Postgres::start();
    let location = Location::parse(&pg.database("queries")).unwrap();
    let db = Db::connect_lazy(&location).unwrap().expect("a database");
    check_every_query(&db).await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_a_second_process_finds_them_applied() {
    let pg = crate::common::postgres::Postgres::start();
    let url = pg.database("twice");
    let location = Location::parse(&url).unwrap();
    let (a, b) = (Db::connect_lazy(&location).unwrap().unwrap(), Db::connect_lazy(&location).unwrap().unwrap());
    let (ra, rb) = tokio::join!(a.ready(), b.ready());
    ra.expect("first replica migrates");
    rb.expect("second replica finds the schema");
    let tallies = a.tallies(0, i64::MAX).await.unwrap();
    assert!(tallies.examined.is_empty());
}

#[test]
fn call_ids_are_never_shown() {
    let ids = CallIds {
        hook_instance: "h".into(),
        patient_id: "patient-123".into(),
        encounter_id: Some("enc-9".into()),
        user_id: Some("Practitioner/7".into()),
    };
    assert_eq!(format!("{ids:?}"), "CallIds(..)");
}
