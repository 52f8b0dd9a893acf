//! `cache`: ElastiCache Redis (a replication group) in the private subnets
//! of a `network` of the stack: TLS in transit, encrypted at rest, an auth
//! token from a generated `secret` of the stack (never in the template: a
//! dynamic reference CloudFormation resolves), replicas and automatic
//! failover per environment. Grant: `connect` (read the auth token; the
//! function is given `KEY_HOST`, `KEY_PORT`, `KEY_TLS` and
//! `KEY_AUTH_SECRET_ARN`).
//!
//! moto cannot create ElastiCache (a placeholder whose every `GetAtt`
//! fails the stack): an emulator environment must bind it to a server
//! (`environments.ENV.bind`), and validation says so.

use super::key::Encryption;
use super::{AlarmMetrics, Kind, Part, Resource};
use crate::aws::resources::{Maintenance, Resources};
use crate::health::{self, Finding, Pending, Stop, Target};
use crate::limits;
use crate::model::project::LocalServer;
use crate::model::source::join;
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// ElastiCache Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// Physical name pattern (the replication group id, at most 40).
    #[serde(default)]
    pub name: Option<String>,
    /// The `network` of the stack whose private subnets it runs in.
    pub network: String,
    /// Node type per environment, e.g. `cache.t4g.micro`.
    pub node_type: PerEnv<String>,
    /// Replicas of the primary, 0–5, per environment (default: 1 in
    /// protected environments, 0 elsewhere). With one or more, failover
    /// is automatic and the nodes spread over zones.
    #[serde(default)]
    pub replicas: Option<PerEnv<u32>>,
    /// Redis version, `MAJOR.MINOR` (default `7.1`).
    #[serde(default)]
    pub engine_version: Option<String>,
    /// The `secret` of the stack holding the auth token: generated, 16–128
    /// characters, without punctuation.
    pub auth_token: String,
    /// TLS in transit (default true; only outside protected environments
    /// may it be off, which also drops the auth token).
    #[serde(default)]
    pub tls: Option<PerEnv<bool>>,
    /// Days of daily snapshots, 0–35 (default: 7 in protected
    /// environments, 0 elsewhere).
    #[serde(default)]
    pub snapshot_retention_days: Option<PerEnv<u32>>,
    /// Encrypt at rest with a `key` of the stack (default: the AWS-managed key).
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

/// The port Redis listens on.
pub const PORT: u16 = 6379;
/// Redis versions ElastiCache offers.
const VERSIONS: &[&str] = &["6.0", "6.2", "7.0", "7.1"];
/// Node families.
const FAMILIES: &[&str] = &["t3", "t4g", "m5", "m6g", "m7g", "r5", "r6g", "r6gd", "r7g"];

const SUBNET_GROUP: Part = Part {
    name: "subnet_group",
    suffix: "SubnetGroup",
};

/// Why `node` is not an ElastiCache node type.
fn node_problem(node: &str) -> Option<(String, String)> {
    match node.split('.').collect::<Vec<_>>().as_slice() {
        ["cache", family, size] if FAMILIES.contains(family) && !size.is_empty() => None,
        ["cache", family, _] => Some((
            format!("`{node}` is not a node type ElastiCache offers"),
            match crate::diagnostics::closest(family, FAMILIES.iter().copied()) {
                Some(best) => format!("did you mean `cache.{best}.…`?"),
                None => format!("families: {}", FAMILIES.join(", ")),
            },
        )),
        _ => Some((
            format!("`{node}` is not a node type"),
            "write `cache.FAMILY.SIZE`, e.g. `cache.t4g.micro`".to_string(),
        )),
    }
}

impl Cache {
    fn version(&self) -> String {
        self.engine_version
            .clone()
            .unwrap_or_else(|| "7.1".to_string())
    }

    /// Whether it speaks TLS in `env` (unchecked).
    fn tls_in(&self, cx: &Builder, key: &str) -> bool {
        if let Some(b) = cx.binding(key) {
            return b.tls;
        }
        self.tls
            .as_ref()
            .and_then(|t| t.get(cx.env))
            .unwrap_or(true)
    }
}

fn health_group(status: &str, id: &str) -> Finding {
    let f = match status {
        "available" => {
            return Finding::pass("available", format!("replication group {id} is available"))
                .observed(status)
                .expected("available")
        }
        "modifying" | "snapshotting" => Finding::warn(
            "available",
            format!("replication group {id} serves, but is `{status}`"),
        )
        .hint("wait for it to end; run health again (or with --wait)"),
        _ => Finding::fail(
            "available",
            format!("replication group {id} is `{status}`, not available"),
        )
        .hint(format!("see its events: `aws elasticache describe-events --source-type replication-group --source-identifier {id}`")),
    };
    f.observed(status).expected("available")
}

fn health_updates(pending: &[Maintenance], id: &str) -> Finding {
    let name = "maintenance";
    let pressing: Vec<String> = pending
        .iter()
        .filter_map(|m| {
            m.forced
                .as_ref()
                .map(|d| format!("{} (apply by {d})", m.action))
        })
        .collect();
    let all = pending
        .iter()
        .map(|m| m.action.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !pressing.is_empty() {
        return Finding::warn(
            name,
            format!("critical or important service updates not applied: {}", pressing.join("; ")),
        )
        .observed(all)
        .expected("no critical or important update pending")
        .hint(format!("apply them in a window you choose: `aws elasticache batch-apply-update-action --service-update-name NAME --replication-group-ids {id}`"));
    }
    let f = if pending.is_empty() {
        Finding::pass(name, "no service update pending").observed("none")
    } else {
        Finding::pass(name, format!("only optional service updates: {all}")).observed(all)
    };
    f.expected("no critical or important update pending")
}

impl Kind for Cache {
    const NAME: &'static str = "cache";
    const TEMPLATE_FILE: &'static str = "cache.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/cache.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["endpoint", "reader_endpoint", "port", "tls"];
    const GRANT_LEVELS: &'static [&'static str] = &["connect"];
    const BINDABLE: bool = true;
    const LOCAL_SERVER: Option<LocalServer> = Some(LocalServer::Redis);
    const HEALTH_CHECKS: &'static [&'static str] = &["available", "maintenance"];
    const ALARM: Option<AlarmMetrics> = Some(AlarmMetrics {
        namespace: "AWS/ElastiCache",
        dimension: "ReplicationGroupId",
        metrics: &[
            "EngineCPUUtilization",
            "DatabaseMemoryUsagePercentage",
            "CurrConnections",
            "Evictions",
            "CacheHitRate",
            "ReplicationLag",
        ],
    });

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn graphs(&self, _cx: &Builder, key: &str) -> Vec<super::Graph> {
        use super::Graph;
        vec![Graph::of(
            "cpu and memory",
            "AWS/ElastiCache",
            "ReplicationGroupId",
            json!({"Ref": pascal(key)}),
            &[
                ("EngineCPUUtilization", "Average"),
                ("DatabaseMemoryUsagePercentage", "Average"),
            ],
        )]
    }

    fn name_problem(name: &str) -> Option<String> {
        crate::limits::hyphenated_id_problem("replication group id", name, 40)
    }

    /// DescribeReplicationGroups on the group; DescribeUpdateActions, which
    /// IAM grants only on `*`.
    fn health_access(
        &self,
        a: &crate::health::access::AccessTarget<'_>,
    ) -> Vec<crate::health::access::Access> {
        use crate::health::access::Access;
        let mut out: Vec<Access> = a
            .property(&a.logical_id(), "ReplicationGroupId")
            .map(|id| {
                Access::new(
                    "ReadCaches",
                    &["elasticache:DescribeReplicationGroups"],
                    a.arn("elasticache", &format!("replicationgroup:{id}")),
                )
            })
            .into_iter()
            .collect();
        out.push(Access::any(
            "CacheUpdatesOnlyStar",
            &["elasticache:DescribeUpdateActions"],
        ));
        out
    }

    /// A bound server: AUTH (with the binding's token) and `INFO server`.
    /// A replication group: DescribeReplicationGroups (`available`) and
    /// DescribeUpdateActions (`maintenance`).
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        vec![Pending::new(Self::HEALTH_CHECKS, async move {
            if let Some(bound) = t.binding {
                return Ok(vec![
                    health::bound_server("Redis", bound, aws.redis(bound).await, t.env),
                    Finding::skip(
                        "maintenance",
                        format!(
                            "bound to the server at {}:{}, whose maintenance this environment does not manage",
                            bound.host, bound.port
                        ),
                    ),
                ]);
            }
            if t.emulated {
                return Err(Stop::Skip(
                    "the local emulator (moto) does not create ElastiCache replication groups"
                        .into(),
                ));
            }
            let id = t.physical_id(&t.logical_id())?;
            let status = aws.replication_group(id).await?;
            let maintenance = match aws.cache_maintenance(id).await {
                Ok(pending) => health_updates(&pending, id),
                Err(e) => health::read_failed("maintenance", &e, t.env),
            };
            Ok(vec![health_group(&status, id), maintenance])
        })]
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        cx.claim(&l, path);
        // The auth token: a generated secret of the stack Redis accepts.
        let tpath = join(path, "auth_token");
        let token = match cx.target(&self.auth_token, &tpath, &["secret"]) {
            Some(Resource::Secret(s)) => {
                match &s.generate {
                    Some(g) if !limits::REDIS_TOKEN_LENGTH.contains(&g.length) || g.punctuation => cx.error_hint(
                        &tpath,
                        format!("secret `{}` cannot be a Redis auth token", self.auth_token),
                        "Redis takes 16 to 128 letters and digits: `generate: {length: 32, punctuation: false}`",
                    ),
                    Some(_) => {}
                    None => cx.error_hint(
                        &tpath,
                        format!("secret `{}` is not generated", self.auth_token),
                        "the auth token must exist when the cache is created: `generate: {length: 32, punctuation: false}`",
                    ),
                }
                Some(pascal(&self.auth_token))
            }
            _ => None,
        };
        let protected = cx.project.file.environments[cx.env].protected;
        if let Some(t) = &self.tls {
            let tls_path = join(path, "tls");
            if let Some(false) = cx.per_env(t, &tls_path) {
                if protected {
                    cx.error_hint(
                        &tls_path,
                        format!(
                            "cache `{key}` without TLS in protected environment `{}`",
                            cx.env
                        ),
                        "protected environments encrypt every connection: remove `tls: false` here",
                    );
                }
            }
        }
        if let Some(b) = cx.binding(key) {
            // An existing server stands for it here: nothing is created.
            let _ = b;
            return json!({"logical": l, "bound": true});
        }
        if cx.emulated() {
            cx.error_hint(
                path,
                format!("cache `{key}` cannot be created in emulator environment `{}`", cx.env),
                format!(
                    "moto cannot create ElastiCache; bind it to a Redis server: environments.{}.bind.{}.{key}: {{host: 127.0.0.1, port: 6379, tls: false}}",
                    cx.env, cx.stack.name
                ),
            );
        }
        let group = super::network::SECURITY_GROUP.of(&l);
        for id in [SUBNET_GROUP.of(&l), group.clone()] {
            cx.claim(&id, path);
        }
        let subnets = match cx.target(&self.network, &join(path, "network"), &["network"]) {
            Some(Resource::Network(net)) => {
                super::network::private_subnets(net, &self.network, cx.env)
            }
            _ => Vec::new(),
        };
        let npath = join(path, "node_type");
        for (suffix, node) in self.node_type.written() {
            if let Some((problem, hint)) = node_problem(&node) {
                cx.error_hint(&format!("{npath}{suffix}"), problem, hint);
            }
        }
        let node = cx.per_env(&self.node_type, &npath);
        let replicas = match &self.replicas {
            Some(_) => cx
                .ranged(
                    &self.replicas,
                    path,
                    "replicas",
                    "a replica count of",
                    &limits::CACHE_REPLICAS,
                )
                .unwrap_or(0),
            None => u32::from(protected),
        };
        let snapshots = match &self.snapshot_retention_days {
            Some(_) => cx
                .ranged(
                    &self.snapshot_retention_days,
                    path,
                    "snapshot_retention_days",
                    "a snapshot retention of",
                    &limits::CACHE_SNAPSHOT_DAYS,
                )
                .unwrap_or(0),
            None if protected => 7,
            None => 0,
        };
        let version = self.version();
        if !VERSIONS.contains(&version.as_str()) {
            cx.error_hint(
                &join(path, "engine_version"),
                format!("Redis `{version}` is not a version ElastiCache offers"),
                format!("one of {}", VERSIONS.join(", ")),
            );
        }
        let tls = self.tls_in(cx, key);
        json!({
            "ids": super::ids(&l, &[SUBNET_GROUP]),
            "logical": l,
            "bound": false,
            "name": cx.name(key),
            "description": format!("Redis of stack {}", cx.stack.name),
            "security_group": group,
            "vpc": pascal(&self.network),
            "subnets": subnets,
            "node_type": node,
            "replicas": replicas,
            "failover": replicas > 0,
            "snapshot_retention_days": snapshots,
            "engine_version": version,
            "family": format!("redis{}", version.split('.').next().unwrap_or("7")),
            "port": PORT,
            "tls": tls,
            "token": token.filter(|_| tls),
            "key": super::key::resolve(cx, &self.encryption, path),
        })
    }

    fn network(&self) -> Option<&str> {
        Some(&self.network)
    }

    fn encryption_key(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key.as_str())
    }

    fn alarm_dimension(&self, key: &str, part: Option<&str>) -> Option<Json> {
        match part {
            None => Some(json!({"Ref": pascal(key)})),
            Some(_) => None,
        }
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        let tls = self.tls_in(cx, key);
        if let Some(b) = cx.binding(key) {
            return match attr {
                "endpoint" | "reader_endpoint" => json!(b.host),
                "port" => json!(b.port.to_string()),
                "tls" => json!(tls.to_string()),
                // Not an attribute of a cache (ATTRIBUTES is checked first).
                _ => Json::Null,
            };
        }
        match attr {
            "endpoint" => json!({"Fn::GetAtt": [l, "PrimaryEndPoint.Address"]}),
            "reader_endpoint" => json!({"Fn::GetAtt": [l, "ReaderEndPoint.Address"]}),
            "port" => json!(PORT.to_string()),
            "tls" => json!(tls.to_string()),
            // Not an attribute of a cache (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn grant(
        &self,
        cx: &mut Builder,
        key: &str,
        level: &str,
        _prefixes: &[String],
        _path: &str,
    ) -> Option<Json> {
        let secret = match cx.binding(key) {
            Some(b) => match &b.secret {
                Some(s) => super::secret::arn_of(s),
                // A bound server without auth: nothing to read.
                None => return None,
            },
            None => self.token_arn(cx),
        };
        match level {
            "connect" => Some(iam::allow(
                key,
                level,
                &["secretsmanager:GetSecretValue"],
                vec![secret],
                None,
            )),
            // Not a level of a cache (GRANT_LEVELS is checked first).
            _ => None,
        }
    }

    fn key_use(&self, _key: &str) -> Option<super::KeyUse> {
        // A connect grant reads the token's secret, whose key the secret's
        // own grant brings; the cache's key is used by ElastiCache alone.
        None
    }

    fn grant_environment(&self, cx: &mut Builder, key: &str, level: &str) -> Vec<(String, Json)> {
        if level != "connect" {
            return Vec::new();
        }
        let prefix = key.to_uppercase();
        let mut env: Vec<(String, Json)> = [("endpoint", "HOST"), ("port", "PORT"), ("tls", "TLS")]
            .into_iter()
            .map(|(attr, var)| (format!("{prefix}_{var}"), self.attribute(cx, key, attr, "")))
            .collect();
        let token = match cx.binding(key) {
            Some(b) => b.secret.clone().map(Json::String),
            None => Some(self.token_value_arn(cx)),
        };
        if let Some(t) = token {
            env.push((format!("{prefix}_AUTH_SECRET_ARN"), t));
        }
        env
    }

    fn container_grant(
        &self,
        cx: &mut Builder,
        key: &str,
        level: &str,
    ) -> Option<super::ContainerGrant> {
        (level == "connect").then(|| self.container_connect(cx, key))
    }
}

impl Cache {
    /// `connect` by a container: host, port and TLS as for a function; the
    /// auth token ECS injects as `KEY_AUTH_TOKEN` (none for a bound server
    /// without one).
    pub(super) fn container_connect(&self, cx: &mut Builder, key: &str) -> super::ContainerGrant {
        let prefix = key.to_uppercase();
        let environment = [("endpoint", "HOST"), ("port", "PORT"), ("tls", "TLS")]
            .into_iter()
            .map(|(attr, var)| (format!("{prefix}_{var}"), self.attribute(cx, key, attr, "")))
            .collect();
        let token = match cx.binding(key) {
            Some(b) => b.secret.clone().map(Json::String),
            None => Some(self.token_value_arn(cx)),
        };
        super::ContainerGrant {
            environment,
            secrets: token
                .map(|t| {
                    vec![(
                        format!("{prefix}_AUTH_TOKEN"),
                        super::secret::value_from(&t, None),
                    )]
                })
                .unwrap_or_default(),
        }
    }

    /// The auth token secret's ARN for IAM.
    fn token_arn(&self, cx: &mut Builder) -> Json {
        if cx.emulated() {
            super::secret::arn_of(&cx.name(&self.auth_token))
        } else {
            json!({"Ref": pascal(&self.auth_token)})
        }
    }
    /// The auth token secret's ARN as functions read it.
    fn token_value_arn(&self, cx: &mut Builder) -> Json {
        if cx.emulated() {
            json!(cx.name(&self.auth_token))
        } else {
            json!({"Ref": pascal(&self.auth_token)})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, statement};
    use super::*;

    const STACK: &str = "resources:
  main:
    type: network
    allow:
      - {from: functions, to: cache, port: 6379}
  cache_token:
    type: secret
    generate: {length: 32, punctuation: false}
  cache:
    type: cache
    network: main
    node_type: cache.t4g.micro
    auth_token: cache_token
  worker:
    type: function
    crate: worker
    network: main
    grants:
      cache: [connect]
";

    #[test]
    fn a_cache_speaks_tls_with_a_token_that_never_enters_the_template() {
        let t = render(STACK);
        let c = &t["Resources"]["Cache"]["Properties"];
        assert_eq!(c["TransitEncryptionEnabled"], true);
        assert_eq!(c["AtRestEncryptionEnabled"], true);
        assert_eq!(
            c["AuthToken"],
            json!({"Fn::Sub": "{{resolve:secretsmanager:${CacheToken}:SecretString}}"})
        );
        // dev is not protected: no replica, no failover.
        assert_eq!(c["ReplicasPerNodeGroup"], 0);
        assert_eq!(c["AutomaticFailoverEnabled"], false);
        let env = &t["Resources"]["Worker"]["Properties"]["Environment"]["Variables"];
        assert_eq!(
            env["CACHE_HOST"],
            json!({"Fn::GetAtt": ["Cache", "PrimaryEndPoint.Address"]})
        );
        assert_eq!(env["CACHE_TLS"], "true");
        assert_eq!(env["CACHE_AUTH_SECRET_ARN"], json!({"Ref": "CacheToken"}));
        let s = statement(&t, "Worker", "CacheConnect");
        assert_eq!(s["Resource"], json!([{"Ref": "CacheToken"}]));
    }

    #[test]
    fn node_types_are_checked() {
        assert!(node_problem("cache.t4g.micro").is_none());
        assert!(node_problem("cache.t4x.micro")
            .unwrap()
            .1
            .contains("cache.t4g"));
        assert!(node_problem("t4g.micro")
            .unwrap()
            .1
            .contains("cache.FAMILY.SIZE"));
    }
}
