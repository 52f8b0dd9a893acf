//! Lambda entry point: logging, clients, runtime.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_shared::logging::init();
    let (objects, sessions) = lambda_shared::upload::from_env().await?;
    lambda_shared::http::run(|req| {
        let (objects, sessions) = (&objects, &sessions);
        async move { complete_upload::handle(objects, sessions, &req, lambda_shared::now_epoch()).await }
    })
    .await
}
