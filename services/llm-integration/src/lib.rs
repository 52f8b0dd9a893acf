//! llm-integration: text generation and embeddings through Amazon
//! Bedrock's runtime API, with answers cached in Redis.
//!
//! | route | Bedrock call | answer |
//! |---|---|---|
//! | `POST /llm/generate` `{prompt, max_tokens?, temperature?, system?}` | Converse on `BEDROCK_TEXT_MODEL` | `{text, model, usage, stop_reason, cached}` |
//! | `POST /llm/embed` `{text}` | InvokeModel on `BEDROCK_EMBEDDING_MODEL` (Titan: `{"inputText"}` → `{"embedding", "inputTextTokenCount"}`) | `{embedding, model, input_tokens, cached}` |
//!
//! Answers are cached under `llm:{generate|embed}:{sha256 of model and
//! request}` for `CACHE_TTL_SECONDS`; a cache that is down slows requests
//! but does not fail them. Bedrock's throttling is a 429 with
//! `Retry-After`, its validation errors a 400, a model not ready or
//! timing out a 503, anything else a 502.

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message,
    SystemContentBlock,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use world_core::cache::{Cache, CacheConfig};
use world_core::config::{self, ConfigError};
use world_core::error::parse_json;
use world_core::server::Service;
use world_core::{sha256_hex, ApiError};

/// Who this service is.
pub const SERVICE: Service = Service {
    name: "llm-integration",
    prefix: "/llm",
    version: env!("CARGO_PKG_VERSION"),
};

/// The text model unless `BEDROCK_TEXT_MODEL` says otherwise.
pub const DEFAULT_TEXT_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// The embeddings model unless `BEDROCK_EMBEDDING_MODEL` says otherwise.
pub const DEFAULT_EMBEDDING_MODEL: &str = "amazon.titan-embed-text-v2:0";
/// Longest prompt or text accepted, in characters.
pub const MAX_PROMPT: usize = 100_000;
/// Largest `max_tokens`.
pub const MAX_TOKENS: u32 = 4096;
/// Seconds a client is asked to wait after throttling when Bedrock does
/// not say.
pub const RETRY_AFTER: u64 = 2;

/// Settings from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `BEDROCK_TEXT_MODEL`.
    pub text_model: String,
    /// `BEDROCK_EMBEDDING_MODEL`.
    pub embedding_model: String,
    /// `CACHE_TTL_SECONDS` (default 3600).
    pub cache_ttl: u64,
    /// `CACHE_*`.
    pub cache: CacheConfig,
}

impl Config {
    /// Reads the models, the cache lifetime and Redis's location.
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            text_model: config::optional("BEDROCK_TEXT_MODEL")
                .unwrap_or_else(|| DEFAULT_TEXT_MODEL.into()),
            embedding_model: config::optional("BEDROCK_EMBEDDING_MODEL")
                .unwrap_or_else(|| DEFAULT_EMBEDDING_MODEL.into()),
            cache_ttl: config::parse_or("CACHE_TTL_SECONDS", 3600)?,
            cache: CacheConfig::from_env()?,
        })
    }
}

/// What every request uses.
pub struct App {
    /// Bedrock runtime.
    pub bedrock: aws_sdk_bedrockruntime::Client,
    /// Redis.
    pub cache: Cache,
    /// Settings.
    pub config: Config,
}

impl App {
    /// Clients for `sdk` (Bedrock's endpoint from
    /// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` when set).
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Result<Arc<App>, redis::RedisError> {
        Ok(Arc::new(App {
            bedrock: aws_sdk_bedrockruntime::Client::new(sdk),
            cache: Cache::new(&config.cache)?,
            config,
        }))
    }

    /// The cached answer at `key`; a cache failure counts as a miss.
    async fn cached<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.cache.get_json(key).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cache read failed; asking Bedrock");
                None
            }
        }
    }

    async fn remember<T: Serialize>(&self, key: &str, value: &T) {
        if let Err(e) = self.cache.set_json(key, value, self.config.cache_ttl).await {
            tracing::warn!(error = %e, "cache write failed");
        }
    }
}

/// The routes, with `app` as their state.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/llm/generate", post(generate))
        .route("/llm/embed", post(embed))
        .with_state(app)
}

/// `POST /llm/generate`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// The user's message.
    pub prompt: Option<String>,
    /// Most tokens to generate (1..=4096, default 512).
    pub max_tokens: Option<u32>,
    /// Sampling temperature (0..=1).
    pub temperature: Option<f32>,
    /// A system prompt.
    pub system: Option<String>,
}

/// A validated generate request: what the cache key is made of.
#[derive(Debug, Serialize)]
struct Generate {
    op: &'static str,
    model: String,
    prompt: String,
    max_tokens: u32,
    temperature: Option<f32>,
    system: Option<String>,
}

/// Token counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: i32,
    /// Generated tokens.
    pub output_tokens: i32,
    /// Both.
    pub total_tokens: i32,
}

/// `POST /llm/generate`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generated {
    /// The generated text.
    pub text: String,
    /// The model that made it.
    pub model: String,
    /// Token counts.
    pub usage: Usage,
    /// Why generation stopped (`end_turn`, `max_tokens`, ...).
    pub stop_reason: String,
    /// Whether this came from the cache.
    pub cached: bool,
}

/// The Redis key for a request: its kind and the SHA-256 of its canonical
/// JSON (model included, so a model change misses).
fn cache_key<T: Serialize>(op: &str, request: &T) -> String {
    let json = serde_json::to_vec(request).unwrap_or_default();
    format!("llm:{op}:{}", sha256_hex(&json))
}

fn validate_generate(req: GenerateRequest, model: &str) -> Result<Generate, ApiError> {
    let prompt = req.prompt.unwrap_or_default();
    if prompt.trim().is_empty() {
        return Err(ApiError::field("prompt", "is required"));
    }
    if prompt.chars().count() > MAX_PROMPT {
        return Err(ApiError::field(
            "prompt",
            format!("is longer than {MAX_PROMPT} characters"),
        ));
    }
    let max_tokens = req.max_tokens.unwrap_or(512);
    if !(1..=MAX_TOKENS).contains(&max_tokens) {
        return Err(ApiError::field(
            "max_tokens",
            format!("must be from 1 to {MAX_TOKENS}"),
        ));
    }
    if let Some(t) = req.temperature {
        if !(0.0..=1.0).contains(&t) {
            return Err(ApiError::field("temperature", "must be from 0 to 1"));
        }
    }
    let system = req.system.filter(|s| !s.trim().is_empty());
    if system
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_PROMPT)
    {
        return Err(ApiError::field(
            "system",
            format!("is longer than {MAX_PROMPT} characters"),
        ));
    }
    Ok(Generate {
        op: "generate",
        model: model.to_string(),
        prompt,
        max_tokens,
        temperature: req.temperature,
        system,
    })
}

async fn generate(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<Generated>, ApiError> {
    let req = validate_generate(parse_json(&body)?, &app.config.text_model)?;
    let key = cache_key("generate", &req);
    if let Some(mut hit) = app.cached::<Generated>(&key).await {
        hit.cached = true;
        tracing::info!(model = %req.model, "generate: cache hit");
        return Ok(Json(hit));
    }
    let message = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(req.prompt.clone()))
        .build()
        .map_err(|e| ApiError::internal("building a Converse message", &e))?;
    let inference = InferenceConfiguration::builder()
        .max_tokens(req.max_tokens as i32)
        .set_temperature(req.temperature)
        .build();
    let mut call = app
        .bedrock
        .converse()
        .model_id(&req.model)
        .messages(message)
        .inference_config(inference);
    if let Some(system) = &req.system {
        call = call.system(SystemContentBlock::Text(system.clone()));
    }
    let out = call
        .send()
        .await
        .map_err(|e| bedrock_error("Converse", e))?;
    let text = match out.output() {
        Some(ConverseOutput::Message(m)) => m
            .content()
            .iter()
            .filter_map(|b| b.as_text().ok().cloned())
            .collect::<Vec<_>>()
            .join(""),
        _ => {
            return Err(ApiError::BadGateway(
                "Bedrock's Converse answer has no message".into(),
            ))
        }
    };
    let usage = out.usage().map_or(
        Usage {
            input_tokens: 0,
            output_tokens: 0,
            total_tokens: 0,
        },
        |u| Usage {
            input_tokens: u.input_tokens(),
            output_tokens: u.output_tokens(),
            total_tokens: u.total_tokens(),
        },
    );
    let answer = Generated {
        text,
        model: req.model.clone(),
        usage,
        stop_reason: out.stop_reason().as_str().to_string(),
        cached: false,
    };
    tracing::info!(model = %answer.model, input_tokens = answer.usage.input_tokens, output_tokens = answer.usage.output_tokens, "generated");
    app.remember(&key, &answer).await;
    Ok(Json(answer))
}

/// `POST /llm/embed`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedRequest {
    /// The text to embed.
    pub text: Option<String>,
}

#[derive(Debug, Serialize)]
struct Embed {
    op: &'static str,
    model: String,
    text: String,
}

/// `POST /llm/embed`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Embedded {
    /// The vector.
    pub embedding: Vec<f32>,
    /// The model that made it.
    pub model: String,
    /// Tokens in the text.
    pub input_tokens: u32,
    /// Whether this came from the cache.
    pub cached: bool,
}

/// Titan's InvokeModel answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanEmbedding {
    embedding: Vec<f32>,
    #[serde(default)]
    input_text_token_count: u32,
}

async fn embed(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<Embedded>, ApiError> {
    let req: EmbedRequest = parse_json(&body)?;
    let text = req.text.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::field("text", "is required"));
    }
    if text.chars().count() > MAX_PROMPT {
        return Err(ApiError::field(
            "text",
            format!("is longer than {MAX_PROMPT} characters"),
        ));
    }
    let req = Embed {
        op: "embed",
        model: app.config.embedding_model.clone(),
        text,
    };
    let key = cache_key("embed", &req);
    if let Some(mut hit) = app.cached::<Embedded>(&key).await {
        hit.cached = true;
        tracing::info!(model = %req.model, "embed: cache hit");
        return Ok(Json(hit));
    }
    let body = serde_json::json!({"inputText": req.text});
    let out = app
        .bedrock
        .invoke_model()
        .model_id(&req.model)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .map_err(|e| bedrock_error("InvokeModel", e))?;
    let titan: TitanEmbedding = serde_json::from_slice(out.body().as_ref()).map_err(|e| {
        ApiError::BadGateway(format!(
            "Bedrock's embedding answer is not Titan's shape: {e}"
        ))
    })?;
    if titan.embedding.is_empty() {
        return Err(ApiError::BadGateway(
            "Bedrock returned an empty embedding".into(),
        ));
    }
    let answer = Embedded {
        embedding: titan.embedding,
        model: req.model.clone(),
        input_tokens: titan.input_text_token_count,
        cached: false,
    };
    tracing::info!(model = %answer.model, dimensions = answer.embedding.len(), "embedded");
    app.remember(&key, &answer).await;
    Ok(Json(answer))
}

/// A Bedrock failure as the answer the client should see.
fn bedrock_error<E>(
    operation: &str,
    e: aws_sdk_bedrockruntime::error::SdkError<
        E,
        aws_sdk_bedrockruntime::config::http::HttpResponse,
    >,
) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = e.code().unwrap_or_default().to_string();
    let message = e.message().unwrap_or_default().to_string();
    let retry_after = e
        .raw_response()
        .and_then(|r| r.headers().get("retry-after"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(RETRY_AFTER);
    match code.as_str() {
        "ThrottlingException" | "ServiceQuotaExceededException" => ApiError::TooManyRequests {
            message: format!("Bedrock is throttling requests: {message}"),
            retry_after,
        },
        "ValidationException" => ApiError::BadRequest {
            code: "invalid_request",
            message: format!("Bedrock rejected the request: {message}"),
        },
        "ModelNotReadyException" | "ModelTimeoutException" | "ServiceUnavailableException" => {
            ApiError::Unavailable(format!("Bedrock {operation}: {code}: {message}"))
        }
        "" => ApiError::BadGateway(format!(
            "Bedrock {operation} failed: {}",
            world_core::chain(&e)
        )),
        _ => ApiError::BadGateway(format!("Bedrock {operation}: {code}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(prompt: &str) -> GenerateRequest {
        GenerateRequest {
            prompt: Some(prompt.into()),
            max_tokens: None,
            temperature: None,
            system: None,
        }
    }

    #[test]
    fn generate_requests_are_checked() {
        assert!(validate_generate(req(" "), "m").is_err());
        let mut r = req("hi");
        r.max_tokens = Some(0);
        assert!(validate_generate(r, "m").is_err());
        let mut r = req("hi");
        r.temperature = Some(1.5);
        let e = validate_generate(r, "m").unwrap_err();
        assert!(e.to_string().starts_with("temperature"), "{e}");
        let ok = validate_generate(req("hi"), "m").unwrap();
        assert_eq!(ok.max_tokens, 512);
    }

    #[test]
    fn cache_keys_depend_on_model_and_request() {
        let a = cache_key("generate", &validate_generate(req("hi"), "m1").unwrap());
        let b = cache_key("generate", &validate_generate(req("hi"), "m1").unwrap());
        let c = cache_key("generate", &validate_generate(req("hi"), "m2").unwrap());
        let d = cache_key("generate", &validate_generate(req("ho"), "m1").unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert!(a.starts_with("llm:generate:") && a.len() == "llm:generate:".len() + 64);
    }
}
