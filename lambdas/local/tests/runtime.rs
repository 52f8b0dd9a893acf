//! The pool against a real process speaking the Runtime API (the test
//! function in src/bin/lambda-local-test-function.rs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_local::runtime::{FunctionSpec, Invocation, LogLine, LogSink, Outcome, Pool};
use serde_json::{json, Value};

const FUNCTION: &str = env!("CARGO_BIN_EXE_lambda-local-test-function");

fn spec(env: &[(&str, &str)]) -> FunctionSpec {
    FunctionSpec {
        name: "test-fn".into(),
        arn: "arn:aws:lambda:us-east-1:123456789012:function:test-fn".into(),
        executable: PathBuf::from(FUNCTION),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timeout: Duration::from_secs(30),
        memory_mb: 512,
        max_processes: 4,
    }
}

/// A sink keeping every line.
fn collect() -> (LogSink, Arc<Mutex<Vec<LogLine>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = lines.clone();
    let sink: LogSink = Arc::new(move |l| kept.lock().unwrap().push(l));
    (sink, lines)
}

fn pool(spec: FunctionSpec) -> Pool {
    Pool::new(spec, collect().0)
}

fn answer(inv: &Invocation) -> Value {
    match &inv.outcome {
        Outcome::Response(body) => serde_json::from_slice(body).expect("a JSON answer"),
        other => panic!("expected a response, got {other:?}"),
    }
}

fn pid(inv: &Invocation) -> u64 {
    answer(inv)["pid"].as_u64().expect("a pid")
}

/// Whether a process (or its zombie) exists.
fn exists(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warm_process_serves_the_next_invocation() {
    let pool = pool(spec(&[("CUSTOM", "value")]));
    let first = pool.invoke(json!({"action": "echo", "n": 1})).await;
    let second = pool.invoke(json!({"action": "echo", "n": 2})).await;
    assert_eq!(pid(&first), pid(&second));
    assert!(first.init.is_some(), "the first invocation is a cold start");
    assert_eq!(second.init, None, "the second is warm");
    assert_ne!(first.request_id, second.request_id);
    let a = answer(&second);
    assert_eq!(a["event"], json!({"action": "echo", "n": 2}));
    assert_eq!(a["request_id"], second.request_id.as_str());
    assert_eq!(a["memory"], "512");
    assert_eq!(a["function"], "test-fn");
    assert_eq!(a["custom"], "value");
    assert_eq!(
        a["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:test-fn"
    );
    let deadline: u128 = a["deadline_ms"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(
        deadline > now && deadline <= now + 30_000,
        "deadline {deadline} is within the 30 s timeout from {now}"
    );
    assert!(second.max_memory_kb.is_some_and(|kb| kb > 0));
    assert_eq!(pool.live(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_processes_make_new_ones_up_to_the_bound() {
    let mut s = spec(&[]);
    s.max_processes = 2;
    let pool = pool(s);
    let sleep = || pool.invoke(json!({"action": "sleep", "ms": 500}));
    let (a, b, c) = tokio::join!(sleep(), sleep(), sleep());
    let pids: BTreeSet<u64> = [pid(&a), pid(&b), pid(&c)].into();
    assert_eq!(pids.len(), 2, "two processes served three invocations");
    assert_eq!(
        [&a, &b, &c].iter().filter(|i| i.init.is_some()).count(),
        2,
        "two cold starts, one warm"
    );
    assert_eq!(pool.live(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timed_out_process_is_killed_and_replaced() {
    let mut s = spec(&[]);
    s.timeout = Duration::from_secs(1);
    let (sink, lines) = collect();
    let pool = Pool::new(s, sink);
    let first = pool.invoke(json!({"action": "echo"})).await;
    let old = pid(&first);
    let slow = pool.invoke(json!({"action": "sleep", "ms": 60_000})).await;
    assert_eq!(slow.outcome, Outcome::Timeout);
    assert!(slow.duration >= Duration::from_secs(1));
    assert!(!exists(old), "the timed-out process is gone, not a zombie");
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.line == "sleeping" && l.request_id.as_deref() == Some(&slow.request_id)),
        "the killed process's lines are kept"
    );
    let next = pool.invoke(json!({"action": "echo"})).await;
    assert_ne!(pid(&next), old);
    assert!(next.init.is_some(), "a fresh process: cold");
    assert_eq!(pool.live(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_is_reported_with_its_status_and_the_next_invocation_is_cold() {
    let (sink, lines) = collect();
    let pool = Pool::new(spec(&[]), sink);
    let old = pid(&pool.invoke(json!({})).await);
    let crash = pool.invoke(json!({"action": "crash"})).await;
    assert_eq!(
        crash.outcome,
        Outcome::Crashed {
            status: "exit status 3".into()
        }
    );
    assert!(lines.lock().unwrap().iter().any(|l| l.line == "crashing"
        && l.stderr
        && l.request_id.as_deref() == Some(&crash.request_id)));
    assert!(!exists(old));
    let next = pool.invoke(json!({})).await;
    assert_ne!(pid(&next), old);
    assert!(next.init.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handled_error_keeps_the_process() {
    let pool = pool(spec(&[]));
    let old = pid(&pool.invoke(json!({})).await);
    let err = pool
        .invoke(json!({"action": "error", "message": "bad input"}))
        .await;
    assert_eq!(
        err.outcome,
        Outcome::Error {
            error_type: "Handled".into(),
            error_message: "bad input".into()
        }
    );
    let next = pool.invoke(json!({})).await;
    assert_eq!(pid(&next), old);
    assert_eq!(next.init, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_posted_init_error_drops_the_process() {
    let pool = pool(spec(&[("TEST_INIT", "error")]));
    let inv = pool.invoke(json!({})).await;
    assert_eq!(
        inv.outcome,
        Outcome::InitError {
            error_type: "Init.Failed".into(),
            error_message: "no configuration".into()
        }
    );
    assert!(inv.init.is_some());
    assert_eq!(pool.live(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exit_before_asking_for_an_event_is_an_init_error() {
    let (sink, lines) = collect();
    let pool = Pool::new(spec(&[("TEST_INIT", "exit")]), sink);
    let inv = pool.invoke(json!({})).await;
    assert_eq!(
        inv.outcome,
        Outcome::InitError {
            error_type: "Runtime.ExitError".into(),
            error_message: format!(
                "RequestId: {} Error: Runtime exited with error: exit status 2",
                inv.request_id
            )
        }
    );
    assert!(lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.line == "missing configuration" && l.stderr && l.request_id.is_none()));
    assert_eq!(pool.live(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_executable_is_an_init_error() {
    let mut s = spec(&[]);
    s.executable = PathBuf::from("/nonexistent/bootstrap");
    let inv = pool(s).invoke(json!({})).await;
    assert!(
        matches!(&inv.outcome, Outcome::InitError { error_type, .. } if error_type == "Runtime.InvalidEntrypoint"),
        "{:?}",
        inv.outcome
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn log_lines_carry_the_request_id_being_handled() {
    let (sink, lines) = collect();
    let pool = Pool::new(spec(&[]), sink);
    let mut ids = Vec::new();
    for n in 0..5 {
        let inv = pool
            .invoke(json!({"action": "log", "stdout": [format!("out {n}")], "stderr": [format!("err {n}")]}))
            .await;
        answer(&inv);
        ids.push(inv.request_id);
    }
    let lines = lines.lock().unwrap().clone();
    for (n, id) in ids.iter().enumerate() {
        for (text, stderr) in [(format!("out {n}"), false), (format!("err {n}"), true)] {
            let line = lines
                .iter()
                .find(|l| l.line == text)
                .unwrap_or_else(|| panic!("{text} logged: {lines:?}"));
            assert_eq!(line.request_id.as_deref(), Some(id.as_str()));
            assert_eq!(line.stderr, stderr);
            assert_eq!(line.function, "test-fn");
        }
    }
    let init = lines
        .iter()
        .find(|l| l.line.starts_with("init "))
        .expect("the init line");
    assert_eq!(init.request_id, None, "init belongs to no invocation");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_memory_is_the_peak_resident_set() {
    let pool = pool(spec(&[]));
    let small = pool.invoke(json!({})).await;
    let big = pool.invoke(json!({"action": "alloc", "mb": 64})).await;
    assert_eq!(answer(&big)["kept"], 64 * 1024 * 1024);
    let (small, big) = (small.max_memory_kb.unwrap(), big.max_memory_kb.unwrap());
    // Peaks are not additive (pages come and go): the 64 MiB alone must show.
    assert!(
        big >= 64 * 1024 && big > small,
        "{big} kB after 64 MiB, {small} kB before"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_retires_old_processes() {
    let dir = std::env::temp_dir().join(format!("lambda-local-replace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("bootstrap");
    std::fs::copy(FUNCTION, &copy).unwrap();

    let (sink, lines) = collect();
    let pool = Pool::new(spec(&[]), sink);
    // An idle process of the old code stops at once.
    let idle = pid(&pool.invoke(json!({})).await);
    pool.replace(copy.clone());
    assert!(!exists(idle));
    assert_eq!(pool.live(), 0);
    let new = pool.invoke(json!({})).await;
    assert!(new.init.is_some());
    assert_eq!(answer(&new)["exe"], copy.to_str().unwrap());

    // A busy one finishes its invocation, then stops.
    let busy = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.invoke(json!({"action": "sleep", "ms": 300})).await })
    };
    // Wait until the process is in the invocation (it says so).
    let started = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if lines.lock().unwrap().iter().any(|l| l.line == "sleeping") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(started.is_ok(), "the invocation started");
    pool.replace(PathBuf::from(FUNCTION));
    let busy = busy.await.unwrap();
    let old = pid(&busy);
    assert_eq!(answer(&busy)["exe"], copy.to_str().unwrap());
    assert!(!exists(old), "retired after its invocation");
    assert_eq!(pool.live(), 0);
    let newest = pool.invoke(json!({})).await;
    assert_eq!(answer(&newest)["exe"], FUNCTION);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_and_drop_leave_no_process() {
    let pool = pool(spec(&[]));
    let sleep = || pool.invoke(json!({"action": "sleep", "ms": 200}));
    let (a, b) = tokio::join!(sleep(), sleep());
    let pids = [pid(&a), pid(&b)];
    assert_ne!(pids[0], pids[1]);
    pool.shutdown();
    assert_eq!(pool.live(), 0);
    assert!(pids.iter().all(|p| !exists(*p)));
    assert!(matches!(
        pool.invoke(json!({})).await.outcome,
        Outcome::InitError { .. }
    ));

    let other = self::pool(spec(&[]));
    let p = pid(&other.invoke(json!({})).await);
    assert!(exists(p));
    let clone = other.clone();
    drop(other);
    assert!(exists(p), "a clone keeps the processes");
    drop(clone);
    assert!(!exists(p), "the last clone's drop kills them");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_very_long_line_is_split_not_lost() {
    let (sink, lines) = collect();
    let pool = Pool::new(spec(&[]), sink);
    let long = "x".repeat(600 * 1024);
    let inv = pool
        .invoke(json!({"action": "log", "stdout": [long, "after"]}))
        .await;
    answer(&inv);
    let lines = lines.lock().unwrap().clone();
    let parts: Vec<&LogLine> = lines.iter().filter(|l| l.line.starts_with('x')).collect();
    assert!(parts.len() >= 3, "split in pieces of at most 256 KiB");
    assert!(parts.iter().all(|l| l.line.len() <= 256 * 1024));
    assert_eq!(
        parts.iter().map(|l| l.line.len()).sum::<usize>(),
        600 * 1024
    );
    assert!(parts
        .iter()
        .all(|l| l.request_id.as_deref() == Some(inv.request_id.as_str())));
    assert!(lines.iter().any(|l| l.line == "after"));
}
