//! `/admin/users`: users of the built-in connection — search and list, create, block, delete,
//! metadata as JSON, roles, direct permissions, and the effective permissions per API with
//! where each comes from. Changes are the use cases of [`writ_service::users`] and
//! [`writ_service::consents`].

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value};
use writ_core::{DEFAULT_CONNECTION, User};
use writ_service::audit::Operation;
use writ_service::users::{self, UserInput};
use writ_service::{Consent, PermissionInfo, ServiceError, Source, Writ, apis, consents, roles};

use super::auth::{Load, On, Post, Seen};
use super::cards::RolesCard;
use super::change::Confirmed;
use super::form::{Errors, FormData};
use super::view::{self, Admin, Answer, Ask, Layout, ListQuery, Pager, PermGroup, enc};

pub fn router() -> Router<Writ> {
    Router::new()
        .route("/admin/users", get(list))
        .route("/admin/users/new", get(new_page).post(create))
        .route("/admin/users/{id}", get(detail))
        .route("/admin/users/{id}/block", post(block))
        .route("/admin/users/{id}/unblock", post(unblock))
        .route("/admin/users/{id}/delete", post(delete))
        .route("/admin/users/{id}/factors/reset", post(reset_factors))
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

async fn list(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Answer {
    admin.need(&["read:users"])?;
    let q = ListQuery::parse(q);
    let page = admin.ok(users::list(&s, q.search(), q.page()).await)?;
    Ok(view::render(
        StatusCode::OK,
        &ListPage {
            l: admin.layout("Users", "users").with_flash(q.flash()),
            users: page.items,
            pager: q.pager("/admin/users", page.total),
            can_create: admin.can("create:users"),
        },
    ))
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
    view::render(
        view::status(&[&e]),
        &NewPage {
            l: admin.layout("New user", "users"),
            email: f.text("email"),
            name: f.text("name"),
            e,
        },
    )
}

async fn new_page(admin: Admin) -> Answer {
    admin.need(&["create:users"])?;
    Ok(new_form(&admin, &FormData::default(), Errors::default()))
}

async fn create(State(s): State<Writ>, Post { admin, form }: Post) -> Answer {
    let name = form.text("name");
    let input = UserInput {
        email: Some(form.text("email")),
        password: Some(form.get("password").to_owned()),
        connection: Some(DEFAULT_CONNECTION.to_owned()),
        name: (!name.is_empty()).then_some(name),
        ..Default::default()
    };
    let op = Operation::new("POST", "/users", "/users".into(), 201);
    admin.may(&s, &["create:users"], op).await?;
    Ok(match users::create(&s, admin.actor(), input).await {
        Ok(u) => view::see_other(&format!("{}?flash=created", href(&u))),
        Err(e) => new_form(
            &admin,
            &form,
            Errors::from_error(&e, &["email", "password", "name"], Some("email")),
        ),
    })
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

/// The effective permissions as the page names their sources.
fn effective(apis: Vec<users::ApiPermissions>) -> Vec<EffectiveApi> {
    let label = |s: Source| match s {
        Source::Direct => "direct".to_owned(),
        Source::Role { name, .. } => format!("role: {name}"),
        Source::Group {
            path, role_name, ..
        } => format!("role: {role_name} (group {path})"),
    };
    apis.into_iter()
        .map(|a| EffectiveApi {
            name: a.name,
            identifier: a.identifier,
            rbac: a.rbac,
            perms: a
                .permissions
                .into_iter()
                .map(|p| Effective {
                    name: p.name,
                    description: p.description,
                    sources: p.sources.into_iter().map(label).collect(),
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
    roles: RolesCard,
    direct: Vec<PermissionInfo>,
    groups: Vec<PermGroup>,
    pe: Errors,
    effective: Vec<EffectiveApi>,
    can_update: bool,
    can_delete: bool,
    /// The user's consents to third-party clients, with each client's name; `None` without
    /// `read:grants`.
    consents: Option<Vec<(Consent, String)>>,
    can_revoke_consents: bool,
    /// The groups the user is a direct member of, with their paths; `None` without
    /// `read:groups`.
    member_of: Option<Vec<writ_service::GroupPath>>,
    /// The user's second factors `(id, type, confirmed)`; `None` without
    /// `read:authentication_methods`.
    factors: Option<Vec<(String, String, bool)>>,
    can_reset_factors: bool,
}

impl DetailPage {
    fn day<'a>(&self, ts: &'a str) -> &'a str {
        day(ts)
    }
}

/// What the admin entered in a form, and its errors, for the detail page shown again.
#[derive(Default)]
struct Entered {
    app_text: Option<String>,
    user_text: Option<String>,
    e: Errors,
    re: Errors,
    pe: Errors,
}

fn pretty(m: &Map<String, Value>) -> String {
    serde_json::to_string_pretty(m).unwrap_or_else(|_| "{}".into())
}

loads!(User, "read:users", "user", users::get);

async fn detail_page(
    s: &Writ,
    admin: &Admin,
    u: User,
    flash: Option<&'static str>,
    entered: Entered,
) -> Answer {
    let can_read_roles = admin.can("read:roles");
    let can_update = admin.can("update:users");
    let loaded: Result<_, ServiceError> = async {
        let direct = users::direct_permissions(s, &u.user_id).await?;
        // The user's roles, and every permission with where it comes from (shown with
        // `read:users`, like the token endpoint reads them through the user's grants).
        let roles = users::roles(s, &u.user_id).await?;
        let effective = effective(users::effective_permissions(s, &u.user_id).await?);
        let role_options = if can_update && can_read_roles {
            roles::list_all(s)
                .await?
                .into_iter()
                .filter(|r| !roles.iter().any(|h| h.id == r.id))
                .collect()
        } else {
            vec![]
        };
        let groups = if can_update {
            view::perm_groups(&apis::all(s).await?)
        } else {
            vec![]
        };
        let consents = if admin.can("read:grants") {
            Some(consents::of_user(s, &u.user_id).await?)
        } else {
            None
        };
        let member_of = if admin.can("read:groups") {
            let first = writ_service::Page {
                page: 0,
                per_page: 100,
            };
            Some(
                writ_service::groups::user_groups(s, &u.user_id, first)
                    .await?
                    .items,
            )
        } else {
            None
        };
        let factors = if admin.can("read:authentication_methods") {
            Some(
                writ_service::mfa::authenticators(s, &u.user_id)
                    .await?
                    .into_iter()
                    .map(|a| (a.id, a.kind, a.confirmed))
                    .collect(),
            )
        } else {
            None
        };
        Ok((
            direct,
            roles,
            effective,
            role_options,
            groups,
            consents,
            (member_of, factors),
        ))
    }
    .await;
    let (direct, roles, effective, role_options, groups, consents, (member_of, factors)) =
        admin.ok(loaded)?;
    Ok(view::render(
        view::status(&[&entered.e, &entered.re, &entered.pe]),
        &DetailPage {
            l: admin.layout(&u.email, "users").with_flash(flash),
            is_me: u.user_id == admin.claims.sub,
            app_text: entered.app_text.unwrap_or_else(|| pretty(&u.app_metadata)),
            user_text: entered
                .user_text
                .unwrap_or_else(|| pretty(&u.user_metadata)),
            roles: RolesCard {
                page: href(&u),
                of: u.email.clone(),
                can_read: can_read_roles,
                can_update,
                held: if can_read_roles { roles } else { vec![] },
                options: role_options,
                e: entered.re,
            },
            u,
            e: entered.e,
            direct,
            groups,
            pe: entered.pe,
            effective,
            can_update,
            can_delete: admin.can("delete:users"),
            consents,
            can_revoke_consents: admin.can("delete:grants"),
            member_of,
            factors,
            can_reset_factors: admin.can("delete:authentication_methods"),
        },
    ))
}

/// The detail page again, with what a failed form keeps.
async fn again(s: &Writ, admin: &Admin, u: User, entered: Entered) -> Answer {
    detail_page(s, admin, u, None, entered).await
}

async fn detail(State(s): State<Writ>, Seen(admin, u, q): Seen<User>) -> Answer {
    detail_page(
        &s,
        &admin,
        u,
        ListQuery::parse(q).flash(),
        Entered::default(),
    )
    .await
}

/// A change of the user (`PATCH /users/{id}`): `Err(403 page)` without `update:users`,
/// `Ok(Err(refusal))` when the use case refuses it.
async fn patch(
    s: &Writ,
    admin: &Admin,
    u: &User,
    input: UserInput,
) -> Result<Result<(), ServiceError>, Response> {
    let op = Operation::at("PATCH", "/users/{id}", &u.user_id, 200);
    admin.may(s, &["update:users"], op).await?;
    Ok(users::update(s, admin.actor(), &u.user_id, input)
        .await
        .map(drop))
}

fn blocked(b: bool) -> UserInput {
    UserInput {
        blocked: Some(b),
        ..Default::default()
    }
}

async fn block(State(s): State<Writ>, On(admin, form, u): On<User>) -> Answer {
    let ask = Ask {
        heading: format!("Block {}?", u.email),
        detail: "They can no longer sign in or renew tokens, and APIs following the event feed refuse their current tokens.".into(),
        button: "Block user",
    };
    admin.confirmed(&form, &href(&u), "block", ask)?;
    admin.done(
        patch(&s, &admin, &u, blocked(true)).await?,
        &format!("{}?flash=blocked", href(&u)),
        "Not blocked",
    )
}

async fn unblock(State(s): State<Writ>, On(admin, _, u): On<User>) -> Answer {
    admin.done(
        patch(&s, &admin, &u, blocked(false)).await?,
        &format!("{}?flash=unblocked", href(&u)),
        "Not unblocked",
    )
}

async fn delete(State(s): State<Writ>, On(admin, form, u): On<User>) -> Answer {
    let me = if u.user_id == admin.claims.sub {
        " This is you: your console session ends with it."
    } else {
        ""
    };
    let ask = Ask {
        heading: format!("Delete {}?", u.email),
        detail: format!(
            "The user, their roles and permissions are deleted. This cannot be undone.{me}"
        ),
        button: "Delete user",
    };
    let op = Operation::at("DELETE", "/users/{id}", &u.user_id, 204);
    let c = Confirmed::deletion(href(&u), "/admin/users", "delete:users", op);
    let delete = async || users::delete(&s, admin.actor(), &u.user_id).await;
    admin
        .after_confirmation(&s, &form, c, async { ask }, delete)
        .await
}

/// Deletes every second factor of the user (as `DELETE
/// /api/v2/users/{id}/authentication-methods`), for a user who lost their device.
async fn reset_factors(State(s): State<Writ>, On(admin, form, u): On<User>) -> Answer {
    let ask = Ask {
        heading: format!("Reset the second factors of {}?", u.email),
        detail: "Their authenticator apps and recovery code stop working. If a second factor is required of them, they enroll a new one at their next login.".into(),
        button: "Reset factors",
    };
    admin.confirmed(&form, &href(&u), "factors/reset", ask)?;
    let op = Operation::at(
        "DELETE",
        "/users/{id}/authentication-methods",
        &u.user_id,
        204,
    );
    admin
        .may(&s, &["delete:authentication_methods"], op)
        .await?;
    admin.done(
        writ_service::mfa::delete_methods(&s, admin.actor(), &u.user_id)
            .await
            .map(drop),
        &format!("{}?flash=factors_reset#factors", href(&u)),
        "Not reset",
    )
}

/// Revokes one of the user's consents (as `DELETE /api/v2/grants/{id}`): the client's refresh
/// tokens for the user go with it.
async fn revoke_consent(
    State(s): State<Writ>,
    Path((id, consent)): Path<(String, String)>,
    Post { admin, form }: Post,
) -> Answer {
    let u = User::load(&s, &admin, &id).await?;
    let ask = Ask {
        heading: "Revoke this consent?".into(),
        detail: "The application loses access for this user: its refresh tokens are revoked and it must ask for consent again.".into(),
        button: "Revoke consent",
    };
    let tail = format!("consents/{}/revoke", enc(&consent));
    admin.confirmed(&form, &href(&u), &tail, ask)?;
    let op = Operation::at("DELETE", "/grants/{id}", &consent, 204);
    admin.may(&s, &["delete:grants"], op).await?;
    admin.done(
        consents::revoke(&s, admin.actor(), &consent).await,
        &format!("{}?flash=consent_revoked#consents", href(&u)),
        "Not revoked",
    )
}

/// The patch that turns `current` into `wanted` under the Management API's first-level merge:
/// changed keys, `null` for removed ones, or `{}` to clear everything.
fn metadata_patch(
    current: &Map<String, Value>,
    wanted: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    if current == wanted {
        return None;
    }
    if wanted.is_empty() {
        return Some(Map::new());
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
    Some(p)
}

fn parse_object(text: &str) -> Result<Map<String, Value>, String> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("Must be a JSON object, like {\"plan\": \"pro\"}.".into()),
        Err(e) => Err(format!("Invalid JSON: {e}.")),
    }
}

async fn metadata(State(s): State<Writ>, On(admin, form, u): On<User>) -> Answer {
    let app_text = form.get("app_metadata").to_owned();
    let user_text = form.get("user_metadata").to_owned();
    let mut e = Errors::default();
    let app = parse_object(&app_text)
        .map_err(|m| e.add("app_metadata", m))
        .ok();
    let usr = parse_object(&user_text)
        .map_err(|m| e.add("user_metadata", m))
        .ok();
    let entered = |e: Errors| Entered {
        app_text: Some(app_text.clone()),
        user_text: Some(user_text.clone()),
        e,
        ..Default::default()
    };
    let (Some(app), Some(usr)) = (app, usr) else {
        return again(&s, &admin, u, entered(e)).await;
    };
    let input = UserInput {
        app_metadata: metadata_patch(&u.app_metadata, &app),
        user_metadata: metadata_patch(&u.user_metadata, &usr),
        ..Default::default()
    };
    let saved = format!("{}?flash=saved#metadata", href(&u));
    if input.app_metadata.is_none() && input.user_metadata.is_none() {
        return Ok(view::see_other(&saved));
    }
    match patch(&s, &admin, &u, input).await? {
        Ok(()) => Ok(view::see_other(&saved)),
        Err(e) => {
            let e = Errors::from_error(&e, &["app_metadata", "user_metadata"], None);
            again(&s, &admin, u, entered(e)).await
        }
    }
}

/// What a form of the roles or permissions card keeps after a refusal: the message next to
/// its picker (`role_id` or `permission`).
fn refused(field: &str, msg: impl Into<String>) -> Entered {
    let e = Errors::one(field, msg);
    match field {
        "role_id" => Entered {
            re: e,
            ..Default::default()
        },
        _ => Entered {
            pe: e,
            ..Default::default()
        },
    }
}

async fn assign_role(State(s): State<Writ>, On(admin, form, u): On<User>) -> Answer {
    let op = Operation::at("POST", "/users/{id}/roles", &u.user_id, 204);
    let add = async |role| users::assign_roles(&s, admin.actor(), &u.user_id, &[role]).await;
    let then = format!("{}?flash=assigned#roles", href(&u));
    let picked = view::picked_role(&form);
    match admin.add(&s, picked, "update:users", op, add, then).await? {
        Ok(page) => Ok(page),
        Err(m) => again(&s, &admin, u, refused("role_id", m)).await,
    }
}

async fn remove_role(State(s): State<Writ>, On(admin, form, u): On<User>) -> Answer {
    let role_id = form.text("role_id");
    let ask = async {
        let name = match roles::get(&s, &role_id).await {
            Ok(r) => r.name,
            Err(_) => role_id.clone(),
        };
        Ask {
            heading: format!("Remove the role {name} from {}?", u.email),
            detail: format!(
                "{} loses the permissions of {name} they do not hold another way; APIs following the event feed refuse their older tokens.",
                u.email
            ),
            button: "Remove role",
        }
    };
    let op = Operation::at("DELETE", "/users/{id}/roles", &u.user_id, 204);
    let c = Confirmed::removal(href(&u), "roles", "update:users", op);
    let removed = std::slice::from_ref(&role_id);
    let remove = async || users::remove_roles(&s, admin.actor(), &u.user_id, removed).await;
    admin.after_confirmation(&s, &form, c, ask, remove).await
}

async fn add_permission(State(s): State<Writ>, On(admin, form, u): On<User>) -> Answer {
    let op = Operation::at("POST", "/users/{id}/permissions", &u.user_id, 201);
    let add =
        async |perms: Vec<_>| users::add_permissions(&s, admin.actor(), &u.user_id, &perms).await;
    let then = format!("{}?flash=added#permissions", href(&u));
    let picked = view::picked_perms(&form);
    match admin.add(&s, picked, "update:users", op, add, then).await? {
        Ok(page) => Ok(page),
        Err(m) => again(&s, &admin, u, refused("permission", m)).await,
    }
}

async fn remove_permission(State(s): State<Writ>, On(admin, form, u): On<User>) -> Answer {
    let perm = view::picked_perm(&admin, &form)?;
    let ask = Ask {
        heading: format!("Remove {} from {}?", perm.permission_name, u.email),
        detail: format!(
            "The direct grant of {} ({}) is removed; a role may still give it.",
            perm.permission_name, perm.resource_server_identifier
        ),
        button: "Remove permission",
    };
    let op = Operation::at("DELETE", "/users/{id}/permissions", &u.user_id, 204);
    let c = Confirmed::removal(href(&u), "permissions", "update:users", op);
    let remove = async || users::remove_permissions(&s, admin.actor(), &u.user_id, &[perm]).await;
    admin
        .after_confirmation(&s, &form, c, async { ask }, remove)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_patches_follow_the_merge_rules() {
        let m = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            metadata_patch(&m(json!({"a": 1})), &m(json!({"a": 1}))),
            None
        );
        assert_eq!(
            metadata_patch(&m(json!({"a": 1, "b": 2})), &m(json!({"a": 1, "c": 3}))),
            Some(m(json!({"b": null, "c": 3})))
        );
        assert_eq!(
            metadata_patch(&m(json!({"a": 1})), &Map::new()),
            Some(Map::new())
        );
        assert!(parse_object("[1]").is_err());
        assert!(parse_object("{").unwrap_err().starts_with("Invalid JSON"));
        assert_eq!(parse_object(" ").unwrap(), Map::new());
    }
}
