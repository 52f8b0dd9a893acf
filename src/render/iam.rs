//! Least-privilege IAM statements derived from a function's grants: each
//! access level names exact actions on exact ARNs; nothing data-bearing is
//! granted on `*`.

use serde_json::{json, Value as Json};

/// Access levels each kind of target accepts.
pub fn levels(kind: &str) -> &'static [&'static str] {
    match kind {
        "table" => &["read", "write", "delete", "scan", "stream"],
        "bucket" => &["read", "write", "delete", "list", "multipart"],
        "websocket_api" => &["manage_connections"],
        "function" => &["invoke"],
        _ => &[],
    }
}

/// ARNs of a grant target, computed by the caller from the resource.
pub struct Target<'a> {
    /// Resource key (used for statement ids).
    pub key: &'a str,
    /// Resource kind.
    pub kind: &'a str,
    /// ARN of the resource itself (table, bucket, function, API execution base).
    pub arn: Json,
    /// Bucket name, tables' stream ARN, or the API stage: whatever the level needs.
    pub extra: Json,
}

fn sub(text: String) -> Json {
    json!({ "Fn::Sub": text })
}

/// The statement for one access level on one target.
pub fn statement(t: &Target, level: &str, prefix: Option<&str>) -> Json {
    let sid = format!(
        "{}{}",
        super::names::pascal(t.key),
        super::names::pascal(level)
    );
    let (actions, resources, condition): (Vec<&str>, Vec<Json>, Option<Json>) = match (t.kind, level) {
        ("table", "read") => (
            vec!["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"],
            table_and_indexes(t),
            None,
        ),
        ("table", "scan") => (vec!["dynamodb:Scan"], table_and_indexes(t), None),
        ("table", "write") => (
            vec!["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"],
            vec![t.arn.clone()],
            None,
        ),
        ("table", "delete") => (vec!["dynamodb:DeleteItem"], vec![t.arn.clone()], None),
        ("table", "stream") => (
            vec![
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ],
            vec![t.extra.clone()],
            None,
        ),
        ("bucket", "read") => (vec!["s3:GetObject"], vec![objects(t, prefix)], None),
        // CreateMultipartUpload, UploadPart and CompleteMultipartUpload are
        // authorised by s3:PutObject; there are no separate IAM actions.
        ("bucket", "write") => (vec!["s3:PutObject"], vec![objects(t, prefix)], None),
        ("bucket", "delete") => (vec!["s3:DeleteObject"], vec![objects(t, prefix)], None),
        ("bucket", "list") => (
            vec!["s3:ListBucket"],
            vec![t.arn.clone()],
            prefix.map(|p| json!({"StringLike": {"s3:prefix": [format!("{p}*")]}})),
        ),
        ("bucket", "multipart") => (
            vec!["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:ListBucketMultipartUploads"],
            vec![t.arn.clone(), objects(t, prefix)],
            None,
        ),
        ("websocket_api", "manage_connections") => (
            vec!["execute-api:ManageConnections"],
            vec![sub(format!(
                "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{}}}/{}/*/@connections/*",
                super::names::pascal(t.key),
                t.extra.as_str().unwrap_or("*")
            ))],
            None,
        ),
        ("function", "invoke") => (vec!["lambda:InvokeFunction"], vec![t.arn.clone()], None),
        // Validation rejects every other pair before rendering.
        _ => (vec![], vec![], None),
    };
    let mut s = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    });
    if let Some(c) = condition {
        s["Condition"] = c;
    }
    s
}

fn table_and_indexes(t: &Target) -> Vec<Json> {
    vec![
        t.arn.clone(),
        json!({"Fn::Sub": [ "${TableArn}/index/*", {"TableArn": t.arn.clone()} ]}),
    ]
}

fn objects(t: &Target, prefix: Option<&str>) -> Json {
    let name = t.extra.as_str().unwrap_or_default();
    sub(format!(
        "arn:${{AWS::Partition}}:s3:::{name}/{}*",
        prefix.unwrap_or("")
    ))
}

/// Statements every function needs: writing its own log group, and X-Ray when traced.
pub fn baseline(function_name: &str, tracing: bool) -> Vec<Json> {
    let mut out = vec![json!({
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [sub(format!(
            "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/{function_name}:*"
        ))],
    })];
    if tracing {
        // X-Ray accepts no resource-level scoping; this writes telemetry only.
        out.push(json!({
            "Sid": "WriteTraces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> Target<'static> {
        Target {
            key: "ingest",
            kind: "bucket",
            arn: json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::b"}),
            extra: json!("b"),
        }
    }

    #[test]
    fn bucket_writes_are_scoped_to_the_prefix() {
        let s = statement(&bucket(), "write", Some("uploads/"));
        assert_eq!(s["Action"], json!(["s3:PutObject"]));
        assert_eq!(
            s["Resource"][0]["Fn::Sub"],
            "arn:${AWS::Partition}:s3:::b/uploads/*"
        );
        assert_eq!(s["Sid"], "IngestWrite");
    }

    #[test]
    fn listing_with_a_prefix_carries_a_condition() {
        let s = statement(&bucket(), "list", Some("logs/"));
        assert_eq!(s["Condition"]["StringLike"]["s3:prefix"], json!(["logs/*"]));
    }

    #[test]
    fn no_statement_grants_data_access_on_star() {
        let table = Target {
            key: "t",
            kind: "table",
            arn: json!({"Fn::GetAtt": ["T", "Arn"]}),
            extra: json!({"Fn::GetAtt": ["T", "StreamArn"]}),
        };
        for level in levels("table") {
            let s = statement(&table, level, None);
            assert!(!s["Resource"].to_string().contains("\"*\""), "{level}: {s}");
            assert!(!s["Action"].as_array().unwrap().is_empty(), "{level}");
        }
        for level in levels("bucket") {
            let s = statement(&bucket(), level, None);
            assert!(!s["Resource"].to_string().contains("\"*\""), "{level}: {s}");
        }
    }
}
