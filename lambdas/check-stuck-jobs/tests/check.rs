//! check-stuck-jobs against real stores (PostgreSQL, Redis, moto's
//! DynamoDB, SQS and Secrets Manager) and the fake Replicate API: each
//! decision (queued, failed, canceled, left alone), one job's error not
//! stopping the others, Replicate throttling and the deadline ending a run,
//! and the built binary through the Lambda Runtime API.

mod common;

use check_stuck_jobs::{Checker, Config, Stop, Stores, Summary};
use common::{Fixture, Recorder};
use lambda_shared::testing::{invoke_binary, start_failure, unique, Outcome};
use media_core::job::{Job, JobStatus};
use media_core::metrics::Counter;
use media_core::queue::{ResultMessage, Source};
use media_core::replicate::{Client, PredictionStatus, ReplicateConfig};
use media_core::testing::FakeReplicate;
use media_core::webhook::WebhookSecret;
use media_core::MediaType;
use media_stores::postgres::NewJob;
use serde_json::json;
use std::time::{Duration, Instant};

const TOKEN: &str = "r8_check_stuck_jobs_token";

struct World {
    fx: Fixture,
    fake: FakeReplicate,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl World {
    async fn new() -> World {
        let fx = Fixture::new().await;
        let sqs = aws_sdk_sqs::Client::new(&fx.sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("results"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let fake = FakeReplicate::start(TOKEN, WebhookSecret::from_key(b"stuck".to_vec())).unwrap();
        World {
            fx,
            fake,
            sqs,
            queue_url,
        }
    }

    fn client(&self) -> Client {
        Client::new(&ReplicateConfig {
            base_url: self.fake.base_url.clone(),
            token: TOKEN.into(),
            timeout: Duration::from_secs(5),
        })
        .unwrap()
    }

    fn checker(&self) -> Checker<Recorder> {
        let fx = &self.fx;
        Checker {
            config: Config {
                queue_url: self.queue_url.clone(),
                stuck_after_secs: 900,
                max_job_age_secs: 3600,
            },
            stores: Stores::new(&fx.sdk, fx.db.clone(), fx.cache.clone(), fx.table.clone()),
            replicate: self.client(),
            sqs: self.sqs.clone(),
            metrics: Recorder::default(),
        }
    }

    /// A prediction on the fake, starting.
    fn prediction(&self) -> String {
        self.client()
            .create_prediction("v1", &serde_json::Map::new(), None, &[])
            .unwrap()
            .id
    }

    /// A job created at `created_at` that last moved at `updated_at`, in
    /// PostgreSQL and the realtime table.
    async fn job(
        &self,
        created_at: i64,
        updated_at: i64,
        status: JobStatus,
        prediction: Option<&str>,
    ) -> Job {
        let mut job = Job::new(
            uuid::Uuid::new_v4().to_string(),
            unique("user"),
            MediaType::Video,
            "stability-video",
            created_at,
        );
        self.fx
            .jobs()
            .insert(&NewJob {
                job: &job,
                model_version: "stability-ai/stable-video-diffusion",
                input: &json!({"fps": 8}),
            })
            .await
            .unwrap();
        job.status = status;
        job.prediction_id = prediction.map(str::to_string);
        job.updated_at = updated_at;
        if status != JobStatus::Pending || prediction.is_some() || updated_at != created_at {
            assert!(self.fx.jobs().update(&job).await.unwrap());
        }
        self.fx.realtime().put(&job).await.unwrap();
        job
    }

    /// Every message on the queue.
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
        out.messages()
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect()
    }

    /// The job in each store must be `want`.
    async fn assert_everywhere(&self, want: &Job) {
        let id = &want.job_id;
        assert_eq!(&self.fx.jobs().get(id).await.unwrap().unwrap(), want);
        assert_eq!(&self.fx.realtime().get(id).await.unwrap().unwrap(), want);
        assert_eq!(
            &self.fx.cache_store().status(id).await.unwrap().unwrap(),
            want
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_stuck_job_is_queued_failed_canceled_or_left_alone() {
    let w = World::new().await;
    let now = media_core::now_epoch();
    let checker = w.checker();

    // Never got a prediction.
    let never = w
        .job(now - 1000, now - 1000, JobStatus::Pending, None)
        .await;
    // Finished on Replicate, but the webhook never came.
    let done_id = w.prediction();
    w.fake
        .complete(&done_id, &[("mp4", b"video".to_vec())])
        .unwrap();
    let done = w
        .job(now - 1100, now - 1100, JobStatus::Pending, Some(&done_id))
        .await;
    let failed_id = w.prediction();
    w.fake.fail(&failed_id, "NSFW content detected").unwrap();
    let failed = w
        .job(now - 1200, now - 1200, JobStatus::Pending, Some(&failed_id))
        .await;
    // Running for more than an hour.
    let old_id = w.prediction();
    w.fake.start_processing(&old_id).unwrap();
    let old = w
        .job(now - 4000, now - 1300, JobStatus::Processing, Some(&old_id))
        .await;
    // Running, but young enough.
    let young_id = w.prediction();
    let young = w
        .job(now - 1400, now - 1400, JobStatus::Pending, Some(&young_id))
        .await;
    // Replicate has never heard of it.
    let gone = w
        .job(
            now - 1500,
            now - 1500,
            JobStatus::Processing,
            Some("gone0000"),
        )
        .await;
    // Not stuck: moved recently, or finished.
    let recent = w
        .job(
            now - 5000,
            now - 60,
            JobStatus::Processing,
            Some(&w.prediction()),
        )
        .await;
    let finished = w
        .job(
            now - 5000,
            now - 5000,
            JobStatus::Succeeded,
            Some("p-finished"),
        )
        .await;

    let summary = checker.run(now, None).await.unwrap();
    assert_eq!(
        summary,
        Summary {
            stuck: 6,
            queued: 2,
            failed: 2,
            canceled: 1,
            left: 1,
            ..Summary::default()
        }
    );

    // The finished predictions are on the queue, as process-result takes them.
    let mut messages = w.messages().await;
    messages.sort_by_key(|m| m.prediction.id.clone());
    let mut want = vec![
        (done_id.clone(), PredictionStatus::Succeeded),
        (failed_id.clone(), PredictionStatus::Failed),
    ];
    want.sort_by_key(|(id, _)| id.clone());
    assert_eq!(
        messages
            .iter()
            .map(|m| (m.prediction.id.clone(), m.prediction.status))
            .collect::<Vec<_>>(),
        want
    );
    for m in &messages {
        assert_eq!((m.source, m.received_at), (Source::Poll, now));
    }
    let done_message = messages
        .iter()
        .find(|m| m.prediction.id == done_id)
        .unwrap();
    assert_eq!(
        done_message.prediction.output_urls().unwrap(),
        [format!("{}/files/{done_id}/0.mp4", w.fake.base_url)]
    );
    let failed_message = messages
        .iter()
        .find(|m| m.prediction.id == failed_id)
        .unwrap();
    assert_eq!(
        failed_message.prediction.error.as_deref(),
        Some("NSFW content detected")
    );
    // Queued jobs themselves are process-result's to change.
    for j in [&done, &failed] {
        assert_eq!(&w.fx.jobs().get(&j.job_id).await.unwrap().unwrap(), j);
    }

    // Failed in every store, with why.
    let mut never_failed = never.clone();
    never_failed
        .fail("the prediction was never created", now)
        .unwrap();
    w.assert_everywhere(&never_failed).await;
    let mut gone_failed = gone.clone();
    gone_failed
        .fail("the prediction no longer exists on Replicate", now)
        .unwrap();
    w.assert_everywhere(&gone_failed).await;
    // Canceled on Replicate, and failed here.
    assert_eq!(
        w.fake.prediction(&old_id).unwrap().status,
        PredictionStatus::Canceled
    );
    let mut old_failed = old.clone();
    old_failed
        .fail(
            "the prediction ran for more than 3600 s and was canceled",
            now,
        )
        .unwrap();
    w.assert_everywhere(&old_failed).await;

    // Left alone: still starting on Replicate, unchanged here.
    assert_eq!(
        w.fake.prediction(&young_id).unwrap().status,
        PredictionStatus::Starting
    );
    for j in [&young, &recent, &finished] {
        assert_eq!(&w.fx.jobs().get(&j.job_id).await.unwrap().unwrap(), j);
    }

    // Replicate was asked about the five with a prediction, once each, and
    // only the old one was canceled.
    let calls: Vec<String> = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.method != "POST" || r.path.ends_with("/cancel"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let mut expected: Vec<String> = [
        &done_id,
        &failed_id,
        &old_id,
        &young_id,
        &"gone0000".to_string(),
    ]
    .iter()
    .map(|id| format!("GET /v1/predictions/{id}"))
    .collect();
    expected.push(format!("POST /v1/predictions/{old_id}/cancel"));
    let mut sorted = calls.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected);

    let failures = checker.metrics.counts();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(failures.iter().all(|c| *c
        == (
            Counter::JobsFailed,
            MediaType::Video,
            "stability-video".to_string()
        )));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_skips_one_job_while_throttling_and_the_deadline_end_the_run() {
    let w = World::new().await;
    let now = media_core::now_epoch();
    let checker = w.checker();
    let first_id = w.prediction();
    w.fake
        .complete(&first_id, &[("mp4", b"a".to_vec())])
        .unwrap();
    let first = w
        .job(now - 2000, now - 2000, JobStatus::Pending, Some(&first_id))
        .await;
    let second_id = w.prediction();
    w.fake
        .complete(&second_id, &[("mp4", b"b".to_vec())])
        .unwrap();
    let second = w
        .job(now - 1000, now - 1000, JobStatus::Pending, Some(&second_id))
        .await;
    let third = w.job(now - 950, now - 950, JobStatus::Pending, None).await;

    // Replicate fails on the oldest job's poll: the others are still done.
    w.fake.fail_next(500, None, "internal error");
    let summary = checker.run(now, None).await.unwrap();
    assert_eq!(
        summary,
        Summary {
            stuck: 3,
            queued: 1,
            failed: 1,
            errors: 1,
            ..Summary::default()
        }
    );
    let messages = w.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].prediction.id, second_id);
    assert_eq!(
        w.fx.jobs()
            .get(&third.job_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        JobStatus::Failed
    );

    // Throttled on the first poll: the run stops, nothing is failed.
    let polls = w.fake.requests().len();
    w.fake.fail_next(429, Some(30), "Request was throttled.");
    let summary = checker.run(now, None).await.unwrap();
    assert_eq!(
        summary,
        Summary {
            stuck: 2,
            unchecked: 2,
            stopped_early: Some(Stop::Throttled),
            ..Summary::default()
        }
    );
    assert_eq!(w.fake.requests().len(), polls + 1);
    for j in [&first, &second] {
        assert_eq!(&w.fx.jobs().get(&j.job_id).await.unwrap().unwrap(), j);
    }
    assert_eq!(
        checker.metrics.counts().len(),
        1,
        "only the third job failed"
    );

    // No time left: nothing is looked at.
    let summary = checker.run(now, Some(Instant::now())).await.unwrap();
    assert_eq!(
        summary,
        Summary {
            stuck: 2,
            unchecked: 2,
            stopped_early: Some(Stop::Deadline),
            ..Summary::default()
        }
    );
    assert_eq!(w.fake.requests().len(), polls + 1);
    assert!(w.messages().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_cannot_be_read_fails_the_run() {
    let mut w = World::new().await;
    w.fx.db.port = lambda_shared::testing::free_port();
    let e = w
        .checker()
        .run(media_core::now_epoch(), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PostgreSQL"), "{e}");
}

fn binary_env(w: &World, token_secret: &str) -> Vec<(String, String)> {
    let mut env = w.fx.env();
    for (k, v) in [
        ("REPLICATE_TOKEN_SECRET_ARN", token_secret),
        ("REPLICATE_BASE_URL", w.fake.base_url.as_str()),
        ("QUEUE_URL", w.queue_url.as_str()),
        ("STUCK_AFTER_SECS", "600"),
        ("MAX_JOB_AGE_SECS", "7200"),
    ] {
        env.push((k.into(), v.into()));
    }
    env
}

#[test]
fn the_built_binary_runs_on_the_schedule_through_the_runtime_api() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(World::new());
    let now = media_core::now_epoch();
    let secret = unique("replicate-token");
    let done_id = w.prediction();
    w.fake
        .complete(&done_id, &[("mp4", b"v".to_vec())])
        .unwrap();
    let running_id = w.prediction();
    let (never, running) = rt.block_on(async {
        aws_sdk_secretsmanager::Client::new(&w.fx.sdk)
            .create_secret()
            .name(&secret)
            .secret_string(TOKEN)
            .send()
            .await
            .unwrap();
        w.job(now - 700, now - 700, JobStatus::Pending, Some(&done_id))
            .await;
        let never = w.job(now - 800, now - 800, JobStatus::Pending, None).await;
        // An hour and a half old: under MAX_JOB_AGE_SECS (two hours).
        let running = w
            .job(now - 5400, now - 900, JobStatus::Pending, Some(&running_id))
            .await;
        (never, running)
    });
    let scheduled = json!({
        "version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T00:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/check-stuck-jobs"], "detail": {}
    });
    let out = invoke_binary(
        env!("CARGO_BIN_EXE_check-stuck-jobs"),
        vec![scheduled],
        &binary_env(&w, &secret),
    );
    let Outcome::Response(summary) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        summary,
        &json!({"stuck": 3, "queued": 1, "failed": 1, "canceled": 0, "left": 1,
                "errors": 0, "unchecked": 0})
    );
    rt.block_on(async {
        let messages = w.messages().await;
        assert_eq!(messages.len(), 1);
        assert_eq!(
            (messages[0].prediction.id.as_str(), messages[0].source),
            (done_id.as_str(), Source::Poll)
        );
        let stored = w.fx.jobs().get(&never.job_id).await.unwrap().unwrap();
        assert_eq!(stored.status, JobStatus::Failed);
        assert_eq!(
            stored.error.as_deref(),
            Some("the prediction was never created")
        );
        assert_eq!(
            &w.fx.jobs().get(&running.job_id).await.unwrap().unwrap(),
            &running
        );
    });
}

#[test]
fn the_binary_refuses_to_start_without_its_configuration() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = rt.block_on(World::new());
    let full = binary_env(&w, "unused");
    for missing in [
        "QUEUE_URL",
        "METRICS_NAMESPACE",
        "REALTIME_TABLE",
        "DB_NAME",
    ] {
        let env: Vec<_> = full.iter().filter(|(k, _)| k != missing).cloned().collect();
        let err = start_failure(env!("CARGO_BIN_EXE_check-stuck-jobs"), &env);
        assert!(err.contains(missing), "{missing}: {err}");
    }
    let mut bad = full.clone();
    bad.push(("STUCK_AFTER_SECS".into(), "soon".into()));
    let err = start_failure(env!("CARGO_BIN_EXE_check-stuck-jobs"), &bad);
    assert!(err.contains("STUCK_AFTER_SECS"), "{err}");
}
