//! After the stacks of an environment are up: the servers its `local:`
//! bindings ask for (started on loopback as moto is, with a local
//! PostgreSQL's database made and its credentials in the secret the
//! binding names), then each database's pending migrations, applied where
//! stackctl can reach the database.

use crate::aws::secrets::SdkSecrets;
use crate::deploy::{Outcome, StackReport};
use crate::kinds::Resource;
use crate::migrations;
use crate::model::project::{Bound, LocalServer};
use crate::scope::Scope;
use crate::servers::{self, Credentials, Running};
use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use std::path::PathBuf;

/// What happened to one database's migrations.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationState {
    /// Its stack.
    pub stack: String,
    /// The `database` resource.
    pub database: String,
    /// The files applied now, in order.
    pub applied: Vec<PathBuf>,
    /// The files still pending (after a failure, or every file when the
    /// database was not reached).
    pub pending: Vec<PathBuf>,
    /// Why the database was not reached, when it was not (`pending` is
    /// then every file, unchecked).
    pub note: Option<String>,
}

/// The servers this deploy found or started, and what migrations did.
#[derive(Debug, Default, Serialize)]
pub struct Settled {
    /// Local servers of the environment's bindings.
    pub servers: Vec<Running>,
    /// Migrations, per database.
    pub migrations: Vec<MigrationState>,
}

/// For every stack that deployed: starts its bound local servers, makes a
/// local PostgreSQL's database and credentials secret, and applies the
/// pending migrations of databases stackctl can reach. A failure fails the
/// stack, naming the file, the line and the database's message.
pub async fn settle(
    scope: &Scope,
    sdk: &aws_config::SdkConfig,
    stacks: &mut [StackReport],
) -> Settled {
    let mut settled = Settled::default();
    for report in stacks.iter_mut().filter(|r| r.outcome.ok()) {
        if let Err(e) = settle_stack(scope, sdk, &report.stack, &mut settled).await {
            report.outcome = Outcome::Failed;
            let text = format!("{e:#}");
            report.message = Some(match report.message.take() {
                Some(m) => format!("{m}\n{text}"),
                None => text,
            });
        }
    }
    settled
}

async fn settle_stack(
    scope: &Scope,
    sdk: &aws_config::SdkConfig,
    stack: &str,
    settled: &mut Settled,
) -> Result<()> {
    let project = &scope.project;
    let state_dir = project.root.join(".stackctl");
    let bindings = project.file.environments[&scope.env]
        .bind
        .get(stack)
        .cloned()
        .unwrap_or_default();
    let resources = &project.stacks[stack].resources;
    let mut postgres: Vec<(String, Bound, Credentials)> = Vec::new();
    for (key, binding) in &bindings {
        let bound = binding.bound(&project.file.project, &scope.env);
        match bound.local {
            Some(LocalServer::Redis) => {
                let running = servers::ensure_redis(&state_dir, bound.port)?;
                push_server(settled, running);
            }
            Some(LocalServer::Postgres) => {
                let (running, creds) = servers::ensure_postgres(&state_dir, bound.port)?;
                push_server(settled, running);
                let Some(Resource::Database(db)) = resources.get(key) else {
                    continue;
                };
                let dbname = db.database_name(key);
                create_database(&creds, bound.port, &dbname).await?;
                if let Some(secret) = &bound.secret {
                    let value = serde_json::json!({
                        "engine": "postgres",
                        "host": bound.host,
                        "port": bound.port,
                        "dbname": dbname,
                        "username": creds.username,
                        "password": creds.password,
                    })
                    .to_string();
                    SdkSecrets::new(sdk)
                        .ensure_value(
                            secret,
                            &format!(
                                "Credentials of the PostgreSQL stackctl runs on 127.0.0.1:{}",
                                bound.port
                            ),
                            &value,
                        )
                        .await?;
                }
                postgres.push((key.clone(), bound, creds));
            }
            // An image registry is the environment's, not a binding's; an
            // API bound to `serve` is served by `stackctl serve`.
            Some(LocalServer::Registry) | Some(LocalServer::Serve) | None => {}
        }
    }
    let sets = migrations::load(project, &project.stacks[stack]).map_err(|d| anyhow!("{d}"))?;
    for set in sets {
        let Some(Resource::Database(db)) = resources.get(&set.database) else {
            continue;
        };
        let dbname = db.database_name(&set.database);
        let all: Vec<PathBuf> = set.migrations.iter().map(|m| m.file.clone()).collect();
        let target = match postgres.iter().find(|(k, _, _)| *k == set.database) {
            Some((_, bound, creds)) => Some((bound.clone(), creds.clone())),
            None => match bindings.get(&set.database) {
                Some(b) => {
                    let bound = b.bound(&project.file.project, &scope.env);
                    if bound.tls {
                        settled.migrations.push(unreached(&set, all, format!(
                            "database `{}` is bound to {}:{} over TLS, which stackctl's migrations do not speak yet; apply them from inside the network",
                            set.database, bound.host, bound.port
                        )));
                        continue;
                    }
                    let creds = bound_credentials(sdk, &bound).await?;
                    Some((bound, creds))
                }
                None => None,
            },
        };
        let Some((bound, creds)) = target else {
            settled.migrations.push(unreached(&set, all, format!(
                "database `{}` is in private subnets, which stackctl does not reach from here; apply its migrations from inside the network",
                set.database
            )));
            continue;
        };
        let mut client = connect(&bound.host, bound.port, &creds, &dbname).await?;
        let applied = migrations::apply(&mut client, &set).await;
        match applied {
            Ok(files) => settled.migrations.push(MigrationState {
                stack: set.stack.clone(),
                database: set.database.clone(),
                applied: files,
                pending: Vec::new(),
                note: None,
            }),
            Err(e) => {
                // What is still pending after the failure; the failure
                // itself is the stack's message.
                let pending = match migrations::applied(&client).await {
                    Ok(ran) => migrations::pending(&set, &ran)
                        .map(|p| p.iter().map(|m| m.file.clone()).collect())
                        .unwrap_or(all),
                    Err(_) => all,
                };
                settled.migrations.push(MigrationState {
                    stack: set.stack.clone(),
                    database: set.database.clone(),
                    applied: Vec::new(),
                    pending,
                    note: None,
                });
                return Err(e);
            }
        }
    }
    Ok(())
}

/// What `diff` says of each selected stack's migrations: the files a
/// deploy would apply, read from the database where stackctl reaches it
/// (nothing is started or changed), else every file, with the reason.
pub async fn pending(scope: &Scope, sdk: &aws_config::SdkConfig) -> Vec<MigrationState> {
    let mut out = Vec::new();
    let project = &scope.project;
    let state_dir = project.root.join(".stackctl");
    for stack in &scope.stacks {
        let Ok(sets) = migrations::load(project, &project.stacks[stack]) else {
            continue;
        };
        let resources = &project.stacks[stack].resources;
        for set in sets {
            let all: Vec<PathBuf> = set.migrations.iter().map(|m| m.file.clone()).collect();
            let Some(Resource::Database(db)) = resources.get(&set.database) else {
                continue;
            };
            let dbname = db.database_name(&set.database);
            let binding = project.file.environments[&scope.env]
                .bind
                .get(stack)
                .and_then(|b| b.get(&set.database))
                .map(|b| b.bound(&project.file.project, &scope.env));
            let creds: Result<(Bound, Credentials), String> = match binding {
                None => Err(format!(
                    "database `{}` is in private subnets, which stackctl does not reach from here",
                    set.database
                )),
                Some(b) if b.local == Some(LocalServer::Postgres) => {
                    match servers::postgres_credentials(&state_dir, b.port)
                        .filter(|_| servers::answers(b.port))
                    {
                        Some(c) => Ok((b, c)),
                        None => Err(format!(
                            "the local PostgreSQL on 127.0.0.1:{} is not running; deploy starts it",
                            b.port
                        )),
                    }
                }
                Some(b) if b.tls => Err(format!(
                    "database `{}` is bound to {}:{} over TLS, which stackctl's migrations do not speak yet",
                    set.database, b.host, b.port
                )),
                Some(b) => match bound_credentials(sdk, &b).await {
                    Ok(c) => Ok((b, c)),
                    Err(e) => Err(format!("{e:#}")),
                },
            };
            let state = match creds {
                Ok((b, c)) => match connect(&b.host, b.port, &c, &dbname).await {
                    Ok(client) => match migrations::applied(&client).await {
                        Ok(ran) => match migrations::pending(&set, &ran) {
                            Ok(p) => MigrationState {
                                stack: stack.clone(),
                                database: set.database.clone(),
                                applied: Vec::new(),
                                pending: p.iter().map(|m| m.file.clone()).collect(),
                                note: None,
                            },
                            Err(e) => unreached(&set, all, format!("{e:#}")),
                        },
                        Err(e) => unreached(&set, all, format!("{e:#}")),
                    },
                    // A database not made yet: every file is pending.
                    Err(e) => unreached(&set, all, format!("{e:#}")),
                },
                Err(note) => unreached(&set, all, note),
            };
            out.push(state);
        }
    }
    out
}

fn push_server(settled: &mut Settled, running: Running) {
    if !settled
        .servers
        .iter()
        .any(|s| s.server == running.server && s.port == running.port)
    {
        settled.servers.push(running);
    }
}

fn unreached(set: &migrations::Set, files: Vec<PathBuf>, note: String) -> MigrationState {
    MigrationState {
        stack: set.stack.clone(),
        database: set.database.clone(),
        applied: Vec::new(),
        pending: files,
        note: Some(note),
    }
}

/// The credentials in a bound database's secret (`{"username", "password"}`).
async fn bound_credentials(sdk: &aws_config::SdkConfig, bound: &Bound) -> Result<Credentials> {
    let name = bound
        .secret
        .as_deref()
        .ok_or_else(|| anyhow!("the binding names no secret"))?;
    let text = SdkSecrets::new(sdk).value(name).await?;
    serde_json::from_str(&text)
        .with_context(|| format!("secret {name} does not hold {{\"username\", \"password\"}}"))
}

pub(crate) async fn connect(
    host: &str,
    port: u16,
    creds: &Credentials,
    dbname: &str,
) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::Config::new()
        .host(host)
        .port(port)
        .user(&creds.username)
        .password(&creds.password)
        .dbname(dbname)
        .connect(tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to database {dbname} at {host}:{port}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Creates database `name` in the local PostgreSQL unless it exists.
async fn create_database(creds: &Credentials, port: u16, name: &str) -> Result<()> {
    let client = connect("127.0.0.1", port, creds, "postgres").await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .context("listing databases")?
        .is_some();
    if !exists {
        // An identifier cannot be a parameter; the name is checked
        // (lowercase letters, digits, `_`) by the database kind.
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("creating database {name}"))?;
    }
    Ok(())
}
