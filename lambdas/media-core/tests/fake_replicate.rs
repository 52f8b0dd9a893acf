//! The fake Replicate API end to end, with the real client and verifier:
//! what the media functions' tests will rely on.

use media_core::job::{Job, JobStatus};
use media_core::layout;
use media_core::registry::ModelRegistry;
use media_core::replicate::{
    Client, PredictionStatus, ReplicateConfig, ReplicateError, WebhookEvent,
};
use media_core::testing::{FakeError, FakeReplicate, Forgery, WebhookReceiver};
use media_core::webhook::{self, Verified, WebhookError, WebhookSecret};
use media_core::MediaType;
use serde_json::{json, Map, Value};
use std::time::Duration;

const TOKEN: &str = "r8_fake_token";
const WAIT: Duration = Duration::from_secs(10);

fn secret() -> WebhookSecret {
    WebhookSecret::parse("whsec_c2VjcmV0LWZvci10aGUtZmFrZQ==").unwrap()
}

fn setup() -> (FakeReplicate, Client, WebhookReceiver) {
    let fake = FakeReplicate::start(TOKEN, secret()).unwrap();
    let client = client(&fake, TOKEN);
    let receiver = WebhookReceiver::start(200).unwrap();
    (fake, client, receiver)
}

fn client(fake: &FakeReplicate, token: &str) -> Client {
    Client::new(&ReplicateConfig {
        base_url: fake.base_url.clone(),
        token: token.into(),
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

fn input(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn start(client: &Client, receiver: &WebhookReceiver) -> String {
    client
        .create_prediction(
            "abc123",
            &input(json!({"prompt": "a red fox"})),
            Some(&receiver.url),
            &[WebhookEvent::Completed],
        )
        .unwrap()
        .id
}

#[test]
fn predictions_are_created_recorded_and_read_back() {
    let (fake, client, receiver) = setup();
    let p = client
        .create_prediction(
            "abc123",
            &input(json!({"prompt": "a red fox", "num_outputs": 1})),
            Some(&receiver.url),
            &[WebhookEvent::Completed],
        )
        .unwrap();
    assert_eq!(p.status, PredictionStatus::Starting);
    assert_eq!(p.version.as_deref(), Some("abc123"));
    assert_eq!(p.input["prompt"], "a red fox");
    assert_eq!(
        p.urls.get.as_deref(),
        Some(format!("{}/v1/predictions/{}", fake.base_url, p.id).as_str())
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/v1/predictions");
    assert_eq!(
        requests[0].header("Authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        requests[0].json(),
        json!({"version": "abc123", "input": {"prompt": "a red fox", "num_outputs": 1},
               "webhook": receiver.url, "webhook_events_filter": ["completed"]})
    );
    assert_eq!(
        fake.webhook_of(&p.id).as_deref(),
        Some(receiver.url.as_str())
    );

    assert_eq!(client.get_prediction(&p.id).unwrap(), p);
    fake.start_processing(&p.id).unwrap();
    let now = client.get_prediction(&p.id).unwrap();
    assert_eq!(now.status, PredictionStatus::Processing);
    assert!(now.started_at.is_some());
    // Nothing is posted before completion.
    assert!(receiver.received().is_empty());
    assert_eq!(fake.predictions().len(), 1);
}

#[test]
fn completion_serves_the_file_and_posts_a_valid_signed_webhook() {
    let (fake, client, receiver) = setup();
    let id = start(&client, &receiver);
    let png = b"\x89PNG\r\n\x1a\nfake image".to_vec();
    let delivery = fake.complete(&id, &[("png", png.clone())]).unwrap();
    assert_eq!(delivery.status, Some(200));
    assert_eq!(delivery.url.as_deref(), Some(receiver.url.as_str()));

    let got = receiver.wait(1, WAIT);
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/webhook/replicate");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let verified = webhook::verify_now(&secret(), &req.webhook_headers(), &req.body).unwrap();
    assert_eq!(
        verified,
        Verified {
            id: delivery.webhook_id.clone(),
            timestamp: delivery.timestamp
        }
    );
    // The secret the API hands out is the one that signed.
    let handed_out = WebhookSecret::parse(&client.webhook_secret().unwrap()).unwrap();
    assert!(webhook::verify_now(&handed_out, &req.webhook_headers(), &req.body).is_ok());

    let p: media_core::replicate::Prediction = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(p.id, id);
    assert_eq!(p.status, PredictionStatus::Succeeded);
    let urls = p.output_urls().unwrap();
    assert_eq!(urls, [format!("{}/files/{id}/0.png", fake.base_url)]);
    // A single output is a string, as for most image models.
    assert!(p.output.is_string());
    assert_eq!(client.download(&urls[0], 1 << 20).unwrap(), png);
    assert_eq!(
        layout::output_file_name(0, &urls[0], MediaType::Image),
        "original.png"
    );
    assert_eq!(
        client.get_prediction(&id).unwrap().status,
        PredictionStatus::Succeeded
    );
    assert_eq!(fake.complete(&id, &[]), Err(FakeError::AlreadyFinished(id)));
}

#[test]
fn several_outputs_are_a_list_of_urls() {
    let (fake, client, receiver) = setup();
    let id = start(&client, &receiver);
    fake.complete(&id, &[("webp", b"one".to_vec()), ("webp", b"two".to_vec())])
        .unwrap();
    let p = client.get_prediction(&id).unwrap();
    let urls = p.output_urls().unwrap();
    assert_eq!(urls.len(), 2);
    assert!(p.output.is_array());
    assert_eq!(client.download(&urls[1], 100).unwrap(), b"two");
    assert_eq!(
        layout::output_file_name(1, &urls[1], MediaType::Image),
        "original-1.webp"
    );
    // Files that were never produced are not served.
    let missing = format!("{}/files/{id}/7.webp", fake.base_url);
    assert!(matches!(
        client.download(&missing, 100),
        Err(ReplicateError::NotFound(_))
    ));
}

#[test]
fn failures_reach_the_job_through_the_webhook() {
    let (fake, client, receiver) = setup();
    let id = start(&client, &receiver);
    fake.fail(&id, "CUDA out of memory").unwrap();
    let req = &receiver.wait(1, WAIT)[0];
    webhook::verify_now(&secret(), &req.webhook_headers(), &req.body).unwrap();
    let p: media_core::replicate::Prediction = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(p.status, PredictionStatus::Failed);
    let mut job = Job::new("job-1", "user-1", MediaType::Image, "flux", 100);
    job.apply_prediction(&p, 200).unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_deref(), Some("CUDA out of memory"));
}

#[test]
fn forged_and_stale_webhooks_are_refused() {
    let (fake, client, receiver) = setup();
    let id = start(&client, &receiver);
    assert_eq!(
        fake.deliver_forged(&id, Forgery::Unsigned),
        Err(FakeError::NothingSent(id.clone()))
    );
    fake.complete(&id, &[("mp4", b"video".to_vec())]).unwrap();
    for (forgery, expected) in [
        (Forgery::WrongSecret, WebhookError::SignatureMismatch),
        (Forgery::TamperedBody, WebhookError::SignatureMismatch),
        (
            Forgery::Unsigned,
            WebhookError::MissingHeader(webhook::SIGNATURE_HEADER),
        ),
    ] {
        let d = fake.deliver_forged(&id, forgery).unwrap();
        assert_eq!(d.status, Some(200));
        let got = receiver.received();
        let req = got.last().unwrap();
        assert_eq!(
            webhook::verify_now(&secret(), &req.webhook_headers(), &req.body),
            Err(expected),
            "{forgery:?}"
        );
    }
    fake.deliver_forged(&id, Forgery::Stale { age_secs: 600 })
        .unwrap();
    let got = receiver.received();
    let req = got.last().unwrap();
    assert!(matches!(
        webhook::verify_now(&secret(), &req.webhook_headers(), &req.body),
        Err(WebhookError::StaleTimestamp { .. })
    ));
    // ... although its signature is right for its timestamp.
    let ts: i64 = req.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!(webhook::verify(&secret(), &req.webhook_headers(), &req.body, ts).is_ok());
    assert_eq!(receiver.received().len(), 5);
}

#[test]
fn redeliveries_keep_the_message_id_for_deduplication() {
    let (fake, client, receiver) = setup();
    let id = start(&client, &receiver);
    let first = fake.complete(&id, &[("mp3", b"audio".to_vec())]).unwrap();
    let again = fake.redeliver(&id).unwrap();
    assert_eq!(again.webhook_id, first.webhook_id);
    assert_eq!(again.body, first.body);
    let got = receiver.wait(2, WAIT);
    let ids: Vec<String> = got
        .iter()
        .map(|r| {
            webhook::verify_now(&secret(), &r.webhook_headers(), &r.body)
                .unwrap()
                .id
        })
        .collect();
    assert_eq!(ids, [first.webhook_id.clone(), first.webhook_id]);
    // Another prediction's message has another id.
    let other = start(&client, &receiver);
    let d = fake.complete(&other, &[("mp3", b"x".to_vec())]).unwrap();
    assert_ne!(d.webhook_id, again.webhook_id);
}

#[test]
fn a_bad_token_is_refused_and_creates_nothing() {
    let (fake, _client, receiver) = setup();
    let e = client(&fake, "r8_wrong")
        .create_prediction("abc123", &Map::new(), Some(&receiver.url), &[])
        .unwrap_err();
    assert!(
        matches!(e, ReplicateError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    assert!(fake.predictions().is_empty());
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn injected_and_validation_errors_map_to_typed_errors() {
    let (fake, client, receiver) = setup();
    fake.fail_next(429, Some(3), "Request was throttled.");
    fake.fail_next(503, None, "maintenance");
    let e = client.get_prediction("nope").unwrap_err();
    assert_eq!(
        e,
        ReplicateError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            detail: "Request was throttled.".into()
        }
    );
    assert!(matches!(
        client.create_prediction("v", &Map::new(), None, &[]),
        Err(ReplicateError::Server { status: 503, .. })
    ));
    assert!(matches!(
        client.get_prediction("nope"),
        Err(ReplicateError::NotFound(_))
    ));
    let e = client
        .create_prediction("v", &Map::new(), Some("not a url"), &[])
        .unwrap_err();
    assert!(
        matches!(e, ReplicateError::InvalidInput(ref d) if d.contains("webhook")),
        "{e:?}"
    );
    assert!(fake.predictions().is_empty());
    // The fake works normally afterwards.
    start(&client, &receiver);
    assert_eq!(fake.predictions().len(), 1);
    assert_eq!(
        fake.complete("missing", &[]),
        Err(FakeError::UnknownPrediction("missing".into()))
    );
}

#[test]
fn canceling_posts_the_canceled_prediction() {
    let (fake, client, receiver) = setup();
    let id = start(&client, &receiver);
    let p = client.cancel_prediction(&id).unwrap();
    assert_eq!(p.status, PredictionStatus::Canceled);
    let deliveries = fake.wait_deliveries(1, WAIT);
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, Some(200));
    let req = &receiver.wait(1, WAIT)[0];
    let p: media_core::replicate::Prediction = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(p.status, PredictionStatus::Canceled);
    // Canceling a finished prediction changes nothing.
    assert_eq!(
        client.cancel_prediction(&id).unwrap().status,
        PredictionStatus::Canceled
    );
}

#[test]
fn predictions_without_webhook_are_recorded_but_not_posted() {
    let (fake, client, _receiver) = setup();
    let id = client
        .create_prediction("abc123", &Map::new(), None, &[])
        .unwrap()
        .id;
    let d = fake.complete(&id, &[("png", vec![1])]).unwrap();
    assert_eq!(d.url, None);
    assert_eq!(d.status, None);
    // A receiver that is down is reported, not fatal.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/webhook/replicate");
    let id = client
        .create_prediction("abc123", &Map::new(), Some(&url), &[])
        .unwrap()
        .id;
    let d = fake.complete(&id, &[("png", vec![1])]).unwrap();
    assert_eq!(d.status, None);
    assert!(d.error.is_some());
    assert_eq!(fake.deliveries().len(), 2);
}

#[test]
fn the_whole_flow_from_request_to_bucket_keys() {
    let (fake, client, receiver) = setup();
    let registry = ModelRegistry::from_json(
        r#"{"models": {"svd": {"media_type": "video", "model": "stability-ai/stable-video-diffusion",
            "version": "3f0457e4619daac51203dedb472816fd4af51f3149fa7a9e0b5ffcf1b8172438",
            "parameters": {"input_image": {"type": "string", "required": true},
                           "fps": {"type": "integer", "min": 1, "max": 30}}}}}"#,
    )
    .unwrap();
    let req = registry
        .validate_json(
            r#"{"model": "svd", "user_id": "user-7", "input": {"input_image": "https://x/y.png", "fps": 6}}"#,
        )
        .unwrap();
    let created_at = 1_772_927_999; // 2026-03-07T23:59:59Z
    let mut job = Job::new(
        "job-7",
        "user-7",
        req.media_type,
        &req.model_name,
        created_at,
    );
    let p = client
        .create_prediction(
            &req.version,
            &req.input,
            Some(&receiver.url),
            &[WebhookEvent::Completed],
        )
        .unwrap();
    job.apply_prediction(&p, created_at + 1).unwrap();
    assert_eq!(job.status, JobStatus::Pending);

    fake.complete(&p.id, &[("mp4", b"frames".to_vec())])
        .unwrap();
    let hook = &receiver.wait(1, WAIT)[0];
    let verified = webhook::verify_now(&secret(), &hook.webhook_headers(), &hook.body).unwrap();
    assert!(verified.id.starts_with("msg_"));
    let done: media_core::replicate::Prediction = serde_json::from_slice(&hook.body).unwrap();
    job.apply_prediction(&done, created_at + 60).unwrap();
    assert_eq!(job.status, JobStatus::Processing);

    let mut keys = Vec::new();
    for (n, url) in done.output_urls().unwrap().iter().enumerate() {
        let bytes = client.download(url, 1 << 20).unwrap();
        assert_eq!(bytes, b"frames");
        let name = layout::output_file_name(n, url, job.media_type);
        keys.push(
            layout::media_key(
                job.media_type,
                &job.user_id,
                &job.job_id,
                job.created_at,
                &name,
            )
            .unwrap(),
        );
    }
    job.succeed(keys, created_at + 61).unwrap();
    assert_eq!(job.outputs, ["videos/user-7/2026/03/07/job-7/original.mp4"]);
    assert_eq!(
        layout::metadata_key(job.media_type, &job.user_id, &job.job_id, job.created_at).unwrap(),
        "videos/user-7/2026/03/07/job-7/metadata.json"
    );
}
