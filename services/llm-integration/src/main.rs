//! llm-integration: configuration, clients, and the HTTP server.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    world_core::logging::init();
    let config = llm_integration::Config::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "bad configuration");
    })?;
    let port = world_core::config::port()?;
    let sdk = world_core::aws().await;
    let app = llm_integration::App::new(&sdk, config)?;
    let service = llm_integration::SERVICE;
    service
        .serve(service.app(llm_integration::router(app)), port)
        .await?;
    Ok(())
}
