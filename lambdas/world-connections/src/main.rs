//! Lambda entry point: logging, configuration, clients, runtime.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_shared::logging::init();
    let cfg = world_connections::Config::from_env()?;
    let sdk = lambda_shared::config::aws().await;
    let connections = world_connections::DynamoConnections {
        client: aws_sdk_dynamodb::Client::new(&sdk),
        table: cfg.table,
    };
    let connections = &connections;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, lambda_runtime::Error>(
                world_connections::handle(connections, event.payload, lambda_shared::now_epoch())
                    .await,
            )
        },
    ))
    .await
}
