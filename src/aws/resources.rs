//! Read-only calls on the resources a stack creates (Lambda, DynamoDB, SQS,
//! S3), in stackctl's words, for `health`: each answer is the few fields a
//! check judges, and each failure a [`ReadError`] whose kind tells "does
//! not exist" from "could not ask" (denied, throttled, unreachable).
//!
//! [`SdkResources`] is the thin SDK implementation; the health checks' unit
//! tests script the same trait.

use super::cloudformation::{classify, CfnError, ErrorKind};
use super::{describe_sdk_error, HttpResponse};
use crate::model::project::Bound;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
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

/// A role and its policies (GetRole, ListRolePolicies, GetRolePolicy,
/// ListAttachedRolePolicies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleState {
    /// Its ARN (which names the partition and account).
    pub arn: String,
    /// Its inline policies' documents, by policy name (`None`: a document
    /// that is not JSON).
    pub inline: std::collections::BTreeMap<String, Option<serde_json::Value>>,
    /// The ARNs of the managed policies attached to it.
    pub managed: Vec<String>,
}

/// An EventBridge rule's state and targets (DescribeRule,
/// ListTargetsByRule).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleState {
    /// `ENABLED`, `DISABLED`, ...
    pub state: String,
    /// Its targets' ARNs.
    pub targets: Vec<String>,
}

/// A CloudWatch alarm's state (DescribeAlarms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmState {
    /// Its name.
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// Why, in CloudWatch's words.
    pub reason: String,
    /// Since when (`StateUpdatedTimestamp`), RFC 3339.
    pub since: Option<String>,
    /// The same, in seconds since the Unix epoch.
    pub since_secs: Option<i64>,
}

/// A bucket's default encryption (GetBucketEncryption): its first rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketEncryption {
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub algorithm: String,
    /// The KMS key (ARN or id), for `aws:kms`.
    pub key: Option<String>,
}

/// A CloudWatch statistic health reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stat {
    /// The total over the window (errors, invocations, throttles).
    Sum,
    /// The highest value in the window (the age of the oldest message).
    Maximum,
}

impl Stat {
    /// Its name in CloudWatch.
    pub fn as_str(self) -> &'static str {
        match self {
            Stat::Sum => "Sum",
            Stat::Maximum => "Maximum",
        }
    }
}

/// One metric a check reads over the window: `namespace`, `metric`, the
/// dimensions naming the resource, and the statistic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricQuery {
    /// `AWS/Lambda`, `AWS/ApiGateway`, `AWS/SQS`.
    pub namespace: &'static str,
    /// `Errors`, `5xx`, `ApproximateAgeOfOldestMessage`, ...
    pub metric: &'static str,
    /// Name and value of each dimension (`FunctionName`, `ApiId`, ...).
    pub dimensions: Vec<(&'static str, String)>,
    /// The statistic.
    pub stat: Stat,
}

impl MetricQuery {
    /// `stat` of `namespace`/`metric` for the resource `dimension` = `value`.
    pub fn new(
        namespace: &'static str,
        metric: &'static str,
        dimension: &'static str,
        value: &str,
        stat: Stat,
    ) -> Self {
        Self {
            namespace,
            metric,
            dimensions: vec![(dimension, value.to_string())],
            stat,
        }
    }
}

/// One GetMetricData call: at most 500 queries, each with its id, over
/// `[start, end)` in periods of `period_s` seconds; `next_token` for the
/// pages after the first.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRequest {
    /// The queries, by id (`[a-z][a-zA-Z0-9_]*`, unique in the request).
    pub queries: Vec<(String, MetricQuery)>,
    /// Start of the window.
    pub start: std::time::SystemTime,
    /// End of the window.
    pub end: std::time::SystemTime,
    /// Seconds per data point (a multiple of 60).
    pub period_s: i32,
    /// The previous page's token.
    pub next_token: Option<String>,
}

/// The data points of one query in one page of a GetMetricData answer.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricResult {
    /// The query's id.
    pub id: String,
    /// The values (one per period that had data).
    pub values: Vec<f64>,
    /// `Complete`, `PartialData` (more in the next page), `InternalError`
    /// or `Forbidden`.
    pub status: String,
    /// CloudWatch's messages about it, if any.
    pub message: Option<String>,
}

/// One page of a GetMetricData answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricPage {
    /// A result per query (of those that have data in this page).
    pub results: Vec<MetricResult>,
    /// The token of the next page, when there is one.
    pub next_token: Option<String>,
}

/// An API Gateway v2 API as health judges it: its protocol, stages,
/// routes and integrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiState {
    /// `HTTP` or `WEBSOCKET`.
    pub protocol: String,
    /// Its stages' names.
    pub stages: Vec<String>,
    /// Each route: its key and target (`integrations/ID`).
    pub routes: Vec<(String, Option<String>)>,
    /// Each integration: its id and URI (a function's ARN, or the
    /// `arn:aws:apigateway:...:lambda:path/.../functions/ARN/invocations`
    /// form).
    pub integrations: Vec<(String, Option<String>)>,
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

/// A load balancer's state (DescribeLoadBalancers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadBalancerState {
    /// Its name.
    pub name: String,
    /// `active`, `provisioning`, `active_impaired` or `failed`.
    pub state: String,
    /// Why, when ELB says.
    pub reason: Option<String>,
}

/// The targets of one target group and their health (DescribeTargetHealth).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetGroupHealth {
    /// The target group's name.
    pub name: String,
    /// Its registered targets.
    pub targets: Vec<TargetHealth>,
}

/// One registered target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetHealth {
    /// Its id: an IP address, an instance id, a load balancer ARN.
    pub id: String,
    /// `initial`, `healthy`, `unhealthy`, `unused`, `draining`, `unavailable`.
    pub state: String,
    /// ELB's reason code and description, when not healthy.
    pub reason: Option<String>,
}

/// A REST API (API Gateway v1) as its health checks judge it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestApiState {
    /// Its name.
    pub name: String,
    /// Its stages' names.
    pub stages: Vec<String>,
    /// `METHOD /path` to its integration: `TYPE URI` (`AWS_PROXY
    /// arn:...`), or `None` for a method without one.
    pub methods: BTreeMap<String, Option<String>>,
}

/// A CloudFront distribution's state (GetDistribution).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistributionState {
    /// `Deployed` or `InProgress`.
    pub status: String,
    /// Whether it serves.
    pub enabled: bool,
    /// Its `*.cloudfront.net` domain.
    pub domain: String,
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
    /// One page of metric data (GetMetricData); the caller batches and
    /// pages ([`crate::health::metrics`]).
    fn metric_data(
        &self,
        request: &MetricRequest,
    ) -> impl Future<Output = Result<MetricPage, ReadError>>;
    /// API `id`'s protocol, stages, routes and integrations (GetApi, then
    /// GetStages, GetRoutes and GetIntegrations, every page).
    fn api(&self, id: &str) -> impl Future<Output = Result<ApiState, ReadError>>;
    /// Function `name`'s resource policy, as JSON text (GetPolicy); `None`
    /// when it has none.
    fn function_policy(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, ReadError>>;
    /// The value of secret `id` (its ARN or name), for a probe's header
    /// (GetSecretValue). Never printed: the probe scrubs it from every
    /// finding.
    fn secret_value(&self, id: &str) -> impl Future<Output = Result<String, ReadError>>;
    /// Role `name` and its policies, inline and attached.
    fn role(&self, name: &str) -> impl Future<Output = Result<RoleState, ReadError>>;
    /// EventBridge rule `name` on the default bus: state and targets.
    fn rule(&self, name: &str) -> impl Future<Output = Result<RuleState, ReadError>>;
    /// The alarms named `names` that exist (DescribeAlarms, up to 100 names
    /// a call). Callers pass every alarm name of a stack at once, so one
    /// answer serves all its alarms: implementations may share it between
    /// equal calls.
    fn alarms(&self, names: &[String]) -> impl Future<Output = Result<Vec<AlarmState>, ReadError>>;
    /// Table `name`'s point-in-time recovery status, `ENABLED` or
    /// `DISABLED` (DescribeContinuousBackups).
    fn point_in_time_recovery(&self, name: &str)
        -> impl Future<Output = Result<String, ReadError>>;
    /// Bucket `name`'s default encryption; `None` when it has none.
    fn bucket_encryption(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<BucketEncryption>, ReadError>>;
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
    fn db_maintenance(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<Maintenance>, ReadError>>;
    /// ElastiCache replication group `id`'s status
    /// (DescribeReplicationGroups).
    fn replication_group(&self, id: &str) -> impl Future<Output = Result<String, ReadError>>;
    /// The service updates not applied to replication group `id`
    /// (DescribeUpdateActions).
    fn cache_maintenance(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Vec<Maintenance>, ReadError>>;
    /// Load balancer `arn`'s name and state (DescribeLoadBalancers).
    fn load_balancer(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<LoadBalancerState, ReadError>>;
    /// The target groups attached to load balancer `arn` and the health
    /// of their targets (DescribeTargetGroups, DescribeTargetHealth).
    fn target_health(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<TargetGroupHealth>, ReadError>>;
    /// REST API `id`: its stages and each resource's methods with their
    /// integrations (GetRestApi, GetStages, GetResources).
    fn rest_api(&self, id: &str) -> impl Future<Output = Result<RestApiState, ReadError>>;
    /// CloudFront distribution `id` (GetDistribution).
    fn distribution(&self, id: &str) -> impl Future<Output = Result<DistributionState, ReadError>>;
    /// ECS service `service` of cluster `cluster`: its counts and
    /// deployments (DescribeServices).
    fn ecs_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<EcsService, ReadError>>;
    /// EventBridge bus `name`: its ARN (DescribeEventBus).
    fn event_bus(&self, name: &str) -> impl Future<Output = Result<String, ReadError>>;
    /// EventBridge rule `name` on bus `bus` (`default` for the account's
    /// default bus): state and targets (DescribeRule, ListTargetsByRule).
    fn bus_rule(&self, bus: &str, name: &str)
        -> impl Future<Output = Result<RuleState, ReadError>>;
    /// Role `name`'s trust policy (GetRole's AssumeRolePolicyDocument);
    /// `None` when it is not JSON.
    fn role_trust(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<serde_json::Value>, ReadError>>;
    /// Bedrock AgentCore memory `id`'s status (GetMemory).
    fn agent_memory(&self, id: &str) -> impl Future<Output = Result<MemoryState, ReadError>>;
}

/// An ECS service as `health` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcsService {
    /// `ACTIVE`, `DRAINING`, `INACTIVE`.
    pub status: String,
    /// Tasks it wants.
    pub desired: i32,
    /// Tasks running.
    pub running: i32,
    /// Tasks starting.
    pub pending: i32,
    /// Its deployments (one `PRIMARY`, older ones `ACTIVE`).
    pub deployments: Vec<EcsDeployment>,
}

/// One deployment of an ECS service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcsDeployment {
    /// `PRIMARY` (the newest), `ACTIVE` (older, draining), `INACTIVE`.
    pub status: String,
    /// The task definition's ARN.
    pub task_definition: String,
    /// `COMPLETED`, `FAILED`, `IN_PROGRESS` (none for old deployments).
    pub rollout_state: Option<String>,
    /// Why, as ECS says it.
    pub rollout_reason: Option<String>,
}

/// [`Resources`] through the AWS SDK.
pub struct SdkResources {
    lambda: aws_sdk_lambda::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    secrets: aws_sdk_secretsmanager::Client,
    iam: aws_sdk_iam::Client,
    events: aws_sdk_eventbridge::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    apigateway: aws_sdk_apigatewayv2::Client,
    rds: aws_sdk_rds::Client,
    elasticache: aws_sdk_elasticache::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    restapi: aws_sdk_apigateway::Client,
    cloudfront: aws_sdk_cloudfront::Client,
    /// DescribeAlarms answers by the names asked, shared by equal calls.
    alarm_answers: Once<Vec<String>, Result<Vec<AlarmState>, ReadError>>,
    ecs: aws_sdk_ecs::Client,
    agentcore: aws_sdk_bedrockagentcorecontrol::Client,
}

/// Answers shared by equal requests during one run: the first starts the
/// work, the others (concurrent or later) await the same answer.
pub struct Once<K, V: Clone> {
    started: std::cell::RefCell<
        std::collections::BTreeMap<
            K,
            futures_util::future::Shared<futures_util::future::LocalBoxFuture<'static, V>>,
        >,
    >,
}

impl<K, V: Clone> Default for Once<K, V> {
    fn default() -> Self {
        Self {
            started: Default::default(),
        }
    }
}

impl<K: Ord, V: Clone + 'static> Once<K, V> {
    /// The answer to `key`: `work`'s, started now unless an equal request
    /// started it before.
    pub async fn get<F>(&self, key: K, work: impl FnOnce() -> F) -> V
    where
        F: Future<Output = V> + 'static,
    {
        use futures_util::FutureExt;
        let shared = self
            .started
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| work().boxed_local().shared())
            .clone();
        shared.await
    }
}

impl SdkResources {
    /// Clients for `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            lambda: aws_sdk_lambda::Client::new(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            s3: super::s3_client(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            events: aws_sdk_eventbridge::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            apigateway: aws_sdk_apigatewayv2::Client::new(sdk),
            rds: aws_sdk_rds::Client::new(sdk),
            elasticache: aws_sdk_elasticache::Client::new(sdk),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(sdk),
            restapi: aws_sdk_apigateway::Client::new(sdk),
            cloudfront: aws_sdk_cloudfront::Client::new(sdk),
            alarm_answers: Default::default(),
            ecs: aws_sdk_ecs::Client::new(sdk),
            agentcore: aws_sdk_bedrockagentcorecontrol::Client::new(sdk),
        }
    }
}

/// The kind of a failure whose service code says "no such resource" in one
/// of the services read here, else what [`classify`] makes of it.
fn kind_of(code: Option<&str>, message: &str) -> ErrorKind {
    match code {
        Some(
            "ResourceNotFoundException"
            | "NotFoundException"
            | "NoSuchBucket"
            | "NotFound"
            | "AWS.SimpleQueueService.NonExistentQueue"
            | "QueueDoesNotExist"
            | "DBInstanceNotFound"
            | "DBInstanceNotFoundFault"
            | "ReplicationGroupNotFoundFault"
            | "NoSuchEntity"
            | "TableNotFoundException",
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

    async fn secret_value(&self, id: &str) -> Result<String, ReadError> {
        // The context names the secret, never its value.
        let context = format!("reading secret {id}");
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| failed(&context, &e))?;
        match (out.secret_string(), out.secret_binary()) {
            (Some(s), _) => Ok(s.to_string()),
            (None, Some(b)) => String::from_utf8(b.as_ref().to_vec()).map_err(|_| {
                ReadError::new(
                    ErrorKind::BadResponse,
                    format!("{context}: its binary value is not text"),
                )
            }),
            (None, None) => Err(ReadError::new(
                ErrorKind::NotFound,
                format!("{context}: it has no value yet"),
            )),
        }
    }
    async fn role(&self, name: &str) -> Result<RoleState, ReadError> {
        let context = format!("reading role {name}");
        let role = self
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| failed(&context, &e))?;
        let arn = role.role().map(|r| r.arn().to_string()).unwrap_or_default();
        let mut names = Vec::new();
        let mut marker = None;
        loop {
            let out = self
                .iam
                .list_role_policies()
                .role_name(name)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| failed(&format!("listing the inline policies of role {name}"), &e))?;
            names.extend(out.policy_names().iter().cloned());
            marker = out.marker().map(str::to_string);
            if !out.is_truncated() || marker.is_none() {
                break;
            }
        }
        let mut inline = std::collections::BTreeMap::new();
        for policy in names {
            let out = self
                .iam
                .get_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
                .map_err(|e| failed(&format!("reading policy {policy} of role {name}"), &e))?;
            let doc = crate::health::iam::parse_document(out.policy_document());
            inline.insert(policy, doc);
        }
        let mut managed = Vec::new();
        let mut marker = None;
        loop {
            let out = self
                .iam
                .list_attached_role_policies()
                .role_name(name)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| failed(&format!("listing the managed policies of role {name}"), &e))?;
            managed.extend(
                out.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_string)),
            );
            marker = out.marker().map(str::to_string);
            if !out.is_truncated() || marker.is_none() {
                break;
            }
        }
        Ok(RoleState {
            arn,
            inline,
            managed,
        })
    }

    async fn rule(&self, name: &str) -> Result<RuleState, ReadError> {
        let rule = self
            .events
            .describe_rule()
            .name(name)
            .send()
            .await
            .map_err(|e| failed(&format!("reading rule {name}"), &e))?;
        let mut targets = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .events
                .list_targets_by_rule()
                .rule(name)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failed(&format!("listing the targets of rule {name}"), &e))?;
            targets.extend(out.targets().iter().map(|t| t.arn().to_string()));
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(RuleState {
            state: rule
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            targets,
        })
    }

    async fn alarms(&self, names: &[String]) -> Result<Vec<AlarmState>, ReadError> {
        let mut key = names.to_vec();
        key.sort();
        key.dedup();
        let client = self.cloudwatch.clone();
        self.alarm_answers
            .get(key.clone(), move || async move {
                describe_alarms(&client, &key).await
            })
            .await
    }

    async fn point_in_time_recovery(&self, name: &str) -> Result<String, ReadError> {
        let out = self
            .dynamodb
            .describe_continuous_backups()
            .table_name(name)
            .send()
            .await
            .map_err(|e| {
                failed(
                    &format!("reading the point-in-time recovery of table {name}"),
                    &e,
                )
            })?;
        Ok(out
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "DISABLED".to_string()))
    }

    async fn bucket_encryption(&self, name: &str) -> Result<Option<BucketEncryption>, ReadError> {
        let context = format!("reading the default encryption of bucket {name}");
        match self.s3.get_bucket_encryption().bucket(name).send().await {
            Ok(out) => Ok(out
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| BucketEncryption {
                    algorithm: d.sse_algorithm().as_str().to_string(),
                    key: d.kms_master_key_id().map(str::to_string),
                })),
            Err(e)
                if e.as_service_error().and_then(|s| s.code())
                    == Some("ServerSideEncryptionConfigurationNotFoundError") =>
            {
                Ok(None)
            }
            Err(e) => Err(failed(&context, &e)),
        }
    }

    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricPage, ReadError> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
        let queries = request
            .queries
            .iter()
            .map(|(id, q)| {
                let metric = Metric::builder()
                    .namespace(q.namespace)
                    .metric_name(q.metric)
                    .set_dimensions(Some(
                        q.dimensions
                            .iter()
                            .map(|(n, v)| Dimension::builder().name(*n).value(v).build())
                            .collect(),
                    ))
                    .build();
                MetricDataQuery::builder()
                    .id(id)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(request.period_s)
                            .stat(q.stat.as_str())
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let out = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(aws_sdk_cloudwatch::primitives::DateTime::from(
                request.start,
            ))
            .end_time(aws_sdk_cloudwatch::primitives::DateTime::from(request.end))
            .set_next_token(request.next_token.clone())
            .send()
            .await
            .map_err(|e| failed("reading metrics (GetMetricData)", &e))?;
        Ok(MetricPage {
            results: out
                .metric_data_results()
                .iter()
                .map(|r| MetricResult {
                    id: r.id().unwrap_or_default().to_string(),
                    values: r.values().to_vec(),
                    status: r
                        .status_code()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "Complete".to_string()),
                    message: r
                        .messages()
                        .first()
                        .and_then(|m| m.value())
                        .map(str::to_string),
                })
                .collect(),
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn api(&self, id: &str) -> Result<ApiState, ReadError> {
        let context = format!("reading API {id}");
        let c = &self.apigateway;
        let api = c
            .get_api()
            .api_id(id)
            .send()
            .await
            .map_err(|e| failed(&context, &e))?;
        let mut state = ApiState {
            protocol: api
                .protocol_type()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            ..ApiState::default()
        };
        let mut token = None;
        loop {
            let out = c
                .get_stages()
                .api_id(id)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failed(&format!("reading the stages of API {id}"), &e))?;
            state.stages.extend(
                out.items()
                    .iter()
                    .filter_map(|s| s.stage_name().map(str::to_string)),
            );
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        loop {
            let out = c
                .get_routes()
                .api_id(id)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failed(&format!("reading the routes of API {id}"), &e))?;
            state.routes.extend(out.items().iter().map(|r| {
                (
                    r.route_key().unwrap_or_default().to_string(),
                    r.target().map(str::to_string),
                )
            }));
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        loop {
            let out = c
                .get_integrations()
                .api_id(id)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failed(&format!("reading the integrations of API {id}"), &e))?;
            state.integrations.extend(out.items().iter().map(|i| {
                (
                    i.integration_id().unwrap_or_default().to_string(),
                    i.integration_uri().map(str::to_string),
                )
            }));
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(state)
    }

    async fn function_policy(&self, name: &str) -> Result<Option<String>, ReadError> {
        match self.lambda.get_policy().function_name(name).send().await {
            Ok(out) => Ok(out.policy().map(str::to_string)),
            // Lambda says "does not exist" for a function without a policy.
            Err(e)
                if e.as_service_error().and_then(|s| s.code())
                    == Some("ResourceNotFoundException") =>
            {
                Ok(None)
            }
            Err(e) => Err(failed(
                &format!("reading the resource policy of function {name}"),
                &e,
            )),
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
        let text = self.secret_value(name).await?;
        let creds: crate::servers::Credentials = serde_json::from_str(&text).map_err(|_| {
            ReadError::new(
                ErrorKind::Rejected,
                format!("secret {name} does not hold {{\"username\", \"password\"}}"),
            )
        })?;
        let pg = |e: anyhow::Error| postgres_failed(&at, database, &e);
        let client = crate::deploy::databases::connect(&bound.host, bound.port, &creds, database)
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
            let token = self.secret_value(name).await?;
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

    async fn load_balancer(&self, arn: &str) -> Result<LoadBalancerState, ReadError> {
        let context = format!("reading load balancer {arn}");
        let out = match self
            .elbv2
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error().and_then(|s| s.code()) == Some("LoadBalancerNotFound") =>
            {
                return Err(ReadError::new(
                    ErrorKind::NotFound,
                    format!("{context}: no such load balancer"),
                ))
            }
            Err(e) => return Err(failed(&context, &e)),
        };
        let lb = out.load_balancers().first().ok_or_else(|| {
            ReadError::new(
                ErrorKind::NotFound,
                format!("{context}: no such load balancer"),
            )
        })?;
        Ok(LoadBalancerState {
            name: lb.load_balancer_name().unwrap_or_default().to_string(),
            state: lb
                .state()
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
            reason: lb.state().and_then(|s| s.reason()).map(str::to_string),
        })
    }

    async fn target_health(&self, arn: &str) -> Result<Vec<TargetGroupHealth>, ReadError> {
        let context = format!("reading the target groups of load balancer {arn}");
        let mut groups = Vec::new();
        let mut pages = self
            .elbv2
            .describe_target_groups()
            .load_balancer_arn(arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                // moto answers TargetGroupNotFound for a load balancer
                // without target groups, where AWS answers an empty list.
                Err(e)
                    if e.as_service_error().and_then(|s| s.code())
                        == Some("TargetGroupNotFound") =>
                {
                    break
                }
                Err(e) => return Err(failed(&context, &e)),
            };
            for g in page.target_groups() {
                let name = g.target_group_name().unwrap_or_default().to_string();
                let tg_arn = g.target_group_arn().unwrap_or_default();
                let out = self
                    .elbv2
                    .describe_target_health()
                    .target_group_arn(tg_arn)
                    .send()
                    .await
                    .map_err(|e| failed(&format!("reading the target health of {name}"), &e))?;
                let targets = out
                    .target_health_descriptions()
                    .iter()
                    .map(|d| {
                        let h = d.target_health();
                        let reason = h.and_then(|h| {
                            let code = h.reason().map(|r| r.as_str().to_string());
                            match (code, h.description()) {
                                (Some(c), Some(d)) => Some(format!("{c}: {d}")),
                                (Some(c), None) => Some(c),
                                (None, Some(d)) => Some(d.to_string()),
                                (None, None) => None,
                            }
                        });
                        TargetHealth {
                            id: d
                                .target()
                                .and_then(|t| t.id())
                                .unwrap_or_default()
                                .to_string(),
                            state: h
                                .and_then(|h| h.state())
                                .map(|s| s.as_str().to_string())
                                .unwrap_or_default(),
                            reason,
                        }
                    })
                    .collect();
                groups.push(TargetGroupHealth { name, targets });
            }
        }
        Ok(groups)
    }

    async fn rest_api(&self, id: &str) -> Result<RestApiState, ReadError> {
        let context = format!("reading REST API {id}");
        let c = &self.restapi;
        let api = c
            .get_rest_api()
            .rest_api_id(id)
            .send()
            .await
            .map_err(|e| failed(&context, &e))?;
        let stages = c
            .get_stages()
            .rest_api_id(id)
            .send()
            .await
            .map_err(|e| failed(&format!("reading the stages of REST API {id}"), &e))?;
        let mut state = RestApiState {
            name: api.name().unwrap_or_default().to_string(),
            stages: stages
                .item()
                .iter()
                .filter_map(|s| s.stage_name().map(str::to_string))
                .collect(),
            methods: BTreeMap::new(),
        };
        let mut pages = c
            .get_resources()
            .rest_api_id(id)
            .limit(500)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| failed(&format!("reading the resources of REST API {id}"), &e))?;
            for r in page.items() {
                let path = r.path().unwrap_or_default();
                let resource = r.id().unwrap_or_default();
                for method in r.resource_methods().map(|m| m.keys()).into_iter().flatten() {
                    let integration = match c
                        .get_integration()
                        .rest_api_id(id)
                        .resource_id(resource)
                        .http_method(method)
                        .send()
                        .await
                    {
                        Ok(i) => Some(format!(
                            "{} {}",
                            i.r#type().map(|t| t.as_str()).unwrap_or_default(),
                            i.uri().unwrap_or_default()
                        )),
                        Err(e)
                            if e.as_service_error().and_then(|s| s.code())
                                == Some("NotFoundException") =>
                        {
                            None
                        }
                        Err(e) => {
                            return Err(failed(
                                &format!(
                                    "reading the integration of {method} {path} of REST API {id}"
                                ),
                                &e,
                            ))
                        }
                    };
                    state
                        .methods
                        .insert(format!("{method} {path}"), integration);
                }
            }
        }
        Ok(state)
    }

    async fn distribution(&self, id: &str) -> Result<DistributionState, ReadError> {
        let context = format!("reading CloudFront distribution {id}");
        let out = match self.cloudfront.get_distribution().id(id).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("NoSuchDistribution") => {
                return Err(ReadError::new(
                    ErrorKind::NotFound,
                    format!("{context}: no such distribution"),
                ))
            }
            Err(e) => return Err(failed(&context, &e)),
        };
        let d = out.distribution().ok_or_else(|| {
            ReadError::new(
                ErrorKind::NotFound,
                format!("{context}: no such distribution"),
            )
        })?;
        Ok(DistributionState {
            status: d.status().to_string(),
            enabled: d
                .distribution_config()
                .map(|c| c.enabled())
                .unwrap_or(false),
            domain: d.domain_name().to_string(),
        })
    }

    async fn ecs_service(&self, cluster: &str, service: &str) -> Result<EcsService, ReadError> {
        let what = format!("reading ECS service {service} of cluster {cluster}");
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| failed(&what, &e))?;
        let Some(s) = out.services().first() else {
            let why = out
                .failures()
                .first()
                .and_then(|f| f.reason())
                .unwrap_or("no such service")
                .to_string();
            return Err(ReadError::new(
                ErrorKind::NotFound,
                format!("{what}: {why}"),
            ));
        };
        Ok(EcsService {
            status: s.status().unwrap_or_default().to_string(),
            desired: s.desired_count(),
            running: s.running_count(),
            pending: s.pending_count(),
            deployments: s
                .deployments()
                .iter()
                .map(|d| EcsDeployment {
                    status: d.status().unwrap_or_default().to_string(),
                    task_definition: d.task_definition().unwrap_or_default().to_string(),
                    rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                    rollout_reason: d.rollout_state_reason().map(str::to_string),
                })
                .collect(),
        })
    }

    async fn event_bus(&self, name: &str) -> Result<String, ReadError> {
        let out = self
            .events
            .describe_event_bus()
            .name(name)
            .send()
            .await
            .map_err(|e| failed(&format!("reading event bus {name}"), &e))?;
        Ok(out.arn().unwrap_or_default().to_string())
    }

    async fn bus_rule(&self, bus: &str, name: &str) -> Result<RuleState, ReadError> {
        let rule = self
            .events
            .describe_rule()
            .name(name)
            .event_bus_name(bus)
            .send()
            .await
            .map_err(|e| failed(&format!("reading rule {name} of bus {bus}"), &e))?;
        let mut targets = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .events
                .list_targets_by_rule()
                .rule(name)
                .event_bus_name(bus)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    failed(
                        &format!("listing the targets of rule {name} of bus {bus}"),
                        &e,
                    )
                })?;
            targets.extend(out.targets().iter().map(|t| t.arn().to_string()));
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(RuleState {
            state: rule
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            targets,
        })
    }

    async fn role_trust(&self, name: &str) -> Result<Option<serde_json::Value>, ReadError> {
        let context = format!("reading role {name}");
        let out = self
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| failed(&context, &e))?;
        Ok(out
            .role()
            .and_then(|r| r.assume_role_policy_document())
            .and_then(crate::health::iam::parse_document))
    }

    async fn agent_memory(&self, id: &str) -> Result<MemoryState, ReadError> {
        let context = format!("reading AgentCore memory {id}");
        let out = self
            .agentcore
            .get_memory()
            .memory_id(id)
            .send()
            .await
            .map_err(|e| failed(&context, &e))?;
        let m = out.memory();
        Ok(MemoryState {
            status: m
                .map(|m| m.status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            failure_reason: m.and_then(|m| m.failure_reason()).map(str::to_string),
        })
    }
}

/// A failed read of a PostgreSQL a binding names, from its error chain:
/// nothing listening or no route is [`ErrorKind::Unreachable`], refused
/// credentials [`ErrorKind::Denied`], a missing database
/// [`ErrorKind::NotFound`].
fn postgres_failed(at: &str, database: &str, e: &anyhow::Error) -> ReadError {
    use tokio_postgres::error::SqlState;
    let pg = e
        .chain()
        .find_map(|c| c.downcast_ref::<tokio_postgres::Error>());
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
    ReadError::new(
        kind,
        format!("PostgreSQL at {at}, database {database}: {why}"),
    )
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

/// Most alarm names DescribeAlarms takes in one call.
const ALARM_NAMES_PER_CALL: usize = 100;

/// DescribeAlarms for `names`, 100 at a time: the metric alarms that
/// exist.
async fn describe_alarms(
    client: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<Vec<AlarmState>, ReadError> {
    use aws_sdk_cloudwatch::primitives::DateTimeFormat;
    let mut out = Vec::new();
    let since = |t: Option<&aws_sdk_cloudwatch::primitives::DateTime>| {
        (
            t.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok()),
            t.map(|t| t.secs()),
        )
    };
    for chunk in names.chunks(ALARM_NAMES_PER_CALL) {
        let mut token = None;
        loop {
            let answer = client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                // Metric alarms only (stackctl makes no composite ones):
                // reading composite alarms needs the action on `*`.
                .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failed(&format!("reading alarms {}", chunk.join(", ")), &e))?;
            for a in answer.metric_alarms() {
                let (since, since_secs) = since(a.state_updated_timestamp());
                out.push(AlarmState {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    state: a
                        .state_value()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: a.state_reason().unwrap_or_default().to_string(),
                    since,
                    since_secs,
                });
            }
            token = answer.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
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
    fn equal_requests_share_one_answer() {
        use std::cell::Cell;
        use std::rc::Rc;
        let once: Once<Vec<String>, u32> = Once::default();
        let calls = Rc::new(Cell::new(0));
        let ask = |key: &str| {
            let calls = calls.clone();
            once.get(vec![key.to_string()], move || async move {
                calls.set(calls.get() + 1);
                tokio::task::yield_now().await;
                calls.get()
            })
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (a, b, c) = rt.block_on(async { futures_util::join!(ask("x"), ask("x"), ask("y")) });
        // "x" asked twice at once: one call, one answer.
        assert_eq!(calls.get(), 2);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(rt.block_on(ask("x")), a);
        assert_eq!(calls.get(), 2);
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

/// A Bedrock AgentCore memory as `health` reads it (GetMemory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryState {
    /// `CREATING`, `ACTIVE`, `FAILED` or `DELETING`.
    pub status: String,
    /// Why it failed, when it did.
    pub failure_reason: Option<String>,
}
