//! REST request validation: required request parameters and the body's
//! model (a JSON schema, draft 4), checked before the function is called.
//!
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html>
//! A failure is `400 BadRequestException`, `{"message": "Missing required
//! request parameters: [a, b]"}` or `{"message": "Invalid request body"}`.
//!
//! The schema keywords checked: `type`, `enum`, `properties`, `required`,
//! `additionalProperties`, `minProperties`, `maxProperties`, `items`,
//! `additionalItems`, `minItems`, `maxItems`, `uniqueItems`, `minLength`,
//! `maxLength`, `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `multipleOf`, `allOf`, `anyOf`, `oneOf`, `not` and
//! local `$ref`s (`#/definitions/...`). `pattern`, `patternProperties` and
//! `format` are not checked.

use super::{Context, Request, Response, RouteMatch};
use serde_json::{json, Map, Value};

/// Checks a request against its method's validation: `required` are
/// request parameters in API Gateway's spelling
/// (`method.request.querystring.q`, `method.request.path.id`,
/// `method.request.header.X-Key`); `body_schema` is the
/// `application/json` model, checked for JSON (or untyped) bodies.
pub fn validate(
    req: &Request,
    m: &RouteMatch,
    cx: &Context,
    required: &[String],
    body_schema: Option<&Value>,
) -> Result<(), Response> {
    let query = super::query_pairs(&req.query);
    let missing: Vec<&str> = required
        .iter()
        .filter_map(|p| {
            let present = if let Some(name) = p.strip_prefix("method.request.querystring.") {
                query.iter().any(|(k, _)| k == name)
            } else if let Some(name) = p.strip_prefix("method.request.path.") {
                m.path_parameters.get(name).is_some_and(|v| !v.is_empty())
            } else if let Some(name) = p.strip_prefix("method.request.header.") {
                req.header(name).is_some()
            } else {
                true
            };
            (!present).then(|| p.rsplit('.').next().unwrap_or(p))
        })
        .collect();
    if !missing.is_empty() {
        return Err(bad_request(
            cx,
            &format!(
                "Missing required request parameters: [{}]",
                missing.join(", ")
            ),
        ));
    }
    let Some(schema) = body_schema else {
        return Ok(());
    };
    let json_body = match req.header("content-type") {
        None => true,
        Some(ct) => ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/json"),
    };
    if !json_body {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(body) if valid(schema, &body, schema) => Ok(()),
        _ => Err(bad_request(cx, "Invalid request body")),
    }
}

fn bad_request(cx: &Context, message: &str) -> Response {
    super::rest::gateway_error(
        cx,
        400,
        "BadRequestException",
        json!({ "message": message }),
    )
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn num(s: &Map<String, Value>, k: &str) -> Option<f64> {
    s.get(k).and_then(Value::as_f64)
}

fn count(s: &Map<String, Value>, k: &str) -> Option<usize> {
    s.get(k).and_then(Value::as_u64).map(|n| n as usize)
}

/// Whether `v` satisfies `schema`; `root` resolves `$ref`s.
pub fn valid(schema: &Value, v: &Value, root: &Value) -> bool {
    let Value::Object(s) = schema else {
        // `true`/`{}` accept everything; draft 4 has no `false` schema.
        return true;
    };
    if let Some(Value::String(r)) = s.get("$ref") {
        let Some(pointer) = r.strip_prefix('#') else {
            return true;
        };
        return match root.pointer(pointer) {
            Some(target) => valid(target, v, root),
            None => false,
        };
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_matches(t, v) => return false,
        Some(Value::Array(ts))
            if !ts
                .iter()
                .any(|t| t.as_str().is_some_and(|t| type_matches(t, v))) =>
        {
            return false
        }
        _ => {}
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(v) {
            return false;
        }
    }
    for (k, check) in [("allOf", 0), ("anyOf", 1), ("oneOf", 2)] {
        if let Some(Value::Array(subs)) = s.get(k) {
            let n = subs.iter().filter(|sub| valid(sub, v, root)).count();
            let ok = match check {
                0 => n == subs.len(),
                1 => n >= 1,
                _ => n == 1,
            };
            if !ok {
                return false;
            }
        }
    }
    if let Some(not) = s.get("not") {
        if valid(not, v, root) {
            return false;
        }
    }
    match v {
        Value::String(text) => {
            let len = text.chars().count();
            if count(s, "minLength").is_some_and(|m| len < m)
                || count(s, "maxLength").is_some_and(|m| len > m)
            {
                return false;
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let exclusive = |k| s.get(k).and_then(Value::as_bool).unwrap_or(false);
            if let Some(min) = num(s, "minimum") {
                if x < min || (exclusive("exclusiveMinimum") && x == min) {
                    return false;
                }
            }
            if let Some(max) = num(s, "maximum") {
                if x > max || (exclusive("exclusiveMaximum") && x == max) {
                    return false;
                }
            }
            if let Some(m) = num(s, "multipleOf").filter(|m| *m > 0.0) {
                let q = x / m;
                if (q - q.round()).abs() > 1e-9 {
                    return false;
                }
            }
        }
        Value::Array(items) => {
            if count(s, "minItems").is_some_and(|m| items.len() < m)
                || count(s, "maxItems").is_some_and(|m| items.len() > m)
            {
                return false;
            }
            if s.get("uniqueItems") == Some(&Value::Bool(true))
                && items
                    .iter()
                    .enumerate()
                    .any(|(i, a)| items[..i].contains(a))
            {
                return false;
            }
            match s.get("items") {
                Some(Value::Array(tuple)) => {
                    for (i, item) in items.iter().enumerate() {
                        let ok = match tuple.get(i) {
                            Some(sub) => valid(sub, item, root),
                            None => match s.get("additionalItems") {
                                Some(Value::Bool(false)) => false,
                                Some(extra) => valid(extra, item, root),
                                None => true,
                            },
                        };
                        if !ok {
                            return false;
                        }
                    }
                }
                Some(sub) if !items.iter().all(|item| valid(sub, item, root)) => return false,
                _ => {}
            }
        }
        Value::Object(o) => {
            if count(s, "minProperties").is_some_and(|m| o.len() < m)
                || count(s, "maxProperties").is_some_and(|m| o.len() > m)
            {
                return false;
            }
            if let Some(Value::Array(required)) = s.get("required") {
                if required
                    .iter()
                    .any(|r| r.as_str().is_some_and(|r| !o.contains_key(r)))
                {
                    return false;
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (k, val) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => {
                        if !valid(sub, val, root) {
                            return false;
                        }
                    }
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => return false,
                        Some(extra @ Value::Object(_)) if !valid(extra, val, root) => return false,
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apigw::Routes;

    fn cx() -> Context {
        Context {
            api_id: "rest1".into(),
            stage: "api".into(),
            request_id: "req-v".into(),
            ..Context::default()
        }
    }

    /// `POST /episodes`'s schema in stacks/clips.yaml.
    fn episode() -> Value {
        json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "type": "object",
            "required": ["title"],
            "additionalProperties": false,
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": "string", "maxLength": 5000}
            }
        })
    }

    fn post(body: &str, content_type: Option<&str>) -> Request {
        Request {
            method: "POST".into(),
            path: "/api/episodes".into(),
            headers: content_type
                .map(|c| vec![("Content-Type".to_string(), c.to_string())])
                .unwrap_or_default(),
            body: body.as_bytes().to_vec(),
            ..Request::default()
        }
    }

    #[test]
    fn bodies_are_checked_against_the_model() {
        let routes = Routes::new(["POST /episodes"]);
        let m = routes.find("POST", "/episodes").unwrap();
        let schema = episode();
        let check =
            |body: &str, ct: Option<&str>| validate(&post(body, ct), &m, &cx(), &[], Some(&schema));
        assert!(check(r#"{"title": "t"}"#, Some("application/json")).is_ok());
        assert!(check(r#"{"title": "t", "description": "d"}"#, None).is_ok());
        for bad in [
            r#"{}"#,
            r#"{"title": ""}"#,
            r#"{"title": 5}"#,
            r#"{"title": "t", "extra": 1}"#,
            r#"[]"#,
            "not json",
            "",
        ] {
            let err = check(bad, Some("application/json; charset=utf-8")).unwrap_err();
            assert_eq!(
                (err.status, err.json()),
                (400, json!({"message": "Invalid request body"})),
                "{bad}"
            );
            assert_eq!(err.header("x-amzn-ErrorType"), Some("BadRequestException"));
            assert_eq!(err.header("x-amzn-RequestId"), Some("req-v"));
        }
        let long = format!(r#"{{"title": "{}"}}"#, "é".repeat(201));
        assert!(check(&long, None).is_err());
        let fits = format!(r#"{{"title": "{}"}}"#, "é".repeat(200));
        assert!(check(&fits, None).is_ok());
        // Only JSON bodies have a model.
        assert!(check("plain", Some("text/plain")).is_ok());
    }

    #[test]
    fn required_parameters_are_named_when_missing() {
        let routes = Routes::new(["GET /episodes/{id}"]);
        let m = routes.find("GET", "/episodes/7").unwrap();
        let required: Vec<String> = [
            "method.request.path.id",
            "method.request.querystring.limit",
            "method.request.querystring.cursor",
        ]
        .map(String::from)
        .to_vec();
        let mut req = Request {
            method: "GET".into(),
            path: "/api/episodes/7".into(),
            query: "limit=5".into(),
            ..Request::default()
        };
        let err = validate(&req, &m, &cx(), &required, None).unwrap_err();
        assert_eq!(
            (err.status, err.json()),
            (
                400,
                json!({"message": "Missing required request parameters: [cursor]"})
            )
        );
        req.query = "limit=5&cursor=".into();
        assert!(validate(&req, &m, &cx(), &required, None).is_ok());
    }

    #[test]
    fn schema_keywords() {
        let ok = |s: Value, v: Value| valid(&s, &v, &s);
        assert!(ok(json!({"minProperties": 1}), json!({"a": 1})));
        assert!(!ok(json!({"minProperties": 1}), json!({})));
        assert!(ok(json!({"type": "integer"}), json!(3)));
        assert!(!ok(json!({"type": "integer"}), json!(3.5)));
        assert!(ok(json!({"type": ["string", "null"]}), json!(null)));
        assert!(!ok(json!({"enum": ["1:1", "16:9"]}), json!("4:3")));
        assert!(ok(
            json!({"minimum": 1, "exclusiveMinimum": true}),
            json!(1.5)
        ));
        assert!(!ok(
            json!({"minimum": 1, "exclusiveMinimum": true}),
            json!(1)
        ));
        assert!(!ok(json!({"maximum": 10}), json!(11)));
        assert!(!ok(json!({"multipleOf": 0.5}), json!(1.2)));
        assert!(ok(
            json!({"items": {"type": "string"}, "uniqueItems": true, "maxItems": 2}),
            json!(["a", "b"])
        ));
        assert!(!ok(json!({"uniqueItems": true}), json!([1, 1])));
        assert!(!ok(
            json!({"items": [{"type": "string"}], "additionalItems": false}),
            json!(["a", 1])
        ));
        assert!(!ok(
            json!({"oneOf": [{"type": "number"}, {"minimum": 0}]}),
            json!(3)
        ));
        assert!(ok(
            json!({"anyOf": [{"type": "number"}, {"type": "string"}]}),
            json!("x")
        ));
        assert!(!ok(json!({"not": {"type": "string"}}), json!("x")));
        assert!(!ok(
            json!({"additionalProperties": {"type": "string"}}),
            json!({"a": 1})
        ));
        let with_ref = json!({"definitions": {"n": {"type": "number"}}, "properties": {"a": {"$ref": "#/definitions/n"}}});
        assert!(ok(with_ref.clone(), json!({"a": 1})));
        assert!(!ok(with_ref, json!({"a": "x"})));
        assert!(!ok(json!({"$ref": "#/definitions/missing"}), json!(1)));
    }
}
