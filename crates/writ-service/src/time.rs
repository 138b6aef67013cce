//! The clock, read in one place: every expiry, `iat` and lifetime in Writ is in Unix seconds
//! from [`now`]. It lives here rather than in `writ-core`, whose functions are deterministic.

/// The current time in seconds since the Unix epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
