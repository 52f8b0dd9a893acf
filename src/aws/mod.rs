//! The AWS boundary: narrow traits in stackctl's own words, and their thin
//! SDK implementations. Everything above this module is testable with
//! in-memory fakes; the implementations are tested against moto.

pub mod artefacts;
pub mod buckets;
pub mod cloudformation;
#[cfg(test)]
pub mod fake;
pub mod functions;
pub mod resources;
pub mod secrets;

use crate::model::Environment;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use cloudformation::ErrorKind;
use std::time::Duration;

pub use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// SDK configuration for an environment: its region, its endpoint (after
/// `--endpoint-url` / `AWS_ENDPOINT_URL`), and the standard credential chain.
/// An environment with an endpoint gets static test credentials when the
/// caller has configured none, and an emulator environment (`emulator:`)
/// whenever `AWS_ACCESS_KEY_ID` is not set, since emulators accept any. Throttled calls are retried with backoff (up to 5 attempts); a
/// connection that cannot be made fails within seconds, not minutes.
pub async fn sdk_config(
    env: &Environment,
    endpoint_override: Option<&str>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(env.region.clone()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(5)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .build(),
        );
    if let Some(url) = env.endpoint(endpoint_override) {
        loader = loader.endpoint_url(url);
        let keys = std::env::var_os("AWS_ACCESS_KEY_ID").is_some();
        let configured = keys
            || ["AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"]
                .iter()
                .any(|v| std::env::var_os(v).is_some());
        // An emulator takes any credentials: a profile set for real AWS
        // (even one that does not exist) is no reason to go without.
        if !keys && (env.emulator.is_some() || !configured) {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                "stackctl-local",
                "stackctl-local",
                None,
                None,
                "stackctl-emulator",
            ));
        }
    }
    loader.load().await
}

/// An S3 client for `sdk`: path-style addressing when an endpoint is set,
/// since emulators serve buckets under one host.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An SDK error taken apart: the service's code and message where there is
/// one, a one-line text for the user, and a kind when the failure is not
/// the service's answer (no credentials, no connection, not an AWS reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkFailure {
    /// The service's error code (`ValidationError`, ...).
    pub code: Option<String>,
    /// The service's message.
    pub message: Option<String>,
    /// `context: what happened`, one line.
    pub text: String,
    /// Set when the failure is already classified.
    pub class: Option<ErrorKind>,
}

/// Describes an SDK error of any service in one line: never a parser dump,
/// never the debug form of a response.
pub fn describe_sdk_error<E>(context: &str, err: &SdkError<E, HttpResponse>) -> SdkFailure
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let innermost = || {
        let mut inner: &dyn std::error::Error = err;
        let mut chain = String::new();
        while let Some(s) = inner.source() {
            inner = s;
            chain.push_str(&format!(" {inner}"));
        }
        (inner.to_string(), chain)
    };
    let failure = |text: String, class: Option<ErrorKind>| SdkFailure {
        code: None,
        message: None,
        text,
        class,
    };
    // An answer that is not AWS's: an emulator's HTML error page, a proxy's,
    // another program's on that port (a 404 with an empty body).
    if let Some(raw) = err.raw_response() {
        let status = raw.status().as_u16();
        let body = raw.body().bytes().unwrap_or_default();
        let start = String::from_utf8_lossy(&body[..body.len().min(64)]).to_ascii_lowercase();
        let html = start.trim_start().starts_with("<!doctype html") || start.contains("<html");
        let aws_code = err.as_service_error().and_then(|e| e.code()).is_some();
        if status >= 400 && (html || !aws_code) {
            let what = if html {
                "an HTML error page"
            } else if body.is_empty() {
                "an empty body"
            } else {
                "no AWS error"
            };
            let who = if status >= 500 {
                "an emulator that failed on this request, or a proxy"
            } else {
                "is something other than AWS or an emulator listening at the endpoint?"
            };
            return failure(
                format!("{context}: the endpoint answered HTTP {status} with {what}, not an AWS response ({who})"),
                Some(ErrorKind::BadResponse),
            );
        }
    }
    match err {
        SdkError::ServiceError(s) => {
            let e = s.err();
            let code = e.code().map(str::to_string);
            let message = e.message().map(str::to_string);
            let text = match (&code, &message) {
                (Some(c), Some(m)) => format!("{context}: {c}: {m}"),
                (Some(c), None) => format!("{context}: {c}"),
                _ => format!("{context}: {e}"),
            };
            SdkFailure {
                code,
                message,
                text,
                class: None,
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let (inner, chain) = innermost();
            let lower = chain.to_ascii_lowercase();
            if lower.contains("credentials") || lower.contains("no matching auth scheme") {
                failure(
                    format!("{context}: no AWS credentials found ({inner})"),
                    Some(ErrorKind::Credentials),
                )
            } else {
                failure(
                    format!("{context}: cannot reach the endpoint ({inner})"),
                    Some(ErrorKind::Unreachable),
                )
            }
        }
        other => {
            let (_, chain) = innermost();
            let lower = chain.to_ascii_lowercase();
            let class = lower
                .contains("credentials")
                .then_some(ErrorKind::Credentials);
            failure(format!("{context}: {other}:{chain}"), class)
        }
    }
}

/// `text` with the hint a user needs for an error of `kind`.
pub fn with_hint(kind: ErrorKind, text: String) -> String {
    let hint = match kind {
        ErrorKind::Credentials => {
            "set AWS_PROFILE (and run `aws sso login` for SSO profiles) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; an environment with `emulator: moto` needs neither"
        }
        ErrorKind::Unreachable => {
            "check the network, the region, and --endpoint-url / AWS_ENDPOINT_URL / the environment's `endpoint_url`"
        }
        ErrorKind::Denied => "the caller's IAM policy must allow this action; the message names it",
        ErrorKind::Throttled => "AWS kept throttling after 5 attempts; wait a minute and run the command again",
        ErrorKind::BadResponse => {
            "check --endpoint-url / AWS_ENDPOINT_URL / the environment's `endpoint_url`; with the local emulator, its log (.stackctl/moto-PORT.log when stackctl started it) shows the failure"
        }
        _ => return text,
    };
    format!("{text}\nhint: {hint}")
}

/// One line (and a hint where there is one) for an SDK error of any service.
pub fn explain<E>(context: &str, err: &SdkError<E, HttpResponse>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let f = describe_sdk_error(context, err);
    match f.class {
        Some(kind) => with_hint(kind, f.text),
        None => {
            let kind =
                cloudformation::classify(f.code.as_deref(), f.message.as_deref().unwrap_or(""));
            with_hint(kind, f.text)
        }
    }
}
