//! `--wait`: health run again and again, with backoff, until every check
//! passes twice in a row (warnings allowed unless `--fail-on warn`), a
//! stack's status failed for good, or the time is up; then the last run
//! is the report, with how many runs it took and how long ([`Waited`]).
//!
//! Twice in a row, because one good run right after a deploy may catch a
//! function between two states. While a stack is `*_IN_PROGRESS` its
//! status is `unknown` ("not yet"), which is waited on; a rolled-back
//! deploy (`UPDATE_ROLLBACK_COMPLETE`) fails under `--wait` and, like any
//! failed or rolled-back stack, stops the wait at once: only a new deploy
//! changes it ([`super::stack::settled_failure`]). Each run gets the
//! per-run `--timeout`, cut to the time left, so the whole wait never
//! goes past its deadline; the pause before the next run starts at
//! [`FIRST_PAUSE`] and doubles up to [`MAX_PAUSE`], and no run starts
//! when its pause would end past the deadline. Time is injected
//! ([`Clock`]) so tests wait minutes in no time.

use super::report::Report;
use crate::deploy::wait::Clock;
use crate::exit::ExitStatus;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

/// The first pause between runs.
pub const FIRST_PAUSE: Duration = Duration::from_secs(2);
/// The longest pause between runs.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);
/// Good runs in a row that end the wait.
pub const GOOD_IN_A_ROW: u32 = 2;

/// How a wait goes.
#[derive(Debug, Clone, Copy)]
pub struct WaitSettings {
    /// The whole wait's time (`--wait`).
    pub limit: Duration,
    /// One run's time (`--timeout`); cut to the time left.
    pub timeout: Duration,
    /// A warning makes a run bad (`--fail-on warn`).
    pub fail_on_warn: bool,
}

/// Why a wait ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// Every check passed (or warned, or was skipped) twice in a row.
    Passed,
    /// A stack failed for good: waiting would not change it.
    Settled,
    /// The time ran out.
    TimeUp,
}

/// What a wait did: added to the last run's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waited {
    /// Why it ended.
    pub ended: Ended,
    /// Health runs made (the report is the last).
    pub runs: u32,
    /// The whole wait, in milliseconds.
    pub duration_ms: u64,
    /// The time it was given (`--wait`), in milliseconds.
    pub limit_ms: u64,
    /// Why it ended, in one line.
    pub reason: String,
}

/// Told about each run as the wait goes (the progress on stderr).
pub trait Watch {
    /// Run `n` (from 1) starts.
    fn started(&self, n: u32);
    /// Run `n` ended with `report`; the next starts after `pause`, with
    /// `left` of the wait to go (`None`: it was the last).
    fn ended(&self, n: u32, report: &Report, next: Option<(Duration, Duration)>);
}

/// Nobody watches.
pub struct Unwatched;

impl Watch for Unwatched {
    fn started(&self, _: u32) {}
    fn ended(&self, _: u32, _: &Report, _: Option<(Duration, Duration)>) {}
}

/// Whether a run is good: nothing failed or went unchecked (and nothing
/// warned, with `fail_on_warn`).
pub fn good(report: &Report, fail_on_warn: bool) -> bool {
    report.status(fail_on_warn) == ExitStatus::Success
}

/// Waits: `run(timeout)` makes one health run in at most `timeout`; the
/// last run's report comes back with [`Report::wait`] set.
pub async fn wait<K, W, F, Fut>(clock: &K, watch: &W, settings: WaitSettings, mut run: F) -> Report
where
    K: Clock,
    W: Watch + ?Sized,
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Report>,
{
    let start = clock.now();
    let deadline = start + settings.limit;
    let mut pause = FIRST_PAUSE;
    let mut runs = 0u32;
    let mut streak = 0u32;
    loop {
        let left = deadline.saturating_sub(clock.now());
        runs += 1;
        watch.started(runs);
        let mut report = run(settings.timeout.min(left)).await;
        streak = if good(&report, settings.fail_on_warn) {
            streak + 1
        } else {
            0
        };
        let settled = report
            .checks
            .iter()
            .find(|c| super::stack::settled_failure(c))
            .map(|c| {
                format!(
                    "{} is {}: only a new deploy changes that",
                    c.stack,
                    c.observed.as_deref().unwrap_or_default()
                )
            });
        let left = deadline.saturating_sub(clock.now());
        let end = if streak >= GOOD_IN_A_ROW {
            Some((
                Ended::Passed,
                format!("every check passed {GOOD_IN_A_ROW} runs in a row"),
            ))
        } else if let Some(why) = settled {
            Some((Ended::Settled, format!("stopped waiting: {why}")))
        } else if pause >= left {
            Some((
                Ended::TimeUp,
                format!(
                    "the time is up (--wait {}); this is the last run",
                    super::report::seconds(settings.limit)
                ),
            ))
        } else {
            None
        };
        match end {
            Some((ended, reason)) => {
                watch.ended(runs, &report, None);
                report.wait = Some(Waited {
                    ended,
                    runs,
                    duration_ms: millis(clock.now().saturating_sub(start)),
                    limit_ms: millis(settings.limit),
                    reason,
                });
                return report;
            }
            None => {
                watch.ended(runs, &report, Some((pause, left)));
                clock.sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
