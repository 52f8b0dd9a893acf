//! Lambda entry point: logging, configuration, clients, runtime.

use clips_core::events::{EventBridgeEvent, ObjectCreated};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let config = analyze_transcript::Config::from_env()?;
    let sdk = lambda_shared::config::aws().await;
    let analyzer = &analyze_transcript::Analyzer::new(&sdk, config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<ObjectCreated>>| async move {
            analyzer.handle(&event.payload).await.map_err(Error::from)
        },
    ))
    .await
}
