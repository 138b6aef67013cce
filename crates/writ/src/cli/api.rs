//! The CLI's HTTP side: obtains Management API tokens with `client_credentials`, renews them
//! when the secret was saved, and sends requests to `{url}api/v2/…`, turning Auth0-shaped
//! error bodies into [`CliError::Server`].

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::CliError;
use super::config::{self, Credentials};

/// Seconds before expiry at which a token counts as expired.
const MARGIN: i64 = 30;

/// An HTTP client with the CLI's user agent and timeouts.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("writ-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .build()
        .expect("the HTTP client builds")
}

/// Normalizes a server URL: a scheme and a trailing `/`.
pub fn normalize_url(raw: &str) -> Result<String, CliError> {
    let mut s = raw.trim().to_owned();
    if !s.ends_with('/') {
        s.push('/');
    }
    let u = url::Url::parse(&s)
        .map_err(|e| CliError::Usage(format!("--url {raw:?} is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(CliError::Usage(format!(
            "--url {raw:?} must be an http:// or https:// URL"
        )));
    }
    Ok(s)
}

fn transport(url: &str, e: reqwest::Error) -> CliError {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    CliError::Failed(format!("cannot reach {url}: {msg}"))
}

/// Turns an error response into [`CliError::Server`]: Auth0's `{statusCode, error, message,
/// errorCode}` or OAuth's `{error, error_description}`.
async fn server_error(r: reqwest::Response) -> CliError {
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let message = v["message"]
        .as_str()
        .or(v["error_description"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let t = text.trim();
            if t.is_empty() || t.len() > 300 {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                t.to_owned()
            }
        });
    let code = v["errorCode"]
        .as_str()
        .or(v["error"].as_str().filter(|_| v.get("message").is_none()))
        .map(str::to_owned);
    CliError::Server {
        status: status.as_u16(),
        message,
        code,
    }
}

/// `client_credentials` for the Management API: the token and its lifetime in seconds.
pub async fn fetch_token(
    http: &reqwest::Client,
    url: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<(String, i64), CliError> {
    let endpoint = format!("{url}oauth/token");
    let r = http
        .post(&endpoint)
        .json(&json!({
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "audience": format!("{url}api/v2/"),
        }))
        .send()
        .await
        .map_err(|e| transport(&endpoint, e))?;
    if !r.status().is_success() {
        return Err(server_error(r).await);
    }
    let v: Value = r.json().await.map_err(|e| {
        CliError::Failed(format!("{endpoint} answered something else than JSON: {e}"))
    })?;
    let token = v["access_token"]
        .as_str()
        .ok_or_else(|| CliError::Failed(format!("{endpoint} answered no access_token")))?;
    Ok((token.to_owned(), v["expires_in"].as_i64().unwrap_or(3600)))
}

/// What to send.
pub enum Body {
    None,
    Json(Value),
    /// A users-import form: the file's bytes and the text fields.
    Import {
        users: Vec<u8>,
        fields: Vec<(&'static str, String)>,
    },
}

/// A logged-in connection to the Management API.
pub struct Api {
    http: reqwest::Client,
    creds: Credentials,
}

impl Api {
    /// Loads the cached login, renewing an expired token when the secret was saved.
    pub async fn connect() -> Result<Self, CliError> {
        let creds = config::load()?;
        let mut api = Api {
            http: http(),
            creds,
        };
        if api.creds.expires_at - MARGIN <= writ_service::time::now() {
            if api.creds.client_secret.is_none() {
                return Err(CliError::Usage(format!(
                    "the saved token for {} expired: run `writ login` again (with --save-secret to renew automatically)",
                    api.creds.url
                )));
            }
            api.renew().await?;
        }
        Ok(api)
    }

    async fn renew(&mut self) -> Result<(), CliError> {
        let Some(secret) = self.creds.client_secret.clone() else {
            return Err(CliError::Usage(
                "the token was refused and no secret is saved: run `writ login` again".into(),
            ));
        };
        let (token, ttl) =
            fetch_token(&self.http, &self.creds.url, &self.creds.client_id, &secret).await?;
        self.creds.access_token = token;
        self.creds.expires_at = writ_service::time::now() + ttl;
        config::save(&self.creds)?;
        Ok(())
    }

    /// `{url}api/v2/` followed by the path segments, each percent-encoded (ids may be URLs).
    fn endpoint(&self, segments: &[&str], query: &[(&str, String)]) -> url::Url {
        let mut u = url::Url::parse(&self.creds.url).expect("saved URLs are valid");
        {
            let mut p = u.path_segments_mut().expect("http URLs have paths");
            p.pop_if_empty().push("api").push("v2");
            for s in segments {
                p.push(s);
            }
        }
        if !query.is_empty() {
            u.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        u
    }

    fn build(&self, method: &Method, u: &url::Url, body: &Body) -> reqwest::RequestBuilder {
        let rb = self
            .http
            .request(method.clone(), u.clone())
            .bearer_auth(&self.creds.access_token);
        match body {
            Body::None => rb,
            Body::Json(v) => rb.json(v),
            Body::Import { users, fields } => {
                let part = reqwest::multipart::Part::bytes(users.clone())
                    .file_name("users.json")
                    .mime_str("application/json")
                    .expect("a valid MIME type");
                let mut form = reqwest::multipart::Form::new().part("users", part);
                for (k, v) in fields {
                    form = form.text(*k, v.clone());
                }
                rb.multipart(form)
            }
        }
    }

    /// Sends one request; `Value::Null` for an empty answer (204). A refused token is
    /// renewed once when the secret was saved.
    pub async fn call(
        &mut self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Body,
    ) -> Result<Value, CliError> {
        let u = self.endpoint(segments, query);
        let mut renewed = false;
        loop {
            let r = self
                .build(&method, &u, &body)
                .send()
                .await
                .map_err(|e| transport(u.as_str(), e))?;
            if r.status() == StatusCode::UNAUTHORIZED
                && !renewed
                && self.creds.client_secret.is_some()
            {
                self.renew().await?;
                renewed = true;
                continue;
            }
            if !r.status().is_success() {
                return Err(server_error(r).await);
            }
            let bytes = r.bytes().await.map_err(|e| transport(u.as_str(), e))?;
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|e| {
                CliError::Failed(format!("{u} answered something else than JSON: {e}"))
            });
        }
    }

    pub async fn get(
        &mut self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, CliError> {
        self.call(Method::GET, segments, query, Body::None).await
    }

    /// `GET`, the answer read as the Management API type it documents.
    pub async fn get_as<T: DeserializeOwned>(
        &mut self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, CliError> {
        let v = self.get(segments, query).await?;
        serde_json::from_value(v).map_err(|e| {
            CliError::Failed(format!(
                "{} answered an unexpected body: {e}",
                self.endpoint(segments, query)
            ))
        })
    }

    pub async fn post(&mut self, segments: &[&str], body: Value) -> Result<Value, CliError> {
        self.call(Method::POST, segments, &[], Body::Json(body))
            .await
    }

    pub async fn delete(
        &mut self,
        segments: &[&str],
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let body = body.map_or(Body::None, Body::Json);
        self.call(Method::DELETE, segments, &[], body).await
    }
}
