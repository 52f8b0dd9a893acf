//! API Gateway's side: route matching, the events it sends (HTTP API
//! payload 2.0, REST proxy integration, WebSocket), how it turns a
//! function's answer into an HTTP response, Lambda authorizers, and the
//! WebSocket Management API (`@connections`).
//!
//! What goes over the wire is plain data ([`Request`], [`Response`]): the
//! server in front (`stackctl serve`) reads the socket, asks [`Routes`] for
//! the route, builds the event with [`http`], [`rest`] or [`websocket`],
//! invokes the function and turns its [`Outcome`](crate::runtime::Outcome)
//! back into a [`Response`].

pub mod authorizer;
pub mod http;
pub mod management;
pub mod rest;
pub mod routes;
pub mod validation;
pub mod websocket;

pub use routes::{RouteMatch, Routes};

use base64::Engine as _;
use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// A request as the client sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Raw, as received, without the query: for a named stage it starts
    /// with `/{stage}` (see [`route_path`]).
    pub path: String,
    /// Raw, without the `?`.
    pub query: String,
    /// As received, in order, names in the client's case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
}

impl Request {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What API Gateway answers the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// In order; a name may repeat (`set-cookie`).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON answer of API Gateway itself (`{"message": ...}`).
    pub fn message(status: u16, message: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::json!({ "message": message })
                .to_string()
                .into_bytes(),
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (tests and callers that inspect API Gateway's own
    /// answers); `Value::Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Where and as what the API is served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub api_id: String,
    /// `$default` or a stage name.
    pub stage: String,
    pub account_id: String,
    pub region: String,
    /// The host the client used (its `Host` header, without the port the
    /// way API Gateway's own domain has none: callers pass what they want
    /// functions to see).
    pub domain_name: String,
    pub request_id: String,
}

impl Context {
    /// The first label of the domain name, as `requestContext.domainPrefix`.
    pub fn domain_prefix(&self) -> &str {
        self.domain_name
            .split('.')
            .next()
            .unwrap_or(&self.domain_name)
    }
}

/// The path routes are matched against: for the `$default` stage the path
/// itself; for a named stage the part after `/{stage}` (`/` when nothing
/// follows). `None` when the path is outside the stage (API Gateway answers
/// those as an unknown route).
pub fn route_path<'a>(path: &'a str, stage: &str) -> Option<&'a str> {
    if stage == "$default" || stage.is_empty() {
        return Some(if path.is_empty() { "/" } else { path });
    }
    let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
    match rest {
        "" => Some("/"),
        r if r.starts_with('/') => Some(r),
        _ => None,
    }
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// `01/Dec/2026:20:44:40 +0000`, API Gateway's `requestTime`.
pub(crate) fn request_time(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31); Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Percent-decodes (not `+`: API Gateway leaves it as sent).
pub(crate) fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The query's parameters in order, names and values percent-decoded.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Whether API Gateway passes a body of this content type as text: it
/// base64-encodes everything else (`isBase64Encoded: true`). HTTP APIs
/// treat `text/*`, JSON, XML, JavaScript and form bodies as text.
pub(crate) fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ct.is_empty()
        || ct.starts_with("text/")
        || ct == "application/json"
        || ct.ends_with("+json")
        || ct == "application/xml"
        || ct.ends_with("+xml")
        || ct == "application/javascript"
        || ct == "application/x-www-form-urlencoded"
}

/// The `body` and `isBase64Encoded` fields for a request body: `None` when
/// empty, text as is when the content type is text and the bytes are UTF-8,
/// base64 otherwise.
pub(crate) fn body_fields(req: &Request) -> (Option<String>, bool) {
    if req.body.is_empty() {
        return (None, false);
    }
    match std::str::from_utf8(&req.body) {
        Ok(text) if is_text(req.header("content-type")) => (Some(text.to_string()), false),
        _ => (
            Some(base64::engine::general_purpose::STANDARD.encode(&req.body)),
            true,
        ),
    }
}

/// A JSON object of strings.
pub(crate) fn string_map<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<String, Value>>(),
    )
}

/// Decodes a function's `body` given its `isBase64Encoded`; `None` when
/// base64 is claimed but invalid.
pub(crate) fn answer_body(body: Option<&str>, base64: bool) -> Option<Vec<u8>> {
    let body = body.unwrap_or_default();
    if base64 {
        base64::engine::general_purpose::STANDARD.decode(body).ok()
    } else {
        Some(body.as_bytes().to_vec())
    }
}

/// A header value of a function's answer: strings as they are, numbers and
/// booleans as their text (API Gateway accepts those), anything else is not
/// a valid answer.
pub(crate) fn header_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A Lambda proxy answer's `statusCode`, `headers` and `multiValueHeaders`
/// (a name in both takes the multi values), names lower-cased when `lower`
/// (HTTP APIs) or as written (REST); `None` when API Gateway would reject
/// them.
pub(crate) fn status_and_headers(
    o: &Map<String, Value>,
    lower: bool,
) -> Option<(u16, Vec<(String, String)>)> {
    let status = o
        .get("statusCode")?
        .as_u64()
        .filter(|s| (100..600).contains(s))? as u16;
    let name = |k: &str| {
        if lower {
            k.to_ascii_lowercase()
        } else {
            k.to_string()
        }
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    match o.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                headers.push((name(k), header_value(v)?));
            }
        }
        Some(_) => return None,
    }
    match o.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, vs) in h {
                let Value::Array(vs) = vs else { return None };
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
                for v in vs {
                    headers.push((name(k), header_value(v)?));
                }
            }
        }
        Some(_) => return None,
    }
    Some((status, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_prefix_is_stripped_for_named_stages_only() {
        assert_eq!(route_path("/a/b", "$default"), Some("/a/b"));
        assert_eq!(route_path("/local/a/b", "local"), Some("/a/b"));
        assert_eq!(route_path("/local", "local"), Some("/"));
        assert_eq!(route_path("/local/", "local"), Some("/"));
        assert_eq!(route_path("/localx/a", "local"), None);
        assert_eq!(route_path("/a/b", "local"), None);
    }

    #[test]
    fn request_time_is_api_gateways_format() {
        // 2026-12-01T20:44:40Z
        assert_eq!(
            request_time(1_796_157_880_000),
            "01/Dec/2026:20:44:40 +0000"
        );
        assert_eq!(request_time(0), "01/Jan/1970:00:00:00 +0000");
        // A leap day.
        assert_eq!(
            request_time(1_709_210_096_000),
            "29/Feb/2024:12:34:56 +0000"
        );
    }

    #[test]
    fn bodies_are_text_or_base64_by_content_type() {
        let mut req = Request {
            body: b"{\"a\":1}".to_vec(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            ..Request::default()
        };
        assert_eq!(body_fields(&req), (Some("{\"a\":1}".into()), false));
        req.headers[0].1 = "image/png".into();
        assert_eq!(body_fields(&req), (Some("eyJhIjoxfQ==".into()), true));
        req.headers[0].1 = "text/plain; charset=utf-8".into();
        req.body = vec![0xff, 0xfe];
        assert_eq!(body_fields(&req), (Some("//4=".into()), true));
        req.body.clear();
        assert_eq!(body_fields(&req), (None, false));
    }

    #[test]
    fn query_pairs_are_decoded_in_order() {
        assert_eq!(
            query_pairs("a=1&b=x%20y&a=2&flag&=&c=a+b"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("a".into(), "2".into()),
                ("flag".into(), "".into()),
                ("".into(), "".into()),
                ("c".into(), "a+b".into()),
            ]
        );
    }
}
