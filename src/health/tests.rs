//! The health checks against scripted AWS, for what the emulator cannot
//! reach (a failed function, a rolled-back stack, throttling, access
//! denied, a run out of time), and the report's order, verdict and exit
//! status.

use super::report::{Counts, Report, Verdict};
use super::run::{bounded, Input, StackScope};
use super::stack::Code;
use super::wait::{Ended, WaitSettings, Watch};
use super::{run, Check, Settings, Status};
use crate::aws::cloudformation::{CfnError, ErrorKind};
use crate::aws::fake::{FakeCloudFormation, FakeStack};
use crate::aws::resources::{
    FunctionState, PublicAccessBlock, ReadError, Resources, TableState, TimeToLive,
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
        emulated: false,
        rendered: &scope.rendered,
        stacks: vec![StackScope {
            rendered: scope.rendered("app"),
            resources: &scope.project.stacks["app"].resources,
            code: code(),
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
            "waited 14 s (4 runs): every check passed 2 runs in a row\nhealthy in dev: 12 passed"
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
        w.lines[0].starts_with("health run 1: incomplete (3 unknown): app/function/greeter/code"),
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
