//! A user's roles and groups as tokens and the Authorization Extension name them, read once:
//! the access-token claims an API asks for besides `permissions` (`roles`, `groups`, the
//! extension's `{groups, roles, permissions}` object) and the Management API's computed
//! `app_metadata.authorization` both come from [`Memberships`].
//!
//! Every change to a user's roles or groups (membership, a group's roles, a move, a rename of
//! a role or group) bumps the user's authz version in the write's transaction, so the cache is
//! keyed by that version as [`crate::permissions::PermCache`] is: a token request for an API
//! that carries roles costs one version read (already made for permissions) until something
//! changes. Tokens for APIs that ask for none of these claims never read them.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use writ_core::{GroupClaim, ResourceServer};
use writ_store::{Result, Store};

use crate::paging::all_pages;

/// Users kept before the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

/// A user's roles and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memberships {
    /// The names of the user's effective roles (direct and through groups), sorted.
    pub roles: Vec<String>,
    /// The names of the user's groups and of every group above them, sorted, once each.
    pub group_names: Vec<String>,
    /// The full path of each group the user is a direct member of, sorted.
    pub group_paths: Vec<String>,
}

impl Memberships {
    /// Reads them from the store (two reads: effective roles, then groups with their paths).
    pub async fn read(store: &dyn Store, user_id: &str) -> Result<Memberships> {
        let roles = store
            .effective_roles(user_id)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let groups = all_pages(|p| store.user_groups(user_id, p)).await?;
        let group_names = groups
            .iter()
            .flat_map(|g| g.path.split('/').filter(|s| !s.is_empty()))
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let group_paths = groups
            .into_iter()
            .map(|g| g.path)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(Memberships {
            roles,
            group_names,
            group_paths,
        })
    }

    /// The Authorization Extension's object with `permissions` given.
    pub fn authorization(&self, permissions: &[String]) -> Value {
        json!({ "groups": self.group_names, "roles": self.roles, "permissions": permissions })
    }

    /// The claims `api` asks for besides `permissions`, for a token granted `scope` with
    /// `permissions` (this API's): its roles and groups claims, the extension's object and,
    /// when the extension is on and the scope asks, its top-level `groups` and `roles`. Claim
    /// names were checked when the API was saved; a restricted name found anyway is skipped.
    pub fn claims(
        &self,
        api: &ResourceServer,
        issuer: &str,
        scope: &[String],
        permissions: &[String],
    ) -> Map<String, Value> {
        let tc = &api.token_claims;
        let mut out = Map::new();
        let groups = || match tc.groups {
            GroupClaim::Paths => json!(self.group_paths),
            _ => json!(self.group_names),
        };
        if tc.roles {
            out.insert(tc.roles_claim(issuer), json!(self.roles));
        }
        if tc.groups != GroupClaim::None {
            out.insert(tc.groups_claim(issuer), groups());
        }
        if tc.authorization_extension {
            out.insert(
                tc.authorization_claim(issuer),
                self.authorization(permissions),
            );
            for s in writ_core::claims::EXTENSION_SCOPES {
                if scope.iter().any(|x| x == s) {
                    let v = if s == "groups" {
                        json!(self.group_names)
                    } else {
                        json!(self.roles)
                    };
                    out.insert(s.into(), v);
                }
            }
        }
        out.retain(|name, _| {
            let restricted = writ_core::claims::is_restricted(name);
            if restricted {
                tracing::warn!(claim = %name, api = %api.identifier, "restricted claim name ignored");
            }
            !restricted
        });
        out
    }
}

/// [`Memberships`] by user, each with the authz version it was read at.
#[derive(Default)]
pub struct MembershipCache {
    map: Mutex<HashMap<String, (i64, Arc<Memberships>)>>,
}

impl MembershipCache {
    /// The user's memberships as of authz version `version` or later: cached when read at
    /// that version, else read now (after the version was, so never older than it).
    pub async fn get(
        &self,
        store: &dyn Store,
        user_id: &str,
        version: i64,
    ) -> Result<Arc<Memberships>> {
        if let Some((v, m)) = self.map.lock().expect("membership cache").get(user_id)
            && *v == version
        {
            return Ok(m.clone());
        }
        let m = Arc::new(Memberships::read(store, user_id).await?);
        let mut map = self.map.lock().expect("membership cache");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        match map.get(user_id) {
            Some((v, _)) if *v > version => {}
            _ => {
                map.insert(user_id.to_owned(), (version, m.clone()));
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_core::TokenClaims;

    fn api(tc: TokenClaims) -> ResourceServer {
        ResourceServer {
            id: "rs_1".into(),
            identifier: "https://api.example/".into(),
            name: "API".into(),
            scopes: vec![],
            signing_alg: writ_core::SigningAlg::RS256,
            token_lifetime: 60,
            enforce_policies: true,
            token_dialect: writ_core::TokenDialect::AccessTokenAuthz,
            allow_offline_access: false,
            is_system: false,
            token_claims: tc,
        }
    }

    fn bob() -> Memberships {
        Memberships {
            roles: vec!["editor".into(), "viewer".into()],
            group_names: vec!["backend".into(), "eng".into()],
            group_paths: vec!["/eng/backend".into()],
        }
    }

    #[test]
    fn an_api_asking_for_nothing_gets_nothing() {
        let c = bob().claims(&api(TokenClaims::default()), "https://w/", &[], &[]);
        assert!(c.is_empty());
    }

    #[test]
    fn roles_and_groups_under_their_names() {
        let tc = TokenClaims {
            roles: true,
            groups: GroupClaim::Paths,
            groups_claim: Some("groups".into()),
            ..Default::default()
        };
        let c = bob().claims(&api(tc), "https://w/", &[], &[]);
        assert_eq!(c["https://w/roles"], json!(["editor", "viewer"]));
        assert_eq!(c["groups"], json!(["/eng/backend"]));
        assert_eq!(c.len(), 2);
        let names = TokenClaims {
            groups: GroupClaim::Names,
            ..Default::default()
        };
        let c = bob().claims(&api(names), "https://w/", &[], &[]);
        assert_eq!(c["https://w/groups"], json!(["backend", "eng"]));
    }

    #[test]
    fn the_extension_object_and_its_scoped_top_level_claims() {
        let tc = TokenClaims {
            authorization_extension: true,
            ..Default::default()
        };
        let perms = vec!["read:x".to_string()];
        let c = bob().claims(&api(tc.clone()), "https://w/", &[], &perms);
        assert_eq!(
            c["https://w/authorization"],
            json!({"groups": ["backend", "eng"], "roles": ["editor", "viewer"], "permissions": ["read:x"]})
        );
        assert_eq!(c.len(), 1);
        let scope = vec!["openid".to_string(), "groups".into(), "roles".into()];
        let c = bob().claims(&api(tc), "https://w/", &scope, &perms);
        assert_eq!(c["groups"], json!(["backend", "eng"]));
        assert_eq!(c["roles"], json!(["editor", "viewer"]));
    }

    #[test]
    fn restricted_names_are_never_set() {
        let tc = TokenClaims {
            roles: true,
            roles_claim: Some("permissions".into()),
            ..Default::default()
        };
        assert!(bob().claims(&api(tc), "https://w/", &[], &[]).is_empty());
    }
}
