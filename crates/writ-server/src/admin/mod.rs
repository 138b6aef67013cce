//! The admin console at `/admin`: server-rendered pages (askama templates, no build step, no
//! assets from the internet) over APIs, roles, users, clients and signing keys.
//!
//! It exists so that an operator can run Writ without writing Management API calls by hand,
//! while Writ stays the one authority on who may do what: an admin signs in through Writ's own
//! hosted login (authorization code + PKCE for the built-in `writ-admin-console` client, audience
//! `{issuer}api/v2/`), and what the console shows or lets them change follows the `permissions`
//! of the resulting access token — Writ's own RBAC. The session lives on the server (an opaque
//! id in an HttpOnly, SameSite=Strict cookie; the token sealed in the store), and the token is
//! verified with writ-guard on every request (and refused once the admin's permissions changed,
//! so a revocation applies at once); logout or the admin's block ends it everywhere.
//!
//! Every change goes through the Management API's own handlers, called in process with the
//! admin's token ([`call`]): the same scope checks, validation, store calls, catalog reloads and
//! authz-version bumps as `/api/v2`, with nothing duplicated. Pages read through the store traits.
//!
//! Forms carry a per-session CSRF token and are refused (403) without it or from another
//! origin; destructive actions ask for confirmation (a dialog with JavaScript, a confirmation
//! page without).

mod apis;
mod auth;
mod call;
mod clients;
mod form;
mod keys;
mod logs;
mod overview;
mod roles;
mod users;
mod view;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub use auth::CONSOLE_CLIENT_ID;

/// The console's routes (merged into the main router, all under `/admin`).
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview::page))
        .route("/admin/", get(|| async { view::see_other("/admin") }))
        .route("/admin/login", get(auth::login))
        .route("/admin/callback", get(auth::callback))
        .route("/admin/logout", post(auth::logout))
        .route("/admin/signed-out", get(auth::signed_out))
        .merge(apis::router())
        .merge(roles::router())
        .merge(users::router())
        .merge(clients::router())
        .merge(keys::router())
        .merge(logs::router())
        .layer(axum::Extension(call::Mgmt::new(state)))
}
