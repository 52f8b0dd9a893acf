//! Runs the checks: first every selected stack is read (its status,
//! resources and template), then each declared resource's kind hands over
//! its checks, and all of it runs at most [`Settings::concurrency`] at a
//! time under one deadline ([`Settings::timeout`]). Beside them, the
//! metric checks of every resource are fetched together
//! ([`super::metrics::evaluate`]: one GetMetricData call per 500 queries)
//! over [`Settings::window`]. What has not finished by then is `unknown`.
//! The report is ordered by check id, whatever finished first.

use super::probe;
use super::report::Report;
use super::stack::{self, Code, StackRead};
use super::{read_failed, stopped, Check, Deployed, Finding, Pending, Subject, Target};
use crate::aws::cloudformation::CloudFormation;
use crate::aws::resources::{ReadError, Resources};
use crate::deploy::desired::Upstream;
use crate::kinds::Resource;
use crate::render::Rendered;
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The whole run's time; what has not finished by then is `unknown`.
    pub timeout: Duration,
    /// Most reads at the same time.
    pub concurrency: usize,
    /// Only checks of these kinds (`stack`, a resource kind, or `probe`);
    /// all when empty.
    pub only: BTreeSet<String>,
    /// Leave the declared probes out (`--skip-probes`): they are not run
    /// and not reported.
    pub skip_probes: bool,
    /// How far back metric checks look (`--window`).
    pub window: super::metrics::Window,
    /// The run is one of `--wait`'s: a rolled-back deploy fails rather
    /// than warns (see [`super::wait`]).
    pub waiting: bool,
}

/// One selected stack: rendered, its declared resources (typed), and the
/// code this checkout would deploy to it.
pub struct StackScope<'a> {
    /// The rendered stack.
    pub rendered: &'a Rendered,
    /// Its declared resources, by key.
    pub resources: &'a BTreeMap<String, Resource>,
    /// Its functions' code, as this checkout has it.
    pub code: Code,
    /// The existing servers this environment binds its resources to, by
    /// resource key (with defaults applied).
    pub bindings: BTreeMap<String, crate::model::project::Bound>,
    /// Its migrations, per database.
    pub migrations: Vec<crate::migrations::Set>,
}

/// What a run works on.
pub struct Input<'a> {
    /// The environment.
    pub env: &'a str,
    /// Its region (ARNs and probe URLs name it).
    pub region: &'a str,
    /// Whether it runs on an emulator.
    pub emulated: bool,
    /// Every stack of the environment, rendered (for the outputs that feed
    /// parameters).
    pub rendered: &'a [Rendered],
    /// The selected stacks.
    pub stacks: Vec<StackScope<'a>>,
}

/// Runs every check of `input` against `cfn` and `aws`.
pub async fn run<C: CloudFormation, R: Resources>(
    cfn: &C,
    aws: &R,
    input: &Input<'_>,
    settings: &Settings,
) -> Report {
    let started = Instant::now();
    let deadline = started + settings.timeout;
    let limit = settings.concurrency.max(1);
    let wanted = |kind: &str| settings.only.is_empty() || settings.only.contains(kind);
    let env = input.env;
    let late = |name: &'static str| {
        Finding::unknown(
            name,
            format!(
                "not finished within the timeout ({})",
                super::report::seconds(settings.timeout)
            ),
        )
        .hint("run health again, or with a longer --timeout")
    };

    // The stacks first: the resource checks need their physical ids.
    let upstream = Upstream::new(cfn, input.rendered);
    let reads: Vec<LocalBoxFuture<'_, Result<StackRead, ReadError>>> = input
        .stacks
        .iter()
        .map(|s| {
            Box::pin(stack::read(cfn, &upstream, s.rendered, &s.code, env)) as LocalBoxFuture<'_, _>
        })
        .collect();
    let reads = bounded(reads, limit, deadline).await;

    let mut checks: Vec<Check> = Vec::new();
    let mut deployed: Vec<Result<Deployed, Finding>> = Vec::new();
    for (s, read) in input.stacks.iter().zip(&reads) {
        let r = s.rendered;
        let subject = Subject::stack(&r.stack);
        let (findings, ms) = match read {
            Some((Ok(read), ms)) => (
                stack::findings(r, read, &s.code, env, input.emulated, settings.waiting),
                *ms,
            ),
            Some((Err(e), ms)) => (
                stack::CHECKS
                    .iter()
                    .map(|n| read_failed(n, e, env))
                    .collect(),
                *ms,
            ),
            None => (
                stack::CHECKS.iter().map(|n| late(n)).collect(),
                millis(started.elapsed()),
            ),
        };
        if wanted("stack") {
            checks.extend(findings.into_iter().map(|f| subject.check(f, ms)));
        }
        // Why a stack's resources cannot be checked, if they cannot.
        let see = format!("see {}/stack/status", r.stack);
        deployed.push(match read {
            Some((Ok(read), _)) => match read.deployed() {
                Some(Ok(d)) => Ok(d),
                Some(Err(e)) => Err(Finding::unknown(
                    "",
                    format!("the stack's resources could not be read ({e})"),
                )),
                None => Err(Finding::skip(
                    "",
                    format!("the stack is not deployed ({see})"),
                )),
            },
            Some((Err(e), _)) => Err(Finding::unknown(
                "",
                format!("the stack could not be read ({e})"),
            )),
            None => Err(late("")),
        });
    }

    // Then every declared resource's checks, from its kind.
    let empty = Deployed::default();
    let templates: Vec<serde_json::Value> = input
        .stacks
        .iter()
        .map(|s| crate::diff::parse_template(&s.rendered.template).unwrap_or_default())
        .collect();
    let mut subjects: Vec<Subject> = Vec::new();
    let mut work: Vec<Pending<'_>> = Vec::new();
    let mut owner: Vec<usize> = Vec::new();
    // Metric checks: fetched together, beside the other reads.
    let mut watches: Vec<super::metrics::Watch<'_>> = Vec::new();
    let mut watched: Vec<usize> = Vec::new();
    for ((s, d), template) in input.stacks.iter().zip(&deployed).zip(&templates) {
        let r = s.rendered;
        for inv in &r.inventory {
            let Some(resource) = s.resources.get(&inv.key) else {
                continue;
            };
            if resource.health_checks().is_empty() || !wanted(resource.kind()) {
                continue;
            }
            let target = Target {
                env,
                region: input.region,
                stack: &r.stack,
                key: &inv.key,
                inventory: inv,
                deployed: d.as_ref().unwrap_or(&empty),
                template,
                emulated: input.emulated,
                binding: s.bindings.get(&inv.key),
                migrations: s.migrations.iter().find(|m| m.database == inv.key),
            };
            let subject = Subject::resource(&r.stack, resource.kind(), &inv.key);
            let pending = resource.health(target, aws);
            let metric = resource.metrics(target);
            match d {
                Ok(_) => {
                    subjects.push(subject);
                    for p in pending {
                        owner.push(subjects.len() - 1);
                        work.push(p);
                    }
                    for w in metric {
                        watched.push(subjects.len() - 1);
                        watches.push(w);
                    }
                }
                // Not run: the stack's state says why.
                Err(why) => {
                    let names = pending.into_iter().map(|p| p.names);
                    for names in names.chain(metric.into_iter().map(|w| w.names)) {
                        for name in names {
                            let f = Finding {
                                name,
                                ..why.clone()
                            };
                            checks.push(subject.check(f, 0));
                        }
                    }
                }
            }
        }
    }
    // Then the stacks' declared probes: checks like the others.
    if !settings.skip_probes && wanted(probe::KIND) {
        for ((s, d), template) in input.stacks.iter().zip(&deployed).zip(&templates) {
            let r = s.rendered;
            for p in &r.probes {
                let subject = Subject::resource(&r.stack, probe::KIND, &p.name);
                let cx = probe::Context {
                    env,
                    stack: &r.stack,
                    region: input.region,
                    emulated: input.emulated,
                    deployed: d.as_ref().unwrap_or(&empty),
                    template,
                    deadline,
                };
                let pending = probe::pending(p, cx, aws);
                match d {
                    Ok(_) => {
                        subjects.push(subject);
                        owner.push(subjects.len() - 1);
                        work.push(pending);
                    }
                    Err(why) => {
                        for name in pending.names {
                            let f = Finding {
                                name,
                                ..why.clone()
                            };
                            checks.push(subject.check(f, 0));
                        }
                    }
                }
            }
        }
    }
    let names: Vec<Vec<&'static str>> = work.iter().map(|p| p.names.clone()).collect();
    let runs: Vec<_> = work.into_iter().map(|p| p.run).collect();
    let metric_names: Vec<Vec<&'static str>> = watches.iter().map(|w| w.names.clone()).collect();
    let metrics = async {
        let start = Instant::now();
        let end = std::time::SystemTime::now();
        let found =
            super::metrics::evaluate(aws, watches, &settings.window, end, env, input.emulated);
        let found = tokio::time::timeout_at(deadline, found).await.ok();
        (found, millis(start.elapsed()))
    };
    let (results, (metric_findings, metric_ms)) =
        futures_util::future::join(bounded(runs, limit, deadline), metrics).await;
    match metric_findings {
        Some(found) => {
            for (findings, who) in found.into_iter().zip(&watched) {
                let subject = &subjects[*who];
                checks.extend(findings.into_iter().map(|f| subject.check(f, metric_ms)));
            }
        }
        None => {
            for (names, who) in metric_names.iter().zip(&watched) {
                let subject = &subjects[*who];
                checks.extend(names.iter().map(|n| subject.check(late(n), metric_ms)));
            }
        }
    }
    for ((result, names), who) in results.into_iter().zip(names).zip(owner) {
        let subject = &subjects[who];
        match result {
            Some((Ok(findings), ms)) => {
                debug_assert_eq!(
                    findings.iter().map(|f| f.name).collect::<Vec<_>>(),
                    names,
                    "a kind's findings name the checks it announced"
                );
                checks.extend(findings.into_iter().map(|f| subject.check(f, ms)));
            }
            Some((Err(stop), ms)) => checks.extend(
                stopped(&names, &stop, env)
                    .into_iter()
                    .map(|f| subject.check(f, ms)),
            ),
            None => {
                let ms = millis(started.elapsed());
                checks.extend(names.iter().map(|n| subject.check(late(n), ms)));
            }
        }
    }
    Report::new(env, checks, started.elapsed())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs `work`, at most `limit` at a time, until `deadline`: each result
/// with its duration in milliseconds, in `work`'s order; `None` for what
/// had not finished by then.
pub async fn bounded<'a, T: 'a>(
    work: Vec<LocalBoxFuture<'a, T>>,
    limit: usize,
    deadline: Instant,
) -> Vec<Option<(T, u64)>> {
    let mut out: Vec<Option<(T, u64)>> = work.iter().map(|_| None).collect();
    let mut running =
        futures_util::stream::iter(work.into_iter().enumerate().map(|(i, f)| async move {
            let start = Instant::now();
            let value = f.await;
            (i, value, millis(start.elapsed()))
        }))
        .buffer_unordered(limit.max(1));
    while let Ok(Some((i, value, ms))) = tokio::time::timeout_at(deadline, running.next()).await {
        out[i] = Some((value, ms));
    }
    out
}
