//! The stores against real servers: PostgreSQL and Redis from Debian's
//! packages, DynamoDB and Secrets Manager in moto.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use lambda_shared::testing::{unique, Moto};
use media_core::job::{Job, JobStatus};
use media_core::MediaType;
use media_stores::cache::{Cache, RateDecision};
use media_stores::postgres::{Jobs, NewJob, StoredOutput};
use media_stores::realtime::{Realtime, BY_PREDICTION, BY_USER};
use media_testing::Servers;
use serde_json::json;

fn job(now: i64) -> Job {
    Job::new(
        uuid::Uuid::new_v4().to_string(),
        "user-1",
        MediaType::Image,
        "flux-schnell",
        now,
    )
}

async fn jobs() -> Jobs {
    let servers = Servers::shared();
    let sdk = Moto::shared().sdk_config().await;
    let db = servers.database().await;
    Jobs::new(servers.db_config(&sdk, &db).await, &sdk)
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_are_recorded_moved_on_and_finished_once() {
    let jobs = jobs().await;
    let now = 1_780_000_000;
    let mut j = job(now);
    let input = json!({"prompt": "a lighthouse"});
    jobs.insert(&NewJob {
        job: &j,
        model_version: "black-forest-labs/flux-schnell",
        input: &input,
    })
    .await
    .unwrap();
    assert_eq!(jobs.get(&j.job_id).await.unwrap().unwrap(), j);
    assert_eq!(
        jobs.request(&j.job_id).await.unwrap().unwrap(),
        ("black-forest-labs/flux-schnell".to_string(), input)
    );
    // The prediction's id, then processing.
    j.prediction_id = Some("p-1".into());
    j.transition(JobStatus::Processing, now + 5).unwrap();
    assert!(jobs.update(&j).await.unwrap());
    assert_eq!(jobs.by_prediction("p-1").await.unwrap().unwrap(), j);
    // Stuck: not moved since before now + 10.
    let stuck = jobs.stuck(now + 10, 10).await.unwrap();
    assert_eq!(stuck, vec![j.clone()]);
    assert!(jobs.stuck(now + 5, 10).await.unwrap().is_empty());
    // Finished with its outputs, in order.
    let outputs = vec![
        StoredOutput {
            key: "images/user-1/2026/05/28/x/original.png".into(),
            content_type: "image/png".into(),
            size: 3,
            sha256: "a".repeat(64),
        },
        StoredOutput {
            key: "images/user-1/2026/05/28/x/original-1.png".into(),
            content_type: "image/png".into(),
            size: 4,
            sha256: "b".repeat(64),
        },
    ];
    j.succeed(outputs.iter().map(|o| o.key.clone()).collect(), now + 20)
        .unwrap();
    assert!(jobs.finish(&j, &outputs).await.unwrap());
    assert_eq!(jobs.get(&j.job_id).await.unwrap().unwrap(), j);
    // A finished job is not written again.
    let mut late = j.clone();
    late.status = JobStatus::Failed;
    late.error = Some("late".into());
    assert!(!jobs.update(&late).await.unwrap());
    assert!(!jobs.finish(&j, &outputs[..1]).await.unwrap());
    assert_eq!(jobs.get(&j.job_id).await.unwrap().unwrap(), j);
    assert!(jobs.stuck(now + 1000, 10).await.unwrap().is_empty());
    // Unknown and malformed ids are simply absent.
    assert!(jobs.get("not-a-uuid").await.unwrap().is_none());
    assert!(jobs.by_prediction("p-none").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schema_refuses_what_the_design_does_not_allow() {
    let servers = Servers::shared();
    let db = servers.database().await;
    let c = servers.connect(&db).await;
    let bad_status = c
        .execute(
            "INSERT INTO jobs (job_id, user_id, media_type, model, model_version, input, status) \
             VALUES (gen_random_uuid(), 'u', 'image', 'm', 'v', '{}', 'lost')",
            &[],
        )
        .await
        .unwrap_err();
    let message = |e: &tokio_postgres::Error| e.as_db_error().unwrap().message().to_string();
    assert!(
        message(&bad_status).contains("check constraint"),
        "{bad_status:?}"
    );
    let orphan = c
        .execute(
            "INSERT INTO media_outputs (job_id, position, s3_key, content_type, size_bytes, sha256) \
             VALUES (gen_random_uuid(), 0, 'k', 'image/png', 1, repeat('a', 64))",
            &[],
        )
        .await
        .unwrap_err();
    assert!(message(&orphan).contains("foreign key"), "{orphan:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_limits_rates_takes_each_webhook_once_and_caches_status() {
    let sdk = Moto::shared().sdk_config().await;
    let cache = Cache::new(Servers::shared().cache_config(), &sdk);
    let user = unique("u");
    // Three per 60 s window; the window of t = 1_780_000_010 ends at
    // 1_780_000_020 (a multiple of 60).
    let t = 1_780_000_010;
    for left in [2, 1, 0] {
        assert_eq!(
            cache.rate_limit(&user, 3, 60, t).await.unwrap(),
            RateDecision::Allowed { remaining: left }
        );
    }
    assert_eq!(
        cache.rate_limit(&user, 3, 60, t).await.unwrap(),
        RateDecision::Limited { retry_after: 10 }
    );
    // The next window starts afresh; other users are not counted.
    assert_eq!(
        cache.rate_limit(&user, 3, 60, t + 10).await.unwrap(),
        RateDecision::Allowed { remaining: 2 }
    );
    assert_eq!(
        cache.rate_limit(&unique("u"), 3, 60, t).await.unwrap(),
        RateDecision::Allowed { remaining: 2 }
    );

    let p = unique("pred");
    assert!(cache.claim_webhook(&p, t).await.unwrap());
    assert!(!cache.claim_webhook(&p, t).await.unwrap());
    cache.release_webhook(&p).await.unwrap();
    assert!(cache.claim_webhook(&p, t).await.unwrap());

    let j = job(t);
    assert!(cache.status(&j.job_id).await.unwrap().is_none());
    cache.put_status(&j).await.unwrap();
    assert_eq!(cache.status(&j.job_id).await.unwrap().unwrap(), j);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_with_a_token_reads_it_from_its_secret() {
    let sdk = Moto::shared().sdk_config().await;
    let mut config = Servers::shared().cache_config();
    // A token the server does not know: the connection is refused, which
    // shows the token was read and sent.
    let secret = unique("token");
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret)
        .secret_string("not-the-token")
        .send()
        .await
        .unwrap();
    config.auth_secret = Some(secret);
    let e = Cache::new(config.clone(), &sdk)
        .status("x")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("Redis"), "{e}");
    config.auth_secret = Some(unique("missing"));
    let e = Cache::new(config, &sdk)
        .status("x")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("secret "), "{e}");
}

async fn realtime_table(sdk: &aws_config::SdkConfig) -> String {
    let name = unique("realtime-jobs");
    let s = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
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
        .attribute_definitions(s("jobId"))
        .attribute_definitions(s("userId"))
        .attribute_definitions(s("predictionId"))
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("timestamp")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .key_schema(key("jobId", KeyType::Hash))
        .key_schema(key("timestamp", KeyType::Range))
        .global_secondary_indexes(index(BY_USER, "userId"))
        .global_secondary_indexes(index(BY_PREDICTION, "predictionId"))
        .send()
        .await
        .unwrap();
    name
}

#[tokio::test(flavor = "multi_thread")]
async fn realtime_items_are_found_by_job_and_by_prediction() {
    let sdk = Moto::shared().sdk_config().await;
    let table = realtime_table(&sdk).await;
    let rt = Realtime::new(&sdk, &table);
    let now = 1_780_000_000;
    let mut j = job(now);
    rt.put(&j).await.unwrap();
    assert_eq!(rt.get(&j.job_id).await.unwrap().unwrap(), j);
    assert!(rt.by_prediction("p-rt").await.unwrap().is_none());
    j.prediction_id = Some("p-rt".into());
    j.transition(JobStatus::Processing, now + 3).unwrap();
    rt.put(&j).await.unwrap();
    assert_eq!(rt.by_prediction("p-rt").await.unwrap().unwrap(), j);
    assert_eq!(rt.get(&j.job_id).await.unwrap().unwrap(), j);
    // The item expires seven days after its last write.
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&table)
        .key(
            "jobId",
            aws_sdk_dynamodb::types::AttributeValue::S(j.job_id.clone()),
        )
        .key(
            "timestamp",
            aws_sdk_dynamodb::types::AttributeValue::N(now.to_string()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["ttl"],
        aws_sdk_dynamodb::types::AttributeValue::N((now + 3 + 7 * 24 * 3600).to_string())
    );
    assert!(rt.get("nobody").await.unwrap().is_none());
}
