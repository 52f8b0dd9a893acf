//! The permanent record: `jobs` and `media_outputs` in PostgreSQL (schema:
//! `stacks/media/migrations/`). A function connects once per execution
//! environment and again when the connection has dropped.

use crate::{epoch, secrets, system_time, StoreError};
use lambda_shared::config;
use media_core::job::{Job, JobStatus};
use media_core::MediaType;
use tokio::sync::Mutex;
use tokio_postgres::{Client, Row};

/// Where the database is: the variables a `connect` grant on the database
/// resource `KEY` gives (`KEY_HOST`, `KEY_PORT`, `KEY_NAME`,
/// `KEY_SECRET_ARN`, `KEY_TLS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConfig {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database name.
    pub name: String,
    /// The secret with `{"username", "password"}`.
    pub secret: String,
    /// Whether to require TLS (RDS forces it).
    pub tls: bool,
}

impl DbConfig {
    /// Reads `PREFIX_HOST`, `PREFIX_PORT`, `PREFIX_NAME`, `PREFIX_SECRET_ARN`
    /// and `PREFIX_TLS` (default true).
    pub fn from_env(prefix: &str) -> Result<DbConfig, StoreError> {
        Ok(DbConfig {
            host: config::var(&format!("{prefix}_HOST"))?,
            port: config::parse(&format!("{prefix}_PORT"))?,
            name: config::var(&format!("{prefix}_NAME"))?,
            secret: config::var(&format!("{prefix}_SECRET_ARN"))?,
            tls: config::parse_or(&format!("{prefix}_TLS"), true)?,
        })
    }
}

/// One file of a finished job, as stored in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutput {
    /// Its bucket key.
    pub key: String,
    /// Its Content-Type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// A job as generate-media records it: the job and what was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob<'a> {
    /// The job, pending.
    pub job: &'a Job,
    /// The model's version (or `owner/name`) the prediction runs.
    pub model_version: &'a str,
    /// The validated input sent to the model.
    pub input: &'a serde_json::Value,
}

/// The `jobs` and `media_outputs` tables.
pub struct Jobs {
    config: DbConfig,
    sdk: aws_config::SdkConfig,
    client: Mutex<Option<Client>>,
}

const JOB_COLUMNS: &str = "job_id::text, user_id, media_type, model, status, prediction_id, \
     created_at, updated_at, error, \
     ARRAY(SELECT s3_key FROM media_outputs o WHERE o.job_id = jobs.job_id ORDER BY position)";

impl Jobs {
    /// The store; it connects on first use.
    pub fn new(config: DbConfig, sdk: &aws_config::SdkConfig) -> Jobs {
        Jobs {
            config,
            sdk: sdk.clone(),
            client: Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<Client, StoreError> {
        let creds = secrets::credentials(&self.sdk, &self.config.secret).await?;
        let mut pg = tokio_postgres::Config::new();
        pg.host(&self.config.host)
            .port(self.config.port)
            .dbname(&self.config.name)
            .user(&creds.username)
            .password(&creds.password)
            .application_name("media")
            .connect_timeout(std::time::Duration::from_secs(5));
        let client = if self.config.tls {
            pg.ssl_mode(tokio_postgres::config::SslMode::Require);
            let (client, conn) = pg.connect(crate::tls::postgres_connector()).await?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::warn!(error = %e, "PostgreSQL connection closed");
                }
            });
            client
        } else {
            let (client, conn) = pg.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::warn!(error = %e, "PostgreSQL connection closed");
                }
            });
            client
        };
        Ok(client)
    }

    /// Runs `f` with a connected client, connecting first when there is
    /// none or the last one closed.
    async fn with<T>(
        &self,
        f: impl AsyncFnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = Some(self.connect().await?);
        }
        let client = slot.as_mut().expect("connected above");
        f(client).await
    }

    /// Inserts a new job.
    pub async fn insert(&self, new: &NewJob<'_>) -> Result<(), StoreError> {
        let j = new.job;
        let id = parse_id(&j.job_id)?;
        self.with(async |c| {
            c.execute(
                "INSERT INTO jobs (job_id, user_id, media_type, model, model_version, input, \
                 status, prediction_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &id,
                    &j.user_id,
                    &j.media_type.as_str(),
                    &j.model,
                    &new.model_version,
                    new.input,
                    &j.status.as_str(),
                    &j.prediction_id,
                    &system_time(j.created_at),
                    &system_time(j.updated_at),
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// The job `job_id`, with its stored outputs' keys.
    pub async fn get(&self, job_id: &str) -> Result<Option<Job>, StoreError> {
        let Ok(id) = parse_id(job_id) else {
            return Ok(None);
        };
        self.with(async |c| {
            let row = c
                .query_opt(
                    &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1"),
                    &[&id],
                )
                .await?;
            row.map(|r| job_of(&r)).transpose()
        })
        .await
    }

    /// The job whose prediction is `prediction_id`.
    pub async fn by_prediction(&self, prediction_id: &str) -> Result<Option<Job>, StoreError> {
        self.with(async |c| {
            let row = c
                .query_opt(
                    &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE prediction_id = $1"),
                    &[&prediction_id],
                )
                .await?;
            row.map(|r| job_of(&r)).transpose()
        })
        .await
    }

    /// Writes the job's status, prediction id, error and times. A terminal
    /// job is not written again: returns false when the stored job was
    /// already terminal (a repeated webhook, or the checker and the webhook
    /// both finishing it).
    pub async fn update(&self, job: &Job) -> Result<bool, StoreError> {
        let id = parse_id(&job.job_id)?;
        self.with(async |c| {
            let n = c
                .execute(
                    "UPDATE jobs SET status = $2, prediction_id = COALESCE($3, prediction_id), \
                     error = $4, updated_at = $5, \
                     completed_at = CASE WHEN $6::boolean THEN $5::timestamptz END \
                     WHERE job_id = $1 AND status NOT IN ('succeeded', 'failed', 'canceled')",
                    &[
                        &id,
                        &job.status.as_str(),
                        &job.prediction_id,
                        &job.error,
                        &system_time(job.updated_at),
                        &job.status.is_terminal(),
                    ],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    /// Records a succeeded job and its outputs in one transaction; false
    /// when the job was already terminal (nothing is written then).
    pub async fn finish(&self, job: &Job, outputs: &[StoredOutput]) -> Result<bool, StoreError> {
        let id = parse_id(&job.job_id)?;
        self.with(async |c| {
            let tx = c.transaction().await?;
            let n = tx
                .execute(
                    "UPDATE jobs SET status = $2, prediction_id = COALESCE($3, prediction_id), \
                     error = NULL, updated_at = $4, completed_at = $4 \
                     WHERE job_id = $1 AND status NOT IN ('succeeded', 'failed', 'canceled')",
                    &[
                        &id,
                        &job.status.as_str(),
                        &job.prediction_id,
                        &system_time(job.updated_at),
                    ],
                )
                .await?;
            if n == 0 {
                return Ok(false);
            }
            for (position, o) in outputs.iter().enumerate() {
                let position = i32::try_from(position).unwrap_or(i32::MAX);
                let size = i64::try_from(o.size).unwrap_or(i64::MAX);
                tx.execute(
                    "INSERT INTO media_outputs (job_id, position, s3_key, content_type, size_bytes, sha256) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (job_id, position) DO UPDATE SET s3_key = EXCLUDED.s3_key, \
                     content_type = EXCLUDED.content_type, size_bytes = EXCLUDED.size_bytes, \
                     sha256 = EXCLUDED.sha256",
                    &[&id, &position, &o.key, &o.content_type, &size, &o.sha256],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Unfinished jobs that have not moved since `before` (Unix seconds),
    /// oldest first, at most `limit`.
    pub async fn stuck(&self, before: i64, limit: i64) -> Result<Vec<Job>, StoreError> {
        self.with(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM jobs \
                         WHERE status IN ('pending', 'processing') AND updated_at < $1 \
                         ORDER BY updated_at LIMIT $2"
                    ),
                    &[&system_time(before), &limit],
                )
                .await?;
            rows.iter().map(job_of).collect()
        })
        .await
    }

    /// The model version and input a job was created with.
    pub async fn request(
        &self,
        job_id: &str,
    ) -> Result<Option<(String, serde_json::Value)>, StoreError> {
        let Ok(id) = parse_id(job_id) else {
            return Ok(None);
        };
        self.with(async |c| {
            let row = c
                .query_opt(
                    "SELECT model_version, input FROM jobs WHERE job_id = $1",
                    &[&id],
                )
                .await?;
            Ok(row.map(|r| (r.get(0), r.get(1))))
        })
        .await
    }
}

fn parse_id(job_id: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(job_id).map_err(|e| StoreError::Corrupt {
        job_id: job_id.to_string(),
        reason: format!("not a UUID ({e})"),
    })
}

fn job_of(row: &Row) -> Result<Job, StoreError> {
    let job_id: String = row.get(0);
    let corrupt = |reason: String| StoreError::Corrupt {
        job_id: job_id.clone(),
        reason,
    };
    let media_type: String = row.get(2);
    let status: String = row.get(4);
    Ok(Job {
        user_id: row.get(1),
        media_type: media_type
            .parse::<MediaType>()
            .map_err(|e| corrupt(e.to_string()))?,
        model: row.get(3),
        status: serde_json::from_value::<JobStatus>(serde_json::Value::String(status.clone()))
            .map_err(|_| corrupt(format!("unknown status {status:?}")))?,
        prediction_id: row.get(5),
        created_at: epoch(row.get(6)),
        updated_at: epoch(row.get(7)),
        error: row.get(8),
        outputs: row.get(9),
        job_id: job_id.clone(),
    })
}
