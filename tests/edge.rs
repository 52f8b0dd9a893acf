//! The edge kinds of issue 12 (`load_balancer`, `rest_api`, `cdn`) from
//! `tests/fixtures/edge-project`: deployed to a moto server started by the
//! test and read back through the ELBv2 and API Gateway APIs (the load
//! balancer, its listener and security group, the NLB's `alb` target group;
//! the REST API's resources, methods, integrations and stage), checked by
//! `health`, destroyed; and the located errors of bad input.

mod common;

use common::{block, copy_fixture, edit, json, stackctl};
use lambda_shared::testing::Moto;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn output(report: &Value, key: &str) -> String {
    report["stacks"][0]["outputs"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no output {key} in {report}"))
        .to_string()
}

#[test]
fn the_edge_kinds_deploy_read_back_and_report_health() {
    let moto = Moto::start();
    let dir = copy_fixture("edge-project");
    let dir = dir.path();
    let report = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(report["stacks"][0]["outcome"], "created", "{report}");
    let listener_arn = output(&report, "LbListener");
    let api_url = output(&report, "ApiUrl");

    block(async {
        let config = moto.sdk_config().await;
        // The ALB: internal, on its own security group, one HTTP listener
        // (no certificate in `local`) whose default answer is a JSON 404.
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
        let lbs = elb.describe_load_balancers().send().await.unwrap();
        let alb = lbs
            .load_balancers()
            .iter()
            .find(|l| l.load_balancer_name() == Some("edgefix-edge-lb-local"))
            .unwrap_or_else(|| panic!("no ALB in {lbs:?}"));
        assert_eq!(alb.scheme().map(|s| s.as_str()), Some("internal"));
        assert_eq!(alb.security_groups().len(), 1, "{alb:?}");
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(alb.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        let l = &listeners.listeners()[0];
        assert_eq!(l.listener_arn(), Some(listener_arn.as_str()));
        assert_eq!(l.port(), Some(80));
        assert_eq!(l.protocol().map(|p| p.as_str()), Some("HTTP"));
        let action = &l.default_actions()[0];
        let fixed = action.fixed_response_config().expect("a fixed response");
        assert_eq!(fixed.status_code(), Some("404"));
        assert_eq!(fixed.content_type(), Some("application/json"));
        let attrs = elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(alb.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        let attrs: BTreeMap<&str, &str> = attrs
            .attributes()
            .iter()
            .filter_map(|a| Some((a.key()?, a.value()?)))
            .collect();
        assert_eq!(attrs.get("deletion_protection.enabled"), Some(&"false"));

        // The VPC link's NLB forwards to the ALB through an `alb` target
        // group (moto records the NLB itself as an ALB and drops its TCP
        // listener's type, which is why `local` renders no NLB listener).
        let groups = elb.describe_target_groups().send().await.unwrap();
        let nlb_targets: Vec<_> = groups
            .target_groups()
            .iter()
            .filter(|g| g.target_type().map(|t| t.as_str()) == Some("alb"))
            .collect();
        assert_eq!(nlb_targets.len(), 1, "{groups:?}");
        assert_eq!(nlb_targets[0].protocol().map(|p| p.as_str()), Some("TCP"));
        assert_eq!(nlb_targets[0].port(), Some(80));

        // The REST API: one resource per path segment, each method with
        // its integration, the stage made by the deployment.
        let apigw = aws_sdk_apigateway::Client::new(&config);
        let apis = apigw.get_rest_apis().send().await.unwrap();
        let api = apis
            .items()
            .iter()
            .find(|a| a.name() == Some("edgefix-edge-local-api"))
            .unwrap_or_else(|| panic!("no REST API in {apis:?}"));
        let id = api.id().unwrap();
        assert!(api_url.contains(id), "{api_url}");
        let resources = apigw.get_resources().rest_api_id(id).send().await.unwrap();
        let mut methods: Vec<String> = Vec::new();
        for r in resources.items() {
            for m in r.resource_methods().map(|m| m.keys()).into_iter().flatten() {
                let i = apigw
                    .get_integration()
                    .rest_api_id(id)
                    .resource_id(r.id().unwrap())
                    .http_method(m)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(i.r#type().map(|t| t.as_str()), Some("AWS_PROXY"));
                assert!(
                    i.uri()
                        .unwrap()
                        .ends_with("function:edgefix-edge-handler-local/invocations"),
                    "{i:?}"
                );
                methods.push(format!("{m} {}", r.path().unwrap()));
            }
        }
        methods.sort();
        // No OPTIONS methods in `local`: moto fails MOCK integrations.
        assert_eq!(
            methods,
            [
                "DELETE /items/{id}",
                "GET /items",
                "GET /items/{id}",
                "POST /items"
            ]
        );
        let paths: Vec<&str> = resources.items().iter().filter_map(|r| r.path()).collect();
        assert_eq!(paths.len(), 3, "{paths:?}");
        let stages = apigw.get_stages().rest_api_id(id).send().await.unwrap();
        let names: Vec<&str> = stages
            .item()
            .iter()
            .filter_map(|s| s.stage_name())
            .collect();
        assert_eq!(names, ["local"]);
    });

    // Health: the ALB is active; its targets are skipped (moto runs no
    // task and registers nothing, not even the ALB in its NLB's group),
    // the REST API's routes match, the CDN is skipped on the emulator.
    let health = json(dir, &moto, &["health", "--env", "local"], 0);
    assert_eq!(health["verdict"], "healthy", "{health}");
    let status = |id: &str| -> String {
        health["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no check {id} in {health}"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("edge/load_balancer/lb/state"), "pass");
    assert_eq!(status("edge/load_balancer/lb/targets"), "skip");
    assert_eq!(status("edge/rest_api/api/api"), "pass");
    assert_eq!(status("edge/rest_api/api/stage"), "pass");
    assert_eq!(status("edge/rest_api/api/routes"), "pass");
    assert_eq!(status("edge/rest_api/api/permission"), "pass");
    assert_eq!(status("edge/cdn/cdn/deployed"), "skip");

    let gone = json(dir, &moto, &["destroy", "--env", "local", "--yes"], 0);
    assert_eq!(gone["stacks"][0]["outcome"], "deleted", "{gone}");
    block(async {
        let config = moto.sdk_config().await;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
        let lbs = elb.describe_load_balancers().send().await.unwrap();
        assert!(lbs.load_balancers().is_empty(), "{lbs:?}");
        // moto 5.2.1 keeps REST APIs after DeleteStack (measured): its
        // RestApi has no CloudFormation delete, unlike AWS. Nothing to
        // assert about it here.
    });
}

/// The diagnostics of `validate` on the fixture after `edits` (from, to)
/// of its stack file.
fn problems(edits: &[(&str, &str)]) -> Vec<Value> {
    let dir = copy_fixture("edge-project");
    for (from, to) in edits {
        edit(dir.path(), "stacks/edge.yaml", from, to);
    }
    validate(dir.path())
}

fn validate(dir: &Path) -> Vec<Value> {
    let out = stackctl()
        .arg("-C")
        .arg(dir)
        .args(["validate", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["diagnostics"].as_array().unwrap().clone()
}

/// The one diagnostic at `path`.
fn at<'a>(d: &'a [Value], path: &str) -> &'a Value {
    d.iter()
        .find(|x| x["path"] == path)
        .unwrap_or_else(|| panic!("no problem at {path}: {d:#?}"))
}

#[test]
fn the_fixture_itself_is_valid() {
    let dir = copy_fixture("edge-project");
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn a_cdn_origin_that_is_no_bucket_or_api_is_located_with_the_candidates() {
    let d = problems(&[("origins: [assets, api]", "origins: [assets, handler]")]);
    let p = at(&d, "resources.cdn.origins[1]");
    assert_eq!(p["file"], "stacks/edge.yaml");
    assert!(p["line"].as_u64().unwrap() > 0);
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("`handler` is a function"),
        "{p}"
    );
    let hint = p["hint"].as_str().unwrap();
    assert!(hint.contains("assets") && hint.contains("api"), "{p}");
    // An undeclared one: the closest key.
    let d = problems(&[("origins: [assets, api]", "origins: [asets, api]")]);
    let p = at(&d, "resources.cdn.origins[0]");
    assert!(p["hint"].as_str().unwrap().contains("assets"), "{p}");
}

#[test]
fn a_rest_route_to_an_undeclared_function_names_the_closest() {
    let d = problems(&[(
        "GET /items/{id}: {function: handler}",
        "GET /items/{id}: {function: handlr}",
    )]);
    let p = at(&d, "resources.api.routes.GET /items/{id}.function");
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("`handlr` is not a resource"),
        "{p}"
    );
    assert!(p["hint"].as_str().unwrap().contains("handler"), "{p}");
}

#[test]
fn malformed_and_duplicate_routes_are_located() {
    let d = problems(&[
        (
            "GET /items/{id}: {function: handler}",
            "GET /items/{id}: {function: handler}\n      PUT /items/{key}: {function: handler}\n      GIT /x: {function: handler}\n      GET items: {function: handler}",
        ),
        ("DELETE /items/{id}", "DELETE /items/{id}/"),
    ]);
    let method = at(&d, "resources.api.routes.GIT /x");
    assert!(method["hint"].as_str().unwrap().contains("GET"), "{method}");
    at(&d, "resources.api.routes.GET items");
    let slash = at(&d, "resources.api.routes.DELETE /items/{id}/");
    assert!(
        slash["message"].as_str().unwrap().contains("empty"),
        "{slash}"
    );
    // `{key}` and `{id}` at one position: one resource, two names.
    let clash = at(&d, "resources.api.routes.PUT /items/{key}");
    assert!(
        clash["message"].as_str().unwrap().contains("parameter"),
        "{clash}"
    );
    let d = problems(&[(
        "DELETE /items/{id}: {function: handler}",
        "DELETE /items/{id}: {function: handler}\n      DELETE /items/{name}: {function: handler}",
    )]);
    let dup = at(&d, "resources.api.routes.DELETE /items/{name}");
    assert!(
        dup["message"].as_str().unwrap().contains("the same as"),
        "{dup}"
    );
}

#[test]
fn a_route_to_a_service_needs_a_load_balancer_with_a_vpc_link() {
    // A function is behind no load balancer.
    let d = problems(&[(
        "DELETE /items/{id}: {function: handler}",
        "DELETE /items/{id}: {service: handler}",
    )]);
    let p = at(&d, "resources.api.routes.DELETE /items/{id}.service");
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("behind no load balancer"),
        "{p}"
    );
    let d = problems(&[(
        "DELETE /items/{id}: {function: handler}",
        "DELETE /items/{id}: {service: nothing}",
    )]);
    at(&d, "resources.api.routes.DELETE /items/{id}.service");
}

#[test]
fn an_open_api_must_say_why_and_load_balancers_check_their_inputs() {
    let d = problems(&[
        ("authorization: {type: iam}", "authorization: {type: none}"),
        ("    network: net\n    vpc_link", "    network: nett\n    vpc_link"),
        (
            "prod: arn:aws:acm:us-east-1:123456789012:certificate/0f3a1c6e-5d4b-4c2a-9e8f-7a6b5c4d3e2f",
            "prod: arn:aws:iam::123456789012:server-certificate/x",
        ),
        ("price_class: {default: PriceClass_100", "price_class: {default: PriceClass_10"),
    ]);
    let open = at(&d, "resources.api.authorization");
    assert!(open["hint"].as_str().unwrap().contains("reason"), "{open}");
    let net = at(&d, "resources.lb.network");
    assert!(net["hint"].as_str().unwrap().contains("net"), "{net}");
    at(&d, "resources.lb.certificate.prod");
    let price = at(&d, "resources.cdn.price_class.default");
    assert!(
        price["hint"].as_str().unwrap().contains("PriceClass_100"),
        "{price}"
    );
}

#[test]
fn every_environment_renders_what_it_promises() {
    let dir = copy_fixture("edge-project");
    let render = |env: &str| -> Value {
        let out = stackctl()
            .arg("-C")
            .arg(dir.path())
            .args(["render", "--env", env, "--output", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = v[0]["template"].as_str().unwrap_or_else(|| panic!("{v}"));
        serde_yaml::from_str(text).unwrap()
    };
    let prod = render("prod");
    let r = &prod["Resources"];
    // prod: HTTPS with the TLS 1.3 policy, access logs, tracing, PriceClass_All.
    assert_eq!(r["LbListener"]["Properties"]["Protocol"], "HTTPS");
    assert!(r.get("LbAccessLogs").is_some());
    assert!(r.get("LbNlbListener").is_some());
    assert_eq!(r["ApiStage"]["Properties"]["TracingEnabled"], true);
    assert_eq!(
        r["Cdn"]["Properties"]["DistributionConfig"]["PriceClass"],
        "PriceClass_All"
    );
    assert!(r.get("CdnLogs").is_some());
    // local: no stage resource (moto's is a placeholder), no CORS methods,
    // no NLB listener (moto rejects TCP), and no GetAtt on the CDN.
    let local = render("local");
    let r = &local["Resources"];
    assert!(r.get("ApiStage").is_none());
    assert!(r.get("ApiPathItemsOptions").is_none());
    assert!(r.get("LbNlbListener").is_none());
    let text = serde_json::to_string(&local).unwrap();
    assert!(!text.contains("\"Cdn\",\"DomainName\""), "{text}");
}

#[test]
fn health_asks_for_read_only_access_to_what_the_edge_kinds_check() {
    let dir = copy_fixture("edge-project");
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["health", "--print-policy", "--env", "dev"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let policy: Value = serde_json::from_slice(&out.stdout).unwrap();
    let statement = |sid: &str| -> Value {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid} in {policy}"))
            .clone()
    };
    let elb = statement("LoadBalancersOnlyStar");
    assert_eq!(elb["Resource"], "*");
    assert!(elb["Action"]
        .as_array()
        .unwrap()
        .contains(&Value::from("elasticloadbalancing:DescribeTargetHealth")));
    assert_eq!(
        statement("ReadRestApis")["Resource"],
        serde_json::json!(["arn:aws:apigateway:us-east-1::/restapis/*"])
    );
    assert_eq!(
        statement("ReadDistributions")["Action"],
        serde_json::json!(["cloudfront:GetDistribution"])
    );
    // Read-only, every one.
    for s in policy["Statement"].as_array().unwrap() {
        for a in s["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            let verb = a.split(':').nth(1).unwrap();
            assert!(
                ["Get", "Describe", "List", "GET"]
                    .iter()
                    .any(|p| verb.starts_with(p)),
                "{a}"
            );
        }
    }
}
