//! `/admin/mail`: the outbox of outgoing email (verification and password-reset messages),
//! newest first: to whom, what, its state (pending, sent, abandoned), attempts and the last
//! error the mail server gave. Never a message's body: an unsent body holds a one-time link.
//! Read-only; needs `read:logs`.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use writ_service::OutboxMail;
use writ_service::{Page, Writ};

use super::view::{self, Admin, Answer, Layout};

pub fn router() -> Router<Writ> {
    Router::new().route("/admin/mail", get(list))
}

#[derive(Debug, Default, Deserialize)]
struct MailQuery {
    page: Option<u32>,
}

#[derive(Template)]
#[template(path = "admin/mail.html")]
struct ListPage {
    l: Layout,
    mails: Vec<OutboxMail>,
    smtp: bool,
    total: i64,
    first: i64,
    last: i64,
    prev: Option<String>,
    next: Option<String>,
}

impl ListPage {
    fn when(&self, t: &i64) -> String {
        chrono::DateTime::from_timestamp(*t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    }
}

async fn list(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Answer {
    admin.need(&["read:logs"])?;
    let q: MailQuery = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    let page = Page {
        page: q.page.unwrap_or(0),
        per_page: 50,
    };
    let found = admin.ok(writ_service::mail::outbox(&s, page).await)?;
    let first = (page.offset() + 1).min(found.total);
    let last = (page.offset() + found.items.len() as i64).min(found.total);
    let href = |p: u32| format!("/admin/mail?page={p}");
    Ok(view::render(
        StatusCode::OK,
        &ListPage {
            l: admin.layout("Outgoing mail", "logs"),
            smtp: writ_service::mail::mode(&s) == writ_service::mail::Mode::Smtp,
            prev: (page.page > 0).then(|| href(page.page - 1)),
            next: (last < found.total).then(|| href(page.page + 1)),
            mails: found.items,
            total: found.total,
            first,
            last,
        },
    ))
}
