//! The selection every AWS command works on: a valid project, one of its
//! environments and the stacks asked for, rendered; and what connecting
//! to that environment and building its functions takes.

use crate::build::Selection;
use crate::exit::UsageError;
use crate::model::{Environment, Project};
use crate::output::Printer;
use crate::render::Rendered;
use crate::ui::timings;
use std::path::Path;

/// A valid project with one environment and the stacks a command works on.
pub struct Scope {
    /// The project.
    pub project: Project,
    /// The environment's name.
    pub env: String,
    /// The selected stacks, in dependency order.
    pub stacks: Vec<String>,
    /// Every stack of the environment, rendered.
    pub rendered: Vec<Rendered>,
}

impl Scope {
    /// Validates the project at `root`, rendered in environment `env`
    /// (`validate` renders every environment), and selects `wanted` stacks
    /// (all when empty).
    pub fn load(root: &Path, env: &str, wanted: &[String]) -> anyhow::Result<Self> {
        let (project, rendered) = crate::validate::project_for(root, env)?;
        check_env(&project, env)?;
        let order = crate::validate::order(&project).unwrap_or_default();
        let stacks = select_stacks(&project, &order, wanted)?;
        let rendered = rendered.into_iter().filter(|r| r.env == env).collect();
        Ok(Self {
            project,
            env: env.to_string(),
            stacks,
            rendered,
        })
    }

    /// The environment's settings.
    pub fn environment(&self) -> &Environment {
        &self.project.file.environments[&self.env]
    }

    /// The rendered stack `stack`.
    pub fn rendered(&self, stack: &str) -> &Rendered {
        self.rendered
            .iter()
            .find(|r| r.stack == stack)
            .expect("every stack is rendered for every environment")
    }

    /// Stacks each selected stack depends on.
    pub fn dependencies(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.project
            .file
            .stacks
            .iter()
            .map(|(k, v)| (k.clone(), v.depends_on.clone()))
            .collect()
    }

    /// Makes sure the environment's emulator answers (starting one when
    /// `start`, and saying so), then loads the SDK configuration.
    pub async fn connect(
        &self,
        endpoint_override: Option<&str>,
        start: bool,
        printer: Printer,
    ) -> anyhow::Result<aws_config::SdkConfig> {
        let _ = printer;
        let e = self.environment();
        if let Some(url) = e.endpoint(endpoint_override) {
            let state = self.project.root.join(".stackctl");
            let own = e.emulator_endpoint(endpoint_override).is_some();
            let when_silent = if start && own {
                crate::emulator::WhenSilent::Start
            } else {
                crate::emulator::WhenSilent::Fail {
                    hint: self.silent_hint(&url, own, endpoint_override.is_some()),
                }
            };
            let emulator = crate::emulator::ensure(&url, &state, when_silent)?;
            // Always said, even with --quiet or JSON: a process now runs
            // that the user did not start.
            if let Some(note) = emulator.note() {
                eprintln!("{note}");
            }
        }
        Ok(crate::aws::sdk_config(e, endpoint_override).await)
    }

    /// What to do when nothing answers at the local endpoint `url`.
    fn silent_hint(&self, url: &str, own_emulator: bool, overridden: bool) -> String {
        let env = &self.env;
        let by_hand = crate::emulator::manual_start(url).unwrap_or_default();
        if own_emulator {
            format!("`stackctl deploy --env {env}` starts the emulator, or start it yourself: {by_hand}")
        } else if overridden {
            format!("check --endpoint-url / AWS_ENDPOINT_URL; stackctl starts an emulator only at an environment's own `endpoint_url`, for an environment with `emulator: moto` (or start one yourself: {by_hand})")
        } else {
            format!("start the emulator yourself ({by_hand}), or add `emulator: moto` to environment `{env}` in stackctl.yaml and stackctl starts it")
        }
    }
}

impl Scope {
    /// [`Scope::connect`] (starting a local emulator), then one
    /// CloudFormation call, so that missing credentials, an unreachable
    /// endpoint or a missing permission show before any long work.
    pub async fn preflight(
        &self,
        endpoint_override: Option<&str>,
        printer: Printer,
    ) -> anyhow::Result<aws_config::SdkConfig> {
        let sdk = self.connect(endpoint_override, true, printer).await?;
        let cfn = crate::aws::cloudformation::SdkCloudFormation::new(&sdk);
        self.check_access(&cfn).await?;
        Ok(sdk)
    }

    /// The hot-swap markers in the environment's artefact bucket, by stack
    /// name (none when the project has no functions).
    pub async fn hotswap_markers(
        &self,
        sdk: &aws_config::SdkConfig,
    ) -> anyhow::Result<std::collections::BTreeMap<String, crate::deploy::hotswap::Marker>> {
        if crate::build::functions(&self.project, Some(&self.env))?.is_empty() {
            return Ok(Default::default());
        }
        let store = crate::aws::artefacts::S3Artefacts::new(sdk);
        let bucket = self
            .environment()
            .artefact_bucket(&self.project.file.project, &self.env);
        crate::deploy::hotswap::markers(&store, &bucket).await
    }

    /// One CloudFormation call (describing the first selected stack):
    /// fails with a clear message when credentials, the endpoint or the
    /// permission are missing.
    pub async fn check_access<C: crate::aws::cloudformation::CloudFormation>(
        &self,
        cfn: &C,
    ) -> anyhow::Result<()> {
        if let Some(first) = self.stacks.first() {
            cfn.describe(&self.rendered(first).stack_name).await?;
        }
        Ok(())
    }
}

impl Scope {
    /// Fingerprints the functions of the selected stacks, connects to AWS
    /// and builds what changed. When something must compile, one
    /// CloudFormation call first shows missing credentials, an unreachable
    /// endpoint or a missing permission before a build that may take
    /// minutes. (`deploy` and `diff` both build before they compare.)
    pub fn connect_and_build(
        &self,
        endpoint: Option<&str>,
        printer: Printer,
        rt: &tokio::runtime::Runtime,
    ) -> anyhow::Result<(aws_config::SdkConfig, Vec<crate::build::BuiltFunction>)> {
        let plan = self.function_plan()?;
        timings::lap("fingerprint the functions");
        let sdk = if plan.needs_compile() {
            rt.block_on(self.preflight(endpoint, printer))?
        } else {
            rt.block_on(self.connect(endpoint, true, printer))?
        };
        timings::lap("connect (emulator check, SDK setup)");
        let built = plan.execute(printer)?.functions;
        timings::lap("build the functions");
        Ok((sdk, built))
    }

    /// The build plan of the functions of the selected stacks.
    pub fn function_plan(&self) -> anyhow::Result<crate::build::BuildPlan> {
        let crates: Vec<String> = crate::build::functions(&self.project, Some(&self.env))?
            .into_iter()
            .filter(|f| f.uses.iter().any(|u| self.stacks.contains(&u.stack)))
            .map(|f| f.crate_name)
            .collect();
        if crates.is_empty() {
            // No function in these stacks (an empty selection would mean all).
            return Ok(crate::build::BuildPlan::empty(&self.project.root));
        }
        crate::build::plan(
            &self.project,
            &Selection {
                names: crates,
                env: Some(self.env.clone()),
            },
        )
    }
}

/// Checks that `env` is an environment of the project.
pub fn check_env(project: &Project, env: &str) -> Result<(), UsageError> {
    if project.file.environments.contains_key(env) {
        return Ok(());
    }
    let names: Vec<&str> = project
        .file
        .environments
        .keys()
        .map(String::as_str)
        .collect();
    let hint = match crate::diagnostics::closest(env, names.iter().copied()) {
        Some(b) => format!("did you mean `{b}`?"),
        None => format!("environments: {}", names.join(", ")),
    };
    Err(UsageError::new(format!(
        "unknown environment `{env}`\nhint: {hint}"
    )))
}

/// The requested stacks in deployment order; all of them when none is named.
pub fn select_stacks(
    project: &Project,
    order: &[String],
    wanted: &[String],
) -> Result<Vec<String>, UsageError> {
    for w in wanted {
        if !project.stacks.contains_key(w) {
            let hint = match crate::diagnostics::closest(w, order.iter().map(String::as_str)) {
                Some(b) => format!("did you mean `{b}`?"),
                None => format!("stacks: {}", order.join(", ")),
            };
            return Err(UsageError::new(format!(
                "unknown stack `{w}`\nhint: {hint}"
            )));
        }
    }
    Ok(order
        .iter()
        .filter(|s| wanted.is_empty() || wanted.contains(s))
        .cloned()
        .collect())
}
