//! Following a stack until CloudFormation is done with it: polls that start
//! fast and back off, every new event passed on as it appears, failures
//! collected without the "cancelled" echoes, throttling ridden out. Time is
//! injected ([`Clock`]) so tests run scripted hour-long deployments in
//! milliseconds.

use super::observe::Observer;
use super::status::{is_cancellation, state, State};
use crate::aws::cloudformation::{CfnError, CloudFormation, ErrorKind, StackEvent};
use std::future::Future;
use std::time::{Duration, Instant};

/// The first pause between polls.
pub const FIRST_POLL: Duration = Duration::from_millis(250);
/// The pause polls grow to.
pub const MAX_POLL: Duration = Duration::from_secs(5);
/// The pause after a poll that brought news.
pub const ACTIVE_POLL: Duration = Duration::from_secs(1);
/// How many throttled polls in a row are ridden out before giving up.
const THROTTLE_LIMIT: u32 = 12;

/// Time, injected.
pub trait Clock {
    /// Time since an arbitrary start.
    fn now(&self) -> Duration;
    /// Waits `d`.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()>;
}

/// The real clock.
pub struct SystemClock {
    start: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
}

/// Poll intervals: [`FIRST_POLL`], growing by half each time up to
/// [`MAX_POLL`]; back to [`ACTIVE_POLL`] (or less) when something changed.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST_POLL }
    }
}

impl Backoff {
    /// The next pause.
    pub fn next_pause(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 3 / 2).min(MAX_POLL);
        d
    }
    /// Something changed: poll again soon.
    pub fn activity(&mut self) {
        self.next = self.next.min(ACTIVE_POLL);
    }
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The final status (`DELETE_COMPLETE` when the stack is gone).
    pub status: String,
    /// CloudFormation's reason for it.
    pub reason: Option<String>,
    /// Resources that failed, in the order they failed, without the
    /// cancellations they caused.
    pub failures: Vec<StackEvent>,
    /// The newest event seen, to read on from.
    pub marker: Option<String>,
}

/// Whether `e` reports a resource failure worth showing.
pub fn is_failure(e: &StackEvent) -> bool {
    e.status.ends_with("_FAILED") && !e.reason.as_deref().is_some_and(is_cancellation)
}

/// Retries `call` while it is throttled.
async fn patiently<T, F, Fut, K>(
    clock: &K,
    backoff: &mut Backoff,
    mut call: F,
) -> Result<T, CfnError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CfnError>>,
    K: Clock,
{
    let mut throttled = 0;
    loop {
        match call().await {
            Err(e) if e.kind == ErrorKind::Throttled && throttled < THROTTLE_LIMIT => {
                throttled += 1;
                clock.sleep(backoff.next_pause().max(ACTIVE_POLL)).await;
            }
            other => return other,
        }
    }
}

/// Follows the stack `target` (its name) until no operation runs on it. Events newer than `marker` go to
/// `observer` under the label `stack`, oldest first. With `deleting`, a
/// stack that disappears is done; otherwise that is an error.
pub async fn settle<C: CloudFormation, K: Clock>(
    cfn: &C,
    clock: &K,
    observer: &dyn Observer,
    stack: &str,
    target: &str,
    mut marker: Option<String>,
    deleting: bool,
) -> Result<Settled, CfnError> {
    let mut backoff = Backoff::default();
    let mut failures = Vec::new();
    let mut last_status = String::new();
    loop {
        // Status first, events second: every event written before the
        // status turned final is then in the events read below.
        let info = patiently(clock, &mut backoff, || cfn.describe(target)).await?;
        let events = match patiently(clock, &mut backoff, || {
            cfn.events(target, marker.as_deref())
        })
        .await
        {
            Ok(events) => events,
            Err(e) if e.kind == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        if !events.is_empty() {
            backoff.activity();
        }
        for e in events.into_iter().rev() {
            marker = Some(e.id.clone());
            if is_failure(&e) && !e.is_stack() {
                failures.push(e.clone());
            }
            observer.event(stack, &e);
        }
        let Some(info) = info else {
            if deleting {
                return Ok(Settled {
                    status: "DELETE_COMPLETE".into(),
                    reason: None,
                    failures,
                    marker,
                });
            }
            return Err(CfnError::new(
                ErrorKind::NotFound,
                format!(
                    "stack {target} was deleted while stackctl waited for it (by someone else?)"
                ),
            ));
        };
        if info.status != last_status {
            observer.status(stack, &info.status);
            last_status.clone_from(&info.status);
            backoff.activity();
        }
        if state(&info.status) != State::Busy {
            return Ok(Settled {
                status: info.status,
                reason: info.reason,
                failures,
                marker,
            });
        }
        clock.sleep(backoff.next_pause()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_start_fast_and_back_off_to_a_few_seconds() {
        let mut b = Backoff::default();
        let pauses: Vec<u128> = (0..10).map(|_| b.next_pause().as_millis()).collect();
        assert_eq!(pauses[0], 250);
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]), "{pauses:?}");
        assert_eq!(*pauses.last().unwrap(), 5000);
        b.activity();
        assert_eq!(b.next_pause(), ACTIVE_POLL);
    }
}
