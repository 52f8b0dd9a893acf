//! The Lambda Runtime API (version 2018-06-01) one process talks to, on its
//! own loopback port (`AWS_LAMBDA_RUNTIME_API`).
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, Mutex};

use super::process::{Event, Output};

/// The largest response a synchronous invocation may return (6 MB), as
/// Lambda counts it.
/// <https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>
pub(crate) const MAX_RESPONSE: usize = 6_291_556;

/// An event on its way to the process.
pub(crate) struct Handed {
    pub request_id: String,
    pub payload: Vec<u8>,
    pub timeout: Duration,
}

pub(crate) struct Api {
    pub arn: String,
    pub next: Mutex<mpsc::Receiver<Handed>>,
    pub events: mpsc::UnboundedSender<Event>,
    pub output: OnceLock<Arc<Output>>,
    /// When the process first asked for an event: the end of its init.
    pub first_next: OnceLock<Instant>,
}

impl Api {
    async fn sync(&self) {
        if let Some(o) = self.output.get() {
            o.sync().await;
        }
    }

    fn is_current(&self, id: &str) -> bool {
        self.output
            .get()
            .and_then(|o| o.current())
            .is_some_and(|c| c == id)
    }

    /// The invocation `id` ends with `event`: lines written up to now are
    /// its lines; later ones belong to no invocation.
    async fn finish(&self, event: Event) {
        self.sync().await;
        if let Some(o) = self.output.get() {
            o.set_current(None);
        }
        let _ = self.events.send(event);
    }
}

pub(crate) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        // Read past the 6 MB limit, so an oversized answer is reported as
        // Lambda reports it rather than cut off by axum's 2 MB default.
        .layer(DefaultBodyLimit::max(MAX_RESPONSE + 1024 * 1024))
        .with_state(api)
}

fn answer(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({"errorMessage": message, "errorType": error_type});
    (status, axum::Json(body)).into_response()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

async fn next(State(api): State<Arc<Api>>) -> Response {
    api.first_next.get_or_init(Instant::now);
    let handed = api.next.lock().await.recv().await;
    let Some(h) = handed else {
        // The pool let go of this process: it is being stopped.
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Stopped",
            "the execution environment is shutting down",
        );
    };
    // Whatever the process wrote before asking belongs to no invocation.
    api.sync().await;
    if let Some(o) = api.output.get() {
        o.set_current(Some(h.request_id.clone()));
    }
    let deadline = SystemTime::now()
        .checked_add(h.timeout)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let _ = api.events.send(Event::Delivered(Instant::now()));
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("content-type", "application/json".into());
    put("lambda-runtime-aws-request-id", h.request_id.clone());
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put("lambda-runtime-invoked-function-arn", api.arn.clone());
    put("lambda-runtime-trace-id", trace_id());
    (StatusCode::OK, headers, h.payload).into_response()
}

async fn response(State(api): State<Arc<Api>>, Path(id): Path<String>, body: Bytes) -> Response {
    if !api.is_current(&id) {
        return answer(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    }
    if body.len() > MAX_RESPONSE {
        let message = format!(
            "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).",
            body.len()
        );
        api.finish(Event::Error {
            error_type: "Function.ResponseSizeTooLarge".into(),
            error_message: message.clone(),
        })
        .await;
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Function.ResponseSizeTooLarge",
            &message,
        );
    }
    api.finish(Event::Response(body.to_vec())).await;
    accepted()
}

/// `errorType` and `errorMessage` of an error document; the type falls back
/// on the `Lambda-Runtime-Function-Error-Type` header, then on `Unhandled`
/// (what Lambda puts in `X-Amz-Function-Error`). A body that is not such a
/// document is still an error, with an empty message.
fn error_document(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |key: &str| match doc.get(key) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let error_type = text("errorType")
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Unhandled".to_string());
    (error_type, text("errorMessage").unwrap_or_default())
}

async fn error(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !api.is_current(&id) {
        return answer(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    }
    let (error_type, error_message) = error_document(&headers, &body);
    api.finish(Event::Error {
        error_type,
        error_message,
    })
    .await;
    accepted()
}

async fn init_error(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    // Only during init, before the first /next: afterwards Lambda refuses
    // the state transition.
    if api.first_next.get().is_some() {
        return answer(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition from Ready to InitError failed for runtime",
        );
    }
    let (error_type, error_message) = error_document(&headers, &body);
    api.finish(Event::InitError {
        error_type,
        error_message,
    })
    .await;
    accepted()
}

/// An X-Ray trace header for one invocation (not sampled: nothing collects
/// traces here).
fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &random[..24],
        &random[16..32]
    )
}
