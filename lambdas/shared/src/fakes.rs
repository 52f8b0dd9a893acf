//! Local HTTP fakes of AWS services for tests (feature `testing`): a tiny
//! HTTP/1.1 server on a free loopback port that answers with a handler and
//! records every request ([`serve`]), and [`FakeBedrock`], the Bedrock
//! runtime API, shared by the world services' and the clips functions'
//! tests. Point an SDK client at a fake with the service's standard
//! variable (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME` for Bedrock).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// An HTTP request a fake received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path, percent-decoded, without the query string.
    pub path: String,
    /// The query string (after `?`), as sent.
    pub query: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Received {
    /// The body as JSON (null when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// An answer: status, extra headers, body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// A JSON answer.
pub fn json_answer(status: u16, headers: Vec<(String, String)>, body: Value) -> Answer {
    (status, headers, body.to_string().into_bytes())
}

/// An AWS JSON error answer: `x-amzn-ErrorType: KIND` and `{"message": ...}`.
pub fn aws_error(status: u16, kind: &str, message: &str) -> Answer {
    json_answer(
        status,
        vec![("x-amzn-ErrorType".into(), kind.to_string())],
        json!({"message": message}),
    )
}

/// The requests a fake recorded.
pub type Log = Arc<Mutex<Vec<Received>>>;

/// Serves HTTP/1.1 on a free loopback port, answering each request with
/// `handler` and recording it; returns the address (`127.0.0.1:PORT`) and
/// the record. The server lives as long as the test process.
pub fn serve(handler: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let log = Arc::new(Mutex::new(Vec::new()));
    let handler = Arc::new(handler);
    let shared = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (log, handler) = (shared.clone(), handler.clone());
            std::thread::spawn(move || connection(stream, &log, &*handler));
        }
    });
    (addr, log)
}

fn connection(
    stream: TcpStream,
    log: &Mutex<Vec<Received>>,
    handler: &(dyn Fn(&Received) -> Answer + Send + Sync),
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0usize);
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (raw_path, query) = target.split_once('?').unwrap_or((&target, ""));
        let path = percent_encoding::percent_decode_str(raw_path)
            .decode_utf8_lossy()
            .into_owned();
        let req = Received {
            method,
            path,
            query: query.to_string(),
            headers,
            body,
        };
        let (status, extra, body) = handler(&req);
        log.lock().expect("lock").push(req);
        let mut head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&body).is_err() {
            return;
        }
    }
}

/// A local Bedrock runtime API speaking the documented shapes:
///
/// - `POST /model/{modelId}/converse`: answers
///   `{"output": {"message": {"role": "assistant", "content": [{"text": "talk. You said: PROMPT"}]}}, "stopReason": "end_turn", "usage": {...}, "metrics": {...}}`;
///   a prompt containing `THROTTLE` gets 429 ThrottlingException, one
///   containing `INVALID` 400 ValidationException;
/// - `POST /model/{modelId}/invoke` with Titan's `{"inputText": T}`:
///   answers `{"embedding": [len(T), 0.5, -0.25], "inputTextTokenCount": words(T)}`;
/// - `POST /model/{modelId}/invoke` with an Anthropic messages body
///   (`{"anthropic_version": ..., "messages": [...]}`): answers an Anthropic
///   message whose one text block is the text set with
///   [`FakeBedrock::reply_with`] (by default `You said: ` and the last user
///   text); a prompt containing `THROTTLE` gets 429 ThrottlingException.
pub struct FakeBedrock {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`.
    pub endpoint: String,
    log: Log,
    reply: Arc<Mutex<Option<String>>>,
}

impl FakeBedrock {
    /// Starts it on a free port.
    pub fn start() -> FakeBedrock {
        let reply: Arc<Mutex<Option<String>>> = Arc::default();
        let scripted = reply.clone();
        let (addr, log) = serve(move |req| {
            let error = |status: u16, kind: &str, message: &str| {
                aws_error(
                    status,
                    &format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
                    message,
                )
            };
            let body = req.json();
            if req.method == "POST" && req.path.ends_with("/converse") {
                let prompt = body
                    .pointer("/messages/0/content/0/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if prompt.contains("THROTTLE") {
                    return error(
                        429,
                        "ThrottlingException",
                        "Too many requests, please wait before trying again.",
                    );
                }
                if prompt.contains("INVALID") {
                    return error(
                        400,
                        "ValidationException",
                        "The provided request is not valid",
                    );
                }
                let input = prompt.split_whitespace().count() as i64;
                json_answer(
                    200,
                    vec![],
                    json!({
                        "output": {"message": {"role": "assistant", "content": [{"text": format!("talk. You said: {prompt}")}]}},
                        "stopReason": "end_turn",
                        "usage": {"inputTokens": input, "outputTokens": 5, "totalTokens": input + 5},
                        "metrics": {"latencyMs": 1}
                    }),
                )
            } else if req.method == "POST"
                && req.path.ends_with("/invoke")
                && body.get("anthropic_version").is_some()
            {
                let Some(messages) = body.get("messages").and_then(Value::as_array) else {
                    return error(400, "ValidationException", "messages: field required");
                };
                let prompt: String = messages
                    .iter()
                    .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
                    .filter_map(|m| m.get("content").and_then(Value::as_array))
                    .flatten()
                    .filter_map(|c| c.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n");
                if prompt.contains("THROTTLE") {
                    return error(429, "ThrottlingException", "Too many requests");
                }
                let text = scripted
                    .lock()
                    .expect("lock")
                    .clone()
                    .unwrap_or_else(|| format!("You said: {prompt}"));
                json_answer(
                    200,
                    vec![],
                    json!({
                        "id": "msg_fake",
                        "type": "message",
                        "role": "assistant",
                        "model": req.path.trim_start_matches("/model/").trim_end_matches("/invoke"),
                        "content": [{"type": "text", "text": text}],
                        "stop_reason": "end_turn",
                        "stop_sequence": null,
                        "usage": {"input_tokens": prompt.split_whitespace().count(), "output_tokens": 5}
                    }),
                )
            } else if req.method == "POST" && req.path.ends_with("/invoke") {
                let Some(text) = body.get("inputText").and_then(Value::as_str) else {
                    return error(400, "ValidationException", "inputText is required");
                };
                json_answer(
                    200,
                    vec![],
                    json!({
                        "embedding": [text.chars().count() as f64, 0.5, -0.25],
                        "inputTextTokenCount": text.split_whitespace().count()
                    }),
                )
            } else {
                error(404, "UnknownOperationException", "no such operation")
            }
        });
        FakeBedrock {
            endpoint: format!("http://{addr}"),
            log,
            reply,
        }
    }

    /// What Anthropic messages invocations answer from now on (the text of
    /// the assistant's one content block).
    pub fn reply_with(&self, text: impl Into<String>) {
        *self.reply.lock().expect("lock") = Some(text.into());
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Received> {
        self.log.lock().expect("lock").clone()
    }
}
