//! `function`: a Lambda function built from a crate under `lambdas/`, with
//! its own role (its log group plus its grants, nothing else) and log group.
//! Grants on it: `invoke`. Alarms: `AWS/Lambda`.

use super::key::{self, Encryption};
use super::queue::CONSUME_ACTIONS;
use super::{AlarmMetrics, KeyUse, Kind, Part, Resource};
use crate::aws::resources::{FunctionState, MetricQuery, Resources, RoleState, Stat};
use crate::health::access::Access;
use crate::health::metrics::{self, Series, Watch, Window};
use crate::health::{Finding, Pending, Target};
use crate::limits;
use crate::limits::simple_problem;
use crate::model::source::{index, join};
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::{Builder, ARTEFACT_BUCKET_PARAM};
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

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
    /// `x86_64` (default) or `arm64`, per environment
    /// (`{default: arm64, local: x86_64}`).
    #[serde(default)]
    pub architecture: Option<PerEnv<crate::build::Arch>>,
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
    /// Encrypt its environment variables and log group with a `key` of the
    /// stack (default: AWS-managed keys).
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// A queue of the stack it consumes (an event source mapping).
    #[serde(default)]
    pub consumes: Option<Consumes>,
    /// X-Ray tracing, per environment (default: the `tracing` setting).
    #[serde(default)]
    pub tracing: Option<PerEnv<bool>>,
    /// Run in the private subnets of a `network` of the stack, with a
    /// security group of its own (what it may reach: the network's `allow`
    /// rules, and HTTPS anywhere through NAT).
    #[serde(default)]
    pub network: Option<String>,
    /// Its own limits for `health`'s metric checks:
    /// `{error_rate: {warn: 1, fail: 5}}` (percent; these are the defaults).
    #[serde(default)]
    pub health: Option<metrics::RateHealth>,
    /// Bedrock models a `bedrock: [invoke]` grant lets it invoke (ids:
    /// foundation models or inference profiles, or `${param.NAME}`).
    #[serde(default)]
    pub bedrock_models: Vec<String>,
}

/// `consumes:`: Lambda polls a queue, or a table's stream, and invokes the
/// function with batches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumes {
    /// The `queue` resource of the stack.
    #[serde(default)]
    pub queue: Option<String>,
    /// A `table` of the stack whose stream it reads (instead of `queue`).
    #[serde(default)]
    pub table: Option<String>,
    /// Where a stream is first read: `latest` (default) or `trim_horizon`
    /// (the oldest record kept, up to a day back).
    #[serde(default)]
    pub start: Option<StreamStart>,
    /// Only records matching these event filter patterns invoke it.
    #[serde(default)]
    pub filter: Vec<serde_json::Value>,
    /// Times a failed stream batch is retried before it goes to the
    /// function's dead-letter queue, 0–10000 (default 3).
    #[serde(default)]
    pub retries: Option<u32>,
    /// Messages per invocation: 1–10000, at most 10 for a FIFO queue
    /// (default 10).
    #[serde(default)]
    pub batch_size: Option<u32>,
    /// Seconds to gather a batch, 0–300 (needed above 10 messages; default 0).
    #[serde(default)]
    pub batch_window: Option<u32>,
    /// Most concurrent invocations the queue drives, 2–1000 (default: no limit).
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// The function reports failed messages (`batchItemFailures`) so only
    /// they return to the queue (default true).
    #[serde(default)]
    pub report_batch_item_failures: Option<bool>,
}

/// Where Lambda starts reading a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamStart {
    /// New records only.
    Latest,
    /// The oldest record the stream keeps.
    TrimHorizon,
}

/// Access granted to a function on one resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of access levels, {access: [...], prefix: ...}, {access: [...], source: ...}, or {actions: [...], arn: ...}"
)]
pub enum Grant {
    /// `[read, write]`.
    Access(Vec<String>),
    /// Access limited to keys under a prefix, or under any of a list of
    /// them (buckets).
    Scoped {
        /// Access levels.
        access: Vec<String>,
        /// Key prefix(es).
        prefix: Prefixes,
    },
    /// Explicit IAM actions on any resource of the stack with an ARN (a
    /// `raw` one, say), or on `arn:` (which may hold `${...}`).
    Actions {
        /// IAM actions, `service:Action`; no `*` alone or `service:*`.
        actions: Vec<String>,
        /// The ARN (default: the resource's `arn` attribute, or `Fn::GetAtt
        /// Id.Arn` for `raw`).
        #[serde(default)]
        arn: Option<String>,
    },
    /// Access limited to events of one source (an `event_bus`'s `put`).
    Sourced {
        /// Access levels.
        access: Vec<String>,
        /// The `source` of the events the function may put.
        source: String,
    },
}

impl Grant {
    /// The access levels.
    pub fn access(&self) -> &[String] {
        match self {
            Grant::Access(a) | Grant::Scoped { access: a, .. } => a,
            Grant::Actions { .. } => &[],
            Grant::Sourced { access: a, .. } => a,
        }
    }
    /// The key prefixes it is limited to (none: not limited).
    pub fn prefixes(&self) -> &[String] {
        match self {
            Grant::Access(_) | Grant::Actions { .. } | Grant::Sourced { .. } => &[],
            Grant::Scoped { prefix, .. } => prefix.as_slice(),
        }
    }
    /// The event source, if limited to one.
    pub fn source(&self) -> Option<&str> {
        match self {
            Grant::Sourced { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A grant's `prefix:`: one key prefix, or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Prefixes {
    /// `prefix: uploads/`.
    One(String),
    /// `prefix: [uploads/, transcripts/]`.
    Many(Vec<String>),
}

impl Prefixes {
    /// The prefixes, in order.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Prefixes::One(p) => std::slice::from_ref(p),
            Prefixes::Many(list) => list,
        }
    }
}

/// Its execution role.
pub const ROLE: Part = Part {
    name: "role",
    suffix: "Role",
};
/// Its log group.
const LOG_GROUP: Part = Part {
    name: "log_group",
    suffix: "LogGroup",
};
/// The event source mapping of `consumes:`.
const CONSUMES: Part = Part {
    name: "consumes",
    suffix: "Consumes",
};
/// The dead-letter queue of an asynchronously invoked function.
const DEAD_LETTER: Part = Part {
    name: "dead_letter",
    suffix: "DeadLetter",
};

/// The instruction set `f` runs on in environment `env` (x86_64 unless
/// `architecture:` says otherwise).
pub fn architecture(f: &Function, env: &str) -> crate::build::Arch {
    f.architecture
        .as_ref()
        .and_then(|a| a.get(env))
        .unwrap_or_default()
}

/// The crate a function is built from: `crate:`, or the key with `_` as `-`.
pub fn crate_name(key: &str, f: &Function) -> String {
    f.crate_name
        .clone()
        .unwrap_or_else(|| key.replace('_', "-"))
}

/// `state`: Lambda has the function `Active` and its last update
/// `Successful`; a function still being created or updated is not settled.
fn health_state(f: &FunctionState, env: &str) -> Finding {
    let state = f.state.as_deref().unwrap_or("(none)");
    let update = f.last_update_status.as_deref().unwrap_or("(none)");
    let observed = format!("State {state}, LastUpdateStatus {update}");
    let why = |r: &Option<String>| r.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
    let finding = match (f.state.as_deref(), f.last_update_status.as_deref()) {
        (Some("Active"), Some("Successful") | None) => Finding::pass("state", "Active"),
        (Some("Failed"), _) => Finding::fail("state", format!("State Failed{}", why(&f.state_reason)))
            .hint(format!("Lambda could not create or restore it; fix what the reason names, then `stackctl deploy --env {env}`")),
        (Some("Inactive"), _) => Finding::fail(
            "state",
            format!("State Inactive{}", why(&f.state_reason)),
        )
        .hint("idle functions lose their resources; an invocation reactivates it, and the reason names what keeps it inactive"),
        (_, Some("Failed")) => Finding::fail(
            "state",
            format!("the last update failed{}", why(&f.last_update_reason)),
        )
        .hint(format!("it runs its previous configuration; fix what the reason names, then `stackctl deploy --env {env}`")),
        (Some("Pending"), _) | (_, Some("InProgress")) => Finding::unknown(
            "state",
            format!("not settled yet: {observed}"),
        )
        .hint("run health again in a minute"),
        _ => Finding::unknown("state", format!("unexpected: {observed}")),
    };
    finding
        .observed(observed)
        .expected("State Active, LastUpdateStatus Successful")
}

/// `code`: the function runs the zip its deployed stack names (the
/// `<Function>CodeKey` parameter, `functions/CRATE/SHA256.zip`).
fn health_code(f: &FunctionState, t: &Target<'_>, logical: &str, name: &str) -> Finding {
    let param = super::CODE_KEY.of(logical);
    let Some(key) = t.deployed.parameters.get(&param) else {
        return Finding::unknown(
            "code",
            format!("the deployed stack has no parameter {param} naming its code"),
        );
    };
    let hex = key
        .rsplit('/')
        .next()
        .and_then(|file| file.strip_suffix(".zip"))
        .unwrap_or_default();
    let Some(want) = crate::aws::functions::lambda_sha256(hex) else {
        return Finding::unknown("code", format!("{param} is `{key}`, which names no sha256"));
    };
    if f.code_sha256 == want {
        return Finding::pass("code", format!("runs {key}"))
            .observed(format!("CodeSha256 {}", f.code_sha256))
            .expected(format!("CodeSha256 {want} ({key})"));
    }
    let bucket = t
        .deployed
        .parameters
        .get(ARTEFACT_BUCKET_PARAM)
        .map(String::as_str)
        .unwrap_or("BUCKET");
    Finding::fail("code", "runs other code than its stack names")
        .observed(format!("CodeSha256 {}", f.code_sha256))
        .expected(format!("CodeSha256 {want} ({key})"))
        .hint(format!(
            "its code was replaced outside the stack (after `deploy --hotswap` this is expected until the next deploy; `stackctl status --env {}` lists those); set it back: `aws lambda update-function-code --function-name {name} --s3-bucket {bucket} --s3-key {key}`",
            t.env
        ))
}

/// `concurrency`: not reserved to 0, which throttles every invocation.
fn health_concurrency(f: &FunctionState, name: &str) -> Finding {
    match f.reserved_concurrency {
        Some(0) => Finding::fail("concurrency", "reserved concurrency is 0: every invocation is throttled")
            .observed("reserved 0")
            .expected("unreserved, or above 0")
            .hint(format!("`aws lambda delete-function-concurrency --function-name {name}` (or put back the value the stack sets)")),
        Some(n) => Finding::pass("concurrency", format!("reserved concurrency {n}"))
            .observed(format!("reserved {n}"))
            .expected("unreserved, or above 0"),
        None => Finding::pass("concurrency", "no reserved concurrency: it shares the account's")
            .observed("unreserved")
            .expected("unreserved, or above 0"),
    }
}

/// `role`: the execution role exists and holds exactly the rendered
/// policies: each inline policy equal to the rendered one (compared as IAM
/// reads it, see [`crate::health::iam`]), no other inline policy, and the
/// managed policies rendered (none, for stackctl's roles). A statement
/// added by hand, or a `*` resource, fails naming the statement; so does a
/// rendered permission that went missing (the function loses access). A
/// hand-added `Deny` alone warns: it narrows access.
fn health_role(role: &RoleState, t: &Target<'_>, logical: &str, name: &str) -> Finding {
    use crate::health::iam::compare;
    use crate::health::resolve::Resolver;
    let resolver = Resolver::new(t).with_arn(&role.arn);
    let props = t.properties(logical);
    let rendered: Vec<(&str, &Json)> = props
        .and_then(|p| p.get("Policies"))
        .and_then(Json::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| Some((p.get("PolicyName")?.as_str()?, p.get("PolicyDocument")?)))
                .collect()
        })
        .unwrap_or_default();
    let rendered_managed: Vec<String> = props
        .and_then(|p| p.get("ManagedPolicyArns"))
        .and_then(Json::as_array)
        .map(|a| a.iter().map(|m| resolver.resolve(m).to_string()).collect())
        .unwrap_or_default();
    let mut problems: Vec<String> = Vec::new();
    // Whether something allows a bare `*` resource.
    let mut star = false;
    for (policy, doc) in &rendered {
        match role.inline.get(*policy) {
            None => problems.push(format!("inline policy {policy} is missing")),
            Some(None) => problems.push(format!("inline policy {policy} is not JSON")),
            Some(Some(live)) => {
                let diff = compare(doc, live, &resolver);
                star |= diff.extra.iter().any(|e| e.star && e.effect == "Allow");
                problems.extend(
                    diff.extra
                        .into_iter()
                        .map(|e| format!("{policy}: {}", e.text))
                        .chain(diff.missing.into_iter().map(|m| format!("{policy}: {m}"))),
                );
            }
        }
    }
    for (policy, doc) in &role.inline {
        if rendered.iter().any(|(p, _)| p == policy) {
            continue;
        }
        let empty = json!({"Statement": []});
        let diff = doc
            .as_ref()
            .map(|d| compare(&empty, d, &resolver))
            .unwrap_or_default();
        star |= diff.extra.iter().any(|e| e.star && e.effect == "Allow");
        let allows: Vec<String> = diff.extra.into_iter().map(|e| e.text).collect();
        problems.push(if allows.is_empty() {
            format!("inline policy {policy} is not rendered")
        } else {
            format!(
                "inline policy {policy} is not rendered: {}",
                allows.join("; ")
            )
        });
    }
    for arn in &role.managed {
        if !rendered_managed.contains(arn) {
            problems.push(format!("managed policy {arn} is attached but not rendered"));
        }
    }
    for arn in &rendered_managed {
        if !role.managed.contains(arn) {
            problems.push(format!("managed policy {arn} is not attached"));
        }
    }
    let names: Vec<&str> = rendered.iter().map(|(p, _)| *p).collect();
    let expected = format!(
        "inline {} as rendered{}",
        if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(", ")
        },
        if rendered_managed.is_empty() {
            ", no managed policies".to_string()
        } else {
            format!(", managed {}", rendered_managed.join(", "))
        }
    );
    if problems.is_empty() {
        let count: usize = rendered
            .iter()
            .map(|(_, d)| {
                d.get("Statement")
                    .and_then(Json::as_array)
                    .map_or(0, Vec::len)
            })
            .sum();
        return Finding::pass(
            "role",
            format!("{name} holds the rendered policy ({count} statements)"),
        )
        .observed(format!(
            "inline {}",
            role.inline.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
        .expected(expected);
    }
    let observed = format!(
        "{} difference{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    let reason = problems.join("; ");
    let first = names.first().copied().unwrap_or("POLICY");
    let hint = format!(
        "the role was changed outside CloudFormation, which does not notice it (a deploy does not repair it): remove what was added (`aws iam delete-role-policy --role-name {name} --policy-name NAME` for an extra policy, `aws iam detach-role-policy` for a managed one), or put back the rendered document of {first} (`stackctl render --env {} {}`) with `aws iam put-role-policy --role-name {name} --policy-name {first}`",
        t.env, t.stack
    );
    let f = if problems.iter().all(|p| p.contains(" denies ")) {
        // Only hand-added denials: access is narrower, not wider.
        Finding::warn("role", reason)
    } else if star {
        Finding::fail("role", format!("allows a `*` resource: {reason}"))
    } else {
        Finding::fail("role", reason)
    };
    f.observed(observed).expected(expected).hint(hint)
}

/// The checks one GetFunction decides.
const READ_CHECKS: &[&str] = &["state", "code", "concurrency"];
/// The checks judged on its metrics over the window.
const METRIC_CHECKS: &[&str] = &["errors", "throttles"];

/// `errors`: `Errors` / `Invocations` over the window, against
/// [`metrics::ERROR_RATE`].
fn health_errors(
    errors: &Series,
    invocations: &Series,
    limits: metrics::RateLimits,
    name: &str,
    w: &Window,
) -> Finding {
    let f = metrics::rate(
        "errors",
        errors,
        invocations,
        metrics::RateOf {
            errors: "Errors",
            total: "Invocations",
            noun: "invocations",
        },
        limits,
        w,
    );
    match f.status {
        crate::health::Status::Warn | crate::health::Status::Fail => f.hint(format!(
            "read what failed: `aws logs tail /aws/lambda/{name} --since {}`",
            w.text()
        )),
        _ => f,
    }
}

/// `throttles`: any invocation Lambda throttled over the window warns.
fn health_throttles(throttles: &Series, name: &str, w: &Window) -> Finding {
    let n = throttles.sum();
    let observed = format!("Throttles {} in the last {}", metrics::count(n), w.text());
    let f = if n > 0.0 {
        let s = if n == 1.0 { "" } else { "s" };
        Finding::warn(
            "throttles",
            format!("{} invocation{s} throttled in the last {}", metrics::count(n), w.text()),
        )
        .hint(format!(
            "it ran out of concurrency: raise its reserved concurrency, or the account's limit (`aws lambda get-account-settings`); `aws lambda get-function-concurrency --function-name {name}`"
        ))
    } else {
        Finding::pass(
            "throttles",
            format!("no throttles in the last {}", w.text()),
        )
    };
    f.observed(observed).expected("Throttles 0")
}

impl Kind for Function {
    const NAME: &'static str = "function";
    const TEMPLATE_FILE: &'static str = "function.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/function.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn", "role_arn"];
    const GRANT_LEVELS: &'static [&'static str] = &["invoke"];
    const BUILT: bool = true;
    const HEALTH_CHECKS: &'static [&'static str] = &[
        "state",
        "code",
        "concurrency",
        "role",
        "errors",
        "throttles",
    ];
    const ALARM: Option<AlarmMetrics> = Some(AlarmMetrics {
        namespace: "AWS/Lambda",
        dimension: "FunctionName",
        metrics: &[
            "Errors",
            "Duration",
            "Throttles",
            "Invocations",
            "ConcurrentExecutions",
            "IteratorAge",
            "DeadLetterErrors",
        ],
    });

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn graphs(&self, _cx: &Builder, key: &str) -> Vec<super::Graph> {
        use super::Graph;
        let name = json!({"Ref": pascal(key)});
        vec![
            Graph::of(
                "errors and throttles",
                "AWS/Lambda",
                "FunctionName",
                name.clone(),
                &[("Errors", "Sum"), ("Throttles", "Sum")],
            ),
            Graph::of(
                "duration",
                "AWS/Lambda",
                "FunctionName",
                name,
                &[("Duration", "p95")],
            ),
        ]
    }

    /// One GetFunction, judged three ways: `state` (Active, last update
    /// Successful), `code` (the zip its stack names) and `concurrency` (not
    /// reserved to 0).
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        vec![
            Pending::new(READ_CHECKS, async move {
                let logical = t.logical_id();
                let name = t.physical_id(&logical)?;
                let f = aws.function(name).await?;
                Ok(vec![
                    health_state(&f, t.env),
                    health_code(&f, &t, &logical, name),
                    health_concurrency(&f, name),
                ])
            }),
            Pending::new(&["role"], async move {
                let logical = ROLE.of(&t.logical_id());
                let name = t.physical_id(&logical)?;
                let role = aws.role(name).await?;
                Ok(vec![health_role(&role, &t, &logical, name)])
            }),
        ]
    }

    /// GetFunction on the function; the role's reads on its role (its
    /// name is CloudFormation's, `STACK-<Key>Role-<random>`).
    fn health_access(&self, a: &crate::health::access::AccessTarget<'_>) -> Vec<Access> {
        let logical = a.logical_id();
        let mut out = Vec::new();
        if let Some(name) = a.property(&logical, "FunctionName") {
            out.push(Access::new(
                "ReadFunctions",
                &["lambda:GetFunction", "lambda:GetPolicy"],
                a.arn("lambda", &format!("function:{name}")),
            ));
        }
        out.push(Access::new(
            "ReadFunctionRoles",
            &[
                "iam:GetRole",
                "iam:ListRolePolicies",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
            ],
            a.generated_role_arn(&ROLE.of(&logical)),
        ));
        out.push(Access::any(
            super::api::METRICS_ONLY_STAR,
            &["cloudwatch:GetMetricData"],
        ));
        out
    }

    /// `errors` (error rate) and `throttles` over the window, from
    /// `AWS/Lambda` `Errors`, `Invocations` and `Throttles` (sums).
    fn metrics<'a>(&'a self, t: Target<'a>) -> Vec<Watch<'a>> {
        let name = match t.physical_id(&t.logical_id()) {
            Ok(name) => name,
            Err(stop) => return vec![Watch::stop(METRIC_CHECKS, stop)],
        };
        let q = |metric| MetricQuery::new("AWS/Lambda", metric, "FunctionName", name, Stat::Sum);
        let limits = metrics::RateHealth::limits(&self.health);
        vec![Watch::new(
            METRIC_CHECKS,
            vec![q("Errors"), q("Invocations"), q("Throttles")],
            move |v, w| {
                vec![
                    health_errors(&v[0], &v[1], limits, name, w),
                    health_throttles(&v[2], name, w),
                ]
            },
        )]
    }

    // The log group `/aws/lambda/NAME` and the function share this limit.
    fn name_problem(name: &str) -> Option<String> {
        simple_problem("function name", name, 64, "-_")
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let f = self;
        let l = pascal(key);
        metrics::RateHealth::check(&f.health, cx, path);
        for id in [l.clone(), ROLE.of(&l), LOG_GROUP.of(&l)] {
            cx.claim(&id, path);
        }
        if self.consumes.is_some() {
            cx.claim(&CONSUMES.of(&l), &join(path, "consumes"));
        }
        let network = self.network.as_ref().and_then(|n| {
            let npath = join(path, "network");
            let Some(Resource::Network(net)) = cx.target(n, &npath, &["network"]) else {
                return None;
            };
            let group = super::network::SECURITY_GROUP.of(&l);
            cx.claim(&group, &npath);
            Some(json!({
                "vpc": pascal(n),
                "subnets": super::network::private_subnets(net, n, cx.env),
                "security_group": group,
            }))
        });
        // Invoked asynchronously (a bucket notification, a schedule, a
        // topic): after Lambda's retries a failed event goes to a
        // dead-letter queue instead of being dropped.
        let stack = cx.stack;
        // A stream consumer's failed batches go there too, after their
        // retries, rather than holding up the shard.
        let reads_stream = self.consumes.as_ref().is_some_and(|c| c.table.is_some());
        let async_invoked = reads_stream || stack.resources.values().any(|r| r.invokes_async(key));
        if async_invoked {
            cx.claim(&DEAD_LETTER.of(&l), path);
        }
        let name = cx.name(key);
        let memory = cx
            .ranged(
                &f.memory,
                path,
                "memory",
                "memory of",
                &limits::FUNCTION_MEMORY_MB,
            )
            .or(Some(cx.settings.function_memory));
        let timeout = cx
            .ranged(
                &f.timeout,
                path,
                "timeout",
                "timeout of",
                &limits::FUNCTION_TIMEOUT_S,
            )
            .or(Some(cx.settings.function_timeout));
        let retention = match &f.log_retention_days {
            Some(r) => {
                cx.check_retention(r, &join(path, "log_retention_days"));
                cx.per_env(r, &join(path, "log_retention_days"))
            }
            None => Some(cx.settings.log_retention_days),
        };
        let reserved = cx.ranged(
            &f.reserved_concurrency,
            path,
            "reserved_concurrency",
            "reserved concurrency of",
            &limits::RESERVED_CONCURRENCY,
        );
        check_crate(cx, key, f, path);
        let arch = match &f.architecture {
            Some(a) => cx
                .per_env(a, &join(path, "architecture"))
                .unwrap_or_default(),
            None => crate::build::Arch::default(),
        };
        let mut env = Map::new();
        for (k, v) in &f.environment {
            let vpath = join(&join(path, "environment"), k);
            if let Some((problem, hint)) = env_name_problem(k) {
                cx.error_hint(&vpath, problem, hint);
            }
            env.insert(k.clone(), cx.value(v, &vpath));
        }
        let tracing = match &f.tracing {
            Some(t) => cx
                .per_env(t, &join(path, "tracing"))
                .unwrap_or(cx.settings.tracing),
            None => cx.settings.tracing,
        };
        let mut statements = iam::baseline(&name, tracing);
        if network.is_some() {
            // What Lambda does with the role to attach the function to
            // its subnets (AWSLambdaVPCAccessExecutionRole's actions). EC2
            // scopes none of them to the function's own interfaces.
            statements.push(json!({
                "Sid": "ManageNetworkInterfaces",
                "Effect": "Allow",
                "Action": [
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                "Resource": "*",
            }));
        }
        if async_invoked {
            statements.push(json!({
                "Sid": "DeadLetterSend",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [{"Fn::GetAtt": [DEAD_LETTER.of(&l), "Arn"]}],
            }));
        }
        // Keys the role uses: (logical id, for whom, whether it writes).
        let mut key_users = BTreeSet::new();
        let mut through: BTreeMap<String, (String, bool)> = BTreeMap::new();
        let own_key = key::resolve(cx, &f.encryption, path);
        if let Some(k) = &own_key {
            key_users.insert(k.clone());
            statements.push(key::use_statement(key, k, false));
        }
        let consumes = self
            .consumes
            .as_ref()
            .and_then(|c| consumes(cx, key, c, timeout, &join(path, "consumes")));
        if let Some(c) = &consumes {
            let source = c["source_key"].as_str().unwrap_or_default().to_string();
            let is_table = c["stream"].as_bool().unwrap_or(false);
            let (level, actions, arn) = if is_table {
                ("stream", super::table::STREAM_ACTIONS, "StreamArn")
            } else {
                ("consume", CONSUME_ACTIONS, "Arn")
            };
            let queue = source;
            if !f
                .grants
                .get(&queue)
                .is_some_and(|g| g.access().iter().any(|l| l == level))
            {
                statements.push(iam::allow(
                    &queue,
                    level,
                    actions,
                    vec![json!({"Fn::GetAtt": [pascal(&queue), arn]})],
                    None,
                ));
            }
            if let Some(k) = c["key"].as_str() {
                through.entry(queue).or_insert((k.to_string(), false));
            }
        }
        let mut role = RoleAccess {
            statements,
            key_users,
            through,
        };
        let granted = apply_grants(
            cx,
            key,
            "function",
            &f.grants,
            f.network.as_deref(),
            &mut env,
            &mut role,
            None,
            path,
        );
        let bound_ports = granted.bound_ports;
        // Grants on AWS services (`bedrock`, `mediaconvert`).
        let services = iam::service_grants(cx, "function", &f.grants, path);
        role.statements.extend(services.statements);
        role.statements.extend(iam::bedrock_invoke(
            cx,
            services.bedrock_invoke,
            true,
            &f.bedrock_models,
            path,
        ));
        let (statements, key_users) = role.finish();
        let key_user_tags: Vec<String> = key_users.iter().map(|k| key::user_tag(k)).collect();
        json!({
            "ids": super::ids(&l, &[ROLE, LOG_GROUP]),
            "logical": l,
            "name": name,
            "description": f.description,
            "key": own_key,
            "key_user_tags": key_user_tags,
            "consumes": consumes,
            "network": network,
            "bound_ports": bound_ports,
            "dead_letter": async_invoked.then(|| json!({
                "logical": DEAD_LETTER.of(&l),
                "name": format!("{name}-dlq"),
            })),
            "memory": memory,
            "timeout": timeout,
            "architecture": arch,
            "environment": env,
            "statements": statements,
            "log_retention_days": retention,
            "reserved_concurrency": reserved,
            "tracing": tracing,
            "code_key_param": super::CODE_KEY.of(&l),
            "log_group_name": format!("/aws/lambda/{name}"),
            "role_description": format!("Execution role of {name}"),
            "artefact_bucket_param": ARTEFACT_BUCKET_PARAM,
        })
    }

    fn encryption_key(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key.as_str())
    }

    fn network(&self) -> Option<&str> {
        self.network.as_deref()
    }

    // Invoking an encrypted function does not use its key.
    fn key_use(&self, _key: &str) -> Option<KeyUse> {
        None
    }

    fn attribute(&self, _cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "name" => json!({"Ref": l}),
            "arn" => json!({"Fn::GetAtt": [l, "Arn"]}),
            "role_arn" => json!({"Fn::GetAtt": [ROLE.of(&l), "Arn"]}),
            // Not an attribute of a function (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn grant(
        &self,
        _cx: &mut Builder,
        key: &str,
        level: &str,
        _prefixes: &[String],
        _path: &str,
    ) -> Option<Json> {
        match level {
            "invoke" => Some(iam::allow(
                key,
                level,
                &["lambda:InvokeFunction"],
                vec![json!({"Fn::GetAtt": [pascal(key), "Arn"]})],
                None,
            )),
            // Not a level of a function (GRANT_LEVELS is checked first).
            _ => None,
        }
    }
}

/// What grants give a role: its statements, the keys it uses (logical
/// ids), and the resources it reaches through a key (target → (key,
/// whether it writes)), whose key-use statements [`RoleAccess::finish`]
/// adds.
#[derive(Debug, Default)]
pub(crate) struct RoleAccess {
    /// Its statements so far.
    pub statements: Vec<Json>,
    /// Keys it uses directly.
    pub key_users: BTreeSet<String>,
    /// Resources it reaches through their key.
    pub through: BTreeMap<String, (String, bool)>,
}

impl RoleAccess {
    /// The statements, with the key use of everything reached through a
    /// key, and the keys the role uses.
    pub fn finish(mut self) -> (Vec<Json>, BTreeSet<String>) {
        for (target, (k, writes)) in &self.through {
            self.statements.push(key::use_statement(target, k, *writes));
            self.key_users.insert(k.clone());
        }
        (self.statements, self.key_users)
    }
}

/// What [`apply_grants`] gives besides role statements.
#[derive(Debug, Default)]
pub(crate) struct Granted {
    /// Ports of servers bound in this environment that grants reach
    /// (outside the VPC's rules): the member's group lets it out to them.
    pub bound_ports: BTreeSet<u16>,
    /// Secret values to inject (variable, `valueFrom`), for a container.
    pub secrets: Vec<(String, Json)>,
}

/// Derives least privilege from the `grants:` of resource `key` (a
/// `noun`: function or service) on network `network`: each grant's
/// statement goes to `role` and its environment into `env`. With
/// `injected` (a container's execution role), a grant on something whose
/// secret ECS injects ([`super::Kind::container_grant`]) puts its statement
/// and key use there instead, and its secrets in [`Granted::secrets`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_grants(
    cx: &mut Builder,
    key: &str,
    noun: &str,
    grants: &BTreeMap<String, Grant>,
    network: Option<&str>,
    env: &mut Map<String, Json>,
    role: &mut RoleAccess,
    mut injected: Option<&mut RoleAccess>,
    path: &str,
) -> Granted {
    let mut secrets: Vec<(String, Json)> = Vec::new();
    let targets = super::grant_targets();
    let mut bound_ports = BTreeSet::new();
    for (target, grant) in grants {
        let gpath = join(&join(path, "grants"), target);
        // `bedrock`, `mediaconvert`: AWS services, not resources of the
        // stack (see [`iam::service_grants`]).
        if iam::service_grant_levels(target).is_some() {
            continue;
        }
        if let Grant::Actions { actions, arn } = grant {
            let Some(r) = cx.target(target, &gpath, super::KINDS) else {
                continue;
            };
            if let Some(s) = explicit_grant(cx, r, target, actions, arn.as_deref(), &gpath) {
                role.statements.push(s);
            }
            if let Some(KeyUse::Direct(k) | KeyUse::Through(k)) = r.key_use(target) {
                let writes = actions.iter().any(|a| !reads(a));
                if r.kind() == "key" {
                    role.key_users.insert(k);
                } else {
                    let e = role.through.entry(target.clone()).or_insert((k, false));
                    e.1 |= writes;
                }
            }
            continue;
        }
        let Some(r) = cx.target(target, &gpath, &targets) else {
            pass_hint(cx, target, grant);
            continue;
        };
        if let Some(b) = cx.replaced(target) {
            bound_ports.insert(b.port);
        } else if let Some(net) = r.network() {
            if let Some((problem, hint)) =
                super::network::unreachable_by(cx.stack, net, noun, key, network, target)
            {
                cx.error_hint(&gpath, problem, hint);
            }
        }
        let allowed = r.grant_levels();
        // For a container, what each level gives instead (ECS injects the
        // secret): then the execution role reads it, not the task role.
        let container: Vec<Option<super::ContainerGrant>> = grant
            .access()
            .iter()
            .map(|l| match &injected {
                Some(_) if allowed.contains(&l.as_str()) => r.container_grant(cx, target, l),
                _ => None,
            })
            .collect();
        let dest: &mut RoleAccess = match injected.as_deref_mut() {
            Some(i) if container.iter().any(Option::is_some) => i,
            _ => &mut *role,
        };
        match r.key_use(target) {
            Some(KeyUse::Direct(k)) => {
                dest.key_users.insert(k);
            }
            Some(KeyUse::Through(k)) => {
                let writes = grant.access().iter().any(|l| r.writes(l));
                let e = dest.through.entry(target.clone()).or_insert((k, false));
                e.1 |= writes;
            }
            None => {}
        }
        if !grant.prefixes().is_empty() && !r.grant_prefix() {
            cx.error_hint(
                &join(&gpath, "prefix"),
                "only bucket grants take a prefix",
                "remove `prefix:`",
            );
        }
        if matches!(grant, Grant::Scoped { prefix: Prefixes::Many(list), .. } if list.is_empty()) {
            cx.error_hint(
                &join(&gpath, "prefix"),
                "`prefix: []` names no keys",
                "list the key prefixes (`prefix: [uploads/, transcripts/]`), or drop `prefix:` for the whole bucket",
            );
        }
        let source = grant.source();
        if let Some(src) = source {
            let spath = join(&gpath, "source");
            if r.kind() != super::event_bus::EventBus::NAME {
                cx.error_hint(
                    &spath,
                    format!(
                        "only event bus grants take a source; `{target}` is a {}",
                        r.kind()
                    ),
                    format!("remove `source:`, writing `{target}: [LEVEL, ...]`"),
                );
            } else if let Some((problem, hint)) = super::event_bus::source_problem(src) {
                cx.error_hint(&spath, problem, hint);
            }
        }
        for (i, level) in grant.access().iter().enumerate() {
            let lpath = match grant {
                Grant::Access(_) | Grant::Actions { .. } => index(&gpath, i),
                Grant::Scoped { .. } | Grant::Sourced { .. } => index(&join(&gpath, "access"), i),
            };
            if !allowed.contains(&level.as_str()) {
                let d = cx
                    .stack
                    .source
                    .error(
                        lpath,
                        format!("`{level}` is not an access level of a {}", r.kind()),
                    )
                    .suggest(level, allowed.iter().copied());
                let d = pass_on_other(d, target, r.kind(), level, allowed);
                cx.diags.push(d);
                continue;
            }
            if let Some(mut s) = r.grant(cx, target, level, grant.prefixes(), &lpath) {
                if let (Some(src), super::event_bus::EventBus::NAME) = (source, r.kind()) {
                    super::event_bus::limit_source(&mut s, src);
                }
                dest.statements.push(s);
            }
            let given = match &container[i] {
                Some(c) => {
                    for (var, from) in &c.secrets {
                        if env.contains_key(var) {
                            cx.error_hint(
                                &join(&join(path, "environment"), var),
                                format!("`{var}` is also the secret the `{level}` grant on `{target}` injects"),
                                "remove it from `environment:`; ECS sets it from the secret",
                            );
                        }
                        secrets.push((var.clone(), from.clone()));
                    }
                    c.environment.clone()
                }
                None => r.grant_environment(cx, target, level),
            };
            for (var, value) in given {
                if env.contains_key(&var) {
                    cx.error_hint(
                        &join(&join(path, "environment"), &var),
                        format!("`{var}` is also set by the `{level}` grant on `{target}`"),
                        "remove it from `environment:`; the grant gives it",
                    );
                }
                env.insert(var, value);
            }
        }
    }
    Granted {
        bound_ports,
        secrets,
    }
}

/// Every function is built from `lambdas/CRATE`, which must be a crate.
fn check_crate(cx: &mut Builder, key: &str, f: &Function, path: &str) {
    let name = crate_name(key, f);
    let lambdas = cx.project.root.join("lambdas");
    if lambdas.join(&name).join("Cargo.toml").is_file() {
        return;
    }
    let mut existing: Vec<String> = std::fs::read_dir(&lambdas)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("Cargo.toml").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    existing.sort();
    let at = if f.crate_name.is_some() {
        join(path, "crate")
    } else {
        path.to_string()
    };
    let hint = match crate::diagnostics::closest(&name, existing.iter().map(String::as_str)) {
        Some(best) => format!("did you mean `crate: {best}`?"),
        None => format!("create the crate lambdas/{name} (with a binary named `{name}`), or set `crate:` to an existing one"),
    };
    cx.error_hint(
        &at,
        format!("function `{key}` has no crate at lambdas/{name}"),
        hint,
    );
}

/// Resolves `consumes:` at `path` for function `key` whose timeout (this
/// environment) is `timeout`: what the event source mapping lays out.
fn consumes(
    cx: &mut Builder,
    key: &str,
    c: &Consumes,
    timeout: Option<u32>,
    path: &str,
) -> Option<Json> {
    match (&c.queue, &c.table) {
        (Some(q), None) => consumes_queue(cx, key, c, q, timeout, path),
        (None, Some(t)) => consumes_stream(cx, key, c, t, path),
        (Some(_), Some(_)) => {
            cx.error_hint(
                path,
                "`consumes:` names both a queue and a table",
                "one source per function: keep `queue:` or `table:`",
            );
            None
        }
        (None, None) => {
            cx.error_hint(
                path,
                "`consumes:` names no source",
                "add `queue: KEY` (an SQS queue) or `table: KEY` (a table's stream)",
            );
            None
        }
    }
}

/// A table's stream as the source: the table must have one.
fn consumes_stream(
    cx: &mut Builder,
    key: &str,
    c: &Consumes,
    table: &str,
    path: &str,
) -> Option<Json> {
    let tpath = join(path, "table");
    let Some(Resource::Table(t)) = cx.target(table, &tpath, &["table"]) else {
        return None;
    };
    if t.stream.is_none() {
        cx.error_hint(
            &tpath,
            format!("table `{table}` has no stream to consume"),
            format!("add `stream: new_and_old_images` (or another view) to table `{table}`"),
        );
    }
    for field in [("max_concurrency", c.max_concurrency.is_some())] {
        if field.1 {
            cx.error_hint(
                &join(path, field.0),
                format!("`{}` is for queues", field.0),
                "a stream's concurrency follows its shards; remove it",
            );
        }
    }
    let batch_size = c.batch_size.unwrap_or(100);
    if !limits::BATCH_SIZE.contains(&batch_size) {
        cx.error_hint(
            &join(path, "batch_size"),
            format!("a batch size of {batch_size} is out of range"),
            limits::allowed(&limits::BATCH_SIZE),
        );
    }
    let window = c.batch_window.unwrap_or(0);
    if !limits::BATCH_WINDOW_S.contains(&window) {
        cx.error_hint(
            &join(path, "batch_window"),
            format!("a batch window of {window} s is out of range"),
            format!("{} seconds", limits::allowed(&limits::BATCH_WINDOW_S)),
        );
    }
    let retries = c.retries.unwrap_or(3);
    if !limits::STREAM_RETRIES.contains(&retries) {
        cx.error_hint(
            &join(path, "retries"),
            format!("{retries} retries is out of range"),
            limits::allowed(&limits::STREAM_RETRIES),
        );
    }
    for (i, f) in c.filter.iter().enumerate() {
        if !f.is_object() {
            cx.error_hint(
                &index(&join(path, "filter"), i),
                "an event filter pattern is a mapping",
                "e.g. `{eventName: [INSERT]}`",
            );
        }
    }
    let filters: Vec<String> = c.filter.iter().map(|f| f.to_string()).collect();
    Some(json!({
        "logical": CONSUMES.of(&pascal(key)),
        "source": {"Fn::GetAtt": [pascal(table), "StreamArn"]},
        "source_key": table,
        "stream": true,
        "start": match c.start.unwrap_or(StreamStart::Latest) {
            StreamStart::Latest => "LATEST",
            StreamStart::TrimHorizon => "TRIM_HORIZON",
        },
        "key": t.encryption.as_ref().map(|e| pascal(&e.key)),
        "batch_size": batch_size,
        "batch_window": c.batch_window,
        "retries": retries,
        "filters": filters,
        "max_concurrency": null,
        "dead_letter": DEAD_LETTER.of(&pascal(key)),
        "report_batch_item_failures": c.report_batch_item_failures.unwrap_or(true),
    }))
}

/// A queue as the source: its visibility must outlast 6 × the timeout.
fn consumes_queue(
    cx: &mut Builder,
    key: &str,
    c: &Consumes,
    queue: &str,
    timeout: Option<u32>,
    path: &str,
) -> Option<Json> {
    let qpath = join(path, "queue");
    let Some(Resource::Queue(q)) = cx.target(queue, &qpath, &["queue"]) else {
        return None;
    };
    for (field, set) in [
        ("start", c.start.is_some()),
        ("retries", c.retries.is_some()),
        ("filter", !c.filter.is_empty()),
    ] {
        if set {
            cx.error_hint(
                &join(path, field),
                format!("`{field}` is for a table's stream"),
                "a queue's messages return to it, and go to its dead-letter queue after `max_receives`",
            );
        }
    }
    let batch_range = if q.fifo {
        limits::FIFO_BATCH_SIZE
    } else {
        limits::BATCH_SIZE
    };
    let batch_size = c.batch_size.unwrap_or(10);
    if !batch_range.contains(&batch_size) {
        let fifo = if q.fifo { " for a FIFO queue" } else { "" };
        cx.error_hint(
            &join(path, "batch_size"),
            format!("a batch size of {batch_size} is out of range"),
            limits::allowed(&batch_range).replacen("allowed", &format!("allowed{fifo}"), 1),
        );
    }
    let window = c.batch_window.unwrap_or(0);
    if !limits::BATCH_WINDOW_S.contains(&window) {
        cx.error_hint(
            &join(path, "batch_window"),
            format!("a batch window of {window} s is out of range"),
            format!("{} seconds", limits::allowed(&limits::BATCH_WINDOW_S)),
        );
    } else if batch_size > limits::BATCH_SIZE_WITHOUT_WINDOW && window == 0 {
        cx.error_hint(
            &join(path, "batch_window"),
            format!("a batch size of {batch_size} needs a batch window"),
            "Lambda takes more than 10 messages only with `batch_window:` of 1 second or more",
        );
    }
    if let Some(m) = c
        .max_concurrency
        .filter(|m| !limits::MAX_CONCURRENCY.contains(m))
    {
        cx.error_hint(
            &join(path, "max_concurrency"),
            format!("a maximum concurrency of {m} is out of range"),
            limits::allowed(&limits::MAX_CONCURRENCY),
        );
    }
    if let Some(t) = timeout {
        let visibility = q.visibility();
        if u64::from(visibility) < u64::from(limits::VISIBILITY_PER_TIMEOUT) * u64::from(t) {
            cx.error_hint(
                &qpath,
                format!(
                    "queue `{queue}` hides a received message for {visibility} s, less than 6 × this function's timeout of {t} s"
                ),
                format!(
                    "set `visibility_timeout: {}` (or more) on queue `{queue}`, or lower the function's timeout; AWS asks for 6 × the timeout so retries do not overlap a running batch",
                    6 * u64::from(t)
                ),
            );
        }
    }
    Some(json!({
        "logical": CONSUMES.of(&pascal(key)),
        "source": {"Fn::GetAtt": [pascal(queue), "Arn"]},
        "source_key": queue,
        "stream": false,
        "key": q.encryption_key().map(pascal),
        "batch_size": batch_size,
        "batch_window": c.batch_window,
        "max_concurrency": c.max_concurrency,
        "report_batch_item_failures": c.report_batch_item_failures.unwrap_or(true),
    }))
}

/// Names Lambda sets itself and refuses in a function's configuration
/// (Lambda's "defined runtime environment variables").
pub const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
    "TZ",
];

/// Why `name` cannot be an environment variable of a function, with a
/// hint: Lambda takes `[a-zA-Z][a-zA-Z0-9_]+` and refuses the names it
/// sets itself. Other `AWS_` names (`AWS_EMF_NAMESPACE`, ...) are fine.
pub fn env_name_problem(name: &str) -> Option<(String, String)> {
    if RESERVED_ENV.contains(&name) {
        return Some((
            format!("`{name}` is reserved by Lambda"),
            "Lambda sets it for every function; choose another name".to_string(),
        ));
    }
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    (!valid).then(|| {
        (
            format!("environment variable name `{name}` is invalid"),
            "Lambda takes a letter, then at least one more letter, digit or `_`".to_string(),
        )
    })
}

#[cfg(test)]
mod env_tests {
    use super::env_name_problem;

    #[test]
    fn lambdas_own_names_and_shape_are_refused_and_nothing_else() {
        for ok in ["AWS_EMF_NAMESPACE", "TABLE_NAME", "a1", "Ab_c"] {
            assert_eq!(env_name_problem(ok), None, "{ok}");
        }
        for reserved in ["AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "TZ"] {
            let (problem, _) = env_name_problem(reserved).unwrap();
            assert!(problem.contains("reserved"), "{reserved}: {problem}");
        }
        for bad in ["A", "1A", "A-B", "", "_X"] {
            let (problem, _) = env_name_problem(bad).unwrap();
            assert!(problem.contains("invalid"), "{bad}: {problem}");
        }
    }
}

/// Whether IAM action `action` only reads (so needs no data key to write).
fn reads(action: &str) -> bool {
    let verb = action.split_once(':').map_or(action, |(_, v)| v);
    [
        "Get", "List", "Describe", "Receive", "Query", "Scan", "Read", "BatchGet",
    ]
    .iter()
    .any(|p| verb.starts_with(p))
}

/// The statement of an explicit grant (`{actions: [...], arn: ...}`) on
/// resource `target`, after checking the actions are named exactly.
fn explicit_grant(
    cx: &mut Builder,
    r: &Resource,
    target: &str,
    actions: &[String],
    arn: Option<&str>,
    path: &str,
) -> Option<Json> {
    let apath = join(path, "actions");
    if actions.is_empty() {
        cx.error_hint(
            &apath,
            "the grant names no action",
            "list IAM actions, e.g. `[states:StartExecution]`",
        );
        return None;
    }
    for (i, a) in actions.iter().enumerate() {
        let shape = a.split_once(':').is_some_and(|(svc, verb)| {
            !svc.is_empty()
                && svc
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !verb.is_empty()
                && verb.chars().all(|c| c.is_ascii_alphanumeric() || c == '*')
        });
        if !shape {
            cx.error_hint(
                &index(&apath, i),
                format!("`{a}` is not an IAM action"),
                "write `service:Action`, as in `states:StartExecution`",
            );
        } else if a.ends_with(":*") {
            cx.error_hint(
                &index(&apath, i),
                format!("`{a}` grants every action of the service"),
                "name the actions the function needs; least privilege is the point of a grant",
            );
        }
    }
    let resource = match arn {
        Some(text) => cx.value(text, &join(path, "arn")),
        None if r.attributes().contains(&"arn") => r.attribute(cx, target, "arn", path),
        None if r.kind() == "raw" => json!({"Fn::GetAtt": [pascal(target), "Arn"]}),
        None => {
            cx.error_hint(
                path,
                format!("a {} has no ARN to grant actions on", r.kind()),
                "give the ARN with `arn:`",
            );
            return None;
        }
    };
    Some(json!({
        "Sid": format!("{}Actions", pascal(target)),
        "Effect": "Allow",
        "Action": actions,
        "Resource": [resource],
    }))
}

#[cfg(test)]
mod grant_tests {
    use super::super::testing::{render, statement};
    use serde_json::json;

    #[test]
    fn explicit_actions_name_the_resource_and_nothing_wider() {
        let t = render(
            "resources:
  flow:
    type: raw
    resource_type: AWS::StepFunctions::StateMachine
    properties:
      RoleArn: arn:aws:iam::123456789012:role/flow
      DefinitionString: '{}'
  jobs:
    type: queue
  starter:
    type: function
    crate: starter
    grants:
      flow: {actions: [states:StartExecution]}
      jobs: {actions: [sqs:SendMessageBatch]}
      other: {actions: [events:PutEvents], arn: 'arn:${partition}:events:${region}:${account}:event-bus/default'}
  other:
    type: raw
    resource_type: AWS::SSM::Parameter
    properties: {Name: /x, Type: String, Value: x}
",
        );
        let flow = statement(&t, "Starter", "FlowActions");
        assert_eq!(flow["Action"], json!(["states:StartExecution"]));
        assert_eq!(flow["Resource"], json!([{"Fn::GetAtt": ["Flow", "Arn"]}]));
        let jobs = statement(&t, "Starter", "JobsActions");
        assert_eq!(jobs["Resource"], json!([{"Fn::GetAtt": ["Jobs", "Arn"]}]));
        let bus = statement(&t, "Starter", "OtherActions");
        assert_eq!(
            bus["Resource"][0]["Fn::Sub"][0],
            json!("arn:${Partition}:events:${Region}:${Account}:event-bus/default")
        );
    }
}

#[cfg(test)]
mod consumer_tests {
    use super::super::testing::{render, statement};
    use serde_json::json;

    #[test]
    fn a_stream_consumer_reads_from_its_start_and_sends_failures_to_its_dead_letter_queue() {
        let t = render(
            "resources:
  items:
    type: table
    attributes: {id: string}
    key: [id]
    stream: new_and_old_images
  indexer:
    type: function
    crate: indexer
    consumes: {table: items, start: trim_horizon, filter: [{eventName: [INSERT]}]}
",
        );
        let m = &t["Resources"]["IndexerConsumes"]["Properties"];
        assert_eq!(
            m["EventSourceArn"],
            json!({"Fn::GetAtt": ["Items", "StreamArn"]})
        );
        assert_eq!(m["StartingPosition"], "TRIM_HORIZON");
        assert_eq!(m["BatchSize"], 100);
        assert_eq!(m["MaximumRetryAttempts"], 3);
        assert_eq!(
            m["DestinationConfig"]["OnFailure"]["Destination"],
            json!({"Fn::GetAtt": ["IndexerDeadLetter", "Arn"]})
        );
        assert_eq!(
            m["FilterCriteria"]["Filters"][0]["Pattern"],
            "{\"eventName\":[\"INSERT\"]}"
        );
        let s = statement(&t, "Indexer", "ItemsStream");
        assert_eq!(
            s["Resource"],
            json!([{"Fn::GetAtt": ["Items", "StreamArn"]}])
        );
        assert!(t["Resources"].get("IndexerDeadLetter").is_some());
    }
}

#[cfg(test)]
mod tracing_tests {
    use super::super::testing::{render, statement};

    #[test]
    fn tracing_is_set_per_function_with_its_permission() {
        let t = render(
            "resources:
  traced:
    type: function
    crate: traced
    tracing: true
  plain:
    type: function
    crate: plain
",
        );
        let r = &t["Resources"];
        assert_eq!(r["Traced"]["Properties"]["TracingConfig"]["Mode"], "Active");
        assert!(r["Plain"]["Properties"].get("TracingConfig").is_none());
        assert_eq!(
            statement(&t, "Traced", "WriteTraces")["Action"][0],
            "xray:PutTraceSegments"
        );
    }

    /// `architecture:` per environment: `dev` takes its default, arm64.
    #[test]
    fn the_architecture_is_per_environment() {
        let t = super::super::testing::render_in(
            "  local:\n    region: us-east-1\n",
            "resources:\n  f:\n    type: function\n    crate: f\n    architecture: {default: arm64, local: x86_64}\n",
        );
        assert_eq!(
            t["Resources"]["F"]["Properties"]["Architectures"],
            serde_json::json!(["arm64"])
        );
        let t = render(
            "resources:\n  f:\n    type: function\n    crate: f\n    architecture: {dev: x86_64}\n",
        );
        assert_eq!(
            t["Resources"]["F"]["Properties"]["Architectures"],
            serde_json::json!(["x86_64"])
        );
    }
}

/// A `pass` grant on `target`, which is not a resource of the stack: the
/// error (already recorded) says what to declare when no name is close.
fn pass_hint(cx: &mut Builder, target: &str, grant: &Grant) {
    if !grant.access().iter().any(|l| l == "pass") {
        return;
    }
    let Some(d) = cx.diags.0.last_mut() else {
        return;
    };
    // A close name is the likely fix; otherwise, what to declare.
    if d.hint
        .as_deref()
        .is_some_and(|h| h.starts_with("did you mean"))
    {
        return;
    }
    let declare = format!(
        "`pass` hands a service role to an AWS service: declare it, e.g. `{target}: {{type: role, service: mediaconvert.amazonaws.com, grants: {{...}}}}`"
    );
    d.hint = Some(match d.hint.take() {
        Some(h) => format!("{declare}; or pass one of the stack's ({h})"),
        None => declare,
    });
}

/// The error of level `level` on a `kind` that does not take it: `pass`
/// is for roles, and says so.
fn pass_on_other(
    mut d: crate::diagnostics::Diagnostic,
    target: &str,
    kind: &str,
    level: &str,
    allowed: &[&str],
) -> crate::diagnostics::Diagnostic {
    if level == "pass" {
        d.hint = Some(format!(
            "only a `role` is passed (`iam:PassRole`); `{target}` is a {kind}, whose levels are {}: declare a `role` with `service:` and grant `pass` on that",
            allowed.join(", ")
        ));
    }
    d
}
