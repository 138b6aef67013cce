//! `/api/v2/clients` and `/api/v2/client-grants`. Client secrets are 256-bit random values
//! stored as SHA-256: they are shown once, at creation and at rotation, never again.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::{get, patch, post};
use serde::Deserialize;
use serde_json::{Value, json};
use writ_core::Client;
use writ_service::clients::{self, ClientInput, GrantInput, RefreshInput};

use super::{Caller, ListQuery, created, no_content, ok, query, schemas};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clients", get(list).post(create))
        .route("/clients/{id}", get(read).patch(update).delete(remove))
        .route("/clients/{id}/rotate-secret", post(rotate_secret))
        .route("/client-grants", get(list_grants).post(create_grant))
        .route(
            "/client-grants/{id}",
            patch(update_grant).delete(remove_grant),
        )
}

pub fn client_json(c: &Client, secret: Option<&str>) -> Value {
    let mut v = json!({
        "client_id": c.client_id,
        "name": c.name,
        "description": c.description,
        "app_type": c.app_type.as_str(),
        "grant_types": c.grant_types,
        "callbacks": c.callbacks,
        "allowed_origins": c.allowed_origins,
        "web_origins": c.web_origins,
        "allowed_logout_urls": c.allowed_logout_urls,
        "is_first_party": c.is_first_party,
        "oidc_conformant": true,
        "token_endpoint_auth_method": if c.secret_hash.is_some() { "client_secret_post" } else { "none" },
        "jwt_configuration": { "alg": "RS256", "lifetime_in_seconds": writ_core::protocol::ID_TOKEN_LIFETIME },
        "refresh_token": {
            "rotation_type": if c.refresh_rotation { "rotating" } else { "non-rotating" },
            "expiration_type": "expiring",
            "leeway": c.refresh_leeway,
            "idle_token_lifetime": c.refresh_idle_lifetime,
            "token_lifetime": c.refresh_absolute_lifetime,
            "infinite_idle_token_lifetime": false,
            "infinite_token_lifetime": false,
        },
        "created_at": c.created_at,
    });
    if let Some(s) = secret {
        v["client_secret"] = json!(s);
    }
    v
}

/// Refresh-token settings to change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RefreshTokenRequest)]
struct RefreshBody {
    /// Default `rotating`.
    #[schema(value_type = Option<schemas::RotationType>)]
    rotation_type: Option<String>,
    /// Accepted for Auth0 compatibility and ignored (always `expiring`).
    expiration_type: Option<String>,
    /// Seconds a rotated token stays usable, 0 to 60 (default 0).
    #[schema(minimum = 0, maximum = 60)]
    leeway: Option<i64>,
    /// Seconds a refresh token lives unused, 0 to 31557600 (default 1296000).
    #[schema(minimum = 0, maximum = 31_557_600)]
    idle_token_lifetime: Option<i64>,
    /// Seconds a refresh token family lives at most, 0 to 31557600 (default 2592000).
    #[schema(minimum = 0, maximum = 31_557_600)]
    token_lifetime: Option<i64>,
    /// Accepted for Auth0 compatibility and ignored.
    infinite_idle_token_lifetime: Option<bool>,
    /// Accepted for Auth0 compatibility and ignored.
    infinite_token_lifetime: Option<bool>,
}

/// A client to create, or the properties of one to change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ClientRequest)]
struct Body {
    /// Display name, at most 200 characters. Required on create.
    name: Option<String>,
    description: Option<String>,
    /// Default `regular_web`.
    #[schema(value_type = Option<schemas::AppType>)]
    app_type: Option<String>,
    /// Default by `app_type`: `spa` and `native` get `authorization_code` and `refresh_token`,
    /// `non_interactive` gets `client_credentials`, `regular_web` gets all three.
    /// `client_credentials` requires a confidential client.
    #[schema(value_type = Option<Vec<schemas::GrantType>>)]
    grant_types: Option<Vec<String>>,
    /// Allowed redirect URLs: absolute, without fragment.
    callbacks: Option<Vec<String>>,
    /// Allowed CORS origins: `scheme://host[:port]` without path.
    allowed_origins: Option<Vec<String>>,
    /// Allowed web origins: `scheme://host[:port]` without path.
    web_origins: Option<Vec<String>>,
    /// Allowed post-logout redirect URLs: absolute, without fragment.
    allowed_logout_urls: Option<Vec<String>>,
    /// Default `true`.
    is_first_party: Option<bool>,
    /// Accepted for Auth0 compatibility and ignored (always `true`).
    oidc_conformant: Option<bool>,
    /// `none` makes a public client (no secret); `client_secret_post` or `client_secret_basic`
    /// a confidential one.
    #[schema(value_type = Option<schemas::TokenEndpointAuthMethod>)]
    token_endpoint_auth_method: Option<String>,
    refresh_token: Option<RefreshBody>,
}

impl From<RefreshBody> for RefreshInput {
    fn from(r: RefreshBody) -> Self {
        RefreshInput {
            rotation_type: r.rotation_type,
            expiration_type: r.expiration_type,
            leeway: r.leeway,
            idle_token_lifetime: r.idle_token_lifetime,
            token_lifetime: r.token_lifetime,
            infinite_idle_token_lifetime: r.infinite_idle_token_lifetime,
            infinite_token_lifetime: r.infinite_token_lifetime,
        }
    }
}

impl From<Body> for ClientInput {
    fn from(b: Body) -> Self {
        ClientInput {
            name: b.name,
            description: b.description,
            app_type: b.app_type,
            grant_types: b.grant_types,
            callbacks: b.callbacks,
            allowed_origins: b.allowed_origins,
            web_origins: b.web_origins,
            allowed_logout_urls: b.allowed_logout_urls,
            is_first_party: b.is_first_party,
            oidc_conformant: b.oidc_conformant,
            token_endpoint_auth_method: b.token_endpoint_auth_method,
            refresh_token: b.refresh_token.map(Into::into),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v2/clients",
    operation_id = "get_clients",
    tag = "clients",
    summary = "List clients",
    params(
        schemas::PagingParams,
    ),
    responses(
        (status = 200, description = "The clients (without secrets).", body = schemas::ClientList),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["read:clients"]))
)]
async fn list(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:clients").await?;
    let q: ListQuery = query(q)?;
    let page = s.store.list_clients(q.paging().page()?).await?;
    q.paging().respond(
        "clients",
        page.items.iter().map(|c| client_json(c, None)).collect(),
        page.total,
    )
}

#[utoipa::path(
    post,
    path = "/api/v2/clients",
    operation_id = "post_clients",
    tag = "clients",
    summary = "Create a client",
    description = "The default `grant_types` follow `app_type`. A client is confidential (gets a secret) unless `token_endpoint_auth_method` is `none`, or is omitted for a `spa` or `native` client.",
    request_body(content = Body, description = "`name` is required."),
    responses(
        (status = 201, description = "The new client; a confidential client's `client_secret` appears in this response only.", body = schemas::Client),
        (status = 400, description = schemas::E400_BODY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["create:clients"]))
)]
async fn create(State(s): State<AppState>, c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("create:clients").await?;
    let b: Body = c.body(&bytes).await?;
    let made = clients::create(&s, &c.actor(), b.into()).await?;
    Ok(created(client_json(&made.client, made.secret.as_deref())))
}

#[utoipa::path(
    get,
    path = "/api/v2/clients/{id}",
    operation_id = "get_clients_by_id",
    tag = "clients",
    summary = "Get a client",
    params(
        ("id" = String, Path, description = "The client's `client_id`."),
    ),
    responses(
        (status = 200, description = "The client (without its secret).", body = schemas::Client),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such client.", body = schemas::Error),
    ),
    security(("bearer" = ["read:clients"]))
)]
async fn read(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("read:clients").await?;
    Ok(ok(client_json(&s.store.get_client(&id).await?, None)))
}

#[utoipa::path(
    patch,
    path = "/api/v2/clients/{id}",
    operation_id = "patch_clients_by_id",
    tag = "clients",
    summary = "Update a client",
    description = "Setting `token_endpoint_auth_method` to `none` removes the secret; setting it to a secret method on a public client creates one.",
    params(
        ("id" = String, Path, description = "The client's `client_id`."),
    ),
    request_body(content = Body, description = "Properties to change."),
    responses(
        (status = 200, description = "The updated client; `client_secret` is included only when this change made a public client confidential.", body = schemas::Client),
        (status = 400, description = schemas::E400_BODY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such client.", body = schemas::Error),
    ),
    security(("bearer" = ["update:clients"]))
)]
async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:clients").await?;
    let b: Body = c.body(&bytes).await?;
    let changed = clients::update(&s, &c.actor(), &id, b.into()).await?;
    Ok(ok(client_json(&changed.client, changed.secret.as_deref())))
}

#[utoipa::path(
    delete,
    path = "/api/v2/clients/{id}",
    operation_id = "delete_clients_by_id",
    tag = "clients",
    summary = "Delete a client",
    params(
        ("id" = String, Path, description = "The client's `client_id`."),
    ),
    responses(
        (status = 204, description = "Deleted, with its client grants."),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such client.", body = schemas::Error),
    ),
    security(("bearer" = ["delete:clients"]))
)]
async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("delete:clients").await?;
    clients::delete(&s, &c.actor(), &id).await?;
    Ok(no_content())
}

#[utoipa::path(
    post,
    path = "/api/v2/clients/{id}/rotate-secret",
    operation_id = "post_rotate_secret",
    tag = "clients",
    summary = "Rotate a client's secret",
    params(
        ("id" = String, Path, description = "The client's `client_id`."),
    ),
    responses(
        (status = 200, description = "The client with its new `client_secret`, shown this once; the old secret stops working.", body = schemas::Client),
        (status = 400, description = "The client is public and has no secret.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such client.", body = schemas::Error),
    ),
    security(("bearer" = ["update:client_keys"]))
)]
async fn rotate_secret(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("update:client_keys").await?;
    let rotated = clients::rotate_secret(&s, &c.actor(), &id).await?;
    Ok(ok(client_json(&rotated.client, rotated.secret.as_deref())))
}

fn grant_json(g: &writ_core::ClientGrant) -> Value {
    json!({ "id": g.id, "client_id": g.client_id, "audience": g.audience, "scope": g.scope })
}

/// A client grant to create, or its new scopes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ClientGrantRequest)]
struct GrantBody {
    /// The confidential client. Required on create; cannot change.
    client_id: Option<String>,
    /// The API's identifier. Required on create; cannot change.
    audience: Option<String>,
    /// Scopes the API defines. Always required.
    scope: Option<Vec<String>>,
}

impl From<GrantBody> for GrantInput {
    fn from(b: GrantBody) -> Self {
        GrantInput {
            client_id: b.client_id,
            audience: b.audience,
            scope: b.scope,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v2/client-grants",
    operation_id = "get_client_grants",
    tag = "clients",
    summary = "List client grants",
    params(
        schemas::PagingParams,
        schemas::GrantFilter,
    ),
    responses(
        (status = 200, description = "The client grants.", body = schemas::ClientGrantList),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["read:client_grants"]))
)]
async fn list_grants(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:client_grants").await?;
    let q: ListQuery = query(q)?;
    let page = s
        .store
        .list_client_grants(
            q.client_id.as_deref(),
            q.audience.as_deref(),
            q.paging().page()?,
        )
        .await?;
    q.paging().respond(
        "client_grants",
        page.items.iter().map(grant_json).collect(),
        page.total,
    )
}

#[utoipa::path(
    post,
    path = "/api/v2/client-grants",
    operation_id = "post_client_grants",
    tag = "clients",
    summary = "Create a client grant",
    description = "Allows a confidential client to obtain tokens for an API with `client_credentials`.",
    request_body(content = GrantBody, description = "`client_id`, `audience` and `scope` are required."),
    responses(
        (status = 201, description = "The new client grant.", body = schemas::ClientGrant),
        (status = 400, description = "Invalid body, an unknown API or client, a scope the API does not define, or a public client.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 409, description = "The client already has a grant for this API.", body = schemas::Error),
    ),
    security(("bearer" = ["create:client_grants"]))
)]
async fn create_grant(
    State(s): State<AppState>,
    c: Caller,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("create:client_grants").await?;
    let b: GrantBody = c.body(&bytes).await?;
    let g = clients::create_grant(&s, &c.actor(), b.into()).await?;
    Ok(created(grant_json(&g)))
}

#[utoipa::path(
    patch,
    path = "/api/v2/client-grants/{id}",
    operation_id = "patch_client_grants_by_id",
    tag = "clients",
    summary = "Update a client grant",
    params(
        ("id" = String, Path, description = "The client grant's id."),
    ),
    request_body(content = GrantBody, description = "Only `scope` (required) can change; it replaces the current scopes."),
    responses(
        (status = 200, description = "The updated client grant.", body = schemas::ClientGrant),
        (status = 400, description = "Invalid body, a property other than `scope`, or a scope the API does not define.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such client grant.", body = schemas::Error),
    ),
    security(("bearer" = ["update:client_grants"]))
)]
async fn update_grant(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:client_grants").await?;
    let b: GrantBody = c.body(&bytes).await?;
    let g = clients::update_grant(&s, &c.actor(), &id, b.into()).await?;
    Ok(ok(grant_json(&g)))
}

#[utoipa::path(
    delete,
    path = "/api/v2/client-grants/{id}",
    operation_id = "delete_client_grants_by_id",
    tag = "clients",
    summary = "Delete a client grant",
    params(
        ("id" = String, Path, description = "The client grant's id."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such client grant.", body = schemas::Error),
    ),
    security(("bearer" = ["delete:client_grants"]))
)]
async fn remove_grant(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("delete:client_grants").await?;
    clients::delete_grant(&s, &c.actor(), &id).await?;
    Ok(no_content())
}
