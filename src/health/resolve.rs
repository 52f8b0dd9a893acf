//! What a rendered value (with `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`)
//! became in the deployed stack, for checks that compare a live setting with
//! the rendered one (a role's policy, a bucket's key, a rule's target).
//!
//! Parameters and resources resolve to the deployed stack's values and
//! physical ids; `Arn` attributes of the common types are built from the
//! physical id, the partition, region and account. What cannot be known
//! from there (an attribute AWS makes up, such as a stream's label, or the
//! account when nothing said it) is a *hole*: it matches one or more
//! characters, none of them `*` or `?`. So a value changed to a wildcard
//! never matches what was rendered.

use super::Target;
use serde_json::Value as Json;

/// One part of a resolved value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Known text.
    Text(String),
    /// Unknown text without wildcards.
    Hole,
}

/// A resolved value: text with holes where it cannot be known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pattern(Vec<Piece>);

impl Pattern {
    /// Known text.
    pub fn text(t: impl Into<String>) -> Self {
        let t = t.into();
        if t.is_empty() {
            Self(Vec::new())
        } else {
            Self(vec![Piece::Text(t)])
        }
    }

    /// Unknown text.
    pub fn hole() -> Self {
        Self(vec![Piece::Hole])
    }

    fn push(&mut self, other: Pattern) {
        for p in other.0 {
            match (self.0.last_mut(), p) {
                (Some(Piece::Text(a)), Piece::Text(b)) => a.push_str(&b),
                (_, p) => self.0.push(p),
            }
        }
    }

    /// Its text, when nothing in it is unknown.
    pub fn known(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Hole => return None,
            }
        }
        Some(out)
    }

    /// Whether `text` is what this pattern stands for.
    pub fn matches(&self, text: &str) -> bool {
        fn go(pieces: &[Piece], text: &str) -> bool {
            match pieces.split_first() {
                None => text.is_empty(),
                Some((Piece::Text(t), rest)) => {
                    text.strip_prefix(t.as_str()).is_some_and(|r| go(rest, r))
                }
                Some((Piece::Hole, rest)) => {
                    // One or more characters, no wildcard among them.
                    let limit = text.find(['*', '?']).unwrap_or(text.len());
                    (1..=limit)
                        .filter(|&i| text.is_char_boundary(i))
                        .any(|i| go(rest, &text[i..]))
                }
            }
        }
        go(&self.0, text)
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.0 {
            match p {
                Piece::Text(t) => f.write_str(t)?,
                Piece::Hole => f.write_str("<?>")?,
            }
        }
        Ok(())
    }
}

/// What resolves a rendered value: the deployed stack of a target, and the
/// partition, region and account where known.
#[derive(Debug, Clone, Copy)]
pub struct Resolver<'a> {
    target: &'a Target<'a>,
    partition: Option<&'a str>,
    account: Option<&'a str>,
}

impl<'a> Resolver<'a> {
    /// Values of `target`'s deployed stack; the partition from its region,
    /// the account unknown.
    pub fn new(target: &'a Target<'a>) -> Self {
        Self {
            target,
            partition: None,
            account: None,
        }
    }

    /// With the partition and account of `arn` (any ARN of the account,
    /// such as a role's).
    pub fn with_arn(mut self, arn: &'a str) -> Self {
        let mut parts = arn.splitn(6, ':');
        let (_, partition, _, _, account) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        );
        self.partition = partition.filter(|p| !p.is_empty());
        self.account = account.filter(|a| !a.is_empty());
        self
    }

    fn partition(&self) -> Pattern {
        match self.partition {
            Some(p) => Pattern::text(p),
            None if self.target.region.is_empty() => Pattern::hole(),
            None => Pattern::text(partition_of(self.target.region)),
        }
    }

    fn region(&self) -> Pattern {
        if self.target.region.is_empty() {
            Pattern::hole()
        } else {
            Pattern::text(self.target.region)
        }
    }

    fn account(&self) -> Pattern {
        self.account.map_or_else(Pattern::hole, Pattern::text)
    }

    /// What `value` became.
    pub fn resolve(&self, value: &Json) -> Pattern {
        match value {
            Json::String(s) => Pattern::text(s.clone()),
            Json::Number(n) => Pattern::text(n.to_string()),
            Json::Bool(b) => Pattern::text(b.to_string()),
            Json::Object(o) if o.len() == 1 => {
                let (f, arg) = o.iter().next().expect("one entry");
                match (f.as_str(), arg) {
                    ("Ref", Json::String(name)) => self.reference(name),
                    ("Fn::GetAtt", Json::Array(a)) => match (a.first(), a.get(1)) {
                        (Some(Json::String(l)), Some(Json::String(attr))) => {
                            self.attribute(l, attr)
                        }
                        _ => Pattern::hole(),
                    },
                    ("Fn::GetAtt", Json::String(dotted)) => match dotted.split_once('.') {
                        Some((l, attr)) => self.attribute(l, attr),
                        None => Pattern::hole(),
                    },
                    ("Fn::Sub", Json::String(text)) => self.sub(text, None),
                    ("Fn::Sub", Json::Array(a)) => match (a.first(), a.get(1)) {
                        (Some(Json::String(text)), Some(Json::Object(vars))) => {
                            self.sub(text, Some(vars))
                        }
                        _ => Pattern::hole(),
                    },
                    ("Fn::Join", Json::Array(a)) => match (a.first(), a.get(1)) {
                        (Some(Json::String(sep)), Some(Json::Array(items))) => {
                            let mut out = Pattern::default();
                            for (i, item) in items.iter().enumerate() {
                                if i > 0 {
                                    out.push(Pattern::text(sep.clone()));
                                }
                                out.push(self.resolve(item));
                            }
                            out
                        }
                        _ => Pattern::hole(),
                    },
                    _ => Pattern::hole(),
                }
            }
            _ => Pattern::hole(),
        }
    }

    /// `Ref`: a pseudo parameter, a parameter's deployed value, or a
    /// resource's physical id.
    fn reference(&self, name: &str) -> Pattern {
        match name {
            "AWS::Partition" => self.partition(),
            "AWS::Region" => self.region(),
            "AWS::AccountId" => self.account(),
            "AWS::URLSuffix" => match self.partition.map(str::to_string).or_else(|| {
                (!self.target.region.is_empty()).then(|| partition_of(self.target.region).into())
            }) {
                Some(p) if p == "aws-cn" => Pattern::text("amazonaws.com.cn"),
                Some(_) => Pattern::text("amazonaws.com"),
                None => Pattern::hole(),
            },
            _ => {
                if let Some(v) = self.target.deployed.parameters.get(name) {
                    return Pattern::text(v.clone());
                }
                self.physical(name)
            }
        }
    }

    fn physical(&self, logical: &str) -> Pattern {
        match self.target.deployed.resources.get(logical) {
            Some(id) if !id.is_empty() => Pattern::text(id.clone()),
            _ => Pattern::hole(),
        }
    }

    /// `Fn::GetAtt`: the ARN attributes of common types, built from the
    /// physical id; anything else is unknown.
    fn attribute(&self, logical: &str, attr: &str) -> Pattern {
        let kind = self
            .target
            .template
            .get("Resources")
            .and_then(|r| r.get(logical))
            .and_then(|r| r.get("Type"))
            .and_then(Json::as_str)
            .unwrap_or_default();
        let Some(id) = self
            .target
            .deployed
            .resources
            .get(logical)
            .filter(|id| !id.is_empty())
        else {
            return Pattern::hole();
        };
        let arn = |service: &str, regional: bool, resource: &str| {
            let mut p = Pattern::text("arn:");
            p.push(self.partition());
            p.push(Pattern::text(format!(":{service}:")));
            if regional {
                p.push(self.region());
                p.push(Pattern::text(":"));
                p.push(self.account());
            } else if service == "iam" {
                p.push(Pattern::text(":"));
                p.push(self.account());
            } else {
                p.push(Pattern::text(":"));
            }
            p.push(Pattern::text(format!(":{resource}")));
            p
        };
        match (kind, attr) {
            ("AWS::DynamoDB::Table", "Arn") => arn("dynamodb", true, &format!("table/{id}")),
            ("AWS::DynamoDB::Table", "StreamArn") => {
                let mut p = arn("dynamodb", true, &format!("table/{id}/stream/"));
                p.push(Pattern::hole());
                p
            }
            ("AWS::SQS::Queue", "Arn") => {
                arn("sqs", true, id.rsplit('/').next().unwrap_or(id.as_str()))
            }
            ("AWS::SQS::Queue", "QueueName") => {
                Pattern::text(id.rsplit('/').next().unwrap_or(id.as_str()))
            }
            ("AWS::S3::Bucket", "Arn") => arn("s3", false, id),
            ("AWS::Lambda::Function", "Arn") => arn("lambda", true, &format!("function:{id}")),
            ("AWS::KMS::Key", "Arn") => arn("kms", true, &format!("key/{id}")),
            ("AWS::IAM::Role", "Arn") => arn("iam", false, &format!("role/{id}")),
            ("AWS::Events::Rule", "Arn") => arn("events", true, &format!("rule/{id}")),
            ("AWS::Logs::LogGroup", "Arn") => arn("logs", true, &format!("log-group:{id}:*")),
            ("AWS::SNS::Topic", "TopicArn") | ("AWS::StepFunctions::StateMachine", "Arn") => {
                Pattern::text(id.clone())
            }
            _ => Pattern::hole(),
        }
    }

    /// `Fn::Sub`: `${Name}` and `${Logical.Attr}` resolved, `${!x}` kept
    /// as `${x}`.
    fn sub(&self, text: &str, vars: Option<&serde_json::Map<String, Json>>) -> Pattern {
        let mut out = Pattern::default();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push(Pattern::text(&rest[..start]));
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push(Pattern::text(&rest[start..]));
                return out;
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push(Pattern::text(format!("${{{literal}}}")));
            } else if let Some(v) = vars.and_then(|v| v.get(name)) {
                out.push(self.resolve(v));
            } else if let Some((l, attr)) = name.split_once('.') {
                out.push(self.attribute(l, attr));
            } else {
                out.push(self.reference(name));
            }
            rest = &after[end + 1..];
        }
        out.push(Pattern::text(rest));
        out
    }
}

/// The partition of `region`.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{Deployed, Target};
    use crate::render::Inventory;
    use serde_json::json;

    fn target<'a>(deployed: &'a Deployed, template: &'a Json, inv: &'a Inventory) -> Target<'a> {
        Target {
            env: "dev",
            region: "eu-west-1",
            stack: "app",
            key: "greeter",
            inventory: inv,
            deployed,
            template,
            emulated: false,
            binding: None,
            migrations: None,
        }
    }

    #[test]
    fn references_attributes_and_subs_resolve_to_the_deployed_values() {
        let deployed = Deployed {
            resources: [
                ("Items".to_string(), "app-items".to_string()),
                ("Jobs".to_string(), "https://sqs/123/app-jobs".to_string()),
                ("Placeholder".to_string(), String::new()),
            ]
            .into(),
            parameters: [("Stage".to_string(), "v1".to_string())].into(),
        };
        let template = json!({"Resources": {
            "Items": {"Type": "AWS::DynamoDB::Table"},
            "Jobs": {"Type": "AWS::SQS::Queue"},
        }});
        let inv = Inventory {
            key: "greeter".into(),
            kind: "function".into(),
            physical_name: None,
            resources: Vec::new(),
        };
        let t = target(&deployed, &template, &inv);
        let r = Resolver::new(&t).with_arn("arn:aws:iam::111122223333:role/x");
        let table = r.resolve(&json!({"Fn::GetAtt": ["Items", "Arn"]}));
        assert_eq!(
            table.known().unwrap(),
            "arn:aws:dynamodb:eu-west-1:111122223333:table/app-items"
        );
        let queue = r.resolve(&json!({"Fn::GetAtt": "Jobs.Arn"}));
        assert_eq!(
            queue.known().unwrap(),
            "arn:aws:sqs:eu-west-1:111122223333:app-jobs"
        );
        let sub = r.resolve(&json!({"Fn::Sub": ["${T}/index/*-${Stage}-${!Keep}", {"T": {"Fn::GetAtt": ["Items", "Arn"]}}]}));
        assert_eq!(
            sub.known().unwrap(),
            "arn:aws:dynamodb:eu-west-1:111122223333:table/app-items/index/*-v1-${Keep}"
        );
        // A stream's label is unknown: a hole, which a wildcard never fills.
        let stream = r.resolve(&json!({"Fn::GetAtt": ["Items", "StreamArn"]}));
        assert!(stream.known().is_none());
        let base = "arn:aws:dynamodb:eu-west-1:111122223333:table/app-items/stream/";
        assert!(stream.matches(&format!("{base}2024-01-01T00:00:00.000")));
        assert!(!stream.matches(&format!("{base}*")));
        assert!(!stream.matches(base));
        assert!(!r.resolve(&json!({"Ref": "Placeholder"})).matches("*"));
        // Without an ARN of the account, the account is a hole.
        let unknown = Resolver::new(&t).resolve(&json!({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/x:*"}));
        assert!(unknown.matches("arn:aws:logs:eu-west-1:999:log-group:/x:*"));
        assert!(!unknown.matches("arn:aws:logs:eu-west-1:*:log-group:/x:*"));
        assert_eq!(
            unknown.to_string(),
            "arn:aws:logs:eu-west-1:<?>:log-group:/x:*"
        );
    }
}
