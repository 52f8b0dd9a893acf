//! Lambda entry point: logging, configuration, clients, runtime.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_shared::logging::init();
    let cfg = qr_websocket_event::Config::from_env()?;
    let sdk = lambda_shared::config::aws().await;
    let sessions = lambda_shared::qr::DynamoQrSessions {
        client: aws_sdk_dynamodb::Client::new(&sdk),
        table: cfg.table.clone(),
    };
    let connections = qr_websocket_event::ApiConnections::new(&sdk, &cfg.ws_endpoint);
    let (sessions, connections) = (&sessions, &connections);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            qr_websocket_event::handle(
                sessions,
                connections,
                event.payload,
                lambda_shared::now_epoch(),
            )
            .await
            .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
