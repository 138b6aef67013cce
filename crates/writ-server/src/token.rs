//! `POST /oauth/token`: client authentication and the `client_credentials` and `password`
//! grants, issuing RFC 9068 access tokens (and OIDC ID tokens when `openid` is asked for).
//!
//! The machine path touches no database: the client, its grant, the API and the signing key
//! all come from the in-memory catalog, so its cost is the signature.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use writ_core::rbac::{Granted, grant_for_client, grant_for_user};
use writ_core::{Client, ResourceServer, SigningAlg, User};

use crate::client_addr::ClientAddr;
use crate::error::OAuthError;
use crate::state::AppState;
use writ_service::crypto::{random_token, secret_matches};
use writ_service::logins::Refused;

use writ_core::protocol::ID_TOKEN_LIFETIME;

/// The parameters of a token request, from a form or a JSON body.
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub realm: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

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
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

pub(crate) fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<TokenRequest, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        serde_json::from_slice(body)
            .map_err(|e| OAuthError::invalid_request(format!("Invalid JSON body: {e}")))
    } else if ct.starts_with("application/x-www-form-urlencoded") || ct.is_empty() {
        serde_urlencoded::from_bytes(body)
            .map_err(|e| OAuthError::invalid_request(format!("Invalid form body: {e}")))
    } else {
        Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded or application/json",
        ))
    }
}

/// Credentials from `Authorization: Basic` (RFC 6749 §2.3.1: form-urlencoded id and secret).
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| OAuthError::invalid_request("Malformed Authorization header"))?;
    let Some(b64) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let bad = || {
        let mut e = OAuthError::invalid_client("Malformed Basic credentials");
        e.basic_challenge = true;
        e
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    let dec = |s: &str| -> Result<String, OAuthError> {
        let s = s.replace('+', " ");
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(bad)
    };
    Ok(Some((dec(id)?, dec(secret)?)))
}

/// Authenticates the client (Basic or post); public clients present only their id.
///
/// Failures are counted per (client, IP) — unknown ids together — and per IP (see
/// [`crate::limiter`]); a client blocked from this IP is refused before its secret is checked.
pub(crate) fn authenticate(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<std::sync::Arc<Client>, OAuthError> {
    let basic = basic_credentials(headers)?;
    let via_basic = basic.is_some();
    let (id, secret) = match (basic, &req.client_id) {
        (Some((id, s)), body_id) => {
            if body_id.as_ref().is_some_and(|b| *b != id) || req.client_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "Use one client authentication method",
                ));
            }
            (id, Some(s))
        }
        (None, Some(id)) => (id.clone(), req.client_secret.clone()),
        (None, None) => {
            return Err(OAuthError::invalid_request(
                "Missing required parameter: client_id",
            ));
        }
    };
    let catalog = state.catalog.load();
    let client = catalog.clients.get(&id);
    // The limiter's key: the client's id, or `None` for every id that does not exist.
    let key = client.map(|c| c.client_id.as_str());
    if let Some(wait) = state.limiter.client_blocked(ip, key) {
        return Err(OAuthError::too_many(
            "Too many failed client authentications; try again later",
            wait,
        ));
    }
    let fail = |msg: &str| {
        state.limiter.client_failed(ip, key);
        let mut e = OAuthError::invalid_client(msg);
        e.basic_challenge = via_basic;
        e
    };
    let Some(client) = client else {
        return Err(fail("Unknown client or invalid client credentials."));
    };
    match (&client.secret_hash, secret) {
        (Some(hash), Some(s)) if secret_matches(&s, hash) => Ok(client.clone()),
        (None, None) => Ok(client.clone()),
        (None, Some(_)) => Err(fail("This client is public and has no secret.")),
        _ => Err(fail("Unknown client or invalid client credentials.")),
    }
}

/// The API the token is for: `audience` (Auth0) or `resource` (RFC 8707).
fn resolve_api(
    state: &AppState,
    req: &TokenRequest,
) -> Result<std::sync::Arc<ResourceServer>, OAuthError> {
    let aud = match (&req.audience, &req.resource) {
        (Some(a), Some(r)) if a != r => {
            return Err(OAuthError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_target",
                "audience and resource differ",
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Err(OAuthError::access_denied(
                "No audience parameter was provided, and no default audience has been configured",
            ));
        }
    };
    state
        .catalog
        .load()
        .apis
        .get(aud)
        .cloned()
        .ok_or_else(|| OAuthError::access_denied(format!("Service not found: {aud}")))
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
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

/// Signs an access token for `sub` at `api`. Returns `(jwt, scope, expires_in)`.
pub fn access_token(
    state: &AppState,
    api: &ResourceServer,
    client: &Client,
    sub: &str,
    granted: &Granted<'_>,
    gty: &str,
    authz_ver: Option<i64>,
) -> Result<(String, String, i64), OAuthError> {
    let iat = now();
    let scope = granted.scope_string();
    let jti = random_token(16);
    let userinfo = state.userinfo_audience();
    let with_userinfo = api.identifier != userinfo && granted.scope.iter().any(|s| s == "openid");
    let claims = AccessClaimsOut {
        iss: &state.config.issuer,
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
    let ring = state.keys.load();
    let signer = ring
        .signer(api.signing_alg)
        .ok_or_else(|| OAuthError::server_error("no current signing key"))?;
    let jwt = signer
        .sign("at+jwt", &claims)
        .map_err(OAuthError::server_error)?;
    Ok((jwt, scope, api.token_lifetime))
}

/// Signs an OIDC ID token (always RS256).
pub fn id_token(
    state: &AppState,
    client: &Client,
    user: &User,
    scope: &str,
    auth_time: i64,
    nonce: Option<&str>,
    sid: Option<&str>,
) -> Result<String, OAuthError> {
    let iat = now();
    let has = |s: &str| scope.split(' ').any(|x| x == s);
    let claims = IdClaims {
        iss: &state.config.issuer,
        sub: &user.user_id,
        aud: &client.client_id,
        iat,
        exp: iat + ID_TOKEN_LIFETIME,
        auth_time,
        azp: &client.client_id,
        nonce,
        sid,
        email: has("email").then_some(user.email.as_str()),
        email_verified: has("email").then_some(user.email_verified),
        name: if has("profile") {
            user.name.as_deref().or(Some(user.email.as_str()))
        } else {
            None
        },
    };
    let ring = state.keys.load();
    let signer = ring
        .signer(SigningAlg::RS256)
        .ok_or_else(|| OAuthError::server_error("no RS256 key"))?;
    signer
        .sign("JWT", &claims)
        .map_err(OAuthError::server_error)
}

fn respond(
    access_token: String,
    scope: &str,
    expires_in: i64,
    id_token: Option<String>,
) -> Response {
    respond_with_refresh(access_token, scope, expires_in, id_token, None)
}

/// The token response, with `Cache-Control: no-store`.
pub(crate) fn respond_with_refresh(
    access_token: String,
    scope: &str,
    expires_in: i64,
    id_token: Option<String>,
    refresh_token: Option<String>,
) -> Response {
    let mut r = axum::Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        scope,
        id_token,
        refresh_token,
    })
    .into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

pub async fn token(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let req = parse_body(&headers, &body)?;
    let grant = req
        .grant_type
        .clone()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: grant_type"))?;
    let ip = addr.ip;
    match grant.as_str() {
        "client_credentials" => client_credentials(&state, ip, &headers, &req),
        "authorization_code" => crate::grants::authorization_code(&state, ip, &headers, &req).await,
        "refresh_token" => crate::grants::refresh_token(&state, ip, &headers, &req).await,
        "password" | "http://auth0.com/oauth/grant-type/password-realm" => {
            password(&state, ip, &headers, &req, &grant).await
        }
        other => Err(OAuthError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("Unsupported grant type: {other}"),
        )),
    }
}

fn client_credentials(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Response, OAuthError> {
    let client = authenticate(state, ip, headers, req)?;
    if client.secret_hash.is_none() || !client.allows_grant("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "Grant type 'client_credentials' not allowed for the client.",
        ));
    }
    let api = resolve_api(state, req)?;
    let catalog = state.catalog.load();
    let grant = catalog.grants.get(&client.client_id).and_then(|g| g.get(&api.identifier)).ok_or_else(|| {
        OAuthError::access_denied(format!(
            "Client is not authorized to access \"{}\". You need to create a \"client-grant\" associated to this API.",
            api.identifier
        ))
    })?;
    let granted = grant_for_client(&api, grant, req.scope.as_deref());
    let (jwt, scope, exp) = access_token(
        state,
        &api,
        &client,
        &format!("{}@clients", client.client_id),
        &granted,
        "client-credentials",
        Some(client.authz_version),
    )?;
    Ok(respond(jwt, &scope, exp, None))
}

async fn password(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
    grant: &str,
) -> Result<Response, OAuthError> {
    let client = authenticate(state, ip, headers, req)?;
    if !client.allows_grant(grant) && !client.allows_grant("password") {
        return Err(OAuthError::unauthorized_client(format!(
            "Grant type '{grant}' not allowed for the client."
        )));
    }
    if let Some(realm) = &req.realm
        && realm != writ_core::DEFAULT_CONNECTION
    {
        return Err(OAuthError::invalid_request(format!(
            "Unknown realm: {realm}"
        )));
    }
    let username = req
        .username
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: username"))?;
    let pw = req
        .password
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: password"))?;
    // Third-party clients act for a user only with consent given on the hosted page; and no
    // client but the console gets user tokens for the Management API. Both before the
    // password is looked at.
    if !client.is_first_party {
        return Err(OAuthError::unauthorized_client(
            "Third-party clients cannot use the password grant: users consent on the hosted login page.",
        ));
    }
    let api = resolve_api(state, req)?;
    writ_service::access::user_audience_allowed(state, &client, Some(&api.identifier))
        .map_err(|e| OAuthError::access_denied(e.0))?;
    let peer = crate::audit::peer(ip, headers);
    let attempt = writ_service::logins::Attempt {
        via: writ_service::audit::Via::PasswordGrant,
        peer: &peer,
        client_id: &client.client_id,
        username,
        password: pw,
    };
    let user = match writ_service::logins::check(state, attempt).await {
        Ok(user) => user,
        Err(Refused::TooManyAttempts { retry_after }) => {
            return Err(OAuthError::too_many(
                "Your account has been blocked after multiple consecutive login attempts from this address.",
                retry_after,
            ));
        }
        Err(Refused::WrongCredentials) => {
            return Err(OAuthError::invalid_grant("Wrong email or password."));
        }
        Err(Refused::UserBlocked) => return Err(OAuthError::invalid_grant("user is blocked")),
        Err(Refused::Internal) => return Err(OAuthError::server_error("login failed")),
    };
    let (perms, version) = state
        .perms
        .get(state.store.as_ref(), &user.user_id, &api.identifier)
        .await?;
    let granted = grant_for_user(&api, req.scope.as_deref(), &perms);
    let scope_str = granted.scope_string();
    let id = if scope_str.split(' ').any(|s| s == "openid") {
        Some(id_token(
            state,
            &client,
            &user,
            &scope_str,
            now(),
            None,
            None,
        )?)
    } else {
        None
    };
    let (jwt, scope, exp) = access_token(
        state,
        &api,
        &client,
        &user.user_id,
        &granted,
        "password",
        Some(version),
    )?;
    Ok(respond(jwt, &scope, exp, id))
}

/// The client of a valid ID token from this server, for `id_token_hint` at logout: signature
/// (RS256, a published key), issuer and `typ` checked, expiry not (a logout with an old ID
/// token is normal). The token must name one client: its `aud` (a string, or an array of one),
/// and `azp` when present must be that same client.
pub fn id_token_client(state: &AppState, token: &str) -> Option<String> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    // Access tokens (`at+jwt`) are signed by the same keys: never an ID token.
    if header.alg != jsonwebtoken::Algorithm::RS256 || header.typ.as_deref() != Some("JWT") {
        return None;
    }
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(state.keys.load().all_public.clone()).ok()?;
    let jwk = jwks.find(header.kid.as_deref()?)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).ok()?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.set_issuer(&[&state.config.issuer]);
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
}
