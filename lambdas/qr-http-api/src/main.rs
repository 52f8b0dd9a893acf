//! Lambda entry point: logging, configuration, clients, runtime. Events are
//! taken as raw JSON so that one which is not an HTTP API request gets a 400
//! naming the field instead of a runtime deserialisation error.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_shared::logging::init();
    let cfg = qr_http_api::Config::from_env()?;
    let sdk = lambda_shared::config::aws().await;
    let objects = lambda_shared::objects::S3Objects {
        client: lambda_shared::config::s3_client(&sdk),
        bucket: cfg.bucket.clone(),
    };
    let sessions = lambda_shared::qr::DynamoQrSessions {
        client: aws_sdk_dynamodb::Client::new(&sdk),
        table: cfg.table.clone(),
    };
    let (cfg, objects, sessions) = (&cfg, &objects, &sessions);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let now = lambda_shared::now_epoch();
            let response = qr_http_api::handle_event(
                cfg,
                objects,
                sessions,
                event.payload,
                &event.context.request_id,
                now,
            )
            .await;
            Ok::<_, lambda_runtime::Error>(response)
        },
    ))
    .await
}
