//! Brute force and lockouts that hold behind a reverse proxy: the client's address from
//! trusted proxies only (`WRIT_TRUSTED_PROXIES`), cookie names and flags, client-authentication
//! limits per (client, IP), password guesses reserved before they are verified, a neutral and
//! rate-limited sign-up, imported hashes wrapped so every check costs one argon2id
//! verification, and the scope an upserting import needs.
//!
//! The test server listens on 127.0.0.1; a trusted proxy is simulated by connecting from
//! 127.0.0.1 (`127.0.0.1/32` trusted) with forwarding headers, an untrusted peer by connecting
//! from 127.0.0.2 (the whole of 127.0.0.0/8 is loopback on Linux).

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::helpers::*;

const TODOS: &str = "https://todos.example/api";
const CB: &str = "http://127.0.0.1:5173/callback";
const VERIFIER: &str = "proxy-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

/// A server trusting 127.0.0.1 as its proxy.
async fn behind_proxy() -> TestApp {
    TestApp::spawn_with_vars(&[("WRIT_TRUSTED_PROXIES", "127.0.0.1/32")]).await
}

/// A client without redirects or cookies, connecting from `local` (127.0.0.1 is the trusted
/// proxy, any other loopback address an untrusted peer).
fn http_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(local.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Form post to `/oauth/token` with extra headers.
async fn token_with(
    app: &TestApp,
    http: &reqwest::Client,
    headers: &[(&str, &str)],
    form: &[(&str, &str)],
) -> Resp {
    let mut r = http.post(format!("{}/oauth/token", app.base)).form(form);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    to_resp(r.send().await.unwrap()).await
}

/// The audit entries `q` matches, newest first (entries are appended before the response).
async fn entries(app: &TestApp, q: &str) -> Vec<Value> {
    let enc: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    app.api_get(&format!("/logs?q={enc}&per_page=100"))
        .await
        .as_array()
        .unwrap()
        .clone()
}

/// Gives `app` the API and a password client (returned), then for each case sends a password
/// grant that fails through `http` with `headers`, and asserts the address its audit entry
/// (type `fu`) names.
async fn assert_failed_login_ips(
    app: &TestApp,
    cases: &[(&reqwest::Client, &Pairs<'_>, &str)],
) -> (String, String) {
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let client = app.password_client().await;
    let form = password_form(&client, "nobody@example.com", "wrong-password");
    for (http, headers, ip) in cases {
        token_with(app, http, headers, &form).await.assert(400);
        assert_eq!(entries(app, "type:fu").await[0]["ip"], *ip, "{headers:?}");
    }
    client
}

fn password_form<'a>(
    client: &'a (String, String),
    user: &'a str,
    pw: &'a str,
) -> Vec<(&'static str, &'a str)> {
    crate::helpers::password_form(client, user, pw, TODOS)
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The `name=value` pair of the Set-Cookie named `name`.
fn cookie_pair(cookies: &[String], name: &str) -> Option<String> {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// A SPA client for the hosted login, and its `/authorize` URL.
async fn spa(app: &TestApp) -> String {
    let (id, _) = app
        .create_client(json!({"name": "Proxy SPA", "app_type": "spa", "callbacks": [CB]}))
        .await;
    let challenge = challenge(VERIFIER);
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", id.as_str()),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("state", "st"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    format!("{}/authorize?{q}", app.base)
}

// ---------------------------------------------------------------------------------------------
// 1. The client's address

/// Behind a proxy that sets RFC 7239 `Forwarded` (`WRIT_TRUSTED_PROXY_HEADER=forwarded`), that
/// header names the client and `X-Forwarded-For` (which the client could send) is not read.
#[tokio::test]
async fn a_forwarded_proxy_is_read_by_its_own_header_only() {
    let app = TestApp::spawn_with_vars(&[
        ("WRIT_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("WRIT_TRUSTED_PROXY_HEADER", "forwarded"),
    ])
    .await;
    let proxy = http_from("127.0.0.1");
    assert_failed_login_ips(
        &app,
        &[
            (
                &proxy,
                &[
                    ("forwarded", "for=\"[2001:db8::7]:4711\";proto=https"),
                    ("x-forwarded-for", "198.51.100.1"),
                ],
                "2001:db8::7",
            ),
            (&proxy, &[("x-forwarded-for", "198.51.100.1")], "127.0.0.1"),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_client_address_comes_from_trusted_proxies_only() {
    let app = behind_proxy().await;
    let proxy = http_from("127.0.0.1");
    let stranger = http_from("127.0.0.2");
    let client = assert_failed_login_ips(
        &app,
        &[
            // Through the proxy: the address it forwarded in X-Forwarded-For (the header the
            // proxy is configured to set, by default).
            (
                &proxy,
                &[("x-forwarded-for", "1.1.1.1, 203.0.113.7")],
                "203.0.113.7",
            ),
            // A Forwarded header the client sent through that proxy picks nothing.
            (
                &proxy,
                &[
                    ("forwarded", "for=\"[2001:db8::7]:4711\";proto=https"),
                    ("x-forwarded-for", "198.51.100.1"),
                ],
                "198.51.100.1",
            ),
            // Unreadable headers are ignored: the proxy itself.
            (&proxy, &[("x-forwarded-for", "unknown")], "127.0.0.1"),
            // From an untrusted peer the headers change nothing.
            (
                &stranger,
                &[
                    ("x-forwarded-for", "203.0.113.7"),
                    ("forwarded", "for=203.0.113.7"),
                ],
                "127.0.0.2",
            ),
        ],
    )
    .await;

    // Management API writes record the forwarded address too.
    let token = app.admin_token().await;
    let r = proxy
        .post(format!("{}/api/v2/roles", app.base))
        .bearer_auth(&token)
        .header("x-forwarded-for", "198.51.100.23")
        .json(&json!({"name": "proxied"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(entries(&app, "type:sapi").await[0]["ip"], "198.51.100.23");

    // The brute-force rule counts per forwarded address: one client behind the proxy blocked,
    // another behind the same proxy not.
    app.create_user("alice@example.com", "alice-password-1")
        .await;
    let a = [("x-forwarded-for", "203.0.113.10")];
    let b = [("x-forwarded-for", "203.0.113.11")];
    for _ in 0..10 {
        token_with(
            &app,
            &proxy,
            &a,
            &password_form(&client, "alice@example.com", "nope-nope"),
        )
        .await
        .assert(400);
    }
    let ok = password_form(&client, "alice@example.com", "alice-password-1");
    let r = token_with(&app, &proxy, &a, &ok).await.assert(429);
    assert!(r.header("retry-after").is_some());
    token_with(&app, &proxy, &b, &ok).await.assert(200);
    // A stranger claiming B's address is keyed by its own.
    token_with(&app, &stranger, &a, &ok).await.assert(200);

    // Without WRIT_TRUSTED_PROXIES nothing is believed.
    let plain = TestApp::spawn().await;
    assert_failed_login_ips(
        &plain,
        &[(&proxy, &[("x-forwarded-for", "203.0.113.7")], "127.0.0.1")],
    )
    .await;
}

#[tokio::test]
async fn a_bad_trusted_proxies_setting_is_a_config_error() {
    let e = writ_server::Config::load(None, |k| {
        (k == "WRIT_TRUSTED_PROXIES").then(|| "10.0.0.0/8, 10.0.0.0/40".to_string())
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "configuration error: WRIT_TRUSTED_PROXIES: '10.0.0.0/40' is not a CIDR range like 10.0.0.0/8 or ::1/128"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Cookies

/// Every Set-Cookie of the login page, the login itself and the console's sign-in start.
async fn cookies_of_a_login(
    app: &TestApp,
    http: &reqwest::Client,
    headers: &[(&str, &str)],
) -> Vec<String> {
    app.create_user("carol@example.com", "carol-password-1")
        .await;
    let mut req = http.get(spa(app).await);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let page = req.send().await.unwrap();
    assert_eq!(page.status(), 200);
    let mut all = set_cookies(&page);
    let csrf_name = if app.issuer.starts_with("https://") {
        "__Host-writ_csrf"
    } else {
        "writ_csrf"
    };
    let csrf = cookie_pair(&all, csrf_name).expect("a CSRF cookie");
    let html = page.text().await.unwrap();
    let mut req = http
        .post(format!("{}/u/login", app.base))
        .header("cookie", csrf)
        .form(&login_form(&html, "carol@example.com", "carol-password-1"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 302, "{:?}", r.text().await);
    all.extend(set_cookies(&r));
    let mut req = http.get(format!("{}/admin", app.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 302);
    all.extend(set_cookies(&r));
    all
}

#[tokio::test]
async fn cookies_are_host_prefixed_and_secure_on_https_issuers() {
    let app = TestApp::spawn_with(|v| {
        v[0].1 = v[0].1.replace("http://", "https://");
    })
    .await;
    assert!(app.issuer.starts_with("https://"));
    let cookies = cookies_of_a_login(&app, &http_from("127.0.0.1"), &[]).await;
    let names: Vec<&str> = cookies
        .iter()
        .map(|c| c.split('=').next().unwrap())
        .collect();
    for name in ["__Host-writ_csrf", "__Host-writ_session"] {
        assert!(names.contains(&name), "{name} in {cookies:?}");
    }
    assert!(
        names.iter().any(|n| n.starts_with("__Host-writ_admin_tx_")),
        "{cookies:?}"
    );
    for c in &cookies {
        assert!(c.starts_with("__Host-"), "{c}");
        for attr in ["; Secure", "; Path=/;", "; HttpOnly"] {
            assert!(c.contains(attr), "{attr} missing in {c}");
        }
        assert!(!c.to_ascii_lowercase().contains("domain="), "{c}");
    }
    // The session cookie is read under its prefixed name: a prompt=none authorize reuses it.
    let session = cookie_pair(&cookies, "__Host-writ_session").unwrap();
    let r = http_from("127.0.0.1")
        .get(format!("{}&prompt=none", spa(&app).await))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.contains("code="), "{loc}");
    let r = http_from("127.0.0.1")
        .get(format!("{}&prompt=none", spa(&app).await))
        .header("cookie", session.replace("__Host-", ""))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.contains("error=login_required"), "{loc}");
}

#[tokio::test]
async fn cookies_are_secure_when_a_trusted_proxy_says_https() {
    let app = behind_proxy().await;
    let https = [("x-forwarded-proto", "https")];
    let cookies = cookies_of_a_login(&app, &http_from("127.0.0.1"), &https).await;
    assert!(cookies.len() >= 4, "{cookies:?}");
    for c in &cookies {
        assert!(c.contains("; Secure"), "{c}");
        assert!(c.starts_with("writ_"), "http issuer: no prefix: {c}");
        assert!(c.contains("; Path=/;"), "{c}");
    }
    // From an untrusted peer the header changes nothing.
    let app = behind_proxy().await;
    let cookies = cookies_of_a_login(&app, &http_from("127.0.0.2"), &https).await;
    assert!(cookies.len() >= 4, "{cookies:?}");
    for c in &cookies {
        assert!(!c.contains("Secure"), "{c}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Client authentication limits

#[tokio::test]
async fn client_authentication_failures_count_per_client_and_address() {
    let app = behind_proxy().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let valid = app.machine(TODOS, &["read:todos"]).await;
    let x = app.machine(TODOS, &["read:todos"]).await;
    let proxy = http_from("127.0.0.1");
    let (a, b) = (
        [("x-forwarded-for", "203.0.113.1")],
        [("x-forwarded-for", "203.0.113.2")],
    );
    let cc = |id: &str, secret: &str| -> Vec<(&'static str, String)> {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", id.to_owned()),
            ("client_secret", secret.to_owned()),
            ("audience", TODOS.to_owned()),
        ]
    };
    let send = |h: [(&'static str, &'static str); 1], form: Vec<(&'static str, String)>| {
        let proxy = proxy.clone();
        let app = &app;
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token_with(app, &proxy, &h, &f).await
        }
    };
    // 40 made-up client ids from A: they fail, then that bucket is throttled...
    let mut statuses = vec![];
    for i in 0..40 {
        statuses.push(
            send(a, cc(&format!("made-up-{i}"), "whatever"))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        30,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429));
    // ...but a real client is not blocked, from A or from B.
    send(a, cc(&valid.0, &valid.1)).await.assert(200);
    send(b, cc(&valid.0, &valid.1)).await.assert(200);

    // Wrong secrets for X from A block X from A only.
    for _ in 0..30 {
        send(a, cc(&x.0, "wrong-secret")).await.assert(401);
    }
    let r = send(a, cc(&x.0, &x.1)).await.assert(429);
    assert_eq!(r.body["error"], "too_many_attempts", "{}", r.body);
    assert!(r.header("retry-after").is_some());
    send(b, cc(&x.0, &x.1)).await.assert(200);
    send(a, cc(&valid.0, &valid.1)).await.assert(200);
}

// ---------------------------------------------------------------------------------------------
// 4. Parallel password guesses

/// A request in flight, answering its status.
type Status = std::pin::Pin<Box<dyn std::future::Future<Output = u16> + Send>>;

/// Sends 60 requests at once; their statuses.
async fn sixty_at_once(request: impl Fn() -> Status) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..60 {
        set.spawn(request());
    }
    let mut statuses = vec![];
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    statuses
}

#[tokio::test]
async fn parallel_wrong_passwords_cannot_outrun_the_block() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let client = app.password_client().await;
    app.create_user("dave@example.com", "dave-password-1").await;
    let before = app.state.hasher.argon2_verifications();

    // The password grant.
    let (http, url) = (app.http.clone(), format!("{}/oauth/token", app.base));
    let c = client.clone();
    let statuses = sixty_at_once(move || {
        let (http, url, c) = (http.clone(), url.clone(), c.clone());
        Box::pin(async move {
            http.post(&url)
                .form(&password_form(&c, "dave@example.com", "wrong-guess"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    })
    .await;
    let verified = statuses.iter().filter(|s| **s == 400).count();
    assert!(verified <= 10, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        60 - verified
    );
    app.token_form(&password_form(
        &client,
        "dave@example.com",
        "dave-password-1",
    ))
    .await
    .assert_error(429, "too_many_attempts");
    assert!(entries(&app, "type:fp").await.len() <= 10);
    assert!(app.state.hasher.argon2_verifications() - before <= 10);

    // The hosted login page shares the rule: a second user, through /u/login.
    app.create_user("erin@example.com", "erin-password-1").await;
    let before = app.state.hasher.argon2_verifications();
    let fp_before = entries(&app, "type:fp").await.len();
    let page = app.http.get(spa(&app).await).send().await.unwrap();
    let csrf = cookie_pair(&set_cookies(&page), "writ_csrf").unwrap();
    let html = page.text().await.unwrap();
    let (tx, token) = (hidden(&html, "tx"), hidden(&html, "csrf"));
    let post = {
        let (http, url) = (app.http.clone(), format!("{}/u/login", app.base));
        move |pw: &'static str| {
            let (http, url, csrf, tx, token) = (
                http.clone(),
                url.clone(),
                csrf.clone(),
                tx.clone(),
                token.clone(),
            );
            Box::pin(async move {
                http.post(&url)
                    .header("cookie", csrf)
                    .form(&[
                        ("tx", tx),
                        ("csrf", token),
                        ("username", "erin@example.com".into()),
                        ("password", pw.into()),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }) as Status
        }
    };
    let p = post.clone();
    let statuses = sixty_at_once(move || p("wrong-guess")).await;
    let verified = statuses.iter().filter(|s| **s == 400).count();
    assert!(verified <= 10, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        60 - verified
    );
    assert_eq!(post("erin-password-1").await, 429);
    assert!(entries(&app, "type:fp").await.len() - fp_before <= 10);
    assert!(app.state.hasher.argon2_verifications() - before <= 10);
}

// ---------------------------------------------------------------------------------------------
// 6. Sign-up

/// The sign-up form: its CSRF cookie, `tx` and token.
async fn signup_form(
    app: &TestApp,
    http: &reqwest::Client,
    authorize: &str,
) -> (String, String, String) {
    let page = http.get(authorize).send().await.unwrap();
    let html = page.text().await.unwrap();
    let tx = hidden(&html, "tx");
    let q: String = url::form_urlencoded::byte_serialize(tx.as_bytes()).collect();
    let form = http
        .get(format!("{}/u/signup?tx={q}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let csrf = cookie_pair(&set_cookies(&form), "writ_csrf").unwrap();
    let html = form.text().await.unwrap();
    (csrf, tx, hidden(&html, "csrf"))
}

async fn sign_up(
    app: &TestApp,
    http: &reqwest::Client,
    authorize: &str,
    headers: &[(&str, &str)],
    email: &str,
) -> (u16, Vec<String>, String) {
    let (csrf, tx, token) = signup_form(app, http, authorize).await;
    let mut req = http
        .post(format!("{}/u/signup", app.base))
        .header("cookie", csrf)
        .form(&[
            ("tx", tx),
            ("csrf", token),
            ("username", email.into()),
            ("password", "a-long-password-1".into()),
        ]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let cookies = set_cookies(&r);
    (status, cookies, r.text().await.unwrap())
}

#[tokio::test]
async fn sign_up_answers_the_same_for_taken_and_new_emails() {
    let app = TestApp::spawn_with_vars(&[("WRIT_SIGNUP_ENABLED", "true")]).await;
    app.create_user("taken@example.com", "taken-password-1")
        .await;
    let http = http_from("127.0.0.1");
    let authorize = spa(&app).await;
    let (s1, c1, taken) = sign_up(&app, &http, &authorize, &[], "taken@example.com").await;
    let (s2, c2, fresh) = sign_up(&app, &http, &authorize, &[], "fresh@example.com").await;
    assert_eq!(s1, 200);
    assert_eq!(s1, s2);
    // Identical but for the CSRF token (in the page and its cookie).
    let strip = |html: &str| html.replace(&hidden(html, "csrf"), "CSRF");
    assert_eq!(strip(&taken), strip(&fresh));
    assert!(
        taken.contains("If this address was not registered yet, your account is ready: log in.")
    );
    let names = |c: &[String]| -> Vec<String> {
        c.iter()
            .map(|c| c.split_once('=').unwrap().0.to_owned())
            .collect()
    };
    assert_eq!(names(&c1), names(&c2));
    assert_eq!(names(&c1), ["writ_csrf"]);
    // The new account exists; the taken one kept its password.
    assert_eq!(app.stored_users("fresh@example.com").await.len(), 1);
    assert!(
        app.password_is("taken@example.com", "taken-password-1")
            .await
    );
}

#[tokio::test]
async fn sign_ups_are_limited_per_address() {
    let app = TestApp::spawn_with_vars(&[
        ("WRIT_SIGNUP_ENABLED", "true"),
        ("WRIT_TRUSTED_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    let http = http_from("127.0.0.1");
    let authorize = spa(&app).await;
    let a = [("x-forwarded-for", "203.0.113.50")];
    for i in 0..5 {
        let (s, _, _) = sign_up(&app, &http, &authorize, &a, &format!("user{i}@example.com")).await;
        assert_eq!(s, 200);
    }
    let (s, _, page) = sign_up(&app, &http, &authorize, &a, "user5@example.com").await;
    assert_eq!(s, 429);
    assert!(page.contains("Too many sign-ups"), "{page}");
    assert!(app.stored_users("user5@example.com").await.is_empty());
    // Another address behind the same proxy is not affected.
    let (s, _, _) = sign_up(
        &app,
        &http,
        &authorize,
        &[("x-forwarded-for", "203.0.113.51")],
        "user6@example.com",
    )
    .await;
    assert_eq!(s, 200);
}

// ---------------------------------------------------------------------------------------------
// 7. Imported hashes: wrapped, one argon2id verification each

#[tokio::test]
async fn imported_hashes_are_wrapped_and_cost_one_argon2_verification() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let client = app.password_client().await;
    let argon2i = {
        use argon2::password_hash::PasswordHasher;
        let params = argon2::Params::new(8192, 1, 1, None).unwrap();
        argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params)
            .hash_password(b"hello")
            .unwrap()
            .to_string()
    };
    let users = json!([
        {"email": "pbkdf2@example.com", "custom_password_hash": {"algorithm": "pbkdf2",
            "hash": {"value": "$pbkdf2-sha256$i=1000,l=32$TmFDbC1zYWx0LTEyMw$ua8Y0lZXyvXdWdEFG4AkWWcXpXgxWp9bD1eFos0o4L4"}}},
        {"email": "sha256@example.com", "custom_password_hash": {"algorithm": "sha256",
            "hash": {"value": "9972B132A172BE00B57558C5C49AE78854F53D86CC03B0AED888A853E65A3D17", "encoding": "hex"},
            "salt": {"value": "abc123", "position": "prefix"}}},
        {"email": "md5@example.com", "custom_password_hash": {"algorithm": "md5",
            "hash": {"value": "6967321c83e9f01a33e7edecce748877", "encoding": "hex"},
            "salt": {"value": "pepper", "position": "suffix"}}},
        {"email": "hmac@example.com", "custom_password_hash": {"algorithm": "hmac",
            "hash": {"value": "98e7ffb964bb5a3f902db1fc101a5baa98b6f2cd56858210c9d70f26ac762fc7", "encoding": "hex",
                     "digest": "sha256", "key": {"value": "secret-key"}}}},
        {"email": "ldap@example.com", "custom_password_hash": {"algorithm": "ldap",
            "hash": {"value": "{SSHA}grxCdHfw6tJZU1HC60FmsOqn6vpzNGx0", "encoding": "utf8"}}},
        {"email": "bcrypt@example.com", "password_hash": "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K"},
        {"email": "argon2i@example.com", "custom_password_hash": {"algorithm": "argon2", "hash": {"value": argon2i}}},
    ]);
    let token = app.admin_token().await;
    let job = app
        .import_json(&token, &users, false)
        .await
        .assert(202)
        .body;
    assert_eq!(job["summary"]["inserted"], 7, "{job}");
    let pw = |email: &str| match email {
        "pbkdf2@example.com" => "correct horse",
        _ => "hello",
    };
    let emails: Vec<String> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    // A bare PBKDF2 row from before wrapping, and an unknown email, for comparison.
    app.state
        .store
        .create_user(writ_store::NewUser {
            email: "bare@example.com".into(),
            password_hash: Some("$pbkdf2-sha256$i=1000,l=32$TmFDbC1zYWx0LTEyMw$ua8Y0lZXyvXdWdEFG4AkWWcXpXgxWp9bD1eFos0o4L4".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let stored = |email: String| {
        let app = &app;
        async move {
            app.state
                .store
                .credentials_by_email(&email)
                .await
                .unwrap()
                .and_then(|c| c.password_hash)
        }
    };
    for email in &emails {
        let s = stored(email.clone()).await.unwrap();
        assert!(s.starts_with("$writ-wrap$"), "{email}: {s}");
        assert!(
            s.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{email}: {s}"
        );
    }
    // A failed login costs exactly one argon2id verification, whatever the stored form.
    let mut all = emails.clone();
    all.extend(["bare@example.com".into(), "nobody@example.com".into()]);
    for email in &all {
        let before = app.state.hasher.argon2_verifications();
        app.password_token(&client, email, "a-wrong-password", TODOS, None)
            .await
            .assert(400);
        assert_eq!(
            app.state.hasher.argon2_verifications() - before,
            1,
            "{email}"
        );
    }
    // The right password logs in (one verification) and upgrades to plain argon2id.
    for email in emails.iter().chain(["bare@example.com".to_owned()].iter()) {
        let p = if email == "bare@example.com" {
            "correct horse"
        } else {
            pw(email)
        };
        let before = app.state.hasher.argon2_verifications();
        app.password_token(&client, email, p, TODOS, None)
            .await
            .assert(200);
        assert_eq!(
            app.state.hasher.argon2_verifications() - before,
            1,
            "{email}"
        );
        let s = stored(email.clone()).await.unwrap();
        assert!(
            s.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{email}: {s}"
        );
        app.password_token(&client, email, p, TODOS, None)
            .await
            .assert(200);
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Upsert needs update:users

#[tokio::test]
async fn an_upserting_import_needs_update_users() {
    let app = TestApp::spawn().await;
    app.create_user("frank@example.com", "frank-password-1")
        .await;
    let users = json!([{"email": "frank@example.com", "name": "Frank, rewritten"}]);
    let aud = app.mgmt_audience();
    let (id, secret) = app.machine(&aud, &["create:users"]).await;
    let creator = app.cc_token(&id, &secret, &aud, None).await;
    app.import_json(&creator, &users, false).await.assert(202);
    let r = app.import_json(&creator, &users, true).await.assert(403);
    assert_eq!(
        r.body,
        json!({
            "statusCode": 403,
            "error": "Forbidden",
            "message": "Insufficient scope, expected any of: update:users",
            "errorCode": "insufficient_scope",
        })
    );
    let frank = &app.stored_users("frank@example.com").await[0];
    assert_eq!(frank.name, None);
    let (id, secret) = app.machine(&aud, &["create:users", "update:users"]).await;
    let updater = app.cc_token(&id, &secret, &aud, None).await;
    let job = app
        .import_json(&updater, &users, true)
        .await
        .assert(202)
        .body;
    assert_eq!(job["summary"]["updated"], 1, "{job}");
}

#[tokio::test]
async fn request_id_from_trusted_proxies_only() {
    let app = behind_proxy().await;
    let get = |local: &'static str, id: Option<&'static str>| {
        let base = app.base.clone();
        async move {
            let mut r = http_from(local).get(format!("{base}/healthz"));
            if let Some(id) = id {
                r = r.header("x-request-id", id);
            }
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.headers()
                .get("x-request-id")
                .expect("every response names its request")
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    // The trusted proxy's id is kept and returned.
    assert_eq!(get("127.0.0.1", Some("proxy-id-42")).await, "proxy-id-42");
    // A client's own id is ignored: a fresh one is generated.
    let fresh = get("127.0.0.2", Some("client-chosen")).await;
    assert_ne!(fresh, "client-chosen");
    assert!(!fresh.is_empty());
    // Without one, every request gets its own.
    let (a, b) = (get("127.0.0.1", None).await, get("127.0.0.1", None).await);
    assert_ne!(a, b);
    // A malformed id from the proxy is replaced too.
    assert_ne!(get("127.0.0.1", Some("has space")).await, "has space");
    // Errors carry it as well.
    let r = http_from("127.0.0.2")
        .post(format!("{}/oauth/token", app.base))
        .form(&[("grant_type", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("x-request-id"));
    // An untrusted server (no proxies configured) never repeats a sent id.
    let plain = TestApp::spawn().await;
    let r = plain
        .http
        .get(format!("{}/healthz", plain.base))
        .header("x-request-id", "client-chosen")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "client-chosen");
}
