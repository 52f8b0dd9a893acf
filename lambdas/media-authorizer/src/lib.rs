//! media-authorizer: the Lambda authorizer of the media API (HTTP API,
//! REQUEST authorizer with simple responses). A caller presents an API key
//! as `Authorization: Bearer KEY`; the keys are known only by their SHA-256
//! in a Secrets Manager secret (`{"keys": {"<sha256 hex>": {"user_id":
//! "..."}}}`), so neither the secret nor a log holds a usable key. An
//! accepted call passes `userId` on to the routes in the authorizer's
//! context; anything else is refused, and says nothing about why.

use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long the keys read from the secret are reused before reading it
/// again (a revoked key stops working within this).
pub const KEYS_TTL: Duration = Duration::from_secs(300);

/// The keys, by the SHA-256 (hex) of the key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// Who each key belongs to.
    pub keys: HashMap<String, Holder>,
}

/// The holder of one key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holder {
    /// The user the calls are made for.
    pub user_id: String,
}

/// What an accepted call passes on to the route (`$context.authorizer`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// The caller.
    pub user_id: String,
}

/// The keys' secret does not hold what it should.
#[derive(Debug, thiserror::Error)]
#[error("the API keys secret is not {{\"keys\": {{SHA256: {{\"user_id\": ...}}}}}}: {0}")]
pub struct BadKeys(String);

impl Keys {
    /// Reads the secret's text.
    pub fn parse(text: &str) -> Result<Self, BadKeys> {
        let keys: Keys = serde_json::from_str(text).map_err(|e| BadKeys(e.to_string()))?;
        if let Some(bad) = keys
            .keys
            .keys()
            .find(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(BadKeys(format!("`{bad}` is not a SHA-256 in hex")));
        }
        Ok(keys)
    }

    /// The holder of `key`, if it is one of them.
    pub fn holder(&self, key: &str) -> Option<&Holder> {
        self.keys.get(&hash(key))
    }
}

/// The SHA-256 of an API key, lowercase hex: what the secret stores.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The key of a request: its `Authorization: Bearer KEY` header.
pub fn bearer(request: &ApiGatewayV2CustomAuthorizerV2Request) -> Option<&str> {
    let value = request.headers.get("authorization")?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

/// Whether `request` may pass, and for whom.
pub fn decide(
    keys: &Keys,
    request: &ApiGatewayV2CustomAuthorizerV2Request,
) -> ApiGatewayV2CustomAuthorizerSimpleResponse<Context> {
    let holder = bearer(request).and_then(|k| keys.holder(k));
    match holder {
        Some(h) => {
            tracing::info!(user_id = %h.user_id, route = ?request.route_key, "authorized");
            let mut r = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
            r.is_authorized = true;
            r.context = Context {
                user_id: h.user_id.clone(),
            };
            r
        }
        None => {
            tracing::info!(route = ?request.route_key, "refused");
            ApiGatewayV2CustomAuthorizerSimpleResponse::default()
        }
    }
}

/// Where the keys come from.
pub trait KeySource {
    /// The secret's current text.
    fn read(
        &self,
    ) -> impl std::future::Future<Output = Result<String, lambda_shared::AwsError>> + Send;
}

/// The keys from Secrets Manager.
pub struct SecretKeys {
    client: aws_sdk_secretsmanager::Client,
    secret: String,
}

impl SecretKeys {
    /// Reads secret `secret` (name or ARN) through `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig, secret: String) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            secret,
        }
    }
}

impl KeySource for SecretKeys {
    async fn read(&self) -> Result<String, lambda_shared::AwsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret)
            .send()
            .await
            .map_err(|e| lambda_shared::AwsError::from_sdk("reading the API keys", e))?;
        out.secret_string()
            .map(str::to_string)
            .ok_or_else(|| lambda_shared::AwsError("the API keys secret holds no text".into()))
    }
}

/// The keys, read at most once per [`KEYS_TTL`].
pub struct Cached<S> {
    source: S,
    held: tokio::sync::Mutex<Option<(Instant, Keys)>>,
}

impl<S: KeySource> Cached<S> {
    /// Keys from `source`, not read yet.
    pub fn new(source: S) -> Self {
        Self {
            source,
            held: tokio::sync::Mutex::new(None),
        }
    }

    /// The current keys.
    pub async fn keys(&self) -> Result<Keys, lambda_runtime::Error> {
        let mut held = self.held.lock().await;
        if let Some((at, keys)) = held.as_ref() {
            if at.elapsed() < KEYS_TTL {
                return Ok(keys.clone());
            }
        }
        let keys = Keys::parse(&self.source.read().await?)?;
        *held = Some((Instant::now(), keys.clone()));
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: Option<&str>) -> ApiGatewayV2CustomAuthorizerV2Request {
        let mut headers = serde_json::Map::new();
        if let Some(a) = authorization {
            headers.insert("authorization".into(), a.into());
        }
        serde_json::from_value(serde_json::json!({
            "version": "2.0",
            "type": "REQUEST",
            "routeKey": "POST /generate-media",
            "headers": headers,
            "requestContext": {"http": {"method": "POST", "path": "/generate-media"}},
        }))
        .unwrap()
    }

    fn keys() -> Keys {
        Keys::parse(&format!(
            r#"{{"keys": {{"{}": {{"user_id": "u-1"}}}}}}"#,
            hash("k-secret")
        ))
        .unwrap()
    }

    #[test]
    fn a_known_key_passes_for_its_holder() {
        let r = decide(&keys(), &request(Some("Bearer k-secret")));
        assert!(r.is_authorized);
        assert_eq!(r.context.user_id, "u-1");
        // The scheme is case-insensitive, the key is not.
        assert!(decide(&keys(), &request(Some("bearer k-secret"))).is_authorized);
        assert!(!decide(&keys(), &request(Some("Bearer K-SECRET"))).is_authorized);
    }

    #[test]
    fn anything_else_is_refused() {
        for a in [
            None,
            Some("k-secret"),
            Some("Basic k-secret"),
            Some("Bearer "),
            Some("Bearer other"),
        ] {
            let r = decide(&keys(), &request(a));
            assert!(!r.is_authorized, "{a:?}");
            assert_eq!(r.context, Context::default());
        }
    }

    #[test]
    fn the_secret_holds_hashes_only() {
        assert!(Keys::parse(r#"{"keys": {"k-secret": {"user_id": "u"}}}"#)
            .unwrap_err()
            .to_string()
            .contains("not a SHA-256"));
        assert!(Keys::parse(r#"{"users": {}}"#).is_err());
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
