//! API Gateway REST API (proxy integration) responses: JSON bodies with
//! `Access-Control-Allow-Origin`, and errors as `{"error": ...}` (400, 404,
//! 409; a 500 says only "internal error" and the request id, the detail
//! goes to the log). The request side reuses `lambda_shared::http`.

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{header, HeaderValue};
pub use lambda_shared::http::{ApiError, Reply};
use serde_json::json;

/// A JSON response allowing `origin`.
pub fn json_response(
    status: u16,
    body: &serde_json::Value,
    origin: &str,
) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = i64::from(status);
    r.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(origin) {
        r.headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    r.body = Some(Body::Text(body.to_string()));
    r
}

/// The response for a handler's outcome.
pub fn respond(
    outcome: Result<Reply, ApiError>,
    request_id: &str,
    origin: &str,
) -> ApiGatewayProxyResponse {
    match outcome {
        Ok(reply) => json_response(reply.status, &reply.body, origin),
        Err(ApiError::Internal(detail)) => {
            tracing::error!(request_id, error = %detail, "request failed");
            json_response(
                500,
                &json!({"error": "internal error", "requestId": request_id}),
                origin,
            )
        }
        Err(e) => {
            tracing::info!(request_id, status = e.status(), error = %e, "request rejected");
            let mut body = json!({"error": e.to_string()});
            if let ApiError::BadRequest { field: Some(f), .. } = &e {
                body["field"] = json!(f);
            }
            json_response(e.status(), &body, origin)
        }
    }
}
