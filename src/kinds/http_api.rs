//! `http_api`: an API Gateway v2 HTTP API routing `METHOD /path` to
//! functions, with an auto-deployed stage, JSON access logs, CORS and
//! throttling. Alarms: `AWS/ApiGateway`.

use super::api::{self, Throttle};
use super::{AlarmMetrics, Kind};
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
}

impl Kind for HttpApi {
    const NAME: &'static str = "http_api";
    const TEMPLATE_FILE: &'static str = "http_api.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/http_api.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["id", "url", "stage"];
    const ALARM: Option<AlarmMetrics> = Some(api::ALARM);

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn name_problem(name: &str) -> Option<String> {
        api::name_problem(name)
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let a = self;
        let l = pascal(key);
        for id in [l.clone(), api::STAGE.of(&l), api::ACCESS_LOGS.of(&l)] {
            cx.claim(&id, path);
        }
        let (integrations, routes) = api::routes(cx, &l, &a.routes, path, true);
        let cors = a.cors.as_ref().map(|c| {
            json!({"origins": c.origins, "methods": c.methods, "headers": c.headers, "max_age": c.max_age})
        });
        json!({
            "ids": super::ids(&l, &[api::STAGE, api::ACCESS_LOGS]),
            "logical": l,
            "name": cx.name(key),
            "access_log_group": format!("/aws/apigateway/{}", cx.name(key)),
            "description": a.description,
            "stage": api::stage(cx.env, a.stage.as_deref()),
            "cors": cors,
            "integrations": integrations,
            "routes": routes,
            "throttle": api::throttle(cx, &a.throttle, path),
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
                json!({"Fn::Sub": format!("https://${{{l}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}{suffix}")})
            }
            "stage" => json!(stage),
            // Not an attribute of an HTTP API (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }
}
