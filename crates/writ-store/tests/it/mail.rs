//! The outbox (queue, claim with a lease, sent, failed with retry or abandon, prune) and
//! one-time tickets (single use, expiry, the change each makes in its transaction), with the
//! races that matter: claimers never share a message, consumers never share a ticket.

use std::collections::HashSet;
use std::sync::Arc;

use writ_store::*;

use crate::{TestStore, conformance, page};

conformance!(
    outbox_queue_claim_send_and_retry,
    claims_are_exclusive_across_racing_workers,
    tickets_are_single_use_and_expire,
    racing_ticket_consumers_have_one_winner,
    reset_ticket_ends_sessions_and_tokens,
);

fn mail(to: &str) -> NewMail {
    NewMail {
        recipient: to.into(),
        kind: "verify_email".into(),
        subject: "Verify".into(),
        text_body: "text https://x/?ticket=secret".into(),
        html_body: "<p>html</p>".into(),
    }
}

fn ticket(id: &str, user_id: &str, kind: TicketKind, expires_at: i64) -> Ticket {
    Ticket {
        id: id.into(),
        user_id: user_id.into(),
        kind,
        client_id: Some("app".into()),
        result_url: Some("https://app.example/done".into()),
        mark_email_verified: false,
        created_at: 100,
        expires_at,
        used_at: None,
    }
}

async fn outbox_queue_claim_send_and_retry(t: TestStore) {
    let s = &t.store;
    let a = s.queue_mail(&mail("a@example.com"), 100).await.unwrap();
    let b = s.queue_mail(&mail("b@example.com"), 101).await.unwrap();
    assert_eq!(s.next_mail_due().await.unwrap(), Some(100));
    // Not due yet at 99.
    assert!(s.claim_mail("w1", 99, 60, 10).await.unwrap().is_empty());
    let got = s.claim_mail("w1", 200, 60, 10).await.unwrap();
    assert_eq!(
        got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        [a.as_str(), b.as_str()]
    );
    assert!(
        got.iter()
            .all(|m| m.attempts == 1 && m.state() == "pending")
    );
    // Leased: nobody else gets them before the lease ends.
    assert!(s.claim_mail("w2", 230, 60, 10).await.unwrap().is_empty());
    assert!(s.mail_sent(&a, "w1", 210).await.unwrap());
    // Only the holder settles a message.
    assert!(!s.mail_failed(&b, "w2", "x", Some(300)).await.unwrap());
    assert!(
        s.mail_failed(&b, "w1", "421 try later", Some(300))
            .await
            .unwrap()
    );
    let listed = s.list_outbox(page(0, 10)).await.unwrap();
    assert_eq!(listed.total, 2);
    let sent = listed.items.iter().find(|m| m.id == a).unwrap();
    assert_eq!(sent.state(), "sent");
    assert_eq!(sent.sent_at, Some(210));
    assert!(
        sent.text_body.is_empty() && sent.html_body.is_empty(),
        "link gone once sent"
    );
    let retry = listed.items.iter().find(|m| m.id == b).unwrap();
    assert_eq!(retry.last_error.as_deref(), Some("421 try later"));
    assert_eq!(retry.next_attempt_at, Some(300));
    assert!(!retry.text_body.is_empty());
    assert_eq!(s.next_mail_due().await.unwrap(), Some(300));
    assert!(s.claim_mail("w2", 299, 60, 10).await.unwrap().is_empty());
    let again = s.claim_mail("w2", 300, 60, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    // A lease that ended (its worker died) lets another worker take the message.
    let taken = s.claim_mail("w3", 361, 60, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert!(
        !s.mail_sent(&b, "w2", 362).await.unwrap(),
        "w2 lost its lease"
    );
    assert!(
        s.mail_failed(&b, "w3", "550 no such user", None)
            .await
            .unwrap()
    );
    let listed = s.list_outbox(page(0, 10)).await.unwrap();
    let gone = listed.items.iter().find(|m| m.id == b).unwrap();
    assert_eq!(gone.state(), "abandoned");
    assert!(gone.text_body.is_empty());
    assert_eq!(s.next_mail_due().await.unwrap(), None);
    // Both are finished: pruning after their creation removes them.
    assert_eq!(s.prune_mail(100).await.unwrap(), 0);
    assert_eq!(s.prune_mail(1000).await.unwrap(), 2);
}

async fn claims_are_exclusive_across_racing_workers(t: TestStore) {
    // PostgreSQL: a second store on the same database stands for a second node.
    let other: Arc<dyn Store> = match t.backend {
        Backend::Postgres => writ_store::open(&t.url).await.unwrap(),
        Backend::Sqlite => t.store.clone(),
    };
    let mut ids = HashSet::new();
    for i in 0..40 {
        ids.insert(
            t.store
                .queue_mail(&mail(&format!("u{i}@example.com")), 10)
                .await
                .unwrap(),
        );
    }
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = if w % 2 == 0 {
            t.store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            loop {
                let got = s.claim_mail(&worker, 20, 600, 3).await.unwrap();
                if got.is_empty() {
                    break;
                }
                mine.extend(got.into_iter().map(|m| m.id));
            }
            mine
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), unique.len(), "a message was claimed twice");
    assert_eq!(unique, ids, "every message was claimed");
}

async fn tickets_are_single_use_and_expire(t: TestStore) {
    let s = &t.store;
    let user = t.user("tickets@example.com").await;
    assert!(!user.email_verified);
    s.create_ticket(&ticket("v1", &user.user_id, TicketKind::Verify, 1000))
        .await
        .unwrap();
    s.create_ticket(&ticket("old", &user.user_id, TicketKind::Verify, 500))
        .await
        .unwrap();
    // A ticket for a user that does not exist is refused.
    assert!(matches!(
        s.create_ticket(&ticket("x", "auth0|nobody", TicketKind::Verify, 1000))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let got = s.get_ticket("v1").await.unwrap().unwrap();
    assert_eq!(got.kind, TicketKind::Verify);
    assert_eq!(got.result_url.as_deref(), Some("https://app.example/done"));
    // Of another kind: refused, and still usable as what it is.
    assert_eq!(
        s.reset_password_with_ticket("v1", 600, "$argon2id$x")
            .await
            .unwrap(),
        TicketOutcome::Invalid
    );
    // Expired.
    assert_eq!(
        s.verify_email_with_ticket("old", 600).await.unwrap(),
        TicketOutcome::Invalid
    );
    let before = s.authz_version(&user.user_id).await.unwrap();
    let TicketOutcome::Used(used) = s.verify_email_with_ticket("v1", 600).await.unwrap() else {
        panic!("first use refused")
    };
    assert_eq!(used.user_id, user.user_id);
    assert!(s.get_user(&user.user_id).await.unwrap().email_verified);
    assert!(s.authz_version(&user.user_id).await.unwrap() > before);
    assert_eq!(
        s.verify_email_with_ticket("v1", 601).await.unwrap(),
        TicketOutcome::Invalid,
        "second use"
    );
    assert_eq!(
        s.get_ticket("v1").await.unwrap().unwrap().used_at,
        Some(600)
    );
    assert_eq!(
        s.verify_email_with_ticket("nope", 601).await.unwrap(),
        TicketOutcome::Invalid
    );
    // Pruning removes expired tickets.
    assert_eq!(s.prune_mail(1001).await.unwrap(), 2);
    assert!(s.get_ticket("v1").await.unwrap().is_none());
}

async fn racing_ticket_consumers_have_one_winner(t: TestStore) {
    let other: Arc<dyn Store> = match t.backend {
        Backend::Postgres => writ_store::open(&t.url).await.unwrap(),
        Backend::Sqlite => t.store.clone(),
    };
    let user = t.user("race@example.com").await;
    for (id, kind) in [("r", TicketKind::Reset), ("v", TicketKind::Verify)] {
        t.store
            .create_ticket(&ticket(id, &user.user_id, kind, 10_000))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = if i % 2 == 0 {
            t.store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let hash = format!("$argon2id$racer{i}");
            let r = s.reset_password_with_ticket("r", 50, &hash).await.unwrap();
            let v = s.verify_email_with_ticket("v", 50).await.unwrap();
            (
                matches!(r, TicketOutcome::Used(_)).then_some(hash),
                matches!(v, TicketOutcome::Used(_)),
            )
        }));
    }
    let (mut resets, mut verifies) = (Vec::new(), 0);
    for task in tasks {
        let (r, v) = task.await.unwrap();
        resets.extend(r);
        verifies += usize::from(v);
    }
    assert_eq!(resets.len(), 1, "one reset wins");
    assert_eq!(verifies, 1, "one verification wins");
    let creds = t
        .store
        .credentials_by_email("race@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(creds.password_hash.as_deref(), Some(resets[0].as_str()));
}

async fn reset_ticket_ends_sessions_and_tokens(t: TestStore) {
    let user_id = crate::login::login_fixture(&t).await;
    let s = &t.store;
    s.create_session(&Session {
        id: "sess".into(),
        sid: "sid-1".into(),
        user_id: user_id.clone(),
        auth_time: 10,
        last_seen: 10,
        expires_at: 100_000,
        amr: None,
    })
    .await
    .unwrap();
    s.create_refresh(&crate::login::refresh("rt", "fam", None, &user_id))
        .await
        .unwrap();
    let mut reset = ticket("reset", &user_id, TicketKind::Reset, 10_000);
    reset.mark_email_verified = true;
    s.create_ticket(&reset).await.unwrap();
    let before = s.authz_version(&user_id).await.unwrap();
    let TicketOutcome::Used(_) = s
        .reset_password_with_ticket("reset", 60, "$argon2id$new")
        .await
        .unwrap()
    else {
        panic!("refused")
    };
    assert!(s.get_session("sess").await.unwrap().is_none());
    assert!(s.get_refresh("rt").await.unwrap().unwrap().revoked);
    assert!(s.authz_version(&user_id).await.unwrap() > before);
    let creds = s
        .credentials_by_email("login@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(creds.password_hash.as_deref(), Some("$argon2id$new"));
    assert!(creds.user.email_verified);
}
