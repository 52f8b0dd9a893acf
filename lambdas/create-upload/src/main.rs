//! Lambda entry point: logging, configuration, clients, runtime.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_shared::logging::init();
    let cfg = create_upload::Config::from_env()?;
    let (objects, sessions) = lambda_shared::upload::from_env().await?;
    lambda_shared::http::run(|req| {
        let (cfg, objects, sessions) = (&cfg, &objects, &sessions);
        async move {
            create_upload::handle(cfg, objects, sessions, &req, lambda_shared::now_epoch()).await
        }
    })
    .await
}
