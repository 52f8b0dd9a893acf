//! `schedule`: an EventBridge rule invoking a function on `rate(...)` or
//! `cron(...)`, enabled per environment.

use super::Kind;
use crate::aws::cloudformation::ErrorKind;
use crate::aws::resources::{ReadError, Resources, RuleState};
use crate::health::access::{Access, AccessTarget};
use crate::health::resolve::Resolver;
use crate::health::{read_failed, Finding, Pending, Target};
use crate::limits::simple_problem;
use crate::model::source::join;
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// EventBridge rule invoking a function on a schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// `rate(N unit)` or `cron(...)` (six fields).
    pub expression: String,
    /// The function key to invoke.
    pub target: String,
    /// Whether the rule is enabled (default true).
    #[serde(default)]
    pub enabled: Option<PerEnv<bool>>,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// The permission letting EventBridge invoke the target.
const PERMISSION: super::Part = super::Part {
    name: "permission",
    suffix: "Permission",
};

/// `enabled`: the rule's state as declared (`ENABLED`, or `DISABLED` where
/// `enabled: false`). A rule disabled out of band fails: the function is
/// no longer invoked on schedule, and nothing else says so. One enabled
/// though declared disabled warns.
fn health_enabled(rule: &RuleState, t: &Target<'_>, logical: &str, name: &str) -> Finding {
    let declared = t
        .properties(logical)
        .and_then(|p| p.get("State"))
        .and_then(Json::as_str)
        .unwrap_or("ENABLED");
    let s = rule.state.as_str();
    let f = match (declared, s) {
        (d, s) if d == s => Finding::pass("enabled", format!("{s}, as declared")),
        ("ENABLED", _) => Finding::fail(
            "enabled",
            format!("the rule is {s}: the function is not invoked on schedule"),
        )
        .hint(format!(
            "`aws events enable-rule --name {name}` (CloudFormation does not notice it, so a deploy does not enable it)"
        )),
        _ => Finding::warn("enabled", format!("the rule is {s}, though declared {declared}"))
            .hint(format!("`aws events disable-rule --name {name}`, or declare `enabled: true` for {}", t.env)),
    };
    f.observed(s).expected(declared)
}

/// `target`: the rule still targets the declared function, and that
/// function exists.
fn health_target(
    rule: &RuleState,
    function: Result<(), ReadError>,
    t: &Target<'_>,
    logical: &str,
    name: &str,
) -> Finding {
    let declared = t
        .properties(logical)
        .and_then(|p| p.get("Targets"))
        .and_then(|ts| ts.get(0))
        .and_then(|x| x.get("Arn"));
    let Some(declared) = declared else {
        return Finding::skip("target", "no target rendered");
    };
    let want = Resolver::new(t).resolve(declared);
    let expected = format!("targets {want}");
    let observed = if rule.targets.is_empty() {
        "no targets".to_string()
    } else {
        format!("targets {}", rule.targets.join(", "))
    };
    let f = if !rule.targets.iter().any(|a| want.matches(a)) {
        Finding::fail("target", "the rule no longer targets its function")
            .hint(format!("its targets were changed outside CloudFormation; `aws events list-targets-by-rule --rule {name}` shows them, and `stackctl deploy --env {}` puts the declared one back only if the template changes, so put it back with `aws events put-targets`", t.env))
    } else {
        match function {
            Ok(()) => {
                let extra = rule.targets.iter().filter(|a| !want.matches(a)).count();
                if extra > 0 {
                    Finding::warn("target", format!("the rule has {extra} target(s) besides its function"))
                        .hint(format!("`aws events list-targets-by-rule --rule {name}` shows them; remove what was added by hand"))
                } else {
                    Finding::pass("target", "its function exists and is the rule's target")
                }
            }
            Err(e) if e.kind == ErrorKind::NotFound => {
                Finding::fail("target", format!("the target function does not exist ({})", e.message))
                    .hint(format!("it was deleted outside CloudFormation; `stackctl deploy --env {}` does not recreate it: recreate it by hand, or remove and re-add the function", t.env))
            }
            Err(e) => read_failed("target", &e, t.env),
        }
    };
    f.observed(observed).expected(expected)
}

impl Kind for Schedule {
    const NAME: &'static str = "schedule";
    const TEMPLATE_FILE: &'static str = "schedule.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/schedule.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];
    const HEALTH_CHECKS: &'static [&'static str] = &["enabled", "target"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// DescribeRule and ListTargetsByRule on the rule, judged as `enabled`
    /// and `target`; GetFunction on the target function (`target`).
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        vec![Pending::new(Self::HEALTH_CHECKS, async move {
            let logical = t.logical_id();
            let name = t.physical_id(&logical)?;
            let rule = aws.rule(name).await?;
            let function = match t.physical_id(&pascal(&self.target)) {
                Ok(f) => aws.function(f).await.map(|_| ()),
                Err(_) => Err(ReadError::new(
                    ErrorKind::NotFound,
                    format!("{} is not in the deployed stack", pascal(&self.target)),
                )),
            };
            Ok(vec![
                health_enabled(&rule, &t, &logical, name),
                health_target(&rule, function, &t, &logical, name),
            ])
        })]
    }

    /// DescribeRule and ListTargetsByRule on the rule; GetFunction on its
    /// target.
    fn health_access(&self, a: &AccessTarget<'_>) -> Vec<Access> {
        let mut out = Vec::new();
        if let Some(name) = a.property(&a.logical_id(), "Name") {
            out.push(Access::new(
                "ReadScheduleRules",
                &["events:DescribeRule", "events:ListTargetsByRule"],
                a.arn("events", &format!("rule/{name}")),
            ));
        }
        if let Some(f) = a.property(&pascal(&self.target), "FunctionName") {
            out.push(Access::new(
                "ReadFunctions",
                &["lambda:GetFunction"],
                a.arn("lambda", &format!("function:{f}")),
            ));
        }
        out
    }

    fn name_problem(name: &str) -> Option<String> {
        simple_problem("rule name", name, 64, "-_.")
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let s = self;
        let l = pascal(key);
        for id in [l.clone(), PERMISSION.of(&l)] {
            cx.claim(&id, path);
        }
        if let Some(problem) = schedule_problem(&s.expression) {
            cx.error_hint(
                &join(path, "expression"),
                problem,
                "e.g. `rate(1 hour)`, `rate(5 minutes)` or `cron(0 3 * * ? *)`",
            );
        }
        cx.target(&s.target, &join(path, "target"), &["function"]);
        let enabled = match &s.enabled {
            Some(e) => cx.per_env(e, &join(path, "enabled")).unwrap_or(true),
            None => true,
        };
        json!({
            "ids": super::ids(&l, &[PERMISSION]),
            "logical": l,
            "name": cx.name(key),
            "description": s.description,
            "expression": s.expression,
            "enabled": enabled,
            "function": pascal(&s.target),
        })
    }

    fn invokes_async(&self, function: &str) -> bool {
        self.target == function
    }

    fn attribute(&self, _cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "name" => json!({"Ref": l}),
            "arn" => json!({"Fn::GetAtt": [l, "Arn"]}),
            // Not an attribute of a schedule (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }
}

/// Why an EventBridge schedule expression is invalid.
pub fn schedule_problem(expr: &str) -> Option<String> {
    if let Some(body) = expr.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut it = body.split_whitespace();
        let (Some(n), Some(unit), None) = (it.next(), it.next(), it.next()) else {
            return Some(format!("`{expr}` is not `rate(N unit)`"));
        };
        let Ok(n) = n.parse::<u32>() else {
            return Some(format!("`{expr}`: `{n}` is not a whole number"));
        };
        if n == 0 {
            return Some(format!("`{expr}`: the rate must be at least 1"));
        }
        let singular = ["minute", "hour", "day"];
        let plural = ["minutes", "hours", "days"];
        return match (n == 1, singular.contains(&unit), plural.contains(&unit)) {
            (true, true, _) | (false, _, true) => None,
            (true, false, true) => Some(format!(
                "`{expr}`: write `rate(1 {})`",
                unit.trim_end_matches('s')
            )),
            (false, true, _) => Some(format!("`{expr}`: write `rate({n} {unit}s)`")),
            _ => Some(format!(
                "`{expr}`: unit `{unit}` is not minutes, hours or days"
            )),
        };
    }
    if let Some(body) = expr.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let fields = body.split_whitespace().count();
        if fields != 6 {
            return Some(format!("`{expr}` has {fields} fields; EventBridge cron takes 6 (minutes hours day-of-month month day-of-week year)"));
        }
        return None;
    }
    Some(format!("`{expr}` is neither `rate(...)` nor `cron(...)`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_expressions() {
        assert!(schedule_problem("rate(1 hour)").is_none());
        assert!(schedule_problem("rate(15 minutes)").is_none());
        assert!(schedule_problem("cron(0 3 * * ? *)").is_none());
        assert!(schedule_problem("rate(1 hours)")
            .unwrap()
            .contains("rate(1 hour)"));
        assert!(schedule_problem("rate(5 minute)")
            .unwrap()
            .contains("rate(5 minutes)"));
        assert!(schedule_problem("rate(0 days)").is_some());
        assert!(schedule_problem("cron(0 3 * * *)").unwrap().contains("6"));
        assert!(schedule_problem("every hour").is_some());
    }
}
