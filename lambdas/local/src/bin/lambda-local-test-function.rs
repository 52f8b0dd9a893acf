//! A Lambda function for lambda-local's own tests (not a function of any
//! stack): it speaks the Runtime API with std alone, so the tests see
//! exactly what goes over the wire. The event's `action` says what to do:
//! `echo` (the default) answers with what the function can see, `sleep`
//! waits `ms` first, `log` writes lines to stdout and stderr, `alloc`
//! touches `mb` megabytes, `error` posts a handled error, `crash` exits
//! with status 3. `TEST_INIT=error` posts an init error; `TEST_INIT=exit`
//! exits with status 2 before asking for an event.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    eprintln!("init {}", std::process::id());
    match std::env::var("TEST_INIT").as_deref() {
        Ok("error") => {
            let body = r#"{"errorType":"Init.Failed","errorMessage":"no configuration"}"#;
            request(
                &api,
                "POST",
                "/2018-06-01/runtime/init/error",
                body.as_bytes(),
            );
            std::process::exit(1);
        }
        Ok("exit") => {
            eprintln!("missing configuration");
            std::process::exit(2);
        }
        _ => {}
    }
    loop {
        let (headers, body) = request(&api, "GET", "/2018-06-01/runtime/invocation/next", b"");
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let id = header("lambda-runtime-aws-request-id");
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let respond = |value: serde_json::Value| {
            let path = format!("/2018-06-01/runtime/invocation/{id}/response");
            request(&api, "POST", &path, value.to_string().as_bytes());
        };
        let mut kept = Vec::new();
        match event["action"].as_str().unwrap_or("echo") {
            "sleep" => {
                eprintln!("sleeping");
                std::thread::sleep(Duration::from_millis(event["ms"].as_u64().unwrap_or(0)));
            }
            "log" => {
                for line in event["stdout"].as_array().into_iter().flatten() {
                    println!("{}", line.as_str().unwrap_or_default());
                }
                for line in event["stderr"].as_array().into_iter().flatten() {
                    eprintln!("{}", line.as_str().unwrap_or_default());
                }
            }
            "alloc" => {
                let mb = event["mb"].as_u64().unwrap_or(0) as usize;
                // Written to, so the pages are resident.
                kept = vec![1u8; mb * 1024 * 1024];
            }
            "error" => {
                let path = format!("/2018-06-01/runtime/invocation/{id}/error");
                let body =
                    serde_json::json!({"errorType": "Handled", "errorMessage": event["message"]});
                request(&api, "POST", &path, body.to_string().as_bytes());
                continue;
            }
            "crash" => {
                eprintln!("crashing");
                std::process::exit(3);
            }
            _ => {}
        }
        respond(serde_json::json!({
            "pid": std::process::id(),
            "exe": std::env::current_exe().ok(),
            "kept": kept.len(),
            "memory": std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok(),
            "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
            "custom": std::env::var("CUSTOM").ok(),
            "request_id": id,
            "deadline_ms": header("lambda-runtime-deadline-ms"),
            "arn": header("lambda-runtime-invoked-function-arn"),
            "event": event,
        }));
    }
}

/// One HTTP/1.1 exchange on its own connection; returns the response's
/// headers and body.
fn request(api: &str, method: &str, path: &str, body: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(api).expect("connect to the Runtime API");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(body).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("receive");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (headers, raw[split + 4..].to_vec())
}
