//! The store through the service: a known sequence of hook calls and feedback gives exact
//! counts in `/analytics`; feedback for a card not yet known is kept and joined; the store down
//! never fails a hook call (feedback answers 503, writing resumes); two replicas on one
//! PostgreSQL make one report; the page is admitted only with the admin credentials; and it
//! renders its charts in headless Chromium.

use std::time::{Duration, Instant};

use crate::common::postgres::Postgres;
use crate::common::*;
use ketamine_cds::config::FileConfig;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_sequence_gives_exact_counts_and_late_cards_join_their_feedback() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, FileConfig::default());
    let base = &server.base;
    // Feedback for example 13's step-therapy card before the card exists (sent to another
    // replica first, say): kept, and joined once the card is known. Card uuids are a function
    // of the call, so the offline evaluation names it.
    let contra = example("13-contraindication-heart-failure");
    let offline = evaluate(&contra).unwrap();
    let early = card_of_kind(&offline, "step-therapy")["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        send_feedback(base, "ketamine-order-sign", json!([overridden(&early, "pain-specialist-plan")])).await,
        200
    );
    let report = report_when(base, |r| r["feedback"]["unmatched"] == 1).await;
    assert_eq!(report["examined_orders"], 0);

    let untreated = call(base, &example("01-untreated-patient")).await;
    call(base, &example("02-all-first-line-failed-sign")).await;
    call(base, &example("03-all-first-line-failed-select-info")).await;
    call(base, &example("06-anaesthesia-is-silent")).await;
    let both = call(base, &contra).await;
    call(base, &example("16-no-neuropathic-condition-is-silent")).await;
    assert_eq!(card_of_kind(&both, "step-therapy")["uuid"], early.as_str());
    let step = card_of_kind(&untreated, "step-therapy");
    let taken = step["suggestions"][0]["uuid"].as_str().unwrap();
    let accepted = json!({
        "card": step["uuid"], "outcome": "accepted", "acceptedSuggestions": [{ "id": taken }],
        "outcomeTimestamp": in_minutes(4)
    });
    let warning = card_of_kind(&both, "contraindication")["uuid"].as_str().unwrap().to_owned();
    let items = json!([accepted, overridden(&warning, "not-applicable")]);
    assert_eq!(send_feedback(base, "ketamine-order-sign", items.clone()).await, 200);
    // The EHR retries (it did not see the 200): kept once.
    assert_eq!(send_feedback(base, "ketamine-order-sign", items).await, 200);

    let r = report_when(base, |r| r["examined_orders"] == 6 && r["feedback"]["unmatched"] == 0).await;
    assert_eq!(r["examined_calls"], json!({ "backed": 2, "not-applicable": 2, "warned": 2 }));
    assert_eq!(r["cards"], json!({ "contraindication": 1, "info": 1, "step-therapy": 2 }));
    assert_eq!(r["suppressed"], 0);
    assert_eq!(
        r["feedback"],
        json!({ "overridden": 2, "accepted": 1, "cards_with_feedback": 3, "cards_without_feedback": 1, "unmatched": 0, "invalid": 0 })
    );
    assert_eq!(r["cards_shown"], r["cards"], "nothing held back");
    assert_eq!(r["cards_held_back"], json!({ "contraindication": 0, "info": 0, "step-therapy": 0 }));
    assert_eq!(r["shown_per_100_orders"], r["firings_per_100_orders"]);
    assert_eq!(r["alarm_state"], "not-armed", "one week of data");
    assert_eq!(r["by_hook"]["order-select"], json!({ "examined_orders": 1, "cards": 1, "cards_shown": 1 }));
    assert_eq!(r["by_hook"]["order-sign"], json!({ "examined_orders": 5, "cards": 3, "cards_shown": 3 }));
    assert_eq!(r["override_reasons"], json!({ "not-applicable": 1, "pain-specialist-plan": 1 }));
    assert_eq!(r["accepted_suggestions"], json!({ "Duloxetine 30 mg once daily": 1 }));
    let offered: Vec<(String, i64)> = r["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["agent"].as_str().unwrap().to_owned(), s["offered"].as_i64().unwrap()))
        .collect();
    assert_eq!(offered.len(), 3);
    assert!(offered.iter().all(|(_, n)| *n == 2), "two step-therapy cards offer each agent once: {offered:?}");
    let rate = r["override_rate"].as_f64().unwrap();
    assert!((rate - 2.0 / 3.0).abs() < 1e-9);
    let firings = r["firings_per_100_orders"].as_f64().unwrap();
    assert!((firings - 400.0 / 6.0).abs() < 1e-9, "{firings}");
    assert_eq!(r["override_rate_by_kind"], json!({ "contraindication": 1.0, "step-therapy": 0.5 }));
    assert_eq!(r["weeks"].as_array().unwrap().len(), 1);
    assert_eq!(r["knowledge_versions"][0]["version"], crate::common::knowledge().version());
    assert_eq!(r["alarm"], false);
    let median = r["median_minutes_to_outcome"].as_f64().unwrap();
    assert!((1.9..=4.1).contains(&median), "two outcomes two and four minutes after their cards: {median}");

    // The other formats hold the same report.
    let text =
        client().get(format!("{base}/analytics?format=text&since=2026-01-01&until=2100-01-01")).send().await.unwrap();
    let text = text.text().await.unwrap();
    assert!(text.contains("Ketamine orders examined: 6"), "{text}");
    assert!(text.contains("Pain-specialist treatment plan (pain-specialist-plan): 1"), "reasons by display: {text}");
    assert!(text.contains("Malfunction alarm: not armed yet — control limits need 4 weeks"), "{text}");
    assert!(text.contains("Override rate: shown cards with an overridden feedback item"), "definitions: {text}");
    let csv =
        client().get(format!("{base}/analytics?format=csv&since=2026-01-01&until=2100-01-01")).send().await.unwrap();
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("week_start,hook,kind,"), "{csv}");
    assert!(csv.lines().any(|l| l.contains(",order-sign,step-therapy,")), "{csv}");
    assert!(csv.contains("\nreason_code,reason,cards,share_of_shown_cards_with_feedback\n"), "{csv}");
    assert!(csv.contains("\npain-specialist-plan,Pain-specialist treatment plan,1,0.3333\n"), "{csv}");

    // /metrics shows what was written.
    let metrics = client().get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let written = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ketamine_cds_store_written_rows_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no written rows in {metrics}"));
    assert_eq!(written, 6 + 4, "six calls and four cards");
    assert!(metrics.contains("ketamine_cds_store_queue_depth 0"), "{metrics}");
    assert!(metrics.contains("ketamine_cds_store_dropped_rows_total 0"), "{metrics}");
    assert!(metrics.contains("ketamine_cds_firing_rate_alarm 0"), "{metrics}");

    // Free-text comments are not kept unless the site turns that on; ids are not kept at all.
    drop(server);
    let bytes = std::fs::read(dir.path().join("store.sqlite")).unwrap();
    let haystack = String::from_utf8_lossy(&bytes);
    assert!(!haystack.contains("earlier trials"), "a comment was kept");
    let patient =
        untreated["cards"][0]["suggestions"][0]["actions"][0]["resource"]["subject"]["reference"].as_str().unwrap();
    let id = patient.trim_start_matches("Patient/");
    assert!(!haystack.contains(id), "patient id {id} is in the store");
    assert!(dir.path().join("store.sqlite.key").is_file(), "the per-install secret is kept beside the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_that_does_not_count_is_refused_naming_the_item_or_marked_and_counted_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, FileConfig::default());
    let base = &server.base;
    let answer = call(base, &example("01-untreated-patient")).await;
    let step = card_of_kind(&answer, "step-therapy");
    let uuid = step["uuid"].as_str().unwrap().to_owned();

    // A reason the card did not offer (a typo in the system is another reason): 400, naming it.
    let mut typo = overridden(&uuid, "crps");
    typo["overrideReason"]["reason"]["system"] = json!("https://fhir.ketamine-cds.example/CodeSystem/override-reasons");
    let refused = client()
        .post(format!("{base}/cds-services/ketamine-order-sign/feedback"))
        .json(&json!({ "feedback": [overridden(&uuid, "pain-specialist-plan"), typo] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let outcome = refused.text().await.unwrap();
    assert!(
        outcome.contains("feedback[1]: override reason 'crps'") && outcome.contains("is not one card"),
        "{outcome}"
    );
    assert!(!outcome.contains("feedback[0]"), "the good item is not named: {outcome}");
    // A suggestion the card did not have; the card sent to another service.
    let foreign = json!({ "card": uuid, "outcome": "accepted", "acceptedSuggestions": [{ "id": "not-a-suggestion" }],
                          "outcomeTimestamp": in_minutes(1) });
    assert_eq!(send_feedback(base, "ketamine-order-sign", json!([foreign])).await, 400);
    assert_eq!(send_feedback(base, "ketamine-order-select", json!([overridden(&uuid, "crps")])).await, 400);
    // Nothing of the refused bodies was kept, and no snooze started: the warning still shows.
    let again = call(base, &{
        let mut r = example("01-untreated-patient");
        r["hookInstance"] = json!("0e1f2a3b-0000-4000-8000-000000000001");
        r
    })
    .await;
    card_of_kind(&again, "step-therapy");

    // Feedback before its card (another replica's card, say): kept, checked when the card
    // arrives, and counted apart — not tallied, and no snooze.
    let later = example("13-contraindication-heart-failure");
    let offline = evaluate(&later).unwrap();
    let early = card_of_kind(&offline, "step-therapy")["uuid"].as_str().unwrap().to_owned();
    assert_eq!(send_feedback(base, "ketamine-order-sign", json!([overridden(&early, "made-up-reason")])).await, 200);
    let shown = call(base, &later).await;
    card_of_kind(&shown, "step-therapy");
    let r = report_when(base, |r| r["feedback"]["invalid"] == 1).await;
    assert_eq!(r["feedback"]["overridden"], 0, "{r:#}");
    assert_eq!(r["override_reasons"], json!({}));
    assert_eq!(r["feedback"]["unmatched"], 0);
    let page = get_text(&format!("{base}/analytics?since=2026-01-01&until=2100-01-01")).await;
    assert!(page.contains("<tr><th>Invalid feedback</th><td>1</td></tr>"), "{page}");
    assert!(page.contains("id=\"alarm\">Malfunction alarm: not armed yet"), "the alarm's state in one line");
    assert!(page.contains("<dl id=\"definitions\">") && page.contains("<dt>Firings per 100 orders</dt>"));
    assert!(page.contains("<th>Share of shown cards with feedback</th>"));
    assert!(page.contains("<table id=\"by-hook\">"));
    // The JSON link works in a saved page: the report travels in it.
    let link =
        page.split("id=\"json\" download=\"ketamine-cds-analytics.json\" href=\"data:application/json;base64,").nth(1);
    let encoded = link.and_then(|l| l.split('"').next()).expect("the JSON link");
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    let embedded: Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(embedded["feedback"]["invalid"], 1);
    // The year is on the time axis.
    let week = r["weeks"][0]["week_start"].as_str().unwrap();
    let chart = page.split("id=\"firing-chart\">").nth(1).and_then(|c| c.split("</figure>").next()).unwrap();
    assert!(chart.contains(week), "the chart labels the week {week} with its year: {chart}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_down_never_fails_a_hook_call_and_writing_resumes_when_it_is_back() {
    let pg = Postgres::start();
    let url = pg.database("outage");
    let mut file = FileConfig::default();
    file.store.patient_key_secret = Some("a-site-secret-of-some-length".into());
    file.store.feedback_timeout_ms = 2_000;
    let server = TestServer::start_full(move |c| c.store = Some(url), file);
    let base = &server.base;
    let request = example("01-untreated-patient");
    call(base, &request).await;
    report_when(base, |r| r["examined_orders"] == 1).await;

    pg.stop();
    let mut cards = Vec::new();
    for i in 0..5 {
        let mut r = request.clone();
        r["hookInstance"] = json!(format!("d4b7a0c2-0000-4000-8000-00000000000{i}"));
        let started = Instant::now();
        let answer = call(base, &r).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a hook call waited for the store: {:?}",
            started.elapsed()
        );
        assert_eq!(answer["cards"][0]["indicator"], "warning");
        cards.push(answer["cards"][0]["uuid"].as_str().unwrap().to_owned());
    }
    let status = send_feedback(base, "ketamine-order-sign", json!([overridden(&cards[0], "clinical-trial")])).await;
    assert_eq!(status, 503, "feedback the store cannot keep is refused, so the EHR retries");
    let page = client().get(format!("{base}/analytics")).send().await.unwrap();
    assert_eq!(page.status(), 503);

    pg.start_server();
    let r = report_when(base, |r| r["examined_orders"] == 6).await;
    assert_eq!(r["cards"]["step-therapy"], 6, "the calls made during the outage were written once it was back");
    assert_eq!(send_feedback(base, "ketamine-order-sign", json!([overridden(&cards[0], "clinical-trial")])).await, 200);
    let r = report_when(base, |r| r["feedback"]["overridden"] == 1).await;
    assert_eq!(r["override_reasons"], json!({ "clinical-trial": 1 }));
    let metrics = client().get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let failures = metrics.lines().find_map(|l| l.strip_prefix("ketamine_cds_store_write_failures_total ")).unwrap();
    assert!(failures.parse::<u64>().unwrap() >= 1, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgresql_make_one_report() {
    let pg = Postgres::start();
    let url = pg.database("replicas");
    let (a, b) = (replica(&url, |_| {}), replica(&url, |_| {}));
    let on_a = call(&a.base, &example("01-untreated-patient")).await;
    let on_b = call(&b.base, &example("13-contraindication-heart-failure")).await;
    // Each card's feedback goes to the other replica.
    let st_a = card_of_kind(&on_a, "step-therapy")["uuid"].as_str().unwrap().to_owned();
    let st_b = card_of_kind(&on_b, "step-therapy")["uuid"].as_str().unwrap().to_owned();
    assert_eq!(send_feedback(&b.base, "ketamine-order-sign", json!([overridden(&st_a, "palliative-care")])).await, 200);
    assert_eq!(send_feedback(&a.base, "ketamine-order-sign", json!([overridden(&st_b, "crps")])).await, 200);
    for base in [&a.base, &b.base] {
        let r = report_when(base, |r| r["examined_orders"] == 2 && r["feedback"]["overridden"] == 2).await;
        assert_eq!(r["cards"], json!({ "contraindication": 1, "info": 0, "step-therapy": 2 }));
        assert_eq!(r["override_reasons"], json!({ "crps": 1, "palliative-care": 1 }));
        assert_eq!(r["feedback"]["unmatched"], 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_feedback_is_only_logged_and_there_is_no_report() {
    let server = TestServer::start();
    assert_eq!(send_feedback(&server.base, "ketamine-order-sign", json!([overridden("c1", "crps")])).await, 200);
    let page = client().get(format!("{}/analytics", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("the store is off"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_needs_the_admin_credentials_and_is_never_public_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let store = format!("sqlite:{}", path.display());
    // Authentication required, no [admin]: refused for everyone.
    let mut file = FileConfig::default();
    sandbox_auth(&mut file);
    let s = store.clone();
    let locked = TestServer::start_full(move |c| c.store = Some(s), file.clone());
    let page = client().get(format!("{}/analytics", locked.base)).send().await.unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("[admin]"));
    drop(locked);

    // With [admin]: the bearer token or the basic credentials, nothing else.
    file.admin.bearer_token = Some("an-admin-token-0123456789".into());
    file.admin.basic = Some("informatics:correct horse".into());
    let server = TestServer::start_full(move |c| c.store = Some(store), file);
    let url = format!("{}/analytics", server.base);
    let none = client().get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = client().get(&url).bearer_auth("an-admin-token-012345678X").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let ehr_like = client().get(&url).basic_auth("informatics", Some("wrong")).send().await.unwrap();
    assert_eq!(ehr_like.status(), 401);
    let bearer = client().get(&url).bearer_auth("an-admin-token-0123456789").send().await.unwrap();
    assert_eq!(bearer.status(), 200);
    let csp = bearer.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(bearer.text().await.unwrap().contains("<svg"), "the page draws its charts");
    let basic = client().get(&url).basic_auth("informatics", Some("correct horse")).send().await.unwrap();
    assert_eq!(basic.status(), 200);
    let bad = client().get(format!("{url}?format=pdf")).bearer_auth("an-admin-token-0123456789").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let bad =
        client().get(format!("{url}?since=yesterday")).bearer_auth("an-admin-token-0123456789").send().await.unwrap();
    assert_eq!(bad.status(), 400);
}

/// The page in a real browser: headless Chromium renders it (charts included) to a screenshot
/// kept as a test artefact (`target/tmp/analytics.png`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_renders_its_charts_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, FileConfig::default());
    let base = &server.base;
    let untreated = call(base, &example("01-untreated-patient")).await;
    call(base, &example("13-contraindication-heart-failure")).await;
    call(base, &example("02-all-first-line-failed-sign")).await;
    let card = untreated["cards"][0]["uuid"].as_str().unwrap();
    assert_eq!(
        send_feedback(base, "ketamine-order-sign", json!([overridden(card, "pain-specialist-plan")])).await,
        200
    );
    report_when(base, |r| r["examined_orders"] == 3).await;

    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("the page test needs Chromium: apt-get install chromium");
    let profile = tempfile::tempdir().unwrap();
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("analytics.png");
    let _ = std::fs::remove_file(&shot);
    let url = format!("{base}/analytics?since=2026-01-01&until=2100-01-01");
    let run = |extra: &[String]| {
        std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1000,1600",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs")
    };
    let dom = run(&["--dump-dom".to_owned()]);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(dom.contains("ketamine-cds analytics"), "{dom}");
    assert!(dom.contains("<svg"), "the charts are in the rendered page");
    assert!(dom.contains("id=\"firing-chart\"") && dom.contains("id=\"reasons-chart\""));
    assert!(dom.contains("pain-specialist-plan"));
    let shot_arg = format!("--screenshot={}", shot.display());
    run(&[shot_arg]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(png.len() > 20_000, "a page with charts, not a blank one: {} bytes", png.len());
}

/// An R5 client's suggestions carry `medication.concept`: the analytics still name each
/// suggestion by its agent, read from the cards step's facts, never from the resource's shape
/// (it was recorded as class "unknown" under its label).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_r5_clients_accepted_suggestion_is_counted_for_its_agent() {
    use ketamine_cds::fhir::version::FhirVersion;
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, FileConfig::default());
    let base = &server.base;
    let r5 = crate::common::fhir_versions::write_request(FhirVersion::R5, &example("01-untreated-patient")).unwrap();
    let answer = call(base, &r5).await;
    let step = card_of_kind(&answer, "step-therapy");
    let first = &step["suggestions"][0];
    assert!(first["actions"][0]["resource"]["medication"]["concept"].is_object(), "an R5 order: {first:#}");
    let accepted = json!([{ "card": step["uuid"], "outcome": "accepted", "acceptedSuggestions": [{ "id": first["uuid"] }],
                            "outcomeTimestamp": in_minutes(1) }]);
    assert_eq!(send_feedback(base, "ketamine-order-sign", accepted).await, 200);
    let r = report_when(base, |r| r["feedback"]["accepted"] == 1).await;
    assert_eq!(r["accepted_suggestions"], json!({ "Duloxetine 30 mg once daily": 1 }), "{r:#}");
    let agents: Vec<&str> = r["suggestions"].as_array().unwrap().iter().map(|s| s["agent"].as_str().unwrap()).collect();
    assert!(
        agents.contains(&"Duloxetine 30 mg once daily") && !agents.iter().any(|a| a.starts_with("Order ")),
        "{agents:?}"
    );
}

/// How hard the failover test drives: the suite's default is small enough for any machine;
/// `KETAMINE_CDS_FAILOVER=full` runs the scale (200 calls/s for a minute, the database
/// stopped for 10 s), whose figures BENCHMARKS.md records, and `=baseline` the same load without
/// a fault (what "no added latency" is measured against).
struct Scale {
    calls_per_s: u32,
    seconds: u32,
    faults: bool,
    /// Seconds from the start: the database stopped, started again, restarted with a fast shutdown.
    stop_at: f64,
    start_at: f64,
    restart_fast_at: f64,
}

impl Scale {
    fn chosen() -> Self {
        let full =
            Self { calls_per_s: 200, seconds: 60, faults: true, stop_at: 15.0, start_at: 25.0, restart_fast_at: 45.0 };
        match std::env::var("KETAMINE_CDS_FAILOVER").as_deref() {
            Ok("full") => full,
            Ok("baseline") => Self { faults: false, ..full },
            // Longer than a feedback call's timeout (1 s here), so that some are refused.
            _ => Self { calls_per_s: 25, seconds: 12, faults: true, stop_at: 2.5, start_at: 6.0, restart_fast_at: 9.0 },
        }
    }
}

/// What one paced hook call (and, one in five, its feedback to the other replica) saw.
struct Round {
    at: Duration,
    hook_latency: Duration,
    feedback: Option<u16>,
}

/// Two replicas on one PostgreSQL under paced hook calls and feedback, while the database is
/// stopped (connections cut) and started again, and later restarted with a fast shutdown (open
/// transactions rolled back): no hook call fails or waits, every feedback answered 200 is kept,
/// and the hook calls' rows queued meanwhile are written once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_ride_out_a_database_outage_and_a_fast_restart_losing_nothing_acknowledged() {
    let scale = Scale::chosen();
    let pg = std::sync::Arc::new(Postgres::start());
    let url = pg.database("failover");
    let tune = |f: &mut FileConfig| {
        f.store.memory_refresh_ms = 200;
        f.store.feedback_timeout_ms = 1_000;
    };
    let (a, b) = (replica(&url, tune), replica(&url, tune));
    let bases = std::sync::Arc::new([a.base.clone(), b.base.clone()]);
    let request = example("01-untreated-patient");
    let started = Instant::now();
    // The database's faults, on their own thread (pg_ctl waits).
    let faults = {
        let pg = pg.clone();
        let (stop, start, restart) = (scale.stop_at, scale.start_at, scale.restart_fast_at);
        let faults = scale.faults;
        std::thread::spawn(move || {
            if !faults {
                return;
            }
            let at = |s: f64| std::thread::sleep(Duration::from_secs_f64(s).saturating_sub(started.elapsed()));
            at(stop);
            pg.stop();

            at(start);
            pg.start_server();
            at(restart);
            pg.restart_fast();
        })
    };
    let mut rounds = tokio::task::JoinSet::new();
    let mut pace = tokio::time::interval(Duration::from_secs(1) / scale.calls_per_s);
    // A late tick is made up at once: the rate holds on average.
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = scale.calls_per_s * scale.seconds;
    for n in 0..total {
        pace.tick().await;
        let (bases, mut r) = (bases.clone(), request.clone());
        r["hookInstance"] = json!(format!("7e57fa11-0000-4000-8000-{n:012}"));
        rounds.spawn(async move {
            let at = started.elapsed();
            let answer = call(&bases[n as usize % 2], &r).await;
            let hook_latency = started.elapsed() - at;
            let mut feedback = None;
            if n % 5 == 0 {
                let card = card_uuid(&answer, "step-therapy");
                // To the other replica, as a load balancer may send it.
                let other = &bases[(n as usize + 1) % 2];
                feedback = Some(
                    send_feedback(other, "ketamine-order-sign", json!([overridden(&card, "not-applicable")])).await,
                );
            }
            Round { at, hook_latency, feedback }
        });
    }
    let mut done = Vec::new();
    while let Some(round) = rounds.join_next().await {
        done.push(round.expect("no hook call failed"));
    }
    faults.join().expect("the database's faults ran");
    let elapsed = started.elapsed();
    let calls = done.len() as i64;
    let acknowledged = done.iter().filter(|r| r.feedback == Some(200)).count() as i64;
    let refused = done.iter().filter(|r| r.feedback == Some(503)).count() as i64;
    assert!(done.iter().all(|r| matches!(r.feedback, None | Some(200 | 503))), "feedback is 200 or 503");
    let mut latencies: Vec<Duration> = done.iter().map(|r| r.hook_latency).collect();
    latencies.sort();
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let slowest = |from: f64, to: f64| {
        let span = Duration::from_secs_f64(from)..Duration::from_secs_f64(to);
        done.iter().filter(|r| span.contains(&r.at)).map(|r| r.hook_latency).max().unwrap_or_default()
    };
    eprintln!(
        "failover: {calls} hook calls in {elapsed:.1?} ({:.0}/s), p50 {:?} p99 {:?} max {:?}; slowest before the outage {:?}, \
         during it {:?}, around the fast restart {:?}; feedback {acknowledged} answered 200, {refused} 503",
        calls as f64 / elapsed.as_secs_f64(),
        quantile(0.5),
        quantile(0.99),
        quantile(1.0),
        slowest(0.0, scale.stop_at),
        slowest(scale.stop_at, scale.start_at + 1.0),
        slowest(scale.restart_fast_at - 0.5, scale.restart_fast_at + 2.0),
    );
    assert!(quantile(1.0) < Duration::from_secs(1), "a hook call waited for the database: {:?}", quantile(1.0));
    assert!(refused > 0 || !scale.faults, "the outage was felt by feedback ({acknowledged} acknowledged)");
    for base in bases.iter() {
        let r = report_when(base, |r| r["examined_orders"] == calls).await;
        let kept = r["feedback"]["overridden"].as_i64().unwrap() + r["feedback"]["unmatched"].as_i64().unwrap();
        // A 503 that timed out while its commit went through is kept too (the EHR's retry is
        // then kept once): at least every 200, at most every item sent.
        assert!(
            kept >= acknowledged && kept <= acknowledged + refused,
            "{acknowledged} acknowledged, {kept} kept: {r:#}"
        );
        eprintln!("failover: {kept} feedback items kept, {} hook calls' rows written", r["examined_orders"]);
        // The store's health recovers on its own (ten quiet seconds after the last fault: the
        // snapshot reads and writes succeed again).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = get_text(&format!("{base}/ready")).await;
            if ready.contains("\"store\":{\"status\":\"ok\"}") {
                break;
            }
            assert!(Instant::now() < deadline, "the store never recovered: {ready}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Another process holds the SQLite store's write lock: feedback is answered 503 at the
/// feedback timeout (hook calls go on), and once the lock is released the EHR's retry is kept,
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_store_answers_feedback_503_and_the_retry_is_kept_once() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let mut file = FileConfig::default();
    file.store.feedback_timeout_ms = 1_000;
    let server = sqlite_server(&dir, file);
    let base = &server.base;
    let first = call(base, &example("01-untreated-patient")).await;
    report_when(base, |r| r["examined_orders"] == 1).await;
    let card = card_uuid(&first, "step-therapy");
    // One item, sent while the store is locked and again after (the EHR's retry).
    let item = overridden(&card, "crps");

    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", dir.path().join("store.sqlite").display());
    let mut locker = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut locker).await.unwrap();
    let started = Instant::now();
    assert_eq!(send_feedback(base, "ketamine-order-sign", json!([item.clone()])).await, 503);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let mut next = example("01-untreated-patient");
    next["hookInstance"] = json!("10c4ed00-0000-4000-8000-000000000001");
    assert_eq!(kinds(&call(base, &next).await), ["step-therapy"], "hook calls go on");
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    locker.close().await.unwrap();

    // The EHR retries the same item: kept, once.
    assert_eq!(send_feedback(base, "ketamine-order-sign", json!([item.clone()])).await, 200);
    assert_eq!(send_feedback(base, "ketamine-order-sign", json!([item])).await, 200);
    let r = report_when(base, |r| r["feedback"]["overridden"] == 1 && r["examined_orders"] == 2).await;
    assert_eq!(r["override_reasons"], json!({ "crps": 1 }), "{r:#}");
}
