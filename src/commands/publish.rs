//! `stackctl publish`: build, then upload to the environment's artefact bucket.

use crate::cli::PublishArgs;
use crate::output::Printer;
use crate::publish::PublishReport;
use std::path::Path;

/// Resolves the arguments, builds and publishes.
pub fn run(
    root: &Path,
    args: PublishArgs,
    endpoint: Option<&str>,
    printer: Printer,
) -> anyhow::Result<PublishReport> {
    let PublishArgs { env, functions } = args;
    let (project, rendered) = crate::validate::project(root)?;
    super::check_env(&project, &env)?;
    let e = &project.file.environments[&env];
    let bucket = e.artefact_bucket(&project.file.project, &env);
    let built = crate::build::build(root, &crate::build::Selection { names: functions }, printer)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sdk = crate::aws::sdk_config(e, endpoint).await;
        let store = crate::aws::artefacts::S3Artefacts::new(&sdk);
        crate::publish::publish(
            &store,
            root,
            &env,
            &bucket,
            &e.region,
            &built.functions,
            &rendered,
        )
        .await
    })
}
