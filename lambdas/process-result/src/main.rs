//! Lambda entry point: logging, configuration, clients, runtime.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use media_stores::cache::Cache;
use media_stores::postgres::Jobs;
use media_stores::realtime::Realtime;
use process_result::{Config, Processor, DOWNLOAD_TIMEOUT};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let config = Config::from_env()?;
    let sdk = lambda_shared::config::aws().await;
    let mut replicate = media_stores::replicate_config(&sdk).await?;
    // Outputs can be large: a download gets longer than an API call.
    replicate.timeout = DOWNLOAD_TIMEOUT;
    let processor = &Processor {
        replicate: media_core::replicate::Client::new(&replicate)?,
        jobs: Jobs::new(config.db, &sdk),
        cache: Cache::new(config.cache, &sdk),
        realtime: Realtime::new(&sdk, config.realtime_table),
        s3: lambda_shared::config::s3_client(&sdk),
        bucket: config.media_bucket,
        max_output_bytes: config.max_output_bytes,
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = std::time::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        Ok::<_, Error>(
            processor
                .handle(&event.payload, media_core::now_epoch(), Some(deadline))
                .await,
        )
    }))
    .await
}
