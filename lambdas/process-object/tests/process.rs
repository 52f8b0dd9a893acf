//! process-object against moto: sessions found by key get the stored size
//! and type; unknown keys and other events are skipped; the built binary
//! handles an S3 event through the Runtime API.

use aws_lambda_events::s3::S3Event;
use lambda_shared::testing::{
    http_event, invoke_binary, put, reply, s3_event_json, Moto, Outcome, UploadFixture,
};
use lambda_shared::upload::{Sessions, Status};
use process_object::{handle, Summary};
use serde_json::{json, Value};
use std::time::Duration;

const NOW: i64 = 1_795_305_600;

async fn uploaded(fx: &UploadFixture, n: usize) -> Value {
    let cfg = create_upload::Config {
        single_max_bytes: 1 << 20,
        part_size: 5 << 20,
        max_file_bytes: 1 << 30,
        allowed_types: vec!["video/*".into()],
        url_expiry: Duration::from_secs(300),
    };
    let body = json!({"fileSizeBytes": n, "contentType": "video/webm"});
    let (_, s) = reply(
        &create_upload::handle(
            &cfg,
            &fx.objects,
            &fx.sessions,
            &http_event("POST /c", &body),
            NOW,
        )
        .await,
    );
    put(s["url"].as_str().unwrap(), "video/webm", &vec![1u8; n]);
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn new_objects_are_recorded_on_their_sessions() {
    let fx = UploadFixture::new(Moto::shared()).await;
    let a = uploaded(&fx, 321).await;
    let key = a["key"].as_str().unwrap();
    let event: S3Event = serde_json::from_value(s3_event_json(
        &fx.bucket,
        &[
            ("ObjectCreated:Put", key),
            ("ObjectCreated:Put", "uploads/2026-11-22/nobody"),
            ("ObjectRemoved:Delete", key),
        ],
    ))
    .unwrap();
    let summary = handle(&fx.objects, &fx.sessions, &event, NOW + 5)
        .await
        .unwrap();
    assert_eq!(
        summary,
        Summary {
            processed: 1,
            unknown: 1,
            skipped: 1
        }
    );
    let s = fx
        .sessions
        .get(a["sessionId"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.status, Status::Processed);
    assert_eq!(s.object_size_bytes, Some(321));
    assert_eq!(s.object_content_type.as_deref(), Some("video/webm"));
    assert_eq!(s.processed_at, Some(NOW + 5));
    // A second delivery of the same event changes nothing.
    let again = handle(&fx.objects, &fx.sessions, &event, NOW + 9)
        .await
        .unwrap();
    assert_eq!(
        again,
        Summary {
            processed: 0,
            unknown: 1,
            skipped: 2
        }
    );
}

#[test]
fn the_built_binary_handles_an_s3_event() {
    let moto = Moto::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(UploadFixture::new(moto));
    let s = rt.block_on(uploaded(&fx, 10));
    let event = s3_event_json(
        &fx.bucket,
        &[("ObjectCreated:Put", s["key"].as_str().unwrap())],
    );
    let out = invoke_binary(
        env!("CARGO_BIN_EXE_process-object"),
        vec![event],
        &fx.env(moto),
    );
    assert_eq!(
        out[0],
        Outcome::Response(json!({"processed": 1, "unknown": 0, "skipped": 0}))
    );
    let stored = rt
        .block_on(fx.sessions.get(s["sessionId"].as_str().unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, Status::Processed);
}
