//! Dumps (`writ_store::dump`): a store filled with every kind of row is exported, imported into
//! fresh stores of the other backend and of the same one, and every trait-level read must
//! answer the same (password hashes, sealed keys, sessions, codes and refresh tokens
//! included), and a re-export must hold the same rows. Imports refuse non-empty databases and
//! truncated or damaged dumps without keeping anything; numbering (authz events, audit log)
//! continues after the imported rows; an export taken under concurrent writes is one snapshot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use writ_core::*;
use writ_store::dump::{self, Database, DumpError};
use writ_store::*;

use crate::login::{code, refresh};
use crate::{A, B, TestStore, conformance, oldest_first, page, perm, total};

conformance!(
    a_dump_moves_every_row_to_the_other_backend_and_to_the_same_one,
    import_refuses_a_database_that_is_not_empty,
    import_refuses_truncated_and_damaged_dumps_and_keeps_nothing,
    numbering_continues_after_the_imported_rows,
    export_is_one_snapshot_under_concurrent_writes,
    export_refuses_a_table_missing_from_the_table_list,
);

async fn export_text(t: &TestStore) -> String {
    let db = Database::connect(&t.url).await.unwrap();
    let mut out = Vec::new();
    let summary = dump::export(&db, &mut out).await.unwrap();
    db.close().await;
    assert_eq!(summary.source, t.backend);
    String::from_utf8(out).unwrap()
}

async fn import_text(t: &TestStore, text: &str) -> Result<dump::Summary, DumpError> {
    let db = Database::connect(&t.url).await.unwrap();
    let r = dump::import(&db, text.as_bytes()).await;
    db.close().await;
    r
}

/// Row lines of tables both backends have (PostgreSQL's authz log head row is its own).
fn rows(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            let v = parse(l);
            v.get("table").is_some() && v["table"] != "authz_log_head"
        })
        .collect()
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

/// The stores to import into: a fresh one of each backend (PostgreSQL unless skipped).
async fn targets() -> Vec<TestStore> {
    let mut v = vec![TestStore::sqlite().await];
    v.extend(TestStore::postgres().await);
    v
}

fn client(id: &str, app_type: AppType, secret: Option<&str>, grants: &[&str]) -> Client {
    Client {
        name: format!("{id} — app ✓"),
        description: "line one\nline \"two\"".into(),
        grant_types: grants.iter().map(|g| (*g).into()).collect(),
        callbacks: vec![format!("https://{id}.example/cb")],
        allowed_origins: vec![format!("https://{id}.example")],
        allowed_logout_urls: vec![format!("https://{id}.example/bye")],
        secret_hash: secret.map(Into::into),
        is_first_party: app_type != AppType::NonInteractive,
        refresh_rotation: app_type == AppType::Spa,
        refresh_leeway: 3,
        authz_version: 1,
        ..Client::new(id.into(), app_type, "2024-05-06T07:08:09.123Z".into())
    }
}

fn key(kid: &str, alg: SigningAlg, state: KeyState) -> SigningKey {
    SigningKey {
        kid: kid.into(),
        alg,
        state,
        // Sealed bytes: every byte value, as a sealed key has.
        private_der: (0..=255u8).chain(kid.bytes()).collect(),
        public_jwk: json!({"kid": kid, "kty": "EC", "crv": "P-256", "x": "AAA", "y": "BBB"}),
        created_at: "2024-01-01T00:00:00.000Z".into(),
        current_since: (state == KeyState::Current).then(|| "2024-01-02T00:00:00.000Z".into()),
        current_until: None,
        revoked_at: None,
        retire_after: None,
    }
}

fn log(date: &str, user: Option<&str>) -> NewLogEntry {
    NewLogEntry {
        date: Some(date.into()),
        log_type: "sapi".into(),
        description: format!("change at {date}"),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("curl/8".into()),
        client_id: Some("ops".into()),
        client_name: None,
        user_id: user.map(Into::into),
        user_name: None,
        connection: None,
        details: json!({"request": {"path": "/api/v2/roles", "n": [1, 2.5, null, true]}}),
    }
}

/// What [`populate`] made, for the reads that need ids.
struct Made {
    alice: String,
    bob: String,
    carol: String,
    editor: String,
    sessions: Vec<String>,
    refresh: Vec<String>,
}

/// Fills `t` with every kind of row, through the store's own operations.
async fn populate(t: &TestStore) -> Made {
    let s = &t.store;
    t.api(A, &["read:x", "write:x", "delete:x"]).await;
    let mut b = t.api(B, &["read:y", "admin:y"]).await;
    b.enforce_policies = false;
    b.allow_offline_access = true;
    b.token_dialect = TokenDialect::Rfc9068Profile;
    // ES256: the API write publishes that algorithm (a `key_publication` row).
    b.signing_alg = SigningAlg::ES256;
    s.update_resource_server(&b).await.unwrap();

    let editor = s.create_role("editor", "edits things").await.unwrap().id;
    let viewer = s.create_role("viewer", "").await.unwrap().id;
    s.add_role_permissions(&editor, &[perm(A, "read:x"), perm(A, "write:x")])
        .await
        .unwrap();
    s.add_role_permissions(&viewer, &[perm(A, "read:x"), perm(B, "read:y")])
        .await
        .unwrap();

    let alice = s
        .create_user(NewUser {
            email: "alice@example.com".into(),
            password_hash: Some(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g"
                    .into(),
            ),
            name: Some("Alice Ünïcødé 名前 🦀".into()),
            email_verified: true,
            blocked: false,
            app_metadata: json!({"plan": "pro", "n": 3, "nested": {"a": [1, 2, {"b": null}]}})
                .as_object()
                .unwrap()
                .clone(),
            user_metadata: json!({"theme": "dark", "quote": "say \"hi\"\n"})
                .as_object()
                .unwrap()
                .clone(),
        })
        .await
        .unwrap()
        .user_id;
    let bob = s
        .create_user(NewUser {
            email: "bob@example.com".into(),
            password_hash: Some(
                "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234".into(),
            ),
            ..Default::default()
        })
        .await
        .unwrap()
        .user_id;
    let carol = t.user("carol@example.com").await.user_id;
    s.assign_user_roles(&alice, std::slice::from_ref(&editor))
        .await
        .unwrap();
    s.assign_user_roles(&bob, &[viewer.clone(), editor.clone()])
        .await
        .unwrap();
    s.add_user_permissions(&alice, &[perm(A, "delete:x"), perm(B, "admin:y")])
        .await
        .unwrap();
    s.add_user_permissions(&carol, &[perm(B, "read:y")])
        .await
        .unwrap();
    // Groups: a tree deeper than one level (restored whatever the order of the ids), a role
    // inherited by a member of a subgroup, and a member of two groups.
    let eng = s.create_group("eng", "engineering", None).await.unwrap().id;
    let backend = s.create_group("backend", "", Some(&eng)).await.unwrap().id;
    let db = s.create_group("db", "", Some(&backend)).await.unwrap().id;
    s.create_group("ops", "", None).await.unwrap();
    s.add_group_roles(&eng, std::slice::from_ref(&viewer))
        .await
        .unwrap();
    s.add_group_roles(&db, std::slice::from_ref(&editor))
        .await
        .unwrap();
    s.add_group_members(&db, std::slice::from_ref(&carol))
        .await
        .unwrap();
    s.add_group_members(&eng, &[carol.clone(), alice.clone()])
        .await
        .unwrap();
    let mut c = s.get_user(&carol).await.unwrap();
    c.blocked = true;
    s.update_user(&c, None).await.unwrap();

    s.create_client(&client(
        "web",
        AppType::RegularWeb,
        Some("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        &["authorization_code", "refresh_token", "password"],
    ))
    .await
    .unwrap();
    s.create_client(&client("spa", AppType::Spa, None, &["authorization_code"]))
        .await
        .unwrap();
    s.create_client(&client(
        "m2m",
        AppType::NonInteractive,
        Some("aa"),
        &["client_credentials"],
    ))
    .await
    .unwrap();
    s.create_client_grant("m2m", A, &["read:x".into(), "write:x".into()])
        .await
        .unwrap();
    s.create_client_grant("web", B, &[]).await.unwrap();

    // Per algorithm: a current and a next key, then a rotation (current, previous, next).
    for (alg, tag, retire_after) in [
        (SigningAlg::RS256, "rs", 1_900_000_000),
        (SigningAlg::ES256, "es", 1_800_000_000),
    ] {
        s.insert_signing_key(&key(&format!("k-{tag}-1"), alg, KeyState::Current))
            .await
            .unwrap();
        s.insert_signing_key(&key(&format!("k-{tag}-2"), alg, KeyState::Next))
            .await
            .unwrap();
        let next = key(&format!("k-{tag}-3"), alg, KeyState::Next);
        s.rotate_signing_keys(alg, &next, retire_after)
            .await
            .unwrap();
    }
    s.revoke_signing_key("k-es-1").await.unwrap();
    // A kept certificate (DER bytes).
    s.keep_key_certificate("k-es-2", &[0x30, 0x03, 0x02, 0x01, 0x07])
        .await
        .unwrap();

    let mut sessions = Vec::new();
    for (i, user) in [&alice, &bob].into_iter().enumerate() {
        let id = format!("sess-hash-{i}");
        s.create_session(&Session {
            id: id.clone(),
            sid: format!("sid-{i}"),
            user_id: user.clone(),
            auth_time: 1_700_000_000 + i as i64,
            last_seen: 1_700_000_100,
            expires_at: 1_700_600_000,
            amr: None,
        })
        .await
        .unwrap();
        sessions.push(id);
    }
    s.touch_session("sess-hash-0", 1_700_000_500).await.unwrap();

    // Codes are tied to the "app" client of the login tests' fixtures: use "web" instead.
    let mut fresh = code("code-fresh", &alice);
    fresh.client_id = "web".into();
    s.create_code(&fresh).await.unwrap();
    let mut used = code("code-used", &bob);
    used.client_id = "web".into();
    used.audience = None;
    used.nonce = None;
    s.create_code(&used).await.unwrap();
    let tok = |id: &str, fam: &str, parent: Option<&str>, user: &str| RefreshToken {
        client_id: "web".into(),
        audience: Some(A.into()),
        sid: Some("sid-0".into()),
        ..refresh(id, fam, parent, user)
    };
    // The code's exchange records its refresh token and family in one step.
    assert!(matches!(
        s.consume_code("code-used", 20, Some(&tok("rt-1", "fam-1", None, &bob)))
            .await
            .unwrap(),
        CodeOutcome::Fresh(_)
    ));
    let rotation = Rotation {
        id: "rt-1",
        client_id: "web",
        child_id: "rt-2",
        now: 5,
        idle_lifetime: 995,
        leeway: 0,
    };
    assert_eq!(
        s.rotate_refresh(rotation).await.unwrap(),
        RotateOutcome::Rotated(
            RefreshToken {
                created_at: 5,
                ..tok("rt-2", "fam-1", Some("rt-1"), &bob)
            },
            Some(s.get_user(&bob).await.unwrap())
        )
    );
    s.create_refresh(&tok("rt-3", "fam-2", None, &alice))
        .await
        .unwrap();
    s.revoke_refresh_family("fam-2").await.unwrap();

    for (i, date) in [
        "2024-01-01T00:00:00.000Z",
        "2024-02-01T00:00:00.000Z",
        "2024-03-01T00:00:00.000Z",
    ]
    .into_iter()
    .enumerate()
    {
        s.append_log(&log(date, (i == 1).then_some(alice.as_str())))
            .await
            .unwrap();
    }

    Made {
        alice,
        bob,
        carol,
        editor,
        sessions,
        refresh: vec!["rt-1".into(), "rt-2".into(), "rt-3".into()],
    }
}

/// Everything the store's traits answer about the data [`populate`] made.
#[derive(Debug, PartialEq)]
struct Snapshot {
    apis: Vec<ResourceServer>,
    roles: Vec<(Role, Vec<PermissionInfo>, Vec<UserSummary>)>,
    groups: Vec<(Group, Vec<UserSummary>, Vec<Role>)>,
    users: Vec<UserView>,
    clients: Vec<Client>,
    grants: Vec<ClientGrant>,
    keys: Vec<SigningKey>,
    publications: Vec<KeyPublication>,
    certificates: Vec<Option<Vec<u8>>>,
    events: Vec<AuthzEvent>,
    head: i64,
    catalog_version: i64,
    sessions: Vec<Option<Session>>,
    refresh: Vec<Option<RefreshToken>>,
    logs: Vec<LogEntry>,
}

#[derive(Debug, PartialEq)]
struct UserView {
    user: User,
    password_hash: Option<String>,
    roles: Vec<Role>,
    permissions: Vec<PermissionInfo>,
    effective: Vec<(Vec<String>, i64)>,
    groups: Vec<GroupPath>,
    effective_roles: Vec<EffectiveRole>,
    sources: Vec<PermissionSource>,
}

async fn snapshot(s: &dyn Store, m: &Made) -> Snapshot {
    let all = page(0, 100);
    let mut roles = Vec::new();
    for r in s.list_roles(None, all).await.unwrap().items {
        let perms = s.role_permissions(&r.id, all).await.unwrap().items;
        let users = s.role_users(&r.id, all).await.unwrap().items;
        roles.push((r, perms, users));
    }
    let mut users = Vec::new();
    for u in s.list_users(None, all).await.unwrap().items {
        let creds = s.credentials_by_email(&u.email).await.unwrap().unwrap();
        assert_eq!(creds.user, u);
        let mut effective = Vec::new();
        for api in [A, B] {
            effective.push(s.effective_permissions(&u.user_id, api).await.unwrap());
        }
        users.push(UserView {
            groups: s.user_groups(&u.user_id, all).await.unwrap().items,
            effective_roles: s.effective_roles(&u.user_id).await.unwrap(),
            sources: s
                .effective_permissions_with_sources(&u.user_id, None)
                .await
                .unwrap(),
            roles: s.user_roles(&u.user_id, all).await.unwrap().items,
            permissions: s.user_permissions(&u.user_id, all).await.unwrap().items,
            password_hash: creds.password_hash,
            effective,
            user: u,
        });
    }
    let mut sessions = Vec::new();
    for id in &m.sessions {
        sessions.push(s.get_session(id).await.unwrap());
    }
    let mut refresh = Vec::new();
    for id in &m.refresh {
        refresh.push(s.get_refresh(id).await.unwrap());
    }
    let mut groups = Vec::new();
    for g in s
        .list_groups(&GroupFilter::default(), all)
        .await
        .unwrap()
        .items
    {
        let members = s.group_members(&g.id, all).await.unwrap().items;
        let roles = s.group_roles(&g.id, all).await.unwrap().items;
        groups.push((g, members, roles));
    }
    Snapshot {
        apis: s.all_resource_servers().await.unwrap(),
        roles,
        groups,
        users,
        clients: s.all_clients().await.unwrap(),
        grants: s.all_client_grants().await.unwrap(),
        keys: s.signing_keys().await.unwrap(),
        publications: s.key_publications().await.unwrap(),
        certificates: {
            let mut certs = Vec::new();
            for k in s.signing_keys().await.unwrap() {
                certs.push(s.key_certificate(&k.kid).await.unwrap());
            }
            certs
        },
        events: s.authz_events_after(0, 10_000).await.unwrap().events,
        head: s.authz_head().await.unwrap(),
        catalog_version: s.catalog_version().await.unwrap(),
        sessions,
        refresh,
        logs: s.list_logs(&LogFilter::default(), all).await.unwrap().items,
    }
}

async fn a_dump_moves_every_row_to_the_other_backend_and_to_the_same_one(t: TestStore) {
    let m = populate(&t).await;
    let before = snapshot(&*t.store, &m).await;
    // Sanity: the data really has every kind of row.
    assert_eq!(before.users.len(), 3);
    assert!(before.users.iter().any(|u| u.password_hash.is_some()));
    assert!(before.keys.iter().any(|k| k.state == KeyState::Previous));
    assert!(before.keys.iter().any(|k| k.state == KeyState::Revoked));
    assert_eq!(before.publications.len(), 1);
    assert!(before.certificates.iter().any(Option::is_some));
    assert!(before.events.len() >= 5);
    assert!(before.refresh.iter().all(Option::is_some));
    assert_eq!(before.logs.len(), 3);
    assert_eq!(before.groups.len(), 4);
    let carol = before
        .users
        .iter()
        .find(|u| u.user.user_id == m.carol)
        .unwrap();
    let paths: Vec<&str> = carol.groups.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, ["/eng/backend/db", "/eng"]);
    assert_eq!(carol.effective_roles.len(), 2);

    let text = export_text(&t).await;
    let lines: Vec<&str> = text.lines().collect();
    let header = parse(lines[0]);
    assert_eq!(header["writ_dump"], 1);
    assert_eq!(
        header["source"],
        match t.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
    assert_eq!(header["schema"], dump::current_schema(t.backend));
    let trailer = parse(lines.last().unwrap());
    assert_eq!(trailer["writ_dump_end"], true);
    assert_eq!(trailer["counts"]["users"], 3);
    assert_eq!(trailer["counts"]["refresh_tokens"], 3);
    assert_eq!(trailer["sequences"]["authz_events"], before.head);

    // Canonical values: booleans, JSON as JSON, bytes as base64, NULL as null.
    let alice = rows(&text)
        .into_iter()
        .map(parse)
        .find(|r| r["table"] == "users" && r["row"]["id"] == m.alice.as_str())
        .unwrap();
    assert_eq!(alice["row"]["email_verified"], true);
    assert_eq!(alice["row"]["app_metadata"]["nested"]["a"][0], 1);
    let web = rows(&text)
        .into_iter()
        .map(parse)
        .find(|r| r["table"] == "clients" && r["row"]["client_id"] == "web")
        .unwrap();
    assert_eq!(web["row"]["grant_types"][2], "password");
    assert_eq!(web["row"]["is_first_party"], true);
    let sealed = rows(&text)
        .into_iter()
        .map(parse)
        .find(|r| r["table"] == "signing_keys" && r["row"]["kid"] == "k-es-1")
        .unwrap();
    assert!(
        sealed["row"]["private_key"]
            .as_str()
            .unwrap()
            .starts_with("AAECAwQF")
    );
    assert!(sealed["row"]["revoked_at"].is_string());
    assert!(sealed["row"]["current_until"].is_string());
    let spa = rows(&text)
        .into_iter()
        .map(parse)
        .find(|r| r["table"] == "clients" && r["row"]["client_id"] == "spa")
        .unwrap();
    assert_eq!(spa["row"]["secret_hash"], Value::Null);

    for target in targets().await {
        let summary = import_text(&target, &text).await.unwrap();
        assert_eq!(summary.source, t.backend);
        assert_eq!(summary.counts["users"], 3);
        let after = snapshot(&*target.store, &m).await;
        assert_eq!(
            after, before,
            "{:?} → {:?}: every read answers the same",
            t.backend, target.backend
        );
        // Re-exported, the same rows, line for line.
        let again = export_text(&target).await;
        assert_eq!(rows(&again), rows(&text), "{:?}", target.backend);

        // The imported data works: the used code's reuse revokes its family, the fresh code is
        // consumed once, a rotated refresh token's parent is recognised as used.
        let s = &target.store;
        assert!(matches!(
            s.consume_code("code-fresh", 30, None).await.unwrap(),
            CodeOutcome::Fresh(c) if c.user_id == m.alice && c.client_id == "web"
        ));
        assert!(matches!(
            s.consume_code("code-used", 30, None).await.unwrap(),
            CodeOutcome::Reused(_)
        ));
        assert!(s.get_refresh("rt-2").await.unwrap().unwrap().revoked);
        assert_eq!(
            s.effective_permissions(&m.bob, A).await.unwrap().0,
            vec!["read:x".to_string(), "write:x".into()]
        );
        assert!(s.get_user(&m.carol).await.unwrap().blocked);
        let _ = &m.editor;
    }
}

async fn import_refuses_a_database_that_is_not_empty(t: TestStore) {
    populate(&t).await;
    let text = export_text(&t).await;
    // Into itself: not empty.
    let err = import_text(&t, &text).await.unwrap_err();
    assert!(matches!(err, DumpError::NotEmpty(_)), "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
    // Into a database with one user only.
    for target in targets().await {
        target.user("someone@example.com").await;
        let err = import_text(&target, &text).await.unwrap_err();
        assert!(err.to_string().contains("users"), "{err}");
        assert_eq!(total(target.store.list_users(None, page(0, 10)).await), 1);
    }
}

async fn import_refuses_truncated_and_damaged_dumps_and_keeps_nothing(t: TestStore) {
    let m = populate(&t).await;
    let text = export_text(&t).await;
    let lines: Vec<&str> = text.lines().collect();
    let join = |ls: &[&str]| ls.join("\n") + "\n";
    let users_line = lines
        .iter()
        .position(|l| l.contains("\"table\":\"users\""))
        .unwrap();
    let cut_mid_line = &text[..text.len() - 20];
    // A row nothing refers to (a session) is missing: only the trailer's count notices.
    let mut dropped_row = lines.clone();
    dropped_row.remove(
        lines
            .iter()
            .position(|l| l.contains("\"table\":\"sessions\""))
            .unwrap(),
    );
    // A user is missing: the rows referring to it cannot be restored.
    let mut dropped_user = lines.clone();
    dropped_user.remove(users_line);
    let mut unknown_table = lines.clone();
    unknown_table.insert(1, r#"{"table":"nope","row":{}}"#);
    let mut bad_value = lines.clone();
    let bad = lines[users_line].replace("\"email_verified\":true", "\"email_verified\":\"yes\"");
    let bad = if bad == lines[users_line] {
        lines[users_line].replace("\"email_verified\":false", "\"email_verified\":\"no\"")
    } else {
        bad
    };
    bad_value[users_line] = &bad;
    let mut old_schema = lines.clone();
    let header = lines[0].replace(
        &format!("\"schema\":{}", dump::current_schema(t.backend)),
        "\"schema\":1",
    );
    old_schema[0] = &header;
    let mut after_trailer = lines.clone();
    after_trailer.push(lines[1]);

    let cases: Vec<(String, &str)> = vec![
        (join(&lines[..lines.len() - 1]), "truncated"),
        (cut_mid_line.to_string(), "truncated"),
        (join(&dropped_row), "incomplete"),
        (join(&dropped_user), "cannot be restored"),
        (join(&unknown_table), "unknown"),
        (join(&bad_value), "email_verified"),
        (join(&old_schema), "schema version 1"),
        (join(&after_trailer), "after the trailer"),
        (String::new(), "empty"),
        ("{\"hello\": 1}\n".into(), "not a writ dump"),
        (
            lines[0].replace("\"writ_dump\":1", "\"writ_dump\":2") + "\n",
            "version 2",
        ),
    ];
    let target = TestStore::sqlite().await;
    let pg = TestStore::postgres().await;
    for (dump_text, expect) in &cases {
        for target in std::iter::once(&target).chain(pg.as_ref()) {
            let err = import_text(target, dump_text).await.unwrap_err();
            assert!(
                err.to_string().contains(expect),
                "{:?}: expected '{expect}', got: {err}",
                target.backend
            );
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }
    // Nothing was kept: the complete dump still imports.
    for target in std::iter::once(&target).chain(pg.as_ref()) {
        import_text(target, &text).await.unwrap();
        assert_eq!(
            target.store.get_user(&m.alice).await.unwrap().email,
            "alice@example.com"
        );
    }
}

async fn numbering_continues_after_the_imported_rows(t: TestStore) {
    let m = populate(&t).await;
    // The newest audit entry is pruned (it is dated earliest): the log's counter is now
    // ahead of its highest row, and must stay ahead after the move.
    let pruned = t
        .store
        .append_log(&log("2020-01-01T00:00:00.000Z", None))
        .await
        .unwrap();
    assert_eq!(
        t.store
            .prune_logs("2021-01-01T00:00:00.000Z")
            .await
            .unwrap(),
        1
    );
    let head = t.store.authz_head().await.unwrap();
    let text = export_text(&t).await;
    let highest_row = text
        .lines()
        .map(parse)
        .filter(|r| r["table"] == "audit_log")
        .map(|r| r["row"]["seq"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(
        pruned_seq(&text) > highest_row,
        "the counter is ahead of the rows"
    );
    for target in targets().await {
        import_text(&target, &text).await.unwrap();
        let s = &target.store;
        assert_eq!(s.authz_head().await.unwrap(), head);
        let v = s.authz_version(&m.carol).await.unwrap();
        s.assign_user_roles(&m.carol, std::slice::from_ref(&m.editor))
            .await
            .unwrap();
        let new = s.authz_events_after(head, 10).await.unwrap().events;
        assert_eq!(new.len(), 1, "{:?}", target.backend);
        assert_eq!(new[0].seq, head + 1, "{:?}", target.backend);
        assert_eq!(new[0].subject, m.carol);
        assert!(new[0].version > v);
        assert_eq!(new[0].version, new[0].seq);
        // The audit log goes on too, after the pruned entry: ids and order stay unique.
        let next = s
            .append_log(&log("2025-01-01T00:00:00.000Z", None))
            .await
            .unwrap();
        let all = s.list_logs(&oldest_first(), page(0, 100)).await.unwrap();
        assert_eq!(all.total, 4);
        assert_eq!(all.items.last().unwrap(), &next);
        assert!(all.items.iter().all(|e| e.log_id != pruned.log_id));
        let seqs: Vec<i64> = export_text(&target)
            .await
            .lines()
            .map(parse)
            .filter(|r| r["table"] == "audit_log")
            .map(|r| r["row"]["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs.len(), 4);
        assert!(
            *seqs.last().unwrap() > pruned_seq(&text),
            "{:?}: {seqs:?}",
            target.backend
        );
    }
}

/// The audit log counter recorded in a dump's trailer.
fn pruned_seq(text: &str) -> i64 {
    parse(text.lines().last().unwrap())["sequences"]["audit_log"]
        .as_i64()
        .unwrap()
}

async fn export_is_one_snapshot_under_concurrent_writes(t: TestStore) {
    let role = t.role("r").await.id;
    t.api(A, &["p"]).await;
    t.grant_role(&role, &[perm(A, "p")]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, stop, role) = (t.store.clone(), stop.clone(), role.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let u = s
                    .create_user(NewUser {
                        email: format!("u{i}@example.com"),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                s.assign_user_roles(&u.user_id, std::slice::from_ref(&role))
                    .await
                    .unwrap();
                s.add_user_permissions(&u.user_id, &[perm(A, "p")])
                    .await
                    .unwrap();
                i += 1;
            }
            i
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let text = export_text(&t).await;
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > 0);

    // In one snapshot, every user's version is the seq of their last event (0, the version a
    // user starts at, without one), and every event's user is there.
    let mut versions = std::collections::HashMap::new();
    let mut last = std::collections::HashMap::<String, i64>::new();
    for r in text.lines().skip(1).map(parse) {
        match r["table"].as_str() {
            Some("users") => {
                versions.insert(
                    r["row"]["id"].as_str().unwrap().to_owned(),
                    r["row"]["authz_version"].as_i64().unwrap(),
                );
            }
            Some("authz_events") if r["row"]["members_of"].is_null() => {
                let seq = r["row"]["seq"].as_i64().unwrap();
                let e = last
                    .entry(r["row"]["user_id"].as_str().unwrap().to_owned())
                    .or_default();
                *e = (*e).max(seq);
            }
            _ => {}
        }
    }
    for (user, seq) in &last {
        assert_eq!(versions.get(user), Some(seq), "{user}");
    }
    for (user, v) in &versions {
        assert_eq!(last.get(user).copied().unwrap_or(0), *v, "{user}");
    }
    // And it restores (every foreign key holds).
    let target = TestStore::sqlite().await;
    let summary = import_text(&target, &text).await.unwrap();
    assert_eq!(summary.counts["users"] as usize, versions.len());
}

async fn export_refuses_a_table_missing_from_the_table_list(t: TestStore) {
    let db = Database::connect(&t.url).await.unwrap();
    let sql = "CREATE TABLE unlisted_things (id TEXT PRIMARY KEY)";
    match &db {
        Database::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Database::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap();
    let err = dump::export(&db, Vec::new()).await.unwrap_err();
    assert!(matches!(err, DumpError::Schema(_)), "{err}");
    assert!(err.to_string().contains("unlisted_things"), "{err}");
    assert!(err.to_string().contains("dump/tables.rs"), "{err}");
    db.close().await;
}
