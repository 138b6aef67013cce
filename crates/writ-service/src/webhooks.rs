//! Signed webhooks: an action may be a URL instead of JavaScript, for logic that needs the
//! network or another language (ZITADEL and Hydra call these token hooks). At its trigger Writ
//! POSTs `{"trigger": …, "event": …}` (the event the JavaScript gets, without `secrets`),
//! signed per the Standard Webhooks scheme with the action's `SIGNING_SECRET`, and reads the
//! answer `{"access_token": {claims}, "id_token": {claims}, "deny": {"reason", "code"}}` (all
//! optional). The call has the hook time budget, follows no redirects and is never retried;
//! any failure (not 2xx, too slow, too large, not JSON) fails the token request exactly as a
//! failing JavaScript action does.

use std::sync::OnceLock;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::Writ;
use crate::error::ServiceError;

/// The `runtime` of a webhook action in the Management API.
pub const RUNTIME: &str = "webhook";
/// The action secret whose value keys the signature.
pub const SIGNING_SECRET: &str = "SIGNING_SECRET";
/// The shortest signing secret accepted, in characters.
pub const MIN_SECRET_CHARS: usize = 32;
/// The largest answer read, in bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The longest webhook URL accepted, in characters.
pub const MAX_URL_CHARS: usize = 2048;

/// The one HTTP client of every outbound call to a URL an administrator or a receiver gave
/// (webhooks, shared-signals push; its connections are reused): no redirects, no proxy from
/// the environment. Callers set their own timeout per request.
pub(crate) fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .user_agent(concat!("writ/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("the webhook HTTP client could not start: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Whether `host` is this machine (plain http is allowed to it).
fn loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks a webhook URL: absolute `https://`, or `http://` to 127.0.0.1 / ::1 / localhost, or
/// to any host when `WRIT_HOOK_ALLOW_HTTP=true`; no user info (it would show in the action),
/// no fragment.
pub fn check_url(w: &Writ, raw: &str) -> Result<(), ServiceError> {
    let bad = |m: String| ServiceError::invalid("url", m);
    if raw.len() > MAX_URL_CHARS {
        return Err(bad(format!(
            "url must be at most {MAX_URL_CHARS} characters"
        )));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(format!("url is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if loopback(&url) || w.config.hook_allow_http => {}
        "http" => {
            return Err(bad(
                "url must be https (http only to 127.0.0.1, ::1 or localhost, unless \
                 WRIT_HOOK_ALLOW_HTTP=true)"
                    .into(),
            ));
        }
        s => return Err(bad(format!("url must be https, not {s}"))),
    }
    if url.host().is_none() {
        return Err(bad("url has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "url must not carry a user name or password (use the signature)".into(),
        ));
    }
    if url.fragment().is_some() {
        return Err(bad("url must not have a fragment".into()));
    }
    Ok(())
}

/// Checks that `secrets` (opened) hold a `SIGNING_SECRET` long enough to sign with.
pub fn check_secret(secrets: &Map<String, Value>) -> Result<(), ServiceError> {
    match signing_key(secrets) {
        Ok(_) => Ok(()),
        Err(why) => Err(ServiceError::invalid("secrets", why)),
    }
}

/// The HMAC key of `SIGNING_SECRET`: its UTF-8 bytes, or, for a Standard Webhooks secret
/// `whsec_<base64>`, the decoded bytes (as that scheme's libraries read it).
fn signing_key(secrets: &Map<String, Value>) -> Result<Vec<u8>, String> {
    let Some(s) = secrets.get(SIGNING_SECRET).and_then(Value::as_str) else {
        return Err(format!(
            "a webhook action needs the secret {SIGNING_SECRET} (at least {MIN_SECRET_CHARS} \
             characters)"
        ));
    };
    if s.chars().count() < MIN_SECRET_CHARS {
        return Err(format!(
            "{SIGNING_SECRET} must be at least {MIN_SECRET_CHARS} characters"
        ));
    }
    if let Some(b64) = s.strip_prefix("whsec_")
        && let Ok(key) = STANDARD.decode(b64)
    {
        return if key.len() >= 24 {
            Ok(key)
        } else {
            Err(format!(
                "{SIGNING_SECRET} in the whsec_ form must decode to at least 24 bytes"
            ))
        };
    }
    Ok(s.as_bytes().to_vec())
}

/// `webhook-signature` for a message: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under `key`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
}

/// What a webhook answered.
#[derive(Debug, Default, PartialEq)]
pub struct Answer {
    pub access: Map<String, Value>,
    pub id: Map<String, Value>,
    /// `(reason, code)` when the hook refuses the request.
    pub deny: Option<(String, Option<String>)>,
}

impl From<Answer> for writ_hooks::Outcome {
    /// A webhook's answer as a JavaScript run's outcome, so both are applied by one rule.
    fn from(a: Answer) -> Self {
        writ_hooks::Outcome {
            access: a.access,
            id: a.id,
            deny: a
                .deny
                .map(|(reason, code)| writ_hooks::Deny { code, reason }),
            multifactor: None,
        }
    }
}

/// Reads an answer body: a JSON object whose `access_token` / `id_token` are objects and whose
/// `deny` is `{reason, code?}`, each optional (null counts as absent).
pub fn parse_answer(body: &[u8]) -> Result<Answer, String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the webhook's answer is not JSON: {e}"))?;
    let Value::Object(mut o) = v else {
        return Err("the webhook's answer is not a JSON object".into());
    };
    let mut claims = |k: &str| match o.remove(k) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(format!(
            "the webhook's answer has a {k} that is not an object"
        )),
    };
    let access = claims("access_token")?;
    let id = claims("id_token")?;
    let deny = match o.remove("deny") {
        None | Some(Value::Null) => None,
        Some(Value::Object(d)) => {
            let reason = match d.get("reason") {
                Some(Value::String(r)) => r.clone(),
                None | Some(Value::Null) => "Access denied by a hook".into(),
                Some(_) => return Err("the webhook's deny.reason is not a string".into()),
            };
            let code = match d.get("code") {
                Some(Value::String(c)) => Some(c.clone()),
                None | Some(Value::Null) => None,
                Some(_) => return Err("the webhook's deny.code is not a string".into()),
            };
            Some((reason, code))
        }
        Some(_) => return Err("the webhook's deny is not an object".into()),
    };
    Ok(Answer { access, id, deny })
}

/// POSTs `event` to `url` within `budget`, signed with the action's `SIGNING_SECRET` (from
/// its opened `secrets`), and reads its answer; the error says why it failed (never a secret).
pub async fn call(
    secrets: &Map<String, Value>,
    url: &str,
    trigger: &str,
    event: &Value,
    budget: Duration,
) -> Result<Answer, String> {
    let key = signing_key(secrets)?;
    let body = serde_json::to_vec(&json!({ "trigger": trigger, "event": event }))
        .map_err(|e| format!("the event could not be serialized: {e}"))?;
    let id = format!("msg_{}", crate::crypto::random_alnum(24));
    let timestamp = chrono::Utc::now().timestamp();
    let sig = signature(&key, &id, timestamp, &body);
    let request = client()?
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", sig)
        .body(body);
    let exchange = async {
        let mut r = request
            .send()
            .await
            .map_err(|e| format!("the webhook could not be reached: {}", e.without_url()))?;
        let status = r.status();
        if !status.is_success() {
            return Err(format!("the webhook answered HTTP {}", status.as_u16()));
        }
        if r.content_length()
            .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut got = Vec::new();
        while let Some(chunk) = r
            .chunk()
            .await
            .map_err(|e| format!("the webhook's answer broke off: {}", e.without_url()))?
        {
            if got.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(too_large());
            }
            got.extend_from_slice(&chunk);
        }
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(Answer::default());
        }
        parse_answer(&got)
    };
    match tokio::time::timeout(budget, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the webhook did not answer within {} ms",
            budget.as_millis()
        )),
    }
}

fn too_large() -> String {
    format!("the webhook's answer is larger than {MAX_ANSWER_BYTES} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let mut s = Map::new();
        s.insert(
            SIGNING_SECRET.into(),
            json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        );
        let key = signing_key(&s).unwrap();
        assert_eq!(
            signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn short_or_missing_secrets_are_refused() {
        assert!(check_secret(&Map::new()).is_err());
        let mut s = Map::new();
        s.insert(SIGNING_SECRET.into(), json!("too-short"));
        assert!(check_secret(&s).is_err());
        s.insert(SIGNING_SECRET.into(), json!("x".repeat(MIN_SECRET_CHARS)));
        assert!(check_secret(&s).is_ok());
        assert_eq!(signing_key(&s).unwrap(), "x".repeat(32).into_bytes());
    }

    #[test]
    fn answers_are_read_strictly() {
        let a = parse_answer(br#"{"access_token": {"a": 1}, "id_token": null}"#).unwrap();
        assert_eq!(a.access["a"], 1);
        assert!(a.id.is_empty() && a.deny.is_none());
        let d = parse_answer(br#"{"deny": {"reason": "no", "code": "invalid_scope"}}"#).unwrap();
        assert_eq!(d.deny, Some(("no".into(), Some("invalid_scope".into()))));
        assert_eq!(parse_answer(b"{}").unwrap(), Answer::default());
        for bad in [
            &b"not json"[..],
            b"[1]",
            br#"{"access_token": [1]}"#,
            br#"{"deny": "no"}"#,
            br#"{"deny": {"reason": 1}}"#,
        ] {
            assert!(
                parse_answer(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
