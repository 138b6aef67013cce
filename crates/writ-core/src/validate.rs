//! Input validation shared by the Management API, the CLI and the token endpoint. Each
//! error names the offending field so the HTTP edge can report it.

use thiserror::Error;

/// A value that failed validation, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

type R<T> = Result<T, ValidationError>;

/// Validates and case-folds an email address.
pub fn email(field: &str, raw: &str) -> R<String> {
    let e = raw.trim().to_lowercase();
    let bad = || ValidationError::new(field, "Object didn't pass validation for format email");
    if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = e.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.contains('@') || local.len() > 64 || domain.is_empty() {
        return Err(bad());
    }
    let labels_ok = domain.split('.').all(|l| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    if !labels_ok || (!domain.contains('.') && domain != "localhost") {
        return Err(bad());
    }
    Ok(e)
}

/// A scope token per RFC 6749 §3.3 (printable ASCII without space, `"` and `\`).
pub fn scope_value(field: &str, v: &str) -> R<()> {
    if v.is_empty() || v.len() > 280 {
        return Err(ValidationError::new(field, "must be 1 to 280 characters"));
    }
    if !v
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    {
        return Err(ValidationError::new(
            field,
            "must be printable ASCII without spaces, quotes or backslashes",
        ));
    }
    Ok(())
}

/// A name shown to people: non-empty after trimming, bounded, no control characters.
pub fn name(field: &str, v: &str, max: usize) -> R<String> {
    let t = v.trim();
    if t.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters without control characters"),
        ));
    }
    Ok(t.to_owned())
}

/// The longest group name.
pub const GROUP_NAME_MAX: usize = 255;
/// The longest role or group description (Auth0's limit for roles).
pub const DESCRIPTION_MAX: usize = 140;

/// A group name: a [`name`] of at most [`GROUP_NAME_MAX`] characters, without `/`, which
/// separates the names of a group's path (`/eng/backend`).
pub fn group_name(field: &str, v: &str) -> R<String> {
    let n = name(field, v, GROUP_NAME_MAX)?;
    if n.contains('/') {
        return Err(ValidationError::new(field, "must not contain '/'"));
    }
    Ok(n)
}

/// A role's or group's description: at most [`DESCRIPTION_MAX`] characters, Auth0's message.
pub fn description(field: &str, v: &str) -> R<()> {
    if v.chars().count() > DESCRIPTION_MAX {
        return Err(ValidationError::new(
            field,
            format!("String is too long (max {DESCRIPTION_MAX})"),
        ));
    }
    Ok(())
}

/// A custom claim name for access tokens: 1 to 255 printable characters, and neither a
/// registered JWT or OIDC claim nor one Writ sets itself ([`crate::claims::RESTRICTED`]).
pub fn claim_name(field: &str, v: &str) -> R<()> {
    if v.is_empty() || v.chars().count() > 255 || v.chars().any(|c| c.is_control()) {
        return Err(ValidationError::new(
            field,
            "must be 1 to 255 characters without control characters",
        ));
    }
    if crate::claims::is_restricted(v) {
        return Err(ValidationError::new(
            field,
            format!("'{v}' is a registered or reserved claim and cannot be used"),
        ));
    }
    Ok(())
}

/// An API identifier (the token audience): a logical identifier, usually a URL.
pub fn identifier(field: &str, v: &str) -> R<()> {
    if v.is_empty() || v.len() > 600 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::new(
            field,
            "must be 1 to 600 characters without whitespace",
        ));
    }
    Ok(())
}

/// A redirect, logout or origin URL: absolute http(s), no fragment (an origin: no path either).
pub fn url(field: &str, v: &str, origin_only: bool) -> R<()> {
    let u = url::Url::parse(v)
        .map_err(|_| ValidationError::new(field, format!("'{v}' is not an absolute URL")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(ValidationError::new(
            field,
            if origin_only {
                format!("'{v}' must be an http(s) origin")
            } else {
                format!("'{v}' must be an http(s) URL")
            },
        ));
    }
    if u.host().is_none() {
        return Err(ValidationError::new(
            field,
            format!("'{v}' must name a host"),
        ));
    }
    if u.fragment().is_some() {
        return Err(ValidationError::new(
            field,
            format!("'{v}' must not contain a fragment"),
        ));
    }
    if origin_only && (u.path() != "/" || u.query().is_some() || v.ends_with('/')) {
        return Err(ValidationError::new(
            field,
            format!("'{v}' must be an origin (scheme://host[:port]) without path"),
        ));
    }
    Ok(())
}

/// Schemes a browser runs or reads locally: never a redirect target, whatever the client.
const DANGEROUS_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "vbscript",
    "file",
    "blob",
    "about",
    "filesystem",
    "view-source",
    "chrome",
    "ws",
    "wss",
    "ftp",
];

/// A callback or logout URL of a client: http(s) as [`url`]; a `native` app may also use a
/// private-use scheme (RFC 8252 §7.1, e.g. `com.example.app:/callback`), but never a scheme a
/// browser would run or read locally (`javascript:`, `data:`, `file:`…).
pub fn redirect_url(field: &str, v: &str, native: bool) -> R<()> {
    let u = url::Url::parse(v)
        .map_err(|_| ValidationError::new(field, format!("'{v}' is not an absolute URL")))?;
    let scheme = u.scheme();
    if !native || matches!(scheme, "http" | "https") {
        return url(field, v, false);
    }
    if DANGEROUS_SCHEMES.contains(&scheme) {
        return Err(ValidationError::new(
            field,
            format!("'{v}': the {scheme}: scheme is not allowed"),
        ));
    }
    if u.fragment().is_some() {
        return Err(ValidationError::new(
            field,
            format!("'{v}' must not contain a fragment"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email("email", " Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for bad in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@b..c", "a@-b.c"] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
        assert!(email("email", "x@localhost").is_ok());
    }

    #[test]
    fn scopes() {
        assert!(scope_value("s", "read:todos").is_ok());
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(scope_value("s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_urls_refuse_scripts_and_custom_schemes_outside_native_apps() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:x",
            "file:///etc/passwd",
            "com.example.app:/callback",
        ] {
            assert!(redirect_url("u", bad, false).is_err(), "{bad}");
        }
        for bad in ["javascript:alert(1)", "data:,x", "file:///x", "blob:x"] {
            assert!(redirect_url("u", bad, true).is_err(), "native {bad}");
        }
        assert!(redirect_url("u", "com.example.app:/callback", true).is_ok());
        assert!(redirect_url("u", "myapp://callback", true).is_ok());
        assert!(redirect_url("u", "http://127.0.0.1:5173/cb", true).is_ok());
        assert!(redirect_url("u", "https://app.example/cb", false).is_ok());
    }

    #[test]
    fn urls() {
        assert!(url("u", "http://127.0.0.1:5173/callback", false).is_ok());
        assert!(url("u", "http://127.0.0.1:5173", true).is_ok());
        assert!(url("u", "http://127.0.0.1:5173/x", true).is_err());
        assert!(url("u", "https://a.example/cb#frag", false).is_err());
        assert!(url("u", "/relative", false).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(name("n", "  editor ", 50).unwrap(), "editor");
        assert!(name("n", "   ", 50).is_err());
    }

    #[test]
    fn group_names_and_descriptions() {
        assert_eq!(group_name("name", " backend ").unwrap(), "backend");
        assert!(group_name("name", "").is_err());
        assert!(group_name("name", "a/b").is_err());
        assert!(group_name("name", &"x".repeat(255)).is_ok());
        let long = group_name("name", &"x".repeat(256)).unwrap_err();
        assert_eq!(long.field, "name");
        assert!(description("description", &"d".repeat(140)).is_ok());
        let e = description("description", &"d".repeat(141)).unwrap_err();
        assert_eq!(e.field, "description");
        assert_eq!(e.reason, "String is too long (max 140)");
    }
}
