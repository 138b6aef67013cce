//! The one list of tables a dump carries, with each column's backend-neutral kind. It is the
//! single place to update when a migration adds a table or a column: `export` and `import`
//! compare it with the live schema first and refuse to run while the two disagree, so a table
//! nobody listed here can never be left out of a dump silently.
//!
//! Order matters: tables are written and restored in this order, which satisfies every
//! foreign key (a referenced table comes before the tables that reference it), and a seeded
//! counter that triggers bump comes after the tables whose triggers bump it.

use crate::Backend;

/// How a column's values are written in a dump, whatever the backend stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Text as a JSON string.
    Text,
    /// A 64-bit integer as a JSON number.
    Int,
    /// A boolean as `true`/`false` (SQLite stores 0/1, PostgreSQL `BOOLEAN`).
    Bool,
    /// JSON kept in a text (or `json`/`jsonb`) column, written as the JSON value itself.
    Json,
    /// Bytes as a standard base64 string (RFC 4648 §4, padded).
    Bytes,
}

/// Which backends have a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum On {
    Both,
    Postgres,
}

/// How a table's generated integer key continues after an import.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counter {
    /// The generated column (SQLite: `INTEGER PRIMARY KEY AUTOINCREMENT`, numbered through
    /// `sqlite_sequence`).
    pub column: &'static str,
    /// Its PostgreSQL counterpart.
    pub postgres: PgCounter,
}

/// Where PostgreSQL keeps a table's counter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PgCounter {
    /// A counter row: `read` returns the highest value handed out, `write` sets it (`$1`).
    Row {
        read: &'static str,
        write: &'static str,
    },
    /// The column's own sequence (`BIGSERIAL` or an identity column), moved with `setval`.
    Sequence,
}

/// One table of the dump.
#[derive(Debug)]
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// The primary key: rows are written in this order, so two dumps of the same data are
    /// identical line for line, whichever backend they come from.
    pub key: &'static [&'static str],
    pub on: On,
    /// The migrations insert this table's rows (a singleton counter): an import replaces them
    /// with the dump's, and they do not make a database count as non-empty.
    pub seeded: bool,
    pub counter: Option<Counter>,
}

impl Table {
    /// Whether `backend` has this table.
    pub fn exists_on(&self, backend: Backend) -> bool {
        match self.on {
            On::Both => true,
            On::Postgres => backend == Backend::Postgres,
        }
    }
}

use Kind::{Bool, Bytes, Int, Json, Text};

const fn table(
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    key: &'static [&'static str],
) -> Table {
    Table {
        name,
        columns,
        key,
        on: On::Both,
        seeded: false,
        counter: None,
    }
}

/// Every table of both migration sets, in foreign-key order.
pub(crate) static TABLES: &[Table] = &[
    table(
        "resource_servers",
        &[
            ("id", Text),
            ("identifier", Text),
            ("name", Text),
            ("signing_alg", Text),
            ("token_lifetime", Int),
            ("enforce_policies", Bool),
            ("token_dialect", Text),
            ("allow_offline_access", Bool),
            ("is_system", Bool),
            ("created_at", Text),
            ("token_claims", Json),
        ],
        &["id"],
    ),
    table(
        "resource_server_scopes",
        &[
            ("rs_id", Text),
            ("value", Text),
            ("description", Text),
            ("position", Int),
        ],
        &["rs_id", "value"],
    ),
    table(
        "roles",
        &[
            ("id", Text),
            ("name", Text),
            ("description", Text),
            ("created_at", Text),
        ],
        &["id"],
    ),
    table(
        "role_permissions",
        &[("role_id", Text), ("rs_id", Text), ("permission", Text)],
        &["role_id", "rs_id", "permission"],
    ),
    table(
        "users",
        &[
            ("id", Text),
            ("email", Text),
            ("email_verified", Bool),
            ("password_hash", Text),
            ("name", Text),
            ("blocked", Bool),
            ("app_metadata", Json),
            ("user_metadata", Json),
            ("created_at", Text),
            ("updated_at", Text),
            ("authz_version", Int),
        ],
        &["id"],
    ),
    table(
        "user_roles",
        &[("user_id", Text), ("role_id", Text)],
        &["user_id", "role_id"],
    ),
    table(
        "user_permissions",
        &[("user_id", Text), ("rs_id", Text), ("permission", Text)],
        &["user_id", "rs_id", "permission"],
    ),
    // A group's parent may come after it in key order: that reference is checked at commit.
    table(
        "groups",
        &[
            ("id", Text),
            ("name", Text),
            ("description", Text),
            ("parent_id", Text),
            ("created_at", Text),
            ("updated_at", Text),
            ("authz_version", Int),
            ("deleted_at", Text),
        ],
        &["id"],
    ),
    table(
        "group_members",
        &[("group_id", Text), ("user_id", Text)],
        &["group_id", "user_id"],
    ),
    table(
        "group_roles",
        &[("group_id", Text), ("role_id", Text)],
        &["group_id", "role_id"],
    ),
    table(
        "clients",
        &[
            ("client_id", Text),
            ("name", Text),
            ("description", Text),
            ("app_type", Text),
            ("grant_types", Json),
            ("callbacks", Json),
            ("allowed_origins", Json),
            ("web_origins", Json),
            ("allowed_logout_urls", Json),
            ("secret_hash", Text),
            ("is_first_party", Bool),
            ("refresh_rotation", Bool),
            ("refresh_leeway", Int),
            ("refresh_idle_lifetime", Int),
            ("refresh_absolute_lifetime", Int),
            ("created_at", Text),
            ("authz_version", Int),
        ],
        &["client_id"],
    ),
    table(
        "client_grants",
        &[
            ("id", Text),
            ("client_id", Text),
            ("rs_id", Text),
            ("scope", Json),
        ],
        &["id"],
    ),
    // `private_key` is sealed with the key-encryption key and stays sealed in the dump.
    table(
        "signing_keys",
        &[
            ("kid", Text),
            ("alg", Text),
            ("state", Text),
            ("private_key", Bytes),
            ("public_jwk", Json),
            ("created_at", Text),
            ("current_since", Text),
            ("current_until", Text),
            ("revoked_at", Text),
            ("retire_after", Int),
            ("certificate", Bytes),
        ],
        &["kid"],
    ),
    // When each non-RSA algorithm's keys were published in the JWKS (migration 0011).
    table(
        "key_publication",
        &[
            ("alg", Text),
            ("published_since", Text),
            ("retire_after", Int),
        ],
        &["alg"],
    ),
    // `secrets` is sealed with the key-encryption key and stays sealed in the dump.
    table(
        "actions",
        &[
            ("id", Text),
            ("name", Text),
            ("trigger_id", Text),
            ("code", Text),
            ("secrets", Bytes),
            ("version", Int),
            ("deployed_code", Text),
            ("created_at", Text),
            ("updated_at", Text),
            ("url", Text),
            ("deployed_url", Text),
            ("revision", Int),
        ],
        &["id"],
    ),
    table(
        "action_bindings",
        &[
            ("trigger_id", Text),
            ("position", Int),
            ("action_id", Text),
            ("display_name", Text),
        ],
        &["trigger_id", "position"],
    ),
    Table {
        counter: Some(Counter {
            column: "seq",
            postgres: PgCounter::Row {
                read: "SELECT seq FROM authz_log_head WHERE id = 1",
                write: "UPDATE authz_log_head SET seq = $1 WHERE id = 1",
            },
        }),
        ..table(
            "authz_events",
            &[
                ("seq", Int),
                ("user_id", Text),
                ("version", Int),
                ("kind", Text),
                ("at", Text),
                ("members_of", Text),
            ],
            &["seq"],
        )
    },
    // PostgreSQL numbers authz events from this locked row (see postgres/mod.rs).
    Table {
        on: On::Postgres,
        seeded: true,
        ..table("authz_log_head", &[("id", Int), ("seq", Int)], &["id"])
    },
    table(
        "sessions",
        &[
            ("id", Text),
            ("sid", Text),
            ("user_id", Text),
            ("auth_time", Int),
            ("last_seen", Int),
            ("expires_at", Int),
            ("amr", Text),
        ],
        &["id"],
    ),
    table(
        "authorization_codes",
        &[
            ("id", Text),
            ("client_id", Text),
            ("user_id", Text),
            ("redirect_uri", Text),
            ("scope", Text),
            ("audience", Text),
            ("nonce", Text),
            ("code_challenge", Text),
            ("sid", Text),
            ("auth_time", Int),
            ("expires_at", Int),
            ("used_at", Int),
            ("family_id", Text),
            ("amr", Text),
        ],
        &["id"],
    ),
    table(
        "refresh_tokens",
        &[
            ("id", Text),
            ("family_id", Text),
            ("parent_id", Text),
            ("client_id", Text),
            ("user_id", Text),
            ("audience", Text),
            ("scope", Text),
            ("sid", Text),
            ("auth_time", Int),
            ("created_at", Int),
            ("idle_expires_at", Int),
            ("family_expires_at", Int),
            ("used_at", Int),
            ("revoked", Bool),
            ("amr", Text),
        ],
        &["id"],
    ),
    table(
        "consents",
        &[
            ("id", Text),
            ("user_id", Text),
            ("client_id", Text),
            ("audience", Text),
            ("scope", Json),
            ("created_at", Text),
            ("updated_at", Text),
        ],
        &["id"],
    ),
    // `token` is sealed with the key-encryption key and stays sealed in the dump.
    table(
        "console_sessions",
        &[
            ("id", Text),
            ("user_id", Text),
            ("token", Bytes),
            ("created_at", Int),
            ("expires_at", Int),
        ],
        &["id"],
    ),
    // The bodies of unsent messages carry their one-time links, as the outbox holds them.
    table(
        "mail_outbox",
        &[
            ("id", Text),
            ("recipient", Text),
            ("kind", Text),
            ("subject", Text),
            ("text_body", Text),
            ("html_body", Text),
            ("created_at", Int),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("last_error", Text),
            ("sent_at", Int),
            ("claimed_by", Text),
            ("claimed_until", Int),
        ],
        &["id"],
    ),
    // `id` is the SHA-256 of the link's token, as for refresh tokens.
    table(
        "user_tickets",
        &[
            ("id", Text),
            ("user_id", Text),
            ("kind", Text),
            ("client_id", Text),
            ("result_url", Text),
            ("mark_email_verified", Bool),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
        ],
        &["id"],
    ),
    // Multi-factor authentication (0016). A TOTP `secret` is sealed with the key-encryption key
    // and stays sealed in the dump; recovery codes and half-logins are hashes.
    table(
        "authenticators",
        &[
            ("id", Text),
            ("user_id", Text),
            ("type", Text),
            ("name", Text),
            ("secret", Bytes),
            ("confirmed", Bool),
            ("created_at", Int),
            ("last_used_at", Int),
            ("last_step", Int),
        ],
        &["id"],
    ),
    table(
        "recovery_codes",
        &[
            ("id", Text),
            ("user_id", Text),
            ("created_at", Int),
            ("used_at", Int),
        ],
        &["id"],
    ),
    table(
        "mfa_logins",
        &[
            ("id", Text),
            ("kind", Text),
            ("user_id", Text),
            ("client_id", Text),
            ("audience", Text),
            ("scope", Text),
            ("tx", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
        ],
        &["id"],
    ),
    table(
        "mfa_attempts",
        &[("user_id", Text), ("tokens", Int), ("refill_at", Int)],
        &["user_id"],
    ),
    // Passkeys (0017): public keys and counters (nothing secret), after their authenticators;
    // ceremonies under way are the library's server state (challenges, not secrets).
    table(
        "passkeys",
        &[
            ("authenticator_id", Text),
            ("user_id", Text),
            ("credential_id", Text),
            ("user_handle", Text),
            ("static_state", Bytes),
            ("dynamic_state", Bytes),
            ("sign_count", Int),
            ("backup_eligible", Bool),
            ("backed_up", Bool),
            ("transports", Int),
        ],
        &["authenticator_id"],
    ),
    table(
        "passkey_challenges",
        &[
            ("id", Text),
            ("kind", Text),
            ("binding", Text),
            ("user_id", Text),
            ("state", Bytes),
            ("created_at", Int),
            ("expires_at", Int),
        ],
        &["id"],
    ),
    // Shared Signals (0018). `auth_header` is sealed with the key-encryption key and stays
    // sealed in the dump; queued SETs are signed tokens, as the receiver will get them.
    table(
        "ssf_streams",
        &[
            ("id", Text),
            ("client_id", Text),
            ("method", Text),
            ("config", Json),
            ("auth_header", Bytes),
            ("status", Text),
            ("reason", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("verified_at", Int),
        ],
        &["id"],
    ),
    table(
        "ssf_subjects",
        &[("stream_id", Text), ("user_id", Text), ("included", Bool)],
        &["stream_id", "user_id"],
    ),
    table(
        "ssf_outbox",
        &[
            ("jti", Text),
            ("stream_id", Text),
            ("ord", Int),
            ("set_jwt", Text),
            ("created_at", Int),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("last_error", Text),
            ("claimed_by", Text),
            ("claimed_until", Int),
        ],
        &["jti"],
    ),
    Table {
        seeded: true,
        ..table("ssf_state", &[("id", Int), ("authz_seq", Int)], &["id"])
    },
    // Signals not yet turned into SETs (0020).
    table(
        "ssf_signals",
        &[
            ("txn", Text),
            ("ord", Int),
            ("subject", Text),
            ("event_type", Text),
            ("event", Json),
            ("at", Int),
        ],
        &["txn"],
    ),
    // No foreign keys (an entry outlives the user or client it names).
    Table {
        counter: Some(Counter {
            column: "seq",
            postgres: PgCounter::Sequence,
        }),
        ..table(
            "audit_log",
            &[
                ("seq", Int),
                ("log_id", Text),
                ("date", Text),
                ("type", Text),
                ("description", Text),
                ("ip", Text),
                ("user_agent", Text),
                ("client_id", Text),
                ("client_name", Text),
                ("user_id", Text),
                ("user_name", Text),
                ("connection", Text),
                ("details", Json),
            ],
            &["seq"],
        )
    },
    // Bumped by triggers on the catalog tables (0003_multinode): it comes after them, so the
    // imported value is the one that stays.
    Table {
        seeded: true,
        ..table("catalog_state", &[("id", Int), ("version", Int)], &["id"])
    },
];

/// The table called `name`, and its position in [`TABLES`].
pub(crate) fn find(name: &str) -> Option<(usize, &'static Table)> {
    TABLES.iter().enumerate().find(|(_, t)| t.name == name)
}
