//! generate-media against real stores (PostgreSQL, Redis, moto's DynamoDB
//! and Secrets Manager) and the fake Replicate API: a started job in every
//! store, each validation error, the rate limit, Replicate's refusals and
//! outages, and the built binary through the Lambda Runtime API.

mod common;

use common::{event, parts, typed, Fixture, Recorder};
use generate_media::{respond, Config, Service, Stores};
use lambda_shared::testing::{invoke_binary, start_failure, unique, Outcome};
use media_core::job::JobStatus;
use media_core::metrics::Counter;
use media_core::registry::ModelRegistry;
use media_core::replicate::{Client, ReplicateConfig};
use media_core::testing::FakeReplicate;
use media_core::webhook::WebhookSecret;
use media_core::MediaType;
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "r8_generate_media_test_token";
const WEBHOOK: &str = "https://api.example.com/webhook/replicate";
const FLUX_VERSION: &str = "5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637";

const MODELS: &str = r#"{"models": {
  "flux-schnell": {
    "media_type": "image",
    "model": "black-forest-labs/flux-schnell",
    "version": "5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637",
    "parameters": {
      "prompt": {"type": "string", "required": true},
      "num_outputs": {"type": "integer", "min": 1, "max": 4},
      "aspect_ratio": {"type": "string", "enum": ["1:1", "16:9"]}
    }
  },
  "musicgen": {
    "media_type": "audio",
    "model": "meta/musicgen",
    "version": "671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb",
    "parameters": {"prompt": {"type": "string", "required": true}}
  }
}}"#;

fn fake() -> FakeReplicate {
    FakeReplicate::start(TOKEN, WebhookSecret::from_key(b"generate-media".to_vec())).unwrap()
}

fn client(base_url: &str, token: &str) -> Client {
    Client::new(&ReplicateConfig {
        base_url: base_url.into(),
        token: token.into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn service(fx: &Fixture, replicate: Client, rate_limit: u64) -> Service<Recorder> {
    Service {
        config: Config {
            registry: ModelRegistry::from_json(MODELS).unwrap(),
            webhook_url: WEBHOOK.into(),
            rate_limit,
            rate_window_secs: 3600,
        },
        stores: Stores::new(&fx.sdk, fx.db.clone(), fx.cache.clone(), fx.table.clone()),
        replicate,
        metrics: Recorder::default(),
    }
}

async fn post(
    svc: &Service<Recorder>,
    body: &Value,
    user: Option<&str>,
) -> (u16, aws_lambda_events::http::HeaderMap, Value) {
    let req = typed(event("POST /generate-media", body, user));
    parts(&respond(
        svc.handle(&req, media_core::now_epoch()).await,
        "req-test",
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_request_starts_a_prediction_and_records_it_everywhere() {
    let fx = Fixture::new().await;
    let fake = fake();
    let svc = service(&fx, client(&fake.base_url, TOKEN), 30);
    let user = unique("user");
    // The body may name the caller itself.
    let body = json!({"model": "flux-schnell", "user_id": user,
                      "input": {"prompt": "a lighthouse at dawn", "num_outputs": 2}});
    let before = media_core::now_epoch();
    let (status, headers, resp) = post(&svc, &body, Some(&user)).await;
    assert_eq!(status, 202, "{resp}");
    let job_id = resp["jobId"].as_str().unwrap().to_string();
    let uuid = uuid::Uuid::parse_str(&job_id).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(
        resp,
        json!({"jobId": job_id, "status": "pending", "statusUrl": format!("/status/{job_id}")})
    );
    assert_eq!(headers["location"], format!("/status/{job_id}").as_str());

    // Replicate got the pinned version, the validated input, our webhook
    // and the `completed` filter, with the token.
    let calls = fake.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/v1/predictions");
    assert_eq!(
        calls[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        calls[0].json(),
        json!({"version": FLUX_VERSION,
               "input": {"prompt": "a lighthouse at dawn", "num_outputs": 2},
               "webhook": WEBHOOK, "webhook_events_filter": ["completed"]})
    );
    let prediction_id = fake.predictions()[0].id.clone();

    // PostgreSQL: the job with its prediction, the version and the input.
    let stored = fx
        .jobs()
        .get(&job_id)
        .await
        .unwrap()
        .expect("job in PostgreSQL");
    assert_eq!(stored.user_id, user);
    assert_eq!(stored.status, JobStatus::Pending);
    assert_eq!(stored.media_type, MediaType::Image);
    assert_eq!(stored.model, "flux-schnell");
    assert_eq!(
        stored.prediction_id.as_deref(),
        Some(prediction_id.as_str())
    );
    assert!(stored.created_at >= before);
    assert_eq!(
        fx.jobs().request(&job_id).await.unwrap().unwrap(),
        (
            FLUX_VERSION.to_string(),
            json!({"prompt": "a lighthouse at dawn", "num_outputs": 2})
        )
    );
    assert_eq!(
        fx.jobs()
            .by_prediction(&prediction_id)
            .await
            .unwrap()
            .unwrap()
            .job_id,
        job_id
    );
    // The realtime table (also by prediction) and Redis hold the same job.
    let rt = fx.realtime();
    assert_eq!(rt.get(&job_id).await.unwrap().unwrap(), stored);
    assert_eq!(
        rt.by_prediction(&prediction_id)
            .await
            .unwrap()
            .unwrap()
            .job_id,
        job_id
    );
    assert_eq!(
        fx.cache_store().status(&job_id).await.unwrap().unwrap(),
        stored
    );

    assert_eq!(
        svc.metrics.counts(),
        [(
            Counter::JobsStarted,
            MediaType::Image,
            "flux-schnell".to_string()
        )]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_requests_are_refused_naming_the_field_and_record_nothing() {
    let fx = Fixture::new().await;
    let fake = fake();
    let svc = service(&fx, client(&fake.base_url, TOKEN), 1000);
    let user = unique("user");
    let cases = [
        (json!({"input": {"prompt": "x"}}), Some("model"), "required"),
        (
            json!({"model": "sdxl", "input": {"prompt": "x"}}),
            Some("model"),
            "unknown model",
        ),
        (json!({"model": 7}), Some("model"), "expected string"),
        (
            json!({"model": "flux-schnell", "input": {}}),
            Some("input.prompt"),
            "missing",
        ),
        (
            json!({"model": "flux-schnell", "input": {"prompt": "x", "num_outputs": 9}}),
            Some("input.num_outputs"),
            "out of range",
        ),
        (
            json!({"model": "flux-schnell", "input": {"prompt": "x", "num_outputs": "2"}}),
            Some("input.num_outputs"),
            "expected integer",
        ),
        (
            json!({"model": "flux-schnell", "input": {"prompt": "x", "aspect_ratio": "4:3"}}),
            Some("input.aspect_ratio"),
            "is not one of",
        ),
        (
            json!({"model": "flux-schnell", "input": {"prompt": "x", "seed": 1}}),
            Some("input.seed"),
            "no parameter",
        ),
        (
            json!({"model": "musicgen", "input": "jazz"}),
            Some("input"),
            "expected object",
        ),
        (
            json!({"model": "musicgen", "extra": 1}),
            Some("extra"),
            "unknown field",
        ),
        (
            json!({"model": "musicgen", "user_id": "a/b", "input": {"prompt": "x"}}),
            Some("user_id"),
            "'/'",
        ),
        (json!([1, 2]), None, "JSON object"),
    ];
    for (body, field, text) in cases {
        let (status, _, resp) = post(&svc, &body, Some(&user)).await;
        assert_eq!(status, 400, "{body}: {resp}");
        assert_eq!(resp["field"].as_str(), field, "{body}: {resp}");
        assert!(
            resp["error"].as_str().unwrap().contains(text),
            "{body}: {resp}"
        );
    }
    // Not JSON, and no body at all.
    let mut raw = event("POST /generate-media", &json!({}), Some(&user));
    raw["body"] = json!("{not json");
    let (status, _, resp) = parts(&respond(svc.handle(&typed(raw.clone()), 0).await, "r"));
    assert_eq!(status, 400, "{resp}");
    assert!(
        resp["error"].as_str().unwrap().contains("not valid JSON"),
        "{resp}"
    );
    raw.as_object_mut().unwrap().remove("body");
    let (status, _, _) = parts(&respond(svc.handle(&typed(raw), 0).await, "r"));
    assert_eq!(status, 400);

    // A body acting for someone else, and a request without a caller.
    let valid = json!({"model": "musicgen", "input": {"prompt": "jazz"}});
    let mut other = valid.clone();
    other["user_id"] = json!("someone-else");
    let (status, _, resp) = post(&svc, &other, Some(&user)).await;
    assert_eq!(
        (status, resp["field"].as_str()),
        (403, Some("user_id")),
        "{resp}"
    );
    let (status, _, resp) = post(&svc, &valid, None).await;
    assert_eq!(status, 401, "{resp}");

    // None of them reached Replicate or a store.
    assert!(fake.requests().is_empty());
    assert_eq!(fx.job_rows().await, 0);
    assert!(svc.metrics.counts().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_answers_429_with_retry_after() {
    let fx = Fixture::new().await;
    let fake = fake();
    let svc = service(&fx, client(&fake.base_url, TOKEN), 2);
    let user = unique("user");
    let body = json!({"model": "musicgen", "input": {"prompt": "jazz"}});
    for _ in 0..2 {
        let (status, _, resp) = post(&svc, &body, Some(&user)).await;
        assert_eq!(status, 202, "{resp}");
    }
    let (status, headers, resp) = post(&svc, &body, Some(&user)).await;
    assert_eq!(status, 429, "{resp}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(resp["retryAfter"], retry);
    assert!(
        resp["error"]
            .as_str()
            .unwrap()
            .contains("2 requests per 3600 s"),
        "{resp}"
    );
    // The refused request created nothing; another user is not limited.
    assert_eq!(fake.predictions().len(), 2);
    assert_eq!(fx.job_rows().await, 2);
    let (status, _, _) = post(&svc, &body, Some(&unique("user"))).await;
    assert_eq!(status, 202);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limiter_that_cannot_count_refuses_with_503() {
    let mut fx = Fixture::new().await;
    // Nothing listens there.
    fx.cache.port = lambda_shared::testing::free_port();
    let fake = fake();
    let svc = service(&fx, client(&fake.base_url, TOKEN), 30);
    let started = std::time::Instant::now();
    let (status, _, resp) = post(
        &svc,
        &json!({"model": "musicgen", "input": {"prompt": "x"}}),
        Some("u-1"),
    )
    .await;
    assert_eq!(status, 503, "{resp}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(fake.requests().is_empty());
    assert_eq!(fx.job_rows().await, 0);
}

/// One way Replicate refuses, and what the client should see.
struct Refusal {
    name: &'static str,
    replicate: Client,
    /// The error the fake answers with: status, `Retry-After`, detail.
    inject: Option<(u16, Option<u64>, &'static str)>,
    want: u16,
    retry_after: Option<&'static str>,
    reason: &'static str,
}

/// Each way Replicate can refuse: the answer's status and `Retry-After`,
/// and the job failed in PostgreSQL, the realtime table and Redis.
#[tokio::test(flavor = "multi_thread")]
async fn replicate_refusals_and_outages_fail_the_job_in_every_store() {
    let fx = Fixture::new().await;
    let fake = fake();
    let dead = format!("http://127.0.0.1:{}", lambda_shared::testing::free_port());
    let case = |name, replicate, inject, want, retry_after, reason| Refusal {
        name,
        replicate,
        inject,
        want,
        retry_after,
        reason,
    };
    let cases = [
        case(
            "invalid input",
            client(&fake.base_url, TOKEN),
            Some((422, None, "- input.prompt: too long")),
            502,
            None,
            "rejected the request: - input.prompt: too long",
        ),
        case(
            "outage",
            client(&fake.base_url, TOKEN),
            Some((503, None, "upstream down")),
            503,
            None,
            "unavailable",
        ),
        case(
            "throttled",
            client(&fake.base_url, TOKEN),
            Some((429, Some(7), "slow down")),
            503,
            Some("7"),
            "throttling",
        ),
        case(
            "wrong token",
            client(&fake.base_url, "r8_wrong_token_value"),
            None,
            502,
            None,
            "refused the request",
        ),
        case(
            "unreachable",
            client(&dead, TOKEN),
            None,
            503,
            None,
            "unavailable",
        ),
    ];
    for Refusal {
        name,
        replicate,
        inject,
        want,
        retry_after,
        reason,
    } in cases
    {
        if let Some((status, retry, detail)) = inject {
            fake.fail_next(status, retry, detail);
        }
        let svc = service(&fx, replicate, 1000);
        let user = unique("user");
        let (status, headers, resp) = post(
            &svc,
            &json!({"model": "flux-schnell", "input": {"prompt": "x"}}),
            Some(&user),
        )
        .await;
        assert_eq!(status, want, "{name}: {resp}");
        assert_eq!(
            headers.get("retry-after").map(|v| v.to_str().unwrap()),
            retry_after,
            "{name}"
        );
        let text = resp.to_string();
        assert!(
            !text.contains(TOKEN) && !text.contains("r8_wrong"),
            "{name}: {text}"
        );
        assert!(
            resp["error"].as_str().unwrap().contains(reason),
            "{name}: {resp}"
        );
        assert_eq!(resp["status"], "failed", "{name}");
        let job_id = resp["jobId"].as_str().unwrap();

        let stored = fx
            .jobs()
            .get(job_id)
            .await
            .unwrap()
            .expect("job in PostgreSQL");
        assert_eq!(stored.status, JobStatus::Failed, "{name}");
        assert_eq!(stored.prediction_id, None, "{name}");
        let error = stored.error.clone().unwrap();
        assert!(
            error.starts_with("the prediction could not be created: "),
            "{name}: {error}"
        );
        assert!(error.contains(reason), "{name}: {error}");
        assert!(
            !error.contains(TOKEN) && !error.contains("r8_wrong"),
            "{name}: {error}"
        );
        assert_eq!(
            fx.realtime().get(job_id).await.unwrap().unwrap(),
            stored,
            "{name}"
        );
        assert_eq!(
            fx.cache_store().status(job_id).await.unwrap().unwrap(),
            stored,
            "{name}"
        );
        assert_eq!(
            svc.metrics.counts(),
            [(
                Counter::JobsFailed,
                MediaType::Image,
                "flux-schnell".to_string()
            )],
            "{name}"
        );
    }
    assert!(fake.predictions().is_empty());
}

fn binary_env(fx: &Fixture, fake: &FakeReplicate, token_secret: &str) -> Vec<(String, String)> {
    let mut env = fx.env();
    for (k, v) in [
        ("MODELS", MODELS),
        ("REPLICATE_TOKEN_SECRET_ARN", token_secret),
        ("REPLICATE_BASE_URL", fake.base_url.as_str()),
        ("WEBHOOK_URL", WEBHOOK),
        ("RATE_LIMIT", "1"),
        ("RATE_WINDOW_SECS", "3600"),
    ] {
        env.push((k.into(), v.into()));
    }
    env
}

#[test]
fn the_built_binary_serves_requests_through_the_runtime_api() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let fake = fake();
    let secret = unique("replicate-token");
    rt.block_on(async {
        aws_sdk_secretsmanager::Client::new(&fx.sdk)
            .create_secret()
            .name(&secret)
            .secret_string(TOKEN)
            .send()
            .await
            .unwrap();
    });
    let user = unique("user");
    let ok = json!({"model": "musicgen", "input": {"prompt": "slow jazz"}});
    let events = vec![
        event("POST /generate-media", &ok, Some(&user)),
        event(
            "POST /generate-media",
            &json!({"model": "nope"}),
            Some(&user),
        ),
        // The limit is one request per hour.
        event("POST /generate-media", &ok, Some(&user)),
    ];
    let out = invoke_binary(
        env!("CARGO_BIN_EXE_generate-media"),
        events,
        &binary_env(&fx, &fake, &secret),
    );
    let response = |i: usize| match &out[i] {
        Outcome::Response(r) => {
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            (
                r["statusCode"].as_u64().unwrap(),
                r["headers"].clone(),
                body,
            )
        }
        other => panic!("{other:?}"),
    };
    let (status, headers, body) = response(0);
    assert_eq!(status, 202, "{body}");
    let job_id = body["jobId"].as_str().unwrap();
    assert_eq!(headers["location"], format!("/status/{job_id}"));
    let (status, _, body) = response(1);
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("model")),
        "{body}"
    );
    let (status, headers, _) = response(2);
    assert_eq!(status, 429);
    assert!(headers["retry-after"].as_str().is_some(), "{headers}");

    // The prediction runs on the fake, recorded against the job.
    let predictions = fake.predictions();
    assert_eq!(predictions.len(), 1);
    assert_eq!(
        fake.webhook_of(&predictions[0].id).as_deref(),
        Some(WEBHOOK)
    );
    let stored = rt.block_on(fx.jobs().get(job_id)).unwrap().unwrap();
    assert_eq!(
        stored.prediction_id.as_deref(),
        Some(predictions[0].id.as_str())
    );
    assert_eq!(stored.user_id, user);
}

#[test]
fn the_binary_refuses_to_start_without_its_configuration() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let fake = fake();
    let full = binary_env(&fx, &fake, "unused");
    for missing in [
        "MODELS",
        "WEBHOOK_URL",
        "METRICS_NAMESPACE",
        "REALTIME_TABLE",
        "DB_HOST",
    ] {
        let env: Vec<_> = full.iter().filter(|(k, _)| k != missing).cloned().collect();
        let err = start_failure(env!("CARGO_BIN_EXE_generate-media"), &env);
        assert!(err.contains(missing), "{missing}: {err}");
    }
    let mut bad = full.clone();
    bad.push(("RATE_LIMIT".into(), "0".into()));
    let err = start_failure(env!("CARGO_BIN_EXE_generate-media"), &bad);
    assert!(err.contains("RATE_LIMIT"), "{err}");
}
