//! `/api/v2/logs`: the audit log in Auth0's shape (scope `read:logs`), paged and searchable
//! with a small subset of Auth0's Lucene syntax (see [`parse_q`]). Entries are written by
//! `crate::audit`.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use writ_store::{LogEntry, LogFilter};

use super::{Caller, Paging, ok, query, schemas};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/logs", get(list))
        .route("/logs/{id}", get(read))
}

/// An entry as Auth0 returns a log event; absent fields are left out.
pub fn log_json(e: &LogEntry) -> Value {
    let mut m = Map::new();
    m.insert("log_id".into(), json!(e.log_id));
    m.insert("date".into(), json!(e.date));
    m.insert("type".into(), json!(e.log_type));
    m.insert("description".into(), json!(e.description));
    for (k, v) in [
        ("ip", &e.ip),
        ("user_agent", &e.user_agent),
        ("client_id", &e.client_id),
        ("client_name", &e.client_name),
        ("user_id", &e.user_id),
        ("user_name", &e.user_name),
        ("connection", &e.connection),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    m.insert("details".into(), e.details.clone());
    Value::Object(m)
}

/// `GET /api/v2/logs` parameters.
#[derive(Debug, Default, Deserialize)]
struct LogsQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    include_totals: Option<bool>,
    sort: Option<String>,
    q: Option<String>,
    /// `q` under the name Auth0's generated SDKs (auth0-python 5+) send it.
    search: Option<String>,
    fields: Option<String>,
    include_fields: Option<bool>,
    from: Option<String>,
    take: Option<u32>,
}

/// Keeps (or, with `include_fields=false`, drops) the comma-separated `fields` of an entry.
fn select_fields(v: Value, fields: Option<&str>, include: bool) -> Value {
    let Some(fields) = fields.filter(|f| !f.is_empty()) else {
        return v;
    };
    let names: Vec<&str> = fields.split(',').map(str::trim).collect();
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| names.contains(&k.as_str()) == include)
                .collect(),
        ),
        other => other,
    }
}

#[utoipa::path(
    get,
    path = "/api/v2/logs",
    operation_id = "get_logs",
    tag = "logs",
    summary = "Search log events",
    description = "The audit log, newest first: Management API writes (`sapi`/`fapi`), logins (`s`, `fp`, `fu`, `f`, `limit_wc`), sign-ups (`ss`), logouts (`slo`), code exchanges (`seacft`/`feacft`) and refresh-token reuse (`ferrt`). Entries are kept for `WRIT_AUDIT_RETENTION_DAYS` days (30 by default).\n\n\
        `q` accepts a subset of Auth0's Lucene syntax: terms `type:s`, `type:(s OR fp)`, `user_id:\"auth0|…\"`, `client_id:abc`, `date:[2026-01-01 TO 2026-01-31]` (inclusive; either end may be `*`; dates or RFC 3339 date-times) or `date:2026-01-01`, joined by `AND`. Anything else is refused with a 400 naming the problem.",
    params(
        schemas::PagingParams,
        LogSearch,
    ),
    responses(
        (status = 200, description = "The matching entries.", body = LogList),
        (status = 400, description = "Invalid query string: `per_page` above 100, an unknown `sort`, or `q` outside the supported syntax.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["read:logs"]))
)]
async fn list(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:logs").await?;
    let q: LogsQuery = query(q)?;
    if q.from.is_some() || q.take.is_some() {
        return Err(ApiError::invalid_query(
            "Query validation error: checkpoint pagination (from, take) is not supported; use page and per_page.",
        ));
    }
    let text = match (&q.q, &q.search) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::invalid_query(
                "Query validation error: q and search are the same parameter; give one.",
            ));
        }
        (Some(a), _) | (None, Some(a)) => Some(a.as_str()),
        (None, None) => None,
    };
    let mut filter = match text.map(str::trim).filter(|v| !v.is_empty()) {
        Some(text) => parse_q(text).map_err(|m| {
            ApiError::invalid_query(format!("Query validation error: invalid q: {m}"))
        })?,
        None => LogFilter::default(),
    };
    filter.oldest_first = match q.sort.as_deref().map(str::trim) {
        None | Some("") | Some("date:-1") => false,
        Some("date:1") => true,
        Some(other) => {
            return Err(ApiError::invalid_query(format!(
                "Query validation error: invalid sort '{other}': use date:-1 (newest first) or date:1."
            )));
        }
    };
    let paging = Paging {
        page: q.page,
        per_page: q.per_page,
        include_totals: q.include_totals,
    };
    let page = s.store.list_logs(&filter, paging.page()?).await?;
    let include = q.include_fields.unwrap_or(true);
    paging.respond(
        "logs",
        page.items
            .iter()
            .map(|e| select_fields(log_json(e), q.fields.as_deref(), include))
            .collect(),
        page.total,
    )
}

#[utoipa::path(
    get,
    path = "/api/v2/logs/{id}",
    operation_id = "get_logs_by_id",
    tag = "logs",
    summary = "Get a log event",
    params(
        ("id" = String, Path, description = "The entry's `log_id`."),
    ),
    responses(
        (status = 200, description = "The entry.", body = LogEvent),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such entry (or it was pruned).", body = schemas::Error),
    ),
    security(("bearer" = ["read:logs"]))
)]
async fn read(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("read:logs").await?;
    match s.store.get_log(&id).await {
        Ok(e) => Ok(ok(log_json(&e))),
        Err(writ_store::StoreError::NotFound(_)) => Err(ApiError::not_found("log")),
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// `q`: a small Lucene subset

/// Fields `q` may name.
const FIELDS: &[&str] = &["type", "user_id", "client_id", "date"];

/// Parses `q`: `field:value` terms joined by `AND`, where the field is `type`, `user_id`,
/// `client_id` or `date`; a value is a bare word or a `"quoted string"`; `type` also takes
/// `(a OR b …)`; `date` takes a day or RFC 3339 date-time, or `[from TO to]` (inclusive, `*`
/// for an open end). Returns the problem, in words, for anything else.
pub fn parse_q(q: &str) -> Result<LogFilter, String> {
    let mut p = Parser {
        s: q.as_bytes(),
        text: q,
        i: 0,
    };
    let mut f = LogFilter::default();
    let mut seen: Vec<&str> = vec![];
    loop {
        p.skip_ws();
        let field = p.word();
        if field.is_empty() {
            return Err(match p.peek() {
                None => "a term is missing after AND".into(),
                Some(c) => format!("unexpected '{}' at position {}", c as char, p.i + 1),
            });
        }
        if matches!(field, "AND" | "OR" | "NOT") {
            return Err(format!(
                "'{field}' cannot start a term: terms can only be joined by AND"
            ));
        }
        if p.peek() != Some(b':') {
            return Err(format!(
                "'{field}' is not a field:value term (free text search is not supported)"
            ));
        }
        p.i += 1;
        let Some(&name) = FIELDS.iter().find(|f| **f == field) else {
            return Err(format!(
                "field '{field}' cannot be searched: use type, user_id, client_id or date"
            ));
        };
        if seen.contains(&name) {
            return Err(format!("field '{name}' appears twice"));
        }
        seen.push(name);
        match name {
            "type" => {
                f.types = if p.peek() == Some(b'(') {
                    p.group()?
                } else {
                    vec![p.value()?]
                }
            }
            "user_id" => f.user_id = Some(p.single(name)?),
            "client_id" => f.client_id = Some(p.single(name)?),
            _ => {
                let (from, to) = if matches!(p.peek(), Some(b'[' | b'{')) {
                    p.range()?
                } else {
                    let d = p.single(name)?;
                    (Some(day_start(&d)?), Some(day_end(&d)?))
                };
                f.from = from;
                f.to = to;
            }
        }
        p.skip_ws();
        if p.peek().is_none() {
            return Ok(f);
        }
        let at = p.i;
        match p.word() {
            "AND" => {}
            "OR" | "NOT" => {
                return Err(
                    "terms can only be joined by AND (use type:(a OR b) for several types)".into(),
                );
            }
            _ => {
                return Err(format!(
                    "expected AND at position {} (terms must be joined by AND)",
                    at + 1
                ));
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

/// Characters that end a bare word.
fn ends_word(c: u8) -> bool {
    c.is_ascii_whitespace() || b":()[]{}\"".contains(&c)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// A bare word (may be empty).
    fn word(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(|c| !ends_word(c)) {
            self.i += 1;
        }
        &self.text[start..self.i]
    }

    /// A bare word or a quoted string; wildcards and fuzzy/boost operators are refused.
    fn value(&mut self) -> Result<String, String> {
        if self.peek() == Some(b'"') {
            self.i += 1;
            let mut out = String::new();
            let mut chars = self.text[self.i..].char_indices();
            loop {
                match chars.next() {
                    None => return Err("a quoted value is not closed".into()),
                    Some((n, '"')) => {
                        self.i += n + 1;
                        return Ok(out);
                    }
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => out.push(c),
                        None => return Err("a quoted value is not closed".into()),
                    },
                    Some((_, c)) => out.push(c),
                }
            }
        }
        let w = self.word();
        if w.is_empty() {
            return Err(match self.peek() {
                None => "a value is missing at the end".into(),
                Some(c) => format!("unexpected '{}' at position {}", c as char, self.i + 1),
            });
        }
        if w.contains(['*', '?', '~', '^']) {
            return Err(format!(
                "'{w}': wildcards, fuzzy and boost operators are not supported"
            ));
        }
        Ok(w.to_owned())
    }

    /// One value, not a group or range.
    fn single(&mut self, field: &str) -> Result<String, String> {
        match self.peek() {
            Some(b'(') => Err(format!("field '{field}' takes one value, not a group")),
            Some(b'[' | b'{') => Err(format!("field '{field}' takes one value, not a range")),
            _ => self.value(),
        }
    }

    /// `(a OR b OR …)`.
    fn group(&mut self) -> Result<Vec<String>, String> {
        self.i += 1;
        let mut out = vec![];
        loop {
            self.skip_ws();
            out.push(self.value()?);
            self.skip_ws();
            if self.peek() == Some(b')') {
                self.i += 1;
                return Ok(out);
            }
            match self.word() {
                "OR" => {}
                "" if self.peek().is_none() => return Err("a group is not closed by ')'".into()),
                _ => return Err("values in a group must be joined by OR".into()),
            }
        }
    }

    /// `[from TO to]` with dates, date-times or `*`; `{…}` (exclusive) is refused.
    fn range(&mut self) -> Result<(Option<String>, Option<String>), String> {
        if self.peek() == Some(b'{') {
            return Err("exclusive ranges ({…}) are not supported: use [from TO to]".into());
        }
        self.i += 1;
        let Some(len) = self.text[self.i..].find([']', '}']) else {
            return Err("a date range is not closed by ']'".into());
        };
        let inner = &self.text[self.i..self.i + len];
        if self.text[self.i + len..].starts_with('}') {
            return Err("a date range must end with ']' (exclusive ends are not supported)".into());
        }
        self.i += len + 1;
        let parts: Vec<&str> = inner.split(" TO ").map(str::trim).collect();
        let [a, b] = parts[..] else {
            return Err("a date range must read [from TO to]".into());
        };
        let from = (a != "*").then(|| day_start(a)).transpose()?;
        let to = (b != "*").then(|| day_end(b)).transpose()?;
        Ok((from, to))
    }
}

/// The first instant of a day (`2026-01-01`) or the date-time itself (RFC 3339).
fn day_start(d: &str) -> Result<String, String> {
    parse_day_or_time(d, false)
}

/// The last millisecond of a day, or the date-time itself.
fn day_end(d: &str) -> Result<String, String> {
    parse_day_or_time(d, true)
}

fn parse_day_or_time(d: &str, end: bool) -> Result<String, String> {
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if let Ok(day) = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") {
        let t = if end {
            day.and_hms_milli_opt(23, 59, 59, 999)
        } else {
            day.and_hms_opt(0, 0, 0)
        };
        return Ok(fmt(t.expect("valid time").and_utc()));
    }
    chrono::DateTime::parse_from_rfc3339(d)
        .map(|t| fmt(t.with_timezone(&chrono::Utc)))
        .map_err(|_| format!("'{d}' is not a date (2026-01-31) or an RFC 3339 date-time"))
}

/// Schema-only types for the OpenAPI document (never built; `log_json` produces this JSON and
/// the tests in `openapi.rs` compare them).
#[allow(dead_code)]
mod doc {
    use serde::{Deserialize, Serialize};
    use serde_json::Value;
    use utoipa::{IntoParams, ToSchema};

    /// Log search parameters.
    #[derive(Deserialize, IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct LogSearch {
        /// A search (see the operation's description), e.g.
        /// `type:(s OR fp) AND date:[2026-01-01 TO *]`.
        pub q: Option<String>,
        /// The same as `q`, under the name Auth0's generated SDKs send.
        pub search: Option<String>,
        /// `date:-1` (newest first, the default) or `date:1`.
        pub sort: Option<String>,
        /// Comma-separated fields to include (or, with `include_fields=false`, to leave out).
        pub fields: Option<String>,
        /// Whether `fields` lists the fields to include (default `true`).
        pub include_fields: Option<bool>,
    }

    /// One audit log entry (Auth0's log event). Optional fields are left out when unknown.
    #[derive(Serialize, ToSchema)]
    pub struct LogEvent {
        /// A numeric string that sorts by time.
        pub log_id: String,
        /// RFC 3339 timestamp (UTC, milliseconds).
        pub date: String,
        /// Auth0's event type code: `s`, `f`, `fp`, `fu`, `limit_wc`, `ss`, `slo`, `seacft`,
        /// `feacft`, `ferrt`, `sapi`, `fapi`.
        #[serde(rename = "type")]
        pub log_type: String,
        pub description: String,
        /// The caller's IP address.
        pub ip: Option<String>,
        pub user_agent: Option<String>,
        /// The application (for Management API entries, the token's `client_id`).
        pub client_id: Option<String>,
        pub client_name: Option<String>,
        /// The user the event is about (for Management API entries, the acting admin).
        pub user_id: Option<String>,
        /// The user's email (for failed logins, what was typed).
        pub user_name: Option<String>,
        /// `Username-Password-Authentication` for login events.
        pub connection: Option<String>,
        /// Event-specific data; for `sapi`/`fapi`:
        /// `{request: {method, path, channel}, response: {statusCode, errorCode?}}`.
        #[schema(value_type = Object)]
        pub details: Value,
    }

    /// A page of entries with totals (`include_totals=true`).
    #[derive(Serialize, ToSchema)]
    pub struct LogPage {
        /// Offset of the first item.
        pub start: u64,
        /// The page size.
        pub limit: u32,
        /// Items in this page.
        pub length: u64,
        /// Items in all pages.
        pub total: i64,
        pub logs: Vec<LogEvent>,
    }

    /// A list of log entries.
    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    pub enum LogList {
        /// Without `include_totals`.
        Items(Vec<LogEvent>),
        /// With `include_totals=true`.
        Page(LogPage),
    }
}

use doc::{LogEvent, LogList, LogSearch};

#[cfg(test)]
mod tests {
    use super::*;

    fn types(ts: &[&str]) -> Vec<String> {
        ts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_supported_subset() {
        assert_eq!(parse_q("type:s").unwrap().types, types(&["s"]));
        let f =
            parse_q(r#"type:(s OR fp OR "fu") AND user_id:"auth0|abc" AND client_id:ops"#).unwrap();
        assert_eq!(f.types, types(&["s", "fp", "fu"]));
        assert_eq!(f.user_id.as_deref(), Some("auth0|abc"));
        assert_eq!(f.client_id.as_deref(), Some("ops"));
        let f = parse_q("date:[2026-01-01 TO 2026-12-31]").unwrap();
        assert_eq!(f.from.as_deref(), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(f.to.as_deref(), Some("2026-12-31T23:59:59.999Z"));
        let f = parse_q("date:[2026-01-01T10:00:00+01:00 TO *]").unwrap();
        assert_eq!(f.from.as_deref(), Some("2026-01-01T09:00:00.000Z"));
        assert_eq!(f.to, None);
        let f = parse_q("  date:2026-02-03   AND   type:sapi ").unwrap();
        assert_eq!(f.from.as_deref(), Some("2026-02-03T00:00:00.000Z"));
        assert_eq!(f.to.as_deref(), Some("2026-02-03T23:59:59.999Z"));
        assert_eq!(f.types, types(&["sapi"]));
        assert_eq!(
            parse_q(r#"user_id:"a \"quoted\" id""#)
                .unwrap()
                .user_id
                .as_deref(),
            Some(r#"a "quoted" id"#)
        );
    }

    #[test]
    fn refuses_everything_else_with_a_reason() {
        for (q, needle) in [
            ("hello", "free text"),
            ("ip:1.2.3.4", "cannot be searched"),
            ("type:s OR type:f", "only be joined by AND"),
            ("type:s type:f", "expected AND"),
            ("type:s AND", "missing"),
            ("type:s AND type:f", "appears twice"),
            ("type:s*", "wildcards"),
            ("user_id:(a OR b)", "one value"),
            ("type:(s AND f)", "joined by OR"),
            ("type:(s OR f", "not closed"),
            ("date:{2026-01-01 TO 2026-02-01}", "exclusive"),
            ("date:[2026-01-01 2026-02-01]", "[from TO to]"),
            ("date:[yesterday TO *]", "not a date"),
            ("date:[2026-01-01 TO *", "not closed"),
            (r#"user_id:"open"#, "not closed"),
            ("NOT type:s", "only be joined by AND"),
            ("type:", "missing"),
        ] {
            let e = parse_q(q).expect_err(q);
            assert!(e.contains(needle), "{q}: {e}");
        }
    }

    #[test]
    fn fields_are_selected() {
        let v = json!({"log_id": "1", "type": "s", "ip": "x"});
        assert_eq!(
            select_fields(v.clone(), Some("type, ip"), true),
            json!({"type": "s", "ip": "x"})
        );
        assert_eq!(
            select_fields(v.clone(), Some("ip"), false),
            json!({"log_id": "1", "type": "s"})
        );
        assert_eq!(select_fields(v.clone(), None, true), v);
    }
}
