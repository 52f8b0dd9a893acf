//! The message the webhook handler and the stuck-job checker put on the
//! results queue, and process-result takes: a prediction that reached a
//! terminal status, to be stored.

use crate::replicate::Prediction;
use serde::{Deserialize, Serialize};

/// Who saw the prediction finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A signed webhook delivery.
    Webhook,
    /// The stuck-job checker's poll.
    Poll,
}

/// One queue message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultMessage {
    /// The prediction as Replicate sent or returned it.
    pub prediction: Prediction,
    /// Who saw it.
    pub source: Source,
    /// When it was received (Unix seconds).
    pub received_at: i64,
}

impl ResultMessage {
    /// The message for `prediction`, without the model's logs and input:
    /// process-result needs neither, they can be large (inputs may embed
    /// images as data URIs), and an SQS message is limited to 256 KiB.
    pub fn new(mut prediction: Prediction, source: Source, received_at: i64) -> ResultMessage {
        prediction.logs = None;
        prediction.input = serde_json::Value::Null;
        ResultMessage {
            prediction,
            source,
            received_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replicate::PredictionStatus;

    #[test]
    fn a_message_round_trips_in_camel_case() {
        let text = r#"{"prediction":{"id":"p1","status":"succeeded","output":["http://x/a.png"]},"source":"webhook","receivedAt":7}"#;
        let m: ResultMessage = serde_json::from_str(text).unwrap();
        assert_eq!(m.prediction.status, PredictionStatus::Succeeded);
        assert_eq!(m.source, Source::Webhook);
        assert_eq!(m.received_at, 7);
        let back: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(back["source"], "webhook");
        assert_eq!(back["receivedAt"], 7);
        assert!(serde_json::from_str::<ResultMessage>(
            r#"{"prediction":{"id":"p","status":"succeeded"},"source":"mail","receivedAt":1}"#
        )
        .is_err());
    }

    #[test]
    fn queued_predictions_drop_logs_and_input() {
        let p: Prediction = serde_json::from_value(serde_json::json!({
            "id": "p1", "status": "succeeded", "output": ["http://x/a.png"],
            "input": {"image": "data:image/png;base64,AAAA"}, "logs": "step 1\nstep 2",
            "metrics": {"predict_time": 2.5}
        }))
        .unwrap();
        let m = ResultMessage::new(p.clone(), Source::Poll, 9);
        let q = &m.prediction;
        assert_eq!(q.logs, None);
        assert_eq!(q.input, serde_json::Value::Null);
        assert_eq!(q.output, p.output);
        assert_eq!(q.metrics, p.metrics);
        assert_eq!(
            (q.id.as_str(), m.source, m.received_at),
            ("p1", Source::Poll, 9)
        );
    }
}
