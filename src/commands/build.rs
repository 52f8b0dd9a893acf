//! `stackctl build`: the project's Rust Lambda functions as deterministic zips.

use crate::build::{BuildReport, Selection};
use crate::cli::BuildArgs;
use crate::output::Printer;
use std::path::Path;

/// Resolves the arguments and builds.
pub fn run(root: &Path, args: BuildArgs, printer: Printer) -> anyhow::Result<BuildReport> {
    let BuildArgs { functions } = args;
    let selection = Selection { names: functions };
    crate::build::build(root, &selection, printer)
}
