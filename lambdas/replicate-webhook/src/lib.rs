//! replicate-webhook: `POST /webhook/replicate` (seed 004). Replicate posts
//! a prediction here when it finishes; the route has no authorizer, the
//! Standard Webhooks signature is the authentication. A delivery is
//!
//! 1. verified over its raw body (base64-decoded when API Gateway encoded
//!    it) with the account's signing secret, which is fetched from
//!    Replicate's API once per execution environment: forged, unsigned,
//!    tampered or stale deliveries get 401;
//! 2. ignored (200) when the prediction is not finished yet;
//! 3. claimed in Redis by prediction id, so a redelivery is answered 200
//!    `{"duplicate": true}` without queueing it again;
//! 4. sent to the results queue as a [`ResultMessage`] for process-result,
//!    which does the slow part (downloads, S3, databases) outside API
//!    Gateway's 30 s limit: 202 `{"queued": true}`. When sending fails, the
//!    claim is given back and the answer is 500, so Replicate's retry is
//!    taken.
//!
//! Redis or the signing secret being unavailable is a 503: Replicate
//! retries any answer other than 2xx.

#![warn(missing_docs)]

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Base64Data;
use lambda_shared::http::json_response;
use media_core::queue::{ResultMessage, Source};
use media_core::replicate::{self, Prediction, PredictionStatus};
use media_core::webhook::{self, WebhookError, WebhookHeaders, WebhookSecret};
use media_stores::cache::{Cache, CacheConfig};
use media_stores::StoreError;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

/// How long fetching the signing secret from Replicate may take: the
/// function has a few seconds in all (API Gateway allows 30).
pub const SECRET_FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The function's settings, read once at start-up: `QUEUE_URL` and the
/// Redis variables (`CACHE_HOST`, `CACHE_PORT`, `CACHE_TLS`,
/// `CACHE_AUTH_SECRET_ARN`). The Replicate token's secret is read by
/// [`media_stores::replicate_config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The results queue.
    pub queue_url: String,
    /// Where Redis is.
    pub cache: CacheConfig,
}

impl Config {
    /// Reads the environment; a missing or invalid variable is named in
    /// the error.
    pub fn from_env() -> Result<Config, StoreError> {
        Ok(Config {
            queue_url: lambda_shared::config::var("QUEUE_URL")?,
            cache: CacheConfig::from_env("CACHE")?,
        })
    }
}

/// A delivery that was taken (2xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Sent to the results queue (202).
    Queued {
        /// The prediction.
        prediction_id: String,
    },
    /// This prediction's result was already taken: a redelivery (200).
    Duplicate {
        /// The prediction.
        prediction_id: String,
    },
    /// The prediction is not finished; nothing to do (200).
    Ignored {
        /// The prediction.
        prediction_id: String,
        /// Its status.
        status: PredictionStatus,
    },
}

impl Accepted {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Accepted::Queued { .. } => 202,
            Accepted::Duplicate { .. } | Accepted::Ignored { .. } => 200,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        match self {
            Accepted::Queued { prediction_id } => {
                json!({"queued": true, "predictionId": prediction_id})
            }
            Accepted::Duplicate { prediction_id } => {
                json!({"duplicate": true, "predictionId": prediction_id})
            }
            Accepted::Ignored {
                prediction_id,
                status,
            } => json!({
                "ignored": format!("the prediction is {}, not finished", status_name(*status)),
                "predictionId": prediction_id,
                "status": status,
            }),
        }
    }
}

fn status_name(s: PredictionStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A delivery that was not taken.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// `isBase64Encoded` is set but the body is not base64 (400).
    #[error("the request body is not valid base64")]
    UndecodableBody,
    /// The signature is missing, wrong, or its timestamp is stale (401).
    #[error("the webhook is not authentic: {0}")]
    Unauthorized(#[from] WebhookError),
    /// Authentic, but the body is not a prediction (400).
    #[error("the webhook body is not a prediction: {0}")]
    Malformed(String),
    /// The signing secret could not be fetched from Replicate (503).
    #[error("the webhook signing secret is unavailable: {0}")]
    SecretUnavailable(String),
    /// Redis, which de-duplicates deliveries, failed (503).
    #[error("the de-duplication store is unavailable: {0}")]
    CacheUnavailable(StoreError),
    /// The results queue refused the message (500).
    #[error("the result could not be queued: {0}")]
    Queue(String),
}

impl Rejected {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Rejected::UndecodableBody | Rejected::Malformed(_) => 400,
            Rejected::Unauthorized(_) => 401,
            Rejected::SecretUnavailable(_) | Rejected::CacheUnavailable(_) => 503,
            Rejected::Queue(_) => 500,
        }
    }
}

/// The API Gateway response for a handler's outcome, logged. Bodies say
/// what is wrong with the request (4xx) or only that the service failed
/// (5xx, with the request id; the detail is in the log).
pub fn respond(outcome: &Result<Accepted, Rejected>, request_id: &str) -> ApiGatewayV2httpResponse {
    match outcome {
        Ok(a) => json_response(a.status(), &a.body()),
        Err(e) => {
            let status = e.status();
            let body = match e {
                Rejected::Unauthorized(_) => json!({"error": "invalid webhook signature"}),
                Rejected::UndecodableBody | Rejected::Malformed(_) => {
                    json!({"error": e.to_string()})
                }
                Rejected::SecretUnavailable(_) | Rejected::CacheUnavailable(_) => {
                    json!({"error": "temporarily unavailable", "requestId": request_id})
                }
                Rejected::Queue(_) => json!({"error": "internal error", "requestId": request_id}),
            };
            if status >= 500 {
                tracing::error!(request_id, status, error = %e, "webhook not taken");
            } else {
                tracing::warn!(request_id, status, error = %e, "webhook refused");
            }
            json_response(status, &body)
        }
    }
}

/// The raw body as sent, decoded from base64 when API Gateway encoded it;
/// an absent body is empty (and fails verification).
pub fn raw_body(req: &ApiGatewayV2httpRequest) -> Result<Vec<u8>, Rejected> {
    let text = req.body.as_deref().unwrap_or("");
    if !req.is_base64_encoded {
        return Ok(text.as_bytes().to_vec());
    }
    serde_json::from_value::<Base64Data>(Value::String(text.to_string()))
        .map(|d| d.0)
        .map_err(|_| Rejected::UndecodableBody)
}

/// The signature headers of a request (API Gateway lowercases names;
/// the match is case-insensitive anyway).
pub fn headers(req: &ApiGatewayV2httpRequest) -> WebhookHeaders {
    WebhookHeaders::from_pairs(
        req.headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    )
}

/// The handler and what it keeps between invocations.
pub struct Webhook {
    replicate: replicate::Client,
    secret: OnceCell<WebhookSecret>,
    cache: Cache,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Webhook {
    /// A handler fetching the signing secret through `replicate` on first
    /// use, de-duplicating in `cache` and sending to `queue_url`.
    pub fn new(
        replicate: replicate::Client,
        cache: Cache,
        sqs: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
    ) -> Webhook {
        Webhook {
            replicate,
            secret: OnceCell::new(),
            cache,
            sqs,
            queue_url: queue_url.into(),
        }
    }

    /// The signing secret, fetched from Replicate's API the first time and
    /// kept for the life of the execution environment. A failed fetch is
    /// tried again on the next delivery.
    async fn secret(&self) -> Result<&WebhookSecret, Rejected> {
        self.secret
            .get_or_try_init(|| async {
                let client = self.replicate.clone();
                let text = tokio::task::spawn_blocking(move || client.webhook_secret())
                    .await
                    .map_err(|e| Rejected::SecretUnavailable(format!("the fetch stopped: {e}")))?
                    .map_err(|e| Rejected::SecretUnavailable(e.to_string()))?;
                let secret = WebhookSecret::parse(&text)
                    .map_err(|e| Rejected::SecretUnavailable(e.to_string()))?;
                tracing::info!("webhook signing secret fetched from Replicate");
                Ok(secret)
            })
            .await
    }

    /// Handles one delivery at time `now` (Unix seconds; it bounds the
    /// signature's age).
    pub async fn handle(
        &self,
        req: &ApiGatewayV2httpRequest,
        now: i64,
    ) -> Result<Accepted, Rejected> {
        let body = raw_body(req)?;
        let secret = self.secret().await?;
        let verified = webhook::verify(secret, &headers(req), &body, now)?;
        let prediction: Prediction =
            serde_json::from_slice(&body).map_err(|e| Rejected::Malformed(e.to_string()))?;
        let prediction_id = prediction.id.clone();
        let status = prediction.status;
        if !status.is_terminal() {
            tracing::info!(webhook_id = %verified.id, prediction_id, status = %status_name(status), "prediction not finished; ignored");
            return Ok(Accepted::Ignored {
                prediction_id,
                status,
            });
        }
        let first = self
            .cache
            .claim_webhook(&prediction_id, now)
            .await
            .map_err(Rejected::CacheUnavailable)?;
        if !first {
            tracing::info!(webhook_id = %verified.id, prediction_id, "result already taken; duplicate delivery");
            return Ok(Accepted::Duplicate { prediction_id });
        }
        let message = ResultMessage::new(prediction, Source::Webhook, now);
        if let Err(e) = self.send(&message).await {
            // Give the claim back, so Replicate's retry is taken.
            if let Err(release) = self.cache.release_webhook(&prediction_id).await {
                tracing::error!(prediction_id, error = %release, "the claim could not be released; the stuck-job checker will recover the result");
            }
            return Err(e);
        }
        tracing::info!(webhook_id = %verified.id, prediction_id, status = %status_name(status), "result queued");
        Ok(Accepted::Queued { prediction_id })
    }

    async fn send(&self, message: &ResultMessage) -> Result<(), Rejected> {
        let body = serde_json::to_string(message).map_err(|e| Rejected::Queue(e.to_string()))?;
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| Rejected::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::encodings::Body;

    fn request(body: Option<&str>, base64: bool) -> ApiGatewayV2httpRequest {
        serde_json::from_value(json!({
            "version": "2.0",
            "routeKey": "POST /webhook/replicate",
            "rawPath": "/webhook/replicate",
            "headers": {"webhook-id": "msg_1", "Webhook-Timestamp": "17", "content-type": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": "/webhook/replicate"}},
            "body": body,
            "isBase64Encoded": base64,
        }))
        .unwrap()
    }

    fn body_of(r: &ApiGatewayV2httpResponse) -> Value {
        match &r.body {
            Some(Body::Text(t)) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bodies_are_taken_raw_or_decoded_from_base64() {
        assert_eq!(
            raw_body(&request(Some("{\"a\": 1}"), false)).unwrap(),
            b"{\"a\": 1}"
        );
        assert_eq!(
            raw_body(&request(Some("eyJhIjogMX0="), true)).unwrap(),
            b"{\"a\": 1}"
        );
        assert_eq!(raw_body(&request(None, false)).unwrap(), b"");
        assert!(matches!(
            raw_body(&request(Some("!!not base64"), true)),
            Err(Rejected::UndecodableBody)
        ));
        let h = headers(&request(None, false));
        assert_eq!(h.id.as_deref(), Some("msg_1"));
        assert_eq!(h.timestamp.as_deref(), Some("17"));
        assert_eq!(h.signature, None);
    }

    #[test]
    fn answers_map_to_statuses_and_hide_internal_details() {
        let queued = respond(
            &Ok(Accepted::Queued {
                prediction_id: "p1".into(),
            }),
            "r",
        );
        assert_eq!(queued.status_code, 202);
        assert_eq!(
            body_of(&queued),
            json!({"queued": true, "predictionId": "p1"})
        );
        let dup = respond(
            &Ok(Accepted::Duplicate {
                prediction_id: "p1".into(),
            }),
            "r",
        );
        assert_eq!(dup.status_code, 200);
        assert_eq!(body_of(&dup)["duplicate"], true);
        let ignored = respond(
            &Ok(Accepted::Ignored {
                prediction_id: "p1".into(),
                status: PredictionStatus::Processing,
            }),
            "r",
        );
        assert_eq!(ignored.status_code, 200);
        assert_eq!(
            body_of(&ignored)["ignored"],
            "the prediction is processing, not finished"
        );
        let forged = respond(
            &Err(Rejected::Unauthorized(WebhookError::SignatureMismatch)),
            "r",
        );
        assert_eq!(forged.status_code, 401);
        assert_eq!(
            body_of(&forged),
            json!({"error": "invalid webhook signature"})
        );
        let queue = respond(
            &Err(Rejected::Queue("arn:aws:sqs:secret-detail".into())),
            "req-9",
        );
        assert_eq!(queue.status_code, 500);
        let b = body_of(&queue);
        assert_eq!(b["requestId"], "req-9");
        assert!(!b.to_string().contains("secret-detail"), "{b}");
        let down = respond(&Err(Rejected::SecretUnavailable("x".into())), "r");
        assert_eq!(down.status_code, 503);
        let bad = respond(&Err(Rejected::Malformed("expected value".into())), "r");
        assert_eq!(bad.status_code, 400);
        assert!(body_of(&bad)["error"]
            .as_str()
            .unwrap()
            .contains("not a prediction"));
    }
}
