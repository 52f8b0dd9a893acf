//! "Video Upload Completed" → a MediaConvert job that cuts the episode's
//! video into `CHUNK_SECONDS`-second chunks under `chunks/{episode_id}/`.
//!
//! The chunks are an HLS output group with segmented files: HLS is the one
//! output MediaConvert cuts into separate, independently playable files of
//! a set length (`SegmentLength` with `EXACT` length control puts a key
//! frame on every boundary), numbered `{base}{modifier}_{n:05}.ts` next to
//! the media playlist that lists them, which the job's completion event
//! names. A file group with MP4 writes one file per output and cannot
//! segment (its segment control is for fragmented MP4 inside one file);
//! CMAF/DASH would split audio and video into separate fragments.
//!
//! Exactly one job per episode: the episode moves `uploaded → chunking`
//! with a conditional write before the job is created (a retried or
//! duplicated event finds it `chunking` and stops); the job's
//! `clientRequestToken` is derived from the episode and upload, so if the
//! function dies between creating the job and recording its id, the retry
//! gets the same job back from MediaConvert. If CreateJob fails, the episode
//! goes back to `uploaded` and the error makes EventBridge retry.

use aws_sdk_mediaconvert::types::{
    AacCodingMode, AacSettings, AudioCodec, AudioCodecSettings, AudioDefaultSelection,
    AudioDescription, AudioSelector, ContainerSettings, ContainerType, H264GopSizeUnits,
    H264QvbrSettings, H264RateControlMode, H264SceneChangeDetect, H264Settings, HlsGroupSettings,
    HlsSegmentControl, HlsSegmentLengthControl, Input, InputTimecodeSource, JobSettings, Output,
    OutputGroup, OutputGroupSettings, OutputGroupType, TimecodeConfig, TimecodeSource, VideoCodec,
    VideoCodecSettings, VideoDescription,
};
use clips_core::config::{var, ConfigError};
use clips_core::episode::{Status, Store};
use clips_core::events::{EventBridgeEvent, VideoUploadCompleted};
use clips_core::{keys, AwsError};
use serde::Serialize;
use std::collections::HashMap;

/// The output's name modifier: segments are `{base}-chunk_{n:05}.ts`.
pub const NAME_MODIFIER: &str = "-chunk";

/// Configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table: String,
    /// `BUCKET_NAME`.
    pub bucket: String,
    /// `MEDIACONVERT_ROLE_ARN`: the role MediaConvert runs the job as.
    pub role_arn: String,
    /// `CHUNK_SECONDS` (10 to 3600).
    pub chunk_seconds: u32,
    /// `STACK_NAME`: in the job's user metadata, so the state-change rule
    /// takes only this stack's jobs.
    pub stack: String,
}

impl Config {
    /// Reads it.
    pub fn from_env() -> Result<Config, ConfigError> {
        let chunk_seconds = clips_core::chunk_seconds()?;
        Ok(Config {
            table: var("TABLE_NAME")?,
            bucket: var("BUCKET_NAME")?,
            role_arn: var("MEDIACONVERT_ROLE_ARN")?,
            chunk_seconds,
            stack: var("STACK_NAME")?,
        })
    }
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The job is running.
    Started {
        /// The episode.
        episode_id: String,
        /// The job.
        job_id: String,
    },
    /// Nothing to do.
    Dropped {
        /// Why.
        reason: String,
    },
}

/// The function.
pub struct Starter {
    store: Store,
    mediaconvert: aws_sdk_mediaconvert::Client,
    config: Config,
}

impl Starter {
    /// On `sdk`'s clients (MediaConvert at its regional endpoint, or
    /// `AWS_ENDPOINT_URL_MEDIACONVERT`).
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Starter {
        Starter {
            store: Store::new(aws_sdk_dynamodb::Client::new(sdk), &config.table),
            mediaconvert: aws_sdk_mediaconvert::Client::new(sdk),
            config,
        }
    }

    /// The job's settings for the video at `key`.
    pub fn settings(&self, episode_id: &str, key: &str) -> JobSettings {
        let bucket = &self.config.bucket;
        let input = Input::builder()
            .file_input(format!("s3://{bucket}/{key}"))
            .audio_selectors(
                "Audio Selector 1",
                AudioSelector::builder()
                    .default_selection(AudioDefaultSelection::Default)
                    .build(),
            )
            .timecode_source(InputTimecodeSource::Zerobased)
            .build();
        let video = VideoDescription::builder()
            .codec_settings(
                VideoCodecSettings::builder()
                    .codec(VideoCodec::H264)
                    .h264_settings(
                        H264Settings::builder()
                            .rate_control_mode(H264RateControlMode::Qvbr)
                            .qvbr_settings(
                                H264QvbrSettings::builder().qvbr_quality_level(7).build(),
                            )
                            .max_bitrate(5_000_000)
                            .gop_size(2.0)
                            .gop_size_units(H264GopSizeUnits::Seconds)
                            .scene_change_detect(H264SceneChangeDetect::TransitionDetection)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let audio = AudioDescription::builder()
            .audio_source_name("Audio Selector 1")
            .codec_settings(
                AudioCodecSettings::builder()
                    .codec(AudioCodec::Aac)
                    .aac_settings(
                        AacSettings::builder()
                            .bitrate(96_000)
                            .coding_mode(AacCodingMode::CodingMode20)
                            .sample_rate(48_000)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let group = OutputGroup::builder()
            .name("chunks")
            .output_group_settings(
                OutputGroupSettings::builder()
                    .r#type(OutputGroupType::HlsGroupSettings)
                    .hls_group_settings(
                        HlsGroupSettings::builder()
                            .destination(format!(
                                "s3://{bucket}/{}",
                                keys::chunks_prefix(episode_id)
                            ))
                            .segment_control(HlsSegmentControl::SegmentedFiles)
                            .segment_length(self.config.chunk_seconds as i32)
                            .segment_length_control(HlsSegmentLengthControl::Exact)
                            .min_segment_length(0)
                            .build(),
                    )
                    .build(),
            )
            .outputs(
                Output::builder()
                    .name_modifier(NAME_MODIFIER)
                    .container_settings(
                        ContainerSettings::builder()
                            .container(ContainerType::M3U8)
                            .build(),
                    )
                    .video_description(video)
                    .audio_descriptions(audio)
                    .build(),
            )
            .build();
        JobSettings::builder()
            .inputs(input)
            .output_groups(group)
            .timecode_config(
                TimecodeConfig::builder()
                    .source(TimecodeSource::Zerobased)
                    .build(),
            )
            .build()
    }

    /// Handles one event.
    pub async fn handle(
        &self,
        event: &EventBridgeEvent<VideoUploadCompleted>,
    ) -> Result<Outcome, AwsError> {
        let detail = &event.detail;
        let id = detail.episode_id.as_str();
        let drop = |reason: String| {
            tracing::warn!(episode_id = id, %reason, "event dropped");
            Ok(Outcome::Dropped { reason })
        };
        if !keys::valid_id(id) || keys::episode_of(&detail.key, "uploads/") != Some(id) {
            return drop(format!("{} is not an upload of episode {id}", detail.key));
        }
        if detail.bucket != self.config.bucket {
            return drop(format!(
                "bucket {} is not {}",
                detail.bucket, self.config.bucket
            ));
        }
        let Some(episode) = self.store.get(id).await? else {
            return drop(format!("no episode {id}"));
        };
        let now = clips_core::now_ms();
        match (episode.status, &episode.job_id) {
            (Status::Uploaded, _) => {
                if !self.store.claim_chunking(id, now).await? {
                    return drop(format!("episode {id} was claimed by another event"));
                }
            }
            // Claimed by an attempt that died before recording its job:
            // the same token gets that job back, or creates it.
            (Status::Chunking, None) => {}
            (status, _) => return drop(format!("episode {id} is already {}", status.as_str())),
        }
        let token = format!(
            "{id}-{}",
            episode
                .upload_etag
                .as_deref()
                .unwrap_or("upload")
                .trim_matches('"')
        );
        let created = self
            .mediaconvert
            .create_job()
            .role(&self.config.role_arn)
            .settings(self.settings(id, &detail.key))
            .set_user_metadata(Some(HashMap::from([
                ("episode_id".to_string(), id.to_string()),
                ("stack".to_string(), self.config.stack.clone()),
            ])))
            .client_request_token(token)
            .send()
            .await;
        let job_id = match created {
            Ok(out) => out
                .job
                .and_then(|j| j.id)
                .ok_or_else(|| AwsError("CreateJob answered no job id".into()))?,
            Err(e) => {
                let err = AwsError::from_sdk("CreateJob", e);
                if let Err(release) = self.store.release_chunking(id, clips_core::now_ms()).await {
                    tracing::error!(episode_id = id, error = %release, "cannot release the episode");
                }
                return Err(err);
            }
        };
        if !self.store.set_job(id, &job_id).await? {
            return Err(AwsError(format!(
                "episode {id} left chunking before its job {job_id} was recorded"
            )));
        }
        tracing::info!(episode_id = id, job_id, "chunking started");
        Ok(Outcome::Started {
            episode_id: id.to_string(),
            job_id,
        })
    }
}
