use super::*;
use crate::apigw::Routes;
use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequest, ApiGatewayV2CustomAuthorizerV2Request,
};
use std::sync::atomic::{AtomicUsize, Ordering};

fn cx() -> Context {
    Context {
        api_id: "api1".into(),
        stage: "local".into(),
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        domain_name: "api1.execute-api.localhost".into(),
        request_id: "req-a".into(),
    }
}

fn req(headers: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        path: "/local/items/7".into(),
        query: "t=q1".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: Vec::new(),
        source_ip: "127.0.0.1".into(),
    }
}

fn respond(v: Value) -> Outcome {
    Outcome::Response(v.to_string().into_bytes())
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn arns_and_wildcards() {
    let a = arn(&cx(), "get", "/items/7");
    assert_eq!(
        a,
        "arn:aws:execute-api:us-east-1:123456789012:api1/local/GET/items/7"
    );
    assert_eq!(
        arn(&cx(), "GET", "/"),
        "arn:aws:execute-api:us-east-1:123456789012:api1/local/GET/"
    );
    let st = |allow, r: &str| Statement {
        allow,
        actions: vec!["execute-api:Invoke".into()],
        resources: vec![r.into()],
    };
    let base = "arn:aws:execute-api:us-east-1:123456789012:api1";
    assert_eq!(
        evaluate(&[st(true, &format!("{base}/*"))], &a),
        Verdict::Allow
    );
    assert_eq!(
        evaluate(&[st(true, &format!("{base}/local/GET/items/*"))], &a),
        Verdict::Allow
    );
    assert_eq!(
        evaluate(&[st(true, &format!("{base}/local/GET/items/?"))], &a),
        Verdict::Allow
    );
    assert_eq!(
        evaluate(&[st(true, &format!("{base}/local/POST/*"))], &a),
        Verdict::ImplicitDeny
    );
    assert_eq!(
        evaluate(
            &[st(true, "*"), st(false, &format!("{base}/*/GET/items/*"))],
            &a
        ),
        Verdict::ExplicitDeny
    );
    let other_action = Statement {
        allow: true,
        actions: vec!["s3:GetObject".into()],
        resources: vec!["*".into()],
    };
    assert_eq!(evaluate(&[other_action], &a), Verdict::ImplicitDeny);
    let any_action = Statement {
        allow: true,
        actions: vec!["execute-api:*".into()],
        resources: vec!["*".into()],
    };
    assert_eq!(evaluate(&[any_action], &a), Verdict::Allow);
}

#[test]
fn the_cache_keeps_answers_for_its_ttl_only() {
    let cache = Cache::new(Duration::from_secs(300));
    let t0 = Instant::now();
    let a = Answer::Simple {
        authorized: true,
        context: json!({}),
    };
    cache.put_at("k", a.clone(), t0);
    assert_eq!(
        cache.get_at("k", t0 + Duration::from_secs(299)),
        Some(a.clone())
    );
    assert_eq!(cache.get_at("k", t0 + Duration::from_secs(300)), None);
    assert_eq!(cache.get_at("k", t0), None, "an expired entry is dropped");
    let off = Cache::new(Duration::ZERO);
    off.put_at("k", a, t0);
    assert_eq!(off.get_at("k", t0), None);
}

#[test]
fn http_identity_sources_are_read_from_headers_query_and_context() {
    let r = req(&[("Authorization", "Bearer x"), ("X-A", "1"), ("x-a", "2")]);
    let sources = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        http_identity(
            &r,
            &cx(),
            &sources(&[
                "$request.header.Authorization",
                "$request.querystring.t",
                "$context.stage"
            ])
        ),
        Some(vec!["Bearer x".into(), "q1".into(), "local".into()])
    );
    assert_eq!(
        http_identity(&r, &cx(), &sources(&["$request.header.x-a"])),
        Some(vec!["1,2".into()])
    );
    assert_eq!(
        http_identity(
            &r,
            &cx(),
            &sources(&["$request.header.Authorization", "$request.header.Missing"])
        ),
        None
    );
    assert_eq!(
        http_identity(
            &req(&[("Authorization", "")]),
            &cx(),
            &sources(&["$request.header.Authorization"])
        ),
        None
    );
}

#[test]
fn the_http_authorizer_event_reads_as_the_lambda_type() {
    let routes = Routes::new(["GET /items/{id}"]);
    let r = req(&[("Authorization", "Bearer x")]);
    let m = routes.find("GET", "/items/7").unwrap();
    let ev = http_event(&r, &m, &cx(), &["Bearer x".to_string()]);
    assert_eq!(ev["type"], "REQUEST");
    assert_eq!(ev["version"], "2.0");
    let typed: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_value(ev).unwrap();
    assert_eq!(
        typed.route_arn.as_deref(),
        Some("arn:aws:execute-api:us-east-1:123456789012:api1/local/GET/items/7")
    );
    assert_eq!(typed.identity_source, Some(vec!["Bearer x".to_string()]));
    assert_eq!(typed.route_key.as_deref(), Some("GET /items/{id}"));
    assert_eq!(typed.path_parameters["id"], "7");
    assert_eq!(typed.headers["authorization"], "Bearer x");
}

#[test]
fn http_answers_simple_and_policy() {
    assert_eq!(
        http_answer(&respond(
            json!({"isAuthorized": true, "context": {"u": "1"}})
        )),
        Some(Answer::Simple {
            authorized: true,
            context: json!({"u": "1"})
        })
    );
    assert!(matches!(
        http_answer(&respond(
            json!({"principalId": "p", "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["*"]}]}})
        )),
        Some(Answer::Policy { .. })
    ));
    for bad in [
        respond(json!({"isAuthorized": "yes"})),
        respond(json!({"isAuthorized": true, "context": "x"})),
        respond(json!({"whatever": 1})),
        respond(
            json!({"policyDocument": {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}}),
        ),
        respond(json!([])),
        Outcome::Response(b"nope".to_vec()),
        Outcome::Error {
            error_type: "E".into(),
            error_message: "m".into(),
        },
        Outcome::Timeout,
    ] {
        assert_eq!(http_answer(&bad), None, "{bad:?}");
    }
}

#[test]
fn authorize_http_checks_identity_calls_caches_and_decides() {
    let routes = Routes::new(["GET /items/{id}"]);
    let m = routes.find("GET", "/items/7").unwrap();
    let auth = HttpAuthorizer::new(Vec::new(), 300);
    let calls = AtomicUsize::new(0);
    let run = |r: Request, answer: Outcome| {
        let calls = &calls;
        let auth = &auth;
        let m = &m;
        block_on(async move {
            authorize_http(auth, &r, m, &cx(), |ev| {
                calls.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    ev["identitySource"][0],
                    r.header("authorization").unwrap_or_default()
                );
                async move { answer }
            })
            .await
        })
    };
    // Missing identity: 401, the function is not called.
    let err = run(req(&[]), respond(json!({"isAuthorized": true}))).unwrap_err();
    assert_eq!(
        (err.status, err.json()),
        (401, json!({"message": "Unauthorized"}))
    );
    assert_eq!(err.header("apigw-requestid"), Some("req-a"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // Allowed, then cached: the second call's answer is not asked for.
    let ok = run(
        req(&[("Authorization", "alice")]),
        respond(json!({"isAuthorized": true, "context": {"user": "alice"}})),
    );
    assert_eq!(ok.unwrap(), json!({"user": "alice"}));
    let ok = run(
        req(&[("Authorization", "alice")]),
        respond(json!({"isAuthorized": false})),
    );
    assert_eq!(ok.unwrap(), json!({"user": "alice"}));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Another identity is asked; a deny is 403.
    let err = run(
        req(&[("Authorization", "bob")]),
        respond(json!({"isAuthorized": false})),
    )
    .unwrap_err();
    assert_eq!(
        (err.status, err.json()),
        (403, json!({"message": "Forbidden"}))
    );
    // A policy that does not cover the route is a deny too.
    let policy = json!({"principalId": "c", "policyDocument": {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:us-east-1:123456789012:api1/local/POST/*"}]}});
    let err = run(req(&[("Authorization", "carol")]), respond(policy)).unwrap_err();
    assert_eq!(err.status, 403);
    // A failing authorizer is a 500, and is not cached.
    let err = run(
        req(&[("Authorization", "dave")]),
        Outcome::Crashed { status: "x".into() },
    )
    .unwrap_err();
    assert_eq!(
        (err.status, err.json()),
        (500, json!({"message": "Internal Server Error"}))
    );
    let before = calls.load(Ordering::SeqCst);
    let ok = run(
        req(&[("Authorization", "dave")]),
        respond(json!({"isAuthorized": true})),
    );
    assert_eq!(ok.unwrap(), json!({}));
    assert_eq!(calls.load(Ordering::SeqCst), before + 1);
}

#[test]
fn the_token_and_request_events_read_as_the_lambda_types() {
    let ev = token_event("Bearer t", "arn:aws:execute-api:us-east-1:1:a/s/GET/x");
    let typed: ApiGatewayCustomAuthorizerRequest = serde_json::from_value(ev).unwrap();
    assert_eq!(typed.type_.as_deref(), Some("TOKEN"));
    assert_eq!(typed.authorization_token.as_deref(), Some("Bearer t"));
    assert_eq!(
        typed.method_arn.as_deref(),
        Some("arn:aws:execute-api:us-east-1:1:a/s/GET/x")
    );

    let routes = Routes::new(["GET /items/{id}"]);
    let m = routes.find("GET", "/items/7").unwrap();
    let ev = rest_request_event(&req(&[("Authorization", "x")]), &m, &cx());
    let typed: aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest =
        serde_json::from_value(ev).unwrap();
    assert_eq!(typed.type_.as_deref(), Some("REQUEST"));
    assert_eq!(typed.resource.as_deref(), Some("/items/{id}"));
    assert_eq!(
        typed.method_arn.as_deref(),
        Some("arn:aws:execute-api:us-east-1:123456789012:api1/local/GET/items/7")
    );
}

#[test]
fn authorize_token_follows_rest_rules() {
    let auth = TokenAuthorizer::new("X-Token", 0);
    let run = |r: Request, answer: Outcome| {
        block_on(authorize_token(&auth, &r, &cx(), |ev| {
            assert_eq!(ev["type"], "TOKEN");
            async move { answer }
        }))
    };
    let allow = |effect: &str| {
        respond(json!({
            "principalId": "user-1",
            "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": "arn:aws:execute-api:us-east-1:123456789012:api1/local/GET/*"}]},
            "context": {"role": "admin", "n": 1, "b": true}
        }))
    };
    let err = run(req(&[]), allow("Allow")).unwrap_err();
    assert_eq!(
        (err.status, err.json()),
        (401, json!({"message": "Unauthorized"}))
    );
    assert_eq!(err.header("x-amzn-RequestId"), Some("req-a"));
    let ctx = run(req(&[("x-token", "t")]), allow("Allow")).unwrap();
    assert_eq!(ctx["principalId"], "user-1");
    assert_eq!(ctx["role"], "admin");
    assert_eq!(ctx["n"], 1);
    let err = run(req(&[("x-token", "t")]), allow("Deny")).unwrap_err();
    assert_eq!(
        (err.status, err.json()),
        (
            403,
            json!({"Message": "User is not authorized to access this resource with an explicit deny"})
        )
    );
    let err = run(
        req(&[("x-token", "t")]),
        Outcome::Error {
            error_type: "Error".into(),
            error_message: "Unauthorized".into(),
        },
    )
    .unwrap_err();
    assert_eq!(err.status, 401);
    for bad in [
        Outcome::Error {
            error_type: "Error".into(),
            error_message: "boom".into(),
        },
        respond(json!({"isAuthorized": true})),
        respond(
            json!({"principalId": "p", "policyDocument": {"Statement": []}, "context": {"nested": {"a": 1}}}),
        ),
        Outcome::Timeout,
    ] {
        let err = run(req(&[("x-token", "t")]), bad.clone()).unwrap_err();
        assert_eq!(
            (err.status, err.json()),
            (500, json!({"message": null})),
            "{bad:?}"
        );
    }
    // Another method than the policy names: implicit deny.
    let mut post = req(&[("x-token", "t")]);
    post.method = "POST".into();
    let err = run(post, allow("Allow")).unwrap_err();
    assert_eq!(
        err.json(),
        json!({"Message": "User is not authorized to access this resource"})
    );
}

#[test]
fn a_rest_policy_is_cached_per_token_and_evaluated_per_method() {
    let auth = TokenAuthorizer::new("Authorization", 300);
    let calls = AtomicUsize::new(0);
    let only_get = respond(json!({
        "principalId": "u",
        "policyDocument": {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:us-east-1:123456789012:api1/local/GET/items/7"}]}
    }));
    let run = |r: Request| {
        block_on(authorize_token(&auth, &r, &cx(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            let a = only_get.clone();
            async move { a }
        }))
    };
    assert!(run(req(&[("Authorization", "tok")])).is_ok());
    let mut other = req(&[("Authorization", "tok")]);
    other.path = "/local/items/8".into();
    assert_eq!(run(other).unwrap_err().status, 403);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Signatures computed by botocore's `SigV4Auth` for these requests.
#[test]
fn sigv4_signatures_match_botocore() {
    let amz = "20261201T204947Z";
    let parsed = |h: &str| sigv4::parse(h).unwrap();
    let vanilla = Request {
        method: "GET".into(),
        path: "/".into(),
        headers: vec![
            ("Host".into(), "example.amazonaws.com".into()),
            ("X-Amz-Date".into(), amz.into()),
        ],
        ..Request::default()
    };
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=abad75adf1c71d7e69c63ef954dc9de34cabc05d3cde8d1ec6a84e736f485a0c";
    assert_eq!(
        sigv4::signature(&vanilla, &parsed(h), amz, secret),
        parsed(h).signature
    );
    let mut query = vanilla.clone();
    query.query = "Param2=value2&Param1=value1".into();
    let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b8caaedd877dcc9f2d1f55025de72f92a6c832f2daae2cf1c4e2a97584afd98f";
    assert_eq!(
        sigv4::signature(&query, &parsed(h), amz, secret),
        parsed(h).signature
    );
}

#[test]
fn iam_requests_must_carry_a_valid_signature() {
    let signed = Request {
        method: "POST".into(),
        path: "/local/items/a%20b".into(),
        query: "z=1&a=%2F".into(),
        headers: vec![
            ("Host".into(), "127.0.0.1:4010".into()),
            ("Content-Type".into(), "application/json".into()),
            ("X-Amz-Date".into(), "20261201T204947Z".into()),
            ("Authorization".into(), "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/execute-api/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=3f6e539d31f89190eb5082cb77d7ece8e575fd500b60bb99761ad1555de16bce".into()),
        ],
        body: br#"{"n":1}"#.to_vec(),
        source_ip: "127.0.0.1".into(),
    };
    let secrets = |k: &str| (k == "testing").then(|| "testing".to_string());
    assert_eq!(verify_sigv4(&signed, &cx(), secrets).unwrap(), "testing");

    let check = |r: &Request, status: u16, message: &str| {
        let err = verify_sigv4(r, &cx(), secrets).unwrap_err();
        assert_eq!(err.status, status);
        assert!(
            err.json()["message"].as_str().unwrap().contains(message),
            "{}",
            err.json()
        );
        assert_eq!(err.header("x-amzn-RequestId"), Some("req-a"));
    };
    let mut tampered = signed.clone();
    tampered.body = br#"{"n":2}"#.to_vec();
    check(&tampered, 403, "signature we calculated does not match");
    let mut wrong_secret = signed.clone();
    wrong_secret.path = "/local/items/a%20c".into();
    check(&wrong_secret, 403, "signature we calculated does not match");
    let mut unsigned = signed.clone();
    unsigned.headers.retain(|(k, _)| k != "Authorization");
    check(&unsigned, 403, "Missing Authentication Token");
    let mut unknown = signed.clone();
    unknown.headers[3].1 = unknown.headers[3]
        .1
        .replace("Credential=testing", "Credential=other");
    check(
        &unknown,
        403,
        "security token included in the request is invalid",
    );
    let mut garbled = signed.clone();
    garbled.headers[3].1 = "AWS4-HMAC-SHA256 Signature=abc".into();
    check(&garbled, 403, "requires 'Credential'");
    let mut basic = signed.clone();
    basic.headers[3].1 = "Basic dXNlcjpwYXNz".into();
    check(&basic, 403, "not a SigV4 header");
}
