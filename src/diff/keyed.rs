//! The walk that finds what differs between two template values, and the
//! equality it uses.
//!
//! Objects are walked key by key (sorted). Arrays are walked element by
//! element, matched the way CloudFormation users think of them:
//!
//! - by a natural key where there is one: `Tags[Key=team]`,
//!   `Policies[PolicyName=access]`, `Statement[Sid=ReadTable]`,
//!   `AttributeDefinitions[AttributeName=pk]`, `Rules[Id=expire]`, ...;
//! - by content where an element has no name (security group rules, IAM
//!   statements without a `Sid`): an element is added or removed whole, at
//!   the array's path;
//! - as a set where order means nothing to the service (IAM `Action`,
//!   `Resource`, principals, condition values, `ManagedPolicyArns`, ...):
//!   each added or removed element is its own change, at the array's path
//!   (CloudFormation still updates a resource whose list only changed
//!   order, so such a list is one change of the whole list);
//! - otherwise in order, aligned on their longest common subsequence so an
//!   insertion is one change, not a shifted tail: `Layers[1]`.
//!
//! An intrinsic function (`{"Fn::Sub": ...}`) is one value: it changes as a
//! whole, shown in its short form.

use super::show::intrinsic;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One differing value found by the walk.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Leaf {
    /// Where: keys joined by `.`, array elements as `[Field=value]` or
    /// `[i]`; an element of a set-like or content-keyed array sits at the
    /// array's own path.
    pub path: String,
    /// The old value; `None` when it is new.
    pub before: Option<Value>,
    /// The new value; `None` when it is gone.
    pub after: Option<Value>,
}

/// Where a value sits: the key holding it and the two keys above (a
/// condition value sits under its condition key, its operator, then
/// `Condition`).
#[derive(Debug, Clone, Copy)]
pub(super) struct At<'a> {
    /// The object key holding the value (for an array element, the array's key).
    key: &'a str,
    /// The key holding the object that holds `key`.
    parent: &'a str,
    /// The key above `parent`.
    grand: &'a str,
}

impl<'a> At<'a> {
    /// The top of a walk: a value under `key`.
    pub fn top(key: &'a str) -> Self {
        At {
            key,
            parent: "",
            grand: "",
        }
    }

    fn child(self, key: &'a str) -> At<'a> {
        At {
            key,
            parent: self.key,
            grand: self.parent,
        }
    }
}

/// Lists whose order means nothing to the service, by the key that holds
/// them: IAM actions, resources and principals, and a few unordered id
/// lists. A scalar in such a place is read as a one-element list, as IAM
/// reads it.
const SET_LIKE: &[&str] = &[
    "AWS",
    "Action",
    "AllowedHeaders",
    "AllowedMethods",
    "AllowedOrigins",
    "CanonicalUser",
    "DependsOn",
    "ExposedHeaders",
    "Federated",
    "ManagedPolicyArns",
    "NotAction",
    "NotResource",
    "Resource",
    "SecurityGroupIds",
    "Service",
    "SubnetIds",
];

/// Arrays of objects with no name field, matched by content.
const CONTENT_KEYED: &[&str] = &["SecurityGroupEgress", "SecurityGroupIngress"];

/// Fields that name an element of an array of objects, tried in order; the
/// first that every element has, as a scalar unique within its array, keys
/// the array.
const KEY_FIELDS: &[&str] = &[
    "Key",
    "PolicyName",
    "AttributeName",
    "IndexName",
    "Id",
    "Name",
    "ParameterKey",
];

/// Above this many element comparisons (old length x new length), arrays
/// are matched by position instead of by longest common subsequence.
const ALIGN_LIMIT: usize = 250_000;

fn set_like(at: At) -> bool {
    SET_LIKE.contains(&at.key) || at.grand == "Condition"
}

/// Equality as CloudFormation sees it: object key order does not matter
/// (serde_json keeps insertion order here), and a scalar written as a
/// number or boolean equals the same text as a string (`256` and `"256"`),
/// since CloudFormation passes both to the resource the same way. List
/// order matters, even in a set-like list: CloudFormation updates the
/// resource when it changes.
pub(super) fn equivalent(a: &Value, b: &Value) -> bool {
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

/// A scalar's text: strings as they are, numbers and booleans as written.
pub(super) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The elements of a set-like value: a list's items, or a scalar alone;
/// `None` for an object (an intrinsic standing for the whole list).
fn set_elements(v: &Value) -> Option<Vec<&Value>> {
    match v {
        Value::Array(items) => Some(items.iter().collect()),
        Value::Object(_) => None,
        scalar => Some(vec![scalar]),
    }
}

/// The elements of `a` with no match in `b` and those of `b` with no match
/// in `a`, as a multiset: each element matches at most one other.
fn unmatched<'v>(a: &[&'v Value], b: &[&'v Value]) -> (Vec<&'v Value>, Vec<&'v Value>) {
    let mut taken = vec![false; b.len()];
    let mut gone = Vec::new();
    for x in a {
        match (0..b.len()).find(|&j| !taken[j] && equivalent(x, b[j])) {
            Some(j) => taken[j] = true,
            None => gone.push(*x),
        }
    }
    let new = b
        .iter()
        .zip(taken)
        .filter(|(_, t)| !t)
        .map(|(y, _)| *y)
        .collect();
    (gone, new)
}

/// Walks two values found at `path` and appends what differs to `out`.
pub(super) fn diff_value(path: &str, at: At, old: &Value, new: &Value, out: &mut Vec<Leaf>) {
    if equivalent(old, new) {
        return;
    }
    let whole = |out: &mut Vec<Leaf>| {
        out.push(Leaf {
            path: path.to_string(),
            before: Some(old.clone()),
            after: Some(new.clone()),
        })
    };
    if set_like(at) {
        if let (Some(x), Some(y)) = (set_elements(old), set_elements(new)) {
            let (gone, added) = unmatched(&x, &y);
            if gone.is_empty() && added.is_empty() {
                // The same elements, reordered or respelled (`"*"` and
                // `["*"]`): no access changes, but the template does.
                return whole(out);
            }
            push_elements(path, &gone, &added, out);
            return;
        }
    }
    if intrinsic(old).is_some() || intrinsic(new).is_some() {
        return whole(out);
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => diff_objects(path, at, a, b, out),
        (Value::Array(a), Value::Array(b)) => diff_arrays(path, at, a, b, out),
        _ => whole(out),
    }
}

fn diff_objects(
    path: &str,
    at: At,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    out: &mut Vec<Leaf>,
) {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let path = format!("{path}.{key}");
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => diff_value(&path, at.child(key), x, y, out),
            (x, y) => out.push(Leaf {
                path,
                before: x.cloned(),
                after: y.cloned(),
            }),
        }
    }
}

/// Removed then added elements of a set-like or content-keyed array, each
/// at the array's path.
fn push_elements(path: &str, gone: &[&Value], added: &[&Value], out: &mut Vec<Leaf>) {
    for v in gone {
        out.push(Leaf {
            path: path.to_string(),
            before: Some((*v).clone()),
            after: None,
        });
    }
    for v in added {
        out.push(Leaf {
            path: path.to_string(),
            before: None,
            after: Some((*v).clone()),
        });
    }
}

/// What names an element of an array of objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Name {
    /// `Field=value`, unique within its array.
    Field(&'static str, String),
    /// No name: matched by content.
    Content,
}

fn diff_arrays(path: &str, at: At, a: &[Value], b: &[Value], out: &mut Vec<Leaf>) {
    let plain_object = |v: &Value| v.is_object() && intrinsic(v).is_none();
    if !a.iter().chain(b).all(plain_object) {
        return diff_in_order(path, at, a, b, out);
    }
    let names = if CONTENT_KEYED.contains(&at.key) {
        Some((vec![Name::Content; a.len()], vec![Name::Content; b.len()]))
    } else if at.key == "Statement" {
        // IAM statements: by Sid where a statement has one of its own.
        Some((names_by("Sid", a, true), names_by("Sid", b, true)))
    } else {
        KEY_FIELDS.iter().find_map(|field| {
            let (x, y) = (names_by(field, a, false), names_by(field, b, false));
            let all_named = x.iter().chain(&y).all(|n| *n != Name::Content);
            all_named.then_some((x, y))
        })
    };
    match names {
        Some((x, y)) => diff_named(path, at, a, &x, b, &y, out),
        None => diff_in_order(path, at, a, b, out),
    }
}

/// Each element's name by `field`: its scalar value there when no other
/// element of the array has the same; [`Name::Content`] otherwise.
/// `partial`: elements without the field are fine (otherwise one is enough
/// to leave the whole array by content).
fn names_by(field: &'static str, items: &[Value], partial: bool) -> Vec<Name> {
    let texts: Vec<Option<String>> = items
        .iter()
        .map(|item| item.get(field).and_then(scalar_text))
        .collect();
    if !partial && texts.iter().any(Option::is_none) {
        return vec![Name::Content; items.len()];
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for text in texts.iter().flatten() {
        *counts.entry(text).or_default() += 1;
    }
    texts
        .iter()
        .map(|text| match text {
            Some(t) if counts.get(t.as_str()) == Some(&1) => Name::Field(field, t.clone()),
            _ => Name::Content,
        })
        .collect()
}

/// Named elements matched by name (in name order), then the unnamed ones
/// by content.
fn diff_named(
    path: &str,
    at: At,
    a: &[Value],
    a_names: &[Name],
    b: &[Value],
    b_names: &[Name],
    out: &mut Vec<Leaf>,
) {
    let mut named: BTreeMap<&Name, (Option<&Value>, Option<&Value>)> = BTreeMap::new();
    let (mut a_rest, mut b_rest) = (Vec::new(), Vec::new());
    for (name, v) in a_names.iter().zip(a) {
        match name {
            Name::Field(..) => named.entry(name).or_default().0 = Some(v),
            Name::Content => a_rest.push(v),
        }
    }
    for (name, v) in b_names.iter().zip(b) {
        match name {
            Name::Field(..) => named.entry(name).or_default().1 = Some(v),
            Name::Content => b_rest.push(v),
        }
    }
    for (name, pair) in named {
        let Name::Field(field, value) = name else {
            continue;
        };
        let path = format!("{path}[{field}={}]", path_text(value));
        match pair {
            (Some(x), Some(y)) => diff_value(&path, at, x, y, out),
            (x, y) => out.push(Leaf {
                path,
                before: x.cloned(),
                after: y.cloned(),
            }),
        }
    }
    let (gone, added) = unmatched(&a_rest, &b_rest);
    push_elements(path, &gone, &added, out);
}

/// A key value as written inside `[Field=...]`: as is, or JSON-quoted when
/// it would not read back as one value.
fn path_text(value: &str) -> String {
    let odd = value.is_empty()
        || value.trim() != value
        || value
            .chars()
            .any(|c| c.is_control() || matches!(c, '[' | ']' | '"'));
    if odd {
        Value::from(value).to_string()
    } else {
        value.to_string()
    }
}

/// One step of aligning two arrays.
enum Step {
    Same,
    Gone(usize),
    New(usize),
}

/// Arrays whose order matters: aligned on their longest common subsequence;
/// between two kept elements, removed and added elements pair up by
/// position into changed elements (walked further, at the new index), and
/// what is left is removed (old index) or added (new index).
fn diff_in_order(path: &str, at: At, a: &[Value], b: &[Value], out: &mut Vec<Leaf>) {
    let mut gone = Vec::new();
    let mut new = Vec::new();
    let flush = |gone: &mut Vec<usize>, new: &mut Vec<usize>, out: &mut Vec<Leaf>| {
        for (&i, &j) in gone.iter().zip(new.iter()) {
            diff_value(&format!("{path}[{j}]"), at, &a[i], &b[j], out);
        }
        let paired = gone.len().min(new.len());
        for &i in &gone[paired..] {
            out.push(Leaf {
                path: format!("{path}[{i}]"),
                before: Some(a[i].clone()),
                after: None,
            });
        }
        for &j in &new[paired..] {
            out.push(Leaf {
                path: format!("{path}[{j}]"),
                before: None,
                after: Some(b[j].clone()),
            });
        }
        gone.clear();
        new.clear();
    };
    for step in align(a, b) {
        match step {
            Step::Same => flush(&mut gone, &mut new, out),
            Step::Gone(i) => gone.push(i),
            Step::New(j) => new.push(j),
        }
    }
    flush(&mut gone, &mut new, out);
}

/// The steps from `a` to `b` along a longest common subsequence of
/// equivalent elements; past [`ALIGN_LIMIT`], everything is removed and
/// added (so elements pair by position).
fn align(a: &[Value], b: &[Value]) -> Vec<Step> {
    let (n, m) = (a.len(), b.len());
    if n.saturating_mul(m) > ALIGN_LIMIT {
        return (0..n)
            .map(Step::Gone)
            .chain((0..m).map(Step::New))
            .collect();
    }
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if equivalent(&a[i], &b[j]) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut steps = Vec::with_capacity(n + m);
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && equivalent(&a[i], &b[j]) {
            steps.push(Step::Same);
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            steps.push(Step::New(j));
            j += 1;
        } else {
            steps.push(Step::Gone(i));
            i += 1;
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn walk(key: &str, old: Value, new: Value) -> Vec<(String, Option<Value>, Option<Value>)> {
        let mut out = Vec::new();
        diff_value(key, At::top(key), &old, &new, &mut out);
        out.into_iter()
            .map(|l| (l.path, l.before, l.after))
            .collect()
    }

    #[test]
    fn tags_are_keyed_by_key() {
        let leaves = walk(
            "Tags",
            json!([{"Key": "team", "Value": "a"}, {"Key": "app", "Value": "b"}, {"Key": "old", "Value": "x"}]),
            json!([{"Key": "app", "Value": "c"}, {"Key": "team", "Value": "a"}, {"Key": "new", "Value": "y"}]),
        );
        assert_eq!(
            leaves,
            [
                (
                    "Tags[Key=app].Value".into(),
                    Some(json!("b")),
                    Some(json!("c"))
                ),
                (
                    "Tags[Key=new]".into(),
                    None,
                    Some(json!({"Key": "new", "Value": "y"}))
                ),
                (
                    "Tags[Key=old]".into(),
                    Some(json!({"Key": "old", "Value": "x"})),
                    None
                ),
            ]
        );
    }

    #[test]
    fn iam_actions_are_a_set_and_statements_are_keyed_by_sid() {
        let old = json!([{"PolicyName": "access", "PolicyDocument": {"Statement": [
            {"Sid": "ReadTable", "Effect": "Allow", "Action": ["dynamodb:Query", "dynamodb:GetItem"], "Resource": "*"},
            {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"},
        ]}}]);
        let new = json!([{"PolicyName": "access", "PolicyDocument": {"Statement": [
            {"Sid": "ReadTable", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query"], "Resource": "*"},
            {"Resource": "*", "Action": "logs:PutLogEvents", "Effect": "Allow"},
        ]}}]);
        assert_eq!(
            walk("Policies", old, new),
            [(
                "Policies[PolicyName=access].PolicyDocument.Statement[Sid=ReadTable].Action".into(),
                None,
                Some(json!("dynamodb:Scan"))
            )]
        );
    }

    #[test]
    fn statements_without_sid_and_security_group_rules_are_keyed_by_content() {
        let rule = |cidr: &str| json!({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": cidr});
        let old = json!([rule("10.0.0.0/16"), rule("10.1.0.0/16")]);
        let mut new_rule = rule("0.0.0.0/0");
        new_rule["FromPort"] = json!("443");
        let new = json!([{"ToPort": 443, "IpProtocol": "tcp", "FromPort": "443", "CidrIp": "10.1.0.0/16"}, new_rule.clone()]);
        assert_eq!(
            walk("SecurityGroupIngress", old, new),
            [
                (
                    "SecurityGroupIngress".into(),
                    Some(rule("10.0.0.0/16")),
                    None
                ),
                ("SecurityGroupIngress".into(), None, Some(new_rule)),
            ]
        );
        let leaves = walk(
            "Statement",
            json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]),
            json!([{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]),
        );
        assert_eq!(leaves.len(), 2);
        assert!(leaves.iter().all(|(p, _, _)| p == "Statement"));
    }

    #[test]
    fn obvious_key_fields_name_elements() {
        let leaves = walk(
            "AttributeDefinitions",
            json!([{"AttributeName": "pk", "AttributeType": "S"}]),
            json!([{"AttributeName": "pk", "AttributeType": "N"}]),
        );
        assert_eq!(
            leaves[0].0,
            "AttributeDefinitions[AttributeName=pk].AttributeType"
        );
        let leaves = walk(
            "Rules",
            json!([{"Id": "expire", "ExpirationInDays": 7}]),
            json!([{"Id": "expire", "ExpirationInDays": 30}]),
        );
        assert_eq!(leaves[0].0, "Rules[Id=expire].ExpirationInDays");
        // A key value that would not read back is quoted.
        let leaves = walk(
            "Tags",
            json!([{"Key": "a]b", "Value": "1"}]),
            json!([{"Key": "a]b", "Value": "2"}]),
        );
        assert_eq!(leaves[0].0, r#"Tags[Key="a]b"].Value"#);
    }

    #[test]
    fn duplicate_or_missing_keys_fall_back_to_position() {
        let leaves = walk(
            "Things",
            json!([{"Name": "a", "V": 1}, {"Name": "a", "V": 2}]),
            json!([{"Name": "a", "V": 1}, {"Name": "a", "V": 3}]),
        );
        assert_eq!(
            leaves,
            [("Things[1].V".into(), Some(json!(2)), Some(json!(3)))]
        );
    }

    #[test]
    fn ordered_lists_align_so_an_insertion_is_one_change() {
        assert_eq!(
            walk(
                "Layers",
                json!(["a", "b", "c"]),
                json!(["a", "x", "b", "c"])
            ),
            [("Layers[1]".into(), None, Some(json!("x")))]
        );
        assert_eq!(
            walk("Layers", json!(["l1", "l2"]), json!(["l1", "l3"])),
            [("Layers[1]".into(), Some(json!("l2")), Some(json!("l3")))]
        );
        assert_eq!(
            walk("Layers", json!(["a", "b", "c"]), json!(["a"])),
            [
                ("Layers[1]".into(), Some(json!("b")), None),
                ("Layers[2]".into(), Some(json!("c")), None),
            ]
        );
    }

    #[test]
    fn intrinsics_change_as_one_value_even_where_a_list_is_expected() {
        let leaves = walk(
            "Action",
            json!({"Fn::If": ["C", ["a"], ["b"]]}),
            json!(["a"]),
        );
        assert_eq!(
            leaves,
            [(
                "Action".into(),
                Some(json!({"Fn::If": ["C", ["a"], ["b"]]})),
                Some(json!(["a"]))
            )]
        );
        let leaves = walk(
            "Role",
            json!({"Fn::GetAtt": ["A", "Arn"]}),
            json!({"Fn::GetAtt": ["B", "Arn"]}),
        );
        assert_eq!(leaves.len(), 1);
        assert_eq!(leaves[0].0, "Role");
        let leaves = walk("Tags", json!([{"Ref": "X"}]), json!([{"Ref": "Y"}]));
        assert_eq!(leaves[0].0, "Tags[0]");
    }

    #[test]
    fn equivalence_ignores_key_order_and_scalar_spelling_not_list_order() {
        assert!(equivalent(
            &json!({"a": 1, "b": "2", "c": true}),
            &json!({"c": "true", "b": 2, "a": "1"})
        ));
        assert!(!equivalent(&json!(null), &json!("null")));
        assert!(!equivalent(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!equivalent(&json!(["a", "b"]), &json!(["b", "a"])));
    }

    #[test]
    fn a_reordered_set_is_one_change_of_the_whole_list() {
        assert_eq!(
            walk("Action", json!(["a", "b"]), json!(["b", "a"])),
            [(
                "Action".into(),
                Some(json!(["a", "b"])),
                Some(json!(["b", "a"]))
            )]
        );
        assert_eq!(
            walk("Resource", json!("*"), json!(["*"])),
            [("Resource".into(), Some(json!("*")), Some(json!(["*"])))]
        );
        // Condition values are sets too.
        let condition = |values: Value| json!({"StringEquals": {"aws:SourceAccount": values}});
        assert_eq!(
            walk(
                "Condition",
                condition(json!(["1", "2"])),
                condition(json!(["2", "3"]))
            ),
            [
                (
                    "Condition.StringEquals.aws:SourceAccount".into(),
                    Some(json!("1")),
                    None
                ),
                (
                    "Condition.StringEquals.aws:SourceAccount".into(),
                    None,
                    Some(json!("3"))
                ),
            ]
        );
        // A duplicate counts.
        assert_eq!(
            walk("Action", json!(["a", "a"]), json!(["a"])),
            [("Action".into(), Some(json!("a")), None)]
        );
    }
}
