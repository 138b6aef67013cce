//! The flows around a password that send email, as Auth0 exposes them: verifying an email
//! address and resetting a forgotten password, each through a one-time link (a "ticket").
//!
//! A link carries a random token (256 bits); the store keeps only its SHA-256, with the user,
//! what it is for, where to send the user afterwards (`result_url`) and when it expires
//! (verification: [`VERIFY_TTL`], reset: [`RESET_TTL`]). Using a link consumes it in the same
//! transaction as its change (see `MailStore`): one use only, whoever races. Confirming an
//! email raises the user's authz version (tokens may carry `email_verified`); a reset also
//! ends every SSO session and refresh token of the user.
//!
//! Requests a stranger can make (`POST /dbconnections/change_password`, the hosted "Forgot
//! password?" form) answer the same thing at once whether or not the address has an account:
//! the lookup and the mail are done afterwards, in a background task, so neither the answer
//! nor its timing tells. They are limited per IP and per address (see `limiter`).

use writ_core::password_policy::Weakness;
use writ_core::{User, validate};
use writ_store::{Ticket, TicketKind, TicketOutcome};

use crate::audit::{self, Entry, Operation, Peer};
use crate::crypto::{random_token, sha256_hex};
use crate::mail::{self, Kind, Message, Mode};
use crate::{Actor, Result, ServiceError, Writ};

/// How long a verification link works by default: 5 days (Auth0's default).
pub const VERIFY_TTL: i64 = 5 * 86_400;
/// How long a password-reset link works by default: 1 hour.
pub const RESET_TTL: i64 = 3600;
/// The longest lifetime a ticket may be given (`ttl_sec`): 30 days.
pub const MAX_TTL: i64 = 30 * 86_400;

/// Auth0's answer to `POST /dbconnections/change_password`, whatever the address.
pub const CHANGE_PASSWORD_SENT: &str = "We've just sent you an email to reset your password.";

/// The hosted page's path of each kind of link.
pub fn link_path(kind: TicketKind) -> &'static str {
    match kind {
        TicketKind::Verify => "u/email-verification",
        TicketKind::Reset => "u/reset-password",
    }
}

/// The refusal of a flow that needs mail when this node cannot send any.
fn no_mail() -> ServiceError {
    ServiceError::Refused {
        status: 400,
        code: "email_not_configured",
        message: "Writ cannot send email: no SMTP server is configured (WRIT_SMTP_URL).".into(),
    }
}

/// Refuses unless this node can deliver mail (SMTP, or `writ demo`'s logged links).
pub fn require_mail(w: &Writ) -> Result<()> {
    match mail::mode(w) {
        Mode::Off => Err(no_mail()),
        _ => Ok(()),
    }
}

/// What a new ticket is.
#[derive(Debug, Clone, Default)]
pub struct TicketInput {
    pub client_id: Option<String>,
    pub result_url: Option<String>,
    /// Lifetime in seconds; `None`: the kind's default.
    pub ttl_sec: Option<i64>,
    /// Reset tickets only: also mark the email verified when used.
    pub mark_email_verified: bool,
}

fn check_ticket_input(input: &TicketInput) -> Result<()> {
    if let Some(t) = input.ttl_sec
        && !(0..=MAX_TTL).contains(&t)
    {
        return Err(ServiceError::invalid(
            "ttl_sec",
            format!("ttl_sec must be between 0 and {MAX_TTL}"),
        ));
    }
    if let Some(u) = &input.result_url {
        let ok = url::Url::parse(u)
            .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some());
        if !ok || u.len() > 2048 {
            return Err(ServiceError::invalid(
                "result_url",
                "Object didn't pass validation for format absolute-uri",
            ));
        }
    }
    if let Some(c) = &input.client_id {
        validate::name("client_id", c, 128)?;
    }
    Ok(())
}

/// Stores a new ticket of `kind` for `user` and returns its link (the token appears only
/// there: in the answer or the email).
async fn new_ticket(
    w: &Writ,
    user: &User,
    kind: TicketKind,
    input: &TicketInput,
) -> Result<String> {
    let token = random_token(32);
    let now = crate::time::now();
    let ttl = match input.ttl_sec {
        Some(t) if t > 0 => t,
        _ => default_ttl(kind),
    };
    w.store
        .create_ticket(&Ticket {
            id: sha256_hex(&token),
            user_id: user.user_id.clone(),
            kind,
            client_id: input.client_id.clone(),
            result_url: input.result_url.clone(),
            mark_email_verified: kind == TicketKind::Reset && input.mark_email_verified,
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
        })
        .await?;
    Ok(format!(
        "{}{}?ticket={token}#",
        w.config.issuer,
        link_path(kind)
    ))
}

fn default_ttl(kind: TicketKind) -> i64 {
    match kind {
        TicketKind::Verify => VERIFY_TTL,
        TicketKind::Reset => RESET_TTL,
    }
}

/// Creates a ticket and queues its email.
async fn send_link(w: &Writ, user: &User, kind: TicketKind, input: &TicketInput) -> Result<()> {
    let link = new_ticket(w, user, kind, input).await?;
    mail::queue(
        w,
        Message {
            kind: match kind {
                TicketKind::Verify => Kind::VerifyEmail,
                TicketKind::Reset => Kind::ResetPassword,
            },
            to: &user.email,
            name: user.name.as_deref(),
            link: &link,
            lifetime: input
                .ttl_sec
                .filter(|t| *t > 0)
                .unwrap_or(default_ttl(kind)),
        },
    )
    .await
}

/// A verification-email job as Auth0 answers it (already done: the email is queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationJob {
    /// `job_…`.
    pub id: String,
    pub created_at: String,
}

/// `POST /api/v2/jobs/verification-email`: emails the user a verification link.
pub async fn verification_email_job(
    w: &Writ,
    actor: &Actor,
    user_id: &str,
    client_id: Option<String>,
) -> Result<VerificationJob> {
    let op = Operation::at("POST", "/jobs/verification-email", "", 201);
    let change = async {
        require_mail(w)?;
        let input = TicketInput {
            client_id,
            ..Default::default()
        };
        check_ticket_input(&input)?;
        let user = w.store.get_user(user_id).await?;
        send_link(w, &user, TicketKind::Verify, &input).await?;
        Ok(VerificationJob {
            id: format!("job_{}", crate::crypto::random_alnum(16)),
            created_at: crate::time::now_rfc3339(),
        })
    };
    w.recorded(actor, op, change).await
}

/// `POST /api/v2/tickets/email-verification`: a verification link, returned (not emailed).
pub async fn email_verification_ticket(
    w: &Writ,
    actor: &Actor,
    user_id: &str,
    input: TicketInput,
) -> Result<String> {
    let op = Operation::at("POST", "/tickets/email-verification", "", 201);
    let change = async {
        check_ticket_input(&input)?;
        let user = w.store.get_user(user_id).await?;
        new_ticket(w, &user, TicketKind::Verify, &input).await
    };
    w.recorded(actor, op, change).await
}

/// Whose password a password-change ticket resets.
#[derive(Debug, Clone)]
pub enum TicketUser {
    Id(String),
    Email(String),
}

/// `POST /api/v2/tickets/password-change`: a reset link, returned (not emailed).
pub async fn password_change_ticket(
    w: &Writ,
    actor: &Actor,
    who: TicketUser,
    input: TicketInput,
) -> Result<String> {
    let op = Operation::at("POST", "/tickets/password-change", "", 201);
    let change = async {
        check_ticket_input(&input)?;
        let user = match who {
            TicketUser::Id(id) => w.store.get_user(&id).await?,
            TicketUser::Email(e) => crate::users::by_email(w, &validate::email("email", &e)?)
                .await?
                .ok_or(ServiceError::NotFound("user"))?,
        };
        new_ticket(w, &user, TicketKind::Reset, &input).await
    };
    w.recorded(actor, op, change).await
}

/// Refused before any work: too many requests (`Err` carries the seconds to wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany(pub u64);

/// `POST /dbconnections/change_password` and the hosted "Forgot password?" form: counts the
/// request against the limits, then (in the background, see the module doc) emails a reset
/// link if `email` has an account. The caller answers [`CHANGE_PASSWORD_SENT`] either way.
/// `Err(TooMany)` when the IP or the address asked too often; mail unavailable is refused
/// before anything else.
pub fn request_password_reset(
    w: &Writ,
    peer: &Peer,
    client_id: Option<&str>,
    email: &str,
) -> Result<Result<(), TooMany>> {
    require_mail(w)?;
    let ip = ip_of(peer);
    if let Err(wait) = w.limiter.mail_request(ip, email) {
        return Ok(Err(TooMany(wait)));
    }
    let (w, peer) = (w.clone(), peer.clone());
    let (client_id, email) = (client_id.map(str::to_owned), email.to_owned());
    tokio::spawn(async move {
        reset_request_work(&w, &peer, client_id, &email).await;
    });
    Ok(Ok(()))
}

async fn reset_request_work(w: &Writ, peer: &Peer, client_id: Option<String>, email: &str) {
    let found = match validate::email("email", email) {
        Ok(e) => crate::users::by_email(w, &e).await,
        Err(_) => Ok(None),
    };
    let entry = |ty, desc: &str| {
        let mut e = Entry::new(ty, desc)
            .peer(peer)
            .connection(writ_core::DEFAULT_CONNECTION);
        if let Some(c) = &client_id {
            e = e.client(c);
        }
        e
    };
    match found {
        Ok(Some(user)) if !user.blocked => {
            let input = TicketInput {
                client_id: client_id.clone(),
                ..Default::default()
            };
            match send_link(w, &user, TicketKind::Reset, &input).await {
                Ok(()) => {
                    audit::record(
                        w,
                        entry(
                            audit::types::SUCCESS_CHANGE_PASSWORD_REQUEST,
                            "Password reset email queued",
                        )
                        .user(&user.user_id),
                    )
                    .await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "password reset request");
                    audit::record(
                        w,
                        entry(
                            audit::types::FAILED_CHANGE_PASSWORD_REQUEST,
                            "Password reset email not queued",
                        )
                        .user(&user.user_id),
                    )
                    .await
                }
            }
        }
        Ok(_) => {
            // No account (or a blocked one): nothing is sent; the same rendering work is done.
            mail::render_only(
                w,
                Message {
                    kind: Kind::ResetPassword,
                    to: email,
                    name: None,
                    link: &format!(
                        "{}{}?ticket=",
                        w.config.issuer,
                        link_path(TicketKind::Reset)
                    ),
                    lifetime: RESET_TTL,
                },
            );
            audit::record(
                w,
                entry(audit::types::FAILED_CHANGE_PASSWORD_REQUEST, "No such user")
                    .user_name(email),
            )
            .await;
        }
        Err(e) => tracing::warn!(error = %e, "password reset request"),
    }
}

fn ip_of(peer: &Peer) -> std::net::IpAddr {
    peer.ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into())
}

/// The ticket of a link, if it can still be used (the page asks before it shows its form).
/// From an IP that presented too many bad links, none is (see `limiter`).
pub async fn usable_ticket(
    w: &Writ,
    peer: &Peer,
    kind: TicketKind,
    token: &str,
) -> Result<Option<Ticket>> {
    let ip = ip_of(peer);
    if w.limiter.links_blocked(ip) {
        return Ok(None);
    }
    let t = if token.is_empty() || token.len() > 128 {
        None
    } else {
        w.store.get_ticket(&sha256_hex(token)).await?
    };
    let t =
        t.filter(|t| t.kind == kind && t.used_at.is_none() && t.expires_at > crate::time::now());
    if t.is_none() {
        w.limiter.link_failed(ip);
    }
    Ok(t)
}

/// Uses a verification link: the email is verified (see the module doc). `None`: the link is
/// unknown, used or expired.
pub async fn confirm_email(w: &Writ, peer: &Peer, token: &str) -> Result<Option<Ticket>> {
    if w.limiter.links_blocked(ip_of(peer)) {
        return Ok(None);
    }
    let outcome = w
        .store
        .verify_email_with_ticket(&sha256_hex(token), crate::time::now())
        .await?;
    let entries = LinkAudit {
        used: (audit::types::SUCCESS_VERIFICATION_EMAIL, "Email verified"),
        invalid: (
            audit::types::FAILED_VERIFICATION_EMAIL,
            "Verification link unknown, used or expired",
        ),
    };
    Ok(link_used(w, peer, outcome, entries).await)
}

/// Uses a reset link: `password` (checked by the rules every new password follows) becomes
/// the user's, and every session and refresh token of the user ends (see the module doc).
/// `Ok(None)`: the link is unknown, used or expired; `Err(Invalid)`: the password is refused
/// (the link stays usable).
pub async fn reset_password(
    w: &Writ,
    peer: &Peer,
    token: &str,
    password: &str,
) -> Result<Option<Ticket>> {
    if w.limiter.links_blocked(ip_of(peer)) {
        return Ok(None);
    }
    // The policy may refuse the email in the password: the link's user's.
    let email = match w.store.get_ticket(&sha256_hex(token)).await? {
        Some(t) => w.store.get_user(&t.user_id).await.ok().map(|u| u.email),
        None => None,
    };
    let hash = crate::users::new_password_hash(w, "password", password, email.as_deref()).await?;
    let outcome = w
        .store
        .reset_password_with_ticket(&sha256_hex(token), crate::time::now(), &hash)
        .await?;
    let entries = LinkAudit {
        used: (
            audit::types::SUCCESS_CHANGE_PASSWORD,
            "Password changed with a reset link",
        ),
        invalid: (
            audit::types::FAILED_CHANGE_PASSWORD,
            "Reset link unknown, used or expired",
        ),
    };
    Ok(link_used(w, peer, outcome, entries).await)
}

/// The audit entries (type, description) of a link used and of a link refused.
struct LinkAudit {
    used: (&'static str, &'static str),
    invalid: (&'static str, &'static str),
}

/// After presenting a link: audits the outcome; a used link wakes the event watcher (the
/// user's version rose), a refused one counts against the address (see `limiter`).
async fn link_used(
    w: &Writ,
    peer: &Peer,
    outcome: TicketOutcome,
    entries: LinkAudit,
) -> Option<Ticket> {
    match outcome {
        TicketOutcome::Used(t) => {
            let mut e = Entry::new(entries.used.0, entries.used.1)
                .peer(peer)
                .user(&t.user_id)
                .connection(writ_core::DEFAULT_CONNECTION);
            if let Some(c) = &t.client_id {
                e = e.client(c);
            }
            audit::record(w, e).await;
            w.watcher_wake.notify_one();
            Some(t)
        }
        TicketOutcome::Invalid => {
            w.limiter.link_failed(ip_of(peer));
            audit::record(
                w,
                Entry::new(entries.invalid.0, entries.invalid.1).peer(peer),
            )
            .await;
            None
        }
    }
}

/// After a sign-up (`crate::signups`): when `WRIT_SIGNUP_VERIFY_EMAIL` is on, emails `user` a
/// verification link. A mail problem is logged; the sign-up stands.
pub async fn send_signup_verification(w: &Writ, client_id: &str, user: &User) {
    if !w.config.signup_verify_email {
        return;
    }
    let input = TicketInput {
        client_id: Some(client_id.to_owned()),
        ..Default::default()
    };
    let sent = match require_mail(w) {
        Ok(()) => send_link(w, user, TicketKind::Verify, &input).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "sign-up: the verification email was not queued");
    }
}

/// The password policy's verdict on `password` as the new password of `ticket`'s user (the
/// reset page asks before it uses the link, to show the policy's advice).
pub async fn password_allowed(
    w: &Writ,
    ticket: &Ticket,
    password: &str,
) -> Result<std::result::Result<(), Weakness>> {
    let email = w.store.get_user(&ticket.user_id).await?.email;
    Ok(w.config.password_policy.check(password, Some(&email)))
}

/// What the token endpoint and the hosted login answer (`access_denied`) to a user whose
/// email is not verified, for a client that requires it (Auth0's wording).
pub const VERIFY_FIRST: &str = "Please verify your email before logging in.";

/// Whether `client_id` issues tokens only to users with a verified email
/// (`WRIT_REQUIRE_VERIFIED_EMAIL`: its id, or `*` for every client but the admin console).
pub fn requires_verified_email(w: &Writ, client_id: &str) -> bool {
    w.config
        .require_verified_email
        .iter()
        .any(|c| c == client_id || (c == "*" && client_id != writ_core::CONSOLE_CLIENT_ID))
}

/// Refuses `user` tokens from `client` while their email is unverified and the client
/// requires it (see [`requires_verified_email`]).
pub fn check_verified_email(
    w: &Writ,
    client_id: &str,
    user: &User,
) -> std::result::Result<(), crate::OAuthRefusal> {
    if !user.email_verified && requires_verified_email(w, client_id) {
        return Err(crate::OAuthRefusal::access_denied(VERIFY_FIRST));
    }
    Ok(())
}
