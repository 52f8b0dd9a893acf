//! llm-integration run as a process against a real Redis and a local
//! Bedrock runtime API: generate and embed, a cache hit on the second call
//! (the fake sees one request), throttling as 429 with Retry-After,
//! validation as 400.

use serde_json::json;
use world_testing::{redis_env, FakeBedrock, Service};

const BIN: &str = env!("CARGO_BIN_EXE_llm-integration");

fn start(bedrock: &FakeBedrock, extra: &[(&str, &str)]) -> Service {
    let mut env = redis_env();
    env.extend([
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME".to_string(),
            bedrock.endpoint.clone(),
        ),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        // Throttling answers fast: no SDK retries behind the 429.
        ("AWS_MAX_ATTEMPTS".into(), "1".into()),
    ]);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Service::start(BIN, &env)
}

/// A prompt no other test (or earlier run against the same Redis) used.
fn fresh(text: &str) -> String {
    format!("{text} {}", uuid_like())
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{t:x}-{}", std::process::id())
}

#[test]
fn generate_is_cached() {
    let bedrock = FakeBedrock::start();
    let svc = start(
        &bedrock,
        &[(
            "BEDROCK_TEXT_MODEL",
            "anthropic.claude-3-haiku-20240307-v1:0",
        )],
    );
    eprintln!(
        "llm-integration: first /health {:?} after spawn",
        svc.startup
    );
    assert_eq!(svc.get("/llm/health").body["service"], "llm-integration");
    let prompt = fresh("Say hello");
    let body =
        json!({"prompt": prompt, "max_tokens": 50, "temperature": 0.2, "system": "Be brief."});
    let first = svc.post("/llm/generate", &body);
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(
        first.body["text"],
        format!("talk. You said: {prompt}").as_str()
    );
    assert_eq!(
        first.body["model"],
        "anthropic.claude-3-haiku-20240307-v1:0"
    );
    assert_eq!(first.body["stop_reason"], "end_turn");
    assert_eq!(first.body["usage"]["output_tokens"], 5);
    assert_eq!(first.body["cached"], false);

    // What Bedrock received: Converse on the model, with the documented body.
    let requests = bedrock.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        "/model/anthropic.claude-3-haiku-20240307-v1:0/converse"
    );
    let sent = r.json();
    assert_eq!(sent["messages"][0]["role"], "user");
    assert_eq!(sent["messages"][0]["content"][0]["text"], prompt.as_str());
    assert_eq!(sent["system"][0]["text"], "Be brief.");
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 50);
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k == "authorization" && v.starts_with("AWS4-HMAC-SHA256")),
        "signed"
    );

    let second = svc.post("/llm/generate", &body);
    assert_eq!(second.status, 200);
    assert_eq!(second.body["cached"], true);
    assert_eq!(second.body["text"], first.body["text"]);
    assert_eq!(
        bedrock.requests().len(),
        1,
        "the second call is served from Redis"
    );

    // Another temperature is another request.
    let mut other = body.clone();
    other["temperature"] = json!(0.9);
    assert_eq!(svc.post("/llm/generate", &other).body["cached"], false);
    assert_eq!(bedrock.requests().len(), 2);
}

#[test]
fn embed_is_cached() {
    let bedrock = FakeBedrock::start();
    let svc = start(&bedrock, &[]);
    let text = fresh("the cafe opens at nine");
    let first = svc.post("/llm/embed", &json!({"text": text}));
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["model"], "amazon.titan-embed-text-v2:0");
    assert_eq!(
        first.body["embedding"],
        json!([text.chars().count() as f64, 0.5, -0.25])
    );
    assert_eq!(first.body["input_tokens"], text.split_whitespace().count());
    assert_eq!(first.body["cached"], false);
    let requests = bedrock.requests();
    assert_eq!(
        requests[0].path,
        "/model/amazon.titan-embed-text-v2:0/invoke"
    );
    assert_eq!(requests[0].json(), json!({"inputText": text}));
    let second = svc.post("/llm/embed", &json!({"text": text}));
    assert_eq!(second.body["cached"], true);
    assert_eq!(second.body["embedding"], first.body["embedding"]);
    assert_eq!(bedrock.requests().len(), 1);
}

#[test]
fn bedrock_errors_and_bad_requests() {
    let bedrock = FakeBedrock::start();
    let svc = start(&bedrock, &[]);
    let r = svc.post("/llm/generate", &json!({"prompt": fresh("THROTTLE me")}));
    assert_eq!(r.status, 429, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "throttled");
    assert_eq!(r.retry_after.as_deref(), Some("2"));
    let r = svc.post("/llm/generate", &json!({"prompt": fresh("INVALID please")}));
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "invalid_request");
    assert_eq!(
        bedrock.requests().len(),
        2,
        "errors are not cached, nor retried"
    );

    for (path, body) in [
        ("/llm/generate", json!({})),
        ("/llm/generate", json!({"prompt": "x", "max_tokens": 0})),
        ("/llm/generate", json!({"prompt": "x", "temperature": 2})),
        ("/llm/generate", json!({"prompt": "x", "colour": 1})),
        ("/llm/embed", json!({"text": "  "})),
    ] {
        let r = svc.post(path, &body);
        assert_eq!(r.status, 400, "{path} {body}: {:?}", r.body);
    }
    assert_eq!(
        bedrock.requests().len(),
        2,
        "bad requests never reach Bedrock"
    );
}

#[test]
fn a_down_cache_does_not_fail_requests() {
    let bedrock = FakeBedrock::start();
    let mut env = vec![
        ("CACHE_HOST".to_string(), "127.0.0.1".to_string()),
        ("CACHE_PORT".into(), lambda_shared_free_port().to_string()),
        ("CACHE_TLS".into(), "false".into()),
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME".into(),
            bedrock.endpoint.clone(),
        ),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
    ];
    env.sort();
    let svc = Service::start(BIN, &env);
    let r = svc.post("/llm/generate", &json!({"prompt": "hello"}));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["cached"], false);
}

fn lambda_shared_free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
