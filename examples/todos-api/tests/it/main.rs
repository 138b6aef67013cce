//! The todos API end to end: a stub issuer (discovery + JWKS, real ES256 keys, real tokens),
//! the API on 127.0.0.1:0 against a SQLite file in a temp dir, and reqwest as the client.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use todos_api::{AUDIENCE, AppState};
use writ_guard::{Guard, GuardOptions};

/// A signing key and its public JWK.
struct Key {
    kid: String,
    enc: EncodingKey,
    jwk: Value,
}

fn es256(kid: &str) -> Key {
    let der = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .unwrap()
        .to_pkcs8v1()
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
    let enc = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.into());
    Key {
        kid: kid.into(),
        enc,
        jwk: serde_json::to_value(jwk).unwrap(),
    }
}

/// Serves `{iss}.well-known/openid-configuration` and the JWKS of `key`; returns the issuer.
async fn start_issuer(key: &Key) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let iss = format!("http://{}/", listener.local_addr().unwrap());
    let discovery = json!({"issuer": iss, "jwks_uri": format!("{iss}.well-known/jwks.json")});
    let jwks = json!({"keys": [key.jwk]});
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/.well-known/jwks.json",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    iss
}

struct TestApp {
    base: String,
    iss: String,
    key: Key,
    client: reqwest::Client,
    dir: tempfile::TempDir,
}

impl TestApp {
    async fn spawn() -> TestApp {
        let key = es256("k1");
        let iss = start_issuer(&key).await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}/nested/data/todos.db",
            dir.path().to_str().unwrap()
        );
        let db = todos_api::open_db(&url).await.unwrap();
        let guard = Guard::discover(&iss, AUDIENCE, GuardOptions::default())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let origins = vec!["http://localhost:5173".to_owned()];
        tokio::spawn(async move {
            todos_api::run(
                listener,
                AppState { guard, db },
                &origins,
                std::future::pending(),
            )
            .await
            .unwrap()
        });
        TestApp {
            base,
            iss,
            key,
            client: reqwest::Client::new(),
            dir,
        }
    }

    fn claims(&self, sub: &str, permissions: &[&str]) -> Value {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        json!({"iss": self.iss, "sub": sub, "aud": AUDIENCE, "iat": now, "exp": now + 600,
               "jti": format!("j-{sub}"), "client_id": "spa", "azp": "spa",
               "scope": "openid profile", "permissions": permissions, "authz_ver": 1})
    }

    fn sign(&self, claims: &Value, key: &Key) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(key.kid.clone());
        h.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&h, claims, &key.enc).unwrap()
    }

    /// A valid token for `sub` with `permissions`.
    fn token(&self, sub: &str, permissions: &[&str]) -> String {
        self.sign(&self.claims(sub, permissions), &self.key)
    }

    fn editor(&self, sub: &str) -> String {
        self.token(sub, &["read:todos", "write:todos", "delete:todos"])
    }

    fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn list(&self, token: Option<&str>) -> reqwest::Response {
        self.req(reqwest::Method::GET, "/todos", token)
            .send()
            .await
            .unwrap()
    }

    async fn create(&self, token: Option<&str>, body: &Value) -> reqwest::Response {
        self.req(reqwest::Method::POST, "/todos", token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn delete(&self, token: Option<&str>, id: &str) -> reqwest::Response {
        self.req(reqwest::Method::DELETE, &format!("/todos/{id}"), token)
            .send()
            .await
            .unwrap()
    }

    /// Creates a todo and returns it.
    async fn add(&self, token: &str, title: &str) -> Value {
        let r = self.create(Some(token), &json!({ "title": title })).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    async fn titles(&self, token: &str) -> Vec<String> {
        let r = self.list(Some(token)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let todos: Vec<Value> = r.json().await.unwrap();
        todos
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn without_a_valid_token_every_route_is_401() {
    let app = TestApp::spawn().await;
    for r in [
        app.list(None).await,
        app.create(None, &json!({"title": "x"})).await,
        app.delete(None, "1").await,
    ] {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenge(&r), "Bearer realm=\"api\"");
    }

    let mut other_aud = app.claims("usr_a", &["read:todos"]);
    other_aud["aud"] = json!("https://other.example/api");
    let mut other_iss = app.claims("usr_a", &["read:todos"]);
    other_iss["iss"] = json!("https://evil.example/");
    let mut expired = app.claims("usr_a", &["read:todos"]);
    expired["exp"] = json!(jsonwebtoken::get_current_timestamp() as i64 - 3600);
    let stranger = es256("k1"); // same kid, different key: forged signature
    for (token, description) in [
        ("garbage".to_owned(), "malformed token"),
        (app.sign(&other_aud, &app.key), "wrong audience"),
        (app.sign(&other_iss, &app.key), "wrong issuer"),
        (app.sign(&expired, &app.key), "token expired"),
        (
            app.token("usr_a", &["read:todos"]).replace('.', "x"),
            "malformed token",
        ),
        (
            app.sign(&app.claims("usr_a", &["read:todos"]), &stranger),
            "invalid signature",
        ),
    ] {
        let r = app.list(Some(&token)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{description}");
        assert_eq!(
            challenge(&r),
            format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
}

#[tokio::test]
async fn a_missing_permission_is_403_naming_the_scope() {
    let app = TestApp::spawn().await;
    let viewer = app.token("usr_bob", &["read:todos"]);
    assert_eq!(app.list(Some(&viewer)).await.status(), StatusCode::OK);

    let r = app.create(Some(&viewer), &json!({"title": "nope"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let c = challenge(&r);
    assert!(
        c.starts_with("Bearer error=\"insufficient_scope\"")
            && c.ends_with("scope=\"write:todos\""),
        "{c}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");

    let r = app.delete(Some(&viewer), "1").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(challenge(&r).ends_with("scope=\"delete:todos\""));

    let writer = app.token("usr_w", &["write:todos"]);
    let r = app.list(Some(&writer)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(challenge(&r).ends_with("scope=\"read:todos\""));
    assert_eq!(
        app.create(Some(&writer), &json!({"title": "write-only"}))
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn create_list_delete() {
    let app = TestApp::spawn().await;
    let alice = app.editor("usr_alice");
    assert!(app.titles(&alice).await.is_empty());

    let r = app
        .create(Some(&alice), &json!({"title": "  buy milk  "}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let milk: Value = r.json().await.unwrap();
    assert_eq!(milk["title"], "buy milk", "trimmed");
    assert_eq!(location, format!("/todos/{}", milk["id"]));
    assert!(milk["created_at"].as_str().unwrap().ends_with('Z'));
    let eggs = app.add(&alice, "eggs").await;
    assert_eq!(app.titles(&alice).await, ["buy milk", "eggs"]);

    let id = milk["id"].to_string();
    let r = app.delete(Some(&alice), &id).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.titles(&alice).await, ["eggs"]);
    let r = app.delete(Some(&alice), &id).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    for bad in ["abc", "999999", "-1"] {
        assert_eq!(
            app.delete(Some(&alice), bad).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        app.delete(Some(&alice), &eggs["id"].to_string())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(app.titles(&alice).await.is_empty());
    assert!(app.dir.path().join("nested/data/todos.db").exists());
}

#[tokio::test]
async fn each_user_sees_and_deletes_only_their_todos() {
    let app = TestApp::spawn().await;
    let alice = app.editor("usr_alice");
    let bob = app.editor("usr_bob");
    let machine = app.token("m2m@clients", &["read:todos"]);
    let a = app.add(&alice, "alice's").await;
    app.add(&bob, "bob's").await;
    assert_eq!(app.titles(&alice).await, ["alice's"]);
    assert_eq!(app.titles(&bob).await, ["bob's"]);
    assert!(app.titles(&machine).await.is_empty());
    let r = app.delete(Some(&bob), &a["id"].to_string()).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "not bob's to delete");
    assert_eq!(app.titles(&alice).await, ["alice's"]);
}

#[tokio::test]
async fn titles_are_validated_with_json_errors() {
    let app = TestApp::spawn().await;
    let alice = app.editor("usr_alice");
    for body in [
        json!({"title": ""}),
        json!({"title": "   "}),
        json!({"title": "x".repeat(201)}),
        json!({"title": 42}),
        json!({}),
        json!("just a string"),
        json!(null),
    ] {
        let r = app.create(Some(&alice), &body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_request", "{body}");
        assert!(e["error_description"].as_str().unwrap().len() > 3);
    }
    let r = app
        .req(reqwest::Method::POST, "/todos", Some(&alice))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .req(reqwest::Method::POST, "/todos", Some(&alice))
        .body(r#"{"title":"no content type"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // Exactly 200 characters (not bytes) is fine.
    let longest = "é".repeat(200);
    assert_eq!(app.add(&alice, &longest).await["title"], longest);
}

#[tokio::test]
async fn cors_lets_the_spa_call_and_read_challenges() {
    let app = TestApp::spawn().await;
    let spa = "http://localhost:5173";
    let r = app
        .req(reqwest::Method::OPTIONS, "/todos", None)
        .header("origin", spa)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], spa);
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("DELETE")
    );

    // A 401 to the SPA carries CORS headers and exposes the challenge.
    let r = app
        .req(reqwest::Method::GET, "/todos", None)
        .header("origin", spa)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["access-control-allow-origin"], spa);
    assert!(
        r.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_lowercase()
            .contains("www-authenticate")
    );

    // Other origins get no CORS grant.
    let r = app
        .req(reqwest::Method::GET, "/todos", Some(&app.editor("usr_a")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
