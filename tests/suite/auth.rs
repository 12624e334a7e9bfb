//! CDS Hooks JWT authentication against a real server: keys made here (ES384 and RS384), the
//! JWKS served from a local test server and from a file; every kind of bad token gets a bare
//! 401; key rotation is picked up without a restart.

use std::sync::{Arc, Mutex, OnceLock};

use crate::common::*;
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ketamine_cds::config::{AuthConfig, AuthMode, FileConfig, IssuerConfig};
use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

const ISS: &str = "https://ehr.example.org";
const FILE_ISS: &str = "https://sandbox.example.org";
const BASE: &str = "https://cds.example.org";
const SIGN_PATH: &str = "/cds-services/ketamine-order-sign";

struct SigningKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn es384(kid: &str) -> SigningKey {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let (x, y) = point[1..].split_at(48);
    SigningKey {
        kid: kid.into(),
        alg: Algorithm::ES384,
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({ "kty": "EC", "crv": "P-384", "x": b64(x), "y": b64(y), "kid": kid, "alg": "ES384", "use": "sig" }),
    }
}

fn rs384(kid: &str) -> SigningKey {
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let der = key.to_pkcs1_der().unwrap();
    SigningKey {
        kid: kid.into(),
        alg: Algorithm::RS384,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({ "kty": "RSA", "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be()), "kid": kid, "alg": "RS384", "use": "sig" }),
    }
}

/// Keys are made once per test binary (RSA generation takes a moment).
fn keys() -> &'static (SigningKey, SigningKey, SigningKey) {
    static KEYS: OnceLock<(SigningKey, SigningKey, SigningKey)> = OnceLock::new();
    KEYS.get_or_init(|| (es384("ec-1"), rs384("rsa-1"), es384("ec-rotated")))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn claims(iss: &str, aud: &str) -> Value {
    let jti = format!("jti-{}", rand::random::<u64>());
    json!({ "iss": iss, "aud": aud, "exp": now() + 300, "iat": now(), "jti": jti })
}

fn token(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// A JWKS served on a loopback port; its content can change (key rotation).
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Value>>,
    _server: AppServer,
}

fn jwks_server(jwks: Value) -> JwksServer {
    let keys = Arc::new(Mutex::new(jwks));
    let shared = Arc::clone(&keys);
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let shared = Arc::clone(&shared);
            async move {
                // `null` stands for an outage: the JWKS URL answers 503.
                let keys = shared.lock().unwrap().clone();
                if keys.is_null() {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
                } else {
                    axum::Json(keys).into_response()
                }
            }
        }),
    );
    let server = serve_app(app);
    JwksServer { url: format!("http://{}/.well-known/jwks.json", server.addr), keys, _server: server }
}

struct Setup {
    server: TestServer,
    jwks: JwksServer,
    /// The file-pinned issuer's JWKS file.
    jwks_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// The `jku` the public CDS Hooks sandbox puts in every token's header.
const SANDBOX_JKU: &str = "https://sandbox.cds-hooks.org/.well-known/jwks.json";

fn setup(tenants: Vec<String>) -> Setup {
    setup_with(tenants, |_| {})
}

/// [`setup`] without tenants, its configuration adjusted by `tune` before the server starts.
fn setup_tuned(tune: impl FnOnce(&mut FileConfig)) -> Setup {
    setup_with(vec![], tune)
}

fn setup_with(tenants: Vec<String>, tune: impl FnOnce(&mut FileConfig)) -> Setup {
    let (ec, rsa, _) = keys();
    let jwks = jwks_server(json!({ "keys": [ec.jwk] }));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, json!({ "keys": [rsa.jwk] }).to_string()).unwrap();
    let mut config = auth_config(&jwks.url, &file, tenants);
    tune(&mut config);
    Setup { server: TestServer::start_full(|_| {}, config), jwks, jwks_file: file, _dir: dir }
}

/// Authentication required, both issuers: the JWKS URL one and the file-pinned one.
fn auth_config(jwks_url: &str, file: &std::path::Path, tenants: Vec<String>) -> FileConfig {
    FileConfig {
        public_base_url: Some(BASE.into()),
        auth: AuthConfig {
            mode: Some(AuthMode::Required),
            issuers: vec![
                IssuerConfig {
                    iss: ISS.into(),
                    jwks_url: Some(jwks_url.into()),
                    jwks_file: None,
                    jku: None,
                    tenants,
                    client: None,
                    rollout: None,
                },
                IssuerConfig {
                    iss: FILE_ISS.into(),
                    jwks_url: None,
                    jwks_file: Some(file.to_owned()),
                    jku: Some(SANDBOX_JKU.into()),
                    tenants: vec![],
                    client: None,
                    rollout: None,
                },
            ],
            jwks_min_refetch_seconds: 0,
            ..AuthConfig::default()
        },
        ..FileConfig::default()
    }
}

async fn call(setup: &Setup, authorization: Option<String>) -> reqwest::Response {
    let body = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
    let mut request = client().post(format!("{}{SIGN_PATH}", setup.server.base)).json(&body);
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    request.send().await.unwrap()
}

async fn assert_refused(setup: &Setup, authorization: Option<String>, why: &str) {
    let response = call(setup, authorization).await;
    assert_eq!(response.status(), 401, "{why}");
    assert_eq!(response.headers()["www-authenticate"], "Bearer", "{why}");
    assert!(response.text().await.unwrap().is_empty(), "{why}: a 401 is bare");
}

fn aud() -> String {
    format!("{BASE}{SIGN_PATH}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_es384_token_from_a_jwks_url_is_accepted() {
    let s = setup(vec![]);
    let response = call(&s, Some(format!("Bearer {}", token(&keys().0, &claims(ISS, &aud()))))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["cards"][0]["indicator"], "warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_rs384_token_from_a_jwks_file_is_accepted_with_aud_as_an_array_and_extra_claims() {
    let s = setup(vec![]);
    let mut c = claims(FILE_ISS, "unused");
    c["aud"] = json!([aud()]);
    c["sub"] = json!("client-id");
    c["nbf"] = json!(now() - 30);
    let response = call(&s, Some(format!("Bearer {}", token(&keys().1, &c)))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_feedback_need_a_token_too_with_their_own_audience() {
    let s = setup(vec![]);
    let url = format!("{}/cds-services", s.server.base);
    assert_eq!(client().get(&url).send().await.unwrap().status(), 401);
    let t = token(&keys().0, &claims(ISS, &format!("{BASE}/cds-services")));
    let response = client().get(&url).header("authorization", format!("Bearer {t}")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let feedback =
        json!({ "feedback": [{ "card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-21T10:00:00Z" }] });
    let path = "/cds-services/ketamine-order-sign/feedback";
    let t = token(&keys().0, &claims(ISS, &format!("{BASE}{path}")));
    let response = client()
        .post(format!("{}{path}", s.server.base))
        .header("authorization", format!("Bearer {t}"))
        .json(&feedback)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_token_is_refused_with_a_bare_401() {
    let s = setup(vec![]);
    let (ec, rsa, rotated) = keys();
    assert_refused(&s, None, "no header").await;
    assert_refused(&s, Some("Basic dXNlcjpwYXNz".into()), "not bearer").await;
    assert_refused(&s, Some("Bearer not.a.jwt".into()), "malformed").await;
    let body = b64(claims(ISS, &aud()).to_string().as_bytes());
    let none = format!("{}.{body}.", b64(br#"{"alg":"none","typ":"JWT","kid":"ec-1"}"#));
    assert_refused(&s, Some(format!("Bearer {none}")), "alg none").await;
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("ec-1".into());
    let hmac = jsonwebtoken::encode(&hs, &claims(ISS, &aud()), &EncodingKey::from_secret(b"guessable")).unwrap();
    assert_refused(&s, Some(format!("Bearer {hmac}")), "HS256").await;
    assert_refused(&s, Some(format!("Bearer {}", token(rotated, &claims(ISS, &aud())))), "unknown kid").await;
    assert_refused(&s, Some(format!("Bearer {}", token(ec, &claims("https://evil.example", &aud())))), "wrong iss")
        .await;
    assert_refused(
        &s,
        Some(format!("Bearer {}", token(ec, &claims(ISS, "https://cds.example.org/cds-services")))),
        "wrong aud",
    )
    .await;
    let mut expired = claims(ISS, &aud());
    expired["exp"] = json!(now() - 600);
    expired["iat"] = json!(now() - 900);
    assert_refused(&s, Some(format!("Bearer {}", token(ec, &expired))), "expired").await;
    let mut future = claims(ISS, &aud());
    future["iat"] = json!(now() + 600);
    assert_refused(&s, Some(format!("Bearer {}", token(ec, &future))), "iat in the future").await;
    let mut no_jti = claims(ISS, &aud());
    no_jti.as_object_mut().unwrap().remove("jti");
    assert_refused(&s, Some(format!("Bearer {}", token(ec, &no_jti))), "no jti").await;
    let mut jku = Header::new(Algorithm::ES384);
    jku.kid = Some("ec-1".into());
    jku.jku = Some("https://attacker.example/jwks.json".into());
    let with_jku = jsonwebtoken::encode(&jku, &claims(ISS, &aud()), &ec.encoding).unwrap();
    assert_refused(&s, Some(format!("Bearer {with_jku}")), "jku not allowlisted").await;
    let signed_by_other_key = token(&SigningKey { kid: "ec-1".into(), ..es384("x") }, &claims(ISS, &aud()));
    assert_refused(&s, Some(format!("Bearer {signed_by_other_key}")), "bad signature").await;
    let rsa_for_ec_issuer = token(rsa, &claims(ISS, &aud()));
    assert_refused(&s, Some(format!("Bearer {rsa_for_ec_issuer}")), "key of another issuer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_jti_is_refused() {
    let s = setup(vec![]);
    let t = token(&keys().0, &claims(ISS, &aud()));
    assert_eq!(call(&s, Some(format!("Bearer {t}"))).await.status(), 200);
    assert_refused(&s, Some(format!("Bearer {t}")), "replay").await;
}

/// Two replicas behind one URL (the same `public_base_url`, so one `aud`) on one PostgreSQL
/// store: a token used on one is refused on the other, as on the same replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_replayed_to_another_replica_is_refused() {
    let (ec, rsa, _) = keys();
    let jwks = jwks_server(json!({ "keys": [ec.jwk] }));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, json!({ "keys": [rsa.jwk] }).to_string()).unwrap();
    let pg = postgres::Postgres::start();
    let url = pg.database("replay");
    let replica = || {
        let mut config = auth_config(&jwks.url, &file, vec![]);
        config.store.patient_key_secret = Some("the-same-secret-on-every-replica".into());
        let url = url.clone();
        TestServer::start_full(move |c| c.store = Some(url), config)
    };
    let (a, b) = (replica(), replica());
    let send = |base: String, t: String| async move {
        let body = read_json(&repo().join("examples/hooks/01-untreated-patient.json"));
        client().post(format!("{base}{SIGN_PATH}")).bearer_auth(t).json(&body).send().await.unwrap().status()
    };
    let t = token(&keys().0, &claims(ISS, &aud()));
    assert_eq!(send(a.base.clone(), t.clone()).await, 200);
    assert_eq!(send(b.base.clone(), t.clone()).await, 401, "replayed to the other replica");
    assert_eq!(send(a.base.clone(), t).await, 401, "and to the first");
    let fresh = token(&keys().1, &claims(FILE_ISS, &aud()));
    assert_eq!(send(b.base.clone(), fresh.clone()).await, 200, "a new token is fine on either");
    assert_eq!(send(a.base.clone(), fresh).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jku_of_the_configured_jwks_url_is_accepted() {
    let s = setup(vec![]);
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some("ec-1".into());
    header.jku = Some(s.jwks.url.clone());
    let t = jsonwebtoken::encode(&header, &claims(ISS, &aud()), &keys().0.encoding).unwrap();
    assert_eq!(call(&s, Some(format!("Bearer {t}"))).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_checked_when_the_issuer_lists_them() {
    let s = setup(vec!["hospital-a".into()]);
    let mut good = claims(ISS, &aud());
    good["tenant"] = json!("hospital-a");
    assert_eq!(call(&s, Some(format!("Bearer {}", token(&keys().0, &good)))).await.status(), 200);
    let mut bad = claims(ISS, &aud());
    bad["tenant"] = json!("hospital-b");
    assert_refused(&s, Some(format!("Bearer {}", token(&keys().0, &bad))), "tenant").await;
    assert_refused(&s, Some(format!("Bearer {}", token(&keys().0, &claims(ISS, &aud())))), "no tenant").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_accepted_without_a_restart() {
    let s = setup(vec![]);
    let (ec, _, rotated) = keys();
    assert_refused(&s, Some(format!("Bearer {}", token(rotated, &claims(ISS, &aud())))), "not yet published").await;
    *s.jwks.keys.lock().unwrap() = json!({ "keys": [ec.jwk, rotated.jwk] });
    let response = call(&s, Some(format!("Bearer {}", token(rotated, &claims(ISS, &aud()))))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_outage_does_not_stop_calls_signed_with_cached_keys() {
    let s = setup(vec![]);
    *s.jwks.keys.lock().unwrap() = Value::Null;
    // An unknown kid makes the service try the (now failing) JWKS URL again; that failure must not
    // cost the keys it already has.
    assert_refused(&s, Some(format!("Bearer {}", token(&keys().2, &claims(ISS, &aud())))), "unknown kid, JWKS down")
        .await;
    let response = call(&s, Some(format!("Bearer {}", token(&keys().0, &claims(ISS, &aud()))))).await;
    assert_eq!(response.status(), 200, "the key read at start-up is still trusted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_health_and_ready_need_no_token() {
    let s = setup(vec![]);
    assert_eq!(preflight(&format!("{}{SIGN_PATH}", s.server.base)).await.status(), 200);
    for path in ["/health", "/ready"] {
        assert_eq!(client().get(format!("{}{path}", s.server.base)).send().await.unwrap().status(), 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_has_its_own_reason() {
    use ketamine_cds::auth::{Authenticator, Failure};
    let (ec, _, rotated) = keys();
    let jwks = jwks_server(json!({ "keys": [ec.jwk] }));
    let config = AuthConfig {
        mode: Some(AuthMode::Required),
        issuers: vec![IssuerConfig {
            jku: None,
            iss: ISS.into(),
            jwks_url: Some(jwks.url.clone()),
            jwks_file: None,
            tenants: vec!["t1".into()],
            client: None,
            rollout: None,
        }],
        jwks_min_refetch_seconds: 3600,
        ..AuthConfig::default()
    };
    let auth = Arc::new(Authenticator::new(&config).unwrap());
    auth.start().await;
    let with_tenant = || {
        let mut c = claims(ISS, &aud());
        c["tenant"] = json!("t1");
        c
    };
    let reason = |r: Result<_, ketamine_cds::auth::Refusal>| r.err().map(|e| e.failure);
    let bearer = |t: String| format!("Bearer {t}");
    assert_eq!(reason(auth.verify(None, &aud()).await), Some(Failure::MissingToken));
    assert_eq!(reason(auth.verify(Some("Bearer a.b"), &aud()).await), Some(Failure::Malformed));
    let good = token(ec, &with_tenant());
    assert!(auth.verify(Some(&bearer(good.clone())), &aud()).await.is_ok());
    assert_eq!(reason(auth.verify(Some(&bearer(good)), &aud()).await), Some(Failure::Replayed));
    assert_eq!(
        reason(auth.verify(Some(&bearer(token(ec, &with_tenant()))), "https://other.example/x").await),
        Some(Failure::WrongAudience)
    );
    assert_eq!(
        reason(auth.verify(Some(&bearer(token(rotated, &with_tenant()))), &aud()).await),
        Some(Failure::UnknownKid)
    );
    assert_eq!(
        reason(auth.verify(Some(&bearer(token(ec, &claims(ISS, &aud())))), &aud()).await),
        Some(Failure::TenantNotAllowed)
    );
    let mut expired = with_tenant();
    expired["exp"] = json!(now() - 600);
    assert_eq!(reason(auth.verify(Some(&bearer(token(ec, &expired))), &aud()).await), Some(Failure::Expired));
    let mut future = with_tenant();
    future["iat"] = json!(now() + 600);
    assert_eq!(reason(auth.verify(Some(&bearer(token(ec, &future))), &aud()).await), Some(Failure::IssuedInFuture));
    let mut other = with_tenant();
    other["iss"] = json!("https://evil.example");
    assert_eq!(reason(auth.verify(Some(&bearer(token(ec, &other))), &aud()).await), Some(Failure::UnknownIssuer));
    let none = format!("{}.{}.", b64(br#"{"alg":"none","kid":"ec-1"}"#), b64(with_tenant().to_string().as_bytes()));
    assert_eq!(reason(auth.verify(Some(&bearer(none)), &aud()).await), Some(Failure::AlgorithmNotAllowed));
    let forged = token(&SigningKey { kid: "ec-1".into(), ..es384("x") }, &with_tenant());
    assert_eq!(reason(auth.verify(Some(&bearer(forged)), &aud()).await), Some(Failure::BadSignature));
}

#[test]
fn configuration_reads_toml_and_the_environment_and_refuses_what_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ketamine-cds.toml");
    std::fs::write(
        &file,
        r#"
public_base_url = "https://cds.example.org"
[auth]
[[auth.issuers]]
iss = "https://sandbox.cds-hooks.org"
jwks_url = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
tenants = ["a"]
[fhir]
deadline_ms = 1500
"#,
    )
    .unwrap();
    let config = FileConfig::load(Some(&file)).unwrap();
    assert!(config.auth_required(), "a config file means auth required unless it says off");
    assert_eq!(config.auth.issuers[0].tenants, ["a"]);
    assert_eq!(config.fhir.deadline_ms, 1500);
    assert_eq!(config.auth.leeway_seconds, 60);
    assert!(FileConfig::load(None).is_ok_and(|c| !c.auth_required()), "no file: auth off");

    let shared_jwks = data().join("cds-hooks/sandbox-jwks.json");
    let sandbox = format!(
        "public_base_url = \"https://cds.example.org\"\n[auth]\nmode = \"required\"\n[[auth.issuers]]\niss = \"https://sandbox.cds-hooks.org\"\njwks_file = \"{}\"\n",
        shared_jwks.display()
    );
    std::fs::write(&file, sandbox).unwrap();
    let config = FileConfig::load(Some(&file)).unwrap();
    let auth = ketamine_cds::auth::Authenticator::new(&config.auth);
    assert!(auth.is_ok(), "the sandbox's public JWKS loads from a file");

    for (text, complaint) in [
        ("[auth]\nmode = \"required\"\n", "no [[auth.issuers]]"),
        (
            "[auth]\nmode = \"required\"\n[[auth.issuers]]\niss = \"x\"\njwks_url = \"https://x/jwks\"\n",
            "public_base_url",
        ),
        (
            "public_base_url = \"https://c\"\n[[auth.issuers]]\niss = \"x\"\njwks_url = \"http://10.1.1.1/jwks\"\n",
            "must be https",
        ),
        ("public_base_url = \"https://c\"\n[[auth.issuers]]\niss = \"x\"\n", "exactly one of jwks_url and jwks_file"),
    ] {
        std::fs::write(&file, text).unwrap();
        let error = FileConfig::load(Some(&file)).unwrap_err();
        assert!(error.contains(complaint), "{text}: {error}");
    }
}

/// A token with any header, signed by hand (jsonwebtoken's `Header` has no `crit` or `zip`).
fn token_with_header(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let message = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, key.alg).unwrap();
    format!("{message}.{signature}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_future_exp_is_refused_and_cannot_replay() {
    let s = setup(vec![]);
    let mut far = claims(ISS, &aud());
    far["exp"] = json!(u64::MAX - 5);
    let t = token(&keys().0, &far);
    // Twice: `exp + leeway` once overflowed, so the replay entry expired at once.
    assert_refused(&s, Some(format!("Bearer {t}")), "exp near 2^64").await;
    assert_refused(&s, Some(format!("Bearer {t}")), "exp near 2^64, again").await;
    let mut day = claims(ISS, &aud());
    day["exp"] = json!(now() + 86_400);
    assert_refused(&s, Some(format!("Bearer {}", token(&keys().0, &day))), "a day-long token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crit_and_zip_headers_long_jtis_and_large_tokens_are_refused() {
    let s = setup(vec![]);
    let ec = &keys().0;
    let header = json!({ "alg": "ES384", "typ": "JWT", "kid": "ec-1" });
    let plain = token_with_header(ec, &header, &claims(ISS, &aud()));
    assert_eq!(call(&s, Some(format!("Bearer {plain}"))).await.status(), 200, "the hand-signed token is good");
    let mut crit = header.clone();
    crit["crit"] = json!(["exp-ext"]);
    crit["exp-ext"] = json!(1);
    assert_refused(&s, Some(format!("Bearer {}", token_with_header(ec, &crit, &claims(ISS, &aud())))), "crit").await;
    let mut zip = header.clone();
    zip["zip"] = json!("DEF");
    assert_refused(&s, Some(format!("Bearer {}", token_with_header(ec, &zip, &claims(ISS, &aud())))), "zip").await;
    let mut long_jti = claims(ISS, &aud());
    long_jti["jti"] = json!("j".repeat(10_000));
    assert_refused(&s, Some(format!("Bearer {}", token(ec, &long_jti))), "10 KB jti").await;
    let mut large = claims(ISS, &aud());
    large["padding"] = json!("p".repeat(9_000));
    assert_refused(&s, Some(format!("Bearer {}", token(ec, &large))), "9 KB token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_pinned_issuer_accepts_the_jku_it_names_as_the_sandbox_sends_it() {
    let s = setup(vec![]);
    let rsa = &keys().1;
    // Shaped as the sandbox's tokens: a jku header, and iss, aud, exp, iat, jti.
    let sandbox_header = json!({ "alg": "RS384", "typ": "JWT", "kid": "rsa-1", "jku": SANDBOX_JKU });
    let t = token_with_header(rsa, &sandbox_header, &claims(FILE_ISS, &aud()));
    assert_eq!(call(&s, Some(format!("Bearer {t}"))).await.status(), 200);
    let mut other = sandbox_header.clone();
    other["jku"] = json!("https://attacker.example/jwks.json");
    assert_refused(
        &s,
        Some(format!("Bearer {}", token_with_header(rsa, &other, &claims(FILE_ISS, &aud())))),
        "other jku",
    )
    .await;
    // The jku is compared, never fetched: the sandbox's real JWKS is nowhere reachable here.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_in_the_jwks_file_is_accepted_without_a_restart() {
    let s = setup(vec![]);
    let (_, rsa, rotated) = keys();
    let t = || format!("Bearer {}", token(rotated, &claims(FILE_ISS, &aud())));
    assert_refused(&s, Some(t()), "not in the file yet").await;
    std::fs::write(&s.jwks_file, json!({ "keys": [rsa.jwk, rotated.jwk] }).to_string()).unwrap();
    assert_eq!(call(&s, Some(t())).await.status(), 200, "the file is read again on an unknown kid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epic_shaped_rs384_token_is_accepted_and_an_issuer_configured_as_epic_gets_epics_cards() {
    let (ec, rsa, _) = keys();
    // The file-pinned issuer is this site's Epic; links only to doi.org's 10.1097 prefix.
    let s = setup_tuned(|config| {
        config.auth.issuers[1].client = Some(ketamine_cds::cards::profile::Client::Epic);
        config.links.allowed = vec!["https://doi.org/10.1097/".into()];
    });
    // As Epic signs: RS384, a jku header, nbf five minutes before iat, a 15-minute life, sub the
    // client id.
    let header = json!({ "alg": "RS384", "typ": "JWT", "kid": "rsa-1", "jku": SANDBOX_JKU });
    let mut c = claims(FILE_ISS, &aud());
    c["nbf"] = json!(now() - 300);
    c["exp"] = json!(now() + 900);
    c["sub"] = json!("epic-client-id");
    let response = call(&s, Some(format!("Bearer {}", token_with_header(rsa, &header, &c)))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let card = &body["cards"][0];
    assert_eq!(card["source"]["topic"]["code"], "KetamineStepTherapy", "{card:#}");
    assert_eq!(card["selectionBehavior"], "any");
    assert!(card["suggestions"].as_array().unwrap().iter().all(|s| s["actions"].as_array().unwrap().len() == 1));
    // Links off the allow-list never leave the service (the source URL is NeuPSIG's, 10.1016).
    let links: Vec<&str> = card["links"].as_array().unwrap().iter().map(|l| l["url"].as_str().unwrap()).collect();
    assert!(!links.is_empty() && links.iter().all(|l| l.starts_with("https://doi.org/10.1097/")), "{links:?}");
    assert!(card["source"].get("url").is_none(), "{card:#}");
    // The other issuer is no Epic: the generic shape.
    let generic = call(&s, Some(format!("Bearer {}", token(ec, &claims(ISS, &aud()))))).await;
    let generic: Value = generic.json().await.unwrap();
    assert_eq!(generic["cards"][0]["source"]["topic"]["code"], "ketamine-step-therapy");
    assert_eq!(generic["cards"][0]["selectionBehavior"], "at-most-one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuers_own_rollout_mode_overrides_the_sites() {
    let (ec, rsa, _) = keys();
    // The site is live; the file-pinned issuer (an EHR being brought on) runs silent.
    let s = setup_tuned(|config| config.auth.issuers[1].rollout = Some(ketamine_cds::config::RolloutMode::Silent));
    let quiet = call(&s, Some(format!("Bearer {}", token(rsa, &claims(FILE_ISS, &aud()))))).await;
    assert_eq!(quiet.json::<Value>().await.unwrap(), json!({ "cards": [] }));
    let shown = call(&s, Some(format!("Bearer {}", token(ec, &claims(ISS, &aud()))))).await;
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(
        shown["cards"][0]["summary"].as_str().map(|s| s.starts_with("Ketamine for neuropathic pain")),
        Some(true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_definition_apply_is_authenticated_as_the_hooks_are() {
    let s = setup(vec![]);
    let path = "/PlanDefinition/ketamine-step-therapy/$apply";
    let bundle = read_json(&repo().join("examples/bundles/01-untreated-patient.json"));
    let body = json!({ "resourceType": "Parameters", "parameter": [
        { "name": "subject", "valueString": "Patient/example-patient" }, { "name": "data", "resource": bundle } ] });
    let post = |token: Option<String>| {
        let mut request = client().post(format!("{}{path}", s.server.base)).json(&body);
        if let Some(t) = token {
            request = request.header("authorization", t);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    let (ec, _, _) = keys();
    let token = token(ec, &claims(ISS, &format!("{BASE}{path}")));
    let answered = post(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(answered.status(), 200);
    assert_eq!(answered.json::<Value>().await.unwrap()["resourceType"], "RequestGroup");
    // The CapabilityStatement is public, as discovery is.
    assert_eq!(client().get(format!("{}/metadata", s.server.base)).send().await.unwrap().status(), 200);
}
