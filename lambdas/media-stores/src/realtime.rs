//! The realtime-jobs DynamoDB table (seed 004): one item per job, keyed by
//! `jobId` and `timestamp` (its creation, Unix seconds), with the job's
//! fields in camelCase, index `byUser` (`userId`, `timestamp`), sparse
//! index `byPrediction` (`predictionId`, `timestamp`), and `ttl` seven days
//! after the last write.

use crate::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use media_core::job::Job;
use serde::{Deserialize, Serialize};

/// How long an item lives after its last write.
pub const TTL_SECS: i64 = 7 * 24 * 3600;
/// The index by prediction id.
pub const BY_PREDICTION: &str = "byPrediction";
/// The index by user.
pub const BY_USER: &str = "byUser";

#[derive(Serialize, Deserialize)]
struct Item {
    #[serde(flatten)]
    job: Job,
    timestamp: i64,
    ttl: i64,
}

/// The table.
#[derive(Clone)]
pub struct Realtime {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn dynamo(e: impl std::error::Error + 'static) -> StoreError {
    StoreError::Dynamo(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
}

impl Realtime {
    /// The table `table`.
    pub fn new(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Realtime {
        Realtime {
            client: aws_sdk_dynamodb::Client::new(sdk),
            table: table.into(),
        }
    }

    /// Writes the job's item (created or replaced whole), its TTL seven
    /// days after `job.updated_at`.
    pub async fn put(&self, job: &Job) -> Result<(), StoreError> {
        let item = Item {
            job: job.clone(),
            timestamp: job.created_at,
            ttl: job.updated_at + TTL_SECS,
        };
        let item = serde_dynamo::to_item(&item).map_err(|e| StoreError::Corrupt {
            job_id: job.job_id.clone(),
            reason: e.to_string(),
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(dynamo)?;
        Ok(())
    }

    /// The item of `job_id` (the newest, should there be several).
    pub async fn get(&self, job_id: &str) -> Result<Option<Job>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("jobId = :id")
            .expression_attribute_values(":id", AttributeValue::S(job_id.to_string()))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(dynamo)?;
        first(out.items.unwrap_or_default())
    }

    /// The job of prediction `prediction_id`, through the `byPrediction`
    /// index.
    pub async fn by_prediction(&self, prediction_id: &str) -> Result<Option<Job>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_PREDICTION)
            .key_condition_expression("predictionId = :p")
            .expression_attribute_values(":p", AttributeValue::S(prediction_id.to_string()))
            .limit(1)
            .send()
            .await
            .map_err(dynamo)?;
        first(out.items.unwrap_or_default())
    }
}

fn first(
    items: Vec<std::collections::HashMap<String, AttributeValue>>,
) -> Result<Option<Job>, StoreError> {
    let Some(item) = items.into_iter().next() else {
        return Ok(None);
    };
    let id = match item.get("jobId") {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    let item: Item = serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
        job_id: id,
        reason: e.to_string(),
    })?;
    Ok(Some(item.job))
}
