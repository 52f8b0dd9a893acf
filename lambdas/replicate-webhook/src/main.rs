//! Lambda entry point: logging, configuration, clients, runtime.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use media_stores::cache::Cache;
use replicate_webhook::{respond, Config, Webhook, SECRET_FETCH_TIMEOUT};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let config = Config::from_env()?;
    let sdk = lambda_shared::config::aws().await;
    let mut replicate = media_stores::replicate_config(&sdk).await?;
    // Its one call, the secret's fetch, must fit in the function's timeout.
    replicate.timeout = SECRET_FETCH_TIMEOUT;
    let replicate = media_core::replicate::Client::new(&replicate)?;
    let webhook = &Webhook::new(
        replicate,
        Cache::new(config.cache, &sdk),
        aws_sdk_sqs::Client::new(&sdk),
        config.queue_url,
    );
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            let outcome = webhook
                .handle(&event.payload, media_core::now_epoch())
                .await;
            Ok::<_, Error>(respond(&outcome, &event.context.request_id))
        },
    ))
    .await
}
