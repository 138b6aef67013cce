//! `/admin/users`: users of the built-in connection — search and list, create, block, delete,
//! metadata as JSON, roles, direct permissions, and the effective permissions per API with
//! where each comes from. Changes are Management API calls (`/users`).

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use writ_core::{DEFAULT_CONNECTION, Role, User};
use writ_store::PermissionInfo;

use super::auth::{Admin, Post};
use super::form::{Errors, FormData};
use super::view::{self, Layout, ListQuery, Pager, PermGroup, enc};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list))
        .route("/admin/users/new", get(new_page).post(create))
        .route("/admin/users/{id}", get(detail))
        .route("/admin/users/{id}/block", post(block))
        .route("/admin/users/{id}/unblock", post(unblock))
        .route("/admin/users/{id}/delete", post(delete))
        .route("/admin/users/{id}/metadata", post(metadata))
        .route(
            "/admin/users/{id}/consents/{consent}/revoke",
            post(revoke_consent),
        )
        .route("/admin/users/{id}/roles", post(assign_role))
        .route("/admin/users/{id}/roles/remove", post(remove_role))
        .route("/admin/users/{id}/permissions", post(add_permission))
        .route(
            "/admin/users/{id}/permissions/remove",
            post(remove_permission),
        )
}

fn href(u: &User) -> String {
    format!("/admin/users/{}", enc(&u.user_id))
}

fn day(ts: &str) -> &str {
    ts.get(..10).unwrap_or(ts)
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct ListPage {
    l: Layout,
    users: Vec<User>,
    pager: Pager,
    can_create: bool,
}

impl ListPage {
    fn day<'a>(&self, ts: &'a str) -> &'a str {
        day(ts)
    }
}

async fn list(State(s): State<AppState>, admin: Admin, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = admin.need(&["read:users"]) {
        return r;
    }
    let q = ListQuery::parse(q);
    let page = match s.store.list_users(q.search(), q.page()).await {
        Ok(p) => p,
        Err(e) => return view::internal(&admin, e),
    };
    let mut l = admin.layout("Users", "users");
    l.flash = q.flash();
    view::render(
        StatusCode::OK,
        &ListPage {
            l,
            users: page.items,
            pager: q.pager("/admin/users", page.total),
            can_create: admin.can("create:users"),
        },
    )
}

#[derive(Template)]
#[template(path = "admin/user_new.html")]
struct NewPage {
    l: Layout,
    email: String,
    name: String,
    e: Errors,
}

fn new_form(admin: &Admin, f: &FormData, e: Errors) -> Response {
    let status = if e.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    view::render(
        status,
        &NewPage {
            l: admin.layout("New user", "users"),
            email: f.text("email"),
            name: f.text("name"),
            e,
        },
    )
}

async fn new_page(admin: Admin) -> Response {
    if let Err(r) = admin.need(&["create:users"]) {
        return r;
    }
    new_form(&admin, &FormData::default(), Errors::default())
}

async fn create(post: Post) -> Response {
    let Post { admin, form } = post;
    let mut body = json!({
        "email": form.text("email"),
        "password": form.get("password"),
        "connection": DEFAULT_CONNECTION,
    });
    if !form.text("name").is_empty() {
        body["name"] = json!(form.text("name"));
    }
    match admin.api(Method::POST, "/users", Some(body)).await {
        Ok(v) => view::see_other(&format!(
            "/admin/users/{}?flash=created",
            enc(v["user_id"].as_str().unwrap_or_default())
        )),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["create:users"]),
        Err(f) => new_form(
            &admin,
            &form,
            Errors::from_failure(&f, &["email", "password", "name"], Some("email")),
        ),
    }
}

/// One permission a user holds for an API, and every reason they hold it.
pub struct Effective {
    pub name: String,
    pub description: String,
    /// `direct`, `role: editor`, …
    pub sources: Vec<String>,
}

/// A user's effective permissions for one API.
pub struct EffectiveApi {
    pub name: String,
    pub identifier: String,
    pub rbac: bool,
    pub perms: Vec<Effective>,
}

/// Permission name → (description, sources).
type PermSources = BTreeMap<String, (String, Vec<String>)>;

/// effective(user, api) = direct ∪ ⋃ roles' permissions, with the source of each.
fn effective(
    direct: &[PermissionInfo],
    roles: &[(Role, Vec<PermissionInfo>)],
    rbac_of: impl Fn(&str) -> bool,
) -> Vec<EffectiveApi> {
    // API identifier → (API name, its permissions).
    let mut by_api: BTreeMap<String, (String, PermSources)> = BTreeMap::new();
    let mut add = |p: &PermissionInfo, source: String| {
        let api = by_api
            .entry(p.resource_server_identifier.clone())
            .or_insert_with(|| (p.resource_server_name.clone(), BTreeMap::new()));
        let perm = api
            .1
            .entry(p.permission_name.clone())
            .or_insert_with(|| (p.description.clone(), Vec::new()));
        if !perm.1.contains(&source) {
            perm.1.push(source);
        }
    };
    for p in direct {
        add(p, "direct".into());
    }
    for (role, perms) in roles {
        for p in perms {
            add(p, format!("role: {}", role.name));
        }
    }
    by_api
        .into_iter()
        .map(|(identifier, (name, perms))| EffectiveApi {
            rbac: rbac_of(&identifier),
            name,
            identifier,
            perms: perms
                .into_iter()
                .map(|(name, (description, sources))| Effective {
                    name,
                    description,
                    sources,
                })
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct DetailPage {
    l: Layout,
    u: User,
    is_me: bool,
    app_text: String,
    user_text: String,
    e: Errors,
    roles: Vec<Role>,
    role_options: Vec<Role>,
    re: Errors,
    direct: Vec<PermissionInfo>,
    groups: Vec<PermGroup>,
    pe: Errors,
    effective: Vec<EffectiveApi>,
    can_update: bool,
    can_delete: bool,
    can_read_roles: bool,
    /// The user's consents to third-party clients, with each client's name; `None` without
    /// `read:grants`.
    consents: Option<Vec<(writ_store::Consent, String)>>,
    can_revoke_consents: bool,
}

impl DetailPage {
    fn perm_value(&self, p: &PermissionInfo) -> String {
        format!("{} {}", p.resource_server_identifier, p.permission_name)
    }
    fn day<'a>(&self, ts: &'a str) -> &'a str {
        day(ts)
    }
}

#[derive(Default)]
struct Kept {
    app_text: Option<String>,
    user_text: Option<String>,
    e: Errors,
    re: Errors,
    pe: Errors,
}

fn pretty(m: &Map<String, Value>) -> String {
    serde_json::to_string_pretty(m).unwrap_or_else(|_| "{}".into())
}

async fn load(s: &AppState, admin: &Admin, id: &str) -> Result<User, Response> {
    admin.need(&["read:users"])?;
    match s.store.get_user(id).await {
        Ok(u) => Ok(u),
        Err(writ_store::StoreError::NotFound(_)) => Err(view::not_found(admin, "user")),
        Err(e) => Err(view::internal(admin, e)),
    }
}

async fn detail_page(
    s: &AppState,
    admin: &Admin,
    u: User,
    flash: Option<&'static str>,
    kept: Kept,
) -> Response {
    let st = &s.store;
    let can_read_roles = admin.can("read:roles");
    let can_update = admin.can("update:users");
    let loaded: Result<_, writ_store::StoreError> = async {
        let direct = view::all_pages(|p| st.user_permissions(&u.user_id, p)).await?;
        // A user's roles and their permissions: the sources of the effective permissions
        // (read through the user's permissions grant, like the token endpoint does).
        let roles = view::all_pages(|p| st.user_roles(&u.user_id, p)).await?;
        let mut with_perms = Vec::with_capacity(roles.len());
        for r in &roles {
            let perms = view::all_pages(|p| st.role_permissions(&r.id, p)).await?;
            with_perms.push((r.clone(), perms));
        }
        let role_options = if can_update && can_read_roles {
            view::all_pages(|p| st.list_roles(None, p))
                .await?
                .into_iter()
                .filter(|r| !roles.iter().any(|h| h.id == r.id))
                .collect()
        } else {
            vec![]
        };
        let groups = if can_update {
            view::perm_groups(&st.all_resource_servers().await?)
        } else {
            vec![]
        };
        let consents = if admin.can("read:grants") {
            let filter = writ_store::ConsentFilter {
                user_id: Some(u.user_id.clone()),
                ..Default::default()
            };
            let all = view::all_pages(|p| st.list_consents(&filter, p)).await?;
            let catalog = s.catalog.load();
            Some(
                all.into_iter()
                    .map(|c| {
                        let name = catalog
                            .clients
                            .get(&c.client_id)
                            .map_or_else(|| c.client_id.clone(), |k| k.name.clone());
                        (c, name)
                    })
                    .collect(),
            )
        } else {
            None
        };
        Ok((direct, roles, with_perms, role_options, groups, consents))
    }
    .await;
    let (direct, roles, with_perms, role_options, groups, consents) = match loaded {
        Ok(x) => x,
        Err(e) => return view::internal(admin, e),
    };
    let catalog = s.catalog.load();
    let effective = effective(&direct, &with_perms, |id| {
        catalog.apis.get(id).is_some_and(|a| a.enforce_policies)
    });
    let status = if kept.e.is_empty() && kept.re.is_empty() && kept.pe.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut l = admin.layout(&u.email, "users");
    l.flash = flash;
    view::render(
        status,
        &DetailPage {
            l,
            is_me: u.user_id == admin.claims.sub,
            app_text: kept.app_text.unwrap_or_else(|| pretty(&u.app_metadata)),
            user_text: kept.user_text.unwrap_or_else(|| pretty(&u.user_metadata)),
            u,
            e: kept.e,
            roles: if can_read_roles { roles } else { vec![] },
            role_options,
            re: kept.re,
            direct,
            groups,
            pe: kept.pe,
            effective,
            can_update,
            can_delete: admin.can("delete:users"),
            can_read_roles,
            consents,
            can_revoke_consents: admin.can("delete:grants"),
        },
    )
}

async fn detail(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    match load(&s, &admin, &id).await {
        Ok(u) => detail_page(&s, &admin, u, ListQuery::parse(q).flash(), Kept::default()).await,
        Err(r) => r,
    }
}

/// PATCH `/users/{id}` with `body`; `Ok(flash)` → back to the user's page.
async fn patch(admin: &Admin, u: &User, body: Value) -> Result<(), super::call::Failure> {
    admin
        .api(
            Method::PATCH,
            &format!("/users/{}", enc(&u.user_id)),
            Some(body),
        )
        .await
        .map(|_| ())
}

async fn block(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let u = match load(&s, &admin, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !form.confirmed() {
        return view::confirm(
            &admin,
            &format!("Block {}?", u.email),
            "They can no longer sign in or renew tokens, and APIs following the event feed refuse their current tokens.",
            &format!("{}/block", href(&u)),
            "Block user",
            form.carried(),
            &href(&u),
        );
    }
    match patch(&admin, &u, json!({ "blocked": true })).await {
        Ok(()) => view::see_other(&format!("{}?flash=blocked", href(&u))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:users"]),
        Err(f) => view::message(&admin, f.status, "Not blocked", &f.message),
    }
}

async fn unblock(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, .. } = post;
    let u = match load(&s, &admin, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match patch(&admin, &u, json!({ "blocked": false })).await {
        Ok(()) => view::see_other(&format!("{}?flash=unblocked", href(&u))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:users"]),
        Err(f) => view::message(&admin, f.status, "Not unblocked", &f.message),
    }
}

async fn delete(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let u = match load(&s, &admin, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !form.confirmed() {
        let me = if u.user_id == admin.claims.sub {
            " This is you: your console session ends with it."
        } else {
            ""
        };
        return view::confirm(
            &admin,
            &format!("Delete {}?", u.email),
            &format!(
                "The user, their roles and permissions are deleted. This cannot be undone.{me}"
            ),
            &format!("{}/delete", href(&u)),
            "Delete user",
            form.carried(),
            &href(&u),
        );
    }
    match admin
        .api(Method::DELETE, &format!("/users/{}", enc(&u.user_id)), None)
        .await
    {
        Ok(_) => view::see_other("/admin/users?flash=deleted"),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["delete:users"]),
        Err(f) => view::message(&admin, f.status, "Not deleted", &f.message),
    }
}

/// Revokes one of the user's consents (`DELETE /api/v2/grants/{id}`): the client's refresh
/// tokens for the user go with it.
async fn revoke_consent(
    State(s): State<AppState>,
    Path((id, consent)): Path<(String, String)>,
    post: Post,
) -> Response {
    let Post { admin, form } = post;
    let u = match load(&s, &admin, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !form.confirmed() {
        return view::confirm(
            &admin,
            "Revoke this consent?",
            "The application loses access for this user: its refresh tokens are revoked and it must ask for consent again.",
            &format!("{}/consents/{}/revoke", href(&u), enc(&consent)),
            "Revoke consent",
            form.carried(),
            &href(&u),
        );
    }
    match admin
        .api(Method::DELETE, &format!("/grants/{}", enc(&consent)), None)
        .await
    {
        Ok(_) => view::see_other(&format!("{}?flash=consent_revoked#consents", href(&u))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["delete:grants"]),
        Err(f) => view::message(&admin, f.status, "Not revoked", &f.message),
    }
}

/// The patch that turns `current` into `wanted` under the Management API's first-level merge:
/// changed keys, `null` for removed ones, or `{}` to clear everything.
fn metadata_patch(current: &Map<String, Value>, wanted: &Map<String, Value>) -> Option<Value> {
    if current == wanted {
        return None;
    }
    if wanted.is_empty() {
        return Some(json!({}));
    }
    let mut p = Map::new();
    for (k, v) in wanted {
        if current.get(k) != Some(v) {
            p.insert(k.clone(), v.clone());
        }
    }
    for k in current.keys() {
        if !wanted.contains_key(k) {
            p.insert(k.clone(), Value::Null);
        }
    }
    Some(Value::Object(p))
}

fn parse_object(text: &str) -> Result<Map<String, Value>, String> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("Must be a JSON object, like {\"plan\": \"pro\"}.".into()),
        Err(e) => Err(format!("Invalid JSON: {e}.")),
    }
}

async fn metadata(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let u = match load(&s, &admin, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let app_text = form.get("app_metadata").to_owned();
    let user_text = form.get("user_metadata").to_owned();
    let mut e = Errors::default();
    let app = parse_object(&app_text)
        .map_err(|m| e.add("app_metadata", m))
        .ok();
    let usr = parse_object(&user_text)
        .map_err(|m| e.add("user_metadata", m))
        .ok();
    let kept = |e: Errors| Kept {
        app_text: Some(app_text.clone()),
        user_text: Some(user_text.clone()),
        e,
        ..Default::default()
    };
    let (Some(app), Some(usr)) = (app, usr) else {
        return detail_page(&s, &admin, u, None, kept(e)).await;
    };
    let mut body = Map::new();
    if let Some(p) = metadata_patch(&u.app_metadata, &app) {
        body.insert("app_metadata".into(), p);
    }
    if let Some(p) = metadata_patch(&u.user_metadata, &usr) {
        body.insert("user_metadata".into(), p);
    }
    if body.is_empty() {
        return view::see_other(&format!("{}?flash=saved#metadata", href(&u)));
    }
    match patch(&admin, &u, Value::Object(body)).await {
        Ok(()) => view::see_other(&format!("{}?flash=saved#metadata", href(&u))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:users"]),
        Err(f) => {
            let e = Errors::from_failure(&f, &["app_metadata", "user_metadata"], None);
            detail_page(&s, &admin, u, None, kept(e)).await
        }
    }
}

fn one_error(field: &str, msg: impl Into<String>) -> Errors {
    let mut e = Errors::default();
    e.add(field, msg);
    e
}

async fn assign_role(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let u = match load(&s, &admin, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let role = form.text("role_id");
    if role.is_empty() {
        let kept = Kept {
            re: one_error("role_id", "Choose a role."),
            ..Default::default()
        };
        return detail_page(&s, &admin, u, None, kept).await;
    }
    match admin
        .api(
            Method::POST,
            &format!("/users/{}/roles", enc(&u.user_id)),
            Some(json!({ "roles": [role] })),
        )
        .await
    {
        Ok(_) => view::see_other(&format!("{}?flash=assigned#roles", href(&u))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:users"]),
        Err(f) => {
            let kept = Kept {
                re: one_error("role_id", f.message),
                ..Default::default()
            };
            detail_page(&s, &admin, u, None, kept).await
        }
    }
}

async fn remove_role(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let u = match load(&s, &admin, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let role_id = form.text("role_id");
    if !form.confirmed() {
        let name = match s.store.get_role(&role_id).await {
            Ok(r) => r.name,
            Err(_) => role_id.clone(),
        };
        return view::confirm(
            &admin,
            &format!("Remove the role {name} from {}?", u.email),
            &format!(
                "{} loses the permissions of {name} they do not hold another way; APIs following the event feed refuse their older tokens.",
                u.email
            ),
            &format!("{}/roles/remove", href(&u)),
            "Remove role",
            form.carried(),
            &href(&u),
        );
    }
    match admin
        .api(
            Method::DELETE,
            &format!("/users/{}/roles", enc(&u.user_id)),
            Some(json!({ "roles": [role_id] })),
        )
        .await
    {
        Ok(_) => view::see_other(&format!("{}?flash=removed#roles", href(&u))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:users"]),
        Err(f) => view::message(&admin, f.status, "Not removed", &f.message),
    }
}

async fn add_permission(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let u = match load(&s, &admin, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let perms: Vec<_> = form
        .all("permission")
        .iter()
        .filter_map(|v| view::parse_perm(v))
        .collect();
    if perms.is_empty() {
        let kept = Kept {
            pe: one_error("permission", "Choose a permission."),
            ..Default::default()
        };
        return detail_page(&s, &admin, u, None, kept).await;
    }
    match admin
        .api(
            Method::POST,
            &format!("/users/{}/permissions", enc(&u.user_id)),
            Some(json!({ "permissions": perms })),
        )
        .await
    {
        Ok(_) => view::see_other(&format!("{}?flash=added#permissions", href(&u))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:users"]),
        Err(f) => {
            let kept = Kept {
                pe: one_error("permission", f.message),
                ..Default::default()
            };
            detail_page(&s, &admin, u, None, kept).await
        }
    }
}

async fn remove_permission(
    State(s): State<AppState>,
    Path(id): Path<String>,
    post: Post,
) -> Response {
    let Post { admin, form } = post;
    let u = match load(&s, &admin, &id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(perm) = view::parse_perm(form.get("permission")) else {
        return view::message(
            &admin,
            StatusCode::BAD_REQUEST,
            "Nothing to remove",
            "No permission was given.",
        );
    };
    if !form.confirmed() {
        return view::confirm(
            &admin,
            &format!("Remove {} from {}?", perm.permission_name, u.email),
            &format!(
                "The direct grant of {} ({}) is removed; a role may still give it.",
                perm.permission_name, perm.resource_server_identifier
            ),
            &format!("{}/permissions/remove", href(&u)),
            "Remove permission",
            form.carried(),
            &href(&u),
        );
    }
    match admin
        .api(
            Method::DELETE,
            &format!("/users/{}/permissions", enc(&u.user_id)),
            Some(json!({ "permissions": [perm] })),
        )
        .await
    {
        Ok(_) => view::see_other(&format!("{}?flash=removed#permissions", href(&u))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:users"]),
        Err(f) => view::message(&admin, f.status, "Not removed", &f.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(api: &str, name: &str) -> PermissionInfo {
        PermissionInfo {
            resource_server_identifier: api.into(),
            resource_server_name: api.into(),
            permission_name: name.into(),
            description: String::new(),
        }
    }

    #[test]
    fn effective_permissions_name_their_sources() {
        let role = |n: &str| Role {
            id: format!("rol_{n}"),
            name: n.into(),
            description: String::new(),
        };
        let eff = effective(
            &[info("a", "write")],
            &[
                (role("editor"), vec![info("a", "read"), info("a", "write")]),
                (role("viewer"), vec![info("a", "read"), info("b", "x")]),
            ],
            |id| id == "a",
        );
        assert_eq!(eff.len(), 2);
        let a = &eff[0];
        assert!(a.rbac);
        let by: Vec<(&str, Vec<&str>)> = a
            .perms
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.sources.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            by,
            vec![
                ("read", vec!["role: editor", "role: viewer"]),
                ("write", vec!["direct", "role: editor"]),
            ]
        );
        assert!(!eff[1].rbac);
    }

    #[test]
    fn metadata_patches_follow_the_merge_rules() {
        let m = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            metadata_patch(&m(json!({"a": 1})), &m(json!({"a": 1}))),
            None
        );
        assert_eq!(
            metadata_patch(&m(json!({"a": 1, "b": 2})), &m(json!({"a": 1, "c": 3}))),
            Some(json!({"b": null, "c": 3}))
        );
        assert_eq!(
            metadata_patch(&m(json!({"a": 1})), &Map::new()),
            Some(json!({}))
        );
        assert!(parse_object("[1]").is_err());
        assert!(parse_object("{").unwrap_err().starts_with("Invalid JSON"));
        assert_eq!(parse_object(" ").unwrap(), Map::new());
    }
}
