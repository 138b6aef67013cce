//! `/api/v2/resource-servers`: APIs and their permission catalogs.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};

use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use writ_core::{ResourceServer, Scope};
use writ_service::apis::{self, ApiInput};

use super::{Caller, ListQuery, created, no_content, ok, query, schemas};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/resource-servers", get(list).post(create))
        .route(
            "/resource-servers/{id}",
            get(read).patch(update).delete(remove),
        )
}

pub fn rs_json(rs: &ResourceServer) -> Value {
    json!({
        "id": rs.id,
        "name": rs.name,
        "identifier": rs.identifier,
        "scopes": rs.scopes,
        "signing_alg": rs.signing_alg.as_str(),
        "token_lifetime": rs.token_lifetime,
        "token_lifetime_for_web": rs.token_lifetime.min(7200),
        "enforce_policies": rs.enforce_policies,
        "token_dialect": rs.token_dialect.as_str(),
        "allow_offline_access": rs.allow_offline_access,
        "skip_consent_for_verifiable_first_party_clients": true,
        "is_system": rs.is_system,
    })
}

/// An API to create, or the properties of one to change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResourceServerRequest)]
struct Body {
    /// The audience of the API's tokens, usually a URL: 1 to 600 characters without whitespace.
    /// Required on create; cannot change.
    identifier: Option<String>,
    /// Display name, at most 200 characters (default: the identifier).
    name: Option<String>,
    /// The permission catalog (at most 1000, unique values); replaces the current one.
    #[schema(value_type = Option<Vec<schemas::Scope>>)]
    scopes: Option<Vec<Scope>>,
    /// Default `RS256`.
    #[schema(value_type = Option<schemas::SigningAlgorithm>)]
    signing_alg: Option<String>,
    /// Access-token lifetime in seconds, 1 to 2592000 (default 86400).
    #[schema(minimum = 1, maximum = 2_592_000)]
    token_lifetime: Option<i64>,
    /// Accepted for Auth0 compatibility and ignored (it is `min(token_lifetime, 7200)`).
    token_lifetime_for_web: Option<i64>,
    /// RBAC: tokens carry only the permissions the subject holds (default `false`).
    enforce_policies: Option<bool>,
    /// Default `access_token`; the `*_authz` dialects require `enforce_policies`.
    #[schema(value_type = Option<schemas::TokenDialect>)]
    token_dialect: Option<String>,
    /// Whether clients may obtain refresh tokens for this API (default `false`).
    allow_offline_access: Option<bool>,
    /// Accepted for Auth0 compatibility and ignored.
    skip_consent_for_verifiable_first_party_clients: Option<bool>,
}

impl From<Body> for ApiInput {
    fn from(b: Body) -> Self {
        ApiInput {
            identifier: b.identifier,
            name: b.name,
            scopes: b.scopes,
            signing_alg: b.signing_alg,
            token_lifetime: b.token_lifetime,
            token_lifetime_for_web: b.token_lifetime_for_web,
            enforce_policies: b.enforce_policies,
            token_dialect: b.token_dialect,
            allow_offline_access: b.allow_offline_access,
            skip_consent_for_verifiable_first_party_clients: b
                .skip_consent_for_verifiable_first_party_clients,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v2/resource-servers",
    operation_id = "get_resource_servers",
    tag = "resource-servers",
    summary = "List APIs",
    params(
        schemas::PagingParams,
    ),
    responses(
        (status = 200, description = "The APIs, including the built-in Management API.", body = schemas::ResourceServerList),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["read:resource_servers"]))
)]
async fn list(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:resource_servers").await?;
    let q: ListQuery = query(q)?;
    let page = s.store.list_resource_servers(q.paging().page()?).await?;
    q.paging().respond(
        "resource_servers",
        page.items.iter().map(rs_json).collect(),
        page.total,
    )
}

#[utoipa::path(
    post,
    path = "/api/v2/resource-servers",
    operation_id = "post_resource_servers",
    tag = "resource-servers",
    summary = "Create an API",
    request_body(content = Body, description = "`identifier` is required; every other property has a default."),
    responses(
        (status = 201, description = "The new API.", body = schemas::ResourceServer),
        (status = 400, description = schemas::E400_BODY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 409, description = "An API with this identifier already exists.", body = schemas::Error),
    ),
    security(("bearer" = ["create:resource_servers"]))
)]
async fn create(State(s): State<AppState>, c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("create:resource_servers").await?;
    let b: Body = c.body(&bytes).await?;
    let rs = apis::create(&s, &c.actor(), b.into()).await?;
    Ok(created(rs_json(&rs)))
}

#[utoipa::path(
    get,
    path = "/api/v2/resource-servers/{id}",
    operation_id = "get_resource_servers_by_id",
    tag = "resource-servers",
    summary = "Get an API",
    params(
        ("id" = String, Path, description = "The API's id or identifier (audience)."),
    ),
    responses(
        (status = 200, description = "The API.", body = schemas::ResourceServer),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such API.", body = schemas::Error),
    ),
    security(("bearer" = ["read:resource_servers"]))
)]
async fn read(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("read:resource_servers").await?;
    Ok(ok(rs_json(&s.store.get_resource_server(&id).await?)))
}

#[utoipa::path(
    patch,
    path = "/api/v2/resource-servers/{id}",
    operation_id = "patch_resource_servers_by_id",
    tag = "resource-servers",
    summary = "Update an API",
    description = "`scopes` replaces the whole catalog; a removed scope is also removed from the roles and users that held it.",
    params(
        ("id" = String, Path, description = "The API's id or identifier (audience)."),
    ),
    request_body(content = Body, description = "Properties to change; `identifier` cannot change."),
    responses(
        (status = 200, description = "The updated API.", body = schemas::ResourceServer),
        (status = 400, description = schemas::E400_BODY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = "The access token lacks the required scope, or the API is the built-in Management API.", body = schemas::Error),
        (status = 404, description = "No such API.", body = schemas::Error),
    ),
    security(("bearer" = ["update:resource_servers"]))
)]
async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:resource_servers").await?;
    let b: Body = c.body(&bytes).await?;
    let rs = apis::update(&s, &c.actor(), &id, b.into()).await?;
    Ok(ok(rs_json(&rs)))
}

#[utoipa::path(
    delete,
    path = "/api/v2/resource-servers/{id}",
    operation_id = "delete_resource_servers_by_id",
    tag = "resource-servers",
    summary = "Delete an API",
    params(
        ("id" = String, Path, description = "The API's id or identifier (audience)."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = "The access token lacks the required scope, or the API is the built-in Management API.", body = schemas::Error),
        (status = 404, description = "No such API.", body = schemas::Error),
    ),
    security(("bearer" = ["delete:resource_servers"]))
)]
async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("delete:resource_servers").await?;
    apis::delete(&s, &c.actor(), &id).await?;
    Ok(no_content())
}
