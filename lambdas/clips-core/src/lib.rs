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

/// `CHUNK_SECONDS`: the length of the chunks MediaConvert cuts a video
/// into, a whole number of seconds from 10 to 3600 (start-chunking creates
/// the jobs with it, on-mediaconvert-state counts their segments with it).
pub fn chunk_seconds() -> Result<u32, config::ConfigError> {
    let seconds: f64 = config::parse("CHUNK_SECONDS")?;
    if !(10.0..=3600.0).contains(&seconds) || seconds.fract() != 0.0 {
        return Err(config::ConfigError::Invalid {
            name: "CHUNK_SECONDS".into(),
            value: seconds.to_string(),
            reason: "must be a whole number of seconds from 10 to 3600".into(),
        });
    }
    Ok(seconds as u32)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
