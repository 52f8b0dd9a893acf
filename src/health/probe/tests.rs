//! Judging probe answers, without a network: statuses and classes, bodies,
//! JSON paths, the latency median, WebSocket outcomes, and scrubbing.

use super::http::{Outcome, Sample};
use super::*;
use crate::health::Status;
use crate::model::probe::Probe;
use crate::model::source::Source;
use std::path::Path;

/// The probe `yaml` (under `probes.p`) and its checked settings.
fn http_probe(yaml: &str) -> (HttpProbe, HttpSettings) {
    let text = format!("probes:\n  p:\n    http:\n{yaml}");
    let source = Source::parse(Path::new("stacks/app.yaml"), &text).unwrap();
    let written: crate::model::probe::Written =
        serde_yaml::from_value(source.value["probes"]["p"].clone()).unwrap();
    let probe = written
        .probe(&source, "probes.p", &mut Default::default())
        .unwrap();
    let Some(Checked::Http(s)) = probe.checked(&source, "probes.p") else {
        panic!("not a valid HTTP probe: {yaml}")
    };
    let Probe::Http(h) = probe else {
        unreachable!()
    };
    (h, s)
}

fn answer(status: u16, body: &str, ms: u64) -> Sample {
    Sample {
        outcome: Outcome::Answer {
            status,
            body: body.to_string(),
            elapsed: Duration::from_millis(ms),
        },
        retries: 0,
    }
}

fn judge(yaml: &str, samples: &[Sample]) -> Vec<Finding> {
    let (h, s) = http_probe(yaml);
    let r = Resolved {
        name: "p".into(),
        probe: Probe::Http(h.clone()),
        checked: Checked::Http(s.clone()),
        url: Json::Null,
        headers: Vec::new(),
    };
    judge_http("p", &h, &s, "http://x/y", samples, &names(&r))
}

fn statuses(findings: &[Finding]) -> Vec<(&'static str, Status)> {
    findings.iter().map(|f| (f.name, f.status)).collect()
}

#[test]
fn only_the_declared_checks_are_made() {
    let f = judge("      url: http://x/y\n", &[answer(204, "", 5)]);
    assert_eq!(statuses(&f), vec![("status", Status::Pass)]);
    let f = judge(
        "      url: http://x/y\n      expect: {body_contains: ok, json: [{path: $.a, exists: true}]}\n      latency_budget: 1s\n",
        &[answer(200, r#"{"a": "ok"}"#, 5)],
    );
    assert_eq!(
        statuses(&f),
        vec![
            ("status", Status::Pass),
            ("body", Status::Pass),
            ("json", Status::Pass),
            ("latency", Status::Pass)
        ]
    );
}

#[test]
fn statuses_are_codes_or_classes() {
    let yaml = "      url: http://x/y\n      expect: {status: [404, 3xx]}\n";
    assert_eq!(judge(yaml, &[answer(404, "", 1)])[0].status, Status::Pass);
    assert_eq!(judge(yaml, &[answer(302, "", 1)])[0].status, Status::Pass);
    let f = &judge(yaml, &[answer(200, "", 1)])[0];
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.observed.as_deref(), Some("200"));
    assert_eq!(f.expected.as_deref(), Some("404, 3xx"));
    // The default is any 2xx.
    let f = &judge("      url: http://x/y\n", &[answer(503, "", 1)])[0];
    assert_eq!(f.status, Status::Fail);
    assert!(f.hint.as_deref().unwrap().contains("logs"), "{f:?}");
}

#[test]
fn one_bad_sample_of_several_fails() {
    let f = judge(
        "      url: http://x/y\n      samples: 3\n",
        &[answer(200, "", 1), answer(500, "", 1), answer(200, "", 1)],
    );
    assert_eq!(f[0].status, Status::Fail);
    assert!(f[0].reason.contains("in 1 of 3 samples"), "{}", f[0].reason);
}

#[test]
fn no_answer_fails_status_and_leaves_the_rest_unjudged() {
    let timeout = Sample {
        outcome: Outcome::NoAnswer {
            error: "timeout: global".into(),
            timed_out: true,
        },
        retries: 2,
    };
    let f = judge(
        "      url: http://x/y\n      timeout: 1s\n      retries: 2\n      expect: {body_contains: ok}\n      latency_budget: 500ms\n",
        &[timeout],
    );
    assert_eq!(
        statuses(&f),
        vec![
            ("status", Status::Fail),
            ("body", Status::Skip),
            ("latency", Status::Skip)
        ]
    );
    assert!(
        f[0].reason
            .contains("no answer within 1.00 s (after 2 retries)"),
        "{}",
        f[0].reason
    );
    assert_eq!(f[0].observed.as_deref(), Some("timeout"));
}

#[test]
fn body_and_json_assertions_are_judged() {
    let yaml = "      url: http://x/y\n      expect:\n        body_contains: ready\n        json:\n          - {path: $.status, equals: ready}\n          - {path: '$.items[*].id', matches: '^j-\\d+$'}\n          - {path: $.error, exists: false}\n          - {path: $.n, equals: null}\n";
    let good = r#"{"status": "ready", "items": [{"id": "j-1"}, {"id": "j-22"}], "n": null}"#;
    let f = judge(yaml, &[answer(200, good, 1)]);
    assert_eq!(f[1].status, Status::Pass);
    assert_eq!(f[2].status, Status::Pass, "{:?}", f[2]);
    assert_eq!(f[2].reason, "4 JSON assertions hold");

    let bad = r#"{"status": "ready", "items": [{"id": "j-1"}, {"id": "x"}], "n": null}"#;
    let f = judge(yaml, &[answer(200, bad, 1)]);
    assert_eq!(f[2].status, Status::Fail);
    assert!(
        f[2].reason.starts_with("$.items[*].id matches"),
        "{}",
        f[2].reason
    );
    assert_eq!(f[2].observed.as_deref(), Some(r#"["j-1","x"]"#));

    let f = judge(yaml, &[answer(200, "<html>busy</html>", 1)]);
    assert_eq!(f[1].status, Status::Fail);
    assert_eq!(f[2].status, Status::Fail);
    assert!(f[2].reason.contains("is not JSON"), "{}", f[2].reason);

    let f = judge(
        yaml,
        &[answer(200, r#"{"status": "ready", "error": 1}"#, 1)],
    );
    assert_eq!(f[2].status, Status::Fail);
    assert_eq!(
        f[2].expected.as_deref(),
        Some("$.items[*].id matches \"^j-\\\\d+$\"")
    );
}

#[test]
fn latency_is_the_median_and_over_budget_warns() {
    let yaml = "      url: http://x/y\n      samples: 3\n      latency_budget: 100ms\n";
    let f = judge(
        yaml,
        &[
            answer(200, "", 20),
            answer(200, "", 900),
            answer(200, "", 50),
        ],
    );
    assert_eq!(
        f[1].status,
        Status::Pass,
        "one slow sample of three: {:?}",
        f[1]
    );
    assert_eq!(
        f[1].observed.as_deref(),
        Some("median 50 ms over 3 answers")
    );
    let f = judge(
        yaml,
        &[
            answer(200, "", 120),
            answer(200, "", 900),
            answer(200, "", 50),
        ],
    );
    assert_eq!(f[1].status, Status::Warn);
    assert_eq!(f[1].expected.as_deref(), Some("at most 100 ms"));
}

#[test]
fn websocket_outcomes() {
    let w = WebsocketProbe {
        environments: None,
        url: "ws://x".into(),
        headers: Default::default(),
        send: Some("ping".into()),
        expect_contains: Some("pong".into()),
        timeout: None,
    };
    let names = ["handshake", "reply"];
    let ok = websocket::Outcome {
        handshake: Ok(Duration::from_millis(3)),
        reply: Some(Ok("pong!".into())),
    };
    let f = judge_websocket("p", &w, "ws://x", &ok, &names);
    assert_eq!(
        statuses(&f),
        vec![("handshake", Status::Pass), ("reply", Status::Pass)]
    );
    let refused = websocket::Outcome {
        handshake: Err((
            "the server refused the handshake with HTTP 403 Forbidden".into(),
            false,
        )),
        reply: None,
    };
    let f = judge_websocket("p", &w, "ws://x", &refused, &names);
    assert_eq!(
        statuses(&f),
        vec![("handshake", Status::Fail), ("reply", Status::Skip)]
    );
    let wrong = websocket::Outcome {
        handshake: Ok(Duration::from_millis(3)),
        reply: Some(Err((
            "no message containing \"pong\" within 1.00 s".into(),
            Some("hello".into()),
        ))),
    };
    let f = judge_websocket("p", &w, "ws://x", &wrong, &names);
    assert_eq!(f[1].status, Status::Fail);
    assert_eq!(f[1].observed.as_deref(), Some("hello"));
}

#[test]
fn secret_values_are_scrubbed_from_every_field() {
    let f = Finding::fail("body", "sent s3cr3t-token and got s3cr3t-token back")
        .observed("{\"auth\": \"Bearer s3cr3t-token\"}")
        .expected("x")
        .hint("s3cr3t-token");
    let f = scrub(f, &["s3cr3t-token".to_string(), String::new()]);
    let all = format!("{f:?}");
    assert!(!all.contains("s3cr3t"), "{all}");
    assert_eq!(f.reason, "sent *** and got *** back");
}

#[test]
fn a_placeholder_url_skips_on_an_emulator_only() {
    let deployed = Deployed::default();
    let template = serde_json::json!({"Resources": {"Api": {"Type": "AWS::ApiGatewayV2::Api"}}});
    let cx = |emulated| Context {
        env: "local",
        stack: "app",
        region: "us-east-1",
        emulated,
        deployed: &deployed,
        template: &template,
        deadline: tokio::time::Instant::now(),
    };
    let e = Unresolved::NoResource {
        logical: "Api".into(),
        kind: "AWS::ApiGatewayV2::Api".into(),
    };
    let f = unresolved("status", &e, "${api.url}/x", &cx(true));
    assert_eq!(f.status, Status::Skip);
    assert!(
        f.reason
            .contains("the emulator creates no AWS::ApiGatewayV2::Api (a placeholder)"),
        "{}",
        f.reason
    );
    let f = unresolved("status", &e, "${api.url}/x", &cx(false));
    assert_eq!(f.status, Status::Skip);
    assert!(f.reason.contains("see app/stack/resources"), "{}", f.reason);
}

#[test]
fn a_loopback_url_nothing_listens_on_is_named_and_one_that_answers_is_not() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    assert_eq!(
        super::silent_loopback(&format!("http://127.0.0.1:{closed}/local/x")),
        Some(format!("127.0.0.1:{closed}"))
    );
    assert_eq!(
        super::silent_loopback(&format!("http://127.0.0.1:{open}/local/x")),
        None
    );
    assert_eq!(super::silent_loopback("https://example.com/x"), None);
}
