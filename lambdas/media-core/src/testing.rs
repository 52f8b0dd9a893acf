//! Test harness (feature `testing`): a fake Replicate API on a local port,
//! speaking the documented prediction endpoints, serving output files and
//! delivering signed webhooks; and a webhook receiver that records what it
//! is sent. Nothing here is used by the functions.
//!
//! ```no_run
//! # use media_core::testing::FakeReplicate;
//! # use media_core::webhook::WebhookSecret;
//! let fake = FakeReplicate::start("r8_test", WebhookSecret::from_key(b"k".to_vec())).unwrap();
//! // Point the client (REPLICATE_BASE_URL) at fake.base_url, let the code
//! // under test create a prediction, then finish it:
//! let id = fake.predictions()[0].id.clone();
//! let delivery = fake.complete(&id, &[("png", b"\x89PNG".to_vec())]).unwrap();
//! assert_eq!(delivery.status, Some(200));
//! ```

use crate::replicate::{Prediction, PredictionStatus, PredictionUrls};
use crate::webhook::{self, WebhookHeaders, WebhookSecret};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Largest request body the local servers read.
const MAX_REQUEST: usize = 16 * 1024 * 1024;

/// One HTTP request, as a local server read it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target, e.g. `/v1/predictions`.
    pub path: String,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or `null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The webhook signature headers of this request.
    pub fn webhook_headers(&self) -> WebhookHeaders {
        WebhookHeaders::from_pairs(self.headers.iter().map(|(k, v)| (k, v)))
    }
}

fn read_request(stream: &TcpStream) -> Option<HttpRequest> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST {
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(HttpRequest {
        method,
        path,
        headers,
        body,
    })
}

/// A response the local servers write.
struct HttpResponse {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn json(status: u16, body: &Value) -> Self {
        HttpResponse {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    fn problem(status: u16, title: &str, detail: &str) -> Self {
        Self::json(
            status,
            &json!({"title": title, "detail": detail, "status": status}),
        )
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn write_response(mut stream: &TcpStream, r: &HttpResponse) {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&r.body);
    let _ = stream.flush();
}

/// Serves each connection of `listener` on a thread of its own: one request,
/// answered by `handle`, then the connection is closed.
fn serve<F>(listener: TcpListener, handle: F)
where
    F: Fn(HttpRequest) -> HttpResponse + Send + Sync + 'static,
{
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = handle.clone();
            std::thread::spawn(move || {
                if let Some(req) = read_request(&stream) {
                    write_response(&stream, &handle(req));
                }
            });
        }
    });
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not hide the state from the others.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn iso8601(epoch: i64) -> String {
    let d = crate::layout::Date::from_epoch(epoch);
    let secs = epoch.rem_euclid(86_400);
    format!(
        "{d}T{:02}:{:02}:{:02}.000000Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// An error response the fake gives to the next API request.
#[derive(Debug, Clone, PartialEq)]
struct Injected {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

/// A webhook the fake sent (or tried to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Where it went; `None` when the prediction has no webhook.
    pub url: Option<String>,
    /// `webhook-id`: the same for redeliveries of one message.
    pub webhook_id: String,
    /// `webhook-timestamp`.
    pub timestamp: i64,
    /// `webhook-signature` as sent; `None` for an unsigned forgery.
    pub signature: Option<String>,
    /// The body as sent.
    pub body: String,
    /// The receiver's HTTP status; `None` when nothing answered.
    pub status: Option<u16>,
    /// Why nothing answered.
    pub error: Option<String>,
}

/// How [`FakeReplicate::deliver_forged`] spoils a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// Signed with another secret.
    WrongSecret,
    /// Validly signed, but `age_secs` old.
    Stale {
        /// How old the timestamp is, in seconds.
        age_secs: i64,
    },
    /// Validly signed, then the body changed.
    TamperedBody,
    /// No `webhook-signature` header.
    Unsigned,
}

/// Misuse of the fake by a test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FakeError {
    /// No prediction has that id.
    #[error("the fake has no prediction {0}")]
    UnknownPrediction(String),
    /// The prediction already finished.
    #[error("prediction {0} already finished")]
    AlreadyFinished(String),
    /// The prediction has not sent a webhook yet (redelivery, forgery).
    #[error("prediction {0} has sent no webhook yet")]
    NothingSent(String),
}

struct Entry {
    prediction: Prediction,
    webhook: Option<String>,
    /// The last message sent: its id and body.
    last_message: Option<(String, String)>,
}

#[derive(Default)]
struct State {
    order: Vec<String>,
    predictions: BTreeMap<String, Entry>,
    files: BTreeMap<String, Vec<u8>>,
    requests: Vec<HttpRequest>,
    injected: VecDeque<Injected>,
    deliveries: Vec<Delivery>,
    next_id: u64,
    next_message: u64,
}

struct Shared {
    base_url: String,
    token: String,
    secret: WebhookSecret,
    agent: ureq::Agent,
    state: Mutex<State>,
    delivered: Condvar,
}

/// A fake Replicate API on `127.0.0.1`, running until the test process
/// exits. It checks the bearer token, records every API request, creates
/// predictions in status `starting`, and lets the test finish them: the
/// outputs are then served under `/files/{id}/{n}.{ext}` and the prediction
/// is posted to its webhook, signed with the secret the fake was given.
#[derive(Clone)]
pub struct FakeReplicate {
    /// `http://127.0.0.1:PORT`, the base URL for the client.
    pub base_url: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeReplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeReplicate")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FakeReplicate {
    /// Starts the fake on a free port; API calls must carry
    /// `Authorization: Bearer {token}`, webhooks are signed with `secret`.
    pub fn start(token: &str, secret: WebhookSecret) -> std::io::Result<FakeReplicate> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let shared = Arc::new(Shared {
            base_url: base_url.clone(),
            token: token.to_string(),
            secret,
            agent,
            state: Mutex::new(State::default()),
            delivered: Condvar::new(),
        });
        let handler = shared.clone();
        serve(listener, move |req| handler.handle(req));
        Ok(FakeReplicate { base_url, shared })
    }

    /// The webhook signing secret, as `whsec_...`.
    pub fn secret(&self) -> String {
        self.shared.secret.to_whsec()
    }

    /// Every API request received (`/v1/...`), in order.
    pub fn requests(&self) -> Vec<HttpRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// Every prediction, in creation order.
    pub fn predictions(&self) -> Vec<Prediction> {
        let s = lock(&self.shared.state);
        s.order
            .iter()
            .filter_map(|id| s.predictions.get(id))
            .map(|e| e.prediction.clone())
            .collect()
    }

    /// The prediction `id`.
    pub fn prediction(&self, id: &str) -> Option<Prediction> {
        lock(&self.shared.state)
            .predictions
            .get(id)
            .map(|e| e.prediction.clone())
    }

    /// The webhook URL the prediction `id` was created with.
    pub fn webhook_of(&self, id: &str) -> Option<String> {
        lock(&self.shared.state)
            .predictions
            .get(id)
            .and_then(|e| e.webhook.clone())
    }

    /// Every webhook sent so far, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.shared.state).deliveries.clone()
    }

    /// Waits until `n` webhooks were sent (or `timeout`), returning them.
    pub fn wait_deliveries(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        let guard = lock(&self.shared.state);
        let (guard, _) = self
            .shared
            .delivered
            .wait_timeout_while(guard, timeout, |s| s.deliveries.len() < n)
            .unwrap_or_else(|e| e.into_inner());
        guard.deliveries.clone()
    }

    /// Makes the next API request fail with `status` (after the token
    /// check), with a problem-details body and, for 429, `Retry-After`.
    pub fn fail_next(&self, status: u16, retry_after: Option<u64>, detail: &str) {
        lock(&self.shared.state).injected.push_back(Injected {
            status,
            retry_after,
            body: json!({"title": reason(status), "detail": detail, "status": status}),
        });
    }

    /// Moves the prediction `id` to `processing` (no webhook: the
    /// functions ask for completed events only).
    pub fn start_processing(&self, id: &str) -> Result<(), FakeError> {
        let mut s = lock(&self.shared.state);
        let e = s
            .predictions
            .get_mut(id)
            .ok_or_else(|| FakeError::UnknownPrediction(id.to_string()))?;
        if e.prediction.status.is_terminal() {
            return Err(FakeError::AlreadyFinished(id.to_string()));
        }
        e.prediction.status = PredictionStatus::Processing;
        e.prediction.started_at = Some(iso8601(crate::now_epoch()));
        Ok(())
    }

    /// Finishes the prediction `id` successfully with output files given
    /// as `(extension, bytes)`: they are served at
    /// `{base_url}/files/{id}/{n}.{ext}`, the output is that URL (one file)
    /// or the list of URLs, and the prediction goes to its webhook, validly
    /// signed.
    pub fn complete(&self, id: &str, files: &[(&str, Vec<u8>)]) -> Result<Delivery, FakeError> {
        let urls: Vec<Value> = {
            let mut s = lock(&self.shared.state);
            if !s.predictions.contains_key(id) {
                return Err(FakeError::UnknownPrediction(id.to_string()));
            }
            files
                .iter()
                .enumerate()
                .map(|(n, (ext, bytes))| {
                    let path = format!("/files/{id}/{n}.{ext}");
                    s.files.insert(path.clone(), bytes.clone());
                    Value::String(format!("{}{path}", self.base_url))
                })
                .collect()
        };
        let output = match urls.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(urls),
        };
        self.finish(id, PredictionStatus::Succeeded, output, None)
    }

    /// Finishes the prediction `id` successfully with any `output` (to test
    /// outputs that are not URLs), and delivers its webhook.
    pub fn complete_with_output(&self, id: &str, output: Value) -> Result<Delivery, FakeError> {
        self.finish(id, PredictionStatus::Succeeded, output, None)
    }

    /// Fails the prediction `id` with `error`, and delivers its webhook.
    pub fn fail(&self, id: &str, error: &str) -> Result<Delivery, FakeError> {
        self.finish(id, PredictionStatus::Failed, Value::Null, Some(error))
    }

    fn finish(
        &self,
        id: &str,
        status: PredictionStatus,
        output: Value,
        error: Option<&str>,
    ) -> Result<Delivery, FakeError> {
        self.shared.finish(id, status, output, error)?;
        self.shared.send_new(id)
    }

    /// Sends the last webhook of the prediction `id` again: same
    /// `webhook-id` and body, a fresh timestamp and signature, as Replicate
    /// does when it retries.
    pub fn redeliver(&self, id: &str) -> Result<Delivery, FakeError> {
        let (url, (message_id, body)) = self.shared.last_message(id)?;
        let now = crate::now_epoch();
        let signature = webhook::sign(&self.shared.secret, &message_id, now, body.as_bytes());
        Ok(self
            .shared
            .post(url, message_id, now, Some(signature), body))
    }

    /// Sends a spoiled copy of the last webhook of the prediction `id`, for
    /// tests that the receiver refuses it.
    pub fn deliver_forged(&self, id: &str, forgery: Forgery) -> Result<Delivery, FakeError> {
        let (url, (message_id, body)) = self.shared.last_message(id)?;
        let now = crate::now_epoch();
        let secret = &self.shared.secret;
        let (timestamp, signature, body) = match forgery {
            Forgery::WrongSecret => {
                let other = WebhookSecret::from_key(b"not the account's secret".to_vec());
                let sig = webhook::sign(&other, &message_id, now, body.as_bytes());
                (now, Some(sig), body)
            }
            Forgery::Stale { age_secs } => {
                let then = now - age_secs;
                let sig = webhook::sign(secret, &message_id, then, body.as_bytes());
                (then, Some(sig), body)
            }
            Forgery::TamperedBody => {
                let sig = webhook::sign(secret, &message_id, now, body.as_bytes());
                let tampered = body.replacen("\"status\"", "\"status\" ", 1);
                let tampered = if tampered == body {
                    format!("{body} ")
                } else {
                    tampered
                };
                (now, Some(sig), tampered)
            }
            Forgery::Unsigned => (now, None, body),
        };
        Ok(self
            .shared
            .post(url, message_id, timestamp, signature, body))
    }
}

impl Shared {
    fn authorized(&self, req: &HttpRequest) -> bool {
        req.header("authorization") == Some(format!("Bearer {}", self.token).as_str())
    }

    fn handle(self: &Arc<Self>, req: HttpRequest) -> HttpResponse {
        if let Some(rest) = req.path.strip_prefix("/files/") {
            let path = format!("/files/{rest}");
            return match lock(&self.state).files.get(&path) {
                Some(bytes) if req.method == "GET" => HttpResponse {
                    status: 200,
                    content_type: crate::layout::content_type(rest),
                    headers: Vec::new(),
                    body: bytes.clone(),
                },
                _ => HttpResponse::problem(404, "Not found", "Not found."),
            };
        }
        if !req.path.starts_with("/v1/") {
            return HttpResponse::problem(404, "Not found", "Not found.");
        }
        lock(&self.state).requests.push(req.clone());
        if !self.authorized(&req) {
            return HttpResponse::problem(
                401,
                "Unauthenticated",
                "You did not pass a valid authentication token",
            );
        }
        if let Some(inj) = lock(&self.state).injected.pop_front() {
            let mut r = HttpResponse::json(inj.status, &inj.body);
            if let Some(secs) = inj.retry_after {
                r.headers.push(("Retry-After".into(), secs.to_string()));
            }
            return r;
        }
        let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        match (req.method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "predictions"]) => self.create(&req),
            ("GET", ["v1", "predictions", id]) => match lock(&self.state).predictions.get(*id) {
                Some(e) => HttpResponse::json(200, &prediction_json(&e.prediction)),
                None => HttpResponse::problem(404, "Not found", "Not found."),
            },
            ("POST", ["v1", "predictions", id, "cancel"]) => self.cancel(id),
            ("GET", ["v1", "webhooks", "default", "secret"]) => {
                HttpResponse::json(200, &json!({"key": self.secret.to_whsec()}))
            }
            _ => HttpResponse::problem(404, "Not found", "Not found."),
        }
    }

    fn create(&self, req: &HttpRequest) -> HttpResponse {
        let invalid = |detail: &str| HttpResponse::problem(422, "Input validation failed", detail);
        let body = req.json();
        let Some(obj) = body.as_object() else {
            return invalid("the body is not a JSON object");
        };
        let Some(version) = obj.get("version").and_then(Value::as_str) else {
            return invalid("- version: version is required");
        };
        let input = match obj.get("input") {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            _ => return invalid("- input: Invalid type. Expected: object"),
        };
        let webhook = match obj.get("webhook") {
            None | Some(Value::Null) => None,
            Some(Value::String(u)) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(u.clone())
            }
            Some(_) => return invalid("- webhook: must be an http(s) URL"),
        };
        if let Some(filter) = obj.get("webhook_events_filter") {
            let ok = filter.as_array().is_some_and(|events| {
                events
                    .iter()
                    .all(|e| matches!(e.as_str(), Some("start" | "output" | "logs" | "completed")))
            });
            if !ok {
                return invalid(
                    "- webhook_events_filter: each must be one of start, output, logs, completed",
                );
            }
        }
        let mut s = lock(&self.state);
        s.next_id += 1;
        let id = format!("fake{:022}", s.next_id);
        let api = format!("{}/v1/predictions/{id}", self.base_url);
        let prediction = Prediction {
            id: id.clone(),
            status: PredictionStatus::Starting,
            model: None,
            version: Some(version.to_string()),
            input,
            output: Value::Null,
            error: None,
            logs: Some(String::new()),
            created_at: Some(iso8601(crate::now_epoch())),
            started_at: None,
            completed_at: None,
            urls: PredictionUrls {
                get: Some(api.clone()),
                cancel: Some(format!("{api}/cancel")),
                stream: None,
                web: Some(format!("{}/p/{id}", self.base_url)),
            },
            metrics: None,
        };
        let reply = prediction_json(&prediction);
        s.order.push(id.clone());
        s.predictions.insert(
            id,
            Entry {
                prediction,
                webhook,
                last_message: None,
            },
        );
        HttpResponse::json(201, &reply)
    }

    fn cancel(self: &Arc<Self>, id: &str) -> HttpResponse {
        let reply = {
            let mut s = lock(&self.state);
            let Some(e) = s.predictions.get_mut(id) else {
                return HttpResponse::problem(404, "Not found", "Not found.");
            };
            if e.prediction.status.is_terminal() {
                return HttpResponse::json(200, &prediction_json(&e.prediction));
            }
            e.prediction.status = PredictionStatus::Canceled;
            e.prediction.completed_at = Some(iso8601(crate::now_epoch()));
            prediction_json(&e.prediction)
        };
        // Replicate posts the canceled prediction to its webhook; do it
        // after answering, as the receiver may call back into the fake.
        let this = self.clone();
        let id = id.to_string();
        std::thread::spawn(move || {
            let _ = this.send_new(&id);
        });
        HttpResponse::json(200, &reply)
    }

    fn finish(
        &self,
        id: &str,
        status: PredictionStatus,
        output: Value,
        error: Option<&str>,
    ) -> Result<(), FakeError> {
        let mut s = lock(&self.state);
        let e = s
            .predictions
            .get_mut(id)
            .ok_or_else(|| FakeError::UnknownPrediction(id.to_string()))?;
        if e.prediction.status.is_terminal() {
            return Err(FakeError::AlreadyFinished(id.to_string()));
        }
        let now = iso8601(crate::now_epoch());
        let p = &mut e.prediction;
        p.status = status;
        p.output = output;
        p.error = error.map(str::to_string);
        p.started_at.get_or_insert_with(|| now.clone());
        p.completed_at = Some(now);
        p.metrics = Some(json!({"predict_time": 1.5}));
        Ok(())
    }

    /// Posts the prediction `id` as a new webhook message.
    fn send_new(&self, id: &str) -> Result<Delivery, FakeError> {
        let (url, message_id, body) = {
            let mut s = lock(&self.state);
            s.next_message += 1;
            let message_id = format!("msg_fake{:08}", s.next_message);
            let e = s
                .predictions
                .get_mut(id)
                .ok_or_else(|| FakeError::UnknownPrediction(id.to_string()))?;
            let body = prediction_json(&e.prediction).to_string();
            e.last_message = Some((message_id.clone(), body.clone()));
            (e.webhook.clone(), message_id, body)
        };
        let now = crate::now_epoch();
        let signature = webhook::sign(&self.secret, &message_id, now, body.as_bytes());
        Ok(self.post(url, message_id, now, Some(signature), body))
    }

    fn last_message(&self, id: &str) -> Result<(Option<String>, (String, String)), FakeError> {
        let s = lock(&self.state);
        let e = s
            .predictions
            .get(id)
            .ok_or_else(|| FakeError::UnknownPrediction(id.to_string()))?;
        let last = e
            .last_message
            .clone()
            .ok_or_else(|| FakeError::NothingSent(id.to_string()))?;
        Ok((e.webhook.clone(), last))
    }

    /// Posts one webhook (when there is a URL) and records the delivery.
    fn post(
        &self,
        url: Option<String>,
        webhook_id: String,
        timestamp: i64,
        signature: Option<String>,
        body: String,
    ) -> Delivery {
        let mut delivery = Delivery {
            url: url.clone(),
            webhook_id,
            timestamp,
            signature,
            body,
            status: None,
            error: None,
        };
        if let Some(url) = url {
            let mut req = self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .header(webhook::ID_HEADER, &delivery.webhook_id)
                .header(webhook::TIMESTAMP_HEADER, &delivery.timestamp.to_string());
            if let Some(sig) = &delivery.signature {
                req = req.header(webhook::SIGNATURE_HEADER, sig);
            }
            match req.send(delivery.body.as_str()) {
                Ok(resp) => delivery.status = Some(resp.status().as_u16()),
                Err(e) => delivery.error = Some(e.to_string()),
            }
        }
        lock(&self.state).deliveries.push(delivery.clone());
        self.delivered.notify_all();
        delivery
    }
}

fn prediction_json(p: &Prediction) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

/// A local server that records the webhooks posted to it and answers each
/// with a fixed status.
#[derive(Clone)]
pub struct WebhookReceiver {
    /// `http://127.0.0.1:PORT/webhook/replicate`.
    pub url: String,
    received: Arc<(Mutex<Vec<HttpRequest>>, Condvar)>,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl WebhookReceiver {
    /// Starts a receiver on a free port answering `status` to every post.
    pub fn start(status: u16) -> std::io::Result<WebhookReceiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/webhook/replicate", listener.local_addr()?);
        let received: Arc<(Mutex<Vec<HttpRequest>>, Condvar)> = Arc::default();
        let sink = received.clone();
        serve(listener, move |req| {
            lock(&sink.0).push(req);
            sink.1.notify_all();
            HttpResponse::json(status, &json!({}))
        });
        Ok(WebhookReceiver { url, received })
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<HttpRequest> {
        lock(&self.received.0).clone()
    }

    /// Waits until `n` requests arrived (or `timeout`), returning them.
    pub fn wait(&self, n: usize, timeout: Duration) -> Vec<HttpRequest> {
        let deadline = Instant::now() + timeout;
        let mut guard = lock(&self.received.0);
        while guard.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            guard = self
                .received
                .1
                .wait_timeout(guard, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        guard.clone()
    }
}
