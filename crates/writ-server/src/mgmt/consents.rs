//! `/api/v2/grants`: users' consents to third-party clients, in Auth0's shape and paths (Auth0
//! calls them grants; not to be confused with client grants). Listing needs `read:grants`,
//! revoking `delete:grants`. Revoking a consent also revokes that client's refresh tokens for
//! the user and makes the user's access tokens stale (see [`writ_service::consents`]), so the
//! client has to ask again.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::Deserialize;
use writ_service::consents;
use writ_store::ConsentFilter;

use super::types::{self, UserGrantFilter, UserGrantList};
use super::{Caller, Paging, no_content, query, schemas};
use crate::error::ApiError;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, remove_by_user))
        .routes(routes!(remove))
}

#[utoipa::path(
    get,
    path = "/grants",
    operation_id = "get_grants",
    tag = "grants",
    summary = "List the consents users gave to third-party clients",
    params(Paging, UserGrantFilter),
    responses(
        (status = 200, description = "The consents, oldest first.", body = types::UserGrantList),
        schemas::QueryDenied,
    ),
    security(("bearer" = ["read:grants"]))
)]
async fn list(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:grants").await?;
    let paging: Paging = query(q.clone())?;
    let q: UserGrantFilter = query(q)?;
    let filter = ConsentFilter {
        user_id: q.user_id,
        client_id: q.client_id,
        audience: q.audience,
    };
    let page = s.store.list_consents(&filter, paging.page()?).await?;
    paging.answer::<UserGrantList, _, _>(page)
}

#[utoipa::path(
    delete,
    path = "/grants/{id}",
    operation_id = "delete_grants_by_id",
    tag = "grants",
    summary = "Revoke a consent",
    description = "The client's refresh tokens for the user are revoked with it, and the user's access tokens become stale: the client must ask for consent again.",
    params(
        ("id" = String, Path, description = "The consent's id."),
    ),
    responses(
        (status = 204, description = "Revoked."),
        schemas::Denied,
        (status = 404, description = "No such grant.", body = types::Error),
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
    path = "/grants",
    operation_id = "delete_grants_by_user_id",
    tag = "grants",
    summary = "Revoke every consent of a user",
    params(
        ("user_id" = String, Query, description = "The user whose consents to revoke."),
    ),
    responses(
        (status = 204, description = "Revoked (also when there was none)."),
        schemas::QueryDenied,
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
