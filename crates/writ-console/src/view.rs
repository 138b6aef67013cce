//! What every console page shares: the layout (navigation, signed-in admin, CSRF token), the
//! security headers (a CSP built from the hashes of the one stylesheet and the one script),
//! the error, forbidden and confirmation pages, paging and flash messages.

use std::sync::LazyLock;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use writ_store::Page;

use super::auth::Admin;

pub const CSS: &str = include_str!("admin.css");

/// The one script: a confirmation dialog for forms marked `data-confirm` (the server asks on a
/// page of its own when scripts are off, so this only saves a round trip).
pub const JS: &str = "document.addEventListener('submit',function(e){var f=e.target,m=f.getAttribute('data-confirm');if(!m||f.querySelector('input[name=confirmed]'))return;if(!window.confirm(m)){e.preventDefault();return}var i=document.createElement('input');i.type='hidden';i.name='confirmed';i.value='yes';f.appendChild(i)});";

fn hash(s: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
    )
}

static CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        hash(CSS),
        hash(JS)
    )
});

/// What the layout shows around every signed-in page.
pub struct Layout {
    pub title: String,
    /// The navigation entry to highlight.
    pub section: &'static str,
    pub email: String,
    pub csrf: String,
    pub flash: Option<&'static str>,
}

impl Layout {
    pub fn css(&self) -> &'static str {
        CSS
    }
    pub fn js(&self) -> &'static str {
        JS
    }
}

/// Adds the console's security headers.
pub fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: Chromium then sends `Origin: null` with form posts (see pages::secure).
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Renders a template with the security headers.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => secure((status, Html(html)).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "rendering an admin page");
            secure(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html("<!doctype html><title>Error</title><p>Something went wrong.</p>"),
                )
                    .into_response(),
            )
        }
    }
}

/// `303 See Other` to a path of the console (after a form, or to normalize a URL).
pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Percent-encodes one path segment or query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The short confirmation shown after a redirect (`?flash=…`): fixed texts only, so a link
/// cannot make the console say anything else.
pub fn flash(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "Created.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "added" => "Added.",
        "removed" => "Removed.",
        "assigned" => "Assigned.",
        "blocked" => {
            "The user is blocked: their sessions and refresh tokens are ended, their tokens stop working at APIs that follow the event feed, and they cannot sign in."
        }
        "consent_revoked" => {
            "Consent revoked: the application's refresh tokens for this user are revoked."
        }
        "unblocked" => "The user is unblocked.",
        "rotated" => "Rotated.",
        "revoked" => "Revoked.",
        _ => return None,
    })
}

/// A list page's query: search, Auth0-style paging, and a flash code.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub flash: Option<String>,
}

impl ListQuery {
    pub fn parse(raw: Option<String>) -> Self {
        serde_urlencoded::from_str(&raw.unwrap_or_default()).unwrap_or_default()
    }

    pub fn search(&self) -> Option<&str> {
        self.q.as_deref().map(str::trim).filter(|q| !q.is_empty())
    }

    /// `per_page` 1–100, 50 by default (Auth0's bounds).
    pub fn page(&self) -> Page {
        Page {
            page: self.page.unwrap_or(0),
            per_page: self.per_page.unwrap_or(50).clamp(1, 100),
        }
    }

    pub fn flash(&self) -> Option<&'static str> {
        flash(self.flash.as_deref())
    }

    pub fn pager(&self, path: &str, total: i64) -> Pager {
        let p = self.page();
        Pager {
            path: path.to_owned(),
            q: self.search().unwrap_or_default().to_owned(),
            page: p.page,
            per_page: p.per_page,
            total,
        }
    }
}

/// Paging links for a list.
pub struct Pager {
    path: String,
    pub q: String,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

impl Pager {
    fn href(&self, page: u32) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            s.append_pair("q", &self.q);
        }
        s.append_pair("page", &page.to_string());
        s.append_pair("per_page", &self.per_page.to_string());
        format!("{}?{}", self.path, s.finish())
    }
    /// 1-based index of the first item shown.
    pub fn first(&self) -> i64 {
        (i64::from(self.page) * i64::from(self.per_page) + 1).min(self.total)
    }
    pub fn last(&self) -> i64 {
        ((i64::from(self.page) + 1) * i64::from(self.per_page)).min(self.total)
    }
    pub fn prev(&self) -> Option<String> {
        (self.page > 0).then(|| self.href(self.page - 1))
    }
    pub fn next(&self) -> Option<String> {
        (self.last() < self.total).then(|| self.href(self.page + 1))
    }
    pub fn sizes(&self) -> [u32; 4] {
        [10, 25, 50, 100]
    }
}

/// Pages a list held in memory.
pub fn slice<T: Clone>(all: &[T], p: Page) -> Vec<T> {
    all.iter()
        .skip(p.offset() as usize)
        .take(p.per_page as usize)
        .cloned()
        .collect()
}

#[derive(Template)]
#[template(path = "admin/message.html")]
pub struct MessagePage {
    pub l: Layout,
    pub heading: String,
    pub detail: String,
    pub missing: Vec<String>,
    pub back: Option<String>,
    pub relogin: bool,
}

/// A page that says something went wrong (inside the layout).
pub fn message(admin: &Admin, status: StatusCode, heading: &str, detail: &str) -> Response {
    render(
        status,
        &MessagePage {
            l: admin.layout(heading, ""),
            heading: heading.to_owned(),
            detail: detail.to_owned(),
            missing: vec![],
            back: None,
            relogin: false,
        },
    )
}

pub fn not_found(admin: &Admin, what: &str) -> Response {
    message(
        admin,
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("The {what} does not exist (it may have been deleted)."),
    )
}

/// 403: the signed-in admin's token lacks `missing`. Never a redirect (no loop).
pub fn forbidden(admin: &Admin, missing: &[&str]) -> Response {
    let list = missing.join(", ");
    render(
        StatusCode::FORBIDDEN,
        &MessagePage {
            l: admin.layout("Permission needed", ""),
            heading: "You don't have permission to see this".into(),
            detail: format!(
                "You need {list} on the Management API. Permissions come from your roles: ask an administrator to assign you a role that has {}.",
                if missing.len() == 1 { "it" } else { "them" }
            ),
            missing: missing.iter().map(|s| s.to_string()).collect(),
            back: None,
            relogin: true,
        },
    )
}

/// Internal failure of a page (logged, never echoed).
pub fn internal(admin: &Admin, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "admin console");
    message(
        admin,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The request could not be completed. Try again.",
    )
}

#[derive(Template)]
#[template(path = "admin/confirm.html")]
pub struct ConfirmPage {
    pub l: Layout,
    pub heading: String,
    pub detail: String,
    pub action: String,
    pub button: String,
    pub fields: Vec<(String, String)>,
    pub back: String,
}

/// The confirmation step of a destructive action when the browser did not confirm already.
pub fn confirm(
    admin: &Admin,
    heading: &str,
    detail: &str,
    action: &str,
    button: &str,
    fields: Vec<(String, String)>,
    back: &str,
) -> Response {
    render(
        StatusCode::OK,
        &ConfirmPage {
            l: admin.layout(heading, ""),
            heading: heading.to_owned(),
            detail: detail.to_owned(),
            action: action.to_owned(),
            button: button.to_owned(),
            fields,
            back: back.to_owned(),
        },
    )
}

#[derive(Template)]
#[template(path = "admin/plain.html")]
pub struct PlainPage {
    pub css: &'static str,
    pub heading: String,
    pub detail: String,
    pub link: Option<(String, String)>,
    /// Navigate there at once (the sign-in callback's hop into the console).
    pub refresh: Option<String>,
}

/// A page outside the layout (no session): sign-in errors, signed out, the callback's hop.
pub fn plain(
    status: StatusCode,
    heading: &str,
    detail: &str,
    link: Option<(&str, &str)>,
    refresh: Option<&str>,
) -> Response {
    render(
        status,
        &PlainPage {
            css: CSS,
            heading: heading.to_owned(),
            detail: detail.to_owned(),
            link: link.map(|(h, t)| (h.to_owned(), t.to_owned())),
            refresh: refresh.map(str::to_owned),
        },
    )
}

/// The status a use case's refusal or failure is answered with.
pub fn status_of(e: &writ_service::ServiceError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// One option of a permission picker: `value` is `"<api identifier> <permission>"`.
pub struct PermOption {
    pub value: String,
    pub name: String,
    pub description: String,
}

/// The permissions of every API, grouped for a `<select>` with one `<optgroup>` per API.
pub struct PermGroup {
    pub api: String,
    pub options: Vec<PermOption>,
}

pub fn perm_groups(apis: &[writ_core::ResourceServer]) -> Vec<PermGroup> {
    let mut apis: Vec<&writ_core::ResourceServer> =
        apis.iter().filter(|a| !a.scopes.is_empty()).collect();
    apis.sort_by_key(|a| (a.is_system, a.name.to_lowercase()));
    apis.into_iter()
        .map(|a| PermGroup {
            api: format!("{} ({})", a.name, a.identifier),
            options: a
                .scopes
                .iter()
                .map(|s| PermOption {
                    value: format!("{} {}", a.identifier, s.value),
                    name: s.value.clone(),
                    description: s.description.clone(),
                })
                .collect(),
        })
        .collect()
}

/// Parses a picker value back into a permission.
pub fn parse_perm(v: &str) -> Option<writ_core::Permission> {
    let (api, name) = v.trim().rsplit_once(' ')?;
    (!api.is_empty() && !name.is_empty()).then(|| writ_core::Permission {
        resource_server_identifier: api.to_owned(),
        permission_name: name.to_owned(),
    })
}
