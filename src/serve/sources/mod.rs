//! The event sources the stacks declare, run against the emulator by
//! `stackctl serve`: schedules, queue consumers, table stream consumers,
//! S3 notifications and EventBridge rules with function targets.
//!
//! [`plan`] reads them from each stack's rendered template (what deploy
//! deployed, with its conditions evaluated against the deployed
//! parameters) and the deployed stack's physical ids; each [`Source`]
//! says whether serve can run it and, when not, why. [`run()`] runs them:
//! one tokio task per source, each handing events to [`Invoke`] (the
//! functions, run by serve) and reporting each delivery as a
//! [`SourceEvent`].

mod pattern;
mod run;
pub mod schedule;

pub use run::{run, Options, Running};

use crate::aws::cloudformation::{CfnError, CloudFormation};
use crate::health::Deployed;
use crate::render::Rendered;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The function an event goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The stack, by its name in the project.
    pub stack: String,
    /// The function's resource key.
    pub function: String,
}

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Its response, as JSON (`null` when it answered nothing, or text
    /// that is not JSON).
    Response(Value),
    /// A function error, a timeout, a crash: what happened.
    Failed(String),
}

/// Invokes a function with an event.
pub type Invoke = std::sync::Arc<
    dyn Fn(Target, Value) -> futures_util::future::BoxFuture<'static, Answer> + Send + Sync,
>;

/// One delivery (or one problem) of a source, for serve's log.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEvent {
    /// The [`Source::id`].
    pub source: String,
    /// The function's resource key (empty for a problem of the source itself).
    pub function: String,
    /// Records (messages, stream records, objects, events) in the event.
    pub records: usize,
    /// `Ok`, or why the delivery (or the source) failed.
    pub outcome: Result<(), String>,
    /// From handing the event over to the answer.
    pub duration: Duration,
}

/// Where reports go.
pub type Report = std::sync::Arc<dyn Fn(SourceEvent) + Send + Sync>;

/// What kind of source it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An EventBridge rule or EventBridge Scheduler schedule on a rate or cron.
    Schedule,
    /// An SQS event source mapping.
    Queue,
    /// A DynamoDB stream event source mapping.
    Stream,
    /// An S3 bucket notification to a function.
    S3,
    /// An EventBridge rule with an event pattern.
    EventRule,
}

/// One event source of a deployed stack.
#[derive(Debug, Clone)]
pub struct Source {
    /// `STACK/LOGICAL_ID` (plus `/TARGET` where one resource makes several).
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// The function it invokes.
    pub target: Target,
    /// What it is, for the start-up listing (`rate(1 hour)`, the queue, ...).
    pub describe: String,
    /// `None`: serve runs it; else why it cannot.
    pub unemulated: Option<String>,
    /// What serve does differently from AWS for it.
    pub notes: Vec<String>,
    spec: Spec,
}

impl Source {
    /// Whether serve runs it.
    pub fn emulated(&self) -> bool {
        self.unemulated.is_none()
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.target.function.is_empty() {
            write!(f, "{}: {}", self.id, self.describe)?;
        } else {
            write!(
                f,
                "{} → {}: {}",
                self.id, self.target.function, self.describe
            )?;
        }
        if let Some(why) = &self.unemulated {
            write!(f, " (not run: {why})")?;
        }
        for n in &self.notes {
            write!(f, "\n  note: {n}")?;
        }
        Ok(())
    }
}

/// What running a source takes.
#[derive(Debug, Clone)]
enum Spec {
    Schedule {
        expression: schedule::Expression,
        /// The scheduled event (Events) or the target's input (Scheduler).
        payload: Payload,
    },
    Queue {
        url: String,
        arn: String,
        batch_size: usize,
        window: Duration,
        report_failures: bool,
        filters: Vec<Value>,
    },
    Stream {
        stream_arn: String,
        trim_horizon: bool,
        batch_size: usize,
        filters: Vec<Value>,
        retries: Option<u32>,
    },
    S3 {
        bucket: String,
        /// `s3:ObjectCreated:*`, ...
        events: Vec<String>,
        prefix: String,
        suffix: String,
        /// The bucket tells EventBridge of its objects too.
        event_bridge: bool,
    },
    EventRule {
        rule: String,
        bus: String,
        /// The rule's target as deployed (Id, Arn, Input...).
        target: Value,
    },
    /// Nothing to run.
    None,
}

#[derive(Debug, Clone)]
enum Payload {
    /// EventBridge's `Scheduled Event` for rule `arn`.
    Scheduled { rule_arn: String },
    /// A constant input.
    Input(Value),
}

/// One deployed stack, as [`plan`] reads it.
pub struct StackInput<'a> {
    /// The rendered stack (its template is what deploy deployed).
    pub rendered: &'a Rendered,
    /// Physical ids and parameter values of the deployed stack.
    pub deployed: &'a Deployed,
}

/// Reads the deployed stack of `rendered` (`None`: not deployed) and the
/// account it is in (from the stack's ARN).
pub async fn deployed<C: CloudFormation>(
    cfn: &C,
    rendered: &Rendered,
) -> Result<Option<(Deployed, String)>, CfnError> {
    let Some(info) = cfn.describe(&rendered.stack_name).await? else {
        return Ok(None);
    };
    if info.status == "REVIEW_IN_PROGRESS" {
        return Ok(None);
    }
    let resources = cfn.resources(&rendered.stack_name).await?;
    let account = info.id.split(':').nth(4).unwrap_or_default().to_string();
    Ok(Some((Deployed::new(&info, &resources), account)))
}

/// Every event source of `stacks`. `sdk` reaches the emulator for what the
/// template does not say (queue and stream ARNs, the emulator's own event
/// source mappings).
pub async fn plan(
    stacks: &[StackInput<'_>],
    region: &str,
    account: &str,
    sdk: &aws_config::SdkConfig,
) -> Vec<Source> {
    let mut out = Vec::new();
    for s in stacks {
        let template = crate::diff::parse_template(&s.rendered.template).unwrap_or_default();
        let cx = Cx {
            stack: &s.rendered.stack,
            template: &template,
            deployed: s.deployed,
            region,
            account,
            functions: s
                .rendered
                .inventory
                .iter()
                .flat_map(|i| {
                    i.resources
                        .iter()
                        .filter(|r| r.resource_type == "AWS::Lambda::Function")
                        .map(|r| (r.logical_id.clone(), i.key.clone()))
                })
                .collect(),
        };
        let Some(resources) = template.get("Resources").and_then(Value::as_object) else {
            continue;
        };
        for (logical, res) in resources {
            if let Some(c) = res.get("Condition").and_then(Value::as_str) {
                if cx.condition(c) == Some(false) {
                    continue; // not deployed in this environment
                }
            }
            let props = res.get("Properties").cloned().unwrap_or(Value::Null);
            let props = cx.resolve_ifs(&props).0;
            match res.get("Type").and_then(Value::as_str).unwrap_or_default() {
                "AWS::Events::Rule" => cx.rule(logical, &props, &mut out),
                "AWS::Scheduler::Schedule" => cx.scheduler(logical, &props, &mut out),
                "AWS::Lambda::EventSourceMapping" => {
                    if let Some(s) = cx.mapping(logical, &props, sdk).await {
                        out.push(s);
                    }
                }
                "AWS::S3::Bucket" => {
                    let raw = res.get("Properties").cloned().unwrap_or(Value::Null);
                    cx.bucket(logical, &raw, &mut out)
                }
                _ => {}
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

struct Cx<'a> {
    stack: &'a str,
    template: &'a Value,
    deployed: &'a Deployed,
    region: &'a str,
    account: &'a str,
    /// Function logical id → resource key.
    functions: BTreeMap<String, String>,
}

impl Cx<'_> {
    fn target(&self, function: &str) -> Target {
        Target {
            stack: self.stack.to_string(),
            function: function.to_string(),
        }
    }

    fn physical(&self, logical: &str) -> Option<&str> {
        self.deployed
            .resources
            .get(logical)
            .map(String::as_str)
            .filter(|p| !p.is_empty())
    }

    /// The logical id `value` refers to (`Ref` or `Fn::GetAtt`), and the
    /// attribute.
    fn reference(value: &Value) -> Option<(String, String)> {
        if let Some(r) = value.get("Ref").and_then(Value::as_str) {
            return Some((r.to_string(), String::new()));
        }
        match value.get("Fn::GetAtt")? {
            Value::Array(a) => Some((a.first()?.as_str()?.to_string(), a.get(1)?.as_str()?.into())),
            Value::String(s) => s
                .split_once('.')
                .map(|(l, a)| (l.to_string(), a.to_string())),
            _ => None,
        }
    }

    /// The function key `value` (a reference to a function) names.
    fn function(&self, value: &Value) -> Option<String> {
        let (logical, _) = Self::reference(value)?;
        self.functions.get(&logical).cloned()
    }

    /// A condition's value with the deployed parameters (`None`: not one
    /// serve evaluates).
    fn condition(&self, name: &str) -> Option<bool> {
        let c = self.template.get("Conditions")?.get(name)?;
        self.eval(c, 0)
    }

    fn eval(&self, c: &Value, depth: usize) -> Option<bool> {
        if depth > 16 {
            return None;
        }
        let value = |v: &Value| -> Option<String> {
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => {
                    let p = v.get("Ref")?.as_str()?;
                    self.deployed.parameters.get(p).cloned()
                }
            }
        };
        let list = |k: &str| c.get(k).and_then(Value::as_array);
        if let Some(a) = list("Fn::Equals") {
            return Some(value(a.first()?)? == value(a.get(1)?)?);
        }
        if let Some(a) = list("Fn::Not") {
            return self.eval(a.first()?, depth + 1).map(|b| !b);
        }
        if let Some(a) = list("Fn::And") {
            return a
                .iter()
                .map(|x| self.eval(x, depth + 1))
                .try_fold(true, |acc, b| Some(acc && b?));
        }
        if let Some(a) = list("Fn::Or") {
            return a
                .iter()
                .map(|x| self.eval(x, depth + 1))
                .try_fold(false, |acc, b| Some(acc || b?));
        }
        if let Some(n) = c.get("Condition").and_then(Value::as_str) {
            let c = self.template.get("Conditions")?.get(n)?;
            return self.eval(c, depth + 1);
        }
        None
    }

    /// `v` with every `Fn::If` replaced by its branch, and list items that
    /// become `AWS::NoValue` dropped; also the conditions found false.
    fn resolve_ifs(&self, v: &Value) -> (Value, Vec<String>) {
        let mut off = Vec::new();
        let out = self.resolve(v, &mut off);
        (out.unwrap_or(Value::Null), off)
    }

    fn resolve(&self, v: &Value, off: &mut Vec<String>) -> Option<Value> {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(a)) = m.get("Fn::If") {
                    let name = a.first()?.as_str()?;
                    let on = self.condition(name).unwrap_or(true);
                    if !on {
                        off.push(name.to_string());
                    }
                    return self.resolve(a.get(if on { 1 } else { 2 })?, off);
                }
                if m.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") {
                    return None;
                }
                Some(Value::Object(
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), self.resolve(v, off)?)))
                        .collect(),
                ))
            }
            Value::Array(a) => Some(Value::Array(
                a.iter().filter_map(|v| self.resolve(v, off)).collect(),
            )),
            other => Some(other.clone()),
        }
    }

    /// A rule: scheduled (`ScheduleExpression`) or matching a pattern.
    fn rule(&self, logical: &str, props: &Value, out: &mut Vec<Source>) {
        let name = self
            .physical(logical)
            .map(str::to_string)
            .or_else(|| {
                props
                    .get("Name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let disabled = props.get("State").and_then(Value::as_str) == Some("DISABLED");
        let targets = props
            .get("Targets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let bus = props
            .get("EventBusName")
            .and_then(|b| match b {
                Value::String(s) => Some(s.clone()),
                // `Fn::GetAtt [Bus, Name]`: the bus's declared name, else
                // its physical id (a name or an ARN).
                other => Self::reference(other).and_then(|(l, _)| {
                    self.template
                        .pointer(&format!("/Resources/{l}/Properties/Name"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or_else(|| {
                            self.physical(&l).map(|p| {
                                p.rsplit_once("event-bus/")
                                    .map_or(p, |(_, n)| n)
                                    .to_string()
                            })
                        })
                }),
            })
            .unwrap_or_else(|| "default".to_string());
        for t in &targets {
            let id = t.get("Id").and_then(Value::as_str).unwrap_or_default();
            let Some(function) = t.get("Arn").and_then(|a| self.function(a)) else {
                // Queue and topic targets: the emulator delivers to them
                // itself; the queue's consumer is a source of its own.
                continue;
            };
            let source_id = format!("{}/{logical}/{id}", self.stack);
            let mut unemulated =
                disabled.then(|| "the rule is DISABLED in this environment".to_string());
            let mut notes = Vec::new();
            if let Some(expression) = props.get("ScheduleExpression").and_then(Value::as_str) {
                let parsed = schedule::parse(expression);
                if let Err(e) = &parsed {
                    unemulated.get_or_insert(e.clone());
                }
                let input = t.get("Input").and_then(Value::as_str);
                let payload = match input {
                    Some(text) => Payload::Input(
                        serde_json::from_str(text).unwrap_or(Value::String(text.into())),
                    ),
                    None => Payload::Scheduled {
                        rule_arn: format!(
                            "arn:aws:events:{}:{}:rule/{name}",
                            self.region, self.account
                        ),
                    },
                };
                if t.get("InputPath").is_some() || t.get("InputTransformer").is_some() {
                    notes.push("the target's InputPath/InputTransformer is not applied: the function gets the scheduled event".into());
                }
                notes.push("the emulator never fires scheduled rules: serve does, in UTC".into());
                out.push(Source {
                    id: source_id,
                    kind: Kind::Schedule,
                    target: self.target(&function),
                    describe: format!("{expression} (rule {name})"),
                    unemulated,
                    notes,
                    spec: match parsed {
                        Ok(expression) => Spec::Schedule {
                            expression,
                            payload,
                        },
                        Err(_) => Spec::None,
                    },
                });
            } else {
                notes.push(format!("the emulator cannot invoke functions from rules (its PutEvents fails on a function target): serve swaps target {id} for a queue of its own on the emulator, tap-{name}-{id}, and hands what arrives to the function; moto matches the pattern"));
                out.push(Source {
                    id: source_id,
                    kind: Kind::EventRule,
                    target: self.target(&function),
                    describe: format!(
                        "rule {name} on bus {bus}, pattern {}",
                        props
                            .get("EventPattern")
                            .map(Value::to_string)
                            .unwrap_or_default()
                    ),
                    unemulated,
                    notes,
                    spec: Spec::EventRule {
                        rule: name.clone(),
                        bus: bus.clone(),
                        target: t.clone(),
                    },
                });
            }
        }
    }

    /// An EventBridge Scheduler schedule (a placeholder in the emulator).
    fn scheduler(&self, logical: &str, props: &Value, out: &mut Vec<Source>) {
        let Some(t) = props.get("Target") else { return };
        let Some(function) = t.get("Arn").and_then(|a| self.function(a)) else {
            return;
        };
        let expression = props
            .get("ScheduleExpression")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut unemulated = None;
        if props.get("State").and_then(Value::as_str) == Some("DISABLED") {
            unemulated = Some("the schedule is DISABLED in this environment".to_string());
        }
        let parsed = schedule::parse(expression);
        if let Err(e) = &parsed {
            unemulated.get_or_insert(e.clone());
        }
        let mut notes = vec!["EventBridge Scheduler is a placeholder in the emulator: serve fires it from the template".to_string()];
        if let Some(tz) = props
            .get("ScheduleExpressionTimezone")
            .and_then(Value::as_str)
        {
            if tz != "UTC" && tz != "Etc/UTC" {
                unemulated.get_or_insert(format!("serve evaluates schedules in UTC, not {tz}"));
            }
        }
        if props
            .get("FlexibleTimeWindow")
            .and_then(|w| w.get("Mode"))
            .and_then(Value::as_str)
            == Some("FLEXIBLE")
        {
            notes.push("the flexible time window is not applied: it fires on time".into());
        }
        let input = t
            .get("Input")
            .and_then(Value::as_str)
            .map(|text| serde_json::from_str(text).unwrap_or(Value::String(text.to_string())));
        out.push(Source {
            id: format!("{}/{logical}", self.stack),
            kind: Kind::Schedule,
            target: self.target(&function),
            describe: expression.to_string(),
            unemulated,
            notes,
            spec: match parsed {
                // Scheduler sends the target's Input as it is (no envelope).
                Ok(expression) => Spec::Schedule {
                    expression,
                    payload: Payload::Input(input.unwrap_or_else(|| serde_json::json!({}))),
                },
                Err(_) => Spec::None,
            },
        });
    }

    /// An event source mapping: a queue or a table's stream.
    async fn mapping(
        &self,
        logical: &str,
        props: &Value,
        sdk: &aws_config::SdkConfig,
    ) -> Option<Source> {
        let function = props.get("FunctionName").and_then(|f| self.function(f))?;
        let id = format!("{}/{logical}", self.stack);
        let batch_size = props
            .get("BatchSize")
            .and_then(Value::as_u64)
            .unwrap_or(10)
            .max(1) as usize;
        let window = Duration::from_secs(
            props
                .get("MaximumBatchingWindowInSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        );
        let report_failures = props
            .get("FunctionResponseTypes")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|t| t == "ReportBatchItemFailures"));
        let filters: Vec<Value> = props
            .get("FilterCriteria")
            .and_then(|f| f.get("Filters"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("Pattern"))
                    .map(|p| match p {
                        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                        other => other.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let source = props.get("EventSourceArn").and_then(Self::reference);
        let resources = self.template.get("Resources");
        let source_type = source
            .as_ref()
            .and_then(|(l, _)| resources?.get(l)?.get("Type")?.as_str());
        let mut notes = Vec::new();
        let mut unemulated = None;
        if props.get("Enabled") == Some(&Value::Bool(false)) {
            unemulated = Some("the mapping is disabled (Enabled: false)".to_string());
        }
        match (source_type, source.as_ref()) {
            (Some("AWS::SQS::Queue"), Some((queue, _))) => {
                let url = self.physical(queue).unwrap_or_default().to_string();
                let sqs = aws_sdk_sqs::Client::new(sdk);
                let arn = sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .ok()
                    .and_then(|a| a.attributes?.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned());
                let Some(arn) = arn else {
                    return Some(Source {
                        id,
                        kind: Kind::Queue,
                        target: self.target(&function),
                        describe: format!("queue {queue}"),
                        unemulated: Some(format!("queue {queue} ({url}) is not on the emulator")),
                        notes,
                        spec: Spec::None,
                    });
                };
                let queue_props = resources?.get(queue)?.get("Properties");
                let redrive = queue_props.and_then(|p| p.get("RedrivePolicy"));
                let mut describe = format!("queue {url}, batch {batch_size}");
                if let Some(r) = redrive {
                    let max = r.get("maxReceiveCount").map(Value::to_string).unwrap_or_default();
                    let dlq = r
                        .get("deadLetterTargetArn")
                        .and_then(Self::reference)
                        .and_then(|(l, _)| self.physical(&l).map(str::to_string))
                        .unwrap_or_default();
                    describe.push_str(&format!(", dead letters to {dlq} after {max} receives"));
                    notes.push("the emulator moves a message to the dead-letter queue itself once it has been received maxReceiveCount times (measured with moto 5.2.1)".into());
                }
                if let Err(e) = pattern::check_all(&filters) {
                    unemulated.get_or_insert(e);
                }
                if !filters.is_empty() {
                    notes.push("FilterCriteria are applied by serve: a message that matches no filter is deleted without invoking the function, as Lambda does".into());
                }
                notes.push("the emulator's own event source mapping is disabled while serve runs (it would take the messages and fail to invoke the function)".into());
                if report_failures {
                    describe.push_str(", partial batch failures");
                }
                Some(Source {
                    id,
                    kind: Kind::Queue,
                    target: self.target(&function),
                    describe,
                    unemulated,
                    notes,
                    spec: Spec::Queue {
                        url,
                        arn,
                        batch_size,
                        window,
                        report_failures,
                        filters,
                    },
                })
            }
            (Some("AWS::DynamoDB::Table"), Some((table, _))) => {
                let name = self.physical(table).unwrap_or_default().to_string();
                let ddb = aws_sdk_dynamodb::Client::new(sdk);
                let stream_arn = ddb
                    .describe_table()
                    .table_name(&name)
                    .send()
                    .await
                    .ok()
                    .and_then(|t| t.table?.latest_stream_arn);
                let describe = format!("stream of table {name}, batch {batch_size}");
                let Some(stream_arn) = stream_arn else {
                    return Some(Source {
                        id,
                        kind: Kind::Stream,
                        target: self.target(&function),
                        describe,
                        unemulated: Some(format!("table {name} has no stream on the emulator")),
                        notes,
                        spec: Spec::None,
                    });
                };
                // moto 5.2.1 hands each new stream record to its own event
                // source mapping as it is written, fails to invoke the
                // function (no Docker), and then drops the records: the
                // Streams API never shows them (dynamodb/models/table.py,
                // StreamShard.add). Measured; there is no API to undo it.
                let lambda = aws_sdk_lambda::Client::new(sdk);
                let emulator_mapping = lambda
                    .list_event_source_mappings()
                    .event_source_arn(&stream_arn)
                    .send()
                    .await
                    .map(|m| !m.event_source_mappings().is_empty())
                    .unwrap_or(false);
                if emulator_mapping {
                    unemulated.get_or_insert("the emulator has an event source mapping on this stream: moto hands every record written to it to the function it cannot run and then drops the record, so its Streams API never shows one to serve".to_string());
                }
                if let Err(e) = pattern::check_all(&filters) {
                    unemulated.get_or_insert(e);
                }
                if props.get("DestinationConfig").is_some() {
                    notes.push("a batch that still fails after its retries is skipped and reported; nothing is sent to the on-failure destination".into());
                }
                Some(Source {
                    id,
                    kind: Kind::Stream,
                    target: self.target(&function),
                    describe,
                    unemulated,
                    notes,
                    spec: Spec::Stream {
                        stream_arn,
                        trim_horizon: props.get("StartingPosition").and_then(Value::as_str) == Some("TRIM_HORIZON"),
                        batch_size,
                        filters,
                        retries: props
                            .get("MaximumRetryAttempts")
                            .and_then(Value::as_u64)
                            .map(|r| r as u32),
                    },
                })
            }
            _ => Some(Source {
                id,
                kind: Kind::Queue,
                target: self.target(&function),
                describe: format!("event source {}", props.get("EventSourceArn").map(Value::to_string).unwrap_or_default()),
                unemulated: Some("only SQS queues and DynamoDB streams of the stack are emulated (Kinesis, Kafka and MQ sources are not)".into()),
                notes,
                spec: Spec::None,
            }),
        }
    }

    /// A bucket's notifications to functions. `raw` are its properties
    /// before conditions: a notification an environment turns off with a
    /// condition (`local` does, since the emulator cannot invoke
    /// functions) is still run, and the note says so.
    fn bucket(&self, logical: &str, raw: &Value, out: &mut Vec<Source>) {
        let Some(bucket) = self.physical(logical) else {
            return;
        };
        let Some(config) = raw.get("NotificationConfiguration") else {
            return;
        };
        let event_bridge = self
            .resolve_ifs(config)
            .0
            .get("EventBridgeConfiguration")
            .and_then(|c| c.get("EventBridgeEnabled"))
            .is_some_and(|e| e == &Value::Bool(true) || e == "true");
        let Some(list) = config.get("LambdaConfigurations").and_then(Value::as_array) else {
            if event_bridge {
                // The rules on the default bus are sources of their own;
                // the bucket still has to tell EventBridge.
                out.push(Source {
                    id: format!("{}/{logical}", self.stack),
                    kind: Kind::S3,
                    target: self.target(""),
                    describe: format!("bucket {bucket} → EventBridge"),
                    unemulated: None,
                    notes: vec!["the emulator ignores EventBridgeConfiguration in templates: serve turns it on through the S3 API".into()],
                    spec: Spec::S3 {
                        bucket: bucket.to_string(),
                        events: Vec::new(),
                        prefix: String::new(),
                        suffix: String::new(),
                        event_bridge,
                    },
                });
            }
            return;
        };
        for (i, item) in list.iter().enumerate() {
            // Take the declared notification whatever the condition says.
            let (declared, off) = match item.get("Fn::If").and_then(Value::as_array) {
                Some(a) => {
                    let name = a.first().and_then(Value::as_str).unwrap_or_default();
                    let on = self.condition(name).unwrap_or(true);
                    (
                        a.get(1).cloned().unwrap_or(Value::Null),
                        (!on).then(|| name.to_string()),
                    )
                }
                None => (item.clone(), None),
            };
            let Some(function) = declared.get("Function").and_then(|f| self.function(f)) else {
                continue;
            };
            let event = declared
                .get("Event")
                .and_then(Value::as_str)
                .unwrap_or("s3:ObjectCreated:*");
            let rules = declared
                .pointer("/Filter/S3Key/Rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let rule = |n: &str| {
                rules
                    .iter()
                    .find(|r| {
                        r.get("Name")
                            .and_then(Value::as_str)
                            .is_some_and(|x| x.eq_ignore_ascii_case(n))
                    })
                    .and_then(|r| r.get("Value").and_then(Value::as_str))
                    .unwrap_or_default()
                    .to_string()
            };
            let (prefix, suffix) = (rule("prefix"), rule("suffix"));
            let mut notes = vec!["the emulator delivers the bucket's events to a queue serve creates (stackctl-serve-s3-…), which replaces the bucket's notification configuration on the emulator; serve matches them against the declared filters and invokes the function once per event, retrying a failed invocation twice as Lambda does for asynchronous invocations (without its one- and two-minute waits)".to_string()];
            if let Some(c) = off {
                let mut named = Vec::new();
                if let Some(cond) = self.template.pointer(&format!("/Conditions/{c}")) {
                    refs(cond, &mut named);
                }
                let params: Vec<String> = named
                    .iter()
                    .filter_map(|p| Some(format!("{p}={}", self.deployed.parameters.get(p)?)))
                    .collect();
                notes.push(format!(
                    "condition {c} turns this notification off in the deployed stack ({}) because the emulator cannot invoke functions; serve runs the function locally, so it runs the notification as declared",
                    if params.is_empty() { "false here".to_string() } else { params.join(", ") }
                ));
            }
            let mut describe = format!("bucket {bucket}, {event}");
            if !prefix.is_empty() {
                describe.push_str(&format!(", prefix {prefix}"));
            }
            if !suffix.is_empty() {
                describe.push_str(&format!(", suffix {suffix}"));
            }
            out.push(Source {
                id: format!("{}/{logical}/{i}", self.stack),
                kind: Kind::S3,
                target: self.target(&function),
                describe,
                unemulated: None,
                notes,
                spec: Spec::S3 {
                    bucket: bucket.to_string(),
                    events: vec![event.to_string()],
                    prefix,
                    suffix,
                    event_bridge,
                },
            });
        }
    }
}

/// The names `{"Ref": NAME}` inside `v` refers to.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("Ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}
