//! `stackctl serve` as the tests run it: a child process with `--output
//! json`, whose lines are collected as they come; stopped (SIGTERM, so it
//! stops its function processes) when dropped.

use lambda_shared::testing::Moto;
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A running `stackctl serve`.
pub struct Served {
    child: Child,
    lines: Arc<(Mutex<Vec<Value>>, Condvar)>,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `stackctl serve --env local ARGS` in `dir` against `moto` and
    /// waits until it says it is ready.
    pub fn start(dir: &Path, moto: &Moto, args: &[&str]) -> Served {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("stackctl"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .arg("-C")
            .arg(dir)
            .args(["--endpoint-url", &moto.endpoint, "--output", "json"])
            .args(["serve", "--env", "local"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stackctl serve");
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let out = child.stdout.take().unwrap();
        let shared = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"event": "text", "line": line}));
                let (lock, cv) = &*shared;
                lock.lock().unwrap().push(v);
                cv.notify_all();
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let shared = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                shared.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let mut served = Served {
            child,
            lines,
            stderr,
        };
        served.wait_for("ready", Duration::from_secs(60), |l| l["event"] == "ready");
        served
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<Value> {
        self.lines.0.lock().unwrap().clone()
    }

    /// Waits for a line `matches` accepts and returns it; panics with
    /// everything serve printed when none came within `timeout`.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.lines;
        let mut guard = lock.lock().unwrap();
        loop {
            if let Some(v) = guard.iter().find(|l| matches(l)) {
                return v.clone();
            }
            let now = Instant::now();
            let exited = self.child.try_wait().ok().flatten();
            if now >= deadline || exited.is_some() {
                let lines: Vec<String> = guard.iter().map(Value::to_string).collect();
                drop(guard);
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "serve printed no {what} within {timeout:?} (exit: {exited:?})\nstdout:\n{}\nstderr:\n{}",
                    lines.join("\n"),
                    self.stderr.lock().unwrap()
                );
            }
            guard = cv
                .wait_timeout(guard, (deadline - now).min(Duration::from_millis(200)))
                .unwrap()
                .0;
        }
    }

    /// The invocation lines of function `function` (`STACK/KEY`), once
    /// there are at least `n` (serve prints a line before the client gets
    /// its answer, but this process reads it a moment later).
    pub fn invocations(&mut self, function: &str, n: usize) -> Vec<Value> {
        let of = |l: &Value| l["event"] == "invocation" && l["function"] == function;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<Value> = self.lines().into_iter().filter(|l| of(l)).collect();
            if found.len() >= n || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What serve wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // SIGTERM: serve stops its function processes, then exits.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gives every API the environment binds to `serve` in `dir`'s
/// stackctl.yaml a free port; returns (old port, new port) pairs.
pub fn free_serve_ports(dir: &Path) -> Vec<(u16, u16)> {
    let path = dir.join("stackctl.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let mut moved = Vec::new();
    let marker = "local: serve, port: ";
    let mut at = 0;
    while let Some(i) = text[at..].find(marker) {
        let start = at + i + marker.len();
        let end = start + text[start..].find('}').unwrap();
        let old: u16 = text[start..end].trim().parse().unwrap();
        let new = super::free_port();
        text.replace_range(start..end, &new.to_string());
        moved.push((old, new));
        at = start;
    }
    std::fs::write(&path, text).unwrap();
    moved
}
