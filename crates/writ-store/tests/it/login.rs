//! Sessions, single-use authorization codes, refresh-token rotation with leeway and reuse
//! detection.

use writ_store::*;

use crate::{TestStore, conformance};

conformance!(
    sessions_lifecycle,
    codes_are_single_use_and_reuse_revokes_the_family,
    refresh_tokens_rotate_with_leeway_and_reuse_detection,
);

/// A client `app` and a user, for the foreign keys; returns the user id.
pub async fn login_fixture(t: &TestStore) -> String {
    t.store
        .create_client(&writ_core::Client {
            name: "app".into(),
            refresh_idle_lifetime: 100,
            refresh_absolute_lifetime: 1000,
            authz_version: 1,
            ..writ_core::Client::new(
                "app".into(),
                writ_core::AppType::Spa,
                "2024-01-01T00:00:00.000Z".into(),
            )
        })
        .await
        .unwrap();
    t.user("login@example.com").await.user_id
}

pub fn code(id: &str, user_id: &str) -> AuthCode {
    AuthCode {
        id: id.into(),
        client_id: "app".into(),
        user_id: user_id.into(),
        redirect_uri: "https://app.example/cb".into(),
        scope: "openid profile offline_access".into(),
        audience: Some("https://a.example/".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        sid: Some("sid-1".into()),
        auth_time: 10,
        expires_at: 70,
        used_at: None,
        family_id: None,
        amr: None,
    }
}

pub fn refresh(id: &str, family: &str, parent: Option<&str>, user_id: &str) -> RefreshToken {
    RefreshToken {
        id: id.into(),
        family_id: family.into(),
        parent_id: parent.map(Into::into),
        client_id: "app".into(),
        user_id: user_id.into(),
        audience: None,
        scope: "openid offline_access".into(),
        sid: None,
        auth_time: 1,
        created_at: 1,
        idle_expires_at: 1_000,
        family_expires_at: 2_000,
        used_at: None,
        revoked: false,
        amr: None,
    }
}

/// What a rotation did, for comparing (the store's outcome carries the tokens).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Rotated,
    Reused,
    Invalid,
}
use Outcome::{Invalid, Reused, Rotated};

/// Rotates refresh token `id` at `now`, with `leeway`, for `child`'s client into a child with
/// `child`'s id and an idle lifetime reaching `child.idle_expires_at`. A rotated child must be
/// stored as returned and carry its parent's grant, with its user as stored; a reused token is
/// the one presented.
async fn rotate(t: &TestStore, id: &str, child: &RefreshToken, now: i64, leeway: i64) -> Outcome {
    let parent = t.store.get_refresh(id).await.unwrap();
    let r = Rotation {
        id,
        client_id: &child.client_id,
        child_id: &child.id,
        now,
        idle_lifetime: child.idle_expires_at - now,
        leeway,
    };
    match t.store.rotate_refresh(r).await.unwrap() {
        RotateOutcome::Rotated(c, user) => {
            let p = parent.expect("a rotated token exists");
            // The rotation read the token's user as it is now (blocked or not, authz version).
            let now_user = t.store.get_user(&c.user_id).await.unwrap();
            assert_eq!(user.as_ref(), Some(&now_user));
            assert_eq!(t.store.get_refresh(&c.id).await.unwrap().as_ref(), Some(&c));
            assert_eq!(c.id, child.id);
            assert_eq!(c.parent_id.as_deref(), Some(id));
            assert_eq!((c.created_at, c.used_at, c.revoked), (now, None, false));
            assert_eq!(
                c.idle_expires_at,
                child.idle_expires_at.min(p.family_expires_at)
            );
            let grant = |r: &RefreshToken| {
                let f = (r.family_id.clone(), r.client_id.clone(), r.user_id.clone());
                (f, r.audience.clone(), r.scope.clone(), r.sid.clone())
            };
            assert_eq!(
                (c.auth_time, c.family_expires_at),
                (p.auth_time, p.family_expires_at)
            );
            assert_eq!(grant(&c), grant(&p));
            Rotated
        }
        RotateOutcome::Reused(p) => {
            assert_eq!(Some(p), parent);
            Reused
        }
        RotateOutcome::Invalid => Invalid,
    }
}

async fn sessions_lifecycle(t: TestStore) {
    let uid = login_fixture(&t).await;
    let s = Session {
        id: "h1".into(),
        sid: "sid-1".into(),
        user_id: uid.clone(),
        auth_time: 100,
        last_seen: 100,
        expires_at: 1_000,
        amr: None,
    };
    t.store.create_session(&s).await.unwrap();
    assert_eq!(t.store.get_session("h1").await.unwrap(), Some(s.clone()));
    assert_eq!(t.store.get_session("nope").await.unwrap(), None);
    t.store.touch_session("h1", 200).await.unwrap();
    assert_eq!(
        t.store.get_session("h1").await.unwrap().unwrap().last_seen,
        200
    );
    t.store.delete_session("h1").await.unwrap();
    assert_eq!(t.store.get_session("h1").await.unwrap(), None);
    // Deleting what is gone is not an error.
    t.store.delete_session("h1").await.unwrap();
    // Deleting the user ends their sessions.
    t.store.create_session(&s).await.unwrap();
    t.store.delete_user(&uid).await.unwrap();
    assert_eq!(t.store.get_session("h1").await.unwrap(), None);
}

async fn codes_are_single_use_and_reuse_revokes_the_family(t: TestStore) {
    let uid = login_fixture(&t).await;
    let c = code("c1", &uid);
    t.store.create_code(&c).await.unwrap();
    assert_eq!(t.store.get_code("c1").await.unwrap(), Some(c.clone()));
    let fresh = AuthCode {
        used_at: Some(50),
        family_id: Some("fam-1".into()),
        ..c.clone()
    };
    // The first use stores the refresh token it issues and records its family, at once.
    assert_eq!(
        t.store
            .consume_code("c1", 50, Some(&refresh("r1", "fam-1", None, &uid)))
            .await
            .unwrap(),
        CodeOutcome::Fresh(fresh.clone())
    );
    assert!(!t.store.get_refresh("r1").await.unwrap().unwrap().revoked);
    t.store
        .create_refresh(&refresh("other", "fam-2", None, &uid))
        .await
        .unwrap();
    assert_eq!(
        t.store.consume_code("c1", 60, None).await.unwrap(),
        CodeOutcome::Reused(fresh)
    );
    assert!(t.store.get_refresh("r1").await.unwrap().unwrap().revoked);
    assert!(!t.store.get_refresh("other").await.unwrap().unwrap().revoked);
    assert_eq!(
        t.store.consume_code("nope", 60, None).await.unwrap(),
        CodeOutcome::Missing
    );
}

async fn refresh_tokens_rotate_with_leeway_and_reuse_detection(t: TestStore) {
    let uid = login_fixture(&t).await;
    let r0 = refresh("f0", "f", None, &uid);
    t.store.create_refresh(&r0).await.unwrap();
    assert_eq!(t.store.get_refresh("f0").await.unwrap(), Some(r0.clone()));
    assert_eq!(t.store.get_refresh("nope").await.unwrap(), None);

    let f1 = refresh("f1", "f", Some("f0"), &uid);
    assert_eq!(rotate(&t, "f0", &f1, 100, 10).await, Rotated);
    assert_eq!(
        t.store.get_refresh("f0").await.unwrap().unwrap().used_at,
        Some(100)
    );
    assert!(t.store.get_refresh("f1").await.unwrap().is_some());
    // Another client's token: invalid, and nothing written (it still rotates for its own).
    let other = RefreshToken {
        client_id: "other-app".into(),
        ..refresh("f2-other", "f", Some("f1"), &uid)
    };
    assert_eq!(rotate(&t, "f1", &other, 101, 10).await, Invalid);
    assert!(t.store.get_refresh("f2-other").await.unwrap().is_none());
    assert_eq!(
        t.store.get_refresh("f1").await.unwrap().unwrap().used_at,
        None
    );
    // Reuse within the leeway while its child is unused: allowed (a lost response).
    let f1b = refresh("f1b", "f", Some("f0"), &uid);
    assert_eq!(rotate(&t, "f0", &f1b, 105, 10).await, Rotated);
    assert!(t.store.get_refresh("f1b").await.unwrap().is_some());
    let f2 = refresh("f2", "f", Some("f1"), &uid);
    assert_eq!(rotate(&t, "f1", &f2, 106, 10).await, Rotated);
    // Reuse beyond the leeway: the whole family is revoked, the child is not stored.
    let f2x = refresh("f2x", "f", Some("f1"), &uid);
    assert_eq!(rotate(&t, "f1", &f2x, 200, 10).await, Reused);
    assert!(t.store.get_refresh("f2x").await.unwrap().is_none());
    for id in ["f0", "f1", "f1b", "f2"] {
        assert!(
            t.store.get_refresh(id).await.unwrap().unwrap().revoked,
            "{id}"
        );
    }
    let f3 = refresh("f3", "f", Some("f2"), &uid);
    assert_eq!(rotate(&t, "f2", &f3, 201, 10).await, Invalid);

    // Reuse within the leeway after the child was itself rotated: reuse.
    t.store
        .create_refresh(&refresh("k0", "k", None, &uid))
        .await
        .unwrap();
    let k1 = refresh("k1", "k", Some("k0"), &uid);
    let k2 = refresh("k2", "k", Some("k1"), &uid);
    let k1b = refresh("k1b", "k", Some("k0"), &uid);
    assert_eq!(rotate(&t, "k0", &k1, 10, 100).await, Rotated);
    assert_eq!(rotate(&t, "k1", &k2, 11, 100).await, Rotated);
    assert_eq!(rotate(&t, "k0", &k1b, 12, 100).await, Reused);
    assert!(t.store.get_refresh("k2").await.unwrap().unwrap().revoked);

    // No leeway: any second use is reuse.
    t.store
        .create_refresh(&refresh("h0", "h", None, &uid))
        .await
        .unwrap();
    let h1 = refresh("h1", "h", Some("h0"), &uid);
    let h1b = refresh("h1b", "h", Some("h0"), &uid);
    assert_eq!(rotate(&t, "h0", &h1, 10, 0).await, Rotated);
    assert_eq!(rotate(&t, "h0", &h1b, 10, 0).await, Reused);

    // Expired (idle or absolute), unknown: invalid, nothing written.
    let idle = RefreshToken {
        idle_expires_at: 50,
        ..refresh("i0", "i", None, &uid)
    };
    let absolute = RefreshToken {
        family_expires_at: 50,
        ..refresh("a0", "a", None, &uid)
    };
    t.store.create_refresh(&idle).await.unwrap();
    t.store.create_refresh(&absolute).await.unwrap();
    for id in ["i0", "a0", "nope"] {
        let child = refresh(&format!("{id}-child"), "x", Some(id), &uid);
        assert_eq!(rotate(&t, id, &child, 50, 10).await, Invalid, "{id}");
        assert!(t.store.get_refresh(&child.id).await.unwrap().is_none());
    }
    assert_eq!(t.store.get_refresh("i0").await.unwrap(), Some(idle));
    let ok = refresh("a0-ok", "a", Some("a0"), &uid);
    assert_eq!(rotate(&t, "a0", &ok, 49, 10).await, Rotated);

    // Revoking a family revokes every token of it, and only of it.
    t.store.revoke_refresh_family("a").await.unwrap();
    assert!(t.store.get_refresh("a0").await.unwrap().unwrap().revoked);
    assert!(t.store.get_refresh("a0-ok").await.unwrap().unwrap().revoked);
    assert!(!t.store.get_refresh("i0").await.unwrap().unwrap().revoked);
    assert_eq!(
        rotate(&t, "a0-ok", &refresh("z", "a", None, &uid), 49, 10).await,
        Invalid
    );
}
