//! What serve prints while it runs: one line per invocation (function,
//! what triggered it, status, duration, cold or warm) and the functions'
//! own log lines, prefixed with the function; `--output json` prints the
//! same as JSON lines (`{"event": "invocation", ...}`, `{"event": "log",
//! ...}`) on stdout for tools to read.

use serde::Serialize;
use std::io::Write;
use std::sync::Mutex;

/// How lines are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people: aligned text.
    Text,
    /// One JSON object per line.
    Json,
}

/// One invocation, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct InvocationLine {
    /// `STACK/KEY`.
    pub function: String,
    /// What invoked it: `POST /video/upload/create`, `$connect`,
    /// `schedule cleanup`, ...
    pub trigger: String,
    /// Lambda's request id.
    pub request_id: String,
    /// `ok`, `error`, `timeout`, `crash` or `init_error`.
    pub outcome: &'static str,
    /// The HTTP status the client got, when a client waited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The function's time, in ms.
    pub duration_ms: f64,
    /// Whether a new process started for it.
    pub cold: bool,
    /// The new process's init time, in ms (cold starts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_ms: Option<f64>,
    /// serve's own time around the function's (event, routing, answer), in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead_ms: Option<f64>,
    /// The process's peak memory, in MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory_mb: Option<u64>,
    /// The function's memory size, in MB.
    pub memory_mb: u32,
    /// The error, for anything but `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Prints lines from any task, whole.
#[derive(Debug)]
pub struct Reporter {
    format: Format,
    out: Mutex<()>,
}

impl Reporter {
    /// A reporter printing in `format`.
    pub fn new(format: Format) -> Reporter {
        Reporter {
            format,
            out: Mutex::new(()),
        }
    }

    fn emit(&self, text: &str, json: serde_json::Value) {
        let _guard = self.out.lock();
        let mut stdout = std::io::stdout().lock();
        let _ = match self.format {
            Format::Text => writeln!(stdout, "{text}"),
            Format::Json => writeln!(stdout, "{json}"),
        };
        let _ = stdout.flush();
    }

    /// An invocation.
    pub fn invocation(&self, line: &InvocationLine) {
        let mut text = format!(
            "{:<28} {:<32} {:>4} {:>9} {}",
            line.function,
            line.trigger,
            line.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| line.outcome.to_string()),
            format!("{:.1} ms", line.duration_ms),
            if line.cold {
                match line.init_ms {
                    Some(ms) => format!("cold (init {ms:.1} ms)"),
                    None => "cold".to_string(),
                }
            } else {
                "warm".to_string()
            }
        );
        if let Some(e) = &line.error {
            text.push_str(&format!("  {}: {e}", line.outcome));
        }
        let mut json = serde_json::to_value(line).unwrap_or_default();
        json["event"] = "invocation".into();
        self.emit(&text, json);
    }

    /// A line a function wrote.
    pub fn log(&self, function: &str, request_id: Option<&str>, line: &str) {
        self.emit(
            &format!("{function} | {line}"),
            serde_json::json!({"event": "log", "function": function, "request_id": request_id, "line": line}),
        );
    }

    /// Something serve says (listening, code picked up, a source's run).
    pub fn note(&self, kind: &str, text: &str, json: serde_json::Value) {
        let mut json = json;
        json["event"] = kind.into();
        self.emit(text, json);
    }
}
