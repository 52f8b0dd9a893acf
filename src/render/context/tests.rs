//! Generic stack resolution, apart from any kind: `${...}` references,
//! parameters and their per-environment values, stack inputs from other
//! stacks' outputs, conditions, outputs, names and logical-id clashes.

use super::*;
use crate::diagnostics::Diagnostics;
use serde_json::json;

/// A project of two stacks, `base` and `app` (which depends on `base`),
/// with environments `dev` and `prod`; `app` is `stack`.
fn project(project_extra: &str, stack: &str) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("stacks")).unwrap();
    std::fs::write(
        root.join("stackctl.yaml"),
        format!(
            "project: studio
stacks:
  base: {{}}
  app: {{depends_on: [base]}}
environments:
  dev:
    region: us-east-1
  prod:
    region: eu-west-1
    protected: true
{project_extra}"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("stacks/base.yaml"),
        "resources:
  files: {type: bucket}
outputs:
  BucketName: {value: '${files.name}'}
  Internal: {value: '${files.arn}', export: false}
",
    )
    .unwrap();
    std::fs::write(root.join("stacks/app.yaml"), stack).unwrap();
    let project = crate::model::load(root).unwrap_or_else(|d| panic!("{d}"));
    (dir, project)
}

/// `app` resolved for `env`, and what was wrong.
fn build(project: &Project, env: &str) -> (StackContext, Diagnostics) {
    let mut diags = Diagnostics::default();
    let ctx = Builder::new(project, &project.stacks["app"], env, &mut diags).build();
    (ctx, diags)
}

/// `text` as a value of `app` in `dev`, and the problems it has.
fn value(project: &Project, text: &str) -> (Json, Vec<String>) {
    let mut diags = Diagnostics::default();
    let mut b = Builder::new(project, &project.stacks["app"], "dev", &mut diags);
    b.assign_names();
    let v = b.value(text, "resources.x.environment.V");
    (v, messages(&diags))
}

fn messages(diags: &Diagnostics) -> Vec<String> {
    diags
        .0
        .iter()
        .map(|d| format!("{} | {}", d.message, d.hint.clone().unwrap_or_default()))
        .collect()
}

const PARAMS: &str = "parameters:
  verbose: {type: boolean, default: false}
  size: {type: number, min: 1, max: 10, default: 2, env: {prod: 8}}
  tier: {type: string, allowed: [small, large], default: small}
resources:
  items:
    type: table
    attributes: {id: string}
    key: [id]
";

#[test]
fn pseudo_references_are_literals_or_pseudo_parameters() {
    let (_d, p) = project("", PARAMS);
    assert_eq!(value(&p, "${env}").0, json!("dev"));
    assert_eq!(value(&p, "${project}-${stack}").0, json!("studio-app"));
    assert_eq!(value(&p, "${region}").0, json!({"Ref": "AWS::Region"}));
    assert_eq!(value(&p, "plain text").0, json!("plain text"));
    // `$${` is a literal `${`, also beside a reference.
    assert_eq!(value(&p, "$${x}").0, json!("${x}"));
    assert_eq!(
        value(&p, "$${x}/${account}").0,
        json!({"Fn::Sub": ["${!x}/${Account}", {"Account": {"Ref": "AWS::AccountId"}}]})
    );
}

#[test]
fn text_around_references_becomes_one_sub_with_a_variable_per_reference() {
    let (_d, p) = project("", PARAMS);
    let (v, problems) = value(&p, "arn:${partition}:dynamodb:::${items.name}/x-${env}");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        v,
        json!({"Fn::Sub": [
            "arn:${Partition}:dynamodb:::${ItemsName}/x-dev",
            {"Partition": {"Ref": "AWS::Partition"}, "ItemsName": {"Ref": "Items"}},
        ]})
    );
}

#[test]
fn resource_attributes_render_their_kinds_expression() {
    let (_d, p) = project("", PARAMS);
    assert_eq!(
        value(&p, "${items.arn}").0,
        json!({"Fn::GetAtt": ["Items", "Arn"]})
    );
    assert_eq!(value(&p, "${param.size}").0, json!({"Ref": "Size"}));
}

#[test]
fn broken_references_say_what_exists() {
    let (_d, p) = project("", PARAMS);
    let cases = [
        (
            "${itms.arn}",
            "not a resource of this stack",
            "did you mean `items`?",
        ),
        (
            "${items.ar}",
            "table `items` has no attribute `ar`",
            "did you mean `arn`?",
        ),
        (
            "${items}",
            "needs one attribute",
            "items has: name, arn, stream_arn",
        ),
        (
            "${param.sise}",
            "unknown parameter `sise`",
            "did you mean `size`?",
        ),
        ("${items.arn", "", "references look like"),
    ];
    for (text, message, hint) in cases {
        let (v, problems) = value(&p, text);
        assert_eq!(v, Json::Null, "{text}");
        assert_eq!(problems.len(), 1, "{text}: {problems:?}");
        assert!(problems[0].contains(message), "{text}: {problems:?}");
        assert!(problems[0].contains(hint), "{text}: {problems:?}");
    }
}

#[test]
fn imports_need_an_exported_output_of_a_dependency() {
    let (_d, p) = project("", PARAMS);
    assert_eq!(
        value(&p, "${import.base.BucketName}").0,
        json!({"Fn::ImportValue": "studio-base-dev-BucketName"})
    );
    let (_, problems) = value(&p, "${import.base.Internal}");
    assert!(problems[0].contains("is not exported"), "{problems:?}");
    let (_, problems) = value(&p, "${import.base.BucketNme}");
    assert!(
        problems[0].contains("did you mean `BucketName`?"),
        "{problems:?}"
    );
    let (_, problems) = value(&p, "${import.bse.BucketName}");
    assert!(problems[0].contains("unknown stack `bse`"), "{problems:?}");
}

#[test]
fn parameters_take_the_override_then_the_environment_then_the_default() {
    let (_d, p) = project("    parameters:\n      app: {tier: large}\n", PARAMS);
    let (dev, diags) = build(&p, "dev");
    assert!(diags.is_empty(), "{diags}");
    assert_eq!(dev.parameters["Size"], "2");
    assert_eq!(dev.parameters["Verbose"], "false");
    let (prod, diags) = build(&p, "prod");
    assert!(diags.is_empty(), "{diags}");
    assert_eq!(prod.parameters["Size"], "8");
    assert_eq!(prod.parameters["Tier"], "large");
    // Declarations carry their constraints; a boolean brings its condition.
    let decl = &prod.skeleton["parameters"];
    assert_eq!(decl["Size"]["type"], "Number");
    assert_eq!(
        (decl["Size"]["min"].clone(), decl["Size"]["max"].clone()),
        (json!(1), json!(10))
    );
    assert_eq!(decl["Tier"]["allowed"], json!(["small", "large"]));
    assert_eq!(decl["Verbose"]["allowed"], json!(["true", "false"]));
    assert_eq!(
        prod.skeleton["conditions"]["VerboseIsTrue"],
        json!({"is_true": "Verbose"})
    );
}

#[test]
fn parameter_values_are_checked_where_they_are_written() {
    let (_d, p) = project(
        "    parameters:\n      app: {tier: huge, nope: 1}\n",
        "parameters:
  size: {type: number, min: 1, max: 10, env: {prod: 80, qa: 1}}
  tier: {type: string, allowed: [small, large], default: small}
",
    );
    let (_, diags) = build(&p, "prod");
    let m = messages(&diags);
    let has = |s: &str| m.iter().any(|x| x.contains(s));
    assert!(has("parameter `size`: 80 is outside 1..10"), "{m:?}");
    assert!(has("unknown environment `qa`"), "{m:?}");
    assert!(has("`huge` is not one of the allowed values"), "{m:?}");
    assert!(has("stack `app` has no parameter `nope`"), "{m:?}");
    // dev has no value for `size` at all.
    let (_, diags) = build(&p, "dev");
    assert!(
        messages(&diags)
            .iter()
            .any(|x| x.contains("no value for environment `dev`")),
        "{diags}"
    );
}

#[test]
fn a_parameter_from_an_output_is_a_deploy_time_input() {
    let (_d, p) = project(
        "",
        "parameters:
  bucket: {type: string, from_output: base.BucketName}
",
    );
    let (ctx, diags) = build(&p, "dev");
    assert!(diags.is_empty(), "{diags}");
    assert_eq!(
        ctx.output_parameters["Bucket"],
        ("base".to_string(), "BucketName".to_string())
    );
    assert!(!ctx.parameters.contains_key("Bucket"));

    let (_d, p) = project(
        "",
        "parameters:
  bucket: {type: string, from_output: base.Nope, default: x}
",
    );
    let m = messages(&build(&p, "dev").1);
    assert!(m.iter().any(|x| x.contains("is also given one")), "{m:?}");
    assert!(
        m.iter().any(|x| x.contains("has no output `Nope`")),
        "{m:?}"
    );
}

#[test]
fn outputs_are_exported_under_the_stack_name_unless_told_not_to() {
    let (_d, p) = project(
        "",
        "resources:
  items: {type: table, attributes: {id: string}, key: [id]}
outputs:
  TableName: {value: '${items.name}', description: the table}
  Local: {value: x, export: false}
  not-ok: {value: x}
",
    );
    let (ctx, diags) = build(&p, "prod");
    let o = &ctx.skeleton["outputs"];
    assert_eq!(
        o["TableName"],
        json!({"value": {"Ref": "Items"}, "description": "the table", "export": "studio-app-prod-TableName"})
    );
    assert_eq!(o["Local"]["export"], Json::Null);
    let m = messages(&diags);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].contains("output name `not-ok` must be alphanumeric"),
        "{m:?}"
    );
    assert_eq!(ctx.stack_name, "studio-app-prod");
}

#[test]
fn physical_names_follow_the_pattern_per_environment() {
    let (_d, p) = project(
        "naming: '{project}-{env}-{name}'\n",
        "resources:
  items: {type: table, attributes: {id: string}, key: [id]}
  named: {type: table, name: 'fixed-{env}', attributes: {id: string}, key: [id]}
",
    );
    let (ctx, diags) = build(&p, "prod");
    assert!(diags.is_empty(), "{diags}");
    assert_eq!(ctx.names["items"], "studio-prod-items");
    assert_eq!(ctx.names["named"], "fixed-prod");
}

#[test]
fn two_resources_producing_one_logical_id_is_an_error_naming_both() {
    let (_d, p) = project(
        "",
        "resources:
  files: {type: bucket}
  files_policy:
    type: raw
    resource_type: AWS::SSM::Parameter
    properties: {Type: String, Value: x}
",
    );
    let m = messages(&build(&p, "dev").1);
    assert!(
        m.iter().any(|x| x.contains(
            "logical id `FilesPolicy` is produced by both `resources.files` and `resources.files_policy`"
        )),
        "{m:?}"
    );
}

#[test]
fn dependencies_are_followed_through_other_stacks() {
    let (_d, mut p) = project("", PARAMS);
    assert!(depends_on(&p, "app", "base"));
    assert!(!depends_on(&p, "base", "app"));
    // app -> mid -> base
    p.file.stacks.get_mut("app").unwrap().depends_on = vec!["mid".into()];
    p.file
        .stacks
        .insert("mid".into(), p.file.stacks["base"].clone());
    p.file.stacks.get_mut("mid").unwrap().depends_on = vec!["base".into()];
    assert!(depends_on(&p, "app", "base"));
}

#[test]
fn a_database_bound_without_its_secret_is_refused_where_the_binding_is() {
    let (_d, p) = project(
        "    bind:\n      app:\n        db: {host: 127.0.0.1, port: 5432}\n",
        "resources:
  main: {type: network}
  db:
    type: database
    network: main
    engine_version: '16.8'
    instance_class: db.t4g.micro
",
    );
    let (_, diags) = build(&p, "prod");
    let found: Vec<&crate::diagnostics::Diagnostic> = diags
        .0
        .iter()
        .filter(|d| d.message.contains("names no secret"))
        .collect();
    assert_eq!(found.len(), 1, "{diags}");
    assert_eq!(found[0].path, "environments.prod.bind.app.db");
    assert!(found[0].file.ends_with("stackctl.yaml"));
}

#[test]
fn bindings_name_one_server_of_the_right_kind() {
    let stack = "resources:
  main: {type: network}
  db:
    type: database
    network: main
    engine_version: '16.8'
    instance_class: db.t4g.micro
";
    let cases = [
        (
            "{local: redis}",
            "`db` is a database, which a local redis cannot stand for",
            "bind it to `local: postgres`",
        ),
        (
            "{host: h, local: postgres}",
            "names both `host:` and `local:`",
            "keep `host:`",
        ),
        (
            "{port: 5432}",
            "names neither `host:` nor `local:`",
            "or `local: postgres`",
        ),
        ("{host: h, secret: s}", "names no `port:`", "add `port:`"),
        (
            "{local: postgres}",
            "only for an emulator environment, and `prod` is not one",
            "add `emulator: moto`",
        ),
    ];
    for (binding, message, hint) in cases {
        let (_d, p) = project(
            &format!("    bind:\n      app:\n        db: {binding}\n"),
            stack,
        );
        let (_, diags) = build(&p, "prod");
        let m = messages(&diags);
        assert!(
            m.iter().any(|x| x.contains(message) && x.contains(hint)),
            "{binding}: {m:?}"
        );
    }
}

#[test]
fn a_probe_for_some_environments_is_only_in_those() {
    let stack = "resources:
  site: {type: bucket}
probes:
  inside:
    http: {environments: [prod], url: 'https://${site.domain}/health'}
  everywhere:
    http: {url: 'https://example.com/health'}
";
    let (_d, p) = project("", stack);
    let names = |env| {
        let (ctx, diags) = build(&p, env);
        assert!(messages(&diags).is_empty(), "{:?}", messages(&diags));
        ctx.probes
            .iter()
            .map(|r| r.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names("prod"), ["everywhere", "inside"]);
    assert_eq!(names("dev"), ["everywhere"]);
    let (_d, p) = project("", &stack.replace("[prod]", "[prd]"));
    let (_, diags) = build(&p, "dev");
    let m = messages(&diags);
    assert!(
        m.iter()
            .any(|x| x.contains("`prd` is not an environment") && x.contains("prod")),
        "{m:?}"
    );
}
