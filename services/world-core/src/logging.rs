//! Structured JSON logs on stdout, one object per line with a timestamp
//! (ECS's awslogs driver ships stdout to CloudWatch Logs as is). `RUST_LOG`
//! sets the level (default `info`).

/// Installs the JSON subscriber; call once at the top of `main`.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .try_init();
}
