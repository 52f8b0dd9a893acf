//! The IAM policy `health` needs (`stackctl health --print-policy`),
//! derived from the resources it would check: each kind declares the
//! read-only actions its checks call and the ARNs they act on
//! ([`crate::kinds::Kind::health_access`], next to `HEALTH_CHECKS`); the
//! stack checks add CloudFormation's reads of each stack. Statements are
//! grouped by their `Sid`, actions and resources sorted, so the output is
//! the same on every run.
//!
//! The account is the policy variable `${aws:PrincipalAccount}` (the
//! caller's own account: health never reads another's), so the policy
//! needs no account id and works in every account an environment uses.

use crate::render::{Inventory, Rendered};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

/// The account in ARNs: the caller's own.
pub const ACCOUNT: &str = "${aws:PrincipalAccount}";

/// Generated names longer than this are truncated by CloudFormation in
/// ways it does not document, so their prefix is not known.
const GENERATED_NAME_MAX: usize = 64;
/// The random suffix (with its `-`) CloudFormation adds to a generated name.
const GENERATED_SUFFIX: usize = 14;

/// Read-only actions on one resource, for one statement of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The statement's id (letters and digits): what it is for, and why
    /// `*` when the actions take no narrower resource.
    pub sid: &'static str,
    /// IAM actions, `service:Action`; read-only only.
    pub actions: &'static [&'static str],
    /// The resource ARN (an ARN pattern), or `*`.
    pub resource: String,
}

impl Access {
    /// `actions` on `resource`.
    pub fn new(sid: &'static str, actions: &'static [&'static str], resource: String) -> Self {
        Self {
            sid,
            actions,
            resource,
        }
    }

    /// `actions` that IAM only allows on `*` (its Service Authorization
    /// Reference lists no resource type for them); `sid` says so.
    pub fn any(sid: &'static str, actions: &'static [&'static str]) -> Self {
        Self::new(sid, actions, "*".to_string())
    }
}

/// One declared resource, as a kind needs it to name the ARNs its checks
/// read.
#[derive(Debug, Clone, Copy)]
pub struct AccessTarget<'a> {
    /// The resource key.
    pub key: &'a str,
    /// What it became in the rendered template.
    pub inventory: &'a Inventory,
    /// The rendered template, parsed.
    pub template: &'a Json,
    /// The stack's CloudFormation name.
    pub stack_name: &'a str,
    /// The environment's region.
    pub region: &'a str,
}

impl AccessTarget<'_> {
    /// Its own logical id.
    pub fn logical_id(&self) -> String {
        crate::names::pascal(self.key)
    }

    /// The partition of its region.
    pub fn partition(&self) -> &'static str {
        super::resolve::partition_of(self.region)
    }

    /// Rendered property `name` of CloudFormation resource `logical`, when
    /// it is plain text (a physical name).
    pub fn property(&self, logical: &str, name: &str) -> Option<String> {
        self.template
            .get("Resources")?
            .get(logical)?
            .get("Properties")?
            .get(name)?
            .as_str()
            .map(str::to_string)
    }

    /// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{ACCOUNT}:{resource}",
            self.partition(),
            self.region
        )
    }

    /// `arn:PARTITION:s3:::BUCKET` (S3's ARNs have no region or account).
    pub fn bucket_arn(&self, bucket: &str) -> String {
        format!("arn:{}:s3:::{bucket}", self.partition())
    }

    /// The ARN pattern of role `logical`, whose name CloudFormation
    /// generates as `STACK-LOGICAL-RANDOM`; when that is too long to be
    /// kept whole, CloudFormation truncates it, and the pattern is every
    /// role of the account.
    pub fn generated_role_arn(&self, logical: &str) -> String {
        let prefix = format!("{}-{logical}-", self.stack_name);
        let name = if prefix.len() + GENERATED_SUFFIX <= GENERATED_NAME_MAX {
            format!("{prefix}*")
        } else {
            "*".to_string()
        };
        format!("arn:{}:iam::{ACCOUNT}:role/{name}", self.partition())
    }
}

/// The read-only actions of the stack checks on stack `name`: DescribeStacks
/// (status, parameters), ListStackResources (`resources`, and the physical
/// ids every other check reads) and GetTemplate (`template`).
pub fn stack_access(region: &str, name: &str) -> Access {
    Access::new(
        "ReadStacks",
        &[
            "cloudformation:DescribeStacks",
            "cloudformation:ListStackResources",
            "cloudformation:GetTemplate",
        ],
        stack_arn(region, name),
    )
}

/// DescribeStacks on a stack whose outputs feed a checked stack's
/// parameters (the `template` check computes the parameters as deploy
/// would).
pub fn upstream_access(region: &str, name: &str) -> Access {
    Access::new(
        "ReadUpstreamStackOutputs",
        &["cloudformation:DescribeStacks"],
        stack_arn(region, name),
    )
}

fn stack_arn(region: &str, name: &str) -> String {
    format!(
        "arn:{}:cloudformation:{region}:{ACCOUNT}:stack/{name}/*",
        super::resolve::partition_of(region)
    )
}

/// The policy document granting `access`: one statement per `Sid`, its
/// actions and resources sorted and without repeats.
pub fn policy(access: &[Access]) -> Json {
    let mut by_sid: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for a in access {
        let (actions, resources) = by_sid.entry(a.sid).or_default();
        actions.extend(a.actions.iter().copied());
        resources.insert(a.resource.as_str());
    }
    let statements: Vec<Json> = by_sid
        .into_iter()
        .map(|(sid, (actions, resources))| {
            let resource = if resources.contains("*") {
                json!("*")
            } else {
                json!(resources)
            };
            json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": actions,
                "Resource": resource,
            })
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// What the checks of `stacks` (by name, each with its typed resources)
/// need, of the kinds in `only` (all when empty), in `region`; `all` are
/// every rendered stack of the environment, for the upstream stacks.
pub fn needed(
    region: &str,
    all: &[Rendered],
    stacks: &[(&Rendered, &BTreeMap<String, crate::kinds::Resource>)],
    only: &BTreeSet<String>,
) -> Vec<Access> {
    let wanted = |kind: &str| only.is_empty() || only.contains(kind);
    let mut out = Vec::new();
    for (r, resources) in stacks {
        // The stack reads give every resource check its physical ids, so
        // they are needed whatever `--only` says.
        out.push(stack_access(region, &r.stack_name));
        for (stack, _) in r.output_parameters.values() {
            if let Some(up) = all.iter().find(|u| &u.stack == stack) {
                out.push(upstream_access(region, &up.stack_name));
            }
        }
        let template = crate::diff::parse_template(&r.template).unwrap_or_default();
        for inv in &r.inventory {
            let Some(resource) = resources.get(&inv.key) else {
                continue;
            };
            if resource.health_checks().is_empty() || !wanted(resource.kind()) {
                continue;
            }
            let target = AccessTarget {
                key: &inv.key,
                inventory: inv,
                template: &template,
                stack_name: &r.stack_name,
                region,
            };
            out.extend(resource.health_access(&target));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_grouped_by_sid_and_sorted() {
        let p = policy(&[
            Access::new("ReadTables", &["dynamodb:DescribeTable"], "arn:b".into()),
            Access::any("AlarmsOnlyStar", &["cloudwatch:DescribeAlarms"]),
            Access::new(
                "ReadTables",
                &["dynamodb:DescribeTimeToLive", "dynamodb:DescribeTable"],
                "arn:a".into(),
            ),
        ]);
        assert_eq!(
            p,
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "AlarmsOnlyStar", "Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"], "Resource": "*"},
                {"Sid": "ReadTables", "Effect": "Allow",
                 "Action": ["dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive"],
                 "Resource": ["arn:a", "arn:b"]},
            ]})
        );
    }

    #[test]
    fn a_generated_role_name_is_a_prefix_unless_too_long() {
        let inv = Inventory {
            key: "greeter".into(),
            kind: "function".into(),
            physical_name: None,
            resources: Vec::new(),
        };
        let t = json!({});
        let mut a = AccessTarget {
            key: "greeter",
            inventory: &inv,
            template: &t,
            stack_name: "hp-app-dev",
            region: "cn-north-1",
        };
        assert_eq!(
            a.generated_role_arn("GreeterRole"),
            "arn:aws-cn:iam::${aws:PrincipalAccount}:role/hp-app-dev-GreeterRole-*"
        );
        let long = "a".repeat(40);
        a.stack_name = &long;
        assert_eq!(
            a.generated_role_arn("GreeterRole"),
            "arn:aws-cn:iam::${aws:PrincipalAccount}:role/*"
        );
    }
}
