//! The clock, read in one place: every expiry, `iat` and lifetime in Writ is in Unix seconds
//! from [`now`]; dates written out (audit entries, creation dates) come from [`now_rfc3339`]. It
//! lives here rather than in `writ-core`, whose functions are deterministic.

/// The current time.
pub fn now_utc() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// The current time in seconds since the Unix epoch.
pub fn now() -> i64 {
    now_utc().timestamp()
}

/// `t` as RFC 3339 in UTC with milliseconds (`2026-01-31T12:00:00.000Z`), the form Writ
/// stores dates in.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The current time as [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(now_utc())
}
