//! Clients (applications) and client grants. Client secrets are 256-bit random values stored as
//! SHA-256: shown once, at creation and at rotation, never again. Every write reloads the
//! in-memory catalog (the token endpoint reads clients and grants from it) and is recorded by
//! [`Writ::recorded`]; a change that takes something away from a client's tokens bumps its authz
//! version in the store's transaction.

use writ_core::{AppType, Client, ClientGrant, validate};

use crate::audit::Operation;
use crate::crypto::{random_alnum, random_token, sha256_hex};
use crate::{Actor, Result, ServiceError, Writ};

/// The grant types a client may be given.
pub const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "password",
    "http://auth0.com/oauth/grant-type/password-realm",
    "http://auth0.com/oauth/grant-type/mfa-otp",
    "http://auth0.com/oauth/grant-type/mfa-recovery-code",
];

/// Refresh-token settings to change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct RefreshInput {
    pub rotation_type: Option<String>,
    pub expiration_type: Option<String>,
    pub leeway: Option<i64>,
    pub idle_token_lifetime: Option<i64>,
    pub token_lifetime: Option<i64>,
    pub infinite_idle_token_lifetime: Option<bool>,
    pub infinite_token_lifetime: Option<bool>,
}

/// A client to create, or the properties of one to change (`None`: unchanged), with Auth0's
/// field names.
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub app_type: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub callbacks: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    pub web_origins: Option<Vec<String>>,
    pub allowed_logout_urls: Option<Vec<String>>,
    pub is_first_party: Option<bool>,
    pub oidc_conformant: Option<bool>,
    pub token_endpoint_auth_method: Option<String>,
    pub refresh_token: Option<RefreshInput>,
}

/// A client and, when this write made one, its new secret (shown only now).
#[derive(Debug, Clone)]
pub struct WithSecret {
    pub client: Client,
    pub secret: Option<String>,
}

fn urls(field: &str, v: Vec<String>, origin_only: bool) -> Result<Vec<String>> {
    for (i, u) in v.iter().enumerate() {
        validate::url(&format!("{field}[{i}]"), u, origin_only)?;
    }
    Ok(v)
}

/// Applies a body to a client. Returns whether the client must have a secret.
fn apply(c: &mut Client, b: ClientInput, creating: bool) -> Result<Option<bool>> {
    if let Some(n) = b.name {
        c.name = validate::name("name", &n, 200)?;
    }
    if let Some(d) = b.description {
        c.description = d;
    }
    if let Some(t) = b.app_type {
        c.app_type = AppType::parse(&t).ok_or_else(|| {
            ServiceError::invalid_message(None, format!(
                "Payload validation error: 'No enum match for: \"{t}\" (spa, regular_web, non_interactive, native)' on property app_type."
            ))
        })?;
    }
    if let Some(g) = b.grant_types {
        for (i, t) in g.iter().enumerate() {
            if !GRANT_TYPES.contains(&t.as_str()) {
                return Err(ServiceError::invalid_message(
                    None,
                    format!(
                        "Payload validation error: 'Unsupported grant type: {t}' on property grant_types[{i}]."
                    ),
                ));
            }
        }
        c.grant_types = g;
    } else if creating {
        c.grant_types = match c.app_type {
            AppType::Spa | AppType::Native => {
                vec!["authorization_code".into(), "refresh_token".into()]
            }
            AppType::NonInteractive => vec!["client_credentials".into()],
            AppType::RegularWeb => vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
        };
    }
    if let Some(v) = b.callbacks {
        c.callbacks = v;
    }
    if let Some(v) = b.allowed_origins {
        c.allowed_origins = urls("allowed_origins", v, true)?;
    }
    if let Some(v) = b.web_origins {
        c.web_origins = urls("web_origins", v, true)?;
    }
    if let Some(v) = b.allowed_logout_urls {
        c.allowed_logout_urls = v;
    }
    // Checked against the app type the client ends up with (a custom scheme only for native
    // apps), whichever of the two this body changes.
    let native = c.app_type == AppType::Native;
    for (field, list) in [
        ("callbacks", &c.callbacks),
        ("allowed_logout_urls", &c.allowed_logout_urls),
    ] {
        for (i, u) in list.iter().enumerate() {
            validate::redirect_url(&format!("{field}[{i}]"), u, native)?;
        }
    }
    if let Some(v) = b.is_first_party {
        c.is_first_party = v;
    }
    let _ = b.oidc_conformant;
    if let Some(r) = b.refresh_token {
        if let Some(t) = r.rotation_type {
            c.refresh_rotation = match t.as_str() {
                "rotating" => true,
                "non-rotating" => false,
                _ => {
                    return Err(ServiceError::invalid_message(
                        None,
                        "Payload validation error: 'No enum match (rotating, non-rotating)' on property refresh_token.rotation_type.",
                    ));
                }
            };
        }
        let _ = (
            r.expiration_type,
            r.infinite_idle_token_lifetime,
            r.infinite_token_lifetime,
        );
        let bounded = |v: i64, f: &str, max: i64| -> Result<i64> {
            if (0..=max).contains(&v) {
                Ok(v)
            } else {
                Err(ServiceError::invalid_message(
                    None,
                    format!(
                        "Payload validation error: 'must be between 0 and {max}' on property refresh_token.{f}."
                    ),
                ))
            }
        };
        if let Some(v) = r.leeway {
            c.refresh_leeway = bounded(v, "leeway", 60)?;
        }
        if let Some(v) = r.idle_token_lifetime {
            c.refresh_idle_lifetime = bounded(v, "idle_token_lifetime", 31_557_600)?;
        }
        if let Some(v) = r.token_lifetime {
            c.refresh_absolute_lifetime = bounded(v, "token_lifetime", 31_557_600)?;
        }
    }
    let needs_secret = match b.token_endpoint_auth_method.as_deref() {
        None => None,
        Some("none") => Some(false),
        Some("client_secret_post" | "client_secret_basic") => Some(true),
        Some(m) => {
            return Err(ServiceError::invalid_message(
                None,
                format!(
                    "Payload validation error: 'No enum match for: \"{m}\" (none, client_secret_post, client_secret_basic)' on property token_endpoint_auth_method."
                ),
            ));
        }
    };
    let public = needs_secret.map_or(
        c.app_type.is_public() && (creating || c.secret_hash.is_none()),
        |n| !n,
    );
    if public && c.allows_grant("client_credentials") {
        return Err(ServiceError::invalid_message(
            None,
            "Payload validation error: 'client_credentials requires a confidential client (token_endpoint_auth_method other than none)' on property grant_types.",
        ));
    }
    Ok(Some(!public))
}

/// A client with nothing but its id, its type and Writ's defaults (see [`Client::new`]),
/// created now.
pub(crate) fn blank(client_id: String, app_type: AppType) -> Client {
    Client::new(client_id, app_type, crate::time::now_rfc3339())
}

/// Creates a client: confidential (with a secret) unless `token_endpoint_auth_method` is
/// `none`, or omitted for a `spa` or `native` client.
pub async fn create(w: &Writ, actor: &Actor, input: ClientInput) -> Result<WithSecret> {
    let op = Operation::at("POST", "/clients", "", 201);
    w.catalog_write(actor, op, async {
        if input.name.is_none() {
            return Err(ServiceError::missing("name"));
        }
        let mut c = blank(random_alnum(32), AppType::RegularWeb);
        let needs_secret = apply(&mut c, input, true)?.unwrap_or(true);
        let secret = needs_secret.then(|| random_token(32));
        c.secret_hash = secret.as_deref().map(sha256_hex);
        w.store.create_client(&c).await?;
        Ok(WithSecret { client: c, secret })
    })
    .await
}

/// Changes a client. Setting `token_endpoint_auth_method` to `none` removes the secret; setting
/// a secret method on a public client creates one.
pub async fn update(w: &Writ, actor: &Actor, id: &str, input: ClientInput) -> Result<WithSecret> {
    let op = Operation::at("PATCH", "/clients/{id}", id, 200);
    w.catalog_write(actor, op, async {
        let mut c = w.store.get_client(id).await?;
        let explicit = input.token_endpoint_auth_method.is_some();
        let needs_secret = apply(&mut c, input, false)?.unwrap_or(true);
        let mut secret = None;
        if explicit && needs_secret && c.secret_hash.is_none() {
            // Public → confidential: it needs a secret now, shown in this answer only.
            let s = random_token(32);
            c.secret_hash = Some(sha256_hex(&s));
            secret = Some(s);
        } else if explicit && !needs_secret {
            c.secret_hash = None;
        }
        let client = w.store.update_client(&c).await?;
        Ok(WithSecret { client, secret })
    })
    .await
}

/// Deletes a client; its machine tokens are refused from now on.
pub async fn delete(w: &Writ, actor: &Actor, id: &str) -> Result<()> {
    let op = Operation::at("DELETE", "/clients/{id}", id, 204);
    w.catalog_write(actor, op, async {
        w.store.delete_client(id).await?;
        Ok(())
    })
    .await
}

/// Gives a confidential client a new secret; the old one and the tokens got with it stop
/// working at once.
pub async fn rotate_secret(w: &Writ, actor: &Actor, id: &str) -> Result<WithSecret> {
    let op = Operation::at("POST", "/clients/{id}/rotate-secret", id, 200);
    w.catalog_write(actor, op, async {
        let mut c = w.store.get_client(id).await?;
        if c.secret_hash.is_none() {
            return Err(ServiceError::invalid_message(
                None,
                "This client is public (token_endpoint_auth_method none) and has no secret.",
            ));
        }
        let secret = random_token(32);
        c.secret_hash = Some(sha256_hex(&secret));
        let client = w.store.update_client(&c).await?;
        Ok(WithSecret {
            client,
            secret: Some(secret),
        })
    })
    .await
}

/// The scopes of a client grant must be defined by its API.
async fn check_scopes(w: &Writ, audience: &str, scope: &[String]) -> Result<()> {
    let api = w
        .store
        .get_resource_server(audience)
        .await
        .map_err(|e| match e {
            writ_store::StoreError::NotFound(_) => ServiceError::invalid_message(
                Some("audience"),
                format!("No resource server found for audience {audience}."),
            ),
            e => e.into(),
        })?;
    for (i, sc) in scope.iter().enumerate() {
        if !api.has_scope(sc) {
            return Err(ServiceError::invalid(
                &format!("scope[{i}]"),
                format!("Scope \"{sc}\" is not defined by the API {audience}"),
            ));
        }
    }
    Ok(())
}

/// A client grant to create, or (only `scope`) its new scopes.
#[derive(Debug, Clone, Default)]
pub struct GrantInput {
    pub client_id: Option<String>,
    pub audience: Option<String>,
    pub scope: Option<Vec<String>>,
}

/// Lets a confidential client obtain tokens for an API with `client_credentials`.
pub async fn create_grant(w: &Writ, actor: &Actor, input: GrantInput) -> Result<ClientGrant> {
    let op = Operation::at("POST", "/client-grants", "", 201);
    w.catalog_write(actor, op, async {
        let client_id = input
            .client_id
            .ok_or_else(|| ServiceError::missing("client_id"))?;
        let audience = input
            .audience
            .ok_or_else(|| ServiceError::missing("audience"))?;
        let scope = input.scope.ok_or_else(|| ServiceError::missing("scope"))?;
        check_scopes(w, &audience, &scope).await?;
        let client = w.store.get_client(&client_id).await.map_err(|e| match e {
            writ_store::StoreError::NotFound(_) => ServiceError::invalid_message(
                Some("client_id"),
                format!("Client {client_id} does not exist."),
            ),
            e => e.into(),
        })?;
        if client.secret_hash.is_none() {
            return Err(ServiceError::invalid_message(
                Some("client_id"),
                "Client grants are for confidential (machine-to-machine) clients; this client is public.",
            ));
        }
        let g = w
            .store
            .create_client_grant(&client_id, &audience, &scope)
            .await?;
        Ok(g)
    })
    .await
}

/// Replaces a client grant's scopes (a scope removed makes the client's tokens stale).
pub async fn update_grant(
    w: &Writ,
    actor: &Actor,
    id: &str,
    input: GrantInput,
) -> Result<ClientGrant> {
    let op = Operation::at("PATCH", "/client-grants/{id}", id, 200);
    w.catalog_write(actor, op, async {
        if input.client_id.is_some() || input.audience.is_some() {
            return Err(ServiceError::invalid_message(
                None,
                "Payload validation error: only scope can be changed.",
            ));
        }
        let scope = input.scope.ok_or_else(|| ServiceError::missing("scope"))?;
        let audience = w
            .catalog
            .load()
            .grants
            .values()
            .flat_map(|by_aud| by_aud.values())
            .find(|g| g.id == id)
            .map(|g| g.audience.clone());
        let audience = audience.ok_or(ServiceError::NotFound("client grant"))?;
        check_scopes(w, &audience, &scope).await?;
        let g = w.store.update_client_grant(id, &scope).await?;
        Ok(g)
    })
    .await
}

/// Deletes a client grant; the client's tokens for that API are refused from now on.
pub async fn delete_grant(w: &Writ, actor: &Actor, id: &str) -> Result<()> {
    let op = Operation::at("DELETE", "/client-grants/{id}", id, 204);
    w.catalog_write(actor, op, async {
        w.store.delete_client_grant(id).await?;
        Ok(())
    })
    .await
}

/// Every client.
pub async fn all(w: &Writ) -> Result<Vec<Client>> {
    Ok(w.store.all_clients().await?)
}

/// One client.
pub async fn get(w: &Writ, id: &str) -> Result<Client> {
    Ok(w.store.get_client(id).await?)
}

/// How many clients there are.
pub async fn count(w: &Writ) -> Result<i64> {
    Ok(w.store.count_clients().await?)
}

/// Every client grant of a client.
pub async fn grants_of(w: &Writ, client_id: &str) -> Result<Vec<ClientGrant>> {
    Ok(crate::paging::all_pages(|p| w.store.list_client_grants(Some(client_id), None, p)).await?)
}
