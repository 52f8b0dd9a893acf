//! Least-privilege IAM statements: the shape every grant statement takes
//! (each kind's module names the exact actions on exact ARNs of its access
//! levels; nothing data-bearing is granted on `*`), and what every function
//! needs.

use serde_json::{json, Value as Json};

/// `{"Fn::Sub": text}`.
pub fn sub(text: String) -> Json {
    json!({ "Fn::Sub": text })
}

/// An Allow statement for access `level` on resource `key`: its id is
/// `KeyLevel` (`SessionsRead`), its actions and resources exact.
pub fn allow(
    key: &str,
    level: &str,
    actions: &[&str],
    resources: Vec<Json>,
    condition: Option<Json>,
) -> Json {
    let sid = format!(
        "{}{}",
        crate::names::pascal(key),
        crate::names::pascal(level)
    );
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
