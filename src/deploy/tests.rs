//! The engine against a scripted CloudFormation: stacks whose operations
//! unfold over virtual time (events with delays, failures and rollbacks,
//! someone else's update, throttling, a stack deleted underneath), driven
//! by an injected clock so each scenario runs in milliseconds.

use super::observe::{Observer, Operation};
use super::wait::{Clock, MAX_POLL};
use super::*;
use crate::aws::cloudformation::{
    ChangeSetInfo, DriftDetection, PropertyDifference, ResourceDrift, StackResource, TemplateSource,
};
use std::cell::{Cell, RefCell};
use std::sync::Mutex;
use std::time::Duration;

/// Virtual time: `sleep` moves it forward at once.
#[derive(Default)]
struct FakeClock {
    now: Cell<Duration>,
}

impl Clock for FakeClock {
    fn now(&self) -> Duration {
        self.now.get()
    }
    async fn sleep(&self, d: Duration) {
        self.now.set(self.now.get() + d);
    }
}

/// One scripted step of an operation, `at` seconds after it starts.
#[derive(Clone)]
enum Step {
    /// A resource event.
    Resource(&'static str, &'static str, Option<&'static str>),
    /// The stack's own status (also written as a stack event).
    Stack(&'static str),
    /// The stack disappears.
    Gone,
}

struct FakeStack {
    id: String,
    status: String,
    template: String,
    parameters: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    protection: bool,
    events: Vec<StackEvent>,
    /// Steps still to come: (time, step).
    pending: Vec<(Duration, Step)>,
}

#[derive(Default)]
struct World {
    stacks: BTreeMap<String, FakeStack>,
    /// Every call that changes something, with the virtual time it came at.
    calls: Vec<(Duration, String)>,
    describes: u32,
    /// The next this many describe calls are throttled.
    throttle: u32,
    /// What the next operations do, relative to their start (else the
    /// operation's default: in progress, complete a second later).
    scripts: std::collections::VecDeque<Vec<(f64, Step)>>,
    /// The status reason of the next change set, when it is to FAIL.
    change_set_fails: Option<&'static str>,
    change_set: Option<(String, StackRequest, bool)>,
    /// Answer UpdateStack with "No updates are to be performed.".
    update_no_changes: bool,
    /// Each stack's resource drifts, as a detection finds them.
    drifts: BTreeMap<String, Vec<ResourceDrift>>,
    /// Started drift detections: id -> (stack, when it completes).
    detections: BTreeMap<String, (String, Duration)>,
    /// DetectStackDrift answers like an endpoint without it (moto).
    drift_unsupported: bool,
    /// UpdateTerminationProtection answers like moto: an HTML error page.
    protection_unsupported: bool,
}

struct Scripted<'a> {
    clock: &'a FakeClock,
    world: RefCell<World>,
}

impl<'a> Scripted<'a> {
    fn new(clock: &'a FakeClock) -> Self {
        Self {
            clock,
            world: RefCell::new(World::default()),
        }
    }

    /// A deployed stack.
    fn with_stack(self, name: &str, status: &str, template: &str, params: &[(&str, &str)]) -> Self {
        self.world.borrow_mut().stacks.insert(
            name.into(),
            FakeStack {
                id: format!("arn:aws:cloudformation:us-east-1:1:stack/{name}/1"),
                status: status.into(),
                template: template.into(),
                parameters: params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                tags: BTreeMap::new(),
                protection: false,
                events: vec![event(
                    name,
                    0,
                    name,
                    "AWS::CloudFormation::Stack",
                    status,
                    None,
                )],
                pending: Vec::new(),
            },
        );
        self
    }

    /// What the next operation does.
    fn script(self, steps: &[(f64, Step)]) -> Self {
        self.then(steps);
        self
    }

    /// What the operation after the ones already scripted does.
    fn then(&self, steps: &[(f64, Step)]) {
        self.world.borrow_mut().scripts.push_back(steps.to_vec());
    }

    fn log(&self, call: String) {
        self.world.borrow_mut().calls.push((self.clock.now(), call));
    }

    fn calls(&self) -> Vec<String> {
        self.world
            .borrow()
            .calls
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// Starts the next scripted operation on `name`; `verb` (`CREATE`,
    /// `UPDATE`, `DELETE`) gives the default script.
    fn start(&self, name: &str, verb: &'static str) {
        let now = self.clock.now();
        let mut w = self.world.borrow_mut();
        let script = w
            .scripts
            .pop_front()
            .unwrap_or_else(|| default_script(verb));
        let s = w.stacks.get_mut(name).expect("stack exists");
        s.pending = script
            .into_iter()
            .map(|(at, step)| (now + Duration::from_secs_f64(at), step))
            .collect();
    }

    /// Applies every step due by now.
    fn advance(&self) {
        let now = self.clock.now();
        let mut w = self.world.borrow_mut();
        let names: Vec<String> = w.stacks.keys().cloned().collect();
        for name in names {
            let mut gone = false;
            let s = w.stacks.get_mut(&name).unwrap();
            let (due, later): (Vec<_>, Vec<_>) =
                s.pending.drain(..).partition(|(at, _)| *at <= now);
            s.pending = later;
            for (at, step) in due {
                let n = s.events.len();
                let secs = at.as_secs();
                match step {
                    Step::Resource(logical, status, reason) => s.events.push(event(
                        &format!("{name}-{n}"),
                        secs,
                        logical,
                        "AWS::SQS::Queue",
                        status,
                        reason,
                    )),
                    Step::Stack(status) => {
                        s.status = status.into();
                        s.events.push(event(
                            &format!("{name}-{n}"),
                            secs,
                            &name,
                            "AWS::CloudFormation::Stack",
                            status,
                            None,
                        ));
                    }
                    Step::Gone => gone = true,
                }
            }
            if gone {
                w.stacks.remove(&name);
            }
        }
    }

    fn find(&self, target: &str) -> Option<String> {
        let w = self.world.borrow();
        w.stacks
            .iter()
            .find(|(n, s)| *n == target || s.id == target)
            .map(|(n, _)| n.clone())
    }
}

/// An operation that works: in progress, complete a second later (a
/// delete: gone after three seconds).
fn default_script(verb: &'static str) -> Vec<(f64, Step)> {
    match verb {
        "CREATE" => vec![
            (0.0, Step::Stack("CREATE_IN_PROGRESS")),
            (1.0, Step::Stack("CREATE_COMPLETE")),
        ],
        "UPDATE" => vec![
            (0.0, Step::Stack("UPDATE_IN_PROGRESS")),
            (1.0, Step::Stack("UPDATE_COMPLETE")),
        ],
        _ => vec![(0.0, Step::Stack("DELETE_IN_PROGRESS")), (3.0, Step::Gone)],
    }
}

fn event(
    id: &str,
    secs: u64,
    logical: &str,
    kind: &str,
    status: &str,
    reason: Option<&str>,
) -> StackEvent {
    StackEvent {
        id: id.into(),
        time: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
        logical_id: logical.into(),
        resource_type: kind.into(),
        status: status.into(),
        reason: reason.map(str::to_string),
    }
}

fn not_found(what: &str) -> CfnError {
    CfnError::new(
        ErrorKind::NotFound,
        format!("Stack with id {what} does not exist"),
    )
}

impl CloudFormation for Scripted<'_> {
    async fn describe(&self, stack: &str) -> Result<Option<StackInfo>, CfnError> {
        self.advance();
        let mut w = self.world.borrow_mut();
        w.describes += 1;
        if w.throttle > 0 {
            w.throttle -= 1;
            return Err(CfnError::new(ErrorKind::Throttled, "Rate exceeded"));
        }
        drop(w);
        let Some(name) = self.find(stack) else {
            return Ok(None);
        };
        let w = self.world.borrow();
        let s = &w.stacks[&name];
        Ok(Some(StackInfo {
            id: s.id.clone(),
            name: name.clone(),
            status: s.status.clone(),
            reason: None,
            created: None,
            updated: None,
            parameters: s.parameters.clone(),
            outputs: BTreeMap::from([("Out".to_string(), format!("{name}-out"))]),
            tags: s.tags.clone(),
            termination_protection: s.protection,
        }))
    }

    async fn template(&self, stack: &str) -> Result<String, CfnError> {
        let name = self.find(stack).ok_or_else(|| not_found(stack))?;
        Ok(self.world.borrow().stacks[&name].template.clone())
    }

    async fn events(&self, stack: &str, after: Option<&str>) -> Result<Vec<StackEvent>, CfnError> {
        self.advance();
        let name = self.find(stack).ok_or_else(|| not_found(stack))?;
        let w = self.world.borrow();
        let mut out = Vec::new();
        for e in w.stacks[&name].events.iter().rev() {
            if Some(e.id.as_str()) == after {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    async fn resources(&self, _: &str) -> Result<Vec<StackResource>, CfnError> {
        Ok(Vec::new())
    }

    async fn create_change_set(&self, r: &ChangeSetRequest) -> Result<String, CfnError> {
        self.log(format!(
            "create_change_set {} create={}",
            r.stack.name, r.create
        ));
        if r.create && self.find(&r.stack.name).is_none() {
            self.world.borrow_mut().stacks.insert(
                r.stack.name.clone(),
                FakeStack {
                    id: format!(
                        "arn:aws:cloudformation:us-east-1:1:stack/{}/2",
                        r.stack.name
                    ),
                    status: "REVIEW_IN_PROGRESS".into(),
                    template: String::new(),
                    parameters: BTreeMap::new(),
                    tags: BTreeMap::new(),
                    protection: false,
                    events: Vec::new(),
                    pending: Vec::new(),
                },
            );
        }
        self.world.borrow_mut().change_set = Some((r.name.clone(), r.stack.clone(), r.create));
        Ok(format!("arn:changeSet/{}", r.name))
    }

    async fn describe_change_set(&self, _: &str) -> Result<ChangeSetInfo, CfnError> {
        let w = self.world.borrow();
        Ok(match w.change_set_fails {
            Some(reason) => ChangeSetInfo {
                status: "FAILED".into(),
                reason: Some(reason.into()),
                ..ChangeSetInfo::default()
            },
            None => ChangeSetInfo {
                status: "CREATE_COMPLETE".into(),
                execution_status: Some("AVAILABLE".into()),
                changes: vec![PlannedChange {
                    action: "Add".into(),
                    logical_id: "Queue".into(),
                    resource_type: "AWS::SQS::Queue".into(),
                    replacement: None,
                }],
                ..ChangeSetInfo::default()
            },
        })
    }

    async fn execute_change_set(&self, arn: &str) -> Result<(), CfnError> {
        self.log(format!("execute_change_set {arn}"));
        let (_, request, create) = self
            .world
            .borrow()
            .change_set
            .clone()
            .expect("a change set");
        self.apply(&request);
        self.start(&request.name, if create { "CREATE" } else { "UPDATE" });
        Ok(())
    }

    async fn delete_change_set(&self, arn: &str) -> Result<(), CfnError> {
        self.log(format!("delete_change_set {arn}"));
        Ok(())
    }

    async fn create_stack(&self, r: &StackRequest) -> Result<String, CfnError> {
        self.log(format!("create_stack {}", r.name));
        self.world.borrow_mut().stacks.insert(
            r.name.clone(),
            FakeStack {
                id: format!("arn:aws:cloudformation:us-east-1:1:stack/{}/3", r.name),
                status: "CREATE_IN_PROGRESS".into(),
                template: String::new(),
                parameters: BTreeMap::new(),
                tags: BTreeMap::new(),
                protection: r.termination_protection,
                events: Vec::new(),
                pending: Vec::new(),
            },
        );
        self.apply(r);
        self.start(&r.name, "CREATE");
        Ok(r.name.clone())
    }

    async fn update_stack(&self, r: &StackRequest) -> Result<(), CfnError> {
        self.log(format!("update_stack {}", r.name));
        if self.world.borrow().update_no_changes {
            return Err(CfnError::new(
                ErrorKind::NoChanges,
                "No updates are to be performed.",
            ));
        }
        self.apply(r);
        self.start(&r.name, "UPDATE");
        Ok(())
    }

    async fn delete_stack(&self, stack: &str) -> Result<(), CfnError> {
        self.log(format!("delete_stack {stack}"));
        let name = self.find(stack).ok_or_else(|| not_found(stack))?;
        self.start(&name, "DELETE");
        Ok(())
    }

    async fn detect_drift(&self, stack: &str) -> Result<String, CfnError> {
        self.log(format!("detect_drift {stack}"));
        let mut w = self.world.borrow_mut();
        if w.drift_unsupported {
            return Err(CfnError::new(
                ErrorKind::BadResponse,
                format!("starting drift detection on {stack}: the endpoint answered HTTP 500 with an HTML error page, not an AWS response"),
            ));
        }
        let id = format!("drift-{stack}");
        // Detection takes four seconds.
        let done = self.clock.now() + Duration::from_secs(4);
        w.detections.insert(id.clone(), (stack.to_string(), done));
        Ok(id)
    }

    async fn drift_detection(&self, id: &str) -> Result<DriftDetection, CfnError> {
        let w = self.world.borrow();
        let (stack, done) = w.detections.get(id).cloned().expect("a detection");
        if self.clock.now() < done {
            return Ok(DriftDetection {
                status: "DETECTION_IN_PROGRESS".into(),
                ..DriftDetection::default()
            });
        }
        let drifted = w
            .drifts
            .get(&stack)
            .is_some_and(|d| d.iter().any(|r| r.status != "IN_SYNC"));
        Ok(DriftDetection {
            status: "DETECTION_COMPLETE".into(),
            stack_drift_status: Some(if drifted { "DRIFTED" } else { "IN_SYNC" }.into()),
            reason: None,
        })
    }

    async fn resource_drifts(&self, stack: &str) -> Result<Vec<ResourceDrift>, CfnError> {
        Ok(self
            .world
            .borrow()
            .drifts
            .get(stack)
            .cloned()
            .unwrap_or_default())
    }

    async fn set_termination_protection(&self, stack: &str, on: bool) -> Result<(), CfnError> {
        self.log(format!("set_termination_protection {stack} {on}"));
        if self.world.borrow().protection_unsupported {
            return Err(CfnError::new(
                ErrorKind::BadResponse,
                "the endpoint answered HTTP 500 with an HTML error page",
            ));
        }
        let name = self.find(stack).ok_or_else(|| not_found(stack))?;
        self.world
            .borrow_mut()
            .stacks
            .get_mut(&name)
            .unwrap()
            .protection = on;
        Ok(())
    }
}

impl Scripted<'_> {
    /// The new template, parameters and tags take effect.
    fn apply(&self, r: &StackRequest) {
        let mut w = self.world.borrow_mut();
        let s = w.stacks.get_mut(&r.name).expect("stack exists");
        if let TemplateSource::Body(b) = &r.template {
            s.template = b.clone();
        }
        // As CloudFormation: the template's defaults fill what is not passed.
        s.parameters = effective_parameters(&s.template, &r.parameters);
        s.tags = r.tags.clone();
    }
}

/// Records what the engine reports.
#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<String>>,
}

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Observer for Recorder {
    fn begin(&self, stack: &str, op: Operation, _: usize) {
        self.lines
            .lock()
            .unwrap()
            .push(format!("{stack} begin {}", op.verb()));
    }
    fn event(&self, stack: &str, e: &StackEvent) {
        self.lines
            .lock()
            .unwrap()
            .push(format!("{stack} event {} {}", e.logical_id, e.status));
    }
    fn note(&self, stack: &str, text: &str) {
        self.lines
            .lock()
            .unwrap()
            .push(format!("{stack} note {text}"));
    }
}

/// Says `answer` and counts the questions.
struct Answer {
    answer: bool,
    asked: Mutex<Vec<String>>,
}

impl Answer {
    fn new(answer: bool) -> Self {
        Self {
            answer,
            asked: Mutex::new(Vec::new()),
        }
    }
}

impl Confirm for Answer {
    fn confirm(&self, question: &str) -> bool {
        self.asked.lock().unwrap().push(question.to_string());
        self.answer
    }
}

const TEMPLATE: &str = "Parameters:\n  Size:\n    Type: Number\n    Default: '5'\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n";

fn desired(method: Method, params: &[(&str, &str)]) -> Desired {
    Desired {
        stack: "app".into(),
        request: StackRequest {
            name: "p-app-dev".into(),
            template: TemplateSource::Body(TEMPLATE.into()),
            parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            tags: BTreeMap::new(),
            termination_protection: false,
        },
        template: TEMPLATE.into(),
        method,
        hotswap: false,
        code: BTreeMap::new(),
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn deploy(cfn: &Scripted, d: &Desired, confirm: &dyn Confirm, rec: &Recorder) -> StackReport {
    let engine = Engine {
        cfn,
        clock: cfn.clock,
        observer: rec,
        confirm,
    };
    block(engine.deploy(d))
}

const CREATE_OK: &[(f64, Step)] = &[
    (0.0, Step::Stack("CREATE_IN_PROGRESS")),
    (2.0, Step::Resource("Queue", "CREATE_IN_PROGRESS", None)),
    (5.0, Step::Resource("Queue", "CREATE_COMPLETE", None)),
    (7.0, Step::Resource("Topic", "CREATE_IN_PROGRESS", None)),
    (30.0, Step::Resource("Topic", "CREATE_COMPLETE", None)),
    (31.0, Step::Stack("CREATE_COMPLETE")),
];

#[test]
fn a_create_is_followed_event_by_event_and_ends_as_soon_as_it_is_done() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).script(CREATE_OK);
    let rec = Recorder::default();
    let report = deploy(&cfn, &desired(Method::ChangeSet, &[]), &AssumeYes, &rec);
    assert_eq!(report.outcome, Outcome::Created, "{:?}", report.message);
    assert_eq!(report.status.as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(report.outputs["Out"], "p-app-dev-out");
    let events: Vec<String> = rec
        .lines()
        .into_iter()
        .filter(|l| l.contains(" event "))
        .collect();
    assert_eq!(
        events,
        [
            "app event p-app-dev CREATE_IN_PROGRESS",
            "app event Queue CREATE_IN_PROGRESS",
            "app event Queue CREATE_COMPLETE",
            "app event Topic CREATE_IN_PROGRESS",
            "app event Topic CREATE_COMPLETE",
            "app event p-app-dev CREATE_COMPLETE",
        ]
    );
    // The create finished at 31 s: stackctl noticed within one poll.
    let done = Duration::from_secs(31);
    assert!(
        clock.now() >= done && clock.now() - done <= MAX_POLL,
        "{:?}",
        clock.now()
    );
    // Backing off: far fewer polls than one per 250 ms over 31 s.
    let polls = cfn.world.borrow().describes;
    assert!(polls <= 25, "{polls} polls");
    assert_eq!(
        cfn.calls()[..2],
        [
            "create_change_set p-app-dev create=true".to_string(),
            format!(
                "execute_change_set arn:changeSet/{}",
                cfn.world.borrow().change_set.as_ref().unwrap().0
            ),
        ]
    );
}

#[test]
fn a_failed_resource_is_reported_with_its_reason_not_the_cancellations() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).script(&[
        (0.0, Step::Stack("CREATE_IN_PROGRESS")),
        (1.0, Step::Resource("Queue", "CREATE_IN_PROGRESS", None)),
        (1.0, Step::Resource("Bucket", "CREATE_IN_PROGRESS", None)),
        (
            4.0,
            Step::Resource(
                "Bucket",
                "CREATE_FAILED",
                Some("ingest-bucket already exists"),
            ),
        ),
        (
            4.0,
            Step::Resource(
                "Queue",
                "CREATE_FAILED",
                Some("Resource creation cancelled"),
            ),
        ),
        (5.0, Step::Stack("ROLLBACK_IN_PROGRESS")),
        (9.0, Step::Resource("Queue", "DELETE_COMPLETE", None)),
        (10.0, Step::Stack("ROLLBACK_COMPLETE")),
    ]);
    let rec = Recorder::default();
    let report = deploy(&cfn, &desired(Method::ChangeSet, &[]), &AssumeYes, &rec);
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.status.as_deref(), Some("ROLLBACK_COMPLETE"));
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].logical_id, "Bucket");
    assert_eq!(report.failures[0].reason, "ingest-bucket already exists");
    let message = report.message.unwrap();
    assert!(message.contains("ended ROLLBACK_COMPLETE"), "{message}");
    assert!(
        message.contains("ingest-bucket already exists"),
        "{message}"
    );
    assert!(!message.contains("cancelled"), "{message}");
}

#[test]
fn update_rollback_failed_says_how_to_continue() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock)
        .with_stack("p-app-dev", "CREATE_COMPLETE", "old", &[])
        .script(&[
            (0.0, Step::Stack("UPDATE_IN_PROGRESS")),
            (
                2.0,
                Step::Resource(
                    "Queue",
                    "UPDATE_FAILED",
                    Some("Access denied for sqs:SetQueueAttributes"),
                ),
            ),
            (3.0, Step::Stack("UPDATE_ROLLBACK_IN_PROGRESS")),
            (
                6.0,
                Step::Resource("Queue", "UPDATE_FAILED", Some("Queue is being deleted")),
            ),
            (7.0, Step::Stack("UPDATE_ROLLBACK_FAILED")),
        ]);
    let report = deploy(
        &cfn,
        &desired(Method::ChangeSet, &[]),
        &AssumeYes,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.status.as_deref(), Some("UPDATE_ROLLBACK_FAILED"));
    assert_eq!(report.failures.len(), 2);
    let message = report.message.unwrap();
    assert!(
        message.contains("continue-update-rollback --stack-name p-app-dev"),
        "{message}"
    );

    // The next deploy does not try to update a stuck stack.
    let again = deploy(
        &cfn,
        &desired(Method::ChangeSet, &[]),
        &AssumeYes,
        &Recorder::default(),
    );
    assert_eq!(again.outcome, Outcome::Failed);
    assert!(again.message.unwrap().contains("is UPDATE_ROLLBACK_FAILED"));
    assert_eq!(
        cfn.calls()
            .iter()
            .filter(|c| c.starts_with("create_change_set"))
            .count(),
        1
    );
}

#[test]
fn an_operation_already_running_is_waited_for_not_trampled() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).with_stack("p-app-dev", "UPDATE_IN_PROGRESS", "old", &[]);
    // Someone else's update ends at 20 s.
    cfn.then(&[
        (12.0, Step::Resource("Queue", "UPDATE_COMPLETE", None)),
        (20.0, Step::Stack("UPDATE_COMPLETE")),
    ]);
    cfn.start("p-app-dev", "UPDATE");
    let rec = Recorder::default();
    let report = deploy(&cfn, &desired(Method::ChangeSet, &[]), &AssumeYes, &rec);
    assert_eq!(report.outcome, Outcome::Updated, "{:?}", report.message);
    let first_change = cfn.world.borrow().calls[0].clone();
    assert!(
        first_change.1.starts_with("create_change_set"),
        "{first_change:?}"
    );
    assert!(
        first_change.0 >= Duration::from_secs(20),
        "changed at {:?}",
        first_change.0
    );
    let lines = rec.lines();
    assert!(
        lines[0].contains("UPDATE_IN_PROGRESS: another operation is running"),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"app event Queue UPDATE_COMPLETE".to_string()),
        "{lines:?}"
    );
}

#[test]
fn throttling_while_waiting_is_ridden_out() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).script(CREATE_OK);
    let rec = Recorder::default();
    let d = desired(Method::Direct, &[]);
    let settled = block(async {
        cfn.create_stack(&d.request).await.unwrap();
        cfn.world.borrow_mut().throttle = 5;
        settle(&cfn, &clock, &rec, "app", "p-app-dev", None, false).await
    });
    assert_eq!(settled.unwrap().status, "CREATE_COMPLETE");
    assert_eq!(
        cfn.world.borrow().throttle,
        0,
        "every throttled poll was retried"
    );

    // Throttled without end, the wait gives up with the throttling error.
    let cfn = Scripted::new(&clock).script(CREATE_OK);
    let settled = block(async {
        cfn.create_stack(&d.request).await.unwrap();
        cfn.world.borrow_mut().throttle = 1000;
        settle(&cfn, &clock, &rec, "app", "p-app-dev", None, false).await
    });
    assert_eq!(settled.unwrap_err().kind, ErrorKind::Throttled);
}

#[test]
fn a_stack_deleted_underneath_is_an_error() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock)
        .with_stack("p-app-dev", "CREATE_COMPLETE", "old", &[])
        .script(&[(0.0, Step::Stack("UPDATE_IN_PROGRESS")), (10.0, Step::Gone)]);
    let report = deploy(
        &cfn,
        &desired(Method::ChangeSet, &[]),
        &AssumeYes,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(report
        .message
        .unwrap()
        .contains("was deleted while stackctl waited"),);
}

#[test]
fn a_failed_first_create_is_deleted_and_created_again_after_confirmation() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).with_stack("p-app-dev", "ROLLBACK_COMPLETE", "", &[]);
    let no = Answer::new(false);
    let report = deploy(
        &cfn,
        &desired(Method::ChangeSet, &[]),
        &no,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Declined);
    assert!(cfn.calls().is_empty(), "{:?}", cfn.calls());
    assert!(no.asked.lock().unwrap()[0].contains("ROLLBACK_COMPLETE after a failed first create"));

    let yes = Answer::new(true);
    let report = deploy(
        &cfn,
        &desired(Method::ChangeSet, &[]),
        &yes,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Created, "{:?}", report.message);
    let calls = cfn.calls();
    assert_eq!(calls[0], "delete_stack p-app-dev");
    assert_eq!(calls[1], "create_change_set p-app-dev create=true");
    assert!(calls[2].starts_with("execute_change_set"), "{calls:?}");
}

#[test]
fn nothing_changed_means_no_change_set() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).with_stack(
        "p-app-dev",
        "UPDATE_COMPLETE",
        TEMPLATE,
        &[("Size", "5")],
    );
    let report = deploy(
        &cfn,
        &desired(Method::ChangeSet, &[]),
        &AssumeYes,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Unchanged, "{:?}", report.message);
    assert!(cfn.calls().is_empty(), "{:?}", cfn.calls());
    assert_eq!(report.outputs["Out"], "p-app-dev-out");

    // A parameter that differs from the deployed value is a change.
    let report = deploy(
        &cfn,
        &desired(Method::ChangeSet, &[("Size", "6")]),
        &AssumeYes,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Updated, "{:?}", report.message);
    assert_eq!(cfn.calls()[0], "create_change_set p-app-dev create=false");
}

#[test]
fn an_empty_change_set_is_no_changes_and_is_deleted() {
    let clock = FakeClock::default();
    let cfn =
        Scripted::new(&clock).with_stack("p-app-dev", "UPDATE_COMPLETE", "different text", &[]);
    cfn.world.borrow_mut().change_set_fails = Some(
        "The submitted information didn't contain changes. Submit different information to create a change set.",
    );
    let report = deploy(
        &cfn,
        &desired(Method::ChangeSet, &[]),
        &AssumeYes,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Unchanged, "{:?}", report.message);
    let calls = cfn.calls();
    assert!(calls[1].starts_with("delete_change_set"), "{calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("execute")));

    // Any other failure of the change set is an error with CloudFormation's reason.
    cfn.world.borrow_mut().change_set_fails =
        Some("Template error: instance of Fn::GetAtt references undefined resource Nope");
    let report = deploy(
        &cfn,
        &desired(Method::ChangeSet, &[]),
        &AssumeYes,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(report
        .message
        .unwrap()
        .contains("references undefined resource Nope"));
}

#[test]
fn a_declined_change_set_is_deleted_with_the_empty_stack_it_made() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock);
    let no = Answer::new(false);
    let report = deploy(
        &cfn,
        &desired(Method::ChangeSet, &[]),
        &no,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Declined);
    assert_eq!(no.asked.lock().unwrap()[0], "Deploy 1 change to p-app-dev?");
    let calls = cfn.calls();
    assert!(calls[1].starts_with("delete_change_set"), "{calls:?}");
    assert_eq!(calls[2], "delete_stack p-app-dev");
}

#[test]
fn the_direct_method_creates_then_updates_and_knows_no_updates() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).script(CREATE_OK);
    let report = deploy(
        &cfn,
        &desired(Method::Direct, &[]),
        &AssumeYes,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Created, "{:?}", report.message);
    assert_eq!(cfn.calls(), ["create_stack p-app-dev"]);
    assert_eq!(report.changes.len(), 1, "the preview lists the queue");

    // Text differs (so stackctl asks), CloudFormation says nothing to do.
    cfn.world
        .borrow_mut()
        .stacks
        .get_mut("p-app-dev")
        .unwrap()
        .template = "other".into();
    cfn.world.borrow_mut().update_no_changes = true;
    let report = deploy(
        &cfn,
        &desired(Method::Direct, &[]),
        &AssumeYes,
        &Recorder::default(),
    );
    assert_eq!(report.outcome, Outcome::Unchanged, "{:?}", report.message);
}

#[test]
fn destroy_turns_protection_off_only_when_allowed_and_reports_delete_failures() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).with_stack("p-app-dev", "UPDATE_COMPLETE", TEMPLATE, &[]);
    cfn.world
        .borrow_mut()
        .stacks
        .get_mut("p-app-dev")
        .unwrap()
        .protection = true;
    let rec = Recorder::default();
    let engine = Engine {
        cfn: &cfn,
        clock: &clock,
        observer: &rec,
        confirm: &AssumeYes,
    };
    let refused = block(engine.destroy("app", "p-app-dev", false));
    assert_eq!(refused.outcome, Outcome::Failed);
    assert!(refused.message.unwrap().contains("termination protection"));
    assert!(cfn.calls().is_empty());

    cfn.then(&[
        (0.0, Step::Stack("DELETE_IN_PROGRESS")),
        (
            2.0,
            Step::Resource(
                "Bucket",
                "DELETE_FAILED",
                Some("The bucket you tried to delete is not empty"),
            ),
        ),
        (3.0, Step::Stack("DELETE_FAILED")),
    ]);
    let failed = block(engine.destroy("app", "p-app-dev", true));
    assert_eq!(
        cfn.calls()[..2],
        [
            "set_termination_protection p-app-dev false",
            "delete_stack p-app-dev"
        ]
    );
    assert_eq!(failed.outcome, Outcome::Failed);
    let message = failed.message.unwrap();
    assert!(message.contains("ended DELETE_FAILED"), "{message}");
    assert!(message.contains("is not empty"), "{message}");
    assert!(message.contains("--empty-buckets"), "{message}");

    // Once fixed, the delete goes through and the stack is gone.
    cfn.world
        .borrow_mut()
        .stacks
        .get_mut("p-app-dev")
        .unwrap()
        .status = "DELETE_FAILED".into();
    let deleted = block(engine.destroy("app", "p-app-dev", true));
    assert_eq!(deleted.outcome, Outcome::Deleted, "{:?}", deleted.message);
    assert!(cfn.find("p-app-dev").is_none());
    let gone = block(engine.destroy("app", "p-app-dev", true));
    assert_eq!(gone.outcome, Outcome::NotDeployed);
}

#[test]
fn effective_parameters_fill_in_template_defaults() {
    let p = effective_parameters(TEMPLATE, &BTreeMap::new());
    assert_eq!(p["Size"], "5");
    let p = effective_parameters(
        TEMPLATE,
        &BTreeMap::from([("Size".to_string(), "9".to_string())]),
    );
    assert_eq!(p["Size"], "9");
}

#[test]
fn change_set_names_are_valid() {
    let name = change_set_name(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_366_227));
    assert_eq!(name, "stackctl-2026-11-22T16-50-27Z");
}

#[test]
fn a_protected_environment_gets_termination_protection() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock);
    let mut d = desired(Method::ChangeSet, &[]);
    d.request.termination_protection = true;
    let report = deploy(&cfn, &d, &AssumeYes, &Recorder::default());
    assert_eq!(report.outcome, Outcome::Created, "{:?}", report.message);
    assert_eq!(
        cfn.calls().last().map(String::as_str),
        Some("set_termination_protection p-app-dev true")
    );
    // Already on: an unchanged redeploy sends nothing at all.
    let before = cfn.calls().len();
    let report = deploy(&cfn, &d, &AssumeYes, &Recorder::default());
    assert_eq!(report.outcome, Outcome::Unchanged, "{:?}", report.message);
    assert_eq!(cfn.calls().len(), before);
}

fn drift(
    logical: &str,
    kind: &str,
    status: &str,
    diffs: &[(&str, &str, &str, &str)],
) -> ResourceDrift {
    ResourceDrift {
        logical_id: logical.into(),
        resource_type: kind.into(),
        physical_id: Some(format!("p-{logical}")),
        status: status.into(),
        differences: diffs
            .iter()
            .map(|(path, expected, actual, kind)| PropertyDifference {
                path: path.to_string(),
                expected: expected.to_string(),
                actual: actual.to_string(),
                kind: kind.to_string(),
            })
            .collect(),
    }
}

#[test]
fn drift_detection_is_waited_for_and_drifted_resources_read_like_a_diff() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).with_stack("p-app-dev", "UPDATE_COMPLETE", TEMPLATE, &[]);
    cfn.world.borrow_mut().drifts.insert(
        "p-app-dev".into(),
        vec![
            drift("Queue", "AWS::SQS::Queue", "IN_SYNC", &[]),
            drift(
                "Fn",
                "AWS::Lambda::Function",
                "MODIFIED",
                &[
                    ("/Properties/MemorySize", "256", "512", "NOT_EQUAL"),
                    (
                        "/Properties/Tags/1",
                        "null",
                        r#"{"Key":"owner","Value":"bob"}"#,
                        "ADD",
                    ),
                ],
            ),
            drift("Table", "AWS::DynamoDB::Table", "DELETED", &[]),
            drift("Alarm", "AWS::CloudWatch::Alarm", "NOT_CHECKED", &[]),
        ],
    );
    let report = block(super::drift::detect(&cfn, &clock, "app", "p-app-dev")).unwrap();
    assert!(report.deployed && report.drifted());
    assert_eq!(report.status, "DRIFTED");
    // Detection took 4 s; stackctl noticed within one poll.
    let done = Duration::from_secs(4);
    assert!(
        clock.now() >= done && clock.now() - done <= MAX_POLL,
        "{:?}",
        clock.now()
    );
    let ids: Vec<&str> = report
        .resources
        .iter()
        .map(|r| r.logical_id.as_str())
        .collect();
    assert_eq!(ids, ["Fn", "Table"]);
    assert_eq!(report.not_checked, ["Alarm"]);
    let fn_change = &report.resources[0];
    assert_eq!(fn_change.properties[0].path, "Properties.MemorySize");
    assert_eq!(fn_change.properties[0].before, Some(serde_json::json!(256)));
    assert_eq!(fn_change.properties[0].after, Some(serde_json::json!(512)));
    assert_eq!(fn_change.properties[1].before, None);
    assert_eq!(report.resources[1].action, crate::diff::Action::Remove);
    let text = report.to_string();
    assert!(
        text.starts_with("~ p-app-dev (app): 2 resources drifted (template -> actual)"),
        "{text}"
    );
    assert!(text.contains("MemorySize: 256 -> 512"), "{text}");
    assert!(text.contains("- Table  AWS::DynamoDB::Table"), "{text}");
    assert!(
        text.ends_with("not checked (CloudFormation cannot detect their drift): Alarm"),
        "{text}"
    );
}

#[test]
fn a_stack_in_sync_and_one_not_deployed() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).with_stack("p-app-dev", "CREATE_COMPLETE", TEMPLATE, &[]);
    let report = block(super::drift::detect(&cfn, &clock, "app", "p-app-dev")).unwrap();
    assert_eq!(report.status, "IN_SYNC");
    assert!(!report.drifted());
    assert_eq!(report.to_string(), "= p-app-dev (app): in sync");
    let none = block(super::drift::detect(&cfn, &clock, "web", "p-web-dev")).unwrap();
    assert!(!none.deployed);
    assert_eq!(none.status, "NOT_CHECKED");
    assert!(!cfn.calls().iter().any(|c| c == "detect_drift p-web-dev"));
}

#[test]
fn an_endpoint_without_drift_detection_says_so() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).with_stack("p-app-dev", "CREATE_COMPLETE", TEMPLATE, &[]);
    cfn.world.borrow_mut().drift_unsupported = true;
    let err = block(super::drift::detect(&cfn, &clock, "app", "p-app-dev")).unwrap_err();
    assert!(
        err.message.starts_with(
            "the endpoint does not support drift detection: DetectStackDrift on p-app-dev got an error page"
        ),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("hint: the local emulator (moto) does not implement drift detection"),
        "{}",
        err.message
    );
}

#[test]
fn an_endpoint_without_termination_protection_says_so_and_deletes_nothing() {
    let clock = FakeClock::default();
    let cfn = Scripted::new(&clock).with_stack("p-app-dev", "UPDATE_COMPLETE", TEMPLATE, &[]);
    {
        let mut w = cfn.world.borrow_mut();
        w.stacks.get_mut("p-app-dev").unwrap().protection = true;
        w.protection_unsupported = true;
    }
    let rec = Recorder::default();
    let engine = Engine {
        cfn: &cfn,
        clock: &clock,
        observer: &rec,
        confirm: &AssumeYes,
    };
    let report = block(engine.destroy("app", "p-app-dev", true));
    assert_eq!(report.outcome, Outcome::Failed);
    let message = report.message.unwrap();
    assert!(
        message
            .starts_with("p-app-dev: the endpoint does not implement UpdateTerminationProtection"),
        "{message}"
    );
    assert!(
        message.contains("hint: set `termination_protection: false`"),
        "{message}"
    );
    assert!(!cfn.calls().iter().any(|c| c.starts_with("delete_stack")));
}
