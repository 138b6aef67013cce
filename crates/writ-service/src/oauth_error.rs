//! Why an OAuth request is refused, without HTTP: one variant per error code of RFC 6749 §5.2
//! (plus `access_denied` of §4.1.2.1, `invalid_target` of RFC 8707, Auth0's
//! `too_many_attempts` and `server_error`). Client authentication and token minting return it;
//! the HTTP edge maps each variant onto its status code, body and headers.

use writ_store::StoreError;

/// An OAuth refusal: the error code is the variant, the text is the `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthRefusal {
    /// `invalid_request`: a parameter is missing, repeated or malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// `invalid_client`: client authentication failed. `via_basic` when the client
    /// authenticated with HTTP Basic (the answer then carries a Basic challenge).
    #[error("{description}")]
    InvalidClient {
        description: String,
        via_basic: bool,
    },
    /// `invalid_grant`: the code, refresh token or password is invalid, expired or revoked.
    #[error("{0}")]
    InvalidGrant(String),
    /// `unauthorized_client`: the client may not use this grant.
    #[error("{0}")]
    UnauthorizedClient(String),
    /// `unsupported_grant_type`.
    #[error("{0}")]
    UnsupportedGrantType(String),
    /// `invalid_scope`.
    #[error("{0}")]
    InvalidScope(String),
    /// `access_denied`: the client may not have tokens for this API.
    #[error("{0}")]
    AccessDenied(String),
    /// `invalid_target` (RFC 8707): the API asked for is ambiguous.
    #[error("{0}")]
    InvalidTarget(String),
    /// `too_many_attempts` (Auth0): refused by the brute-force limiter for `retry_after`
    /// seconds.
    #[error("{description}")]
    TooManyAttempts {
        description: String,
        retry_after: u64,
    },
    /// A post-login action asked for a second factor the login did not use
    /// (`api.multifactor.enable`): the password grant answers Auth0's `mfa_required` with an
    /// `mfa_token`; other grants `access_denied`.
    #[error("Multifactor authentication required")]
    MfaRequired,
    /// `server_error`: the detail is logged, never sent.
    #[error("{0}")]
    ServerError(String),
}

impl OAuthRefusal {
    /// The `error` code of the response.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::AccessDenied(_) => "access_denied",
            Self::InvalidTarget(_) => "invalid_target",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::MfaRequired => "mfa_required",
            Self::ServerError(_) => "server_error",
        }
    }

    /// `invalid_request` with this description.
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::InvalidRequest(d.into())
    }

    /// `invalid_grant` with this description.
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::InvalidGrant(d.into())
    }

    /// `unauthorized_client` with this description.
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::UnauthorizedClient(d.into())
    }

    /// `access_denied` with this description.
    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::AccessDenied(d.into())
    }

    /// `server_error`, keeping `detail` for the log.
    pub fn server_error(detail: impl std::fmt::Display) -> Self {
        Self::ServerError(detail.to_string())
    }
}

impl From<StoreError> for OAuthRefusal {
    fn from(e: StoreError) -> Self {
        Self::server_error(e)
    }
}
