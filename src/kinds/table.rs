//! `table`: a DynamoDB table, on-demand and encrypted, with global secondary
//! indexes, TTL and an optional stream. Grants: `read`, `write`, `delete`,
//! `scan`, `stream`. Alarms: `AWS/DynamoDB`.

use super::key::{self, Encryption};
use super::{AlarmMetrics, Kind};
use crate::aws::resources::{Resources, TableState, TimeToLive};
use crate::health::access::{Access, AccessTarget};
use crate::health::{Finding, Pending, Target};
use crate::limits::simple_problem;
use crate::model::source::{index, join};
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

/// DynamoDB table, on-demand billing, encrypted at rest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Physical name pattern.
    #[serde(default)]
    pub name: Option<String>,
    /// Key attributes and their types (`string`, `number`, `binary`).
    pub attributes: BTreeMap<String, AttributeType>,
    /// Partition key, then optional sort key.
    pub key: Vec<String>,
    /// Global secondary indexes by name.
    #[serde(default)]
    pub indexes: BTreeMap<String, Index>,
    /// Attribute holding the expiry time (epoch seconds).
    #[serde(default)]
    pub ttl: Option<String>,
    /// Stream view: `new_image`, `old_image`, `new_and_old_images`, `keys_only`.
    #[serde(default)]
    pub stream: Option<StreamView>,
    /// Point-in-time recovery (default: the environment setting).
    #[serde(default)]
    pub point_in_time_recovery: Option<PerEnv<bool>>,
    /// Keep the table when the stack is deleted (default: the `retain_data` setting).
    #[serde(default)]
    pub retain: Option<PerEnv<bool>>,
    /// Encrypt with a `key` of the stack (default: the AWS-owned key).
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

/// A global secondary index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Partition key, then optional sort key.
    pub key: Vec<String>,
    /// `all` (default), `keys_only`, or a list of attribute names.
    #[serde(default)]
    pub projection: Option<Projection>,
}

/// What an index holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "`all`, `keys_only` or a list of attribute names"
)]
pub enum Projection {
    /// `all` or `keys_only`.
    Kind(ProjectionKind),
    /// These non-key attributes.
    Include(Vec<String>),
}

/// The type of a key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeType {
    /// `S`.
    String,
    /// `N`.
    Number,
    /// `B`.
    Binary,
}

impl AttributeType {
    /// CloudFormation's `AttributeType`.
    pub fn cfn(self) -> &'static str {
        match self {
            AttributeType::String => "S",
            AttributeType::Number => "N",
            AttributeType::Binary => "B",
        }
    }
}

/// What a table's stream records of a changed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamView {
    /// The item after the change.
    NewImage,
    /// The item before the change.
    OldImage,
    /// Both.
    NewAndOldImages,
    /// The key attributes only.
    KeysOnly,
}

impl StreamView {
    /// CloudFormation's `StreamViewType`.
    pub fn cfn(self) -> &'static str {
        match self {
            StreamView::NewImage => "NEW_IMAGE",
            StreamView::OldImage => "OLD_IMAGE",
            StreamView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
            StreamView::KeysOnly => "KEYS_ONLY",
        }
    }
}

/// An index holding all attributes or only the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionKind {
    /// Every attribute.
    All,
    /// The table's and the index's keys.
    KeysOnly,
}

/// What reading a table's stream takes (a `stream` grant, a consumer).
pub const STREAM_ACTIONS: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];

/// `status`: the table is `ACTIVE`; being created or updated is not
/// settled yet; anything else (deleting, its key inaccessible, archived)
/// fails.
fn health_status(t: &TableState) -> Finding {
    let s = t.status.as_str();
    let f = match s {
        "ACTIVE" => Finding::pass("status", "ACTIVE"),
        "CREATING" | "UPDATING" => {
            Finding::unknown("status", format!("not settled yet ({s})")).hint("run health again in a minute")
        }
        "INACCESSIBLE_ENCRYPTION_CREDENTIALS" => Finding::fail("status", "its KMS key is disabled or its grant revoked: reads and writes fail")
            .hint("enable the key (or restore its grant); DynamoDB archives the table after seven days without it"),
        _ => Finding::fail("status", format!("{s}: not usable")),
    };
    f.observed(s).expected("ACTIVE")
}

/// The declared global secondary indexes' names, as rendered.
fn declared_indexes(t: &Target<'_>, logical: &str) -> Vec<String> {
    t.properties(logical)
        .and_then(|p| p.get("GlobalSecondaryIndexes"))
        .and_then(Json::as_array)
        .map(|ix| {
            ix.iter()
                .filter_map(|i| i.get("IndexName").and_then(Json::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `indexes`: every declared index exists and is `ACTIVE`.
fn health_indexes(table: &TableState, t: &Target<'_>, logical: &str) -> Finding {
    let declared = declared_indexes(t, logical);
    let status = |name: &str| {
        table
            .indexes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
    };
    let observed = declared
        .iter()
        .map(|n| format!("{n} {}", status(n).unwrap_or("missing")))
        .collect::<Vec<_>>()
        .join(", ");
    let expected = format!("{} ACTIVE", declared.join(", "));
    let missing: Vec<&str> = declared
        .iter()
        .map(String::as_str)
        .filter(|n| status(n).is_none())
        .collect();
    let broken: Vec<&str> = declared
        .iter()
        .map(String::as_str)
        .filter(
            |n| matches!(status(n), Some(s) if !matches!(s, "ACTIVE" | "CREATING" | "UPDATING")),
        )
        .collect();
    let settling = declared
        .iter()
        .any(|n| matches!(status(n), Some("CREATING" | "UPDATING")));
    let f = if !missing.is_empty() || !broken.is_empty() {
        let names: Vec<&str> = missing.iter().chain(&broken).copied().collect();
        Finding::fail("indexes", format!("not usable: {}", names.join(", ")))
            .hint(format!("`stackctl diff --env {}` shows whether the deployed stack declares them; queries on a missing index fail", t.env))
    } else if settling {
        Finding::unknown("indexes", "not settled yet: an index is being built")
            .hint("run health again when the backfill is done")
    } else {
        Finding::pass("indexes", format!("{} ACTIVE", declared.len()))
    };
    f.observed(observed).expected(expected)
}

/// `ttl`: time to live on the declared attribute (or off, as declared).
/// A turned-off TTL fails: expired items are never deleted, and nothing
/// else notices. moto's CloudFormation never applies TTL, so in an
/// emulator environment a TTL that was never set (no attribute named) is
/// `skip`; one set and turned off through the API is judged.
fn health_ttl(ttl: &TimeToLive, t: &Target<'_>, logical: &str, table: &str) -> Finding {
    let spec = t
        .properties(logical)
        .and_then(|p| p.get("TimeToLiveSpecification"));
    let declared = spec
        .filter(|s| {
            matches!(s.get("Enabled"), Some(Json::Bool(true)))
                || s.get("Enabled").and_then(Json::as_str) == Some("true")
        })
        .and_then(|s| s.get("AttributeName"))
        .and_then(Json::as_str);
    let on = matches!(ttl.status.as_str(), "ENABLED" | "ENABLING");
    let attribute = ttl.attribute.as_deref();
    let observed = match attribute {
        Some(a) => format!("{} on {a}", ttl.status),
        None => ttl.status.clone(),
    };
    let f = match (declared, on) {
        (Some(want), true) if attribute == Some(want) => Finding::pass("ttl", format!("on {want}")),
        (Some(want), true) => Finding::fail(
            "ttl",
            format!("TTL is on {}, not {want}", attribute.unwrap_or("another attribute")),
        ),
        (Some(_), false) if t.emulated && attribute.is_none() => Finding::skip(
            "ttl",
            "the emulator's CloudFormation does not apply TimeToLiveSpecification, so TTL is never on after a deploy there",
        ),
        (Some(want), false) => Finding::fail("ttl", "TTL is off: expired items are never deleted").hint(format!(
            "`aws dynamodb update-time-to-live --table-name {table} --time-to-live-specification Enabled=true,AttributeName={want}` (CloudFormation does not notice it is off, so a deploy does not turn it on)"
        )),
        (None, false) => Finding::pass("ttl", "off, as declared"),
        (None, true) => Finding::warn(
            "ttl",
            format!("TTL is on {} but not declared: items expire", attribute.unwrap_or("an attribute")),
        )
        .hint("declare `ttl:` on the table, or turn TTL off"),
    };
    let expected = match declared {
        Some(want) => format!("ENABLED on {want}"),
        None => "DISABLED".to_string(),
    };
    f.observed(observed).expected(expected)
}

/// `pitr`: point-in-time recovery on or off as declared
/// (`PointInTimeRecoverySpecification`). Declared on and found off fails:
/// the table cannot be restored to a moment before a bad write. moto's
/// CloudFormation never applies it, and DynamoDB tells no "never set" from
/// "turned off", so in an emulator environment declared-on-but-off is
/// `skip`; turned on through the API there, it is judged.
fn health_pitr(status: &str, t: &Target<'_>, logical: &str, table: &str) -> Finding {
    let declared = t
        .properties(logical)
        .and_then(|p| p.get("PointInTimeRecoverySpecification"))
        .and_then(|s| s.get("PointInTimeRecoveryEnabled"))
        .is_some_and(|v| v == &Json::Bool(true) || v.as_str() == Some("true"));
    let on = status == "ENABLED";
    let expected = if declared { "ENABLED" } else { "DISABLED" };
    let f = match (declared, on) {
        (true, true) => Finding::pass("pitr", "point-in-time recovery on, as declared"),
        (false, false) => Finding::pass("pitr", "point-in-time recovery off, as declared"),
        (true, false) if t.emulated => Finding::skip(
            "pitr",
            "the emulator's CloudFormation does not apply PointInTimeRecoverySpecification, so it is never on after a deploy there",
        ),
        (true, false) => Finding::fail(
            "pitr",
            "point-in-time recovery is off: the table cannot be restored to before a bad write",
        )
        .hint(format!(
            "`aws dynamodb update-continuous-backups --table-name {table} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true` (CloudFormation does not notice it is off)"
        )),
        (false, true) => Finding::warn(
            "pitr",
            "point-in-time recovery is on but not declared (it is billed)",
        )
        .hint(format!(
            "declare `point_in_time_recovery: true` on the table in {}, or turn it off",
            t.env
        )),
    };
    f.observed(status).expected(expected)
}

impl Kind for Table {
    const NAME: &'static str = "table";
    const TEMPLATE_FILE: &'static str = "table.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/table.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["name", "arn", "stream_arn"];
    const GRANT_LEVELS: &'static [&'static str] = &["read", "write", "delete", "scan", "stream"];
    const HEALTH_CHECKS: &'static [&'static str] = &["status", "indexes", "ttl", "pitr"];
    const ALARM: Option<AlarmMetrics> = Some(AlarmMetrics {
        namespace: "AWS/DynamoDB",
        dimension: "TableName",
        metrics: &[
            "ReadThrottleEvents",
            "WriteThrottleEvents",
            "ThrottledRequests",
            "UserErrors",
            "SystemErrors",
            "ConsumedReadCapacityUnits",
            "ConsumedWriteCapacityUnits",
            "SuccessfulRequestLatency",
        ],
    });

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn graphs(&self, _cx: &Builder, key: &str) -> Vec<super::Graph> {
        use super::Graph;
        vec![
            Graph::of(
                "throttles",
                "AWS/DynamoDB",
                "TableName",
                json!({"Ref": pascal(key)}),
                &[
                    ("ReadThrottleEvents", "Sum"),
                    ("WriteThrottleEvents", "Sum"),
                ],
            ),
            Graph::of(
                "errors",
                "AWS/DynamoDB",
                "TableName",
                json!({"Ref": pascal(key)}),
                &[("SystemErrors", "Sum"), ("UserErrors", "Sum")],
            ),
        ]
    }

    /// DescribeTable for `status` (and `indexes`, when it declares some);
    /// DescribeTimeToLive for `ttl`. What is declared is read from the
    /// rendered template, overrides included.
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        let names: &[&str] = if self.indexes.is_empty() {
            &["status"]
        } else {
            &["status", "indexes"]
        };
        let with_indexes = !self.indexes.is_empty();
        vec![
            Pending::new(names, async move {
                let logical = t.logical_id();
                let name = t.physical_id(&logical)?;
                let table = aws.table(name).await?;
                let mut out = vec![health_status(&table)];
                if with_indexes {
                    out.push(health_indexes(&table, &t, &logical));
                }
                Ok(out)
            }),
            Pending::new(&["ttl"], async move {
                let logical = t.logical_id();
                let name = t.physical_id(&logical)?;
                let ttl = aws.time_to_live(name).await?;
                Ok(vec![health_ttl(&ttl, &t, &logical, name)])
            }),
            Pending::new(&["pitr"], async move {
                let logical = t.logical_id();
                let name = t.physical_id(&logical)?;
                let status = aws.point_in_time_recovery(name).await?;
                Ok(vec![health_pitr(&status, &t, &logical, name)])
            }),
        ]
    }

    /// DescribeTable, DescribeTimeToLive and DescribeContinuousBackups on
    /// the table (by its rendered name).
    fn health_access(&self, a: &AccessTarget<'_>) -> Vec<Access> {
        a.property(&a.logical_id(), "TableName")
            .map(|name| {
                Access::new(
                    "ReadTables",
                    &[
                        "dynamodb:DescribeTable",
                        "dynamodb:DescribeTimeToLive",
                        "dynamodb:DescribeContinuousBackups",
                    ],
                    a.arn("dynamodb", &format!("table/{name}")),
                )
            })
            .into_iter()
            .collect()
    }

    fn name_problem(name: &str) -> Option<String> {
        simple_problem("table name", name, 255, "_-.").or_else(|| {
            (name.len() < 3).then(|| format!("table name `{name}` is shorter than 3 characters"))
        })
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let t = self;
        let l = pascal(key);
        cx.claim(&l, path);
        let retain = cx.retain(&t.retain, path);
        let pitr = match &t.point_in_time_recovery {
            Some(v) => cx
                .per_env(v, &join(path, "point_in_time_recovery"))
                .unwrap_or(false),
            None => cx.settings.point_in_time_recovery,
        };
        let mut used = BTreeSet::new();
        let attrs: Vec<Json> = t
            .attributes
            .iter()
            .map(|(name, ty)| json!({"name": name, "type": ty.cfn()}))
            .collect();
        let table_key = key_schema(cx, t, &t.key, &join(path, "key"), &mut used);
        let mut gsis = Vec::new();
        for (iname, ix) in &t.indexes {
            let ipath = join(&join(path, "indexes"), iname);
            let ks = key_schema(cx, t, &ix.key, &join(&ipath, "key"), &mut used);
            let projection = match &ix.projection {
                None | Some(Projection::Kind(ProjectionKind::All)) => json!({"type": "ALL"}),
                Some(Projection::Kind(ProjectionKind::KeysOnly)) => json!({"type": "KEYS_ONLY"}),
                Some(Projection::Include(list)) => json!({"type": "INCLUDE", "attributes": list}),
            };
            gsis.push(json!({"name": iname, "key_schema": ks, "projection": projection}));
        }
        for name in t.attributes.keys() {
            if !used.contains(name) {
                let msg = format!("attribute `{name}` is declared but used by no key or index");
                cx.error_hint(
                    &join(&join(path, "attributes"), name),
                    msg,
                    "DynamoDB rejects unused attribute definitions; declare only key attributes",
                );
            }
        }
        let stream = t.stream.map(StreamView::cfn);
        json!({
            "logical": l,
            "name": cx.name(key),
            "deletion_policy": super::DeletionPolicy::retaining(retain),
            "key": key::resolve(cx, &self.encryption, path),
            "deletion_protection": retain,
            "attributes": attrs,
            "key_schema": table_key,
            "indexes": gsis,
            "ttl": t.ttl,
            "stream": stream,
            "point_in_time_recovery": pitr,
        })
    }

    fn encryption_key(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key.as_str())
    }

    fn writes(level: &str) -> bool {
        matches!(level, "write" | "delete")
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, path: &str) -> Json {
        let l = pascal(key);
        match attr {
            "name" => json!({"Ref": l}),
            "arn" => json!({"Fn::GetAtt": [l, "Arn"]}),
            "stream_arn" => {
                if self.stream.is_none() {
                    cx.error_hint(
                        path,
                        format!("table `{key}` has no stream, so no `stream_arn`"),
                        "add `stream: new_and_old_images` to the table",
                    );
                }
                json!({"Fn::GetAtt": [l, "StreamArn"]})
            }
            // Not an attribute of a table (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn grant(
        &self,
        cx: &mut Builder,
        key: &str,
        level: &str,
        _prefixes: &[String],
        path: &str,
    ) -> Option<Json> {
        let l = pascal(key);
        let arn = json!({"Fn::GetAtt": [l, "Arn"]});
        let with_indexes = || {
            vec![
                arn.clone(),
                json!({"Fn::Sub": [ "${TableArn}/index/*", {"TableArn": arn.clone()} ]}),
            ]
        };
        Some(match level {
            "read" => iam::allow(
                key,
                level,
                &[
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:Query",
                    "dynamodb:ConditionCheckItem",
                ],
                with_indexes(),
                None,
            ),
            "scan" => iam::allow(key, level, &["dynamodb:Scan"], with_indexes(), None),
            "write" => iam::allow(
                key,
                level,
                &[
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:BatchWriteItem",
                ],
                vec![arn.clone()],
                None,
            ),
            "delete" => iam::allow(
                key,
                level,
                &["dynamodb:DeleteItem"],
                vec![arn.clone()],
                None,
            ),
            "stream" => {
                if self.stream.is_none() {
                    cx.error_hint(
                        path,
                        format!("table `{key}` has no stream"),
                        "add `stream:` to the table",
                    );
                }
                iam::allow(
                    key,
                    level,
                    STREAM_ACTIONS,
                    vec![json!({"Fn::GetAtt": [l, "StreamArn"]})],
                    None,
                )
            }
            // Not a level of a table (GRANT_LEVELS is checked first).
            _ => return None,
        })
    }
}

/// A key schema (`[partition, sort?]`) of the table or an index; the
/// attributes it names are recorded in `used`.
fn key_schema(
    cx: &mut Builder,
    t: &Table,
    key: &[String],
    path: &str,
    used: &mut BTreeSet<String>,
) -> Json {
    if key.is_empty() || key.len() > 2 {
        cx.error_hint(
            path,
            format!("a key has one or two attributes, found {}", key.len()),
            "write `[partition]` or `[partition, sort]`",
        );
    }
    let mut out = Vec::new();
    for (i, a) in key.iter().enumerate() {
        if !t.attributes.contains_key(a) {
            let names: Vec<&str> = t.attributes.keys().map(String::as_str).collect();
            let d = cx
                .stack
                .source
                .error(
                    index(path, i),
                    format!("key attribute `{a}` is not declared in `attributes`"),
                )
                .suggest(a, names);
            cx.diags.push(d);
        }
        used.insert(a.clone());
        out.push(json!({"name": a, "type": if i == 0 { "HASH" } else { "RANGE" }}));
    }
    Json::Array(out)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, statement, statements};
    use serde_json::json;

    #[test]
    fn key_schemas_and_projections_are_laid_out_by_the_template() {
        let t = render(
            "resources:
  items:
    type: table
    attributes: {pk: string, sk: number, owner: binary}
    key: [pk, sk]
    indexes:
      by_owner: {key: [owner], projection: [title, size]}
      owners_only: {key: [owner, pk], projection: keys_only}
    stream: keys_only
",
        );
        let p = &t["Resources"]["Items"]["Properties"];
        assert_eq!(
            p["AttributeDefinitions"],
            json!([
                {"AttributeName": "owner", "AttributeType": "B"},
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ])
        );
        assert_eq!(
            p["KeySchema"],
            json!([
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ])
        );
        assert_eq!(
            p["GlobalSecondaryIndexes"][0],
            json!({
                "IndexName": "by_owner",
                "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title", "size"]},
            })
        );
        assert_eq!(
            p["GlobalSecondaryIndexes"][1]["Projection"],
            json!({"ProjectionType": "KEYS_ONLY"})
        );
        assert_eq!(p["StreamSpecification"]["StreamViewType"], "KEYS_ONLY");
    }

    #[test]
    fn table_grants_name_the_table_and_its_indexes_never_star() {
        let t = render(
            "resources:
  items:
    type: table
    attributes: {id: string}
    key: [id]
    stream: new_image
  reader:
    type: function
    crate: reader
    grants:
      items: [read, write, delete, scan, stream]
",
        );
        let read = statement(&t, "Reader", "ItemsRead");
        assert_eq!(read["Resource"][0], json!({"Fn::GetAtt": ["Items", "Arn"]}));
        assert_eq!(
            read["Resource"][1]["Fn::Sub"][0],
            json!("${TableArn}/index/*")
        );
        let stream = statement(&t, "Reader", "ItemsStream");
        assert_eq!(
            stream["Resource"],
            json!([{"Fn::GetAtt": ["Items", "StreamArn"]}])
        );
        for s in statements(&t, "Reader") {
            assert!(!s["Resource"].to_string().contains("\"*\""), "{s}");
        }
    }
}
