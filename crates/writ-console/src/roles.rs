//! `/admin/roles`: roles — list and search, create, rename, delete, their permissions across
//! APIs and their members. Changes are the use cases of [`writ_service::roles`] (and
//! [`writ_service::users::remove_roles`] for a member).

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use writ_core::Role;
use writ_service::audit::Operation;
use writ_service::roles::{self, RoleInput};
use writ_service::{PermissionInfo, Writ, apis, users};

use super::auth::{On, Post, Seen};
use super::cards::{self, MemberForm, MembersCard};
use super::change::Confirmed;
use super::form::{Errors, FormData};
use super::view::{self, Admin, Answer, Ask, Layout, ListQuery, Pager, PermGroup, enc};

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

async fn list(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Answer {
    admin.need(&["read:roles"])?;
    let q = ListQuery::parse(q);
    let page = admin.ok(roles::list(&s, q.search(), q.page()).await)?;
    Ok(view::render(
        StatusCode::OK,
        &ListPage {
            l: admin.layout("Roles", "roles").with_flash(q.flash()),
            roles: page.items,
            pager: q.pager("/admin/roles", page.total),
            can_create: admin.can("create:roles"),
        },
    ))
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
    view::render(
        view::status(&[&e]),
        &NewPage {
            l: admin.layout("New role", "roles"),
            name: f.text("name"),
            description: f.text("description"),
            e,
        },
    )
}

async fn new_page(admin: Admin) -> Answer {
    admin.need(&["create:roles"])?;
    Ok(new_form(&admin, &FormData::default(), Errors::default()))
}

/// The role form as the use cases take it.
fn input(form: &FormData) -> RoleInput {
    RoleInput {
        name: Some(form.text("name")),
        description: Some(form.text("description")),
    }
}

async fn create(State(s): State<Writ>, Post { admin, form }: Post) -> Answer {
    let op = Operation::new("POST", "/roles", "/roles".into(), 201);
    admin.may(&s, &["create:roles"], op).await?;
    Ok(match roles::create(&s, admin.actor(), input(&form)).await {
        Ok(role) => view::see_other(&format!("{}?flash=created", href(&role))),
        Err(e) => new_form(
            &admin,
            &form,
            Errors::from_error(&e, &["name", "description"], Some("name")),
        ),
    })
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
    members: MembersCard,
    can_update: bool,
    can_delete: bool,
}

/// What a re-rendered detail page keeps from a failed form.
#[derive(Default)]
struct Kept {
    name: Option<String>,
    description: Option<String>,
    e: Errors,
    pe: Errors,
    member: MemberForm,
}

loads!(Role, "read:roles", "role", roles::get);

async fn detail_page(s: &Writ, admin: &Admin, role: Role, q: &ListQuery, kept: Kept) -> Answer {
    let permissions = admin.ok(roles::permissions(s, &role.id).await)?;
    let can_update = admin.can("update:roles");
    let members = MembersCard::load(
        admin,
        ["update:roles", "update:users"],
        href(&role),
        &role.name,
        q,
        async {
            let p = roles::members(s, &role.id, q.page()).await?;
            Ok((p.items, p.total))
        },
        kept.member,
    )
    .await?;
    let groups = if can_update {
        view::perm_groups(&admin.ok(apis::all(s).await)?)
    } else {
        vec![]
    };
    Ok(view::render(
        view::status(&[&kept.e, &kept.pe, members.errors()]),
        &DetailPage {
            l: admin.layout(&role.name, "roles").with_flash(q.flash()),
            name: kept.name.unwrap_or_else(|| role.name.clone()),
            description: kept.description.unwrap_or_else(|| role.description.clone()),
            role,
            e: kept.e,
            permissions,
            groups,
            pe: kept.pe,
            members,
            can_update,
            can_delete: admin.can("delete:roles"),
        },
    ))
}

/// The detail page again, with what a failed form keeps.
async fn again(s: &Writ, admin: &Admin, role: Role, kept: Kept) -> Answer {
    detail_page(s, admin, role, &ListQuery::default(), kept).await
}

async fn detail(State(s): State<Writ>, Seen(admin, role, q): Seen<Role>) -> Answer {
    detail_page(&s, &admin, role, &ListQuery::parse(q), Kept::default()).await
}

async fn save(State(s): State<Writ>, On(admin, form, role): On<Role>) -> Answer {
    let op = Operation::at("PATCH", "/roles/{id}", &role.id, 200);
    admin.may(&s, &["update:roles"], op).await?;
    match roles::update(&s, admin.actor(), &role.id, input(&form)).await {
        Ok(_) => Ok(view::see_other(&format!("{}?flash=saved", href(&role)))),
        Err(e) => {
            let kept = Kept {
                name: Some(form.text("name")),
                description: Some(form.text("description")),
                e: Errors::from_error(&e, &["name", "description"], Some("name")),
                ..Default::default()
            };
            again(&s, &admin, role, kept).await
        }
    }
}

/// What the permission form keeps after a refusal: the message next to the picker.
fn permission_refused(msg: impl Into<String>) -> Kept {
    Kept {
        pe: Errors::one("permission", msg),
        ..Default::default()
    }
}

async fn add_permission(State(s): State<Writ>, On(admin, form, role): On<Role>) -> Answer {
    let op = Operation::at("POST", "/roles/{id}/permissions", &role.id, 201);
    let add =
        async |perms: Vec<_>| roles::add_permissions(&s, admin.actor(), &role.id, &perms).await;
    let then = format!("{}?flash=added#permissions", href(&role));
    let picked = view::picked_perms(&form);
    match admin.add(&s, picked, "update:roles", op, add, then).await? {
        Ok(page) => Ok(page),
        Err(m) => again(&s, &admin, role, permission_refused(m)).await,
    }
}

async fn remove_permission(State(s): State<Writ>, On(admin, form, role): On<Role>) -> Answer {
    let perm = view::picked_perm(&admin, &form)?;
    let ask = Ask {
        heading: format!("Remove {} from {}?", perm.permission_name, role.name),
        detail: format!(
            "Users holding {} lose {} ({}) unless they hold it another way; APIs following the event feed refuse their older tokens.",
            role.name, perm.permission_name, perm.resource_server_identifier
        ),
        button: "Remove permission",
    };
    let op = Operation::at("DELETE", "/roles/{id}/permissions", &role.id, 204);
    let c = Confirmed::removal(href(&role), "permissions", "update:roles", op);
    let remove = async || roles::remove_permissions(&s, admin.actor(), &role.id, &[perm]).await;
    admin
        .after_confirmation(&s, &form, c, async { ask }, remove)
        .await
}

async fn add_member(State(s): State<Writ>, On(admin, form, role): On<Role>) -> Answer {
    let op = Operation::at("POST", "/roles/{id}/users", &role.id, 201);
    let add = async |user| roles::assign_users(&s, admin.actor(), &role.id, &[user]).await;
    let then = format!("{}?flash=assigned#members", href(&role));
    match cards::add_by_email(&s, &admin, &form, "update:roles", op, add, then).await? {
        Ok(page) => Ok(page),
        Err(member) => {
            let kept = Kept {
                member,
                ..Default::default()
            };
            again(&s, &admin, role, kept).await
        }
    }
}

async fn remove_member(State(s): State<Writ>, On(admin, form, role): On<Role>) -> Answer {
    let user_id = form.text("user_id");
    let ask = async {
        let who = cards::email_of(&s, &user_id).await;
        Ask {
            heading: format!("Remove {who} from {}?", role.name),
            detail: format!(
                "{who} loses the permissions of {} they do not hold another way.",
                role.name
            ),
            button: "Remove from role",
        }
    };
    let op = Operation::at("DELETE", "/users/{id}/roles", &user_id, 204);
    let c = Confirmed::removal(href(&role), "members", "update:users", op);
    let removed = std::slice::from_ref(&role.id);
    let remove = async || users::remove_roles(&s, admin.actor(), &user_id, removed).await;
    admin.after_confirmation(&s, &form, c, ask, remove).await
}

async fn delete(State(s): State<Writ>, On(admin, form, role): On<Role>) -> Answer {
    let ask = Ask {
        heading: format!("Delete the role {}?", role.name),
        detail: "Its members lose the permissions it gave them (unless they hold them another way). This cannot be undone.".into(),
        button: "Delete role",
    };
    let op = Operation::at("DELETE", "/roles/{id}", &role.id, 204);
    let c = Confirmed::deletion(href(&role), "/admin/roles", "delete:roles", op);
    let delete = async || roles::delete(&s, admin.actor(), &role.id).await;
    admin
        .after_confirmation(&s, &form, c, async { ask }, delete)
        .await
}
