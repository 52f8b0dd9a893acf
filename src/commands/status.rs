//! `stackctl status` and `stackctl outputs`: what is deployed, read from
//! CloudFormation.

use super::{runtime, Scope};
use crate::aws::cloudformation::{rfc3339_opt, CloudFormation, SdkCloudFormation};
use crate::cli::{GlobalArgs, StackArgs};
use crate::deploy::hotswap::{self, HotSwapped};
use crate::output::Printer;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::SystemTime;

/// One stack as deployed.
#[derive(Debug, Serialize)]
pub struct StackStatus {
    /// The stack's name in the project.
    pub stack: String,
    /// CloudFormation's name.
    pub stack_name: String,
    /// Whether it exists.
    pub deployed: bool,
    /// Its status.
    pub status: Option<String>,
    /// Why, when CloudFormation says.
    pub reason: Option<String>,
    /// Created.
    #[serde(serialize_with = "rfc3339_opt")]
    pub created: Option<SystemTime>,
    /// Last updated (created, if never updated).
    #[serde(serialize_with = "rfc3339_opt")]
    pub updated: Option<SystemTime>,
    /// Termination protection.
    pub termination_protection: bool,
    /// Outputs by key.
    pub outputs: BTreeMap<String, String>,
    /// Functions that run other code than the stack names (`deploy
    /// --hotswap`), until a normal deploy records it.
    pub hotswapped: Vec<HotSwapped>,
}

/// `status`: every selected stack.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// Environment.
    pub env: String,
    /// Per stack, in dependency order.
    pub stacks: Vec<StackStatus>,
}

/// `outputs`: the same, shown as outputs.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct OutputsReport(pub StatusReport);

fn time(t: Option<SystemTime>) -> String {
    t.map(crate::aws::cloudformation::rfc3339)
        .unwrap_or_else(|| "-".into())
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 4]> = self
            .stacks
            .iter()
            .map(|s| {
                [
                    s.stack.clone(),
                    s.stack_name.clone(),
                    s.status.clone().unwrap_or_else(|| "not deployed".into()),
                    if s.deployed {
                        time(s.updated.or(s.created))
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        let head = ["STACK", "CLOUDFORMATION NAME", "STATUS", "LAST UPDATE"];
        let w = |i: usize| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2) = (w(0), w(1), w(2));
        writeln!(
            f,
            "{:w0$}  {:w1$}  {:w2$}  {}",
            head[0], head[1], head[2], head[3]
        )?;
        for (r, s) in rows.iter().zip(&self.stacks) {
            writeln!(f, "{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3])?;
            if let Some(reason) = s.reason.as_deref().filter(|r| !r.is_empty()) {
                writeln!(f, "{:w0$}  {reason}", "")?;
            }
            for h in &s.hotswapped {
                writeln!(f, "{:w0$}  {h}", "")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for OutputsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.0.stacks {
            if !s.deployed {
                writeln!(f, "{} ({}): not deployed", s.stack, s.stack_name)?;
                continue;
            }
            if s.outputs.is_empty() {
                writeln!(f, "{} ({}): no outputs", s.stack, s.stack_name)?;
                continue;
            }
            writeln!(f, "{} ({})", s.stack, s.stack_name)?;
            let w = s.outputs.keys().map(String::len).max().unwrap_or(0);
            for (k, v) in &s.outputs {
                writeln!(f, "  {k:w$}  {v}")?;
            }
        }
        Ok(())
    }
}

/// Reads the status of the selected stacks.
pub fn run(
    root: &Path,
    args: StackArgs,
    global: &GlobalArgs,
    printer: Printer,
) -> anyhow::Result<StatusReport> {
    let StackArgs { env, stacks } = args;
    let scope = Scope::load(root, &env, &stacks)?;
    runtime()?.block_on(async {
        // Nothing can be deployed on an emulator that is not running.
        let sdk = scope
            .connect(global.endpoint_url.as_deref(), false, printer)
            .await?;
        let cfn = SdkCloudFormation::new(&sdk);
        let markers = scope.hotswap_markers(&sdk).await?;
        let mut out = Vec::new();
        for stack in &scope.stacks {
            let mut status = read(&cfn, &scope, stack).await?;
            status.hotswapped = hotswap::hot_swapped(&markers, &status.stack_name);
            out.push(status);
        }
        Ok(StatusReport {
            env: scope.env.clone(),
            stacks: out,
        })
    })
}

async fn read<C: CloudFormation>(
    cfn: &C,
    scope: &Scope,
    stack: &str,
) -> anyhow::Result<StackStatus> {
    let name = scope.rendered(stack).stack_name.clone();
    let info = cfn.describe(&name).await?;
    Ok(match info {
        Some(i) => StackStatus {
            stack: stack.to_string(),
            stack_name: name,
            deployed: true,
            status: Some(i.status),
            reason: i.reason,
            created: i.created,
            updated: i.updated,
            termination_protection: i.termination_protection,
            outputs: i.outputs,
            hotswapped: Vec::new(),
        },
        None => StackStatus {
            stack: stack.to_string(),
            stack_name: name,
            deployed: false,
            status: None,
            reason: None,
            created: None,
            updated: None,
            termination_protection: false,
            outputs: BTreeMap::new(),
            hotswapped: Vec::new(),
        },
    })
}
