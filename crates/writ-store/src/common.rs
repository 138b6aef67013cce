//! Pure helpers shared by the SQLite and PostgreSQL implementations: id generation, timestamps,
//! JSON column encoding/decoding and unique-violation mapping. Nothing here touches a
//! connection, so both backends produce byte-identical ids, timestamps and JSON text.

use rand::Rng;
use serde_json::{Map, Value};

use crate::{Result, StoreError};

/// The current time as RFC 3339 UTC text with milliseconds (sorts lexicographically).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `prefix_` followed by 16 random alphanumerics, like Auth0's ids.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..16)
        .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
        .collect();
    format!("{prefix}_{tail}")
}

/// Maps a unique-constraint violation to `Conflict(msg)`, anything else to `Db`.
pub(crate) fn unique(msg: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(msg.into()),
        _ => StoreError::Db(e),
    }
}

/// Decodes a JSON array-of-strings column.
pub(crate) fn json_vec(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Decodes a JSON object column (`app_metadata`, `user_metadata`).
pub(crate) fn json_obj(s: &str) -> Result<Map<String, Value>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Encodes a value for a JSON text column.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Escapes `%`, `_` and `\` and wraps in `%…%`: a substring pattern for `LIKE … ESCAPE '\'`.
pub(crate) fn like_pattern(f: &str) -> String {
    format!(
        "%{}%",
        f.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// Which users an authz bump applies to.
pub(crate) enum Affected<'a> {
    User(&'a str),
    RoleHolders(&'a str),
    /// Users holding a permission of this API, directly or through a role.
    ApiHolders(&'a str),
}

/// Auth0's limit on roles per user.
pub(crate) const MAX_ROLES_PER_USER: i64 = 50;
/// Auth0's limit on permissions per role and direct permissions per user.
pub(crate) const MAX_PERMISSIONS: i64 = 1000;
