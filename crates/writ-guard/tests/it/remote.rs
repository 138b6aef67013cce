//! `Guard` against a real discovery + JWKS server on 127.0.0.1: discovery, rate-limited refetch
//! on unknown kids, rotation, background refresh; and the axum extractor and tower layer
//! through a real HTTP server.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::handler::Handler;
use axum::routing::get;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use writ_guard::{
    AuthError, Claims, Guard, GuardError, GuardOptions, RequirePermissions, VerifyError,
};

use super::{Key, key};

const AUD: &str = "https://todos.example/api";

/// A tiny issuer: discovery document and a JWKS whose keys the test can change; counts fetches.
struct Issuer {
    iss: String,
    keys: Arc<Mutex<Vec<Value>>>,
    jwks_fetches: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start(keys: &[&Key]) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let iss = format!("http://{}/", listener.local_addr().unwrap());
        let jwk_list = Arc::new(Mutex::new(
            keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>(),
        ));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let doc = json!({"issuer": iss, "jwks_uri": format!("{iss}.well-known/jwks.json")});
        let (list, count) = (jwk_list.clone(), jwks_fetches.clone());
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { axum::Json(doc) }),
            )
            .route(
                "/.well-known/jwks.json",
                get(move || async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    let keys = list.lock().unwrap().clone();
                    axum::Json(json!({ "keys": keys }))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Issuer {
            iss,
            keys: jwk_list,
            jwks_fetches,
        }
    }

    fn add(&self, k: &Key) {
        self.keys.lock().unwrap().push(k.jwk.clone());
    }

    fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    fn claims(&self, permissions: Option<&[&str]>, scope: &str) -> Value {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let mut c = json!({"iss": self.iss, "sub": "usr_1", "aud": AUD, "iat": now, "exp": now + 600,
                           "jti": "j", "client_id": "c", "azp": "c", "scope": scope});
        if let Some(p) = permissions {
            c["permissions"] = json!(p);
        }
        c
    }

    async fn guard(&self, opts: GuardOptions) -> Guard {
        Guard::discover(&self.iss, AUD, opts).await.unwrap()
    }
}

fn sign_kid(k: &Key, kid: &str, claims: &Value) -> String {
    let mut h = Header::new(k.alg);
    h.kid = Some(kid.into());
    h.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&h, claims, &k.enc).unwrap()
}

fn sign(k: &Key, claims: &Value) -> String {
    sign_kid(k, k.kid, claims)
}

#[tokio::test]
async fn discovery_finds_the_keys() {
    let a = key(Algorithm::ES256, "a");
    let issuer = Issuer::start(&[&a]).await;
    let guard = issuer.guard(GuardOptions::default()).await;
    assert_eq!(
        guard.jwks_uri(),
        format!("{}.well-known/jwks.json", issuer.iss)
    );
    assert!(guard.verifier().knows_kid("a"));
    let claims = guard
        .verify(&sign(&a, &issuer.claims(Some(&["read:todos"]), "")))
        .await
        .unwrap();
    assert_eq!(claims.sub, "usr_1");
    assert_eq!(issuer.fetches(), 1);

    // The issuer must match the discovery document exactly.
    let no_slash = issuer.iss.trim_end_matches('/');
    match Guard::discover(no_slash, AUD, GuardOptions::default()).await {
        Err(GuardError::IssuerMismatch { expected, found }) => {
            assert_eq!((expected.as_str(), found), (no_slash, issuer.iss.clone()));
        }
        other => panic!("expected an issuer mismatch, got {other:?}"),
    }
    // Nothing listening.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    assert!(matches!(
        Guard::discover(&dead, AUD, GuardOptions::default()).await,
        Err(GuardError::Fetch { .. })
    ));
    // Wrong audience is still refused after discovery.
    let mut c = issuer.claims(Some(&["read:todos"]), "");
    c["aud"] = json!("https://other.example/");
    assert_eq!(
        guard.verify(&sign(&a, &c)).await.unwrap_err(),
        VerifyError::Audience
    );
}

#[tokio::test]
async fn known_version_is_the_latest_recorded_and_older_tokens_are_refused() {
    let a = key(Algorithm::ES256, "a");
    let issuer = Issuer::start(&[&a]).await;
    let guard = issuer.guard(GuardOptions::default()).await;
    assert_eq!(guard.known_version("usr_1"), None);
    let mut c = issuer.claims(Some(&["read:todos"]), "");
    c["authz_ver"] = json!(3);
    let token = sign(&a, &c);
    assert_eq!(guard.verify(&token).await.unwrap().sub, "usr_1");
    guard.record_version("usr_1", 4);
    assert_eq!(guard.known_version("usr_1"), Some(4));
    assert_eq!(
        guard.verify(&token).await.unwrap_err(),
        VerifyError::PermissionsChanged
    );
    // A lower version than the one known is ignored.
    guard.record_version("usr_1", 2);
    assert_eq!(guard.known_version("usr_1"), Some(4));
    assert_eq!(guard.known_version("usr_2"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_causes_at_most_one_refetch() {
    let a = key(Algorithm::ES256, "a");
    let issuer = Issuer::start(&[&a]).await;
    let guard = issuer.guard(GuardOptions::default()).await;
    assert_eq!(issuer.fetches(), 1);
    let claims = issuer.claims(Some(&["read:todos"]), "");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000u32 {
        let token = sign_kid(
            &a,
            &format!("bogus-{i}-{:x}", i.wrapping_mul(2654435761)),
            &claims,
        );
        let guard = guard.clone();
        tasks.spawn(async move { guard.verify(&token).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap_err(), VerifyError::UnknownKey);
    }
    let fetches = issuer.fetches();
    assert!(
        (1..=2).contains(&fetches),
        "{fetches} JWKS fetches for 1000 unknown kids"
    );
    // Known keys keep working during and after the flood, with no extra fetch.
    assert!(guard.verify(&sign(&a, &claims)).await.is_ok());
    assert_eq!(issuer.fetches(), fetches);
}

#[tokio::test]
async fn a_rotated_key_verifies_after_one_refetch() {
    let a = key(Algorithm::ES256, "a");
    let b = key(Algorithm::EdDSA, "b");
    let issuer = Issuer::start(&[&a]).await;
    let guard = issuer.guard(GuardOptions::default()).await;
    let token = sign(&b, &issuer.claims(Some(&["read:todos"]), ""));
    issuer.add(&b);
    assert!(!guard.verifier().knows_kid("b"));
    assert_eq!(guard.verify(&token).await.unwrap().sub, "usr_1");
    assert_eq!(issuer.fetches(), 2, "one refetch");
    // Cached from now on.
    assert!(guard.verify(&token).await.is_ok());
    assert!(
        guard
            .verify(&sign(&a, &issuer.claims(None, "x")))
            .await
            .is_ok()
    );
    assert_eq!(issuer.fetches(), 2);

    // Within the interval a further new key is not fetched; an explicit refresh brings it.
    let c = key(Algorithm::ES256, "c");
    issuer.add(&c);
    let token_c = sign(&c, &issuer.claims(None, "read:todos"));
    assert_eq!(
        guard.verify(&token_c).await.unwrap_err(),
        VerifyError::UnknownKey
    );
    assert_eq!(issuer.fetches(), 2, "rate limited");
    guard.refresh().await.unwrap();
    assert!(guard.verify(&token_c).await.is_ok());
}

#[tokio::test]
async fn background_refresh_learns_the_next_key_before_it_signs() {
    let a = key(Algorithm::ES256, "a");
    let next = key(Algorithm::ES256, "next");
    let issuer = Issuer::start(&[&a]).await;
    let guard = issuer
        .guard(GuardOptions {
            refresh_interval: Some(Duration::from_millis(50)),
            ..Default::default()
        })
        .await;
    issuer.add(&next);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !guard.verifier().knows_kid("next") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refresh never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The refresh task stops with the last clone of the guard.
    drop(guard);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_drop = issuer.fetches();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(issuer.fetches(), after_drop);
}

#[derive(Clone)]
struct AppState {
    guard: Guard,
}

impl FromRef<AppState> for Guard {
    fn from_ref(s: &AppState) -> Guard {
        s.guard.clone()
    }
}

async fn whoami(State(_): State<AppState>, Claims(c): Claims) -> String {
    c.sub
}

async fn maybe(c: Option<Claims>) -> String {
    c.map_or("anonymous".into(), |c| c.sub.clone())
}

struct Resp {
    status: u16,
    challenge: Option<String>,
    body: String,
}

async fn call(client: &reqwest::Client, url: &str, method: &str, auth: Option<&str>) -> Resp {
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let r = req.send().await.unwrap();
    Resp {
        status: r.status().as_u16(),
        challenge: r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: r.text().await.unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractor_and_layer_answer_per_rfc_6750() {
    let a = key(Algorithm::ES256, "a");
    let issuer = Issuer::start(&[&a]).await;
    let guard = issuer.guard(GuardOptions::default()).await;
    let app = Router::new()
        .route("/me", get(whoami))
        .route("/maybe", get(maybe))
        .route(
            "/todos",
            get(whoami)
                .route_layer(RequirePermissions::all(["read:todos"]))
                .post(whoami.layer(RequirePermissions::all(["write:todos"]))),
        )
        .route(
            "/either",
            get(whoami).route_layer(RequirePermissions::any(["write:todos", "admin"])),
        )
        .route(
            "/both",
            get(whoami).route_layer(
                RequirePermissions::all(["read:todos", "write:todos"]).with_guard(guard.clone()),
            ),
        )
        .route("/public", get(|| async { "hello" }))
        .layer(guard.layer())
        .with_state(AppState {
            guard: guard.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    let url = |p: &str| format!("{base}{p}");
    let bearer = |t: &str| format!("Bearer {t}");

    let reader = bearer(&sign(&a, &issuer.claims(Some(&["read:todos"]), "")));
    let writer_by_scope = bearer(&sign(&a, &issuer.claims(None, "openid write:todos")));
    let mut expired = issuer.claims(Some(&["read:todos"]), "");
    expired["exp"] = json!(jsonwebtoken::get_current_timestamp() as i64 - 3600);
    let expired = bearer(&sign(&a, &expired));

    // No token (or another scheme): 401 with a bare challenge.
    for (path, method, auth) in [
        ("/todos", "GET", None),
        ("/todos", "POST", None),
        ("/me", "GET", None),
        ("/todos", "GET", Some("Basic dXNlcjpwYXNz")),
    ] {
        let r = call(&client, &url(path), method, auth).await;
        assert_eq!(r.status, 401, "{method} {path} {auth:?}");
        assert_eq!(r.challenge.as_deref(), Some("Bearer realm=\"api\""));
        assert_eq!(
            serde_json::from_str::<Value>(&r.body).unwrap()["error"],
            "unauthorized"
        );
    }
    // Bad tokens: invalid_token, with a description, in the header and the JSON body.
    for (path, auth, desc) in [
        ("/todos", "Bearer not-a-jwt", "malformed token"),
        ("/todos", "Bearer", "malformed token"),
        ("/me", expired.as_str(), "token expired"),
        ("/todos", expired.as_str(), "token expired"),
        (
            "/todos",
            &bearer(&sign(
                &key(Algorithm::ES256, "zz"),
                &issuer.claims(None, ""),
            )),
            "unknown signing key",
        ),
    ] {
        let r = call(&client, &url(path), "GET", Some(auth)).await;
        assert_eq!(r.status, 401, "{path} {auth}");
        assert_eq!(
            r.challenge.unwrap(),
            format!("Bearer error=\"invalid_token\", error_description=\"{desc}\"")
        );
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(body["error_description"], desc);
    }
    // Valid token lacking the permission: 403 insufficient_scope naming the scope.
    let r = call(&client, &url("/todos"), "POST", Some(&reader)).await;
    assert_eq!(r.status, 403);
    let challenge = r.challenge.unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\"")
            && challenge.ends_with("scope=\"write:todos\""),
        "{challenge}"
    );
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(
        body["error_description"],
        "requires the write:todos permission"
    );
    let r = call(&client, &url("/both"), "GET", Some(&reader)).await;
    assert_eq!(r.status, 403);
    assert!(
        r.challenge
            .unwrap()
            .ends_with("scope=\"read:todos write:todos\"")
    );
    assert_eq!(
        call(&client, &url("/either"), "GET", Some(&reader))
            .await
            .status,
        403
    );
    // Granted: the permissions claim, or scope when there is no permissions claim.
    let r = call(&client, &url("/todos"), "GET", Some(&reader)).await;
    assert_eq!((r.status, r.body.as_str()), (200, "usr_1"));
    assert!(r.challenge.is_none());
    for (path, method) in [("/todos", "POST"), ("/either", "GET")] {
        let r = call(&client, &url(path), method, Some(&writer_by_scope)).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "usr_1"),
            "{method} {path}"
        );
    }
    assert_eq!(
        call(&client, &url("/todos"), "GET", Some(&writer_by_scope))
            .await
            .status,
        403,
        "scope without read:todos"
    );
    assert_eq!(
        call(&client, &url("/me"), "GET", Some(&reader)).await.body,
        "usr_1"
    );
    // Optional claims and public routes.
    assert_eq!(
        call(&client, &url("/maybe"), "GET", None).await.body,
        "anonymous"
    );
    assert_eq!(
        call(&client, &url("/maybe"), "GET", Some(&reader))
            .await
            .body,
        "usr_1"
    );
    assert_eq!(
        call(&client, &url("/maybe"), "GET", Some("Bearer x.y.z"))
            .await
            .status,
        401
    );
    assert_eq!(
        call(&client, &url("/public"), "GET", None).await.status,
        200
    );
}

/// The layer on a plain tower service (no axum routing), with `String` bodies.
#[tokio::test]
async fn the_layer_works_on_any_tower_service() {
    let a = key(Algorithm::ES256, "a");
    let issuer = Issuer::start(&[&a]).await;
    let guard = issuer.guard(GuardOptions::default()).await;
    let inner = tower::service_fn(|req: axum::http::Request<String>| async move {
        let sub = req
            .extensions()
            .get::<writ_guard::AccessClaims>()
            .map(|c| c.sub.clone())
            .unwrap_or_default();
        Ok::<_, Infallible>(axum::http::Response::new(format!("hello {sub}")))
    });
    let svc = RequirePermissions::any(["read:todos"])
        .with_guard(guard.clone())
        .layer(inner);
    let request = |auth: Option<String>| {
        let mut b = axum::http::Request::builder().uri("/");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(String::new()).unwrap()
    };
    async fn text(b: writ_guard::GuardBody<String>) -> String {
        let bytes = axum::body::to_bytes(axum::body::Body::new(b), 1 << 16)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    let token = sign(&a, &issuer.claims(Some(&["read:todos"]), ""));
    let ok = svc
        .clone()
        .oneshot(request(Some(format!("Bearer {token}"))))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(text(ok.into_body()).await, "hello usr_1");

    let denied = svc.clone().oneshot(request(None)).await.unwrap();
    assert_eq!(denied.status(), 401);
    assert_eq!(denied.headers()["content-type"], "application/json");
    assert_eq!(
        text(denied.into_body()).await,
        r#"{"error":"unauthorized","error_description":"a bearer token is required"}"#
    );

    // No guard anywhere: a misconfiguration, 500, never a pass.
    let bare = RequirePermissions::all(["read:todos"]).layer(tower::service_fn(
        |_: axum::http::Request<String>| async {
            Ok::<_, Infallible>(axum::http::Response::new(String::new()))
        },
    ));
    let r = bare
        .oneshot(request(Some(format!("Bearer {token}"))))
        .await
        .unwrap();
    assert_eq!(r.status(), 500);

    // The pure check.
    let claims = guard.verify(&token).await.unwrap();
    assert!(
        RequirePermissions::all(["read:todos"])
            .check(&claims)
            .is_ok()
    );
    assert!(matches!(
        RequirePermissions::all(["read:todos", "x"]).check(&claims),
        Err(AuthError::InsufficientScope { any: false, .. })
    ));
}
