//! `/api/v2/grants`: users' consents to third-party clients, in Auth0's shape and paths (Auth0
//! calls them grants; not to be confused with client grants). Listing needs `read:grants`,
//! revoking `delete:grants`. Revoking a consent also revokes that client's refresh tokens for
//! the user and makes the user's access tokens stale (see [`writ_service::consents`]), so the
//! client has to ask again.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::{delete, get};
use serde::Deserialize;
use serde_json::{Value, json};
use writ_service::consents;
use writ_store::{Consent, ConsentFilter};

use super::{Caller, Paging, no_content, query, schemas};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/grants", get(list).delete(remove_by_user))
        .route("/grants/{id}", delete(remove))
}

/// A consent as Auth0 returns a grant (note `clientID`).
pub fn consent_json(c: &Consent) -> Value {
    json!({
        "id": c.id,
        "clientID": c.client_id,
        "user_id": c.user_id,
        "audience": c.audience,
        "scope": c.scope,
    })
}

#[derive(Debug, Default, Deserialize)]
struct GrantsQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    include_totals: Option<bool>,
    user_id: Option<String>,
    client_id: Option<String>,
    audience: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v2/grants",
    operation_id = "get_grants",
    tag = "grants",
    summary = "List the consents users gave to third-party clients",
    params(schemas::PagingParams, schemas::UserGrantFilter),
    responses(
        (status = 200, description = "The consents, oldest first.", body = schemas::UserGrantList),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["read:grants"]))
)]
async fn list(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:grants").await?;
    let q: GrantsQuery = query(q)?;
    let paging = Paging {
        page: q.page,
        per_page: q.per_page,
        include_totals: q.include_totals,
    };
    let filter = ConsentFilter {
        user_id: q.user_id,
        client_id: q.client_id,
        audience: q.audience,
    };
    let page = s.store.list_consents(&filter, paging.page()?).await?;
    paging.respond(
        "grants",
        page.items.iter().map(consent_json).collect(),
        page.total,
    )
}

#[utoipa::path(
    delete,
    path = "/api/v2/grants/{id}",
    operation_id = "delete_grants_by_id",
    tag = "grants",
    summary = "Revoke a consent",
    description = "The client's refresh tokens for the user are revoked with it, and the user's access tokens become stale: the client must ask for consent again.",
    params(
        ("id" = String, Path, description = "The consent's id."),
    ),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such grant.", body = schemas::Error),
    ),
    security(("bearer" = ["delete:grants"]))
)]
async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("delete:grants").await?;
    consents::revoke(&s, &c.actor(), &id).await?;
    Ok(no_content())
}

#[derive(Debug, Default, Deserialize)]
struct ByUser {
    user_id: Option<String>,
}

#[utoipa::path(
    delete,
    path = "/api/v2/grants",
    operation_id = "delete_grants_by_user_id",
    tag = "grants",
    summary = "Revoke every consent of a user",
    params(
        ("user_id" = String, Query, description = "The user whose consents to revoke."),
    ),
    responses(
        (status = 204, description = "Revoked (also when there was none)."),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["delete:grants"]))
)]
async fn remove_by_user(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("delete:grants").await?;
    let q: ByUser = c.check(query(q)).await?;
    consents::revoke_all_of(&s, &c.actor(), q.user_id.as_deref()).await?;
    Ok(no_content())
}
