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
    DbInstanceState, FunctionState, Maintenance, PostgresState, PublicAccessBlock, ReadError,
    Resources, TableState, TimeToLive,
};
use crate::model::project::Bound;
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
  jobs:
    type: queue
    dead_letter: {max_receives: 3}
  files:
    type: bucket
";

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
#[derive(Default)]
struct FakeAws {
    functions: BTreeMap<String, Result<FunctionState, ReadError>>,
    tables: BTreeMap<String, Result<TableState, ReadError>>,
    ttl: BTreeMap<String, Result<TimeToLive, ReadError>>,
    queues: BTreeMap<String, Result<u64, ReadError>>,
    buckets: BTreeMap<String, Result<(), ReadError>>,
    blocks: BTreeMap<String, Result<Option<PublicAccessBlock>, ReadError>>,
    hang: BTreeSet<String>,
    postgres: BTreeMap<String, Result<PostgresState, ReadError>>,
    redis: BTreeMap<String, Result<String, ReadError>>,
    db_instances: BTreeMap<String, Result<DbInstanceState, ReadError>>,
    db_maintenance: BTreeMap<String, Result<Vec<Maintenance>, ReadError>>,
    groups: BTreeMap<String, Result<String, ReadError>>,
    cache_updates: BTreeMap<String, Result<Vec<Maintenance>, ReadError>>,
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
            ("app/bucket/files/exists", Status::Pass),
            ("app/bucket/files/public_access", Status::Pass),
            ("app/function/greeter/code", Status::Pass),
            ("app/function/greeter/concurrency", Status::Pass),
            ("app/function/greeter/state", Status::Pass),
            ("app/queue/jobs/dead_letter", Status::Pass),
            ("app/stack/resources", Status::Pass),
            ("app/stack/status", Status::Pass),
            ("app/stack/template", Status::Pass),
            ("app/table/sessions/indexes", Status::Pass),
            ("app/table/sessions/status", Status::Pass),
            ("app/table/sessions/ttl", Status::Pass),
        ],
        "{report:#?}"
    );
    assert_eq!(report.verdict, Verdict::Healthy);
    assert_eq!(report.status(true), ExitStatus::Success);
    let text = report.to_string();
    assert!(
        text.starts_with("healthy in dev: 12 passed (12 checks in "),
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
        text.contains("\nunhealthy in dev: 1 failed, 11 passed"),
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
    assert_eq!(report.checks.len(), 12);
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
    for id in ["app/bucket/files/exists", "app/bucket/files/public_access"] {
        let c = find(&report, id);
        assert_eq!(c.status, Status::Unknown, "{c:?}");
        assert_eq!(c.reason, "not finished within the timeout (0.20 s)");
    }
    assert_eq!(report.counts.pass, 10, "{report:#?}");
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
    assert_eq!(skipped, 11, "{report:#?}");
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
    assert_eq!(report.verdict, Verdict::Healthy);
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
    assert_eq!(report.checks.len(), 6);
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
    aws.groups.insert("p-cache".into(), Ok("create-failed".into()));
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
    assert_eq!(status_of(&report, "data/cache/cache/maintenance").0, Status::Pass);
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
    assert_eq!((s, why.as_str()), (Status::Pass, "PostgreSQL 16.4 answers at 10.0.0.5:5432"));
    let (s, why) = status_of(&report, "data/database/db/migrations");
    assert_eq!(s, Status::Warn);
    assert!(why.contains("0001_jobs.sql"), "{why}");
    assert_eq!(status_of(&report, "data/database/db/maintenance").0, Status::Skip);
    let c = find(&report, "data/cache/cache/available");
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(c.hint.as_deref().unwrap().contains("nothing answers at 10.0.0.5:6379"), "{c:?}");
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
        Err(ReadError::new(ErrorKind::Denied, "Redis at 10.0.0.5:6379: WRONGPASS")),
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
