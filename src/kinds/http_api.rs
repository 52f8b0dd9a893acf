//! `http_api`: an API Gateway v2 HTTP API routing `METHOD /path` to
//! functions, with an auto-deployed stage, JSON access logs, CORS and
//! throttling. Alarms: `AWS/ApiGateway`.

use super::api::{self, Throttle};
use super::{AlarmMetrics, Kind};
use crate::model::source::{index, join};
use crate::names::pascal;
use crate::render::context::Builder;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// CORS of an HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiCors {
    /// Allowed origins (default `*`).
    #[serde(default = "api::star")]
    pub origins: Vec<String>,
    /// Allowed methods (default `*`).
    #[serde(default = "api::star")]
    pub methods: Vec<String>,
    /// Allowed headers (default `*`).
    #[serde(default = "api::star")]
    pub headers: Vec<String>,
    /// Seconds a preflight answer is cached.
    #[serde(default)]
    pub max_age: Option<u32>,
}

/// A Lambda authorizer: a function of the stack that answers, for each
/// request, whether it may pass (API Gateway's simple responses,
/// `{"isAuthorized": bool, "context": {...}}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorizer {
    /// The function that decides.
    pub function: String,
    /// Where the caller's identity is (default
    /// `[$request.header.Authorization]`); a request without it is refused
    /// before the function runs.
    #[serde(default)]
    pub identity: Option<Vec<String>>,
    /// Seconds an answer is cached per identity, 0–3600 (default 300).
    #[serde(default)]
    pub cache_seconds: Option<u32>,
}

/// API Gateway v2 HTTP API routing to functions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpApi {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// What it serves.
    #[serde(default)]
    pub description: Option<String>,
    /// Stage name (default: the environment's name); `$default` serves at the root.
    #[serde(default)]
    pub stage: Option<String>,
    /// CORS.
    #[serde(default)]
    pub cors: Option<ApiCors>,
    /// `"METHOD /path"` to function key.
    pub routes: BTreeMap<String, String>,
    /// Default route throttling.
    #[serde(default)]
    pub throttle: Option<Throttle>,
    /// Every route asks this authorizer, except the `public` ones.
    #[serde(default)]
    pub authorizer: Option<Authorizer>,
    /// Routes open to anyone even with an authorizer (a webhook that checks
    /// its own signature, say).
    #[serde(default)]
    pub public: Vec<String>,
    /// Its own limits for `health`'s `5xx` check:
    /// `{error_rate: {warn: 1, fail: 5}}` (percent; these are the defaults).
    #[serde(default)]
    pub health: Option<crate::health::metrics::RateHealth>,
}

const AUTHORIZER: super::Part = super::Part {
    name: "authorizer",
    suffix: "Authorizer",
};
const AUTHORIZER_PERMISSION: super::Part = super::Part {
    name: "authorizer_permission",
    suffix: "AuthorizerInvokes",
};

impl Kind for HttpApi {
    const NAME: &'static str = "http_api";
    const TEMPLATE_FILE: &'static str = "http_api.yaml.tera";
    // `local: serve`: created on the emulator, answered by `stackctl serve`.
    const BINDABLE: bool = true;
    const LOCAL_SERVER: Option<crate::model::project::LocalServer> =
        Some(crate::model::project::LocalServer::Serve);
    const TEMPLATE: &'static str = include_str!("../../templates/http_api.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["id", "url", "stage"];
    const ALARM: Option<AlarmMetrics> = Some(api::ALARM);
    const HEALTH_CHECKS: &'static [&'static str] = api::HTTP_HEALTH_CHECKS;

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn graphs(&self, _cx: &Builder, key: &str) -> Vec<super::Graph> {
        use super::Graph;
        vec![Graph::of(
            "errors",
            "AWS/ApiGateway",
            "ApiId",
            json!({"Ref": pascal(key)}),
            &[("4xx", "Sum"), ("5xx", "Sum")],
        )]
    }

    fn name_problem(name: &str) -> Option<String> {
        api::name_problem(name)
    }

    /// `api`, `stage`, `routes` and `permission` (see [`api::health`]).
    fn health<'a, R: crate::aws::resources::Resources>(
        &'a self,
        t: crate::health::Target<'a>,
        aws: &'a R,
    ) -> Vec<crate::health::Pending<'a>> {
        api::health(t, aws, "HTTP")
    }

    /// The API's error rate over the window (see [`api::metrics`]).
    fn health_access(
        &self,
        a: &crate::health::access::AccessTarget<'_>,
    ) -> Vec<crate::health::access::Access> {
        api::health_access(a)
    }

    fn metrics<'a>(
        &'a self,
        t: crate::health::Target<'a>,
    ) -> Vec<crate::health::metrics::Watch<'a>> {
        api::metrics(
            t,
            "HTTP",
            crate::health::metrics::RateHealth::limits(&self.health),
        )
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let a = self;
        let l = pascal(key);
        crate::health::metrics::RateHealth::check(&a.health, cx, path);
        for id in [l.clone(), api::STAGE.of(&l), api::ACCESS_LOGS.of(&l)] {
            cx.claim(&id, path);
        }
        let (integrations, mut routes) = api::routes(cx, &l, &a.routes, path, true);
        let authorizer = a.authorizer.as_ref().and_then(|auth| {
            let apath = join(path, "authorizer");
            let found = cx
                .target(&auth.function, &join(&apath, "function"), &["function"])
                .is_some();
            for id in [AUTHORIZER.of(&l), AUTHORIZER_PERMISSION.of(&l)] {
                cx.claim(&id, &apath);
            }
            let identity = auth
                .identity
                .clone()
                .unwrap_or_else(|| vec!["$request.header.Authorization".to_string()]);
            for (i, source) in identity.iter().enumerate() {
                let ok = [
                    "$request.header.",
                    "$request.querystring.",
                    "$context.",
                    "$stageVariables.",
                ]
                .iter()
                .any(|p| source.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
                if !ok {
                    cx.error_hint(
                        &index(&join(&apath, "identity"), i),
                        format!("`{source}` is not an identity source"),
                        "e.g. `$request.header.Authorization` or `$request.querystring.token`",
                    );
                }
            }
            let cache = auth.cache_seconds.unwrap_or(300);
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
            found.then(|| {
                json!({
                    "function": pascal(&auth.function),
                    "identity": identity,
                    "cache_seconds": cache.min(*crate::limits::AUTHORIZER_CACHE_S.end()),
                })
            })
        });
        for (i, key) in a.public.iter().enumerate() {
            let ppath = index(&join(path, "public"), i);
            if a.authorizer.is_none() {
                cx.error_hint(
                    &ppath,
                    "`public:` without an authorizer: every route is open already",
                    "add `authorizer:`, or remove `public:`",
                );
            } else if !a.routes.contains_key(key) {
                let d = cx
                    .stack
                    .source
                    .error(&ppath, format!("`{key}` is not a route of this API"))
                    .suggest(key, a.routes.keys().map(String::as_str));
                cx.diags.push(d);
            }
        }
        for route in &mut routes {
            let key = route["key"].as_str().unwrap_or_default().to_string();
            route["authorized"] = json!(authorizer.is_some() && !a.public.contains(&key));
        }
        let cors = a.cors.as_ref().map(|c| {
            json!({"origins": c.origins, "methods": c.methods, "headers": c.headers, "max_age": c.max_age})
        });
        json!({
            "ids": super::ids(&l, &[api::STAGE, api::ACCESS_LOGS, AUTHORIZER, AUTHORIZER_PERMISSION]),
            "logical": l,
            "name": cx.name(key),
            "access_log_group": format!("/aws/apigateway/{}", cx.name(key)),
            "description": a.description,
            "stage": api::stage(cx.env, a.stage.as_deref()),
            "cors": cors,
            "integrations": integrations,
            "routes": routes,
            "throttle": api::throttle(cx, &a.throttle, path),
            "authorizer": authorizer,
            "log_retention_days": cx.settings.log_retention_days,
        })
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        let stage = api::stage(cx.env, self.stage.as_deref());
        match attr {
            "id" => json!({"Ref": l}),
            "url" => {
                let suffix = if stage == "$default" {
                    String::new()
                } else {
                    format!("/{stage}")
                };
                match api::served(cx, key, "http") {
                    Some(base) => json!(format!("{base}{suffix}")),
                    None => {
                        json!({"Fn::Sub": format!("https://${{{l}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}{suffix}")})
                    }
                }
            }
            "stage" => json!(stage),
            // Not an attribute of an HTTP API (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::render;
    use serde_json::json;

    #[test]
    fn routes_ask_the_authorizer_unless_public() {
        let t = render(
            "resources:
  auth:
    type: function
    crate: auth
  handler:
    type: function
    crate: handler
  api:
    type: http_api
    routes:
      POST /generate: handler
      POST /webhook: handler
    authorizer: {function: auth}
    public: [POST /webhook]
",
        );
        let r = &t["Resources"];
        let a = &r["ApiAuthorizer"]["Properties"];
        assert_eq!(a["AuthorizerType"], "REQUEST");
        assert_eq!(a["EnableSimpleResponses"], true);
        assert_eq!(
            a["IdentitySource"],
            json!(["$request.header.Authorization"])
        );
        let generate = &r["ApiRoutePOSTGenerate"]["Properties"];
        assert_eq!(generate["AuthorizationType"], "CUSTOM");
        assert_eq!(generate["AuthorizerId"], json!({"Ref": "ApiAuthorizer"}));
        let webhook = &r["ApiRoutePOSTWebhook"]["Properties"];
        assert!(webhook.get("AuthorizationType").is_none(), "{webhook}");
        assert_eq!(
            r["ApiAuthorizerInvokes"]["Properties"]["FunctionName"],
            json!({"Fn::GetAtt": ["Auth", "Arn"]})
        );
    }
}
