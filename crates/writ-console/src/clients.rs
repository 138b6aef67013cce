//! `/admin/clients`: applications — list, create, settings (callbacks, origins, logout URLs,
//! grant types), client grants for machine clients, secret rotation (the new secret shown once)
//! and delete. Changes are the use cases of [`writ_service::clients`].

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use writ_core::{Client, ResourceServer};
use writ_service::audit::Operation;
use writ_service::clients::{self, ClientInput, GrantInput, WithSecret};
use writ_service::{Writ, apis};

use super::auth::{CONSOLE_CLIENT_ID, On, Post, Seen};
use super::change::Confirmed;
use super::form::{Errors, FormData};
use super::view::{self, Admin, Answer, Ask, Layout, ListQuery, Pager, enc};

pub fn router() -> Router<Writ> {
    Router::new()
        .route("/admin/clients", get(list))
        .route("/admin/clients/new", get(new_page).post(create))
        .route("/admin/clients/{id}", get(detail).post(save))
        .route("/admin/clients/{id}/rotate", post(rotate))
        .route("/admin/clients/{id}/delete", post(delete))
        .route(
            "/admin/clients/{id}/grants",
            get(grant_page).post(save_grant),
        )
        .route("/admin/clients/{id}/grants/remove", post(remove_grant))
}

/// Grant types the Management API accepts, with what they are for.
const GRANT_TYPES: [(&str, &str); 5] = [
    (
        "authorization_code",
        "Authorization code (browser sign-in, with PKCE)",
    ),
    ("refresh_token", "Refresh token"),
    (
        "client_credentials",
        "Client credentials (machine to machine; needs a secret)",
    ),
    ("password", "Password (first-party scripts)"),
    (
        "http://auth0.com/oauth/grant-type/password-realm",
        "Password realm (Auth0)",
    ),
];

const APP_TYPES: [(&str, &str); 4] = [
    ("regular_web", "Regular web application (confidential)"),
    ("spa", "Single-page application (public, PKCE)"),
    ("native", "Native application (public, PKCE)"),
    ("non_interactive", "Machine to machine (confidential)"),
];

fn href(id: &str) -> String {
    format!("/admin/clients/{}", enc(id))
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ListPage {
    l: Layout,
    clients: Vec<Client>,
    pager: Pager,
    can_create: bool,
}

impl ListPage {
    fn href(&self, c: &Client) -> String {
        href(&c.client_id)
    }
}

async fn list(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Answer {
    admin.need(&["read:clients"])?;
    let q = ListQuery::parse(q);
    let mut all = admin.ok(clients::all(&s).await)?;
    q.retain_matching(&mut all, |c| [&c.name, &c.client_id]);
    all.sort_by_key(|c| c.name.to_lowercase());
    let (clients, pager) = q.slice(&all, "/admin/clients");
    Ok(view::render(
        StatusCode::OK,
        &ListPage {
            l: admin.layout("Clients", "clients").with_flash(q.flash()),
            clients,
            pager,
            can_create: admin.can("create:clients"),
        },
    ))
}

#[derive(Template)]
#[template(path = "admin/client_new.html")]
struct NewPage {
    l: Layout,
    name: String,
    app_type: String,
    callbacks: String,
    e: Errors,
    app_types: [(&'static str, &'static str); 4],
}

fn new_form(admin: &Admin, f: &FormData, e: Errors) -> Response {
    let status = view::status(&[&e]);
    let app_type = match f.text("app_type") {
        t if t.is_empty() => "regular_web".to_owned(),
        t => t,
    };
    view::render(
        status,
        &NewPage {
            l: admin.layout("New client", "clients"),
            name: f.text("name"),
            app_type,
            callbacks: f.get("callbacks").to_owned(),
            e,
            app_types: APP_TYPES,
        },
    )
}

async fn new_page(admin: Admin) -> Answer {
    admin.need(&["create:clients"])?;
    Ok(new_form(&admin, &FormData::default(), Errors::default()))
}

#[derive(Template)]
#[template(path = "admin/secret.html")]
struct SecretPage {
    l: Layout,
    client_id: String,
    name: String,
    secret: String,
    created: bool,
}

impl SecretPage {
    fn enc(&self, s: &str) -> String {
        enc(s)
    }
}

fn secret_page(admin: &Admin, c: &Client, secret: &str, created: bool) -> Response {
    view::render(
        StatusCode::OK,
        &SecretPage {
            l: admin.layout("Client secret", "clients"),
            name: c.name.clone(),
            secret: secret.to_owned(),
            client_id: c.client_id.clone(),
            created,
        },
    )
}

async fn create(State(s): State<Writ>, Post { admin, form }: Post) -> Answer {
    let input = ClientInput {
        name: Some(form.text("name")),
        app_type: Some(form.text("app_type")),
        callbacks: Some(form.lines("callbacks")),
        ..Default::default()
    };
    let op = Operation::new("POST", "/clients", "/clients".into(), 201);
    admin.may(&s, &["create:clients"], op).await?;
    Ok(match clients::create(&s, admin.actor(), input).await {
        Ok(WithSecret {
            client,
            secret: Some(secret),
        }) => secret_page(&admin, &client, &secret, true),
        Ok(made) => view::see_other(&format!("{}?flash=created", href(&made.client.client_id))),
        Err(e) => new_form(
            &admin,
            &form,
            Errors::from_error(&e, &["name", "app_type", "callbacks"], None),
        ),
    })
}

/// The settings form, as typed or as stored (lists one per line).
struct ClientForm {
    name: String,
    description: String,
    callbacks: String,
    web_origins: String,
    allowed_origins: String,
    allowed_logout_urls: String,
    grant_types: Vec<String>,
}

impl ClientForm {
    fn of(c: &Client) -> Self {
        ClientForm {
            name: c.name.clone(),
            description: c.description.clone(),
            callbacks: c.callbacks.join("\n"),
            web_origins: c.web_origins.join("\n"),
            allowed_origins: c.allowed_origins.join("\n"),
            allowed_logout_urls: c.allowed_logout_urls.join("\n"),
            grant_types: c.grant_types.clone(),
        }
    }
    fn read(f: &FormData) -> Self {
        ClientForm {
            name: f.text("name"),
            description: f.text("description"),
            callbacks: f.get("callbacks").to_owned(),
            web_origins: f.get("web_origins").to_owned(),
            allowed_origins: f.get("allowed_origins").to_owned(),
            allowed_logout_urls: f.get("allowed_logout_urls").to_owned(),
            grant_types: f.all("grant_types"),
        }
    }
}

const FIELDS: [&str; 7] = [
    "name",
    "description",
    "callbacks",
    "web_origins",
    "allowed_origins",
    "allowed_logout_urls",
    "grant_types",
];

/// A client grant as shown: the API's name next to its audience.
struct GrantRow {
    id: String,
    audience: String,
    api_name: String,
    scope: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/client.html")]
struct DetailPage {
    l: Layout,
    c: Client,
    f: ClientForm,
    e: Errors,
    grant_types: [(&'static str, &'static str); 5],
    grants: Option<Vec<GrantRow>>,
    apis: Vec<ResourceServer>,
    is_console: bool,
    can_update: bool,
    can_delete: bool,
    can_rotate: bool,
    can_grant: bool,
}

impl DetailPage {
    fn has_grant(&self, g: &str) -> bool {
        self.f.grant_types.iter().any(|x| x == g)
    }
    fn enc(&self, s: &str) -> String {
        enc(s)
    }
}

loads!(Client, "read:clients", "client", clients::get);

async fn detail_page(
    s: &Writ,
    admin: &Admin,
    c: Client,
    f: Option<ClientForm>,
    e: Errors,
    flash: Option<&'static str>,
) -> Answer {
    let apis = admin.ok(apis::all(s).await)?;
    let grants = if admin.can("read:client_grants") && c.secret_hash.is_some() {
        let grants = admin.ok(clients::grants_of(s, &c.client_id).await)?;
        Some(
            grants
                .into_iter()
                .map(|g| GrantRow {
                    api_name: apis
                        .iter()
                        .find(|a| a.identifier == g.audience)
                        .map_or_else(|| g.audience.clone(), |a| a.name.clone()),
                    id: g.id,
                    audience: g.audience,
                    scope: g.scope,
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(view::render(
        view::status(&[&e]),
        &DetailPage {
            l: admin.layout(&c.name, "clients").with_flash(flash),
            f: f.unwrap_or_else(|| ClientForm::of(&c)),
            is_console: c.client_id == CONSOLE_CLIENT_ID,
            can_update: admin.can("update:clients"),
            can_delete: admin.can("delete:clients"),
            can_rotate: admin.can("update:client_keys") && c.secret_hash.is_some(),
            can_grant: admin.can("create:client_grants") && admin.can("update:client_grants"),
            c,
            e,
            grant_types: GRANT_TYPES,
            grants,
            apis,
        },
    ))
}

async fn detail(State(s): State<Writ>, Seen(admin, c, q): Seen<Client>) -> Answer {
    let flash = ListQuery::parse(q).flash();
    detail_page(&s, &admin, c, None, Errors::default(), flash).await
}

async fn save(State(s): State<Writ>, On(admin, form, c): On<Client>) -> Answer {
    let input = ClientInput {
        name: Some(form.text("name")),
        description: Some(form.text("description")),
        callbacks: Some(form.lines("callbacks")),
        web_origins: Some(form.lines("web_origins")),
        allowed_origins: Some(form.lines("allowed_origins")),
        allowed_logout_urls: Some(form.lines("allowed_logout_urls")),
        grant_types: Some(form.all("grant_types")),
        ..Default::default()
    };
    let op = Operation::at("PATCH", "/clients/{id}", &c.client_id, 200);
    admin.may(&s, &["update:clients"], op).await?;
    match clients::update(&s, admin.actor(), &c.client_id, input).await {
        Ok(_) => Ok(view::see_other(&format!(
            "{}?flash=saved",
            href(&c.client_id)
        ))),
        Err(f) => {
            let e = Errors::from_error(&f, &FIELDS, None);
            detail_page(&s, &admin, c, Some(ClientForm::read(&form)), e, None).await
        }
    }
}

async fn rotate(State(s): State<Writ>, On(admin, form, c): On<Client>) -> Answer {
    let ask = Ask {
        heading: format!("Rotate the secret of {}?", c.name),
        detail: "A new secret is made and shown once; the current one stops working at once, so every service using it must be given the new one.".into(),
        button: "Rotate secret",
    };
    admin.confirmed(&form, &href(&c.client_id), "rotate", ask)?;
    let op = Operation::at("POST", "/clients/{id}/rotate-secret", &c.client_id, 200);
    admin.may(&s, &["update:client_keys"], op).await?;
    Ok(
        match clients::rotate_secret(&s, admin.actor(), &c.client_id).await {
            Ok(rotated) => secret_page(
                &admin,
                &rotated.client,
                rotated.secret.as_deref().unwrap_or_default(),
                false,
            ),
            Err(e) => admin.failed("Not rotated", &e),
        },
    )
}

async fn delete(State(s): State<Writ>, On(admin, form, c): On<Client>) -> Answer {
    let console = if c.client_id == CONSOLE_CLIENT_ID {
        " This is the admin console's own client: signing in to the console stops working until Writ restarts and provisions it again."
    } else {
        ""
    };
    let ask = Ask {
        heading: format!("Delete the client {}?", c.name),
        detail: format!(
            "It can no longer obtain tokens, and its client grants are deleted. This cannot be undone.{console}"
        ),
        button: "Delete client",
    };
    let op = Operation::at("DELETE", "/clients/{id}", &c.client_id, 204);
    let page = href(&c.client_id);
    let d = Confirmed::deletion(page, "/admin/clients", "delete:clients", op);
    let delete = async || clients::delete(&s, admin.actor(), &c.client_id).await;
    admin
        .after_confirmation(&s, &form, d, async { ask }, delete)
        .await
}

#[derive(Deserialize, Default)]
struct GrantQuery {
    audience: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/client_grant.html")]
struct GrantPage {
    l: Layout,
    c: Client,
    api: ResourceServer,
    /// The scopes checked (the grant's, or as submitted).
    checked: Vec<String>,
    existing: bool,
    e: Errors,
}

impl GrantPage {
    fn enc(&self, s: &str) -> String {
        enc(s)
    }
    fn is_checked(&self, s: &str) -> bool {
        self.checked.iter().any(|c| c == s)
    }
}

async fn grant_form(
    s: &Writ,
    admin: &Admin,
    c: Client,
    audience: &str,
    checked: Option<Vec<String>>,
    e: Errors,
) -> Answer {
    admin.need(&["read:client_grants", "read:resource_servers"])?;
    let api = admin.found("API", apis::get(s, audience).await)?;
    let existing = admin
        .ok(clients::grants_of(s, &c.client_id).await)?
        .into_iter()
        .find(|g| g.audience == api.identifier);
    Ok(view::render(
        view::status(&[&e]),
        &GrantPage {
            l: admin.layout(&format!("{} → {}", c.name, api.name), "clients"),
            checked: checked.unwrap_or_else(|| {
                existing
                    .as_ref()
                    .map(|g| g.scope.clone())
                    .unwrap_or_default()
            }),
            existing: existing.is_some(),
            c,
            api,
            e,
        },
    ))
}

async fn grant_page(State(s): State<Writ>, Seen(admin, c, q): Seen<Client>) -> Answer {
    let q: GrantQuery = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    let audience = q.audience.unwrap_or_default();
    if audience.is_empty() {
        return Ok(view::see_other(&href(&c.client_id)));
    }
    grant_form(&s, &admin, c, &audience, None, Errors::default()).await
}

async fn save_grant(State(s): State<Writ>, On(admin, form, c): On<Client>) -> Answer {
    let audience = form.text("audience");
    let scope = form.all("scope");
    let existing = admin
        .ok(clients::grants_of(&s, &c.client_id).await)?
        .into_iter()
        .find(|g| g.audience == audience);
    let result = match &existing {
        Some(g) => {
            let op = Operation::at("PATCH", "/client-grants/{id}", &g.id, 200);
            admin.may(&s, &["update:client_grants"], op).await?;
            let input = GrantInput {
                scope: Some(scope.clone()),
                ..Default::default()
            };
            clients::update_grant(&s, admin.actor(), &g.id, input)
                .await
                .map(drop)
        }
        None => {
            let op = Operation::new("POST", "/client-grants", "/client-grants".into(), 201);
            admin.may(&s, &["create:client_grants"], op).await?;
            let input = GrantInput {
                client_id: Some(c.client_id.clone()),
                audience: Some(audience.clone()),
                scope: Some(scope.clone()),
            };
            clients::create_grant(&s, admin.actor(), input)
                .await
                .map(drop)
        }
    };
    match result {
        Ok(()) => Ok(view::see_other(&format!(
            "{}?flash=saved#grants",
            href(&c.client_id)
        ))),
        Err(f) => {
            let e = Errors::from_error(&f, &["scope"], None);
            grant_form(&s, &admin, c, &audience, Some(scope), e).await
        }
    }
}

async fn remove_grant(State(s): State<Writ>, On(admin, form, c): On<Client>) -> Answer {
    let grant_id = form.text("grant_id");
    let ask = Ask {
        heading: format!(
            "Remove the grant of {} for {}?",
            c.name,
            form.text("audience")
        ),
        detail: "The client can no longer obtain tokens for this API with client credentials."
            .into(),
        button: "Remove grant",
    };
    let op = Operation::at("DELETE", "/client-grants/{id}", &grant_id, 204);
    let r = Confirmed::removal(href(&c.client_id), "grants", "delete:client_grants", op);
    let remove = async || clients::delete_grant(&s, admin.actor(), &grant_id).await;
    admin
        .after_confirmation(&s, &form, r, async { ask }, remove)
        .await
}
