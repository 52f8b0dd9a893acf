//! The health report: the checks by id, the counts, one verdict, the exit
//! status, and how it prints (text: what needs a look first, then the
//! verdict; JSON: the versioned schema [`SCHEMA`]).

use super::{Check, Status};
use crate::exit::ExitStatus;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// The JSON report's schema name and version. A field is only ever added
/// under it; a change to an existing field's meaning gets a new version.
pub const SCHEMA: &str = "stackctl.health/v1";

/// The whole environment's state, from its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check passed (or was skipped).
    Healthy,
    /// Nothing failed or went unchecked, but something warns.
    Degraded,
    /// A check failed.
    Unhealthy,
    /// Nothing failed, but some check could not be made.
    Incomplete,
}

impl Verdict {
    /// The verdict on checks with these counts.
    pub fn of(counts: &Counts) -> Self {
        if counts.fail > 0 {
            Verdict::Unhealthy
        } else if counts.unknown > 0 {
            Verdict::Incomplete
        } else if counts.warn > 0 {
            Verdict::Degraded
        } else {
            Verdict::Healthy
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Unhealthy => "unhealthy",
            Verdict::Incomplete => "incomplete",
        }
    }
}

/// How many checks ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Passed.
    pub pass: usize,
    /// Warned.
    pub warn: usize,
    /// Failed.
    pub fail: usize,
    /// Could not be made.
    pub unknown: usize,
    /// Left out, with a reason.
    pub skip: usize,
}

impl Counts {
    /// The counts of `checks`.
    pub fn of(checks: &[Check]) -> Self {
        let n = |s: Status| checks.iter().filter(|c| c.status == s).count();
        Self {
            pass: n(Status::Pass),
            warn: n(Status::Warn),
            fail: n(Status::Fail),
            unknown: n(Status::Unknown),
            skip: n(Status::Skip),
        }
    }
}

/// `stackctl health`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The environment.
    pub env: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Checks by status.
    pub counts: Counts,
    /// The whole run's time, in milliseconds.
    pub duration_ms: u64,
    /// Every check, by id.
    pub checks: Vec<Check>,
    /// With `--wait`: how the wait went (this is its last run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<super::wait::Waited>,
    /// Print every check, not only those that need a look (`-v`).
    #[serde(skip)]
    pub verbose: bool,
}

impl Report {
    /// The report of `checks` (in any order) in `env`, which took `took`.
    pub fn new(env: &str, mut checks: Vec<Check>, took: Duration) -> Self {
        checks.sort_by(|a, b| a.id.cmp(&b.id));
        let counts = Counts::of(&checks);
        Self {
            schema: SCHEMA,
            env: env.to_string(),
            verdict: Verdict::of(&counts),
            counts,
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            checks,
            wait: None,
            verbose: false,
        }
    }

    /// The exit status: 0 healthy or degraded, 1 unhealthy (and degraded
    /// with `fail_on_warn`: a warning then counts as a failure), 5
    /// incomplete.
    pub fn status(&self, fail_on_warn: bool) -> ExitStatus {
        match self.verdict {
            Verdict::Unhealthy => ExitStatus::Failure,
            _ if fail_on_warn && self.counts.warn > 0 => ExitStatus::Failure,
            Verdict::Incomplete => ExitStatus::Incomplete,
            Verdict::Healthy | Verdict::Degraded => ExitStatus::Success,
        }
    }

    /// The checks that need a look: failures, then unknowns, then warnings,
    /// each by id.
    pub fn problems(&self) -> Vec<&Check> {
        let mut out = Vec::new();
        for s in [Status::Fail, Status::Unknown, Status::Warn] {
            out.extend(self.checks.iter().filter(|c| c.status == s));
        }
        out
    }
}

/// A duration as `0.25 s`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.2} s")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.verbose {
            let w = self.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
            for c in &self.checks {
                writeln!(
                    f,
                    "{:<7} {:w$}  {} ({} ms)",
                    c.status.as_str(),
                    c.id,
                    c.reason,
                    c.duration_ms
                )?;
            }
            if !self.checks.is_empty() {
                writeln!(f)?;
            }
        }
        for c in self.problems() {
            writeln!(
                f,
                "{:<7} {}: {}",
                c.status.as_str().to_uppercase(),
                c.id,
                c.reason
            )?;
            if let Some(o) = &c.observed {
                writeln!(f, "          observed: {o}")?;
            }
            if let Some(e) = &c.expected {
                writeln!(f, "          expected: {e}")?;
            }
            if let Some(h) = &c.hint {
                writeln!(f, "          hint: {h}")?;
            }
        }
        if let Some(w) = &self.wait {
            writeln!(
                f,
                "waited {} ({} run{}): {}",
                seconds(Duration::from_millis(w.duration_ms)),
                w.runs,
                if w.runs == 1 { "" } else { "s" },
                w.reason
            )?;
        }
        let c = &self.counts;
        let parts: Vec<String> = [
            (c.fail, "failed"),
            (c.unknown, "unknown"),
            (c.warn, "warned"),
            (c.pass, "passed"),
            (c.skip, "skipped"),
        ]
        .into_iter()
        .filter(|(n, what)| *n > 0 || *what == "passed")
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        let n = self.checks.len();
        write!(
            f,
            "{} in {}: {} ({n} check{} in {})",
            self.verdict.as_str(),
            self.env,
            parts.join(", "),
            if n == 1 { "" } else { "s" },
            seconds(Duration::from_millis(self.duration_ms))
        )
    }
}
