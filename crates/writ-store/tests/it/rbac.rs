//! Roles, users, assignments, direct grants and effective permissions; the authz version bump
//! and event written with every change that alters what a token may carry; Auth0's limits.

use writ_core::*;
use writ_store::*;

use crate::{
    A, B, TestStore, assert_conflict, assert_invalid, assert_not_found, conformance, page, perm,
    total,
};

conformance!(
    effective_permissions_are_direct_union_roles_per_api,
    every_permission_change_bumps_versions_and_logs_events_in_order,
    removing_a_scope_from_the_catalog_removes_it_everywhere,
    per_user_role_limit_is_enforced_atomically,
    permission_limits_are_enforced_atomically,
    roles_crud_search_order_and_paging,
    users_crud_search_order_and_paging,
    assignments_and_grants_list_in_order,
    old_events_are_pruned_but_the_head_stays,
    permission_sources_name_the_direct_grant_and_every_role,
    permission_sources_of_a_user_without_any_and_of_a_missing_user,
);

/// API A (permissions r, w, d), API B (r, x) and a user `u@example.com`, returned.
async fn two_apis_and_a_user(t: &TestStore) -> User {
    t.api(A, &["r", "w", "d"]).await;
    t.api(B, &["r", "x"]).await;
    t.user("u@example.com").await
}

async fn effective_permissions_are_direct_union_roles_per_api(t: TestStore) {
    let u = two_apis_and_a_user(&t).await;
    let r1 = t.role("r1").await;
    let r2 = t.role("r2").await;
    t.grant_role(&r1.id, &[perm(A, "r"), perm(B, "x")]).await;
    t.grant_role(&r2.id, &[perm(A, "r"), perm(A, "w")]).await;
    t.assign(&u.user_id, &[&r1.id, &r2.id]).await;
    t.grant_user(&u.user_id, &[perm(A, "d")]).await;
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
    assert_invalid(
        t.store
            .add_role_permissions(&r1.id, &[perm(A, "w"), perm(A, "fly")])
            .await,
        "permissions[1]",
    );
    assert_eq!(
        total(t.store.role_permissions(&r1.id, page(0, 50)).await),
        2
    );
}

async fn every_permission_change_bumps_versions_and_logs_events_in_order(t: TestStore) {
    t.api(A, &["r", "w"]).await;
    let u1 = t.user("one@example.com").await;
    let u2 = t.user("two@example.com").await;
    let bystander = t.user("three@example.com").await;
    let role = t.role("editor").await;
    let v0 = t.version(&u1.user_id).await;
    t.assign(&u1.user_id, &[&role.id]).await;
    t.store
        .assign_role_users(&role.id, std::slice::from_ref(&u2.user_id))
        .await
        .unwrap();
    let v1 = t.version(&u1.user_id).await;
    assert!(v1 > v0);
    // Assigning again changes nothing.
    t.assign(&u1.user_id, &[&role.id]).await;
    assert_eq!(t.version(&u1.user_id).await, v1);
    // A role permission change fans out to every holder, not to others.
    let v2 = t.version(&u2.user_id).await;
    t.grant_role(&role.id, &[perm(A, "w")]).await;
    assert!(t.version(&u1.user_id).await > v2);
    assert!(t.version(&u2.user_id).await > v2);
    assert_eq!(t.version(&bystander.user_id).await, v0);
    t.store
        .remove_role_permissions(&role.id, &[perm(A, "w")])
        .await
        .unwrap();
    t.grant_user(&u1.user_id, &[perm(A, "r")]).await;
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
    let after = t.store.update_user(&m, None).await.unwrap().authz_version;
    assert!(after > before);
    // A version is the seq of the event that set it.
    assert_eq!(after, t.store.authz_head().await.unwrap());
    t.store.delete_role(&role.id).await.unwrap();
    t.store.delete_user(&u1.user_id).await.unwrap();
    let events = t.store.authz_events_after(0, 1000).await.unwrap().events;
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gapless, ordered: {seqs:?}"
    );
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.subject.as_str(), e.kind.as_str()))
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
        .filter(|e| e.subject == u2.user_id)
        .map(|e| e.version)
        .collect();
    assert!(u2v.windows(2).all(|w| w[1] > w[0]));
    assert_eq!(*u2v.last().unwrap(), t.version(&u2.user_id).await);
    assert_eq!(
        t.store
            .authz_events_after(seqs[2], 2)
            .await
            .unwrap()
            .events
            .len(),
        2
    );
}

async fn removing_a_scope_from_the_catalog_removes_it_everywhere(t: TestStore) {
    let mut api = t.api(A, &["r", "w"]).await;
    let u = t.user("u@example.com").await;
    let role = t.role("r").await;
    t.grant_role(&role.id, &[perm(A, "r"), perm(A, "w")]).await;
    t.assign(&u.user_id, &[&role.id]).await;
    t.grant_user(&u.user_id, &[perm(A, "w")]).await;
    let v = t.version(&u.user_id).await;
    api.scopes.retain(|s| s.value == "r");
    t.store.update_resource_server(&api).await.unwrap();
    assert_eq!(t.effective(&u.user_id, A).await, vec!["r"]);
    assert!(t.version(&u.user_id).await > v);
    t.store.delete_resource_server(&api.id).await.unwrap();
    assert!(t.effective(&u.user_id, A).await.is_empty());
    assert_eq!(
        total(t.store.role_permissions(&role.id, page(0, 50)).await),
        0
    );
}

async fn per_user_role_limit_is_enforced_atomically(t: TestStore) {
    let u = t.user("limit@example.com").await;
    let mut roles = Vec::new();
    for i in 0..51 {
        roles.push(t.role(&format!("l{i}")).await.id);
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
        total(t.store.user_roles(&u.user_id, page(0, 100)).await),
        50
    );
}

async fn permission_limits_are_enforced_atomically(t: TestStore) {
    let names: Vec<String> = (0..=1000).map(|i| format!("p{i:04}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    t.api(A, &refs).await;
    let all: Vec<Permission> = names.iter().map(|n| perm(A, n)).collect();
    let role = t.role("big").await;
    let u = t.user("big@example.com").await;
    t.assign(&u.user_id, &[&role.id]).await;
    t.grant_role(&role.id, &all[..1000]).await;
    t.grant_user(&u.user_id, &all[..1000]).await;
    let v = t.version(&u.user_id).await;
    assert_invalid(
        t.store.add_role_permissions(&role.id, &all[1000..]).await,
        "permissions",
    );
    assert_invalid(
        t.store.add_user_permissions(&u.user_id, &all[1000..]).await,
        "permissions",
    );
    // Nothing written, nothing bumped.
    assert_eq!(
        total(t.store.role_permissions(&role.id, page(0, 10)).await),
        1000
    );
    assert_eq!(
        total(t.store.user_permissions(&u.user_id, page(0, 10)).await),
        1000
    );
    assert_eq!(t.version(&u.user_id).await, v);
    let (eff, ver) = t.store.effective_permissions(&u.user_id, A).await.unwrap();
    assert_eq!(eff, names[..1000].to_vec());
    assert_eq!(ver, v);
}

fn role_names(p: &Paged<Role>) -> Vec<&str> {
    p.items.iter().map(|r| r.name.as_str()).collect()
}

async fn roles_crud_search_order_and_paging(t: TestStore) {
    for n in ["beta", "Alpha_2", "alpha", "Émile", "Zed", "gamma%"] {
        let r = t.store.create_role(n, &format!("{n} role")).await.unwrap();
        assert!(r.id.starts_with("rol_") && r.id.len() == 20, "{}", r.id);
        assert_eq!(t.store.get_role(&r.id).await.unwrap(), r);
    }
    // Byte order (SQLite's BINARY, PostgreSQL's "C"), whatever the server's locale.
    let all = t.store.list_roles(None, page(0, 50)).await.unwrap();
    assert_eq!(
        role_names(&all),
        ["Alpha_2", "Zed", "alpha", "beta", "gamma%", "Émile"]
    );
    assert_eq!(all.total, 6);
    let p = t.store.list_roles(None, page(1, 4)).await.unwrap();
    assert_eq!(role_names(&p), ["gamma%", "Émile"]);
    assert_eq!(p.total, 6);
    assert!(
        t.store
            .list_roles(None, page(2, 4))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Substring search: ASCII case-insensitive, `%` and `_` literal.
    let f = t
        .store
        .list_roles(Some("ALPHA"), page(0, 50))
        .await
        .unwrap();
    assert_eq!((role_names(&f), f.total), (vec!["Alpha_2", "alpha"], 2));
    let f = t.store.list_roles(Some("_"), page(0, 50)).await.unwrap();
    assert_eq!((role_names(&f), f.total), (vec!["Alpha_2"], 1));
    let f = t.store.list_roles(Some("%"), page(0, 50)).await.unwrap();
    assert_eq!((role_names(&f), f.total), (vec!["gamma%"], 1));
    let f = t.store.list_roles(Some("Émi"), page(0, 50)).await.unwrap();
    assert_eq!((role_names(&f), f.total), (vec!["Émile"], 1));
    let f = t.store.list_roles(Some("alpha"), page(1, 1)).await.unwrap();
    assert_eq!((role_names(&f), f.total), (vec!["alpha"], 2));

    assert_conflict(
        t.store.create_role("beta", "again").await,
        "Role with name 'beta' already exists",
    );
    let mut beta = all.items[3].clone();
    beta.name = "alpha".into();
    assert_conflict(
        t.store.update_role(&beta).await,
        "Role with name 'alpha' already exists",
    );
    beta.name = "beta2".into();
    beta.description = "renamed".into();
    t.store.update_role(&beta).await.unwrap();
    assert_eq!(t.store.get_role(&beta.id).await.unwrap(), beta);
    let missing = Role {
        id: "rol_missing".into(),
        name: "x".into(),
        description: String::new(),
    };
    assert_not_found(t.store.update_role(&missing).await, "role");
    assert_not_found(t.store.get_role("rol_missing").await, "role");
    assert_not_found(
        t.store.role_permissions("rol_missing", page(0, 5)).await,
        "role",
    );
    assert_not_found(t.store.role_users("rol_missing", page(0, 5)).await, "role");
    assert_not_found(t.store.delete_role("rol_missing").await, "role");
    t.store.delete_role(&beta.id).await.unwrap();
    assert_not_found(t.store.get_role(&beta.id).await, "role");
    assert_eq!(total(t.store.list_roles(None, page(0, 50)).await), 5);
}

async fn users_crud_search_order_and_paging(t: TestStore) {
    let mut app = serde_json::Map::new();
    app.insert("plan".into(), "pro".into());
    app.insert(
        "n".into(),
        serde_json::json!([1, 2.5, {"x": null, "é": "ü"}, "a b"]),
    );
    let mut meta = serde_json::Map::new();
    meta.insert("theme".into(), "dark".into());
    let ann = t
        .store
        .create_user(NewUser {
            email: "ann@example.com".into(),
            password_hash: Some("hash-1".into()),
            name: Some("Ann Smith".into()),
            email_verified: true,
            blocked: false,
            app_metadata: app.clone(),
            user_metadata: meta.clone(),
        })
        .await
        .unwrap();
    assert!(ann.user_id.starts_with("usr_") && ann.user_id.len() == 20);
    assert_eq!(ann.authz_version, 0);
    assert_eq!(ann.created_at, ann.updated_at);
    assert_eq!(ann.app_metadata, app);
    assert_eq!(t.store.get_user(&ann.user_id).await.unwrap(), ann);
    assert_conflict(
        t.store
            .create_user(NewUser {
                email: "ann@example.com".into(),
                ..Default::default()
            })
            .await,
        "The user already exists.",
    );
    let bob = t
        .store
        .create_user(NewUser {
            email: "bob@example.com".into(),
            name: Some("Bob_Jones".into()),
            blocked: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(bob.blocked && !bob.email_verified);
    let carol = t.user("carol@other.test").await;

    let c = t
        .store
        .credentials_by_email("ANN@Example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.user, ann);
    assert_eq!(c.password_hash.as_deref(), Some("hash-1"));
    assert!(
        t.store
            .credentials_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        t.store.users_by_email("bob@example.com").await.unwrap(),
        vec![bob.clone()]
    );
    assert!(
        t.store
            .users_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_empty()
    );

    // Listed by creation time, then id.
    let mut expected = vec![ann.clone(), bob.clone(), carol.clone()];
    expected.sort_by(|a, b| (&a.created_at, &a.user_id).cmp(&(&b.created_at, &b.user_id)));
    let all = t.store.list_users(None, page(0, 50)).await.unwrap();
    assert_eq!((all.items.clone(), all.total), (expected.clone(), 3));
    let p = t.store.list_users(None, page(1, 2)).await.unwrap();
    assert_eq!((p.items, p.total), (expected[2..].to_vec(), 3));
    let ids = |p: Paged<User>| {
        let mut v: Vec<String> = p.items.into_iter().map(|u| u.user_id).collect();
        v.sort();
        (v, p.total)
    };
    let mut ab = vec![ann.user_id.clone(), bob.user_id.clone()];
    ab.sort();
    for (q, expected) in [
        ("EXAMPLE", (ab, 2)),
        ("_", (vec![bob.user_id.clone()], 1)),
        ("smith", (vec![ann.user_id.clone()], 1)),
        ("%", (vec![], 0)),
    ] {
        let found = t.store.list_users(Some(q), page(0, 50)).await.unwrap();
        assert_eq!(ids(found), expected, "{q}");
    }

    // Updates: fields replaced, the password only when given, no bump for profile fields.
    let mut a2 = ann.clone();
    a2.email = "ann.smith@example.com".into();
    a2.name = None;
    a2.email_verified = false;
    a2.user_metadata.insert("lang".into(), "fr".into());
    let got = t.store.update_user(&a2, None).await.unwrap();
    assert_eq!(
        User {
            updated_at: a2.updated_at.clone(),
            ..got.clone()
        },
        a2
    );
    assert!(got.updated_at >= ann.updated_at);
    assert_eq!(got.authz_version, 0);
    // A password change is an authz change: the tokens made with the old one are stale.
    let got = t.store.update_user(&a2, Some("hash-2")).await.unwrap();
    assert!(got.authz_version > 0);
    a2.authz_version = got.authz_version;
    assert_eq!(t.store.get_user(&ann.user_id).await.unwrap(), got);
    let pw = |e: &'static str| {
        let s = t.store.clone();
        async move {
            s.credentials_by_email(e)
                .await
                .unwrap()
                .unwrap()
                .password_hash
        }
    };
    assert_eq!(pw("ann.smith@example.com").await.as_deref(), Some("hash-2"));
    t.store.update_user(&a2, None).await.unwrap();
    assert_eq!(pw("ann.smith@example.com").await.as_deref(), Some("hash-2"));
    assert!(
        t.store
            .users_by_email("ann@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    a2.email = "bob@example.com".into();
    assert_conflict(
        t.store.update_user(&a2, None).await,
        "The specified new email already exists",
    );
    let mut ghost = carol.clone();
    ghost.user_id = "usr_missing".into();
    assert_not_found(t.store.update_user(&ghost, None).await, "user");
    assert_not_found(t.store.get_user("usr_missing").await, "user");
    assert_not_found(t.store.authz_version("usr_missing").await, "user");
    assert_eq!(t.store.authz_version(&bob.user_id).await.unwrap(), 0);
    assert_not_found(t.store.delete_user("usr_missing").await, "user");
    t.store.delete_user(&carol.user_id).await.unwrap();
    assert_not_found(t.store.get_user(&carol.user_id).await, "user");
    assert_eq!(total(t.store.list_users(None, page(0, 50)).await), 2);
}

fn perm_rows(p: &Paged<PermissionInfo>) -> Vec<(String, String, String, String)> {
    p.items
        .iter()
        .map(|i| {
            (
                i.resource_server_identifier.clone(),
                i.resource_server_name.clone(),
                i.permission_name.clone(),
                i.description.clone(),
            )
        })
        .collect()
}

fn info(api: &str, p: &str) -> (String, String, String, String) {
    (api.into(), api.into(), p.into(), format!("{p} things"))
}

async fn assignments_and_grants_list_in_order(t: TestStore) {
    t.api(B, &["x", "a"]).await;
    t.api(A, &["r", "w"]).await;
    let u = t.user("u@example.com").await;
    let v = t.user("v@example.com").await;
    let zeta = t.role("zeta").await;
    let alpha = t.role("Alpha").await;
    let mid = t.role("mid").await;

    t.store
        .assign_user_roles(
            &u.user_id,
            &[zeta.id.clone(), alpha.id.clone(), mid.id.clone()],
        )
        .await
        .unwrap();
    let r = t.store.user_roles(&u.user_id, page(0, 50)).await.unwrap();
    assert_eq!((role_names(&r), r.total), (vec!["Alpha", "mid", "zeta"], 3));
    let r = t.store.user_roles(&u.user_id, page(1, 2)).await.unwrap();
    assert_eq!((role_names(&r), r.total), (vec!["zeta"], 3));
    assert_not_found(t.store.user_roles("usr_missing", page(0, 5)).await, "user");
    assert_invalid(
        t.store
            .assign_user_roles(&u.user_id, &[mid.id.clone(), "rol_missing".into()])
            .await,
        "roles[1]",
    );
    assert_not_found(
        t.store
            .assign_user_roles("usr_missing", std::slice::from_ref(&mid.id))
            .await,
        "user",
    );

    t.store
        .assign_role_users(&alpha.id, &[v.user_id.clone(), u.user_id.clone()])
        .await
        .unwrap();
    let mut holders = vec![
        (u.user_id.clone(), u.email.clone()),
        (v.user_id.clone(), v.email.clone()),
    ];
    holders.sort();
    let ru = t.store.role_users(&alpha.id, page(0, 50)).await.unwrap();
    assert_eq!(
        ru.items
            .iter()
            .map(|s| (s.user_id.clone(), s.email.clone()))
            .collect::<Vec<_>>(),
        holders
    );
    assert_eq!(ru.total, 2);
    let ru = t.store.role_users(&alpha.id, page(1, 1)).await.unwrap();
    assert_eq!(
        (ru.items[0].user_id.clone(), ru.total),
        (holders[1].0.clone(), 2)
    );
    let vv = t.version(&v.user_id).await;
    assert_invalid(
        t.store
            .assign_role_users(&mid.id, &[v.user_id.clone(), "usr_missing".into()])
            .await,
        "users[1]",
    );
    // The failed call wrote nothing, not even its first, valid assignment.
    assert_eq!(t.version(&v.user_id).await, vv);
    assert_eq!(total(t.store.role_users(&mid.id, page(0, 5)).await), 1);
    assert_not_found(
        t.store
            .assign_role_users("rol_missing", std::slice::from_ref(&v.user_id))
            .await,
        "role",
    );

    // Direct grants, listed by API identifier then permission, with the catalog's display data.
    t.grant_user(
        &u.user_id,
        &[perm(B, "x"), perm(A, "w"), perm(A, "r"), perm(B, "a")],
    )
    .await;
    let p = t
        .store
        .user_permissions(&u.user_id, page(0, 50))
        .await
        .unwrap();
    assert_eq!(
        perm_rows(&p),
        vec![info(A, "r"), info(A, "w"), info(B, "a"), info(B, "x")]
    );
    assert_eq!(p.total, 4);
    let p = t
        .store
        .user_permissions(&u.user_id, page(1, 3))
        .await
        .unwrap();
    assert_eq!((perm_rows(&p), p.total), (vec![info(B, "x")], 4));
    let uv = t.version(&u.user_id).await;
    t.store
        .remove_user_permissions(&u.user_id, &[perm(A, "w")])
        .await
        .unwrap();
    let uv1 = t.version(&u.user_id).await;
    assert!(uv1 > uv);
    // Removing what is not there, or adding what is, changes nothing and bumps nothing.
    t.store
        .remove_user_permissions(&u.user_id, &[perm(A, "w")])
        .await
        .unwrap();
    t.grant_user(&u.user_id, &[perm(A, "r")]).await;
    assert_eq!(t.version(&u.user_id).await, uv1);
    assert_eq!(
        total(t.store.user_permissions(&u.user_id, page(0, 50)).await),
        3
    );
    assert_not_found(
        t.store
            .add_user_permissions("usr_missing", &[perm(A, "r")])
            .await,
        "user",
    );
    assert_not_found(
        t.store.user_permissions("usr_missing", page(0, 5)).await,
        "user",
    );
    assert_invalid(
        t.store
            .add_user_permissions(&u.user_id, &[perm("https://nope/", "r")])
            .await,
        "permissions[0]",
    );

    // Role permissions, same order.
    t.grant_role(&zeta.id, &[perm(B, "a"), perm(A, "w")]).await;
    let p = t
        .store
        .role_permissions(&zeta.id, page(0, 50))
        .await
        .unwrap();
    assert_eq!(
        (perm_rows(&p), p.total),
        (vec![info(A, "w"), info(B, "a")], 2)
    );
    assert_not_found(
        t.store
            .add_role_permissions("rol_missing", &[perm(A, "r")])
            .await,
        "role",
    );
    assert_eq!(t.effective(&u.user_id, A).await, vec!["r", "w"]);

    // Unassigning: only what was assigned counts.
    let uv = t.version(&u.user_id).await;
    t.store
        .remove_user_roles(&u.user_id, &[alpha.id.clone(), "rol_missing".into()])
        .await
        .unwrap();
    let uv1 = t.version(&u.user_id).await;
    assert!(uv1 > uv);
    t.store
        .remove_user_roles(&u.user_id, std::slice::from_ref(&alpha.id))
        .await
        .unwrap();
    assert_eq!(t.version(&u.user_id).await, uv1);
    assert_eq!(total(t.store.user_roles(&u.user_id, page(0, 50)).await), 2);
    assert_not_found(
        t.store
            .remove_user_roles("usr_missing", std::slice::from_ref(&alpha.id))
            .await,
        "user",
    );
    // Deleting a user removes their assignments.
    t.store.delete_user(&v.user_id).await.unwrap();
    assert_eq!(total(t.store.role_users(&alpha.id, page(0, 5)).await), 0);
}

/// PostgreSQL only: the effective-permission query is index lookups keyed by the user, not
/// scans of the assignment tables, on data large enough for the planner to care.
#[tokio::test]
async fn postgres_effective_permissions_plan_is_indexed() {
    let Some(t) = TestStore::postgres().await else {
        return;
    };
    let pg = PgStore::open(&t.url).await.unwrap();
    let scopes: Vec<String> = (0..50).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let api = t.api(A, &refs).await;
    let u = t.user("plan@example.com").await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO roles (id, name, created_at) SELECT 'rol_' || i, 'role ' || i, '' FROM generate_series(1, 400) i;
         INSERT INTO role_permissions (role_id, rs_id, permission)
           SELECT 'rol_' || i, '{rs}', 's' || ((i + j) % 50) FROM generate_series(1, 400) i, generate_series(0, 9) j;
         INSERT INTO users (id, email, created_at, updated_at)
           SELECT 'usr_' || i, i || '@example.com', '', '' FROM generate_series(1, 4000) i;
         INSERT INTO user_roles (user_id, role_id)
           SELECT 'usr_' || i, 'rol_' || ((i * 7 + j) % 400 + 1) FROM generate_series(1, 4000) i, generate_series(0, 2) j;
         INSERT INTO user_permissions (user_id, rs_id, permission)
           SELECT 'usr_' || i, '{rs}', 's' || ((i + j) % 50) FROM generate_series(1, 4000) i, generate_series(0, 1) j;
         INSERT INTO user_roles (user_id, role_id) VALUES ('{uid}', 'rol_1'), ('{uid}', 'rol_2');
         ANALYZE;",
        rs = api.id,
        uid = u.user_id,
    )))
    .execute(pg.pool())
    .await
    .unwrap();
    let plan = pg
        .explain_effective_permissions(&u.user_id, A)
        .await
        .unwrap();
    for table in [
        "users",
        "user_roles",
        "role_permissions",
        "user_permissions",
    ] {
        assert!(
            !plan.contains(&format!("Seq Scan on {table} ")),
            "{table} is scanned:\n{plan}"
        );
    }
    let (perms, _) = t.store.effective_permissions(&u.user_id, A).await.unwrap();
    assert_eq!(perms.len(), 11, "{perms:?}");
    pg.close().await;
}

async fn old_events_are_pruned_but_the_head_stays(t: TestStore) {
    t.api(A, &["r", "w"]).await;
    let u = t.user("pruned@example.com").await;
    for p in ["r", "w"] {
        t.grant_user(&u.user_id, &[perm(A, p)]).await;
    }
    let head = t.store.authz_head().await.unwrap();
    let before = t.store.authz_events_after(0, 100).await.unwrap().events;
    assert!(before.len() >= 2);
    // Nothing is older than a date in the past.
    assert_eq!(
        t.store
            .prune_authz_events("2001-01-01T00:00:00Z")
            .await
            .unwrap(),
        0
    );
    // Everything is older than a date in the future, but the newest event stays.
    let n = t
        .store
        .prune_authz_events("2999-01-01T00:00:00+01:00")
        .await
        .unwrap();
    assert_eq!(n as usize, before.len() - 1);
    assert_eq!(t.store.authz_head().await.unwrap(), head);
    let left = t.store.authz_events_after(0, 100).await.unwrap().events;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].seq, head);
    // The log goes on after the head, and the versions are the users' own.
    t.store
        .remove_user_permissions(&u.user_id, &[perm(A, "w")])
        .await
        .unwrap();
    let next = t.store.authz_events_after(head, 10).await.unwrap().events;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].seq, head + 1);
    assert_eq!(next[0].version, t.version(&u.user_id).await);
    assert!(matches!(
        t.store.prune_authz_events("yesterday").await,
        Err(StoreError::Invalid(_))
    ));
}

/// `(API, permission, role name or None for the direct grant)` of each source, in order.
fn sources(s: &[PermissionSource]) -> Vec<(&str, &str, Option<&str>)> {
    s.iter()
        .map(|p| {
            let role = match &p.source {
                Source::Direct => None,
                Source::Role { name, .. } => Some(name.as_str()),
                Source::Group { .. } => panic!("no groups here: {:?}", p.source),
            };
            (
                p.resource_server_identifier.as_str(),
                p.permission_name.as_str(),
                role,
            )
        })
        .collect()
}

async fn permission_sources_name_the_direct_grant_and_every_role(t: TestStore) {
    let u = two_apis_and_a_user(&t).await;
    let other = t.user("other@example.com").await;
    // Created out of name order: sources list roles by name.
    let beta = t.role("beta").await;
    let alpha = t.role("alpha").await;
    let zeta = t.role("zeta").await;
    t.grant_role(&beta.id, &[perm(A, "r"), perm(A, "w"), perm(B, "x")])
        .await;
    t.grant_role(&alpha.id, &[perm(B, "r"), perm(A, "r")]).await;
    t.grant_role(&zeta.id, &[perm(A, "d"), perm(B, "r")]).await;
    t.assign(&u.user_id, &[&beta.id, &alpha.id]).await;
    t.grant_user(&u.user_id, &[perm(A, "r"), perm(A, "d")])
        .await;
    // Another user's roles and grants are not this user's.
    t.assign(&other.user_id, &[&zeta.id]).await;
    t.grant_user(&other.user_id, &[perm(B, "x")]).await;

    let all = t
        .store
        .effective_permissions_with_sources(&u.user_id, None)
        .await
        .unwrap();
    // A:r is reached directly and through two roles: one entry each, the direct one first.
    assert_eq!(
        sources(&all),
        vec![
            (A, "d", None),
            (A, "r", None),
            (A, "r", Some("alpha")),
            (A, "r", Some("beta")),
            (A, "w", Some("beta")),
            (B, "r", Some("alpha")),
            (B, "x", Some("beta")),
        ]
    );
    // With the display data of the catalog and the role's id.
    assert_eq!(
        all[2],
        PermissionSource {
            resource_server_identifier: A.into(),
            resource_server_name: A.into(),
            permission_name: "r".into(),
            description: "r things".into(),
            source: Source::Role {
                id: alpha.id.clone(),
                name: "alpha".into(),
            },
        }
    );
    assert_eq!(all[1].source, Source::Direct);
    assert_eq!(all[1].description, "r things");

    // One API: the same entries, that API's only; they name exactly the effective permissions.
    for api in [A, B] {
        let one = t
            .store
            .effective_permissions_with_sources(&u.user_id, Some(api))
            .await
            .unwrap();
        let expected: Vec<_> = all
            .iter()
            .filter(|p| p.resource_server_identifier == api)
            .cloned()
            .collect();
        assert_eq!(one, expected);
        let mut names: Vec<String> = one.iter().map(|p| p.permission_name.clone()).collect();
        names.dedup();
        let (effective, _) = t
            .store
            .effective_permissions(&u.user_id, api)
            .await
            .unwrap();
        assert_eq!(names, effective);
    }
    assert_eq!(
        t.store
            .effective_permissions_with_sources(&u.user_id, Some("https://nope/"))
            .await
            .unwrap(),
        vec![]
    );

    // Without the direct grant, A:r still comes from both roles; without beta, from alpha only.
    t.store
        .remove_user_permissions(&u.user_id, &[perm(A, "r")])
        .await
        .unwrap();
    t.store
        .remove_user_roles(&u.user_id, std::slice::from_ref(&beta.id))
        .await
        .unwrap();
    assert_eq!(
        sources(
            &t.store
                .effective_permissions_with_sources(&u.user_id, Some(A))
                .await
                .unwrap()
        ),
        vec![(A, "d", None), (A, "r", Some("alpha"))]
    );
}

async fn permission_sources_of_a_user_without_any_and_of_a_missing_user(t: TestStore) {
    t.api(A, &["r"]).await;
    let u = t.user("nothing@example.com").await;
    for api in [None, Some(A)] {
        assert_eq!(
            t.store
                .effective_permissions_with_sources(&u.user_id, api)
                .await
                .unwrap(),
            vec![]
        );
        assert_not_found(
            t.store
                .effective_permissions_with_sources("usr_missing", api)
                .await,
            "user",
        );
    }
}
