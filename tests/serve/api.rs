//! `stackctl serve` in front of `tests/fixtures/serve-api-project`,
//! deployed to a moto server the test starts: a std-only function built
//! and zipped by stackctl, behind an HTTP API, a REST API and a WebSocket
//! API with Lambda authorizers. Real HTTP and WebSocket clients; what each
//! request did is read from serve's JSON lines.

use crate::common::serve::{free_serve_ports, Served};
use crate::common::{copy_fixture, run, text};
use lambda_shared::testing::Moto;
use serde_json::Value;
use std::time::Duration;

/// GET `url` with `headers`: status and body (JSON when it is).
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// The fixture copied, its APIs on free ports, deployed to `moto`.
fn deployed(moto: &Moto) -> (tempfile::TempDir, Vec<u16>) {
    let dir = copy_fixture("serve-api-project");
    let ports = free_serve_ports(dir.path())
        .into_iter()
        .map(|(_, new)| new)
        .collect();
    let out = run(dir.path(), moto, &["deploy", "--env", "local", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    (dir, ports)
}

#[test]
fn http_and_rest_apis_run_the_functions_as_lambda_does() {
    let moto = Moto::start();
    let (dir, ports) = deployed(&moto);
    let (http, rest) = (ports[0], ports[1]);
    let mut served = Served::start(dir.path(), &moto, &[]);
    let listening: Vec<Value> = served
        .lines()
        .into_iter()
        .filter(|l| l["event"] == "listening")
        .collect();
    assert_eq!(listening.len(), 3, "{listening:?}");
    assert!(listening
        .iter()
        .any(|l| l["url"] == format!("http://127.0.0.1:{http}/local")));

    // The API's URL in `local` is serve's: the function's environment says so.
    let base = format!("http://127.0.0.1:{http}/local");
    let (status, first) = get(&format!("{base}/open"), &[]);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["event"]["version"], "2.0");
    assert_eq!(first["event"]["routeKey"], "GET /open");
    assert_eq!(first["event"]["requestContext"]["stage"], "local");
    // The account the stack is in, from its ARN (moto's account).
    assert_eq!(
        first["event"]["requestContext"]["accountId"],
        "123456789012"
    );
    // The deployed memory size, as Lambda reports it to the function.
    assert_eq!(first["memory"], "192");
    // The same process answers again: warm.
    let (_, second) = get(&format!("{base}/open"), &[]);
    assert_eq!(first["pid"], second["pid"]);
    let echo = served.invocations("app/echo", 2);
    assert_eq!(echo.len(), 2, "{echo:?}");
    assert_eq!(echo[0]["cold"], true);
    assert_eq!(echo[1]["cold"], false);
    assert_eq!(echo[1]["status"], 200);
    // The function's own lines, with their request id.
    let logs: Vec<Value> = served
        .lines()
        .into_iter()
        .filter(|l| l["event"] == "log" && l["function"] == "app/echo")
        .collect();
    assert!(
        logs.iter().any(|l| l["line"]
            == format!("echo: handling {}", echo[1]["request_id"].as_str().unwrap())
            && l["request_id"] == echo[1]["request_id"]),
        "{logs:?}"
    );

    // The authorizer: no identity, denied, allowed (its context passed on).
    let url = format!("{base}/echo/hello%20world");
    assert_eq!(get(&url, &[]).0, 401);
    assert_eq!(get(&url, &[("Authorization", "nope")]).0, 403);
    let (status, allowed) = get(&url, &[("Authorization", "allow")]);
    assert_eq!(status, 200, "{allowed}");
    assert_eq!(allowed["event"]["pathParameters"]["word"], "hello world");
    assert_eq!(
        allowed["event"]["requestContext"]["authorizer"]["lambda"]["user"],
        "alice"
    );
    let gates = served.invocations("app/gate", 2);
    assert_eq!(gates.len(), 2, "{gates:?}\n{:?}", served.lines());

    // Past its timeout: API Gateway's answer, and a fresh process next time.
    let (status, body) = get(&format!("{base}/sleep"), &[]);
    assert!(status >= 500, "{status} {body}");
    let sleeps = served.invocations("app/sleeper", 1);
    assert_eq!(sleeps[0]["outcome"], "timeout", "{sleeps:?}");
    get(&format!("{base}/sleep"), &[]);
    let sleeps = served.invocations("app/sleeper", 2);
    assert_eq!(sleeps.len(), 2);
    assert_eq!(sleeps[1]["cold"], true, "{sleeps:?}");

    // A crash: 5xx for the client, the function's last words in the log.
    let (status, _) = get(&format!("{base}/crash"), &[]);
    assert!(status >= 500, "{status}");
    let crash = served.invocations("app/crasher", 1);
    assert_eq!(crash[0]["outcome"], "crash", "{crash:?}");
    served.wait_for("the crash's last words", Duration::from_secs(5), |l| {
        l["event"] == "log"
            && l["line"]
                .as_str()
                .is_some_and(|s| s.starts_with("crash: exiting"))
    });

    // A REST API: proxy events, the TOKEN authorizer's policy decides.
    let rest_base = format!("http://127.0.0.1:{rest}/local");
    let (status, item) = get(
        &format!("{rest_base}/items/42?x=1"),
        &[("Authorization", "allow")],
    );
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["event"]["resource"], "/items/{id}");
    assert_eq!(item["event"]["pathParameters"]["id"], "42");
    assert_eq!(item["event"]["queryStringParameters"]["x"], "1");
    assert_eq!(
        item["event"]["requestContext"]["authorizer"]["user"],
        "alice"
    );
    assert_eq!(
        get(
            &format!("{rest_base}/items/42"),
            &[("Authorization", "nope")]
        )
        .0,
        403
    );
    assert_eq!(get(&format!("{rest_base}/items/42"), &[]).0, 401);
    // No such resource: what REST APIs answer.
    assert_eq!(
        get(
            &format!("{rest_base}/nothing"),
            &[("Authorization", "allow")]
        )
        .0,
        403
    );

    // New code after a build: the next request runs it, in a new process.
    crate::common::edit(
        dir.path(),
        "lambdas/probe/src/main.rs",
        "\"{{\\\"pid\\\":{pid},",
        "\"{{\\\"version\\\":2,\\\"pid\\\":{pid},",
    );
    let out = run(dir.path(), &moto, &["build", "--env", "local", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    let (status, rebuilt) = get(&format!("{base}/open"), &[]);
    assert_eq!(status, 200, "{rebuilt}");
    assert_eq!(rebuilt["version"], 2, "{rebuilt}");
    assert_ne!(rebuilt["pid"], first["pid"]);
    served.wait_for("the new code's note", Duration::from_secs(5), |l| {
        l["event"] == "code" && l["function"] == "app/echo"
    });
}

#[test]
fn websocket_messages_reach_the_function_and_come_back_through_the_management_api() {
    let moto = Moto::start();
    let (dir, ports) = deployed(&moto);
    let ws = ports[2];
    let mut served = Served::start(dir.path(), &moto, &["--watch"]);
    let url = format!("ws://127.0.0.1:{ws}/local");
    let (mut socket, resp) = tungstenite::connect(&url).expect("connect");
    assert_eq!(resp.status().as_u16(), 101);
    socket
        .send(tungstenite::Message::text(r#"{"action":"hello","n":1}"#))
        .unwrap();
    let mut read = || loop {
        match socket.read().expect("a frame") {
            tungstenite::Message::Text(t) => break serde_json::from_str::<Value>(&t).unwrap(),
            _ => continue,
        }
    };
    let reply = read();
    assert_eq!(reply["event"]["requestContext"]["routeKey"], "$default");
    assert_eq!(reply["event"]["requestContext"]["eventType"], "MESSAGE");
    assert_eq!(reply["event"]["body"], r#"{"action":"hello","n":1}"#);

    // --watch: a change to the function's source is built, and the next
    // message runs the new code.
    crate::common::edit(
        dir.path(),
        "lambdas/probe/src/main.rs",
        "\"{{\\\"pid\\\":{pid},",
        "\"{{\\\"version\\\":3,\\\"pid\\\":{pid},",
    );
    served.wait_for("the watch's build", Duration::from_secs(180), |l| {
        l["event"] == "build" && l["state"] == "built"
    });
    socket
        .send(tungstenite::Message::text(r#"{"action":"again"}"#))
        .unwrap();
    let mut read = || loop {
        match socket.read().expect("a frame") {
            tungstenite::Message::Text(t) => break serde_json::from_str::<Value>(&t).unwrap(),
            _ => continue,
        }
    };
    let rebuilt = read();
    assert_eq!(rebuilt["version"], 3, "{rebuilt}");
    assert_ne!(rebuilt["pid"], reply["pid"]);
    socket.close(None).ok();

    // $connect refusing: the upgrade is answered with its status.
    match tungstenite::connect(format!("{url}?deny=1")) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        other => panic!("connected anyway: {:?}", other.map(|(_, r)| r.status())),
    }
}

#[test]
fn serve_refuses_what_it_cannot_serve_before_connecting() {
    let dir = copy_fixture("serve-api-project");
    // Not an emulator environment: in AWS, API Gateway and Lambda answer.
    let out = crate::common::stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["serve", "--env", "dev"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`dev` has no `emulator:`"), "{err}");
    // An API without a port: the line to add is named.
    crate::common::edit(
        dir.path(),
        "stackctl.yaml",
        "        rest: {local: serve, port: 4102}\n",
        "",
    );
    let out = crate::common::stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["serve", "--env", "local"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("app: {rest: {local: serve, port: PORT}}"),
        "{err}"
    );
    // Two APIs on one port.
    crate::common::edit(dir.path(), "stackctl.yaml", "port: 4103}", "port: 4101}");
    let out = crate::common::stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["validate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port 4101 is already"), "{err}");
}
