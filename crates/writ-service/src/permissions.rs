//! Permission evaluation, once: every token a grant mints and every read of a user's
//! effective permissions goes through [`PermCache`] over the store's one
//! effective-permissions query (direct grants ∪ the permissions of the user's roles, with their
//! sources: `UserStore::effective_permissions_with_sources`), cached by authz version.
//!
//! Every change to a user's effective permissions increments the user's `authz_version` in the
//! same transaction (DESIGN.md, Freshness), so `(user, api, version)` identifies one permission
//! set exactly. Issuance reads the version (one indexed row) and evaluates RBAC in SQL only when
//! the version moved: a user with 50 roles and 1,000 permissions then costs about what a user
//! with one role costs. Correct across nodes, since the version lives in the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use writ_store::{Result, Store};

/// Entries kept before the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

type Key = (String, String);
/// An evaluated permission set and the authz version it belongs to.
type Entry = (i64, Arc<Vec<String>>);

#[derive(Default)]
pub struct PermCache {
    map: Mutex<HashMap<Key, Entry>>,
}

impl PermCache {
    /// The user's effective permissions for `api` and the authz version they belong to.
    pub async fn get(
        &self,
        store: &dyn Store,
        user_id: &str,
        api: &str,
    ) -> Result<(Arc<Vec<String>>, i64)> {
        let version = store.authz_version(user_id).await?;
        self.get_at(store, user_id, api, version).await
    }

    /// The same, with the user's authz version the caller read just now (with the user's row,
    /// as [`UserStore::get_user`](writ_store::UserStore::get_user) returns it), which saves
    /// reading it again.
    pub async fn get_at(
        &self,
        store: &dyn Store,
        user_id: &str,
        api: &str,
        version: i64,
    ) -> Result<(Arc<Vec<String>>, i64)> {
        let key = (user_id.to_owned(), api.to_owned());
        if let Some((v, perms)) = self.map.lock().expect("perm cache").get(&key)
            && *v == version
        {
            return Ok((perms.clone(), version));
        }
        let (perms, version) = store.effective_permissions(user_id, api).await?;
        let perms = Arc::new(perms);
        let mut map = self.map.lock().expect("perm cache");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        match map.get(&key) {
            // A concurrent request may have stored a newer version already.
            Some((v, _)) if *v > version => {}
            _ => {
                map.insert(key, (version, perms.clone()));
            }
        }
        Ok((perms, version))
    }
}
