//! `/api/v2/grants`: users' consents to third-party clients, in Auth0's shape and paths (Auth0
//! calls them grants; not to be confused with client grants). Listing needs `read:grants`,
//! revoking `delete:grants`. Revoking a consent also revokes that client's refresh tokens for
//! the user and makes the user's access tokens stale (see [`writ_service::consents`]), so the
//! client has to ask again.

use axum::extract::RawQuery;
use serde::Deserialize;
use writ_service::consents;
use writ_store::ConsentFilter;

use super::prelude::*;
use super::query;
use super::types::{UserGrantFilter, UserGrantList};

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
    c: Caller,
    paging: Paging,
    Params(q): Params<UserGrantFilter>,
) -> Result<Response, ApiError> {
    let filter = ConsentFilter {
        user_id: q.user_id,
        client_id: q.client_id,
        audience: q.audience,
    };
    let page = c.store.list_consents(&filter, paging.page()?).await?;
    paging.answer::<UserGrantList, _, _>(page)
}

#[utoipa::path(
    delete,
    path = "/grants/{id}",
    operation_id = "delete_grants_by_id",
    tag = "grants",
    summary = "Revoke a consent",
    description = "The client's refresh tokens for the user are revoked with it, and the user's access tokens become stale: the client must ask for consent again.",
    params(ConsentId),
    responses(
        (status = 204, description = "Revoked."),
        schemas::Denied<ConsentId>,
    ),
    security(("bearer" = ["delete:grants"]))
)]
async fn remove(c: Caller, Path(ConsentId(id)): Path<ConsentId>) -> Result<Response, ApiError> {
    consents::revoke(&c, &c.actor(), &id).await?;
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
async fn remove_by_user(c: Caller, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q: ByUser = c.check(query(q)).await?;
    consents::revoke_all_of(&c, &c.actor(), q.user_id.as_deref()).await?;
    Ok(no_content())
}
