//! The Management API's reference: an OpenAPI 3.1 document at `GET /api/v2/openapi.json`, and a
//! self-contained HTML page rendering it at `GET /api/v2/docs`. Both are public: they describe
//! the API, they grant nothing.
//!
//! The document is collected from the routers themselves ([`super::routes`]): a route's path,
//! method and operation come from its handler's `#[utoipa::path]` attribute only. This module
//! adds what belongs to the whole document: its info, tags and the `bearer` security scheme.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The document's own parts; the operations come from the routers (see [`document`]).
#[derive(OpenApi)]
#[openapi(
    version = "3.1.0",
    info(
        title = "Writ Management API v2",
        version = env!("CARGO_PKG_VERSION"),
        description = "Writ's Auth0-compatible Management API: Auth0's paths, bodies, errors and scopes.\n\n\
            Every operation needs an access token whose audience is `{issuer}api/v2/` and which carries the \
            scopes the operation names, sent as `Authorization: Bearer <token>`. Get one with the \
            `client_credentials` grant at `POST /oauth/token`, for example with the bootstrap client.\n\n\
            Lists answer with a bare JSON array, or with `include_totals=true` with \
            `{start, limit, length, total, <items>}`. Errors have Auth0's body `{statusCode, error, message, errorCode}`.",
    ),
    tags(
        (name = "resource-servers", description = "APIs (Auth0: resource servers): the audiences of access tokens and their permission catalogs."),
        (name = "roles", description = "Roles: named sets of permissions, and the users holding them."),
        (name = "groups", description = "Groups: a tree of groups whose members inherit the roles of the group and of every ancestor."),
        (name = "users", description = "Users of the built-in database connection, their roles and their direct permissions."),
        (name = "jobs", description = "Bulk user import in Auth0's format (processed synchronously; jobs kept in memory)."),
        (name = "tickets", description = "Email links: a verification email, and one-time links that verify an email or reset a password."),
        (name = "clients", description = "Applications that obtain tokens, and client grants: which APIs a confidential client may call with `client_credentials`."),
        (name = "grants", description = "Consents users gave to third-party clients (Auth0: grants), and their revocation."),
        (name = "actions", description = "Hooks in Auth0 Actions' shape and their trigger bindings."),
        (name = "keys", description = "The keys that sign access tokens, and their rotation."),
        (name = "logs", description = "The audit log: Management API writes, logins, logouts, code exchanges and refresh-token reuse, in Auth0's log event shape."),
        (name = "authz-events", description = "The ordered log of authorization changes that APIs follow to reject stale tokens."),
        (name = "docs", description = "This reference. No access token needed."),
        (name = "health", description = "Liveness and readiness probes for orchestrators, at the server's root (not under `/api/v2`). No access token needed."),
    ),
    modifiers(&BearerScheme),
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("An access token (JWT) for the audience `{issuer}api/v2/`, carrying the operation's scopes."))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document: [`ApiDoc`] with every operation of the Management API routers under `/api/v2`,
/// and the health probes at the root.
pub fn document() -> utoipa::openapi::OpenApi {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v2", super::routes())
        .merge(crate::health::routes())
        .into_openapi()
}

/// The document, serialized once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

/// The served document as JSON (what [`super::scopes`] reads the routes' scopes from).
pub(super) fn document_json() -> serde_json::Value {
    serde_json::from_str(&DOCUMENT).expect("the document is JSON")
}

/// The reference page: inline CSS and JS only, nothing fetched but `./openapi.json`.
const DOCS_HTML: &str = include_str!("docs.html");

/// A strict Content-Security-Policy for the page, allowing exactly its inline style and script.
static DOCS_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = |tag: &str| {
        let body = inline(DOCS_HTML, tag).unwrap_or_default();
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes()))
        )
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash("script"),
        hash("style")
    )
});

/// The text of the first `<tag>…</tag>` element.
fn inline<'a>(html: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = html.find(&open)? + open.len();
    let len = html[start..].find(&format!("</{tag}>"))?;
    Some(&html[start..start + len])
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(openapi_json))
        .routes(routes!(docs))
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "get_openapi",
    tag = "docs",
    summary = "This OpenAPI document",
    responses((status = 200, description = "The OpenAPI 3.1 document of the Management API.", content_type = "application/json", body = Object)),
)]
async fn openapi_json() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/docs",
    operation_id = "get_docs",
    tag = "docs",
    summary = "This reference, as a web page",
    responses((status = 200, description = "A self-contained HTML page that renders `./openapi.json`.", content_type = "text/html", body = String)),
)]
async fn docs() -> Response {
    let csp = HeaderValue::from_str(&DOCS_CSP)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, csp),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        DOCS_HTML,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    /// The public routes: this module's, and the health probes.
    const DOC_ROUTES: &[&str] = &[
        "/api/v2/openapi.json",
        "/api/v2/docs",
        "/health/live",
        "/health/ready",
    ];

    fn doc() -> Value {
        serde_json::from_str(&DOCUMENT).expect("the document is JSON")
    }

    /// `(path, method, operation)` for every operation.
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = vec![];
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if METHODS.contains(&method.as_str()) {
                    out.push((path.clone(), method.clone(), op.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn serializes_as_openapi_3_1() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
        assert_eq!(doc["info"]["title"], "Writ Management API v2");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        // The same document the typed API builds.
        assert_eq!(serde_json::to_value(document()).unwrap(), doc);
    }

    /// A server over a fresh SQLite database.
    async fn app() -> (axum::Router, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}/writ.db", dir.path().display());
        let config = crate::Config::load(None, |k| match k {
            "WRIT_DATABASE_URL" => Some(db.clone()),
            "WRIT_PASSWORD_HASH_CONCURRENCY" => Some("1".into()),
            _ => None,
        })
        .unwrap();
        let (state, _) = crate::prepare(config).await.unwrap();
        (crate::router(state), dir)
    }

    /// The document and the server come from the same routers; this checks the server does
    /// route every documented operation (without a token: 401 for the API, 200 for the docs),
    /// and that the document names the public routes and the API's routes.
    #[tokio::test]
    async fn documents_exactly_the_registered_routes() {
        let doc = doc();
        let ops = operations(&doc);
        assert!(ops.len() > 40, "{} operations", ops.len());
        for p in DOC_ROUTES {
            assert!(
                ops.iter().any(|(path, m, _)| path == p && m == "get"),
                "{p}"
            );
        }
        let (app, _dir) = app().await;
        for (path, method, _) in ops {
            assert!(
                path.starts_with("/api/v2/") || path.starts_with("/health/"),
                "{path}"
            );
            let uri = path.replace('{', "x-").replace('}', "");
            let req = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let status = app.clone().oneshot(req).await.unwrap().status();
            let expected = if DOC_ROUTES.contains(&path.as_str()) {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(status, expected, "{method} {path}");
        }
    }

    #[test]
    fn every_api_operation_requires_a_bearer_token_with_scopes() {
        let doc = doc();
        let scheme = &doc["components"]["securitySchemes"]["bearer"];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
        assert_eq!(scheme["bearerFormat"], "JWT");
        assert!(
            doc.get("security").is_none(),
            "no document-wide requirement: the doc routes are public"
        );
        for (path, method, op) in operations(&doc) {
            if DOC_ROUTES.contains(&path.as_str()) {
                assert!(op.get("security").is_none(), "{method} {path} is public");
                continue;
            }
            let reqs = op["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} has no security"));
            // Usually one requirement; a second one names what some requests need on top
            // (the users import with `upsert=true`).
            assert!((1..=2).contains(&reqs.len()), "{method} {path}");
            for req in reqs {
                let scopes = req["bearer"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path} does not use bearer"));
                assert!(!scopes.is_empty(), "{method} {path} names no scope");
                for s in scopes {
                    let s = s.as_str().unwrap();
                    assert!(
                        writ_core::MANAGEMENT_SCOPES.contains(&s),
                        "{method} {path}: unknown scope {s}"
                    );
                }
            }
            let codes = op["responses"].as_object().unwrap();
            for code in ["401", "403"] {
                assert_eq!(
                    codes[code]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{method} {path} {code}"
                );
            }
        }
    }

    /// Every JSON answer of the API is a real type of `types` (a `$ref`, or an array of
    /// them), so the document cannot drift from what the handlers serialize: no operation
    /// answers a bare `object`. The one exception is the document itself.
    #[test]
    fn every_json_answer_names_its_type() {
        let doc = doc();
        for (path, method, op) in operations(&doc) {
            if path == "/api/v2/openapi.json" {
                continue;
            }
            for (code, response) in op["responses"].as_object().unwrap() {
                let Some(schema) = response["content"]["application/json"].get("schema") else {
                    continue;
                };
                let named = schema["$ref"].is_string() || schema["items"]["$ref"].is_string();
                assert!(named, "{method} {path} {code}: {schema}");
            }
        }
    }

    /// The document is the one declaration of the scopes: `Caller` requires an operation's
    /// first security alternative, and the one explicit check left, `require_conditional`
    /// (what some requests need on top), is made exactly by the handlers whose operation
    /// documents a second alternative. No handler names a scope itself.
    #[test]
    fn conditional_scope_checks_match_the_document() {
        let sources = [
            include_str!("apis.rs"),
            include_str!("roles.rs"),
            include_str!("groups.rs"),
            include_str!("users.rs"),
            include_str!("authentication_methods.rs"),
            include_str!("jobs.rs"),
            include_str!("tickets.rs"),
            include_str!("clients.rs"),
            include_str!("consents.rs"),
            include_str!("keys.rs"),
            include_str!("actions.rs"),
            include_str!("logs.rs"),
            include_str!("events.rs"),
        ];
        let doc = doc();
        let (mut checked, mut conditional) = (0, 0);
        for src in sources {
            for block in src.split("#[utoipa::path(").skip(1) {
                let (attr, rest) = block.split_once("\n)]\n").expect("attribute end");
                let path = attr
                    .split("path = \"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .expect("path");
                let method = attr
                    .lines()
                    .nth(1)
                    .expect("method")
                    .trim()
                    .trim_end_matches(',');
                let body = rest.split("\n}\n").next().expect("fn body");
                let alternatives = doc["paths"][format!("/api/v2{path}")][method]["security"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path} not in the document"))
                    .len();
                assert_eq!(
                    body.matches(".require_conditional()").count(),
                    alternatives - 1,
                    "{method} {path}"
                );
                conditional += alternatives - 1;
                for scope in writ_core::MANAGEMENT_SCOPES {
                    assert!(
                        !body.contains(&format!("\"{scope}\"")),
                        "{method} {path} names {scope}"
                    );
                }
                checked += 1;
            }
        }
        // A new handler file must be listed above.
        assert_eq!(
            checked,
            operations(&doc).len() - DOC_ROUTES.len(),
            "a handler file is missing above"
        );
        assert_eq!(conditional, 1, "the users import with upsert");
    }

    #[test]
    fn operation_ids_are_unique_and_operations_are_described() {
        let doc = doc();
        let tags: BTreeSet<&str> = doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let mut ids = BTreeSet::new();
        for (path, method, op) in operations(&doc) {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has no summary"
            );
            let op_tags = op["tags"].as_array().unwrap();
            assert_eq!(op_tags.len(), 1, "{method} {path}");
            assert!(
                tags.contains(op_tags[0].as_str().unwrap()),
                "{method} {path}: undeclared tag"
            );
            for p in path
                .split('{')
                .skip(1)
                .map(|r| r.split('}').next().unwrap())
            {
                let declared = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|x| x["name"] == p && x["in"] == "path" && x["required"] == true);
                assert!(declared, "{method} {path}: path parameter {p} not declared");
            }
        }
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = doc();
        let mut all = vec![];
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {r}"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling $ref {r}"
            );
        }
    }

    /// Property names (and required ones) of a component schema.
    fn properties(doc: &Value, name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let s = &doc["components"]["schemas"][name];
        let props = s["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {name}"))
            .keys()
            .cloned()
            .collect();
        let required = s["required"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        (props, required)
    }

    fn keys_of(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    /// The response schemas describe what the response types serialize to: every property,
    /// and the required ones exactly those never left out.
    #[tokio::test]
    async fn schemas_match_the_handlers_json() {
        use crate::mgmt::types;
        fn v(x: impl serde::Serialize) -> Value {
            serde_json::to_value(x).unwrap()
        }
        let doc = doc();
        let check = |name: &str, v: Value, optional: &[&str]| {
            let (props, required) = properties(&doc, name);
            assert_eq!(
                keys_of(&v),
                props
                    .iter()
                    .filter(|p| !optional.contains(&p.as_str()) || v.get(p.as_str()).is_some())
                    .cloned()
                    .collect(),
                "{name}"
            );
            let expected_required: BTreeSet<String> = props
                .iter()
                .filter(|p| !optional.contains(&p.as_str()))
                .cloned()
                .collect();
            assert_eq!(required, expected_required, "{name}: required properties");
        };

        let rs = writ_core::ResourceServer {
            id: "rs_1".into(),
            identifier: "https://api.example.com/".into(),
            name: "Example".into(),
            scopes: vec![writ_core::Scope {
                value: "read:x".into(),
                description: "Read".into(),
            }],
            signing_alg: writ_core::SigningAlg::RS256,
            token_lifetime: 3600,
            enforce_policies: true,
            token_dialect: writ_core::TokenDialect::AccessTokenAuthz,
            allow_offline_access: false,
            is_system: false,
            token_claims: Default::default(),
        };
        // Warming up: ES256 asked, RS256 signing until a time.
        let warming = writ_service::signing_keys::EffectiveSigning {
            alg: writ_core::SigningAlg::RS256,
            until: chrono::DateTime::from_timestamp(1_800_000_000, 0),
        };
        let rs_v = v(types::ResourceServer::from(&(rs, warming)));
        check("ResourceServer", rs_v.clone(), &[]);
        // `description` defaults to "" on input, so the shared schema makes it optional.
        check("Scope", rs_v["scopes"][0].clone(), &["description"]);

        let role = writ_core::Role {
            id: "rol_1".into(),
            name: "admin".into(),
            description: "".into(),
        };
        check("Role", v(types::Role::from(&role)), &[]);

        let perm = writ_store::PermissionInfo {
            resource_server_identifier: "https://api.example.com/".into(),
            resource_server_name: "Example".into(),
            permission_name: "read:x".into(),
            description: "Read".into(),
        };
        check("Permission", v(types::Permission::from(&perm)), &[]);

        let user = writ_core::User {
            user_id: "auth0|1".into(),
            email: "a@example.com".into(),
            email_verified: false,
            name: None,
            blocked: false,
            app_metadata: Default::default(),
            user_metadata: Default::default(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            authz_version: 1,
        };
        let user_v = v(types::User::from(&user));
        check("User", user_v.clone(), &[]);
        check("Identity", user_v["identities"][0].clone(), &[]);

        let client = writ_core::Client {
            client_id: "abc".into(),
            name: "App".into(),
            description: "".into(),
            app_type: writ_core::AppType::RegularWeb,
            grant_types: vec!["client_credentials".into()],
            callbacks: vec![],
            allowed_origins: vec![],
            web_origins: vec![],
            allowed_logout_urls: vec![],
            secret_hash: Some("00".into()),
            is_first_party: true,
            refresh_rotation: true,
            refresh_leeway: 0,
            refresh_idle_lifetime: 1,
            refresh_absolute_lifetime: 2,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            authz_version: 1,
        };
        let client_v = v(types::Client::new(&client, None));
        check("Client", client_v.clone(), &["client_secret"]);
        check(
            "Client",
            v(types::Client::new(&client, Some("s3cret"))),
            &["client_secret"],
        );
        check(
            "JwtConfiguration",
            client_v["jwt_configuration"].clone(),
            &[],
        );
        check("RefreshToken", client_v["refresh_token"].clone(), &[]);

        let job = crate::mgmt::jobs::Job {
            id: "job_0123456789abcdef".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            external_id: Some("x".into()),
            upsert: false,
            send_completion_email: true,
            summary: Default::default(),
            errors: vec![],
        };
        let job_v = v(types::Job::from(&job));
        check("Job", job_v.clone(), &["external_id"]);
        check(
            "Job",
            v(types::Job::from(&crate::mgmt::jobs::Job {
                external_id: None,
                ..job
            })),
            &["external_id"],
        );
        check("JobSummary", job_v["summary"].clone(), &[]);

        let log_optional = &[
            "ip",
            "user_agent",
            "client_id",
            "client_name",
            "user_id",
            "user_name",
            "connection",
        ];
        let full = writ_store::LogEntry {
            log_id: "177235200000012345678901".into(),
            date: "2026-03-01T08:00:00.000Z".into(),
            log_type: "s".into(),
            description: "Successful login".into(),
            ip: Some("203.0.113.7".into()),
            user_agent: Some("curl/8".into()),
            client_id: Some("app".into()),
            client_name: Some("App".into()),
            user_id: Some("usr_1".into()),
            user_name: Some("a@example.com".into()),
            connection: Some("Username-Password-Authentication".into()),
            details: serde_json::json!({}),
        };
        check("LogEvent", v(types::LogEvent::from(&full)), log_optional);
        let bare = writ_store::LogEntry {
            ip: None,
            user_agent: None,
            client_id: None,
            client_name: None,
            user_id: None,
            user_name: None,
            connection: None,
            ..full
        };
        check("LogEvent", v(types::LogEvent::from(&bare)), log_optional);

        let err = crate::error::ApiError::insufficient_scope("read:users").into_response();
        let bytes = axum::body::to_bytes(err.into_body(), usize::MAX)
            .await
            .unwrap();
        check("Error", serde_json::from_slice(&bytes).unwrap(), &[]);
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = DOCS_HTML;
        assert!(html.contains("openapi.json"));
        let lower = html.to_ascii_lowercase();
        for needle in [
            "<script src",
            "<link",
            "@import",
            "http://",
            "https://",
            "//cdn",
            "<iframe",
            "<img",
        ] {
            assert!(
                !lower.contains(needle),
                "the page must not load external assets ({needle})"
            );
        }
        assert!(inline(html, "script").is_some_and(|s| s.contains("fetch(")));
        assert!(inline(html, "style").is_some());
        assert_eq!(html.matches("<script").count(), 1);
        assert_eq!(html.matches("<style").count(), 1);
        assert!(
            !lower.contains(" style=\""),
            "inline style attributes would need 'unsafe-hashes'"
        );
        assert!(
            DOCS_CSP.contains("script-src 'sha256-") && DOCS_CSP.contains("connect-src 'self'")
        );
    }

    #[tokio::test]
    async fn both_routes_are_public_and_the_api_is_not() {
        let (app, _dir) = app().await;
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();

        let r = app
            .clone()
            .oneshot(get("/api/v2/openapi.json"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let served: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(served, doc());

        let r = app.clone().oneshot(get("/api/v2/docs")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(bytes, DOCS_HTML.as_bytes());

        let r = app.clone().oneshot(get("/api/v2/users")).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = app.oneshot(get("/api/v2/nope")).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
