//! Episodes, their chunks and clip candidates in the `clips` table (layout:
//! [`crate::keys`]), and the episode status machine:
//!
//! ```text
//! created ──upload──▶ uploaded ──job started──▶ chunking ──COMPLETE──▶ chunked ──analysis──▶ analyzed
//!                                                  └──────ERROR──────▶ failed
//! ```
//!
//! Every transition is a conditional write on the status it leaves, so a
//! retried event never applies twice (nor starts a second MediaConvert
//! job). A transcript can be analysed in any status: its clips are stored
//! and `analyzed_at` set, and the status becomes `analyzed` once the
//! episode is (or when it becomes) `chunked`.

use crate::keys;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use lambda_shared::AwsError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where an episode is in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created through the API; no video yet.
    Created,
    /// Its video is in the bucket.
    Uploaded,
    /// A MediaConvert job is cutting it.
    Chunking,
    /// Its chunks are recorded.
    Chunked,
    /// The chunking job failed.
    Failed,
    /// Chunked, and its transcript analysed into clip candidates.
    Analyzed,
}

impl Status {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Uploaded => "uploaded",
            Status::Chunking => "chunking",
            Status::Chunked => "chunked",
            Status::Failed => "failed",
            Status::Analyzed => "analyzed",
        }
    }

    /// Whether the machine allows `self → next`.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Created | Uploaded, Uploaded)
                | (Uploaded, Chunking)
                | (Chunking, Uploaded) // a job that could not be started
                | (Chunking, Chunked | Failed | Analyzed)
                | (Chunked | Analyzed, Analyzed)
        )
    }

    /// The status after a transcript analysis of an episode in `self`.
    pub fn after_analysis(self) -> Status {
        match self {
            Status::Chunked | Status::Analyzed => Status::Analyzed,
            other => other,
        }
    }
}

/// An episode as the API shows it (the item without its keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Its id (a UUID).
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Status.
    pub status: Status,
    /// Created (epoch milliseconds).
    pub created_at: i64,
    /// Last changed (epoch milliseconds).
    pub updated_at: i64,
    /// The uploaded video's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_key: Option<String>,
    /// Its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_size: Option<i64>,
    /// Its ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_etag: Option<String>,
    /// The chunking job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// How many chunks it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_count: Option<i64>,
    /// Why chunking failed: MediaConvert's error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// And its message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Where its transcript is uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_key: Option<String>,
    /// How many clip candidates the last analysis found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_count: Option<i64>,
    /// When its transcript was last analysed (epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyzed_at: Option<i64>,
}

impl Episode {
    /// A new episode.
    pub fn new(id: String, title: String, description: Option<String>, now_ms: i64) -> Episode {
        Episode {
            id,
            title,
            description,
            status: Status::Created,
            created_at: now_ms,
            updated_at: now_ms,
            upload_key: None,
            upload_size: None,
            upload_etag: None,
            job_id: None,
            chunk_count: None,
            error_code: None,
            error_message: None,
            transcript_key: None,
            clip_count: None,
            analyzed_at: None,
        }
    }
}

/// One chunk of an episode's video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Its number, from 1.
    pub index: u32,
    /// Its object key.
    pub key: String,
    /// Where it starts in the video.
    pub start_seconds: f64,
    /// Where it ends.
    pub end_seconds: f64,
}

/// One clip candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    /// Start in the video, seconds.
    pub start_seconds: f64,
    /// End, seconds.
    pub end_seconds: f64,
    /// A title for the clip.
    pub title: String,
    /// Why it makes a good clip.
    pub reason: String,
    /// How good, 0 to 1.
    pub score: f64,
}

/// What recording an upload did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The episode is `uploaded` with this object.
    Uploaded,
    /// No such episode.
    Unknown,
    /// The episode is past its upload (a late retry): nothing changed.
    Past(Status),
}

/// The episodes in a table.
#[derive(Clone)]
pub struct Store {
    ddb: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn conditional<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
        || e.as_service_error().and_then(|s| s.code()) == Some("TransactionCanceledException")
}

/// A DynamoDB item as the episode it holds.
fn episode(item: HashMap<String, AttributeValue>) -> Result<Episode, AwsError> {
    serde_dynamo::from_item(item).map_err(|e| AwsError(format!("malformed episode item: {e}")))
}

/// An item key.
pub type Key = HashMap<String, AttributeValue>;

impl Store {
    /// The episodes in `table`.
    pub fn new(ddb: Client, table: impl Into<String>) -> Store {
        Store {
            ddb,
            table: table.into(),
        }
    }

    fn key(id: &str) -> Key {
        HashMap::from([
            ("pk".to_string(), s(keys::episode_pk(id))),
            ("sk".to_string(), s(keys::EPISODE_SK)),
        ])
    }

    /// Creates `episode`; false if its id is taken.
    pub async fn create(&self, e: &Episode) -> Result<bool, AwsError> {
        let mut item: Key = serde_dynamo::to_item(e)
            .map_err(|err| AwsError(format!("cannot store episode: {err}")))?;
        item.extend(Self::key(&e.id));
        item.insert("GSI1PK".into(), s(keys::EPISODES));
        item.insert(
            "GSI1SK".into(),
            s(keys::episode_gsi1sk(e.created_at, &e.id)),
        );
        match self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if conditional(&err) => Ok(false),
            Err(err) => Err(AwsError::from_sdk("PutItem episode", err)),
        }
    }

    /// Episode `id`, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Episode>, AwsError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetItem episode", e))?;
        out.item.map(episode).transpose()
    }

    /// Up to `limit` episodes, newest first, from `start` (a previous
    /// page's last key); and the key to continue from, if there is more.
    pub async fn list(
        &self,
        limit: i32,
        start: Option<Key>,
    ) -> Result<(Vec<Episode>, Option<Key>), AwsError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("GSI1PK = :p")
            .expression_attribute_values(":p", s(keys::EPISODES))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("Query GSI1", e))?;
        let episodes = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(episode)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((episodes, out.last_evaluated_key))
    }

    /// Sets the title and/or description; the updated episode, or None if
    /// there is no such episode.
    pub async fn update_text(
        &self,
        id: &str,
        title: Option<&str>,
        description: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<Episode>, AwsError> {
        let mut set = vec!["updated_at = :now"];
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now_ms))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if let Some(t) = title {
            set.push("title = :t");
            req = req.expression_attribute_values(":t", s(t));
        }
        if let Some(d) = description {
            set.push("description = :d");
            req = req.expression_attribute_values(":d", s(d));
        }
        match req
            .update_expression(format!("SET {}", set.join(", ")))
            .send()
            .await
        {
            Ok(out) => out.attributes.map(episode).transpose(),
            Err(err) if conditional(&err) => Ok(None),
            Err(err) => Err(AwsError::from_sdk("UpdateItem episode text", err)),
        }
    }

    /// Records where the episode's transcript will be uploaded; false if
    /// there is no such episode (a write only: the function that hands out
    /// upload URLs may not read the table).
    pub async fn set_transcript_key(
        &self,
        id: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<bool, AwsError> {
        match self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET transcript_key = :k, updated_at = :now")
            .expression_attribute_values(":k", s(key))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if conditional(&err) => Ok(false),
            Err(err) => Err(AwsError::from_sdk("UpdateItem transcript key", err)),
        }
    }

    /// Records an uploaded video on a `created` (or already `uploaded`)
    /// episode.
    pub async fn record_upload(
        &self,
        id: &str,
        key: &str,
        size: i64,
        etag: &str,
        now_ms: i64,
    ) -> Result<Recorded, AwsError> {
        let result = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .condition_expression("attribute_exists(pk) AND #st IN (:created, :uploaded)")
            .update_expression(
                "SET #st = :uploaded, upload_key = :k, upload_size = :size, upload_etag = :etag, uploaded_at = :now, updated_at = :now",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":created", s(Status::Created.as_str()))
            .expression_attribute_values(":uploaded", s(Status::Uploaded.as_str()))
            .expression_attribute_values(":k", s(key))
            .expression_attribute_values(":size", n(size))
            .expression_attribute_values(":etag", s(etag))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::Uploaded),
            Err(err) if conditional(&err) => Ok(match self.get(id).await? {
                None => Recorded::Unknown,
                Some(e) => Recorded::Past(e.status),
            }),
            Err(err) => Err(AwsError::from_sdk("UpdateItem upload", err)),
        }
    }

    /// Moves an `uploaded` episode to `chunking` (before its job is
    /// created, so that only one event starts one); false if it is not
    /// `uploaded`.
    pub async fn claim_chunking(&self, id: &str, now_ms: i64) -> Result<bool, AwsError> {
        self.transition(id, Status::Uploaded, Status::Chunking, now_ms, "")
            .await
    }

    /// Gives a claimed episode back (`chunking` → `uploaded`) when its job
    /// could not be created, so the retried event can try again.
    pub async fn release_chunking(&self, id: &str, now_ms: i64) -> Result<bool, AwsError> {
        self.transition(
            id,
            Status::Chunking,
            Status::Uploaded,
            now_ms,
            " AND attribute_not_exists(job_id)",
        )
        .await
    }

    async fn transition(
        &self,
        id: &str,
        from: Status,
        to: Status,
        now_ms: i64,
        extra_condition: &str,
    ) -> Result<bool, AwsError> {
        match self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .condition_expression(format!("#st = :from{extra_condition}"))
            .update_expression("SET #st = :to, updated_at = :now")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if conditional(&err) => Ok(false),
            Err(err) => Err(AwsError::from_sdk("UpdateItem status", err)),
        }
    }

    /// Records the chunking job of a `chunking` episode.
    pub async fn set_job(&self, id: &str, job_id: &str) -> Result<bool, AwsError> {
        match self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .condition_expression("#st = :chunking")
            .update_expression("SET job_id = :j")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":chunking", s(Status::Chunking.as_str()))
            .expression_attribute_values(":j", s(job_id))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if conditional(&err) => Ok(false),
            Err(err) => Err(AwsError::from_sdk("UpdateItem job id", err)),
        }
    }

    /// Writes `chunks` (they expire with their objects) and moves the
    /// episode from `chunking` with job `job_id` to `chunked` (`analyzed`
    /// if its transcript was analysed meanwhile); false if the episode is
    /// not chunking with that job (a retried event after success, or a
    /// stale job).
    pub async fn chunked(
        &self,
        episode: &Episode,
        job_id: &str,
        chunks: &[Chunk],
        now_ms: i64,
    ) -> Result<bool, AwsError> {
        let ttl = now_ms / 1000 + keys::CHUNK_TTL_SECS;
        let pk = keys::episode_pk(&episode.id);
        for batch in chunks.chunks(25) {
            let mut requests = batch
                .iter()
                .map(|c| {
                    let item = HashMap::from([
                        ("pk".to_string(), s(&pk)),
                        ("sk".to_string(), s(keys::chunk_sk(c.index))),
                        ("index".to_string(), n(c.index)),
                        ("key".to_string(), s(&c.key)),
                        ("start_seconds".to_string(), n(c.start_seconds)),
                        ("end_seconds".to_string(), n(c.end_seconds)),
                        ("ttl".to_string(), n(ttl)),
                    ]);
                    let put = aws_sdk_dynamodb::types::PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map_err(|e| AwsError(e.to_string()))?;
                    Ok(aws_sdk_dynamodb::types::WriteRequest::builder()
                        .put_request(put)
                        .build())
                })
                .collect::<Result<Vec<_>, AwsError>>()?;
            // Unprocessed items are retried a few times, then an error (the
            // event is retried: the puts are idempotent).
            for attempt in 0..5 {
                let out = self
                    .ddb
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("BatchWriteItem chunks", e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt == 4 {
                    return Err(AwsError(format!(
                        "{} chunk items unprocessed after 5 attempts",
                        requests.len()
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
        }
        let to = if episode.analyzed_at.is_some() {
            Status::Analyzed
        } else {
            Status::Chunked
        };
        match self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&episode.id)))
            .condition_expression("#st = :chunking AND job_id = :j")
            .update_expression(
                "SET #st = :to, chunk_count = :c, updated_at = :now REMOVE error_code, error_message",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":chunking", s(Status::Chunking.as_str()))
            .expression_attribute_values(":j", s(job_id))
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":c", n(chunks.len()))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if conditional(&err) => Ok(false),
            Err(err) => Err(AwsError::from_sdk("UpdateItem chunked", err)),
        }
    }

    /// Moves a `chunking` episode with job `job_id` to `failed`.
    pub async fn failed(
        &self,
        id: &str,
        job_id: &str,
        code: Option<i64>,
        message: &str,
        now_ms: i64,
    ) -> Result<bool, AwsError> {
        match self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .condition_expression("#st = :chunking AND job_id = :j")
            .update_expression(
                "SET #st = :failed, error_code = :code, error_message = :msg, updated_at = :now",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":chunking", s(Status::Chunking.as_str()))
            .expression_attribute_values(":failed", s(Status::Failed.as_str()))
            .expression_attribute_values(":j", s(job_id))
            .expression_attribute_values(":code", code.map_or(AttributeValue::Null(true), n))
            .expression_attribute_values(":msg", s(message))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if conditional(&err) => Ok(false),
            Err(err) => Err(AwsError::from_sdk("UpdateItem failed", err)),
        }
    }

    /// The clip candidates of episode `id`, in order.
    pub async fn clips(&self, id: &str) -> Result<Vec<Clip>, AwsError> {
        self.children(id, keys::CLIP_PREFIX).await
    }

    /// The chunks of episode `id`, in order.
    pub async fn chunks(&self, id: &str) -> Result<Vec<Chunk>, AwsError> {
        self.children(id, keys::CHUNK_PREFIX).await
    }

    async fn children<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        prefix: &str,
    ) -> Result<Vec<T>, AwsError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .ddb
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :s)")
                .expression_attribute_values(":p", s(keys::episode_pk(id)))
                .expression_attribute_values(":s", s(prefix))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("Query episode items", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(
                    serde_dynamo::from_item(item)
                        .map_err(|e| AwsError(format!("malformed {prefix} item: {e}")))?,
                );
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// Replaces the episode's clip candidates with `clips` and records the
    /// analysis, in one transaction conditional on the episode still being
    /// in status `seen` (so a concurrent transition is not overwritten; the
    /// caller retries with a fresh read). False if that condition failed.
    pub async fn analyzed(
        &self,
        episode: &Episode,
        old_clips: usize,
        clips: &[Clip],
        transcript_key: &str,
        now_ms: i64,
    ) -> Result<bool, AwsError> {
        let pk = keys::episode_pk(&episode.id);
        let mut items = Vec::new();
        let build = |e: aws_sdk_dynamodb::error::BuildError| AwsError(e.to_string());
        for i in clips.len()..old_clips {
            items.push(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .key("pk", s(&pk))
                            .key("sk", s(keys::clip_sk(i as u32 + 1)))
                            .build()
                            .map_err(build)?,
                    )
                    .build(),
            );
        }
        for (i, c) in clips.iter().enumerate() {
            let mut item: Key = serde_dynamo::to_item(c)
                .map_err(|e| AwsError(format!("cannot store clip: {e}")))?;
            item.insert("pk".into(), s(&pk));
            item.insert("sk".into(), s(keys::clip_sk(i as u32 + 1)));
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item))
                            .build()
                            .map_err(build)?,
                    )
                    .build(),
            );
        }
        items.push(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(Self::key(&episode.id)))
                        .condition_expression("#st = :seen")
                        .update_expression(
                            "SET #st = :to, clip_count = :c, analyzed_at = :now, transcript_key = :k, updated_at = :now",
                        )
                        .expression_attribute_names("#st", "status")
                        .expression_attribute_values(":seen", s(episode.status.as_str()))
                        .expression_attribute_values(
                            ":to",
                            s(episode.status.after_analysis().as_str()),
                        )
                        .expression_attribute_values(":c", n(clips.len()))
                        .expression_attribute_values(":now", n(now_ms))
                        .expression_attribute_values(":k", s(transcript_key))
                        .build()
                        .map_err(build)?,
                )
                .build(),
        );
        match self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if conditional(&err) => Ok(false),
            Err(err) => Err(AwsError::from_sdk("TransactWriteItems analysis", err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;

    #[test]
    fn the_status_machine_allows_only_the_documented_moves() {
        assert!(Created.can_become(Uploaded));
        assert!(Uploaded.can_become(Chunking));
        assert!(Chunking.can_become(Chunked) && Chunking.can_become(Failed));
        assert!(Chunked.can_become(Analyzed));
        assert!(!Created.can_become(Chunking));
        assert!(!Chunked.can_become(Uploaded));
        assert!(!Failed.can_become(Chunked));
        assert_eq!(Chunked.after_analysis(), Analyzed);
        assert_eq!(Uploaded.after_analysis(), Uploaded);
    }
}
