//! `topic`: an SNS topic with its subscriptions (email addresses, queues and
//! functions of the stack), optionally encrypted with a `key` of the stack.
//! A subscribed queue gets a queue policy letting only this topic send to it
//! (the queue's template lays it out); a subscribed function, a permission
//! letting only this topic invoke it. Grant: `publish`. Alarms may name a
//! topic as their action (`actions: [KEY]`).

use super::key::Encryption;
use super::{Kind, Resource};
use crate::limits::simple_problem;
use crate::model::source::{index, join};
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;

/// An SNS topic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// The sender name of its email and SMS messages.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Who receives what is published.
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// Encrypt messages at rest with a `key` of the stack (default: not
    /// encrypted at rest, so that AWS services such as CloudWatch alarms can
    /// publish to it without a key policy of their own).
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

/// One subscription: exactly one of `email`, `queue`, `function`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// An email address (may hold `${param.NAME}`); AWS mails it a
    /// confirmation link first.
    #[serde(default)]
    pub email: Option<String>,
    /// A `queue` of the stack.
    #[serde(default)]
    pub queue: Option<String>,
    /// A `function` of the stack.
    #[serde(default)]
    pub function: Option<String>,
    /// Only messages matching this SNS filter policy are delivered
    /// (`{Attribute: [values]}`).
    #[serde(default)]
    pub filter: Option<serde_json::Value>,
    /// Whether the filter applies to the message attributes (default) or
    /// to the JSON body.
    #[serde(default)]
    pub filter_on: Option<FilterScope>,
    /// A queue receives the message as published, without SNS's envelope.
    #[serde(default)]
    pub raw: bool,
}

/// What an SNS filter policy looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterScope {
    /// The message attributes.
    Attributes,
    /// The message body, as JSON.
    Body,
}

/// The subscription resource, when a subscription has a filter or raw
/// delivery (the topic's inline subscriptions take neither): the topic's
/// id, the receiver's, then this.
const SUBSCRIPTION: &str = "Subscription";

/// The policy letting the stack's event rules publish.
const POLICY: super::Part = super::Part {
    name: "policy",
    suffix: "Policy",
};

impl Topic {
    /// Whether it delivers to queue `key`.
    pub fn delivers_to_queue(&self, key: &str) -> bool {
        self.subscriptions
            .iter()
            .any(|s| s.queue.as_deref() == Some(key))
    }
}

impl Kind for Topic {
    const NAME: &'static str = "topic";
    const TEMPLATE_FILE: &'static str = "topic.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/topic.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const GRANT_LEVELS: &'static [&'static str] = &["publish"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn name_problem(name: &str) -> Option<String> {
        simple_problem("topic name", name, 256, "-_")
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        cx.claim(&l, path);
        if let Some(d) = self.display_name.as_ref().filter(|d| d.len() > 100) {
            cx.error_hint(
                &join(path, "display_name"),
                format!("a display name of {} characters is too long", d.len()),
                "at most 100 characters",
            );
        }
        let key_logical = super::key::resolve(cx, &self.encryption, path);
        let mut subscriptions = Vec::new();
        let mut permissions = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, s) in self.subscriptions.iter().enumerate() {
            let spath = index(&join(path, "subscriptions"), i);
            let set: Vec<&str> = [
                ("email", s.email.is_some()),
                ("queue", s.queue.is_some()),
                ("function", s.function.is_some()),
            ]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect();
            if set.len() != 1 {
                cx.error_hint(
                    &spath,
                    if set.is_empty() {
                        "the subscription names no receiver".to_string()
                    } else {
                        format!("the subscription names {} receivers", set.join(" and "))
                    },
                    "write one per subscription: `- email: ops@example.com`, `- queue: KEY` or `- function: KEY`",
                );
                continue;
            }
            if !seen.insert((
                set[0],
                s.email.clone().or(s.queue.clone()).or(s.function.clone()),
            )) {
                cx.error_hint(
                    &spath,
                    "the same receiver is subscribed twice",
                    "remove one of them",
                );
                continue;
            }
            if let Some(e) = &s.email {
                let epath = join(&spath, "email");
                let endpoint = cx.value(e, &epath);
                if endpoint.as_str().is_some_and(|a| !looks_like_email(a)) {
                    cx.error_hint(
                        &epath,
                        format!("`{e}` is not an email address"),
                        "write it as name@example.com",
                    );
                }
                subscriptions.push(json!({"protocol": "email", "endpoint": endpoint, "index": i}));
            } else if let Some(q) = &s.queue {
                if cx.target(q, &join(&spath, "queue"), &["queue"]).is_some() {
                    subscriptions.push(
                        json!({"protocol": "sqs", "endpoint": {"Fn::GetAtt": [pascal(q), "Arn"]}, "receiver": pascal(q), "index": i}),
                    );
                }
            } else if let Some(f) = &s.function {
                if cx
                    .target(f, &join(&spath, "function"), &["function"])
                    .is_some()
                {
                    let fl = pascal(f);
                    let pl = super::invoke_permission(&l, &fl);
                    cx.claim(&pl, &spath);
                    subscriptions.push(
                        json!({"protocol": "lambda", "endpoint": {"Fn::GetAtt": [fl, "Arn"]}, "receiver": fl, "index": i}),
                    );
                    permissions.push(json!({"logical": pl, "function": fl}));
                }
            }
        }
        // Filtered or raw subscriptions are resources of their own.
        let mut separate = Vec::new();
        let mut inline = Vec::new();
        for sub in subscriptions {
            let i = sub["index"].as_u64().unwrap_or_default() as usize;
            let spath = index(&join(path, "subscriptions"), i);
            let s = &self.subscriptions[i];
            if s.raw && s.queue.is_none() {
                cx.error_hint(
                    &join(&spath, "raw"),
                    "raw delivery is for queues",
                    "remove `raw:`; email and functions get SNS's envelope",
                );
            }
            if s.filter_on.is_some() && s.filter.is_none() {
                cx.error_hint(
                    &join(&spath, "filter_on"),
                    "`filter_on:` without a `filter:`",
                    "add `filter: {Attribute: [values]}`, or remove `filter_on:`",
                );
            }
            if let Some(f) = &s.filter {
                if !f.is_object() || f.as_object().is_some_and(|o| o.is_empty()) {
                    cx.error_hint(
                        &join(&spath, "filter"),
                        "a filter policy is a mapping of attributes to the values that pass",
                        "e.g. `filter: {MetricType: [Temperature]}`",
                    );
                }
            }
            if s.filter.is_some() || s.raw {
                // An email address has no logical id: its position stands in.
                let receiver = match sub["receiver"].as_str() {
                    Some(r) => r.to_string(),
                    None => format!("Email{}", i + 1),
                };
                let logical = format!("{l}{receiver}{SUBSCRIPTION}");
                cx.claim(&logical, &spath);
                let mut sub = sub;
                sub["logical"] = json!(logical);
                sub["filter"] = json!(s.filter);
                sub["filter_scope"] = json!(s.filter.as_ref().map(|_| match s.filter_on {
                    Some(FilterScope::Body) => "MessageBody",
                    _ => "MessageAttributes",
                }));
                sub["raw"] = json!(s.raw);
                separate.push(sub);
            } else {
                inline.push(sub);
            }
        }
        let subscriptions = inline;
        // Event rules of the stack delivering to it may publish, and only they.
        let rules: Vec<String> = cx
            .stack
            .resources
            .iter()
            .filter(|(_, r)| matches!(r, Resource::EventRule(e) if e.delivers_to_topic(key)))
            .map(|(k, _)| pascal(k))
            .collect();
        if !rules.is_empty() {
            cx.claim(&POLICY.of(&l), path);
        }
        json!({
            "ids": super::ids(&l, &[POLICY]),
            "rules": rules,
            "separate_subscriptions": separate,
            "logical": l,
            "name": cx.name(key),
            "display_name": self.display_name,
            "key": key_logical,
            "subscriptions": subscriptions,
            "permissions": permissions,
        })
    }

    fn attribute(&self, _cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "name" => json!({"Fn::GetAtt": [l, "TopicName"]}),
            // `Ref` is the ARN; moto answers no `GetAtt TopicArn`.
            "arn" => json!({"Ref": l}),
            // Not an attribute of a topic (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn invokes_async(&self, function: &str) -> bool {
        self.subscriptions
            .iter()
            .any(|s| s.function.as_deref() == Some(function))
    }

    fn encryption_key(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key.as_str())
    }

    fn writes(level: &str) -> bool {
        level == "publish"
    }

    fn key_services(&self, stack: &crate::model::Stack) -> Vec<(String, &'static str)> {
        // SNS itself encrypts what it delivers to a queue encrypted with a key.
        self.subscriptions
            .iter()
            .filter_map(|s| s.queue.as_deref())
            .filter_map(|q| stack.resources.get(q))
            .filter_map(Resource::encryption_key)
            .map(|k| (k.to_string(), "sns.amazonaws.com"))
            .collect()
    }

    fn grant(
        &self,
        _cx: &mut Builder,
        key: &str,
        level: &str,
        _prefixes: &[String],
        _path: &str,
    ) -> Option<Json> {
        match level {
            "publish" => Some(iam::allow(
                key,
                level,
                &["sns:Publish"],
                vec![json!({"Ref": pascal(key)})],
                None,
            )),
            // Not a level of a topic (GRANT_LEVELS is checked first).
            _ => None,
        }
    }
}

/// Something `@` something with a dot, no spaces: enough to catch a value
/// in the wrong field; SNS's confirmation mail checks the rest.
fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, statement};
    use serde_json::{json, Value as Json};

    #[test]
    fn filtered_and_raw_subscriptions_are_resources_of_their_own() {
        let t = render(
            "resources:
  metrics:
    type: topic
    subscriptions:
      - queue: all
      - {queue: hot, raw: true, filter: {MetricType: [Temperature]}}
  all:
    type: queue
  hot:
    type: queue
",
        );
        let r = &t["Resources"];
        // The plain one stays inline; the filtered one is separate.
        assert_eq!(
            r["Metrics"]["Properties"]["Subscription"],
            json!([{"Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["All", "Arn"]}}])
        );
        let sub = &r["MetricsHotSubscription"]["Properties"];
        assert_eq!(sub["TopicArn"], json!({"Ref": "Metrics"}));
        assert_eq!(sub["FilterPolicy"], json!({"MetricType": ["Temperature"]}));
        assert_eq!(sub["FilterPolicyScope"], "MessageAttributes");
        assert_eq!(sub["RawMessageDelivery"], true);
        // The queue policy still lets the topic send to both queues.
        assert!(r.get("HotPolicy").is_some() && r.get("AllPolicy").is_some());
    }

    #[test]
    fn subscribers_may_be_reached_by_this_topic_only() {
        let t = render(
            "resources:
  data:
    type: key
  jobs:
    type: queue
    encryption: {key: data}
  notify:
    type: function
    crate: notify
  events:
    type: topic
    encryption: {key: data}
    subscriptions:
      - email: ops@example.com
      - queue: jobs
      - function: notify
  publisher:
    type: function
    crate: publisher
    grants:
      events: [publish]
  notify_errors:
    type: alarm
    target: notify
    metric: Errors
    threshold: 1
    actions: [events]
",
        );
        let r = &t["Resources"];
        assert_eq!(
            r["Events"]["Properties"]["Subscription"],
            json!([
                {"Protocol": "email", "Endpoint": "ops@example.com"},
                {"Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Jobs", "Arn"]}},
                {"Protocol": "lambda", "Endpoint": {"Fn::GetAtt": ["Notify", "Arn"]}},
            ])
        );
        let send = &r["JobsPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
        assert_eq!(send["Principal"], json!({"Service": "sns.amazonaws.com"}));
        assert_eq!(
            send["Condition"]["ArnEquals"]["aws:SourceArn"],
            json!([{"Ref": "Events"}])
        );
        let permission = &r["EventsInvokesNotify"]["Properties"];
        assert_eq!(permission["Principal"], "sns.amazonaws.com");
        assert_eq!(permission["SourceArn"], json!({"Ref": "Events"}));
        assert_eq!(
            r["NotifyErrors"]["Properties"]["AlarmActions"],
            json!([{"Ref": "Events"}])
        );
        // Publishing to the encrypted topic makes data keys with its key.
        assert_eq!(
            statement(&t, "Publisher", "EventsPublish")["Resource"],
            json!([{"Ref": "Events"}])
        );
        assert_eq!(
            statement(&t, "Publisher", "EventsKey")["Action"],
            json!(["kms:Decrypt", "kms:GenerateDataKey"])
        );
        // SNS (to the encrypted queue) and CloudWatch (to the encrypted
        // topic) use the key for this account only.
        let policy: Json = serde_json::from_str(
            r["Data"]["Properties"]["KeyPolicy"]["Fn::Sub"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let services = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "ServicesOfThisAccountUse")
            .unwrap();
        assert_eq!(
            services["Principal"]["Service"],
            json!(["cloudwatch.amazonaws.com", "sns.amazonaws.com"])
        );
        assert_eq!(
            services["Condition"]["StringEquals"]["aws:SourceAccount"],
            "${AWS::AccountId}"
        );
    }

    #[test]
    fn a_topic_without_a_key_is_not_encrypted_at_rest() {
        let t = render(
            "resources:
  alerts:
    type: topic
    subscriptions:
      - email: ops@example.com
",
        );
        assert!(t["Resources"]["Alerts"]["Properties"]
            .get("KmsMasterKeyId")
            .is_none());
    }
}
