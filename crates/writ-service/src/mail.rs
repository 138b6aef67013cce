//! Outgoing email: the durable outbox, its sender, and the messages' templates.
//!
//! Every message is written to the store's outbox first (in the request that asks for it,
//! which never waits for a mail server), then sent by a background task ([`sender`]) over SMTP
//! (`WRIT_SMTP_URL`, `WRIT_SMTP_FROM`), retried with exponential backoff while the server is
//! unreachable or answers a temporary error. Any node may send any message: a claim with a
//! lease keeps one message to one sender. Sent messages lose their bodies (they carry
//! one-time links) and are pruned after a week.
//!
//! Without SMTP, `writ demo` logs each message's link at `warn` instead (for local trials),
//! and `writ serve` refuses the flows that need mail with a clear message ([`Mode`]).
//!
//! The messages are [`templates`]: plain text and HTML per message, bundled in the binary and
//! overridable from a folder (`WRIT_EMAIL_TEMPLATES`).

pub mod sender;
pub mod templates;

use std::sync::Arc;

use writ_store::NewMail;

use crate::Writ;
pub use templates::{Kind, Templates};

/// How this node delivers mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Queued in the outbox and sent over SMTP.
    Smtp,
    /// No SMTP (`writ demo`): each message's link is logged at `warn`, nothing is queued.
    LogLinks,
    /// No SMTP (`writ serve`): the flows that need mail are refused.
    Off,
}

/// The mail state of a node: templates, the sender's wake-up and its worker id.
pub struct Mail {
    pub templates: Templates,
    /// Wakes this node's sender at once after a message is queued.
    pub wake: Arc<tokio::sync::Notify>,
    /// This node's name in the outbox's claims.
    pub worker: String,
}

impl Mail {
    /// The templates of `dir` over the bundled ones (the configuration checked them at start;
    /// a file broken since falls back to the bundled default, with an error logged).
    pub fn new(dir: Option<&std::path::Path>) -> Self {
        let templates = Templates::load(dir).unwrap_or_else(|e| {
            tracing::error!(error = %e, "email templates: using the bundled ones");
            Templates::bundled()
        });
        Mail {
            templates,
            wake: Arc::default(),
            worker: format!("node_{}", crate::crypto::random_alnum(12)),
        }
    }
}

/// How `w` delivers mail.
pub fn mode(w: &Writ) -> Mode {
    if w.config.smtp.is_some() {
        Mode::Smtp
    } else if w.config.mail_log_links {
        Mode::LogLinks
    } else {
        Mode::Off
    }
}

/// What a message says, before rendering.
pub struct Message<'a> {
    pub kind: Kind,
    pub to: &'a str,
    pub name: Option<&'a str>,
    /// The one-time link it carries.
    pub link: &'a str,
    /// How long the link works, in seconds.
    pub lifetime: i64,
}

/// Renders and queues a message; it is sent in the background. In [`Mode::LogLinks`] the link
/// is logged at `warn` instead; in [`Mode::Off`] nothing happens (callers refuse first, see
/// [`crate::account`]). Never waits for a mail server.
pub async fn queue(w: &Writ, m: Message<'_>) -> crate::Result<()> {
    let rendered = w.mail.templates.render(m.kind, &context(w, &m))?;
    match mode(w) {
        Mode::Off => Ok(()),
        Mode::LogLinks => {
            // Development only (`writ demo`): the link is shown so the flow can be tried
            // without a mail server.
            tracing::warn!(
                to = %m.to,
                kind = m.kind.as_str(),
                link = %m.link,
                "no SMTP server configured (WRIT_SMTP_URL): this email is not sent; open its link here"
            );
            Ok(())
        }
        Mode::Smtp => {
            let mail = NewMail {
                recipient: m.to.to_owned(),
                kind: m.kind.as_str().to_owned(),
                subject: rendered.subject,
                text_body: rendered.text,
                html_body: rendered.html,
            };
            w.store.queue_mail(&mail, crate::time::now()).await?;
            w.mail.wake.notify_one();
            Ok(())
        }
    }
}

/// Renders a message the same way as [`queue`] without queueing it: the work an unknown email
/// costs, so the answer takes as long whether or not the address has an account.
pub fn render_only(w: &Writ, m: Message<'_>) {
    let _ = w.mail.templates.render(m.kind, &context(w, &m));
}

fn context(w: &Writ, m: &Message<'_>) -> templates::Context {
    templates::Context {
        email: m.to.to_owned(),
        name: m.name.map(str::to_owned),
        link: m.link.to_owned(),
        lifetime: templates::lifetime_words(m.lifetime),
        issuer: w.config.issuer.clone(),
    }
}

/// The outbox, newest first, as an admin may see it: state, attempts, last error, never the
/// bodies (an unsent message's body holds its one-time link).
pub async fn outbox(
    w: &Writ,
    page: writ_store::Page,
) -> crate::Result<writ_store::Paged<writ_store::OutboxMail>> {
    let mut found = w.store.list_outbox(page).await?;
    for m in &mut found.items {
        m.text_body.clear();
        m.html_body.clear();
    }
    Ok(found)
}
