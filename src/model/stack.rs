//! `stacks/NAME.yaml`: one stack's parameters, resources, outputs.
//!
//! Resources are typed by `type:`. Each kind is a plain struct; the loader
//! reads `type` first and then the rest of the mapping into the kind's
//! struct, so an error inside a resource is located at its exact field.

use super::value::{ParamValue, PerEnv};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The top-level fields of a stack file, in the order of [`StackFile`].
pub const FIELDS: &[&str] = &["description", "parameters", "resources", "outputs"];

/// A stack file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackFile {
    /// What the stack is for; becomes the template's Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Values that vary by environment and reach resources as `${param.NAME}`.
    #[serde(default)]
    pub parameters: BTreeMap<String, Parameter>,
    /// Resources by key (`[a-z][a-z0-9_]*`); read by [`super::load`] into [`Resource`].
    #[serde(default)]
    pub resources: BTreeMap<String, serde_yaml::Value>,
    /// Stack outputs by name (PascalCase), exported as `STACKNAME-OUTPUT`.
    #[serde(default)]
    pub outputs: BTreeMap<String, Output>,
}

/// A stack parameter; becomes a CloudFormation parameter whose value is
/// resolved per environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// `string`, `number` or `boolean`.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Value used where no environment gives one.
    #[serde(default)]
    pub default: Option<ParamValue>,
    /// Values by environment name.
    #[serde(default)]
    pub env: BTreeMap<String, ParamValue>,
    /// Shown in the template and in `--help`-like listings.
    #[serde(default)]
    pub description: Option<String>,
    /// Smallest allowed number.
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest allowed number.
    #[serde(default)]
    pub max: Option<f64>,
    /// The only allowed values.
    #[serde(default)]
    pub allowed: Option<Vec<ParamValue>>,
    /// Takes its value at deploy time from an output of a stack this one
    /// depends on: `STACK.OUTPUT`.
    #[serde(default)]
    pub from_output: Option<String>,
}

/// Type of a stack parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// Any text.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
}

/// A stack output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// The value, with `${resource.attribute}` references.
    pub value: String,
    /// What it is.
    #[serde(default)]
    pub description: Option<String>,
    /// Export it as `STACKNAME-OUTPUT` for other stacks (default true).
    #[serde(default = "yes")]
    pub export: bool,
}

fn yes() -> bool {
    true
}

/// A typed resource.
#[derive(Debug, Clone)]
pub enum Resource {
    /// S3 bucket.
    Bucket(Bucket),
    /// DynamoDB table.
    Table(Table),
    /// Lambda function with its role and log group.
    Function(Function),
    /// API Gateway v2 HTTP API.
    HttpApi(HttpApi),
    /// API Gateway v2 WebSocket API.
    WebsocketApi(WebsocketApi),
    /// EventBridge schedule invoking a function.
    Schedule(Schedule),
    /// CloudWatch alarm on a resource's metric.
    Alarm(Alarm),
    /// Plain CloudFormation.
    Raw(Raw),
}

/// Every resource kind's `type:` name, for hints.
pub const KINDS: &[&str] = &[
    "bucket",
    "table",
    "function",
    "http_api",
    "websocket_api",
    "schedule",
    "alarm",
    "raw",
];

impl Resource {
    /// The kind's `type:` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Bucket(_) => "bucket",
            Resource::Table(_) => "table",
            Resource::Function(_) => "function",
            Resource::HttpApi(_) => "http_api",
            Resource::WebsocketApi(_) => "websocket_api",
            Resource::Schedule(_) => "schedule",
            Resource::Alarm(_) => "alarm",
            Resource::Raw(_) => "raw",
        }
    }

    /// The physical-name pattern the user set, if any.
    pub fn name_pattern(&self) -> Option<&str> {
        match self {
            Resource::Bucket(r) => r.name.as_deref(),
            Resource::Table(r) => r.name.as_deref(),
            Resource::Function(r) => r.name.as_deref(),
            Resource::HttpApi(r) => r.name.as_deref(),
            Resource::WebsocketApi(r) => r.name.as_deref(),
            Resource::Schedule(r) => r.name.as_deref(),
            Resource::Alarm(r) => r.name.as_deref(),
            Resource::Raw(_) => None,
        }
    }

    /// The attributes `${key.ATTR}` may name.
    pub fn attributes(&self) -> &'static [&'static str] {
        match self {
            Resource::Bucket(_) => &["name", "arn", "domain", "website_url"],
            Resource::Table(_) => &["name", "arn", "stream_arn"],
            Resource::Function(_) => &["name", "arn", "role_arn"],
            Resource::HttpApi(_) => &["id", "url", "stage"],
            Resource::WebsocketApi(_) => &["id", "url", "management_url", "stage"],
            Resource::Schedule(_) => &["name", "arn"],
            Resource::Alarm(_) => &["name", "arn"],
            Resource::Raw(_) => &["ref"],
        }
    }
}

/// S3 bucket: private and encrypted (SSE-S3) unless it hosts a public website.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// Physical name pattern (default: the project's naming pattern).
    #[serde(default)]
    pub name: Option<String>,
    /// Keep object versions.
    #[serde(default)]
    pub versioning: bool,
    /// CORS rules.
    #[serde(default)]
    pub cors: Vec<CorsRule>,
    /// Expiry rules.
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
    /// Functions invoked when objects change.
    #[serde(default)]
    pub notifications: Vec<Notification>,
    /// Static website hosting.
    #[serde(default)]
    pub website: Option<Website>,
    /// Keep the bucket when the stack is deleted (default: the `retain_data` setting).
    #[serde(default)]
    pub retain: Option<PerEnv<bool>>,
}

/// One CORS rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsRule {
    /// Methods: GET, PUT, POST, DELETE, HEAD.
    pub methods: Vec<String>,
    /// Allowed origins (default `*`).
    #[serde(default = "star")]
    pub origins: Vec<String>,
    /// Allowed request headers (default `*`).
    #[serde(default = "star")]
    pub headers: Vec<String>,
    /// Response headers the browser may read (e.g. `ETag` for multipart uploads).
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Seconds a preflight answer is cached.
    #[serde(default)]
    pub max_age: Option<u32>,
}

fn star() -> Vec<String> {
    vec!["*".to_string()]
}

/// Object expiry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Delete objects this many days after creation.
    #[serde(default)]
    pub expire_days: Option<PerEnv<u32>>,
    /// Abort multipart uploads left incomplete this many days.
    #[serde(default)]
    pub abort_incomplete_multipart_days: Option<u32>,
    /// Delete non-current versions after this many days (versioned buckets).
    #[serde(default)]
    pub noncurrent_expire_days: Option<u32>,
    /// Only objects under this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// A function invoked on object events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// The function's resource key.
    pub function: String,
    /// `created` and/or `removed` (default `created`).
    #[serde(default = "created")]
    pub events: Vec<String>,
    /// Only keys under this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Only keys ending so.
    #[serde(default)]
    pub suffix: Option<String>,
    /// A boolean parameter that switches this notification on.
    #[serde(default)]
    pub when: Option<String>,
}

fn created() -> Vec<String> {
    vec!["created".to_string()]
}

/// Website hosting; makes objects publicly readable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Website {
    /// Index document (default `index.html`).
    #[serde(default = "index_html")]
    pub index: String,
    /// Error document.
    #[serde(default)]
    pub error: Option<String>,
    /// Allow anonymous reads of every object (needed for S3 website endpoints).
    /// Per environment, so production can be fronted by a CDN instead.
    #[serde(default)]
    pub public: Option<PerEnv<bool>>,
}

fn index_html() -> String {
    "index.html".to_string()
}

/// DynamoDB table, on-demand billing, encrypted at rest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// Key attributes and their types (`string`, `number`, `binary`).
    pub attributes: BTreeMap<String, String>,
    /// Partition key, then optional sort key.
    pub key: Vec<String>,
    /// Global secondary indexes by name.
    #[serde(default)]
    pub indexes: BTreeMap<String, Index>,
    /// Attribute holding the expiry time (epoch seconds).
    #[serde(default)]
    pub ttl: Option<String>,
    /// Stream view: `new_image`, `old_image`, `new_and_old_images`, `keys_only`.
    #[serde(default)]
    pub stream: Option<String>,
    /// Point-in-time recovery (default: the environment setting).
    #[serde(default)]
    pub point_in_time_recovery: Option<PerEnv<bool>>,
    /// Keep the table when the stack is deleted (default: the `retain_data` setting).
    #[serde(default)]
    pub retain: Option<PerEnv<bool>>,
}

/// A global secondary index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Partition key, then optional sort key.
    pub key: Vec<String>,
    /// `all` (default), `keys_only`, or a list of attribute names.
    #[serde(default)]
    pub projection: Option<Projection>,
}

/// What an index holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "`all`, `keys_only` or a list of attribute names"
)]
pub enum Projection {
    /// `all` or `keys_only`.
    Kind(String),
    /// These non-key attributes.
    Include(Vec<String>),
}

/// A Lambda function built from a crate under `lambdas/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// The crate under `lambdas/` (default: the key with `_` as `-`).
    #[serde(default, rename = "crate")]
    pub crate_name: Option<String>,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// Memory in MB, 128–10240 (default: the `function_memory` setting).
    #[serde(default)]
    pub memory: Option<PerEnv<u32>>,
    /// Timeout in seconds, 1–900 (default: the `function_timeout` setting).
    #[serde(default)]
    pub timeout: Option<PerEnv<u32>>,
    /// `x86_64` (default) or `arm64`.
    #[serde(default)]
    pub architecture: Option<String>,
    /// Environment variables; values may hold `${...}` references.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// What the function may do to other resources of the stack.
    #[serde(default)]
    pub grants: BTreeMap<String, Grant>,
    /// Log retention in days (default: the `log_retention_days` setting).
    #[serde(default)]
    pub log_retention_days: Option<PerEnv<u32>>,
    /// Reserved concurrency.
    #[serde(default)]
    pub reserved_concurrency: Option<PerEnv<u32>>,
}

/// Access granted to a function on one resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of access levels, or {access: [...], prefix: ...}"
)]
pub enum Grant {
    /// `[read, write]`.
    Access(Vec<String>),
    /// Access limited to keys under a prefix (buckets).
    Scoped {
        /// Access levels.
        access: Vec<String>,
        /// Key prefix.
        prefix: String,
    },
}

impl Grant {
    /// The access levels.
    pub fn access(&self) -> &[String] {
        match self {
            Grant::Access(a) | Grant::Scoped { access: a, .. } => a,
        }
    }
    /// The key prefix, if scoped.
    pub fn prefix(&self) -> Option<&str> {
        match self {
            Grant::Access(_) => None,
            Grant::Scoped { prefix, .. } => Some(prefix),
        }
    }
}

/// API throttling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// Steady requests per second.
    pub rate: f64,
    /// Burst size.
    pub burst: u32,
}

/// CORS of an HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiCors {
    /// Allowed origins (default `*`).
    #[serde(default = "star")]
    pub origins: Vec<String>,
    /// Allowed methods (default `*`).
    #[serde(default = "star")]
    pub methods: Vec<String>,
    /// Allowed headers (default `*`).
    #[serde(default = "star")]
    pub headers: Vec<String>,
    /// Seconds a preflight answer is cached.
    #[serde(default)]
    pub max_age: Option<u32>,
}

/// API Gateway v2 HTTP API routing to functions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpApi {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// What it serves.
    #[serde(default)]
    pub description: Option<String>,
    /// Stage name (default: the environment's name); `$default` serves at the root.
    #[serde(default)]
    pub stage: Option<String>,
    /// CORS.
    #[serde(default)]
    pub cors: Option<ApiCors>,
    /// `"METHOD /path"` to function key.
    pub routes: BTreeMap<String, String>,
    /// Default route throttling.
    #[serde(default)]
    pub throttle: Option<Throttle>,
}

/// API Gateway v2 WebSocket API routing to functions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebsocketApi {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// What it serves.
    #[serde(default)]
    pub description: Option<String>,
    /// Stage name (default: the environment's name).
    #[serde(default)]
    pub stage: Option<String>,
    /// Route selection expression (default `$request.body.action`).
    #[serde(default)]
    pub route_selection: Option<String>,
    /// Route key (`$connect`, `$disconnect`, `$default`, custom) to function key.
    pub routes: BTreeMap<String, String>,
    /// Default route throttling.
    #[serde(default)]
    pub throttle: Option<Throttle>,
}

/// EventBridge rule invoking a function on a schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// `rate(N unit)` or `cron(...)` (six fields).
    pub expression: String,
    /// The function key to invoke.
    pub target: String,
    /// Whether the rule is enabled (default true).
    #[serde(default)]
    pub enabled: Option<PerEnv<bool>>,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// CloudWatch alarm on a metric of a function, table or API of the stack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// What it means when it fires.
    #[serde(default)]
    pub description: Option<String>,
    /// The resource key whose metric is watched.
    pub target: String,
    /// Metric name, e.g. `Errors`, `Duration`, `UserErrors`.
    pub metric: String,
    /// `Sum` (default), `Average`, `Minimum`, `Maximum`, `SampleCount`.
    #[serde(default)]
    pub statistic: Option<String>,
    /// Seconds per datapoint: 10, 30 or a multiple of 60 (default 300).
    #[serde(default)]
    pub period: Option<u32>,
    /// Datapoints evaluated (default 1).
    #[serde(default)]
    pub evaluation_periods: Option<u32>,
    /// Threshold, per environment if needed.
    pub threshold: PerEnv<f64>,
    /// `>`, `>=`, `<`, `<=` (default `>`).
    #[serde(default)]
    pub comparison: Option<String>,
}

/// Plain CloudFormation for what no kind covers. The logical id is the key in PascalCase.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// CloudFormation type, e.g. `AWS::SSM::Parameter`.
    pub resource_type: String,
    /// Properties, passed through unchanged.
    #[serde(default)]
    pub properties: Option<serde_yaml::Value>,
    /// Logical ids this resource depends on.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// `Delete`, `Retain` or `Snapshot`.
    #[serde(default)]
    pub deletion_policy: Option<String>,
}
