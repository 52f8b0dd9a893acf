//! create-upload against a real moto server: every validation rule, a
//! single presigned PUT that really stores bytes, a multipart start, and
//! the built binary answering through the Lambda Runtime API.

use create_upload::{handle, Config, Response};
use lambda_shared::testing::{
    http_event, http_event_json, invoke_binary, put, reply, start_failure, Moto, Outcome,
    UploadFixture,
};
use lambda_shared::upload::{Mode, Sessions, Status};
use serde_json::json;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;
const NOW: i64 = 1_795_305_600; // 2026-11-22

fn config() -> Config {
    Config {
        single_max_bytes: 25 * MIB,
        part_size: 5 * MIB,
        max_file_bytes: 10 * 1024 * MIB,
        allowed_types: vec!["video/*".into(), "image/gif".into()],
        url_expiry: Duration::from_secs(300),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_validation_rule_gives_a_400_naming_the_field() {
    let moto = Moto::shared();
    let fx = UploadFixture::new(moto).await;
    let cases = [
        (
            json!({"contentType": "video/mp4"}),
            Some("fileSizeBytes"),
            "missing field",
        ),
        (
            json!({"fileSizeBytes": 10}),
            Some("contentType"),
            "missing field",
        ),
        (
            json!({"fileSizeBytes": "ten", "contentType": "video/mp4"}),
            Some("fileSizeBytes"),
            "invalid type",
        ),
        (
            json!({"fileSizeBytes": -1, "contentType": "video/mp4"}),
            Some("fileSizeBytes"),
            "invalid value",
        ),
        (
            json!({"fileSizeBytes": 0, "contentType": "video/mp4"}),
            Some("fileSizeBytes"),
            "at least 1 byte",
        ),
        (
            json!({"fileSizeBytes": 20 * 1024 * MIB, "contentType": "video/mp4"}),
            Some("fileSizeBytes"),
            "more than the",
        ),
        (
            json!({"fileSizeBytes": 10, "contentType": "text/plain"}),
            Some("contentType"),
            "not accepted",
        ),
        (
            json!({"fileSizeBytes": 10, "contentType": "video"}),
            Some("contentType"),
            "not a MIME type",
        ),
        (
            json!({"fileSizeBytes": 10, "contentType": "image/png"}),
            Some("contentType"),
            "not accepted",
        ),
        (json!([1, 2]), None, "must be a JSON object"),
    ];
    for (body, field, text) in cases {
        let outcome = handle(
            &config(),
            &fx.objects,
            &fx.sessions,
            &http_event("POST /video/upload/create", &body),
            NOW,
        )
        .await;
        let (status, resp) = reply(&outcome);
        assert_eq!(status, 400, "{body}: {resp}");
        assert_eq!(resp["field"].as_str(), field, "{body}: {resp}");
        assert!(
            resp["error"].as_str().unwrap().contains(text),
            "{body}: {resp}"
        );
    }
    // Too many parts for the part size.
    let small_parts = Config {
        part_size: 1024,
        max_file_bytes: u64::MAX,
        ..config()
    };
    let body = json!({"fileSizeBytes": 30 * MIB, "contentType": "video/mp4"});
    let (status, resp) = reply(
        &handle(
            &small_parts,
            &fx.objects,
            &fx.sessions,
            &http_event("POST /x", &body),
            NOW,
        )
        .await,
    );
    assert_eq!(
        (status, resp["field"].as_str()),
        (400, Some("fileSizeBytes")),
        "{resp}"
    );
    assert!(
        resp["error"].as_str().unwrap().contains("S3 allows 10000"),
        "{resp}"
    );
    // A missing body.
    let mut no_body = http_event("POST /x", &json!({}));
    no_body.body = None;
    let (status, resp) = reply(&handle(&config(), &fx.objects, &fx.sessions, &no_body, NOW).await);
    assert_eq!(status, 400, "{resp}");
    // None of these created a session.
    assert!(fx.sessions.expired(i64::MAX).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_file_gets_one_presigned_put_that_stores_the_bytes() {
    let moto = Moto::shared();
    let fx = UploadFixture::new(moto).await;
    let body = json!({"fileSizeBytes": 1000, "contentType": "video/mp4"});
    let (status, resp) = reply(
        &handle(
            &config(),
            &fx.objects,
            &fx.sessions,
            &http_event("POST /video/upload/create", &body),
            NOW,
        )
        .await,
    );
    assert_eq!(status, 201, "{resp}");
    let r: Response = serde_json::from_value(resp).unwrap();
    assert_eq!(r.mode, Mode::Single);
    assert!(r.key.starts_with("uploads/2026-11-22/"), "{}", r.key);
    assert_eq!(r.key, format!("uploads/2026-11-22/{}", r.session_id));
    assert_eq!(r.expires_at, NOW + 300);
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    put(r.url.as_deref().unwrap(), "video/mp4", &bytes);
    assert_eq!(fx.object(&r.key).await, bytes);

    let s = fx
        .sessions
        .get(&r.session_id)
        .await
        .unwrap()
        .expect("session stored");
    assert_eq!(s.status, Status::Created);
    assert_eq!(s.object_key, r.key);
    assert_eq!(s.file_size_bytes, 1000);
    assert_eq!(s.ttl, NOW + 300 + 7 * 86_400);
    assert_eq!(s.upload_id, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_file_gets_a_multipart_upload_with_part_urls() {
    let moto = Moto::shared();
    let fx = UploadFixture::new(moto).await;
    let body = json!({"fileSizeBytes": 26 * MIB + 1, "contentType": "video/quicktime"});
    let (status, resp) = reply(
        &handle(
            &config(),
            &fx.objects,
            &fx.sessions,
            &http_event("POST /video/upload/create", &body),
            NOW,
        )
        .await,
    );
    assert_eq!(status, 201, "{resp}");
    let r: Response = serde_json::from_value(resp).unwrap();
    assert_eq!(r.mode, Mode::Multipart);
    assert_eq!(r.part_count, Some(6));
    assert_eq!(r.part_size, Some(5 * MIB));
    assert_eq!(
        r.parts.iter().map(|p| p.part_number).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<_>>()
    );
    assert!(
        r.parts[0].url.contains("partNumber=1") && r.parts[0].url.contains("uploadId="),
        "{}",
        r.parts[0].url
    );
    let pending = fx
        .s3
        .list_multipart_uploads()
        .bucket(&fx.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(pending.uploads()[0].upload_id(), r.upload_id.as_deref());
    let s = fx.sessions.get(&r.session_id).await.unwrap().unwrap();
    assert_eq!(
        (s.mode, s.part_count, s.upload_id),
        (Mode::Multipart, Some(6), r.upload_id)
    );
}

#[test]
fn the_built_binary_serves_requests_through_the_runtime_api() {
    let moto = Moto::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(UploadFixture::new(moto));
    let mut env = fx.env(moto);
    for (k, v) in [
        ("SINGLE_MAX_BYTES", "26214400"),
        ("PART_SIZE", "5242880"),
        ("MAX_FILE_BYTES", "10737418240"),
        ("ALLOWED_CONTENT_TYPES", "video/*"),
        ("URL_EXPIRY_SECONDS", "300"),
    ] {
        env.push((k.into(), v.into()));
    }
    let events = vec![
        http_event_json(
            "POST /video/upload/create",
            &json!({"fileSizeBytes": 1000, "contentType": "video/mp4"}),
        ),
        http_event_json(
            "POST /video/upload/create",
            &json!({"fileSizeBytes": 1000, "contentType": "audio/mpeg"}),
        ),
    ];
    let out = invoke_binary(env!("CARGO_BIN_EXE_create-upload"), events, &env);
    let Outcome::Response(ok) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(ok["statusCode"], 201, "{ok}");
    let body: serde_json::Value = serde_json::from_str(ok["body"].as_str().unwrap()).unwrap();
    assert!(
        body["url"].as_str().unwrap().starts_with(&moto.endpoint),
        "{body}"
    );
    let Outcome::Response(bad) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(bad["statusCode"], 400);
    assert!(
        bad["body"]
            .as_str()
            .unwrap()
            .contains("\"field\":\"contentType\""),
        "{bad}"
    );
}

#[test]
fn the_binary_refuses_to_start_without_its_configuration() {
    let err = start_failure(env!("CARGO_BIN_EXE_create-upload"), &Moto::shared().env());
    assert!(err.contains("SINGLE_MAX_BYTES"), "{err}");
}
