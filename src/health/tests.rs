//! The health checks against scripted AWS, for what the emulator cannot
//! reach (a failed function, a rolled-back stack, throttling, access
//! denied, a run out of time), and the report's order, verdict and exit
//! status.

use super::report::{Counts, Report, Verdict};
use super::run::{bounded, Input, StackScope};
use super::stack::Code;
use super::{run, Check, Settings, Status};
use crate::aws::cloudformation::{CfnError, ErrorKind};
use crate::aws::fake::{FakeCloudFormation, FakeStack};
use crate::aws::resources::{
    AlarmState, BucketEncryption, FunctionState, PublicAccessBlock, ReadError, Resources,
    RoleState, RuleState, TableState, TimeToLive,
};
use crate::exit::ExitStatus;
use crate::scope::Scope;
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
    secrets: BTreeMap<String, Result<String, ReadError>>,
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
        skip_probes: false,
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
            ("app/function/greeter/role", Status::Pass),
            ("app/function/greeter/state", Status::Pass),
            ("app/queue/jobs/dead_letter", Status::Pass),
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
        text.starts_with("healthy in dev: 19 passed (19 checks in "),
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
        text.contains("\nunhealthy in dev: 1 failed, 18 passed"),
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
    assert_eq!(report.checks.len(), 19);
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
    assert_eq!(report.counts.pass, 16, "{report:#?}");
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
    assert_eq!(skipped, 18, "{report:#?}");
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
    assert_eq!(report.checks.len(), 7);
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
    // Read-only, and never on `*`.
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
        assert_ne!(s["Resource"], "*", "{s}");
    }
}
