//! `stackctl health` probes against a small HTTP and WebSocket server this
//! test starts on free ports, with the stack (`tests/fixtures/probe-project`)
//! deployed to moto: statuses, bodies, JSON paths, the latency budget,
//! retries on 5xx then success, a timeout, a WebSocket round trip, a probe
//! of an API moto only pretends to create (skipped), and headers from a
//! secret (created in moto) whose value appears in no output.

mod common;

use common::{block, copy_fixture, json, run, text};
use lambda_shared::testing::Moto;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The secret's value: the test server wants `Bearer TOKEN`.
const TOKEN: &str = "tok-7Hq2xZ9pLw4Rm8Vb";

/// The test server: HTTP on one port, WebSocket on another; each
/// connection on its own thread. Lives as long as the test process.
struct Server {
    http: u16,
    ws: u16,
    /// Requests to /flaky so far.
    flaky: Arc<AtomicUsize>,
}

fn respond(mut stream: TcpStream, status: u16, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn serve_http(stream: TcpStream, flaky: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    match path.as_str() {
        "/ok" => respond(
            stream,
            200,
            r#"{"status": "ready", "items": [{"id": "j-17"}]}"#,
        ),
        "/slow" => {
            std::thread::sleep(Duration::from_millis(400));
            respond(stream, 200, "{}")
        }
        "/flaky" => {
            if flaky.fetch_add(1, Ordering::SeqCst) < 2 {
                respond(stream, 503, r#"{"message": "Service Unavailable"}"#)
            } else {
                respond(stream, 200, "{}")
            }
        }
        "/broken" => respond(stream, 500, r#"{"message": "Internal Server Error"}"#),
        "/hang" => {
            std::thread::sleep(Duration::from_secs(3));
            respond(stream, 200, "{}")
        }
        "/private" if authorization.as_deref() == Some(&format!("Bearer {TOKEN}")) => respond(
            stream,
            200,
            &format!(r#"{{"authorization": "Bearer {TOKEN}"}}"#),
        ),
        "/private" => respond(stream, 401, r#"{"message": "Unauthorized"}"#),
        _ => respond(stream, 404, r#"{"message": "Not Found"}"#),
    }
}

// tungstenite's handshake callback returns its (large) ErrorResponse.
#[allow(clippy::result_large_err)]
fn serve_ws(stream: TcpStream) {
    let check = |req: &tungstenite::handshake::server::Request,
                 resp: tungstenite::handshake::server::Response| {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth == Some(TOKEN) {
            Ok(resp)
        } else {
            let mut refused = tungstenite::handshake::server::ErrorResponse::new(None);
            *refused.status_mut() = tungstenite::http::StatusCode::UNAUTHORIZED;
            Err(refused)
        }
    };
    let Ok(mut ws) = tungstenite::accept_hdr(stream, check) else {
        return;
    };
    while let Ok(msg) = ws.read() {
        if let tungstenite::Message::Text(t) = msg {
            // A message that is not the answer first: the probe waits on.
            let _ = ws.send(tungstenite::Message::text("welcome"));
            let _ = ws.send(tungstenite::Message::text(format!("pong: {t}")));
        }
    }
}

impl Server {
    fn start() -> Self {
        let http = TcpListener::bind("127.0.0.1:0").unwrap();
        let ws = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Server {
            http: http.local_addr().unwrap().port(),
            ws: ws.local_addr().unwrap().port(),
            flaky: Arc::new(AtomicUsize::new(0)),
        };
        let flaky = server.flaky.clone();
        std::thread::spawn(move || {
            for s in http.incoming().flatten() {
                let flaky = flaky.clone();
                std::thread::spawn(move || serve_http(s, &flaky));
            }
        });
        std::thread::spawn(move || {
            for s in ws.incoming().flatten() {
                std::thread::spawn(move || serve_ws(s));
            }
        });
        server
    }
}

/// Check `id` of `report`.
fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn status(report: &Value, id: &str) -> String {
    check(report, id)["status"].as_str().unwrap().to_string()
}

fn field(report: &Value, id: &str, name: &str) -> String {
    check(report, id)[name]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Sets the value of the stack's secret in moto (`deploy` created it
/// empty: it is `external`).
fn set_token(moto: &Moto) {
    block(async {
        let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
        let list = sm.list_secrets().send().await.unwrap();
        let name = list
            .secret_list()
            .iter()
            .filter_map(|s| s.name())
            .find(|n| n.contains("token"))
            .unwrap_or_else(|| panic!("no token secret in {list:?}"))
            .to_string();
        sm.put_secret_value()
            .secret_id(name)
            .secret_string(TOKEN)
            .send()
            .await
            .unwrap();
    });
}

#[test]
fn declared_probes_are_checks_and_secrets_stay_secret() {
    let server = Server::start();
    let moto = Moto::start();
    let dir = copy_fixture("probe-project");
    let dir = dir.path();
    let stack = dir.join("stacks/app.yaml");
    let text_of = std::fs::read_to_string(&stack).unwrap();
    std::fs::write(
        &stack,
        text_of
            .replace("HTTP_PORT", &server.http.to_string())
            .replace("WS_PORT", &server.ws.to_string()),
    )
    .unwrap();
    json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);

    // The secret has no value yet: the probes that need it fail, saying
    // so; the others run.
    let report = json(
        dir,
        &moto,
        &["health", "--env", "local", "--only", "probe"],
        1,
    );
    let c = check(&report, "app/probe/private/status");
    assert_eq!(c["status"], "fail", "{c:#}");
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .starts_with("header Authorization from secret `token`"),
        "{c:#}"
    );
    assert!(
        c["hint"].as_str().unwrap().contains("put-secret-value"),
        "{c:#}"
    );
    assert_eq!(status(&report, "app/probe/echo/handshake"), "fail");
    assert_eq!(status(&report, "app/probe/ready/status"), "pass");
    server.flaky.store(0, Ordering::SeqCst);

    set_token(&moto);

    let started = std::time::Instant::now();
    let report = json(
        dir,
        &moto,
        &[
            "health",
            "--env",
            "local",
            "--only",
            "probe",
            "--timeout",
            "30s",
        ],
        1,
    );
    let took = started.elapsed();
    eprintln!("health --only probe (9 probes, 17 checks) took {took:?}");
    let kinds: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.iter().all(|k| *k == "probe"), "{kinds:?}");

    let expected = [
        ("app/probe/api_hello/status", "skip"),
        ("app/probe/api_hello/body", "skip"),
        ("app/probe/ready/status", "pass"),
        ("app/probe/ready/body", "pass"),
        ("app/probe/ready/json", "pass"),
        ("app/probe/ready/latency", "pass"),
        ("app/probe/wrong_json/status", "pass"),
        ("app/probe/wrong_json/json", "fail"),
        ("app/probe/slow/status", "pass"),
        ("app/probe/slow/latency", "warn"),
        ("app/probe/flaky/status", "pass"),
        ("app/probe/broken/status", "fail"),
        ("app/probe/hang/status", "fail"),
        ("app/probe/private/status", "pass"),
        ("app/probe/private/body", "fail"),
        ("app/probe/echo/handshake", "pass"),
        ("app/probe/echo/reply", "pass"),
    ];
    let mut ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want: Vec<&str> = expected.iter().map(|(id, _)| *id).collect();
    want.sort();
    assert_eq!(ids, want, "{report:#}");
    for (id, s) in expected {
        assert_eq!(status(&report, id), s, "{id}: {:#}", check(&report, id));
    }

    // Each outcome says why.
    assert!(
        field(&report, "app/probe/api_hello/status", "reason")
            .contains("the emulator creates no AWS::ApiGatewayV2::Api (a placeholder)"),
        "{:#}",
        check(&report, "app/probe/api_hello/status")
    );
    assert_eq!(
        field(&report, "app/probe/ready/latency", "observed")
            .split(' ')
            .take(1)
            .collect::<String>(),
        "median"
    );
    assert_eq!(
        field(&report, "app/probe/wrong_json/json", "observed"),
        "\"ready\""
    );
    assert_eq!(
        field(&report, "app/probe/wrong_json/json", "expected"),
        "$.status = \"done\""
    );
    assert!(
        field(&report, "app/probe/slow/latency", "reason").contains("over its budget of 100 ms")
    );
    assert!(
        field(&report, "app/probe/flaky/status", "reason")
            .ends_with("answered 200 (after 2 retries)"),
        "{:#}",
        check(&report, "app/probe/flaky/status")
    );
    assert_eq!(server.flaky.load(Ordering::SeqCst), 3);
    assert!(field(&report, "app/probe/broken/status", "reason")
        .contains("answered 500 (after 1 retry)"));
    assert_eq!(
        field(&report, "app/probe/hang/status", "observed"),
        "timeout"
    );
    assert!(
        field(&report, "app/probe/hang/status", "reason").contains("no answer within 0.50 s"),
        "{:#}",
        check(&report, "app/probe/hang/status")
    );
    assert!(field(&report, "app/probe/echo/reply", "observed").starts_with("pong: ping"));
    // The echoed header is in the answer, scrubbed.
    assert_eq!(
        field(&report, "app/probe/private/body", "observed"),
        r#"{"authorization": "Bearer ***"}"#
    );
    // The whole run stays well within the probes' own timeouts (the hang
    // probe's 0.5 s, not the server's 3 s).
    assert!(took < Duration::from_secs(20), "health took {took:?}");

    // The secret's value is in no output: JSON, text, verbose text.
    for args in [
        vec!["health", "--env", "local", "--output", "json"],
        vec!["health", "--env", "local"],
        vec!["-v", "health", "--env", "local"],
    ] {
        let out = run(dir, &moto, &args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let all = text(&out);
        assert!(
            !all.contains(TOKEN),
            "the secret leaked with {args:?}:\n{all}"
        );
        assert!(all.contains("probe"), "{all}");
    }

    // --skip-probes: not run, not reported; the rest is healthy.
    let before = server.flaky.load(Ordering::SeqCst);
    let report = json(
        dir,
        &moto,
        &["health", "--env", "local", "--skip-probes"],
        0,
    );
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["kind"] != "probe"),
        "{report:#}"
    );
    assert!(!report["checks"].as_array().unwrap().is_empty());
    assert_eq!(server.flaky.load(Ordering::SeqCst), before, "a probe ran");
}
