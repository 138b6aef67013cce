//! `/api/v2/users/{id}/authentication-methods`: a user's second factors and passkeys, in Auth0's paths and
//! scopes (`read:authentication_methods`, `delete:authentication_methods`). Deleting one (or
//! all) lets a user who lost their device log in with the password again and enroll anew;
//! each deletion is audited by [`writ_service::mfa`]. Tokens already issued keep their `amr`
//! (it says how that login was made), so no authz version moves.

use serde::Serialize;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use writ_service::mfa;

use super::prelude::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, remove_all))
        .routes(routes!(remove))
}

/// One authentication method of a user (Auth0's shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthenticationMethod {
    /// The method's id (`totp_…`, `passkey_…`).
    pub id: String,
    /// `totp` or `passkey`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether enrollment finished.
    pub confirmed: bool,
    pub name: Option<String>,
    pub created_at: Option<String>,
    /// When it last authenticated the user.
    pub last_auth_at: Option<String>,
}

/// The method's id in the path.
pub struct MethodId;

impl IntoParams for MethodId {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("authentication_method_id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(
                    "The authentication method's id (`totp_…`, `passkey_…`).",
                ))
                .schema(Some(String::schema()))
                .build(),
        ]
    }
}

#[utoipa::path(
    get,
    path = "/users/{id}/authentication-methods",
    operation_id = "get_authentication_methods",
    tag = "users",
    summary = "List a user's authentication methods",
    description = "The user's authentication methods: TOTP authenticators (confirmed or being enrolled) and passkeys.",
    params(UserId),
    responses(
        (status = 200, description = "The methods, oldest first.", body = Vec<AuthenticationMethod>),
        schemas::Denied<UserId>,
    ),
    security(("bearer" = ["read:authentication_methods"]))
)]
async fn list(c: Caller, Path(UserId(id)): Path<UserId>) -> Result<Response, ApiError> {
    let rfc3339 = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    let methods: Vec<AuthenticationMethod> = mfa::list_methods(&c, &id)
        .await?
        .into_iter()
        .map(|a| AuthenticationMethod {
            id: a.id,
            kind: a.kind,
            confirmed: a.confirmed,
            name: a.name,
            created_at: rfc3339(a.created_at),
            last_auth_at: a.last_used_at.and_then(rfc3339),
        })
        .collect();
    Ok(ok(methods))
}

#[utoipa::path(
    delete,
    path = "/users/{id}/authentication-methods",
    operation_id = "delete_authentication_methods",
    tag = "users",
    summary = "Delete all of a user's authentication methods",
    description = "Also deletes the user's recovery code: their next login asks for a new enrollment when a factor is required.",
    params(UserId),
    responses(
        (status = 204, description = "Deleted."),
        schemas::Denied<UserId>,
    ),
    security(("bearer" = ["delete:authentication_methods"]))
)]
async fn remove_all(c: Caller, Path(UserId(id)): Path<UserId>) -> Result<Response, ApiError> {
    mfa::delete_methods(&c, &c.actor(), &id).await?;
    Ok(no_content())
}

#[utoipa::path(
    delete,
    path = "/users/{id}/authentication-methods/{authentication_method_id}",
    operation_id = "delete_authentication_methods_by_authentication_method_id",
    tag = "users",
    summary = "Delete one of a user's authentication methods",
    params(UserId, MethodId),
    responses(
        (status = 204, description = "Deleted."),
        schemas::Denied<UserId>,
    ),
    security(("bearer" = ["delete:authentication_methods"]))
)]
async fn remove(
    c: Caller,
    Path((id, method)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    mfa::delete_method(&c, &c.actor(), &id, &method).await?;
    Ok(no_content())
}
