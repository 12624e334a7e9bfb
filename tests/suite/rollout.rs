//! Rollout (issue 27): a silent service answers no card and records what live would have shown,
//! with the live firing rate over the same calls; a pilot's arms split by its named users and the
//! stable hash of `userId`; a silent chart-open warning starts no interval; the report shows the
//! arms side by side.

use crate::common::*;
use ketamine_cds::call::rollout::bucket;
use ketamine_cds::config::FileConfig;
use ketamine_cds::config::RolloutMode as Mode;
use serde_json::{Value, json};

fn rollout(mode: Mode, users: &[&str], percent: u8) -> FileConfig {
    let mut file = FileConfig::default();
    file.rollout.mode = mode;
    file.rollout.pilot_users = users.iter().map(|u| (*u).to_owned()).collect();
    file.rollout.pilot_percent = percent;
    file.store.memory_refresh_ms = 200;
    file
}

/// Example `name` as call `n` of user `user` (a new hookInstance each).
fn by(name: &str, n: u32, user: Option<&str>) -> Value {
    let mut request = example(name);
    request["hookInstance"] = json!(format!("5e1e47a0-0000-4000-8000-{n:012}"));
    match user {
        Some(user) => request["context"]["userId"] = json!(user),
        None => {
            request["context"].as_object_mut().unwrap().remove("userId");
        }
    }
    request
}

/// The examples a committee would replay: warnings, a contraindication, backed and silent ones.
const CALLS: [&str; 6] = [
    "01-untreated-patient",
    "04-inadequate-tca-trial",
    "13-contraindication-heart-failure",
    "02-all-first-line-failed-sign",
    "06-anaesthesia-is-silent",
    "22-suggestions-ruled-out-by-cirrhosis-and-nstemi",
];

fn silent_cards_metric(metrics: &str) -> i64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("ketamine_cds_cards_silent_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_service_answers_no_card_and_records_what_live_would_have_shown() {
    let (silent_dir, live_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let silent = sqlite_server(&silent_dir, rollout(Mode::Silent, &[], 0));
    let live = sqlite_server(&live_dir, rollout(Mode::Live, &[], 0));
    let mut live_cards = 0;
    for (n, name) in CALLS.iter().enumerate() {
        let request = by(name, n as u32, Some("Practitioner/example"));
        assert_eq!(call(&silent.base, &request).await, json!({ "cards": [] }), "{name}: silent answers no card");
        live_cards += call(&live.base, &request).await["cards"].as_array().unwrap().len() as i64;
    }
    assert!(live_cards >= 4, "the calls fire live: {live_cards}");
    let metrics = get_text(&format!("{}/metrics", silent.base)).await;
    assert_eq!(silent_cards_metric(&metrics), live_cards, "{metrics}");

    let examined = CALLS.len() as i64 - 1; // 06 is anaesthesia: examined, not applicable
    let l = report_when(&live.base, |r| r["examined_orders"].as_i64() >= Some(examined)).await;
    let s = report_when(&silent.base, |r| r["silent"]["examined_orders"] == l["examined_orders"]).await;
    // Nothing was shown: the live figures are empty.
    assert_eq!(s["examined_orders"], 0, "{s:#}");
    assert_eq!(s["cards"], json!({ "step-therapy": 0, "contraindication": 0, "info": 0 }));
    // The silent arm is what live did, figure for figure.
    for key in ["cards", "cards_shown", "cards_held_back", "firings_per_100_orders", "shown_per_100_orders"] {
        assert_eq!(s["silent"][key], l[key], "{key}: silent {s:#} live {l:#}");
    }
    assert_eq!(s["silent"]["weeks"][0]["firings"], l["weeks"][0]["firings"]);
    assert_eq!(l["silent"]["examined_orders"], 0, "a live service has no silent arm");
    // Every format says it.
    let base = format!("{}/analytics?since=2026-01-01&until=2100-01-01", silent.base);
    let text = get_text(&format!("{base}&format=text")).await;
    assert!(text.contains("Silent arm (recorded, not shown)"), "{text}");
    let csv = get_text(&format!("{base}&format=csv")).await;
    assert!(csv.lines().next().unwrap().ends_with(",arm") && csv.contains(",silent\n"), "{csv}");
    let html = get_text(&format!("{base}&format=html")).await;
    assert!(html.contains("id=\"silent-cards\""), "the page shows the silent arm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pilot_is_live_for_its_named_users_and_a_stable_share_of_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, rollout(Mode::Pilot, &["Practitioner/named"], 50));
    let users: Vec<String> = (0..30).map(|i| format!("Practitioner/{i}")).collect();
    let expected_live = |user: &str| user == "Practitioner/named" || bucket(user) < 50;
    let (mut live, mut silent) = (0, 0);
    let everyone = std::iter::once("Practitioner/named").chain(users.iter().map(String::as_str));
    for (n, user) in everyone.enumerate() {
        let answer = call(&server.base, &by("01-untreated-patient", n as u32, Some(user))).await;
        if expected_live(user) {
            assert_eq!(kinds(&answer), ["step-therapy"], "{user} is in the pilot");
            live += 1;
        } else {
            assert_eq!(answer, json!({ "cards": [] }), "{user} is not");
            silent += 1;
        }
    }
    assert!(live > 3 && silent > 3, "both arms have users: {live} live, {silent} silent");
    // The same user is always in the same arm.
    let again = call(&server.base, &by("01-untreated-patient", 900, Some("Practitioner/named"))).await;
    assert_eq!(kinds(&again), ["step-therapy"]);
    // Without a userId there is no clinician in the pilot: silent.
    assert_eq!(call(&server.base, &by("01-untreated-patient", 901, None)).await, json!({ "cards": [] }));
    let r =
        report_when(&server.base, |r| r["examined_orders"] == live + 1 && r["silent"]["examined_orders"] == silent + 1)
            .await;
    assert_eq!(r["cards"]["step-therapy"], live + 1, "{r:#}");
    assert_eq!(r["silent"]["cards"]["step-therapy"], silent + 1, "{r:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_chart_open_warning_starts_no_interval_and_feedback_for_a_live_card_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    let chart_open = |n: u32| by("23-patient-view-running-ketamine-order", n, Some("Practitioner/example"));
    {
        let silent = sqlite_server(&dir, rollout(Mode::Silent, &[], 0));
        assert_eq!(call(&silent.base, &chart_open(1)).await, json!({ "cards": [] }));
        report_when(&silent.base, |r| r["silent"]["examined_orders"] == 1).await;
    }
    // Switched live on the same store: the first chart open shows the warning (the silent one
    // was never seen), the next within the interval does not.
    let live = sqlite_server(&dir, rollout(Mode::Live, &[], 0));
    let first = call(&live.base, &chart_open(2)).await;
    assert_eq!(kinds(&first), ["step-therapy"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut n = 3;
    while !kinds(&call(&live.base, &chart_open(n)).await).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the live warning starts the interval");
        n += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The live card's feedback is kept and counted; the silent card's (a uuid no EHR saw) is
    // its own row, not the live card's.
    override_card(&live.base, "ketamine-patient-view", &card_uuid(&first, "step-therapy"), "crps").await;
    let r = report_when(&live.base, |r| r["feedback"]["overridden"] == 1).await;
    assert_eq!(r["cards"]["step-therapy"], 1, "{r:#}");
    assert_eq!(r["silent"]["cards"]["step-therapy"], 1, "{r:#}");
}
