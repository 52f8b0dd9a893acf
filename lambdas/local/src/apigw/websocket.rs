//! WebSocket APIs: `$connect`, `$disconnect`, messages and route selection.
//!
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-selection-expressions.html>
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-route-keys-connect-disconnect.html>

use super::{now_ms, query_pairs, request_time, Context, Request};
use crate::runtime::Outcome;
use base64::Engine as _;
use serde_json::{json, Map, Value};

/// One client connection, as the events and the Management API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// API Gateway's ids are 11 random bytes in base64 (`L0SM9cOFvHcCIhw=`).
    pub id: String,
    /// Epoch milliseconds.
    pub connected_at: u64,
    pub source_ip: String,
    pub user_agent: String,
}

impl Connection {
    /// A new connection with an id shaped like API Gateway's.
    pub fn new(source_ip: &str, user_agent: &str) -> Connection {
        let bytes = &uuid::Uuid::new_v4().into_bytes()[..11];
        Connection {
            id: base64::engine::general_purpose::STANDARD.encode(bytes),
            connected_at: now_ms(),
            source_ip: source_ip.into(),
            user_agent: user_agent.into(),
        }
    }
}

fn context(cx: &Context, conn: &Connection, route_key: &str, event_type: &str) -> Value {
    let epoch = now_ms();
    json!({
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": cx.request_id,
        "requestTime": request_time(epoch),
        "messageDirection": "IN",
        "stage": cx.stage,
        "connectedAt": conn.connected_at,
        "requestTimeEpoch": epoch,
        "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
        "requestId": cx.request_id,
        "domainName": cx.domain_name,
        "connectionId": conn.id,
        "apiId": cx.api_id,
    })
}

/// The `$connect` event: the upgrade request's headers and query (single
/// and multi-value) and, when a Lambda authorizer allowed it, its context
/// in `requestContext.authorizer`.
pub fn connect_event(
    req: &Request,
    cx: &Context,
    conn: &Connection,
    authorizer: Option<&Value>,
) -> Value {
    let mut headers = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (k, v) in &req.headers {
        headers.insert(k.clone(), Value::String(v.clone()));
        match multi.entry(k.clone()).or_insert_with(|| json!([])) {
            Value::Array(vs) => vs.push(Value::String(v.clone())),
            other => *other = json!([v]),
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
    let mut ev = json!({
        "headers": headers,
        "multiValueHeaders": multi,
        "requestContext": context(cx, conn, "$connect", "CONNECT"),
        "isBase64Encoded": false,
    });
    if !query.is_empty() {
        ev["queryStringParameters"] = Value::Object(query);
        ev["multiValueQueryStringParameters"] = Value::Object(multi_query);
    }
    if let Some(a) = authorizer {
        ev["requestContext"]["authorizer"] = a.clone();
    }
    ev
}

/// The `$disconnect` event. `status_code` and `reason` are the close
/// frame's (1005 and "" when the client sent none; 1006 when the socket
/// dropped).
pub fn disconnect_event(cx: &Context, conn: &Connection, status_code: u16, reason: &str) -> Value {
    let mut rc = context(cx, conn, "$disconnect", "DISCONNECT");
    rc["disconnectStatusCode"] = json!(status_code);
    rc["disconnectReason"] = json!(reason);
    json!({
        "headers": {"Host": cx.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""},
        "multiValueHeaders": {"Host": [cx.domain_name], "x-api-key": [""], "X-Forwarded-For": [""], "x-restapi": [""]},
        "requestContext": rc,
        "isBase64Encoded": false,
    })
}

/// A message event for the route [`select_route`] chose. A text frame is
/// the body as is; a binary frame is base64 with `isBase64Encoded`.
pub fn message_event(
    cx: &Context,
    conn: &Connection,
    route_key: &str,
    body: &[u8],
    binary: bool,
) -> Value {
    let mut rc = context(cx, conn, route_key, "MESSAGE");
    rc["messageId"] = json!(message_id());
    let (body, base64) = match std::str::from_utf8(body) {
        Ok(text) if !binary => (text.to_string(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    json!({
        "requestContext": rc,
        "body": body,
        "isBase64Encoded": base64,
    })
}

fn message_id() -> String {
    let bytes = &uuid::Uuid::new_v4().into_bytes()[..12];
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The route a message goes to: the value the route selection expression
/// (`$request.body.action`, `${request.body.a.b}`) finds in the JSON body
/// when a route has that key, else `$default` when declared, else `None`
/// (API Gateway then sends [`no_route_frame`]). A body that is not a JSON
/// object, or a missing or non-scalar value, selects `$default`.
pub fn select_route(expression: &str, body: &[u8], routes: &[String]) -> Option<String> {
    let fallback = || routes.iter().find(|r| *r == "$default").cloned();
    let expr = expression.trim();
    let expr = expr
        .strip_prefix("${")
        .and_then(|e| e.strip_suffix('}'))
        .map(|e| format!("${e}"))
        .unwrap_or_else(|| expr.to_string());
    let Some(path) = expr.strip_prefix("$request.body.") else {
        return fallback();
    };
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return fallback();
    };
    let mut at = &json;
    for part in path.split('.') {
        match at.get(part) {
            Some(v) => at = v,
            None => return fallback(),
        }
    }
    let key = match at {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return fallback(),
    };
    if key.starts_with('$') {
        // `$connect` and friends are never chosen by a message.
        return fallback();
    }
    match routes.iter().find(|r| **r == key) {
        Some(r) => Some(r.clone()),
        None => fallback(),
    }
}

/// The frame API Gateway sends the client when no route matches a message
/// and there is no `$default`.
pub fn no_route_frame(connection_id: &str, request_id: &str) -> String {
    json!({"message": "Forbidden", "connectionId": connection_id, "requestId": request_id})
        .to_string()
}

/// The frame API Gateway sends the client when a message's integration
/// failed (function error, crash, timeout).
pub fn error_frame(connection_id: &str, request_id: &str) -> String {
    json!({"message": "Internal server error", "connectionId": connection_id, "requestId": request_id})
        .to_string()
}

/// What the client gets back for a message: with the one-way routes the
/// stacks declare (no route responses), nothing on success, and
/// [`error_frame`] when the integration failed.
pub fn message_reply(outcome: &Outcome, connection_id: &str, request_id: &str) -> Option<String> {
    match outcome {
        Outcome::Response(_) => None,
        _ => Some(error_frame(connection_id, request_id)),
    }
}

/// Whether `$connect`'s answer accepts the connection: `Ok(())` for a
/// 2xx `statusCode` (or an answer without one), `Err(status)` with the
/// status the upgrade is refused with otherwise (a function error or
/// crash: 500).
pub fn connect_verdict(outcome: &Outcome) -> Result<(), u16> {
    let Outcome::Response(bytes) = outcome else {
        return Err(500);
    };
    let status = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(o)) => match o.get("statusCode") {
            None | Some(Value::Null) => 200,
            Some(v) => match v.as_u64().filter(|s| (100..600).contains(s)) {
                Some(s) => s as u16,
                None => return Err(500),
            },
        },
        Ok(_) => 200,
        Err(_) => return Err(500),
    };
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;

    fn cx() -> Context {
        Context {
            api_id: "ws1".into(),
            stage: "local".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            domain_name: "ws1.execute-api.localhost".into(),
            request_id: "req-w".into(),
        }
    }

    fn conn() -> Connection {
        Connection {
            id: "L0SM9cOFvHcCIhw=".into(),
            connected_at: 1_796_157_880_000,
            source_ip: "127.0.0.1".into(),
            user_agent: "ws-client".into(),
        }
    }

    #[test]
    fn connect_event_carries_headers_and_query() {
        let req = Request {
            method: "GET".into(),
            path: "/local".into(),
            query: "sessionId=s%201&x=1&x=2".into(),
            headers: vec![("Sec-WebSocket-Key".into(), "k".into())],
            ..Request::default()
        };
        let ev = connect_event(&req, &cx(), &conn(), Some(&json!({"principalId": "p"})));
        assert_eq!(ev["queryStringParameters"]["sessionId"], "s 1");
        assert_eq!(
            ev["multiValueQueryStringParameters"]["x"],
            json!(["1", "2"])
        );
        let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(ev).unwrap();
        assert_eq!(typed.request_context.route_key.as_deref(), Some("$connect"));
        assert_eq!(typed.request_context.event_type.as_deref(), Some("CONNECT"));
        assert_eq!(
            typed.request_context.connection_id.as_deref(),
            Some("L0SM9cOFvHcCIhw=")
        );
        assert_eq!(typed.request_context.connected_at, 1_796_157_880_000);
        assert_eq!(typed.request_context.stage.as_deref(), Some("local"));
        assert_eq!(typed.request_context.apiid.as_deref(), Some("ws1"));
        assert_eq!(
            typed.query_string_parameters.first("sessionId"),
            Some("s 1")
        );
        assert_eq!(typed.headers["sec-websocket-key"], "k");
    }

    #[test]
    fn disconnect_and_message_events_read_as_the_lambda_type() {
        let ev = disconnect_event(&cx(), &conn(), 1001, "going away");
        let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(ev.clone()).unwrap();
        assert_eq!(
            typed.request_context.event_type.as_deref(),
            Some("DISCONNECT")
        );
        assert_eq!(
            typed.request_context.route_key.as_deref(),
            Some("$disconnect")
        );
        assert_eq!(ev["requestContext"]["disconnectStatusCode"], 1001);

        let ev = message_event(&cx(), &conn(), "status", br#"{"action":"status"}"#, false);
        let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(ev.clone()).unwrap();
        assert_eq!(typed.request_context.event_type.as_deref(), Some("MESSAGE"));
        assert_eq!(typed.request_context.route_key.as_deref(), Some("status"));
        assert!(typed.request_context.message_id.is_some());
        assert_eq!(typed.body.as_deref(), Some(r#"{"action":"status"}"#));
        assert!(!typed.is_base64_encoded);

        let ev = message_event(&cx(), &conn(), "$default", &[0, 1, 2], true);
        assert_eq!(
            (ev["body"].as_str(), ev["isBase64Encoded"].as_bool()),
            (Some("AAEC"), Some(true))
        );
    }

    #[test]
    fn routes_are_selected_by_the_expression_with_default_fallback() {
        let with_default: Vec<String> = ["$connect", "$default", "status", "5"]
            .map(String::from)
            .to_vec();
        let without: Vec<String> = ["$connect", "status"].map(String::from).to_vec();
        let e = "$request.body.action";
        assert_eq!(
            select_route(e, br#"{"action":"status"}"#, &with_default).as_deref(),
            Some("status")
        );
        assert_eq!(
            select_route(e, br#"{"action":"dance"}"#, &with_default).as_deref(),
            Some("$default")
        );
        assert_eq!(
            select_route(e, br#"{"action":5}"#, &with_default).as_deref(),
            Some("5")
        );
        assert_eq!(
            select_route(e, b"not json", &with_default).as_deref(),
            Some("$default")
        );
        assert_eq!(
            select_route(e, br#"{"action":"$connect"}"#, &with_default).as_deref(),
            Some("$default")
        );
        assert_eq!(select_route(e, br#"{"action":"dance"}"#, &without), None);
        assert_eq!(
            select_route(e, br#"{"action":"status"}"#, &without).as_deref(),
            Some("status")
        );
        assert_eq!(
            select_route(
                "${request.body.m.kind}",
                br#"{"m":{"kind":"status"}}"#,
                &without
            )
            .as_deref(),
            Some("status")
        );
        assert_eq!(
            serde_json::from_str::<Value>(&no_route_frame("c=", "r")).unwrap(),
            json!({"message": "Forbidden", "connectionId": "c=", "requestId": "r"})
        );
    }

    #[test]
    fn connect_answers_accept_or_refuse() {
        let resp = |s: &str| Outcome::Response(s.as_bytes().to_vec());
        assert_eq!(connect_verdict(&resp(r#"{"statusCode":200}"#)), Ok(()));
        assert_eq!(
            connect_verdict(&resp(r#"{"statusCode":204,"body":""}"#)),
            Ok(())
        );
        assert_eq!(connect_verdict(&resp("null")), Ok(()));
        assert_eq!(
            connect_verdict(&resp(r#"{"statusCode":404,"body":"x"}"#)),
            Err(404)
        );
        assert_eq!(connect_verdict(&resp(r#"{"statusCode":"x"}"#)), Err(500));
        assert_eq!(connect_verdict(&resp("garbage")), Err(500));
        assert_eq!(connect_verdict(&Outcome::Timeout), Err(500));
        assert_eq!(message_reply(&resp("{}"), "c", "r"), None);
        let frame = message_reply(&Outcome::Crashed { status: "x".into() }, "c", "r").unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&frame).unwrap()["message"],
            "Internal server error"
        );
    }

    #[test]
    fn connection_ids_look_like_api_gateways() {
        let c = Connection::new("127.0.0.1", "ua");
        assert_eq!(c.id.len(), 16);
        assert!(c.id.ends_with('='));
        assert_ne!(c.id, Connection::new("127.0.0.1", "ua").id);
    }
}
