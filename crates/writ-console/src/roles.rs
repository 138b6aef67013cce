//! `/admin/roles`: roles — list and search, create, rename, delete, their permissions across
//! APIs and their members. Changes are the use cases of [`writ_service::roles`] (and
//! [`writ_service::users::remove_roles`] for a member).

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use writ_core::Role;
use writ_service::audit::Operation;
use writ_service::roles::{self, RoleInput};
use writ_service::{ServiceError, Writ, apis, users};
use writ_store::{PermissionInfo, UserSummary};

use super::auth::{Admin, Post};
use super::form::{Errors, FormData};
use super::view::{self, Layout, ListQuery, Pager, PermGroup, enc};

pub fn router() -> Router<Writ> {
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

async fn list(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Response {
    if let Err(r) = admin.need(&["read:roles"]) {
        return r;
    }
    let q = ListQuery::parse(q);
    let page = match roles::list(&s, q.search(), q.page()).await {
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

/// The role form as the use cases take it.
fn input(form: &FormData) -> RoleInput {
    RoleInput {
        name: Some(form.text("name")),
        description: Some(form.text("description")),
    }
}

async fn create(State(s): State<Writ>, post: Post) -> Response {
    let Post { admin, form } = post;
    let op = Operation::new("POST", "/roles", "/roles".into(), 201);
    if let Err(r) = admin.may(&s, &["create:roles"], op).await {
        return r;
    }
    match roles::create(&s, admin.actor(), input(&form)).await {
        Ok(role) => view::see_other(&format!("{}?flash=created", href(&role))),
        Err(e) => new_form(
            &admin,
            &form,
            Errors::from_error(&e, &["name", "description"], Some("name")),
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

async fn load(s: &Writ, admin: &Admin, id: &str) -> Result<Role, Response> {
    admin.need(&["read:roles"])?;
    match roles::get(s, id).await {
        Ok(r) => Ok(r),
        Err(ServiceError::NotFound(_)) => Err(view::not_found(admin, "role")),
        Err(e) => Err(view::internal(admin, e)),
    }
}

async fn detail_page(s: &Writ, admin: &Admin, role: Role, q: &ListQuery, kept: Kept) -> Response {
    let permissions = match roles::permissions(s, &role.id).await {
        Ok(p) => p,
        Err(e) => return view::internal(admin, e),
    };
    let can_read_users = admin.can("read:users");
    let (members, total) = if can_read_users {
        match roles::members(s, &role.id, q.page()).await {
            Ok(p) => (p.items, p.total),
            Err(e) => return view::internal(admin, e),
        }
    } else {
        (vec![], 0)
    };
    let can_update = admin.can("update:roles");
    let groups = if can_update {
        match apis::all(s).await {
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
    State(s): State<Writ>,
    admin: Admin,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    match load(&s, &admin, &id).await {
        Ok(role) => detail_page(&s, &admin, role, &ListQuery::parse(q), Kept::default()).await,
        Err(r) => r,
    }
}

async fn save(State(s): State<Writ>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let role = match load(&s, &admin, &id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let op = Operation::new("PATCH", "/roles/{id}", format!("/roles/{}", role.id), 200);
    if let Err(r) = admin.may(&s, &["update:roles"], op).await {
        return r;
    }
    match roles::update(&s, admin.actor(), &role.id, input(&form)).await {
        Ok(_) => view::see_other(&format!("{}?flash=saved", href(&role))),
        Err(e) => {
            let kept = Kept {
                name: Some(form.text("name")),
                description: Some(form.text("description")),
                e: Errors::from_error(&e, &["name", "description"], Some("name")),
                ..Default::default()
            };
            detail_page(&s, &admin, role, &ListQuery::default(), kept).await
        }
    }
}

async fn add_permission(State(s): State<Writ>, Path(id): Path<String>, post: Post) -> Response {
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
        pe: Errors::one("permission", msg),
        ..Default::default()
    };
    if perms.is_empty() {
        let kept = fail("Choose a permission.".into());
        return detail_page(&s, &admin, role, &ListQuery::default(), kept).await;
    }
    let op = Operation::new(
        "POST",
        "/roles/{id}/permissions",
        format!("/roles/{}/permissions", role.id),
        201,
    );
    if let Err(r) = admin.may(&s, &["update:roles"], op).await {
        return r;
    }
    match roles::add_permissions(&s, admin.actor(), &role.id, &perms).await {
        Ok(()) => view::see_other(&format!("{}?flash=added#permissions", href(&role))),
        Err(e) => {
            let kept = fail(e.to_string());
            detail_page(&s, &admin, role, &ListQuery::default(), kept).await
        }
    }
}

async fn remove_permission(State(s): State<Writ>, Path(id): Path<String>, post: Post) -> Response {
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
    let op = Operation::new(
        "DELETE",
        "/roles/{id}/permissions",
        format!("/roles/{}/permissions", role.id),
        204,
    );
    if let Err(r) = admin.may(&s, &["update:roles"], op).await {
        return r;
    }
    match roles::remove_permissions(&s, admin.actor(), &role.id, &[perm]).await {
        Ok(()) => view::see_other(&format!("{}?flash=removed#permissions", href(&role))),
        Err(e) => admin.failed("Not removed", &e),
    }
}

async fn add_member(State(s): State<Writ>, Path(id): Path<String>, post: Post) -> Response {
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
        me: Errors::one("email", msg),
        ..Default::default()
    };
    let user = match users::by_email(&s, &email).await {
        Ok(u) => u,
        Err(e) => return view::internal(&admin, e),
    };
    let Some(user) = user else {
        let kept = fail("No user has this email address.".into());
        return detail_page(&s, &admin, role, &ListQuery::default(), kept).await;
    };
    let op = Operation::new(
        "POST",
        "/roles/{id}/users",
        format!("/roles/{}/users", role.id),
        201,
    );
    if let Err(r) = admin.may(&s, &["update:roles"], op).await {
        return r;
    }
    match roles::assign_users(&s, admin.actor(), &role.id, &[user.user_id]).await {
        Ok(()) => view::see_other(&format!("{}?flash=assigned#members", href(&role))),
        Err(e) => {
            let kept = fail(e.to_string());
            detail_page(&s, &admin, role, &ListQuery::default(), kept).await
        }
    }
}

async fn remove_member(State(s): State<Writ>, Path(id): Path<String>, post: Post) -> Response {
    let Post { admin, form } = post;
    let role = match load(&s, &admin, &id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let user_id = form.text("user_id");
    if !form.confirmed() {
        let who = match users::get(&s, &user_id).await {
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
    let op = Operation::new(
        "DELETE",
        "/users/{id}/roles",
        format!("/users/{user_id}/roles"),
        204,
    );
    if let Err(r) = admin.may(&s, &["update:users"], op).await {
        return r;
    }
    match users::remove_roles(&s, admin.actor(), &user_id, std::slice::from_ref(&role.id)).await {
        Ok(()) => view::see_other(&format!("{}?flash=removed#members", href(&role))),
        Err(e) => admin.failed("Not removed", &e),
    }
}

async fn delete(State(s): State<Writ>, Path(id): Path<String>, post: Post) -> Response {
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
    let op = Operation::new("DELETE", "/roles/{id}", format!("/roles/{}", role.id), 204);
    if let Err(r) = admin.may(&s, &["delete:roles"], op).await {
        return r;
    }
    match roles::delete(&s, admin.actor(), &role.id).await {
        Ok(()) => view::see_other("/admin/roles?flash=deleted"),
        Err(e) => admin.failed("Not deleted", &e),
    }
}
