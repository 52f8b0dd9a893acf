//! `alarm`: a CloudWatch alarm on metrics of another resource of the stack
//! (any kind that declares what an alarm on it may watch); `A + B` sums
//! metrics; `actions:` names topics notified when it fires. With
//! `namespace:` instead of `target:`, it watches a metric the functions
//! publish themselves (`JobsFailed`, say).

use super::{AlarmMetrics, Kind};
use crate::aws::resources::{AlarmState, Resources};
use crate::health::access::{Access, AccessTarget};
use crate::health::{Finding, Pending, Target};
use crate::limits::simple_problem;
use crate::model::source::{index, join};
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// CloudWatch alarm on a metric of a function, table or API of the stack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// What it means when it fires.
    #[serde(default)]
    pub description: Option<String>,
    /// The resource key whose metric is watched; `KEY.dead_letter` watches
    /// a queue's dead-letter queue. Without it, `namespace:` names a metric
    /// the functions publish themselves.
    #[serde(default)]
    pub target: Option<String>,
    /// The namespace of a custom metric (one a function publishes, e.g.
    /// with the embedded metric format), instead of `target:`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Dimensions of a custom metric; values may hold `${...}`.
    #[serde(default)]
    pub dimensions: std::collections::BTreeMap<String, String>,
    /// Metric name, e.g. `Errors`, `Duration`, `UserErrors`.
    pub metric: String,
    /// `Sum` (default), `Average`, `Minimum`, `Maximum`, `SampleCount`.
    #[serde(default)]
    pub statistic: Option<Statistic>,
    /// Seconds per datapoint: 10, 30 or a multiple of 60 (default 300).
    #[serde(default)]
    pub period: Option<u32>,
    /// Datapoints evaluated (default 1).
    #[serde(default)]
    pub evaluation_periods: Option<u32>,
    /// Threshold, per environment if needed.
    pub threshold: PerEnv<f64>,
    /// `>`, `>=`, `<`, `<=` (default `>`).
    #[serde(default)]
    pub comparison: Option<Comparison>,
    /// Topics of the stack notified when it fires.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// How an alarm aggregates a metric's datapoints over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Statistic {
    /// The total (the default).
    #[default]
    Sum,
    /// The mean.
    Average,
    /// The lowest.
    Minimum,
    /// The highest.
    Maximum,
    /// The number of datapoints.
    SampleCount,
}

/// How an alarm compares the statistic with its threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Comparison {
    /// `>` (the default).
    #[default]
    #[serde(rename = ">")]
    Greater,
    /// `>=`.
    #[serde(rename = ">=")]
    GreaterOrEqual,
    /// `<`.
    #[serde(rename = "<")]
    Less,
    /// `<=`.
    #[serde(rename = "<=")]
    LessOrEqual,
}

impl Comparison {
    /// CloudWatch's `ComparisonOperator`.
    pub fn cfn(self) -> &'static str {
        match self {
            Comparison::Greater => "GreaterThanThreshold",
            Comparison::GreaterOrEqual => "GreaterThanOrEqualToThreshold",
            Comparison::Less => "LessThanThreshold",
            Comparison::LessOrEqual => "LessThanOrEqualToThreshold",
        }
    }
}

/// What every alarm lays out the same way: its metrics (`A + B` summed),
/// statistic, period, threshold, comparison and actions, checked.
fn common(cx: &mut Builder, a: &Alarm, path: &str) -> Json {
    let names: Vec<&str> = a.metric.split('+').map(str::trim).collect();
    let statistic = a.statistic.unwrap_or_default();
    let period = a.period.unwrap_or(300);
    if !(period == 10 || period == 30 || (period >= 60 && period.is_multiple_of(60))) {
        cx.error_hint(
            &join(path, "period"),
            format!("period {period} is not valid"),
            "use 10, 30 or a multiple of 60 seconds",
        );
    }
    let evaluation_periods = a.evaluation_periods.unwrap_or(1);
    if evaluation_periods == 0 || u64::from(evaluation_periods) * u64::from(period) > 86_400 {
        cx.error_hint(
            &join(path, "evaluation_periods"),
            format!("evaluation_periods {evaluation_periods} is out of range"),
            "at least 1, and periods × evaluation_periods at most one day",
        );
    }
    let comparison = a.comparison.unwrap_or_default().cfn();
    let threshold = cx.per_env(&a.threshold, &join(path, "threshold"));
    let mut actions = Vec::new();
    for (i, t) in a.actions.iter().enumerate() {
        if cx
            .target(t, &index(&join(path, "actions"), i), &["topic"])
            .is_some()
        {
            actions.push(json!({"Ref": pascal(t)}));
        }
    }
    let metric_list: Vec<Json> = names
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": format!("m{i}"), "name": m}))
        .collect();
    let expression = (0..names.len())
        .map(|i| format!("m{i}"))
        .collect::<Vec<_>>()
        .join(" + ");
    json!({
        "metrics": metric_list,
        "expression": expression,
        "statistic": statistic,
        "period": period,
        "evaluation_periods": evaluation_periods,
        "threshold": threshold,
        "comparison": comparison,
        "actions": actions,
    })
}

/// An alarm on a metric the functions publish: `namespace:` and
/// `metric:`, with `dimensions:`.
fn custom(cx: &mut Builder, a: &Alarm, key: &str, l: &str, ns: &str, path: &str) -> Json {
    if a.target.is_some() {
        cx.error_hint(
            path,
            format!("alarm `{key}` names both `target:` and `namespace:`"),
            "keep `target:` for a resource's metric, or `namespace:` for a custom one",
        );
    }
    if ns.starts_with("AWS/") || ns.is_empty() || ns.len() > 255 {
        cx.error_hint(
            &join(path, "namespace"),
            format!("`{ns}` cannot be a custom metric's namespace"),
            "AWS/ is AWS's own; use your system's name, e.g. `Media`",
        );
    }
    let dims: Vec<Json> = a
        .dimensions
        .iter()
        .map(|(name, value)| {
            let v = cx.value(value, &join(&join(path, "dimensions"), name));
            json!({"name": name, "value": v})
        })
        .collect();
    let common = common(cx, a, path);
    let mut out = json!({
        "logical": l,
        "name": cx.name(key),
        "description": a.description,
        "namespace": ns,
        "dimensions": dims,
    });
    if let (Json::Object(o), Json::Object(c)) = (&mut out, common) {
        o.extend(c);
    }
    out
}

/// How long an alarm may stay `INSUFFICIENT_DATA` before `state` warns,
/// at least: its first evaluations take a few periods after a deploy.
const SETTLING_S: i64 = 15 * 60;

/// Every alarm name of the stack, sorted: one DescribeAlarms answers them
/// all (see [`Resources::alarms`]).
fn stack_alarm_names(template: &Json) -> Vec<String> {
    let mut names: Vec<String> = template
        .get("Resources")
        .and_then(Json::as_object)
        .map(|r| {
            r.values()
                .filter(|x| x.get("Type").and_then(Json::as_str) == Some("AWS::CloudWatch::Alarm"))
                .filter_map(|x| x.get("Properties")?.get("AlarmName")?.as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Seconds an alarm takes to evaluate once: its period times its
/// evaluation periods, as rendered.
fn evaluation_s(props: Option<&Json>) -> i64 {
    let int = |v: Option<&Json>| v.and_then(Json::as_i64);
    let period = props.and_then(|p| {
        int(p.get("Period")).or_else(|| {
            p.get("Metrics")?
                .as_array()?
                .iter()
                .find_map(|m| int(m.get("MetricStat").and_then(|s| s.get("Period"))))
        })
    });
    period.unwrap_or(300) * int(props.and_then(|p| p.get("EvaluationPeriods"))).unwrap_or(1)
}

/// `state`: the alarm is not firing. `ALARM` fails, with CloudWatch's
/// reason and since when. `INSUFFICIENT_DATA` passes while the alarm is
/// new (its first evaluations, up to twice its evaluation time or 15
/// minutes); longer it warns, because stackctl's alarms treat missing
/// data as not breaching and so settle at `OK`: one stuck without data
/// watches a metric nothing publishes (a misspelt custom metric, say).
/// An alarm that does not exist fails on AWS; moto's CloudFormation never
/// creates alarms, so there it is `skip`.
fn health_state(found: Option<&AlarmState>, t: &Target<'_>, name: &str, now_s: i64) -> Finding {
    let Some(a) = found else {
        if t.emulated {
            return Finding::skip("state", "moto does not create CloudWatch alarms");
        }
        return Finding::fail("state", format!("alarm {name} does not exist"))
            .observed("does not exist")
            .expected("OK")
            .hint(format!(
                "it was deleted outside CloudFormation, which does not recreate it: remove it from the stack, `stackctl deploy --env {}`, and add it back",
                t.env
            ));
    };
    let since = a
        .since
        .as_deref()
        .map(|s| format!(" since {s}"))
        .unwrap_or_default();
    let observed = format!("{}{since}", a.state);
    let f = match a.state.as_str() {
        "OK" => Finding::pass("state", format!("OK{since}")),
        "ALARM" => Finding::fail("state", format!("in ALARM{since}: {}", a.reason)).hint(format!(
            "the alarm's description says what it watches; `aws cloudwatch describe-alarm-history --alarm-name {name}` shows when it fired"
        )),
        "INSUFFICIENT_DATA" => {
            let props = t.properties(&t.logical_id());
            let grace = (2 * evaluation_s(props)).max(SETTLING_S);
            let age = a.since_secs.map(|s| now_s - s);
            match age {
                Some(age) if age > grace => Finding::warn(
                    "state",
                    format!("no data for {} minutes: it watches a metric nothing publishes", age / 60),
                )
                .hint("check the metric's name, namespace and dimensions against what is published (`aws cloudwatch list-metrics`)"),
                _ => Finding::pass("state", format!("INSUFFICIENT_DATA{since}: not evaluated yet")),
            }
        }
        other => Finding::unknown("state", format!("unexpected state {other}")),
    };
    f.observed(observed).expected("OK")
}

impl Kind for Alarm {
    const NAME: &'static str = "alarm";
    const TEMPLATE_FILE: &'static str = "alarm.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/alarm.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const HEALTH_CHECKS: &'static [&'static str] = &["state"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// DescribeAlarms by the rendered `AlarmName`, asked once for every
    /// alarm of the stack (moto lists alarms without physical ids, so the
    /// name is what finds them).
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        vec![Pending::new(Self::HEALTH_CHECKS, async move {
            let logical = t.logical_id();
            let name = t
                .properties(&logical)
                .and_then(|p| p.get("AlarmName"))
                .and_then(Json::as_str)
                .ok_or_else(|| crate::health::Stop::Skip("no AlarmName rendered".into()))?;
            let names = stack_alarm_names(t.template);
            let alarms = aws.alarms(&names).await?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let found = alarms.iter().find(|a| a.name == name);
            Ok(vec![health_state(found, &t, name, now)])
        })]
    }

    /// DescribeAlarms on the alarm (metric alarms can be named; only
    /// composite ones need `*`, and stackctl makes none).
    fn health_access(&self, a: &AccessTarget<'_>) -> Vec<Access> {
        a.property(&a.logical_id(), "AlarmName")
            .map(|name| {
                Access::new(
                    "ReadAlarms",
                    &["cloudwatch:DescribeAlarms"],
                    a.arn("cloudwatch", &format!("alarm:{name}")),
                )
            })
            .into_iter()
            .collect()
    }

    fn name_problem(name: &str) -> Option<String> {
        simple_problem("alarm name", name, 255, "-_./ ")
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let a = self;
        let l = pascal(key);
        cx.claim(&l, path);
        if let Some(ns) = &a.namespace {
            return custom(cx, a, key, &l, ns, path);
        }
        let targets = super::alarm_targets();
        let tpath = join(path, "target");
        let Some(target_text) = &a.target else {
            cx.error_hint(
                path,
                format!("alarm `{key}` watches nothing"),
                "add `target: KEY` (a resource's metric) or `namespace: NAME` (a custom metric)",
            );
            return json!({"logical": l});
        };
        if !a.dimensions.is_empty() {
            cx.error_hint(
                &join(path, "dimensions"),
                "`dimensions:` is for custom metrics; a target's dimension is known",
                "remove `dimensions:`, or watch a custom metric with `namespace:`",
            );
        }
        let (target, part) = match target_text.split_once('.') {
            Some((t, p)) => (t, Some(p)),
            None => (target_text.as_str(), None),
        };
        let resource = cx.target(target, &tpath, &targets);
        if resource.is_some() && cx.replaced(target).is_some() {
            // The environment binds the target to a server of its own: no
            // CloudWatch metrics, so no alarm here.
            return json!({"logical": l, "bound": target});
        }
        let first_metric = a.metric.split('+').next().unwrap_or_default().trim();
        let place = resource.and_then(|r| {
            let v = r.alarm_target(cx, target, part, first_metric);
            if v.is_none() {
                cx.error_hint(
                    &tpath,
                    format!(
                        "a {} has no part `{}` to watch",
                        r.kind(),
                        part.unwrap_or_default()
                    ),
                    if r.kind() == "queue" {
                        "`KEY.dead_letter` needs `dead_letter:` on the queue"
                    } else {
                        "name the resource alone"
                    },
                );
            }
            v
        });
        let watched = resource.and_then(|r| r.alarm());
        let AlarmMetrics {
            namespace,
            dimension,
            metrics,
        } = watched.unwrap_or(AlarmMetrics {
            namespace: "",
            dimension: "",
            metrics: &[],
        });
        let names: Vec<&str> = a.metric.split('+').map(str::trim).collect();
        if watched.is_some() {
            for m in &names {
                if !metrics.contains(m) {
                    let d = cx
                        .stack
                        .source
                        .error(
                            join(path, "metric"),
                            format!("`{m}` is not a {namespace} metric stackctl knows"),
                        )
                        .suggest(m, metrics.iter().copied());
                    cx.diags.push(d);
                }
            }
        }
        // A target named by several dimensions, or whose metric lives in
        // another namespace, says so (see `Kind::alarm_target`).
        let (namespace, dimensions): (&str, Vec<Json>) = match place {
            Some(p) => (
                p.namespace,
                p.dimensions
                    .into_iter()
                    .map(|(name, value)| json!({"name": name, "value": value}))
                    .collect(),
            ),
            None => (namespace, vec![json!({"name": dimension, "value": null})]),
        };
        let mut out = json!({
            "logical": l,
            "name": cx.name(key),
            "description": a.description,
            "namespace": namespace,
            "dimensions": dimensions,
        });
        if let (Json::Object(o), Json::Object(c)) = (&mut out, common(cx, a, path)) {
            o.extend(c);
        }
        out
    }

    fn key_services(&self, stack: &crate::model::Stack) -> Vec<(String, &'static str)> {
        // CloudWatch publishes to an encrypted topic with the topic's key.
        self.actions
            .iter()
            .filter_map(|t| stack.resources.get(t))
            .filter_map(super::Resource::encryption_key)
            .map(|k| (k.to_string(), "cloudwatch.amazonaws.com"))
            .collect()
    }

    fn attribute(&self, _cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "name" => json!({"Ref": l}),
            "arn" => json!({"Fn::GetAtt": [l, "Arn"]}),
            // Not an attribute of an alarm (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::render;
    use serde_json::json;

    #[test]
    fn a_custom_metric_alarm_names_its_namespace_and_dimensions() {
        let t = render(
            "resources:
  jobs_failed:
    type: alarm
    namespace: Media
    metric: JobsFailed
    dimensions: {Environment: \"${env}\"}
    threshold: 0
",
        );
        let p = &t["Resources"]["JobsFailed"]["Properties"];
        assert_eq!(p["Namespace"], "Media");
        assert_eq!(p["MetricName"], "JobsFailed");
        assert_eq!(
            p["Dimensions"],
            json!([{"Name": "Environment", "Value": "dev"}])
        );
        assert_eq!(p["Statistic"], "Sum");
    }

    #[test]
    fn an_alarm_on_a_bound_cache_is_left_out_where_it_is_bound() {
        let stack = "resources:
  token:
    type: secret
    generate: {length: 32, punctuation: false}
  net:
    type: network
  cache:
    type: cache
    network: net
    node_type: cache.t4g.micro
    auth_token: token
  cache_busy:
    type: alarm
    target: cache
    metric: EngineCPUUtilization
    threshold: 80
";
        let t = super::super::testing::render(stack);
        assert_eq!(
            t["Resources"]["CacheBusy"]["Properties"]["Dimensions"][0]["Value"],
            json!({"Ref": "Cache"})
        );
        let bound = super::super::testing::render_in(
            "    bind:\n      app:\n        cache: {host: 127.0.0.1, port: 6379, tls: false}\n",
            stack,
        );
        assert!(bound["Resources"].get("Cache").is_none());
        assert!(bound["Resources"].get("CacheBusy").is_none(), "{bound}");
    }
}
