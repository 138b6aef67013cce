//! APIs with their permission catalogs, clients, client grants and signing keys: CRUD, paging
//! and ordering, conflicts and not-found, cascades.

use std::time::Duration;

use serde_json::json;
use writ_core::*;
use writ_store::*;

use crate::{
    A, B, TestStore, assert_conflict, assert_invalid, assert_not_found, conformance, page,
};

conformance!(
    resource_servers_crud_order_and_paging,
    clients_crud_order_and_paging,
    client_grants_crud_filters_and_cascades,
    signing_keys_rotate_and_revoke,
    key_publication_follows_the_apis_algorithms,
    key_certificates_are_kept_once,
);

fn rs(identifier: &str, scopes: &[&str], is_system: bool) -> ResourceServer {
    ResourceServer {
        id: String::new(),
        identifier: identifier.into(),
        name: format!("{identifier} name"),
        scopes: crate::catalog(scopes),
        signing_alg: SigningAlg::RS256,
        token_lifetime: 86400,
        enforce_policies: false,
        token_dialect: TokenDialect::Rfc9068Profile,
        allow_offline_access: true,
        is_system,
        token_claims: Default::default(),
    }
}

/// Creates `rs` a few milliseconds after whatever came before, so `created_at` orders them.
async fn create_later(t: &TestStore, rs: ResourceServer) -> ResourceServer {
    tokio::time::sleep(Duration::from_millis(3)).await;
    t.store.create_resource_server(rs).await.unwrap()
}

async fn resource_servers_crud_order_and_paging(t: TestStore) {
    let b = create_later(&t, rs("https://b/", &["x"], false)).await;
    let sys = create_later(&t, rs("https://sys/", &["read:users"], true)).await;
    let chosen = ResourceServer {
        id: "rs_chosen".into(),
        ..rs("https://a/", &["r", "w"], false)
    };
    let mut a = create_later(&t, chosen).await;
    assert!(b.id.starts_with("rs_") && b.id.len() == 19, "{}", b.id);
    assert_eq!(a.id, "rs_chosen");
    assert_eq!(t.store.get_resource_server(&a.id).await.unwrap(), a);
    assert_eq!(t.store.get_resource_server("https://a/").await.unwrap(), a);
    assert_eq!(
        t.store.get_resource_server("https://sys/").await.unwrap(),
        sys
    );
    assert_not_found(
        t.store.get_resource_server("https://nope/").await,
        "resource server",
    );
    assert_conflict(
        t.store
            .create_resource_server(rs("https://a/", &[], false))
            .await,
        "A resource server with the same identifier already exists: https://a/",
    );

    // The system API first, then by creation.
    let all = t.store.list_resource_servers(page(0, 50)).await.unwrap();
    assert_eq!(
        (all.items, all.total),
        (vec![sys.clone(), b.clone(), a.clone()], 3)
    );
    let p = t.store.list_resource_servers(page(1, 2)).await.unwrap();
    assert_eq!((p.items, p.total), (vec![a.clone()], 3));
    assert_eq!(
        t.store.all_resource_servers().await.unwrap(),
        vec![sys.clone(), b.clone(), a.clone()]
    );

    // Update: fields replaced, the catalog kept in the given order.
    a.name = "A renamed".into();
    a.token_lifetime = 60;
    a.enforce_policies = true;
    a.token_dialect = TokenDialect::AccessTokenAuthz;
    a.signing_alg = SigningAlg::EdDSA;
    a.allow_offline_access = false;
    a.scopes = vec![
        Scope {
            value: "w".into(),
            description: "write, described".into(),
        },
        Scope {
            value: "n".into(),
            description: "new".into(),
        },
        Scope {
            value: "r".into(),
            description: "r things".into(),
        },
    ];
    t.store.update_resource_server(&a).await.unwrap();
    assert_eq!(t.store.get_resource_server(&a.id).await.unwrap(), a);
    let ghost = ResourceServer {
        id: "rs_missing".into(),
        ..a.clone()
    };
    assert_not_found(
        t.store.update_resource_server(&ghost).await,
        "resource server",
    );

    // The system API cannot be deleted; others can, once.
    assert_not_found(
        t.store.delete_resource_server(&sys.id).await,
        "resource server",
    );
    t.store.delete_resource_server(&a.id).await.unwrap();
    assert_not_found(t.store.get_resource_server(&a.id).await, "resource server");
    assert_not_found(
        t.store.delete_resource_server(&a.id).await,
        "resource server",
    );
    assert_eq!(t.store.all_resource_servers().await.unwrap(), vec![sys, b]);
}

fn client(id: &str, created_at: &str) -> Client {
    Client {
        name: format!("{id} app"),
        description: "an app".into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        callbacks: vec![
            "https://app.example/cb".into(),
            "http://localhost:5173/".into(),
        ],
        allowed_origins: vec!["https://app.example".into()],
        allowed_logout_urls: vec!["https://app.example/bye?x=\"q\"".into()],
        ..Client::new(id.into(), AppType::Spa, created_at.into())
    }
}

async fn clients_crud_order_and_paging(t: TestStore) {
    let zz = client("zz", "2024-01-01T00:00:00.000Z");
    let bb = client("bb", "2024-01-02T00:00:00.000Z");
    let mut aa = Client {
        app_type: AppType::NonInteractive,
        grant_types: vec!["client_credentials".into()],
        secret_hash: Some("ab".repeat(32)),
        is_first_party: false,
        ..client("aa", "2024-01-02T00:00:00.000Z")
    };
    for c in [&zz, &bb, &aa] {
        t.store.create_client(c).await.unwrap();
    }
    assert_eq!(t.store.get_client("aa").await.unwrap(), aa);
    assert_conflict(
        t.store.create_client(&zz).await,
        "A client with id zz already exists",
    );
    assert_not_found(t.store.get_client("nope").await, "client");
    // By creation time, then client_id.
    let p = t.store.list_clients(page(0, 2)).await.unwrap();
    assert_eq!((p.items, p.total), (vec![zz.clone(), aa.clone()], 3));
    let p = t.store.list_clients(page(1, 2)).await.unwrap();
    assert_eq!((p.items, p.total), (vec![bb.clone()], 3));
    assert_eq!(t.store.count_clients().await.unwrap(), 3);
    assert_eq!(
        t.store.all_clients().await.unwrap(),
        vec![zz.clone(), aa.clone(), bb.clone()]
    );

    aa.name = "renamed".into();
    aa.callbacks = vec![];
    aa.secret_hash = None;
    aa.refresh_rotation = false;
    aa.refresh_leeway = 30;
    aa.refresh_idle_lifetime = 10;
    aa.refresh_absolute_lifetime = 20;
    aa.app_type = AppType::RegularWeb;
    // The secret changed: tokens the client got with the old one are stale (a new version,
    // the seq of its event).
    let stored = t.store.update_client(&aa).await.unwrap();
    assert!(stored.authz_version > aa.authz_version);
    aa.authz_version = t.store.authz_head().await.unwrap();
    assert_eq!(stored, aa);
    assert_eq!(t.store.get_client("aa").await.unwrap(), aa);
    // A change that does not touch what its tokens carry leaves the version alone.
    aa.name = "renamed again".into();
    assert_eq!(t.store.update_client(&aa).await.unwrap(), aa);
    assert_not_found(t.store.update_client(&client("nope", "")).await, "client");
    t.store.delete_client("zz").await.unwrap();
    assert_not_found(t.store.delete_client("zz").await, "client");
    assert_eq!(t.store.count_clients().await.unwrap(), 2);
}

fn grant_ids(p: &Paged<ClientGrant>) -> Vec<&str> {
    p.items.iter().map(|g| g.id.as_str()).collect()
}

async fn client_grants_crud_filters_and_cascades(t: TestStore) {
    t.api(A, &["r", "w"]).await;
    let api_b = t.api(B, &["x"]).await;
    for c in ["c1", "c2"] {
        t.store
            .create_client(&client(c, "2024-01-01T00:00:00.000Z"))
            .await
            .unwrap();
    }
    let g1 = t
        .store
        .create_client_grant("c1", A, &["r".into()])
        .await
        .unwrap();
    let g2 = t.store.create_client_grant("c1", B, &[]).await.unwrap();
    let g3 = t
        .store
        .create_client_grant("c2", A, &["r".into(), "w".into()])
        .await
        .unwrap();
    assert!(g1.id.starts_with("cgr_") && g1.id.len() == 20);
    assert_eq!(
        (
            g3.client_id.as_str(),
            g3.audience.as_str(),
            g3.scope.clone()
        ),
        ("c2", A, vec!["r".to_string(), "w".to_string()])
    );
    assert_conflict(
        t.store.create_client_grant("c1", A, &[]).await,
        "A client grant for this client and audience already exists",
    );
    assert_invalid(
        t.store
            .create_client_grant("c1", "https://nope/", &[])
            .await,
        "audience",
    );
    assert_invalid(
        t.store.create_client_grant("nope", A, &[]).await,
        "client_id",
    );

    // By id.
    let mut all = vec![g1.clone(), g2.clone(), g3.clone()];
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let p = t
        .store
        .list_client_grants(None, None, page(0, 50))
        .await
        .unwrap();
    assert_eq!((p.items.clone(), p.total), (all.clone(), 3));
    let p = t
        .store
        .list_client_grants(None, None, page(1, 2))
        .await
        .unwrap();
    assert_eq!((p.items.clone(), p.total), (all[2..].to_vec(), 3));
    assert_eq!(t.store.all_client_grants().await.unwrap(), all);
    let p = t
        .store
        .list_client_grants(Some("c1"), None, page(0, 50))
        .await
        .unwrap();
    assert_eq!(p.total, 2);
    assert!(p.items.iter().all(|g| g.client_id == "c1"));
    let p = t
        .store
        .list_client_grants(None, Some(A), page(0, 50))
        .await
        .unwrap();
    assert_eq!(p.total, 2);
    assert!(p.items.iter().all(|g| g.audience == A));
    let p = t
        .store
        .list_client_grants(Some("c1"), Some(A), page(0, 50))
        .await
        .unwrap();
    assert_eq!((grant_ids(&p), p.total), (vec![g1.id.as_str()], 1));
    let p = t
        .store
        .list_client_grants(Some("c2"), Some(B), page(0, 50))
        .await
        .unwrap();
    assert_eq!((p.items.len(), p.total), (0, 0));

    let g2b = t
        .store
        .update_client_grant(&g2.id, &["x".into()])
        .await
        .unwrap();
    assert_eq!(
        g2b,
        ClientGrant {
            scope: vec!["x".into()],
            ..g2.clone()
        }
    );
    assert_not_found(
        t.store.update_client_grant("cgr_missing", &[]).await,
        "client grant",
    );
    t.store.delete_client_grant(&g1.id).await.unwrap();
    assert_not_found(t.store.delete_client_grant(&g1.id).await, "client grant");
    // Deleting a client or an API deletes its grants.
    t.store.delete_client("c2").await.unwrap();
    assert_eq!(t.store.all_client_grants().await.unwrap(), vec![g2b]);
    t.store.delete_resource_server(&api_b.id).await.unwrap();
    assert!(t.store.all_client_grants().await.unwrap().is_empty());
}

fn key(kid: &str, alg: SigningAlg, state: KeyState, created_at: &str) -> SigningKey {
    SigningKey {
        kid: kid.into(),
        alg,
        state,
        private_der: [&[0u8, 1, 2, 0xff, 0][..], kid.as_bytes()].concat(),
        public_jwk: json!({"kid": kid, "kty": "EC", "crv": "P-256", "x": "AAA", "n": 1}),
        created_at: created_at.into(),
        current_since: (state == KeyState::Current).then(|| created_at.to_string()),
        current_until: None,
        revoked_at: None,
        retire_after: None,
    }
}

async fn signing_keys_rotate_and_revoke(t: TestStore) {
    let k1 = key(
        "k1",
        SigningAlg::RS256,
        KeyState::Current,
        "2024-01-01T00:00:00.000Z",
    );
    let k2 = key(
        "k2",
        SigningAlg::RS256,
        KeyState::Next,
        "2024-01-02T00:00:00.000Z",
    );
    let e1 = key(
        "e1",
        SigningAlg::ES256,
        KeyState::Current,
        "2024-01-01T00:00:00.000Z",
    );
    for k in [&k1, &k2, &e1] {
        t.store.insert_signing_key(k).await.unwrap();
    }
    // By creation time, then kid; bytes and JSON round-trip.
    assert_eq!(
        t.store.signing_keys().await.unwrap(),
        vec![e1.clone(), k1.clone(), k2.clone()]
    );
    assert_conflict(t.store.insert_signing_key(&k1).await, "key k1 exists");

    let k3 = key(
        "k3",
        SigningAlg::RS256,
        KeyState::Next,
        "2024-01-03T00:00:00.000Z",
    );
    t.store
        .rotate_signing_keys(SigningAlg::RS256, &k3, 1_234)
        .await
        .unwrap();
    let keys = t.store.signing_keys().await.unwrap();
    let get = |kid: &str| keys.iter().find(|k| k.kid == kid).unwrap().clone();
    let (r1, r2) = (get("k1"), get("k2"));
    assert_eq!(r1.state, KeyState::Previous);
    assert_eq!(r1.retire_after, Some(1_234));
    assert!(r1.current_until.is_some());
    assert_eq!(r2.state, KeyState::Current);
    assert_eq!(r2.current_since, r1.current_until);
    assert_eq!(get("k3"), k3);
    assert_eq!(get("e1"), e1);

    for kid in ["k2", "k3"] {
        assert_conflict(
            t.store.revoke_signing_key(kid).await,
            "Only a previous (rotated-out) key can be revoked",
        );
    }
    let revoked = t.store.revoke_signing_key("k1").await.unwrap();
    assert_eq!(revoked.state, KeyState::Revoked);
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        t.store
            .signing_keys()
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.kid == "k1")
            .unwrap(),
        revoked
    );
    assert_conflict(
        t.store.revoke_signing_key("k1").await,
        "The key is already revoked",
    );
    assert_not_found(t.store.revoke_signing_key("nope").await, "signing key");
}

/// The publication record of `alg`, if any.
async fn publication(t: &TestStore, alg: SigningAlg) -> Option<KeyPublication> {
    t.store
        .key_publications()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.alg == alg)
}

async fn key_publication_follows_the_apis_algorithms(t: TestStore) {
    // Nothing needs ES256 or EdDSA yet: no record (RS256 never has one).
    create_later(&t, rs("https://rsa/", &[], false)).await;
    assert!(t.store.key_publications().await.unwrap().is_empty());

    // The first API on ES256 starts its publication, in the write that creates it.
    let es = create_later(
        &t,
        ResourceServer {
            signing_alg: SigningAlg::ES256,
            token_lifetime: 600,
            ..rs("https://es/", &[], false)
        },
    )
    .await;
    let first = publication(&t, SigningAlg::ES256).await.unwrap();
    assert_eq!(first.retire_after, None);
    assert!(publication(&t, SigningAlg::EdDSA).await.is_none());

    // A second API on ES256 changes nothing.
    let mut other = create_later(&t, rs("https://other/", &[], false)).await;
    other.signing_alg = SigningAlg::ES256;
    t.store.update_resource_server(&other).await.unwrap();
    assert_eq!(publication(&t, SigningAlg::ES256).await.unwrap(), first);

    // Neither uses it any more: it retires after the longest token lifetime (86400 s here)
    // and a minute.
    other.signing_alg = SigningAlg::EdDSA;
    t.store.update_resource_server(&other).await.unwrap();
    let before = chrono::Utc::now().timestamp();
    t.store.delete_resource_server(&es.id).await.unwrap();
    let retiring = publication(&t, SigningAlg::ES256).await.unwrap();
    assert_eq!(retiring.published_since, first.published_since);
    let retire = retiring.retire_after.unwrap();
    assert!(
        (before + 86_460..=before + 86_465).contains(&retire),
        "{retire}"
    );
    // …while EdDSA started with the switch.
    let ed = publication(&t, SigningAlg::EdDSA).await.unwrap();
    assert_eq!(ed.retire_after, None);
    assert!(ed.published_since >= first.published_since);

    // Used again before it retired: still published, the same warm-up.
    tokio::time::sleep(Duration::from_millis(5)).await;
    other.signing_alg = SigningAlg::ES256;
    t.store.update_resource_server(&other).await.unwrap();
    assert_eq!(publication(&t, SigningAlg::ES256).await.unwrap(), first);
    assert!(
        publication(&t, SigningAlg::EdDSA)
            .await
            .unwrap()
            .retire_after
            .is_some()
    );

    // A failed write changes nothing.
    assert_not_found(
        t.store.delete_resource_server("rs_nope").await,
        "resource server",
    );
    assert_eq!(publication(&t, SigningAlg::ES256).await.unwrap(), first);
}

async fn key_certificates_are_kept_once(t: TestStore) {
    let cipher_free = SigningKey {
        kid: "kid-cert".into(),
        alg: SigningAlg::ES256,
        state: KeyState::Current,
        private_der: vec![1, 2, 3],
        public_jwk: json!({"kid": "kid-cert"}),
        created_at: "2026-12-04T10:00:00.000Z".into(),
        current_since: None,
        current_until: None,
        revoked_at: None,
        retire_after: None,
    };
    t.store.insert_signing_key(&cipher_free).await.unwrap();
    assert_eq!(t.store.key_certificate("kid-cert").await.unwrap(), None);
    // The first certificate written is kept; a later one (another node's) is not.
    assert_eq!(
        t.store
            .keep_key_certificate("kid-cert", &[0x30, 1])
            .await
            .unwrap(),
        vec![0x30, 1]
    );
    assert_eq!(
        t.store
            .keep_key_certificate("kid-cert", &[0x30, 2])
            .await
            .unwrap(),
        vec![0x30, 1]
    );
    assert_eq!(
        t.store.key_certificate("kid-cert").await.unwrap(),
        Some(vec![0x30, 1])
    );
    assert_not_found(
        t.store.keep_key_certificate("kid-nope", &[0x30]).await,
        "signing key",
    );
}
