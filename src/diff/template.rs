//! Reading a template body as CloudFormation returns it (GetTemplate gives
//! back what was submitted: JSON or YAML, possibly with short-form intrinsic
//! tags such as `!Ref` and `!GetAtt` when another tool deployed the stack)
//! into the long-form JSON that stackctl renders, so the two can be compared.

use anyhow::{bail, Context};
use serde_json::{Map, Number, Value};
use serde_yaml::value::TaggedValue;

/// Short-form tags that become `{"Fn::<Name>": value}`.
const FN_TAGS: &[&str] = &[
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "ForEach",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
];

/// Parses a template body (YAML or JSON; CloudFormation returns what was
/// submitted) into JSON. CloudFormation short-form tags become their long
/// form: `!Ref X` -> `{"Ref": "X"}`, `!Condition C` -> `{"Condition": "C"}`,
/// `!GetAtt A.B` -> `{"Fn::GetAtt": ["A", "B"]}`, and `!Sub`, `!If`, `!Join`
/// and the other functions -> `{"Fn::<Name>": ...}`.
pub fn parse_template(body: &str) -> anyhow::Result<Value> {
    if body.trim_start().starts_with('{') {
        // JSON is the common case and serde_json reads it exactly; a YAML
        // flow mapping may also start with `{`, so fall through on failure.
        if let Ok(value) = serde_json::from_str(body) {
            return Ok(value);
        }
    }
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(body).context("parsing the template as YAML or JSON")?;
    to_json(yaml)
}

fn to_json(value: serde_yaml::Value) -> anyhow::Result<Value> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => number(&n),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<anyhow::Result<_>>()?,
        ),
        Y::Mapping(mapping) => {
            let mut map = Map::new();
            for (k, v) in mapping {
                map.insert(key(k)?, to_json(v)?);
            }
            Value::Object(map)
        }
        Y::Tagged(tagged) => intrinsic(*tagged)?,
    })
}

fn number(n: &serde_yaml::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::from(i)
    } else if let Some(u) = n.as_u64() {
        Value::from(u)
    } else {
        // `.nan` and `.inf` have no JSON number; keep their text.
        n.as_f64()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(n.to_string()), Value::Number)
    }
}

fn key(k: serde_yaml::Value) -> anyhow::Result<String> {
    use serde_yaml::Value as Y;
    Ok(match k {
        Y::String(s) => s,
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::Null => "null".to_string(),
        other => bail!("unsupported mapping key in template: {other:?}"),
    })
}

fn intrinsic(tagged: TaggedValue) -> anyhow::Result<Value> {
    let tag = tagged.tag.to_string();
    let name = tag.trim_start_matches('!');
    let value = to_json(tagged.value)?;
    let (key, value) = match name {
        "Ref" | "Condition" => (name.to_string(), value),
        "GetAtt" => ("Fn::GetAtt".to_string(), get_att(value)?),
        _ if FN_TAGS.contains(&name) => (format!("Fn::{name}"), value),
        _ => bail!("unknown CloudFormation tag `{tag}` in template"),
    };
    let mut map = Map::new();
    map.insert(key, value);
    Ok(Value::Object(map))
}

/// `!GetAtt Resource.Attribute` (the attribute may itself contain dots, as in
/// `Endpoint.Address`) or the list form `!GetAtt [Resource, Attribute]`.
fn get_att(value: Value) -> anyhow::Result<Value> {
    match value {
        Value::String(s) => match s.split_once('.') {
            Some((resource, attribute)) => Ok(Value::from(vec![resource, attribute])),
            None => bail!("`!GetAtt {s}` is not of the form Resource.Attribute"),
        },
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_form_tags_become_long_form_functions() {
        let body = r#"
AWSTemplateFormatVersion: "2010-09-09"
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Role: !GetAtt Role.Arn
      Address: !GetAtt Db.Endpoint.Address
      Listed: !GetAtt [Role, Arn]
      FunctionName: !Sub "${AWS::StackName}-fn"
      MemorySize: !If [IsProd, 512, 256]
      Description: !Join ["-", [a, !Ref Env]]
      Zone: !Select [0, !GetAZs ""]
      Imported: !ImportValue shared-table
      Mapped: !FindInMap [Sizes, !Ref Env, Memory]
      Data: !Base64 hello
      Parts: !Split [",", "a,b"]
Outputs:
  Arn:
    Value: !GetAtt Fn.Arn
"#;
        let t = parse_template(body).unwrap();
        assert_eq!(
            t["Conditions"]["IsProd"],
            json!({"Fn::Equals": [{"Ref": "Env"}, "prod"]})
        );
        assert_eq!(
            t["Conditions"]["NotProd"],
            json!({"Fn::Not": [{"Condition": "IsProd"}]})
        );
        let p = &t["Resources"]["Fn"]["Properties"];
        assert_eq!(p["Role"], json!({"Fn::GetAtt": ["Role", "Arn"]}));
        assert_eq!(
            p["Address"],
            json!({"Fn::GetAtt": ["Db", "Endpoint.Address"]})
        );
        assert_eq!(p["Listed"], json!({"Fn::GetAtt": ["Role", "Arn"]}));
        assert_eq!(
            p["FunctionName"],
            json!({"Fn::Sub": "${AWS::StackName}-fn"})
        );
        assert_eq!(p["MemorySize"], json!({"Fn::If": ["IsProd", 512, 256]}));
        assert_eq!(
            p["Description"],
            json!({"Fn::Join": ["-", ["a", {"Ref": "Env"}]]})
        );
        assert_eq!(p["Zone"], json!({"Fn::Select": [0, {"Fn::GetAZs": ""}]}));
        assert_eq!(p["Imported"], json!({"Fn::ImportValue": "shared-table"}));
        assert_eq!(
            p["Mapped"],
            json!({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]})
        );
        assert_eq!(p["Data"], json!({"Fn::Base64": "hello"}));
        assert_eq!(p["Parts"], json!({"Fn::Split": [",", "a,b"]}));
        assert_eq!(
            t["Outputs"]["Arn"]["Value"],
            json!({"Fn::GetAtt": ["Fn", "Arn"]})
        );
    }

    #[test]
    fn json_bodies_parse_as_json() {
        let body = r#"{"Resources": {"Q": {"Type": "AWS::SQS::Queue",
            "Properties": {"DelaySeconds": 5, "QueueName": {"Fn::Sub": "${AWS::StackName}-q"}}}}}"#;
        let t = parse_template(body).unwrap();
        assert_eq!(
            t,
            json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue",
                "Properties": {"DelaySeconds": 5, "QueueName": {"Fn::Sub": "${AWS::StackName}-q"}}}}})
        );
    }

    #[test]
    fn yaml_flow_mapping_starting_with_a_brace_still_parses() {
        let t = parse_template("{Resources: {Q: {Type: !Sub 'AWS::SQS::Queue'}}}").unwrap();
        assert_eq!(
            t["Resources"]["Q"]["Type"],
            json!({"Fn::Sub": "AWS::SQS::Queue"})
        );
    }

    #[test]
    fn unknown_tags_and_bad_get_att_are_errors() {
        let err = parse_template("A: !Bogus x").unwrap_err();
        assert!(err.to_string().contains("!Bogus"), "{err}");
        let err = parse_template("A: !GetAtt NoDot").unwrap_err();
        assert!(err.to_string().contains("Resource.Attribute"), "{err}");
        assert!(parse_template("A: [unclosed").is_err());
    }
}
