//! on-object-created in-process against moto: the upload is recorded and
//! the event arrives on the bus (a rule with an SQS target reads it back).

use clips_core::episode::{Episode, Store};
use clips_testing::{object_created_event, Capture, Fixture, Servers};
use lambda_shared::testing::{invoke_binary_timed, unique, Outcome as Invoked};
use on_object_created::{Config, Outcome, Recorder};
use serde_json::json;

async fn episode(fx: &Fixture, id: &str) -> Store {
    let store = Store::new(aws_sdk_dynamodb::Client::new(&fx.sdk), &fx.table);
    let e = Episode::new(id.into(), "Ep".into(), None, clips_core::now_ms());
    assert!(store.create(&e).await.unwrap());
    store
}

const ID: &str = "11111111-2222-4333-8444-555555555555";
const OTHER: &str = "99999999-2222-4333-8444-555555555555";

#[tokio::test]
async fn an_upload_is_recorded_and_announced_once_per_state() {
    let fx = Fixture::new().await;
    let store = episode(&fx, ID).await;
    let source = unique("clips.episodes");
    let capture = Capture::new(&fx.sdk, &source).await;
    let recorder = Recorder::new(
        &Servers::shared().sdk_config().await,
        Config {
            table: fx.table.clone(),
            bus: "default".into(),
            source: source.clone(),
        },
    );
    let key = format!("uploads/{ID}/video");
    let event =
        serde_json::from_value(object_created_event(&fx.bucket, &key, 1234, "abc123")).unwrap();

    let out = recorder.handle(&event).await.unwrap();
    assert_eq!(
        out,
        Outcome::Emitted {
            episode_id: ID.into()
        }
    );
    let item = fx.item(&format!("EPISODE#{ID}"), "EPISODE").await.unwrap();
    assert_eq!(item["status"], "uploaded");
    assert_eq!(item["upload_key"], key);
    assert_eq!(item["upload_size"], "1234");
    assert_eq!(item["upload_etag"], "abc123");

    let events = capture.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "Video Upload Completed");
    assert_eq!(events[0]["source"], source.as_str());
    assert_eq!(
        events[0]["detail"],
        json!({"episode_id": ID, "bucket": fx.bucket, "key": key, "size": 1234})
    );

    // EventBridge retries: recorded again, announced again (start_chunking
    // starts one job whatever it receives).
    assert_eq!(
        recorder.handle(&event).await.unwrap(),
        Outcome::Emitted {
            episode_id: ID.into()
        }
    );
    assert_eq!(capture.events().await.len(), 1);

    // Past its upload: dropped, nothing changes, nothing announced.
    assert!(store
        .claim_chunking(ID, clips_core::now_ms())
        .await
        .unwrap());
    let out = recorder.handle(&event).await.unwrap();
    assert!(
        matches!(out, Outcome::Dropped { ref reason } if reason.contains("chunking")),
        "{out:?}"
    );
    assert_eq!(
        fx.item(&format!("EPISODE#{ID}"), "EPISODE").await.unwrap()["status"],
        "chunking"
    );

    // No such episode, or not an upload: dropped, no item created.
    for key in [
        format!("uploads/{OTHER}/video"),
        format!("chunks/{ID}/video_00001.ts"),
        "uploads/x/video".to_string(),
    ] {
        let event = serde_json::from_value(object_created_event(&fx.bucket, &key, 1, "e")).unwrap();
        assert!(
            matches!(
                recorder.handle(&event).await.unwrap(),
                Outcome::Dropped { .. }
            ),
            "{key}"
        );
    }
    assert!(fx
        .item(&format!("EPISODE#{OTHER}"), "EPISODE")
        .await
        .is_none());
    assert!(capture.events().await.is_empty());
}

#[tokio::test]
async fn a_put_that_fails_is_an_error_so_eventbridge_retries() {
    let fx = Fixture::new().await;
    episode(&fx, ID).await;
    let recorder = Recorder::new(
        &Servers::shared().sdk_config().await,
        Config {
            table: fx.table.clone(),
            bus: unique("no-such-bus"),
            source: "clips.episodes".into(),
        },
    );
    let event = serde_json::from_value(object_created_event(
        &fx.bucket,
        &format!("uploads/{ID}/video"),
        5,
        "e",
    ))
    .unwrap();
    let err = recorder.handle(&event).await.unwrap_err();
    assert!(err.0.contains("PutEvents"), "{err}");
}

#[test]
fn the_built_binary_handles_an_event() {
    let servers = Servers::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    rt.block_on(episode(&fx, ID));
    let mut env = servers.env();
    env.extend([
        ("TABLE_NAME".to_string(), fx.table.clone()),
        ("EVENT_BUS_NAME".to_string(), "default".to_string()),
        ("EVENT_SOURCE".to_string(), "clips.episodes".to_string()),
    ]);
    let (outcomes, init) = invoke_binary_timed(
        env!("CARGO_BIN_EXE_on-object-created"),
        vec![object_created_event(
            &fx.bucket,
            &format!("uploads/{ID}/video"),
            9,
            "e",
        )],
        &env,
    );
    assert_eq!(
        outcomes[0],
        Invoked::Response(json!({"outcome": "emitted", "episode_id": ID}))
    );
    eprintln!(
        "COLD START on-object-created: {:?}",
        init.expect("init time")
    );
}
