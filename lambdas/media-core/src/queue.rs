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
        assert!(serde_json::from_str::<ResultMessage>(r#"{"prediction":{"id":"p","status":"succeeded"},"source":"mail","receivedAt":1}"#).is_err());
    }
}
