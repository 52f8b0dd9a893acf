//! The whole upload flow against moto, with real bytes: a single presigned
//! PUT and a three-part multipart upload (5 MiB parts) are uploaded with an
//! HTTP client to the URLs the handlers return, completed, and read back;
//! plus every validation rule and the built binary.

use lambda_shared::testing::{
    http_event, http_event_json, invoke_binary, put, reply, Moto, Outcome, UploadFixture,
};
use lambda_shared::upload::{Sessions, Status};
use serde_json::{json, Value};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;
const NOW: i64 = 1_795_305_600;

fn create_cfg() -> create_upload::Config {
    create_upload::Config {
        single_max_bytes: 5 * MIB,
        part_size: 5 * MIB,
        max_file_bytes: 1024 * MIB,
        allowed_types: vec!["video/*".into()],
        url_expiry: Duration::from_secs(300),
    }
}

async fn create(fx: &UploadFixture, size: u64) -> Value {
    let body = json!({"fileSizeBytes": size, "contentType": "video/mp4"});
    let (status, resp) = reply(
        &create_upload::handle(
            &create_cfg(),
            &fx.objects,
            &fx.sessions,
            &http_event("POST /c", &body),
            NOW,
        )
        .await,
    );
    assert_eq!(status, 201, "{resp}");
    resp
}

async fn complete(fx: &UploadFixture, body: Value) -> (u16, Value) {
    reply(
        &complete_upload::handle(
            &fx.objects,
            &fx.sessions,
            &http_event("POST /video/upload/complete", &body),
            NOW + 60,
        )
        .await,
    )
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn single_put_then_complete() {
    let fx = UploadFixture::new(Moto::shared()).await;
    let s = create(&fx, 4096).await;
    let id = s["sessionId"].as_str().unwrap();
    // Completing before anything was uploaded is a conflict.
    let (status, resp) = complete(&fx, json!({"sessionId": id})).await;
    assert_eq!(status, 409, "{resp}");
    let data = bytes(4096, 7);
    put(s["url"].as_str().unwrap(), "video/mp4", &data);
    let (status, resp) = complete(&fx, json!({"sessionId": id})).await;
    assert_eq!(
        (status, resp["status"].as_str()),
        (200, Some("uploaded")),
        "{resp}"
    );
    assert_eq!(resp["key"], s["key"]);
    assert_eq!(fx.object(s["key"].as_str().unwrap()).await, data);
    let stored = fx.sessions.get(id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.uploaded_at),
        (Status::Uploaded, Some(NOW + 60))
    );
    // Repeating is answered the same way.
    let (status, again) = complete(&fx, json!({"sessionId": id})).await;
    assert_eq!((status, again), (200, resp));
}

#[tokio::test(flavor = "multi_thread")]
async fn three_part_multipart_upload_assembles_the_bytes() {
    let fx = UploadFixture::new(Moto::shared()).await;
    let size = 10 * MIB as usize + 1234;
    let s = create(&fx, size as u64).await;
    assert_eq!(s["partCount"], 3, "{s}");
    let id = s["sessionId"].as_str().unwrap().to_string();
    let data = bytes(size, 3);
    // Part 3's URL comes from upload-parts, as a client resuming would get it.
    let parts_req = http_event(
        "POST /video/upload/parts",
        &json!({"sessionId": id, "partNumbers": [3]}),
    );
    let parts_cfg = upload_parts::Config {
        url_expiry: Duration::from_secs(300),
    };
    let (status, more) =
        reply(&upload_parts::handle(&parts_cfg, &fx.objects, &fx.sessions, &parts_req, NOW).await);
    assert_eq!(status, 200, "{more}");
    let urls = [
        s["parts"][0]["url"].as_str().unwrap(),
        s["parts"][1]["url"].as_str().unwrap(),
        more["parts"][0]["url"].as_str().unwrap(),
    ];
    let chunk = 5 * MIB as usize;
    let mut etags = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let end = ((i + 1) * chunk).min(size);
        etags.push(put(url, "application/octet-stream", &data[i * chunk..end]));
    }
    assert!(etags.iter().all(|e| !e.is_empty()), "{etags:?}");
    // Parts may be listed in any order; a wrong ETag is rejected first.
    let wrong = json!({"sessionId": id, "parts": [
        {"partNumber": 2, "eTag": etags[1]}, {"partNumber": 1, "eTag": "\"0000\""}, {"partNumber": 3, "eTag": etags[2]}]});
    let (status, resp) = complete(&fx, wrong).await;
    assert_eq!(
        (status, resp["field"].as_str()),
        (400, Some("parts")),
        "{resp}"
    );
    let body = json!({"sessionId": id, "parts": [
        {"partNumber": 3, "ETag": etags[2]}, {"partNumber": 1, "eTag": etags[0]}, {"partNumber": 2, "eTag": etags[1]}]});
    let (status, resp) = complete(&fx, body).await;
    assert_eq!(
        (status, resp["status"].as_str()),
        (200, Some("uploaded")),
        "{resp}"
    );
    let stored = fx.object(s["key"].as_str().unwrap()).await;
    assert_eq!(stored.len(), size);
    assert!(
        stored == data,
        "assembled object differs from the uploaded bytes"
    );
    assert_eq!(
        fx.sessions.get(&id).await.unwrap().unwrap().status,
        Status::Uploaded
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_validation_rule() {
    let fx = UploadFixture::new(Moto::shared()).await;
    let multi = create(&fx, 12 * MIB).await;
    let id = multi["sessionId"].as_str().unwrap();
    let single = create(&fx, MIB).await;
    let cases = [
        (json!({}), 400, Some("sessionId")),
        (json!({"sessionId": ""}), 400, Some("sessionId")),
        (json!({"sessionId": "unknown"}), 404, None),
        (json!({"sessionId": id}), 400, Some("parts")),
        (
            json!({"sessionId": id, "parts": [{"partNumber": 0, "eTag": "x"}]}),
            400,
            Some("parts[0].partNumber"),
        ),
        (
            json!({"sessionId": id, "parts": [{"partNumber": 4, "eTag": "x"}]}),
            400,
            Some("parts[0].partNumber"),
        ),
        (
            json!({"sessionId": id, "parts": [{"partNumber": 1, "eTag": " "}]}),
            400,
            Some("parts[0].eTag"),
        ),
        (
            json!({"sessionId": id, "parts": [{"partNumber": 1, "eTag": "a"}, {"partNumber": 1, "eTag": "b"}]}),
            400,
            Some("parts[1].partNumber"),
        ),
        (
            json!({"sessionId": id, "parts": [{"partNumber": 1}]}),
            400,
            Some("parts[0].eTag"),
        ),
        (
            json!({"sessionId": single["sessionId"], "parts": [{"partNumber": 1, "eTag": "x"}]}),
            400,
            Some("parts"),
        ),
    ];
    for (body, want, field) in cases {
        let (status, resp) = complete(&fx, body.clone()).await;
        assert_eq!(status, want, "{body}: {resp}");
        assert_eq!(resp["field"].as_str(), field, "{body}: {resp}");
    }
    // An expired session cannot be completed.
    assert!(fx
        .sessions
        .transition(id, &[Status::Created], Status::Expired, &Default::default())
        .await
        .unwrap());
    let (status, _) = complete(
        &fx,
        json!({"sessionId": id, "parts": [{"partNumber": 1, "eTag": "x"}]}),
    )
    .await;
    assert_eq!(status, 409);
}

#[test]
fn the_built_binary_answers_through_the_runtime_api() {
    let moto = Moto::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(UploadFixture::new(moto));
    let s = rt.block_on(create(&fx, 100));
    put(s["url"].as_str().unwrap(), "video/mp4", b"0123456789");
    let events = vec![
        http_event_json(
            "POST /video/upload/complete",
            &json!({"sessionId": s["sessionId"]}),
        ),
        http_event_json("POST /video/upload/complete", &json!({"sessionId": 42})),
    ];
    let out = invoke_binary(env!("CARGO_BIN_EXE_complete-upload"), events, &fx.env(moto));
    let (Outcome::Response(ok), Outcome::Response(bad)) = (&out[0], &out[1]) else {
        panic!("{out:?}")
    };
    assert_eq!(ok["statusCode"], 200, "{ok}");
    assert!(
        ok["body"]
            .as_str()
            .unwrap()
            .contains("\"status\":\"uploaded\""),
        "{ok}"
    );
    assert_eq!(bad["statusCode"], 400, "{bad}");
    assert!(
        bad["body"]
            .as_str()
            .unwrap()
            .contains("\"field\":\"sessionId\""),
        "{bad}"
    );
}
