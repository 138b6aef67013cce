//! Management API v2 at `/api/v2`: Auth0's paths, bodies and semantics.
//!
//! Every route requires an access token for `{issuer}api/v2/` carrying the route's scope,
//! verified with writ-guard (the same code APIs use), so Writ dogfoods its own RBAC.
//!
//! Every write (any method but GET, HEAD and OPTIONS) is recorded in the audit log: its outcome
//! by the use case in `writ_service` that makes it (with the caller's [`Actor`]), a refusal
//! before it (token, scope, body) by [`Caller`].
//!
//! Each route is declared once, by its handler's `#[utoipa::path]` attribute (path, method,
//! scope, OpenAPI operation), and registered with `routes!` in its module's router; the served
//! router and the OpenAPI document are both collected from those routers, and [`Caller`]
//! requires the scopes the document names for the matched route ([`scopes`]). Request and response
//! bodies are the types in [`types`], which the management CLI uses too.

mod actions;
mod apis;
mod authentication_methods;
mod clients;
mod consents;
mod events;
mod groups;
pub mod jobs;
mod keys;
mod logs;
mod openapi;
mod roles;
pub(crate) mod schemas;
mod scopes;
pub mod tickets;
pub mod types;
mod users;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use writ_guard::{AccessClaims, VerifyError};
use writ_service::Actor;
use writ_service::audit::Operation;
use writ_store::{Page, Paged};

use crate::error::ApiError;
use crate::http::bearer::Bearer;
use crate::state::AppState;
use types::List;

use utoipa_axum::router::OpenApiRouter;

/// What every handler module of the Management API uses.
mod prelude {
    pub(super) use axum::body::Bytes;
    pub(super) use axum::extract::Path;
    pub(super) use axum::response::Response;
    pub(super) use utoipa_axum::router::OpenApiRouter;
    pub(super) use utoipa_axum::routes;

    pub(super) use super::schemas::{
        self, ActionId, ApiId, ClientGrantId, ClientId, ConsentId, GroupId, JobId, Kid, LogId,
        RoleId, TriggerId, UserId,
    };
    pub(super) use super::types;
    pub(super) use super::{Caller, Paging, Params, created, no_content, ok};
    pub(super) use crate::error::ApiError;
    pub(super) use crate::state::AppState;
}

/// Every route of the Management API with its OpenAPI operation, paths relative to `/api/v2`:
/// the one place routes are registered, for the server ([`router`]) and for the document
/// (`openapi::document`).
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .merge(apis::router())
        .merge(roles::router())
        .merge(groups::router())
        .merge(users::router())
        .merge(authentication_methods::router())
        .merge(clients::router())
        .merge(consents::router())
        .merge(keys::router())
        .merge(actions::router())
        .merge(jobs::router())
        .merge(tickets::router())
        .merge(logs::router())
        .merge(events::router())
        .merge(openapi::router())
}

/// The Management API, to be nested at `/api/v2`.
pub fn router() -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    router.fallback(|| async {
        ApiError::new(StatusCode::NOT_FOUND, "inexistent_resource", "Not Found")
    })
}

/// The verified caller of a Management API route, holding every scope the route's operation
/// requires (its first security alternative in the OpenAPI document), with what its audit
/// entries need: the request's method, route and path, and where it came from. It derefs to
/// the server's state, so handlers take it alone.
///
/// Writes are recorded explicitly: a refusal here (bad token, missing scope, malformed body,
/// through [`Caller::check`]) by this type, the outcome of the write itself by the use case in
/// `writ_service`, which takes the caller's [`Actor`].
pub struct Caller {
    pub claims: AccessClaims,
    call: Call,
    /// The route's security alternatives, from the document.
    alternatives: &'static scopes::Alternatives,
}

impl std::ops::Deref for Caller {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.call.state
    }
}

/// The request a [`Caller`] made.
#[derive(Clone)]
struct Call {
    state: AppState,
    /// Not a read (reads are never recorded).
    write: bool,
    op: Operation,
    peer: writ_service::audit::Peer,
}

impl Call {
    fn of(parts: &Parts, state: &AppState) -> Call {
        let write = !matches!(
            parts.method,
            axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
        );
        let path = parts.uri.path().to_owned();
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|m| {
                m.as_str()
                    .strip_prefix("/api/v2")
                    .unwrap_or(m.as_str())
                    .to_owned()
            })
            .unwrap_or_else(|| path.clone());
        Call {
            state: state.clone(),
            write,
            op: Operation::new(parts.method.as_str(), &route, path, 200),
            peer: crate::audit::peer_of(parts),
        }
    }

    /// Records a write refused before it reached its use case.
    async fn refused(&self, actor: Option<&Actor>, e: &ApiError) {
        if self.write {
            writ_service::audit::api_write(
                &self.state,
                actor,
                &self.op,
                Err((e.status.as_u16(), e.code)),
            )
            .await;
        }
    }
}

impl Caller {
    /// The caller as the use cases take it.
    pub fn actor(&self) -> Actor {
        Actor {
            client_id: Some(self.claims.client_id.clone()),
            user_id: (!self.claims.is_machine()).then(|| self.claims.sub.clone()),
            peer: self.call.peer.clone(),
        }
    }

    /// Requires every scope of `scopes` in order (in `permissions` when present, else in
    /// `scope`), refusing with the first one missing; a write refused for it is recorded.
    async fn require(&self, scopes: &[String]) -> Result<(), ApiError> {
        for scope in scopes {
            let held = writ_service::access::require(&self.claims, &[scope.as_str()]);
            self.check(held.map_err(|_| ApiError::insufficient_scope(scope)))
                .await?;
        }
        Ok(())
    }

    /// The scopes the route requires, which the caller holds.
    pub fn scopes(&self) -> &'static [String] {
        let all: &'static scopes::Alternatives = self.alternatives;
        &all[0]
    }

    /// Requires the scopes of the operation's second security alternative: what the document
    /// says some requests need on top of the first (the users import with `upsert=true`). A
    /// route that documents none is refused, so the document never says less than is checked.
    pub async fn require_conditional(&self) -> Result<(), ApiError> {
        match self.alternatives.get(1) {
            Some(scopes) => self.require(scopes).await,
            None => {
                self.check(Err(ApiError::internal(
                    "the operation documents no second security alternative",
                )))
                .await
            }
        }
    }

    /// Passes `r` on, recording a write refused with its error (a malformed body, say).
    pub async fn check<T>(&self, r: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(e) = &r
            && !e.recorded
        {
            self.call.refused(Some(&self.actor()), e).await;
        }
        r
    }

    /// Parses the JSON body of a write (see [`body`]), recording a refusal.
    pub async fn body<T: DeserializeOwned>(&self, bytes: &Bytes) -> Result<T, ApiError> {
        self.check(body(bytes)).await
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let call = Call::of(parts, state);
        let mut claims = Caller::verify(parts, state);
        // A token speaks for its subject's permissions when it was made: a user's is refused
        // once they changed or the user is blocked or gone; a machine client's once its grant,
        // secret or grant types changed or it was deleted.
        if let Ok(c) = &claims
            && !is_current(state, c).await
        {
            claims = Err(ApiError::unauthorized(
                if c.is_machine() {
                    "Invalid token: the client's grants or credentials changed since it was issued"
                } else {
                    "Invalid token: the user's permissions changed since it was issued"
                },
                "permissions changed",
            ));
        }
        let claims = match claims {
            Ok(claims) => claims,
            Err(e) => {
                // A refused token names no caller.
                call.refused(None, &e).await;
                return Err(e);
            }
        };
        crate::http::observe::note_client(&parts.extensions, &claims.client_id);
        static NONE: scopes::Alternatives = Vec::new();
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let found = route.and_then(|r| scopes::of(&parts.method, r));
        let caller = Caller {
            claims,
            call,
            alternatives: found.unwrap_or(&NONE),
        };
        if found.is_none() {
            // Never served without a documented scope.
            let e = ApiError::internal(format!(
                "{} {} documents no scope",
                parts.method,
                route.unwrap_or("(unmatched route)")
            ));
            return caller.check(Err(e)).await;
        }
        caller.require(caller.scopes()).await?;
        Ok(caller)
    }
}

/// Whether a verified machine token's client still exists and has not changed what its tokens
/// may carry since this one was made (from the in-memory catalog: no database read).
pub fn current_client(state: &AppState, claims: &AccessClaims) -> bool {
    state
        .catalog
        .load()
        .clients
        .get(&claims.client_id)
        .is_some_and(|c| claims.authz_ver.unwrap_or(i64::MIN) >= c.authz_version)
}

/// Whether a verified token still speaks for its subject (see
/// [`writ_service::access::current_user`] and [`current_client`]).
pub async fn is_current(state: &AppState, claims: &AccessClaims) -> bool {
    if claims.is_machine() {
        current_client(state, claims)
    } else {
        writ_service::access::current_user(state, claims)
            .await
            .is_some()
    }
}

/// For long-lived answers (the authz event stream): the token has not expired, still speaks
/// for its subject, and carries every one of `scopes`.
pub async fn still_allowed(state: &AppState, claims: &AccessClaims, scopes: &[String]) -> bool {
    claims.exp > writ_service::time::now()
        && scopes.iter().all(|s| claims.has_permission(s))
        && is_current(state, claims).await
}

impl Caller {
    /// Verifies the bearer token of a request.
    fn verify(parts: &Parts, state: &AppState) -> Result<AccessClaims, ApiError> {
        let token = match Bearer::of(&parts.headers) {
            Bearer::Token(t) => t,
            Bearer::Absent => return Err(ApiError::missing_token()),
            Bearer::Malformed => {
                return Err(ApiError::unauthorized(
                    "Bad HTTP authentication header format",
                    "malformed authorization header",
                ));
            }
        };
        match state.mgmt_verifier.verify(token) {
            Ok(c) => Ok(c),
            Err(VerifyError::Expired) => Err(ApiError::unauthorized(
                "Expired token received for JSON Web Token validation",
                "token expired",
            )),
            Err(VerifyError::Audience) => Err(ApiError::unauthorized(
                "Invalid token audience",
                "wrong audience",
            )),
            Err(e) => Err(ApiError::unauthorized(
                format!("Invalid token: {e}"),
                "invalid token",
            )),
        }
    }
}

/// Parses a JSON body, naming the offending property on error.
pub fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "Payload validation error: body is empty, a JSON object is expected.",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        if let Some(field) = msg
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            ApiError::bad_request(format!(
                "Payload validation error: 'Additional properties not allowed: {field}'."
            ))
        } else if let Some(field) = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            let at = if path == "." {
                String::new()
            } else {
                format!(" in {path}")
            };
            ApiError::bad_request(format!(
                "Payload validation error: 'Missing required property: {field}'{at}."
            ))
        } else if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("Invalid JSON: {msg}"))
        } else {
            ApiError::bad_request(format!(
                "Payload validation error: '{msg}' on property {path}."
            ))
        }
    })
}

/// Parses a query string.
pub fn query<T: DeserializeOwned + Default>(raw: Option<String>) -> Result<T, ApiError> {
    match raw {
        None => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(&q)
            .map_err(|e| ApiError::invalid_query(format!("Query validation error: {e}"))),
    }
}

/// A query string's parameters as `T` (see [`query`]); its rejection is not recorded, so
/// writes parse theirs with [`Caller::check`].
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Default + Send, S: Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        query(parts.uri.query().map(str::to_owned)).map(Params)
    }
}

/// Auth0's paging parameters; an extractor of the query string, like [`Params`].
#[derive(Debug, Default, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page index, starting at 0 (at most 2³¹−1, as documented and checked).
    #[param(minimum = 0, maximum = 2147483647)]
    pub page: Option<u32>,
    /// Items per page (default 50, at most 100).
    #[param(minimum = 0, maximum = 100)]
    pub per_page: Option<u32>,
    /// `true` returns `{start, limit, length, total, <items>}` instead of a bare array.
    pub include_totals: Option<bool>,
}

impl<S: Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Params::from_request_parts(parts, state).await?.0)
    }
}

impl Paging {
    pub fn page(&self) -> Result<Page, ApiError> {
        let per_page = self.per_page.unwrap_or(50);
        if per_page > 100 {
            return Err(ApiError::invalid_query(
                "Query validation error: 'Value must be less than or equal to 100' on property per_page.",
            ));
        }
        let page = self.page.unwrap_or(0);
        if page > i32::MAX as u32 {
            return Err(ApiError::invalid_query(
                "Query validation error: 'Value must be less than or equal to 2147483647' on property page.",
            ));
        }
        Ok(Page { page, per_page })
    }

    /// The list as Auth0 shapes it: a bare array, or `{start, limit, length, total, <key>}`.
    pub fn respond<T, L: List<T>>(&self, items: Vec<T>, total: i64) -> Result<L, ApiError> {
        let page = self.page()?;
        Ok(if self.include_totals.unwrap_or(false) {
            L::page(
                u64::try_from(page.offset()).unwrap_or(0),
                page.per_page,
                total,
                items,
            )
        } else {
            L::items(items)
        })
    }

    /// A list route's answer: one page read from the store, each item as `T` (see
    /// [`Paging::respond`]).
    pub fn answer<L, T, S>(&self, page: Paged<S>) -> Result<Response, ApiError>
    where
        L: List<T>,
        T: for<'a> From<&'a S>,
    {
        let list: L = self.respond(page.items.iter().map(T::from).collect(), page.total)?;
        Ok(ok(list))
    }
}

/// A `200 OK` JSON answer.
pub fn ok(v: impl Serialize) -> Response {
    axum::Json(v).into_response()
}

/// A `201 Created` JSON answer.
pub fn created(v: impl Serialize) -> Response {
    (StatusCode::CREATED, axum::Json(v)).into_response()
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
