//! `stackctl config`: the configuration as stackctl resolves it.

use crate::cli::ConfigArgs;
use crate::model::Settings;
use crate::names::stack_name;
use crate::validate;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The resolved configuration.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Project name.
    pub project: String,
    /// Environments shown.
    pub environments: Vec<EnvReport>,
    /// Stacks in deployment order.
    pub stacks: Vec<StackReport>,
}

/// One environment.
#[derive(Debug, Serialize)]
pub struct EnvReport {
    /// Name.
    pub name: String,
    /// AWS region.
    pub region: String,
    /// Endpoint in use (`null` for AWS itself).
    pub endpoint_url: Option<String>,
    /// Whether --endpoint-url or AWS_ENDPOINT_URL replaced the configured endpoint.
    pub endpoint_overridden: bool,
    /// Destructive actions need explicit confirmation.
    pub protected: bool,
    /// How `deploy` applies templates.
    pub deploy_method: crate::deploy::Method,
    /// Whether its stacks get termination protection.
    pub termination_protection: bool,
    /// Where function zips go.
    pub artefact_bucket: String,
    /// Settings after defaults and overrides.
    pub settings: Settings,
}

/// One stack.
#[derive(Debug, Serialize)]
pub struct StackReport {
    /// Name in the project.
    pub name: String,
    /// Stacks deployed before it.
    pub depends_on: Vec<String>,
    /// CloudFormation stack name per environment shown.
    pub stack_names: BTreeMap<String, String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "project: {}", self.project)?;
        writeln!(f, "environments:")?;
        for e in &self.environments {
            let endpoint = match &e.endpoint_url {
                Some(u) if e.endpoint_overridden => format!("{u} (overridden)"),
                Some(u) => u.clone(),
                None => "AWS".to_string(),
            };
            let method = match e.deploy_method {
                crate::deploy::Method::ChangeSet => "change sets",
                crate::deploy::Method::Direct => "direct",
            };
            writeln!(
                f,
                "  {}: region {}, endpoint {}{}",
                e.name,
                e.region,
                endpoint,
                if e.protected { ", protected" } else { "" }
            )?;
            writeln!(
                f,
                "    deploys with {method}, termination protection {}, artefacts in s3://{}",
                if e.termination_protection {
                    "on"
                } else {
                    "off"
                },
                e.artefact_bucket
            )?;
            let s = &e.settings;
            writeln!(
                f,
                "    log retention {} d, function memory {} MB, timeout {} s, retain data {}, point-in-time recovery {}, tracing {}, bucket access logs {}, WebSocket access logs {}",
                s.log_retention_days, s.function_memory, s.function_timeout, s.retain_data, s.point_in_time_recovery, s.tracing, s.bucket_access_logs, s.websocket_access_logs
            )?;
        }
        writeln!(f, "stacks (deployment order):")?;
        for s in &self.stacks {
            let deps = if s.depends_on.is_empty() {
                String::new()
            } else {
                format!(" after {}", s.depends_on.join(", "))
            };
            let names: Vec<&str> = s.stack_names.values().map(String::as_str).collect();
            writeln!(f, "  {}{deps}: {}", s.name, names.join(", "))?;
        }
        Ok(())
    }
}

/// Resolves the configuration.
pub fn run(
    root: &Path,
    args: ConfigArgs,
    endpoint_override: Option<&str>,
) -> anyhow::Result<Report> {
    let ConfigArgs { env } = args;
    let (project, _) = validate::project(root)?;
    if let Some(e) = &env {
        super::check_env(&project, e)?;
    }
    let shown: Vec<&String> = project
        .file
        .environments
        .keys()
        .filter(|k| env.as_ref().is_none_or(|e| e == *k))
        .collect();
    let environments = shown
        .iter()
        .map(|name| {
            let e = &project.file.environments[*name];
            let endpoint_url = e.endpoint(endpoint_override);
            let deploy_method = e.method(endpoint_url.as_deref());
            EnvReport {
                name: name.to_string(),
                region: e.region.clone(),
                endpoint_overridden: endpoint_url != e.endpoint_url,
                endpoint_url,
                protected: e.protected,
                deploy_method,
                termination_protection: e.protect_stacks(),
                artefact_bucket: e.artefact_bucket(&project.file.project, name),
                settings: Settings::resolve(&project.file.settings, &e.settings, e.protected),
            }
        })
        .collect();
    let stacks = validate::order(&project)
        .unwrap_or_default()
        .into_iter()
        .map(|name| StackReport {
            depends_on: project.file.stacks[&name].depends_on.clone(),
            stack_names: shown
                .iter()
                .map(|e| (e.to_string(), stack_name(&project, &name, e)))
                .collect(),
            name,
        })
        .collect();
    Ok(Report {
        project: project.file.project.clone(),
        environments,
        stacks,
    })
}
