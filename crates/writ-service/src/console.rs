//! The admin console's server-side sessions, below the HTTP edge that sets their cookie.
//!
//! An admin signs in to the console through Writ's own hosted login (authorization code + PKCE
//! for the built-in console client, audience `{issuer}api/v2/`); the resulting access token is
//! the session. The browser holds only a random id; the store holds its SHA-256 with the token
//! sealed under the key-encryption key, bound to that id. Each request re-verifies the token and
//! that it still speaks for its user ([`crate::access::current_user`]), so a changed permission,
//! a block or a deletion applies at once; logout, and the user's block, deletion or password
//! change (in the store's transaction), delete the session, so a copied cookie opens nothing.
//!
//! The code is redeemed by [`redeem`], through the same rules as any client's code at the token
//! endpoint ([`crate::exchange::code`]), as the console's public client.

use std::net::IpAddr;

use writ_core::{CONSOLE_CLIENT_ID, User};
use writ_guard::AccessClaims;

use crate::Writ;
use crate::crypto::{random_token, sha256_hex};

/// A console sign-in's authorization code, to redeem as the console's public client.
#[derive(Debug, Clone)]
pub struct CodeRedemption {
    /// The admin's address (the token endpoint's limits and audit entries use it).
    pub ip: IpAddr,
    pub code: String,
    pub redirect_uri: String,
    /// The PKCE verifier of the sign-in.
    pub code_verifier: String,
}

/// What a [`CodeRedemption`] issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    /// Seconds.
    pub expires_in: i64,
}

/// Redeems a console sign-in's code as the console's public client, under the token
/// endpoint's rules (client authentication and its limits, PKCE, single use, audit); the error
/// is the sentence the sign-in page shows.
pub async fn redeem(w: &Writ, r: CodeRedemption) -> Result<Issued, String> {
    let failed = |e: crate::OAuthRefusal| match e {
        // The detail is for the log, never the page.
        crate::OAuthRefusal::ServerError(detail) => {
            tracing::error!(error = %detail, "internal error in the console's code exchange");
            "The code exchange failed: Internal error".to_string()
        }
        e => format!("The code exchange failed: {e}"),
    };
    let presented = crate::client_auth::Presented {
        client_id: Some(CONSOLE_CLIENT_ID),
        ..Default::default()
    };
    let client = crate::client_auth::authenticate(w, r.ip, presented).map_err(failed)?;
    if !client.allows_grant("authorization_code") {
        return Err(failed(crate::OAuthRefusal::unauthorized_client(
            "Grant type 'authorization_code' not allowed for the client.",
        )));
    }
    let peer = crate::audit::Peer::new(r.ip, None);
    let request = crate::exchange::CodeRequest {
        code: &r.code,
        redirect_uri: Some(&r.redirect_uri),
        code_verifier: Some(&r.code_verifier),
    };
    let issued = crate::exchange::code(w, &peer, &client, request)
        .await
        .map_err(failed)?;
    Ok(Issued {
        access_token: issued.minted.access_token,
        expires_in: issued.minted.expires_in,
    })
}

/// A live console session: the admin's verified token and who they are.
pub struct Session {
    pub claims: AccessClaims,
    pub user: User,
}

/// The session whose cookie value is `cookie`, if it is live: it exists and has not expired,
/// its sealed token is a valid Management API token from the console's client for the session's
/// user, who still exists, is not blocked and whose permissions did not change since.
pub async fn open(w: &Writ, cookie: &str) -> Option<Session> {
    let id = sha256_hex(cookie);
    let rec = w.store.get_console_session(&id).await.ok()??;
    if rec.expires_at <= crate::time::now() {
        let _ = w.store.delete_console_session(&id).await;
        return None;
    }
    let token = String::from_utf8(w.cipher.open(&id, &rec.token)?).ok()?;
    let claims = w.mgmt_verifier.verify(&token).ok()?;
    if claims.is_machine() || claims.client_id != CONSOLE_CLIENT_ID || claims.sub != rec.user_id {
        return None;
    }
    // Changed permissions: a fresh token (silently, through the SSO session) says what now.
    let user = crate::access::current_user(w, &claims).await?;
    Some(Session { claims, user })
}

/// Opens a session for the access token the console's sign-in obtained: returns the cookie
/// value (random; the store keeps its SHA-256 and the token sealed, bound to that id) and its
/// lifetime. The error is the sentence the sign-in page shows.
pub async fn start(w: &Writ, issued: &Issued) -> Result<(String, i64), String> {
    let claims = w
        .mgmt_verifier
        .verify(&issued.access_token)
        .map_err(|e| format!("The console's access token does not verify: {e}"))?;
    let expires_in = issued.expires_in.max(1);
    let cookie = random_token(32);
    let id = sha256_hex(&cookie);
    let now = crate::time::now();
    w.store
        .create_console_session(&writ_store::ConsoleSession {
            token: w.cipher.seal(&id, issued.access_token.as_bytes()),
            id,
            user_id: claims.sub,
            created_at: now,
            expires_at: now + expires_in,
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storing a console session");
            "The console session could not be stored.".to_string()
        })?;
    Ok((cookie, expires_in))
}

/// Ends the session whose cookie value is `cookie` (a copy of the cookie opens nothing after).
pub async fn end(w: &Writ, cookie: &str) {
    if let Err(e) = w.store.delete_console_session(&sha256_hex(cookie)).await {
        tracing::error!(error = %e, "ending a console session");
    }
}
