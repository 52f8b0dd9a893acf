//! The WebSocket Management API: `POST` (PostToConnection), `GET`
//! (GetConnection) and `DELETE` (DeleteConnection) on
//! `/{stage}/@connections/{connectionId}`.
//!
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html>
//! Errors are restJson errors: the type in `x-amzn-ErrorType`, a JSON body.
//! A gone connection is `410 GoneException`; AWS sends no message with it
//! (SDKs report `GoneException: null`), so the body is `{}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The connection does not exist (any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection is gone")]
pub struct Gone;

/// What GetConnection answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Epoch milliseconds.
    pub connected_at: u64,
    /// Epoch milliseconds of the last message either way.
    pub last_active_at: u64,
    pub source_ip: String,
    pub user_agent: String,
}

/// The live connections of one WebSocket API, as the server holding the
/// sockets sees them.
pub trait Connections: Send + Sync + 'static {
    /// Sends `data` to the client as one frame (text when it is UTF-8,
    /// binary otherwise, as API Gateway does).
    fn post(&self, id: &str, data: Vec<u8>) -> Result<(), Gone>;
    fn info(&self, id: &str) -> Result<ConnectionInfo, Gone>;
    /// Closes the connection (its `$disconnect` runs).
    fn close(&self, id: &str) -> Result<(), Gone>;
    /// Whether this API serves `stage` (API Gateway answers 403 for other
    /// stages). Every stage by default.
    fn serves_stage(&self, stage: &str) -> bool {
        let _ = stage;
        true
    }
}

/// API Gateway's limit on a posted message: 128 KiB.
pub const MAX_MESSAGE: usize = 128 * 1024;

/// The Management API over `connections`, at `/{stage}/@connections/{id}`
/// and (for `$default` stages and custom domains) `/@connections/{id}`.
/// Connection ids are percent-decoded.
pub fn router(connections: Arc<dyn Connections>) -> Router {
    Router::new()
        .route(
            "/{stage}/@connections/{id}",
            post(post_staged).get(get_staged).delete(delete_staged),
        )
        .route(
            "/@connections/{id}",
            post(post_plain).get(get_plain).delete(delete_plain),
        )
        .with_state(connections)
}

/// Serves [`router`] on a free loopback port from a thread of its own
/// (its own Tokio runtime, so sync and async tests alike can use it) for
/// the rest of the process; returns the address.
pub fn spawn(connections: Arc<dyn Connections>) -> std::io::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let app = router(connections);
    std::thread::Builder::new()
        .name(format!("management-api-{}", addr.port()))
        .spawn(move || {
            runtime.block_on(async move {
                if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                    let _ = axum::serve(listener, app).await;
                }
            })
        })?;
    Ok(addr)
}

type Conns = State<Arc<dyn Connections>>;

fn error(status: StatusCode, error_type: &str, body: serde_json::Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(error_type) {
        h.insert("x-amzn-errortype", v);
    }
    r
}

fn gone() -> Response {
    error(StatusCode::GONE, "GoneException", json!({}))
}

fn forbidden() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "ForbiddenException",
        json!({"message": "Forbidden"}),
    )
}

fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = super::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

fn do_post(c: &dyn Connections, id: &str, body: Bytes) -> Response {
    if body.len() > MAX_MESSAGE {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            json!({"message": format!("Message too long. Max size of message is {MAX_MESSAGE} bytes.")}),
        );
    }
    match c.post(id, body.to_vec()) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(Gone) => gone(),
    }
}

fn do_get(c: &dyn Connections, id: &str) -> Response {
    match c.info(id) {
        Ok(i) => {
            let body = json!({
                "connectedAt": iso8601(i.connected_at),
                "identity": {"sourceIp": i.source_ip, "userAgent": i.user_agent},
                "lastActiveAt": iso8601(i.last_active_at),
            });
            let mut r = (StatusCode::OK, body.to_string()).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            r
        }
        Err(Gone) => gone(),
    }
}

fn do_delete(c: &dyn Connections, id: &str) -> Response {
    match c.close(id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(Gone) => gone(),
    }
}

async fn post_staged(
    State(c): Conns,
    Path((stage, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if !c.serves_stage(&stage) {
        return forbidden();
    }
    do_post(c.as_ref(), &id, body)
}

async fn get_staged(State(c): Conns, Path((stage, id)): Path<(String, String)>) -> Response {
    if !c.serves_stage(&stage) {
        return forbidden();
    }
    do_get(c.as_ref(), &id)
}

async fn delete_staged(State(c): Conns, Path((stage, id)): Path<(String, String)>) -> Response {
    if !c.serves_stage(&stage) {
        return forbidden();
    }
    do_delete(c.as_ref(), &id)
}

async fn post_plain(State(c): Conns, Path(id): Path<String>, body: Bytes) -> Response {
    do_post(c.as_ref(), &id, body)
}

async fn get_plain(State(c): Conns, Path(id): Path<String>) -> Response {
    do_get(c.as_ref(), &id)
}

async fn delete_plain(State(c): Conns, Path(id): Path<String>) -> Response {
    do_delete(c.as_ref(), &id)
}

/// An in-memory [`Connections`] for tests: connections are opened with
/// [`Recorder::open`], and every message posted to a live one is recorded.
#[derive(Debug, Default)]
pub struct Recorder {
    stage: Option<String>,
    state: Mutex<RecorderState>,
}

#[derive(Debug, Default)]
struct RecorderState {
    live: HashMap<String, ConnectionInfo>,
    posts: Vec<(String, Vec<u8>)>,
    closed: Vec<String>,
}

impl Recorder {
    /// Serves only `stage` (any stage with [`Recorder::default`]).
    pub fn new(stage: &str) -> Recorder {
        Recorder {
            stage: Some(stage.to_string()),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, RecorderState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A live connection, connected now.
    pub fn open(&self, id: &str) {
        let now = super::now_ms();
        self.state().live.insert(
            id.to_string(),
            ConnectionInfo {
                connected_at: now,
                last_active_at: now,
                source_ip: "127.0.0.1".into(),
                user_agent: String::new(),
            },
        );
    }

    /// `(connection id, data)` of every message posted to a live
    /// connection, in order.
    pub fn posts(&self) -> Vec<(String, Vec<u8>)> {
        self.state().posts.clone()
    }

    /// Ids of the connections DeleteConnection closed, in order.
    pub fn closed(&self) -> Vec<String> {
        self.state().closed.clone()
    }
}

impl Connections for Recorder {
    fn post(&self, id: &str, data: Vec<u8>) -> Result<(), Gone> {
        let mut s = self.state();
        let now = super::now_ms();
        let info = s.live.get_mut(id).ok_or(Gone)?;
        info.last_active_at = now;
        s.posts.push((id.to_string(), data));
        Ok(())
    }

    fn info(&self, id: &str) -> Result<ConnectionInfo, Gone> {
        self.state().live.get(id).cloned().ok_or(Gone)
    }

    fn close(&self, id: &str) -> Result<(), Gone> {
        let mut s = self.state();
        s.live.remove(id).ok_or(Gone)?;
        s.closed.push(id.to_string());
        Ok(())
    }

    fn serves_stage(&self, stage: &str) -> bool {
        self.stage.as_deref().is_none_or(|s| s == stage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// One HTTP/1.1 request over a fresh socket: (status, lower-cased
    /// headers, body).
    fn call(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> (u16, String, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    #[test]
    fn the_management_api_over_http() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let recorder = Arc::new(Recorder::new("local"));
        recorder.open("L0SM9cOFvHcCIhw=");
        recorder.open("a/b");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(recorder.clone());
        rt.spawn(async move { axum::serve(listener, app).await });

        let (status, _, _) = call(
            addr,
            "POST",
            "/local/@connections/L0SM9cOFvHcCIhw%3D",
            b"hello",
        );
        assert_eq!(status, 200);
        let (status, _, _) = call(addr, "POST", "/local/@connections/a%2Fb", &[0xff, 0]);
        assert_eq!(status, 200);
        assert_eq!(
            recorder.posts(),
            vec![
                ("L0SM9cOFvHcCIhw=".to_string(), b"hello".to_vec()),
                ("a/b".to_string(), vec![0xff, 0]),
            ]
        );

        let (status, head, body) = call(addr, "POST", "/local/@connections/nope", b"x");
        assert_eq!(status, 410);
        assert!(head.contains("x-amzn-errortype: goneexception"), "{head}");
        assert_eq!(body, "{}");

        let (status, head, _) = call(addr, "POST", "/prod/@connections/a%2Fb", b"x");
        assert_eq!(status, 403);
        assert!(head.contains("forbiddenexception"), "{head}");

        let big = vec![b'x'; MAX_MESSAGE + 1];
        let (status, head, _) = call(addr, "POST", "/local/@connections/a%2Fb", &big);
        assert_eq!(status, 413);
        assert!(head.contains("payloadtoolargeexception"), "{head}");
        assert_eq!(recorder.posts().len(), 2);

        let (status, _, body) = call(addr, "GET", "/local/@connections/L0SM9cOFvHcCIhw=", b"");
        assert_eq!(status, 200);
        let info: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");
        let at = info["connectedAt"].as_str().unwrap();
        assert!(
            at.len() == 24 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
            "{at}"
        );
        assert!(info["lastActiveAt"].is_string());

        let (status, _, _) = call(addr, "DELETE", "/local/@connections/a%2Fb", b"");
        assert_eq!(status, 204);
        assert_eq!(recorder.closed(), ["a/b"]);
        let (status, _, _) = call(addr, "DELETE", "/local/@connections/a%2Fb", b"");
        assert_eq!(status, 410);
        let (status, _, _) = call(addr, "GET", "/local/@connections/a%2Fb", b"");
        assert_eq!(status, 410);
        let (status, _, _) = call(addr, "POST", "/@connections/L0SM9cOFvHcCIhw=", b"again");
        assert_eq!(status, 200);
        assert_eq!(recorder.posts().len(), 3);
    }

    #[test]
    fn timestamps_are_iso8601_with_milliseconds() {
        assert_eq!(iso8601(1_796_157_880_123), "2026-12-01T20:44:40.123Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    }
}
