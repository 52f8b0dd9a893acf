//! One execution environment: the function's process, the threads that
//! read its output line by line, and the thread that notices its exit.
//!
//! No tokio `process` feature (it would recompile the AWS SDK for every
//! crate of the workspace): `std::process` and plain threads.

use std::io::{BufRead, BufReader, PipeReader, PipeWriter, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::{LogLine, LogSink};

/// What a process's Runtime API and its exit watcher tell the invocation
/// that runs on it.
#[derive(Debug)]
pub(crate) enum Event {
    /// The process took the event (`/invocation/next` answered) at this
    /// instant: the invocation's clock starts.
    Delivered(Instant),
    Response(Vec<u8>),
    Error {
        error_type: String,
        error_message: String,
    },
    InitError {
        error_type: String,
        error_message: String,
    },
    /// The process is gone and its output has been read to the end.
    Exited {
        status: String,
        success: bool,
    },
}

/// Written into the process's own stdout/stderr pipes, after whatever the
/// process wrote before: when the reader thread meets it, every line
/// written before has been handed to the log sink. That is how a line is
/// attributed to the invocation during which it was written, not to the
/// one running when a busy reader thread got round to it.
const MARK: &[u8] = b"\0lambda-local:sync\0\n";

/// Lambda splits longer log lines; so does this.
const MAX_LINE: usize = 256 * 1024;

/// One of the process's two output pipes, as seen from this side.
pub(crate) struct Stream {
    /// A write end kept here for the marks, and the number of marks written;
    /// closed when the process has exited, so the reader sees the end.
    writer: Mutex<Option<(PipeWriter, u64)>>,
    /// Marks the reader has passed.
    passed: watch::Sender<u64>,
}

impl Stream {
    fn new(writer: PipeWriter) -> Stream {
        Stream {
            writer: Mutex::new(Some((writer, 0))),
            passed: watch::Sender::new(0),
        }
    }

    fn close(&self) {
        lock(&self.writer).take();
    }

    /// Writes a mark; returns the count the reader must reach.
    fn mark(&self) -> Option<(watch::Receiver<u64>, u64)> {
        let rx = self.passed.subscribe();
        let mut w = lock(&self.writer);
        let (pipe, sent) = w.as_mut()?;
        // One write of less than PIPE_BUF bytes: atomic, never interleaved
        // with the process's own writes.
        pipe.write_all(MARK).ok()?;
        *sent += 1;
        Some((rx, *sent))
    }
}

/// The output side of one process: what `sync` needs.
pub(crate) struct Output {
    pub stdout: Stream,
    pub stderr: Stream,
    /// The request id the process is handling, None between invocations:
    /// each log line carries it.
    pub current: Mutex<Option<String>>,
}

impl Output {
    /// Returns once every line the process wrote before this call has gone
    /// to the log sink (or after two seconds, should a reader be stuck).
    pub async fn sync(&self) {
        let marks = [self.stdout.mark(), self.stderr.mark()];
        for (mut rx, target) in marks.into_iter().flatten() {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|n| *n >= target)).await;
        }
    }

    pub fn set_current(&self, id: Option<String>) {
        *lock(&self.current) = id;
    }

    pub fn current(&self) -> Option<String> {
        lock(&self.current).clone()
    }
}

/// The process itself, shared by the pool (to kill it) and its watcher.
pub(crate) struct Control {
    pub pid: u32,
    child: Mutex<Child>,
    /// Set once the process has been reaped (by the watcher or a kill).
    exited: AtomicBool,
}

impl Control {
    pub fn alive(&self) -> bool {
        !self.exited.load(Ordering::SeqCst)
    }

    /// SIGKILL, without waiting: the watcher reaps it and reports the exit
    /// once the output is read.
    pub fn kill(&self) {
        let _ = lock(&self.child).kill();
    }

    /// SIGKILL and reap now: nothing is left behind, not even a zombie.
    pub fn kill_and_reap(&self) {
        let mut child = lock(&self.child);
        let _ = child.kill();
        if child.wait().is_ok() {
            self.exited.store(true, Ordering::SeqCst);
        }
    }
}

/// Starts the threads of a freshly spawned process: one reader per output
/// pipe, and a watcher that polls for its exit (std has no way to wait for
/// a child while another thread may kill it), closes this side's write
/// ends once it is gone, waits for the readers to drain the pipes, and
/// sends [`Event::Exited`].
pub(crate) fn watch(
    child: Child,
    pipes: (PipeReader, PipeWriter, PipeReader, PipeWriter),
    function: String,
    sink: LogSink,
    events: mpsc::UnboundedSender<Event>,
) -> (Arc<Control>, Arc<Output>) {
    let (out_r, out_w, err_r, err_w) = pipes;
    let control = Arc::new(Control {
        pid: child.id(),
        child: Mutex::new(child),
        exited: AtomicBool::new(false),
    });
    let output = Arc::new(Output {
        stdout: Stream::new(out_w),
        stderr: Stream::new(err_w),
        current: Mutex::new(None),
    });
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    for (reader, stderr) in [(out_r, false), (err_r, true)] {
        let output = output.clone();
        let sink = sink.clone();
        let function = function.clone();
        let done = done_tx.clone();
        std::thread::spawn(move || {
            read_lines(reader, stderr, &output, &function, &sink);
            drop(done);
        });
    }
    drop(done_tx);
    let (c, o) = (control.clone(), output.clone());
    std::thread::spawn(move || {
        // Short polls at first (a process that fails at start is reported
        // promptly), then every 20 ms: idle processes cost next to nothing.
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match lock(&c.child).try_wait() {
                Ok(Some(status)) => {
                    c.exited.store(true, Ordering::SeqCst);
                    break Some(status);
                }
                Ok(None) => {}
                Err(_) => break None,
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        };
        o.stdout.close();
        o.stderr.close();
        // Both readers end at the pipes' end (the channel disconnects when
        // both have dropped their sender), unless a grandchild holds the
        // pipes open: do not wait for that forever.
        let _ = done_rx.recv_timeout(Duration::from_secs(2));
        c.exited.store(true, Ordering::SeqCst);
        let (status, success) = match status {
            Some(s) => (describe(s), s.success()),
            None => ("unknown".to_string(), false),
        };
        let _ = events.send(Event::Exited { status, success });
    });
    (control, output)
}

fn read_lines(reader: PipeReader, stderr: bool, output: &Output, function: &str, sink: &LogSink) {
    let mut reader = BufReader::new(reader);
    let mut pending: Vec<u8> = Vec::new();
    let emit = |bytes: &[u8]| {
        let mut bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let line = LogLine {
            function: function.to_string(),
            request_id: output.current(),
            stderr,
            line: String::from_utf8_lossy(bytes).into_owned(),
        };
        // A panicking sink must not stop the reader: the pipe would fill up
        // and block the process.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink(line)));
    };
    loop {
        // Each chunk ends at the first newline; a mark ends with one, so a
        // chunk holding a mark ends with it.
        let mut chunk = Vec::new();
        match (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut chunk)
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        pending.extend_from_slice(&chunk);
        if pending.ends_with(MARK) {
            pending.truncate(pending.len() - MARK.len());
            let stream = if stderr {
                &output.stderr
            } else {
                &output.stdout
            };
            stream.passed.send_modify(|n| *n += 1);
        } else if pending.ends_with(b"\n") {
            emit(&pending);
            pending.clear();
        } else if pending.len() >= MAX_LINE {
            // A long line without its end yet: out it goes, but for a tail
            // that may be the start of a mark.
            let keep = pending.split_off(pending.len() - MARK.len());
            emit(&pending);
            pending = keep;
        }
    }
    if !pending.is_empty() {
        emit(&pending);
    }
}

/// An exit status as Lambda reports it (`Runtime exited with error: exit
/// status 3`, `signal: killed`): the words of Go's `os.ProcessState`, which
/// Lambda's init process is written in.
pub(crate) fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let Some(signal) = status.signal() else {
        return status.to_string();
    };
    let name = match signal {
        1 => "hangup",
        2 => "interrupt",
        3 => "quit",
        4 => "illegal instruction",
        5 => "trace/breakpoint trap",
        6 => "aborted",
        7 => "bus error",
        8 => "floating point exception",
        9 => "killed",
        11 => "segmentation fault",
        13 => "broken pipe",
        15 => "terminated",
        n => return format!("signal: signal {n}"),
    };
    format!("signal: {name}")
}

/// The process's peak resident set (`VmHWM`), what Lambda reports as
/// `Max Memory Used`.
pub(crate) fn max_memory_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
}

/// A poisoned lock only means another thread panicked while holding it;
/// the data (a child handle, a request id) is still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
