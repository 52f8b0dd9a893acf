//! What `serve` runs, worked out before anything starts: every API of the
//! selected stacks that the environment binds to `serve` (its port, stage,
//! routes and authorizer, from the stack file), and every function of
//! those stacks as deployed (its physical name, environment, timeout and
//! memory, read back from Lambda; its code, the zip `build` wrote and
//! `deploy` publishes). A stack that is not deployed, or an API that is not
//! bound, stops serve here with what to do.

use crate::aws::cloudformation::SdkCloudFormation;
use crate::exit::UsageError;
use crate::kinds::Resource;
use crate::model::project::LocalServer;
use crate::names::pascal;
use crate::scope::Scope;
use anyhow::{anyhow, Context as _};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// A function of a stack: `STACK/KEY`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FnId {
    /// The stack.
    pub stack: String,
    /// The function's resource key.
    pub key: String,
}

impl std::fmt::Display for FnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.stack, self.key)
    }
}

/// A function as deployed, and the code to run for it.
#[derive(Debug, Clone)]
pub struct FunctionPlan {
    /// Which one.
    pub id: FnId,
    /// Its physical name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// The zip `build` writes for it (relative to the project root).
    pub zip: PathBuf,
    /// Its timeout.
    pub timeout: Duration,
    /// Its memory, in MB.
    pub memory_mb: u32,
    /// Its environment variables as deployed.
    pub env: BTreeMap<String, String>,
}

/// Which API Gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    /// An HTTP API (payload format 2.0).
    Http,
    /// A REST API (Lambda proxy integrations).
    Rest,
    /// A WebSocket API.
    Websocket,
}

impl ApiKind {
    /// Its kind's name in stack files.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKind::Http => "http_api",
            ApiKind::Rest => "rest_api",
            ApiKind::Websocket => "websocket_api",
        }
    }
}

/// What answers a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// A function of the stack.
    Function(FnId),
    /// A service behind the stack's load balancer, which serve does not run.
    Service(String),
}

/// One route.
#[derive(Debug, Clone)]
pub struct RoutePlan {
    /// `METHOD /path`, or a WebSocket route key.
    pub key: String,
    /// What answers it.
    pub target: RouteTarget,
    /// Whether it skips the API's authorizer.
    pub public: bool,
    /// Request parameters API Gateway requires (REST, in its spelling:
    /// `method.request.querystring.q`).
    pub required: Vec<String>,
    /// The JSON schema API Gateway checks the body against (REST).
    pub body: Option<serde_json::Value>,
}

/// Who may call an API.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Anyone.
    None,
    /// An HTTP API's Lambda authorizer (payload 2.0, simple responses).
    HttpLambda {
        /// The authorizer function.
        function: FnId,
        /// Identity sources (`$request.header.Authorization`, ...).
        identity: Vec<String>,
        /// Seconds an answer is cached per identity.
        cache_seconds: u32,
    },
    /// A REST API's TOKEN authorizer.
    RestLambda {
        /// The authorizer function.
        function: FnId,
        /// The header with the token.
        header: String,
        /// Seconds an answer is cached per token.
        cache_seconds: u32,
    },
    /// SigV4-signed requests (a REST API's `iam`).
    Iam,
}

/// An HTTP API's CORS settings, which API Gateway applies itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Allowed origins (`*` for any).
    pub origins: Vec<String>,
    /// Allowed methods.
    pub methods: Vec<String>,
    /// Allowed request headers.
    pub headers: Vec<String>,
    /// Seconds a preflight answer may be cached.
    pub max_age: Option<u32>,
}

/// An API serve answers for.
#[derive(Debug, Clone)]
pub struct ApiPlan {
    /// Its stack.
    pub stack: String,
    /// Its resource key.
    pub key: String,
    /// Which API Gateway.
    pub kind: ApiKind,
    /// The address serve listens on (the binding's).
    pub host: String,
    /// The port (the binding's).
    pub port: u16,
    /// Its stage in this environment (`$default` serves at the root).
    pub stage: String,
    /// Its id on the emulator (for events' `apiId`).
    pub api_id: String,
    /// Its routes.
    pub routes: Vec<RoutePlan>,
    /// Who may call it.
    pub auth: Auth,
    /// A WebSocket API's route selection expression.
    pub route_selection: String,
    /// An HTTP API's CORS.
    pub cors: Option<Cors>,
}

impl ApiPlan {
    /// `STACK/KEY`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.stack, self.key)
    }

    /// The base URL clients use (the API's `url` in this environment).
    pub fn url(&self) -> String {
        let scheme = if self.kind == ApiKind::Websocket {
            "ws"
        } else {
            "http"
        };
        let stage = if self.stage == "$default" {
            String::new()
        } else {
            format!("/{}", self.stage)
        };
        format!("{scheme}://{}:{}{stage}", self.host, self.port)
    }
}

/// Everything serve runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The environment.
    pub env: String,
    /// Its region.
    pub region: String,
    /// Every function of the selected stacks.
    pub functions: BTreeMap<FnId, FunctionPlan>,
    /// The APIs, in stack order then key order.
    pub apis: Vec<ApiPlan>,
    /// Each selected stack as deployed, in deployment order.
    pub deployed: Vec<(String, crate::health::Deployed)>,
    /// The account the stacks are in.
    pub account: String,
}

/// The APIs of the selected stacks as declared: their kind, stage, routes
/// and authorizer; with the port of their `serve` binding. An API without
/// one is an error naming the line to add.
pub fn apis(scope: &Scope) -> anyhow::Result<Vec<ApiPlan>> {
    let env = &scope.env;
    let bindings = &scope.environment().bind;
    let mut out = Vec::new();
    let mut unbound = Vec::new();
    for stack in &scope.stacks {
        let resources = &scope.project.stacks[stack].resources;
        for (key, r) in resources {
            let kind = match r {
                Resource::HttpApi(_) => ApiKind::Http,
                Resource::RestApi(_) => ApiKind::Rest,
                Resource::WebsocketApi(_) => ApiKind::Websocket,
                _ => continue,
            };
            let bound = bindings
                .get(stack)
                .and_then(|b| b.get(key))
                .map(|b| b.bound(&scope.project.file.project, env))
                .filter(|b| b.local == Some(LocalServer::Serve));
            let Some(bound) = bound else {
                unbound.push(format!("{stack}: {{{key}: {{local: serve, port: PORT}}}}"));
                continue;
            };
            let f = |k: &str| FnId {
                stack: stack.clone(),
                key: k.to_string(),
            };
            let cors = match r {
                Resource::HttpApi(a) => a.cors.as_ref().map(|c| Cors {
                    origins: c.origins.clone(),
                    methods: c.methods.clone(),
                    headers: c.headers.clone(),
                    max_age: c.max_age,
                }),
                _ => None,
            };
            let (stage, routes, auth, route_selection) = match r {
                Resource::HttpApi(a) => {
                    let public: BTreeSet<&String> = a.public.iter().collect();
                    let routes = a
                        .routes
                        .iter()
                        .map(|(k, func)| RoutePlan {
                            key: k.clone(),
                            target: RouteTarget::Function(f(func)),
                            public: public.contains(k),
                            required: Vec::new(),
                            body: None,
                        })
                        .collect();
                    let auth = match &a.authorizer {
                        Some(z) => Auth::HttpLambda {
                            function: f(&z.function),
                            identity: z.identity.clone().unwrap_or_else(|| {
                                vec!["$request.header.Authorization".to_string()]
                            }),
                            cache_seconds: z.cache_seconds.unwrap_or(300),
                        },
                        None => Auth::None,
                    };
                    (
                        crate::kinds::api::stage(env, a.stage.as_deref()),
                        routes,
                        auth,
                        String::new(),
                    )
                }
                Resource::RestApi(a) => {
                    use crate::kinds::rest_api::AuthKind;
                    let routes = a
                        .routes
                        .iter()
                        .map(|(k, route)| RoutePlan {
                            key: k.clone(),
                            target: match (&route.function, &route.service) {
                                (Some(func), _) => RouteTarget::Function(f(func)),
                                (None, Some(s)) => RouteTarget::Service(s.clone()),
                                // Validation requires one of them.
                                (None, None) => RouteTarget::Service(String::new()),
                            },
                            public: false,
                            required: route
                                .query
                                .iter()
                                .map(|q| format!("method.request.querystring.{q}"))
                                .collect(),
                            body: route
                                .body
                                .as_ref()
                                .and_then(|b| serde_json::to_value(b).ok()),
                        })
                        .collect();
                    let z = &a.authorization;
                    let auth = match z.kind {
                        AuthKind::None => Auth::None,
                        AuthKind::Iam => Auth::Iam,
                        AuthKind::Lambda => Auth::RestLambda {
                            function: f(z.function.as_deref().unwrap_or_default()),
                            header: z
                                .header
                                .clone()
                                .unwrap_or_else(|| "Authorization".to_string()),
                            cache_seconds: z.cache_seconds.unwrap_or(300),
                        },
                    };
                    (a.stage_in(env), routes, auth, String::new())
                }
                Resource::WebsocketApi(a) => {
                    let routes = a
                        .routes
                        .iter()
                        .map(|(k, func)| RoutePlan {
                            key: k.clone(),
                            target: RouteTarget::Function(f(func)),
                            public: true,
                            required: Vec::new(),
                            body: None,
                        })
                        .collect();
                    (
                        crate::kinds::api::stage(env, a.stage.as_deref()),
                        routes,
                        Auth::None,
                        a.route_selection
                            .clone()
                            .unwrap_or_else(|| "$request.body.action".to_string()),
                    )
                }
                _ => unreachable!("matched above"),
            };
            out.push(ApiPlan {
                stack: stack.clone(),
                key: key.clone(),
                kind,
                host: bound.host,
                port: bound.port,
                stage,
                api_id: String::new(),
                routes,
                auth,
                route_selection,
                cors,
            });
        }
    }
    if !unbound.is_empty() {
        return Err(UsageError::new(format!(
            "serve answers for the APIs environment `{env}` binds to it, and {} not bound\nhint: add to environments.{env}.bind in stackctl.yaml, one free port each:\n{}",
            if unbound.len() == 1 { "this one is" } else { "these are" },
            unbound
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ))
        .into());
    }
    Ok(out)
}

/// The plan: [`apis`], with every function of the selected stacks read
/// back from the deployed stacks and Lambda.
pub async fn plan(scope: &Scope, sdk: &aws_config::SdkConfig) -> anyhow::Result<Plan> {
    let mut apis = apis(scope)?;
    let cfn = SdkCloudFormation::new(sdk);
    let lambda = crate::aws::functions::SdkFunctions::new(sdk);
    let env = &scope.env;
    let mut functions = BTreeMap::new();
    let mut stacks = Vec::new();
    let mut account = String::new();
    for stack in &scope.stacks {
        let rendered = scope.rendered(stack);
        let deployed = match super::sources::deployed(&cfn, rendered).await {
            Ok(Some((d, a))) => {
                account = a;
                d
            }
            Ok(None) => {
                return Err(UsageError::new(format!(
                    "stack {stack} is not deployed in `{env}` ({} does not exist)\nhint: stackctl deploy --env {env} {stack}",
                    rendered.stack_name
                ))
                .into())
            }
            Err(e) => return Err(anyhow!("reading stack {}: {e}", rendered.stack_name)),
        };
        for api in apis.iter_mut().filter(|a| &a.stack == stack) {
            api.api_id = deployed
                .resources
                .get(&pascal(&api.key))
                .cloned()
                .unwrap_or_else(|| api.key.clone());
        }
        for (key, r) in &scope.project.stacks[stack].resources {
            let Resource::Function(f) = r else { continue };
            let id = FnId {
                stack: stack.clone(),
                key: key.clone(),
            };
            let Some(name) = deployed
                .resources
                .get(&pascal(key))
                .filter(|n| !n.is_empty())
            else {
                return Err(UsageError::new(format!(
                    "function {id} is not in the deployed stack {}\nhint: stackctl deploy --env {env} {stack}",
                    rendered.stack_name
                ))
                .into());
            };
            let config = lambda
                .configuration(name)
                .await
                .with_context(|| format!("reading function {id} ({name})"))?;
            let arch = crate::kinds::function::architecture(f, env);
            functions.insert(
                id.clone(),
                FunctionPlan {
                    id,
                    name: name.clone(),
                    arn: config.arn,
                    zip: crate::build::zip_path(&crate::kinds::function::crate_name(key, f), arch),
                    timeout: Duration::from_secs(config.timeout_seconds.max(1)),
                    memory_mb: config.memory_mb,
                    env: config.env,
                },
            );
        }
        stacks.push((stack.clone(), deployed));
    }
    Ok(Plan {
        env: env.clone(),
        region: scope.environment().region.clone(),
        functions,
        apis,
        deployed: stacks,
        account,
    })
}
