//! Event patterns, for the FilterCriteria of event source mappings: the
//! EventBridge pattern syntax Lambda event filtering uses.
//! <https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html>
//! Supported: exact values, `prefix`, `suffix`, `equals-ignore-case`,
//! `anything-but` (values or a prefix), `numeric`, `exists`. A pattern
//! with another operator (`wildcard`, `cidr`, `$or`) makes the source
//! unemulated rather than filter wrongly.

use serde_json::Value;

const OPERATORS: &[&str] = &[
    "prefix",
    "suffix",
    "equals-ignore-case",
    "anything-but",
    "numeric",
    "exists",
];

/// Whether serve can evaluate every pattern of `patterns`.
pub fn check_all(patterns: &[Value]) -> Result<(), String> {
    patterns.iter().try_for_each(check)
}

fn check(pattern: &Value) -> Result<(), String> {
    match pattern {
        Value::Object(m) => m.iter().try_for_each(|(k, v)| {
            if k.starts_with('$') {
                return Err(format!("filter operator `{k}` is not evaluated by serve"));
            }
            check(v)
        }),
        Value::Array(a) => a.iter().try_for_each(|v| match v {
            Value::Object(m) => m.keys().try_for_each(|k| {
                if OPERATORS.contains(&k.as_str()) {
                    Ok(())
                } else {
                    Err(format!("filter operator `{k}` is not evaluated by serve"))
                }
            }),
            _ => Ok(()),
        }),
        _ => Err(format!("`{pattern}` is not an event pattern")),
    }
}

/// Whether `event` matches any of `patterns` (all events match when there
/// are none).
pub fn any(patterns: &[Value], event: &Value) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| matches(p, event))
}

/// Whether `event` matches `pattern`.
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(key, want)| {
        let got = event.get(key);
        match want {
            Value::Object(_) => got.is_some_and(|g| matches(want, g)),
            Value::Array(options) => leaf(options, got),
            _ => false,
        }
    })
}

/// A leaf: `got` (absent, a value, or an array of values) against the
/// allowed `options`.
fn leaf(options: &[Value], got: Option<&Value>) -> bool {
    match got {
        None => options
            .iter()
            .any(|o| o.get("exists") == Some(&Value::Bool(false))),
        Some(Value::Array(values)) => values.iter().any(|v| one(options, v)),
        Some(v) => one(options, v),
    }
}

fn one(options: &[Value], v: &Value) -> bool {
    options.iter().any(|o| match o {
        Value::Object(op) => op.iter().all(|(name, arg)| operator(name, arg, v)),
        other => other == v,
    })
}

fn operator(name: &str, arg: &Value, v: &Value) -> bool {
    let text = v.as_str();
    match name {
        "exists" => arg == &Value::Bool(true),
        "prefix" => match (arg, text) {
            (Value::String(p), Some(t)) => t.starts_with(p.as_str()),
            (Value::Object(m), Some(t)) => m
                .get("equals-ignore-case")
                .and_then(Value::as_str)
                .is_some_and(|p| t.to_lowercase().starts_with(&p.to_lowercase())),
            _ => false,
        },
        "suffix" => matches!((arg, text), (Value::String(s), Some(t)) if t.ends_with(s.as_str())),
        "equals-ignore-case" => {
            matches!((arg, text), (Value::String(s), Some(t)) if s.eq_ignore_ascii_case(t))
        }
        "anything-but" => match arg {
            Value::Array(a) => !a.contains(v),
            Value::Object(m) => m.iter().all(|(n, a)| !operator(n, a, v)),
            other => other != v,
        },
        "numeric" => {
            let Some(x) = v.as_f64() else { return false };
            let Some(a) = arg.as_array() else {
                return false;
            };
            a.chunks(2).all(|pair| {
                let (Some(op), Some(n)) = (pair[0].as_str(), pair.get(1).and_then(Value::as_f64))
                else {
                    return false;
                };
                match op {
                    "=" => x == n,
                    "<" => x < n,
                    "<=" => x <= n,
                    ">" => x > n,
                    ">=" => x >= n,
                    _ => false,
                }
            })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns() {
        let p = json!({"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"status": {"S": [{"prefix": "done"}]}}}});
        let e = |name: &str, status: &str| json!({"eventName": name, "dynamodb": {"NewImage": {"status": {"S": status}}}});
        assert!(matches(&p, &e("INSERT", "done-ok")));
        assert!(!matches(&p, &e("REMOVE", "done-ok")));
        assert!(!matches(&p, &e("MODIFY", "pending")));
        let absent = json!({"a": [{"exists": false}]});
        assert!(matches(&absent, &json!({"b": 1})));
        assert!(!matches(&absent, &json!({"a": 1})));
        let num = json!({"n": [{"numeric": [">", 0, "<=", 5]}]});
        assert!(matches(&num, &json!({"n": 5})));
        assert!(!matches(&num, &json!({"n": 6})));
        let but = json!({"s": [{"anything-but": ["x", "y"]}]});
        assert!(matches(&but, &json!({"s": "z"})));
        assert!(!matches(&but, &json!({"s": "x"})));
        assert!(any(&[], &json!({})));
        assert!(check_all(&[json!({"a": [{"wildcard": "*.png"}]})]).is_err());
        assert!(check_all(&[p]).is_ok());
    }
}
