//! What the media generation functions (seed 004) share: the per-environment
//! model registry and the validation of generation requests against it
//! ([`registry`]), a blocking client for Replicate's prediction API
//! ([`replicate`]), the verification of Replicate's signed webhooks
//! ([`webhook`]), where outputs go in the media bucket ([`layout`]), and the
//! job record every function reads and moves through its statuses
//! ([`job`]), the results queue's message ([`queue`]) and the
//! custom metrics ([`metrics`]). With the `testing` feature: a fake Replicate API on a local
//! port ([`testing`]).
//!
//! Nothing here talks to AWS: the functions pair this crate with
//! `lambda-shared` for S3, DynamoDB, logging and HTTP responses.

#![warn(missing_docs)]

pub mod job;
pub mod layout;
pub mod metrics;
pub mod queue;
pub mod registry;
pub mod replicate;
pub mod webhook;

#[cfg(feature = "testing")]
pub mod testing;

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch.
pub fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The kind of media a model generates; it picks the bucket folder and the
/// default file extension of the outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    /// Still images.
    Image,
    /// Video clips.
    Video,
    /// Sound and music.
    Audio,
}

impl MediaType {
    /// Every media type.
    pub const ALL: [MediaType; 3] = [MediaType::Image, MediaType::Video, MediaType::Audio];

    /// The serialized name: `image`, `video` or `audio`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Video => "video",
            MediaType::Audio => "audio",
        }
    }

    /// The top-level folder of the media bucket: `images`, `videos` or
    /// `audio`.
    pub fn folder(self) -> &'static str {
        match self {
            MediaType::Image => "images",
            MediaType::Video => "videos",
            MediaType::Audio => "audio",
        }
    }

    /// The extension given to an output whose URL has none: `png`, `mp4`
    /// or `mp3`.
    pub fn default_extension(self) -> &'static str {
        match self {
            MediaType::Image => "png",
            MediaType::Video => "mp4",
            MediaType::Audio => "mp3",
        }
    }
}

impl std::fmt::Display for MediaType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no media type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown media type {0:?}: expected image, video or audio")]
pub struct UnknownMediaType(pub String);

impl std::str::FromStr for MediaType {
    type Err = UnknownMediaType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MediaType::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMediaType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_round_trip_through_serde_and_from_str() {
        for m in MediaType::ALL {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<MediaType>(&json).unwrap(), m);
            assert_eq!(m.as_str().parse::<MediaType>().unwrap(), m);
            assert_eq!(m.to_string(), m.as_str());
        }
        let e = "Image".parse::<MediaType>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown media type \"Image\": expected image, video or audio"
        );
        assert!(serde_json::from_str::<MediaType>("\"gif\"").is_err());
    }

    #[test]
    fn folders_and_default_extensions_follow_the_bucket_layout() {
        assert_eq!(MediaType::Video.folder(), "videos");
        assert_eq!(MediaType::Image.folder(), "images");
        assert_eq!(MediaType::Audio.folder(), "audio");
        assert_eq!(MediaType::Image.default_extension(), "png");
        assert_eq!(MediaType::Video.default_extension(), "mp4");
        assert_eq!(MediaType::Audio.default_extension(), "mp3");
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_epoch() > 1_704_067_200);
    }
}
