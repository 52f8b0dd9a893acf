//! `bucket`: an S3 bucket, private and encrypted (SSE-S3) unless it hosts a
//! public website; CORS, lifecycle rules, notifications to functions.
//! Grants: `read`, `write`, `delete`, `list`, `multipart`, optionally under
//! a key prefix.

use super::key::{self, Encryption};
use super::{Kind, Resource};
use crate::model::source::{index, join};
use crate::model::value::PerEnv;
use crate::render::context::Builder;
use crate::render::iam;
use crate::render::names::{bucket_problem, pascal};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeSet;

/// S3 bucket: private and encrypted (SSE-S3) unless it hosts a public website.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// Physical name pattern (default: the project's naming pattern).
    #[serde(default)]
    pub name: Option<String>,
    /// Keep object versions.
    #[serde(default)]
    pub versioning: bool,
    /// CORS rules.
    #[serde(default)]
    pub cors: Vec<CorsRule>,
    /// Expiry rules.
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
    /// Functions invoked when objects change.
    #[serde(default)]
    pub notifications: Vec<Notification>,
    /// Static website hosting.
    #[serde(default)]
    pub website: Option<Website>,
    /// Keep the bucket when the stack is deleted (default: the `retain_data` setting).
    #[serde(default)]
    pub retain: Option<PerEnv<bool>>,
    /// Encrypt with a `key` of the stack (default: SSE-S3).
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

/// One CORS rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsRule {
    /// Methods: GET, PUT, POST, DELETE, HEAD.
    pub methods: Vec<String>,
    /// Allowed origins (default `*`).
    #[serde(default = "super::api::star")]
    pub origins: Vec<String>,
    /// Allowed request headers (default `*`).
    #[serde(default = "super::api::star")]
    pub headers: Vec<String>,
    /// Response headers the browser may read (e.g. `ETag` for multipart uploads).
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Seconds a preflight answer is cached.
    #[serde(default)]
    pub max_age: Option<u32>,
}

/// Object expiry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Delete objects this many days after creation.
    #[serde(default)]
    pub expire_days: Option<PerEnv<u32>>,
    /// Abort multipart uploads left incomplete this many days.
    #[serde(default)]
    pub abort_incomplete_multipart_days: Option<u32>,
    /// Delete non-current versions after this many days (versioned buckets).
    #[serde(default)]
    pub noncurrent_expire_days: Option<u32>,
    /// Only objects under this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// A function invoked on object events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// The function's resource key.
    pub function: String,
    /// `created` and/or `removed` (default `created`).
    #[serde(default = "created")]
    pub events: Vec<String>,
    /// Only keys under this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Only keys ending so.
    #[serde(default)]
    pub suffix: Option<String>,
    /// A boolean parameter that switches this notification on.
    #[serde(default)]
    pub when: Option<String>,
}

fn created() -> Vec<String> {
    vec!["created".to_string()]
}

/// Website hosting; makes objects publicly readable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Website {
    /// Index document (default `index.html`).
    #[serde(default = "index_html")]
    pub index: String,
    /// Error document.
    #[serde(default)]
    pub error: Option<String>,
    /// Allow anonymous reads of every object (needed for S3 website endpoints).
    /// Per environment, so production can be fronted by a CDN instead.
    #[serde(default)]
    pub public: Option<PerEnv<bool>>,
}

fn index_html() -> String {
    "index.html".to_string()
}

impl Kind for Bucket {
    const NAME: &'static str = "bucket";
    const TEMPLATE_FILE: &'static str = "bucket.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/bucket.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn", "domain", "website_url"];
    const GRANT_LEVELS: &'static [&'static str] = &["read", "write", "delete", "list", "multipart"];
    const GRANT_PREFIX: bool = true;

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn name_problem(name: &str) -> Option<String> {
        bucket_problem(name)
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let b = self;
        let l = pascal(key);
        for id in [l.clone(), format!("{l}Policy")] {
            cx.claim(&id, path);
        }
        let name = cx.name(key);
        let retain = cx.retain(&b.retain, path);
        let mut cors = Vec::new();
        for (i, rule) in b.cors.iter().enumerate() {
            let rpath = index(&join(path, "cors"), i);
            for (j, m) in rule.methods.iter().enumerate() {
                if !["GET", "PUT", "POST", "DELETE", "HEAD"].contains(&m.as_str()) {
                    let d = cx
                        .stack
                        .source
                        .error(
                            index(&join(&rpath, "methods"), j),
                            format!("unknown CORS method `{m}`"),
                        )
                        .suggest(m, ["GET", "PUT", "POST", "DELETE", "HEAD"]);
                    cx.diags.push(d);
                }
            }
            let mut r = json!({"AllowedMethods": rule.methods, "AllowedOrigins": rule.origins, "AllowedHeaders": rule.headers});
            if !rule.expose_headers.is_empty() {
                r["ExposedHeaders"] = json!(rule.expose_headers);
            }
            if let Some(age) = rule.max_age {
                r["MaxAge"] = json!(age);
            }
            cors.push(r);
        }
        let mut rules = Vec::new();
        if let Some(lc) = &b.lifecycle {
            let lpath = join(path, "lifecycle");
            let mut rule = Map::new();
            rule.insert("Id".into(), json!("stackctl-lifecycle"));
            rule.insert("Status".into(), json!("Enabled"));
            if let Some(p) = &lc.prefix {
                rule.insert("Prefix".into(), json!(p));
            }
            if let Some(days) = &lc.expire_days {
                cx.check_range(days, &join(&lpath, "expire_days"), "expiry of", 1, 36500);
                if let Some(d) = cx.per_env(days, &join(&lpath, "expire_days")) {
                    rule.insert("ExpirationInDays".into(), json!(d));
                }
            }
            if let Some(d) = lc.abort_incomplete_multipart_days {
                cx.check_range(
                    &PerEnv::One(d),
                    &join(&lpath, "abort_incomplete_multipart_days"),
                    "abort after",
                    1,
                    36500,
                );
                rule.insert(
                    "AbortIncompleteMultipartUpload".into(),
                    json!({"DaysAfterInitiation": d}),
                );
            }
            if let Some(d) = lc.noncurrent_expire_days {
                if !b.versioning {
                    cx.error_hint(
                        &join(&lpath, "noncurrent_expire_days"),
                        "non-current versions exist only in versioned buckets",
                        "add `versioning: true` or remove this",
                    );
                }
                rule.insert(
                    "NoncurrentVersionExpiration".into(),
                    json!({"NoncurrentDays": d}),
                );
            }
            let acts = [
                "ExpirationInDays",
                "AbortIncompleteMultipartUpload",
                "NoncurrentVersionExpiration",
            ];
            if !acts.iter().any(|a| rule.contains_key(*a)) {
                cx.error_hint(&lpath, "the lifecycle rule does nothing", "set `expire_days`, `abort_incomplete_multipart_days` or `noncurrent_expire_days`");
            }
            rules.push(Json::Object(rule));
        }
        let mut notifications = Vec::new();
        let mut permissions = Vec::new();
        let mut seen_functions = BTreeSet::new();
        for (i, n) in b.notifications.iter().enumerate() {
            let npath = index(&join(path, "notifications"), i);
            if cx
                .target(&n.function, &join(&npath, "function"), &["function"])
                .is_none()
            {
                continue;
            }
            for (j, e) in n.events.iter().enumerate() {
                if !["created", "removed"].contains(&e.as_str()) {
                    let d = cx
                        .stack
                        .source
                        .error(
                            index(&join(&npath, "events"), j),
                            format!("unknown object event `{e}`"),
                        )
                        .suggest(e, ["created", "removed"]);
                    cx.diags.push(d);
                }
            }
            let mut filter = Vec::new();
            if let Some(p) = &n.prefix {
                filter.push(json!({"Name": "prefix", "Value": p}));
            }
            if let Some(s) = &n.suffix {
                filter.push(json!({"Name": "suffix", "Value": s}));
            }
            let condition = n
                .when
                .as_ref()
                .and_then(|w| cx.condition(w, &join(&npath, "when")));
            let fl = pascal(&n.function);
            for e in &n.events {
                let event = if e == "removed" {
                    "s3:ObjectRemoved:*"
                } else {
                    "s3:ObjectCreated:*"
                };
                let mut cfg = json!({"Event": event, "Function": {"Fn::GetAtt": [fl, "Arn"]}});
                if !filter.is_empty() {
                    cfg["Filter"] = json!({"S3Key": {"Rules": filter}});
                }
                notifications.push(match &condition {
                    Some(c) => json!({"Fn::If": [c, cfg, {"Ref": "AWS::NoValue"}]}),
                    None => cfg,
                });
            }
            if seen_functions.insert(n.function.clone()) {
                let pl = format!("{l}Invokes{fl}");
                cx.claim(&pl, &npath);
                permissions.push(json!({"logical": pl, "function": fl}));
            }
        }
        let (website, public) = match &b.website {
            Some(w) => {
                let public = match &w.public {
                    Some(p) => cx
                        .per_env(p, &join(&join(path, "website"), "public"))
                        .unwrap_or(false),
                    None => false,
                };
                let mut cfg = json!({"IndexDocument": w.index});
                if let Some(e) = &w.error {
                    cfg["ErrorDocument"] = json!(e);
                }
                (cfg, public)
            }
            None => (Json::Null, false),
        };
        let access_logs = access_logs(cx, key, path);
        json!({
            "logical": l,
            "name": name,
            "access_logs": access_logs,
            "deletion_policy": if retain { "Retain" } else { "Delete" },
            "key": key::resolve(cx, &self.encryption, path),
            "versioning": b.versioning,
            "cors": cors,
            "lifecycle_rules": rules,
            "notifications": notifications,
            "permissions": permissions,
            "website": website,
            "public": public,
        })
    }

    fn invokes_async(&self, function: &str) -> bool {
        self.notifications.iter().any(|n| n.function == function)
    }

    fn encryption_key(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key.as_str())
    }

    fn writes(level: &str) -> bool {
        matches!(level, "write" | "multipart")
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, path: &str) -> Json {
        let l = pascal(key);
        let name = cx.name(key);
        match attr {
            // Buckets have explicit names, so their name and ARN are written
            // out rather than referenced: that keeps a function that names
            // its bucket free of a dependency cycle with the bucket's
            // notification of that function.
            "name" => json!(name),
            "arn" => arn(&name),
            "domain" => json!({"Fn::GetAtt": [l, "RegionalDomainName"]}),
            "website_url" => {
                if self.website.is_none() {
                    cx.error_hint(
                        path,
                        format!("bucket `{key}` has no website, so no `website_url`"),
                        "add `website:` to the bucket",
                    );
                }
                json!({"Fn::GetAtt": [l, "WebsiteURL"]})
            }
            // Not an attribute of a bucket (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn grant(
        &self,
        cx: &mut Builder,
        key: &str,
        level: &str,
        prefix: Option<&str>,
        _path: &str,
    ) -> Option<Json> {
        let name = cx.name(key);
        let objects = || {
            iam::sub(format!(
                "arn:${{AWS::Partition}}:s3:::{name}/{}*",
                prefix.unwrap_or("")
            ))
        };
        Some(match level {
            "read" => iam::allow(key, level, &["s3:GetObject"], vec![objects()], None),
            // CreateMultipartUpload, UploadPart and CompleteMultipartUpload
            // are authorised by s3:PutObject; there are no separate actions.
            "write" => iam::allow(key, level, &["s3:PutObject"], vec![objects()], None),
            "delete" => iam::allow(key, level, &["s3:DeleteObject"], vec![objects()], None),
            "list" => iam::allow(
                key,
                level,
                &["s3:ListBucket"],
                vec![arn(&name)],
                prefix.map(|p| json!({"StringLike": {"s3:prefix": [format!("{p}*")]}})),
            ),
            "multipart" => iam::allow(
                key,
                level,
                &[
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                    "s3:ListBucketMultipartUploads",
                ],
                vec![arn(&name), objects()],
                None,
            ),
            // Not a level of a bucket (GRANT_LEVELS is checked first).
            _ => return None,
        })
    }
}

/// A bucket's ARN from its name.
fn arn(name: &str) -> Json {
    json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:s3:::{name}")})
}

/// Logical id of a stack's access-log bucket.
const ACCESS_LOGS: &str = "AccessLogs";

/// Where bucket `key` writes its server access logs, when the environment
/// asks for them (`bucket_access_logs`, on in protected environments): the
/// stack's access-log bucket, which the stack's first bucket lays out.
fn access_logs(cx: &mut Builder, key: &str, path: &str) -> Option<Json> {
    if !cx.settings.bucket_access_logs {
        return None;
    }
    let first = cx
        .stack
        .resources
        .iter()
        .find(|(_, r)| matches!(r, Resource::Bucket(_)))
        .is_some_and(|(k, _)| k == key);
    let name = format!(
        "{}-access-logs",
        crate::render::context::stack_name(cx.project, &cx.stack.name, cx.env)
    );
    if first {
        cx.claim(ACCESS_LOGS, path);
        cx.claim(&format!("{ACCESS_LOGS}Policy"), path);
        if let Some(p) = bucket_problem(&name) {
            cx.error_hint(
                path,
                format!("the stack's access-log bucket cannot be named: {p}"),
                "shorten the project, stack or environment name, or set `bucket_access_logs: false` for this environment",
            );
        }
    }
    Some(json!({
        "logical": ACCESS_LOGS,
        "name": name,
        "owner": first,
        "deletion_policy": if cx.settings.retain_data { "Retain" } else { "Delete" },
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, statement, statements};
    use serde_json::json;

    const STACK: &str = "resources:
  ingest:
    type: bucket
  writer:
    type: function
    crate: writer
    grants:
      ingest: {access: [read, write, delete, list, multipart], prefix: uploads/}
";

    #[test]
    fn bucket_grants_are_scoped_to_the_prefix() {
        let t = render(STACK);
        let s = statement(&t, "Writer", "IngestWrite");
        assert_eq!(s["Action"], json!(["s3:PutObject"]));
        assert_eq!(
            s["Resource"][0]["Fn::Sub"],
            "arn:${AWS::Partition}:s3:::kinds-app-ingest-dev/uploads/*"
        );
        let list = statement(&t, "Writer", "IngestList");
        assert_eq!(
            list["Condition"]["StringLike"]["s3:prefix"],
            json!(["uploads/*"])
        );
        assert_eq!(
            list["Resource"][0]["Fn::Sub"],
            "arn:${AWS::Partition}:s3:::kinds-app-ingest-dev"
        );
    }

    #[test]
    fn no_bucket_statement_grants_data_access_on_star() {
        let t = render(STACK);
        let all = statements(&t, "Writer");
        assert_eq!(all.len(), 6, "the log statement and five levels: {all:?}");
        for s in all {
            assert!(!s["Resource"].to_string().contains("\"*\""), "{s}");
            assert!(!s["Action"].as_array().unwrap().is_empty(), "{s}");
        }
    }
}
