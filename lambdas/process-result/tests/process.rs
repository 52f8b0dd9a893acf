//! process-result against real parts: PostgreSQL and Redis (real servers),
//! S3, DynamoDB and Secrets Manager in moto, and the fake Replicate API
//! serving the output files. The built binary runs through the Lambda
//! Runtime API.

use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use lambda_shared::testing::{free_port, invoke_binary, start_failure, unique, Moto, Outcome};
use media_core::job::{Job, JobStatus};
use media_core::queue::{ResultMessage, Source};
use media_core::replicate::{Client, Prediction, ReplicateConfig, WebhookEvent};
use media_core::testing::FakeReplicate;
use media_core::webhook::WebhookSecret;
use media_core::MediaType;
use media_stores::cache::{Cache, CacheConfig};
use media_stores::postgres::{DbConfig, Jobs, NewJob};
use media_stores::realtime::{Realtime, BY_PREDICTION, BY_USER};
use media_testing::Servers;
use process_result::{Metadata, OutputMetadata, Processor, SHA256_METADATA};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::time::Duration;

const TOKEN: &str = "r8_process_result_token";
/// 2026-03-07T23:59:59Z: the keys are dated 2026/03/07 although the
/// outputs are stored the next day.
const CREATED: i64 = 1_772_927_999;
const NOW: i64 = CREATED + 120;

/// One fake per test process, so prediction ids are unique.
fn fake() -> &'static FakeReplicate {
    static FAKE: OnceLock<FakeReplicate> = OnceLock::new();
    FAKE.get_or_init(|| {
        FakeReplicate::start(TOKEN, WebhookSecret::from_key(b"k".to_vec())).unwrap()
    })
}

fn client() -> Client {
    Client::new(&ReplicateConfig {
        base_url: fake().base_url.clone(),
        token: TOKEN.into(),
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn down_cache() -> CacheConfig {
    CacheConfig {
        host: "127.0.0.1".into(),
        port: free_port(),
        tls: false,
        auth_secret: None,
    }
}

async fn realtime_table(sdk: &aws_config::SdkConfig) -> String {
    let name = unique("realtime-jobs");
    let attr = |n: &str, t: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(t)
            .build()
            .unwrap()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let index = |name: &str, pk: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(pk, KeyType::Hash))
            .key_schema(key("timestamp", KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .unwrap()
    };
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("jobId", ScalarAttributeType::S))
        .attribute_definitions(attr("userId", ScalarAttributeType::S))
        .attribute_definitions(attr("predictionId", ScalarAttributeType::S))
        .attribute_definitions(attr("timestamp", ScalarAttributeType::N))
        .key_schema(key("jobId", KeyType::Hash))
        .key_schema(key("timestamp", KeyType::Range))
        .global_secondary_indexes(index(BY_USER, "userId"))
        .global_secondary_indexes(index(BY_PREDICTION, "predictionId"))
        .send()
        .await
        .unwrap();
    name
}

/// A stored object, as S3 gives it back.
#[derive(Debug)]
struct Object {
    bytes: Vec<u8>,
    content_type: Option<String>,
    encryption: Option<String>,
    sha256: Option<String>,
}

/// A row of `media_outputs`.
#[derive(Debug, PartialEq)]
struct OutputRow {
    position: i32,
    key: String,
    content_type: String,
    size: i64,
    sha256: String,
}

struct Fixture {
    sdk: aws_config::SdkConfig,
    database: String,
    db: DbConfig,
    table: String,
    bucket: String,
    s3: aws_sdk_s3::Client,
    jobs: Jobs,
    realtime: Realtime,
    cache: Cache,
}

impl Fixture {
    async fn new() -> Fixture {
        let servers = Servers::shared();
        let sdk = Moto::shared().sdk_config().await;
        let database = servers.database().await;
        let db = servers.db_config(&sdk, &database).await;
        let table = realtime_table(&sdk).await;
        let s3 = lambda_shared::config::s3_client(&sdk);
        let bucket = unique("media");
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        Fixture {
            jobs: Jobs::new(db.clone(), &sdk),
            realtime: Realtime::new(&sdk, &table),
            cache: Cache::new(servers.cache_config(), &sdk),
            sdk,
            database,
            db,
            table,
            bucket,
            s3,
        }
    }

    fn processor_with(&self, cache: CacheConfig, bucket: &str, max_output_bytes: u64) -> Processor {
        Processor {
            replicate: client(),
            jobs: Jobs::new(self.db.clone(), &self.sdk),
            cache: Cache::new(cache, &self.sdk),
            realtime: Realtime::new(&self.sdk, &self.table),
            s3: lambda_shared::config::s3_client(&self.sdk),
            bucket: bucket.into(),
            max_output_bytes,
        }
    }

    fn processor(&self) -> Processor {
        self.processor_with(Servers::shared().cache_config(), &self.bucket, 1 << 20)
    }

    /// A pending job whose prediction was just created on the fake, as
    /// generate-media records it: in PostgreSQL, and in the realtime table
    /// when `realtime`.
    async fn job(&self, media_type: MediaType, model: &str, realtime: bool) -> Job {
        let p = client()
            .create_prediction("version-abc", &Map::new(), None, &[WebhookEvent::Completed])
            .unwrap();
        let mut job = Job::new(
            uuid::Uuid::new_v4().to_string(),
            "user-1",
            media_type,
            model,
            CREATED,
        );
        job.apply_prediction(&p, CREATED + 1).unwrap();
        self.jobs
            .insert(&NewJob {
                job: &job,
                model_version: "version-abc",
                input: &json!({"prompt": "a lighthouse"}),
            })
            .await
            .unwrap();
        if realtime {
            self.realtime.put(&job).await.unwrap();
        }
        job
    }

    async fn object(&self, key: &str) -> Object {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        Object {
            content_type: out.content_type().map(str::to_string),
            encryption: out.server_side_encryption().map(|e| e.as_str().to_string()),
            sha256: out.metadata().and_then(|m| m.get(SHA256_METADATA)).cloned(),
            bytes: out.body.collect().await.unwrap().into_bytes().to_vec(),
        }
    }

    /// Every key under `prefix`.
    async fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        keys.sort();
        keys
    }

    async fn output_rows(&self, job_id: &str) -> Vec<OutputRow> {
        let c = Servers::shared().connect(&self.database).await;
        c.query(
            "SELECT position, s3_key, content_type, size_bytes, sha256 FROM media_outputs \
             WHERE job_id::text = $1 ORDER BY position",
            &[&job_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| OutputRow {
            position: r.get(0),
            key: r.get(1),
            content_type: r.get(2),
            size: r.get(3),
            sha256: r.get(4),
        })
        .collect()
    }

    /// Whether PostgreSQL recorded a completion time.
    async fn completed(&self, job_id: &str) -> bool {
        let c = Servers::shared().connect(&self.database).await;
        c.query_one(
            "SELECT completed_at IS NOT NULL FROM jobs WHERE job_id::text = $1",
            &[&job_id],
        )
        .await
        .unwrap()
        .get(0)
    }

    /// The job as each store holds it: PostgreSQL, realtime, Redis.
    async fn everywhere(&self, job_id: &str) -> (Option<Job>, Option<Job>, Option<Job>) {
        (
            self.jobs.get(job_id).await.unwrap(),
            self.realtime.get(job_id).await.unwrap(),
            self.cache.status(job_id).await.unwrap(),
        )
    }
}

fn prefix(job: &Job) -> String {
    format!(
        "{}/user-1/2026/03/07/{}/",
        job.media_type.folder(),
        job.job_id
    )
}

fn prediction_of(body: &str) -> Prediction {
    serde_json::from_str(body).unwrap()
}

/// Finishes the job's prediction with `files` and returns it.
fn complete(job: &Job, files: &[(&str, Vec<u8>)]) -> Prediction {
    let id = job.prediction_id.as_deref().unwrap();
    prediction_of(&fake().complete(id, files).unwrap().body)
}

fn message(p: &Prediction) -> String {
    serde_json::to_string(&ResultMessage {
        prediction: p.clone(),
        source: Source::Webhook,
        received_at: NOW - 5,
    })
    .unwrap()
}

fn sqs_event_json(records: &[(&str, &str)]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1772928000000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:results",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn sqs_event(records: &[(&str, &str)]) -> SqsEvent {
    serde_json::from_value(sqs_event_json(records)).unwrap()
}

fn failures(r: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_are_stored_at_the_layout_keys_and_the_job_succeeds_everywhere() {
    let fx = Fixture::new().await;
    let processor = fx.processor();
    let job = fx.job(MediaType::Image, "flux-schnell", true).await;
    let png = b"\x89PNG\r\n\x1a\nfirst image".to_vec();
    let webp = b"RIFF....WEBPVP8 second".to_vec();
    let p = complete(&job, &[("png", png.clone()), ("webp", webp.clone())]);
    let body = message(&p);
    let batch = processor
        .handle(&sqs_event(&[("m-1", &body)]), NOW, None)
        .await;
    assert!(failures(&batch).is_empty(), "{batch:?}");

    let dir = prefix(&job);
    let (k0, k1, km) = (
        format!("{dir}original.png"),
        format!("{dir}original-1.webp"),
        format!("{dir}metadata.json"),
    );
    assert_eq!(fx.keys(&dir).await, [km.clone(), k1.clone(), k0.clone()]);
    for (key, bytes, content_type) in [(&k0, &png, "image/png"), (&k1, &webp, "image/webp")] {
        let o = fx.object(key).await;
        assert_eq!(&o.bytes, bytes, "{key}");
        assert_eq!(o.content_type.as_deref(), Some(content_type), "{key}");
        assert_eq!(o.encryption.as_deref(), Some("AES256"), "{key}");
        assert_eq!(o.sha256, Some(sha(bytes)), "{key}");
    }
    let meta = fx.object(&km).await;
    assert_eq!(meta.content_type.as_deref(), Some("application/json"));
    assert_eq!(meta.encryption.as_deref(), Some("AES256"));
    let metadata: Metadata = serde_json::from_slice(&meta.bytes).unwrap();
    let outputs = vec![
        OutputMetadata {
            key: k0.clone(),
            content_type: "image/png".into(),
            size: png.len() as u64,
            sha256: sha(&png),
        },
        OutputMetadata {
            key: k1.clone(),
            content_type: "image/webp".into(),
            size: webp.len() as u64,
            sha256: sha(&webp),
        },
    ];
    assert_eq!(
        metadata,
        Metadata {
            job_id: job.job_id.clone(),
            user_id: "user-1".into(),
            media_type: MediaType::Image,
            model: "flux-schnell".into(),
            model_version: Some("version-abc".into()),
            prediction_id: p.id.clone(),
            created_at: CREATED,
            completed_at: NOW,
            prediction_started_at: p.started_at.clone(),
            prediction_completed_at: p.completed_at.clone(),
            outputs: outputs.clone(),
            metrics: Some(json!({"predict_time": 1.5})),
        }
    );
    assert!(metadata.prediction_completed_at.is_some());

    let mut expected = job.clone();
    expected.status = JobStatus::Succeeded;
    expected.updated_at = NOW;
    expected.outputs = vec![k0.clone(), k1.clone()];
    let (pg, rt, cached) = fx.everywhere(&job.job_id).await;
    assert_eq!(pg.as_ref(), Some(&expected));
    assert_eq!(rt.as_ref(), Some(&expected));
    assert_eq!(cached.as_ref(), Some(&expected));
    assert!(fx.completed(&job.job_id).await);
    let rows = fx.output_rows(&job.job_id).await;
    assert_eq!(
        rows,
        outputs
            .iter()
            .enumerate()
            .map(|(n, o)| OutputRow {
                position: n as i32,
                key: o.key.clone(),
                content_type: o.content_type.clone(),
                size: o.size as i64,
                sha256: o.sha256.clone(),
            })
            .collect::<Vec<_>>()
    );

    // The same message again (at-least-once delivery), later: nothing
    // changes, not even metadata.json's completion time.
    assert_eq!(
        processor.process(&body, NOW + 500).await.unwrap(),
        process_result::Outcome::AlreadyFinished {
            job_id: job.job_id.clone()
        }
    );
    assert_eq!(fx.object(&km).await.bytes, meta.bytes);
    assert_eq!(fx.everywhere(&job.job_id).await, (pg, rt, cached));
    assert_eq!(fx.output_rows(&job.job_id).await, rows);
    assert_eq!(fx.keys(&dir).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_realtime_item_and_cache_are_repaired_from_postgresql() {
    let fx = Fixture::new().await;
    let processor = fx.processor();
    let job = fx.job(MediaType::Image, "flux-schnell", true).await;
    let p = complete(&job, &[("png", b"png bytes".to_vec())]);
    let body = message(&p);
    processor.process(&body, NOW).await.unwrap();
    let finished = fx.jobs.get(&job.job_id).await.unwrap().unwrap();
    assert_eq!(finished.status, JobStatus::Succeeded);
    let metadata_key = format!("{}metadata.json", prefix(&job));
    let metadata = fx.object(&metadata_key).await.bytes;
    // The realtime item and the cache lag behind (as when their writes
    // failed after PostgreSQL's): they still say pending.
    fx.realtime.put(&job).await.unwrap();
    fx.cache.put_status(&job).await.unwrap();
    assert_eq!(
        processor.process(&body, NOW + 500).await.unwrap(),
        process_result::Outcome::AlreadyFinished {
            job_id: job.job_id.clone()
        }
    );
    let (pg, rt, cached) = fx.everywhere(&job.job_id).await;
    assert_eq!(pg.as_ref(), Some(&finished));
    assert_eq!(rt.as_ref(), Some(&finished));
    assert_eq!(cached.as_ref(), Some(&finished));
    // Nothing was stored again.
    assert_eq!(fx.object(&metadata_key).await.bytes, metadata);
    // A failure message for it, late, changes nothing either.
    let mut late = p.clone();
    late.status = media_core::replicate::PredictionStatus::Failed;
    late.error = Some("late".into());
    fx.realtime.put(&job).await.unwrap();
    assert!(matches!(
        processor.process(&message(&late), NOW + 600).await.unwrap(),
        process_result::Outcome::AlreadyFinished { .. }
    ));
    assert_eq!(
        fx.jobs.get(&job.job_id).await.unwrap().as_ref(),
        Some(&finished)
    );
    assert_eq!(
        fx.realtime.get(&job.job_id).await.unwrap().as_ref(),
        Some(&finished)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_the_realtime_table_lacks_is_found_in_postgresql() {
    let fx = Fixture::new().await;
    let job = fx.job(MediaType::Video, "stability-video", false).await;
    assert!(fx.realtime.get(&job.job_id).await.unwrap().is_none());
    let mp4 = b"\x00\x00\x00\x18ftypmp42 frames".to_vec();
    let p = complete(&job, &[("mp4", mp4.clone())]);
    let outcome = fx.processor().process(&message(&p), NOW).await.unwrap();
    assert_eq!(
        outcome,
        process_result::Outcome::Stored {
            job_id: job.job_id.clone(),
            outputs: 1
        }
    );
    let key = format!("videos/user-1/2026/03/07/{}/original.mp4", job.job_id);
    let o = fx.object(&key).await;
    assert_eq!(o.bytes, mp4);
    assert_eq!(o.content_type.as_deref(), Some("video/mp4"));
    let (pg, rt, cached) = fx.everywhere(&job.job_id).await;
    let pg = pg.unwrap();
    assert_eq!(pg.status, JobStatus::Succeeded);
    assert_eq!(pg.outputs, [key]);
    // The realtime item now exists, found by its prediction too.
    assert_eq!(rt.as_ref(), Some(&pg));
    assert_eq!(cached.as_ref(), Some(&pg));
    assert_eq!(
        fx.realtime.by_prediction(&p.id).await.unwrap().as_ref(),
        Some(&pg)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_and_canceled_predictions_fail_the_job_everywhere() {
    let fx = Fixture::new().await;
    let processor = fx.processor();
    let failed = fx.job(MediaType::Audio, "musicgen", true).await;
    let canceled = fx.job(MediaType::Image, "flux-schnell", true).await;
    let p_failed = prediction_of(
        &fake()
            .fail(
                failed.prediction_id.as_deref().unwrap(),
                "CUDA out of memory",
            )
            .unwrap()
            .body,
    );
    let p_canceled = client()
        .cancel_prediction(canceled.prediction_id.as_deref().unwrap())
        .unwrap();
    let batch = processor
        .handle(
            &sqs_event(&[("f", &message(&p_failed)), ("c", &message(&p_canceled))]),
            NOW,
            None,
        )
        .await;
    assert!(failures(&batch).is_empty(), "{batch:?}");

    for (job, status, error) in [
        (&failed, JobStatus::Failed, "CUDA out of memory"),
        (
            &canceled,
            JobStatus::Canceled,
            "the prediction was canceled",
        ),
    ] {
        let mut expected = job.clone();
        expected.status = status;
        expected.updated_at = NOW;
        expected.error = Some(error.into());
        let (pg, rt, cached) = fx.everywhere(&job.job_id).await;
        assert_eq!(pg.as_ref(), Some(&expected));
        assert_eq!(rt.as_ref(), Some(&expected));
        assert_eq!(cached.as_ref(), Some(&expected));
        assert!(fx.completed(&job.job_id).await);
        assert!(fx.keys(&prefix(job)).await.is_empty());
        assert!(fx.output_rows(&job.job_id).await.is_empty());
    }
    // Again: nothing moves.
    assert_eq!(
        processor
            .process(&message(&p_failed), NOW + 60)
            .await
            .unwrap(),
        process_result::Outcome::AlreadyFinished {
            job_id: failed.job_id.clone()
        }
    );
    assert_eq!(
        fx.jobs
            .get(&failed.job_id)
            .await
            .unwrap()
            .unwrap()
            .updated_at,
        NOW
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_that_can_never_be_stored_fail_the_job_and_are_acknowledged() {
    let fx = Fixture::new().await;
    // At most 16 bytes per output.
    let processor = fx.processor_with(Servers::shared().cache_config(), &fx.bucket, 16);
    let text = fx.job(MediaType::Image, "flux-schnell", true).await;
    let big = fx.job(MediaType::Image, "flux-schnell", true).await;
    let empty = fx.job(MediaType::Audio, "musicgen", false).await;
    let p_text = prediction_of(
        &fake()
            .complete_with_output(
                text.prediction_id.as_deref().unwrap(),
                json!({"caption": "a lighthouse"}),
            )
            .unwrap()
            .body,
    );
    // The first output fits, the second does not: the first is removed.
    let p_big = complete(&big, &[("png", vec![7; 16]), ("png", vec![8; 17])]);
    let p_empty = prediction_of(
        &fake()
            .complete_with_output(empty.prediction_id.as_deref().unwrap(), Value::Null)
            .unwrap()
            .body,
    );
    let batch = processor
        .handle(
            &sqs_event(&[
                ("text", &message(&p_text)),
                ("big", &message(&p_big)),
                ("empty", &message(&p_empty)),
            ]),
            NOW,
            None,
        )
        .await;
    assert!(failures(&batch).is_empty(), "{batch:?}");
    for (job, error) in [
        (&text, "prediction output is not a URL or a list of URLs"),
        (&big, "output 1 is larger than 16 bytes"),
        (&empty, "the prediction succeeded without output"),
    ] {
        let (pg, rt, cached) = fx.everywhere(&job.job_id).await;
        let pg = pg.unwrap();
        assert_eq!(pg.status, JobStatus::Failed, "{error}");
        let message = pg.error.clone().unwrap();
        assert!(
            message.starts_with("the outputs could not be stored: ") && message.contains(error),
            "{message}"
        );
        assert_eq!(rt.as_ref(), Some(&pg));
        assert_eq!(cached.as_ref(), Some(&pg));
        assert!(fx.keys(&prefix(job)).await.is_empty(), "{error}");
        assert!(fx.output_rows(&job.job_id).await.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_broken_message_of_a_batch_is_retried() {
    let fx = Fixture::new().await;
    let processor = fx.processor();
    let good = fx.job(MediaType::Image, "flux-schnell", true).await;
    let broken = fx.job(MediaType::Image, "flux-schnell", true).await;
    let p_good = complete(&good, &[("png", b"good".to_vec())]);
    let mut p_broken = complete(&broken, &[("png", b"served".to_vec())]);
    // Its output URL answers 404.
    p_broken.output = json!(format!("{}/files/{}/9.png", fake().base_url, p_broken.id));
    let mut unknown = p_good.clone();
    unknown.id = unique("nobody");
    let batch = processor
        .handle(
            &sqs_event(&[
                ("good", &message(&p_good)),
                ("broken", &message(&p_broken)),
                ("garbage", "{\"prediction\": 42}"),
                ("unknown", &message(&unknown)),
            ]),
            NOW,
            None,
        )
        .await;
    assert_eq!(failures(&batch), ["broken"]);
    assert_eq!(
        fx.jobs.get(&good.job_id).await.unwrap().unwrap().status,
        JobStatus::Succeeded
    );
    // The broken job is untouched, ready for the retry.
    assert_eq!(fx.jobs.get(&broken.job_id).await.unwrap().unwrap(), broken);
    assert_eq!(
        fx.realtime.get(&broken.job_id).await.unwrap().unwrap(),
        broken
    );
    assert!(fx.keys(&prefix(&broken)).await.is_empty());
    assert_eq!(
        processor
            .process("{\"prediction\": 42}", NOW)
            .await
            .unwrap(),
        process_result::Outcome::Unreadable
    );
    assert_eq!(
        processor.process(&message(&unknown), NOW).await.unwrap(),
        process_result::Outcome::UnknownPrediction {
            prediction_id: unknown.id.clone()
        }
    );

    // S3 failing (here: no such bucket) is retried too; the job waits.
    let third = fx.job(MediaType::Audio, "musicgen", true).await;
    let p_third = complete(&third, &[("mp3", b"ID3 audio".to_vec())]);
    let no_bucket = fx.processor_with(
        Servers::shared().cache_config(),
        &unique("missing-bucket"),
        1 << 20,
    );
    let batch = no_bucket
        .handle(&sqs_event(&[("third", &message(&p_third))]), NOW, None)
        .await;
    assert_eq!(failures(&batch), ["third"]);
    assert_eq!(fx.jobs.get(&third.job_id).await.unwrap().unwrap(), third);
    // The retry, with the bucket there, stores it.
    assert_eq!(
        processor
            .process(&message(&p_third), NOW + 30)
            .await
            .unwrap(),
        process_result::Outcome::Stored {
            job_id: third.job_id.clone(),
            outputs: 1
        }
    );
    assert_eq!(
        fx.object(&format!("{}original.mp3", prefix(&third)))
            .await
            .bytes,
        b"ID3 audio"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_after_the_first_are_not_started_close_to_the_deadline() {
    let fx = Fixture::new().await;
    let processor = fx.processor();
    let first = fx.job(MediaType::Image, "flux-schnell", true).await;
    let second = fx.job(MediaType::Image, "flux-schnell", true).await;
    let p_first = complete(&first, &[("png", b"first".to_vec())]);
    let p_second = complete(&second, &[("png", b"second".to_vec())]);
    let event = sqs_event(&[
        ("a", &message(&p_first)),
        ("b", &message(&p_second)),
        ("c", "not even json"),
    ]);
    // Less than START_MARGIN left: the first message is handled (every
    // invocation makes progress), the others go back to SQS untouched.
    let soon = std::time::SystemTime::now() + process_result::START_MARGIN / 2;
    let batch = processor.handle(&event, NOW, Some(soon)).await;
    assert_eq!(failures(&batch), ["b", "c"]);
    assert_eq!(
        fx.jobs.get(&first.job_id).await.unwrap().unwrap().status,
        JobStatus::Succeeded
    );
    assert_eq!(fx.jobs.get(&second.job_id).await.unwrap().unwrap(), second);
    assert!(fx.keys(&prefix(&second)).await.is_empty());
    // With time enough, all are handled (the first again, idempotently).
    let later = std::time::SystemTime::now() + process_result::START_MARGIN * 3;
    let batch = processor.handle(&event, NOW, Some(later)).await;
    assert!(failures(&batch).is_empty(), "{batch:?}");
    assert_eq!(
        fx.jobs.get(&second.job_id).await.unwrap().unwrap().status,
        JobStatus::Succeeded
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_does_not_lose_the_result() {
    let fx = Fixture::new().await;
    let processor = fx.processor_with(down_cache(), &fx.bucket, 1 << 20);
    let job = fx.job(MediaType::Image, "flux-schnell", true).await;
    let p = complete(&job, &[("jpg", b"\xff\xd8\xff jpeg".to_vec())]);
    let batch = processor
        .handle(&sqs_event(&[("m", &message(&p))]), NOW, None)
        .await;
    assert!(failures(&batch).is_empty(), "{batch:?}");
    let (pg, rt, cached) = fx.everywhere(&job.job_id).await;
    let pg = pg.unwrap();
    assert_eq!(pg.status, JobStatus::Succeeded);
    assert_eq!(pg.outputs, [format!("{}original.jpg", prefix(&job))]);
    assert_eq!(rt.as_ref(), Some(&pg));
    // Only the cache missed it.
    assert_eq!(cached, None);
    let o = fx.object(&pg.outputs[0]).await;
    assert_eq!(o.content_type.as_deref(), Some("image/jpeg"));
}

/// The function's environment for the fixture.
async fn binary_env(fx: &Fixture) -> Vec<(String, String)> {
    let token_secret = unique("replicate-token");
    aws_sdk_secretsmanager::Client::new(&fx.sdk)
        .create_secret()
        .name(&token_secret)
        .secret_string(TOKEN)
        .send()
        .await
        .unwrap();
    let mut env = media_testing::env(&fx.db, &Servers::shared().cache_config());
    env.extend(Moto::shared().env());
    for (k, v) in [
        ("REPLICATE_TOKEN_SECRET_ARN", token_secret.as_str()),
        ("REPLICATE_BASE_URL", fake().base_url.as_str()),
        ("REALTIME_TABLE", fx.table.as_str()),
        ("MEDIA_BUCKET", fx.bucket.as_str()),
        ("MAX_OUTPUT_BYTES", "1048576"),
        ("METRICS_NAMESPACE", "Media/Test"),
    ] {
        env.push((k.into(), v.into()));
    }
    env
}

#[test]
fn the_built_binary_stores_results_and_reports_the_broken_message() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let env = rt.block_on(binary_env(&fx));
    let good = rt.block_on(fx.job(MediaType::Video, "stability-video", true));
    let broken = rt.block_on(fx.job(MediaType::Video, "stability-video", true));
    let p_good = complete(&good, &[("mp4", b"moov frames".to_vec())]);
    let mut p_broken = complete(&broken, &[("mp4", b"x".to_vec())]);
    p_broken.output = json!([format!("{}/files/{}/5.mp4", fake().base_url, p_broken.id)]);
    let batch = sqs_event_json(&[("good", &message(&p_good)), ("broken", &message(&p_broken))]);
    let again = sqs_event_json(&[("good-again", &message(&p_good))]);
    let out = invoke_binary(
        env!("CARGO_BIN_EXE_process-result"),
        vec![batch, again],
        &env,
    );
    assert_eq!(
        out,
        [
            Outcome::Response(json!({"batchItemFailures": [{"itemIdentifier": "broken"}]})),
            Outcome::Response(json!({"batchItemFailures": []})),
        ]
    );
    let stored = rt.block_on(fx.jobs.get(&good.job_id)).unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Succeeded);
    assert!(stored.updated_at > CREATED);
    let key = format!("{}original.mp4", prefix(&good));
    assert_eq!(stored.outputs, std::slice::from_ref(&key));
    assert_eq!(rt.block_on(fx.object(&key)).bytes, b"moov frames");
    assert_eq!(
        rt.block_on(fx.jobs.get(&broken.job_id)).unwrap().unwrap(),
        broken
    );
}

#[test]
fn the_binary_refuses_to_start_without_its_configuration() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let env = rt.block_on(binary_env(&fx));
    let without = |name: &str| -> Vec<(String, String)> {
        env.iter().filter(|(k, _)| k != name).cloned().collect()
    };
    let bin = env!("CARGO_BIN_EXE_process-result");
    for name in [
        "MEDIA_BUCKET",
        "REALTIME_TABLE",
        "DB_SECRET_ARN",
        "CACHE_HOST",
        "REPLICATE_TOKEN_SECRET_ARN",
    ] {
        let err = start_failure(bin, &without(name));
        assert!(err.contains(name), "{name}: {err}");
    }
    let mut bad = without("MAX_OUTPUT_BYTES");
    bad.push(("MAX_OUTPUT_BYTES".into(), "1GiB".into()));
    let err = start_failure(bin, &bad);
    assert!(err.contains("MAX_OUTPUT_BYTES"), "{err}");
}
