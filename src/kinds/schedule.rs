//! `schedule`: an EventBridge rule invoking a function on `rate(...)` or
//! `cron(...)`, enabled per environment.

use super::Kind;
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

impl Kind for Schedule {
    const NAME: &'static str = "schedule";
    const TEMPLATE_FILE: &'static str = "schedule.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/schedule.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
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
