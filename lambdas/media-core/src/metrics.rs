//! Custom metrics (seed 004: `JobsStarted`, `JobsCompleted`, `JobsFailed`)
//! in CloudWatch's embedded metric format: one JSON line on stdout, which
//! Lambda's log delivery turns into metrics without an API call. Each
//! metric is published without dimensions (what the stack's alarms watch)
//! and by `mediaType` and `modelId`.

use crate::MediaType;
use serde_json::{json, Value};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "Media";

/// A job counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// A prediction was started.
    JobsStarted,
    /// A job's outputs were stored.
    JobsCompleted,
    /// A job failed (the prediction, or storing its outputs).
    JobsFailed,
}

impl Counter {
    /// The metric's name.
    pub fn name(self) -> &'static str {
        match self {
            Counter::JobsStarted => "JobsStarted",
            Counter::JobsCompleted => "JobsCompleted",
            Counter::JobsFailed => "JobsFailed",
        }
    }
}

/// The embedded-metric document counting one `counter` for a job of
/// `media_type` on model `model`, at `now_ms` (Unix milliseconds).
pub fn document(
    namespace: &str,
    counter: Counter,
    media_type: MediaType,
    model: &str,
    now_ms: i64,
) -> Value {
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[], ["mediaType", "modelId"]],
                "Metrics": [{"Name": counter.name(), "Unit": "Count"}],
            }],
        },
        "mediaType": media_type.as_str(),
        "modelId": model,
        counter.name(): 1,
    })
}

/// Prints the document for `counter` to stdout, in the namespace
/// `METRICS_NAMESPACE` (default [`DEFAULT_NAMESPACE`]).
pub fn count(counter: Counter, media_type: MediaType, model: &str) {
    let namespace = std::env::var("METRICS_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    println!(
        "{}",
        document(&namespace, counter, media_type, model, now_ms)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_embedded_metric_format() {
        let d = document("Media", Counter::JobsFailed, MediaType::Video, "svd", 1_000);
        let m = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "Media");
        assert_eq!(
            m["Metrics"][0],
            json!({"Name": "JobsFailed", "Unit": "Count"})
        );
        // Every dimension named in a set is a member of the document.
        for set in m["Dimensions"].as_array().unwrap() {
            for name in set.as_array().unwrap() {
                assert!(d[name.as_str().unwrap()].is_string(), "{name}");
            }
        }
        assert_eq!(m["Dimensions"][0], json!([]));
        assert_eq!(d["JobsFailed"], 1);
        assert_eq!(d["_aws"]["Timestamp"], 1_000);
    }
}
