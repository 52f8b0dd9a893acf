//! `stackctl.yaml`: the project name, its environments and its stacks.

use super::value::ParamValue;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The default pattern for physical resource names.
pub const DEFAULT_NAMING: &str = "{project}-{stack}-{name}-{env}";

/// The top-level fields of `stackctl.yaml`, in the order of [`ProjectFile`].
pub const FIELDS: &[&str] = &[
    "project",
    "naming",
    "tags",
    "settings",
    "environments",
    "stacks",
];

/// The root configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    /// Short project name; the first part of every stack and resource name.
    pub project: String,
    /// Pattern for physical names: `{project}`, `{stack}`, `{name}`, `{env}`.
    #[serde(default)]
    pub naming: Option<String>,
    /// Tags applied to every stack of every environment.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Defaults for every environment.
    #[serde(default)]
    pub settings: SettingsOverrides,
    /// Environments by name (`local`, `dev`, `staging`, `prod`, ...).
    pub environments: BTreeMap<String, Environment>,
    /// Stacks by name; each lives in `stacks/NAME.yaml` unless `file` says otherwise.
    pub stacks: BTreeMap<String, StackEntry>,
}

/// One environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// Endpoint of an AWS-compatible service (the local emulator). `AWS_ENDPOINT_URL`
    /// and `--endpoint-url` override it.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Protected environments need explicit confirmation for destructive actions.
    #[serde(default)]
    pub protected: bool,
    /// Overrides of the project settings for this environment.
    #[serde(default)]
    pub settings: SettingsOverrides,
    /// Parameter values by stack, then parameter name.
    #[serde(default)]
    pub parameters: BTreeMap<String, BTreeMap<String, ParamValue>>,
    /// Extra tags for this environment's stacks.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Bucket for function zips (default `{project}-{env}-artefacts-{region}`).
    /// Bucket names are global: set one when the default is taken.
    #[serde(default)]
    pub artefact_bucket: Option<String>,
    /// How `deploy` applies templates: `change-set` (default) or `direct`.
    #[serde(default)]
    pub deploy_method: Option<crate::deploy::Method>,
    /// Termination protection on this environment's stacks (default: on
    /// when the environment is protected).
    #[serde(default)]
    pub termination_protection: Option<bool>,
    /// A local emulator stackctl starts at `endpoint_url` when nothing
    /// answers there (`moto`). Without it, stackctl never starts one.
    #[serde(default)]
    pub emulator: Option<EmulatorKind>,
    /// Resources this environment uses instead of creating them, by stack
    /// then resource key: an existing database or cache ("dev uses the
    /// shared staging database"; `local` uses servers on loopback).
    #[serde(default)]
    pub bind: BTreeMap<String, BTreeMap<String, Binding>>,
    /// Where `publish` and `deploy` push services' container images:
    /// without it, each service's own ECR repository; `{local: true}`, an
    /// OCI registry stackctl starts on loopback (Debian's
    /// `docker-registry`), for an emulator environment.
    #[serde(default)]
    pub registry: Option<RegistrySettings>,
}

/// The image registry of an environment (`environments.ENV.registry`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Push images to a registry stackctl starts on 127.0.0.1 (Debian's
    /// `docker-registry`, storage under `.stackctl/`) instead of ECR.
    pub local: bool,
    /// Its port (default 5050).
    #[serde(default)]
    pub port: Option<u16>,
}

impl RegistrySettings {
    /// The port of the local registry unless the settings say.
    pub const DEFAULT_PORT: u16 = 5050;

    /// The local registry's port, when the environment asks for one.
    pub fn local_port(&self) -> Option<u16> {
        self.local
            .then_some(self.port.unwrap_or(Self::DEFAULT_PORT))
    }
}

/// An existing server a declared resource stands for in one environment:
/// one at `host`, or one stackctl starts on loopback (`local:`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// Host name or address of an existing server.
    #[serde(default)]
    pub host: Option<String>,
    /// A server stackctl starts on loopback, as it starts moto.
    #[serde(default)]
    pub local: Option<LocalServer>,
    /// TCP port (default for `local:` 5433 for PostgreSQL, 6380 for Redis;
    /// required for `local: serve`).
    #[serde(default)]
    pub port: Option<u16>,
    /// Name or ARN of the Secrets Manager secret with its credentials: a
    /// database's `{"username", "password"}`, a cache's auth token
    /// (default for `local: postgres`: the one stackctl makes).
    #[serde(default)]
    pub secret: Option<String>,
    /// Whether it speaks TLS (default: true, false for `local:`).
    #[serde(default)]
    pub tls: Option<bool>,
}

/// The servers stackctl can start on loopback for a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalServer {
    /// PostgreSQL (Debian's `postgresql`), for a `database`.
    Postgres,
    /// Redis (Debian's `redis-server`), for a `cache`.
    Redis,
    /// An OCI image registry (Debian's `docker-registry`), for an
    /// environment's `registry: {local: true}`; never a binding.
    Registry,
    /// `stackctl serve`, for an `http_api`, `rest_api` or `websocket_api`:
    /// the API is still created on the emulator, but its address is
    /// `http://127.0.0.1:PORT` (the binding's `port:`), where `serve`
    /// answers for it.
    Serve,
}

impl LocalServer {
    /// The port it listens on unless the binding says.
    pub fn default_port(self) -> u16 {
        match self {
            LocalServer::Postgres => 5433,
            LocalServer::Redis => 6380,
            LocalServer::Registry => RegistrySettings::DEFAULT_PORT,
            // No default: each API needs a port of its own (checked).
            LocalServer::Serve => 0,
        }
    }
}

/// A binding with its defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bound {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The credentials' secret, by name or ARN.
    pub secret: Option<String>,
    /// Whether it speaks TLS.
    pub tls: bool,
    /// The server stackctl starts, if it does.
    pub local: Option<LocalServer>,
}

impl Binding {
    /// The binding with its defaults: a local server listens on loopback,
    /// speaks no TLS, and a local PostgreSQL's credentials are in the
    /// secret stackctl makes, `PROJECT-ENV-postgres-PORT`.
    pub fn bound(&self, project: &str, env: &str) -> Bound {
        let port = self
            .port
            .or(self.local.map(LocalServer::default_port))
            .unwrap_or(0);
        let secret = self.secret.clone().or_else(|| {
            (self.local == Some(LocalServer::Postgres))
                .then(|| local_postgres_secret(project, env, port))
        });
        Bound {
            host: self.host.clone().unwrap_or_else(|| "127.0.0.1".to_string()),
            port,
            secret,
            tls: self.tls.unwrap_or(self.local.is_none()),
            local: self.local,
        }
    }
}

/// The secret stackctl makes for the PostgreSQL it starts on `port`.
pub fn local_postgres_secret(project: &str, env: &str, port: u16) -> String {
    format!("{project}-{env}-postgres-{port}")
}

/// The local AWS emulators stackctl can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmulatorKind {
    /// moto's server (`pip install 'moto[server]'`).
    Moto,
}

/// A stack's entry in `stackctl.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackEntry {
    /// Stacks that must be deployed first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// The stack file, relative to the project root (default `stacks/NAME.yaml`).
    #[serde(default)]
    pub file: Option<String>,
}

/// Settings that can be set for the project and overridden per environment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SettingsOverrides {
    /// Retention of function log groups, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_retention_days: Option<u32>,
    /// Memory of functions that do not set their own, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_memory: Option<u32>,
    /// Timeout of functions that do not set their own, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_timeout: Option<u32>,
    /// Keep tables and buckets when their stack is deleted (`DeletionPolicy: Retain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_data: Option<bool>,
    /// Point-in-time recovery for tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery: Option<bool>,
    /// X-Ray tracing for functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<bool>,
    /// S3 server access logs for every bucket, into one log bucket per stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_access_logs: Option<bool>,
    /// Access logs for WebSocket API stages; the account must have API
    /// Gateway's CloudWatch role set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket_access_logs: Option<bool>,
}

/// Settings after defaults, project values and environment overrides.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Settings {
    /// Retention of function log groups, in days.
    pub log_retention_days: u32,
    /// Default function memory, MB.
    pub function_memory: u32,
    /// Default function timeout, seconds.
    pub function_timeout: u32,
    /// Retain data-bearing resources on delete.
    pub retain_data: bool,
    /// Point-in-time recovery for tables.
    pub point_in_time_recovery: bool,
    /// X-Ray tracing for functions.
    pub tracing: bool,
    /// S3 server access logs for buckets.
    pub bucket_access_logs: bool,
    /// Access logs for WebSocket API stages.
    pub websocket_access_logs: bool,
}

impl Settings {
    /// Built-in defaults, then the project's values, then the environment's.
    /// A protected environment retains data unless it says otherwise.
    pub fn resolve(project: &SettingsOverrides, env: &SettingsOverrides, protected: bool) -> Self {
        Self {
            log_retention_days: env
                .log_retention_days
                .or(project.log_retention_days)
                .unwrap_or(14),
            function_memory: env
                .function_memory
                .or(project.function_memory)
                .unwrap_or(256),
            function_timeout: env
                .function_timeout
                .or(project.function_timeout)
                .unwrap_or(10),
            retain_data: env.retain_data.or(project.retain_data).unwrap_or(protected),
            point_in_time_recovery: env
                .point_in_time_recovery
                .or(project.point_in_time_recovery)
                .unwrap_or(false),
            tracing: env.tracing.or(project.tracing).unwrap_or(false),
            bucket_access_logs: env
                .bucket_access_logs
                .or(project.bucket_access_logs)
                .unwrap_or(protected),
            websocket_access_logs: env
                .websocket_access_logs
                .or(project.websocket_access_logs)
                .unwrap_or(false),
        }
    }
}

impl Environment {
    /// The artefact bucket of environment `name` of `project`.
    pub fn artefact_bucket(&self, project: &str, name: &str) -> String {
        self.artefact_bucket
            .clone()
            .unwrap_or_else(|| format!("{project}-{name}-artefacts-{}", self.region))
    }

    /// The deploy method: the environment's; else, at a local emulator
    /// (a loopback `http://` endpoint), direct, since moto's change sets
    /// drop stack outputs and exports; else change sets.
    pub fn method(&self, endpoint: Option<&str>) -> crate::deploy::Method {
        match self.deploy_method {
            Some(m) => m,
            None if endpoint.is_some_and(crate::emulator::is_local) => {
                crate::deploy::Method::Direct
            }
            None => crate::deploy::Method::ChangeSet,
        }
    }

    /// Whether this environment's stacks get termination protection.
    pub fn protect_stacks(&self) -> bool {
        self.termination_protection.unwrap_or(self.protected)
    }

    /// The endpoint at which stackctl may start this environment's emulator:
    /// its own `endpoint_url`, when it declares `emulator:` and no override
    /// points elsewhere (a mistyped `--endpoint-url` never starts one).
    pub fn emulator_endpoint(&self, override_url: Option<&str>) -> Option<String> {
        self.emulator?;
        let own = self.endpoint_url.as_deref()?;
        match override_url.filter(|u| !u.is_empty()) {
            Some(o) if o.trim_end_matches('/') != own.trim_end_matches('/') => None,
            _ => Some(own.to_string()),
        }
    }

    /// The endpoint to use: an explicit override (`--endpoint-url` or
    /// `AWS_ENDPOINT_URL`) wins over the environment's `endpoint_url`;
    /// `None` means the real AWS endpoints.
    pub fn endpoint(&self, override_url: Option<&str>) -> Option<String> {
        override_url
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .or_else(|| self.endpoint_url.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(endpoint: Option<&str>) -> Environment {
        Environment {
            region: "us-east-1".into(),
            endpoint_url: endpoint.map(str::to_string),
            protected: false,
            settings: SettingsOverrides::default(),
            parameters: BTreeMap::new(),
            tags: BTreeMap::new(),
            artefact_bucket: None,
            deploy_method: None,
            termination_protection: None,
            emulator: None,
            bind: BTreeMap::new(),
            registry: None,
        }
    }

    #[test]
    fn only_an_environment_that_asks_starts_its_emulator_at_its_own_endpoint() {
        let plain = env(Some("http://127.0.0.1:5000"));
        assert_eq!(plain.emulator_endpoint(None), None);
        let moto = Environment {
            emulator: Some(EmulatorKind::Moto),
            ..plain
        };
        assert_eq!(
            moto.emulator_endpoint(None).as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            moto.emulator_endpoint(Some("http://127.0.0.1:5000/"))
                .as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(moto.emulator_endpoint(Some("http://127.0.0.1:5001")), None);
    }

    #[test]
    fn override_wins_over_the_environment_endpoint() {
        let local = env(Some("http://127.0.0.1:5000"));
        assert_eq!(
            local.endpoint(None).as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            local.endpoint(Some("http://h:1")).as_deref(),
            Some("http://h:1")
        );
        assert_eq!(
            local.endpoint(Some("")).as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(env(None).endpoint(None), None);
    }

    #[test]
    fn settings_layer_environment_over_project_over_defaults() {
        let project = SettingsOverrides {
            log_retention_days: Some(30),
            function_memory: Some(512),
            ..Default::default()
        };
        let prod = SettingsOverrides {
            log_retention_days: Some(90),
            ..Default::default()
        };
        let s = Settings::resolve(&project, &prod, false);
        assert_eq!(s.log_retention_days, 90);
        assert_eq!(s.function_memory, 512);
        assert_eq!(s.function_timeout, 10);
        assert!(!s.bucket_access_logs);
        assert!(Settings::resolve(&project, &prod, true).bucket_access_logs);
    }
}
