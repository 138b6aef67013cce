//! Writ's application layer, between the HTTP edge (`writ-server`, `writ-console`) and the
//! store: the use cases, and the rules that must hold around every one of them. It knows no
//! HTTP type; the edge parses requests into its calls and maps its errors to the protocols'.
//!
//! [`Writ`] is the handle every use case takes: the store, the in-memory catalog, the key
//! ring, the password hasher, the brute-force limiter and the permission cache.

pub mod access;
pub mod account;
mod action_writes;
pub mod actor;
pub mod apis;
pub mod audit;
pub mod audit_stream;
pub mod bootstrap;
pub mod certificates;
pub mod client_auth;
pub mod clients;
pub mod config;
pub mod consents;
pub mod console;
pub mod crypto;
pub mod error;
pub mod events;
pub mod exchange;
pub mod groups;
pub mod health;
pub mod hooks;
pub mod imports;
pub mod jwt_signer;
pub mod key_rotation;
pub mod limiter;
pub mod live;
pub mod logins;
pub mod mail;
pub mod memberships;
pub mod metrics;
pub mod mfa;
pub mod oauth_error;
mod paging;
pub mod passkeys;
pub mod permissions;
pub mod proxies;
pub mod retention;
pub mod roles;
pub mod signing_keys;
pub mod signups;
pub mod ssf;
pub mod start;
pub mod time;
pub mod tokens;
pub mod users;
pub mod webhooks;
mod writ;

pub use actor::Actor;
pub use config::Config;
pub use error::{Result, ServiceError};
pub use oauth_error::OAuthRefusal;
pub use writ::{Catalog, WeakWrit, Writ};
/// The verified claims of a Writ access token, as the access rules take them.
pub use writ_guard::AccessClaims;
/// The store's shapes the use cases take and return (paging, list rows, filters), for callers
/// that need not depend on the store.
pub use writ_store::{
    Consent, GroupPath, LogEntry, LogFilter, OutboxMail, Page, PermissionInfo, Source, UserSummary,
};
