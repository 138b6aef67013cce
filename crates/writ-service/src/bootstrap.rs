//! Start-up provisioning: signing keys, the Management API as a resource server, and the
//! bootstrap machine client with a grant for every management scope. Idempotent.

use writ_core::{
    AppType, Client, ClientGrant, MANAGEMENT_SCOPES, ResourceServer, Scope, SigningAlg,
    TokenDialect,
};
use writ_store::{Store, StoreError};

use crate::config::Config;
use crate::crypto::{KeyCipher, random_alnum, random_token, sha256_hex};
use crate::signing_keys::ensure_keys;

/// What start-up did that the operator must see.
#[derive(Debug, Default)]
pub struct Bootstrapped {
    /// A client generated because none existed: `(client_id, secret)`, printed once.
    pub generated_client: Option<(String, String)>,
}

fn management_api(config: &Config) -> ResourceServer {
    ResourceServer {
        id: String::new(),
        identifier: config.management_audience(),
        name: "Writ Management API".into(),
        scopes: MANAGEMENT_SCOPES
            .iter()
            .map(|s| Scope {
                value: (*s).into(),
                description: management_description(s),
            })
            .collect(),
        signing_alg: SigningAlg::RS256,
        token_lifetime: 86_400,
        enforce_policies: true,
        token_dialect: TokenDialect::AccessTokenAuthz,
        allow_offline_access: false,
        is_system: true,
        token_claims: Default::default(),
    }
}

fn management_description(scope: &str) -> String {
    let (verb, what) = scope.split_once(':').unwrap_or((scope, ""));
    format!(
        "{} {}",
        verb[..1].to_uppercase() + &verb[1..],
        what.replace('_', " ")
    )
}

/// A machine client with a grant for every management scope.
pub fn machine_client(id: &str, name: &str, secret: &str) -> Client {
    Client {
        name: name.into(),
        grant_types: vec!["client_credentials".into()],
        secret_hash: Some(sha256_hex(secret)),
        ..crate::clients::blank(id.into(), AppType::NonInteractive)
    }
}

/// The client grant of `client_id` for `audience`, if it has one.
pub async fn client_grant(
    store: &dyn Store,
    client_id: &str,
    audience: &str,
) -> Result<Option<ClientGrant>, StoreError> {
    let page = writ_store::Page {
        page: 0,
        per_page: 1,
    };
    let existing = store
        .list_client_grants(Some(client_id), Some(audience), page)
        .await?;
    Ok(existing.items.into_iter().next())
}

async fn grant_all(store: &dyn Store, client_id: &str, audience: &str) -> Result<(), StoreError> {
    let scopes: Vec<String> = MANAGEMENT_SCOPES.iter().map(|s| s.to_string()).collect();
    match client_grant(store, client_id, audience).await? {
        Some(g) if g.scope == scopes => Ok(()),
        Some(g) => store.update_client_grant(&g.id, &scopes).await.map(|_| ()),
        None => store
            .create_client_grant(client_id, audience, &scopes)
            .await
            .map(|_| ()),
    }
}

/// Runs the start-up provisioning.
pub async fn bootstrap(
    config: &Config,
    store: &dyn Store,
    cipher: &KeyCipher,
) -> Result<Bootstrapped, StoreError> {
    ensure_keys(store, cipher).await?;
    let wanted = management_api(config);
    match store.get_resource_server(&wanted.identifier).await {
        Ok(mut rs) => {
            // Keep the catalog current when features add management scopes, and RBAC on:
            // user tokens (the admin console's) carry only what the user's roles grant.
            let rbac = rs.enforce_policies && rs.token_dialect.includes_permissions();
            if rs.scopes != wanted.scopes || !rbac {
                rs.scopes = wanted.scopes;
                if !rbac {
                    rs.enforce_policies = true;
                    rs.token_dialect = wanted.token_dialect;
                }
                store.update_resource_server(&rs).await?;
            }
        }
        Err(StoreError::NotFound(_)) => {
            store.create_resource_server(wanted).await?;
        }
        Err(e) => return Err(e),
    }
    let audience = config.management_audience();
    let mut out = Bootstrapped::default();
    if let (Some(id), Some(secret)) = (&config.bootstrap_client_id, &config.bootstrap_client_secret)
    {
        match store.get_client(id).await {
            Ok(mut c) => {
                let hash = sha256_hex(secret);
                if c.secret_hash.as_deref() != Some(&hash) || !c.allows_grant("client_credentials")
                {
                    c.secret_hash = Some(hash);
                    if !c.allows_grant("client_credentials") {
                        c.grant_types.push("client_credentials".into());
                    }
                    store.update_client(&c).await?;
                }
            }
            Err(StoreError::NotFound(_)) => {
                store
                    .create_client(&machine_client(id, "Writ bootstrap client", secret))
                    .await?
            }
            Err(e) => return Err(e),
        }
        grant_all(store, id, &audience).await?;
    } else if store.count_clients().await? == 0 {
        let id = random_alnum(32);
        let secret = random_token(32);
        store
            .create_client(&machine_client(
                &id,
                "Writ admin client (generated)",
                &secret,
            ))
            .await?;
        grant_all(store, &id, &audience).await?;
        out.generated_client = Some((id, secret));
    }
    // After the count above: the console's client must not stop the admin client's generation.
    ensure_console_client(config, store).await?;
    Ok(out)
}

/// The admin console's client (`/admin`): public, authorization code with PKCE, calling back to
/// `{issuer}admin/callback`. Created once; the current issuer's URLs are added when missing.
async fn ensure_console_client(config: &Config, store: &dyn Store) -> Result<(), StoreError> {
    let id = writ_core::CONSOLE_CLIENT_ID;
    let callback = format!("{}admin/callback", config.issuer);
    let signed_out = format!("{}admin/signed-out", config.issuer);
    match store.get_client(id).await {
        Ok(mut c) => {
            let mut changed = false;
            for (list, url) in [
                (&mut c.callbacks, &callback),
                (&mut c.allowed_logout_urls, &signed_out),
            ] {
                if !list.contains(url) {
                    list.push(url.clone());
                    changed = true;
                }
            }
            if changed {
                store.update_client(&c).await?;
            }
            Ok(())
        }
        Err(StoreError::NotFound(_)) => {
            let mut c = machine_client(id, "Writ admin console", "unused");
            c.secret_hash = None;
            c.app_type = AppType::RegularWeb;
            c.grant_types = vec!["authorization_code".into()];
            c.callbacks = vec![callback];
            c.allowed_logout_urls = vec![signed_out];
            store.create_client(&c).await
        }
        Err(e) => Err(e),
    }
}
