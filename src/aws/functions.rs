//! Lambda in stackctl's words: the two calls a hot-swap makes (update a
//! function's code from the artefact bucket, read where the update is),
//! and their thin SDK implementation.

use super::explain;
use anyhow::{anyhow, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;

/// Where a function's code stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CodeState {
    /// Base64 sha256 of the deployed zip, as Lambda reports it.
    pub code_sha256: String,
    /// `InProgress`, `Successful` or `Failed` (absent before the first
    /// update).
    pub last_update_status: Option<String>,
    /// Why the last update failed.
    pub reason: Option<String>,
}

impl CodeState {
    /// Whether the last update is still being applied.
    pub fn updating(&self) -> bool {
        self.last_update_status.as_deref() == Some("InProgress")
    }
}

/// The Lambda calls stackctl makes.
pub trait Functions {
    /// Points function `name` at the zip `s3://bucket/key`.
    fn update_code(
        &self,
        name: &str,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<CodeState>>;
    /// Where function `name`'s code stands.
    fn code_state(&self, name: &str) -> impl Future<Output = Result<CodeState>>;
}

/// [`Functions`] through the AWS SDK.
pub struct SdkFunctions {
    client: aws_sdk_lambda::Client,
}

impl SdkFunctions {
    /// A client for `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_lambda::Client::new(sdk),
        }
    }
}

/// The fields a hot-swap needs, from a function configuration the SDK
/// could not read in full. The call succeeded (HTTP 2xx); what failed is
/// reading a field stackctl does not use. moto, for one, answers
/// environment variables taken from Number parameters as JSON numbers
/// where Lambda's API has strings.
fn from_raw(body: &[u8]) -> Option<CodeState> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    Some(CodeState {
        code_sha256: text("CodeSha256")?,
        last_update_status: text("LastUpdateStatus"),
        reason: text("LastUpdateStatusReason"),
    })
}

/// Reads a configuration answer: from the SDK's parse, or, when only the
/// parse failed on a successful answer, from the raw body.
fn state_of<E, R>(
    context: &str,
    result: Result<R, aws_sdk_lambda::error::SdkError<E, super::HttpResponse>>,
    parsed: impl FnOnce(R) -> CodeState,
) -> Result<CodeState>
where
    E: std::error::Error + aws_sdk_lambda::error::ProvideErrorMetadata + 'static,
{
    match result {
        Ok(out) => Ok(parsed(out)),
        // The SDK reports a successful answer it could not parse as an
        // unhandled service error (or a response error), raw answer kept.
        Err(e) if e.raw_response().is_some_and(|r| r.status().is_success()) => e
            .raw_response()
            .and_then(|r| r.body().bytes())
            .and_then(from_raw)
            .ok_or_else(|| anyhow!("{context}: the answer holds no CodeSha256")),
        Err(e) => Err(anyhow!(explain(context, &e))),
    }
}

/// A function's configuration, as `serve` runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    /// Its ARN.
    pub arn: String,
    /// Its timeout, in seconds.
    pub timeout_seconds: u64,
    /// Its memory, in MB.
    pub memory_mb: u32,
    /// Its environment variables.
    pub env: BTreeMap<String, String>,
}

impl Configuration {
    /// From GetFunctionConfiguration's JSON answer, read leniently: moto
    /// answers variables taken from Number parameters as JSON numbers.
    fn from_json(v: &serde_json::Value) -> Option<Configuration> {
        let env = variables(v).into_iter().collect();
        Some(Configuration {
            arn: v["FunctionArn"].as_str()?.to_string(),
            timeout_seconds: v["Timeout"].as_u64().unwrap_or(3),
            memory_mb: v["MemorySize"].as_u64().unwrap_or(128) as u32,
            env,
        })
    }
}

/// The environment variables of a function configuration in JSON
/// (GetFunctionConfiguration, or GetFunction's `Configuration`), as text:
/// moto answers those taken from Number parameters as JSON numbers.
pub fn variables(configuration: &serde_json::Value) -> Vec<(String, String)> {
    configuration["Environment"]["Variables"]
        .as_object()
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl SdkFunctions {
    /// Function `name`'s configuration (GetFunctionConfiguration).
    pub async fn configuration(&self, name: &str) -> Result<Configuration> {
        let result = self
            .client
            .get_function_configuration()
            .function_name(name)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Configuration {
                arn: out.function_arn().unwrap_or_default().to_string(),
                timeout_seconds: out.timeout().unwrap_or(3).max(1) as u64,
                memory_mb: out.memory_size().unwrap_or(128).max(128) as u32,
                env: out
                    .environment()
                    .and_then(|e| e.variables())
                    .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            }),
            // A successful answer the SDK could not parse (see [`from_raw`]).
            Err(e) if e.raw_response().is_some_and(|r| r.status().is_success()) => e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .and_then(|b| serde_json::from_slice(b).ok())
                .and_then(|v| Configuration::from_json(&v))
                .ok_or_else(|| anyhow!("reading the configuration of function {name}: an answer without FunctionArn")),
            Err(e) => Err(anyhow!(explain(&format!("reading the configuration of function {name}"), &e))),
        }
    }
}

impl Functions for SdkFunctions {
    async fn update_code(&self, name: &str, bucket: &str, key: &str) -> Result<CodeState> {
        let result = self
            .client
            .update_function_code()
            .function_name(name)
            .s3_bucket(bucket)
            .s3_key(key)
            .send()
            .await;
        state_of(
            &format!("updating the code of function {name}"),
            result,
            |out| CodeState {
                code_sha256: out.code_sha256().unwrap_or_default().to_string(),
                last_update_status: out.last_update_status().map(|s| s.as_str().to_string()),
                reason: out.last_update_status_reason().map(str::to_string),
            },
        )
    }

    async fn code_state(&self, name: &str) -> Result<CodeState> {
        let result = self
            .client
            .get_function_configuration()
            .function_name(name)
            .send()
            .await;
        state_of(
            &format!("reading the configuration of function {name}"),
            result,
            |out| CodeState {
                code_sha256: out.code_sha256().unwrap_or_default().to_string(),
                last_update_status: out.last_update_status().map(|s| s.as_str().to_string()),
                reason: out.last_update_status_reason().map(str::to_string),
            },
        )
    }
}

/// Lambda's form of a zip's sha256 (base64 of the digest) from stackctl's
/// (hex, as in artefact keys).
pub fn lambda_sha256(hex_digest: &str) -> Option<String> {
    use base64::Engine;
    let bytes = hex::decode(hex_digest).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_with_numbers_for_strings_still_gives_the_code_state() {
        let body =
            br#"{"FunctionName": "f", "CodeSha256": "abc=", "LastUpdateStatus": "Successful",
            "Environment": {"Variables": {"MAX_BYTES": 5368709120}}}"#;
        assert_eq!(
            from_raw(body),
            Some(CodeState {
                code_sha256: "abc=".into(),
                last_update_status: Some("Successful".into()),
                reason: None,
            })
        );
        assert_eq!(from_raw(b"<html>"), None);
        assert_eq!(from_raw(br#"{"FunctionName": "f"}"#), None);
    }

    #[test]
    fn hex_digests_become_lambdas_base64() {
        // sha256 of the empty string.
        assert_eq!(
            lambda_sha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .as_deref(),
            Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        );
        assert_eq!(lambda_sha256("not hex"), None);
    }
}
