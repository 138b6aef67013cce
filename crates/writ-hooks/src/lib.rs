//! Writ's hook runtime. Hooks are customer JavaScript in the shape of Auth0 Actions
//! (`exports.onExecutePostLogin = async (event, api) => {…}`), so it is untrusted code, run in
//! two layers of isolation:
//!
//! - **The engine** ([`Engine`]) is QuickJS (through `rquickjs`), which has no filesystem,
//!   network, timer or module loader unless one is added, and none is. Each run gets a time
//!   budget (QuickJS's interrupt handler), each engine a memory and a stack limit; a hit fails
//!   that run with an error. Each action gets its own JavaScript context (its own globals), so
//!   one action cannot read another's secrets or state. Compiled actions are cached by key
//!   (action id + version), so a run is a function call.
//! - **The worker process** ([`worker`]) holds one engine, outside the server: the server's
//!   [`Pool`] starts workers as child processes (`writ hook-worker`) with none of the server's
//!   environment (one allocator setting only) and OS limits (address space, no core dumps, no
//!   files written, no new privileges, killed with the server), sends each job as one JSON
//!   line and reads one line back. A worker that overruns its budget by more than a grace
//!   period, crashes or exits is killed and replaced; the run fails, the server does not.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rquickjs::{Context, Function, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod pool;
#[cfg(target_os = "linux")]
mod syscalls;
pub mod worker;

pub use pool::{Pool, WorkerCommand};

/// The memory one worker's JavaScript may allocate.
pub const MEMORY_LIMIT: usize = 32 * 1024 * 1024;
/// The JavaScript stack one worker may use (deep recursion fails cleanly).
pub const STACK_LIMIT: usize = 512 * 1024;

/// Which Auth0 trigger a run is for; names the exported handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    PostLogin,
    CredentialsExchange,
}

impl Trigger {
    pub fn handler(self) -> &'static str {
        match self {
            Trigger::PostLogin => "onExecutePostLogin",
            Trigger::CredentialsExchange => "onExecuteCredentialsExchange",
        }
    }
}

/// One run: the action's code (cached by `key`), the event, its own secrets and a time budget.
#[derive(Debug, Clone)]
pub struct Job {
    pub key: String,
    pub code: Arc<str>,
    pub trigger: Trigger,
    pub event: Value,
    pub secrets: Map<String, Value>,
    pub timeout: Duration,
}

/// A `deny` call: `code` is given only by credentials-exchange's `deny(code, reason)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deny {
    pub code: Option<String>,
    pub reason: String,
}

/// What a run asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(default)]
    pub access: Map<String, Value>,
    #[serde(default)]
    pub id: Map<String, Value>,
    #[serde(default)]
    pub deny: Option<Deny>,
    /// The provider a post-login action asked a second factor of
    /// (`api.multifactor.enable(provider)`, Auth0's; `any` for any factor Writ has).
    #[serde(default)]
    pub multifactor: Option<String>,
}

/// Why a run failed (the message is for the audit log, not for the client).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure(pub String);

/// The per-context driver: builds `api`, calls the handler and records what it asked for.
const DRIVER: &str = r#"
(function () {
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const Str = String;
  globalThis.__writ_run = function (handler, eventJson, secretsJson) {
    const out = { access: {}, id: {}, deny: null, multifactor: null };
    const state = { done: false, error: null };
    const event = parse(eventJson);
    event.secrets = parse(secretsJson);
    const api = {
      accessToken: { setCustomClaim(k, v) { out.access[Str(k)] = v; return api; } },
      idToken: { setCustomClaim(k, v) { out.id[Str(k)] = v; return api; } },
      multifactor: {
        enable(provider) { out.multifactor = provider === undefined ? "any" : Str(provider); return api; },
      },
      access: {
        deny(a, b) {
          out.deny = b === undefined ? { code: null, reason: Str(a) } : { code: Str(a), reason: Str(b) };
          return api;
        },
      },
    };
    globalThis.__writ_result = function () {
      if (state.error !== null) return stringify({ error: state.error });
      if (!state.done) return stringify({ error: "the handler's promise never settled" });
      return stringify({ ok: out });
    };
    let p;
    try { p = handler(event, api); } catch (e) { state.error = Str(e) + (e && e.stack ? "\n" + e.stack : ""); return; }
    Promise.resolve(p).then(
      function () { state.done = true; },
      function (e) { state.error = Str(e) + (e && e.stack ? "\n" + e.stack : ""); }
    );
  };
})();
"#;

/// A QuickJS runtime with its limits and the compiled actions' contexts. Not `Send`: each
/// worker process owns one.
pub struct Engine {
    rt: Runtime,
    contexts: HashMap<String, Context>,
    deadline: Arc<AtomicU64>,
    base: Instant,
}

/// How many compiled actions an engine keeps before it drops them all and starts over.
pub const MAX_CONTEXTS: usize = 64;

impl Engine {
    /// A fresh runtime with [`MEMORY_LIMIT`], [`STACK_LIMIT`] and the interrupt handler.
    pub fn new() -> Result<Self, Failure> {
        let rt = Runtime::new().map_err(|e| Failure(format!("runtime: {e}")))?;
        rt.set_memory_limit(MEMORY_LIMIT);
        rt.set_max_stack_size(STACK_LIMIT);
        let deadline = Arc::new(AtomicU64::new(u64::MAX));
        let base = Instant::now();
        let d = deadline.clone();
        rt.set_interrupt_handler(Some(Box::new(move || {
            base.elapsed().as_micros() as u64 > d.load(Ordering::Relaxed)
        })));
        Ok(Engine {
            rt,
            contexts: HashMap::new(),
            deadline,
            base,
        })
    }

    /// The action's context: its own globals, the driver and its compiled handler.
    fn context(&mut self, job: &Job) -> Result<Context, Failure> {
        if let Some(c) = self.contexts.get(&job.key) {
            return Ok(c.clone());
        }
        if self.contexts.len() >= MAX_CONTEXTS {
            // Old versions of edited actions pile up otherwise; recompiling is cheap.
            self.contexts.clear();
        }
        let ctx = Context::full(&self.rt).map_err(|e| Failure(format!("context: {e}")))?;
        let handler = job.trigger.handler();
        let src = format!(
            "(function () {{ var exports = {{}}; var module = {{ exports: exports }};\n{}\n;\nvar h = module.exports && module.exports.{handler};\nif (typeof h !== 'function') throw new Error('the action exports no {handler} function');\nglobalThis.__writ_handler = h; }})();",
            job.code
        );
        ctx.with(|ctx| -> Result<(), Failure> {
            ctx.eval::<(), _>(DRIVER).map_err(|e| js_error(&ctx, e))?;
            ctx.eval::<(), _>(src).map_err(|e| js_error(&ctx, e))?;
            Ok(())
        })?;
        self.contexts.insert(job.key.clone(), ctx.clone());
        Ok(ctx)
    }

    /// Runs `job` within its time budget.
    pub fn run(&mut self, job: &Job) -> Result<Outcome, Failure> {
        let budget = job.timeout.as_micros() as u64;
        self.deadline.store(
            self.base.elapsed().as_micros() as u64 + budget,
            Ordering::Relaxed,
        );
        let result = self.run_inner(job);
        self.deadline.store(u64::MAX, Ordering::Relaxed);
        result
    }

    fn run_inner(&mut self, job: &Job) -> Result<Outcome, Failure> {
        let ctx = self.context(job)?;
        let event = serde_json::to_string(&job.event).unwrap_or_else(|_| "{}".into());
        let secrets = serde_json::to_string(&job.secrets).unwrap_or_else(|_| "{}".into());
        ctx.with(|ctx| -> Result<(), Failure> {
            let g = ctx.globals();
            let run: Function = g.get("__writ_run").map_err(|e| js_error(&ctx, e))?;
            let handler: Function = g.get("__writ_handler").map_err(|e| js_error(&ctx, e))?;
            run.call::<_, ()>((handler, event, secrets))
                .map_err(|e| js_error(&ctx, e))
        })?;
        // The handler is async: run its jobs to the end (the time budget still applies).
        loop {
            match self.rt.execute_pending_job() {
                Ok(true) => continue,
                Ok(false) => break,
                Err(_) => return Err(Failure("the action failed in a pending job".into())),
            }
        }
        let text = ctx.with(|ctx| -> Result<String, Failure> {
            let f: Function = ctx
                .globals()
                .get("__writ_result")
                .map_err(|e| js_error(&ctx, e))?;
            f.call::<_, String>(()).map_err(|e| js_error(&ctx, e))
        })?;
        #[derive(Deserialize)]
        struct Res {
            ok: Option<Outcome>,
            error: Option<String>,
        }
        let res: Res = serde_json::from_str(&text)
            .map_err(|e| Failure(format!("the action's result is not JSON: {e}")))?;
        match (res.ok, res.error) {
            (Some(o), _) => Ok(o),
            (None, e) => Err(Failure(e.unwrap_or_else(|| "no result".into()))),
        }
    }
}

/// Runs one job on a fresh engine in this process (tests and benchmarks; the server runs
/// jobs in worker processes through a [`Pool`]).
pub fn run_once(job: &Job) -> Result<Outcome, Failure> {
    Engine::new()?.run(job)
}

fn js_error(ctx: &rquickjs::Ctx<'_>, e: rquickjs::Error) -> Failure {
    if let rquickjs::Error::Exception = e {
        let v = ctx.catch();
        if let Some(ex) = v.as_exception() {
            let msg = ex.message().unwrap_or_default();
            let stack = ex.stack().unwrap_or_default();
            return Failure(format!("{msg} {stack}").trim().to_string());
        }
        if let Ok(s) = v.get::<rquickjs::Coerced<String>>() {
            return Failure(s.0);
        }
    }
    Failure(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(code: &str) -> Job {
        Job {
            key: "a:1".into(),
            code: code.into(),
            trigger: Trigger::PostLogin,
            event: json!({"user": {"email": "a@b.c"}}),
            secrets: json!({"K": "v"}).as_object().unwrap().clone(),
            timeout: Duration::from_millis(100),
        }
    }

    #[test]
    fn sets_claims_and_reads_event_and_secrets() {
        let o = run_once(&job(
            "exports.onExecutePostLogin = async (event, api) => { api.accessToken.setCustomClaim('https://x/e', event.user.email); api.idToken.setCustomClaim('https://x/s', event.secrets.K); };",
        ))
        .unwrap();
        assert_eq!(o.access["https://x/e"], "a@b.c");
        assert_eq!(o.id["https://x/s"], "v");
        assert!(o.deny.is_none());
        assert!(o.multifactor.is_none());
    }

    #[test]
    fn limits_and_missing_apis_fail_cleanly() {
        let looped = run_once(&job(
            "exports.onExecutePostLogin = async () => { for(;;){} };",
        ));
        assert!(looped.is_err(), "{looped:?}");
        let bomb = run_once(&job(
            "exports.onExecutePostLogin = async () => { let a = []; for(;;) a.push('x'.repeat(1000000) + a.length); };",
        ));
        assert!(bomb.is_err(), "{bomb:?}");
        let fs = run_once(&job(
            "exports.onExecutePostLogin = async () => { require('fs'); };",
        ));
        let fs = fs.unwrap_err().0;
        assert!(fs.contains("require"), "{fs}");
        let net = run_once(&job(
            "exports.onExecutePostLogin = async () => { await fetch('http://x'); };",
        ));
        assert!(net.unwrap_err().0.contains("fetch"));
    }
}
