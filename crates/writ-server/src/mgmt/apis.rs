//! `/api/v2/resource-servers`: APIs and their permission catalogs.

use writ_service::apis::{self, ApiInput, TokenClaimsInput};
use writ_service::signing_keys::EffectiveSigning;

use super::prelude::*;
use super::types::{ResourceServer, ResourceServerList, ResourceServerRequest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

impl From<ResourceServerRequest> for ApiInput {
    fn from(b: ResourceServerRequest) -> Self {
        ApiInput {
            identifier: b.identifier,
            name: b.name,
            scopes: b
                .scopes
                .map(|scopes| scopes.into_iter().map(Into::into).collect()),
            signing_alg: b.signing_alg,
            token_lifetime: b.token_lifetime,
            token_lifetime_for_web: b.token_lifetime_for_web,
            enforce_policies: b.enforce_policies,
            token_dialect: b.token_dialect,
            allow_offline_access: b.allow_offline_access,
            skip_consent_for_verifiable_first_party_clients: b
                .skip_consent_for_verifiable_first_party_clients,
            token_claims: b.token_claims.map(|t| TokenClaimsInput {
                roles: t.roles,
                roles_claim: t.roles_claim,
                groups: t.groups,
                groups_claim: t.groups_claim,
                authorization_extension: t.authorization_extension,
                authorization_claim: t.authorization_claim,
            }),
        }
    }
}

#[utoipa::path(
    get,
    path = "/resource-servers",
    operation_id = "get_resource_servers",
    tag = "resource-servers",
    summary = "List APIs",
    params(Paging),
    responses(
        (status = 200, description = "The APIs, including the built-in Management API.", body = types::ResourceServerList),
        schemas::QueryDenied,
    ),
    security(("bearer" = ["read:resource_servers"]))
)]
async fn list(c: Caller, paging: Paging) -> Result<Response, ApiError> {
    let page = c.store.list_resource_servers(paging.page()?).await?;
    let page = writ_store::Paged {
        total: page.total,
        items: page.items.into_iter().map(|rs| signed(&c, rs)).collect(),
    };
    paging.answer::<ResourceServerList, _, _>(page)
}

/// The API with what signs its tokens now (RS256 while its algorithm warms up).
fn signed(
    c: &Caller,
    rs: writ_core::ResourceServer,
) -> (writ_core::ResourceServer, EffectiveSigning) {
    let signing = c.effective_signing(rs.signing_alg);
    (rs, signing)
}

#[utoipa::path(
    post,
    path = "/resource-servers",
    operation_id = "post_resource_servers",
    tag = "resource-servers",
    summary = "Create an API",
    request_body(content = ResourceServerRequest, description = "`identifier` is required; every other property has a default."),
    responses(
        (status = 201, description = "The new API.", body = types::ResourceServer),
        schemas::BodyDenied,
        (status = 409, description = "An API with this identifier already exists.", body = types::Error),
    ),
    security(("bearer" = ["create:resource_servers"]))
)]
async fn create(c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let b: ResourceServerRequest = c.body(&bytes).await?;
    let rs = apis::create(&c, &c.actor(), b.into()).await?;
    Ok(created(ResourceServer::from(&signed(&c, rs))))
}

#[utoipa::path(
    get,
    path = "/resource-servers/{id}",
    operation_id = "get_resource_servers_by_id",
    tag = "resource-servers",
    summary = "Get an API",
    params(ApiId),
    responses(
        (status = 200, description = "The API. `signing_alg_effective` says what signs its tokens now: RS256 for a while after it starts needing an ES256 or EdDSA key, until `signing_alg_effective_until`.", body = types::ResourceServer),
        schemas::Denied<ApiId>,
    ),
    security(("bearer" = ["read:resource_servers"]))
)]
async fn read(c: Caller, Path(ApiId(id)): Path<ApiId>) -> Result<Response, ApiError> {
    let rs = c.store.get_resource_server(&id).await?;
    Ok(ok(ResourceServer::from(&signed(&c, rs))))
}

#[utoipa::path(
    patch,
    path = "/resource-servers/{id}",
    operation_id = "patch_resource_servers_by_id",
    tag = "resource-servers",
    summary = "Update an API",
    description = "`scopes` replaces the whole catalog; a removed scope is also removed from the roles and users that held it.",
    params(ApiId),
    request_body(content = ResourceServerRequest, description = "Properties to change; `identifier` cannot change."),
    responses(
        (status = 200, description = "The updated API.", body = types::ResourceServer),
        schemas::SystemBodyDenied<ApiId>,
    ),
    security(("bearer" = ["update:resource_servers"]))
)]
async fn update(
    c: Caller,
    Path(ApiId(id)): Path<ApiId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: ResourceServerRequest = c.body(&bytes).await?;
    let rs = apis::update(&c, &c.actor(), &id, b.into()).await?;
    Ok(ok(ResourceServer::from(&signed(&c, rs))))
}

#[utoipa::path(
    delete,
    path = "/resource-servers/{id}",
    operation_id = "delete_resource_servers_by_id",
    tag = "resource-servers",
    summary = "Delete an API",
    params(ApiId),
    responses(
        (status = 204, description = "Deleted."),
        schemas::SystemDenied<ApiId>,
    ),
    security(("bearer" = ["delete:resource_servers"]))
)]
async fn remove(c: Caller, Path(ApiId(id)): Path<ApiId>) -> Result<Response, ApiError> {
    apis::delete(&c, &c.actor(), &id).await?;
    Ok(no_content())
}
