//! `service`: a container service on ECS Fargate, built from a crate under
//! `services/` into an image stackctl pushes to the service's own ECR
//! repository. One ECS cluster per stack (container insights on), laid out
//! by the stack's first service; per service a task definition (Fargate
//! cpu/memory per environment, the build's architecture, one container on
//! its port, plain environment plus the secrets of its `secret`,
//! `database` and `cache` grants injected by ECS, never plain values), the
//! service in the private subnets of a `network` (no public address, a
//! security group of its own that admits the port only from its load
//! balancer's group and is opened further by the network's `allow` rules),
//! rolling deployments with the circuit breaker and rollback, Application
//! Auto Scaling on CPU and memory, a log group, a task role from `grants`
//! (the same derivation as functions'), an execution role (pull its image,
//! write its logs, read exactly the secrets it injects), an ECR repository
//! (scan on push, immutable tags, lifecycle keeping the last N images), and
//! on a `load_balancer` of the stack a target group with the HTTP health
//! check and a listener rule on its listener (path patterns, priority).
//!
//! The image is the `<Key>Image` template parameter ([`super::IMAGE`]),
//! `REPOSITORY@sha256:…`, set by deploy. While it is empty (before the
//! first push) the `<Key>HasImage` condition leaves out the task
//! definition, the service and its scaling: the repository, log group,
//! roles and target group exist, so deploy can push and deploy again.
//!
//! Health: there is no shell in the image (the executable and its
//! libraries alone) and the services have no health flag, so the load
//! balancer's HTTP check on `health_check.path` judges a task (ECS replaces
//! the tasks it finds unhealthy); `health_check.command` adds a container
//! health check for an image that has a way to run one.
//!
//! moto (5.2.1) keeps ECS clusters, task definitions and services as
//! records (nothing runs), creates ECR repositories and ELBv2 target
//! groups and rules, and takes Application Auto Scaling as a placeholder;
//! its `TargetGroupFullName` fails, so the target group's full name is cut
//! from its ARN (`Ref`), which is the same on AWS.

use super::function::{apply_grants, Grant, RoleAccess};
use super::key::{self, Encryption};
use super::{AlarmMetrics, AlarmTarget, Kind, Part, Resource};
use crate::aws::resources::{EcsService, Resources};
use crate::health::{Finding, Pending, Stop, Target};
use crate::model::source::{index, join};
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// An ECS Fargate service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Physical name pattern (the ECS service, task family, repository).
    #[serde(default)]
    pub name: Option<String>,
    /// The crate under `services/` (default: the key with `_` as `-`).
    #[serde(default, rename = "crate")]
    pub crate_name: Option<String>,
    /// The `network` of the stack whose private subnets it runs in.
    pub network: String,
    /// The `load_balancer` of the stack that routes to it (none: reached
    /// only inside the network, through its `allow` rules).
    #[serde(default)]
    pub load_balancer: Option<String>,
    /// Path patterns the load balancer routes to it, 1–5 (`/worlds/*`).
    #[serde(default)]
    pub paths: Vec<String>,
    /// The listener rule's priority, 1–50000, unique on the listener
    /// (default: from the services' order on it, 100, 110, ...).
    #[serde(default)]
    pub priority: Option<u32>,
    /// The port the container listens on (default 8080; also `PORT`).
    #[serde(default)]
    pub port: Option<u16>,
    /// vCPU units per environment: 256, 512, 1024, 2048, 4096, 8192,
    /// 16384 (default 256).
    #[serde(default)]
    pub cpu: Option<PerEnv<u32>>,
    /// Memory in MiB per environment, valid for the cpu (default: the
    /// smallest the cpu takes).
    #[serde(default)]
    pub memory: Option<PerEnv<u32>>,
    /// `x86_64` (default) or `arm64`: the image's architecture.
    #[serde(default)]
    pub architecture: Option<crate::build::Arch>,
    /// Plain environment variables; values may hold `${...}` references.
    /// Secrets come from grants, injected by ECS.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// What its tasks may do to other resources of the stack.
    #[serde(default)]
    pub grants: BTreeMap<String, Grant>,
    /// Bedrock foundation models its tasks may invoke (model ids).
    #[serde(default)]
    pub bedrock_models: Vec<String>,
    /// The load balancer's check of a task, and an optional container one.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// Tasks: `{min, max}` per environment and the CPU and memory targets
    /// (percent) Application Auto Scaling keeps them at.
    #[serde(default)]
    pub scaling: Option<Scaling>,
    /// Images the repository keeps (default 10); older ones expire.
    #[serde(default)]
    pub images_kept: Option<u32>,
    /// Log retention in days (default: the `log_retention_days` setting).
    #[serde(default)]
    pub log_retention_days: Option<PerEnv<u32>>,
    /// Encrypt its repository and log group with a `key` of the stack.
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// ECS Exec (a shell through SSM) per environment; never in a
    /// protected one (default off).
    #[serde(default)]
    pub exec: Option<PerEnv<bool>>,
}

/// `health_check:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// The path the load balancer asks (default `/health`).
    #[serde(default)]
    pub path: Option<String>,
    /// Seconds between checks, 5–300 (default 15).
    #[serde(default)]
    pub interval: Option<u32>,
    /// Seconds to answer, 2–120, less than the interval (default 5).
    #[serde(default)]
    pub timeout: Option<u32>,
    /// Passes in a row before a task is healthy, 2–10 (default 2).
    #[serde(default)]
    pub healthy: Option<u32>,
    /// Failures in a row before a task is unhealthy, 2–10 (default 3).
    #[serde(default)]
    pub unhealthy: Option<u32>,
    /// HTTP codes that pass (default `200`).
    #[serde(default)]
    pub matcher: Option<String>,
    /// Seconds after start before failed checks count, 0–2147483647
    /// (default 60).
    #[serde(default)]
    pub grace_period: Option<u32>,
    /// A container health check, in ECS's form (`[CMD, /app/x, --health]`):
    /// only for an image that can run it (stackctl's images have no shell).
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

/// `scaling:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// Fewest tasks (default: 2 in protected environments, 1 elsewhere).
    #[serde(default)]
    pub min: Option<PerEnv<u32>>,
    /// Most tasks (default: 6 in protected environments, 2 elsewhere).
    #[serde(default)]
    pub max: Option<PerEnv<u32>>,
    /// Average CPU percent to keep, 10–90 (default 70).
    #[serde(default)]
    pub cpu: Option<u32>,
    /// Average memory percent to keep, 10–90 (default 75).
    #[serde(default)]
    pub memory: Option<u32>,
}

/// The port when `port:` is not set.
pub const DEFAULT_PORT: u16 = 8080;
/// The one cluster of a stack's services.
pub const CLUSTER: &str = "ServiceCluster";
/// Images a repository keeps when `images_kept:` is not set.
const DEFAULT_IMAGES_KEPT: u32 = 10;
/// The first default listener-rule priority, and the step between services.
const PRIORITY_BASE: u32 = 100;
const PRIORITY_STEP: u32 = 10;

/// Its task definition.
pub const TASK_DEFINITION: Part = Part {
    name: "task_definition",
    suffix: "TaskDefinition",
};
/// Its task role (what the code may do).
pub const TASK_ROLE: Part = Part {
    name: "task_role",
    suffix: "TaskRole",
};
/// Its execution role (what ECS does to start it).
pub const EXECUTION_ROLE: Part = Part {
    name: "execution_role",
    suffix: "ExecutionRole",
};
/// Its image repository.
pub const REPOSITORY: Part = Part {
    name: "repository",
    suffix: "Repository",
};
/// Its log group.
pub const LOG_GROUP: Part = Part {
    name: "log_group",
    suffix: "LogGroup",
};
/// Its target group on the load balancer.
pub const TARGET_GROUP: Part = Part {
    name: "target_group",
    suffix: "TargetGroup",
};
/// Its rule on the load balancer's listener.
pub const LISTENER_RULE: Part = Part {
    name: "listener_rule",
    suffix: "ListenerRule",
};
const SCALING_TARGET: Part = Part {
    name: "scaling_target",
    suffix: "ScalingTarget",
};
const CPU_SCALING: Part = Part {
    name: "cpu_scaling",
    suffix: "CpuScaling",
};
const MEMORY_SCALING: Part = Part {
    name: "memory_scaling",
    suffix: "MemoryScaling",
};

/// The logical ids of a load balancer `lb` that services attach to (the
/// `load_balancer` kind lays them out).
pub fn listener_of(lb: &str) -> String {
    format!("{}Listener", pascal(lb))
}
/// The security group of load balancer `lb`.
pub fn lb_security_group(lb: &str) -> String {
    super::network::SECURITY_GROUP.of(&pascal(lb))
}

/// The memory (MiB) Fargate takes with `cpu` units, or `None` for a cpu
/// it does not offer (AWS's table of task sizes).
pub fn fargate_memory(cpu: u32) -> Option<Vec<u32>> {
    let range = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).collect();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => return None,
    })
}

/// The YAML path suffix of the value `v` takes in `env` (`.prod`,
/// `.default`, or none for a single value).
fn written_for<T: Clone>(v: &PerEnv<T>, env: &str) -> String {
    let written = v.written();
    [format!(".{env}"), ".default".to_string()]
        .into_iter()
        .find(|s| written.iter().any(|(w, _)| w == s))
        .unwrap_or_default()
}

/// The cpu values Fargate offers.
const FARGATE_CPUS: &[u32] = &[256, 512, 1024, 2048, 4096, 8192, 16384];

/// Why `cpu`/`memory` is not a Fargate task size, with a hint.
pub fn size_problem(cpu: u32, memory: u32) -> Option<(String, String)> {
    let cpus: Vec<String> = FARGATE_CPUS.iter().map(u32::to_string).collect();
    let Some(mems) = fargate_memory(cpu) else {
        return Some((
            format!("{cpu} cpu units is not a Fargate task size"),
            format!("cpu is one of {}", cpus.join(", ")),
        ));
    };
    if mems.contains(&memory) {
        return None;
    }
    let listed = if mems.len() > 8 {
        format!(
            "{} to {} in steps of {}",
            mems[0],
            mems[mems.len() - 1],
            mems[1] - mems[0]
        )
    } else {
        mems.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fits: Vec<String> = FARGATE_CPUS
        .iter()
        .filter(|c| fargate_memory(**c).is_some_and(|m| m.contains(&memory)))
        .map(u32::to_string)
        .collect();
    let other = if fits.is_empty() {
        String::new()
    } else {
        format!("; {memory} MiB goes with cpu {}", fits.join(" or "))
    };
    Some((
        format!("{memory} MiB of memory does not go with {cpu} cpu units on Fargate"),
        format!("with cpu {cpu}, memory is {listed}{other}"),
    ))
}

/// A target group's name: at most 32 letters, digits and `-`, from the
/// service's name (shortened with a hash of the whole when longer).
fn target_group_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let clean = clean.trim_matches('-').to_string();
    if clean.len() <= 32 {
        return clean;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let keep = 32 - hash.len() - 1;
    format!("{}-{hash}", clean[..keep].trim_end_matches('-'))
}

/// An ECR repository's name: the service's name in lower case.
pub fn repository_name(name: &str) -> String {
    name.to_lowercase()
}

/// Why `name` cannot be an ECS service name.
fn ecs_name_problem(name: &str) -> Option<String> {
    crate::limits::simple_problem("service name", name, 255, "-_")
}

/// Why a path pattern is not one a listener rule takes.
fn path_problem(p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return Some(format!("path pattern `{p}` does not start with `/`"));
    }
    if p.len() > 128 {
        return Some(format!("path pattern `{p}` is longer than 128 characters"));
    }
    let bad = p
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_-.$/~\"'@:+*?&".contains(*c)));
    bad.map(|c| format!("path pattern `{p}` holds `{c}`, which a listener rule refuses"))
}

impl Service {
    fn crate_of<'a>(&'a self, key: &'a str) -> Cow<'a, str> {
        match &self.crate_name {
            Some(c) => Cow::Borrowed(c),
            None => Cow::Owned(key.replace('_', "-")),
        }
    }

    fn port(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }
}

/// Every service is built from `services/CRATE`, which must be a crate.
fn check_crate(cx: &mut Builder, key: &str, s: &Service, path: &str) {
    let name = s.crate_of(key).into_owned();
    let dir = cx.project.root.join("services");
    if dir.join(&name).join("Cargo.toml").is_file() {
        return;
    }
    let mut existing: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("Cargo.toml").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    existing.sort();
    let at = if s.crate_name.is_some() {
        join(path, "crate")
    } else {
        path.to_string()
    };
    let hint = match crate::diagnostics::closest(&name, existing.iter().map(String::as_str)) {
        Some(best) => format!("did you mean `crate: {best}`?"),
        None => format!(
            "create the crate services/{name} (with a binary named `{name}`), or set `crate:` to an existing one"
        ),
    };
    cx.error_hint(
        &at,
        format!("service `{key}` has no crate at services/{name}"),
        hint,
    );
}

/// The listener-rule priority of each service of `stack` on load balancer
/// `lb`: its own `priority:`, else the next free default in key order.
fn priorities(stack: &crate::model::Stack, lb: &str) -> BTreeMap<String, u32> {
    let on: Vec<(&String, &Service)> = stack
        .resources
        .iter()
        .filter_map(|(k, r)| match r {
            Resource::Service(s) if s.load_balancer.as_deref() == Some(lb) => Some((k, s)),
            _ => None,
        })
        .collect();
    let taken: Vec<u32> = on.iter().filter_map(|(_, s)| s.priority).collect();
    let mut next = PRIORITY_BASE;
    let mut out = BTreeMap::new();
    for (k, s) in on {
        let p = match s.priority {
            Some(p) => p,
            None => {
                while taken.contains(&next) {
                    next += PRIORITY_STEP;
                }
                let p = next;
                next += PRIORITY_STEP;
                p
            }
        };
        out.insert(k.clone(), p);
    }
    out
}

impl Kind for Service {
    const NAME: &'static str = "service";
    const TEMPLATE_FILE: &'static str = "service.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/service.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &[
        "name",
        "cluster",
        "target_group_full_name",
        "repository_uri",
        "log_group",
    ];
    const HEALTH_CHECKS: &'static [&'static str] = &["running", "deployment"];
    const ALARM: Option<AlarmMetrics> = Some(AlarmMetrics {
        namespace: "AWS/ECS",
        dimension: "ServiceName",
        metrics: &["CPUUtilization", "MemoryUtilization", "RunningTaskCount"],
    });

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn graphs(&self, cx: &Builder, key: &str) -> Vec<super::Graph> {
        // The name is set, not read from the service, which waits for its image.
        vec![super::Graph {
            title: "cpu and memory",
            namespace: "AWS/ECS",
            dimensions: vec![
                ("ClusterName", json!({"Ref": CLUSTER})),
                ("ServiceName", json!(cx.name(key))),
            ],
            metrics: &[
                ("CPUUtilization", "Average"),
                ("MemoryUtilization", "Average"),
            ],
        }]
    }

    // The target group's name is shortened to fit; the repository's is
    // this in lower case. ECS takes 255.
    fn name_problem(name: &str) -> Option<String> {
        ecs_name_problem(name)
    }

    fn image_crate<'a>(&'a self, key: &'a str) -> Option<Cow<'a, str>> {
        Some(self.crate_of(key))
    }

    fn load_balancer(&self) -> Option<&str> {
        self.load_balancer.as_deref()
    }

    fn network(&self) -> Option<&str> {
        Some(&self.network)
    }

    fn encryption_key(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key.as_str())
    }

    /// ECS names a service by cluster and service; its task count is a
    /// Container Insights metric.
    fn alarm_target(
        &self,
        cx: &mut Builder,
        key: &str,
        part: Option<&str>,
        metric: &str,
    ) -> Option<AlarmTarget> {
        // The name is set, not read from the service, which waits for its image.
        let service = part.is_none().then(|| json!(cx.name(key)))?;
        Some(AlarmTarget {
            namespace: if metric == "RunningTaskCount" {
                "ECS/ContainerInsights"
            } else {
                "AWS/ECS"
            },
            dimensions: vec![
                ("ClusterName".to_string(), json!({"Ref": CLUSTER})),
                ("ServiceName".to_string(), service),
            ],
        })
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, path: &str) -> Json {
        let l = pascal(key);
        match attr {
            // Set, not read from the service, which waits for its image.
            "name" => json!(cx.name(key)),
            "cluster" => json!({"Ref": CLUSTER}),
            // `arn:…:targetgroup/NAME/ID` → `targetgroup/NAME/ID`, as
            // `TargetGroupFullName` gives it (which moto cannot).
            "target_group_full_name" if self.load_balancer.is_none() => {
                cx.error_hint(
                    path,
                    format!("service `{key}` has no target group: it is on no load balancer"),
                    "add `load_balancer: KEY` to it, or name another attribute",
                );
                Json::Null
            }
            "target_group_full_name" => {
                json!({"Fn::Select": [5, {"Fn::Split": [":", {"Ref": TARGET_GROUP.of(&l)}]}]})
            }
            "repository_uri" => json!({"Fn::GetAtt": [REPOSITORY.of(&l), "RepositoryUri"]}),
            "log_group" => json!(format!("/ecs/{}", cx.name(key))),
            // Not an attribute of a service (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let s = self;
        let l = pascal(key);
        let stack = cx.stack;
        let env = cx.env;
        let protected = cx.project.file.environments[env].protected;
        // The stack's first service lays out the one cluster.
        let first = stack
            .resources
            .iter()
            .find(|(_, r)| matches!(r, Resource::Service(_)))
            .map(|(k, _)| k.as_str())
            == Some(key);
        if first {
            cx.claim(CLUSTER, path);
        }
        let mut parts = vec![
            TASK_DEFINITION,
            TASK_ROLE,
            EXECUTION_ROLE,
            REPOSITORY,
            LOG_GROUP,
            SCALING_TARGET,
            CPU_SCALING,
            MEMORY_SCALING,
        ];
        if s.load_balancer.is_some() {
            parts.extend([TARGET_GROUP, LISTENER_RULE]);
        }
        cx.claim(&l, path);
        for p in &parts {
            cx.claim(&p.of(&l), path);
        }
        let group = super::network::SECURITY_GROUP.of(&l);
        cx.claim(&group, path);
        check_crate(cx, key, s, path);
        let name = cx.name(key);

        // The network.
        let npath = join(path, "network");
        let subnets = match cx.target(&s.network, &npath, &["network"]) {
            Some(Resource::Network(net)) => super::network::private_subnets(net, &s.network, env),
            _ => Vec::new(),
        };
        let port = s.port();
        if port == 0 {
            cx.error_hint(
                &join(path, "port"),
                "port 0 is not a TCP port",
                "the port the container listens on, e.g. `port: 8080`",
            );
        }

        // The load balancer: a target group and a rule on its listener.
        let load_balancer = s.load_balancer.as_ref().and_then(|lb| {
            let lpath = join(path, "load_balancer");
            cx.target(lb, &lpath, &["load_balancer"])?;
            if let Some(other) = stack.resources.get(lb).and_then(Resource::network) {
                if other != s.network {
                    cx.error_hint(
                        &lpath,
                        format!("load balancer `{lb}` is on network `{other}`, and this service on `{}`", s.network),
                        format!("put both on one network: `network: {other}`"),
                    );
                }
            }
            Some(lb.clone())
        });
        let ppath = join(path, "paths");
        match (&s.load_balancer, s.paths.len()) {
            (Some(_), 0) => cx.error_hint(
                path,
                format!("service `{key}` is on a load balancer but lists no `paths:`"),
                "add the path patterns the load balancer routes to it, e.g. `paths: [/worlds, /worlds/*]`",
            ),
            (Some(_), n) if n > 5 => cx.error_hint(
                &ppath,
                format!("{n} path patterns; a listener rule takes at most 5"),
                "use wildcards (`/worlds*`) to cover more paths with fewer patterns",
            ),
            (None, n) if n > 0 => cx.error_hint(
                &ppath,
                "`paths:` without a `load_balancer:` to route them",
                "add `load_balancer: KEY` (a load_balancer of the stack), or remove `paths:`",
            ),
            _ => {}
        }
        for (i, p) in s.paths.iter().enumerate() {
            if let Some(problem) = path_problem(p) {
                cx.error_hint(&index(&ppath, i), problem, "e.g. `/worlds/*`");
            }
        }
        let priority = load_balancer.as_ref().map(|lb| {
            let all = priorities(stack, lb);
            let mine = all.get(key).copied().unwrap_or(PRIORITY_BASE);
            let rpath = join(path, "priority");
            if !(1..=50_000).contains(&mine) {
                cx.error_hint(
                    &rpath,
                    format!("priority {mine} is out of range"),
                    "a listener rule's priority is 1 to 50000",
                );
            }
            if let Some((other, _)) = all.iter().find(|(k, p)| **p == mine && k.as_str() != key) {
                cx.error_hint(
                    if s.priority.is_some() { rpath.as_str() } else { path },
                    format!("service `{key}` and service `{other}` both take priority {mine} on load balancer `{lb}`"),
                    "priorities are unique on a listener: set another `priority:` on one of them",
                );
            }
            mine
        });
        let hc = s.health_check.clone().unwrap_or_default();
        let hpath = join(path, "health_check");
        let check = |cx: &mut Builder,
                     v: Option<u32>,
                     field: &str,
                     def: u32,
                     range: std::ops::RangeInclusive<u32>| {
            let n = v.unwrap_or(def);
            if !range.contains(&n) {
                cx.error_hint(
                    &join(&hpath, field),
                    format!("health check `{field}` of {n} is out of range"),
                    crate::limits::allowed(&range),
                );
            }
            n
        };
        let interval = check(cx, hc.interval, "interval", 15, 5..=300);
        let timeout = check(cx, hc.timeout, "timeout", 5, 2..=120);
        if timeout >= interval {
            cx.error_hint(
                &join(&hpath, "timeout"),
                format!("a health check timeout of {timeout} s is not shorter than its interval of {interval} s"),
                "the load balancer needs the answer before the next check",
            );
        }
        let healthy = check(cx, hc.healthy, "healthy", 2, 2..=10);
        let unhealthy = check(cx, hc.unhealthy, "unhealthy", 3, 2..=10);
        let grace = check(cx, hc.grace_period, "grace_period", 60, 0..=2_147_483_647);
        let health_path = hc.path.clone().unwrap_or_else(|| "/health".to_string());
        if !health_path.starts_with('/') {
            cx.error_hint(
                &join(&hpath, "path"),
                format!("health check path `{health_path}` does not start with `/`"),
                "e.g. `/health`",
            );
        }
        let matcher = hc.matcher.clone().unwrap_or_else(|| "200".to_string());
        let matcher_ok = matcher
            .split([',', '-'])
            .all(|c| c.parse::<u16>().is_ok_and(|n| (200..=499).contains(&n)));
        if !matcher_ok {
            cx.error_hint(
                &join(&hpath, "matcher"),
                format!("`{matcher}` is not an HTTP code matcher"),
                "codes 200–499: `200`, `200,204` or `200-299`",
            );
        }
        let command = hc.command.clone().filter(|c| !c.is_empty());
        if let Some(c) = &command {
            if !matches!(c[0].as_str(), "CMD" | "CMD-SHELL") {
                cx.error_hint(
                    &join(&hpath, "command"),
                    format!("a container health check starts with `CMD` or `CMD-SHELL`, not `{}`", c[0]),
                    "e.g. `[CMD, /app/NAME, --health]` (stackctl's images have no shell for CMD-SHELL)",
                );
            }
        }

        // Task size.
        let cpath = join(path, "cpu");
        let cpu = match &s.cpu {
            Some(c) => {
                for (suffix, v) in c.written() {
                    if fargate_memory(v).is_none() {
                        let (problem, hint) = size_problem(v, 0).unwrap_or_default();
                        cx.error_hint(&format!("{cpath}{suffix}"), problem, hint);
                    }
                }
                cx.per_env(c, &cpath).unwrap_or(256)
            }
            None => 256,
        };
        let mpath = join(path, "memory");
        let memory = match &s.memory {
            Some(m) => cx.per_env(m, &mpath),
            None => fargate_memory(cpu).map(|m| m[0]),
        };
        if let (Some(memory), true) = (memory, fargate_memory(cpu).is_some()) {
            if let Some((problem, hint)) = size_problem(cpu, memory) {
                // At the value written for this environment.
                let at = match (&s.memory, &s.cpu) {
                    (Some(m), _) => format!("{mpath}{}", written_for(m, env)),
                    (None, Some(c)) => format!("{cpath}{}", written_for(c, env)),
                    (None, None) => path.to_string(),
                };
                cx.error_hint(&at, format!("{problem} (environment `{env}`)"), hint);
            }
        }
        let memory = memory.unwrap_or(512);

        // Scaling.
        let sc = s.scaling.clone().unwrap_or_default();
        let spath = join(path, "scaling");
        let min = cx
            .ranged(&sc.min, &spath, "min", "a minimum of", &(0..=1000))
            .unwrap_or(if protected { 2 } else { 1 });
        let max = cx
            .ranged(&sc.max, &spath, "max", "a maximum of", &(1..=1000))
            .unwrap_or(if protected { 6 } else { 2 }.max(min));
        if min > max {
            cx.error_hint(
                &join(&spath, "min"),
                format!("scaling `min` {min} is above `max` {max} in environment `{env}`"),
                format!("lower `min` to {max} or less, or raise `max` to {min} or more"),
            );
        }
        let targets = [("cpu", sc.cpu, 70), ("memory", sc.memory, 75)].map(|(f, v, d)| {
            let n = v.unwrap_or(d);
            if !(10..=90).contains(&n) {
                cx.error_hint(
                    &join(&spath, f),
                    format!("a {f} target of {n}% is out of range"),
                    "10 to 90 percent",
                );
            }
            n
        });

        // Images kept, retention, exec.
        let kept = s.images_kept.unwrap_or(DEFAULT_IMAGES_KEPT);
        if !(1..=1000).contains(&kept) {
            cx.error_hint(
                &join(path, "images_kept"),
                format!("keeping {kept} images is out of range"),
                "1 to 1000 (the repository's lifecycle rule expires older ones)",
            );
        }
        let retention = match &s.log_retention_days {
            Some(r) => {
                let rp = join(path, "log_retention_days");
                cx.check_retention(r, &rp);
                cx.per_env(r, &rp)
            }
            None => Some(cx.settings.log_retention_days),
        };
        let exec = match &s.exec {
            Some(e) => {
                let epath = join(path, "exec");
                let on = cx.per_env(e, &epath).unwrap_or(false);
                if on && protected {
                    cx.error_hint(
                        &epath,
                        format!("ECS Exec on in protected environment `{env}`"),
                        "a shell into production tasks bypasses every review; keep `exec:` to other environments",
                    );
                }
                on && !protected
            }
            None => false,
        };

        // The container's environment, then the grants.
        let mut environment = Map::new();
        environment.insert("PORT".to_string(), json!(port.to_string()));
        for (k, v) in &s.environment {
            let vpath = join(&join(path, "environment"), k);
            let valid = k
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                cx.error_hint(
                    &vpath,
                    format!("environment variable name `{k}` is invalid"),
                    "a letter or `_`, then letters, digits and `_`",
                );
            } else if k == "PORT" {
                cx.error_hint(
                    &vpath,
                    "`PORT` is set from `port:`",
                    "remove it from `environment:`; set `port:` instead",
                );
            }
            environment.insert(k.clone(), cx.value(v, &vpath));
        }
        let own_key = key::resolve(cx, &s.encryption, path);
        let log_group_name = format!("/ecs/{name}");
        let mut task = RoleAccess::default();
        let mut execution = RoleAccess::default();
        let granted = apply_grants(
            cx,
            key,
            "service",
            &s.grants,
            Some(&s.network),
            &mut environment,
            &mut task,
            Some(&mut execution),
            path,
        );
        // Bedrock: exactly the models named (shared with functions).
        let bedrock = iam::service_grants(cx, "service", &s.grants, path);
        task.statements.extend(bedrock.statements);
        task.statements.extend(iam::bedrock_invoke(
            cx,
            bedrock.bedrock_invoke,
            false,
            &s.bedrock_models,
            path,
        ));
        if exec {
            // ECS Exec's channel through SSM; these actions take no resource.
            task.statements.push(json!({
                "Sid": "ExecChannel",
                "Effect": "Allow",
                "Action": [
                    "ssmmessages:CreateControlChannel",
                    "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel",
                    "ssmmessages:OpenDataChannel",
                ],
                "Resource": "*",
            }));
        }
        // The execution role: pull its image, write its log group, read
        // the secrets it injects (their statements are already there).
        let repo = REPOSITORY.of(&l);
        execution.statements.splice(
            0..0,
            [
                json!({
                    "Sid": "PullOwnImage",
                    "Effect": "Allow",
                    "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                    "Resource": [{"Fn::GetAtt": [repo, "Arn"]}],
                }),
                json!({
                    "Sid": "RegistryLogin",
                    "Effect": "Allow",
                    "Action": ["ecr:GetAuthorizationToken"],
                    "Resource": "*",
                }),
                json!({
                    "Sid": "WriteOwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [iam::sub(format!(
                        "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{log_group_name}:*"
                    ))],
                }),
            ],
        );
        // A repository encrypted with the key needs no key use to pull
        // from: ECR decrypts through the grant it made on the key when the
        // repository was created.
        let (task_statements, task_keys) = task.finish();
        let (execution_statements, execution_keys) = execution.finish();
        let mut secrets = granted.secrets;
        secrets.sort_by(|a, b| a.0.cmp(&b.0));
        let lifecycle = json!({
            "rules": [{
                "rulePriority": 1,
                "description": format!("Keep the last {kept} images"),
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": kept},
                "action": {"type": "expire"},
            }]
        })
        .to_string();
        let retain = protected;
        let arch = s.architecture.unwrap_or_default();
        let mut out = json!({
            "ids": super::ids(&l, &parts),
            "logical": l,
            "cluster": CLUSTER,
            "first": first,
            "cluster_name": crate::names::stack_name(cx.project, &stack.name, env),
            "name": name,
            "container": s.crate_of(key),
            "image_param": super::IMAGE.of(&l),
            "has_image": super::HAS_IMAGE.of(&l),
            "repository_name": repository_name(&name),
            "images_kept": kept,
            "lifecycle": lifecycle,
            "retain": super::DeletionPolicy::retaining(retain),
            "empty_on_delete": !retain,
            "key": own_key,
            "task_key_tags": task_keys.iter().map(|k| key::user_tag(k)).collect::<Vec<_>>(),
            "execution_key_tags": execution_keys.iter().map(|k| key::user_tag(k)).collect::<Vec<_>>(),
            "task_statements": task_statements,
            "execution_statements": execution_statements,
            "log_group_name": log_group_name,
            "log_retention_days": retention,
            "cpu": cpu.to_string(),
            "memory": memory.to_string(),
            "architecture": match arch {
                crate::build::Arch::X86_64 => "X86_64",
                crate::build::Arch::Arm64 => "ARM64",
            },
            "port": port,
            // Sorted by name: one order for every render.
            "environment": environment
                .into_iter()
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .map(|(n, v)| json!({"Name": n, "Value": v}))
                .collect::<Vec<_>>(),
            "secrets": secrets.into_iter().map(|(n, v)| json!({"Name": n, "ValueFrom": v})).collect::<Vec<_>>(),
            "command": command,
        });
        let more = json!({
            "vpc": pascal(&s.network),
            "subnets": subnets,
            "security_group": group,
            "bound_ports": granted.bound_ports,
            "load_balancer": load_balancer.map(|lb| json!({
                "listener": listener_of(&lb),
                "security_group": lb_security_group(&lb),
                "key": lb,
            })),
            "target_group_name": target_group_name(&name),
            "paths": s.paths,
            "priority": priority,
            "health_path": health_path,
            "interval": interval,
            "timeout": timeout,
            "healthy": healthy,
            "unhealthy": unhealthy,
            "matcher": matcher,
            "grace_period": grace,
            "min": min,
            "max": max.max(min),
            "cpu_target": targets[0],
            "memory_target": targets[1],
            "exec": exec,
            "protected": protected,
        });
        if let (Json::Object(o), Json::Object(m)) = (&mut out, more) {
            o.extend(m);
        }
        out
    }

    /// DescribeServices on its service.
    fn health_access(
        &self,
        a: &crate::health::access::AccessTarget<'_>,
    ) -> Vec<crate::health::access::Access> {
        use crate::health::access::Access;
        let logical = a.logical_id();
        let Some(service) = a.property(&logical, "ServiceName") else {
            return Vec::new();
        };
        let cluster = a
            .property(CLUSTER, "ClusterName")
            .unwrap_or_else(|| "*".to_string());
        vec![Access::new(
            "ReadServices",
            &["ecs:DescribeServices"],
            a.arn("ecs", &format!("service/{cluster}/{service}")),
        )]
    }

    /// One DescribeServices, judged two ways: `running` (running = desired)
    /// and `deployment` (the PRIMARY deployment completed with the task
    /// definition of the deployed stack).
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        vec![Pending::new(Self::HEALTH_CHECKS, async move {
            if t.emulated {
                return Err(Stop::Skip(
                    "the local emulator (moto) keeps ECS services as records: no task runs and no deployment rolls out".into(),
                ));
            }
            let logical = t.logical_id();
            if t.deployed
                .parameters
                .get(&super::IMAGE.of(&logical))
                .is_some_and(String::is_empty)
            {
                return Err(Stop::Skip(format!(
                    "no image pushed yet, so no service runs (deploy pushes it: `stackctl deploy --env {}`)",
                    t.env
                )));
            }
            let service = t.physical_id(&logical)?;
            let cluster = t.physical_id(CLUSTER)?;
            let task_definition = t.physical_id(&TASK_DEFINITION.of(&logical))?;
            let s = aws.ecs_service(cluster, service).await?;
            Ok(vec![
                health_running(&s, cluster, service),
                health_deployment(&s, task_definition, t.env),
            ])
        })]
    }
}

/// `running`: as many tasks run as the service wants (and it wants some).
fn health_running(s: &EcsService, cluster: &str, service: &str) -> Finding {
    let observed = format!(
        "running {}, desired {}, pending {}",
        s.running, s.desired, s.pending
    );
    let expected = "running = desired, desired > 0";
    let f = if s.status != "ACTIVE" {
        Finding::fail("running", format!("the service is {}", s.status))
    } else if s.desired == 0 {
        Finding::warn("running", "the service wants no task (desired count 0)").hint(format!(
            "scaling set it to 0, or someone did: `aws ecs describe-services --cluster {cluster} --services {service}`"
        ))
    } else if s.running == s.desired {
        Finding::pass(
            "running",
            format!("{} of {} tasks run", s.running, s.desired),
        )
    } else {
        Finding::fail(
            "running",
            format!("{} of {} tasks run", s.running, s.desired),
        )
        .hint(format!(
            "see why tasks stop: `aws ecs describe-tasks --cluster {cluster} --tasks $(aws ecs list-tasks --cluster {cluster} --service-name {service} --desired-status STOPPED --query 'taskArns[0]' --output text)` (stoppedReason), and the service's events"
        ))
    };
    f.observed(observed).expected(expected)
}

/// The family:revision of a task definition ARN (or the text itself).
fn revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `deployment`: the PRIMARY deployment runs the task definition the
/// stack deployed and has COMPLETED. A circuit-breaker rollback leaves an
/// older task definition PRIMARY (or the rollout FAILED): a failure.
fn health_deployment(s: &EcsService, deployed: &str, env: &str) -> Finding {
    let want = revision(deployed);
    let expected = format!("PRIMARY deployment of {want} COMPLETED");
    let Some(p) = s.deployments.iter().find(|d| d.status == "PRIMARY") else {
        return Finding::unknown("deployment", "the service lists no PRIMARY deployment")
            .expected(expected);
    };
    let got = revision(&p.task_definition);
    let state = p.rollout_state.as_deref().unwrap_or("(none)");
    let observed = format!("PRIMARY {got} {state}");
    let why = p
        .rollout_reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let f = if got != want {
        Finding::fail(
            "deployment",
            format!("the service runs {got}, not {want} that the stack deployed (the circuit breaker rolled it back, or it was changed by hand){why}"),
        )
        .hint(format!(
            "read why the new tasks failed (the service's events, the stopped tasks' stoppedReason, its log group), fix it, then `stackctl deploy --env {env}`"
        ))
    } else {
        match state {
            "COMPLETED" => Finding::pass("deployment", format!("{got} deployed and settled")),
            "FAILED" => Finding::fail("deployment", format!("the rollout of {got} failed{why}"))
                .hint(format!("the circuit breaker stopped it; read the service's events and stopped tasks, fix, then `stackctl deploy --env {env}`")),
            "IN_PROGRESS" => Finding::unknown("deployment", format!("{got} is still rolling out{why}"))
                .hint("run health again in a few minutes (or with --wait)"),
            _ => Finding::unknown("deployment", format!("rollout state `{state}`{why}")),
        }
    };
    f.observed(observed).expected(expected)
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
