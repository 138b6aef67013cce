//! APIs (Auth0: resource servers) and their permission catalogs. Every write reloads the
//! in-memory catalog (the token endpoint reads APIs from it) and is recorded by
//! [`Writ::recorded`]; removing scopes or an API bumps the authz version of every user who held
//! them, in the store's transaction.

use writ_core::{
    GroupClaim, ResourceServer, Scope, SigningAlg, TokenClaims, TokenDialect, validate,
};
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
    pub token_claims: Option<TokenClaimsInput>,
}

/// Changes to what an API's tokens carry besides `permissions` (`None`: unchanged; for the
/// claim names, `Some(None)` returns to the namespaced default).
#[derive(Debug, Clone, Default)]
pub struct TokenClaimsInput {
    pub roles: Option<bool>,
    pub roles_claim: Option<Option<String>>,
    /// `none`, `names` or `paths`.
    pub groups: Option<String>,
    pub groups_claim: Option<Option<String>>,
    pub authorization_extension: Option<bool>,
    pub authorization_claim: Option<Option<String>>,
}

/// Applies `input` to `tc`, checking each claim name (fields `token_claims.*`) and that the
/// claims in use have distinct names once resolved against `issuer`.
fn apply_token_claims(tc: &mut TokenClaims, input: TokenClaimsInput, issuer: &str) -> Result<()> {
    fn name(field: &str, set: Option<Option<String>>, to: &mut Option<String>) -> Result<()> {
        if let Some(v) = set {
            let v = v.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
            if let Some(n) = &v {
                validate::claim_name(&format!("token_claims.{field}"), n)?;
            }
            *to = v;
        }
        Ok(())
    }
    if let Some(r) = input.roles {
        tc.roles = r;
    }
    if let Some(g) = input.groups {
        tc.groups = GroupClaim::parse(&g).ok_or_else(|| {
            ServiceError::invalid(
                "token_claims.groups",
                format!("'{g}' is not one of none, names, paths"),
            )
        })?;
    }
    if let Some(a) = input.authorization_extension {
        tc.authorization_extension = a;
    }
    name("roles_claim", input.roles_claim, &mut tc.roles_claim)?;
    name("groups_claim", input.groups_claim, &mut tc.groups_claim)?;
    name(
        "authorization_claim",
        input.authorization_claim,
        &mut tc.authorization_claim,
    )?;
    // A claim in use gets its name now (the default is resolved once, so a later change of
    // the issuer does not rename the claims APIs read).
    let mut used = Vec::new();
    if tc.roles {
        tc.roles_claim = Some(tc.roles_claim(issuer));
        used.push(("roles_claim", tc.roles_claim(issuer)));
    }
    if tc.groups != GroupClaim::None {
        tc.groups_claim = Some(tc.groups_claim(issuer));
        used.push(("groups_claim", tc.groups_claim(issuer)));
    }
    if tc.authorization_extension {
        tc.authorization_claim = Some(tc.authorization_claim(issuer));
        used.push(("authorization_claim", tc.authorization_claim(issuer)));
    }
    for (i, (field, n)) in used.iter().enumerate() {
        if used[..i].iter().any(|(_, m)| m == n) {
            return Err(ServiceError::invalid(
                &format!("token_claims.{field}"),
                format!("'{n}' is already used by another claim of this API"),
            ));
        }
        // The extension's top-level claims are named `groups` and `roles`: the others may not be.
        if tc.authorization_extension
            && (n == "groups" || n == "roles")
            && *field != "authorization_claim"
        {
            return Err(ServiceError::invalid(
                &format!("token_claims.{field}"),
                format!("'{n}' is the Authorization Extension's own top-level claim on this API"),
            ));
        }
    }
    Ok(())
}

/// Applies a create/patch body to a record and validates the result (`issuer` resolves the
/// default claim names).
fn apply(rs: &mut ResourceServer, b: ApiInput, issuer: &str) -> Result<()> {
    if let Some(tc) = b.token_claims {
        apply_token_claims(&mut rs.token_claims, tc, issuer)?;
    }
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
            token_claims: Default::default(),
        };
        apply(&mut rs, input, &w.config.issuer)?;
        let rs = w.store.create_resource_server(rs).await?;
        Ok(rs)
    })
    .await
}

/// Changes an API (not its identifier; not the system API).
pub async fn update(w: &Writ, actor: &Actor, id: &str, input: ApiInput) -> Result<ResourceServer> {
    let op = Operation::at("PATCH", "/resource-servers/{id}", id, 200);
    let change = async {
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
        apply(&mut rs, input, &w.config.issuer)?;
        w.store.update_resource_server(&rs).await?;
        w.reload().await?;
        Ok(w.store.get_resource_server(&rs.id).await?)
    };
    w.recorded(actor, op, change).await
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
