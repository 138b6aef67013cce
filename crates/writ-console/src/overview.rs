//! `/admin`: counts of what Writ holds, the signing keys in use, and what the signed-in admin
//! may do.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use writ_core::{KeyState, MANAGEMENT_SCOPES};
use writ_service::{Page, ServiceError, Writ, apis, clients, key_rotation, roles, users};

use super::view::{self, Admin, Layout, ListQuery};

pub struct Stat {
    pub label: &'static str,
    pub href: &'static str,
    /// `None` when the admin may not read it.
    pub count: Option<i64>,
    pub testid: &'static str,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    l: Layout,
    stats: Vec<Stat>,
    /// `(alg, kid)` of the current signing keys.
    keys: Vec<(String, String)>,
    held: Vec<String>,
    total_scopes: usize,
    issuer: String,
}

const ONE: Page = Page {
    page: 0,
    per_page: 1,
};

pub async fn page(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Response {
    let q = ListQuery::parse(q);
    let held: Vec<String> = MANAGEMENT_SCOPES
        .iter()
        .filter(|p| admin.can(p))
        .map(|p| p.to_string())
        .collect();
    if held.is_empty() {
        return view::forbidden(&admin, &["read:users"]);
    }
    let result: Result<Vec<Stat>, ServiceError> = async {
        let can = |p: &str| admin.can(p);
        let apis = if can("read:resource_servers") {
            Some(apis::count(&s).await?)
        } else {
            None
        };
        let roles = if can("read:roles") {
            Some(roles::list(&s, None, ONE).await?.total)
        } else {
            None
        };
        let users = if can("read:users") {
            Some(users::list(&s, None, ONE).await?.total)
        } else {
            None
        };
        let clients = if can("read:clients") {
            Some(clients::count(&s).await?)
        } else {
            None
        };
        let stat = |label, href, count, testid| Stat {
            label,
            href,
            count,
            testid,
        };
        Ok(vec![
            stat("APIs", "/admin/apis", apis, "count-apis"),
            stat("Roles", "/admin/roles", roles, "count-roles"),
            stat("Users", "/admin/users", users, "count-users"),
            stat("Clients", "/admin/clients", clients, "count-clients"),
        ])
    }
    .await;
    let stats = match result {
        Ok(s) => s,
        Err(e) => return view::internal(&admin, e),
    };
    let keys = if admin.can("read:signing_keys") {
        match key_rotation::keys(&s).await {
            Ok(k) => k
                .into_iter()
                .filter(|k| k.state == KeyState::Current)
                .map(|k| (k.alg.as_str().to_owned(), k.kid))
                .collect(),
            Err(e) => return view::internal(&admin, e),
        }
    } else {
        vec![]
    };
    let mut l = admin.layout("Overview", "overview");
    l.flash = q.flash();
    view::render(
        StatusCode::OK,
        &OverviewPage {
            l,
            stats,
            keys,
            held,
            total_scopes: MANAGEMENT_SCOPES.len(),
            issuer: s.config.issuer.clone(),
        },
    )
}
