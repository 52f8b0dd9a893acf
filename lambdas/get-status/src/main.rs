//! Lambda entry point: logging, configuration, stores, S3, runtime.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use get_status::{respond, Config, Service, Stores};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let config = Config::from_env()?;
    let sdk = lambda_shared::config::aws().await;
    let service = &Service {
        config,
        stores: Stores::from_env(&sdk)?,
        s3: lambda_shared::config::s3_client(&sdk),
    };
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            // Boxed: the nested futures (S3 presigning, the stores) are
            // otherwise too deep for the compiler's layout queries.
            let outcome = Box::pin(service.handle(&event.payload)).await;
            Ok::<_, Error>(respond(outcome, &event.context.request_id))
        },
    ))
    .await
}
