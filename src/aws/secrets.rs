//! Secrets Manager in stackctl's words: what `deploy` and `destroy` do to
//! the secrets an emulator environment gets outside its templates, and the
//! check that an external secret has been given its value. No call here
//! reads or prints a secret's value.

use super::explain;
use crate::kinds::secret::LocalSecret;
use anyhow::{anyhow, Result};
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;

/// Secrets Manager through the AWS SDK.
pub struct SdkSecrets {
    client: aws_sdk_secretsmanager::Client,
}

impl SdkSecrets {
    /// A client for `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }

    async fn describe(&self, name: &str) -> Result<Option<DescribeSecretOutput>> {
        match self.client.describe_secret().secret_id(name).send().await {
            Ok(out) => Ok(Some(out)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(anyhow!(explain(&format!("reading secret {name}"), &e))),
        }
    }

    /// Creates `secret` when it does not exist (generated, or without a
    /// value when external); an existing secret and its value are left as
    /// they are. Returns whether it was created.
    pub async fn ensure(&self, secret: &LocalSecret) -> Result<bool> {
        if self.describe(&secret.name).await?.is_some() {
            return Ok(false);
        }
        let mut create = self
            .client
            .create_secret()
            .name(&secret.name)
            .description(&secret.description);
        if let Some(g) = &secret.generate {
            let mut random = self
                .client
                .get_random_password()
                .password_length(i64::from(g.length))
                .exclude_punctuation(!g.punctuation);
            if let Some(x) = &g.exclude {
                random = random.exclude_characters(x);
            }
            let value = random
                .send()
                .await
                .map_err(|e| {
                    anyhow!(explain(
                        &format!("generating a value for secret {}", secret.name),
                        &e
                    ))
                })?
                .random_password
                .ok_or_else(|| {
                    anyhow!(
                        "generating a value for secret {}: no value in the answer",
                        secret.name
                    )
                })?;
            let value = g.value(value);
            let value = match &secret.username {
                Some(username) => {
                    serde_json::json!({"username": username, "password": value}).to_string()
                }
                None => value,
            };
            create = create.secret_string(value);
        }
        create
            .send()
            .await
            .map_err(|e| anyhow!(explain(&format!("creating secret {}", secret.name), &e)))?;
        Ok(true)
    }

    /// Makes secret `name` hold `value`: creates it, or puts the value when
    /// it differs from the current one (a local server's new credentials).
    /// Returns whether anything changed. The value is never printed.
    pub async fn ensure_value(&self, name: &str, description: &str, value: &str) -> Result<bool> {
        if self.describe(name).await?.is_none() {
            self.client
                .create_secret()
                .name(name)
                .description(description)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| anyhow!(explain(&format!("creating secret {name}"), &e)))?;
            return Ok(true);
        }
        let current = self
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .ok()
            .and_then(|v| v.secret_string().map(str::to_string));
        if current.as_deref() == Some(value) {
            return Ok(false);
        }
        self.client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| anyhow!(explain(&format!("setting secret {name}"), &e)))?;
        Ok(true)
    }

    /// The value of secret `name` (a bound database's credentials, read to
    /// run its migrations; never printed).
    pub async fn value(&self, name: &str) -> Result<String> {
        self.client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| anyhow!(explain(&format!("reading secret {name}"), &e)))?
            .secret_string()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("secret {name} holds no text"))
    }

    /// Whether secret `name` holds a current value; `None` when there is no
    /// such secret.
    pub async fn has_value(&self, name: &str) -> Result<Option<bool>> {
        Ok(self.describe(name).await?.map(|d| {
            d.version_ids_to_stages().is_some_and(|v| {
                v.values()
                    .any(|stages| stages.iter().any(|s| s == "AWSCURRENT"))
            })
        }))
    }

    /// Deletes secret `name` at once, without the recovery window (for an
    /// emulator's secrets only). Returns whether it existed.
    pub async fn delete_now(&self, name: &str) -> Result<bool> {
        if self.describe(name).await?.is_none() {
            return Ok(false);
        }
        self.client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(|e| anyhow!(explain(&format!("deleting secret {name}"), &e)))?;
        Ok(true)
    }
}
