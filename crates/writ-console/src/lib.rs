//! The admin console at `/admin`: server-rendered pages (askama templates, no build step, no
//! assets from the internet) over APIs, roles, groups, users, clients, signing keys, actions (claim hooks), the audit log and the outbox of outgoing mail.
//!
//! It exists so that an operator can run Writ without writing Management API calls by hand,
//! while Writ stays the one authority on who may do what: an admin signs in through Writ's own
//! hosted login (authorization code + PKCE for the built-in `writ-admin-console` client, audience
//! `{issuer}api/v2/`), and what the console shows or lets them change follows the `permissions`
//! of the resulting access token — Writ's own RBAC, checked by the rule of
//! [`writ_service::access`]. The session lives on the server ([`writ_service::console`]: an
//! opaque id in an HttpOnly, SameSite=Strict cookie; the token sealed in the store), and the
//! token is verified with writ-guard on every request (and refused once the admin's permissions
//! changed, so a revocation applies at once); logout or the admin's block ends it everywhere.
//!
//! Every change calls the use case of `writ-service` the Management API calls too, with the
//! signed-in admin as the [`writ_service::Actor`] (the console's client, the admin, the
//! browser's address on the `console` channel): the same validation, store transaction, catalog
//! reload, authz-version bumps and audit entry as `/api/v2`, with nothing duplicated. A refused
//! input comes back as a [`writ_service::ServiceError`] naming its field, shown next to it.
//! Pages read through `writ-service` too.
//!
//! Forms carry a per-session CSRF token and are refused (403) without it or from another
//! origin; destructive actions ask for confirmation (a dialog with JavaScript, a confirmation
//! page without).
//!
//! The crate knows no server: the binary merges [`router`] into the server's router (under its
//! middleware, which sets the client's address).

#[macro_use]
mod auth;
mod actions;
mod apis;
mod cards;
mod change;
mod clients;
mod form;
mod groups;
mod http;
mod keys;
mod logs;
mod mail;
mod overview;
mod roles;
mod users;
mod view;

use axum::Router;
use axum::routing::{get, post};
use writ_service::Writ;

/// The console's routes, all under `/admin`, to merge into the server's router.
pub fn router() -> Router<Writ> {
    Router::new()
        .route("/admin", get(overview::page))
        .route("/admin/", get(|| async { view::see_other("/admin") }))
        .route("/admin/login", get(auth::login))
        .route("/admin/callback", get(auth::callback))
        .route("/admin/logout", post(auth::logout))
        .route("/admin/signed-out", get(auth::signed_out))
        .merge(apis::router())
        .merge(roles::router())
        .merge(groups::router())
        .merge(users::router())
        .merge(clients::router())
        .merge(keys::router())
        .merge(actions::router())
        .merge(logs::router())
        .merge(mail::router())
}
