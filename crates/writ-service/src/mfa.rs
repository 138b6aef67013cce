//! Multi-factor authentication with TOTP (RFC 6238), once for both ways in: the hosted login
//! page and the password grant (Auth0's MFA API) call the same functions, so the policy, the
//! code checks (time-step replay refused, attempts bucketed per user), the recovery codes and
//! the audit entries cannot differ between them.
//!
//! - **Secrets at rest**: a TOTP secret is sealed with the key-encryption key (AES-256-GCM, the
//!   authenticator's id as associated data), as signing keys are; the store never sees it in
//!   clear, and an export carries it sealed.
//! - **Codes**: SHA-1, 6 digits, 30-second steps, one step of skew either way. The step a code
//!   matched is recorded on the authenticator by one conditional update, so a code (or an
//!   earlier one) is accepted once, whichever node sees it.
//! - **Recovery code**: one per user, as Auth0 has: shown once at enrollment, stored as its
//!   SHA-256, single use; using it hands out the next one.
//! - **Attempts**: a bucket of [`ATTEMPTS`] per user, one back every [`REFILL_SECS`] seconds,
//!   in the database (so every node shares it); every code or recovery code checked takes one.
//! - **Half-logins**: the password grant's `mfa_token` and the hosted page's cookie name a
//!   stored, hashed, 10-minute record bound to the user and the client (and for the grant, the
//!   API and scope asked for), finished once.
//! - **Policy** ([`requirement`]): a user with a confirmed TOTP factor is always challenged;
//!   one without is challenged (with their passkey, [`crate::passkeys`]) or enrolls first when
//!   the tenant (`mfa_policy = always`), one of their roles (`mfa_roles`), the client
//!   (`mfa_clients`) or a post-login hook (`api.multifactor.enable('any')`) asks for it. A
//!   passkey alone asks for nothing more after a password: it is a way in, not a lock.

use totp_rs::{Algorithm, Totp};
use writ_core::{Client, User};
use writ_store::{Authenticator, MfaLogin, StoreError};

use crate::audit::{self, Operation, Peer};
use crate::config::MfaPolicy;
use crate::crypto::{random_alnum, random_token, sha256_hex};
use crate::time::now;
use crate::{Actor, ServiceError, Writ};

/// How long a half-login (an `mfa_token`, the hosted page's state) lasts: 10 minutes.
pub const MFA_LOGIN_LIFETIME: i64 = 600;
/// Second-factor attempts a user has before `too_many_attempts`.
pub const ATTEMPTS: i64 = 10;
/// Seconds for one attempt to come back (Auth0: one every 6 minutes).
pub const REFILL_SECS: i64 = 360;
/// TOTP time step in seconds.
pub const STEP: u64 = 30;
/// `amr` of a password login.
pub const AMR_PWD: &str = "pwd";
/// `amr` of a password login finished with a TOTP code or a recovery code.
pub const AMR_PWD_OTP: &str = "pwd otp mfa";

/// What a login must do after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing: the login is done.
    None,
    /// Present a code of the user's factor (or the recovery code).
    Challenge,
    /// Enroll a factor first (required, none confirmed yet).
    Enroll,
}

/// A TOTP factor being enrolled: what the user's authenticator app needs.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub authenticator_id: String,
    /// The secret in base32, as apps take it typed in.
    pub secret: String,
    /// `otpauth://totp/<issuer>:<email>?secret=…&issuer=…`.
    pub uri: String,
    /// The URI as a QR code, an SVG document drawn here.
    pub qr_svg: String,
    /// The user's recovery code, when the enrollment made it (Auth0's `/mfa/associate`).
    pub recovery_code: Option<String>,
}

/// The outcome of a presented code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Accepted. When this finished an enrollment: the user's new recovery code (show it
    /// once). When a recovery code was used: the next one.
    Accepted { recovery_code: Option<String> },
    /// Wrong, expired or already used (the same answer for each).
    Wrong,
    /// The user's attempts are used up for `retry_after` seconds.
    TooManyAttempts { retry_after: i64 },
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The name authenticator apps show for this tenant: the issuer's host (no port: a `:` is not
/// allowed in an otpauth label).
pub fn issuer_label(w: &Writ) -> String {
    url::Url::parse(&w.config.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "Writ".into())
}

fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> Result<Totp, ServiceError> {
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP)
        .with_secret(secret)
        .with_issuer(Some(issuer.replace(':', "")))
        .with_account_name(account.replace(':', ""))
        .build()
        .map_err(internal)
}

/// A QR code of `text` as an SVG document (no XML declaration: it is inlined in a page).
pub fn qr_svg(text: &str) -> Result<String, ServiceError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    Ok(match svg.find("<svg") {
        Some(i) => svg[i..].to_owned(),
        None => svg,
    })
}

/// The user's authenticators (confirmed or not).
pub async fn authenticators(w: &Writ, user_id: &str) -> Result<Vec<Authenticator>, ServiceError> {
    Ok(w.store.authenticators(user_id).await?)
}

/// Whether the user has a confirmed TOTP factor (a passkey alone does not make a user
/// "enrolled": it satisfies a second factor when one is required, see [`requirement`]).
pub async fn enrolled(w: &Writ, user_id: &str) -> Result<bool, ServiceError> {
    Ok(authenticators(w, user_id)
        .await?
        .iter()
        .any(|a| a.kind == "totp" && a.confirmed))
}

/// What the login of `user` to `client` must do after the password (see the module docs). A
/// user's passkeys do not ask for a second factor by themselves, but satisfy one that is
/// required.
/// With `ask_hooks` (the hosted page, which must know before it opens the session), the
/// post-login hooks run here when nothing else asks for a factor and one of them names
/// `multifactor` (they run again when the tokens are minted); the password grant leaves them to the minting, which refuses with
/// [`crate::OAuthRefusal::MfaRequired`].
pub async fn requirement(
    w: &Writ,
    client: &Client,
    user: &User,
    ask_hooks: bool,
) -> Result<Requirement, ServiceError> {
    if enrolled(w, &user.user_id).await? {
        return Ok(Requirement::Challenge);
    }
    let c = &w.config;
    let mut required =
        c.mfa_policy == MfaPolicy::Always || c.mfa_clients.contains(&client.client_id);
    if !required && !c.mfa_roles.is_empty() {
        let m = w
            .memberships
            .get(w.store.as_ref(), &user.user_id, user.authz_version)
            .await?;
        required = m.roles.iter().any(|r| c.mfa_roles.contains(r));
    }
    if !required
        && ask_hooks
        && crate::hooks::post_login_may_ask_multifactor(w)
            .await
            .unwrap_or(false)
    {
        required = crate::hooks::post_login(w, client, user)
            .await
            .map(|h| h.multifactor)
            // A failing or denying hook refuses the login when the tokens are minted.
            .unwrap_or(false);
    }
    Ok(if !required {
        Requirement::None
    } else if !w.store.passkeys_of_user(&user.user_id).await?.is_empty() {
        // A passkey is a second factor when one is required (the challenge page offers it).
        Requirement::Challenge
    } else {
        Requirement::Enroll
    })
}

/// Starts a TOTP enrollment for `user`: a new unconfirmed factor (replacing any earlier
/// unconfirmed one), its secret sealed. Refused when the user already has a confirmed one
/// (`Conflict`): a factor is replaced by deleting the old one first.
/// With `with_recovery`, the user's recovery code is made now and returned (Auth0's
/// `/mfa/associate`); the hosted page makes it once the first code is accepted.
pub async fn start_enrollment(
    w: &Writ,
    user: &User,
    with_recovery: bool,
) -> Result<Enrollment, ServiceError> {
    let existing = authenticators(w, &user.user_id).await?;
    if existing.iter().any(|a| a.kind == "totp" && a.confirmed) {
        return Err(ServiceError::Conflict("User is already enrolled.".into()));
    }
    for a in existing.iter().filter(|a| a.kind == "totp") {
        // An unfinished enrollment: no credential changed, no signal.
        w.store
            .delete_authenticator(&user.user_id, &a.id, &[])
            .await?;
    }
    let mut secret = vec![0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let id = format!("totp_{}", random_alnum(16));
    let issuer = issuer_label(w);
    let t = totp(secret.clone(), &issuer, &user.email)?;
    let uri = t.to_url().map_err(internal)?;
    let a = Authenticator {
        id: id.clone(),
        user_id: user.user_id.clone(),
        kind: "totp".into(),
        name: None,
        secret: w.cipher.seal(&id, &secret),
        confirmed: false,
        created_at: now(),
        last_used_at: None,
        last_step: None,
    };
    w.store.create_authenticator(&a).await?;
    let recovery_code = if with_recovery {
        Some(new_recovery_code(w, &user.user_id).await?)
    } else {
        None
    };
    Ok(Enrollment {
        authenticator_id: id,
        secret: t.secret().to_base32(),
        qr_svg: qr_svg(&uri)?,
        uri,
        recovery_code,
    })
}

/// The enrollment the user has under way (an unconfirmed TOTP factor), to show again.
pub async fn current_enrollment(w: &Writ, user: &User) -> Result<Option<Enrollment>, ServiceError> {
    let all = authenticators(w, &user.user_id).await?;
    let Some(a) = all.iter().find(|a| a.kind == "totp" && !a.confirmed) else {
        return Ok(None);
    };
    let Some(secret) = w.cipher.open(&a.id, &a.secret) else {
        return Ok(None);
    };
    let t = totp(secret, &issuer_label(w), &user.email)?;
    let uri = t.to_url().map_err(internal)?;
    Ok(Some(Enrollment {
        authenticator_id: a.id.clone(),
        secret: t.secret().to_base32(),
        qr_svg: qr_svg(&uri)?,
        uri,
        recovery_code: None,
    }))
}

/// A new recovery code for the user (replacing any unused one), shown once.
pub async fn new_recovery_code(w: &Writ, user_id: &str) -> Result<String, ServiceError> {
    let code = recovery_code();
    w.store
        .set_recovery_code(user_id, &sha256_hex(&code), now())
        .await?;
    Ok(code)
}

/// 24 characters from an unambiguous alphabet, as Auth0's recovery codes.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A recovery code as typed: spaces and dashes dropped, upper case.
fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Checks a TOTP `code` of the user's factor: their confirmed factors, or, with none, the
/// factor being enrolled (which the first accepted code confirms; a recovery code is then
/// made). Takes one attempt from the user's bucket first.
/// `issue_recovery`: whether finishing an enrollment makes the user's recovery code (the
/// hosted page; Auth0's `/mfa/associate` made it already).
pub async fn check_otp(
    w: &Writ,
    peer: &Peer,
    user: &User,
    code: &str,
    issue_recovery: bool,
) -> Result<Checked, ServiceError> {
    let t = now();
    if let Some(refused) = take_attempt(w, peer, user, t).await? {
        return Ok(refused);
    }
    let code = code.trim();
    let all = authenticators(w, &user.user_id).await?;
    let confirmed = all.iter().any(|a| a.kind == "totp" && a.confirmed);
    let candidates = all
        .iter()
        .filter(|a| a.kind == "totp" && a.confirmed == confirmed);
    let issuer = issuer_label(w);
    for a in candidates {
        let Some(secret) = w.cipher.open(&a.id, &a.secret) else {
            tracing::error!(authenticator = %a.id, "a TOTP secret does not open with this key");
            continue;
        };
        let Some(step) = totp(secret, &issuer, &user.email)?.check(code, t as u64) else {
            continue;
        };
        // The first accepted code confirms the enrollment: a credential was created.
        let signals = if confirmed {
            Vec::new()
        } else {
            vec![crate::ssf::mfa_changed(
                &user.user_id,
                "totp",
                "create",
                false,
            )]
        };
        if !w
            .store
            .accept_totp_step(&a.id, step as i64, t, &signals)
            .await?
        {
            // Replayed: that step (or a later one) was already accepted.
            break;
        }
        let recovery_code = if confirmed {
            None
        } else {
            audit::record_user(
                w,
                peer,
                user,
                "gd_enrollment_complete",
                "Guardian enrollment complete",
            )
            .await;
            crate::ssf::signalled();
            if issue_recovery {
                Some(new_recovery_code(w, &user.user_id).await?)
            } else {
                None
            }
        };
        audit::record_user(w, peer, user, "gd_auth_succeed", "Second factor accepted").await;
        return Ok(Checked::Accepted { recovery_code });
    }
    audit::record_user(w, peer, user, "gd_auth_failed", "Second factor refused").await;
    Ok(Checked::Wrong)
}

/// Takes one attempt from the user's bucket (10, refilled one per 6 minutes, on every node):
/// `Some(TooManyAttempts)`, recorded, when it is empty.
pub(crate) async fn take_attempt(
    w: &Writ,
    peer: &Peer,
    user: &User,
    t: i64,
) -> Result<Option<Checked>, ServiceError> {
    match w
        .store
        .take_mfa_attempt(&user.user_id, t, ATTEMPTS, REFILL_SECS)
        .await?
    {
        Ok(_) => Ok(None),
        Err(retry_after) => {
            audit::record_user(
                w,
                peer,
                user,
                "gd_otp_rate_limit_exceed",
                "Too many second-factor attempts",
            )
            .await;
            Ok(Some(Checked::TooManyAttempts { retry_after }))
        }
    }
}

/// Checks the user's recovery code: used once, and the next one returned.
pub async fn check_recovery(
    w: &Writ,
    peer: &Peer,
    user: &User,
    code: &str,
) -> Result<Checked, ServiceError> {
    let t = now();
    if let Some(refused) = take_attempt(w, peer, user, t).await? {
        return Ok(refused);
    }
    let next = recovery_code();
    let hash = sha256_hex(&normalize_recovery(code));
    if w.store
        .use_recovery_code(&user.user_id, &hash, &sha256_hex(&next), t)
        .await?
    {
        audit::record_user(
            w,
            peer,
            user,
            "gd_recovery_succeed",
            "Recovery code accepted",
        )
        .await;
        Ok(Checked::Accepted {
            recovery_code: Some(next),
        })
    } else {
        audit::record_user(w, peer, user, "gd_recovery_failed", "Recovery code refused").await;
        Ok(Checked::Wrong)
    }
}

// ---------------------------------------------------------------------------------------------
// Half-logins

/// What a half-login is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// The password grant's `mfa_token`.
    Grant,
    /// The hosted page's state (its cookie), waiting for a code.
    Page,
    /// The hosted page's state once the code was accepted, while the new recovery code is
    /// shown: only the session is left to open.
    Verified,
    /// A browser remembered after a second factor (`mfa_remember_browser_days`): its later
    /// password logins are not challenged until it expires.
    Remember,
}

impl LoginKind {
    fn as_str(self) -> &'static str {
        match self {
            LoginKind::Grant => "grant",
            LoginKind::Page => "page",
            LoginKind::Verified => "verified",
            LoginKind::Remember => "remember",
        }
    }
}

/// What a half-login is bound to.
pub struct Pending<'a> {
    pub kind: LoginKind,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub audience: Option<&'a str>,
    pub scope: Option<&'a str>,
    /// The hosted page's authorization request.
    pub tx: Option<&'a str>,
}

/// Stores a half-login and returns its token (only its hash is stored).
pub async fn start_login(w: &Writ, p: Pending<'_>) -> Result<String, ServiceError> {
    let token = random_token(32);
    let t = now();
    w.store
        .create_mfa_login(&MfaLogin {
            id: sha256_hex(&token),
            kind: p.kind.as_str().into(),
            user_id: p.user_id.into(),
            client_id: p.client_id.into(),
            audience: p.audience.map(str::to_owned),
            scope: p.scope.map(str::to_owned),
            tx: p.tx.map(str::to_owned),
            created_at: t,
            expires_at: t + MFA_LOGIN_LIFETIME,
            used_at: None,
        })
        .await?;
    Ok(token)
}

/// Remembers this browser for `user_id` for `days` (after a second factor on the hosted page);
/// returns the cookie's value (only its hash is stored).
pub async fn remember_browser(
    w: &Writ,
    user_id: &str,
    client_id: &str,
    days: u32,
) -> Result<String, ServiceError> {
    let token = random_token(32);
    let t = now();
    w.store
        .create_mfa_login(&MfaLogin {
            id: sha256_hex(&token),
            kind: LoginKind::Remember.as_str().into(),
            user_id: user_id.into(),
            client_id: client_id.into(),
            audience: None,
            scope: None,
            tx: None,
            created_at: t,
            expires_at: t + i64::from(days) * 86_400,
            used_at: None,
        })
        .await?;
    Ok(token)
}

/// Whether `token` (a remembered browser's cookie) remembers `user_id`.
pub async fn remembered(w: &Writ, token: &str, user_id: &str) -> Result<bool, ServiceError> {
    if token.is_empty() {
        return Ok(false);
    }
    Ok(pending(w, LoginKind::Remember, token, None)
        .await?
        .is_some_and(|l| l.user_id == user_id))
}

/// The live half-login of `kind` named by `token`, if its client is `client_id` (when given).
pub async fn pending(
    w: &Writ,
    kind: LoginKind,
    token: &str,
    client_id: Option<&str>,
) -> Result<Option<MfaLogin>, ServiceError> {
    let l = w.store.get_mfa_login(&sha256_hex(token), now()).await?;
    Ok(l.filter(|l| l.kind == kind.as_str() && client_id.is_none_or(|c| c == l.client_id)))
}

/// Finishes the half-login named by `token`, once: `None` when another request finished it
/// first or it expired.
pub async fn finish_login(w: &Writ, token: &str) -> Result<Option<MfaLogin>, ServiceError> {
    Ok(w.store.finish_mfa_login(&sha256_hex(token), now()).await?)
}

// ---------------------------------------------------------------------------------------------
// Management

/// Deletes one of the user's authentication methods (Management API, console), audited.
/// Tokens already issued are unaffected (`amr` records how a past login was made), so no authz
/// version moves.
pub async fn delete_method(
    w: &Writ,
    actor: &Actor,
    user_id: &str,
    method_id: &str,
) -> Result<(), ServiceError> {
    let op = Operation::new(
        "DELETE",
        "/users/{id}/authentication-methods/{authentication_method_id}",
        format!("/users/{user_id}/authentication-methods/{method_id}"),
        204,
    );
    let change = async {
        w.store.get_user(user_id).await?;
        let kind = w
            .store
            .authenticators(user_id)
            .await?
            .into_iter()
            .find(|a| a.id == method_id)
            .map(|a| a.kind)
            .ok_or(writ_store::StoreError::NotFound("authentication method"))?;
        let signal = crate::ssf::mfa_changed(user_id, &kind, "delete", true);
        w.store
            .delete_authenticator(user_id, method_id, &[signal])
            .await?;
        crate::ssf::signalled();
        Ok::<_, ServiceError>(())
    };
    w.recorded(actor, op, change).await
}

/// Deletes every authentication method of the user (and their recovery code), audited.
pub async fn delete_methods(w: &Writ, actor: &Actor, user_id: &str) -> Result<u64, ServiceError> {
    let op = Operation::at("DELETE", "/users/{id}/authentication-methods", user_id, 204);
    let change = async {
        w.store.get_user(user_id).await?;
        let mut kinds: Vec<String> = w
            .store
            .authenticators(user_id)
            .await?
            .into_iter()
            .map(|a| a.kind)
            .collect();
        kinds.sort();
        kinds.dedup();
        let signals: Vec<_> = kinds
            .iter()
            .map(|kind| crate::ssf::mfa_changed(user_id, kind, "delete", true))
            .collect();
        let n = w.store.delete_authenticators(user_id, &signals).await?;
        crate::ssf::signalled();
        Ok::<_, ServiceError>(n)
    };
    w.recorded(actor, op, change).await
}

/// The user's authentication methods (`GET /api/v2/users/{id}/authentication-methods`);
/// `NotFound` for an unknown user.
pub async fn list_methods(w: &Writ, user_id: &str) -> Result<Vec<Authenticator>, ServiceError> {
    match w.store.get_user(user_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => return Err(ServiceError::NotFound("user")),
        Err(e) => return Err(e.into()),
    }
    authenticators(w, user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238, appendix B (SHA-1, 8 digits there; the 6 low digits here).
        let t = totp(b"12345678901234567890".to_vec(), "writ", "a@b.c").unwrap();
        assert_eq!(t.generate(59).to_string(), "287082");
        assert_eq!(t.generate(1_111_111_109).to_string(), "081804");
        assert_eq!(t.generate(1_234_567_890).to_string(), "005924");
        // One step of skew either way, not two.
        let code = t.generate(1_000_000_000).to_string();
        assert!(t.check(&code, 1_000_000_029).is_some());
        assert!(t.check(&code, 1_000_000_000 + 30).is_some());
        assert!(t.check(&code, 1_000_000_000 + 60).is_none());
    }

    #[test]
    fn otpauth_uri_and_qr() {
        let t = totp(vec![7u8; 20], "auth.example.com", "a@b.c").unwrap();
        let uri = t.to_url().unwrap();
        assert!(
            uri.starts_with("otpauth://totp/auth.example.com:a%40b.c?secret="),
            "{uri}"
        );
        assert!(uri.contains("issuer=auth.example.com"));
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn recovery_codes_normalize() {
        let c = recovery_code();
        assert_eq!(c.len(), 24);
        assert_eq!(
            normalize_recovery(&format!(" {}-{} ", &c[..12], &c[12..]).to_lowercase()),
            c
        );
    }
}
