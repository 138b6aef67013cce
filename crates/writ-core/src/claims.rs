//! The claims of a Writ access token (RFC 9068 with Auth0's `permissions` and `gty`, plus
//! Writ's `authz_ver` for freshness).

use serde::{Deserialize, Serialize};

/// Claims no setting or hook may set on a token: the registered JWT and OIDC claims, RFC 9068's
/// and Auth0's, and Writ's own (`permissions` and `authz_ver` carry authorization and freshness).
pub const RESTRICTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "azp",
    "client_id",
    "scope",
    "scp",
    "permissions",
    "gty",
    "authz_ver",
    "auth_time",
    "nonce",
    "sid",
    "acr",
    "amr",
    "at_hash",
    "c_hash",
    "cnf",
    "act",
    "may_act",
    "typ",
    "org_id",
    "org_name",
];

/// The scopes that ask, as the Authorization Extension's rule did, for its top-level `groups`
/// and `roles` claims on an API with the extension's compatibility on.
pub const EXTENSION_SCOPES: [&str; 2] = ["groups", "roles"];

/// Whether `name` is a [`RESTRICTED`] claim.
pub fn is_restricted(name: &str) -> bool {
    RESTRICTED.contains(&name)
}

/// Access-token claims. Serialized on every issuance, so kept flat and borrowed-friendly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub client_id: String,
    pub azp: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authz_ver: Option<i64>,
    /// How the user authenticated (`pwd`, `otp`, `mfa`), in tokens of APIs that ask for it (a
    /// Writ extension, `WRIT_MFA_AMR_AUDIENCES`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
}

/// `acr` of a login with a second factor (the value Auth0 and OpenID's PAPE policy use).
pub const ACR_MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(v) => v.iter().any(|a| a == aud),
        }
    }
}

impl AccessClaims {
    /// Whether the login behind the token used a second factor (`amr` holds `mfa`).
    pub fn has_mfa(&self) -> bool {
        self.amr
            .as_ref()
            .is_some_and(|a| a.iter().any(|v| v == "mfa"))
    }

    /// Whether the token holds `perm`, in `permissions` when present, else in `scope`.
    pub fn has_permission(&self, perm: &str) -> bool {
        match &self.permissions {
            Some(p) => p.iter().any(|x| x == perm),
            None => self.scope.split_ascii_whitespace().any(|s| s == perm),
        }
    }

    /// Machine tokens have `sub = "<client_id>@clients"`.
    pub fn is_machine(&self) -> bool {
        self.sub.ends_with("@clients")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_accepts_string_or_array() {
        let one: Audience = serde_json::from_str("\"a\"").unwrap();
        let many: Audience = serde_json::from_str("[\"a\",\"b\"]").unwrap();
        assert!(one.contains("a") && !one.contains("b"));
        assert!(many.contains("b"));
    }

    #[test]
    fn permission_check_prefers_permissions_claim() {
        let mut c = AccessClaims {
            iss: "i/".into(),
            sub: "usr_1".into(),
            aud: Audience::One("a".into()),
            iat: 0,
            exp: 1,
            jti: "j".into(),
            client_id: "c".into(),
            azp: "c".into(),
            scope: "read:todos".into(),
            permissions: Some(vec!["write:todos".into()]),
            gty: None,
            authz_ver: Some(1),
            amr: None,
        };
        assert!(!c.has_mfa());
        assert!(c.has_permission("write:todos"));
        assert!(!c.has_permission("read:todos"));
        c.permissions = None;
        assert!(c.has_permission("read:todos"));
        c.amr = Some(vec!["pwd".into()]);
        assert!(!c.has_mfa());
        c.amr = Some(vec!["pwd".into(), "otp".into(), "mfa".into()]);
        assert!(c.has_mfa());
        let parsed: AccessClaims =
            serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert!(parsed.has_mfa());
    }
}
