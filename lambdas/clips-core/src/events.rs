//! The events the clips functions take and emit, as EventBridge delivers
//! them (`aws_lambda_events::eventbridge::EventBridgeEvent` around each
//! detail; aws_lambda_events has no types for these details).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub use aws_lambda_events::eventbridge::EventBridgeEvent;

/// `detail-type` of what on_object_created emits.
pub const VIDEO_UPLOAD_COMPLETED: &str = "Video Upload Completed";
/// `detail-type` of S3's events.
pub const OBJECT_CREATED: &str = "Object Created";
/// `detail-type` of MediaConvert's job events.
pub const JOB_STATE_CHANGE: &str = "MediaConvert Job State Change";

/// The detail of "Video Upload Completed" (source `EVENT_SOURCE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoUploadCompleted {
    /// The episode.
    pub episode_id: String,
    /// The bucket.
    pub bucket: String,
    /// The video's key.
    pub key: String,
    /// Its size in bytes.
    pub size: i64,
}

/// The detail of S3's "Object Created" on EventBridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectCreated {
    /// The bucket.
    pub bucket: BucketRef,
    /// The object.
    pub object: ObjectRef,
    /// `PutObject`, `CompleteMultipartUpload`, ...
    #[serde(default)]
    pub reason: Option<String>,
}

/// `detail.bucket`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketRef {
    /// Its name.
    pub name: String,
}

/// `detail.object`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Its key.
    pub key: String,
    /// Its size.
    #[serde(default)]
    pub size: Option<i64>,
    /// Its ETag.
    #[serde(default)]
    pub etag: Option<String>,
    /// Its version.
    #[serde(default, rename = "version-id")]
    pub version_id: Option<String>,
    /// Orders the events of one key.
    #[serde(default)]
    pub sequencer: Option<String>,
}

/// The detail of "MediaConvert Job State Change".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStateChange {
    /// `COMPLETE`, `ERROR`, `PROGRESSING`, ...
    pub status: String,
    /// The job.
    pub job_id: String,
    /// What the job was created with.
    #[serde(default)]
    pub user_metadata: HashMap<String, String>,
    /// What a complete job wrote.
    #[serde(default)]
    pub output_group_details: Vec<OutputGroupDetail>,
    /// Why a job failed.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// And how.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// One output group of a complete job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputGroupDetail {
    /// Its outputs.
    #[serde(default)]
    pub output_details: Vec<OutputDetail>,
    /// Its playlists (HLS).
    #[serde(default)]
    pub playlist_file_paths: Vec<String>,
    /// `HLS_GROUP`, `FILE_GROUP`, ...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// One output of a complete job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputDetail {
    /// Its files (for HLS: the output's media playlist).
    #[serde(default)]
    pub output_file_paths: Vec<String>,
    /// Its duration.
    #[serde(default)]
    pub duration_in_ms: Option<i64>,
}

/// `s3://bucket/key` as (bucket, key).
pub fn split_s3_url(url: &str) -> Option<(&str, &str)> {
    url.strip_prefix("s3://")?.split_once('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples_parse() {
        let s3: EventBridgeEvent<ObjectCreated> = serde_json::from_value(serde_json::json!({
            "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
            "time": "2021-11-12T00:00:00Z", "region": "ca-central-1",
            "resources": ["arn:aws:s3:::example-bucket"],
            "detail": {"version": "0", "bucket": {"name": "example-bucket"},
                "object": {"key": "example-key", "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184",
                    "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e", "sequencer": "617f08299329d189"},
                "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
                "source-ip-address": "1.2.3.4", "reason": "PutObject"}
        }))
        .unwrap();
        assert_eq!(s3.detail.object.size, Some(5));
        assert_eq!(
            s3.detail.object.version_id.as_deref(),
            Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
        );

        let mc: EventBridgeEvent<JobStateChange> = serde_json::from_value(serde_json::json!({
            "version": "0", "id": "1", "detail-type": "MediaConvert Job State Change",
            "source": "aws.mediaconvert", "account": "111122223333", "time": "2022-12-19T19:07:12Z",
            "region": "us-west-2", "resources": ["arn:aws:mediaconvert:us-west-2:111122223333:jobs/1671476818694-phptj0"],
            "detail": {"timestamp": 1671476832124_i64, "accountId": "111122223333", "queue": "q",
                "jobId": "1671476818694-phptj0", "status": "COMPLETE",
                "userMetadata": {"episode_id": "e"},
                "outputGroupDetails": [{"outputDetails": [{"outputFilePaths": ["s3://b/chunks/e/video.m3u8"],
                    "durationInMs": 30041, "videoDetails": {"widthInPx": 1920, "heightInPx": 1080}}],
                    "playlistFilePaths": ["s3://b/chunks/e/video.m3u8"], "type": "HLS_GROUP"}]}
        }))
        .unwrap();
        assert_eq!(
            mc.detail.output_group_details[0].output_details[0].duration_in_ms,
            Some(30041)
        );
        assert_eq!(
            split_s3_url("s3://b/chunks/e/video.m3u8"),
            Some(("b", "chunks/e/video.m3u8"))
        );
    }
}
