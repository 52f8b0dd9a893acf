//! API Gateway HTTP API (payload 2.0) requests and responses: JSON bodies,
//! and errors that tell the client which field is wrong (4xx) or only that
//! something failed (5xx, details in the logs).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

/// A request that cannot be served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The request is invalid; `field` names what is wrong.
    #[error("{message}")]
    BadRequest {
        /// JSON path of the offending field, if one is to blame.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// Something failed on our side; the detail is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::Internal(_) => 500,
        }
    }
}

impl From<crate::AwsError> for ApiError {
    fn from(e: crate::AwsError) -> Self {
        ApiError::Internal(e.0)
    }
}

/// A successful reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: serde_json::Value,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: impl Serialize) -> Self {
        Self {
            status: 200,
            body: serde_json::to_value(body).unwrap_or_default(),
        }
    }
    /// 201 with `body`.
    pub fn created(body: impl Serialize) -> Self {
        Self {
            status: 201,
            body: serde_json::to_value(body).unwrap_or_default(),
        }
    }
}

/// A JSON response.
pub fn json_response(status: u16, body: &serde_json::Value) -> ApiGatewayV2httpResponse {
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = i64::from(status);
    r.headers.insert(
        aws_lambda_events::http::header::CONTENT_TYPE,
        aws_lambda_events::http::HeaderValue::from_static("application/json"),
    );
    r.body = Some(Body::Text(body.to_string()));
    r
}

/// The response for a handler's outcome. Internal errors are logged with the
/// request id, which is the only detail the client gets.
pub fn respond(outcome: Result<Reply, ApiError>, request_id: &str) -> ApiGatewayV2httpResponse {
    match outcome {
        Ok(reply) => json_response(reply.status, &reply.body),
        Err(ApiError::Internal(detail)) => {
            tracing::error!(request_id, error = %detail, "request failed");
            json_response(
                500,
                &json!({"error": "internal error", "requestId": request_id}),
            )
        }
        Err(e) => {
            tracing::info!(request_id, status = e.status(), error = %e, "request rejected");
            let mut body = json!({"error": e.to_string()});
            if let ApiError::BadRequest { field: Some(f), .. } = &e {
                body["field"] = json!(f);
            }
            json_response(e.status(), &body)
        }
    }
}

/// The request's body, decoded from base64 when API Gateway encoded it.
pub fn body_text(body: Option<&str>, base64_encoded: bool) -> Result<String, ApiError> {
    let raw = body
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::BadRequest {
            field: None,
            message: "a JSON request body is required".into(),
        })?;
    if !base64_encoded {
        return Ok(raw.to_string());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|_| ApiError::BadRequest {
            field: None,
            message: "the body is not valid base64".into(),
        })?;
    String::from_utf8(bytes).map_err(|_| ApiError::BadRequest {
        field: None,
        message: "the body is not UTF-8".into(),
    })
}

/// Parses a JSON body; a missing or mistyped field is a 400 naming it.
pub fn parse_json<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        ApiError::BadRequest {
            field: None,
            message: format!("the body is not valid JSON: {msg}"),
        }
    })?;
    if !value.is_object() {
        return Err(ApiError::BadRequest {
            field: None,
            message: "the body must be a JSON object".into(),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.inner().to_string();
        let message = inner
            .split(" at line ")
            .next()
            .unwrap_or(&inner)
            .to_string();
        let path = e.path().to_string();
        let field = if let Some(missing) = message.strip_prefix("missing field `") {
            let name = missing.split('`').next().unwrap_or_default();
            Some(if path == "." {
                name.to_string()
            } else {
                format!("{path}.{name}")
            })
        } else if path == "." {
            None
        } else {
            Some(path)
        };
        ApiError::BadRequest { field, message }
    })
}

/// Parses an HTTP API request's JSON body.
pub fn parse_body<T: DeserializeOwned>(req: &ApiGatewayV2httpRequest) -> Result<T, ApiError> {
    parse_json(&body_text(req.body.as_deref(), req.is_base64_encoded)?)
}

/// Runs an HTTP API function: each request goes to `handler`, whose
/// outcome becomes the response (internal errors logged, not returned).
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(ApiGatewayV2httpRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Reply, ApiError>>,
{
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<ApiGatewayV2httpRequest>| async move {
            let id = event.context.request_id.clone();
            Ok::<_, lambda_runtime::Error>(respond(handler(event.payload).await, &id))
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Req {
        file_size_bytes: u64,
        content_type: String,
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        match parse_json::<Req>(r#"{"contentType":"video/mp4"}"#) {
            Err(ApiError::BadRequest { field, .. }) => {
                assert_eq!(field.as_deref(), Some("fileSizeBytes"))
            }
            other => panic!("{other:?}"),
        }
        match parse_json::<Req>(r#"{"fileSizeBytes":"big","contentType":"video/mp4"}"#) {
            Err(ApiError::BadRequest { field, message }) => {
                assert_eq!(field.as_deref(), Some("fileSizeBytes"));
                assert!(message.contains("expected u64"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        match parse_json::<Req>("[10, \"video/mp4\"]") {
            Err(ApiError::BadRequest {
                field: None,
                message,
            }) => assert_eq!(message, "the body must be a JSON object"),
            other => panic!("{other:?}"),
        }
        match parse_json::<Req>("{nope") {
            Err(ApiError::BadRequest {
                field: None,
                message,
            }) => assert!(message.starts_with("the body is not valid JSON")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let r = respond(
            Err(ApiError::Internal("dynamodb: secret table arn".into())),
            "req-1",
        );
        assert_eq!(r.status_code, 500);
        let Some(Body::Text(body)) = r.body else {
            panic!()
        };
        assert!(!body.contains("secret"), "{body}");
        assert!(body.contains("req-1"));
    }

    #[test]
    fn bad_requests_carry_the_field() {
        let r = respond(Err(ApiError::field("contentType", "must be video/*")), "r");
        assert_eq!(r.status_code, 400);
        let Some(Body::Text(body)) = r.body else {
            panic!()
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["field"], "contentType");
    }

    #[test]
    fn base64_bodies_are_decoded() {
        assert_eq!(body_text(Some("e30="), true).unwrap(), "{}");
        assert!(body_text(None, false).is_err());
        assert!(body_text(Some("!!"), true).is_err());
    }
}
