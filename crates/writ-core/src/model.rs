//! Domain records and enums, with Auth0's wire names so they serialize as Auth0 does.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// JWS algorithms Writ signs access tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Auth0's access-token dialects. The `*_authz` ones carry a `permissions` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenDialect {
    AccessToken,
    AccessTokenAuthz,
    Rfc9068Profile,
    Rfc9068ProfileAuthz,
}

impl TokenDialect {
    pub fn includes_permissions(self) -> bool {
        matches!(
            self,
            TokenDialect::AccessTokenAuthz | TokenDialect::Rfc9068ProfileAuthz
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenDialect::AccessToken => "access_token",
            TokenDialect::AccessTokenAuthz => "access_token_authz",
            TokenDialect::Rfc9068Profile => "rfc9068_profile",
            TokenDialect::Rfc9068ProfileAuthz => "rfc9068_profile_authz",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            TokenDialect::AccessToken,
            TokenDialect::AccessTokenAuthz,
            TokenDialect::Rfc9068Profile,
            TokenDialect::Rfc9068ProfileAuthz,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// Kinds of application, as Auth0 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    Spa,
    RegularWeb,
    NonInteractive,
    Native,
}

impl AppType {
    pub fn as_str(self) -> &'static str {
        match self {
            AppType::Spa => "spa",
            AppType::RegularWeb => "regular_web",
            AppType::NonInteractive => "non_interactive",
            AppType::Native => "native",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            AppType::Spa,
            AppType::RegularWeb,
            AppType::NonInteractive,
            AppType::Native,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// Public clients cannot keep a secret: they must use PKCE and never authenticate.
    pub fn is_public(self) -> bool {
        matches!(self, AppType::Spa | AppType::Native)
    }
}

/// One entry of an API's permission catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub value: String,
    #[serde(default)]
    pub description: String,
}

/// An API (Auth0: resource server): the audience of access tokens and its permission catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceServer {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub signing_alg: SigningAlg,
    pub token_lifetime: i64,
    pub enforce_policies: bool,
    pub token_dialect: TokenDialect,
    pub allow_offline_access: bool,
    /// True for the built-in Management API, which cannot be changed or deleted.
    pub is_system: bool,
    /// What the API's access tokens carry besides `permissions` (Writ's setting).
    #[serde(default)]
    pub token_claims: TokenClaims,
}

/// How a token names the user's groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupClaim {
    /// No groups claim.
    #[default]
    None,
    /// The names of the user's groups and of every group above them (`["eng", "backend"]`).
    Names,
    /// The full path of each group the user is a member of (`["/eng/backend"]`).
    Paths,
}

impl GroupClaim {
    pub const ALL: [GroupClaim; 3] = [GroupClaim::None, GroupClaim::Names, GroupClaim::Paths];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupClaim::None => "none",
            GroupClaim::Names => "names",
            GroupClaim::Paths => "paths",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// What an API's access tokens carry besides `permissions`: the user's effective role names,
/// their groups, and the Authorization Extension's `{groups, roles, permissions}` object, each
/// under a claim name of the API's choosing. An unset name is the namespaced default
/// (`{issuer}roles`, `{issuer}groups`, `{issuer}authorization`), as Auth0 Actions users write
/// them; plain names such as `roles` are allowed, registered and Writ's own claims are not
/// (see [`crate::claims::RESTRICTED`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// Carry the names of the user's effective roles (direct and through groups).
    #[serde(default)]
    pub roles: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_claim: Option<String>,
    /// Carry the user's groups, by name or by path.
    #[serde(default)]
    pub groups: GroupClaim,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    /// Authorization Extension compatibility for this API: tokens carry
    /// `{groups, roles, permissions}` under `authorization_claim`, plus top-level `groups` and
    /// `roles` claims when the request's scope asks for them, and users read through the
    /// Management API show the same object in `app_metadata.authorization`.
    #[serde(default)]
    pub authorization_extension: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_claim: Option<String>,
}

impl TokenClaims {
    /// Whether tokens for this API need anything beyond permissions (the user's roles or groups).
    pub fn any(&self) -> bool {
        self.roles || self.groups != GroupClaim::None || self.authorization_extension
    }

    /// The claim names in use, each resolved against `issuer` (which ends in `/`).
    pub fn roles_claim(&self, issuer: &str) -> String {
        claim_name(&self.roles_claim, issuer, "roles")
    }

    pub fn groups_claim(&self, issuer: &str) -> String {
        claim_name(&self.groups_claim, issuer, "groups")
    }

    pub fn authorization_claim(&self, issuer: &str) -> String {
        claim_name(&self.authorization_claim, issuer, "authorization")
    }
}

fn claim_name(set: &Option<String>, issuer: &str, default: &str) -> String {
    match set {
        Some(n) => n.clone(),
        None => format!("{issuer}{default}"),
    }
}

impl ResourceServer {
    pub fn has_scope(&self, value: &str) -> bool {
        self.scopes.iter().any(|s| s.value == value)
    }
}

/// A role: a named bundle of permissions across APIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// A permission: one scope of one API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Permission {
    pub resource_server_identifier: String,
    pub permission_name: String,
}

/// A user of the built-in database connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub blocked: bool,
    pub app_metadata: Map<String, Value>,
    pub user_metadata: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
    /// Raised by every change to the user's effective permissions (see Freshness): the newest
    /// of the user's own version and their groups', each the `seq` of the authz event that set
    /// it (0 for a user nothing has changed yet).
    pub authz_version: i64,
}

/// An application that obtains tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub app_type: AppType,
    pub grant_types: Vec<String>,
    pub callbacks: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub web_origins: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    /// SHA-256 of the secret, hex; `None` for public clients.
    pub secret_hash: Option<String>,
    pub is_first_party: bool,
    pub refresh_rotation: bool,
    pub refresh_leeway: i64,
    pub refresh_idle_lifetime: i64,
    pub refresh_absolute_lifetime: i64,
    pub created_at: String,
    /// Raised by every change to what the client's own (machine) tokens may carry: its client
    /// grants, its secret, its deletion (see Freshness); the `seq` of the authz event that set
    /// it. Carried as `authz_ver`.
    #[serde(default)]
    pub authz_version: i64,
}

impl Client {
    /// A client with nothing but its id, its type, its creation time and Writ's defaults:
    /// first party, public (no secret), rotating refresh tokens (15 days idle, 30 days at most).
    pub fn new(client_id: String, app_type: AppType, created_at: String) -> Client {
        Client {
            client_id,
            name: String::new(),
            description: String::new(),
            app_type,
            grant_types: vec![],
            callbacks: vec![],
            allowed_origins: vec![],
            web_origins: vec![],
            allowed_logout_urls: vec![],
            secret_hash: None,
            is_first_party: true,
            refresh_rotation: true,
            refresh_leeway: 0,
            refresh_idle_lifetime: 1_296_000,
            refresh_absolute_lifetime: 2_592_000,
            created_at,
            authz_version: 0,
        }
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

/// Machine-to-machine authorization: which scopes of which API a client may request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
}

/// Lifecycle of a signing key: published before it signs, kept after until its tokens expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Next,
    Current,
    Previous,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Previous => "previous",
            KeyState::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            KeyState::Next,
            KeyState::Current,
            KeyState::Previous,
            KeyState::Revoked,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A signing key record. `private_der` is PKCS#8 DER (decrypted by the store's caller).
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub state: KeyState,
    pub private_der: Vec<u8>,
    pub public_jwk: Value,
    pub created_at: String,
    pub current_since: Option<String>,
    pub current_until: Option<String>,
    pub revoked_at: Option<String>,
    /// Unix time after which no token it signed can be valid; retired keys leave the JWKS then.
    pub retire_after: Option<i64>,
}

/// The Management API's own scopes (Auth0's names), granted to the bootstrap client.
pub const MANAGEMENT_SCOPES: &[&str] = &[
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "create:user_tickets",
    "read:authentication_methods",
    "delete:authentication_methods",
    "read:roles",
    "create:roles",
    "update:roles",
    "delete:roles",
    "read:groups",
    "create:groups",
    "update:groups",
    "delete:groups",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:signing_keys",
    "create:signing_keys",
    "update:signing_keys",
    "read:actions",
    "create:actions",
    "update:actions",
    "delete:actions",
    "read:authz_events",
    "read:logs",
    "read:grants",
    "delete:grants",
    "manage:ssf_streams",
];

/// Auth0's name of the built-in database connection.
pub const DEFAULT_CONNECTION: &str = "Username-Password-Authentication";

/// A group of users (Keycloak-style): its members inherit its roles and those of every
/// ancestor. Groups form a tree through `parent_id` (no cycles); a group's path is the names
/// from the root down, `/eng/backend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// `grp_…`.
    pub id: String,
    /// Unique among its siblings; without `/` (the path separator).
    pub name: String,
    pub description: String,
    /// The parent group; `None` for a top-level group.
    pub parent_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Where a user's permission comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Granted to the user directly.
    Direct,
    /// Granted to a role the user has.
    Role { id: String, name: String },
    /// Granted to a role held by the group at `path` (`/eng/backend`), which the user is a
    /// member of or a member of a descendant of.
    Group {
        path: String,
        role_id: String,
        role_name: String,
    },
}

/// How a user holds one of their effective roles: assigned directly, or through the group at
/// a path (the group holding the role: the user is a member of it or of a descendant).
/// Serialized as `"direct"` or the path (`"/eng/backend"`), which always starts with `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleSource {
    Direct,
    Group(String),
}

impl Serialize for RoleSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RoleSource::Direct => s.serialize_str("direct"),
            RoleSource::Group(path) => s.serialize_str(path),
        }
    }
}

impl<'de> Deserialize<'de> for RoleSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(if s == "direct" {
            RoleSource::Direct
        } else {
            RoleSource::Group(s)
        })
    }
}

/// One of a user's effective roles (direct ∪ through groups and their ancestors) with every
/// way the user holds it: direct first, then group paths in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveRole {
    pub id: String,
    pub name: String,
    pub description: String,
    pub sources: Vec<RoleSource>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_sources_are_direct_or_a_group_path() {
        let r = EffectiveRole {
            id: "rol_1".into(),
            name: "editor".into(),
            description: String::new(),
            sources: vec![RoleSource::Direct, RoleSource::Group("/eng/backend".into())],
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["sources"], serde_json::json!(["direct", "/eng/backend"]));
        assert_eq!(serde_json::from_value::<EffectiveRole>(v).unwrap(), r);
    }
}

/// A hook in Auth0 Actions' shape: JavaScript run at one trigger (`post-login` or
/// `credentials-exchange`), or a signed webhook Writ POSTs the event to. `code` is the draft;
/// `deployed_code` what runs, set by a deploy, which also raises `version` (the workers'
/// compile cache key). `secrets` is a JSON object of name → value sealed with the
/// key-encryption key (the store never sees it in clear).
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub id: String,
    pub name: String,
    pub trigger: String,
    pub code: String,
    pub secrets: Vec<u8>,
    pub version: i64,
    pub deployed_code: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The draft webhook URL: set, the action is a webhook (`runtime: "webhook"`).
    pub url: Option<String>,
    /// The webhook URL that runs, set by a deploy; `None` runs `deployed_code` instead.
    pub deployed_url: Option<String>,
    /// The number of writes to the row; [`Action`] updates are conditional on it (see
    /// `ActionStore::replace_action`).
    pub revision: i64,
}

/// One action bound to a trigger, in run order.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionBinding {
    pub action_id: String,
    pub display_name: String,
}
