//! What the three world services (world-management, agent-runtime,
//! llm-integration) share: configuration from the environment, JSON logs,
//! the axum app skeleton (`/health`, request logs, JSON 404/405, graceful
//! shutdown on SIGTERM), errors as `{"error": {"code", "message"}}`,
//! DynamoDB items and pagination cursors, Redis, and the records of the
//! world tables.

pub mod cache;
pub mod config;
pub mod dynamo;
pub mod error;
pub mod logging;
pub mod model;
pub mod server;
pub mod time;

pub use error::ApiError;

/// Loads the AWS configuration the SDK would (region, credentials,
/// `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_*`).
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// An S3 client; path-style addressing when a custom endpoint is set, as
/// emulators serve buckets under the path rather than as subdomains.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// The full chain of an error's causes, for logs (SDK errors say little at
/// the top level: "service error").
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

/// Lower-case hex of SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
