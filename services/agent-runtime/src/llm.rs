//! The llm-integration service as agent-runtime calls it (`LLM_URL`, the
//! load balancer's address): `POST /llm/generate` for an agent's decision,
//! `POST /llm/embed` for a memory's embedding. Blocking HTTP on Tokio's
//! blocking pool, with a timeout, so a slow model cannot hold a step
//! forever.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long one call may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A client for llm-integration.
#[derive(Clone)]
pub struct Llm {
    base: String,
    agent: ureq::Agent,
}

impl Llm {
    /// A client for the service at `base` (`http(s)://host[:port]`).
    pub fn new(base: &str) -> Llm {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .user_agent(concat!("agent-runtime/", env!("CARGO_PKG_VERSION")))
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .provider(ureq::tls::TlsProvider::Rustls)
                    .root_certs(ureq::tls::RootCerts::WebPki)
                    .unversioned_rustls_crypto_provider(Arc::new(
                        rustls::crypto::aws_lc_rs::default_provider(),
                    ))
                    .build(),
            )
            .build()
            .into();
        Llm {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// Generated text for `prompt`.
    pub async fn generate(&self, system: &str, prompt: &str) -> Result<String, String> {
        let body =
            json!({"prompt": prompt, "system": system, "max_tokens": 100, "temperature": 0.0});
        let answer: Value = self.post("/llm/generate", body).await?;
        answer
            .get("text")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| "the answer has no `text`".to_string())
    }

    /// The embedding of `text`.
    pub async fn embed(&self, text: &str) -> Result<Vec<f32>, String> {
        #[derive(serde::Deserialize)]
        struct Embedded {
            embedding: Vec<f32>,
        }
        let answer: Embedded = self.post("/llm/embed", json!({"text": text})).await?;
        Ok(answer.embedding)
    }

    async fn post<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        body: Value,
    ) -> Result<T, String> {
        let url = format!("{}{path}", self.base);
        let agent = self.agent.clone();
        tokio::task::spawn_blocking(move || {
            let mut response = agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body.to_string())
                .map_err(|e| format!("POST {url}: {e}"))?;
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .read_to_string()
                .map_err(|e| format!("POST {url}: reading the answer: {e}"))?;
            if status != 200 {
                let shown: String = text.chars().take(300).collect();
                return Err(format!("POST {url}: HTTP {status}: {shown}"));
            }
            serde_json::from_str(&text).map_err(|e| format!("POST {url}: {e}"))
        })
        .await
        .map_err(|e| format!("the HTTP call did not finish: {e}"))?
    }
}
