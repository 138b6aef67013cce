//! Writ's storage layer: small per-capability traits (so the server depends on behaviour, not on
//! a database) and one SQL implementation of them for two databases: SQLite, the embedded
//! default, and PostgreSQL, for several nodes on one database. [`open`] picks one from the
//! database URL. The statements are written once (`src/sql/`); what differs between the two
//! databases is in one file each (`src/dialect/`). One conformance suite (`tests/it`) runs
//! every operation against both.
//!
//! Every write that changes what a user's token may carry raises an authz version (the user's,
//! or, for a change to what a group grants, its subtree's groups') to the `seq` of the event it
//! appends to `authz_events`, in the same transaction (see DESIGN.md, Freshness). A
//! Management API write's audit entry can ride that transaction too ([`riding`]).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use writ_core::*;

mod common;
mod dialect;
pub mod dump;
pub mod migrate;
pub mod riding;

pub use dialect::{postgres, sqlite};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Which implementation a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `sqlite:…` → SQLite; `postgres://…` or `postgresql://…` → PostgreSQL; else `None`.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// Opens the store at `url` (see [`Backend::of_url`]) and runs its migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    match Backend::of_url(url) {
        Some(Backend::Sqlite) => Ok(Arc::new(SqliteStore::open(url).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(PgStore::open(url).await?)),
        None => Err(StoreError::Db(sqlx::Error::Configuration(
            "unsupported database URL: expected sqlite:… or postgres://…".into(),
        ))),
    }
}

/// Errors from the store. The HTTP edge maps them to protocol errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database's schema does not fit this build (see [`migrate`]); the message says why
    /// and what to do.
    #[error("{0}")]
    Schema(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One page request: `page` from 0, `per_page` already bounded by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    pub fn offset(&self) -> i64 {
        i64::from(self.page) * i64::from(self.per_page)
    }
    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }
}

/// A page of items and the total count.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A permission with the display data Auth0 returns alongside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionInfo {
    pub resource_server_identifier: String,
    pub resource_server_name: String,
    pub permission_name: String,
    pub description: String,
}

/// One of a user's effective permissions and one place it comes from (see
/// [`UserStore::effective_permissions_with_sources`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSource {
    pub resource_server_identifier: String,
    pub resource_server_name: String,
    pub permission_name: String,
    /// The permission's description in its API's catalog.
    pub description: String,
    pub source: Source,
}

/// Where a user's permission comes from (the domain's, re-exported for the store's users).
pub use writ_core::Source;

/// A user as listed under a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub user_id: String,
    pub email: String,
    pub name: Option<String>,
}

/// Fields for a new user; the password is already hashed.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub email: String,
    pub password_hash: Option<String>,
    pub name: Option<String>,
    pub email_verified: bool,
    pub blocked: bool,
    pub app_metadata: Map<String, Value>,
    pub user_metadata: Map<String, Value>,
}

/// A user's login credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<String>,
}

/// One entry of the authz event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzEvent {
    pub seq: i64,
    /// Whose tokens it concerns, as their `sub`: a user id, or `<client_id>@clients` for a
    /// machine client (see [`client_subject`]).
    pub subject: String,
    pub version: i64,
    pub kind: String,
    pub at: String,
}

/// A page of the authz event log: its events, and the `seq` to read after next (the last record
/// read, which may have yielded no event: a group without members).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzPage {
    pub events: Vec<AuthzEvent>,
    pub next: i64,
}

/// The subject of a machine client's own tokens (`sub`), as its authz events name it.
pub fn client_subject(client_id: &str) -> String {
    format!("{client_id}@clients")
}

/// Every write (create, update, delete) also brings [`KeyPublication`] in step with the APIs'
/// algorithms in its transaction: an algorithm an API starts to need gets `published_since`
/// (unless its keys are still published), one no API uses any more gets `retire_after`. The
/// writes run one at a time (SQLite's single writer; PostgreSQL's authz head lock, taken
/// first), so each sees every earlier one's APIs and no two nodes disagree on the record.
#[async_trait]
pub trait ResourceServerStore: Send + Sync {
    async fn create_resource_server(&self, rs: ResourceServer) -> Result<ResourceServer>;
    /// Looks up by id or by identifier.
    async fn get_resource_server(&self, id_or_identifier: &str) -> Result<ResourceServer>;
    async fn list_resource_servers(&self, page: Page) -> Result<Paged<ResourceServer>>;
    async fn all_resource_servers(&self) -> Result<Vec<ResourceServer>>;
    /// Replaces the record; scopes removed from the catalog are removed from roles and users.
    async fn update_resource_server(&self, rs: &ResourceServer) -> Result<()>;
    async fn delete_resource_server(&self, id: &str) -> Result<()>;
}

#[async_trait]
pub trait RoleStore: Send + Sync {
    async fn create_role(&self, name: &str, description: &str) -> Result<Role>;
    async fn get_role(&self, id: &str) -> Result<Role>;
    async fn list_roles(&self, name_filter: Option<&str>, page: Page) -> Result<Paged<Role>>;
    async fn update_role(&self, role: &Role) -> Result<()>;
    async fn delete_role(&self, id: &str) -> Result<()>;
    async fn role_permissions(&self, role_id: &str, page: Page) -> Result<Paged<PermissionInfo>>;
    async fn add_role_permissions(&self, role_id: &str, perms: &[Permission]) -> Result<()>;
    async fn remove_role_permissions(&self, role_id: &str, perms: &[Permission]) -> Result<()>;
    async fn role_users(&self, role_id: &str, page: Page) -> Result<Paged<UserSummary>>;
    async fn assign_role_users(&self, role_id: &str, user_ids: &[String]) -> Result<()>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, u: NewUser) -> Result<User>;
    async fn get_user(&self, id: &str) -> Result<User>;
    async fn users_by_email(&self, email: &str) -> Result<Vec<User>>;
    async fn credentials_by_email(&self, email: &str) -> Result<Option<Credentials>>;
    async fn list_users(&self, q: Option<&str>, page: Page) -> Result<Paged<User>>;
    /// Replaces the record; `password_hash` is changed when `Some` (a password change). Bumps
    /// the authz version when `blocked`, `app_metadata` or the password change; a password
    /// change or a block also ends, in the same transaction, every SSO session, console session
    /// and refresh token of the user.
    async fn update_user(&self, u: &User, password_hash: Option<&str>) -> Result<User>;
    /// Replaces the stored password hash by `new` only if it is still `old` (compare and swap),
    /// touching nothing else: the re-hash of an imported hash after a login, which must neither
    /// undo a concurrent change by an admin nor end the user's sessions. Returns whether it
    /// replaced it.
    async fn rehash_password(&self, user_id: &str, old: &str, new: &str) -> Result<bool>;
    /// Deletes the user with everything that speaks for them (sessions, console sessions,
    /// refresh tokens, consents), bumping their authz version first so tokens already issued
    /// are refused.
    async fn delete_user(&self, id: &str) -> Result<()>;
    async fn user_roles(&self, user_id: &str, page: Page) -> Result<Paged<Role>>;
    async fn assign_user_roles(&self, user_id: &str, role_ids: &[String]) -> Result<()>;
    async fn remove_user_roles(&self, user_id: &str, role_ids: &[String]) -> Result<()>;
    async fn user_permissions(&self, user_id: &str, page: Page) -> Result<Paged<PermissionInfo>>;
    async fn add_user_permissions(&self, user_id: &str, perms: &[Permission]) -> Result<()>;
    async fn remove_user_permissions(&self, user_id: &str, perms: &[Permission]) -> Result<()>;
    /// The user's current authz version: the newest of their own and their groups' (cheap: a
    /// primary-key read and one index range of the user's groups).
    async fn authz_version(&self, user_id: &str) -> Result<i64>;
    /// Effective permissions of a user for one API (direct ∪ roles'), sorted, with the user's
    /// authz version read in the same snapshot.
    async fn effective_permissions(
        &self,
        user_id: &str,
        api_identifier: &str,
    ) -> Result<(Vec<String>, i64)>;
    /// The user's effective permissions for one API (or, `None`, every API) with where each
    /// comes from: one entry per (API, permission, source), the source being the direct grant
    /// or each role that grants it. Sorted by API identifier, permission, then the direct grant
    /// before roles by name. One query keyed by the user: O(the user's roles and grants).
    async fn effective_permissions_with_sources(
        &self,
        user_id: &str,
        api_identifier: Option<&str>,
    ) -> Result<Vec<PermissionSource>>;
}

/// Which groups to list; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFilter {
    /// The exact name.
    pub name: Option<String>,
    /// A substring of the name (case-insensitive for ASCII letters on SQLite, all letters on
    /// PostgreSQL).
    pub search: Option<String>,
}

/// Changes to a group; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChange {
    pub name: Option<String>,
    pub description: Option<String>,
    /// A new parent: `Some(None)` makes the group top-level.
    pub parent_id: Option<Option<String>>,
}

/// A group and its path (`/eng/backend`: the names from the root down).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPath {
    pub group: Group,
    pub path: String,
}

/// Groups (a tree, Keycloak-style): a member inherits the roles of the group and of all its
/// ancestors. Every write that changes what a user's token may carry bumps the authz version
/// of exactly the users concerned, with one event each, in the write's transaction: adding or
/// removing members bumps those users; adding or removing roles, moving or deleting a group
/// bumps every member of the group and of all its descendants (one statement each, whatever
/// their number).
///
/// Deleting a group deletes its whole subtree, as Keycloak does, in O(groups): the subtree's
/// groups are bumped as for a role removed and read as gone at once, and their members leave
/// afterwards ([`GroupStore::sweep_deleted_groups`]).
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Creates a group under `parent_id` (top-level when `None`). A missing parent is refused
    /// (`Invalid` naming `parent_id`); a sibling with the same name is a `Conflict`.
    async fn create_group(
        &self,
        name: &str,
        description: &str,
        parent_id: Option<&str>,
    ) -> Result<Group>;
    async fn get_group(&self, id: &str) -> Result<Group>;
    /// Groups by name (then id), with the total.
    async fn list_groups(&self, filter: &GroupFilter, page: Page) -> Result<Paged<Group>>;
    /// Renames, describes or moves a group and returns it. A move under the group itself or
    /// one of its descendants (a cycle), or under a group that does not exist, is refused
    /// (`Invalid` naming `parent_id`), checked in the write's transaction so that concurrent
    /// moves cannot together form a cycle. A move bumps the subtree's members.
    async fn update_group(&self, id: &str, change: &GroupChange) -> Result<Group>;
    /// Deletes the group and its subtree (see the trait docs): from then on they read as gone,
    /// and every member's version is above what it was; the members leave them through
    /// [`GroupStore::sweep_deleted_groups`].
    async fn delete_group(&self, id: &str) -> Result<()>;
    /// Moves up to `batch` members out of a deleted group, raising each one's own version, in
    /// one transaction, and returns how many; once no deleted group has members, removes the
    /// deleted groups' rows and returns 0. Call it until it returns 0 after a delete (any node
    /// may: the calls queue on the authz write lock).
    async fn sweep_deleted_groups(&self, batch: u32) -> Result<u64>;
    /// The group's direct members, by user id.
    async fn group_members(&self, group_id: &str, page: Page) -> Result<Paged<UserSummary>>;
    /// Adds members; a user that does not exist is refused (`Invalid` naming `members[i]` and
    /// the id) and nothing changes. Bumps the users who were not members yet.
    async fn add_group_members(&self, group_id: &str, user_ids: &[String]) -> Result<()>;
    /// Removes members (ids that are not members are ignored); bumps those removed.
    async fn remove_group_members(&self, group_id: &str, user_ids: &[String]) -> Result<()>;
    /// The roles assigned to the group itself (not its ancestors'), by name.
    async fn group_roles(&self, group_id: &str, page: Page) -> Result<Paged<Role>>;
    /// Assigns roles to the group; a role that does not exist is refused (`Invalid` naming
    /// `roles[i]` and the id).
    async fn add_group_roles(&self, group_id: &str, role_ids: &[String]) -> Result<()>;
    async fn remove_group_roles(&self, group_id: &str, role_ids: &[String]) -> Result<()>;
    /// The groups a role is assigned to directly, by name.
    async fn role_groups(&self, role_id: &str, page: Page) -> Result<Paged<Group>>;
    /// The groups the user is a direct member of, by name, each with its path.
    async fn user_groups(&self, user_id: &str, page: Page) -> Result<Paged<GroupPath>>;
    /// The user's effective roles (direct ∪ those of their groups and all their ancestors),
    /// by name, each with how the user holds it: O(the user's roles and groups).
    async fn effective_roles(&self, user_id: &str) -> Result<Vec<EffectiveRole>>;
}

/// Clients are subjects of freshness too: a change that takes something away from what a
/// client's machine tokens may do (a new secret, a grant type removed, a scope removed from a
/// client grant or the grant deleted, the client deleted) bumps the client's `authz_version`
/// and appends an event for `<client_id>@clients` in the same transaction. Additions (a new
/// grant, more scopes) leave the tokens already issued valid and bump nothing.
#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn create_client(&self, c: &Client) -> Result<()>;
    async fn get_client(&self, id: &str) -> Result<Client>;
    async fn list_clients(&self, page: Page) -> Result<Paged<Client>>;
    async fn all_clients(&self) -> Result<Vec<Client>>;
    /// Replaces the record (not its `authz_version`); bumps the client's authz version when its
    /// secret changes or a grant type is removed, and returns the record as stored.
    async fn update_client(&self, c: &Client) -> Result<Client>;
    /// Deletes the client (its grants, codes, refresh tokens and consents go with it), bumping
    /// its authz version first so its machine tokens are refused.
    async fn delete_client(&self, id: &str) -> Result<()>;
    async fn count_clients(&self) -> Result<i64>;
}

/// Removing scopes from a client grant, or deleting it, bumps the client's authz version (see
/// [`ClientStore`]).
#[async_trait]
pub trait ClientGrantStore: Send + Sync {
    async fn create_client_grant(
        &self,
        client_id: &str,
        audience: &str,
        scope: &[String],
    ) -> Result<ClientGrant>;
    async fn list_client_grants(
        &self,
        client_id: Option<&str>,
        audience: Option<&str>,
        page: Page,
    ) -> Result<Paged<ClientGrant>>;
    async fn all_client_grants(&self) -> Result<Vec<ClientGrant>>;
    async fn update_client_grant(&self, id: &str, scope: &[String]) -> Result<ClientGrant>;
    async fn delete_client_grant(&self, id: &str) -> Result<()>;
}

/// Hooks (Auth0 Actions) and their trigger bindings.
#[async_trait]
pub trait ActionStore: Send + Sync {
    async fn actions(&self) -> Result<Vec<Action>>;
    async fn get_action(&self, id: &str) -> Result<Action>;
    /// Inserts or replaces the action with this id, unconditionally (the row as given,
    /// `revision` included): for a new action, or a restore.
    async fn put_action(&self, a: &Action) -> Result<()>;
    /// Replaces the action if its stored `revision` is still `a.revision` (the revision it was
    /// read at), and stores it with the revision raised by one: `Ok(Some(revision))` with the
    /// new revision, `Ok(None)` when another write came first (read it again and retry),
    /// `NotFound` when the action is gone. `created_at` is kept.
    async fn replace_action(&self, a: &Action) -> Result<Option<i64>>;
    /// Deletes the action and its bindings.
    async fn delete_action(&self, id: &str) -> Result<()>;
    async fn action_bindings(&self, trigger: &str) -> Result<Vec<ActionBinding>>;
    /// Replaces the trigger's bindings, in order.
    async fn set_action_bindings(&self, trigger: &str, b: &[ActionBinding]) -> Result<()>;
}

/// When one non-RSA algorithm's keys were published in the JWKS (ES256 and EdDSA keys are
/// only published while some API signs with them). The API writes keep it in step, in their
/// own transaction: see [`ResourceServerStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPublication {
    pub alg: SigningAlg,
    /// RFC 3339: since when the algorithm's keys are in the JWKS (this use of it).
    pub published_since: String,
    /// Unix seconds: set when no API uses the algorithm any more, to when the last token its
    /// keys signed expires; the keys leave the JWKS after it. `None` while in use.
    pub retire_after: Option<i64>,
}

#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    async fn signing_keys(&self) -> Result<Vec<SigningKey>>;
    /// Every algorithm's publication record (none for RS256, whose keys are always published).
    async fn key_publications(&self) -> Result<Vec<KeyPublication>>;
    /// The key's stored self-signed certificate (DER), if one was kept.
    async fn key_certificate(&self, kid: &str) -> Result<Option<Vec<u8>>>;
    /// Keeps `der` as the key's certificate unless one is already kept; returns the kept one
    /// (so racing nodes all end up showing the first one written).
    async fn keep_key_certificate(&self, kid: &str, der: &[u8]) -> Result<Vec<u8>>;
    async fn insert_signing_key(&self, k: &SigningKey) -> Result<()>;
    /// For one algorithm, atomically: current → previous (with `retire_after`), next → current,
    /// and `new_next` inserted as next.
    async fn rotate_signing_keys(
        &self,
        alg: SigningAlg,
        new_next: &SigningKey,
        retire_after: i64,
    ) -> Result<()>;
    /// Marks a previous key revoked; it leaves the JWKS. A current or next key cannot be revoked.
    async fn revoke_signing_key(&self, kid: &str) -> Result<SigningKey>;
}

#[async_trait]
pub trait AuthzEventStore: Send + Sync {
    /// The events of the log's records with `seq > after`, in order: at most `limit` records,
    /// and no further group record once `limit` events are read. A group's record (a change
    /// to what its subtree grants) is one event per direct member, all with the record's
    /// `seq`: a page never splits a record, so `next` (the last record read) is where the
    /// following page starts.
    async fn authz_events_after(&self, after: i64, limit: i64) -> Result<AuthzPage>;
    /// The events of one subject (a user id) with `after < seq <= upto`, in order, at most
    /// `limit`: its own records and the records of the groups it is a direct member of now
    /// (read as [`AuthzEventStore::authz_events_after`] expands them), each with `subject` set
    /// to `subject`. For a user's own live stream catching up after a reconnect: the range is
    /// what it missed, not the whole log's traffic.
    async fn authz_events_of(
        &self,
        subject: &str,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<AuthzEvent>>;
    /// The highest seq in the log (0 when empty).
    async fn authz_head(&self) -> Result<i64>;
    /// Deletes events dated before `older_than` (RFC 3339), but never the newest one (the head
    /// stays put); returns how many. Safe once no token made before then is still valid: a
    /// token made after an event carries a version at least that event's.
    async fn prune_authz_events(&self, older_than: &str) -> Result<u64>;
    /// A counter of catalog changes (APIs and their scopes, clients, grants, signing keys),
    /// bumped by database triggers: a node whose loaded catalog is older reloads it, so a change
    /// made through one node reaches all of them.
    async fn catalog_version(&self) -> Result<i64>;
    /// A signal that something may have changed (authz events appended, catalog changed),
    /// for backends that can push one (PostgreSQL `LISTEN/NOTIFY`); `None` means poll. The
    /// value only ever increases; what changed is read from the store.
    fn wakeups(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// An SSO session; `id` is the SHA-256 of the cookie value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Public id, the ID token's `sid`.
    pub sid: String,
    pub user_id: String,
    pub auth_time: i64,
    pub last_seen: i64,
    pub expires_at: i64,
    /// How the user authenticated (`amr` values, space-separated: `pwd`, `pwd otp mfa`); `None`
    /// for rows written before multi-factor authentication existed.
    pub amr: Option<String>,
}

/// An authorization code; `id` is the SHA-256 of the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub audience: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub sid: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub family_id: Option<String>,
    /// How the user authenticated (`amr` values, space-separated: `pwd`, `pwd otp mfa`); `None`
    /// for rows written before multi-factor authentication existed.
    pub amr: Option<String>,
}

/// A refresh token; `id` is the SHA-256 of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: String,
    pub family_id: String,
    pub parent_id: Option<String>,
    pub client_id: String,
    pub user_id: String,
    pub audience: Option<String>,
    pub scope: String,
    pub sid: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub idle_expires_at: i64,
    pub family_expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked: bool,
    /// How the user authenticated (`amr` values, space-separated: `pwd`, `pwd otp mfa`); `None`
    /// for rows written before multi-factor authentication existed.
    pub amr: Option<String>,
}

/// What consuming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    /// First use: the code, now marked used.
    Fresh(AuthCode),
    /// Second use: the refresh family it issued (if any) has been revoked.
    Reused(AuthCode),
    Missing,
}

/// A refresh token presented for rotation ([`LoginStore::rotate_refresh`]) and what its child
/// gets; everything else the child takes from the presented token (its family, user, API,
/// scope, session, `auth_time` and the family's absolute expiry).
#[derive(Debug, Clone, Copy)]
pub struct Rotation<'a> {
    /// The presented token's id (its SHA-256).
    pub id: &'a str,
    /// The client presenting it: another client's token is `Invalid`, and nothing is written.
    pub client_id: &'a str,
    /// The child's id.
    pub child_id: &'a str,
    pub now: i64,
    /// The child's idle lifetime in seconds (never past the family's absolute expiry).
    pub idle_lifetime: i64,
    /// Seconds after its first use during which a token may be presented once more (a lost
    /// response), as long as its child is still the family's newest, unused token.
    pub leeway: i64,
}

/// What rotating a refresh token did.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// The presented token was valid; its child (returned) is stored. With it, the token's
    /// user as the rotation's transaction read them (effective authz version included), so
    /// the caller need not read them again; `None` when the user no longer exists.
    Rotated(RefreshToken, Option<User>),
    /// A rotated token was reused beyond the leeway: the whole family is revoked. The
    /// presented token as it was found.
    Reused(RefreshToken),
    /// Unknown, another client's, revoked or expired.
    Invalid,
}

#[async_trait]
pub trait LoginStore: Send + Sync {
    async fn create_session(&self, s: &Session) -> Result<()>;
    async fn get_session(&self, id: &str) -> Result<Option<Session>>;
    async fn touch_session(&self, id: &str, now: i64) -> Result<()>;
    async fn delete_session(&self, id: &str) -> Result<()>;
    /// Logout: deletes the session and, when it existed, writes `signals` in the same
    /// transaction; `false` when there was no such session.
    async fn end_session(&self, id: &str, signals: &[SsfSignal]) -> Result<bool>;
    async fn create_code(&self, c: &AuthCode) -> Result<()>;
    /// Reads a code without using it (to check it before [`LoginStore::consume_code`]).
    async fn get_code(&self, id: &str) -> Result<Option<AuthCode>>;
    /// Marks the code used and, when `refresh` is given, stores that refresh token and records
    /// its family on the code, all in one transaction: exactly one caller gets `Fresh`, and a
    /// replay (`Reused`) revokes the family the first use recorded, whenever it comes.
    async fn consume_code(
        &self,
        id: &str,
        now: i64,
        refresh: Option<&RefreshToken>,
    ) -> Result<CodeOutcome>;
    async fn create_refresh(&self, t: &RefreshToken) -> Result<()>;
    async fn get_refresh(&self, id: &str) -> Result<Option<RefreshToken>>;
    /// Rotates the presented token into a child, atomically (one transaction; on the common
    /// path one statement marks the token used and returns it): one winner among racers; a
    /// rotated token presented again within the leeway rotates once more, beyond it (or once
    /// its child was used) revokes the family.
    async fn rotate_refresh(&self, r: Rotation<'_>) -> Result<RotateOutcome>;
    /// Revokes every token of a family (logout of that grant, RFC 7009 revocation).
    async fn revoke_refresh_family(&self, family_id: &str) -> Result<()>;
    /// Deletes what can no longer be used at `now`: SSO sessions past their absolute lifetime
    /// or idle for `session_idle` seconds, console sessions past theirs, authorization codes a
    /// day after they expired (kept that long so a late replay still revokes what the code
    /// issued), refresh tokens whose family expired. Returns how many rows went.
    async fn prune_logins(&self, now: i64, session_idle: i64) -> Result<u64>;
    async fn create_console_session(&self, s: &ConsoleSession) -> Result<()>;
    async fn get_console_session(&self, id: &str) -> Result<Option<ConsoleSession>>;
    async fn delete_console_session(&self, id: &str) -> Result<()>;
}

/// A user's second factor (see [`MfaStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticator {
    /// `totp_…` or `passkey_…`.
    pub id: String,
    pub user_id: String,
    /// `totp` or `passkey` (whose credential is a [`PasskeyCredential`]).
    pub kind: String,
    pub name: Option<String>,
    /// The factor's secret, sealed by the caller (the store never sees a TOTP secret in clear);
    /// empty for a passkey (its public key is in [`PasskeyCredential`]).
    pub secret: Vec<u8>,
    /// Whether enrollment finished (a first code was accepted).
    pub confirmed: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// The last TOTP time step accepted: a code of that step or an earlier one is refused.
    pub last_step: Option<i64>,
}

/// A login waiting for its second factor: the password grant's `mfa_token` (`kind` `grant`)
/// or the hosted page's state (`kind` `page`); `id` is the SHA-256 of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaLogin {
    pub id: String,
    pub kind: String,
    pub user_id: String,
    pub client_id: String,
    pub audience: Option<String>,
    pub scope: Option<String>,
    /// The hosted page's authorization request (its query string).
    pub tx: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Multi-factor authentication's records: authenticators, recovery codes, the logins waiting
/// for a second factor and each user's attempt bucket. Every single-use guarantee (a TOTP time
/// step, a recovery code, a half-login) is one conditional `UPDATE`, so of concurrent callers
/// exactly one wins on both databases.
#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn create_authenticator(&self, a: &Authenticator) -> Result<()>;
    /// The user's authenticators, oldest first.
    async fn authenticators(&self, user_id: &str) -> Result<Vec<Authenticator>>;
    /// Records `step` as used by the authenticator (and confirms it) unless a step at or after
    /// it was already accepted: `true` for the one caller that gets the step. `signals` are
    /// written with it (only when it is accepted).
    async fn accept_totp_step(
        &self,
        id: &str,
        step: i64,
        now: i64,
        signals: &[SsfSignal],
    ) -> Result<bool>;
    /// Deletes one of the user's authenticators, writing `signals` with it; `NotFound` when it
    /// is not theirs. When it was their last confirmed one, their recovery codes go too.
    async fn delete_authenticator(
        &self,
        user_id: &str,
        id: &str,
        signals: &[SsfSignal],
    ) -> Result<()>;
    /// Deletes every authenticator and recovery code of the user, writing `signals` with them
    /// when there was any factor; returns how many factors.
    async fn delete_authenticators(&self, user_id: &str, signals: &[SsfSignal]) -> Result<u64>;
    /// Replaces the user's unused recovery codes by the one hashed `hash`.
    async fn set_recovery_code(&self, user_id: &str, hash: &str, now: i64) -> Result<()>;
    /// Uses the recovery code hashed `hash` of the user, once: `true` for the one caller that
    /// gets it, which also stores `next` (hashed) as the user's new code in the same transaction.
    async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &str,
        next: &str,
        now: i64,
    ) -> Result<bool>;
    async fn create_mfa_login(&self, l: &MfaLogin) -> Result<()>;
    /// The login if it exists, is unused and unexpired at `now`.
    async fn get_mfa_login(&self, id: &str, now: i64) -> Result<Option<MfaLogin>>;
    /// Marks the login used, once: `Some` for the one caller that finishes it.
    async fn finish_mfa_login(&self, id: &str, now: i64) -> Result<Option<MfaLogin>>;
    /// Takes one attempt from the user's bucket (`capacity` attempts, one more every
    /// `refill_secs`): `Ok(())`, or the seconds until the next attempt.
    async fn take_mfa_attempt(
        &self,
        user_id: &str,
        now: i64,
        capacity: i64,
        refill_secs: i64,
    ) -> Result<Result<(), i64>>;
}

/// A passkey's credential (see [`PasskeyStore`]); the passkey itself is the
/// [`Authenticator`] `authenticator_id` (type `passkey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCredential {
    pub authenticator_id: String,
    pub user_id: String,
    /// The credential id, base64url (unique across users).
    pub credential_id: String,
    /// The WebAuthn user handle, base64url (the same for every passkey of a user).
    pub user_handle: String,
    /// The public key and fixed extension outputs (the relying-party library's encoding).
    pub static_state: Vec<u8>,
    /// Signature counter and flags (the relying-party library's encoding).
    pub dynamic_state: Vec<u8>,
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub backed_up: bool,
    /// The transports the authenticator named (the library's bit set).
    pub transports: i64,
}

/// A WebAuthn ceremony under way: the library's server state, bound to the browser's login
/// state (`binding`, a hash) and, when known, the user; `id` is the challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyChallenge {
    pub id: String,
    /// `register`, `login` (passwordless) or `factor` (second factor).
    pub kind: String,
    pub binding: String,
    pub user_id: Option<String>,
    pub state: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Passkeys: their credentials (each also an [`Authenticator`] of type `passkey`, so listing
/// and deleting go through [`MfaStore`]) and the ceremonies under way. A ceremony is taken
/// once (deleted as it is read); a new signature counter is stored by one conditional update
/// on the previous one, so of two sign-ins racing with one assertion exactly one wins.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Stores the passkey: its authenticator row and its credential, in one transaction.
    /// `Conflict` when the credential id is already registered. `signals` are written with it.
    async fn create_passkey(
        &self,
        a: &Authenticator,
        c: &PasskeyCredential,
        signals: &[SsfSignal],
    ) -> Result<()>;
    /// The credential with this id (base64url), if any.
    async fn passkey_by_credential(&self, credential_id: &str)
    -> Result<Option<PasskeyCredential>>;
    /// The user's passkey credentials, oldest first.
    async fn passkeys_of_user(&self, user_id: &str) -> Result<Vec<PasskeyCredential>>;
    /// Stores a new signature counter and flags after a sign-in, if the counter is still
    /// `previous_count`: `false` when another sign-in got there first (or the passkey went).
    async fn update_passkey_state(
        &self,
        authenticator_id: &str,
        previous_count: i64,
        c: &PasskeyCredential,
        now: i64,
    ) -> Result<bool>;
    async fn create_passkey_challenge(&self, c: &PasskeyChallenge) -> Result<()>;
    /// Takes (deletes and returns) the live ceremony `id` of `kind` bound to `binding`, once.
    async fn take_passkey_challenge(
        &self,
        id: &str,
        kind: &str,
        binding: &str,
        now: i64,
    ) -> Result<Option<PasskeyChallenge>>;
}

/// A session of the admin console; `id` is the SHA-256 of the cookie value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id: String,
    pub user_id: String,
    /// The admin's Management API access token, sealed by the caller (the store never sees it
    /// in clear).
    pub token: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A user's consent to a third-party client for one API: Auth0's "grant" (`/api/v2/grants`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// `cns_…`.
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub audience: String,
    /// The scopes consented to, sorted.
    pub scope: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Which consents to list; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentFilter {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

/// Consents of users to third-party clients. Revoking one also revokes that client's refresh
/// tokens for the user and bumps the user's authz version (so guards refuse the access tokens
/// it made), in one transaction.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// The consent of `user_id` to `client_id` for `audience`, if any.
    async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
        audience: &str,
    ) -> Result<Option<Consent>>;
    /// Records consent to `scope` (added to any scopes consented before) and returns it.
    async fn record_consent(
        &self,
        user_id: &str,
        client_id: &str,
        audience: &str,
        scope: &[String],
    ) -> Result<Consent>;
    async fn list_consents(&self, filter: &ConsentFilter, page: Page) -> Result<Paged<Consent>>;
    /// Deletes one consent (see the trait docs); `NotFound` if there is none.
    async fn revoke_consent(&self, id: &str) -> Result<Consent>;
    /// Deletes every consent of a user; returns how many.
    async fn revoke_user_consents(&self, user_id: &str) -> Result<u64>;
}

/// A Shared Signals (SSF) stream a receiver created (see [`SsfStore`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SsfStream {
    /// `ssf_…`, the stream's `stream_id`.
    pub id: String,
    /// The OAuth client (the receiver) that owns it.
    pub client_id: String,
    /// `push` (RFC 8935) or `poll` (RFC 8936).
    pub method: String,
    /// The receiver-supplied configuration (JSON object: delivery, events_requested, …).
    pub config: Value,
    /// The push endpoint's `Authorization` header, sealed by the caller.
    pub auth_header: Option<Vec<u8>>,
    /// `enabled`, `paused` or `disabled`.
    pub status: String,
    pub reason: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A subject added to (`included`) or removed from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsfSubject {
    pub stream_id: String,
    pub user_id: String,
    pub included: bool,
}

/// A Security Event Token to queue for a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsfNewSet {
    pub jti: String,
    pub stream_id: String,
    /// The signed SET (compact JWS).
    pub set: String,
}

/// A queued Security Event Token, as delivery reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsfQueued {
    pub jti: String,
    pub stream_id: String,
    pub set: String,
    /// Delivery attempts so far (this claim included).
    pub attempts: i64,
}

/// A Shared Signals event that is not in the authz log (a logout, a second factor enrolled or
/// removed), written in the transaction of the change it reports (the `signals` argument of
/// those writes) and turned into SETs by [`SsfStore::ssf_take_signals`].
#[derive(Debug, Clone, PartialEq)]
pub struct SsfSignal {
    /// The SETs' `txn` claim; unique.
    pub txn: String,
    /// A user id.
    pub subject: String,
    /// The CAEP event type (a URI).
    pub event_type: String,
    /// The event's claims.
    pub event: Value,
    /// When it happened (unix seconds).
    pub at: i64,
}

/// The Shared Signals transmitter's records: streams, their subjects and one outbox of SETs per
/// stream. Pushed SETs are claimed with a lease ([`SsfStore::claim_ssf_push`]) so several nodes
/// push each SET once; the authz log is turned into SETs under a compare-and-set cursor
/// ([`SsfStore::ssf_enqueue`]) so each event becomes SETs once.
#[async_trait]
pub trait SsfStore: Send + Sync {
    /// Creates a stream unless its client already has `max_per_client` (`Conflict`).
    async fn create_ssf_stream(&self, s: &SsfStream, max_per_client: i64) -> Result<()>;
    async fn ssf_stream(&self, id: &str) -> Result<Option<SsfStream>>;
    /// The streams of `client_id` (every stream with `None`), oldest first.
    async fn ssf_streams(&self, client_id: Option<&str>) -> Result<Vec<SsfStream>>;
    /// Saves method, config, auth header, status and reason; a stream becoming `disabled`
    /// drops its queued SETs in the same transaction. `false` when the stream is gone.
    async fn update_ssf_stream(&self, s: &SsfStream) -> Result<bool>;
    /// Deletes a stream with its subjects and queued SETs; `false` when it was gone.
    async fn delete_ssf_stream(&self, id: &str) -> Result<bool>;
    /// Adds (`included`) or removes a subject of a stream.
    async fn set_ssf_subject(&self, stream_id: &str, user_id: &str, included: bool) -> Result<()>;
    /// Every stream's added or removed subjects.
    async fn ssf_subjects(&self) -> Result<Vec<SsfSubject>>;
    /// How far the authz event log has been turned into SETs.
    async fn ssf_cursor(&self) -> Result<i64>;
    /// Queues `sets` (due at `now_ms`) in one transaction; with `advance = (from, to)` also
    /// moves the cursor from `from` to `to`, and queues nothing (`false`) when another caller
    /// moved it first.
    async fn ssf_enqueue(
        &self,
        advance: Option<(i64, i64)>,
        sets: &[SsfNewSet],
        now_ms: i64,
    ) -> Result<bool>;
    /// Claims up to `limit` SETs due at `now_ms` of enabled push streams that no lease holds,
    /// for `worker` until `now_ms + lease_ms`, in queue order.
    async fn claim_ssf_push(
        &self,
        worker: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<SsfQueued>>;
    /// The receiver took (or refused for good) the SET `worker` holds: it leaves the outbox.
    async fn ssf_pushed(&self, jti: &str, worker: &str) -> Result<bool>;
    /// A push failed: due again at `retry_at`.
    async fn ssf_push_failed(
        &self,
        jti: &str,
        worker: &str,
        error: &str,
        retry_at: i64,
    ) -> Result<bool>;
    /// Poll delivery: removes the acknowledged `ack` SETs of the stream, then returns its
    /// oldest `max` queued SETs and whether more are queued.
    async fn ssf_poll(
        &self,
        stream_id: &str,
        ack: &[String],
        max: i64,
    ) -> Result<(Vec<SsfQueued>, bool)>;
    /// When the next push is due (unix ms), if any SET of an enabled push stream is queued.
    async fn next_ssf_due(&self) -> Result<Option<i64>>;
    /// Up to `limit` signals not yet turned into SETs, oldest first.
    async fn ssf_signals(&self, limit: i64) -> Result<Vec<SsfSignal>>;
    /// Deletes the signals `txns` and queues `sets` (due at `now_ms`) in one transaction;
    /// queues nothing (`false`) when another caller took any of them first.
    async fn ssf_take_signals(
        &self,
        txns: &[String],
        sets: &[SsfNewSet],
        now_ms: i64,
    ) -> Result<bool>;
    /// Records a verification request of stream `id` at `now_ms` unless the last one was less
    /// than `min_interval_ms` before (`false`, recording nothing), or the stream is gone.
    async fn ssf_verification_due(
        &self,
        id: &str,
        now_ms: i64,
        min_interval_ms: i64,
    ) -> Result<bool>;
}

/// A message to queue in the outbox (see [`MailStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub recipient: String,
    /// What it is (`verify_email`, `reset_password`).
    pub kind: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

/// A message of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    /// `mail_…`.
    pub id: String,
    pub recipient: String,
    pub kind: String,
    pub subject: String,
    /// Empty once the message was sent or abandoned (the bodies carry one-time links).
    pub text_body: String,
    pub html_body: String,
    pub created_at: i64,
    /// Sending attempts begun (each claim is one).
    pub attempts: i64,
    /// When it is due next; `None` once sent or abandoned.
    pub next_attempt_at: Option<i64>,
    /// The last failure, as the mail server or the connection reported it.
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

impl OutboxMail {
    /// `sent`, `pending` (due now or later, or being sent) or `abandoned`.
    pub fn state(&self) -> &'static str {
        match (self.sent_at, self.next_attempt_at) {
            (Some(_), _) => "sent",
            (None, Some(_)) => "pending",
            (None, None) => "abandoned",
        }
    }
}

/// What a one-time link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketKind {
    /// Confirms the user's email address.
    Verify,
    /// Sets a new password.
    Reset,
}

impl TicketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketKind::Verify => "verify",
            TicketKind::Reset => "reset",
        }
    }
}

/// A one-time link (Auth0's "ticket"); `id` is the SHA-256 of the token the link carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: String,
    pub user_id: String,
    pub kind: TicketKind,
    pub client_id: Option<String>,
    /// Where the page sends the user once the link is used.
    pub result_url: Option<String>,
    /// A reset that also marks the email verified (the link proves the user reads it).
    pub mark_email_verified: bool,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// What presenting a one-time link found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketOutcome {
    /// It was valid and is now used: the ticket as it was before.
    Used(Ticket),
    /// Unknown, of another kind, already used or expired: nothing changed.
    Invalid,
}

/// The outbox of outgoing mail and the one-time links mail carries.
///
/// Messages are claimed with a lease: [`MailStore::claim_mail`] hands each due message to one
/// caller only, until the lease ends (a node that died while sending), so several nodes send
/// every message once. Tickets are consumed with the change they allow, in one transaction,
/// by exactly one of concurrent callers.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Queues a message, due at once; returns its id.
    async fn queue_mail(&self, m: &NewMail, now: i64) -> Result<String>;
    /// Claims up to `limit` messages due at `now` that no lease holds, for `worker` until
    /// `now + lease`, counting an attempt on each; oldest due first.
    async fn claim_mail(
        &self,
        worker: &str,
        now: i64,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<OutboxMail>>;
    /// Records a message sent by `worker` (its bodies are emptied); `false` if `worker` no
    /// longer held it.
    async fn mail_sent(&self, id: &str, worker: &str, now: i64) -> Result<bool>;
    /// Records a failed attempt by `worker`: due again at `retry_at`, or abandoned (`None`;
    /// its bodies are emptied). `false` if `worker` no longer held it.
    async fn mail_failed(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool>;
    /// The outbox, newest first, with the total.
    async fn list_outbox(&self, page: Page) -> Result<Paged<OutboxMail>>;
    /// The earliest `next_attempt_at` of the messages waiting, if any.
    async fn next_mail_due(&self) -> Result<Option<i64>>;
    /// Deletes messages sent or abandoned before `before` and tickets expired before it;
    /// returns how many rows went.
    async fn prune_mail(&self, before: i64) -> Result<u64>;
    async fn create_ticket(&self, t: &Ticket) -> Result<()>;
    /// Reads a ticket without using it (the confirmation page shows whether it is valid).
    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>>;
    /// Consumes a `Verify` ticket valid at `now` and marks the user's email verified, raising
    /// their authz version with an event, in one transaction.
    async fn verify_email_with_ticket(&self, id: &str, now: i64) -> Result<TicketOutcome>;
    /// Consumes a `Reset` ticket valid at `now` and sets the user's password hash (and, when
    /// the ticket says so, marks the email verified), ending every SSO session, console
    /// session and refresh token of the user and raising their authz version, in one
    /// transaction.
    async fn reset_password_with_ticket(
        &self,
        id: &str,
        now: i64,
        password_hash: &str,
    ) -> Result<TicketOutcome>;
}

/// A new entry of the audit log. Whoever builds one keeps secrets out of it: no passwords,
/// client secrets, tokens, codes or cookies, in any field or in `details`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewLogEntry {
    /// RFC 3339; `None` means now. Set only to record something that happened earlier (tests,
    /// imports).
    pub date: Option<String>,
    /// Auth0's event type code: `s`, `fp`, `sapi`, …
    pub log_type: String,
    pub description: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub connection: Option<String>,
    /// A JSON object with event-specific data.
    pub details: Value,
}

/// A stored audit log entry: a [`NewLogEntry`] with its id and date.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// A numeric string that sorts by time (unix milliseconds, then random digits).
    pub log_id: String,
    /// RFC 3339 UTC with milliseconds.
    pub date: String,
    pub log_type: String,
    pub description: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub connection: Option<String>,
    pub details: Value,
}

/// Which audit log entries to list; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Entries of any of these types; empty means every type.
    pub types: Vec<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// Inclusive lower bound on the date (RFC 3339).
    pub from: Option<String>,
    /// Inclusive upper bound on the date (RFC 3339).
    pub to: Option<String>,
    /// Oldest first; newest first by default.
    pub oldest_first: bool,
}

/// The audit log: append-only (there is no update), pruned by age for retention.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends one entry and returns it as stored.
    async fn append_log(&self, e: &NewLogEntry) -> Result<LogEntry>;
    /// Entries matching `filter`, newest first unless `filter.oldest_first`, with the total.
    async fn list_logs(&self, filter: &LogFilter, page: Page) -> Result<Paged<LogEntry>>;
    async fn get_log(&self, log_id: &str) -> Result<LogEntry>;
    /// Deletes entries dated before `older_than` (RFC 3339); returns how many.
    async fn prune_logs(&self, older_than: &str) -> Result<u64>;
}

#[async_trait]
pub trait Lifecycle: Send + Sync {
    /// Closes connections cleanly (on shutdown).
    async fn close(&self);
    /// For readiness: reads where the schema stands against this build's migrations, which
    /// also shows the database answers (SQLite: and that the file at the database's path is
    /// still the one the store opened, not deleted or replaced). The caller bounds the wait.
    async fn schema_status(&self) -> Result<migrate::SchemaStatus>;
    /// For readiness: whether the connection that carries [`AuthzEventStore::wakeups`] is up
    /// (PostgreSQL's `LISTEN`); `None` where there is none (SQLite polls).
    fn wakeups_connected(&self) -> Option<bool> {
        None
    }
    /// The connection pool's use now (for the metrics).
    fn pool_use(&self) -> PoolUse;
}

/// A connection pool's use at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUse {
    /// Open connections, idle or in use.
    pub size: u32,
    /// Open connections waiting for a query.
    pub idle: u32,
}

/// Declares a trait that is the sum of `parts`, implemented by every type that has them all
/// (one list, so the trait and its blanket impl cannot disagree).
macro_rules! sum_trait {
    ($(#[$doc:meta])* $name:ident = $first:ident $(+ $part:ident)*) => {
        $(#[$doc])*
        pub trait $name: $first $(+ $part)* {}

        impl<T> $name for T where T: $first $(+ $part)* {}
    };
}

sum_trait! {
    /// Everything the server needs from storage.
    Store = ResourceServerStore
        + RoleStore
        + GroupStore
        + UserStore
        + ClientStore
        + ClientGrantStore
        + SigningKeyStore
        + ActionStore
        + AuthzEventStore
        + LoginStore
        + ConsentStore
        + MailStore
        + MfaStore
        + PasskeyStore
        + SsfStore
        + AuditStore
        + Lifecycle
}
