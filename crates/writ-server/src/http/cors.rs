//! CORS for the endpoints a browser calls directly, cross-origin (token, revocation, userinfo,
//! discovery, JWKS, the user's live stream): tower-http's [`CorsLayer`], allowing exactly the origins some client lists
//! (`web_origins`, `allowed_origins`), read from the catalog at each request so a client's
//! change applies at once. `GET`/`POST`, the `Auth0-Client` header Auth0's SDKs send, no
//! credentials; `WWW-Authenticate` is exposed so an SPA can read why a token was refused.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::state::AppState;

/// The request headers a preflight allows, as they are announced.
const ALLOW_HEADERS: &str = "Content-Type, Authorization, Auth0-Client, Last-Event-ID";

/// The CORS layer over the catalog of `state`.
pub fn layer(state: &AppState) -> CorsLayer {
    let state = state.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin
                .to_str()
                .is_ok_and(|o| state.catalog.load().origins.contains(o))
        }))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("auth0-client"),
            // A live stream reconnecting (`GET /me/authz-events`, see `crate::live`).
            HeaderName::from_static("last-event-id"),
        ])
        .max_age(Duration::from_secs(600))
        .expose_headers([header::WWW_AUTHENTICATE])
        // `Vary: origin` is appended by [`preflight`] instead: a list here is copied and joined
        // again for every request (the layer is cloned with the route it wraps).
        .vary(Vec::<HeaderName>::new())
}

/// Around [`layer`]: every response gets `Vary: origin`; a preflight (`OPTIONS` with
/// `Access-Control-Request-Method`) is answered `204 No Content` with its allowed headers
/// spelled as Auth0's SDKs document them; a request from an origin that is not allowed gets no
/// CORS grant at all (only `Vary: Origin`).
pub async fn preflight(req: Request, next: Next) -> Response {
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut r = next.run(req).await;
    if preflight {
        *r.status_mut() = StatusCode::NO_CONTENT;
    }
    let h = r.headers_mut();
    // Appended, as the layer would: a handler's own `Vary` values stay.
    h.append(header::VARY, HeaderValue::from_static("origin"));
    if !h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        for name in [
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
        ] {
            h.remove(name);
        }
    } else if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
    }
    r
}
