//! The Shared Signals Framework (SSF 1.0) transmitter's HTTP endpoints: the metadata at
//! `/.well-known/ssf-configuration`, stream management under `/ssf/` (configuration, status,
//! subjects, verification) and poll delivery (RFC 8936) at `/ssf/poll/{stream_id}`. The rules
//! are `writ_service::ssf`'s; this module verifies the receiver's access token (Management API
//! audience, scope `manage:ssf_streams`), parses bodies and writes answers.
//!
//! Errors answer `{"error", "error_description"}` with the status SSF names (400, 401, 403,
//! 404, 409); token errors carry RFC 6750's `WWW-Authenticate`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use writ_service::ssf::{self, SsfError};

use crate::http::bearer::Bearer;
use crate::state::AppState;

/// The transmitter's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/ssf-configuration", get(metadata))
        .route(
            "/ssf/streams",
            get(read)
                .post(create)
                .patch(update)
                .put(replace)
                .delete(delete),
        )
        .route("/ssf/status", get(status).post(set_status))
        .route("/ssf/subjects/add", post(add_subject))
        .route("/ssf/subjects/remove", post(remove_subject))
        .route("/ssf/verify", post(verify))
        .route("/ssf/poll/{stream_id}", post(poll))
}

/// An error answer.
struct Failure {
    status: StatusCode,
    error: &'static str,
    description: String,
    www_authenticate: Option<String>,
    /// Seconds, for a 429.
    retry_after: Option<u64>,
}

impl Failure {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Failure {
            status,
            error,
            description: description.into(),
            www_authenticate: None,
            retry_after: None,
        }
    }

    fn unauthorized(description: &str) -> Self {
        let mut f = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description);
        f.www_authenticate = Some(format!(
            "Bearer realm=\"writ\", error=\"invalid_token\", error_description=\"{description}\""
        ));
        f
    }
}

impl From<SsfError> for Failure {
    fn from(e: SsfError) -> Self {
        match e {
            SsfError::Invalid(m) => Failure::new(StatusCode::BAD_REQUEST, "invalid_request", m),
            SsfError::NotFound => {
                Failure::new(StatusCode::NOT_FOUND, "not_found", "stream not found")
            }
            SsfError::Conflict(m) => Failure::new(StatusCode::CONFLICT, "conflict", m),
            e @ SsfError::TooSoon => {
                let mut f = Failure::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    e.to_string(),
                );
                f.retry_after = Some(ssf::MIN_VERIFICATION_INTERVAL.as_secs());
                f
            }
            SsfError::Internal(detail) => {
                tracing::error!(error = %detail, "SSF: internal error");
                Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Internal error",
                )
            }
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(h) = self
            .www_authenticate
            .and_then(|w| HeaderValue::from_str(&w).ok())
        {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, h);
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

type Answer = Result<Response, Failure>;

/// A verified receiver: the client id its access token was issued to.
struct Receiver {
    client_id: String,
}

impl FromRequestParts<AppState> for Receiver {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let Some(token) = Bearer::of(&parts.headers).token() else {
            let mut f = Failure::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "an access token is required",
            );
            f.www_authenticate = Some("Bearer realm=\"writ\"".into());
            return Err(f);
        };
        let claims = state
            .mgmt_verifier
            .verify(token)
            .map_err(|_| Failure::unauthorized("invalid token"))?;
        if !crate::mgmt::is_current(state, &claims).await {
            return Err(Failure::unauthorized("permissions changed"));
        }
        if writ_service::access::require(&claims, &[ssf::SCOPE]).is_err() {
            let mut f = Failure::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("the token needs the scope {}", ssf::SCOPE),
            );
            f.www_authenticate = Some(format!(
                "Bearer realm=\"writ\", error=\"insufficient_scope\", scope=\"{}\"",
                ssf::SCOPE
            ));
            return Err(f);
        }
        Ok(Receiver {
            client_id: claims.client_id,
        })
    }
}

/// Parses a JSON body.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Failure> {
    serde_json::from_slice(bytes).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        Failure::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the body is not valid: {msg}"),
        )
    })
}

fn json_answer(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

async fn metadata(State(state): State<AppState>) -> Response {
    json_answer(StatusCode::OK, ssf::metadata(&state))
}

#[derive(Deserialize)]
struct StreamQuery {
    stream_id: Option<String>,
}

async fn read(State(state): State<AppState>, r: Receiver, Query(q): Query<StreamQuery>) -> Answer {
    match q.stream_id {
        Some(id) => {
            let s = ssf::owned(&state, &r.client_id, &id).await?;
            Ok(json_answer(StatusCode::OK, ssf::view(&state, &s)))
        }
        None => {
            let all = ssf::list(&state, &r.client_id).await?;
            Ok(json_answer(StatusCode::OK, Value::Array(all)))
        }
    }
}

async fn create(State(state): State<AppState>, r: Receiver, bytes: Bytes) -> Answer {
    let req: ssf::StreamRequest = body(&bytes)?;
    let v = ssf::create(&state, &r.client_id, &req).await?;
    Ok(json_answer(StatusCode::CREATED, v))
}

async fn update(State(state): State<AppState>, r: Receiver, bytes: Bytes) -> Answer {
    let req: ssf::StreamRequest = body(&bytes)?;
    let v = ssf::update(&state, &r.client_id, &req, false).await?;
    Ok(json_answer(StatusCode::OK, v))
}

async fn replace(State(state): State<AppState>, r: Receiver, bytes: Bytes) -> Answer {
    let req: ssf::StreamRequest = body(&bytes)?;
    let v = ssf::update(&state, &r.client_id, &req, true).await?;
    Ok(json_answer(StatusCode::OK, v))
}

fn required(id: Option<String>) -> Result<String, Failure> {
    id.ok_or_else(|| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "stream_id is required",
        )
    })
}

async fn delete(
    State(state): State<AppState>,
    r: Receiver,
    Query(q): Query<StreamQuery>,
) -> Answer {
    let id = required(q.stream_id)?;
    ssf::delete(&state, &r.client_id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn status(
    State(state): State<AppState>,
    r: Receiver,
    Query(q): Query<StreamQuery>,
) -> Answer {
    let id = required(q.stream_id)?;
    let s = ssf::owned(&state, &r.client_id, &id).await?;
    Ok(json_answer(StatusCode::OK, ssf::status_view(&s)))
}

#[derive(Deserialize)]
struct StatusRequest {
    stream_id: Option<String>,
    status: String,
    reason: Option<String>,
}

async fn set_status(State(state): State<AppState>, r: Receiver, bytes: Bytes) -> Answer {
    let req: StatusRequest = body(&bytes)?;
    let id = required(req.stream_id)?;
    let v = ssf::set_status(
        &state,
        &r.client_id,
        &id,
        &req.status,
        req.reason.as_deref(),
    )
    .await?;
    Ok(json_answer(StatusCode::OK, v))
}

#[derive(Deserialize)]
struct SubjectRequest {
    stream_id: Option<String>,
    subject: Value,
}

async fn add_subject(State(state): State<AppState>, r: Receiver, bytes: Bytes) -> Answer {
    let req: SubjectRequest = body(&bytes)?;
    let id = required(req.stream_id)?;
    ssf::subject(&state, &r.client_id, &id, &req.subject, true).await?;
    Ok(StatusCode::OK.into_response())
}

async fn remove_subject(State(state): State<AppState>, r: Receiver, bytes: Bytes) -> Answer {
    let req: SubjectRequest = body(&bytes)?;
    let id = required(req.stream_id)?;
    ssf::subject(&state, &r.client_id, &id, &req.subject, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct VerifyRequest {
    stream_id: Option<String>,
    state: Option<String>,
}

async fn verify(State(state): State<AppState>, r: Receiver, bytes: Bytes) -> Answer {
    let req: VerifyRequest = body(&bytes)?;
    let id = required(req.stream_id)?;
    ssf::verify(&state, &r.client_id, &id, req.state.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn poll(
    State(state): State<AppState>,
    r: Receiver,
    Path(stream_id): Path<String>,
    bytes: Bytes,
) -> Answer {
    let req: ssf::PollRequest = if bytes.is_empty() {
        ssf::PollRequest::default()
    } else {
        body(&bytes)?
    };
    let v = ssf::poll(&state, &r.client_id, &stream_id, &req).await?;
    Ok(json_answer(StatusCode::OK, v))
}
