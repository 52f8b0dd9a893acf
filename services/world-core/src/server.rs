//! The app skeleton every service runs: `GET /health` and
//! `GET <prefix>/health` (the load balancer forwards only the service's own
//! paths, so the prefixed one is reachable through it), a log line per
//! request, JSON 404/405 answers, and graceful shutdown on SIGTERM (how ECS
//! stops a task) or Ctrl-C: the listener closes and requests in flight
//! finish.

use crate::error::{body, ApiError};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::time::Instant;

/// Who a service is.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Its name, as in `/health` answers (`world-management`).
    pub name: &'static str,
    /// The path prefix the load balancer routes to it (`/worlds`).
    pub prefix: &'static str,
    /// Its version (`CARGO_PKG_VERSION` of the service crate).
    pub version: &'static str,
}

impl Service {
    /// The `/health` answer.
    pub fn health(&self) -> serde_json::Value {
        json!({"status": "ok", "service": self.name, "version": self.version})
    }

    /// `routes` (state already applied) with the health endpoints, request
    /// logs and JSON fallbacks.
    pub fn app(self, routes: Router) -> Router {
        let health = move || async move { Json(self.health()) };
        routes
            .route("/health", get(health))
            .route(&format!("{}/health", self.prefix), get(health))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn(log_request))
    }

    /// Serves `app` on 0.0.0.0:`port` until SIGTERM or Ctrl-C.
    pub async fn serve(self, app: Router, port: u16) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
        tracing::info!(
            service = self.name,
            version = self.version,
            port = listener.local_addr()?.port(),
            "listening"
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        tracing::info!(service = self.name, "stopped");
        Ok(())
    }
}

async fn not_found() -> Response {
    ApiError::NotFound("no such route".into()).into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(body(
            "method_not_allowed",
            "method not allowed on this route",
        )),
    )
        .into_response()
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    // Health checks every few seconds would drown the rest.
    if path.ends_with("/health") {
        tracing::debug!(%method, path, status, ms, "request");
    } else {
        tracing::info!(%method, path, status, ms, "request");
    }
    response
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
