//! Where a command's time goes, for `--timings`: phases measured in wall
//! time from the start of the process, printed on stderr at the end.
//!
//! A process-wide recorder (not a value threaded through every call):
//! phases are marked at a handful of points in the commands, and nothing
//! is recorded or printed unless `--timings` switched it on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);
static STATE: OnceLock<Mutex<State>> = OnceLock::new();

struct State {
    start: Instant,
    last: Instant,
    /// Phase name -> time, in the order phases first ended.
    phases: Vec<(&'static str, Duration)>,
}

fn state() -> &'static Mutex<State> {
    STATE.get_or_init(|| {
        let now = Instant::now();
        Mutex::new(State {
            start: now,
            last: now,
            phases: Vec::new(),
        })
    })
}

/// Starts recording (the clock starts now).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
    let _ = state();
}

/// Ends phase `name`: the time since the previous phase ended (or since
/// recording started) is added to it.
pub fn lap(name: &'static str) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Ok(mut s) = state().lock() else { return };
    let now = Instant::now();
    let spent = now - s.last;
    s.last = now;
    match s.phases.iter_mut().find(|(n, _)| *n == name) {
        Some((_, d)) => *d += spent,
        None => s.phases.push((name, spent)),
    }
}

/// The phases so far and the total, as printed lines; `None` when
/// recording is off.
pub fn report() -> Option<String> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    lap("report");
    let s = state().lock().ok()?;
    let total = s.last - s.start;
    let width = s.phases.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut out = String::from("timings:");
    for (name, d) in &s.phases {
        out.push_str(&format!(
            "\n  {name:<width$}  {:>8.1} ms",
            d.as_secs_f64() * 1000.0
        ));
    }
    out.push_str(&format!(
        "\n  {:<width$}  {:>8.1} ms",
        "total",
        total.as_secs_f64() * 1000.0
    ));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_accumulate_in_the_order_they_first_end() {
        assert_eq!(report(), None, "off until enabled");
        enable();
        lap("load");
        std::thread::sleep(Duration::from_millis(5));
        lap("aws");
        lap("load");
        let text = report().unwrap();
        let names: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(names, ["load", "aws", "report", "total"]);
        let aws: f64 = text
            .lines()
            .nth(2)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert!(aws >= 5.0, "{text}");
    }
}
