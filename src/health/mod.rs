//! `stackctl health`: read-only checks of a deployed environment, for a
//! runbook or for CI after a deploy.
//!
//! What is checked comes from the environment's deployed stacks (their
//! status, template, parameters and resources, read from CloudFormation)
//! and the rendered stacks' inventory (which declared resource became which
//! CloudFormation resource), never from guessing names. The stack checks
//! live in [`stack`]; every other check belongs to its resource kind's
//! module, through [`crate::kinds::Kind::health`]: a kind names its checks
//! ([`crate::kinds::Kind::HEALTH_CHECKS`]) and returns them as [`Pending`]
//! work, which [`run`] runs concurrently (bounded) under one deadline.
//! Adding checks to a kind is a change to that kind's module only (and,
//! for a new AWS call, one method of [`crate::aws::resources::Resources`]).
//!
//! Every check ends as a [`Check`] with a stable id
//! (`STACK/KIND/RESOURCE/CHECK`, `STACK/stack/CHECK`), a [`Status`], what
//! was observed and expected, a one-line reason and a runbook hint.
//! Failures to ask (denied, throttled, unreachable, out of time) are
//! `unknown`, never `pass`; what the local emulator cannot answer is
//! `skip`, with the reason. [`report`] turns the checks into a verdict, the
//! text and JSON reports and the exit status.

pub mod access;
pub mod iam;
pub mod junit;
pub mod metrics;
pub mod probe;
pub mod report;
pub mod resolve;
pub mod run;
pub mod stack;
pub mod wait;

#[cfg(test)]
mod tests;

use crate::aws::cloudformation::ErrorKind;
use crate::aws::resources::ReadError;
use crate::render::Inventory;
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;

pub use report::{Report, Verdict};
pub use run::{run, Settings};

/// How a check ended, from best to worst for the report's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As expected.
    Pass,
    /// Works, but needs a look (messages in a dead-letter queue, a rolled
    /// back deploy).
    Warn,
    /// Broken, or not as declared.
    Fail,
    /// Could not be checked (denied, throttled, unreachable, out of time).
    Unknown,
    /// Not checked, on purpose: the reason says why (the local emulator
    /// cannot answer, the stack is not deployed).
    Skip,
}

impl Status {
    /// Its name, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
            Status::Skip => "skip",
        }
    }
}

/// What one check found: a [`Check`] without its id and duration, which the
/// runner adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check's name: the last part of its id, one of its kind's
    /// [`crate::kinds::Kind::HEALTH_CHECKS`].
    pub name: &'static str,
    /// How it ended.
    pub status: Status,
    /// What was found.
    pub observed: Option<String>,
    /// What was expected.
    pub expected: Option<String>,
    /// Why this status, in one line.
    pub reason: String,
    /// What to do next.
    pub hint: Option<String>,
}

impl Finding {
    /// A finding of `status`.
    pub fn new(name: &'static str, status: Status, reason: impl Into<String>) -> Self {
        Self {
            name,
            status,
            observed: None,
            expected: None,
            reason: reason.into(),
            hint: None,
        }
    }

    /// A check that passed.
    pub fn pass(name: &'static str, reason: impl Into<String>) -> Self {
        Self::new(name, Status::Pass, reason)
    }

    /// A check that warns.
    pub fn warn(name: &'static str, reason: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, reason)
    }

    /// A check that failed.
    pub fn fail(name: &'static str, reason: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, reason)
    }

    /// A check that could not be made.
    pub fn unknown(name: &'static str, reason: impl Into<String>) -> Self {
        Self::new(name, Status::Unknown, reason)
    }

    /// A check left out, with the reason.
    pub fn skip(name: &'static str, reason: impl Into<String>) -> Self {
        Self::new(name, Status::Skip, reason)
    }

    /// With what was found.
    pub fn observed(mut self, observed: impl Into<String>) -> Self {
        self.observed = Some(observed.into());
        self
    }

    /// With what was expected.
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// With what to do next.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// One check as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable id: `STACK/KIND/RESOURCE/CHECK`, or `STACK/stack/CHECK`.
    pub id: String,
    /// The stack, by its name in the project.
    pub stack: String,
    /// `stack`, or the resource's kind.
    pub kind: String,
    /// The resource key in the stack file (`null` for stack checks).
    pub resource: Option<String>,
    /// The check's name (the id's last part).
    pub check: String,
    /// How it ended.
    pub status: Status,
    /// What was found.
    pub observed: Option<String>,
    /// What was expected.
    pub expected: Option<String>,
    /// Why this status, in one line.
    pub reason: String,
    /// What to do next.
    pub hint: Option<String>,
    /// How long it took, in milliseconds (the read that decided it).
    pub duration_ms: u64,
}

/// Where a check belongs: its stack, kind and resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The stack, by its name in the project.
    pub stack: String,
    /// `stack`, or the resource's kind.
    pub kind: String,
    /// The resource key (`None` for stack checks).
    pub resource: Option<String>,
}

impl Subject {
    /// The stack itself.
    pub fn stack(stack: &str) -> Self {
        Self {
            stack: stack.to_string(),
            kind: "stack".to_string(),
            resource: None,
        }
    }

    /// Resource `key` of `kind` in `stack`.
    pub fn resource(stack: &str, kind: &str, key: &str) -> Self {
        Self {
            stack: stack.to_string(),
            kind: kind.to_string(),
            resource: Some(key.to_string()),
        }
    }

    /// The id of its check `name`.
    pub fn id(&self, name: &str) -> String {
        match &self.resource {
            Some(r) => format!("{}/{}/{r}/{name}", self.stack, self.kind),
            None => format!("{}/{}/{name}", self.stack, self.kind),
        }
    }

    /// Its check, from `finding`, having taken `duration_ms`.
    pub fn check(&self, finding: Finding, duration_ms: u64) -> Check {
        Check {
            id: self.id(finding.name),
            stack: self.stack.clone(),
            kind: self.kind.clone(),
            resource: self.resource.clone(),
            check: finding.name.to_string(),
            status: finding.status,
            observed: finding.observed,
            expected: finding.expected,
            reason: finding.reason,
            hint: finding.hint,
            duration_ms,
        }
    }
}

/// Why a pending check stopped before judging: a read that failed, or
/// nothing to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A read failed: `unknown` (or `fail` when the resource does not
    /// exist).
    Read(ReadError),
    /// Nothing to check here: `skip`, with the reason.
    Skip(String),
}

impl From<ReadError> for Stop {
    fn from(e: ReadError) -> Self {
        Stop::Read(e)
    }
}

/// Checks a kind hands the runner: their names, and the work that decides
/// them (one read, usually, judged several ways). Nothing runs until the
/// runner polls it.
pub struct Pending<'a> {
    /// The checks it decides, by name.
    pub names: Vec<&'static str>,
    /// Their findings, one per name; or why none could be made.
    pub run: LocalBoxFuture<'a, Result<Vec<Finding>, Stop>>,
}

impl<'a> Pending<'a> {
    /// The checks `names`, decided by `run`.
    pub fn new(
        names: &[&'static str],
        run: impl std::future::Future<Output = Result<Vec<Finding>, Stop>> + 'a,
    ) -> Self {
        Self {
            names: names.to_vec(),
            run: Box::pin(run),
        }
    }
}

/// The findings of `names` when `stop` ended their work.
pub fn stopped(names: &[&'static str], stop: &Stop, env: &str) -> Vec<Finding> {
    names
        .iter()
        .map(|name| match stop {
            Stop::Skip(reason) => Finding::skip(name, reason.clone()),
            Stop::Read(e) => read_failed(name, e, env),
        })
        .collect()
}

/// The finding of check `name` whose read failed with `e`: `fail` when the
/// resource does not exist, else `unknown` (never `pass`), with a hint for
/// the kind of failure.
pub fn read_failed(name: &'static str, e: &ReadError, env: &str) -> Finding {
    let first = e.message.lines().next().unwrap_or_default().to_string();
    match e.kind {
        ErrorKind::NotFound => Finding::fail(name, first)
            .observed("does not exist")
            .hint(format!(
                "it was deleted outside CloudFormation, which does not recreate it on the next deploy: recreate it by hand, or remove it from the stack, `stackctl deploy --env {env}`, and add it back"
            )),
        ErrorKind::Denied => Finding::unknown(name, format!("access denied: {first}"))
            .hint("allow the caller this read-only action (the message names it), then run health again"),
        ErrorKind::Throttled => Finding::unknown(name, format!("throttled: {first}"))
            .hint("AWS kept throttling after 5 attempts; run health again in a minute"),
        ErrorKind::Credentials => Finding::unknown(name, first)
            .hint("set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ErrorKind::Unreachable => Finding::unknown(name, first)
            .hint("check the network, the region and --endpoint-url / AWS_ENDPOINT_URL"),
        _ => Finding::unknown(name, first),
    }
}

/// A deployed stack as the resource checks see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployed {
    /// Physical ids by logical id (ListStackResources).
    pub resources: BTreeMap<String, String>,
    /// Parameter values.
    pub parameters: BTreeMap<String, String>,
}

impl Deployed {
    /// The stack `info` with its `resources` (ListStackResources); those
    /// without a logical id are left out, a missing physical id is empty.
    pub fn new(
        info: &crate::aws::cloudformation::StackInfo,
        resources: &[crate::aws::cloudformation::StackResource],
    ) -> Self {
        Deployed {
            resources: resources
                .iter()
                .filter(|r| !r.logical_id.is_empty())
                .map(|r| {
                    (
                        r.logical_id.clone(),
                        r.physical_id.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            parameters: info.parameters.clone(),
        }
    }
}

/// One declared resource of a deployed stack, for its kind's checks.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The environment.
    pub env: &'a str,
    /// Its region (empty when unknown).
    pub region: &'a str,
    /// The stack, by its name in the project.
    pub stack: &'a str,
    /// The resource key.
    pub key: &'a str,
    /// What it became in the rendered template.
    pub inventory: &'a Inventory,
    /// The deployed stack.
    pub deployed: &'a Deployed,
    /// The rendered template (what stackctl deploys), parsed: the declared
    /// settings as they apply in this environment.
    pub template: &'a Json,
    /// Whether the environment runs on an emulator (`emulator: moto`),
    /// which leaves some settings unapplied.
    pub emulated: bool,
    /// The existing server this environment binds it to, if it does
    /// (nothing of it is in the template then).
    pub binding: Option<&'a crate::model::project::Bound>,
    /// The migrations of this stack for it (a `database`), if any.
    pub migrations: Option<&'a crate::migrations::Set>,
}

impl<'a> Target<'a> {
    /// Its own logical id (the resource key in PascalCase).
    pub fn logical_id(&self) -> String {
        crate::names::pascal(self.key)
    }

    /// The physical id of its CloudFormation resource `logical`: a name, a
    /// URL, as CloudFormation lists it. A resource missing from the
    /// deployed stack stops the check (`skip`; the stack's `resources`
    /// check fails on it).
    pub fn physical_id(&self, logical: &str) -> Result<&'a str, Stop> {
        self.deployed
            .resources
            .get(logical)
            .map(String::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                Stop::Skip(format!(
                    "{logical} is not in the deployed stack (see {}/stack/resources)",
                    self.stack
                ))
            })
    }

    /// The rendered `Properties` of its CloudFormation resource `logical`.
    pub fn properties(&self, logical: &str) -> Option<&'a Json> {
        self.template
            .get("Resources")
            .and_then(|r| r.get(logical))
            .and_then(|r| r.get("Properties"))
    }
}

/// The `available` finding of a resource bound to an existing server
/// (`environments.ENV.bind`): `version` when it answered, else why not.
/// A server that does not answer, refuses the credentials or lacks the
/// database fails (it is what the functions reach); a secret that could
/// not be read is `unknown`.
pub fn bound_server(
    what: &str,
    bound: &crate::model::project::Bound,
    answer: Result<String, ReadError>,
    env: &str,
) -> Finding {
    let at = format!("{}:{}", bound.host, bound.port);
    let name = "available";
    match answer {
        Ok(version) => Finding::pass(name, format!("{what} {version} answers at {at}"))
            .observed(format!("{what} {version}"))
            .expected("answers"),
        Err(e) => {
            let first = e.message.lines().next().unwrap_or_default().to_string();
            let start = if bound.local.is_some() {
                format!("`stackctl deploy --env {env}` starts it (the binding says `local:`)")
            } else {
                "check that it runs and that this machine reaches it".to_string()
            };
            match e.kind {
                ErrorKind::Unreachable => Finding::fail(name, first)
                    .observed("does not answer")
                    .expected("answers")
                    .hint(format!("nothing answers at {at}: {start}")),
                ErrorKind::Denied => Finding::fail(name, first)
                    .observed("refuses the credentials")
                    .expected("answers")
                    .hint(format!(
                        "the credentials in secret {} no longer match the server's: put the current ones in the secret",
                        bound.secret.as_deref().unwrap_or("(none named)")
                    )),
                ErrorKind::NotFound => Finding::fail(name, first)
                    .observed("no such database")
                    .expected("answers")
                    .hint(format!("`stackctl deploy --env {env}` makes the database and applies its migrations")),
                _ => read_failed(name, &e, env),
            }
        }
    }
}
