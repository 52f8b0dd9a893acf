//! Drift: how deployed resources differ from their stack's template,
//! found by CloudFormation's drift detection (`stackctl drift`). Each stack
//! is detected at once, followed with the engine's backoff, and each
//! drifted resource is reported with its property differences in the
//! shape `diff` uses (expected, the template's value, before; actual
//! after).

use super::wait::{Backoff, Clock};
use crate::aws::cloudformation::{
    CfnError, CloudFormation, ErrorKind, PropertyDifference, ResourceDrift,
};
use crate::diff::{Action, PropertyChange, ResourceChange};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// How long one stack's detection may take.
const DETECTION_TIMEOUT: Duration = Duration::from_secs(900);

/// One stack's drift.
#[derive(Debug, Clone, Serialize)]
pub struct StackDrift {
    /// The stack's name in the project.
    pub stack: String,
    /// CloudFormation's name.
    pub stack_name: String,
    /// Whether the stack exists.
    pub deployed: bool,
    /// `IN_SYNC`, `DRIFTED`, `UNKNOWN` or `NOT_CHECKED` (not deployed).
    pub status: String,
    /// Why detection did not complete for every resource, when it did not.
    pub reason: Option<String>,
    /// The resources that differ (or are gone), by logical id.
    pub resources: Vec<ResourceChange>,
    /// Resources CloudFormation cannot check for drift.
    pub not_checked: Vec<String>,
}

impl StackDrift {
    /// Whether anything drifted.
    pub fn drifted(&self) -> bool {
        !self.resources.is_empty()
    }
}

impl fmt::Display for StackDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = format!("{} ({})", self.stack_name, self.stack);
        if !self.deployed {
            return write!(f, "  {name}: not deployed");
        }
        if !self.drifted() {
            write!(f, "= {name}: in sync")?;
        } else {
            let n = self.resources.len();
            write!(
                f,
                "~ {name}: {n} resource{} drifted (template -> actual)",
                if n == 1 { "" } else { "s" }
            )?;
            for r in &self.resources {
                write!(f, "\n{r}")?;
            }
        }
        if !self.not_checked.is_empty() {
            write!(
                f,
                "\n  not checked (CloudFormation cannot detect their drift): {}",
                self.not_checked.join(", ")
            )?;
        }
        if let Some(reason) = &self.reason {
            write!(f, "\n  note: {reason}")?;
        }
        Ok(())
    }
}

/// Detects the drift of one stack and waits for the answer.
pub async fn detect<C: CloudFormation, K: Clock>(
    cfn: &C,
    clock: &K,
    stack: &str,
    stack_name: &str,
) -> Result<StackDrift, CfnError> {
    let mut report = StackDrift {
        stack: stack.to_string(),
        stack_name: stack_name.to_string(),
        deployed: false,
        status: "NOT_CHECKED".into(),
        reason: None,
        resources: Vec::new(),
        not_checked: Vec::new(),
    };
    if cfn.describe(stack_name).await?.is_none() {
        return Ok(report);
    }
    report.deployed = true;
    let id = cfn
        .detect_drift(stack_name)
        .await
        .map_err(|e| unsupported(stack_name, e))?;
    let started = clock.now();
    let mut backoff = Backoff::default();
    let detection = loop {
        let d = cfn.drift_detection(&id).await?;
        if d.status != "DETECTION_IN_PROGRESS" {
            break d;
        }
        if clock.now() - started > DETECTION_TIMEOUT {
            return Err(CfnError::new(
                ErrorKind::Other,
                format!(
                    "drift detection on {stack_name} still runs after {} s (detection {id})",
                    DETECTION_TIMEOUT.as_secs()
                ),
            ));
        }
        clock.sleep(backoff.next_pause()).await;
    };
    report.status = detection
        .stack_drift_status
        .clone()
        .unwrap_or_else(|| "UNKNOWN".into());
    if detection.status == "DETECTION_FAILED" {
        report.reason = Some(
            detection
                .reason
                .unwrap_or_else(|| "drift detection failed for some resources".into()),
        );
    }
    for d in cfn.resource_drifts(stack_name).await? {
        match d.status.as_str() {
            "MODIFIED" | "DELETED" => report.resources.push(resource_change(&d)),
            "NOT_CHECKED" => report.not_checked.push(d.logical_id.clone()),
            _ => {}
        }
    }
    report
        .resources
        .sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    report.not_checked.sort();
    Ok(report)
}

/// A failed DetectStackDrift: where the endpoint does not implement it
/// (moto answers with an HTML error page), say so plainly.
fn unsupported(stack_name: &str, e: CfnError) -> CfnError {
    let lower = e.message.to_ascii_lowercase();
    let missing = e.kind == ErrorKind::BadResponse
        || lower.contains("not implemented")
        || lower.contains("invalidaction")
        || lower.contains("unknownoperation");
    if !missing {
        return e;
    }
    let answer = if e.kind == ErrorKind::BadResponse {
        "an error page, not an AWS response".to_string()
    } else {
        e.message.lines().next().unwrap_or_default().to_string()
    };
    CfnError::new(
        ErrorKind::Other,
        format!(
            "the endpoint does not support drift detection: DetectStackDrift on {stack_name} got {answer}\nhint: the local emulator (moto) does not implement drift detection; run `stackctl drift` against AWS"
        ),
    )
}

/// A drifted resource as a change: expected (template) before, actual after.
fn resource_change(d: &ResourceDrift) -> ResourceChange {
    let (action, properties) = match d.status.as_str() {
        "DELETED" => (Action::Remove, Vec::new()),
        _ => (
            Action::Modify,
            d.differences.iter().map(property_change).collect(),
        ),
    };
    ResourceChange {
        logical_id: d.logical_id.clone(),
        resource_type: d.resource_type.clone(),
        action,
        replacement: false,
        replacement_causes: Vec::new(),
        properties,
    }
}

fn property_change(p: &PropertyDifference) -> PropertyChange {
    let value = |text: &str| serde_json::from_str(text).unwrap_or_else(|_| Value::from(text));
    let (before, after) = match p.kind.as_str() {
        "ADD" => (None, Some(value(&p.actual))),
        "REMOVE" => (Some(value(&p.expected)), None),
        _ => (Some(value(&p.expected)), Some(value(&p.actual))),
    };
    PropertyChange {
        path: pointer_path(&p.path),
        before,
        after,
        requires_replacement: false,
    }
}

/// CloudFormation's JSON pointer as `diff` writes paths:
/// `/Properties/Tags/0/Value` -> `Properties.Tags[0].Value`.
pub fn pointer_path(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.trim_start_matches('/').split('/') {
        let part = part.replace("~1", "/").replace("~0", "~");
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_read_as_diff_paths() {
        assert_eq!(
            pointer_path("/Properties/MemorySize"),
            "Properties.MemorySize"
        );
        assert_eq!(
            pointer_path("/Properties/Tags/0/Value"),
            "Properties.Tags[0].Value"
        );
        assert_eq!(
            pointer_path("/Properties/Environment/Variables/A~1B"),
            "Properties.Environment.Variables.A/B"
        );
    }

    #[test]
    fn differences_keep_expected_before_and_actual_after() {
        let p = |kind: &str| PropertyDifference {
            path: "/Properties/MemorySize".into(),
            expected: "256".into(),
            actual: "512".into(),
            kind: kind.into(),
        };
        let c = property_change(&p("NOT_EQUAL"));
        assert_eq!(
            (c.before, c.after),
            (Some(Value::from(256)), Some(Value::from(512)))
        );
        assert_eq!(property_change(&p("ADD")).before, None);
        assert_eq!(property_change(&p("REMOVE")).after, None);
        let text = PropertyDifference {
            expected: "not json".into(),
            ..p("NOT_EQUAL")
        };
        assert_eq!(property_change(&text).before, Some(Value::from("not json")));
    }
}
