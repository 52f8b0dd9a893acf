//! The Lambda Runtime API and warm processes.
//!
//! A [`Pool`] runs one function as Lambda runs it: each process (an
//! execution environment) gets its own Runtime API on a loopback port
//! (`AWS_LAMBDA_RUNTIME_API`) and handles one invocation at a time; an
//! invocation takes an idle process (warm) or starts one (cold) while fewer
//! than `max_processes` exist, else waits for one to free. A process that
//! times out is killed; one that crashes, fails its init or exits is
//! dropped; the next invocation starts a fresh one. Every line the
//! processes write goes to a [`LogSink`] with the request id being handled.

mod api;
mod process;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, Semaphore};

use api::{Api, Handed};
use process::{lock, Control, Event};

/// One function, as deployed.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// `AWS_LAMBDA_FUNCTION_NAME`: the deployed physical name.
    pub name: String,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub arn: String,
    /// An unpacked `bootstrap`.
    pub executable: PathBuf,
    /// The function's environment (deployed variables, AWS endpoint and
    /// credentials). The pool adds Lambda's own variables, which win.
    pub env: Vec<(String, String)>,
    /// Enforced: at the deadline the process is killed.
    pub timeout: Duration,
    /// Reported to the function (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    pub memory_mb: u32,
    /// Bound on concurrent execution environments; beyond it an invoke waits.
    pub max_processes: usize,
}

/// What one invocation gave.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub outcome: Outcome,
    /// From handing the event to the process to its answer (or the kill).
    pub duration: Duration,
    /// Some on a cold start: the process's spawn to its first
    /// `/invocation/next` (to its failure, when init failed).
    pub init: Option<Duration>,
    /// The process's peak resident set (`VmHWM`) after the invocation.
    pub max_memory_kb: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// POST `/invocation/{id}/response`, raw body.
    Response(Vec<u8>),
    /// POST `/invocation/{id}/error` (a handled function error), or an
    /// answer over Lambda's 6 MB (`Function.ResponseSizeTooLarge`).
    Error {
        error_type: String,
        error_message: String,
    },
    /// Killed at the function's deadline (Lambda's "Task timed out after N
    /// seconds").
    Timeout,
    /// Exited while handling the event; `status` in Lambda's words
    /// (`exit status 3`, `signal: killed`).
    Crashed { status: String },
    /// POST `/init/error`, or the process exited before asking for an event
    /// (`Runtime.ExitError`, as Lambda reports it), or could not be started
    /// (`Runtime.InvalidEntrypoint`).
    InitError {
        error_type: String,
        error_message: String,
    },
}

/// Where the processes' output goes, one line at a time.
pub type LogSink = Arc<dyn Fn(LogLine) + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub function: String,
    /// The invocation the process was handling when it wrote the line; None
    /// during init and between invocations.
    pub request_id: Option<String>,
    pub stderr: bool,
    pub line: String,
}

/// Lambda limits init to 10 s; past that it retries init within the
/// invocation, under the function's timeout. Here: the longer of the two.
/// <https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html>
const INIT_LIMIT: Duration = Duration::from_secs(10);

/// The warm processes of one function. Cloning shares them; dropping the
/// last clone kills them all.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    spec: FunctionSpec,
    logs: LogSink,
    permits: Arc<Semaphore>,
    state: Mutex<State>,
}

struct State {
    executable: PathBuf,
    /// Bumped by [`Pool::replace`]: processes of an older generation run old
    /// code.
    generation: u64,
    idle: Vec<Process>,
    /// Every process started and not yet known to be gone.
    all: Vec<Arc<Control>>,
    shut: bool,
}

struct Process {
    generation: u64,
    spawned: Instant,
    control: Arc<Control>,
    api: Arc<Api>,
    next: mpsc::Sender<Handed>,
    events: mpsc::UnboundedReceiver<Event>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Process {
    fn drop(&mut self) {
        self.control.kill_and_reap();
        self.server.abort();
    }
}

impl Pool {
    pub fn new(spec: FunctionSpec, logs: LogSink) -> Pool {
        let permits = Arc::new(Semaphore::new(spec.max_processes.max(1)));
        Pool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    executable: spec.executable.clone(),
                    generation: 0,
                    idle: Vec::new(),
                    all: Vec::new(),
                    shut: false,
                }),
                spec,
                logs,
                permits,
            }),
        }
    }

    /// The function's spec (its executable as given to `new`; see
    /// [`Pool::executable`] for the current one).
    pub fn spec(&self) -> &FunctionSpec {
        &self.inner.spec
    }

    /// The executable new processes run.
    pub fn executable(&self) -> PathBuf {
        lock(&self.inner.state).executable.clone()
    }

    /// Runs one invocation: on an idle process of the current code, or a new
    /// one, or, when `max_processes` are busy, on the first to free.
    pub async fn invoke(&self, payload: serde_json::Value) -> Invocation {
        let request_id = uuid::Uuid::new_v4().to_string();
        let payload = serde_json::to_vec(&payload).unwrap_or_default();
        let Ok(permit) = self.inner.permits.clone().acquire_owned().await else {
            return shut_down(request_id);
        };
        let (proc, cold) = loop {
            if let Some(mut p) = self.take_idle() {
                if p.ready() {
                    break (p, false);
                }
                continue;
            }
            if lock(&self.inner.state).shut {
                return shut_down(request_id);
            }
            match self.spawn().await {
                Ok(p) => break (p, true),
                Err(message) => {
                    return Invocation {
                        request_id,
                        outcome: Outcome::InitError {
                            error_type: "Runtime.InvalidEntrypoint".into(),
                            error_message: message,
                        },
                        duration: Duration::ZERO,
                        init: Some(Duration::ZERO),
                        max_memory_kb: None,
                    };
                }
            }
        };
        let invocation = self.run(proc, cold, request_id, payload).await;
        drop(permit);
        invocation
    }

    /// New code: the next invocation runs `executable`; idle processes of the
    /// old code stop now, busy ones after their invocation.
    pub fn replace(&self, executable: PathBuf) {
        let retired = {
            let mut state = lock(&self.inner.state);
            state.executable = executable;
            state.generation += 1;
            std::mem::take(&mut state.idle)
        };
        drop(retired);
        self.prune();
    }

    /// Processes alive (idle or busy).
    pub fn live(&self) -> usize {
        self.prune()
    }

    /// Kills every process; later invocations fail (`PoolShutDown`).
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }

    fn prune(&self) -> usize {
        let mut state = lock(&self.inner.state);
        state.all.retain(|c| c.alive());
        state.all.len()
    }

    /// An idle process of the current code, dropping (killing) those of
    /// older code.
    fn take_idle(&self) -> Option<Process> {
        let mut stale = Vec::new();
        let found = {
            let mut state = lock(&self.inner.state);
            let generation = state.generation;
            let mut found = None;
            while let Some(p) = state.idle.pop() {
                if p.generation == generation && p.control.alive() {
                    found = Some(p);
                    break;
                }
                stale.push(p);
            }
            found
        };
        drop(stale);
        found
    }

    /// Starts a process of the current code with its own Runtime API.
    async fn spawn(&self) -> Result<Process, String> {
        let spec = &self.inner.spec;
        let (executable, generation) = {
            let state = lock(&self.inner.state);
            (state.executable.clone(), state.generation)
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on loopback for the Runtime API: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on loopback for the Runtime API: {e}"))?;
        let (next_tx, next_rx) = mpsc::channel(1);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let api = Arc::new(Api {
            arn: spec.arn.clone(),
            next: tokio::sync::Mutex::new(next_rx),
            events: events_tx.clone(),
            output: OnceLock::new(),
            first_next: OnceLock::new(),
        });
        let router = api::router(api.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });

        let pipes = (|| {
            let (out_r, out_w) = std::io::pipe()?;
            let (err_r, err_w) = std::io::pipe()?;
            Ok::<_, std::io::Error>((out_r, out_w, err_r, err_w))
        })();
        let pipes = match pipes {
            Ok(p) => p,
            Err(e) => {
                server.abort();
                return Err(format!("cannot make pipes for the function's output: {e}"));
            }
        };
        let mut command = Command::new(&executable);
        command.env_clear();
        let task_root = executable
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        // What Lambda's environment holds before the function's own
        // variables; its reserved ones (below) come last and win.
        // <https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>
        command
            .env("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .env("LAMBDA_TASK_ROOT", &task_root)
            .env("LAMBDA_RUNTIME_DIR", &task_root);
        command.envs(spec.env.iter().map(|(k, v)| (k, v)));
        command
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name());
        if task_root.is_dir() {
            command.current_dir(&task_root);
        }
        let (out_r, out_w, err_r, err_w) = pipes;
        let (Ok(out_child), Ok(err_child)) = (out_w.try_clone(), err_w.try_clone()) else {
            server.abort();
            return Err("cannot duplicate the function's output pipes".into());
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out_child))
            .stderr(Stdio::from(err_child));
        let spawned = Instant::now();
        let child = match command.spawn() {
            Ok(c) => c,
            Err(e) => {
                server.abort();
                return Err(format!("cannot run {}: {e}", executable.display()));
            }
        };
        // The child has its copies of the write ends; drop the command's.
        drop(command);
        let (control, output) = process::watch(
            child,
            (out_r, out_w, err_r, err_w),
            spec.name.clone(),
            self.inner.logs.clone(),
            events_tx,
        );
        let _ = api.output.set(output);
        lock(&self.inner.state).all.push(control.clone());
        Ok(Process {
            generation,
            spawned,
            control,
            api,
            next: next_tx,
            events: events_rx,
            server,
        })
    }

    /// Hands the event to `proc` and waits for its answer, its exit or its
    /// deadline; puts it back among the idle ones if it may serve again.
    async fn run(
        &self,
        mut proc: Process,
        cold: bool,
        request_id: String,
        payload: Vec<u8>,
    ) -> Invocation {
        let timeout = self.inner.spec.timeout;
        let handed = Instant::now();
        let _ = proc.next.try_send(Handed {
            request_id: request_id.clone(),
            payload,
            timeout,
        });
        // Until the process takes the event, it is (still) initialising.
        let mut deadline = handed
            + if cold {
                timeout.max(INIT_LIMIT)
            } else {
                timeout
            };
        let mut delivered: Option<Instant> = None;
        let mut max_memory_kb = None;
        let mut exited = false;
        let outcome = loop {
            let wait = tokio::time::timeout_at(deadline.into(), proc.events.recv()).await;
            match wait {
                Ok(Some(Event::Delivered(at))) => {
                    delivered = Some(at);
                    deadline = at + timeout;
                }
                Ok(Some(Event::Response(body))) => break Outcome::Response(body),
                Ok(Some(Event::Error {
                    error_type,
                    error_message,
                })) => {
                    break Outcome::Error {
                        error_type,
                        error_message,
                    }
                }
                Ok(Some(Event::InitError {
                    error_type,
                    error_message,
                })) => {
                    break Outcome::InitError {
                        error_type,
                        error_message,
                    }
                }
                Ok(Some(Event::Exited { status, success })) => {
                    exited = true;
                    if delivered.is_some() || !cold {
                        break Outcome::Crashed { status };
                    }
                    // Lambda's words for a runtime that exits during init.
                    let reason = if success {
                        "Runtime exited without providing a reason".to_string()
                    } else {
                        format!("Runtime exited with error: {status}")
                    };
                    break Outcome::InitError {
                        error_type: "Runtime.ExitError".into(),
                        error_message: format!("RequestId: {request_id} Error: {reason}"),
                    };
                }
                Ok(None) => {
                    break Outcome::Crashed {
                        status: "unknown".into(),
                    }
                }
                Err(_) => {
                    max_memory_kb = process::max_memory_kb(proc.control.pid);
                    break Outcome::Timeout;
                }
            }
        };
        let end = Instant::now();
        let keep = matches!(outcome, Outcome::Response(_) | Outcome::Error { .. });
        if keep {
            max_memory_kb = process::max_memory_kb(proc.control.pid);
        } else if !exited {
            // Killed: wait until its last lines are read (bounded, should a
            // grandchild hold its output open).
            proc.control.kill();
            let until = tokio::time::Instant::now() + Duration::from_secs(5);
            while let Ok(Some(event)) = tokio::time::timeout_at(until, proc.events.recv()).await {
                if matches!(event, Event::Exited { .. }) {
                    break;
                }
            }
        }
        let init = cold.then(|| {
            proc.api
                .first_next
                .get()
                .copied()
                .unwrap_or(end)
                .saturating_duration_since(proc.spawned)
        });
        let invocation = Invocation {
            request_id,
            outcome,
            duration: end.saturating_duration_since(delivered.unwrap_or(end)),
            init,
            max_memory_kb,
        };
        if keep {
            let mut state = lock(&self.inner.state);
            if !state.shut && proc.generation == state.generation && proc.control.alive() {
                state.idle.push(proc);
                return invocation;
            }
        }
        drop(proc);
        self.prune();
        invocation
    }
}

impl Process {
    /// Whether an idle process can take an event: alive, and no stale news
    /// (its exit) pending.
    fn ready(&mut self) -> bool {
        while let Ok(event) = self.events.try_recv() {
            if matches!(event, Event::Exited { .. }) {
                return false;
            }
        }
        self.control.alive()
    }
}

impl Inner {
    fn shutdown(&self) {
        self.permits.close();
        let (idle, all) = {
            let mut state = lock(&self.state);
            state.shut = true;
            (
                std::mem::take(&mut state.idle),
                std::mem::take(&mut state.all),
            )
        };
        drop(idle);
        for control in all {
            control.kill_and_reap();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn shut_down(request_id: String) -> Invocation {
    Invocation {
        request_id,
        outcome: Outcome::InitError {
            error_type: "PoolShutDown".into(),
            error_message: "the function's processes were shut down".into(),
        },
        duration: Duration::ZERO,
        init: None,
        max_memory_kb: None,
    }
}

/// `2026/12/01/[$LATEST]` and 32 hex digits, as Lambda names a log stream
/// per execution environment.
fn log_stream_name() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or_default() as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}/{month:02}/{day:02}/[$LATEST]{}",
        uuid::Uuid::new_v4().simple()
    )
}
