//! What the security hardening asks of storage: machine clients as subjects of freshness,
//! password changes and blocks that end everything speaking for the user, a compare-and-swap
//! re-hash, consents to third-party clients, and server-side console sessions.

use writ_store::*;

use crate::login::{login_fixture, refresh};
use crate::{A, TestStore, assert_not_found, conformance};

conformance!(
    client_changes_bump_the_client_and_log_its_subject,
    password_change_and_block_end_every_session,
    rehash_is_a_compare_and_swap_that_ends_nothing,
    consents_merge_list_and_revoke_with_the_clients_refresh_tokens,
    console_sessions_lifecycle,
    expired_login_state_is_pruned,
);

/// The events logged for `subject`, as `(version, kind)`.
/// The kinds of the events naming `subject`, in order; each event's version is its `seq`.
async fn events_of(t: &TestStore, subject: &str) -> Vec<String> {
    t.store
        .authz_events_after(0, 1000)
        .await
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.subject == subject)
        .inspect(|e| assert_eq!(e.version, e.seq, "{e:?}"))
        .map(|e| e.kind)
        .collect()
}

async fn client_changes_bump_the_client_and_log_its_subject(t: TestStore) {
    login_fixture(&t).await;
    t.api(A, &["read", "write"]).await;
    let sub = client_subject("app");
    assert_eq!(sub, "app@clients");
    let version = |t: &TestStore| {
        let s = t.store.clone();
        async move { s.get_client("app").await.unwrap().authz_version }
    };
    assert_eq!(version(&t).await, 0);

    let g = t
        .store
        .create_client_grant("app", A, &["read".into(), "write".into()])
        .await
        .unwrap();
    // What only adds leaves the client's tokens valid: no bump.
    assert_eq!(version(&t).await, 0);
    t.store
        .update_client_grant(&g.id, &["read".into(), "write".into(), "extra".into()])
        .await
        .unwrap();
    assert_eq!(version(&t).await, 0);
    // What takes away makes them stale.
    t.store
        .update_client_grant(&g.id, &["read".into()])
        .await
        .unwrap();
    t.store.delete_client_grant(&g.id).await.unwrap();
    let mut c = t.store.get_client("app").await.unwrap();
    // A version is the seq of the event that set it.
    let head = |t: &TestStore| {
        let s = t.store.clone();
        async move { s.authz_head().await.unwrap() }
    };
    assert_eq!(c.authz_version, head(&t).await);
    // A new secret makes the tokens got with the old one stale; a new name does not.
    c.secret_hash = Some("new-secret-hash".into());
    let v = t.store.update_client(&c).await.unwrap().authz_version;
    assert!(v > c.authz_version);
    assert_eq!(v, head(&t).await);
    c.authz_version = v;
    c.name = "renamed".into();
    assert_eq!(t.store.update_client(&c).await.unwrap().authz_version, v);
    // A grant type added changes nothing; one removed does.
    c.grant_types = vec!["client_credentials".into()];
    assert_eq!(t.store.update_client(&c).await.unwrap().authz_version, v);
    c.grant_types = vec![];
    let v2 = t.store.update_client(&c).await.unwrap().authz_version;
    assert!(v2 > v);
    assert_eq!(v2, head(&t).await);
    t.store.delete_client("app").await.unwrap();
    assert_eq!(
        events_of(&t, &sub).await,
        [
            "client_grant_scopes_removed",
            "client_grant_deleted",
            "client_secret_changed",
            "client_grant_types_changed",
            "client_deleted",
        ]
    );
    assert_not_found(t.store.delete_client("app").await, "client");
    assert_not_found(t.store.delete_client_grant(&g.id).await, "client grant");
    // Nothing is logged for what does not exist.
    assert_eq!(events_of(&t, &sub).await.len(), 5);
}

/// Creates the SSO session `sess-<tag>` (sid `sid-<tag>`) of `uid`, alive until 1000.
async fn open_session(t: &TestStore, tag: &str, uid: &str) {
    t.store
        .create_session(&Session {
            id: format!("sess-{tag}"),
            sid: format!("sid-{tag}"),
            user_id: uid.into(),
            auth_time: 1,
            last_seen: 1,
            expires_at: 1_000,
            amr: None,
        })
        .await
        .unwrap();
}

/// A user with an SSO session, a console session and a live refresh token; returns its id.
async fn signed_in(t: &TestStore, n: u32) -> String {
    let uid = if n == 0 {
        login_fixture(t).await
    } else {
        t.user(&format!("u{n}@example.com")).await.user_id
    };
    open_session(t, &n.to_string(), &uid).await;
    t.store
        .create_console_session(&ConsoleSession {
            id: format!("console-{n}"),
            user_id: uid.clone(),
            token: vec![1, 2, 3],
            created_at: 1,
            expires_at: 1_000,
        })
        .await
        .unwrap();
    t.store
        .create_refresh(&refresh(
            &format!("rt-{n}"),
            &format!("fam-{n}"),
            None,
            &uid,
        ))
        .await
        .unwrap();
    uid
}

async fn signed_in_still(t: &TestStore, n: u32) -> (bool, bool, bool) {
    (
        t.store
            .get_session(&format!("sess-{n}"))
            .await
            .unwrap()
            .is_some(),
        t.store
            .get_console_session(&format!("console-{n}"))
            .await
            .unwrap()
            .is_some(),
        !t.store
            .get_refresh(&format!("rt-{n}"))
            .await
            .unwrap()
            .unwrap()
            .revoked,
    )
}

async fn password_change_and_block_end_every_session(t: TestStore) {
    let uid = signed_in(&t, 0).await;
    let bystander = signed_in(&t, 1).await;
    let mut u = t.store.get_user(&uid).await.unwrap();

    // Profile changes end nothing and bump nothing.
    u.name = Some("New Name".into());
    let u2 = t.store.update_user(&u, None).await.unwrap();
    assert_eq!(u2.authz_version, 0);
    assert_eq!(signed_in_still(&t, 0).await, (true, true, true));

    // A password change (an admin's reset, say) signs the user out everywhere.
    let u3 = t.store.update_user(&u2, Some("hash-new")).await.unwrap();
    assert!(u3.authz_version > 0);
    assert_eq!(u3.authz_version, t.store.authz_head().await.unwrap());
    assert_eq!(signed_in_still(&t, 0).await, (false, false, false));
    assert_eq!(signed_in_still(&t, 1).await, (true, true, true));

    // So does a block; an unblock does not sign anyone in again, nor end new sessions.
    let uid = uid.clone();
    open_session(&t, "0b", &uid).await;
    let mut blocked = u3.clone();
    blocked.blocked = true;
    let b = t.store.update_user(&blocked, None).await.unwrap();
    assert!(b.authz_version > u3.authz_version);
    assert_eq!(t.store.get_session("sess-0b").await.unwrap(), None);
    let mut unblocked = b.clone();
    unblocked.blocked = false;
    open_session(&t, "0c", &uid).await;
    let v = t
        .store
        .update_user(&unblocked, None)
        .await
        .unwrap()
        .authz_version;
    assert!(v > b.authz_version);
    assert_eq!(v, t.store.authz_head().await.unwrap());
    assert!(t.store.get_session("sess-0c").await.unwrap().is_some());
    assert_eq!(
        events_of(&t, &uid).await,
        ["password_changed", "user_blocked", "user_unblocked"]
    );

    // Deleting the user takes their console sessions along.
    t.store.delete_user(&bystander).await.unwrap();
    assert_eq!(
        t.store.get_console_session("console-1").await.unwrap(),
        None
    );
}

async fn rehash_is_a_compare_and_swap_that_ends_nothing(t: TestStore) {
    let uid = signed_in(&t, 0).await;
    let u = t.store.get_user(&uid).await.unwrap();
    t.store.update_user(&u, Some("$2b$legacy")).await.unwrap();
    let hash = |t: &TestStore| {
        let s = t.store.clone();
        async move {
            s.credentials_by_email("login@example.com")
                .await
                .unwrap()
                .unwrap()
                .password_hash
        }
    };
    // An admin changed the password meanwhile: the login's re-hash must not undo it.
    assert!(
        !t.store
            .rehash_password(&uid, "$2b$stale", "$argon2id$new")
            .await
            .unwrap()
    );
    assert_eq!(hash(&t).await.as_deref(), Some("$2b$legacy"));
    let before = t.store.get_user(&uid).await.unwrap();
    open_session(&t, "after", &uid).await;
    assert!(
        t.store
            .rehash_password(&uid, "$2b$legacy", "$argon2id$new")
            .await
            .unwrap()
    );
    assert_eq!(hash(&t).await.as_deref(), Some("$argon2id$new"));
    // The same password, better stored: no version bump, the session goes on.
    assert_eq!(t.store.get_user(&uid).await.unwrap(), before);
    assert!(t.store.get_session("sess-after").await.unwrap().is_some());
}

async fn consents_merge_list_and_revoke_with_the_clients_refresh_tokens(t: TestStore) {
    let uid = signed_in(&t, 0).await;
    let other = signed_in(&t, 1).await;
    let c1 = t
        .store
        .record_consent(&uid, "app", A, &["read".into(), "openid".into()])
        .await
        .unwrap();
    assert!(c1.id.starts_with("cns_"));
    assert_eq!(c1.scope, ["openid", "read"]);
    // A later consent adds to the earlier one, keeping its id.
    let c2 = t
        .store
        .record_consent(&uid, "app", A, &["write".into(), "read".into()])
        .await
        .unwrap();
    assert_eq!(c2.id, c1.id);
    assert_eq!(c2.scope, ["openid", "read", "write"]);
    assert_eq!(
        t.store.consent(&uid, "app", A).await.unwrap(),
        Some(c2.clone())
    );
    assert_eq!(t.store.consent(&uid, "app", "other").await.unwrap(), None);
    t.store
        .record_consent(&other, "app", A, &["read".into()])
        .await
        .unwrap();
    let all = t
        .store
        .list_consents(&ConsentFilter::default(), crate::page(0, 50))
        .await
        .unwrap();
    assert_eq!(all.total, 2);
    let mine = t
        .store
        .list_consents(
            &ConsentFilter {
                user_id: Some(uid.clone()),
                ..Default::default()
            },
            crate::page(0, 50),
        )
        .await
        .unwrap();
    assert_eq!((mine.items, mine.total), (vec![c2.clone()], 1));
    let none = t
        .store
        .list_consents(
            &ConsentFilter {
                user_id: Some(uid.clone()),
                audience: Some("https://nope/".into()),
                ..Default::default()
            },
            crate::page(0, 50),
        )
        .await
        .unwrap();
    assert_eq!(none.total, 0);
    assert!(matches!(
        t.store
            .record_consent("usr_nobody", "app", A, &["read".into()])
            .await,
        Err(StoreError::NotFound(_))
    ));

    // Revoking ends the client's refresh tokens for that user (and makes their access tokens
    // stale), nobody else's.
    let v = t.version(&uid).await;
    assert_eq!(t.store.revoke_consent(&c2.id).await.unwrap(), c2);
    assert_eq!(t.store.consent(&uid, "app", A).await.unwrap(), None);
    assert_eq!(signed_in_still(&t, 0).await, (true, true, false));
    assert_eq!(signed_in_still(&t, 1).await, (true, true, true));
    assert!(t.version(&uid).await > v);
    assert_not_found(t.store.revoke_consent(&c2.id).await, "grant");
    assert_eq!(t.store.revoke_user_consents(&other).await.unwrap(), 1);
    assert_eq!(t.store.consent(&other, "app", A).await.unwrap(), None);
    assert_eq!(signed_in_still(&t, 1).await, (true, true, false));
    assert_eq!(t.store.revoke_user_consents(&other).await.unwrap(), 0);

    // Consents go with their client.
    t.store
        .record_consent(&uid, "app", A, &["read".into()])
        .await
        .unwrap();
    t.store.delete_client("app").await.unwrap();
    assert_eq!(t.store.consent(&uid, "app", A).await.unwrap(), None);
}

async fn console_sessions_lifecycle(t: TestStore) {
    let uid = login_fixture(&t).await;
    let s = ConsoleSession {
        id: "h".into(),
        user_id: uid.clone(),
        token: vec![0, 1, 2, 255],
        created_at: 10,
        expires_at: 20,
    };
    t.store.create_console_session(&s).await.unwrap();
    assert_eq!(t.store.get_console_session("h").await.unwrap(), Some(s));
    assert_eq!(t.store.get_console_session("x").await.unwrap(), None);
    t.store.delete_console_session("h").await.unwrap();
    assert_eq!(t.store.get_console_session("h").await.unwrap(), None);
    t.store.delete_console_session("h").await.unwrap();
}

async fn expired_login_state_is_pruned(t: TestStore) {
    let uid = login_fixture(&t).await;
    let session = |id: &str, last_seen: i64, expires_at: i64| Session {
        id: id.into(),
        sid: format!("sid-{id}"),
        user_id: uid.clone(),
        auth_time: 0,
        last_seen,
        expires_at,
        amr: None,
    };
    // At now = 1000 with a 100 s idle limit: expired, idle, live.
    for s in [
        session("expired", 990, 1000),
        session("idle", 900, 5000),
        session("live", 950, 5000),
    ] {
        t.store.create_session(&s).await.unwrap();
    }
    for (id, expires_at) in [("c-old", 1000), ("c-live", 1001)] {
        t.store
            .create_console_session(&ConsoleSession {
                id: id.into(),
                user_id: uid.clone(),
                token: vec![1],
                created_at: 0,
                expires_at,
            })
            .await
            .unwrap();
    }
    for (id, expires_at) in [("code-old", 1000 - 86_400), ("code-recent", 990)] {
        let mut c = crate::login::code(id, &uid);
        c.expires_at = expires_at;
        t.store.create_code(&c).await.unwrap();
    }
    for (id, family_expires_at) in [("rt-old", 1000), ("rt-live", 2000)] {
        let mut r = refresh(id, id, None, &uid);
        r.family_expires_at = family_expires_at;
        t.store.create_refresh(&r).await.unwrap();
    }
    assert_eq!(t.store.prune_logins(1000, 100).await.unwrap(), 5);
    assert_eq!(t.store.get_session("expired").await.unwrap(), None);
    assert_eq!(t.store.get_session("idle").await.unwrap(), None);
    assert!(t.store.get_session("live").await.unwrap().is_some());
    assert_eq!(t.store.get_console_session("c-old").await.unwrap(), None);
    assert!(
        t.store
            .get_console_session("c-live")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(t.store.get_code("code-old").await.unwrap(), None);
    assert!(t.store.get_code("code-recent").await.unwrap().is_some());
    assert_eq!(t.store.get_refresh("rt-old").await.unwrap(), None);
    assert!(t.store.get_refresh("rt-live").await.unwrap().is_some());
    assert_eq!(t.store.prune_logins(1000, 100).await.unwrap(), 0);
}
