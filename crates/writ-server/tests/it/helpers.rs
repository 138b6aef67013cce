//! `TestApp`: one running server per test, on its own SQLite file, with a bootstrap client.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use writ_server::{AppState, Config};

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
    vars: Vec<(String, String)>,
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

/// The key-encryption key the PostgreSQL runs share (PostgreSQL needs one configured).
pub const TEST_KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

pub struct PgTestDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgTestDb {
    pub async fn create(prefix: &str) -> PgTestDb {
        let admin_url = std::env::var("WRIT_TEST_POSTGRES_URL").expect(
            "WRIT_TEST_POSTGRES_URL is not set: these tests need a PostgreSQL server \
             (e.g. postgres://postgres@127.0.0.1:5432/test)",
        );
        let name = format!(
            "{prefix}_{}",
            writ_service::crypto::random_alnum(12).to_lowercase()
        );
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("PostgreSQL reachable");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        PgTestDb {
            admin_url,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for PgTestDb {
    /// Drops the database (terminating the test server's connections), on a thread of its own
    /// since this may run inside the test's runtime.
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await
                {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            })
        })
        .join();
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
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn to_resp(r: reqwest::Response) -> Resp {
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

/// Decodes a JWT's header and payload without verifying (for assertions).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let mut it = token.split('.');
    let mut dec = || {
        let part = it.next().expect("jwt part");
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .expect("b64"),
        )
        .expect("json")
    };
    let h = dec();
    let p = dec();
    (h, p)
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
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
        ];
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
        let config = Config::load(None, |k| {
            vars.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone())
        })
        .expect("config");
        // A tweak may name another issuer (several nodes of one deployment).
        let issuer = config.issuer.clone();
        let (state, _) = writ_server::prepare(config).await.expect("prepare");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let server = tokio::spawn(async move {
            // The admin console too, as the binary serves it.
            let console = writ_console::router(writ_server::console::code_exchange());
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
        self.token_form(&f).await.assert(200).body["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The bootstrap client's Management API token (all scopes), cached.
    pub async fn admin_token(&self) -> String {
        self.admin_token
            .get_or_init(|| async {
                self.cc_token(ADMIN_ID, ADMIN_SECRET, &self.mgmt_audience(), None)
                    .await
            })
            .await
            .clone()
    }

    /// A Management API call with the admin token.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let token = self.admin_token().await;
        self.api_as(&token, method, path, body).await
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

    pub async fn create_role(&self, name: &str, api: &str, perms: &[&str]) -> String {
        let id = self
            .api(Method::POST, "/roles", Some(json!({"name": name})))
            .await
            .assert(201)
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if !perms.is_empty() {
            let p: Vec<Value> = perms
                .iter()
                .map(|p| json!({"resource_server_identifier": api, "permission_name": p}))
                .collect();
            self.api(
                Method::POST,
                &format!("/roles/{id}/permissions"),
                Some(json!({"permissions": p})),
            )
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
        .assert(201)
        .body["user_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn assign_roles(&self, user: &str, roles: &[&str]) {
        self.api(
            Method::POST,
            &format!("/users/{user}/roles"),
            Some(json!({"roles": roles})),
        )
        .await
        .assert(204);
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
        self.api(
            Method::POST,
            "/client-grants",
            Some(json!({"client_id": id, "audience": audience, "scope": scopes})),
        )
        .await
        .assert(201);
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
        let mut f = vec![
            ("grant_type", "password"),
            ("client_id", client.0.as_str()),
            ("client_secret", client.1.as_str()),
            ("username", user),
            ("password", pw),
            ("audience", audience),
        ];
        if let Some(s) = scope {
            f.push(("scope", s));
        }
        self.token_form(&f).await
    }

    /// A user's Management API token, the only way one is issued: the admin console's client
    /// (public, PKCE) through the hosted login page, the code exchanged at `/oauth/token`.
    pub async fn console_token(&self, email: &str, password: &str) -> String {
        use base64::Engine;
        use sha2::Digest;
        let verifier = "console-verifier-0123456789-0123456789-0123456789";
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
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
        let field = |name: &str| {
            let marker = format!("name=\"{name}\" value=\"");
            let start = html.find(&marker).expect("hidden field") + marker.len();
            let end = html[start..].find('"').unwrap() + start;
            html[start..end]
                .replace("&amp;", "&")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
        };
        let r = self
            .http
            .post(format!("{}/u/login", self.base))
            .header("cookie", cookie)
            .header("origin", &self.base)
            .form(&[
                ("tx", field("tx")),
                ("csrf", field("csrf")),
                ("username", email.to_owned()),
                ("password", password.to_owned()),
            ])
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
        .body["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}
