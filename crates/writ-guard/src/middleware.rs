//! HTTP integration: the axum [`Claims`] extractor, the tower [`RequirePermissions`] layer
//! (any `http::Request<B>` service, axum or not), [`GuardLayer`] to hand a [`Guard`] to them
//! through request extensions, and RFC 6750 error responses ([`AuthError`]).
//!
//! Verified claims are stored in the request's extensions as [`AccessClaims`], so a token is
//! verified once per request however many layers and extractors look at it.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum_core::response::IntoResponse;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use tower_layer::Layer;
use tower_service::Service;

use crate::{AccessClaims, Guard, VerifyError};

/// Why a request was refused, and its RFC 6750 response: `401` with `WWW-Authenticate:
/// Bearer realm="…"` (no token), `401` with `error="invalid_token"`, `403` with
/// `error="insufficient_scope"` and the required `scope`; each with a JSON body
/// `{"error": …, "error_description": …}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` credentials (RFC 6750 §3.1: no error code in the challenge).
    #[error("a bearer token is required")]
    MissingToken { realm: Arc<str> },
    /// The token was refused.
    #[error("{0}")]
    InvalidToken(VerifyError),
    /// The token lacks a required permission.
    #[error("{}", insufficient_description(required, *any))]
    InsufficientScope {
        required: Arc<[String]>,
        /// One of `required` suffices (else all are needed).
        any: bool,
    },
    /// The route requires a second factor ([`RequirePermissions::with_mfa`]) and the token's
    /// `amr` does not hold `mfa`: `401` with RFC 9470's `insufficient_user_authentication`, so
    /// the client can log the user in again with one.
    #[error("a login with a second factor (amr: mfa) is required")]
    MfaRequired,
    /// A [`RequirePermissions`] layer found no [`Guard`] (neither `with_guard` nor
    /// [`GuardLayer`]): a server misconfiguration, answered with `500`.
    #[error("no Guard is configured to verify tokens")]
    NoGuard,
    /// The authz event feed is unreachable and the guard's policy is to refuse
    /// ([`crate::FeedOutage::Reject`]): `503` with `Retry-After`.
    #[error("permission changes cannot be checked right now; retry shortly")]
    Unavailable,
}

fn insufficient_description(required: &[String], any: bool) -> String {
    match (any, required.len()) {
        (_, 1) => format!("requires the {} permission", required[0]),
        (true, _) => format!("requires one of the permissions {}", required.join(", ")),
        (false, _) => format!("requires the permissions {}", required.join(", ")),
    }
}

/// Keeps the characters RFC 6750 §3 allows in a quoted auth-param value.
fn quotable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\x20'..='\x7e' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}

impl From<VerifyError> for AuthError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::FreshnessUnknown => AuthError::Unavailable,
            e => AuthError::InvalidToken(e),
        }
    }
}

impl AuthError {
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingToken { .. }
            | AuthError::InvalidToken(_)
            | AuthError::MfaRequired => StatusCode::UNAUTHORIZED,
            AuthError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            AuthError::NoGuard => StatusCode::INTERNAL_SERVER_ERROR,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `WWW-Authenticate` challenge, if any.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            AuthError::MissingToken { realm } => {
                Some(format!("Bearer realm=\"{}\"", quotable(realm)))
            }
            AuthError::InvalidToken(e) => Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                quotable(&e.to_string())
            )),
            AuthError::InsufficientScope { required, .. } => Some(format!(
                "Bearer error=\"insufficient_scope\", error_description=\"{}\", scope=\"{}\"",
                quotable(&self.to_string()),
                quotable(&required.join(" "))
            )),
            AuthError::MfaRequired => Some(format!(
                "Bearer error=\"insufficient_user_authentication\", error_description=\"{}\", acr_values=\"{}\"",
                quotable(&self.to_string()),
                writ_core::claims::ACR_MFA
            )),
            AuthError::NoGuard | AuthError::Unavailable => None,
        }
    }

    /// The OAuth error code of the JSON body.
    pub fn error_code(&self) -> &'static str {
        match self {
            AuthError::MissingToken { .. } => "unauthorized",
            AuthError::InvalidToken(_) => "invalid_token",
            AuthError::InsufficientScope { .. } => "insufficient_scope",
            AuthError::MfaRequired => "insufficient_user_authentication",
            AuthError::NoGuard => "server_error",
            AuthError::Unavailable => "temporarily_unavailable",
        }
    }

    /// The JSON body: `{"error": …, "error_description": …}`.
    pub fn json_body(&self) -> String {
        let description = match self {
            AuthError::NoGuard => "internal error".to_owned(),
            other => other.to_string(),
        };
        serde_json::json!({"error": self.error_code(), "error_description": description})
            .to_string()
    }

    fn response<B>(&self) -> Response<GuardBody<B>> {
        if matches!(self, AuthError::NoGuard) {
            tracing::error!(
                "RequirePermissions has no Guard: add `.with_guard(guard)` or an outer `guard.layer()`"
            );
        }
        let mut resp = Response::new(GuardBody::error(Bytes::from(self.json_body())));
        *resp.status_mut() = self.status();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if matches!(self, AuthError::Unavailable) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Some(v) = self
            .www_authenticate()
            .and_then(|w| HeaderValue::try_from(w).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> axum_core::response::Response {
        self.response::<axum_core::body::Body>()
            .map(axum_core::body::Body::new)
    }
}

/// The token of an `Authorization: Bearer <token>` header: `Ok(None)` when there is no
/// `Authorization` header or it uses another scheme, an error when the Bearer credentials are
/// empty or not ASCII.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, VerifyError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| VerifyError::Malformed)?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    match rest.trim() {
        "" => Err(VerifyError::Malformed),
        token => Ok(Some(token)),
    }
}

/// Claims already verified for this request, or the bearer token verified by `guard`.
async fn authenticate(
    guard: &Guard,
    extensions: &http::Extensions,
    headers: &HeaderMap,
) -> Result<AccessClaims, AuthError> {
    if let Some(claims) = extensions.get::<AccessClaims>() {
        return Ok(claims.clone());
    }
    match bearer_token(headers)? {
        Some(token) => Ok(guard.verify(token).await?),
        None => Err(AuthError::MissingToken {
            realm: guard.realm_arc(),
        }),
    }
}

/// The verified claims of the request's bearer token, for axum handlers. The [`Guard`] comes
/// from the router's state (`Guard: FromRef<S>`, so a state struct holding a `Guard` works);
/// claims already verified by a [`RequirePermissions`] layer are reused. Rejects with
/// [`AuthError`]. `Option<Claims>` accepts requests without a token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub AccessClaims);

impl Deref for Claims {
    type Target = AccessClaims;
    fn deref(&self) -> &AccessClaims {
        &self.0
    }
}

impl<S> FromRequestParts<S> for Claims
where
    Guard: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AuthError> {
        let guard = Guard::from_ref(state);
        let claims = authenticate(&guard, &parts.extensions, &parts.headers).await?;
        parts.extensions.insert(claims.clone());
        Ok(Claims(claims))
    }
}

impl<S> OptionalFromRequestParts<S> for Claims
where
    Guard: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, AuthError> {
        match <Claims as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(c) => Ok(Some(c)),
            Err(AuthError::MissingToken { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A tower layer that admits a request only if its bearer token is valid and carries the
/// required permissions (the `permissions` claim when present, else `scope`). It answers
/// `401`/`403` per RFC 6750 itself, and stores the verified [`AccessClaims`] in the request's
/// extensions for the inner service (and the [`Claims`] extractor).
///
/// The [`Guard`] is the one given with [`with_guard`](Self::with_guard), else the one an outer
/// [`GuardLayer`] put in the request's extensions.
///
/// Works with any `Service<http::Request<B>, Response = http::Response<R>>`; the response body
/// becomes [`GuardBody<R>`].
#[derive(Debug, Clone)]
pub struct RequirePermissions {
    required: Arc<[String]>,
    any: bool,
    guard: Option<Guard>,
    mfa: bool,
}

impl RequirePermissions {
    /// Every one of `perms` is required.
    pub fn all<I>(perms: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            required: perms.into_iter().map(Into::into).collect(),
            any: false,
            guard: None,
            mfa: false,
        }
    }

    /// At least one of `perms` is required (an empty list requires only a valid token).
    pub fn any<I>(perms: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            any: true,
            ..Self::all(perms)
        }
    }

    /// A valid token, with no particular permission.
    pub fn authenticated() -> Self {
        Self::all(Vec::<String>::new())
    }

    /// Verifies tokens with `guard` (instead of a [`Guard`] found in the request extensions).
    pub fn with_guard(mut self, guard: Guard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Also requires a login with a second factor: the token's `amr` must hold `mfa` (the API
    /// must be one whose tokens carry `amr`: `WRIT_MFA_AMR_AUDIENCES`), else
    /// [`AuthError::MfaRequired`].
    pub fn with_mfa(mut self) -> Self {
        self.mfa = true;
        self
    }

    /// Whether `claims` satisfy the requirement.
    pub fn check(&self, claims: &AccessClaims) -> Result<(), AuthError> {
        if self.mfa && !claims.has_mfa() {
            return Err(AuthError::MfaRequired);
        }
        let ok = if self.required.is_empty() {
            true
        } else if self.any {
            self.required.iter().any(|p| claims.has_permission(p))
        } else {
            self.required.iter().all(|p| claims.has_permission(p))
        };
        if ok {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: self.required.clone(),
                any: self.any,
            })
        }
    }

    async fn admit<B>(&self, req: &mut Request<B>) -> Result<(), AuthError> {
        let claims = match req.extensions().get::<AccessClaims>() {
            Some(c) => c.clone(),
            None => {
                let guard = self
                    .guard
                    .as_ref()
                    .or_else(|| req.extensions().get::<Guard>())
                    .ok_or(AuthError::NoGuard)?;
                let claims = authenticate(guard, req.extensions(), req.headers()).await?;
                req.extensions_mut().insert(claims.clone());
                claims
            }
        };
        self.check(&claims)
    }
}

impl<S> Layer<S> for RequirePermissions {
    type Service = RequirePermissionsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequirePermissionsService {
            inner,
            rule: self.clone(),
        }
    }
}

/// The service of [`RequirePermissions`].
#[derive(Debug, Clone)]
pub struct RequirePermissionsService<S> {
    inner: S,
    rule: RequirePermissions,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqB, ResB> Service<Request<ReqB>> for RequirePermissionsService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    ReqB: Send + 'static,
{
    type Response = Response<GuardBody<ResB>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        // The clone that was polled ready serves this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let rule = self.rule.clone();
        Box::pin(async move {
            match rule.admit(&mut req).await {
                Ok(()) => Ok(inner.call(req).await?.map(GuardBody::inner)),
                Err(e) => Ok(e.response()),
            }
        })
    }
}

/// A tower layer that puts a [`Guard`] in every request's extensions, for the
/// [`RequirePermissions`] layers inside it. It verifies nothing by itself, so routes without
/// a `RequirePermissions` layer or a [`Claims`] extractor stay public.
#[derive(Debug, Clone)]
pub struct GuardLayer {
    guard: Guard,
}

impl Guard {
    /// A [`GuardLayer`] for this guard.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer {
            guard: self.clone(),
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// The service of [`GuardLayer`].
#[derive(Debug, Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Guard,
}

impl<S, B> Service<Request<B>> for GuardService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.guard.clone());
        self.inner.call(req)
    }
}

pin_project_lite::pin_project! {
    /// The response body of [`RequirePermissionsService`]: the inner service's body, or the
    /// short JSON body of an [`AuthError`].
    pub struct GuardBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Error { data: Option<Bytes> },
    }
}

impl<B> GuardBody<B> {
    fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    fn error(data: Bytes) -> Self {
        Self {
            kind: Kind::Error { data: Some(data) },
        }
    }
}

impl<B> Body for GuardBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Error { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d.into())))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Error { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Error { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
