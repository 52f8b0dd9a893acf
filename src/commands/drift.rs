//! `stackctl drift`: how the deployed resources of an environment differ
//! from their stacks' templates, by CloudFormation's drift detection
//! (read-only: nothing is changed).

use super::{runtime, Scope};
use crate::aws::cloudformation::SdkCloudFormation;
use crate::cli::{DriftArgs, GlobalArgs};
use crate::deploy::drift::{detect, StackDrift};
use crate::deploy::wait::SystemClock;
use crate::exit::ExitStatus;
use crate::output::Printer;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// The drift of every selected stack.
#[derive(Debug, Serialize)]
pub struct DriftReport {
    /// Environment.
    pub env: String,
    /// Whether any resource drifted.
    pub drifted: bool,
    /// Per stack, in dependency order.
    pub stacks: Vec<StackDrift>,
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.stacks {
            writeln!(f, "{s}")?;
        }
        let drifted = self.stacks.iter().filter(|s| s.drifted()).count();
        write!(
            f,
            "{drifted} of {} stack{} in {} drifted",
            self.stacks.len(),
            if self.stacks.len() == 1 { "" } else { "s" },
            self.env
        )
    }
}

/// Detects drift; the report and the exit status (2 for drift with
/// --exit-code).
pub fn run(
    root: &Path,
    args: DriftArgs,
    global: &GlobalArgs,
    printer: Printer,
) -> anyhow::Result<(DriftReport, ExitStatus)> {
    let DriftArgs {
        env,
        stacks,
        exit_code,
    } = args;
    let scope = Scope::load(root, &env, &stacks)?;
    let report = runtime()?.block_on(async {
        // Nothing is deployed on an emulator that is not running.
        let sdk = scope
            .connect(global.endpoint_url.as_deref(), false, printer)
            .await?;
        let cfn = SdkCloudFormation::new(&sdk);
        let clock = SystemClock::default();
        let found = futures_util::future::join_all(scope.stacks.iter().map(|stack| {
            let name = &scope.rendered(stack).stack_name;
            detect(&cfn, &clock, stack, name)
        }))
        .await;
        let mut stacks = Vec::new();
        for drift in found {
            stacks.push(drift?);
        }
        anyhow::Ok(DriftReport {
            env: scope.env.clone(),
            drifted: stacks.iter().any(StackDrift::drifted),
            stacks,
        })
    })?;
    let status = if exit_code && report.drifted {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    };
    Ok((report, status))
}
