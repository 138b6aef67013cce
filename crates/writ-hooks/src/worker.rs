//! The worker process: the other end of [`crate::Pool`]. The server starts it as
//! `writ hook-worker` (or the `writ-hook-worker` binary); it locks itself down with OS limits
//! before it reads any job, then answers one JSON line per JSON line on stdin/stdout until
//! stdin closes. It holds one [`Engine`]; after a failed run it throws the engine away, since a
//! limit hit or an exception may leave it half-used.
//!
//! The limits are set on the process itself, so they hold whatever the JavaScript engine does:
//! an address-space cap ([`ADDRESS_SPACE_LIMIT`], well above QuickJS's own [`MEMORY_LIMIT`]),
//! no core dumps (a dump would hold secrets), no file written, no new descriptor (no file or
//! socket opened), no child processes, no new privileges, death when the server dies, and on
//! Linux a system-call allowlist ([`crate::syscalls`]) that leaves it reading, writing its
//! pipes and allocating memory. The server also starts it with an empty environment, in `/`,
//! with stderr discarded.
//!
//! [`MEMORY_LIMIT`]: crate::MEMORY_LIMIT

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Engine, Failure, Job, Outcome, Trigger};

/// The address space a worker process may map. The engine's own heap limit fails a memory
/// bomb first and cleanly; this one catches anything beyond it (the process dies, the server
/// replaces it).
pub const ADDRESS_SPACE_LIMIT: u64 = 512 * 1024 * 1024;

/// One job on the wire (server → worker).
#[derive(Serialize)]
pub(crate) struct RequestRef<'a> {
    pub key: &'a str,
    pub code: &'a str,
    pub trigger: Trigger,
    pub event: &'a Value,
    pub secrets: &'a Map<String, Value>,
    pub timeout_ms: u64,
}

#[derive(Deserialize)]
struct Request {
    key: String,
    code: String,
    trigger: Trigger,
    event: Value,
    secrets: Map<String, Value>,
    timeout_ms: u64,
}

/// One answer on the wire (worker → server).
#[derive(Serialize, Deserialize)]
pub(crate) struct Answer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Answer {
    pub(crate) fn into_result(self) -> Result<Outcome, Failure> {
        match (self.ok, self.error) {
            (Some(o), None) => Ok(o),
            (_, e) => Err(Failure(
                e.unwrap_or_else(|| "the worker gave no result".into()),
            )),
        }
    }
}

/// Applies the OS limits to this process. Errors are returned, not ignored: a worker that
/// cannot lock itself down must not run customer code.
pub fn lock_down() -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    // Die with the server, even if it is killed.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    rustix::thread::set_no_new_privs(true)?;
    let cap = |r: Resource, n: u64| {
        setrlimit(
            r,
            Rlimit {
                current: Some(n),
                maximum: Some(n),
            },
        )
    };
    cap(Resource::As, ADDRESS_SPACE_LIMIT)?;
    cap(Resource::Core, 0)?;
    cap(Resource::Fsize, 0)?;
    // stdin, stdout and stderr are descriptors 0 to 2 and the server passes no other: with
    // the limit at 3, no file or socket can be opened at all.
    cap(Resource::Nofile, 3)?;
    // No child processes (privileged users are exempt from this one; the others still hold).
    cap(Resource::Nproc, 0)?;
    // Last: the system calls it may make from now on.
    #[cfg(target_os = "linux")]
    crate::syscalls::install()?;
    Ok(())
}

/// The worker's `main`: locks down, then serves jobs from stdin until it closes. Returns the
/// process exit code.
pub fn main() -> std::process::ExitCode {
    if let Err(e) = lock_down() {
        eprintln!("writ hook-worker: cannot apply the OS limits: {e}");
        return std::process::ExitCode::from(3);
    }
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    match serve(stdin, &mut stdout) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::from(1),
    }
}

/// Answers each JSON line of `input` with one JSON line on `output`.
pub fn serve(input: impl BufRead, output: &mut impl Write) -> std::io::Result<()> {
    let mut engine: Option<Engine> = None;
    for line in input.lines() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Request>(&line) {
            Ok(r) => {
                let job = Job {
                    key: r.key,
                    code: Arc::from(r.code),
                    trigger: r.trigger,
                    event: r.event,
                    secrets: r.secrets,
                    timeout: Duration::from_millis(r.timeout_ms),
                };
                run(&mut engine, &job)
            }
            Err(e) => Err(Failure(format!("a malformed job: {e}"))),
        };
        let answer = match answer {
            Ok(o) => Answer {
                ok: Some(o),
                error: None,
            },
            Err(f) => Answer {
                ok: None,
                error: Some(f.0),
            },
        };
        let mut text = serde_json::to_string(&answer)
            .unwrap_or_else(|_| r#"{"error":"the result could not be encoded"}"#.into());
        text.push('\n');
        output.write_all(text.as_bytes())?;
        output.flush()?;
    }
    Ok(())
}

fn run(engine: &mut Option<Engine>, job: &Job) -> Result<Outcome, Failure> {
    if engine.is_none() {
        *engine = Some(Engine::new()?);
    }
    let e = engine.as_mut().expect("set above");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.run(job)))
        .unwrap_or_else(|_| Err(Failure("the hook runtime crashed".into())));
    if result.is_err() {
        *engine = None;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_lines_and_recovers() {
        let ok = serde_json::json!({"key": "a:1", "code": "exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim('x', e.user.n); };", "trigger": "PostLogin", "event": {"user": {"n": 7}}, "secrets": {}, "timeout_ms": 100});
        let looped = serde_json::json!({"key": "b:1", "code": "exports.onExecutePostLogin = async () => { for(;;){} };", "trigger": "PostLogin", "event": {}, "secrets": {}, "timeout_ms": 20});
        let input = format!("{ok}\nnot json\n{looped}\n{ok}\n");
        let mut out = Vec::new();
        serve(input.as_bytes(), &mut out).unwrap();
        let answers: Vec<Answer> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(answers.len(), 4);
        let mut results = answers.into_iter().map(Answer::into_result);
        assert_eq!(results.next().unwrap().unwrap().access["x"], 7);
        assert!(results.next().unwrap().unwrap_err().0.contains("malformed"));
        assert!(results.next().unwrap().is_err());
        assert_eq!(results.next().unwrap().unwrap().access["x"], 7);
    }
}
