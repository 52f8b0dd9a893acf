//! Progress of stack operations, in the form the place it goes to can use:
//! a live line per stack on a terminal (indicatif), one plain line per
//! event in a log (CI must show progress as it happens), nothing with
//! `--quiet`.

use crate::aws::cloudformation::StackEvent;
use crate::deploy::observe::{Observer, Operation};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Live lines on a terminal.
    Live,
    /// One line per event (logs, CI).
    Lines,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// Live on a terminal (stderr), lines elsewhere, nothing when `quiet`.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Lines
        }
    }
}

/// What is known of one stack's operation.
#[derive(Debug, Default)]
struct Track {
    label: String,
    verb: &'static str,
    status: String,
    total: usize,
    resources: BTreeMap<String, String>,
    bar: Option<ProgressBar>,
    active: bool,
}

impl Track {
    fn counts(&self) -> (usize, usize) {
        let done = self
            .resources
            .values()
            .filter(|s| s.ends_with("_COMPLETE") || s.ends_with("_SKIPPED"))
            .count();
        let busy = self
            .resources
            .values()
            .filter(|s| s.ends_with("_IN_PROGRESS"))
            .count();
        (done, busy)
    }

    fn message(&self) -> String {
        let (done, busy) = self.counts();
        let mut m = format!("{} {}", self.verb, self.status);
        if self.total > 0 {
            m.push_str(&format!("  {done}/{} resources", self.total));
        } else if done > 0 {
            m.push_str(&format!("  {done} resources done"));
        }
        if busy > 0 {
            m.push_str(&format!(", {busy} in progress"));
        }
        m
    }
}

/// The progress view of one command.
pub struct Progress {
    mode: Mode,
    verbose: bool,
    multi: MultiProgress,
    start: Instant,
    stacks: Mutex<BTreeMap<String, Track>>,
}

impl Progress {
    /// A view in `mode`; `verbose` also prints every event above the live lines.
    pub fn new(mode: Mode, verbose: bool) -> Self {
        let multi = MultiProgress::with_draw_target(match mode {
            Mode::Live => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        });
        Self {
            mode,
            verbose,
            multi,
            start: Instant::now(),
            stacks: Mutex::new(BTreeMap::new()),
        }
    }

    /// `(stack, status)` of every operation still running: what Ctrl-C
    /// leaves to CloudFormation.
    pub fn in_progress(&self) -> Vec<(String, String)> {
        let stacks = self.stacks.lock().unwrap_or_else(|e| e.into_inner());
        stacks
            .values()
            .filter(|t| t.active)
            .map(|t| (t.label.clone(), t.status.clone()))
            .collect()
    }

    /// Ends every live line (after Ctrl-C, say).
    pub fn abandon(&self) {
        let mut stacks = self.stacks.lock().unwrap_or_else(|e| e.into_inner());
        for t in stacks.values_mut() {
            if let Some(bar) = t.bar.take() {
                bar.abandon();
            }
        }
    }

    fn line(&self, text: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Live => {
                let _ = self.multi.println(text);
            }
            Mode::Lines => {
                let secs = self.start.elapsed().as_secs_f64();
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "[{secs:>6.1}s] {text}");
            }
        }
    }

    fn with<R>(&self, stack: &str, f: impl FnOnce(&mut Track) -> R) -> R {
        let mut stacks = self.stacks.lock().unwrap_or_else(|e| e.into_inner());
        let t = stacks.entry(stack.to_string()).or_insert_with(|| Track {
            label: stack.to_string(),
            ..Track::default()
        });
        f(t)
    }

    fn redraw(&self, t: &Track) {
        if let Some(bar) = &t.bar {
            bar.set_message(t.message());
        }
    }
}

impl Observer for Progress {
    fn begin(&self, stack: &str, op: Operation, total: usize) {
        let live = self.mode == Mode::Live;
        let multi = &self.multi;
        self.with(stack, |t| {
            t.verb = op.verb();
            t.total = total;
            t.status.clear();
            t.resources.clear();
            t.active = true;
            if live && t.bar.is_none() {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {msg}  {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(stack.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                t.bar = Some(bar);
            }
            if let Some(bar) = &t.bar {
                bar.set_message(t.message());
            }
        });
        if !live {
            let what = if total > 0 {
                format!(" ({})", crate::diagnostics::count(total, "resource"))
            } else {
                String::new()
            };
            self.line(&format!("{stack}: {}{what}", op.verb()));
        }
    }

    fn event(&self, stack: &str, e: &StackEvent) {
        self.with(stack, |t| {
            if !e.is_stack() {
                t.resources.insert(e.logical_id.clone(), e.status.clone());
            }
            self.redraw(t);
        });
        if self.mode == Mode::Lines || (self.verbose && self.mode == Mode::Live) {
            let reason = e
                .reason
                .as_deref()
                .filter(|r| !r.is_empty())
                .map(|r| format!("  {r}"))
                .unwrap_or_default();
            self.line(&format!(
                "{stack}  {}  {}  {}{reason}",
                e.logical_id, e.resource_type, e.status
            ));
        }
    }

    fn status(&self, stack: &str, status: &str) {
        self.with(stack, |t| {
            t.status = status.to_string();
            self.redraw(t);
        });
    }

    fn note(&self, stack: &str, text: &str) {
        self.line(&format!("{stack}: {text}"));
    }

    fn end(&self, stack: &str, summary: &str, ok: bool) {
        let bar = self.with(stack, |t| {
            t.active = false;
            t.bar.take()
        });
        let mark = if ok { "✓" } else { "✗" };
        match bar {
            Some(bar) => {
                bar.set_style(
                    ProgressStyle::with_template("{prefix:.bold} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.finish_with_message(format!("{mark} {summary}"));
            }
            None => self.line(&format!("{stack}: {mark} {summary}")),
        }
    }

    fn suspend(&self, f: &mut dyn FnMut()) {
        self.multi.suspend(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, logical: &str, status: &str) -> StackEvent {
        StackEvent {
            id: id.into(),
            time: None,
            logical_id: logical.into(),
            resource_type: "AWS::SQS::Queue".into(),
            status: status.into(),
            reason: None,
        }
    }

    #[test]
    fn counts_resources_done_and_in_progress_and_tracks_running_stacks() {
        let p = Progress::new(Mode::Quiet, false);
        p.begin("app", Operation::Create, 3);
        p.status("app", "CREATE_IN_PROGRESS");
        p.event("app", &event("1", "A", "CREATE_IN_PROGRESS"));
        p.event("app", &event("2", "B", "CREATE_IN_PROGRESS"));
        p.event("app", &event("3", "A", "CREATE_COMPLETE"));
        let msg = p.with("app", |t| t.message());
        assert_eq!(
            msg,
            "creating CREATE_IN_PROGRESS  1/3 resources, 1 in progress"
        );
        assert_eq!(
            p.in_progress(),
            [("app".to_string(), "CREATE_IN_PROGRESS".to_string())]
        );
        p.end("app", "created in 1.0 s", true);
        assert!(p.in_progress().is_empty());
    }
}
