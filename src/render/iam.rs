//! Least-privilege IAM statements: the shape every grant statement takes
//! (each kind's module names the exact actions on exact ARNs of its access
//! levels; nothing data-bearing is granted on `*`), and what every function
//! needs.

use serde_json::{json, Value as Json};

/// `{"Fn::Sub": text}`.
pub fn sub(text: String) -> Json {
    json!({ "Fn::Sub": text })
}

/// An Allow statement for access `level` on resource `key`: its id is
/// `KeyLevel` (`SessionsRead`), its actions and resources exact.
pub fn allow(
    key: &str,
    level: &str,
    actions: &[&str],
    resources: Vec<Json>,
    condition: Option<Json>,
) -> Json {
    let sid = format!(
        "{}{}",
        crate::names::pascal(key),
        crate::names::pascal(level)
    );
    let mut s = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    });
    if let Some(c) = condition {
        s["Condition"] = c;
    }
    s
}

/// Statements every function needs: writing its own log group, and X-Ray when traced.
pub fn baseline(function_name: &str, tracing: bool) -> Vec<Json> {
    let mut out = vec![json!({
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [sub(format!(
            "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/{function_name}:*"
        ))],
    })];
    if tracing {
        // X-Ray accepts no resource-level scoping; this writes telemetry only.
        out.push(json!({
            "Sid": "WriteTraces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",
        }));
    }
    out
}

// Grants on AWS services that are not resources of the stack:
// `grants: {bedrock: [invoke], mediaconvert: [create_job]}`.

use crate::kinds::function::Grant;
use crate::model::source::{index, join};
use crate::render::context::Builder;
use std::collections::BTreeMap;

/// Grant keys that name an AWS service rather than a resource of the
/// stack, with the levels each takes. No resource may take these keys.
pub const SERVICE_GRANTS: &[(&str, &[&str])] =
    &[("bedrock", &["invoke"]), ("mediaconvert", &["create_job"])];

/// The levels of service grant `key`, if it is one.
pub fn service_grant_levels(key: &str) -> Option<&'static [&'static str]> {
    SERVICE_GRANTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, levels)| *levels)
}

/// What the service grants of a `grants:` map give: their statements, and
/// whether `bedrock: [invoke]` is among them (its statements come from the
/// declared models, [`bedrock_models`]).
#[derive(Debug, Default)]
pub struct ServiceGrants {
    /// Statements of the grants other than Bedrock's.
    pub statements: Vec<Json>,
    /// `bedrock: [invoke]` is granted.
    pub bedrock_invoke: bool,
}

/// The service grants among `grants` of the resource at `path` (a `noun`:
/// function, service, role), checked. A role takes none: it is assumed by
/// one service, not by the caller of others.
pub fn service_grants(
    cx: &mut Builder,
    noun: &str,
    grants: &BTreeMap<String, Grant>,
    path: &str,
) -> ServiceGrants {
    let mut out = ServiceGrants::default();
    for (key, grant) in grants {
        let Some(allowed) = service_grant_levels(key) else {
            continue;
        };
        let gpath = join(&join(path, "grants"), key);
        if noun == "role" {
            cx.error_hint(
                &gpath,
                format!("a role is not granted `{key}`"),
                format!("a service role's grants are on resources of the stack; grant `{key}` to the function or service that calls it"),
            );
            continue;
        }
        let Grant::Access(levels) = grant else {
            cx.error_hint(
                &gpath,
                format!("`{key}` is an AWS service: its grant is a list of levels"),
                format!("write `{key}: [{}]`", allowed.join(", ")),
            );
            continue;
        };
        if levels.is_empty() {
            cx.error_hint(
                &gpath,
                format!("the grant on `{key}` names no level"),
                format!("valid levels: {}", allowed.join(", ")),
            );
        }
        for (i, level) in levels.iter().enumerate() {
            if !allowed.contains(&level.as_str()) {
                let hint = match crate::diagnostics::closest(level, allowed.iter().copied()) {
                    Some(best) => format!(
                        "did you mean `{best}`? valid levels: {}",
                        allowed.join(", ")
                    ),
                    None => format!("valid levels: {}", allowed.join(", ")),
                };
                cx.error_hint(
                    &index(&gpath, i),
                    format!("`{level}` is not an access level of {key}"),
                    hint,
                );
                continue;
            }
            match (key.as_str(), level.as_str()) {
                ("bedrock", "invoke") => out.bedrock_invoke = true,
                ("mediaconvert", "create_job") => out.statements.push(json!({
                    "Sid": "MediaconvertCreateJob",
                    "Effect": "Allow",
                    // Jobs go to the account's Default queue, with their
                    // settings inline (no job template or preset to name).
                    // The role the job runs with is passed through a `pass`
                    // grant on that role. DescribeEndpoints, the only
                    // MediaConvert action that takes no resource, is not
                    // granted: current SDKs call the regional endpoint.
                    "Action": ["mediaconvert:CreateJob"],
                    "Resource": [sub(
                        "arn:${AWS::Partition}:mediaconvert:${AWS::Region}:${AWS::AccountId}:queues/Default".to_string()
                    )],
                })),
                _ => {}
            }
        }
    }
    out
}

/// Geographic prefixes of Bedrock's cross-region inference profiles
/// (`us.anthropic.claude-3-haiku-20240307-v1:0`).
const PROFILE_PREFIXES: &[&str] = &["us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"];

/// The foundation model an inference-profile id routes to, if `id` is one.
pub fn inference_profile_model(id: &str) -> Option<&str> {
    let (prefix, model) = id.split_once('.')?;
    (PROFILE_PREFIXES.contains(&prefix) && model.contains('.')).then_some(model)
}

/// The value parameter `${param.NAME}` (the whole of `text`) has in this
/// environment, where the project file knows it.
fn param_value(cx: &Builder, text: &str) -> Option<String> {
    let name = text.strip_prefix("${param.")?.strip_suffix('}')?;
    let p = cx.stack.file.parameters.get(name)?;
    let env = cx.project.file.environments.get(cx.env)?;
    env.parameters
        .get(&cx.stack.name)
        .and_then(|m| m.get(name))
        .or_else(|| p.env.get(cx.env))
        .or(p.default.as_ref())
        .map(|v| v.to_cfn_string())
}

/// `arn_text` (holding `{ID}` where the id goes) with model id `id`: a
/// literal, or an expression (`${param.x}`) substituted in.
fn model_arn(arn_text: &str, id: &Json) -> Json {
    match id {
        Json::String(s) => sub(arn_text.replace("{ID}", s)),
        expr => json!({"Fn::Sub": [arn_text.replace("{ID}", "${ModelId}"), {"ModelId": expr}]}),
    }
}

/// The statements invoking the Bedrock models `models` (ids, which may be
/// `${param.x}`) of the resource at `path`: `InvokeModel` and its stream on
/// exactly those foundation models; for an inference-profile id, on the
/// profile and, only through that profile, on the foundation model it
/// routes to in whichever region it picks.
pub fn bedrock_models(cx: &mut Builder, models: &[String], path: &str) -> Vec<Json> {
    let bpath = join(path, "bedrock_models");
    let mut direct = Vec::new();
    let mut routed = Vec::new();
    let mut profiles = Vec::new();
    for (i, m) in models.iter().enumerate() {
        let mpath = index(&bpath, i);
        let (id, known) = if m.contains("${") {
            let v = cx.value(m, &mpath);
            if v.is_null() {
                continue;
            }
            (v, param_value(cx, m))
        } else {
            let ok = !m.is_empty()
                && m.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:_".contains(c));
            if !ok {
                cx.error_hint(
                    &mpath,
                    format!("`{m}` is not a Bedrock model id"),
                    "e.g. `anthropic.claude-3-haiku-20240307-v1:0`, or `${param.model_id}`",
                );
                continue;
            }
            (json!(m), Some(m.clone()))
        };
        match known.as_deref().and_then(inference_profile_model) {
            Some(model) => {
                let profile = model_arn(
                    "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/{ID}",
                    &id,
                );
                direct.push(profile.clone());
                profiles.push(profile);
                routed.push(sub(format!(
                    "arn:${{AWS::Partition}}:bedrock:*::foundation-model/{model}"
                )));
            }
            None => direct.push(model_arn(
                "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/{ID}",
                &id,
            )),
        }
    }
    let actions = [
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
    ];
    let mut out = Vec::new();
    if !direct.is_empty() {
        out.push(json!({
            "Sid": "InvokeModels",
            "Effect": "Allow",
            "Action": actions,
            "Resource": direct,
        }));
    }
    if !routed.is_empty() {
        // A cross-region profile sends the request to the model in one of
        // its geography's regions: any region, but only through the
        // declared profiles.
        out.push(json!({
            "Sid": "InvokeModelsThroughProfiles",
            "Effect": "Allow",
            "Action": actions,
            "Resource": routed,
            "Condition": {"StringEquals": {"bedrock:InferenceProfileArn": profiles}},
        }));
    }
    out
}

/// What `bedrock_models` and a `bedrock: [invoke]` grant of the resource at
/// `path` give together. `invoke_required`: the models take effect only
/// with the grant (functions); otherwise declaring them is enough
/// (services, as before). The grant without models is an error.
pub fn bedrock_invoke(
    cx: &mut Builder,
    invoke: bool,
    invoke_required: bool,
    models: &[String],
    path: &str,
) -> Vec<Json> {
    if invoke && models.is_empty() {
        cx.error_hint(
            &join(&join(path, "grants"), "bedrock"),
            "`bedrock: [invoke]` names no model",
            "declare the models it may invoke beside `grants:`: `bedrock_models: [anthropic.claude-3-haiku-20240307-v1:0]` (ids, or `${param.NAME}`)",
        );
        return Vec::new();
    }
    if invoke_required && !invoke && !models.is_empty() {
        cx.error_hint(
            &join(path, "bedrock_models"),
            "`bedrock_models:` without a `bedrock: [invoke]` grant",
            "add `bedrock: [invoke]` to `grants:` (or remove `bedrock_models:`)",
        );
        return Vec::new();
    }
    bedrock_models(cx, models, path)
}

#[cfg(test)]
mod service_grant_tests {
    use crate::kinds::role::tests::problems;
    use crate::kinds::testing::{render, render_in, statement, statements};
    use serde_json::json;

    const STACK: &str = "parameters:
  model_id:
    type: string
    default: anthropic.claude-3-haiku-20240307-v1:0
resources:
  analyze:
    type: function
    crate: analyze
    bedrock_models: ['${param.model_id}', 'us.anthropic.claude-3-5-sonnet-20240620-v1:0', amazon.titan-embed-text-v2:0]
    grants:
      bedrock: [invoke]
  start:
    type: function
    crate: start
    grants:
      mediaconvert: [create_job]
";

    #[test]
    fn bedrock_invoke_names_each_model_and_profiles_route_only_through_themselves() {
        let t = render(STACK);
        let actions = json!([
            "bedrock:InvokeModel",
            "bedrock:InvokeModelWithResponseStream"
        ]);
        let profile = json!({"Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0"});
        assert_eq!(
            statement(&t, "Analyze", "InvokeModels"),
            json!({"Sid": "InvokeModels", "Effect": "Allow", "Action": actions, "Resource": [
                {"Fn::Sub": ["arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${ModelId}", {"ModelId": {"Ref": "ModelId"}}]},
                profile,
                {"Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/amazon.titan-embed-text-v2:0"},
            ]})
        );
        assert_eq!(
            statement(&t, "Analyze", "InvokeModelsThroughProfiles"),
            json!({"Sid": "InvokeModelsThroughProfiles", "Effect": "Allow", "Action": actions,
                "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0"}],
                "Condition": {"StringEquals": {"bedrock:InferenceProfileArn": [profile]}}})
        );
        // Nothing of Bedrock for the function not granted it.
        assert!(statements(&t, "Start")
            .iter()
            .all(|s| !s["Sid"].as_str().unwrap().starts_with("Invoke")));
    }

    #[test]
    fn a_parameter_holding_a_profile_id_is_granted_as_a_profile() {
        let t = render_in(
            "    parameters:\n      app:\n        model_id: eu.anthropic.claude-3-haiku-20240307-v1:0\n",
            STACK,
        );
        let routed = statement(&t, "Analyze", "InvokeModelsThroughProfiles");
        assert_eq!(
            routed["Resource"][0],
            json!({"Fn::Sub": "arn:${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"})
        );
        assert_eq!(
            statement(&t, "Analyze", "InvokeModels")["Resource"][0],
            json!({"Fn::Sub": ["arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/${ModelId}", {"ModelId": {"Ref": "ModelId"}}]})
        );
    }

    #[test]
    fn mediaconvert_create_job_is_on_the_default_queue_only() {
        let t = render(STACK);
        assert_eq!(
            statement(&t, "Start", "MediaconvertCreateJob"),
            json!({"Sid": "MediaconvertCreateJob", "Effect": "Allow", "Action": ["mediaconvert:CreateJob"],
                "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:mediaconvert:${AWS::Region}:${AWS::AccountId}:queues/Default"}]})
        );
    }

    #[test]
    fn bedrock_without_models_and_models_without_the_grant_are_located() {
        let p = problems(&STACK.replace(
            "    bedrock_models: ['${param.model_id}', 'us.anthropic.claude-3-5-sonnet-20240620-v1:0', amazon.titan-embed-text-v2:0]\n",
            "",
        ));
        assert!(p.contains("resources.analyze.grants.bedrock"), "{p}");
        assert!(p.contains("`bedrock: [invoke]` names no model"), "{p}");
        assert!(
            p.contains("bedrock_models: [anthropic.claude-3-haiku-20240307-v1:0]"),
            "{p}"
        );
        let p = problems(&STACK.replace("      bedrock: [invoke]\n", "      bedrock: []\n"));
        assert!(p.contains("resources.analyze.bedrock_models"), "{p}");
        assert!(p.contains("without a `bedrock: [invoke]` grant"), "{p}");
    }

    #[test]
    fn unknown_levels_list_the_valid_ones_and_service_names_are_reserved() {
        let p = problems(
            &(STACK.replace("mediaconvert: [create_job]", "mediaconvert: [create]")
                + "  bedrock:\n    type: queue\n"),
        );
        assert!(p.contains("resources.start.grants.mediaconvert[0]"), "{p}");
        assert!(
            p.contains("`create` is not an access level of mediaconvert"),
            "{p}"
        );
        assert!(p.contains("valid levels: create_job"), "{p}");
        assert!(p.contains("`bedrock` is reserved"), "{p}");
        assert!(
            p.contains("rename the resource, e.g. `bedrock_queue`"),
            "{p}"
        );
    }
}
