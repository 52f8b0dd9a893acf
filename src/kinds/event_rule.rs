//! `event_rule`: an EventBridge rule matching an event pattern on a bus
//! (an `event_bus` of the stack, or the account's default bus) and
//! delivering what matches to functions, queues and topics of the stack,
//! each with a retry policy and a dead-letter queue (a `queue` of the
//! stack) where declared. A function target gets a permission letting only
//! this rule invoke it; a target queue, a dead-letter queue and a target
//! topic get a policy statement letting only this rule's events reach them
//! (their own kinds lay the policies out, see [`EventRule::sends_to_queue`]
//! and [`EventRule::delivers_to_topic`]); a `key` encrypting any of them
//! lets EventBridge use it.

use super::{Kind, Resource};
use crate::aws::resources::{Resources, RuleState};
use crate::health::access::{Access, AccessTarget};
use crate::health::resolve::Resolver;
use crate::health::{Finding, Pending, Target};
use crate::limits::simple_problem;
use crate::model::source::{index, join};
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use serde_yaml::Value as Yaml;
use std::collections::BTreeSet;

/// An EventBridge rule with its targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRule {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// The `event_bus` of the stack it listens on (default: the account's
    /// default bus).
    #[serde(default)]
    pub bus: Option<String>,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The events it matches: EventBridge's event pattern, as YAML.
    pub pattern: Yaml,
    /// Whether it is enabled (default true).
    #[serde(default)]
    pub enabled: Option<PerEnv<bool>>,
    /// Where matching events go, at most 5.
    #[serde(default)]
    pub targets: Vec<RuleTarget>,
    /// How long and how often EventBridge retries a target (every target's
    /// unless it sets its own).
    #[serde(default)]
    pub retry: Option<Retry>,
    /// The `queue` of the stack that receives events no target took
    /// (every target's unless it sets its own).
    #[serde(default)]
    pub dead_letter: Option<String>,
}

/// One target: exactly one of `function`, `queue`, `topic`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTarget {
    /// A `function` of the stack (invoked asynchronously).
    #[serde(default)]
    pub function: Option<String>,
    /// A `queue` of the stack.
    #[serde(default)]
    pub queue: Option<String>,
    /// A `topic` of the stack.
    #[serde(default)]
    pub topic: Option<String>,
    /// This target's retry policy.
    #[serde(default)]
    pub retry: Option<Retry>,
    /// This target's dead-letter queue.
    #[serde(default)]
    pub dead_letter: Option<String>,
}

/// `retry:` of a rule or target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Retries after the first attempt, 0–185 (EventBridge's default 185).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// Seconds an event is retried for, 60–86400 (default 86400).
    #[serde(default)]
    pub max_age: Option<u32>,
}

/// EventBridge's retry attempts.
const ATTEMPTS: std::ops::RangeInclusive<u32> = 0..=185;
/// EventBridge's maximum event age, seconds.
const MAX_AGE_S: std::ops::RangeInclusive<u32> = 60..=86_400;
/// Targets a rule may have.
const MAX_TARGETS: usize = 5;
/// The top-level fields of an EventBridge event.
const EVENT_FIELDS: &[&str] = &[
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
];

impl RuleTarget {
    /// (field, resource key) of what it names.
    fn named(&self) -> Vec<(&'static str, &str)> {
        [
            ("function", self.function.as_deref()),
            ("queue", self.queue.as_deref()),
            ("topic", self.topic.as_deref()),
        ]
        .into_iter()
        .filter_map(|(f, k)| k.map(|k| (f, k)))
        .collect()
    }
}

impl EventRule {
    /// The dead-letter queue of target `t`.
    fn dead_letter_of<'a>(&'a self, t: &'a RuleTarget) -> Option<&'a str> {
        t.dead_letter.as_deref().or(self.dead_letter.as_deref())
    }

    /// Whether it sends to queue `key`: as a target or a dead-letter queue.
    pub fn sends_to_queue(&self, key: &str) -> bool {
        self.dead_letter.as_deref() == Some(key)
            || self
                .targets
                .iter()
                .any(|t| t.queue.as_deref() == Some(key) || t.dead_letter.as_deref() == Some(key))
    }

    /// Whether it delivers to topic `key`.
    pub fn delivers_to_topic(&self, key: &str) -> bool {
        self.targets.iter().any(|t| t.topic.as_deref() == Some(key))
    }

    /// Every queue and topic it sends to (resource keys).
    fn receivers(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.dead_letter.iter().map(String::as_str).collect();
        for t in &self.targets {
            out.extend(t.queue.as_deref());
            out.extend(t.topic.as_deref());
            out.extend(t.dead_letter.as_deref());
        }
        out
    }
}

/// Checks `retry:` at `path`.
fn check_retry(cx: &mut Builder, r: &Retry, path: &str) {
    if let Some(a) = r.attempts.filter(|a| !ATTEMPTS.contains(a)) {
        cx.error_hint(
            &join(path, "attempts"),
            format!("{a} retry attempts are out of range"),
            format!(
                "{} (EventBridge's default is 185)",
                crate::limits::allowed(&ATTEMPTS)
            ),
        );
    }
    if let Some(m) = r.max_age.filter(|m| !MAX_AGE_S.contains(m)) {
        cx.error_hint(
            &join(path, "max_age"),
            format!("a maximum event age of {m} s is out of range"),
            format!(
                "{} seconds (1 minute to 24 hours)",
                crate::limits::allowed(&MAX_AGE_S)
            ),
        );
    }
}

/// Checks the event pattern at `path`: a non-empty mapping of the event's
/// fields, every leaf a non-empty list.
fn check_pattern(cx: &mut Builder, pattern: &Yaml, path: &str) {
    let Yaml::Mapping(m) = pattern else {
        cx.error_hint(
            path,
            "an event pattern is a mapping of event fields to what matches",
            "e.g. `pattern: {source: [aws.s3], detail-type: [Object Created]}`",
        );
        return;
    };
    if m.is_empty() {
        cx.error_hint(
            path,
            "an empty event pattern",
            "name what matches, e.g. `source: [myapp.orders]`",
        );
        return;
    }
    for (k, v) in m {
        let key = crate::model::typed::key_text(k).unwrap_or_default();
        let kpath = join(path, &key);
        if key != "$or" && !EVENT_FIELDS.contains(&key.as_str()) {
            let d = cx
                .stack
                .source
                .error(
                    kpath,
                    format!("`{key}` is not a field of an EventBridge event"),
                )
                .suggest(&key, EVENT_FIELDS.iter().copied());
            let d = if d.hint.is_none() {
                let mut d = d;
                d.hint = Some(format!(
                    "the fields are {}; the event's own data is under `detail:`",
                    EVENT_FIELDS.join(", ")
                ));
                d
            } else {
                d
            };
            cx.diags.push(d);
            continue;
        }
        if key == "detail" && !matches!(v, Yaml::Mapping(_)) {
            cx.error_hint(
                &kpath,
                "`detail` is the event's own data: it is matched field by field",
                "write a mapping of its fields, e.g. `detail: {status: [COMPLETE]}`",
            );
            continue;
        }
        check_matcher(cx, &key, v, &kpath);
    }
}

/// Checks what field `key` of a pattern matches: a list of values (or of
/// content filters), or a mapping of nested fields.
fn check_matcher(cx: &mut Builder, key: &str, v: &Yaml, path: &str) {
    match v {
        Yaml::Sequence(items) if items.is_empty() => cx.error_hint(
            path,
            format!("`{key}: []` never matches: an empty list matches no value"),
            "list the values that match, or remove the field",
        ),
        // `$or` is a list of patterns.
        Yaml::Sequence(items) if key == "$or" => {
            for (i, p) in items.iter().enumerate() {
                if let Yaml::Mapping(m) = p {
                    for (k, v) in m {
                        let k = crate::model::typed::key_text(k).unwrap_or_default();
                        let ipath = join(&index(path, i), &k);
                        check_matcher(cx, &k, v, &ipath);
                    }
                }
            }
        }
        Yaml::Sequence(_) => {}
        Yaml::Mapping(m) if m.is_empty() => cx.error_hint(
            path,
            format!("`{key}: {{}}` matches nothing"),
            "name the nested fields that match, or remove the field",
        ),
        Yaml::Mapping(m) => {
            for (k, v) in m {
                let k = crate::model::typed::key_text(k).unwrap_or_default();
                let kpath = join(path, &k);
                check_matcher(cx, &k, v, &kpath);
            }
        }
        other => {
            let shown = match other {
                Yaml::String(s) => s.clone(),
                Yaml::Number(n) => n.to_string(),
                Yaml::Bool(b) => b.to_string(),
                _ => "null".to_string(),
            };
            cx.error_hint(
                path,
                format!("`{key}: {shown}` is a single value; a pattern matches a list of values"),
                format!("write `{key}: [{shown}]`"),
            );
        }
    }
}

/// The pattern as JSON, `${...}` references resolved.
fn pattern_json(cx: &mut Builder, v: &Yaml, path: &str) -> Json {
    match v {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => json!(b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Json::Null),
        Yaml::String(s) if s.contains("${") => cx.value(s, path),
        Yaml::String(s) => json!(s),
        Yaml::Sequence(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| pattern_json(cx, v, &index(path, i)))
                .collect(),
        ),
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = crate::model::typed::key_text(k).unwrap_or_default();
                let value = pattern_json(cx, v, &join(path, &key));
                out.insert(key, value);
            }
            Json::Object(out)
        }
        Yaml::Tagged(t) => pattern_json(cx, &t.value, path),
    }
}

/// The dead-letter queue `q` at `path`: a standard queue of the stack.
fn dead_letter_queue(cx: &mut Builder, q: &str, path: &str) -> Option<Json> {
    match cx.target(q, path, &["queue"]) {
        Some(Resource::Queue(queue)) if queue.fifo => {
            cx.error_hint(
                path,
                format!(
                    "`{q}` is a FIFO queue; EventBridge's dead-letter queue is a standard queue"
                ),
                "name a queue without `fifo: true`",
            );
            None
        }
        Some(_) => Some(json!({"Fn::GetAtt": [pascal(q), "Arn"]})),
        None => None,
    }
}

/// The finding of `enabled`: the rule's state as declared.
fn health_enabled(rule: &RuleState, declared: &str, name: &str, env: &str) -> Finding {
    let s = rule.state.as_str();
    let f = if s == declared {
        Finding::pass("enabled", format!("{s}, as declared"))
    } else if declared == "ENABLED" {
        Finding::fail(
            "enabled",
            format!("the rule is {s}: matching events reach no target"),
        )
        .hint(format!("`aws events enable-rule --name {name}` (with `--event-bus-name` for a bus of the stack); CloudFormation does not notice it, so a deploy does not enable it"))
    } else {
        Finding::warn(
            "enabled",
            format!("the rule is {s}, though declared {declared}"),
        )
        .hint(format!(
            "`aws events disable-rule --name {name}`, or declare `enabled: true` for {env}"
        ))
    };
    f.observed(s).expected(declared)
}

/// The finding of `targets`: every declared target is a target of the
/// rule, by ARN.
fn health_targets(rule: &RuleState, t: &Target<'_>, declared: &[Json], name: &str) -> Finding {
    let r = Resolver::new(t);
    let want: Vec<_> = declared.iter().map(|a| r.resolve(a)).collect();
    let expected = want
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let observed = if rule.targets.is_empty() {
        "no targets".to_string()
    } else {
        rule.targets.join(", ")
    };
    let missing: Vec<String> = want
        .iter()
        .filter(|w| !rule.targets.iter().any(|a| w.matches(a)))
        .map(ToString::to_string)
        .collect();
    let extra = rule
        .targets
        .iter()
        .filter(|a| !want.iter().any(|w| w.matches(a)))
        .count();
    let f = if !missing.is_empty() {
        Finding::fail(
            "targets",
            format!("the rule no longer delivers to {}", missing.join(", ")),
        )
        .hint(format!("its targets were changed outside CloudFormation; `aws events list-targets-by-rule --rule {name}` shows them; put the declared ones back with `aws events put-targets` (a deploy does so only when the template changes)"))
    } else if extra > 0 {
        Finding::warn(
            "targets",
            format!("the rule has {extra} target(s) besides the declared ones"),
        )
        .hint(format!("`aws events list-targets-by-rule --rule {name}` shows them; remove what was added by hand"))
    } else {
        Finding::pass("targets", "every declared target is the rule's")
    };
    f.observed(observed).expected(expected)
}

/// The finding of `dead_letter`: the rule's dead-letter queues hold no
/// message; each message is an event no target took.
fn health_dead_letter(depths: &[(String, u64)]) -> Finding {
    let full: Vec<&(String, u64)> = depths.iter().filter(|(_, d)| *d > 0).collect();
    let observed = depths
        .iter()
        .map(|(u, d)| format!("{u}: ApproximateNumberOfMessages {d}"))
        .collect::<Vec<_>>()
        .join(", ");
    let f = if full.is_empty() {
        Finding::pass("dead_letter", "the dead-letter queues are empty")
    } else {
        let total: u64 = full.iter().map(|(_, d)| d).sum();
        let s = if total == 1 { "" } else { "s" };
        let (url, _) = full[0];
        Finding::warn(
            "dead_letter",
            format!("{total} undelivered event{s} in the dead-letter queue{}", if full.len() == 1 { "" } else { "s" }),
        )
        .hint(format!("read them with `aws sqs receive-message --queue-url {url} --max-number-of-messages 10 --message-attribute-names All` (ERROR_CODE and ERROR_MESSAGE say why delivery failed), fix the cause, then send them again (`aws events put-events`) and delete them"))
    };
    f.observed(observed)
        .expected("ApproximateNumberOfMessages 0")
}

impl Kind for EventRule {
    const NAME: &'static str = "event_rule";
    const TEMPLATE_FILE: &'static str = "event_rule.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/event_rule.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const HEALTH_CHECKS: &'static [&'static str] = &["enabled", "targets", "dead_letter"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn name_problem(name: &str) -> Option<String> {
        simple_problem("rule name", name, 64, "-_.")
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        cx.claim(&l, path);
        let name = cx.name(key);
        if let Some(d) = self.description.as_ref().filter(|d| d.len() > 512) {
            cx.error_hint(
                &join(path, "description"),
                format!("a description of {} characters is too long", d.len()),
                "at most 512 characters",
            );
        }
        // The bus: GetAtt Name of a bus of the stack (moto fails on `Ref`).
        let bus = match &self.bus {
            Some(b) => match cx.target(b, &join(path, "bus"), &["event_bus"]) {
                Some(Resource::EventBus(bus)) if !bus.default => Some(bus.name_value(b)),
                _ => None,
            },
            None => None,
        };
        let ppath = join(path, "pattern");
        check_pattern(cx, &self.pattern, &ppath);
        let pattern = pattern_json(cx, &self.pattern, &ppath);
        let enabled = match &self.enabled {
            Some(e) => cx.per_env(e, &join(path, "enabled")).unwrap_or(true),
            None => true,
        };
        if let Some(r) = &self.retry {
            check_retry(cx, r, &join(path, "retry"));
        }
        let rule_dlq = self
            .dead_letter
            .as_ref()
            .and_then(|q| dead_letter_queue(cx, q, &join(path, "dead_letter")));
        let tpath = join(path, "targets");
        if self.targets.is_empty() {
            cx.error_hint(
                path,
                "the rule has no targets",
                "add `targets: [{function: KEY}]` (or `queue:` / `topic:`)",
            );
        }
        if self.targets.len() > MAX_TARGETS {
            cx.error_hint(
                &tpath,
                format!(
                    "{} targets; a rule has at most {MAX_TARGETS}",
                    self.targets.len()
                ),
                "split them over two rules with the same pattern, or send to a topic that fans out",
            );
        }
        let mut targets = Vec::new();
        let mut permissions = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            let ipath = index(&tpath, i);
            let named = t.named();
            let [(field, target)] = named.as_slice() else {
                cx.error_hint(
                    &ipath,
                    if named.is_empty() {
                        "the target names no function, queue or topic".to_string()
                    } else {
                        let fields: Vec<&str> = named.iter().map(|(f, _)| *f).collect();
                        format!("the target names {}", fields.join(" and "))
                    },
                    "one per target: `- function: KEY`, `- queue: KEY` or `- topic: KEY`",
                );
                continue;
            };
            let fpath = join(&ipath, field);
            let resource = match cx.stack.resources.get(*target) {
                None => {
                    cx.target(target, &fpath, &["function", "queue", "topic"]);
                    continue;
                }
                Some(r) => r,
            };
            let kind = resource.kind();
            if !["function", "queue", "topic"].contains(&kind) {
                cx.error_hint(
                    &fpath,
                    format!("`{target}` is a {kind}; a rule target is a function, queue or topic"),
                    "point at a function, queue or topic of the stack",
                );
                continue;
            }
            if kind != *field {
                cx.error_hint(
                    &fpath,
                    format!("`{target}` is a {kind}, not a {field}"),
                    format!("write `{kind}: {target}`"),
                );
                continue;
            }
            if !seen.insert(target.to_string()) {
                cx.error_hint(
                    &ipath,
                    format!("`{target}` is a target twice"),
                    "remove one of them",
                );
                continue;
            }
            let tl = pascal(target);
            let arn = match kind {
                // `Ref` of a topic is its ARN (moto answers no `GetAtt TopicArn`).
                "topic" => json!({"Ref": tl}),
                _ => json!({"Fn::GetAtt": [tl, "Arn"]}),
            };
            if kind == "function" {
                let pl = super::invoke_permission(&l, &tl);
                cx.claim(&pl, &ipath);
                permissions.push(json!({"logical": pl, "function": tl}));
            }
            let fifo = matches!(resource, Resource::Queue(q) if q.fifo);
            if let Some(r) = &t.retry {
                check_retry(cx, r, &join(&ipath, "retry"));
            }
            let attempts = t
                .retry
                .as_ref()
                .and_then(|r| r.attempts)
                .or(self.retry.as_ref().and_then(|r| r.attempts));
            let max_age = t
                .retry
                .as_ref()
                .and_then(|r| r.max_age)
                .or(self.retry.as_ref().and_then(|r| r.max_age));
            let dead_letter = match &t.dead_letter {
                Some(q) => dead_letter_queue(cx, q, &join(&ipath, "dead_letter")),
                None => rule_dlq.clone(),
            };
            targets.push(json!({
                "id": tl,
                "arn": arn,
                "attempts": attempts,
                "max_age": max_age,
                "retry": attempts.is_some() || max_age.is_some(),
                "dead_letter": dead_letter,
                // A FIFO queue takes messages of a group: the rule's key.
                "message_group": fifo.then_some(key),
            }));
        }
        // Rendered alike in an emulator: moto 5.2.1 creates the rule with
        // EventBusName (`GetAtt Name`), RetryPolicy and DeadLetterConfig as
        // rendered and reads them back (measured by tests/events.rs).
        json!({
            "logical": l,
            "name": name,
            "description": self.description,
            "bus": bus,
            "pattern": pattern,
            "enabled": enabled,
            "targets": targets,
            "permissions": permissions,
        })
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        match attr {
            // Written out: `Ref` of a rule on a bus of the stack is
            // `BUS|RULE`, not its name.
            "name" => json!(cx.name(key)),
            "arn" => json!({"Fn::GetAtt": [pascal(key), "Arn"]}),
            // Not an attribute of a rule (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    /// A function target is invoked asynchronously: EventBridge hands the
    /// event to Lambda, whose own retries end in the function's dead-letter
    /// queue (the rule's dead-letter queue only takes events EventBridge
    /// could not hand over at all).
    fn invokes_async(&self, function: &str) -> bool {
        self.targets
            .iter()
            .any(|t| t.function.as_deref() == Some(function))
    }

    /// EventBridge encrypts what it sends to a queue or topic encrypted with
    /// a key of the stack.
    fn key_services(&self, stack: &crate::model::Stack) -> Vec<(String, &'static str)> {
        self.receivers()
            .into_iter()
            .filter_map(|q| stack.resources.get(q))
            .filter_map(Resource::encryption_key)
            .map(|k| (k.to_string(), "events.amazonaws.com"))
            .collect()
    }

    /// DescribeRule and ListTargetsByRule (`enabled`, `targets`);
    /// GetQueueAttributes on each dead-letter queue (`dead_letter`).
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        let mut out = vec![Pending::new(&["enabled", "targets"], async move {
            let logical = t.logical_id();
            t.physical_id(&logical)?;
            let props = t.properties(&logical);
            let name = props
                .and_then(|p| p.get("Name"))
                .and_then(Json::as_str)
                .unwrap_or_default();
            let bus = bus_name(&t, props);
            let rule = aws.bus_rule(&bus, name).await?;
            let declared = props
                .and_then(|p| p.get("State"))
                .and_then(Json::as_str)
                .unwrap_or("ENABLED");
            let arns: Vec<Json> = props
                .and_then(|p| p.get("Targets"))
                .and_then(Json::as_array)
                .map(|ts| ts.iter().filter_map(|x| x.get("Arn").cloned()).collect())
                .unwrap_or_default();
            Ok(vec![
                health_enabled(&rule, declared, name, t.env),
                health_targets(&rule, &t, &arns, name),
            ])
        })];
        let queues: BTreeSet<String> = self
            .targets
            .iter()
            .filter_map(|x| self.dead_letter_of(x))
            .map(pascal)
            .collect();
        if !queues.is_empty() {
            out.push(Pending::new(&["dead_letter"], async move {
                let mut depths = Vec::new();
                for q in &queues {
                    let url = t.physical_id(q)?;
                    let depth = aws.queue_depth(url).await?;
                    depths.push((url.to_string(), depth));
                }
                Ok(vec![health_dead_letter(&depths)])
            }));
        }
        out
    }

    /// DescribeRule and ListTargetsByRule on the rule; GetQueueAttributes on
    /// its dead-letter queues.
    fn health_access(&self, a: &AccessTarget<'_>) -> Vec<Access> {
        let mut out = Vec::new();
        let l = a.logical_id();
        if let Some(name) = a.property(&l, "Name") {
            let bus = self
                .bus
                .as_deref()
                .and_then(|b| a.property(&pascal(b), "Name"));
            let resource = match bus {
                Some(bus) => format!("rule/{bus}/{name}"),
                None => format!("rule/{name}"),
            };
            out.push(Access::new(
                "ReadEventRules",
                &["events:DescribeRule", "events:ListTargetsByRule"],
                a.arn("events", &resource),
            ));
        }
        let queues: BTreeSet<String> = self
            .targets
            .iter()
            .filter_map(|x| self.dead_letter_of(x))
            .filter_map(|q| a.property(&pascal(q), "QueueName"))
            .collect();
        for q in queues {
            out.push(Access::new(
                "ReadDeadLetterQueues",
                &["sqs:GetQueueAttributes"],
                a.arn("sqs", &q),
            ));
        }
        out
    }
}

/// The name of the bus the rule is on: the rendered name of a bus of the
/// stack, else `default`.
fn bus_name(t: &Target<'_>, props: Option<&Json>) -> String {
    props
        .and_then(|p| p.get("EventBusName"))
        .and_then(|b| b.get("Fn::GetAtt"))
        .and_then(|g| g.get(0))
        .and_then(Json::as_str)
        .and_then(|bus| t.properties(bus))
        .and_then(|p| p.get("Name"))
        .and_then(Json::as_str)
        .unwrap_or("default")
        .to_string()
}

#[cfg(test)]
mod tests;
