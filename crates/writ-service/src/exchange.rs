//! The token exchanges that give a user's tokens for something the user obtained earlier: an
//! authorization code (PKCE S256, single use, bound to its client and redirect URI; a replay
//! revokes what the first use issued) and a refresh token (rotation with reuse detection). The
//! one place for these rules: the token endpoint's grant modules and the admin console's
//! sign-in both call [`code`], so the console's code is redeemed exactly as an SPA's is.
//!
//! [`user_tokens`] is the last step of both: the user, read just now (for a rotated refresh
//! token, by the rotation's own transaction), must still exist and not be blocked, the client
//! may have tokens for the API, and the permissions are evaluated now.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use writ_core::{Client, User};
use writ_store::{CodeOutcome, RefreshToken, RotateOutcome, Rotation};

use crate::Writ;
use crate::audit::{Exchange, Peer};
use crate::crypto::{random_token, sha256_hex};
use crate::oauth_error::OAuthRefusal;
use crate::time::now;
use crate::tokens::{self, LoginContext, Minted};

const INVALID_CODE: &str = "Invalid authorization code";
const INVALID_REFRESH: &str = "Unknown or invalid refresh token.";

/// A user's token response: the minted tokens, a refresh token when one was issued, and the
/// user's email (for the caller's audit entry, which then need not read the user again).
#[derive(Debug)]
pub struct UserTokens {
    pub minted: Minted,
    pub refresh_token: Option<String>,
    pub email: String,
}

/// An authorization code presented at the token endpoint, with what must match it.
#[derive(Debug, Clone, Copy)]
pub struct CodeRequest<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge, verifier 43–128 unreserved chars.
fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// Redeems an authorization code for `client` (already authenticated and allowed the
/// `authorization_code` grant): the user's tokens, with a refresh token when `offline_access`
/// was granted, the client may refresh and the API allows it. The exchange is audited.
pub async fn code(
    w: &Writ,
    peer: &Peer,
    client: &Client,
    r: CodeRequest<'_>,
) -> Result<UserTokens, OAuthRefusal> {
    let id = sha256_hex(r.code);
    let t = now();
    let invalid = || OAuthRefusal::invalid_grant(INVALID_CODE);
    let c = w
        .metrics
        .db("get_code", w.store.get_code(&id))
        .await?
        .ok_or_else(invalid)?;
    if c.used_at.is_some() {
        // A replay: the tokens the first use issued are revoked.
        return Err(replayed(w, peer, client, &id, t).await);
    }
    if c.client_id != client.client_id || t >= c.expires_at {
        return Err(invalid());
    }
    if r.redirect_uri != Some(c.redirect_uri.as_str()) {
        return Err(OAuthRefusal::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&c.code_challenge, r.code_verifier) {
        (Some(ch), Some(v)) if pkce_ok(v, ch) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthRefusal::invalid_grant(
                "Failed to verify code verifier",
            ));
        }
        (Some(_), None) => return Err(OAuthRefusal::invalid_grant("Missing code_verifier")),
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade
        // attempt (an attacker's code injected into a PKCE client's session).
        (None, Some(_)) => {
            return Err(OAuthRefusal::invalid_grant(
                "code_verifier was sent, but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    // Decide on a refresh token before the code is used, so both are recorded at once.
    let api = tokens::api_for(w, c.audience.as_deref())?;
    let login = LoginContext {
        auth_time: c.auth_time,
        nonce: c.nonce.as_deref(),
        sid: c.sid.as_deref(),
        amr: c.amr.as_deref(),
    };
    let (refresh, record) = if offline_granted(client, &api, &c.scope) {
        let audience = c.audience.as_deref();
        let (token, rec) = new_family(client, &c.user_id, audience, &c.scope, login, t);
        (Some(token), Some(rec))
    } else {
        (None, None)
    };
    let consumed = w.store.consume_code(&id, t, record.as_ref());
    match w.metrics.db("consume_code", consumed).await? {
        CodeOutcome::Fresh(_) => {}
        // Another request used it first, between our read and now.
        CodeOutcome::Reused(_) => return Err(replayed(w, peer, client, &id, t).await),
        CodeOutcome::Missing => return Err(invalid()),
    }
    let user = tokens::live_user(w, &c.user_id).await?;
    let issued = user_tokens(
        w,
        client,
        user,
        c.audience.as_deref(),
        &c.scope,
        login,
        refresh,
        "authorization_code",
    )
    .await?;
    let email = Some(issued.email.as_str());
    crate::audit::exchange(
        w,
        peer,
        &client.client_id,
        &c.user_id,
        email,
        Exchange::CodeExchanged,
    )
    .await;
    Ok(issued)
}

/// Whether a user's grant to `client` at `api` comes with a refresh token: `scope` holds
/// `offline_access`, the API allows offline access and the client may use the `refresh_token`
/// grant. The one rule for every grant that starts a family.
fn offline_granted(client: &Client, api: &writ_core::ResourceServer, scope: &str) -> bool {
    scope
        .split_ascii_whitespace()
        .any(|s| s == "offline_access")
        && api.allow_offline_access
        && client.allows_grant("refresh_token")
}

/// A new refresh-token family for a user's grant to `client` at `audience`: the token, to be
/// handed out once, and its record (only the token's SHA-256 is stored), with the login it
/// carries on and the client's lifetimes from `t`.
fn new_family(
    client: &Client,
    user_id: &str,
    audience: Option<&str>,
    scope: &str,
    login: LoginContext<'_>,
    t: i64,
) -> (String, RefreshToken) {
    let token = random_token(32);
    let record = RefreshToken {
        id: sha256_hex(&token),
        family_id: random_token(16),
        parent_id: None,
        client_id: client.client_id.clone(),
        user_id: user_id.to_owned(),
        audience: audience.map(str::to_owned),
        scope: scope.to_owned(),
        sid: login.sid.map(str::to_owned),
        auth_time: login.auth_time,
        created_at: t,
        idle_expires_at: t + client.refresh_idle_lifetime,
        family_expires_at: t + client.refresh_absolute_lifetime,
        used_at: None,
        revoked: false,
        amr: login.amr.map(str::to_owned),
    };
    (token, record)
}

/// The refresh token a direct grant (the password grant, and the second-factor grants that
/// finish it) issues beside the tokens it minted for `api`, as Auth0 does, on the code
/// exchange's rule ([`offline_granted`], with the `requested` scope). A new family, stored
/// before it is returned; `None` otherwise.
pub async fn direct_refresh(
    w: &Writ,
    client: &Client,
    user_id: &str,
    api: &writ_core::ResourceServer,
    requested: Option<&str>,
    login: LoginContext<'_>,
) -> Result<Option<String>, OAuthRefusal> {
    let scope = requested.unwrap_or_default();
    if !offline_granted(client, api, scope) {
        return Ok(None);
    }
    let audience = Some(api.identifier.as_str());
    let (token, record) = new_family(client, user_id, audience, scope, login, now());
    w.metrics
        .db("create_refresh", w.store.create_refresh(&record))
        .await?;
    Ok(Some(token))
}

/// A code presented again: using it once more revokes the refresh family its first use
/// recorded (in the store, atomically), and the attempt is audited.
async fn replayed(w: &Writ, peer: &Peer, client: &Client, id: &str, t: i64) -> OAuthRefusal {
    match w.store.consume_code(id, t, None).await {
        Ok(CodeOutcome::Reused(c)) => {
            crate::audit::exchange(
                w,
                peer,
                &client.client_id,
                &c.user_id,
                None,
                Exchange::CodeReused,
            )
            .await;
            tracing::warn!(client_id = %c.client_id, "authorization code reused; tokens it issued were revoked");
        }
        Ok(_) => {}
        Err(e) => return e.into(),
    }
    OAuthRefusal::invalid_grant(INVALID_CODE)
}

/// Redeems a refresh token for `client` (already authenticated and allowed the
/// `refresh_token` grant): with rotation on, a new refresh token replaces it, and a rotated
/// token presented again (after the client's leeway) revokes its whole family, audited. RBAC
/// is evaluated anew, so a refresh returns the user's current permissions.
pub async fn refresh(
    w: &Writ,
    peer: &Peer,
    client: &Client,
    presented: &str,
) -> Result<UserTokens, OAuthRefusal> {
    let id = sha256_hex(presented);
    let t = now();
    let invalid = || OAuthRefusal::invalid_grant(INVALID_REFRESH);
    // With rotation, the store reads the token as it uses it (one statement on the common
    // path): `cur` is then the child, which carries the presented token's grant unchanged.
    let (cur, next, user) = if client.refresh_rotation {
        let token = random_token(32);
        let child_id = sha256_hex(&token);
        let rotation = Rotation {
            id: &id,
            client_id: &client.client_id,
            child_id: &child_id,
            now: t,
            idle_lifetime: client.refresh_idle_lifetime,
            leeway: client.refresh_leeway,
        };
        let rotated = w.store.rotate_refresh(rotation);
        match w.metrics.db("rotate_refresh", rotated).await? {
            // The rotation read the user too.
            RotateOutcome::Rotated(child, user) => (child, Some(token), tokens::still_live(user)?),
            RotateOutcome::Reused(cur) => {
                w.metrics.refresh_reuse();
                let (client_id, user_id) = (&client.client_id, &cur.user_id);
                crate::audit::exchange(w, peer, client_id, user_id, None, Exchange::RefreshReused)
                    .await;
                tracing::warn!(%client_id, %user_id, "refresh token reuse detected; family revoked");
                return Err(invalid());
            }
            RotateOutcome::Invalid => return Err(invalid()),
        }
    } else {
        let cur = w
            .metrics
            .db("get_refresh", w.store.get_refresh(&id))
            .await?
            .ok_or_else(invalid)?;
        if cur.client_id != client.client_id
            || cur.revoked
            || t >= cur.family_expires_at
            || t >= cur.idle_expires_at
        {
            return Err(invalid());
        }
        let user = tokens::live_user(w, &cur.user_id).await?;
        (cur, None, user)
    };
    let login = LoginContext {
        auth_time: cur.auth_time,
        nonce: None,
        sid: cur.sid.as_deref(),
        amr: cur.amr.as_deref(),
    };
    let aud = cur.audience.as_deref();
    user_tokens(
        w,
        client,
        user,
        aud,
        &cur.scope,
        login,
        next,
        "refresh_token",
    )
    .await
}

/// A user's tokens for `client` (see [`tokens::for_user`]): `user` was read just now and
/// found live ([`tokens::still_live`]), and the client may have the API's tokens for users; the
/// access token carries the user's permissions as they are now; an ID token when `openid` was
/// granted; `refresh` is the refresh token the grant issued, if any.
#[allow(clippy::too_many_arguments)]
pub async fn user_tokens(
    w: &Writ,
    client: &Client,
    user: User,
    audience: Option<&str>,
    scope: &str,
    login: LoginContext<'_>,
    refresh: Option<String>,
    gty: &str,
) -> Result<UserTokens, OAuthRefusal> {
    crate::access::user_audience_allowed(w, client, audience)
        .map_err(|e| OAuthRefusal::access_denied(e.0))?;
    let api = tokens::api_for(w, audience)?;
    let evaluate = audience.is_some();
    let minted = tokens::for_user(
        w,
        client,
        &user,
        &api,
        evaluate,
        Some(scope),
        login,
        gty,
        true,
    )
    .await?;
    Ok(UserTokens {
        minted,
        refresh_token: refresh,
        email: user.email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256() {
        // RFC 7636 appendix B.
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_ok(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_ok(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cX"));
        assert!(!pkce_ok(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
