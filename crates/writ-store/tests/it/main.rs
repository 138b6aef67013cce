//! writ-store against real SQLite files: RBAC evaluation, the authz-version/event log written
//! in the same transaction as each change, cascades, and concurrency.

use std::sync::Arc;

use writ_core::*;
use writ_store::*;

struct TestStore {
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

impl TestStore {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        Self {
            store: Arc::new(store),
            _dir: dir,
        }
    }

    async fn api(&self, identifier: &str, scopes: &[&str]) -> ResourceServer {
        self.store
            .create_resource_server(ResourceServer {
                id: String::new(),
                identifier: identifier.into(),
                name: identifier.into(),
                scopes: scopes
                    .iter()
                    .map(|s| Scope {
                        value: (*s).into(),
                        description: String::new(),
                    })
                    .collect(),
                signing_alg: SigningAlg::ES256,
                token_lifetime: 3600,
                enforce_policies: true,
                token_dialect: TokenDialect::AccessTokenAuthz,
                allow_offline_access: false,
                is_system: false,
            })
            .await
            .unwrap()
    }

    async fn user(&self, email: &str) -> User {
        self.store
            .create_user(NewUser {
                email: email.into(),
                ..Default::default()
            })
            .await
            .unwrap()
    }

    async fn version(&self, user: &str) -> i64 {
        self.store.get_user(user).await.unwrap().authz_version
    }
}

fn perm(api: &str, p: &str) -> Permission {
    Permission {
        resource_server_identifier: api.into(),
        permission_name: p.into(),
    }
}

const A: &str = "https://a.example/";
const B: &str = "https://b.example/";

#[tokio::test]
async fn effective_permissions_are_direct_union_roles_per_api() {
    let t = TestStore::new().await;
    t.api(A, &["r", "w", "d"]).await;
    t.api(B, &["r", "x"]).await;
    let u = t.user("u@example.com").await;
    let r1 = t.store.create_role("r1", "").await.unwrap();
    let r2 = t.store.create_role("r2", "").await.unwrap();
    t.store
        .add_role_permissions(&r1.id, &[perm(A, "r"), perm(B, "x")])
        .await
        .unwrap();
    t.store
        .add_role_permissions(&r2.id, &[perm(A, "r"), perm(A, "w")])
        .await
        .unwrap();
    t.store
        .assign_user_roles(&u.user_id, &[r1.id.clone(), r2.id.clone()])
        .await
        .unwrap();
    t.store
        .add_user_permissions(&u.user_id, &[perm(A, "d")])
        .await
        .unwrap();
    let (a, _) = t.store.effective_permissions(&u.user_id, A).await.unwrap();
    assert_eq!(a, vec!["d", "r", "w"]);
    let (b, _) = t.store.effective_permissions(&u.user_id, B).await.unwrap();
    assert_eq!(b, vec!["x"]);
    let (none, _) = t
        .store
        .effective_permissions(&u.user_id, "https://nope/")
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(matches!(
        t.store.effective_permissions("usr_missing", A).await,
        Err(StoreError::NotFound(_))
    ));
    // Unknown permission → validation error naming it; nothing written.
    let e = t
        .store
        .add_role_permissions(&r1.id, &[perm(A, "w"), perm(A, "fly")])
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid(ref v) if v.field == "permissions[1]"));
    assert_eq!(
        t.store
            .role_permissions(
                &r1.id,
                Page {
                    page: 0,
                    per_page: 50
                }
            )
            .await
            .unwrap()
            .total,
        2
    );
}

#[tokio::test]
async fn every_permission_change_bumps_versions_and_logs_events_in_order() {
    let t = TestStore::new().await;
    t.api(A, &["r", "w"]).await;
    let u1 = t.user("one@example.com").await;
    let u2 = t.user("two@example.com").await;
    let bystander = t.user("three@example.com").await;
    let role = t.store.create_role("editor", "").await.unwrap();
    let v0 = t.version(&u1.user_id).await;
    t.store
        .assign_user_roles(&u1.user_id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    t.store
        .assign_role_users(&role.id, std::slice::from_ref(&u2.user_id))
        .await
        .unwrap();
    assert_eq!(t.version(&u1.user_id).await, v0 + 1);
    // Assigning again changes nothing.
    t.store
        .assign_user_roles(&u1.user_id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    assert_eq!(t.version(&u1.user_id).await, v0 + 1);
    // A role permission change fans out to every holder, not to others.
    t.store
        .add_role_permissions(&role.id, &[perm(A, "w")])
        .await
        .unwrap();
    assert_eq!(t.version(&u1.user_id).await, v0 + 2);
    assert_eq!(t.version(&u2.user_id).await, v0 + 2);
    assert_eq!(t.version(&bystander.user_id).await, v0);
    t.store
        .remove_role_permissions(&role.id, &[perm(A, "w")])
        .await
        .unwrap();
    t.store
        .add_user_permissions(&u1.user_id, &[perm(A, "r")])
        .await
        .unwrap();
    t.store
        .remove_user_roles(&u1.user_id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    let mut blocked = t.store.get_user(&u1.user_id).await.unwrap();
    blocked.blocked = true;
    t.store.update_user(&blocked, None).await.unwrap();
    // user_metadata is not authorization data; app_metadata is.
    let mut m = t.store.get_user(&u1.user_id).await.unwrap();
    m.user_metadata.insert("theme".into(), "dark".into());
    let before = m.authz_version;
    assert_eq!(
        t.store.update_user(&m, None).await.unwrap().authz_version,
        before
    );
    m.app_metadata.insert("plan".into(), "pro".into());
    assert_eq!(
        t.store.update_user(&m, None).await.unwrap().authz_version,
        before + 1
    );
    t.store.delete_role(&role.id).await.unwrap();
    t.store.delete_user(&u1.user_id).await.unwrap();
    let events = t.store.authz_events_after(0, 1000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gapless, ordered: {seqs:?}"
    );
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.user_id.as_str(), e.kind.as_str()))
        .collect();
    let u1s: Vec<&str> = kinds
        .iter()
        .filter(|(u, _)| *u == u1.user_id)
        .map(|(_, k)| *k)
        .collect();
    assert_eq!(
        u1s,
        vec![
            "role_assigned",
            "role_permissions_added",
            "role_permissions_removed",
            "permissions_added",
            "role_unassigned",
            "user_blocked",
            "app_metadata_changed",
            "user_deleted"
        ]
    );
    assert!(kinds.contains(&(u2.user_id.as_str(), "role_deleted")));
    // Versions in events match the users' versions at the time, strictly increasing per user.
    let u2v: Vec<i64> = events
        .iter()
        .filter(|e| e.user_id == u2.user_id)
        .map(|e| e.version)
        .collect();
    assert!(u2v.windows(2).all(|w| w[1] > w[0]));
    assert_eq!(*u2v.last().unwrap(), t.version(&u2.user_id).await);
    assert_eq!(
        t.store.authz_events_after(seqs[2], 2).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn removing_a_scope_from_the_catalog_removes_it_everywhere() {
    let t = TestStore::new().await;
    let mut api = t.api(A, &["r", "w"]).await;
    let u = t.user("u@example.com").await;
    let role = t.store.create_role("r", "").await.unwrap();
    t.store
        .add_role_permissions(&role.id, &[perm(A, "r"), perm(A, "w")])
        .await
        .unwrap();
    t.store
        .assign_user_roles(&u.user_id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    t.store
        .add_user_permissions(&u.user_id, &[perm(A, "w")])
        .await
        .unwrap();
    let v = t.version(&u.user_id).await;
    api.scopes.retain(|s| s.value == "r");
    t.store.update_resource_server(&api).await.unwrap();
    assert_eq!(
        t.store
            .effective_permissions(&u.user_id, A)
            .await
            .unwrap()
            .0,
        vec!["r"]
    );
    assert!(t.version(&u.user_id).await > v);
    t.store.delete_resource_server(&api.id).await.unwrap();
    assert!(
        t.store
            .effective_permissions(&u.user_id, A)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert_eq!(
        t.store
            .role_permissions(
                &role.id,
                Page {
                    page: 0,
                    per_page: 50
                }
            )
            .await
            .unwrap()
            .total,
        0
    );
}

#[tokio::test]
async fn concurrent_creates_of_one_email_have_exactly_one_winner() {
    let t = TestStore::new().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = t.store.clone();
        tasks.push(tokio::spawn(async move {
            s.create_user(NewUser {
                email: "race@example.com".into(),
                ..Default::default()
            })
            .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(
        t.store
            .list_users(
                None,
                Page {
                    page: 0,
                    per_page: 50
                }
            )
            .await
            .unwrap()
            .total,
        1
    );
}

#[tokio::test]
async fn concurrent_role_assignments_all_land_with_distinct_versions() {
    let t = TestStore::new().await;
    let u = t.user("many@example.com").await;
    let mut roles = Vec::new();
    for i in 0..20 {
        roles.push(
            t.store
                .create_role(&format!("role{i}"), "")
                .await
                .unwrap()
                .id,
        );
    }
    let v0 = t.version(&u.user_id).await;
    let mut tasks = Vec::new();
    for r in roles {
        let s = t.store.clone();
        let uid = u.user_id.clone();
        tasks.push(tokio::spawn(async move {
            s.assign_user_roles(&uid, &[r]).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        t.store
            .user_roles(
                &u.user_id,
                Page {
                    page: 0,
                    per_page: 50
                }
            )
            .await
            .unwrap()
            .total,
        20
    );
    assert_eq!(t.version(&u.user_id).await, v0 + 20);
    let versions: Vec<i64> = t
        .store
        .authz_events_after(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, ((v0 + 1)..=(v0 + 20)).collect::<Vec<_>>());
}

#[tokio::test]
async fn per_user_role_limit_is_enforced_atomically() {
    let t = TestStore::new().await;
    let u = t.user("limit@example.com").await;
    let mut roles = Vec::new();
    for i in 0..51 {
        roles.push(t.store.create_role(&format!("l{i}"), "").await.unwrap().id);
    }
    t.store
        .assign_user_roles(&u.user_id, &roles[..50])
        .await
        .unwrap();
    assert!(matches!(
        t.store.assign_user_roles(&u.user_id, &roles[50..]).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        t.store
            .user_roles(
                &u.user_id,
                Page {
                    page: 0,
                    per_page: 100
                }
            )
            .await
            .unwrap()
            .total,
        50
    );
}
