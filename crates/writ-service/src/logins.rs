//! Password login, once: the hosted login form (`POST /u/login`) and the password grant
//! (`POST /oauth/token`) both call [`check`], so the brute-force rule, the verification, the
//! audit entry of every outcome and the upgrade of imported hashes cannot differ between them.
//!
//! The order matters: an attempt is reserved in the [`crate::limiter`] *before* the (slow,
//! queued) password verification and settled after it, so that parallel guesses cannot all be
//! verified before the first failure is counted. Unknown emails are verified against a dummy
//! hash at the same cost (see [`crate::crypto::PasswordHasherPool::verify`]).
//!
//! The SSO session a login starts ends here too ([`logout`]).

use writ_core::User;

use crate::Writ;
use crate::audit::{self, LoginOutcome, Peer, Via};
use crate::metrics::LoginFailure;

/// A password login to check.
pub struct Attempt<'a> {
    /// Which endpoint the attempt came through (recorded in the audit log).
    pub via: Via,
    /// Where from (behind a trusted proxy, the real client's address): the limiter counts per
    /// address, the audit log records it.
    pub peer: &'a Peer,
    /// The application the user logs in to.
    pub client_id: &'a str,
    /// The email as typed; compared trimmed and case-folded.
    pub username: &'a str,
    /// The password as typed. Never logged or recorded.
    pub password: &'a str,
}

/// Why a login was refused; each is already recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many failures (or attempts in flight) for this user from this IP: not verified.
    TooManyAttempts {
        /// Seconds until the next attempt may be made.
        retry_after: u64,
    },
    /// Unknown email or wrong password (the same answer for both).
    WrongCredentials,
    /// The password is right but the user is blocked.
    UserBlocked,
    /// The store failed (logged).
    Internal,
}

/// Checks a password login and returns the user. On success an imported hash is replaced by
/// argon2id; every outcome is recorded in the audit log.
pub async fn check(state: &Writ, a: Attempt<'_>) -> Result<User, Refused> {
    let started = std::time::Instant::now();
    let result = verify(state, a).await;
    let failure = match &result {
        Ok(_) => None,
        Err((_, f)) => Some(*f),
    };
    state.metrics.login(started.elapsed(), failure);
    result.map_err(|(r, _)| r)
}

/// [`check`], with the refusal's reason as the metrics count it.
async fn verify(state: &Writ, a: Attempt<'_>) -> Result<User, (Refused, LoginFailure)> {
    let email = a.username.trim().to_lowercase();
    let record = async |outcome: LoginOutcome<'_>| {
        audit::login(state, a.via, a.peer, a.client_id, &email, outcome).await
    };
    let slot = match state.limiter.reserve_login(
        a.peer.ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
        &email,
    ) {
        Ok(slot) => slot,
        Err(retry_after) => {
            record(LoginOutcome::TooManyAttempts).await;
            return Err((
                Refused::TooManyAttempts { retry_after },
                LoginFailure::TooManyAttempts,
            ));
        }
    };
    let creds = match state
        .metrics
        .db(
            "credentials_by_email",
            state.store.credentials_by_email(&email),
        )
        .await
    {
        Ok(c) => c,
        Err(e) => {
            // The slot is dropped unsettled: the attempt is given back.
            tracing::error!(error = %e, "password login: reading the user");
            return Err((Refused::Internal, LoginFailure::Error));
        }
    };
    let stored = creds.as_ref().and_then(|c| c.password_hash.clone());
    // One argon2 verification whatever the stored form, or a dummy one for an unknown email.
    let ok = state.hasher.verify(a.password, stored.as_deref()).await;
    let user = match creds {
        Some(c) if ok => c.user,
        other => {
            if slot.failed() {
                state.metrics.lockout();
            }
            let id = other.as_ref().map(|c| c.user.user_id.as_str());
            record(LoginOutcome::Failed(id)).await;
            let why = match id {
                Some(_) => LoginFailure::WrongPassword,
                None => LoginFailure::UnknownUser,
            };
            return Err((Refused::WrongCredentials, why));
        }
    };
    slot.succeeded();
    if user.blocked {
        record(LoginOutcome::Blocked(&user.user_id)).await;
        return Err((Refused::UserBlocked, LoginFailure::UserBlocked));
    }
    // An imported hash (bcrypt, PBKDF2, …) is replaced by argon2id now that the password is known.
    state
        .hasher
        .upgrade_if_needed(state.store.as_ref(), &user, a.password, stored.as_deref())
        .await;
    record(LoginOutcome::Success(&user.user_id)).await;
    Ok(user)
}

/// Ends the SSO session whose id (the SHA-256 of its cookie) is `session_id`, if it exists:
/// deletes it with its shared-signals `session-revoked` signal in one transaction, then records
/// the logout (`slo`). `false` when there was no such session (or another request ended it
/// first).
pub async fn logout(state: &Writ, peer: &Peer, session_id: &str, client_id: Option<&str>) -> bool {
    let Ok(Some(s)) = state.store.get_session(session_id).await else {
        return false;
    };
    let signal = crate::ssf::logged_out(&s.user_id);
    match state.store.end_session(session_id, &[signal]).await {
        Ok(true) => {}
        Ok(false) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "could not end an SSO session");
            return false;
        }
    }
    crate::ssf::signalled();
    audit::logout(state, peer, &s.user_id, client_id).await;
    true
}
