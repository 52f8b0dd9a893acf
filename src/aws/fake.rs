//! In-memory fakes of the AWS traits, for unit tests of code that reads
//! AWS before it changes anything (desired state, destroy's plan): a
//! CloudFormation holding deployed stacks and S3 buckets holding objects.
//! They answer reads and record them; a call that would change AWS fails
//! the test, since the code under test must not make one.

use super::buckets::Buckets;
use super::cloudformation::{
    CfnError, ChangeSetInfo, ChangeSetRequest, CloudFormation, DriftDetection, ErrorKind,
    ResourceDrift, StackEvent, StackInfo, StackRequest, StackResource,
};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// One deployed stack.
#[derive(Debug, Clone, Default)]
pub struct FakeStack {
    /// Its template text.
    pub template: String,
    /// Parameter values.
    pub parameters: BTreeMap<String, String>,
    /// Outputs.
    pub outputs: BTreeMap<String, String>,
    /// Its resources.
    pub resources: Vec<StackResource>,
    /// Its status (empty: `CREATE_COMPLETE`).
    pub status: String,
    /// Stack tags.
    pub tags: BTreeMap<String, String>,
}

impl FakeStack {
    /// A stack deployed from `template`, with nothing else.
    pub fn new(template: &str) -> Self {
        Self {
            template: template.to_string(),
            ..Self::default()
        }
    }

    /// With output `key` = `value`.
    pub fn output(mut self, key: &str, value: &str) -> Self {
        self.outputs.insert(key.into(), value.into());
        self
    }

    /// With parameter `key` = `value`.
    pub fn parameter(mut self, key: &str, value: &str) -> Self {
        self.parameters.insert(key.into(), value.into());
        self
    }

    /// In status `status`.
    pub fn status(mut self, status: &str) -> Self {
        self.status = status.into();
        self
    }

    /// With resource `logical_id` of `resource_type`, named `physical_id`.
    pub fn resource(mut self, logical_id: &str, resource_type: &str, physical_id: &str) -> Self {
        self.resources.push(StackResource {
            logical_id: logical_id.into(),
            physical_id: Some(physical_id.into()),
            resource_type: resource_type.into(),
            status: "CREATE_COMPLETE".into(),
        });
        self
    }
}

/// A CloudFormation of deployed stacks, by stack name.
#[derive(Default)]
pub struct FakeCloudFormation {
    stacks: BTreeMap<String, FakeStack>,
    failing: BTreeMap<String, CfnError>,
    reads: RefCell<Vec<String>>,
}

impl FakeCloudFormation {
    /// With stack `name` deployed as `stack`.
    pub fn with(mut self, name: &str, stack: FakeStack) -> Self {
        self.stacks.insert(name.to_string(), stack);
        self
    }

    /// Where every call about stack `name` fails with `error`.
    pub fn failing(mut self, name: &str, error: CfnError) -> Self {
        self.failing.insert(name.to_string(), error);
        self
    }

    /// Every call made, in order (`describe NAME`, `template NAME`, ...).
    pub fn reads(&self) -> Vec<String> {
        self.reads.borrow().clone()
    }

    fn read(&self, call: &str, stack: &str) -> Result<&FakeStack, CfnError> {
        self.reads.borrow_mut().push(format!("{call} {stack}"));
        if let Some(e) = self.failing.get(stack) {
            return Err(e.clone());
        }
        self.stacks.get(stack).ok_or_else(|| {
            CfnError::new(
                ErrorKind::NotFound,
                format!("Stack with id {stack} does not exist"),
            )
        })
    }
}

/// Fails the test: the code under test changed AWS.
fn changes(call: &str) -> ! {
    panic!("{call}: the fake answers reads only, and this code must change nothing")
}

impl CloudFormation for FakeCloudFormation {
    async fn describe(&self, stack: &str) -> Result<Option<StackInfo>, CfnError> {
        let s = match self.read("describe", stack) {
            Ok(s) => s,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(StackInfo {
            id: format!("arn:aws:cloudformation:us-east-1:1:stack/{stack}/1"),
            name: stack.to_string(),
            status: if s.status.is_empty() {
                "CREATE_COMPLETE".into()
            } else {
                s.status.clone()
            },
            reason: None,
            created: None,
            updated: None,
            parameters: s.parameters.clone(),
            outputs: s.outputs.clone(),
            tags: s.tags.clone(),
            termination_protection: false,
        }))
    }

    async fn template(&self, stack: &str) -> Result<String, CfnError> {
        Ok(self.read("template", stack)?.template.clone())
    }

    async fn events(&self, stack: &str, _: Option<&str>) -> Result<Vec<StackEvent>, CfnError> {
        self.read("events", stack)?;
        Ok(Vec::new())
    }

    async fn resources(&self, stack: &str) -> Result<Vec<StackResource>, CfnError> {
        Ok(self.read("resources", stack)?.resources.clone())
    }

    async fn create_change_set(&self, _: &ChangeSetRequest) -> Result<String, CfnError> {
        changes("create_change_set")
    }

    async fn describe_change_set(&self, _: &str) -> Result<ChangeSetInfo, CfnError> {
        changes("describe_change_set (of a change set it cannot have made)")
    }

    async fn execute_change_set(&self, _: &str) -> Result<(), CfnError> {
        changes("execute_change_set")
    }

    async fn delete_change_set(&self, _: &str) -> Result<(), CfnError> {
        changes("delete_change_set")
    }

    async fn create_stack(&self, _: &StackRequest) -> Result<String, CfnError> {
        changes("create_stack")
    }

    async fn update_stack(&self, _: &StackRequest) -> Result<(), CfnError> {
        changes("update_stack")
    }

    async fn delete_stack(&self, _: &str) -> Result<(), CfnError> {
        changes("delete_stack")
    }

    async fn set_termination_protection(&self, _: &str, _: bool) -> Result<(), CfnError> {
        changes("set_termination_protection")
    }

    async fn detect_drift(&self, _: &str) -> Result<String, CfnError> {
        changes("detect_drift")
    }

    async fn drift_detection(&self, _: &str) -> Result<DriftDetection, CfnError> {
        changes("drift_detection (of a detection it cannot have started)")
    }

    async fn resource_drifts(&self, stack: &str) -> Result<Vec<ResourceDrift>, CfnError> {
        self.read("resource_drifts", stack)?;
        Ok(Vec::new())
    }
}

/// S3 buckets and how many objects each holds.
#[derive(Default)]
pub struct FakeBuckets {
    objects: BTreeMap<String, usize>,
}

impl FakeBuckets {
    /// With bucket `name` holding `objects` objects.
    pub fn with(mut self, name: &str, objects: usize) -> Self {
        self.objects.insert(name.to_string(), objects);
        self
    }
}

impl Buckets for FakeBuckets {
    async fn count(&self, bucket: &str, limit: usize) -> anyhow::Result<Option<usize>> {
        Ok(self.objects.get(bucket).map(|n| (*n).min(limit)))
    }

    async fn empty(&self, _: &str) -> anyhow::Result<usize> {
        changes("empty")
    }

    async fn delete(&self, _: &str) -> anyhow::Result<()> {
        changes("delete")
    }
}
