//! `/admin/logs`: the audit log (who did what, when), newest first, filtered by type, user,
//! client or a range of days, paged; one entry with its details. Read-only: the log is append-only.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use writ_service::{LogEntry, LogFilter, Page, Writ, audit};

use super::view::{self, Admin, Answer, Layout, enc};

pub fn router() -> Router<Writ> {
    Router::new()
        .route("/admin/logs", get(list))
        .route("/admin/logs/{id}", get(detail))
}

#[derive(Debug, Default, Deserialize)]
struct LogQuery {
    #[serde(rename = "type")]
    log_type: Option<String>,
    user_id: Option<String>,
    client_id: Option<String>,
    /// First day shown (`YYYY-MM-DD`, UTC), inclusive.
    from: Option<String>,
    /// Last day shown (`YYYY-MM-DD`, UTC), inclusive.
    to: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

/// A day (`YYYY-MM-DD`) as the first or last instant of it in RFC 3339; `Err` names the field.
fn day_bound(v: &Option<String>, end: bool, field: &str) -> Result<Option<String>, String> {
    let Some(d) = nonempty(v) else {
        return Ok(None);
    };
    let day = chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
        .map_err(|_| format!("The {field} date must look like 2026-01-31."))?;
    let time = if end {
        chrono::NaiveTime::from_hms_milli_opt(23, 59, 59, 999)
    } else {
        chrono::NaiveTime::from_hms_opt(0, 0, 0)
    }
    .expect("a valid time of day");
    Ok(Some(
        day.and_time(time)
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    ))
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[derive(Template)]
#[template(path = "admin/logs.html")]
struct ListPage {
    l: Layout,
    logs: Vec<LogEntry>,
    log_type: String,
    user_id: String,
    client_id: String,
    from: String,
    to: String,
    /// Why the date range was not applied, shown next to it.
    date_error: Option<String>,
    per_page: u32,
    total: i64,
    first: i64,
    last: i64,
    prev: Option<String>,
    next: Option<String>,
}

impl ListPage {
    fn when(&self, d: &str) -> String {
        d.get(..19).unwrap_or(d).replace('T', " ")
    }
    fn enc(&self, s: &str) -> String {
        enc(s)
    }
}

async fn list(State(s): State<Writ>, admin: Admin, RawQuery(q): RawQuery) -> Answer {
    admin.need(&["read:logs"])?;
    let q: LogQuery = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    let range = day_bound(&q.from, false, "from").and_then(|from| {
        let to = day_bound(&q.to, true, "to")?;
        match (&from, &to) {
            (Some(f), Some(t)) if f > t => Err("The from date is after the to date.".to_owned()),
            _ => Ok((from, to)),
        }
    });
    let (date_error, (from, to)) = match range {
        Ok(r) => (None, r),
        Err(e) => (Some(e), (None, None)),
    };
    let filter = LogFilter {
        types: nonempty(&q.log_type)
            .map(|t| {
                t.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        user_id: nonempty(&q.user_id),
        client_id: nonempty(&q.client_id),
        from,
        to,
        ..Default::default()
    };
    let page = Page {
        page: q.page.unwrap_or(0),
        per_page: q.per_page.unwrap_or(50).clamp(1, 100),
    };
    let found = admin.ok(audit::list(&s, &filter, page).await)?;
    let href = |p: u32| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("type", &q.log_type),
            ("user_id", &q.user_id),
            ("client_id", &q.client_id),
            ("from", &q.from),
            ("to", &q.to),
        ] {
            if let Some(v) = nonempty(v) {
                ser.append_pair(k, &v);
            }
        }
        ser.append_pair("page", &p.to_string());
        ser.append_pair("per_page", &page.per_page.to_string());
        format!("/admin/logs?{}", ser.finish())
    };
    let first = (page.offset() + 1).min(found.total);
    let last = (page.offset() + found.items.len() as i64).min(found.total);
    Ok(view::render(
        StatusCode::OK,
        &ListPage {
            l: admin.layout("Audit log", "logs"),
            prev: (page.page > 0).then(|| href(page.page - 1)),
            next: (last < found.total).then(|| href(page.page + 1)),
            logs: found.items,
            log_type: nonempty(&q.log_type).unwrap_or_default(),
            user_id: nonempty(&q.user_id).unwrap_or_default(),
            client_id: nonempty(&q.client_id).unwrap_or_default(),
            from: nonempty(&q.from).unwrap_or_default(),
            to: nonempty(&q.to).unwrap_or_default(),
            date_error,
            per_page: page.per_page,
            total: found.total,
            first,
            last,
        },
    ))
}

#[derive(Template)]
#[template(path = "admin/log.html")]
struct DetailPage {
    l: Layout,
    e: LogEntry,
    details: String,
}

async fn detail(State(s): State<Writ>, admin: Admin, Path(id): Path<String>) -> Answer {
    admin.need(&["read:logs"])?;
    let e = admin.found("log entry", audit::get(&s, &id).await)?;
    Ok(view::render(
        StatusCode::OK,
        &DetailPage {
            l: admin.layout("Log entry", "logs"),
            details: serde_json::to_string_pretty(&e.details).unwrap_or_default(),
            e,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parses_days_and_paging() {
        let q: LogQuery =
            serde_urlencoded::from_str("from=2026-12-01&per_page=1&page=2&type=s,fp").unwrap();
        assert_eq!(q.from.as_deref(), Some("2026-12-01"));
        assert_eq!((q.page, q.per_page), (Some(2), Some(1)));
        assert_eq!(q.log_type.as_deref(), Some("s,fp"));
        assert_eq!(
            day_bound(&q.from, true, "from").unwrap().as_deref(),
            Some("2026-12-01T23:59:59.999Z")
        );
        assert!(day_bound(&Some("31/01/2026".into()), false, "from").is_err());
        assert_eq!(day_bound(&Some(" ".into()), false, "from"), Ok(None));
    }
}
