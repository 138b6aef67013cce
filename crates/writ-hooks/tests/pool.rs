//! The worker pool against real worker processes: results, OS limits on the worker, and the
//! supervision (a worker that hangs is killed, one that dies is replaced) with real misbehaving
//! programs standing in for a broken worker.

use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use serde_json::json;
use writ_hooks::{Failure, Job, Outcome, Pool, Trigger, WorkerCommand};

fn worker() -> WorkerCommand {
    WorkerCommand {
        program: env!("CARGO_BIN_EXE_writ-hook-worker").into(),
        args: vec![],
    }
}

fn job(key: &str, code: &str) -> Job {
    Job {
        key: key.into(),
        code: code.into(),
        trigger: Trigger::PostLogin,
        event: json!({"user": {"email": "a@b.c"}}),
        secrets: json!({"K": "v"}).as_object().unwrap().clone(),
        timeout: Duration::from_millis(100),
    }
}

fn run(pool: &Pool, job: Job) -> Result<Outcome, Failure> {
    let (tx, rx) = channel();
    pool.submit(job, move |r| tx.send(r).unwrap());
    rx.recv_timeout(Duration::from_secs(30)).expect("an answer")
}

/// The pid of the worker that took the (only) slot after a failure, once it started.
fn replacement(pool: &Pool) -> u32 {
    for _ in 0..500 {
        if let Some(p) = pool.worker_pids().first() {
            return *p;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no worker was started again");
}

const CLAIMS: &str = "exports.onExecutePostLogin = async (event, api) => { api.accessToken.setCustomClaim('e', event.user.email); api.idToken.setCustomClaim('s', event.secrets.K); };";

#[test]
fn runs_jobs_in_a_locked_down_process_and_recovers_from_failures() {
    let pool = Pool::new(1, worker());
    let o = run(&pool, job("a:1", CLAIMS)).unwrap();
    assert_eq!(o.access["e"], "a@b.c");
    assert_eq!(o.id["s"], "v");

    // The worker is another process, with the limits set and nothing of our environment.
    let pid = pool.worker_pids()[0];
    assert_ne!(pid, std::process::id());
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {limits}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        line("Max address space").contains("536870912 536870912"),
        "{limits}"
    );
    assert!(line("Max core file size").contains("0 0"), "{limits}");
    assert!(line("Max file size").contains("0 0"), "{limits}");
    assert!(line("Max open files").contains("3 3"), "{limits}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    // A seccomp filter (mode 2) holds the system calls to the allowlist.
    assert!(status.contains("Seccomp:\t2"), "{status}");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert_eq!(
        environ, b"MIMALLOC_ARENA_RESERVE=8MiB\0",
        "nothing of the parent's environment, only the allocator's setting"
    );

    // A loop and a memory bomb fail their own run; the same kind of job works after.
    for code in [
        "exports.onExecutePostLogin = async () => { for(;;){} };",
        "exports.onExecutePostLogin = async () => { let a = []; for(;;) a.push('x'.repeat(1000000) + a.length); };",
    ] {
        let r = run(&pool, job(&format!("{}:1", code.len()), code));
        assert!(r.is_err(), "{code}: {r:?}");
    }
    assert_eq!(run(&pool, job("a:1", CLAIMS)).unwrap().access["e"], "a@b.c");

    // A worker killed from outside is replaced; the run that met it fails, the next succeeds.
    let pid = pool.worker_pids()[0];
    std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let after = run(&pool, job("a:1", CLAIMS));
    let after = match after {
        Ok(o) => o,
        Err(f) => {
            assert!(f.0.contains("died"), "{f:?}");
            run(&pool, job("a:1", CLAIMS)).unwrap()
        }
    };
    assert_eq!(after.access["e"], "a@b.c");
    assert_ne!(replacement(&pool), pid);
}

#[test]
fn a_hanging_worker_is_killed_at_budget_plus_grace() {
    // `sleep` reads no job and answers nothing, as a worker stuck in native code would.
    let pool = Pool::new(
        1,
        WorkerCommand {
            program: "/bin/sleep".into(),
            args: vec!["60".into()],
        },
    );
    std::thread::sleep(Duration::from_millis(100));
    let pid = pool.worker_pids()[0];
    let t = Instant::now();
    let r = run(&pool, job("a:1", CLAIMS));
    let waited = t.elapsed();
    assert!(r.unwrap_err().0.contains("killed"));
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    // Killed and reaped: the process is gone (not a zombie), and a new one took the slot.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_ne!(replacement(&pool), pid);
}

#[test]
fn a_worker_that_exits_or_cannot_start_fails_the_run_only() {
    let exits = Pool::new(
        1,
        WorkerCommand {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "exit 3".into()],
        },
    );
    let e = run(&exits, job("a:1", CLAIMS)).unwrap_err();
    assert!(e.0.contains("died"), "{e:?}");
    let missing = Pool::new(
        1,
        WorkerCommand {
            program: "/nonexistent/writ".into(),
            args: vec![],
        },
    );
    let e = run(&missing, job("a:1", CLAIMS)).unwrap_err();
    assert!(e.0.contains("could not start"), "{e:?}");
}
