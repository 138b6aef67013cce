//! Moving a live deployment with the binary, as an operator would: data made through the
//! Management API on a SQLite `writ serve`, `writ backup` while it runs, `writ export`, then
//! `writ import` into a fresh PostgreSQL database (on the server at `WRIT_TEST_POSTGRES_URL`)
//! and `writ serve` there with the same key-encryption key: the old token still verifies (same
//! kid in the new JWKS, introspection active), the user logs in with the same password, the
//! refresh token and the SSO session from a browser login still work, and so does the bootstrap
//! client. And back to SQLite; and the live backup serves the same.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use super::web::{jwks_kids, jwt_parts, login_form, password_form, post_form, set_cookie};
use super::{
    PgTestDb, Server, code_exchange, code_of, free_port, json_of, mgmt_json, spa_client, writ,
};

const KEK: &str = "ZHVtcC10ZXN0LWtleS1lbmNyeXB0aW9uLWtleS0zMmI";
const OPS: (&str, &str) = ("dump-ops", "dump-ops-secret-0123456789abcdef");
const API: &str = "https://todos.dump.test/api";
const EMAIL: &str = "mover@example.com";
const PASSWORD: &str = "moving-day-password-1";
const VERIFIER: &str = "moving-day-verifier-moving-day-verifier-moving-day-verifier";

fn env(db: &str) -> Vec<(&str, &str)> {
    vec![
        ("WRIT_DATABASE_URL", db),
        ("WRIT_KEY_ENCRYPTION_KEY", KEK),
        ("WRIT_BOOTSTRAP_CLIENT_ID", OPS.0),
        ("WRIT_BOOTSTRAP_CLIENT_SECRET", OPS.1),
        ("WRIT_PASSWORD_HASH_CONCURRENCY", "1"),
    ]
}

/// Runs `writ ARGS` (a one-shot command) in `dir`.
fn cli(dir: &Path, args: &[&str]) -> Output {
    writ(dir, free_port(), args, &[])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Http {
    http: reqwest::Client,
    /// Follows no redirects and keeps no cookies: the tests pass them by hand.
    browser: reqwest::Client,
    issuer: String,
}

impl Http {
    async fn token(&self, base: &str, form: &[(&str, &str)]) -> (reqwest::StatusCode, Value) {
        let r = self
            .http
            .post(format!("{base}/oauth/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    /// A Management API token for the bootstrap client.
    async fn admin(&self, base: &str) -> String {
        let aud = format!("{}api/v2/", self.issuer);
        let (status, r) = self
            .token(
                base,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", OPS.0),
                    ("client_secret", OPS.1),
                    ("audience", &aud),
                ],
            )
            .await;
        assert!(status.is_success(), "{r}");
        r["access_token"].as_str().unwrap().to_owned()
    }

    async fn mgmt(&self, base: &str, token: &str, path: &str, body: Value) -> Value {
        let req = self.http.post(format!("{base}/api/v2/{path}"));
        mgmt_json(req, token, &body, &format!("POST {path}")).await
    }

    async fn login(&self, base: &str, client: &(String, String)) -> (reqwest::StatusCode, Value) {
        let mut form = password_form(client, EMAIL, PASSWORD, API);
        form.push(("scope", "openid offline_access"));
        self.token(base, &form).await
    }

    async fn jwks_kids(&self, base: &str) -> Vec<String> {
        jwks_kids(&json_of(self.http.get(format!("{base}/.well-known/jwks.json"))).await)
    }

    async fn introspect(&self, base: &str, client: &(String, String), token: &str) -> Value {
        json_of(
            self.http
                .post(format!("{base}/oauth/introspect"))
                .basic_auth(&client.0, Some(&client.1))
                .form(&[("token", token)]),
        )
        .await
    }
}

/// What was made on the first server.
struct Made {
    /// A confidential client allowed the password grant.
    client: (String, String),
    /// A public SPA client (code flow with PKCE).
    spa: String,
    user_id: String,
    access_token: String,
    /// From the SPA's code flow.
    refresh_token: String,
    /// The SSO session cookie of the browser login.
    session: String,
}

async fn make_data(h: &Http, base: &str) -> Made {
    let admin = h.admin(base).await;
    h.mgmt(
        base,
        &admin,
        "resource-servers",
        json!({
            "identifier": API, "name": "Todos",
            "scopes": [{"value": "read:todos", "description": "Read"},
                       {"value": "write:todos", "description": "Write"}],
            "enforce_policies": true, "token_dialect": "access_token_authz",
            "allow_offline_access": true,
        }),
    )
    .await;
    let c = h
        .mgmt(
            base,
            &admin,
            "clients",
            json!({"name": "mover cli", "app_type": "regular_web",
                   "grant_types": ["password", "refresh_token"]}),
        )
        .await;
    let client = (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    );
    let u = h
        .mgmt(
            base,
            &admin,
            "users",
            json!({"email": EMAIL, "password": PASSWORD, "name": "Mover Ünïcødé",
                   "connection": "Username-Password-Authentication",
                   "user_metadata": {"lang": "fr"}, "app_metadata": {"plan": "pro"}}),
        )
        .await;
    let user_id = u["user_id"].as_str().unwrap().to_owned();
    h.mgmt(
        base,
        &admin,
        &format!("users/{user_id}/permissions"),
        json!({"permissions": [{"resource_server_identifier": API, "permission_name": "read:todos"}]}),
    )
    .await;
    let (status, t) = h.login(base, &client).await;
    assert!(status.is_success(), "{t}");
    let access_token = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        jwt_parts(&access_token).1["permissions"],
        json!(["read:todos"])
    );

    // A browser login through the hosted page: an SSO session and a refresh token.
    let spa = h
        .mgmt(base, &admin, "clients", spa_client("mover spa"))
        .await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = h
        .browser
        .get(authorize_url(base, &spa, false))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf_cookie = set_cookie(&page, "writ_csrf").expect("a writ_csrf cookie");
    let html = page.text().await.unwrap();
    let r = post_form(
        format!("{base}/u/login"),
        Some(&csrf_cookie),
        Some(h.issuer.trim_end_matches('/')),
        &login_form(&html, EMAIL, PASSWORD),
    )
    .await;
    assert_eq!(r.status(), 302);
    let session = set_cookie(&r, "writ_session").expect("a writ_session cookie");
    let code = code_of(&r).expect("a code");
    let (status, t) = h.token(base, &code_exchange(&spa, &code, VERIFIER)).await;
    assert!(status.is_success(), "{t}");
    Made {
        client,
        spa,
        user_id,
        access_token,
        refresh_token: t["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_owned(),
        session,
    }
}

fn authorize_url(base: &str, client_id: &str, silent: bool) -> String {
    let mut u = super::authorize_url(base, client_id, API, VERIFIER, "st");
    if silent {
        u.query_pairs_mut().append_pair("prompt", "none");
    }
    u.to_string()
}

/// Checks a server that took over the data: the old token, the password, the refresh token,
/// the bootstrap client.
async fn serves_the_same(h: &Http, base: &str, m: &Made, what: &str) {
    let (header, claims) = jwt_parts(&m.access_token);
    let kid = header["kid"].as_str().unwrap();
    assert!(
        h.jwks_kids(base).await.iter().any(|k| k == kid),
        "{what}: the old token's kid {kid} is in the JWKS"
    );
    let i = h.introspect(base, &m.client, &m.access_token).await;
    assert_eq!(i["active"], true, "{what}: the old token verifies: {i}");
    assert_eq!(i["sub"], m.user_id.as_str(), "{what}");

    let (status, t) = h.login(base, &m.client).await;
    assert!(
        status.is_success(),
        "{what}: the same password logs in: {t}"
    );
    let (new_header, new_claims) = jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(new_header["kid"], kid, "{what}: signed with the same key");
    assert_eq!(new_claims["sub"], claims["sub"], "{what}");
    assert_eq!(new_claims["permissions"], json!(["read:todos"]), "{what}");

    let (status, r) = h
        .token(
            base,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &m.spa),
                ("refresh_token", &m.refresh_token),
            ],
        )
        .await;
    assert!(
        status.is_success(),
        "{what}: the old refresh token works: {r}"
    );
    assert_eq!(
        jwt_parts(r["access_token"].as_str().unwrap()).1["sub"],
        claims["sub"]
    );
    assert!(r["refresh_token"].is_string(), "{what}: rotated");

    // The browser's SSO session goes on: a silent authorization gets a code, no login page.
    let r = h
        .browser
        .get(authorize_url(base, &m.spa, true))
        .header("cookie", &m.session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{what}");
    assert!(
        code_of(&r).is_some(),
        "{what}: {:?}",
        r.headers().get("location")
    );

    let admin = h.admin(base).await;
    let users: Value = json_of(
        h.http
            .get(format!("{base}/api/v2/users-by-email"))
            .query(&[("email", EMAIL)])
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(users[0]["user_id"], m.user_id.as_str(), "{what}: {users}");
    assert_eq!(users[0]["user_metadata"], json!({"lang": "fr"}), "{what}");
    assert_eq!(users[0]["app_metadata"], json!({"plan": "pro"}), "{what}");
}

/// The row lines of a dump, without the audit log (the servers append to it as they run).
fn rows(dump: &str) -> Vec<Value> {
    dump.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("table").is_some() && v["table"] != "audit_log")
        .collect()
}

#[tokio::test]
async fn a_sqlite_deployment_moves_to_postgres_and_its_live_backup_serves_the_same() {
    let pg = PgTestDb::create("writ_dump").await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sqlite = format!("sqlite://{}/live/writ.db", d.display());
    let backup_url = format!("sqlite://{}/backup.db", d.display());
    let issuer = format!("http://127.0.0.1:{}/", free_port());
    let h = Http {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        browser: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        issuer: issuer.clone(),
    };

    let live = Server::start(d, free_port(), &issuer, &env(&sqlite), "sqlite.log");
    let m = make_data(&h, &live.base).await;

    // An online backup of the running server; an existing target is refused.
    let out = ok(cli(d, &["backup", "backup.db", "--database-url", &sqlite]));
    assert!(stderr(&out).contains("backup.db"), "{}", stderr(&out));
    let again = cli(d, &["backup", "backup.db", "--database-url", &sqlite]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    let pg_backup = cli(d, &["backup", "x.db", "--database-url", &pg.url]);
    assert_eq!(pg_backup.status.code(), Some(2));
    assert!(
        stderr(&pg_backup).contains("pg_dump"),
        "{}",
        stderr(&pg_backup)
    );
    live.stop();

    // Export (to a file, and the same to stdout).
    ok(cli(
        d,
        &["export", "--database-url", &sqlite, "-o", "dump.jsonl"],
    ));
    let dump = std::fs::read_to_string(d.join("dump.jsonl")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("dump.jsonl"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the dump holds password hashes");
    }
    let stdout = ok(cli(d, &["export", "--database-url", &sqlite])).stdout;
    assert_eq!(rows(&String::from_utf8(stdout).unwrap()), rows(&dump));
    let exists = cli(
        d,
        &["export", "--database-url", &sqlite, "-o", "dump.jsonl"],
    );
    assert_eq!(exists.status.code(), Some(2), "{}", stderr(&exists));

    // The backup holds the same data.
    let backup_dump = ok(cli(d, &["export", "--database-url", &backup_url])).stdout;
    assert_eq!(rows(&String::from_utf8(backup_dump).unwrap()), rows(&dump));

    // Import into the new PostgreSQL database; a second import is refused.
    let out = ok(cli(d, &["import", "dump.jsonl", "--database-url", &pg.url]));
    let msg = stderr(&out);
    assert!(msg.contains("imported"), "{msg}");
    assert!(msg.contains("WRIT_KEY_ENCRYPTION_KEY"), "{msg}");
    let twice = cli(d, &["import", "dump.jsonl", "--database-url", &pg.url]);
    assert_eq!(twice.status.code(), Some(1));
    let err = stderr(&twice);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("writ:")).count(),
        1,
        "{err}"
    );
    // A truncated dump is refused, with one line.
    let half = &dump[..dump.len() / 2];
    std::fs::write(d.join("half.jsonl"), half).unwrap();
    let empty_sqlite = format!("sqlite://{}/empty/writ.db", d.display());
    let cut = cli(
        d,
        &["import", "half.jsonl", "--database-url", &empty_sqlite],
    );
    assert_eq!(cut.status.code(), Some(1));
    assert!(stderr(&cut).contains("truncated"), "{}", stderr(&cut));

    // PostgreSQL with the same key-encryption key serves everything.
    let moved = Server::start(d, free_port(), &issuer, &env(&pg.url), "postgres.log");
    serves_the_same(&h, &moved.base, &m, "postgres").await;
    moved.stop();
    // And back: PostgreSQL → SQLite, through the same commands.
    ok(cli(
        d,
        &["export", "--database-url", &pg.url, "-o", "back.jsonl"],
    ));
    let back = format!("sqlite://{}/back/writ.db", d.display());
    ok(cli(d, &["import", "back.jsonl", "--database-url", &back]));
    let back_dump = ok(cli(d, &["export", "--database-url", &back])).stdout;
    let pg_dump = std::fs::read_to_string(d.join("back.jsonl")).unwrap();
    let without_pg_only = |v: Vec<Value>| -> Vec<Value> {
        v.into_iter()
            .filter(|r| r["table"] != "authz_log_head")
            .collect()
    };
    assert_eq!(
        without_pg_only(rows(&String::from_utf8(back_dump).unwrap())),
        without_pg_only(rows(&pg_dump))
    );

    // The live backup serves the same too.
    let restored = Server::start(d, free_port(), &issuer, &env(&backup_url), "backup.log");
    serves_the_same(&h, &restored.base, &m, "backup").await;
    restored.stop();
}
