//! No PHI, JWT or access token in the logs: a full authenticated call (and refused ones) with
//! marker values in the patient id, prefetch, token and fhirAuthorization, every log line of
//! every crate captured at TRACE, and none of the markers may appear. Its own test binary, so
//! the global log subscriber sees only this.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ketamine_cds::config::{AuthConfig, AuthMode, FileConfig, IssuerConfig};
use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// POSTs `body` to `url` with a bearer token.
async fn post_with(url: &str, token: &str, body: &serde_json::Value) -> reqwest::Response {
    client().post(url).header("authorization", format!("Bearer {token}")).json(body).send().await.unwrap()
}

const MARKER_PATIENT: &str = "MARKER-PATIENT-8f3a";
const MARKER_TOKEN: &str = "MARKER-ACCESS-TOKEN-77c1";
const MARKER_NAME: &str = "Zebedee-Marker-Surname";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_identifying_reaches_the_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let (x, y) = pair.public_key().as_ref()[1..].split_at(48);
    let jwk = json!({ "kty": "EC", "crv": "P-384", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y), "kid": "k1", "alg": "ES384" });
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({ "keys": [jwk] }).to_string()).unwrap();
    let config = FileConfig {
        public_base_url: Some("https://cds.example.org".into()),
        auth: AuthConfig {
            mode: Some(AuthMode::Required),
            issuers: vec![IssuerConfig {
                jku: None,
                iss: "https://ehr.example.org".into(),
                jwks_url: None,
                jwks_file: Some(jwks),
                tenants: vec![],
                client: None,
                rollout: None,
            }],
            ..AuthConfig::default()
        },
        ..FileConfig::default()
    };
    let server = TestServer::start_full(|_| {}, config);

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some("k1".into());
    let jwt_for = |aud: &str, jti: &str| {
        let claims = json!({ "iss": "https://ehr.example.org", "aud": aud, "exp": now + 300, "iat": now, "jti": jti });
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(pkcs8.as_ref())).unwrap()
    };
    let jwt = |jti: &str| jwt_for("https://cds.example.org/cds-services/ketamine-order-sign", jti);

    let text = std::fs::read_to_string(repo().join("examples/hooks/13-contraindication-heart-failure.json")).unwrap();
    let text = text.replace("example-patient", MARKER_PATIENT);
    let mut request: serde_json::Value = serde_json::from_str(&text).unwrap();
    request["fhirAuthorization"] = json!({ "access_token": MARKER_TOKEN, "token_type": "Bearer", "expires_in": 300,
                                           "scope": "patient/*.read", "subject": "cds-service", "patient": MARKER_PATIENT });
    request["prefetch"]["patient"]["name"] = json!([{ "family": MARKER_NAME }]);
    let url = format!("{}/cds-services/ketamine-order-sign", server.base);

    let good = jwt("jti-1");
    let ok = client().post(&url).header("authorization", format!("Bearer {good}")).json(&request).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let replay =
        client().post(&url).header("authorization", format!("Bearer {good}")).json(&request).send().await.unwrap();
    assert_eq!(replay.status(), 401);
    let mut missing = request.clone();
    missing["prefetch"].as_object_mut().unwrap().remove("conditions");
    let refused = client()
        .post(&url)
        .header("authorization", format!("Bearer {}", jwt("jti-2")))
        .json(&missing)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 412);
    let mut invalid = request.clone();
    invalid["context"]["draftOrders"] = json!("Patient MARKER-PATIENT-8f3a");
    let bad = client()
        .post(&url)
        .header("authorization", format!("Bearer {}", jwt("jti-3")))
        .json(&invalid)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(!bad.text().await.unwrap().contains(MARKER_PATIENT), "error responses never echo the request");
    let feedback = json!({ "feedback": [{ "card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T10:00:00Z",
        "overrideReason": { "reason": { "system": "s", "code": "crps" }, "userComment": format!("patient {MARKER_NAME} prefers it") } }] });
    let aud_feedback = "https://cds.example.org/cds-services/ketamine-order-sign/feedback";
    let fb_jwt = jwt_for(aud_feedback, "jti-4");
    assert_eq!(post_with(&format!("{url}/feedback"), &fb_jwt, &feedback).await.status(), 200);
    // Client-chosen values cannot flood the log: a 100,000-character hook, 5,000 feedback items.
    let mut flood = request.clone();
    flood["hook"] = json!("h".repeat(100_000));
    assert_eq!(post_with(&url, &jwt("jti-5"), &flood).await.status(), 400);
    let items: Vec<_> = (0..5000)
        .map(|i| json!({ "card": format!("card-{i}"), "outcome": "accepted", "outcomeTimestamp": "2026-11-21T10:00:00Z" }))
        .collect();
    let many = json!({ "feedback": items });
    assert_eq!(post_with(&format!("{url}/feedback"), &jwt_for(aud_feedback, "jti-6"), &many).await.status(), 200);
    // A card the call computed and did not show is counted in its log line, by what held it.
    let mut quiet = request.clone();
    quiet["extension"] = json!({ "davinci-crd.configuration": { "max-cards": 1 } });
    let answered: serde_json::Value = post_with(&url, &jwt("jti-7"), &quiet).await.json().await.unwrap();
    assert_eq!(answered["cards"].as_array().unwrap().len(), 1, "the safety card: {answered}");
    assert!(answered.get("extension").is_none(), "an EHR's answer never lists the held-back cards");
    drop(server);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("hook_call") && logs.contains("hook answered") && logs.contains("replayed-jti"),
        "logs were captured:\n{logs}"
    );
    assert!(logs.contains("feedback") && logs.contains("crps"), "feedback is logged with its code");
    assert!(
        logs.contains("held_back=1") && logs.contains("held_by=\"card-option\""),
        "held-back cards are counted:\n{logs}"
    );
    for secret in [MARKER_PATIENT, MARKER_TOKEN, MARKER_NAME, good.as_str(), fb_jwt.as_str()] {
        assert!(!logs.contains(secret), "'{secret}' leaked into the logs");
    }
    let longest = logs.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4_000, "a log line of {longest} bytes: client values are logged truncated");
    let feedback_lines = logs.lines().filter(|l| l.contains("feedback") && l.contains("items=")).count();
    assert_eq!(feedback_lines, 2, "one line per feedback call, not per item");
    assert!(!logs.contains("card-4999"), "feedback items are counted, not listed");
    let signature = good.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature), "a JWT signature leaked into the logs");
}
