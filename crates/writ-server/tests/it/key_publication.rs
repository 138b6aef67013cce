//! The JWKS warm-up of ES256 and EdDSA keys: an API that starts needing one gets that key
//! published at once, but its tokens stay on RS256 until `WRIT_JWKS_WARMUP_SECS` has passed
//! since the key appeared, as the Management API and the console say; the publication time is
//! kept in the store, so a restart neither restarts nor skips the warm-up. Also: the keys'
//! certificates are kept in the store, so they are the same after a restart.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use writ_core::SigningAlg;
use writ_guard::{KeySet, Verifier, VerifierConfig};

use crate::helpers::*;

const TODOS: &str = "https://todos.example/api";

/// The kids of the JWKS's keys of `alg`.
async fn published(app: &TestApp, alg: &str) -> Vec<String> {
    let jwks = app.get("/.well-known/jwks.json").await.assert(200).body;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == alg)
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The current key of `alg` (the one that signs for it once it may).
fn current_kid(app: &TestApp, alg: SigningAlg) -> String {
    app.state.keys.load().signer(alg).unwrap().kid.clone()
}

/// A client-credentials token for `TODOS`: its header's `alg` and `kid`, and the token.
async fn token(app: &TestApp, client: &(String, String)) -> (String, String, String) {
    let t = app.cc_token(&client.0, &client.1, TODOS, None).await;
    let (h, _) = jwt_parts(&t);
    (
        h["alg"].as_str().unwrap().to_owned(),
        h["kid"].as_str().unwrap().to_owned(),
        t,
    )
}

/// The moment `until` (RFC 3339) names, as a wait from now (zero if already past).
fn wait_for(until: &str) -> Duration {
    let at = chrono::DateTime::parse_from_rfc3339(until).expect("an RFC 3339 time");
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default()
}

/// The API's `signing_alg_effective_until`, which must be a time.
fn until_of(api: &Value) -> String {
    api["signing_alg_effective_until"]
        .as_str()
        .unwrap_or_else(|| panic!("warming up: {api}"))
        .to_owned()
}

#[tokio::test]
async fn an_api_switched_to_es256_signs_with_rs256_until_the_warmup_has_passed() {
    let app = TestApp::spawn_with_vars(&[("WRIT_JWKS_WARMUP_SECS", "5")]).await;
    let api = app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let id = api["id"].as_str().unwrap().to_owned();
    assert_eq!(api["signing_alg_effective"], "RS256");
    assert_eq!(api["signing_alg_effective_until"], Value::Null);
    let client = app.machine(TODOS, &["read:todos"]).await;
    assert!(published(&app, "ES256").await.is_empty());

    // Switched to ES256: its keys (current and next) are published at once…
    let patched = app
        .api(
            Method::PATCH,
            &format!("/resource-servers/{id}"),
            Some(json!({"signing_alg": "ES256"})),
        )
        .await
        .assert(200)
        .body;
    let es_kids = published(&app, "ES256").await;
    assert_eq!(es_kids.len(), 2, "{es_kids:?}");
    assert!(es_kids.contains(&current_kid(&app, SigningAlg::ES256)));
    // …but its tokens are signed with the current RSA key, as the API's record says.
    let (alg, kid, _) = token(&app, &client).await;
    assert_eq!(
        (alg.as_str(), kid),
        ("RS256", current_kid(&app, SigningAlg::RS256))
    );
    assert_eq!(patched["signing_alg"], "ES256");
    assert_eq!(patched["signing_alg_effective"], "RS256");
    let until = until_of(&patched);
    let read = app.api_get(&format!("/resource-servers/{id}")).await;
    assert_eq!(read["signing_alg_effective"], "RS256");
    assert_eq!(until_of(&read), until, "one warm-up, one end");
    let listed = app.api_get("/resource-servers").await;
    let listed = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["signing_alg_effective"], "RS256");
    assert_eq!(until_of(&listed), until);

    // After the warm-up: ES256, verified with the published JWKS.
    tokio::time::sleep(wait_for(&until) + Duration::from_millis(50)).await;
    let (alg, kid, t) = token(&app, &client).await;
    assert_eq!(alg, "ES256");
    assert!(
        es_kids.contains(&kid),
        "signed with a key published since the switch"
    );
    let jwks = app.get("/.well-known/jwks.json").await.assert(200).body;
    assert_eq!(
        app.get("/.well-known/jwks.json")
            .await
            .header("cache-control"),
        Some("public, max-age=60")
    );
    let keys = KeySet::from_jwks(&jwks).unwrap();
    let claims = Verifier::new(VerifierConfig::new(app.issuer.clone(), TODOS), keys)
        .verify(&t)
        .expect("the ES256 token verifies against the JWKS");
    assert_eq!(claims.client_id, client.0);
    let read = app.api_get(&format!("/resource-servers/{id}")).await;
    assert_eq!(read["signing_alg_effective"], "ES256");
    assert_eq!(read["signing_alg_effective_until"], Value::Null);

    // A rotation promotes the ES256 next key, published since the switch: it signs at once.
    let next = es_kids
        .iter()
        .find(|k| **k != current_kid(&app, SigningAlg::ES256))
        .unwrap()
        .clone();
    app.api(Method::POST, "/keys/signing/rotate", None)
        .await
        .assert(200);
    let (alg, kid, _) = token(&app, &client).await;
    assert_eq!((alg.as_str(), kid), ("ES256", next));
}

#[tokio::test]
async fn an_algorithm_still_published_keeps_its_warmup_and_a_retiring_one_stays_published() {
    let app = TestApp::spawn_with_vars(&[("WRIT_JWKS_WARMUP_SECS", "3600")]).await;
    // Created with EdDSA: the creation starts the warm-up.
    let api = app.create_api(TODOS, "EdDSA", &["read:todos"], true).await;
    let id = api["id"].as_str().unwrap().to_owned();
    assert_eq!(api["signing_alg"], "EdDSA");
    assert_eq!(api["signing_alg_effective"], "RS256");
    let until = until_of(&api);
    let client = app.machine(TODOS, &["read:todos"]).await;
    assert_eq!(token(&app, &client).await.0, "RS256");
    let ed_kids = published(&app, "EdDSA").await;
    assert_eq!(ed_kids.len(), 2);

    // A second API on EdDSA shares the warm-up (the key is already published).
    let other = app
        .create_api("https://other.example/api", "EdDSA", &[], false)
        .await;
    assert_eq!(until_of(&other), until);

    // No API uses EdDSA any more: its keys stay published while tokens they may have signed
    // are valid (the record retires them after the longest token lifetime).
    for api in [&id, other["id"].as_str().unwrap()] {
        app.api(
            Method::PATCH,
            &format!("/resource-servers/{api}"),
            Some(json!({"signing_alg": "RS256"})),
        )
        .await
        .assert(200);
    }
    assert_eq!(published(&app, "EdDSA").await, ed_kids);
    let record = app
        .state
        .store
        .key_publications()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.alg == SigningAlg::EdDSA)
        .unwrap();
    let retire = record.retire_after.expect("retiring");
    assert!(
        retire >= chrono::Utc::now().timestamp() + 86_400 - 60,
        "{retire}"
    );

    // Back on EdDSA while still published: the same warm-up, not a new one.
    let back = app
        .api(
            Method::PATCH,
            &format!("/resource-servers/{id}"),
            Some(json!({"signing_alg": "EdDSA"})),
        )
        .await
        .assert(200)
        .body;
    assert_eq!(until_of(&back), until);
    let record = app.state.store.key_publications().await.unwrap();
    assert!(
        record.iter().all(|p| p.retire_after.is_none()),
        "{record:?}"
    );
    assert_eq!(token(&app, &client).await.0, "RS256");

    // Deleting the last API that uses it retires it too.
    app.delete_gone(&format!("/resource-servers/{id}")).await;
    let record = app.state.store.key_publications().await.unwrap();
    assert!(
        record.iter().all(|p| p.retire_after.is_some()),
        "{record:?}"
    );
    assert_eq!(published(&app, "EdDSA").await, ed_kids);
}

#[tokio::test]
async fn a_restart_keeps_the_publication_time() {
    // A long warm-up: after a restart it has neither ended early nor started again.
    let app = TestApp::spawn_with_vars(&[("WRIT_JWKS_WARMUP_SECS", "3600")]).await;
    let api = app.create_api(TODOS, "ES256", &["read:todos"], true).await;
    let id = api["id"].as_str().unwrap().to_owned();
    let until = until_of(&api);
    let client = app.machine(TODOS, &["read:todos"]).await;
    let rsa = current_kid(&app, SigningAlg::RS256);
    let app = app.restart(|_| async {}).await;
    let read = app.api_get(&format!("/resource-servers/{id}")).await;
    assert_eq!(read["signing_alg_effective"], "RS256");
    assert_eq!(until_of(&read), until);
    let (alg, kid, _) = token(&app, &client).await;
    assert_eq!((alg.as_str(), kid), ("RS256", rsa));
    assert_eq!(published(&app, "ES256").await.len(), 2);

    // A short warm-up that ended before the restart: ES256 at once after it.
    let app = TestApp::spawn_with_vars(&[("WRIT_JWKS_WARMUP_SECS", "1")]).await;
    let api = app.create_api(TODOS, "ES256", &["read:todos"], true).await;
    let id = api["id"].as_str().unwrap().to_owned();
    let client = app.machine(TODOS, &["read:todos"]).await;
    tokio::time::sleep(wait_for(&until_of(&api)) + Duration::from_millis(50)).await;
    let app = app.restart(|_| async {}).await;
    let (alg, kid, _) = token(&app, &client).await;
    assert_eq!(
        (alg.as_str(), kid),
        ("ES256", current_kid(&app, SigningAlg::ES256))
    );
    let read = app.api_get(&format!("/resource-servers/{id}")).await;
    assert_eq!(read["signing_alg_effective"], "ES256");
    assert_eq!(read["signing_alg_effective_until"], Value::Null);
}

#[tokio::test]
async fn the_console_says_what_signs_while_the_key_warms_up() {
    let app = TestApp::spawn_with_vars(&[("WRIT_JWKS_WARMUP_SECS", "3600")]).await;
    let api = app.create_api(TODOS, "ES256", &["read:todos"], true).await;
    let id = api["id"].as_str().unwrap().to_owned();
    let until = until_of(&api);
    let plain = app
        .create_api("https://plain.example/api", "RS256", &[], false)
        .await;
    app.create_admin(
        "admins",
        writ_core::MANAGEMENT_SCOPES,
        "root@example.com",
        "root-password-1",
    )
    .await;
    let mut b = Browser::new(&app);
    let page = b
        .sign_in(
            &format!("/admin/apis/{id}"),
            "root@example.com",
            "root-password-1",
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let hms = &until[11..19];
    assert!(
        page.body.contains(&format!(
            "Tokens are signed with RS256 until {hms} UTC, while verifiers&#x27; JWKS caches pick up the new ES256 key."
        )) || page.body.contains(&format!(
            "Tokens are signed with RS256 until {hms} UTC, while verifiers&#39; JWKS caches pick up the new ES256 key."
        )),
        "{}",
        page.body
    );
    let other = b
        .get(&format!("/admin/apis/{}", plain["id"].as_str().unwrap()))
        .await;
    assert_eq!(other.status, 200);
    assert!(!other.body.contains("signing-warmup"));
}

#[tokio::test]
async fn an_es256_key_shows_the_same_certificate_after_a_restart() {
    let app = TestApp::spawn().await;
    let kid = current_kid(&app, SigningAlg::ES256);
    let first = app.api_get(&format!("/keys/signing/{kid}")).await;
    assert!(
        first["cert"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    // Kept in the store, as DER.
    let der = app.state.store.key_certificate(&kid).await.unwrap();
    assert!(
        der.as_ref().is_some_and(|d| d.first() == Some(&0x30)),
        "{der:?}"
    );
    let app = app.restart(|_| async {}).await;
    let again = app.api_get(&format!("/keys/signing/{kid}")).await;
    for field in ["cert", "pkcs7", "fingerprint", "thumbprint"] {
        assert_eq!(again[field], first[field], "{field}");
    }
    // The list shows the same one too.
    let listed = app.api_get("/keys/signing").await;
    let listed = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["fingerprint"], first["fingerprint"]);
}
