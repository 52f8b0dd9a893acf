//! A stack's desired state, computed in one place for `deploy` and `diff`:
//! its rendered template and tags, and its parameter values (the
//! environment's, the code keys of its functions, and the outputs of the
//! stacks it takes values from). [`parameter_values`] is the pure part;
//! [`Upstream`] reads the other stacks' outputs, once per run.

use super::{effective_parameters, Desired, Method};
use crate::aws::cloudformation::{
    CfnError, CloudFormation, StackInfo, StackRequest, TemplateSource,
};
use crate::diff::{parse_template, DesiredState};
use crate::render::context::ARTEFACT_BUCKET_PARAM;
use crate::render::Rendered;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Outputs by stack, then output key.
pub type Outputs = BTreeMap<String, BTreeMap<String, String>>;

/// Where the code keys of a stack's functions come from.
#[derive(Debug, Clone, Copy)]
pub enum CodeKeys<'a> {
    /// This run's build: the stack's code-key parameters and its
    /// `ArtefactBucket` (see [`crate::publish::code_parameters`]; `None` for
    /// a stack without functions).
    Built(Option<&'a BTreeMap<String, String>>),
    /// No build (`diff --no-build`): the code is taken as deployed, so the
    /// deployed stack's code keys and `ArtefactBucket` stand (`None`: the
    /// stack is not deployed).
    AsDeployed(Option<&'a StackInfo>),
}

/// How the parameters fed by other stacks' outputs get their values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inputs {
    /// From the outputs of those stacks, which must be deployed and have
    /// them (`deploy`).
    Required,
    /// Shown as known after the deploy of those stacks, which this run
    /// deploys first (`deploy`'s plan); no output is read.
    AfterDeploy,
    /// From the outputs of those stacks where they have them, else shown as
    /// known after that stack's deploy (`diff`, which deploys nothing).
    WhereKnown,
}

/// The parameter values of stack `r` in environment `env`: the
/// environment's, then the code keys of its functions, then the outputs
/// of the stacks it takes values from. `found` holds the outputs of those
/// stacks that are deployed; with [`Inputs::Required`], a stack missing
/// from it, or an output missing from its stack, is an error naming both.
pub fn parameter_values(
    r: &Rendered,
    code: CodeKeys<'_>,
    inputs: Inputs,
    found: &Outputs,
    env: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut params = r.parameters.clone();
    match code {
        CodeKeys::Built(keys) => {
            if let Some(keys) = keys {
                params.extend(keys.clone());
            }
        }
        CodeKeys::AsDeployed(Some(info)) => {
            let bucket = ARTEFACT_BUCKET_PARAM.to_string();
            // Services' images too: what is deployed stands.
            let images: Vec<String> = r
                .inventory
                .iter()
                .filter(|i| i.kind == <crate::kinds::service::Service as crate::kinds::Kind>::NAME)
                .map(|i| crate::kinds::IMAGE.of(&crate::names::pascal(&i.key)))
                .collect();
            for key in r.code_parameters.values().chain([&bucket]).chain(&images) {
                if let Some(v) = info.parameters.get(key) {
                    params.insert(key.clone(), v.clone());
                }
            }
        }
        CodeKeys::AsDeployed(None) => {}
    }
    for (param, (stack, output)) in &r.output_parameters {
        let value = match inputs {
            Inputs::Required => {
                let values = found.get(stack).ok_or_else(|| {
                    anyhow::anyhow!(
                        "parameter {param} takes output {output} of stack `{stack}`, which is not deployed in {env}\nhint: deploy `{stack}` first (or both together)"
                    )
                })?;
                values.get(output).cloned().ok_or_else(|| {
                    anyhow::anyhow!(
                        "parameter {param} takes output {output} of stack `{stack}`, which has no such output\nhint: deploy `{stack}` again; with the local emulator, deploy it with --method direct (moto's change sets lose outputs)"
                    )
                })?
            }
            Inputs::AfterDeploy => {
                format!("(output {output} of {stack}, known after its deploy)")
            }
            Inputs::WhereKnown => found
                .get(stack)
                .and_then(|o| o.get(output).cloned())
                .unwrap_or_else(|| format!("(output {output} of {stack}, after its deploy)")),
        };
        params.insert(param.clone(), value);
    }
    Ok(params)
}

/// The outputs of other stacks as one run learns them: recorded when the
/// run deploys a stack (or finds it unchanged), else read from
/// CloudFormation the first time they are needed and remembered.
pub struct Upstream<'a, C> {
    cfn: &'a C,
    rendered: &'a [Rendered],
    known: RefCell<Outputs>,
}

impl<'a, C: CloudFormation> Upstream<'a, C> {
    /// Nothing known yet; `rendered` gives each stack's CloudFormation name.
    pub fn new(cfn: &'a C, rendered: &'a [Rendered]) -> Self {
        Self {
            cfn,
            rendered,
            known: RefCell::new(Outputs::new()),
        }
    }

    /// Records the outputs of `stack`, deployed (or found unchanged) now.
    pub fn record(&self, stack: &str, outputs: BTreeMap<String, String>) {
        self.known.borrow_mut().insert(stack.to_string(), outputs);
    }

    /// The outputs of `stack` (`None`: not deployed): as recorded, else
    /// from CloudFormation (then remembered).
    pub async fn outputs_of(
        &self,
        stack: &str,
    ) -> Result<Option<BTreeMap<String, String>>, CfnError> {
        if let Some(known) = self.known.borrow().get(stack) {
            return Ok(Some(known.clone()));
        }
        let name = &self
            .rendered
            .iter()
            .find(|r| r.stack == stack)
            .expect("every stack is rendered for every environment")
            .stack_name;
        let info = self.cfn.describe(name).await?;
        Ok(info.map(|i| {
            self.record(stack, i.outputs.clone());
            i.outputs
        }))
    }

    /// The outputs of the deployed stacks `r` takes values from, as far as
    /// `inputs` needs them (not at all for [`Inputs::AfterDeploy`]).
    pub async fn inputs_of(&self, r: &Rendered, inputs: Inputs) -> Result<Outputs, CfnError> {
        let mut found = Outputs::new();
        if inputs == Inputs::AfterDeploy {
            return Ok(found);
        }
        for (stack, _) in r.output_parameters.values() {
            if found.contains_key(stack) {
                continue;
            }
            if let Some(outputs) = self.outputs_of(stack).await? {
                found.insert(stack.clone(), outputs);
            }
        }
        Ok(found)
    }

    /// [`parameter_values`] of `r`, with the outputs it needs read here.
    pub async fn parameters(
        &self,
        r: &Rendered,
        code: CodeKeys<'_>,
        inputs: Inputs,
        env: &str,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let found = self.inputs_of(r, inputs).await?;
        parameter_values(r, code, inputs, &found, env)
    }
}

/// What `diff` compares with the deployed stack: the rendered template,
/// parsed, the parameter values CloudFormation would hold (the template's
/// defaults overlaid by `parameters`), and the tags.
pub fn state(
    template: &str,
    parameters: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> anyhow::Result<DesiredState> {
    Ok(DesiredState {
        template: parse_template(template)?,
        parameters: effective_parameters(template, parameters),
        tags: tags.clone(),
    })
}

/// How `deploy` applies every stack of one run.
#[derive(Debug, Clone, Copy)]
pub struct Apply {
    /// Change set or direct.
    pub method: Method,
    /// Update only the functions' code when nothing else differs.
    pub hotswap: bool,
    /// Turn termination protection on (the environment's setting).
    pub termination_protection: bool,
}

/// What `deploy` asks the engine for: stack `r` from `template` (inline,
/// or the URL of its upload) with `parameters` (see [`parameter_values`]).
pub fn desired(
    r: &Rendered,
    template: TemplateSource,
    parameters: BTreeMap<String, String>,
    apply: Apply,
) -> Desired {
    Desired {
        stack: r.stack.clone(),
        request: StackRequest {
            name: r.stack_name.clone(),
            template,
            parameters,
            tags: r.tags.clone(),
            termination_protection: apply.termination_protection,
        },
        template: r.template.clone(),
        method: apply.method,
        hotswap: apply.hotswap,
        code: r
            .code_parameters
            .iter()
            .map(|(key, param)| (param.clone(), crate::names::pascal(key)))
            .collect(),
    }
}

#[cfg(test)]
mod tests;
