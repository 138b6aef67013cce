//! `TestApp`: one running server per test, on its own SQLite file, with a bootstrap client.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use writ_server::{AppState, Config};

pub use crate::pg::{PgTestDb, TEST_KEK};
pub use crate::web::*;

/// Name/value pairs: a form's fields, a request's headers.
pub type Pairs<'a> = [(&'a str, &'a str)];

pub const ADMIN_ID: &str = "test-admin";
pub const ADMIN_SECRET: &str = "test-admin-secret-0123456789";

pub struct TestApp {
    pub base: String,
    pub issuer: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    admin_token: tokio::sync::OnceCell<String>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    /// The configuration it was started with, for [`TestApp::restart`].
    pub vars: Vec<(String, String)>,
    /// The PostgreSQL database of this test (`WRIT_TEST_BACKEND=postgres`), dropped with it.
    pg: Option<PgTestDb>,
}

/// Which backend the suite runs on: `WRIT_TEST_BACKEND=postgres` runs every `TestApp` on its
/// own fresh database on the server at `WRIT_TEST_POSTGRES_URL`; default SQLite files.
pub fn backend() -> &'static str {
    match std::env::var("WRIT_TEST_BACKEND").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn assert(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }
    /// Asserts an OAuth error response: the status and the body's `error` code.
    pub fn assert_error(self, status: u16, error: &str) -> Self {
        let r = self.assert(status);
        assert_eq!(r.body["error"], error, "{}", r.body);
        r
    }
    /// Asserts `status` and an error `message` that contains `needle`.
    pub fn assert_message(self, status: u16, needle: &str) -> Self {
        let r = self.assert(status);
        let message = r.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{}", r.body);
        r
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// A string field of the JSON body, owned; panics unless it is a string.
    pub fn field(&self, key: &str) -> String {
        self.body[key]
            .as_str()
            .unwrap_or_else(|| panic!("no string {key} in {}", self.body))
            .to_owned()
    }
}

/// A browser without JavaScript for the admin console: follows nothing by itself, keeps
/// cookies by name, sends `user_agent` when set.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub jar: std::collections::HashMap<String, String>,
    pub user_agent: Option<&'static str>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    /// The `Retry-After` header, when the page has one.
    pub retry_after: Option<String>,
    pub body: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Browser {
            http: http(),
            base: app.base.clone(),
            jar: Default::default(),
            user_agent: None,
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    pub fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends `req` with the jar's cookies, keeps the cookies it sets.
    async fn send(&mut self, mut req: reqwest::RequestBuilder) -> Page {
        req = req.header("cookie", self.cookie_header());
        if let Some(ua) = self.user_agent {
            req = req.header("user-agent", ua);
        }
        let r = req.send().await.unwrap();
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        Page {
            status,
            location,
            retry_after,
            body: r.text().await.unwrap(),
        }
    }

    /// `GET` with the jar's cookies, the raw response (for its headers); keeps no cookie.
    pub async fn raw_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(self.url(path));
        self.send(req).await
    }

    /// Posts a form with `Origin` set to `origin` (this server's unless told otherwise).
    pub async fn post_from(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut req = self.http.post(self.url(path)).form(form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.base.clone();
        self.post_from(path, form, Some(&origin)).await
    }

    /// A console form post with the page's CSRF token.
    pub async fn submit(&mut self, path: &str, csrf: &str, fields: &[(&str, &str)]) -> Page {
        let mut f = vec![("csrf", csrf)];
        f.extend_from_slice(fields);
        self.post(path, &f).await
    }

    /// A console form post that succeeds: a 303 to the next page.
    pub async fn submit_ok(&mut self, path: &str, csrf: &str, fields: &[(&str, &str)]) -> Page {
        let r = self.submit(path, csrf, fields).await;
        assert_eq!(r.status, 303, "{}", r.body);
        r
    }

    /// A console form that creates something: the path of the created thing's page (the
    /// redirect's target without its query).
    pub async fn create(&mut self, path: &str, csrf: &str, fields: &[(&str, &str)]) -> String {
        let r = self.submit_ok(path, csrf, fields).await;
        r.location.unwrap().split('?').next().unwrap().to_owned()
    }

    /// The first post of a destructive action: a 200 page that asks for confirmation.
    pub async fn ask(&mut self, path: &str, csrf: &str, fields: &[(&str, &str)]) -> Page {
        let r = self.submit(path, csrf, fields).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r
    }

    /// The confirmed post of a destructive action: `fields` and `confirmed=yes`.
    pub async fn confirmed(&mut self, path: &str, csrf: &str, fields: &[(&str, &str)]) -> Page {
        let mut f = fields.to_vec();
        f.push(("confirmed", "yes"));
        self.submit(path, csrf, &f).await
    }

    /// A console form post refused for its `field`: a 400 with the error shown next to it.
    pub async fn submit_refused(
        &mut self,
        path: &str,
        csrf: &str,
        fields: &[(&str, &str)],
        field: &str,
    ) -> Page {
        let r = self.submit(path, csrf, fields).await;
        assert_eq!(r.status, 400);
        let testid = format!("data-testid=\"error-{field}\"");
        assert!(r.body.contains(&testid), "{}", r.body);
        r
    }

    /// Signs in from a console page: the redirect to /authorize, the hosted login form, the
    /// callback. Returns the page asked for.
    pub async fn sign_in(&mut self, path: &str, email: &str, password: &str) -> Page {
        let start = self.get(path).await;
        assert_eq!(start.status, 302, "{}", start.body);
        let authorize = start.location.unwrap();
        assert!(authorize.contains("/authorize?"), "{authorize}");
        assert!(
            authorize.contains("client_id=writ-admin-console"),
            "{authorize}"
        );
        assert!(
            authorize.contains("code_challenge_method=S256"),
            "{authorize}"
        );
        let login = self.get(&authorize).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let tx = hidden(&login.body, "tx");
        let csrf = hidden(&login.body, "csrf");
        let sent = self
            .post(
                "/u/login",
                &[
                    ("tx", tx.as_str()),
                    ("csrf", csrf.as_str()),
                    ("username", email),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(sent.status, 302, "{}", sent.body);
        let callback = sent.location.unwrap();
        assert!(callback.contains("/admin/callback?"), "{callback}");
        let hop = self.get(&callback).await;
        assert_eq!(hop.status, 200, "{}", hop.body);
        assert!(hop.body.contains("http-equiv=\"refresh\""), "{}", hop.body);
        assert!(self.jar.contains_key("writ_admin"), "session cookie set");
        self.get(path).await
    }
}

pub async fn to_resp(r: reqwest::Response) -> Resp {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Resp {
        status,
        headers,
        body,
    }
}

/// The `writ` binary cargo built for this workspace's tests (`target/<profile>/writ`, beside
/// the `deps` folder this test binary runs from).
pub fn hook_worker() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let writ = profile.join(format!("writ{}", std::env::consts::EXE_SUFFIX));
    assert!(
        writ.exists(),
        "{} is missing: build the workspace's tests (cargo test --workspace --no-run)",
        writ.display()
    );
    writ
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A server with these settings added to the test's own.
    pub async fn spawn_with_vars(vars: &[(&str, &str)]) -> TestApp {
        Self::spawn_with(|v| v.extend(vars.iter().map(|(k, x)| (k.to_string(), x.to_string()))))
            .await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Vec<(String, String)>)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let issuer = format!("http://127.0.0.1:{port}/");
        let mut vars = vec![
            ("WRIT_ISSUER".to_string(), issuer.clone()),
            ("WRIT_LISTEN".to_string(), format!("127.0.0.1:{port}")),
            (
                "WRIT_DATABASE_URL".to_string(),
                format!("sqlite://{}/writ.db", dir.path().display()),
            ),
            ("WRIT_BOOTSTRAP_CLIENT_ID".to_string(), ADMIN_ID.to_string()),
            (
                "WRIT_BOOTSTRAP_CLIENT_SECRET".to_string(),
                ADMIN_SECRET.to_string(),
            ),
            (
                "WRIT_PASSWORD_HASH_CONCURRENCY".to_string(),
                "2".to_string(),
            ),
            // No JWKS warm-up: an API switched to ES256 or EdDSA signs with it at once, as
            // most tests expect (the warm-up's own tests set it, see `jwks_warmup`).
            ("WRIT_JWKS_WARMUP_SECS".to_string(), "0".to_string()),
        ];
        // Hooks run in worker processes; a test binary is not `writ`, so name the one cargo
        // built beside it (the server itself uses its own executable).
        vars.push((
            "WRIT_HOOK_WORKER".to_string(),
            hook_worker().display().to_string(),
        ));
        let pg = if backend() == "postgres" {
            let db = PgTestDb::create("writ_it").await;
            vars[2].1 = db.url.clone();
            vars.push(("WRIT_KEY_ENCRYPTION_KEY".to_string(), TEST_KEK.to_string()));
            Some(db)
        } else {
            None
        };
        tweak(&mut vars);
        Self::start(listener, vars, dir, pg).await
    }

    async fn start(
        listener: TcpListener,
        vars: Vec<(String, String)>,
        dir: tempfile::TempDir,
        pg: Option<PgTestDb>,
    ) -> TestApp {
        let port = listener.local_addr().unwrap().port();
        // The last setting of a variable wins: a test's own overrides the defaults above.
        let config = Config::load(None, |k| {
            vars.iter()
                .rev()
                .find(|(a, _)| a == k)
                .map(|(_, b)| b.clone())
        })
        .expect("config");
        // A tweak may name another issuer (several nodes of one deployment).
        let issuer = config.issuer.clone();
        let (state, _) = writ_server::prepare(config).await.expect("prepare");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let server = tokio::spawn(async move {
            // The admin console too, as the binary serves it.
            let console = writ_console::router();
            writ_server::run_with(listener, st, console, async {
                let _ = rx.await;
            })
            .await
            .expect("server");
        });
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            issuer,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            state,
            dir,
            admin_token: tokio::sync::OnceCell::new(),
            shutdown: tx,
            server,
            vars,
            pg,
        }
    }

    /// Shuts the server down gracefully (in-flight requests and event streams end) and closes
    /// its database, runs `while_down` (with the database's URL), then starts it again on the
    /// same port and database.
    pub async fn restart<F: std::future::Future<Output = ()>>(
        self,
        while_down: impl FnOnce(String) -> F,
    ) -> TestApp {
        let TestApp {
            base,
            state,
            dir,
            shutdown,
            server,
            vars,
            pg,
            ..
        } = self;
        let _ = shutdown.send(());
        server.await.expect("the server stopped");
        state.store.close().await;
        drop(state);
        let url = vars
            .iter()
            .find(|(k, _)| k == "WRIT_DATABASE_URL")
            .map(|(_, v)| v.clone())
            .expect("a database URL");
        while_down(url).await;
        let addr = base.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind(&addr).await.expect("bind the same port");
        Self::start(listener, vars, dir, pg).await
    }

    /// The PostgreSQL database URL when the suite runs on PostgreSQL.
    pub fn pg_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|p| p.url.as_str())
    }

    pub fn mgmt_audience(&self) -> String {
        format!("{}api/v2/", self.issuer)
    }

    /// `POST /oauth/token` with a form body.
    pub async fn token_form(&self, form: &[(&str, &str)]) -> Resp {
        to_resp(
            self.http
                .post(format!("{}/oauth/token", self.base))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// `POST /oauth/token` with a JSON body.
    pub async fn token_json(&self, body: Value) -> Resp {
        to_resp(
            self.http
                .post(format!("{}/oauth/token", self.base))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A client-credentials token; panics unless 200.
    pub async fn cc_token(
        &self,
        client_id: &str,
        secret: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> String {
        let mut f = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("audience", audience),
        ];
        if let Some(s) = scope {
            f.push(("scope", s));
        }
        self.token_form(&f).await.assert(200).field("access_token")
    }

    /// A client-credentials token of the Management API for `client_id`; panics unless 200.
    pub async fn mgmt_token(&self, client_id: &str, secret: &str) -> String {
        self.cc_token(client_id, secret, &self.mgmt_audience(), None)
            .await
    }

    /// The bootstrap client's Management API token (all scopes), cached.
    pub async fn admin_token(&self) -> String {
        self.admin_token
            .get_or_init(|| async { self.mgmt_token(ADMIN_ID, ADMIN_SECRET).await })
            .await
            .clone()
    }

    /// A Management API call with the admin token.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let token = self.admin_token().await;
        self.api_as(&token, method, path, body).await
    }

    /// A Management API `POST` of `body` with the admin token.
    pub async fn api_post(&self, path: &str, body: Value) -> Resp {
        self.api(Method::POST, path, Some(body)).await
    }

    /// A Management API `DELETE` with the admin token.
    pub async fn api_delete(&self, path: &str) -> Resp {
        self.api(Method::DELETE, path, None).await
    }

    /// `method` on a group's `relation` (`roles` or `members`) with the ids `ids`.
    pub async fn group_relation(
        &self,
        method: Method,
        group: &str,
        relation: &str,
        ids: &[&str],
    ) -> Resp {
        let path = format!("/groups/{group}/{relation}");
        self.api(method, &path, Some(json!({ relation: ids })))
            .await
    }

    /// A Management API `GET` with the admin token that must succeed; the body.
    pub async fn api_get(&self, path: &str) -> Value {
        self.api(Method::GET, path, None).await.assert(200).body
    }

    /// A Management API `GET` with `token`.
    pub async fn get_as(&self, token: &str, path: &str) -> Resp {
        self.api_as(token, Method::GET, path, None).await
    }

    pub async fn api_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let mut r = self
            .http
            .request(method, format!("{}/api/v2{}", self.base, path))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        to_resp(r.send().await.unwrap()).await
    }

    /// Deletes the Management API resource at `path` (204) and checks it is gone (404).
    pub async fn delete_gone(&self, path: &str) {
        self.api(Method::DELETE, path, None).await.assert(204);
        self.api(Method::GET, path, None).await.assert(404);
    }

    pub async fn get(&self, path: &str) -> Resp {
        to_resp(
            self.http
                .get(format!("{}{}", self.base, path))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    // --- fixtures through the Management API ---

    /// Creates the action `action` for `trigger`, deploys it and binds it alone to `trigger`;
    /// its id.
    pub async fn bind_action(&self, trigger: &str, mut action: Value) -> String {
        action["supported_triggers"] = json!([{"id": trigger, "version": "v3"}]);
        let id = self
            .api(Method::POST, "/actions/actions", Some(action))
            .await
            .assert(201)
            .field("id");
        self.deploy_and_bind(trigger, &id).await;
        id
    }

    /// A server with the API `api` (RS256, the permission `read:x`, RBAC on), the user
    /// `email`, and a client allowed the password grant.
    pub async fn with_password_user(
        api: &str,
        email: &str,
        password: &str,
    ) -> (Self, (String, String)) {
        let app = Self::spawn().await;
        app.create_api(api, "RS256", &["read:x"], true).await;
        app.create_user(email, password).await;
        let client = app.password_client().await;
        (app, client)
    }

    /// Deploys an action and makes it the only one bound to `trigger`.
    pub async fn deploy_and_bind(&self, trigger: &str, id: &str) {
        self.api(Method::POST, &format!("/actions/actions/{id}/deploy"), None)
            .await
            .assert(200);
        let only = json!({"bindings": [{"ref": {"type": "action_id", "value": id}}]});
        let path = format!("/actions/triggers/{trigger}/bindings");
        self.api(Method::PATCH, &path, Some(only)).await.assert(200);
    }

    pub async fn create_api(
        &self,
        identifier: &str,
        alg: &str,
        scopes: &[&str],
        rbac: bool,
    ) -> Value {
        let scopes: Vec<Value> = scopes
            .iter()
            .map(|s| json!({"value": s, "description": format!("{s} desc")}))
            .collect();
        let mut body = json!({"identifier": identifier, "name": identifier, "signing_alg": alg, "scopes": scopes, "enforce_policies": rbac});
        if rbac {
            body["token_dialect"] = json!("access_token_authz");
        }
        self.api(Method::POST, "/resource-servers", Some(body))
            .await
            .assert(201)
            .body
    }

    /// `method` on `{owner}/permissions` (a role's or a user's) with `perms` of the API `api`.
    pub async fn permissions(
        &self,
        method: Method,
        owner: &str,
        api: &str,
        perms: &[&str],
    ) -> Resp {
        let p: Vec<Value> = perms
            .iter()
            .map(|p| json!({"resource_server_identifier": api, "permission_name": p}))
            .collect();
        self.api(
            method,
            &format!("{owner}/permissions"),
            Some(json!({"permissions": p})),
        )
        .await
    }

    pub async fn create_role(&self, name: &str, api: &str, perms: &[&str]) -> String {
        let id = self
            .api(Method::POST, "/roles", Some(json!({"name": name})))
            .await
            .assert(201)
            .field("id");
        if !perms.is_empty() {
            self.permissions(Method::POST, &format!("/roles/{id}"), api, perms)
                .await
                .assert(201);
        }
        id
    }

    pub async fn create_user(&self, email: &str, password: &str) -> String {
        self.api(
            Method::POST,
            "/users",
            Some(json!({"email": email, "password": password, "connection": "Username-Password-Authentication"})),
        )
        .await
        .assert(201).field("user_id")
    }

    /// Blocks the user `user` through the Management API.
    pub async fn block_user(&self, user: &str) {
        self.api(
            Method::PATCH,
            &format!("/users/{user}"),
            Some(json!({"blocked": true})),
        )
        .await
        .assert(200);
    }

    /// The store's users with `email` (none or one).
    pub async fn stored_users(&self, email: &str) -> Vec<writ_core::User> {
        self.state.store.users_by_email(email).await.unwrap()
    }

    /// Whether the stored password of the user with `email` is `password`.
    pub async fn password_is(&self, email: &str, password: &str) -> bool {
        let creds = self
            .state
            .store
            .credentials_by_email(email)
            .await
            .unwrap()
            .expect("a user with this email");
        self.state
            .hasher
            .verify(password, creds.password_hash.as_deref())
            .await
    }

    /// `method` on the user's roles: `POST` assigns `roles`, `DELETE` removes them; must be 204.
    pub async fn user_roles(&self, method: Method, user: &str, roles: &[&str]) {
        self.api(
            method,
            &format!("/users/{user}/roles"),
            Some(json!({"roles": roles})),
        )
        .await
        .assert(204);
    }

    pub async fn assign_roles(&self, user: &str, roles: &[&str]) {
        self.user_roles(Method::POST, user, roles).await
    }

    pub async fn remove_roles(&self, user: &str, roles: &[&str]) {
        self.user_roles(Method::DELETE, user, roles).await
    }

    /// Changes the API `identifier` (found by its identifier) with `PATCH /resource-servers/{id}`.
    pub async fn patch_api(&self, identifier: &str, changes: Value) {
        let enc: String = url::form_urlencoded::byte_serialize(identifier.as_bytes()).collect();
        let rs = self.api_get(&format!("/resource-servers/{enc}")).await;
        self.api(
            Method::PATCH,
            &format!("/resource-servers/{}", rs["id"].as_str().unwrap()),
            Some(changes),
        )
        .await
        .assert(200);
    }

    /// Lets the API `identifier` issue refresh tokens.
    pub async fn allow_offline_access(&self, identifier: &str) {
        self.patch_api(identifier, json!({"allow_offline_access": true}))
            .await;
    }

    /// The API `api` (ES256, RBAC on) with `read:todos` and `write:todos`, its role `editor`
    /// holding both, and the user `email` holding that role; returns (role id, user id).
    pub async fn todo_editor(&self, api: &str, email: &str, pw: &str) -> (String, String) {
        let perms = ["read:todos", "write:todos"];
        self.create_api(api, "ES256", &perms, true).await;
        let editor = self.create_role("editor", api, &perms).await;
        let user = self.create_user(email, pw).await;
        self.assign_roles(&user, &[&editor]).await;
        (editor, user)
    }

    /// A user holding a role `role` with `perms` of the Management API; returns the user's id.
    pub async fn create_admin(&self, role: &str, perms: &[&str], email: &str, pw: &str) -> String {
        let role = self.create_role(role, &self.mgmt_audience(), perms).await;
        let user = self.create_user(email, pw).await;
        self.assign_roles(&user, &[&role]).await;
        user
    }

    /// Posts a users-import form; `users` is the file's content.
    pub async fn import_users(&self, token: &str, users: &str, fields: &[(&str, &str)]) -> Resp {
        let mut form = reqwest::multipart::Form::new().part(
            "users",
            reqwest::multipart::Part::bytes(users.as_bytes().to_vec())
                .file_name("users.json")
                .mime_str("application/json")
                .unwrap(),
        );
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let r = self
            .http
            .post(format!("{}/api/v2/jobs/users-imports", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.json().await.unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Imports `users` into the database connection, upserting or not.
    pub async fn import_json(&self, token: &str, users: &Value, upsert: bool) -> Resp {
        let up = upsert.to_string();
        self.import_users(
            token,
            &users.to_string(),
            &[("connection_id", "con_writdatabase0001"), ("upsert", &up)],
        )
        .await
    }

    /// `POST /client-grants`: `scopes` of `audience` for the client `client_id`.
    pub async fn grant_client(&self, client_id: &str, audience: &str, scopes: &[&str]) -> Resp {
        self.api(
            Method::POST,
            "/client-grants",
            Some(json!({"client_id": client_id, "audience": audience, "scope": scopes})),
        )
        .await
    }

    /// `PATCH /client-grants/{grant}`: its scopes become `scopes`.
    pub async fn set_grant_scopes(&self, grant: &str, scopes: &[&str]) -> Resp {
        self.api(
            Method::PATCH,
            &format!("/client-grants/{grant}"),
            Some(json!({ "scope": scopes })),
        )
        .await
    }

    /// A client-credentials token request for `audience`.
    pub async fn cc_form(&self, client_id: &str, secret: &str, audience: &str) -> Resp {
        self.token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("audience", audience),
        ])
        .await
    }

    /// Rotates the client's secret; returns the new one.
    pub async fn rotate_secret(&self, client_id: &str) -> String {
        self.api(
            Method::POST,
            &format!("/clients/{client_id}/rotate-secret"),
            None,
        )
        .await
        .assert(200)
        .field("client_secret")
    }

    /// `POST /oauth/introspect` of `token`, authenticated as `client`; the answer.
    pub async fn introspect(&self, client: &(String, String), token: &str) -> Value {
        json_of(
            self.http
                .post(format!("{}/oauth/introspect", self.base))
                .basic_auth(&client.0, Some(&client.1))
                .form(&[("token", token)]),
        )
        .await
    }

    /// A confidential client; returns `(client_id, client_secret)`.
    pub async fn create_client(&self, body: Value) -> (String, String) {
        let c = self
            .api(Method::POST, "/clients", Some(body))
            .await
            .assert(201)
            .body;
        (
            c["client_id"].as_str().unwrap().to_owned(),
            c["client_secret"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// A machine client with a grant of `scopes` on `audience`.
    pub async fn machine(&self, audience: &str, scopes: &[&str]) -> (String, String) {
        let (id, secret) = self
            .create_client(json!({"name": "m2m", "app_type": "non_interactive"}))
            .await;
        self.grant_client(&id, audience, scopes).await.assert(201);
        (id, secret)
    }

    /// A client allowed the password grant.
    pub async fn password_client(&self) -> (String, String) {
        self.create_client(
            json!({"name": "cli", "app_type": "regular_web", "grant_types": ["password"]}),
        )
        .await
    }

    pub async fn password_token(
        &self,
        client: &(String, String),
        user: &str,
        pw: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> Resp {
        let mut f = password_form(client, user, pw, audience);
        if let Some(s) = scope {
            f.push(("scope", s));
        }
        self.token_form(&f).await
    }

    /// A user's Management API token, the only way one is issued: the admin console's client
    /// (public, PKCE) through the hosted login page, the code exchanged at `/oauth/token`.
    pub async fn console_token(&self, email: &str, password: &str) -> String {
        let verifier = "console-verifier-0123456789-0123456789-0123456789";
        let challenge = challenge(verifier);
        let callback = format!("{}admin/callback", self.issuer);
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", writ_core::CONSOLE_CLIENT_ID),
                ("redirect_uri", callback.as_str()),
                ("scope", "openid"),
                ("audience", self.mgmt_audience().as_str()),
                ("state", "s"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("prompt", "login"),
            ])
            .finish();
        let page = self
            .http
            .get(format!("{}/authorize?{q}", self.base))
            .send()
            .await
            .unwrap();
        let cookie = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.contains("csrf"))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .expect("the login form's CSRF cookie");
        let html = page.text().await.unwrap();
        let r = self
            .http
            .post(format!("{}/u/login", self.base))
            .header("cookie", cookie)
            .header("origin", &self.base)
            .form(&login_form(&html, email, password))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "console sign-in for {email}");
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        let code = url::Url::parse(&loc)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {loc}"));
        self.token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", writ_core::CONSOLE_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", &callback),
            ("code_verifier", verifier),
        ])
        .await
        .assert(200)
        .field("access_token")
    }
}

/// Two nodes on one PostgreSQL database, behind one issuer: node A, then node B with A's
/// issuer.
pub async fn two_nodes(db: &PgTestDb) -> (TestApp, TestApp) {
    let set = |vars: &mut Vec<(String, String)>, k: &str, v: String| {
        vars.retain(|(a, _)| a != k);
        vars.insert(0, (k.to_owned(), v));
    };
    let url = db.url.clone();
    let a = TestApp::spawn_with(|vars| {
        set(vars, "WRIT_DATABASE_URL", url.clone());
        set(vars, "WRIT_KEY_ENCRYPTION_KEY", TEST_KEK.into());
    })
    .await;
    let issuer = a.issuer.clone();
    let b = TestApp::spawn_with(|vars| {
        set(vars, "WRIT_DATABASE_URL", url);
        set(vars, "WRIT_KEY_ENCRYPTION_KEY", TEST_KEK.into());
        set(vars, "WRIT_ISSUER", issuer);
    })
    .await;
    assert_eq!(a.issuer, b.issuer);
    assert_ne!(a.base, b.base);
    (a, b)
}
