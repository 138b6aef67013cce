//! `/admin/keys`: the signing keys of every algorithm with their state, rotation and the
//! revocation of rotated-out keys. Changes are the use cases of [`writ_service::key_rotation`].

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use writ_core::{KeyState, SigningAlg, SigningKey};
use writ_service::Writ;
use writ_service::audit::Operation;
use writ_service::key_rotation;

use super::auth::Post;
use super::view::{self, Admin, Answer, Ask, Layout, ListQuery};

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
    /// In use but still warming up in verifiers' JWKS caches: until when (`HH:MM:SS` UTC) the
    /// APIs that ask for it are signed with RS256.
    pub warming_until: Option<String>,
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

async fn page(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Answer {
    admin.need(&["read:signing_keys"])?;
    let mut keys: Vec<SigningKey> = admin.ok(key_rotation::keys(&s).await)?;
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
            warming_until: s
                .effective_signing(alg)
                .until
                .map(|t| t.format("%H:%M:%S").to_string()),
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
    Ok(view::render(
        StatusCode::OK,
        &KeysPage {
            l: admin
                .layout("Signing keys", "keys")
                .with_flash(ListQuery::parse(q).flash()),
            algs,
            can_rotate: admin.can("create:signing_keys") && admin.can("update:signing_keys"),
            can_revoke: admin.can("update:signing_keys"),
        },
    ))
}

const KEYS: &str = "/admin/keys";

async fn rotate(State(s): State<Writ>, Post { admin, form }: Post) -> Answer {
    let ask = Ask {
        heading: "Rotate the signing keys?".into(),
        detail: "For every algorithm, the next key becomes current and the current key is retired: it stays published until the tokens it signed expire, so nobody is signed out.".into(),
        button: "Rotate keys",
    };
    admin.confirmed(&form, KEYS, "rotate", ask)?;
    let op = Operation::new(
        "POST",
        "/keys/signing/rotate",
        "/keys/signing/rotate".into(),
        200,
    );
    let need = ["create:signing_keys", "update:signing_keys"];
    admin.may(&s, &need, op).await?;
    admin.done(
        key_rotation::rotate(&s, admin.actor()).await,
        "/admin/keys?flash=rotated",
        "Not rotated",
    )
}

async fn revoke(State(s): State<Writ>, Post { admin, form }: Post) -> Answer {
    let kid = form.text("kid");
    let ask = Ask {
        heading: "Revoke this key?".into(),
        detail: format!(
            "The key {kid} leaves the JWKS at once: tokens it signed no longer verify anywhere."
        ),
        button: "Revoke key",
    };
    admin.confirmed(&form, KEYS, "revoke", ask)?;
    let op = Operation::new(
        "PUT",
        "/keys/signing/{kid}/revoke",
        format!("/keys/signing/{kid}/revoke"),
        200,
    );
    admin.may(&s, &["update:signing_keys"], op).await?;
    admin.done(
        key_rotation::revoke(&s, admin.actor(), &kid).await,
        "/admin/keys?flash=revoked",
        "Not revoked",
    )
}
