//! The WebSocket side of probes: a handshake and an optional message round
//! trip through tungstenite on a blocking thread, TLS on the workspace's
//! one rustls (aws-lc-rs, webpki roots).

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Connector, Message};

/// What to do.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The `ws://` or `wss://` URL.
    pub url: String,
    /// Handshake headers, secrets' values included (never printed).
    pub headers: Vec<(String, String)>,
    /// A text message to send after the handshake.
    pub send: Option<String>,
    /// Wait for a message containing this (any message when only `send`).
    pub expect: Option<String>,
    /// The handshake's time, and the round trip's.
    pub timeout: Duration,
    /// The health run's deadline.
    pub deadline: Instant,
}

/// How it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The handshake: its time, or why it failed (and whether on the timeout).
    pub handshake: Result<Duration, (String, bool)>,
    /// The round trip, when one was asked for: the matching message, or
    /// why none came (and the last message seen, if any).
    pub reply: Option<Result<String, (String, Option<String>)>>,
}

/// Has the conversation; blocking.
pub fn talk(c: &Conversation) -> Outcome {
    let wants_reply = c.send.is_some() || c.expect.is_some();
    let started = Instant::now();
    let mut ws = match handshake(c) {
        Ok(ws) => ws,
        Err(e) => {
            let timed_out = e.contains("timed out")
                || e.contains("would block")
                || started.elapsed() >= c.timeout;
            return Outcome {
                handshake: Err((e, timed_out)),
                reply: None,
            };
        }
    };
    let handshake = Ok(started.elapsed());
    let reply = wants_reply.then(|| round_trip(&mut ws, c));
    let _ = ws.close(None);
    let _ = ws.flush();
    Outcome { handshake, reply }
}

type Socket = tungstenite::WebSocket<MaybeTlsStream<TcpStream>>;

fn handshake(c: &Conversation) -> Result<Socket, String> {
    let mut request = c
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("invalid URL: {e}"))?;
    for (name, value) in &c.headers {
        let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name}"))?;
        // The value is not named: it may be a secret's.
        let value = tungstenite::http::HeaderValue::from_str(value)
            .map_err(|_| format!("the value of header {name} is not valid in a header"))?;
        request.headers_mut().insert(name, value);
    }
    let uri = request.uri().clone();
    let tls = uri.scheme_str() == Some("wss");
    let host = uri
        .host()
        .ok_or("the URL has no host")?
        .trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let timeout = c.timeout.min(left(c.deadline));
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolving {host}: no address"))?;
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let connector = if tls {
        Connector::Rustls(Arc::new(tls_config()?))
    } else {
        Connector::Plain
    };
    let (ws, _) = tungstenite::client_tls_with_config(request, stream, None, Some(connector))
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp)) => {
                format!(
                    "the server refused the handshake with HTTP {}",
                    resp.status()
                )
            }
            other => format!("handshake: {}", first_line(&other.to_string())),
        })?;
    Ok(ws)
}

fn round_trip(ws: &mut Socket, c: &Conversation) -> Result<String, (String, Option<String>)> {
    if let Some(text) = &c.send {
        ws.send(Message::text(text.clone()))
            .map_err(|e| (format!("sending: {}", first_line(&e.to_string())), None))?;
    }
    let until = Instant::now() + c.timeout.min(left(c.deadline));
    let mut last = None;
    loop {
        let remaining = until.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err((no_reply(c), last));
        }
        if let Some(tcp) = tcp(ws.get_ref()) {
            let _ = tcp.set_read_timeout(Some(remaining));
        }
        let text = match ws.read() {
            Ok(Message::Text(t)) => t.to_string(),
            Ok(Message::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
            Ok(Message::Close(_)) => {
                return Err(("the server closed the connection".to_string(), last))
            }
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err((no_reply(c), last))
            }
            Err(e) => return Err((first_line(&e.to_string()), last)),
        };
        match &c.expect {
            Some(want) if !text.contains(want.as_str()) => last = Some(text),
            _ => return Ok(text),
        }
    }
}

fn no_reply(c: &Conversation) -> String {
    let what = match &c.expect {
        Some(want) => format!("no message containing {want:?}"),
        None => "no message".to_string(),
    };
    format!(
        "{what} within {}",
        crate::health::report::seconds(c.timeout)
    )
}

fn tcp(s: &MaybeTlsStream<TcpStream>) -> Option<&TcpStream> {
    match s {
        MaybeTlsStream::Plain(s) => Some(s),
        MaybeTlsStream::Rustls(s) => Some(s.get_ref()),
        _ => None,
    }
}

fn tls_config() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

fn left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}
