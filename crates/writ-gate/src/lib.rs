//! `writ gate`: Writ's token and permission check for an API written in any language, so that
//! a Django, Rails or PHP API gets what a Rust API gets from `writ-guard` — verified tokens,
//! per-route permissions and freshness (tokens made before a permission change are refused
//! within a second) — without verifying JWTs itself.
//!
//! Two modes, one process:
//! - **nginx `auth_request`** (default): nginx asks `GET /auth` with the client's
//!   `Authorization` and `X-Original-Method`/`X-Original-URI`; the gate answers `200` with
//!   `X-Writ-Sub`, `X-Writ-Permissions` (space-separated), `X-Writ-Scope` and
//!   `X-Writ-Client-Id`, or `401`/`403` per RFC 6750 (`WWW-Authenticate`), which nginx passes
//!   on. `GET /healthz` answers `200`.
//! - **reverse proxy** (`--upstream URL`): every request is checked the same way and forwarded
//!   with those headers set (any client-supplied `X-Writ-*` header is removed first, also when
//!   spelt with underscores, `X_Writ_Sub`, which CGI/WSGI servers read as `X-Writ-Sub`).
//!
//! Both modes judge the request's [`NormalPath`] ([`path`]): percent-encoded unreserved
//! characters decoded, tricks (`..`, `%2F`, `;`, double encoding…) refused. The proxy forwards
//! that same path, so the upstream routes on exactly what the rules judged; a refused path is a
//! `400` there, and a `403` in `auth_request` mode (nginx denies on 401/403 only).
//!
//! Which permissions a route needs comes from a rules file ([`rules`]); without one, every
//! request needs a valid token. Verification is `writ-guard`'s [`Guard`]: keys from the
//! issuer's JWKS, algorithm pinned per key, and — with an events client — the authz event feed.

pub mod path;
pub mod rules;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use writ_guard::{AccessClaims, AuthError, EventFeed, FeedOutage, Guard, GuardOptions};

pub use path::{NormalPath, PathError};
pub use rules::{Need, Rules};

/// The prefix of the gate's identity headers. In proxy mode every client header whose name,
/// lower-cased and with `_` read as `-`, starts with it is removed.
pub const IDENTITY_PREFIX: &str = "x-writ-";
/// Headers the gate sets; any copy sent by a client is removed.
pub const SUB_HEADER: &str = "x-writ-sub";
pub const PERMISSIONS_HEADER: &str = "x-writ-permissions";
pub const SCOPE_HEADER: &str = "x-writ-scope";
pub const CLIENT_ID_HEADER: &str = "x-writ-client-id";

/// `writ gate` options.
#[derive(clap::Args, Debug, Clone)]
pub struct GateArgs {
    /// Writ's issuer URL, exactly as in its tokens (trailing slash included).
    #[arg(long, env = "WRIT_GATE_ISSUER")]
    pub issuer: String,
    /// The API's identifier: tokens must have it in `aud`.
    #[arg(long, env = "WRIT_GATE_AUDIENCE")]
    pub audience: String,
    /// Where the gate listens.
    #[arg(long, env = "WRIT_GATE_LISTEN", default_value = "127.0.0.1:4180")]
    pub listen: SocketAddr,
    /// Route rules (`GET /api/todos/* => read:todos`, one per line). Without them every
    /// request needs a valid token and nothing more.
    #[arg(long, env = "WRIT_GATE_RULES", value_name = "PATH")]
    pub rules: Option<PathBuf>,
    /// Reverse-proxy mode: forward allowed requests to this URL (http).
    #[arg(long, env = "WRIT_GATE_UPSTREAM", value_name = "URL")]
    pub upstream: Option<String>,
    /// Client id of a machine client with `read:authz_events` on Writ's Management API:
    /// follow the authz event feed and refuse tokens made before a permission change.
    #[arg(
        long,
        env = "WRIT_GATE_EVENTS_CLIENT_ID",
        requires = "events_client_secret"
    )]
    pub events_client_id: Option<String>,
    /// Its secret (prefer the environment variable).
    #[arg(
        long,
        env = "WRIT_GATE_EVENTS_CLIENT_SECRET",
        hide_env_values = true,
        requires = "events_client_id"
    )]
    pub events_client_secret: Option<String>,
    /// Where to reach Writ for the event feed when it is not the issuer URL (one node behind
    /// a load balancer, an internal address).
    #[arg(long, env = "WRIT_GATE_WRIT_URL", value_name = "URL")]
    pub writ_url: Option<String>,
    /// When the event feed has been silent longer than --feed-outage-after: `accept` tokens
    /// (with a logged warning) or `reject` them with 503.
    #[arg(long, env = "WRIT_GATE_FEED_OUTAGE", default_value = "accept", value_parser = ["accept", "reject"])]
    pub feed_outage: String,
    /// Seconds of feed silence before --feed-outage applies.
    #[arg(long, env = "WRIT_GATE_FEED_OUTAGE_AFTER", default_value_t = 60)]
    pub feed_outage_after: u64,
    /// Clock leeway for `exp`/`nbf`, seconds.
    #[arg(long, env = "WRIT_GATE_LEEWAY", default_value_t = 30)]
    pub leeway: u64,
    /// Also accept `typ: JWT` access tokens (Auth0's legacy ones).
    #[arg(long, env = "WRIT_GATE_ALLOW_LEGACY_TYP")]
    pub allow_legacy_typ: bool,
}

/// Why the gate could not start.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("cannot read the rules file {path}: {source}")]
    RulesIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rules file {path}, {source}")]
    Rules {
        path: PathBuf,
        source: rules::RuleError,
    },
    #[error("--upstream {0:?} must be an http:// URL with a host")]
    Upstream(String),
    #[error("cannot reach the issuer: {0}")]
    Guard(#[from] writ_guard::GuardError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A configured gate: the guard, the rules, and the upstream in proxy mode.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

struct Inner {
    guard: Guard,
    rules: Rules,
    upstream: Option<Upstream>,
}

struct Upstream {
    /// `http://host:port` with no trailing slash, and the path prefix to put before each path.
    authority: http::uri::Authority,
    scheme: http::uri::Scheme,
    base_path: String,
    client: Client<HttpConnector, Body>,
}

impl Gate {
    /// A gate over `guard` with `rules`, forwarding to `upstream` (`http://…`) if given.
    pub fn new(guard: Guard, rules: Rules, upstream: Option<&str>) -> Result<Gate, GateError> {
        let upstream = upstream.map(parse_upstream).transpose()?;
        Ok(Gate {
            inner: Arc::new(Inner {
                guard,
                rules,
                upstream,
            }),
        })
    }

    /// The gate's routes: `/auth` and `/healthz`, or, in proxy mode, every path.
    pub fn router(&self) -> Router {
        let r = if self.inner.upstream.is_some() {
            Router::new().fallback(proxy)
        } else {
            Router::new()
                .route("/auth", any(auth_request))
                .route("/healthz", get(|| async { "ok" }))
        };
        r.with_state(self.clone())
    }

    /// Decides a request for `path`: the verified claims (or `None` for a public route), or
    /// the refusal.
    pub async fn decide(
        &self,
        method: &Method,
        path: &NormalPath,
        headers: &HeaderMap,
    ) -> Result<Option<AccessClaims>, Refusal> {
        let need = self.inner.rules.need(method, path).ok_or(Refusal::NoRule)?;
        let requirement = match need {
            Need::Public => return Ok(None),
            Need::Token(r) => r,
        };
        let token = writ_guard::bearer_token(headers)
            .map_err(|e| Refusal::Auth(e.into()))?
            .ok_or_else(|| {
                Refusal::Auth(AuthError::MissingToken {
                    realm: self.inner.guard.realm().into(),
                })
            })?;
        let claims = self
            .inner
            .guard
            .verify(token)
            .await
            .map_err(|e| Refusal::Auth(e.into()))?;
        requirement.check(&claims).map_err(Refusal::Auth)?;
        Ok(Some(claims))
    }
}

/// Why the gate refused a request.
#[derive(Debug)]
pub enum Refusal {
    /// The token is missing, invalid, stale or lacks a permission (RFC 6750).
    Auth(AuthError),
    /// No rule matches the route.
    NoRule,
    /// nginx did not send `X-Original-URI` although rules need the route.
    NoOriginalUri,
    /// The path is one the gate will not judge (`..`, `%2F`, double encoding…): `400`, or
    /// `403` in `auth_request` mode.
    BadPath(PathError),
}

impl Refusal {
    /// The answer in `auth_request` mode, where nginx allows on 2xx, denies on 401/403 and
    /// makes anything else a 500: a malformed path is a 403 there.
    fn into_auth_request_response(self) -> Response {
        match self {
            Refusal::BadPath(e) => bad_path(StatusCode::FORBIDDEN, &e),
            other => other.into_response(),
        }
    }
}

fn bad_path(status: StatusCode, e: &PathError) -> Response {
    json_error(status, "invalid_request", &format!("bad request path: {e}"))
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Auth(e) => e.into_response(),
            Refusal::NoRule => json_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                "no gate rule allows this route",
            ),
            Refusal::NoOriginalUri => {
                tracing::error!(
                    "auth_request without X-Original-URI: add `proxy_set_header X-Original-URI $request_uri;` (and X-Original-Method) to nginx's auth location"
                );
                json_error(
                    StatusCode::FORBIDDEN,
                    "access_denied",
                    "the gate was not told which route is asked for (X-Original-URI)",
                )
            }
            Refusal::BadPath(e) => bad_path(StatusCode::BAD_REQUEST, &e),
        }
    }
}

fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description}).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The gate's identity headers for verified claims (none for a public route).
fn identity_headers(
    claims: Option<&AccessClaims>,
) -> Result<Vec<(HeaderName, HeaderValue)>, Refusal> {
    let Some(c) = claims else {
        return Ok(Vec::new());
    };
    let value = |s: &str| {
        HeaderValue::from_str(s)
            .map_err(|_| Refusal::Auth(AuthError::InvalidToken(writ_guard::VerifyError::Claims)))
    };
    let mut out = vec![(HeaderName::from_static(SUB_HEADER), value(&c.sub)?)];
    out.push((
        HeaderName::from_static(PERMISSIONS_HEADER),
        value(&c.permissions.as_deref().unwrap_or_default().join(" "))?,
    ));
    out.push((HeaderName::from_static(SCOPE_HEADER), value(&c.scope)?));
    out.push((
        HeaderName::from_static(CLIENT_ID_HEADER),
        value(&c.client_id)?,
    ));
    Ok(out)
}

/// The normalized path of nginx's `X-Original-URI` (`$request_uri`: the raw path and query
/// of the client's request line, not decoded).
fn original_path(uri: &HeaderValue) -> Result<NormalPath, PathError> {
    let uri = std::str::from_utf8(uri.as_bytes()).map_err(|_| PathError::NotUtf8)?;
    let path = uri.split_once('?').map_or(uri, |(p, _)| p);
    NormalPath::parse(path)
}

/// nginx `auth_request` target.
async fn auth_request(State(gate): State<Gate>, headers: HeaderMap) -> Response {
    let method = headers
        .get("x-original-method")
        .and_then(|v| Method::from_bytes(v.as_bytes()).ok())
        .unwrap_or(Method::GET);
    let path = match headers.get("x-original-uri").map(original_path) {
        Some(Ok(path)) => path,
        Some(Err(e)) => {
            tracing::debug!(%method, error = %e, "refused X-Original-URI");
            return Refusal::BadPath(e).into_auth_request_response();
        }
        None if gate.inner.rules.count().is_some() => {
            return Refusal::NoOriginalUri.into_auth_request_response();
        }
        None => NormalPath::parse("/").expect("`/` is a normal path"),
    };
    let decided = gate.decide(&method, &path, &headers).await;
    match decided.and_then(|c| identity_headers(c.as_ref())) {
        Ok(ids) => {
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut().extend(ids);
            resp
        }
        Err(refusal) => {
            tracing::debug!(%method, %path, ?refusal, "refused");
            refusal.into_auth_request_response()
        }
    }
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named by `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
}

/// Reverse-proxy mode: check, then forward.
async fn proxy(State(gate): State<Gate>, req: Request<Body>) -> Response {
    let Some(up) = &gate.inner.upstream else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Absolute-form targets (`GET http://host/path`) are judged on their path too; `*` and
    // authority-form targets have no path starting with `/` and are refused.
    let path = match NormalPath::parse(req.uri().path()) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(method = %req.method(), path = req.uri().path(), error = %e, "refused path");
            return Refusal::BadPath(e).into_response();
        }
    };
    let decided = gate.decide(req.method(), &path, req.headers()).await;
    let ids = match decided.and_then(|c| identity_headers(c.as_ref())) {
        Ok(ids) => ids,
        Err(refusal) => {
            tracing::debug!(method = %req.method(), %path, ?refusal, "refused");
            return refusal.into_response();
        }
    };
    let (mut parts, body) = req.into_parts();
    // The upstream gets the path the rules judged; the query string goes on as it came.
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{}{path}?{q}", up.base_path),
        None => format!("{}{path}", up.base_path),
    };
    let uri = Uri::builder()
        .scheme(up.scheme.clone())
        .authority(up.authority.clone())
        .path_and_query(path_and_query)
        .build();
    let Ok(uri) = uri else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "bad request target",
        );
    };
    parts.uri = uri;
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    strip_identity_headers(headers);
    headers.extend(ids);
    match up.client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => {
            tracing::warn!(error = %e, "upstream request failed");
            json_error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the upstream API did not answer",
            )
        }
    }
}

/// Whether a client header could pass for one of the gate's identity headers: its name,
/// lower-cased and with `_` read as `-` (as CGI/WSGI servers do: `X_Writ_Sub` and `X-Writ-Sub`
/// are both `HTTP_X_WRIT_SUB`), starts with [`IDENTITY_PREFIX`].
fn is_identity_like(name: &str) -> bool {
    let prefix = IDENTITY_PREFIX.as_bytes();
    name.len() >= prefix.len()
        && name.as_bytes()[..prefix.len()]
            .iter()
            .zip(prefix)
            .all(|(&b, &p)| b.to_ascii_lowercase() == p || (b == b'_' && p == b'-'))
}

/// Removes every client header that could pass for an identity header.
fn strip_identity_headers(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| is_identity_like(k.as_str()))
        .cloned()
        .collect();
    for k in spoofed {
        headers.remove(k);
    }
}

fn parse_upstream(url: &str) -> Result<Upstream, GateError> {
    let bad = || GateError::Upstream(url.to_owned());
    let uri: Uri = url.parse().map_err(|_| bad())?;
    if uri.scheme() != Some(&http::uri::Scheme::HTTP) || uri.query().is_some() {
        return Err(bad());
    }
    let authority = uri.authority().cloned().ok_or_else(bad)?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector);
    Ok(Upstream {
        authority,
        scheme: http::uri::Scheme::HTTP,
        base_path: uri.path().trim_end_matches('/').to_owned(),
        client,
    })
}

/// Builds the gate from its options: reads the rules, discovers the issuer's keys and starts
/// following the event feed if an events client is given.
pub async fn build(args: &GateArgs) -> Result<Gate, GateError> {
    let rules = match &args.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| GateError::RulesIo {
                path: path.clone(),
                source,
            })?;
            Rules::parse(&text).map_err(|source| GateError::Rules {
                path: path.clone(),
                source,
            })?
        }
        None => Rules::default(),
    };
    // Checked before contacting the issuer, so a typo fails at once.
    if let Some(u) = &args.upstream {
        parse_upstream(u)?;
    }
    let events = match (&args.events_client_id, &args.events_client_secret) {
        (Some(id), Some(secret)) => Some(EventFeed {
            writ_url: args.writ_url.clone(),
            client_id: id.clone(),
            client_secret: secret.clone(),
        }),
        _ => None,
    };
    let opts = GuardOptions {
        leeway_secs: args.leeway,
        allow_legacy_typ: args.allow_legacy_typ,
        events,
        feed_outage: if args.feed_outage == "reject" {
            FeedOutage::Reject
        } else {
            FeedOutage::Accept
        },
        feed_outage_after: Duration::from_secs(args.feed_outage_after),
        ..Default::default()
    };
    let guard = Guard::discover(&args.issuer, &args.audience, opts).await?;
    Gate::new(guard, rules, args.upstream.as_deref())
}

/// Serves `gate` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn run(
    listener: tokio::net::TcpListener,
    gate: Gate,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, gate.router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// `writ gate`: builds the gate from `args` and serves until `shutdown`. Errors are one line.
pub async fn run_cli(
    args: GateArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| {
            GateError::Listen {
                addr: args.listen,
                source,
            }
            .to_string()
        })?;
    let gate = build(&args).await.map_err(|e| e.to_string())?;
    tracing::info!(
        listen = %args.listen,
        issuer = %args.issuer,
        audience = %args.audience,
        mode = if args.upstream.is_some() { "proxy" } else { "auth_request" },
        rules = gate.inner.rules.count().map_or("none (a valid token suffices)".to_owned(), |n| n.to_string()),
        feed = args.events_client_id.is_some(),
        "writ gate is ready"
    );
    run(listener, gate, shutdown)
        .await
        .map_err(|e| format!("gate error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_like_headers_include_underscore_spellings() {
        for name in [
            "x-writ-sub",
            "x_writ_sub",
            "X_Writ_Sub",
            "x-writ_permissions",
            "x_writ-scope",
            "x_writ_client_id",
            "x-writ-anything",
            "X_WRIT_",
        ] {
            assert!(is_identity_like(name), "{name}");
        }
        for name in [
            "x-writ",
            "x_writ",
            "x-write-sub",
            "authorization",
            "x-other_writ-sub",
            "",
        ] {
            assert!(!is_identity_like(name), "{name}");
        }
        let mut h = HeaderMap::new();
        for name in [
            "x_writ_sub",
            "x-writ-scope",
            "x-writ_permissions",
            "x-other",
        ] {
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        strip_identity_headers(&mut h);
        assert_eq!(
            h.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["x-other"]
        );
    }
}
