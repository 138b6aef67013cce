//! Signing keys: rotation publishes before signing and keeps retired keys until expiry.

use reqwest::Method;

use crate::helpers::*;

const TODOS: &str = "https://todos.example/api";

#[tokio::test]
async fn rotation_and_revocation() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let (id, secret) = app.machine(TODOS, &["read:todos"]).await;
    let old_token = app.cc_token(&id, &secret, TODOS, None).await;
    let old_kid = jwt_parts(&old_token).0["kid"].as_str().unwrap().to_owned();
    let keys = app.api_get("/keys/signing").await;
    let next_rsa = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["next"] == true && k["alg"] == "RS256")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    // The next key is published before it signs.
    assert!(jwks_kids(&app.get("/.well-known/jwks.json").await.body).contains(&next_rsa));
    let r = app
        .api(Method::POST, "/keys/signing/rotate", None)
        .await
        .assert(200);
    assert_eq!(r.body["kid"], next_rsa);
    let new_token = app.cc_token(&id, &secret, TODOS, None).await;
    assert_eq!(jwt_parts(&new_token).0["kid"], next_rsa);
    // The retired key stays published while its tokens live; the Management API still accepts
    // a token signed before rotation.
    let jwks = app.get("/.well-known/jwks.json").await.body;
    assert!(jwks_kids(&jwks).contains(&old_kid));
    assert_eq!(jwks_kids(&jwks).len(), 3, "previous + current + new next");
    let k = app.api_get(&format!("/keys/signing/{old_kid}")).await;
    assert_eq!(k["previous"], true);
    assert!(k["current_until"].is_string());
    // Current keys cannot be revoked; previous ones can, and leave the JWKS.
    for (kid, status) in [(&next_rsa, 400), (&old_kid, 200)] {
        app.api(Method::PUT, &format!("/keys/signing/{kid}/revoke"), None)
            .await
            .assert(status);
    }
    assert!(!jwks_kids(&app.get("/.well-known/jwks.json").await.body).contains(&old_kid));
    // Tokens signed by a revoked key are refused at once (the cached admin token is one).
    app.api(Method::GET, "/keys/signing", None)
        .await
        .assert_message(401, "unknown signing key");
    let fresh = app.mgmt_token(ADMIN_ID, ADMIN_SECRET).await;
    app.get_as(&fresh, "/keys/signing/nope").await.assert(404);
}

#[tokio::test]
async fn keys_survive_restart_encrypted() {
    let app = TestApp::spawn().await;
    let jwks = app.get("/.well-known/jwks.json").await.body;
    // Private keys are sealed in the database: no PKCS#8 header in the blob.
    let blobs: Vec<Vec<u8>> = sqlx_blobs(&app).await;
    assert!(!blobs.is_empty());
    for b in &blobs {
        assert!(!b.starts_with(&[0x30, 0x82]), "private key stored in clear");
    }
    // A second server on the same database serves the same keys.
    let db = match app.pg_url() {
        // PostgreSQL: the key-encryption key comes from the environment, as it must there.
        Some(url) => url.to_owned(),
        None => {
            assert!(app.dir.path().join("writ.kek").exists());
            format!("sqlite://{}/writ.db", app.dir.path().display())
        }
    };
    let again = TestApp::spawn_with(|v| {
        v.iter_mut()
            .find(|(k, _)| k == "WRIT_DATABASE_URL")
            .unwrap()
            .1 = db.clone();
    })
    .await;
    assert_eq!(
        jwks_kids(&again.get("/.well-known/jwks.json").await.body),
        jwks_kids(&jwks)
    );
}

async fn sqlx_blobs(app: &TestApp) -> Vec<Vec<u8>> {
    let keys = app.state.store.signing_keys().await.unwrap();
    keys.into_iter().map(|k| k.private_der).collect()
}
