//! Who may call: Lambda authorizers (HTTP API payload 2.0 REQUEST
//! authorizers, REST TOKEN authorizers), their IAM policy answers, the
//! per-identity answer cache, and REST `iam` authorization (SigV4).
//!
//! - HTTP APIs: <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html>
//! - REST APIs: <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html>
//! - SigV4: <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>

use super::{Context, Request, Response, RouteMatch};
use crate::runtime::Outcome;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What an authorizer function answered, as API Gateway reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// An HTTP API simple response: `{"isAuthorized": bool, "context": {..}}`.
    Simple { authorized: bool, context: Value },
    /// An IAM policy: `{"principalId", "policyDocument": {"Statement": [..]},
    /// "context"}`, evaluated against the route's ARN on every request
    /// (also when it came from the cache).
    Policy {
        principal_id: Option<String>,
        statements: Vec<Statement>,
        context: Value,
    },
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// A policy's verdict on an ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// A `Deny` statement matched.
    ExplicitDeny,
    /// No `Allow` statement matched.
    ImplicitDeny,
}

/// Answers cached per identity (the identity sources' values, or the
/// token) for the authorizer's `cache_seconds`; 0 turns caching off. The
/// caller keeps one per authorizer.
#[derive(Debug)]
pub struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Answer)>>,
}

impl Cache {
    pub fn new(ttl: Duration) -> Cache {
        Cache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached answer for `key`, if still fresh.
    pub fn get(&self, key: &str) -> Option<Answer> {
        self.get_at(key, Instant::now())
    }

    /// [`Cache::get`] as of `now`.
    pub fn get_at(&self, key: &str, now: Instant) -> Option<Answer> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((at, answer)) if now.saturating_duration_since(*at) < self.ttl => {
                Some(answer.clone())
            }
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, key: &str, answer: Answer) {
        self.put_at(key, answer, Instant::now());
    }

    /// [`Cache::put`] as of `now`.
    pub fn put_at(&self, key: &str, answer: Answer, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), (now, answer));
    }

    /// Forgets every answer (new authorizer code).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`,
/// the `routeArn` / `methodArn` API Gateway asks policies about. `path` is
/// the request's path without the stage.
pub fn arn(cx: &Context, method: &str, path: &str) -> String {
    format!(
        "arn:aws:execute-api:{}:{}:{}/{}/{}{}",
        cx.region,
        cx.account_id,
        cx.api_id,
        cx.stage,
        method.to_ascii_uppercase(),
        if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        }
    )
}

/// IAM's wildcard match: `*` any run of characters, `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Evaluates statements for `execute-api:Invoke` on `arn`: an explicit
/// deny wins, then an allow; nothing matching is a deny.
pub fn evaluate(statements: &[Statement], arn: &str) -> Verdict {
    let applies = |s: &Statement| {
        s.actions
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), "execute-api:invoke"))
            && s.resources.iter().any(|r| glob(r, arn))
    };
    if statements.iter().any(|s| !s.allow && applies(s)) {
        Verdict::ExplicitDeny
    } else if statements.iter().any(|s| s.allow && applies(s)) {
        Verdict::Allow
    } else {
        Verdict::ImplicitDeny
    }
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|v| v.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

/// A policy answer; `None` when it is not one API Gateway accepts.
fn policy(o: &Map<String, Value>) -> Option<Answer> {
    let doc = o.get("policyDocument")?.as_object()?;
    let statements = match doc.get("Statement")? {
        Value::Array(a) => a.iter().collect::<Vec<_>>(),
        s @ Value::Object(_) => vec![s],
        _ => return None,
    };
    let statements = statements
        .into_iter()
        .map(|s| {
            let s = s.as_object()?;
            let allow = match s.get("Effect")?.as_str()? {
                e if e.eq_ignore_ascii_case("allow") => true,
                e if e.eq_ignore_ascii_case("deny") => false,
                _ => return None,
            };
            Some(Statement {
                allow,
                actions: strings(s.get("Action"))?,
                resources: strings(s.get("Resource"))?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let principal_id = match o.get("principalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => Some(v.to_string()),
    };
    let context = match o.get("context") {
        None | Some(Value::Null) => json!({}),
        Some(c @ Value::Object(_)) => c.clone(),
        Some(_) => return None,
    };
    Some(Answer::Policy {
        principal_id,
        statements,
        context,
    })
}

fn outcome_json(outcome: &Outcome) -> Option<Map<String, Value>> {
    match outcome {
        Outcome::Response(bytes) => match serde_json::from_slice(bytes) {
            Ok(Value::Object(o)) => Some(o),
            _ => None,
        },
        _ => None,
    }
}

// ---------------------------------------------------------------- HTTP API

/// An HTTP API's Lambda authorizer: payload 2.0, simple responses.
#[derive(Debug)]
pub struct HttpAuthorizer {
    /// `$request.header.Authorization`, `$request.querystring.token`, ...
    pub identity_sources: Vec<String>,
    pub cache: Cache,
}

impl HttpAuthorizer {
    /// With no identity sources, `$request.header.Authorization`.
    pub fn new(identity_sources: Vec<String>, cache_seconds: u32) -> HttpAuthorizer {
        let identity_sources = if identity_sources.is_empty() {
            vec!["$request.header.Authorization".into()]
        } else {
            identity_sources
        };
        HttpAuthorizer {
            identity_sources,
            cache: Cache::new(Duration::from_secs(cache_seconds.into())),
        }
    }
}

/// The identity sources' values, in order; `None` when one is missing or
/// empty (API Gateway then answers 401 without calling the authorizer).
pub fn http_identity(req: &Request, cx: &Context, sources: &[String]) -> Option<Vec<String>> {
    sources
        .iter()
        .map(|source| {
            let value = if let Some(name) = source.strip_prefix("$request.header.") {
                let values: Vec<&str> = req
                    .headers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
                    .collect();
                values.join(",")
            } else if let Some(name) = source.strip_prefix("$request.querystring.") {
                super::query_pairs(&req.query)
                    .into_iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v)
                    .collect::<Vec<_>>()
                    .join(",")
            } else if let Some(name) = source.strip_prefix("$context.") {
                match name {
                    "stage" => cx.stage.clone(),
                    "apiId" => cx.api_id.clone(),
                    "accountId" => cx.account_id.clone(),
                    "domainName" => cx.domain_name.clone(),
                    "requestId" => cx.request_id.clone(),
                    "identity.sourceIp" => req.source_ip.clone(),
                    "httpMethod" => req.method.clone(),
                    _ => String::new(),
                }
            } else {
                // Stage variables: the stacks declare none.
                String::new()
            };
            (!value.is_empty()).then_some(value)
        })
        .collect()
}

/// The payload 2.0 REQUEST authorizer event.
pub fn http_event(req: &Request, m: &RouteMatch, cx: &Context, identity: &[String]) -> Value {
    let mut ev = super::http::base(req, cx, &m.route_key);
    ev["type"] = json!("REQUEST");
    let path = super::route_path(&req.path, &cx.stage).unwrap_or(&req.path);
    ev["routeArn"] = json!(arn(cx, &req.method, path));
    ev["identitySource"] = json!(identity);
    if !m.path_parameters.is_empty() {
        ev["pathParameters"] = super::string_map(&m.path_parameters);
    }
    ev
}

/// The authorizer's answer: a simple response or an IAM policy; `None`
/// for a function error or an answer that is neither (API Gateway: 500).
pub fn http_answer(outcome: &Outcome) -> Option<Answer> {
    let o = outcome_json(outcome)?;
    if let Some(v) = o.get("isAuthorized") {
        let authorized = v.as_bool()?;
        let context = match o.get("context") {
            None | Some(Value::Null) => json!({}),
            Some(c @ Value::Object(_)) => c.clone(),
            Some(_) => return None,
        };
        return Some(Answer::Simple {
            authorized,
            context,
        });
    }
    policy(&o)
}

/// `401 {"message":"Unauthorized"}`.
pub fn http_unauthorized(cx: &Context) -> Response {
    super::http::internal_error(cx).restatus(401, "Unauthorized")
}

/// `403 {"message":"Forbidden"}`.
pub fn http_forbidden(cx: &Context) -> Response {
    super::http::internal_error(cx).restatus(403, "Forbidden")
}

/// Runs an HTTP API's authorizer for a request that matched `m`:
/// `Ok(context)` to pass to [`super::http::event`], or the answer the
/// client gets (401 without an identity, 403 when denied, 500 when the
/// authorizer failed). `invoke` runs the authorizer function with an event.
pub async fn authorize_http<F, Fut>(
    auth: &HttpAuthorizer,
    req: &Request,
    m: &RouteMatch,
    cx: &Context,
    invoke: F,
) -> Result<Value, Response>
where
    F: FnOnce(Value) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let Some(identity) = http_identity(req, cx, &auth.identity_sources) else {
        return Err(http_unauthorized(cx));
    };
    let key = identity.join("\u{0}");
    let answer = match auth.cache.get(&key) {
        Some(a) => a,
        None => {
            let outcome = invoke(http_event(req, m, cx, &identity)).await;
            let Some(a) = http_answer(&outcome) else {
                return Err(super::http::internal_error(cx));
            };
            auth.cache.put(&key, a.clone());
            a
        }
    };
    let path = super::route_path(&req.path, &cx.stage).unwrap_or(&req.path);
    match answer {
        Answer::Simple {
            authorized: true,
            context,
        } => Ok(context),
        Answer::Simple { .. } => Err(http_forbidden(cx)),
        Answer::Policy {
            statements,
            context,
            ..
        } => match evaluate(&statements, &arn(cx, &req.method, path)) {
            Verdict::Allow => Ok(context),
            _ => Err(http_forbidden(cx)),
        },
    }
}

impl Response {
    /// The same headers, another status and message.
    fn restatus(mut self, status: u16, message: &str) -> Response {
        self.status = status;
        self.body = json!({ "message": message }).to_string().into_bytes();
        self
    }
}

// ---------------------------------------------------------------- REST API

/// A REST API's TOKEN authorizer: the token is one header.
#[derive(Debug)]
pub struct TokenAuthorizer {
    /// `Authorization` unless declared otherwise.
    pub header: String,
    pub cache: Cache,
}

impl TokenAuthorizer {
    pub fn new(header: &str, cache_seconds: u32) -> TokenAuthorizer {
        TokenAuthorizer {
            header: header.to_string(),
            cache: Cache::new(Duration::from_secs(cache_seconds.into())),
        }
    }
}

/// The TOKEN authorizer event.
pub fn token_event(token: &str, method_arn: &str) -> Value {
    json!({"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn})
}

/// The REQUEST authorizer event of a REST API: the proxy event's request
/// parts (without the body) with `type` and `methodArn`.
pub fn rest_request_event(req: &Request, m: &RouteMatch, cx: &Context) -> Value {
    let mut ev = super::rest::event(req, m, cx, None);
    if let Value::Object(o) = &mut ev {
        o.remove("body");
        o.remove("isBase64Encoded");
        let path = super::route_path(&req.path, &cx.stage).unwrap_or(&req.path);
        o.insert("type".into(), json!("REQUEST"));
        o.insert("methodArn".into(), json!(arn(cx, &req.method, path)));
    }
    ev
}

/// Why a REST authorizer did not produce a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFailure {
    /// The function failed with the message `Unauthorized`: API Gateway
    /// answers 401.
    Unauthorized,
    /// Any other error or a malformed answer: 500.
    Misconfigured,
}

/// The policy a REST authorizer answered. Context values must be strings,
/// numbers or booleans.
pub fn token_answer(outcome: &Outcome) -> Result<Answer, TokenFailure> {
    if let Outcome::Error { error_message, .. } = outcome {
        if error_message == "Unauthorized" {
            return Err(TokenFailure::Unauthorized);
        }
    }
    let o = outcome_json(outcome).ok_or(TokenFailure::Misconfigured)?;
    let answer = policy(&o).ok_or(TokenFailure::Misconfigured)?;
    if let Answer::Policy {
        context: Value::Object(c),
        ..
    } = &answer
    {
        if c.values().any(|v| v.is_object() || v.is_array()) {
            return Err(TokenFailure::Misconfigured);
        }
    }
    Ok(answer)
}

/// `requestContext.authorizer` of the proxy event for an allowing policy:
/// `principalId`, the context's keys and `integrationLatency`.
pub fn rest_context(answer: &Answer) -> Value {
    let mut out = Map::new();
    match answer {
        Answer::Policy {
            principal_id,
            context,
            ..
        } => {
            if let Value::Object(c) = context {
                out.extend(c.clone());
            }
            out.insert("principalId".into(), json!(principal_id));
        }
        Answer::Simple { context, .. } => {
            if let Value::Object(c) = context {
                out.extend(c.clone());
            }
        }
    }
    out.insert("integrationLatency".into(), json!(0));
    Value::Object(out)
}

/// `401 {"message":"Unauthorized"}` of a REST API.
pub fn rest_unauthorized(cx: &Context) -> Response {
    super::rest::gateway_error(
        cx,
        401,
        "UnauthorizedException",
        json!({"message": "Unauthorized"}),
    )
}

/// The 403 of a REST API for a policy that does not allow the method.
pub fn rest_denied(cx: &Context, verdict: Verdict) -> Response {
    let message = if verdict == Verdict::ExplicitDeny {
        "User is not authorized to access this resource with an explicit deny"
    } else {
        "User is not authorized to access this resource"
    };
    super::rest::gateway_error(
        cx,
        403,
        "AccessDeniedException",
        json!({ "Message": message }),
    )
}

/// `500 {"message": null}`: the authorizer failed or answered nonsense.
pub fn rest_misconfigured(cx: &Context) -> Response {
    super::rest::gateway_error(
        cx,
        500,
        "AuthorizerConfigurationException",
        json!({ "message": null }),
    )
}

/// Runs a REST TOKEN authorizer: `Ok(authorizer)` for the proxy event's
/// `requestContext.authorizer`, or the client's answer.
pub async fn authorize_token<F, Fut>(
    auth: &TokenAuthorizer,
    req: &Request,
    cx: &Context,
    invoke: F,
) -> Result<Value, Response>
where
    F: FnOnce(Value) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let token = req.header(&auth.header).unwrap_or_default();
    if token.is_empty() {
        return Err(rest_unauthorized(cx));
    }
    let path = super::route_path(&req.path, &cx.stage).unwrap_or(&req.path);
    let method_arn = arn(cx, &req.method, path);
    let answer = match auth.cache.get(token) {
        Some(a) => a,
        None => match token_answer(&invoke(token_event(token, &method_arn)).await) {
            Ok(a) => {
                auth.cache.put(token, a.clone());
                a
            }
            Err(TokenFailure::Unauthorized) => return Err(rest_unauthorized(cx)),
            Err(TokenFailure::Misconfigured) => return Err(rest_misconfigured(cx)),
        },
    };
    let Answer::Policy { statements, .. } = &answer else {
        return Err(rest_misconfigured(cx));
    };
    match evaluate(statements, &method_arn) {
        Verdict::Allow => Ok(rest_context(&answer)),
        v => Err(rest_denied(cx, v)),
    }
}

// ------------------------------------------------------------ REST `iam`

/// Checks a REST `iam` request's SigV4 `Authorization` header against the
/// secret `secret_for(access_key_id)` returns (locally `testing` →
/// `testing`): `Ok(access_key_id)`, or API Gateway's 403. The caller's IAM
/// policies are not evaluated; presigned query strings are not accepted.
pub fn verify_sigv4(
    req: &Request,
    cx: &Context,
    secret_for: impl Fn(&str) -> Option<String>,
) -> Result<String, Response> {
    let deny = |error_type: &str, message: &str| {
        super::rest::gateway_error(cx, 403, error_type, json!({ "message": message }))
    };
    let Some(header) = req.header("authorization").filter(|h| !h.is_empty()) else {
        return Err(deny(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let parsed = sigv4::parse(header).map_err(|m| deny("IncompleteSignatureException", &m))?;
    if parsed.service != "execute-api" {
        return Err(deny(
            "InvalidSignatureException",
            &format!(
                "Credential should be scoped to correct service: 'execute-api'. ({} given)",
                parsed.service
            ),
        ));
    }
    let Some(secret) = secret_for(&parsed.access_key) else {
        return Err(deny(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    let Some(amz_date) = req.header("x-amz-date") else {
        return Err(deny(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    if sigv4::signature(req, &parsed, amz_date, &secret) != parsed.signature {
        return Err(deny(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(parsed.access_key)
}

mod sigv4 {
    use super::Request;
    use hmac::{Hmac, KeyInit, Mac};
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    use sha2::{Digest, Sha256};

    /// Everything but RFC 3986's unreserved characters.
    const STRICT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    const PATH: &AsciiSet = &STRICT.remove(b'/');

    pub(super) struct Parsed {
        pub access_key: String,
        pub date: String,
        pub region: String,
        pub service: String,
        pub signed_headers: Vec<String>,
        pub signature: String,
    }

    pub(super) fn parse(header: &str) -> Result<Parsed, String> {
        let rest = header
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or_else(|| format!("Authorization header is not a SigV4 header: '{header}'"))?;
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(',') {
            let Some((k, v)) = part.trim().split_once('=') else {
                continue;
            };
            match k.trim() {
                "Credential" => credential = Some(v.trim()),
                "SignedHeaders" => signed = Some(v.trim()),
                "Signature" => signature = Some(v.trim()),
                _ => {}
            }
        }
        let missing = |what: &str| {
            format!("Authorization header requires '{what}' parameter. Authorization={header}")
        };
        let credential = credential.ok_or_else(|| missing("Credential"))?;
        let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| missing("Signature"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key, date, region, service, "aws4_request"] = scope[..] else {
            return Err(format!(
                "Credential should be scoped to a valid region, service and date ({credential})"
            ));
        };
        Ok(Parsed {
            access_key: access_key.into(),
            date: date.into(),
            region: region.into(),
            service: service.into(),
            signed_headers: signed.split(';').map(|h| h.to_ascii_lowercase()).collect(),
            signature: signature.to_ascii_lowercase(),
        })
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    pub(super) fn canonical_request(req: &Request, p: &Parsed) -> String {
        // Services other than S3 encode the (already encoded) path again.
        let uri = if req.path.is_empty() {
            "/".to_string()
        } else {
            utf8_percent_encode(&req.path, PATH).to_string()
        };
        let mut query: Vec<(String, String)> = req
            .query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let enc =
                    |s: &str| utf8_percent_encode(&super::super::decode(s), STRICT).to_string();
                (enc(k), enc(v))
            })
            .collect();
        query.sort();
        let query = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut headers = String::new();
        for name in &p.signed_headers {
            let values: Vec<String> = req
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            headers.push_str(&format!("{name}:{}\n", values.join(",")));
        }
        format!(
            "{}\n{uri}\n{query}\n{headers}\n{}\n{}",
            req.method,
            p.signed_headers.join(";"),
            hex(&Sha256::digest(&req.body))
        )
    }

    pub(super) fn signature(req: &Request, p: &Parsed, amz_date: &str, secret: &str) -> String {
        let scope = format!("{}/{}/{}/aws4_request", p.date, p.region, p.service);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical_request(req, p).as_bytes()))
        );
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), &p.date);
        for part in [p.region.as_str(), p.service.as_str(), "aws4_request"] {
            key = hmac(&key, part);
        }
        hex(&hmac(&key, &to_sign))
    }
}

#[cfg(test)]
mod tests;
