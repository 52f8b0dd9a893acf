//! replicate-webhook against real parts: the fake Replicate API signs the
//! deliveries and hands out the signing secret, Redis (a real server)
//! de-duplicates, moto's SQS is the results queue. The built binary runs
//! through the Lambda Runtime API.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Base64Data;
use lambda_shared::testing::{
    free_port, http_event_json, invoke_binary, start_failure, unique, Moto, Outcome,
};
use media_core::queue::{ResultMessage, Source};
use media_core::replicate::{Client, PredictionStatus, ReplicateConfig, WebhookEvent};
use media_core::testing::{Delivery, FakeReplicate, Forgery};
use media_core::webhook::{self, WebhookSecret};
use media_stores::cache::{Cache, CacheConfig};
use media_testing::Servers;
use replicate_webhook::{respond, Accepted, Rejected, Webhook};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use std::time::Duration;

const TOKEN: &str = "r8_webhook_test_token";

fn secret() -> WebhookSecret {
    WebhookSecret::from_key(b"replicate-webhook test signing key".to_vec())
}

/// One fake per test process: prediction ids are unique within a fake, and
/// the tests share one Redis, where the claims are keyed by prediction id.
fn fake() -> &'static FakeReplicate {
    static FAKE: OnceLock<FakeReplicate> = OnceLock::new();
    FAKE.get_or_init(|| FakeReplicate::start(TOKEN, secret()).unwrap())
}

fn client(fake: &FakeReplicate, token: &str) -> Client {
    Client::new(&ReplicateConfig {
        base_url: fake.base_url.clone(),
        token: token.into(),
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

/// A prediction on the shared fake, without a webhook URL: the test
/// delivers its webhooks itself.
fn prediction() -> String {
    client(fake(), TOKEN)
        .create_prediction(
            "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
            &Map::new(),
            None,
            &[WebhookEvent::Completed],
        )
        .unwrap()
        .id
}

fn event_json(d: &Delivery) -> Value {
    let mut e = http_event_json("POST /webhook/replicate", &Value::Null);
    e["body"] = json!(d.body);
    let h = e["headers"].as_object_mut().unwrap();
    h.insert(webhook::ID_HEADER.into(), json!(d.webhook_id));
    h.insert(
        webhook::TIMESTAMP_HEADER.into(),
        json!(d.timestamp.to_string()),
    );
    if let Some(sig) = &d.signature {
        h.insert(webhook::SIGNATURE_HEADER.into(), json!(sig));
    }
    e
}

fn event(d: &Delivery) -> ApiGatewayV2httpRequest {
    serde_json::from_value(event_json(d)).unwrap()
}

/// A delivery of `body` signed with the account's secret now.
fn signed(id: &str, body: &str) -> Delivery {
    let now = media_core::now_epoch();
    Delivery {
        url: None,
        webhook_id: id.into(),
        timestamp: now,
        signature: Some(webhook::sign(&secret(), id, now, body.as_bytes())),
        body: body.into(),
        status: None,
        error: None,
    }
}

struct Fixture {
    sdk: aws_config::SdkConfig,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Fixture {
    async fn new() -> Fixture {
        let sdk = Moto::shared().sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("results"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        Fixture {
            sdk,
            sqs,
            queue_url,
        }
    }

    fn webhook(&self, cache: CacheConfig, queue_url: &str) -> Webhook {
        Webhook::new(
            client(fake(), TOKEN),
            Cache::new(cache, &self.sdk),
            self.sqs.clone(),
            queue_url,
        )
    }

    fn handler(&self) -> Webhook {
        self.webhook(Servers::shared().cache_config(), &self.queue_url)
    }

    /// Every message on the queue (they are left in flight).
    async fn messages(&self) -> Vec<ResultMessage> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        out.messages
            .unwrap_or_default()
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect()
    }
}

fn down_cache() -> CacheConfig {
    CacheConfig {
        host: "127.0.0.1".into(),
        port: free_port(),
        tls: false,
        auth_secret: None,
    }
}

fn now() -> i64 {
    media_core::now_epoch()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_webhook_is_queued_once() {
    let fx = Fixture::new().await;
    let webhook = fx.handler();
    let id = prediction();
    let delivery = fake()
        .complete(&id, &[("png", b"\x89PNG image".to_vec())])
        .unwrap();
    let at = now();
    let first = webhook.handle(&event(&delivery), at).await.unwrap();
    assert_eq!(
        first,
        Accepted::Queued {
            prediction_id: id.clone()
        }
    );
    let r = respond(&Ok(first), "req");
    assert_eq!(r.status_code, 202);

    // Replicate retries: same message, fresh timestamp and signature.
    let again = fake().redeliver(&id).unwrap();
    assert_eq!(again.webhook_id, delivery.webhook_id);
    assert_eq!(
        webhook.handle(&event(&again), now()).await.unwrap(),
        Accepted::Duplicate {
            prediction_id: id.clone()
        }
    );
    // The original delivery again, too.
    assert!(matches!(
        webhook.handle(&event(&delivery), now()).await.unwrap(),
        Accepted::Duplicate { .. }
    ));

    let messages = fx.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m.source, Source::Webhook);
    assert_eq!(m.received_at, at);
    assert_eq!(m.prediction.id, id);
    assert_eq!(m.prediction.status, PredictionStatus::Succeeded);
    assert_eq!(
        m.prediction.output_urls().unwrap(),
        [format!("{}/files/{id}/0.png", fake().base_url)]
    );
    assert_eq!(m.prediction.metrics, Some(json!({"predict_time": 1.5})));
    // Logs and input are not carried.
    assert_eq!(m.prediction.logs, None);
    assert_eq!(m.prediction.input, Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_unsigned_tampered_and_stale_webhooks_are_refused() {
    let fx = Fixture::new().await;
    let webhook = fx.handler();
    let id = prediction();
    // The genuine delivery is not handed to the function yet.
    let genuine = fake().complete(&id, &[("mp4", b"video".to_vec())]).unwrap();
    for forgery in [
        Forgery::WrongSecret,
        Forgery::TamperedBody,
        Forgery::Unsigned,
        Forgery::Stale { age_secs: 301 },
        Forgery::Stale { age_secs: 3600 },
    ] {
        let d = fake().deliver_forged(&id, forgery).unwrap();
        let outcome = webhook.handle(&event(&d), now()).await;
        assert!(
            matches!(outcome, Err(Rejected::Unauthorized(_))),
            "{forgery:?}: {outcome:?}"
        );
        let r = respond(&outcome, "req");
        assert_eq!(r.status_code, 401, "{forgery:?}");
    }
    // A signature made for another message id does not carry over.
    let mut other_id = genuine.clone();
    other_id.webhook_id = "msg_other".into();
    assert!(matches!(
        webhook.handle(&event(&other_id), now()).await,
        Err(Rejected::Unauthorized(_))
    ));
    assert!(fx.messages().await.is_empty());
    // None of them claimed the prediction: the genuine one is queued.
    assert!(matches!(
        webhook.handle(&event(&genuine), now()).await.unwrap(),
        Accepted::Queued { .. }
    ));
    assert_eq!(fx.messages().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unfinished_predictions_are_ignored_malformed_bodies_refused_base64_taken() {
    let fx = Fixture::new().await;
    let webhook = fx.handler();
    let id = prediction();
    fake().start_processing(&id).unwrap();
    let running = fake().prediction(&id).unwrap();
    let body = serde_json::to_string(&running).unwrap();
    let outcome = webhook
        .handle(&event(&signed("msg_running", &body)), now())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Accepted::Ignored {
            prediction_id: id.clone(),
            status: PredictionStatus::Processing
        }
    );
    assert_eq!(respond(&Ok(outcome), "r").status_code, 200);

    // Authentic but not a prediction.
    for body in [
        "{not json",
        "[1, 2]",
        r#"{"id": "p", "status": "exploded"}"#,
    ] {
        let outcome = webhook
            .handle(&event(&signed("msg_bad", body)), now())
            .await;
        assert!(
            matches!(outcome, Err(Rejected::Malformed(_))),
            "{body}: {outcome:?}"
        );
        assert_eq!(respond(&outcome, "r").status_code, 400);
    }
    assert!(fx.messages().await.is_empty());

    // A body API Gateway base64-encoded is verified once decoded.
    let done = fake().complete(&id, &[("wav", b"RIFF".to_vec())]).unwrap();
    let mut e = event_json(&done);
    let mut encoded = Base64Data::default();
    *encoded = done.body.clone().into_bytes();
    e["body"] = serde_json::to_value(encoded).unwrap();
    e["isBase64Encoded"] = json!(true);
    let req: ApiGatewayV2httpRequest = serde_json::from_value(e).unwrap();
    assert_eq!(
        webhook.handle(&req, now()).await.unwrap(),
        Accepted::Queued {
            prediction_id: id.clone()
        }
    );
    let messages = fx.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].prediction.id, id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_failure_gives_the_claim_back_so_the_retry_is_taken() {
    let fx = Fixture::new().await;
    let missing = format!(
        "{}/123456789012/{}",
        Moto::shared().endpoint,
        unique("no-such-queue")
    );
    let broken = fx.webhook(Servers::shared().cache_config(), &missing);
    let id = prediction();
    let delivery = fake().complete(&id, &[("png", vec![1, 2, 3])]).unwrap();
    let outcome = broken.handle(&event(&delivery), now()).await;
    assert!(matches!(outcome, Err(Rejected::Queue(_))), "{outcome:?}");
    assert_eq!(respond(&outcome, "r").status_code, 500);
    // Replicate retries; the function, its queue back, takes it.
    let retry = fake().redeliver(&id).unwrap();
    assert_eq!(
        fx.handler().handle(&event(&retry), now()).await.unwrap(),
        Accepted::Queued { prediction_id: id }
    );
    assert_eq!(fx.messages().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_is_503_and_queues_nothing() {
    let fx = Fixture::new().await;
    let webhook = fx.webhook(down_cache(), &fx.queue_url);
    let id = prediction();
    let delivery = fake().fail(&id, "CUDA out of memory").unwrap();
    let outcome = webhook.handle(&event(&delivery), now()).await;
    assert!(
        matches!(outcome, Err(Rejected::CacheUnavailable(_))),
        "{outcome:?}"
    );
    assert_eq!(respond(&outcome, "r").status_code, 503);
    assert!(fx.messages().await.is_empty());
    // Redis back: the retry is queued, with the failure.
    let retry = fake().redeliver(&id).unwrap();
    fx.handler().handle(&event(&retry), now()).await.unwrap();
    let messages = fx.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].prediction.status, PredictionStatus::Failed);
    assert_eq!(
        messages[0].prediction.error.as_deref(),
        Some("CUDA out of memory")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signing_secret_is_fetched_once_and_an_unreachable_api_is_503() {
    let fx = Fixture::new().await;
    // A fake of its own, to count its requests; nothing here claims a
    // prediction, so its ids do not meet the shared fake's in Redis.
    let own = FakeReplicate::start(TOKEN, secret()).unwrap();
    let webhook = Webhook::new(
        client(&own, TOKEN),
        Cache::new(Servers::shared().cache_config(), &fx.sdk),
        fx.sqs.clone(),
        &fx.queue_url,
    );
    let running = json!({"id": "running-1", "status": "starting"}).to_string();
    for n in 0..3 {
        let d = signed(&format!("msg_{n}"), &running);
        assert!(matches!(
            webhook.handle(&event(&d), now()).await.unwrap(),
            Accepted::Ignored { .. }
        ));
    }
    let fetches = own
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/webhooks/default/secret")
        .count();
    assert_eq!(fetches, 1);

    // A token Replicate refuses: no secret, 503, so Replicate retries.
    let refused = Webhook::new(
        client(&own, "r8_wrong"),
        Cache::new(Servers::shared().cache_config(), &fx.sdk),
        fx.sqs.clone(),
        &fx.queue_url,
    );
    let outcome = refused
        .handle(&event(&signed("msg_x", &running)), now())
        .await;
    assert!(
        matches!(outcome, Err(Rejected::SecretUnavailable(_))),
        "{outcome:?}"
    );
    let r = respond(&outcome, "r");
    assert_eq!(r.status_code, 503);
    // A failed fetch is tried again on the next delivery.
    let _ = refused
        .handle(&event(&signed("msg_y", &running)), now())
        .await;
    let tries = own
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/webhooks/default/secret")
        .count();
    assert_eq!(tries, 3);
    assert!(fx.messages().await.is_empty());
}

/// The function's environment for the fixture's queue.
async fn binary_env(fx: &Fixture) -> Vec<(String, String)> {
    let moto = Moto::shared();
    let token_secret = unique("replicate-token");
    aws_sdk_secretsmanager::Client::new(&fx.sdk)
        .create_secret()
        .name(&token_secret)
        .secret_string(TOKEN)
        .send()
        .await
        .unwrap();
    // The webhook has no database; only the cache's variables are kept.
    let no_db = media_stores::postgres::DbConfig {
        host: "unused".into(),
        port: 1,
        name: "unused".into(),
        secret: "unused".into(),
        tls: false,
    };
    let mut env: Vec<(String, String)> =
        media_testing::env(&no_db, &Servers::shared().cache_config())
            .into_iter()
            .filter(|(k, _)| !k.starts_with("DB_"))
            .collect();
    env.extend(moto.env());
    for (k, v) in [
        ("QUEUE_URL", fx.queue_url.as_str()),
        ("REPLICATE_TOKEN_SECRET_ARN", token_secret.as_str()),
        ("REPLICATE_BASE_URL", fake().base_url.as_str()),
        ("METRICS_NAMESPACE", "Media/Test"),
    ] {
        env.push((k.into(), v.into()));
    }
    env
}

#[test]
fn the_built_binary_verifies_deduplicates_and_queues() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let env = rt.block_on(binary_env(&fx));
    let id = prediction();
    let genuine = fake()
        .complete(&id, &[("webp", b"RIFF webp".to_vec())])
        .unwrap();
    let again = fake().redeliver(&id).unwrap();
    let forged = fake().deliver_forged(&id, Forgery::WrongSecret).unwrap();
    let out = invoke_binary(
        env!("CARGO_BIN_EXE_replicate-webhook"),
        vec![
            event_json(&forged),
            event_json(&genuine),
            event_json(&again),
        ],
        &env,
    );
    let answers: Vec<(i64, Value)> = out
        .iter()
        .map(|o| match o {
            Outcome::Response(r) => (
                r["statusCode"].as_i64().unwrap(),
                serde_json::from_str(r["body"].as_str().unwrap()).unwrap(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        answers,
        [
            (401, json!({"error": "invalid webhook signature"})),
            (202, json!({"queued": true, "predictionId": id})),
            (200, json!({"duplicate": true, "predictionId": id})),
        ]
    );
    let messages = rt.block_on(fx.messages());
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].prediction.id, id);
    assert_eq!(messages[0].source, Source::Webhook);
}

#[test]
fn the_binary_refuses_to_start_without_its_configuration() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let env = rt.block_on(binary_env(&fx));
    let without = |name: &str| -> Vec<(String, String)> {
        env.iter().filter(|(k, _)| k != name).cloned().collect()
    };
    let bin = env!("CARGO_BIN_EXE_replicate-webhook");
    for name in ["QUEUE_URL", "CACHE_HOST", "REPLICATE_TOKEN_SECRET_ARN"] {
        let err = start_failure(bin, &without(name));
        assert!(err.contains(name), "{name}: {err}");
    }
    let mut bad_port = without("CACHE_PORT");
    bad_port.push(("CACHE_PORT".into(), "sixty".into()));
    let err = start_failure(bin, &bad_port);
    assert!(err.contains("CACHE_PORT"), "{err}");
}
