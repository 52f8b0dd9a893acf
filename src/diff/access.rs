//! Who can do what: the vocabulary the IAM and network sections share, and
//! what makes a change "broadening" (it lets someone do something they
//! could not do before, the changes `cdk diff` asks about).

use super::{resources, Action};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// One resource whose access-bearing part differs between two templates.
pub(super) struct Changed<T> {
    /// Logical id.
    pub logical_id: String,
    /// Its type (the desired one when both have it).
    pub resource_type: String,
    /// Added, removed or modified as a whole resource.
    pub action: Action,
    /// The part as deployed (empty when the resource is new).
    pub before: T,
    /// The part as desired (empty when the resource goes).
    pub after: T,
}

/// Reads a part of every resource (`read`: its grants, its rules) of two
/// templates (`before` is `None` for a stack not deployed) and returns the
/// resources where `same` says it differs, by logical id.
pub(super) fn changed_parts<T: Default>(
    before: Option<&Value>,
    after: &Value,
    read: impl Fn(&Value) -> T,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<Changed<T>> {
    let empty = Map::new();
    let old = before.and_then(resources).unwrap_or(&empty);
    let new = resources(after).unwrap_or(&empty);
    let ids: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut changes = Vec::new();
    for id in ids {
        let (a, b) = (old.get(id), new.get(id));
        let (before, after) = (
            a.map(&read).unwrap_or_default(),
            b.map(&read).unwrap_or_default(),
        );
        if same(&before, &after) {
            continue;
        }
        let action = match (a, b) {
            (None, _) => Action::Add,
            (_, None) => Action::Remove,
            _ => Action::Modify,
        };
        let resource_type = b
            .or(a)
            .and_then(|r| r.get("Type"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        changes.push(Changed {
            logical_id: id.clone(),
            resource_type,
            action,
            before,
            after,
        });
    }
    changes
}

/// Marks a broadening change in text and Markdown.
pub const WARNING: &str = "⚠";

/// Whether a statement or rule appears or disappears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in the deployed template: the deploy takes it away.
    Removed,
    /// Only in the rendered template: the deploy grants it.
    Added,
}

impl Change {
    /// `-` or `+`.
    pub fn sign(self) -> char {
        match self {
            Change::Removed => '-',
            Change::Added => '+',
        }
    }
}

/// How a change widens access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BroadeningKind {
    /// An Allow for an action that was not allowed before.
    NewAction,
    /// An action already allowed, now on more resources (a new ARN, `*`, or
    /// a wildcard that covers more).
    WiderResource,
    /// A principal that could not act before (trust or resource policy, a
    /// role or user a policy is attached to, a Lambda permission).
    NewPrincipal,
    /// The same grant without the condition that limited it.
    RemovedCondition,
    /// The same grant under another condition (which may be wider).
    ChangedCondition,
    /// A Deny taken away.
    RemovedDeny,
    /// A managed policy attached to a role, user or group.
    ManagedPolicy,
    /// A statement or rule stackctl cannot read (an intrinsic function where
    /// a statement or rule is expected), counted as broadening to be safe.
    Unreadable,
    /// A rule open to any address (`0.0.0.0/0`, `::/0`).
    OpenToInternet,
    /// A CIDR that covers more addresses than before, or a wide one (`/8`
    /// or wider for IPv4, `/32` or wider for IPv6).
    WiderCidr,
    /// A security group or prefix list that could not reach the group before.
    NewSourceGroup,
    /// More ports or protocols from a peer that was already allowed.
    WiderPorts,
    /// Any other new rule.
    NewRule,
}

impl BroadeningKind {
    /// A few words for the reader.
    pub fn describe(self) -> &'static str {
        match self {
            BroadeningKind::NewAction => "new action",
            BroadeningKind::WiderResource => "wider resource",
            BroadeningKind::NewPrincipal => "new principal",
            BroadeningKind::RemovedCondition => "condition removed",
            BroadeningKind::ChangedCondition => "condition changed",
            BroadeningKind::RemovedDeny => "deny removed",
            BroadeningKind::ManagedPolicy => "managed policy attached",
            BroadeningKind::Unreadable => "not readable, assumed broadening",
            BroadeningKind::OpenToInternet => "open to the internet",
            BroadeningKind::WiderCidr => "wider CIDR",
            BroadeningKind::NewSourceGroup => "new source group",
            BroadeningKind::WiderPorts => "more ports",
            BroadeningKind::NewRule => "new rule",
        }
    }
}

impl fmt::Display for BroadeningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One change that widens access, named for a reader (and for `deploy`'s
/// second question).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broadening {
    /// The resource that carries the policy or rule.
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
    /// How it widens access.
    pub kind: BroadeningKind,
    /// The statement or rule, as its row reads: `Allow dynamodb:Scan on
    /// !GetAtt Sessions.Arn`, `ingress tcp 22 from 0.0.0.0/0`.
    pub detail: String,
}

impl fmt::Display for Broadening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.logical_id, self.kind, self.detail)
    }
}

/// What a stack diff does to access, for its summary.
///
/// A stack that is not deployed yet grants everything it declares, so its
/// IAM statements and rules are all added and flagged like any other grant;
/// the summary says [`AccessChange::NewStack`] rather than
/// [`AccessChange::Broadens`] so a reviewer (or `--fail-on broadening`) can
/// tell "creates access that did not exist" from "widens the access of
/// something already running".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessChange {
    /// Nothing widens access (access may narrow).
    None,
    /// The stack is not deployed yet and declares access.
    NewStack,
    /// A deployed stack's access widens.
    Broadens,
}
