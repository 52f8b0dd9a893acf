//! `queue`: an SQS queue, encrypted (SQS-managed keys, or a `key` of the
//! stack), optionally FIFO, with an optional dead-letter queue that
//! `dead_letter: {max_receives: N}` creates and wires. A function consumes
//! it with `consumes: {queue: KEY, ...}` (an event source mapping). Grants:
//! `send`, `consume`. Alarms: `AWS/SQS`, on the queue or, as
//! `target: KEY.dead_letter`, its dead-letter queue.

use super::key::{self, Encryption};
use super::{AlarmMetrics, Kind, Resource};
use crate::aws::resources::{MetricQuery, Resources, Stat};
use crate::health::access::{Access, AccessTarget};
use crate::health::metrics::{self, Series, Watch, Window};
use crate::health::{Finding, Pending, Target};
use crate::limits;
use crate::model::source::join;
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// An SQS queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// Physical name pattern (`.fifo` is added to a FIFO queue's name).
    #[serde(default)]
    pub name: Option<String>,
    /// First-in-first-out, exactly-once delivery.
    #[serde(default)]
    pub fifo: bool,
    /// Seconds a received message stays hidden, 0–43200 (default 30). A
    /// consuming function needs at least 6 × its timeout.
    #[serde(default)]
    pub visibility_timeout: Option<u32>,
    /// Days a message is kept, 1–14 (default 4).
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Seconds every message waits before it can be received, 0–900.
    #[serde(default)]
    pub delay_seconds: Option<u32>,
    /// A dead-letter queue for messages received too often.
    #[serde(default)]
    pub dead_letter: Option<DeadLetter>,
    /// Encrypt with a `key` of the stack (default: SQS-managed keys).
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// Keep the queue when the stack is deleted (default: the `retain_data` setting).
    #[serde(default)]
    pub retain: Option<PerEnv<bool>>,
    /// Its own limits for `health`'s metric checks.
    #[serde(default)]
    pub health: Option<QueueHealth>,
}

/// `health:` of a queue in the stack file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueHealth {
    /// Seconds the oldest message of the dead-letter queue may wait before
    /// `dead_letter_age` warns (default 0: any message warns).
    #[serde(default)]
    pub dead_letter_age: Option<u32>,
}

/// The dead-letter queue of a queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    /// Receives after which a message moves to the dead-letter queue, 1–1000.
    pub max_receives: u32,
    /// Days a dead letter is kept, 1–14 (default 14).
    #[serde(default)]
    pub retention_days: Option<u32>,
}

/// Default visibility timeout, seconds (SQS's).
pub const DEFAULT_VISIBILITY: u32 = 30;

impl Queue {
    /// The visibility timeout in seconds.
    pub fn visibility(&self) -> u32 {
        self.visibility_timeout.unwrap_or(DEFAULT_VISIBILITY)
    }
}

/// SQS names: at most 80 letters, digits, `-` and `_` (`.fifo` included).
fn queue_name_problem(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    if name.is_empty() || name.len() > 80 {
        return Some(format!(
            "queue name `{name}` is {} characters; the limit is 80",
            name.len()
        ));
    }
    stem.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        .map(|c| {
            format!("queue name `{name}` contains `{c}`; allowed are letters, digits, `-` and `_`")
        })
}

/// The dead-letter queue of `dead_letter:`.
const DEAD_LETTER: super::Part = super::Part {
    name: "dead_letter",
    suffix: "DeadLetter",
};
/// The policy letting the stack's topics send.
const POLICY: super::Part = super::Part {
    name: "policy",
    suffix: "Policy",
};

/// `dead_letter`: messages in the dead-letter queue are messages the
/// consumer gave up on; any warns.
fn health_dead_letter(depth: u64, url: &str) -> Finding {
    let f = if depth == 0 {
        Finding::pass("dead_letter", "the dead-letter queue is empty")
    } else {
        let s = if depth == 1 { "" } else { "s" };
        Finding::warn("dead_letter", format!("{depth} message{s} in the dead-letter queue"))
            .hint(format!("inspect them (`aws sqs receive-message --queue-url {url} --max-number-of-messages 10`), fix the cause, then move them back (`aws sqs start-message-move-task --source-arn` with the dead-letter queue's ARN)"))
    };
    f.observed(format!("ApproximateNumberOfMessages {depth}"))
        .expected("ApproximateNumberOfMessages 0")
}

/// `dead_letter_age`: the age of the oldest message in the dead-letter
/// queue (`ApproximateAgeOfOldestMessage`, its maximum over the window);
/// above `warn_s` (`health.dead_letter_age`, else
/// [`DEAD_LETTER_AGE_WARN_S`]) warns. No data points pass: SQS
/// publishes none for a queue idle for hours (`dead_letter` has its depth).
fn health_dead_letter_age(age: &Series, warn_s: f64, name: &str, w: &Window) -> Finding {
    let expected = format!(
        "ApproximateAgeOfOldestMessage at most {} s",
        metrics::count(warn_s)
    );
    let Some(oldest) = age.max() else {
        return Finding::pass(
            "dead_letter_age",
            format!(
                "no data points in the last {} (an idle queue publishes none)",
                w.text()
            ),
        )
        .observed(format!("no data points in the last {}", w.text()))
        .expected(expected);
    };
    let observed = format!(
        "ApproximateAgeOfOldestMessage {} s (maximum in the last {})",
        metrics::count(oldest),
        w.text()
    );
    let f = if oldest > warn_s {
        Finding::warn(
            "dead_letter_age",
            format!("the oldest dead letter is {} old", metrics::age(oldest)),
        )
        .hint(format!("messages wait in {name}: inspect them, fix the cause, then move them back (`aws sqs start-message-move-task`); they are deleted after the queue's retention"))
    } else {
        Finding::pass(
            "dead_letter_age",
            format!(
                "no message waited in the dead-letter queue in the last {}",
                w.text()
            ),
        )
    };
    f.observed(observed).expected(expected)
}

/// Seconds the oldest dead letter may wait before `dead_letter_age` warns:
/// 0, any.
pub const DEAD_LETTER_AGE_WARN_S: f64 = 0.0;

impl Kind for Queue {
    const NAME: &'static str = "queue";
    const TEMPLATE_FILE: &'static str = "queue.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/queue.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn", "url", "dead_letter_arn"];
    const GRANT_LEVELS: &'static [&'static str] = &["send", "consume"];
    const HEALTH_CHECKS: &'static [&'static str] = &["dead_letter", "dead_letter_age"];
    const ALARM: Option<AlarmMetrics> = Some(AlarmMetrics {
        namespace: "AWS/SQS",
        dimension: "QueueName",
        metrics: &[
            "ApproximateAgeOfOldestMessage",
            "ApproximateNumberOfMessagesVisible",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
            "NumberOfMessagesSent",
            "NumberOfMessagesReceived",
            "NumberOfMessagesDeleted",
            "NumberOfEmptyReceives",
        ],
    });

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn graphs(&self, _cx: &Builder, key: &str) -> Vec<super::Graph> {
        use super::Graph;
        vec![Graph::of(
            "backlog",
            "AWS/SQS",
            "QueueName",
            json!({"Fn::GetAtt": [pascal(key), "QueueName"]}),
            &[
                ("ApproximateAgeOfOldestMessage", "Maximum"),
                ("ApproximateNumberOfMessagesVisible", "Maximum"),
            ],
        )]
    }

    /// `dead_letter`, for a queue that has one: its depth.
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        if self.dead_letter.is_none() {
            return Vec::new();
        }
        vec![Pending::new(&["dead_letter"], async move {
            let url = t.physical_id(&DEAD_LETTER.of(&t.logical_id()))?;
            let depth = aws.queue_depth(url).await?;
            Ok(vec![health_dead_letter(depth, url)])
        })]
    }

    /// GetQueueAttributes on the dead-letter queue (by its rendered name).
    fn health_access(&self, a: &AccessTarget<'_>) -> Vec<Access> {
        if self.dead_letter.is_none() {
            return Vec::new();
        }
        a.property(&DEAD_LETTER.of(&a.logical_id()), "QueueName")
            .map(|name| {
                Access::new(
                    "ReadDeadLetterQueues",
                    &["sqs:GetQueueAttributes"],
                    a.arn("sqs", &name),
                )
            })
            .into_iter()
            .chain([Access::any(
                super::api::METRICS_ONLY_STAR,
                &["cloudwatch:GetMetricData"],
            )])
            .collect()
    }

    /// `dead_letter_age`, for a queue that has a dead-letter queue: the
    /// oldest message's age over the window (`AWS/SQS`, `QueueName`).
    fn metrics<'a>(&'a self, t: Target<'a>) -> Vec<Watch<'a>> {
        if self.dead_letter.is_none() {
            return Vec::new();
        }
        let names = &["dead_letter_age"];
        let url = match t.physical_id(&DEAD_LETTER.of(&t.logical_id())) {
            Ok(url) => url,
            Err(stop) => return vec![Watch::stop(names, stop)],
        };
        let warn_s = self
            .health
            .as_ref()
            .and_then(|h| h.dead_letter_age)
            .map_or(DEAD_LETTER_AGE_WARN_S, f64::from);
        // CloudFormation lists a queue by its URL; the metric names it.
        let name = url.rsplit('/').next().unwrap_or(url);
        let q = MetricQuery::new(
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            "QueueName",
            name,
            Stat::Maximum,
        );
        vec![Watch::new(names, vec![q], move |v, w| {
            vec![health_dead_letter_age(&v[0], warn_s, name, w)]
        })]
    }

    fn name_problem(name: &str) -> Option<String> {
        // The dead-letter queue's name is 4 characters longer.
        queue_name_problem(&format!("{name}-dlq.fifo"))
            .map(|p| format!("{p} (with `-dlq.fifo`, the longest name this queue may need)"))
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        cx.claim(&l, path);
        if self.dead_letter.is_none()
            && self
                .health
                .as_ref()
                .is_some_and(|h| h.dead_letter_age.is_some())
        {
            cx.error_hint(
                &join(&join(path, "health"), "dead_letter_age"),
                "`dead_letter_age` without a dead-letter queue",
                "add `dead_letter: {max_receives: 5}`, or remove `health.dead_letter_age`",
            );
        }
        let retain = cx.retain(&self.retain, path);
        let suffix = if self.fifo { ".fifo" } else { "" };
        let name = cx.name(key);
        let visibility = self.visibility();
        if !limits::VISIBILITY_TIMEOUT_S.contains(&visibility) {
            cx.error_hint(
                &join(path, "visibility_timeout"),
                format!("a visibility timeout of {visibility} s is out of range"),
                format!(
                    "{} seconds (12 hours)",
                    limits::allowed(&limits::VISIBILITY_TIMEOUT_S)
                ),
            );
        }
        let retention = self.retention_days.unwrap_or(4);
        if !limits::QUEUE_RETENTION_DAYS.contains(&retention) {
            cx.error_hint(
                &join(path, "retention_days"),
                format!("a retention of {retention} days is out of range"),
                format!("{} days", limits::allowed(&limits::QUEUE_RETENTION_DAYS)),
            );
        }
        if let Some(d) = self
            .delay_seconds
            .filter(|d| !limits::QUEUE_DELAY_S.contains(d))
        {
            cx.error_hint(
                &join(path, "delay_seconds"),
                format!("a delay of {d} s is out of range"),
                format!("{} seconds", limits::allowed(&limits::QUEUE_DELAY_S)),
            );
        }
        let key_logical = key::resolve(cx, &self.encryption, path);
        let dead_letter = self.dead_letter.as_ref().map(|d| {
            let dpath = join(path, "dead_letter");
            cx.claim(&DEAD_LETTER.of(&l), &dpath);
            if !limits::MAX_RECEIVES.contains(&d.max_receives) {
                cx.error_hint(
                    &join(&dpath, "max_receives"),
                    format!(
                        "max_receives {} is out of range: a message moves to the dead-letter queue after that many receives",
                        d.max_receives
                    ),
                    format!("{} (3 to 5 is usual)", limits::allowed(&limits::MAX_RECEIVES)),
                );
            }
            let days = d.retention_days.unwrap_or(14);
            if !limits::QUEUE_RETENTION_DAYS.contains(&days) {
                cx.error_hint(
                    &join(&dpath, "retention_days"),
                    format!("a retention of {days} days is out of range"),
                    format!("{} days", limits::allowed(&limits::QUEUE_RETENTION_DAYS)),
                );
            }
            json!({
                "logical": DEAD_LETTER.of(&l),
                "name": format!("{name}-dlq{suffix}"),
                "max_receives": d.max_receives,
                "retention_seconds": days * 86_400,
            })
        });
        // Topics of the stack delivering to it may send, and only they.
        let senders: Vec<String> = cx
            .stack
            .resources
            .iter()
            .filter(|(_, r)| matches!(r, Resource::Topic(t) if t.delivers_to_queue(key)))
            .map(|(k, _)| pascal(k))
            .collect();
        // Event rules of the stack delivering to it (a target) or leaving
        // what they could not deliver there (a dead-letter queue), and only they.
        let rules: Vec<String> = cx
            .stack
            .resources
            .iter()
            .filter(|(_, r)| matches!(r, Resource::EventRule(e) if e.sends_to_queue(key)))
            .map(|(k, _)| pascal(k))
            .collect();
        if !senders.is_empty() || !rules.is_empty() {
            cx.claim(&POLICY.of(&l), path);
        }
        json!({
            "ids": super::ids(&l, &[POLICY]),
            "logical": l,
            "name": format!("{name}{suffix}"),
            "senders": senders,
            "rules": rules,
            "fifo": self.fifo,
            "visibility_timeout": visibility,
            "retention_seconds": retention * 86_400,
            "delay_seconds": self.delay_seconds,
            "dead_letter": dead_letter,
            "key": key_logical,
            "deletion_policy": super::DeletionPolicy::retaining(retain),
        })
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "name" => json!({"Fn::GetAtt": [l, "QueueName"]}),
            "arn" => json!({"Fn::GetAtt": [l, "Arn"]}),
            // `GetAtt QueueUrl` is what AWS documents too, but `Ref` is the
            // URL as well, and the only form moto answers.
            "url" => json!({"Ref": l}),
            "dead_letter_arn" => {
                if self.dead_letter.is_none() {
                    cx.error_hint(
                        path,
                        format!("queue `{key}` has no dead-letter queue, so no `dead_letter_arn`"),
                        "add `dead_letter: {max_receives: 5}` to the queue",
                    );
                }
                json!({"Fn::GetAtt": [DEAD_LETTER.of(&l), "Arn"]})
            }
            // Not an attribute of a queue (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn writes(level: &str) -> bool {
        level == "send"
    }

    fn encryption_key(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key.as_str())
    }

    fn grant(
        &self,
        _cx: &mut Builder,
        key: &str,
        level: &str,
        _prefixes: &[String],
        _path: &str,
    ) -> Option<Json> {
        let arn = json!({"Fn::GetAtt": [pascal(key), "Arn"]});
        match level {
            "send" => Some(iam::allow(
                key,
                level,
                &["sqs:SendMessage"],
                vec![arn],
                None,
            )),
            "consume" => Some(iam::allow(key, level, CONSUME_ACTIONS, vec![arn], None)),
            // Not a level of a queue (GRANT_LEVELS is checked first).
            _ => None,
        }
    }

    fn alarm_dimension(&self, key: &str, part: Option<&str>) -> Option<Json> {
        let l = pascal(key);
        match part {
            None => Some(json!({"Fn::GetAtt": [l, "QueueName"]})),
            Some("dead_letter") if self.dead_letter.is_some() => {
                Some(json!({"Fn::GetAtt": [DEAD_LETTER.of(&l), "QueueName"]}))
            }
            Some(_) => None,
        }
    }
}

/// What a consumer of a queue does: receive, delete, and extend or end a
/// message's invisibility; read the queue's attributes (Lambda's poller).
pub const CONSUME_ACTIONS: &[&str] = &[
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
];

#[cfg(test)]
mod tests {
    use super::super::testing::{render, statement, statements};
    use serde_json::json;

    const STACK: &str = "resources:
  data:
    type: key
  jobs:
    type: queue
    visibility_timeout: 180
    dead_letter: {max_receives: 5}
    encryption: {key: data}
  worker:
    type: function
    crate: worker
    timeout: 30
    consumes: {queue: jobs, batch_size: 5, max_concurrency: 4}
  sender:
    type: function
    crate: sender
    grants:
      jobs: [send]
  stale:
    type: alarm
    target: jobs.dead_letter
    metric: ApproximateAgeOfOldestMessage
    statistic: Maximum
    threshold: 600
";

    #[test]
    fn a_dead_letter_queue_is_created_and_wired() {
        let t = render(STACK);
        let jobs = &t["Resources"]["Jobs"]["Properties"];
        assert_eq!(
            jobs["RedrivePolicy"],
            json!({"deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetter", "Arn"]}, "maxReceiveCount": 5})
        );
        assert_eq!(jobs["VisibilityTimeout"], json!(180));
        assert_eq!(
            jobs["KmsMasterKeyId"],
            json!({"Fn::GetAtt": ["Data", "Arn"]})
        );
        let dlq = &t["Resources"]["JobsDeadLetter"]["Properties"];
        assert_eq!(dlq["MessageRetentionPeriod"], json!(14 * 86_400));
        assert_eq!(
            dlq["KmsMasterKeyId"],
            json!({"Fn::GetAtt": ["Data", "Arn"]})
        );
        let dims = &t["Resources"]["Stale"]["Properties"]["Dimensions"];
        assert_eq!(
            dims,
            &json!([{"Name": "QueueName", "Value": {"Fn::GetAtt": ["JobsDeadLetter", "QueueName"]}}])
        );
    }

    #[test]
    fn a_consumer_gets_a_mapping_receive_delete_and_the_key_to_decrypt() {
        let t = render(STACK);
        let m = &t["Resources"]["WorkerConsumes"];
        assert_eq!(m["Type"], "AWS::Lambda::EventSourceMapping");
        assert_eq!(m["Properties"]["BatchSize"], json!(5));
        assert_eq!(
            m["Properties"]["ScalingConfig"]["MaximumConcurrency"],
            json!(4)
        );
        assert_eq!(
            m["Properties"]["FunctionResponseTypes"],
            json!(["ReportBatchItemFailures"])
        );
        let consume = statement(&t, "Worker", "JobsConsume");
        assert_eq!(consume["Action"], json!(super::CONSUME_ACTIONS));
        assert_eq!(
            consume["Resource"],
            json!([{"Fn::GetAtt": ["Jobs", "Arn"]}])
        );
        // Consuming decrypts; it never makes data keys.
        let key = statement(&t, "Worker", "JobsKey");
        assert_eq!(key["Action"], json!(["kms:Decrypt"]));
        assert_eq!(key["Resource"], json!([{"Fn::GetAtt": ["Data", "Arn"]}]));
        assert_eq!(
            t["Resources"]["WorkerRole"]["Properties"]["Tags"],
            json!([{"Key": "stackctl-key-user-Data", "Value": "true"}])
        );
        // A sender makes data keys; neither role may do anything else to the queue.
        let key = statement(&t, "Sender", "JobsKey");
        assert_eq!(key["Action"], json!(["kms:Decrypt", "kms:GenerateDataKey"]));
        assert_eq!(
            statement(&t, "Sender", "JobsSend")["Action"],
            json!(["sqs:SendMessage"])
        );
        for s in statements(&t, "Sender")
            .iter()
            .chain(&statements(&t, "Worker"))
        {
            assert!(!s["Resource"].to_string().contains("\"*\""), "{s}");
        }
    }

    #[test]
    fn a_fifo_queue_and_its_dead_letter_queue_end_in_fifo() {
        let t = render(
            "resources:
  orders:
    type: queue
    fifo: true
    dead_letter: {max_receives: 3}
  sender:
    type: function
    crate: sender
    grants:
      orders: [send]
",
        );
        let r = &t["Resources"];
        assert_eq!(r["Orders"]["Properties"]["FifoQueue"], json!(true));
        assert!(
            r["Orders"]["Properties"]["QueueName"].as_str().unwrap() == "kinds-app-orders-dev.fifo"
        );
        assert!(
            r["OrdersDeadLetter"]["Properties"]["QueueName"]
                .as_str()
                .unwrap()
                == "kinds-app-orders-dev-dlq.fifo"
        );
        assert_eq!(
            r["Orders"]["Properties"]["SqsManagedSseEnabled"],
            json!(true)
        );
    }
}
