//! Resource kinds. Each kind is one module holding everything about it: its
//! YAML model (serde, `deny_unknown_fields`), its checks, how it resolves for
//! an environment into what its template lays out, its built-in template,
//! its attributes (`${key.ATTR}`) and the CloudFormation each renders to,
//! what a grant on it means in IAM, the metrics an alarm on it may watch, and
//! its physical-name rule.
//!
//! The rest of stackctl reaches kinds only through [`Resource`], which the
//! [`kinds!`] registry below generates with every dispatch exhaustive: adding
//! a kind is one module implementing [`Kind`] and one registry line.

pub mod agent_memory;
pub mod alarm;
pub mod api;
pub mod bucket;
pub mod cache;
pub mod cdn;
pub mod dashboard;
pub mod database;
pub mod event_bus;
pub mod event_rule;
pub mod function;
pub mod http_api;
pub mod key;
pub mod load_balancer;
pub mod network;
pub mod queue;
pub mod raw;
pub mod raw_cfn;
pub mod rest_api;
pub mod role;
pub mod schedule;
pub mod secret;
pub mod service;
pub mod table;
pub mod topic;
pub mod trail;
pub mod websocket_api;

use crate::diagnostics::Diagnostics;
use crate::model::source::Source;
use crate::model::typed::{entry, Typed};
use crate::render::context::Builder;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

/// The CloudWatch metrics an alarm on a kind may watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmMetrics {
    /// `AWS/Lambda`, ...
    pub namespace: &'static str,
    /// The dimension naming the resource (its `Ref` is the value).
    pub dimension: &'static str,
    /// The metrics stackctl knows, for checks and hints.
    pub metrics: &'static [&'static str],
}

/// One graph of a `dashboard`: metrics of one resource, in one namespace,
/// under the dimensions naming it.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// What it shows, e.g. `throttles`; the dashboard puts the resource's
    /// key before it.
    pub title: &'static str,
    /// `AWS/DynamoDB`, ...
    pub namespace: &'static str,
    /// (name, value): the value a CloudFormation expression.
    pub dimensions: Vec<(&'static str, Json)>,
    /// (metric, statistic): `Sum`, `Average`, `Maximum`, `p95`, ...
    pub metrics: &'static [(&'static str, &'static str)],
}

impl Graph {
    /// A graph of metrics under one dimension.
    pub fn of(
        title: &'static str,
        namespace: &'static str,
        dimension: &'static str,
        value: Json,
        metrics: &'static [(&'static str, &'static str)],
    ) -> Self {
        Graph {
            title,
            namespace,
            dimensions: vec![(dimension, value)],
            metrics,
        }
    }
}

/// How a grant on a resource involves a customer-managed `key` (logical id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyUse {
    /// The resource is the key.
    Direct(String),
    /// The resource is encrypted with the key.
    Through(String),
}

/// What every resource kind provides. Implemented once per kind module.
pub trait Kind: DeserializeOwned {
    /// Its `type:` name, also the stem of its template's file name.
    const NAME: &'static str;
    /// Its template's file name (`NAME.yaml.tera`); a project's
    /// `templates/` may override it.
    const TEMPLATE_FILE: &'static str;
    /// Its built-in template.
    const TEMPLATE: &'static str;
    /// The attributes `${key.ATTR}` may name.
    const ATTRIBUTES: &'static [&'static str];
    /// The access levels a function's grant on it may name (none: not a
    /// grant target).
    const GRANT_LEVELS: &'static [&'static str] = &[];
    /// Whether a grant on it may be limited to a key prefix.
    const GRANT_PREFIX: bool = false;
    /// What an alarm on it may watch (none: not an alarm target).
    const ALARM: Option<AlarmMetrics> = None;
    /// Whether it has a physical name from the naming pattern.
    const NAMED: bool = true;
    /// Whether an environment may bind it to an existing server instead of
    /// creating it (`environments.ENV.bind.STACK.KEY`).
    const BINDABLE: bool = false;
    /// The server stackctl starts on loopback for a `local:` binding of it.
    const LOCAL_SERVER: Option<crate::model::project::LocalServer> = None;
    /// Whether it runs code stackctl builds: its code's S3 key is a
    /// template parameter (`<Key>CodeKey`) set at deploy time.
    const BUILT: bool = false;
    /// The names of its health checks, the last part of their ids
    /// (`STACK/KIND/KEY/NAME`); none: `health` has no checks for it yet.
    const HEALTH_CHECKS: &'static [&'static str] = &[];

    /// The physical-name pattern the user set, if any.
    fn name_pattern(&self) -> Option<&str>;
    /// Why `name` cannot be this kind's physical name (AWS's rules).
    fn name_problem(name: &str) -> Option<String>;
    /// Resolves the resource for one environment: the values its template
    /// sees as `r`. Problems go to the builder's diagnostics.
    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json;
    /// The CloudFormation expression of `${key.attr}`; `attr` is one of
    /// [`Kind::ATTRIBUTES`] (checked before).
    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, path: &str) -> Json;
    /// Whether access `level` on it writes (a grant that writes to an
    /// encrypted resource also makes data keys).
    fn writes(level: &str) -> bool {
        let _ = level;
        false
    }

    /// The `key` resource (stack key) it is encrypted with, if any.
    fn encryption_key(&self) -> Option<&str> {
        None
    }

    /// The `key` a grant on it needs: the key itself (`Direct`), or the one
    /// it is encrypted with (`Through`, which needs the key's use besides
    /// the grant's own statement).
    fn key_use(&self, key: &str) -> Option<KeyUse> {
        let _ = key;
        self.encryption_key()
            .map(|k| KeyUse::Through(crate::names::pascal(k)))
    }

    /// The value of the alarm dimension naming it (or its `part`, as in
    /// `target: KEY.PART`); `None` when it has no such part.
    fn alarm_dimension(&self, key: &str, part: Option<&str>) -> Option<Json> {
        match part {
            None => Some(serde_json::json!({"Ref": crate::names::pascal(key)})),
            Some(_) => None,
        }
    }

    /// The AWS services that use a `key` of `stack` (its resource key) on
    /// this resource's behalf, such as SNS delivering to an encrypted queue;
    /// the key's policy lets them.
    fn key_services(&self, stack: &crate::model::Stack) -> Vec<(String, &'static str)> {
        let _ = stack;
        Vec::new()
    }

    /// Environment variables a grant of `level` on it gives the function
    /// (a database's host, port, name and secret), by name.
    fn grant_environment(&self, cx: &mut Builder, key: &str, level: &str) -> Vec<(String, Json)> {
        let _ = (cx, key, level);
        Vec::new()
    }

    /// The `network` resource (stack key) it sits on, if any: it then has
    /// a security group of its own ([`network::SECURITY_GROUP`]) that the
    /// network's `allow` rules open.
    fn network(&self) -> Option<&str> {
        None
    }

    /// What a `dashboard` of its stack shows of it (none: nothing).
    fn graphs(&self, cx: &Builder, key: &str) -> Vec<Graph> {
        let _ = (cx, key);
        Vec::new()
    }

    /// The `load_balancer` of the stack that routes HTTP to it, if any (a
    /// `service`): REST API routes and CDN origins naming it reach it
    /// through that load balancer (its `dns` and `vpc_link` attributes).
    fn load_balancer(&self) -> Option<&str> {
        None
    }

    /// The crate under `services/` that `stackctl build` makes its container
    /// image of, if it runs one (a `service`): the image's reference by
    /// digest is the template parameter `<Key>Image` ([`IMAGE`]), set at
    /// deploy time; while it is empty the resource waits for its image
    /// (its repository exists, nothing runs it yet).
    fn image_crate<'a>(&'a self, key: &'a str) -> Option<std::borrow::Cow<'a, str>> {
        let _ = key;
        None
    }

    /// Whether it invokes function `function` (a resource key)
    /// asynchronously: Lambda retries and then drops a failed event, so such
    /// a function gets a dead-letter queue.
    fn invokes_async(&self, function: &str) -> bool {
        let _ = function;
        false
    }

    /// The health checks of a deployed resource of this kind, as work for
    /// the runner ([`crate::health`]): each [`Pending`](crate::health::Pending)
    /// decides some of [`Kind::HEALTH_CHECKS`] through read-only calls on
    /// `aws`. Nothing runs until the runner polls it, so the runner may also
    /// ask only for the names (of a stack that is not deployed, say).
    fn health<'a, R: crate::aws::resources::Resources>(
        &'a self,
        target: crate::health::Target<'a>,
        aws: &'a R,
    ) -> Vec<crate::health::Pending<'a>> {
        let _ = (target, aws);
        Vec::new()
    }

    /// What its health checks read, for `health --print-policy`: the
    /// read-only IAM actions each check calls and the ARNs they act on, as
    /// narrow as IAM allows ([`Access::any`](crate::health::access::Access::any)
    /// for actions that take only `*`, with a `Sid` saying so). Declare one
    /// [`Access`](crate::health::access::Access) per (actions, resource)
    /// of every check in [`Kind::HEALTH_CHECKS`]; `a` names the resource's
    /// rendered properties and builds ARNs.
    fn health_access(
        &self,
        a: &crate::health::access::AccessTarget<'_>,
    ) -> Vec<crate::health::access::Access> {
        let _ = a;
        Vec::new()
    }

    /// The health checks of a deployed resource of this kind that are
    /// judged on CloudWatch metrics over the run's window: each
    /// [`Watch`](crate::health::metrics::Watch) names some of
    /// [`Kind::HEALTH_CHECKS`], the metrics it needs and how to judge them.
    /// The runner fetches the metrics of every resource at once
    /// ([`crate::health::metrics::evaluate`]).
    fn metrics<'a>(
        &'a self,
        target: crate::health::Target<'a>,
    ) -> Vec<crate::health::metrics::Watch<'a>> {
        let _ = target;
        Vec::new()
    }

    /// The IAM statement granting `level` (one of [`Kind::GRANT_LEVELS`],
    /// checked before) on it, limited to keys under `prefixes` where the
    /// kind takes them (none: not limited); problems at `path`.
    fn grant(
        &self,
        cx: &mut Builder,
        key: &str,
        level: &str,
        prefixes: &[String],
        path: &str,
    ) -> Option<Json> {
        let _ = (cx, key, level, prefixes, path);
        None
    }

    /// What a grant of `level` on it gives a container (a `service`) when
    /// that differs from a function's: secret values ECS injects into the
    /// container (`Secrets`, by ARN: never plain environment values) and
    /// the plain environment besides. `Some`: the grant's statement goes to
    /// the service's execution role (ECS reads the secrets), not its task
    /// role. `None`: as for a function.
    fn container_grant(&self, cx: &mut Builder, key: &str, level: &str) -> Option<ContainerGrant> {
        let _ = (cx, key, level);
        None
    }

    /// Where an alarm on `metric` of it (or its `part`) reads: the namespace
    /// and every dimension naming it. By default [`Kind::ALARM`]'s namespace
    /// and its one dimension ([`Kind::alarm_dimension`]); a kind named by
    /// more than one dimension (an ECS service: cluster and service) or
    /// whose metrics span namespaces overrides it. `None`: no such part.
    fn alarm_target(
        &self,
        cx: &mut Builder,
        key: &str,
        part: Option<&str>,
        metric: &str,
    ) -> Option<AlarmTarget> {
        let _ = (cx, metric);
        let a = Self::ALARM?;
        let value = self.alarm_dimension(key, part)?;
        Some(AlarmTarget {
            namespace: a.namespace,
            dimensions: vec![(a.dimension.to_string(), value)],
        })
    }
}

/// The registry: one line per kind, `Variant => module::Type`. Generates
/// [`Resource`] and every dispatch over kinds, each one exhaustive.
macro_rules! kinds {
    ($($variant:ident => $ty:ty),* $(,)?) => {
        /// A typed resource of a stack file: one variant per kind.
        #[derive(Debug, Clone)]
        pub enum Resource {
            $(
                #[doc = concat!("A `", stringify!($variant), "` resource.")]
                $variant($ty),
            )*
        }

        /// Every kind's `type:` name, in registry order.
        pub const KINDS: &[&str] = &[$(<$ty as Kind>::NAME),*];

        /// What each kind declares, without a value of it.
        const PROBES: &[Probe] = &[$(Probe {
            kind: <$ty as Kind>::NAME,
            levels: <$ty as Kind>::GRANT_LEVELS,
            bindable: <$ty as Kind>::BINDABLE,
            alarm: <$ty as Kind>::ALARM,
            health: !<$ty as Kind>::HEALTH_CHECKS.is_empty(),
        }),*];

        /// Every kind's built-in template: (file name, text).
        pub const TEMPLATES: &[(&str, &str)] = &[$((<$ty as Kind>::TEMPLATE_FILE, <$ty as Kind>::TEMPLATE)),*];

        impl Resource {
            /// The kind's `type:` name.
            pub fn kind(&self) -> &'static str {
                match self { $(Resource::$variant(_) => <$ty as Kind>::NAME,)* }
            }

            /// The physical-name pattern the user set, if any.
            pub fn name_pattern(&self) -> Option<&str> {
                match self { $(Resource::$variant(r) => r.name_pattern(),)* }
            }

            /// Whether the kind gets a physical name.
            pub fn named(&self) -> bool {
                match self { $(Resource::$variant(_) => <$ty as Kind>::NAMED,)* }
            }

            /// Whether an environment may bind it to an existing server.
            pub fn bindable(&self) -> bool {
                match self { $(Resource::$variant(_) => <$ty as Kind>::BINDABLE,)* }
            }

            /// The server stackctl starts for a `local:` binding of it.
            pub fn local_server(&self) -> Option<crate::model::project::LocalServer> {
                match self { $(Resource::$variant(_) => <$ty as Kind>::LOCAL_SERVER,)* }
            }

            /// Whether it runs code stackctl builds.
            pub fn built(&self) -> bool {
                match self { $(Resource::$variant(_) => <$ty as Kind>::BUILT,)* }
            }

            /// Why `name` cannot be this resource's physical name.
            pub fn name_problem(&self, name: &str) -> Option<String> {
                match self { $(Resource::$variant(_) => <$ty as Kind>::name_problem(name),)* }
            }

            /// The attributes `${key.ATTR}` may name.
            pub fn attributes(&self) -> &'static [&'static str] {
                match self { $(Resource::$variant(_) => <$ty as Kind>::ATTRIBUTES,)* }
            }

            /// The access levels a grant on it may name.
            pub fn grant_levels(&self) -> &'static [&'static str] {
                match self { $(Resource::$variant(_) => <$ty as Kind>::GRANT_LEVELS,)* }
            }

            /// Whether a grant on it may be limited to a key prefix.
            pub fn grant_prefix(&self) -> bool {
                match self { $(Resource::$variant(_) => <$ty as Kind>::GRANT_PREFIX,)* }
            }

            /// Whether access `level` on it writes.
            pub fn writes(&self, level: &str) -> bool {
                match self { $(Resource::$variant(_) => <$ty as Kind>::writes(level),)* }
            }

            /// What a grant of `level` on it puts in the function's
            /// environment (see [`Kind::grant_environment`]).
            pub fn grant_environment(&self, cx: &mut Builder, key: &str, level: &str) -> Vec<(String, Json)> {
                match self { $(Resource::$variant(r) => r.grant_environment(cx, key, level),)* }
            }

            /// The network it sits on (see [`Kind::network`]).
            pub fn network(&self) -> Option<&str> {
                match self { $(Resource::$variant(r) => r.network(),)* }
            }

            /// The stack key it is encrypted with (see [`Kind::encryption_key`]).
            pub fn encryption_key(&self) -> Option<&str> {
                match self { $(Resource::$variant(r) => r.encryption_key(),)* }
            }

            /// The key a grant on it needs (see [`Kind::key_use`]).
            pub fn key_use(&self, key: &str) -> Option<KeyUse> {
                match self { $(Resource::$variant(r) => r.key_use(key),)* }
            }

            /// The alarm dimension's value for it (see [`Kind::alarm_dimension`]).
            pub fn alarm_dimension(&self, key: &str, part: Option<&str>) -> Option<Json> {
                match self { $(Resource::$variant(r) => r.alarm_dimension(key, part),)* }
            }

            /// The services using a key on its behalf (see [`Kind::key_services`]).
            pub fn key_services(&self, stack: &crate::model::Stack) -> Vec<(String, &'static str)> {
                match self { $(Resource::$variant(r) => r.key_services(stack),)* }
            }

            /// What a dashboard shows of it (see [`Kind::graphs`]).
            pub fn graphs(&self, cx: &Builder, key: &str) -> Vec<Graph> {
                match self { $(Resource::$variant(r) => r.graphs(cx, key),)* }
            }

            /// The load balancer routing HTTP to it (see [`Kind::load_balancer`]).
            pub fn load_balancer(&self) -> Option<&str> {
                match self { $(Resource::$variant(r) => r.load_balancer(),)* }
            }

            /// The crate its container image is built from (see [`Kind::image_crate`]).
            pub fn image_crate<'a>(&'a self, key: &'a str) -> Option<std::borrow::Cow<'a, str>> {
                match self { $(Resource::$variant(r) => r.image_crate(key),)* }
            }

            /// Whether it invokes `function` asynchronously (see [`Kind::invokes_async`]).
            pub fn invokes_async(&self, function: &str) -> bool {
                match self { $(Resource::$variant(r) => r.invokes_async(function),)* }
            }

            /// What an alarm on it may watch.
            pub fn alarm(&self) -> Option<AlarmMetrics> {
                match self { $(Resource::$variant(_) => <$ty as Kind>::ALARM,)* }
            }

            /// Resolves it for one environment (see [`Kind::resolve`]).
            pub fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
                match self { $(Resource::$variant(r) => r.resolve(cx, key, path),)* }
            }

            /// `${key.attr}` (see [`Kind::attribute`]).
            pub fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, path: &str) -> Json {
                match self { $(Resource::$variant(r) => r.attribute(cx, key, attr, path),)* }
            }

            /// The names of its health checks (see [`Kind::HEALTH_CHECKS`]).
            pub fn health_checks(&self) -> &'static [&'static str] {
                match self { $(Resource::$variant(_) => <$ty as Kind>::HEALTH_CHECKS,)* }
            }

            /// Its health checks, not run yet (see [`Kind::health`]).
            pub fn health<'a, R: crate::aws::resources::Resources>(
                &'a self,
                target: crate::health::Target<'a>,
                aws: &'a R,
            ) -> Vec<crate::health::Pending<'a>> {
                match self { $(Resource::$variant(r) => r.health(target, aws),)* }
            }

            /// What its health checks read (see [`Kind::health_access`]).
            pub fn health_access(
                &self,
                a: &crate::health::access::AccessTarget<'_>,
            ) -> Vec<crate::health::access::Access> {
                match self { $(Resource::$variant(r) => r.health_access(a),)* }
            }

            /// Its metric checks, not fetched yet (see [`Kind::metrics`]).
            pub fn metrics<'a>(
                &'a self,
                target: crate::health::Target<'a>,
            ) -> Vec<crate::health::metrics::Watch<'a>> {
                match self { $(Resource::$variant(r) => r.metrics(target),)* }
            }

            /// The statement granting `level` on it (see [`Kind::grant`]).
            pub fn grant(
                &self,
                cx: &mut Builder,
                key: &str,
                level: &str,
                prefixes: &[String],
                path: &str,
            ) -> Option<Json> {
                match self { $(Resource::$variant(r) => r.grant(cx, key, level, prefixes, path),)* }
            }

            /// What a grant gives a container (see [`Kind::container_grant`]).
            pub fn container_grant(&self, cx: &mut Builder, key: &str, level: &str) -> Option<ContainerGrant> {
                match self { $(Resource::$variant(r) => r.container_grant(cx, key, level),)* }
            }

            /// Where an alarm on it reads (see [`Kind::alarm_target`]).
            pub fn alarm_target(&self, cx: &mut Builder, key: &str, part: Option<&str>, metric: &str) -> Option<AlarmTarget> {
                match self { $(Resource::$variant(r) => r.alarm_target(cx, key, part, metric),)* }
            }
        }

        /// Reads a resource of `kind` (its `type:`, already removed from
        /// `value`) at `path`; `None` when no kind has that name.
        pub fn read(
            kind: &str,
            source: &Source,
            path: &str,
            value: serde_yaml::Value,
            diags: &mut Diagnostics,
        ) -> Option<Typed<Resource>> {
            $(
                if kind == <$ty as Kind>::NAME {
                    return Some(match entry::<$ty>(source, path, value, true, diags) {
                        Typed::Full(t) => Typed::Full(Resource::$variant(t)),
                        Typed::StandIn(t) => Typed::StandIn(Resource::$variant(t)),
                        Typed::Dropped => Typed::Dropped,
                    });
                }
            )*
            None
        }
    };
}

kinds! {
    Bucket => bucket::Bucket,
    Table => table::Table,
    Function => function::Function,
    HttpApi => http_api::HttpApi,
    WebsocketApi => websocket_api::WebsocketApi,
    Schedule => schedule::Schedule,
    Alarm => alarm::Alarm,
    Key => key::Key,
    Queue => queue::Queue,
    Topic => topic::Topic,
    Secret => secret::Secret,
    Network => network::Network,
    Database => database::Database,
    Cache => cache::Cache,
    Raw => raw::Raw,
    Dashboard => dashboard::Dashboard,
    Trail => trail::Trail,
    LoadBalancer => load_balancer::LoadBalancer,
    RestApi => rest_api::RestApi,
    Cdn => cdn::Cdn,
    Service => service::Service,
    EventBus => event_bus::EventBus,
    EventRule => event_rule::EventRule,
    Role => role::Role,
    AgentMemory => agent_memory::AgentMemory,
}

/// The kinds a function may be granted access to, in registry order.
pub fn grant_targets() -> Vec<&'static str> {
    targets(|r| !r.grant_levels().is_empty())
}

/// The kinds an environment may bind to an existing server.
pub fn bindable_kinds() -> Vec<&'static str> {
    targets(|r| r.bindable)
}

/// The kinds `health` has checks for, in registry order.
pub fn health_kinds() -> Vec<&'static str> {
    targets(|r| r.health)
}

/// The kinds an alarm may watch, in registry order.
pub fn alarm_targets() -> Vec<&'static str> {
    targets(|r| r.alarm().is_some())
}

fn targets(keep: impl Fn(&Probe) -> bool) -> Vec<&'static str> {
    PROBES.iter().filter(|p| keep(p)).map(|p| p.kind).collect()
}

/// What a kind declares, without a value of it.
struct Probe {
    kind: &'static str,
    bindable: bool,
    levels: &'static [&'static str],
    alarm: Option<AlarmMetrics>,
    health: bool,
}

impl Probe {
    fn grant_levels(&self) -> &'static [&'static str] {
        self.levels
    }
    fn alarm(&self) -> Option<AlarmMetrics> {
        self.alarm
    }
}

/// A logical id a kind lays out beside a resource's own: the resource's id
/// and a suffix (`Uploads` + `Policy`). Each is declared once, as a
/// constant of its kind: the kind's Rust names it with [`Part::of`], its
/// template with `r.ids.NAME` (see [`ids`]).
#[derive(Debug, Clone, Copy)]
pub struct Part {
    /// The name templates use (`r.ids.policy`).
    pub name: &'static str,
    /// What follows the resource's logical id.
    pub suffix: &'static str,
}

impl Part {
    /// This part's logical id beside the resource with id `logical`.
    pub fn of(self, logical: &str) -> String {
        format!("{logical}{}", self.suffix)
    }
}

/// The logical ids of `parts` beside `logical`, by name, for a template's
/// `r.ids`.
pub fn ids(logical: &str, parts: &[Part]) -> Json {
    Json::Object(
        parts
            .iter()
            .map(|p| (p.name.to_string(), Json::String(p.of(logical))))
            .collect(),
    )
}

/// The template parameter holding the S3 key of a built resource's code.
pub const CODE_KEY: Part = Part {
    name: "code_key",
    suffix: "CodeKey",
};

/// The template parameter holding a service's container image, by digest
/// (`REPOSITORY_URI@sha256:…`); empty until its first image is pushed.
pub const IMAGE: Part = Part {
    name: "image",
    suffix: "Image",
};

/// The permission letting the resource with id `source` invoke the function
/// with id `function` (bucket notifications, topic subscriptions, routes).
pub fn invoke_permission(source: &str, function: &str) -> String {
    format!("{source}Invokes{function}")
}

/// What CloudFormation does with a resource's data when the resource leaves
/// the stack (`DeletionPolicy` and `UpdateReplacePolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum DeletionPolicy {
    /// Delete it.
    Delete,
    /// Keep it, outside the stack.
    Retain,
    /// Keep it, unless the stack creating it fails and rolls back.
    RetainExceptOnCreate,
    /// Delete it after a final snapshot (databases, volumes).
    Snapshot,
}

impl DeletionPolicy {
    /// `Retain` when `retain`, else `Delete`.
    pub fn retaining(retain: bool) -> Self {
        if retain {
            DeletionPolicy::Retain
        } else {
            DeletionPolicy::Delete
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Renders a stack of one file for kinds' tests: what a kind produces,
    //! seen through the whole pipeline.

    use serde_json::Value as Json;

    /// The `dev` template of a project whose only stack (`app`) is `stack`,
    /// as JSON, with the crates its functions name present.
    pub fn render(stack: &str) -> Json {
        render_in("", stack)
    }

    /// As [`render`], with `dev` taking `env_fields` (YAML at four spaces).
    pub fn render_in(env_fields: &str, stack: &str) -> Json {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("stacks")).unwrap();
        std::fs::write(
            root.join("stackctl.yaml"),
            format!("project: kinds\nstacks:\n  app: {{}}\nenvironments:\n  dev:\n    region: us-east-1\n{env_fields}"),
        )
        .unwrap();
        std::fs::write(root.join("stacks/app.yaml"), stack).unwrap();
        for line in stack.lines() {
            if let Some(name) = line.trim().strip_prefix("crate: ") {
                // A function's crate is under lambdas/, a service's under
                // services/: both exist, whichever kind names it.
                for dir in ["lambdas", "services"] {
                    let c = root.join(dir).join(name);
                    std::fs::create_dir_all(&c).unwrap();
                    std::fs::write(c.join("Cargo.toml"), "").unwrap();
                }
            }
        }
        let (_, rendered) =
            crate::validate::project_for(root, "dev").unwrap_or_else(|d| panic!("{d}"));
        crate::diff::parse_template(&rendered[0].template).unwrap()
    }

    /// The statements of the role of function `logical`.
    pub fn statements(template: &Json, logical: &str) -> Vec<Json> {
        template["Resources"][super::function::ROLE.of(logical)]["Properties"]["Policies"][0]
            ["PolicyDocument"]["Statement"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The statement with id `sid`.
    pub fn statement(template: &Json, logical: &str, sid: &str) -> Json {
        statements(template, logical)
            .into_iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
    }
}

/// What a grant gives a container (see [`Kind::container_grant`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerGrant {
    /// Plain environment variables (host, port, names: never secret values).
    pub environment: Vec<(String, Json)>,
    /// Secret values ECS injects: (variable, `valueFrom`: a secret's ARN,
    /// with `:JSON_KEY::` to pick one key of a JSON secret).
    pub secrets: Vec<(String, Json)>,
}

/// Where an alarm reads its metric (see [`Kind::alarm_target`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmTarget {
    /// `AWS/ECS`, ...
    pub namespace: &'static str,
    /// (dimension name, value), every one naming the resource.
    pub dimensions: Vec<(String, Json)>,
}

/// The condition that holds once a service's image is pushed (its
/// [`IMAGE`] parameter is not empty): what runs the image waits for it.
pub const HAS_IMAGE: Part = Part {
    name: "has_image",
    suffix: "HasImage",
};
