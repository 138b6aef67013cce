//! `/admin/keys`: the signing keys of every algorithm with their state, rotation and the
//! revocation of rotated-out keys. Changes are the use cases of [`writ_service::key_rotation`].

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use writ_core::{KeyState, SigningAlg, SigningKey};
use writ_service::Writ;
use writ_service::audit::Operation;
use writ_service::key_rotation;

use super::auth::{Admin, Post};
use super::view::{self, Layout, ListQuery};

pub fn router() -> Router<Writ> {
    Router::new()
        .route("/admin/keys", get(page))
        .route("/admin/keys/rotate", post(rotate))
        .route("/admin/keys/revoke", post(revoke))
}

pub struct KeyRow {
    pub kid: String,
    pub state: &'static str,
    pub since: String,
    pub until: String,
    pub revocable: bool,
}

pub struct AlgKeys {
    pub alg: &'static str,
    /// APIs sign with it (else its keys stay out of the JWKS).
    pub in_use: bool,
    pub keys: Vec<KeyRow>,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    l: Layout,
    algs: Vec<AlgKeys>,
    can_rotate: bool,
    can_revoke: bool,
}

fn rank(s: KeyState) -> u8 {
    match s {
        KeyState::Current => 0,
        KeyState::Next => 1,
        KeyState::Previous => 2,
        KeyState::Revoked => 3,
    }
}

fn short(ts: &Option<String>) -> String {
    ts.as_deref()
        .map(|t| t.get(..16).unwrap_or(t).replace('T', " "))
        .unwrap_or_default()
}

async fn page(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = admin.need(&["read:signing_keys"]) {
        return r;
    }
    let mut keys: Vec<SigningKey> = match key_rotation::keys(&s).await {
        Ok(k) => k,
        Err(e) => return view::internal(&admin, e),
    };
    keys.sort_by(|a, b| {
        (rank(a.state), b.created_at.as_str()).cmp(&(rank(b.state), a.created_at.as_str()))
    });
    let catalog = s.catalog.load();
    let algs = SigningAlg::ALL
        .into_iter()
        .map(|alg| AlgKeys {
            alg: alg.as_str(),
            // ID tokens are always RS256.
            in_use: alg == SigningAlg::RS256 || catalog.apis.values().any(|a| a.signing_alg == alg),
            keys: keys
                .iter()
                .filter(|k| k.alg == alg)
                .map(|k| KeyRow {
                    kid: k.kid.clone(),
                    state: k.state.as_str(),
                    since: short(&k.current_since),
                    until: short(&k.current_until.clone().or(k.revoked_at.clone())),
                    revocable: k.state == KeyState::Previous,
                })
                .collect(),
        })
        .collect();
    let mut l = admin.layout("Signing keys", "keys");
    l.flash = ListQuery::parse(q).flash();
    view::render(
        StatusCode::OK,
        &KeysPage {
            l,
            algs,
            can_rotate: admin.can("create:signing_keys") && admin.can("update:signing_keys"),
            can_revoke: admin.can("update:signing_keys"),
        },
    )
}

async fn rotate(State(s): State<Writ>, post: Post) -> Response {
    let Post { admin, form } = post;
    if !form.confirmed() {
        return view::confirm(
            &admin,
            "Rotate the signing keys?",
            "For every algorithm, the next key becomes current and the current key is retired: it stays published until the tokens it signed expire, so nobody is signed out.",
            "/admin/keys/rotate",
            "Rotate keys",
            form.carried(),
            "/admin/keys",
        );
    }
    let op = Operation::new(
        "POST",
        "/keys/signing/rotate",
        "/keys/signing/rotate".into(),
        200,
    );
    let need = ["create:signing_keys", "update:signing_keys"];
    if let Err(r) = admin.may(&s, &need, op).await {
        return r;
    }
    match key_rotation::rotate(&s, admin.actor()).await {
        Ok(_) => view::see_other("/admin/keys?flash=rotated"),
        Err(e) => admin.failed("Not rotated", &e),
    }
}

async fn revoke(State(s): State<Writ>, post: Post) -> Response {
    let Post { admin, form } = post;
    let kid = form.text("kid");
    if !form.confirmed() {
        return view::confirm(
            &admin,
            "Revoke this key?",
            &format!(
                "The key {kid} leaves the JWKS at once: tokens it signed no longer verify anywhere."
            ),
            "/admin/keys/revoke",
            "Revoke key",
            form.carried(),
            "/admin/keys",
        );
    }
    let op = Operation::new(
        "PUT",
        "/keys/signing/{kid}/revoke",
        format!("/keys/signing/{kid}/revoke"),
        200,
    );
    if let Err(r) = admin.may(&s, &["update:signing_keys"], op).await {
        return r;
    }
    match key_rotation::revoke(&s, admin.actor(), &kid).await {
        Ok(_) => view::see_other("/admin/keys?flash=revoked"),
        Err(e) => admin.failed("Not revoked", &e),
    }
}
