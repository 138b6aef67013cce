//! The store conformance suite: every store operation, run against a real SQLite file and a
//! real PostgreSQL database, with the same assertions. Each test body is an
//! `async fn name(t: TestStore)`; [`conformance!`] turns a module's bodies into
//! `<module>::sqlite::<name>` and `<module>::postgres::<name>` tests.
//!
//! PostgreSQL: each test gets a fresh database (`writ_t_<random>`) on the server at
//! `WRIT_TEST_POSTGRES_URL`, dropped when the test ends. Without that variable the PostgreSQL
//! tests fail, unless `WRIT_TEST_SKIP_POSTGRES=1` says to skip them.

use std::fmt::Debug;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use writ_core::*;
use writ_store::*;

mod actions;
mod audit;
mod catalog;
mod concurrency;
mod dump;
mod groups;
mod login;
mod mail;
mod mfa;
mod migrations;
mod passkeys;
mod rbac;
mod security;
mod ssf;
mod upgrade;
mod wal;

/// Generates one test per body and backend: `mod sqlite { … }` and `mod postgres { … }`.
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::TestStore::sqlite().await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(t) = crate::TestStore::postgres().await {
                        super::$name(t).await;
                    }
                }
            )+
        }
    };
}
pub(crate) use conformance;

/// A fresh, migrated store on one backend, removed when dropped.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub backend: Backend,
    /// The database URL the store was opened with.
    pub url: String,
    _cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    PgDatabase {
        admin: Box<PgConnectOptions>,
        name: String,
    },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Cleanup::PgDatabase { admin, name } = self else {
            return;
        };
        // Drop may run inside the test's runtime (or while unwinding): drop the database from
        // a thread with its own runtime. FORCE ends the store's still-open connections.
        let (admin, sql) = (
            admin.clone(),
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        );
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut c = PgConnection::connect_with(&admin).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await?;
                c.close().await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}

impl TestStore {
    /// A store on a new SQLite file in a temporary folder.
    pub async fn sqlite() -> Self {
        Self::sqlite_after(|_| async {}).await
    }

    /// A store on a new SQLite file, opened (and migrated) after `before` ran on its URL.
    pub async fn sqlite_after<F, Fut>(before: F) -> Self
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        before(url.clone()).await;
        let store = writ_store::open(&url).await.unwrap();
        Self {
            store,
            backend: Backend::Sqlite,
            url,
            _cleanup: Cleanup::Dir(dir),
        }
    }

    /// A store on a new database of the PostgreSQL server at `WRIT_TEST_POSTGRES_URL`; `None`
    /// when `WRIT_TEST_SKIP_POSTGRES=1` and no URL is set.
    pub async fn postgres() -> Option<Self> {
        Self::postgres_after(|_| async {}).await
    }

    /// As [`TestStore::postgres`], opened (and migrated) after `before` ran on its URL.
    pub async fn postgres_after<F, Fut>(before: F) -> Option<Self>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let Some(base) = std::env::var("WRIT_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            if std::env::var("WRIT_TEST_SKIP_POSTGRES").as_deref() == Ok("1") {
                eprintln!("WRIT_TEST_SKIP_POSTGRES=1: skipping the PostgreSQL half of this test");
                return None;
            }
            panic!(
                "WRIT_TEST_POSTGRES_URL is not set. The store conformance suite runs every test \
                 on PostgreSQL too; point it at a server where it may create databases, e.g. \
                 WRIT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test, or set \
                 WRIT_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL tests."
            );
        };
        let admin = PgConnectOptions::from_str(&base)
            .unwrap_or_else(|e| panic!("WRIT_TEST_POSTGRES_URL '{base}': {e}"));
        let name = format!("writ_t_{:016x}", rand::random::<u64>());
        let mut c = PgConnection::connect_with(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to WRIT_TEST_POSTGRES_URL '{base}': {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        c.close().await.ok();
        let cleanup = Cleanup::PgDatabase {
            admin: Box::new(admin),
            name: name.clone(),
        };
        let url = with_database(&base, &name);
        before(url.clone()).await;
        let store = writ_store::open(&url).await.unwrap();
        Some(Self {
            store,
            backend: Backend::Postgres,
            url,
            _cleanup: cleanup,
        })
    }

    pub async fn api(&self, identifier: &str, scopes: &[&str]) -> ResourceServer {
        self.store
            .create_resource_server(ResourceServer {
                id: String::new(),
                identifier: identifier.into(),
                name: identifier.into(),
                scopes: catalog(scopes),
                signing_alg: SigningAlg::ES256,
                token_lifetime: 3600,
                enforce_policies: true,
                token_dialect: TokenDialect::AccessTokenAuthz,
                allow_offline_access: false,
                is_system: false,
                token_claims: Default::default(),
            })
            .await
            .unwrap()
    }

    pub async fn user(&self, email: &str) -> User {
        self.store
            .create_user(NewUser {
                email: email.into(),
                ..Default::default()
            })
            .await
            .unwrap()
    }

    pub async fn version(&self, user: &str) -> i64 {
        self.store.get_user(user).await.unwrap().authz_version
    }

    /// A new role without a description.
    pub async fn role(&self, name: &str) -> Role {
        self.store.create_role(name, "").await.unwrap()
    }

    /// Adds `perms` to a role.
    pub async fn grant_role(&self, role: &str, perms: &[Permission]) {
        self.store.add_role_permissions(role, perms).await.unwrap();
    }

    /// Grants `perms` to a user directly.
    pub async fn grant_user(&self, user: &str, perms: &[Permission]) {
        self.store.add_user_permissions(user, perms).await.unwrap();
    }

    /// Assigns roles to a user (in one call).
    pub async fn assign(&self, user: &str, roles: &[impl AsRef<str>]) {
        let roles: Vec<String> = roles.iter().map(|r| r.as_ref().to_owned()).collect();
        self.store.assign_user_roles(user, &roles).await.unwrap();
    }

    /// The user's effective permissions for one API.
    pub async fn effective(&self, user: &str, api: &str) -> Vec<String> {
        self.store.effective_permissions(user, api).await.unwrap().0
    }
}

/// An API's permission catalog: each of `scopes`, described as "<scope> things".
pub fn catalog(scopes: &[&str]) -> Vec<Scope> {
    scopes
        .iter()
        .map(|s| Scope {
            value: (*s).into(),
            description: format!("{s} things"),
        })
        .collect()
}

/// Every audit log entry, oldest first.
pub fn oldest_first() -> LogFilter {
    LogFilter {
        oldest_first: true,
        ..Default::default()
    }
}

/// The total of a listing that succeeded.
pub fn total<T>(listed: Result<Paged<T>>) -> i64 {
    listed.unwrap().total
}

/// Asserts that `r` is `NotFound(what)`.
#[track_caller]
pub fn assert_not_found<T: Debug>(r: Result<T>, what: &str) {
    assert!(
        matches!(r, Err(StoreError::NotFound(w)) if w == what),
        "expected not found: {what}, got {r:?}"
    );
}

/// Asserts that `r` is `Invalid`, naming `field`.
#[track_caller]
pub fn assert_invalid<T: Debug>(r: Result<T>, field: &str) {
    assert!(
        matches!(r, Err(StoreError::Invalid(ref v)) if v.field == field),
        "expected invalid {field}, got {r:?}"
    );
}

/// Asserts that `r` is `Conflict(message)`.
#[track_caller]
pub fn assert_conflict<T: Debug>(r: Result<T>, message: &str) {
    match r {
        Err(StoreError::Conflict(m)) => assert_eq!(m, message),
        other => panic!("{other:?}"),
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    match query {
        Some(q) => format!("{}/{name}?{q}", &base[..path]),
        None => format!("{}/{name}", &base[..path]),
    }
}

pub fn perm(api: &str, p: &str) -> Permission {
    Permission {
        resource_server_identifier: api.into(),
        permission_name: p.into(),
    }
}

pub fn page(page: u32, per_page: u32) -> Page {
    Page { page, per_page }
}

pub const A: &str = "https://a.example/";
pub const B: &str = "https://b.example/";

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://u@h:5432/test", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgresql://h/test?sslmode=disable", "x"),
        "postgresql://h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

#[tokio::test]
async fn open_refuses_unknown_url_schemes() {
    assert_eq!(Backend::of_url("sqlite::memory:"), Some(Backend::Sqlite));
    assert_eq!(Backend::of_url("postgres://h/db"), Some(Backend::Postgres));
    assert_eq!(
        Backend::of_url("postgresql://h/db"),
        Some(Backend::Postgres)
    );
    assert_eq!(Backend::of_url("mysql://h/db"), None);
    assert!(writ_store::open("mysql://h/db").await.is_err());
}
