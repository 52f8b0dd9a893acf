//! `stackctl serve`: see [`crate::serve`]. Runs until Ctrl-C (or SIGTERM),
//! then stops every function process it started.

use super::Scope;
use crate::cli::{GlobalArgs, OutputFormat, ServeArgs, Switch};
use crate::exit::{ExitStatus, UsageError};
use crate::output::Printer;
use crate::serve::functions::Functions;
use crate::serve::report::{Format, Reporter};
use crate::serve::{front, plan};
use aws_sdk_s3::config::ProvideCredentials;
use std::path::Path;
use std::sync::Arc;

/// Serves until interrupted.
pub fn run(
    root: &Path,
    args: ServeArgs,
    global: &GlobalArgs,
    printer: Printer,
) -> anyhow::Result<ExitStatus> {
    let ServeArgs {
        env,
        stacks,
        watch,
        schedules,
        max_processes,
    } = args;
    let scope = Scope::load(root, &env, &stacks)?;
    if scope.environment().emulator.is_none() {
        return Err(UsageError::new(format!(
            "serve runs the functions of an emulator environment, and `{env}` has no `emulator:`\nhint: stackctl serve --env local (in AWS, API Gateway and Lambda answer)"
        ))
        .into());
    }
    // Bindings first: nothing to connect to when an API has no port.
    plan::apis(&scope)?;
    let format = if global.output == OutputFormat::Json {
        Format::Json
    } else {
        Format::Text
    };
    let reporter = Arc::new(Reporter::new(format));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Nothing runs on an emulator that is not running: say so.
        let sdk = scope
            .connect(global.endpoint_url.as_deref(), false, printer)
            .await?;
        let plan = plan::plan(&scope, &sdk).await?;
        let aws_env = aws_env(&sdk).await?;
        // A REST `iam` API takes requests signed as the functions sign.
        let var = |k: &str| aws_env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let credentials: std::collections::BTreeMap<String, String> =
            match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(k), Some(s)) => [(k, s)].into(),
                _ => Default::default(),
            };
        let functions = Arc::new(Functions::new(
            root,
            &plan,
            aws_env,
            usize::from(max_processes),
            reporter.clone(),
        ));
        functions.check_built(&env)?;
        let mut servers = Vec::new();
        for api in &plan.apis {
            servers.push(front::bind(api).await?);
        }
        for (api, listener) in plan.apis.iter().zip(servers) {
            front::announce(&reporter, api);
            tokio::spawn(front::serve(
                api.clone(),
                plan.region.clone(),
                plan.account.clone(),
                listener,
                functions.clone(),
                credentials.clone(),
            ));
        }
        let running = sources(&scope, &sdk, &plan, &functions, &reporter, schedules).await;
        if watch {
            tokio::spawn(crate::serve::watch::run(
                root.to_path_buf(),
                env.clone(),
                reporter.clone(),
            ));
        }
        reporter.note(
            "ready",
            &format!(
                "serving {} API{} of `{env}`; Ctrl-C stops",
                plan.apis.len(),
                if plan.apis.len() == 1 { "" } else { "s" }
            ),
            serde_json::json!({"env": env, "apis": plan.apis.len()}),
        );
        stopped().await;
        // What serve changed on the emulator goes back first.
        running.stop().await;
        functions.shutdown();
        anyhow::Ok(())
    })?;
    Ok(ExitStatus::Success)
}

/// Ctrl-C or SIGTERM.
async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// What every function process gets to reach AWS as stackctl does: the
/// emulator's endpoint, the region and the credentials stackctl uses
/// there (Lambda would give the function its role's).
async fn aws_env(sdk: &aws_config::SdkConfig) -> anyhow::Result<Vec<(String, String)>> {
    let mut env = Vec::new();
    if let Some(url) = sdk.endpoint_url() {
        env.push(("AWS_ENDPOINT_URL".to_string(), url.to_string()));
    }
    if let Some(region) = sdk.region() {
        env.push(("AWS_REGION".to_string(), region.to_string()));
        env.push(("AWS_DEFAULT_REGION".to_string(), region.to_string()));
    }
    if let Some(provider) = sdk.credentials_provider() {
        let creds = provider.provide_credentials().await?;
        env.push((
            "AWS_ACCESS_KEY_ID".to_string(),
            creds.access_key_id().to_string(),
        ));
        env.push((
            "AWS_SECRET_ACCESS_KEY".to_string(),
            creds.secret_access_key().to_string(),
        ));
        if let Some(token) = creds.session_token() {
            env.push(("AWS_SESSION_TOKEN".to_string(), token.to_string()));
        }
    }
    Ok(env)
}

/// Plans the selected stacks' event sources, lists them (and why any is
/// not run), and runs them.
async fn sources(
    scope: &Scope,
    sdk: &aws_config::SdkConfig,
    plan: &plan::Plan,
    functions: &Arc<Functions>,
    reporter: &Arc<Reporter>,
    schedules: Switch,
) -> crate::serve::sources::Running {
    use crate::serve::sources::{self, Answer, SourceEvent, StackInput, Target};
    let inputs: Vec<StackInput> = plan
        .deployed
        .iter()
        .map(|(stack, deployed)| StackInput {
            rendered: scope.rendered(stack),
            deployed,
        })
        .collect();
    let planned = sources::plan(&inputs, &plan.region, &plan.account, sdk).await;
    for s in &planned {
        reporter.note(
            "source",
            &format!("source {s}"),
            serde_json::json!({
                "source": s.id,
                "function": s.target.function,
                "stack": s.target.stack,
                "describe": s.describe,
                "emulated": s.emulated(),
                "reason": s.unemulated,
                "notes": s.notes,
            }),
        );
    }
    let invoke_functions = functions.clone();
    let invoke: sources::Invoke = Arc::new(move |target: Target, payload: serde_json::Value| {
        let functions = invoke_functions.clone();
        Box::pin(async move {
            let id = plan::FnId {
                stack: target.stack,
                key: target.function,
            };
            match functions.invoke(&id, payload).await {
                Ok(inv) => {
                    let answer = match &inv.outcome {
                        lambda_local::runtime::Outcome::Response(body) => {
                            Answer::Response(serde_json::from_slice(body).unwrap_or_default())
                        }
                        other => Answer::Failed(
                            crate::serve::functions::describe(other)
                                .1
                                .unwrap_or_default(),
                        ),
                    };
                    functions.report(&id, "event", &inv, None, None);
                    answer
                }
                Err(e) => {
                    functions.failed(&id, "event", &e);
                    Answer::Failed(format!("{e:#}"))
                }
            }
        })
    });
    let report_to = reporter.clone();
    let report: sources::Report = Arc::new(move |e: SourceEvent| {
        let (outcome, error) = match &e.outcome {
            Ok(()) => ("ok", None),
            Err(err) => ("failed", Some(err.clone())),
        };
        let mut text = format!(
            "{} → {}: {} record{} {outcome} in {:.1} ms",
            e.source,
            e.function,
            e.records,
            if e.records == 1 { "" } else { "s" },
            e.duration.as_secs_f64() * 1000.0
        );
        if let Some(err) = &error {
            text.push_str(&format!(": {err}"));
        }
        report_to.note(
            "delivery",
            &text,
            serde_json::json!({
                "source": e.source,
                "function": e.function,
                "records": e.records,
                "outcome": outcome,
                "error": error,
                "duration_ms": e.duration.as_secs_f64() * 1000.0,
            }),
        );
    });
    let running = sources::run(
        &planned,
        sdk,
        invoke,
        report,
        sources::Options {
            schedules: schedules != Switch::Off,
            ..Default::default()
        },
    )
    .await;
    if schedules == Switch::Now {
        for s in planned
            .iter()
            .filter(|s| s.kind == sources::Kind::Schedule && s.emulated())
        {
            running.fire(&s.id);
        }
    }
    running
}
