//! Hooks in Auth0 Actions' shape: the actions (draft, deploy, secrets sealed at rest) and
//! their trigger bindings, and the runs that shape tokens: `post-login` at every user grant
//! (password, code, refresh, so its claims stay fresh) and `credentials-exchange` at client
//! credentials. The JavaScript runs in `writ-hooks`' worker processes; a crash or a limit hit fails
//! that token request (`server_error`, audit `actions_execution_failed`), never the server.
//! Restricted claim names (`writ_core::claims::is_restricted`) are dropped with a log line.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value, json};
use writ_core::{Action, ActionBinding, Client, User};
use writ_hooks::{Job, Outcome, Pool, Trigger, WorkerCommand};

use crate::audit::Operation;
use crate::error::ServiceError;
use crate::oauth_error::OAuthRefusal;
use crate::{Actor, Writ};

/// The triggers hooks can bind to.
pub const TRIGGERS: &[&str] = &["post-login", "credentials-exchange"];
/// The worker processes, started at the first run.
#[derive(Default)]
pub struct Hooks {
    pool: OnceLock<Pool>,
    /// Each trigger's bound actions (in run order) as last read: token requests read them from
    /// here, so a grant costs no database read for hooks, bound or not. Actions and bindings
    /// are part of the catalog (database triggers move its version), so a change through any
    /// node clears it: at once on the node that made it, and on the others when they reload
    /// the catalog ([`Hooks::forget`]).
    bindings: std::sync::Mutex<Bound>,
}

/// The cached bound actions, and a generation that every [`Hooks::forget`] moves, so a read
/// that began before a change cannot store what it read after the change cleared the cache.
#[derive(Default)]
struct Bound {
    generation: u64,
    by_trigger: HashMap<String, Arc<Vec<Action>>>,
}

/// The actions bound to `trigger`, in run order, from the cache or the store (an action
/// deleted meanwhile is skipped).
async fn bound_actions(w: &Writ, trigger: &str) -> Result<Arc<Vec<Action>>, OAuthRefusal> {
    let generation = {
        let bound = w.hooks.bindings.lock().expect("bindings");
        if let Some(b) = bound.by_trigger.get(trigger) {
            return Ok(b.clone());
        }
        bound.generation
    };
    let mut actions = Vec::new();
    for b in w.store.action_bindings(trigger).await? {
        match w.store.get_action(&b.action_id).await {
            Ok(a) => actions.push(a),
            Err(writ_store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let actions = Arc::new(actions);
    let mut bound = w.hooks.bindings.lock().expect("bindings");
    if bound.generation == generation {
        bound.by_trigger.insert(trigger.to_owned(), actions.clone());
    }
    Ok(actions)
}

/// Forgets every trigger's bound actions on this node (after a change to any action).
fn forget_bound(w: &Writ) {
    w.hooks.forget();
}

impl Hooks {
    /// Forgets every trigger's bound actions (an action or a binding changed, here or on
    /// another node: the catalog reload calls it).
    pub(crate) fn forget(&self) {
        let mut bound = self.bindings.lock().expect("bindings");
        bound.generation += 1;
        bound.by_trigger.clear();
    }

    fn pool(&self, config: &crate::Config) -> &Pool {
        self.pool.get_or_init(|| {
            let command = match &config.hook_worker {
                Some(p) => Ok(WorkerCommand::writ(p)),
                None => WorkerCommand::current_exe(),
            };
            // Never a `writ` found on PATH: failing that, the name this process was started by.
            let command = command.unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot find this executable to start hook workers");
                WorkerCommand::writ(std::env::args_os().next().unwrap_or_default())
            });
            Pool::new(config.hook_workers, command)
        })
    }

    /// The process ids of this node's hook workers (none before the first run).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.pool.get().map(Pool::worker_pids).unwrap_or_default()
    }
}

/// What the HTTP edge knows about the token request (`event.request`).
#[derive(Debug, Clone, Default)]
pub struct HookRequest {
    pub ip: Option<String>,
    pub hostname: Option<String>,
    pub user_agent: Option<String>,
}

tokio::task_local! {
    /// Set by the token endpoint around a grant, read by the hooks' `event.request`.
    pub static REQUEST: HookRequest;
}

fn request_json() -> Value {
    let r = REQUEST.try_with(|r| r.clone()).unwrap_or_default();
    json!({ "ip": r.ip, "hostname": r.hostname, "user_agent": r.user_agent })
}

/// The secrets of an action, opened (a name → value object).
fn open_secrets(w: &Writ, a: &Action) -> Map<String, Value> {
    if a.secrets.is_empty() {
        return Map::new();
    }
    w.cipher
        .open(&format!("action:{}", a.id), &a.secrets)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn seal_secrets(w: &Writ, id: &str, s: &Map<String, Value>) -> Vec<u8> {
    w.cipher.seal(
        &format!("action:{id}"),
        serde_json::to_vec(s).unwrap_or_default().as_slice(),
    )
}

/// Claims a hook asked for, less the restricted names.
fn allowed(claims: Map<String, Value>, action: &str) -> Map<String, Value> {
    claims
        .into_iter()
        .filter(|(k, _)| {
            let bad = writ_core::claims::is_restricted(k);
            if bad {
                tracing::info!(action, claim = %k, "a hook's restricted claim ignored");
            }
            !bad
        })
        .collect()
}

/// The claims the bound actions of `trigger` add, or the refusal one of them asked for.
pub struct Added {
    pub access: Map<String, Value>,
    pub id: Map<String, Value>,
    /// A post-login action asked for a second factor (`api.multifactor.enable(…)`).
    pub multifactor: bool,
}

async fn run_trigger(
    w: &Writ,
    trigger: &str,
    event: Value,
    client_id: &str,
    user_id: Option<&str>,
) -> Result<Added, OAuthRefusal> {
    let mut added = Added {
        access: Map::new(),
        id: Map::new(),
        multifactor: false,
    };
    for a in bound_actions(w, trigger).await?.iter() {
        let result = match (&a.deployed_url, &a.deployed_code) {
            // A webhook action: the event is POSTed to it instead of run as code.
            (Some(url), _) => crate::webhooks::call(
                &open_secrets(w, a),
                url,
                trigger,
                &event,
                w.config.hook_timeout,
            )
            .await
            .map(Outcome::from),
            (None, Some(code)) => {
                let key = format!("{}:{}", a.id, a.version);
                run_code(w, a, &key, code, &event).await
            }
            (None, None) => continue,
        };
        let out: Outcome = match result {
            Ok(o) => o,
            Err(why) => {
                w.metrics.hook_run(trigger, "failed");
                tracing::warn!(action = %a.id, %why, "hook failed");
                let mut e = crate::audit::Entry::new(
                    "actions_execution_failed",
                    format!("Action {} failed", a.name),
                )
                .client(client_id)
                .details(json!({ "action_id": a.id, "trigger": trigger, "error": why }));
                if let Some(u) = user_id {
                    e = e.user(u);
                }
                crate::audit::record(w, e).await;
                return Err(OAuthRefusal::server_error(format!(
                    "The action {} failed.",
                    a.name
                )));
            }
        };
        if let Some(d) = out.deny {
            w.metrics.hook_run(trigger, "denied");
            return Err(match d.code.as_deref() {
                Some("invalid_scope") => OAuthRefusal::InvalidScope(d.reason),
                Some("invalid_request") => OAuthRefusal::invalid_request(d.reason),
                Some("server_error") => OAuthRefusal::server_error(d.reason),
                _ => OAuthRefusal::access_denied(d.reason),
            });
        }
        w.metrics.hook_run(trigger, "success");
        added.multifactor |= out.multifactor.is_some();
        added.access.extend(allowed(out.access, &a.id));
        added.id.extend(allowed(out.id, &a.id));
    }
    Ok(added)
}

/// Runs `code` (cached in the workers under `key`) with the action's secrets, in a worker
/// process; the reason for a failure is for the audit log.
async fn run_code(
    w: &Writ,
    a: &Action,
    key: &str,
    code: &str,
    event: &Value,
) -> Result<Outcome, String> {
    let job = Job {
        key: key.to_owned(),
        code: Arc::from(code),
        trigger: handler_of(&a.trigger),
        event: event.clone(),
        secrets: open_secrets(w, a),
        timeout: w.config.hook_timeout,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let budget = job.timeout;
    w.hooks.pool(&w.config).submit(job, move |r| {
        let _ = tx.send(r);
    });
    // The worker's own budget ends the run and the pool kills a worker that overruns it;
    // this wall clock only bounds the wait for a free worker when all are busy.
    match tokio::time::timeout(budget + Duration::from_secs(5), rx).await {
        Ok(Ok(r)) => r.map_err(|f| f.0),
        Ok(Err(_)) => Err("the hook worker went away".into()),
        Err(_) => Err("no hook worker was free in time".into()),
    }
}

/// What a test run of an action did: the claims it set (restricted names dropped), its
/// refusal, or why it failed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TestRun {
    pub access_token_claims: Map<String, Value>,
    pub id_token_claims: Map<String, Value>,
    pub deny: Option<writ_hooks::Deny>,
    pub error: Option<String>,
    /// Wall-clock milliseconds, worker round trip included.
    pub duration_ms: f64,
}

/// A sample event for a trigger, to start a test run from.
pub fn sample_event(trigger: &str) -> Value {
    let request =
        json!({ "ip": "203.0.113.7", "hostname": "auth.example.com", "user_agent": "Mozilla/5.0" });
    let client = json!({ "client_id": "sample-client", "name": "Sample SPA" });
    if trigger == "credentials-exchange" {
        return json!({ "client": client, "resource_server": { "identifier": "https://api.example.com" }, "request": request });
    }
    json!({
        "user": {
            "user_id": "auth0|sample", "email": "sample@example.com", "email_verified": true,
            "name": "Sample User", "app_metadata": { "plan": "pro" }, "user_metadata": {},
        },
        "client": client,
        "authorization": { "roles": ["editor"] },
        "request": request,
    })
}

/// Runs the action's draft (its code, or a webhook's draft URL), deployed or not, against
/// `event`, with its secrets, as a token request would, but mints nothing. Audited as a run by
/// `actor`.
pub async fn test_run(
    w: &Writ,
    actor: &Actor,
    id: &str,
    event: Value,
) -> Result<TestRun, ServiceError> {
    let op = Operation::at("POST", "/actions/actions/{id}/test", id, 200);
    let change = async {
        let a = w.store.get_action(id).await?;
        if !event.is_object() {
            return Err(ServiceError::invalid(
                "payload",
                "The test event must be a JSON object",
            ));
        }
        // The draft is cached under its own text, apart from the deployed version.
        let key = format!("{}:draft:{:016x}", a.id, fingerprint(&a.code));
        let started = std::time::Instant::now();
        let outcome = match &a.url {
            Some(url) => crate::webhooks::call(
                &open_secrets(w, &a),
                url,
                &a.trigger,
                &event,
                w.config.hook_timeout,
            )
            .await
            .map(Outcome::from),
            None => run_code(w, &a, &key, &a.code, &event).await,
        };
        let mut run = TestRun {
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            ..TestRun::default()
        };
        match outcome {
            Ok(o) => {
                run.access_token_claims = allowed(o.access, &a.id);
                run.id_token_claims = allowed(o.id, &a.id);
                run.deny = o.deny;
            }
            Err(e) => run.error = Some(e),
        }
        Ok(run)
    };
    w.recorded(actor, op, change).await
}

/// A cache key for a draft's text (not a security boundary: the key only picks a compiled
/// context in the admin's own action).
fn fingerprint(code: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    code.hash(&mut h);
    h.finish()
}

/// Runs the `post-login` actions for `user` signing in to `client`.
pub async fn post_login(w: &Writ, client: &Client, user: &User) -> Result<Added, OAuthRefusal> {
    if bound_actions(w, "post-login").await?.is_empty() {
        return Ok(Added {
            access: Map::new(),
            id: Map::new(),
            multifactor: false,
        });
    }
    // The roles tokens would carry, from the cache keyed by the user's authz version.
    let roles = w
        .memberships
        .get(w.store.as_ref(), &user.user_id, user.authz_version)
        .await?
        .roles
        .clone();
    let event = json!({
        "user": {
            "user_id": user.user_id, "email": user.email, "email_verified": user.email_verified,
            "name": user.name, "app_metadata": user.app_metadata, "user_metadata": user.user_metadata,
        },
        "client": { "client_id": client.client_id, "name": client.name },
        "authorization": { "roles": roles },
        "request": request_json(),
    });
    run_trigger(
        w,
        "post-login",
        event,
        &client.client_id,
        Some(&user.user_id),
    )
    .await
}

/// Whether a bound post-login action may ask for a second factor: its deployed code names
/// `multifactor` (`api.multifactor.enable(…)`). The hosted page runs the actions before it opens
/// the session only then; an action that reaches the API some other way is still obeyed when
/// the tokens are minted (they are refused), only without the page's challenge.
pub async fn post_login_may_ask_multifactor(w: &Writ) -> Result<bool, OAuthRefusal> {
    Ok(bound_actions(w, "post-login").await?.iter().any(|a| {
        a.deployed_code
            .as_deref()
            .is_some_and(|c| c.contains("multifactor"))
    }))
}

/// Runs the `credentials-exchange` actions for `client` asking for a token for `audience`.
pub async fn credentials_exchange(
    w: &Writ,
    client: &Client,
    audience: &str,
) -> Result<Added, OAuthRefusal> {
    // No action bound (the usual case): no event to build, on the machine-token hot path.
    if bound_actions(w, "credentials-exchange").await?.is_empty() {
        return Ok(Added {
            access: Map::new(),
            id: Map::new(),
            multifactor: false,
        });
    }
    let event = json!({
        "client": { "client_id": client.client_id, "name": client.name },
        "resource_server": { "identifier": audience },
        "request": request_json(),
    });
    run_trigger(w, "credentials-exchange", event, &client.client_id, None).await
}

// ---------------------------------------------------------------------------------------------
// Management

/// Every action, by name.
pub async fn list(w: &Writ) -> Result<Vec<Action>, ServiceError> {
    let mut all = w.store.actions().await?;
    all.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(all)
}

/// One action.
pub async fn get(w: &Writ, id: &str) -> Result<Action, ServiceError> {
    Ok(w.store.get_action(id).await?)
}

/// A trigger's bindings as stored (what runs, in order).
pub async fn bindings(w: &Writ, trigger: &str) -> Result<Vec<ActionBinding>, ServiceError> {
    check_trigger(trigger)?;
    Ok(w.store.action_bindings(trigger).await?)
}

/// The names of an action's secrets (never their values).
pub fn secret_names(w: &Writ, a: &Action) -> Vec<String> {
    open_secrets(w, a).keys().cloned().collect()
}

/// The exported handler a trigger's actions define (triggers are checked when an action is
/// written, so anything else is post-login's).
fn handler_of(trigger: &str) -> Trigger {
    match trigger {
        "credentials-exchange" => Trigger::CredentialsExchange,
        _ => Trigger::PostLogin,
    }
}

fn check_trigger(t: &str) -> Result<(), ServiceError> {
    if TRIGGERS.contains(&t) {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "supported_triggers",
            format!("Unsupported trigger: {t}"),
        ))
    }
}

/// `secrets: [{name, value}]` → an object; a secret without a value keeps its old value.
fn merge_secrets(old: Map<String, Value>, new: &[(String, Option<String>)]) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in new {
        let v = match value {
            Some(v) => Value::String(v.clone()),
            None => old
                .get(name)
                .cloned()
                .unwrap_or(Value::String(String::new())),
        };
        out.insert(name.clone(), v);
    }
    out
}

/// How an action runs, as a create or update asks: `runtime` (`"webhook"` for a signed
/// webhook, anything else or nothing for JavaScript) and a webhook's `url`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Runtime<'a> {
    pub runtime: Option<&'a str>,
    pub url: Option<&'a str>,
}

/// The webhook URL an action gets from `rt` (its `current` one when `rt` names none), checked;
/// `None` for a JavaScript action.
fn webhook_url(
    w: &Writ,
    rt: Runtime<'_>,
    current: Option<&str>,
) -> Result<Option<String>, ServiceError> {
    let webhook = match rt.runtime {
        Some(r) => r == crate::webhooks::RUNTIME,
        None => current.is_some(),
    };
    if !webhook {
        if rt.url.is_some() {
            return Err(ServiceError::invalid(
                "url",
                "url is only for actions with runtime webhook",
            ));
        }
        return Ok(None);
    }
    let Some(url) = rt.url.or(current) else {
        return Err(ServiceError::invalid(
            "url",
            "an action with runtime webhook needs a url",
        ));
    };
    crate::webhooks::check_url(w, url)?;
    Ok(Some(url.to_owned()))
}

/// Creates an action (a draft: nothing runs until it is deployed and bound).
pub async fn create(
    w: &Writ,
    actor: &Actor,
    name: &str,
    trigger: &str,
    code: &str,
    secrets: &[(String, Option<String>)],
    rt: Runtime<'_>,
) -> Result<Action, ServiceError> {
    let op = Operation::at("POST", "/actions/actions", "", 201);
    let change = async move {
        check_trigger(trigger)?;
        if name.trim().is_empty() {
            return Err(ServiceError::invalid("name", "name is required"));
        }
        let url = webhook_url(w, rt, None)?;
        let opened = merge_secrets(Map::new(), secrets);
        if url.is_some() {
            crate::webhooks::check_secret(&opened)?;
        }
        let id = format!("act_{}", crate::crypto::random_alnum(16));
        let at = chrono::Utc::now().to_rfc3339();
        let a = Action {
            secrets: seal_secrets(w, &id, &opened),
            url,
            deployed_url: None,
            revision: 0,
            id,
            name: name.into(),
            trigger: trigger.into(),
            code: code.into(),
            version: 0,
            deployed_code: None,
            created_at: at.clone(),
            updated_at: at,
        };
        w.store.put_action(&a).await?;
        Ok(a)
    };
    w.recorded(actor, op, change).await
}

/// Changes an action's name, draft code, draft runtime / webhook URL or secrets (new secrets
/// apply at once). Safe against concurrent writes (see `action_writes`).
pub async fn update(
    w: &Writ,
    actor: &Actor,
    id: &str,
    name: Option<&str>,
    code: Option<&str>,
    secrets: Option<&[(String, Option<String>)]>,
    rt: Runtime<'_>,
) -> Result<Action, ServiceError> {
    let op = Operation::at("PATCH", "/actions/actions/{id}", id, 200);
    let change = crate::action_writes::modify(w, id, |a| {
        a.url = webhook_url(w, rt, a.url.as_deref())?;
        if let Some(n) = name {
            if n.trim().is_empty() {
                return Err(ServiceError::invalid("name", "name must not be empty"));
            }
            a.name = n.into();
        }
        if let Some(c) = code {
            a.code = c.into();
        }
        let opened = match secrets {
            Some(s) => {
                let merged = merge_secrets(open_secrets(w, a), s);
                a.secrets = seal_secrets(w, &a.id, &merged);
                // New secrets take effect at once: a new cache key makes the workers recompile.
                a.version += 1;
                merged
            }
            None => open_secrets(w, a),
        };
        if a.url.is_some() {
            crate::webhooks::check_secret(&opened)?;
        }
        Ok(())
    });
    let result = w.recorded(actor, op, change).await;
    if result.is_ok() {
        // Token requests on this node run the new version (or secrets) from the next one.
        forget_bound(w);
    }
    result
}

/// Makes the draft code (or webhook URL) the one that runs. Safe against concurrent writes.
pub async fn deploy(w: &Writ, actor: &Actor, id: &str) -> Result<Action, ServiceError> {
    let op = Operation::at("POST", "/actions/actions/{id}/deploy", id, 200);
    let change = crate::action_writes::modify(w, id, |a| {
        a.deployed_code = Some(a.code.clone());
        a.deployed_url = a.url.clone();
        a.version += 1;
        Ok(())
    });
    let result = w.recorded(actor, op, change).await;
    if result.is_ok() {
        // Token requests on this node run the new version (or secrets) from the next one.
        forget_bound(w);
    }
    result
}

/// Deletes an action and its bindings (this node stops running it at once, others when they
/// reload the catalog, which its version's move makes them do).
pub async fn delete(w: &Writ, actor: &Actor, id: &str) -> Result<(), ServiceError> {
    let op = Operation::at("DELETE", "/actions/actions/{id}", id, 204);
    let change = async { Ok(w.store.delete_action(id).await?) };
    let result = w.recorded(actor, op, change).await;
    forget_bound(w);
    result
}

/// Replaces a trigger's bindings (the actions, in the order they run).
pub async fn set_bindings(
    w: &Writ,
    actor: &Actor,
    trigger: &str,
    bindings: Vec<ActionBinding>,
) -> Result<Vec<ActionBinding>, ServiceError> {
    let route = "/actions/triggers/{triggerId}/bindings";
    let op = Operation::new("PATCH", route, route.replace("{triggerId}", trigger), 200);
    w.recorded(actor, op, bind(w, trigger, bindings)).await
}

async fn bind(
    w: &Writ,
    trigger: &str,
    bindings: Vec<ActionBinding>,
) -> Result<Vec<ActionBinding>, ServiceError> {
    check_trigger(trigger)?;
    for b in &bindings {
        let a = w.store.get_action(&b.action_id).await?;
        if a.trigger != trigger {
            return Err(ServiceError::invalid(
                "bindings",
                format!("Action {} is not for the {trigger} trigger", a.id),
            ));
        }
    }
    w.store.set_action_bindings(trigger, &bindings).await?;
    forget_bound(w);
    Ok(bindings)
}
