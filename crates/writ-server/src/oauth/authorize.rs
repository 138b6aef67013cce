//! `GET /authorize`, Auth0's way: the code flow with PKCE, response modes query, fragment,
//! form_post and web_message, SSO sessions (an HttpOnly cookie), `prompt`, `max_age`, and the
//! consent of third-party clients. The request's validation and its answers to the client are
//! [`super::request`]'s; what the user sees — the login, sign-up and consent pages and their
//! forms — is in [`crate::login`], which answers the request once the user is known.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use writ_service::time::now;

use super::request::{AuthorizeParams, check, live_session, redirect_error, validate};
use crate::http::client_addr::ClientAddr;
use crate::http::observe::ClientSlot;
use crate::login::consent::answer;
use crate::login::{login_page, pages};
use crate::state::AppState;

/// `GET /authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    addr: ClientAddr,
    slot: ClientSlot,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let raw = q.unwrap_or_default();
    let p: AuthorizeParams = match serde_urlencoded::from_str(&raw) {
        Ok(p) => p,
        Err(_) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The authorization request is malformed.",
            );
        }
    };
    let v = match validate(&state, p) {
        Ok(v) => v,
        Err(refused) => return *refused,
    };
    slot.note(&v.client.client_id);
    if let Err((e, d)) = check(&state, &v) {
        return redirect_error(&v, e, &d);
    }
    let force_login = v.prompts("login");
    if let Some(s) = live_session(&state, &headers).await {
        let too_old =
            v.p.max_age
                .as_deref()
                .and_then(|m| m.parse::<i64>().ok())
                .is_some_and(|m| now() - s.auth_time > m);
        let user_ok = state
            .store
            .get_user(&s.user_id)
            .await
            .map(|u| !u.blocked)
            .unwrap_or(false);
        if user_ok && !force_login && !too_old {
            return answer(&state, &addr, &v, &raw, &s).await.0;
        }
    }
    if v.prompts("none") {
        return redirect_error(&v, "login_required", "Login required");
    }
    login_page(&state, &addr, pages::Form::Login, &v, &raw, "", None, None)
}
