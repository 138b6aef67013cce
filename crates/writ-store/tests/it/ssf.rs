//! Shared Signals records: a signal (logout, second factor enrolled or removed) is written in
//! the transaction of its change and only when the change happened; signals become SETs once,
//! whoever races to take them; verification requests are spaced by the stream's interval.

use serde_json::json;
use writ_store::*;

use crate::login::login_fixture;
use crate::mfa::futures_join;
use crate::{TestStore, conformance};

conformance!(
    signals_are_written_with_their_change,
    signals_become_sets_once,
    verification_requests_are_spaced,
);

fn signal(txn: &str, subject: &str) -> SsfSignal {
    SsfSignal {
        txn: txn.into(),
        subject: subject.into(),
        event_type: "https://schemas.openid.net/secevent/caep/event-type/session-revoked".into(),
        event: json!({"initiating_entity": "user"}),
        at: 100,
    }
}

fn txns(signals: &[SsfSignal]) -> Vec<&str> {
    signals.iter().map(|s| s.txn.as_str()).collect()
}

fn factor(id: &str, user_id: &str) -> Authenticator {
    Authenticator {
        id: id.into(),
        user_id: user_id.into(),
        kind: "totp".into(),
        name: None,
        secret: vec![1],
        confirmed: false,
        created_at: 100,
        last_used_at: None,
        last_step: None,
    }
}

fn session(id: &str, user_id: &str) -> Session {
    Session {
        id: id.into(),
        sid: format!("sid-{id}"),
        user_id: user_id.into(),
        auth_time: 100,
        last_seen: 100,
        expires_at: 1_000,
        amr: None,
    }
}

async fn stream(t: &TestStore, id: &str) {
    let s = SsfStream {
        id: id.into(),
        client_id: "receiver".into(),
        method: "poll".into(),
        config: json!({}),
        auth_header: None,
        status: "enabled".into(),
        reason: None,
        created_at: 1,
        updated_at: 1,
    };
    t.store.create_ssf_stream(&s, 20).await.unwrap();
}

async fn signals_are_written_with_their_change(t: TestStore) {
    let s = &t.store;
    let uid = login_fixture(&t).await;
    s.create_session(&session("h1", &uid)).await.unwrap();
    // A logout of no session (or of one already ended) writes nothing.
    assert!(!s.end_session("nope", &[signal("t0", &uid)]).await.unwrap());
    assert!(s.end_session("h1", &[signal("t1", &uid)]).await.unwrap());
    assert_eq!(s.get_session("h1").await.unwrap(), None);
    assert!(!s.end_session("h1", &[signal("t2", &uid)]).await.unwrap());
    // The enrollment's first accepted step writes its signal; a replayed step does not.
    s.create_authenticator(&factor("totp_1", &uid))
        .await
        .unwrap();
    assert!(
        s.accept_totp_step("totp_1", 5, 10, &[signal("t3", &uid)])
            .await
            .unwrap()
    );
    assert!(
        !s.accept_totp_step("totp_1", 5, 11, &[signal("t4", &uid)])
            .await
            .unwrap()
    );
    // A removal that removes nothing writes nothing.
    assert!(matches!(
        s.delete_authenticator(&uid, "totp_x", &[signal("t5", &uid)])
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.delete_authenticators(&uid, &[signal("t6", &uid)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.delete_authenticators(&uid, &[signal("t7", &uid)])
            .await
            .unwrap(),
        0
    );
    let got = s.ssf_signals(10).await.unwrap();
    assert_eq!(txns(&got), ["t1", "t3", "t6"]);
    assert_eq!(got[0], signal("t1", &uid));
    assert_eq!(txns(&s.ssf_signals(2).await.unwrap()), ["t1", "t3"]);
}

async fn signals_become_sets_once(t: TestStore) {
    let uid = login_fixture(&t).await;
    stream(&t, "ssf_a").await;
    for (i, h) in ["h1", "h2", "h3"].into_iter().enumerate() {
        t.store.create_session(&session(h, &uid)).await.unwrap();
        let sig = signal(&format!("t{i}"), &uid);
        assert!(t.store.end_session(h, &[sig]).await.unwrap());
    }
    let pending: Vec<String> = t
        .store
        .ssf_signals(10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.txn)
        .collect();
    assert_eq!(pending.len(), 3);
    // Four nodes race to turn the same signals into SETs: one queues them, the others nothing.
    let store = t.store.clone();
    let won = futures_join(4, move |i| {
        let (s, pending) = (store.clone(), pending.clone());
        async move {
            let set = SsfNewSet {
                jti: format!("jti-{i}"),
                stream_id: "ssf_a".into(),
                set: format!("set-{i}"),
            };
            s.ssf_take_signals(&pending, &[set], 1_000).await.unwrap()
        }
    })
    .await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    assert!(t.store.ssf_signals(10).await.unwrap().is_empty());
    let (queued, more) = t.store.ssf_poll("ssf_a", &[], 10).await.unwrap();
    assert_eq!((queued.len(), more), (1, false));
    let winner = won.iter().position(|w| *w).unwrap();
    assert_eq!(queued[0].jti, format!("jti-{winner}"));
}

async fn verification_requests_are_spaced(t: TestStore) {
    stream(&t, "ssf_v").await;
    let s = &t.store;
    // Whether a request of the stream at `now_ms` is due, at most one per 10 s.
    let due = |now_ms| s.ssf_verification_due("ssf_v", now_ms, 10_000);
    assert!(due(1_000).await.unwrap());
    assert!(!due(5_000).await.unwrap());
    // A refused request does not move the mark: due again 10 s after the first.
    assert!(due(11_000).await.unwrap());
    assert!(!due(20_999).await.unwrap());
    assert!(!s.ssf_verification_due("gone", 1_000, 10_000).await.unwrap());
}
