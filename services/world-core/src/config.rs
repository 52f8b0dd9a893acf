//! Configuration from environment variables, read once at start-up. A
//! missing or malformed variable stops the service before it listens, with
//! a message naming the variable.

use std::str::FromStr;

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable is not set (or empty).
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
    optional(name).ok_or_else(|| ConfigError::Missing(name.to_string()))
}

/// An optional string variable (unset and empty are the same).
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// An optional variable parsed as `T`, or `default`.
pub fn parse_or<T: FromStr>(name: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match optional(name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name: name.to_string(),
                value,
                reason: e.to_string(),
            }),
    }
}

/// An optional `http(s)://` base URL, without a trailing slash.
pub fn url(name: &str) -> Result<Option<String>, ConfigError> {
    let Some(value) = optional(name) else {
        return Ok(None);
    };
    let trimmed = value.trim().trim_end_matches('/').to_string();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace) => {
            Ok(Some(trimmed))
        }
        _ => Err(ConfigError::Invalid {
            name: name.to_string(),
            value,
            reason: "must be an http:// or https:// URL with a host".into(),
        }),
    }
}

/// The port to listen on: `PORT`, default 8080.
pub fn port() -> Result<u16, ConfigError> {
    parse_or("PORT", 8080)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_named_in_errors() {
        std::env::set_var("WORLD_CORE_TEST_N", "12x");
        let e = parse_or::<u64>("WORLD_CORE_TEST_N", 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("WORLD_CORE_TEST_N=\"12x\" is invalid"), "{e}");
        assert_eq!(parse_or::<u64>("WORLD_CORE_TEST_MISSING", 7).unwrap(), 7);
        assert_eq!(
            var("WORLD_CORE_TEST_MISSING").unwrap_err().to_string(),
            "environment variable WORLD_CORE_TEST_MISSING is not set"
        );
    }

    #[test]
    fn urls_need_a_scheme_and_host() {
        std::env::set_var("WORLD_CORE_TEST_URL", "http://lb.internal:80/");
        assert_eq!(
            url("WORLD_CORE_TEST_URL").unwrap().as_deref(),
            Some("http://lb.internal:80")
        );
        std::env::set_var("WORLD_CORE_TEST_URL2", "lb.internal");
        assert!(url("WORLD_CORE_TEST_URL2").is_err());
        std::env::set_var("WORLD_CORE_TEST_URL3", "https:///x");
        assert!(url("WORLD_CORE_TEST_URL3").is_err());
        assert_eq!(url("WORLD_CORE_TEST_URL_MISSING").unwrap(), None);
    }
}
