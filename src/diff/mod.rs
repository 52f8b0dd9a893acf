//! What a deploy would change, stack by stack: the deployed template against
//! the freshly rendered one (resources and outputs), plus stack parameter
//! values and stack tags.
//!
//! Pure: the caller fetches the deployed state and renders the desired one.
//! Output follows rain's shape (`+` added, `-` removed, `~` changed, keys
//! sorted, unchanged parts hidden) and flags "requires replacement" the way
//! CDK does, from the static table in [`replacement`].

pub mod replacement;
mod template;

pub use replacement::requires_replacement;
pub use template::parse_template;

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Longest value (in characters) shown in text output before it is cut with `…`.
const MAX_SHOWN_CHARS: usize = 120;

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

/// One changed value at a path inside a resource, e.g. `Properties.MemorySize`,
/// `Properties.Environment.Variables.TABLE_NAME`, `Properties.Tags[0].Value`,
/// `DeletionPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyChange {
    /// Where the value sits in the resource body: keys joined by `.`, array
    /// indices as `[i]`.
    pub path: String,
    /// The deployed value; `None` when the key is new. Object keys sorted.
    pub before: Option<Value>,
    /// The desired value; `None` when the key is removed. Object keys sorted.
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
    /// What differs, for [`Action::Modify`]; empty otherwise. In path order:
    /// keys sorted at each level, array indices ascending.
    pub properties: Vec<PropertyChange>,
}

/// A named scalar that changed (stack parameter value, stack tag, output).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueChange {
    /// Parameter, tag or output name.
    pub name: String,
    /// The deployed value; `None` when it is new.
    pub before: Option<String>,
    /// The desired value; `None` when it goes away.
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
    /// Resource changes, sorted by logical id.
    pub resources: Vec<ResourceChange>,
    /// Template outputs whose definition changed (before/after as compact
    /// JSON text with sorted keys), sorted by name.
    pub outputs: Vec<ValueChange>,
    /// Stack parameter values, sorted by name.
    pub parameters: Vec<ValueChange>,
    /// Stack tags, sorted by key.
    pub tags: Vec<ValueChange>,
}

/// A stack as CloudFormation has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeployedState {
    /// The template from GetTemplate, through [`parse_template`].
    pub template: Value,
    /// Parameter name -> value, from DescribeStacks.
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
        StackDiff {
            stack: stack.to_string(),
            stack_name: stack_name.to_string(),
            deployed: deployed.is_some(),
            resources: diff_resources(template, &desired.template),
            outputs: diff_outputs(template, &desired.template),
            parameters: diff_values(parameters, &desired.parameters),
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
pub fn diff_outputs(before: Option<&Value>, after: &Value) -> Vec<ValueChange> {
    let outputs = |t: &Value| t.get("Outputs").and_then(Value::as_object).cloned();
    let old = before.and_then(outputs).unwrap_or_default();
    let new = outputs(after).unwrap_or_default();
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (old.get(name), new.get(name));
            if let (Some(a), Some(b)) = (a, b) {
                if equivalent(a, b) {
                    return None;
                }
            }
            Some(ValueChange {
                name: name.clone(),
                before: a.map(compact),
                after: b.map(compact),
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
        properties: Vec::new(),
    }
}

/// A resource in both templates: `None` when nothing differs.
fn modified(id: &str, old: &Value, new: &Value) -> Option<ResourceChange> {
    let empty = Map::new();
    let old_body = old.as_object().unwrap_or(&empty);
    let new_body = new.as_object().unwrap_or(&empty);
    let mut leaves = Vec::new();
    let keys: BTreeSet<&String> = old_body.keys().chain(new_body.keys()).collect();
    for key in keys {
        match (old_body.get(key), new_body.get(key)) {
            // A missing `Properties` is an empty one, so adding the first
            // property reports that property, not the whole block.
            (a, b) if key == "Properties" => {
                let empty = Value::Object(Map::new());
                let a = a.unwrap_or(&empty);
                let b = b.unwrap_or(&empty);
                diff_value(key.clone(), a, b, &mut leaves);
            }
            (Some(a), Some(b)) => diff_value(key.clone(), a, b, &mut leaves),
            (a, b) => leaves.push(Leaf {
                path: key.clone(),
                before: a.cloned(),
                after: b.cloned(),
            }),
        }
    }
    if leaves.is_empty() {
        return None;
    }
    let ty = resource_type(new);
    let properties: Vec<PropertyChange> = leaves
        .into_iter()
        .map(|leaf| PropertyChange {
            requires_replacement: leaf.path == "Type"
                || top_level_property(&leaf.path).is_some_and(|p| requires_replacement(ty, p)),
            path: leaf.path,
            before: leaf.before.as_ref().map(sorted),
            after: leaf.after.as_ref().map(sorted),
        })
        .collect();
    Some(ResourceChange {
        logical_id: id.to_string(),
        resource_type: ty.to_string(),
        action: Action::Modify,
        replacement: properties.iter().any(|p| p.requires_replacement),
        properties,
    })
}

/// `Properties.X.Y` / `Properties.X[0]` -> `X`.
fn top_level_property(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("Properties.")?;
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// One differing value found by the walk, before replacement is decided.
struct Leaf {
    path: String,
    before: Option<Value>,
    after: Option<Value>,
}

/// Walks two values: objects key by key (sorted), arrays of objects of equal
/// length element by element; anything else that differs is one leaf.
fn diff_value(path: String, old: &Value, new: &Value, out: &mut Vec<Leaf>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let path = format!("{path}.{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff_value(path, x, y, out),
                    (x, y) => out.push(Leaf {
                        path,
                        before: x.cloned(),
                        after: y.cloned(),
                    }),
                }
            }
        }
        (Value::Array(a), Value::Array(b))
            if a.len() == b.len() && a.iter().chain(b).all(Value::is_object) =>
        {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_value(format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if equivalent(old, new) => {}
        _ => out.push(Leaf {
            path,
            before: Some(old.clone()),
            after: Some(new.clone()),
        }),
    }
}

/// Equality as CloudFormation sees it: object key order does not matter
/// (serde_json keeps insertion order here), and a scalar written as a number
/// or boolean equals the same text as a string (`256` and `"256"`), since
/// CloudFormation passes both to the resource the same way.
fn equivalent(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equivalent(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| equivalent(v, w))
        }
        _ => a == b || matches!((scalar_text(a), scalar_text(b)), (Some(x), Some(y)) if x == y),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
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

/// Compact JSON with sorted keys.
fn compact(v: &Value) -> String {
    sorted(v).to_string()
}

/// Cuts text longer than [`MAX_SHOWN_CHARS`] with `…`.
fn clip(text: String) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// A property value for text output: compact JSON, strings quoted.
fn shown_json(v: &Value) -> String {
    clip(compact(v))
}

/// A parameter or tag value for text output: as is, unless it would be
/// invisible or break the line (then JSON-quoted).
fn shown_text(s: &str) -> String {
    let plain = !s.is_empty() && s.trim() == s && !s.chars().any(char::is_control);
    clip(if plain {
        s.to_string()
    } else {
        Value::from(s).to_string()
    })
}

fn symbol(before: bool, after: bool) -> char {
    match (before, after) {
        (false, _) => '+',
        (_, false) => '-',
        _ => '~',
    }
}

const REPLACEMENT_NOTE: &str = "  (requires replacement)";

impl fmt::Display for StackDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (add, modify, remove) = self.counts();
        let name = format!("{} ({})", self.stack_name, self.stack);
        if !self.deployed {
            write!(f, "+ {name}: not deployed; {add} to add")?;
        } else if !self.has_changes() {
            return write!(f, "= {name}: no changes");
        } else {
            write!(
                f,
                "~ {name}: {add} to add, {modify} to change, {remove} to remove"
            )?;
        }
        for r in &self.resources {
            let sign = match r.action {
                Action::Add => '+',
                Action::Modify => '~',
                Action::Remove => '-',
            };
            let note = if r.replacement { REPLACEMENT_NOTE } else { "" };
            write!(f, "\n  {sign} {}  {}{note}", r.logical_id, r.resource_type)?;
            for p in &r.properties {
                let sign = symbol(p.before.is_some(), p.after.is_some());
                let value = match (&p.before, &p.after) {
                    (Some(b), Some(a)) => format!("{} -> {}", shown_json(b), shown_json(a)),
                    (Some(v), None) | (None, Some(v)) => shown_json(v),
                    (None, None) => String::new(),
                };
                let note = if p.requires_replacement {
                    REPLACEMENT_NOTE
                } else {
                    ""
                };
                write!(f, "\n      {sign} {}: {value}{note}", p.path)?;
            }
        }
        if !self.outputs.is_empty() {
            write!(f, "\n  outputs:")?;
            for o in &self.outputs {
                let sign = symbol(o.before.is_some(), o.after.is_some());
                write!(f, "\n      {sign} {}", o.name)?;
            }
        }
        for (title, changes) in [("parameters", &self.parameters), ("tags", &self.tags)] {
            if changes.is_empty() {
                continue;
            }
            write!(f, "\n  {title}:")?;
            for c in changes {
                let sign = symbol(c.before.is_some(), c.after.is_some());
                let value = match (&c.before, &c.after) {
                    (Some(b), Some(a)) => format!("{} -> {}", shown_text(b), shown_text(a)),
                    (Some(v), None) | (None, Some(v)) => shown_text(v),
                    (None, None) => String::new(),
                };
                write!(f, "\n      {sign} {}: {value}", c.name)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

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
    }

    #[test]
    fn nested_objects_and_arrays_of_objects_give_leaf_paths() {
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
                "Tags": [{"Key": "team", "Value": "a"}, {"Key": "app", "Value": "c"}],
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
                "Properties.Layers",
                "Properties.Tags[1].Value",
            ]
        );
        let p = &changes[0].properties;
        assert_eq!((&p[2].before, &p[2].after), (&Some(json!("x")), &None));
        assert_eq!((&p[3].before, &p[3].after), (&None, &Some(json!("y"))));
        assert_eq!(p[5].after, Some(json!(["l1", "l3"])));
    }

    #[test]
    fn arrays_of_different_length_are_one_change() {
        let before = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue",
            "Properties": {"Tags": [{"Key": "a", "Value": "1"}]}}}});
        let after = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue",
            "Properties": {"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}}});
        let changes = diff_resources(Some(&before), &after);
        assert_eq!(paths(&changes[0]), ["Properties.Tags"]);
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
        assert_eq!(paths(bucket), ["Properties.BucketName", "Properties.Tags"]);
        assert!(bucket.properties[0].requires_replacement);
        assert!(!bucket.properties[1].requires_replacement);
        assert!(!changes[1].replacement);
        assert!(!changes[1].properties[0].requires_replacement);
    }

    #[test]
    fn nested_change_under_a_replacement_property_requires_replacement() {
        let before = json!({"Resources": {"T": {"Type": "AWS::DynamoDB::Table",
            "Properties": {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}}}});
        let after = json!({"Resources": {"T": {"Type": "AWS::DynamoDB::Table",
            "Properties": {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}}}});
        let changes = diff_resources(Some(&before), &after);
        assert_eq!(
            paths(&changes[0]),
            ["Properties.KeySchema[0].AttributeName"]
        );
        assert!(changes[0].replacement);
        assert_eq!(
            top_level_property("Properties.KeySchema[0].AttributeName"),
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
        assert!(x.properties[0].requires_replacement);
    }

    #[test]
    fn first_property_added_is_reported_by_its_own_path() {
        let before = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}});
        let after = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "q"}}}});
        let changes = diff_resources(Some(&before), &after);
        assert_eq!(paths(&changes[0]), ["Properties.QueueName"]);
        assert!(changes[0].replacement);
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
        assert!(!equivalent(&json!(null), &json!("null")));
        assert!(!equivalent(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
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
        assert_eq!(diff.outputs[0].after.as_deref(), Some(r#"{"Value":"x"}"#));
        assert_eq!(diff.parameters[0].before, None);
        assert_eq!(diff.tags[0].after.as_deref(), Some("media"));
        assert_eq!(
            diff.to_string(),
            "+ studio-upload-dev (upload): not deployed; 2 to add\n\
             \x20 + A  AWS::SQS::Queue\n\
             \x20 + B  AWS::S3::Bucket\n\
             \x20 outputs:\n\
             \x20     + Url\n\
             \x20 parameters:\n\
             \x20     + Size: 1\n\
             \x20 tags:\n\
             \x20     + team: media"
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
                ValueChange {
                    name: "Gone".into(),
                    before: Some(r#"{"Value":"g"}"#.into()),
                    after: None
                },
                ValueChange {
                    name: "Url".into(),
                    before: Some(
                        r#"{"Export":{"Name":"u"},"Value":{"Fn::Sub":"https://a"}}"#.into()
                    ),
                    after: Some(
                        r#"{"Export":{"Name":"u"},"Value":{"Fn::Sub":"https://b"}}"#.into()
                    ),
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
    fn display_shows_the_whole_diff_in_rain_style() {
        let deployed = DeployedState {
            template: json!({
                "Resources": {
                    "CreateUpload": {"Type": "AWS::Lambda::Function", "Properties": {
                        "MemorySize": 256, "Description": "old",
                        "Environment": {"Variables": {"TABLE": "t"}}}},
                    "Sessions": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "a"}},
                    "OldTopic": {"Type": "AWS::SNS::Topic"},
                },
                "Outputs": {"ApiBaseUrl": {"Value": "a"}},
            }),
            parameters: map(&[("UrlExpirySeconds", "300")]),
            tags: map(&[]),
        };
        let desired = DesiredState {
            template: json!({
                "Resources": {
                    "NewQueue": {"Type": "AWS::SQS::Queue"},
                    "CreateUpload": {"Type": "AWS::Lambda::Function", "Properties": {
                        "MemorySize": 512,
                        "Environment": {"Variables": {"TABLE": "t", "NEW": "x"}}}},
                    "Sessions": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "b"}},
                },
                "Outputs": {"ApiBaseUrl": {"Value": "b"}},
            }),
            parameters: map(&[("UrlExpirySeconds", "600")]),
            tags: map(&[("team", "media")]),
        };
        let diff = StackDiff::new("upload", "studio-upload-dev", Some(&deployed), &desired);
        assert_eq!(diff.counts(), (1, 2, 1));
        let expected = "\
~ studio-upload-dev (upload): 1 to add, 2 to change, 1 to remove
  ~ CreateUpload  AWS::Lambda::Function
      - Properties.Description: \"old\"
      + Properties.Environment.Variables.NEW: \"x\"
      ~ Properties.MemorySize: 256 -> 512
  + NewQueue  AWS::SQS::Queue
  - OldTopic  AWS::SNS::Topic
  ~ Sessions  AWS::DynamoDB::Table  (requires replacement)
      ~ Properties.TableName: \"a\" -> \"b\"  (requires replacement)
  outputs:
      ~ ApiBaseUrl
  parameters:
      ~ UrlExpirySeconds: 300 -> 600
  tags:
      + team: media";
        assert_eq!(diff.to_string(), expected);
    }

    #[test]
    fn long_values_are_truncated_and_odd_text_is_quoted() {
        let long = "x".repeat(200);
        let shown = shown_json(&json!(long));
        assert_eq!(shown.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(shown.starts_with("\"xxx") && shown.ends_with('…'));
        assert_eq!(shown_json(&json!("short")), "\"short\"");
        assert_eq!(
            shown_json(&json!({"b": 1, "a": [true]})),
            r#"{"a":[true],"b":1}"#
        );
        assert_eq!(shown_text("plain value"), "plain value");
        assert_eq!(shown_text(""), "\"\"");
        assert_eq!(shown_text("two\nlines"), "\"two\\nlines\"");
        assert_eq!(clip("é".repeat(130)).chars().count(), MAX_SHOWN_CHARS + 1);
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
