//! Lambda entry point: logging, clients, runtime.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let (objects, sessions) = lambda_shared::upload::from_env().await?;
    let (objects, sessions) = (&objects, &sessions);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let now = lambda_shared::now_epoch();
        Ok::<_, Error>(process_object::handle(objects, sessions, &event.payload, now).await?)
    }))
    .await
}
