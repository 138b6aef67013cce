//! RBAC evaluation with Auth0's semantics.
//!
//! effective(user, api) = direct grants ∪ ⋃ permissions of the user's roles, for that API.
//! Callers pass only the user's own grants and roles' permissions for the one API, so the cost
//! is O(the user's roles + grants), never O(users) or O(all roles).

use std::borrow::Cow;

use crate::model::{ClientGrant, ResourceServer};

/// OpenID Connect scopes: never API permissions, passed through when requested.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The scopes and permissions that go into one access token.
/// The `permissions` claim borrows the evaluated set, so a user with 1,000 permissions costs no
/// copies on the issuance path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Granted<'a> {
    /// Space-separated in the token's `scope` claim.
    pub scope: Vec<String>,
    /// The `permissions` claim, when the API's dialect carries one.
    pub permissions: Option<Cow<'a, [String]>>,
}

impl Granted<'_> {
    pub fn scope_string(&self) -> String {
        self.scope.join(" ")
    }
}

/// Sorted, de-duplicated union of the given permission names.
pub fn effective_permissions<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = names.into_iter().map(str::to_owned).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn requested_scopes(requested: Option<&str>) -> Vec<&str> {
    let mut v: Vec<&str> = requested.unwrap_or("").split_ascii_whitespace().collect();
    v.dedup();
    v
}

/// What a user's token for `api` carries.
///
/// RBAC off: any requested scope the API defines. RBAC on: requested ∩ effective, and the
/// `permissions` claim lists every effective permission (for the `*_authz` dialects).
/// `effective` must be sorted (as returned by [`effective_permissions`]).
pub fn grant_for_user<'a>(
    api: &ResourceServer,
    requested: Option<&str>,
    effective: &'a [String],
) -> Granted<'a> {
    let mut scope = Vec::new();
    for s in requested_scopes(requested) {
        let ok = if OIDC_SCOPES.contains(&s) {
            s != "offline_access" || api.allow_offline_access
        } else if api.token_claims.authorization_extension
            && crate::claims::EXTENSION_SCOPES.contains(&s)
        {
            true
        } else if api.enforce_policies {
            effective.binary_search_by(|p| p.as_str().cmp(s)).is_ok()
        } else {
            api.has_scope(s)
        };
        if ok && !scope.iter().any(|x: &String| x == s) {
            scope.push(s.to_owned());
        }
    }
    let permissions = (api.enforce_policies && api.token_dialect.includes_permissions())
        .then_some(Cow::Borrowed(effective));
    Granted { scope, permissions }
}

/// What a machine client's token for `api` carries: requested ∩ the client grant, or the whole
/// grant when nothing specific was requested. `None` when a requested scope is not granted is
/// not an error in Auth0: unknown scopes are dropped.
pub fn grant_for_client(
    api: &ResourceServer,
    grant: &ClientGrant,
    requested: Option<&str>,
) -> Granted<'static> {
    let req = requested_scopes(requested);
    let scope: Vec<String> = if req.is_empty() {
        grant
            .scope
            .iter()
            .filter(|s| api.has_scope(s))
            .cloned()
            .collect()
    } else {
        grant
            .scope
            .iter()
            .filter(|s| req.contains(&s.as_str()) && api.has_scope(s))
            .cloned()
            .collect()
    };
    let permissions = api
        .token_dialect
        .includes_permissions()
        .then(|| Cow::Owned(scope.clone()));
    Granted { scope, permissions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn api(enforce: bool, dialect: TokenDialect) -> ResourceServer {
        ResourceServer {
            id: "rs_1".into(),
            identifier: "https://todos.example/api".into(),
            name: "Todos".into(),
            scopes: ["read:todos", "write:todos", "delete:todos"]
                .iter()
                .map(|v| Scope {
                    value: v.to_string(),
                    description: String::new(),
                })
                .collect(),
            signing_alg: SigningAlg::RS256,
            token_lifetime: 86400,
            enforce_policies: enforce,
            token_dialect: dialect,
            allow_offline_access: false,
            is_system: false,
            token_claims: Default::default(),
        }
    }

    #[test]
    fn union_is_sorted_and_deduplicated() {
        let e = effective_permissions(["write:todos", "read:todos", "write:todos"]);
        assert_eq!(e, vec!["read:todos", "write:todos"]);
    }

    #[test]
    fn rbac_on_intersects_and_lists_all_permissions() {
        let a = api(true, TokenDialect::AccessTokenAuthz);
        let eff = effective_permissions(["read:todos", "write:todos"]);
        let g = grant_for_user(&a, Some("openid read:todos delete:todos bogus"), &eff);
        assert_eq!(g.scope, vec!["openid", "read:todos"]);
        assert_eq!(g.permissions.unwrap(), vec!["read:todos", "write:todos"]);
    }

    #[test]
    fn rbac_off_grants_any_defined_scope() {
        let a = api(false, TokenDialect::AccessToken);
        let g = grant_for_user(&a, Some("delete:todos bogus"), &[]);
        assert_eq!(g.scope, vec!["delete:todos"]);
        assert!(g.permissions.is_none());
    }

    #[test]
    fn offline_access_only_when_api_allows() {
        let mut a = api(true, TokenDialect::AccessToken);
        assert!(
            grant_for_user(&a, Some("offline_access"), &[])
                .scope
                .is_empty()
        );
        a.allow_offline_access = true;
        assert_eq!(
            grant_for_user(&a, Some("offline_access"), &[]).scope,
            vec!["offline_access"]
        );
    }

    #[test]
    fn client_grant_limits_scopes() {
        let a = api(true, TokenDialect::AccessTokenAuthz);
        let g = ClientGrant {
            id: "cgr_1".into(),
            client_id: "c".into(),
            audience: a.identifier.clone(),
            scope: vec!["read:todos".into(), "write:todos".into()],
        };
        assert_eq!(
            grant_for_client(&a, &g, None).scope,
            vec!["read:todos", "write:todos"]
        );
        let r = grant_for_client(&a, &g, Some("write:todos delete:todos"));
        assert_eq!(r.scope, vec!["write:todos"]);
        assert_eq!(r.permissions.unwrap(), vec!["write:todos"]);
    }
}
