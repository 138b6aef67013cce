//! An API protected by Writ: per-user todos in SQLite, each route guarded by a permission of
//! the `https://todos.example/api` API that `writ demo` creates.
//!
//! | route | permission | answer |
//! |---|---|---|
//! | `GET /todos` | `read:todos` | `200` the caller's todos |
//! | `POST /todos` `{"title": "…"}` | `write:todos` | `201` the new todo, `400` on a bad title |
//! | `DELETE /todos/{id}` | `delete:todos` | `204`, or `404` if the caller has no such todo |
//!
//! Tokens are verified by [`writ_guard::Guard`] (keys discovered from the issuer, cached by
//! `kid`); missing or invalid tokens get `401` and missing permissions `403`, with RFC 6750
//! `WWW-Authenticate` challenges that the SPA can read through CORS. Todos belong to the
//! token's `sub`: nobody sees or deletes another user's todos.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;
use writ_guard::{Claims, Guard, RequirePermissions};

/// The API identifier (`aud`) of the demo's todos API.
pub const AUDIENCE: &str = "https://todos.example/api";
/// Longest accepted title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// Settings, from `TODOS_*` and `WRIT_ISSUER` environment variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `TODOS_LISTEN`, default `127.0.0.1:4000`.
    pub listen: SocketAddr,
    /// `WRIT_ISSUER`, default `http://127.0.0.1:3000/`.
    pub issuer: String,
    /// `TODOS_AUDIENCE`, default [`AUDIENCE`].
    pub audience: String,
    /// `TODOS_DATABASE_URL`, default `sqlite://todos-data/todos.db`.
    pub database_url: String,
    /// `TODOS_CORS_ORIGINS`, comma-separated, default the Vite dev server's two origins;
    /// `*` allows any origin.
    pub cors_origins: Vec<String>,
    /// `WRIT_EVENTS_CLIENT_ID` / `WRIT_EVENTS_CLIENT_SECRET`: a machine client with
    /// `read:authz_events`; when set, the guard follows Writ's authz event feed and refuses
    /// tokens made before a permission change (401 "permissions changed").
    pub events: Option<(String, String)>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |k: &str, default: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let listen_s = var("TODOS_LISTEN", "127.0.0.1:4000");
        let listen = listen_s.parse().map_err(|_| {
            format!("TODOS_LISTEN '{listen_s}' is not an address like 127.0.0.1:4000")
        })?;
        let issuer = var("WRIT_ISSUER", "http://127.0.0.1:3000/");
        if !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
            return Err(format!("WRIT_ISSUER '{issuer}' is not an http(s) URL"));
        }
        let mut cors_origins = Vec::new();
        for origin in var(
            "TODOS_CORS_ORIGINS",
            "http://127.0.0.1:5173,http://localhost:5173",
        )
        .split(',')
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
        {
            let scheme_ok = origin.starts_with("http://") || origin.starts_with("https://");
            let host_part = origin.split_once("://").map_or("", |(_, h)| h);
            if origin != "*" && (!scheme_ok || host_part.is_empty() || host_part.contains('/'))
                || HeaderValue::from_str(origin).is_err()
            {
                return Err(format!(
                    "TODOS_CORS_ORIGINS: '{origin}' is not an origin like http://localhost:5173"
                ));
            }
            cors_origins.push(origin.to_owned());
        }
        Ok(Self {
            listen,
            issuer,
            audience: var("TODOS_AUDIENCE", AUDIENCE),
            database_url: var("TODOS_DATABASE_URL", "sqlite://todos-data/todos.db"),
            cors_origins,
            events: match (
                get("WRIT_EVENTS_CLIENT_ID"),
                get("WRIT_EVENTS_CLIENT_SECRET"),
            ) {
                (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                    Some((id, secret))
                }
                _ => None,
            },
        })
    }
}

/// What every handler gets: the guard (for the [`Claims`] extractor) and the database.
#[derive(Clone)]
pub struct AppState {
    pub guard: Guard,
    pub db: SqlitePool,
}

impl FromRef<AppState> for Guard {
    fn from_ref(state: &AppState) -> Guard {
        state.guard.clone()
    }
}

/// The file of a `sqlite://path` / `sqlite:path` URL (`None` for in-memory databases).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Opens (creating the file and its folder if missing) the database and migrates it.
pub async fn open_db(url: &str) -> Result<SqlitePool, sqlx::Error> {
    if let Some(dir) = sqlite_file(url).as_deref().and_then(|p| p.parent())
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let opts = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await?;
    sqlx::migrate!().run(&pool).await?;
    Ok(pool)
}

/// A todo as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, sqlx::FromRow)]
pub struct Todo {
    pub id: i64,
    pub title: String,
    pub created_at: String,
}

#[derive(Deserialize)]
struct NewTodo {
    title: String,
}

/// Errors of the todos routes, as `{"error", "error_description"}` JSON bodies.
#[derive(Debug)]
enum ApiError {
    Invalid(StatusCode, String),
    NotFound,
    Internal(sqlx::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = match r.status() {
            // A well-formed body with a missing or mistyped field is a bad request too.
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            s => s,
        };
        ApiError::Invalid(status, r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, description) = match self {
            ApiError::Invalid(status, d) => (status, "invalid_request", d),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such todo".to_owned(),
            ),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "database error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error".to_owned(),
                )
            }
        };
        (
            status,
            Json(serde_json::json!({"error": code, "error_description": description})),
        )
            .into_response()
    }
}

/// A title of 1 to [`MAX_TITLE_CHARS`] characters once surrounding whitespace is trimmed,
/// without control characters.
fn valid_title(title: &str) -> Result<&str, ApiError> {
    let t = title.trim();
    let n = t.chars().count();
    if n == 0 || n > MAX_TITLE_CHARS {
        return Err(ApiError::Invalid(
            StatusCode::BAD_REQUEST,
            format!("title must be 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(ApiError::Invalid(
            StatusCode::BAD_REQUEST,
            "title must not contain control characters".into(),
        ));
    }
    Ok(t)
}

async fn list_todos(
    State(state): State<AppState>,
    Claims(claims): Claims,
) -> Result<Json<Vec<Todo>>, ApiError> {
    let todos = sqlx::query_as::<_, Todo>(
        "SELECT id, title, created_at FROM todos WHERE owner = ? ORDER BY id",
    )
    .bind(&claims.sub)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(todos))
}

async fn create_todo(
    State(state): State<AppState>,
    Claims(claims): Claims,
    body: Result<Json<NewTodo>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(new) = body?;
    let title = valid_title(&new.title)?;
    let todo = sqlx::query_as::<_, Todo>(
        "INSERT INTO todos (owner, title) VALUES (?, ?) RETURNING id, title, created_at",
    )
    .bind(&claims.sub)
    .bind(title)
    .fetch_one(&state.db)
    .await?;
    let location = HeaderValue::try_from(format!("/todos/{}", todo.id))
        .expect("a number is a valid header value");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(todo),
    )
        .into_response())
}

async fn delete_todo(
    State(state): State<AppState>,
    Claims(claims): Claims,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // A non-numeric id names no todo.
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let done = sqlx::query("DELETE FROM todos WHERE id = ? AND owner = ?")
        .bind(id)
        .bind(&claims.sub)
        .execute(&state.db)
        .await?;
    if done.rows_affected() == 0 {
        Err(ApiError::NotFound)
    } else {
        Ok(StatusCode::NO_CONTENT)
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE, header::LOCATION])
        .max_age(Duration::from_secs(600))
}

/// The routes, each behind its permission, with CORS outermost so that `401`/`403` answers
/// reach the SPA too.
pub fn router(state: AppState, cors_origins: &[String]) -> Router {
    Router::new()
        .route(
            "/todos",
            get(list_todos).route_layer(RequirePermissions::all(["read:todos"])),
        )
        .route(
            "/todos",
            post(create_todo).route_layer(RequirePermissions::all(["write:todos"])),
        )
        .route(
            "/todos/{id}",
            delete(delete_todo).route_layer(RequirePermissions::all(["delete:todos"])),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(state.guard.layer())
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(TraceLayer::new_for_http())
        .layer(cors(cors_origins))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    cors_origins: &[String],
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state, cors_origins))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_writ_demo() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:4000");
        assert_eq!(c.issuer, "http://127.0.0.1:3000/");
        assert_eq!(c.audience, AUDIENCE);
        assert_eq!(c.database_url, "sqlite://todos-data/todos.db");
        assert_eq!(
            c.cors_origins,
            ["http://127.0.0.1:5173", "http://localhost:5173"]
        );
    }

    #[test]
    fn cors_origins_are_checked() {
        let with = |v: &'static str| {
            Config::from_lookup(move |k| (k == "TODOS_CORS_ORIGINS").then(|| v.to_owned()))
        };
        assert_eq!(
            with(" https://app.example/ , http://localhost:3001")
                .unwrap()
                .cors_origins,
            ["https://app.example", "http://localhost:3001"]
        );
        assert_eq!(with("*").unwrap().cors_origins, ["*"]);
        for bad in ["app.example", "https://app.example/path", "ftp://x"] {
            assert!(with(bad).is_err(), "{bad}");
        }
        assert!(Config::from_lookup(|k| (k == "TODOS_LISTEN").then(|| "nope".into())).is_err());
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://todos-data/todos.db"),
            Some(PathBuf::from("todos-data/todos.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:/tmp/x.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    #[test]
    fn titles_are_validated() {
        assert_eq!(valid_title("  buy milk ").unwrap(), "buy milk");
        assert!(valid_title("").is_err());
        assert!(valid_title("   ").is_err());
        assert!(valid_title(&"é".repeat(200)).is_ok());
        assert!(valid_title(&"é".repeat(201)).is_err());
        assert!(valid_title("a\u{0}b").is_err());
    }
}
