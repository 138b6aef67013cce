//! `/api/v2/logs`: the audit log in Auth0's shape (scope `read:logs`), paged and searchable
//! with a small subset of Auth0's Lucene syntax (see [`parse_q`]). Entries are written by
//! `crate::audit`.

use serde::Deserialize;
use serde_json::Value;
use writ_store::LogFilter;

use super::prelude::*;
use super::types::{LogEvent, LogList, LogSearch};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list))
        .routes(routes!(read))
}

/// Auth0's checkpoint paging, refused by `GET /api/v2/logs` (besides [`Paging`] and
/// [`LogSearch`], where `search` is `q` under the name Auth0's generated SDKs, auth0-python 5+,
/// send it).
#[derive(Debug, Default, Deserialize)]
struct Checkpoint {
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
    path = "/logs",
    operation_id = "get_logs",
    tag = "logs",
    summary = "Search log events",
    description = "The audit log, newest first: Management API writes (`sapi`/`fapi`), logins (`s`, `fp`, `fu`, `f`, `limit_wc`), sign-ups (`ss`), logouts (`slo`), code exchanges (`seacft`/`feacft`) and refresh-token reuse (`ferrt`). Entries are kept for `WRIT_AUDIT_RETENTION_DAYS` days (30 by default).\n\n\
        `q` accepts a subset of Auth0's Lucene syntax: terms `type:s`, `type:(s OR fp)`, `user_id:\"auth0|…\"`, `client_id:abc`, `date:[2026-01-01 TO 2026-01-31]` (inclusive; either end may be `*`; dates or RFC 3339 date-times) or `date:2026-01-01`, joined by `AND`. Anything else is refused with a 400 naming the problem.",
    params(Paging, LogSearch),
    responses(
        (status = 200, description = "The matching entries.", body = LogList),
        (status = 400, description = "Invalid query string: `per_page` above 100, an unknown `sort`, or `q` outside the supported syntax.", body = types::Error),
        schemas::Denied,
    ),
    security(("bearer" = ["read:logs"]))
)]
async fn list(
    c: Caller,
    paging: Paging,
    Params(checkpoint): Params<Checkpoint>,
    Params(q): Params<LogSearch>,
) -> Result<Response, ApiError> {
    if checkpoint.from.is_some() || checkpoint.take.is_some() {
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
    let page = c.store.list_logs(&filter, paging.page()?).await?;
    let list: LogList = paging.respond(page.items.iter().map(Into::into).collect(), page.total)?;
    let include = q.include_fields.unwrap_or(true);
    let mut list = serde_json::to_value(list).map_err(ApiError::internal)?;
    let items = match &mut list {
        Value::Array(items) => Some(items),
        Value::Object(page) => page.get_mut("logs").and_then(Value::as_array_mut),
        _ => None,
    };
    for item in items.into_iter().flatten() {
        *item = select_fields(item.take(), q.fields.as_deref(), include);
    }
    Ok(ok(list))
}

#[utoipa::path(
    get,
    path = "/logs/{id}",
    operation_id = "get_logs_by_id",
    tag = "logs",
    summary = "Get a log event",
    params(LogId),
    responses(
        (status = 200, description = "The entry.", body = LogEvent),
        schemas::Denied<LogId>,
    ),
    security(("bearer" = ["read:logs"]))
)]
async fn read(c: Caller, Path(LogId(id)): Path<LogId>) -> Result<Response, ApiError> {
    match c.store.get_log(&id).await {
        Ok(e) => Ok(ok(LogEvent::from(&e))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
