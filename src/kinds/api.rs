//! What the two API Gateway v2 kinds (`http_api`, `websocket_api`) share:
//! stages, throttling, and routes with their integrations and invoke
//! permissions.

use crate::aws::cloudformation::ErrorKind;
use crate::aws::resources::{ApiState, MetricQuery, Resources, Stat};
use crate::health::metrics::{self, Series, Watch, Window};
use crate::health::{Finding, Pending, Status, Stop, Target};
use crate::model::source::join;
use crate::names::pascal;
use crate::render::context::Builder;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// An API's stage.
pub const STAGE: super::Part = super::Part {
    name: "stage",
    suffix: "Stage",
};
/// The log group of an API's access logs.
pub const ACCESS_LOGS: super::Part = super::Part {
    name: "access_logs",
    suffix: "AccessLogs",
};

/// `["*"]`, the default of allow-lists.
pub fn star() -> Vec<String> {
    vec!["*".to_string()]
}

/// API throttling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// Steady requests per second.
    pub rate: f64,
    /// Burst size.
    pub burst: u32,
}

/// The stage name in `env`: `stage:` (where `{env}` is the environment's
/// name), else the environment's name.
pub fn stage(env: &str, stage: Option<&str>) -> String {
    stage.unwrap_or("{env}").replace("{env}", env)
}

/// Where `stackctl serve` answers for API `key` in this environment, when
/// the environment binds it there (`bind: {STACK: {KEY: {local: serve,
/// port: N}}}`): `http://HOST:PORT` (`scheme` `ws` for a WebSocket API's
/// clients). The API is still created on the emulator; only its address
/// is serve's.
pub fn served(cx: &Builder, key: &str, scheme: &str) -> Option<String> {
    cx.binding(key)
        .filter(|b| b.local == Some(crate::model::project::LocalServer::Serve))
        .map(|b| format!("{scheme}://{}:{}", b.host, b.port))
}

/// The throttling values of a template, checked.
pub fn throttle(cx: &mut Builder, t: &Option<Throttle>, path: &str) -> Json {
    match t {
        Some(t) => {
            if t.rate <= 0.0 || t.burst == 0 {
                cx.error_hint(
                    &join(path, "throttle"),
                    "throttle rate and burst must be positive",
                    "e.g. `throttle: {rate: 50, burst: 100}`",
                );
            }
            json!({"rate": t.rate, "burst": t.burst})
        }
        None => Json::Null,
    }
}

/// The integrations (one per function) and routes of an API with logical
/// id `l`, checked: HTTP routes are `METHOD /path`, WebSocket routes are
/// route keys.
pub fn routes(
    cx: &mut Builder,
    l: &str,
    routes: &BTreeMap<String, String>,
    path: &str,
    http: bool,
) -> (Vec<Json>, Vec<Json>) {
    let mut integrations: BTreeMap<String, Json> = BTreeMap::new();
    let mut out = Vec::new();
    for (route, function) in routes {
        let rpath = join(&join(path, "routes"), route);
        if http {
            if route != "$default" {
                let (method, p) = route.split_once(' ').unwrap_or(("", ""));
                let methods = [
                    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
                ];
                if !methods.contains(&method) {
                    let d = cx
                        .stack
                        .source
                        .error(&rpath, format!("route `{route}` has no valid method"))
                        .suggest(method, methods);
                    cx.diags.push(d);
                } else if !p.starts_with('/') {
                    cx.error_hint(
                        &rpath,
                        format!("route `{route}` has no path"),
                        "write routes as `METHOD /path`, e.g. `POST /video/upload/create`",
                    );
                }
            }
        } else if route.is_empty() || route.contains(' ') {
            cx.error_hint(
                &rpath,
                format!("route key `{route}` is invalid"),
                "use `$connect`, `$disconnect`, `$default` or an action name",
            );
        }
        if cx.target(function, &rpath, &["function"]).is_none() {
            continue;
        }
        let fl = pascal(function);
        let integration = format!("{l}{fl}Integration");
        if !integrations.contains_key(function) {
            cx.claim(&integration, &rpath);
            let permission = super::invoke_permission(l, &fl);
            cx.claim(&permission, &rpath);
            integrations.insert(
                function.clone(),
                json!({"logical": integration, "function": fl, "permission": permission}),
            );
        }
        let rl = format!("{l}Route{}", pascal(route));
        cx.claim(&rl, &rpath);
        out.push(json!({"logical": rl, "key": route, "integration": integration}));
    }
    (integrations.into_values().collect(), out)
}

/// What an alarm on an API may watch (both kinds, for now: one list).
pub const ALARM: super::AlarmMetrics = super::AlarmMetrics {
    namespace: "AWS/ApiGateway",
    dimension: "ApiId",
    metrics: &[
        "4xx",
        "5xx",
        "Count",
        "Latency",
        "IntegrationLatency",
        "ConnectCount",
        "MessageCount",
        "ClientError",
        "ExecutionError",
        "IntegrationError",
    ],
};

/// API names: at most 128 characters.
pub fn name_problem(name: &str) -> Option<String> {
    crate::limits::simple_problem("API name", name, 128, "-_. ")
}

/// The checks one read of an API decides: it exists with its protocol,
/// its stage exists, each declared route points at its function.
const READ_CHECKS: &[&str] = &["api", "stage", "routes"];
/// The check of the functions' resource policies.
const PERMISSION_CHECKS: &[&str] = &["permission"];

/// The health checks of both API kinds; the last is judged on metrics
/// (`5xx` for an HTTP API, `integration_errors` for a WebSocket API).
pub const HTTP_HEALTH_CHECKS: &[&str] = &["api", "stage", "routes", "permission", "5xx"];
/// See [`HTTP_HEALTH_CHECKS`].
pub const WEBSOCKET_HEALTH_CHECKS: &[&str] =
    &["api", "stage", "routes", "permission", "integration_errors"];

/// Why API checks skip on the emulator.
pub const EMULATOR_SKIP: &str = "the emulator's CloudFormation creates no API Gateway v2 resources (placeholders without an id), so there is nothing to check";

/// What the rendered template declares for the API with logical id `l`:
/// its stage, its routes with the function (logical id) each invokes, and
/// the functions whose permission lets it invoke them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// The stage's name.
    pub stage: Option<String>,
    /// Each route key and the function its integration invokes (`None`
    /// when the template names none stackctl can read).
    pub routes: Vec<(String, Option<String>)>,
    /// The functions an `AWS::Lambda::Permission` lets this API invoke.
    pub invokers: std::collections::BTreeSet<String>,
}

/// Whether `v` is `{"Ref": l}`.
fn refers(v: Option<&Json>, l: &str) -> bool {
    v.and_then(|v| v.get("Ref")).and_then(Json::as_str) == Some(l)
}

/// The logical id of the function a rendered integration URI or function
/// name points at: `{"Fn::GetAtt": [F, "Arn"]}`, `{"Fn::GetAtt": "F.Arn"}`,
/// or a `Fn::Sub` holding `${F.Arn}`.
fn function_of(v: &Json) -> Option<String> {
    if let Some(g) = v.get("Fn::GetAtt") {
        return match g {
            Json::Array(a) => a.first().and_then(Json::as_str).map(str::to_string),
            Json::String(s) => s.split('.').next().map(str::to_string),
            _ => None,
        };
    }
    let sub = v.get("Fn::Sub")?;
    let text = sub.as_str().or_else(|| sub.get(0).and_then(Json::as_str))?;
    text.split("${")
        .skip(1)
        .filter_map(|part| part.split('}').next())
        .find_map(|var| var.strip_suffix(".Arn"))
        .map(str::to_string)
}

/// What `template` declares for the API `l` (see [`Declared`]).
pub fn declared(template: &Json, l: &str) -> Declared {
    let empty = serde_json::Map::new();
    let resources = template
        .get("Resources")
        .and_then(Json::as_object)
        .unwrap_or(&empty);
    let props = |id: &str| resources.get(id).and_then(|r| r.get("Properties"));
    let mut d = Declared::default();
    for r in resources.values() {
        let p = r.get("Properties");
        let field = |k: &str| p.and_then(|p| p.get(k));
        match r.get("Type").and_then(Json::as_str).unwrap_or_default() {
            "AWS::ApiGatewayV2::Stage" if refers(field("ApiId"), l) => {
                d.stage = field("StageName")
                    .and_then(Json::as_str)
                    .map(str::to_string);
            }
            "AWS::ApiGatewayV2::Route" if refers(field("ApiId"), l) => {
                let key = field("RouteKey").and_then(Json::as_str).unwrap_or_default();
                // `integrations/${Integration}`
                let integration = field("Target")
                    .and_then(|t| t.get("Fn::Sub"))
                    .and_then(Json::as_str)
                    .and_then(|t| t.strip_prefix("integrations/${"))
                    .and_then(|t| t.strip_suffix('}'));
                let function = integration
                    .and_then(props)
                    .and_then(|p| p.get("IntegrationUri"))
                    .and_then(function_of);
                d.routes.push((key.to_string(), function));
            }
            "AWS::Lambda::Permission"
                if field("Principal").and_then(Json::as_str)
                    == Some("apigateway.amazonaws.com")
                    && field("SourceArn")
                        .and_then(|s| s.get("Fn::Sub"))
                        .and_then(Json::as_str)
                        .is_some_and(|s| s.contains(&format!("${{{l}}}/"))) =>
            {
                if let Some(f) = field("FunctionName").and_then(function_of) {
                    d.invokers.insert(f);
                }
            }
            _ => {}
        }
    }
    d.routes.sort();
    d
}

/// The function name in an integration URI: a function's ARN
/// (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`), alone or inside
/// `arn:aws:apigateway:...:lambda:path/2015-03-31/functions/ARN/invocations`.
pub fn function_in_uri(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once(":function:")?;
    rest.split([':', '/']).next().filter(|n| !n.is_empty())
}

/// `api`: the API exists, with the declared protocol.
pub fn health_api(state: &ApiState, protocol: &str) -> Finding {
    let observed = format!("ProtocolType {}", state.protocol);
    let expected = format!("ProtocolType {protocol}");
    if state.protocol == protocol {
        Finding::pass("api", format!("{protocol} API with {} routes", state.routes.len()))
    } else {
        Finding::fail("api", format!("a {} API, not {protocol}", state.protocol))
            .hint("the API was replaced outside the stack; `stackctl diff` shows what a deploy would set back")
    }
    .observed(observed)
    .expected(expected)
}

/// `stage`: the declared stage exists.
pub fn health_stage(state: &ApiState, declared: &Declared, env: &str, stack: &str) -> Finding {
    let Some(stage) = &declared.stage else {
        return Finding::skip("stage", "the rendered template declares no stage for it");
    };
    let observed = if state.stages.is_empty() {
        "no stages".to_string()
    } else {
        format!("stages {}", state.stages.join(", "))
    };
    if state.stages.contains(stage) {
        Finding::pass("stage", format!("stage {stage} is deployed"))
    } else {
        Finding::fail("stage", format!("stage {stage} does not exist: the API serves nothing there"))
            .hint(format!("it was deleted outside CloudFormation, which does not recreate it on the next deploy: remove the API's stage from the stack (or the API), `stackctl deploy --env {env} {stack}`, and add it back"))
    }
    .observed(observed)
    .expected(format!("stage {stage}"))
}

/// `routes`: each declared route exists and its integration invokes the
/// declared function (`functions`: physical name by logical id). A route
/// missing or invoking another function fails; a route nobody declared
/// warns.
pub fn health_routes(
    state: &ApiState,
    declared: &Declared,
    functions: &BTreeMap<String, String>,
    env: &str,
) -> Finding {
    let invoked = |target: Option<&str>| -> Option<&str> {
        let id = target?.strip_prefix("integrations/")?;
        let uri = state
            .integrations
            .iter()
            .find(|(i, _)| i == id)?
            .1
            .as_deref()?;
        function_in_uri(uri)
    };
    let deployed: BTreeMap<&str, Option<&str>> = state
        .routes
        .iter()
        .map(|(k, t)| (k.as_str(), invoked(t.as_deref())))
        .collect();
    let mut wrong = Vec::new();
    let mut expected = Vec::new();
    for (key, function) in &declared.routes {
        let want = function.as_ref().and_then(|f| functions.get(f));
        let want_text = want
            .map(String::as_str)
            .unwrap_or("(a function of the stack)");
        expected.push(format!("{key} → {want_text}"));
        match (deployed.get(key.as_str()), want) {
            (None, _) => wrong.push(format!("route `{key}` is missing")),
            (Some(None), _) => wrong.push(format!("route `{key}` invokes no function")),
            (Some(Some(got)), Some(want)) if got != want => {
                wrong.push(format!("route `{key}` invokes {got}, not {want}"))
            }
            _ => {}
        }
    }
    let extra: Vec<&str> = deployed
        .keys()
        .filter(|k| !declared.routes.iter().any(|(d, _)| d == *k))
        .copied()
        .collect();
    let observed: Vec<String> = deployed
        .iter()
        .map(|(k, f)| format!("{k} → {}", f.unwrap_or("(nothing)")))
        .collect();
    let f = if !wrong.is_empty() {
        Finding::fail("routes", wrong.join("; ")).hint(format!(
            "the API was changed outside the stack; `stackctl deploy --env {env}` sets declared routes back (delete a route or integration made by hand first)"
        ))
    } else if !extra.is_empty() {
        Finding::warn(
            "routes",
            format!("routes nobody declared: {}", extra.join(", ")),
        )
        .hint("they were added outside the stack: declare them, or delete them (`aws apigatewayv2 delete-route`)")
    } else {
        Finding::pass(
            "routes",
            format!(
                "{} routes, each invoking its function",
                declared.routes.len()
            ),
        )
    };
    let none = || "none".to_string();
    f.observed(if observed.is_empty() {
        none()
    } else {
        observed.join(", ")
    })
    .expected(if expected.is_empty() {
        none()
    } else {
        expected.join(", ")
    })
}

/// Whether `policy` (a Lambda resource policy, JSON) lets API Gateway
/// invoke the function for the API `api_id`: `Some(true)` with a
/// `SourceArn` naming the API, `Some(false)` for a statement allowing any
/// API (no `SourceArn`), `None` when no statement lets this API in.
pub fn policy_allows(policy: &str, api_id: &str) -> Option<bool> {
    let v: Json = serde_json::from_str(policy).ok()?;
    let statements = match v.get("Statement")? {
        Json::Array(a) => a.clone(),
        s => vec![s.clone()],
    };
    let strings = |v: Option<&Json>| -> Vec<String> {
        match v {
            Some(Json::String(s)) => vec![s.clone()],
            Some(Json::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut open = false;
    for s in &statements {
        let allow = s.get("Effect").and_then(Json::as_str) == Some("Allow");
        let service = strings(s.get("Principal").and_then(|p| p.get("Service")))
            .iter()
            .any(|p| p == "apigateway.amazonaws.com");
        let action = strings(s.get("Action"))
            .iter()
            .any(|a| matches!(a.as_str(), "lambda:InvokeFunction" | "lambda:*" | "*"));
        if !(allow && service && action) {
            continue;
        }
        let sources: Vec<String> = s
            .get("Condition")
            .and_then(Json::as_object)
            .into_iter()
            .flat_map(|c| c.values())
            .filter_map(Json::as_object)
            .flat_map(|o| o.iter())
            .filter(|(k, _)| k.eq_ignore_ascii_case("AWS:SourceArn"))
            .flat_map(|(_, v)| strings(Some(v)))
            .collect();
        if sources.is_empty() {
            open = true;
            continue;
        }
        // arn:PARTITION:execute-api:REGION:ACCOUNT:API_ID/...
        let names_api = |arn: &str| {
            arn.splitn(6, ':')
                .nth(5)
                .is_some_and(|rest| rest.split('/').next() == Some(api_id))
        };
        if sources.iter().any(|a| names_api(a)) {
            return Some(true);
        }
    }
    open.then_some(false)
}

/// `permission`: each function the API invokes lets API Gateway invoke it
/// for this API (`policies`: each function's name and resource policy).
pub fn health_permission(
    api_id: &str,
    policies: &[(String, Option<String>)],
    env: &str,
) -> Finding {
    let mut missing = Vec::new();
    let mut open = Vec::new();
    for (name, policy) in policies {
        match policy.as_deref().and_then(|p| policy_allows(p, api_id)) {
            Some(true) => {}
            Some(false) => open.push(name.as_str()),
            None => missing.push(name.as_str()),
        }
    }
    let expected = format!(
        "a statement allowing apigateway.amazonaws.com lambda:InvokeFunction with SourceArn arn:...:execute-api:...:{api_id}/*"
    );
    let f = if !missing.is_empty() {
        Finding::fail(
            "permission",
            format!("API Gateway may not invoke {} for this API: its calls fail with 500", missing.join(", ")),
        )
        .observed(format!("no statement for API {api_id} in the resource policy of {}", missing.join(", ")))
        .hint(format!("the permission was removed outside the stack; `stackctl deploy --env {env}` does not recreate an unchanged one: `aws lambda add-permission --function-name NAME --statement-id apigateway-{api_id} --action lambda:InvokeFunction --principal apigateway.amazonaws.com --source-arn 'arn:aws:execute-api:REGION:ACCOUNT:{api_id}/*'`"))
    } else if !open.is_empty() {
        Finding::warn(
            "permission",
            format!("any API Gateway API may invoke {}: no SourceArn condition", open.join(", ")),
        )
        .observed(format!("a statement for apigateway.amazonaws.com without SourceArn on {}", open.join(", ")))
        .hint("remove the statement made by hand (`aws lambda remove-permission`); the stack's own names this API")
    } else if policies.is_empty() {
        Finding::skip(
            "permission",
            "the rendered template names no function this API invokes",
        )
    } else {
        let names: Vec<&str> = policies.iter().map(|(n, _)| n.as_str()).collect();
        Finding::pass(
            "permission",
            format!("API Gateway may invoke {} for this API", names.join(", ")),
        )
        .observed(format!(
            "a statement with this API's SourceArn on {}",
            names.join(", ")
        ))
    };
    f.expected(expected)
}

/// The API's id: its physical id; on the emulator, whose CloudFormation
/// lists the API without one, a `skip` that says so.
fn api_id<'a>(t: &Target<'a>) -> Result<&'a str, Stop> {
    match t.physical_id(&t.logical_id()) {
        Err(_) if t.emulated => Err(Stop::Skip(EMULATOR_SKIP.to_string())),
        other => other,
    }
}

/// The read checks of an API of `protocol` (`HTTP`, `WEBSOCKET`): one read
/// of the API decides `api`, `stage` and `routes`; the functions'
/// policies decide `permission`.
pub fn health<'a, R: Resources>(
    t: Target<'a>,
    aws: &'a R,
    protocol: &'static str,
) -> Vec<Pending<'a>> {
    let read = Pending::new(READ_CHECKS, async move {
        let id = api_id(&t)?;
        let declared = declared(t.template, &t.logical_id());
        let state = match aws.api(id).await {
            Ok(state) => state,
            Err(e) if e.kind == ErrorKind::NotFound => {
                let see = format!(
                    "the API does not exist (see {}/{}/{}/api)",
                    t.stack,
                    kind_name(protocol),
                    t.key
                );
                return Ok(vec![
                    crate::health::read_failed("api", &e, t.env),
                    Finding::skip("stage", see.clone()),
                    Finding::skip("routes", see),
                ]);
            }
            Err(e) => return Err(e.into()),
        };
        Ok(vec![
            health_api(&state, protocol),
            health_stage(&state, &declared, t.env, t.stack),
            health_routes(&state, &declared, &t.deployed.resources, t.env),
        ])
    });
    let permission = Pending::new(PERMISSION_CHECKS, async move {
        let id = api_id(&t)?;
        let declared = declared(t.template, &t.logical_id());
        let mut policies = Vec::new();
        for f in &declared.invokers {
            let name = t.physical_id(f)?;
            policies.push((name.to_string(), aws.function_policy(name).await?));
        }
        Ok(vec![health_permission(id, &policies, t.env)])
    });
    vec![read, permission]
}

/// The kind's name for an API of `protocol`.
fn kind_name(protocol: &str) -> &'static str {
    if protocol == "HTTP" {
        "http_api"
    } else {
        "websocket_api"
    }
}

/// The metric check of an API of `protocol` over the window: `5xx` (an
/// HTTP API's `5xx` / `Count`) or `integration_errors` (a WebSocket API's
/// `IntegrationError` / `ConnectCount` + `MessageCount`), against
/// `limits` (the API's `health.error_rate`, else [`metrics::ERROR_RATE`]).
pub fn metrics<'a>(
    t: Target<'a>,
    protocol: &'static str,
    limits: metrics::RateLimits,
) -> Vec<Watch<'a>> {
    let http = protocol == "HTTP";
    let names: &'static [&'static str] = if http {
        &["5xx"]
    } else {
        &["integration_errors"]
    };
    let id = match api_id(&t) {
        Ok(id) => id,
        Err(stop) => return vec![Watch::stop(names, stop)],
    };
    let q = |metric| MetricQuery::new("AWS/ApiGateway", metric, "ApiId", id, Stat::Sum);
    if http {
        vec![Watch::new(
            names,
            vec![q("5xx"), q("Count")],
            move |v, w| {
                let f = metrics::rate(
                    "5xx",
                    &v[0],
                    &v[1],
                    metrics::RateOf {
                        errors: "5xx",
                        total: "Count",
                        noun: "requests",
                    },
                    limits,
                    w,
                );
                vec![rate_hint(f, w)]
            },
        )]
    } else {
        let queries = vec![q("IntegrationError"), q("ConnectCount"), q("MessageCount")];
        vec![Watch::new(names, queries, move |v, w| {
            let total = Series {
                values: v[1].values.iter().chain(&v[2].values).copied().collect(),
            };
            let f = metrics::rate(
                "integration_errors",
                &v[0],
                &total,
                metrics::RateOf {
                    errors: "IntegrationError",
                    total: "ConnectCount + MessageCount",
                    noun: "connections and messages",
                },
                limits,
                w,
            );
            vec![rate_hint(f, w)]
        })]
    }
}

/// A hint on a rate that warns or fails: where the failing calls are.
fn rate_hint(f: Finding, w: &Window) -> Finding {
    match f.status {
        Status::Warn | Status::Fail => f.hint(format!(
            "its functions' `errors` checks and logs say which failed (`aws logs tail /aws/lambda/NAME --since {}`); the API's access logs hold each request's status",
            w.text()
        )),
        _ => f,
    }
}

/// What an API's checks read, for `health --print-policy`: the API, its
/// stages, routes and integrations (`apigateway:GET`; its id is generated,
/// so every API of the region), and its error metrics.
pub fn health_access(
    a: &crate::health::access::AccessTarget<'_>,
) -> Vec<crate::health::access::Access> {
    use crate::health::access::Access;
    vec![
        Access::new(
            "ReadApis",
            &["apigateway:GET"],
            format!("arn:{}:apigateway:{}::/apis/*", a.partition(), a.region),
        ),
        Access::any(METRICS_ONLY_STAR, &["cloudwatch:GetMetricData"]),
    ]
}

/// The Sid of GetMetricData, which IAM grants only on `*`.
pub const METRICS_ONLY_STAR: &str = "MetricsOnlyStar";
