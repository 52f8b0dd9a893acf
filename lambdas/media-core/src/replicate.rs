//! A blocking client for Replicate's HTTP API (`https://api.replicate.com`):
//! create a prediction with a webhook, read one back, cancel one, fetch the
//! account's webhook signing secret, and download an output file. HTTP
//! failures become typed errors ([`ReplicateError`]) so callers can tell a
//! bad token or input from a throttle or an outage.
//!
//! Plain `http://` base URLs (tests, the fake in [`crate::testing`]) always
//! work; `https://` needs the crate's `https` feature.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// Replicate's API.
pub const DEFAULT_BASE_URL: &str = "https://api.replicate.com";

/// The variable holding the API token.
pub const TOKEN_VAR: &str = "REPLICATE_API_TOKEN";

/// The variable that overrides the base URL (tests, proxies).
pub const BASE_URL_VAR: &str = "REPLICATE_BASE_URL";

/// How long one API call may take, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Largest error or API response body read.
const MAX_API_BODY: u64 = 4 * 1024 * 1024;

/// Where a prediction is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PredictionStatus {
    /// Queued or booting.
    Starting,
    /// The model is running.
    Processing,
    /// Finished with output.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Canceled by the caller.
    Canceled,
    /// Stopped before it ran (e.g. its deadline passed).
    Aborted,
}

impl PredictionStatus {
    /// Whether the prediction will not change any more.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            PredictionStatus::Starting | PredictionStatus::Processing
        )
    }
}

/// Which events trigger a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookEvent {
    /// When the prediction starts.
    Start,
    /// Each time it produces output.
    Output,
    /// Each time it logs.
    Logs,
    /// When it reaches a terminal status.
    Completed,
}

/// Links Replicate returns with a prediction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionUrls {
    /// Reads the prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get: Option<String>,
    /// Cancels it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<String>,
    /// Streams its output, for models that stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Shows it on the website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
}

/// A prediction, as the API returns it and as webhooks deliver it. Unknown
/// fields are ignored so new API fields do not break the functions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Replicate's id.
    pub id: String,
    /// Status.
    pub status: PredictionStatus,
    /// `owner/name` of the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The version id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The input as given.
    #[serde(default)]
    pub input: Value,
    /// The output: `null` until there is one, then a URL or a list of URLs
    /// for media models (see [`Prediction::output_urls`]).
    #[serde(default)]
    pub output: Value,
    /// The error of a failed prediction.
    #[serde(default, deserialize_with = "error_text")]
    pub error: Option<String>,
    /// The model's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    /// ISO 8601 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// ISO 8601 start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// ISO 8601 completion time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Links to the prediction.
    #[serde(default)]
    pub urls: PredictionUrls,
    /// Timing metrics (`predict_time`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
}

/// Accepts an error given as a string, or as any other JSON (kept as its
/// JSON text); `null` is no error.
fn error_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// An output that is not a URL or list of URLs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("prediction output is not a URL or a list of URLs: {0}")]
pub struct UnexpectedOutput(pub String);

impl Prediction {
    /// The output file URLs in order: one for a string output, each for a
    /// list; none when there is no output yet. Anything else (objects,
    /// numbers, lists holding non-strings) is an error.
    pub fn output_urls(&self) -> Result<Vec<String>, UnexpectedOutput> {
        let unexpected = || {
            let mut text = self.output.to_string();
            text.truncate(200);
            UnexpectedOutput(text)
        };
        match &self.output {
            Value::Null => Ok(Vec::new()),
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(unexpected))
                .collect(),
            _ => Err(unexpected()),
        }
    }
}

/// The body of a prediction request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPrediction {
    /// The model version id.
    pub version: String,
    /// The model's input.
    pub input: Map<String, Value>,
    /// Where Replicate posts updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// Which updates it posts; Replicate's default when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_events_filter: Vec<WebhookEvent>,
}

/// A failed API call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplicateError {
    /// The client cannot be set up (no token, bad base URL, no TLS).
    #[error("replicate client configuration: {0}")]
    Config(String),
    /// 401 or 403: the token is missing, wrong or not allowed.
    #[error("replicate refused the API token ({status}): {detail}")]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// Replicate's explanation.
        detail: String,
    },
    /// 404: no such prediction (or model version).
    #[error("replicate: not found: {0}")]
    NotFound(String),
    /// 422: the version or input is invalid.
    #[error("replicate rejected the request: {0}")]
    InvalidInput(String),
    /// 429: throttled; retry after the given delay when Replicate sent one.
    #[error("replicate throttled the request (retry after {}): {detail}",
        retry_after.map(|d| format!("{} s", d.as_secs())).unwrap_or_else(|| "an unspecified delay".into()))]
    RateLimited {
        /// The `Retry-After` delay.
        retry_after: Option<Duration>,
        /// Replicate's explanation.
        detail: String,
    },
    /// 5xx: Replicate failed.
    #[error("replicate failed ({status}): {detail}")]
    Server {
        /// The status.
        status: u16,
        /// Its explanation.
        detail: String,
    },
    /// Any other unexpected status.
    #[error("replicate answered {status}: {detail}")]
    Status {
        /// The status.
        status: u16,
        /// Its explanation.
        detail: String,
    },
    /// No answer: connection, TLS or timeout.
    #[error("replicate could not be reached: {0}")]
    Transport(String),
    /// An answer that is not what the API documents.
    #[error("replicate's response does not parse: {0}")]
    Decode(String),
    /// A download is larger than allowed.
    #[error("the download is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
}

impl ReplicateError {
    /// Whether trying again later may succeed: throttling, server errors
    /// and transport failures.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ReplicateError::RateLimited { .. }
                | ReplicateError::Server { .. }
                | ReplicateError::Transport(_)
        )
    }
}

/// What the client needs; [`ReplicateConfig::from_env`] reads it at start-up.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplicateConfig {
    /// `https://api.replicate.com`, or a local server in tests.
    pub base_url: String,
    /// The API token.
    pub token: String,
    /// How long one call may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for ReplicateConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicateConfig")
            .field("base_url", &self.base_url)
            .field("token", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ReplicateConfig {
    /// The real API with `token`.
    pub fn new(token: impl Into<String>) -> Self {
        ReplicateConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            token: token.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `REPLICATE_API_TOKEN` (required) and `REPLICATE_BASE_URL` (optional).
    pub fn from_env() -> Result<Self, ReplicateError> {
        let token = std::env::var(TOKEN_VAR)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                ReplicateError::Config(format!("environment variable {TOKEN_VAR} is not set"))
            })?;
        let mut config = ReplicateConfig::new(token.trim());
        if let Ok(base) = std::env::var(BASE_URL_VAR) {
            if !base.trim().is_empty() {
                config.base_url = base.trim().to_string();
            }
        }
        Ok(config)
    }
}

/// The client. Cheap to clone; connections are pooled.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    let builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout));
    let builder = builder.tls_config(
        ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::WebPki)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build(),
    );
    builder.build().into()
}

/// Checks a base or download URL's scheme: `http` or `https`.
fn check_scheme(url: &str) -> Result<(), ReplicateError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(());
    }
    Err(ReplicateError::Config(format!(
        "{url:?} is not an http:// or https:// URL"
    )))
}

/// A response, read whole.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

fn transport(e: ureq::Error) -> ReplicateError {
    ReplicateError::Transport(e.to_string())
}

fn read(mut resp: ureq::http::Response<ureq::Body>, limit: u64) -> Result<Answer, ReplicateError> {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // ureq's limit refuses a body of exactly `limit` bytes, hence one more.
    let body = resp
        .body_mut()
        .with_config()
        .limit(limit.saturating_add(1))
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => ReplicateError::TooLarge { limit },
            other => transport(other),
        })?;
    if u64::try_from(body.len()).unwrap_or(u64::MAX) > limit {
        return Err(ReplicateError::TooLarge { limit });
    }
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// Replicate's explanation of an error: the problem document's `detail`,
/// else its `title`, else the start of the body.
fn detail(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        for key in ["detail", "title", "error"] {
            if let Some(s) = v.get(key).and_then(Value::as_str) {
                return s.to_string();
            }
        }
    }
    let mut text = String::from_utf8_lossy(body).trim().to_string();
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    if text.is_empty() {
        "no detail".to_string()
    } else {
        text
    }
}

fn error_for(a: &Answer) -> ReplicateError {
    let detail = detail(&a.body);
    match a.status {
        401 | 403 => ReplicateError::Unauthorized {
            status: a.status,
            detail,
        },
        404 => ReplicateError::NotFound(detail),
        422 => ReplicateError::InvalidInput(detail),
        429 => ReplicateError::RateLimited {
            retry_after: a.retry_after,
            detail,
        },
        500..=599 => ReplicateError::Server {
            status: a.status,
            detail,
        },
        status => ReplicateError::Status { status, detail },
    }
}

fn decode<T: serde::de::DeserializeOwned>(a: Answer) -> Result<T, ReplicateError> {
    if !(200..300).contains(&a.status) {
        return Err(error_for(&a));
    }
    serde_json::from_slice(&a.body).map_err(|e| ReplicateError::Decode(e.to_string()))
}

/// A prediction id as a single path segment.
fn check_id(id: &str) -> Result<(), ReplicateError> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ReplicateError::Config(format!(
            "{id:?} is not a prediction id"
        )));
    }
    Ok(())
}

impl Client {
    /// A client for `config`; fails on an empty token or an unusable base
    /// URL.
    pub fn new(config: &ReplicateConfig) -> Result<Client, ReplicateError> {
        if config.token.trim().is_empty() {
            return Err(ReplicateError::Config("the API token is empty".into()));
        }
        let base = config.base_url.trim_end_matches('/').to_string();
        check_scheme(&base)?;
        Ok(Client {
            agent: agent(config.timeout),
            base,
            token: config.token.clone(),
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ReplicateError> {
        let resp = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Authorization", &self.bearer())
            .header("Accept", "application/json")
            .call()
            .map_err(transport)?;
        decode(read(resp, MAX_API_BODY)?)
    }

    fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &str,
    ) -> Result<T, ReplicateError> {
        let resp = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Authorization", &self.bearer())
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .send(body)
            .map_err(transport)?;
        decode(read(resp, MAX_API_BODY)?)
    }

    /// Starts a prediction of model `version` on `input`; Replicate posts
    /// the prediction to `webhook` on the `events` given (all but `logs` and
    /// `output` when `events` is empty). `POST /v1/predictions`.
    pub fn create_prediction(
        &self,
        version: &str,
        input: &Map<String, Value>,
        webhook: Option<&str>,
        events: &[WebhookEvent],
    ) -> Result<Prediction, ReplicateError> {
        let body = NewPrediction {
            version: version.to_string(),
            input: input.clone(),
            webhook: webhook.map(str::to_string),
            webhook_events_filter: events.to_vec(),
        };
        let text =
            serde_json::to_string(&body).map_err(|e| ReplicateError::Decode(e.to_string()))?;
        self.post_json("/v1/predictions", &text)
    }

    /// The prediction `id`, as it is now. `GET /v1/predictions/{id}`.
    pub fn get_prediction(&self, id: &str) -> Result<Prediction, ReplicateError> {
        check_id(id)?;
        self.get_json(&format!("/v1/predictions/{id}"))
    }

    /// Cancels the prediction `id` (the stuck-job checker's last resort).
    /// `POST /v1/predictions/{id}/cancel`.
    pub fn cancel_prediction(&self, id: &str) -> Result<Prediction, ReplicateError> {
        check_id(id)?;
        self.post_json(&format!("/v1/predictions/{id}/cancel"), "")
    }

    /// The account's webhook signing secret (`whsec_...`).
    /// `GET /v1/webhooks/default/secret`.
    pub fn webhook_secret(&self) -> Result<String, ReplicateError> {
        #[derive(Deserialize)]
        struct Secret {
            key: String,
        }
        let s: Secret = self.get_json("/v1/webhooks/default/secret")?;
        Ok(s.key)
    }

    /// Downloads an output file of at most `max_bytes`. The API token is
    /// not sent: output URLs are served from Replicate's delivery hosts,
    /// which need none, and the token must not reach other hosts.
    pub fn download(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, ReplicateError> {
        check_scheme(url)?;
        let resp = self.agent.get(url).call().map_err(transport)?;
        let answer = read(resp, max_bytes)?;
        if !(200..300).contains(&answer.status) {
            return Err(error_for(&answer));
        }
        Ok(answer.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// A request the scripted server received.
    #[derive(Debug)]
    struct Seen {
        request_line: String,
        headers: Vec<(String, String)>,
        body: String,
    }

    /// Serves one scripted response per connection, in order, and reports
    /// each request.
    fn scripted(responses: Vec<String>) -> (String, mpsc::Receiver<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for (stream, response) in listener.incoming().zip(responses) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (k, v) = line.split_once(':').unwrap();
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
                let len = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let _ = tx.send(Seen {
                    request_line: request_line.trim_end().to_string(),
                    headers,
                    body: String::from_utf8(body).unwrap(),
                });
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        (base, rx)
    }

    fn response(status: &str, extra: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn client(base: &str) -> Client {
        Client::new(&ReplicateConfig {
            base_url: format!("{base}/"),
            token: "r8_token".into(),
            timeout: Duration::from_secs(5),
        })
        .unwrap()
    }

    const STARTING: &str = r#"{"id": "gm3qorzdhgbfurvjtvhg6dckhu", "model": "meta/musicgen",
        "version": "abc123", "input": {"prompt": "jazz"}, "logs": "", "output": null,
        "data_removed": false, "error": null, "status": "starting",
        "created_at": "2026-03-07T10:00:00.000Z",
        "urls": {"cancel": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu/cancel",
                 "get": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu",
                 "web": "https://replicate.com/p/gm3qorzdhgbfurvjtvhg6dckhu"}}"#;

    #[test]
    fn create_prediction_posts_the_documented_body() {
        let (base, seen) = scripted(vec![response("201 Created", "", STARTING)]);
        let input = json!({"prompt": "jazz", "duration": 8});
        let p = client(&base)
            .create_prediction(
                "abc123",
                input.as_object().unwrap(),
                Some("https://hooks.example.com/webhook/replicate"),
                &[WebhookEvent::Completed],
            )
            .unwrap();
        assert_eq!(p.id, "gm3qorzdhgbfurvjtvhg6dckhu");
        assert_eq!(p.status, PredictionStatus::Starting);
        assert_eq!(p.output, Value::Null);
        assert!(p.error.is_none());
        assert!(p
            .urls
            .get
            .as_deref()
            .unwrap()
            .ends_with("/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu"));
        assert_eq!(p.output_urls().unwrap(), Vec::<String>::new());

        let req = seen.recv().unwrap();
        assert_eq!(req.request_line, "POST /v1/predictions HTTP/1.1");
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("authorization").as_deref(), Some("Bearer r8_token"));
        assert_eq!(header("content-type").as_deref(), Some("application/json"));
        let body: Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(
            body,
            json!({"version": "abc123", "input": {"prompt": "jazz", "duration": 8},
                   "webhook": "https://hooks.example.com/webhook/replicate",
                   "webhook_events_filter": ["completed"]})
        );
    }

    #[test]
    fn get_prediction_reads_string_and_list_outputs() {
        let one = r#"{"id": "p1", "status": "succeeded", "output": "https://replicate.delivery/x/out.mp4", "metrics": {"predict_time": 12.5}}"#;
        let many = r#"{"id": "p2", "status": "succeeded", "output": ["https://r/a.png", "https://r/b.png"], "future_field": 1}"#;
        let (base, seen) = scripted(vec![
            response("200 OK", "", one),
            response("200 OK", "", many),
        ]);
        let c = client(&base);
        let p = c.get_prediction("p1").unwrap();
        assert_eq!(
            p.output_urls().unwrap(),
            ["https://replicate.delivery/x/out.mp4"]
        );
        assert!(p.status.is_terminal());
        assert_eq!(
            seen.recv().unwrap().request_line,
            "GET /v1/predictions/p1 HTTP/1.1"
        );
        let p = c.get_prediction("p2").unwrap();
        assert_eq!(
            p.output_urls().unwrap(),
            ["https://r/a.png", "https://r/b.png"]
        );
    }

    #[test]
    fn unexpected_outputs_and_errors_are_reported() {
        let p: Prediction = serde_json::from_value(
            json!({"id": "p", "status": "succeeded", "output": {"text": "hi"}}),
        )
        .unwrap();
        assert!(p
            .output_urls()
            .unwrap_err()
            .to_string()
            .contains("{\"text\":\"hi\"}"));
        let p: Prediction =
            serde_json::from_value(json!({"id": "p", "status": "succeeded", "output": ["a", 1]}))
                .unwrap();
        assert!(p.output_urls().is_err());
        let p: Prediction = serde_json::from_value(
            json!({"id": "p", "status": "failed", "error": {"message": "OOM"}}),
        )
        .unwrap();
        assert_eq!(p.error.as_deref(), Some(r#"{"message":"OOM"}"#));
        for (s, terminal) in [
            ("starting", false),
            ("processing", false),
            ("succeeded", true),
            ("failed", true),
            ("canceled", true),
            ("aborted", true),
        ] {
            let st: PredictionStatus = serde_json::from_value(json!(s)).unwrap();
            assert_eq!(st.is_terminal(), terminal, "{s}");
        }
    }

    #[test]
    fn http_errors_are_typed() {
        let (base, _seen) = scripted(vec![
            response(
                "401 Unauthorized",
                "",
                r#"{"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401}"#,
            ),
            response(
                "422 Unprocessable Entity",
                "",
                r#"{"title": "Input validation failed", "detail": "- input.prompt: Invalid type. Expected: string, given: integer", "status": 422, "invalid_fields": []}"#,
            ),
            response(
                "429 Too Many Requests",
                "Retry-After: 7\r\n",
                r#"{"detail": "Request was throttled. Expected available in 7 seconds.", "status": 429}"#,
            ),
            response("429 Too Many Requests", "", ""),
            response("503 Service Unavailable", "", "upstream down"),
            response(
                "404 Not Found",
                "",
                r#"{"detail": "Not found.", "status": 404}"#,
            ),
            response("409 Conflict", "", r#"{"title": "Conflict"}"#),
        ]);
        let c = client(&base);
        let input = Map::new();
        let e = c.create_prediction("v", &input, None, &[]).unwrap_err();
        assert_eq!(
            e,
            ReplicateError::Unauthorized {
                status: 401,
                detail: "You did not pass a valid authentication token".into()
            }
        );
        assert!(!e.is_retryable());
        let e = c.create_prediction("v", &input, None, &[]).unwrap_err();
        assert_eq!(
            e,
            ReplicateError::InvalidInput(
                "- input.prompt: Invalid type. Expected: string, given: integer".into()
            )
        );
        let e = c.create_prediction("v", &input, None, &[]).unwrap_err();
        assert_eq!(
            e,
            ReplicateError::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
                detail: "Request was throttled. Expected available in 7 seconds.".into()
            }
        );
        assert!(e.is_retryable());
        assert!(e.to_string().contains("retry after 7 s"), "{e}");
        let e = c.create_prediction("v", &input, None, &[]).unwrap_err();
        assert_eq!(
            e,
            ReplicateError::RateLimited {
                retry_after: None,
                detail: "no detail".into()
            }
        );
        let e = c.get_prediction("p1").unwrap_err();
        assert_eq!(
            e,
            ReplicateError::Server {
                status: 503,
                detail: "upstream down".into()
            }
        );
        assert!(e.is_retryable());
        assert_eq!(
            c.get_prediction("p1").unwrap_err(),
            ReplicateError::NotFound("Not found.".into())
        );
        assert_eq!(
            c.get_prediction("p1").unwrap_err(),
            ReplicateError::Status {
                status: 409,
                detail: "Conflict".into()
            }
        );
    }

    #[test]
    fn bad_json_and_dead_servers_are_reported() {
        let (base, _seen) = scripted(vec![response("200 OK", "", "{\"id\": 1}")]);
        assert!(matches!(
            client(&base).get_prediction("p"),
            Err(ReplicateError::Decode(_))
        ));
        // A port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = client(&format!("http://127.0.0.1:{port}"))
            .get_prediction("p")
            .unwrap_err();
        assert!(matches!(e, ReplicateError::Transport(_)), "{e:?}");
        assert!(e.is_retryable());
    }

    #[test]
    fn configuration_is_checked() {
        let cfg = |base: &str, token: &str| ReplicateConfig {
            base_url: base.into(),
            token: token.into(),
            timeout: DEFAULT_TIMEOUT,
        };
        assert!(matches!(
            Client::new(&cfg("http://127.0.0.1:1", " ")),
            Err(ReplicateError::Config(_))
        ));
        assert!(matches!(
            Client::new(&cfg("ftp://x", "t")),
            Err(ReplicateError::Config(_))
        ));
        let https = Client::new(&cfg(DEFAULT_BASE_URL, "t"));
        assert!(https.is_ok(), "{https:?}");
        let c = Client::new(&cfg("http://127.0.0.1:1///", "t")).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:1");
        let shown = format!("{:?}", cfg("http://h", "r8_secret"));
        assert!(!shown.contains("r8_secret"), "{shown}");
        // Ids are single path segments.
        assert!(matches!(
            c.get_prediction("../x"),
            Err(ReplicateError::Config(_))
        ));
        assert!(matches!(
            c.cancel_prediction(""),
            Err(ReplicateError::Config(_))
        ));
    }

    #[test]
    fn config_from_env() {
        std::env::remove_var(TOKEN_VAR);
        assert!(
            matches!(ReplicateConfig::from_env(), Err(ReplicateError::Config(m)) if m.contains(TOKEN_VAR))
        );
        std::env::set_var(TOKEN_VAR, "r8_abc");
        std::env::set_var(BASE_URL_VAR, "http://127.0.0.1:9");
        let c = ReplicateConfig::from_env().unwrap();
        assert_eq!(c.token, "r8_abc");
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        std::env::remove_var(BASE_URL_VAR);
        assert_eq!(
            ReplicateConfig::from_env().unwrap().base_url,
            DEFAULT_BASE_URL
        );
        std::env::remove_var(TOKEN_VAR);
    }

    #[test]
    fn downloads_send_no_token_and_respect_the_limit() {
        let file = "0123456789";
        let (base, seen) = scripted(vec![
            format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\n{file}"),
            format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\n{file}"),
            response("404 Not Found", "", ""),
        ]);
        let c = client(&base);
        let bytes = c.download(&format!("{base}/files/a.mp4"), 10).unwrap();
        assert_eq!(bytes, file.as_bytes());
        let req = seen.recv().unwrap();
        assert!(
            !req.headers.iter().any(|(k, _)| k == "authorization"),
            "{req:?}"
        );
        assert_eq!(
            c.download(&format!("{base}/files/a.mp4"), 9).unwrap_err(),
            ReplicateError::TooLarge { limit: 9 }
        );
        assert!(matches!(
            c.download(&format!("{base}/files/gone.mp4"), 10),
            Err(ReplicateError::NotFound(_))
        ));
    }
}
