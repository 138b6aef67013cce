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
//! The code is redeemed at the token endpoint, which belongs to the server: the binary hands
//! the console a [`CodeExchange`] that calls it in process.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

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

/// What the token endpoint issued for a [`CodeRedemption`].
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    /// Seconds.
    pub expires_in: i64,
}

/// Redeems a console sign-in's code at the token endpoint (in process), or says why not.
pub type CodeExchange = Arc<
    dyn Fn(Writ, CodeRedemption) -> Pin<Box<dyn Future<Output = Result<Issued, String>> + Send>>
        + Send
        + Sync,
>;

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
