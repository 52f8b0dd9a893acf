//! start-chunking in-process against moto and the local MediaConvert.

use clips_core::episode::{Episode, Store};
use clips_testing::{Fixture, Servers};
use lambda_shared::testing::{invoke_binary_timed, Outcome as Invoked};
use serde_json::{json, Value};
use start_chunking::{Config, Outcome, Starter};

const ROLE: &str = "arn:aws:iam::123456789012:role/clips-local-mediaconvert";

fn config(fx: &Fixture) -> Config {
    Config {
        table: fx.table.clone(),
        bucket: fx.bucket.clone(),
        role_arn: ROLE.into(),
        chunk_seconds: 30,
        stack: "clips-local".into(),
    }
}

/// An uploaded episode.
async fn uploaded(fx: &Fixture, id: &str) -> Store {
    let store = Store::new(aws_sdk_dynamodb::Client::new(&fx.sdk), &fx.table);
    assert!(store
        .create(&Episode::new(id.into(), "Ep".into(), None, 1))
        .await
        .unwrap());
    store
        .record_upload(id, &format!("uploads/{id}/video"), 42, "\"etag-1\"", 2)
        .await
        .unwrap();
    store
}

fn event(fx: &Fixture, id: &str) -> Value {
    json!({
        "version": "0", "id": "e1", "detail-type": "Video Upload Completed",
        "source": "clips.episodes", "account": "123456789012", "time": "2026-12-01T12:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {"episode_id": id, "bucket": fx.bucket, "key": format!("uploads/{id}/video"), "size": 42}
    })
}

#[tokio::test]
async fn one_job_per_episode_with_the_documented_settings() {
    let servers = Servers::shared();
    let fx = Fixture::new().await;
    let id = "21111111-2222-4333-8444-555555555555";
    uploaded(&fx, id).await;
    let starter = Starter::new(&servers.sdk_config().await, config(&fx));
    let ev = serde_json::from_value(event(&fx, id)).unwrap();

    let Outcome::Started { job_id, .. } = starter.handle(&ev).await.unwrap() else {
        panic!("not started")
    };
    let jobs = servers.mediaconvert.jobs_of(id);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job["id"], job_id.as_str());
    assert_eq!(job["role"], ROLE);
    assert_eq!(
        job["userMetadata"],
        json!({"episode_id": id, "stack": "clips-local"})
    );
    assert_eq!(
        job["settings"]["inputs"][0]["fileInput"],
        format!("s3://{}/uploads/{id}/video", fx.bucket)
    );
    let group = &job["settings"]["outputGroups"][0]["outputGroupSettings"];
    assert_eq!(group["type"], "HLS_GROUP_SETTINGS");
    let hls = &group["hlsGroupSettings"];
    assert_eq!(
        hls["destination"],
        format!("s3://{}/chunks/{id}/", fx.bucket)
    );
    assert_eq!(hls["segmentLength"], 30);
    assert_eq!(hls["segmentControl"], "SEGMENTED_FILES");
    assert_eq!(hls["segmentLengthControl"], "EXACT");
    let output = &job["settings"]["outputGroups"][0]["outputs"][0];
    assert_eq!(output["containerSettings"]["container"], "M3U8");
    assert_eq!(
        output["videoDescription"]["codecSettings"]["codec"],
        "H_264"
    );

    let item = fx.item(&format!("EPISODE#{id}"), "EPISODE").await.unwrap();
    assert_eq!(item["status"], "chunking");
    assert_eq!(item["job_id"], job_id);

    // A retried (or duplicated) event starts nothing.
    let again = starter.handle(&ev).await.unwrap();
    assert!(
        matches!(again, Outcome::Dropped { ref reason } if reason.contains("chunking")),
        "{again:?}"
    );
    assert_eq!(servers.mediaconvert.jobs_of(id).len(), 1);
}

#[tokio::test]
async fn an_attempt_that_died_before_recording_its_job_gets_the_same_job_back() {
    let servers = Servers::shared();
    let fx = Fixture::new().await;
    let id = "31111111-2222-4333-8444-555555555555";
    let store = uploaded(&fx, id).await;
    let starter = Starter::new(&servers.sdk_config().await, config(&fx));
    let ev = serde_json::from_value(event(&fx, id)).unwrap();
    let Outcome::Started { job_id, .. } = starter.handle(&ev).await.unwrap() else {
        panic!()
    };
    // As if the job id had never been written: chunking, no job.
    fx.ddb
        .update_item()
        .table_name(&fx.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("EPISODE#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("EPISODE".into()),
        )
        .update_expression("REMOVE job_id")
        .send()
        .await
        .unwrap();
    let Outcome::Started { job_id: again, .. } = starter.handle(&ev).await.unwrap() else {
        panic!()
    };
    assert_eq!(again, job_id);
    assert_eq!(servers.mediaconvert.jobs_of(id).len(), 1);
    assert_eq!(
        store.get(id).await.unwrap().unwrap().job_id.as_deref(),
        Some(job_id.as_str())
    );
}

#[tokio::test]
async fn a_refused_job_gives_the_episode_back_and_fails_for_a_retry() {
    let servers = Servers::shared();
    let fx = Fixture::new().await;
    let id = "41111111-2222-4333-8444-555555555555";
    uploaded(&fx, id).await;
    let mut cfg = config(&fx);
    cfg.role_arn = "not-a-role".into();
    let starter = Starter::new(&servers.sdk_config().await, cfg);
    let ev = serde_json::from_value(event(&fx, id)).unwrap();
    let err = starter.handle(&ev).await.unwrap_err();
    assert!(err.0.contains("CreateJob"), "{err}");
    assert_eq!(
        fx.item(&format!("EPISODE#{id}"), "EPISODE").await.unwrap()["status"],
        "uploaded"
    );
    assert!(servers.mediaconvert.jobs_of(id).is_empty());

    // Unknown episodes and foreign keys are dropped.
    let other = "51111111-2222-4333-8444-555555555555";
    let ev = serde_json::from_value(event(&fx, other)).unwrap();
    assert!(matches!(
        Starter::new(&servers.sdk_config().await, config(&fx))
            .handle(&ev)
            .await
            .unwrap(),
        Outcome::Dropped { .. }
    ));
    let mut forged = event(&fx, id);
    forged["detail"]["key"] = json!(format!("uploads/{other}/video"));
    let ev = serde_json::from_value(forged).unwrap();
    assert!(matches!(
        Starter::new(&servers.sdk_config().await, config(&fx))
            .handle(&ev)
            .await
            .unwrap(),
        Outcome::Dropped { .. }
    ));
}

#[test]
fn the_built_binary_starts_a_job() {
    let servers = Servers::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let id = "61111111-2222-4333-8444-555555555555";
    rt.block_on(uploaded(&fx, id));
    let mut env = servers.env();
    env.extend([
        ("TABLE_NAME".to_string(), fx.table.clone()),
        ("BUCKET_NAME".to_string(), fx.bucket.clone()),
        ("MEDIACONVERT_ROLE_ARN".to_string(), ROLE.to_string()),
        ("CHUNK_SECONDS".to_string(), "120".to_string()),
        ("STACK_NAME".to_string(), "clips-local".to_string()),
    ]);
    let (outcomes, init) = invoke_binary_timed(
        env!("CARGO_BIN_EXE_start-chunking"),
        vec![event(&fx, id)],
        &env,
    );
    let Invoked::Response(out) = &outcomes[0] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(out["outcome"], "started", "{out}");
    assert_eq!(
        servers.mediaconvert.jobs_of(id)[0]["settings"]["outputGroups"][0]["outputGroupSettings"]
            ["hlsGroupSettings"]["segmentLength"],
        120
    );
    eprintln!("COLD START start-chunking: {:?}", init.expect("init time"));

    env.retain(|(k, _)| k != "CHUNK_SECONDS");
    env.push(("CHUNK_SECONDS".into(), "5".into()));
    let stderr = lambda_shared::testing::start_failure(env!("CARGO_BIN_EXE_start-chunking"), &env);
    assert!(stderr.contains("CHUNK_SECONDS"), "{stderr}");
}
