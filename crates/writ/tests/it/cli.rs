//! The management CLI against a real `writ serve` (no mocks): login and its token cache,
//! RBAC administration with tables and `--json`, server errors and exit codes, and the Auth0
//! bulk import — whose users then log in with their imported bcrypt, PBKDF2 and salted
//! SHA-256 hashes, which Writ re-hashes to argon2id.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use writ_store::{Lifecycle, UserStore};

use super::web::{jwt_parts, password_form};
use super::{Proc, json_of, spawn};

const OPS: &str = "ops";
const OPS_SECRET: &str = "ops-secret-0123456789";
const API: &str = "https://todos.test/api";

fn server() -> Proc {
    spawn(
        &["serve"],
        &[
            ("WRIT_BOOTSTRAP_CLIENT_ID", OPS),
            ("WRIT_BOOTSTRAP_CLIENT_SECRET", OPS_SECRET),
            ("WRIT_PASSWORD_HASH_CONCURRENCY", "2"),
        ],
    )
}

/// What one CLI run did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: not JSON: {}", self.stdout))
    }
}

/// Runs `writ ARGS` with its own configuration folder (and nothing else from the environment).
fn writ(cfg: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("WRIT_CONFIG_DIR", cfg)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `writ ARGS`, which must succeed; its JSON output.
fn writ_json(cfg: &Path, args: &[&str]) -> Value {
    writ(cfg, args).ok().json()
}

/// `writ grants create`: `read:todos` of the test API for `client_id`.
fn grant_read_todos(cfg: &Path, client_id: &str) -> Value {
    writ_json(
        cfg,
        &[
            "grants",
            "create",
            "--client-id",
            client_id,
            "--audience",
            API,
            "--scope",
            "read:todos",
            "--json",
        ],
    )
}

/// Asserts a refused command: exit 1, and `needle` in the one line it prints.
fn assert_refused(r: &Run, needle: &str) {
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(error_line(r).contains(needle), "{}", r.stderr);
}

fn login(p: &Proc, cfg: &Path, extra: &[&str]) -> Run {
    login_with_secret(p, cfg, OPS_SECRET, extra)
}

/// `writ login` to `p` as the ops client, with `secret` and the `extra` arguments.
fn login_with_secret(p: &Proc, cfg: &Path, secret: &str, extra: &[&str]) -> Run {
    let url = format!("{}/", p.base);
    let mut args = vec![
        "login",
        "--url",
        &url,
        "--client-id",
        OPS,
        "--client-secret",
        secret,
    ];
    args.extend_from_slice(extra);
    writ(cfg, &args)
}

/// The one line a failed command prints.
fn error_line(r: &Run) -> &str {
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("writ:"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    lines[0]
}

/// A password-grant token's claims (`None` when the grant is refused).
async fn password_login(
    p: &Proc,
    client: &(String, String),
    user: &str,
    password: &str,
) -> Option<Value> {
    let r: Value = json_of(
        reqwest::Client::new()
            .post(format!("{}/oauth/token", p.base))
            .form(&password_form(client, user, password, API)),
    )
    .await;
    Some(jwt_parts(r["access_token"].as_str()?).1)
}

/// Creates the test API (two permissions, RBAC, permissions claim) and a client allowed the
/// password grant, with the CLI.
fn api_and_password_client(cfg: &Path) -> (String, String) {
    let api = writ_json(
        cfg,
        &[
            "apis",
            "create",
            "--identifier",
            API,
            "--name",
            "Todos",
            "--permission",
            "read:todos=Read todos",
            "--permission",
            "write:todos",
            "--rbac",
            "--permissions-claim",
            "--json",
        ],
    );
    assert_eq!(api["identifier"], API);
    assert_eq!(api["scopes"].as_array().unwrap().len(), 2);
    assert_eq!(api["enforce_policies"], true);
    assert_eq!(api["token_dialect"], "access_token_authz");
    let c = writ_json(
        cfg,
        &[
            "clients",
            "create",
            "--name",
            "first-party cli",
            "--app-type",
            "regular_web",
            "--grant-type",
            "password",
            "--json",
        ],
    );
    (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn cli_logs_in_and_manages_rbac() {
    let p = server();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("writ");
    let creds = cfg.join("credentials.json");

    // Not logged in: one clear line, exit 2.
    let r = writ(&cfg, &["apis", "list"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(error_line(&r).contains("not logged in"), "{}", r.stderr);

    // A wrong secret: the server's message, exit 1, nothing saved.
    let url = format!("{}/", p.base);
    let r = login_with_secret(&p, &cfg, "nope", &[]);
    assert_refused(&r, "invalid_client");
    assert!(!creds.exists());

    // Login caches the token (0600, without the secret unless asked).
    let r = login(&p, &cfg, &[]).ok();
    assert!(r.stdout.contains("Logged in to"), "{}", r.stdout);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&creds).unwrap()).unwrap();
    assert_eq!(saved["url"], url);
    assert_eq!(saved["client_id"], OPS);
    assert!(saved["access_token"].as_str().unwrap().len() > 100);
    assert!(saved.get("client_secret").is_none());
    #[cfg(unix)]
    {
        assert_eq!(mode(&creds), 0o600);
        assert_eq!(mode(&cfg), 0o700);
    }

    let client = api_and_password_client(&cfg);

    // A role with one permission of the API, then a second one.
    let role = writ_json(
        &cfg,
        &[
            "roles",
            "create",
            "--name",
            "editor",
            "--description",
            "Edits todos",
            "--json",
        ],
    );
    let role_id = role["id"].as_str().unwrap().to_owned();
    let r = writ(
        &cfg,
        &[
            "roles",
            "permissions",
            "add",
            "editor",
            "--api",
            API,
            "read:todos",
        ],
    )
    .ok();
    assert!(r.stdout.contains("1 permission"), "{}", r.stdout);
    writ(
        &cfg,
        &[
            "roles",
            "permissions",
            "add",
            &role_id,
            "--api",
            API,
            "write:todos",
        ],
    )
    .ok();
    let perms = writ_json(&cfg, &["roles", "permissions", "list", "editor", "--json"]);
    let names: Vec<&str> = perms
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["permission_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["read:todos", "write:todos"]);

    // A user with the role.
    let user = writ_json(
        &cfg,
        &[
            "users",
            "create",
            "--email",
            "alice@example.com",
            "--password",
            "alice-password-1",
            "--name",
            "Alice",
            "--json",
        ],
    );
    let alice = user["user_id"].as_str().unwrap().to_owned();
    writ(
        &cfg,
        &["users", "roles", "add", "alice@example.com", "editor"],
    )
    .ok();
    let roles = writ_json(&cfg, &["users", "roles", "list", &alice, "--json"]);
    assert_eq!(roles[0]["name"], "editor");

    // Tables for people, the server's JSON for scripts.
    let table = writ(&cfg, &["users", "list"]).ok().stdout;
    assert!(
        table.contains("EMAIL") && table.contains("USER ID"),
        "{table}"
    );
    assert!(
        table.contains("alice@example.com") && table.contains(&alice),
        "{table}"
    );
    assert!(table.contains("1–1 of 1"), "{table}");
    let list = writ_json(&cfg, &["users", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["user_id"], alice.as_str());
    let by_email = writ_json(
        &cfg,
        &["users", "list", "--email", "ALICE@example.com", "--json"],
    );
    assert_eq!(by_email[0]["user_id"], alice.as_str());
    let apis = writ(&cfg, &["apis", "list"]).ok().stdout;
    assert!(apis.contains("Todos") && apis.contains(API), "{apis}");
    let shown = writ(&cfg, &["apis", "get", API]).ok().stdout;
    assert!(shown.contains("read:todos (Read todos)"), "{shown}");
    let paged = writ_json(
        &cfg,
        &["roles", "list", "--per-page", "1", "--page", "0", "--json"],
    );
    assert_eq!(paged.as_array().unwrap().len(), 1);

    // Direct permissions, update, and a client grant.
    writ(
        &cfg,
        &[
            "users",
            "permissions",
            "add",
            "alice@example.com",
            "--api",
            API,
            "read:todos",
        ],
    )
    .ok();
    // Listed with the role's permissions, each naming its sources.
    let held = writ_json(&cfg, &["users", "permissions", "list", &alice, "--json"]);
    let direct: Vec<&str> = held
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["sources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["source_type"] == "DIRECT")
        })
        .map(|p| p["permission_name"].as_str().unwrap())
        .collect();
    assert_eq!(direct, ["read:todos"], "{held}");
    writ(
        &cfg,
        &[
            "users",
            "permissions",
            "remove",
            &alice,
            "--api",
            API,
            "read:todos",
        ],
    )
    .ok();
    let updated = writ_json(
        &cfg,
        &[
            "users",
            "update",
            "alice@example.com",
            "--name",
            "Alice L.",
            "--json",
        ],
    );
    assert_eq!(updated["name"], "Alice L.");
    let grant = grant_read_todos(&cfg, OPS);
    assert_eq!(grant["audience"], API);
    let grants = writ_json(&cfg, &["grants", "list", "--audience", API, "--json"]);
    assert_eq!(grants.as_array().unwrap().len(), 1);

    // The RBAC set up with the CLI is in alice's token.
    let claims = password_login(&p, &client, "alice@example.com", "alice-password-1")
        .await
        .expect("alice logs in");
    assert_eq!(claims["permissions"], json!(["read:todos", "write:todos"]));
    writ(&cfg, &["users", "roles", "remove", &alice, &role_id]).ok();
    let claims = password_login(&p, &client, "alice@example.com", "alice-password-1")
        .await
        .unwrap();
    assert_eq!(claims["permissions"], json!([]));

    // Groups: the role on a parent group reaches a member of its child group.
    let eng = writ_json(&cfg, &["groups", "create", "--name", "eng", "--json"]);
    let eng_id = eng["id"].as_str().unwrap().to_owned();
    writ(
        &cfg,
        &["groups", "create", "--name", "backend", "--parent", "eng"],
    )
    .ok();
    let r = writ(&cfg, &["groups", "roles", "add", "eng", "editor"]).ok();
    assert!(r.stdout.contains("1 role"), "{}", r.stdout);
    writ(
        &cfg,
        &["groups", "members", "add", "backend", "alice@example.com"],
    )
    .ok();
    let table = writ(&cfg, &["groups", "list"]).ok().stdout;
    assert!(
        table.contains("PARENT") && table.contains(&eng_id),
        "{table}"
    );
    let members = writ_json(&cfg, &["groups", "members", "list", "backend", "--json"]);
    assert_eq!(members[0]["user_id"], alice.as_str());
    let claims = password_login(&p, &client, "alice@example.com", "alice-password-1")
        .await
        .unwrap();
    assert_eq!(claims["permissions"], json!(["read:todos", "write:todos"]));
    // Moved to the top, backend no longer inherits from eng.
    let moved = writ_json(&cfg, &["groups", "update", "backend", "--top", "--json"]);
    assert!(moved["parent_id"].is_null(), "{moved}");
    let claims = password_login(&p, &client, "alice@example.com", "alice-password-1")
        .await
        .unwrap();
    assert_eq!(claims["permissions"], json!([]));
    let r = writ(&cfg, &["groups", "update", "eng", "--parent", "eng"]);
    assert_eq!(r.code, 1, "a cycle is refused: {}", r.stderr);
    writ(&cfg, &["groups", "members", "remove", "backend", &alice]).ok();
    writ(&cfg, &["groups", "delete", "eng"]).ok();
    writ(&cfg, &["groups", "delete", "backend"]).ok();
    assert_eq!(writ_json(&cfg, &["groups", "list", "--json"]), json!([]));

    // Server errors: the message and errorCode, exit 1.
    let r = writ(&cfg, &["users", "get", "usr_doesnotexist"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let line = error_line(&r);
    assert!(
        line.contains("The user does not exist.") && line.contains("inexistent_resource"),
        "{line}"
    );
    let r = writ(&cfg, &["roles", "create", "--name", "editor"]);
    assert_eq!(r.code, 1);
    assert!(error_line(&r).contains("409"), "{}", r.stderr);
    let r = writ(&cfg, &["roles", "get", "no-such-role"]);
    assert_eq!(r.code, 1);
    assert!(error_line(&r).contains("no role is named"), "{}", r.stderr);
    // Usage errors exit 2.
    let r = writ(&cfg, &["apis", "create", "--json", "[1]"]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    // Secrets rotate; deletes ask nothing.
    let rotated = writ_json(&cfg, &["clients", "rotate-secret", &client.0, "--json"]);
    assert_ne!(rotated["client_secret"].as_str().unwrap(), client.1);
    writ(&cfg, &["users", "delete", &alice]).ok();
    writ(&cfg, &["roles", "delete", "editor"]).ok();
    let r = writ(&cfg, &["users", "get", &alice]);
    assert_eq!(r.code, 1);

    // An expired token: renewed with a saved secret, else a clear error.
    let expire = |cfg: &PathBuf| {
        let mut v: Value =
            serde_json::from_str(&std::fs::read_to_string(cfg.join("credentials.json")).unwrap())
                .unwrap();
        v["expires_at"] = json!(1);
        std::fs::write(cfg.join("credentials.json"), v.to_string()).unwrap();
    };
    expire(&cfg);
    let r = writ(&cfg, &["apis", "list"]);
    assert_eq!(r.code, 2);
    assert!(error_line(&r).contains("expired"), "{}", r.stderr);
    login(&p, &cfg, &["--save-secret"]).ok();
    expire(&cfg);
    writ(&cfg, &["apis", "list"]).ok();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&creds).unwrap()).unwrap();
    assert!(
        saved["expires_at"].as_i64().unwrap() > 1,
        "renewed and saved"
    );
    assert_eq!(saved["client_secret"], OPS_SECRET);

    // Logout forgets it all.
    writ(&cfg, &["logout"]).ok();
    assert!(!creds.exists());
    assert_eq!(writ(&cfg, &["users", "list"]).code, 2);
}

/// A `client_credentials` answer for the test API: the token response, or the error body.
async fn machine_token(p: &Proc, client_id: &str, client_secret: &str) -> Value {
    json_of(
        reqwest::Client::new()
            .post(format!("{}/oauth/token", p.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("audience", API),
            ]),
    )
    .await
}

/// A command on something that no longer exists: exit 1 and the server's 404 in one line.
fn assert_gone(r: &Run, message: &str) {
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let line = error_line(r);
    assert!(
        line.contains(message) && line.contains("inexistent_resource") && line.contains("404"),
        "{line}"
    );
}

#[tokio::test]
async fn cli_updates_and_deletes_what_it_created() {
    let p = server();
    let cfg = p.dir.path().join("cli-config");
    login(&p, &cfg, &[]).ok();
    let (web_id, _) = api_and_password_client(&cfg);

    // A machine client, then the client list: the server's JSON (no secrets) and a table.
    let robot = writ_json(
        &cfg,
        &[
            "clients",
            "create",
            "--name",
            "robot",
            "--app-type",
            "non_interactive",
            "--json",
        ],
    );
    let robot_id = robot["client_id"].as_str().unwrap().to_owned();
    let robot_secret = robot["client_secret"].as_str().unwrap().to_owned();
    let clients = writ_json(&cfg, &["clients", "list", "--json"]);
    let clients = clients.as_array().unwrap();
    for id in [OPS, web_id.as_str(), robot_id.as_str()] {
        assert!(
            clients.iter().any(|c| c["client_id"] == id),
            "{id} in {clients:?}"
        );
    }
    assert!(clients.iter().all(|c| c.get("client_secret").is_none()));
    let n = clients.len();
    let table = writ(&cfg, &["clients", "list"]).ok().stdout;
    for text in [
        "CLIENT ID",
        "NAME",
        "TYPE",
        "GRANT TYPES",
        "robot",
        "first-party cli",
    ] {
        assert!(table.contains(text), "{text} in {table}");
    }
    let robot_row = table.lines().find(|l| l.contains(&robot_id)).unwrap();
    assert!(
        robot_row.contains("non_interactive") && robot_row.contains("client_credentials"),
        "{robot_row}"
    );
    assert!(table.contains(&format!("1–{n} of {n}")), "{table}");
    let paged = writ_json(
        &cfg,
        &[
            "clients",
            "list",
            "--per-page",
            "1",
            "--page",
            "1",
            "--json",
        ],
    );
    assert_eq!(paged.as_array().unwrap().len(), 1);
    assert_eq!(paged[0]["client_id"], clients[1]["client_id"]);

    // clients get: the same client as listed, as JSON or as a property table.
    let got = writ_json(&cfg, &["clients", "get", &robot_id, "--json"]);
    assert_eq!(got["name"], "robot");
    assert_eq!(got["app_type"], "non_interactive");
    assert_eq!(got["grant_types"], json!(["client_credentials"]));
    assert!(got.get("client_secret").is_none(), "{got}");
    let shown = writ(&cfg, &["clients", "get", &robot_id]).ok().stdout;
    assert!(
        shown.contains("client_id") && shown.contains(&robot_id) && shown.contains("robot"),
        "{shown}"
    );

    // clients update: only the given properties; a repeated flag replaces the list; a --json
    // body with the flags on top.
    let updated = writ_json(
        &cfg,
        &[
            "clients",
            "update",
            &robot_id,
            "--name",
            "robot v2",
            "--description",
            "Nightly jobs",
            "--json",
        ],
    );
    assert_eq!(updated["name"], "robot v2");
    assert_eq!(updated["description"], "Nightly jobs");
    assert_eq!(updated["app_type"], "non_interactive", "unchanged");
    assert!(updated.get("client_secret").is_none(), "{updated}");
    let web = writ_json(
        &cfg,
        &[
            "clients",
            "update",
            &web_id,
            "--callback",
            "https://app.test/a",
            "--callback",
            "https://app.test/b",
            "--logout-url",
            "https://app.test/bye",
            "--json",
            r#"{"is_first_party": false, "name": "overridden"}"#,
            "--name",
            "web app",
        ],
    );
    assert_eq!(
        web["callbacks"],
        json!(["https://app.test/a", "https://app.test/b"])
    );
    let r = writ(
        &cfg,
        &[
            "clients",
            "update",
            &web_id,
            "--callback",
            "https://app.test/c",
        ],
    )
    .ok();
    assert!(r.stdout.contains("https://app.test/c"), "{}", r.stdout);
    let web = writ_json(&cfg, &["clients", "get", &web_id, "--json"]);
    assert_eq!(web["name"], "web app", "the flags win over the body");
    assert_eq!(web["is_first_party"], false);
    assert_eq!(web["callbacks"], json!(["https://app.test/c"]));
    assert_eq!(web["allowed_logout_urls"], json!(["https://app.test/bye"]));
    assert_eq!(web["grant_types"], json!(["password"]), "unchanged");
    let robot = writ_json(&cfg, &["clients", "get", &robot_id, "--json"]);
    assert_eq!(robot["name"], "robot v2");
    assert_eq!(robot["description"], "Nightly jobs");
    let r = writ(
        &cfg,
        &["clients", "update", &robot_id, "--callback", "not a url"],
    );
    assert_refused(&r, "invalid_body");

    // grants update replaces the scopes, which the robot's next token carries.
    let grant = grant_read_todos(&cfg, &robot_id);
    let grant_id = grant["id"].as_str().unwrap().to_owned();
    let t = machine_token(&p, &robot_id, &robot_secret).await;
    assert_eq!(t["scope"], "read:todos", "{t}");
    let update_grant =
        |args: &[&str]| writ_json(&cfg, &[&["grants", "update", &grant_id][..], args].concat());
    let robot_grants = || {
        writ_json(
            &cfg,
            &["grants", "list", "--client-id", &robot_id, "--json"],
        )
    };
    let g = update_grant(&["--scope", "read:todos", "--scope", "write:todos", "--json"]);
    assert_eq!(
        g,
        json!({
            "id": grant_id, "client_id": robot_id, "audience": API,
            "scope": ["read:todos", "write:todos"],
        })
    );
    assert_eq!(robot_grants(), json!([g]));
    let t = machine_token(&p, &robot_id, &robot_secret).await;
    assert_eq!(t["scope"], "read:todos write:todos", "{t}");
    // A body's scope is kept when no --scope is given; no scope at all empties the list.
    let g = update_grant(&["--json", r#"{"scope": ["write:todos"]}"#]);
    assert_eq!(g["scope"], json!(["write:todos"]));
    let r = writ(
        &cfg,
        &["grants", "update", &grant_id, "--scope", "nope:todos"],
    );
    assert_refused(&r, r#"Scope "nope:todos" is not defined by the API"#);
    writ(&cfg, &["grants", "update", &grant_id]).ok();
    assert_eq!(robot_grants()[0]["scope"], json!([]));
    let table = writ(&cfg, &["grants", "list", "--audience", API])
        .ok()
        .stdout;
    assert!(
        table.contains(&grant_id) && table.contains(&robot_id) && table.contains("1–1 of 1"),
        "{table}"
    );

    // grants delete: gone from the list, the robot is refused, and a second time is a 404.
    let r = writ(&cfg, &["grants", "delete", &grant_id]).ok();
    assert!(r.stdout.contains(&grant_id), "{}", r.stdout);
    let listed = writ_json(
        &cfg,
        &["grants", "list", "--client-id", &robot_id, "--json"],
    );
    assert_eq!(listed, json!([]));
    let t = machine_token(&p, &robot_id, &robot_secret).await;
    assert_eq!(t["error"], "access_denied", "{t}");
    assert_gone(
        &writ(&cfg, &["grants", "delete", &grant_id]),
        "The client grant does not exist.",
    );
    assert_gone(
        &writ(
            &cfg,
            &["grants", "update", &grant_id, "--scope", "read:todos"],
        ),
        "The client grant does not exist.",
    );

    // roles update: by name, then by id; only the given properties change.
    let role = writ_json(
        &cfg,
        &[
            "roles",
            "create",
            "--name",
            "viewer",
            "--description",
            "Views",
            "--json",
        ],
    );
    let role_id = role["id"].as_str().unwrap().to_owned();
    writ(
        &cfg,
        &[
            "roles",
            "permissions",
            "add",
            "viewer",
            "--api",
            API,
            "read:todos",
            "write:todos",
        ],
    )
    .ok();
    let renamed = writ_json(
        &cfg,
        &[
            "roles",
            "update",
            "viewer",
            "--name",
            "reader",
            "--description",
            "Reads todos",
            "--json",
        ],
    );
    assert_eq!(
        renamed,
        json!({"id": role_id, "name": "reader", "description": "Reads todos"})
    );
    let r = writ(&cfg, &["roles", "get", "viewer"]);
    assert_eq!(r.code, 1);
    assert!(error_line(&r).contains("no role is named"), "{}", r.stderr);
    let r = writ(
        &cfg,
        &[
            "roles",
            "update",
            &role_id,
            "--description",
            "Reads todos only",
        ],
    )
    .ok();
    assert!(r.stdout.contains("Reads todos only"), "{}", r.stdout);
    let got = writ_json(&cfg, &["roles", "get", "reader", "--json"]);
    assert_eq!(
        got,
        json!({"id": role_id, "name": "reader", "description": "Reads todos only"})
    );

    // apis update: only the given properties; --permission replaces the catalog, and a
    // removed permission leaves the roles that held it.
    let api = writ_json(
        &cfg,
        &[
            "apis",
            "update",
            API,
            "--name",
            "Todos v2",
            "--permission",
            "read:todos=Read them",
            "--permission",
            "archive:todos",
            "--token-lifetime",
            "600",
            "--permissions-claim",
            "false",
            "--json",
        ],
    );
    assert_eq!(api["name"], "Todos v2");
    assert_eq!(
        api["scopes"],
        json!([
            {"value": "read:todos", "description": "Read them"},
            {"value": "archive:todos", "description": ""},
        ])
    );
    assert_eq!(api["token_lifetime"], 600);
    assert_eq!(api["token_dialect"], "access_token");
    assert_eq!(api["enforce_policies"], true, "unchanged");
    let got = writ_json(&cfg, &["apis", "get", API, "--json"]);
    assert_eq!(got, api);
    let perms = writ_json(&cfg, &["roles", "permissions", "list", "reader", "--json"]);
    assert_eq!(
        perms
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["permission_name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["read:todos"]
    );
    let r = writ(
        &cfg,
        &[
            "apis",
            "update",
            API,
            "--identifier",
            "https://other.test/api",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        error_line(&r).contains("identifier cannot be changed"),
        "{}",
        r.stderr
    );
    let system = format!("{}/api/v2/", p.base);
    let r = writ(&cfg, &["apis", "update", &system, "--name", "Mine"]);
    assert_eq!(r.code, 1);
    assert!(
        error_line(&r).contains("The system API cannot be modified."),
        "{}",
        r.stderr
    );

    // apis delete (by id): gone from the list, and every later use is a 404.
    let api_id = api["id"].as_str().unwrap().to_owned();
    let r = writ(&cfg, &["apis", "delete", &api_id]).ok();
    assert!(r.stdout.contains(&api_id), "{}", r.stdout);
    let apis = writ_json(&cfg, &["apis", "list", "--json"]);
    assert!(
        apis.as_array()
            .unwrap()
            .iter()
            .all(|a| a["identifier"] != API),
        "{apis}"
    );
    let api_gone = "The resource server does not exist.";
    assert_gone(&writ(&cfg, &["apis", "get", API]), api_gone);
    assert_gone(
        &writ(&cfg, &["apis", "update", API, "--name", "x"]),
        api_gone,
    );
    assert_gone(&writ(&cfg, &["apis", "delete", API]), api_gone);
    assert_gone(&writ(&cfg, &["apis", "delete", &api_id]), api_gone);

    // clients delete: gone from the list, its secret no longer works, later uses are 404s.
    let r = writ(&cfg, &["clients", "delete", &robot_id]).ok();
    assert!(r.stdout.contains(&robot_id), "{}", r.stdout);
    let clients = writ_json(&cfg, &["clients", "list", "--json"]);
    assert_eq!(clients.as_array().unwrap().len(), n - 1);
    assert!(
        clients
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["client_id"] != robot_id.as_str())
    );
    let t = machine_token(&p, &robot_id, &robot_secret).await;
    assert_eq!(t["error"], "invalid_client", "{t}");
    let client_gone = "The client does not exist.";
    assert_gone(&writ(&cfg, &["clients", "get", &robot_id]), client_gone);
    assert_gone(
        &writ(&cfg, &["clients", "update", &robot_id, "--name", "x"]),
        client_gone,
    );
    assert_gone(&writ(&cfg, &["clients", "delete", &robot_id]), client_gone);

    // A deleted role cannot be updated (by id: the server's answer).
    writ(&cfg, &["roles", "delete", &role_id]).ok();
    assert_gone(
        &writ(&cfg, &["roles", "update", &role_id, "--name", "again"]),
        "The role does not exist.",
    );
}

/// An Auth0 export written by hand: bcrypt, PBKDF2 and salted SHA-256 hashes, a user without
/// password, an invalid entry, a repeated email and an algorithm Writ cannot verify.
fn auth0_export() -> Value {
    use base64::Engine;
    use sha2::Digest;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD_NO_PAD.encode(b);
    let bcrypt_hash = bcrypt::hash("bcrypt-password-1", 4).unwrap();
    let salt = b"pbkdf2-salt-0001";
    let mut dk = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"pbkdf2-password-1", salt, 1000, &mut dk);
    let pbkdf2_hash = format!("$pbkdf2-sha256$i=1000,l=32${}${}", b64(salt), b64(&dk));
    let digest = sha2::Sha256::digest(b"s4lt!sha256-password-1");
    let sha_hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    json!([
        {
            "email": "bcrypt@example.com", "email_verified": true, "name": "B. Crypt",
            "user_id": "abc123", "nickname": "bc", "picture": "https://example.com/p.png",
            "app_metadata": {"plan": "pro"}, "user_metadata": {"lang": "fr"},
            "password_hash": bcrypt_hash,
        },
        {
            "email": "pbkdf2@example.com", "given_name": "Pat", "family_name": "Bkdf",
            "custom_password_hash": {"algorithm": "pbkdf2", "hash": {"value": pbkdf2_hash, "encoding": "utf8"}},
        },
        {
            "email": "sha256@example.com", "blocked": false,
            "custom_password_hash": {
                "algorithm": "sha256",
                "hash": {"value": sha_hex, "encoding": "hex"},
                "salt": {"value": "s4lt!", "position": "prefix"},
            },
        },
        { "email": "nopassword@example.com", "email_verified": false },
        { "email": "not-an-email", "name": "Broken" },
        { "email": "BCrypt@Example.com", "name": "Twice" },
        {
            "email": "scrypt@example.com",
            "custom_password_hash": {"algorithm": "scrypt", "hash": {"value": "abc", "encoding": "base64"}},
        },
    ])
}

#[tokio::test]
async fn bulk_import_is_idempotent_and_imported_hashes_log_in() {
    let p = server();
    let cfg = p.dir.path().join("cli-config");
    login(&p, &cfg, &[]).ok();
    let client = api_and_password_client(&cfg);
    let file = p.dir.path().join("auth0-users.json");
    std::fs::write(&file, auth0_export().to_string()).unwrap();
    let file = file.to_str().unwrap();

    // First import: 4 created, the repeated email skipped, 2 failed (exit 1).
    let r = writ(&cfg, &["users", "import", file]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("7 users, 4 created, 0 updated, 1 skipped, 2 failed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("DUPLICATED_IN_FILE"), "{}", r.stdout);
    assert!(
        r.stdout.contains("user 4 not-an-email:") && r.stdout.contains("INVALID_FORMAT"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("user 6 scrypt@example.com: unsupported algorithm: scrypt"),
        "{}",
        r.stdout
    );
    assert!(error_line(&r).contains("2 of 7 users could not be imported"));

    let before = writ_json(&cfg, &["users", "list", "--json"]);
    assert_eq!(before.as_array().unwrap().len(), 4);
    let bc = writ_json(&cfg, &["users", "get", "bcrypt@example.com", "--json"]);
    assert_eq!(bc["name"], "B. Crypt");
    assert_eq!(bc["email_verified"], true);
    assert_eq!(bc["app_metadata"], json!({"plan": "pro"}));
    assert_eq!(bc["user_metadata"], json!({"lang": "fr"}));
    let pb = writ_json(&cfg, &["users", "get", "pbkdf2@example.com", "--json"]);
    assert_eq!(pb["name"], "Pat Bkdf");

    // Importing again changes nothing: existing users are skipped...
    let again = writ(&cfg, &["users", "import", file, "--json"]);
    assert_eq!(again.code, 1);
    let s = again.json();
    assert_eq!(
        (&s["created"], &s["updated"], &s["skipped"], &s["failed"]),
        (&json!(0), &json!(0), &json!(5), &json!(2))
    );
    assert_eq!(
        s["skipped_reasons"],
        json!({"DUPLICATED_USER": 4, "DUPLICATED_IN_FILE": 1})
    );
    assert_eq!(s["failures"][0]["index"], 4);
    assert_eq!(s["failures"][1]["code"], "UNSUPPORTED_ALGORITHM");
    // ...and with upsert, found identical.
    let upsert = writ(&cfg, &["users", "import", file, "--upsert", "--json"]).json();
    assert_eq!(upsert["updated"], 0);
    assert_eq!(
        upsert["skipped_reasons"],
        json!({"UNCHANGED": 4, "DUPLICATED_IN_FILE": 1})
    );
    let after = writ_json(&cfg, &["users", "list", "--json"]);
    assert_eq!(before, after, "nothing changed, not even updated_at");

    // The job endpoints answer Auth0's shapes.
    let job_id = upsert["jobs"][0].as_str().unwrap();
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(cfg.join("credentials.json")).unwrap())
            .unwrap();
    let token = saved["access_token"].as_str().unwrap();
    let http = reqwest::Client::new();
    let job: Value = json_of(
        http.get(format!("{}/api/v2/jobs/{job_id}", p.base))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(job["type"], "users_import");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["upsert"], true);
    assert_eq!(
        job["summary"],
        json!({"total": 6, "inserted": 0, "updated": 0, "skipped": 4, "failed": 2}),
        "the CLI keeps the repeated email out of the job"
    );
    let errors: Value = json_of(
        http.get(format!("{}/api/v2/jobs/{job_id}/errors", p.base))
            .bearer_auth(token),
    )
    .await;
    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len(), 6, "4 unchanged, 2 failed");
    for e in errors {
        assert!(e["user"].get("custom_password_hash").is_none(), "{e}");
        assert!(e["user"].get("password_hash").is_none(), "{e}");
        assert!(e["errors"][0]["code"].is_string(), "{e}");
    }

    // The imported hashes verify...
    let store = writ_store::SqliteStore::open(&format!(
        "sqlite://{}",
        p.dir.path().join("writ-data/writ.db").display()
    ))
    .await
    .unwrap();
    let stored = |email: &'static str| {
        let store = &store;
        async move {
            store
                .credentials_by_email(email)
                .await
                .unwrap()
                .unwrap()
                .password_hash
        }
    };
    // Stored wrapped in argon2id; the descriptor keeps the legacy algorithm and parameters.
    for (email, legacy) in [
        ("bcrypt@example.com", "$2b$04$"),
        ("pbkdf2@example.com", "$pbkdf2-sha256$i=1000,l=32$"),
        ("sha256@example.com", "$writ-sha256$pos=prefix$"),
    ] {
        let s = stored(email).await.unwrap();
        let (descriptor, phc) = writ_service::crypto::imported::wrapped_parts(&s)
            .unwrap_or_else(|| panic!("{email}: not wrapped: {s}"));
        assert!(descriptor.starts_with(legacy), "{email}: {descriptor}");
        assert!(phc.starts_with("$argon2id$"), "{email}: {phc}");
    }
    assert_eq!(stored("nopassword@example.com").await, None);
    for (email, pw) in [
        ("bcrypt@example.com", "bcrypt-password-1"),
        ("pbkdf2@example.com", "pbkdf2-password-1"),
        ("sha256@example.com", "sha256-password-1"),
    ] {
        assert!(
            password_login(&p, &client, email, "wrong-password-1")
                .await
                .is_none(),
            "{email}: a wrong password is refused"
        );
        let claims = password_login(&p, &client, email, pw)
            .await
            .unwrap_or_else(|| panic!("{email} logs in with the imported hash"));
        assert_eq!(claims["aud"], API);
        // ...and were re-hashed to argon2id by that login.
        let h = stored(email).await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{email}: {h}");
        assert!(
            password_login(&p, &client, email, pw).await.is_some(),
            "{email} logs in with the argon2id hash"
        );
    }
    assert!(
        password_login(&p, &client, "nopassword@example.com", "anything-1")
            .await
            .is_none()
    );

    // Re-importing with upsert never replaces a hash that was used to log in.
    let r = writ(&cfg, &["users", "import", file, "--upsert", "--json"]).json();
    assert_eq!(r["updated"], 0);
    assert!(
        stored("bcrypt@example.com")
            .await
            .unwrap()
            .starts_with("$argon2id$")
    );
    store.close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_reader_that_goes_away_ends_the_cli_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let p = server();
    let cfg = p.dir.path().join("cli-config");
    login(&p, &cfg, &[]).ok();
    // `writ clients list --json | (exit)`: the reader is gone before anything is printed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(["clients", "list", "--json"])
        .env_clear()
        .env("WRIT_CONFIG_DIR", &cfg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}

#[tokio::test]
async fn cli_manages_actions() {
    let p = server();
    let cfg = p.dir.path().join("cli-config");
    login(&p, &cfg, &[]).ok();
    let client = api_and_password_client(&cfg);
    writ(
        &cfg,
        &[
            "users",
            "create",
            "--email",
            "erin@example.com",
            "--password",
            "erin-password-1",
        ],
    )
    .ok();

    // A JavaScript action from a file, with a secret.
    let code = p.dir.path().join("hook.js");
    std::fs::write(
        &code,
        r#"exports.onExecutePostLogin = async (event, api) => {
            api.accessToken.setCustomClaim("https://cli.example/tier", event.secrets.TIER);
        };"#,
    )
    .unwrap();
    let a = writ_json(
        &cfg,
        &[
            "actions",
            "create",
            "--name",
            "tier",
            "--code-file",
            code.to_str().unwrap(),
            "--secret",
            "TIER=gold",
            "--json",
        ],
    );
    let id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(a["supported_triggers"][0]["id"], "post-login");
    assert_eq!(a["secrets"], json!([{"name": "TIER"}]));
    assert_eq!(a["all_changes_deployed"], false);
    // Not deployed nor bound: no claim yet.
    let claims = password_login(&p, &client, "erin@example.com", "erin-password-1")
        .await
        .unwrap();
    assert!(claims.get("https://cli.example/tier").is_none());

    // Deployed and bound by name.
    let out = writ(&cfg, &["actions", "deploy", "tier"]).ok().stdout;
    assert!(
        out.contains("Deployed the action tier (version 1)"),
        "{out}"
    );
    let out = writ(&cfg, &["actions", "bind", "post-login", "tier"])
        .ok()
        .stdout;
    assert!(out.contains("runs 1 action"), "{out}");
    let claims = password_login(&p, &client, "erin@example.com", "erin-password-1")
        .await
        .unwrap();
    assert_eq!(claims["https://cli.example/tier"], "gold");

    // Listed as a table and as JSON; read by id and by name; renamed.
    let table = writ(&cfg, &["actions", "list"]).ok().stdout;
    assert!(
        table.contains("RUNTIME") && table.contains(&id) && table.contains("post-login"),
        "{table}"
    );
    assert!(!table.contains("gold"), "{table}");
    let listed = writ_json(&cfg, &["actions", "list", "--json"]);
    assert_eq!(listed["actions"][0]["id"], json!(id));
    assert_eq!(
        writ_json(&cfg, &["actions", "get", "tier", "--json"])["id"],
        json!(id)
    );
    let renamed = writ_json(
        &cfg,
        &["actions", "update", &id, "--name", "tier-2", "--json"],
    );
    assert_eq!(renamed["name"], "tier-2");

    // A webhook action is checked by the server: no signing secret, refused.
    let create_hook = [
        "actions",
        "create",
        "--name",
        "hook",
        "--runtime",
        "webhook",
        "--url",
        "https://hooks.example/claims",
    ];
    let r = writ(&cfg, &create_hook);
    assert_refused(&r, "SIGNING_SECRET");
    let secret = [
        "--secret",
        "SIGNING_SECRET=cli-signing-secret-0123456789abcdef",
        "--json",
    ];
    let hook = writ_json(&cfg, &[&create_hook[..], &secret].concat());
    assert_eq!(hook["runtime"], "webhook");
    assert_eq!(hook["url"], "https://hooks.example/claims");

    // Unbound (no actions), then deleted: gone.
    writ(&cfg, &["actions", "bind", "post-login"]).ok();
    let claims = password_login(&p, &client, "erin@example.com", "erin-password-1")
        .await
        .unwrap();
    assert!(claims.get("https://cli.example/tier").is_none());
    let out = writ(&cfg, &["actions", "delete", "tier-2"]).ok().stdout;
    assert!(out.contains("Deleted the action tier-2"), "{out}");
    assert_gone(&writ(&cfg, &["actions", "get", &id]), "");
    let r = writ(&cfg, &["actions", "get", "tier-2"]);
    assert_eq!(r.code, 1);
    assert!(
        error_line(&r).contains("no action is named"),
        "{}",
        r.stderr
    );
}
