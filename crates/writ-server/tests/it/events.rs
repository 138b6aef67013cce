//! The authz event feed: poll, Server-Sent Events, resumption with Last-Event-ID, and shutdown
//! with subscribers connected.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) const TODOS: &str = "https://todos.example/api";

async fn subscribe(app: &TestApp, last_event_id: Option<i64>) -> reqwest::Response {
    let mut r = app
        .http
        .get(format!("{}/api/v2/authz-events", app.base))
        .bearer_auth(app.admin_token().await)
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        r = r.header("last-event-id", id.to_string());
    }
    let resp = r.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    resp
}

#[tokio::test]
async fn poll_stream_and_resume_without_missing_events() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let role = app.create_role("viewer", TODOS, &["read:todos"]).await;
    let u1 = app.create_user("e1@example.com", "password-123").await;
    let u2 = app.create_user("e2@example.com", "password-123").await;

    // Scope: a token without read:authz_events is refused.
    let (id, secret) = app.machine(&app.mgmt_audience(), &["read:users"]).await;
    let t = app.mgmt_token(&id, &secret).await;
    app.get_as(&t, "/authz-events").await.assert(403);

    // From the head: the machine client's own grant is an event too (it is a subject).
    let head = app.api_get("/authz-events").await["next"].as_i64().unwrap();
    let mut stream = subscribe(&app, Some(head)).await;
    let mut buf = String::new();
    app.assign_roles(&u1, &[&role]).await;
    let (seq1, ev1) = next_event(&mut stream, &mut buf, Duration::from_secs(5)).await;
    assert_eq!(ev1["user_id"], u1);
    assert_eq!(ev1["kind"], "role_assigned");
    assert_eq!(ev1["seq"], seq1);
    let v1 = app
        .api(Method::GET, &format!("/users/{u1}"), None)
        .await
        .body;
    assert!(ev1["version"] == ev1["seq"] && v1["user_id"] == u1);
    drop(stream);

    // Changes made while disconnected are delivered after reconnecting with Last-Event-ID.
    app.assign_roles(&u2, &[&role]).await;
    app.permissions(
        Method::DELETE,
        &format!("/roles/{role}"),
        TODOS,
        &["read:todos"],
    )
    .await
    .assert(204);
    let mut stream = subscribe(&app, Some(seq1)).await;
    let mut buf = String::new();
    let (s2, e2) = next_event(&mut stream, &mut buf, Duration::from_secs(5)).await;
    assert_eq!((s2, e2["user_id"].clone()), (seq1 + 1, json!(u2)));
    let (s3, e3) = next_event(&mut stream, &mut buf, Duration::from_secs(5)).await;
    let (s4, e4) = next_event(&mut stream, &mut buf, Duration::from_secs(5)).await;
    assert_eq!((s3, s4), (seq1 + 2, seq1 + 3), "ordered, no gaps");
    let mut fanned: Vec<String> = vec![
        e3["user_id"].as_str().unwrap().into(),
        e4["user_id"].as_str().unwrap().into(),
    ];
    fanned.sort();
    let mut expected = vec![u1.clone(), u2.clone()];
    expected.sort();
    assert_eq!(
        fanned, expected,
        "a role permission change reaches every holder"
    );

    // The plain poll answers the same log.
    let poll = app.api_get(&format!("/authz-events?from={seq1}")).await;
    let seqs: Vec<i64> = poll["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![seq1 + 1, seq1 + 2, seq1 + 3]);
    assert_eq!(poll["next"], seq1 + 3);
}

/// A change to what a group grants is one record per group of the subtree, read as one event
/// per member with the record's seq: on the stream only the last of them carries the id (a
/// stream cut inside a record resumes at its start), the poll never splits a record, and a
/// guard following the feed refuses the members' older tokens.
#[tokio::test]
async fn a_group_change_reaches_every_member_and_the_guard() {
    let g = Guarded::spawn().await;
    let app = &g.app;
    let old = g.accepted_token(true).await;
    let top = app
        .api_post("/groups", json!({"name": "top"}))
        .await
        .assert(201)
        .field("id");
    let leaf = app
        .api_post("/groups", json!({"name": "leaf", "parent_id": top}))
        .await
        .assert(201)
        .field("id");
    let bob = app.create_user("bob@example.com", "password-123").await;
    let carol = app.create_user("carol@example.com", "password-123").await;
    let mut members = vec![g.alice.clone(), bob, carol];
    app.api_post(
        &format!("/groups/{leaf}/members"),
        json!({"members": members}),
    )
    .await
    .assert(201);
    until_stale(&g.guard, &old, 10, "joining the group").await;
    let old = g.accepted_token(true).await;

    let head = app.api_get("/authz-events").await["next"].as_i64().unwrap();
    let mut stream = subscribe(app, Some(head)).await;
    let mut buf = String::new();
    let viewer = app.create_role("viewer", TODOS, &["read:todos"]).await;
    app.group_relation(Method::POST, &top, "roles", &[&viewer])
        .await
        .assert(201);
    // Two records (top, without members, and leaf, in either order): leaf's three members,
    // with one seq, and only the last frame has the id.
    let mut told = Vec::new();
    let mut ids = Vec::new();
    let mut seqs = Vec::new();
    for _ in 0..3 {
        let (id, ev) = next_frame(&mut stream, &mut buf, Duration::from_secs(5)).await;
        assert_eq!(ev["kind"], "group_roles_added", "{ev}");
        told.push(ev["user_id"].as_str().unwrap().to_owned());
        seqs.push(ev["seq"].as_i64().unwrap());
        ids.push(id);
    }
    let leaf_seq = seqs[0];
    assert!([head + 1, head + 2].contains(&leaf_seq), "{seqs:?}");
    assert_eq!(seqs, [leaf_seq; 3]);
    assert_eq!(ids, [None, None, Some(leaf_seq)]);
    told.sort();
    members.sort();
    assert_eq!(told, members);
    // The poll: a page of one record holds all of its members; `next` moves past the empty one.
    for from in [head, head + 1] {
        let page = app
            .api_get(&format!("/authz-events?from={from}&limit=1"))
            .await;
        assert_eq!(page["next"], from + 1);
        let n = if from + 1 == leaf_seq { 3 } else { 0 };
        assert_eq!(page["events"].as_array().unwrap().len(), n, "{page}");
    }
    // And the guard refuses alice's token made before the change.
    until_stale(&g.guard, &old, 10, "the role added to her group's parent").await;
    g.accepted_token(true).await;
}

#[tokio::test]
async fn graceful_shutdown_is_not_held_by_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}/");
    let vars = [
        ("WRIT_ISSUER", issuer.clone()),
        (
            "WRIT_DATABASE_URL",
            format!("sqlite://{}/w.db", dir.path().display()),
        ),
        ("WRIT_BOOTSTRAP_CLIENT_ID", ADMIN_ID.to_string()),
        ("WRIT_BOOTSTRAP_CLIENT_SECRET", ADMIN_SECRET.to_string()),
    ];
    let config = writ_server::Config::load(None, |k| {
        vars.iter().find(|(a, _)| *a == k).map(|(_, b)| b.clone())
    })
    .unwrap();
    let (state, _) = writ_server::prepare(config).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(writ_server::run(listener, state, async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    let token: Value = json_of(http.post(format!("{issuer}oauth/token")).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", ADMIN_ID),
        ("client_secret", ADMIN_SECRET),
        ("audience", &format!("{issuer}api/v2/")),
    ]))
    .await;
    let mut sse = http
        .get(format!("{issuer}api/v2/authz-events"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("shutdown within 5 s")
        .unwrap()
        .unwrap();
    // The stream was ended by the server, not cut.
    while let Ok(Some(_)) = sse.chunk().await {}
}

#[tokio::test]
async fn a_guard_following_the_feed_refuses_tokens_made_before_a_change() {
    let g = Guarded::spawn().await;
    let old = g.accepted_token(true).await;
    // Revoke: the API's next check of the old token fails, with no call to Writ on the request path.
    g.app.remove_roles(&g.alice, &[&g.editor]).await;
    until_stale(&g.guard, &old, 10, "the revocation").await;
    // A refreshed token carries the new permissions and is accepted.
    let new = g.accepted_token(false).await;
    // Grant again: the newer token is now stale too, and the next one has the permission back.
    g.app.assign_roles(&g.alice, &[&g.editor]).await;
    until_stale(&g.guard, &new, 10, "the grant").await;
    g.accepted_token(true).await;
}

#[tokio::test]
async fn a_guard_misses_nothing_across_a_restart_of_writ() {
    let g = Guarded::spawn().await;
    let old = g.accepted_token(true).await;
    let Guarded {
        app,
        guard,
        editor,
        alice,
        client,
    } = g;

    // Writ goes down; meanwhile the role is revoked straight in the database (as another node
    // would), so the only way the guard learns it is by resuming the feed after its last event.
    let editor_id = editor.clone();
    let alice_id = alice.clone();
    let app = app
        .restart(|url| async move {
            let store = writ_store::open(&url).await.unwrap();
            store
                .remove_user_roles(&alice_id, &[editor_id])
                .await
                .unwrap();
            store.close().await;
        })
        .await;
    // While the feed is away the guard keeps accepting (FeedOutage::Accept, 60 s); once it has
    // reconnected (backoff ≤ 5 s) the change made during the outage is applied.
    until_stale(&guard, &old, 20, "the revocation made while Writ was down").await;
    // And the restarted server's own changes keep flowing on the resumed feed.
    let new = fresh_token(&app, &client).await;
    assert!(
        !guard
            .verify(&new)
            .await
            .unwrap()
            .has_permission("write:todos")
    );
    app.assign_roles(&alice, &[&editor]).await;
    until_stale(&guard, &new, 10, "a change after the restart").await;
}

/// Until `guard` refuses `token` as made before its subject's permissions changed (it accepts
/// it meanwhile); panics after `secs` seconds, naming `what` never arrived.
pub(crate) async fn until_stale(guard: &writ_guard::Guard, token: &str, secs: u64, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match guard.verify(token).await {
            Err(writ_guard::VerifyError::PermissionsChanged) => return,
            Ok(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("{what} never reached the guard: {other:?}"),
        }
    }
}

/// A server with an API, alice holding its `editor` role, a password client, and a guard for
/// the API following the server's event feed.
pub(crate) struct Guarded {
    pub app: TestApp,
    pub guard: writ_guard::Guard,
    pub editor: String,
    pub alice: String,
    pub client: (String, String),
}

impl Guarded {
    pub async fn spawn() -> Guarded {
        use writ_guard::{EventFeed, Guard, GuardOptions};
        let app = TestApp::spawn().await;
        let (editor, alice) = app
            .todo_editor(TODOS, "fresh@example.com", "fresh-password-1")
            .await;
        let (feed_id, feed_secret) = app
            .machine(&app.mgmt_audience(), &["read:authz_events"])
            .await;
        let opts = GuardOptions {
            events: Some(EventFeed {
                writ_url: None,
                client_id: feed_id,
                client_secret: feed_secret,
            }),
            ..Default::default()
        };
        let guard = Guard::discover(&app.issuer, TODOS, opts).await.unwrap();
        let client = app.password_client().await;
        Guarded {
            app,
            guard,
            editor,
            alice,
            client,
        }
    }
}

impl Guarded {
    /// A fresh token of alice's that the guard accepts, holding `write:todos` or not as `write`.
    pub async fn accepted_token(&self, write: bool) -> String {
        let token = fresh_token(&self.app, &self.client).await;
        let claims = self.guard.verify(&token).await.unwrap();
        assert_eq!(claims.has_permission("write:todos"), write, "{token}");
        token
    }
}

pub(crate) async fn fresh_token(app: &TestApp, client: &(String, String)) -> String {
    app.password_token(client, "fresh@example.com", "fresh-password-1", TODOS, None)
        .await
        .assert(200)
        .field("access_token")
}

#[tokio::test]
async fn events_older_than_every_token_are_pruned() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "ES256", &["read:todos"], true).await;
    let role = app.create_role("reader", TODOS, &["read:todos"]).await;
    for i in 0..3 {
        let u = app
            .create_user(&format!("old{i}@example.com"), "old-password-1")
            .await;
        app.assign_roles(&u, &[&role]).await;
    }
    let poll = |from: i64| {
        let app = &app;
        async move { app.api_get(&format!("/authz-events?from={from}")).await }
    };
    let before = poll(0).await;
    let head = before["next"].as_i64().unwrap();
    let n = before["events"].as_array().unwrap().len();
    assert!(n >= 3, "{before}");
    // Nothing is older than the longest token lifetime yet.
    assert_eq!(
        writ_service::retention::prune_authz_events(&app.state)
            .await
            .unwrap(),
        0
    );
    // Date every event in 2001, as if the log were 25 years old (no store call writes a date).
    let sql = "UPDATE authz_events SET at = '2001-01-01T00:00:00.000Z'";
    match app.pg_url() {
        Some(url) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        None => {
            use sqlx::Connection;
            let url = format!("sqlite://{}/writ.db", app.dir.path().display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
    }
    assert_eq!(
        writ_service::retention::prune_authz_events(&app.state)
            .await
            .unwrap() as usize,
        n - 1
    );
    // The head stays, so a follower resuming anywhere goes on from there.
    let after = poll(0).await;
    let left = after["events"].as_array().unwrap();
    assert_eq!(left.len(), 1, "{after}");
    assert_eq!(left[0]["seq"], head);
    let u = app.create_user("new@example.com", "new-password-1").await;
    app.assign_roles(&u, &[&role]).await;
    let next = poll(head).await;
    assert_eq!(next["events"][0]["seq"], head + 1, "{next}");
}
