//! cleanup against moto: stale multipart uploads are aborted, fresh ones
//! kept; sessions whose URLs expired are marked; the built binary runs on a
//! scheduled event.

use cleanup::{handle, Config, Summary};
use lambda_shared::testing::{http_event, invoke_binary, reply, Moto, Outcome, UploadFixture};
use lambda_shared::upload::{Sessions, Status};
use serde_json::{json, Value};
use std::time::Duration;

async fn multipart(fx: &UploadFixture, now: i64) -> Value {
    let cfg = create_upload::Config {
        single_max_bytes: 1 << 20,
        part_size: 5 << 20,
        max_file_bytes: 1 << 30,
        allowed_types: vec!["video/*".into()],
        url_expiry: Duration::from_secs(300),
    };
    let body = json!({"fileSizeBytes": 12 << 20, "contentType": "video/mp4"});
    let (status, s) = reply(
        &create_upload::handle(
            &cfg,
            &fx.objects,
            &fx.sessions,
            &http_event("POST /c", &body),
            now,
        )
        .await,
    );
    assert_eq!(status, 201, "{s}");
    s
}

/// When the store says the only pending upload started. moto reports a
/// fixed time (2010-11-10) for every upload, so staleness is judged against
/// this rather than the wall clock; on S3 the two agree.
async fn initiated(fx: &UploadFixture) -> i64 {
    let pending = fx
        .s3
        .list_multipart_uploads()
        .bucket(&fx.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(pending.uploads().len(), 1, "{pending:?}");
    pending.uploads()[0].initiated().unwrap().secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_uploads_are_aborted_and_expired_sessions_marked() {
    let fx = UploadFixture::new(Moto::shared()).await;
    let created = lambda_shared::now_epoch();
    let s = multipart(&fx, created).await;
    let started = initiated(&fx).await;
    let cfg = Config {
        stale_upload_hours: 24,
    };

    // A minute after the upload started nothing is stale or expired.
    assert_eq!(
        handle(&cfg, &fx.objects, &fx.sessions, started + 60)
            .await
            .unwrap(),
        Summary::default()
    );
    assert_eq!(initiated(&fx).await, started, "the upload is still there");

    // A day and an hour after both, the upload is stale and the session expired.
    let later = started.max(created) + 25 * 3600;
    let summary = handle(&cfg, &fx.objects, &fx.sessions, later)
        .await
        .unwrap();
    assert_eq!(
        summary,
        Summary {
            aborted_uploads: 1,
            expired_sessions: 1
        }
    );
    let pending = fx
        .s3
        .list_multipart_uploads()
        .bucket(&fx.bucket)
        .send()
        .await
        .unwrap();
    assert!(pending.uploads().is_empty(), "{pending:?}");
    let stored = fx
        .sessions
        .get(s["sessionId"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, Status::Expired);

    // Running again finds nothing more.
    assert_eq!(
        handle(&cfg, &fx.objects, &fx.sessions, later)
            .await
            .unwrap(),
        Summary::default()
    );
}

#[test]
fn the_built_binary_runs_on_a_scheduled_event() {
    let moto = Moto::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(UploadFixture::new(moto));
    // A session whose URLs expired long ago; the binary uses the real clock.
    rt.block_on(multipart(&fx, 1_000_000_000));
    let stale = rt.block_on(initiated(&fx)) < lambda_shared::now_epoch() - 24 * 3600;
    let mut env = fx.env(moto);
    env.push(("STALE_UPLOAD_HOURS".into(), "24".into()));
    let event = json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    let out = invoke_binary(env!("CARGO_BIN_EXE_cleanup"), vec![event], &env);
    assert_eq!(
        out[0],
        Outcome::Response(json!({"abortedUploads": u32::from(stale), "expiredSessions": 1}))
    );
}
