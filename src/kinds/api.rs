//! What the two API Gateway v2 kinds (`http_api`, `websocket_api`) share:
//! stages, throttling, and routes with their integrations and invoke
//! permissions.

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
