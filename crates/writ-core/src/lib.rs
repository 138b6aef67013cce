//! Writ's domain, free of IO: the shapes of APIs, roles, users and clients, the rules that
//! validate them, RBAC evaluation (Auth0's semantics) and the claims of an access token.
//!
//! Everything here is synchronous and deterministic so it can be unit-tested exhaustively and
//! reused by the store, the server and the command-line tools alike.

pub mod claims;
pub mod metadata;
pub mod model;
pub mod password_policy;
pub mod protocol;
pub mod rbac;
pub mod validate;

pub use claims::AccessClaims;
pub use model::*;
pub use protocol::CONSOLE_CLIENT_ID;
pub use validate::ValidationError;
