//! `writ users import FILE [--upsert]`: uploads an Auth0 bulk-import file (a JSON array of
//! users) to `POST /api/v2/jobs/users-imports`, in chunks of at most 1,000 users and
//! [`MAX_CHUNK_BYTES`], waits for each job, reads its errors, and prints what happened to
//! every user: created, updated, skipped (counted by reason) or failed (with its position in
//! the file and why). A progress bar shows on a terminal. Exits 1 when any user failed.
//!
//! A user repeating an email seen earlier in the file is skipped here (as the server does
//! within one chunk), so a file split across jobs behaves like one job, and importing it
//! again changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};

use super::api::{Api, Body};
use super::{CliError, output};

/// Users per job.
pub const MAX_CHUNK_USERS: usize = 1000;
/// Bytes of users per job (the server accepts request bodies of 256 KiB).
pub const MAX_CHUNK_BYTES: usize = 200 * 1024;

/// `writ users import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The file: a JSON array of users in Auth0's bulk-import format.
    file: PathBuf,
    /// Update users whose email exists (only where the file differs), instead of skipping them.
    #[arg(long)]
    upsert: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// What happened to one user that was not created or updated.
struct Problem {
    index: usize,
    email: String,
    code: String,
    message: String,
    skipped: bool,
}

#[derive(Default)]
struct Tally {
    created: usize,
    updated: usize,
    problems: Vec<Problem>,
    jobs: Vec<String>,
}

fn email_of(v: &Value) -> String {
    v["email"].as_str().unwrap_or_default().to_owned()
}

/// Splits the file into chunks of file indices, skipping repeated emails.
fn chunks(users: &[Value], tally: &mut Tally) -> Vec<Vec<usize>> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Vec<usize>> = vec![];
    let (mut current, mut bytes) = (vec![], 0usize);
    for (i, u) in users.iter().enumerate() {
        if let Some(e) = u["email"].as_str() {
            let key = e.trim().to_lowercase();
            if let Some(first) = seen.get(&key) {
                tally.problems.push(Problem {
                    index: i,
                    email: e.to_owned(),
                    code: "DUPLICATED_IN_FILE".into(),
                    message: format!("The email appears earlier in the file (user {first})"),
                    skipped: true,
                });
                continue;
            }
            seen.insert(key, i);
        }
        let size = serde_json::to_vec(u).map_or(0, |v| v.len()) + 1;
        if size > MAX_CHUNK_BYTES {
            tally.problems.push(Problem {
                index: i,
                email: email_of(u),
                code: "TOO_LARGE".into(),
                message: format!("The user takes more than {} KiB", MAX_CHUNK_BYTES / 1024),
                skipped: false,
            });
            continue;
        }
        if !current.is_empty()
            && (current.len() >= MAX_CHUNK_USERS || bytes + size > MAX_CHUNK_BYTES)
        {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += size;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Waits until a job is finished (Writ's are at once; Auth0's take a while).
async fn finished(api: &mut Api, mut job: Value) -> Result<Value, CliError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        match job["status"].as_str() {
            Some("completed") => return Ok(job),
            Some("failed") => {
                return Err(CliError::Failed(format!(
                    "the import job {} failed: {}",
                    job["id"].as_str().unwrap_or("?"),
                    job["status_details"].as_str().unwrap_or("no details")
                )));
            }
            _ if std::time::Instant::now() > deadline => {
                return Err(CliError::Failed(format!(
                    "the import job {} did not finish in 10 minutes",
                    job["id"].as_str().unwrap_or("?")
                )));
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let id = job["id"].as_str().unwrap_or_default().to_owned();
        job = api.get(&["jobs", &id], &[]).await?;
    }
}

/// Imports one chunk; adds its outcome to the tally.
async fn import_chunk(
    api: &mut Api,
    users: &[Value],
    indices: &[usize],
    upsert: bool,
    tally: &mut Tally,
) -> Result<(), CliError> {
    let chunk: Vec<&Value> = indices.iter().map(|&i| &users[i]).collect();
    let body = Body::Import {
        users: serde_json::to_vec(&chunk).expect("JSON values serialize"),
        fields: vec![
            ("connection_id", writ_core::DEFAULT_CONNECTION.to_owned()),
            ("upsert", upsert.to_string()),
        ],
    };
    let job = api
        .call(Method::POST, &["jobs", "users-imports"], &[], body)
        .await?;
    let job = finished(api, job).await?;
    let id = job["id"].as_str().unwrap_or_default().to_owned();
    let s = &job["summary"];
    let count = |k: &str| s[k].as_u64().unwrap_or(0) as usize;
    tally.created += count("inserted");
    tally.updated += count("updated");
    tally.jobs.push(id.clone());
    if count("skipped") + count("failed") > 0 || s.get("skipped").is_none() {
        let errors = api.get(&["jobs", &id, "errors"], &[]).await?;
        for e in errors.as_array().into_iter().flatten() {
            let first = &e["errors"][0];
            let code = first["code"].as_str().unwrap_or("ERROR").to_owned();
            let index = e["index"]
                .as_u64()
                .and_then(|j| indices.get(j as usize).copied())
                .unwrap_or(usize::MAX);
            let skipped = match e["outcome"].as_str() {
                Some(o) => o == "skipped",
                // Auth0 counts existing users among the errors.
                None => code == "DUPLICATED_USER",
            };
            let mut message = first["message"].as_str().unwrap_or_default().to_owned();
            if let Some(p) = first["path"]
                .as_str()
                .filter(|p| !p.is_empty() && *p != "#/")
            {
                message = format!("{message} ({p})");
            }
            tally.problems.push(Problem {
                index,
                email: email_of(&e["user"]),
                code,
                message,
                skipped,
            });
        }
    }
    Ok(())
}

/// Words for a skip code.
fn reason(code: &str) -> &str {
    match code {
        "DUPLICATED_USER" => "already exist (use --upsert to update them)",
        "UNCHANGED" => "already up to date",
        "DUPLICATED_IN_FILE" => "repeat an email seen earlier in the file",
        other => other,
    }
}

pub async fn run(args: ImportArgs) -> Result<(), CliError> {
    let path = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| CliError::Usage(format!("cannot read {path}: {e}")))?;
    let users: Vec<Value> = match serde_json::from_str(&text) {
        Ok(Value::Array(a)) => a,
        Ok(_) => {
            return Err(CliError::Usage(format!(
                "{path} must hold a JSON array of users (Auth0's bulk-import format)"
            )));
        }
        Err(e) => return Err(CliError::Usage(format!("{path} is not valid JSON: {e}"))),
    };
    let mut api = Api::connect().await?;
    let mut tally = Tally::default();
    let plan = chunks(&users, &mut tally);

    let bar = if std::io::stderr().is_terminal() && !args.json {
        let b = ProgressBar::new(users.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{spinner} importing {bar:30} {pos}/{len} users ({eta})")
                .expect("a valid template"),
        );
        b.inc(tally.problems.len() as u64);
        b
    } else {
        ProgressBar::hidden()
    };
    for indices in &plan {
        if let Err(e) = import_chunk(&mut api, &users, indices, args.upsert, &mut tally).await {
            bar.abandon();
            let done = tally.created + tally.updated;
            return Err(match e {
                CliError::Server { .. } | CliError::Failed(_) if done > 0 => {
                    CliError::Failed(format!(
                        "{e} (after {done} users were imported; importing the file again skips them)"
                    ))
                }
                e => e,
            });
        }
        bar.inc(indices.len() as u64);
    }
    bar.finish_and_clear();

    tally.problems.sort_by_key(|p| p.index);
    let skipped: Vec<&Problem> = tally.problems.iter().filter(|p| p.skipped).collect();
    let failed: Vec<&Problem> = tally.problems.iter().filter(|p| !p.skipped).collect();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &skipped {
        *reasons.entry(p.code.as_str()).or_default() += 1;
    }
    let index = |p: &Problem| (p.index != usize::MAX).then_some(p.index);
    if args.json {
        output::json(&json!({
            "file": path,
            "total": users.len(),
            "created": tally.created,
            "updated": tally.updated,
            "skipped": skipped.len(),
            "failed": failed.len(),
            "skipped_reasons": reasons,
            "skipped_users": skipped.iter().map(|p| json!({
                "index": index(p), "email": p.email, "code": p.code, "message": p.message,
            })).collect::<Vec<_>>(),
            "failures": failed.iter().map(|p| json!({
                "index": index(p), "email": p.email, "code": p.code, "message": p.message,
            })).collect::<Vec<_>>(),
            "jobs": tally.jobs,
        }));
    } else {
        println!(
            "Imported {path}: {} users, {} created, {} updated, {} skipped, {} failed.",
            users.len(),
            tally.created,
            tally.updated,
            skipped.len(),
            failed.len()
        );
        if !reasons.is_empty() {
            println!("Skipped:");
            for (code, n) in &reasons {
                println!("  {n:>5}  {} ({code})", reason(code));
            }
        }
        if !failed.is_empty() {
            println!("Failed:");
            for p in &failed {
                let at = index(p).map_or("?".into(), |i| i.to_string());
                let who = if p.email.is_empty() {
                    String::new()
                } else {
                    format!(" {}", p.email)
                };
                println!("  user {at}{who}: {} [{}]", p.message, p.code);
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} of {} users could not be imported",
            failed.len(),
            users.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_both_limits_and_skip_repeated_emails() {
        let users: Vec<Value> = (0..2500)
            .map(|i| json!({ "email": format!("u{i}@example.com") }))
            .collect();
        let mut tally = Tally::default();
        let plan = chunks(&users, &mut tally);
        assert_eq!(
            plan.iter().map(Vec::len).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        assert!(tally.problems.is_empty());

        // Big users: split by bytes; a user over the limit fails alone.
        let pad = "x".repeat(60 * 1024);
        let mut users: Vec<Value> = (0..7)
            .map(|i| json!({ "email": format!("b{i}@example.com"), "user_metadata": {"pad": pad} }))
            .collect();
        users.push(json!({ "email": "huge@example.com", "user_metadata": {"pad": "y".repeat(MAX_CHUNK_BYTES)} }));
        users.push(json!({ "email": "B0@Example.com" }));
        users.push(json!({ "name": "no email: the server reports it" }));
        let mut tally = Tally::default();
        let plan = chunks(&users, &mut tally);
        assert_eq!(plan, [vec![0, 1, 2], vec![3, 4, 5], vec![6, 9]]);
        let problems: Vec<(usize, &str, bool)> = tally
            .problems
            .iter()
            .map(|p| (p.index, p.code.as_str(), p.skipped))
            .collect();
        assert_eq!(
            problems,
            [(7, "TOO_LARGE", false), (8, "DUPLICATED_IN_FILE", true)]
        );
    }
}
