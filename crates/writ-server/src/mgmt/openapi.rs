use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;

use super::apis;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    version = "3.1.0",
    info(title = "Writ Management API v2", version = env!("CARGO_PKG_VERSION")),
    paths(apis::list, apis::create, apis::read, apis::update, apis::remove),
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { ApiDoc::openapi().to_pretty_json().unwrap_or_default() }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn dump() {
        use utoipa::OpenApi;
        std::fs::write("/tmp/oa/doc.json", super::ApiDoc::openapi().to_pretty_json().unwrap()).unwrap();
    }
}
