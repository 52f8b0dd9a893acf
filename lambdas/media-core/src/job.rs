//! The job record (seed 004): created by generate-media, moved on by the
//! webhook processor and the stuck-job checker, read by get-status. It is
//! stored as JSON with camelCase fields (`jobId`, `userId`, ...), like the
//! other records of this repository, with times in Unix seconds.

use crate::replicate::{Prediction, PredictionStatus};
use crate::MediaType;
use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Accepted; the prediction is queued or booting (`starting`).
    Pending,
    /// The model is running (`processing`), or its outputs are being stored.
    Processing,
    /// Outputs stored in the bucket.
    Succeeded,
    /// The prediction failed or was aborted, or its outputs could not be
    /// stored.
    Failed,
    /// The prediction was canceled.
    Canceled,
}

impl JobStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Processing => "processing",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
        }
    }

    /// Whether the job will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<PredictionStatus> for JobStatus {
    /// Replicate's status as the job's: `starting` is pending, `aborted`
    /// (stopped before it ran) is failed.
    fn from(s: PredictionStatus) -> Self {
        match s {
            PredictionStatus::Starting => JobStatus::Pending,
            PredictionStatus::Processing => JobStatus::Processing,
            PredictionStatus::Succeeded => JobStatus::Succeeded,
            PredictionStatus::Failed | PredictionStatus::Aborted => JobStatus::Failed,
            PredictionStatus::Canceled => JobStatus::Canceled,
        }
    }
}

/// One generation job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Our id for the job (partition key).
    pub job_id: String,
    /// Who asked for it.
    pub user_id: String,
    /// What it generates.
    pub media_type: MediaType,
    /// The registry name of the model.
    pub model: String,
    /// Life-cycle status.
    pub status: JobStatus,
    /// Replicate's prediction id, once the prediction exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_id: Option<String>,
    /// When the job was created (Unix seconds); it dates the bucket keys.
    pub created_at: i64,
    /// When the job last changed (Unix seconds).
    pub updated_at: i64,
    /// Bucket keys of the stored outputs, in Replicate's order.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Why the job failed or was canceled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A status change that would move a job backwards or out of a terminal
/// status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {job_id} cannot go from {from} to {to}")]
pub struct TransitionError {
    /// The job.
    pub job_id: String,
    /// Its current status.
    pub from: JobStatus,
    /// The refused status.
    pub to: JobStatus,
}

impl Job {
    /// A pending job created at `now`, before its prediction exists.
    pub fn new(
        job_id: impl Into<String>,
        user_id: impl Into<String>,
        media_type: MediaType,
        model: impl Into<String>,
        now: i64,
    ) -> Job {
        Job {
            job_id: job_id.into(),
            user_id: user_id.into(),
            media_type,
            model: model.into(),
            status: JobStatus::Pending,
            prediction_id: None,
            created_at: now,
            updated_at: now,
            outputs: Vec::new(),
            error: None,
        }
    }

    /// Moves the job to `to` at `now`. A terminal job stays as it is
    /// (a repeated or late webhook changes nothing) and a running job does
    /// not go back to pending; either is an error. Setting the same status
    /// again only updates `updated_at`.
    pub fn transition(&mut self, to: JobStatus, now: i64) -> Result<(), TransitionError> {
        let allowed = match (self.status, to) {
            (from, to) if from == to => true,
            (from, _) if from.is_terminal() => false,
            (JobStatus::Processing, JobStatus::Pending) => false,
            _ => true,
        };
        if !allowed {
            return Err(TransitionError {
                job_id: self.job_id.clone(),
                from: self.status,
                to,
            });
        }
        self.status = to;
        self.updated_at = now;
        Ok(())
    }

    /// Takes what a prediction (from a webhook or a poll) says about this
    /// job: its id, and its status unless it succeeded, since a job only
    /// succeeds once its outputs are stored ([`Job::succeed`]): a succeeded
    /// prediction leaves the job processing. A failed or canceled
    /// prediction's error becomes the job's.
    pub fn apply_prediction(&mut self, p: &Prediction, now: i64) -> Result<(), TransitionError> {
        let to = match JobStatus::from(p.status) {
            JobStatus::Succeeded => JobStatus::Processing,
            other => other,
        };
        self.transition(to, now)?;
        self.prediction_id = Some(p.id.clone());
        if to.is_terminal() {
            self.error = Some(p.error.clone().unwrap_or_else(|| match p.status {
                PredictionStatus::Canceled => "the prediction was canceled".to_string(),
                PredictionStatus::Aborted => "the prediction was aborted".to_string(),
                _ => "the prediction failed".to_string(),
            }));
        }
        Ok(())
    }

    /// Marks the job succeeded with the bucket keys of its stored outputs.
    pub fn succeed(&mut self, outputs: Vec<String>, now: i64) -> Result<(), TransitionError> {
        self.transition(JobStatus::Succeeded, now)?;
        self.outputs = outputs;
        self.error = None;
        Ok(())
    }

    /// Marks the job failed with `error`.
    pub fn fail(&mut self, error: impl Into<String>, now: i64) -> Result<(), TransitionError> {
        self.transition(JobStatus::Failed, now)?;
        self.error = Some(error.into());
        Ok(())
    }

    /// Whether the job has not moved for `max_idle_secs` and is not done:
    /// the stuck-job checker polls Replicate for these.
    pub fn is_stuck(&self, now: i64, max_idle_secs: i64) -> bool {
        !self.status.is_terminal() && now.saturating_sub(self.updated_at) >= max_idle_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prediction(status: &str, error: serde_json::Value) -> Prediction {
        serde_json::from_value(json!({"id": "p1", "status": status, "error": error})).unwrap()
    }

    #[test]
    fn statuses_serialize_lowercase() {
        for (s, text) in [
            (JobStatus::Pending, "pending"),
            (JobStatus::Processing, "processing"),
            (JobStatus::Succeeded, "succeeded"),
            (JobStatus::Failed, "failed"),
            (JobStatus::Canceled, "canceled"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(text));
            assert_eq!(serde_json::from_value::<JobStatus>(json!(text)).unwrap(), s);
            assert_eq!(s.to_string(), text);
        }
        assert!(serde_json::from_value::<JobStatus>(json!("Pending")).is_err());
    }

    #[test]
    fn replicate_statuses_map_to_job_statuses() {
        use PredictionStatus as P;
        assert_eq!(JobStatus::from(P::Starting), JobStatus::Pending);
        assert_eq!(JobStatus::from(P::Processing), JobStatus::Processing);
        assert_eq!(JobStatus::from(P::Succeeded), JobStatus::Succeeded);
        assert_eq!(JobStatus::from(P::Failed), JobStatus::Failed);
        assert_eq!(JobStatus::from(P::Aborted), JobStatus::Failed);
        assert_eq!(JobStatus::from(P::Canceled), JobStatus::Canceled);
        assert!(!JobStatus::Pending.is_terminal());
        assert!(!JobStatus::Processing.is_terminal());
        assert!(JobStatus::Canceled.is_terminal());
    }

    #[test]
    fn jobs_serialize_with_camel_case_fields() {
        let mut job = Job::new("j1", "u1", MediaType::Video, "svd", 100);
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(
            v,
            json!({"jobId": "j1", "userId": "u1", "mediaType": "video", "model": "svd",
                   "status": "pending", "createdAt": 100, "updatedAt": 100, "outputs": []})
        );
        job.prediction_id = Some("p1".into());
        job.error = Some("boom".into());
        let back: Job = serde_json::from_value(serde_json::to_value(&job).unwrap()).unwrap();
        assert_eq!(back, job);
        // Optional fields may be absent in stored records.
        let minimal: Job = serde_json::from_value(json!({"jobId": "j", "userId": "u",
            "mediaType": "audio", "model": "m", "status": "failed", "createdAt": 1, "updatedAt": 2}))
        .unwrap();
        assert!(minimal.outputs.is_empty() && minimal.error.is_none());
    }

    #[test]
    fn a_succeeded_prediction_keeps_the_job_processing_until_outputs_are_stored() {
        let mut job = Job::new("j1", "u1", MediaType::Image, "flux", 100);
        job.apply_prediction(&prediction("processing", json!(null)), 110)
            .unwrap();
        assert_eq!(job.status, JobStatus::Processing);
        assert_eq!(job.prediction_id.as_deref(), Some("p1"));
        job.apply_prediction(&prediction("succeeded", json!(null)), 120)
            .unwrap();
        assert_eq!(job.status, JobStatus::Processing);
        job.succeed(vec!["images/u1/k.png".into()], 130).unwrap();
        assert_eq!(job.status, JobStatus::Succeeded);
        assert_eq!(job.updated_at, 130);
        assert_eq!(job.outputs, ["images/u1/k.png"]);
    }

    #[test]
    fn failures_carry_the_prediction_error() {
        let mut job = Job::new("j1", "u1", MediaType::Image, "flux", 100);
        job.apply_prediction(&prediction("failed", json!("CUDA out of memory")), 110)
            .unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_deref(), Some("CUDA out of memory"));

        let mut job = Job::new("j2", "u1", MediaType::Image, "flux", 100);
        job.apply_prediction(&prediction("canceled", json!(null)), 110)
            .unwrap();
        assert_eq!(job.status, JobStatus::Canceled);
        assert_eq!(job.error.as_deref(), Some("the prediction was canceled"));

        let mut job = Job::new("j3", "u1", MediaType::Image, "flux", 100);
        job.apply_prediction(&prediction("aborted", json!(null)), 110)
            .unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_deref(), Some("the prediction was aborted"));
    }

    #[test]
    fn terminal_jobs_do_not_move_and_running_jobs_do_not_go_back() {
        let mut job = Job::new("j1", "u1", MediaType::Audio, "musicgen", 100);
        job.succeed(vec![], 110).unwrap();
        let e = job.fail("late", 120).unwrap_err();
        assert_eq!(e.to_string(), "job j1 cannot go from succeeded to failed");
        assert_eq!(job.status, JobStatus::Succeeded);
        assert_eq!(job.updated_at, 110);
        // A repeated webhook for the same state is harmless.
        job.transition(JobStatus::Succeeded, 130).unwrap();

        let mut job = Job::new("j2", "u1", MediaType::Audio, "musicgen", 100);
        job.transition(JobStatus::Processing, 110).unwrap();
        assert!(job
            .apply_prediction(&prediction("starting", json!(null)), 120)
            .is_err());
        assert_eq!(job.status, JobStatus::Processing);
    }

    #[test]
    fn stuck_jobs_are_old_and_unfinished() {
        let mut job = Job::new("j1", "u1", MediaType::Video, "svd", 1_000);
        assert!(!job.is_stuck(1_000 + 899, 900));
        assert!(job.is_stuck(1_000 + 900, 900));
        job.fail("x", 1_100).unwrap();
        assert!(!job.is_stuck(100_000, 900));
    }
}
