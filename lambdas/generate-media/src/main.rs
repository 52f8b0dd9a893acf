//! Lambda entry point: logging, configuration, stores, the Replicate
//! client, runtime.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use generate_media::{respond, Config, Emf, Service, Stores};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let config = Config::from_env()?;
    // Read here so a missing namespace stops the function at start-up.
    lambda_shared::config::var("METRICS_NAMESPACE")?;
    let sdk = lambda_shared::config::aws().await;
    let stores = Stores::from_env(&sdk)?;
    let replicate =
        media_core::replicate::Client::new(&media_stores::replicate_config(&sdk).await?)?;
    let service = &Service {
        config,
        stores,
        replicate,
        metrics: Emf,
    };
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            let outcome = service
                .handle(&event.payload, media_core::now_epoch())
                .await;
            Ok::<_, Error>(respond(outcome, &event.context.request_id))
        },
    ))
    .await
}
