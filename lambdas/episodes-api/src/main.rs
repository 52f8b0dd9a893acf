//! Lambda entry point: logging, configuration, clients, runtime.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let config = episodes_api::Config::from_env()?;
    let sdk = lambda_shared::config::aws().await;
    let api = &episodes_api::Api::new(&sdk, config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            Ok::<_, Error>(api.handle(&event.payload, &event.context.request_id).await)
        },
    ))
    .await
}
