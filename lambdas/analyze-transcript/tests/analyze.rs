//! analyze-transcript in-process against moto, the local Bedrock runtime
//! (scripted answers) and the local AgentCore memory.

use analyze_transcript::{Analyzer, Config, Outcome, ACTOR_ID};
use clips_core::episode::{Episode, Store};
use clips_testing::{object_created_event, FakeBedrock, Fixture, Servers, MEMORY_ID};
use lambda_shared::testing::{invoke_binary_timed, Outcome as Invoked};
use serde_json::{json, Value};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn config(fx: &Fixture) -> Config {
    Config {
        table: fx.table.clone(),
        bucket: fx.bucket.clone(),
        memory_id: MEMORY_ID.into(),
        model_id: MODEL.into(),
    }
}

/// An episode; chunked if `chunked`.
async fn episode(fx: &Fixture, id: &str, chunked: bool) -> Store {
    let store = Store::new(aws_sdk_dynamodb::Client::new(&fx.sdk), &fx.table);
    let e = Episode::new(
        id.into(),
        "Launch stream".into(),
        Some("New game reveal".into()),
        1,
    );
    assert!(store.create(&e).await.unwrap());
    if chunked {
        store
            .record_upload(id, &format!("uploads/{id}/video"), 1, "e", 2)
            .await
            .unwrap();
        assert!(store.claim_chunking(id, 3).await.unwrap());
        assert!(store.set_job(id, "job-1").await.unwrap());
        let e = store.get(id).await.unwrap().unwrap();
        assert!(store.chunked(&e, "job-1", &[], 4).await.unwrap());
    }
    store
}

fn good_answer() -> String {
    json!({"clips": [
        {"start_seconds": 600, "end_seconds": 640, "title": "The reveal", "reason": "The new game is shown", "score": 0.95},
        {"start_seconds": 30, "end_seconds": 75, "title": "Giveaway", "reason": "Viewers win keys", "score": 0.6}
    ]})
    .to_string()
}

fn transcript_event(
    fx: &Fixture,
    id: &str,
) -> clips_core::events::EventBridgeEvent<clips_core::events::ObjectCreated> {
    serde_json::from_value(object_created_event(
        &fx.bucket,
        &format!("transcripts/{id}/transcript.txt"),
        64,
        "t",
    ))
    .unwrap()
}

#[tokio::test]
async fn candidates_are_stored_remembered_and_bad_answers_change_nothing() {
    let servers = Servers::shared();
    let fx = Fixture::new().await;
    let id = "b1111111-2222-4333-8444-555555555555";
    let store = episode(&fx, id, true).await;
    servers.agentcore.seed(
        ACTOR_ID,
        id,
        json!([{"conversational": {"content": {"text": "The host promised a giveaway at the start."}, "role": "USER"}}]),
    );
    fx.put_object(
        &format!("transcripts/{id}/transcript.txt"),
        b"[00:30] Giveaway time! [10:00] Here is the new game.",
    )
    .await;
    let analyzer = Analyzer::new(&servers.sdk_config().await, config(&fx));

    servers.bedrock.reply_with(good_answer());
    let out = analyzer.handle(&transcript_event(&fx, id)).await.unwrap();
    assert_eq!(
        out,
        Outcome::Analyzed {
            episode_id: id.into(),
            clip_count: 2
        }
    );

    // The model was asked with the transcript and the memory's context.
    let asked: Vec<Value> = servers
        .bedrock
        .requests()
        .into_iter()
        .filter(|r| {
            r.path == format!("/model/{MODEL}/invoke")
                && r.json().to_string().contains("Here is the new game")
        })
        .map(|r| r.json())
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["anthropic_version"], "bedrock-2023-05-31");
    let text = asked[0]["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.contains("Here is the new game") && text.contains("Launch stream"),
        "{text}"
    );
    assert!(
        text.contains("USER: The host promised a giveaway"),
        "{text}"
    );

    // Stored: clips in start order, the episode analysed.
    assert_eq!(fx.partition(id).await, ["CLIP#001", "CLIP#002", "EPISODE"]);
    let first = fx.item(&format!("EPISODE#{id}"), "CLIP#001").await.unwrap();
    assert_eq!(
        (first["title"].as_str(), first["start_seconds"].as_str()),
        ("Giveaway", "30")
    );
    let item = fx.item(&format!("EPISODE#{id}"), "EPISODE").await.unwrap();
    assert_eq!(item["status"], "analyzed");
    assert_eq!(item["clip_count"], "2");
    assert_eq!(
        item["transcript_key"],
        format!("transcripts/{id}/transcript.txt")
    );

    // Remembered: a user and an assistant turn in the episode's session.
    let events = servers.agentcore.events(ACTOR_ID, id);
    assert_eq!(events.len(), 2, "{events:?}");
    let payload = &events[1]["payload"];
    assert_eq!(payload[0]["conversational"]["role"], "USER");
    assert_eq!(payload[1]["conversational"]["role"], "ASSISTANT");
    assert!(payload[1]["conversational"]["content"]["text"]
        .as_str()
        .unwrap()
        .contains("The reveal"));

    // Malformed answers: refused, logged, nothing changes.
    for bad in [
        "I am sorry, I cannot find clips.",
        r#"{"clips": [{"start_seconds": 50, "end_seconds": 10, "title": "x", "reason": "y", "score": 0.5}]}"#,
        r#"{"clips": [{"start": 1}]}"#,
    ] {
        servers.bedrock.reply_with(bad);
        let out = analyzer.handle(&transcript_event(&fx, id)).await.unwrap();
        assert!(matches!(out, Outcome::Rejected { .. }), "{bad} → {out:?}");
    }
    assert_eq!(fx.partition(id).await, ["CLIP#001", "CLIP#002", "EPISODE"]);
    assert_eq!(
        fx.item(&format!("EPISODE#{id}"), "EPISODE").await.unwrap()["clip_count"],
        "2"
    );
    assert_eq!(servers.agentcore.events(ACTOR_ID, id).len(), 2);

    // A new analysis with fewer clips replaces the old ones.
    servers.bedrock.reply_with(r#"{"clips": [{"start_seconds": 1, "end_seconds": 9, "title": "Only", "reason": "One", "score": 0.5}]}"#);
    let out = analyzer.handle(&transcript_event(&fx, id)).await.unwrap();
    assert_eq!(
        out,
        Outcome::Analyzed {
            episode_id: id.into(),
            clip_count: 1
        }
    );
    assert_eq!(fx.partition(id).await, ["CLIP#001", "EPISODE"]);
    assert_eq!(store.clips(id).await.unwrap()[0].title, "Only");
    // The earlier analysis was context for this one.
    let last = servers.bedrock.requests().last().unwrap().json();
    assert!(last.to_string().contains("The reveal"), "{last}");

    // Before chunking: clips stored, status kept.
    let early = "c1111111-2222-4333-8444-555555555555";
    episode(&fx, early, false).await;
    fx.put_object(&format!("transcripts/{early}/transcript.txt"), b"hello")
        .await;
    servers.bedrock.reply_with(good_answer());
    analyzer
        .handle(&transcript_event(&fx, early))
        .await
        .unwrap();
    let item = fx
        .item(&format!("EPISODE#{early}"), "EPISODE")
        .await
        .unwrap();
    assert_eq!(
        (item["status"].as_str(), item["clip_count"].as_str()),
        ("created", "2")
    );

    // Unknown episodes and other keys are dropped.
    let unknown = "d1111111-2222-4333-8444-555555555555";
    assert!(matches!(
        analyzer
            .handle(&transcript_event(&fx, unknown))
            .await
            .unwrap(),
        Outcome::Dropped { .. }
    ));
    let other: clips_core::events::EventBridgeEvent<clips_core::events::ObjectCreated> =
        serde_json::from_value(object_created_event(
            &fx.bucket,
            &format!("uploads/{id}/video"),
            1,
            "e",
        ))
        .unwrap();
    assert!(matches!(
        analyzer.handle(&other).await.unwrap(),
        Outcome::Dropped { .. }
    ));
}

#[tokio::test]
async fn a_missing_memory_is_an_error_before_the_model_is_asked() {
    let servers = Servers::shared();
    let fx = Fixture::new().await;
    let id = "e1111111-2222-4333-8444-555555555555";
    episode(&fx, id, true).await;
    fx.put_object(&format!("transcripts/{id}/transcript.txt"), b"text")
        .await;
    let mut cfg = config(&fx);
    cfg.memory_id = "no-such-memory".into();
    let err = Analyzer::new(&servers.sdk_config().await, cfg)
        .handle(&transcript_event(&fx, id))
        .await
        .unwrap_err();
    assert!(err.0.contains("ListEvents"), "{err}");
    assert_eq!(fx.partition(id).await, ["EPISODE"]);
}

#[test]
fn the_built_binary_analyzes_a_transcript() {
    let servers = Servers::shared();
    // Its own Bedrock, so the scripted answer is not shared with the tests
    // running beside it.
    let bedrock = FakeBedrock::start();
    bedrock.reply_with(good_answer());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let id = "f1111111-2222-4333-8444-555555555555";
    rt.block_on(episode(&fx, id, true));
    rt.block_on(fx.put_object(&format!("transcripts/{id}/transcript.txt"), b"text"));
    let mut env = servers.env();
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
    env.extend([
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME".to_string(),
            bedrock.endpoint.clone(),
        ),
        ("TABLE_NAME".to_string(), fx.table.clone()),
        ("BUCKET_NAME".to_string(), fx.bucket.clone()),
        ("MEMORY_ID".to_string(), MEMORY_ID.to_string()),
        ("MODEL_ID".to_string(), MODEL.to_string()),
    ]);
    let (outcomes, init) = invoke_binary_timed(
        env!("CARGO_BIN_EXE_analyze-transcript"),
        vec![object_created_event(
            &fx.bucket,
            &format!("transcripts/{id}/transcript.txt"),
            4,
            "t",
        )],
        &env,
    );
    assert_eq!(
        outcomes[0],
        Invoked::Response(json!({"outcome": "analyzed", "episode_id": id, "clip_count": 2}))
    );
    assert_eq!(bedrock.requests().len(), 1);
    eprintln!(
        "COLD START analyze-transcript: {:?}",
        init.expect("init time")
    );
}
