//! Sign-up, once: the hosted page (`POST /u/signup`) and Auth0's `POST /dbconnections/signup`
//! (for SPAs with their own form) both call [`sign_up`], so the checks cannot differ between
//! them: sign-up enabled, the per-address limit, a valid email, the password policy, then the
//! user in the built-in connection with no role (permissions come when an admin grants them),
//! and the verification email when `WRIT_SIGNUP_VERIFY_EMAIL` is on.
//!
//! Whether the email was registered before is not told: the password is hashed either way (the
//! same work), and an existing account is left unchanged and answered like a new one.

use std::net::{IpAddr, Ipv4Addr};

use writ_core::User;
use writ_core::password_policy::Weakness;

use crate::Writ;
use crate::audit::{self, Peer};

/// A sign-up to make.
pub struct SignUp<'a> {
    /// Where from (behind a trusted proxy, the real client's address): the limit is per address.
    pub peer: &'a Peer,
    /// The application the user signs up through (recorded in the audit log).
    pub client_id: &'a str,
    /// The email as typed.
    pub email: &'a str,
    /// The password as typed. Never logged or recorded.
    pub password: &'a str,
    /// The user's name, if given.
    pub name: Option<&'a str>,
}

/// How a sign-up ended, when it was not refused.
#[derive(Debug)]
pub enum SignedUp {
    /// A new user.
    Created(User),
    /// The email was registered already; nothing changed (answer as for [`SignedUp::Created`]).
    AlreadyRegistered,
}

/// Why a sign-up was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// `WRIT_SIGNUP_ENABLED` is off.
    Disabled,
    /// Too many sign-ups from this address: seconds until the next may be made.
    TooMany {
        /// Seconds until the next attempt may be made.
        retry_after: u64,
    },
    /// Not an email address.
    InvalidEmail,
    /// The name is empty or too long.
    InvalidName,
    /// The password policy refused the password.
    WeakPassword(Weakness),
    /// The store or the hasher failed (logged).
    Internal,
}

/// Signs a user up (see the module doc); every check of both sign-up paths is here.
pub async fn sign_up(w: &Writ, s: SignUp<'_>) -> Result<SignedUp, Refused> {
    if !w.config.signup_enabled {
        return Err(Refused::Disabled);
    }
    let ip = s.peer.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    w.limiter
        .signup_attempt(ip)
        .map_err(|retry_after| Refused::TooMany { retry_after })?;
    let email = writ_core::validate::email("email", s.email).map_err(|_| Refused::InvalidEmail)?;
    let name = s
        .name
        .map(|n| writ_core::validate::name("name", n, 300))
        .transpose()
        .map_err(|_| Refused::InvalidName)?;
    w.config
        .password_policy
        .check(s.password, Some(&email))
        .map_err(Refused::WeakPassword)?;
    // Hashed before knowing whether the email is taken: both answers cost the same.
    let hash = w.hasher.hash(s.password).await.map_err(|e| {
        tracing::error!(error = %e, "sign-up: hashing the password");
        Refused::Internal
    })?;
    let new = writ_store::NewUser {
        email,
        password_hash: Some(hash),
        name,
        ..Default::default()
    };
    match w.store.create_user(new).await {
        Ok(user) => {
            audit::signup(w, s.peer, s.client_id, &user).await;
            crate::account::send_signup_verification(w, s.client_id, &user).await;
            Ok(SignedUp::Created(user))
        }
        Err(writ_store::StoreError::Conflict(_)) => Ok(SignedUp::AlreadyRegistered),
        Err(e) => {
            tracing::error!(error = %e, "sign-up");
            Err(Refused::Internal)
        }
    }
}
