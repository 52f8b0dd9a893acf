//! The health checks against scripted AWS, for what the emulator cannot
//! reach (a failed function, a rolled-back stack, throttling, access
//! denied, a run out of time), and the report's order, verdict and exit
//! status.

use super::metrics::{self, Series, Window};
use super::report::{Counts, Report, Verdict};
use super::run::{bounded, Input, StackScope};
use super::stack::Code;
use super::wait::{Ended, WaitSettings, Watch};
use super::{run, Check, Settings, Status};
use crate::aws::cloudformation::{CfnError, ErrorKind};
use crate::aws::fake::{FakeCloudFormation, FakeStack};
use crate::aws::resources::{
    AlarmState, BucketEncryption, FunctionState, PublicAccessBlock, ReadError, Resources,
    RoleState, RuleState, TableState, TimeToLive,
};
use crate::aws::resources::{ApiState, MetricPage, MetricQuery, MetricRequest, MetricResult, Stat};
use crate::aws::resources::{DbInstanceState, Maintenance, PostgresState};
use crate::exit::ExitStatus;
use crate::model::project::Bound;
use crate::scope::Scope;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The zip the deployed stack names (hex sha256 of the empty string).
const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const CODE_KEY: &str =
    "functions/hello/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.zip";

const STACK: &str = "\
resources:
  greeter:
    type: function
    crate: hello
  sessions:
    type: table
    attributes: {id: string, owner: string}
    key: [id]
    indexes:
      by_owner: {key: [owner]}
    ttl: expires_at
    point_in_time_recovery: true
  jobs:
    type: queue
    dead_letter: {max_receives: 3}
  files:
    type: bucket
  nightly:
    type: schedule
    expression: rate(1 day)
    target: greeter
  greeter_errors:
    type: alarm
    target: greeter
    metric: Errors
    threshold: 0
  jobs_failing:
    type: alarm
    target: jobs.dead_letter
    metric: ApproximateNumberOfMessagesVisible
    threshold: 0
";

/// The role's ARN (its account is the scripted account's).
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/hp-app-dev-GreeterRole-ABC";
/// The alarm's rendered name.
const ALARM: &str = "hp-app-greeter-errors-dev";

/// A project with stack `app` (above) in environments `dev` and `local`
/// (an emulator's).
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("stacks")).unwrap();
    std::fs::create_dir_all(root.join("lambdas/hello")).unwrap();
    std::fs::write(root.join("lambdas/hello/Cargo.toml"), "").unwrap();
    std::fs::write(
        root.join("stackctl.yaml"),
        "project: hp\nstacks:\n  app: {}\nenvironments:\n  dev:\n    region: us-east-1\n  local:\n    region: us-east-1\n    endpoint_url: http://127.0.0.1:5000\n    emulator: moto\n",
    )
    .unwrap();
    std::fs::write(root.join("stacks/app.yaml"), STACK).unwrap();
    dir
}

/// The code this checkout deploys to `app`.
fn code() -> Code {
    Code {
        keys: [
            ("GreeterCodeKey".to_string(), CODE_KEY.to_string()),
            ("ArtefactBucket".to_string(), "hp-artefacts".to_string()),
        ]
        .into(),
        stale: Vec::new(),
    }
}

/// Stack `app` of `scope` as deployed from this checkout.
fn deployed(scope: &Scope) -> FakeStack {
    let r = scope.rendered("app");
    let mut params = r.parameters.clone();
    params.extend(code().keys);
    let state = crate::deploy::desired::state(&r.template, &params, &r.tags).unwrap();
    let mut stack = FakeStack::new(&r.template);
    stack.parameters = state.parameters;
    stack.tags = r.tags.clone();
    let physical = |logical: &str| match logical {
        "Greeter" => "fn-greeter".to_string(),
        "Sessions" => "t-sessions".to_string(),
        "JobsDeadLetter" => "https://sqs/q-jobs-dlq".to_string(),
        "Files" => "b-files".to_string(),
        "GreeterRole" => "hp-app-dev-GreeterRole-ABC".to_string(),
        "GreeterDeadLetter" => "https://sqs/123456789012/q-greeter-dlq".to_string(),
        "Nightly" => "r-nightly".to_string(),
        // As moto lists a placeholder: no physical id.
        "GreeterErrors" | "JobsFailing" => String::new(),
        other => format!("p-{other}"),
    };
    for i in &r.inventory {
        for x in &i.resources {
            stack = stack.resource(&x.logical_id, &x.resource_type, &physical(&x.logical_id));
        }
    }
    stack
}

/// Scripted answers by resource name; a name with none does not exist,
/// one in `hang` never answers.
struct FakeAws {
    functions: BTreeMap<String, Result<FunctionState, ReadError>>,
    tables: BTreeMap<String, Result<TableState, ReadError>>,
    ttl: BTreeMap<String, Result<TimeToLive, ReadError>>,
    queues: BTreeMap<String, Result<u64, ReadError>>,
    buckets: BTreeMap<String, Result<(), ReadError>>,
    blocks: BTreeMap<String, Result<Option<PublicAccessBlock>, ReadError>>,
    roles: BTreeMap<String, Result<RoleState, ReadError>>,
    rules: BTreeMap<String, Result<RuleState, ReadError>>,
    /// Every alarm that exists (DescribeAlarms answers those asked for).
    alarms: Result<Vec<AlarmState>, ReadError>,
    /// The names of each DescribeAlarms asked.
    alarm_calls: std::cell::RefCell<Vec<Vec<String>>>,
    pitr: BTreeMap<String, Result<String, ReadError>>,
    encryption: BTreeMap<String, Result<Option<BucketEncryption>, ReadError>>,
    hang: BTreeSet<String>,
    /// Data points by (metric, first dimension's value).
    metrics: BTreeMap<(String, String), Vec<f64>>,
    /// Every GetMetricData call fails with this.
    metric_error: Option<ReadError>,
    /// Metrics CloudWatch answers `Forbidden` for.
    forbidden: BTreeSet<String>,
    /// Answer in two pages: each series' first value, then the rest.
    paged: bool,
    /// Each GetMetricData call: how many queries, and its token.
    metric_calls: RefCell<Vec<(usize, Option<String>)>>,
    apis: BTreeMap<String, Result<ApiState, ReadError>>,
    policies: BTreeMap<String, Result<Option<String>, ReadError>>,
    postgres: BTreeMap<String, Result<PostgresState, ReadError>>,
    redis: BTreeMap<String, Result<String, ReadError>>,
    db_instances: BTreeMap<String, Result<DbInstanceState, ReadError>>,
    db_maintenance: BTreeMap<String, Result<Vec<Maintenance>, ReadError>>,
    groups: BTreeMap<String, Result<String, ReadError>>,
    cache_updates: BTreeMap<String, Result<Vec<Maintenance>, ReadError>>,
    secrets: BTreeMap<String, Result<String, ReadError>>,
    load_balancers: BTreeMap<String, Result<crate::aws::resources::LoadBalancerState, ReadError>>,
    target_groups:
        BTreeMap<String, Result<Vec<crate::aws::resources::TargetGroupHealth>, ReadError>>,
    rest_apis: BTreeMap<String, Result<crate::aws::resources::RestApiState, ReadError>>,
    distributions: BTreeMap<String, Result<crate::aws::resources::DistributionState, ReadError>>,
    /// ECS services by `CLUSTER/SERVICE`.
    ecs_services: BTreeMap<String, Result<crate::aws::resources::EcsService, ReadError>>,
    /// EventBridge buses' ARNs by name.
    event_buses: BTreeMap<String, Result<String, ReadError>>,
    /// EventBridge rules by `BUS/RULE`.
    bus_rules: BTreeMap<String, Result<RuleState, ReadError>>,
    /// Roles' trust policies, by role name.
    trusts: BTreeMap<String, Result<Option<serde_json::Value>, ReadError>>,
    /// AgentCore memories, by id.
    memories: BTreeMap<String, Result<crate::aws::resources::MemoryState, ReadError>>,
}

impl Default for FakeAws {
    fn default() -> Self {
        Self {
            functions: BTreeMap::new(),
            tables: BTreeMap::new(),
            ttl: BTreeMap::new(),
            queues: BTreeMap::new(),
            buckets: BTreeMap::new(),
            blocks: BTreeMap::new(),
            roles: BTreeMap::new(),
            rules: BTreeMap::new(),
            alarms: Ok(Vec::new()),
            alarm_calls: Default::default(),
            pitr: BTreeMap::new(),
            encryption: BTreeMap::new(),
            hang: BTreeSet::new(),
            secrets: BTreeMap::new(),
            metrics: BTreeMap::new(),
            metric_error: None,
            forbidden: BTreeSet::new(),
            paged: false,
            metric_calls: Default::default(),
            apis: BTreeMap::new(),
            policies: BTreeMap::new(),
            postgres: BTreeMap::new(),
            redis: BTreeMap::new(),
            db_instances: BTreeMap::new(),
            db_maintenance: BTreeMap::new(),
            groups: BTreeMap::new(),
            cache_updates: BTreeMap::new(),
            load_balancers: BTreeMap::new(),
            target_groups: BTreeMap::new(),
            rest_apis: BTreeMap::new(),
            distributions: BTreeMap::new(),
            ecs_services: BTreeMap::new(),
            event_buses: BTreeMap::new(),
            bus_rules: BTreeMap::new(),
            trusts: BTreeMap::new(),
            memories: BTreeMap::new(),
        }
    }
}

/// The greeter's policy as IAM holds it after a deploy: the rendered one,
/// resolved.
fn deployed_policy() -> serde_json::Value {
    deployed_policy_in("dev")
}

/// The same in environment `env`.
fn deployed_policy_in(env: &str) -> serde_json::Value {
    serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [format!("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/hp-app-greeter-{env}:*")]},
        {"Sid": "DeadLetterSend", "Effect": "Allow", "Action": ["sqs:SendMessage"],
         "Resource": ["arn:aws:sqs:us-east-1:123456789012:q-greeter-dlq"]}
    ]})
}

/// A role holding `policy` as its one inline policy.
fn role_with(policy: serde_json::Value) -> RoleState {
    RoleState {
        arn: ROLE_ARN.into(),
        inline: [("GreeterAccess".to_string(), Some(policy))].into(),
        managed: Vec::new(),
    }
}

impl FakeAws {
    /// Everything of stack `app` as deployed and working.
    fn healthy() -> Self {
        let mut aws = Self::default();
        aws.functions.insert(
            "fn-greeter".into(),
            Ok(FunctionState {
                state: Some("Active".into()),
                last_update_status: Some("Successful".into()),
                code_sha256: crate::aws::functions::lambda_sha256(SHA).unwrap(),
                ..FunctionState::default()
            }),
        );
        aws.tables.insert(
            "t-sessions".into(),
            Ok(TableState {
                status: "ACTIVE".into(),
                indexes: vec![("by_owner".into(), "ACTIVE".into())],
            }),
        );
        aws.ttl.insert(
            "t-sessions".into(),
            Ok(TimeToLive {
                status: "ENABLED".into(),
                attribute: Some("expires_at".into()),
            }),
        );
        aws.queues.insert("https://sqs/q-jobs-dlq".into(), Ok(0));
        aws.buckets.insert("b-files".into(), Ok(()));
        aws.blocks
            .insert("b-files".into(), Ok(Some(PublicAccessBlock::ALL)));
        aws.roles.insert(
            "hp-app-dev-GreeterRole-ABC".into(),
            Ok(role_with(deployed_policy())),
        );
        aws.rules.insert(
            "r-nightly".into(),
            Ok(RuleState {
                state: "ENABLED".into(),
                targets: vec!["arn:aws:lambda:us-east-1:123456789012:function:fn-greeter".into()],
            }),
        );
        let ok = |name: &str| AlarmState {
            name: name.into(),
            state: "OK".into(),
            reason: "Threshold Crossed: no datapoints were received".into(),
            since: Some("2026-01-01T00:00:00Z".into()),
            since_secs: Some(1_767_225_600),
        };
        aws.alarms = Ok(vec![ok(ALARM), ok("hp-app-jobs-failing-dev")]);
        aws.pitr.insert("t-sessions".into(), Ok("ENABLED".into()));
        aws.encryption.insert(
            "b-files".into(),
            Ok(Some(BucketEncryption {
                algorithm: "AES256".into(),
                key: None,
            })),
        );
        aws
    }

    async fn answer<T: Clone>(
        &self,
        map: &BTreeMap<String, Result<T, ReadError>>,
        name: &str,
    ) -> Result<T, ReadError> {
        if self.hang.contains(name) {
            std::future::pending::<()>().await;
        }
        map.get(name).cloned().unwrap_or_else(|| {
            Err(ReadError::new(
                ErrorKind::NotFound,
                format!("reading {name}: ResourceNotFoundException: not found"),
            ))
        })
    }
}

impl Resources for FakeAws {
    async fn function(&self, name: &str) -> Result<FunctionState, ReadError> {
        self.answer(&self.functions, name).await
    }
    async fn table(&self, name: &str) -> Result<TableState, ReadError> {
        self.answer(&self.tables, name).await
    }
    async fn time_to_live(&self, name: &str) -> Result<TimeToLive, ReadError> {
        self.answer(&self.ttl, name).await
    }
    async fn queue_depth(&self, url: &str) -> Result<u64, ReadError> {
        self.answer(&self.queues, url).await
    }
    async fn bucket(&self, name: &str) -> Result<(), ReadError> {
        self.answer(&self.buckets, name).await
    }
    async fn public_access_block(
        &self,
        name: &str,
    ) -> Result<Option<PublicAccessBlock>, ReadError> {
        self.answer(&self.blocks, name).await
    }

    async fn secret_value(&self, id: &str) -> Result<String, ReadError> {
        self.answer(&self.secrets, id).await
    }
    async fn role(&self, name: &str) -> Result<RoleState, ReadError> {
        self.answer(&self.roles, name).await
    }
    async fn rule(&self, name: &str) -> Result<RuleState, ReadError> {
        self.answer(&self.rules, name).await
    }
    async fn alarms(&self, names: &[String]) -> Result<Vec<AlarmState>, ReadError> {
        self.alarm_calls.borrow_mut().push(names.to_vec());
        let all = self.alarms.clone()?;
        Ok(all
            .into_iter()
            .filter(|a| names.contains(&a.name))
            .collect())
    }
    async fn point_in_time_recovery(&self, name: &str) -> Result<String, ReadError> {
        self.answer(&self.pitr, name).await
    }
    async fn bucket_encryption(&self, name: &str) -> Result<Option<BucketEncryption>, ReadError> {
        self.answer(&self.encryption, name).await
    }
    async fn metric_data(&self, r: &MetricRequest) -> Result<MetricPage, ReadError> {
        self.metric_calls
            .borrow_mut()
            .push((r.queries.len(), r.next_token.clone()));
        if let Some(e) = &self.metric_error {
            return Err(e.clone());
        }
        let second = r.next_token.is_some();
        let results = r
            .queries
            .iter()
            .map(|(id, q)| {
                let all = self
                    .metrics
                    .get(&(q.metric.to_string(), q.dimensions[0].1.clone()))
                    .cloned()
                    .unwrap_or_default();
                let (values, status) = match (self.paged, second) {
                    (false, _) => (all, "Complete"),
                    (true, false) => (all.into_iter().take(1).collect(), "PartialData"),
                    (true, true) => (all.into_iter().skip(1).collect(), "Complete"),
                };
                let forbidden = self.forbidden.contains(q.metric);
                MetricResult {
                    id: id.clone(),
                    values: if forbidden { Vec::new() } else { values },
                    status: if forbidden { "Forbidden" } else { status }.to_string(),
                    message: forbidden.then(|| "not authorized".to_string()),
                }
            })
            .collect();
        Ok(MetricPage {
            results,
            next_token: (self.paged && !second).then(|| "page-2".to_string()),
        })
    }
    async fn api(&self, id: &str) -> Result<ApiState, ReadError> {
        self.answer(&self.apis, id).await
    }
    async fn function_policy(&self, name: &str) -> Result<Option<String>, ReadError> {
        self.answer(&self.policies, name).await
    }
    async fn postgres(&self, bound: &Bound, database: &str) -> Result<PostgresState, ReadError> {
        let at = format!("{}:{}/{database}", bound.host, bound.port);
        self.answer(&self.postgres, &at).await
    }
    async fn redis(&self, bound: &Bound) -> Result<String, ReadError> {
        let at = format!("{}:{}", bound.host, bound.port);
        self.answer(&self.redis, &at).await
    }
    async fn db_instance(&self, id: &str) -> Result<DbInstanceState, ReadError> {
        self.answer(&self.db_instances, id).await
    }
    async fn db_maintenance(&self, arn: &str) -> Result<Vec<Maintenance>, ReadError> {
        self.answer(&self.db_maintenance, arn).await
    }
    async fn replication_group(&self, id: &str) -> Result<String, ReadError> {
        self.answer(&self.groups, id).await
    }
    async fn cache_maintenance(&self, id: &str) -> Result<Vec<Maintenance>, ReadError> {
        self.answer(&self.cache_updates, id).await
    }
    async fn load_balancer(
        &self,
        arn: &str,
    ) -> Result<crate::aws::resources::LoadBalancerState, ReadError> {
        self.answer(&self.load_balancers, arn).await
    }
    async fn target_health(
        &self,
        arn: &str,
    ) -> Result<Vec<crate::aws::resources::TargetGroupHealth>, ReadError> {
        self.answer(&self.target_groups, arn).await
    }
    async fn rest_api(&self, id: &str) -> Result<crate::aws::resources::RestApiState, ReadError> {
        self.answer(&self.rest_apis, id).await
    }
    async fn distribution(
        &self,
        id: &str,
    ) -> Result<crate::aws::resources::DistributionState, ReadError> {
        self.answer(&self.distributions, id).await
    }
    async fn ecs_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<crate::aws::resources::EcsService, ReadError> {
        self.answer(&self.ecs_services, &format!("{cluster}/{service}"))
            .await
    }
    async fn event_bus(&self, name: &str) -> Result<String, ReadError> {
        self.answer(&self.event_buses, name).await
    }
    async fn bus_rule(&self, bus: &str, name: &str) -> Result<RuleState, ReadError> {
        self.answer(&self.bus_rules, &format!("{bus}/{name}")).await
    }
    async fn role_trust(&self, name: &str) -> Result<Option<serde_json::Value>, ReadError> {
        self.answer(&self.trusts, name).await
    }
    async fn agent_memory(
        &self,
        id: &str,
    ) -> Result<crate::aws::resources::MemoryState, ReadError> {
        self.answer(&self.memories, id).await
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(f)
}

fn settings() -> Settings {
    Settings {
        timeout: Duration::from_secs(30),
        concurrency: 8,
        only: BTreeSet::new(),
        window: Window::DEFAULT,
        skip_probes: false,
        waiting: false,
    }
}

/// Runs health on `app` in `env` against `cfn` and `aws`.
fn check_with(
    env: &str,
    cfn: impl FnOnce(&Scope) -> FakeCloudFormation,
    aws: FakeAws,
    settings: Settings,
) -> Report {
    let dir = project();
    let scope = Scope::load(dir.path(), env, &[]).unwrap();
    let cfn = cfn(&scope);
    let input = Input {
        env,
        region: &scope.environment().region,
        emulated: scope.environment().emulator.is_some(),
        rendered: &scope.rendered,
        stacks: vec![StackScope {
            rendered: scope.rendered("app"),
            resources: &scope.project.stacks["app"].resources,
            code: code(),
            bindings: BTreeMap::new(),
            migrations: Vec::new(),
        }],
    };
    block(run(&cfn, &aws, &input, &settings))
}

/// Runs health on `app` in `dev`, deployed from this checkout, with `aws`.
fn check(aws: FakeAws) -> Report {
    check_with(
        "dev",
        |s| FakeCloudFormation::default().with("hp-app-dev", deployed(s)),
        aws,
        settings(),
    )
}

fn find<'a>(report: &'a Report, id: &str) -> &'a Check {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#?}"))
}

#[test]
fn a_healthy_environment_passes_every_check_in_id_order() {
    let report = check(FakeAws::healthy());
    let ids: Vec<(&str, Status)> = report
        .checks
        .iter()
        .map(|c| (c.id.as_str(), c.status))
        .collect();
    assert_eq!(
        ids,
        [
            ("app/alarm/greeter_errors/state", Status::Pass),
            ("app/alarm/jobs_failing/state", Status::Pass),
            ("app/bucket/files/encryption", Status::Pass),
            ("app/bucket/files/exists", Status::Pass),
            ("app/bucket/files/public_access", Status::Pass),
            ("app/function/greeter/code", Status::Pass),
            ("app/function/greeter/concurrency", Status::Pass),
            ("app/function/greeter/errors", Status::Pass),
            ("app/function/greeter/role", Status::Pass),
            ("app/function/greeter/state", Status::Pass),
            ("app/function/greeter/throttles", Status::Pass),
            ("app/queue/jobs/dead_letter", Status::Pass),
            ("app/queue/jobs/dead_letter_age", Status::Pass),
            ("app/schedule/nightly/enabled", Status::Pass),
            ("app/schedule/nightly/target", Status::Pass),
            ("app/stack/resources", Status::Pass),
            ("app/stack/status", Status::Pass),
            ("app/stack/template", Status::Pass),
            ("app/table/sessions/indexes", Status::Pass),
            ("app/table/sessions/pitr", Status::Pass),
            ("app/table/sessions/status", Status::Pass),
            ("app/table/sessions/ttl", Status::Pass),
        ],
        "{report:#?}"
    );
    assert_eq!(report.verdict, Verdict::Healthy);
    assert_eq!(report.status(true), ExitStatus::Success);
    let text = report.to_string();
    assert!(
        text.starts_with("healthy in dev: 22 passed (22 checks in "),
        "{text}"
    );
}

#[test]
fn a_failed_function_fails_with_its_reason_code() {
    let mut aws = FakeAws::healthy();
    aws.functions.insert(
        "fn-greeter".into(),
        Ok(FunctionState {
            state: Some("Failed".into()),
            state_reason: Some("InvalidSubnet: subnet-1 does not exist".into()),
            last_update_status: Some("Successful".into()),
            code_sha256: crate::aws::functions::lambda_sha256(SHA).unwrap(),
            ..FunctionState::default()
        }),
    );
    let report = check(aws);
    let c = find(&report, "app/function/greeter/state");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.reason,
        "State Failed: InvalidSubnet: subnet-1 does not exist"
    );
    assert_eq!(
        c.observed.as_deref(),
        Some("State Failed, LastUpdateStatus Successful")
    );
    assert_eq!(report.verdict, Verdict::Unhealthy);
    assert_eq!(report.status(false), ExitStatus::Failure);
    // Failures come first in the text, then the verdict.
    let text = report.to_string();
    assert!(
        text.starts_with("FAIL    app/function/greeter/state: State Failed: InvalidSubnet"),
        "{text}"
    );
    assert!(
        text.contains("\nunhealthy in dev: 1 failed, 21 passed"),
        "{text}"
    );
}

#[test]
fn a_failed_update_and_code_and_concurrency_out_of_band_fail() {
    let mut aws = FakeAws::healthy();
    aws.functions.insert(
        "fn-greeter".into(),
        Ok(FunctionState {
            state: Some("Active".into()),
            last_update_status: Some("Failed".into()),
            last_update_reason: Some("EniLimitExceeded: no ENI".into()),
            code_sha256: "other=".into(),
            reserved_concurrency: Some(0),
            ..FunctionState::default()
        }),
    );
    let report = check(aws);
    let state = find(&report, "app/function/greeter/state");
    assert_eq!(
        (state.status, state.reason.as_str()),
        (
            Status::Fail,
            "the last update failed: EniLimitExceeded: no ENI"
        )
    );
    let code = find(&report, "app/function/greeter/code");
    assert_eq!(code.status, Status::Fail);
    assert_eq!(code.observed.as_deref(), Some("CodeSha256 other="));
    assert!(code.expected.as_deref().unwrap().contains(CODE_KEY));
    assert!(
        code.hint.as_deref().unwrap().contains(&format!(
            "--function-name fn-greeter --s3-bucket hp-artefacts --s3-key {CODE_KEY}"
        )),
        "{code:?}"
    );
    let c = find(&report, "app/function/greeter/concurrency");
    assert_eq!(c.status, Status::Fail);
}

#[test]
fn a_rolled_back_deploy_warns_and_fails_only_with_fail_on_warn() {
    let report = check_with(
        "dev",
        |s| {
            FakeCloudFormation::default()
                .with("hp-app-dev", deployed(s).status("UPDATE_ROLLBACK_COMPLETE"))
        },
        FakeAws::healthy(),
        settings(),
    );
    let c = find(&report, "app/stack/status");
    assert_eq!(c.status, Status::Warn);
    assert_eq!(c.reason, "the last deploy was rolled back");
    assert_eq!(report.verdict, Verdict::Degraded);
    assert_eq!(report.status(false), ExitStatus::Success);
    assert_eq!(report.status(true), ExitStatus::Failure);
}

#[test]
fn stack_states_are_judged() {
    let status = |s: &str| {
        let report = check_with(
            "dev",
            |scope| FakeCloudFormation::default().with("hp-app-dev", deployed(scope).status(s)),
            FakeAws::healthy(),
            settings(),
        );
        find(&report, "app/stack/status").status
    };
    assert_eq!(status("UPDATE_COMPLETE"), Status::Pass);
    assert_eq!(status("UPDATE_ROLLBACK_FAILED"), Status::Fail);
    assert_eq!(status("ROLLBACK_COMPLETE"), Status::Fail);
    assert_eq!(status("CREATE_FAILED"), Status::Fail);
    assert_eq!(status("UPDATE_IN_PROGRESS"), Status::Unknown);
    // A change set made and never executed: nothing is deployed.
    assert_eq!(status("REVIEW_IN_PROGRESS"), Status::Fail);
}

#[test]
fn throttling_and_access_denied_are_unknown_never_pass() {
    let mut aws = FakeAws::healthy();
    aws.functions.insert(
        "fn-greeter".into(),
        Err(ReadError::new(
            ErrorKind::Throttled,
            "reading function fn-greeter: TooManyRequestsException: Rate exceeded",
        )),
    );
    aws.tables.insert(
        "t-sessions".into(),
        Err(ReadError::new(
            ErrorKind::Denied,
            "reading table t-sessions: AccessDeniedException: not authorized to perform dynamodb:DescribeTable",
        )),
    );
    let report = check(aws);
    for name in ["state", "code", "concurrency"] {
        let c = find(&report, &format!("app/function/greeter/{name}"));
        assert_eq!(c.status, Status::Unknown);
        assert!(c.reason.starts_with("throttled: "), "{c:?}");
    }
    for name in ["status", "indexes"] {
        let c = find(&report, &format!("app/table/sessions/{name}"));
        assert_eq!(c.status, Status::Unknown);
        assert!(c.reason.starts_with("access denied: "), "{c:?}");
    }
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert_eq!(report.status(false), ExitStatus::Incomplete);
    assert_eq!(ExitStatus::Incomplete.code(), 5);
}

#[test]
fn a_stack_that_cannot_be_read_leaves_everything_unknown() {
    let report = check_with(
        "dev",
        |_| {
            FakeCloudFormation::default().failing(
                "hp-app-dev",
                CfnError::new(
                    ErrorKind::Denied,
                    "AccessDenied: cloudformation:DescribeStacks",
                ),
            )
        },
        FakeAws::healthy(),
        settings(),
    );
    assert_eq!(report.checks.len(), 22);
    assert!(
        report.checks.iter().all(|c| c.status == Status::Unknown),
        "{report:#?}"
    );
    assert_eq!(report.status(false), ExitStatus::Incomplete);
}

#[test]
fn an_overall_timeout_leaves_what_did_not_finish_unknown() {
    let mut aws = FakeAws::healthy();
    aws.hang.insert("b-files".into());
    let report = check_with(
        "dev",
        |s| FakeCloudFormation::default().with("hp-app-dev", deployed(s)),
        aws,
        Settings {
            timeout: Duration::from_millis(200),
            ..settings()
        },
    );
    for id in [
        "app/bucket/files/encryption",
        "app/bucket/files/exists",
        "app/bucket/files/public_access",
    ] {
        let c = find(&report, id);
        assert_eq!(c.status, Status::Unknown, "{c:?}");
        assert_eq!(c.reason, "not finished within the timeout (0.20 s)");
    }
    assert_eq!(report.counts.pass, 19, "{report:#?}");
    assert_eq!(report.verdict, Verdict::Incomplete);
}

#[test]
fn a_missing_stack_fails_and_its_resources_are_skipped() {
    let report = check_with(
        "dev",
        |_| FakeCloudFormation::default(),
        FakeAws::healthy(),
        settings(),
    );
    let c = find(&report, "app/stack/status");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.reason, "stack hp-app-dev is not deployed in dev");
    assert_eq!(c.hint.as_deref(), Some("stackctl deploy --env dev app"));
    let skipped = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Skip)
        .count();
    assert_eq!(skipped, 21, "{report:#?}");
    assert_eq!(
        find(&report, "app/function/greeter/code").reason,
        "the stack is not deployed (see app/stack/status)"
    );
}

#[test]
fn a_deleted_resource_fails_and_a_missing_declared_one_fails_the_stack() {
    let mut aws = FakeAws::healthy();
    aws.functions.clear();
    let report = check_with(
        "dev",
        |s| {
            let mut stack = deployed(s);
            stack.resources.retain(|r| r.logical_id != "JobsDeadLetter");
            FakeCloudFormation::default().with("hp-app-dev", stack)
        },
        aws,
        settings(),
    );
    let c = find(&report, "app/function/greeter/state");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.observed.as_deref(), Some("does not exist"));
    let c = find(&report, "app/stack/resources");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.reason, "not in the deployed stack: JobsDeadLetter");
    let c = find(&report, "app/queue/jobs/dead_letter");
    assert_eq!(c.status, Status::Skip);
}

#[test]
fn a_stack_deployed_from_another_checkout_warns() {
    let report = check_with(
        "dev",
        |s| {
            let mut stack = deployed(s);
            stack
                .parameters
                .insert("GreeterCodeKey".into(), "functions/hello/00.zip".into());
            FakeCloudFormation::default().with("hp-app-dev", stack)
        },
        FakeAws::healthy(),
        settings(),
    );
    let c = find(&report, "app/stack/template");
    assert_eq!(c.status, Status::Warn);
    assert_eq!(c.reason, "not deployed from this checkout");
    assert_eq!(c.observed.as_deref(), Some("parameters GreeterCodeKey"));
}

#[test]
fn ttl_and_public_access_turned_off_fail_and_dead_letters_warn() {
    let mut aws = FakeAws::healthy();
    aws.ttl.insert(
        "t-sessions".into(),
        Ok(TimeToLive {
            status: "DISABLED".into(),
            attribute: None,
        }),
    );
    aws.blocks.insert("b-files".into(), Ok(None));
    aws.queues.insert("https://sqs/q-jobs-dlq".into(), Ok(3));
    let report = check(aws);
    let ttl = find(&report, "app/table/sessions/ttl");
    assert_eq!(
        (ttl.status, ttl.reason.as_str()),
        (Status::Fail, "TTL is off: expired items are never deleted")
    );
    let block = find(&report, "app/bucket/files/public_access");
    assert_eq!(block.status, Status::Fail);
    assert_eq!(block.observed.as_deref(), Some("none"));
    let dlq = find(&report, "app/queue/jobs/dead_letter");
    assert_eq!(
        (dlq.status, dlq.reason.as_str()),
        (Status::Warn, "3 messages in the dead-letter queue")
    );
}

#[test]
fn on_the_emulator_what_its_cloudformation_never_applies_is_skipped() {
    let mut aws = FakeAws::healthy();
    aws.ttl.insert(
        "t-sessions".into(),
        Ok(TimeToLive {
            status: "DISABLED".into(),
            attribute: None,
        }),
    );
    aws.blocks.insert("b-files".into(), Ok(None));
    aws.pitr.insert("t-sessions".into(), Ok("DISABLED".into()));
    aws.roles.insert(
        "hp-app-dev-GreeterRole-ABC".into(),
        Ok(role_with(deployed_policy_in("local"))),
    );
    let report = check_with(
        "local",
        |s| FakeCloudFormation::default().with("hp-app-local", deployed(s)),
        aws,
        settings(),
    );
    assert_eq!(find(&report, "app/table/sessions/ttl").status, Status::Skip);
    assert_eq!(
        find(&report, "app/bucket/files/public_access").status,
        Status::Skip
    );
    assert_eq!(
        find(&report, "app/table/sessions/pitr").status,
        Status::Skip
    );
    assert_eq!(report.verdict, Verdict::Healthy, "{report:#?}");
}

#[test]
fn only_the_kinds_asked_for_are_reported() {
    let report = check_with(
        "dev",
        |s| FakeCloudFormation::default().with("hp-app-dev", deployed(s)),
        FakeAws::healthy(),
        Settings {
            only: ["function".to_string(), "stack".to_string()].into(),
            ..settings()
        },
    );
    let kinds: BTreeSet<&str> = report.checks.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["function", "stack"]));
    assert_eq!(report.checks.len(), 9);
}

#[test]
fn at_most_the_limit_runs_at_once() {
    use std::cell::Cell;
    let running = Cell::new(0usize);
    let most = Cell::new(0usize);
    let work: Vec<futures_util::future::LocalBoxFuture<'_, usize>> = (0..20usize)
        .map(|i| {
            let (running, most) = (&running, &most);
            Box::pin(async move {
                running.set(running.get() + 1);
                most.set(most.get().max(running.get()));
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
                running.set(running.get() - 1);
                i
            }) as _
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let out = block(bounded(work, 8, deadline));
    assert_eq!(most.get(), 8);
    // Results keep the work's order, whatever finished first.
    let values: Vec<usize> = out.into_iter().map(|o| o.unwrap().0).collect();
    assert_eq!(values, (0..20).collect::<Vec<_>>());
}

fn checks(statuses: &[(&str, Status)]) -> Vec<Check> {
    statuses
        .iter()
        .map(|(id, status)| Check {
            id: id.to_string(),
            stack: "app".into(),
            kind: "stack".into(),
            resource: None,
            check: "x".into(),
            status: *status,
            observed: None,
            expected: None,
            reason: format!("{id} is {}", status.as_str()),
            hint: None,
            duration_ms: 1,
        })
        .collect()
}

#[test]
fn verdicts_and_exit_statuses_for_each_combination() {
    use Status::*;
    let cases: &[(&[Status], Verdict, ExitStatus, ExitStatus)] = &[
        (
            &[Pass],
            Verdict::Healthy,
            ExitStatus::Success,
            ExitStatus::Success,
        ),
        (
            &[Pass, Skip],
            Verdict::Healthy,
            ExitStatus::Success,
            ExitStatus::Success,
        ),
        (
            &[Skip],
            Verdict::Healthy,
            ExitStatus::Success,
            ExitStatus::Success,
        ),
        (
            &[Pass, Warn],
            Verdict::Degraded,
            ExitStatus::Success,
            ExitStatus::Failure,
        ),
        (
            &[Pass, Fail],
            Verdict::Unhealthy,
            ExitStatus::Failure,
            ExitStatus::Failure,
        ),
        (
            &[Unknown],
            Verdict::Incomplete,
            ExitStatus::Incomplete,
            ExitStatus::Incomplete,
        ),
        (
            &[Warn, Unknown],
            Verdict::Incomplete,
            ExitStatus::Incomplete,
            ExitStatus::Failure,
        ),
        (
            &[Fail, Unknown, Warn],
            Verdict::Unhealthy,
            ExitStatus::Failure,
            ExitStatus::Failure,
        ),
    ];
    for (statuses, verdict, plain, fail_on_warn) in cases {
        let named: Vec<(String, Status)> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("app/stack/c{i}"), *s))
            .collect();
        let named: Vec<(&str, Status)> = named.iter().map(|(n, s)| (n.as_str(), *s)).collect();
        let report = Report::new("dev", checks(&named), Duration::from_millis(5));
        assert_eq!(report.verdict, *verdict, "{statuses:?}");
        assert_eq!(report.status(false), *plain, "{statuses:?}");
        assert_eq!(
            report.status(true),
            *fail_on_warn,
            "{statuses:?} --fail-on warn"
        );
    }
}

#[test]
fn the_report_orders_by_id_and_lists_failures_then_unknowns_then_warnings() {
    use Status::*;
    let report = Report::new(
        "dev",
        checks(&[
            ("b/stack/status", Warn),
            ("a/queue/q/dead_letter", Pass),
            ("c/stack/status", Unknown),
            ("d/stack/status", Fail),
            ("a/bucket/f/exists", Fail),
        ]),
        Duration::from_millis(1500),
    );
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "a/bucket/f/exists",
            "a/queue/q/dead_letter",
            "b/stack/status",
            "c/stack/status",
            "d/stack/status"
        ]
    );
    assert_eq!(
        report.counts,
        Counts {
            pass: 1,
            warn: 1,
            fail: 2,
            unknown: 1,
            skip: 0
        }
    );
    assert_eq!(
        report.to_string(),
        "FAIL    a/bucket/f/exists: a/bucket/f/exists is fail
FAIL    d/stack/status: d/stack/status is fail
UNKNOWN c/stack/status: c/stack/status is unknown
WARN    b/stack/status: b/stack/status is warn
unhealthy in dev: 2 failed, 1 unknown, 1 warned, 1 passed (5 checks in 1.50 s)"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["schema"], "stackctl.health/v1");
    assert_eq!(json["verdict"], "unhealthy");
    assert_eq!(json["counts"]["fail"], 2);
    assert_eq!(json["checks"][0]["status"], "fail");
    assert!(json.get("verbose").is_none());
}

#[test]
fn a_hand_added_star_statement_on_a_role_fails_naming_it() {
    let mut aws = FakeAws::healthy();
    let mut policy = deployed_policy();
    policy["Statement"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"Sid": "Debug", "Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}
        ));
    aws.roles
        .insert("hp-app-dev-GreeterRole-ABC".into(), Ok(role_with(policy)));
    let report = check(aws);
    let c = find(&report, "app/function/greeter/role");
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert_eq!(
        c.reason,
        "allows a `*` resource: GreeterAccess: statement `Debug` allows dynamodb:* on *"
    );
    assert_eq!(c.observed.as_deref(), Some("1 difference"));
    assert!(
        c.hint
            .as_deref()
            .unwrap()
            .contains("--role-name hp-app-dev-GreeterRole-ABC"),
        "{c:?}"
    );
    assert_eq!(report.status(false), ExitStatus::Failure);
    // Only the role differs.
    assert_eq!(report.counts.fail, 1, "{report:#?}");
}

#[test]
fn a_role_missing_a_statement_or_holding_more_policies_fails_and_a_deny_warns() {
    let role = |state: RoleState| {
        let mut aws = FakeAws::healthy();
        aws.roles
            .insert("hp-app-dev-GreeterRole-ABC".into(), Ok(state));
        let report = check(aws);
        let c = find(&report, "app/function/greeter/role").clone();
        (c.status, c.reason)
    };
    let mut lacking = deployed_policy();
    lacking["Statement"].as_array_mut().unwrap().remove(1);
    assert_eq!(
        role(role_with(lacking)),
        (
            Status::Fail,
            "GreeterAccess: statement `DeadLetterSend` lacks sqs:SendMessage on arn:aws:sqs:us-east-1:123456789012:q-greeter-dlq".into()
        )
    );
    let mut more = role_with(deployed_policy());
    more.inline.insert(
        "Extra".into(),
        Some(serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}]})),
    );
    more.managed
        .push("arn:aws:iam::aws:policy/AdministratorAccess".into());
    let (status, reason) = role(more);
    assert_eq!(status, Status::Fail);
    assert_eq!(
        reason,
        "inline policy Extra is not rendered: statement #1 allows s3:GetObject on arn:aws:s3:::other/*; managed policy arn:aws:iam::aws:policy/AdministratorAccess is attached but not rendered"
    );
    let mut deny = deployed_policy();
    deny["Statement"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"Sid": "NoSend", "Effect": "Deny", "Action": "sqs:SendMessage", "Resource": "*"}
        ));
    let (status, reason) = role(role_with(deny));
    assert_eq!(status, Status::Warn);
    assert_eq!(
        reason,
        "GreeterAccess: statement `NoSend` denies sqs:SendMessage on *"
    );
    // A role deleted by hand: fail, "does not exist".
    let mut aws = FakeAws::healthy();
    aws.roles.clear();
    let report = check(aws);
    let c = find(&report, "app/function/greeter/role");
    assert_eq!(
        (c.status, c.observed.as_deref()),
        (Status::Fail, Some("does not exist"))
    );
}

#[test]
fn a_schedule_disabled_or_without_its_function_fails() {
    let mut aws = FakeAws::healthy();
    aws.rules.insert(
        "r-nightly".into(),
        Ok(RuleState {
            state: "DISABLED".into(),
            targets: vec!["arn:aws:lambda:us-east-1:123456789012:function:fn-greeter".into()],
        }),
    );
    let report = check(aws);
    let c = find(&report, "app/schedule/nightly/enabled");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.reason,
        "the rule is DISABLED: the function is not invoked on schedule"
    );
    assert_eq!(
        c.hint
            .as_deref()
            .unwrap()
            .split(' ')
            .take(4)
            .collect::<Vec<_>>(),
        ["`aws", "events", "enable-rule", "--name"]
    );
    assert_eq!(
        find(&report, "app/schedule/nightly/target").status,
        Status::Pass
    );

    // Its target replaced by another function: fail.
    let mut aws = FakeAws::healthy();
    aws.rules.insert(
        "r-nightly".into(),
        Ok(RuleState {
            state: "ENABLED".into(),
            targets: vec!["arn:aws:lambda:us-east-1:123456789012:function:other".into()],
        }),
    );
    let report = check(aws);
    let c = find(&report, "app/schedule/nightly/target");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::Fail, "the rule no longer targets its function")
    );

    // The function deleted: the target fails too, not only the function.
    let mut aws = FakeAws::healthy();
    aws.functions.clear();
    let report = check(aws);
    let c = find(&report, "app/schedule/nightly/target");
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.reason.starts_with("the target function does not exist"),
        "{c:?}"
    );
}

#[test]
fn an_alarm_in_alarm_fails_with_its_reason_and_since_when() {
    let mut aws = FakeAws::healthy();
    if let Ok(alarms) = &mut aws.alarms {
        alarms[0].state = "ALARM".into();
        alarms[0].reason = "Threshold Crossed: 1 datapoint [3.0] was greater than 0.0".into();
        alarms[0].since = Some("2026-03-01T10:00:00Z".into());
    }
    let report = check(aws);
    let c = find(&report, "app/alarm/greeter_errors/state");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.reason,
        "in ALARM since 2026-03-01T10:00:00Z: Threshold Crossed: 1 datapoint [3.0] was greater than 0.0"
    );
    assert_eq!(
        c.observed.as_deref(),
        Some("ALARM since 2026-03-01T10:00:00Z")
    );
    assert_eq!(
        find(&report, "app/alarm/jobs_failing/state").status,
        Status::Pass
    );
}

#[test]
fn every_alarm_of_a_stack_is_asked_for_in_one_batch() {
    let aws = FakeAws::healthy();
    let dir = project();
    let scope = Scope::load(dir.path(), "dev", &[]).unwrap();
    let cfn = FakeCloudFormation::default().with("hp-app-dev", deployed(&scope));
    let input = Input {
        env: "dev",
        region: "us-east-1",
        emulated: false,
        rendered: &scope.rendered,
        stacks: vec![StackScope {
            rendered: scope.rendered("app"),
            resources: &scope.project.stacks["app"].resources,
            code: code(),
            bindings: BTreeMap::new(),
            migrations: Vec::new(),
        }],
    };
    block(run(&cfn, &aws, &input, &settings()));
    // Each alarm's check asks for all of them: the same request, which
    // SdkResources answers with one DescribeAlarms (see `Once`).
    let calls = aws.alarm_calls.borrow();
    let both = vec![
        "hp-app-greeter-errors-dev".to_string(),
        "hp-app-jobs-failing-dev".to_string(),
    ];
    assert_eq!(*calls, vec![both.clone(), both]);
}

#[test]
fn alarms_missing_or_without_data_are_judged_by_where_and_how_long() {
    // Gone on AWS: fail; on the emulator (which never creates alarms): skip.
    let mut aws = FakeAws::healthy();
    aws.alarms = Ok(Vec::new());
    let report = check(aws);
    let c = find(&report, "app/alarm/greeter_errors/state");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (
            Status::Fail,
            "alarm hp-app-greeter-errors-dev does not exist"
        )
    );
    let mut aws = FakeAws::healthy();
    aws.alarms = Ok(Vec::new());
    let report = check_with(
        "local",
        |s| FakeCloudFormation::default().with("hp-app-local", deployed(s)),
        aws,
        settings(),
    );
    let c = find(&report, "app/alarm/greeter_errors/state");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::Skip, "moto does not create CloudWatch alarms")
    );

    // INSUFFICIENT_DATA: fine while new, a warning when it lasts.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let insufficient = |age_s: i64| {
        let mut aws = FakeAws::healthy();
        if let Ok(alarms) = &mut aws.alarms {
            alarms[0].state = "INSUFFICIENT_DATA".into();
            alarms[0].since_secs = Some(now - age_s);
        }
        let report = check(aws);
        find(&report, "app/alarm/greeter_errors/state").clone()
    };
    assert_eq!(insufficient(60).status, Status::Pass);
    let old = insufficient(3 * 3600);
    assert_eq!(old.status, Status::Warn);
    assert_eq!(
        old.reason,
        "no data for 180 minutes: it watches a metric nothing publishes"
    );
}

#[test]
fn point_in_time_recovery_and_encryption_not_as_declared_fail() {
    let mut aws = FakeAws::healthy();
    aws.pitr.insert("t-sessions".into(), Ok("DISABLED".into()));
    aws.encryption.insert(
        "b-files".into(),
        Ok(Some(BucketEncryption {
            algorithm: "aws:kms".into(),
            key: Some("arn:aws:kms:us-east-1:123456789012:key/other".into()),
        })),
    );
    let report = check(aws);
    let c = find(&report, "app/table/sessions/pitr");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (
            Status::Fail,
            "point-in-time recovery is off: the table cannot be restored to before a bad write"
        )
    );
    let c = find(&report, "app/bucket/files/encryption");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (
            Status::Fail,
            "encrypted with aws:kms, not AES256 as declared"
        )
    );
    assert_eq!(
        c.observed.as_deref(),
        Some("aws:kms with key arn:aws:kms:us-east-1:123456789012:key/other")
    );

    let mut aws = FakeAws::healthy();
    aws.encryption.insert("b-files".into(), Ok(None));
    aws.pitr.insert("t-sessions".into(), Ok("DISABLED".into()));
    let report = check(aws);
    let c = find(&report, "app/bucket/files/encryption");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::Fail, "no default encryption")
    );
    // On the emulator, whose CloudFormation never turns PITR on: skip.
    let mut aws = FakeAws::healthy();
    aws.pitr.insert("t-sessions".into(), Ok("DISABLED".into()));
    let report = check_with(
        "local",
        |s| FakeCloudFormation::default().with("hp-app-local", deployed(s)),
        aws,
        settings(),
    );
    assert_eq!(
        find(&report, "app/table/sessions/pitr").status,
        Status::Skip
    );
}

#[test]
fn the_printed_policy_names_every_read_on_exact_resources() {
    let dir = project();
    let scope = Scope::load(dir.path(), "dev", &[]).unwrap();
    let r = scope.rendered("app");
    let access = crate::health::access::needed(
        "us-east-1",
        &scope.rendered,
        &[(r, &scope.project.stacks["app"].resources)],
        &BTreeSet::new(),
    );
    let policy = crate::health::access::policy(&access);
    let statements = policy["Statement"].as_array().unwrap();
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid} in {policy:#}"))
            .clone()
    };
    let account = "${aws:PrincipalAccount}";
    assert_eq!(
        by_sid("ReadFunctions")["Resource"],
        serde_json::json!([format!(
            "arn:aws:lambda:us-east-1:{account}:function:hp-app-greeter-dev"
        )])
    );
    assert_eq!(
        by_sid("ReadFunctionRoles")["Resource"],
        serde_json::json!([format!(
            "arn:aws:iam::{account}:role/hp-app-dev-GreeterRole-*"
        )])
    );
    assert_eq!(
        by_sid("ReadStacks")["Resource"],
        serde_json::json!([format!(
            "arn:aws:cloudformation:us-east-1:{account}:stack/hp-app-dev/*"
        )])
    );
    assert_eq!(
        by_sid("ReadAlarms")["Resource"],
        serde_json::json!([
            format!("arn:aws:cloudwatch:us-east-1:{account}:alarm:hp-app-greeter-errors-dev"),
            format!("arn:aws:cloudwatch:us-east-1:{account}:alarm:hp-app-jobs-failing-dev"),
        ])
    );
    let sids: Vec<&str> = statements
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [
            "MetricsOnlyStar",
            "ReadAlarms",
            "ReadBuckets",
            "ReadDeadLetterQueues",
            "ReadFunctionRoles",
            "ReadFunctions",
            "ReadScheduleRules",
            "ReadStacks",
            "ReadTables"
        ]
    );
    // Read-only, and never on `*` but what IAM grants only on `*`.
    for s in statements {
        for a in s["Action"].as_array().unwrap() {
            let verb = a.as_str().unwrap().split(':').nth(1).unwrap();
            assert!(
                ["Get", "List", "Describe"]
                    .iter()
                    .any(|p| verb.starts_with(p)),
                "{a}"
            );
        }
        if s["Sid"] == "MetricsOnlyStar" {
            assert_eq!(s["Action"], serde_json::json!(["cloudwatch:GetMetricData"]));
        } else {
            assert_ne!(s["Resource"], "*", "{s}");
        }
    }
}

// Metric windows and API Gateway v2 checks.

fn key(metric: &str, dimension: &str) -> (String, String) {
    (metric.to_string(), dimension.to_string())
}

fn series(values: &[f64]) -> Series {
    Series {
        values: values.to_vec(),
    }
}

#[test]
fn error_rates_pass_warn_and_fail_at_their_thresholds_and_no_data_passes() {
    let w = Window::DEFAULT;
    let of = metrics::RateOf {
        errors: "Errors",
        total: "Invocations",
        noun: "invocations",
    };
    let judge = |e: &[f64], n: &[f64]| {
        metrics::rate(
            "errors",
            &series(e),
            &series(n),
            of,
            metrics::ERROR_RATE,
            &w,
        )
    };
    let none = judge(&[], &[]);
    assert_eq!(
        (none.status, none.reason.as_str()),
        (Status::Pass, "no invocations in the last 15m")
    );
    assert_eq!(judge(&[0.0], &[0.0]).status, Status::Pass);
    let low = judge(&[1.0], &[200.0]);
    assert_eq!(
        (low.status, low.reason.as_str()),
        (
            Status::Pass,
            "0.5 % of 200 invocations failed in the last 15m"
        )
    );
    // Exactly at a threshold is still below it.
    assert_eq!(judge(&[1.0], &[100.0]).status, Status::Pass);
    let warn = judge(&[2.0, 1.0], &[100.0, 50.0]);
    assert_eq!(warn.status, Status::Warn, "{warn:?}");
    assert_eq!(
        warn.observed.as_deref(),
        Some("Errors 3 / Invocations 150 (2.00 %) in the last 15m")
    );
    assert_eq!(judge(&[5.0], &[100.0]).status, Status::Warn);
    assert_eq!(judge(&[6.0], &[100.0]).status, Status::Fail);
    // Errors with no invocations yet (one metric lags the other): all failed.
    let lag = judge(&[2.0], &[]);
    assert_eq!(
        (lag.status, lag.reason.as_str()),
        (
            Status::Fail,
            "100.0 % of 2 invocations failed in the last 15m"
        )
    );
}

#[test]
fn windows_are_whole_minutes_between_one_minute_and_fourteen_days() {
    let w = |s: u64| Window::new(Duration::from_secs(s));
    assert_eq!(w(900).unwrap().text(), "15m");
    assert_eq!(w(90).unwrap().period_s(), 120);
    assert_eq!(w(3600).unwrap().text(), "1h");
    assert_eq!(w(14 * 86_400).unwrap().text(), "14d");
    assert_eq!(
        w(30).unwrap_err(),
        "a window of 30s is out of range: 1m to 336h (14 days)"
    );
    assert!(w(15 * 86_400).is_err());
    assert_eq!(metrics::age(45.0), "45s");
    assert_eq!(metrics::age(3_725.0), "1h 2m");
    assert_eq!(metrics::age(200_000.0), "2d 7h");
}

/// `n` distinct queries, one function each.
fn queries(n: usize) -> Vec<MetricQuery> {
    (0..n)
        .map(|i| {
            MetricQuery::new(
                "AWS/Lambda",
                "Errors",
                "FunctionName",
                &format!("f{i}"),
                Stat::Sum,
            )
        })
        .collect()
}

#[test]
fn twelve_hundred_queries_take_three_calls_and_each_value_comes_back_to_its_query() {
    let mut aws = FakeAws::default();
    for i in 0..1200 {
        aws.metrics
            .insert(key("Errors", &format!("f{i}")), vec![i as f64]);
    }
    let mut qs = queries(1200);
    // The same query twice is asked once.
    qs.push(qs[7].clone());
    let out = block(metrics::fetch(
        &aws,
        &qs,
        &Window::DEFAULT,
        std::time::SystemTime::now(),
    ));
    let calls: Vec<usize> = aws.metric_calls.borrow().iter().map(|c| c.0).collect();
    assert_eq!(calls, [500, 500, 200]);
    assert_eq!(out.len(), 1201);
    for (i, r) in out.iter().enumerate().take(1200) {
        assert_eq!(r.as_ref().unwrap().values, vec![i as f64], "query {i}");
    }
    assert_eq!(out[1200].as_ref().unwrap().values, vec![7.0]);
    // Nothing to read: no call at all.
    let aws = FakeAws::default();
    assert!(block(metrics::fetch(
        &aws,
        &[],
        &Window::DEFAULT,
        std::time::SystemTime::now()
    ))
    .is_empty());
    assert!(aws.metric_calls.borrow().is_empty());
}

#[test]
fn every_page_is_read_and_a_forbidden_query_or_a_failed_call_is_an_error() {
    let mut aws = FakeAws {
        paged: true,
        ..FakeAws::default()
    };
    aws.metrics.insert(key("Errors", "f0"), vec![1.0, 2.0, 3.0]);
    aws.metrics.insert(key("Errors", "f1"), vec![4.0]);
    let out = block(metrics::fetch(
        &aws,
        &queries(2),
        &Window::DEFAULT,
        std::time::SystemTime::now(),
    ));
    assert_eq!(out[0].as_ref().unwrap().sum(), 6.0);
    assert_eq!(out[1].as_ref().unwrap().values, vec![4.0]);
    assert_eq!(
        *aws.metric_calls.borrow(),
        [(2, None), (2, Some("page-2".to_string()))]
    );

    let mut aws = FakeAws::default();
    aws.forbidden.insert("Throttles".into());
    let qs = vec![
        MetricQuery::new("AWS/Lambda", "Errors", "FunctionName", "f", Stat::Sum),
        MetricQuery::new("AWS/Lambda", "Throttles", "FunctionName", "f", Stat::Sum),
    ];
    let out = block(metrics::fetch(
        &aws,
        &qs,
        &Window::DEFAULT,
        std::time::SystemTime::now(),
    ));
    assert!(out[0].as_ref().unwrap().is_empty());
    let e = out[1].as_ref().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Denied);
    assert_eq!(
        e.message,
        "reading metric AWS/Lambda/Throttles (FunctionName=f): CloudWatch answered Forbidden: not authorized"
    );
}

#[test]
fn a_run_reads_every_metric_in_one_call_and_judges_each_resource() {
    let mut aws = FakeAws::healthy();
    aws.metrics.insert(key("Errors", "fn-greeter"), vec![12.0]);
    aws.metrics
        .insert(key("Invocations", "fn-greeter"), vec![100.0]);
    aws.metrics
        .insert(key("Throttles", "fn-greeter"), vec![0.0, 3.0]);
    aws.metrics.insert(
        key("ApproximateAgeOfOldestMessage", "q-jobs-dlq"),
        vec![60.0, 7_300.0],
    );
    let report = check_ref(&aws);
    let c = find(&report, "app/function/greeter/errors");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (
            Status::Fail,
            "12.0 % of 100 invocations failed in the last 15m"
        )
    );
    assert_eq!(
        c.hint.as_deref(),
        Some("read what failed: `aws logs tail /aws/lambda/fn-greeter --since 15m`")
    );
    let c = find(&report, "app/function/greeter/throttles");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::Warn, "3 invocations throttled in the last 15m")
    );
    let c = find(&report, "app/queue/jobs/dead_letter_age");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::Warn, "the oldest dead letter is 2h 1m old")
    );
    // Function and queue metrics: four queries, one call.
    assert_eq!(*aws.metric_calls.borrow(), [(4, None)]);
}

/// `aws`, borrowed, so a test can look at its calls after a run.
fn aws_ref(aws: &FakeAws) -> AwsRef<'_> {
    AwsRef(aws)
}

/// [`check`] with `aws` borrowed.
fn check_ref(aws: &FakeAws) -> Report {
    let dir = project();
    let scope = Scope::load(dir.path(), "dev", &[]).unwrap();
    let cfn = FakeCloudFormation::default().with("hp-app-dev", deployed(&scope));
    let input = Input {
        env: "dev",
        region: "us-east-1",
        emulated: false,
        rendered: &scope.rendered,
        stacks: vec![StackScope {
            rendered: scope.rendered("app"),
            resources: &scope.project.stacks["app"].resources,
            code: code(),
            bindings: BTreeMap::new(),
            migrations: Vec::new(),
        }],
    };
    block(run(&cfn, &aws_ref(aws), &input, &settings()))
}

/// A borrowed [`FakeAws`], so a test can look at its calls after a run.
struct AwsRef<'a>(&'a FakeAws);

impl Resources for AwsRef<'_> {
    async fn function(&self, name: &str) -> Result<FunctionState, ReadError> {
        self.0.function(name).await
    }
    async fn table(&self, name: &str) -> Result<TableState, ReadError> {
        self.0.table(name).await
    }
    async fn time_to_live(&self, name: &str) -> Result<TimeToLive, ReadError> {
        self.0.time_to_live(name).await
    }
    async fn queue_depth(&self, url: &str) -> Result<u64, ReadError> {
        self.0.queue_depth(url).await
    }
    async fn bucket(&self, name: &str) -> Result<(), ReadError> {
        self.0.bucket(name).await
    }
    async fn public_access_block(
        &self,
        name: &str,
    ) -> Result<Option<PublicAccessBlock>, ReadError> {
        self.0.public_access_block(name).await
    }
    async fn metric_data(&self, r: &MetricRequest) -> Result<MetricPage, ReadError> {
        self.0.metric_data(r).await
    }
    async fn api(&self, id: &str) -> Result<ApiState, ReadError> {
        self.0.api(id).await
    }
    async fn function_policy(&self, name: &str) -> Result<Option<String>, ReadError> {
        self.0.function_policy(name).await
    }
    async fn secret_value(&self, id: &str) -> Result<String, ReadError> {
        self.0.secret_value(id).await
    }
    async fn role(&self, name: &str) -> Result<RoleState, ReadError> {
        self.0.role(name).await
    }
    async fn rule(&self, name: &str) -> Result<RuleState, ReadError> {
        self.0.rule(name).await
    }
    async fn alarms(&self, names: &[String]) -> Result<Vec<AlarmState>, ReadError> {
        self.0.alarms(names).await
    }
    async fn point_in_time_recovery(&self, name: &str) -> Result<String, ReadError> {
        self.0.point_in_time_recovery(name).await
    }
    async fn bucket_encryption(&self, name: &str) -> Result<Option<BucketEncryption>, ReadError> {
        self.0.bucket_encryption(name).await
    }
    async fn postgres(&self, bound: &Bound, database: &str) -> Result<PostgresState, ReadError> {
        self.0.postgres(bound, database).await
    }
    async fn redis(&self, bound: &Bound) -> Result<String, ReadError> {
        self.0.redis(bound).await
    }
    async fn db_instance(&self, id: &str) -> Result<DbInstanceState, ReadError> {
        self.0.db_instance(id).await
    }
    async fn db_maintenance(&self, arn: &str) -> Result<Vec<Maintenance>, ReadError> {
        self.0.db_maintenance(arn).await
    }
    async fn replication_group(&self, id: &str) -> Result<String, ReadError> {
        self.0.replication_group(id).await
    }
    async fn cache_maintenance(&self, id: &str) -> Result<Vec<Maintenance>, ReadError> {
        self.0.cache_maintenance(id).await
    }
    async fn load_balancer(
        &self,
        arn: &str,
    ) -> Result<crate::aws::resources::LoadBalancerState, ReadError> {
        self.0.load_balancer(arn).await
    }
    async fn target_health(
        &self,
        arn: &str,
    ) -> Result<Vec<crate::aws::resources::TargetGroupHealth>, ReadError> {
        self.0.target_health(arn).await
    }
    async fn rest_api(&self, id: &str) -> Result<crate::aws::resources::RestApiState, ReadError> {
        self.0.rest_api(id).await
    }
    async fn distribution(
        &self,
        id: &str,
    ) -> Result<crate::aws::resources::DistributionState, ReadError> {
        self.0.distribution(id).await
    }
    async fn ecs_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<crate::aws::resources::EcsService, ReadError> {
        self.0.ecs_service(cluster, service).await
    }
    async fn event_bus(&self, name: &str) -> Result<String, ReadError> {
        self.0.event_bus(name).await
    }
    async fn bus_rule(&self, bus: &str, name: &str) -> Result<RuleState, ReadError> {
        self.0.bus_rule(bus, name).await
    }
    async fn role_trust(&self, name: &str) -> Result<Option<serde_json::Value>, ReadError> {
        self.0.role_trust(name).await
    }
    async fn agent_memory(
        &self,
        id: &str,
    ) -> Result<crate::aws::resources::MemoryState, ReadError> {
        self.0.agent_memory(id).await
    }
}

#[test]
fn metrics_that_cannot_be_read_are_unknown_and_quiet_ones_pass() {
    let mut aws = FakeAws::healthy();
    aws.metric_error = Some(ReadError::new(
        ErrorKind::Denied,
        "reading metrics (GetMetricData): AccessDenied: not authorized to perform cloudwatch:GetMetricData",
    ));
    let report = check(aws);
    for id in [
        "app/function/greeter/errors",
        "app/function/greeter/throttles",
        "app/queue/jobs/dead_letter_age",
    ] {
        let c = find(&report, id);
        assert_eq!(c.status, Status::Unknown, "{c:?}");
        assert!(c.reason.starts_with("access denied: "), "{c:?}");
    }
    assert_eq!(report.verdict, Verdict::Incomplete);

    let report = check(FakeAws::healthy());
    let c = find(&report, "app/function/greeter/errors");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::Pass, "no invocations in the last 15m")
    );
    let c = find(&report, "app/queue/jobs/dead_letter_age");
    assert_eq!(c.status, Status::Pass);
    assert!(
        c.reason.starts_with("no data points in the last 15m"),
        "{c:?}"
    );
}

#[test]
fn a_longer_window_is_asked_for_and_named() {
    let mut aws = FakeAws::healthy();
    aws.metrics
        .insert(key("Throttles", "fn-greeter"), vec![1.0]);
    let report = check_with(
        "dev",
        |s| FakeCloudFormation::default().with("hp-app-dev", deployed(s)),
        aws,
        Settings {
            window: Window::new(Duration::from_secs(3 * 3600)).unwrap(),
            ..settings()
        },
    );
    assert_eq!(
        find(&report, "app/function/greeter/throttles").reason,
        "1 invocation throttled in the last 3h"
    );
}

const API_STACK: &str = "\
resources:
  greeter:
    type: function
    crate: hello
  other:
    type: function
    crate: hello
  api:
    type: http_api
    routes:
      GET /hello: greeter
      POST /other: other
  socket:
    type: websocket_api
    routes:
      $connect: greeter
      $default: other
";

const API_ID: &str = "a1b2c3";
const SOCKET_ID: &str = "s9s9s9";

/// A project with stack `web` (above).
fn api_project() -> tempfile::TempDir {
    let dir = project();
    std::fs::write(
        dir.path().join("stackctl.yaml"),
        "project: hp\nstacks:\n  web: {}\nenvironments:\n  dev:\n    region: us-east-1\n  local:\n    region: us-east-1\n    endpoint_url: http://127.0.0.1:5000\n    emulator: moto\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("stacks/web.yaml"), API_STACK).unwrap();
    dir
}

fn lambda_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

/// A resource policy letting API `api` invoke function `name`.
fn policy(name: &str, source_arn: Option<&str>) -> String {
    let condition = source_arn
        .map(|a| serde_json::json!({"ArnLike": {"AWS:SourceArn": a}}))
        .unwrap_or(serde_json::Value::Null);
    let mut statement = serde_json::json!({
        "Sid": "x", "Effect": "Allow",
        "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": lambda_arn(name),
    });
    if !condition.is_null() {
        statement["Condition"] = condition;
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
}

fn execute_arn(api: &str) -> String {
    format!("arn:aws:execute-api:us-east-1:123456789012:{api}/*")
}

/// Both APIs as deployed: their stages, routes and integrations, and the
/// functions' policies letting both invoke them.
fn healthy_apis() -> FakeAws {
    let mut aws = FakeAws::default();
    aws.apis.insert(
        API_ID.into(),
        Ok(ApiState {
            protocol: "HTTP".into(),
            stages: vec!["dev".into()],
            routes: vec![
                ("GET /hello".into(), Some("integrations/i1".into())),
                ("POST /other".into(), Some("integrations/i2".into())),
            ],
            integrations: vec![
                ("i1".into(), Some(lambda_arn("fn-greeter"))),
                ("i2".into(), Some(lambda_arn("fn-other"))),
            ],
        }),
    );
    let ws_uri = |name: &str| {
        format!(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}/invocations",
            lambda_arn(name)
        )
    };
    aws.apis.insert(
        SOCKET_ID.into(),
        Ok(ApiState {
            protocol: "WEBSOCKET".into(),
            stages: vec!["dev".into()],
            routes: vec![
                ("$connect".into(), Some("integrations/w1".into())),
                ("$default".into(), Some("integrations/w2".into())),
            ],
            integrations: vec![
                ("w1".into(), Some(ws_uri("fn-greeter"))),
                ("w2".into(), Some(ws_uri("fn-other"))),
            ],
        }),
    );
    for f in ["fn-greeter", "fn-other"] {
        let both = serde_json::json!({"Statement": [
            serde_json::from_str::<serde_json::Value>(&policy(f, Some(&execute_arn(API_ID)))).unwrap()["Statement"][0],
            serde_json::from_str::<serde_json::Value>(&policy(f, Some(&execute_arn(SOCKET_ID)))).unwrap()["Statement"][0],
        ]});
        aws.policies.insert(f.into(), Ok(Some(both.to_string())));
    }
    aws
}

/// Runs the API kinds' checks on stack `web` in `env` against `aws`.
fn check_apis(env: &str, aws: &FakeAws) -> Report {
    let dir = api_project();
    let scope = Scope::load(dir.path(), env, &[]).unwrap();
    let r = scope.rendered("web");
    let mut stack = FakeStack::new(&r.template);
    stack.parameters = r.parameters.clone();
    let emulated = env == "local";
    for i in &r.inventory {
        for x in &i.resources {
            let physical = match x.logical_id.as_str() {
                // moto lists ApiGatewayV2 resources without an id.
                "Api" | "Socket" if emulated => String::new(),
                "Api" => API_ID.to_string(),
                "Socket" => SOCKET_ID.to_string(),
                "Greeter" => "fn-greeter".to_string(),
                "Other" => "fn-other".to_string(),
                other => format!("p-{other}"),
            };
            stack = stack.resource(&x.logical_id, &x.resource_type, &physical);
        }
    }
    let cfn = FakeCloudFormation::default().with(&format!("hp-web-{env}"), stack);
    let input = Input {
        env,
        region: "us-east-1",
        emulated: scope.environment().emulator.is_some(),
        rendered: &scope.rendered,
        stacks: vec![StackScope {
            rendered: r,
            resources: &scope.project.stacks["web"].resources,
            code: Code::default(),
            bindings: BTreeMap::new(),
            migrations: Vec::new(),
        }],
    };
    let settings = Settings {
        only: ["http_api".to_string(), "websocket_api".to_string()].into(),
        ..settings()
    };
    block(run(&cfn, &aws_ref(aws), &input, &settings))
}

#[test]
fn deployed_apis_with_their_routes_stages_and_permissions_pass() {
    let aws = healthy_apis();
    let report = check_apis("dev", &aws);
    let ids: Vec<(&str, Status)> = report
        .checks
        .iter()
        .map(|c| (c.id.as_str(), c.status))
        .collect();
    assert_eq!(
        ids,
        [
            ("web/http_api/api/5xx", Status::Pass),
            ("web/http_api/api/api", Status::Pass),
            ("web/http_api/api/permission", Status::Pass),
            ("web/http_api/api/routes", Status::Pass),
            ("web/http_api/api/stage", Status::Pass),
            ("web/websocket_api/socket/api", Status::Pass),
            ("web/websocket_api/socket/integration_errors", Status::Pass),
            ("web/websocket_api/socket/permission", Status::Pass),
            ("web/websocket_api/socket/routes", Status::Pass),
            ("web/websocket_api/socket/stage", Status::Pass),
        ],
        "{report:#?}"
    );
    let routes = find(&report, "web/http_api/api/routes");
    assert_eq!(
        routes.observed.as_deref(),
        Some("GET /hello → fn-greeter, POST /other → fn-other")
    );
    assert_eq!(routes.expected, routes.observed);
    // Both APIs' metrics in one call: 5xx and Count, then three.
    assert_eq!(*aws.metric_calls.borrow(), [(5, None)]);
}

#[test]
fn a_missing_api_fails_and_its_stage_and_routes_are_skipped() {
    let mut aws = healthy_apis();
    aws.apis.remove(API_ID);
    let report = check_apis("dev", &aws);
    let c = find(&report, "web/http_api/api/api");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.observed.as_deref(), Some("does not exist"));
    for id in ["web/http_api/api/stage", "web/http_api/api/routes"] {
        let c = find(&report, id);
        assert_eq!(
            (c.status, c.reason.as_str()),
            (
                Status::Skip,
                "the API does not exist (see web/http_api/api/api)"
            )
        );
    }
    assert_eq!(report.verdict, Verdict::Unhealthy);
}

#[test]
fn a_missing_route_a_route_to_another_function_and_a_missing_stage_fail() {
    let mut aws = healthy_apis();
    if let Some(Ok(api)) = aws.apis.get_mut(API_ID) {
        api.routes.retain(|(k, _)| k != "POST /other");
        api.stages.clear();
    }
    if let Some(Ok(ws)) = aws.apis.get_mut(SOCKET_ID) {
        // `$default` now invokes the `$connect` function.
        ws.routes[1].1 = Some("integrations/w1".into());
        ws.routes
            .push(("debug".into(), Some("integrations/w2".into())));
    }
    let report = check_apis("dev", &aws);
    let c = find(&report, "web/http_api/api/routes");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::Fail, "route `POST /other` is missing")
    );
    let c = find(&report, "web/http_api/api/stage");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (
            Status::Fail,
            "stage dev does not exist: the API serves nothing there"
        )
    );
    assert_eq!(c.observed.as_deref(), Some("no stages"));
    let c = find(&report, "web/websocket_api/socket/routes");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (
            Status::Fail,
            "route `$default` invokes fn-greeter, not fn-other"
        )
    );

    // Only a route nobody declared: a warning.
    let mut aws = healthy_apis();
    if let Some(Ok(ws)) = aws.apis.get_mut(SOCKET_ID) {
        ws.routes
            .push(("debug".into(), Some("integrations/w2".into())));
    }
    let report = check_apis("dev", &aws);
    let c = find(&report, "web/websocket_api/socket/routes");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::Warn, "routes nobody declared: debug")
    );
}

#[test]
fn a_policy_without_the_apis_source_arn_fails_and_one_for_any_api_warns() {
    let mut aws = healthy_apis();
    // fn-other's policy names another API only; fn-greeter's none at all.
    aws.policies.insert(
        "fn-other".into(),
        Ok(Some(policy("fn-other", Some(&execute_arn("zzz999"))))),
    );
    aws.policies.insert("fn-greeter".into(), Ok(None));
    let report = check_apis("dev", &aws);
    let c = find(&report, "web/http_api/api/permission");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.reason,
        "API Gateway may not invoke fn-greeter, fn-other for this API: its calls fail with 500"
    );
    assert!(c
        .hint
        .as_deref()
        .unwrap()
        .contains("--source-arn 'arn:aws:execute-api:REGION:ACCOUNT:a1b2c3/*'"));

    let mut aws = healthy_apis();
    for f in ["fn-greeter", "fn-other"] {
        aws.policies.insert(f.into(), Ok(Some(policy(f, None))));
    }
    let report = check_apis("dev", &aws);
    let c = find(&report, "web/http_api/api/permission");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (
            Status::Warn,
            "any API Gateway API may invoke fn-greeter, fn-other: no SourceArn condition"
        )
    );

    // A policy that cannot be read: unknown, never pass.
    let mut aws = healthy_apis();
    aws.policies.insert(
        "fn-other".into(),
        Err(ReadError::new(ErrorKind::Denied, "reading the resource policy of function fn-other: AccessDeniedException: lambda:GetPolicy")),
    );
    let report = check_apis("dev", &aws);
    assert_eq!(
        find(&report, "web/http_api/api/permission").status,
        Status::Unknown
    );
}

#[test]
fn api_error_rates_come_from_their_own_metrics() {
    let mut aws = healthy_apis();
    aws.metrics.insert(key("5xx", API_ID), vec![3.0]);
    aws.metrics.insert(key("Count", API_ID), vec![100.0]);
    aws.metrics
        .insert(key("IntegrationError", SOCKET_ID), vec![2.0]);
    aws.metrics
        .insert(key("ConnectCount", SOCKET_ID), vec![10.0]);
    aws.metrics
        .insert(key("MessageCount", SOCKET_ID), vec![10.0]);
    let report = check_apis("dev", &aws);
    let c = find(&report, "web/http_api/api/5xx");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::Warn, "3.0 % of 100 requests failed in the last 15m")
    );
    let c = find(&report, "web/websocket_api/socket/integration_errors");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (
            Status::Fail,
            "10.0 % of 20 connections and messages failed in the last 15m"
        )
    );
}

#[test]
fn on_the_emulator_api_checks_skip_with_the_reason() {
    let aws = healthy_apis();
    let report = check_apis("local", &aws);
    assert_eq!(report.checks.len(), 10);
    for c in &report.checks {
        assert_eq!(c.status, Status::Skip, "{c:?}");
        assert_eq!(c.reason, crate::kinds::api::EMULATOR_SKIP);
    }
    // Nothing to read: no metric call either.
    assert!(aws.metric_calls.borrow().is_empty());
}

#[test]
fn the_rendered_template_says_which_function_each_route_invokes() {
    let dir = api_project();
    let scope = Scope::load(dir.path(), "dev", &[]).unwrap();
    let t = crate::diff::parse_template(&scope.rendered("web").template).unwrap();
    let d = crate::kinds::api::declared(&t, "Socket");
    assert_eq!(d.stage.as_deref(), Some("dev"));
    assert_eq!(
        d.routes,
        [
            ("$connect".to_string(), Some("Greeter".to_string())),
            ("$default".to_string(), Some("Other".to_string()))
        ]
    );
    assert_eq!(
        d.invokers,
        BTreeSet::from(["Greeter".to_string(), "Other".to_string()])
    );
    assert_eq!(
        crate::kinds::api::function_in_uri(&format!(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}/invocations",
            lambda_arn("fn-x")
        )),
        Some("fn-x")
    );
    assert_eq!(
        crate::kinds::api::function_in_uri(&lambda_arn("fn-y")),
        Some("fn-y")
    );
    assert_eq!(
        crate::kinds::api::function_in_uri("http://example.com"),
        None
    );
}

#[test]
fn an_emulator_that_cannot_answer_get_metric_data_skips_and_aws_that_cannot_is_unknown() {
    let failing = || {
        let mut aws = FakeAws::healthy();
        aws.metric_error = Some(ReadError::new(
            ErrorKind::BadResponse,
            "reading metrics (GetMetricData): the endpoint answered HTTP 404 with an HTML error page, not an AWS response",
        ));
        aws
    };
    let report = check_with(
        "local",
        |s| FakeCloudFormation::default().with("hp-app-local", deployed(s)),
        failing(),
        settings(),
    );
    for id in [
        "app/function/greeter/errors",
        "app/function/greeter/throttles",
        "app/queue/jobs/dead_letter_age",
    ] {
        let c = find(&report, id);
        assert_eq!(
            (c.status, c.reason.as_str()),
            (Status::Skip, metrics::EMULATOR_SKIP)
        );
    }
    let report = check(failing());
    assert_eq!(
        find(&report, "app/function/greeter/errors").status,
        Status::Unknown
    );
}

/// The diagnostics of project `app` whose stack is `stack`, as text.
fn invalid(stack: &str) -> String {
    let dir = project();
    std::fs::write(dir.path().join("stacks/app.yaml"), stack).unwrap();
    match crate::validate::project_for(dir.path(), "dev") {
        Ok(_) => panic!("{stack} is valid"),
        Err(d) => d.to_string(),
    }
}

#[test]
fn a_resources_own_limits_replace_the_defaults() {
    let dir = project();
    std::fs::write(
        dir.path().join("stacks/app.yaml"),
        STACK
            .replace(
                "    crate: hello\n",
                "    crate: hello\n    health: {error_rate: {warn: 10, fail: 20}}\n",
            )
            .replace(
                "    dead_letter: {max_receives: 3}\n",
                "    dead_letter: {max_receives: 3}\n    health: {dead_letter_age: 3600}\n",
            ),
    )
    .unwrap();
    let scope = Scope::load(dir.path(), "dev", &[]).unwrap();
    let judge = |errors: f64, age: f64| {
        let mut aws = FakeAws::healthy();
        aws.metrics
            .insert(key("Errors", "fn-greeter"), vec![errors]);
        aws.metrics
            .insert(key("Invocations", "fn-greeter"), vec![100.0]);
        aws.metrics.insert(
            key("ApproximateAgeOfOldestMessage", "q-jobs-dlq"),
            vec![age],
        );
        let cfn = FakeCloudFormation::default().with("hp-app-dev", deployed(&scope));
        let input = Input {
            env: "dev",
            region: "us-east-1",
            emulated: false,
            rendered: &scope.rendered,
            stacks: vec![StackScope {
                rendered: scope.rendered("app"),
                resources: &scope.project.stacks["app"].resources,
                code: code(),
                bindings: BTreeMap::new(),
                migrations: Vec::new(),
            }],
        };
        let report = block(run(&cfn, &aws, &input, &settings()));
        let status = |id: &str| find(&report, id).status;
        (
            status("app/function/greeter/errors"),
            status("app/queue/jobs/dead_letter_age"),
            find(&report, "app/function/greeter/errors")
                .expected
                .clone(),
        )
    };
    // 12 % and 2 hours: a failure and a warning by default, a warning and a
    // warning here.
    let (errors, age, expected) = judge(12.0, 7_200.0);
    assert_eq!((errors, age), (Status::Warn, Status::Warn));
    assert_eq!(
        expected.as_deref(),
        Some("Errors / Invocations at most 10 % (fails above 20 %)")
    );
    let (errors, age, _) = judge(25.0, 600.0);
    assert_eq!((errors, age), (Status::Fail, Status::Pass));
}

#[test]
fn limits_that_make_no_sense_are_located_errors() {
    let text = invalid(
        "resources:\n  greeter:\n    type: function\n    crate: hello\n    health: {error_rate: {warn: 10, fail: 5}}\n",
    );
    assert!(
        text.contains("the warning limit (10 %) is above the failure limit (5 %)"),
        "{text}"
    );
    assert!(text.contains("stacks/app.yaml:5"), "{text}");
    assert!(text.contains("health.error_rate"), "{text}");
    let text = invalid(
        "resources:\n  api:\n    type: http_api\n    routes: {}\n    health: {error_rate: {warn: 1, fail: 500}}\n",
    );
    assert!(
        text.contains("error rate limits are percent, 0 to 100"),
        "{text}"
    );
    let text = invalid("resources:\n  jobs:\n    type: queue\n    health: {dead_letter_age: 60}\n");
    assert!(
        text.contains("`dead_letter_age` without a dead-letter queue"),
        "{text}"
    );
    let text =
        invalid("resources:\n  jobs:\n    type: queue\n    health: {dead_letter_ages: 60}\n");
    assert!(text.contains("dead_letter_ages"), "{text}");
}

/// A stack with a database and a cache, in `dev` (RDS and ElastiCache)
/// and `near` (both bound to servers on 10.0.0.5).
const DATA: &str = "\
resources:
  main:
    type: network
  db:
    type: database
    network: main
    engine_version: \"16.8\"
    instance_class: db.t4g.micro
  token:
    type: secret
    generate: {length: 32, punctuation: false}
  cache:
    type: cache
    network: main
    node_type: cache.t4g.micro
    auth_token: token
";

/// Runs health on stack `data` (above) in `env`, deployed as rendered.
fn check_data(env: &str, aws: FakeAws) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("stacks/data/migrations")).unwrap();
    std::fs::write(
        root.join("stackctl.yaml"),
        "project: hd\nstacks:\n  data: {}\nenvironments:\n  dev:\n    region: us-east-1\n  near:\n    region: us-east-1\n    bind:\n      data:\n        db: {host: 10.0.0.5, port: 5432, secret: db-creds, tls: false}\n        cache: {host: 10.0.0.5, port: 6379, tls: false}\n",
    )
    .unwrap();
    std::fs::write(root.join("stacks/data.yaml"), DATA).unwrap();
    std::fs::write(
        root.join("stacks/data/migrations/0001_jobs.sql"),
        "CREATE TABLE jobs (id text);\n",
    )
    .unwrap();
    let scope = Scope::load(root, env, &[]).unwrap();
    let r = scope.rendered("data");
    let state = crate::deploy::desired::state(&r.template, &r.parameters, &r.tags).unwrap();
    let mut stack = FakeStack::new(&r.template);
    stack.parameters = state.parameters;
    stack.tags = r.tags.clone();
    for i in &r.inventory {
        for x in &i.resources {
            let physical = format!("p-{}", x.logical_id.to_lowercase());
            stack = stack.resource(&x.logical_id, &x.resource_type, &physical);
        }
    }
    let cfn = FakeCloudFormation::default().with(&format!("hd-data-{env}"), stack);
    let project = &scope.project;
    let bindings = project.file.environments[env]
        .bind
        .get("data")
        .map(|b| {
            b.iter()
                .map(|(k, b)| (k.clone(), b.bound("hd", env)))
                .collect()
        })
        .unwrap_or_default();
    let input = Input {
        env,
        region: "us-east-1",
        emulated: false,
        rendered: &scope.rendered,
        stacks: vec![StackScope {
            rendered: r,
            resources: &project.stacks["data"].resources,
            code: Code::default(),
            bindings,
            migrations: crate::migrations::load(project, &project.stacks["data"]).unwrap(),
        }],
    };
    block(run(&cfn, &aws, &input, &settings()))
}

fn status_of(report: &Report, id: &str) -> (Status, String) {
    let c = find(report, id);
    (c.status, c.reason.clone())
}

#[test]
fn rds_and_elasticache_are_judged_by_status_and_forced_maintenance() {
    let mut aws = FakeAws::default();
    aws.db_instances.insert(
        "p-db".into(),
        Ok(DbInstanceState {
            status: "available".into(),
            arn: "arn:aws:rds:us-east-1:1:db:p-db".into(),
        }),
    );
    aws.db_maintenance.insert(
        "arn:aws:rds:us-east-1:1:db:p-db".into(),
        Ok(vec![Maintenance {
            action: "system-update".into(),
            description: Some("New Operating System update is available".into()),
            forced: Some("2027-01-05T00:00:00Z".into()),
        }]),
    );
    aws.groups
        .insert("p-cache".into(), Ok("create-failed".into()));
    aws.cache_updates.insert("p-cache".into(), Ok(Vec::new()));
    let report = check_data("dev", aws);

    let (s, why) = status_of(&report, "data/database/db/available");
    assert_eq!(s, Status::Pass, "{why}");
    let (s, why) = status_of(&report, "data/database/db/maintenance");
    assert_eq!(s, Status::Warn);
    assert!(why.contains("system-update from 2027-01-05"), "{why}");
    let (s, why) = status_of(&report, "data/database/db/migrations");
    assert_eq!(s, Status::Skip);
    assert!(why.contains("not reachable from here"), "{why}");
    let (s, why) = status_of(&report, "data/cache/cache/available");
    assert_eq!(s, Status::Fail);
    assert!(why.contains("`create-failed`"), "{why}");
    assert_eq!(
        status_of(&report, "data/cache/cache/maintenance").0,
        Status::Pass
    );
}

#[test]
fn bound_servers_are_reached_and_migrations_compared() {
    let mut aws = FakeAws::default();
    aws.postgres.insert(
        "10.0.0.5:5432/db".into(),
        Ok(PostgresState {
            version: "16.4".into(),
            recorded: BTreeMap::new(),
        }),
    );
    aws.redis.insert(
        "10.0.0.5:6379".into(),
        Err(ReadError::new(
            ErrorKind::Unreachable,
            "Redis at 10.0.0.5:6379: Connection refused (os error 111)",
        )),
    );
    let report = check_data("near", aws);

    let (s, why) = status_of(&report, "data/database/db/available");
    assert_eq!(
        (s, why.as_str()),
        (Status::Pass, "PostgreSQL 16.4 answers at 10.0.0.5:5432")
    );
    let (s, why) = status_of(&report, "data/database/db/migrations");
    assert_eq!(s, Status::Warn);
    assert!(why.contains("0001_jobs.sql"), "{why}");
    assert_eq!(
        status_of(&report, "data/database/db/maintenance").0,
        Status::Skip
    );
    let c = find(&report, "data/cache/cache/available");
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(
        c.hint
            .as_deref()
            .unwrap()
            .contains("nothing answers at 10.0.0.5:6379"),
        "{c:?}"
    );
}

#[test]
fn a_migration_changed_after_it_ran_fails_and_a_refused_login_fails() {
    let mut aws = FakeAws::default();
    aws.postgres.insert(
        "10.0.0.5:5432/db".into(),
        Ok(PostgresState {
            version: "16.4".into(),
            recorded: [(1, "not-the-sha".to_string())].into(),
        }),
    );
    aws.redis.insert(
        "10.0.0.5:6379".into(),
        Err(ReadError::new(
            ErrorKind::Denied,
            "Redis at 10.0.0.5:6379: WRONGPASS",
        )),
    );
    let report = check_data("near", aws);
    let c = find(&report, "data/database/db/migrations");
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(c.reason.contains("changed after it was applied"), "{c:?}");
    assert!(c.hint.as_deref().unwrap().contains("new file"), "{c:?}");
    let c = find(&report, "data/cache/cache/available");
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert_eq!(c.observed.as_deref(), Some("refuses the credentials"));
}

// --wait, JUnit and the states the emulator cannot reach.

// --- `--wait`: runs again and again against scripted AWS, on virtual time.

/// Virtual time: `sleep` moves it on at once, and is recorded.
#[derive(Default)]
struct FakeClock {
    now: std::cell::Cell<Duration>,
    sleeps: std::cell::RefCell<Vec<Duration>>,
}

impl crate::deploy::wait::Clock for FakeClock {
    fn now(&self) -> Duration {
        self.now.get()
    }
    async fn sleep(&self, d: Duration) {
        self.sleeps.borrow_mut().push(d);
        self.now.set(self.now.get() + d);
    }
}

/// The progress lines a wait would print, one per run.
#[derive(Default)]
struct Lines(std::cell::RefCell<Vec<String>>);

impl Watch for Lines {
    fn started(&self, _: u32) {}
    fn ended(&self, n: u32, report: &Report, next: Option<(Duration, Duration)>) {
        let mut line = crate::ui::wait::summary(n, report);
        if let Some((pause, _)) = next {
            line.push_str(&format!("; next in {} s", pause.as_secs()));
        }
        self.0.borrow_mut().push(line);
    }
}

/// What a wait did: its report, the pauses it made, each run's timeout and
/// its progress lines.
struct Waiting {
    report: Report,
    sleeps: Vec<Duration>,
    timeouts: Vec<Duration>,
    lines: Vec<String>,
}

fn wait_settings(limit: Duration) -> WaitSettings {
    WaitSettings {
        limit,
        timeout: Duration::from_secs(30),
        fail_on_warn: false,
    }
}

/// `health --wait` on `app` in `dev`: run `n` (from 1) reads the
/// CloudFormation and AWS `script(n)` gives.
fn wait_with(
    script: impl Fn(u32, &Scope) -> (FakeCloudFormation, FakeAws),
    wait: WaitSettings,
) -> Waiting {
    let dir = project();
    let scope = Scope::load(dir.path(), "dev", &[]).unwrap();
    let input = Input {
        env: "dev",
        region: "us-east-1",
        emulated: false,
        rendered: &scope.rendered,
        stacks: vec![StackScope {
            rendered: scope.rendered("app"),
            resources: &scope.project.stacks["app"].resources,
            code: code(),
            bindings: BTreeMap::new(),
            migrations: Vec::new(),
        }],
    };
    let clock = FakeClock::default();
    let lines = Lines::default();
    let timeouts = std::cell::RefCell::new(Vec::new());
    let n = std::cell::Cell::new(0);
    let (input, scope) = (&input, &scope);
    let report = block(super::wait::wait(&clock, &lines, wait, |timeout| {
        n.set(n.get() + 1);
        timeouts.borrow_mut().push(timeout);
        let (cfn, aws) = script(n.get(), scope);
        let settings = Settings {
            timeout,
            waiting: true,
            ..settings()
        };
        async move { run(&cfn, &aws, input, &settings).await }
    }));
    Waiting {
        report,
        sleeps: clock.sleeps.into_inner(),
        timeouts: timeouts.into_inner(),
        lines: lines.0.into_inner(),
    }
}

/// The stack in `status`, deployed from this checkout.
fn stack_in(scope: &Scope, status: &str) -> FakeCloudFormation {
    FakeCloudFormation::default().with("hp-app-dev", deployed(scope).status(status))
}

fn secs(s: &[u64]) -> Vec<Duration> {
    s.iter().map(|s| Duration::from_secs(*s)).collect()
}

#[test]
fn under_wait_an_update_in_progress_is_waited_on_until_two_good_runs() {
    let w = wait_with(
        |n, scope| {
            let status = if n <= 2 {
                "UPDATE_IN_PROGRESS"
            } else {
                "UPDATE_COMPLETE"
            };
            (stack_in(scope, status), FakeAws::healthy())
        },
        wait_settings(Duration::from_secs(300)),
    );
    let wait = w.report.wait.as_ref().unwrap();
    assert_eq!(wait.ended, Ended::Passed);
    // Two runs not yet settled, then two good ones in a row.
    assert_eq!(wait.runs, 4);
    // Pauses of 2 s doubling: 2 + 4 + 8 s.
    assert_eq!(w.sleeps, secs(&[2, 4, 8]));
    assert_eq!(wait.duration_ms, 14_000);
    assert_eq!(wait.limit_ms, 300_000);
    assert_eq!(w.report.verdict, Verdict::Healthy);
    assert_eq!(find(&w.report, "app/stack/status").status, Status::Pass);
    assert_eq!(w.report.status(false), ExitStatus::Success);
    assert_eq!(
        w.lines,
        [
            "health run 1: incomplete (1 unknown): app/stack/status; next in 2 s",
            "health run 2: incomplete (1 unknown): app/stack/status; next in 4 s",
            "health run 3: healthy; next in 8 s",
            "health run 4: healthy",
        ]
    );
    let text = w.report.to_string();
    assert!(
        text.starts_with(
            "waited 14 s (4 runs): every check passed 2 runs in a row\nhealthy in dev: 22 passed"
        ),
        "{text}"
    );
    let json = serde_json::to_value(&w.report).unwrap();
    assert_eq!(json["wait"]["ended"], "passed");
    assert_eq!(json["wait"]["runs"], 4);
}

#[test]
fn under_wait_a_rolled_back_deploy_fails_and_ends_the_wait_at_once() {
    let w = wait_with(
        |_, scope| {
            (
                stack_in(scope, "UPDATE_ROLLBACK_COMPLETE"),
                FakeAws::healthy(),
            )
        },
        wait_settings(Duration::from_secs(300)),
    );
    let c = find(&w.report, "app/stack/status");
    // Without --wait it warns (a_rolled_back_deploy_warns_...); here it fails.
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.reason, "the last deploy was rolled back");
    let wait = w.report.wait.as_ref().unwrap();
    assert_eq!(wait.ended, Ended::Settled);
    assert_eq!(wait.runs, 1);
    assert!(w.sleeps.is_empty());
    assert_eq!(
        wait.reason,
        "stopped waiting: app is UPDATE_ROLLBACK_COMPLETE: only a new deploy changes that"
    );
    assert_eq!(w.report.verdict, Verdict::Unhealthy);
    assert_eq!(w.report.status(false), ExitStatus::Failure);
}

#[test]
fn under_wait_a_failed_function_keeps_failing_until_the_time_is_up() {
    let w = wait_with(
        |_, scope| {
            let mut aws = FakeAws::healthy();
            aws.functions.insert(
                "fn-greeter".into(),
                Ok(FunctionState {
                    state: Some("Failed".into()),
                    state_reason: Some("InvalidRuntime: provided.al2 is deprecated".into()),
                    last_update_status: Some("Successful".into()),
                    code_sha256: crate::aws::functions::lambda_sha256(SHA).unwrap(),
                    ..FunctionState::default()
                }),
            );
            (stack_in(scope, "UPDATE_COMPLETE"), aws)
        },
        wait_settings(Duration::from_secs(60)),
    );
    let c = find(&w.report, "app/function/greeter/state");
    assert_eq!(c.status, Status::Fail);
    assert!(c.reason.contains("InvalidRuntime"), "{c:?}");
    let wait = w.report.wait.as_ref().unwrap();
    assert_eq!(wait.ended, Ended::TimeUp);
    // Runs at 0, 2, 6, 14 and 30 s; the next pause (30 s) would end at the
    // deadline, so no run starts past it.
    assert_eq!(w.sleeps, secs(&[2, 4, 8, 16]));
    assert_eq!(wait.runs, 5);
    assert!(wait.duration_ms <= wait.limit_ms);
    assert_eq!(
        wait.reason,
        "the time is up (--wait 60 s); this is the last run"
    );
    assert_eq!(w.report.status(false), ExitStatus::Failure);
}

#[test]
fn under_wait_pauses_double_up_to_30_s_and_never_pass_the_deadline() {
    let w = wait_with(
        |_, scope| (stack_in(scope, "UPDATE_IN_PROGRESS"), FakeAws::healthy()),
        wait_settings(Duration::from_secs(300)),
    );
    // 2, 4, 8, 16, then 30 s at most; the runs start at 0, 2, 6, 14, 30,
    // 60, ..., 240 and 270 s: a 30 s pause from there would reach 300 s.
    assert_eq!(
        w.sleeps,
        secs(&[2, 4, 8, 16, 30, 30, 30, 30, 30, 30, 30, 30])
    );
    let wait = w.report.wait.as_ref().unwrap();
    assert_eq!((wait.ended.clone(), wait.runs), (Ended::TimeUp, 13));
    assert_eq!(wait.duration_ms, 270_000);
    // Each run gets the per-run timeout, or the time left when less.
    assert_eq!(w.timeouts[0], Duration::from_secs(30));
    assert_eq!(w.report.verdict, Verdict::Incomplete);
    assert_eq!(w.report.status(false), ExitStatus::Incomplete);
}

#[test]
fn under_wait_throttling_then_recovery_passes_and_access_denied_stays_unknown() {
    let throttled = || {
        Err(ReadError::new(
            ErrorKind::Throttled,
            "reading function fn-greeter: TooManyRequestsException: Rate exceeded",
        ))
    };
    let w = wait_with(
        |n, scope| {
            let mut aws = FakeAws::healthy();
            if n == 1 {
                aws.functions.insert("fn-greeter".into(), throttled());
            }
            (stack_in(scope, "UPDATE_COMPLETE"), aws)
        },
        wait_settings(Duration::from_secs(300)),
    );
    let wait = w.report.wait.as_ref().unwrap();
    assert_eq!((wait.ended.clone(), wait.runs), (Ended::Passed, 3));
    assert!(
        w.lines[0].starts_with("health run 1: incomplete (4 unknown): app/function/greeter/code"),
        "{:?}",
        w.lines
    );

    let w = wait_with(
        |_, scope| {
            let mut aws = FakeAws::healthy();
            aws.tables.insert(
                "t-sessions".into(),
                Err(ReadError::new(
                    ErrorKind::Denied,
                    "reading table t-sessions: AccessDeniedException: not authorized to perform dynamodb:DescribeTable",
                )),
            );
            (stack_in(scope, "UPDATE_COMPLETE"), aws)
        },
        wait_settings(Duration::from_secs(20)),
    );
    let c = find(&w.report, "app/table/sessions/status");
    assert_eq!(c.status, Status::Unknown);
    assert!(c.reason.starts_with("access denied: "), "{c:?}");
    assert_eq!(w.report.wait.as_ref().unwrap().ended, Ended::TimeUp);
    assert_eq!(w.report.status(false), ExitStatus::Incomplete);
}

#[test]
fn under_wait_a_run_gets_no_more_than_the_time_left_and_what_hangs_is_unknown() {
    let w = wait_with(
        |_, scope| {
            let mut aws = FakeAws::healthy();
            aws.hang.insert("b-files".into());
            (stack_in(scope, "UPDATE_COMPLETE"), aws)
        },
        wait_settings(Duration::from_millis(300)),
    );
    // The per-run timeout (30 s) cut to the wait's 0.3 s.
    assert_eq!(w.timeouts, [Duration::from_millis(300)]);
    for id in ["app/bucket/files/exists", "app/bucket/files/public_access"] {
        let c = find(&w.report, id);
        assert_eq!(c.status, Status::Unknown, "{c:?}");
        assert_eq!(c.reason, "not finished within the timeout (0.30 s)");
    }
    let wait = w.report.wait.as_ref().unwrap();
    assert_eq!((wait.ended.clone(), wait.runs), (Ended::TimeUp, 1));
    assert_eq!(w.report.status(false), ExitStatus::Incomplete);
}

#[test]
fn under_wait_a_warning_is_good_unless_fail_on_warn() {
    let dead_letters = |_: u32, scope: &Scope| {
        let mut aws = FakeAws::healthy();
        aws.queues.insert("https://sqs/q-jobs-dlq".into(), Ok(2));
        (stack_in(scope, "UPDATE_COMPLETE"), aws)
    };
    let w = wait_with(dead_letters, wait_settings(Duration::from_secs(60)));
    let wait = w.report.wait.as_ref().unwrap();
    assert_eq!((wait.ended.clone(), wait.runs), (Ended::Passed, 2));
    assert_eq!(w.report.verdict, Verdict::Degraded);
    let w = wait_with(
        dead_letters,
        WaitSettings {
            fail_on_warn: true,
            ..wait_settings(Duration::from_secs(60))
        },
    );
    assert_eq!(w.report.wait.as_ref().unwrap().ended, Ended::TimeUp);
    assert_eq!(w.report.status(true), ExitStatus::Failure);
}

// --- `--junit FILE`.

/// Every event of `xml`, parsed by a real XML reader (which fails on a
/// document that is not well-formed): start tags with their attributes,
/// and text.
fn parse_xml(xml: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut out = Vec::new();
    // Text comes in pieces: runs of characters and each reference.
    let mut text = String::new();
    loop {
        let event = reader.read_event().unwrap_or_else(|e| panic!("{e}: {xml}"));
        match &event {
            Event::Text(t) => {
                text.push_str(&t.xml10_content().unwrap());
                continue;
            }
            Event::GeneralRef(r) => {
                match r.resolve_char_ref().unwrap() {
                    Some(c) => text.push(c),
                    None => {
                        let name = r.decode().unwrap();
                        let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                            .unwrap_or_else(|| panic!("unknown entity &{name}; in {xml}"));
                        text.push_str(resolved);
                    }
                }
                continue;
            }
            _ => {}
        }
        if !text.trim().is_empty() {
            out.push(format!("text {text:?}"));
        }
        text.clear();
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let mut tag = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                for a in e.attributes() {
                    let a = a.unwrap();
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap();
                    tag.push_str(&format!(
                        " {}={value:?}",
                        String::from_utf8(a.key.as_ref().to_vec()).unwrap()
                    ));
                }
                out.push(tag);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn mixed_report() -> Report {
    use Status::*;
    let mut checks = checks(&[
        ("app/bucket/files/exists", Pass),
        ("app/queue/jobs/dead_letter", Warn),
        ("app/stack/status", Fail),
        ("app/table/sessions/ttl", Skip),
        ("other/stack/status", Unknown),
    ]);
    for c in &mut checks {
        let mut parts = c.id.split('/');
        c.stack = parts.next().unwrap().into();
        c.kind = parts.next().unwrap().into();
        let rest: Vec<&str> = parts.collect();
        if rest.len() == 2 {
            c.resource = Some(rest[0].into());
        }
        c.check = rest.last().unwrap().to_string();
        c.duration_ms = 1250;
    }
    checks[2].reason = "UPDATE_FAILED: <Role> & \"quotes\" 'too'\u{1}\ttab".into();
    checks[2].observed = Some("UPDATE_FAILED".into());
    checks[2].hint = Some("stackctl deploy --env dev app".into());
    Report::new("dev", checks, Duration::from_millis(2500))
}

#[test]
fn junit_has_a_testsuite_per_stack_and_a_testcase_per_check() {
    let xml = super::junit::render(&mixed_report());
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    assert_eq!(
        parse_xml(&xml),
        [
            r#"testsuites name="stackctl health dev" tests="5" failures="1" errors="1" skipped="1" time="2.500""#,
            r#"testsuite name="app" tests="4" failures="1" errors="0" skipped="1" time="5.000""#,
            r#"testcase name="app/bucket/files/exists" classname="app.bucket.files" time="1.250""#,
            r#"testcase name="app/queue/jobs/dead_letter" classname="app.queue.jobs" time="1.250""#,
            r#"system-out"#,
            r#"text "WARN: app/queue/jobs/dead_letter is warn""#,
            r#"testcase name="app/stack/status" classname="app.stack" time="1.250""#,
            "failure message=\"UPDATE_FAILED: <Role> & \\\"quotes\\\" 'too'\u{FFFD}\\ttab\" type=\"fail\"",
            "text \"UPDATE_FAILED: <Role> & \\\"quotes\\\" 'too'\u{FFFD}\\ttab\\nobserved: UPDATE_FAILED\\nhint: stackctl deploy --env dev app\"",
            r#"testcase name="app/table/sessions/ttl" classname="app.table.sessions" time="1.250""#,
            r#"skipped message="app/table/sessions/ttl is skip""#,
            r#"testsuite name="other" tests="1" failures="0" errors="1" skipped="0" time="1.250""#,
            r#"testcase name="other/stack/status" classname="other.stack" time="1.250""#,
            r#"error message="other/stack/status is unknown" type="unknown""#,
            r#"text "other/stack/status is unknown""#,
        ]
    );
}

#[test]
fn junit_escapes_every_special_and_forbidden_character() {
    use super::junit::escape;
    assert_eq!(
        escape("a<b>&\"c\"'d'\n\r\t\u{0}\u{1b}\u{FFFE}é✓"),
        "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;&#10;&#13;&#9;\u{FFFD}\u{FFFD}\u{FFFD}é✓"
    );
    // In an attribute the line break survives (not folded into a space).
    let xml = format!("<a b=\"{}\"/>", escape("1\n2"));
    assert_eq!(parse_xml(&xml), ["a b=\"1\\n2\""]);
}

#[test]
fn junit_is_written_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("health.xml");
    std::fs::write(&path, "old").unwrap();
    super::junit::write(&path, &mixed_report()).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written, super::junit::render(&mixed_report()));
    // Nothing else is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["health.xml"]);
    // Into a folder that does not exist: an error naming the file.
    let missing = dir.path().join("no/such/health.xml");
    let err = super::junit::write(&missing, &mixed_report()).unwrap_err();
    assert!(
        format!("{err:#}")
            .starts_with(&format!("writing the JUnit report {}: ", missing.display())),
        "{err:#}"
    );
}

/// A stack of the edge kinds (issue 12): a load balancer with a VPC link,
/// a REST API on a function, a CDN in front of it.
const EDGE: &str = "resources:
  net:
    type: network
  lb:
    type: load_balancer
    network: net
    vpc_link: true
  fn:
    type: function
    crate: fn
  api:
    type: rest_api
    authorization: {type: iam}
    routes:
      GET /items: {function: fn}
      GET /items/{id}: {function: fn}
  cdn:
    type: cdn
    origins: [api]
";

/// Runs health on stack `edge` (above) in `dev`, deployed as rendered,
/// each resource's physical id `p-LOGICAL` (lowercase).
fn check_edge(aws: FakeAws) -> Report {
    check_one(aws, ("he", "edge", EDGE), "lambdas/fn", &[])
}

/// Runs health on the one stack `(project, stack, file)` in `dev`, with a
/// crate at `crate_dir`, deployed as rendered with `parameters` on top,
/// each resource's physical id `p-LOGICAL` (lowercase).
fn check_one(
    aws: FakeAws,
    (project, name, file): (&str, &str, &str),
    crate_dir: &str,
    parameters: &[(&str, &str)],
) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("stacks")).unwrap();
    std::fs::create_dir_all(root.join(crate_dir)).unwrap();
    std::fs::write(root.join(crate_dir).join("Cargo.toml"), "").unwrap();
    std::fs::write(
        root.join("stackctl.yaml"),
        format!("project: {project}\nstacks:\n  {name}: {{}}\nenvironments:\n  dev:\n    region: us-east-1\n"),
    )
    .unwrap();
    std::fs::write(root.join(format!("stacks/{name}.yaml")), file).unwrap();
    let scope = Scope::load(root, "dev", &[]).unwrap();
    let r = scope.rendered(name);
    let state = crate::deploy::desired::state(&r.template, &r.parameters, &r.tags).unwrap();
    let mut stack = FakeStack::new(&r.template);
    stack.parameters = state.parameters;
    for (k, v) in parameters {
        stack.parameters.insert(k.to_string(), v.to_string());
    }
    stack.tags = r.tags.clone();
    for i in &r.inventory {
        for x in &i.resources {
            let physical = format!("p-{}", x.logical_id.to_lowercase());
            stack = stack.resource(&x.logical_id, &x.resource_type, &physical);
        }
    }
    let cfn = FakeCloudFormation::default().with(&format!("{project}-{name}-dev"), stack);
    let project = &scope.project;
    let input = Input {
        env: "dev",
        region: "us-east-1",
        emulated: false,
        rendered: &scope.rendered,
        stacks: vec![StackScope {
            rendered: r,
            resources: &project.stacks[name].resources,
            code: Code::default(),
            bindings: BTreeMap::new(),
            migrations: crate::migrations::load(project, &project.stacks[name]).unwrap(),
        }],
    };
    block(run(&cfn, &aws, &input, &settings()))
}

#[test]
fn load_balancers_rest_apis_and_distributions_are_read_and_judged() {
    use crate::aws::resources::{
        DistributionState, LoadBalancerState, RestApiState, TargetGroupHealth, TargetHealth,
    };
    let mut aws = FakeAws::default();
    aws.load_balancers.insert(
        "p-lb".into(),
        Ok(LoadBalancerState {
            name: "he-edge-lb-dev".into(),
            state: "active".into(),
            reason: None,
        }),
    );
    let group = |name: &str, state: &str| TargetGroupHealth {
        name: name.into(),
        targets: vec![TargetHealth {
            id: "10.0.8.4".into(),
            state: state.into(),
            reason: (state != "healthy").then(|| "Target.Timeout: Request timed out".into()),
        }],
    };
    aws.target_groups
        .insert("p-lb".into(), Ok(vec![group("worlds", "unhealthy")]));
    // The NLB's target (the ALB itself) is read too.
    aws.target_groups
        .insert("p-lbnlb".into(), Ok(vec![group("lb-alb", "healthy")]));
    aws.rest_apis.insert(
        "p-api".into(),
        Ok(RestApiState {
            name: "he-edge-dev-api".into(),
            stages: vec!["dev".into()],
            methods: [(
                "GET /items".to_string(),
                Some("AWS_PROXY arn:aws:apigateway:us-east-1:lambda:path/x".to_string()),
            )]
            .into(),
        }),
    );
    aws.policies.insert(
        "p-fn".into(),
        Ok(Some(
            serde_json::json!({"Statement": [{"Effect": "Allow",
                "Principal": {"Service": "apigateway.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:execute-api:us-east-1:1:p-api/*/GET/items"}}}]})
            .to_string(),
        )),
    );
    aws.distributions.insert(
        "p-cdn".into(),
        Ok(DistributionState {
            status: "InProgress".into(),
            enabled: true,
            domain: "d1.cloudfront.net".into(),
        }),
    );
    aws.metrics
        .insert(("5XXError".into(), "he-edge-dev-api".into()), vec![12.0]);
    aws.metrics
        .insert(("Count".into(), "he-edge-dev-api".into()), vec![100.0]);
    let report = check_edge(aws);

    assert_eq!(
        status_of(&report, "edge/load_balancer/lb/state").0,
        Status::Pass
    );
    let (s, why) = status_of(&report, "edge/load_balancer/lb/targets");
    assert_eq!(s, Status::Fail, "{why}");
    assert!(
        why.contains("worlds 10.0.8.4 unhealthy (Target.Timeout"),
        "{why}"
    );
    assert_eq!(status_of(&report, "edge/rest_api/api/api").0, Status::Pass);
    assert_eq!(
        status_of(&report, "edge/rest_api/api/stage").0,
        Status::Pass
    );
    let (s, why) = status_of(&report, "edge/rest_api/api/routes");
    assert_eq!(s, Status::Fail);
    assert!(why.contains("missing: GET /items/{id}"), "{why}");
    assert_eq!(
        status_of(&report, "edge/rest_api/api/permission").0,
        Status::Pass
    );
    let (s, why) = status_of(&report, "edge/cdn/cdn/deployed");
    assert_eq!(s, Status::Warn, "{why}");
    // 12 of 100 requests answered 5xx, by the API's name.
    let (s, why) = status_of(&report, "edge/rest_api/api/5xx");
    assert_eq!(s, Status::Fail, "{why}");
    assert!(why.contains("12"), "{why}");
    // The fake's physical ids are no ARNs: no dimension to ask by.
    let (s, why) = status_of(&report, "edge/load_balancer/lb/5xx");
    assert_eq!(s, Status::Skip, "{why}");
}

// --- `service`: ECS through DescribeServices, scripted.

/// Runs health on stack `svc` (one service) in `dev`, deployed as rendered
/// with its image parameter `image`.
fn check_service(aws: FakeAws, image: &str) -> Report {
    check_one(
        aws,
        (
            "hs",
            "svc",
            "resources:\n  main:\n    type: network\n  worker:\n    type: service\n    network: main\n",
        ),
        "services/worker",
        &[("WorkerImage", image)],
    )
}

/// The worker's service as ECS describes it: `running` of 2 tasks, its
/// PRIMARY deployment on `task_definition` in rollout state `rollout`.
fn worker_service(running: i32, task_definition: &str, rollout: &str) -> FakeAws {
    use crate::aws::resources::{EcsDeployment, EcsService};
    let mut aws = FakeAws::default();
    aws.ecs_services.insert(
        "p-servicecluster/p-worker".into(),
        Ok(EcsService {
            status: "ACTIVE".into(),
            desired: 2,
            running,
            pending: 0,
            deployments: vec![EcsDeployment {
                status: "PRIMARY".into(),
                task_definition: task_definition.into(),
                rollout_state: Some(rollout.into()),
                rollout_reason: None,
            }],
        }),
    );
    aws
}

const IMAGE: &str = "1.dkr.ecr.us-east-1.amazonaws.com/hs-svc-worker-dev@sha256:00";

#[test]
fn a_service_running_the_deployed_task_definition_passes_and_a_rollback_fails() {
    let report = check_service(
        worker_service(2, "p-workertaskdefinition", "COMPLETED"),
        IMAGE,
    );
    assert_eq!(
        status_of(&report, "svc/service/worker/running").0,
        Status::Pass
    );
    assert_eq!(
        status_of(&report, "svc/service/worker/deployment").0,
        Status::Pass
    );
    // The circuit breaker rolled back to the previous revision: it runs
    // and is COMPLETED, which is still a failure.
    let report = check_service(
        worker_service(
            2,
            "arn:aws:ecs:us-east-1:1:task-definition/hs-svc-worker-dev:3",
            "COMPLETED",
        ),
        IMAGE,
    );
    let (s, why) = status_of(&report, "svc/service/worker/deployment");
    assert_eq!(s, Status::Fail, "{why}");
    assert!(why.contains("rolled it back"), "{why}");
    let report = check_service(
        worker_service(1, "p-workertaskdefinition", "IN_PROGRESS"),
        IMAGE,
    );
    assert_eq!(
        status_of(&report, "svc/service/worker/running").0,
        Status::Fail
    );
}

#[test]
fn a_service_whose_image_is_not_pushed_yet_is_skipped_not_passed() {
    let report = check_service(FakeAws::default(), "");
    let (s, why) = status_of(&report, "svc/service/worker/running");
    assert_eq!(s, Status::Skip);
    assert!(why.contains("no image pushed yet"), "{why}");
}

/// A stack of EventBridge resources: a bus of the stack with a rule
/// delivering to a queue and a function (with a dead-letter queue), and a
/// rule on the default bus, disabled in `dev`.
const EVENTS_STACK: &str = "\
resources:
  orders:
    type: event_bus
  inbox:
    type: queue
  failed:
    type: queue
  handler:
    type: function
    crate: hello
  big_orders:
    type: event_rule
    bus: orders
    pattern: {source: [shop.orders]}
    targets: [{queue: inbox}, {function: handler}]
    dead_letter: failed
  uploads:
    type: event_rule
    enabled: {default: true, dev: false}
    pattern: {source: [aws.s3]}
    targets: [{function: handler}]
";

/// The target ARNs of the deployed rules.
const INBOX_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:q-inbox";
const HANDLER_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:fn-handler";
const FAILED_URL: &str = "https://sqs/123456789012/q-failed";

impl FakeAws {
    /// The EventBridge resources of [`EVENTS_STACK`] as deployed.
    fn events_healthy() -> Self {
        let mut aws = Self::default();
        aws.event_buses.insert(
            "hp-app-orders-dev".into(),
            Ok("arn:aws:events:us-east-1:123456789012:event-bus/hp-app-orders-dev".into()),
        );
        aws.bus_rules.insert(
            "hp-app-orders-dev/hp-app-big-orders-dev".into(),
            Ok(RuleState {
                state: "ENABLED".into(),
                targets: vec![INBOX_ARN.into(), HANDLER_ARN.into()],
            }),
        );
        aws.bus_rules.insert(
            "default/hp-app-uploads-dev".into(),
            Ok(RuleState {
                state: "DISABLED".into(),
                targets: vec![HANDLER_ARN.into()],
            }),
        );
        aws.queues.insert(FAILED_URL.into(), Ok(0));
        aws
    }
}

/// Runs health on [`EVENTS_STACK`] in `dev` against `aws`.
fn events_check(aws: FakeAws) -> Report {
    let dir = project();
    std::fs::write(dir.path().join("stacks/app.yaml"), EVENTS_STACK).unwrap();
    let scope = Scope::load(dir.path(), "dev", &[]).unwrap();
    let r = scope.rendered("app");
    let mut params = r.parameters.clone();
    params.extend(
        [
            ("HandlerCodeKey".to_string(), CODE_KEY.to_string()),
            ("ArtefactBucket".to_string(), "hp-artefacts".to_string()),
        ]
        .into_iter()
        .collect::<BTreeMap<_, _>>(),
    );
    let state = crate::deploy::desired::state(&r.template, &params, &r.tags).unwrap();
    let mut stack = FakeStack::new(&r.template);
    stack.parameters = state.parameters;
    stack.tags = r.tags.clone();
    let physical = |logical: &str| match logical {
        "Handler" => "fn-handler".to_string(),
        "Inbox" => "https://sqs/123456789012/q-inbox".to_string(),
        "Failed" => FAILED_URL.to_string(),
        // As AWS lists a rule on a bus of the stack.
        "BigOrders" => "hp-app-orders-dev|hp-app-big-orders-dev".to_string(),
        other => format!("p-{other}"),
    };
    for i in &r.inventory {
        for x in &i.resources {
            stack = stack.resource(&x.logical_id, &x.resource_type, &physical(&x.logical_id));
        }
    }
    let cfn = FakeCloudFormation::default().with("hp-app-dev", stack);
    let input = Input {
        env: "dev",
        region: &scope.environment().region,
        emulated: false,
        rendered: &scope.rendered,
        stacks: vec![StackScope {
            rendered: scope.rendered("app"),
            resources: &scope.project.stacks["app"].resources,
            code: Code {
                keys: [("HandlerCodeKey".to_string(), CODE_KEY.to_string())].into(),
                stale: Vec::new(),
            },
            bindings: BTreeMap::new(),
            migrations: Vec::new(),
        }],
    };
    block(run(&cfn, &aws, &input, &settings()))
}

/// The (id, status) of the EventBridge checks of a report.
fn event_checks(report: &Report) -> Vec<(&str, Status)> {
    report
        .checks
        .iter()
        .filter(|c| c.id.contains("/event_"))
        .map(|c| (c.id.as_str(), c.status))
        .collect()
}

#[test]
fn deployed_event_buses_and_rules_as_declared_pass() {
    let report = events_check(FakeAws::events_healthy());
    assert_eq!(
        event_checks(&report),
        [
            ("app/event_bus/orders/exists", Status::Pass),
            ("app/event_rule/big_orders/dead_letter", Status::Pass),
            ("app/event_rule/big_orders/enabled", Status::Pass),
            ("app/event_rule/big_orders/targets", Status::Pass),
            // Declared disabled in dev, and disabled.
            ("app/event_rule/uploads/enabled", Status::Pass),
            ("app/event_rule/uploads/targets", Status::Pass),
        ],
        "{report:#?}"
    );
    let enabled = find(&report, "app/event_rule/uploads/enabled");
    assert_eq!(enabled.reason, "DISABLED, as declared");
}

#[test]
fn a_disabled_rule_a_lost_target_dead_letters_and_a_missing_bus_are_reported() {
    let mut aws = FakeAws::events_healthy();
    aws.event_buses.clear();
    aws.bus_rules.insert(
        "hp-app-orders-dev/hp-app-big-orders-dev".into(),
        Ok(RuleState {
            state: "DISABLED".into(),
            targets: vec![INBOX_ARN.into()],
        }),
    );
    aws.bus_rules.insert(
        "default/hp-app-uploads-dev".into(),
        Ok(RuleState {
            state: "ENABLED".into(),
            targets: vec![
                HANDLER_ARN.into(),
                "arn:aws:sqs:us-east-1:123456789012:added-by-hand".into(),
            ],
        }),
    );
    aws.queues.insert(FAILED_URL.into(), Ok(3));
    let report = events_check(aws);
    assert_eq!(
        event_checks(&report),
        [
            ("app/event_bus/orders/exists", Status::Fail),
            ("app/event_rule/big_orders/dead_letter", Status::Warn),
            ("app/event_rule/big_orders/enabled", Status::Fail),
            ("app/event_rule/big_orders/targets", Status::Fail),
            ("app/event_rule/uploads/enabled", Status::Warn),
            ("app/event_rule/uploads/targets", Status::Warn),
        ],
        "{report:#?}"
    );
    let dlq = find(&report, "app/event_rule/big_orders/dead_letter");
    assert_eq!(dlq.reason, "3 undelivered events in the dead-letter queue");
    assert!(
        dlq.hint
            .as_deref()
            .unwrap()
            .contains(&format!("aws sqs receive-message --queue-url {FAILED_URL}")),
        "{dlq:?}"
    );
    let targets = find(&report, "app/event_rule/big_orders/targets");
    assert!(
        targets.reason.contains("function:fn-handler") && !targets.reason.contains("q-inbox"),
        "{targets:?}"
    );
    let enabled = find(&report, "app/event_rule/big_orders/enabled");
    assert_eq!(enabled.observed.as_deref(), Some("DISABLED"));
    assert_eq!(enabled.expected.as_deref(), Some("ENABLED"));
    assert_eq!(report.verdict, Verdict::Unhealthy);
}

#[test]
fn event_checks_read_only_their_rules_buses_and_dead_letter_queues() {
    let dir = project();
    std::fs::write(dir.path().join("stacks/app.yaml"), EVENTS_STACK).unwrap();
    let scope = Scope::load(dir.path(), "dev", &[]).unwrap();
    let r = scope.rendered("app");
    let resources = &scope.project.stacks["app"].resources;
    let access = |key: &str| {
        let template = crate::diff::parse_template(&r.template).unwrap();
        let a = crate::health::access::AccessTarget {
            key,
            inventory: r
                .inventory
                .iter()
                .find(|i| i.key == key)
                .unwrap_or_else(|| panic!("no inventory of {key}")),
            template: &template,
            stack_name: "hp-app-dev",
            region: "us-east-1",
        };
        resources[key]
            .health_access(&a)
            .into_iter()
            .map(
                |x| serde_json::json!({"sid": x.sid, "actions": x.actions, "resource": x.resource}),
            )
            .collect::<Vec<_>>()
    };
    let rule = access("big_orders");
    let text = serde_json::to_string(&rule).unwrap();
    assert!(
        text.contains("arn:aws:events:us-east-1:")
            && text.contains(":rule/hp-app-orders-dev/hp-app-big-orders-dev")
            && text.contains("events:DescribeRule")
            && text.contains("events:ListTargetsByRule"),
        "{text}"
    );
    assert!(
        text.contains("sqs:GetQueueAttributes") && text.contains(":hp-app-failed-dev"),
        "{text}"
    );
    assert!(!text.contains("\"*\""), "{text}");
    let uploads = serde_json::to_string(&access("uploads")).unwrap();
    assert!(uploads.contains(":rule/hp-app-uploads-dev\""), "{uploads}");
    assert!(!uploads.contains("sqs:"), "{uploads}");
    let bus = serde_json::to_string(&access("orders")).unwrap();
    assert!(
        bus.contains("events:DescribeEventBus") && bus.contains(":event-bus/hp-app-orders-dev"),
        "{bus}"
    );
}

/// A stack with a service role and an agent memory.
const IAM_STACK: &str = "\
resources:
  media:
    type: bucket
  mediaconvert_role:
    type: role
    service: mediaconvert.amazonaws.com
    grants:
      media: [read]
  clip_memory:
    type: agent_memory
    name: clipAgentMemory
";

/// Runs health on stack `iam` (above) in `env` (`local` is an emulator's),
/// deployed as rendered, each resource's physical id `p-<logical id>`.
fn check_iam(env: &str, aws: FakeAws) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("stacks")).unwrap();
    std::fs::write(
        root.join("stackctl.yaml"),
        "project: hi\nstacks:\n  iam: {}\nenvironments:\n  dev:\n    region: us-east-1\n  local:\n    region: us-east-1\n    endpoint_url: http://127.0.0.1:5000\n    emulator: moto\n",
    )
    .unwrap();
    std::fs::write(root.join("stacks/iam.yaml"), IAM_STACK).unwrap();
    let scope = Scope::load(root, env, &[]).unwrap();
    let r = scope.rendered("iam");
    let state = crate::deploy::desired::state(&r.template, &r.parameters, &r.tags).unwrap();
    let mut stack = FakeStack::new(&r.template);
    stack.parameters = state.parameters;
    stack.tags = r.tags.clone();
    for i in &r.inventory {
        for x in &i.resources {
            let physical = format!("p-{}", x.logical_id.to_lowercase());
            stack = stack.resource(&x.logical_id, &x.resource_type, &physical);
        }
    }
    let cfn = FakeCloudFormation::default().with(&format!("hi-iam-{env}"), stack);
    let project = &scope.project;
    let input = Input {
        env,
        region: "us-east-1",
        emulated: env == "local",
        rendered: &scope.rendered,
        stacks: vec![StackScope {
            rendered: r,
            resources: &project.stacks["iam"].resources,
            code: Code::default(),
            bindings: BTreeMap::new(),
            migrations: crate::migrations::load(project, &project.stacks["iam"]).unwrap(),
        }],
    };
    block(run(&cfn, &aws, &input, &settings()))
}

/// A trust document letting `service` assume a role.
fn trust_of(service: &str) -> serde_json::Value {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": service}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]})
}

#[test]
fn a_service_role_exists_while_its_trust_names_its_service() {
    let role = "iam/role/mediaconvert_role/exists";
    let mut aws = FakeAws::default();
    aws.trusts.insert(
        "p-mediaconvertrole".into(),
        Ok(Some(trust_of("mediaconvert.amazonaws.com"))),
    );
    let (status, reason) = status_of(&check_iam("dev", aws), role);
    assert_eq!(status, Status::Pass, "{reason}");
    assert!(
        reason.contains("trusts mediaconvert.amazonaws.com"),
        "{reason}"
    );

    // Its trust changed by hand to another service.
    let mut aws = FakeAws::default();
    aws.trusts.insert(
        "p-mediaconvertrole".into(),
        Ok(Some(trust_of("lambda.amazonaws.com"))),
    );
    let report = check_iam("dev", aws);
    let c = find(&report, role);
    assert_eq!(c.status, Status::Fail, "{}", c.reason);
    assert!(c
        .hint
        .as_deref()
        .unwrap()
        .contains("update-assume-role-policy"));

    // Deleted outside CloudFormation.
    let (status, _) = status_of(&check_iam("dev", FakeAws::default()), role);
    assert_eq!(status, Status::Fail);
}

#[test]
fn an_agent_memory_is_judged_by_its_status_and_skipped_on_an_emulator() {
    let memory = "iam/agent_memory/clip_memory/status";
    let state = |status: &str, reason: Option<&str>| {
        let mut aws = FakeAws::default();
        aws.memories.insert(
            "p-clipmemory".into(),
            Ok(crate::aws::resources::MemoryState {
                status: status.into(),
                failure_reason: reason.map(str::to_string),
            }),
        );
        status_of(&check_iam("dev", aws), memory)
    };
    assert_eq!(state("ACTIVE", None).0, Status::Pass);
    assert_eq!(state("CREATING", None).0, Status::Unknown);
    let (status, reason) = state("FAILED", Some("the key is disabled"));
    assert_eq!(status, Status::Fail);
    assert!(reason.contains("the key is disabled"), "{reason}");
    assert_eq!(state("DELETING", None).0, Status::Fail);
    // Access denied is not a verdict.
    let mut aws = FakeAws::default();
    aws.memories.insert(
        "p-clipmemory".into(),
        Err(ReadError::new(
            ErrorKind::Denied,
            "reading AgentCore memory p-clipmemory: AccessDeniedException",
        )),
    );
    assert_eq!(status_of(&check_iam("dev", aws), memory).0, Status::Unknown);
    // Not created on moto: skipped, saying why.
    let (status, reason) = status_of(&check_iam("local", FakeAws::default()), memory);
    assert_eq!(status, Status::Skip, "{reason}");
    assert!(
        reason.contains("cannot create AgentCore memories"),
        "{reason}"
    );
}
