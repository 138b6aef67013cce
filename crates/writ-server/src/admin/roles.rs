//! `/admin/roles`: roles — list and search, create, rename, delete, their permissions across
//! APIs and their members. Changes are Management API calls (`/roles`, `/users/{id}/roles`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;
use writ_core::Role;
use writ_store::{PermissionInfo, UserSummary};

use super::auth::{Admin, Post};
use super::form::{Errors, FormData};
use super::view::{self, Layout, ListQuery, Pager, PermGroup, enc};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/roles", get(list))
        .route("/admin/roles/new", get(new_page).post(create))
        .route("/admin/roles/{id}", get(detail).post(save))
        .route("/admin/roles/{id}/permissions", post(add_permission))
        .route(
            "/admin/roles/{id}/permissions/remove",
            post(remove_permission),
        )
        .route("/admin/roles/{id}/members", post(add_member))
        .route("/admin/roles/{id}/members/remove", post(remove_member))
        .route("/admin/roles/{id}/delete", post(delete))
}

fn href(r: &Role) -> String {
    format!("/admin/roles/{}", enc(&r.id))
}

#[derive(Template)]
#[template(path = "admin/roles.html")]
struct ListPage {
    l: Layout,
    roles: Vec<Role>,
    pager: Pager,
    can_create: bool,
}

async fn list(State(s): State<AppState>, admin: Admin, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = admin.need(&["read:roles"]) {
        return r;
    }
    let q = ListQuery::parse(q);
    let page = match s.store.list_roles(q.search(), q.page()).await {
        Ok(p) => p,
        Err(e) => return view::internal(&admin, e),
    };
    let mut l = admin.layout("Roles", "roles");
    l.flash = q.flash();
    view::render(
        StatusCode::OK,
        &ListPage {
            l,
            roles: page.items,
            pager: q.pager("/admin/roles", page.total),
            can_create: admin.can("create:roles"),
        },
    )
}

#[derive(Template)]
#[template(path = "admin/role_new.html")]
struct NewPage {
    l: Layout,
    name: String,
    description: String,
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
            l: admin.layout("New role", "roles"),
            name: f.text("name"),
            description: f.text("description"),
            e,
        },
    )
}

async fn new_page(admin: Admin) -> Response {
    if let Err(r) = admin.need(&["create:roles"]) {
        return r;
    }
    new_form(&admin, &FormData::default(), Errors::default())
}

async fn create(post: Post) -> Response {
    let Post { admin, form } = post;
    let body = json!({ "name": form.text("name"), "description": form.text("description") });
    match admin.api(Method::POST, "/roles", Some(body)).await {
        Ok(v) => view::see_other(&format!(
            "/admin/roles/{}?flash=created",
            enc(v["id"].as_str().unwrap_or_default())
        )),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["create:roles"]),
        Err(f) => new_form(
            &admin,
            &form,
            Errors::from_failure(&f, &["name", "description"], Some("name")),
        ),
    }
}

#[derive(Template)]
#[template(path = "admin/role.html")]
struct DetailPage {
    l: Layout,
    role: Role,
    /// The settings form as typed (after an error) or as stored.
    name: String,
    description: String,
    e: Errors,
    permissions: Vec<PermissionInfo>,
    groups: Vec<PermGroup>,
    pe: Errors,
    members: Vec<UserSummary>,
    pager: Pager,
    member_email: String,
    me: Errors,
    can_update: bool,
    can_delete: bool,
    can_read_users: bool,
    can_remove_members: bool,
}

impl DetailPage {
    fn perm_value(&self, p: &PermissionInfo) -> String {
        format!("{} {}", p.resource_server_identifier, p.permission_name)
    }
}

/// What a re-rendered detail page keeps from a failed form.
#[derive(Default)]
struct Kept {
    name: Option<String>,
    description: Option<String>,
    e: Errors,
    pe: Errors,
    member_email: String,
    me: Errors,
}

async fn load(s: &AppState, admin: &Admin, id: &str) -> Result<Role, Response> {
    admin.need(&["read:roles"])?;
    match s.store.get_role(id).await {
        Ok(r) => Ok(r),
        Err(writ_store::StoreError::NotFound(_)) => Err(view::not_found(admin, "role")),
        Err(e) => Err(view::internal(admin, e)),
    }
}

async fn detail_page(
    s: &AppState,
    admin: &Admin,
    role: Role,
    q: &ListQuery,
    kept: Kept,
) -> Response {
    let st = &s.store;
    let permissions = match view::all_pages(|p| st.role_permissions(&role.id, p)).await {
        Ok(p) => p,
        Err(e) => return view::internal(admin, e),
    };
    let can_read_users = admin.can("read:users");
    let (members, total) = if can_read_users {
        match st.role_users(&role.id, q.page()).await {
            Ok(p) => (p.items, p.total),
            Err(e) => return view::internal(admin, e),
        }
    } else {
        (vec![], 0)
    };
    let can_update = admin.can("update:roles");
    let groups = if can_update {
        match st.all_resource_servers().await {
            Ok(a) => view::perm_groups(&a),
            Err(e) => return view::internal(admin, e),
        }
    } else {
        vec![]
    };
    let status = if kept.e.is_empty() && kept.pe.is_empty() && kept.me.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut l = admin.layout(&role.name, "roles");
    l.flash = q.flash();
    view::render(
        status,
        &DetailPage {
            l,
            name: kept.name.unwrap_or_else(|| role.name.clone()),
            description: kept.description.unwrap_or_else(|| role.description.clone()),
            pager: q.pager(&href(&role), total),
            role,
            e: kept.e,
            permissions,
            groups,
            pe: kept.pe,
            members,
            member_email: kept.member_email,
            me: kept.me,
            can_update,
            can_delete: admin.can("delete:roles"),
            can_read_users,
            can_remove_members: admin.can("update:users"),
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
        Ok(role) => detail_page(&s, &admin, role, &ListQuery::parse(q), Kept::default()).await,
        Err(r) => r,
    }
}

async fn save(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let role = match load(&s, &admin, &id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let body = json!({ "name": form.text("name"), "description": form.text("description") });
    match admin
        .api(
            Method::PATCH,
            &format!("/roles/{}", enc(&role.id)),
            Some(body),
        )
        .await
    {
        Ok(_) => view::see_other(&format!("{}?flash=saved", href(&role))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:roles"]),
        Err(f) => {
            let kept = Kept {
                name: Some(form.text("name")),
                description: Some(form.text("description")),
                e: Errors::from_failure(&f, &["name", "description"], Some("name")),
                ..Default::default()
            };
            detail_page(&s, &admin, role, &ListQuery::default(), kept).await
        }
    }
}

async fn add_permission(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let role = match load(&s, &admin, &id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let perms: Vec<_> = form
        .all("permission")
        .iter()
        .filter_map(|v| view::parse_perm(v))
        .collect();
    let fail = |msg: String| Kept {
        pe: {
            let mut e = Errors::default();
            e.add("permission", msg);
            e
        },
        ..Default::default()
    };
    if perms.is_empty() {
        let kept = fail("Choose a permission.".into());
        return detail_page(&s, &admin, role, &ListQuery::default(), kept).await;
    }
    match admin
        .api(
            Method::POST,
            &format!("/roles/{}/permissions", enc(&role.id)),
            Some(json!({ "permissions": perms })),
        )
        .await
    {
        Ok(_) => view::see_other(&format!("{}?flash=added#permissions", href(&role))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:roles"]),
        Err(f) => detail_page(&s, &admin, role, &ListQuery::default(), fail(f.message)).await,
    }
}

async fn remove_permission(
    State(s): State<AppState>,
    Path(id): Path<String>,
    post: Post,
) -> Response {
    let Post { admin, form } = post;
    let role = match load(&s, &admin, &id).await {
        Ok(r) => r,
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
            &format!("Remove {} from {}?", perm.permission_name, role.name),
            &format!(
                "Users holding {} lose {} ({}) unless they hold it another way; APIs following the event feed refuse their older tokens.",
                role.name, perm.permission_name, perm.resource_server_identifier
            ),
            &format!("{}/permissions/remove", href(&role)),
            "Remove permission",
            form.carried(),
            &href(&role),
        );
    }
    match admin
        .api(
            Method::DELETE,
            &format!("/roles/{}/permissions", enc(&role.id)),
            Some(json!({ "permissions": [perm] })),
        )
        .await
    {
        Ok(_) => view::see_other(&format!("{}?flash=removed#permissions", href(&role))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:roles"]),
        Err(f) => view::message(&admin, f.status, "Not removed", &f.message),
    }
}

async fn add_member(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let role = match load(&s, &admin, &id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Err(r) = admin.need(&["read:users"]) {
        return r;
    }
    let email = form.text("email");
    let fail = |msg: String| Kept {
        member_email: email.clone(),
        me: {
            let mut e = Errors::default();
            e.add("email", msg);
            e
        },
        ..Default::default()
    };
    let user = match s.store.users_by_email(&email.to_lowercase()).await {
        Ok(u) => u.into_iter().next(),
        Err(e) => return view::internal(&admin, e),
    };
    let Some(user) = user else {
        let kept = fail("No user has this email address.".into());
        return detail_page(&s, &admin, role, &ListQuery::default(), kept).await;
    };
    match admin
        .api(
            Method::POST,
            &format!("/roles/{}/users", enc(&role.id)),
            Some(json!({ "users": [user.user_id] })),
        )
        .await
    {
        Ok(_) => view::see_other(&format!("{}?flash=assigned#members", href(&role))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:roles"]),
        Err(f) => detail_page(&s, &admin, role, &ListQuery::default(), fail(f.message)).await,
    }
}

async fn remove_member(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let role = match load(&s, &admin, &id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let user_id = form.text("user_id");
    if !form.confirmed() {
        let who = match s.store.get_user(&user_id).await {
            Ok(u) => u.email,
            Err(_) => user_id.clone(),
        };
        return view::confirm(
            &admin,
            &format!("Remove {who} from {}?", role.name),
            &format!(
                "{who} loses the permissions of {} they do not hold another way.",
                role.name
            ),
            &format!("{}/members/remove", href(&role)),
            "Remove from role",
            form.carried(),
            &href(&role),
        );
    }
    match admin
        .api(
            Method::DELETE,
            &format!("/users/{}/roles", enc(&user_id)),
            Some(json!({ "roles": [role.id] })),
        )
        .await
    {
        Ok(_) => view::see_other(&format!("{}?flash=removed#members", href(&role))),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["update:users"]),
        Err(f) => view::message(&admin, f.status, "Not removed", &f.message),
    }
}

async fn delete(State(s): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let role = match load(&s, &admin, &id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !form.confirmed() {
        return view::confirm(
            &admin,
            &format!("Delete the role {}?", role.name),
            "Its members lose the permissions it gave them (unless they hold them another way). This cannot be undone.",
            &format!("{}/delete", href(&role)),
            "Delete role",
            form.carried(),
            &href(&role),
        );
    }
    match admin
        .api(Method::DELETE, &format!("/roles/{}", enc(&role.id)), None)
        .await
    {
        Ok(_) => view::see_other("/admin/roles?flash=deleted"),
        Err(f) if f.insufficient_scope() => view::forbidden(&admin, &["delete:roles"]),
        Err(f) => view::message(&admin, f.status, "Not deleted", &f.message),
    }
}
