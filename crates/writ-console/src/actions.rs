//! `/admin/actions`: claim hooks (Auth0 Actions) — list, create, edit the draft code and the
//! secrets, deploy, bind to or unbind from the trigger, delete, and a test run of the draft
//! against an editable sample event that shows the claims it sets, its refusal or its failure.
//! Changes and runs are the use cases of [`writ_service::hooks`], so they are validated,
//! audited and sandboxed exactly as through the Management API.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use writ_core::{Action, ActionBinding};
use writ_service::Writ;
use writ_service::audit::Operation;
use writ_service::hooks::{self, TestRun};

use super::auth::{On, Post, Seen};
use super::change::Confirmed;
use super::form::{Errors, FormData};
use super::view::{self, Admin, Answer, Ask, Layout, ListQuery, enc};

pub fn router() -> Router<Writ> {
    Router::new()
        .route("/admin/actions", get(list))
        .route("/admin/actions/new", get(new_page).post(create))
        .route("/admin/actions/{id}", get(detail).post(save))
        .route("/admin/actions/{id}/deploy", post(deploy))
        .route("/admin/actions/{id}/binding", post(binding))
        .route("/admin/actions/{id}/secrets", post(set_secret))
        .route("/admin/actions/{id}/secrets/remove", post(remove_secret))
        .route("/admin/actions/{id}/test", post(test))
        .route("/admin/actions/{id}/delete", post(delete))
}

loads!(Action, "read:actions", "action", hooks::get);

/// The console writes JavaScript actions; a webhook action (made through the Management API
/// or the CLI) keeps its runtime and URL when edited here.
const JS: hooks::Runtime<'static> = hooks::Runtime {
    runtime: None,
    url: None,
};
const KEEP: hooks::Runtime<'static> = JS;

fn href(a: &Action) -> String {
    format!("/admin/actions/{}", enc(&a.id))
}

/// Whether the deployed code is the draft.
fn state(a: &Action) -> &'static str {
    match &a.deployed_code {
        None => "not deployed",
        Some(c) if *c == a.code => "deployed",
        Some(_) => "draft changes",
    }
}

pub struct Row {
    pub href: String,
    pub name: String,
    pub trigger: String,
    pub state: &'static str,
    pub bound: bool,
}

#[derive(Template)]
#[template(path = "admin/actions.html")]
struct ListPage {
    l: Layout,
    rows: Vec<Row>,
    can_create: bool,
}

async fn bound_ids(s: &Writ, admin: &Admin) -> Result<Vec<String>, Response> {
    let mut ids = Vec::new();
    for t in hooks::TRIGGERS {
        let b = admin.ok(hooks::bindings(s, t).await)?;
        ids.extend(b.into_iter().map(|b| b.action_id));
    }
    Ok(ids)
}

async fn list(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Answer {
    admin.need(&["read:actions"])?;
    let q = ListQuery::parse(q);
    let bound = bound_ids(&s, &admin).await?;
    let rows = admin
        .ok(hooks::list(&s).await)?
        .iter()
        .map(|a| Row {
            href: href(a),
            name: a.name.clone(),
            trigger: a.trigger.clone(),
            state: state(a),
            bound: bound.contains(&a.id),
        })
        .collect();
    Ok(view::render(
        StatusCode::OK,
        &ListPage {
            l: admin.layout("Actions", "actions").with_flash(q.flash()),
            rows,
            can_create: admin.can("create:actions"),
        },
    ))
}

/// What a new action starts with: the handler of its trigger, doing nothing yet.
fn template_code(trigger: &str) -> String {
    if trigger == "credentials-exchange" {
        "/**\n * @param {Event} event - the machine client and the API it asks a token for.\n * @param {CredentialsExchangeAPI} api - set claims or deny.\n */\nexports.onExecuteCredentialsExchange = async (event, api) => {\n  // api.accessToken.setCustomClaim('https://example.com/tier', 'gold');\n};\n".into()
    } else {
        "/**\n * @param {Event} event - the user, the client, their roles and the request.\n * @param {PostLoginAPI} api - set claims or deny the login.\n */\nexports.onExecutePostLogin = async (event, api) => {\n  // api.accessToken.setCustomClaim('https://example.com/plan', event.user.app_metadata.plan);\n};\n".into()
    }
}

#[derive(Template)]
#[template(path = "admin/action_new.html")]
struct NewPage {
    l: Layout,
    name: String,
    code: String,
    /// Each trigger and whether it is the one picked.
    triggers: Vec<(&'static str, bool)>,
    e: Errors,
}

const FIELDS: &[&str] = &["name", "supported_triggers", "code"];

fn new_form(admin: &Admin, f: &FormData, e: Errors) -> Response {
    let trigger = Some(f.text("trigger"))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "post-login".into());
    let code = Some(f.text("code"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| template_code(&trigger));
    view::render(
        view::status(&[&e]),
        &NewPage {
            l: admin.layout("New action", "actions"),
            name: f.text("name"),
            triggers: hooks::TRIGGERS
                .iter()
                .map(|t| (*t, *t == trigger))
                .collect(),
            code,
            e,
        },
    )
}

async fn new_page(admin: Admin) -> Answer {
    admin.need(&["create:actions"])?;
    Ok(new_form(&admin, &FormData::default(), Errors::default()))
}

async fn create(State(s): State<Writ>, Post { admin, form }: Post) -> Answer {
    let op = Operation::new("POST", "/actions/actions", "/actions/actions".into(), 201);
    admin.may(&s, &["create:actions"], op).await?;
    let trigger = form.text("trigger");
    let mut code = form.text("code");
    if code.trim().is_empty() {
        code = template_code(&trigger);
    }
    let name = form.text("name");
    let created = hooks::create(&s, admin.actor(), &name, &trigger, &code, &[], JS).await;
    match created {
        Ok(a) => Ok(view::see_other(&format!("{}?flash=created", href(&a)))),
        Err(e) => Ok(new_form(
            &admin,
            &form,
            Errors::from_error(&e, FIELDS, Some("name")),
        )),
    }
}

#[derive(Template)]
#[template(path = "admin/action.html")]
struct DetailPage {
    l: Layout,
    action: Action,
    state: &'static str,
    name: String,
    code: String,
    e: Errors,
    secrets: Vec<String>,
    se: Errors,
    bound: bool,
    /// The event of the test form, as typed or the trigger's sample.
    event: String,
    te: Errors,
    run: Option<RunView>,
    can_update: bool,
    can_delete: bool,
}

/// A test run, ready to show.
pub struct RunView {
    pub access: String,
    pub id: String,
    pub deny: Option<String>,
    pub error: Option<String>,
    pub ms: String,
}

impl RunView {
    fn of(r: TestRun) -> Self {
        let pretty = |m: &serde_json::Map<String, serde_json::Value>| {
            serde_json::to_string_pretty(m).unwrap_or_default()
        };
        RunView {
            access: pretty(&r.access_token_claims),
            id: pretty(&r.id_token_claims),
            deny: r.deny.map(|d| match d.code {
                Some(c) => format!("{c}: {}", d.reason),
                None => d.reason,
            }),
            error: r.error,
            ms: format!("{:.1}", r.duration_ms),
        }
    }
}

/// What the admin entered in a form, and its errors, for the detail page shown again.
#[derive(Default)]
struct Entered {
    name: Option<String>,
    code: Option<String>,
    e: Errors,
    se: Errors,
    event: Option<String>,
    te: Errors,
    run: Option<RunView>,
}

fn is_bound(b: &[ActionBinding], a: &Action) -> bool {
    b.iter().any(|b| b.action_id == a.id)
}

async fn detail_page(
    s: &Writ,
    admin: &Admin,
    action: Action,
    q: &ListQuery,
    entered: Entered,
) -> Answer {
    let bindings = admin.ok(hooks::bindings(s, &action.trigger).await)?;
    let event = entered.event.unwrap_or_else(|| {
        serde_json::to_string_pretty(&hooks::sample_event(&action.trigger)).unwrap_or_default()
    });
    Ok(view::render(
        view::status(&[&entered.e, &entered.se, &entered.te]),
        &DetailPage {
            l: admin.layout(&action.name, "actions").with_flash(q.flash()),
            state: state(&action),
            name: entered.name.unwrap_or_else(|| action.name.clone()),
            code: entered.code.unwrap_or_else(|| action.code.clone()),
            e: entered.e,
            secrets: hooks::secret_names(s, &action),
            se: entered.se,
            bound: is_bound(&bindings, &action),
            event,
            te: entered.te,
            run: entered.run,
            can_update: admin.can("update:actions"),
            can_delete: admin.can("delete:actions"),
            action,
        },
    ))
}

async fn detail(State(s): State<Writ>, Seen(admin, action, q): Seen<Action>) -> Answer {
    detail_page(&s, &admin, action, &ListQuery::parse(q), Entered::default()).await
}

fn patch(a: &Action) -> Operation {
    Operation::at("PATCH", "/actions/actions/{id}", &a.id, 200)
}

async fn save(State(s): State<Writ>, On(admin, form, a): On<Action>) -> Answer {
    admin.may(&s, &["update:actions"], patch(&a)).await?;
    let (name, code) = (form.text("name"), form.text("code"));
    let updated = hooks::update(
        &s,
        admin.actor(),
        &a.id,
        Some(&name),
        Some(&code),
        None,
        KEEP,
    );
    match updated.await {
        Ok(_) => Ok(view::see_other(&format!("{}?flash=saved", href(&a)))),
        Err(e) => {
            let entered = Entered {
                name: Some(name),
                code: Some(code),
                e: Errors::from_error(&e, FIELDS, Some("name")),
                ..Default::default()
            };
            detail_page(&s, &admin, a, &ListQuery::default(), entered).await
        }
    }
}

async fn deploy(State(s): State<Writ>, On(admin, _form, a): On<Action>) -> Answer {
    let op = Operation::at("POST", "/actions/actions/{id}/deploy", &a.id, 200);
    admin.may(&s, &["update:actions"], op).await?;
    admin.done(
        hooks::deploy(&s, admin.actor(), &a.id).await,
        &format!("{}?flash=deployed", href(&a)),
        "Not deployed",
    )
}

/// Binds the action at the end of its trigger's run order, or unbinds it.
async fn binding(State(s): State<Writ>, On(admin, form, a): On<Action>) -> Answer {
    let route = "/actions/triggers/{triggerId}/bindings";
    let op = Operation::new(
        "PATCH",
        route,
        route.replace("{triggerId}", &a.trigger),
        200,
    );
    admin.may(&s, &["update:actions"], op).await?;
    let mut list = admin.ok(hooks::bindings(&s, &a.trigger).await)?;
    let bind = form.text("bind") == "true";
    list.retain(|b| b.action_id != a.id);
    if bind {
        list.push(ActionBinding {
            action_id: a.id.clone(),
            display_name: a.name.clone(),
        });
    }
    let flash = if bind { "bound" } else { "unbound" };
    admin.done(
        hooks::set_bindings(&s, admin.actor(), &a.trigger, list).await,
        &format!("{}?flash={flash}", href(&a)),
        "Bindings not changed",
    )
}

/// Every secret entered as it is (`None` keeps the stored value), less `except`.
fn kept_secrets(s: &Writ, a: &Action, except: &str) -> Vec<(String, Option<String>)> {
    hooks::secret_names(s, a)
        .into_iter()
        .filter(|n| n != except)
        .map(|n| (n, None))
        .collect()
}

async fn set_secret(State(s): State<Writ>, On(admin, form, a): On<Action>) -> Answer {
    admin.may(&s, &["update:actions"], patch(&a)).await?;
    let name = form.text("secret_name").trim().to_owned();
    let value = form.get("secret_value").to_owned();
    let valid = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        let entered = Entered {
            se: Errors::one(
                "secret_name",
                "A secret's name is 1 to 100 letters, digits, '_' or '-'",
            ),
            ..Default::default()
        };
        return detail_page(&s, &admin, a, &ListQuery::default(), entered).await;
    }
    let mut all = kept_secrets(&s, &a, &name);
    all.push((name, Some(value)));
    admin.done(
        hooks::update(&s, admin.actor(), &a.id, None, None, Some(&all), KEEP).await,
        &format!("{}?flash=saved#secrets", href(&a)),
        "Secret not saved",
    )
}

async fn remove_secret(State(s): State<Writ>, On(admin, form, a): On<Action>) -> Answer {
    let name = form.text("secret_name");
    let ask = Ask {
        heading: format!("Remove the secret {name}?"),
        detail: format!(
            "{} no longer receives event.secrets.{name}, from its next run.",
            a.name
        ),
        button: "Remove secret",
    };
    let c = Confirmed::removal(href(&a), "secrets", "update:actions", patch(&a));
    let all = kept_secrets(&s, &a, &name);
    let remove = async || {
        hooks::update(&s, admin.actor(), &a.id, None, None, Some(&all), KEEP)
            .await
            .map(|_| ())
    };
    admin
        .after_confirmation(&s, &form, c, async { ask }, remove)
        .await
}

async fn test(State(s): State<Writ>, On(admin, form, a): On<Action>) -> Answer {
    let op = Operation::at("POST", "/actions/actions/{id}/test", &a.id, 200);
    admin.may(&s, &["update:actions"], op).await?;
    let text = form.text("event");
    let mut entered = Entered {
        event: Some(text.clone()),
        ..Default::default()
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(event) if event.is_object() => {
            match hooks::test_run(&s, admin.actor(), &a.id, event).await {
                Ok(run) => entered.run = Some(RunView::of(run)),
                Err(e) => entered.te = Errors::from_error(&e, &["event"], Some("event")),
            }
        }
        Ok(_) => entered.te = Errors::one("event", "The event must be a JSON object"),
        Err(e) => entered.te = Errors::one("event", format!("The event is not JSON: {e}")),
    }
    detail_page(&s, &admin, a, &ListQuery::default(), entered).await
}

async fn delete(State(s): State<Writ>, On(admin, form, a): On<Action>) -> Answer {
    let ask = Ask {
        heading: format!("Delete the action {}?", a.name),
        detail: "It stops running at once and its secrets are gone. This cannot be undone.".into(),
        button: "Delete action",
    };
    let op = Operation::at("DELETE", "/actions/actions/{id}", &a.id, 204);
    let c = Confirmed::deletion(href(&a), "/admin/actions", "delete:actions", op);
    let delete = async || hooks::delete(&s, admin.actor(), &a.id).await;
    admin
        .after_confirmation(&s, &form, c, async { ask }, delete)
        .await
}
