//! `bucket`: an S3 bucket, private and encrypted (SSE-S3) unless it hosts a
//! public website; CORS, lifecycle rules, notifications to functions.
//! Grants: `read`, `write`, `delete`, `list`, `multipart`, optionally under
//! a key prefix.

use super::key::{self, Encryption};
use super::{Kind, Part, Resource};
use crate::aws::resources::{BucketEncryption, PublicAccessBlock, Resources};
use crate::health::access::{Access, AccessTarget};
use crate::health::{Finding, Pending, Target};
use crate::limits::{self, bucket_problem};
use crate::model::source::{index, join};
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
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
    /// Lifecycle rules: one, or a list (each under its own prefix).
    #[serde(default)]
    pub lifecycle: Option<Lifecycles>,
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
    /// Send every object event to the account's default EventBridge bus
    /// (rules of the stack match them by `source: [aws.s3]`).
    #[serde(default)]
    pub event_bridge: bool,
}

/// One CORS rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsRule {
    /// Methods: GET, PUT, POST, DELETE, HEAD.
    pub methods: Vec<CorsMethod>,
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

/// One lifecycle rule, or several.
#[derive(Debug, Clone)]
pub struct Lifecycles(pub Vec<Lifecycle>);

/// A mapping is one rule, a list is several; each reports its own errors.
impl<'de> Deserialize<'de> for Lifecycles {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_yaml::Value::deserialize(d)?;
        if v.is_sequence() {
            serde_yaml::from_value(v)
                .map(Lifecycles)
                .map_err(D::Error::custom)
        } else {
            serde_yaml::from_value(v)
                .map(|one| Lifecycles(vec![one]))
                .map_err(D::Error::custom)
        }
    }
}

/// Object expiry and storage class.
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
    /// Move objects to S3 Intelligent-Tiering this many days after
    /// creation (0: at once).
    #[serde(default)]
    pub intelligent_tiering_days: Option<u32>,
}

/// A function invoked on object events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// The function's resource key.
    pub function: String,
    /// `created` and/or `removed` (default `created`).
    #[serde(default = "created")]
    pub events: Vec<ObjectEvent>,
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

fn created() -> Vec<ObjectEvent> {
    vec![ObjectEvent::Created]
}

/// A method S3 CORS rules allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CorsMethod {
    /// `GET`.
    Get,
    /// `PUT`.
    Put,
    /// `POST`.
    Post,
    /// `DELETE`.
    Delete,
    /// `HEAD`.
    Head,
}

/// Object events a bucket notifies functions of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectEvent {
    /// Any object created (put, post, copy, multipart completed).
    Created,
    /// Any object deleted.
    Removed,
}

impl ObjectEvent {
    /// S3's event type.
    pub fn cfn(self) -> &'static str {
        match self {
            ObjectEvent::Created => "s3:ObjectCreated:*",
            ObjectEvent::Removed => "s3:ObjectRemoved:*",
        }
    }
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

/// The public access block the rendered template sets (`None`: a public
/// website's bucket, which has none).
fn declared_block(t: &Target<'_>, logical: &str) -> Option<PublicAccessBlock> {
    let c = t
        .properties(logical)?
        .get("PublicAccessBlockConfiguration")?;
    let on = |k: &str| match c.get(k) {
        Some(Json::Bool(b)) => *b,
        Some(Json::String(s)) => s == "true",
        _ => false,
    };
    Some(PublicAccessBlock {
        block_public_acls: on("BlockPublicAcls"),
        ignore_public_acls: on("IgnorePublicAcls"),
        block_public_policy: on("BlockPublicPolicy"),
        restrict_public_buckets: on("RestrictPublicBuckets"),
    })
}

/// `public_access`: every setting the template turns on is on. A private
/// bucket made public out of band fails. moto's CloudFormation never
/// applies the block, so in an emulator environment a bucket without one
/// is `skip`; a block set through the API is judged.
fn health_public_access(
    found: Option<PublicAccessBlock>,
    t: &Target<'_>,
    logical: &str,
    name: &str,
) -> Finding {
    let Some(want) = declared_block(t, logical) else {
        return Finding::skip(
            "public_access",
            "declared public (a website): no block to compare",
        );
    };
    let expected = match want.off().as_slice() {
        [] => "all four settings on".to_string(),
        off => format!("on except {}", off.join(", ")),
    };
    let restore = format!(
        "`aws s3api put-public-access-block --bucket {name} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true`, then look for public grants in its policy and ACLs"
    );
    let Some(have) = found else {
        if t.emulated {
            return Finding::skip(
                "public_access",
                "the emulator's CloudFormation does not apply PublicAccessBlockConfiguration, so a bucket deployed there has none",
            )
            .observed("none")
            .expected(expected);
        }
        return Finding::fail(
            "public_access",
            "no public access block: the bucket can be made public",
        )
        .observed("none")
        .expected(expected)
        .hint(restore);
    };
    let turned_off: Vec<&str> = have
        .off()
        .into_iter()
        .filter(|s| !want.off().contains(s))
        .collect();
    let observed = match have.off().as_slice() {
        [] => "all four settings on".to_string(),
        off => format!("off: {}", off.join(", ")),
    };
    let f = if turned_off.is_empty() {
        Finding::pass("public_access", "public access blocked as declared")
    } else {
        Finding::fail(
            "public_access",
            format!("public access block turned off: {}", turned_off.join(", ")),
        )
        .hint(restore)
    };
    f.observed(observed).expected(expected)
}

/// `encryption`: default encryption as declared: the algorithm
/// (`AES256` or `aws:kms`) and, for KMS, the stack's key. Another algorithm
/// or key fails (functions granted the declared key cannot read objects
/// encrypted with another). moto's CloudFormation applies it, so it is
/// judged there too.
fn health_encryption(
    found: Option<&BucketEncryption>,
    t: &Target<'_>,
    logical: &str,
    name: &str,
) -> Finding {
    let rule = t
        .properties(logical)
        .and_then(|p| p.get("BucketEncryption"))
        .and_then(|e| e.get("ServerSideEncryptionConfiguration"))
        .and_then(|c| c.get(0))
        .and_then(|r| r.get("ServerSideEncryptionByDefault"));
    let Some(rule) = rule else {
        return Finding::skip("encryption", "no default encryption declared");
    };
    let algorithm = rule
        .get("SSEAlgorithm")
        .and_then(Json::as_str)
        .unwrap_or("AES256");
    let key = rule
        .get("KMSMasterKeyID")
        .map(|k| crate::health::resolve::Resolver::new(t).resolve(k));
    let expected = match &key {
        Some(k) => format!("{algorithm} with key {k}"),
        None => algorithm.to_string(),
    };
    let restore = match &key {
        Some(k) => format!(
            "`aws s3api put-bucket-encryption --bucket {name} --server-side-encryption-configuration '{{\"Rules\":[{{\"ApplyServerSideEncryptionByDefault\":{{\"SSEAlgorithm\":\"aws:kms\",\"KMSMasterKeyID\":\"{k}\"}}}}]}}'`"
        ),
        None => format!(
            "`aws s3api put-bucket-encryption --bucket {name} --server-side-encryption-configuration '{{\"Rules\":[{{\"ApplyServerSideEncryptionByDefault\":{{\"SSEAlgorithm\":\"{algorithm}\"}}}}]}}'`"
        ),
    };
    let Some(have) = found else {
        return Finding::fail("encryption", "no default encryption")
            .observed("none")
            .expected(expected)
            .hint(restore);
    };
    let observed = match &have.key {
        Some(k) => format!("{} with key {k}", have.algorithm),
        None => have.algorithm.clone(),
    };
    // S3 answers a key by ARN or by id, as it was set: either matches the
    // stack's key (whose physical id is its id).
    let key_id = rule
        .get("KMSMasterKeyID")
        .and_then(|k| k.get("Fn::GetAtt"))
        .and_then(|g| g.get(0))
        .and_then(Json::as_str)
        .and_then(|l| t.deployed.resources.get(l))
        .filter(|id| !id.is_empty());
    let same_key = match (&key, key_id, &have.key) {
        (None, _, _) => true,
        (Some(_), Some(id), Some(k)) => k == id || k.ends_with(&format!("/{id}")),
        (Some(want), None, Some(k)) => want.matches(k),
        (Some(_), _, None) => false,
    };
    let f = if have.algorithm != algorithm {
        Finding::fail(
            "encryption",
            format!(
                "encrypted with {}, not {algorithm} as declared",
                have.algorithm
            ),
        )
        .hint(restore)
    } else if !same_key {
        Finding::fail("encryption", "encrypted with another key than declared").hint(restore)
    } else {
        Finding::pass("encryption", format!("{algorithm}, as declared"))
    };
    f.observed(observed).expected(expected)
}

impl Kind for Bucket {
    const NAME: &'static str = "bucket";
    const TEMPLATE_FILE: &'static str = "bucket.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/bucket.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn", "domain", "website_url"];
    const GRANT_LEVELS: &'static [&'static str] = &["read", "write", "delete", "list", "multipart"];
    const GRANT_PREFIX: bool = true;
    const HEALTH_CHECKS: &'static [&'static str] = &["exists", "public_access", "encryption"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// HeadBucket for `exists`; GetPublicAccessBlock for `public_access`,
    /// against the rendered `PublicAccessBlockConfiguration`.
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        vec![
            Pending::new(&["exists"], async move {
                let name = t.physical_id(&t.logical_id())?;
                aws.bucket(name).await?;
                Ok(vec![Finding::pass("exists", format!("{name} exists"))])
            }),
            Pending::new(&["public_access"], async move {
                let logical = t.logical_id();
                let name = t.physical_id(&logical)?;
                let found = aws.public_access_block(name).await?;
                Ok(vec![health_public_access(found, &t, &logical, name)])
            }),
            Pending::new(&["encryption"], async move {
                let logical = t.logical_id();
                let name = t.physical_id(&logical)?;
                let found = aws.bucket_encryption(name).await?;
                Ok(vec![health_encryption(found.as_ref(), &t, &logical, name)])
            }),
        ]
    }

    /// HeadBucket (which IAM calls `s3:ListBucket`),
    /// GetBucketPublicAccessBlock and GetBucketEncryption on the bucket.
    fn health_access(&self, a: &AccessTarget<'_>) -> Vec<Access> {
        a.property(&a.logical_id(), "BucketName")
            .map(|name| {
                Access::new(
                    "ReadBuckets",
                    &[
                        "s3:ListBucket",
                        "s3:GetBucketPublicAccessBlock",
                        "s3:GetEncryptionConfiguration",
                    ],
                    a.bucket_arn(&name),
                )
            })
            .into_iter()
            .collect()
    }

    fn name_problem(name: &str) -> Option<String> {
        bucket_problem(name)
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let b = self;
        let l = pascal(key);
        for id in [l.clone(), POLICY.of(&l)] {
            cx.claim(&id, path);
        }
        let name = cx.name(key);
        let retain = cx.retain(&b.retain, path);
        let cors: Vec<Json> = b
            .cors
            .iter()
            .map(|rule| {
                json!({
                    "methods": rule.methods,
                    "origins": rule.origins,
                    "headers": rule.headers,
                    "expose_headers": rule.expose_headers,
                    "max_age": rule.max_age,
                })
            })
            .collect();
        let lifecycle: Vec<Json> = match &b.lifecycle {
            Some(Lifecycles(rules)) if rules.len() == 1 => {
                vec![lifecycle(
                    cx,
                    b,
                    &rules[0],
                    &join(path, "lifecycle"),
                    "stackctl-lifecycle",
                )]
            }
            Some(Lifecycles(rules)) => rules
                .iter()
                .enumerate()
                .map(|(i, rule)| {
                    let id = format!("stackctl-lifecycle-{}", i + 1);
                    lifecycle(cx, b, rule, &index(&join(path, "lifecycle"), i), &id)
                })
                .collect(),
            None => Vec::new(),
        };
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
            let condition = n
                .when
                .as_ref()
                .and_then(|w| cx.condition(w, &join(&npath, "when")));
            let fl = pascal(&n.function);
            for e in &n.events {
                notifications.push(json!({
                    "event": e.cfn(),
                    "function": fl,
                    "prefix": n.prefix,
                    "suffix": n.suffix,
                    "condition": condition,
                }));
            }
            if seen_functions.insert(n.function.clone()) {
                let pl = super::invoke_permission(&l, &fl);
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
                (json!({"index": w.index, "error": w.error}), public)
            }
            None => (Json::Null, false),
        };
        let access_logs = access_logs(cx, key, path);
        json!({
            "ids": super::ids(&l, &[POLICY]),
            "logical": l,
            "name": name,
            "access_logs": access_logs,
            "deletion_policy": super::DeletionPolicy::retaining(retain),
            "key": key::resolve(cx, &self.encryption, path),
            "versioning": b.versioning,
            "cors": cors,
            "lifecycle": lifecycle,
            "notifications": notifications,
            "permissions": permissions,
            "website": website,
            "public": public,
            "cdn_readers": super::cdn::readers(cx.stack, key),
            "event_bridge": b.event_bridge,
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
        prefixes: &[String],
        _path: &str,
    ) -> Option<Json> {
        let name = cx.name(key);
        let objects = || -> Vec<Json> {
            if prefixes.is_empty() {
                return vec![iam::sub(format!("arn:${{AWS::Partition}}:s3:::{name}/*"))];
            }
            prefixes
                .iter()
                .map(|p| iam::sub(format!("arn:${{AWS::Partition}}:s3:::{name}/{p}*")))
                .collect()
        };
        Some(match level {
            "read" => iam::allow(key, level, &["s3:GetObject"], objects(), None),
            // CreateMultipartUpload, UploadPart and CompleteMultipartUpload
            // are authorised by s3:PutObject; there are no separate actions.
            "write" => iam::allow(key, level, &["s3:PutObject"], objects(), None),
            "delete" => iam::allow(key, level, &["s3:DeleteObject"], objects(), None),
            "list" => iam::allow(
                key,
                level,
                &["s3:ListBucket"],
                vec![arn(&name)],
                (!prefixes.is_empty()).then(|| {
                    let like: Vec<String> = prefixes.iter().map(|p| format!("{p}*")).collect();
                    json!({"StringLike": {"s3:prefix": like}})
                }),
            ),
            "multipart" => iam::allow(
                key,
                level,
                &[
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                    "s3:ListBucketMultipartUploads",
                ],
                std::iter::once(arn(&name)).chain(objects()).collect(),
                None,
            ),
            // Not a level of a bucket (GRANT_LEVELS is checked first).
            _ => return None,
        })
    }
}

/// A lifecycle rule of a bucket (at `lpath`), checked.
fn lifecycle(cx: &mut Builder, b: &Bucket, lc: &Lifecycle, lpath: &str, id: &str) -> Json {
    let lpath = lpath.to_string();
    let expire_days = cx.ranged(
        &lc.expire_days,
        &lpath,
        "expire_days",
        "expiry of",
        &limits::LIFECYCLE_DAYS,
    );
    if let Some(d) = lc.abort_incomplete_multipart_days {
        cx.check_range(
            &PerEnv::One(d),
            &join(&lpath, "abort_incomplete_multipart_days"),
            "abort after",
            &limits::LIFECYCLE_DAYS,
        );
    }
    if lc.noncurrent_expire_days.is_some() && !b.versioning {
        cx.error_hint(
            &join(&lpath, "noncurrent_expire_days"),
            "non-current versions exist only in versioned buckets",
            "add `versioning: true` or remove this",
        );
    }
    if expire_days.is_none()
        && lc.abort_incomplete_multipart_days.is_none()
        && lc.noncurrent_expire_days.is_none()
        && lc.intelligent_tiering_days.is_none()
    {
        cx.error_hint(
            &lpath,
            "the lifecycle rule does nothing",
            "set `expire_days`, `abort_incomplete_multipart_days`, `noncurrent_expire_days` or `intelligent_tiering_days`",
        );
    }
    json!({
        "id": id,
        "intelligent_tiering_days": lc.intelligent_tiering_days,
        "prefix": lc.prefix,
        "expire_days": expire_days,
        "abort_incomplete_multipart_days": lc.abort_incomplete_multipart_days,
        "noncurrent_expire_days": lc.noncurrent_expire_days,
    })
}

/// Its policy (TLS only, and public reads of a public website).
const POLICY: Part = Part {
    name: "policy",
    suffix: "Policy",
};

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
        crate::names::stack_name(cx.project, &cx.stack.name, cx.env)
    );
    if first {
        cx.claim(ACCESS_LOGS, path);
        cx.claim(&POLICY.of(ACCESS_LOGS), path);
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
        "ids": super::ids(ACCESS_LOGS, &[POLICY]),
        "name": name,
        "owner": first,
        "deletion_policy": super::DeletionPolicy::retaining(cx.settings.retain_data),
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
    fn lifecycle_rules_may_be_one_or_a_list() {
        let t = render(
            "resources:
  media:
    type: bucket
    lifecycle:
      - {prefix: temp/, expire_days: 1}
      - {intelligent_tiering_days: 0}
",
        );
        let rules = &t["Resources"]["Media"]["Properties"]["LifecycleConfiguration"]["Rules"];
        assert_eq!(
            rules,
            &serde_json::json!([
                {"Id": "stackctl-lifecycle-1", "Status": "Enabled", "Prefix": "temp/", "ExpirationInDays": 1},
                {"Id": "stackctl-lifecycle-2", "Status": "Enabled", "Transitions": [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 0}]},
            ])
        );
        let one =
            render("resources:\n  media:\n    type: bucket\n    lifecycle: {expire_days: 30}\n");
        assert_eq!(
            one["Resources"]["Media"]["Properties"]["LifecycleConfiguration"]["Rules"][0]["Id"],
            "stackctl-lifecycle"
        );
    }

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

    /// `prefix: [a/, b/]`: each statement names every prefix, nothing
    /// wider; `prefix: []` is an error.
    #[test]
    fn bucket_grants_take_several_prefixes() {
        let t = render(
            "resources:
  media:
    type: bucket
  writer:
    type: function
    crate: writer
    grants:
      media: {access: [write, list], prefix: [uploads/, transcripts/]}
",
        );
        let s = statement(&t, "Writer", "MediaWrite");
        assert_eq!(
            s["Resource"],
            json!([
                {"Fn::Sub": "arn:${AWS::Partition}:s3:::kinds-app-media-dev/uploads/*"},
                {"Fn::Sub": "arn:${AWS::Partition}:s3:::kinds-app-media-dev/transcripts/*"}
            ])
        );
        let list = statement(&t, "Writer", "MediaList");
        assert_eq!(
            list["Condition"]["StringLike"]["s3:prefix"],
            json!(["uploads/*", "transcripts/*"])
        );
        let err = super::super::role::tests::problems(
            "resources:
  media:
    type: bucket
  writer:
    type: function
    crate: writer
    grants:
      media: {access: [write], prefix: []}
",
        );
        assert!(err.contains("`prefix: []` names no keys"), "{err}");
        assert!(
            err.contains("resources.writer.grants.media.prefix"),
            "{err}"
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

    #[test]
    fn event_bridge_notifications_go_with_function_notifications() {
        let t = render(
            "resources:
  uploads:
    type: bucket
    event_bridge: true
    notifications:
      - {function: thumbs, prefix: images/}
  thumbs:
    type: function
    crate: thumbs
  plain:
    type: bucket
    event_bridge: true
",
        );
        let n = &t["Resources"]["Uploads"]["Properties"]["NotificationConfiguration"];
        assert_eq!(
            n["EventBridgeConfiguration"],
            json!({"EventBridgeEnabled": true})
        );
        assert_eq!(
            n["LambdaConfigurations"][0]["Function"],
            json!({"Fn::GetAtt": ["Thumbs", "Arn"]})
        );
        let plain = &t["Resources"]["Plain"]["Properties"]["NotificationConfiguration"];
        assert_eq!(
            plain,
            &json!({"EventBridgeConfiguration": {"EventBridgeEnabled": true}})
        );
    }
}
