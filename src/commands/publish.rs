//! `stackctl publish`: build, then upload the function zips to the
//! environment's artefact bucket and push the service images to its
//! registry (the local one, or each service's ECR repository).

use crate::cli::PublishArgs;
use crate::image::project::ImagePublishReport;
use crate::output::Printer;
use crate::publish::PublishReport;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// What `publish` did: the zips, then the images.
#[derive(Debug, Serialize)]
pub struct PublishAllReport {
    /// The function zips (the report's fields are at the top level).
    #[serde(flatten)]
    pub functions: PublishReport,
    /// The service images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<ImagePublishReport>,
}

impl fmt::Display for PublishAllReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let images = self.images.as_ref().filter(|i| !i.services.is_empty());
        if images.is_none() || !self.functions.functions.is_empty() {
            writeln!(f, "{}", self.functions)?;
        }
        if let Some(i) = images {
            write!(f, "{i}")?;
            if !i.parameters.is_empty() {
                writeln!(f, "template parameters that name the images:")?;
                for (stack, params) in &i.parameters {
                    for (k, v) in params {
                        writeln!(f, "  {stack}  {k}  {v}")?;
                    }
                }
            }
            write!(
                f,
                "{} blob{} and manifest{} pushed",
                i.pushed(),
                if i.pushed() == 1 { "" } else { "s" },
                if i.pushed() == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

/// Resolves the arguments, builds and publishes.
pub fn run(
    root: &Path,
    args: PublishArgs,
    endpoint: Option<&str>,
    printer: Printer,
) -> anyhow::Result<PublishAllReport> {
    let PublishArgs { env, functions } = args;
    let (project, rendered) = crate::validate::project(root)?;
    super::check_env(&project, &env)?;
    let e = &project.file.environments[&env];
    let bucket = e.artefact_bucket(&project.file.project, &env);
    let all = crate::image::project::service_images(&project);
    let (images, rest) = crate::image::project::select(all, &functions);
    let built = if rest.is_empty() && !functions.is_empty() {
        Vec::new()
    } else {
        let selection = crate::build::Selection {
            names: rest,
            env: Some(env.clone()),
        };
        crate::build::build(root, &selection, printer)?.functions
    };
    let images = crate::image::project::build_images(root, &images, &rendered, printer)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sdk = crate::aws::sdk_config(e, endpoint).await;
        let store = crate::aws::artefacts::S3Artefacts::new(&sdk);
        let functions =
            crate::publish::publish(&store, root, &env, &bucket, &e.region, &built, &rendered)
                .await?;
        let images = if images.images.is_empty() {
            None
        } else {
            Some(
                crate::image::project::publish_images(
                    &project,
                    &env,
                    &sdk,
                    &images.images,
                    &rendered,
                )
                .await?,
            )
        };
        Ok(PublishAllReport { functions, images })
    })
}
