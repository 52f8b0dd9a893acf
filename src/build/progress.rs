//! Progress of a build on stderr, in three degrees: a spinner on a terminal,
//! plain event lines when stderr is a log (CI), nothing with `--quiet`.
//!
//! Compiler diagnostics go through here too, so they print above the
//! spinner instead of through it; with `--quiet` they are held back and
//! shown only if the build fails.

use crate::output::Printer;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where progress goes for one `stackctl build`.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    /// Diagnostics held back with `--quiet`, for a failure.
    held: Mutex<Vec<String>>,
    started: Instant,
    /// What is built: `function` (the default), `service`.
    noun: &'static str,
}

#[derive(Debug)]
enum Mode {
    Bar(ProgressBar),
    Lines,
    Silent,
}

impl Progress {
    /// Progress as `printer` asks: silent with `--quiet`, else a spinner when
    /// stderr is a terminal and plain lines when it is not.
    pub fn new(printer: Printer) -> Self {
        let mode = if printer.quiet {
            Mode::Silent
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template(
                "{spinner:.cyan} {prefix} [{elapsed}] {pos} units compiled · {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(100));
            Mode::Bar(bar)
        } else {
            Mode::Lines
        };
        Self {
            mode,
            held: Mutex::new(Vec::new()),
            started: Instant::now(),
            noun: "function",
        }
    }

    /// Progress that shows nothing and holds nothing back (for tests).
    pub fn silent() -> Self {
        Self {
            mode: Mode::Silent,
            held: Mutex::new(Vec::new()),
            started: Instant::now(),
            noun: "function",
        }
    }

    /// The same, saying what it builds (`service`) instead of functions.
    pub fn building(mut self, noun: &'static str) -> Self {
        self.noun = noun;
        self
    }

    /// A compile of `crates` with `tool` begins.
    pub fn start(&self, tool: &str, crates: &[String]) {
        let what = format!(
            "{} {}{}",
            crates.len(),
            self.noun,
            if crates.len() == 1 { "" } else { "s" }
        );
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_prefix(format!("{tool}: {what}"));
                bar.set_message(crates.join(", "));
            }
            Mode::Lines => eprintln!("building {what} with {tool}: {}", crates.join(", ")),
            Mode::Silent => {}
        }
    }

    /// Cargo started compiling `name` (a package).
    pub fn compiling(&self, name: &str) {
        if let Mode::Bar(bar) = &self.mode {
            bar.set_message(format!("compiling {name}"));
        }
    }

    /// Cargo waits for a lock held by another cargo.
    pub fn waiting(&self, what: &str) {
        if let Mode::Bar(bar) = &self.mode {
            bar.set_message(format!("waiting: {what}"));
        }
    }

    /// One unit (a crate's library, a binary, a build script) is compiled.
    pub fn unit_done(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.inc(1);
        }
    }

    /// A function's `bootstrap` is compiled.
    pub fn function_compiled(&self, crate_name: &str, fresh: bool) {
        let how = if fresh { "up to date" } else { "compiled" };
        let line = format!(
            "{how}: {crate_name} ({:.1} s)",
            self.started.elapsed().as_secs_f64()
        );
        match &self.mode {
            Mode::Bar(bar) => bar.println(line),
            Mode::Lines => eprintln!("{line}"),
            Mode::Silent => {}
        }
    }

    /// Something the user should know (a rebuild with zigbuild, say).
    pub fn note(&self, text: &str) {
        match &self.mode {
            Mode::Bar(bar) => bar.println(text),
            Mode::Lines => eprintln!("{text}"),
            Mode::Silent => {}
        }
    }

    /// A line of compiler output (a warning or an error, rendered).
    pub fn diagnostic(&self, line: &str) {
        match &self.mode {
            Mode::Bar(bar) => bar.suspend(|| eprintln!("{line}")),
            Mode::Lines => eprintln!("{line}"),
            Mode::Silent => {
                if let Ok(mut held) = self.held.lock() {
                    held.push(line.to_string());
                }
            }
        }
    }

    /// The build failed: show the diagnostics held back by `--quiet`.
    pub fn failed(&self) {
        self.finish();
        if let Ok(mut held) = self.held.lock() {
            for line in held.drain(..) {
                eprintln!("{line}");
            }
        }
    }

    /// The diagnostics held back so far.
    #[cfg(test)]
    pub fn held(&self) -> Vec<String> {
        self.held.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Clears the spinner.
    pub fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}
