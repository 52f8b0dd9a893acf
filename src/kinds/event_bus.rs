//! `event_bus`: an EventBridge event bus the stack creates (named by the
//! naming pattern, optionally archived for replay), or `default: true`, the
//! account's default bus, which AWS services (S3, MediaConvert, ...) publish
//! to: nothing is created or deleted for it, it only gives `event_rule`s
//! and grants a name to refer to. Grant: `put` (`events:PutEvents` on this
//! bus only; `{access: [put], source: S}` also limits the `source` of the
//! events the function may put).

use super::Kind;
use crate::aws::resources::Resources;
use crate::health::access::{Access, AccessTarget};
use crate::health::{read_failed, Finding, Pending, Target};
use crate::limits::simple_problem;
use crate::model::source::join;
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// An EventBridge event bus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBus {
    /// Physical name pattern (a created bus).
    #[serde(default)]
    pub name: Option<String>,
    /// The account's default bus: nothing is created.
    #[serde(default)]
    pub default: bool,
    /// What it carries (a created bus).
    #[serde(default)]
    pub description: Option<String>,
    /// Keep the events it receives for replay.
    #[serde(default)]
    pub archive: Option<Archive>,
}

/// `archive:` of a bus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Archive {
    /// Days events are kept (0: for ever).
    pub retention_days: u32,
}

/// The archive of `archive:`.
const ARCHIVE: super::Part = super::Part {
    name: "archive",
    suffix: "Archive",
};

/// The ARN of the account's default bus.
pub fn default_arn() -> Json {
    json!({"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"})
}

impl EventBus {
    /// Its ARN as a CloudFormation value (`key` is its resource key).
    pub fn arn(&self, key: &str) -> Json {
        if self.default {
            default_arn()
        } else {
            json!({"Fn::GetAtt": [pascal(key), "Arn"]})
        }
    }

    /// Its name as a CloudFormation value: `GetAtt Name` for a created
    /// bus, since moto's `Ref` of one is no name (see EMULATOR.md).
    pub fn name_value(&self, key: &str) -> Json {
        if self.default {
            json!("default")
        } else {
            json!({"Fn::GetAtt": [pascal(key), "Name"]})
        }
    }
}

/// Adds the condition of a grant's `source:` to the `put` statement
/// `statement`: the function may put events of that source only.
pub fn limit_source(statement: &mut Json, source: &str) {
    statement["Condition"] = json!({"StringEquals": {"events:source": source}});
}

/// Why `source` cannot be the `source:` of a grant (EventBridge refuses
/// custom events whose source starts with `aws.`).
pub fn source_problem(source: &str) -> Option<(String, String)> {
    if source.is_empty() {
        return Some((
            "an empty event source".to_string(),
            "name the source the function puts, e.g. `source: myapp.orders`".to_string(),
        ));
    }
    if source.starts_with("aws.") {
        return Some((
            format!("`{source}` is an AWS service's source; EventBridge refuses custom events with a source starting with `aws.`"),
            "use a source of your own, e.g. `myapp.orders`".to_string(),
        ));
    }
    if source.len() > 256 {
        return Some((
            format!("an event source of {} characters is too long", source.len()),
            "at most 256 characters".to_string(),
        ));
    }
    None
}

impl Kind for EventBus {
    const NAME: &'static str = "event_bus";
    const TEMPLATE_FILE: &'static str = "event_bus.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/event_bus.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const GRANT_LEVELS: &'static [&'static str] = &["put"];
    const HEALTH_CHECKS: &'static [&'static str] = &["exists"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn name_problem(name: &str) -> Option<String> {
        if name == "default" || name.starts_with("aws.") {
            return Some(format!(
                "event bus name `{name}` is reserved (`default`, or starting with `aws.`)"
            ));
        }
        simple_problem("event bus name", name, 256, "-_./")
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        if self.default {
            for (field, set) in [
                ("name", self.name.is_some()),
                ("description", self.description.is_some()),
            ] {
                if set {
                    cx.error_hint(
                        &join(path, field),
                        format!(
                            "`{field}:` of the default bus: the stack creates no bus to give it to"
                        ),
                        format!(
                            "remove `{field}:`, or `default: true` to create a bus of the stack"
                        ),
                    );
                }
            }
        } else {
            cx.claim(&l, path);
            if let Some(d) = self.description.as_ref().filter(|d| d.len() > 512) {
                cx.error_hint(
                    &join(path, "description"),
                    format!("a description of {} characters is too long", d.len()),
                    "at most 512 characters",
                );
            }
        }
        let archive = self.archive.as_ref().map(|a| {
            cx.claim(&ARCHIVE.of(&l), &join(path, "archive"));
            json!({"retention_days": a.retention_days})
        });
        json!({
            "ids": super::ids(&l, &[ARCHIVE]),
            "logical": l,
            "default": self.default,
            "name": cx.name(key),
            "description": self.description,
            "arn": self.arn(key),
            "archive": archive,
        })
    }

    fn attribute(&self, _cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        match attr {
            "name" => self.name_value(key),
            "arn" => self.arn(key),
            // Not an attribute of a bus (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn writes(level: &str) -> bool {
        level == "put"
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
            "put" => Some(iam::allow(
                key,
                level,
                &["events:PutEvents"],
                vec![self.arn(key)],
                None,
            )),
            // Not a level of a bus (GRANT_LEVELS is checked first).
            _ => None,
        }
    }

    /// `exists`, for a bus of the stack: DescribeEventBus on its name.
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        if self.default {
            return Vec::new();
        }
        vec![Pending::new(Self::HEALTH_CHECKS, async move {
            let logical = t.logical_id();
            // Read by its rendered name: moto lists the bus without a
            // physical id (measured by tests/events.rs).
            let name = t
                .properties(&logical)
                .and_then(|p| p.get("Name"))
                .and_then(Json::as_str)
                .unwrap_or_default();
            Ok(vec![match aws.event_bus(name).await {
                Ok(arn) => Finding::pass("exists", "the bus exists")
                    .observed(arn)
                    .expected(format!("event bus {name}")),
                Err(e) => read_failed("exists", &e, t.env),
            }])
        })]
    }

    /// DescribeEventBus on the bus (by its rendered name).
    fn health_access(&self, a: &AccessTarget<'_>) -> Vec<Access> {
        if self.default {
            return Vec::new();
        }
        a.property(&a.logical_id(), "Name")
            .map(|name| {
                Access::new(
                    "ReadEventBuses",
                    &["events:DescribeEventBus"],
                    a.arn("events", &format!("event-bus/{name}")),
                )
            })
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, statement};
    use serde_json::json;

    #[test]
    fn a_created_bus_is_named_archived_and_put_to_by_source() {
        let t = render(
            "resources:
  orders:
    type: event_bus
    description: Order events
    archive: {retention_days: 30}
  emitter:
    type: function
    crate: emitter
    environment:
      BUS: ${orders.name}
    grants:
      orders: {access: [put], source: shop.orders}
",
        );
        let r = &t["Resources"];
        assert_eq!(r["Orders"]["Type"], "AWS::Events::EventBus");
        assert_eq!(r["Orders"]["Properties"]["Name"], "kinds-app-orders-dev");
        let archive = &r["OrdersArchive"]["Properties"];
        assert_eq!(archive["RetentionDays"], json!(30));
        assert_eq!(
            archive["SourceArn"],
            json!({"Fn::GetAtt": ["Orders", "Arn"]})
        );
        assert_eq!(
            r["Emitter"]["Properties"]["Environment"]["Variables"]["BUS"],
            json!({"Fn::GetAtt": ["Orders", "Name"]})
        );
        let put = statement(&t, "Emitter", "OrdersPut");
        assert_eq!(put["Action"], json!(["events:PutEvents"]));
        assert_eq!(put["Resource"], json!([{"Fn::GetAtt": ["Orders", "Arn"]}]));
        assert_eq!(
            put["Condition"],
            json!({"StringEquals": {"events:source": "shop.orders"}})
        );
    }

    #[test]
    fn the_default_bus_is_not_created_and_put_to_by_its_arn() {
        let t = render(
            "resources:
  bus:
    type: event_bus
    default: true
  emitter:
    type: function
    crate: emitter
    environment:
      BUS: ${bus.name}
    grants:
      bus: [put]
",
        );
        let r = &t["Resources"];
        assert!(r.get("Bus").is_none(), "{r}");
        assert_eq!(
            r["Emitter"]["Properties"]["Environment"]["Variables"]["BUS"],
            "default"
        );
        let put = statement(&t, "Emitter", "BusPut");
        assert_eq!(put["Resource"], json!([super::default_arn()]));
        // Without `source:` the grant puts any source.
        assert!(put.get("Condition").is_none());
    }
}
