//! Verification of Writ access tokens, for APIs and for Writ's own Management API.
//!
//! The rules are RFC 8725's and RFC 9068's: the algorithm is pinned by the key (never taken
//! from the token header), `none`/HMAC and header-supplied keys (`jku`, `x5u`, `jwk`, `x5c`) are
//! refused, `typ` must be `at+jwt`, `iss` must match exactly and `aud` must contain the API.
//!
#![cfg_attr(
    feature = "remote",
    doc = r##"
# Protecting an axum API

[`Guard`] discovers the issuer's keys and keeps them current; the [`Claims`] extractor and
the [`RequirePermissions`] layer answer `401`/`403` per RFC 6750.

```no_run
use axum::{Json, Router, extract::FromRef, routing::get};
use writ_guard::{Claims, Guard, GuardOptions, RequirePermissions};

#[derive(Clone)]
struct AppState { guard: Guard }
impl FromRef<AppState> for Guard {
    fn from_ref(s: &AppState) -> Guard { s.guard.clone() }
}

async fn list(Claims(claims): Claims) -> Json<Vec<String>> {
    Json(vec![format!("the todos of {}", claims.sub)])
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = Guard::discover("http://127.0.0.1:3000/", "https://todos.example/api",
        GuardOptions::default()).await?;
    let app = Router::new()
        .route("/todos", get(list).route_layer(RequirePermissions::all(["read:todos"])))
        .layer(guard.layer()) // lends the guard to the RequirePermissions layers
        .with_state(AppState { guard });
    axum::serve(tokio::net::TcpListener::bind("127.0.0.1:4000").await?, app).await?;
    Ok(())
}
```

"##
)]
//! # The verifier alone
//!
//! Without the default `remote` feature the crate is the [`Verifier`] over keys you supply:
//!
//! ```
//! use writ_guard::{KeySet, Verifier, VerifierConfig};
//! let jwks = serde_json::json!({"keys": []});
//! let keys = KeySet::from_jwks(&jwks).unwrap();
//! let verifier = Verifier::new(VerifierConfig::new("https://auth.example/", "https://todos.example/api"), keys);
//! assert!(verifier.verify("not.a.token").is_err());
//! ```

#[cfg(feature = "remote")]
mod middleware;
#[cfg(feature = "remote")]
mod remote;

#[cfg(feature = "remote")]
pub use middleware::{
    AuthError, Claims, GuardBody, GuardLayer, GuardService, RequirePermissions,
    RequirePermissionsService, bearer_token,
};
#[cfg(feature = "remote")]
pub use remote::{EventFeed, FeedOutage, Guard, GuardError, GuardOptions};

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
pub use writ_core::claims::{AccessClaims, Audience};

/// Why a token was refused. Every variant but [`VerifyError::FreshnessUnknown`] maps to
/// RFC 6750 `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("token too large")]
    TooLarge,
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token header: {0}")]
    Header(&'static str),
    #[error("wrong token type")]
    Type,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("algorithm does not match the key")]
    Algorithm,
    #[error("invalid signature")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong audience")]
    Audience,
    #[error("invalid claims")]
    Claims,
    /// The subject's permissions changed after the token was made (its `authz_ver` is below
    /// the latest version on Writ's authz event feed): get a new token.
    #[error("permissions changed")]
    PermissionsChanged,
    /// The guard follows the authz event feed with [`FeedOutage::Reject`] and has heard
    /// nothing from it for longer than `GuardOptions::feed_outage_after`: whether the
    /// token's permissions still hold cannot be known. Answered with `503`, not `401`, so
    /// clients retry rather than renew their token.
    #[error("permission changes cannot be checked right now")]
    FreshnessUnknown,
}

/// One verification key, its algorithm pinned.
struct Key {
    alg: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

/// Public keys by `kid`, built from a JWKS document. Non-signature and unsupported keys are skipped.
#[derive(Clone, Default)]
pub struct KeySet {
    raw: Vec<(String, Algorithm, DecodingKey)>,
}

fn pinned_alg(jwk: &Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::{AlgorithmParameters as P, EllipticCurve, KeyAlgorithm as K};
    let declared = jwk.common.key_algorithm;
    let by_type = match &jwk.algorithm {
        P::RSA(_) => Algorithm::RS256,
        P::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        P::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        _ => return None,
    };
    match declared {
        None => Some(by_type),
        Some(K::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(K::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(K::EdDSA) if by_type == Algorithm::EdDSA => Some(by_type),
        Some(_) => None,
    }
}

impl KeySet {
    /// Parses a JWKS (`{"keys":[...]}`), keeping RS256, ES256 (P-256) and EdDSA (Ed25519)
    /// signature keys that have a `kid`.
    pub fn from_jwks(jwks: &serde_json::Value) -> Result<Self, serde_json::Error> {
        let set: JwkSet = serde_json::from_value(jwks.clone())?;
        let mut raw = Vec::new();
        for jwk in &set.keys {
            let use_ok = !matches!(&jwk.common.public_key_use, Some(u) if *u != jsonwebtoken::jwk::PublicKeyUse::Signature);
            let (Some(kid), Some(alg), true) = (jwk.common.key_id.clone(), pinned_alg(jwk), use_ok)
            else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                raw.push((kid, alg, key));
            }
        }
        Ok(Self { raw })
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    fn build(&self, cfg: &VerifierConfig) -> HashMap<String, Arc<Key>> {
        self.raw
            .iter()
            .map(|(kid, alg, key)| {
                let mut v = Validation::new(*alg);
                v.set_issuer(&[&cfg.issuer]);
                v.set_audience(&[&cfg.audience]);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                v.leeway = cfg.leeway_secs;
                v.validate_nbf = true;
                (
                    kid.clone(),
                    Arc::new(Key {
                        alg: *alg,
                        key: key.clone(),
                        validation: v,
                    }),
                )
            })
            .collect()
    }
}

/// What the verifier expects of tokens.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// Exact `iss`, with Writ's trailing `/`.
    pub issuer: String,
    /// The API identifier that `aud` must contain.
    pub audience: String,
    /// Clock leeway for `exp`/`nbf`, seconds.
    pub leeway_secs: u64,
    /// Accept `typ: JWT` (Auth0's legacy tokens) besides `at+jwt`.
    pub allow_legacy_typ: bool,
    /// Tokens longer than this are refused before parsing.
    pub max_token_bytes: usize,
}

impl VerifierConfig {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: 30,
            allow_legacy_typ: false,
            max_token_bytes: 8192,
        }
    }
}

/// Verifies access tokens against a swappable key set. Cheap to clone and share.
#[derive(Clone)]
pub struct Verifier {
    cfg: Arc<VerifierConfig>,
    keys: Arc<ArcSwap<HashMap<String, Arc<Key>>>>,
}

impl Verifier {
    pub fn new(cfg: VerifierConfig, keys: KeySet) -> Self {
        let built = keys.build(&cfg);
        Self {
            cfg: Arc::new(cfg),
            keys: Arc::new(ArcSwap::from_pointee(built)),
        }
    }

    /// Replaces the keys (after a rotation or a JWKS refresh); in-flight verifications finish
    /// with the old set.
    pub fn set_keys(&self, keys: KeySet) {
        self.keys.store(Arc::new(keys.build(&self.cfg)));
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.cfg
    }

    /// Whether a key with this kid is known.
    pub fn knows_kid(&self, kid: &str) -> bool {
        self.keys.load().contains_key(kid)
    }

    /// Verifies a compact JWS access token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        if token.len() > self.cfg.max_token_bytes {
            return Err(VerifyError::TooLarge);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.jku.is_some()
            || header.x5u.is_some()
            || header.jwk.is_some()
            || header.x5c.is_some()
        {
            return Err(VerifyError::Header(
                "jku, x5u, jwk and x5c are not accepted",
            ));
        }
        if header.crit.is_some() {
            return Err(VerifyError::Header("crit is not supported"));
        }
        match header.typ.as_deref() {
            Some(t)
                if t.eq_ignore_ascii_case("at+jwt")
                    || t.eq_ignore_ascii_case("application/at+jwt") => {}
            Some(t) if self.cfg.allow_legacy_typ && t.eq_ignore_ascii_case("JWT") => {}
            _ => return Err(VerifyError::Type),
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let keys = self.keys.load();
        let key = keys.get(&kid).ok_or(VerifyError::UnknownKey)?;
        if header.alg != key.alg {
            return Err(VerifyError::Algorithm);
        }
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &key.validation).map_err(
            |e| {
                use jsonwebtoken::errors::ErrorKind as E;
                match e.kind() {
                    E::InvalidSignature | E::InvalidEcdsaKey | E::InvalidRsaKey(_) => {
                        VerifyError::Signature
                    }
                    E::ExpiredSignature => VerifyError::Expired,
                    E::ImmatureSignature => VerifyError::NotYetValid,
                    E::InvalidIssuer => VerifyError::Issuer,
                    E::InvalidAudience => VerifyError::Audience,
                    E::InvalidAlgorithm => VerifyError::Algorithm,
                    E::Base64(_) | E::Json(_) | E::Utf8(_) | E::InvalidToken => {
                        VerifyError::Malformed
                    }
                    _ => VerifyError::Claims,
                }
            },
        )?;
        Ok(data.claims)
    }
}
