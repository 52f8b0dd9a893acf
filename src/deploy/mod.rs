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

pub mod databases;
pub mod desired;
pub mod destroy;
pub mod drift;
pub mod hotswap;
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
use crate::diff::{DeployedState, StackDiff};
use observe::{Observer, Operation};
use serde::{Deserialize, Serialize};
use status::{remedy, state, succeeded, State};
use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;
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
    /// Update only the functions' code when nothing else differs
    /// (`deploy --hotswap`).
    pub hotswap: bool,
    /// The template parameters that name function code, each with its
    /// function's logical id.
    pub code: BTreeMap<String, String>,
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
    /// Its functions' code was updated in place (`deploy --hotswap`); the
    /// stack itself was not.
    HotSwapped,
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
/// one failed, was skipped or was declined (nothing changed, but not what
/// was asked for: exit 1, as `terraform apply` when cancelled).
pub fn exit_status(stacks: &[StackReport]) -> crate::exit::ExitStatus {
    if stacks
        .iter()
        .all(|s| s.outcome.ok() && s.outcome != Outcome::Declined)
    {
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
    same_template(deployed_template, &d.template) && params_equal && info.tags == d.request.tags
}

/// Whether a deployed template is the rendered one: the same text, but for
/// trailing whitespace (see [`restoring_outputs`]).
pub fn same_template(deployed: &str, rendered: &str) -> bool {
    deployed.trim_end() == rendered.trim_end()
}

/// `d` as a direct update that brings back the outputs a change set
/// dropped (moto's do), planned when an unchanged stack has none. The template body gets one more newline: moto
/// refuses an update whose text and parameters equal the deployed ones
/// ("No updates are to be performed") before it would evaluate the
/// outputs, and stackctl compares templates but for trailing whitespace,
/// so the next deploy still finds the stack unchanged. On AWS the outputs
/// are never missing, and an update of the same template changes nothing.
pub fn restoring_outputs(d: &Desired) -> Desired {
    let mut r = d.clone();
    r.method = Method::Direct;
    if let crate::aws::cloudformation::TemplateSource::Body(body) = &mut r.request.template {
        body.push('\n');
    }
    r
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

/// What deploying one stack will do, decided before anything changes:
/// the first half of a deploy ([`Engine::plan`]), shown to the user and
/// confirmed once for the whole environment, then carried out
/// ([`Engine::apply`]) or dropped ([`Engine::discard`]).
#[derive(Debug, Clone)]
pub struct StackPlan {
    /// The stack's name in the project.
    pub stack: String,
    /// CloudFormation's name for it.
    pub stack_name: String,
    /// What will happen.
    pub action: PlanAction,
    /// The stack as described while planning (`None`: not deployed).
    pub info: Option<StackInfo>,
    /// stackctl's diff of deployed against desired (none when unchanged).
    pub diff: Option<StackDiff>,
    /// The resource changes: the change set's, or derived from the diff.
    pub changes: Vec<PlannedChange>,
    /// A change set made while planning, executed by [`Engine::apply`].
    pub change_set: Option<String>,
    /// The stack exists only as an unexecuted change set's empty shell
    /// (REVIEW_IN_PROGRESS).
    pub review: bool,
    /// Stacks of this run whose new outputs this stack's parameters take:
    /// its inputs are known only after they deploy.
    pub known_after: Vec<String>,
    /// Something to tell about the plan (why a hot-swap falls back to a
    /// normal deploy, say).
    pub note: Option<String>,
    /// Outputs the template declares that the deployed stack lacks (moto's
    /// change sets drop them): an unchanged stack is updated directly to
    /// get them back.
    pub missing_outputs: Vec<String>,
    /// Seconds spent planning.
    pub seconds: f64,
}

/// What a deploy will do to one stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum PlanAction {
    /// Nothing differs: nothing is sent.
    Unchanged,
    /// The stack is created.
    Create,
    /// The stack is updated.
    Update,
    /// A stack left in ROLLBACK_COMPLETE by a failed first create (it holds
    /// nothing) is deleted and created again.
    Recreate {
        /// Its status now.
        status: String,
    },
    /// Only function code differs: the functions' code is updated in
    /// place, without CloudFormation (`deploy --hotswap`).
    Hotswap {
        /// The functions and their new code.
        swaps: Vec<hotswap::CodeSwap>,
    },
}

impl StackPlan {
    /// Whether carrying the plan out changes anything.
    pub fn changes_anything(&self) -> bool {
        self.action != PlanAction::Unchanged
    }

    /// The question to ask for this one stack.
    pub fn question(&self) -> String {
        let name = &self.stack_name;
        match &self.action {
            PlanAction::Recreate { status } => format!(
                "{name} is {status} after a failed first create and holds no resources. Delete it and create it again?"
            ),
            PlanAction::Hotswap { swaps } => format!(
                "Update the code of {} function{} of {name} in place?",
                swaps.len(),
                if swaps.len() == 1 { "" } else { "s" }
            ),
            _ if self.change_set.is_some() => format!(
                "Deploy {} change{} to {name}?",
                self.changes.len(),
                if self.changes.len() == 1 { "" } else { "s" }
            ),
            _ => {
                let (add, modify, remove) =
                    self.diff.as_ref().map(StackDiff::counts).unwrap_or_default();
                let params = self.diff.as_ref().map_or(0, |d| d.parameters.len());
                format!(
                    "Deploy to {name} ({add} to add, {modify} to change, {remove} to remove, {params} parameter change{})?",
                    if params == 1 { "" } else { "s" }
                )
            }
        }
    }
}

impl fmt::Display for StackPlan {
    /// The stack's changes as `diff` shows them, with what is particular
    /// to a deploy: a re-create, a hot-swap, inputs known only later.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = format!("{} ({})", self.stack_name, self.stack);
        match &self.action {
            PlanAction::Unchanged => write!(f, "= {name}: no changes")?,
            PlanAction::Hotswap { swaps } => {
                write!(
                    f,
                    "~ {name}: hot-swap: the code of {} function{}, in place",
                    swaps.len(),
                    if swaps.len() == 1 { "" } else { "s" }
                )?;
                for s in swaps {
                    write!(
                        f,
                        "
  ~ {}  {} -> {}",
                        s.logical_id, s.from_key, s.to_key
                    )?;
                }
            }
            action => {
                if let PlanAction::Recreate { status } = action {
                    writeln!(
                        f,
                        "! {name} is {status} after a failed first create: it is deleted and created again"
                    )?;
                }
                match &self.diff {
                    Some(diff) => write!(f, "{diff}")?,
                    None => write!(f, "~ {name}")?,
                }
            }
        }
        if !self.known_after.is_empty() {
            write!(
                f,
                "
  (parameters known after deploy of {})",
                self.known_after.join(", ")
            )?;
        }
        if let Some(note) = &self.note {
            write!(
                f,
                "
  note: {note}"
            )?;
        }
        Ok(())
    }
}

impl<C: CloudFormation, K: Clock> Engine<'_, C, K> {
    /// Deploys one stack, asking about it alone: [`Engine::plan`], the
    /// question, then [`Engine::apply`] or [`Engine::discard`]. Never
    /// fails: a failure is in the report.
    pub async fn deploy(&self, d: &Desired) -> StackReport {
        let plan = match self.plan(d, true).await {
            Ok(plan) => plan,
            Err(e) => return self.failed_plan(d, e),
        };
        if plan.changes_anything() {
            for c in &plan.changes {
                self.observer.note(&d.stack, &change_line(c));
            }
            if !self.confirm.confirm(&plan.question()) {
                return self.decline(d, plan).await;
            }
        }
        self.apply(d, plan).await
    }

    /// The report of a stack whose planning failed.
    pub fn failed_plan(&self, d: &Desired, e: CfnError) -> StackReport {
        let mut report = StackReport::new(&d.stack, &d.request.name);
        report.outcome = Outcome::Failed;
        report.message = Some(e.message);
        self.observer.end(&d.stack, &summary(&report), false);
        report
    }

    /// Drops a plan the user declined and reports what stays.
    pub async fn decline(&self, d: &Desired, plan: StackPlan) -> StackReport {
        let mut report = StackReport::new(&d.stack, &d.request.name);
        report.outcome = Outcome::Declined;
        report.changes = plan.changes.clone();
        report.status = plan.info.as_ref().map(|i| i.status.clone());
        report.message = Some(match &plan.action {
            PlanAction::Recreate { status } => format!("{} stays {status}", plan.stack_name),
            _ if plan.change_set.is_some() => "change set deleted; nothing was changed".to_string(),
            _ => "nothing was changed".to_string(),
        });
        self.discard(&plan).await;
        self.observer.end(&d.stack, &summary(&report), true);
        report
    }

    /// Works out what deploying `d` would do. With `prepare`, a change set
    /// is made now (change-set method) so its changes can be shown; without,
    /// [`Engine::apply`] makes it (inputs not known yet).
    pub async fn plan(&self, d: &Desired, prepare: bool) -> Step<StackPlan> {
        let started = self.clock.now();
        let name = &d.request.name;
        let mut plan = StackPlan {
            stack: d.stack.clone(),
            stack_name: name.clone(),
            action: PlanAction::Create,
            info: None,
            diff: None,
            changes: Vec::new(),
            change_set: None,
            review: false,
            known_after: Vec::new(),
            note: None,
            missing_outputs: Vec::new(),
            seconds: 0.0,
        };
        // The template is asked for at once beside the description (one
        // round trip, not two, for the common case of a settled stack); it
        // is used only when the stack turns out to be settled.
        let (described, early) =
            futures_util::future::join(self.cfn.describe(name), self.cfn.template(name)).await;
        let mut info = described?;
        let mut early_template = early.ok();
        if let Some(i) = &info {
            if state(&i.status) == State::Busy {
                self.wait_for_other(&d.stack, i).await?;
                info = self.cfn.describe(name).await?;
                early_template = None;
            }
        }
        let mut deployed_template = None;
        if let Some(i) = &info {
            match state(&i.status) {
                State::Stuck => return Err(stuck(i)),
                State::FailedCreate => {
                    plan.action = PlanAction::Recreate {
                        status: i.status.clone(),
                    };
                }
                State::Review => plan.review = true,
                State::Deleted => info = None,
                State::Busy | State::Stable => {
                    let template = match early_template.take() {
                        Some(t) => t,
                        None => self.cfn.template(name).await?,
                    };
                    deployed_template = Some(template);
                    plan.action = PlanAction::Update;
                }
            }
        }
        plan.info = info.clone();
        if let (Some(template), Some(i)) = (&deployed_template, &info) {
            if unchanged(d, template, i) {
                let missing = missing_outputs(&d.template, i);
                if missing.is_empty() {
                    plan.action = PlanAction::Unchanged;
                    plan.seconds = (self.clock.now() - started).as_secs_f64();
                    return Ok(plan);
                }
                plan.note = Some(format!(
                    "the deployed stack lacks outputs its template declares ({}): it is updated directly to restore them",
                    missing.join(", ")
                ));
                plan.missing_outputs = missing;
                plan.diff = Some(desired_diff(d, Some(template), Some(i))?);
                plan.seconds = (self.clock.now() - started).as_secs_f64();
                return Ok(plan);
            }
            if d.hotswap {
                match hotswap::decide(d, template, i) {
                    hotswap::Decision::Code(swaps) => plan.action = PlanAction::Hotswap { swaps },
                    hotswap::Decision::FallBack(why) => {
                        plan.note = Some(format!("not hot-swappable ({why}): a normal deploy"))
                    }
                }
            }
        }
        let diff = desired_diff(d, deployed_template.as_deref(), info.as_ref())?;
        plan.changes = changes_of(&diff);
        plan.diff = Some(diff);
        let by_change_set = d.method == Method::ChangeSet
            && matches!(plan.action, PlanAction::Create | PlanAction::Update);
        if prepare && by_change_set {
            let create = plan.action == PlanAction::Create;
            match self.prepare_change_set(d, create).await? {
                Some((arn, changes)) => {
                    plan.change_set = Some(arn);
                    plan.changes = changes;
                }
                None => {
                    // CloudFormation sees nothing to change (what stackctl's
                    // comparison missed, a template that differs only in text).
                    if create && !plan.review {
                        let _ = self.cfn.delete_stack(name).await;
                    }
                    plan.action = PlanAction::Unchanged;
                    plan.diff = None;
                    plan.changes.clear();
                    plan.info = self.cfn.describe(name).await?;
                }
            }
        }
        plan.seconds = (self.clock.now() - started).as_secs_f64();
        Ok(plan)
    }

    /// Creates a change set and waits until it is ready: its ARN and
    /// changes, or `None` when CloudFormation finds nothing to change.
    async fn prepare_change_set(
        &self,
        d: &Desired,
        create: bool,
    ) -> Step<Option<(String, Vec<PlannedChange>)>> {
        let name = &d.request.name;
        let request = ChangeSetRequest {
            stack: d.request.clone(),
            name: change_set_name(SystemTime::now()),
            create,
            description: format!("stackctl deploy of {} ({})", d.stack, name),
        };
        let arn = match self.cfn.create_change_set(&request).await {
            Ok(arn) => arn,
            Err(e) if e.kind == ErrorKind::NoChanges => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut backoff = Backoff::default();
        loop {
            let cs = self.cfn.describe_change_set(&arn).await?;
            match cs.status.as_str() {
                "CREATE_COMPLETE" => return Ok(Some((arn, cs.changes))),
                "FAILED" => {
                    let reason = cs.reason.clone().unwrap_or_default();
                    let _ = self.cfn.delete_change_set(&arn).await;
                    if crate::aws::cloudformation::classify(None, &reason) == ErrorKind::NoChanges {
                        return Ok(None);
                    }
                    return Err(CfnError::new(
                        ErrorKind::Rejected,
                        format!("CloudFormation rejected the change set for {name}: {reason}"),
                    ));
                }
                _ => self.clock.sleep(backoff.next_pause()).await,
            }
        }
    }

    /// Drops what planning made: the change set, and the empty stack a
    /// create change set made.
    pub async fn discard(&self, plan: &StackPlan) {
        if let Some(arn) = &plan.change_set {
            let _ = self.cfn.delete_change_set(arn).await;
            if plan.action == PlanAction::Create && !plan.review {
                let _ = self.cfn.delete_stack(&plan.stack_name).await;
            }
        }
    }

    /// Carries out a plan (hot-swaps excepted: [`hotswap::apply`] does
    /// those). Never fails: a failure is in the report.
    pub async fn apply(&self, d: &Desired, plan: StackPlan) -> StackReport {
        let started = self.clock.now();
        let mut report = StackReport::new(&d.stack, &d.request.name);
        report.changes = plan.changes.clone();
        if let Err(e) = self.apply_steps(d, plan.clone(), &mut report).await {
            report.outcome = Outcome::Failed;
            report.message = Some(e.message);
        }
        report.seconds = plan.seconds + (self.clock.now() - started).as_secs_f64();
        let ok = report.outcome.ok();
        self.observer.end(&d.stack, &summary(&report), ok);
        report
    }

    async fn apply_steps(
        &self,
        d: &Desired,
        plan: StackPlan,
        report: &mut StackReport,
    ) -> Step<()> {
        let name = &d.request.name;
        let info = plan.info.clone();
        match &plan.action {
            PlanAction::Unchanged => {
                report.outcome = Outcome::Unchanged;
                report.changes.clear();
                if let Some(i) = &info {
                    report.status = Some(i.status.clone());
                    report.outputs = i.outputs.clone();
                    self.protect(d, i).await?;
                }
                return Ok(());
            }
            PlanAction::Hotswap { .. } => {
                return Err(CfnError::new(
                    ErrorKind::Other,
                    format!(
                        "{name}: a hot-swap is applied by the functions' API, not CloudFormation"
                    ),
                ));
            }
            PlanAction::Recreate { status } => {
                if let Some(i) = &info {
                    self.observer.note(
                        &d.stack,
                        &format!("deleting {name} ({status}) to create it again"),
                    );
                    self.delete_and_settle(&d.stack, i, 0).await?;
                }
                return self.create_or_update(d, true, false, report).await;
            }
            PlanAction::Create | PlanAction::Update => {}
        }
        if !plan.missing_outputs.is_empty() {
            return self
                .create_or_update(&restoring_outputs(d), false, false, report)
                .await;
        }
        let create = plan.action == PlanAction::Create;
        match &plan.change_set {
            Some(arn) => {
                let marker = self.newest_event(name).await?;
                self.cfn.execute_change_set(arn).await?;
                self.follow(d, create, marker, report).await
            }
            None => self.create_or_update(d, create, plan.review, report).await,
        }
    }

    /// Creates or updates the stack now, by the desired method: a change set
    /// made and executed at once, or CreateStack / UpdateStack.
    async fn create_or_update(
        &self,
        d: &Desired,
        create: bool,
        review: bool,
        report: &mut StackReport,
    ) -> Step<()> {
        let name = &d.request.name;
        match d.method {
            Method::ChangeSet => {
                let Some((arn, changes)) = self.prepare_change_set(d, create || review).await?
                else {
                    return self.nothing_to_do(d, report).await;
                };
                report.changes = changes;
                let marker = self.newest_event(name).await?;
                self.cfn.execute_change_set(&arn).await?;
                self.follow(d, create || review, marker, report).await
            }
            Method::Direct => {
                // A stack left in review by an unexecuted change set holds
                // nothing, and CreateStack refuses its name: clear it first.
                if review {
                    if let Some(i) = self.cfn.describe(name).await? {
                        self.delete_and_settle(&d.stack, &i, 0).await?;
                    }
                }
                let create = create || review;
                let marker = if create {
                    None
                } else {
                    self.newest_event(name).await?
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
                .await
                .map_err(|e| protection_unsupported(e, &d.request.name, true))?;
            self.observer
                .note(&d.stack, "termination protection turned on");
        }
        Ok(())
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
        let Some(i) = self.cfn.describe(&d.request.name).await? else {
            return Ok(());
        };
        report.outputs = i.outputs.clone();
        self.protect(d, &i).await?;
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
            self.cfn
                .set_termination_protection(name, false)
                .await
                .map_err(|e| protection_unsupported(e, name, false))?;
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

/// stackctl's diff of the deployed stack (its template text and
/// description; `None` when not deployed) against `d`.
pub fn desired_diff(
    d: &Desired,
    deployed_template: Option<&str>,
    info: Option<&StackInfo>,
) -> Step<StackDiff> {
    let name = &d.request.name;
    let before = match (deployed_template, info) {
        (Some(template), Some(i)) => Some(DeployedState {
            template: crate::diff::parse_template(template).map_err(|e| {
                CfnError::new(
                    ErrorKind::BadResponse,
                    format!("the deployed template of {name} does not parse: {e:#}"),
                )
            })?,
            parameters: i.parameters.clone(),
            tags: i.tags.clone(),
        }),
        _ => None,
    };
    let after =
        desired::state(&d.template, &d.request.parameters, &d.request.tags).map_err(|e| {
            CfnError::new(
                ErrorKind::Rejected,
                format!("the rendered template of {name} does not parse: {e:#}"),
            )
        })?;
    Ok(StackDiff::new(&d.stack, name, before.as_ref(), &after))
}

/// The resource changes of a diff, in the change set's terms.
pub fn changes_of(diff: &StackDiff) -> Vec<PlannedChange> {
    diff.resources
        .iter()
        .map(|r| PlannedChange {
            action: format!("{:?}", r.action),
            logical_id: r.logical_id.clone(),
            resource_type: r.resource_type.clone(),
            replacement: r.replacement.then(|| "True".to_string()),
        })
        .collect()
}

/// The outputs `template` declares unconditionally, sorted, when the
/// deployed stack has none at all: the mark of a stack made by one of
/// moto's change sets, which drop every output. (A stack that has some of
/// its outputs is as CloudFormation made it: on moto, an output of a
/// resource moto only pretends to create never appears, and no update
/// brings it.)
pub fn missing_outputs(template: &str, info: &StackInfo) -> Vec<String> {
    if !info.outputs.is_empty() {
        return Vec::new();
    }
    let Ok(doc) = crate::diff::parse_template(template) else {
        return Vec::new();
    };
    let Some(outputs) = doc.get("Outputs").and_then(|o| o.as_object()) else {
        return Vec::new();
    };
    let mut missing: Vec<String> = outputs
        .iter()
        .filter(|(_, body)| body.get("Condition").is_none())
        .map(|(name, _)| name.clone())
        .collect();
    missing.sort();
    missing
}

/// A failed UpdateTerminationProtection, said plainly where the endpoint
/// does not implement it (moto answers with an HTML error page).
fn protection_unsupported(e: CfnError, name: &str, on: bool) -> CfnError {
    if e.kind != ErrorKind::BadResponse {
        return e;
    }
    let (turn, fix) = if on {
        (
            "on",
            "deploy with --method direct, which sets it when it creates the stack, or set `termination_protection: false` for this environment",
        )
    } else {
        (
            "off",
            "set `termination_protection: false` for environments deployed to the emulator; stacks made with it on cannot be deleted there, but a fresh emulator is a fresh account",
        )
    };
    CfnError::new(
        ErrorKind::Rejected,
        format!(
            "{name}: the endpoint does not implement UpdateTerminationProtection (moto does not), so termination protection cannot be turned {turn} here\nhint: {fix}"
        ),
    )
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
        Outcome::HotSwapped => "hot-swapped",
    };
    match r.outcome {
        Outcome::Unchanged | Outcome::NotDeployed | Outcome::Skipped | Outcome::Declined => {
            what.to_string()
        }
        _ => format!("{what} in {:.1} s", r.seconds),
    }
}
