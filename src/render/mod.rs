//! Rendering: one stack in one environment to a CloudFormation template.
//! Pure and deterministic: the same project gives byte-identical output,
//! and function code enters as parameters, so no build is needed.

pub mod context;
pub mod iam;
pub mod yaml;

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::model::Project;
use context::Builder;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tera::Tera;

/// The stack skeleton's template, built in.
const STACK_TEMPLATE: (&str, &str) = (
    "stack.yaml.tera",
    include_str!("../../templates/stack.yaml.tera"),
);

/// Templates shipped with stackctl (the stack skeleton's and every kind's);
/// a project's `templates/NAME` replaces one.
pub fn builtin_templates() -> impl Iterator<Item = (&'static str, &'static str)> {
    std::iter::once(STACK_TEMPLATE).chain(crate::kinds::TEMPLATES.iter().copied())
}

/// The templates in use, with where each came from.
pub struct Templates {
    tera: Tera,
    origin: BTreeMap<String, PathBuf>,
}

fn json_filter(value: &tera::Value, _: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    serde_json::to_string(value)
        .map(tera::Value::String)
        .map_err(|e| tera::Error::msg(e.to_string()))
}

/// The full text of a tera error, whose useful part is often in its sources.
fn tera_message(e: &tera::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

impl Templates {
    /// Built-in templates, each replaced by `ROOT/templates/NAME` where that exists.
    pub fn load(root: &Path) -> Result<Self, Diagnostics> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("json", json_filter);
        let mut diags = Diagnostics::default();
        let mut origin = BTreeMap::new();
        let dir = root.join("templates");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in names {
                if name.ends_with(".tera") && !builtin_templates().any(|(n, _)| n == name) {
                    let rel = PathBuf::from("templates").join(&name);
                    diags.push(
                        Diagnostic::new(
                            &rel,
                            "",
                            format!("`{name}` is not a template stackctl uses"),
                        )
                        .suggest(
                            &name,
                            builtin_templates().map(|(n, _)| n).collect::<Vec<_>>(),
                        ),
                    );
                }
            }
        }
        for (name, builtin) in builtin_templates() {
            let rel = PathBuf::from("templates").join(name);
            let text = match std::fs::read_to_string(root.join(&rel)) {
                Ok(t) => {
                    origin.insert(name.to_string(), rel.clone());
                    t
                }
                Err(_) => {
                    origin.insert(
                        name.to_string(),
                        PathBuf::from(format!("<built-in {name}>")),
                    );
                    builtin.to_string()
                }
            };
            if let Err(e) = tera.add_raw_template(name, &text) {
                diags.push(Diagnostic::new(
                    &rel,
                    "",
                    format!("template does not parse: {}", tera_message(&e)),
                ));
            }
        }
        if diags.is_empty() {
            Ok(Self { tera, origin })
        } else {
            Err(diags)
        }
    }

    fn render(&self, name: &str, ctx: &tera::Context) -> Result<String, Diagnostic> {
        self.tera.render(name, ctx).map_err(|e| {
            Diagnostic::new(
                &self.origin[name],
                "",
                format!("template failed: {}", tera_message(&e)),
            )
        })
    }
}

/// One stack rendered for one environment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rendered {
    /// Stack name in the project.
    pub stack: String,
    /// Environment.
    pub env: String,
    /// CloudFormation stack name.
    pub stack_name: String,
    /// The template, YAML.
    pub template: String,
    /// Stack parameter values for this environment, by logical id.
    pub parameters: BTreeMap<String, String>,
    /// Function key to the parameter that takes its code's S3 key.
    pub code_parameters: BTreeMap<String, String>,
    /// Parameters fed by another stack's output at deploy time: logical id
    /// to (stack, output).
    pub output_parameters: BTreeMap<String, (String, String)>,
    /// Stack tags.
    pub tags: BTreeMap<String, String>,
    /// What each declared resource became, in key order.
    pub inventory: Vec<Inventory>,
    /// Secrets an emulator environment gets through the Secrets Manager
    /// API instead of the template (see the `secret` kind).
    pub local_secrets: Vec<crate::kinds::secret::LocalSecret>,
    /// Secrets whose value is set outside the stack, for `deploy` to check.
    pub external_secrets: Vec<crate::kinds::secret::ExternalSecret>,
    /// The stack's probes for `health`, resolved for this environment;
    /// not part of the template (nor of `render`'s output).
    #[serde(skip)]
    pub probes: Vec<crate::model::probe::Resolved>,
}

/// One declared resource of a rendered stack: its kind, its physical name
/// and the CloudFormation resources its template produced, for what needs
/// to know which declared resource a CloudFormation resource came from
/// (`render --output json` shows it; `health` checks what it lists). `destroy`
/// does not: it must empty what is *deployed*, which includes `raw` buckets
/// and buckets since removed from the stack file, so it reads the deployed
/// stack's resources.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inventory {
    /// Resource key in the stack file.
    pub key: String,
    /// Its kind (`type:`).
    pub kind: String,
    /// Its physical name, for kinds that have one.
    pub physical_name: Option<String>,
    /// The CloudFormation resources it produced, by logical id.
    pub resources: Vec<InventoryResource>,
}

/// One CloudFormation resource in a template.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InventoryResource {
    /// Logical id.
    pub logical_id: String,
    /// `AWS::S3::Bucket`, ...
    pub resource_type: String,
}

/// Renders `stack` for `env`. Every problem found is returned.
pub fn render_stack(
    project: &Project,
    templates: &Templates,
    stack: &str,
    env: &str,
) -> Result<Rendered, Diagnostics> {
    let mut diags = Diagnostics::default();
    let s = &project.stacks[stack];
    let ctx = Builder::new(project, s, env, &mut diags).build();
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut resources = serde_json::Map::new();
    let mut inventory = Vec::new();
    for rc in &ctx.resources {
        let mut c = tera::Context::new();
        c.insert("r", &rc.values);
        c.insert("env", env);
        let name = format!("{}.yaml.tera", rc.kind);
        let text = match templates.render(&name, &c) {
            Ok(t) => t,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        // A kind may produce nothing here (one provisioned outside the
        // template in this environment).
        let parsed = match serde_yaml::from_str::<Json>(&text) {
            Ok(Json::Null) => Ok(Json::Object(serde_json::Map::new())),
            other => other,
        };
        match parsed {
            Ok(Json::Object(mut map)) => {
                apply_overrides(s, rc, &mut map, &mut diags);
                let mut produced: Vec<InventoryResource> = map
                    .iter()
                    .map(|(logical, body)| InventoryResource {
                        logical_id: logical.clone(),
                        resource_type: body
                            .get("Type")
                            .and_then(Json::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    })
                    .collect();
                produced.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
                inventory.push(Inventory {
                    key: rc.key.clone(),
                    kind: rc.kind.to_string(),
                    physical_name: ctx.names.get(&rc.key).cloned(),
                    resources: produced,
                });
                for (logical, body) in map {
                    if resources.insert(logical.clone(), body).is_some() {
                        diags.push(Diagnostic::new(
                            &templates.origin[&name],
                            "",
                            format!(
                                "logical id `{logical}` rendered twice (resource `{}`)",
                                rc.key
                            ),
                        ));
                    }
                }
            }
            Ok(_) => diags.push(Diagnostic::new(
                &templates.origin[&name],
                "",
                format!(
                    "template did not produce a mapping of resources for `{}`",
                    rc.key
                ),
            )),
            Err(e) => diags.push(
                Diagnostic::new(
                    &templates.origin[&name],
                    "",
                    format!(
                        "template produced invalid YAML for resource `{}`: {e}",
                        rc.key
                    ),
                )
                .hint("pass values through the `json` filter so they are quoted correctly"),
            ),
        }
    }
    check_logical_refs(s, &ctx, &resources, &mut diags);
    let mut skeleton = ctx.skeleton;
    skeleton["resources"] = Json::Object(resources);
    let c = tera::Context::from_value(skeleton).unwrap_or_default();
    let text = templates
        .render("stack.yaml.tera", &c)
        .map_err(|d| Diagnostics(vec![d]))?;
    let doc: Json = serde_yaml::from_str(&text).map_err(|e| {
        Diagnostics(vec![Diagnostic::new(
            &templates.origin["stack.yaml.tera"],
            "",
            format!("template produced invalid YAML: {e}"),
        )])
    })?;
    if !diags.is_empty() {
        return Err(diags);
    }
    // Re-emitting through one emitter gives canonical, stable formatting
    // whatever the templates' whitespace, and quoting safe for YAML 1.1 readers.
    let template = yaml::to_string(&doc);
    Ok(Rendered {
        stack: stack.to_string(),
        env: env.to_string(),
        stack_name: ctx.stack_name,
        template,
        parameters: ctx.parameters,
        code_parameters: ctx.code_parameters,
        output_parameters: ctx.output_parameters,
        tags: ctx.tags,
        inventory,
        local_secrets: ctx.local_secrets,
        external_secrets: ctx.external_secrets,
        probes: ctx.probes,
    })
}

/// Merges resource `rc`'s `overrides:` onto what its template rendered:
/// mappings merge key by key, anything else replaces, `null` removes.
fn apply_overrides(
    stack: &crate::model::Stack,
    rc: &context::ResourceContext,
    rendered: &mut serde_json::Map<String, Json>,
    diags: &mut Diagnostics,
) {
    for (id, patch) in &rc.overrides {
        match rendered.get_mut(id) {
            Some(body) => merge(body, patch),
            None => {
                let mut ids: Vec<&str> = rendered.keys().map(String::as_str).collect();
                ids.sort();
                let path = format!("resources.{}.overrides.{id}", rc.key);
                let d = stack
                    .source
                    .error(
                        &path,
                        format!("`{}` renders no resource `{id}` here", rc.key),
                    )
                    .suggest(id, ids);
                diags.push(d);
            }
        }
    }
}

fn merge(target: &mut Json, patch: &Json) {
    match (target, patch) {
        (Json::Object(t), Json::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    match t.get_mut(k) {
                        Some(existing) => merge(existing, v),
                        None => {
                            t.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Every logical id `raw` CloudFormation names must be a resource of the
/// rendered template (or, for `Ref`, a parameter or pseudo parameter).
fn check_logical_refs(
    stack: &crate::model::Stack,
    ctx: &context::StackContext,
    resources: &serde_json::Map<String, Json>,
    diags: &mut Diagnostics,
) {
    use context::RefKind;
    let parameters: Vec<&str> = ctx.skeleton["parameters"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for r in &ctx.logical_refs {
        let is_resource = resources.contains_key(&r.target);
        let ok = match r.kind {
            RefKind::Ref => {
                is_resource
                    || r.target.starts_with("AWS::")
                    || parameters.contains(&r.target.as_str())
            }
            RefKind::GetAtt | RefKind::DependsOn => is_resource,
        };
        if ok {
            continue;
        }
        let what = match r.kind {
            RefKind::Ref => "`Ref`",
            RefKind::GetAtt => "`Fn::GetAtt`",
            RefKind::DependsOn => "`DependsOn`",
        };
        let mut candidates: Vec<&str> = resources.keys().map(String::as_str).collect();
        if r.kind == RefKind::Ref {
            candidates.extend(parameters.iter().copied());
        }
        // The same hint in every environment: the closest id, else the
        // ids of the declared resources.
        let hint = match crate::diagnostics::closest(&r.target, candidates) {
            Some(best) => format!("did you mean `{best}`?"),
            None => {
                let declared: Vec<String> = stack
                    .resources
                    .keys()
                    .map(|k| format!("`{}`", crate::names::pascal(k)))
                    .collect();
                format!(
                    "name a logical id of this stack: a resource's key in PascalCase ({}), or the ids its kind adds",
                    declared.join(", ")
                )
            }
        };
        let d = stack
            .source
            .error(
                &r.path,
                format!(
                    "{what} names `{}`, which is not in this stack's template",
                    r.target
                ),
            )
            .hint(hint);
        diags.push(d);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_inventory_names_what_each_resource_became() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("stacks")).unwrap();
        std::fs::create_dir_all(root.join("lambdas/worker")).unwrap();
        std::fs::write(root.join("lambdas/worker/Cargo.toml"), "").unwrap();
        std::fs::write(
            root.join("stackctl.yaml"),
            "project: inv\nstacks:\n  app: {}\nenvironments:\n  dev:\n    region: us-east-1\n",
        )
        .unwrap();
        std::fs::write(
            root.join("stacks/app.yaml"),
            "resources:\n  files:\n    type: bucket\n  worker:\n    type: function\n  extra:\n    type: raw\n    resource_type: AWS::SQS::Queue\n",
        )
        .unwrap();
        let (_, rendered) = crate::validate::project_for(root, "dev").unwrap();
        let inv = &rendered[0].inventory;
        let shown: Vec<(String, Option<String>, Vec<String>)> = inv
            .iter()
            .map(|i| {
                (
                    format!("{} {}", i.key, i.kind),
                    i.physical_name.clone(),
                    i.resources
                        .iter()
                        .map(|r| format!("{} {}", r.logical_id, r.resource_type))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "extra raw".to_string(),
                    None,
                    vec!["Extra AWS::SQS::Queue".to_string()]
                ),
                (
                    "files bucket".to_string(),
                    Some("inv-app-files-dev".to_string()),
                    vec![
                        "Files AWS::S3::Bucket".to_string(),
                        "FilesPolicy AWS::S3::BucketPolicy".to_string()
                    ]
                ),
                (
                    "worker function".to_string(),
                    Some("inv-app-worker-dev".to_string()),
                    vec![
                        "Worker AWS::Lambda::Function".to_string(),
                        "WorkerLogGroup AWS::Logs::LogGroup".to_string(),
                        "WorkerRole AWS::IAM::Role".to_string()
                    ]
                ),
            ]
        );
    }
}

#[cfg(test)]
mod override_tests {
    use crate::kinds::testing::render;
    use serde_json::json;

    #[test]
    fn overrides_merge_onto_what_the_kind_renders() {
        let t = render(
            "resources:
  jobs:
    type: queue
  uploads:
    type: bucket
    versioning: true
    overrides:
      Uploads:
        Properties:
          NotificationConfiguration:
            EventBridgeConfiguration: {EventBridgeEnabled: true}
          VersioningConfiguration: null
          Tags: [{Key: queue, Value: !GetAtt Jobs.QueueName}]
      UploadsPolicy:
        Metadata: {reviewed: true}
",
        );
        let b = &t["Resources"]["Uploads"]["Properties"];
        assert_eq!(
            b["NotificationConfiguration"],
            json!({"EventBridgeConfiguration": {"EventBridgeEnabled": true}})
        );
        assert!(b.get("VersioningConfiguration").is_none(), "{b}");
        assert_eq!(
            b["Tags"][0]["Value"],
            json!({"Fn::GetAtt": ["Jobs", "QueueName"]})
        );
        // What the override does not name stays as the kind made it.
        assert_eq!(
            b["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
            "BucketOwnerEnforced"
        );
        assert_eq!(
            t["Resources"]["UploadsPolicy"]["Metadata"],
            json!({"reviewed": true})
        );
    }
}
