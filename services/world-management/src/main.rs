//! world-management: configuration, clients, and the HTTP server.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    world_core::logging::init();
    let config = world_management::Config::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "bad configuration");
    })?;
    let port = world_core::config::port()?;
    let sdk = world_core::aws().await;
    let app = world_management::App::new(&sdk, config);
    let service = world_management::SERVICE;
    service
        .serve(service.app(world_management::router(app)), port)
        .await?;
    Ok(())
}
