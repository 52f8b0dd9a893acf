//! Progress of `health --wait` (and `deploy --wait-healthy`) on stderr: a
//! spinner line on a terminal, one plain line per run in a log (so a CI
//! log shows what is still being waited on), nothing with `--quiet` or
//! `--output json`.

use super::progress::Mode;
use crate::health::report::{seconds, Report};
use crate::health::wait::Watch;
use crate::health::Status;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::time::{Duration, Instant};

/// Most check ids named in a run's line.
const NAMED: usize = 3;

/// The wait's progress view.
pub struct WaitProgress {
    mode: Mode,
    bar: Option<ProgressBar>,
    start: Instant,
}

impl WaitProgress {
    /// A view in `mode`.
    pub fn new(mode: Mode) -> Self {
        let bar = (mode == Mode::Live).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg}  {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            mode,
            bar,
            start: Instant::now(),
        }
    }

    /// Removes the live line (before the report prints).
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for WaitProgress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// One run in a line: its verdict, counts and the first checks that keep
/// it from being good.
pub fn summary(n: u32, report: &Report) -> String {
    let c = &report.counts;
    let mut counts = Vec::new();
    for (k, what) in [
        (c.fail, "failed"),
        (c.unknown, "unknown"),
        (c.warn, "warned"),
    ] {
        if k > 0 {
            counts.push(format!("{k} {what}"));
        }
    }
    let mut line = format!("health run {n}: {}", report.verdict.as_str());
    if !counts.is_empty() {
        line.push_str(&format!(" ({})", counts.join(", ")));
    }
    let open: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Unknown))
        .map(|c| c.id.as_str())
        .collect();
    if !open.is_empty() {
        line.push_str(&format!(": {}", open[..open.len().min(NAMED)].join(", ")));
        if open.len() > NAMED {
            line.push_str(&format!(" and {} more", open.len() - NAMED));
        }
    }
    line
}

/// A pause or what is left of a wait: whole seconds from 1 s on.
fn whole(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{} s", d.as_secs())
    } else {
        seconds(d)
    }
}

impl Watch for WaitProgress {
    fn started(&self, n: u32) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("health run {n}: checking"));
        }
    }

    fn ended(&self, n: u32, report: &Report, next: Option<(Duration, Duration)>) {
        let mut line = summary(n, report);
        if let Some((pause, left)) = next {
            line.push_str(&format!(
                "; next run in {}, {} left",
                whole(pause),
                whole(left)
            ));
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Live => {
                if let Some(bar) = &self.bar {
                    bar.println(line);
                    bar.set_message(format!("health: waiting for run {}", n + 1));
                }
            }
            Mode::Lines => {
                let secs = self.start.elapsed().as_secs_f64();
                let _ = writeln!(std::io::stderr().lock(), "[{secs:>6.1}s] {line}");
            }
        }
    }
}
