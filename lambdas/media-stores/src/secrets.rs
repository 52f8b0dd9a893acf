//! Reading the credentials' secrets the grants name.

use crate::StoreError;

/// The string value of the secret `id` (name or ARN).
pub(crate) async fn read(sdk: &aws_config::SdkConfig, id: &str) -> Result<String, StoreError> {
    let fail = |reason: String| StoreError::Secret {
        secret: id.to_string(),
        reason,
    };
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| fail(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
    out.secret_string
        .ok_or_else(|| fail("it holds no string".to_string()))
}

/// A database secret as RDS writes it: `{"username", "password", ...}`.
#[derive(serde::Deserialize)]
pub(crate) struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Reads and parses a database secret.
pub(crate) async fn credentials(
    sdk: &aws_config::SdkConfig,
    id: &str,
) -> Result<Credentials, StoreError> {
    let text = read(sdk, id).await?;
    serde_json::from_str(&text).map_err(|e| StoreError::Secret {
        secret: id.to_string(),
        reason: format!("expected JSON with username and password ({e})"),
    })
}
