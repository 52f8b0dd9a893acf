//! The IAM section of a diff: per resource that carries IAM policy, the
//! statements a deploy adds and removes, and which of them broaden access.
//!
//! Each statement is expanded into permission tuples (effect, action,
//! resource, principal, condition), one per combination of its actions,
//! resources and principals; the deployed and rendered tuples of a resource
//! are compared as sets, and what differs is grouped back into statements
//! for the reader. An added Allow tuple that no deployed Allow of the same
//! resource already covers (wildcards included) broadens access, and so
//! does a removed Deny that no remaining Deny covers. Moving an action from
//! one inline policy of a role to another is therefore no change at all.
//!
//! Read here: roles, users and groups (inline `Policies`, a role's
//! `AssumeRolePolicyDocument`, `ManagedPolicyArns`), `AWS::IAM::Policy`,
//! `ManagedPolicy` and `RolePolicy`/`UserPolicy`/`GroupPolicy` (the roles,
//! users and groups they attach to are their principals), and resource
//! policies: `AWS::Lambda::Permission` (as the statement Lambda makes of
//! it), `AWS::S3::BucketPolicy`, `AWS::SQS::QueuePolicy`,
//! `AWS::SNS::TopicPolicy`, the `KeyPolicy` of `AWS::KMS::Key` and
//! `AWS::SecretsManager::ResourcePolicy`.
//!
//! Coverage is textual: `*` covers everything, `s3:Get*` covers
//! `s3:GetObject`, `!Sub arn:...:s3:::b/*` covers `!Sub arn:...:s3:::b/in/*`,
//! but `!GetAtt Table.Arn` covers only itself, and an account root
//! principal does not stand for the roles of that account. Where it cannot
//! tell, it says "broadens": a reviewer reads one row too many rather than
//! miss one.

use super::access::{changed_parts, Broadening, BroadeningKind, Change};
use super::show::{inline, intrinsic, Quote};
use super::Action;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The `policy` of a managed policy attachment row.
pub const MANAGED_POLICY_ARNS: &str = "ManagedPolicyArns";

/// The IAM statements of one resource that a deploy adds or removes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IamChange {
    /// The resource's key under `Resources`.
    pub logical_id: String,
    /// Its type (the rendered one when it exists).
    pub resource_type: String,
    /// Whether the resource itself is added, modified or removed.
    pub action: Action,
    /// Added and removed statements, by policy, removed before added.
    pub statements: Vec<IamStatement>,
}

/// Permissions that appear or disappear together: one effect, principals
/// and condition, with the actions and resources that share them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IamStatement {
    /// Added or removed.
    pub change: Change,
    /// Which document of the resource: `Policies` (a role's inline
    /// policies, together), `AssumeRolePolicyDocument`, `ManagedPolicyArns`,
    /// `PolicyDocument`, `KeyPolicy`, `ResourcePolicy`, or `Permission` (a
    /// Lambda permission).
    pub policy: String,
    /// `Allow` or `Deny` (as written); `(unreadable)` for a statement
    /// stackctl cannot read, whose text is then its only action.
    pub effect: String,
    /// Actions, sorted; `NotAction` entries read `NOT <action>`.
    pub actions: Vec<String>,
    /// Resources, sorted, intrinsics in short form (`!GetAtt Table.Arn`);
    /// `NotResource` entries read `NOT <resource>`. For a managed policy
    /// attachment, the policy ARNs.
    pub resources: Vec<String>,
    /// Principals, sorted: `Service:lambda.amazonaws.com`, `AWS:<arn>`,
    /// `*`, or for a policy attached to identities `role:<name>`,
    /// `user:<name>`, `group:<name>`. Empty for a role's own policies.
    pub principals: Vec<String>,
    /// The condition, as `Operator key=value,value; ...` with operators,
    /// keys and values sorted.
    pub condition: Option<String>,
    /// How it broadens access; `None` when it does not.
    pub broadening: Option<BroadeningKind>,
}

impl IamStatement {
    /// The statement on one line: `Allow dynamodb:Scan on !GetAtt
    /// Sessions.Arn`, `Allow sts:AssumeRole for Service:lambda.amazonaws.com`,
    /// `managed policy arn:aws:iam::aws:policy/ReadOnlyAccess`.
    pub fn summary(&self) -> String {
        let mut s = if self.policy == MANAGED_POLICY_ARNS {
            format!("managed policy {}", self.resources.join(", "))
        } else {
            let mut s = self.effect.clone();
            if !self.actions.is_empty() {
                s = format!("{s} {}", self.actions.join(", "));
            }
            if !self.resources.is_empty() {
                s = format!("{s} on {}", self.resources.join(", "));
            }
            s
        };
        if !self.principals.is_empty() {
            s = format!("{s} for {}", self.principals.join(", "));
        }
        if let Some(condition) = &self.condition {
            s = format!("{s} when {condition}");
        }
        s
    }
}

impl IamChange {
    /// The broadening statements, as reasons.
    pub fn broadening(&self) -> impl Iterator<Item = Broadening> + '_ {
        self.statements.iter().filter_map(|s| {
            s.broadening.map(|kind| Broadening {
                logical_id: self.logical_id.clone(),
                resource_type: self.resource_type.clone(),
                kind,
                detail: s.summary(),
            })
        })
    }
}

/// Compares the IAM policy of two templates' resources; `before` is `None`
/// when the stack is not deployed (every statement is added).
pub fn diff_iam(before: Option<&Value>, after: &Value) -> Vec<IamChange> {
    changed_parts(before, after, grants, |a, b| a == b)
        .into_iter()
        .map(|c| IamChange {
            statements: compare(&c.before, &c.after),
            logical_id: c.logical_id,
            resource_type: c.resource_type,
            action: c.action,
        })
        .collect()
}

/// One permission tuple.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    policy: &'static str,
    effect: String,
    action: String,
    resource: String,
    principal: String,
    condition: String,
    /// false: a statement stackctl cannot read, its text in `action`.
    readable: bool,
}

const UNREADABLE: &str = "(unreadable)";

impl Grant {
    fn unreadable(policy: &'static str, v: &Value) -> Grant {
        Grant {
            policy,
            effect: UNREADABLE.to_string(),
            action: bare(v),
            resource: String::new(),
            principal: String::new(),
            condition: String::new(),
            readable: false,
        }
    }

    fn allows(&self) -> bool {
        self.readable && self.effect != "Deny"
    }

    fn denies(&self) -> bool {
        self.readable && self.effect == "Deny"
    }
}

/// Text of a value in a row: never quoted, intrinsics in short form.
fn bare(v: &Value) -> String {
    inline(v, Quote::Never)
}

/// A list's items, or a single value alone (an intrinsic standing for a
/// list stays one item); nothing for `None`.
fn items(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    }
}

fn plain_object(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object().filter(|_| intrinsic(v).is_none())
}

/// The permission tuples a resource declares; none for a type without IAM
/// policy.
fn grants(resource: &Value) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    let ty = resource
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let empty = Map::new();
    let props = resource
        .get("Properties")
        .and_then(plain_object)
        .unwrap_or(&empty);
    match ty {
        "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => {
            if let Some(doc) = props.get("AssumeRolePolicyDocument") {
                document("AssumeRolePolicyDocument", doc, &[], &mut out);
            }
            for policy in items(props.get("Policies")) {
                match policy.get("PolicyDocument") {
                    Some(doc) if plain_object(policy).is_some() => {
                        document("Policies", doc, &[], &mut out)
                    }
                    _ => {
                        out.insert(Grant::unreadable("Policies", policy));
                    }
                }
            }
            for arn in items(props.get(MANAGED_POLICY_ARNS)) {
                out.insert(Grant {
                    policy: MANAGED_POLICY_ARNS,
                    effect: "Allow".to_string(),
                    action: String::new(),
                    resource: bare(arn),
                    principal: String::new(),
                    condition: String::new(),
                    readable: true,
                });
            }
        }
        "AWS::IAM::Policy"
        | "AWS::IAM::ManagedPolicy"
        | "AWS::IAM::RolePolicy"
        | "AWS::IAM::UserPolicy"
        | "AWS::IAM::GroupPolicy" => {
            let mut attached = Vec::new();
            for (key, prefix) in [
                ("Roles", "role"),
                ("RoleName", "role"),
                ("Users", "user"),
                ("UserName", "user"),
                ("Groups", "group"),
                ("GroupName", "group"),
            ] {
                for who in items(props.get(key)) {
                    attached.push(format!("{prefix}:{}", bare(who)));
                }
            }
            if let Some(doc) = props.get("PolicyDocument") {
                document("PolicyDocument", doc, &attached, &mut out);
            }
        }
        "AWS::S3::BucketPolicy" | "AWS::SQS::QueuePolicy" | "AWS::SNS::TopicPolicy" => {
            if let Some(doc) = props.get("PolicyDocument") {
                document("PolicyDocument", doc, &[], &mut out);
            }
        }
        "AWS::KMS::Key" => {
            if let Some(doc) = props.get("KeyPolicy") {
                document("KeyPolicy", doc, &[], &mut out);
            }
        }
        "AWS::SecretsManager::ResourcePolicy" => {
            if let Some(doc) = props.get("ResourcePolicy") {
                document("ResourcePolicy", doc, &[], &mut out);
            }
        }
        "AWS::Lambda::Permission" => {
            out.insert(permission(props));
        }
        _ => {}
    }
    out
}

/// A policy document's statements. A document written as a JSON string
/// (which CloudFormation accepts) is read as the JSON it holds.
fn document(policy: &'static str, doc: &Value, attached: &[String], out: &mut BTreeSet<Grant>) {
    let parsed;
    let doc = match doc {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => {
                parsed = v;
                &parsed
            }
            Err(_) => {
                out.insert(Grant::unreadable(policy, doc));
                return;
            }
        },
        other => other,
    };
    let Some(map) = plain_object(doc) else {
        out.insert(Grant::unreadable(policy, doc));
        return;
    };
    match map.get("Statement") {
        None => {}
        Some(Value::Array(statements)) => {
            for s in statements {
                statement(policy, s, attached, out);
            }
        }
        Some(s) if plain_object(s).is_some() => statement(policy, s, attached, out),
        Some(other) => {
            out.insert(Grant::unreadable(policy, other));
        }
    }
}

/// The tuples of one statement: every action x resource x principal.
fn statement(policy: &'static str, s: &Value, attached: &[String], out: &mut BTreeSet<Grant>) {
    let Some(map) = plain_object(s) else {
        out.insert(Grant::unreadable(policy, s));
        return;
    };
    let either = |yes: &str, no: &str| -> Vec<String> {
        let mut texts: Vec<String> = items(map.get(yes)).into_iter().map(bare).collect();
        texts.extend(
            items(map.get(no))
                .into_iter()
                .map(|v| format!("NOT {}", bare(v))),
        );
        if texts.is_empty() {
            texts.push(String::new());
        }
        texts
    };
    let actions = either("Action", "NotAction");
    let resources = either("Resource", "NotResource");
    let mut principals: Vec<String> = map
        .get("Principal")
        .map(principal_texts)
        .unwrap_or_default();
    if let Some(not) = map.get("NotPrincipal") {
        principals.extend(principal_texts(not).into_iter().map(|p| format!("NOT {p}")));
    }
    if principals.is_empty() {
        principals = attached.to_vec();
    }
    if principals.is_empty() {
        principals.push(String::new());
    }
    let effect = map.get("Effect").map(bare).unwrap_or_default();
    let condition = map.get("Condition").map(condition_text).unwrap_or_default();
    for action in &actions {
        for resource in &resources {
            for principal in &principals {
                out.insert(Grant {
                    policy,
                    effect: effect.clone(),
                    action: action.clone(),
                    resource: resource.clone(),
                    principal: principal.clone(),
                    condition: condition.clone(),
                    readable: true,
                });
            }
        }
    }
}

/// `"*"` -> `*`; `{"Service": [a, b]}` -> `Service:a`, `Service:b`.
fn principal_texts(v: &Value) -> Vec<String> {
    match plain_object(v) {
        Some(map) => {
            let mut texts = Vec::new();
            for (kind, who) in map {
                for one in items(Some(who)) {
                    texts.push(format!("{kind}:{}", bare(one)));
                }
            }
            texts.sort();
            texts
        }
        None => vec![bare(v)],
    }
}

/// `{"StringEquals": {"aws:SourceAccount": ["2", "1"]}}` ->
/// `StringEquals aws:SourceAccount=1,2`; operators, keys and values sorted,
/// so the same condition always reads the same.
fn condition_text(v: &Value) -> String {
    let Some(operators) = plain_object(v) else {
        return bare(v);
    };
    let mut parts = Vec::new();
    for (op, keys) in operators {
        match plain_object(keys) {
            Some(keys) => {
                for (key, values) in keys {
                    let values: BTreeSet<String> =
                        items(Some(values)).into_iter().map(bare).collect();
                    let values: Vec<String> = values.into_iter().collect();
                    parts.push(format!("{op} {key}={}", values.join(",")));
                }
            }
            None => parts.push(format!("{op} {}", bare(keys))),
        }
    }
    parts.sort();
    parts.join("; ")
}

/// The statement Lambda adds to a function's resource policy for an
/// `AWS::Lambda::Permission`.
fn permission(props: &Map<String, Value>) -> Grant {
    let text = |key: &str| props.get(key).map(bare).unwrap_or_default();
    let principal = match props.get("Principal") {
        Some(Value::String(p)) if p == "*" => "*".to_string(),
        Some(Value::String(p)) if p.ends_with(".amazonaws.com") => format!("Service:{p}"),
        Some(p) => format!("AWS:{}", bare(p)),
        None => String::new(),
    };
    let mut conditions: Vec<String> = [
        ("SourceArn", "ArnLike aws:SourceArn"),
        ("SourceAccount", "StringEquals aws:SourceAccount"),
        ("PrincipalOrgID", "StringEquals aws:PrincipalOrgID"),
        (
            "FunctionUrlAuthType",
            "StringEquals lambda:FunctionUrlAuthType",
        ),
    ]
    .into_iter()
    .filter_map(|(key, condition)| props.get(key).map(|v| format!("{condition}={}", bare(v))))
    .collect();
    conditions.sort();
    Grant {
        policy: "Permission",
        effect: "Allow".to_string(),
        action: text("Action"),
        resource: text("FunctionName"),
        principal,
        condition: conditions.join("; "),
        readable: true,
    }
}

/// What differs between two sets of tuples, grouped into statements.
fn compare(old: &BTreeSet<Grant>, new: &BTreeSet<Grant>) -> Vec<IamStatement> {
    let mut tuples: Vec<(Change, &Grant, Option<BroadeningKind>)> = Vec::new();
    for g in old.difference(new) {
        tuples.push((Change::Removed, g, removed_broadens(g, new)));
    }
    for g in new.difference(old) {
        tuples.push((Change::Added, g, added_broadens(g, old)));
    }
    group(tuples)
}

/// How an added tuple broadens access, given the deployed tuples.
fn added_broadens(t: &Grant, old: &BTreeSet<Grant>) -> Option<BroadeningKind> {
    if !t.readable {
        return Some(BroadeningKind::Unreadable);
    }
    if !t.allows() {
        return None;
    }
    let prior: Vec<&Grant> = old
        .iter()
        .filter(|b| b.policy == t.policy && b.allows())
        .collect();
    if prior.iter().any(|b| covers(b, t)) {
        return None;
    }
    if t.policy == MANAGED_POLICY_ARNS {
        return Some(BroadeningKind::ManagedPolicy);
    }
    let principal_known = prior
        .iter()
        .any(|b| principal_covers(&b.principal, &t.principal));
    if !t.principal.is_empty() && !principal_known {
        return Some(BroadeningKind::NewPrincipal);
    }
    let same_but_condition = prior.iter().any(|b| {
        action_covers(&b.action, &t.action)
            && resource_covers(&b.resource, &t.resource)
            && principal_covers(&b.principal, &t.principal)
    });
    if same_but_condition {
        return Some(if t.condition.is_empty() {
            BroadeningKind::RemovedCondition
        } else {
            BroadeningKind::ChangedCondition
        });
    }
    let action_known = prior.iter().any(|b| {
        action_covers(&b.action, &t.action) && principal_covers(&b.principal, &t.principal)
    });
    Some(if action_known {
        BroadeningKind::WiderResource
    } else {
        BroadeningKind::NewAction
    })
}

/// A removed Deny broadens access unless a rendered Deny still covers it.
fn removed_broadens(t: &Grant, new: &BTreeSet<Grant>) -> Option<BroadeningKind> {
    let still_denied = new
        .iter()
        .any(|b| b.policy == t.policy && b.denies() && covers(b, t));
    (t.denies() && !still_denied).then_some(BroadeningKind::RemovedDeny)
}

/// Whether every permission of `t` is one of `b`'s (same effect assumed):
/// its action, resource and principal are covered, and `b` has no
/// condition or the same one.
fn covers(b: &Grant, t: &Grant) -> bool {
    action_covers(&b.action, &t.action)
        && resource_covers(&b.resource, &t.resource)
        && principal_covers(&b.principal, &t.principal)
        && (b.condition.is_empty() || b.condition == t.condition)
}

fn action_covers(pattern: &str, action: &str) -> bool {
    pattern_covers(&pattern.to_lowercase(), &action.to_lowercase())
}

fn resource_covers(pattern: &str, resource: &str) -> bool {
    pattern_covers(pattern, resource)
}

/// `NOT x` entries cover only themselves (or are covered by `*`); others
/// match as IAM wildcards.
fn pattern_covers(pattern: &str, text: &str) -> bool {
    if text.starts_with("NOT ") {
        return pattern == "*" || pattern == text;
    }
    if pattern.starts_with("NOT ") {
        return pattern == text;
    }
    wildcard(pattern, text)
}

fn principal_covers(b: &str, t: &str) -> bool {
    b == t || (matches!(b, "*" | "AWS:*") && !t.starts_with("NOT "))
}

/// IAM wildcard match: `*` any run of characters, `?` any one.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut i, mut j) = (0, 0);
    // Where the last `*` was, and the text position it has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// What a row shares: its policy, change, effect, condition and how it
/// broadens.
type RowKey = (&'static str, Change, String, String, Option<BroadeningKind>);

/// Tuples grouped back into statements: actions that share a resource,
/// then resources that share the same actions, then principals that share
/// both.
fn group(tuples: Vec<(Change, &Grant, Option<BroadeningKind>)>) -> Vec<IamStatement> {
    let key = |c: Change, g: &Grant, k: Option<BroadeningKind>| -> RowKey {
        (g.policy, c, g.effect.clone(), g.condition.clone(), k)
    };
    let mut by_resource: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for (c, g, k) in &tuples {
        by_resource
            .entry((key(*c, g, *k), g.principal.clone(), g.resource.clone()))
            .or_default()
            .insert(g.action.clone());
    }
    let mut by_actions: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for ((row, principal, resource), actions) in by_resource {
        by_actions
            .entry((row, principal, actions))
            .or_default()
            .insert(resource);
    }
    let mut by_both: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for ((row, principal, actions), resources) in by_actions {
        by_both
            .entry((row, actions, resources))
            .or_default()
            .insert(principal);
    }
    let listed = |set: BTreeSet<String>| -> Vec<String> {
        set.into_iter().filter(|s| !s.is_empty()).collect()
    };
    by_both
        .into_iter()
        .map(|((row, actions, resources), principals)| {
            let (policy, change, effect, condition, broadening) = row;
            IamStatement {
                change,
                policy: policy.to_string(),
                effect,
                actions: listed(actions),
                resources: listed(resources),
                principals: listed(principals),
                condition: (!condition.is_empty()).then_some(condition),
                broadening,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A template with one resource.
    fn one(ty: &str, properties: Value) -> Value {
        json!({"Resources": {"R": {"Type": ty, "Properties": properties}}})
    }

    fn role_with(statements: Value) -> Value {
        one(
            "AWS::IAM::Role",
            json!({
                "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
                "Policies": [{"PolicyName": "access", "PolicyDocument": {"Statement": statements}}],
            }),
        )
    }

    /// Each changed statement as `<sign> <summary>[ ⚠ <kind>]`.
    fn rows(before: Option<&Value>, after: &Value) -> Vec<String> {
        diff_iam(before, after)
            .iter()
            .flat_map(|c| &c.statements)
            .map(|s| {
                let kind = s.broadening.map(|k| format!(" ⚠ {k}")).unwrap_or_default();
                format!("{} {}{kind}", s.change.sign(), s.summary())
            })
            .collect()
    }

    fn read(actions: Value, resource: Value) -> Value {
        json!([{"Sid": "ReadTable", "Effect": "Allow", "Action": actions, "Resource": resource}])
    }

    #[test]
    fn an_added_action_broadens_and_a_removed_one_does_not() {
        let table = json!({"Fn::GetAtt": ["Sessions", "Arn"]});
        let before = role_with(read(
            json!(["dynamodb:GetItem", "dynamodb:Query"]),
            table.clone(),
        ));
        let after = role_with(read(
            json!(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]),
            table.clone(),
        ));
        let changes = diff_iam(Some(&before), &after);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].logical_id.as_str(), changes[0].action),
            ("R", Action::Modify)
        );
        assert_eq!(
            changes[0].statements,
            [IamStatement {
                change: Change::Added,
                policy: "Policies".into(),
                effect: "Allow".into(),
                actions: vec!["dynamodb:Scan".into()],
                resources: vec!["!GetAtt Sessions.Arn".into()],
                principals: vec![],
                condition: None,
                broadening: Some(BroadeningKind::NewAction),
            }]
        );
        assert_eq!(
            rows(Some(&after), &before),
            ["- Allow dynamodb:Scan on !GetAtt Sessions.Arn"]
        );
    }

    #[test]
    fn a_new_resource_or_a_star_broadens_a_narrower_one_does_not() {
        let arn = |t: &str| json!(format!("arn:aws:dynamodb:eu-west-1:1:table/{t}"));
        let before = role_with(read(json!("dynamodb:GetItem"), arn("a")));
        let more = role_with(read(json!("dynamodb:GetItem"), json!([arn("a"), arn("b")])));
        assert_eq!(
            rows(Some(&before), &more),
            ["+ Allow dynamodb:GetItem on arn:aws:dynamodb:eu-west-1:1:table/b ⚠ wider resource"]
        );
        let star = role_with(read(json!("dynamodb:GetItem"), json!("*")));
        assert_eq!(
            rows(Some(&before), &star),
            [
                "- Allow dynamodb:GetItem on arn:aws:dynamodb:eu-west-1:1:table/a",
                "+ Allow dynamodb:GetItem on * ⚠ wider resource",
            ]
        );
        // Back from `*` to one table: narrower, nothing flagged.
        assert_eq!(
            rows(Some(&star), &before),
            [
                "- Allow dynamodb:GetItem on *",
                "+ Allow dynamodb:GetItem on arn:aws:dynamodb:eu-west-1:1:table/a",
            ]
        );
        // A wildcard that covers the new path, and one that does not.
        let objects = |p: &str| {
            role_with(read(
                json!("s3:GetObject"),
                json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:s3:::b/{p}")}),
            ))
        };
        assert!(rows(Some(&objects("*")), &objects("uploads/*"))
            .iter()
            .all(|r| !r.contains('⚠')));
        assert!(rows(Some(&objects("uploads/*")), &objects("*"))[1].ends_with("⚠ wider resource"));
        // An action wildcard covers the actions it matches, whatever their case.
        let wild = role_with(read(json!("dynamodb:Get*"), arn("a")));
        let one = role_with(read(json!("DynamoDB:getitem"), arn("a")));
        assert!(rows(Some(&wild), &one).iter().all(|r| !r.contains('⚠')));
    }

    #[test]
    fn a_new_trust_principal_broadens() {
        let trust = |principal: Value| {
            one(
                "AWS::IAM::Role",
                json!({"AssumeRolePolicyDocument": {"Statement": [
                    {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]}}),
            )
        };
        let before = trust(json!({"Service": "lambda.amazonaws.com"}));
        let after = trust(
            json!({"Service": "lambda.amazonaws.com", "AWS": "arn:aws:iam::111122223333:root"}),
        );
        assert_eq!(
            rows(Some(&before), &after),
            ["+ Allow sts:AssumeRole for AWS:arn:aws:iam::111122223333:root ⚠ new principal"]
        );
        assert_eq!(
            diff_iam(Some(&before), &after)[0].statements[0].policy,
            "AssumeRolePolicyDocument"
        );
    }

    #[test]
    fn a_removed_condition_or_deny_broadens_an_added_deny_does_not() {
        let statement = |extra: Value| {
            let mut s = json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"});
            if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
                s.extend(extra.clone());
            }
            role_with(json!([s]))
        };
        let limited = statement(
            json!({"Condition": {"StringEquals": {"aws:PrincipalTag/team": ["b", "a"]}}}),
        );
        let open = statement(json!({}));
        assert_eq!(
            rows(Some(&limited), &open),
            [
                "- Allow s3:GetObject on * when StringEquals aws:PrincipalTag/team=a,b",
                "+ Allow s3:GetObject on * ⚠ condition removed",
            ]
        );
        // Adding the condition narrows.
        assert!(rows(Some(&open), &limited).iter().all(|r| !r.contains('⚠')));
        let deny = json!({"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"});
        let allow = json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"});
        let with_deny = role_with(json!([allow, deny]));
        let without = role_with(json!([allow]));
        assert_eq!(
            rows(Some(&with_deny), &without),
            ["- Deny s3:DeleteObject on * ⚠ deny removed"]
        );
        assert_eq!(
            rows(Some(&without), &with_deny),
            ["+ Deny s3:DeleteObject on *"]
        );
    }

    #[test]
    fn moving_a_grant_between_inline_policies_changes_nothing() {
        let statement = json!({"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "*"});
        let policy = |name: &str, statements: Value| json!({"PolicyName": name, "PolicyDocument": {"Statement": statements}});
        let before = one(
            "AWS::IAM::Role",
            json!({"Policies": [policy("a", json!([statement])), policy("b", json!([]))]}),
        );
        let after = one(
            "AWS::IAM::Role",
            json!({"Policies": [policy("a", json!([])), policy("b", json!([statement]))]}),
        );
        assert!(diff_iam(Some(&before), &after).is_empty());
    }

    #[test]
    fn managed_policies_and_attached_policies() {
        let before = one("AWS::IAM::Role", json!({"ManagedPolicyArns": []}));
        let after = one(
            "AWS::IAM::Role",
            json!({"ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}),
        );
        assert_eq!(
            rows(Some(&before), &after),
            ["+ managed policy arn:aws:iam::aws:policy/ReadOnlyAccess ⚠ managed policy attached"]
        );
        let policy = |roles: Value| {
            one(
                "AWS::IAM::Policy",
                json!({"Roles": roles, "PolicyDocument": {"Statement": [
                    {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Q", "Arn"]}}]}}),
            )
        };
        let one_role = policy(json!([{"Ref": "A"}]));
        let two_roles = policy(json!([{"Ref": "A"}, {"Ref": "B"}]));
        assert_eq!(
            rows(Some(&one_role), &two_roles),
            ["+ Allow sqs:SendMessage on !GetAtt Q.Arn for role:!Ref B ⚠ new principal"]
        );
    }

    #[test]
    fn resource_policies_name_their_principals() {
        let bucket_policy = |statements: Value| {
            one(
                "AWS::S3::BucketPolicy",
                json!({"Bucket": {"Ref": "Site"}, "PolicyDocument": {"Statement": statements}}),
            )
        };
        let deny_http = json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": "arn:aws:s3:::site/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}});
        let public = json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::site/*"});
        let before = bucket_policy(json!([deny_http]));
        let after = bucket_policy(json!([deny_http, public]));
        assert_eq!(
            rows(Some(&before), &after),
            ["+ Allow s3:GetObject on arn:aws:s3:::site/* for * ⚠ new principal"]
        );
        // The same as a JSON string (CloudFormation accepts both).
        let as_text = one(
            "AWS::SQS::QueuePolicy",
            json!({"PolicyDocument": serde_json::to_string(&json!({"Statement": [public]})).unwrap()}),
        );
        assert_eq!(
            rows(None, &as_text),
            ["+ Allow s3:GetObject on arn:aws:s3:::site/* for * ⚠ new principal"]
        );
        let key = one(
            "AWS::KMS::Key",
            json!({"KeyPolicy": {"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"}},
             "Action": "kms:*", "Resource": "*"}]}}),
        );
        assert_eq!(
            rows(None, &key),
            ["+ Allow kms:* on * for AWS:!Sub arn:aws:iam::${AWS::AccountId}:root ⚠ new principal"]
        );
        let secret = one(
            "AWS::SecretsManager::ResourcePolicy",
            json!({"ResourcePolicy": {"Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:DeleteSecret", "Resource": "*"}]}}),
        );
        assert_eq!(
            rows(Some(&secret), &json!({})),
            ["- Deny secretsmanager:DeleteSecret on * for * ⚠ deny removed"]
        );
    }

    #[test]
    fn lambda_permissions_read_as_their_statement() {
        let permission = |extra: Value| {
            let mut p = json!({"Action": "lambda:InvokeFunction", "FunctionName": {"Ref": "Fn"},
                "Principal": "apigateway.amazonaws.com"});
            if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
                p.extend(extra.clone());
            }
            one("AWS::Lambda::Permission", p)
        };
        let scoped = permission(
            json!({"SourceArn": {"Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*"}}),
        );
        assert_eq!(
            rows(None, &scoped),
            ["+ Allow lambda:InvokeFunction on !Ref Fn for Service:apigateway.amazonaws.com \
              when ArnLike aws:SourceArn=!Sub arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/* \
              ⚠ new principal"]
        );
        let open = permission(json!({}));
        assert!(rows(Some(&scoped), &open)[1].ends_with("⚠ condition removed"));
        let anyone = permission(json!({"Principal": "*"}));
        assert!(rows(Some(&open), &anyone)[1].ends_with("for * ⚠ new principal"));
    }

    #[test]
    fn what_cannot_be_read_is_assumed_broadening() {
        let role = |policies: Value| one("AWS::IAM::Role", json!({"Policies": policies}));
        let opaque = role(
            json!([{"PolicyName": "p", "PolicyDocument": {"Statement": {"Fn::If": ["C", {}, {}]}}}]),
        );
        let changes = diff_iam(Some(&role(json!([]))), &opaque);
        let s = &changes[0].statements[0];
        assert_eq!(s.effect, "(unreadable)");
        assert_eq!(s.broadening, Some(BroadeningKind::Unreadable));
        assert_eq!(s.summary(), "(unreadable) !If [C, {}, {}]");
        // Nothing readable changed into something odd: no panic, flagged.
        let text_doc = one(
            "AWS::IAM::ManagedPolicy",
            json!({"PolicyDocument": "{not json"}),
        );
        assert_eq!(
            diff_iam(None, &text_doc)[0].statements[0].broadening,
            Some(BroadeningKind::Unreadable)
        );
    }

    #[test]
    fn a_new_resource_lists_its_grants_as_added() {
        let after = role_with(read(
            json!(["dynamodb:GetItem", "dynamodb:Query"]),
            json!("*"),
        ));
        let changes = diff_iam(Some(&json!({"Resources": {}})), &after);
        assert_eq!(changes[0].action, Action::Add);
        assert_eq!(
            rows(Some(&json!({"Resources": {}})), &after),
            [
                "+ Allow sts:AssumeRole for Service:lambda.amazonaws.com ⚠ new principal",
                "+ Allow dynamodb:GetItem, dynamodb:Query on * ⚠ new action",
            ]
        );
        let removed = diff_iam(Some(&after), &json!({}));
        assert_eq!(removed[0].action, Action::Remove);
        assert!(removed[0].statements.iter().all(|s| s.broadening.is_none()));
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(wildcard("*", ""));
        assert!(wildcard("s3:Get*", "s3:GetObject"));
        assert!(wildcard("a*b*c", "a-x-b-y-c"));
        assert!(wildcard("a?c", "abc"));
        assert!(wildcard("a*", "a*b"));
        assert!(!wildcard("s3:Get*", "s3:PutObject"));
        assert!(!wildcard("a?c", "ac"));
        assert!(pattern_covers("*", "NOT s3:GetObject"));
        assert!(!pattern_covers("s3:*", "NOT s3:GetObject"));
        assert!(!pattern_covers("NOT s3:*", "NOT s3:GetObject"));
    }
}
