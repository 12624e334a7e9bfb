//! The playground page in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`, Debian's chromium-driver; fantoccini). Pick the untreated-patient example,
//! send it, see the warning card with its three suggestions; accept the recommended one and see
//! the feedback answered 200; paste a Bundle; a Condition display that is HTML stays text; the
//! narrow side panel. Screenshots are kept in `target/tmp/` (one is docs/playground.png). Without
//! a browser: the page's headers and who may see it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use ketamine_cds::config::FileConfig;
use serde_json::{Value, json};

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn driver() -> Driver {
    let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("the playground test needs chromedriver: apt-get install chromium-driver");
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver not listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    driver
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1400", format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

/// Runs `script` in the page until it returns true, within 15 s.
async fn until(client: &Client, script: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if client.execute(script, vec![]).await.unwrap() == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

/// Puts `text` in the input as a paste would (and tells the page).
async fn paste(client: &Client, text: &str) {
    client
        .execute(
            "const i = document.getElementById('input'); i.value = arguments[0]; i.dispatchEvent(new Event('input')); return true;",
            vec![json!(text)],
        )
        .await
        .unwrap();
}

async fn shot(client: &Client, name: &str) -> Vec<u8> {
    let png = client.screenshot().await.unwrap();
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name), &png).unwrap();
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let server = TestServer::start_with(move |c| c.store = Some(format!("sqlite:{}", path.display())));
    let chromedriver = driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&chromedriver, profile.path()).await;
    client.goto(&format!("{}/", server.base)).await.unwrap();
    // No 404 for an icon in the console: the page names none to fetch, and /favicon.ico is empty.
    assert_eq!(js(&client, "return document.querySelector('link[rel=icon]').getAttribute('href')").await, "data:,");
    assert_eq!(reqwest::get(format!("{}/favicon.ico", server.base)).await.unwrap().status(), 204);

    // An example: the untreated patient, order-sign.
    let example = "hooks/01-untreated-patient.json";
    client.wait().for_element(Locator::Css(&format!("option[value=\"{example}\"]"))).await.unwrap();
    client.find(Locator::Id("example")).await.unwrap().select_by_value(example).await.unwrap();
    until(&client, "return document.getElementById('input').value.includes('order-sign')", "the example is loaded")
        .await;
    client.find(Locator::Id("send")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("#cards .card.warning")).await.unwrap();
    let summary = js(&client, "return document.querySelector('#cards .card.warning .summary').textContent").await;
    assert!(summary.as_str().unwrap().starts_with("Ketamine for neuropathic pain: no documented failure"), "{summary}");
    assert_eq!(
        js(&client, "return document.querySelectorAll('#cards .card.warning .suggestions button').length").await,
        3
    );
    assert_eq!(
        js(&client, "return document.querySelectorAll('#cards .suggestions button.recommended').length").await,
        1
    );
    assert!(
        js(&client, "return document.querySelectorAll('#cards .override-reason option').length").await.as_u64()
            >= Some(5)
    );
    assert!(
        js(&client, "return document.getElementById('response-pane').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("\"cards\"")
    );
    assert!(
        js(&client, "return document.querySelector('.card .source a').href")
            .await
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    shot(&client, "playground-warning.png").await;

    // Accept the recommended suggestion: real CDS Hooks feedback, answered 200.
    client.find(Locator::Css("#cards .suggestions button.recommended")).await.unwrap().click().await.unwrap();
    until(
        &client,
        "return document.getElementById('feedback-status').dataset.status === '200'",
        "feedback answered 200",
    )
    .await;
    let sent = js(&client, "return document.getElementById('feedback-request').textContent").await;
    let sent: Value = serde_json::from_str(sent.as_str().unwrap()).unwrap();
    assert_eq!(sent["feedback"][0]["outcome"], "accepted");
    assert!(sent["feedback"][0]["acceptedSuggestions"][0]["id"].is_string());
    shot(&client, "playground-feedback.png").await;

    // The narrow side panel.
    client.find(Locator::Id("narrow")).await.unwrap().click().await.unwrap();
    let width = js(&client, "return document.getElementById('cards').getBoundingClientRect().width").await;
    assert!(width.as_f64().unwrap() <= 360.0, "{width}");
    let narrow = shot(&client, "playground-narrow.png").await;
    assert!(narrow.starts_with(b"\x89PNG"));
    client.find(Locator::Id("narrow")).await.unwrap().click().await.unwrap();

    // Shown as Epic shows it: `any` suggestions as check boxes labelled with their actions'
    // descriptions, the recommended one ticked; the ticked ones accepted together.
    client.find(Locator::Id("show-as")).await.unwrap().select_by_value("epic").await.unwrap();
    client.find(Locator::Id("send")).await.unwrap().click().await.unwrap();
    until(
        &client,
        "return document.querySelectorAll('#cards .suggestions.any input[type=checkbox]').length > 0",
        "Epic's check boxes",
    )
    .await;
    assert_eq!(
        js(&client, "return document.querySelectorAll('#cards .suggestions.any input[type=checkbox]').length").await,
        4
    );
    assert_eq!(
        js(&client, "return document.querySelectorAll('#cards .suggestions.any input:checked').length").await,
        1
    );
    let labels = js(&client, "return Array.from(document.querySelectorAll('#cards .suggestions.any .description')).map((d) => d.textContent)").await;
    assert_eq!(labels[0], "Order duloxetine 30 mg once daily (SNRI, Level I, Grade A)", "{labels}");
    assert_eq!(labels[3], "Remove the ketamine order", "{labels}");
    let pane = js(&client, "return document.getElementById('response-pane').textContent").await;
    let answered: Value = serde_json::from_str(pane.as_str().unwrap()).unwrap();
    assert_eq!(answered["cards"][0]["source"]["topic"]["code"], "KetamineStepTherapy");
    client.find(Locator::Css("#cards .accept-selected")).await.unwrap().click().await.unwrap();
    until(&client, "return document.getElementById('feedback-status').dataset.status === '200' && document.getElementById('feedback-request').textContent.includes('acceptedSuggestions')", "Epic's acceptance answered 200").await;
    shot(&client, "playground-epic.png").await;

    // Shown as Oracle Health: the narrow side panel, and nothing in it wider than the panel.
    client.find(Locator::Id("show-as")).await.unwrap().select_by_value("oracle").await.unwrap();
    client.find(Locator::Id("send")).await.unwrap().click().await.unwrap();
    until(&client, "return document.querySelectorAll('#cards .card .override-button').length > 0 && document.querySelectorAll('#cards .suggestions.any').length === 0", "the generic cards, narrow").await;
    assert_eq!(js(&client, "return document.getElementById('narrow').checked").await, true);
    let overflow = js(
        &client,
        "const cards = Array.from(document.querySelectorAll('#cards .card')); \
         return cards.some((c) => c.scrollWidth > c.clientWidth + 1 || Array.from(c.querySelectorAll('button, select')).some((b) => b.getBoundingClientRect().right > c.getBoundingClientRect().right + 1))",
    )
    .await;
    assert_eq!(overflow, false, "nothing overflows the narrow panel");
    let picker = js(&client, "const p = document.getElementById('example'); return p.getBoundingClientRect().right <= p.closest('section').getBoundingClientRect().right + 1").await;
    assert_eq!(picker, true, "the example picker stays in its panel");
    shot(&client, "playground-oracle.png").await;
    client.find(Locator::Id("show-as")).await.unwrap().select_by_value("generic").await.unwrap();
    client.find(Locator::Id("narrow")).await.unwrap().click().await.unwrap();

    // A pasted Bundle, as order-select, its draft chosen: the page makes the hook request.
    let bundle = std::fs::read_to_string(repo().join("examples/bundles/01-untreated-patient.json")).unwrap();
    let draft = serde_json::from_str::<Value>(&bundle).unwrap()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "MedicationRequest" && r["status"] == "draft")
        .map(|r| format!("MedicationRequest/{}", r["id"].as_str().unwrap()))
        .unwrap();
    paste(&client, &bundle).await;
    client.find(Locator::Id("hook")).await.unwrap().select_by_value("order-select").await.unwrap();
    client.find(Locator::Id("draft")).await.unwrap().select_by_value(&draft).await.unwrap();
    client.find(Locator::Id("send")).await.unwrap().click().await.unwrap();
    until(&client, "return document.getElementById('request-pane').textContent.includes('\"order-select\"') && document.querySelectorAll('#cards .card.warning').length === 1", "the Bundle's card").await;
    let pane = js(&client, "return document.getElementById('request-pane').textContent").await;
    let sent: Value = serde_json::from_str(pane.as_str().unwrap()).unwrap();
    assert_eq!(sent["context"]["selections"], json!([draft]), "the chosen draft is the selection");

    // A Condition display that is HTML is shown as text, never run.
    let payload = "<img src=x onerror=alert(1)>";
    let mut request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    for entry in request["prefetch"]["conditions"]["entry"].as_array_mut().unwrap() {
        entry["resource"]["code"]["text"] = json!(payload);
    }
    paste(&client, &request.to_string()).await;
    client.find(Locator::Id("hook")).await.unwrap().select_by_value("order-sign").await.unwrap();
    client.find(Locator::Id("send")).await.unwrap().click().await.unwrap();
    until(&client, "return document.querySelector('#cards .card .detail') !== null && document.getElementById('request-pane').textContent.includes('onerror')", "the card with the HTML display").await;
    assert_eq!(
        js(&client, "return document.querySelectorAll('#cards img').length").await,
        0,
        "no element made from the display"
    );
    let detail = js(&client, "return document.querySelector('#cards .card .detail').textContent").await;
    assert!(detail.as_str().unwrap().contains(payload), "the display appears as text: {detail}");
    assert!(client.get_alert_text().await.is_err(), "no alert ran");

    // Override with a reason from the menu: real feedback, answered 200.
    client
        .find(Locator::Css("#cards .override-reason"))
        .await
        .unwrap()
        .select_by_value("pain-specialist-plan")
        .await
        .unwrap();
    client.find(Locator::Css("#cards .override-button")).await.unwrap().click().await.unwrap();
    until(&client, "return document.getElementById('feedback-status').dataset.status === '200' && document.getElementById('feedback-request').textContent.includes('overridden')", "the override answered 200").await;
    let sent = js(&client, "return document.getElementById('feedback-request').textContent").await;
    let sent: Value = serde_json::from_str(sent.as_str().unwrap()).unwrap();
    assert_eq!(sent["feedback"][0]["overrideReason"]["reason"]["code"], "pain-specialist-plan");
    assert_eq!(
        sent["feedback"][0]["overrideReason"]["reason"]["system"],
        "https://fhir.ketamine-cds.example/CodeSystem/override-reason"
    );

    // The same order again: the snooze that override started holds the warning back, and the
    // page shows it as such (the EHR would see no card), with a way to lift it.
    client.find(Locator::Id("send")).await.unwrap().click().await.unwrap();
    until(&client, "return document.querySelectorAll('#cards .card.held').length === 1", "the held-back card").await;
    let why = js(&client, "return document.querySelector('#cards .card.held .held-why').textContent").await;
    assert!(why.as_str().unwrap().starts_with("held back by a snooze until "), "{why}");
    let status = js(&client, "return document.getElementById('status').textContent").await;
    assert!(status.as_str().unwrap().contains("0 cards · 1 held back"), "{status}");
    client.find(Locator::Css("#cards .card.held .lift-button")).await.unwrap().click().await.unwrap();
    until(&client, "return document.querySelectorAll('#cards .card.held').length === 0 && document.querySelectorAll('#cards .card.warning').length === 1", "the warning shown again after the lift").await;
    assert_eq!(
        js(&client, "return document.getElementById('analytics-link').getAttribute('href')").await,
        "/analytics"
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_has_a_strict_policy_and_is_never_open_by_accident() {
    // Authentication off (the embedded default): served, with the policy.
    let open = TestServer::start();
    let page = client().get(format!("{}/", open.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.starts_with("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style");
    assert!(!html.contains("http://") && !html.contains("https://"), "no external asset");
    let examples: Value =
        client().get(format!("{}/playground/examples", open.base)).send().await.unwrap().json().await.unwrap();
    let paths: Vec<&str> = examples.as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"hooks/01-untreated-patient.json") && paths.contains(&"bundles/01-untreated-patient.json"));
    assert!(paths.iter().all(|p| !p.contains(".response.") && !p.contains(".expected.")), "{paths:?}");
    let bad = client()
        .post(format!("{}/playground/request?hook=order-sign", open.base))
        .body("{\"resourceType\":\"Bundle\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // Off by the site's choice.
    let mut file = FileConfig::default();
    file.playground.enabled = Some(false);
    let off = TestServer::start_full(|_| {}, file);
    assert_eq!(client().get(format!("{}/", off.base)).send().await.unwrap().status(), 404);

    // Authentication required: off unless enabled, and then behind the admin credentials, its
    // calls going to the playground's own endpoints (no EHR token needed there).
    let mut file = FileConfig::default();
    sandbox_auth(&mut file);
    let locked = TestServer::start_full(|_| {}, file.clone());
    assert_eq!(client().get(format!("{}/", locked.base)).send().await.unwrap().status(), 404);
    drop(locked);
    file.playground.enabled = Some(true);
    file.admin.bearer_token = Some("an-admin-token-0123456789".into());
    let admin = TestServer::start_full(|_| {}, file);
    let url = format!("{}/", admin.base);
    assert_eq!(client().get(&url).send().await.unwrap().status(), 401);
    let page = client().get(&url).bearer_auth("an-admin-token-0123456789").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/playground/app.js"));
    let request = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    let hook = format!("{}/playground/cds-services/ketamine-order-sign", admin.base);
    assert_eq!(client().post(&hook).json(&request).send().await.unwrap().status(), 401);
    let admitted = client().post(&hook).bearer_auth("an-admin-token-0123456789").json(&request);
    let cards: Value = admitted.send().await.unwrap().json().await.unwrap();
    assert_eq!(cards["cards"][0]["indicator"], "warning");
    let ehr =
        client().post(format!("{}/cds-services/ketamine-order-sign", admin.base)).json(&request).send().await.unwrap();
    assert_eq!(ehr.status(), 401, "the EHR endpoint still needs the EHR's token");
}
