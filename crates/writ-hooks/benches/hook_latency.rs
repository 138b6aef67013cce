//! Times a post-login hook that sets two claims, side by side in one run: in this process on a
//! warm engine (the JavaScript alone) and through a warm worker process as the server runs it
//! (JavaScript + two pipe crossings + JSON). Prints p50 and p99 of each and their ratio.
//! `cargo bench -p writ-hooks --bench hook_latency`

use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use serde_json::json;
use writ_hooks::{Engine, Job, Pool, Trigger, WorkerCommand};

fn job() -> Job {
    Job {
        key: "act_bench:1".into(),
        code: r#"exports.onExecutePostLogin = async (event, api) => {
            api.accessToken.setCustomClaim("https://b.example/email", event.user.email);
            api.idToken.setCustomClaim("https://b.example/plan", event.user.app_metadata.plan);
        };"#
        .into(),
        trigger: Trigger::PostLogin,
        event: json!({"user": {"user_id": "auth0|1", "email": "a@b.c", "app_metadata": {"plan": "pro"}, "user_metadata": {}},
                      "client": {"client_id": "c", "name": "n"}, "authorization": {"roles": ["r"]},
                      "request": {"ip": "127.0.0.1", "hostname": "h", "user_agent": "ua"}}),
        secrets: Default::default(),
        timeout: Duration::from_millis(100),
    }
}

fn quantiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    (p(0.50), p(0.99))
}

fn main() {
    let runs = 5000;
    let job = job();
    let pool = Pool::new(
        1,
        WorkerCommand {
            program: env!("CARGO_BIN_EXE_writ-hook-worker").into(),
            args: vec![],
        },
    );
    let mut engine = Engine::new().expect("engine");
    let (mut direct, mut process) = (Vec::new(), Vec::new());
    // Alternate the two so that machine noise falls on both alike.
    for i in 0..runs + 100 {
        let t = Instant::now();
        let out = engine.run(&job).expect("hook ran");
        let d1 = t.elapsed();
        assert_eq!(out.access.len(), 1);
        let (tx, rx) = channel();
        let t = Instant::now();
        pool.submit(job.clone(), move |r| tx.send(r).unwrap());
        let out = rx.recv().unwrap().expect("hook ran");
        let d2 = t.elapsed();
        assert_eq!(out.id.len(), 1);
        if i >= 100 {
            direct.push(d1);
            process.push(d2);
        }
    }
    let (d50, d99) = quantiles(direct);
    let (p50, p99) = quantiles(process);
    println!("{runs} runs of a two-claim post-login hook");
    println!("  engine in process:     p50 {d50:?}, p99 {d99:?}");
    println!("  worker process (pool): p50 {p50:?}, p99 {p99:?}");
    println!(
        "  process / in-process p50 ratio: {:.2}",
        p50.as_secs_f64() / d50.as_secs_f64()
    );
}
