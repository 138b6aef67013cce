//! Interop with real third-party clients: PyJWT's `PyJWKClient` fetches Writ's JWKS over HTTP
//! and verifies tokens signed with RS256, ES256 and EdDSA, as a Django API would; Auth0's own
//! Python SDK drives the Management API.
//!
//! Needs Python with `tests/interop/requirements.txt`: the README's test command installs it
//! into `.venv`; `WRIT_PYTHON` overrides the interpreter.

use std::path::PathBuf;

use serde_json::json;

use crate::helpers::*;

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub(crate) fn python() -> PathBuf {
    if let Ok(p) = std::env::var("WRIT_PYTHON") {
        return p.into();
    }
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// Runs `tests/interop/SCRIPT` and returns its stdout; panics with its stderr on failure.
async fn run_python(script: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(python())
        .arg(repo_root().join("tests/interop").join(script))
        .args(args)
        .output()
        .await
        .expect("python3 must be installed (see README: the test command installs the interop packages)");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n(install with: python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt)",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn auth0_python_sdk_drives_the_management_api() {
    let app = TestApp::spawn().await;
    let out = run_python("auth0_python.py", &[&app.issuer, ADMIN_ID, ADMIN_SECRET]).await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test]
async fn pyjwt_verifies_tokens_for_every_algorithm() {
    let app = TestApp::spawn().await;
    let client = app.password_client().await;
    let user = app.create_user("py@example.com", "py-password-1").await;
    for alg in ["RS256", "ES256", "EdDSA"] {
        let api = format!("https://{}.example/api", alg.to_lowercase());
        app.create_api(&api, alg, &["read:todos", "write:todos"], true)
            .await;
        let role = app
            .create_role(&format!("r-{alg}"), &api, &["read:todos", "write:todos"])
            .await;
        app.assign_roles(&user, &[&role]).await;
        let token = app
            .password_token(&client, "py@example.com", "py-password-1", &api, None)
            .await
            .assert(200)
            .field("access_token");
        let (mid, msecret) = app.machine(&api, &["read:todos"]).await;
        let machine = app.cc_token(&mid, &msecret, &api, None).await;
        for (tok, perms) in [
            (&token, json!(["read:todos", "write:todos"])),
            (&machine, json!(["read:todos"])),
        ] {
            let jwks = format!("{}.well-known/jwks.json", app.issuer);
            let perms = perms.to_string();
            let args = [jwks.as_str(), &app.issuer, &api, alg, tok, &perms];
            let out = run_python("pyjwt_verify.py", &args).await;
            assert!(out.starts_with(&format!("ok {alg}")), "{out}");
        }
    }
}
