//! The deploy engine: puts one stack where its rendered template says, or
//! takes it away, through the narrow [`CloudFormation`] trait.
//!
//! Per stack: wait out an operation someone else started (never trample
//! it); clear a failed first create (after confirmation); compare template,
//! parameters and tags with what is deployed and stop there when nothing
//! differs (no change set); otherwise create a change set and show it, or
//! preview a direct update; ask; execute; follow it to the end
//! ([`wait::settle`]); report the failing resources and their reasons, not
//! the cancellations. [`schedule`] runs stacks in dependency order,
//! independent ones concurrently.

pub mod observe;
pub mod schedule;
pub mod status;
pub mod wait;

#[cfg(test)]
mod tests;

use crate::aws::cloudformation::{
    rfc3339, CfnError, ChangeSetRequest, CloudFormation, ErrorKind, PlannedChange, StackEvent,
    StackInfo, StackRequest,
};
use crate::diff::{DeployedState, DesiredState, StackDiff};
use observe::{Observer, Operation};
use serde::{Deserialize, Serialize};
use status::{remedy, state, succeeded, State};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use wait::{settle, Backoff, Clock, Settled};

/// How a stack is created and updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Through a change set: reviewed, then executed (the default).
    #[default]
    ChangeSet,
    /// CreateStack / UpdateStack, previewed with stackctl's own diff. For
    /// emulators whose change sets lose outputs (moto).
    Direct,
}

/// Asks the user. The terminal implementation lives in `crate::ui`.
pub trait Confirm: Sync {
    /// Whether the user agrees to `question`.
    fn confirm(&self, question: &str) -> bool;
}

/// Agrees to everything (`--yes`).
pub struct AssumeYes;

impl Confirm for AssumeYes {
    fn confirm(&self, _: &str) -> bool {
        true
    }
}

/// One stack as it should be.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The stack's name in the project.
    pub stack: String,
    /// What to ask CloudFormation for.
    pub request: StackRequest,
    /// The template text (also when the request passes it by URL).
    pub template: String,
    /// How to apply it.
    pub method: Method,
}

/// What happened to a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It was created.
    Created,
    /// It was updated.
    Updated,
    /// It already was as rendered: nothing was sent.
    Unchanged,
    /// It was deleted.
    Deleted,
    /// There was nothing to delete.
    NotDeployed,
    /// The user said no.
    Declined,
    /// The operation failed.
    Failed,
    /// Not attempted because a stack it depends on failed.
    Skipped,
}

impl Outcome {
    /// Whether the command may still succeed.
    pub fn ok(self) -> bool {
        !matches!(self, Outcome::Failed | Outcome::Skipped)
    }
}

/// A resource that failed, with CloudFormation's reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// Logical id.
    pub logical_id: String,
    /// Resource type.
    pub resource_type: String,
    /// `CREATE_FAILED`, ...
    pub status: String,
    /// Why.
    pub reason: String,
}

impl From<&StackEvent> for Failure {
    fn from(e: &StackEvent) -> Self {
        Failure {
            logical_id: e.logical_id.clone(),
            resource_type: e.resource_type.clone(),
            status: e.status.clone(),
            reason: e.reason.clone().unwrap_or_else(|| "no reason given".into()),
        }
    }
}

/// The result for one stack.
#[derive(Debug, Clone, Serialize)]
pub struct StackReport {
    /// The stack's name in the project.
    pub stack: String,
    /// CloudFormation's name for it.
    pub stack_name: String,
    /// What happened.
    pub outcome: Outcome,
    /// The stack's status at the end, when it exists.
    pub status: Option<String>,
    /// The changes applied (change set), or previewed (direct).
    pub changes: Vec<PlannedChange>,
    /// Failed resources.
    pub failures: Vec<Failure>,
    /// Outputs after the operation.
    pub outputs: BTreeMap<String, String>,
    /// Seconds spent on this stack, not counting the time a question waited for its answer.
    pub seconds: f64,
    /// The error or the reason, for failed and skipped stacks.
    pub message: Option<String>,
}

/// The exit status of a command that worked on `stacks`: success unless
/// one failed or was skipped.
pub fn exit_status(stacks: &[StackReport]) -> crate::exit::ExitStatus {
    if stacks.iter().all(|s| s.outcome.ok()) {
        crate::exit::ExitStatus::Success
    } else {
        crate::exit::ExitStatus::Failure
    }
}

impl StackReport {
    /// An empty report for `stack`.
    pub fn new(stack: &str, stack_name: &str) -> Self {
        Self {
            stack: stack.to_string(),
            stack_name: stack_name.to_string(),
            outcome: Outcome::Failed,
            status: None,
            changes: Vec::new(),
            failures: Vec::new(),
            outputs: BTreeMap::new(),
            seconds: 0.0,
            message: None,
        }
    }

    /// A stack not attempted because `why`.
    pub fn skipped(stack: &str, stack_name: &str, why: String) -> Self {
        let mut r = Self::new(stack, stack_name);
        r.outcome = Outcome::Skipped;
        r.message = Some(why);
        r
    }
}

/// Parameter values as CloudFormation will hold them: the template's
/// defaults, overlaid by the values passed.
pub fn effective_parameters(
    template: &str,
    passed: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if let Ok(doc) = crate::diff::parse_template(template) {
        if let Some(params) = doc.get("Parameters").and_then(|p| p.as_object()) {
            for (name, p) in params {
                let default = match p.get("Default") {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Null) | None => None,
                    Some(other) => Some(other.to_string()),
                };
                if let Some(d) = default {
                    values.insert(name.clone(), d);
                }
            }
        }
    }
    for (k, v) in passed {
        values.insert(k.clone(), v.clone());
    }
    values
}

/// Whether the deployed stack already is what `d` describes: the same
/// template text, parameter values and tags. (`****` is how CloudFormation
/// shows a NoEcho value; it cannot be compared, so it counts as equal.)
pub fn unchanged(d: &Desired, deployed_template: &str, info: &StackInfo) -> bool {
    let want = effective_parameters(&d.template, &d.request.parameters);
    let params_equal = want.len() == info.parameters.len()
        && want.iter().all(|(k, v)| {
            info.parameters
                .get(k)
                .is_some_and(|have| have == v || have == "****")
        });
    deployed_template == d.template && params_equal && info.tags == d.request.tags
}

/// The name of a new change set: unique per second, valid for CloudFormation.
pub fn change_set_name(now: SystemTime) -> String {
    format!("stackctl-{}", rfc3339(now).replace([':', '.'], "-"))
}

/// The engine, with its collaborators.
pub struct Engine<'a, C, K> {
    /// CloudFormation.
    pub cfn: &'a C,
    /// Time.
    pub clock: &'a K,
    /// Who sees progress.
    pub observer: &'a dyn Observer,
    /// Who says yes.
    pub confirm: &'a dyn Confirm,
}

/// The failure of one step, with the report so far.
type Step<T> = Result<T, CfnError>;

impl<C: CloudFormation, K: Clock> Engine<'_, C, K> {
    /// Deploys one stack. Never fails: a failure is in the report.
    pub async fn deploy(&self, d: &Desired) -> StackReport {
        // Time spent on a question is the user's, not the deploy's.
        let mut started = self.clock.now();
        let mut report = StackReport::new(&d.stack, &d.request.name);
        if let Err(e) = self.deploy_steps(d, &mut report, &mut started).await {
            report.outcome = Outcome::Failed;
            report.message = Some(e.message);
        }
        report.seconds = (self.clock.now() - started).as_secs_f64();
        let ok = report.outcome.ok();
        self.observer.end(&d.stack, &summary(&report), ok);
        report
    }

    async fn deploy_steps(
        &self,
        d: &Desired,
        report: &mut StackReport,
        started: &mut Duration,
    ) -> Step<()> {
        let name = &d.request.name;
        let mut info = self.cfn.describe(name).await?;
        if let Some(i) = &info {
            if state(&i.status) == State::Busy {
                self.wait_for_other(&d.stack, i).await?;
                info = self.cfn.describe(name).await?;
            }
        }
        let mut review = false;
        if let Some(i) = &info {
            match state(&i.status) {
                State::Stuck => {
                    report.status = Some(i.status.clone());
                    return Err(stuck(i));
                }
                State::FailedCreate => {
                    let question = format!(
                        "{name} is {} after a failed first create and holds no resources. Delete it and create it again?",
                        i.status
                    );
                    let yes = self.confirm.confirm(&question);
                    *started = self.clock.now();
                    if !yes {
                        report.outcome = Outcome::Declined;
                        report.status = Some(i.status.clone());
                        report.message = Some(format!("{name} stays {}", i.status));
                        return Ok(());
                    }
                    self.observer.note(
                        &d.stack,
                        &format!("deleting {name} ({}) to create it again", i.status),
                    );
                    self.delete_and_settle(&d.stack, i, 0).await?;
                    info = None;
                }
                State::Review => review = true,
                State::Deleted => info = None,
                State::Busy | State::Stable => {}
            }
        }
        let deployed = match &info {
            Some(i) if !review => Some((self.cfn.template(name).await?, i.clone())),
            _ => None,
        };
        if let Some((template, i)) = &deployed {
            if unchanged(d, template, i) {
                report.outcome = Outcome::Unchanged;
                report.status = Some(i.status.clone());
                report.outputs = i.outputs.clone();
                self.protect(d, i).await?;
                return Ok(());
            }
        }
        match d.method {
            Method::ChangeSet => {
                self.via_change_set(d, info.as_ref(), review, report, started)
                    .await
            }
            Method::Direct => {
                // A stack left in review by an unexecuted change set holds
                // nothing, and CreateStack refuses its name: clear it first.
                if let (true, Some(i)) = (review, &info) {
                    self.delete_and_settle(&d.stack, i, 0).await?;
                }
                let deployed = deployed.as_ref().map(|(t, i)| (t.as_str(), i));
                self.direct(d, deployed, report, started).await
            }
        }
    }

    /// Waits for an operation that someone else started.
    async fn wait_for_other(&self, stack: &str, i: &StackInfo) -> Step<Settled> {
        self.observer.note(
            stack,
            &format!(
                "{} is {}: another operation is running; waiting for it to finish",
                i.name, i.status
            ),
        );
        self.observer.begin(stack, Operation::Wait, 0);
        let marker = self.newest_event(&i.name).await?;
        let deleting = i.status.starts_with("DELETE_");
        settle(
            self.cfn,
            self.clock,
            self.observer,
            stack,
            &i.name,
            marker,
            deleting,
        )
        .await
    }

    async fn newest_event(&self, target: &str) -> Step<Option<String>> {
        match self.cfn.events(target, None).await {
            Ok(events) => Ok(events.first().map(|e| e.id.clone())),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a stack and follows the deletion to its end. The stack is
    /// followed by name: once deleted, the name no longer resolves, which
    /// is the end. (By ARN, AWS would show DELETE_COMPLETE, but moto 5.2
    /// re-creates a deleted stack's resources when it is described by ARN.)
    async fn delete_and_settle(&self, stack: &str, i: &StackInfo, total: usize) -> Step<Settled> {
        let marker = self.newest_event(&i.name).await?;
        self.cfn.delete_stack(&i.name).await?;
        self.observer.begin(stack, Operation::Delete, total);
        let settled = settle(
            self.cfn,
            self.clock,
            self.observer,
            stack,
            &i.name,
            marker,
            true,
        )
        .await?;
        if state(&settled.status) != State::Deleted {
            return Err(ended_badly(&i.name, &settled));
        }
        Ok(settled)
    }

    /// Turns termination protection on where the environment wants it.
    async fn protect(&self, d: &Desired, i: &StackInfo) -> Step<()> {
        if d.request.termination_protection && !i.termination_protection {
            self.cfn
                .set_termination_protection(&d.request.name, true)
                .await?;
            self.observer
                .note(&d.stack, "termination protection turned on");
        }
        Ok(())
    }

    async fn via_change_set(
        &self,
        d: &Desired,
        info: Option<&StackInfo>,
        review: bool,
        report: &mut StackReport,
        started: &mut Duration,
    ) -> Step<()> {
        let name = &d.request.name;
        let create = info.is_none() || review;
        let request = ChangeSetRequest {
            stack: d.request.clone(),
            name: change_set_name(SystemTime::now()),
            create,
            description: format!("stackctl deploy of {} ({})", d.stack, name),
        };
        let arn = match self.cfn.create_change_set(&request).await {
            Ok(arn) => arn,
            Err(e) if e.kind == ErrorKind::NoChanges => {
                return self.nothing_to_do(d, report).await;
            }
            Err(e) => return Err(e),
        };
        let mut backoff = Backoff::default();
        let cs = loop {
            let cs = self.cfn.describe_change_set(&arn).await?;
            match cs.status.as_str() {
                "CREATE_COMPLETE" => break cs,
                "FAILED" => {
                    let reason = cs.reason.clone().unwrap_or_default();
                    let _ = self.cfn.delete_change_set(&arn).await;
                    if crate::aws::cloudformation::classify(None, &reason) == ErrorKind::NoChanges {
                        return self.nothing_to_do(d, report).await;
                    }
                    return Err(CfnError::new(
                        ErrorKind::Rejected,
                        format!("CloudFormation rejected the change set for {name}: {reason}"),
                    ));
                }
                _ => self.clock.sleep(backoff.next_pause()).await,
            }
        };
        report.changes = cs.changes.clone();
        let question = format!(
            "Deploy {} change{} to {name}?",
            cs.changes.len(),
            if cs.changes.len() == 1 { "" } else { "s" }
        );
        if !self.ask(d, report, &question, started) {
            let _ = self.cfn.delete_change_set(&arn).await;
            if create && !review {
                // The change set made an empty stack in REVIEW_IN_PROGRESS.
                let _ = self.cfn.delete_stack(name).await;
            }
            report.outcome = Outcome::Declined;
            report.message = Some("change set deleted; nothing was changed".into());
            return Ok(());
        }
        let marker = self.newest_event(name).await?;
        self.cfn.execute_change_set(&arn).await?;
        self.follow(d, create, marker, report).await
    }

    async fn direct(
        &self,
        d: &Desired,
        deployed: Option<(&str, &StackInfo)>,
        report: &mut StackReport,
        started: &mut Duration,
    ) -> Step<()> {
        let name = &d.request.name;
        let before = deployed.and_then(|(template, i)| {
            Some(DeployedState {
                template: crate::diff::parse_template(template).ok()?,
                parameters: i.parameters.clone(),
                tags: i.tags.clone(),
            })
        });
        let after = DesiredState {
            template: crate::diff::parse_template(&d.template).map_err(|e| {
                CfnError::new(
                    ErrorKind::Rejected,
                    format!("the rendered template of {name} does not parse: {e}"),
                )
            })?,
            parameters: effective_parameters(&d.template, &d.request.parameters),
            tags: d.request.tags.clone(),
        };
        let diff = StackDiff::new(&d.stack, name, before.as_ref(), &after);
        report.changes = diff
            .resources
            .iter()
            .map(|r| PlannedChange {
                action: format!("{:?}", r.action),
                logical_id: r.logical_id.clone(),
                resource_type: r.resource_type.clone(),
                replacement: r.replacement.then(|| "True".to_string()),
            })
            .collect();
        let (add, modify, remove) = diff.counts();
        let question = format!(
            "Deploy to {name} ({add} to add, {modify} to change, {remove} to remove, {} parameter change{})?",
            diff.parameters.len(),
            if diff.parameters.len() == 1 { "" } else { "s" }
        );
        if !self.ask(d, report, &question, started) {
            report.outcome = Outcome::Declined;
            report.message = Some("nothing was changed".into());
            return Ok(());
        }
        let create = deployed.is_none();
        let marker = match deployed {
            Some(_) => self.newest_event(name).await?,
            None => None,
        };
        if create {
            self.cfn.create_stack(&d.request).await?;
        } else {
            match self.cfn.update_stack(&d.request).await {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::NoChanges => {
                    return self.nothing_to_do(d, report).await
                }
                Err(e) => return Err(e),
            }
        }
        self.follow(d, create, marker, report).await
    }

    /// Shows the planned changes and asks `question`; the stack's clock
    /// restarts after the answer.
    fn ask(
        &self,
        d: &Desired,
        report: &StackReport,
        question: &str,
        started: &mut Duration,
    ) -> bool {
        for c in &report.changes {
            self.observer.note(&d.stack, &change_line(c));
        }
        let yes = self.confirm.confirm(question);
        *started = self.clock.now();
        yes
    }

    /// Follows a create or update that has just started to its end.
    async fn follow(
        &self,
        d: &Desired,
        create: bool,
        marker: Option<String>,
        report: &mut StackReport,
    ) -> Step<()> {
        let op = if create {
            Operation::Create
        } else {
            Operation::Update
        };
        self.observer
            .begin(&d.stack, op, resource_count(&d.template));
        let name = &d.request.name;
        let settled = settle(
            self.cfn,
            self.clock,
            self.observer,
            &d.stack,
            name,
            marker,
            false,
        )
        .await?;
        self.finish(d, create, settled, report).await
    }

    /// CloudFormation found nothing to change (what stackctl's own
    /// comparison missed, such as a template that differs only in text).
    async fn nothing_to_do(&self, d: &Desired, report: &mut StackReport) -> Step<()> {
        let info = self.cfn.describe(&d.request.name).await?;
        report.outcome = Outcome::Unchanged;
        report.changes.clear();
        if let Some(i) = info {
            report.status = Some(i.status.clone());
            report.outputs = i.outputs.clone();
            self.protect(d, &i).await?;
        }
        Ok(())
    }

    async fn finish(
        &self,
        d: &Desired,
        created: bool,
        settled: Settled,
        report: &mut StackReport,
    ) -> Step<()> {
        report.status = Some(settled.status.clone());
        report.failures = settled.failures.iter().map(Failure::from).collect();
        if !succeeded(&settled.status) {
            return Err(ended_badly(&d.request.name, &settled));
        }
        report.outcome = if created {
            Outcome::Created
        } else {
            Outcome::Updated
        };
        if let Some(i) = self.cfn.describe(&d.request.name).await? {
            report.outputs = i.outputs.clone();
            self.protect(d, &i).await?;
        }
        Ok(())
    }

    /// Deletes one stack (already confirmed by the caller). With
    /// `unprotect`, termination protection is turned off first; without it,
    /// a protected stack is an error.
    pub async fn destroy(&self, stack: &str, stack_name: &str, unprotect: bool) -> StackReport {
        let started = self.clock.now();
        let mut report = StackReport::new(stack, stack_name);
        if let Err(e) = self
            .destroy_steps(stack, stack_name, unprotect, &mut report)
            .await
        {
            report.outcome = Outcome::Failed;
            report.message = Some(e.message);
        }
        report.seconds = (self.clock.now() - started).as_secs_f64();
        let ok = report.outcome.ok();
        self.observer.end(stack, &summary(&report), ok);
        report
    }

    async fn destroy_steps(
        &self,
        stack: &str,
        name: &str,
        unprotect: bool,
        report: &mut StackReport,
    ) -> Step<()> {
        let Some(mut info) = self.cfn.describe(name).await? else {
            report.outcome = Outcome::NotDeployed;
            return Ok(());
        };
        if state(&info.status) == State::Busy {
            let settled = self.wait_for_other(stack, &info).await?;
            if state(&settled.status) == State::Deleted {
                report.outcome = Outcome::Deleted;
                report.status = Some(settled.status);
                return Ok(());
            }
            info = match self.cfn.describe(name).await? {
                Some(i) => i,
                None => {
                    report.outcome = Outcome::Deleted;
                    return Ok(());
                }
            };
        }
        if info.termination_protection {
            if !unprotect {
                return Err(CfnError::new(
                    ErrorKind::Rejected,
                    format!("{name} has termination protection on\nhint: protection is for protected environments; turn it off with `aws cloudformation update-termination-protection --no-enable-termination-protection --stack-name {name}` if this stack really should go"),
                ));
            }
            self.cfn.set_termination_protection(name, false).await?;
            self.observer
                .note(stack, "termination protection turned off");
        }
        let total = self.cfn.resources(name).await.map(|r| r.len()).unwrap_or(0);
        let settled = self.delete_and_settle(stack, &info, total).await;
        match settled {
            Ok(s) => {
                report.outcome = Outcome::Deleted;
                report.status = Some(s.status);
                Ok(())
            }
            Err(e) => {
                if let Ok(Some(i)) = self.cfn.describe(&info.name).await {
                    report.status = Some(i.status);
                }
                Err(e)
            }
        }
    }
}

/// The number of resources a template declares (progress totals).
pub fn resource_count(template: &str) -> usize {
    crate::diff::parse_template(template)
        .ok()
        .and_then(|t| {
            t.get("Resources")
                .and_then(|r| r.as_object())
                .map(|r| r.len())
        })
        .unwrap_or(0)
}

/// One line for a planned change: `+ Queue  AWS::SQS::Queue`.
pub fn change_line(c: &PlannedChange) -> String {
    let sign = match c.action.as_str() {
        "Add" => "+",
        "Remove" => "-",
        "Modify" => "~",
        _ => "?",
    };
    let replacement = match c.replacement.as_deref() {
        Some("True") => "  (requires replacement)",
        Some("Conditional") => "  (may require replacement)",
        _ => "",
    };
    format!("{sign} {}  {}{replacement}", c.logical_id, c.resource_type)
}

fn stuck(i: &StackInfo) -> CfnError {
    let mut msg = format!("{} is {}", i.name, i.status);
    if let Some(r) = &i.reason {
        msg.push_str(&format!(": {r}"));
    }
    if let Some(h) = remedy(&i.status) {
        msg.push_str(&format!("\nhint: {}", h.replace("NAME", &i.name)));
    }
    CfnError::new(ErrorKind::Rejected, msg)
}

fn ended_badly(name: &str, s: &Settled) -> CfnError {
    let mut msg = format!("{name} ended {}", s.status);
    if let Some(r) = s.reason.as_deref().filter(|r| !r.is_empty()) {
        msg.push_str(&format!(" ({r})"));
    }
    for f in &s.failures {
        msg.push_str(&format!(
            "\n  {} {} {}: {}",
            f.logical_id,
            f.resource_type,
            f.status,
            f.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    if let Some(h) = remedy(&s.status) {
        msg.push_str(&format!("\nhint: {}", h.replace("NAME", name)));
    }
    CfnError::new(ErrorKind::Other, msg)
}

/// The one-line summary of a stack's report.
pub fn summary(r: &StackReport) -> String {
    let what = match r.outcome {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::Unchanged => "no changes",
        Outcome::Deleted => "deleted",
        Outcome::NotDeployed => "not deployed",
        Outcome::Declined => "declined",
        Outcome::Failed => "FAILED",
        Outcome::Skipped => "skipped",
    };
    match r.outcome {
        Outcome::Unchanged | Outcome::NotDeployed | Outcome::Skipped | Outcome::Declined => {
            what.to_string()
        }
        _ => format!("{what} in {:.1} s", r.seconds),
    }
}
