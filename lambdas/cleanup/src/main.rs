//! Lambda entry point: logging, configuration, clients, runtime.

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_shared::logging::init();
    let cfg = cleanup::Config::from_env()?;
    let (objects, sessions) = lambda_shared::upload::from_env().await?;
    let (cfg, objects, sessions) = (&cfg, &objects, &sessions);
    // The schedule's event carries nothing the cleanup needs.
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(
                cleanup::handle(cfg, objects, sessions, lambda_shared::now_epoch()).await?,
            )
        },
    ))
    .await
}
