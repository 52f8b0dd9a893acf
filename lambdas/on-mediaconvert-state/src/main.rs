//! Lambda entry point: logging, configuration, clients, runtime.

use clips_core::events::{EventBridgeEvent, JobStateChange};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let config = on_mediaconvert_state::Config::from_env()?;
    let sdk = lambda_shared::config::aws().await;
    let recorder = &on_mediaconvert_state::Recorder::new(&sdk, config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<JobStateChange>>| async move {
            recorder.handle(&event.payload).await.map_err(Error::from)
        },
    ))
    .await
}
