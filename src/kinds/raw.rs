//! `raw`: plain CloudFormation for what no kind covers. The logical id is
//! the key in PascalCase; `${key.ref}` is its `Ref`. Its properties may use
//! short-form tags (`!Ref`, `!GetAtt`, `!Sub`, ...) and `${KEY.ATTR}`
//! references; every logical id they name is checked (see `raw_cfn`).

use super::Kind;
use crate::model::source::join;
use crate::names::pascal;
use crate::render::context::{Builder, LogicalRef, RefKind};
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// Plain CloudFormation for what no kind covers. The logical id is the key in PascalCase.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// CloudFormation type, e.g. `AWS::SSM::Parameter`.
    pub resource_type: String,
    /// Properties, passed through unchanged.
    #[serde(default)]
    pub properties: Option<serde_yaml::Value>,
    /// Logical ids this resource depends on.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// `Delete`, `Retain`, `RetainExceptOnCreate` or `Snapshot`.
    #[serde(default)]
    pub deletion_policy: Option<super::DeletionPolicy>,
}

impl Kind for Raw {
    const NAME: &'static str = "raw";
    const TEMPLATE_FILE: &'static str = "raw.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/raw.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["ref"];
    /// Whatever names it has are in its properties.
    const NAMED: bool = false;

    fn name_pattern(&self) -> Option<&str> {
        None
    }

    fn name_problem(_name: &str) -> Option<String> {
        None
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let r = self;
        let l = pascal(key);
        cx.claim(&l, path);
        let ok = r.resource_type.starts_with("Custom::")
            || (r.resource_type.split("::").count() == 3 && r.resource_type.starts_with("AWS::"));
        if !ok {
            cx.error_hint(
                &join(path, "resource_type"),
                format!(
                    "`{}` is not a CloudFormation resource type",
                    r.resource_type
                ),
                "write it as `AWS::Service::Resource` or `Custom::Name`",
            );
        }
        let properties = r
            .properties
            .as_ref()
            .map(|p| super::raw_cfn::convert(cx, p, &join(path, "properties")));
        for (i, target) in r.depends_on.iter().enumerate() {
            cx.logical_refs.push(LogicalRef {
                target: target.clone(),
                path: crate::model::source::index(&join(path, "depends_on"), i),
                kind: RefKind::DependsOn,
            });
        }
        json!({
            "logical": l,
            "type": r.resource_type,
            "properties": properties,
            "depends_on": r.depends_on,
            "deletion_policy": r.deletion_policy,
        })
    }

    fn attribute(&self, _cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        match attr {
            "ref" => json!({"Ref": pascal(key)}),
            // Not an attribute of a raw resource (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }
}
