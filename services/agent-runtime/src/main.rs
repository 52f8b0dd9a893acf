//! agent-runtime: configuration, clients, and the HTTP server.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    world_core::logging::init();
    let config = agent_runtime::Config::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "bad configuration");
    })?;
    let port = world_core::config::port()?;
    let sdk = world_core::aws().await;
    let app = agent_runtime::App::new(&sdk, config)?;
    let service = agent_runtime::SERVICE;
    service
        .serve(service.app(agent_runtime::router(app)), port)
        .await?;
    Ok(())
}
