//! `/api/v2/clients` and `/api/v2/client-grants`. Client secrets are 256-bit random values
//! stored as SHA-256: they are shown once, at creation and at rotation, never again.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::{get, patch, post};
use serde::Deserialize;
use serde_json::{Value, json};
use writ_core::{AppType, Client, validate};

use super::{Caller, ListQuery, body, created, no_content, ok, query, schemas};
use crate::error::ApiError;
use crate::state::AppState;
use writ_service::crypto::{random_alnum, random_token, sha256_hex};

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

const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "password",
    "http://auth0.com/oauth/grant-type/password-realm",
];

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

fn urls(field: &str, v: Vec<String>, origin_only: bool) -> Result<Vec<String>, ApiError> {
    for (i, u) in v.iter().enumerate() {
        validate::url(&format!("{field}[{i}]"), u, origin_only)?;
    }
    Ok(v)
}

/// Applies a body to a client. Returns whether the client must have a secret.
fn apply(c: &mut Client, b: Body, creating: bool) -> Result<Option<bool>, ApiError> {
    if let Some(n) = b.name {
        c.name = validate::name("name", &n, 200)?;
    }
    if let Some(d) = b.description {
        c.description = d;
    }
    if let Some(t) = b.app_type {
        c.app_type = AppType::parse(&t).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Payload validation error: 'No enum match for: \"{t}\" (spa, regular_web, non_interactive, native)' on property app_type."
            ))
        })?;
    }
    if let Some(g) = b.grant_types {
        for (i, t) in g.iter().enumerate() {
            if !GRANT_TYPES.contains(&t.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Payload validation error: 'Unsupported grant type: {t}' on property grant_types[{i}]."
                )));
            }
        }
        c.grant_types = g;
    } else if creating {
        c.grant_types = match c.app_type {
            AppType::Spa | AppType::Native => {
                vec!["authorization_code".into(), "refresh_token".into()]
            }
            AppType::NonInteractive => vec!["client_credentials".into()],
            AppType::RegularWeb => vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
        };
    }
    if let Some(v) = b.callbacks {
        c.callbacks = v;
    }
    if let Some(v) = b.allowed_origins {
        c.allowed_origins = urls("allowed_origins", v, true)?;
    }
    if let Some(v) = b.web_origins {
        c.web_origins = urls("web_origins", v, true)?;
    }
    if let Some(v) = b.allowed_logout_urls {
        c.allowed_logout_urls = v;
    }
    // Checked against the app type the client ends up with (a custom scheme only for native
    // apps), whichever of the two this body changes.
    let native = c.app_type == AppType::Native;
    for (field, list) in [
        ("callbacks", &c.callbacks),
        ("allowed_logout_urls", &c.allowed_logout_urls),
    ] {
        for (i, u) in list.iter().enumerate() {
            validate::redirect_url(&format!("{field}[{i}]"), u, native)?;
        }
    }
    if let Some(v) = b.is_first_party {
        c.is_first_party = v;
    }
    let _ = b.oidc_conformant;
    if let Some(r) = b.refresh_token {
        if let Some(t) = r.rotation_type {
            c.refresh_rotation = match t.as_str() {
                "rotating" => true,
                "non-rotating" => false,
                _ => {
                    return Err(ApiError::bad_request(
                        "Payload validation error: 'No enum match (rotating, non-rotating)' on property refresh_token.rotation_type.",
                    ));
                }
            };
        }
        let _ = (
            r.expiration_type,
            r.infinite_idle_token_lifetime,
            r.infinite_token_lifetime,
        );
        let bounded = |v: i64, f: &str, max: i64| -> Result<i64, ApiError> {
            if (0..=max).contains(&v) {
                Ok(v)
            } else {
                Err(ApiError::bad_request(format!(
                    "Payload validation error: 'must be between 0 and {max}' on property refresh_token.{f}."
                )))
            }
        };
        if let Some(v) = r.leeway {
            c.refresh_leeway = bounded(v, "leeway", 60)?;
        }
        if let Some(v) = r.idle_token_lifetime {
            c.refresh_idle_lifetime = bounded(v, "idle_token_lifetime", 31_557_600)?;
        }
        if let Some(v) = r.token_lifetime {
            c.refresh_absolute_lifetime = bounded(v, "token_lifetime", 31_557_600)?;
        }
    }
    let needs_secret = match b.token_endpoint_auth_method.as_deref() {
        None => None,
        Some("none") => Some(false),
        Some("client_secret_post" | "client_secret_basic") => Some(true),
        Some(m) => {
            return Err(ApiError::bad_request(format!(
                "Payload validation error: 'No enum match for: \"{m}\" (none, client_secret_post, client_secret_basic)' on property token_endpoint_auth_method."
            )));
        }
    };
    let public = needs_secret.map_or(
        c.app_type.is_public() && (creating || c.secret_hash.is_none()),
        |n| !n,
    );
    if public && c.allows_grant("client_credentials") {
        return Err(ApiError::bad_request(
            "Payload validation error: 'client_credentials requires a confidential client (token_endpoint_auth_method other than none)' on property grant_types.",
        ));
    }
    Ok(Some(!public))
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
    c.require("read:clients")?;
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
async fn create(
    State(s): State<AppState>,
    caller: Caller,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    caller.require("create:clients")?;
    let b: Body = body(&bytes)?;
    if b.name.is_none() {
        return Err(ApiError::bad_request(
            "Payload validation error: 'Missing required property: name'.",
        ));
    }
    let mut c = Client {
        client_id: random_alnum(32),
        name: String::new(),
        description: String::new(),
        app_type: AppType::RegularWeb,
        grant_types: vec![],
        callbacks: vec![],
        allowed_origins: vec![],
        web_origins: vec![],
        allowed_logout_urls: vec![],
        secret_hash: None,
        is_first_party: true,
        refresh_rotation: true,
        refresh_leeway: 0,
        refresh_idle_lifetime: 1_296_000,
        refresh_absolute_lifetime: 2_592_000,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        authz_version: 1,
    };
    let needs_secret = apply(&mut c, b, true)?.unwrap_or(true);
    let secret = needs_secret.then(|| random_token(32));
    c.secret_hash = secret.as_deref().map(sha256_hex);
    s.store.create_client(&c).await?;
    s.reload().await?;
    Ok(created(client_json(&c, secret.as_deref())))
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
    c.require("read:clients")?;
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
    caller: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    caller.require("update:clients")?;
    let b: Body = body(&bytes)?;
    let mut c = s.store.get_client(&id).await?;
    let explicit = b.token_endpoint_auth_method.is_some();
    let needs_secret = apply(&mut c, b, false)?.unwrap_or(true);
    let mut secret = None;
    if explicit && needs_secret && c.secret_hash.is_none() {
        // Public → confidential: it needs a secret now, shown in this response only.
        let s = random_token(32);
        c.secret_hash = Some(sha256_hex(&s));
        secret = Some(s);
    } else if explicit && !needs_secret {
        c.secret_hash = None;
    }
    s.store.update_client(&c).await?;
    s.reload().await?;
    Ok(ok(client_json(&c, secret.as_deref())))
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
    c.require("delete:clients")?;
    s.store.delete_client(&id).await?;
    s.reload().await?;
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
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require("update:client_keys")?;
    let mut c = s.store.get_client(&id).await?;
    if c.secret_hash.is_none() {
        return Err(ApiError::bad_request(
            "This client is public (token_endpoint_auth_method none) and has no secret.",
        ));
    }
    let secret = random_token(32);
    c.secret_hash = Some(sha256_hex(&secret));
    s.store.update_client(&c).await?;
    s.reload().await?;
    Ok(ok(client_json(&c, Some(&secret))))
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

async fn check_scopes(s: &AppState, audience: &str, scope: &[String]) -> Result<(), ApiError> {
    let api = s
        .store
        .get_resource_server(audience)
        .await
        .map_err(|e| match e {
            writ_store::StoreError::NotFound(_) => {
                ApiError::bad_request(format!("No resource server found for audience {audience}."))
            }
            e => e.into(),
        })?;
    for (i, sc) in scope.iter().enumerate() {
        if !api.has_scope(sc) {
            return Err(ApiError::bad_request(format!(
                "Payload validation error: 'Scope \"{sc}\" is not defined by the API {audience}' on property scope[{i}]."
            )));
        }
    }
    Ok(())
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
    c.require("read:client_grants")?;
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
    c.require("create:client_grants")?;
    let b: GrantBody = body(&bytes)?;
    let missing = |f: &str| {
        ApiError::bad_request(format!(
            "Payload validation error: 'Missing required property: {f}'."
        ))
    };
    let client_id = b.client_id.ok_or_else(|| missing("client_id"))?;
    let audience = b.audience.ok_or_else(|| missing("audience"))?;
    let scope = b.scope.ok_or_else(|| missing("scope"))?;
    check_scopes(&s, &audience, &scope).await?;
    let client = s.store.get_client(&client_id).await.map_err(|e| match e {
        writ_store::StoreError::NotFound(_) => {
            ApiError::bad_request(format!("Client {client_id} does not exist."))
        }
        e => e.into(),
    })?;
    if client.secret_hash.is_none() {
        return Err(ApiError::bad_request(
            "Client grants are for confidential (machine-to-machine) clients; this client is public.",
        ));
    }
    let g = s
        .store
        .create_client_grant(&client_id, &audience, &scope)
        .await?;
    s.reload().await?;
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
    c.require("update:client_grants")?;
    let b: GrantBody = body(&bytes)?;
    if b.client_id.is_some() || b.audience.is_some() {
        return Err(ApiError::bad_request(
            "Payload validation error: only scope can be changed.",
        ));
    }
    let scope = b.scope.ok_or_else(|| {
        ApiError::bad_request("Payload validation error: 'Missing required property: scope'.")
    })?;
    let audience = s
        .catalog
        .load()
        .grants
        .values()
        .flat_map(|by_aud| by_aud.values())
        .find(|g| g.id == id)
        .map(|g| g.audience.clone());
    let audience = audience.ok_or_else(|| ApiError::not_found("client grant"))?;
    check_scopes(&s, &audience, &scope).await?;
    let g = s.store.update_client_grant(&id, &scope).await?;
    s.reload().await?;
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
    c.require("delete:client_grants")?;
    s.store.delete_client_grant(&id).await?;
    s.reload().await?;
    Ok(no_content())
}
