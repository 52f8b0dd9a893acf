//! What a deploy would change, stack by stack: the deployed template against
//! the freshly rendered one (resources, their IAM policy and security group
//! rules, outputs), plus stack parameter values and stack tags.
//!
//! Pure: the caller fetches the deployed state and renders the desired one.
//! Values are compared as CloudFormation sees them (key order and `256`
//! against `"256"` do not matter) and walked element by element, keyed
//! where CloudFormation has natural keys (see `keyed.rs`). Output follows rain's
//! shape (`+` added, `-` removed, `~` changed, keys sorted, unchanged parts
//! hidden), names the properties that make CloudFormation replace a resource
//! (static table in [`replacement`]), and flags changes that broaden access
//! the way `cdk diff` does ([`iam`], [`network`]). Text is the `Display` of
//! [`StackDiff`], JSON its `Serialize`, and [`StackDiff::to_markdown`] /
//! [`markdown_report`] give a pull-request comment.

mod access;
pub mod iam;
mod keyed;
mod markdown;
pub mod network;
pub mod replacement;
mod show;
mod template;
#[cfg(test)]
mod testing;
mod text;

pub use access::{AccessChange, Broadening, BroadeningKind, Change, WARNING};
pub use iam::{diff_iam, IamChange, IamStatement};
pub use markdown::markdown_report;
pub use network::{diff_network, Direction, NetworkChange, NetworkRule};
pub use replacement::requires_replacement;
pub use template::parse_template;

use keyed::{diff_value, At, Leaf};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What CloudFormation shows, and stackctl shows, for a `NoEcho` parameter.
pub const MASK: &str = "****";

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The resource is created.
    Add,
    /// The resource is updated in place, or replaced (see [`ResourceChange::replacement`]).
    Modify,
    /// The resource is deleted.
    Remove,
}

impl Action {
    /// `+`, `~` or `-`.
    pub fn sign(self) -> char {
        match self {
            Action::Add => '+',
            Action::Modify => '~',
            Action::Remove => '-',
        }
    }
}

/// One changed value at a path inside a resource, e.g. `Properties.MemorySize`,
/// `Properties.Environment.Variables.TABLE_NAME`, `Properties.Tags[Key=team].Value`,
/// `DeletionPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyChange {
    /// Where the value sits in the resource body: keys joined by `.`; an
    /// array element as `[Field=value]` where the array has a natural key
    /// (`Tags[Key=team]`, `Statement[Sid=ReadTable]`), as `[i]` where order
    /// matters (the new position; the old one for a removed element). An
    /// element added to or removed from a set-like list (IAM `Action`,
    /// `Resource`, principals, ...) or a list matched by content (security
    /// group rules, IAM statements without a `Sid`) is reported at the
    /// list's own path, the element as its value.
    pub path: String,
    /// The deployed value; `None` when it is new. Object keys sorted.
    pub before: Option<Value>,
    /// The desired value; `None` when it is removed. Object keys sorted.
    pub after: Option<Value>,
    /// Changing this value makes CloudFormation replace the resource: a
    /// property in the [`replacement`] table, or the resource `Type`.
    pub requires_replacement: bool,
}

/// What happens to one resource of a stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceChange {
    /// The resource's key under `Resources`.
    pub logical_id: String,
    /// The resource type (the desired one, for a modified resource).
    pub resource_type: String,
    /// Add, modify or remove.
    pub action: Action,
    /// true when any changed property requires replacement (static table), or
    /// the resource type itself changed.
    pub replacement: bool,
    /// What makes CloudFormation replace it: the top-level properties (or
    /// `Type`) whose change requires replacement, sorted; empty when it is
    /// updated in place.
    pub replacement_causes: Vec<String>,
    /// What differs, for [`Action::Modify`]; empty otherwise. In path order:
    /// keys sorted at each level, array elements by key or position.
    pub properties: Vec<PropertyChange>,
}

/// A template output that is added, removed or redefined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputChange {
    /// The output's name.
    pub name: String,
    /// Added, modified or removed.
    pub action: Action,
    /// The deployed definition (`Value`, `Export`, `Description`,
    /// `Condition`), keys sorted; `None` when the output is new.
    pub before: Option<Value>,
    /// The rendered definition, keys sorted; `None` when it goes away.
    pub after: Option<Value>,
    /// What differs inside the definition, for [`Action::Modify`], with
    /// paths relative to the output (`Value`, `Export.Name`).
    pub properties: Vec<PropertyChange>,
}

/// A named scalar that changed (stack parameter value, stack tag).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueChange {
    /// Parameter or tag name.
    pub name: String,
    /// The deployed value; `None` when it is new. [`MASK`] for a `NoEcho`
    /// parameter.
    pub before: Option<String>,
    /// The desired value; `None` when it goes away. [`MASK`] for a `NoEcho`
    /// parameter.
    pub after: Option<String>,
}

/// What a deploy would change in one stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackDiff {
    /// The stack's name in the project, e.g. `upload`.
    pub stack: String,
    /// The CloudFormation stack name, e.g. `studio-upload-dev`.
    pub stack_name: String,
    /// false: the stack does not exist yet (everything is added).
    pub deployed: bool,
    /// Whether the deploy widens access: not at all, as a new stack, or
    /// the access of a deployed stack.
    pub access: AccessChange,
    /// Resource changes, sorted by logical id.
    pub resources: Vec<ResourceChange>,
    /// IAM statements added and removed, per resource, sorted by logical id.
    pub iam: Vec<IamChange>,
    /// Security group rules added and removed, per resource, sorted by
    /// logical id.
    pub network: Vec<NetworkChange>,
    /// Every change that broadens access (IAM first, then network), as
    /// reasons a reader (or `deploy`'s second question) can name.
    pub broadening: Vec<Broadening>,
    /// Template outputs whose definition changed, sorted by name.
    pub outputs: Vec<OutputChange>,
    /// Stack parameter values, sorted by name; `NoEcho` values masked.
    pub parameters: Vec<ValueChange>,
    /// Stack tags, sorted by key.
    pub tags: Vec<ValueChange>,
}

/// A stack as CloudFormation has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeployedState {
    /// The template from GetTemplate, through [`parse_template`].
    pub template: Value,
    /// Parameter name -> value, from DescribeStacks (which shows [`MASK`]
    /// for a `NoEcho` parameter).
    pub parameters: BTreeMap<String, String>,
    /// Tag key -> value, from DescribeStacks.
    pub tags: BTreeMap<String, String>,
}

/// A stack as stackctl would deploy it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredState {
    /// The freshly rendered template.
    pub template: Value,
    /// Parameter name -> value that the deploy would pass.
    pub parameters: BTreeMap<String, String>,
    /// Tag key -> value that the deploy would set.
    pub tags: BTreeMap<String, String>,
}

impl StackDiff {
    /// Compares a stack's deployed state (`None`: not deployed) with its
    /// desired state.
    pub fn new(
        stack: &str,
        stack_name: &str,
        deployed: Option<&DeployedState>,
        desired: &DesiredState,
    ) -> Self {
        let none = BTreeMap::new();
        let (template, parameters, tags) = match deployed {
            Some(d) => (Some(&d.template), &d.parameters, &d.tags),
            None => (None, &none, &none),
        };
        let iam = diff_iam(template, &desired.template);
        let network = diff_network(template, &desired.template);
        let broadening: Vec<Broadening> = iam
            .iter()
            .flat_map(IamChange::broadening)
            .chain(network.iter().flat_map(NetworkChange::broadening))
            .collect();
        let access = match (broadening.is_empty(), deployed.is_some()) {
            (true, _) => AccessChange::None,
            (false, false) => AccessChange::NewStack,
            (false, true) => AccessChange::Broadens,
        };
        let secret: BTreeSet<String> = template
            .into_iter()
            .chain([&desired.template])
            .flat_map(no_echo_parameters)
            .collect();
        StackDiff {
            stack: stack.to_string(),
            stack_name: stack_name.to_string(),
            deployed: deployed.is_some(),
            access,
            resources: diff_resources(template, &desired.template),
            iam,
            network,
            broadening,
            outputs: diff_outputs(template, &desired.template),
            parameters: mask(diff_values(parameters, &desired.parameters), &secret),
            tags: diff_values(tags, &desired.tags),
        }
    }

    /// Whether a deploy would change anything (a stack that is not deployed
    /// always has changes: it would be created).
    pub fn has_changes(&self) -> bool {
        !self.deployed
            || !self.resources.is_empty()
            || !self.outputs.is_empty()
            || !self.parameters.is_empty()
            || !self.tags.is_empty()
    }

    /// Counts for the summary line: (add, modify, remove).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |a: Action| self.resources.iter().filter(|r| r.action == a).count();
        (
            count(Action::Add),
            count(Action::Modify),
            count(Action::Remove),
        )
    }

    /// Whether any change broadens access, a new stack's grants included
    /// (see [`StackDiff::access`] to tell the two apart).
    pub fn broadens(&self) -> bool {
        !self.broadening.is_empty()
    }

    /// The changes that broaden access, IAM first, then network.
    pub fn broadening(&self) -> &[Broadening] {
        &self.broadening
    }

    /// The resources CloudFormation would replace, with what causes it.
    pub fn replacements(&self) -> impl Iterator<Item = &ResourceChange> {
        self.resources.iter().filter(|r| r.replacement)
    }
}

/// Compares the `Resources` of two templates by logical id; `before` is
/// `None` when the stack is not deployed (every resource is added).
pub fn diff_resources(before: Option<&Value>, after: &Value) -> Vec<ResourceChange> {
    let empty = Map::new();
    let old = before.and_then(resources).unwrap_or(&empty);
    let new = resources(after).unwrap_or(&empty);
    let ids: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    ids.into_iter()
        .filter_map(|id| match (old.get(id), new.get(id)) {
            (None, Some(body)) => Some(whole(id, body, Action::Add)),
            (Some(body), None) => Some(whole(id, body, Action::Remove)),
            (Some(a), Some(b)) => modified(id, a, b),
            (None, None) => None,
        })
        .collect()
}

/// Compares the `Outputs` of two templates by name; an output counts as
/// changed when its definition (value, export, condition, description) does.
pub fn diff_outputs(before: Option<&Value>, after: &Value) -> Vec<OutputChange> {
    let outputs = |t: &Value| t.get("Outputs").and_then(Value::as_object).cloned();
    let old = before.and_then(outputs).unwrap_or_default();
    let new = outputs(after).unwrap_or_default();
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (old.get(name), new.get(name));
            let (action, properties) = match (a, b) {
                (Some(a), Some(b)) => {
                    let properties = fields(a, b, |_| false);
                    if properties.is_empty() {
                        return None;
                    }
                    (Action::Modify, properties)
                }
                (None, _) => (Action::Add, Vec::new()),
                (_, None) => (Action::Remove, Vec::new()),
            };
            Some(OutputChange {
                name: name.clone(),
                action,
                before: a.map(sorted),
                after: b.map(sorted),
                properties,
            })
        })
        .collect()
}

/// Compares two name -> value maps (stack parameters, stack tags).
pub fn diff_values(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<ValueChange> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .map(|name| ValueChange {
            name: name.clone(),
            before: before.get(name).cloned(),
            after: after.get(name).cloned(),
        })
        .collect()
}

/// The parameters a template declares `NoEcho: true` (or `"true"`).
fn no_echo_parameters(template: &Value) -> Vec<String> {
    let Some(parameters) = template.get("Parameters").and_then(Value::as_object) else {
        return Vec::new();
    };
    parameters
        .iter()
        .filter(|(_, p)| {
            p.get("NoEcho")
                .and_then(keyed::scalar_text)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Hides the values of `secret` parameters. CloudFormation reports a
/// deployed `NoEcho` value as [`MASK`], so it cannot be compared with the
/// value a deploy would pass: such a parameter is left out rather than
/// reported as changed on every diff. One that appears or disappears is
/// still listed, masked.
fn mask(changes: Vec<ValueChange>, secret: &BTreeSet<String>) -> Vec<ValueChange> {
    changes
        .into_iter()
        .filter(|c| {
            !(secret.contains(&c.name) && c.before.as_deref() == Some(MASK) && c.after.is_some())
        })
        .map(|c| {
            if !secret.contains(&c.name) {
                return c;
            }
            let hide = |v: Option<String>| v.map(|_| MASK.to_string());
            ValueChange {
                name: c.name,
                before: hide(c.before),
                after: hide(c.after),
            }
        })
        .collect()
}

/// A template's `Resources`, when it is an object.
fn resources(template: &Value) -> Option<&Map<String, Value>> {
    template.get("Resources").and_then(Value::as_object)
}

fn resource_type(body: &Value) -> &str {
    body.get("Type").and_then(Value::as_str).unwrap_or_default()
}

/// A resource added or removed as a whole.
fn whole(id: &str, body: &Value, action: Action) -> ResourceChange {
    ResourceChange {
        logical_id: id.to_string(),
        resource_type: resource_type(body).to_string(),
        action,
        replacement: false,
        replacement_causes: Vec::new(),
        properties: Vec::new(),
    }
}

/// A resource in both templates: `None` when nothing differs.
fn modified(id: &str, old: &Value, new: &Value) -> Option<ResourceChange> {
    // A missing `Properties` is an empty one, so adding the first property
    // reports that property, not the whole block.
    let with_properties = |v: &Value| {
        let mut body = v.as_object().cloned().unwrap_or_default();
        body.entry("Properties")
            .or_insert_with(|| Value::Object(Map::new()));
        Value::Object(body)
    };
    let ty = resource_type(new);
    let properties = fields(&with_properties(old), &with_properties(new), |path| {
        path == "Type" || top_level_property(path).is_some_and(|p| requires_replacement(ty, p))
    });
    if properties.is_empty() {
        return None;
    }
    let causes: BTreeSet<&str> = properties
        .iter()
        .filter(|p| p.requires_replacement)
        .filter_map(|p| top_level_property(&p.path).or((p.path == "Type").then_some("Type")))
        .collect();
    Some(ResourceChange {
        logical_id: id.to_string(),
        resource_type: ty.to_string(),
        action: Action::Modify,
        replacement: !causes.is_empty(),
        replacement_causes: causes.into_iter().map(str::to_string).collect(),
        properties,
    })
}

/// What differs between two objects (a non-object counts as empty), key by
/// key, paths starting at each key; `replaces` says which paths require
/// replacement.
fn fields(old: &Value, new: &Value, replaces: impl Fn(&str) -> bool) -> Vec<PropertyChange> {
    let empty = Map::new();
    let a = old.as_object().unwrap_or(&empty);
    let b = new.as_object().unwrap_or(&empty);
    let mut leaves: Vec<Leaf> = Vec::new();
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => diff_value(key, At::top(key), x, y, &mut leaves),
            (x, y) => leaves.push(Leaf {
                path: key.clone(),
                before: x.cloned(),
                after: y.cloned(),
            }),
        }
    }
    leaves
        .into_iter()
        .map(|leaf| PropertyChange {
            requires_replacement: replaces(&leaf.path),
            path: leaf.path,
            before: leaf.before.as_ref().map(sorted),
            after: leaf.after.as_ref().map(sorted),
        })
        .collect()
}

/// `Properties.X.Y` / `Properties.X[Key=k]` -> `X`.
fn top_level_property(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("Properties.")?;
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// A copy with every object's keys in sorted order.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{self, map};
    use super::*;
    use serde_json::json;

    fn paths(change: &ResourceChange) -> Vec<&str> {
        change.properties.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn detects_added_removed_and_modified_resources() {
        let before = json!({"Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 256}},
            "Old": {"Type": "AWS::SNS::Topic"},
            "Same": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 1}},
        }});
        let after = json!({"Resources": {
            "New": {"Type": "AWS::SQS::Queue"},
            "Same": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 1}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 512}},
        }});
        let changes = diff_resources(Some(&before), &after);
        let summary: Vec<(&str, &str, Action)> = changes
            .iter()
            .map(|c| (c.logical_id.as_str(), c.resource_type.as_str(), c.action))
            .collect();
        assert_eq!(
            summary,
            [
                ("Fn", "AWS::Lambda::Function", Action::Modify),
                ("New", "AWS::SQS::Queue", Action::Add),
                ("Old", "AWS::SNS::Topic", Action::Remove),
            ]
        );
        assert!(changes[1].properties.is_empty() && changes[2].properties.is_empty());
        assert_eq!(
            changes[0].properties,
            [PropertyChange {
                path: "Properties.MemorySize".into(),
                before: Some(json!(256)),
                after: Some(json!(512)),
                requires_replacement: false,
            }]
        );
        assert!(!changes[0].replacement);
        assert!(changes[0].replacement_causes.is_empty());
    }

    #[test]
    fn nested_objects_and_arrays_give_keyed_leaf_paths() {
        let before = json!({"Resources": {"Fn": {
            "Type": "AWS::Lambda::Function",
            "DeletionPolicy": "Delete",
            "Properties": {
                "Environment": {"Variables": {"TABLE_NAME": "a", "GONE": "x"}},
                "Tags": [{"Key": "team", "Value": "a"}, {"Key": "app", "Value": "b"}],
                "Layers": ["l1", "l2"],
                "Description": "old",
            },
        }}});
        let after = json!({"Resources": {"Fn": {
            "Type": "AWS::Lambda::Function",
            "DeletionPolicy": "Retain",
            "DependsOn": ["Role"],
            "Properties": {
                "Environment": {"Variables": {"TABLE_NAME": "b", "NEW": "y"}},
                "Tags": [{"Key": "app", "Value": "c"}, {"Key": "team", "Value": "a"}],
                "Layers": ["l1", "l3"],
                "Description": "old",
            },
        }}});
        let changes = diff_resources(Some(&before), &after);
        assert_eq!(
            paths(&changes[0]),
            [
                "DeletionPolicy",
                "DependsOn",
                "Properties.Environment.Variables.GONE",
                "Properties.Environment.Variables.NEW",
                "Properties.Environment.Variables.TABLE_NAME",
                "Properties.Layers[1]",
                "Properties.Tags[Key=app].Value",
            ]
        );
        let p = &changes[0].properties;
        assert_eq!((&p[2].before, &p[2].after), (&Some(json!("x")), &None));
        assert_eq!((&p[3].before, &p[3].after), (&None, &Some(json!("y"))));
        assert_eq!(
            (&p[5].before, &p[5].after),
            (&Some(json!("l2")), &Some(json!("l3")))
        );
        assert_eq!(
            (&p[6].before, &p[6].after),
            (&Some(json!("b")), &Some(json!("c")))
        );
    }

    #[test]
    fn arrays_of_different_length_are_diffed_by_element() {
        let before = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue",
            "Properties": {"Tags": [{"Key": "a", "Value": "1"}]}}}});
        let after = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue",
            "Properties": {"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}}});
        let changes = diff_resources(Some(&before), &after);
        assert_eq!(paths(&changes[0]), ["Properties.Tags[Key=b]"]);
        assert_eq!(
            changes[0].properties[0].after,
            Some(json!({"Key": "b", "Value": "2"}))
        );
    }

    #[test]
    fn replacement_is_flagged_for_bucket_name_not_memory_size() {
        let before = json!({"Resources": {
            "B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "a"}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 128}},
        }});
        let after = json!({"Resources": {
            "B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "b", "Tags": []}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 256}},
        }});
        let changes = diff_resources(Some(&before), &after);
        let bucket = &changes[0];
        assert!(bucket.replacement);
        assert_eq!(bucket.replacement_causes, ["BucketName"]);
        assert_eq!(paths(bucket), ["Properties.BucketName", "Properties.Tags"]);
        assert!(bucket.properties[0].requires_replacement);
        assert!(!bucket.properties[1].requires_replacement);
        assert!(!changes[1].replacement);
        assert!(!changes[1].properties[0].requires_replacement);
    }

    #[test]
    fn nested_change_under_a_replacement_property_names_that_property() {
        let before = json!({"Resources": {"T": {"Type": "AWS::DynamoDB::Table",
            "Properties": {"TableName": "t", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}}}});
        let after = json!({"Resources": {"T": {"Type": "AWS::DynamoDB::Table",
            "Properties": {"TableName": "u", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}}}});
        let changes = diff_resources(Some(&before), &after);
        assert_eq!(
            paths(&changes[0]),
            [
                "Properties.KeySchema[AttributeName=id]",
                "Properties.KeySchema[AttributeName=pk]",
                "Properties.TableName",
            ]
        );
        assert!(changes[0].properties.iter().all(|p| p.requires_replacement));
        assert_eq!(changes[0].replacement_causes, ["KeySchema", "TableName"]);
        assert_eq!(
            top_level_property("Properties.KeySchema[AttributeName=id]"),
            Some("KeySchema")
        );
        assert_eq!(top_level_property("DeletionPolicy"), None);
    }

    #[test]
    fn a_changed_type_is_a_replacing_modify() {
        let before = json!({"Resources": {"X": {"Type": "AWS::SNS::Topic"}}});
        let after = json!({"Resources": {"X": {"Type": "AWS::SQS::Queue"}}});
        let changes = diff_resources(Some(&before), &after);
        assert_eq!(changes.len(), 1);
        let x = &changes[0];
        assert_eq!(
            (x.action, x.replacement, x.resource_type.as_str()),
            (Action::Modify, true, "AWS::SQS::Queue")
        );
        assert_eq!(paths(x), ["Type"]);
        assert_eq!(x.replacement_causes, ["Type"]);
        assert!(x.properties[0].requires_replacement);
    }

    #[test]
    fn first_property_added_is_reported_by_its_own_path() {
        let before = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}});
        let after = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "q"}}}});
        let changes = diff_resources(Some(&before), &after);
        assert_eq!(paths(&changes[0]), ["Properties.QueueName"]);
        assert_eq!(changes[0].replacement_causes, ["QueueName"]);
    }

    #[test]
    fn key_order_and_number_or_string_scalars_are_not_changes() {
        let before = parse_template(
            r#"{"Resources": {"Fn": {"Properties": {"MemorySize": "256", "Timeout": 3}, "Type": "AWS::Lambda::Function"}}}"#,
        )
        .unwrap();
        let after = json!({"Resources": {"Fn": {"Type": "AWS::Lambda::Function",
            "Properties": {"Timeout": 3, "MemorySize": 256}}}});
        assert!(diff_resources(Some(&before), &after).is_empty());
    }

    #[test]
    fn a_reordered_set_is_a_change_for_cloudformation_but_not_for_access() {
        let role = |arns: Value| json!({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": arns}}}});
        let deployed = DeployedState {
            template: role(json!(["b", "a"])),
            ..DeployedState::default()
        };
        let desired = DesiredState {
            template: role(json!(["a", "b"])),
            ..DesiredState::default()
        };
        let diff = StackDiff::new("s", "s-dev", Some(&deployed), &desired);
        assert!(diff.has_changes());
        assert_eq!(paths(&diff.resources[0]), ["Properties.ManagedPolicyArns"]);
        assert!(diff.iam.is_empty() && !diff.broadens());
    }

    #[test]
    fn odd_templates_do_not_panic() {
        let odd = [
            json!(null),
            json!([]),
            json!({"Resources": 5}),
            json!({"Resources": {"A": 1, "B": {"Type": 3, "Properties": "x"}}}),
            json!({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {
                "Policies": {"Fn::If": ["C", [], []]},
                "AssumeRolePolicyDocument": "not json",
                "ManagedPolicyArns": {"Ref": "Arns"}}}}}),
            json!({"Resources": {"S": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
                "SecurityGroupIngress": [{"Fn::If": ["C", {}, {}]}, 7, {"CidrIp": {"Ref": "Cidr"}}]}}}}),
            json!({"Outputs": [1], "Parameters": {"P": {"NoEcho": [true]}}}),
        ];
        let desired = |t: &Value| DesiredState {
            template: t.clone(),
            ..DesiredState::default()
        };
        for a in &odd {
            for b in &odd {
                let deployed = DeployedState {
                    template: a.clone(),
                    ..DeployedState::default()
                };
                let diff = StackDiff::new("s", "s-dev", Some(&deployed), &desired(b));
                let _ = diff.to_string();
                let _ = diff.to_markdown();
                let _ = serde_json::to_string(&diff).unwrap();
            }
        }
    }

    #[test]
    fn not_deployed_stack_adds_everything() {
        let desired = DesiredState {
            template: json!({
                "Resources": {
                    "B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "b"}},
                    "A": {"Type": "AWS::SQS::Queue"},
                },
                "Outputs": {"Url": {"Value": "x"}},
            }),
            parameters: map(&[("Size", "1")]),
            tags: map(&[("team", "media")]),
        };
        let diff = StackDiff::new("upload", "studio-upload-dev", None, &desired);
        assert!(!diff.deployed && diff.has_changes());
        assert_eq!(diff.counts(), (2, 0, 0));
        assert_eq!(diff.access, AccessChange::None);
        let ids: Vec<&str> = diff
            .resources
            .iter()
            .map(|r| r.logical_id.as_str())
            .collect();
        assert_eq!(ids, ["A", "B"]);
        assert!(diff
            .resources
            .iter()
            .all(|r| r.action == Action::Add && !r.replacement && r.properties.is_empty()));
        assert_eq!(diff.outputs[0].after, Some(json!({"Value": "x"})));
        assert_eq!(diff.parameters[0].before, None);
        assert_eq!(diff.tags[0].after.as_deref(), Some("media"));
        assert_eq!(
            diff.to_string(),
            "+ studio-upload-dev (upload): not deployed; 2 to add\n\
             \x20 + A  AWS::SQS::Queue\n\
             \x20 + B  AWS::S3::Bucket\n\
             \x20 outputs:\n\
             \x20     + Url: \"x\"\n\
             \x20 parameters:\n\
             \x20     + Size: 1\n\
             \x20 tags:\n\
             \x20     + team: media"
        );
    }

    #[test]
    fn a_new_stack_grants_access_and_says_so() {
        let desired = DesiredState {
            template: json!({"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            }}}}),
            ..DesiredState::default()
        };
        let diff = StackDiff::new("upload", "studio-upload-dev", None, &desired);
        assert!(diff.broadens());
        assert_eq!(diff.access, AccessChange::NewStack);
        assert_eq!(
            diff.broadening()[0].to_string(),
            "Role: new principal: Allow sts:AssumeRole for Service:lambda.amazonaws.com"
        );
        assert!(diff.to_string().starts_with(
            "+ studio-upload-dev (upload): not deployed; 1 to add; ⚠ new stack grants access (1)\n"
        ));
        // The same role on a deployed stack: nothing to flag.
        let deployed = DeployedState {
            template: desired.template.clone(),
            ..DeployedState::default()
        };
        let again = StackDiff::new("upload", "studio-upload-dev", Some(&deployed), &desired);
        assert!(!again.broadens() && !again.has_changes());
        assert_eq!(again.access, AccessChange::None);
    }

    #[test]
    fn a_broadening_change_to_a_deployed_stack_is_named() {
        let diff = testing::upload_diff();
        assert_eq!(diff.access, AccessChange::Broadens);
        let reasons: Vec<String> = diff.broadening().iter().map(|b| b.to_string()).collect();
        assert_eq!(
            reasons,
            [
                "CreateUploadRole: new action: Allow dynamodb:Scan on !GetAtt Sessions.Arn, \
                 !Sub [${TableArn}/index/*, {TableArn: !GetAtt Sessions.Arn}]",
                "WebSg: open to the internet: ingress tcp 443 from 0.0.0.0/0",
            ]
        );
    }

    #[test]
    fn no_echo_parameters_never_show_their_value() {
        let template = json!({"Parameters": {"DbPassword": {"Type": "String", "NoEcho": true}}});
        let desired = DesiredState {
            template: template.clone(),
            parameters: map(&[("DbPassword", "hunter2")]),
            ..DesiredState::default()
        };
        // New: listed, masked.
        let diff = StackDiff::new("db", "studio-db-dev", None, &desired);
        assert_eq!(
            diff.parameters,
            [ValueChange {
                name: "DbPassword".into(),
                before: None,
                after: Some(MASK.into())
            }]
        );
        assert!(!diff.to_string().contains("hunter2"));
        assert!(!diff.to_markdown().contains("hunter2"));
        assert!(!serde_json::to_string(&diff).unwrap().contains("hunter2"));
        // Deployed: CloudFormation shows `****`, which says nothing.
        let deployed = DeployedState {
            template: template.clone(),
            parameters: map(&[("DbPassword", MASK)]),
            ..DeployedState::default()
        };
        let diff = StackDiff::new("db", "studio-db-dev", Some(&deployed), &desired);
        assert!(diff.parameters.is_empty() && !diff.has_changes());
        // Gone from the rendered template: still masked, from the deployed one.
        let gone = DesiredState::default();
        let diff = StackDiff::new("db", "studio-db-dev", Some(&deployed), &gone);
        assert_eq!(diff.to_string(), "~ studio-db-dev (db): 0 to add, 0 to change, 0 to remove\n  parameters:\n      - DbPassword: ****");
        // A value known on both sides (not from CloudFormation) still masked.
        let known = DeployedState {
            template,
            parameters: map(&[("DbPassword", "old-secret")]),
            ..DeployedState::default()
        };
        let diff = StackDiff::new("db", "studio-db-dev", Some(&known), &desired);
        assert_eq!(
            (
                diff.parameters[0].before.as_deref(),
                diff.parameters[0].after.as_deref()
            ),
            (Some(MASK), Some(MASK))
        );
    }

    #[test]
    fn parameter_tag_and_output_changes() {
        let before = map(&[("A", "1"), ("B", "2"), ("C", "3")]);
        let after = map(&[("A", "1"), ("B", "20"), ("D", "4")]);
        assert_eq!(
            diff_values(&before, &after),
            [
                ValueChange {
                    name: "B".into(),
                    before: Some("2".into()),
                    after: Some("20".into())
                },
                ValueChange {
                    name: "C".into(),
                    before: Some("3".into()),
                    after: None
                },
                ValueChange {
                    name: "D".into(),
                    before: None,
                    after: Some("4".into())
                },
            ]
        );
        let old = json!({"Outputs": {
            "Url": {"Value": {"Fn::Sub": "https://a"}, "Export": {"Name": "u"}},
            "Same": {"Value": "s"},
            "Gone": {"Value": "g"},
        }});
        let new = json!({"Outputs": {
            "Url": {"Export": {"Name": "u"}, "Value": {"Fn::Sub": "https://b"}},
            "Same": {"Value": "s"},
        }});
        let outputs = diff_outputs(Some(&old), &new);
        assert_eq!(
            outputs,
            [
                OutputChange {
                    name: "Gone".into(),
                    action: Action::Remove,
                    before: Some(json!({"Value": "g"})),
                    after: None,
                    properties: vec![],
                },
                OutputChange {
                    name: "Url".into(),
                    action: Action::Modify,
                    before: Some(
                        json!({"Export": {"Name": "u"}, "Value": {"Fn::Sub": "https://a"}})
                    ),
                    after: Some(
                        json!({"Export": {"Name": "u"}, "Value": {"Fn::Sub": "https://b"}})
                    ),
                    properties: vec![PropertyChange {
                        path: "Value".into(),
                        before: Some(json!({"Fn::Sub": "https://a"})),
                        after: Some(json!({"Fn::Sub": "https://b"})),
                        requires_replacement: false,
                    }],
                },
            ]
        );
    }

    #[test]
    fn identical_inputs_have_no_changes() {
        let template = json!({
            "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": [{"Key": "a", "Value": "b"}]}}},
            "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Q", "Arn"]}}},
        });
        let deployed = DeployedState {
            template: template.clone(),
            parameters: map(&[("P", "1")]),
            tags: map(&[("t", "v")]),
        };
        let desired = DesiredState {
            template,
            parameters: map(&[("P", "1")]),
            tags: map(&[("t", "v")]),
        };
        let diff = StackDiff::new("upload", "studio-upload-dev", Some(&deployed), &desired);
        assert!(!diff.has_changes());
        assert_eq!(diff.counts(), (0, 0, 0));
        assert_eq!(diff.to_string(), "= studio-upload-dev (upload): no changes");
    }

    #[test]
    fn serializes_for_json_output() {
        let before = json!({"Resources": {"B": {"Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": "a"}}}});
        let after = json!({"Resources": {"B": {"Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": "b"}}}});
        let changes = diff_resources(Some(&before), &after);
        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            json!([{
                "logical_id": "B",
                "resource_type": "AWS::S3::Bucket",
                "action": "modify",
                "replacement": true,
                "replacement_causes": ["BucketName"],
                "properties": [{
                    "path": "Properties.BucketName",
                    "before": "a",
                    "after": "b",
                    "requires_replacement": true,
                }],
            }])
        );
    }

    #[test]
    fn serializes_iam_network_broadening_and_outputs() {
        let v = serde_json::to_value(testing::upload_diff()).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "stack",
                "stack_name",
                "deployed",
                "access",
                "resources",
                "iam",
                "network",
                "broadening",
                "outputs",
                "parameters",
                "tags"
            ]
        );
        assert_eq!(v["access"], "broadens");
        assert_eq!(
            v["iam"][0]["statements"][0],
            json!({
                "change": "removed",
                "policy": "Policies",
                "effect": "Allow",
                "actions": ["s3:PutObject"],
                "resources": ["!Sub arn:${AWS::Partition}:s3:::studio-upload-ingest-dev/uploads/*"],
                "principals": [],
                "condition": null,
                "broadening": null,
            })
        );
        assert_eq!(
            v["iam"][0]["statements"][1]["actions"],
            json!(["dynamodb:Scan"])
        );
        assert_eq!(v["iam"][0]["statements"][1]["broadening"], "new_action");
        assert_eq!(
            v["network"][0],
            json!({
                "logical_id": "WebSg",
                "resource_type": "AWS::EC2::SecurityGroup",
                "action": "modify",
                "rules": [{
                    "change": "added",
                    "direction": "ingress",
                    "protocol": "tcp",
                    "ports": "443",
                    "peer": "0.0.0.0/0",
                    "group": null,
                    "description": "HTTPS",
                    "broadening": "open_to_internet",
                }],
            })
        );
        assert_eq!(
            v["broadening"][1],
            json!({
                "logical_id": "WebSg",
                "resource_type": "AWS::EC2::SecurityGroup",
                "kind": "open_to_internet",
                "detail": "ingress tcp 443 from 0.0.0.0/0",
            })
        );
        assert_eq!(
            v["resources"][4]["replacement_causes"],
            json!(["TableName"])
        );
        assert_eq!(
            v["outputs"][0]["properties"][0],
            json!({
                "path": "Value",
                "before": {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/v1"},
                "after": {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/v2"},
                "requires_replacement": false,
            })
        );
        assert_eq!(
            v["parameters"],
            json!([{"name": "UrlExpirySeconds", "before": "300", "after": "600"}])
        );
    }

    #[test]
    fn deployed_yaml_with_short_forms_matches_rendered_json() {
        let deployed = parse_template(
            "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Role: !GetAtt Role.Arn\n      FunctionName: !Sub '${AWS::StackName}-fn'\n",
        )
        .unwrap();
        let rendered = json!({"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "FunctionName": {"Fn::Sub": "${AWS::StackName}-fn"},
            "Role": {"Fn::GetAtt": ["Role", "Arn"]}}}}});
        assert!(diff_resources(Some(&deployed), &rendered).is_empty());
    }
}
