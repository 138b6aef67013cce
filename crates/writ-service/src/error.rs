//! What a use case answers when it refuses or fails: one typed error for every caller (the
//! Management API, the console, the CLI through the API). Each kind names Auth0's `errorCode`
//! and status, so the HTTP edge maps it without judging it again, and a refused input names the
//! property it is about, so a form shows the message next to its field.

use writ_core::ValidationError;
use writ_store::StoreError;

/// A use case's refusal or failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The thing named does not exist (`inexistent_resource`, 404).
    #[error("The {0} does not exist.")]
    NotFound(&'static str),
    /// It would clash with what exists (`conflict`, 409).
    #[error("{0}")]
    Conflict(String),
    /// The input is refused (`invalid_body`, 400): the top-level property it is about, when it
    /// is about one, and Auth0's whole message.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// The caller's token lacks permissions the operation needs (`insufficient_scope`, 403):
    /// the ones missing (see [`crate::access::require`]).
    #[error("Insufficient scope, expected any of: {}", .missing.join(","))]
    Forbidden { missing: Vec<String> },
    /// Refused for another reason, with Auth0's status and `errorCode` for it (a system API
    /// that cannot change: 403 `operation_not_supported`; a key in the wrong state: 400
    /// `invalid_key_state`).
    #[error("{message}")]
    Refused {
        status: u16,
        code: &'static str,
        message: String,
    },
    /// The store failed (`internal_error`, 500); the detail is logged, never shown.
    #[error("Internal error")]
    Internal(String),
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

impl ServiceError {
    /// A refused input about `field`, with Auth0's message shape
    /// `Payload validation error: '<reason>' on property <field>.`
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Self {
        ServiceError::Invalid {
            field: Some(top_level(field)),
            message: format!("Payload validation error: '{reason}' on property {field}."),
        }
    }

    /// A refused input with a whole message, about `field` when given, else about the
    /// property the message names (`… on property p.`, `Missing required property: p`).
    pub fn invalid_message(field: Option<&str>, message: impl Into<String>) -> Self {
        let message = message.into();
        let field = field.map(top_level).or_else(|| named_property(&message));
        ServiceError::Invalid { field, message }
    }

    /// A required property is missing.
    pub fn missing(field: &str) -> Self {
        ServiceError::Invalid {
            field: Some(field.to_owned()),
            message: format!("Payload validation error: 'Missing required property: {field}'."),
        }
    }

    /// Auth0's `errorCode`.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::NotFound(_) => "inexistent_resource",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::Invalid { .. } => "invalid_body",
            ServiceError::Forbidden { .. } => "insufficient_scope",
            ServiceError::Refused { code, .. } => code,
            ServiceError::Internal(_) => "internal_error",
        }
    }

    /// The HTTP status Auth0's Management API answers it with.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::NotFound(_) => 404,
            ServiceError::Conflict(_) => 409,
            ServiceError::Invalid { .. } => 400,
            ServiceError::Forbidden { .. } => 403,
            ServiceError::Refused { status, .. } => *status,
            ServiceError::Internal(_) => 500,
        }
    }

    /// The property a refused input is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            ServiceError::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

/// The top-level property an Auth0 validation message names, if any.
fn named_property(message: &str) -> Option<String> {
    let tail = message
        .split(" on property ")
        .nth(1)
        .or_else(|| message.split("Missing required property: ").nth(1))?;
    let name: String = tail
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// `scopes[0].value` → `scopes`.
fn top_level(field: &str) -> String {
    field.split(['.', '[']).next().unwrap_or(field).to_owned()
}

impl From<ValidationError> for ServiceError {
    fn from(v: ValidationError) -> Self {
        ServiceError::invalid(&v.field, &v.reason)
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            StoreError::Invalid(v) => v.into(),
            other => {
                tracing::error!(error = %other, "store error");
                ServiceError::Internal(other.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fields() {
        let e = ServiceError::invalid("scopes[0].value", "String is too long");
        assert_eq!(e.field(), Some("scopes"));
        assert_eq!(
            e.to_string(),
            "Payload validation error: 'String is too long' on property scopes[0].value."
        );
        assert_eq!((e.status(), e.code()), (400, "invalid_body"));
        assert_eq!(
            ServiceError::from(StoreError::NotFound("role")).to_string(),
            "The role does not exist."
        );
    }
}
