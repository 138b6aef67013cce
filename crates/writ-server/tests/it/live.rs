//! `GET /me/authz-events`, a user's own live stream: a change reaches its user's stream and no
//! other's, `Last-Event-ID` replays what a reconnecting stream missed (group changes too), the
//! stream ends when the token expires or the user is blocked, machine tokens and bad or absent
//! tokens are refused as RFC 6750 says, CORS follows the token's client's origins, the limits
//! hold and the open streams are counted in the metrics.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const TODOS: &str = "https://todos.example/api";
const SPA: &str = "http://127.0.0.1:5173";
const OTHER_SPA: &str = "http://127.0.0.1:5999";
const WAIT: Duration = Duration::from_secs(10);

/// One frame of the stream: its `event`, `id` and `data` (JSON).
#[derive(Debug)]
pub(crate) struct Frame {
    pub event: String,
    pub id: Option<i64>,
    pub data: Value,
}

/// A live stream being read.
pub(crate) struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    /// The next frame (heartbeat comments skipped); `None` once the server ended the stream.
    pub(crate) async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..end + 2).collect();
                let mut f = Frame {
                    event: "message".into(),
                    id: None,
                    data: Value::Null,
                };
                let mut any = false;
                for line in raw.lines() {
                    let (k, v) = line.split_once(':').unwrap_or((line, ""));
                    let v = v.strip_prefix(' ').unwrap_or(v);
                    match k {
                        "event" => (f.event, any) = (v.to_owned(), true),
                        "id" => (f.id, any) = (v.parse().ok(), true),
                        "data" => (f.data, any) = (serde_json::from_str(v).unwrap(), true),
                        _ => {}
                    }
                }
                if any {
                    return Some(f);
                }
                continue;
            }
            let chunk = tokio::time::timeout(WAIT, self.resp.chunk())
                .await
                .unwrap_or_else(|_| panic!("nothing on the stream within {WAIT:?}"))
                .expect("reading the stream")?;
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next frame, which must be an `authz` event: (seq, data).
    pub(crate) async fn authz(&mut self) -> (i64, Value) {
        let f = self.next().await.expect("an event, not the end");
        assert_eq!(f.event, "authz", "{f:?}");
        (f.id.expect("an id"), f.data)
    }
}

/// Sends `GET /me/authz-events` with `token` and these extra headers.
pub(crate) async fn request(
    app: &TestApp,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut r = app
        .http
        .get(format!("{}/me/authz-events", app.base))
        .header("accept", "text/event-stream");
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

/// Opens the stream of `token`'s user and reads its `ready` frame.
pub(crate) async fn open(
    app: &TestApp,
    token: &str,
    last_event_id: Option<i64>,
) -> (Stream, Value) {
    let id = last_event_id.map(|i| i.to_string());
    let headers: Vec<(&str, &str)> = id.iter().map(|i| ("last-event-id", i.as_str())).collect();
    let resp = request(app, Some(token), &headers).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.headers());
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut s = Stream {
        resp,
        buf: String::new(),
    };
    let ready = s.next().await.expect("a ready frame");
    assert_eq!(ready.event, "ready", "{ready:?}");
    assert_eq!(ready.id, None);
    (s, ready.data)
}

struct Setup {
    app: TestApp,
    client: (String, String),
    editor: String,
    viewer: String,
    alice: String,
    bob: String,
}

/// The todos API, `editor` (read, write) and `viewer` (read) roles, alice (editor) and bob
/// (nothing yet), and a client allowed the password grant whose web origin is [`SPA`].
async fn setup_with(app: TestApp) -> Setup {
    let (editor, alice) = app
        .todo_editor(TODOS, "alice@example.com", "alice-password-1")
        .await;
    let viewer = app.create_role("viewer", TODOS, &["read:todos"]).await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    let client = app
        .create_client(json!({"name": "spa-ish", "app_type": "regular_web", "grant_types": ["password"], "web_origins": [SPA]}))
        .await;
    Setup {
        app,
        client,
        editor,
        viewer,
        alice,
        bob,
    }
}

async fn setup() -> Setup {
    setup_with(TestApp::spawn().await).await
}

impl Setup {
    async fn token(&self, who: &str) -> String {
        let pw = format!("{who}-password-1");
        self.app
            .password_token(
                &self.client,
                &format!("{who}@example.com"),
                &pw,
                TODOS,
                None,
            )
            .await
            .assert(200)
            .field("access_token")
    }

    async fn version(&self, user: &str) -> i64 {
        self.app
            .state
            .store
            .authz_version(user)
            .await
            .expect("the user's version")
    }
}

#[tokio::test]
async fn a_change_reaches_its_users_stream_and_no_other() {
    let s = setup().await;
    let app = &s.app;
    let bob_token = s.token("bob").await;
    let (mut bob, ready) = open(app, &bob_token, None).await;
    assert_eq!(
        ready,
        json!({"version": s.version(&s.bob).await, "stale": false})
    );
    let (mut alice, _) = open(app, &s.token("alice").await, None).await;

    // A grant to bob: bob's stream tells it, with the log's seq as the id.
    app.assign_roles(&s.bob, &[&s.viewer]).await;
    let (seq, data) = bob.authz().await;
    let version = s.version(&s.bob).await;
    assert_eq!(data, json!({"version": version, "kind": "role_assigned"}));
    assert_eq!(seq, version, "a user's version is the seq of its event");
    // A direct permission, then a revocation: each in order.
    app.permissions(
        Method::POST,
        &format!("/users/{}", s.bob),
        TODOS,
        &["write:todos"],
    )
    .await
    .assert(201);
    let (seq2, d2) = bob.authz().await;
    assert!(seq2 > seq);
    assert_eq!(d2["kind"], "permissions_added", "{d2}");
    app.remove_roles(&s.bob, &[&s.viewer]).await;
    let (seq3, d3) = bob.authz().await;
    assert!(seq3 > seq2);
    assert_eq!(d3["kind"], "role_unassigned");

    // alice's stream was told none of bob's changes: its first event is her own change.
    app.remove_roles(&s.alice, &[&s.editor]).await;
    let (aseq, adata) = alice.authz().await;
    assert!(aseq > seq3);
    assert_eq!(adata["kind"], "role_unassigned");
    assert_eq!(adata["version"], s.version(&s.alice).await);
    assert_eq!(
        adata.as_object().unwrap().len(),
        2,
        "only version and kind: {adata}"
    );

    // bob's first token is older than his version now: a new stream says so at once.
    let (_again, ready) = open(app, &bob_token, None).await;
    assert_eq!(ready["stale"], true);
    assert_eq!(ready["version"], s.version(&s.bob).await);
}

#[tokio::test]
async fn last_event_id_replays_what_a_reconnecting_stream_missed() {
    let s = setup().await;
    let app = &s.app;
    let token = s.token("bob").await;
    let (mut bob, _) = open(app, &token, None).await;
    app.assign_roles(&s.bob, &[&s.viewer]).await;
    let (seen, _) = bob.authz().await;
    drop(bob);

    // While disconnected: two of bob's changes (one through a group), and one of alice's.
    let group = app
        .api_post("/groups", json!({"name": "team"}))
        .await
        .assert(201)
        .field("id");
    app.api_post(
        &format!("/groups/{group}/members"),
        json!({"members": [s.bob]}),
    )
    .await
    .assert(201);
    app.remove_roles(&s.alice, &[&s.editor]).await;
    app.group_relation(Method::POST, &group, "roles", &[&s.editor])
        .await
        .assert(201);

    // The same (now stale) token resumes: the missed events of bob's, in order, then live.
    let (mut bob, ready) = open(app, &token, Some(seen)).await;
    assert_eq!(ready["stale"], true);
    let (s1, d1) = bob.authz().await;
    let (s2, d2) = bob.authz().await;
    assert!(seen < s1 && s1 < s2, "{seen} {s1} {s2}");
    assert_eq!(d2["kind"], "group_roles_added", "{d2}");
    assert_eq!(d2["version"], s.version(&s.bob).await);
    assert_ne!(d1["kind"], "role_unassigned", "alice's change is not bob's");
    app.remove_roles(&s.bob, &[&s.viewer]).await;
    let (s3, d3) = bob.authz().await;
    assert!(s3 > s2);
    assert_eq!(d3["kind"], "role_unassigned");

    // Resuming from the last one: nothing is told twice; the next change comes next.
    let (mut again, _) = open(app, &token, Some(s3)).await;
    app.assign_roles(&s.bob, &[&s.viewer]).await;
    let (s4, _) = again.authz().await;
    assert!(s4 > s3);
}

#[tokio::test]
async fn the_stream_ends_when_the_token_expires_or_the_user_is_blocked() {
    let s = setup().await;
    let app = &s.app;
    app.patch_api(TODOS, json!({"token_lifetime": 3})).await;
    let (mut bob, _) = open(app, &s.token("bob").await, None).await;
    let end = bob.next().await.expect("a last frame");
    assert_eq!(end.event, "expired", "{end:?}");
    assert!(bob.next().await.is_none(), "the stream ends");
    // An expired token cannot open one.
    let t = s.token("bob").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let r = request(app, Some(&t), &[]).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // Blocked: told, then the end; and no new stream.
    app.patch_api(TODOS, json!({"token_lifetime": 3600})).await;
    let t = s.token("alice").await;
    let (mut alice, _) = open(app, &t, None).await;
    app.block_user(&s.alice).await;
    let (_, d) = alice.authz().await;
    assert_eq!(d["kind"], "user_blocked");
    assert_eq!(alice.next().await.expect("the last frame").event, "revoked");
    assert!(alice.next().await.is_none());
    assert_eq!(request(app, Some(&t), &[]).await.status(), 401);
}

#[tokio::test]
async fn machine_bad_and_absent_tokens_are_refused_as_rfc_6750_says() {
    let s = setup().await;
    let app = &s.app;
    let www = |r: &reqwest::Response| {
        r.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    // No token: 401 and a challenge without an error code.
    let r = request(app, None, &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(www(&r), "Bearer realm=\"writ\"");
    // A bad one, and one signed by no key of Writ's.
    for bad in [
        "garbage",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ4In0.c2ln",
    ] {
        let r = request(app, Some(bad), &[]).await;
        assert_eq!(r.status(), 401, "{bad}");
        assert!(www(&r).contains("error=\"invalid_token\""), "{}", www(&r));
    }
    let r = request(app, None, &[("authorization", "Basic eDp5")]).await;
    assert_eq!(r.status(), 400);
    assert!(www(&r).contains("invalid_request"));
    // A machine client's token: no user to follow.
    let (id, secret) = app.machine(TODOS, &["read:todos"]).await;
    let t = app
        .cc_form(&id, &secret, TODOS)
        .await
        .assert(200)
        .field("access_token");
    let r = request(app, Some(&t), &[]).await;
    assert_eq!(r.status(), 403);
    assert!(
        www(&r).contains("error=\"insufficient_scope\""),
        "{}",
        www(&r)
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn cors_follows_the_tokens_clients_origins() {
    let s = setup().await;
    let app = &s.app;
    app.create_client(json!({"name": "other", "app_type": "spa", "callbacks": [format!("{OTHER_SPA}/")], "web_origins": [OTHER_SPA]}))
        .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, format!("{}/me/authz-events", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header(
                "access-control-request-headers",
                "authorization,last-event-id",
            )
            .send()
    };
    let r = preflight(SPA).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], SPA);
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("last-event-id"),
        "{allowed}"
    );
    let r = preflight("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let token = s.token("bob").await;
    // From the token's client's origin: the stream, readable by that origin.
    let r = request(app, Some(&token), &[("origin", SPA)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], SPA);
    assert!(
        r.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("www-authenticate")
    );
    drop(r);
    // Another client's origin may call Writ, but not with this client's token.
    let r = request(app, Some(&token), &[("origin", OTHER_SPA)]).await;
    assert_eq!(r.status(), 403);
    // An origin no client allows gets no CORS grant at all.
    let r = request(app, Some(&token), &[("origin", "https://evil.example")]).await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_ne!(r.status(), 200);
}

#[tokio::test]
async fn streams_are_limited_and_counted() {
    let s =
        setup_with(TestApp::spawn_with_vars(&[("WRIT_LIVE_STREAMS_PER_USER", "2")]).await).await;
    let app = &s.app;
    let token = s.token("bob").await;
    let (one, _) = open(app, &token, None).await;
    let (two, _) = open(app, &token, None).await;
    let r = request(app, Some(&token), &[]).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Another user is not held back by bob's.
    let (three, _) = open(app, &s.token("alice").await, None).await;
    let gauge = || async {
        let m = app.get("/metrics").await;
        let text = m.body.as_str().map(str::to_owned).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("writ_live_streams "))
            .map(|v| v.trim().parse::<f64>().unwrap())
    };
    assert_eq!(gauge().await, Some(3.0));
    assert_eq!(app.state.live.subjects(), 2);
    // A closed stream leaves (the server notices when the connection closes, at the latest
    // at its next heartbeat): bob may open one again.
    drop((one, two, three));
    let mut n = 0;
    while app.state.live.open_streams() > 0 {
        n += 1;
        assert!(n < 2500, "the closed streams were not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.state.live.subjects(), 0);
    let _ = open(app, &token, None).await;
}
