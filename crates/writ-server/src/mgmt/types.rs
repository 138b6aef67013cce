//! The Management API's request and response bodies as Rust types: the handlers build and
//! parse exactly these, the OpenAPI document describes them (`ToSchema`), and the management
//! CLI (`writ …`) uses them to talk to the server.
//!
//! Conversions from the domain and store types live here too, so each answer has one shape.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use writ_service::signing_keys::EffectiveSigning;

/// Auth0's error body, returned with every 4xx/5xx status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "statusCode": 403,
    "error": "Forbidden",
    "message": "Insufficient scope, expected any of: read:users",
    "errorCode": "insufficient_scope"
}))]
pub struct Error {
    /// The HTTP status code, repeated.
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    /// The status code's reason phrase, e.g. `Bad Request`.
    pub error: String,
    /// A human-readable explanation (for validation errors: which property and why).
    pub message: String,
    /// A stable machine-readable code: `invalid_body`, `invalid_query_string`, `invalid_token`,
    /// `missing_token`, `insufficient_scope`, `inexistent_resource`, `conflict`,
    /// `operation_not_supported`, `invalid_key_state`, `internal_error`.
    #[serde(rename = "errorCode")]
    pub error_code: String,
}

/// An empty JSON object, `{}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct EmptyObject {}

// ---------------------------------------------------------------------------------------------
// Query parameters (paging is `mgmt::Paging`)

/// Role filter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoleFilter {
    /// Only roles whose name contains this text (case-insensitive).
    pub name_filter: Option<String>,
}

/// Auth0's filters of the actions list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActionFilter {
    /// Only actions for this trigger (`post-login`, `credentials-exchange`).
    #[serde(rename = "triggerId")]
    #[param(rename = "triggerId")]
    pub trigger_id: Option<String>,
    /// Only the action with exactly this name.
    #[serde(rename = "actionName")]
    #[param(rename = "actionName")]
    pub action_name: Option<String>,
    /// Only actions deployed (`true`) or never deployed (`false`).
    pub deployed: Option<bool>,
    /// Only actions installed from a marketplace integration (`true`: none here).
    pub installed: Option<bool>,
}

/// User search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Only users whose email or name contains this text (case-insensitive substring match).
    pub q: Option<String>,
    /// Accepted for Auth0 compatibility (`v3`) and ignored.
    pub search_engine: Option<String>,
}

/// Lookup by email.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailQuery {
    /// The email address (compared case-insensitively).
    #[param(value_type = String, required = true)]
    pub email: Option<String>,
}

/// Client grant filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantFilter {
    /// Only grants of this client.
    pub client_id: Option<String>,
    /// Only grants for this API identifier.
    pub audience: Option<String>,
}

/// Consent (user grant) filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserGrantFilter {
    /// Only consents of this user.
    pub user_id: Option<String>,
    /// Only consents to this client.
    pub client_id: Option<String>,
    /// Only consents for this API identifier.
    pub audience: Option<String>,
}

/// Log search parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogSearch {
    /// A search (see the operation's description), e.g.
    /// `type:(s OR fp) AND date:[2026-01-01 TO *]`.
    pub q: Option<String>,
    /// The same as `q`, under the name Auth0's generated SDKs send.
    pub search: Option<String>,
    /// `date:-1` (newest first, the default) or `date:1`.
    pub sort: Option<String>,
    /// Comma-separated fields to include (or, with `include_fields=false`, to leave out).
    pub fields: Option<String>,
    /// Whether `fields` lists the fields to include (default `true`).
    pub include_fields: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Shared enums

/// A signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SigningAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

impl From<writ_core::SigningAlg> for SigningAlgorithm {
    fn from(a: writ_core::SigningAlg) -> Self {
        match a {
            writ_core::SigningAlg::RS256 => SigningAlgorithm::RS256,
            writ_core::SigningAlg::ES256 => SigningAlgorithm::ES256,
            writ_core::SigningAlg::EdDSA => SigningAlgorithm::EdDSA,
        }
    }
}

/// How access tokens for an API carry permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenDialect {
    AccessToken,
    AccessTokenAuthz,
    Rfc9068Profile,
    Rfc9068ProfileAuthz,
}

impl From<writ_core::TokenDialect> for TokenDialect {
    fn from(d: writ_core::TokenDialect) -> Self {
        match d {
            writ_core::TokenDialect::AccessToken => TokenDialect::AccessToken,
            writ_core::TokenDialect::AccessTokenAuthz => TokenDialect::AccessTokenAuthz,
            writ_core::TokenDialect::Rfc9068Profile => TokenDialect::Rfc9068Profile,
            writ_core::TokenDialect::Rfc9068ProfileAuthz => TokenDialect::Rfc9068ProfileAuthz,
        }
    }
}

/// The kind of application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    Spa,
    RegularWeb,
    NonInteractive,
    Native,
}

impl From<writ_core::AppType> for AppType {
    fn from(t: writ_core::AppType) -> Self {
        match t {
            writ_core::AppType::Spa => AppType::Spa,
            writ_core::AppType::RegularWeb => AppType::RegularWeb,
            writ_core::AppType::NonInteractive => AppType::NonInteractive,
            writ_core::AppType::Native => AppType::Native,
        }
    }
}

/// How a client authenticates at the token endpoint. Responses say `none` or `client_secret_post`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    None,
    ClientSecretPost,
    ClientSecretBasic,
}

/// An OAuth grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum GrantType {
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    #[serde(rename = "refresh_token")]
    RefreshToken,
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    #[serde(rename = "password")]
    Password,
    #[serde(rename = "http://auth0.com/oauth/grant-type/password-realm")]
    PasswordRealm,
    #[serde(rename = "http://auth0.com/oauth/grant-type/mfa-otp")]
    MfaOtp,
    #[serde(rename = "http://auth0.com/oauth/grant-type/mfa-recovery-code")]
    MfaRecoveryCode,
}

/// Whether refresh tokens rotate on use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RotationType {
    Rotating,
    NonRotating,
}

// ---------------------------------------------------------------------------------------------
// Resource servers (APIs)

/// A permission an API defines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Scope {
    /// The permission name, e.g. `read:messages`: 1 to 280 printable ASCII characters without
    /// spaces, quotes or backslashes.
    pub value: String,
    /// What the permission allows.
    #[serde(default)]
    pub description: String,
}

impl From<&writ_core::Scope> for Scope {
    fn from(s: &writ_core::Scope) -> Self {
        Scope {
            value: s.value.clone(),
            description: s.description.clone(),
        }
    }
}

impl From<Scope> for writ_core::Scope {
    fn from(s: Scope) -> Self {
        writ_core::Scope {
            value: s.value,
            description: s.description,
        }
    }
}

/// An API (Auth0: resource server): the audience of access tokens and its permission catalog.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResourceServer {
    pub id: String,
    pub name: String,
    /// The audience (`aud`) of its access tokens.
    pub identifier: String,
    pub scopes: Vec<Scope>,
    /// The algorithm asked for the API's access tokens.
    pub signing_alg: SigningAlgorithm,
    /// Read-only (a Writ field): the algorithm that signs the API's access tokens now. It is
    /// `RS256` for a while after `signing_alg` became an algorithm no other API used (ES256 or
    /// EdDSA): that algorithm's key has just been published in the JWKS, and verifiers that
    /// cache the JWKS must be able to have it before a token it signed reaches them.
    pub signing_alg_effective: SigningAlgorithm,
    /// Read-only (a Writ field): while `signing_alg_effective` differs from `signing_alg`,
    /// when `signing_alg` takes over (RFC 3339, UTC); `null` otherwise.
    #[schema(required = true, format = DateTime)]
    pub signing_alg_effective_until: Option<String>,
    /// Access-token lifetime in seconds.
    pub token_lifetime: i64,
    /// `min(token_lifetime, 7200)`.
    pub token_lifetime_for_web: i64,
    /// RBAC: whether tokens carry only the permissions the subject holds.
    pub enforce_policies: bool,
    pub token_dialect: TokenDialect,
    pub allow_offline_access: bool,
    /// Always `true`.
    pub skip_consent_for_verifiable_first_party_clients: bool,
    /// `true` for the built-in Management API, which cannot be changed or deleted.
    pub is_system: bool,
    /// What access tokens for this API carry besides `permissions` (a Writ setting).
    pub token_claims: TokenClaims,
}

/// How tokens name the user's groups: `none`; `names`, the names of the user's groups and
/// of every group above them; `paths`, the full path of each group the user is in (`/eng/backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupClaim {
    None,
    Names,
    Paths,
}

impl From<writ_core::GroupClaim> for GroupClaim {
    fn from(g: writ_core::GroupClaim) -> Self {
        match g {
            writ_core::GroupClaim::None => GroupClaim::None,
            writ_core::GroupClaim::Names => GroupClaim::Names,
            writ_core::GroupClaim::Paths => GroupClaim::Paths,
        }
    }
}

/// What an API's access tokens carry besides `permissions`. A claim name is set when its
/// claim is on (default: the issuer followed by `roles`, `groups` or `authorization`, such as
/// `https://writ.example/roles`), `null` otherwise.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenClaims {
    /// The names of the user's effective roles (direct and through groups).
    pub roles: bool,
    #[schema(required = true)]
    pub roles_claim: Option<String>,
    pub groups: GroupClaim,
    #[schema(required = true)]
    pub groups_claim: Option<String>,
    /// Authorization Extension compatibility: tokens carry `{groups, roles, permissions}` under
    /// `authorization_claim` and top-level `groups` and `roles` claims when the request's
    /// scope asks for `groups` or `roles`; the Management API shows users'
    /// `app_metadata.authorization`.
    pub authorization_extension: bool,
    #[schema(required = true)]
    pub authorization_claim: Option<String>,
}

impl From<&writ_core::TokenClaims> for TokenClaims {
    fn from(t: &writ_core::TokenClaims) -> Self {
        TokenClaims {
            roles: t.roles,
            roles_claim: t.roles_claim.clone(),
            groups: t.groups.into(),
            groups_claim: t.groups_claim.clone(),
            authorization_extension: t.authorization_extension,
            authorization_claim: t.authorization_claim.clone(),
        }
    }
}

/// Changes to what an API's access tokens carry (absent: unchanged; a claim name `null`
/// returns to its default). Claim names: 1 to 255 characters, not a registered JWT or OIDC
/// claim nor one Writ sets (`permissions`, `authz_ver`, `scope`, …).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenClaimsRequest {
    pub roles: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub roles_claim: Option<Option<String>>,
    #[schema(value_type = Option<GroupClaim>)]
    pub groups: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub groups_claim: Option<Option<String>>,
    pub authorization_extension: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub authorization_claim: Option<Option<String>>,
}

/// An API with what signs its tokens now ([`writ_service::Writ::effective_signing`]).
impl From<&(writ_core::ResourceServer, EffectiveSigning)> for ResourceServer {
    fn from((rs, signing): &(writ_core::ResourceServer, EffectiveSigning)) -> Self {
        ResourceServer {
            signing_alg_effective: signing.alg.into(),
            signing_alg_effective_until: signing.until.map(writ_service::time::rfc3339),
            id: rs.id.clone(),
            name: rs.name.clone(),
            identifier: rs.identifier.clone(),
            scopes: rs.scopes.iter().map(Scope::from).collect(),
            signing_alg: rs.signing_alg.into(),
            token_lifetime: rs.token_lifetime,
            token_lifetime_for_web: rs.token_lifetime.min(7200),
            enforce_policies: rs.enforce_policies,
            token_dialect: rs.token_dialect.into(),
            allow_offline_access: rs.allow_offline_access,
            skip_consent_for_verifiable_first_party_clients: true,
            is_system: rs.is_system,
            token_claims: (&rs.token_claims).into(),
        }
    }
}

/// An API to create, or the properties of one to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerRequest {
    /// The audience of the API's tokens, usually a URL: 1 to 600 characters without whitespace.
    /// Required on create; cannot change.
    pub identifier: Option<String>,
    /// Display name, at most 200 characters (default: the identifier).
    pub name: Option<String>,
    /// The permission catalog (at most 1000, unique values); replaces the current one.
    pub scopes: Option<Vec<Scope>>,
    /// Default `RS256`.
    #[schema(value_type = Option<SigningAlgorithm>)]
    pub signing_alg: Option<String>,
    /// Access-token lifetime in seconds, 1 to 2592000 (default 86400).
    #[schema(minimum = 1, maximum = 2_592_000)]
    pub token_lifetime: Option<i64>,
    /// Accepted for Auth0 compatibility and ignored (it is `min(token_lifetime, 7200)`).
    pub token_lifetime_for_web: Option<i64>,
    /// RBAC: tokens carry only the permissions the subject holds (default `false`).
    pub enforce_policies: Option<bool>,
    /// Default `access_token`; the `*_authz` dialects require `enforce_policies`.
    #[schema(value_type = Option<TokenDialect>)]
    pub token_dialect: Option<String>,
    /// Whether clients may obtain refresh tokens for this API (default `false`).
    pub allow_offline_access: Option<bool>,
    /// Accepted for Auth0 compatibility and ignored.
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
    /// What access tokens carry besides `permissions`: roles, groups, the Authorization
    /// Extension's object (Writ).
    pub token_claims: Option<TokenClaimsRequest>,
}

// ---------------------------------------------------------------------------------------------
// Roles and permissions

/// A role: a named set of permissions assigned to users.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
}

impl From<&writ_core::Role> for Role {
    fn from(r: &writ_core::Role) -> Self {
        Role {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
        }
    }
}

/// A role to create, or the properties of one to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// Unique name, at most 50 characters. Required on create.
    pub name: Option<String>,
    /// At most 140 characters (default empty).
    #[schema(max_length = 140)]
    pub description: Option<String>,
}

/// A permission held by a role or a user, with its API's display data.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Permission {
    pub permission_name: String,
    pub description: String,
    pub resource_server_name: String,
    pub resource_server_identifier: String,
}

impl From<&writ_store::PermissionInfo> for Permission {
    fn from(p: &writ_store::PermissionInfo) -> Self {
        Permission {
            permission_name: p.permission_name.clone(),
            description: p.description.clone(),
            resource_server_name: p.resource_server_name.clone(),
            resource_server_identifier: p.resource_server_identifier.clone(),
        }
    }
}

/// Where one of a user's permissions comes from, as Auth0 shows it: `DIRECT` (granted to the
/// user; no id or name) or `ROLE` (the role's id and name). A role held through a group also
/// names the group's path (`group_path`, Writ's addition).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PermissionSource {
    pub source_id: String,
    pub source_name: String,
    /// `DIRECT` or `ROLE`.
    pub source_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_path: Option<String>,
}

impl From<&writ_core::Source> for PermissionSource {
    fn from(s: &writ_core::Source) -> Self {
        let role = |id: &str, name: &str, group: Option<&str>| PermissionSource {
            source_id: id.to_owned(),
            source_name: name.to_owned(),
            source_type: "ROLE".into(),
            group_path: group.map(str::to_owned),
        };
        match s {
            writ_core::Source::Direct => PermissionSource {
                source_id: String::new(),
                source_name: String::new(),
                source_type: "DIRECT".into(),
                group_path: None,
            },
            writ_core::Source::Role { id, name } => role(id, name, None),
            writ_core::Source::Group {
                path,
                role_id,
                role_name,
            } => role(role_id, role_name, Some(path)),
        }
    }
}

/// One of a user's effective permissions with its sources (`GET /users/{id}/permissions`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserPermission {
    pub permission_name: String,
    pub description: String,
    pub resource_server_name: String,
    pub resource_server_identifier: String,
    pub sources: Vec<PermissionSource>,
}

/// One permission to add or remove: a scope of an API.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PermissionRef {
    /// The API's identifier (audience).
    pub resource_server_identifier: String,
    /// A scope the API defines.
    pub permission_name: String,
}

impl From<PermissionRef> for writ_core::Permission {
    fn from(p: PermissionRef) -> Self {
        writ_core::Permission {
            resource_server_identifier: p.resource_server_identifier,
            permission_name: p.permission_name,
        }
    }
}

/// Permissions to add or remove.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsRequest {
    #[schema(min_items = 1)]
    pub permissions: Vec<PermissionRef>,
}

impl PermissionsRequest {
    /// The permissions as the use cases take them.
    pub fn into_permissions(self) -> Vec<writ_core::Permission> {
        self.permissions.into_iter().map(Into::into).collect()
    }
}

/// A user as listed under a role.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleUser {
    pub user_id: String,
    pub email: String,
    /// `null` when none was set.
    #[schema(required = true)]
    pub name: Option<String>,
}

impl From<&writ_store::UserSummary> for RoleUser {
    fn from(u: &writ_store::UserSummary) -> Self {
        RoleUser {
            user_id: u.user_id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
        }
    }
}

/// Users to assign a role to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleUsersRequest {
    /// User ids.
    #[schema(min_items = 1)]
    pub users: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Users

/// The user's identity in the built-in database connection.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    /// Always `Username-Password-Authentication`.
    pub connection: String,
    /// Always `auth0`.
    pub provider: String,
    pub user_id: String,
    /// Always `false`.
    #[serde(rename = "isSocial")]
    pub is_social: bool,
}

/// A user of the built-in database connection.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub email_verified: bool,
    /// The name, or the email when none was set.
    pub name: String,
    /// The email's local part.
    pub nickname: String,
    pub blocked: bool,
    #[schema(value_type = Object)]
    pub app_metadata: Value,
    #[schema(value_type = Object)]
    pub user_metadata: Value,
    /// RFC 3339 timestamp.
    pub created_at: String,
    /// RFC 3339 timestamp.
    pub updated_at: String,
    pub identities: Vec<Identity>,
}

impl From<&writ_core::User> for User {
    fn from(u: &writ_core::User) -> Self {
        User {
            user_id: u.user_id.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone().unwrap_or_else(|| u.email.clone()),
            nickname: u.email.split('@').next().unwrap_or_default().to_owned(),
            blocked: u.blocked,
            app_metadata: Value::Object(u.app_metadata.clone()),
            user_metadata: Value::Object(u.user_metadata.clone()),
            created_at: u.created_at.clone(),
            updated_at: u.updated_at.clone(),
            identities: vec![Identity {
                connection: writ_core::DEFAULT_CONNECTION.to_owned(),
                provider: "auth0".to_owned(),
                user_id: u.user_id.clone(),
                is_social: false,
            }],
        }
    }
}

/// A user to create, or the properties of one to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    /// Unique email address (stored lowercased). Required on create.
    pub email: Option<String>,
    /// At least 8 characters, at most 1024 bytes. Required on create.
    pub password: Option<String>,
    /// Must be `Username-Password-Authentication` (the built-in connection). Required on create.
    pub connection: Option<String>,
    /// Display name, at most 300 characters.
    pub name: Option<String>,
    /// Blocked users cannot obtain tokens (default `false`).
    pub blocked: Option<bool>,
    /// Default `false`.
    pub email_verified: Option<bool>,
    /// Accepted for Auth0 compatibility and ignored (Writ sends no email).
    pub verify_email: Option<bool>,
    /// Data the user cannot change (at most 16 KiB as JSON).
    #[schema(value_type = Option<Object>)]
    pub app_metadata: Option<serde_json::Map<String, Value>>,
    /// Data the user can change (at most 16 KiB as JSON).
    #[schema(value_type = Option<Object>)]
    pub user_metadata: Option<serde_json::Map<String, Value>>,
}

/// Roles to assign or remove.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRolesRequest {
    /// Role ids.
    #[schema(min_items = 1)]
    pub roles: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Clients

/// ID-token settings (read-only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JwtConfiguration {
    /// Always `RS256`.
    pub alg: String,
    pub lifetime_in_seconds: i64,
}

/// Refresh-token settings of a client.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefreshToken {
    pub rotation_type: RotationType,
    /// Always `expiring`.
    pub expiration_type: String,
    /// Seconds a rotated token stays usable (0 to 60).
    pub leeway: i64,
    /// Seconds a refresh token lives unused.
    pub idle_token_lifetime: i64,
    /// Seconds a refresh token family lives at most.
    pub token_lifetime: i64,
    /// Always `false`.
    pub infinite_idle_token_lifetime: bool,
    /// Always `false`.
    pub infinite_token_lifetime: bool,
}

/// An application that obtains tokens.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub app_type: AppType,
    #[schema(value_type = Vec<GrantType>)]
    pub grant_types: Vec<String>,
    pub callbacks: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub web_origins: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    pub is_first_party: bool,
    /// Always `true`.
    pub oidc_conformant: bool,
    /// `client_secret_post` for confidential clients, `none` for public ones.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub jwt_configuration: JwtConfiguration,
    pub refresh_token: RefreshToken,
    /// RFC 3339 timestamp.
    pub created_at: String,
    /// The secret, only in the response that created it (client creation, secret rotation,
    /// or a change from public to confidential). Writ stores only its hash.
    #[schema(nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<&writ_core::Client> for Client {
    /// The client as answered without its secret.
    fn from(c: &writ_core::Client) -> Self {
        Client::new(c, None)
    }
}

impl From<&writ_service::clients::WithSecret> for Client {
    /// The client as answered with the secret a write made (shown this once).
    fn from(w: &writ_service::clients::WithSecret) -> Self {
        Client::new(&w.client, w.secret.as_deref())
    }
}

impl Client {
    /// The client as answered, with its new secret when this answer is the one to show it.
    pub fn new(c: &writ_core::Client, secret: Option<&str>) -> Self {
        Client {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            app_type: c.app_type.into(),
            grant_types: c.grant_types.clone(),
            callbacks: c.callbacks.clone(),
            allowed_origins: c.allowed_origins.clone(),
            web_origins: c.web_origins.clone(),
            allowed_logout_urls: c.allowed_logout_urls.clone(),
            is_first_party: c.is_first_party,
            oidc_conformant: true,
            token_endpoint_auth_method: if c.secret_hash.is_some() {
                TokenEndpointAuthMethod::ClientSecretPost
            } else {
                TokenEndpointAuthMethod::None
            },
            jwt_configuration: JwtConfiguration {
                alg: "RS256".to_owned(),
                lifetime_in_seconds: writ_core::protocol::ID_TOKEN_LIFETIME,
            },
            refresh_token: RefreshToken {
                rotation_type: if c.refresh_rotation {
                    RotationType::Rotating
                } else {
                    RotationType::NonRotating
                },
                expiration_type: "expiring".to_owned(),
                leeway: c.refresh_leeway,
                idle_token_lifetime: c.refresh_idle_lifetime,
                token_lifetime: c.refresh_absolute_lifetime,
                infinite_idle_token_lifetime: false,
                infinite_token_lifetime: false,
            },
            created_at: c.created_at.clone(),
            client_secret: secret.map(str::to_owned),
        }
    }
}

/// Refresh-token settings to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenRequest {
    /// Default `rotating`.
    #[schema(value_type = Option<RotationType>)]
    pub rotation_type: Option<String>,
    /// Accepted for Auth0 compatibility and ignored (always `expiring`).
    pub expiration_type: Option<String>,
    /// Seconds a rotated token stays usable, 0 to 60 (default 0).
    #[schema(minimum = 0, maximum = 60)]
    pub leeway: Option<i64>,
    /// Seconds a refresh token lives unused, 0 to 31557600 (default 1296000).
    #[schema(minimum = 0, maximum = 31_557_600)]
    pub idle_token_lifetime: Option<i64>,
    /// Seconds a refresh token family lives at most, 0 to 31557600 (default 2592000).
    #[schema(minimum = 0, maximum = 31_557_600)]
    pub token_lifetime: Option<i64>,
    /// Accepted for Auth0 compatibility and ignored.
    pub infinite_idle_token_lifetime: Option<bool>,
    /// Accepted for Auth0 compatibility and ignored.
    pub infinite_token_lifetime: Option<bool>,
}

/// A client to create, or the properties of one to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRequest {
    /// Display name, at most 200 characters. Required on create.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Default `regular_web`.
    #[schema(value_type = Option<AppType>)]
    pub app_type: Option<String>,
    /// Default by `app_type`: `spa` and `native` get `authorization_code` and `refresh_token`,
    /// `non_interactive` gets `client_credentials`, `regular_web` gets all three.
    /// `client_credentials` requires a confidential client.
    #[schema(value_type = Option<Vec<GrantType>>)]
    pub grant_types: Option<Vec<String>>,
    /// Allowed redirect URLs: absolute, without fragment.
    pub callbacks: Option<Vec<String>>,
    /// Allowed CORS origins: `scheme://host[:port]` without path.
    pub allowed_origins: Option<Vec<String>>,
    /// Allowed web origins: `scheme://host[:port]` without path.
    pub web_origins: Option<Vec<String>>,
    /// Allowed post-logout redirect URLs: absolute, without fragment.
    pub allowed_logout_urls: Option<Vec<String>>,
    /// Default `true`.
    pub is_first_party: Option<bool>,
    /// Accepted for Auth0 compatibility and ignored (always `true`).
    pub oidc_conformant: Option<bool>,
    /// `none` makes a public client (no secret); `client_secret_post` or `client_secret_basic`
    /// a confidential one.
    #[schema(value_type = Option<TokenEndpointAuthMethod>)]
    pub token_endpoint_auth_method: Option<String>,
    pub refresh_token: Option<RefreshTokenRequest>,
}

/// Permission for a client to obtain tokens for an API with `client_credentials`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: String,
    /// The API's identifier.
    pub audience: String,
    /// The scopes the client may request.
    pub scope: Vec<String>,
}

impl From<&writ_core::ClientGrant> for ClientGrant {
    fn from(g: &writ_core::ClientGrant) -> Self {
        ClientGrant {
            id: g.id.clone(),
            client_id: g.client_id.clone(),
            audience: g.audience.clone(),
            scope: g.scope.clone(),
        }
    }
}

/// A client grant to create, or its new scopes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientGrantRequest {
    /// The confidential client. Required on create; cannot change.
    pub client_id: Option<String>,
    /// The API's identifier. Required on create; cannot change.
    pub audience: Option<String>,
    /// Scopes the API defines. Always required.
    pub scope: Option<Vec<String>>,
}

/// A user's consent to a third-party client for one API (Auth0: a grant).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserGrant {
    pub id: String,
    /// The client the user consented to.
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub user_id: String,
    /// The API's identifier (`{issuer}userinfo` for OpenID scopes alone).
    pub audience: String,
    /// The scopes consented to.
    pub scope: Vec<String>,
}

impl From<&writ_store::Consent> for UserGrant {
    fn from(c: &writ_store::Consent) -> Self {
        UserGrant {
            id: c.id.clone(),
            client_id: c.client_id.clone(),
            user_id: c.user_id.clone(),
            audience: c.audience.clone(),
            scope: c.scope.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signing keys

/// A signing key and its place in the rotation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlgorithm,
    /// Signs new tokens.
    pub current: bool,
    /// Published, signs after the next rotation.
    pub next: bool,
    /// Rotated out; published until the tokens it signed expire.
    pub previous: bool,
    pub revoked: bool,
    /// When it became current (RFC 3339), if it has.
    #[schema(required = true)]
    pub current_since: Option<String>,
    /// When it stopped being current (RFC 3339), if it has.
    #[schema(required = true)]
    pub current_until: Option<String>,
    /// When it was revoked (RFC 3339), if it was.
    #[schema(required = true)]
    pub revoked_at: Option<String>,
    /// The key's self-signed certificate, PEM (as Auth0's `cert`; `null` only if it could
    /// not be made).
    #[schema(required = true)]
    pub cert: Option<String>,
    /// The certificate as PKCS #7, PEM.
    #[schema(required = true)]
    pub pkcs7: Option<String>,
    /// SHA-1 of the certificate, upper-case hex in colon-separated pairs.
    #[schema(required = true)]
    pub fingerprint: Option<String>,
    /// SHA-1 of the certificate, lower-case hex (Auth0's `thumbprint`).
    #[schema(required = true)]
    pub thumbprint: Option<String>,
    /// The public key as a JWK.
    #[schema(value_type = Object)]
    pub jwk: Value,
}

impl SigningKey {
    /// The key as the Management API shows it, with its certificate when there is one.
    pub fn new(
        k: &writ_core::SigningKey,
        cert: Option<&writ_service::certificates::KeyCertificate>,
    ) -> Self {
        use writ_core::KeyState;
        SigningKey {
            kid: k.kid.clone(),
            alg: k.alg.into(),
            current: k.state == KeyState::Current,
            next: k.state == KeyState::Next,
            previous: k.state == KeyState::Previous,
            revoked: k.state == KeyState::Revoked,
            current_since: k.current_since.clone(),
            current_until: k.current_until.clone(),
            revoked_at: k.revoked_at.clone(),
            cert: cert.map(|c| c.cert.clone()),
            pkcs7: cert.map(|c| c.pkcs7.clone()),
            fingerprint: cert.map(|c| c.fingerprint.clone()),
            thumbprint: cert.map(|c| c.thumbprint.clone()),
            jwk: k.public_jwk.clone(),
        }
    }
}

/// The result of a rotation (Auth0's `{cert, kid}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RotatedKey {
    /// The new current RS256 key's certificate, PEM.
    #[schema(required = true)]
    pub cert: Option<String>,
    /// The new current RS256 key.
    #[schema(required = true)]
    pub kid: Option<String>,
}

/// The result of a revocation (Auth0's `{cert, kid}`, and the revocation itself).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevokedKey {
    /// The revoked key's certificate, PEM.
    #[schema(required = true)]
    pub cert: Option<String>,
    pub kid: String,
    /// Always `true`.
    pub revoked: bool,
    /// RFC 3339 timestamp.
    #[schema(required = true)]
    pub revoked_at: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Jobs

/// The counts of a finished import: each user is exactly one of inserted, updated,
/// skipped, failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct JobSummary {
    pub total: u64,
    pub inserted: u64,
    pub updated: u64,
    /// Existing users (`DUPLICATED_USER`, or `UNCHANGED` with upsert) and repeated emails.
    pub skipped: u64,
    pub failed: u64,
}

impl From<&writ_service::imports::Summary> for JobSummary {
    fn from(s: &writ_service::imports::Summary) -> Self {
        JobSummary {
            total: s.total as u64,
            inserted: s.inserted as u64,
            updated: s.updated as u64,
            skipped: s.skipped as u64,
            failed: s.failed as u64,
        }
    }
}

/// A users-import job (Auth0's job object). Writ's jobs are finished when answered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// Always `users_import`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `completed`.
    pub status: String,
    /// `job_` and 16 letters or digits.
    pub id: String,
    /// `con_writdatabase0001`.
    pub connection_id: String,
    /// `Username-Password-Authentication`.
    pub connection: String,
    pub upsert: bool,
    pub send_completion_email: bool,
    /// The `external_id` of the request, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// RFC 3339 timestamp.
    pub created_at: String,
    /// Always 100.
    pub percentage_done: u8,
    /// Always 0.
    pub time_left_seconds: u32,
    pub summary: JobSummary,
}

/// Why a user was skipped or failed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobErrorDetail {
    /// For example `DUPLICATED_USER`, `UNCHANGED`, `DUPLICATED_IN_FILE`, `INVALID_TYPE`,
    /// `INVALID_FORMAT`, `OBJECT_MISSING_REQUIRED_PROPERTY`, `OBJECT_ADDITIONAL_PROPERTIES`,
    /// `INVALID_PASSWORD_HASH`, `UNSUPPORTED_ALGORITHM`.
    pub code: String,
    pub message: String,
    /// JSON pointer into the user, e.g. `#/email`.
    pub path: String,
}

/// A user that was skipped or failed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobError {
    /// The user as submitted, without its password hash.
    pub user: Value,
    pub errors: Vec<JobErrorDetail>,
    /// The user's position in the file, from 0.
    pub index: u64,
    /// `skipped` or `failed`.
    pub outcome: String,
}

/// The users a job skipped or failed, or (when none) the job itself.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum JobErrors {
    Errors(Vec<JobError>),
    Job(Job),
}

/// The multipart form of `POST /api/v2/jobs/users-imports`.
// Read field by field by the handler (`jobs::read_form`); this type describes it.
#[derive(ToSchema)]
pub struct UsersImportRequest {
    /// The users file: a JSON array of users in Auth0's bulk-import format (at most 256 KiB
    /// per request; split bigger files).
    #[schema(value_type = String, format = Binary)]
    pub users: Vec<u8>,
    /// `con_writdatabase0001` or `Username-Password-Authentication`: Writ's one database
    /// connection.
    pub connection_id: String,
    /// Update users whose email exists (default `false`: skip them).
    pub upsert: Option<bool>,
    /// Echoed in the job.
    pub external_id: Option<String>,
    /// Accepted for Auth0 compatibility and ignored (Writ sends no email).
    pub send_completion_email: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Logs

/// One audit log entry (Auth0's log event). Optional fields are left out when unknown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogEvent {
    /// A numeric string that sorts by time.
    pub log_id: String,
    /// RFC 3339 timestamp (UTC, milliseconds).
    pub date: String,
    /// Auth0's event type code: `s`, `f`, `fp`, `fu`, `limit_wc`, `ss`, `slo`, `seacft`,
    /// `feacft`, `ferrt`, `sapi`, `fapi`.
    #[serde(rename = "type")]
    pub log_type: String,
    pub description: String,
    /// The caller's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The application (for Management API entries, the token's `client_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The user the event is about (for Management API entries, the acting admin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The user's email (for failed logins, what was typed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// `Username-Password-Authentication` for login events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// Event-specific data; for `sapi`/`fapi`:
    /// `{request: {method, path, channel}, response: {statusCode, errorCode?}}`.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<&writ_store::LogEntry> for LogEvent {
    fn from(e: &writ_store::LogEntry) -> Self {
        LogEvent {
            log_id: e.log_id.clone(),
            date: e.date.clone(),
            log_type: e.log_type.clone(),
            description: e.description.clone(),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            client_id: e.client_id.clone(),
            client_name: e.client_name.clone(),
            user_id: e.user_id.clone(),
            user_name: e.user_name.clone(),
            connection: e.connection.clone(),
            details: e.details.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lists: a bare array, or with `include_totals=true` a page object.

/// A list answer: its items alone, or a page of them with totals.
pub trait List<T>: Serialize {
    /// Without `include_totals`: the items.
    fn items(items: Vec<T>) -> Self;
    /// With `include_totals=true`: the items of one page with where it starts, its size and
    /// the count in all pages.
    fn page(start: u64, limit: u32, total: i64, items: Vec<T>) -> Self;
    /// The items, whichever the shape.
    fn into_items(self) -> Vec<T>;
}

macro_rules! list {
    ($list:ident, $page:ident, $item:ident, $key:ident, $doc:tt) => {
        list!(
            $list,
            $page,
            $item,
            $key,
            $doc,
            "A page of items with totals (`include_totals=true`)."
        );
    };
    ($list:ident, $page:ident, $item:ident, $key:ident, $doc:tt, $page_doc:tt) => {
        #[doc = $page_doc]
        #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
        pub struct $page {
            /// Offset of the first item.
            pub start: u64,
            /// The page size.
            pub limit: u32,
            /// Items in this page.
            pub length: u64,
            /// Items in all pages.
            pub total: i64,
            pub $key: Vec<$item>,
        }

        #[doc = $doc]
        #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
        #[serde(untagged)]
        pub enum $list {
            /// Without `include_totals`.
            Items(Vec<$item>),
            /// With `include_totals=true`.
            Page($page),
        }

        impl List<$item> for $list {
            fn items(items: Vec<$item>) -> Self {
                $list::Items(items)
            }

            fn page(start: u64, limit: u32, total: i64, items: Vec<$item>) -> Self {
                $list::Page($page {
                    start,
                    limit,
                    length: items.len() as u64,
                    total,
                    $key: items,
                })
            }

            fn into_items(self) -> Vec<$item> {
                match self {
                    $list::Items(items) => items,
                    $list::Page(page) => page.$key,
                }
            }
        }
    };
}

list!(
    ResourceServerList,
    ResourceServerPage,
    ResourceServer,
    resource_servers,
    "A list of APIs."
);
list!(RoleList, RolePage, Role, roles, "A list of roles.");
list!(GroupList, GroupPage, Group, groups, "A list of groups.");
list!(
    UserGroupList,
    UserGroupPage,
    UserGroup,
    groups,
    "The groups a user is a member of."
);
list!(
    GroupMemberList,
    GroupMemberPage,
    RoleUser,
    members,
    "The members of a group."
);
list!(
    PermissionList,
    PermissionPage,
    Permission,
    permissions,
    "A list of permissions."
);
list!(
    UserPermissionList,
    UserPermissionPage,
    UserPermission,
    permissions,
    "A user's effective permissions, each with its sources."
);
list!(
    RoleUserList,
    RoleUserPage,
    RoleUser,
    users,
    "The users holding a role."
);
list!(UserList, UserPage, User, users, "A list of users.");
list!(
    ClientList,
    ClientPage,
    Client,
    clients,
    "A list of clients."
);
list!(
    ClientGrantList,
    ClientGrantPage,
    ClientGrant,
    client_grants,
    "A list of client grants."
);
list!(
    UserGrantList,
    UserGrantPage,
    UserGrant,
    grants,
    "A list of consents (Auth0: grants)."
);
list!(
    LogList,
    LogPage,
    LogEvent,
    logs,
    "A list of log entries.",
    "A page of entries with totals (`include_totals=true`)."
);

// ---------------------------------------------------------------------------------------------
// Groups

/// A group: a node of the group tree. Its members inherit its roles and those of every ancestor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Group {
    /// `grp_…`.
    pub id: String,
    /// Unique among its siblings; without `/`.
    pub name: String,
    pub description: String,
    /// The parent group's id; `null` for a top-level group.
    #[schema(required = true)]
    pub parent_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&writ_core::Group> for Group {
    fn from(g: &writ_core::Group) -> Self {
        Group {
            id: g.id.clone(),
            name: g.name.clone(),
            description: g.description.clone(),
            parent_id: g.parent_id.clone(),
            created_at: g.created_at.clone(),
            updated_at: g.updated_at.clone(),
        }
    }
}

/// A group a user is a member of, with its path (the names from the root down, `/eng/backend`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    #[schema(required = true)]
    pub parent_id: Option<String>,
    pub path: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&writ_store::GroupPath> for UserGroup {
    fn from(g: &writ_store::GroupPath) -> Self {
        let Group {
            id,
            name,
            description,
            parent_id,
            created_at,
            updated_at,
        } = Group::from(&g.group);
        UserGroup {
            id,
            name,
            description,
            parent_id,
            path: g.path.clone(),
            created_at,
            updated_at,
        }
    }
}

/// A present JSON value, `null` included, as `Some` (absent: `None` by `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A group to create, or the properties of one to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    /// Unique among its siblings, at most 255 characters, without `/`. Required on create.
    pub name: Option<String>,
    /// At most 140 characters (default empty).
    #[schema(max_length = 140)]
    pub description: Option<String>,
    /// The parent group's id; `null` makes the group top-level. A move under the group itself
    /// or one of its descendants is refused.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub parent_id: Option<Option<String>>,
}

/// Group filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupFilter {
    /// Only the groups with exactly this name.
    pub name: Option<String>,
    /// Only groups whose name contains this text (case-insensitive).
    pub search: Option<String>,
}

/// Users to add to or remove from a group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMembersRequest {
    /// User ids.
    #[schema(min_items = 1)]
    pub members: Vec<String>,
}

/// Roles to assign to or remove from a group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRolesRequest {
    /// Role ids.
    #[schema(min_items = 1)]
    pub roles: Vec<String>,
}

/// A role a user holds, and every way they hold it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EffectiveRole {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `direct`, or the path of a group the user holds it through (`/eng/backend`: a member of
    /// `backend`, or of a group below it, with the role on `backend` or an ancestor).
    pub sources: Vec<String>,
}

impl From<&writ_core::EffectiveRole> for EffectiveRole {
    fn from(r: &writ_core::EffectiveRole) -> Self {
        EffectiveRole {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            sources: r
                .sources
                .iter()
                .map(|s| match s {
                    writ_core::RoleSource::Direct => "direct".to_owned(),
                    writ_core::RoleSource::Group(path) => path.clone(),
                })
                .collect(),
        }
    }
}

/// One of a user's effective permissions at an API and how the user holds it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EffectivePermission {
    pub resource_server_identifier: String,
    pub permission_name: String,
    pub resource_server_name: String,
    pub description: String,
    /// `direct` (granted to the user) and/or `roles` (through a role, the user's own or one of
    /// their groups').
    pub sources: Vec<String>,
}

/// A page of a user's effective permissions at one API; `next`, when present, is the `from`
/// of the following page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EffectivePermissions {
    pub permissions: Vec<EffectivePermission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The query of `GET /users/{id}/effective-permissions`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EffectivePermissionsQuery {
    /// The API whose permissions to compute (required).
    #[param(min_length = 1, max_length = 600)]
    pub resource_server_identifier: Option<String>,
    /// Where to start: the `next` of the previous page.
    pub from: Option<String>,
    /// Permissions per page (default 50, 1 to 100).
    #[param(minimum = 1, maximum = 100)]
    pub take: Option<u32>,
}

/// A user's effective roles (direct ∪ through groups), by name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EffectiveRoles {
    pub roles: Vec<EffectiveRole>,
}

/// A trigger an action supports (`post-login`, `credentials-exchange`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionTrigger {
    pub id: String,
    /// Auth0's trigger version: `v3` in answers; ignored in requests (Writ has one version of
    /// each trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// An action's secret: `value` is write-only (answers carry names only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionSecret {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `POST /actions/actions` and `PATCH /actions/actions/{id}` (every field optional there).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ActionRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub supported_triggers: Option<Vec<ActionTrigger>>,
    #[serde(default)]
    pub code: Option<String>,
    /// `webhook` makes the action a signed webhook (with `url`); anything else runs `code`.
    #[serde(default)]
    pub runtime: Option<String>,
    /// A webhook action's URL (`runtime: "webhook"`).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub secrets: Option<Vec<ActionSecret>>,
}

/// An action reference in a binding: `{"type": "action_id", "value": "act_…"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BindingRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// One binding of `PATCH /actions/triggers/{triggerId}/bindings`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BindingRequest {
    #[serde(rename = "ref")]
    pub reference: BindingRef,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `PATCH /actions/triggers/{triggerId}/bindings`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BindingsRequest {
    pub bindings: Vec<BindingRequest>,
}

/// `POST /actions/actions/{id}/test`: the event to run the action's draft code against
/// (a sample event of its trigger when absent).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ActionTestRequest {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Option<serde_json::Value>,
}

/// An action's secret as answered: its name only (values are write-only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionSecretName {
    pub name: String,
}

/// The version of an action that runs, set by its last deploy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionDeployedVersion {
    /// The action's version number at that deploy.
    pub number: i64,
    /// The code that runs; for a webhook action (with `url`), the code it held at the deploy,
    /// which does not run.
    pub code: String,
    pub deployed: bool,
    pub status: String,
    /// `quickjs`, or `webhook` with `url`.
    pub runtime: String,
    /// The webhook URL that runs (webhook actions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// An action, in the shape of Auth0's Actions API: secrets by name only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Action {
    pub id: String,
    pub name: String,
    pub code: String,
    /// The one trigger it runs at (with `version` `v3`).
    pub supported_triggers: Vec<ActionTrigger>,
    /// `quickjs` (JavaScript `code`) or `webhook` (with `url`).
    pub runtime: String,
    /// The draft webhook URL (webhook actions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub secrets: Vec<ActionSecretName>,
    /// Always `built`.
    pub status: String,
    /// Whether the draft (code or URL) is what runs.
    pub all_changes_deployed: bool,
    /// `null` until the first deploy.
    #[schema(required = true)]
    pub deployed_version: Option<ActionDeployedVersion>,
    pub created_at: String,
    pub updated_at: String,
}

impl Action {
    /// The answer for `a`, whose secrets are named `secret_names`.
    pub fn new(a: &writ_core::Action, secret_names: Vec<String>) -> Self {
        const CODE: &str = "quickjs";
        let runtime = |url: &Option<String>| match url {
            Some(_) => writ_service::webhooks::RUNTIME,
            None => CODE,
        };
        Action {
            id: a.id.clone(),
            name: a.name.clone(),
            code: a.code.clone(),
            supported_triggers: vec![ActionTrigger {
                id: a.trigger.clone(),
                version: Some("v3".into()),
            }],
            runtime: runtime(&a.url).into(),
            url: a.url.clone(),
            secrets: secret_names
                .into_iter()
                .map(|name| ActionSecretName { name })
                .collect(),
            status: "built".into(),
            all_changes_deployed: a.deployed_code.as_deref() == Some(a.code.as_str())
                && a.deployed_url == a.url,
            deployed_version: a.deployed_code.as_ref().map(|code| ActionDeployedVersion {
                number: a.version,
                code: code.clone(),
                deployed: true,
                status: "built".into(),
                runtime: runtime(&a.deployed_url).into(),
                url: a.deployed_url.clone(),
            }),
            created_at: a.created_at.clone(),
            updated_at: a.updated_at.clone(),
        }
    }
}

/// `GET /actions/actions`: a page of actions with Auth0's totals.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionList {
    pub actions: Vec<Action>,
    /// Actions matching the filter, in all pages.
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

/// A `deny` an action's test run called.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionDeny {
    /// Given only by credentials-exchange's `api.access.deny(code, reason)`.
    #[schema(required = true)]
    pub code: Option<String>,
    pub reason: String,
}

/// What a test run of an action did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionTestRun {
    /// The claims it set on the access token (restricted names dropped).
    #[schema(value_type = Object)]
    pub access_token_claims: serde_json::Map<String, Value>,
    /// The claims it set on the ID token (restricted names dropped).
    #[schema(value_type = Object)]
    pub id_token_claims: serde_json::Map<String, Value>,
    /// Its refusal, if it called `deny`.
    #[schema(required = true)]
    pub deny: Option<ActionDeny>,
    /// Why the run failed (a thrown error, a timeout), if it did.
    #[schema(required = true)]
    pub error: Option<String>,
    /// Wall-clock milliseconds, the worker's round trip included.
    pub duration_ms: f64,
}

impl From<writ_service::hooks::TestRun> for ActionTestRun {
    fn from(r: writ_service::hooks::TestRun) -> Self {
        ActionTestRun {
            access_token_claims: r.access_token_claims,
            id_token_claims: r.id_token_claims,
            deny: r.deny.map(|d| ActionDeny {
                code: d.code,
                reason: d.reason,
            }),
            error: r.error,
            duration_ms: r.duration_ms,
        }
    }
}

/// `POST /actions/actions/{id}/test`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionTestResult {
    pub payload: ActionTestRun,
}

/// The action a binding runs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BoundAction {
    pub id: String,
}

/// One action bound to a trigger.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Binding {
    pub action: BoundAction,
    pub display_name: String,
}

impl From<&writ_core::ActionBinding> for Binding {
    fn from(b: &writ_core::ActionBinding) -> Self {
        Binding {
            action: BoundAction {
                id: b.action_id.clone(),
            },
            display_name: b.display_name.clone(),
        }
    }
}

/// A trigger's bindings, in run order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BindingList {
    pub bindings: Vec<Binding>,
}

impl BindingList {
    pub fn new(b: &[writ_core::ActionBinding]) -> Self {
        BindingList {
            bindings: b.iter().map(Binding::from).collect(),
        }
    }
}

/// One authorization change: `subject` is the `sub` of the tokens concerned, a user id or
/// `<client_id>@clients`; with it `user_id` or `client_id`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuthzEvent {
    /// The change's place in the log (the events of one group change share it).
    pub seq: i64,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The subject's authz version after the change: a token whose `authz_ver` is below it is
    /// stale.
    pub version: i64,
    pub kind: String,
    pub at: String,
}

impl From<&writ_store::AuthzEvent> for AuthzEvent {
    fn from(e: &writ_store::AuthzEvent) -> Self {
        let (user_id, client_id) = match e.subject.strip_suffix("@clients") {
            Some(client) => (None, Some(client.to_owned())),
            None => (Some(e.subject.clone()), None),
        };
        AuthzEvent {
            seq: e.seq,
            subject: e.subject.clone(),
            user_id,
            client_id,
            version: e.version,
            kind: e.kind.clone(),
            at: e.at.clone(),
        }
    }
}

/// `GET /authz-events` polled: events after `from`, and where to continue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuthzEventPage {
    pub events: Vec<AuthzEvent>,
    /// The `from` of the next poll.
    pub next: i64,
}
