//! Lambda entry point: logging, configuration, stores, the Replicate
//! client, the queue, runtime. The schedule's event carries nothing the
//! run needs; the answer is the run's summary.

use check_stuck_jobs::{Checker, Config, Emf, Stores, REPLICATE_TIMEOUT};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::time::{Instant, SystemTime};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let config = Config::from_env()?;
    // Read here so a missing namespace stops the function at start-up.
    lambda_shared::config::var("METRICS_NAMESPACE")?;
    let sdk = lambda_shared::config::aws().await;
    let stores = Stores::from_env(&sdk)?;
    let mut replicate = media_stores::replicate_config(&sdk).await?;
    replicate.timeout = REPLICATE_TIMEOUT;
    let checker = &Checker {
        config,
        stores,
        replicate: media_core::replicate::Client::new(&replicate)?,
        sqs: aws_sdk_sqs::Client::new(&sdk),
        metrics: Emf,
    };
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let summary = checker
                .run(media_core::now_epoch(), Some(Instant::now() + left))
                .await?;
            Ok::<_, Error>(serde_json::to_value(summary)?)
        },
    ))
    .await
}
