//! The clip pipeline end to end, after `stackctl deploy --env local clips`:
//! the shipped function binaries (the `bootstrap` of each zip the deploy
//! published) run through the Lambda Runtime API harness with the
//! environment the stack gave them in moto, the events between them routed
//! by the deployed EventBridge rules, MediaConvert, the Bedrock runtime and
//! the AgentCore data plane played by local servers speaking their APIs.
//!
//! create episode → presigned video upload → S3's Object Created event
//! (video_uploaded) → on-object-created → "Video Upload Completed"
//! (upload_completed) → start-chunking → a MediaConvert job → its
//! COMPLETE state change (chunking_state) → on-mediaconvert-state → chunks
//! → presigned transcript upload → Object Created (transcript_uploaded) →
//! analyze-transcript → clip candidates in the table, context in the
//! memory → get episode shows it all.
//!
//! moto cannot run functions: an event matching a rule with a function
//! target makes its PutEvents fail (it tries Docker). So after reading the
//! deployed targets back, the test swaps each rule's function target for a
//! queue it reads, and hands what arrives to the function's binary, as
//! EventBridge would. moto also ignores a bucket's EventBridge setting
//! made through CloudFormation, so the test turns it on through the S3
//! API, as the template does on AWS.

mod common;

use clips_testing::{rest_event, FakeAgentCore, FakeBedrock, FakeMediaConvert};
use common::{
    answer, block, function_description, function_env, http_answer, shipped_bootstrap, stackctl,
    system_copy,
};
use lambda_shared::testing::Moto;
use serde_json::{json, Value};

const PREFIX: &str = "studio-clips-";

/// What a deployed rule delivers to, read back, then swapped for a queue
/// the test reads.
struct Tap {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Tap {
    /// Checks rule `key`'s pattern names `expect_in_pattern`, its one
    /// target is function `function` with the rule's retry policy and
    /// dead-letter queue, then replaces that target with a new queue.
    async fn rule(
        config: &aws_config::SdkConfig,
        key: &str,
        function: &str,
        expect_in_pattern: &str,
    ) -> Tap {
        let events = aws_sdk_eventbridge::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let name = format!("{PREFIX}{}-local", key.replace('_', "-"));
        let rule = events.describe_rule().name(&name).send().await.unwrap();
        assert_eq!(rule.state().map(|s| s.as_str()), Some("ENABLED"), "{name}");
        let pattern = rule.event_pattern().unwrap_or_default();
        assert!(pattern.contains(expect_in_pattern), "{name}: {pattern}");
        let targets = events
            .list_targets_by_rule()
            .rule(&name)
            .send()
            .await
            .unwrap();
        let [target] = targets.targets() else {
            panic!("{name}: {:?}", targets.targets());
        };
        let function_name = format!("{PREFIX}{}-local", function.replace('_', "-"));
        assert!(
            target
                .arn()
                .ends_with(&format!(":function:{function_name}")),
            "{name}: {}",
            target.arn()
        );
        let retry = target.retry_policy().expect("a retry policy");
        assert_eq!(retry.maximum_retry_attempts(), Some(8), "{name}");
        assert_eq!(retry.maximum_event_age_in_seconds(), Some(3600), "{name}");
        let dlq = target
            .dead_letter_config()
            .and_then(|d| d.arn())
            .unwrap_or_default();
        assert!(
            dlq.ends_with(":studio-clips-events-dlq-local"),
            "{name}: {dlq}"
        );
        events
            .remove_targets()
            .rule(&name)
            .ids(target.id())
            .send()
            .await
            .unwrap();
        let url = sqs
            .create_queue()
            .queue_name(format!("tap-{}", key.replace('_', "-")))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = format!(
            "arn:aws:sqs:us-east-1:123456789012:tap-{}",
            key.replace('_', "-")
        );
        events
            .put_targets()
            .rule(&name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("tap")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Tap { sqs, url }
    }

    /// The one event the rule delivered (waiting up to 10 s), and that
    /// nothing else came.
    async fn one(&self) -> Value {
        let mut got = Vec::new();
        for _ in 0..5 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .wait_time_seconds(2)
                .send()
                .await
                .unwrap();
            for m in out.messages() {
                got.push(serde_json::from_str::<Value>(m.body().unwrap()).unwrap());
            }
            if !got.is_empty() {
                break;
            }
        }
        assert_eq!(got.len(), 1, "{got:#?}");
        got.remove(0)
    }
}

/// Every item of the episode's partition, by sort key.
async fn partition(ddb: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> Vec<(String, Value)> {
    let out = ddb
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("EPISODE#{id}")),
        )
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|item| {
            let sk = item["sk"].as_s().unwrap().clone();
            let fields: serde_json::Map<String, Value> = item
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        aws_sdk_dynamodb::types::AttributeValue::S(s) => json!(s),
                        aws_sdk_dynamodb::types::AttributeValue::N(n) => json!(n),
                        other => json!(format!("{other:?}")),
                    };
                    (k.clone(), v)
                })
                .collect();
            (sk, Value::Object(fields))
        })
        .collect()
}

#[test]
fn an_episode_flows_from_creation_to_clip_candidates_through_the_shipped_functions() {
    let moto = Moto::start();
    let copy = system_copy();
    let project = copy.project.clone();
    let out = stackctl()
        .env_remove("CARGO_TARGET_DIR")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .current_dir(&project)
        .args(["--endpoint-url", &moto.endpoint])
        .args([
            "deploy", "--env", "local", "clips", "--yes", "--output", "json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{report:#}");

    let bins = copy.scratch();
    let bin = |krate: &str| shipped_bootstrap(&project, krate, &bins);
    let mediaconvert = FakeMediaConvert::start();
    let bedrock = FakeBedrock::start();
    // The memory's id in `local` is its physical name (no memory resource
    // there: moto cannot create one).
    let memory_id = "clipAgentMemory_local";
    let agentcore = FakeAgentCore::start(memory_id);
    let env_of = |key: &str| {
        let name = format!("{PREFIX}{}-local", key.replace('_', "-"));
        let mut env = function_env(&function_description(&moto, &name));
        env.extend(moto.env());
        env.extend([
            (
                "AWS_ENDPOINT_URL_MEDIACONVERT".to_string(),
                mediaconvert.endpoint.clone(),
            ),
            (
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME".to_string(),
                bedrock.endpoint.clone(),
            ),
            (
                "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE".to_string(),
                agentcore.endpoint.clone(),
            ),
        ]);
        env
    };
    let var = |env: &[(String, String)], name: &str| -> String {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} is not set"))
    };
    let create_env = env_of("create_episode");
    let get_env = env_of("get_episode");
    let table = var(&create_env, "TABLE_NAME");
    let bucket = var(&create_env, "BUCKET_NAME");
    let chunking_env = env_of("start_chunking");
    let analyze_env = env_of("analyze_transcript");
    assert_eq!(var(&analyze_env, "MEMORY_ID"), memory_id);
    assert_eq!(var(&chunking_env, "STACK_NAME"), "studio-clips-local");

    block(async {
        let config = moto.sdk_config().await;
        let s3 = aws_sdk_s3::Client::new(&config);
        let ddb = aws_sdk_dynamodb::Client::new(&config);
        let events = aws_sdk_eventbridge::Client::new(&config);
        s3.put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(
                aws_sdk_s3::types::NotificationConfiguration::builder()
                    .event_bridge_configuration(
                        aws_sdk_s3::types::EventBridgeConfiguration::builder().build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let video_uploaded =
            Tap::rule(&config, "video_uploaded", "on_object_created", "uploads/").await;
        let upload_completed = Tap::rule(
            &config,
            "upload_completed",
            "start_chunking",
            "Video Upload Completed",
        )
        .await;
        let chunking_state = Tap::rule(
            &config,
            "chunking_state",
            "on_mediaconvert_state",
            "studio-clips-local",
        )
        .await;
        let transcript_uploaded = Tap::rule(
            &config,
            "transcript_uploaded",
            "analyze_transcript",
            "transcripts/",
        )
        .await;

        // A client creates an episode and uploads its video.
        let (status, created) = http_answer(
            &bin("episodes-api"),
            rest_event(
                "POST",
                "/episodes",
                None,
                Value::Null,
                Some(json!({"title": "Launch stream"})),
            ),
            &create_env,
        );
        assert_eq!(status, 201, "{created:#}");
        let id = created["episode"]["id"].as_str().unwrap().to_string();
        assert_eq!(created["episode"]["status"], "created", "{created:#}");
        let upload = &created["upload"];
        assert_eq!(upload["method"], "PUT");
        assert_eq!(upload["key"], format!("uploads/{id}/video"));
        let video = vec![7u8; 64 * 1024];
        let put = ureq::put(upload["url"].as_str().unwrap())
            .send(&video[..])
            .unwrap();
        assert_eq!(put.status(), 200);

        // S3 → EventBridge → on-object-created, which announces the upload.
        let object_created = video_uploaded.one().await;
        assert_eq!(
            object_created["detail"]["object"]["key"],
            format!("uploads/{id}/video")
        );
        let outcome = answer(
            &bin("on-object-created"),
            object_created,
            &env_of("on_object_created"),
        );
        eprintln!("on-object-created: {outcome}");
        let announced = upload_completed.one().await;
        assert_eq!(announced["source"], "clips.episodes");
        assert_eq!(announced["detail-type"], "Video Upload Completed");
        assert_eq!(announced["detail"]["episode_id"], id.as_str());
        assert_eq!(announced["detail"]["size"], video.len());

        // start-chunking asks MediaConvert for 120-second chunks, with the
        // stack's service role.
        answer(&bin("start-chunking"), announced, &chunking_env);
        let jobs = mediaconvert.jobs_of(&id);
        assert_eq!(jobs.len(), 1, "{jobs:#?}");
        let job = &jobs[0];
        let role = var(&chunking_env, "MEDIACONVERT_ROLE_ARN");
        assert_eq!(job["role"], role.as_str());
        assert!(role.contains(":role/"), "{role}");
        assert_eq!(
            job["settings"]["inputs"][0]["fileInput"],
            format!("s3://{bucket}/uploads/{id}/video")
        );
        let hls = &job["settings"]["outputGroups"][0]["outputGroupSettings"]["hlsGroupSettings"];
        assert_eq!(hls["segmentLength"], 120, "{hls:#}");
        assert_eq!(hls["destination"], format!("s3://{bucket}/chunks/{id}/"));
        assert_eq!(job["userMetadata"]["stack"], "studio-clips-local");

        // MediaConvert finishes a 5-minute video; its state change comes
        // back through the default bus to on-mediaconvert-state.
        let complete = FakeMediaConvert::complete_event(job, 300_000);
        let put = events
            .put_events()
            .entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source("aws.mediaconvert")
                    .detail_type("MediaConvert Job State Change")
                    .detail(complete["detail"].to_string())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(put.failed_entry_count(), 0);
        let state = chunking_state.one().await;
        assert_eq!(state["detail"]["status"], "COMPLETE");
        answer(
            &bin("on-mediaconvert-state"),
            state,
            &env_of("on_mediaconvert_state"),
        );
        let items = partition(&ddb, &table, &id).await;
        let chunks: Vec<&String> = items
            .iter()
            .map(|(sk, _)| sk)
            .filter(|sk| sk.starts_with("CHUNK#"))
            .collect();
        assert_eq!(chunks.len(), 3, "300 s in 120 s chunks: {items:#?}");

        // The transcript arrives; analyze-transcript asks the model, with
        // the memory's context, and keeps the candidates.
        let (status, transcript) = http_answer(
            &bin("episodes-api"),
            rest_event(
                "POST",
                "/episodes/{episode_id}/transcript",
                Some(&id),
                Value::Null,
                None,
            ),
            &create_env,
        );
        assert_eq!(status, 201, "{transcript:#}");
        bedrock.reply_with(
            json!({"clips": [
                {"start_seconds": 12, "end_seconds": 58, "title": "The launch countdown",
                 "reason": "The host counts down and the product appears", "score": 0.92},
                {"start_seconds": 140, "end_seconds": 200, "title": "First demo",
                 "reason": "A complete demo with audience reaction", "score": 0.81}
            ]})
            .to_string(),
        );
        let text = "00:00 Welcome to the launch stream.\n00:12 Ten, nine, eight...\n02:20 Let me show you.\n";
        let put = ureq::put(transcript["upload"]["url"].as_str().unwrap())
            .send(text.as_bytes())
            .unwrap();
        assert_eq!(put.status(), 200);
        let uploaded = transcript_uploaded.one().await;
        assert_eq!(
            uploaded["detail"]["object"]["key"],
            transcript["upload"]["key"]
        );
        answer(&bin("analyze-transcript"), uploaded, &analyze_env);
        let asked = bedrock.requests();
        assert_eq!(asked.len(), 1, "one model call");
        assert!(
            asked[0].path.contains(&var(&analyze_env, "MODEL_ID")),
            "{}",
            asked[0].path
        );
        assert!(
            asked[0].json().to_string().contains("Ten, nine, eight"),
            "the transcript reaches the model"
        );
        assert!(
            !agentcore.events("show", &id).is_empty(),
            "the analysis is remembered"
        );

        // The episode as the API shows it.
        let (status, got) = http_answer(
            &bin("episodes-api"),
            rest_event(
                "GET",
                "/episodes/{episode_id}",
                Some(&id),
                Value::Null,
                None,
            ),
            &get_env,
        );
        assert_eq!(status, 200, "{got:#}");
        assert_eq!(got["episode"]["status"], "analyzed", "{got:#}");
        assert_eq!(got["chunks"].as_array().unwrap().len(), 3, "{got:#}");
        let clips = got["clips"].as_array().unwrap();
        assert_eq!(clips.len(), 2, "{got:#}");
        assert_eq!(clips[0]["title"], "The launch countdown");
    });
}
