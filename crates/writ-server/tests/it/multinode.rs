//! Two Writ nodes on one PostgreSQL database (the real server at `WRIT_TEST_POSTGRES_URL`, a
//! fresh database per test), behind one issuer URL as behind a load balancer: what one node
//! writes, the other serves — users, clients, keys — and a permission change made through one
//! reaches a guard following the other's event feed within a second.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use writ_guard::{EventFeed, Guard, GuardOptions, VerifyError};

use crate::helpers::{PgTestDb, TestApp, two_nodes};

const TODOS: &str = "https://todos.example/api";

/// Polls `f` every 10 ms until it is true; returns how long it took (panics after 5 s).
async fn within<F, Fut>(what: &str, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if f().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: not within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn what_one_node_writes_the_other_serves() {
    let db = PgTestDb::create("writ_mn").await;
    let (a, b) = two_nodes(&db).await;

    // A client created through A can get tokens from B (B reloads its catalog on A's NOTIFY).
    a.todo_editor(TODOS, "alice@example.com", "alice-password-1")
        .await;
    let client = a.password_client().await;
    let took = within("B knows A's new client", || async {
        alice_login(&b, &client).await.status == 200
    })
    .await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    // …and the token carries the permissions granted through A.
    let t = token(&b, &client).await;
    let (_, claims) = crate::helpers::jwt_parts(&t);
    assert_eq!(claims["permissions"], json!(["read:todos", "write:todos"]));

    // Both nodes publish the same keys; a rotation through B is in A's JWKS at once.
    let jwks = |app: &TestApp| {
        let http = app.http.clone();
        let url = format!("{}/.well-known/jwks.json", app.base);
        async move {
            let mut kids = crate::helpers::jwks_kids(&crate::helpers::json_of(http.get(url)).await);
            kids.sort();
            kids
        }
    };
    assert_eq!(jwks(&a).await, jwks(&b).await);
    b.api(Method::POST, "/keys/signing/rotate", None)
        .await
        .assert(200);
    let after = jwks(&b).await;
    let took = within("A's JWKS has B's rotation", || {
        let j = jwks(&a);
        let after = after.clone();
        async move { j.await == after }
    })
    .await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    // A token signed by A after the rotation verifies with B's JWKS (same current key).
    let t = token(&a, &client).await;
    let (h, _) = crate::helpers::jwt_parts(&t);
    assert!(after.contains(&h["kid"].as_str().unwrap().to_owned()));

    // An action bound through A runs on B's next token requests, and stops when deleted through
    // A: bound actions are cached in memory until the catalog moves (no timer).
    let claim = |t: &str| crate::helpers::jwt_parts(t).1["https://mn.example/node"].clone();
    assert_eq!(claim(&token(&b, &client).await), json!(null));
    let id = a
        .bind_action(
            "post-login",
            json!({"name": "mark",
                   "code": "exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim('https://mn.example/node', 'hooked'); };"}),
        )
        .await;
    let took = within("B runs the action bound through A", || async {
        claim(&token(&b, &client).await) == json!("hooked")
    })
    .await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    a.api_delete(&format!("/actions/actions/{id}"))
        .await
        .assert(204);
    within("B stops running the action deleted through A", || async {
        claim(&token(&b, &client).await) == json!(null)
    })
    .await;

    drop((a, b));
    drop(db);
}

#[tokio::test]
async fn a_change_through_one_node_reaches_a_guard_on_the_other_within_a_second() {
    let db = PgTestDb::create("writ_mn").await;
    let (a, b) = two_nodes(&db).await;
    let (editor, alice) = a
        .todo_editor(TODOS, "alice@example.com", "alice-password-1")
        .await;
    let (feed_id, feed_secret) = a.machine(&a.mgmt_audience(), &["read:authz_events"]).await;
    let client = a.password_client().await;
    // The guard follows node B's feed; tokens come from node A.
    let guard = Guard::from_jwks_uri(
        &b.issuer,
        TODOS,
        &format!("{}/.well-known/jwks.json", b.base),
        GuardOptions {
            events: Some(EventFeed {
                client_id: feed_id,
                client_secret: feed_secret,
                writ_url: Some(b.base.clone()),
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut worst = Duration::ZERO;
    for round in 0..5 {
        let old = token(&a, &client).await;
        guard.verify(&old).await.unwrap();
        let method = if round % 2 == 0 {
            Method::DELETE
        } else {
            Method::POST
        };
        a.user_roles(method, &alice, &[&editor]).await;
        let took = within("the guard on B refuses A's old token", || async {
            matches!(
                guard.verify(&old).await,
                Err(VerifyError::PermissionsChanged)
            )
        })
        .await;
        worst = worst.max(took);
        // A fresh token (from B this time) reflects the change and passes.
        let fresh = token(&b, &client).await;
        let c = guard.verify(&fresh).await.unwrap();
        assert_eq!(c.has_permission("write:todos"), round % 2 == 1);
    }
    assert!(
        worst < Duration::from_secs(1),
        "worst propagation across nodes {worst:?}"
    );
    drop((a, b, guard));
    drop(db);
}

#[tokio::test]
async fn a_login_started_on_one_node_finishes_on_the_other() {
    let db = PgTestDb::create("writ_mn").await;
    let (a, b) = two_nodes(&db).await;
    a.create_api(TODOS, "ES256", &["read:todos"], true).await;
    a.allow_offline_access(TODOS).await;
    let alice = a.create_user("alice@example.com", "alice-password-1").await;
    let (spa, _) = a
        .create_client(json!({
            "name": "spa", "app_type": "spa",
            "callbacks": ["http://127.0.0.1:5173/"],
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .await;
    // /authorize on A renders the login page.
    let verifier = "x".repeat(64);
    let challenge = crate::helpers::challenge(&verifier);
    // `/authorize` of the SPA on `node`, with `extra` parameters.
    let authorize = |node: &TestApp, extra: &[(&str, &str)]| {
        node.http
            .get(format!("{}/authorize", node.base))
            .query(&[
                ("client_id", spa.as_str()),
                ("response_type", "code"),
                ("redirect_uri", "http://127.0.0.1:5173/"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .query(extra)
            .send()
    };
    within("B knows the SPA client", || async {
        authorize(&b, &[]).await.unwrap().status() == 200
    })
    .await;
    let page = authorize(
        &a,
        &[
            ("audience", TODOS),
            ("scope", "openid offline_access read:todos"),
            ("state", "s1"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(page.status(), 200);
    let cookies: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let html = page.text().await.unwrap();
    // Every hidden field of the form, posted to B.
    let mut form: Vec<(String, String)> = Vec::new();
    for input in html.split("<input").skip(1) {
        let attr = |name: &str| {
            input
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(|v| {
                    v.replace("&amp;", "&")
                        .replace("&quot;", "\"")
                        .replace("&#x2F;", "/")
                        .replace("&#47;", "/")
                })
        };
        if input.contains("type=\"hidden\"")
            && let (Some(n), Some(v)) = (attr("name"), attr("value"))
        {
            form.push((n, v));
        }
    }
    assert!(!form.is_empty(), "no hidden fields in the login page");
    form.push(("username".into(), "alice@example.com".into()));
    form.push(("password".into(), "alice-password-1".into()));
    let resp = crate::helpers::post_form(
        format!("{}/u/login", b.base),
        Some(&cookies.join("; ")),
        Some(a.issuer.trim_end_matches('/')),
        &form,
    )
    .await;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no redirect from B's login ({status})"));
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"));
    // The code B issued is exchanged at A.
    let t = a
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &spa),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:5173/"),
            ("code_verifier", &verifier),
        ])
        .await
        .assert(200);
    let (_, claims) = crate::helpers::jwt_parts(t.body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], json!(alice));
    assert_eq!(claims["aud"][0], json!(TODOS));

    // Refresh tokens are shared too: rotated at B, the old one reused at A is detected as
    // reuse, which revokes the whole family on both nodes.
    let rt1 = t.body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let rt2 = refresh(&b, &spa, &rt1)
        .await
        .assert(200)
        .field("refresh_token");
    assert_ne!(rt1, rt2);
    let reused = refresh(&a, &spa, &rt1).await.assert(400);
    assert_eq!(reused.body["error"], "invalid_grant");
    let revoked = refresh(&b, &spa, &rt2).await.assert(400);
    assert_eq!(revoked.body["error"], "invalid_grant");
    drop((a, b));
    drop(db);
}

async fn refresh(node: &TestApp, client_id: &str, rt: &str) -> crate::helpers::Resp {
    node.token_form(&[
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("refresh_token", rt),
    ])
    .await
}

/// Alice's password grant on `app`.
async fn alice_login(app: &TestApp, client: &(String, String)) -> crate::helpers::Resp {
    app.password_token(client, "alice@example.com", "alice-password-1", TODOS, None)
        .await
}

async fn token(app: &TestApp, client: &(String, String)) -> String {
    alice_login(app, client)
        .await
        .assert(200)
        .field("access_token")
}

/// A user's live stream on node B is told of a change written through node A (B's dispatcher
/// follows the shared log, woken by PostgreSQL's NOTIFY).
#[tokio::test]
async fn a_change_through_one_node_reaches_a_live_stream_on_the_other() {
    let db = PgTestDb::create("writ_mn").await;
    let (a, b) = two_nodes(&db).await;
    let (editor, alice) = a
        .todo_editor(TODOS, "alice@example.com", "alice-password-1")
        .await;
    let client = a.password_client().await;
    within("B knows A's new client", || async {
        alice_login(&b, &client).await.status == 200
    })
    .await;
    let t = token(&b, &client).await;
    let (mut stream, _) = crate::live::open(&b, &t, None).await;
    a.remove_roles(&alice, &[&editor]).await;
    let (seq, data) = stream.authz().await;
    assert_eq!(data["kind"], "role_unassigned");
    assert_eq!(data["version"], seq);
    // And resuming on A from what B told: the next change, written through B, comes next.
    let (mut on_a, _) = crate::live::open(&a, &t, Some(seq)).await;
    b.assign_roles(&alice, &[&editor]).await;
    let (seq2, data2) = on_a.authz().await;
    assert!(seq2 > seq);
    assert_eq!(data2["kind"], "role_assigned");
}
