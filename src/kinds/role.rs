//! `role`: a service role another AWS service assumes (MediaConvert running
//! a job, say). Its trust names that one service and only on behalf of this
//! account (`aws:SourceAccount`, against the confused deputy); what it may
//! do comes from `grants:`, with the same syntax and the same
//! least-privilege statements as a function's ([`super::function::apply_grants`]).
//! Grant on it: `pass` (`iam:PassRole` on this role only, to its service
//! only). Attributes: `arn`, `name`.

use super::function::{apply_grants, Grant, RoleAccess};
use super::{KeyUse, Kind};
use crate::aws::resources::Resources;
use crate::health::access::{Access, AccessTarget};
use crate::health::{Finding, Pending, Target};
use crate::model::source::join;
use crate::names::pascal;
use crate::render::context::Builder;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;

/// A service role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// The service principal that assumes it, `NAME.amazonaws.com`.
    pub service: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// What the service may do with it to resources of the stack.
    #[serde(default)]
    pub grants: BTreeMap<String, Grant>,
}

/// Why `service` is not a service principal, with a hint.
pub fn service_problem(service: &str) -> Option<(String, String)> {
    let name = service.strip_suffix(".amazonaws.com");
    let ok = name.is_some_and(|n| {
        !n.is_empty()
            && n.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    (!ok).then(|| {
        let guess = service
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase()
            .replace(' ', "");
        let guess = guess.strip_suffix(".amazonaws.com").unwrap_or(&guess);
        (
            format!("`{service}` is not an AWS service principal"),
            format!("write it as `NAME.amazonaws.com`, e.g. `{guess}.amazonaws.com`"),
        )
    })
}

/// The trust policy: only `service`, only for this account.
pub fn trust_policy(service: &str) -> Json {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }],
    })
}

/// Whether trust document `doc` (as IAM holds it) lets `service` assume the
/// role.
fn trusts(doc: &Json, service: &str) -> bool {
    let list = |v: &Json| -> Vec<String> {
        match v {
            Json::String(s) => vec![s.clone()],
            Json::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let statements = match &doc["Statement"] {
        Json::Array(a) => a.clone(),
        s @ Json::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && list(&s["Action"]).iter().any(|a| a == "sts:AssumeRole")
            && list(&s["Principal"]["Service"])
                .iter()
                .any(|p| p == service)
    })
}

/// `exists`: GetRole answers, and its trust lets the service assume it.
fn health_exists(doc: Option<&Json>, service: &str, name: &str) -> Finding {
    let expected = format!("trusts {service}");
    match doc {
        Some(d) if trusts(d, service) => {
            Finding::pass("exists", format!("{name} exists and trusts {service}"))
                .observed(expected.clone())
                .expected(expected)
        }
        Some(d) => Finding::fail("exists", format!("{name} does not let {service} assume it"))
            .observed(format!("trust policy {d}"))
            .expected(expected)
            .hint("its trust policy was changed outside CloudFormation; `stackctl deploy` does not repair it: put back the rendered AssumeRolePolicyDocument with `aws iam update-assume-role-policy`"),
        None => Finding::fail("exists", format!("the trust policy of {name} is not JSON"))
            .expected(expected)
            .hint("put back the rendered AssumeRolePolicyDocument with `aws iam update-assume-role-policy`"),
    }
}

impl Kind for Role {
    const NAME: &'static str = "role";
    const TEMPLATE_FILE: &'static str = "role.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/role.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name"];
    const GRANT_LEVELS: &'static [&'static str] = &["pass"];
    /// CloudFormation names it (`STACK-<Key>-<random>`), as it does
    /// functions' roles: no IAM name to collide across stacks.
    const NAMED: bool = false;
    const HEALTH_CHECKS: &'static [&'static str] = &["exists"];

    fn name_pattern(&self) -> Option<&str> {
        None
    }

    fn name_problem(_name: &str) -> Option<String> {
        None
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        cx.claim(&l, path);
        if let Some((problem, hint)) = service_problem(&self.service) {
            cx.error_hint(&join(path, "service"), problem, hint);
        }
        if let Some(d) = self.description.as_ref().filter(|d| d.len() > 1000) {
            cx.error_hint(
                &join(path, "description"),
                format!("a description of {} characters is too long", d.len()),
                "IAM takes at most 1000",
            );
        }
        if self.grants.is_empty() {
            cx.error_hint(
                path,
                format!("role `{key}` is granted nothing"),
                "add `grants:` (as a function's: `{KEY: [read]}`) with what the service does for you",
            );
        }
        let mut role = RoleAccess::default();
        // A role has no environment: what grants would set there is dropped.
        let mut env = Map::new();
        apply_grants(
            cx,
            key,
            "role",
            &self.grants,
            None,
            &mut env,
            &mut role,
            None,
            path,
        );
        // A role takes no grant on an AWS service (reported there).
        crate::render::iam::service_grants(cx, "role", &self.grants, path);
        let (statements, key_users) = role.finish();
        let key_user_tags: Vec<String> =
            key_users.iter().map(|k| super::key::user_tag(k)).collect();
        json!({
            "logical": l,
            "description": self.description.clone().unwrap_or_else(|| format!("Assumed by {}", self.service)),
            "trust": trust_policy(&self.service),
            "statements": statements,
            "key_user_tags": key_user_tags,
        })
    }

    fn attribute(&self, _cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "arn" => json!({"Fn::GetAtt": [l, "Arn"]}),
            "name" => json!({"Ref": l}),
            // Not an attribute of a role (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    // Passing a role uses no key.
    fn key_use(&self, _key: &str) -> Option<KeyUse> {
        None
    }

    /// `pass`: `iam:PassRole` on this role only, and only to its service.
    fn grant(
        &self,
        _cx: &mut Builder,
        key: &str,
        level: &str,
        _prefixes: &[String],
        _path: &str,
    ) -> Option<Json> {
        match level {
            "pass" => Some(crate::render::iam::allow(
                key,
                level,
                &["iam:PassRole"],
                vec![json!({"Fn::GetAtt": [pascal(key), "Arn"]})],
                Some(json!({"StringEquals": {"iam:PassedToService": self.service}})),
            )),
            // Not a level of a role (GRANT_LEVELS is checked first).
            _ => None,
        }
    }

    /// GetRole: it exists and its trust names the service.
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        vec![Pending::new(Self::HEALTH_CHECKS, async move {
            let name = t.physical_id(&t.logical_id())?;
            let trust = aws.role_trust(name).await?;
            Ok(vec![health_exists(trust.as_ref(), &self.service, name)])
        })]
    }

    /// GetRole on the role (CloudFormation names it).
    fn health_access(&self, a: &AccessTarget<'_>) -> Vec<Access> {
        vec![Access::new(
            "ReadServiceRoles",
            &["iam:GetRole"],
            a.generated_role_arn(&a.logical_id()),
        )]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::testing::{render, statement};
    use super::*;

    const STACK: &str = "resources:
  media:
    type: bucket
  mediaconvert_role:
    type: role
    description: What MediaConvert may do
    service: mediaconvert.amazonaws.com
    grants:
      media: [read, write]
  starter:
    type: function
    crate: starter
    environment:
      ROLE_ARN: ${mediaconvert_role.arn}
    grants:
      mediaconvert_role: [pass]
";

    #[test]
    fn the_trust_names_the_service_for_this_account_only() {
        let t = render(STACK);
        let r = &t["Resources"]["MediaconvertRole"];
        assert_eq!(r["Type"], "AWS::IAM::Role");
        assert_eq!(
            r["Properties"]["AssumeRolePolicyDocument"],
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": "mediaconvert.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                }],
            })
        );
        assert_eq!(r["Properties"]["Description"], "What MediaConvert may do");
        assert!(r["Properties"].get("RoleName").is_none());
    }

    #[test]
    fn its_grants_are_a_functions_statements() {
        let t = render(STACK);
        let policy = &t["Resources"]["MediaconvertRole"]["Properties"]["Policies"][0];
        assert_eq!(policy["PolicyName"], "MediaconvertRoleAccess");
        let statements = policy["PolicyDocument"]["Statement"].as_array().unwrap();
        let sids: Vec<&str> = statements
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, ["MediaRead", "MediaWrite"]);
        // The same statements a function's grant of the same levels gets.
        let f = render(
            "resources:
  media:
    type: bucket
  reader:
    type: function
    crate: reader
    grants:
      media: [read, write]
",
        );
        assert_eq!(statements[0], statement(&f, "Reader", "MediaRead"));
        assert_eq!(statements[1], statement(&f, "Reader", "MediaWrite"));
    }

    #[test]
    fn pass_is_passrole_on_that_role_to_its_service_only() {
        let t = render(STACK);
        assert_eq!(
            statement(&t, "Starter", "MediaconvertRolePass"),
            json!({
                "Sid": "MediaconvertRolePass",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [{"Fn::GetAtt": ["MediaconvertRole", "Arn"]}],
                "Condition": {"StringEquals": {"iam:PassedToService": "mediaconvert.amazonaws.com"}},
            })
        );
        assert_eq!(
            t["Resources"]["Starter"]["Properties"]["Environment"]["Variables"]["ROLE_ARN"],
            json!({"Fn::GetAtt": ["MediaconvertRole", "Arn"]})
        );
    }

    #[test]
    fn service_principals_are_checked() {
        assert_eq!(service_problem("mediaconvert.amazonaws.com"), None);
        assert_eq!(service_problem("logs.us-east-1.amazonaws.com"), None);
        for bad in [
            "mediaconvert",
            "MediaConvert.amazonaws.com",
            ".amazonaws.com",
            "a..b.amazonaws.com",
        ] {
            let (problem, hint) = service_problem(bad).unwrap();
            assert!(problem.contains(bad), "{problem}");
            assert!(hint.contains(".amazonaws.com"), "{hint}");
        }
        assert!(service_problem("mediaconvert")
            .unwrap()
            .1
            .contains("`mediaconvert.amazonaws.com`"));
    }

    #[test]
    fn trust_is_read_back_in_either_shape() {
        let one = json!({"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": ["lambda.amazonaws.com", "mediaconvert.amazonaws.com"]}}});
        assert!(trusts(&one, "mediaconvert.amazonaws.com"));
        assert!(!trusts(&one, "ecs-tasks.amazonaws.com"));
        let deny = json!({"Statement": [{"Effect": "Deny", "Action": ["sts:AssumeRole"],
            "Principal": {"Service": "mediaconvert.amazonaws.com"}}]});
        assert!(!trusts(&deny, "mediaconvert.amazonaws.com"));
    }

    /// What validating a one-stack project (`app`, in `dev`) with `stack`
    /// reports, every function's crate present.
    pub(crate) fn problems(stack: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("stacks")).unwrap();
        std::fs::write(
            root.join("stackctl.yaml"),
            "project: kinds\nstacks:\n  app: {}\nenvironments:\n  dev:\n    region: us-east-1\n",
        )
        .unwrap();
        std::fs::write(root.join("stacks/app.yaml"), stack).unwrap();
        for line in stack.lines() {
            if let Some(name) = line.trim().strip_prefix("crate: ") {
                let c = root.join("lambdas").join(name);
                std::fs::create_dir_all(&c).unwrap();
                std::fs::write(c.join("Cargo.toml"), "").unwrap();
            }
        }
        match crate::validate::project(root) {
            Ok(_) => panic!("no problem found in\n{stack}"),
            Err(d) => d.to_string(),
        }
    }

    #[test]
    fn passing_an_undeclared_role_names_the_closest_or_says_what_to_declare() {
        let close =
            problems(&STACK.replace("mediaconvert_role: [pass]", "mediaconvert_rol: [pass]"));
        assert!(
            close.contains("resources.starter.grants.mediaconvert_rol"),
            "{close}"
        );
        assert!(
            close.contains("`mediaconvert_rol` is not a resource of this stack"),
            "{close}"
        );
        assert!(
            close.contains("did you mean `mediaconvert_role`?"),
            "{close}"
        );
        let far = problems(&STACK.replace("mediaconvert_role: [pass]", "transcoder: [pass]"));
        assert!(far.contains("resources.starter.grants.transcoder"), "{far}");
        assert!(
            far.contains(
                "declare it, e.g. `transcoder: {type: role, service: mediaconvert.amazonaws.com"
            ),
            "{far}"
        );
    }

    #[test]
    fn pass_on_something_else_than_a_role_says_only_roles_are_passed() {
        let p = problems(&STACK.replace("mediaconvert_role: [pass]", "media: [pass]"));
        assert!(p.contains("resources.starter.grants.media[0]"), "{p}");
        assert!(
            p.contains("`pass` is not an access level of a bucket"),
            "{p}"
        );
        assert!(
            p.contains("only a `role` is passed (`iam:PassRole`); `media` is a bucket"),
            "{p}"
        );
    }

    #[test]
    fn a_bad_principal_or_no_grants_are_located() {
        let p = problems(
            "resources:
  r:
    type: role
    service: mediaconvert
",
        );
        assert!(p.contains("resources.r.service"), "{p}");
        assert!(
            p.contains("`mediaconvert` is not an AWS service principal"),
            "{p}"
        );
        assert!(p.contains("role `r` is granted nothing"), "{p}");
    }

    #[test]
    fn a_role_is_not_granted_aws_services() {
        let p = problems(&STACK.replace("media: [read, write]", "mediaconvert: [create_job]"));
        assert!(
            p.contains("resources.mediaconvert_role.grants.mediaconvert"),
            "{p}"
        );
        assert!(p.contains("a role is not granted `mediaconvert`"), "{p}");
    }

    #[test]
    fn exists_passes_on_the_trust_and_fails_without_it() {
        let ok = json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "mediaconvert.amazonaws.com"}}]});
        let f = health_exists(Some(&ok), "mediaconvert.amazonaws.com", "r1");
        assert_eq!(f.status, crate::health::Status::Pass);
        let f = health_exists(Some(&ok), "lambda.amazonaws.com", "r1");
        assert_eq!(f.status, crate::health::Status::Fail);
        assert!(f.hint.unwrap().contains("update-assume-role-policy"));
        assert_eq!(
            health_exists(None, "lambda.amazonaws.com", "r1").status,
            crate::health::Status::Fail
        );
    }

    #[test]
    fn a_key_granted_to_a_role_alone_is_used_and_tags_the_role() {
        let t = render(
            "resources:
  data:
    type: key
  r:
    type: role
    service: mediaconvert.amazonaws.com
    grants:
      data: [decrypt]
",
        );
        let r = &t["Resources"]["R"]["Properties"];
        assert_eq!(
            r["Tags"],
            json!([{"Key": "stackctl-key-user-Data", "Value": "true"}])
        );
        assert_eq!(
            r["Policies"][0]["PolicyDocument"]["Statement"][0]["Sid"],
            "DataDecrypt"
        );
    }
}
