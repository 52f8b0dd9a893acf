//! HTTP APIs: the Lambda proxy integration with payload format 2.0.
//!
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>

use super::{
    body_fields, now_ms, query_pairs, request_time, Context, Request, Response, RouteMatch,
};
use crate::runtime::Outcome;
use serde_json::{json, Map, Value};

/// The header every HTTP API answer carries.
pub const REQUEST_ID_HEADER: &str = "apigw-requestid";

/// The payload 2.0 event for a request that matched `m`. `authorizer` is
/// the context a Lambda authorizer returned (`requestContext.authorizer.
/// lambda`); `None` when the route has no authorizer.
pub fn event(req: &Request, m: &RouteMatch, cx: &Context, authorizer: Option<&Value>) -> Value {
    let mut ev = base(req, cx, &m.route_key);
    if let Some(ctx) = authorizer {
        ev["requestContext"]["authorizer"] = json!({ "lambda": ctx });
    }
    if !m.path_parameters.is_empty() {
        ev["pathParameters"] = super::string_map(&m.path_parameters);
    }
    let (body, base64) = body_fields(req);
    if let Some(body) = body {
        ev["body"] = Value::String(body);
    }
    ev["isBase64Encoded"] = Value::Bool(base64);
    ev
}

/// What payload 2.0 events and authorizer events share: the request line,
/// headers, cookies, query and `requestContext`.
pub(crate) fn base(req: &Request, cx: &Context, route_key: &str) -> Value {
    let epoch = now_ms();
    // Duplicate headers are combined with commas; cookies leave the headers
    // for `cookies`, one entry per cookie.
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (name, value) in &req.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_string())),
            );
            continue;
        }
        match headers.get_mut(&name) {
            Some(Value::String(prev)) => {
                prev.push(',');
                prev.push_str(value);
            }
            _ => {
                headers.insert(name, Value::String(value.clone()));
            }
        }
    }
    let mut query: Map<String, Value> = Map::new();
    for (k, v) in query_pairs(&req.query) {
        match query.get_mut(&k) {
            Some(Value::String(prev)) => {
                prev.push(',');
                prev.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    let mut ev = json!({
        "version": "2.0",
        "routeKey": route_key,
        // For a named stage both paths carry the stage, as AWS sends them.
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": {
            "accountId": cx.account_id,
            "apiId": cx.api_id,
            "domainName": cx.domain_name,
            "domainPrefix": cx.domain_prefix(),
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.source_ip,
                "userAgent": req.header("user-agent").unwrap_or_default(),
            },
            "requestId": cx.request_id,
            "routeKey": route_key,
            "stage": cx.stage,
            "time": request_time(epoch),
            "timeEpoch": epoch,
        },
    });
    if !cookies.is_empty() {
        ev["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        ev["queryStringParameters"] = Value::Object(query);
    }
    ev
}

fn stamp(resp: Response, cx: &Context) -> Response {
    resp.with_header(REQUEST_ID_HEADER, &cx.request_id)
}

/// `500 {"message":"Internal Server Error"}`: a function error, a crash, a
/// function timeout (Lambda reports it as an error) or an answer API
/// Gateway cannot read.
pub fn internal_error(cx: &Context) -> Response {
    stamp(Response::message(500, "Internal Server Error"), cx)
}

/// `503 {"message":"Service Unavailable"}`: API Gateway's own integration
/// timeout (30 s for HTTP APIs) ran out before the function answered.
pub fn timeout_response(cx: &Context) -> Response {
    stamp(Response::message(503, "Service Unavailable"), cx)
}

/// `404 {"message":"Not Found"}`: no route matched and there is no
/// `$default`.
pub fn not_found(cx: &Context) -> Response {
    stamp(Response::message(404, "Not Found"), cx)
}

/// The client's answer for the function's outcome, by payload 2.0 rules:
/// an object with `statusCode` is read as a response (status, headers,
/// multiValueHeaders, cookies, body, isBase64Encoded); any other valid JSON
/// is a 200 `application/json` answer with that JSON as its body; anything
/// else (not JSON, a malformed response object, a function error, a crash,
/// a timeout) is a 500.
pub fn response(outcome: &Outcome, cx: &Context) -> Response {
    let Outcome::Response(bytes) = outcome else {
        return internal_error(cx);
    };
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return internal_error(cx);
    };
    match &value {
        Value::Object(o) if o.contains_key("statusCode") => {
            structured(o).map_or_else(|| internal_error(cx), |r| stamp(r, cx))
        }
        _ => stamp(
            Response {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: bytes.clone(),
            },
            cx,
        ),
    }
}

/// A response object; `None` when API Gateway would reject it.
fn structured(o: &Map<String, Value>) -> Option<Response> {
    let (status, mut headers) = super::status_and_headers(o, true)?;
    match o.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(cs)) => {
            for c in cs {
                headers.push(("set-cookie".into(), c.as_str()?.to_string()));
            }
        }
        Some(_) => return None,
    }
    let base64 = match o.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return None,
    };
    let body = match o.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return None,
    };
    let body = super::answer_body(body, base64)?;
    // Without one, HTTP APIs answer `text/plain; charset=utf-8` (REST APIs
    // default to JSON): https://github.com/rackspace/sailplane/issues/138
    if !headers.iter().any(|(k, _)| k == "content-type") {
        headers.push(("content-type".into(), "text/plain; charset=utf-8".into()));
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apigw::Routes;
    use aws_lambda_events::apigw::ApiGatewayV2httpRequest;

    pub(crate) fn cx() -> Context {
        Context {
            api_id: "abc123".into(),
            stage: "local".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            domain_name: "abc123.execute-api.localhost".into(),
            request_id: "req-1".into(),
        }
    }

    fn request() -> Request {
        Request {
            method: "POST".into(),
            path: "/local/items/a%20b".into(),
            query: "x=1&x=2&y=%C3%A9".into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Multi".into(), "a".into()),
                ("x-multi".into(), "b".into()),
                ("Cookie".into(), "s=1; t=2".into()),
                ("User-Agent".into(), "curl/8".into()),
            ],
            body: br#"{"n":1}"#.to_vec(),
            source_ip: "127.0.0.1".into(),
        }
    }

    #[test]
    fn the_event_is_payload_2_0_and_reads_as_the_lambda_type() {
        let routes = Routes::new(["POST /items/{id}"]);
        let req = request();
        let m = routes
            .find(
                &req.method,
                crate::apigw::route_path(&req.path, "local").unwrap(),
            )
            .unwrap();
        let ctx = json!({"user": "u1", "n": 3});
        let ev = event(&req, &m, &cx(), Some(&ctx));
        assert_eq!(ev["version"], "2.0");
        assert_eq!(ev["routeKey"], "POST /items/{id}");
        assert_eq!(ev["rawPath"], "/local/items/a%20b");
        assert_eq!(ev["rawQueryString"], "x=1&x=2&y=%C3%A9");
        assert_eq!(ev["cookies"], json!(["s=1", "t=2"]));
        assert_eq!(ev["headers"]["x-multi"], "a,b");
        assert!(ev["headers"].get("cookie").is_none());
        assert_eq!(ev["queryStringParameters"], json!({"x": "1,2", "y": "é"}));
        assert_eq!(ev["pathParameters"], json!({"id": "a b"}));
        assert_eq!(ev["body"], r#"{"n":1}"#);
        assert_eq!(ev["isBase64Encoded"], false);
        assert_eq!(ev["requestContext"]["authorizer"]["lambda"]["user"], "u1");
        assert_eq!(ev["requestContext"]["domainPrefix"], "abc123");
        assert_eq!(ev["requestContext"]["http"]["userAgent"], "curl/8");

        let typed: ApiGatewayV2httpRequest = serde_json::from_value(ev).unwrap();
        assert_eq!(typed.route_key.as_deref(), Some("POST /items/{id}"));
        assert_eq!(typed.raw_path.as_deref(), Some("/local/items/a%20b"));
        assert_eq!(typed.path_parameters["id"], "a b");
        assert_eq!(typed.cookies, Some(vec!["s=1".into(), "t=2".into()]));
        assert_eq!(typed.headers["x-multi"], "a,b");
        assert_eq!(typed.request_context.http.method.as_str(), "POST");
        assert_eq!(typed.request_context.stage.as_deref(), Some("local"));
        assert_eq!(typed.request_context.request_id.as_deref(), Some("req-1"));
        assert_eq!(
            typed.request_context.http.source_ip.as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            typed.request_context.authorizer.unwrap().fields["user"],
            "u1"
        );
        assert_eq!(typed.body.as_deref(), Some(r#"{"n":1}"#));
    }

    #[test]
    fn empty_parts_are_left_out_and_binary_bodies_are_base64() {
        let routes = Routes::new(["$default"]);
        let req = Request {
            method: "PUT".into(),
            path: "/x".into(),
            headers: vec![("content-type".into(), "image/png".into())],
            body: vec![0x89, 0x50],
            ..Request::default()
        };
        let m = routes.find("PUT", "/x").unwrap();
        let ev = event(&req, &m, &cx(), None);
        for absent in ["cookies", "queryStringParameters", "pathParameters"] {
            assert!(ev.get(absent).is_none(), "{absent}: {ev}");
        }
        assert!(ev["requestContext"].get("authorizer").is_none());
        assert_eq!(ev["routeKey"], "$default");
        assert_eq!(
            (ev["body"].as_str(), ev["isBase64Encoded"].as_bool()),
            (Some("iVA="), Some(true))
        );
        let typed: ApiGatewayV2httpRequest = serde_json::from_value(ev).unwrap();
        assert!(typed.is_base64_encoded);
    }

    fn answer(v: Value) -> Response {
        response(&Outcome::Response(v.to_string().into_bytes()), &cx())
    }

    #[test]
    fn a_response_object_sets_status_headers_cookies_and_body() {
        let r = answer(json!({
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-N": 5},
            "multiValueHeaders": {"x-m": ["1", "2"]},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": "created",
        }));
        assert_eq!(r.status, 201);
        assert_eq!(r.body, b"created");
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("x-n"), Some("5"));
        let get = |n: &str| {
            r.headers
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("x-m"), ["1", "2"]);
        assert_eq!(get("set-cookie"), ["a=1; Path=/", "b=2"]);
        assert_eq!(r.header(REQUEST_ID_HEADER), Some("req-1"));

        let r = answer(json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}));
        assert_eq!(r.body, b"hi");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let r = answer(json!({"statusCode": 204}));
        assert_eq!((r.status, r.body.len()), (204, 0));
    }

    #[test]
    fn other_json_is_a_200_json_answer() {
        for v in [
            json!({"a": 1}),
            json!([1, 2]),
            json!("text"),
            json!(7),
            json!(null),
        ] {
            let r = answer(v.clone());
            assert_eq!(r.status, 200, "{v}");
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(r.body, v.to_string().into_bytes());
        }
    }

    #[test]
    fn errors_and_malformed_answers_are_500_and_timeouts_503() {
        let bad = [
            Outcome::Response(b"not json".to_vec()),
            Outcome::Response(br#"{"statusCode": "200"}"#.to_vec()),
            Outcome::Response(br#"{"statusCode": 700}"#.to_vec()),
            Outcome::Response(br#"{"statusCode": 200, "body": {"a": 1}}"#.to_vec()),
            Outcome::Response(br#"{"statusCode": 200, "headers": {"a": [1]}}"#.to_vec()),
            Outcome::Response(
                br#"{"statusCode": 200, "body": "%%", "isBase64Encoded": true}"#.to_vec(),
            ),
            Outcome::Error {
                error_type: "E".into(),
                error_message: "m".into(),
            },
            Outcome::Timeout,
            Outcome::Crashed {
                status: "signal: 11".into(),
            },
            Outcome::InitError {
                error_type: "E".into(),
                error_message: "m".into(),
            },
        ];
        for outcome in bad {
            let r = response(&outcome, &cx());
            assert_eq!(r.status, 500, "{outcome:?}");
            assert_eq!(r.json(), json!({"message": "Internal Server Error"}));
            assert_eq!(r.header(REQUEST_ID_HEADER), Some("req-1"));
        }
        let r = timeout_response(&cx());
        assert_eq!(
            (r.status, r.json()),
            (503, json!({"message": "Service Unavailable"}))
        );
        assert_eq!(r.header(REQUEST_ID_HEADER), Some("req-1"));
        assert_eq!(not_found(&cx()).status, 404);
    }
}
