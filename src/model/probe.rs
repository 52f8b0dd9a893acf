//! `probes:` of a stack file: HTTP and WebSocket requests `stackctl health`
//! sends to the deployed system, with what their answers must be.
//!
//! ```yaml
//! probes:
//!   status:
//!     http:
//!       url: ${api.url}/status/none      # references as anywhere else
//!       headers:
//!         Authorization: {secret: probe_key}   # a `secret` of the stack
//!       expect:
//!         status: [404]                  # or "2xx", or 200
//!         body_contains: not found
//!         json:
//!           - {path: $.error, matches: "not found"}
//!       latency_budget: 500ms            # median over `samples` above: warn
//!       timeout: 5s                      # no answer by then: fail
//!       samples: 3
//!       retries: 2                       # on transport errors and 5xx only
//!   notifications:
//!     websocket:
//!       url: ${websocket.url}
//!       send: '{"action": "ping"}'
//!       expect_contains: pong
//! ```
//!
//! This module types a probe and checks what needs nothing else (methods,
//! durations, status codes, JSON paths, patterns), each problem located.
//! References (`${api.url}`, `{secret: KEY}`) are checked where every
//! reference is, when the stack renders ([`crate::render::context`]); the
//! result travels in [`crate::render::Rendered::probes`]. Probes never
//! render into CloudFormation. Running them is [`crate::health::probe`].

use super::source::{index, join, Source};
use crate::diagnostics::Diagnostics;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

/// Methods a probe sends without `mutates: true`: they read.
pub const SAFE_METHODS: &[&str] = &["GET", "HEAD", "OPTIONS"];

/// Every method a probe may send.
pub const METHODS: &[&str] = &["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];

/// A probe's timeout when it sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest timeout a probe may set.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// Most samples of one probe.
pub const MAX_SAMPLES: u32 = 20;

/// Most retries of one request.
pub const MAX_RETRIES: u32 = 5;

/// A probe as written: exactly one of `http:` and `websocket:` (serde_yaml
/// reads enums from YAML tags, so the choice is two optional fields).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Written {
    /// An HTTP probe.
    #[serde(default)]
    pub http: Option<HttpProbe>,
    /// A WebSocket probe.
    #[serde(default)]
    pub websocket: Option<WebsocketProbe>,
}

impl Written {
    /// The probe, or `None` after reporting that it declares none or both
    /// kinds.
    pub fn probe(self, source: &Source, path: &str, diags: &mut Diagnostics) -> Option<Probe> {
        match (self.http, self.websocket) {
            (Some(h), None) => Some(Probe::Http(h)),
            (None, Some(w)) => Some(Probe::Websocket(w)),
            (h, _) => {
                let message = if h.is_some() {
                    "a probe is either `http:` or `websocket:`, not both"
                } else {
                    "a probe needs `http:` or `websocket:`"
                };
                diags.push(
                    source
                        .error(path, message)
                        .hint("e.g. `http: {url: ${api.url}/health}`"),
                );
                None
            }
        }
    }
}

/// One declared probe: an HTTP request or a WebSocket conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// An HTTP request.
    Http(HttpProbe),
    /// A WebSocket handshake, optionally with a message round trip.
    Websocket(WebsocketProbe),
}

/// An HTTP probe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// The environments it runs in (default: every one); elsewhere the
    /// stack has no such probe.
    #[serde(default)]
    pub environments: Option<Vec<String>>,
    /// `GET` (default), `HEAD`, `OPTIONS`; others need `mutates: true`.
    #[serde(default = "get")]
    pub method: String,
    /// The URL, with `${resource.attribute}` references (`${api.url}/status`).
    pub url: String,
    /// Request headers; a value may come from a `secret` of the stack.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValue>,
    /// The request body (for methods that change things).
    #[serde(default)]
    pub body: Option<String>,
    /// What the answer must be.
    #[serde(default)]
    pub expect: Expect,
    /// The median answer time over `samples` above this warns.
    #[serde(default)]
    pub latency_budget: Option<DurationText>,
    /// No answer by then fails (default 10s, at most 2m).
    #[serde(default)]
    pub timeout: Option<DurationText>,
    /// Requests sent, one after the other (default 1, at most 20).
    #[serde(default = "one")]
    pub samples: u32,
    /// Retries of a request that got no answer or a 5xx (default 0, at most 5).
    #[serde(default)]
    pub retries: u32,
    /// The request may create or change data: needed for methods other
    /// than GET, HEAD and OPTIONS.
    #[serde(default)]
    pub mutates: bool,
}

/// A WebSocket probe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebsocketProbe {
    /// The environments it runs in (default: every one).
    #[serde(default)]
    pub environments: Option<Vec<String>>,
    /// The `ws://` or `wss://` URL, with references (`${websocket.url}`).
    pub url: String,
    /// Handshake headers; a value may come from a `secret` of the stack.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValue>,
    /// A text message sent once the handshake completes.
    #[serde(default)]
    pub send: Option<String>,
    /// A message received (after `send`, if any) must contain this.
    #[serde(default)]
    pub expect_contains: Option<String>,
    /// The handshake and the round trip each get this long (default 10s).
    #[serde(default)]
    pub timeout: Option<DurationText>,
}

/// A header's value: text, or a secret's value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, expecting = "a text, or `{secret: KEY}`")]
pub enum HeaderValue {
    /// Written in the stack file.
    Text(String),
    /// Read from a `secret` resource when the probe runs; never printed.
    Secret(SecretValue),
}

/// `{secret: KEY}` or `{secret: KEY, field: NAME}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    /// A `secret` resource of the stack.
    pub secret: String,
    /// The secret's value is a JSON object: take this top-level field.
    #[serde(default)]
    pub field: Option<String>,
    /// Text before the value (`"Bearer "`).
    #[serde(default)]
    pub prefix: Option<String>,
}

/// What an HTTP answer must be.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Allowed statuses: codes and classes (`2xx`); default `2xx`.
    #[serde(default)]
    pub status: Option<StatusSpec>,
    /// The body must contain this text.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// Assertions on the JSON body.
    #[serde(default)]
    pub json: Vec<JsonAssertion>,
}

/// `status:`: one code or class, or a list of them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    untagged,
    expecting = "a status code, a class such as `2xx`, or a list of them"
)]
pub enum StatusSpec {
    /// Several.
    Many(Vec<StatusItem>),
    /// One.
    One(StatusItem),
}

/// A status code (`404`) or class (`"2xx"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, expecting = "a status code or a class such as `2xx`")]
pub enum StatusItem {
    /// A code.
    Code(u64),
    /// A code or class as text.
    Text(String),
}

/// One allowed status, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exactly this code.
    Code(u16),
    /// Any code of this class (`2` for `2xx`).
    Class(u16),
}

impl Status {
    /// Whether `code` is allowed by this.
    pub fn allows(self, code: u16) -> bool {
        match self {
            Status::Code(c) => c == code,
            Status::Class(c) => code / 100 == c,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Code(c) => write!(f, "{c}"),
            Status::Class(c) => write!(f, "{c}xx"),
        }
    }
}

impl StatusSpec {
    fn items(&self) -> Vec<&StatusItem> {
        match self {
            StatusSpec::Many(v) => v.iter().collect(),
            StatusSpec::One(i) => vec![i],
        }
    }
}

impl StatusItem {
    /// The status it means, or why it is not one.
    fn status(&self) -> Result<Status, String> {
        let text = match self {
            StatusItem::Code(n) => n.to_string(),
            StatusItem::Text(t) => t.trim().to_ascii_lowercase(),
        };
        if let Some(class) = text.strip_suffix("xx") {
            return match class.parse::<u16>() {
                Ok(c @ 1..=5) => Ok(Status::Class(c)),
                _ => Err(format!("`{text}` is not a status class")),
            };
        }
        match text.parse::<u16>() {
            Ok(c @ 100..=599) => Ok(Status::Code(c)),
            _ => Err(format!("`{text}` is not an HTTP status code")),
        }
    }
}

/// One assertion on the JSON body: exactly one of `equals`, `exists`,
/// `matches`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonAssertion {
    /// An RFC 9535 JSONPath (`$.status`, `$.items[0].id`).
    pub path: String,
    /// The value found must equal this (`null` included).
    #[serde(default, deserialize_with = "present")]
    pub equals: Option<serde_json::Value>,
    /// Whether the path finds anything.
    #[serde(default)]
    pub exists: Option<bool>,
    /// The value found (a string, or a scalar's JSON text) must match this
    /// regular expression.
    #[serde(default)]
    pub matches: Option<String>,
}

/// `equals: null` is a value to compare with, not an absent one.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// A duration as written: `500ms`, `2s`, `1m`, or a number of seconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, expecting = "a duration such as `500ms`, `5s` or `1m`")]
pub enum DurationText {
    /// Seconds.
    Seconds(f64),
    /// With a unit.
    Text(String),
}

impl DurationText {
    /// The duration, or why it is not one.
    pub fn duration(&self) -> Result<Duration, String> {
        match self {
            DurationText::Seconds(s) => crate::cli::parse_duration(&s.to_string()),
            DurationText::Text(t) => crate::cli::parse_duration(t),
        }
    }
}

fn get() -> String {
    "GET".to_string()
}

fn one() -> u32 {
    1
}

/// An HTTP probe's settings, checked: what the runner uses.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The method, upper case.
    pub method: String,
    /// Allowed statuses.
    pub status: Vec<Status>,
    /// The JSON paths, parsed, in `expect.json` order.
    pub json: Vec<(serde_json_path::JsonPath, JsonAssertion)>,
    /// The latency budget.
    pub latency_budget: Option<Duration>,
    /// Each request's timeout.
    pub timeout: Duration,
}

impl HttpProbe {
    /// The probe's settings, or `None` after reporting every problem of it
    /// (at `path`, in `source`) into `diags`.
    pub fn settings(
        &self,
        source: &Source,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<HttpSettings> {
        let before = diags.len();
        let method = self.method.trim().to_ascii_uppercase();
        let mpath = join(path, "method");
        if !METHODS.contains(&method.as_str()) {
            diags.push(
                source
                    .error(
                        &mpath,
                        format!("`{}` is not a method a probe sends", self.method),
                    )
                    .suggest(&method, METHODS.iter().copied()),
            );
        } else if !SAFE_METHODS.contains(&method.as_str()) && !self.mutates {
            diags.push(
                source
                    .error(
                        &mpath,
                        format!("a `{method}` probe may change data on every health run, and this one does not say `mutates: true`"),
                    )
                    .hint("probe with GET, HEAD or OPTIONS; or add `mutates: true` if each run may create or change data"),
            );
        }
        url_scheme(
            source,
            &join(path, "url"),
            &self.url,
            &["http://", "https://"],
            diags,
        );
        let timeout = timeout(source, path, self.timeout.as_ref(), diags);
        let latency_budget = self.latency_budget.as_ref().and_then(|b| {
            let bpath = join(path, "latency_budget");
            match b.duration() {
                Err(e) => {
                    diags.push(
                        source
                            .error(&bpath, format!("latency budget: {e}"))
                            .hint("e.g. `latency_budget: 500ms`"),
                    );
                    None
                }
                Ok(d) => {
                    // A timeout that is wrong is reported already.
                    let timeout = match self.timeout {
                        None => Some(DEFAULT_TIMEOUT),
                        Some(_) => timeout,
                    };
                    if let Some(t) = timeout.filter(|t| d > *t) {
                        diags.push(
                            source
                                .error(
                                    &bpath,
                                    format!(
                                        "the latency budget ({}) is above the timeout ({}): a request that slow fails on the timeout before the budget can warn",
                                        crate::health::report::seconds(d),
                                        crate::health::report::seconds(t)
                                    ),
                                )
                                .hint("lower `latency_budget:` below `timeout:`, or raise `timeout:`"),
                        );
                    }
                    Some(d)
                }
            }
        });
        if !(1..=MAX_SAMPLES).contains(&self.samples) {
            diags.push(
                source
                    .error(
                        join(path, "samples"),
                        format!("{} samples is out of range", self.samples),
                    )
                    .hint(format!("1 to {MAX_SAMPLES}")),
            );
        }
        if self.retries > MAX_RETRIES {
            diags.push(
                source
                    .error(
                        join(path, "retries"),
                        format!("{} retries is out of range", self.retries),
                    )
                    .hint(format!(
                        "0 to {MAX_RETRIES}: retries are for a blip, not for an outage"
                    )),
            );
        }
        headers(source, path, &self.headers, diags);
        let epath = join(path, "expect");
        let mut status = Vec::new();
        match &self.expect.status {
            None => status.push(Status::Class(2)),
            Some(spec) => {
                let items = spec.items();
                if items.is_empty() {
                    diags.push(
                        source
                            .error(join(&epath, "status"), "no status is allowed")
                            .hint(
                                "list codes or classes, e.g. `status: [200, 404]` or `status: 2xx`",
                            ),
                    );
                }
                for (i, item) in items.iter().enumerate() {
                    let at = match spec {
                        StatusSpec::Many(_) => index(&join(&epath, "status"), i),
                        StatusSpec::One(_) => join(&epath, "status"),
                    };
                    match item.status() {
                        Ok(s) => status.push(s),
                        Err(e) => diags.push(
                            source
                                .error(at, e)
                                .hint("a code from 100 to 599, or a class from `1xx` to `5xx`"),
                        ),
                    }
                }
            }
        }
        let mut json = Vec::new();
        for (i, a) in self.expect.json.iter().enumerate() {
            let apath = index(&join(&epath, "json"), i);
            match serde_json_path::JsonPath::parse(&a.path) {
                Ok(p) => json.push((p, a.clone())),
                Err(e) => diags.push(
                    source
                        .error(
                            join(&apath, "path"),
                            format!(
                                "`{}` is not a JSONPath: {}",
                                a.path,
                                one_line(&e.to_string())
                            ),
                        )
                        .hint("write an RFC 9535 JSONPath, e.g. `$.status` or `$.items[0].id`"),
                ),
            }
            let given = [a.equals.is_some(), a.exists.is_some(), a.matches.is_some()]
                .iter()
                .filter(|g| **g)
                .count();
            if given != 1 {
                diags.push(
                    source
                        .error(
                            &apath,
                            if given == 0 {
                                "a JSON assertion says nothing about its path".to_string()
                            } else {
                                "a JSON assertion takes one of `equals`, `exists`, `matches`".to_string()
                            },
                        )
                        .hint("e.g. `{path: $.status, equals: ok}`, `{path: $.id, exists: true}` or `{path: $.version, matches: '^v\\d+'}`"),
                );
            }
            if let Some(m) = &a.matches {
                if let Err(e) = regex_lite::Regex::new(m) {
                    diags.push(
                        source
                            .error(
                                join(&apath, "matches"),
                                format!(
                                    "`{m}` is not a regular expression: {}",
                                    one_line(&e.to_string())
                                ),
                            )
                            .hint(
                                "quote the pattern and escape `\\` as YAML requires, e.g. '^v\\d+'",
                            ),
                    );
                }
            }
        }
        (diags.len() == before).then(|| HttpSettings {
            method,
            status,
            json,
            latency_budget,
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
        })
    }
}

impl WebsocketProbe {
    /// The probe's timeout, or `None` after reporting every problem of it.
    pub fn settings(
        &self,
        source: &Source,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<Duration> {
        let before = diags.len();
        url_scheme(
            source,
            &join(path, "url"),
            &self.url,
            &["ws://", "wss://"],
            diags,
        );
        let timeout = timeout(source, path, self.timeout.as_ref(), diags);
        headers(source, path, &self.headers, diags);
        (diags.len() == before).then(|| timeout.unwrap_or(DEFAULT_TIMEOUT))
    }
}

impl Probe {
    /// Reports every problem of the probe at `path` that needs nothing
    /// else of the stack.
    pub fn check(&self, source: &Source, path: &str, diags: &mut Diagnostics) {
        match self {
            Probe::Http(h) => {
                h.settings(source, &join(path, "http"), diags);
            }
            Probe::Websocket(w) => {
                w.settings(source, &join(path, "websocket"), diags);
            }
        }
    }

    /// The URL as written.
    pub fn url(&self) -> &str {
        match self {
            Probe::Http(h) => &h.url,
            Probe::Websocket(w) => &w.url,
        }
    }

    /// The environments it runs in, when it names them.
    pub fn environments(&self) -> Option<&[String]> {
        match self {
            Probe::Http(h) => h.environments.as_deref(),
            Probe::Websocket(w) => w.environments.as_deref(),
        }
    }

    /// The headers as written.
    pub fn headers(&self) -> &BTreeMap<String, HeaderValue> {
        match self {
            Probe::Http(h) => &h.headers,
            Probe::Websocket(w) => &w.headers,
        }
    }

    /// `http` or `websocket`: the YAML key under the probe's name.
    pub fn key(&self) -> &'static str {
        match self {
            Probe::Http(_) => "http",
            Probe::Websocket(_) => "websocket",
        }
    }
}

/// The probe's `timeout:`, checked; `None` when unset or wrong (reported).
fn timeout(
    source: &Source,
    path: &str,
    t: Option<&DurationText>,
    diags: &mut Diagnostics,
) -> Option<Duration> {
    let t = t?;
    let tpath = join(path, "timeout");
    match t.duration() {
        Ok(d) if d <= MAX_TIMEOUT => Some(d),
        Ok(d) => {
            diags.push(
                source
                    .error(
                        &tpath,
                        format!(
                            "a timeout of {} is out of range",
                            crate::health::report::seconds(d)
                        ),
                    )
                    .hint("at most 2m: health runs under one overall --timeout"),
            );
            None
        }
        Err(e) => {
            diags.push(
                source
                    .error(&tpath, format!("timeout: {e}"))
                    .hint("e.g. `timeout: 5s`"),
            );
            None
        }
    }
}

/// A URL must start with one of `schemes`, or with a reference that gives
/// the whole base (`${api.url}`).
fn url_scheme(source: &Source, path: &str, url: &str, schemes: &[&str], diags: &mut Diagnostics) {
    let u = url.trim_start();
    if u.starts_with("${") || schemes.iter().any(|s| u.starts_with(s)) {
        return;
    }
    diags.push(
        source
            .error(
                path,
                format!("`{url}` is not a {} URL", schemes.join(" or ")),
            )
            .hint(format!(
                "start with {} or with a reference such as `${{api.url}}`",
                schemes.join(" or ")
            )),
    );
}

/// Header names are HTTP tokens.
fn headers(
    source: &Source,
    path: &str,
    headers: &BTreeMap<String, HeaderValue>,
    diags: &mut Diagnostics,
) {
    for name in headers.keys() {
        let token = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        if !token {
            diags.push(
                source
                    .error(
                        join(&join(path, "headers"), name),
                        format!("`{name}` is not a header name"),
                    )
                    .hint("letters, digits and `-`, e.g. `Authorization`"),
            );
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A probe resolved for one environment: its URL and secret headers as
/// CloudFormation expressions, which `health` evaluates against the
/// deployed stack.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The probe's name.
    pub name: String,
    /// The probe as written.
    pub probe: Probe,
    /// Its settings, checked.
    pub checked: Checked,
    /// Its URL: a string, or an expression (`Fn::Sub`, `Ref`, ...).
    pub url: serde_json::Value,
    /// Its headers, in name order.
    pub headers: Vec<(String, ResolvedHeader)>,
}

/// A probe's settings, checked.
#[derive(Debug, Clone)]
pub enum Checked {
    /// An HTTP probe's.
    Http(HttpSettings),
    /// A WebSocket probe's timeout.
    Websocket(Duration),
}

impl Probe {
    /// Its settings, checked; `None` when it has a problem (which
    /// [`Probe::check`] reports).
    pub fn checked(&self, source: &Source, path: &str) -> Option<Checked> {
        let mut scratch = Diagnostics::default();
        match self {
            Probe::Http(h) => h
                .settings(source, &join(path, "http"), &mut scratch)
                .map(Checked::Http),
            Probe::Websocket(w) => w
                .settings(source, &join(path, "websocket"), &mut scratch)
                .map(Checked::Websocket),
        }
    }
}

/// A header's value, resolved for one environment.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedHeader {
    /// Written in the stack file.
    Text(String),
    /// The value of a secret, read when the probe runs.
    Secret {
        /// The `secret` resource key.
        key: String,
        /// Its id for GetSecretValue (its ARN, or its name on an
        /// emulator), as an expression.
        id: serde_json::Value,
        /// The top-level JSON field to take, if any.
        field: Option<String>,
        /// Text before the value.
        prefix: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::Diagnostic;

    const RESOURCES: &str = "\
resources:
  handler:
    type: function
    crate: hello
  token:
    type: secret
    external: true
  api:
    type: http_api
    routes:
      GET /status: handler
probes:
";

    /// Every problem `validate` finds in a project whose stack is
    /// [`RESOURCES`] with `probes` (YAML at two spaces) appended.
    fn problems(probes: &str) -> Vec<Diagnostic> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("stacks")).unwrap();
        std::fs::create_dir_all(root.join("lambdas/hello")).unwrap();
        std::fs::write(root.join("lambdas/hello/Cargo.toml"), "").unwrap();
        std::fs::write(
            root.join("stackctl.yaml"),
            "project: pr\nstacks:\n  app: {}\nenvironments:\n  dev:\n    region: us-east-1\n",
        )
        .unwrap();
        std::fs::write(root.join("stacks/app.yaml"), format!("{RESOURCES}{probes}")).unwrap();
        match crate::validate::project(root) {
            Ok((project, rendered)) => {
                assert_eq!(
                    rendered[0].probes.len(),
                    project.stacks["app"].probes.len(),
                    "every probe of a valid stack is resolved"
                );
                Vec::new()
            }
            Err(d) => d.0,
        }
    }

    /// The one problem of `probes`: (YAML path, line, message, hint).
    fn problem(probes: &str) -> (String, Option<usize>, String, String) {
        let d = problems(probes);
        assert_eq!(d.len(), 1, "{d:#?}");
        let d = &d[0];
        assert_eq!(d.file, std::path::Path::new("stacks/app.yaml"));
        (
            d.path.clone(),
            d.line,
            d.message.clone(),
            d.hint.clone().unwrap_or_default(),
        )
    }

    /// The line of the first of `probes`' lines: the stack's probes start
    /// after [`RESOURCES`].
    fn line(n: usize) -> Option<usize> {
        Some(RESOURCES.lines().count() + n)
    }

    #[test]
    fn valid_probes_pass() {
        let d = problems(
            "  status:
    http:
      url: ${api.url}/status
      headers:
        Authorization: {secret: token, prefix: 'Bearer '}
        Accept: application/json
      expect:
        status: [200, 3xx]
        body_contains: ok
        json:
          - {path: $.status, equals: ok}
          - {path: '$.items[0].id', exists: true}
          - {path: $.version, matches: '^v\\d+'}
      latency_budget: 500ms
      timeout: 5s
      samples: 3
      retries: 2
  create:
    http: {method: POST, url: 'https://example.com/x', body: '{}', mutates: true, expect: {status: 4xx}}
  ws:
    websocket: {url: 'wss://example.com/ws', send: ping, expect_contains: pong, timeout: 3}
",
        );
        assert!(d.is_empty(), "{d:#?}");
    }

    #[test]
    fn a_probe_of_an_undeclared_resource_is_located() {
        let (path, at, message, hint) =
            problem("  status:\n    http:\n      url: ${apx.url}/status\n");
        assert_eq!(path, "probes.status.http.url");
        assert_eq!(at, line(3));
        assert!(
            message.contains("refers to `apx`, which is not a resource of this stack"),
            "{message}"
        );
        assert_eq!(hint, "did you mean `api`?");
    }

    #[test]
    fn a_header_from_something_not_a_secret_is_located() {
        let (path, at, message, _) = problem(
            "  status:\n    http:\n      url: https://example.com\n      headers:\n        X-Key: {secret: handler}\n",
        );
        assert_eq!(path, "probes.status.http.headers.X-Key.secret");
        assert_eq!(at, line(5));
        assert!(
            message.contains("`handler` is a function, expected a secret"),
            "{message}"
        );
    }

    #[test]
    fn an_invalid_json_path_is_located() {
        let (path, at, message, hint) = problem(
            "  status:\n    http:\n      url: https://example.com\n      expect:\n        json:\n          - {path: '$.items[', exists: true}\n",
        );
        assert_eq!(path, "probes.status.http.expect.json[0].path");
        assert_eq!(at, line(6));
        assert!(
            message.starts_with("`$.items[` is not a JSONPath"),
            "{message}"
        );
        assert!(hint.contains("RFC 9535"), "{hint}");
    }

    #[test]
    fn a_mutating_method_needs_mutates() {
        let (path, at, message, hint) =
            problem("  create:\n    http:\n      method: post\n      url: https://example.com\n");
        assert_eq!(path, "probes.create.http.method");
        assert_eq!(at, line(3));
        assert!(
            message.contains("`POST` probe may change data"),
            "{message}"
        );
        assert!(hint.contains("mutates: true"), "{hint}");
    }

    #[test]
    fn a_latency_budget_above_the_timeout_is_located() {
        let (path, at, message, hint) = problem(
            "  slow:\n    http:\n      url: https://example.com\n      timeout: 2s\n      latency_budget: 3s\n",
        );
        assert_eq!(path, "probes.slow.http.latency_budget");
        assert_eq!(at, line(5));
        assert!(
            message.contains("(3.00 s) is above the timeout (2.00 s)"),
            "{message}"
        );
        assert!(hint.contains("timeout"), "{hint}");
        // Without a timeout, the default one (10 s) counts.
        let (path, _, _, _) = problem(
            "  slow:\n    http:\n      url: https://example.com\n      latency_budget: 11s\n",
        );
        assert_eq!(path, "probes.slow.http.latency_budget");
    }

    #[test]
    fn other_bad_inputs_are_located() {
        for (probes, at, says) in [
            ("  p:\n    http:\n      url: https://x\n      expect: {status: 6xx}\n", "probes.p.http.expect.status", "not a status class"),
            ("  p:\n    http:\n      url: https://x\n      expect: {status: [200, 99]}\n", "probes.p.http.expect.status[1]", "not an HTTP status code"),
            ("  p:\n    http:\n      url: https://x\n      expect: {json: [{path: $.a}]}\n", "probes.p.http.expect.json[0]", "says nothing"),
            ("  p:\n    http:\n      url: https://x\n      expect: {json: [{path: $.a, exists: true, equals: 1}]}\n", "probes.p.http.expect.json[0]", "takes one of"),
            ("  p:\n    http:\n      url: https://x\n      expect: {json: [{path: $.a, matches: '(a'}]}\n", "probes.p.http.expect.json[0].matches", "not a regular expression"),
            ("  p:\n    http:\n      url: https://x\n      timeout: soon\n", "probes.p.http.timeout", "timeout: `soon` is not a duration"),
            ("  p:\n    http:\n      url: https://x\n      samples: 0\n", "probes.p.http.samples", "out of range"),
            ("  p:\n    http:\n      url: https://x\n      retries: 9\n", "probes.p.http.retries", "out of range"),
            ("  p:\n    http:\n      url: ftp://x\n", "probes.p.http.url", "is not a http:// or https:// URL"),
            ("  p:\n    websocket:\n      url: https://x\n", "probes.p.websocket.url", "is not a ws:// or wss:// URL"),
            ("  p:\n    http:\n      url: https://x\n      expects: {}\n", "probes.p.http.expects", "unknown field `expects`"),
            ("  p:\n    htp:\n      url: https://x\n", "probes.p.htp", "unknown field `htp`"),
            ("  p:\n    description: x\n", "probes.p.description", "unknown field `description`"),
            ("  p: {}\n", "probes.p", "needs `http:` or `websocket:`"),
            ("  p:\n    http: {url: 'https://x'}\n    websocket: {url: 'wss://x'}\n", "probes.p", "not both"),
            ("  Bad-Name:\n    http:\n      url: https://x\n", "probes.Bad-Name", "probe name"),
        ] {
            let (path, line, message, _) = problem(probes);
            assert_eq!(path, at, "{probes}");
            assert!(line.is_some(), "{probes}");
            assert!(message.contains(says), "{probes}: {message}");
        }
    }
}
