//! `/api/v2/clients` and `/api/v2/client-grants`. Client secrets are 256-bit random values
//! stored as SHA-256: they are shown once, at creation and at rotation, never again.

use writ_service::clients::{self, ClientInput, GrantInput, RefreshInput};

use super::prelude::*;
use super::types::{
    Client, ClientGrant, ClientGrantList, ClientGrantRequest, ClientList, ClientRequest,
    GrantFilter, RefreshTokenRequest,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_grants, create_grant))
        .routes(routes!(update_grant, remove_grant))
}

impl From<RefreshTokenRequest> for RefreshInput {
    fn from(r: RefreshTokenRequest) -> Self {
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

impl From<ClientRequest> for ClientInput {
    fn from(b: ClientRequest) -> Self {
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
    path = "/clients",
    operation_id = "get_clients",
    tag = "clients",
    summary = "List clients",
    params(Paging),
    responses(
        (status = 200, description = "The clients (without secrets).", body = types::ClientList),
        schemas::QueryDenied,
    ),
    security(("bearer" = ["read:clients"]))
)]
async fn list(c: Caller, paging: Paging) -> Result<Response, ApiError> {
    let page = c.store.list_clients(paging.page()?).await?;
    paging.answer::<ClientList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/clients",
    operation_id = "post_clients",
    tag = "clients",
    summary = "Create a client",
    description = "The default `grant_types` follow `app_type`. A client is confidential (gets a secret) unless `token_endpoint_auth_method` is `none`, or is omitted for a `spa` or `native` client.",
    request_body(content = ClientRequest, description = "`name` is required."),
    responses(
        (status = 201, description = "The new client; a confidential client's `client_secret` appears in this response only.", body = types::Client),
        schemas::BodyDenied,
    ),
    security(("bearer" = ["create:clients"]))
)]
async fn create(c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let b: ClientRequest = c.body(&bytes).await?;
    let made = clients::create(&c, &c.actor(), b.into()).await?;
    Ok(created(Client::from(&made)))
}

#[utoipa::path(
    get,
    path = "/clients/{id}",
    operation_id = "get_clients_by_id",
    tag = "clients",
    summary = "Get a client",
    params(ClientId),
    responses(
        (status = 200, description = "The client (without its secret).", body = types::Client),
        schemas::Denied<ClientId>,
    ),
    security(("bearer" = ["read:clients"]))
)]
async fn read(c: Caller, Path(ClientId(id)): Path<ClientId>) -> Result<Response, ApiError> {
    Ok(ok(Client::from(&c.store.get_client(&id).await?)))
}

#[utoipa::path(
    patch,
    path = "/clients/{id}",
    operation_id = "patch_clients_by_id",
    tag = "clients",
    summary = "Update a client",
    description = "Setting `token_endpoint_auth_method` to `none` removes the secret; setting it to a secret method on a public client creates one.",
    params(ClientId),
    request_body(content = ClientRequest, description = "Properties to change."),
    responses(
        (status = 200, description = "The updated client; `client_secret` is included only when this change made a public client confidential.", body = types::Client),
        schemas::BodyDenied<ClientId>,
    ),
    security(("bearer" = ["update:clients"]))
)]
async fn update(
    c: Caller,
    Path(ClientId(id)): Path<ClientId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: ClientRequest = c.body(&bytes).await?;
    let changed = clients::update(&c, &c.actor(), &id, b.into()).await?;
    Ok(ok(Client::from(&changed)))
}

#[utoipa::path(
    delete,
    path = "/clients/{id}",
    operation_id = "delete_clients_by_id",
    tag = "clients",
    summary = "Delete a client",
    params(ClientId),
    responses(
        (status = 204, description = "Deleted, with its client grants."),
        schemas::Denied<ClientId>,
    ),
    security(("bearer" = ["delete:clients"]))
)]
async fn remove(c: Caller, Path(ClientId(id)): Path<ClientId>) -> Result<Response, ApiError> {
    clients::delete(&c, &c.actor(), &id).await?;
    Ok(no_content())
}

#[utoipa::path(
    post,
    path = "/clients/{id}/rotate-secret",
    operation_id = "post_rotate_secret",
    tag = "clients",
    summary = "Rotate a client's secret",
    params(ClientId),
    responses(
        (status = 200, description = "The client with its new `client_secret`, shown this once; the old secret stops working.", body = types::Client),
        (status = 400, description = "The client is public and has no secret.", body = types::Error),
        schemas::Denied<ClientId>,
    ),
    security(("bearer" = ["update:client_keys"]))
)]
async fn rotate_secret(
    c: Caller,
    Path(ClientId(id)): Path<ClientId>,
) -> Result<Response, ApiError> {
    let rotated = clients::rotate_secret(&c, &c.actor(), &id).await?;
    Ok(ok(Client::from(&rotated)))
}

impl From<ClientGrantRequest> for GrantInput {
    fn from(b: ClientGrantRequest) -> Self {
        GrantInput {
            client_id: b.client_id,
            audience: b.audience,
            scope: b.scope,
        }
    }
}

#[utoipa::path(
    get,
    path = "/client-grants",
    operation_id = "get_client_grants",
    tag = "clients",
    summary = "List client grants",
    params(Paging, GrantFilter),
    responses(
        (status = 200, description = "The client grants.", body = types::ClientGrantList),
        schemas::QueryDenied,
    ),
    security(("bearer" = ["read:client_grants"]))
)]
async fn list_grants(
    c: Caller,
    paging: Paging,
    Params(filter): Params<GrantFilter>,
) -> Result<Response, ApiError> {
    let page = c
        .store
        .list_client_grants(
            filter.client_id.as_deref(),
            filter.audience.as_deref(),
            paging.page()?,
        )
        .await?;
    paging.answer::<ClientGrantList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/client-grants",
    operation_id = "post_client_grants",
    tag = "clients",
    summary = "Create a client grant",
    description = "Allows a confidential client to obtain tokens for an API with `client_credentials`.",
    request_body(content = ClientGrantRequest, description = "`client_id`, `audience` and `scope` are required."),
    responses(
        (status = 201, description = "The new client grant.", body = types::ClientGrant),
        (status = 400, description = "Invalid body, an unknown API or client, a scope the API does not define, or a public client.", body = types::Error),
        schemas::Denied,
        (status = 409, description = "The client already has a grant for this API.", body = types::Error),
    ),
    security(("bearer" = ["create:client_grants"]))
)]
async fn create_grant(c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let b: ClientGrantRequest = c.body(&bytes).await?;
    let g = clients::create_grant(&c, &c.actor(), b.into()).await?;
    Ok(created(ClientGrant::from(&g)))
}

#[utoipa::path(
    patch,
    path = "/client-grants/{id}",
    operation_id = "patch_client_grants_by_id",
    tag = "clients",
    summary = "Update a client grant",
    params(ClientGrantId),
    request_body(content = ClientGrantRequest, description = "Only `scope` (required) can change; it replaces the current scopes."),
    responses(
        (status = 200, description = "The updated client grant.", body = types::ClientGrant),
        (status = 400, description = "Invalid body, a property other than `scope`, or a scope the API does not define.", body = types::Error),
        schemas::Denied<ClientGrantId>,
    ),
    security(("bearer" = ["update:client_grants"]))
)]
async fn update_grant(
    c: Caller,
    Path(ClientGrantId(id)): Path<ClientGrantId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: ClientGrantRequest = c.body(&bytes).await?;
    let g = clients::update_grant(&c, &c.actor(), &id, b.into()).await?;
    Ok(ok(ClientGrant::from(&g)))
}

#[utoipa::path(
    delete,
    path = "/client-grants/{id}",
    operation_id = "delete_client_grants_by_id",
    tag = "clients",
    summary = "Delete a client grant",
    params(ClientGrantId),
    responses(
        (status = 204, description = "Deleted."),
        schemas::Denied<ClientGrantId>,
    ),
    security(("bearer" = ["delete:client_grants"]))
)]
async fn remove_grant(
    c: Caller,
    Path(ClientGrantId(id)): Path<ClientGrantId>,
) -> Result<Response, ApiError> {
    clients::delete_grant(&c, &c.actor(), &id).await?;
    Ok(no_content())
}
