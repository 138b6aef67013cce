//! What every console page shares: the layout (navigation, signed-in admin, CSRF token), the
//! security headers (a CSP built from the hashes of the one stylesheet and the one script),
//! the signed-in [`Admin`] a page is rendered for (what they may do, their use-case actor), the
//! error, forbidden and confirmation pages, paging and flash messages. Signing in
//! ([`super::auth`]) builds on this module, never the other way round.

use std::sync::LazyLock;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use writ_service::audit::Operation;
use writ_service::{AccessClaims, Actor, Page, ServiceError, Writ, access};

use super::form::{Errors, FormData};

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

/// What a console handler answers: the page, or the page that stops it early (403, not found,
/// a confirmation step, a failure), returned with `?`.
pub type Answer = Result<Response, Response>;

/// The signed-in admin of a request (see [`super::auth`] for how a session becomes one).
pub struct Admin {
    pub claims: AccessClaims,
    pub email: String,
    pub csrf: String,
    /// The admin as the use cases take them: the console's client, the admin, the browser.
    pub(super) actor: Actor,
}

// The errors below are the pages to answer with, returned at once: no need to box them.
#[allow(clippy::result_large_err)]
impl Admin {
    pub fn can(&self, perm: &str) -> bool {
        access::missing(&self.claims, &[perm]).is_empty()
    }

    /// `Err(403 page)` unless the token holds every one of `perms`.
    pub fn need(&self, perms: &[&str]) -> Result<(), Response> {
        match access::require(&self.claims, perms) {
            Ok(()) => Ok(()),
            Err(ServiceError::Forbidden { missing }) => {
                let missing: Vec<&str> = missing.iter().map(String::as_str).collect();
                Err(forbidden(self, &missing))
            }
            Err(e) => Err(internal(self, e)),
        }
    }

    /// Before a change: `Err(403 page naming perms)` unless the token holds every one of
    /// `perms`; the refusal is recorded in the audit log under `op` (the Management API
    /// operation the change is), as the Management API records one.
    pub async fn may(&self, w: &Writ, perms: &[&str], op: Operation) -> Result<(), Response> {
        access::require_for_write(w, &self.actor, &self.claims, perms, &op)
            .await
            .map_err(|_| forbidden(self, perms))
    }

    /// The admin as the use cases take them.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The page for a change a use case refused or failed: its status and message.
    pub fn failed(&self, heading: &str, e: &ServiceError) -> Response {
        message(self, status_of(e), heading, &e.to_string())
    }

    /// After a change: on to `to` once made, else the page of its refusal or failure.
    pub fn done<T>(&self, r: Result<T, ServiceError>, to: &str, failed: &str) -> Answer {
        Ok(match r {
            Ok(_) => see_other(to),
            Err(e) => self.failed(failed, &e),
        })
    }

    /// A read's result, or the page of its failure (logged, never echoed).
    pub fn ok<T>(&self, r: Result<T, impl std::fmt::Display>) -> Result<T, Response> {
        r.map_err(|e| internal(self, e))
    }

    /// A read of one `what` (an id from the URL): the thing, the not-found page, or the page
    /// of a failure.
    pub fn found<T>(&self, what: &str, r: Result<T, ServiceError>) -> Result<T, Response> {
        match r {
            Ok(x) => Ok(x),
            Err(ServiceError::NotFound(_)) => Err(not_found(self, what)),
            Err(e) => Err(internal(self, e)),
        }
    }

    /// The confirmation step of a destructive action: `Ok` once the admin confirmed (in the
    /// browser's dialog or on the confirmation page), else the page that asks, posting the
    /// form again to `{back}/{tail}` or going back to `back`.
    pub fn confirmed(
        &self,
        form: &FormData,
        back: &str,
        tail: &str,
        ask: Ask,
    ) -> Result<(), Response> {
        if form.confirmed() {
            return Ok(());
        }
        Err(confirm(
            self,
            &ask,
            &format!("{back}/{tail}"),
            form.carried(),
            back,
        ))
    }

    pub fn layout(&self, title: &str, section: &'static str) -> Layout {
        Layout {
            title: title.to_owned(),
            section,
            email: self.email.clone(),
            csrf: self.csrf.clone(),
            flash: None,
        }
    }
}

/// What a confirmation page asks: its heading, what the action does, the button that does it.
pub struct Ask<'a> {
    pub heading: String,
    pub detail: String,
    pub button: &'a str,
}

/// 200, or 400 when a form comes back with errors.
pub fn status(errors: &[&Errors]) -> StatusCode {
    if errors.iter().all(|e| e.is_empty()) {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

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
    /// The layout with the short confirmation of the change that led here.
    pub fn with_flash(self, flash: Option<&'static str>) -> Self {
        Layout { flash, ..self }
    }
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
        "factors_reset" => {
            "Second factors reset: if one is required of this user, they enroll a new one at their next login."
        }
        "rotated" => "Rotated.",
        "revoked" => "Revoked.",
        "deployed" => "Deployed: this code runs from the next token request.",
        "bound" => "Bound: the deployed code runs at every token request of its trigger.",
        "unbound" => "Unbound: it no longer runs.",
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

    /// Keeps the items of a list held in memory that match the search (case-insensitively, in
    /// any of the texts `fields` gives), all of them without one.
    pub fn retain_matching<T, const N: usize>(
        &self,
        all: &mut Vec<T>,
        fields: impl Fn(&T) -> [&String; N],
    ) {
        if let Some(term) = self.search().map(str::to_lowercase) {
            all.retain(|x| fields(x).iter().any(|f| f.to_lowercase().contains(&term)));
        }
    }

    /// This page of a list held in memory, and its paging links.
    pub fn slice<T: Clone>(&self, all: &[T], path: &str) -> (Vec<T>, Pager) {
        (slice(all, self.page()), self.pager(path, all.len() as i64))
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
fn slice<T: Clone>(all: &[T], p: Page) -> Vec<T> {
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

/// The confirmation page of a destructive action (see [`Admin::confirmed`]).
fn confirm(
    admin: &Admin,
    ask: &Ask,
    action: &str,
    fields: Vec<(String, String)>,
    back: &str,
) -> Response {
    render(
        StatusCode::OK,
        &ConfirmPage {
            l: admin.layout(&ask.heading, ""),
            heading: ask.heading.clone(),
            detail: ask.detail.clone(),
            action: action.to_owned(),
            button: ask.button.to_owned(),
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

/// The permissions picked in a form's `permission` picker (values it cannot hold dropped), or
/// the message asking for one.
pub fn picked_perms(form: &FormData) -> Result<Vec<writ_core::Permission>, String> {
    let perms: Vec<_> = form
        .all("permission")
        .iter()
        .filter_map(|v| parse_perm(v))
        .collect();
    if perms.is_empty() {
        Err("Choose a permission.".into())
    } else {
        Ok(perms)
    }
}

/// The role a roles card's form picked (`role_id`), or the message asking for one.
pub fn picked_role(form: &FormData) -> Result<String, String> {
    let role = form.text("role_id");
    if role.is_empty() {
        Err("Choose a role.".into())
    } else {
        Ok(role)
    }
}

/// The one permission a remove button posts, or the page saying none was given.
#[allow(clippy::result_large_err)]
pub fn picked_perm(admin: &Admin, form: &FormData) -> Result<writ_core::Permission, Response> {
    parse_perm(form.get("permission")).ok_or_else(|| {
        message(
            admin,
            StatusCode::BAD_REQUEST,
            "Nothing to remove",
            "No permission was given.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickers_ask_for_a_choice_when_none_was_made() {
        let form = FormData::parse(
            b"role_id=+rol_1+&permission=https%3A%2F%2Fa%2F+read%3Ax&permission=bad",
        );
        assert_eq!(picked_role(&form).as_deref(), Ok("rol_1"));
        let perms = picked_perms(&form).unwrap();
        assert_eq!(perms.len(), 1);
        assert_eq!(perms[0].resource_server_identifier, "https://a/");
        assert_eq!(perms[0].permission_name, "read:x");
        let none = FormData::parse(b"role_id=&permission=bad");
        assert_eq!(picked_role(&none), Err("Choose a role.".to_owned()));
        assert_eq!(picked_perms(&none).unwrap_err(), "Choose a permission.");
    }
}
