//! REST APIs: the Lambda proxy integration.
//!
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html>
//! ("Input format of a Lambda function for proxy integration", "Output
//! format of a Lambda function for proxy integration").

use super::{now_ms, query_pairs, request_time, Context, Request, Response, RouteMatch};
use crate::runtime::Outcome;
use serde_json::{json, Map, Value};

/// The header every REST API answer carries.
pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";

/// The proxy event for a request that matched `m`. `authorizer` is the
/// whole `requestContext.authorizer` object (for a Lambda authorizer:
/// `principalId` and the context's keys, see
/// [`super::authorizer::rest_context`]; for IAM, `None`).
pub fn event(req: &Request, m: &RouteMatch, cx: &Context, authorizer: Option<&Value>) -> Value {
    event_with_identity(req, m, cx, authorizer, None)
}

/// [`event`] with the caller's access key in `requestContext.identity`
/// (requests an `iam` API verified).
pub fn event_with_identity(
    req: &Request,
    m: &RouteMatch,
    cx: &Context,
    authorizer: Option<&Value>,
    access_key: Option<&str>,
) -> Value {
    let epoch = now_ms();
    // `headers` keeps the last value of a repeated header,
    // `multiValueHeaders` every value; names as the client sent them.
    let mut headers = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in &req.headers {
        let key = multi
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| name.clone());
        headers.insert(key.clone(), Value::String(value.clone()));
        match multi.entry(key).or_insert_with(|| json!([])) {
            Value::Array(vs) => vs.push(Value::String(value.clone())),
            other => *other = json!([value]),
        }
    }
    let mut query = Map::new();
    let mut multi_query: Map<String, Value> = Map::new();
    for (k, v) in query_pairs(&req.query) {
        query.insert(k.clone(), Value::String(v.clone()));
        match multi_query.entry(k).or_insert_with(|| json!([])) {
            Value::Array(vs) => vs.push(Value::String(v)),
            other => *other = json!([v]),
        }
    }
    let nullable = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    // The path without the stage; `requestContext.path` keeps it.
    let path = super::route_path(&req.path, &cx.stage).unwrap_or(&req.path);
    // REST APIs without binary media types (the stacks declare none) pass
    // every body as text.
    let body = if req.body.is_empty() {
        Value::Null
    } else {
        Value::String(String::from_utf8_lossy(&req.body).into_owned())
    };
    let mut ev = json!({
        "resource": m.resource,
        "path": path,
        "httpMethod": req.method,
        "headers": nullable(headers),
        "multiValueHeaders": nullable(multi),
        "queryStringParameters": nullable(query),
        "multiValueQueryStringParameters": nullable(multi_query),
        "pathParameters": if m.path_parameters.is_empty() { Value::Null } else { super::string_map(&m.path_parameters) },
        "stageVariables": null,
        "requestContext": {
            "accountId": cx.account_id,
            "apiId": cx.api_id,
            "domainName": cx.domain_name,
            "domainPrefix": cx.domain_prefix(),
            "extendedRequestId": cx.request_id,
            "httpMethod": req.method,
            "identity": {
                "accessKey": access_key,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": req.source_ip,
                "user": null,
                "userAgent": req.header("user-agent"),
                "userArn": null,
            },
            "path": req.path,
            "protocol": "HTTP/1.1",
            "requestId": cx.request_id,
            "requestTime": request_time(epoch),
            "requestTimeEpoch": epoch,
            "resourceId": resource_id(&m.resource),
            "resourcePath": m.resource,
            "stage": cx.stage,
        },
        "body": body,
        "isBase64Encoded": false,
    });
    if let Some(a) = authorizer {
        ev["requestContext"]["authorizer"] = a.clone();
    }
    ev
}

/// A stable short id for a resource path, the way API Gateway names
/// resources (`abc123`).
fn resource_id(resource: &str) -> String {
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in resource.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..6)
        .map(|i| ALPHABET[((h >> (i * 6)) % 36) as usize] as char)
        .collect()
}

fn stamp(resp: Response, cx: &Context) -> Response {
    resp.with_header(REQUEST_ID_HEADER, &cx.request_id)
}

/// An answer of API Gateway itself, with its `x-amzn-ErrorType`.
pub(crate) fn gateway_error(cx: &Context, status: u16, error_type: &str, body: Value) -> Response {
    stamp(
        Response {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-amzn-ErrorType".into(), error_type.into()),
            ],
            body: body.to_string().into_bytes(),
        },
        cx,
    )
}

/// `502 {"message": "Internal server error"}`: a function error, a crash,
/// a function timeout or a malformed proxy answer.
pub fn internal_error(cx: &Context) -> Response {
    gateway_error(
        cx,
        502,
        "InternalServerErrorException",
        json!({"message": "Internal server error"}),
    )
}

/// `504 {"message": "Endpoint request timed out"}`: API Gateway's own
/// integration timeout (29 s) ran out before the function answered.
pub fn timeout_response(cx: &Context) -> Response {
    gateway_error(
        cx,
        504,
        "InternalServerErrorException",
        json!({"message": "Endpoint request timed out"}),
    )
}

/// `403 {"message":"Missing Authentication Token"}`: REST APIs answer an
/// unknown resource or method this way, not with a 404.
pub fn not_found(cx: &Context) -> Response {
    gateway_error(
        cx,
        403,
        "MissingAuthenticationTokenException",
        json!({"message": "Missing Authentication Token"}),
    )
}

/// The client's answer for the function's outcome, by the proxy
/// integration's output rules: a JSON object with an integer `statusCode`,
/// optional `headers` / `multiValueHeaders` of strings, a string `body` and
/// a boolean `isBase64Encoded`. Anything else is a 502. Without binary
/// media types API Gateway does not decode a base64 body: it is sent as
/// the text the function returned. `content-type` defaults to
/// `application/json`.
pub fn response(outcome: &Outcome, cx: &Context) -> Response {
    let Outcome::Response(bytes) = outcome else {
        return internal_error(cx);
    };
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(bytes) else {
        return internal_error(cx);
    };
    proxy_answer(&o).map_or_else(|| internal_error(cx), |r| stamp(r, cx))
}

fn proxy_answer(o: &Map<String, Value>) -> Option<Response> {
    let (status, mut headers) = super::status_and_headers(o, false)?;
    match o.get("isBase64Encoded") {
        None | Some(Value::Null | Value::Bool(_)) => {}
        Some(_) => return None,
    }
    let body = match o.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(_) => return None,
    };
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/json".into()));
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
    use aws_lambda_events::apigw::ApiGatewayProxyRequest;

    fn cx() -> Context {
        Context {
            api_id: "rest1".into(),
            stage: "local".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            domain_name: "rest1.execute-api.localhost".into(),
            request_id: "req-r".into(),
        }
    }

    #[test]
    fn the_proxy_event_reads_as_the_lambda_type() {
        let routes = Routes::new(["GET /episodes/{id}", "ANY /files/{proxy+}"]);
        let req = Request {
            method: "GET".into(),
            path: "/local/episodes/e%2F1".into(),
            query: "a=1&a=2&b=x".into(),
            headers: vec![
                ("Accept".into(), "text/plain".into()),
                ("X-Two".into(), "1".into()),
                ("x-two".into(), "2".into()),
                ("User-Agent".into(), "ua".into()),
            ],
            body: Vec::new(),
            source_ip: "10.0.0.1".into(),
        };
        let m = routes.find("GET", "/episodes/e%2F1").unwrap();
        let auth = json!({"principalId": "user-1", "role": "admin"});
        let ev = event(&req, &m, &cx(), Some(&auth));
        assert_eq!(ev["resource"], "/episodes/{id}");
        assert_eq!(ev["path"], "/episodes/e%2F1");
        assert_eq!(ev["requestContext"]["path"], "/local/episodes/e%2F1");
        assert_eq!(ev["requestContext"]["resourcePath"], "/episodes/{id}");
        assert_eq!(ev["headers"]["X-Two"], "2");
        assert_eq!(ev["multiValueHeaders"]["X-Two"], json!(["1", "2"]));
        assert_eq!(ev["queryStringParameters"], json!({"a": "2", "b": "x"}));
        assert_eq!(
            ev["multiValueQueryStringParameters"]["a"],
            json!(["1", "2"])
        );
        assert_eq!(ev["pathParameters"], json!({"id": "e/1"}));
        assert_eq!(ev["body"], Value::Null);
        assert_eq!(ev["stageVariables"], Value::Null);

        let typed: ApiGatewayProxyRequest = serde_json::from_value(ev).unwrap();
        assert_eq!(typed.resource.as_deref(), Some("/episodes/{id}"));
        assert_eq!(typed.http_method.as_str(), "GET");
        assert_eq!(typed.path_parameters["id"], "e/1");
        assert_eq!(typed.headers["x-two"], "2");
        assert_eq!(typed.multi_value_headers.get_all("x-two").iter().count(), 2);
        assert_eq!(typed.query_string_parameters.first("b"), Some("x"));
        assert_eq!(
            typed
                .multi_value_query_string_parameters
                .all("a")
                .map(|v| v.len()),
            Some(2)
        );
        assert_eq!(
            typed.request_context.identity.source_ip.as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(typed.request_context.stage.as_deref(), Some("local"));
        assert_eq!(
            typed.request_context.resource_path.as_deref(),
            Some("/episodes/{id}")
        );
        assert_eq!(typed.request_context.request_id.as_deref(), Some("req-r"));
        assert_eq!(
            typed.request_context.authorizer.fields.get("role"),
            Some(&json!("admin"))
        );
    }

    #[test]
    fn an_empty_request_has_null_maps_and_a_text_body() {
        let routes = Routes::new(["POST /"]);
        let req = Request {
            method: "POST".into(),
            path: "/local".into(),
            body: b"{\"a\":1}".to_vec(),
            ..Request::default()
        };
        let ev = event(&req, &routes.find("POST", "/").unwrap(), &cx(), None);
        for k in [
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "pathParameters",
        ] {
            assert_eq!(ev[k], Value::Null, "{k}");
        }
        assert_eq!(ev["path"], "/");
        assert_eq!(ev["body"], "{\"a\":1}");
        assert!(ev["requestContext"].get("authorizer").is_none());
        let typed: ApiGatewayProxyRequest = serde_json::from_value(ev).unwrap();
        assert_eq!(typed.body.as_deref(), Some("{\"a\":1}"));
    }

    fn answer(v: Value) -> Response {
        response(&Outcome::Response(v.to_string().into_bytes()), &cx())
    }

    #[test]
    fn proxy_answers_set_status_headers_and_body() {
        let r = answer(json!({
            "statusCode": 302,
            "headers": {"Location": "/x", "X-A": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "x-a": ["2", "3"]},
            "body": "moved",
            "isBase64Encoded": false,
        }));
        assert_eq!((r.status, r.body.as_slice()), (302, &b"moved"[..]));
        assert_eq!(r.header("location"), Some("/x"));
        let all = |n: &str| {
            r.headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("set-cookie"), ["a=1", "b=2"]);
        assert_eq!(all("x-a"), ["2", "3"]);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header(REQUEST_ID_HEADER), Some("req-r"));
        // Not decoded without binary media types.
        let r = answer(json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}));
        assert_eq!(r.body, b"aGk=");
    }

    #[test]
    fn anything_else_is_502_and_the_integration_timeout_504() {
        for outcome in [
            Outcome::Response(b"[]".to_vec()),
            Outcome::Response(b"\"ok\"".to_vec()),
            Outcome::Response(b"{\"body\": \"no status\"}".to_vec()),
            Outcome::Response(b"{\"statusCode\": 200, \"body\": 5}".to_vec()),
            Outcome::Response(b"{\"statusCode\": 200, \"headers\": []}".to_vec()),
            Outcome::Response(b"{\"statusCode\": 200, \"isBase64Encoded\": \"no\"}".to_vec()),
            Outcome::Response(b"garbage".to_vec()),
            Outcome::Error {
                error_type: "E".into(),
                error_message: "m".into(),
            },
            Outcome::Timeout,
            Outcome::Crashed {
                status: "exit status: 101".into(),
            },
            Outcome::InitError {
                error_type: "E".into(),
                error_message: "m".into(),
            },
        ] {
            let r = response(&outcome, &cx());
            assert_eq!(r.status, 502, "{outcome:?}");
            assert_eq!(r.json(), json!({"message": "Internal server error"}));
            assert_eq!(r.header(REQUEST_ID_HEADER), Some("req-r"));
        }
        let r = timeout_response(&cx());
        assert_eq!(
            (r.status, r.json()),
            (504, json!({"message": "Endpoint request timed out"}))
        );
        let r = not_found(&cx());
        assert_eq!(
            (r.status, r.json()),
            (403, json!({"message": "Missing Authentication Token"}))
        );
    }
}
