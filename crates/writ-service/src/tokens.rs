//! Token minting, the one place for it: every grant of `/oauth/token` resolves the API, reads
//! the subject's permissions and signs its access token (RFC 9068) and ID token (OIDC) here, so
//! the claims, lifetimes, signing keys and the `authz_ver` freshness stamp cannot differ
//! between grants. The edge parses requests and shapes responses; nothing else signs a token.
//!
//! The machine path touches no database: the client, its grant, the API and the signing key
//! all come from the in-memory catalog, so its cost is the signature.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use writ_core::protocol::ID_TOKEN_LIFETIME;
use writ_core::rbac::{Granted, grant_for_client, grant_for_user};
use writ_core::{Client, ResourceServer, SigningAlg, User};
use writ_store::StoreError;

use crate::Writ;
use crate::crypto::random_token;
use crate::oauth_error::OAuthRefusal;
use crate::time::now;

/// What a grant issues: the access token, the scope it carries, its lifetime and, when
/// `openid` was granted, an ID token.
#[derive(Debug, Clone)]
pub struct Minted {
    pub access_token: String,
    pub scope: String,
    pub expires_in: i64,
    pub id_token: Option<String>,
    /// The API the access token is for (its identifier).
    pub audience: String,
}

/// The login an ID token describes.
#[derive(Debug, Clone, Copy)]
pub struct LoginContext<'a> {
    /// When the user authenticated (Unix seconds).
    pub auth_time: i64,
    /// The authorization request's `nonce`.
    pub nonce: Option<&'a str>,
    /// The SSO session's id.
    pub sid: Option<&'a str>,
    /// How the user authenticated: `amr` values, space-separated (`pwd`, `pwd otp mfa`); `None`
    /// when unknown (a login from before multi-factor authentication existed).
    pub amr: Option<&'a str>,
}

impl LoginContext<'_> {
    /// Whether the login used a second factor.
    pub fn with_mfa(&self) -> bool {
        self.amr
            .is_some_and(|a| a.split_ascii_whitespace().any(|v| v == "mfa"))
    }
}

/// `acr` for a login with a second factor (the value Auth0 and OpenID's PAPE use).
pub use writ_core::claims::ACR_MFA;

#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    auth_time: i64,
    azp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    /// Claims the post-login hooks added (restricted names already dropped).
    #[serde(flatten)]
    custom: &'a Map<String, Value>,
}

/// An access token's claims as signed: the field names and order of
/// [`writ_core::claims::AccessClaims`], borrowing everything so issuance copies no strings.
#[derive(Serialize)]
struct AccessClaimsOut<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: AudOut<'a>,
    iat: i64,
    exp: i64,
    jti: &'a str,
    client_id: &'a str,
    azp: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<&'a [String]>,
    gty: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authz_ver: Option<i64>,
}

/// `aud`: the API, plus `{issuer}userinfo` when the token may call `/userinfo` (Auth0's shape).
#[derive(Serialize)]
#[serde(untagged)]
enum AudOut<'a> {
    One(&'a str),
    Two([&'a str; 2]),
}

/// The API a client-credentials or password token is for: `audience` (Auth0) or `resource`
/// (RFC 8707); both given must agree.
pub fn resolve_api(
    w: &Writ,
    audience: Option<&str>,
    resource: Option<&str>,
) -> Result<Arc<ResourceServer>, OAuthRefusal> {
    let aud = match (audience, resource) {
        (Some(a), Some(r)) if a != r => {
            return Err(OAuthRefusal::InvalidTarget(
                "audience and resource differ".into(),
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Err(OAuthRefusal::access_denied(
                "No audience parameter was provided, and no default audience has been configured",
            ));
        }
    };
    w.catalog
        .load()
        .apis
        .get(aud)
        .cloned()
        .ok_or_else(|| OAuthRefusal::access_denied(format!("Service not found: {aud}")))
}

/// The API of a code or refresh token: the one recorded, or (none recorded) the built-in
/// `/userinfo` API.
pub fn api_for(w: &Writ, audience: Option<&str>) -> Result<Arc<ResourceServer>, OAuthRefusal> {
    match audience {
        None => Ok(Arc::new(w.userinfo_api())),
        Some(a) => w
            .catalog
            .load()
            .apis
            .get(a)
            .cloned()
            .ok_or_else(|| OAuthRefusal::invalid_grant(format!("Service not found: {a}"))),
    }
}

/// The standard claims and, after them, the claims an API asks for besides `permissions`.
#[derive(Serialize)]
struct WithExtra<'a> {
    #[serde(flatten)]
    claims: &'a AccessClaimsOut<'a>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// Signs an access token for `sub` at `api`, with `extra` claims (the user's roles or groups
/// when the API asks for them; names checked against the restricted ones). Returns
/// `(jwt, scope, expires_in)`.
#[allow(clippy::too_many_arguments)]
pub fn access_token(
    w: &Writ,
    api: &ResourceServer,
    client: &Client,
    sub: &str,
    granted: &Granted<'_>,
    gty: &str,
    authz_ver: Option<i64>,
    extra: &Map<String, Value>,
) -> Result<(String, String, i64), OAuthRefusal> {
    let iat = now();
    let scope = granted.scope_string();
    let jti = random_token(16);
    let userinfo = w.userinfo_audience();
    let with_userinfo = api.identifier != userinfo && granted.scope.iter().any(|s| s == "openid");
    let claims = AccessClaimsOut {
        iss: &w.config.issuer,
        sub,
        aud: if with_userinfo {
            AudOut::Two([&api.identifier, userinfo])
        } else {
            AudOut::One(&api.identifier)
        },
        iat,
        exp: iat + api.token_lifetime,
        jti: &jti,
        client_id: &client.client_id,
        azp: &client.client_id,
        scope: &scope,
        permissions: granted.permissions.as_deref(),
        gty,
        authz_ver,
    };
    let ring = w.keys.load();
    // RS256 while the API's algorithm warms up in verifiers' JWKS caches (see `signing_keys`).
    let signer = ring
        .signer_for(api.signing_alg, crate::time::now_utc().timestamp_millis())
        .ok_or_else(|| OAuthRefusal::server_error("no current signing key"))?;
    // Without extra claims the plain struct is signed (the hot path: no map serialization).
    let jwt = if extra.is_empty() {
        sign_within_limit(w, signer, client, sub, api, &claims)?
    } else {
        let claims = WithExtra {
            claims: &claims,
            extra,
        };
        sign_within_limit(w, signer, client, sub, api, &claims)?
    };
    Ok((jwt, scope, api.token_lifetime))
}

/// Signs `claims` as an access token, refused when over the configured size.
fn sign_within_limit(
    w: &Writ,
    signer: &crate::signing_keys::Signer,
    client: &Client,
    sub: &str,
    api: &ResourceServer,
    claims: &impl Serialize,
) -> Result<String, OAuthRefusal> {
    let jwt = signer
        .sign("at+jwt", claims)
        .map_err(OAuthRefusal::server_error)?;
    if jwt.len() > w.config.max_access_token_bytes {
        return Err(too_large(w, client, sub, api, claims, jwt.len()));
    }
    Ok(jwt)
}

/// The refusal of an access token over the configured size, naming the claim that makes most
/// of it; the refusal is also recorded in the audit log (a warning, `w`), in the background so
/// the token endpoint's hot path stays synchronous.
fn too_large(
    w: &Writ,
    client: &Client,
    sub: &str,
    api: &ResourceServer,
    claims: &impl Serialize,
    size: usize,
) -> OAuthRefusal {
    let limit = w.config.max_access_token_bytes;
    let sizes = serde_json::to_value(claims)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (v.to_string().len(), k));
    let (claim_bytes, claim) = sizes.max().unwrap_or((0, "permissions".into()));
    let message = format!(
        "The access token for {} would be {size} bytes, over the limit of {limit}: its {claim} claim ({claim_bytes} bytes) is too large.",
        api.identifier
    );
    tracing::warn!(client_id = %client.client_id, api = %api.identifier, %claim, size, limit, "access token over the size limit refused");
    let entry = crate::audit::Entry::new(crate::audit::types::WARNING, "Access token too large")
        .client(&client.client_id)
        .details(serde_json::json!({
            "audience": api.identifier, "claim": claim, "claim_bytes": claim_bytes,
            "token_bytes": size, "limit": limit,
        }));
    let entry = match sub.strip_suffix("@clients") {
        Some(_) => entry,
        None => entry.user(sub),
    };
    // Outside a runtime (a library caller minting directly) there is nowhere to record it:
    // the warning above stands alone, and nothing panics.
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let w = w.clone();
        rt.spawn(async move { crate::audit::record(&w, entry).await });
    }
    OAuthRefusal::invalid_request(message)
}

/// Signs an OIDC ID token (always RS256).
pub fn id_token(
    w: &Writ,
    client: &Client,
    user: &User,
    scope: &str,
    login: LoginContext<'_>,
    custom: &Map<String, Value>,
) -> Result<String, OAuthRefusal> {
    let iat = now();
    let has = |s: &str| scope.split(' ').any(|x| x == s);
    let claims = IdClaims {
        iss: &w.config.issuer,
        sub: &user.user_id,
        aud: &client.client_id,
        iat,
        exp: iat + ID_TOKEN_LIFETIME,
        auth_time: login.auth_time,
        azp: &client.client_id,
        nonce: login.nonce,
        sid: login.sid,
        amr: login.amr.map(|a| a.split_ascii_whitespace().collect()),
        acr: login.with_mfa().then_some(ACR_MFA),
        email: has("email").then_some(user.email.as_str()),
        email_verified: has("email").then_some(user.email_verified),
        name: if has("profile") {
            user.name.as_deref().or(Some(user.email.as_str()))
        } else {
            None
        },
        custom,
    };
    let ring = w.keys.load();
    let signer = ring
        .signer(SigningAlg::RS256)
        .ok_or_else(|| OAuthRefusal::server_error("no RS256 key"))?;
    signer
        .sign("JWT", &claims)
        .map_err(OAuthRefusal::server_error)
}

/// A machine token (client credentials) for `client` at `api`: the scopes of its client grant
/// (narrowed to `requested` when given), `sub = <client_id>@clients`, stamped with the
/// client's authz version.
pub async fn for_client(
    w: &Writ,
    client: &Client,
    api: &ResourceServer,
    requested: Option<&str>,
) -> Result<Minted, OAuthRefusal> {
    let catalog = w.catalog.load();
    let grant = catalog.grants.get(&client.client_id).and_then(|g| g.get(&api.identifier)).ok_or_else(|| {
        OAuthRefusal::access_denied(format!(
            "Client is not authorized to access \"{}\". You need to create a \"client-grant\" associated to this API.",
            api.identifier
        ))
    })?;
    let granted = grant_for_client(api, grant, requested);
    let hooked = crate::hooks::credentials_exchange(w, client, &api.identifier).await?;
    let (access_token, scope, expires_in) = access_token(
        w,
        api,
        client,
        &format!("{}@clients", client.client_id),
        &granted,
        "client-credentials",
        Some(client.authz_version),
        &hooked.access,
    )?;
    Ok(Minted {
        access_token,
        scope,
        expires_in,
        id_token: None,
        audience: api.identifier.clone(),
    })
}

/// The user a code or refresh token was issued for, if they still exist and are not blocked.
pub async fn live_user(w: &Writ, user_id: &str) -> Result<User, OAuthRefusal> {
    let user = match w.metrics.db("get_user", w.store.get_user(user_id)).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    still_live(user)
}

/// `user` as just read (`None`: no longer there), if they may still get tokens: they exist and
/// are not blocked. The one place that rule is written, for every grant that issues a user's
/// tokens from an earlier login (codes, refresh tokens).
pub fn still_live(user: Option<User>) -> Result<User, OAuthRefusal> {
    let user = user.ok_or_else(|| OAuthRefusal::invalid_grant("The user no longer exists."))?;
    if user.blocked {
        return Err(OAuthRefusal::invalid_grant("user is blocked"));
    }
    Ok(user)
}

/// A user's tokens for `client` at `api`: the user's current permissions there (evaluated
/// when `evaluate`, i.e. for a real API; the `/userinfo`-only API carries none), narrowed for
/// third-party clients, with an ID token when `openid` is granted. Stamped with the user's
/// authz version: `version_now` when the caller read `user` just now (its `authz_version` is
/// then current), otherwise read anew.
#[allow(clippy::too_many_arguments)]
pub async fn for_user(
    w: &Writ,
    client: &Client,
    user: &User,
    api: &ResourceServer,
    evaluate: bool,
    requested: Option<&str>,
    login: LoginContext<'_>,
    gty: &str,
    version_now: bool,
) -> Result<Minted, OAuthRefusal> {
    // A client may require a verified email (WRIT_REQUIRE_VERIFIED_EMAIL).
    crate::account::check_verified_email(w, &client.client_id, user)?;
    let (perms, version) = if evaluate {
        let (store, id, aud) = (w.store.as_ref(), &user.user_id, &api.identifier);
        let evaluated = async {
            if version_now {
                w.perms.get_at(store, id, aud, user.authz_version).await
            } else {
                w.perms.get(store, id, aud).await
            }
        };
        w.metrics.db("permissions", evaluated).await?
    } else {
        (Arc::new(Vec::new()), user.authz_version)
    };
    let mut granted = grant_for_user(api, requested, &perms);
    crate::access::narrow_for_client(client, &mut granted);
    let mut extra = if api.token_claims.any() {
        let memberships = w.memberships.get(w.store.as_ref(), &user.user_id, version);
        w.metrics.db("memberships", memberships).await?.claims(
            api,
            &w.config.issuer,
            &granted.scope,
            &perms,
        )
    } else {
        Map::new()
    };
    let hooked = crate::hooks::post_login(w, client, user).await?;
    // A hook asking for a second factor the login did not use: no tokens (the hosted page asks
    // for the factor before it gets here, the password grant answers `mfa_required`; see
    // `mfa`).
    if hooked.multifactor && !login.with_mfa() {
        return Err(OAuthRefusal::MfaRequired);
    }
    // APIs that ask for them (a Writ extension) learn how the user authenticated.
    if let Some(amr) = login.amr
        && w.config.mfa_amr_audiences.contains(&api.identifier)
    {
        let values: Vec<Value> = amr
            .split_ascii_whitespace()
            .map(|v| Value::String(v.to_owned()))
            .collect();
        extra.insert("amr".into(), Value::Array(values));
        if login.with_mfa() {
            extra.insert("acr".into(), Value::String(ACR_MFA.into()));
        }
    }
    for (k, v) in hooked.access {
        // Claims Writ itself computed (roles, groups) win over a hook's.
        extra.entry(k).or_insert(v);
    }
    let scope_str = granted.scope_string();
    let id_token = if granted.scope.iter().any(|s| s == "openid") {
        Some(id_token(w, client, user, &scope_str, login, &hooked.id)?)
    } else {
        None
    };
    let (access_token, scope, expires_in) = access_token(
        w,
        api,
        client,
        &user.user_id,
        &granted,
        gty,
        Some(version),
        &extra,
    )?;
    Ok(Minted {
        access_token,
        scope,
        expires_in,
        id_token,
        audience: api.identifier.clone(),
    })
}

/// The client of a valid ID token from this server, for `id_token_hint` at logout: signature
/// (RS256, a published key), issuer and `typ` checked, expiry not (a logout with an old ID
/// token is normal). The token must name one client: its `aud` (a string, or an array of one),
/// and `azp` when present must be that same client.
pub fn id_token_client(w: &Writ, token: &str) -> Option<String> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    // Access tokens (`at+jwt`) are signed by the same keys: never an ID token.
    if header.alg != jsonwebtoken::Algorithm::RS256 || header.typ.as_deref() != Some("JWT") {
        return None;
    }
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(w.keys.load().all_public.clone()).ok()?;
    let jwk = jwks.find(header.kid.as_deref()?)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).ok()?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.set_issuer(&[&w.config.issuer]);
    v.set_required_spec_claims(&["iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).ok()?;
    let aud = match &data.claims["aud"] {
        serde_json::Value::String(a) => a.clone(),
        serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str()?.to_owned(),
        _ => return None,
    };
    match &data.claims["azp"] {
        serde_json::Value::Null => {}
        serde_json::Value::String(azp) if *azp == aud => {}
        _ => return None,
    }
    Some(aud)
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_core::claims::AccessClaims;

    #[test]
    fn signed_claims_parse_as_access_claims() {
        let perms = vec!["read:todos".to_string()];
        let out = AccessClaimsOut {
            iss: "https://a.example/",
            sub: "usr_1",
            aud: AudOut::One("https://api.example/"),
            iat: 1,
            exp: 2,
            jti: "j",
            client_id: "c",
            azp: "c",
            scope: "openid read:todos",
            permissions: Some(&perms),
            gty: "password",
            authz_ver: Some(7),
        };
        let parsed: AccessClaims =
            serde_json::from_value(serde_json::to_value(&out).unwrap()).unwrap();
        assert_eq!(parsed.sub, "usr_1");
        assert!(parsed.aud.contains("https://api.example/"));
        assert_eq!(parsed.permissions.as_deref(), Some(&perms[..]));
        assert_eq!(parsed.gty.as_deref(), Some("password"));
        assert_eq!(parsed.authz_ver, Some(7));
        assert_eq!(parsed.scope, "openid read:todos");
    }

    #[test]
    fn only_an_existing_unblocked_user_is_still_live() {
        let user = |blocked| User {
            user_id: "usr_1".into(),
            email: "a@example.com".into(),
            email_verified: true,
            name: None,
            blocked,
            app_metadata: Default::default(),
            user_metadata: Default::default(),
            created_at: String::new(),
            updated_at: String::new(),
            authz_version: 3,
        };
        assert_eq!(still_live(Some(user(false))).unwrap(), user(false));
        for (read, why) in [
            (None, "The user no longer exists."),
            (Some(user(true)), "user is blocked"),
        ] {
            match still_live(read) {
                Err(OAuthRefusal::InvalidGrant(d)) => assert_eq!(d, why),
                other => panic!("{other:?}"),
            }
        }
    }
}
