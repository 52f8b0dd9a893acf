//! Command-line arguments. The doc comments here are the `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Declarative AWS stacks: one project, every stack, every environment.
///
/// stackctl reads `stackctl.yaml` and `stacks/*.yaml`, renders CloudFormation
/// through the tera templates in `templates/`, and works on every stack of an
/// environment in dependency order.
#[derive(Debug, Parser)]
#[command(
    name = "stackctl",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 success, 1 failure (also: a question answered no; health, deploy\n--wait-healthy: a check failed), 2 changes found (diff --exit-code, drift --exit-code),\n3 invalid input or usage, 4 a change broadens access (diff --fail-on broadening), 5 health\nincomplete (nothing failed, some check could not be made), 130 interrupted (Ctrl-C).\nDocs: README.md in the stackctl repository."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Project directory holding stackctl.yaml [default: nearest one upward from the current directory]
    #[arg(short = 'C', long, global = true, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,

    /// Output format: human-readable text, JSON for scripts, or Markdown
    /// (diff only: a pull-request comment)
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Print only results and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// AWS endpoint for every service, overriding the environment's `endpoint_url`
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Answer yes to every question (required for deploy and destroy when stdin is not a terminal)
    #[arg(short, long, global = true)]
    pub yes: bool,

    /// Also print every CloudFormation event on a terminal (health: every
    /// check, not only those that need a look)
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Print on stderr where the time went (project load and render,
    /// fingerprints and builds, AWS calls, ...)
    #[arg(long, global = true)]
    pub timings: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout.
    Json,
    /// GitHub Markdown on stdout, for a pull-request comment (`diff` only).
    Markdown,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every stack in every environment; no AWS calls
    ///
    /// Reports every problem at once with its file, YAML path, line and a hint:
    /// YAML syntax, unknown fields, wrong types, dangling references, dependency
    /// cycles, invalid AWS names and out-of-range settings.
    ///
    /// Example: stackctl validate
    Validate,

    /// Render CloudFormation for an environment
    ///
    /// Writes the templates to stdout, or with --out one `STACK.yaml` and one
    /// `STACK.parameters.json` (the environment's parameter values, in the
    /// format `aws cloudformation` takes) per stack. The whole project is
    /// validated first; nothing is written when it is invalid. Function code
    /// locations are template parameters, so no build is needed.
    ///
    /// Example: stackctl render --env dev upload --out build/cfn
    Render(RenderArgs),

    /// Build the Rust Lambda functions into deterministic zips, and the services into images
    ///
    /// Compiles the crate under `lambdas/` of every function (or of each
    /// FUNCTION named) with the `lambda` cargo profile, checks that each
    /// `bootstrap` needs at most glibc 2.34 (the `provided.al2023` runtime),
    /// rebuilding with `cargo zigbuild` when it needs more, and writes
    /// `target/zips/CRATE/bootstrap.zip` (arm64: `target/zips-arm64/`).
    /// Each function is built for its `architecture:` in every environment,
    /// or in the one --env names; another machine's architecture needs its
    /// Rust target and cargo-zigbuild, and when they are missing nothing is
    /// compiled and the error says what to install. Zips are deterministic: the same
    /// executable gives the same bytes and sha256. A function whose inputs
    /// (its workspace sources, Cargo.lock entries, profile, toolchain,
    /// target, build environment) are as at its last build is not compiled:
    /// no cargo process starts; otherwise the report names the input that
    /// changed. The whole project is validated first; nothing is built when
    /// it is invalid.
    ///
    /// Each crate a `service` runs (under `services/`) becomes an OCI image
    /// without Docker: its executable and exactly the shared libraries it
    /// needs on an empty base, running as a non-root user, deterministic
    /// (same inputs, same digest), written as an OCI layout to
    /// `target/images/CRATE/`; skipped like a function when its inputs are
    /// unchanged.
    ///
    /// Example: stackctl build create-upload
    /// Example: stackctl build --env local
    Build(BuildArgs),

    /// Build the functions and services, upload the zips and push the images
    ///
    /// Builds like `build`, then uploads each zip to
    /// `s3://BUCKET/functions/CRATE/SHA256.zip`, skipping every key already
    /// there, so an unchanged function is never uploaded twice. The bucket
    /// (`artefact_bucket` of the environment, default
    /// `PROJECT-ENV-artefacts-REGION`) is created private, encrypted and
    /// versioned when missing. Prints, per stack, the template parameters
    /// (`ArtefactBucket`, `<Function>CodeKey`) that locate the code.
    ///
    /// Images are pushed through the OCI distribution API to each service's
    /// ECR repository (credentials from ECR), or to the environment's local
    /// registry (`registry: {local: true}`), skipping layers and manifests
    /// already there; `<Service>Image` names each by digest.
    ///
    /// Example: stackctl publish --env local
    Publish(PublishArgs),

    /// Deploy every stack of an environment, in dependency order
    ///
    /// Validates the project, renders the environment, and fingerprints the
    /// functions of the selected stacks (compiling only those whose inputs
    /// changed). Then plans every stack without changing anything: waits
    /// for any operation already running on it, compares template,
    /// parameters and tags with what is deployed (equal: "no changes", no
    /// change set), else prepares a change set (or, with --method direct,
    /// its own diff). Shows the whole plan, with IAM and network changes
    /// that broaden access flagged, and asks once (a second time naming the
    /// broadening), unless --yes. Then uploads the code of the stacks that
    /// change and applies the plan in dependency order, independent stacks
    /// at once, following each to the end. Ctrl-C stops waiting;
    /// CloudFormation goes on, and the next command picks the stack up.
    ///
    /// With --hotswap, a stack whose only difference is function code gets
    /// its functions' code updated in place, without a stack update.
    ///
    /// With --wait-healthy 5m, a successful deploy is followed by `health
    /// --wait 5m` on the deployed stacks, and the exit status is health's:
    /// 0 healthy or degraded, 1 the deploy or a check failed, 5 a check
    /// could not be made in time.
    ///
    /// Example: stackctl deploy --env dev --yes
    Deploy(DeployArgs),

    /// Show what a deploy would change
    ///
    /// Per stack, the deployed template against the rendered one, resource
    /// by resource (`+` added, `-` removed, `~` changed with the properties
    /// that change, element by element; replacements with the property that
    /// causes them), then IAM and network changes with those that broaden
    /// access flagged (⚠), outputs, parameter values and tags. A stack not
    /// deployed yet shows as all new. Functions are fingerprinted (and built
    /// when changed) to know their code (skip with --no-build).
    /// `--output markdown` renders it for a pull-request comment.
    ///
    /// Example: stackctl diff --env dev --exit-code --fail-on broadening
    Diff(DiffArgs),

    /// Show how deployed resources differ from their templates (drift)
    ///
    /// Starts CloudFormation drift detection on every selected stack, waits
    /// for it, and shows each drifted resource with its property
    /// differences (template value -> actual value), or that it was
    /// deleted, in the format of `diff`. Nothing is changed. The local
    /// emulator (moto) does not implement drift detection; the command says
    /// so.
    ///
    /// Example: stackctl drift --env prod --exit-code
    Drift(DriftArgs),

    /// Show each stack's CloudFormation status and last update
    ///
    /// Example: stackctl status --env dev --output json
    Status(StackArgs),

    /// Show each stack's outputs
    ///
    /// Example: stackctl outputs --env dev upload
    Outputs(StackArgs),

    /// Check that a deployed environment is healthy (read-only)
    ///
    /// Reads every selected stack and the resources it declares, and checks
    /// them, at most 8 reads at a time: each stack's CloudFormation status,
    /// every declared resource present, and the deployed template,
    /// parameters and tags equal to this checkout's (else "not deployed from
    /// this checkout"); each function's state, code (the zip its stack
    /// names), reserved concurrency and role (its policy still the rendered
    /// one); each table's status, indexes, TTL and point-in-time recovery;
    /// each queue's dead-letter queue depth; each bucket's existence,
    /// public access block and encryption; each schedule's rule enabled and
    /// targeting its function; each alarm not in ALARM. Nothing is changed,
    /// except by a declared probe that says `mutates: true`.
    /// `--print-policy` prints the read-only IAM policy this needs.
    ///
    /// The probes a stack file declares (`probes:`) are checks too
    /// (`media/probe/NAME/status`, `body`, `json`, `latency`; `handshake`,
    /// `reply` for a WebSocket): HTTP and WebSocket requests to the
    /// deployed system; --skip-probes leaves them out, --only probe keeps
    /// only them.
    ///
    /// Each check has a stable id (`upload/function/create_upload/code`)
    /// and ends pass, warn, fail, unknown (could not be checked: access
    /// denied, throttled, out of time; never counted as a pass) or skip
    /// (with the reason, such as what the local emulator does not apply).
    /// The report lists failures, unknowns and warnings (every check with
    /// -v), then one verdict: healthy, degraded (warnings), unhealthy (a
    /// failure) or incomplete (no failure, but something unknown).
    /// `--output json` gives the `stackctl.health/v1` schema; --junit FILE
    /// also writes JUnit XML for CI test reports.
    ///
    /// With --wait, the checks run again with backoff until every one
    /// passes twice in a row or the time is up (for CI right after a
    /// deploy); the last run is reported, with how many runs and how long.
    ///
    /// Exit codes: 0 healthy or degraded, 1 a check failed (or warned, with
    /// --fail-on warn), 3 invalid input, 5 incomplete.
    ///
    /// Example: stackctl health --env prod --fail-on warn
    ///
    /// Example: stackctl health --env dev --wait 5m --junit health.xml
    Health(HealthArgs),

    /// Run an emulator environment's APIs and functions on loopback
    ///
    /// After `stackctl deploy --env local`, the emulator holds the stacks
    /// but runs no code and serves no API. serve answers for every
    /// `http_api`, `rest_api` and `websocket_api` of the selected stacks on
    /// the port the environment binds it to (`bind: {STACK: {KEY: {local:
    /// serve, port: N}}}`: that address is the API's URL in the
    /// environment's outputs and functions' environments), with API
    /// Gateway's event and response formats (HTTP API payload 2.0, REST
    /// proxy, WebSocket with its Management API) and authorizers. Each
    /// function runs as Lambda runs it: the `bootstrap` of the zip `build`
    /// wrote, its deployed environment, timeout and memory size, warm
    /// processes reused, one request per process at a time. After a
    /// `build` (or with --watch, after any source change) the next request
    /// runs the new code. The stacks' other event sources run against the
    /// emulator: schedules, queue consumers, S3 notifications and
    /// EventBridge rules; the listing at start says what cannot run, and
    /// why.
    ///
    /// Each invocation is printed (function, trigger, status, duration,
    /// cold or warm), and each line a function logs, prefixed;
    /// `--output json` prints them as JSON lines. Ctrl-C stops everything.
    ///
    /// Example: stackctl deploy --env local && stackctl serve --env local
    ///
    /// Exit codes: 0 stopped (Ctrl-C, SIGTERM), 1 a port is taken, 3 invalid
    /// input (not an emulator environment, an API not bound, a stack not
    /// deployed, a zip missing).
    ///
    /// Example: stackctl serve --env local upload --watch
    Serve(ServeArgs),

    /// Delete an environment's stacks, in reverse dependency order
    ///
    /// Lists what will be deleted and asks (or needs --yes). A protected
    /// environment also needs --confirm-env NAME (or the name typed at the
    /// prompt); its stacks' termination protection is turned off only then,
    /// and its retained tables and buckets stay. Buckets that hold objects
    /// are emptied first with --empty-buckets (never in a protected
    /// environment); without it the command explains why the delete would
    /// fail and deletes nothing. The artefact bucket stays unless
    /// --artefacts is given.
    ///
    /// Example: stackctl destroy --env dev --empty-buckets --yes
    Destroy(DestroyArgs),

    /// Show the resolved configuration
    ///
    /// Each environment's region, endpoint (after --endpoint-url and
    /// AWS_ENDPOINT_URL), protection and settings, and the stacks in
    /// deployment order with their CloudFormation names.
    ///
    /// Example: stackctl config --env local --output json
    Config(ConfigArgs),
}

/// Arguments of `render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Environment to render for
    #[arg(short, long)]
    pub env: String,

    /// Stacks to render [default: all, in deployment order]
    pub stacks: Vec<String>,

    /// Write files into this directory instead of printing
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Arguments of `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Functions or services to build, by crate name or resource key [default: all]
    #[arg(value_name = "FUNCTION")]
    pub functions: Vec<String>,

    /// Build for this environment's architectures only [default: every
    /// architecture any environment runs]
    #[arg(short, long)]
    pub env: Option<String>,
}

/// Arguments of `publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Environment whose artefact bucket receives the zips
    #[arg(short, long)]
    pub env: String,

    /// Functions or services to publish, by crate name or resource key [default: all]
    #[arg(value_name = "FUNCTION")]
    pub functions: Vec<String>,
}

/// Arguments of `deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Environment to deploy
    #[arg(short, long)]
    pub env: String,

    /// Stacks to deploy [default: all, in dependency order]
    pub stacks: Vec<String>,

    /// How to apply templates [default: the environment's `deploy_method`, else change-set]
    #[arg(long, value_enum)]
    pub method: Option<crate::deploy::Method>,

    /// Most stacks planned and deployed at the same time
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub concurrency: u16,

    /// When only function code changed, update the functions' code in
    /// place (Lambda UpdateFunctionCode) instead of updating the stack; any
    /// other change falls back to a normal deploy, which says why. The next
    /// deploy without --hotswap records the code in the stack.
    #[arg(long)]
    pub hotswap: bool,

    /// Allow --hotswap in a protected environment
    #[arg(long)]
    pub hotswap_protected: bool,

    /// After a successful deploy, wait up to DURATION (`5m`) for the
    /// deployed stacks to be healthy, as `health --wait` does; the exit
    /// status is then health's: 1 a check failed, 5 a check could not be
    /// made by then
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait_healthy: Option<std::time::Duration>,
}

/// Arguments of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Environment to compare with
    #[arg(short, long)]
    pub env: String,

    /// Stacks to compare [default: all]
    pub stacks: Vec<String>,

    /// Exit 2 when there are changes, 0 when there are none (for CI)
    #[arg(long)]
    pub exit_code: bool,

    /// Exit 4 when a change broadens access: new IAM actions, wider
    /// resources or principals, removed conditions or denies, wider network
    /// ingress (a stack not yet deployed counts: all it grants is new)
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Option<FailOn>,

    /// Do not build the functions: their code is taken as deployed
    #[arg(long)]
    pub no_build: bool,
}

/// What `diff --fail-on` fails on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// A change that broadens access (IAM or network).
    Broadening,
}

/// Arguments of `drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Environment to check
    #[arg(short, long)]
    pub env: String,

    /// Stacks to check [default: all]
    pub stacks: Vec<String>,

    /// Exit 2 when a resource drifted, 0 when none did (for CI)
    #[arg(long)]
    pub exit_code: bool,
}

/// Arguments of `status` and `outputs`.
#[derive(Debug, Args)]
pub struct StackArgs {
    /// Environment to show
    #[arg(short, long)]
    pub env: String,

    /// Stacks to show [default: all]
    pub stacks: Vec<String>,
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Environment to serve (one with `emulator:`)
    #[arg(short, long)]
    pub env: String,

    /// Stacks to serve [default: all]
    pub stacks: Vec<String>,

    /// Rebuild the functions when their sources change (`stackctl build`
    /// for the environment); the next request runs the new code
    #[arg(long)]
    pub watch: bool,

    /// Whether schedules fire on their own: `on`, each on its rate or cron
    /// (the first one period after start); `now`, also once right away;
    /// `off`, never. Queues, S3 notifications and EventBridge rules always
    /// run
    #[arg(long, value_enum, value_name = "WHEN", default_value = "on")]
    pub schedules: Switch,

    /// Most processes at once per function (Lambda's concurrency); a
    /// request beyond waits for one to free
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_processes: u16,
}

/// When `serve` fires schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// On their rate or cron.
    On,
    /// Once at start, then on their rate or cron.
    Now,
    /// Never.
    Off,
}

/// Arguments of `health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Environment to check
    #[arg(short, long)]
    pub env: String,

    /// Stacks to check [default: all]
    pub stacks: Vec<String>,

    /// A stack to check, as a STACK argument does (repeatable; the two
    /// add up), for scripts that name it as an option
    #[arg(long = "stack", value_name = "STACK")]
    pub stack: Vec<String>,

    /// Only the checks of KIND: `stack`, a resource kind with checks
    /// (`function`, `table`, `queue`, `bucket`, `http_api`, `schedule`,
    /// `alarm`, ...),
    /// or `probe` for the stacks' declared probes (repeatable)
    #[arg(long, value_name = "KIND")]
    pub only: Vec<String>,

    /// Time for the whole run (`90s`, `2m`, `500ms`); checks not finished
    /// by then are unknown
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// Exit 1 on a warning too: a degraded environment fails
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Option<HealthFailOn>,

    /// Leave out the stacks' declared probes (`probes:`): no request is
    /// sent to the system, and no probe check is reported
    #[arg(long)]
    pub skip_probes: bool,

    /// Print the read-only IAM policy these checks need (JSON), derived
    /// from the stacks' resources, and check nothing
    #[arg(long)]
    pub print_policy: bool,

    /// How far back the metric checks look (`15m`, `1h`, `24h`; 1m to
    /// 336h): a function's error rate and throttles, an API's 5xx rate, a
    /// dead-letter queue's oldest message
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub window: std::time::Duration,
    /// Run the checks again, with backoff (2 s doubling to 30 s), until
    /// every check passes twice in a row (warnings allowed unless --fail-on
    /// warn) or DURATION is up (`5m`); the last run is reported. A stack
    /// `*_IN_PROGRESS` is waited on; a rolled-back deploy
    /// (UPDATE_ROLLBACK_COMPLETE) fails, and a failed or rolled-back stack
    /// ends the wait at once
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<std::time::Duration>,

    /// Also write the report as JUnit XML to FILE, for CI test reports: a
    /// testsuite per stack, a testcase per check (fail: failure, unknown:
    /// error, skip: skipped)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// What `health --fail-on` fails on besides a failed check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HealthFailOn {
    /// A check that warns (messages in a dead-letter queue, a rolled-back
    /// deploy, a stack not deployed from this checkout).
    Warn,
}

/// A duration: a number with `ms`, `s`, `m` or `h` (`90s`, `2m`, `500ms`);
/// a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write it as 90s, 2m or 500ms"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use ms, s, m or h"
            ))
        }
    };
    let secs = n * scale;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("`{text}` must be above 0 and at most 24h"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Arguments of `destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Environment to destroy
    #[arg(short, long)]
    pub env: String,

    /// Stacks to delete [default: all, in reverse dependency order]
    pub stacks: Vec<String>,

    /// Empty the stacks' buckets first (not in protected environments)
    #[arg(long)]
    pub empty_buckets: bool,

    /// For a protected environment: its name, to confirm without a prompt
    #[arg(long, value_name = "ENV")]
    pub confirm_env: Option<String>,

    /// Also empty and delete the environment's artefact bucket
    #[arg(long)]
    pub artefacts: bool,
}

/// Arguments of `config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Show only this environment
    #[arg(short, long)]
    pub env: Option<String>,
}
