//! The Shared Signals (SSF 1.0) transmitter: metadata, stream management per receiver, poll and
//! push delivery of CAEP events (verified against Writ's JWKS with jsonwebtoken), retries,
//! paused and disabled streams, a restart, several nodes on PostgreSQL, and a receiver written
//! in Python from the RFCs (`tests/interop/ssf_receiver.py`) with the latency from a grant to
//! the receiver.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::helpers::*;

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const API: &str = "https://ssf.example/api";

fn caep(t: &str) -> String {
    format!("{CAEP}{t}")
}

fn all_events() -> Value {
    json!([
        caep("token-claims-change"),
        caep("session-revoked"),
        caep("credential-change")
    ])
}

/// A call to an SSF endpoint (`path` from the server's root) with `token`.
async fn ssf(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    let mut r = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    to_resp(r.send().await.unwrap()).await
}

/// A `GET` of an SSF endpoint.
async fn ssf_get(app: &TestApp, token: &str, path: &str) -> Resp {
    ssf(app, token, Method::GET, path, None).await
}

/// A `POST` of `body` to an SSF endpoint.
async fn ssf_post(app: &TestApp, token: &str, path: &str, body: Value) -> Resp {
    ssf(app, token, Method::POST, path, Some(body)).await
}

/// Sets a stream's status (`POST /ssf/status`).
async fn set_status(app: &TestApp, token: &str, stream: &str, status: &str) -> Resp {
    ssf_post(
        app,
        token,
        "/ssf/status",
        json!({"stream_id": stream, "status": status}),
    )
    .await
}

/// A receiver: a machine client with the SSF scope, and its token.
async fn receiver(app: &TestApp) -> (String, String, String) {
    let (id, secret) = app
        .machine(&app.mgmt_audience(), &["manage:ssf_streams"])
        .await;
    let token = app.mgmt_token(&id, &secret).await;
    (id, secret, token)
}

/// Verifies a SET with Writ's JWKS: signature, `typ`, `iss`, `aud`; its claims.
async fn verified(app: &TestApp, set: &str, aud: &str) -> Value {
    let header = jsonwebtoken::decode_header(set).unwrap();
    assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the kid");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[app.issuer.trim_end_matches('/')]);
    v.required_spec_claims = ["iss", "aud", "iat"]
        .into_iter()
        .map(String::from)
        .collect();
    v.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(set, &key, &v).unwrap().claims;
    assert!(claims["jti"].is_string(), "{claims}");
    claims
}

/// Polls the stream until SETs come (or `wait` passes); the verified claims by jti.
async fn poll(
    app: &TestApp,
    token: &str,
    stream: &str,
    ack: &[String],
    aud: &str,
) -> (Vec<(String, Value)>, bool) {
    let r = ssf_post(
        app,
        token,
        &format!("/ssf/poll/{stream}"),
        json!({"ack": ack, "maxEvents": 10, "returnImmediately": true}),
    )
    .await
    .assert(200);
    let mut out = Vec::new();
    for (jti, set) in r.body["sets"].as_object().unwrap() {
        let c = verified(app, set.as_str().unwrap(), aud).await;
        assert_eq!(c["jti"], jti.as_str());
        out.push((jti.clone(), c));
    }
    (out, r.body["moreAvailable"].as_bool().unwrap())
}

/// Polls (acknowledging what came) until an event of `kind` for which `pred` holds arrives.
async fn poll_until(
    app: &TestApp,
    token: &str,
    stream: &str,
    aud: &str,
    kind: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    let mut ack = Vec::new();
    loop {
        let (got, _) = poll(app, token, stream, &ack, aud).await;
        ack = got.iter().map(|(j, _)| j.clone()).collect();
        for (_, c) in got {
            if c["events"].get(kind).is_some_and(&pred) {
                // Acknowledge the rest.
                poll(app, token, stream, &ack, aud).await;
                return c;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no {kind} event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metadata_and_stream_management_per_receiver() {
    let app = TestApp::spawn().await;
    let meta = app
        .get("/.well-known/ssf-configuration")
        .await
        .assert(200)
        .body;
    let root = app.issuer.trim_end_matches('/');
    assert_eq!(meta["spec_version"], "1_0");
    assert_eq!(meta["issuer"], root);
    assert_eq!(
        meta["jwks_uri"],
        format!("{}.well-known/jwks.json", app.issuer)
    );
    assert_eq!(
        meta["delivery_methods_supported"],
        json!(["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"])
    );
    assert_eq!(
        meta["configuration_endpoint"],
        format!("{}ssf/streams", app.issuer)
    );
    for k in [
        "status_endpoint",
        "add_subject_endpoint",
        "remove_subject_endpoint",
        "verification_endpoint",
    ] {
        assert!(meta[k].as_str().unwrap().starts_with(&app.issuer), "{k}");
    }
    assert_eq!(
        meta["authorization_schemes"],
        json!([{"spec_urn": "urn:ietf:rfc:6749"}])
    );

    // A token is required, with the scope.
    ssf_get(&app, "nope", "/ssf/streams").await.assert(401);
    let (_, _, other_scope) = {
        let (id, secret) = app.machine(&app.mgmt_audience(), &["read:users"]).await;
        let t = app.mgmt_token(&id, &secret).await;
        (id, secret, t)
    };
    ssf_get(&app, &other_scope, "/ssf/streams")
        .await
        .assert_error(403, "insufficient_scope");

    let (alice_rx, _, token) = receiver(&app).await;
    let (_, _, bob_token) = receiver(&app).await;
    // Refused configurations.
    for bad in [
        json!({"delivery": {"method": "urn:example:smoke-signals"}}),
        json!({"delivery": {"method": "urn:ietf:rfc:8935"}}),
        json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://example.com/x"}}),
        json!({"delivery": {"method": "urn:ietf:rfc:8936", "endpoint_url": "https://example.com/x"}}),
        json!({"delivery": 5}),
    ] {
        ssf_post(&app, &token, "/ssf/streams", bad.clone())
            .await
            .assert_error(400, "invalid_request");
    }
    let created = ssf_post(
        &app,
        &token,
        "/ssf/streams",
        json!({
            "delivery": {"method": "urn:ietf:rfc:8936"},
            "events_requested": [caep("session-revoked"), "urn:example:unknown"],
            "description": "alice's stream",
        }),
    )
    .await
    .assert(201)
    .body;
    let id = created["stream_id"].as_str().unwrap().to_owned();
    assert_eq!(created["iss"], root);
    assert_eq!(created["aud"], alice_rx);
    assert_eq!(created["events_supported"], all_events());
    assert_eq!(
        created["events_delivered"],
        json!([caep("session-revoked")])
    );
    assert_eq!(
        created["delivery"],
        json!({"method": "urn:ietf:rfc:8936", "endpoint_url": format!("{}ssf/poll/{id}", app.issuer)})
    );

    // Read one, read all; another receiver sees none of it.
    let one = ssf_get(&app, &token, &format!("/ssf/streams?stream_id={id}"))
        .await
        .assert(200)
        .body;
    assert_eq!(one, created);
    let all = ssf_get(&app, &token, "/ssf/streams").await.assert(200).body;
    assert_eq!(all, json!([created]));
    let theirs = ssf_get(&app, &bob_token, "/ssf/streams")
        .await
        .assert(200)
        .body;
    assert_eq!(theirs, json!([]));
    for (m, path, body) in [
        (Method::GET, format!("/ssf/streams?stream_id={id}"), None),
        (Method::DELETE, format!("/ssf/streams?stream_id={id}"), None),
        (Method::GET, format!("/ssf/status?stream_id={id}"), None),
        (
            Method::PATCH,
            "/ssf/streams".into(),
            Some(json!({"stream_id": id, "description": "x"})),
        ),
        (
            Method::POST,
            "/ssf/verify".into(),
            Some(json!({"stream_id": id})),
        ),
        (
            Method::POST,
            format!("/ssf/poll/{id}"),
            Some(json!({"returnImmediately": true})),
        ),
    ] {
        ssf(&app, &bob_token, m, &path, body).await.assert(404);
    }

    // Update only what is given; replace everything.
    let patched = ssf(
        &app,
        &token,
        Method::PATCH,
        "/ssf/streams",
        Some(json!({"stream_id": id, "events_requested": all_events()})),
    )
    .await
    .assert(200)
    .body;
    assert_eq!(patched["description"], "alice's stream");
    assert_eq!(patched["events_delivered"], all_events());
    let replaced = ssf(
        &app,
        &token,
        Method::PUT,
        "/ssf/streams",
        Some(json!({"stream_id": id, "delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": [caep("credential-change")]})),
    )
    .await
    .assert(200)
    .body;
    assert!(replaced.get("description").is_none(), "{replaced}");
    assert_eq!(
        replaced["events_delivered"],
        json!([caep("credential-change")])
    );

    // Status.
    let st = ssf_get(&app, &token, &format!("/ssf/status?stream_id={id}"))
        .await
        .assert(200)
        .body;
    assert_eq!(st, json!({"stream_id": id, "status": "enabled"}));
    set_status(&app, &token, &id, "sleepy").await.assert(400);

    // Verification: a SET with the receiver's state, about the stream.
    ssf_post(
        &app,
        &token,
        "/ssf/verify",
        json!({"stream_id": id, "state": "s-123"}),
    )
    .await
    .assert(204);
    let v = poll_until(&app, &token, &id, &alice_rx, VERIFICATION, |_| true).await;
    assert_eq!(v["events"][VERIFICATION]["state"], "s-123");
    assert_eq!(v["sub_id"], json!({"format": "opaque", "id": id}));
    let (left, more) = poll(&app, &token, &id, &[], &alice_rx).await;
    assert!(
        left.is_empty() && !more,
        "acknowledged SETs are gone: {left:?}"
    );
    // Another request within the stream's min_verification_interval is refused (429, with
    // Retry-After), and queues nothing.
    assert_eq!(replaced["min_verification_interval"], 10);
    let again = ssf_post(
        &app,
        &token,
        "/ssf/verify",
        json!({"stream_id": id, "state": "s-456"}),
    )
    .await
    .assert(429);
    assert_eq!(again.body["error"], "too_many_requests");
    assert_eq!(again.headers["retry-after"], "10");
    let (left, _) = poll(&app, &token, &id, &[], &alice_rx).await;
    assert!(
        left.is_empty(),
        "a refused verification queues nothing: {left:?}"
    );

    // Subjects: malformed ones are refused; unknown ones accepted silently.
    ssf_post(
        &app,
        &token,
        "/ssf/subjects/add",
        json!({"stream_id": id, "subject": {"format": "phone_number"}}),
    )
    .await
    .assert(400);
    ssf_post(
        &app,
        &token,
        "/ssf/subjects/add",
        json!({"stream_id": id, "subject": {"format": "email", "email": "nobody@example.com"}}),
    )
    .await
    .assert(200);

    // Delete.
    ssf(
        &app,
        &token,
        Method::DELETE,
        &format!("/ssf/streams?stream_id={id}"),
        None,
    )
    .await
    .assert(204);
    ssf_get(&app, &token, &format!("/ssf/streams?stream_id={id}"))
        .await
        .assert(404);
}

#[tokio::test]
async fn poll_delivers_caep_events_for_grants_revocations_blocks_and_passwords() {
    let app = TestApp::spawn().await;
    app.create_api(API, "RS256", &["read:x", "write:x"], true)
        .await;
    let user = app.create_user("sig@example.com", "sig-password-1").await;
    let other = app
        .create_user("other@example.com", "other-password-1")
        .await;
    let (rx, _, token) = receiver(&app).await;
    let id = ssf_post(
        &app,
        &token,
        "/ssf/streams",
        json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": all_events()}),
    )
    .await
    .assert(201)
    .field("stream_id");
    let (email_rx_stream, email_token, email_rx) = {
        let (erx, _, et) = receiver(&app).await;
        let s = ssf_post(&app, &et, "/ssf/streams", json!({"delivery": {"method": "urn:ietf:rfc:8936"}, "events_requested": all_events(), "format": "email"}))
        .await
        .assert(201)
        .field("stream_id");
        (s, et, erx)
    };
    // The other user is removed from the stream.
    ssf_post(
        &app,
        &token,
        "/ssf/subjects/remove",
        json!({"stream_id": id, "subject": {"format": "iss_sub", "iss": app.issuer, "sub": other}}),
    )
    .await
    .assert(204);

    // A grant.
    let tcc = caep("token-claims-change");
    app.permissions(Method::POST, &format!("/users/{user}"), API, &["write:x"])
        .await
        .assert(201);
    app.permissions(Method::POST, &format!("/users/{other}"), API, &["read:x"])
        .await
        .assert(201);
    let c = poll_until(&app, &token, &id, &rx, &tcc, |e| {
        e["claims"]["permissions"][API] == json!(["write:x"])
    })
    .await;
    let root = app.issuer.trim_end_matches('/');
    assert_eq!(
        c["sub_id"],
        json!({"format": "iss_sub", "iss": root, "sub": user})
    );
    assert!(c["txn"].is_string());
    let e = &c["events"][&tcc];
    assert!(e["event_timestamp"].is_i64(), "{e}");
    assert_eq!(e["initiating_entity"], "admin");
    assert_eq!(e["claims"]["roles"], json!([]));
    // The email stream names the user by email.
    let c = poll_until(&app, &email_token, &email_rx_stream, &email_rx, &tcc, |e| {
        e["claims"]["permissions"][API] == json!(["write:x"])
    })
    .await;
    assert_eq!(
        c["sub_id"],
        json!({"format": "email", "email": "sig@example.com"})
    );

    // A revocation through a role's removal.
    let role = app.create_role("ssf-readers", API, &["read:x"]).await;
    app.assign_roles(&user, &[&role]).await;
    poll_until(&app, &token, &id, &rx, &tcc, |e| {
        e["claims"]["roles"] == json!(["ssf-readers"])
            && e["claims"]["permissions"][API] == json!(["read:x", "write:x"])
    })
    .await;
    app.remove_roles(&user, &[&role]).await;
    poll_until(&app, &token, &id, &rx, &tcc, |e| {
        e["claims"]["roles"] == json!([]) && e["claims"]["permissions"][API] == json!(["write:x"])
    })
    .await;

    // A password change: credential-change and session-revoked.
    app.api(
        Method::PATCH,
        &format!("/users/{user}"),
        Some(
            json!({"password": "sig-password-2", "connection": "Username-Password-Authentication"}),
        ),
    )
    .await
    .assert(200);
    let cc = caep("credential-change");
    let sr = caep("session-revoked");
    let (mut seen, mut ack, start) = (Vec::<Value>::new(), Vec::new(), Instant::now());
    let of = |seen: &[Value], kind: &str| {
        seen.iter()
            .find(|c| c["events"].get(kind).is_some())
            .cloned()
    };
    while of(&seen, &cc).is_none() || of(&seen, &sr).is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "{seen:?}");
        let (got, _) = poll(&app, &token, &id, &ack, &rx).await;
        ack = got.iter().map(|(j, _)| j.clone()).collect();
        seen.extend(got.into_iter().map(|(_, c)| c));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    poll(&app, &token, &id, &ack, &rx).await;
    let (changed, revoked) = (of(&seen, &cc).unwrap(), of(&seen, &sr).unwrap());
    assert_eq!(changed["events"][&cc]["credential_type"], "password");
    assert_eq!(changed["events"][&cc]["change_type"], "update");
    // One transaction, two events.
    assert_eq!(changed["txn"], revoked["txn"]);

    // A paused stream keeps its events; enabled again, it delivers them.
    ssf_post(
        &app,
        &token,
        "/ssf/status",
        json!({"stream_id": id, "status": "paused", "reason": "maintenance"}),
    )
    .await
    .assert(200);
    app.block_user(&user).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (held, more) = poll(&app, &token, &id, &[], &rx).await;
    assert!(held.is_empty() && !more, "paused: {held:?}");
    set_status(&app, &token, &id, "enabled").await.assert(200);
    let c = poll_until(&app, &token, &id, &rx, &sr, |e| {
        e["reason_admin"]["en"] == "User blocked"
    })
    .await;
    assert_eq!(c["sub_id"]["sub"], user.as_str());

    // A disabled stream drops what happens meanwhile.
    set_status(&app, &token, &id, "disabled").await.assert(200);
    app.delete_gone(&format!("/users/{user}")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    set_status(&app, &token, &id, "enabled").await.assert(200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ack = Vec::new();
    loop {
        let (got, _) = poll(&app, &token, &id, &ack, &rx).await;
        if got.is_empty() {
            break;
        }
        for (_, c) in &got {
            assert!(
                c["events"].get(&sr).is_none(),
                "an event of the disabled time: {c}"
            );
            // Nothing about the removed subject either.
            assert_ne!(c["sub_id"]["sub"], other.as_str(), "{c}");
        }
        ack = got.into_iter().map(|(j, _)| j).collect();
    }
}

/// What a push receiver got: when (unix seconds), the SET, its `Authorization` header.
type Pushes = Arc<Mutex<Vec<(f64, String, Option<String>)>>>;

/// A push receiver on 127.0.0.1: refuses the first `fail` pushes with 503, then accepts with
/// 202; keeps every accepted body and the `Authorization` header it came with.
struct PushReceiver {
    url: String,
    got: Pushes,
    attempts: Arc<AtomicUsize>,
}

async fn push_receiver(fail: usize) -> PushReceiver {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    type Shared = (Pushes, Arc<AtomicUsize>, usize);
    async fn take(
        State((got, attempts, fail)): State<Shared>,
        headers: HeaderMap,
        body: String,
    ) -> StatusCode {
        let n = attempts.fetch_add(1, Ordering::SeqCst);
        if n < fail {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        assert_eq!(headers["content-type"], "application/secevent+jwt");
        let auth = headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        got.lock().unwrap().push((now_secs(), body, auth));
        StatusCode::ACCEPTED
    }
    let got = Arc::new(Mutex::new(Vec::new()));
    let attempts = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/events", axum::routing::post(take))
        .with_state((got.clone(), attempts.clone(), fail));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    PushReceiver { url, got, attempts }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Calls `f` every `every` until it gives a value; fails with `what` after 30 s.
async fn within_30s<T>(what: &str, every: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{what}");
        tokio::time::sleep(every).await;
    }
}

/// Waits until `f` holds for what the receiver got (30 s at most: a SET a node was pushing when
/// it stopped waits for its lease to end).
async fn pushed_until(
    r: &PushReceiver,
    what: &str,
    f: impl Fn(&[(f64, String, Option<String>)]) -> bool,
) {
    let what = format!("{what}: not pushed");
    within_30s(&what, Duration::from_millis(20), || {
        f(&r.got.lock().unwrap()).then_some(())
    })
    .await
}

#[tokio::test]
async fn push_retries_with_backoff_and_survives_a_restart() {
    let app = TestApp::spawn().await;
    app.create_api(API, "RS256", &["read:x"], true).await;
    let user = app.create_user("push@example.com", "push-password-1").await;
    let (rx, _, token) = receiver(&app).await;
    // The receiver is down for its first two pushes.
    let r = push_receiver(2).await;
    let id = ssf_post(&app, &token, "/ssf/streams", json!({
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": r.url, "authorization_header": "Bearer rx-secret"},
            "events_requested": all_events(),
        }))
    .await
    .assert(201)
    .field("stream_id");
    app.permissions(Method::POST, &format!("/users/{user}"), API, &["read:x"])
        .await
        .assert(201);
    pushed_until(&r, "the grant", |g| !g.is_empty()).await;
    assert!(r.attempts.load(Ordering::SeqCst) >= 3);
    let (_, set, auth) = r.got.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer rx-secret"));
    let c = verified(&app, &set, &rx).await;
    assert_eq!(
        c["events"][caep("token-claims-change")]["claims"]["permissions"][API],
        json!(["read:x"])
    );

    // Events written just before a restart arrive after it.
    app.permissions(Method::DELETE, &format!("/users/{user}"), API, &["read:x"])
        .await
        .assert(204);
    app.block_user(&user).await;
    let app = app.restart(|_| async {}).await;
    pushed_until(&r, "the revocation and the block", |g| g.len() >= 3).await;
    let mut kinds = Vec::new();
    for (_, set, _) in r.got.lock().unwrap().clone() {
        let (_, claims) = jwt_parts(&set);
        kinds.push(
            claims["events"]
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .clone(),
        );
    }
    assert!(kinds.contains(&caep("session-revoked")), "{kinds:?}");
    // The stream survived the restart.
    ssf_get(&app, &token, &format!("/ssf/streams?stream_id={id}"))
        .await
        .assert(200);
}

#[tokio::test]
async fn several_nodes_push_each_event_once() {
    if backend() != "postgres" {
        return;
    }
    let db = PgTestDb::create("writ_ssf_nodes").await;
    let (a, b) = two_nodes(&db).await;
    a.create_api(
        API,
        "RS256",
        &["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"],
        true,
    )
    .await;
    let user = a.create_user("nodes@example.com", "nodes-password-1").await;
    let (_, _, token) = receiver(&a).await;
    let r = push_receiver(0).await;
    ssf_post(&a, &token, "/ssf/streams", json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": r.url}, "events_requested": all_events()}))
    .await
    .assert(201);
    for i in 0..10 {
        let node = if i % 2 == 0 { &a } else { &b };
        let p = format!("p{i}");
        node.permissions(Method::POST, &format!("/users/{user}"), API, &[p.as_str()])
            .await
            .assert(201);
    }
    pushed_until(&r, "ten grants", |g| g.len() >= 10).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = r.got.lock().unwrap().clone();
    let mut seen = HashMap::new();
    for (_, set, _) in &got {
        *seen.entry(set.clone()).or_insert(0) += 1;
    }
    assert_eq!(got.len(), 10, "each event once");
    assert!(seen.values().all(|n| *n == 1));
}

/// The receiver in `tests/interop/ssf_receiver.py`, started against `app`: its stream ids.
struct PyReceiver {
    child: tokio::process::Child,
    out: std::path::PathBuf,
}

impl PyReceiver {
    /// The SETs recorded so far: whole lines only, since the receiver may be halfway through
    /// writing the last one.
    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .map(|l| serde_json::from_str(l.trim_end()).unwrap())
            .collect()
    }

    /// Waits until a SET delivered `via` satisfies `f`; when it arrived (unix seconds).
    async fn until(&self, via: &str, what: &str, f: impl Fn(&Value) -> bool) -> f64 {
        let what = format!("{what} via {via}: not received");
        within_30s(&what, Duration::from_millis(5), || {
            self.lines()
                .into_iter()
                .find(|l| l["via"] == via && f(&l["claims"]))
                .map(|l| l["received"].as_f64().unwrap())
        })
        .await
    }
}

#[tokio::test]
async fn a_python_receiver_gets_grants_revocations_and_logouts_by_push_and_poll() {
    let app = TestApp::spawn().await;
    let perms: Vec<String> = (0..50).map(|i| format!("p{i}")).collect();
    let perm_refs: Vec<&str> = perms.iter().map(String::as_str).collect();
    app.create_api(API, "RS256", &perm_refs, true).await;
    let user = app
        .create_user("py-ssf@example.com", "py-ssf-password-1")
        .await;
    let (rx, secret, _) = receiver(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sets.jsonl");
    let mut child = tokio::process::Command::new(crate::interop::python())
        .arg(crate::interop::repo_root().join("tests/interop/ssf_receiver.py"))
        .args([&app.issuer, &rx, &secret, out.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 (see README: the test command installs the interop packages)");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the receiver starts")
        .unwrap()
        .expect("the receiver prints ready");
    assert!(ready.starts_with("ready "), "{ready}");
    let py = PyReceiver { child, out };
    let tcc = caep("token-claims-change");
    let has = |e: &Value, p: &str| {
        e["events"][&tcc]["claims"]["permissions"][API]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == p))
    };

    // Verification reached the poll stream.
    py.until("poll", "verification", |c| {
        c["events"][VERIFICATION]["state"] == "hello"
    })
    .await;

    // 50 grants, one after the other: the latency from the write to the receiver.
    let mut push_ms = Vec::new();
    for p in &perms {
        let t0 = now_secs();
        app.permissions(Method::POST, &format!("/users/{user}"), API, &[p.as_str()])
            .await
            .assert(201);
        let at = py.until("push", "a grant", |c| has(c, p)).await;
        push_ms.push((at - t0) * 1000.0);
    }
    for p in &perms {
        py.until("poll", "a grant", |c| has(c, p)).await;
    }
    // A revocation.
    app.permissions(Method::DELETE, &format!("/users/{user}"), API, &["p0"])
        .await
        .assert(204);
    for via in ["push", "poll"] {
        py.until(via, "the revocation", |c| {
            c["events"][&tcc]["claims"]["permissions"][API]
                .as_array()
                .is_some_and(|a| a.len() == 49 && !a.iter().any(|x| x == "p0"))
        })
        .await;
    }
    // A session revoked at logout.
    let admin = app
        .create_admin(
            "ssf-console",
            &["read:users"],
            "logout@example.com",
            "logout-password-1",
        )
        .await;
    let mut b = Browser::new(&app);
    b.sign_in("/admin", "logout@example.com", "logout-password-1")
        .await;
    let csrf = hidden(&b.get("/admin").await.body, "csrf");
    let outp = b.submit("/admin/logout", &csrf, &[]).await;
    let loc = outp.location.unwrap();
    b.get(&loc).await;
    let sr = caep("session-revoked");
    for via in ["push", "poll"] {
        py.until(via, "the logout", |c| {
            c["sub_id"]["sub"] == admin.as_str() && c["events"][&sr]["initiating_entity"] == "user"
        })
        .await;
    }

    // No event lost across a restart: grants just before it arrive after it.
    app.permissions(Method::POST, &format!("/users/{user}"), API, &["p0"])
        .await
        .assert(201);
    app.block_user(&user).await;
    let app = app.restart(|_| async {}).await;
    for via in ["push", "poll"] {
        py.until(via, "the grant before the restart", |c| {
            has(c, "p0") && c["sub_id"]["sub"] == user.as_str()
        })
        .await;
        py.until(via, "the block before the restart", |c| {
            c["events"][&sr]["reason_admin"]["en"] == "User blocked"
        })
        .await;
    }
    // Each SET once per stream.
    let mut jtis = HashMap::new();
    for l in py.lines() {
        *jtis
            .entry((
                l["via"].as_str().unwrap().to_owned(),
                l["claims"]["jti"].as_str().unwrap().to_owned(),
            ))
            .or_insert(0) += 1;
    }
    assert!(jtis.values().all(|n| *n == 1), "a SET delivered twice");
    drop(app);

    push_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| push_ms[((push_ms.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "SSF push latency from the write to the Python receiver over {} grants: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        push_ms.len(),
        pct(0.50),
        pct(0.99),
        push_ms.last().unwrap()
    );
    // Reported, not asserted (the goal is p99 <= 1 s): a loaded machine can stretch any
    // latency, and timing is the benches' to judge. Delivery itself is asserted above.
    drop(py.child);
}
