//! `load_balancer`: an application load balancer on a `network` of the
//! stack, internal (private subnets, reachable from the VPC) or public
//! (public subnets, reachable from anywhere), with a security group of its
//! own, one listener that services attach their rules to (HTTPS with the
//! TLS 1.3 policy when an ACM certificate is given for the environment,
//! port 80 then only redirecting; else HTTP) whose default answer is a
//! JSON 404, access logs to a bucket it renders (protected environments,
//! or `access_logs: true`), deletion protection and invalid-header
//! dropping in protected environments.
//!
//! `vpc_link: true` adds what a REST API needs to reach it privately: an
//! internal network load balancer whose `alb`-type target group forwards
//! to the ALB, and an `AWS::ApiGateway::VpcLink` on that NLB.
//!
//! The contract with `service` (issue 12), by logical id: `Lb`,
//! `LbSecurityGroup` (services admit their port from its `GroupId`) and
//! `LbListener` (services put their listener rules on it).
//!
//! Locally (moto 5.2.1, measured): the ALB, its listeners, the NLB and the
//! `alb` target group are created; a TCP listener is rejected ("Listener
//! protocol 'TCP' must be one of 'HTTP, HTTPS'"), so an emulator
//! environment leaves the NLB's listener out; the VPC link is a
//! placeholder (`Ref` gives "").

use super::{AlarmMetrics, Kind, Part, Resource};
use crate::aws::resources::{LoadBalancerState, Resources, TargetGroupHealth};
use crate::health::{Finding, Pending, Stop, Target};
use crate::model::source::join;
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// An application load balancer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// Physical name pattern (at most 32 characters).
    #[serde(default)]
    pub name: Option<String>,
    /// The `network` of the stack it sits on.
    pub network: String,
    /// Internet-facing, in the public subnets (default false: internal,
    /// in the private subnets, reachable from inside the VPC only).
    #[serde(default)]
    pub public: bool,
    /// The ACM certificate ARN of its HTTPS listener, per environment; an
    /// environment without one gets an HTTP listener.
    #[serde(default)]
    pub certificate: Option<PerEnv<String>>,
    /// The DNS name its certificate covers, per environment (where a
    /// certificate is given): the `url` attribute's host, and the host
    /// REST API private integrations send (TLS is verified against it).
    #[serde(default)]
    pub domain: Option<PerEnv<String>>,
    /// Access logs to a bucket the kind renders (default: in protected
    /// environments).
    #[serde(default)]
    pub access_logs: Option<PerEnv<bool>>,
    /// Days access logs are kept, 1–36500 (default 90).
    #[serde(default)]
    pub access_log_days: Option<u32>,
    /// Seconds an idle connection stays open, 1–4000 (default 60).
    #[serde(default)]
    pub idle_timeout: Option<u32>,
    /// An internal NLB and an API Gateway VPC link in front of it, for
    /// REST API routes to services (`vpc_link` attribute).
    #[serde(default)]
    pub vpc_link: bool,
}

/// Its security group (the contract's `LbSecurityGroup`).
pub const SECURITY_GROUP: Part = super::network::SECURITY_GROUP;
/// The listener services attach their rules to.
pub const LISTENER: Part = Part {
    name: "listener",
    suffix: "Listener",
};
/// Port 80 redirecting to HTTPS, when the listener is HTTPS.
const REDIRECT: Part = Part {
    name: "redirect",
    suffix: "HttpRedirect",
};
const LOG_BUCKET: Part = Part {
    name: "log_bucket",
    suffix: "AccessLogs",
};
const LOG_POLICY: Part = Part {
    name: "log_policy",
    suffix: "AccessLogsPolicy",
};
/// The internal NLB in front of the ALB, for the VPC link.
pub const NLB: Part = Part {
    name: "nlb",
    suffix: "Nlb",
};
const NLB_TARGETS: Part = Part {
    name: "nlb_targets",
    suffix: "NlbTargets",
};
const NLB_LISTENER: Part = Part {
    name: "nlb_listener",
    suffix: "NlbListener",
};
/// The API Gateway VPC link on the NLB.
pub const VPC_LINK: Part = Part {
    name: "vpc_link",
    suffix: "VpcLink",
};

/// The TLS policy of HTTPS listeners: TLS 1.3, and 1.2 with forward
/// secrecy only.
pub const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";
/// Days access logs are kept when `access_log_days` is not set.
const DEFAULT_LOG_DAYS: u32 = 90;
/// The idle timeout when `idle_timeout` is not set.
const DEFAULT_IDLE_TIMEOUT: u32 = 60;
/// The range of `idle_timeout`.
const IDLE_TIMEOUT_S: std::ops::RangeInclusive<u32> = 1..=4000;

/// The Elastic Load Balancing account that writes access logs in the
/// regions opened before August 2022 (AWS's "Enable access logs" page);
/// newer regions use the `logdelivery.elasticloadbalancing.amazonaws.com`
/// service principal.
const LOG_ACCOUNTS: &[(&str, &str)] = &[
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-northeast-1", "582318560864"),
    ("ap-northeast-2", "600734575887"),
    ("ap-northeast-3", "383597477331"),
    ("ap-south-1", "718504428378"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ap-southeast-3", "589379963580"),
    ("ca-central-1", "985666609251"),
    ("eu-central-1", "054676820928"),
    ("eu-north-1", "897822967062"),
    ("eu-south-1", "635631232127"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-west-3", "009996457667"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-gov-east-1", "190560391635"),
    ("us-gov-west-1", "048591011584"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
];

/// Who delivers access logs in `region`: an ELB account (IAM principal
/// `AWS`) or the log-delivery service (`Service`).
fn log_principal(region: &str) -> Json {
    match LOG_ACCOUNTS.iter().find(|(r, _)| *r == region) {
        Some((_, account)) => {
            json!({"AWS": {"Fn::Sub": format!("arn:${{AWS::Partition}}:iam::{account}:root")}})
        }
        None => json!({"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    }
}

/// Why `arn` is not an ACM certificate ARN.
fn certificate_problem(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "acm", region, account, resource]
            if !region.is_empty()
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource
                    .strip_prefix("certificate/")
                    .is_some_and(|id| !id.is_empty()) =>
        {
            None
        }
        _ => Some(format!("`{arn}` is not an ACM certificate ARN")),
    }
}

impl LoadBalancer {
    /// The certificate in `env`, if any (unchecked).
    fn certificate_in(&self, env: &str) -> Option<String> {
        self.certificate.as_ref().and_then(|c| c.get(env))
    }

    /// The domain in `env`, if any (unchecked).
    fn domain_in(&self, env: &str) -> Option<String> {
        self.domain.as_ref().and_then(|c| c.get(env))
    }

    /// The scheme and host a REST API's private integration sends to
    /// (`Fn::Sub` text): `http://` and its DNS name without a certificate;
    /// `https://` and its `domain:` with one, since API Gateway checks the
    /// certificate against the host. Without a domain then, a located
    /// error at `path` (`key` is the load balancer's resource key).
    pub fn integration_host(&self, cx: &mut Builder, key: &str, path: &str) -> Option<String> {
        match (self.certificate_in(cx.env), self.domain_in(cx.env)) {
            (None, _) => Some(format!("http://${{{}.DNSName}}", pascal(key))),
            (Some(_), Some(domain)) => Some(format!("https://{domain}")),
            (Some(_), None) => {
                cx.error_hint(
                    path,
                    format!(
                        "load balancer `{key}` serves HTTPS in `{}`, and has no `domain:` for it",
                        cx.env
                    ),
                    format!(
                        "API Gateway verifies the certificate against the host it calls: add `domain: {{{}: NAME}}` (the name the certificate covers) to `{key}`",
                        cx.env
                    ),
                );
                None
            }
        }
    }
}

/// The `state` finding: the load balancer is `active`.
fn health_state(s: &LoadBalancerState, name: &str) -> Finding {
    let expected = "active";
    let f = match s.state.as_str() {
        "active" => Finding::pass("state", format!("load balancer {name} is active")),
        "provisioning" => Finding::warn(
            "state",
            format!("load balancer {name} is still provisioning"),
        )
        .hint("wait a few minutes; run health again (or with --wait)"),
        "active_impaired" => Finding::fail(
            "state",
            format!(
                "load balancer {name} is active but impaired{}",
                s.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        )
        .hint("it cannot scale (often: too few free addresses in its subnets); see the reason and its subnets"),
        other => Finding::fail(
            "state",
            format!(
                "load balancer {name} is `{other}`{}",
                s.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        ),
    };
    f.observed(s.state.clone()).expected(expected)
}

/// The `targets` finding: every target group attached to it has each of
/// its registered targets healthy. An unhealthy target fails; targets
/// starting or leaving (`initial`, `draining`), or a group with none
/// registered, warn. On an emulator, which runs no task, target groups
/// that stay empty are `skip`.
fn health_targets(groups: &[TargetGroupHealth], name: &str, emulated: bool) -> Finding {
    let expected = "every registered target healthy";
    if emulated && groups.iter().all(|g| g.targets.is_empty()) {
        return Finding::skip(
            "targets",
            format!("the emulator runs no task, so no target registers with load balancer {name}"),
        );
    }
    if groups.is_empty() {
        return Finding::warn(
            "targets",
            format!("no target group is attached to load balancer {name}: every request gets the listener's 404"),
        )
        .observed("no target groups")
        .expected(expected)
        .hint("a service with `load_balancer:` attaches its target group; deploy it");
    }
    let mut bad = Vec::new();
    let mut waiting = Vec::new();
    let mut empty = Vec::new();
    let mut healthy = 0usize;
    for g in groups {
        if g.targets.is_empty() {
            empty.push(g.name.clone());
        }
        for t in &g.targets {
            let what = format!(
                "{} {} {}{}",
                g.name,
                t.id,
                t.state,
                t.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            match t.state.as_str() {
                "healthy" => healthy += 1,
                "initial" | "draining" => waiting.push(what),
                _ => bad.push(what),
            }
        }
    }
    let observed = format!(
        "{healthy} healthy, {} unhealthy, {} starting or draining, {} groups without targets",
        bad.len(),
        waiting.len(),
        empty.len()
    );
    let f = if !bad.is_empty() {
        Finding::fail("targets", format!("targets not healthy: {}", bad.join("; ")))
            .hint("the service's health check path answers other than 200, or its port is closed to the load balancer's security group: see the service's logs and `health` checks")
    } else if !waiting.is_empty() {
        Finding::warn(
            "targets",
            format!("targets starting or draining: {}", waiting.join("; ")),
        )
        .hint("a deployment is under way; run health again (or with --wait)")
    } else if !empty.is_empty() {
        Finding::warn(
            "targets",
            format!("target groups with no registered target: {}", empty.join(", ")),
        )
        .hint("their service runs no task (desired count 0, or its image is not pushed yet): see its `running` check")
    } else {
        Finding::pass(
            "targets",
            format!(
                "{healthy} targets healthy in {} target groups",
                groups.len()
            ),
        )
    };
    f.observed(observed).expected(expected)
}

impl Kind for LoadBalancer {
    const NAME: &'static str = "load_balancer";
    const TEMPLATE_FILE: &'static str = "load_balancer.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/load_balancer.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &[
        "dns",
        "arn",
        "full_name",
        "listener",
        "security_group",
        "vpc_link",
        "url",
    ];
    const HEALTH_CHECKS: &'static [&'static str] = &["state", "targets", "5xx"];
    const ALARM: Option<AlarmMetrics> = Some(AlarmMetrics {
        namespace: "AWS/ApplicationELB",
        dimension: "LoadBalancer",
        metrics: &[
            "HTTPCode_ELB_5XX_Count",
            "HTTPCode_ELB_4XX_Count",
            "HTTPCode_Target_5XX_Count",
            "HTTPCode_Target_4XX_Count",
            "TargetResponseTime",
            "UnHealthyHostCount",
            "HealthyHostCount",
            "RequestCount",
            "RejectedConnectionCount",
            "TargetConnectionErrorCount",
            "ActiveConnectionCount",
        ],
    });

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn graphs(&self, _cx: &Builder, key: &str) -> Vec<super::Graph> {
        use super::Graph;
        // The dimension alarms name it by.
        let name = self.alarm_dimension(key, None).unwrap_or_default();
        vec![
            Graph::of(
                "5xx",
                "AWS/ApplicationELB",
                "LoadBalancer",
                name.clone(),
                &[
                    ("HTTPCode_ELB_5XX_Count", "Sum"),
                    ("HTTPCode_Target_5XX_Count", "Sum"),
                ],
            ),
            Graph::of(
                "response time",
                "AWS/ApplicationELB",
                "LoadBalancer",
                name,
                &[("TargetResponseTime", "p95")],
            ),
        ]
    }

    /// ELBv2's rule: 32 letters, digits and `-`, not starting or ending
    /// with `-`, not starting with `internal-`.
    fn name_problem(name: &str) -> Option<String> {
        crate::limits::simple_problem("load balancer name", name, 32, "-").or_else(|| {
            if name.starts_with('-') || name.ends_with('-') {
                Some(format!(
                    "load balancer name `{name}` starts or ends with `-`"
                ))
            } else if name.starts_with("internal-") {
                Some(format!(
                    "load balancer name `{name}` starts with `internal-`, which ELB reserves"
                ))
            } else {
                None
            }
        })
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        let protected = cx.project.file.environments[cx.env].protected;
        let emulated = cx.emulated();
        let region = cx.project.file.environments[cx.env].region.clone();
        let mut parts = vec![SECURITY_GROUP, LISTENER];
        // The network and its subnets.
        let npath = join(path, "network");
        let subnets = match cx.target(&self.network, &npath, &["network"]) {
            Some(Resource::Network(net)) => {
                if self.public {
                    super::network::public_subnets(net, &self.network, cx.env)
                } else {
                    super::network::private_subnets(net, &self.network, cx.env)
                }
            }
            _ => Vec::new(),
        };
        // The certificate here, each written one checked.
        let cpath = join(path, "certificate");
        if let Some(c) = &self.certificate {
            for k in c.env_keys() {
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
                        .error(join(&cpath, k), format!("unknown environment `{k}`"))
                        .suggest(k, envs);
                    cx.diags.push(d);
                }
            }
            for (suffix, arn) in c.written() {
                if let Some(problem) = certificate_problem(&arn) {
                    cx.error_hint(
                        &format!("{cpath}{suffix}"),
                        problem,
                        "an ACM certificate in the load balancer's region: `arn:aws:acm:REGION:ACCOUNT:certificate/ID`",
                    );
                }
            }
        }
        let certificate = self.certificate_in(cx.env);
        if let Some(d) = &self.domain {
            let dpath = join(path, "domain");
            for k in d.env_keys() {
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
                        .error(join(&dpath, k), format!("unknown environment `{k}`"))
                        .suggest(k, envs);
                    cx.diags.push(d);
                }
            }
            if certificate.is_none() && self.domain_in(cx.env).is_some() {
                cx.error_hint(
                    &dpath,
                    format!("a domain without a certificate in `{}`", cx.env),
                    "`domain:` names what the HTTPS listener's certificate covers: add `certificate:` for this environment, or drop the domain here",
                );
            }
        }
        if certificate.is_some() {
            parts.push(REDIRECT);
        }
        if self.public && certificate.is_none() && protected {
            cx.error_hint(
                path,
                format!(
                    "public load balancer `{key}` without a certificate in protected environment `{}`",
                    cx.env
                ),
                format!(
                    "a public endpoint of a protected environment serves HTTPS only: add `certificate: {{{}: arn:aws:acm:REGION:ACCOUNT:certificate/ID}}`",
                    cx.env
                ),
            );
        }
        let access_logs = match &self.access_logs {
            Some(a) => cx.per_env(a, &join(path, "access_logs")).unwrap_or(false),
            None => protected,
        };
        let log_days = self.access_log_days.unwrap_or(DEFAULT_LOG_DAYS);
        if !crate::limits::LIFECYCLE_DAYS.contains(&log_days) {
            cx.error_hint(
                &join(path, "access_log_days"),
                format!("access log retention of {log_days} days is out of range"),
                crate::limits::allowed(&crate::limits::LIFECYCLE_DAYS),
            );
        }
        let idle = self.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT);
        if !IDLE_TIMEOUT_S.contains(&idle) {
            cx.error_hint(
                &join(path, "idle_timeout"),
                format!("an idle timeout of {idle} s is out of range"),
                format!("{} seconds", crate::limits::allowed(&IDLE_TIMEOUT_S)),
            );
        }
        let name = cx.name(key);
        let log_bucket = access_logs.then(|| format!("{name}-access-logs").to_lowercase());
        if let Some(b) = &log_bucket {
            parts.extend([LOG_BUCKET, LOG_POLICY]);
            if let Some(problem) = crate::limits::bucket_problem(b) {
                cx.error_hint(
                    path,
                    format!("its access-log bucket: {problem}"),
                    "shorten the load balancer's name (`name:`)",
                );
            }
        }
        if self.vpc_link {
            parts.extend([NLB, NLB_TARGETS, VPC_LINK]);
            if !emulated {
                parts.push(NLB_LISTENER);
            }
        }
        cx.claim(&l, path);
        for p in &parts {
            cx.claim(&p.of(&l), path);
        }
        let port = if certificate.is_some() { 443 } else { 80 };
        json!({
            "ids": super::ids(&l, &parts),
            "logical": l,
            "name": name,
            "public": self.public,
            "scheme": if self.public { "internet-facing" } else { "internal" },
            "vpc": pascal(&self.network),
            "subnets": subnets,
            "certificate": certificate,
            "tls_policy": TLS_POLICY,
            "port": port,
            "protected": protected,
            "idle_timeout": idle.clamp(*IDLE_TIMEOUT_S.start(), *IDLE_TIMEOUT_S.end()),
            "access_logs": log_bucket.map(|b| json!({
                "bucket": b,
                "days": log_days,
                "principal": log_principal(&region),
                "retain": cx.settings.retain_data,
            })),
            "vpc_link": self.vpc_link,
            "nlb_listener": self.vpc_link && !emulated,
        })
    }

    fn network(&self) -> Option<&str> {
        Some(&self.network)
    }

    fn alarm_dimension(&self, key: &str, part: Option<&str>) -> Option<Json> {
        match part {
            None => Some(json!({"Fn::GetAtt": [pascal(key), "LoadBalancerFullName"]})),
            Some(_) => None,
        }
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "dns" => json!({"Fn::GetAtt": [l, "DNSName"]}),
            "arn" => json!({"Ref": l}),
            "full_name" => json!({"Fn::GetAtt": [l, "LoadBalancerFullName"]}),
            "listener" => json!({"Ref": LISTENER.of(&l)}),
            "security_group" => json!({"Fn::GetAtt": [SECURITY_GROUP.of(&l), "GroupId"]}),
            "vpc_link" => {
                if !self.vpc_link {
                    cx.error_hint(
                        path,
                        format!("load balancer `{key}` has no VPC link"),
                        format!("add `vpc_link: true` to `{key}`"),
                    );
                }
                json!({"Ref": VPC_LINK.of(&l)})
            }
            "url" => match (self.certificate_in(cx.env), self.domain_in(cx.env)) {
                (Some(_), Some(domain)) => json!(format!("https://{domain}")),
                (Some(_), None) => json!({"Fn::Sub": format!("https://${{{l}.DNSName}}")}),
                (None, _) => json!({"Fn::Sub": format!("http://${{{l}.DNSName}}")}),
            },
            // Not an attribute of a load balancer (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    /// ELBv2's Describe actions take no resource narrower than `*`.
    fn health_access(
        &self,
        _a: &crate::health::access::AccessTarget<'_>,
    ) -> Vec<crate::health::access::Access> {
        use crate::health::access::Access;
        vec![
            Access::any(
                "LoadBalancersOnlyStar",
                &[
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                ],
            ),
            Access::any(super::api::METRICS_ONLY_STAR, &["cloudwatch:GetMetricData"]),
        ]
    }

    /// `state` (DescribeLoadBalancers) and `targets` (DescribeTargetGroups
    /// of it, and of its NLB with a VPC link, then DescribeTargetHealth of
    /// each). moto answers both.
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        let state = Pending::new(&["state"], async move {
            let arn = t.physical_id(&t.logical_id())?;
            let s = aws.load_balancer(arn).await?;
            Ok(vec![health_state(&s, &s.name)])
        });
        let targets = Pending::new(&["targets"], async move {
            let l = t.logical_id();
            let arn = t.physical_id(&l)?;
            let mut groups = aws.target_health(arn).await?;
            if self.vpc_link {
                match t.physical_id(&NLB.of(&l)) {
                    Ok(nlb) => groups.extend(aws.target_health(nlb).await?),
                    Err(Stop::Skip(_)) | Err(Stop::Read(_)) => {}
                }
            }
            let name = arn.rsplit('/').nth(1).unwrap_or(arn);
            Ok(vec![health_targets(&groups, name, t.emulated)])
        });
        vec![state, targets]
    }

    /// `5xx`: 5xx answers (the load balancer's own and its targets') out
    /// of `RequestCount` over the window, by the `LoadBalancer` dimension
    /// (`app/NAME/ID`, the tail of its ARN).
    fn metrics<'a>(&'a self, t: Target<'a>) -> Vec<crate::health::metrics::Watch<'a>> {
        use crate::aws::resources::{MetricQuery, Stat};
        use crate::health::metrics::{self, Series, Watch};
        let names: &'static [&'static str] = &["5xx"];
        let arn = match t.physical_id(&t.logical_id()) {
            Ok(arn) => arn,
            Err(stop) => return vec![Watch::stop(names, stop)],
        };
        let Some(full_name) = full_name(arn) else {
            return vec![Watch::stop(
                names,
                Stop::Skip(format!("`{arn}` is not a load balancer ARN")),
            )];
        };
        let q = |metric| {
            MetricQuery::new(
                "AWS/ApplicationELB",
                metric,
                "LoadBalancer",
                full_name,
                Stat::Sum,
            )
        };
        let queries = vec![
            q("HTTPCode_ELB_5XX_Count"),
            q("HTTPCode_Target_5XX_Count"),
            q("RequestCount"),
        ];
        vec![Watch::new(names, queries, move |v, w| {
            let errors = Series {
                values: v[0].values.iter().chain(&v[1].values).copied().collect(),
            };
            vec![metrics::rate(
                "5xx",
                &errors,
                &v[2],
                metrics::RateOf {
                    errors: "HTTPCode_ELB_5XX_Count + HTTPCode_Target_5XX_Count",
                    total: "RequestCount",
                    noun: "requests",
                },
                metrics::ERROR_RATE,
                w,
            )]
        })]
    }
}

/// The `LoadBalancer` metric dimension of the load balancer `arn`:
/// `app/NAME/ID`.
fn full_name(arn: &str) -> Option<&str> {
    arn.split_once(":loadbalancer/").map(|(_, tail)| tail)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, render_in};
    use super::*;
    use crate::aws::resources::TargetHealth;

    const STACK: &str = "resources:
  net:
    type: network
  lb:
    type: load_balancer
    network: net
    vpc_link: true
";

    #[test]
    fn an_internal_load_balancer_answers_404_on_http_from_the_vpc_only() {
        let t = render(STACK);
        let r = &t["Resources"];
        let lb = &r["Lb"]["Properties"];
        assert_eq!(lb["Scheme"], "internal");
        assert_eq!(lb["Type"], "application");
        assert_eq!(
            lb["Subnets"],
            json!([{"Ref": "NetPrivate1"}, {"Ref": "NetPrivate2"}])
        );
        assert_eq!(
            lb["SecurityGroups"],
            json!([{"Fn::GetAtt": ["LbSecurityGroup", "GroupId"]}])
        );
        let l = &r["LbListener"]["Properties"];
        assert_eq!(l["Protocol"], "HTTP");
        assert_eq!(l["Port"], 80);
        assert_eq!(l["DefaultActions"][0]["Type"], "fixed-response");
        assert_eq!(
            l["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"],
            "404"
        );
        assert!(r.get("LbHttpRedirect").is_none());
        let sg = &r["LbSecurityGroup"]["Properties"];
        let ingress = sg["SecurityGroupIngress"].as_array().unwrap();
        assert_eq!(ingress.len(), 1, "{ingress:?}");
        assert_eq!(ingress[0]["FromPort"], 80);
        assert_eq!(
            ingress[0]["CidrIp"],
            json!({"Fn::GetAtt": ["Net", "CidrBlock"]})
        );
        // dev is not protected: no access logs, no deletion protection.
        assert!(r.get("LbAccessLogs").is_none());
        let attrs = lb["LoadBalancerAttributes"].as_array().unwrap();
        let attr = |k: &str| {
            attrs
                .iter()
                .find(|a| a["Key"] == k)
                .map(|a| a["Value"].clone())
        };
        assert_eq!(attr("deletion_protection.enabled"), Some(json!("false")));
        assert_eq!(
            attr("routing.http.drop_invalid_header_fields.enabled"),
            Some(json!("true"))
        );
        assert_eq!(attr("access_logs.s3.enabled"), Some(json!("false")));
    }

    #[test]
    fn a_vpc_link_reaches_the_alb_through_an_internal_nlb() {
        let t = render(STACK);
        let r = &t["Resources"];
        assert_eq!(r["LbNlb"]["Properties"]["Type"], "network");
        assert_eq!(r["LbNlb"]["Properties"]["Scheme"], "internal");
        let tg = &r["LbNlbTargets"];
        assert_eq!(tg["Properties"]["TargetType"], "alb");
        assert_eq!(tg["Properties"]["Targets"][0]["Id"], json!({"Ref": "Lb"}));
        assert_eq!(tg["DependsOn"], json!(["LbListener"]));
        assert_eq!(
            r["LbNlbListener"]["Properties"]["DefaultActions"][0]["TargetGroupArn"],
            json!({"Ref": "LbNlbTargets"})
        );
        assert_eq!(
            r["LbVpcLink"]["Properties"]["TargetArns"],
            json!([{"Ref": "LbNlb"}])
        );
    }

    #[test]
    fn a_certificate_makes_an_https_listener_with_tls13_and_a_redirect() {
        let t = render(
            "resources:
  net:
    type: network
  lb:
    type: load_balancer
    network: net
    public: true
    certificate:
      dev: arn:aws:acm:us-east-1:123456789012:certificate/abc
",
        );
        let r = &t["Resources"];
        let l = &r["LbListener"]["Properties"];
        assert_eq!(l["Protocol"], "HTTPS");
        assert_eq!(l["Port"], 443);
        assert_eq!(l["SslPolicy"], TLS_POLICY);
        assert_eq!(
            l["Certificates"][0]["CertificateArn"],
            "arn:aws:acm:us-east-1:123456789012:certificate/abc"
        );
        let redirect = &r["LbHttpRedirect"]["Properties"];
        assert_eq!(redirect["Port"], 80);
        assert_eq!(redirect["DefaultActions"][0]["Type"], "redirect");
        assert_eq!(
            redirect["DefaultActions"][0]["RedirectConfig"]["Protocol"],
            "HTTPS"
        );
        let lb = &r["Lb"]["Properties"];
        assert_eq!(lb["Scheme"], "internet-facing");
        assert_eq!(
            lb["Subnets"],
            json!([{"Ref": "NetPublic1"}, {"Ref": "NetPublic2"}])
        );
        let ingress = r["LbSecurityGroup"]["Properties"]["SecurityGroupIngress"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(ingress.len(), 2);
        assert!(ingress.iter().all(|i| i["CidrIp"] == "0.0.0.0/0"));
    }

    #[test]
    fn protected_environments_log_access_to_a_bucket_elb_may_write() {
        let t = render_in("    protected: true\n", STACK);
        let r = &t["Resources"];
        let b = &r["LbAccessLogs"]["Properties"];
        assert_eq!(
            b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
                ["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
            "AES256"
        );
        assert_eq!(
            b["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"],
            90
        );
        let s = &r["LbAccessLogsPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
        // us-east-1 predates the log-delivery service principal.
        assert_eq!(
            s["Principal"],
            json!({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::127311923021:root"}})
        );
        assert_eq!(s["Action"], "s3:PutObject");
        let lb = &r["Lb"];
        assert_eq!(lb["DependsOn"], json!(["LbAccessLogsPolicy"]));
        let attrs = lb["Properties"]["LoadBalancerAttributes"]
            .as_array()
            .unwrap();
        assert!(attrs.contains(&json!({"Key": "access_logs.s3.enabled", "Value": "true"})));
        assert!(attrs.contains(&json!({"Key": "deletion_protection.enabled", "Value": "true"})));
        assert!(attrs
            .contains(&json!({"Key": "access_logs.s3.bucket", "Value": {"Ref": "LbAccessLogs"}})));
    }

    #[test]
    fn the_metric_dimension_is_the_tail_of_the_arn() {
        assert_eq!(
            full_name(
                "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/lb/50dc6c495c0c9188"
            ),
            Some("app/lb/50dc6c495c0c9188")
        );
        assert_eq!(full_name("p-lb"), None);
    }

    #[test]
    fn newer_regions_deliver_logs_through_the_service_principal() {
        assert_eq!(
            log_principal("ap-southeast-5"),
            json!({"Service": "logdelivery.elasticloadbalancing.amazonaws.com"})
        );
    }

    #[test]
    fn names_and_certificates_are_checked() {
        assert!(LoadBalancer::name_problem("app-world-lb-dev").is_none());
        assert!(LoadBalancer::name_problem("internal-lb")
            .unwrap()
            .contains("internal-"));
        assert!(
            LoadBalancer::name_problem("a-very-long-load-balancer-name-1234")
                .unwrap()
                .contains("32")
        );
        assert!(LoadBalancer::name_problem("lb_1").unwrap().contains("`_`"));
        assert!(
            certificate_problem("arn:aws:acm:us-east-1:123456789012:certificate/abc").is_none()
        );
        assert!(certificate_problem("arn:aws:iam::123456789012:server-certificate/x").is_some());
        assert!(certificate_problem("arn:aws:acm:us-east-1:1234:certificate/abc").is_some());
    }

    fn group(name: &str, states: &[&str]) -> TargetGroupHealth {
        TargetGroupHealth {
            name: name.into(),
            targets: states
                .iter()
                .enumerate()
                .map(|(i, s)| TargetHealth {
                    id: format!("10.0.0.{i}"),
                    state: s.to_string(),
                    reason: (*s != "healthy").then(|| "Target.ResponseCodeMismatch".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn targets_pass_only_when_every_registered_one_is_healthy() {
        use crate::health::Status;
        let f = health_targets(&[group("world", &["healthy", "healthy"])], "lb", false);
        assert_eq!(f.status, Status::Pass, "{f:?}");
        let f = health_targets(&[group("world", &["healthy", "unhealthy"])], "lb", false);
        assert_eq!(f.status, Status::Fail);
        assert!(f.reason.contains("ResponseCodeMismatch"), "{}", f.reason);
        let f = health_targets(&[group("world", &["initial"])], "lb", false);
        assert_eq!(f.status, Status::Warn);
        let f = health_targets(
            &[group("world", &[]), group("agents", &["healthy"])],
            "lb",
            false,
        );
        assert_eq!(f.status, Status::Warn);
        assert!(f.reason.contains("world"), "{}", f.reason);
        let f = health_targets(&[], "lb", false);
        assert_eq!(f.status, Status::Warn);
        let f = health_targets(&[group("world", &[])], "lb", true);
        assert_eq!(f.status, Status::Skip, "{f:?}");
        let f = health_targets(&[group("world", &["unhealthy"])], "lb", true);
        assert_eq!(f.status, Status::Fail);
        let s = |state: &str| LoadBalancerState {
            name: "lb".into(),
            state: state.into(),
            reason: None,
        };
        assert_eq!(health_state(&s("active"), "lb").status, Status::Pass);
        assert_eq!(health_state(&s("provisioning"), "lb").status, Status::Warn);
        assert_eq!(health_state(&s("failed"), "lb").status, Status::Fail);
    }
}
