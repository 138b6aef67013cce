//! What the operations' `#[utoipa::path]` attributes share: the error responses most
//! operations have, as [`IntoResponses`] types named in `responses(...)` (with the 404 of the
//! resource a path names, when it names one), and the path parameters naming a resource, as
//! [`IntoParams`] types that are also the handlers' `Path` extractors. The bodies themselves
//! are the types in [`super::types`].

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::Deserialize;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, Response, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses, PartialSchema, ToSchema};

pub const E400_QUERY: &str = "Invalid query string (for example `per_page` above 100).";
pub const E400_BODY: &str =
    "Invalid body: not a JSON object, an unknown or missing property, or an invalid value.";
pub const E401: &str =
    "Missing, malformed, expired or invalid access token (see `WWW-Authenticate`).";
pub const E403: &str = "The access token lacks a required scope (see `WWW-Authenticate`).";
pub const E403_SYSTEM: &str =
    "The access token lacks the required scope, or the API is the built-in Management API.";

/// An error response: `description`, with Auth0's error body.
fn error(status: &str, description: &str) -> (String, RefOr<Response>) {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(super::types::Error::name())))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build();
    (status.to_owned(), response.into())
}

/// What an operation's path names: `()` for nothing, else a resource whose absence is a 404.
pub trait Resource {
    /// The 404's description, when the path names a resource.
    const MISSING: Option<&'static str>;
}

impl Resource for () {
    const MISSING: Option<&'static str> = None;
}

/// 401 ([`E401`]) and 403 ([`E403`]): every operation's token check; with a resource `R`,
/// its 404 too.
pub struct Denied<R = ()>(PhantomData<R>);

impl<R: Resource> IntoResponses for Denied<R> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = BTreeMap::from([error("401", E401), error("403", E403)]);
        r.extend(R::MISSING.map(|d| error("404", d)));
        r
    }
}

/// 400 for the query string ([`E400_QUERY`]), and [`Denied`]'s.
pub struct QueryDenied<R = ()>(PhantomData<R>);

impl<R: Resource> IntoResponses for QueryDenied<R> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = Denied::<R>::responses();
        r.extend([error("400", E400_QUERY)]);
        r
    }
}

/// 400 for the body ([`E400_BODY`]), and [`Denied`]'s.
pub struct BodyDenied<R = ()>(PhantomData<R>);

impl<R: Resource> IntoResponses for BodyDenied<R> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = Denied::<R>::responses();
        r.extend([error("400", E400_BODY)]);
        r
    }
}

/// [`Denied`]'s, with a 403 that also names the built-in Management API ([`E403_SYSTEM`]),
/// which cannot be changed or deleted.
pub struct SystemDenied<R = ()>(PhantomData<R>);

impl<R: Resource> IntoResponses for SystemDenied<R> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = Denied::<R>::responses();
        r.extend([error("403", E403_SYSTEM)]);
        r
    }
}

/// 400 for the body ([`E400_BODY`]), and [`SystemDenied`]'s.
pub struct SystemBodyDenied<R = ()>(PhantomData<R>);

impl<R: Resource> IntoResponses for SystemBodyDenied<R> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = SystemDenied::<R>::responses();
        r.extend([error("400", E400_BODY)]);
        r
    }
}

/// A required string path parameter.
fn path_parameter(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(String::schema()))
        .build()
}

/// Declares path parameters that name a resource: each a newtype over the path segment (the
/// handler's `Path` extractor), documented by `params(...)` and naming the resource's 404 in
/// [`Denied`] and its kin.
macro_rules! path_ids {
    ($($ty:ident($name:literal, $description:literal, $missing:literal);)*) => {$(
        #[doc = $description]
        #[derive(Debug, Deserialize)]
        pub struct $ty(pub String);

        impl IntoParams for $ty {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                vec![path_parameter($name, $description)]
            }
        }

        impl Resource for $ty {
            const MISSING: Option<&'static str> = Some($missing);
        }
    )*};
}

path_ids! {
    ApiId("id", "The API's id or identifier (audience).", "No such API.");
    RoleId("id", "The role's id.", "No such role.");
    GroupId("id", "The group's id (`grp_…`).", "No such group.");
    UserId("id", "The user's id.", "No such user.");
    ClientId("id", "The client's `client_id`.", "No such client.");
    ClientGrantId("id", "The client grant's id.", "No such client grant.");
    ConsentId("id", "The consent's id.", "No such grant.");
    Kid("kid", "The key id (`kid`).", "No such signing key.");
    JobId("id", "The job's id (`job_…`).", "No such job (or the server restarted since).");
    LogId("id", "The entry's `log_id`.", "No such entry (or it was pruned).");
    ActionId("id", "The action's id (`act_…`).", "No such action.");
    TriggerId("triggerId", "The trigger: `post-login` or `credentials-exchange`.", "No such trigger.");
}
