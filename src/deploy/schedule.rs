//! Running per-stack work in dependency order: a stack starts once every
//! stack it depends on has finished well; independent stacks run at the
//! same time, up to a limit; the dependents of a failed stack are skipped.
//! Everything runs on one task (no `Send` needed), interleaved at awaits.

use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

/// The result of one stack: the work's own value, or why it was skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum Ran<T> {
    /// The work ran and gave this.
    Done(T),
    /// Not run: this dependency did not finish well.
    Skipped {
        /// The dependency.
        because: String,
    },
}

/// Runs `work` for each of `stacks` (given in a valid dependency order).
/// `deps` maps a stack to the stacks it depends on; dependencies outside
/// `stacks` are taken as already in place. `ok` says whether a result lets
/// dependents go ahead. Results come back in the order of `stacks`.
pub async fn in_order<T, F, Fut>(
    stacks: &[String],
    deps: &BTreeMap<String, Vec<String>>,
    limit: usize,
    ok: impl Fn(&T) -> bool,
    mut work: F,
) -> Vec<(String, Ran<T>)>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = T>,
{
    let selected: BTreeSet<&String> = stacks.iter().collect();
    let mut waiting: Vec<&String> = stacks.iter().collect();
    let mut finished: BTreeMap<String, bool> = BTreeMap::new();
    let mut results: BTreeMap<String, Ran<T>> = BTreeMap::new();
    let mut running = FuturesUnordered::new();
    loop {
        let mut i = 0;
        while i < waiting.len() {
            let stack = waiting[i];
            let needs: Vec<&String> = deps
                .get(stack)
                .map(|d| d.iter().filter(|d| selected.contains(d)).collect())
                .unwrap_or_default();
            if let Some(bad) = needs.iter().find(|d| finished.get(**d) == Some(&false)) {
                results.insert(
                    stack.clone(),
                    Ran::Skipped {
                        because: (*bad).clone(),
                    },
                );
                finished.insert(stack.clone(), false);
                waiting.remove(i);
                // A skip may unblock (skip) stacks checked earlier in this pass.
                i = 0;
                continue;
            }
            if running.len() < limit.max(1) && needs.iter().all(|d| finished.get(*d) == Some(&true))
            {
                let name = stack.clone();
                let fut = work(name.clone());
                running.push(async move { (name, fut.await) });
                waiting.remove(i);
                continue;
            }
            i += 1;
        }
        let Some((name, value)) = running.next().await else {
            break;
        };
        finished.insert(name.clone(), ok(&value));
        results.insert(name, Ran::Done(value));
    }
    stacks
        .iter()
        .filter_map(|s| results.remove(s).map(|r| (s.clone(), r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::time::Duration;

    fn deps(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(s, d)| (s.to_string(), d.iter().map(|x| x.to_string()).collect()))
            .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Records starts and ends; each job takes 10 ms.
    async fn run(
        stacks: &[&str],
        d: &BTreeMap<String, Vec<String>>,
        limit: usize,
        fail: &[&str],
    ) -> (Vec<String>, usize, Vec<(String, Ran<bool>)>) {
        let log = RefCell::new(Vec::new());
        let active = RefCell::new(0usize);
        let peak = RefCell::new(0usize);
        let results = in_order(
            &names(stacks),
            d,
            limit,
            |ok| *ok,
            |name| {
                let (log, active, peak) = (&log, &active, &peak);
                let failed = fail.contains(&name.as_str());
                async move {
                    log.borrow_mut().push(format!("start {name}"));
                    *active.borrow_mut() += 1;
                    let now = *active.borrow();
                    peak.replace_with(|p| (*p).max(now));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    *active.borrow_mut() -= 1;
                    log.borrow_mut().push(format!("end {name}"));
                    !failed
                }
            },
        )
        .await;
        (log.into_inner(), peak.into_inner(), results)
    }

    #[tokio::test]
    async fn dependencies_finish_before_dependents_start() {
        let d = deps(&[("app", &["base"]), ("web", &["app"])]);
        let (log, peak, results) = run(&["base", "app", "web"], &d, 4, &[]).await;
        assert_eq!(
            log,
            [
                "start base",
                "end base",
                "start app",
                "end app",
                "start web",
                "end web"
            ]
        );
        assert_eq!(peak, 1);
        assert!(results.iter().all(|(_, r)| *r == Ran::Done(true)));
    }

    #[tokio::test]
    async fn independent_stacks_run_together_up_to_the_limit() {
        let d = deps(&[]);
        let (_, peak, _) = run(&["a", "b", "c", "d", "e"], &d, 3, &[]).await;
        assert_eq!(peak, 3);
        let (_, peak, _) = run(&["a", "b"], &d, 8, &[]).await;
        assert_eq!(peak, 2);
    }

    #[tokio::test]
    async fn dependents_of_a_failure_are_skipped_and_others_go_on() {
        let d = deps(&[("app", &["base"]), ("web", &["app"]), ("other", &[])]);
        let (log, _, results) = run(&["base", "other", "app", "web"], &d, 4, &["base"]).await;
        assert!(
            !log.iter().any(|l| l.contains("app") || l.contains("web")),
            "{log:?}"
        );
        assert_eq!(results[0], ("base".into(), Ran::Done(false)));
        assert_eq!(results[1], ("other".into(), Ran::Done(true)));
        assert_eq!(
            results[2],
            (
                "app".into(),
                Ran::Skipped {
                    because: "base".into()
                }
            )
        );
        assert_eq!(
            results[3],
            (
                "web".into(),
                Ran::Skipped {
                    because: "app".into()
                }
            )
        );
    }

    #[tokio::test]
    async fn dependencies_outside_the_selection_are_taken_as_deployed() {
        let d = deps(&[("app", &["base"])]);
        let (log, _, _) = run(&["app"], &d, 4, &[]).await;
        assert_eq!(log, ["start app", "end app"]);
    }
}
