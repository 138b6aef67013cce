//! The scopes each Management API route requires, read once from the OpenAPI document.
//!
//! A route's scope is declared in one place: the `security(...)` of its handler's
//! `#[utoipa::path]` attribute. [`super::Caller`] looks the matched route up here and requires
//! every scope of the operation's first security alternative before the handler runs; a
//! second alternative documents what some requests need on top (see
//! [`super::Caller::require_conditional`]). A route the document gives no scope is refused, never
//! served without one.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::Method;
use serde_json::Value;

/// An operation's security alternatives, each the list of scopes it names.
pub type Alternatives = Vec<Vec<String>>;

/// `(method, path under /api/v2)` → the operation's security alternatives, for every
/// operation of the served document that names any.
static TABLE: LazyLock<HashMap<(Method, String), Alternatives>> =
    LazyLock::new(|| table(&super::openapi::document_json()));

/// Reads the alternatives of every operation of `doc` (an OpenAPI document as JSON).
fn table(doc: &Value) -> HashMap<(Method, String), Alternatives> {
    let mut out = HashMap::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let (Ok(method), Some(security)) = (
                Method::from_bytes(method.to_ascii_uppercase().as_bytes()),
                op.get("security").and_then(Value::as_array),
            ) else {
                continue;
            };
            let alternatives = security
                .iter()
                .map(|alternative| {
                    alternative
                        .as_object()
                        .into_iter()
                        .flat_map(|schemes| schemes.values())
                        .filter_map(Value::as_array)
                        .flatten()
                        .filter_map(|s| Some(s.as_str()?.to_owned()))
                        .collect()
                })
                .collect();
            out.insert((method, path.clone()), alternatives);
        }
    }
    out
}

/// The security alternatives of the operation at `route` (the matched path, `/api/v2/…`):
/// `None` when the document names none, or the first names no scope. `HEAD` is answered by
/// the `GET` route, so it needs what `GET` needs.
pub fn of(method: &Method, route: &str) -> Option<&'static Alternatives> {
    find(&TABLE, method, route)
}

fn find<'t>(
    table: &'t HashMap<(Method, String), Alternatives>,
    method: &Method,
    route: &str,
) -> Option<&'t Alternatives> {
    let method = if method == Method::HEAD {
        Method::GET
    } else {
        method.clone()
    };
    table
        .get(&(method, route.to_owned()))
        .filter(|alternatives| alternatives.first().is_some_and(|first| !first.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation but the public reference and the health probes has an entry, with the
    /// scopes the document names; anything else has none.
    #[test]
    fn every_api_operation_has_its_documented_scopes() {
        let doc = super::super::openapi::document_json();
        let mut api_operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                let found = of(&method, path);
                if op.get("security").is_none() {
                    assert!(
                        [
                            "/api/v2/openapi.json",
                            "/api/v2/docs",
                            "/health/live",
                            "/health/ready"
                        ]
                        .contains(&path.as_str()),
                        "{method} {path} documents no scope"
                    );
                    assert!(found.is_none());
                    continue;
                }
                api_operations += 1;
                let found = found.unwrap_or_else(|| panic!("{method} {path} has no scopes"));
                assert_eq!(op["security"][0]["bearer"], serde_json::json!(found[0]));
                assert_eq!(found.len(), op["security"].as_array().unwrap().len());
            }
        }
        assert!(api_operations > 40, "{api_operations}");
        assert_eq!(
            of(&Method::GET, "/api/v2/roles/{id}").unwrap(),
            &vec![vec!["read:roles".to_owned()]]
        );
        assert_eq!(
            of(&Method::HEAD, "/api/v2/roles/{id}"),
            of(&Method::GET, "/api/v2/roles/{id}")
        );
        assert_eq!(
            of(&Method::GET, "/api/v2/users/{id}/roles").unwrap()[0],
            ["read:users", "read:roles"]
        );
        assert!(of(&Method::PUT, "/api/v2/roles/{id}").is_none());
        assert!(of(&Method::GET, "/api/v2/undocumented").is_none());
    }

    /// An operation that names no scope, or an empty alternative first, gets no entry: its
    /// route is refused rather than served to any valid token.
    #[test]
    fn an_operation_without_scopes_gets_none() {
        let doc = serde_json::json!({"paths": {
            "/a": {"get": {"security": [{"bearer": ["read:a"]}, {"bearer": ["read:a", "update:a"]}]}},
            "/b": {"get": {}, "post": {"security": []}, "put": {"security": [{}]}},
        }});
        let t = table(&doc);
        assert_eq!(
            t[&(Method::GET, "/a".to_owned())],
            vec![vec!["read:a"], vec!["read:a", "update:a"]]
        );
        assert!(find(&t, &Method::HEAD, "/a").is_some());
        for method in [Method::GET, Method::POST, Method::PUT] {
            assert!(find(&t, &method, "/b").is_none(), "{method}");
        }
    }
}
