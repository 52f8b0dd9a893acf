//! The CloudFormation a `raw` resource holds, read the way a user pastes
//! it: short-form intrinsic tags (`!Ref X`, `!GetAtt A.B`, `!Sub ...`)
//! become their long form, `${KEY.ATTR}` references to the stack's
//! resources resolve as everywhere else in a stack file, and every `Ref`,
//! `Fn::GetAtt`, `Fn::Sub` variable and `DependsOn` target is recorded so
//! the stack can check it names something that exists (see
//! [`crate::render::context::LogicalRef`]).

use crate::model::source::{index, join};
use crate::render::context::{Builder, LogicalRef, RefKind};
use serde_json::{json, Map, Value as Json};
use serde_yaml::Value as Yaml;

/// The short-form tags CloudFormation's YAML takes, and their long forms.
const TAGS: &[(&str, &str)] = &[
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("GetAtt", "Fn::GetAtt"),
    ("Sub", "Fn::Sub"),
    ("Join", "Fn::Join"),
    ("Select", "Fn::Select"),
    ("Split", "Fn::Split"),
    ("If", "Fn::If"),
    ("Equals", "Fn::Equals"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("Not", "Fn::Not"),
    ("FindInMap", "Fn::FindInMap"),
    ("ImportValue", "Fn::ImportValue"),
    ("Base64", "Fn::Base64"),
    ("Cidr", "Fn::Cidr"),
    ("GetAZs", "Fn::GetAZs"),
    ("Length", "Fn::Length"),
    ("ToJsonString", "Fn::ToJsonString"),
    ("Transform", "Fn::Transform"),
];

/// `value` (at `path` of the stack file) as CloudFormation JSON.
pub fn convert(cx: &mut Builder, value: &Yaml, path: &str) -> Json {
    match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => json!(b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Json::Null),
        Yaml::String(s) if s.contains("${") => cx.value(s, path),
        Yaml::String(s) => json!(s),
        Yaml::Sequence(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| convert(cx, v, &index(path, i)))
                .collect(),
        ),
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = crate::model::typed::key_text(k).unwrap_or_default();
                let vpath = join(path, &key);
                let converted = match key.as_str() {
                    // Fn::Sub's `${...}` are CloudFormation's, not stackctl's.
                    "Fn::Sub" => sub(cx, v, &vpath),
                    _ => convert(cx, v, &vpath),
                };
                record(cx, &key, &converted, &vpath);
                out.insert(key, converted);
            }
            Json::Object(out)
        }
        Yaml::Tagged(t) => {
            let name = t.tag.to_string();
            let name = name.trim_start_matches('!');
            match TAGS.iter().find(|(short, _)| *short == name) {
                Some((_, long)) => {
                    let inner = match (*long, &t.value) {
                        ("Fn::GetAtt", Yaml::String(s)) => match s.split_once('.') {
                            Some((resource, attr)) => json!([resource, attr]),
                            None => json!(s),
                        },
                        ("Fn::Sub", v) => sub(cx, v, path),
                        (_, v) => convert(cx, v, path),
                    };
                    record(cx, long, &inner, path);
                    json!({ *long: inner })
                }
                None => {
                    let d = cx
                        .stack
                        .source
                        .error(path, format!("`!{name}` is not a CloudFormation tag"))
                        .suggest(name, TAGS.iter().map(|(short, _)| *short));
                    cx.diags.push(d);
                    Json::Null
                }
            }
        }
    }
}

/// An `Fn::Sub` argument: its string (or `[string, variables]`) kept as
/// written, its variables recorded for the check.
fn sub(cx: &mut Builder, value: &Yaml, path: &str) -> Json {
    match value {
        Yaml::String(s) => json!(s),
        Yaml::Sequence(items) if !items.is_empty() => {
            let text = match &items[0] {
                Yaml::String(s) => json!(s),
                other => convert(cx, other, &index(path, 0)),
            };
            let rest: Vec<Json> = items[1..]
                .iter()
                .enumerate()
                .map(|(i, v)| convert(cx, v, &index(path, i + 1)))
                .collect();
            let mut all = vec![text];
            all.extend(rest);
            Json::Array(all)
        }
        other => convert(cx, other, path),
    }
}

/// Records the logical ids an intrinsic `key` with argument `arg` names.
fn record(cx: &mut Builder, key: &str, arg: &Json, path: &str) {
    let mut push = |target: &str, kind: RefKind| {
        cx.logical_refs.push(LogicalRef {
            target: target.to_string(),
            path: path.to_string(),
            kind,
        });
    };
    match key {
        "Ref" => {
            if let Some(t) = arg.as_str() {
                push(t, RefKind::Ref);
            }
        }
        "Fn::GetAtt" => {
            let target = match arg {
                Json::Array(a) => a.first().and_then(Json::as_str),
                Json::String(s) => s.split('.').next(),
                _ => None,
            };
            if let Some(t) = target {
                push(t, RefKind::GetAtt);
            }
        }
        "Fn::Sub" => {
            let (text, vars) = match arg {
                Json::String(s) => (s.as_str(), None),
                Json::Array(a) => (
                    a.first().and_then(Json::as_str).unwrap_or_default(),
                    a.get(1).and_then(Json::as_object),
                ),
                _ => ("", None),
            };
            for var in sub_variables(text) {
                if vars.is_some_and(|v| v.contains_key(var)) {
                    continue;
                }
                let target = var.split('.').next().unwrap_or(var);
                let kind = if var.contains('.') {
                    RefKind::GetAtt
                } else {
                    RefKind::Ref
                };
                push(target, kind);
            }
        }
        "DependsOn" => match arg {
            Json::String(s) => push(s, RefKind::DependsOn),
            Json::Array(a) => {
                for t in a.iter().filter_map(Json::as_str) {
                    push(t, RefKind::DependsOn);
                }
            }
            _ => {}
        },
        _ => {}
    }
}

/// The variables of an `Fn::Sub` string: `${Name}` and `${Name.Attr}`,
/// not the literal `${!...}`.
pub fn sub_variables(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let var = after[..end].trim();
        if !var.starts_with('!') && !var.is_empty() {
            out.push(var);
        }
        rest = &after[end + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::render;
    use super::sub_variables;
    use serde_json::json;

    #[test]
    fn sub_variables_skip_literals() {
        assert_eq!(
            sub_variables("arn:${AWS::Partition}:s3:::${Bucket}/${!Literal}/${Fn.Arn}"),
            ["AWS::Partition", "Bucket", "Fn.Arn"]
        );
    }

    #[test]
    fn short_form_tags_become_long_form_and_references_resolve() {
        let t = render(
            "resources:
  jobs:
    type: queue
  rule:
    type: raw
    resource_type: AWS::Events::Rule
    depends_on: [Jobs]
    properties:
      EventPattern: {source: [aws.s3]}
      Targets:
        - Id: jobs
          Arn: !GetAtt Jobs.Arn
        - Id: again
          Arn: ${jobs.arn}
      Description: !Sub 'rule of ${AWS::StackName} for ${Jobs}'
      Name: !Join ['-', [!Ref AWS::StackName, rule]]
",
        );
        let p = &t["Resources"]["Rule"]["Properties"];
        assert_eq!(
            p["Targets"][0]["Arn"],
            json!({"Fn::GetAtt": ["Jobs", "Arn"]})
        );
        assert_eq!(
            p["Targets"][1]["Arn"],
            json!({"Fn::GetAtt": ["Jobs", "Arn"]})
        );
        assert_eq!(
            p["Description"],
            json!({"Fn::Sub": "rule of ${AWS::StackName} for ${Jobs}"})
        );
        assert_eq!(
            p["Name"],
            json!({"Fn::Join": ["-", [{"Ref": "AWS::StackName"}, "rule"]]})
        );
        assert!(!t.to_string().contains("\"!"), "{t}");
    }
}
