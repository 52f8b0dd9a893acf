//! `stacks/NAME.yaml`: one stack's parameters, resources, outputs.
//!
//! Resources are typed by `type:`. Each kind is a struct in its own module
//! under [`crate::kinds`]; the loader reads `type` first and then the rest
//! of the mapping into the kind's struct, so an error inside a resource is
//! located at its exact field.

use super::value::ParamValue;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The top-level fields of a stack file, in the order of [`StackFile`].
pub const FIELDS: &[&str] = &[
    "description",
    "parameters",
    "resources",
    "outputs",
    "probes",
];

/// A stack file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackFile {
    /// What the stack is for; becomes the template's Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Values that vary by environment and reach resources as `${param.NAME}`.
    #[serde(default)]
    pub parameters: BTreeMap<String, Parameter>,
    /// Resources by key (`[a-z][a-z0-9_]*`); read by [`super::load`] into [`Resource`].
    #[serde(default)]
    pub resources: BTreeMap<String, serde_yaml::Value>,
    /// Stack outputs by name (PascalCase), exported as `STACKNAME-OUTPUT`.
    #[serde(default)]
    pub outputs: BTreeMap<String, Output>,
    /// Requests `stackctl health` sends to the deployed stack, by name;
    /// read by [`super::load`] into [`super::probe::Probe`].
    #[serde(default)]
    pub probes: BTreeMap<String, serde_yaml::Value>,
}

/// A stack parameter; becomes a CloudFormation parameter whose value is
/// resolved per environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// `string`, `number` or `boolean`.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Value used where no environment gives one.
    #[serde(default)]
    pub default: Option<ParamValue>,
    /// Values by environment name.
    #[serde(default)]
    pub env: BTreeMap<String, ParamValue>,
    /// Shown in the template and in `--help`-like listings.
    #[serde(default)]
    pub description: Option<String>,
    /// Smallest allowed number.
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest allowed number.
    #[serde(default)]
    pub max: Option<f64>,
    /// The only allowed values.
    #[serde(default)]
    pub allowed: Option<Vec<ParamValue>>,
    /// Takes its value at deploy time from an output of a stack this one
    /// depends on: `STACK.OUTPUT`.
    #[serde(default)]
    pub from_output: Option<String>,
}

/// Type of a stack parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// Any text.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
}

/// A stack output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// The value, with `${resource.attribute}` references.
    pub value: String,
    /// What it is.
    #[serde(default)]
    pub description: Option<String>,
    /// Export it as `STACKNAME-OUTPUT` for other stacks (default true).
    #[serde(default = "yes")]
    pub export: bool,
}

fn yes() -> bool {
    true
}

pub use crate::kinds::{Resource, KINDS};
