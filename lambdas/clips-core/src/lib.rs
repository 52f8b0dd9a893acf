//! What the clips functions (issue 13, stacks/clips.yaml) share:
//!
//! - [`keys`]: the single-table item layout of the `clips` table;
//! - [`episode`]: the episode status machine and the DynamoDB store of
//!   episodes, chunks and clip candidates;
//! - [`cursor`]: the HMAC-signed opaque list cursor;
//! - [`events`]: the EventBridge event details taken and emitted;
//! - [`http`]: API Gateway REST proxy responses with CORS.
//!
//! Configuration comes from the environment through
//! `lambda_shared::config` (re-exported as [`config`]).

pub mod cursor;
pub mod episode;
pub mod events;
pub mod http;
pub mod keys;

pub use lambda_shared::config;
pub use lambda_shared::AwsError;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
