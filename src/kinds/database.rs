//! `database`: RDS PostgreSQL in the private subnets of a `network` of the
//! stack: encrypted, TLS only, never public, its master password made and
//! rotated by RDS in Secrets Manager (`ManageMasterUserPassword`), so the
//! password never passes through a template, parameter, output,
//! environment variable or log. Backups are kept 7 days (14 in protected
//! environments), which also get Multi-AZ, deletion protection and a final
//! snapshot on delete. Grant: `connect` (read the master secret; the
//! function is given `KEY_HOST`, `KEY_PORT`, `KEY_NAME` and
//! `KEY_SECRET_ARN`).
//!
//! Locally (moto), RDS keeps a record without a database behind it and
//! drops `ManageMasterUserPassword`: in an emulator environment the
//! master secret is made through the Secrets Manager API instead (as RDS
//! makes it: JSON with `username` and `password`).

use super::key::{self, Encryption};
use super::secret::{Generate, LocalSecret};
use super::{AlarmMetrics, Kind, Part, Resource};
use crate::aws::resources::{DbInstanceState, Maintenance, Resources};
use crate::health::{self, Finding, Pending, Stop, Target};
use crate::limits;
use crate::migrations::{self, Set};
use crate::model::project::LocalServer;
use crate::model::source::join;
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// RDS PostgreSQL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// Physical name pattern (the DB instance identifier).
    #[serde(default)]
    pub name: Option<String>,
    /// The `network` of the stack whose private subnets it runs in.
    pub network: String,
    /// PostgreSQL version, `MAJOR.MINOR` (`16.8`): RDS creates no new
    /// instance from a bare major.
    pub engine_version: String,
    /// Instance class per environment, e.g. `db.t4g.micro`.
    pub instance_class: PerEnv<String>,
    /// Storage in GiB, 20–65536, per environment (default 20).
    #[serde(default)]
    pub storage_gb: Option<PerEnv<u32>>,
    /// Storage may grow to this many GiB (per environment; default: fixed).
    #[serde(default)]
    pub max_storage_gb: Option<PerEnv<u32>>,
    /// The database created in it (default: the key).
    #[serde(default)]
    pub database: Option<String>,
    /// The master user's name (default `app`).
    #[serde(default)]
    pub username: Option<String>,
    /// A standby in another zone (default: in protected environments).
    #[serde(default)]
    pub multi_az: Option<PerEnv<bool>>,
    /// Days of automated backups, 1–35 (default 7; 14 in protected
    /// environments).
    #[serde(default)]
    pub backup_retention_days: Option<PerEnv<u32>>,
    /// Encrypt storage and the master secret with a `key` of the stack
    /// (default: the AWS-managed keys).
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

/// The port it listens on.
pub const PORT: u16 = 5432;
/// PostgreSQL majors RDS offers.
const MAJORS: &[u32] = &[13, 14, 15, 16, 17, 18];
/// Instance families RDS PostgreSQL runs on.
const FAMILIES: &[&str] = &[
    "t3", "t4g", "m5", "m5d", "m6g", "m6gd", "m6i", "m6id", "m7g", "m7i", "r5", "r5b", "r5d",
    "r6g", "r6gd", "r6i", "r6id", "r7g", "r7i", "x2g", "x2iedn",
];
/// Instance sizes.
const SIZES: &[&str] = &[
    "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge",
    "16xlarge", "24xlarge", "32xlarge", "48xlarge",
];

const SUBNET_GROUP: Part = Part {
    name: "subnet_group",
    suffix: "SubnetGroup",
};
const PARAMETERS: Part = Part {
    name: "parameters",
    suffix: "Parameters",
};

impl Database {
    /// The database created in it: `database:`, else the key.
    pub fn database_name(&self, key: &str) -> String {
        self.database.clone().unwrap_or_else(|| key.to_string())
    }
    fn username(&self) -> String {
        self.username.clone().unwrap_or_else(|| "app".to_string())
    }
}

/// The local master secret's name: where RDS would keep it.
fn local_secret_name(instance: &str) -> String {
    format!("{instance}-master")
}

/// Why `class` is not an RDS PostgreSQL instance class, with the closest.
fn class_problem(class: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = class.split('.').collect();
    let hint_family = |f: &str| match crate::diagnostics::closest(f, FAMILIES.iter().copied()) {
        Some(best) => format!("did you mean `db.{best}.…`?"),
        None => format!("families: {}", FAMILIES.join(", ")),
    };
    match parts.as_slice() {
        ["db", family, size] => {
            if !FAMILIES.contains(family) {
                Some((
                    format!("`{class}` is not an instance class RDS PostgreSQL offers"),
                    hint_family(family),
                ))
            } else if !SIZES.contains(size) {
                Some((
                    format!("`{size}` is not an instance size"),
                    format!("sizes: {}", SIZES.join(", ")),
                ))
            } else {
                None
            }
        }
        _ => Some((
            format!("`{class}` is not an instance class"),
            "write `db.FAMILY.SIZE`, e.g. `db.t4g.micro`".to_string(),
        )),
    }
}

/// The major version of `version`, or why it is not one RDS offers.
fn major(version: &str) -> Result<u32, String> {
    let Some((major, minor)) = version.split_once('.') else {
        return Err(format!(
            "PostgreSQL `{version}` names no minor version, and RDS creates no new instance from a bare major"
        ));
    };
    let minor_ok = !minor.is_empty() && minor.chars().all(|c| c.is_ascii_digit());
    match major.parse::<u32>() {
        Ok(m) if MAJORS.contains(&m) && minor_ok => Ok(m),
        _ => Err(format!(
            "PostgreSQL `{version}` is not a version RDS offers"
        )),
    }
}

/// The RDS states in which the instance serves while it changes.
const BUSY: &[&str] = &[
    "backing-up",
    "configuring-enhanced-monitoring",
    "configuring-iam-database-auth",
    "configuring-log-exports",
    "maintenance",
    "modifying",
    "moving-to-vpc",
    "renaming",
    "resetting-master-credentials",
    "storage-optimization",
    "upgrading",
];

fn health_instance(i: &DbInstanceState, id: &str) -> Finding {
    let status = i.status.as_str();
    let f = match status {
        "available" => return Finding::pass("available", format!("RDS instance {id} is available"))
            .observed(status)
            .expected("available"),
        s if BUSY.contains(&s) => Finding::warn(
            "available",
            format!("RDS instance {id} serves, but is `{s}`"),
        )
        .hint("wait for it to end; run health again (or with --wait)"),
        s => Finding::fail("available", format!("RDS instance {id} is `{s}`, not available"))
            .hint(format!("see its events: `aws rds describe-events --source-type db-instance --source-identifier {id}`")),
    };
    f.observed(status).expected("available")
}

fn health_maintenance(pending: &[Maintenance], id: &str) -> Finding {
    let name = "maintenance";
    let forced: Vec<String> = pending
        .iter()
        .filter_map(|m| m.forced.as_ref().map(|d| format!("{} from {d}", m.action)))
        .collect();
    let all = pending
        .iter()
        .map(|m| m.action.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !forced.is_empty() {
        return Finding::warn(
            name,
            format!("maintenance RDS applies on its own: {}", forced.join("; ")),
        )
        .observed(all)
        .expected("none forced")
        .hint(format!("apply it in a window you choose: `aws rds apply-pending-maintenance-action --resource-identifier ARN --apply-action ACTION --opt-in-type next-maintenance` (instance {id})"));
    }
    if pending.is_empty() {
        Finding::pass(name, "no maintenance pending")
            .observed("none")
            .expected("none forced")
    } else {
        Finding::pass(name, format!("optional maintenance only: {all}"))
            .observed(all)
            .expected("none forced")
    }
}

/// The `migrations` finding of a database health reached: none of this
/// checkout's pending (else warn: the deploy that applies them has not
/// run), none changed after it ran (fail).
fn health_migrations(set: Option<&Set>, recorded: &BTreeMap<i64, String>, env: &str) -> Finding {
    let name = "migrations";
    let Some(set) = set else {
        return Finding::skip(name, "it has no migrations in this checkout");
    };
    match migrations::pending(set, recorded) {
        Ok(p) if p.is_empty() => Finding::pass(
            name,
            format!(
                "all {} migrations of this checkout applied",
                set.migrations.len()
            ),
        )
        .observed(format!("{} applied", recorded.len()))
        .expected("none pending"),
        Ok(p) => {
            let files: Vec<String> = p.iter().map(|m| m.file.display().to_string()).collect();
            Finding::warn(
                name,
                format!(
                    "{} migration(s) of this checkout not applied: {}",
                    p.len(),
                    files.join(", ")
                ),
            )
            .observed(format!("{} pending", p.len()))
            .expected("none pending")
            .hint(format!(
                "`stackctl deploy --env {env}` applies them, in order"
            ))
        }
        Err(e) => {
            let text = format!("{e:#}");
            let (why, hint) = text.split_once("\nhint: ").unwrap_or((text.as_str(), ""));
            let f = Finding::fail(name, why.to_string())
                .observed("differs from what ran")
                .expected("what ran, unchanged");
            if hint.is_empty() {
                f
            } else {
                f.hint(hint.to_string())
            }
        }
    }
}

impl Kind for Database {
    const NAME: &'static str = "database";
    const TEMPLATE_FILE: &'static str = "database.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/database.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] =
        &["id", "endpoint", "port", "database", "secret_arn", "tls"];
    const GRANT_LEVELS: &'static [&'static str] = &["connect"];
    const BINDABLE: bool = true;
    const LOCAL_SERVER: Option<LocalServer> = Some(LocalServer::Postgres);
    const HEALTH_CHECKS: &'static [&'static str] = &["available", "maintenance", "migrations"];
    const ALARM: Option<AlarmMetrics> = Some(AlarmMetrics {
        namespace: "AWS/RDS",
        dimension: "DBInstanceIdentifier",
        metrics: &[
            "CPUUtilization",
            "DatabaseConnections",
            "FreeStorageSpace",
            "FreeableMemory",
            "ReadLatency",
            "WriteLatency",
            "DiskQueueDepth",
        ],
    });

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn graphs(&self, _cx: &Builder, key: &str) -> Vec<super::Graph> {
        use super::Graph;
        vec![Graph::of(
            "cpu and connections",
            "AWS/RDS",
            "DBInstanceIdentifier",
            json!({"Ref": pascal(key)}),
            &[
                ("CPUUtilization", "Average"),
                ("DatabaseConnections", "Maximum"),
            ],
        )]
    }

    fn name_problem(name: &str) -> Option<String> {
        crate::limits::hyphenated_id_problem("DB instance identifier", name, 63)
    }

    /// DescribeDBInstances and DescribePendingMaintenanceActions on the
    /// instance (a bound server is reached with the credentials in its
    /// secret: `secretsmanager:GetSecretValue` on it, not derived here).
    fn health_access(
        &self,
        a: &crate::health::access::AccessTarget<'_>,
    ) -> Vec<crate::health::access::Access> {
        a.property(&a.logical_id(), "DBInstanceIdentifier")
            .map(|id| {
                crate::health::access::Access::new(
                    "ReadDatabases",
                    &[
                        "rds:DescribeDBInstances",
                        "rds:DescribePendingMaintenanceActions",
                    ],
                    a.arn("rds", &format!("db:{id}")),
                )
            })
            .into_iter()
            .collect()
    }

    /// A bound server: one connection, judged `available` and
    /// `migrations`. An RDS instance: DescribeDBInstances (`available`) and
    /// DescribePendingMaintenanceActions (`maintenance`); its migrations
    /// are beyond reach from here (private subnets).
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        let database = self.database_name(t.key);
        vec![Pending::new(Self::HEALTH_CHECKS, async move {
            if let Some(bound) = t.binding {
                let at = format!("{}:{}", bound.host, bound.port);
                if bound.tls {
                    return Err(Stop::Skip(format!(
                        "bound to {at} over TLS, which stackctl's PostgreSQL client does not speak yet"
                    )));
                }
                let maintenance = Finding::skip(
                    "maintenance",
                    format!("bound to the server at {at}, whose maintenance this environment does not manage"),
                );
                return Ok(match aws.postgres(bound, &database).await {
                    Ok(state) => vec![
                        health::bound_server("PostgreSQL", bound, Ok(state.version), t.env),
                        maintenance,
                        health_migrations(t.migrations, &state.recorded, t.env),
                    ],
                    Err(e) => vec![
                        health::bound_server("PostgreSQL", bound, Err(e), t.env),
                        maintenance,
                        Finding::skip(
                            "migrations",
                            format!(
                                "the database could not be read (see {}/database/{}/available)",
                                t.stack, t.key
                            ),
                        ),
                    ],
                });
            }
            let id = t.physical_id(&t.logical_id())?;
            let instance = aws.db_instance(id).await?;
            let maintenance = if t.emulated {
                Finding::skip(
                    "maintenance",
                    "the local emulator (moto) does not implement DescribePendingMaintenanceActions",
                )
            } else {
                match aws.db_maintenance(&instance.arn).await {
                    Ok(pending) => health_maintenance(&pending, id),
                    Err(e) => health::read_failed("maintenance", &e, t.env),
                }
            };
            let migrations = match t.migrations {
                None => Finding::skip("migrations", "it has no migrations in this checkout"),
                Some(set) => Finding::skip(
                    "migrations",
                    format!(
                        "{} migrations; an RDS instance in private subnets is not reachable from here",
                        set.migrations.len()
                    ),
                ),
            };
            Ok(vec![
                health_instance(&instance, id),
                maintenance,
                migrations,
            ])
        })]
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        if let Some(b) = cx.binding(key) {
            // An existing server stands for it here: nothing is created.
            if b.secret.is_none() {
                let at = format!("environments.{}.bind.{}.{key}", cx.env, cx.stack.name);
                let d = cx
                    .project
                    .source
                    .error(&at, format!("the binding of database `{key}` names no secret"))
                    .hint("add `secret: NAME_OR_ARN` of a Secrets Manager secret holding {\"username\", \"password\"}")
                    .in_env(cx.env);
                cx.diags.push(d);
            }
            cx.claim(&l, path);
            return json!({"logical": l, "bound": true});
        }
        let group = super::network::SECURITY_GROUP.of(&l);
        for id in [
            l.clone(),
            SUBNET_GROUP.of(&l),
            PARAMETERS.of(&l),
            group.clone(),
        ] {
            cx.claim(&id, path);
        }
        let npath = join(path, "network");
        let subnets = match cx.target(&self.network, &npath, &["network"]) {
            Some(Resource::Network(net)) => {
                super::network::private_subnets(net, &self.network, cx.env)
            }
            _ => Vec::new(),
        };
        let major = match major(&self.engine_version) {
            Ok(m) => m,
            Err(problem) => {
                cx.error_hint(
                    &join(path, "engine_version"),
                    problem,
                    format!(
                        "write `MAJOR.MINOR` with a major of {}; e.g. `engine_version: \"16.8\"`",
                        MAJORS
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                16
            }
        };
        let cpath = join(path, "instance_class");
        for (suffix, class) in self.instance_class.written() {
            if let Some((problem, hint)) = class_problem(&class) {
                cx.error_hint(&format!("{cpath}{suffix}"), problem, hint);
            }
        }
        let class = cx.per_env(&self.instance_class, &cpath);
        let storage = cx
            .ranged(
                &self.storage_gb,
                path,
                "storage_gb",
                "storage of",
                &limits::DATABASE_STORAGE_GB,
            )
            .unwrap_or(*limits::DATABASE_STORAGE_GB.start());
        let max_storage = self.max_storage_gb.as_ref().and_then(|m| {
            let mpath = join(path, "max_storage_gb");
            let max = cx.per_env(m, &mpath)?;
            if max <= storage {
                cx.error_hint(
                    &mpath,
                    format!("max_storage_gb {max} is not above storage_gb {storage}"),
                    "raise it, or remove it for fixed storage",
                );
            }
            Some(max)
        });
        let protected = cx.project.file.environments[cx.env].protected;
        let multi_az = match &self.multi_az {
            Some(m) => cx.per_env(m, &join(path, "multi_az")).unwrap_or(protected),
            None => protected,
        };
        let backups = match &self.backup_retention_days {
            Some(_) => cx
                .ranged(
                    &self.backup_retention_days,
                    path,
                    "backup_retention_days",
                    "a backup retention of",
                    &limits::DATABASE_BACKUP_DAYS,
                )
                .unwrap_or(7),
            None if protected => 14,
            None => 7,
        };
        let database = self.database_name(key);
        if let Some(p) = crate::limits::identifier_problem("database name", &database, '_', 63) {
            cx.error_hint(
                &join(path, "database"),
                p,
                "PostgreSQL names here are lowercase, e.g. `media`",
            );
        }
        let username = self.username();
        if let Some(p) = crate::limits::identifier_problem("master user name", &username, '_', 63) {
            cx.error_hint(&join(path, "username"), p, "e.g. `app`");
        } else if ["postgres", "rdsadmin", "admin"].contains(&username.as_str()) {
            cx.error_hint(
                &join(path, "username"),
                format!("`{username}` is reserved by RDS PostgreSQL"),
                "e.g. `app`",
            );
        }
        let key_logical = key::resolve(cx, &self.encryption, path);
        let name = cx.name(key);
        let local = cx.emulated();
        if local {
            // As RDS would make it, so functions read it the same way.
            cx.local_secrets.push(LocalSecret {
                key: key.to_string(),
                name: local_secret_name(&name),
                description: format!("Master user of {name} (made by stackctl, as RDS would)"),
                generate: Some(Generate {
                    length: 32,
                    exclude: Some("\"@/\\ '".to_string()),
                    punctuation: true,
                    template: None,
                    key: None,
                }),
                username: Some(username.clone()),
                retain: false,
            });
        }
        let retain = cx.settings.retain_data || protected;
        json!({
            "ids": super::ids(&l, &[SUBNET_GROUP, PARAMETERS]),
            "logical": l,
            "bound": false,
            "name": name,
            "local": local,
            "security_group": group,
            "vpc": pascal(&self.network),
            "subnets": subnets,
            "major": major,
            "engine_version": self.engine_version,
            "instance_class": class,
            "storage": storage,
            "max_storage": max_storage,
            "database": database,
            "username": username,
            "port": PORT,
            "multi_az": multi_az,
            "backup_retention_days": backups,
            "deletion_protection": protected,
            // A final snapshot where data is kept; RDS deletes its
            // automated backups with the instance.
            "deletion_policy": if retain {
                super::DeletionPolicy::Snapshot
            } else {
                super::DeletionPolicy::Delete
            },
            "key": key_logical,
        })
    }

    fn network(&self) -> Option<&str> {
        Some(&self.network)
    }

    fn encryption_key(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key.as_str())
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        if let Some(b) = cx.binding(key) {
            return match attr {
                "id" => json!(b.host),
                "endpoint" => json!(b.host),
                "port" => json!(b.port.to_string()),
                "database" => json!(self.database_name(key)),
                "secret_arn" => json!(b.secret.clone().unwrap_or_default()),
                "tls" => json!(b.tls.to_string()),
                // Not an attribute of a database (ATTRIBUTES is checked first).
                _ => Json::Null,
            };
        }
        match attr {
            "id" => json!({"Ref": l}),
            "endpoint" => json!({"Fn::GetAtt": [l, "Endpoint.Address"]}),
            // A number in CloudFormation's string form, as environment
            // variables take it.
            "port" => json!(PORT.to_string()),
            "database" => json!(self.database_name(key)),
            // Made through the API locally: its name serves as its ARN.
            "secret_arn" if cx.emulated() => json!(local_secret_name(&cx.name(key))),
            "secret_arn" => json!({"Fn::GetAtt": [l, "MasterUserSecret.SecretArn"]}),
            // The parameter group sets `rds.force_ssl`.
            "tls" => json!("true"),
            // Not an attribute of a database (ATTRIBUTES is checked first).
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
        let secret = if let Some(b) = cx.binding(key) {
            super::secret::arn_of(b.secret.as_deref().unwrap_or_default())
        } else if cx.emulated() {
            iam::sub(format!(
                "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{}-??????",
                local_secret_name(&cx.name(key))
            ))
        } else {
            json!({"Fn::GetAtt": [pascal(key), "MasterUserSecret.SecretArn"]})
        };
        match level {
            "connect" => Some(iam::allow(
                key,
                level,
                &["secretsmanager:GetSecretValue"],
                vec![secret],
                None,
            )),
            // Not a level of a database (GRANT_LEVELS is checked first).
            _ => None,
        }
    }

    fn grant_environment(&self, cx: &mut Builder, key: &str, level: &str) -> Vec<(String, Json)> {
        if level != "connect" {
            return Vec::new();
        }
        let prefix = key.to_uppercase();
        ["endpoint", "port", "database", "secret_arn", "tls"]
            .into_iter()
            .zip(["HOST", "PORT", "NAME", "SECRET_ARN", "TLS"])
            .map(|(attr, var)| (format!("{prefix}_{var}"), self.attribute(cx, key, attr, "")))
            .collect()
    }

    /// `connect` by a container: host, port, name and TLS as for a
    /// function; the user name and password ECS injects from the master
    /// secret's JSON keys (`KEY_USERNAME`, `KEY_PASSWORD`).
    fn container_grant(
        &self,
        cx: &mut Builder,
        key: &str,
        level: &str,
    ) -> Option<super::ContainerGrant> {
        if level != "connect" {
            return None;
        }
        let prefix = key.to_uppercase();
        let environment = ["endpoint", "port", "database", "tls"]
            .into_iter()
            .zip(["HOST", "PORT", "NAME", "TLS"])
            .map(|(attr, var)| (format!("{prefix}_{var}"), self.attribute(cx, key, attr, "")))
            .collect();
        let secret = self.attribute(cx, key, "secret_arn", "");
        if secret.as_str() == Some("") {
            // A bound server without a secret: nothing to inject.
            return Some(super::ContainerGrant {
                environment,
                secrets: Vec::new(),
            });
        }
        let secrets = ["username", "password"]
            .into_iter()
            .map(|k| {
                (
                    format!("{prefix}_{}", k.to_uppercase()),
                    super::secret::value_from(&secret, Some(k)),
                )
            })
            .collect();
        Some(super::ContainerGrant {
            environment,
            secrets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, statement};
    use super::*;

    #[test]
    fn a_bound_database_is_not_created_and_grants_name_the_binding() {
        let t = super::super::testing::render_in(
            "    bind:
      app:
        db: {host: db.staging.internal, port: 6432, secret: staging-db-master}
",
            "resources:
  main:
    type: network
    allow:
      - {from: functions, to: db, port: 5432}
  db:
    type: database
    network: main
    engine_version: \"16.8\"
    instance_class: db.t4g.micro
  worker:
    type: function
    crate: worker
    network: main
    grants:
      db: [connect]
",
        );
        let r = t["Resources"].as_object().unwrap();
        for gone in [
            "Db",
            "DbSubnetGroup",
            "DbSecurityGroup",
            "MainWorkerToDb5432In",
        ] {
            assert!(!r.contains_key(gone), "{gone} rendered");
        }
        let env = &t["Resources"]["Worker"]["Properties"]["Environment"]["Variables"];
        assert_eq!(env["DB_HOST"], "db.staging.internal");
        assert_eq!(env["DB_PORT"], "6432");
        assert_eq!(env["DB_SECRET_ARN"], "staging-db-master");
        let s = statement(&t, "Worker", "DbConnect");
        assert_eq!(
            s["Resource"][0]["Fn::Sub"],
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:staging-db-master-??????"
        );
        // The function may leave its VPC for the bound server's port.
        let egress = t["Resources"]["WorkerSecurityGroup"]["Properties"]["SecurityGroupEgress"]
            .as_array()
            .unwrap()
            .clone();
        assert!(egress.iter().any(|e| e["FromPort"] == 6432), "{egress:?}");
    }

    #[test]
    fn versions_and_classes_are_checked_with_a_hint() {
        assert_eq!(major("16.8"), Ok(16));
        assert_eq!(major("15.7"), Ok(15));
        assert!(major("16").unwrap_err().contains("bare major"));
        assert!(major("9.6").is_err());
        assert!(major("16.x").is_err());
        assert!(class_problem("db.t4g.micro").is_none());
        assert!(class_problem("db.t4x.micro").unwrap().1.contains("db.t4g"));
        assert!(class_problem("db.t4g.huge").unwrap().0.contains("`huge`"));
        assert!(class_problem("t4g.micro")
            .unwrap()
            .1
            .contains("db.FAMILY.SIZE"));
    }

    #[test]
    fn a_connect_grant_reads_the_master_secret_and_names_the_database() {
        let t = render(
            "resources:
  main:
    type: network
    allow:
      - {from: functions, to: db, port: 5432}
  db:
    type: database
    network: main
    engine_version: \"16.8\"
    instance_class: db.t4g.micro
    database: media
  worker:
    type: function
    crate: worker
    network: main
    grants:
      db: [connect]
",
        );
        let db = &t["Resources"]["Db"]["Properties"];
        assert_eq!(db["ManageMasterUserPassword"], true);
        assert_eq!(db["PubliclyAccessible"], false);
        assert_eq!(db["StorageEncrypted"], true);
        assert!(db.get("MasterUserPassword").is_none());
        let s = statement(&t, "Worker", "DbConnect");
        assert_eq!(
            s["Resource"],
            json!([{"Fn::GetAtt": ["Db", "MasterUserSecret.SecretArn"]}])
        );
        let env = &t["Resources"]["Worker"]["Properties"]["Environment"]["Variables"];
        assert_eq!(
            env["DB_HOST"],
            json!({"Fn::GetAtt": ["Db", "Endpoint.Address"]})
        );
        assert_eq!(env["DB_PORT"], "5432");
        assert_eq!(env["DB_NAME"], "media");
        assert_eq!(
            env["DB_SECRET_ARN"],
            json!({"Fn::GetAtt": ["Db", "MasterUserSecret.SecretArn"]})
        );
        let ingress = &t["Resources"]["MainWorkerToDb5432In"]["Properties"];
        assert_eq!(
            ingress["GroupId"],
            json!({"Fn::GetAtt": ["DbSecurityGroup", "GroupId"]})
        );
    }
}
