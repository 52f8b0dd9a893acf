//! `stackctl build`: the project's Rust Lambda functions as deterministic
//! zips, and its services as deterministic OCI images (`target/images/`).

use crate::build::{BuildReport, Selection};
use crate::cli::BuildArgs;
use crate::image::project::ImageBuildReport;
use crate::output::Printer;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// What `build` produced: the function zips and the service images.
#[derive(Debug, Serialize)]
pub struct BuildAllReport {
    /// The functions (the report's fields are at the top level).
    #[serde(flatten)]
    pub functions: BuildReport,
    /// The service images.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<crate::image::project::BuiltImage>,
}

impl fmt::Display for BuildAllReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.images.is_empty() || !self.functions.functions.is_empty() {
            write!(f, "{}", self.functions)?;
        }
        write!(
            f,
            "{}",
            ImageBuildReport {
                images: self.images.clone()
            }
        )
    }
}

/// Resolves the arguments and builds.
pub fn run(root: &Path, args: BuildArgs, printer: Printer) -> anyhow::Result<BuildAllReport> {
    let BuildArgs { functions, env } = args;
    let (project, rendered) = crate::validate::project(root)?;
    if let Some(env) = &env {
        super::check_env(&project, env)?;
    }
    let all = crate::image::project::service_images(&project);
    let (images, rest) = crate::image::project::select(all, &functions);
    // Names that are all services build no function; no names build all.
    let functions = if rest.is_empty() && !functions.is_empty() {
        BuildReport {
            glibc_limit: crate::build::glibc::LAMBDA_GLIBC,
            functions: Vec::new(),
        }
    } else {
        crate::build::build_project(&project, &Selection { names: rest, env }, printer)?
    };
    let images = crate::image::project::build_images(root, &images, &rendered, printer)?;
    Ok(BuildAllReport {
        functions,
        images: images.images,
    })
}
