//! The background sender: claims due messages of the outbox (a lease of [`LEASE_SECS`], so no
//! other node sends them meanwhile) and sends each over SMTP with `lettre` (TLS through
//! rustls). A failure is recorded with its error and the message is due again after an
//! exponential backoff (5 s, 10 s, 20 s … at most an hour); a permanent refusal (a 5xx answer,
//! an address that cannot be parsed) or [`MAX_ATTEMPTS`] attempts abandon it. Each node runs
//! one sender; it wakes when this node queues a message and otherwise looks at the outbox at
//! least every [`POLL_SECS`] (messages other nodes queued, retries coming due).
//!
//! The SMTP URL carries the server's password: it is never logged (errors name the host).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use writ_store::OutboxMail;

use crate::Writ;

/// How long a claim keeps a message from other senders.
pub const LEASE_SECS: i64 = 120;
/// Messages claimed at once.
pub const BATCH: i64 = 10;
/// The longest a sender waits before looking at the outbox again.
pub const POLL_SECS: u64 = 10;
/// Attempts after which a message is abandoned (about a day of retries).
pub const MAX_ATTEMPTS: i64 = 30;
/// The first retry's delay; each next one doubles, up to [`MAX_BACKOFF_SECS`].
pub const FIRST_BACKOFF_SECS: i64 = 5;
pub const MAX_BACKOFF_SECS: i64 = 3600;
/// One SMTP conversation's time limit.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to send (`WRIT_SMTP_URL`, `WRIT_SMTP_FROM`), parsed.
#[derive(Clone)]
pub struct SmtpSettings {
    /// The URL as configured: secret (it may hold the password).
    url: String,
    host: String,
    port: u16,
    security: Security,
    credentials: Option<(String, String)>,
    pub from: Mailbox,
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtps://`: TLS from the first byte (default port 465).
    Implicit,
    /// `smtp://` to another host: STARTTLS, required (default port 587).
    StartTls,
    /// `smtp://` to 127.0.0.1, ::1 or localhost: STARTTLS when the server offers it, else
    /// plain (a local relay, tests).
    StartTlsWhenOffered,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpSettings {
    /// Parses `smtp://[user:pass@]host[:port]` or `smtps://…` and the sender address.
    pub fn parse(url: &str, from: &str) -> Result<Self, String> {
        let u = url::Url::parse(url).map_err(|_| {
            "WRIT_SMTP_URL is not a URL like smtp://user:password@mail.example.com:587".to_owned()
        })?;
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("WRIT_SMTP_URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let security = match u.scheme() {
            "smtps" => Security::Implicit,
            "smtp" if loopback => Security::StartTlsWhenOffered,
            "smtp" => Security::StartTls,
            other => {
                return Err(format!(
                    "WRIT_SMTP_URL: the scheme must be smtp:// (STARTTLS) or smtps:// (TLS), not {other}://"
                ));
            }
        };
        let port = u.port().unwrap_or(match security {
            Security::Implicit => 465,
            _ => 587,
        });
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let credentials = (!u.username().is_empty()).then(|| {
            (
                decode(u.username()),
                decode(u.password().unwrap_or_default()),
            )
        });
        let from: Mailbox = from.parse().map_err(|_| {
            "WRIT_SMTP_FROM must be an address like 'Writ <no-reply@example.com>' (required with WRIT_SMTP_URL)"
                .to_owned()
        })?;
        Ok(SmtpSettings {
            url: url.to_owned(),
            host,
            port,
            security,
            credentials,
            from,
        })
    }

    /// The URL as configured (secret).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn security(&self) -> Security {
        self.security
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let params = || TlsParameters::new(self.host.clone()).map_err(|e| e.to_string());
        let tls = match self.security {
            Security::Implicit => Tls::Wrapper(params()?),
            Security::StartTls => Tls::Required(params()?),
            Security::StartTlsWhenOffered => Tls::Opportunistic(params()?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.clone())
            .port(self.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some((user, pass)) = &self.credentials {
            b = b.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(b.build())
    }
}

/// Starts this node's sender when SMTP is configured; it ends with the state.
pub fn spawn(w: &Writ) {
    let Some(smtp) = w.config.smtp.clone() else {
        return;
    };
    let transport = match smtp.transport() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, host = %smtp.host, "SMTP: cannot set up TLS; mail stays queued");
            return;
        }
    };
    let weak = w.downgrade();
    let wake = w.mail.wake.clone();
    let mut closing = w.closing.subscribe();
    tokio::spawn(async move {
        loop {
            let Some(w) = weak.upgrade() else { return };
            let wait = send_due(&w, &smtp, &transport).await;
            drop(w);
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = closing.changed() => return,
            }
        }
    });
}

/// Sends every message due now; returns how long to wait before looking again.
async fn send_due(
    w: &Writ,
    smtp: &SmtpSettings,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
) -> Duration {
    let poll = Duration::from_secs(POLL_SECS);
    loop {
        let now = crate::time::now();
        let batch = match w
            .store
            .claim_mail(&w.mail.worker, now, LEASE_SECS, BATCH)
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot claim messages");
                return poll;
            }
        };
        if batch.is_empty() {
            break;
        }
        for m in batch {
            send_one(w, smtp, transport, m).await;
        }
    }
    match w.store.next_mail_due().await {
        Ok(Some(at)) => {
            let secs = (at - crate::time::now()).clamp(1, POLL_SECS as i64);
            Duration::from_secs(secs as u64)
        }
        _ => poll,
    }
}

/// When a message that failed `attempts` times is due again.
pub fn backoff(attempts: i64) -> i64 {
    let exp = u32::try_from((attempts - 1).clamp(0, 20)).unwrap_or(20);
    FIRST_BACKOFF_SECS
        .saturating_mul(1 << exp)
        .min(MAX_BACKOFF_SECS)
}

async fn send_one(
    w: &Writ,
    smtp: &SmtpSettings,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    m: OutboxMail,
) {
    let worker = &w.mail.worker;
    let outcome = match build(smtp, &m) {
        Err(e) => Err((e, true)),
        Ok(msg) => transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| (e.to_string(), e.is_permanent())),
    };
    let recorded = match outcome {
        Ok(()) => {
            tracing::info!(id = %m.id, kind = %m.kind, "email sent");
            w.store.mail_sent(&m.id, worker, crate::time::now()).await
        }
        Err((error, permanent)) => {
            let give_up = permanent || m.attempts >= MAX_ATTEMPTS;
            let retry_at = (!give_up).then(|| crate::time::now() + backoff(m.attempts));
            tracing::warn!(
                id = %m.id,
                kind = %m.kind,
                attempts = m.attempts,
                host = %smtp.host,
                error = %error,
                abandoned = give_up,
                "email not sent"
            );
            w.store.mail_failed(&m.id, worker, &error, retry_at).await
        }
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => tracing::warn!(id = %m.id, "outbox: the message's lease ended while sending"),
        Err(e) => tracing::warn!(id = %m.id, error = %e, "outbox: cannot record the outcome"),
    }
}

fn build(smtp: &SmtpSettings, m: &OutboxMail) -> Result<Message, String> {
    let to: Mailbox = m
        .recipient
        .parse()
        .map_err(|e| format!("invalid recipient address: {e}"))?;
    Message::builder()
        .from(smtp.from.clone())
        .to(to)
        .subject(m.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            m.text_body.clone(),
            m.html_body.clone(),
        ))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_their_security() {
        let s = SmtpSettings::parse(
            "smtp://me%40x:p%3Ass@mail.example.com",
            "Writ <no-reply@example.com>",
        )
        .unwrap();
        assert_eq!(s.security, Security::StartTls);
        assert_eq!(s.port, 587);
        assert_eq!(s.credentials, Some(("me@x".to_owned(), "p:ss".to_owned())));
        assert!(!format!("{s:?}").contains("p:ss"));
        let s = SmtpSettings::parse("smtps://mail.example.com", "a@example.com").unwrap();
        assert_eq!((s.security, s.port), (Security::Implicit, 465));
        let s = SmtpSettings::parse("smtp://127.0.0.1:2525", "a@example.com").unwrap();
        assert_eq!(
            (s.security, s.port, s.credentials),
            (Security::StartTlsWhenOffered, 2525, None)
        );
        assert!(SmtpSettings::parse("http://mail.example.com", "a@example.com").is_err());
        assert!(SmtpSettings::parse("smtp://mail.example.com", "not an address").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), 5);
        assert_eq!(backoff(2), 10);
        assert_eq!(backoff(4), 40);
        assert_eq!(backoff(30), 3600);
    }
}
