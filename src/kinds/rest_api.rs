//! `rest_api`: an API Gateway REST API (v1). Routes `"METHOD /path"` reach
//! a function of the stack (Lambda proxy, with an invoke permission scoped
//! to that method's ARN) or a service (HTTP proxy through the VPC link of
//! the service's load balancer). Each path segment is one
//! `AWS::ApiGateway::Resource`, shared by the routes under it. A
//! deployment (its logical id hashes the routes, so a change redeploys)
//! and a stage with JSON access logs, throttling, metrics and, in
//! protected environments, X-Ray tracing. CORS: OPTIONS methods answered by
//! API Gateway, and CORS headers on API Gateway's own 4xx/5xx answers.
//! Request validation: path parameters and declared query parameters are
//! required, and a route's `body:` JSON schema becomes a model the body is
//! checked against. Authorization is always written down: IAM, a Lambda
//! authorizer function, or none with the reason why.
//!
//! Locally (moto 5.2.1, measured): the API, resources, methods, integrations
//! and the deployment are real; `AWS::ApiGateway::Stage`, `RequestValidator`,
//! `Model`, `Authorizer` and `GatewayResponse` are placeholders, and an
//! OPTIONS method with a MOCK integration fails with HTTP 500. So an
//! emulator environment puts the stage name on the deployment and leaves
//! out the stage resource, its log group and the CORS methods.

use super::api::Throttle;
use super::http_api::ApiCors;
use super::{AlarmMetrics, Kind, Part, Resource};
use crate::aws::cloudformation::ErrorKind;
use crate::aws::resources::{Resources, RestApiState};
use crate::health::{Finding, Pending, Target};
use crate::model::source::join;
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

/// An API Gateway REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestApi {
    /// What it serves.
    #[serde(default)]
    pub description: Option<String>,
    /// Stage name (default: the environment's name; `{env}` stands for it).
    #[serde(default)]
    pub stage: Option<String>,
    /// Who may call it: `{type: iam}`, `{type: lambda, function: KEY}` or
    /// `{type: none, reason: "..."}`.
    pub authorization: Authorization,
    /// CORS: preflight answered by API Gateway (one origin, or `*`).
    #[serde(default)]
    pub cors: Option<ApiCors>,
    /// Steady rate and burst of the whole stage, per environment.
    #[serde(default)]
    pub throttle: Option<PerEnv<Throttle>>,
    /// JSON access logs to CloudWatch Logs (default true; the account needs
    /// API Gateway's CloudWatch role).
    #[serde(default)]
    pub access_logs: Option<PerEnv<bool>>,
    /// `"METHOD /path"` to what answers it.
    pub routes: BTreeMap<String, Route>,
    /// Its own limits for `health`'s `5xx` check:
    /// `{error_rate: {warn: 1, fail: 5}}` (percent; these are the defaults).
    #[serde(default)]
    pub health: Option<crate::health::metrics::RateHealth>,
}

/// What answers a route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// A function of the stack (Lambda proxy integration).
    #[serde(default)]
    pub function: Option<String>,
    /// A service of the stack, through its load balancer's VPC link.
    #[serde(default)]
    pub service: Option<String>,
    /// The JSON schema (draft 4) of the request body; API Gateway refuses
    /// bodies that do not match.
    #[serde(default)]
    pub body: Option<serde_yaml::Value>,
    /// Query string parameters the request must carry.
    #[serde(default)]
    pub query: Vec<String>,
}

/// Who may call the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// `iam` (SigV4-signed requests of principals allowed
    /// `execute-api:Invoke`), `lambda` (a function of the stack decides)
    /// or `none` (open; `reason:` says why).
    #[serde(rename = "type")]
    pub kind: AuthKind,
    /// The authorizer function (`lambda`).
    #[serde(default)]
    pub function: Option<String>,
    /// The header carrying the caller's token (`lambda`; default
    /// `Authorization`).
    #[serde(default)]
    pub header: Option<String>,
    /// Seconds an answer is cached per token, 0–3600 (`lambda`; default 300).
    #[serde(default)]
    pub cache_seconds: Option<u32>,
    /// Why the API is open to anyone (`none`).
    #[serde(default)]
    pub reason: Option<String>,
}

/// How callers are authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// SigV4 and IAM policies.
    Iam,
    /// A Lambda authorizer.
    Lambda,
    /// Nobody is asked.
    None,
}

const DEPLOYMENT: Part = Part {
    name: "deployment",
    suffix: "Deployment",
};
const STAGE: Part = super::api::STAGE;
const ACCESS_LOGS: Part = super::api::ACCESS_LOGS;
const VALIDATOR: Part = Part {
    name: "validator",
    suffix: "Validator",
};
const AUTHORIZER: Part = Part {
    name: "authorizer",
    suffix: "Authorizer",
};
const AUTHORIZER_PERMISSION: Part = Part {
    name: "authorizer_permission",
    suffix: "AuthorizerInvokes",
};
const CORS_4XX: Part = Part {
    name: "cors_4xx",
    suffix: "Cors4xx",
};
const CORS_5XX: Part = Part {
    name: "cors_5xx",
    suffix: "Cors5xx",
};

/// Methods a route may name.
const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// The physical name of REST API `key` of stack `stack_name`: the alarm
/// dimension `ApiName` must be computable in the template, so it is
/// `${AWS::StackName}-KEY`.
fn api_name(stack_name: &str, key: &str) -> String {
    format!("{stack_name}-{}", key.replace('_', "-"))
}

/// One path segment, checked: a literal (`worlds`), a parameter (`{id}`)
/// or a greedy parameter (`{proxy+}`, last only).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

impl Segment {
    fn text(&self) -> String {
        match self {
            Segment::Literal(s) => s.clone(),
            Segment::Param(p) => format!("{{{p}}}"),
            Segment::Greedy(p) => format!("{{{p}+}}"),
        }
    }
    fn id(&self) -> String {
        match self {
            Segment::Literal(s) => pascal(s),
            Segment::Param(p) => format!("Param{}", pascal(p)),
            Segment::Greedy(p) => format!("Greedy{}", pascal(p)),
        }
    }
}

/// A parsed route: `METHOD /a/{b}`.
fn parse_route(route: &str) -> Result<(String, Vec<Segment>), (String, String)> {
    let Some((method, path)) = route.split_once(' ') else {
        return Err((
            format!("route `{route}` is not `METHOD /path`"),
            "e.g. `GET /worlds/{id}`".to_string(),
        ));
    };
    if !METHODS.contains(&method) {
        let hint = match crate::diagnostics::closest(method, METHODS.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("one of {}", METHODS.join(", ")),
        };
        return Err((format!("route `{route}` has no valid method"), hint));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err((
            format!("route `{route}`: the path must start with `/`"),
            "e.g. `GET /worlds/{id}`".to_string(),
        ));
    };
    let mut segments = Vec::new();
    let parts: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    let mut params = BTreeSet::new();
    for (i, s) in parts.iter().enumerate() {
        let bad = |why: &str| {
            Err((
                format!("route `{route}`: segment `{s}` {why}"),
                "segments are letters, digits, `-`, `_`, `.`, or a parameter `{name}` (`{name+}` last)".to_string(),
            ))
        };
        let seg = if let Some(inner) = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return bad("is not a valid parameter");
            }
            if greedy && i + 1 != parts.len() {
                return bad("is greedy but not last");
            }
            if !params.insert(name.to_string()) {
                return bad("repeats a parameter name");
            }
            if greedy {
                Segment::Greedy(name.to_string())
            } else {
                Segment::Param(name.to_string())
            }
        } else if s.is_empty() {
            return bad("is empty (`//` or a trailing `/`)");
        } else if s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            Segment::Literal(s.to_string())
        } else {
            return bad("holds a character API Gateway does not take");
        };
        segments.push(seg);
    }
    Ok((method.to_string(), segments))
}

/// The logical id of the resource of `segments` under API `l`.
fn resource_id(l: &str, segments: &[Segment]) -> String {
    let mut id = format!("{l}Path");
    for s in segments {
        id.push_str(&s.id());
    }
    id
}

/// What an emulator skips the `stage` check for, and why.
const EMULATOR_STAGE: &str = "the local emulator (moto) makes the stage from the deployment";

impl RestApi {
    /// The stage name in `env` (`stage:`, else the environment's name).
    pub fn stage_in(&self, env: &str) -> String {
        super::api::stage(env, self.stage.as_deref())
    }

    /// `METHOD /path` to the integration type each route expects, with
    /// the OPTIONS methods CORS adds where it renders them.
    fn expected_methods(&self, cors_methods: bool) -> BTreeMap<String, &'static str> {
        let mut out = BTreeMap::new();
        let mut paths = BTreeSet::new();
        for (route, r) in &self.routes {
            let Ok((method, segments)) = parse_route(route) else {
                continue;
            };
            let path = format!(
                "/{}",
                segments
                    .iter()
                    .map(Segment::text)
                    .collect::<Vec<_>>()
                    .join("/")
            );
            let kind = if r.function.is_some() {
                "AWS_PROXY"
            } else {
                "HTTP_PROXY"
            };
            out.insert(format!("{method} {path}"), kind);
            paths.insert(path);
        }
        if cors_methods {
            for p in paths {
                out.entry(format!("OPTIONS {p}")).or_insert("MOCK");
            }
        }
        out
    }
}

/// The `routes` finding: every declared method exists with the integration
/// type expected; methods nobody declared warn.
fn health_routes(state: &RestApiState, expected: &BTreeMap<String, &'static str>) -> Finding {
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for (m, kind) in expected {
        match state.methods.get(m) {
            None => missing.push(m.clone()),
            Some(None) => wrong.push(format!("{m} has no integration")),
            Some(Some(i)) if !i.starts_with(kind) => {
                wrong.push(format!("{m} integrates `{i}`, expected {kind}"))
            }
            Some(Some(_)) => {}
        }
    }
    let extra: Vec<&String> = state
        .methods
        .keys()
        .filter(|m| !expected.contains_key(*m))
        .collect();
    let observed = format!("{} methods", state.methods.len());
    let expected_text = format!("{} declared methods", expected.len());
    let f = if !missing.is_empty() || !wrong.is_empty() {
        let mut what = Vec::new();
        if !missing.is_empty() {
            what.push(format!("missing: {}", missing.join(", ")));
        }
        what.extend(wrong);
        Finding::fail("routes", what.join("; ")).hint(
            "the API was changed outside the stack; `stackctl deploy` sets declared routes back",
        )
    } else if !extra.is_empty() {
        Finding::warn(
            "routes",
            format!(
                "methods nobody declared: {}",
                extra
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .hint("they were added outside the stack: declare them, or delete them")
    } else {
        Finding::pass(
            "routes",
            format!("{} methods, each with its integration", expected.len()),
        )
    };
    f.observed(observed).expected(expected_text)
}

impl Kind for RestApi {
    const NAME: &'static str = "rest_api";
    const TEMPLATE_FILE: &'static str = "rest_api.yaml.tera";
    // `local: serve`: created on the emulator, answered by `stackctl serve`.
    const BINDABLE: bool = true;
    const LOCAL_SERVER: Option<crate::model::project::LocalServer> =
        Some(crate::model::project::LocalServer::Serve);
    const TEMPLATE: &'static str = include_str!("../../templates/rest_api.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["id", "url", "stage", "root_resource_id", "name"];
    const NAMED: bool = false;
    const HEALTH_CHECKS: &'static [&'static str] = &["api", "stage", "routes", "permission", "5xx"];
    const ALARM: Option<AlarmMetrics> = Some(AlarmMetrics {
        namespace: "AWS/ApiGateway",
        dimension: "ApiName",
        metrics: &[
            "5XXError",
            "4XXError",
            "Count",
            "Latency",
            "IntegrationLatency",
            "CacheHitCount",
            "CacheMissCount",
        ],
    });

    fn name_pattern(&self) -> Option<&str> {
        None
    }

    fn graphs(&self, _cx: &Builder, key: &str) -> Vec<super::Graph> {
        use super::Graph;
        // The dimension alarms name it by.
        let name = self.alarm_dimension(key, None).unwrap_or_default();
        vec![
            Graph::of(
                "errors",
                "AWS/ApiGateway",
                "ApiName",
                name.clone(),
                &[("4XXError", "Sum"), ("5XXError", "Sum")],
            ),
            Graph::of(
                "latency",
                "AWS/ApiGateway",
                "ApiName",
                name,
                &[("Latency", "p95"), ("IntegrationLatency", "p95")],
            ),
        ]
    }

    fn name_problem(_name: &str) -> Option<String> {
        None
    }

    fn alarm_dimension(&self, key: &str, part: Option<&str>) -> Option<Json> {
        match part {
            None => {
                Some(json!({"Fn::Sub": format!("${{AWS::StackName}}-{}", key.replace('_', "-"))}))
            }
            Some(_) => None,
        }
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        crate::health::metrics::RateHealth::check(&self.health, cx, path);
        let emulated = cx.emulated();
        let protected = cx.project.file.environments[cx.env].protected;
        let stack_name = crate::names::stack_name(cx.project, &cx.stack.name, cx.env);
        let name = api_name(&stack_name, key);
        let mut parts = vec![DEPLOYMENT];
        // Authorization.
        let apath = join(path, "authorization");
        let a = &self.authorization;
        let authorizer = match a.kind {
            AuthKind::Lambda => {
                let found = match &a.function {
                    Some(f) => cx
                        .target(f, &join(&apath, "function"), &["function"])
                        .is_some(),
                    None => {
                        cx.error_hint(
                            &apath,
                            "a Lambda authorizer names no function",
                            "add `function: KEY` (a function of the stack that answers with an IAM policy)",
                        );
                        false
                    }
                };
                let cache = a.cache_seconds.unwrap_or(300);
                if !crate::limits::AUTHORIZER_CACHE_S.contains(&cache) {
                    cx.error_hint(
                        &join(&apath, "cache_seconds"),
                        format!("a cache of {cache} s is out of range"),
                        format!(
                            "{} seconds",
                            crate::limits::allowed(&crate::limits::AUTHORIZER_CACHE_S)
                        ),
                    );
                }
                parts.extend([AUTHORIZER, AUTHORIZER_PERMISSION]);
                found.then(|| {
                    json!({
                        "function": pascal(a.function.as_deref().unwrap_or_default()),
                        "header": a.header.clone().unwrap_or_else(|| "Authorization".to_string()),
                        "cache_seconds": cache.min(*crate::limits::AUTHORIZER_CACHE_S.end()),
                    })
                })
            }
            _ => None,
        };
        if a.kind != AuthKind::Lambda {
            for (field, set) in [
                ("function", a.function.is_some()),
                ("header", a.header.is_some()),
                ("cache_seconds", a.cache_seconds.is_some()),
            ] {
                if set {
                    cx.error_hint(
                        &join(&apath, field),
                        format!("`{field}:` applies to `type: lambda` only"),
                        "remove it, or use `type: lambda`",
                    );
                }
            }
        }
        match (a.kind, a.reason.as_deref().map(str::trim)) {
            (AuthKind::None, None | Some("")) => cx.error_hint(
                &apath,
                "an API open to anyone must say why",
                "add `reason: \"...\"` (e.g. \"public catalogue, read-only\"), or use `type: iam` or `type: lambda`",
            ),
            (AuthKind::Iam | AuthKind::Lambda, Some(_)) => cx.error_hint(
                &join(&apath, "reason"),
                "`reason:` explains `type: none` only",
                "remove it",
            ),
            _ => {}
        }
        let auth_type = match a.kind {
            AuthKind::Iam => "AWS_IAM",
            AuthKind::Lambda => "CUSTOM",
            AuthKind::None => "NONE",
        };
        // CORS.
        let cors = self.cors.as_ref().map(|c| {
            if c.origins.len() != 1 {
                cx.error_hint(
                    &join(&join(path, "cors"), "origins"),
                    format!(
                        "a REST API answers preflight with one origin, not {}",
                        c.origins.len()
                    ),
                    "list one origin (or `*`); a Lambda proxy can echo one of several itself",
                );
            }
            json!({
                "origin": c.origins.first().cloned().unwrap_or_else(|| "*".to_string()),
                "methods": c.methods.join(","),
                "headers": c.headers.join(","),
                "max_age": c.max_age,
            })
        });
        let cors_methods = cors.is_some() && !emulated;
        if cors_methods {
            parts.extend([CORS_4XX, CORS_5XX]);
        }
        // Routes: resources, methods, integrations.
        let mut resources: BTreeMap<Vec<Segment>, Json> = BTreeMap::new();
        let mut methods = Vec::new();
        let mut permissions: Vec<Json> = Vec::new();
        let mut seen: BTreeMap<(String, Vec<Segment>), String> = BTreeMap::new();
        let mut validated = false;
        let stack = cx.stack;
        if self.routes.is_empty() {
            cx.error_hint(
                &join(path, "routes"),
                "a REST API without routes cannot be deployed",
                "add a route, e.g. `GET /worlds: {function: KEY}`",
            );
        }
        for (route, r) in &self.routes {
            let rpath = join(&join(path, "routes"), route);
            let (method, segments) = match parse_route(route) {
                Ok(p) => p,
                Err((problem, hint)) => {
                    cx.error_hint(&rpath, problem, hint);
                    continue;
                }
            };
            // `/worlds/{id}` and `/worlds/{name}` are the same resource to
            // API Gateway.
            let shape: Vec<Segment> = segments
                .iter()
                .map(|s| match s {
                    Segment::Param(_) => Segment::Param(String::new()),
                    Segment::Greedy(_) => Segment::Greedy(String::new()),
                    other => other.clone(),
                })
                .collect();
            if let Some(other) = seen.insert((method.clone(), shape.clone()), route.clone()) {
                cx.error_hint(
                    &rpath,
                    format!("route `{route}` is the same as `{other}`"),
                    "API Gateway tells routes apart by method and path shape only: keep one",
                );
                continue;
            }
            if method == "OPTIONS" && cors.is_some() {
                cx.error_hint(
                    &rpath,
                    format!("route `{route}` clashes with the CORS preflight"),
                    "remove it, or remove `cors:` and answer preflight yourself",
                );
            }
            // Each prefix is a resource, shared by every route under it.
            for n in 1..=segments.len() {
                let prefix = &segments[..n];
                let key_shape = shape[..n].to_vec();
                if let Some(existing) = resources.get(&key_shape) {
                    if existing["part"] != json!(prefix[n - 1].text()) {
                        cx.error_hint(
                            &rpath,
                            format!(
                                "route `{route}` names parameter `{}` where another route names `{}`",
                                prefix[n - 1].text(),
                                existing["part"].as_str().unwrap_or_default()
                            ),
                            "API Gateway has one resource per path position: use the same parameter name",
                        );
                    }
                    continue;
                }
                let id = resource_id(&l, prefix);
                cx.claim(&id, &rpath);
                let parent = if n == 1 {
                    Json::Null
                } else {
                    json!(resource_id(&l, &segments[..n - 1]))
                };
                resources.insert(
                    key_shape,
                    json!({"logical": id, "part": prefix[n - 1].text(), "parent": parent}),
                );
            }
            let resource = (!segments.is_empty()).then(|| resource_id(&l, &segments));
            let ml = format!(
                "{l}{}{}",
                pascal(&method.to_lowercase()),
                if segments.is_empty() {
                    "Root".to_string()
                } else {
                    resource_id("", &segments)
                }
            );
            cx.claim(&ml, &rpath);
            // Path and query parameters, all required.
            let mut request_params = serde_json::Map::new();
            let mut integration_params = serde_json::Map::new();
            for s in &segments {
                if let Segment::Param(p) | Segment::Greedy(p) = s {
                    request_params.insert(format!("method.request.path.{p}"), json!(true));
                    integration_params.insert(
                        format!("integration.request.path.{p}"),
                        json!(format!("method.request.path.{p}")),
                    );
                }
            }
            for q in &r.query {
                if q.is_empty()
                    || !q
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                {
                    cx.error_hint(
                        &join(&rpath, "query"),
                        format!("`{q}` is not a query parameter name"),
                        "letters, digits, `_`, `-`, `.`",
                    );
                }
                request_params.insert(format!("method.request.querystring.{q}"), json!(true));
            }
            // The body's schema.
            let model = r.body.as_ref().map(|schema| {
                let m = format!("{ml}Model");
                cx.claim(&m, &rpath);
                let schema: Json = serde_json::to_value(schema).unwrap_or(Json::Null);
                if !schema.is_object() {
                    cx.error_hint(
                        &join(&rpath, "body"),
                        "`body:` is not a JSON schema object",
                        "e.g. `body: {type: object, required: [name], properties: {name: {type: string}}}`",
                    );
                }
                let mut schema = schema;
                if let Some(o) = schema.as_object_mut() {
                    o.entry("$schema")
                        .or_insert(json!("http://json-schema.org/draft-04/schema#"));
                }
                json!({"logical": m, "schema": schema})
            });
            let validate = model.is_some() || !request_params.is_empty();
            validated |= validate;
            // The integration.
            let integration = match (&r.function, &r.service) {
                (Some(f), None) => {
                    let fpath = join(&rpath, "function");
                    cx.target(f, &fpath, &["function"]).map(|_| {
                        let fl = pascal(f);
                        let permission = super::invoke_permission(&ml, &fl);
                        cx.claim(&permission, &rpath);
                        // execute-api ARNs name path parameters as `*`.
                        let arn_path: Vec<String> = segments
                            .iter()
                            .map(|s| match s {
                                Segment::Literal(t) => t.clone(),
                                _ => "*".to_string(),
                            })
                            .collect();
                        let arn_method = if method == "ANY" { "*" } else { method.as_str() };
                        permissions.push(json!({
                            "logical": permission,
                            "function": fl,
                            "source": format!(
                                "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{l}}}/*/{arn_method}/{}",
                                arn_path.join("/")
                            ),
                        }));
                        json!({"type": "AWS_PROXY", "function": fl})
                    })
                }
                (None, Some(s)) => {
                    let spath = join(&rpath, "service");
                    match stack.resources.get(s.as_str()) {
                        None => {
                            let services: Vec<&str> = stack
                                .resources
                                .iter()
                                .filter(|(_, r)| r.kind() == "service")
                                .map(|(k, _)| k.as_str())
                                .collect();
                            let d = stack
                                .source
                                .error(&spath, format!("`{s}` is not a resource of this stack"))
                                .suggest(s, services);
                            cx.diags.push(d);
                            None
                        }
                        Some(res) => {
                            match res.load_balancer() {
                                None => {
                                    cx.error_hint(
                                    &spath,
                                    format!("{} `{s}` is behind no load balancer", res.kind()),
                                    "a route reaches a service through its load balancer's VPC link: give the service `load_balancer: KEY`",
                                );
                                    None
                                }
                                Some(lb) => {
                                    match stack.resources.get(lb) {
                                        Some(Resource::LoadBalancer(b)) if b.vpc_link => {
                                            let bl = pascal(lb);
                                            let host = b.integration_host(cx, lb, &spath);
                                            let uri_path: Vec<String> =
                                                segments.iter().map(Segment::text).collect();
                                            host.map(|host| json!({
                                        "type": "HTTP_PROXY",
                                        "vpc_link": super::load_balancer::VPC_LINK.of(&bl),
                                        "uri": format!("{host}/{}", uri_path.join("/")),
                                        "parameters": integration_params,
                                    }))
                                        }
                                        Some(Resource::LoadBalancer(_)) => {
                                            cx.error_hint(
                                        &spath,
                                        format!("load balancer `{lb}` of service `{s}` has no VPC link"),
                                        format!("add `vpc_link: true` to `{lb}`"),
                                    );
                                            None
                                        }
                                        // The service reports its own missing load balancer.
                                        _ => None,
                                    }
                                }
                            }
                        }
                    }
                }
                (Some(_), Some(_)) => {
                    cx.error_hint(
                        &rpath,
                        format!("route `{route}` names both a function and a service"),
                        "keep one: `{function: KEY}` or `{service: KEY}`",
                    );
                    None
                }
                (None, None) => {
                    cx.error_hint(
                        &rpath,
                        format!("route `{route}` names nothing to answer it"),
                        "add `function: KEY` or `service: KEY`",
                    );
                    None
                }
            };
            let Some(integration) = integration else {
                continue;
            };
            methods.push(json!({
                "logical": ml,
                "method": method,
                "resource": resource,
                "integration": integration,
                "request_parameters": request_params,
                "model": model,
                "validate": validate,
            }));
        }
        if validated {
            parts.push(VALIDATOR);
        }
        let access_logs = !emulated
            && match &self.access_logs {
                Some(a) => cx.per_env(a, &join(path, "access_logs")).unwrap_or(true),
                None => true,
            };
        if !emulated {
            parts.push(STAGE);
        }
        if access_logs {
            parts.push(ACCESS_LOGS);
        }
        let throttle = self.throttle.as_ref().and_then(|t| {
            let tpath = join(path, "throttle");
            for (suffix, v) in t.written() {
                if v.rate <= 0.0 || v.burst == 0 {
                    cx.error_hint(
                        &format!("{tpath}{suffix}"),
                        "throttle rate and burst must be positive",
                        "e.g. `throttle: {rate: 50, burst: 100}`",
                    );
                }
            }
            cx.per_env(t, &tpath)
                .map(|v| json!({"rate": v.rate, "burst": v.burst}))
        });
        // The deployment's id changes with what it deploys, so CloudFormation
        // makes a new one (and the stage moves to it) when routes change.
        let resources: Vec<Json> = resources.into_values().collect();
        let fingerprint = {
            use sha2::Digest;
            let text = json!([resources, methods, cors, auth_type, authorizer]).to_string();
            hex::encode(sha2::Sha256::digest(text.as_bytes()))[..10].to_uppercase()
        };
        let deployment = format!("{}{fingerprint}", DEPLOYMENT.of(&l));
        cx.claim(&l, path);
        for p in &parts {
            cx.claim(&p.of(&l), path);
        }
        cx.claim(&deployment, path);
        let mut ids = super::ids(&l, &parts);
        ids["deployment"] = json!(deployment);
        let cors_paths: Vec<Json> = if cors_methods {
            let mut with_root = vec![Json::Null];
            with_root.extend(resources.iter().map(|r| r["logical"].clone()));
            with_root
                .into_iter()
                .filter(|r| methods.iter().any(|m| &m["resource"] == r))
                .map(|r| {
                    let id = match r.as_str() {
                        Some(id) => format!("{id}Options"),
                        None => format!("{l}OptionsRoot"),
                    };
                    cx.claim(&id, path);
                    json!({"logical": id, "resource": r})
                })
                .collect()
        } else {
            Vec::new()
        };
        json!({
            "ids": ids,
            "logical": l,
            "name": name,
            "description": self.description,
            "stage": self.stage_in(cx.env),
            "emulated": emulated,
            "auth_type": auth_type,
            "authorizer": authorizer,
            "open_reason": a.reason,
            "cors": cors,
            "cors_methods": cors_paths,
            "resources": resources,
            "methods": methods,
            "permissions": permissions,
            "validator": validated,
            "access_logs": access_logs,
            "access_log_group": format!("/aws/apigateway/{name}"),
            "log_retention_days": cx.settings.log_retention_days,
            "throttle": throttle,
            "tracing": protected || cx.settings.tracing,
            "protected": protected,
        })
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        let stage = self.stage_in(cx.env);
        match attr {
            "id" => json!({"Ref": l}),
            "url" => match super::api::served(cx, key, "http") {
                Some(base) => json!(format!("{base}/{stage}")),
                None => {
                    json!({"Fn::Sub": format!("https://${{{l}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}")})
                }
            },
            "stage" => json!(stage),
            "root_resource_id" => json!({"Fn::GetAtt": [l, "RootResourceId"]}),
            "name" => json!({"Fn::Sub": format!("${{AWS::StackName}}-{}", key.replace('_', "-"))}),
            // Not an attribute of a REST API (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    /// GetRestApi, GetStages, GetResources and GetIntegration (by the
    /// API's id, generated: every REST API of the region); GetPolicy of the
    /// functions it invokes.
    fn health_access(
        &self,
        a: &crate::health::access::AccessTarget<'_>,
    ) -> Vec<crate::health::access::Access> {
        use crate::health::access::Access;
        let mut out = vec![
            Access::new(
                "ReadRestApis",
                &["apigateway:GET"],
                format!("arn:{}:apigateway:{}::/restapis/*", a.partition(), a.region),
            ),
            Access::any(super::api::METRICS_ONLY_STAR, &["cloudwatch:GetMetricData"]),
        ];
        for f in self.invoked_functions() {
            if let Some(name) = a.property(&pascal(&f), "FunctionName") {
                out.push(Access::new(
                    "ReadInvokedFunctionPolicies",
                    &["lambda:GetPolicy"],
                    a.arn("lambda", &format!("function:{name}")),
                ));
            }
        }
        out
    }

    /// `api`, `stage` and `routes` from one read of the API; `permission`
    /// from the resource policies of the functions it invokes.
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        let read = Pending::new(&["api", "stage", "routes"], async move {
            let id = t.physical_id(&t.logical_id())?;
            let state = match aws.rest_api(id).await {
                Ok(s) => s,
                Err(e) if e.kind == ErrorKind::NotFound => {
                    let see = format!(
                        "the API does not exist (see {}/rest_api/{}/api)",
                        t.stack, t.key
                    );
                    return Ok(vec![
                        crate::health::read_failed("api", &e, t.env),
                        Finding::skip("stage", see.clone()),
                        Finding::skip("routes", see),
                    ]);
                }
                Err(e) => return Err(e.into()),
            };
            let api = Finding::pass("api", format!("REST API {} ({id}) exists", state.name))
                .observed(state.name.clone());
            let stage = self.stage_in(t.env);
            let stage_f = if state.stages.contains(&stage) {
                Finding::pass("stage", format!("stage `{stage}` is deployed"))
            } else if t.emulated && state.stages.is_empty() {
                Finding::skip("stage", EMULATOR_STAGE)
            } else {
                Finding::fail(
                    "stage",
                    format!("stage `{stage}` does not exist: the API serves nothing there"),
                )
                .hint(format!("`stackctl deploy --env {}` creates it", t.env))
            }
            .observed(state.stages.join(", "))
            .expected(stage);
            let cors_methods = self.cors.is_some() && !t.emulated;
            Ok(vec![
                api,
                stage_f,
                health_routes(&state, &self.expected_methods(cors_methods)),
            ])
        });
        let permission = Pending::new(&["permission"], async move {
            let id = t.physical_id(&t.logical_id())?;
            let mut policies = Vec::new();
            for f in self.invoked_functions() {
                let name = t.physical_id(&pascal(&f))?;
                policies.push((name.to_string(), aws.function_policy(name).await?));
            }
            Ok(vec![super::api::health_permission(id, &policies, t.env)])
        });
        vec![read, permission]
    }

    /// `5xx`: `5XXError` out of `Count` over the window, by `ApiName`.
    fn metrics<'a>(&'a self, t: Target<'a>) -> Vec<crate::health::metrics::Watch<'a>> {
        use crate::aws::resources::{MetricQuery, Stat};
        use crate::health::metrics::{self, Watch};
        let names: &'static [&'static str] = &["5xx"];
        let Some(name) = t
            .properties(&t.logical_id())
            .and_then(|p| p.get("Name"))
            .and_then(Json::as_str)
        else {
            return vec![Watch::stop(
                names,
                crate::health::Stop::Skip("the rendered template names no API".into()),
            )];
        };
        let q = |metric| MetricQuery::new("AWS/ApiGateway", metric, "ApiName", name, Stat::Sum);
        let limits = metrics::RateHealth::limits(&self.health);
        vec![Watch::new(
            names,
            vec![q("5XXError"), q("Count")],
            move |v, w| {
                vec![metrics::rate(
                    "5xx",
                    &v[0],
                    &v[1],
                    metrics::RateOf {
                        errors: "5XXError",
                        total: "Count",
                        noun: "requests",
                    },
                    limits,
                    w,
                )]
            },
        )]
    }
}

impl RestApi {
    /// The functions its routes and its authorizer invoke.
    fn invoked_functions(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self
            .routes
            .values()
            .filter_map(|r| r.function.clone())
            .collect();
        if self.authorization.kind == AuthKind::Lambda {
            out.extend(self.authorization.function.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::render;
    use super::*;

    const STACK: &str = "resources:
  worlds:
    type: function
    crate: worlds
  auth:
    type: function
    crate: auth
  api:
    type: rest_api
    authorization: {type: lambda, function: auth}
    cors: {origins: ['https://app.example.com']}
    throttle: {default: {rate: 500, burst: 1000}, dev: {rate: 50, burst: 100}}
    routes:
      GET /worlds: {function: worlds}
      POST /worlds:
        function: worlds
        body: {type: object, required: [name], properties: {name: {type: string}}}
      GET /worlds/{id}: {function: worlds}
      POST /worlds/{id}/start: {function: worlds, query: [mode]}
";

    #[test]
    fn routes_share_one_resource_per_path_segment() {
        let t = render(STACK);
        let r = &t["Resources"];
        let worlds = &r["ApiPathWorlds"]["Properties"];
        assert_eq!(worlds["PathPart"], "worlds");
        assert_eq!(
            worlds["ParentId"],
            json!({"Fn::GetAtt": ["Api", "RootResourceId"]})
        );
        assert_eq!(
            r["ApiPathWorldsParamId"]["Properties"]["ParentId"],
            json!({"Ref": "ApiPathWorlds"})
        );
        assert_eq!(
            r["ApiPathWorldsParamIdStart"]["Properties"]["PathPart"],
            "start"
        );
        let kinds: Vec<&str> = r
            .as_object()
            .unwrap()
            .values()
            .filter_map(|v| v["Type"].as_str())
            .filter(|k| *k == "AWS::ApiGateway::Resource")
            .collect();
        assert_eq!(kinds.len(), 3);
        let get = &r["ApiGetPathWorldsParamId"]["Properties"];
        assert_eq!(get["HttpMethod"], "GET");
        assert_eq!(get["AuthorizationType"], "CUSTOM");
        assert_eq!(get["AuthorizerId"], json!({"Ref": "ApiAuthorizer"}));
        assert_eq!(get["RequestParameters"]["method.request.path.id"], true);
        assert_eq!(get["Integration"]["Type"], "AWS_PROXY");
        assert_eq!(get["Integration"]["IntegrationHttpMethod"], "POST");
        let start = &r["ApiPostPathWorldsParamIdStart"]["Properties"];
        assert_eq!(
            start["RequestParameters"]["method.request.querystring.mode"],
            true
        );
        assert_eq!(start["RequestValidatorId"], json!({"Ref": "ApiValidator"}));
    }

    #[test]
    fn each_function_may_be_invoked_for_its_own_method_only() {
        let t = render(STACK);
        let p = &t["Resources"]["ApiGetPathWorldsParamIdInvokesWorlds"]["Properties"];
        assert_eq!(p["Principal"], "apigateway.amazonaws.com");
        assert_eq!(
            p["SourceArn"],
            json!({"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*/GET/worlds/*"})
        );
    }

    #[test]
    fn a_body_schema_becomes_a_model_the_validator_checks() {
        let t = render(STACK);
        let r = &t["Resources"];
        let m = &r["ApiPostPathWorldsModel"]["Properties"];
        assert_eq!(m["ContentType"], "application/json");
        assert_eq!(m["Schema"]["required"], json!(["name"]));
        assert_eq!(
            m["Schema"]["$schema"],
            "http://json-schema.org/draft-04/schema#"
        );
        let post = &r["ApiPostPathWorlds"]["Properties"];
        assert_eq!(
            post["RequestModels"]["application/json"],
            json!({"Ref": "ApiPostPathWorldsModel"})
        );
        assert_eq!(r["ApiValidator"]["Properties"]["ValidateRequestBody"], true);
    }

    #[test]
    fn the_stage_logs_json_throttles_and_cors_answers_preflight() {
        let t = render(STACK);
        let r = &t["Resources"];
        let deployment = r
            .as_object()
            .unwrap()
            .keys()
            .find(|k| k.starts_with("ApiDeployment"))
            .unwrap()
            .clone();
        let s = &r["ApiStage"]["Properties"];
        assert_eq!(s["StageName"], "dev");
        assert_eq!(s["DeploymentId"], json!({"Ref": deployment}));
        assert_eq!(
            s["AccessLogSetting"]["DestinationArn"],
            json!({"Fn::GetAtt": ["ApiAccessLogs", "Arn"]})
        );
        assert!(s["AccessLogSetting"]["Format"]
            .as_str()
            .unwrap()
            .contains("$context.requestId"));
        assert_eq!(s["MethodSettings"][0]["ThrottlingRateLimit"], 50);
        assert_eq!(s["MethodSettings"][0]["ThrottlingBurstLimit"], 100);
        assert_eq!(s["TracingEnabled"], false);
        // One preflight per resource with a method (the root has none).
        let options = &r["ApiPathWorldsOptions"]["Properties"];
        assert_eq!(options["HttpMethod"], "OPTIONS");
        assert_eq!(options["Integration"]["Type"], "MOCK");
        assert_eq!(
            options["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
                ["method.response.header.Access-Control-Allow-Origin"],
            "'https://app.example.com'"
        );
        assert!(r.get("ApiOptionsRoot").is_none());
        assert_eq!(r["ApiCors4xx"]["Properties"]["ResponseType"], "DEFAULT_4XX");
    }

    #[test]
    fn a_change_of_routes_is_a_new_deployment() {
        let id = |t: &Json| {
            t["Resources"]
                .as_object()
                .unwrap()
                .keys()
                .find(|k| k.starts_with("ApiDeployment"))
                .unwrap()
                .clone()
        };
        let a = id(&render(STACK));
        let b = id(&render(&STACK.replace("GET /worlds:", "GET /all:")));
        assert_ne!(a, b);
        assert_eq!(a, id(&render(STACK)));
    }

    #[test]
    fn routes_are_parsed_and_checked() {
        assert!(parse_route("GET /worlds/{id}").is_ok());
        assert!(parse_route("GET /").unwrap().1.is_empty());
        assert!(parse_route("GIT /x").unwrap_err().1.contains("GET"));
        assert!(parse_route("GET worlds").is_err());
        assert!(parse_route("GET /a//b").is_err());
        assert!(parse_route("GET /{p+}/x").unwrap_err().0.contains("greedy"));
        assert!(parse_route("GET /{id}/{id}").is_err());
        assert!(parse_route("GET /a b").is_err());
    }

    #[test]
    fn health_routes_fail_on_missing_or_wrong_integrations() {
        use crate::health::Status;
        let expected: BTreeMap<String, &'static str> =
            [("GET /worlds".to_string(), "AWS_PROXY")].into();
        let state = |m: &[(&str, Option<&str>)]| RestApiState {
            name: "api".into(),
            stages: vec!["dev".into()],
            methods: m
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        };
        let ok = health_routes(
            &state(&[("GET /worlds", Some("AWS_PROXY arn:x"))]),
            &expected,
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        let wrong = health_routes(&state(&[("GET /worlds", Some("MOCK "))]), &expected);
        assert_eq!(wrong.status, Status::Fail);
        let missing = health_routes(&state(&[]), &expected);
        assert_eq!(missing.status, Status::Fail);
        assert!(missing.reason.contains("GET /worlds"));
        let extra = health_routes(
            &state(&[("GET /worlds", Some("AWS_PROXY a")), ("DELETE /x", None)]),
            &expected,
        );
        assert_eq!(extra.status, Status::Warn);
    }
}
