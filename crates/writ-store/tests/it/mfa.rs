//! Multi-factor authentication's records: a TOTP time step is accepted once (also under
//! parallel use), a recovery code is single use under parallel use and replaced in the same
//! transaction, half-logins finish once and expire, the attempt bucket empties and refills,
//! and deleting a user's factors takes their recovery codes.

use std::sync::Arc;

use writ_store::*;

use crate::login::login_fixture;
use crate::{TestStore, conformance};

conformance!(
    totp_steps_are_accepted_once,
    recovery_codes_are_single_use_under_parallel_use,
    mfa_logins_finish_once_and_expire,
    attempt_bucket_empties_and_refills,
    deleting_factors,
);

fn totp(id: &str, user_id: &str) -> Authenticator {
    Authenticator {
        id: id.into(),
        user_id: user_id.into(),
        kind: "totp".into(),
        name: None,
        secret: vec![1, 2, 3],
        confirmed: false,
        created_at: 100,
        last_used_at: None,
        last_step: None,
    }
}

async fn totp_steps_are_accepted_once(t: TestStore) {
    let uid = login_fixture(&t).await;
    t.store
        .create_authenticator(&totp("totp_a", &uid))
        .await
        .unwrap();
    let a = &t.store.authenticators(&uid).await.unwrap()[0];
    assert_eq!(
        (a.confirmed, a.last_step, a.secret.clone()),
        (false, None, vec![1, 2, 3])
    );
    assert!(
        t.store
            .accept_totp_step("totp_a", 50, 1500, &[])
            .await
            .unwrap()
    );
    // The same step again (a replayed code) and an earlier one are refused.
    assert!(
        !t.store
            .accept_totp_step("totp_a", 50, 1501, &[])
            .await
            .unwrap()
    );
    assert!(
        !t.store
            .accept_totp_step("totp_a", 49, 1502, &[])
            .await
            .unwrap()
    );
    let a = &t.store.authenticators(&uid).await.unwrap()[0];
    assert_eq!(
        (a.confirmed, a.last_step, a.last_used_at),
        (true, Some(50), Some(1500))
    );
    // Parallel presenters of one new step: exactly one wins.
    let store = t.store.clone();
    let wins = futures_join(8, move |_| {
        let s = store.clone();
        async move { s.accept_totp_step("totp_a", 51, 1530, &[]).await.unwrap() }
    })
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    assert!(!t.store.accept_totp_step("nope", 60, 1, &[]).await.unwrap());
}

async fn recovery_codes_are_single_use_under_parallel_use(t: TestStore) {
    let uid = login_fixture(&t).await;
    t.store.set_recovery_code(&uid, "h1", 10).await.unwrap();
    // Replacing drops the unused one.
    t.store.set_recovery_code(&uid, "h2", 11).await.unwrap();
    assert!(
        !t.store
            .use_recovery_code(&uid, "h1", "x", 12)
            .await
            .unwrap()
    );
    let store = t.store.clone();
    let u = uid.clone();
    let wins = futures_join(8, move |i| {
        let (s, u) = (store.clone(), u.clone());
        async move {
            s.use_recovery_code(&u, "h2", &format!("next{i}"), 13)
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    let winner = wins.iter().position(|w| *w).unwrap();
    // The winner's new code works once; the used one never again; another user's never.
    assert!(
        !t.store
            .use_recovery_code(&uid, "h2", "y", 14)
            .await
            .unwrap()
    );
    let other = t.user("other@example.com").await.user_id;
    let next = format!("next{winner}");
    assert!(
        !t.store
            .use_recovery_code(&other, &next, "z", 14)
            .await
            .unwrap()
    );
    assert!(
        t.store
            .use_recovery_code(&uid, &next, "n2", 15)
            .await
            .unwrap()
    );
}

async fn mfa_logins_finish_once_and_expire(t: TestStore) {
    let uid = login_fixture(&t).await;
    let login = |id: &str, expires_at: i64| MfaLogin {
        id: id.into(),
        kind: "grant".into(),
        user_id: uid.clone(),
        client_id: "app".into(),
        audience: Some("https://api".into()),
        scope: Some("openid".into()),
        tx: None,
        created_at: 100,
        expires_at,
        used_at: None,
    };
    t.store.create_mfa_login(&login("m1", 700)).await.unwrap();
    t.store.create_mfa_login(&login("m2", 200)).await.unwrap();
    assert_eq!(
        t.store.get_mfa_login("m1", 150).await.unwrap(),
        Some(login("m1", 700))
    );
    // Expired: neither read nor finished.
    assert_eq!(t.store.get_mfa_login("m2", 200).await.unwrap(), None);
    assert_eq!(t.store.finish_mfa_login("m2", 250).await.unwrap(), None);
    let store = t.store.clone();
    let done = futures_join(6, move |_| {
        let s = store.clone();
        async move { s.finish_mfa_login("m1", 300).await.unwrap() }
    })
    .await;
    assert_eq!(done.iter().filter(|d| d.is_some()).count(), 1);
    assert_eq!(t.store.get_mfa_login("m1", 301).await.unwrap(), None);
    // Pruned with the other logins once expired.
    t.store.prune_logins(1000, 10_000).await.unwrap();
    assert_eq!(t.store.finish_mfa_login("m1", 301).await.unwrap(), None);
}

async fn attempt_bucket_empties_and_refills(t: TestStore) {
    let uid = login_fixture(&t).await;
    for _ in 0..10 {
        assert_eq!(
            t.store.take_mfa_attempt(&uid, 1000, 10, 360).await.unwrap(),
            Ok(())
        );
    }
    assert_eq!(
        t.store.take_mfa_attempt(&uid, 1000, 10, 360).await.unwrap(),
        Err(360)
    );
    assert_eq!(
        t.store.take_mfa_attempt(&uid, 1300, 10, 360).await.unwrap(),
        Err(60)
    );
    // One attempt back after 6 minutes, and only one.
    assert_eq!(
        t.store.take_mfa_attempt(&uid, 1360, 10, 360).await.unwrap(),
        Ok(())
    );
    assert!(
        t.store
            .take_mfa_attempt(&uid, 1361, 10, 360)
            .await
            .unwrap()
            .is_err()
    );
    // Parallel takers never get more than the bucket holds.
    let store = t.store.clone();
    let u = uid.clone();
    let got = futures_join(8, move |_| {
        let (s, u) = (store.clone(), u.clone());
        async move {
            s.take_mfa_attempt(&u, 1360 + 360 * 3, 10, 360)
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(got.iter().filter(|g| g.is_ok()).count(), 3);
}

async fn deleting_factors(t: TestStore) {
    let uid = login_fixture(&t).await;
    t.store
        .create_authenticator(&totp("totp_1", &uid))
        .await
        .unwrap();
    t.store
        .create_authenticator(&totp("totp_2", &uid))
        .await
        .unwrap();
    t.store
        .accept_totp_step("totp_1", 5, 10, &[])
        .await
        .unwrap();
    t.store.set_recovery_code(&uid, "rc", 10).await.unwrap();
    let other = t.user("someone@example.com").await.user_id;
    assert!(matches!(
        t.store.delete_authenticator(&other, "totp_1", &[]).await,
        Err(StoreError::NotFound(_))
    ));
    // Deleting an unconfirmed one keeps the recovery code (a confirmed factor is left).
    t.store
        .delete_authenticator(&uid, "totp_2", &[])
        .await
        .unwrap();
    t.store
        .delete_authenticator(&uid, "totp_1", &[])
        .await
        .unwrap();
    assert!(t.store.authenticators(&uid).await.unwrap().is_empty());
    // The last confirmed factor gone: its recovery code went with it.
    assert!(
        !t.store
            .use_recovery_code(&uid, "rc", "n", 11)
            .await
            .unwrap()
    );
    t.store
        .create_authenticator(&totp("totp_3", &uid))
        .await
        .unwrap();
    t.store.set_recovery_code(&uid, "rc2", 10).await.unwrap();
    assert_eq!(t.store.delete_authenticators(&uid, &[]).await.unwrap(), 1);
    assert!(
        !t.store
            .use_recovery_code(&uid, "rc2", "n", 11)
            .await
            .unwrap()
    );
    assert!(matches!(
        t.store
            .create_authenticator(&totp("totp_4", "usr_missing"))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// Runs `n` copies of `f(i)` at once, on their own tasks, and returns their results.
pub(crate) async fn futures_join<F, Fut, T>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let b = barrier.clone();
            let fut = f(i);
            tokio::spawn(async move {
                b.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
