//! Errors as HTTP responses: `{"error": {"code": "...", "message": "..."}}`
//! with the matching status. Client errors say what is wrong; server
//! errors are logged in full and answered with a generic message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

/// A request that cannot be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is invalid (`code` is a stable machine-readable
    /// reason such as `invalid_field`).
    #[error("{message}")]
    BadRequest {
        /// Stable reason.
        code: &'static str,
        /// What is wrong, for a person.
        message: String,
    },
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 422: the stored data the request needs is unusable (a snapshot
    /// whose bytes do not match its checksum).
    #[error("{message}")]
    Unprocessable {
        /// Stable reason.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// 429: slow down; `Retry-After` is set.
    #[error("{message}")]
    TooManyRequests {
        /// What was throttled.
        message: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// 502: a service this one depends on answered wrongly.
    #[error("{0}")]
    BadGateway(String),
    /// 503: a dependency is unavailable for now.
    #[error("{0}")]
    Unavailable(String),
    /// 500: something failed here; the detail is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 about one field.
    pub fn field(field: &str, message: impl std::fmt::Display) -> Self {
        ApiError::BadRequest {
            code: "invalid_field",
            message: format!("{field}: {message}"),
        }
    }

    /// A 500 from any error, with its causes (logged only).
    pub fn internal(context: &str, e: &(dyn std::error::Error + 'static)) -> Self {
        ApiError::Internal(format!("{context}: {}", crate::chain(e)))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Unprocessable { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooManyRequests { .. } => "throttled",
            ApiError::BadGateway(_) => "bad_gateway",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// The JSON error body.
pub fn body(code: &str, message: &str) -> serde_json::Value {
    json!({"error": {"code": code, "message": message}})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "internal error".to_string()
            }
            ApiError::BadGateway(detail) | ApiError::Unavailable(detail) => {
                tracing::warn!(status = status.as_u16(), error = %detail, "dependency failed");
                self.to_string()
            }
            e => {
                tracing::info!(status = status.as_u16(), error = %e, "request rejected");
                e.to_string()
            }
        };
        let mut response = (status, axum::Json(body(self.code(), &message))).into_response();
        if let ApiError::TooManyRequests { retry_after, .. } = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response
    }
}

/// Parses a JSON request body into `T`; a malformed body, or a missing or
/// mistyped field, is a 400 naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| ApiError::BadRequest {
            code: "invalid_json",
            message: format!("the body is not valid JSON: {e}"),
        })?;
    if !value.is_object() {
        return Err(ApiError::BadRequest {
            code: "invalid_json",
            message: "the body must be a JSON object".into(),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        let message = inner
            .split(" at line ")
            .next()
            .unwrap_or(&inner)
            .to_string();
        if path == "." {
            ApiError::BadRequest {
                code: "invalid_field",
                message,
            }
        } else {
            ApiError::field(&path, message)
        }
    })
}

/// A required, non-blank string field of at most `max` characters,
/// trimmed.
pub fn required(field: &str, value: Option<&str>, max: usize) -> Result<String, ApiError> {
    let v = value.map(str::trim).unwrap_or_default();
    if v.is_empty() {
        return Err(ApiError::field(field, "is required"));
    }
    if v.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    Ok(v.to_string())
}

/// An id from the path or a body: 1 to 128 visible characters (DynamoDB
/// keys allow more, but no id this API issues is longer).
pub fn id<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.is_empty() || value.chars().count() > 128 || value.chars().any(char::is_control) {
        return Err(ApiError::field(field, "is not a valid id"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Req {
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        n: Option<u8>,
    }

    #[test]
    fn bodies_name_the_field() {
        let e = parse_json::<Req>(br#"{"name": "a", "n": 300}"#).unwrap_err();
        assert_eq!(e.code(), "invalid_field");
        assert!(e.to_string().starts_with("n: "), "{e}");
        let e = parse_json::<Req>(br#"{}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `name`"), "{e}");
        let e = parse_json::<Req>(b"[1]").unwrap_err();
        assert_eq!(e.code(), "invalid_json");
        let e = parse_json::<Req>(b"{").unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let r = ApiError::Internal("secret detail".into()).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = ApiError::TooManyRequests {
            message: "slow".into(),
            retry_after: 3,
        }
        .into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
    }

    #[test]
    fn ids() {
        assert_eq!(id("world_id", "w-1").unwrap(), "w-1");
        assert!(id("world_id", "").is_err());
        assert!(id("world_id", &"x".repeat(129)).is_err());
        assert!(id("world_id", "a\nb").is_err());
    }

    #[test]
    fn required_strings() {
        assert_eq!(required("name", Some("  a "), 3).unwrap(), "a");
        assert!(required("name", Some("  "), 3).is_err());
        assert!(required("name", None, 3).is_err());
        assert!(required("name", Some("abcd"), 3).is_err());
    }
}
