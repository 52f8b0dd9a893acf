//! `stackctl diff`: what a deploy would change, stack by stack, without
//! changing anything (no change set, no upload).

use super::{runtime, Scope};
use crate::aws::cloudformation::{CloudFormation, SdkCloudFormation};
use crate::cli::{DiffArgs, FailOn, GlobalArgs};
use crate::deploy::desired::{self, CodeKeys, Inputs, Upstream};
use crate::deploy::hotswap::{self, HotSwapped};
use crate::diff::{parse_template, DeployedState, StackDiff};
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::ui::timings;
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The differences of every selected stack.
#[derive(Debug, Serialize)]
pub struct DiffReport {
    /// Environment.
    pub env: String,
    /// Whether any stack would change.
    pub changes: bool,
    /// Whether function code was compared (false with --no-build).
    pub code_compared: bool,
    /// Per stack, in dependency order.
    pub stacks: Vec<StackEntry>,
    /// Migrations a deploy would apply, per database.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<crate::deploy::databases::MigrationState>,
}

impl DiffReport {
    /// The whole diff as GitHub Markdown, for a pull-request comment.
    pub fn markdown(&self) -> String {
        let diffs: Vec<StackDiff> = self.stacks.iter().map(|s| s.diff.clone()).collect();
        let mut md = crate::diff::markdown_report(&format!("stackctl diff: {}", self.env), &diffs);
        let swapped: Vec<&HotSwapped> = self.stacks.iter().flat_map(|s| &s.hotswapped).collect();
        if !swapped.is_empty() {
            md.push_str("\n#### Hot-swapped functions\n\n");
            for h in swapped {
                md.push_str(&format!("- {h}\n"));
            }
        }
        let pending: Vec<_> = self
            .migrations
            .iter()
            .filter(|m| m.note.is_none() && !m.pending.is_empty())
            .collect();
        if !pending.is_empty() {
            md.push_str("\n#### Pending migrations\n\n");
            for m in pending {
                for file in &m.pending {
                    md.push_str(&format!(
                        "- `{}` ({}.{})\n",
                        file.display(),
                        m.stack,
                        m.database
                    ));
                }
            }
        }
        if !self.code_compared {
            md.push_str("\n_Function code not compared (`--no-build`)._\n");
        }
        md
    }
}

/// One stack's diff, and what runs apart from it.
#[derive(Debug, Serialize)]
pub struct StackEntry {
    /// What a deploy would change.
    #[serde(flatten)]
    pub diff: StackDiff,
    /// Functions that run other code than the deployed stack names (`deploy
    /// --hotswap`); a deploy records it.
    pub hotswapped: Vec<HotSwapped>,
}

impl fmt::Display for DiffReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.stacks {
            let text = s.diff.to_string();
            write!(f, "{text}")?;
            if !text.ends_with('\n') {
                writeln!(f)?;
            }
            for h in &s.hotswapped {
                writeln!(f, "  {h}")?;
            }
        }
        for m in &self.migrations {
            if m.pending.is_empty() {
                continue;
            }
            let n = m.pending.len();
            let s = if n == 1 { "" } else { "s" };
            match &m.note {
                None => {
                    writeln!(f, "{}.{}: {n} pending migration{s}", m.stack, m.database)?;
                    for file in &m.pending {
                        writeln!(f, "  + {}", file.display())?;
                    }
                }
                Some(note) => writeln!(
                    f,
                    "{}.{}: {n} migration{s} not checked: {note}",
                    m.stack, m.database
                )?,
            }
        }
        let changed = self.stacks.iter().filter(|s| s.diff.has_changes()).count();
        write!(
            f,
            "{changed} of {} stack{} in {} would change",
            self.stacks.len(),
            if self.stacks.len() == 1 { "" } else { "s" },
            self.env
        )?;
        if !self.code_compared {
            write!(f, " (function code not compared: --no-build)")?;
        }
        Ok(())
    }
}

/// Compares; the report and the exit status (2 for changes with --exit-code).
pub fn run(
    root: &Path,
    args: DiffArgs,
    global: &GlobalArgs,
    printer: Printer,
) -> anyhow::Result<(DiffReport, ExitStatus)> {
    let DiffArgs {
        env,
        stacks,
        exit_code,
        fail_on,
        no_build,
    } = args;
    let scope = Scope::load(root, &env, &stacks)?;
    let e = scope.environment();
    let bucket = e.artefact_bucket(&scope.project.file.project, &scope.env);
    timings::lap("load, validate and render the project");
    let rt = runtime()?;
    let endpoint = global.endpoint_url.as_deref();
    let (sdk, code) = if no_build {
        (rt.block_on(scope.preflight(endpoint, printer))?, None)
    } else {
        let (sdk, built) = scope.connect_and_build(endpoint, printer, &rt)?;
        let mut code =
            crate::publish::code_parameters(&bucket, &built, &scope.rendered, &scope.env);
        // The services' images as a deploy would name them (nothing pushed).
        let images = crate::image::project::of_stacks(
            crate::image::project::service_images(&scope.project),
            &scope.stacks,
        );
        let built_images = crate::image::project::build_images(
            &scope.project.root,
            &images,
            &scope.rendered,
            printer,
        )?
        .images;
        let refs = rt.block_on(crate::image::project::references(
            &scope.project,
            &scope.env,
            &sdk,
            &built_images,
            &scope.rendered,
        ))?;
        for (stack, params) in refs {
            code.entry(stack).or_default().extend(params);
        }
        (sdk, Some(code))
    };
    let report = rt.block_on(async {
        let cfn = SdkCloudFormation::new(&sdk);
        let upstream = Upstream::new(&cfn, &scope.rendered);
        // Every stack at once, and the hot-swap markers beside them.
        let (markers, found) = tokio::join!(
            scope.hotswap_markers(&sdk),
            futures_util::future::join_all(scope.stacks.iter().map(|stack| stack_diff(
                &scope,
                stack,
                code.as_ref(),
                &cfn,
                &upstream
            )),)
        );
        let markers = markers?;
        let mut diffs = Vec::new();
        for diff in found {
            let diff = diff?;
            let hotswapped = hotswap::hot_swapped(&markers, &diff.stack_name);
            diffs.push(StackEntry { diff, hotswapped });
        }
        let migrations = crate::deploy::databases::pending(&scope, &sdk).await;
        anyhow::Ok(DiffReport {
            env: scope.env.clone(),
            changes: diffs.iter().any(|s| s.diff.has_changes())
                || migrations
                    .iter()
                    .any(|m| m.note.is_none() && !m.pending.is_empty()),
            code_compared: code.is_some(),
            stacks: diffs,
            migrations,
        })
    })?;
    timings::lap("AWS calls (describe, templates)");
    let broadens = report.stacks.iter().any(|s| s.diff.broadens());
    let status = if fail_on == Some(FailOn::Broadening) && broadens {
        ExitStatus::Broadens
    } else if exit_code && report.changes {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    };
    Ok((report, status))
}

/// One stack's diff: its deployed state against its desired state.
async fn stack_diff<C: CloudFormation>(
    scope: &Scope,
    stack: &str,
    code: Option<&BTreeMap<String, BTreeMap<String, String>>>,
    cfn: &C,
    upstream: &Upstream<'_, C>,
) -> anyhow::Result<StackDiff> {
    let r = scope.rendered(stack);
    let info = cfn.describe(&r.stack_name).await?;
    let deployed = match &info {
        Some(i) if i.status != "REVIEW_IN_PROGRESS" => {
            let body = cfn.template(&r.stack_name).await?;
            let template = parse_template(&body)
                .with_context(|| format!("reading the deployed template of {}", r.stack_name))?;
            Some(DeployedState {
                template,
                parameters: i.parameters.clone(),
                tags: i.tags.clone(),
            })
        }
        _ => None,
    };
    let code = match code {
        Some(code) => CodeKeys::Built(code.get(stack)),
        // Without a build the code is taken as deployed.
        None => CodeKeys::AsDeployed(info.as_ref()),
    };
    let params = upstream
        .parameters(r, code, Inputs::WhereKnown, &scope.env)
        .await?;
    let desired = desired::state(&r.template, &params, &r.tags)?;
    Ok(StackDiff::new(
        stack,
        &r.stack_name,
        deployed.as_ref(),
        &desired,
    ))
}
