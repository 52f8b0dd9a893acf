//! Configuration from environment variables, read once at start-up. A
//! missing or malformed variable stops the function before it takes any
//! event, with a message naming the variable.

use std::str::FromStr;

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable is not set.
    #[error("environment variable {0} is not set")]
    Missing(String),
    /// The variable does not parse.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        /// Variable name.
        name: String,
        /// Its value.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// A required string variable.
pub fn var(name: &str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name.to_string())),
    }
}

/// A required variable parsed as `T`.
pub fn parse<T: FromStr>(name: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let value = var(name)?;
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| ConfigError::Invalid {
            name: name.to_string(),
            value,
            reason: e.to_string(),
        })
}

/// An optional variable parsed as `T`, or `default`.
pub fn parse_or<T: FromStr>(name: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => parse(name),
        _ => Ok(default),
    }
}

/// Loads the AWS configuration the SDK would: region, credentials and
/// `AWS_ENDPOINT_URL` from the environment.
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// An S3 client; path-style addressing when a custom endpoint is set, as
/// emulators serve buckets under the path rather than as subdomains.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = sdk.endpoint_url().is_some();
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_the_variable() {
        std::env::set_var("SHARED_TEST_N", "12x");
        let e = parse::<u64>("SHARED_TEST_N").unwrap_err().to_string();
        assert!(e.contains("SHARED_TEST_N=\"12x\" is invalid"), "{e}");
        assert!(matches!(
            parse::<u64>("SHARED_TEST_MISSING"),
            Err(ConfigError::Missing(_))
        ));
        assert_eq!(parse_or::<u64>("SHARED_TEST_MISSING", 7).unwrap(), 7);
    }
}
