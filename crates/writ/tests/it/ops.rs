//! The operator's commands around `writ serve`: `writ config check|show` on a real file and
//! environment, and `writ migrate` with a rolling upgrade on SQLite and PostgreSQL: after a
//! newer Writ applied an additive migration, this binary still starts, is ready and serves;
//! after a breaking one, it refuses with a message naming the migration.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use writ_store::migrate::{self, ADDITIVE, BREAKING};

use super::{
    PgTestDb, Server, client_credentials, free_port, json_of, node_env, until_ready, writ,
};

const KEK: &str = "b3BzLXRlc3Qta2V5LWVuY3J5cHRpb24ta2V5LTMyYiE";
const ADMIN: (&str, &str) = ("ops-admin", "ops-admin-secret-0123456789abcdef");

fn run(dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    writ(dir, free_port(), args, extra)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// `writ ARGS` with the harness's WRIT_ISSUER and WRIT_LISTEN blanked (an empty variable is
/// unset), so the file's settings apply.
fn run_on_file(dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut env = vec![("WRIT_ISSUER", ""), ("WRIT_LISTEN", "")];
    env.extend_from_slice(extra);
    run(dir, args, &env)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn config_check_validates_and_show_redacts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("writ.toml");
    std::fs::write(
        &file,
        format!(
            "issuer = \"https://auth.example/\"\n\
             database_url = \"postgres://writ:pg-pass-s3cret@db.internal:5432/writ\"\n\
             key_encryption_key = \"{KEK}\"\n\
             bootstrap_client_id = \"ops\"\n\
             bootstrap_client_secret = \"bootstrap-s3cret-0123456789\"\n\
             trusted_proxies = [\"10.0.0.0/8\"]\n\
             hook_timeout_ms = 250\n"
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let out = run_on_file(dir.path(), &["config", "check", "--config", f], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok\n");

    let out = run_on_file(
        dir.path(),
        &["config", "show", "--config", f],
        &[("WRIT_SIGNUP_ENABLED", "true")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for secret in ["pg-pass-s3cret", KEK, "bootstrap-s3cret"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let t: toml::Table = toml::from_str(&shown).unwrap();
    assert_eq!(t["issuer"].as_str(), Some("https://auth.example/"));
    assert_eq!(
        t["database_url"].as_str(),
        Some("postgres://writ:***@db.internal:5432/writ")
    );
    assert_eq!(t["key_encryption_key"].as_str(), Some("***"));
    assert_eq!(t["bootstrap_client_secret"].as_str(), Some("***"));
    assert_eq!(t["hook_timeout_ms"].as_integer(), Some(250));
    // The environment wins over the file.
    assert_eq!(t["signup_enabled"].as_bool(), Some(true));
    assert_eq!(t["listen"].as_str(), Some("127.0.0.1:3000"));

    // Bad settings: the error, exit 2, nothing started.
    for (body, expect) in [
        ("hook_timeout_ms = 0\n", "WRIT_HOOK_TIMEOUT_MS"),
        ("bogus = 1\n", "unknown field"),
        ("issuer = \"https://auth.example\"\n", "must end with '/'"),
    ] {
        std::fs::write(&file, body).unwrap();
        for cmd in ["check", "show"] {
            let out = run_on_file(dir.path(), &["config", cmd, "--config", f], &[]);
            assert_eq!(out.status.code(), Some(2), "{body}");
            assert!(text(&out.stderr).contains(expect), "{}", text(&out.stderr));
            assert!(out.stdout.is_empty());
        }
    }
    // A PostgreSQL URL without the key-encryption key is refused before any connection.
    let out = run_on_file(
        dir.path(),
        &["config", "check"],
        &[("WRIT_DATABASE_URL", "postgres://writ@db.invalid/writ")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("WRIT_KEY_ENCRYPTION_KEY is required"));
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_upgrade_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/data/writ.db", dir.path().display());
    rolling_upgrade(dir.path(), &db).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_upgrade_on_postgres() {
    let pg = PgTestDb::create("writ_ops").await;
    let dir = tempfile::tempdir().unwrap();
    rolling_upgrade(dir.path(), &pg.url).await;
}

async fn rolling_upgrade(dir: &Path, db: &str) {
    let env = node_env(db, KEK, ADMIN);
    let backend = writ_store::Backend::of_url(db).unwrap();
    let known = migrate::embedded(backend)
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap();

    // The deploy step alone: migrates a new database and exits.
    let out = run(dir, &["migrate"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!("the database is at migration {known} (")),
        "{}",
        text(&out.stdout)
    );

    // A newer Writ migrates with an additive migration.
    let additive = format!(
        "{ADDITIVE}\nCREATE TABLE device_codes (id TEXT PRIMARY KEY, client_id TEXT NOT NULL);\n\
         ALTER TABLE clients ADD COLUMN logo_uri TEXT;\n"
    );
    let newer = migrate::embedded_with(backend, &[(known + 1, "device codes", &additive)]);
    migrate::apply(db, &newer).await.unwrap();

    // This binary, the old node, starts, is ready and serves.
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}/");
    let node = Server::start(dir, port, &issuer, &env, "old-node.log");
    let http = reqwest::Client::new();
    let ready = until_ready(&http, &node.base).await;
    assert_eq!(ready["status"], "up", "{ready}");
    let aud = format!("{issuer}api/v2/");
    let token: Value = json_of(client_credentials(&http, &node.base, ADMIN, &aud)).await;
    let token = token["access_token"].as_str().unwrap();
    let clients: Value = json_of(
        http.get(format!("{}/api/v2/clients", node.base))
            .bearer_auth(token),
    )
    .await;
    assert!(!clients.as_array().unwrap().is_empty(), "{clients}");
    // `writ migrate` of this binary leaves the newer migration be, and says so.
    let out = run(dir, &["migrate"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "newer additive ones are applied: {} (device codes)",
            known + 1
        )),
        "{said}"
    );
    // `systemctl reload` (SIGHUP, deploy/writ.service) does not end it.
    let pid = node.child.id().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status();
    assert!(hup.unwrap().success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let live = http.get(format!("{}/health/live", node.base)).send().await;
    assert_eq!(live.unwrap().status(), 200);
    node.stop();
    let log = std::fs::read_to_string(dir.join("old-node.log")).unwrap();
    assert!(log.contains("SIGHUP"), "{log}");

    // A breaking migration from a newer Writ: this binary refuses to start, and to migrate.
    let breaking = format!("{BREAKING}\nALTER TABLE device_codes DROP COLUMN client_id;\n");
    let newest = migrate::embedded_with(
        backend,
        &[
            (known + 1, "device codes", &additive),
            (known + 2, "device codes without client", &breaking),
        ],
    );
    migrate::apply(db, &newest).await.unwrap();
    let expected = format!(
        "the database schema is at migration {} (device codes without client), newer than this \
         Writ knows ({known}, ",
        known + 2
    );
    let out = run(dir, &["serve"], &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("upgrade Writ"), "{err}");
    assert!(
        !err.contains("previously applied") && !err.contains("panicked"),
        "{err}"
    );
    let out = run(dir, &["migrate"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&expected),
        "{}",
        text(&out.stderr)
    );
}
