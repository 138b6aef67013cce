//! Cost of a user's token issuance with RBAC, against SQLite, by roles held and by user count.
//!
//! Data (one temp SQLite database, built through the store API): one API with 1,000 scopes
//! (`perm:0000`..`perm:0999`, signing alg ES256, RBAC on, `permissions` claim), 50 roles of 20
//! distinct permissions each (1,000 over all roles), user A holding all 50 roles (1,000
//! effective permissions), user B holding one role (20).
//!
//! - `eval/user_50_roles`, `eval/user_1_role`: RBAC evaluated in SQL every time
//!   (`store.effective_permissions(user, api)` + `writ_core::rbac::grant_for_user`): the cost of
//!   the first issuance after a permission change.
//! - `issue/user_50_roles`, `issue/user_1_role`: the token endpoint's path after the password
//!   check: the authz version read, permissions from the version-keyed cache
//!   (`writ_service::permissions`), grant, and `writ_service::tokens::access_token` (ES256).
//! - `issue/users_1k`, `issue/users_1m`: issuance for one user holding one role, in a database
//!   of 1,000 users, then the same database grown to 1,000,000 users, every one holding that
//!   role (so the role has as many holders as there are users).
//!
//! Target: evaluation cost depends on the user's own roles and grants only, never on the number
//! of users or of a role's holders: `users_1m` within noise of `users_1k` (SQLite index depth
//! aside). Issuance for the 50-role user within 2× of the one-role user (the issue's target);
//! uncached evaluation grows with the user's own grants (1,000 rows) and stays under a millisecond.
//!
//! The 1M part runs only with `WRIT_BENCH_1M=1`: building it through the store API takes about
//! 8 minutes on 2 cores, so its database is cached in `target/bench-data/rbac-1m/` (under
//! `$CARGO_TARGET_DIR` when set) and reused by later runs. Delete that folder to rebuild it.
//!
//! Run: `cargo bench -p writ-server --bench rbac` (short warm-up/measurement set in code).

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use criterion::Criterion;
use tokio::runtime::Runtime;
use writ_core::rbac::grant_for_user;
use writ_core::{Client, Permission, ResourceServer, Scope, SigningAlg};
use writ_server::AppState;
use writ_store::{NewUser, Page};

const ISSUER: &str = "https://auth.bench.example/";
const API: &str = "https://bench.example/api";
const SCOPES: usize = 1_000;
const ROLES: usize = 50;
const PERMS_PER_ROLE: usize = 20;
/// What the client asks for: OIDC scopes, two permissions of role 0 and one of role 25.
const REQUESTED: &str = "openid profile perm:0000 perm:0019 perm:0500";
/// The user measured in the scale test.
const SCALE_USER: &str = "scale-user@bench.example";
/// Filler users are inserted and assigned in chunks of this many.
const CHUNK: usize = 500;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn open(dir: &Path) -> AppState {
    let url = format!("sqlite://{}", dir.join("w.db").display());
    common::prepare(&[
        ("WRIT_DATABASE_URL", url),
        ("WRIT_ISSUER", ISSUER.into()),
        ("WRIT_PASSWORD_HASH_CONCURRENCY", "1".into()),
    ])
    .await
}

fn role_name(r: usize) -> String {
    format!("role-{r:02}")
}

/// The API and the 50 roles; returns the role ids in order.
async fn seed_catalog(state: &AppState) -> Vec<String> {
    let s = &state.store;
    s.create_resource_server(common::rbac_api(
        API,
        "Bench API",
        (0..SCOPES)
            .map(|i| Scope {
                value: format!("perm:{i:04}"),
                description: format!("Permission {i}"),
            })
            .collect(),
        SigningAlg::ES256,
        false,
    ))
    .await
    .expect("create API");
    let mut ids = Vec::with_capacity(ROLES);
    for r in 0..ROLES {
        let role = s
            .create_role(&role_name(r), "bench role")
            .await
            .expect("create role");
        let perms: Vec<Permission> = (r * PERMS_PER_ROLE..(r + 1) * PERMS_PER_ROLE)
            .map(|i| Permission {
                resource_server_identifier: API.into(),
                permission_name: format!("perm:{i:04}"),
            })
            .collect();
        s.add_role_permissions(&role.id, &perms)
            .await
            .expect("role permissions");
        ids.push(role.id);
    }
    state.reload().await.expect("reload");
    ids
}

async fn new_user(state: &AppState, email: &str, roles: &[String]) -> String {
    let u = state
        .store
        .create_user(NewUser {
            email: email.into(),
            name: Some(email.into()),
            email_verified: true,
            ..Default::default()
        })
        .await
        .expect("create user");
    state
        .store
        .assign_user_roles(&u.user_id, roles)
        .await
        .expect("assign roles");
    u.user_id
}

/// Adds users `from..to` (numbered emails), each holding `role`, in chunks through the store.
async fn add_users(state: &AppState, role: &str, from: usize, to: usize) {
    let started = Instant::now();
    let mut i = from;
    while i < to {
        let end = (i + CHUNK).min(to);
        let mut ids = Vec::with_capacity(end - i);
        for n in i..end {
            let email = format!("user{n:07}@bench.example");
            let u = state
                .store
                .create_user(NewUser {
                    email,
                    name: Some(format!("User {n}")),
                    email_verified: true,
                    ..Default::default()
                })
                .await
                .expect("create user");
            ids.push(u.user_id);
        }
        state
            .store
            .assign_role_users(role, &ids)
            .await
            .expect("assign role");
        i = end;
        if (to - from) >= 100_000 && i.is_multiple_of(100_000) {
            eprintln!("rbac bench: {i} users ({:.0?})", started.elapsed());
        }
    }
}

async fn user_count(state: &AppState) -> i64 {
    state
        .store
        .list_users(
            None,
            Page {
                page: 0,
                per_page: 1,
            },
        )
        .await
        .expect("count users")
        .total
}

/// What one issuance needs besides the user.
struct Fixture {
    state: AppState,
    api: Arc<ResourceServer>,
    client: Client,
}

impl Fixture {
    fn new(state: AppState) -> Self {
        let api = state
            .catalog
            .load()
            .apis
            .get(API)
            .cloned()
            .expect("API in catalog");
        assert_eq!(api.signing_alg, SigningAlg::ES256);
        let mut client = writ_service::bootstrap::machine_client(
            "bench-cli",
            "Bench CLI",
            "bench-cli-secret-0123456789",
        );
        client.grant_types = vec!["password".into()];
        Self { state, api, client }
    }

    /// Effective permissions + grant: what `eval/*` measures.
    async fn eval(&self, user: &str) -> (writ_core::rbac::Granted<'static>, i64) {
        let (perms, version) = self
            .state
            .store
            .effective_permissions(user, API)
            .await
            .expect("effective permissions");
        let g = grant_for_user(&self.api, Some(REQUESTED), &perms);
        let owned = g
            .permissions
            .map(|p| std::borrow::Cow::Owned(p.into_owned()));
        (
            writ_core::rbac::Granted {
                scope: g.scope,
                permissions: owned,
            },
            version,
        )
    }

    /// The full user issuance path, as the token endpoint runs it (permissions cached by authz
    /// version, see `writ_service::permissions`): what `issue/*` measures.
    async fn issue(&self, user: &str) -> String {
        let (perms, version) = self
            .state
            .perms
            .get(self.state.store.as_ref(), user, API)
            .await
            .expect("effective permissions");
        let granted = grant_for_user(&self.api, Some(REQUESTED), &perms);
        let (jwt, _scope, _exp) = writ_service::tokens::access_token(
            &self.state,
            &self.api,
            &self.client,
            user,
            &granted,
            "password",
            Some(version),
            &serde_json::Map::new(),
        )
        .expect("access token");
        jwt
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            crate_dir
                .ancestors()
                .nth(2)
                .unwrap_or(crate_dir)
                .join("target")
        })
}

fn bench_roles(c: &mut Criterion, rt: &Runtime) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (f, a, b) = rt.block_on(async {
        let state = open(dir.path()).await;
        let roles = seed_catalog(&state).await;
        let a = new_user(&state, "a@bench.example", &roles).await;
        let b = new_user(&state, "b@bench.example", &roles[..1]).await;
        (Fixture::new(state), a, b)
    });
    rt.block_on(async {
        let (ga, _) = f.eval(&a).await;
        let (gb, _) = f.eval(&b).await;
        assert_eq!(ga.permissions.as_ref().map(|p| p.len()), Some(SCOPES));
        assert_eq!(
            gb.permissions.as_ref().map(|p| p.len()),
            Some(PERMS_PER_ROLE)
        );
        assert_eq!(ga.scope_string(), REQUESTED);
        assert_eq!(gb.scope_string(), "openid profile perm:0000 perm:0019");
    });

    let users = [("user_50_roles", &a), ("user_1_role", &b)];
    let mut g = c.benchmark_group("issue");
    for (name, user) in users {
        g.bench_function(name, |bn| bn.iter(|| rt.block_on(f.issue(black_box(user)))));
    }
    g.finish();
    let mut g = c.benchmark_group("eval");
    for (name, user) in users {
        g.bench_function(name, |bn| bn.iter(|| rt.block_on(f.eval(black_box(user)))));
    }
    g.finish();
    rt.block_on(f.state.store.close());
}

/// Opens a scale database and finds the measured user.
async fn scale_fixture(state: AppState) -> (Fixture, String) {
    let user = state
        .store
        .credentials_by_email(SCALE_USER)
        .await
        .expect("lookup")
        .expect("scale user exists")
        .user
        .user_id;
    (Fixture::new(state), user)
}

/// A fresh scale database in `dir` with 1,000 users (the measured one included), all holding
/// role 0; returns its state and the role's id.
async fn build_1k(dir: &Path) -> (AppState, String) {
    let state = open(dir).await;
    let roles = seed_catalog(&state).await;
    new_user(&state, SCALE_USER, &roles[..1]).await;
    add_users(&state, &roles[0], 1, 1_000).await;
    assert_eq!(user_count(&state).await, 1_000);
    (state, roles[0].clone())
}

fn bench_one(c: &mut Criterion, rt: &Runtime, id: &str, f: &Fixture, user: &str) {
    rt.block_on(async {
        let (g, _) = f.eval(user).await;
        assert_eq!(
            g.permissions.as_ref().map(|p| p.len()),
            Some(PERMS_PER_ROLE)
        );
    });
    let mut g = c.benchmark_group("issue");
    g.bench_function(id, |b| b.iter(|| rt.block_on(f.issue(black_box(user)))));
    g.finish();
}

fn bench_scale(c: &mut Criterion, rt: &Runtime) {
    let with_1m = std::env::var("WRIT_BENCH_1M").is_ok_and(|v| v == "1");
    let cache = target_dir().join("bench-data").join("rbac-1m");
    let marker = cache.join("complete");
    let cached = marker.exists();
    // Without a cached 1M database, the 1k database is built where the 1M one will be, and grown.
    let grow_here = with_1m && !cached;
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir_1k = if grow_here {
        let _ = std::fs::remove_dir_all(&cache);
        std::fs::create_dir_all(&cache).expect("create cache dir");
        cache.clone()
    } else {
        tmp.path().to_path_buf()
    };

    let (state, role) = rt.block_on(build_1k(&dir_1k));
    let (f, user) = rt.block_on(scale_fixture(state));
    bench_one(c, rt, "users_1k", &f, &user);
    if !with_1m {
        rt.block_on(f.state.store.close());
        return;
    }

    let (f, user) = if grow_here {
        rt.block_on(async {
            eprintln!(
                "rbac bench: growing {} to 1,000,000 users (once; cached afterwards)",
                cache.display()
            );
            add_users(&f.state, &role, 1_000, 1_000_000).await;
            assert_eq!(user_count(&f.state).await, 1_000_000);
        });
        std::fs::write(&marker, "1000000 users\n").expect("write marker");
        (f, user)
    } else {
        rt.block_on(f.state.store.close());
        drop(f);
        rt.block_on(async {
            let state = open(&cache).await;
            assert_eq!(
                user_count(&state).await,
                1_000_000,
                "stale cache: delete {}",
                cache.display()
            );
            scale_fixture(state).await
        })
    };
    bench_one(c, rt, "users_1m", &f, &user);
    rt.block_on(f.state.store.close());
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    bench_roles(c, &rt);
    bench_scale(c, &rt);
}

bench_main!(bench);
