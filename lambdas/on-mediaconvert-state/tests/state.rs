//! on-mediaconvert-state in-process against moto, on the job start-chunking
//! really creates on the local MediaConvert and the events its completion
//! or failure sends.

use clips_core::episode::{Episode, Store};
use clips_testing::{FakeMediaConvert, Fixture, Servers};
use lambda_shared::testing::{invoke_binary_timed, Outcome as Invoked};
use on_mediaconvert_state::{Config, Outcome, Recorder};
use serde_json::{json, Value};

/// An episode whose chunking job start-chunking started; the job.
async fn chunking(fx: &Fixture, id: &str) -> Value {
    let servers = Servers::shared();
    let store = Store::new(aws_sdk_dynamodb::Client::new(&fx.sdk), &fx.table);
    assert!(store
        .create(&Episode::new(id.into(), "Ep".into(), None, 1))
        .await
        .unwrap());
    store
        .record_upload(id, &format!("uploads/{id}/video"), 42, "e", 2)
        .await
        .unwrap();
    let starter = start_chunking::Starter::new(
        &servers.sdk_config().await,
        start_chunking::Config {
            table: fx.table.clone(),
            bucket: fx.bucket.clone(),
            role_arn: "arn:aws:iam::123456789012:role/mc".into(),
            chunk_seconds: 120,
            stack: "clips-local".into(),
        },
    );
    let event = json!({
        "detail-type": "Video Upload Completed", "source": "clips.episodes",
        "detail": {"episode_id": id, "bucket": fx.bucket, "key": format!("uploads/{id}/video"), "size": 42}
    });
    starter
        .handle(&serde_json::from_value(event).unwrap())
        .await
        .unwrap();
    servers.mediaconvert.jobs_of(id).remove(0)
}

fn config(fx: &Fixture) -> Config {
    Config {
        table: fx.table.clone(),
        bucket: fx.bucket.clone(),
        chunk_seconds: 120,
    }
}

#[tokio::test]
async fn complete_records_the_chunks_and_the_episode_once() {
    let fx = Fixture::new().await;
    let id = "71111111-2222-4333-8444-555555555555";
    let job = chunking(&fx, id).await;
    let recorder = Recorder::new(&Servers::shared().sdk_config().await, config(&fx));
    let event = FakeMediaConvert::complete_event(&job, 250_500);
    let out = recorder
        .handle(&serde_json::from_value(event.clone()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        out,
        Outcome::Chunked {
            episode_id: id.into(),
            chunk_count: 3
        }
    );

    let item = fx.item(&format!("EPISODE#{id}"), "EPISODE").await.unwrap();
    assert_eq!(item["status"], "chunked");
    assert_eq!(item["chunk_count"], "3");
    assert_eq!(
        fx.partition(id).await,
        ["CHUNK#00001", "CHUNK#00002", "CHUNK#00003", "EPISODE"]
    );
    let last = fx
        .item(&format!("EPISODE#{id}"), "CHUNK#00003")
        .await
        .unwrap();
    assert_eq!(last["key"], format!("chunks/{id}/video-chunk_00003.ts"));
    assert_eq!(last["start_seconds"], "240");
    assert_eq!(last["end_seconds"], "250.5");
    let ttl: i64 = last["ttl"].parse().unwrap();
    let now = clips_core::now_ms() / 1000;
    assert!(
        (now + 6 * 86_400..=now + 8 * 86_400).contains(&ttl),
        "{ttl}"
    );

    // A retried event, and an ERROR after COMPLETE, change nothing.
    let again = recorder
        .handle(&serde_json::from_value(event).unwrap())
        .await
        .unwrap();
    assert!(matches!(again, Outcome::Dropped { .. }), "{again:?}");
    let late = FakeMediaConvert::error_event(&job, 1010, "late");
    assert!(matches!(
        recorder
            .handle(&serde_json::from_value(late).unwrap())
            .await
            .unwrap(),
        Outcome::Dropped { .. }
    ));
    assert_eq!(
        fx.item(&format!("EPISODE#{id}"), "EPISODE").await.unwrap()["status"],
        "chunked"
    );
}

#[tokio::test]
async fn error_fails_the_episode_with_the_reason() {
    let fx = Fixture::new().await;
    let id = "81111111-2222-4333-8444-555555555555";
    let job = chunking(&fx, id).await;
    let recorder = Recorder::new(&Servers::shared().sdk_config().await, config(&fx));
    let event = FakeMediaConvert::error_event(&job, 1030, "Unsupported codec");
    let out = recorder
        .handle(&serde_json::from_value(event).unwrap())
        .await
        .unwrap();
    assert_eq!(
        out,
        Outcome::Failed {
            episode_id: id.into()
        }
    );
    let item = fx.item(&format!("EPISODE#{id}"), "EPISODE").await.unwrap();
    assert_eq!(item["status"], "failed");
    assert_eq!(item["error_code"], "1030");
    assert_eq!(item["error_message"], "Unsupported codec");
    assert_eq!(fx.partition(id).await, ["EPISODE"]);
}

#[tokio::test]
async fn foreign_and_stale_jobs_change_nothing() {
    let fx = Fixture::new().await;
    let id = "91111111-2222-4333-8444-555555555555";
    let job = chunking(&fx, id).await;
    let recorder = Recorder::new(&Servers::shared().sdk_config().await, config(&fx));
    // Another job for the same episode (stale): dropped.
    let mut stale = job.clone();
    stale["id"] = json!("1111111111111-other");
    let out = recorder
        .handle(&serde_json::from_value(FakeMediaConvert::complete_event(&stale, 1000)).unwrap())
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Dropped { .. }), "{out:?}");
    // Output outside the episode's chunks prefix: an error, nothing written.
    let mut elsewhere = job.clone();
    elsewhere["settings"]["outputGroups"][0]["outputGroupSettings"]["hlsGroupSettings"]
        ["destination"] = json!(format!("s3://{}/uploads/", fx.bucket));
    let err = recorder
        .handle(
            &serde_json::from_value(FakeMediaConvert::complete_event(&elsewhere, 1000)).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(err.0.contains("outside"), "{err}");
    assert_eq!(
        fx.item(&format!("EPISODE#{id}"), "EPISODE").await.unwrap()["status"],
        "chunking"
    );
    assert_eq!(fx.partition(id).await, ["EPISODE"]);
}

#[test]
fn the_built_binary_records_a_completion() {
    let servers = Servers::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let id = "a1111111-2222-4333-8444-555555555555";
    let job = rt.block_on(chunking(&fx, id));
    let mut env = servers.env();
    env.extend([
        ("TABLE_NAME".to_string(), fx.table.clone()),
        ("BUCKET_NAME".to_string(), fx.bucket.clone()),
        ("CHUNK_SECONDS".to_string(), "120".to_string()),
    ]);
    let (outcomes, init) = invoke_binary_timed(
        env!("CARGO_BIN_EXE_on-mediaconvert-state"),
        vec![FakeMediaConvert::complete_event(&job, 60_000)],
        &env,
    );
    assert_eq!(
        outcomes[0],
        Invoked::Response(json!({"outcome": "chunked", "episode_id": id, "chunk_count": 1}))
    );
    eprintln!(
        "COLD START on-mediaconvert-state: {:?}",
        init.expect("init time")
    );
}
