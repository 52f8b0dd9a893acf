//! The front doors: one server per API on its bound port, doing what API
//! Gateway does in front of Lambda, through `lambda_local::apigw`: the
//! stage in the path, routing, the authorizer, the event, API Gateway's
//! own time limit (30 s for HTTP APIs, 29 s for REST), and the function's
//! answer turned into the HTTP response. A WebSocket API's port also
//! answers its Management API (`/{stage}/@connections/{id}`), which the
//! functions reach through `${api.management_url}`.

use super::functions::Functions;
use super::plan::{ApiKind, ApiPlan, Auth, FnId, RouteTarget};
use super::report::Reporter;
use anyhow::anyhow;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode};
use lambda_local::apigw::authorizer::{HttpAuthorizer, TokenAuthorizer};
use lambda_local::apigw::{self, Context, Request, Response};
use lambda_local::runtime::Outcome;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod websocket;

/// Largest request body API Gateway takes (10 MB).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// Binds the API's port, or says who holds it.
pub async fn bind(api: &ApiPlan) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind((api.host.as_str(), api.port))
        .await
        .map_err(|e| {
            anyhow!(
                "cannot listen on {}:{} for {} ({e})\nhint: another serve, or another program, holds the port: stop it, or give the API another port in stackctl.yaml (environments.ENV.bind.{}.{}.port) and deploy again",
                api.host, api.port, api.label(), api.stack, api.key
            )
        })
}

/// Prints where the API answers and its routes.
pub fn announce(reporter: &Reporter, api: &ApiPlan) {
    let mut text = format!("{}  {}  {}", api.label(), api.kind.as_str(), api.url());
    let mut routes = Vec::new();
    for r in &api.routes {
        let target = match &r.target {
            RouteTarget::Function(f) => f.key.clone(),
            RouteTarget::Service(s) => format!("service {s} (not run by serve: 502)"),
        };
        text.push_str(&format!("\n  {:<40} → {target}", r.key));
        routes.push(serde_json::json!({"route": r.key, "target": target}));
    }
    reporter.note(
        "listening",
        &text,
        serde_json::json!({"api": api.label(), "kind": api.kind.as_str(), "url": api.url(), "routes": routes}),
    );
}

/// Who may call, with what each way needs.
enum Gate {
    Open,
    Http(FnId, HttpAuthorizer),
    Token(FnId, TokenAuthorizer),
    /// SigV4 with the credentials serve gives its functions.
    Iam(BTreeMap<String, String>),
}

/// One API's state.
struct Api {
    plan: ApiPlan,
    region: String,
    /// The account the stacks are in (events' `accountId`, ARNs).
    account: String,
    routes: apigw::Routes,
    targets: BTreeMap<String, super::plan::RoutePlan>,
    functions: Arc<Functions>,
    gate: Gate,
    connections: Arc<websocket::Connections>,
}

/// Serves `api` on `listener` until serve stops. `credentials` are the
/// access key ids and secrets a REST `iam` API accepts signatures of.
pub async fn serve(
    api: ApiPlan,
    region: String,
    account: String,
    listener: tokio::net::TcpListener,
    functions: Arc<Functions>,
    credentials: BTreeMap<String, String>,
) {
    let keys: Vec<String> = api.routes.iter().map(|r| r.key.clone()).collect();
    let gate = match &api.auth {
        Auth::None => Gate::Open,
        Auth::HttpLambda {
            function,
            identity,
            cache_seconds,
        } => Gate::Http(
            function.clone(),
            HttpAuthorizer::new(identity.clone(), *cache_seconds),
        ),
        Auth::RestLambda {
            function,
            header,
            cache_seconds,
        } => Gate::Token(
            function.clone(),
            TokenAuthorizer::new(header, *cache_seconds),
        ),
        Auth::Iam => Gate::Iam(credentials),
    };
    let state = Arc::new(Api {
        routes: apigw::Routes::new(keys.iter().map(String::as_str)),
        targets: api
            .routes
            .iter()
            .map(|r| (r.key.clone(), r.clone()))
            .collect(),
        region,
        account,
        functions,
        gate,
        connections: Arc::new(websocket::Connections::default()),
        plan: api,
    });
    let router = match state.plan.kind {
        ApiKind::Websocket => websocket::router(state.clone()),
        ApiKind::Http | ApiKind::Rest => axum::Router::new().fallback(http).with_state(state),
    };
    let _ = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await;
}

/// An axum request as API Gateway sees it (the body whole, up to its
/// 10 MB limit).
async fn request(req: axum::extract::Request, peer: SocketAddr) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| Response::message(413, "Request Entity Too Large"))?;
    Ok(Request {
        body: body.to_vec(),
        ..head(&parts, peer)
    })
}

/// The request line and headers, without a body.
fn head(parts: &axum::http::request::Parts, peer: SocketAddr) -> Request {
    Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        source_ip: peer.ip().to_string(),
    }
}

/// An apigw response as axum's.
fn to_axum(r: Response) -> axum::response::Response {
    let mut out = axum::response::Response::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            out.headers_mut().append(k, v);
        }
    }
    out
}

impl Api {
    fn context(&self, req: &Request) -> Context {
        Context {
            api_id: self.plan.api_id.clone(),
            stage: self.plan.stage.clone(),
            account_id: self.account.clone(),
            region: self.region.clone(),
            domain_name: req
                .header("host")
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}:{}", self.plan.host, self.plan.port)),
            request_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// API Gateway's own limit on an integration.
    fn integration_timeout(&self) -> Duration {
        match self.plan.kind {
            ApiKind::Rest => Duration::from_secs(29),
            _ => Duration::from_secs(30),
        }
    }

    /// What the client gets for `outcome`.
    fn respond(&self, outcome: &Outcome, cx: &Context) -> Response {
        match self.plan.kind {
            ApiKind::Rest => apigw::rest::response(outcome, cx),
            _ => apigw::http::response(outcome, cx),
        }
    }

    /// Invokes `f` for `trigger` under API Gateway's limit and reports it;
    /// the outcome, or None past the limit (the function goes on; its
    /// answer is dropped, as API Gateway drops it).
    async fn invoke(
        &self,
        f: &FnId,
        trigger: &str,
        event: serde_json::Value,
        cx: &Context,
        arrived: Instant,
    ) -> Option<Outcome> {
        let call = self.functions.invoke(f, event);
        let inv = match tokio::time::timeout(self.integration_timeout(), call).await {
            Ok(Ok(inv)) => inv,
            Ok(Err(e)) => {
                self.functions.failed(f, trigger, &e);
                return Some(Outcome::InitError {
                    error_type: "Runtime.Unavailable".to_string(),
                    error_message: format!("{e:#}"),
                });
            }
            Err(_) => return None,
        };
        let status = match self.plan.kind {
            ApiKind::Websocket => match apigw::websocket::connect_verdict(&inv.outcome) {
                Ok(()) => 200,
                Err(s) => s,
            },
            _ => self.respond(&inv.outcome, cx).status,
        };
        let overhead = arrived.elapsed().checked_sub(inv.duration);
        self.functions
            .report(f, trigger, &inv, Some(status), overhead);
        Some(inv.outcome)
    }

    /// Runs the authorizer function `f` with `event`: its outcome.
    async fn authorizer(&self, f: &FnId, event: serde_json::Value, cx: &Context) -> Outcome {
        let trigger = "authorizer";
        self.invoke(f, trigger, event, cx, Instant::now())
            .await
            .unwrap_or(Outcome::Timeout)
    }
}

/// An HTTP or REST API request.
async fn http(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let arrived = Instant::now();
    let req = match request(req, peer).await {
        Ok(r) => r,
        Err(resp) => return to_axum(resp),
    };
    to_axum(answer(&api, req, arrived).await)
}

/// What API Gateway answers `req`: its CORS handling around [`route`].
async fn answer(api: &Api, req: Request, arrived: Instant) -> Response {
    let Some(cors) = &api.plan.cors else {
        return route(api, req, arrived).await;
    };
    let origin = req.header("origin").map(str::to_string);
    let allowed = origin.as_deref().and_then(|o| {
        if cors.origins.iter().any(|c| c == "*") {
            Some("*".to_string())
        } else {
            cors.origins.iter().find(|c| *c == o).cloned()
        }
    });
    // A preflight is answered by API Gateway, without a function, unless
    // the API routes OPTIONS itself.
    let preflight = req.method == "OPTIONS"
        && origin.is_some()
        && req.header("access-control-request-method").is_some()
        && apigw::route_path(&req.path, &api.plan.stage)
            .and_then(|p| api.routes.find("OPTIONS", p))
            .is_none_or(|m| m.route_key == "$default");
    let mut resp = if preflight {
        let cx = api.context(&req);
        let mut r = apigw::http::not_found(&cx);
        r.status = 204;
        r.body.clear();
        r.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        if allowed.is_some() {
            r.headers.push((
                "access-control-allow-methods".into(),
                cors.methods.join(","),
            ));
            r.headers.push((
                "access-control-allow-headers".into(),
                cors.headers.join(","),
            ));
            if let Some(age) = cors.max_age {
                r.headers
                    .push(("access-control-max-age".into(), age.to_string()));
            }
        }
        r
    } else {
        route(api, req, arrived).await
    };
    if let Some(o) = allowed {
        // The API's CORS headers replace a function's own.
        resp.headers.retain(|(k, _)| {
            !k.to_ascii_lowercase()
                .starts_with("access-control-allow-origin")
        });
        resp.headers.push(("access-control-allow-origin".into(), o));
    }
    resp
}

/// What API Gateway answers `req`, CORS aside.
async fn route(api: &Api, req: Request, arrived: Instant) -> Response {
    let cx = api.context(&req);
    let not_found = || match api.plan.kind {
        ApiKind::Rest => apigw::rest::not_found(&cx),
        _ => apigw::http::not_found(&cx),
    };
    let Some(inner) = apigw::route_path(&req.path, &api.plan.stage) else {
        return not_found();
    };
    let Some(m) = api.routes.find(&req.method, inner) else {
        return not_found();
    };
    let Some(route) = api.targets.get(&m.route_key) else {
        return not_found();
    };
    let trigger = format!("{} {inner}", req.method);
    let f = match &route.target {
        RouteTarget::Function(f) => f,
        // A route to a service: its load balancer runs nothing here.
        RouteTarget::Service(_) => return apigw::rest::internal_error(&cx),
    };
    let mut identity = None;
    let authorized = match (&api.gate, route.public) {
        (_, true) | (Gate::Open, _) => None,
        (Gate::Http(af, auth), false) => {
            let call = |event| api.authorizer(af, event, &cx);
            match apigw::authorizer::authorize_http(auth, &req, &m, &cx, call).await {
                Ok(context) => Some(context),
                Err(resp) => return resp,
            }
        }
        (Gate::Token(af, auth), false) => {
            let call = |event| api.authorizer(af, event, &cx);
            match apigw::authorizer::authorize_token(auth, &req, &cx, call).await {
                Ok(context) => Some(context),
                Err(resp) => return resp,
            }
        }
        (Gate::Iam(keys), false) => {
            match apigw::authorizer::verify_sigv4(&req, &cx, |k| keys.get(k).cloned()) {
                Ok(key) => {
                    identity = Some(key);
                    None
                }
                Err(resp) => return resp,
            }
        }
    };
    if api.plan.kind == ApiKind::Rest {
        if let Err(resp) =
            apigw::validation::validate(&req, &m, &cx, &route.required, route.body.as_ref())
        {
            return resp;
        }
    }
    let event = match api.plan.kind {
        ApiKind::Rest => apigw::rest::event_with_identity(
            &req,
            &m,
            &cx,
            authorized.as_ref(),
            identity.as_deref(),
        ),
        _ => apigw::http::event(&req, &m, &cx, authorized.as_ref()),
    };
    match api.invoke(f, &trigger, event, &cx, arrived).await {
        Some(outcome) => api.respond(&outcome, &cx),
        None if api.plan.kind == ApiKind::Rest => apigw::rest::timeout_response(&cx),
        None => apigw::http::timeout_response(&cx),
    }
}
