//! The informatics workflow on the command line: `evaluate` in each format, over hook requests,
//! Bundles and directories, `--check` against expectations, `check-profiles`, and the same cards
//! from the CLI as from the HTTP API for every example.

mod common;

use std::process::{Command, Output};

use common::*;
use serde_json::{Value, json};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ketamine-cds"))
        .args(args)
        .current_dir(repo())
        .env_remove("KETAMINE_CDS_PROFILES")
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const NOW: &str = "2026-11-21";

#[test]
fn text_format_shows_the_card_as_an_ehr_would() {
    let o = cli(&["evaluate", "--now", NOW, "examples/hooks/01-untreated-patient.json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("[WARNING] Ketamine for neuropathic pain: no documented failure of SNRI, gabapentinoid and TCA"),
        "{text}"
    );
    assert!(text.contains("★ Order duloxetine 30 mg once daily (SNRI, Level I, Grade A)"), "{text}");
    assert!(text.contains("delete MedicationRequest/ketamine-draft"), "{text}");
    assert!(text.contains("Override reasons: First-line failures documented elsewhere"), "{text}");
    assert!(!text.contains("\x1b["), "no colour when not a terminal");
    assert!(stderr(&o).contains("evaluated 1 case(s): 1 with cards, 0 silent, 0 error(s)"));
}

#[test]
fn json_format_is_exactly_the_http_response() {
    let o =
        cli(&["evaluate", "--now", NOW, "--format", "json", "examples/hooks/13-contraindication-heart-failure.json"]);
    assert!(o.status.success());
    let printed: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(printed, read_json(&repo().join("examples/hooks/13-contraindication-heart-failure.response.json")));
}

#[test]
fn markdown_format_makes_a_report() {
    let o = cli(&[
        "evaluate",
        "--now",
        NOW,
        "--format",
        "markdown",
        "examples/hooks/13-contraindication-heart-failure.json",
        "examples/hooks/06-anaesthesia-is-silent.json",
    ]);
    assert!(o.status.success());
    let md = stdout(&o);
    assert!(md.contains("## examples/hooks/13-contraindication-heart-failure.json"));
    assert!(
        md.contains("### ⚠️ warning — Ketamine: relative contraindications on record: cardiovascular disease"),
        "{md}"
    );
    assert!(
        md.contains("*(recommended)*")
            && md.contains("[Cohen 2018 (ASRA/AAPM/ASA consensus)](https://doi.org/10.1097/AAP.0000000000000808)")
    );
    assert!(md.contains("## examples/hooks/06-anaesthesia-is-silent.json\n\nNo card"));
}

#[test]
fn the_whole_example_library_passes_its_own_check() {
    let o = cli(&["evaluate", "--check", "--now", NOW, "examples/"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("| 37 | 37 | 0 | 0 | 0 |"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("PASS examples/")).count(), 37, "one PASS line per case");
    assert!(!out.contains("[WARNING]") && !out.contains("Not passed"), "the cards only of failed cases: {out}");
    // -v: every case's cards too.
    let verbose =
        stdout(&cli(&["evaluate", "--check", "-v", "--now", NOW, "examples/hooks/01-untreated-patient.json"]));
    assert!(
        verbose.contains("[WARNING]") && verbose.contains("PASS examples/hooks/01-untreated-patient.json"),
        "{verbose}"
    );
}

#[test]
fn check_fails_on_a_wrong_expectation_with_a_readable_diff() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("examples/hooks/04-inadequate-tca-trial.json"), dir.path().join("case.json")).unwrap();
    let expected = json!({ "cards": [{ "indicator": "info", "summary": "Ketamine for neuropathic pain: no documented failure of TCA" }] });
    std::fs::write(dir.path().join("case.expected.json"), expected.to_string()).unwrap();
    let o = cli(&["evaluate", "--check", "--now", NOW, dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    // The whole report is on stdout: the failed case's cards, its FAIL line with the path that
    // differs, and the table naming it.
    let out = stdout(&o);
    assert!(out.contains("[WARNING]"), "a failed case's cards are shown: {out}");
    assert!(out.contains("FAIL ") && out.contains("cards[0].indicator: expected \"info\", got \"warning\""), "{out}");
    assert!(out.contains("| 1 | 0 | 1 | 0 | 0 |"), "{out}");
    assert!(out.contains("Not passed:\n- ") && out.contains("case.json (failed)"), "{out}");
}

#[test]
fn a_broken_file_is_reported_and_the_others_still_evaluated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("examples/hooks/01-untreated-patient.json"), dir.path().join("a-good.json")).unwrap();
    std::fs::write(dir.path().join("b-broken.json"), "{ \"hook\": ").unwrap();
    std::fs::write(dir.path().join("c-other.json"), "{ \"resourceType\": \"Patient\" }").unwrap();
    let o = cli(&["evaluate", "--now", NOW, dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("b-broken.json: not valid JSON"), "{err}");
    assert!(err.contains("c-other.json: neither a CDS Hooks request"), "{err}");
    assert!(err.contains("evaluated 3 case(s): 1 with cards, 0 silent, 2 error(s)"), "{err}");
    assert!(stdout(&o).contains("[WARNING]"));
}

#[test]
fn a_bundle_is_evaluated_as_order_sign_or_order_select() {
    let bundle = "examples/bundles/02-all-first-line-failed-sign.json";
    let sign = cli(&["evaluate", "--now", NOW, "--format", "json", bundle]);
    assert_eq!(serde_json::from_str::<Value>(&stdout(&sign)).unwrap(), json!({ "cards": [] }));
    let select = cli(&["evaluate", "--now", NOW, "--format", "json", "--hook", "order-select", bundle]);
    let response: Value = serde_json::from_str(&stdout(&select)).unwrap();
    assert_eq!(response["cards"][0]["indicator"], "info");
    assert_eq!(
        response["cards"][0]["summary"],
        "Ketamine: first-line failures documented (SNRI, gabapentinoid and TCA); monitor closely"
    );
}

#[test]
fn order_names_the_draft_of_a_bundle() {
    let bundle = "examples/bundles/01-untreated-patient.json";
    let o = cli(&["evaluate", "--now", NOW, "--format", "json", "--order", "MedicationRequest/ketamine-draft", bundle]);
    assert!(o.status.success());
    let o = cli(&["evaluate", "--now", NOW, "--order", "MedicationRequest/nope", bundle]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("MedicationRequest/nope is not in the Bundle"));
}

#[test]
fn a_bundle_without_a_ketamine_draft_is_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [{ "resource": { "resourceType": "Patient", "id": "p" } }] });
    let file = dir.path().join("record.json");
    std::fs::write(&file, bundle.to_string()).unwrap();
    let o = cli(&["evaluate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no ketamine MedicationRequest with status 'draft'"));
}

#[test]
fn a_large_synthea_record_is_read_whole_and_answered() {
    let path = repo().join("examples/bundles/20-large-synthea-record-with-ketamine-draft.json");
    let options =
        ketamine_cds::call::bundle::BundleOptions { hook: ketamine_cds::guideline::Hook::OrderSign, order: None };
    let body = ketamine_cds::call::bundle::request_for(read_json(&path), "large", &options, knowledge()).unwrap();
    let request = ketamine_cds::hooks::HookRequest::from_value(body).unwrap();
    let service = ketamine_cds::call::services::service("ketamine-order-sign").unwrap();
    let evaluation = ketamine_cds::call::answer_offline(service, request, knowledge(), now()).unwrap();
    assert!(evaluation.resources_read > 80, "{}", evaluation.resources_read);
    assert_eq!(evaluation.resources_skipped, 0);
    // The step-therapy warning, and the contraindication its SNOMED-coded "dependent drug abuse"
    // (Synthea's code for an active substance use disorder) gives.
    let summaries: Vec<&str> = evaluation.response.cards.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    assert_eq!(summaries[1], "Ketamine: relative contraindications on record: active substance use disorder");
    let detail = evaluation.response.cards[1].detail.as_deref().unwrap_or_default();
    assert!(detail.contains("Dependent drug abuse (disorder)"), "{detail}");
}

#[test]
fn cli_and_http_give_identical_cards_for_every_example() {
    let o = cli(&["evaluate", "--format", "json", "examples/hooks"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = TestServer::start();
    let files = ketamine_cds::cli::cases::collect(&[repo().join("examples/hooks")]);
    assert_eq!(files.len(), lines.len());
    runtime.block_on(async {
        for (file, from_cli) in files.iter().zip(&lines) {
            let request = read_json(file);
            let service = service_for(request["hook"].as_str().unwrap());
            let from_http: Value = client()
                .post(format!("{}/cds-services/{service}", server.base))
                .json(&request)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(from_cli["case"].as_str().is_some_and(|c| file.ends_with(c)), "{from_cli}");
            assert_eq!(from_http, from_cli["response"], "{}", file.display());
        }
    });
}

#[test]
fn check_profiles_accepts_the_shipped_set_and_names_malformed_codes() {
    let o = cli(&["check-profiles"]);
    assert!(o.status.success(), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("embedded profiles: OK — knowledge") && out.contains("(as shipped)"), "{out}");
    assert!(
        out.contains("Codes per code system:\n") && out.contains("  http://www.nlm.nih.gov/research/umls/rxnorm"),
        "{out}"
    );
    assert!(out.contains("Codes per value set:\n") && out.contains("  ValueSet-agent-duloxetine.json: "), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
    let o = cli(&["check-profiles", "profiles"]);
    assert!(o.status.success(), "{}", stdout(&o));

    // A mistyped system: OK (a site may use any system), but warned of, and the set is a
    // site-modified one whose medication codes dropped.
    let typo = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("profiles")).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let text = if entry.file_name() == "ValueSet-agent-duloxetine.json" {
            text.replace("umls/rxnorm", "umls/rxnrom")
        } else {
            text
        };
        std::fs::write(typo.path().join(entry.file_name()), text).unwrap();
    }
    let o = cli(&["check-profiles", typo.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("WARNING ") && out.contains("did you mean 'http://www.nlm.nih.gov/research/umls/rxnorm'?"),
        "{out}"
    );
    assert!(out.contains("OK with 1 warning(s)") && out.contains("+site.") && out.contains("(shipped: "), "{out}");

    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("profiles")).unwrap().flatten() {
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let file = dir.path().join("ValueSet-crps.json");
    let mut vs = read_json(&file);
    vs["compose"]["include"][0]["concept"][0]["code"] = json!("734947008");
    std::fs::write(&file, vs.to_string()).unwrap();
    let o = cli(&["check-profiles", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("ValueSet-crps.json at /compose/include/0/concept/0/code: '734947008'"), "{out}");
    assert!(out.contains("Verhoeff") && out.contains("1 problem(s)"), "{out}");
}

#[test]
fn help_is_complete_and_shows_examples() {
    for args in [
        vec!["--help"],
        vec!["evaluate", "--help"],
        vec!["check-profiles", "--help"],
        vec!["serve", "--help"],
        vec!["replay", "--help"],
    ] {
        let o = cli(&args);
        assert!(o.status.success());
        assert!(stdout(&o).contains("Example"), "{args:?}: {}", stdout(&o));
    }
    let help = stdout(&cli(&["evaluate", "--help"]));
    for flag in ["--hook", "--order", "--now", "--format", "--check", "--verbose", "--store", "--profiles"] {
        assert!(help.contains(flag), "{flag}");
    }
}

#[test]
fn check_fails_a_case_without_an_expectation_or_with_one_that_has_no_cards() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("examples/hooks/01-untreated-patient.json"), dir.path().join("case.json")).unwrap();
    // A misnamed expectation is no expectation: the run fails, naming the case.
    std::fs::write(dir.path().join("case.expect.json"), json!({ "cards": [] }).to_string()).unwrap();
    let o = cli(&["evaluate", "--check", "--now", NOW, dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("NO EXPECTATION") && out.contains("case.json: add NAME.expected.json"), "{out}");
    // (The misnamed file is read as a case of its own, and is no request: an error too.)
    assert!(out.contains("| 2 | 0 | 0 | 1 | 1 |"), "{out}");
    assert!(out.contains("case.json (no expectation)") && out.contains("case.expect.json (error)"), "{out}");
    std::fs::remove_file(dir.path().join("case.expect.json")).unwrap();
    // An expectation without "cards" is an error, not "no cards".
    std::fs::write(dir.path().join("case.expected.json"), json!({ "card": [] }).to_string()).unwrap();
    let o = cli(&["evaluate", "--check", "--now", NOW, dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("has no \"cards\" list"), "{}", stdout(&o));
}

#[test]
fn json_of_several_files_names_each_case_and_a_bare_order_id_is_a_medication_request() {
    let a = "examples/hooks/13-contraindication-heart-failure.json";
    let b = "examples/hooks/06-anaesthesia-is-silent.json";
    let o = cli(&["evaluate", "--now", NOW, "--format", "json", a, b]);
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    // In path order.
    assert_eq!((lines[0]["case"].as_str(), &lines[0]["response"]), (Some(b), &json!({ "cards": [] })));
    assert_eq!(lines[1]["case"], a);
    assert_eq!(
        lines[1]["response"],
        read_json(&repo().join("examples/hooks/13-contraindication-heart-failure.response.json"))
    );
    let bundle = "examples/bundles/01-untreated-patient.json";
    let bare = cli(&["evaluate", "--now", NOW, "--format", "json", "--order", "ketamine-draft", bundle]);
    let full =
        cli(&["evaluate", "--now", NOW, "--format", "json", "--order", "MedicationRequest/ketamine-draft", bundle]);
    assert!(bare.status.success(), "{}", stderr(&bare));
    let cards = |o: &Output| serde_json::from_str::<Value>(&stdout(o)).unwrap()["cards"].as_array().unwrap().len();
    assert_eq!((cards(&bare), cards(&full)), (1, 1), "--order ketamine-draft is MedicationRequest/ketamine-draft");
}

#[test]
fn records_of_another_patient_are_counted_where_the_user_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    // The problem list written for another patient: dropped, and said so.
    for entry in request["prefetch"]["conditions"]["entry"].as_array_mut().unwrap() {
        entry["resource"]["subject"] = json!({ "reference": "Patient/EXAMPLE-PATIENT" });
    }
    std::fs::write(dir.path().join("case.json"), request.to_string()).unwrap();
    let o = cli(&["evaluate", "--now", NOW, dir.path().join("case.json").to_str().unwrap()]);
    let err = stderr(&o);
    assert!(err.contains("case.json: 1 resource(s) of another patient than the call's were dropped"), "{err}");
}

#[test]
fn the_readme_synopsis_names_every_flag_the_help_texts_give() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let synopsis = readme.split("## Command line").nth(1).and_then(|s| s.split("```").nth(1)).unwrap();
    for command in ["serve", "evaluate", "check-profiles", "report", "snoozes", "replay", "package"] {
        let help = stdout(&cli(&[command, "--help"]));
        let line = synopsis.lines().position(|l| l.starts_with(&format!("ketamine-cds {command} "))).unwrap();
        // The command's lines: its own and the indented ones after it.
        let own: String = synopsis
            .lines()
            .skip(line)
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.starts_with(' '))
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join(" ");
        let definitions = help.lines().map(str::trim_start).filter(|l| l.starts_with('-'));
        for flag in definitions.filter_map(|l| l.split([' ', ',']).find(|w| w.starts_with("--"))) {
            if flag != "--help" {
                assert!(own.contains(flag), "README's synopsis of {command} lacks {flag}: {own}");
            }
        }
    }
}

fn generated_export(dir: &std::path::Path) -> Vec<common::bulk::GeneratedOrder> {
    let options = common::bulk::BulkOptions {
        patients: 30,
        ketamine_percent: 60,
        order_day: time::macros::date!(2026 - 11 - 20),
        spread_days: 60,
        dstu2: false,
        gzip: true,
        late_records: false,
        synthea: true,
    };
    common::bulk::write(dir, &repo(), &options)
}

#[test]
fn replay_prints_its_stable_json_and_the_shards_add_up_to_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let orders = generated_export(dir.path());
    let export = dir.path().display().to_string();
    let o = cli(&["replay", "--format", "json", &export]);
    assert!(o.status.success(), "{}", stderr(&o));
    let whole: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    for key in [
        "orders_replayed",
        "patients",
        "cards",
        "firings_per_100_orders",
        "weeks",
        "unreplayable",
        "malformed_lines",
        "class_statuses",
        "silent_orders",
        "suggestions",
    ] {
        assert!(whole.get(key).is_some(), "{key} in {whole:#}");
    }
    assert_eq!(whole["orders_replayed"], orders.len());
    assert_eq!(whole["keys"], "random per run");
    assert!(whole["weeks"].as_array().unwrap().len() > 2, "orders over 60 days fall in several weeks");
    assert!(whole["files"]["skipped"]["Observation"].as_u64() >= Some(1), "{:#}", whole["files"]);
    let mut sum = 0;
    for shard in ["1/3", "2/3", "3/3"] {
        let o = cli(&["replay", "--format", "json", "--shard", shard, &export]);
        let part: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(part["shard"], shard);
        sum += part["orders_replayed"].as_u64().unwrap();
    }
    assert_eq!(sum, orders.len() as u64, "every patient in exactly one shard");
    // The window: none before the first order day.
    let o = cli(&["replay", "--format", "json", "--until", "2026-09-01", &export]);
    let none: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(none["orders_replayed"], 0);
    let text = stdout(&cli(&["replay", &export]));
    assert!(text.contains(&format!("Ketamine orders replayed: {}", orders.len())), "{text}");
    let csv = stdout(&cli(&["replay", "--format", "csv", &export]));
    assert!(csv.starts_with("week_start,orders,cards,per_100_orders\n"), "{csv}");
    let html = stdout(&cli(&["replay", "--format", "html", &export]));
    assert!(html.contains("<h1>ketamine-cds replay</h1>") && html.contains("id=\"weeks\""));
}

#[test]
fn replay_refuses_what_it_cannot_read_before_any_work() {
    let o = cli(&["replay", "/no/such/export"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/no/such/export: no such directory or manifest"), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    std::fs::write(
        &manifest,
        json!({ "output": [{ "type": "Patient", "url": "https://ehr.example.org/bulk/Patient.ndjson" }] }).to_string(),
    )
    .unwrap();
    let o = cli(&["replay", &manifest.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the manifest names Patient.ndjson (Patient), which is not beside it"),
        "{}",
        stderr(&o)
    );
    let o = cli(&["replay", "--shard", "4/3", &dir.path().display().to_string()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn replay_shards_recorded_in_one_postgresql_store_make_one_run_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let orders = generated_export(dir.path());
    let export = dir.path().display().to_string();
    let pg = common::postgres::Postgres::start();
    let url = pg.database("replays");
    let whole: Value = serde_json::from_slice(&cli(&["replay", "--format", "json", &export]).stdout).unwrap();
    // Two shards at once, as an Indexed Job runs them (the second by its completion index).
    let shard = |args: &[&str], index: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ketamine-cds"));
        command
            .args(["replay", "--format", "json", "--store", &url, "--run", "before-go-live"])
            .args(args)
            .arg(&export)
            .env("KETAMINE_CDS_STORE__PATIENT_KEY_SECRET", "the-same-secret-on-every-replica")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(index) = index {
            command.env("JOB_COMPLETION_INDEX", index);
        }
        command.spawn().unwrap()
    };
    let (a, b) = (shard(&["--shard", "1/2"], None), shard(&["--shards", "2"], Some("1")));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // A shard run again records nothing twice.
    assert!(shard(&["--shard", "1/2"], None).wait_with_output().unwrap().status.success());
    let o = cli(&["report", "--store", &url, "--format", "json", "--since", "2026-01-01", "--until", "2027-01-01"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let run = &report["replays"]["before-go-live"];
    assert_eq!(run["examined_orders"], orders.len(), "{report:#}");
    assert_eq!(run["cards"], whole["cards"], "the shards add up to the whole export's cards");
    assert_eq!(report["examined_orders"], 0, "a replay is not live: {report:#}");
    let text = stdout(&cli(&["report", "--store", &url, "--since", "2026-01-01", "--until", "2027-01-01"]));
    assert!(text.contains("Replay run before-go-live"), "{text}");
    // Without the site's secret a PostgreSQL store is refused before any work.
    let o = cli(&["replay", "--store", &url, &export]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("KETAMINE_CDS_STORE__PATIENT_KEY_SECRET"), "{}", stderr(&o));
}

/// The files of a .tgz: (path, bytes), in archive order.
fn untar(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
    let mut archive = tar::Archive::new(gz);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (e.path().unwrap().display().to_string(), bytes)
        })
        .collect()
}

#[test]
fn package_writes_a_reproducible_fhir_package_an_independent_validator_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.tgz"), dir.path().join("b.tgz"));
    for path in [&a, &b] {
        let o = cli(&["package", "-o", &path.display().to_string()]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("FHIR package ketamine-cds.knowledge"), "{}", stdout(&o));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "byte-identical rebuilds");
    let files = untar(&a);
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        &paths[..3],
        ["package/package.json", "package/.index.json", "package/ImplementationGuide-ketamine-cds.json"]
    );
    let file =
        |name: &str| -> Value { serde_json::from_slice(&files.iter().find(|(p, _)| p == name).unwrap().1).unwrap() };
    let manifest = file("package/package.json");
    let version = knowledge().version();
    assert_eq!(manifest["name"], "ketamine-cds.knowledge");
    assert_eq!(manifest["version"], version);
    assert_eq!(manifest["fhirVersions"], json!(["4.0.1"]));
    assert_eq!(manifest["type"], "fhir.ig");
    assert_eq!(manifest["dependencies"]["hl7.fhir.r4.core"], "4.0.1");
    // Every shipped artifact, indexed and named by the ImplementationGuide; the examples too.
    let shipped: Vec<String> = std::fs::read_dir(repo().join("profiles"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let index = file("package/.index.json");
    assert_eq!(index["index-version"], 2);
    let indexed: Vec<&str> =
        index["files"].as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap()).collect();
    for name in &shipped {
        assert!(paths.contains(&format!("package/{name}").as_str()), "{name} in the package");
        assert!(indexed.contains(&name.as_str()), "{name} indexed");
    }
    let plan = index["files"].as_array().unwrap().iter().find(|f| f["resourceType"] == "PlanDefinition").unwrap();
    assert_eq!(plan["url"], knowledge().plan.url);
    let ig = file("package/ImplementationGuide-ketamine-cds.json");
    assert_eq!(ig["packageId"], "ketamine-cds.knowledge");
    let named = ig["definition"]["resource"].as_array().unwrap();
    assert_eq!(named.iter().filter(|r| r["exampleBoolean"] == false).count(), shipped.len());
    let examples = named.iter().filter(|r| r["exampleBoolean"] == true).count();
    assert!(examples >= 10 && paths.iter().filter(|p| p.starts_with("package/example/Bundle-")).count() == examples);
    assert!(paths.contains(&"package/example/.index.json"));
    validate_fhir(&[&a]);

    // A site's edited set: its own version, its own bytes, valid too.
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    for entry in std::fs::read_dir(repo().join("profiles")).unwrap().flatten() {
        std::fs::copy(entry.path(), site.join(entry.file_name())).unwrap();
    }
    let edited = site.join("ValueSet-agent-ketamine.json");
    let mut vs: Value = serde_json::from_slice(&std::fs::read(&edited).unwrap()).unwrap();
    vs["compose"]["include"][0]["concept"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "code": "1234567", "display": "ketamine (site code)" }));
    std::fs::write(&edited, serde_json::to_vec_pretty(&vs).unwrap()).unwrap();
    let c = dir.path().join("site.tgz");
    let o = cli(&["package", "--profiles", &site.display().to_string(), "-o", &c.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let site_files = untar(&c);
    let site_manifest: Value = serde_json::from_slice(&site_files[0].1).unwrap();
    assert!(site_manifest["version"].as_str().unwrap().starts_with(&format!("{version}+site.")), "{site_manifest}");
    let carried = site_files.iter().find(|(p, _)| p == "package/ValueSet-agent-ketamine.json").unwrap();
    assert!(String::from_utf8_lossy(&carried.1).contains("1234567"));
    validate_fhir(&[&c]);
    // A broken set is refused, naming the problem.
    std::fs::write(&edited, "{ not json").unwrap();
    let o = cli(&["package", "--profiles", &site.display().to_string(), "-o", &c.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("ValueSet-agent-ketamine.json"), "{}", stderr(&o));
}
