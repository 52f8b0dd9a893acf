//! `key`: a KMS customer-managed key with rotation on and an alias. Its key
//! policy lets the account administer it (administrative actions only) and
//! lets only the roles stackctl tags as its users encrypt and decrypt with
//! it (no role ARN in the policy, so no dependency cycle with the roles
//! whose policies name the key), plus CloudWatch Logs for log groups of this
//! account and region.
//!
//! `encryption: {key: KEY}` on a table, bucket, queue, topic, secret or
//! function (its log group and environment) encrypts it with the key; a
//! function granted access to such a resource is also granted the key's
//! use for it. Grants on a key itself: `encrypt`, `decrypt`.

use super::{KeyUse, Kind, Resource};
use crate::limits::simple_problem;
use crate::model::source::join;
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;

/// A KMS customer-managed key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// Alias pattern (default: the project's naming pattern); the alias is
    /// `alias/NAME`.
    #[serde(default)]
    pub name: Option<String>,
    /// What it protects.
    #[serde(default)]
    pub description: Option<String>,
    /// Days a deleted key waits before it is gone, 7–30 (default 30).
    #[serde(default)]
    pub pending_window_days: Option<u32>,
    /// Keep the key when the stack is deleted (default: the `retain_data`
    /// setting; data encrypted with a deleted key is lost).
    #[serde(default)]
    pub retain: Option<PerEnv<bool>>,
}

/// `encryption: {key: KEY}` on a resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// The `key` resource of the stack.
    pub key: String,
}

/// The tag on a role that lets it use key `logical` (see the module docs).
pub fn user_tag(logical: &str) -> String {
    format!("stackctl-key-user-{logical}")
}

/// The key's ARN expression.
pub fn arn(logical: &str) -> Json {
    json!({"Fn::GetAtt": [logical, "Arn"]})
}

/// Resolves `encryption:` at `path`: the key's logical id, after checking
/// it names a `key` of the stack.
pub fn resolve(cx: &mut Builder, e: &Option<Encryption>, path: &str) -> Option<String> {
    let e = e.as_ref()?;
    cx.target(&e.key, &join(&join(path, "encryption"), "key"), &["key"])?;
    Some(pascal(&e.key))
}

/// The statement that lets a role use key `logical` for resource `target`
/// (`writes`: it also makes data keys).
pub fn use_statement(target: &str, logical: &str, writes: bool) -> Json {
    let actions: &[&str] = if writes {
        &["kms:Decrypt", "kms:GenerateDataKey"]
    } else {
        &["kms:Decrypt"]
    };
    iam::allow(target, "key", actions, vec![arn(logical)], None)
}

/// Actions of the account's administration of a key: everything but using
/// it on data.
const ADMIN_ACTIONS: &[&str] = &[
    "kms:CancelKeyDeletion",
    "kms:Create*",
    "kms:Delete*",
    "kms:Describe*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:Get*",
    "kms:List*",
    "kms:Put*",
    "kms:Revoke*",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Update*",
];

/// Actions the key's users may take.
const USE_ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
];

/// The key's alias.
const ALIAS: super::Part = super::Part {
    name: "alias",
    suffix: "Alias",
};

impl Kind for Key {
    const NAME: &'static str = "key";
    const TEMPLATE_FILE: &'static str = "key.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/key.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["arn", "id", "alias"];
    const GRANT_LEVELS: &'static [&'static str] = &["encrypt", "decrypt"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn name_problem(name: &str) -> Option<String> {
        if name.starts_with("aws") {
            return Some(format!(
                "key alias `alias/{name}` starts with `aws`, which AWS reserves"
            ));
        }
        simple_problem("key alias", name, 250, "-_/")
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        for id in [l.clone(), ALIAS.of(&l)] {
            cx.claim(&id, path);
        }
        let retain = cx.retain(&self.retain, path);
        let services: BTreeSet<&str> = cx
            .stack
            .resources
            .values()
            .flat_map(|r| r.key_services(cx.stack))
            .filter(|(k, _)| k == key)
            .map(|(_, service)| service)
            .collect();
        let used = cx.stack.resources.iter().any(|(_, r)| {
            r.encryption_key() == Some(key)
                || matches!(r, Resource::Function(f) if f.grants.contains_key(key))
                || matches!(r, Resource::Role(x) if x.grants.contains_key(key))
        });
        if !used {
            cx.error_hint(
                path,
                format!("key `{key}` encrypts nothing and no function is granted its use"),
                format!("add `encryption: {{key: {key}}}` to a table, bucket, queue, topic, secret or function, or `grants: {{{key}: [encrypt, decrypt]}}` to a function; or remove the key"),
            );
        }
        let window = self.pending_window_days.unwrap_or(30);
        if !(7..=30).contains(&window) {
            cx.error_hint(
                &join(path, "pending_window_days"),
                format!("a pending window of {window} days is out of range"),
                "allowed: 7 to 30",
            );
        }
        // One string for `Fn::Sub`: CloudFormation takes a key policy as a
        // JSON string, and moto takes nothing else.
        let root = "arn:${AWS::Partition}:iam::${AWS::AccountId}:root";
        let mut policy = json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": ADMIN_ACTIONS,
                    "Resource": "*",
                },
                {
                    "Sid": "TaggedRolesUse",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": USE_ACTIONS,
                    "Resource": "*",
                    "Condition": {"StringEquals": {format!("aws:PrincipalTag/{}", user_tag(&l)): "true"}},
                },
                {
                    "Sid": "LogsOfThisAccountUse",
                    "Effect": "Allow",
                    "Principal": {"Service": "logs.${AWS::Region}.amazonaws.com"},
                    "Action": USE_ACTIONS,
                    "Resource": "*",
                    "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"}},
                },
            ],
        });
        if !services.is_empty() {
            // AWS services that encrypt on a resource's behalf (SNS
            // delivering to an encrypted queue, CloudWatch alarms publishing
            // to an encrypted topic), for this account only.
            policy["Statement"]
                .as_array_mut()
                .into_iter()
                .for_each(|st| {
                    st.push(json!({
                        "Sid": "ServicesOfThisAccountUse",
                        "Effect": "Allow",
                        "Principal": {"Service": services.iter().collect::<Vec<_>>()},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}},
                    }));
                    // CloudTrail checks the key before it starts a trail.
                    if services.contains("cloudtrail.amazonaws.com") {
                        st.push(json!({
                            "Sid": "CloudTrailDescribes",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudtrail.amazonaws.com"},
                            "Action": "kms:DescribeKey",
                            "Resource": "*",
                        }));
                    }
                });
        }
        let policy = policy.to_string();
        json!({
            "ids": super::ids(&l, &[ALIAS]),
            "logical": l,
            "alias": format!("alias/{}", cx.name(key)),
            "description": self.description.clone().unwrap_or_else(|| format!("stackctl key {key} of {}", cx.stack.name)),
            "pending_window_days": window,
            "deletion_policy": super::DeletionPolicy::retaining(retain),
            "policy": policy,
        })
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "arn" => arn(&l),
            "id" => json!({"Ref": l}),
            "alias" => json!(format!("alias/{}", cx.name(key))),
            // Not an attribute of a key (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn grant(
        &self,
        _cx: &mut Builder,
        key: &str,
        level: &str,
        _prefixes: &[String],
        _path: &str,
    ) -> Option<Json> {
        let l = pascal(key);
        match level {
            "encrypt" => Some(iam::allow(
                key,
                level,
                &["kms:Encrypt", "kms:GenerateDataKey"],
                vec![arn(&l)],
                None,
            )),
            "decrypt" => Some(iam::allow(
                key,
                level,
                &["kms:Decrypt"],
                vec![arn(&l)],
                None,
            )),
            // Not a level of a key (GRANT_LEVELS is checked first).
            _ => None,
        }
    }

    fn key_use(&self, key: &str) -> Option<KeyUse> {
        Some(KeyUse::Direct(pascal(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, statement};
    use serde_json::{json, Value as Json};

    #[test]
    fn only_roles_tagged_as_users_may_use_the_key() {
        let t = render(
            "resources:
  data:
    type: key
  items:
    type: table
    attributes: {id: string}
    key: [id]
    encryption: {key: data}
  uploads:
    type: bucket
    encryption: {key: data}
  reader:
    type: function
    crate: reader
    encryption: {key: data}
    grants:
      items: [read]
      uploads: [write]
  signer:
    type: function
    crate: signer
    grants:
      data: [encrypt]
",
        );
        let key = &t["Resources"]["Data"]["Properties"];
        assert_eq!(key["EnableKeyRotation"], json!(true));
        let policy: Json =
            serde_json::from_str(key["KeyPolicy"]["Fn::Sub"].as_str().unwrap()).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        let admin = &statements[0]["Action"];
        assert!(!admin.to_string().contains("kms:Decrypt"), "{admin}");
        assert!(!admin.to_string().contains("kms:*"), "{admin}");
        assert_eq!(
            statements[1]["Condition"],
            json!({"StringEquals": {"aws:PrincipalTag/stackctl-key-user-Data": "true"}})
        );
        assert_eq!(
            t["Resources"]["DataAlias"]["Properties"]["TargetKeyId"],
            json!({"Ref": "Data"})
        );
        // Reading the table decrypts only; writing the bucket makes data keys.
        assert_eq!(
            statement(&t, "Reader", "ItemsKey")["Action"],
            json!(["kms:Decrypt"])
        );
        assert_eq!(
            statement(&t, "Reader", "UploadsKey")["Action"],
            json!(["kms:Decrypt", "kms:GenerateDataKey"])
        );
        // Its own environment and log group.
        assert_eq!(
            statement(&t, "Reader", "ReaderKey")["Action"],
            json!(["kms:Decrypt"])
        );
        let r = &t["Resources"];
        assert_eq!(
            r["Reader"]["Properties"]["KmsKeyArn"],
            json!({"Fn::GetAtt": ["Data", "Arn"]})
        );
        assert_eq!(
            r["ReaderLogGroup"]["Properties"]["KmsKeyId"],
            json!({"Fn::GetAtt": ["Data", "Arn"]})
        );
        assert_eq!(
            r["Items"]["Properties"]["SSESpecification"]["SSEType"],
            json!("KMS")
        );
        for f in ["ReaderRole", "SignerRole"] {
            assert_eq!(
                r[f]["Properties"]["Tags"],
                json!([{"Key": "stackctl-key-user-Data", "Value": "true"}]),
                "{f}"
            );
        }
        assert_eq!(
            statement(&t, "Signer", "DataEncrypt")["Action"],
            json!(["kms:Encrypt", "kms:GenerateDataKey"])
        );
    }
}
