//! Lambda entry point: logging, configuration, the keys' secret, runtime.

use aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use media_authorizer::{decide, Cached, SecretKeys};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let secret = lambda_shared::config::var("API_KEYS_SECRET_ARN")?;
    let sdk = lambda_shared::config::aws().await;
    let keys = &Cached::new(SecretKeys::new(&sdk, secret));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| async move {
            let keys = keys.keys().await?;
            Ok::<_, Error>(decide(&keys, &event.payload))
        },
    ))
    .await
}
