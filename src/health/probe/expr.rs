//! Evaluates the CloudFormation expression a probe's URL (or a secret's
//! id) rendered to, against the deployed stack: `Ref` of a resource is its
//! physical id as ListStackResources gives it, `Ref` of a parameter its
//! deployed value, the pseudo parameters health knows from the
//! environment; `Fn::Sub` and `Fn::Join` over those. The kinds' `url`
//! attributes are of this shape (`https://${Api}.execute-api.${AWS::Region}
//! .${AWS::URLSuffix}/dev`), so no output has to be declared for a probe.

use crate::health::Deployed;
use serde_json::Value as Json;

/// What an expression is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The environment's region.
    pub region: &'a str,
    /// The deployed stack.
    pub deployed: &'a Deployed,
    /// The rendered template (which names are resources, which parameters).
    pub template: &'a Json,
}

/// Why an expression has no value here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// Resource `logical` (of CloudFormation type `kind`) has no physical
    /// id in the deployed stack: missing, or a placeholder the emulator
    /// created nothing for.
    NoResource {
        /// Its logical id.
        logical: String,
        /// Its CloudFormation type.
        kind: String,
    },
    /// Something health cannot evaluate from the deployed stack.
    Unsupported(String),
}

/// The value of `expr`.
pub fn evaluate(expr: &Json, scope: &Scope) -> Result<String, Unresolved> {
    match expr {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        Json::Object(map) if map.len() == 1 => {
            let (f, arg) = map.iter().next().expect("one entry");
            match (f.as_str(), arg) {
                ("Ref", Json::String(name)) => reference(name, scope),
                ("Fn::Sub", Json::String(body)) => sub(body, &serde_json::Map::new(), scope),
                ("Fn::Sub", Json::Array(a)) if a.len() == 2 => match (&a[0], &a[1]) {
                    (Json::String(body), Json::Object(vars)) => sub(body, vars, scope),
                    _ => Err(Unresolved::Unsupported(format!("{f} {arg}"))),
                },
                ("Fn::Join", Json::Array(a)) if a.len() == 2 => match (&a[0], &a[1]) {
                    (Json::String(sep), Json::Array(items)) => Ok(items
                        .iter()
                        .map(|i| evaluate(i, scope))
                        .collect::<Result<Vec<_>, _>>()?
                        .join(sep)),
                    _ => Err(Unresolved::Unsupported(format!("{f} {arg}"))),
                },
                _ => Err(Unresolved::Unsupported(format!("{f} {arg}"))),
            }
        }
        other => Err(Unresolved::Unsupported(other.to_string())),
    }
}

/// `Ref` of `name`: a pseudo parameter, a parameter, or a resource.
fn reference(name: &str, scope: &Scope) -> Result<String, Unresolved> {
    let region = scope.region;
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    match name {
        "AWS::Region" => return Ok(region.to_string()),
        "AWS::Partition" => return Ok(partition.to_string()),
        "AWS::URLSuffix" => {
            return Ok(if partition == "aws-cn" {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            }
            .to_string())
        }
        _ if name.starts_with("AWS::") => {
            return Err(Unresolved::Unsupported(format!("Ref {name}")));
        }
        _ => {}
    }
    let t = scope.template;
    if t.get("Parameters").and_then(|p| p.get(name)).is_some() {
        return scope.deployed.parameters.get(name).cloned().ok_or_else(|| {
            Unresolved::Unsupported(format!("parameter {name} has no deployed value"))
        });
    }
    let kind = t
        .get("Resources")
        .and_then(|r| r.get(name))
        .and_then(|r| r.get("Type"))
        .and_then(Json::as_str)
        .unwrap_or("resource")
        .to_string();
    match scope.deployed.resources.get(name) {
        Some(id) if !id.is_empty() => Ok(id.clone()),
        _ => Err(Unresolved::NoResource {
            logical: name.to_string(),
            kind,
        }),
    }
}

/// `Fn::Sub` of `body` with `vars`.
fn sub(
    body: &str,
    vars: &serde_json::Map<String, Json>,
    scope: &Scope,
) -> Result<String, Unresolved> {
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(Unresolved::Unsupported(format!("Fn::Sub {body}")));
        };
        let name = &after[..end];
        if let Some(literal) = name.strip_prefix('!') {
            out.push_str("${");
            out.push_str(literal);
            out.push('}');
        } else if let Some(v) = vars.get(name) {
            out.push_str(&evaluate(v, scope)?);
        } else if name.contains('.') {
            return Err(Unresolved::Unsupported(format!("Fn::GetAtt {name}")));
        } else {
            out.push_str(&reference(name, scope)?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployed() -> Deployed {
        Deployed {
            resources: [
                ("Api".to_string(), "a1b2c3".to_string()),
                ("Ws".to_string(), String::new()),
            ]
            .into(),
            parameters: [("Stage".to_string(), "dev".to_string())].into(),
        }
    }

    fn template() -> Json {
        json!({
            "Parameters": {"Stage": {"Type": "String"}},
            "Resources": {
                "Api": {"Type": "AWS::ApiGatewayV2::Api"},
                "Ws": {"Type": "AWS::ApiGatewayV2::Api"},
            }
        })
    }

    fn eval(expr: Json) -> Result<String, Unresolved> {
        let (d, t) = (deployed(), template());
        evaluate(
            &expr,
            &Scope {
                region: "eu-west-1",
                deployed: &d,
                template: &t,
            },
        )
    }

    #[test]
    fn an_api_url_becomes_its_deployed_address() {
        let url =
            json!({"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/dev"});
        assert_eq!(
            eval(url).unwrap(),
            "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/dev"
        );
        let with_vars = json!({"Fn::Sub": ["${ApiUrl}/status/${!x}?s=${Stage}", {"ApiUrl": {"Fn::Sub": "https://${Api}.example"}}]});
        assert_eq!(
            eval(with_vars).unwrap(),
            "https://a1b2c3.example/status/${x}?s=dev"
        );
    }

    #[test]
    fn a_placeholder_or_an_attribute_has_no_value() {
        assert_eq!(
            eval(json!({"Fn::Sub": "wss://${Ws}.execute-api"})),
            Err(Unresolved::NoResource {
                logical: "Ws".into(),
                kind: "AWS::ApiGatewayV2::Api".into()
            })
        );
        assert!(matches!(
            eval(json!({"Fn::Sub": "https://${Db.Endpoint.Address}"})),
            Err(Unresolved::Unsupported(_))
        ));
        assert!(matches!(
            eval(json!({"Fn::ImportValue": "x"})),
            Err(Unresolved::Unsupported(_))
        ));
        assert_eq!(
            eval(json!("http://127.0.0.1:1/x")).unwrap(),
            "http://127.0.0.1:1/x"
        );
    }
}
