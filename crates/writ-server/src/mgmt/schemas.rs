//! Schema-only types for the Management API's OpenAPI document.
//!
//! The handlers build their JSON with `serde_json::json!` (`rs_json`, `role_json`, `user_json`,
//! `client_json`, `grant_json`, `key_json`, `permission_json`, and `ApiError`'s body); these types
//! describe exactly that JSON so `utoipa` can publish it. They are never constructed: keep them
//! in step with those functions (the tests in `openapi.rs` compare them).

// Described, never built: the derives read them, no code constructs them.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// Response descriptions shared by the operations.
pub const E400_QUERY: &str = "Invalid query string (for example `per_page` above 100).";
pub const E400_BODY: &str =
    "Invalid body: not a JSON object, an unknown or missing property, or an invalid value.";
pub const E401: &str =
    "Missing, malformed, expired or invalid access token (see `WWW-Authenticate`).";
pub const E403: &str = "The access token lacks a required scope (see `WWW-Authenticate`).";

/// Auth0's error body, returned with every 4xx/5xx status.
#[derive(Serialize, ToSchema)]
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
#[derive(Serialize, ToSchema)]
pub struct EmptyObject {}

// ---------------------------------------------------------------------------------------------
// Query parameters

/// Auth0's paging parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PagingParams {
    /// Page index, starting at 0.
    #[param(minimum = 0)]
    pub page: Option<u32>,
    /// Items per page (default 50, at most 100).
    #[param(minimum = 0, maximum = 100)]
    pub per_page: Option<u32>,
    /// `true` returns `{start, limit, length, total, <items>}` instead of a bare array.
    pub include_totals: Option<bool>,
}

/// Role filter.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoleFilter {
    /// Only roles whose name contains this text (case-insensitive).
    pub name_filter: Option<String>,
}

/// User search.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Only users whose email or name contains this text (case-insensitive substring match).
    pub q: Option<String>,
    /// Accepted for Auth0 compatibility (`v3`) and ignored.
    pub search_engine: Option<String>,
}

/// Lookup by email.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailQuery {
    /// The email address (compared case-insensitively).
    pub email: String,
}

/// Client grant filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantFilter {
    /// Only grants of this client.
    pub client_id: Option<String>,
    /// Only grants for this API identifier.
    pub audience: Option<String>,
}

/// Consent (user grant) filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserGrantFilter {
    /// Only consents of this user.
    pub user_id: Option<String>,
    /// Only consents to this client.
    pub client_id: Option<String>,
    /// Only consents for this API identifier.
    pub audience: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Shared enums

/// A signing algorithm.
#[derive(Serialize, ToSchema)]
pub enum SigningAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

/// How access tokens for an API carry permissions.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenDialect {
    AccessToken,
    AccessTokenAuthz,
    Rfc9068Profile,
    Rfc9068ProfileAuthz,
}

/// The kind of application.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    Spa,
    RegularWeb,
    NonInteractive,
    Native,
}

/// How a client authenticates at the token endpoint. Responses say `none` or `client_secret_post`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    None,
    ClientSecretPost,
    ClientSecretBasic,
}

/// An OAuth grant type a client may use.
#[derive(Serialize, ToSchema)]
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
}

/// Whether refresh tokens rotate on use.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RotationType {
    Rotating,
    NonRotating,
}

// ---------------------------------------------------------------------------------------------
// Resource servers (APIs)

/// A permission an API defines.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Scope {
    /// The permission name, e.g. `read:messages`: 1 to 280 printable ASCII characters without
    /// spaces, quotes or backslashes.
    pub value: String,
    /// What the permission allows.
    #[serde(default)]
    pub description: String,
}

/// An API (Auth0: resource server): the audience of access tokens and its permission catalog.
#[derive(Serialize, ToSchema)]
pub struct ResourceServer {
    pub id: String,
    pub name: String,
    /// The audience (`aud`) of its access tokens.
    pub identifier: String,
    pub scopes: Vec<Scope>,
    pub signing_alg: SigningAlgorithm,
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
}

// ---------------------------------------------------------------------------------------------
// Roles and permissions

/// A role: a named set of permissions assigned to users.
#[derive(Serialize, ToSchema)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// A permission held by a role or a user, with its API's display data.
#[derive(Serialize, ToSchema)]
pub struct Permission {
    pub permission_name: String,
    pub description: String,
    pub resource_server_name: String,
    pub resource_server_identifier: String,
}

/// One permission to add or remove: a scope of an API.
#[derive(Deserialize, ToSchema)]
pub struct PermissionRef {
    /// The API's identifier (audience).
    pub resource_server_identifier: String,
    /// A scope the API defines.
    pub permission_name: String,
}

/// Permissions to add or remove.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsRequest {
    #[schema(min_items = 1)]
    pub permissions: Vec<PermissionRef>,
}

/// A user as listed under a role.
#[derive(Serialize, ToSchema)]
pub struct RoleUser {
    pub user_id: String,
    pub email: String,
    /// `null` when none was set.
    #[schema(required = true)]
    pub name: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Users

/// The user's identity in the built-in database connection.
#[derive(Serialize, ToSchema)]
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
#[derive(Serialize, ToSchema)]
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

// ---------------------------------------------------------------------------------------------
// Clients

/// ID-token settings (read-only).
#[derive(Serialize, ToSchema)]
pub struct JwtConfiguration {
    /// Always `RS256`.
    pub alg: String,
    pub lifetime_in_seconds: i64,
}

/// Refresh-token settings of a client.
#[derive(Serialize, ToSchema)]
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
#[derive(Serialize, ToSchema)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub app_type: AppType,
    pub grant_types: Vec<GrantType>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// Permission for a client to obtain tokens for an API with `client_credentials`.
#[derive(Serialize, ToSchema)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: String,
    /// The API's identifier.
    pub audience: String,
    /// The scopes the client may request.
    pub scope: Vec<String>,
}

/// A user's consent to a third-party client for one API (Auth0: a grant).
#[derive(Serialize, ToSchema)]
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

// ---------------------------------------------------------------------------------------------
// Signing keys

/// A signing key and its place in the rotation.
#[derive(Serialize, ToSchema)]
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
    /// RFC 7638 SHA-256 thumbprint of the public key (base64url).
    #[schema(required = true)]
    pub thumbprint: Option<String>,
    /// The public key as a JWK.
    #[schema(value_type = Object)]
    pub jwk: Value,
}

/// The result of a rotation.
#[derive(Serialize, ToSchema)]
pub struct RotatedKey {
    /// The new current RS256 key.
    #[schema(required = true)]
    pub kid: Option<String>,
}

/// The result of a revocation.
#[derive(Serialize, ToSchema)]
pub struct RevokedKey {
    pub kid: String,
    /// Always `true`.
    pub revoked: bool,
    /// RFC 3339 timestamp.
    #[schema(required = true)]
    pub revoked_at: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Lists: a bare array, or with `include_totals=true` a page object.

macro_rules! list {
    ($list:ident, $page:ident, $item:ident, $key:ident, $doc:tt) => {
        /// A page of items with totals (`include_totals=true`).
        #[derive(Serialize, ToSchema)]
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
        #[derive(Serialize, ToSchema)]
        #[serde(untagged)]
        pub enum $list {
            /// Without `include_totals`.
            Items(Vec<$item>),
            /// With `include_totals=true`.
            Page($page),
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
list!(
    PermissionList,
    PermissionPage,
    Permission,
    permissions,
    "A list of permissions."
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
