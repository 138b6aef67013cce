//! Times a post-login hook that sets two claims, run through the warm pool as the server does
//! (one worker, compiled once): prints p50 and p99 over many runs.
//! `cargo run --release -p writ-hooks --example hook_latency`

use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use serde_json::json;
use writ_hooks::{Job, Pool, Trigger};

fn main() {
    let pool = Pool::new(1);
    let job = Job {
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
    };
    let runs = 5000;
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs + 100 {
        let (tx, rx) = channel();
        let t = Instant::now();
        pool.submit(job.clone(), move |r| tx.send(r).unwrap());
        let out = rx.recv().unwrap().expect("hook ran");
        let d = t.elapsed();
        assert_eq!(out.access.len(), 1);
        if i >= 100 {
            times.push(d);
        }
    }
    times.sort();
    let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{runs} runs: p50 {:?}, p99 {:?}, max {:?}",
        p(0.50),
        p(0.99),
        times[times.len() - 1]
    );
}
