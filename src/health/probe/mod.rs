//! Declared probes (`probes:` of a stack file, see [`crate::model::probe`])
//! as health checks: `STACK/probe/NAME/CHECK`, run by the same bounded,
//! deadline-limited runner as every other check.
//!
//! An HTTP probe decides `status` (every sample answered with an allowed
//! status), `body` (each body contains the text), `json` (every JSONPath
//! assertion holds on each body) and `latency` (the median answer time
//! over the samples is within the budget, else warn); only the checks it
//! declares (`status` always). A WebSocket probe decides `handshake` and,
//! when it sends or expects a message, `reply`.
//!
//! The URL is evaluated against the deployed stack ([`expr`]); one that
//! names a resource the emulator only pretends to create (an ApiGatewayV2
//! API on moto) is `skip`, with that reason. Header values from secrets
//! are read with GetSecretValue when the probe runs and never appear in a
//! finding: every finding is scrubbed of them before it leaves here.

pub mod expr;
pub mod http;
pub mod websocket;

use super::{read_failed, Deployed, Finding, Pending};
use crate::aws::resources::Resources;
use crate::model::probe::{Checked, HttpProbe, HttpSettings, Probe, Resolved, ResolvedHeader};
use crate::model::probe::{JsonAssertion, WebsocketProbe};
use expr::{Scope, Unresolved};
use serde_json::Value as Json;
use std::time::Duration;

/// An HTTP probe's checks, in report order.
pub const HTTP_CHECKS: &[&str] = &["status", "body", "json", "latency"];

/// A WebSocket probe's checks.
pub const WEBSOCKET_CHECKS: &[&str] = &["handshake", "reply"];

/// The kind name in a probe check's id (`STACK/probe/NAME/CHECK`) and for
/// `--only`.
pub const KIND: &str = "probe";

/// Where a probe runs.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The environment.
    pub env: &'a str,
    /// The stack, by its name in the project.
    pub stack: &'a str,
    /// The environment's region.
    pub region: &'a str,
    /// Whether the environment runs on an emulator.
    pub emulated: bool,
    /// The deployed stack.
    pub deployed: &'a Deployed,
    /// The rendered template, parsed.
    pub template: &'a Json,
    /// The health run's deadline.
    pub deadline: tokio::time::Instant,
}

/// The checks `probe` decides.
pub fn names(probe: &Resolved) -> Vec<&'static str> {
    match (&probe.probe, &probe.checked) {
        (Probe::Http(h), Checked::Http(s)) => HTTP_CHECKS
            .iter()
            .copied()
            .filter(|n| match *n {
                "body" => h.expect.body_contains.is_some(),
                "json" => !s.json.is_empty(),
                "latency" => s.latency_budget.is_some(),
                _ => true,
            })
            .collect(),
        (Probe::Websocket(w), _) => WEBSOCKET_CHECKS
            .iter()
            .copied()
            .filter(|n| *n == "handshake" || w.send.is_some() || w.expect_contains.is_some())
            .collect(),
        (Probe::Http(_), Checked::Websocket(_)) => vec!["status"],
    }
}

/// The probe's checks, as work for the runner.
pub fn pending<'a, R: Resources>(probe: &'a Resolved, cx: Context<'a>, aws: &'a R) -> Pending<'a> {
    let names = names(probe);
    Pending::new(&names.clone(), async move {
        Ok(run(probe, cx, aws, &names).await)
    })
}

/// Every check of `names` with the same finding.
fn all(names: &[&'static str], f: impl Fn(&'static str) -> Finding) -> Vec<Finding> {
    names.iter().map(|n| f(n)).collect()
}

async fn run<R: Resources>(
    probe: &Resolved,
    cx: Context<'_>,
    aws: &R,
    names: &[&'static str],
) -> Vec<Finding> {
    let scope = Scope {
        region: cx.region,
        deployed: cx.deployed,
        template: cx.template,
    };
    let written = probe.probe.url();
    let url = match expr::evaluate(&probe.url, &scope) {
        Ok(u) => u,
        Err(e) => return all(names, |n| unresolved(n, &e, written, &cx)),
    };
    if cx.emulated {
        if let Some(addr) = silent_loopback(&url) {
            return all(names, |n| {
                Finding::skip(
                    n,
                    format!("nothing answers at {addr}, where `stackctl serve --env {}` serves this API", cx.env),
                )
            });
        }
    }
    let mut headers = Vec::new();
    let mut secrets: Vec<String> = Vec::new();
    for (name, value) in &probe.headers {
        match value {
            ResolvedHeader::Text(t) => headers.push((name.clone(), t.clone())),
            ResolvedHeader::Secret {
                key,
                id,
                field,
                prefix,
            } => {
                let id = match expr::evaluate(id, &scope) {
                    Ok(id) => id,
                    Err(e) => {
                        return all(names, |n| {
                            unresolved(n, &e, &format!("${{{key}.arn}}"), &cx)
                        })
                    }
                };
                let value = match aws.secret_value(&id).await {
                    Ok(v) => v,
                    Err(e) => {
                        return all(names, |n| {
                            let f = read_failed(n, &e, cx.env);
                            let reason = format!("header {name} from secret `{key}`: {}", f.reason);
                            let f = Finding { reason, ..f };
                            if e.kind == crate::aws::cloudformation::ErrorKind::NotFound {
                                f.hint(format!("the secret has no value yet (or is gone): set it with `aws secretsmanager put-secret-value --secret-id {id} --secret-string ...`"))
                            } else {
                                f
                            }
                        })
                    }
                };
                secrets.push(value.clone());
                let value = match field {
                    None => value,
                    Some(f) => {
                        let found = serde_json::from_str::<Json>(&value).ok().and_then(|j| {
                            j.get(f).map(|v| match v {
                                Json::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                        });
                        match found {
                            Some(v) => v,
                            None => {
                                return all(names, |n| {
                                    Finding::unknown(
                                        n,
                                        format!("header {name}: secret `{key}` is not a JSON object with a field `{f}`"),
                                    )
                                    .hint(format!("set the secret to JSON holding `{f}`, or drop `field:` to send its whole value"))
                                })
                            }
                        }
                    }
                };
                secrets.push(value.clone());
                let full = format!("{}{value}", prefix.as_deref().unwrap_or_default());
                headers.push((name.clone(), full));
            }
        }
    }
    let findings = match (&probe.probe, &probe.checked) {
        (Probe::Http(h), Checked::Http(s)) => {
            let req = http::Request {
                method: s.method.clone(),
                url: url.clone(),
                headers,
                body: h.body.clone(),
                timeout: s.timeout,
                retries: h.retries,
                samples: h.samples,
                deadline: cx.deadline.into_std(),
            };
            match tokio::task::spawn_blocking(move || http::send(&req)).await {
                Ok(samples) => judge_http(&probe.name, h, s, &url, &samples, names),
                Err(e) => all(names, |n| {
                    Finding::unknown(n, format!("the probe stopped: {e}"))
                }),
            }
        }
        (Probe::Websocket(w), Checked::Websocket(timeout)) => {
            let c = websocket::Conversation {
                url: url.clone(),
                headers,
                send: w.send.clone(),
                expect: w.expect_contains.clone(),
                timeout: *timeout,
                deadline: cx.deadline.into_std(),
            };
            match tokio::task::spawn_blocking(move || websocket::talk(&c)).await {
                Ok(outcome) => judge_websocket(&probe.name, w, &url, &outcome, names),
                Err(e) => all(names, |n| {
                    Finding::unknown(n, format!("the probe stopped: {e}"))
                }),
            }
        }
        _ => all(names, |n| {
            Finding::unknown(n, "the probe's settings do not match its kind")
        }),
    };
    findings.into_iter().map(|f| scrub(f, &secrets)).collect()
}

/// `f` with every secret value replaced by `***`.
pub fn scrub(f: Finding, secrets: &[String]) -> Finding {
    let clean = |s: String| {
        secrets
            .iter()
            .filter(|v| !v.is_empty())
            .fold(s, |s, v| s.replace(v.as_str(), "***"))
    };
    Finding {
        observed: f.observed.map(clean),
        expected: f.expected.map(clean),
        reason: clean(f.reason),
        hint: f.hint.map(clean),
        ..f
    }
}

/// The finding of check `name` whose URL (written as `written`) has no
/// value here.
fn unresolved(name: &'static str, e: &Unresolved, written: &str, cx: &Context) -> Finding {
    match e {
        Unresolved::NoResource { kind, .. } if cx.emulated => Finding::skip(
            name,
            format!(
                "the emulator creates no {kind} (a placeholder), so `{written}` has no address here; a probe with an absolute `url:` runs"
            ),
        ),
        Unresolved::NoResource { logical, .. } => Finding::skip(
            name,
            format!(
                "`{written}` names {logical}, which is not in the deployed stack (see {}/stack/resources)",
                cx.stack
            ),
        ),
        Unresolved::Unsupported(what) => Finding::unknown(
            name,
            format!("`{written}` needs {what}, which health cannot read from the deployed stack"),
        )
        .hint("write the URL with `${KEY.url}`-style references to this stack's resources, or as an absolute URL"),
    }
}

/// The `host:port` of a loopback `url` nothing listens on (an API bound to
/// `stackctl serve` while serve is not running); None otherwise.
fn silent_loopback(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let (host, port) = authority.rsplit_once(':')?;
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .is_err()
        .then(|| authority.to_string())
}

/// At most 160 characters of `text`, on one line.
fn excerpt(text: &str) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// The findings of an HTTP probe's `samples`, for `names`.
pub fn judge_http(
    probe: &str,
    h: &HttpProbe,
    s: &HttpSettings,
    url: &str,
    samples: &[http::Sample],
    names: &[&'static str],
) -> Vec<Finding> {
    let target = format!("{} {url}", s.method);
    let expected: Vec<String> = s.status.iter().map(ToString::to_string).collect();
    let expected = expected.join(", ");
    let answers: Vec<(u16, &str, Duration)> = samples
        .iter()
        .filter_map(|x| match &x.outcome {
            http::Outcome::Answer {
                status,
                body,
                elapsed,
            } => Some((*status, body.as_str(), *elapsed)),
            http::Outcome::NoAnswer { .. } => None,
        })
        .collect();
    let retried = |r: u32| match r {
        0 => String::new(),
        1 => " (after 1 retry)".to_string(),
        n => format!(" (after {n} retries)"),
    };
    let of = |n: usize| {
        if samples.len() > 1 {
            format!(" in {n} of {} samples", samples.len())
        } else {
            String::new()
        }
    };
    let see = "no answer to judge (see the `status` check)";
    names
        .iter()
        .map(|name| match *name {
            "status" => {
                let silent: Vec<&http::Sample> = samples
                    .iter()
                    .filter(|x| matches!(x.outcome, http::Outcome::NoAnswer { .. }))
                    .collect();
                let wrong: Vec<(u16, u32)> = samples
                    .iter()
                    .filter_map(|x| match &x.outcome {
                        http::Outcome::Answer { status, .. }
                            if !s.status.iter().any(|a| a.allows(*status)) =>
                        {
                            Some((*status, x.retries))
                        }
                        _ => None,
                    })
                    .collect();
                if let Some(first) = silent.first() {
                    let http::Outcome::NoAnswer { error, timed_out } = &first.outcome else {
                        unreachable!("filtered on NoAnswer");
                    };
                    let (reason, hint) = if *timed_out {
                        (
                            format!("{target}: no answer within {}{}{}", crate::health::report::seconds(s.timeout), retried(first.retries), of(silent.len())),
                            format!("look at what serves it (its function's duration, cold starts, throttling), or raise `timeout:` of probe `{probe}`"),
                        )
                    } else {
                        (
                            format!("{target}: {error}{}{}", retried(first.retries), of(silent.len())),
                            "check that the endpoint is deployed and reachable from here (DNS, network, TLS)".to_string(),
                        )
                    };
                    Finding::fail(name, reason)
                        .observed(if *timed_out { "timeout" } else { "no answer" })
                        .expected(expected.clone())
                        .hint(hint)
                } else if let Some((code, retries)) = wrong.first() {
                    let codes: Vec<String> = wrong.iter().map(|(c, _)| c.to_string()).collect();
                    let hint = if *code >= 500 {
                        "the endpoint fails: read the logs of what serves it (its function's log group), then its recent deploys"
                    } else {
                        "check the probe's URL, method and headers against the API's routes and authorizer; if the answer is right, change `expect.status`"
                    };
                    Finding::fail(
                        name,
                        format!("{target} answered {code}{}{}", retried(*retries), of(wrong.len())),
                    )
                    .observed(codes.join(", "))
                    .expected(expected.clone())
                    .hint(hint)
                } else {
                    let mut codes: Vec<String> = answers.iter().map(|a| a.0.to_string()).collect();
                    codes.dedup();
                    let retries: u32 = samples.iter().map(|x| x.retries).sum();
                    Finding::pass(
                        name,
                        format!("{target} answered {}{}", codes.join(", "), retried(retries)),
                    )
                    .observed(codes.join(", "))
                    .expected(expected.clone())
                }
            }
            "body" => {
                let want = h.expect.body_contains.clone().unwrap_or_default();
                let expected = format!("contains {want:?}");
                if answers.is_empty() {
                    return Finding::skip(name, see);
                }
                match answers.iter().find(|a| !a.1.contains(want.as_str())) {
                    Some((_, body, _)) => Finding::fail(name, format!("the body of {target} does not contain {want:?}"))
                        .observed(excerpt(body))
                        .expected(expected)
                        .hint("see what the endpoint answers now (`curl -i URL`); if that is right, change `expect.body_contains`"),
                    None => Finding::pass(name, format!("the body contains {want:?}")).expected(expected),
                }
            }
            "json" => {
                if answers.is_empty() {
                    return Finding::skip(name, see);
                }
                let mut held = 0;
                for (_, body, _) in &answers {
                    let doc: Json = match serde_json::from_str(body) {
                        Ok(d) => d,
                        Err(e) => {
                            return Finding::fail(name, format!("the body of {target} is not JSON: {e}"))
                                .observed(excerpt(body))
                                .expected("a JSON body")
                                .hint("see what the endpoint answers now (`curl -i URL`)");
                        }
                    };
                    for (path, a) in &s.json {
                        if let Err((observed, expected)) = assertion(path, a, &doc) {
                            return Finding::fail(name, format!("{} does not hold on the body of {target}", describe(a)))
                                .observed(observed)
                                .expected(expected)
                                .hint("see what the endpoint answers now (`curl -i URL`); if that is right, change `expect.json`");
                        }
                        held += 1;
                    }
                }
                let n = held / answers.len();
                Finding::pass(
                    name,
                    format!("{} JSON assertion{} hold", n, if n == 1 { "" } else { "s" }),
                )
            }
            "latency" => {
                let Some(budget) = s.latency_budget else {
                    return Finding::skip(name, "no latency budget");
                };
                if answers.is_empty() {
                    return Finding::skip(name, see);
                }
                let mut times: Vec<Duration> = answers.iter().map(|a| a.2).collect();
                times.sort();
                let median = if times.len() % 2 == 1 {
                    times[times.len() / 2]
                } else {
                    (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2
                };
                let observed = if times.len() > 1 {
                    format!("median {} over {} answers", millis(median), times.len())
                } else {
                    millis(median)
                };
                let expected = format!("at most {}", millis(budget));
                if median > budget {
                    Finding::warn(name, format!("{target} took {observed}, over its budget of {}", millis(budget)))
                        .observed(observed)
                        .expected(expected)
                        .hint("look at what serves it (cold starts, its function's memory, downstream calls); if this is normal now, raise `latency_budget:`")
                } else {
                    Finding::pass(name, format!("{target} took {observed}"))
                        .observed(observed)
                        .expected(expected)
                }
            }
            other => Finding::unknown(other, "not a check of an HTTP probe"),
        })
        .collect()
}

/// One assertion in words.
fn describe(a: &JsonAssertion) -> String {
    if let Some(v) = &a.equals {
        format!("{} equals {v}", a.path)
    } else if let Some(e) = a.exists {
        format!("{} {}", a.path, if e { "exists" } else { "does not exist" })
    } else if let Some(m) = &a.matches {
        format!("{} matches {m:?}", a.path)
    } else {
        a.path.clone()
    }
}

/// Whether assertion `a` (its path parsed as `path`) holds on `doc`; else
/// what was found and what was expected.
fn assertion(
    path: &serde_json_path::JsonPath,
    a: &JsonAssertion,
    doc: &Json,
) -> Result<(), (String, String)> {
    let found: Vec<&Json> = path.query(doc).all();
    let shown = || match found.as_slice() {
        [] => "nothing".to_string(),
        [one] => excerpt(&one.to_string()),
        many => excerpt(&Json::Array(many.iter().map(|v| (*v).clone()).collect()).to_string()),
    };
    if let Some(want) = &a.equals {
        if found.is_empty() || found.iter().any(|v| *v != want) {
            return Err((shown(), format!("{} = {want}", a.path)));
        }
    } else if let Some(exists) = a.exists {
        if found.is_empty() == exists {
            return Err((
                shown(),
                format!(
                    "{} {}",
                    a.path,
                    if exists { "exists" } else { "does not exist" }
                ),
            ));
        }
    } else if let Some(pattern) = &a.matches {
        let re = regex_lite::Regex::new(pattern).map_err(|e| (e.to_string(), pattern.clone()))?;
        let text = |v: &Json| match v {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        if found.is_empty() || found.iter().any(|v| !re.is_match(&text(v))) {
            return Err((shown(), format!("{} matches {pattern:?}", a.path)));
        }
    }
    Ok(())
}

/// The findings of a WebSocket probe's conversation, for `names`.
pub fn judge_websocket(
    probe: &str,
    w: &WebsocketProbe,
    url: &str,
    outcome: &websocket::Outcome,
    names: &[&'static str],
) -> Vec<Finding> {
    names
        .iter()
        .map(|name| match (*name, &outcome.handshake) {
            ("handshake", Ok(took)) => {
                Finding::pass(name, format!("the WebSocket handshake with {url} completed"))
                    .observed(millis(*took))
            }
            ("handshake", Err((e, timed_out))) => {
                let hint = if *timed_out {
                    format!("look at what serves it (its `$connect` route's function), or raise `timeout:` of probe `{probe}`")
                } else {
                    "check the URL and the `$connect` route (its function and authorizer), and that it is reachable from here".to_string()
                };
                Finding::fail(name, format!("{url}: {e}"))
                    .observed(if *timed_out { "timeout" } else { "no connection" })
                    .expected("a completed handshake (101)")
                    .hint(hint)
            }
            ("reply", Err(_)) => Finding::skip(name, "no connection (see the `handshake` check)"),
            ("reply", Ok(_)) => {
                let expected = match &w.expect_contains {
                    Some(want) => format!("a message containing {want:?}"),
                    None => "a message".to_string(),
                };
                match &outcome.reply {
                    Some(Ok(msg)) => Finding::pass(name, format!("{url} answered"))
                        .observed(excerpt(msg))
                        .expected(expected),
                    Some(Err((e, last))) => {
                        let f = Finding::fail(name, format!("{url}: {e}"))
                            .expected(expected)
                            .hint("check the route the message goes to (`$default` or its action) and its function's logs; if the answer is right, change `expect_contains`");
                        match last {
                            Some(m) => f.observed(excerpt(m)),
                            None => f.observed("no message"),
                        }
                    }
                    None => Finding::unknown(name, "no round trip was made"),
                }
            }
            (other, _) => Finding::unknown(other, "not a check of a WebSocket probe"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
