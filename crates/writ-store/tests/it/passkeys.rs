//! Passkeys' records: a credential is stored with its authenticator row (listed among the
//! user's methods, unique credential id), deleted with that row and with the user; a new
//! signature counter is stored once (a racing sign-in with the same counter loses); a
//! ceremony is taken once, only by the browser it is bound to, and not after it expired.

use writ_store::*;

use crate::login::login_fixture;
use crate::mfa::futures_join;
use crate::{TestStore, conformance};

conformance!(
    passkeys_are_methods_and_go_with_them,
    counters_are_stored_once,
    ceremonies_are_taken_once_by_their_browser,
);

fn passkey(id: &str, user_id: &str, credential_id: &str) -> (Authenticator, PasskeyCredential) {
    (
        Authenticator {
            id: id.into(),
            user_id: user_id.into(),
            kind: "passkey".into(),
            name: Some("Passkey".into()),
            secret: Vec::new(),
            confirmed: true,
            created_at: 100,
            last_used_at: None,
            last_step: None,
        },
        PasskeyCredential {
            authenticator_id: id.into(),
            user_id: user_id.into(),
            credential_id: credential_id.into(),
            user_handle: "handle".into(),
            static_state: vec![1, 2, 3],
            dynamic_state: vec![0; 7],
            sign_count: 0,
            backup_eligible: true,
            backed_up: false,
            transports: 4,
        },
    )
}

async fn passkeys_are_methods_and_go_with_them(t: TestStore) {
    let uid = login_fixture(&t).await;
    let (a, c) = passkey("passkey_a", &uid, "cred-a");
    t.store.create_passkey(&a, &c, &[]).await.unwrap();
    let (b, d) = passkey("passkey_b", &uid, "cred-b");
    t.store.create_passkey(&b, &d, &[]).await.unwrap();
    let methods = t.store.authenticators(&uid).await.unwrap();
    assert_eq!(methods.len(), 2);
    assert!(methods.iter().all(|m| m.kind == "passkey" && m.confirmed));
    assert_eq!(
        t.store.passkey_by_credential("cred-a").await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(t.store.passkeys_of_user(&uid).await.unwrap().len(), 2);
    // A credential id is registered once, whoever asks; nothing half-stored is left.
    let other = t.user("other@example.com").await.user_id;
    let (x, mut y) = passkey("passkey_x", &other, "cred-a");
    y.user_id = other.clone();
    assert!(matches!(
        t.store.create_passkey(&x, &y, &[]).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(t.store.authenticators(&other).await.unwrap().is_empty());
    // Deleting the method deletes the credential: it can no longer be found to sign in.
    t.store
        .delete_authenticator(&uid, "passkey_a", &[])
        .await
        .unwrap();
    assert_eq!(t.store.passkey_by_credential("cred-a").await.unwrap(), None);
    // Deleting the user deletes the rest.
    t.store.delete_user(&uid).await.unwrap();
    assert_eq!(t.store.passkey_by_credential("cred-b").await.unwrap(), None);
}

async fn counters_are_stored_once(t: TestStore) {
    let uid = login_fixture(&t).await;
    let (a, c) = passkey("passkey_c", &uid, "cred-c");
    t.store.create_passkey(&a, &c, &[]).await.unwrap();
    let next = PasskeyCredential {
        sign_count: 5,
        dynamic_state: vec![1; 7],
        backed_up: true,
        ..c.clone()
    };
    let store = t.store.clone();
    let n2 = next.clone();
    let wins = futures_join(6, move |_| {
        let s = store.clone();
        let n = n2.clone();
        async move {
            s.update_passkey_state("passkey_c", 0, &n, 500)
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    assert_eq!(
        t.store.passkey_by_credential("cred-c").await.unwrap(),
        Some(next.clone())
    );
    let m = &t.store.authenticators(&uid).await.unwrap()[0];
    assert_eq!(m.last_used_at, Some(500));
    // The counter read earlier is stale now.
    assert!(
        !t.store
            .update_passkey_state("passkey_c", 0, &next, 501)
            .await
            .unwrap()
    );
    assert!(
        !t.store
            .update_passkey_state("passkey_gone", 0, &next, 501)
            .await
            .unwrap()
    );
}

async fn ceremonies_are_taken_once_by_their_browser(t: TestStore) {
    let uid = login_fixture(&t).await;
    let ceremony = |id: &str, kind: &str, expires_at: i64| PasskeyChallenge {
        id: id.into(),
        kind: kind.into(),
        binding: "browser-1".into(),
        user_id: Some(uid.clone()),
        state: vec![9, 9],
        created_at: 100,
        expires_at,
    };
    t.store
        .create_passkey_challenge(&ceremony("c1", "login", 400))
        .await
        .unwrap();
    t.store
        .create_passkey_challenge(&ceremony("c2", "factor", 150))
        .await
        .unwrap();
    // Another browser, or another kind of ceremony, does not get it.
    assert_eq!(
        t.store
            .take_passkey_challenge("c1", "login", "browser-2", 200)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        t.store
            .take_passkey_challenge("c1", "register", "browser-1", 200)
            .await
            .unwrap(),
        None
    );
    // Its own browser gets it once, even when asking many times at once.
    let store = t.store.clone();
    let got = futures_join(6, move |_| {
        let s = store.clone();
        async move {
            s.take_passkey_challenge("c1", "login", "browser-1", 200)
                .await
                .unwrap()
        }
    })
    .await;
    let taken: Vec<_> = got.into_iter().flatten().collect();
    assert_eq!(taken, vec![ceremony("c1", "login", 400)]);
    // Expired: not given out.
    assert_eq!(
        t.store
            .take_passkey_challenge("c2", "factor", "browser-1", 200)
            .await
            .unwrap(),
        None
    );
    t.store
        .create_passkey_challenge(&ceremony("c3", "login", 300))
        .await
        .unwrap();
    t.store.prune_logins(1000, 10_000).await.unwrap();
    assert_eq!(
        t.store
            .take_passkey_challenge("c3", "login", "browser-1", 200)
            .await
            .unwrap(),
        None
    );
}
