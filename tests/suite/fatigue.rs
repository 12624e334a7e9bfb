//! Alert-fatigue controls against the real service: snoozes (recorded on one replica, honoured
//! by the other; ended early by changed evidence; never over the contraindication warning),
//! no repeat from order-select to order-sign after an override in the same encounter, the card
//! options an EHR negotiates, and `ketamine-cds snoozes` listing and lifting.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::postgres::Postgres;
use crate::common::*;
use ketamine_cds::config::FileConfig;
use serde_json::{Value, json};

/// The example with a hookInstance of its own (each call of a test is a new call).
fn fresh(mut request: Value, n: u32) -> Value {
    request["hookInstance"] = json!(format!("5f0c9a7e-0000-4000-8000-{n:012}"));
    request
}

/// Example 01 as an order-select call in `encounter` (the same draft order as on order-sign).
fn selected(encounter: &str, n: u32) -> Value {
    let mut r = fresh(example("01-untreated-patient"), n);
    r["hook"] = json!("order-select");
    r["context"]["selections"] = json!(["MedicationRequest/ketamine-draft"]);
    r["context"]["encounterId"] = json!(encounter);
    r
}

fn signed(encounter: &str, n: u32) -> Value {
    let mut r = fresh(example("01-untreated-patient"), n);
    r["context"]["encounterId"] = json!(encounter);
    r
}

/// Calls (each time a new call: `request(attempt)`) until the answer's card kinds are
/// `expected` (the other replica reads the store every 200 ms here), within 10 s; the answer
/// and the attempts it took.
async fn until_kinds(base: &str, request: impl Fn(u32) -> Value, expected: &[&str]) -> (Value, u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for attempt in 0.. {
        let answer = call(base, &request(attempt)).await;
        if kinds(&answer) == expected {
            return (answer, attempt + 1);
        }
        assert!(Instant::now() < deadline, "never {expected:?}: {:?}", kinds(&answer));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snooze_recorded_on_one_replica_is_honoured_by_the_other_and_counted_as_suppressed() {
    let pg = Postgres::start();
    let url = pg.database("snooze");
    let faster = |f: &mut FileConfig| f.store.memory_refresh_ms = 200;
    let (a, b) = (replica(&url, faster), replica(&url, faster));
    let first = call(&a.base, &fresh(example("01-untreated-patient"), 1)).await;
    override_card(&a.base, "ketamine-order-sign", &card_uuid(&first, "step-therapy"), "pain-specialist-plan").await;
    // The next order for the patient, on the other replica: no card.
    let (held, attempts) = until_kinds(&b.base, |i| fresh(example("01-untreated-patient"), 100 + i), &[]).await;
    assert_eq!(held["cards"], json!([]));
    // And on this one at once.
    assert!(kinds(&call(&a.base, &fresh(example("01-untreated-patient"), 3)).await).is_empty());
    // The analytics still see the firings.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get_json(&format!("{}/analytics?format=json&since=2026-01-01&until=2100-01-01", a.base)).await;
        // Shown: the first card and B's calls before it read the override; held: B's last, A's.
        if r["examined_orders"].as_i64() == Some(2 + i64::from(attempts)) {
            assert_eq!(r["suppressed"], 2);
            assert_eq!(r["cards"]["step-therapy"], 2 + i64::from(attempts));
            break;
        }
        assert!(Instant::now() < deadline, "{r:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = client().get(format!("{}/metrics", a.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ketamine_cds_cards_suppressed_total 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snooze_ends_when_the_class_statuses_change_and_never_covers_the_contraindication() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, FileConfig::default());
    let base = &server.base;
    let first = call(base, &fresh(example("01-untreated-patient"), 10)).await;
    override_card(base, "ketamine-order-sign", &card_uuid(&first, "step-therapy"), "first-line-failures-elsewhere")
        .await;
    assert!(kinds(&call(base, &fresh(example("01-untreated-patient"), 11)).await).is_empty(), "snoozed");
    // The same patient, now with an inadequate TCA trial on record: the class statuses differ
    // from what the overridden card showed, so the warning shows again.
    let changed = call(base, &fresh(example("04-inadequate-tca-trial"), 12)).await;
    assert_eq!(kinds(&changed), ["step-therapy"]);
    // A new version of the rule (a site's edited PlanDefinition) ends it too.
    let profiles = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("profiles")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, profiles.path().join(path.file_name().unwrap())).unwrap();
    }
    let plan = profiles.path().join("PlanDefinition-ketamine-step-therapy.json");
    let mut definition = read_json(&plan);
    definition["version"] = json!("2026.12.0-site-edit");
    std::fs::write(&plan, definition.to_string()).unwrap();
    let edited = {
        let (path, dir) = (dir.path().join("store.sqlite"), profiles.path().to_owned());
        TestServer::start_with(move |c| {
            c.store = Some(format!("sqlite:{}", path.display()));
            c.profiles = Some(dir);
        })
    };
    assert!(kinds(&call(base, &fresh(example("01-untreated-patient"), 17)).await).is_empty(), "still snoozed here");
    assert_eq!(kinds(&call(&edited.base, &fresh(example("01-untreated-patient"), 18)).await), ["step-therapy"]);
    drop(edited);

    // A reason without a snooze period holds nothing back.
    let other = call(base, &fresh(example("04-inadequate-tca-trial"), 15)).await;
    override_card(base, "ketamine-order-sign", &card_uuid(&other, "step-therapy"), "not-applicable").await;
    assert_eq!(kinds(&call(base, &fresh(example("04-inadequate-tca-trial"), 16)).await), ["step-therapy"]);

    // Heart failure on record (a store of its own, so no earlier snooze): the step-therapy card
    // snoozed, the contraindication warning still shown.
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, FileConfig::default());
    let base = &server.base;
    let heart = |n: u32| fresh(example("13-contraindication-heart-failure"), n);
    let both = call(base, &heart(13)).await;
    assert_eq!(kinds(&both), ["step-therapy", "contraindication"]);
    override_card(base, "ketamine-order-sign", &card_uuid(&both, "step-therapy"), "clinical-trial").await;
    let again = call(base, &heart(14)).await;
    assert_eq!(kinds(&again), ["contraindication"]);
    assert_eq!(again["cards"][0]["indicator"], "warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_sign_does_not_repeat_a_card_overridden_on_order_select_in_the_same_encounter() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, FileConfig::default());
    let base = &server.base;
    // Shown on order-select without feedback: shown again on sign (the clinician may not have
    // seen it).
    call(base, &selected("encounter-a", 20)).await;
    assert_eq!(kinds(&call(base, &signed("encounter-a", 21)).await), ["step-therapy"]);
    // Overridden on order-select ("does not apply": no snooze): not repeated on sign …
    let select = call(base, &selected("encounter-a", 22)).await;
    override_card(base, "ketamine-order-select", &card_uuid(&select, "step-therapy"), "not-applicable").await;
    assert!(kinds(&call(base, &signed("encounter-a", 23)).await).is_empty());
    // … but in another encounter it is.
    assert_eq!(kinds(&call(base, &signed("encounter-b", 24)).await), ["step-therapy"]);
    // An EHR that wants the repeat says so.
    let mut wanted = signed("encounter-a", 25);
    wanted["extension"] = json!({ "davinci-crd.configuration": { "filter-out-repeated-alerts": false } });
    assert_eq!(kinds(&call(base, &wanted).await), ["step-therapy"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_card_option_is_advertised_and_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, FileConfig::default());
    let base = &server.base;
    let discovery = get_json(&format!("{base}/cds-services")).await;
    // Every service advertises every option (their list is unit-tested in hooks::options) with
    // the defaults: 10 cards, a chart-open warning once in 7 days.
    let advertised = ketamine_cds::hooks::options::CardOptions::default().discovery();
    for service in discovery["services"].as_array().unwrap() {
        assert_eq!(service["extension"], advertised);
        let options = service["extension"]["davinci-crd.configuration-options"].as_array().unwrap();
        assert_eq!(options.len(), 5);
        assert_eq!((&options[1]["default"], &options[4]["default"]), (&json!(10), &json!(7)));
    }
    // Each call a call of its own (the store keeps a card once per hookInstance).
    let n = std::cell::Cell::new(500);
    let with = |name: &str, config: Value| {
        n.set(n.get() + 1);
        let mut r = fresh(example(name), n.get());
        r["extension"] = json!({ "davinci-crd.configuration": config });
        r
    };
    let both = "13-contraindication-heart-failure";
    assert_eq!(kinds(&call(base, &with(both, json!({}))).await), ["step-therapy", "contraindication"]);
    assert_eq!(
        kinds(&call(base, &with(both, json!({ "max-cards": 1 }))).await),
        ["contraindication"],
        "the safety card first"
    );
    assert!(kinds(&call(base, &with(both, json!({ "max-cards": 0 }))).await).is_empty());
    let info = "03-all-first-line-failed-select-info";
    assert_eq!(kinds(&call(base, &with(info, json!({}))).await), ["info"]);
    assert!(kinds(&call(base, &with(info, json!({ "show-info-cards": false }))).await).is_empty());
    assert!(kinds(&call(base, &with(info, json!({ "alert-non-serious": false }))).await).is_empty());
    assert_eq!(
        kinds(&call(base, &with(info, json!({ "some-other-option": 3 }))).await),
        ["info"],
        "unknown options are ignored"
    );
    let wrong = post_hook(base, &with(both, json!({ "max-cards": "one" }))).await;
    assert_eq!(wrong.status(), 400);
    let outcome = wrong.text().await.unwrap();
    assert!(outcome.contains("davinci-crd.configuration.max-cards") && outcome.contains("integer"), "{outcome}");
    // A card an option held back is still a firing: recorded, as held back (1 + 2 + 1 + 1).
    // (The rows are written through a queue: wait for the last call's.)
    let shown = json!({ "contraindication": 2, "info": 2, "step-therapy": 1 });
    let report = report_when(base, |r| r["suppressed"] == 5 && r["cards_shown"] == shown).await;
    assert_eq!(report["cards_held_back"], json!({ "contraindication": 1, "info": 2, "step-therapy": 2 }));
    // Suggestions are offered only by the step-therapy card shown (once each), not the held ones.
    let suggestions = report["suggestions"].as_array().unwrap();
    assert!(!suggestions.is_empty() && suggestions.iter().all(|s| s["offered"] == 1), "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_defaults_come_from_the_config_and_are_advertised() {
    let mut file = FileConfig::default();
    file.cards.max_cards = 1;
    file.cards.show_info_cards = false;
    let server = TestServer::start_full(|_| {}, file);
    let discovery: Value =
        client().get(format!("{}/cds-services", server.base)).send().await.unwrap().json().await.unwrap();
    let options = &discovery["services"][0]["extension"]["davinci-crd.configuration-options"];
    assert_eq!(options[1]["default"], 1);
    assert_eq!(options[2]["default"], false);
    let both = call(&server.base, &example("13-contraindication-heart-failure")).await;
    assert_eq!(kinds(&both), ["contraindication"]);
    assert!(kinds(&call(&server.base, &example("03-all-first-line-failed-select-info")).await).is_empty());
    // A request may still ask for more.
    let mut asked = example("13-contraindication-heart-failure");
    asked["extension"] = json!({ "davinci-crd.configuration": { "max-cards": 5 } });
    assert_eq!(kinds(&call(&server.base, &asked).await), ["step-therapy", "contraindication"]);
}

/// A SQLite-backed server (snapshot read every 200 ms) where example 01's step-therapy warning
/// (call `n`) was overridden with a reason that snoozes it; the overridden card's uuid.
async fn snoozed(n: u32) -> (tempfile::TempDir, TestServer, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut file = FileConfig::default();
    file.store.memory_refresh_ms = 200;
    let server = sqlite_server(&dir, file);
    let first = call(&server.base, &fresh(example("01-untreated-patient"), n)).await;
    let card = card_uuid(&first, "step-therapy");
    override_card(&server.base, "ketamine-order-sign", &card, "pain-specialist-plan").await;
    (dir, server, card)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snoozes_are_listed_and_a_lifted_one_shows_the_warning_again() {
    let (dir, server, card) = snoozed(30).await;
    let base = &server.base;
    assert!(kinds(&call(base, &fresh(example("01-untreated-patient"), 31)).await).is_empty());

    let store = format!("sqlite:{}", dir.path().join("store.sqlite").display());
    let snoozes = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
            .args(["snoozes", "--store", &store])
            .args(extra)
            .env_remove("KETAMINE_CDS_STORE")
            .env_remove("KETAMINE_CDS_PROFILES")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, listed, _) = snoozes(&[]);
    assert_eq!(code, Some(0));
    assert!(listed.starts_with("1 snoozes in force"), "{listed}");
    assert!(listed.contains(&card) && listed.contains("pain-specialist-plan"), "{listed}");
    assert!(!listed.contains("example-patient"), "no patient id: {listed}");
    let (code, _, err) = snoozes(&["--lift", "no-such-card"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no snooze in force"), "{err}");
    // A second override of the same patient's warning: lifting one says the other holds.
    let again = card_uuid(&call_unheld(base, &fresh(example("01-untreated-patient"), 32)).await, "step-therapy");
    override_card(base, "ketamine-order-sign", &again, "pain-specialist-plan").await;
    let (code, lifted, _) = snoozes(&["--lift", &card]);
    assert_eq!(code, Some(0), "{lifted}");
    assert!(lifted.contains(&format!("lifted: the snooze of card {card}; 1 other snooze(s)")), "{lifted}");
    assert!(lifted.contains(&again) && lifted.contains("stays held back"), "{lifted}");
    assert!(kinds(&call(base, &fresh(example("01-untreated-patient"), 33)).await).is_empty(), "still held");
    let (code, lifted, _) = snoozes(&["--lift", &again]);
    assert_eq!(code, Some(0), "{lifted}");
    assert!(lifted.contains("no other snooze covers the patient: the step-therapy warning shows again"), "{lifted}");
    until_kinds(base, |i| fresh(example("01-untreated-patient"), 200 + i), &["step-therapy"]).await;
    assert!(snoozes(&[]).1.starts_with("0 snoozes in force"));
}

/// A call through the playground's endpoint: the answer with the held-back cards.
async fn call_unheld(base: &str, request: &Value) -> Value {
    let hook = request["hook"].as_str().unwrap();
    let url = format!("{base}/playground/cds-services/{}", service_for(hook));
    let response = client().post(url).json(request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body: Value = response.json().await.unwrap();
    // The held-back cards, as cards (what the playground shows greyed out).
    let held: Vec<Value> = body["extension"]["ketamine-cds-held-back"]
        .as_array()
        .map(|h| h.iter().map(|h| h["card"].clone()).collect())
        .unwrap_or_default();
    body["cards"].as_array_mut().unwrap().extend(held);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_back_card_is_shown_as_such_to_the_playground_and_evaluate_and_its_snooze_lifted_there() {
    let (dir, server, card) = snoozed(40).await;
    let base = &server.base;

    // The EHR sees nothing; the playground sees the card, held back by that snooze.
    let request = fresh(example("01-untreated-patient"), 41);
    assert_eq!(call(base, &request).await, json!({ "cards": [] }));
    let url = format!("{base}/playground/cds-services/ketamine-order-sign");
    let shown: Value = client().post(&url).json(&request).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["cards"], json!([]));
    let held = &shown["extension"]["ketamine-cds-held-back"];
    assert_eq!(held.as_array().unwrap().len(), 1, "{shown:#}");
    assert_eq!(held[0]["heldBy"], "snooze");
    assert_eq!(held[0]["overriddenCard"], card.as_str());
    assert_eq!(held[0]["card"]["extension"]["ketamine-cds-card"]["kind"], "step-therapy");
    let why = held[0]["why"].as_str().unwrap();
    assert!(why.starts_with("held back by a snooze until ") && why.contains("'pain-specialist-plan'"), "{why}");

    // evaluate --store prints it as held back (and reads the store only).
    let store = format!("sqlite:{}", dir.path().join("store.sqlite").display());
    let output = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["evaluate", "--store", &store, "examples/hooks/01-untreated-patient.json"])
        .current_dir(repo())
        .env_remove("KETAMINE_CDS_PROFILES")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert!(out.contains("no card shown (the EHR would see none)"), "{out}");
    assert!(out.contains("[HELD BACK] held back by a snooze until") && out.contains("[WARNING]"), "{out}");
    assert!(err.contains("1 card(s) held back by what the store remembers"), "{err}");
    let without = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["evaluate", "examples/hooks/01-untreated-patient.json"])
        .current_dir(repo())
        .env_remove("KETAMINE_CDS_PROFILES")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&without.stdout).contains("HELD BACK"), "no store, nothing held back");
    let missing = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(["evaluate", "--store", "sqlite:/no/such/dir/x.db", "examples/hooks/01-untreated-patient.json"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--store: no store at /no/such/dir/x.db"));

    // Lifted from the page: the warning shows again; lifting it again is a 404 naming the card.
    let lift = format!("{base}/playground/snoozes/{card}/lift");
    let lifted = client().post(&lift).send().await.unwrap();
    assert_eq!(lifted.status(), 200);
    assert_eq!(lifted.json::<Value>().await.unwrap(), json!({ "lifted": card, "stillInForce": [] }));
    assert_eq!(kinds(&call(base, &fresh(example("01-untreated-patient"), 42)).await), ["step-therapy"]);
    let again = client().post(&lift).send().await.unwrap();
    assert_eq!(again.status(), 404);
    assert!(again.text().await.unwrap().contains("no snooze in force for card"));
}

/// Example 01 as Epic sends it (its request extension tells the service it is Epic).
fn epic_call(n: u32) -> Value {
    let mut request = fresh(example("01-untreated-patient"), n);
    request["extension"] = json!({ "com.epic.cdshooks.request.bpa-trigger-action": "23" });
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epic_override_with_our_reason_starts_the_snooze() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, FileConfig::default());
    let first = call(&server.base, &epic_call(1)).await;
    let card = card_uuid(&first, "step-therapy");
    // Epic: `overrideReasons` (plural), one object holding the reason the service sent.
    let status = send_feedback(&server.base, "ketamine-order-sign",
        json!([{ "card": card, "outcome": "overridden", "outcomeTimestamp": "2026-12-02T10:00:00Z",
                 "overrideReasons": { "reason": { "system": "https://fhir.ketamine-cds.example/CodeSystem/override-reason",
                                                  "code": "first-line-failures-elsewhere",
                                                  "display": "First-line failures documented elsewhere" },
                                      "userComment": "see outside records" } }]),
    )
    .await;
    assert_eq!(status, 200);
    assert!(kinds(&call(&server.base, &epic_call(2)).await).is_empty(), "the next order is not warned again");
    let r = report_when(&server.base, |r| r["feedback"]["overridden"] == 1).await;
    assert_eq!(r["override_reasons"]["first-line-failures-elsewhere"], 1, "{r:#}");
    assert_eq!(
        r["override_reason_displays"]["first-line-failures-elsewhere"],
        "First-line failures documented elsewhere"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epic_built_reason_is_kept_by_its_display_starts_no_snooze_unless_mapped_and_a_batch_keeps_every_item() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, FileConfig::default());
    let first = call(&server.base, &epic_call(1)).await;
    let second = call(&server.base, &epic_call(2)).await;
    let epic_reason = json!({ "extension": {
        "com.epic.cdshooks.feedback.overrideReason.reasonCategory": "45",
        "com.epic.cdshooks.feedback.overrideReason.reasonDisplay": "Does not meet criteria",
        "com.epic.cdshooks.feedback.overrideReason.reasonTitle": "Not applicable" } });
    // A batch: an Epic-built override, an accepted create suggestion, and a card of another day.
    let accepted_suggestion = second["cards"][0]["suggestions"][0]["uuid"].clone();
    let status = send_feedback(&server.base, "ketamine-order-sign",
        json!([
            { "card": card_uuid(&first, "step-therapy"), "outcome": "overridden", "overrideReasons": epic_reason, "outcomeTimestamp": "2026-12-02T10:00:00Z" },
            { "card": card_uuid(&second, "step-therapy"), "outcome": "accepted", "acceptedSuggestions": [{ "id": accepted_suggestion }], "outcomeTimestamp": "2026-12-02T10:01:00Z" },
            { "card": "7", "outcome": "overridden", "overrideReasons": epic_reason, "outcomeTimestamp": "2026-11-20T10:00:00Z" }
        ]),
    )
    .await;
    assert_eq!(status, 200);
    let r = report_when(&server.base, |r| r["feedback"]["overridden"] == 1 && r["feedback"]["accepted"] == 1).await;
    assert_eq!(r["feedback"]["unmatched"], 1, "the unknown card's item is kept too: {r:#}");
    assert_eq!(r["override_reasons"]["45"], 1, "{r:#}");
    assert_eq!(r["override_reason_displays"]["45"], "Does not meet criteria");
    assert_eq!(
        r["accepted_suggestions"]["Duloxetine 30 mg once daily"], 1,
        "an accepted Epic create counts for its agent: {r:#}"
    );
    // Epic's own reason means nothing the service can act on: the next order is warned.
    assert_eq!(kinds(&call(&server.base, &epic_call(3)).await), ["step-therapy"]);
    // One item of an unknown shape: the whole batch is refused, naming it.
    let bad = send_feedback(
        &server.base,
        "ketamine-order-sign",
        json!([{ "card": "x", "outcome": "accepted", "outcomeTimestamp": "t" }, { "card": 5 }]),
    )
    .await;
    assert_eq!(bad, 400);

    // A site that maps Epic's category 45 to one of the service's reasons: its snooze applies.
    let dir = tempfile::tempdir().unwrap();
    let mut file = FileConfig::default();
    file.feedback.epic_reason_map.insert("45".into(), "pain-specialist-plan".into());
    let mapped = sqlite_server(&dir, file);
    let first = call(&mapped.base, &epic_call(1)).await;
    let status = send_feedback(&mapped.base, "ketamine-order-sign",
        json!([{ "card": card_uuid(&first, "step-therapy"), "outcome": "overridden", "overrideReasons": epic_reason, "outcomeTimestamp": "2026-12-02T10:00:00Z" }]),
    )
    .await;
    assert_eq!(status, 200);
    assert!(kinds(&call(&mapped.base, &epic_call(2)).await).is_empty(), "mapped to a reason with a snooze");
}

/// Example 23 (a running ketamine order, the chart opened) as Epic sends it on opening a chart.
fn chart_open(n: u32) -> Value {
    let mut request = fresh(example("23-patient-view-running-ketamine-order"), n);
    request["extension"] = json!({ "com.epic.cdshooks.request.bpa-trigger-action": "60" });
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_open_warning_shows_once_per_patient_in_the_interval_across_replicas_and_is_counted_by_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = FileConfig::default();
    file.store.memory_refresh_ms = 200;
    let a = sqlite_server(&dir, file.clone());
    assert_eq!(kinds(&call(&a.base, &chart_open(1)).await), ["step-therapy"]);
    // The chart opened again on the same replica, at once: not shown again (default 7 days).
    assert!(kinds(&call(&a.base, &chart_open(2)).await).is_empty());
    // A request may ask for every chart open.
    let mut every = chart_open(3);
    every["extension"]["davinci-crd.configuration"] = json!({ "patient-view-interval-days": 0 });
    assert_eq!(kinds(&call(&a.base, &every).await), ["step-therapy"]);
    // Another replica on the same store learns it from the store.
    let b = sqlite_server(&dir, file);
    until_kinds(&b.base, |i| chart_open(100 + i), &[]).await;
    // Every chart open is a call the analytics count by its trigger ("60": open patient chart);
    // the card itself is one row, the same card on every chart open.
    let r = report_when(&a.base, |r| r["examined_by_trigger"]["60"].as_i64() >= Some(3)).await;
    assert_eq!(r["cards"]["step-therapy"], 1, "{r:#}");
    let metrics = client().get(format!("{}/metrics", a.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ketamine_cds_cards_suppressed_total 1"), "{metrics}");
    let text = get_text(&format!("{}/analytics?format=text&since=2026-01-01&until=2100-01-01", a.base)).await;
    assert!(text.contains("calls by EHR trigger: 60: "), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_with_a_snooze_reason_holds_the_chart_open_warning_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = FileConfig::default();
    // Every chart open, so that only the snooze can hold the card back.
    file.cards.patient_view_interval_days = 0;
    let server = sqlite_server(&dir, file);
    let first = call(&server.base, &chart_open(1)).await;
    assert_eq!(kinds(&first), ["step-therapy"]);
    assert_eq!(kinds(&call(&server.base, &chart_open(2)).await), ["step-therapy"], "interval 0: shown again");
    override_card(&server.base, "ketamine-patient-view", &card_uuid(&first, "step-therapy"), "pain-specialist-plan")
        .await;
    assert!(kinds(&call(&server.base, &chart_open(3)).await).is_empty(), "snoozed");
}
