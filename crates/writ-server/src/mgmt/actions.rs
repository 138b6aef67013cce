//! `/api/v2/actions`: hooks in Auth0 Actions' shape (create, update, get, list, delete,
//! deploy) and their trigger bindings. Secrets are accepted with values and answered by name.

use super::prelude::*;
use super::types::{
    Action, ActionFilter, ActionList, ActionRequest, ActionSecret, ActionTestRequest,
    ActionTestResult, BindingList, BindingsRequest,
};
use writ_core::ActionBinding;
use writ_service::hooks;

/// The answer for an action: secrets by name only.
fn view(c: &Caller, a: &writ_core::Action) -> Action {
    Action::new(a, hooks::secret_names(c, a))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(read, update, delete))
        .routes(routes!(deploy))
        .routes(routes!(test))
        .routes(routes!(bindings, set_bindings))
}

fn secrets(s: &[ActionSecret]) -> Vec<(String, Option<String>)> {
    s.iter()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect()
}

#[utoipa::path(
    get,
    path = "/actions/actions",
    operation_id = "get_actions",
    tag = "actions",
    summary = "List actions",
    description = "`{actions, total, page, per_page}` as Auth0 answers, sorted by name; filtered by `triggerId`, `actionName` (exact), `deployed` and `installed`.",
    params(Paging, ActionFilter),
    responses(
        (status = 200, description = "The actions (secrets by name only).", body = ActionList),
        schemas::QueryDenied,
    ),
    security(("bearer" = ["read:actions"]))
)]
async fn list(
    c: Caller,
    paging: Paging,
    Params(f): Params<ActionFilter>,
) -> Result<Response, ApiError> {
    let page = paging.page()?;
    let mut all = c.store.actions().await?;
    all.retain(|a| {
        f.trigger_id.as_ref().is_none_or(|t| &a.trigger == t)
            && f.action_name.as_ref().is_none_or(|n| &a.name == n)
            && f.deployed.is_none_or(|d| a.deployed_code.is_some() == d)
            // No action comes from a marketplace integration.
            && f.installed != Some(true)
    });
    all.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    let actions = all
        .iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.per_page as usize)
        .map(|a| view(&c, a))
        .collect();
    Ok(ok(ActionList {
        actions,
        total: all.len() as u64,
        page: page.page,
        per_page: page.per_page,
    }))
}

#[utoipa::path(
    post,
    path = "/actions/actions",
    operation_id = "post_action",
    tag = "actions",
    summary = "Create an action",
    description = "A JavaScript action (`code`), or a signed webhook: `\"runtime\": \"webhook\"` with `\"url\"` \
(https; plain http only to 127.0.0.1, ::1 or localhost unless `WRIT_HOOK_ALLOW_HTTP=true`) and a secret \
`SIGNING_SECRET` of at least 32 characters (or a Standard Webhooks `whsec_<base64>` secret). Once deployed and \
bound, at its trigger Writ POSTs `{\"trigger\": \"post-login\" | \"credentials-exchange\", \"event\": {...}}` \
(the event the JavaScript gets, without `secrets`) as JSON, signed per Standard Webhooks: headers `webhook-id`, \
`webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of \"{id}.{timestamp}.{body}\">` \
keyed by the UTF-8 bytes of `SIGNING_SECRET` (the decoded bytes of a `whsec_` secret). The answer (2xx, JSON, at \
most 64 KiB): `{\"access_token\": {claims}, \"id_token\": {claims}, \"deny\": {\"reason\": \"...\", \"code\": \"...\"}}`, \
all optional (a 204 adds nothing); restricted claim names are ignored; `deny.code` may be `invalid_scope`, \
`invalid_request` or `server_error`, otherwise `access_denied`. Any other answer (not 2xx, slower than the hook \
time budget `WRIT_HOOK_TIMEOUT_MS`, larger, not JSON) fails that token request with `server_error` and an \
`actions_execution_failed` audit entry. Redirects are not followed; nothing is retried.",
    request_body(content = ActionRequest, description = "`name` and `supported_triggers` are required, and `code`, or `runtime: \"webhook\"` with `url`."),
    responses(
        (status = 201, description = "The new action (not deployed yet).", body = Action),
        schemas::BodyDenied,
    ),
    security(("bearer" = ["create:actions"]))
)]
async fn create(c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let b: ActionRequest = c.body(&bytes).await?;
    let trigger = b
        .supported_triggers
        .as_ref()
        .and_then(|t| t.first())
        .map(|t| t.id.clone())
        .unwrap_or_default();
    let a = hooks::create(
        &c,
        &c.actor(),
        b.name.as_deref().unwrap_or_default(),
        &trigger,
        b.code.as_deref().unwrap_or_default(),
        &secrets(b.secrets.as_deref().unwrap_or_default()),
        hooks::Runtime {
            runtime: b.runtime.as_deref(),
            url: b.url.as_deref(),
        },
    )
    .await?;
    Ok(created(view(&c, &a)))
}

#[utoipa::path(
    get,
    path = "/actions/actions/{id}",
    operation_id = "get_action",
    tag = "actions",
    summary = "Get an action",
    params(ActionId),
    responses(
        (status = 200, description = "The action (secrets by name only).", body = Action),
        schemas::Denied<ActionId>,
    ),
    security(("bearer" = ["read:actions"]))
)]
async fn read(c: Caller, Path(ActionId(id)): Path<ActionId>) -> Result<Response, ApiError> {
    let a = c.store.get_action(&id).await?;
    Ok(ok(view(&c, &a)))
}

#[utoipa::path(
    patch,
    path = "/actions/actions/{id}",
    operation_id = "patch_action",
    tag = "actions",
    summary = "Update an action",
    params(ActionId),
    request_body(content = ActionRequest, description = "The fields to change; the code (or webhook `url`) runs once deployed. `runtime: \"webhook\"` with `url` turns an action into a webhook, another `runtime` back into code. Concurrent changes and deploys are applied one after the other, none lost."),
    responses(
        (status = 200, description = "The action.", body = Action),
        schemas::BodyDenied<ActionId>,
    ),
    security(("bearer" = ["update:actions"]))
)]
async fn update(
    c: Caller,
    Path(ActionId(id)): Path<ActionId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: ActionRequest = c.body(&bytes).await?;
    let s = b.secrets.as_deref().map(secrets);
    let a = hooks::update(
        &c,
        &c.actor(),
        &id,
        b.name.as_deref(),
        b.code.as_deref(),
        s.as_deref(),
        hooks::Runtime {
            runtime: b.runtime.as_deref(),
            url: b.url.as_deref(),
        },
    )
    .await?;
    Ok(ok(view(&c, &a)))
}

#[utoipa::path(
    delete,
    path = "/actions/actions/{id}",
    operation_id = "delete_action",
    tag = "actions",
    summary = "Delete an action",
    params(ActionId),
    responses(
        (status = 204, description = "Deleted, with its bindings."),
        schemas::Denied<ActionId>,
    ),
    security(("bearer" = ["delete:actions"]))
)]
async fn delete(c: Caller, Path(ActionId(id)): Path<ActionId>) -> Result<Response, ApiError> {
    hooks::delete(&c, &c.actor(), &id).await?;
    Ok(no_content())
}

#[utoipa::path(
    post,
    path = "/actions/actions/{id}/deploy",
    operation_id = "post_deploy_action",
    tag = "actions",
    summary = "Deploy an action",
    params(ActionId),
    responses(
        (status = 200, description = "Deployed: its current code runs from now on.", body = Action),
        schemas::Denied<ActionId>,
    ),
    security(("bearer" = ["update:actions"]))
)]
async fn deploy(c: Caller, Path(ActionId(id)): Path<ActionId>) -> Result<Response, ApiError> {
    let a = hooks::deploy(&c, &c.actor(), &id).await?;
    Ok(ok(view(&c, &a)))
}

#[utoipa::path(
    post,
    path = "/actions/actions/{id}/test",
    operation_id = "post_test_action",
    tag = "actions",
    summary = "Test an action",
    description = "Runs the action's draft code (deployed or not) with its secrets against `payload`, in a hook worker under the same limits as a token request, and answers what it did: `{payload: {access_token_claims, id_token_claims, deny, error, duration_ms}}`. Nothing is minted; the run is audited.",
    params(ActionId),
    request_body(content = ActionTestRequest, description = "The event (`event.user`, `.client`, `.authorization`, `.request` for post-login); a sample event when absent."),
    responses(
        (status = 200, description = "What the run did.", body = ActionTestResult),
        schemas::BodyDenied<ActionId>,
    ),
    security(("bearer" = ["update:actions"]))
)]
async fn test(
    c: Caller,
    Path(ActionId(id)): Path<ActionId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: ActionTestRequest = if bytes.is_empty() {
        ActionTestRequest::default()
    } else {
        c.body(&bytes).await?
    };
    let event = match b.payload {
        Some(p) => p,
        None => hooks::sample_event(&c.store.get_action(&id).await?.trigger),
    };
    let run = hooks::test_run(&c, &c.actor(), &id, event).await?;
    Ok(ok(ActionTestResult {
        payload: run.into(),
    }))
}

#[utoipa::path(
    get,
    path = "/actions/triggers/{triggerId}/bindings",
    operation_id = "get_bindings",
    tag = "actions",
    summary = "Get a trigger's bindings",
    params(TriggerId),
    responses(
        (status = 200, description = "The actions bound, in run order.", body = BindingList),
        schemas::Denied<TriggerId>,
    ),
    security(("bearer" = ["read:actions"]))
)]
async fn bindings(c: Caller, Path(TriggerId(t)): Path<TriggerId>) -> Result<Response, ApiError> {
    let b = c.store.action_bindings(&t).await?;
    Ok(ok(BindingList::new(&b)))
}

#[utoipa::path(
    patch,
    path = "/actions/triggers/{triggerId}/bindings",
    operation_id = "patch_bindings",
    tag = "actions",
    summary = "Update a trigger's bindings",
    params(TriggerId),
    request_body(content = BindingsRequest, description = "The actions to run, in order (`ref.type` = `action_id`)."),
    responses(
        (status = 200, description = "The bindings.", body = BindingList),
        schemas::BodyDenied<TriggerId>,
    ),
    security(("bearer" = ["update:actions"]))
)]
async fn set_bindings(
    c: Caller,
    Path(TriggerId(t)): Path<TriggerId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: BindingsRequest = c.body(&bytes).await?;
    let list = b
        .bindings
        .into_iter()
        .map(|x| ActionBinding {
            display_name: x.display_name.unwrap_or_else(|| x.reference.value.clone()),
            action_id: x.reference.value,
        })
        .collect();
    let done = hooks::set_bindings(&c, &c.actor(), &t, list).await?;
    Ok(ok(BindingList::new(&done)))
}
