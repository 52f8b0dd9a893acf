//! Metric windows: checks judged on CloudWatch metrics over the last
//! `--window` (a function's error rate and throttles, an API's 5xx rate, a
//! dead-letter queue's oldest message).
//!
//! A kind declares what it needs as [`Watch`]es
//! ([`crate::kinds::Kind::metrics`]): the [`MetricQuery`]s and a judge of
//! their values. The runner gathers every watch of the run and [`evaluate`]
//! fetches all their queries at once: identical queries once, at most
//! [`MAX_QUERIES`] per GetMetricData call (AWS's limit), every page of each
//! call, the calls at the same time; then each judge gets its values, in
//! the order it asked for them. One call for a whole run of up to 500
//! queries, not one per resource.
//!
//! No data points in the window is not "could not check": CloudWatch
//! publishes nothing for a function nobody invoked, so the judges pass it
//! ("no invocations in the last 15m"). A query CloudWatch could not answer
//! (`Forbidden`, `InternalError`) or a call that failed is `unknown`.

use super::{stopped, Finding, Stop};
use crate::aws::cloudformation::ErrorKind;
use crate::aws::resources::{MetricQuery, MetricRequest, ReadError, Resources};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Most queries in one GetMetricData call (AWS's limit).
pub const MAX_QUERIES: usize = 500;

/// Most pages read of one call: a server that keeps handing out tokens
/// does not keep health running.
const MAX_PAGES: usize = 100;

/// The window metric checks look back over: `--window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    length: Duration,
}

impl Window {
    /// The default `--window`: 15 minutes.
    pub const DEFAULT: Window = Window {
        length: Duration::from_secs(15 * 60),
    };
    /// The shortest window: one CloudWatch period.
    pub const MIN: Duration = Duration::from_secs(60);
    /// The longest: CloudWatch keeps one-minute data 15 days.
    pub const MAX: Duration = Duration::from_secs(14 * 86_400);

    /// A window of `length`, rounded up to whole minutes (CloudWatch's
    /// periods); an error for less than a minute or more than 14 days.
    pub fn new(length: Duration) -> Result<Self, String> {
        if length < Self::MIN || length > Self::MAX {
            return Err(format!(
                "a window of {} is out of range: 1m to 336h (14 days)",
                text(length)
            ));
        }
        let minutes = length.as_secs().div_ceil(60);
        Ok(Self {
            length: Duration::from_secs(minutes * 60),
        })
    }

    /// Its length.
    pub fn length(&self) -> Duration {
        self.length
    }

    /// Its length in seconds: the one period each query is read in.
    pub fn period_s(&self) -> i32 {
        i32::try_from(self.length.as_secs()).unwrap_or(i32::MAX)
    }

    /// `15m`, `1h`, `2d`, as `--window` takes it.
    pub fn text(&self) -> String {
        text(self.length)
    }
}

impl Default for Window {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `90s`, `15m`, `2h`, `3d`: the largest unit that divides `d`.
fn text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The data points of one query over the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// One value per period with data (usually one: the window is one
    /// period; the emulator answers each point it holds).
    pub values: Vec<f64>,
}

impl Series {
    /// Whether CloudWatch had no data point in the window.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The total (of a `Sum` query); 0 without data.
    pub fn sum(&self) -> f64 {
        self.values.iter().sum()
    }

    /// The highest value (of a `Maximum` query); `None` without data.
    pub fn max(&self) -> Option<f64> {
        self.values.iter().copied().reduce(f64::max)
    }
}

/// How a judge is called: with the values of its queries, in their order.
type Judge<'a> = Box<dyn FnOnce(&[Series], &Window) -> Vec<Finding> + 'a>;

/// Checks a kind decides on metrics: their names, the queries, and the
/// judge of their values (one finding per name, in order).
pub struct Watch<'a> {
    /// The checks it decides, by name.
    pub names: Vec<&'static str>,
    /// What it reads; or why it cannot (`skip`, a read that failed).
    pub queries: Result<Vec<MetricQuery>, Stop>,
    judge: Judge<'a>,
}

impl<'a> Watch<'a> {
    /// The checks `names`, decided by `judge` on the values of `queries`.
    pub fn new(
        names: &[&'static str],
        queries: Vec<MetricQuery>,
        judge: impl FnOnce(&[Series], &Window) -> Vec<Finding> + 'a,
    ) -> Self {
        Self {
            names: names.to_vec(),
            queries: Ok(queries),
            judge: Box::new(judge),
        }
    }

    /// The checks `names`, which `stop` leaves undecided.
    pub fn stop(names: &[&'static str], stop: Stop) -> Self {
        Self {
            names: names.to_vec(),
            queries: Err(stop),
            judge: Box::new(|_, _| Vec::new()),
        }
    }
}

/// Why metric checks skip on an emulator that does not answer
/// GetMetricData as the SDK asks it.
pub const EMULATOR_SKIP: &str = "the emulator did not answer CloudWatch GetMetricData as CloudWatch does (moto speaks only its query protocol)";

/// The findings of every watch, in order: their queries fetched together
/// ([`fetch`]) over the `window` ending at `end`, each judged on its
/// values; what could not be read is `unknown` (see [`stopped`]). On an
/// emulator (`emulated`), an answer that is not CloudWatch's is `skip`
/// ([`EMULATOR_SKIP`]), not `unknown`.
pub async fn evaluate<R: Resources>(
    aws: &R,
    watches: Vec<Watch<'_>>,
    window: &Window,
    end: SystemTime,
    env: &str,
    emulated: bool,
) -> Vec<Vec<Finding>> {
    let queries: Vec<MetricQuery> = watches
        .iter()
        .filter_map(|w| w.queries.as_ref().ok())
        .flatten()
        .cloned()
        .collect();
    let mut values = fetch(aws, &queries, window, end).await.into_iter();
    watches
        .into_iter()
        .map(|w| {
            let queries = match w.queries {
                Ok(q) => q,
                Err(stop) => return stopped(&w.names, &stop, env),
            };
            let mine: Vec<Result<Series, ReadError>> =
                values.by_ref().take(queries.len()).collect();
            match mine.into_iter().collect::<Result<Vec<Series>, ReadError>>() {
                Ok(series) => {
                    let findings = (w.judge)(&series, window);
                    debug_assert_eq!(
                        findings.iter().map(|f| f.name).collect::<Vec<_>>(),
                        w.names,
                        "a kind's metric findings name the checks it announced"
                    );
                    findings
                }
                Err(e) if emulated && e.kind == ErrorKind::BadResponse => {
                    stopped(&w.names, &Stop::Skip(EMULATOR_SKIP.to_string()), env)
                }
                Err(e) => stopped(&w.names, &Stop::Read(e), env),
            }
        })
        .collect()
}

/// The values of `queries` over the `window` ending at `end`, one per
/// query, in order: identical queries are asked once, at most
/// [`MAX_QUERIES`] per call, every page of each call, all calls at once.
/// Nothing is called when there are no queries.
pub async fn fetch<R: Resources>(
    aws: &R,
    queries: &[MetricQuery],
    window: &Window,
    end: SystemTime,
) -> Vec<Result<Series, ReadError>> {
    let mut unique: Vec<&MetricQuery> = Vec::new();
    let mut index: BTreeMap<&MetricQuery, usize> = BTreeMap::new();
    let positions: Vec<usize> = queries
        .iter()
        .map(|q| {
            *index.entry(q).or_insert_with(|| {
                unique.push(q);
                unique.len() - 1
            })
        })
        .collect();
    let start = end.checked_sub(window.length()).unwrap_or(end);
    let calls = unique.chunks(MAX_QUERIES).map(|chunk| {
        let request = MetricRequest {
            queries: chunk
                .iter()
                .enumerate()
                .map(|(i, q)| (format!("m{i}"), (*q).clone()))
                .collect(),
            start,
            end,
            period_s: window.period_s(),
            next_token: None,
        };
        pages(aws, request)
    });
    let answers: Vec<Result<Series, ReadError>> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect();
    positions.into_iter().map(|p| answers[p].clone()).collect()
}

/// Every page of one call: the values of each of its queries, in order.
async fn pages<R: Resources>(
    aws: &R,
    mut request: MetricRequest,
) -> Vec<Result<Series, ReadError>> {
    let n = request.queries.len();
    let mut out: Vec<Option<Result<Series, ReadError>>> = vec![None; n];
    let name = |q: &MetricQuery| {
        let dims: Vec<String> = q
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}/{} ({})", q.namespace, q.metric, dims.join(", "))
    };
    for _ in 0..MAX_PAGES {
        let page = match aws.metric_data(&request).await {
            Ok(page) => page,
            Err(e) => return vec![Err(e); n],
        };
        for r in page.results {
            // Ids are `m<index>`; anything else is not an answer to us.
            let Some(i) =
                r.id.strip_prefix('m')
                    .and_then(|i| i.parse::<usize>().ok())
                    .filter(|i| *i < n)
            else {
                continue;
            };
            let why = r
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            let failed = match r.status.as_str() {
                "Forbidden" => Some(ErrorKind::Denied),
                "InternalError" => Some(ErrorKind::Other),
                _ => None,
            };
            let slot = out[i].get_or_insert_with(|| Ok(Series::default()));
            match failed {
                Some(kind) => {
                    *slot = Err(ReadError::new(
                        kind,
                        format!(
                            "reading metric {}: CloudWatch answered {}{why}",
                            name(&request.queries[i].1),
                            r.status
                        ),
                    ))
                }
                None => {
                    if let Ok(series) = slot {
                        series.values.extend(r.values);
                    }
                }
            }
        }
        match page.next_token {
            Some(t) if request.next_token.as_deref() != Some(t.as_str()) => {
                request.next_token = Some(t)
            }
            _ => break,
        }
    }
    out.into_iter()
        .zip(&request.queries)
        .map(|(r, (_, q))| {
            r.unwrap_or_else(|| {
                Err(ReadError::new(
                    ErrorKind::BadResponse,
                    format!(
                        "reading metric {}: GetMetricData's answer holds no result for it",
                        name(q)
                    ),
                ))
            })
        })
        .collect()
}

/// When a rate warns and fails, in percent: above `warn`, above `fail`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Warn above this many percent.
    pub warn: f64,
    /// Fail above this many percent.
    pub fail: f64,
}

/// A function's error rate and an API's 5xx rate: warn above 1 %, fail
/// above 5 %.
pub const ERROR_RATE: RateLimits = RateLimits {
    warn: 1.0,
    fail: 5.0,
};

impl RateLimits {
    /// Why these limits make no sense, if they do not (each 0–100, `warn`
    /// at most `fail`).
    pub fn problem(&self) -> Option<String> {
        let range = 0.0..=100.0;
        if !range.contains(&self.warn) || !range.contains(&self.fail) {
            Some(format!(
                "error rate limits are percent, 0 to 100: warn {}, fail {}",
                self.warn, self.fail
            ))
        } else if self.warn > self.fail {
            Some(format!(
                "the warning limit ({} %) is above the failure limit ({} %)",
                self.warn, self.fail
            ))
        } else {
            None
        }
    }
}

/// `health:` of a function or an API in the stack file: its own limits
/// for the error-rate check.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateHealth {
    /// Percent above which the error rate warns and fails (default
    /// `{warn: 1, fail: 5}`).
    #[serde(default)]
    pub error_rate: Option<RateLimits>,
}

impl RateHealth {
    /// The limits of `health` (or the defaults).
    pub fn limits(health: &Option<RateHealth>) -> RateLimits {
        health
            .as_ref()
            .and_then(|h| h.error_rate)
            .unwrap_or(ERROR_RATE)
    }

    /// Checks `health:` at `path` (a located error for limits that make no
    /// sense).
    pub fn check(
        health: &Option<RateHealth>,
        cx: &mut crate::render::context::Builder,
        path: &str,
    ) {
        if let Some(problem) = health
            .as_ref()
            .and_then(|h| h.error_rate)
            .and_then(|l| l.problem())
        {
            cx.error_hint(
                &crate::model::source::join(
                    &crate::model::source::join(path, "health"),
                    "error_rate",
                ),
                problem,
                "e.g. `health: {error_rate: {warn: 1, fail: 5}}` (percent)",
            );
        }
    }
}

/// What a rate counts, for its texts: the metrics' names and what the total
/// counts (`invocations`, `requests`).
#[derive(Debug, Clone, Copy)]
pub struct RateOf {
    /// The errors' metric (`Errors`, `5xx`).
    pub errors: &'static str,
    /// The total's metric (`Invocations`, `Count`).
    pub total: &'static str,
    /// What the total counts, plural.
    pub noun: &'static str,
}

/// Check `name`: `errors` out of `total` over the window, judged against
/// `limits`. No data at all passes ("no invocations in the last 15m"):
/// CloudWatch publishes nothing for what nobody called. Errors without a
/// total (a metric that lags the other) count as a total of the errors.
pub fn rate(
    name: &'static str,
    errors: &Series,
    total: &Series,
    of: RateOf,
    limits: RateLimits,
    window: &Window,
) -> Finding {
    let w = window.text();
    let expected = format!(
        "{} / {} at most {} % (fails above {} %)",
        of.errors, of.total, limits.warn, limits.fail
    );
    let (e, n) = (errors.sum(), total.sum());
    if (errors.is_empty() && total.is_empty()) || (e == 0.0 && n == 0.0) {
        return Finding::pass(name, format!("no {} in the last {w}", of.noun))
            .observed(format!("no data points for {} in the last {w}", of.total))
            .expected(expected);
    }
    let n = n.max(e);
    let pct = 100.0 * e / n;
    let observed = format!(
        "{} {} / {} {} ({pct:.2} %) in the last {w}",
        of.errors,
        count(e),
        of.total,
        count(n)
    );
    let reason = format!(
        "{pct:.1} % of {} {} failed in the last {w}",
        count(n),
        of.noun
    );
    let f = if pct > limits.fail {
        Finding::fail(name, reason)
    } else if pct > limits.warn {
        Finding::warn(name, reason)
    } else {
        Finding::pass(name, reason)
    };
    f.observed(observed).expected(expected)
}

/// A count as CloudWatch sums it (a float), without a needless `.0`.
pub fn count(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

/// Seconds as the largest two units: `45s`, `12m 5s`, `3h 12m`, `2d 4h`.
pub fn age(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let (d, h, m, s) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m {s}s"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}
