//! APIs (Auth0: resource servers) and their permission catalogs. Every write reloads the
//! in-memory catalog (the token endpoint reads APIs from it) and is recorded by
//! [`Writ::finish`]; removing scopes or an API bumps the authz version of every user who held
//! them, in the store's transaction.

use writ_core::{ResourceServer, Scope, SigningAlg, TokenDialect, validate};
use writ_store::Page;

use crate::audit::Operation;
use crate::{Actor, Result, ServiceError, Writ};

/// Auth0's maximum access-token lifetime (30 days).
const MAX_LIFETIME: i64 = 2_592_000;

/// An API to create, or the properties of one to change (`None`: unchanged), with Auth0's
/// field names.
#[derive(Debug, Clone, Default)]
pub struct ApiInput {
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub scopes: Option<Vec<Scope>>,
    pub signing_alg: Option<String>,
    pub token_lifetime: Option<i64>,
    pub token_lifetime_for_web: Option<i64>,
    pub enforce_policies: Option<bool>,
    pub token_dialect: Option<String>,
    pub allow_offline_access: Option<bool>,
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
}

/// Applies a create/patch body to a record and validates the result.
fn apply(rs: &mut ResourceServer, b: ApiInput) -> Result<()> {
    if let Some(n) = b.name {
        rs.name = validate::name("name", &n, 200)?;
    }
    if let Some(scopes) = b.scopes {
        let mut seen = std::collections::HashSet::new();
        for (i, s) in scopes.iter().enumerate() {
            validate::scope_value(&format!("scopes[{i}].value"), &s.value)?;
            if !seen.insert(&s.value) {
                return Err(ServiceError::invalid_message(
                    None,
                    format!(
                        "Payload validation error: duplicate scope '{}' on property scopes.",
                        s.value
                    ),
                ));
            }
        }
        if scopes.len() > 1000 {
            return Err(ServiceError::invalid_message(
                None,
                "Payload validation error: an API can define at most 1000 scopes.",
            ));
        }
        rs.scopes = scopes;
    }
    if let Some(a) = b.signing_alg {
        rs.signing_alg = SigningAlg::parse(&a).ok_or_else(|| {
            ServiceError::invalid_message(None, format!("Payload validation error: 'No enum match for: \"{a}\" (RS256, ES256, EdDSA)' on property signing_alg."))
        })?;
    }
    if let Some(t) = b.token_lifetime {
        if !(1..=MAX_LIFETIME).contains(&t) {
            return Err(ServiceError::invalid_message(
                None,
                format!(
                    "Payload validation error: 'token_lifetime must be between 1 and {MAX_LIFETIME}' on property token_lifetime."
                ),
            ));
        }
        rs.token_lifetime = t;
    }
    let _ = b.token_lifetime_for_web;
    let _ = b.skip_consent_for_verifiable_first_party_clients;
    if let Some(e) = b.enforce_policies {
        rs.enforce_policies = e;
    }
    if let Some(d) = b.token_dialect {
        rs.token_dialect = TokenDialect::parse(&d).ok_or_else(|| {
            ServiceError::invalid_message(None, format!(
                "Payload validation error: 'No enum match for: \"{d}\" (access_token, access_token_authz, rfc9068_profile, rfc9068_profile_authz)' on property token_dialect."
            ))
        })?;
    }
    if rs.token_dialect.includes_permissions() && !rs.enforce_policies {
        return Err(ServiceError::invalid_message(
            None,
            format!(
                "Payload validation error: 'token_dialect {} requires enforce_policies (RBAC) to be true' on property token_dialect.",
                rs.token_dialect.as_str()
            ),
        ));
    }
    if let Some(o) = b.allow_offline_access {
        rs.allow_offline_access = o;
    }
    Ok(())
}

fn system(verb: &str) -> ServiceError {
    ServiceError::Refused {
        status: 403,
        code: "operation_not_supported",
        message: format!("The system API cannot be {verb}."),
    }
}

/// Creates an API.
pub async fn create(w: &Writ, actor: &Actor, mut input: ApiInput) -> Result<ResourceServer> {
    let op = Operation::at("POST", "/resource-servers", "", 201);
    w.catalog_write(actor, op, async {
        let identifier = input
            .identifier
            .take()
            .ok_or_else(|| ServiceError::missing("identifier"))?;
        validate::identifier("identifier", &identifier)?;
        let mut rs = ResourceServer {
            id: String::new(),
            name: identifier.clone(),
            identifier,
            scopes: vec![],
            signing_alg: SigningAlg::RS256,
            token_lifetime: 86_400,
            enforce_policies: false,
            token_dialect: TokenDialect::AccessToken,
            allow_offline_access: false,
            is_system: false,
        };
        apply(&mut rs, input)?;
        let rs = w.store.create_resource_server(rs).await?;
        Ok(rs)
    })
    .await
}

/// Changes an API (not its identifier; not the system API).
pub async fn update(w: &Writ, actor: &Actor, id: &str, input: ApiInput) -> Result<ResourceServer> {
    let op = Operation::at("PATCH", "/resource-servers/{id}", id, 200);
    let result = async {
        let mut rs = w.store.get_resource_server(id).await?;
        if rs.is_system {
            return Err(system("modified"));
        }
        if input
            .identifier
            .as_ref()
            .is_some_and(|i| *i != rs.identifier)
        {
            return Err(ServiceError::invalid(
                "identifier",
                "identifier cannot be changed",
            ));
        }
        apply(&mut rs, input)?;
        w.store.update_resource_server(&rs).await?;
        w.reload().await?;
        Ok(w.store.get_resource_server(&rs.id).await?)
    }
    .await;
    w.finish(actor, op, result).await
}

/// Deletes an API (not the system API).
pub async fn delete(w: &Writ, actor: &Actor, id: &str) -> Result<()> {
    let op = Operation::at("DELETE", "/resource-servers/{id}", id, 204);
    w.catalog_write(actor, op, async {
        let rs = w.store.get_resource_server(id).await?;
        if rs.is_system {
            return Err(system("deleted"));
        }
        w.store.delete_resource_server(&rs.id).await?;
        Ok(())
    })
    .await
}

/// Every API, the system API included.
pub async fn all(w: &Writ) -> Result<Vec<ResourceServer>> {
    Ok(w.store.all_resource_servers().await?)
}

/// One API, by id or identifier.
pub async fn get(w: &Writ, id: &str) -> Result<ResourceServer> {
    Ok(w.store.get_resource_server(id).await?)
}

/// How many APIs there are.
pub async fn count(w: &Writ) -> Result<i64> {
    let one = Page {
        page: 0,
        per_page: 1,
    };
    Ok(w.store.list_resource_servers(one).await?.total)
}
