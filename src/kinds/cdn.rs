//! `cdn`: a CloudFront distribution in front of buckets and APIs of the
//! stack. A bucket origin stays private: CloudFront signs its requests
//! with an Origin Access Control, and the bucket's policy (rendered by the
//! `bucket` kind, which asks [`readers`]) lets `cloudfront.amazonaws.com`
//! read objects only for this distribution (`AWS:SourceArn`). An API origin
//! (`rest_api`, `http_api`) is reached over HTTPS at its stage. Buckets are
//! cached with the managed CachingOptimized policy; APIs are not cached
//! (CachingDisabled) and get every viewer header but Host
//! (AllViewerExceptHostHeader). Viewers are redirected to HTTPS; HTTP/2 and
//! HTTP/3; TLSv1.2_2021 with a custom domain and certificate; price class,
//! access logs (protected environments) and a WAF web ACL per environment.
//!
//! moto: CloudFront is a placeholder, whose every `GetAtt` fails the stack,
//! so in an emulator environment nothing names one (attributes are `Ref`s,
//! which moto drops) and health skips it.

use super::{Kind, Part, Resource};
use crate::aws::resources::{DistributionState, Resources};
use crate::health::{Finding, Pending, Stop, Target};
use crate::model::source::{index, join};
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// A CloudFront distribution.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cdn {
    /// What it serves (the distribution's comment).
    #[serde(default)]
    pub description: Option<String>,
    /// Buckets and APIs of the stack it serves; the first answers every
    /// path no behavior names.
    pub origins: Vec<String>,
    /// Path pattern to origin (`"/api/*": api`), tried in order of
    /// writing before the default.
    #[serde(default)]
    pub behaviors: BTreeMap<String, String>,
    /// The object `/` serves (default `index.html` when the default origin
    /// is a bucket).
    #[serde(default)]
    pub default_root_object: Option<String>,
    /// `PriceClass_100` (default), `PriceClass_200` or `PriceClass_All`,
    /// per environment.
    #[serde(default)]
    pub price_class: Option<PerEnv<String>>,
    /// Custom domain names, per environment (each needs `certificate`).
    #[serde(default)]
    pub domains: Option<PerEnv<Vec<String>>>,
    /// ACM certificate ARN in us-east-1 for the domains, per environment.
    #[serde(default)]
    pub certificate: Option<PerEnv<String>>,
    /// Standard access logs to a bucket the kind renders (default: in
    /// protected environments).
    #[serde(default)]
    pub access_logs: Option<PerEnv<bool>>,
    /// ARN of a WAF (v2, CLOUDFRONT scope) web ACL, per environment.
    #[serde(default)]
    pub web_acl: Option<PerEnv<String>>,
}

const ORIGIN_ACCESS: Part = Part {
    name: "origin_access",
    suffix: "OriginAccess",
};
const LOG_BUCKET: Part = Part {
    name: "log_bucket",
    suffix: "Logs",
};

/// AWS's managed cache policy for static content.
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// AWS's managed cache policy that caches nothing.
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AWS's managed origin request policy forwarding every viewer header but
/// `Host`, all cookies and query strings (what an API needs).
const ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";
/// Price classes.
const PRICE_CLASSES: &[&str] = &["PriceClass_100", "PriceClass_200", "PriceClass_All"];
/// The minimum TLS of viewers, with a custom certificate.
pub const TLS_POLICY: &str = "TLSv1.2_2021";

/// The distributions of `stack` that serve bucket `bucket` (their logical
/// ids): the bucket's policy lets each read.
pub fn readers(stack: &crate::model::Stack, bucket: &str) -> Vec<String> {
    stack
        .resources
        .iter()
        .filter_map(|(k, r)| match r {
            Resource::Cdn(c) if c.origins.iter().any(|o| o == bucket) => Some(pascal(k)),
            _ => None,
        })
        .collect()
}

/// The `deployed` finding.
fn health_deployed(d: &DistributionState, id: &str) -> Finding {
    let observed = format!(
        "{}, {}",
        d.status,
        if d.enabled { "enabled" } else { "disabled" }
    );
    let f = match (d.status.as_str(), d.enabled) {
        (_, false) => Finding::fail(
            "deployed",
            format!("distribution {id} is disabled: it serves nothing"),
        )
        .hint("it was disabled outside the stack; enable it in the console or `stackctl deploy` after a change"),
        ("Deployed", true) => Finding::pass(
            "deployed",
            format!("distribution {id} ({}) is deployed and enabled", d.domain),
        ),
        ("InProgress", true) => Finding::warn(
            "deployed",
            format!("distribution {id} is still deploying to edge locations"),
        )
        .hint("CloudFront takes minutes to deploy a change; run health again (or with --wait)"),
        (other, true) => Finding::fail("deployed", format!("distribution {id} is `{other}`")),
    };
    f.observed(observed).expected("Deployed, enabled")
}

impl Kind for Cdn {
    const NAME: &'static str = "cdn";
    const TEMPLATE_FILE: &'static str = "cdn.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/cdn.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["id", "domain", "url"];
    const HEALTH_CHECKS: &'static [&'static str] = &["deployed"];
    const ALARM: Option<super::AlarmMetrics> = Some(super::AlarmMetrics {
        namespace: "AWS/CloudFront",
        dimension: "DistributionId",
        metrics: &[
            "Requests",
            "4xxErrorRate",
            "5xxErrorRate",
            "TotalErrorRate",
            "BytesDownloaded",
        ],
    });

    fn name_pattern(&self) -> Option<&str> {
        None
    }

    fn name_problem(name: &str) -> Option<String> {
        // The origin access control's name: 64 characters.
        (name.len() > 64).then(|| format!("cdn name `{name}` is longer than 64 characters"))
    }

    fn key_services(&self, stack: &crate::model::Stack) -> Vec<(String, &'static str)> {
        // CloudFront decrypts the objects of a key-encrypted bucket origin.
        self.origins
            .iter()
            .filter_map(|o| match stack.resources.get(o) {
                Some(Resource::Bucket(b)) => b
                    .encryption_key()
                    .map(|k| (k.to_string(), "cloudfront.amazonaws.com")),
                _ => None,
            })
            .collect()
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        let protected = cx.project.file.environments[cx.env].protected;
        let stack = cx.stack;
        let mut parts = Vec::new();
        // Origins: buckets and APIs of the stack.
        let opath = join(path, "origins");
        if self.origins.is_empty() {
            cx.error_hint(
                &opath,
                "a CDN without origins serves nothing",
                "list a bucket or an API of the stack: `origins: [assets]`",
            );
        }
        let candidates: Vec<&str> = stack
            .resources
            .iter()
            .filter(|(_, r)| {
                matches!(
                    r,
                    Resource::Bucket(_) | Resource::RestApi(_) | Resource::HttpApi(_)
                )
            })
            .map(|(k, _)| k.as_str())
            .collect();
        let listed = if candidates.is_empty() {
            "the stack declares no bucket, rest_api or http_api".to_string()
        } else {
            format!("its buckets and APIs: {}", candidates.join(", "))
        };
        let mut origins = Vec::new();
        let mut by_key: BTreeMap<&str, &'static str> = BTreeMap::new();
        for (i, o) in self.origins.iter().enumerate() {
            let at = index(&opath, i);
            if by_key.contains_key(o.as_str()) {
                cx.error_hint(
                    &at,
                    format!("origin `{o}` is listed twice"),
                    "list each once",
                );
                continue;
            }
            let origin_id = o.replace('_', "-");
            let kind = match stack.resources.get(o) {
                None => {
                    let d = stack
                        .source
                        .error(&at, format!("`{o}` is not a resource of this stack"))
                        .suggest(o, candidates.iter().copied());
                    let d = if d.hint.is_none() {
                        d.hint(listed.clone())
                    } else {
                        d
                    };
                    cx.diags.push(d);
                    continue;
                }
                // Read through S3's REST endpoint (a website bucket too).
                Some(Resource::Bucket(_)) => {
                    origins.push(json!({
                        "id": origin_id,
                        "kind": "bucket",
                        "domain": format!("{}.s3.${{AWS::Region}}.${{AWS::URLSuffix}}", cx.name(o)),
                    }));
                    "bucket"
                }
                Some(Resource::RestApi(a)) => {
                    origins.push(json!({
                        "id": origin_id,
                        "kind": "api",
                        "domain": format!("${{{}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}", pascal(o)),
                        "origin_path": format!("/{}", super::api::stage(cx.env, a.stage.as_deref())),
                    }));
                    "api"
                }
                Some(Resource::HttpApi(a)) => {
                    let stage = super::api::stage(cx.env, a.stage.as_deref());
                    origins.push(json!({
                        "id": origin_id,
                        "kind": "api",
                        "domain": format!("${{{}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}", pascal(o)),
                        "origin_path": if stage == "$default" { Json::Null } else { json!(format!("/{stage}")) },
                    }));
                    "api"
                }
                Some(r) => {
                    cx.error_hint(
                        &at,
                        format!("`{o}` is a {}, which a CDN cannot serve", r.kind()),
                        format!(
                            "an origin is a bucket, rest_api or http_api of the stack; {listed}"
                        ),
                    );
                    continue;
                }
            };
            by_key.insert(o.as_str(), kind);
        }
        if by_key.values().any(|k| *k == "bucket") {
            parts.push(ORIGIN_ACCESS);
        }
        // Behaviors.
        let mut behaviors = Vec::new();
        for (pattern, origin) in &self.behaviors {
            let bpath = join(&join(path, "behaviors"), pattern);
            if pattern.is_empty() || pattern.len() > 255 || pattern.contains(' ') {
                cx.error_hint(
                    &bpath,
                    format!("`{pattern}` is not a path pattern"),
                    "e.g. `/api/*` or `*.jpg`",
                );
            }
            match by_key.get(origin.as_str()) {
                Some(kind) => behaviors.push(json!({
                    "pattern": pattern,
                    "origin": origin.replace('_', "-"),
                    "kind": kind,
                })),
                None => {
                    let d = stack
                        .source
                        .error(&bpath, format!("`{origin}` is not an origin of this CDN"))
                        .suggest(origin, self.origins.iter().map(String::as_str));
                    cx.diags.push(d);
                }
            }
        }
        let default = self.origins.first().and_then(|o| {
            by_key
                .get(o.as_str())
                .map(|k| json!({"origin": o.replace('_', "-"), "kind": k}))
        });
        let root_object = self.default_root_object.clone().or_else(|| {
            (default.as_ref().map(|d| d["kind"] == "bucket") == Some(true))
                .then(|| "index.html".to_string())
        });
        // Per environment.
        let price_class = match &self.price_class {
            Some(p) => {
                let ppath = join(path, "price_class");
                for (suffix, v) in p.written() {
                    if !PRICE_CLASSES.contains(&v.as_str()) {
                        let d = stack
                            .source
                            .error(
                                format!("{ppath}{suffix}"),
                                format!("`{v}` is not a price class"),
                            )
                            .suggest(&v, PRICE_CLASSES.iter().copied());
                        cx.diags.push(d);
                    }
                }
                cx.per_env(p, &ppath)
                    .unwrap_or_else(|| PRICE_CLASSES[0].to_string())
            }
            None => PRICE_CLASSES[0].to_string(),
        };
        let optional =
            |cx: &mut Builder, v: &Option<PerEnv<String>>, field: &str| -> Option<String> {
                let v = v.as_ref()?;
                for k in v.env_keys() {
                    if k != "default" && !cx.project.file.environments.contains_key(k) {
                        let envs: Vec<&str> = cx
                            .project
                            .file
                            .environments
                            .keys()
                            .map(String::as_str)
                            .collect();
                        let d = cx
                            .stack
                            .source
                            .error(
                                join(&join(path, field), k),
                                format!("unknown environment `{k}`"),
                            )
                            .suggest(k, envs);
                        cx.diags.push(d);
                    }
                }
                v.get(cx.env)
            };
        let certificate = optional(cx, &self.certificate, "certificate");
        let web_acl = optional(cx, &self.web_acl, "web_acl");
        let domains = self
            .domains
            .as_ref()
            .and_then(|d| d.get(cx.env))
            .unwrap_or_default();
        if let Some(c) = &certificate {
            if !c.starts_with("arn:aws:acm:us-east-1:") {
                cx.error_hint(
                    &join(path, "certificate"),
                    format!("`{c}` is not an ACM certificate in us-east-1"),
                    "CloudFront takes certificates from ACM in us-east-1 only: `arn:aws:acm:us-east-1:ACCOUNT:certificate/ID`",
                );
            }
        }
        if !domains.is_empty() && certificate.is_none() {
            cx.error_hint(
                &join(path, "domains"),
                format!("domains without a certificate in `{}`", cx.env),
                format!("add `certificate: {{{}: arn:aws:acm:us-east-1:ACCOUNT:certificate/ID}}` covering them", cx.env),
            );
        }
        if let Some(w) = &web_acl {
            if !(w.starts_with("arn:aws:wafv2:us-east-1:") && w.contains(":global/webacl/")) {
                cx.error_hint(
                    &join(path, "web_acl"),
                    format!("`{w}` is not a CloudFront-scoped WAF web ACL ARN"),
                    "`arn:aws:wafv2:us-east-1:ACCOUNT:global/webacl/NAME/ID`",
                );
            }
        }
        let access_logs = match &self.access_logs {
            Some(a) => cx.per_env(a, &join(path, "access_logs")).unwrap_or(false),
            None => protected,
        };
        let stack_name = crate::names::stack_name(cx.project, &cx.stack.name, cx.env);
        let name = format!("{stack_name}-{}", key.replace('_', "-"));
        if let Some(problem) = Self::name_problem(&name) {
            cx.error_hint(path, problem, "shorten the project, stack or resource key");
        }
        let log_bucket = access_logs.then(|| format!("{name}-logs").to_lowercase());
        if let Some(b) = &log_bucket {
            parts.push(LOG_BUCKET);
            if let Some(problem) = crate::limits::bucket_problem(b) {
                cx.error_hint(
                    path,
                    format!("its log bucket: {problem}"),
                    "shorten the project, stack or resource key",
                );
            }
        }
        cx.claim(&l, path);
        for p in &parts {
            cx.claim(&p.of(&l), path);
        }
        json!({
            "ids": super::ids(&l, &parts),
            "logical": l,
            "name": name,
            "comment": self.description.clone().unwrap_or_else(|| format!("{} of stack {}", key, cx.stack.name)),
            "origins": origins,
            "default": default,
            "behaviors": behaviors,
            "root_object": root_object,
            "price_class": price_class,
            "certificate": certificate,
            "domains": domains,
            "tls_policy": TLS_POLICY,
            "web_acl": web_acl,
            "access_logs": log_bucket.map(|b| json!({"bucket": b, "retain": cx.settings.retain_data})),
            "caching_optimized": CACHING_OPTIMIZED,
            "caching_disabled": CACHING_DISABLED,
            "all_viewer_except_host": ALL_VIEWER_EXCEPT_HOST,
        })
    }

    fn alarm_dimension(&self, key: &str, part: Option<&str>) -> Option<Json> {
        match part {
            None => Some(json!({"Ref": pascal(key)})),
            Some(_) => None,
        }
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        if cx.emulated() {
            // No GetAtt on a placeholder; moto drops what a `Ref` to one feeds.
            return json!({"Ref": l});
        }
        let domain = self
            .domains
            .as_ref()
            .and_then(|d| d.get(cx.env))
            .and_then(|d| d.first().cloned());
        match attr {
            "id" => json!({"Ref": l}),
            "domain" => match domain {
                Some(d) => json!(d),
                None => json!({"Fn::GetAtt": [l, "DomainName"]}),
            },
            "url" => match domain {
                Some(d) => json!(format!("https://{d}")),
                None => json!({"Fn::Sub": format!("https://${{{l}.DomainName}}")}),
            },
            // Not an attribute of a CDN (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    /// GetDistribution, on this account's distributions (CloudFront's
    /// ARNs have no region).
    fn health_access(
        &self,
        a: &crate::health::access::AccessTarget<'_>,
    ) -> Vec<crate::health::access::Access> {
        use crate::health::access::{Access, ACCOUNT};
        vec![Access::new(
            "ReadDistributions",
            &["cloudfront:GetDistribution"],
            format!("arn:{}:cloudfront::{ACCOUNT}:distribution/*", a.partition()),
        )]
    }

    /// `deployed`: GetDistribution says `Deployed` and enabled. Skipped on
    /// the emulator, which creates no distribution.
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        vec![Pending::new(Self::HEALTH_CHECKS, async move {
            if t.emulated {
                return Err(Stop::Skip(
                    "the local emulator (moto) does not create CloudFront distributions".into(),
                ));
            }
            let id = t.physical_id(&t.logical_id())?;
            let d = aws.distribution(id).await?;
            Ok(vec![health_deployed(&d, id)])
        })]
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, render_in};
    use super::*;

    const STACK: &str = "resources:
  assets:
    type: bucket
  handler:
    type: function
    crate: handler
  api:
    type: rest_api
    authorization: {type: iam}
    routes:
      GET /items: {function: handler}
  cdn:
    type: cdn
    origins: [assets, api]
    behaviors:
      /api/*: api
";

    #[test]
    fn a_private_bucket_is_read_through_origin_access_control_by_this_distribution_only() {
        let t = render(STACK);
        let r = &t["Resources"];
        let d = &r["Cdn"]["Properties"]["DistributionConfig"];
        let origins = d["Origins"].as_array().unwrap();
        assert_eq!(
            origins[0]["OriginAccessControlId"],
            json!({"Ref": "CdnOriginAccess"})
        );
        assert_eq!(origins[0]["S3OriginConfig"]["OriginAccessIdentity"], "");
        assert_eq!(
            r["CdnOriginAccess"]["Properties"]["OriginAccessControlConfig"]["SigningBehavior"],
            "always"
        );
        let policy = r["AssetsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .clone();
        let s = policy
            .iter()
            .find(|s| s["Principal"] == json!({"Service": "cloudfront.amazonaws.com"}))
            .expect("a statement for CloudFront");
        assert_eq!(s["Action"], "s3:GetObject");
        assert_eq!(
            s["Condition"]["StringEquals"]["AWS:SourceArn"],
            json!({"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Cdn}"})
        );
    }

    #[test]
    fn buckets_are_cached_and_apis_are_not() {
        let t = render(STACK);
        let d = &t["Resources"]["Cdn"]["Properties"]["DistributionConfig"];
        let default = &d["DefaultCacheBehavior"];
        assert_eq!(default["TargetOriginId"], "assets");
        assert_eq!(default["CachePolicyId"], CACHING_OPTIMIZED);
        assert_eq!(default["ViewerProtocolPolicy"], "redirect-to-https");
        let api = &d["CacheBehaviors"][0];
        assert_eq!(api["PathPattern"], "/api/*");
        assert_eq!(api["TargetOriginId"], "api");
        assert_eq!(api["CachePolicyId"], CACHING_DISABLED);
        assert_eq!(api["OriginRequestPolicyId"], ALL_VIEWER_EXCEPT_HOST);
        let origin = &d["Origins"][1];
        assert_eq!(origin["OriginPath"], "/dev");
        assert_eq!(
            origin["CustomOriginConfig"]["OriginProtocolPolicy"],
            "https-only"
        );
        assert_eq!(d["HttpVersion"], "http2and3");
        assert_eq!(d["PriceClass"], "PriceClass_100");
        assert_eq!(d["DefaultRootObject"], "index.html");
        assert!(d.get("Logging").is_none());
    }

    #[test]
    fn protected_environments_log_and_a_domain_gets_tls12() {
        let t = render_in(
            "    protected: true\n",
            &format!(
                "{STACK}    price_class: PriceClass_All
    domains: [www.example.com]
    certificate: arn:aws:acm:us-east-1:123456789012:certificate/abc
"
            ),
        );
        let r = &t["Resources"];
        let d = &r["Cdn"]["Properties"]["DistributionConfig"];
        assert_eq!(d["PriceClass"], "PriceClass_All");
        assert_eq!(d["Aliases"], json!(["www.example.com"]));
        assert_eq!(d["ViewerCertificate"]["MinimumProtocolVersion"], TLS_POLICY);
        assert_eq!(d["ViewerCertificate"]["SslSupportMethod"], "sni-only");
        assert_eq!(
            d["Logging"]["Bucket"],
            json!({"Fn::GetAtt": ["CdnLogs", "RegionalDomainName"]})
        );
        assert_eq!(
            r["CdnLogs"]["Properties"]["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
            "BucketOwnerPreferred"
        );
    }
}
