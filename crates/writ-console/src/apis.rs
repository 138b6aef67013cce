//! `/admin/apis`: APIs (resource servers) — list, create, settings, permission catalog, delete.
//! Changes are the use cases of [`writ_service::apis`], so validation and the catalog reload are
//! the Management API's own.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use writ_core::{ResourceServer, Scope};
use writ_service::apis::{self, ApiInput, TokenClaimsInput};
use writ_service::audit::Operation;
use writ_service::{ServiceError, Writ};

use super::auth::{On, Post, Seen};
use super::form::{Errors, FormData};
use super::view::{self, Admin, Answer, Ask, Layout, ListQuery, Pager, enc};

pub fn router() -> Router<Writ> {
    Router::new()
        .route("/admin/apis", get(list))
        .route("/admin/apis/new", get(new_page).post(create))
        .route("/admin/apis/{id}", get(detail).post(save))
        .route("/admin/apis/{id}/permissions", post(add_permission))
        .route(
            "/admin/apis/{id}/permissions/remove",
            post(remove_permission),
        )
        .route("/admin/apis/{id}/delete", post(delete))
}

pub const ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];
pub const GROUP_CLAIMS: [(&str, &str); 3] = [
    ("none", "No groups"),
    ("names", "Group names, with the groups above them"),
    ("paths", "Full paths (/eng/backend)"),
];
pub const DIALECTS: [(&str, &str); 4] = [
    ("access_token", "access_token — scope only"),
    (
        "access_token_authz",
        "access_token_authz — scope and permissions (RBAC on)",
    ),
    ("rfc9068_profile", "rfc9068_profile — RFC 9068 claims"),
    (
        "rfc9068_profile_authz",
        "rfc9068_profile_authz — RFC 9068 and permissions (RBAC on)",
    ),
];

fn href(rs: &ResourceServer) -> String {
    format!("/admin/apis/{}", enc(&rs.id))
}

#[derive(Template)]
#[template(path = "admin/apis.html")]
struct ListPage {
    l: Layout,
    apis: Vec<ResourceServer>,
    pager: Pager,
    can_create: bool,
}

impl ListPage {
    fn href(&self, rs: &ResourceServer) -> String {
        href(rs)
    }
}

async fn list(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Answer {
    admin.need(&["read:resource_servers"])?;
    let q = ListQuery::parse(q);
    let mut all = admin.ok(apis::all(&s).await)?;
    q.retain_matching(&mut all, |a| [&a.name, &a.identifier]);
    all.sort_by(|a, b| {
        (!a.is_system, a.name.to_lowercase()).cmp(&(!b.is_system, b.name.to_lowercase()))
    });
    let (apis, pager) = q.slice(&all, "/admin/apis");
    Ok(view::render(
        StatusCode::OK,
        &ListPage {
            l: admin.layout("APIs", "apis").with_flash(q.flash()),
            apis,
            pager,
            can_create: admin.can("create:resource_servers"),
        },
    ))
}

/// The settings form's values, as typed.
pub struct ApiForm {
    pub identifier: String,
    pub name: String,
    pub signing_alg: String,
    pub token_lifetime: String,
    pub enforce_policies: bool,
    pub token_dialect: String,
    pub allow_offline_access: bool,
    /// What tokens carry besides permissions (the claim names empty: their defaults).
    pub token_roles: bool,
    pub roles_claim: String,
    pub token_groups: String,
    pub groups_claim: String,
    pub authorization_extension: bool,
    pub authorization_claim: String,
}

impl ApiForm {
    fn blank() -> Self {
        ApiForm {
            identifier: String::new(),
            name: String::new(),
            signing_alg: "RS256".into(),
            token_lifetime: "86400".into(),
            enforce_policies: true,
            token_dialect: "access_token_authz".into(),
            allow_offline_access: false,
            token_roles: false,
            roles_claim: String::new(),
            token_groups: "none".into(),
            groups_claim: String::new(),
            authorization_extension: false,
            authorization_claim: String::new(),
        }
    }

    fn of(rs: &ResourceServer) -> Self {
        ApiForm {
            identifier: rs.identifier.clone(),
            name: rs.name.clone(),
            signing_alg: rs.signing_alg.as_str().into(),
            token_lifetime: rs.token_lifetime.to_string(),
            enforce_policies: rs.enforce_policies,
            token_dialect: rs.token_dialect.as_str().into(),
            allow_offline_access: rs.allow_offline_access,
            token_roles: rs.token_claims.roles,
            roles_claim: rs.token_claims.roles_claim.clone().unwrap_or_default(),
            token_groups: rs.token_claims.groups.as_str().into(),
            groups_claim: rs.token_claims.groups_claim.clone().unwrap_or_default(),
            authorization_extension: rs.token_claims.authorization_extension,
            authorization_claim: rs
                .token_claims
                .authorization_claim
                .clone()
                .unwrap_or_default(),
        }
    }

    fn read(f: &FormData) -> Self {
        ApiForm {
            identifier: f.text("identifier"),
            name: f.text("name"),
            signing_alg: f.text("signing_alg"),
            token_lifetime: f.text("token_lifetime"),
            enforce_policies: f.checked("enforce_policies"),
            token_dialect: f.text("token_dialect"),
            allow_offline_access: f.checked("allow_offline_access"),
            token_roles: f.checked("token_roles"),
            roles_claim: f.text("roles_claim"),
            token_groups: Some(f.text("token_groups"))
                .filter(|g| !g.is_empty())
                .unwrap_or_else(|| "none".into()),
            groups_claim: f.text("groups_claim"),
            authorization_extension: f.checked("authorization_extension"),
            authorization_claim: f.text("authorization_claim"),
        }
    }

    /// The use cases' input (without `identifier`), or the error of a field it cannot hold.
    fn input(&self) -> Result<ApiInput, Errors> {
        let lifetime: i64 = self
            .token_lifetime
            .parse()
            .map_err(|_| Errors::one("token_lifetime", "Enter a number of seconds."))?;
        Ok(ApiInput {
            signing_alg: Some(self.signing_alg.clone()),
            token_lifetime: Some(lifetime),
            enforce_policies: Some(self.enforce_policies),
            token_dialect: Some(self.token_dialect.clone()),
            allow_offline_access: Some(self.allow_offline_access),
            name: (!self.name.is_empty()).then(|| self.name.clone()),
            token_claims: Some(TokenClaimsInput {
                roles: Some(self.token_roles),
                roles_claim: Some(named(&self.roles_claim)),
                groups: Some(self.token_groups.clone()),
                groups_claim: Some(named(&self.groups_claim)),
                authorization_extension: Some(self.authorization_extension),
                authorization_claim: Some(named(&self.authorization_claim)),
            }),
            ..Default::default()
        })
    }
}

/// A claim name as typed: empty for the default.
fn named(v: &str) -> Option<String> {
    Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
}

const FIELDS: [&str; 8] = [
    "identifier",
    "name",
    "signing_alg",
    "token_lifetime",
    "enforce_policies",
    "token_dialect",
    "allow_offline_access",
    "token_claims",
];

#[derive(Template)]
#[template(path = "admin/api_new.html")]
struct NewPage {
    l: Layout,
    f: ApiForm,
    e: Errors,
    algs: [&'static str; 3],
    dialects: [(&'static str, &'static str); 4],
    group_claims: [(&'static str, &'static str); 3],
}

fn new_form(admin: &Admin, f: ApiForm, e: Errors) -> Response {
    view::render(
        view::status(&[&e]),
        &NewPage {
            l: admin.layout("New API", "apis"),
            f,
            e,
            algs: ALGS,
            dialects: DIALECTS,
            group_claims: GROUP_CLAIMS,
        },
    )
}

async fn new_page(admin: Admin) -> Answer {
    admin.need(&["create:resource_servers"])?;
    Ok(new_form(&admin, ApiForm::blank(), Errors::default()))
}

async fn create(State(s): State<Writ>, Post { admin, form }: Post) -> Answer {
    let f = ApiForm::read(&form);
    let mut input = match f.input() {
        Ok(b) => b,
        Err(e) => return Ok(new_form(&admin, f, e)),
    };
    input.identifier = Some(f.identifier.clone());
    let op = Operation::new("POST", "/resource-servers", "/resource-servers".into(), 201);
    admin.may(&s, &["create:resource_servers"], op).await?;
    Ok(match apis::create(&s, admin.actor(), input).await {
        Ok(rs) => view::see_other(&format!("{}?flash=created", href(&rs))),
        Err(e) => new_form(
            &admin,
            f,
            Errors::from_error(&e, &FIELDS, Some("identifier")),
        ),
    })
}

#[derive(Template)]
#[template(path = "admin/api.html")]
struct DetailPage {
    l: Layout,
    rs: ResourceServer,
    f: ApiForm,
    e: Errors,
    /// The add-permission form: values and errors.
    pv: String,
    pd: String,
    pe: Errors,
    algs: [&'static str; 3],
    dialects: [(&'static str, &'static str); 4],
    group_claims: [(&'static str, &'static str); 3],
    can_update: bool,
    can_delete: bool,
    /// While the API's algorithm warms up: what signs its tokens until when, in plain words.
    signing_note: Option<String>,
}

/// While an API's newly published ES256/EdDSA key warms up in verifiers' JWKS caches, the
/// sentence saying its tokens are signed with RS256 until then.
fn signing_note(s: &Writ, rs: &ResourceServer) -> Option<String> {
    let now = s.effective_signing(rs.signing_alg);
    let until = now.until?;
    Some(format!(
        "Tokens are signed with {} until {} UTC, while verifiers' JWKS caches pick up the new {} key.",
        now.alg.as_str(),
        until.format("%H:%M:%S"),
        rs.signing_alg.as_str()
    ))
}

/// What a re-rendered detail page keeps from a failed form: the settings as typed and their
/// errors, the add-permission form's values and errors.
#[derive(Default)]
struct Kept {
    f: Option<ApiForm>,
    e: Errors,
    pv: String,
    pd: String,
    pe: Errors,
}

loads!(ResourceServer, "read:resource_servers", "API", apis::get);

fn detail_page(
    s: &Writ,
    admin: &Admin,
    rs: ResourceServer,
    kept: Kept,
    flash: Option<&'static str>,
) -> Response {
    view::render(
        view::status(&[&kept.e, &kept.pe]),
        &DetailPage {
            l: admin.layout(&rs.name, "apis").with_flash(flash),
            f: kept.f.unwrap_or_else(|| ApiForm::of(&rs)),
            can_update: admin.can("update:resource_servers") && !rs.is_system,
            can_delete: admin.can("delete:resource_servers") && !rs.is_system,
            signing_note: signing_note(s, &rs),
            rs,
            e: kept.e,
            pv: kept.pv,
            pd: kept.pd,
            pe: kept.pe,
            algs: ALGS,
            dialects: DIALECTS,
            group_claims: GROUP_CLAIMS,
        },
    )
}

async fn detail(State(s): State<Writ>, Seen(admin, rs, q): Seen<ResourceServer>) -> Answer {
    let flash = ListQuery::parse(q).flash();
    Ok(detail_page(&s, &admin, rs, Kept::default(), flash))
}

async fn save(State(s): State<Writ>, On(admin, form, rs): On<ResourceServer>) -> Answer {
    let mut f = ApiForm::read(&form);
    f.identifier = rs.identifier.clone();
    let e = match f.input() {
        Ok(input) => match patch(&s, &admin, &rs, input).await? {
            Ok(()) => return Ok(view::see_other(&format!("{}?flash=saved", href(&rs)))),
            Err(fail) => Errors::from_error(&fail, &FIELDS, None),
        },
        Err(e) => e,
    };
    let kept = Kept {
        f: Some(f),
        e,
        ..Default::default()
    };
    Ok(detail_page(&s, &admin, rs, kept, None))
}

/// A change of the API (`PATCH /resource-servers/{id}`): `Err(403 page)` without
/// `update:resource_servers`, `Ok(Err(refusal))` when the use case refuses it.
async fn patch(
    s: &Writ,
    admin: &Admin,
    rs: &ResourceServer,
    input: ApiInput,
) -> Result<Result<(), ServiceError>, Response> {
    let op = Operation::at("PATCH", "/resource-servers/{id}", &rs.id, 200);
    admin.may(s, &["update:resource_servers"], op).await?;
    Ok(apis::update(s, admin.actor(), &rs.id, input)
        .await
        .map(drop))
}

/// A change of the permission catalog alone.
fn scopes_only(scopes: Vec<Scope>) -> ApiInput {
    ApiInput {
        scopes: Some(scopes),
        ..Default::default()
    }
}

async fn add_permission(State(s): State<Writ>, On(admin, form, rs): On<ResourceServer>) -> Answer {
    let value = form.text("value");
    let description = form.text("description");
    let mut scopes = rs.scopes.clone();
    scopes.push(Scope {
        value: value.clone(),
        description: description.clone(),
    });
    Ok(match patch(&s, &admin, &rs, scopes_only(scopes)).await? {
        Ok(()) => view::see_other(&format!("{}?flash=added#permissions", href(&rs))),
        Err(fail) => {
            let kept = Kept {
                pv: value,
                pd: description,
                pe: Errors::from_error(&fail, &[], Some("value")),
                ..Default::default()
            };
            detail_page(&s, &admin, rs, kept, None)
        }
    })
}

async fn remove_permission(
    State(s): State<Writ>,
    On(admin, form, rs): On<ResourceServer>,
) -> Answer {
    let value = form.text("value");
    let ask = Ask {
        heading: format!("Remove {value}?"),
        detail: format!(
            "{value} leaves the catalog of {}, and every role and user that holds it loses it. Tokens issued from now on no longer carry it.",
            rs.name
        ),
        button: "Remove permission",
    };
    admin.confirmed(&form, &href(&rs), "permissions/remove", ask)?;
    let scopes: Vec<Scope> = rs
        .scopes
        .iter()
        .filter(|s| s.value != value)
        .cloned()
        .collect();
    admin.done(
        patch(&s, &admin, &rs, scopes_only(scopes)).await?,
        &format!("{}?flash=removed#permissions", href(&rs)),
        "Not removed",
    )
}

async fn delete(State(s): State<Writ>, On(admin, form, rs): On<ResourceServer>) -> Answer {
    let ask = Ask {
        heading: format!("Delete the API {}?", rs.name),
        detail: format!(
            "Writ stops issuing tokens for {} and its permissions leave every role and user. This cannot be undone.",
            rs.identifier
        ),
        button: "Delete API",
    };
    admin.confirmed(&form, &href(&rs), "delete", ask)?;
    let op = Operation::at("DELETE", "/resource-servers/{id}", &rs.id, 204);
    admin.may(&s, &["delete:resource_servers"], op).await?;
    admin.done(
        apis::delete(&s, admin.actor(), &rs.id).await,
        "/admin/apis?flash=deleted",
        "Not deleted",
    )
}
