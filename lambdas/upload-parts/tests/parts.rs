//! upload-parts against moto: URLs for requested parts, every validation
//! rule, and the built binary through the Runtime API.

use lambda_shared::testing::{
    http_event, http_event_json, invoke_binary, reply, start_failure, Moto, Outcome, UploadFixture,
};
use lambda_shared::upload::Sessions;
use serde_json::json;
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

async fn session(fx: &UploadFixture, size: u64) -> String {
    let body = json!({"fileSizeBytes": size, "contentType": "video/mp4"});
    let outcome = create_upload::handle(
        &create_cfg(),
        &fx.objects,
        &fx.sessions,
        &http_event("POST /c", &body),
        NOW,
    )
    .await;
    let (status, resp) = reply(&outcome);
    assert_eq!(status, 201, "{resp}");
    resp["sessionId"].as_str().unwrap().to_string()
}

fn cfg() -> upload_parts::Config {
    upload_parts::Config {
        url_expiry: Duration::from_secs(600),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn urls_for_requested_parts_extend_the_session() {
    let fx = UploadFixture::new(Moto::shared()).await;
    let id = session(&fx, 12 * MIB).await;
    let req = http_event(
        "POST /video/upload/parts",
        &json!({"sessionId": id, "partNumbers": [3, 1, 3]}),
    );
    let (status, resp) =
        reply(&upload_parts::handle(&cfg(), &fx.objects, &fx.sessions, &req, NOW + 100).await);
    assert_eq!(status, 200, "{resp}");
    let parts = resp["parts"].as_array().unwrap();
    assert_eq!(
        parts
            .iter()
            .map(|p| p["partNumber"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert!(parts[1]["url"].as_str().unwrap().contains("partNumber=3"));
    assert_eq!(resp["expiresAt"], NOW + 700);
    assert_eq!(
        fx.sessions.get(&id).await.unwrap().unwrap().expires_at,
        NOW + 700
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_validation_rule() {
    let fx = UploadFixture::new(Moto::shared()).await;
    let multi = session(&fx, 12 * MIB).await;
    let single = session(&fx, MIB).await;
    let cases = [
        (json!({"partNumbers": [1]}), 400, Some("sessionId")),
        (json!({"sessionId": multi}), 400, Some("partNumbers")),
        (
            json!({"sessionId": multi, "partNumbers": []}),
            400,
            Some("partNumbers"),
        ),
        (
            json!({"sessionId": multi, "partNumbers": [0]}),
            400,
            Some("partNumbers[0]"),
        ),
        (
            json!({"sessionId": multi, "partNumbers": [1, 4]}),
            400,
            Some("partNumbers[1]"),
        ),
        (
            json!({"sessionId": multi, "partNumbers": [10001]}),
            400,
            Some("partNumbers[0]"),
        ),
        (
            json!({"sessionId": multi, "partNumbers": (1..=1001).collect::<Vec<u32>>()}),
            400,
            Some("partNumbers"),
        ),
        (
            json!({"sessionId": "", "partNumbers": [1]}),
            400,
            Some("sessionId"),
        ),
        (json!({"sessionId": "nope", "partNumbers": [1]}), 404, None),
        (json!({"sessionId": single, "partNumbers": [1]}), 409, None),
    ];
    for (body, want, field) in cases {
        let (status, resp) = reply(
            &upload_parts::handle(
                &cfg(),
                &fx.objects,
                &fx.sessions,
                &http_event("POST /p", &body),
                NOW,
            )
            .await,
        );
        assert_eq!(status, want, "{body}: {resp}");
        assert_eq!(resp["field"].as_str(), field, "{body}: {resp}");
        assert!(resp["error"].is_string(), "{resp}");
    }
}

#[test]
fn the_built_binary_answers_through_the_runtime_api() {
    let moto = Moto::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(UploadFixture::new(moto));
    let id = rt.block_on(session(&fx, 12 * MIB));
    let mut env = fx.env(moto);
    env.push(("URL_EXPIRY_SECONDS".into(), "300".into()));
    let events = vec![
        http_event_json(
            "POST /video/upload/parts",
            &json!({"sessionId": id, "partNumbers": [2]}),
        ),
        http_event_json(
            "POST /video/upload/parts",
            &json!({"sessionId": "missing", "partNumbers": [2]}),
        ),
    ];
    let out = invoke_binary(env!("CARGO_BIN_EXE_upload-parts"), events, &env);
    let (Outcome::Response(ok), Outcome::Response(missing)) = (&out[0], &out[1]) else {
        panic!("{out:?}")
    };
    assert_eq!(ok["statusCode"], 200, "{ok}");
    assert!(
        ok["body"].as_str().unwrap().contains("partNumber=2"),
        "{ok}"
    );
    assert_eq!(missing["statusCode"], 404, "{missing}");
    let err = start_failure(env!("CARGO_BIN_EXE_upload-parts"), &fx.env(moto));
    assert!(err.contains("URL_EXPIRY_SECONDS"), "{err}");
}
