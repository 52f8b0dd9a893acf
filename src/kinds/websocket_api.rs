//! `websocket_api`: an API Gateway v2 WebSocket API routing route keys
//! (`$connect`, `$disconnect`, `$default`, actions) to functions. Grants on
//! it: `manage_connections` (post to and drop connections of its stage).
//! Alarms: `AWS/ApiGateway`.

use super::api::{self, Throttle};
use super::{AlarmMetrics, Kind};
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// API Gateway v2 WebSocket API routing to functions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebsocketApi {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// What it serves.
    #[serde(default)]
    pub description: Option<String>,
    /// Stage name (default: the environment's name).
    #[serde(default)]
    pub stage: Option<String>,
    /// Route selection expression (default `$request.body.action`).
    #[serde(default)]
    pub route_selection: Option<String>,
    /// Route key (`$connect`, `$disconnect`, `$default`, custom) to function key.
    pub routes: BTreeMap<String, String>,
    /// Default route throttling.
    #[serde(default)]
    pub throttle: Option<Throttle>,
    /// Its own limits for `health`'s `integration_errors` check:
    /// `{error_rate: {warn: 1, fail: 5}}` (percent; these are the defaults).
    #[serde(default)]
    pub health: Option<crate::health::metrics::RateHealth>,
}

impl Kind for WebsocketApi {
    const NAME: &'static str = "websocket_api";
    const TEMPLATE_FILE: &'static str = "websocket_api.yaml.tera";
    // `local: serve`: created on the emulator, answered by `stackctl serve`.
    const BINDABLE: bool = true;
    const LOCAL_SERVER: Option<crate::model::project::LocalServer> =
        Some(crate::model::project::LocalServer::Serve);
    const TEMPLATE: &'static str = include_str!("../../templates/websocket_api.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["id", "url", "management_url", "stage"];
    const GRANT_LEVELS: &'static [&'static str] = &["manage_connections"];
    const ALARM: Option<AlarmMetrics> = Some(api::ALARM);
    const HEALTH_CHECKS: &'static [&'static str] = api::WEBSOCKET_HEALTH_CHECKS;

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
            &[
                ("ClientError", "Sum"),
                ("ExecutionError", "Sum"),
                ("IntegrationError", "Sum"),
            ],
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
        api::health(t, aws, "WEBSOCKET")
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
            "WEBSOCKET",
            crate::health::metrics::RateHealth::limits(&self.health),
        )
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let a = self;
        let l = pascal(key);
        crate::health::metrics::RateHealth::check(&a.health, cx, path);
        for id in [l.clone(), api::STAGE.of(&l)] {
            cx.claim(&id, path);
        }
        let access_logs = cx.settings.websocket_access_logs;
        if access_logs {
            cx.claim(&api::ACCESS_LOGS.of(&l), path);
        }
        let (integrations, routes) = api::routes(cx, &l, &a.routes, path, false);
        json!({
            "ids": super::ids(&l, &[api::STAGE, api::ACCESS_LOGS]),
            "logical": l,
            "name": cx.name(key),
            "access_log_group": format!("/aws/apigateway/{}", cx.name(key)),
            "access_logs": access_logs,
            "log_retention_days": cx.settings.log_retention_days,
            "description": a.description,
            "stage": api::stage(cx.env, a.stage.as_deref()),
            "route_selection": a.route_selection.clone().unwrap_or_else(|| "$request.body.action".into()),
            "integrations": integrations,
            "routes": routes,
            "throttle": api::throttle(cx, &a.throttle, path),
        })
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        let stage = api::stage(cx.env, self.stage.as_deref());
        match attr {
            "id" => json!({"Ref": l}),
            "url" => match api::served(cx, key, "ws") {
                Some(base) => json!(format!("{base}/{stage}")),
                None => {
                    json!({"Fn::Sub": format!("wss://${{{l}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}")})
                }
            },
            // serve answers the Management API on the API's own port.
            "management_url" => match api::served(cx, key, "http") {
                Some(base) => json!(format!("{base}/{stage}")),
                None => {
                    json!({"Fn::Sub": format!("https://${{{l}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}")})
                }
            },
            "stage" => json!(stage),
            // Not an attribute of a WebSocket API (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn grant(
        &self,
        cx: &mut Builder,
        key: &str,
        level: &str,
        _prefixes: &[String],
        _path: &str,
    ) -> Option<Json> {
        let stage = api::stage(cx.env, self.stage.as_deref());
        match level {
            "manage_connections" => Some(iam::allow(
                key,
                level,
                &["execute-api:ManageConnections"],
                vec![iam::sub(format!(
                    "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{}}}/{stage}/*/@connections/*",
                    pascal(key),
                ))],
                None,
            )),
            // Not a level of a WebSocket API (GRANT_LEVELS is checked first).
            _ => None,
        }
    }
}
