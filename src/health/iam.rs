//! A live IAM policy document against the rendered one, the way IAM reads
//! them: each statement is expanded into (effect, action, resource,
//! condition) permissions, so the order of statements, actions and
//! resources, and how they are grouped, do not matter; actions compare
//! case-insensitively. What the live document allows and the rendered one
//! does not is *extra* (grouped back by the live statement, named by its
//! `Sid` or position); what the rendered one allows and the live one does
//! not is *missing*. A statement with `NotAction` or `NotResource` is never
//! rendered by stackctl, so it is extra as a whole.

use super::resolve::{Pattern, Resolver};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};

/// What differs between a live document and the rendered one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyDiff {
    /// Live statements allowing (or denying) more than rendered, one line
    /// each.
    pub extra: Vec<Extra>,
    /// Rendered statements not (fully) in the live document, one line each.
    pub missing: Vec<String>,
}

/// A live statement that grants or denies more than the rendered policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    /// `Allow` or `Deny`.
    pub effect: String,
    /// Whether one of its resources is a bare `*`.
    pub star: bool,
    /// `statement `Sid` allows A, B on R` (or `also allows`, when part of it
    /// is rendered).
    pub text: String,
}

impl PolicyDiff {
    /// Whether the documents are the same.
    pub fn is_empty(&self) -> bool {
        self.extra.is_empty() && self.missing.is_empty()
    }

    /// Whether the live document allows anything not rendered.
    pub fn broadens(&self) -> bool {
        self.extra.iter().any(|e| e.effect == "Allow")
    }
}

/// The values of `v`: a list's items, or `v` alone.
fn items(v: Option<&Json>) -> Vec<&Json> {
    match v {
        None => Vec::new(),
        Some(Json::Array(a)) => a.iter().collect(),
        Some(other) => vec![other],
    }
}

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A condition block as operator → key → values (values as text).
type Conditions<T> = BTreeMap<(String, String), Vec<T>>;

fn conditions<T>(v: Option<&Json>, mut value: impl FnMut(&Json) -> T) -> Conditions<T> {
    let mut out = BTreeMap::new();
    if let Some(Json::Object(ops)) = v {
        for (op, keys) in ops {
            if let Json::Object(keys) = keys {
                for (k, vals) in keys {
                    out.insert(
                        (op.clone(), k.to_ascii_lowercase()),
                        items(Some(vals)).into_iter().map(&mut value).collect(),
                    );
                }
            }
        }
    }
    out
}

/// A rendered statement, resolved.
struct Want {
    sid: String,
    effect: String,
    actions: Vec<String>,
    resources: Vec<Pattern>,
    condition: Conditions<Pattern>,
}

/// A live statement.
struct Have {
    name: String,
    effect: String,
    actions: Vec<String>,
    resources: Vec<String>,
    condition: Conditions<String>,
    /// `NotAction` / `NotResource`: not expanded.
    opaque: bool,
}

fn condition_matches(want: &Conditions<Pattern>, have: &Conditions<String>) -> bool {
    want.len() == have.len()
        && want.iter().all(|(k, patterns)| {
            have.get(k).is_some_and(|values| {
                values.iter().all(|v| patterns.iter().any(|p| p.matches(v)))
                    && patterns.iter().all(|p| values.iter().any(|v| p.matches(v)))
            })
        })
}

/// Compares `live` with `rendered`, whose values `r` resolves.
pub fn compare(rendered: &Json, live: &Json, r: &Resolver<'_>) -> PolicyDiff {
    let wants: Vec<Want> = items(rendered.get("Statement"))
        .into_iter()
        .enumerate()
        .map(|(i, s)| Want {
            sid: s
                .get("Sid")
                .and_then(Json::as_str)
                .map_or_else(|| format!("#{}", i + 1), str::to_string),
            effect: s.get("Effect").map(text).unwrap_or_default(),
            actions: items(s.get("Action")).into_iter().map(text).collect(),
            resources: items(s.get("Resource"))
                .into_iter()
                .map(|x| r.resolve(x))
                .collect(),
            condition: conditions(s.get("Condition"), |v| r.resolve(v)),
        })
        .collect();
    let haves: Vec<Have> = items(live.get("Statement"))
        .into_iter()
        .enumerate()
        .map(|(i, s)| Have {
            name: s
                .get("Sid")
                .and_then(Json::as_str)
                .filter(|s| !s.is_empty())
                .map_or_else(|| format!("#{}", i + 1), |s| format!("`{s}`")),
            effect: s.get("Effect").map(text).unwrap_or_default(),
            actions: items(s.get("Action")).into_iter().map(text).collect(),
            resources: items(s.get("Resource")).into_iter().map(text).collect(),
            condition: conditions(s.get("Condition"), text),
            opaque: s.get("NotAction").is_some() || s.get("NotResource").is_some(),
        })
        .collect();
    let covered = |h: &Have, action: &str, resource: &str| {
        !h.opaque
            && wants.iter().any(|w| {
                w.effect == h.effect
                    && w.actions.iter().any(|a| a.eq_ignore_ascii_case(action))
                    && w.resources.iter().any(|p| p.matches(resource))
                    && condition_matches(&w.condition, &h.condition)
            })
    };
    let mut diff = PolicyDiff::default();
    for h in &haves {
        let verb = if h.effect == "Deny" {
            "denies"
        } else {
            "allows"
        };
        if h.opaque {
            diff.extra.push(Extra {
                effect: h.effect.clone(),
                star: true,
                text: format!(
                    "statement {} {verb} with NotAction/NotResource, which stackctl never renders",
                    h.name
                ),
            });
            continue;
        }
        let mut actions = BTreeSet::new();
        let mut resources = BTreeSet::new();
        let mut total = 0;
        for a in &h.actions {
            for x in &h.resources {
                total += 1;
                if !covered(h, a, x) {
                    actions.insert(a.as_str());
                    resources.insert(x.as_str());
                }
            }
        }
        if actions.is_empty() {
            continue;
        }
        let uncovered = actions.len() * resources.len();
        let also = if uncovered < total { "also " } else { "" };
        diff.extra.push(Extra {
            effect: h.effect.clone(),
            star: resources.contains("*"),
            text: format!(
                "statement {} {also}{verb} {} on {}",
                h.name,
                actions.into_iter().collect::<Vec<_>>().join(", "),
                resources.into_iter().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    for w in &wants {
        let mut lacking: BTreeSet<String> = BTreeSet::new();
        let mut on: BTreeSet<String> = BTreeSet::new();
        for a in &w.actions {
            for p in &w.resources {
                let present = haves.iter().any(|h| {
                    !h.opaque
                        && h.effect == w.effect
                        && h.actions.iter().any(|x| x.eq_ignore_ascii_case(a))
                        && h.resources.iter().any(|x| p.matches(x))
                        && condition_matches(&w.condition, &h.condition)
                });
                if !present {
                    lacking.insert(a.clone());
                    on.insert(p.to_string());
                }
            }
        }
        if !lacking.is_empty() {
            diff.missing.push(format!(
                "statement `{}` lacks {} on {}",
                w.sid,
                lacking.into_iter().collect::<Vec<_>>().join(", "),
                on.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    diff
}

/// An IAM policy document as IAM returns it: URL-encoded JSON (AWS), plain
/// JSON, or, for a policy its CloudFormation made, a Python literal (moto
/// 5.2 answers `{'Version': '2012-10-17', ...}`).
pub fn parse_document(raw: &str) -> Option<Json> {
    serde_json::from_str(raw)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(raw)?).ok())
        .or_else(|| python_literal(raw))
}

/// A Python literal of dicts, lists, strings (either quote), numbers,
/// `True`, `False` and `None`, as JSON.
fn python_literal(text: &str) -> Option<Json> {
    fn skip(s: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        while s.peek().is_some_and(|c| c.is_whitespace()) {
            s.next();
        }
    }
    fn value(s: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Json> {
        skip(s);
        match *s.peek()? {
            '{' | '[' => {
                let close = if s.next()? == '{' { '}' } else { ']' };
                let mut map = serde_json::Map::new();
                let mut list = Vec::new();
                loop {
                    skip(s);
                    if s.peek() == Some(&close) {
                        s.next();
                        break;
                    }
                    let v = value(s)?;
                    skip(s);
                    if close == '}' {
                        (s.next()? == ':').then_some(())?;
                        let Json::String(k) = v else { return None };
                        map.insert(k, value(s)?);
                    } else {
                        list.push(v);
                    }
                    skip(s);
                    match s.next()? {
                        ',' => {}
                        c if c == close => break,
                        _ => return None,
                    }
                }
                Some(if close == '}' {
                    Json::Object(map)
                } else {
                    Json::Array(list)
                })
            }
            q @ ('\'' | '"') => {
                s.next();
                let mut out = String::new();
                loop {
                    match s.next()? {
                        '\\' => match s.next()? {
                            'n' => out.push('\n'),
                            't' => out.push('\t'),
                            c => out.push(c),
                        },
                        c if c == q => break,
                        c => out.push(c),
                    }
                }
                Some(Json::String(out))
            }
            _ => {
                let mut word = String::new();
                while s
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
                {
                    word.push(s.next()?);
                }
                match word.as_str() {
                    "True" => Some(Json::Bool(true)),
                    "False" => Some(Json::Bool(false)),
                    "None" => Some(Json::Null),
                    w => serde_json::from_str(w).ok(),
                }
            }
        }
    }
    let mut chars = text.chars().peekable();
    let v = value(&mut chars)?;
    skip(&mut chars);
    chars.next().is_none().then_some(v)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{Deployed, Target};
    use crate::render::Inventory;
    use serde_json::json;

    fn with_resolver(f: impl FnOnce(&Resolver<'_>)) {
        let deployed = Deployed {
            resources: [("Items".to_string(), "app-items".to_string())].into(),
            parameters: Default::default(),
        };
        let template = json!({"Resources": {"Items": {"Type": "AWS::DynamoDB::Table"}}});
        let inv = Inventory {
            key: "f".into(),
            kind: "function".into(),
            physical_name: None,
            resources: Vec::new(),
        };
        let t = Target {
            env: "dev",
            region: "us-east-1",
            stack: "app",
            key: "f",
            inventory: &inv,
            deployed: &deployed,
            template: &template,
            emulated: false,
            binding: None,
            migrations: None,
        };
        let r = Resolver::new(&t).with_arn("arn:aws:iam::123456789012:role/r");
        f(&r);
    }

    fn rendered() -> Json {
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "WriteOwnLogs", "Effect": "Allow",
             "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/f:*"}]},
            {"Sid": "ItemsRead", "Effect": "Allow",
             "Action": ["dynamodb:GetItem", "dynamodb:Query"],
             "Resource": [{"Fn::GetAtt": ["Items", "Arn"]},
                          {"Fn::Sub": ["${T}/index/*", {"T": {"Fn::GetAtt": ["Items", "Arn"]}}]}]}
        ]})
    }

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/app-items";
    const LOGS: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*";

    #[test]
    fn the_same_permissions_in_another_order_and_grouping_are_equal() {
        with_resolver(|r| {
            let live = json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "ItemsRead", "Effect": "Allow", "Action": "dynamodb:query",
                 "Resource": [format!("{TABLE}/index/*"), TABLE]},
                {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [TABLE, format!("{TABLE}/index/*")]},
                {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:PutLogEvents", "logs:CreateLogStream"], "Resource": LOGS}
            ]});
            let d = compare(&rendered(), &live, r);
            assert!(d.is_empty(), "{d:?}");
        });
    }

    #[test]
    fn a_hand_added_star_statement_is_extra_and_named() {
        with_resolver(|r| {
            let live = json!({"Statement": [
                {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": [LOGS]},
                {"Sid": "ItemsRead", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": [TABLE, "*"]},
                {"Sid": "Debug", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}
            ]});
            let d = compare(&rendered(), &live, r);
            let texts: Vec<&str> = d.extra.iter().map(|e| e.text.as_str()).collect();
            assert_eq!(
                texts,
                [
                    "statement `ItemsRead` also allows dynamodb:GetItem, dynamodb:Query on *",
                    "statement `Debug` allows s3:* on *",
                ]
            );
            assert!(d.extra.iter().all(|e| e.star));
            assert!(d.broadens());
            // The index resource went: the rendered statement lacks it.
            assert_eq!(
                d.missing,
                [format!("statement `ItemsRead` lacks dynamodb:GetItem, dynamodb:Query on {TABLE}/index/*")]
            );
        });
    }

    #[test]
    fn another_account_a_deny_and_not_action_are_told() {
        with_resolver(|r| {
            let live = json!({"Statement": [
                {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                 "Resource": "arn:aws:logs:us-east-1:999999999999:log-group:/aws/lambda/f:*"},
                {"Sid": "ItemsRead", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": [TABLE, format!("{TABLE}/index/*")]},
                {"Effect": "Deny", "Action": "dynamodb:Query", "Resource": TABLE},
                {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
            ]});
            let d = compare(&rendered(), &live, r);
            assert_eq!(d.extra.len(), 3, "{d:?}");
            assert_eq!(
                d.extra[1].text,
                format!("statement #3 denies dynamodb:Query on {TABLE}")
            );
            assert_eq!(d.extra[1].effect, "Deny");
            assert!(d.extra[2].text.contains("NotAction"));
            assert_eq!(d.missing.len(), 1);
            assert!(d.missing[0].starts_with("statement `WriteOwnLogs` lacks"));
        });
    }

    #[test]
    fn url_encoded_and_plain_documents_are_read() {
        let plain = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(parse_document(plain), parse_document(encoded));
        assert!(parse_document(plain).is_some());
        assert_eq!(parse_document("%ZZ"), None);
        // moto's form for a policy its CloudFormation made.
        let python = r#"{'Version': '2012-10-17', 'Statement': [{'Sid': "it's", 'Effect': 'Allow', 'Action': ['s3:GetObject'], 'Resource': '*', 'Condition': {'Bool': {'aws:SecureTransport': True}}, 'N': 3}]}"#;
        assert_eq!(
            parse_document(python),
            Some(
                json!({"Version": "2012-10-17", "Statement": [{"Sid": "it's", "Effect": "Allow",
                "Action": ["s3:GetObject"], "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": true}}, "N": 3}]})
            )
        );
        assert_eq!(parse_document("{'a': 'b'"), None);
    }
}
