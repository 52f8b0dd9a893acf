//! Lambda entry point: logging, configuration, clients, runtime.

use clips_core::events::{EventBridgeEvent, VideoUploadCompleted};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let config = start_chunking::Config::from_env()?;
    let sdk = lambda_shared::config::aws().await;
    let starter = &start_chunking::Starter::new(&sdk, config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<VideoUploadCompleted>>| async move {
            starter.handle(&event.payload).await.map_err(Error::from)
        },
    ))
    .await
}
