//! Read-only calls on the resources a stack creates (Lambda, DynamoDB, SQS,
//! S3), in stackctl's words, for `health`: each answer is the few fields a
//! check judges, and each failure a [`ReadError`] whose kind tells "does
//! not exist" from "could not ask" (denied, throttled, unreachable).
//!
//! [`SdkResources`] is the thin SDK implementation; the health checks' unit
//! tests script the same trait.

use super::cloudformation::{classify, CfnError, ErrorKind};
use super::{describe_sdk_error, HttpResponse};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use crate::model::project::Bound;
use std::collections::BTreeMap;
use std::future::Future;

/// A failed read: its kind and one line for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    /// What kind of failure ([`ErrorKind::NotFound`]: the resource does not
    /// exist; most others: the question could not be asked).
    pub kind: ErrorKind,
    /// `context: what happened`, one line.
    pub message: String,
}

impl ReadError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<CfnError> for ReadError {
    fn from(e: CfnError) -> Self {
        Self::new(e.kind, e.message)
    }
}

/// A function's configuration, as far as health judges it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionState {
    /// `Pending`, `Active`, `Inactive` or `Failed`.
    pub state: Option<String>,
    /// Why it is in that state (`InvalidSubnet`, ...), with Lambda's text.
    pub state_reason: Option<String>,
    /// `InProgress`, `Successful` or `Failed`.
    pub last_update_status: Option<String>,
    /// Why the last update failed, with Lambda's text.
    pub last_update_reason: Option<String>,
    /// Base64 sha256 of the deployed zip.
    pub code_sha256: String,
    /// Its reserved concurrency, when it has one (0: it cannot run).
    pub reserved_concurrency: Option<i32>,
}

/// A table's state and its indexes'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableState {
    /// `ACTIVE`, `CREATING`, `UPDATING`, ...
    pub status: String,
    /// Each global secondary index: name and status.
    pub indexes: Vec<(String, String)>,
}

/// A table's time to live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeToLive {
    /// `ENABLED`, `DISABLED`, `ENABLING` or `DISABLING`.
    pub status: String,
    /// The attribute holding the expiry, when DynamoDB names one.
    pub attribute: Option<String>,
}

/// A bucket's public access block: the four settings, in S3's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublicAccessBlock {
    /// `BlockPublicAcls`.
    pub block_public_acls: bool,
    /// `IgnorePublicAcls`.
    pub ignore_public_acls: bool,
    /// `BlockPublicPolicy`.
    pub block_public_policy: bool,
    /// `RestrictPublicBuckets`.
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// All four on: the bucket cannot be made public.
    pub const ALL: Self = Self {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    /// The settings that are off, by S3's names.
    pub fn off(&self) -> Vec<&'static str> {
        [
            ("BlockPublicAcls", self.block_public_acls),
            ("IgnorePublicAcls", self.ignore_public_acls),
            ("BlockPublicPolicy", self.block_public_policy),
            ("RestrictPublicBuckets", self.restrict_public_buckets),
        ]
        .into_iter()
        .filter(|(_, on)| !on)
        .map(|(name, _)| name)
        .collect()
    }
}

/// A PostgreSQL server health reaches directly (a binding), as it found
/// it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostgresState {
    /// Its `server_version`.
    pub version: String,
    /// The migrations recorded as run there: version to SHA-256.
    pub recorded: BTreeMap<i64, String>,
}

/// An RDS instance, as far as health judges it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbInstanceState {
    /// `available`, `backing-up`, `stopped`, `failed`, ...
    pub status: String,
    /// Its ARN (pending maintenance is looked up by it).
    pub arn: String,
}

/// A maintenance action waiting on a database or cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// What: RDS's action (`system-update`, `db-upgrade`, ...) or
    /// ElastiCache's service update name.
    pub action: String,
    /// In words, when the service says.
    pub description: Option<String>,
    /// When it is applied without anyone opting in (RDS's forced or
    /// auto-applied-after date, ElastiCache's recommended apply-by date for
    /// critical and important updates), RFC 3339; `None` when optional.
    pub forced: Option<String>,
}

/// The read-only calls health makes on a stack's resources.
pub trait Resources {
    /// Function `name`'s state, code and concurrency (GetFunction).
    fn function(&self, name: &str) -> impl Future<Output = Result<FunctionState, ReadError>>;
    /// Table `name`'s status and its indexes' (DescribeTable).
    fn table(&self, name: &str) -> impl Future<Output = Result<TableState, ReadError>>;
    /// Table `name`'s time to live (DescribeTimeToLive).
    fn time_to_live(&self, name: &str) -> impl Future<Output = Result<TimeToLive, ReadError>>;
    /// How many messages the queue at `url` holds
    /// (`ApproximateNumberOfMessages`).
    fn queue_depth(&self, url: &str) -> impl Future<Output = Result<u64, ReadError>>;
    /// Whether bucket `name` exists (HeadBucket): `Ok` when it does.
    fn bucket(&self, name: &str) -> impl Future<Output = Result<(), ReadError>>;
    /// Bucket `name`'s public access block; `None` when it has none.
    fn public_access_block(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<PublicAccessBlock>, ReadError>>;
    /// The PostgreSQL a binding names: its version and the migrations it
    /// records, read with the credentials in the binding's secret (a
    /// connection, `SHOW server_version` and a SELECT; nothing created).
    fn postgres(
        &self,
        bound: &Bound,
        database: &str,
    ) -> impl Future<Output = Result<PostgresState, ReadError>>;
    /// The Redis a binding names: its version (`INFO server`), after AUTH
    /// with the token in the binding's secret when it names one.
    fn redis(&self, bound: &Bound) -> impl Future<Output = Result<String, ReadError>>;
    /// RDS instance `id` (DescribeDBInstances).
    fn db_instance(&self, id: &str) -> impl Future<Output = Result<DbInstanceState, ReadError>>;
    /// The maintenance pending on the RDS resource `arn`
    /// (DescribePendingMaintenanceActions).
    fn db_maintenance(&self, arn: &str)
        -> impl Future<Output = Result<Vec<Maintenance>, ReadError>>;
    /// ElastiCache replication group `id`'s status
    /// (DescribeReplicationGroups).
    fn replication_group(&self, id: &str) -> impl Future<Output = Result<String, ReadError>>;
    /// The service updates not applied to replication group `id`
    /// (DescribeUpdateActions).
    fn cache_maintenance(&self, id: &str)
        -> impl Future<Output = Result<Vec<Maintenance>, ReadError>>;
}

/// [`Resources`] through the AWS SDK.
pub struct SdkResources {
    lambda: aws_sdk_lambda::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    secrets: super::secrets::SdkSecrets,
    rds: aws_sdk_rds::Client,
    elasticache: aws_sdk_elasticache::Client,
}

impl SdkResources {
    /// Clients for `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            lambda: aws_sdk_lambda::Client::new(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            s3: super::s3_client(sdk),
            secrets: super::secrets::SdkSecrets::new(sdk),
            rds: aws_sdk_rds::Client::new(sdk),
            elasticache: aws_sdk_elasticache::Client::new(sdk),
        }
    }
}

/// The kind of a failure whose service code says "no such resource" in one
/// of the services read here, else what [`classify`] makes of it.
fn kind_of(code: Option<&str>, message: &str) -> ErrorKind {
    match code {
        Some(
            "ResourceNotFoundException"
            | "NoSuchBucket"
            | "NotFound"
            | "AWS.SimpleQueueService.NonExistentQueue"
            | "QueueDoesNotExist"
            | "DBInstanceNotFound"
            | "DBInstanceNotFoundFault"
            | "ReplicationGroupNotFoundFault",
        ) => ErrorKind::NotFound,
        Some(
            "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "RequestThrottled"
            | "SlowDown",
        ) => ErrorKind::Throttled,
        _ => classify(code, message),
    }
}

/// A failed SDK call as a [`ReadError`].
fn failed<E>(context: &str, err: &SdkError<E, HttpResponse>) -> ReadError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let f = describe_sdk_error(context, err);
    let kind = f
        .class
        .unwrap_or_else(|| kind_of(f.code.as_deref(), f.message.as_deref().unwrap_or("")));
    ReadError::new(kind, f.text)
}

/// The fields health needs from a GetFunction answer the SDK could not read
/// in full (moto answers environment variables taken from Number
/// parameters as JSON numbers; see [`super::functions`]).
fn function_from_raw(body: &[u8]) -> Option<FunctionState> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let c = v.get("Configuration")?;
    let text = |k: &str| c.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let reason = |code: &str, text_key: &str| match (text(code), text(text_key)) {
        (Some(c), Some(t)) => Some(format!("{c}: {t}")),
        (c, t) => c.or(t),
    };
    Some(FunctionState {
        state: text("State"),
        state_reason: reason("StateReasonCode", "StateReason"),
        last_update_status: text("LastUpdateStatus"),
        last_update_reason: reason("LastUpdateStatusReasonCode", "LastUpdateStatusReason"),
        code_sha256: text("CodeSha256")?,
        reserved_concurrency: v
            .get("Concurrency")
            .and_then(|c| c.get("ReservedConcurrentExecutions"))
            .and_then(|n| n.as_i64())
            .and_then(|n| i32::try_from(n).ok()),
    })
}

/// `code: text`, or whichever of the two there is.
fn reason(code: Option<&str>, text: Option<&str>) -> Option<String> {
    match (code, text) {
        (Some(c), Some(t)) => Some(format!("{c}: {t}")),
        (c, t) => c.or(t).map(str::to_string),
    }
}

impl Resources for SdkResources {
    async fn function(&self, name: &str) -> Result<FunctionState, ReadError> {
        let context = format!("reading function {name}");
        match self.lambda.get_function().function_name(name).send().await {
            Ok(out) => {
                let c = out.configuration();
                Ok(FunctionState {
                    state: c.and_then(|c| c.state()).map(|s| s.as_str().to_string()),
                    state_reason: c.and_then(|c| {
                        reason(c.state_reason_code().map(|r| r.as_str()), c.state_reason())
                    }),
                    last_update_status: c
                        .and_then(|c| c.last_update_status())
                        .map(|s| s.as_str().to_string()),
                    last_update_reason: c.and_then(|c| {
                        reason(
                            c.last_update_status_reason_code().map(|r| r.as_str()),
                            c.last_update_status_reason(),
                        )
                    }),
                    code_sha256: c
                        .and_then(|c| c.code_sha256())
                        .unwrap_or_default()
                        .to_string(),
                    reserved_concurrency: out
                        .concurrency()
                        .and_then(|c| c.reserved_concurrent_executions()),
                })
            }
            // A successful answer the SDK could not parse: read it raw.
            Err(e) if e.raw_response().is_some_and(|r| r.status().is_success()) => e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .and_then(function_from_raw)
                .ok_or_else(|| {
                    ReadError::new(
                        ErrorKind::BadResponse,
                        format!("{context}: the answer holds no configuration"),
                    )
                }),
            Err(e) => Err(failed(&context, &e)),
        }
    }

    async fn table(&self, name: &str) -> Result<TableState, ReadError> {
        let out = self
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| failed(&format!("reading table {name}"), &e))?;
        let t = out.table();
        Ok(TableState {
            status: t
                .and_then(|t| t.table_status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            indexes: t
                .map(|t| t.global_secondary_indexes())
                .unwrap_or_default()
                .iter()
                .map(|i| {
                    (
                        i.index_name().unwrap_or_default().to_string(),
                        i.index_status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        })
    }

    async fn time_to_live(&self, name: &str) -> Result<TimeToLive, ReadError> {
        let out = self
            .dynamodb
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .map_err(|e| failed(&format!("reading the time to live of table {name}"), &e))?;
        let d = out.time_to_live_description();
        Ok(TimeToLive {
            status: d
                .and_then(|d| d.time_to_live_status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            attribute: d.and_then(|d| d.attribute_name()).map(str::to_string),
        })
    }

    async fn queue_depth(&self, url: &str) -> Result<u64, ReadError> {
        use aws_sdk_sqs::types::QueueAttributeName;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| failed(&format!("reading queue {url}"), &e))?;
        let value = out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .ok_or_else(|| {
                ReadError::new(
                    ErrorKind::BadResponse,
                    format!("reading queue {url}: the answer holds no ApproximateNumberOfMessages"),
                )
            })?;
        value.parse().map_err(|_| {
            ReadError::new(
                ErrorKind::BadResponse,
                format!("reading queue {url}: ApproximateNumberOfMessages is `{value}`"),
            )
        })
    }

    async fn bucket(&self, name: &str) -> Result<(), ReadError> {
        let context = format!("reading bucket {name}");
        match self.s3.head_bucket().bucket(name).send().await {
            Ok(_) => Ok(()),
            // HEAD answers carry no body, so no error code: the status says it.
            Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => Err(ReadError::new(
                    ErrorKind::NotFound,
                    format!("{context}: no such bucket"),
                )),
                Some(403) => Err(ReadError::new(
                    ErrorKind::Denied,
                    format!("{context}: access denied (HTTP 403)"),
                )),
                _ => Err(failed(&context, &e)),
            },
        }
    }

    async fn public_access_block(
        &self,
        name: &str,
    ) -> Result<Option<PublicAccessBlock>, ReadError> {
        let context = format!("reading the public access block of bucket {name}");
        match self.s3.get_public_access_block().bucket(name).send().await {
            Ok(out) => Ok(Some(
                out.public_access_block_configuration()
                    .map(|c| PublicAccessBlock {
                        block_public_acls: c.block_public_acls().unwrap_or(false),
                        ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                        block_public_policy: c.block_public_policy().unwrap_or(false),
                        restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                    })
                    .unwrap_or_default(),
            )),
            Err(e)
                if e.as_service_error().and_then(|s| s.code())
                    == Some("NoSuchPublicAccessBlockConfiguration") =>
            {
                Ok(None)
            }
            Err(e) => Err(failed(&context, &e)),
        }
    }

    async fn postgres(&self, bound: &Bound, database: &str) -> Result<PostgresState, ReadError> {
        let at = format!("{}:{}", bound.host, bound.port);
        let name = bound.secret.as_deref().ok_or_else(|| {
            ReadError::new(
                ErrorKind::Rejected,
                format!("the binding of {at} names no credentials secret"),
            )
        })?;
        let text = self.secrets.value(name).await.map_err(|e| {
            ReadError::new(kind_of_anyhow(&e), format!("{e:#}"))
        })?;
        let creds: crate::servers::Credentials = serde_json::from_str(&text).map_err(|_| {
            ReadError::new(
                ErrorKind::Rejected,
                format!("secret {name} does not hold {{\"username\", \"password\"}}"),
            )
        })?;
        let pg = |e: anyhow::Error| postgres_failed(&at, database, &e);
        let client =
            crate::deploy::databases::connect(&bound.host, bound.port, &creds, database)
                .await
                .map_err(pg)?;
        let version: String = client
            .query_one("SHOW server_version", &[])
            .await
            .map_err(|e| pg(e.into()))?
            .get(0);
        let recorded = crate::migrations::recorded(&client).await.map_err(pg)?;
        Ok(PostgresState { version, recorded })
    }

    async fn redis(&self, bound: &Bound) -> Result<String, ReadError> {
        let at = format!("{}:{}", bound.host, bound.port);
        let addr = if bound.tls {
            redis::ConnectionAddr::TcpTls {
                host: bound.host.clone(),
                port: bound.port,
                insecure: false,
                tls_params: None,
            }
        } else {
            redis::ConnectionAddr::Tcp(bound.host.clone(), bound.port)
        };
        let mut settings = redis::RedisConnectionInfo::default();
        if let Some(name) = &bound.secret {
            let token = self.secrets.value(name).await.map_err(|e| {
                ReadError::new(kind_of_anyhow(&e), format!("{e:#}"))
            })?;
            settings = settings.set_password(token);
        }
        let failed = |e: redis::RedisError| redis_failed(&at, &e);
        let info = redis::IntoConnectionInfo::into_connection_info(addr)
            .map_err(failed)?
            .set_redis_settings(settings);
        let mut conn = redis::Client::open(info)
            .map_err(failed)?
            .get_multiplexed_async_connection()
            .await
            .map_err(failed)?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(failed)?;
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("unknown version")
            .trim()
            .to_string())
    }

    async fn db_instance(&self, id: &str) -> Result<DbInstanceState, ReadError> {
        let out = self
            .rds
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| failed(&format!("reading RDS instance {id}"), &e))?;
        let i = out.db_instances().first().ok_or_else(|| {
            ReadError::new(
                ErrorKind::NotFound,
                format!("reading RDS instance {id}: no such instance"),
            )
        })?;
        Ok(DbInstanceState {
            status: i.db_instance_status().unwrap_or_default().to_string(),
            arn: i.db_instance_arn().unwrap_or_default().to_string(),
        })
    }

    async fn db_maintenance(&self, arn: &str) -> Result<Vec<Maintenance>, ReadError> {
        let mut out = Vec::new();
        let mut pages = self
            .rds
            .describe_pending_maintenance_actions()
            .resource_identifier(arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| failed(&format!("reading the maintenance of {arn}"), &e))?;
            for r in page.pending_maintenance_actions() {
                for a in r.pending_maintenance_action_details() {
                    let forced = a.forced_apply_date().or(a.auto_applied_after_date());
                    out.push(Maintenance {
                        action: a.action().unwrap_or_default().to_string(),
                        description: a.description().map(str::to_string),
                        forced: forced.map(|d| d.to_string()),
                    });
                }
            }
        }
        Ok(out)
    }

    async fn replication_group(&self, id: &str) -> Result<String, ReadError> {
        let out = self
            .elasticache
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
            .map_err(|e| failed(&format!("reading replication group {id}"), &e))?;
        let g = out.replication_groups().first().ok_or_else(|| {
            ReadError::new(
                ErrorKind::NotFound,
                format!("reading replication group {id}: no such group"),
            )
        })?;
        Ok(g.status().unwrap_or_default().to_string())
    }

    async fn cache_maintenance(&self, id: &str) -> Result<Vec<Maintenance>, ReadError> {
        use aws_sdk_elasticache::types::{ServiceUpdateSeverity, UpdateActionStatus};
        let mut out = Vec::new();
        let mut pages = self
            .elasticache
            .describe_update_actions()
            .replication_group_ids(id)
            .update_action_status(UpdateActionStatus::NotApplied)
            .update_action_status(UpdateActionStatus::WaitingToStart)
            .update_action_status(UpdateActionStatus::Scheduled)
            .update_action_status(UpdateActionStatus::Stopped)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| failed(&format!("reading the updates of group {id}"), &e))?;
            for a in page.update_actions() {
                let pressing = matches!(
                    a.service_update_severity(),
                    Some(ServiceUpdateSeverity::Critical | ServiceUpdateSeverity::Important)
                );
                out.push(Maintenance {
                    action: a.service_update_name().unwrap_or_default().to_string(),
                    description: a
                        .service_update_severity()
                        .map(|s| format!("{} update", s.as_str())),
                    forced: a
                        .service_update_recommended_apply_by_date()
                        .filter(|_| pressing)
                        .map(|d| d.to_string()),
                });
            }
        }
        Ok(out)
    }
}

/// The kind of an error from a helper that reports through `anyhow` (the
/// secrets reader): the [`CfnError`] or [`ReadError`] in its chain, else
/// [`ErrorKind::Other`].
fn kind_of_anyhow(e: &anyhow::Error) -> ErrorKind {
    e.chain()
        .find_map(|c| {
            c.downcast_ref::<CfnError>()
                .map(|c| c.kind)
                .or_else(|| c.downcast_ref::<ReadError>().map(|r| r.kind))
        })
        .unwrap_or(ErrorKind::Other)
}

/// A failed read of a PostgreSQL a binding names, from its error chain:
/// nothing listening or no route is [`ErrorKind::Unreachable`], refused
/// credentials [`ErrorKind::Denied`], a missing database
/// [`ErrorKind::NotFound`].
fn postgres_failed(at: &str, database: &str, e: &anyhow::Error) -> ReadError {
    use tokio_postgres::error::SqlState;
    let pg = e.chain().find_map(|c| c.downcast_ref::<tokio_postgres::Error>());
    let code = pg.and_then(|p| p.code());
    let kind = if code == Some(&SqlState::INVALID_PASSWORD)
        || code == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    {
        ErrorKind::Denied
    } else if code == Some(&SqlState::INVALID_CATALOG_NAME) {
        ErrorKind::NotFound
    } else if code.is_none() && e.chain().any(|c| c.is::<std::io::Error>()) {
        ErrorKind::Unreachable
    } else {
        ErrorKind::Other
    };
    let why = e
        .chain()
        .last()
        .map(ToString::to_string)
        .unwrap_or_default();
    ReadError::new(kind, format!("PostgreSQL at {at}, database {database}: {why}"))
}

/// A failed read of a Redis a binding names.
fn redis_failed(at: &str, e: &redis::RedisError) -> ReadError {
    let kind = if e.kind() == redis::ErrorKind::AuthenticationFailed {
        ErrorKind::Denied
    } else if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() {
        ErrorKind::Unreachable
    } else {
        ErrorKind::Other
    };
    ReadError::new(kind, format!("Redis at {at}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_function_answer_with_numbers_for_strings_still_gives_the_state() {
        let body = br#"{"Configuration": {"FunctionName": "f", "CodeSha256": "abc=",
            "State": "Failed", "StateReasonCode": "InvalidSubnet", "StateReason": "subnet gone",
            "LastUpdateStatus": "Successful",
            "Environment": {"Variables": {"MAX_BYTES": 5368709120}}},
            "Concurrency": {"ReservedConcurrentExecutions": 0}}"#;
        assert_eq!(
            function_from_raw(body),
            Some(FunctionState {
                state: Some("Failed".into()),
                state_reason: Some("InvalidSubnet: subnet gone".into()),
                last_update_status: Some("Successful".into()),
                last_update_reason: None,
                code_sha256: "abc=".into(),
                reserved_concurrency: Some(0),
            })
        );
        assert_eq!(function_from_raw(b"<html>"), None);
        assert_eq!(function_from_raw(br#"{"Configuration": {}}"#), None);
    }

    #[test]
    fn missing_resources_throttling_and_denial_are_told_apart() {
        assert_eq!(
            kind_of(Some("ResourceNotFoundException"), "Function not found"),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of(Some("AWS.SimpleQueueService.NonExistentQueue"), ""),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of(Some("TooManyRequestsException"), "Rate exceeded"),
            ErrorKind::Throttled
        );
        assert_eq!(
            kind_of(Some("AccessDeniedException"), "not authorized"),
            ErrorKind::Denied
        );
        assert_eq!(kind_of(Some("InternalFailure"), "boom"), ErrorKind::Other);
    }

    #[test]
    fn the_settings_that_are_off_are_named() {
        assert!(PublicAccessBlock::ALL.off().is_empty());
        let open = PublicAccessBlock {
            block_public_policy: false,
            restrict_public_buckets: false,
            ..PublicAccessBlock::ALL
        };
        assert_eq!(open.off(), ["BlockPublicPolicy", "RestrictPublicBuckets"]);
    }
}
