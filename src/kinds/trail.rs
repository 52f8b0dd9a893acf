//! `trail`: a CloudTrail trail recording the account's API calls (every
//! region by default) into a bucket of its own: private, versioned,
//! encrypted (with a `key` of the stack when `encryption:` names one, as
//! auditors expect), written only by CloudTrail for this trail, with log
//! file validation, kept `retention_days` and then expired. The trail also
//! delivers to a CloudWatch Logs group (alarms and searches on API calls),
//! and records object-level (data) events of the stack's buckets and tables
//! listed in `data_events`.
//!
//! moto accepts `AWS::CloudTrail::Trail` as a placeholder (nothing
//! records): in an emulator environment the bucket, log group and role are
//! created and nothing takes a `GetAtt` of the trail.

use super::key::Encryption;
use super::{Kind, Part};
use crate::model::source::{index, join};
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// A CloudTrail trail with its bucket and log group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trail {
    /// Physical name pattern (also its bucket's, with `-logs`).
    #[serde(default)]
    pub name: Option<String>,
    /// Record every region (default true), or this stack's only.
    #[serde(default)]
    pub multi_region: Option<bool>,
    /// Days log files are kept, per environment (default 365 in protected
    /// environments, 90 elsewhere); the log group keeps the environment's
    /// `log_retention_days`.
    #[serde(default)]
    pub retention_days: Option<PerEnv<u32>>,
    /// Encrypt log files with a `key` of the stack (default: SSE-S3).
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// Buckets and tables of the stack whose object- and item-level calls
    /// (GetObject, PutItem, ...) are recorded too; they are billed per event.
    #[serde(default)]
    pub data_events: Vec<String>,
}

const BUCKET: Part = Part {
    name: "bucket",
    suffix: "Bucket",
};
const BUCKET_POLICY: Part = Part {
    name: "bucket_policy",
    suffix: "BucketPolicy",
};
const LOG_GROUP: Part = Part {
    name: "log_group",
    suffix: "LogGroup",
};
const LOGS_ROLE: Part = Part {
    name: "logs_role",
    suffix: "LogsRole",
};

/// Why `name` cannot be a trail's name (CloudTrail's rules).
fn trail_name_problem(name: &str) -> Option<String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let starts = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let ends = name
        .chars()
        .last()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if !(3..=128).contains(&name.len()) {
        Some(format!(
            "a trail name has 3 to 128 characters, `{name}` has {}",
            name.len()
        ))
    } else if !ok_chars || !starts || !ends || name.contains("..") || name.contains("--") {
        Some(format!(
            "`{name}` is not a trail name: letters, digits, `.`, `-` and `_`, starting and ending with a letter or digit"
        ))
    } else {
        None
    }
}

impl Kind for Trail {
    const NAME: &'static str = "trail";
    const TEMPLATE_FILE: &'static str = "trail.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/trail.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "bucket", "log_group"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn name_problem(name: &str) -> Option<String> {
        trail_name_problem(name)
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        cx.claim(&l, path);
        for part in [BUCKET, BUCKET_POLICY, LOG_GROUP, LOGS_ROLE] {
            cx.claim(&part.of(&l), path);
        }
        let key_logical = super::key::resolve(cx, &self.encryption, path);
        let retention = match &self.retention_days {
            Some(v) => {
                let rpath = join(path, "retention_days");
                let days = cx.per_env(v, &rpath).unwrap_or(90);
                if !(1..=3650).contains(&days) {
                    cx.error_hint(
                        &rpath,
                        format!("{days} days of audit logs is out of range"),
                        "keep them 1 to 3650 days",
                    );
                }
                days
            }
            None if cx.settings.retain_data => 365,
            None => 90,
        };
        let mut buckets = Vec::new();
        let mut tables = Vec::new();
        for (i, k) in self.data_events.iter().enumerate() {
            let dpath = index(&join(path, "data_events"), i);
            match cx.target(k, &dpath, &["bucket", "table"]).map(|r| r.kind()) {
                Some("bucket") => buckets.push(
                    json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:s3:::${{{}}}/", pascal(k))}),
                ),
                Some(_) => tables.push(json!({"Fn::GetAtt": [pascal(k), "Arn"]})),
                None => {}
            }
        }
        let name = cx.name(key);
        if name.len() + "-logs".len() > 63 {
            cx.error_hint(
                path,
                format!("trail `{name}` is too long a name for its bucket, `{name}-logs`"),
                "bucket names have at most 63 characters: set a shorter `name:`",
            );
        }
        json!({
            "logical": l,
            "ids": super::ids(&l, &[BUCKET, BUCKET_POLICY, LOG_GROUP, LOGS_ROLE]),
            "name": name,
            "bucket_name": format!("{name}-logs"),
            "multi_region": self.multi_region.unwrap_or(true),
            "retention_days": retention,
            "log_retention_days": cx.settings.log_retention_days,
            "key": key_logical,
            "data_buckets": buckets,
            "data_tables": tables,
            "deletion_policy": super::DeletionPolicy::retaining(cx.settings.retain_data),
            "emulated": cx.emulated(),
        })
    }

    fn attribute(&self, _cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "name" => json!({"Ref": l}),
            "bucket" => json!({"Ref": BUCKET.of(&l)}),
            "log_group" => json!({"Ref": LOG_GROUP.of(&l)}),
            // Not an attribute of a trail (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn encryption_key(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key.as_str())
    }

    fn key_services(&self, _stack: &crate::model::Stack) -> Vec<(String, &'static str)> {
        // CloudTrail encrypts the log files it writes with the key.
        self.encryption
            .iter()
            .map(|e| (e.key.clone(), "cloudtrail.amazonaws.com"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, render_in};
    use serde_json::json;

    const STACK: &str = "resources:
  data:
    type: key
  store:
    type: bucket
  worlds:
    type: table
    attributes: {id: string}
    key: [id]
  audit:
    type: trail
    encryption: {key: data}
    data_events: [store, worlds]
";

    #[test]
    fn only_this_trail_writes_its_bucket_and_it_validates_its_files() {
        let t = render(STACK);
        let r = &t["Resources"];
        let trail = &r["Audit"]["Properties"];
        assert_eq!(trail["IsLogging"], true);
        assert_eq!(trail["EnableLogFileValidation"], true);
        assert_eq!(trail["IsMultiRegionTrail"], true);
        assert_eq!(trail["KMSKeyId"], json!({"Fn::GetAtt": ["Data", "Arn"]}));
        assert_eq!(trail["S3BucketName"], json!({"Ref": "AuditBucket"}));
        assert_eq!(r["Audit"]["DependsOn"], json!(["AuditBucketPolicy"]));
        let statements = r["AuditBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        let write = statements
            .iter()
            .find(|s| s["Sid"] == "CloudTrailWrites")
            .unwrap();
        assert_eq!(
            write["Principal"],
            json!({"Service": "cloudtrail.amazonaws.com"})
        );
        assert_eq!(
            write["Condition"]["StringEquals"]["s3:x-amz-acl"],
            "bucket-owner-full-control"
        );
        assert!(write["Condition"]["StringEquals"]["aws:SourceArn"]
            .to_string()
            .contains("trail/"));
        // Data events of the named bucket and table only.
        let selectors = trail["AdvancedEventSelectors"].as_array().unwrap();
        assert_eq!(selectors.len(), 3);
        assert_eq!(
            selectors[1]["FieldSelectors"][1]["StartsWith"],
            json!([{"Fn::Sub": "arn:${AWS::Partition}:s3:::${Store}/"}])
        );
        assert_eq!(
            selectors[2]["FieldSelectors"][1]["Equals"],
            json!([{"Fn::GetAtt": ["Worlds", "Arn"]}])
        );
        // CloudTrail may use the key, for this account, and describe it.
        let policy = r["Data"]["Properties"]["KeyPolicy"]["Fn::Sub"]
            .as_str()
            .unwrap();
        assert!(
            policy.contains("cloudtrail.amazonaws.com") && policy.contains("CloudTrailDescribes")
        );
        // Expired after 90 days outside protected environments.
        assert_eq!(
            r["AuditBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]
                ["ExpirationInDays"],
            90
        );
    }

    #[test]
    fn protected_environments_keep_the_logs_longer_and_the_bucket_after_the_stack() {
        let t = render_in("    protected: true\n", STACK);
        let r = &t["Resources"];
        assert_eq!(r["AuditBucket"]["DeletionPolicy"], "Retain");
        assert_eq!(
            r["AuditBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]
                ["ExpirationInDays"],
            365
        );
    }
}
