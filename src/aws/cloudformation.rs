//! CloudFormation in stackctl's words: the calls the deploy engine, diff,
//! status and destroy make, the values they return, and the one place
//! ([`classify`]) where CloudFormation's message-only conditions ("No
//! updates are to be performed", "does not exist", ...) become kinds.
//!
//! [`SdkCloudFormation`] is the thin SDK implementation; the engine's tests
//! use a scripted one behind the same trait.

use super::{describe_sdk_error, SdkFailure};
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, Tag, TemplateStage};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

/// The largest template CloudFormation takes inline (`TemplateBody`); a
/// larger one must be uploaded to S3 and passed by URL.
pub const MAX_TEMPLATE_BODY: usize = 51_200;

/// What went wrong, as far as the engine needs to tell cases apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request would change nothing.
    NoChanges,
    /// The stack (or change set) does not exist.
    NotFound,
    /// Another operation is running on the stack.
    InProgress,
    /// The API throttled us even after the SDK's retries.
    Throttled,
    /// The caller may not do this (IAM).
    Denied,
    /// No AWS credentials could be found.
    Credentials,
    /// The endpoint could not be reached.
    Unreachable,
    /// CloudFormation rejected the request or the template (ValidationError).
    Rejected,
    /// The endpoint answered with something that is not an AWS response
    /// (an emulator's HTML error page, say).
    BadResponse,
    /// Anything else.
    Other,
}

/// A failed CloudFormation call: its kind and one line for the user (with a
/// `hint:` line where there is one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CfnError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What to tell the user.
    pub message: String,
}

impl CfnError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Sorts CloudFormation's answers into kinds. CloudFormation reports several
/// conditions only through its message text (and the emulator reports them
/// differently again); this is the one function that reads those texts.
pub fn classify(code: Option<&str>, message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    if m.contains("no updates are to be performed")
        || m.contains("didn't contain changes")
        || m.contains("did not contain changes")
    {
        return ErrorKind::NoChanges;
    }
    match code {
        Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded") => {
            return ErrorKind::Throttled
        }
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation") => {
            return ErrorKind::Denied
        }
        Some("ChangeSetNotFound" | "ChangeSetNotFoundException" | "StackNotFoundException") => {
            return ErrorKind::NotFound
        }
        Some("OperationInProgressException" | "ConcurrentResourcesLimitExceeded") => {
            return ErrorKind::InProgress
        }
        Some("InvalidClientTokenId" | "UnrecognizedClientException" | "ExpiredToken") => {
            return ErrorKind::Credentials
        }
        _ => {}
    }
    if m.contains("rate exceeded") {
        ErrorKind::Throttled
    } else if m.contains("does not exist") {
        ErrorKind::NotFound
    } else if m.contains("_in_progress state")
        || m.contains("is in progress")
        || m.contains("currently being updated")
        || m.contains("operation in progress")
    {
        ErrorKind::InProgress
    } else if m.contains("not authorized to perform") || m.contains("access denied") {
        ErrorKind::Denied
    } else if code == Some("ValidationError") || code == Some("InsufficientCapabilitiesException") {
        ErrorKind::Rejected
    } else {
        ErrorKind::Other
    }
}

/// One stack as deployed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackInfo {
    /// The stack's ARN.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `CREATE_COMPLETE`, `UPDATE_IN_PROGRESS`, ...
    pub status: String,
    /// Why it is in that status, when CloudFormation says.
    pub reason: Option<String>,
    /// When it was created.
    #[serde(serialize_with = "rfc3339_opt")]
    pub created: Option<SystemTime>,
    /// When it was last updated.
    #[serde(serialize_with = "rfc3339_opt")]
    pub updated: Option<SystemTime>,
    /// Parameter values.
    pub parameters: BTreeMap<String, String>,
    /// Outputs by key.
    pub outputs: BTreeMap<String, String>,
    /// Stack tags.
    pub tags: BTreeMap<String, String>,
    /// Whether termination protection is on.
    pub termination_protection: bool,
}

/// One entry of a stack's event log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackEvent {
    /// Unique id (events are read back to the last one seen).
    pub id: String,
    /// When.
    #[serde(serialize_with = "rfc3339_opt")]
    pub time: Option<SystemTime>,
    /// Logical id of the resource (the stack's own name for stack events).
    pub logical_id: String,
    /// `AWS::Lambda::Function`, ... (`AWS::CloudFormation::Stack` for the stack).
    pub resource_type: String,
    /// `CREATE_IN_PROGRESS`, `CREATE_FAILED`, ...
    pub status: String,
    /// CloudFormation's reason, for failures especially.
    pub reason: Option<String>,
}

impl StackEvent {
    /// Whether this event is about the stack itself rather than a resource.
    pub fn is_stack(&self) -> bool {
        self.resource_type == "AWS::CloudFormation::Stack"
    }
}

/// A resource of a deployed stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackResource {
    /// Logical id.
    pub logical_id: String,
    /// Physical id (a bucket's name, a function's name, ...).
    pub physical_id: Option<String>,
    /// Resource type.
    pub resource_type: String,
    /// Its status.
    pub status: String,
}

/// Where a template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// Inline, up to [`MAX_TEMPLATE_BODY`] bytes.
    Body(String),
    /// An S3 URL of an uploaded template.
    Url(String),
}

/// A stack as stackctl wants it: the input of a change set or of a direct
/// create or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRequest {
    /// Stack name.
    pub name: String,
    /// The template.
    pub template: TemplateSource,
    /// Parameter values.
    pub parameters: BTreeMap<String, String>,
    /// Stack tags.
    pub tags: BTreeMap<String, String>,
    /// Termination protection (applied when the stack is created directly).
    pub termination_protection: bool,
}

/// A change set to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetRequest {
    /// The stack it would produce.
    pub stack: StackRequest,
    /// Change set name.
    pub name: String,
    /// True for a stack that does not exist yet.
    pub create: bool,
    /// Shown in the console.
    pub description: String,
}

/// What CloudFormation would do to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedChange {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    /// Logical id.
    pub logical_id: String,
    /// Resource type.
    pub resource_type: String,
    /// `True`, `False` or `Conditional`, where CloudFormation says.
    pub replacement: Option<String>,
}

/// A change set as described.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSetInfo {
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `FAILED`, ...
    pub status: String,
    /// Why, for a failed change set.
    pub reason: Option<String>,
    /// `AVAILABLE`, `UNAVAILABLE`, `EXECUTE_IN_PROGRESS`, ...
    pub execution_status: Option<String>,
    /// The changes.
    pub changes: Vec<PlannedChange>,
    /// The stack's ARN.
    pub stack_id: Option<String>,
}

/// Where a drift detection stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DriftDetection {
    /// `DETECTION_IN_PROGRESS`, `DETECTION_COMPLETE` or `DETECTION_FAILED`.
    pub status: String,
    /// `IN_SYNC`, `DRIFTED`, `UNKNOWN` or `NOT_CHECKED`, once known.
    pub stack_drift_status: Option<String>,
    /// Why detection failed (often: some resources cannot be checked).
    pub reason: Option<String>,
}

/// One property of a resource that differs from its template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PropertyDifference {
    /// CloudFormation's JSON pointer, e.g. `/Properties/MemorySize`.
    pub path: String,
    /// The value the template sets (JSON text).
    pub expected: String,
    /// The value found (JSON text).
    pub actual: String,
    /// `ADD`, `REMOVE` or `NOT_EQUAL`.
    pub kind: String,
}

/// How one resource compares with its template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceDrift {
    /// Logical id.
    pub logical_id: String,
    /// Resource type.
    pub resource_type: String,
    /// Physical id.
    pub physical_id: Option<String>,
    /// `IN_SYNC`, `MODIFIED`, `DELETED` or `NOT_CHECKED`.
    pub status: String,
    /// What differs, for `MODIFIED`.
    pub differences: Vec<PropertyDifference>,
}

/// The CloudFormation calls stackctl makes.
pub trait CloudFormation {
    /// The stack, or `None` when it does not exist.
    fn describe(&self, stack: &str) -> impl Future<Output = Result<Option<StackInfo>, CfnError>>;
    /// The deployed template, exactly as submitted.
    fn template(&self, stack: &str) -> impl Future<Output = Result<String, CfnError>>;
    /// Events newer than the event `after` (all when `None`), newest first.
    fn events(
        &self,
        stack: &str,
        after: Option<&str>,
    ) -> impl Future<Output = Result<Vec<StackEvent>, CfnError>>;
    /// The stack's resources.
    fn resources(&self, stack: &str) -> impl Future<Output = Result<Vec<StackResource>, CfnError>>;
    /// Creates a change set; returns its ARN.
    fn create_change_set(
        &self,
        request: &ChangeSetRequest,
    ) -> impl Future<Output = Result<String, CfnError>>;
    /// Describes a change set by ARN.
    fn describe_change_set(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<ChangeSetInfo, CfnError>>;
    /// Executes a change set by ARN.
    fn execute_change_set(&self, arn: &str) -> impl Future<Output = Result<(), CfnError>>;
    /// Deletes a change set by ARN.
    fn delete_change_set(&self, arn: &str) -> impl Future<Output = Result<(), CfnError>>;
    /// Creates a stack directly; returns its ARN.
    fn create_stack(
        &self,
        request: &StackRequest,
    ) -> impl Future<Output = Result<String, CfnError>>;
    /// Updates a stack directly.
    fn update_stack(&self, request: &StackRequest) -> impl Future<Output = Result<(), CfnError>>;
    /// Starts deleting a stack.
    fn delete_stack(&self, stack: &str) -> impl Future<Output = Result<(), CfnError>>;
    /// Turns termination protection on or off.
    fn set_termination_protection(
        &self,
        stack: &str,
        on: bool,
    ) -> impl Future<Output = Result<(), CfnError>>;
    /// Starts drift detection on a stack; returns the detection's id.
    fn detect_drift(&self, stack: &str) -> impl Future<Output = Result<String, CfnError>>;
    /// Where a drift detection stands.
    fn drift_detection(&self, id: &str) -> impl Future<Output = Result<DriftDetection, CfnError>>;
    /// Each resource's drift, as the last detection found it.
    fn resource_drifts(
        &self,
        stack: &str,
    ) -> impl Future<Output = Result<Vec<ResourceDrift>, CfnError>>;
}

/// [`CloudFormation`] through the AWS SDK.
pub struct SdkCloudFormation {
    client: aws_sdk_cloudformation::Client,
}

impl SdkCloudFormation {
    /// A client for `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_cloudformation::Client::new(sdk),
        }
    }
}

/// Turns an SDK error into a [`CfnError`] with `context` ("describing stack X").
fn fail<E>(
    context: &str,
    err: aws_sdk_cloudformation::error::SdkError<E, super::HttpResponse>,
) -> CfnError
where
    E: std::error::Error + aws_sdk_cloudformation::error::ProvideErrorMetadata + 'static,
{
    let SdkFailure {
        code,
        message,
        text,
        class,
    } = describe_sdk_error(context, &err);
    let kind = match class {
        Some(kind) => kind,
        None => classify(code.as_deref(), message.as_deref().unwrap_or_default()),
    };
    CfnError::new(kind, super::with_hint(kind, text))
}

fn time(t: Option<&aws_sdk_cloudformation::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn parameters(map: &BTreeMap<String, String>) -> Option<Vec<Parameter>> {
    Some(
        map.iter()
            .map(|(k, v)| {
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build()
            })
            .collect(),
    )
}

fn tags(map: &BTreeMap<String, String>) -> Option<Vec<Tag>> {
    Some(
        map.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect(),
    )
}

/// Every capability: stackctl's templates name IAM roles, and a user's raw
/// resources may hold nested stacks or macros. Reviewing a change set is
/// where a user sees what they do.
fn capabilities() -> Option<Vec<Capability>> {
    Some(vec![
        Capability::CapabilityIam,
        Capability::CapabilityNamedIam,
        Capability::CapabilityAutoExpand,
    ])
}

impl CloudFormation for SdkCloudFormation {
    async fn describe(&self, stack: &str) -> Result<Option<StackInfo>, CfnError> {
        let out = match self.client.describe_stacks().stack_name(stack).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = fail(&format!("describing stack {stack}"), e);
                return if e.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let Some(s) = out.stacks().first() else {
            return Ok(None);
        };
        Ok(Some(StackInfo {
            id: s.stack_id().unwrap_or_default().to_string(),
            name: s.stack_name().unwrap_or(stack).to_string(),
            status: s
                .stack_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            reason: s.stack_status_reason().map(str::to_string),
            created: time(s.creation_time()),
            updated: time(s.last_updated_time()),
            parameters: s
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_string(),
                        p.resolved_value()
                            .or(p.parameter_value())
                            .unwrap_or_default()
                            .to_string(),
                    ))
                })
                .collect(),
            outputs: s
                .outputs()
                .iter()
                .filter_map(|o| {
                    Some((
                        o.output_key()?.to_string(),
                        o.output_value().unwrap_or_default().to_string(),
                    ))
                })
                .collect(),
            tags: s
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect(),
            termination_protection: s.enable_termination_protection().unwrap_or(false),
        }))
    }

    async fn template(&self, stack: &str) -> Result<String, CfnError> {
        let out = self
            .client
            .get_template()
            .stack_name(stack)
            .template_stage(TemplateStage::Original)
            .send()
            .await
            .map_err(|e| fail(&format!("reading the template of {stack}"), e))?;
        Ok(out.template_body().unwrap_or_default().to_string())
    }

    async fn events(&self, stack: &str, after: Option<&str>) -> Result<Vec<StackEvent>, CfnError> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_stack_events()
                .stack_name(stack)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| fail(&format!("reading the events of {stack}"), e))?;
            for e in out.stack_events() {
                let id = e.event_id().unwrap_or_default();
                if Some(id) == after {
                    return Ok(events);
                }
                events.push(StackEvent {
                    id: id.to_string(),
                    time: time(e.timestamp()),
                    logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: e.resource_type().unwrap_or_default().to_string(),
                    status: e
                        .resource_status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: e.resource_status_reason().map(str::to_string),
                });
            }
            // Without a marker only the newest page is needed: the caller
            // wants to know where the log ends, not its history.
            match out.next_token() {
                Some(t) if after.is_some() => token = Some(t.to_string()),
                _ => return Ok(events),
            }
        }
    }

    async fn resources(&self, stack: &str) -> Result<Vec<StackResource>, CfnError> {
        let mut resources = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_stack_resources()
                .stack_name(stack)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| fail(&format!("listing the resources of {stack}"), e))?;
            for r in out.stack_resource_summaries() {
                resources.push(StackResource {
                    logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
                    physical_id: r.physical_resource_id().map(str::to_string),
                    resource_type: r.resource_type().unwrap_or_default().to_string(),
                    status: r
                        .resource_status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                });
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(resources),
            }
        }
    }

    async fn create_change_set(&self, request: &ChangeSetRequest) -> Result<String, CfnError> {
        let s = &request.stack;
        let mut call = self
            .client
            .create_change_set()
            .stack_name(&s.name)
            .change_set_name(&request.name)
            .description(&request.description)
            .change_set_type(if request.create {
                ChangeSetType::Create
            } else {
                ChangeSetType::Update
            })
            .set_parameters(parameters(&s.parameters))
            .set_tags(tags(&s.tags))
            .set_capabilities(capabilities());
        call = match &s.template {
            TemplateSource::Body(b) => call.template_body(b),
            TemplateSource::Url(u) => call.template_url(u),
        };
        let out = call
            .send()
            .await
            .map_err(|e| fail(&format!("creating a change set for {}", s.name), e))?;
        out.id().map(str::to_string).ok_or_else(|| {
            CfnError::new(
                ErrorKind::BadResponse,
                format!(
                    "creating a change set for {}: the answer holds no change set id",
                    s.name
                ),
            )
        })
    }

    async fn describe_change_set(&self, arn: &str) -> Result<ChangeSetInfo, CfnError> {
        let mut info: Option<ChangeSetInfo> = None;
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_change_set()
                .change_set_name(arn)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| fail(&format!("describing change set {arn}"), e))?;
            let page = out.changes().iter().filter_map(|c| {
                let r = c.resource_change()?;
                Some(PlannedChange {
                    action: r
                        .action()
                        .map(|a| a.as_str().to_string())
                        .unwrap_or_default(),
                    logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: r.resource_type().unwrap_or_default().to_string(),
                    replacement: r.replacement().map(|x| x.as_str().to_string()),
                })
            });
            match &mut info {
                Some(i) => i.changes.extend(page),
                None => {
                    info = Some(ChangeSetInfo {
                        status: out
                            .status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                        reason: out.status_reason().map(str::to_string),
                        execution_status: out.execution_status().map(|s| s.as_str().to_string()),
                        changes: page.collect(),
                        stack_id: out.stack_id().map(str::to_string),
                    })
                }
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(info.unwrap_or_default()),
            }
        }
    }

    async fn execute_change_set(&self, arn: &str) -> Result<(), CfnError> {
        self.client
            .execute_change_set()
            .change_set_name(arn)
            .send()
            .await
            .map_err(|e| fail(&format!("executing change set {arn}"), e))?;
        Ok(())
    }

    async fn delete_change_set(&self, arn: &str) -> Result<(), CfnError> {
        self.client
            .delete_change_set()
            .change_set_name(arn)
            .send()
            .await
            .map_err(|e| fail(&format!("deleting change set {arn}"), e))?;
        Ok(())
    }

    async fn create_stack(&self, s: &StackRequest) -> Result<String, CfnError> {
        let mut call = self
            .client
            .create_stack()
            .stack_name(&s.name)
            .set_parameters(parameters(&s.parameters))
            .set_tags(tags(&s.tags))
            .set_capabilities(capabilities())
            .enable_termination_protection(s.termination_protection);
        call = match &s.template {
            TemplateSource::Body(b) => call.template_body(b),
            TemplateSource::Url(u) => call.template_url(u),
        };
        let out = call
            .send()
            .await
            .map_err(|e| fail(&format!("creating stack {}", s.name), e))?;
        Ok(out.stack_id().unwrap_or(&s.name).to_string())
    }

    async fn update_stack(&self, s: &StackRequest) -> Result<(), CfnError> {
        let mut call = self
            .client
            .update_stack()
            .stack_name(&s.name)
            .set_parameters(parameters(&s.parameters))
            .set_tags(tags(&s.tags))
            .set_capabilities(capabilities());
        call = match &s.template {
            TemplateSource::Body(b) => call.template_body(b),
            TemplateSource::Url(u) => call.template_url(u),
        };
        call.send()
            .await
            .map_err(|e| fail(&format!("updating stack {}", s.name), e))?;
        Ok(())
    }

    async fn delete_stack(&self, stack: &str) -> Result<(), CfnError> {
        self.client
            .delete_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| fail(&format!("deleting stack {stack}"), e))?;
        Ok(())
    }

    async fn detect_drift(&self, stack: &str) -> Result<String, CfnError> {
        let out = self
            .client
            .detect_stack_drift()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| fail(&format!("starting drift detection on {stack}"), e))?;
        Ok(out
            .stack_drift_detection_id()
            .unwrap_or_default()
            .to_string())
    }

    async fn drift_detection(&self, id: &str) -> Result<DriftDetection, CfnError> {
        let out = self
            .client
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(id)
            .send()
            .await
            .map_err(|e| fail(&format!("reading drift detection {id}"), e))?;
        Ok(DriftDetection {
            status: out
                .detection_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            stack_drift_status: out.stack_drift_status().map(|s| s.as_str().to_string()),
            reason: out.detection_status_reason().map(str::to_string),
        })
    }

    async fn resource_drifts(&self, stack: &str) -> Result<Vec<ResourceDrift>, CfnError> {
        let mut drifts = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_stack_resource_drifts()
                .stack_name(stack)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| fail(&format!("reading the resource drifts of {stack}"), e))?;
            for d in out.stack_resource_drifts() {
                drifts.push(ResourceDrift {
                    logical_id: d.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: d.resource_type().unwrap_or_default().to_string(),
                    physical_id: d.physical_resource_id().map(str::to_string),
                    status: d
                        .stack_resource_drift_status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    differences: d
                        .property_differences()
                        .iter()
                        .map(|p| PropertyDifference {
                            path: p.property_path().unwrap_or_default().to_string(),
                            expected: p.expected_value().unwrap_or_default().to_string(),
                            actual: p.actual_value().unwrap_or_default().to_string(),
                            kind: p
                                .difference_type()
                                .map(|t| t.as_str().to_string())
                                .unwrap_or_default(),
                        })
                        .collect(),
                });
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(drifts),
            }
        }
    }

    async fn set_termination_protection(&self, stack: &str, on: bool) -> Result<(), CfnError> {
        self.client
            .update_termination_protection()
            .stack_name(stack)
            .enable_termination_protection(on)
            .send()
            .await
            .map_err(|e| {
                let what = if on { "enabling" } else { "disabling" };
                fail(&format!("{what} termination protection of {stack}"), e)
            })?;
        Ok(())
    }
}

/// Serializes an optional time as RFC 3339 (`2026-11-23T16:50:27Z`).
pub fn rfc3339_opt<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// A time as RFC 3339, to the second.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    aws_sdk_cloudformation::primitives::DateTime::from_secs(secs)
        .fmt(aws_sdk_cloudformation::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_change_messages_of_aws_and_the_emulator_are_recognised() {
        // CreateChangeSet / UpdateStack with nothing to do (AWS and moto).
        assert_eq!(
            classify(Some("ValidationError"), "No updates are to be performed."),
            ErrorKind::NoChanges
        );
        // A change set that FAILED because it is empty (its StatusReason).
        assert_eq!(
            classify(
                None,
                "The submitted information didn't contain changes. Submit different information to create a change set."
            ),
            ErrorKind::NoChanges
        );
    }

    #[test]
    fn other_message_only_conditions() {
        let cases = [
            (Some("ValidationError"), "Stack with id x does not exist", ErrorKind::NotFound),
            (
                Some("ValidationError"),
                "Stack:arn:aws:cloudformation:us-east-1:1:stack/x/1 is in UPDATE_IN_PROGRESS state and can not be updated.",
                ErrorKind::InProgress,
            ),
            (Some("Throttling"), "Rate exceeded", ErrorKind::Throttled),
            (None, "Rate exceeded", ErrorKind::Throttled),
            (
                Some("AccessDenied"),
                "User: arn:aws:iam::1:user/ci is not authorized to perform: cloudformation:CreateChangeSet",
                ErrorKind::Denied,
            ),
            (
                Some("ValidationError"),
                "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template",
                ErrorKind::Rejected,
            ),
            (Some("InvalidClientTokenId"), "The security token included in the request is invalid.", ErrorKind::Credentials),
            (Some("InternalFailure"), "boom", ErrorKind::Other),
        ];
        for (code, message, kind) in cases {
            assert_eq!(classify(code, message), kind, "{code:?} {message}");
        }
    }

    #[test]
    fn times_print_as_rfc3339() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_366_227);
        assert_eq!(rfc3339(t), "2026-11-22T16:50:27Z");
    }
}
