//! The built authorizer against moto's Secrets Manager, through the Lambda
//! Runtime API: a known key passes with its user, others are refused.

use lambda_shared::testing::{invoke_binary, unique, Moto, Outcome};
use serde_json::{json, Value};

fn event(authorization: Option<&str>) -> Value {
    let mut headers = serde_json::Map::new();
    if let Some(a) = authorization {
        headers.insert("authorization".into(), a.into());
    }
    json!({
        "version": "2.0",
        "type": "REQUEST",
        "routeKey": "POST /generate-media",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/generate-media"}},
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_from_the_secret_decide_who_passes() {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let name = unique("api-keys");
    let keys = json!({"keys": {media_authorizer::hash("k-123"): {"user_id": "u-7"}}});
    sm.create_secret()
        .name(&name)
        .secret_string(keys.to_string())
        .send()
        .await
        .unwrap();
    let mut env = moto.env();
    env.push(("API_KEYS_SECRET_ARN".into(), name));
    let outcomes = invoke_binary(
        env!("CARGO_BIN_EXE_media-authorizer"),
        vec![
            event(Some("Bearer k-123")),
            event(Some("Bearer nope")),
            event(None),
        ],
        &env,
    );
    assert_eq!(
        outcomes,
        [
            Outcome::Response(json!({"isAuthorized": true, "context": {"userId": "u-7"}})),
            Outcome::Response(json!({"isAuthorized": false, "context": {"userId": ""}})),
            Outcome::Response(json!({"isAuthorized": false, "context": {"userId": ""}})),
        ]
    );
}
