//! The HTTP side of probes: requests through ureq on a blocking thread,
//! on the workspace's one rustls (aws-lc-rs, webpki roots). Redirects are
//! not followed: a probe judges what the endpoint itself answers.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most of a body kept for judging.
pub const BODY_LIMIT: u64 = 1 << 20;

/// What to send, how often, and until when.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, upper case.
    pub method: String,
    /// The URL.
    pub url: String,
    /// Headers, secrets' values included (never printed).
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<String>,
    /// Each attempt's time.
    pub timeout: Duration,
    /// Retries of an attempt without an answer or with a 5xx.
    pub retries: u32,
    /// Requests, one after the other.
    pub samples: u32,
    /// The health run's deadline: nothing starts after it.
    pub deadline: Instant,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An answer.
    Answer {
        /// Its status.
        status: u16,
        /// Its body (the first [`BODY_LIMIT`] bytes, as text).
        body: String,
        /// From sending to the last byte read.
        elapsed: Duration,
    },
    /// No answer.
    NoAnswer {
        /// What happened, one line.
        error: String,
        /// Whether it was the timeout.
        timed_out: bool,
    },
}

/// One sample: its last attempt, and how many retries it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The last attempt.
    pub outcome: Outcome,
    /// Retries made.
    pub retries: u32,
}

impl Outcome {
    /// Whether another attempt may help: no answer, or a 5xx.
    fn retryable(&self) -> bool {
        match self {
            Outcome::Answer { status, .. } => *status >= 500,
            Outcome::NoAnswer { .. } => true,
        }
    }
}

/// Sends `req`'s samples; blocking.
pub fn send(req: &Request) -> Vec<Sample> {
    let mut samples = Vec::new();
    for _ in 0..req.samples.max(1) {
        if Instant::now() >= req.deadline && !samples.is_empty() {
            break;
        }
        let mut retries = 0;
        let mut outcome = attempt(req);
        while outcome.retryable() && retries < req.retries {
            let pause = Duration::from_millis(200 << retries.min(3));
            if Instant::now() + pause >= req.deadline {
                break;
            }
            std::thread::sleep(pause);
            retries += 1;
            outcome = attempt(req);
        }
        samples.push(Sample { outcome, retries });
    }
    samples
}

/// One request.
fn attempt(req: &Request) -> Outcome {
    let left = req.deadline.saturating_duration_since(Instant::now());
    let timeout = req.timeout.min(left.max(Duration::from_millis(1)));
    let agent = agent(timeout);
    let mut builder = ureq::http::Request::builder()
        .method(req.method.as_str())
        .uri(req.url.as_str());
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let started = Instant::now();
    let result = match builder.body(req.body.clone().unwrap_or_default()) {
        Ok(r) => agent.run(r),
        Err(e) => {
            return Outcome::NoAnswer {
                error: format!("invalid request: {e}"),
                timed_out: false,
            }
        }
    };
    match result {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let mut bytes = Vec::new();
            let read = resp
                .body_mut()
                .as_reader()
                .take(BODY_LIMIT)
                .read_to_end(&mut bytes);
            let elapsed = started.elapsed();
            match read {
                Ok(_) => Outcome::Answer {
                    status,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                    elapsed,
                },
                Err(e) => no_answer(&e.to_string(), started, timeout),
            }
        }
        Err(e) => no_answer(&e.to_string(), started, timeout),
    }
}

fn no_answer(error: &str, started: Instant, timeout: Duration) -> Outcome {
    let timed_out = error.contains("timeout") || started.elapsed() >= timeout;
    Outcome::NoAnswer {
        error: error.lines().next().unwrap_or(error).to_string(),
        timed_out,
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("stackctl-health/", env!("CARGO_PKG_VERSION")))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::Rustls)
                .root_certs(ureq::tls::RootCerts::WebPki)
                .unversioned_rustls_crypto_provider(Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .build(),
        )
        .build()
        .into()
}
