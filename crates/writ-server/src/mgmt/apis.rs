//! `/api/v2/resource-servers`: APIs and their permission catalogs.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use writ_core::{ResourceServer, Scope, SigningAlg, TokenDialect, validate};

use super::{Caller, ListQuery, body, created, no_content, ok, query, schemas};
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

/// Auth0's maximum access-token lifetime (30 days).
const MAX_LIFETIME: i64 = 2_592_000;

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

/// Applies a create/patch body to a record and validates the result.
fn apply(rs: &mut ResourceServer, b: Body) -> Result<(), ApiError> {
    if let Some(n) = b.name {
        rs.name = validate::name("name", &n, 200)?;
    }
    if let Some(scopes) = b.scopes {
        let mut seen = std::collections::HashSet::new();
        for (i, s) in scopes.iter().enumerate() {
            validate::scope_value(&format!("scopes[{i}].value"), &s.value)?;
            if !seen.insert(&s.value) {
                return Err(ApiError::bad_request(format!(
                    "Payload validation error: duplicate scope '{}' on property scopes.",
                    s.value
                )));
            }
        }
        if scopes.len() > 1000 {
            return Err(ApiError::bad_request(
                "Payload validation error: an API can define at most 1000 scopes.",
            ));
        }
        rs.scopes = scopes;
    }
    if let Some(a) = b.signing_alg {
        rs.signing_alg = SigningAlg::parse(&a).ok_or_else(|| {
            ApiError::bad_request(format!("Payload validation error: 'No enum match for: \"{a}\" (RS256, ES256, EdDSA)' on property signing_alg."))
        })?;
    }
    if let Some(t) = b.token_lifetime {
        if !(1..=MAX_LIFETIME).contains(&t) {
            return Err(ApiError::bad_request(format!(
                "Payload validation error: 'token_lifetime must be between 1 and {MAX_LIFETIME}' on property token_lifetime."
            )));
        }
        rs.token_lifetime = t;
    }
    let _ = b.token_lifetime_for_web;
    let _ = b.skip_consent_for_verifiable_first_party_clients;
    if let Some(e) = b.enforce_policies {
        rs.enforce_policies = e;
    }
    if let Some(d) = b.token_dialect {
        rs.token_dialect = TokenDialect::parse(&d).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Payload validation error: 'No enum match for: \"{d}\" (access_token, access_token_authz, rfc9068_profile, rfc9068_profile_authz)' on property token_dialect."
            ))
        })?;
    }
    if rs.token_dialect.includes_permissions() && !rs.enforce_policies {
        return Err(ApiError::bad_request(format!(
            "Payload validation error: 'token_dialect {} requires enforce_policies (RBAC) to be true' on property token_dialect.",
            rs.token_dialect.as_str()
        )));
    }
    if let Some(o) = b.allow_offline_access {
        rs.allow_offline_access = o;
    }
    Ok(())
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
    c.require("read:resource_servers")?;
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
    c.require("create:resource_servers")?;
    let mut b: Body = body(&bytes)?;
    let identifier = b.identifier.take().ok_or_else(|| {
        ApiError::bad_request("Payload validation error: 'Missing required property: identifier'.")
    })?;
    validate::identifier("identifier", &identifier)?;
    let mut rs = ResourceServer {
        id: String::new(),
        name: identifier.clone(),
        identifier,
        scopes: vec![],
        signing_alg: SigningAlg::RS256,
        token_lifetime: 86_400,
        enforce_policies: false,
        token_dialect: TokenDialect::AccessToken,
        allow_offline_access: false,
        is_system: false,
    };
    apply(&mut rs, b)?;
    let rs = s.store.create_resource_server(rs).await?;
    s.reload().await?;
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
    c.require("read:resource_servers")?;
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
    c.require("update:resource_servers")?;
    let b: Body = body(&bytes)?;
    let mut rs = s.store.get_resource_server(&id).await?;
    if rs.is_system {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "operation_not_supported",
            "The system API cannot be modified.",
        ));
    }
    if b.identifier.as_ref().is_some_and(|i| *i != rs.identifier) {
        return Err(ApiError::bad_request(
            "Payload validation error: 'identifier cannot be changed' on property identifier.",
        ));
    }
    apply(&mut rs, b)?;
    s.store.update_resource_server(&rs).await?;
    s.reload().await?;
    Ok(ok(rs_json(&s.store.get_resource_server(&rs.id).await?)))
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
    c.require("delete:resource_servers")?;
    let rs = s.store.get_resource_server(&id).await?;
    if rs.is_system {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "operation_not_supported",
            "The system API cannot be deleted.",
        ));
    }
    s.store.delete_resource_server(&rs.id).await?;
    s.reload().await?;
    Ok(no_content())
}
