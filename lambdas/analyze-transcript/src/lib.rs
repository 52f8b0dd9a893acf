//! S3 "Object Created" (through EventBridge) for
//! `transcripts/{episode_id}/...`: finds clip candidates in the transcript.
//!
//! 1. reads the transcript (UTF-8 text, at most [`MAX_TRANSCRIPT_BYTES`]);
//! 2. reads earlier context from the agent memory `MEMORY_ID`: ListEvents
//!    of actor [`ACTOR_ID`] (the show: one per stack), session = the
//!    episode id;
//! 3. asks `MODEL_ID` (InvokeModel, Anthropic messages body) for clip
//!    candidates as JSON `{"clips": [{"start_seconds", "end_seconds",
//!    "title", "reason", "score"}]}` and validates the answer
//!    ([`parse_clips`]);
//! 4. replaces the episode's `CLIP#` items and records the analysis
//!    (`clip_count`, `analyzed_at`; status `analyzed` once chunked) in one
//!    transaction;
//! 5. remembers the analysis: CreateEvent in the memory (the user turn
//!    names the transcript, the assistant turn lists the clips), which the
//!    memory's strategies summarise.
//!
//! A model answer that is not valid candidates is logged as an error and
//! the event is dropped with the episode untouched (retrying the same
//! prompt for a day would cost without helping; uploading the transcript
//! again asks again). An unreadable or oversized transcript is dropped
//! alike. AWS failures are errors, so EventBridge retries.

use aws_sdk_bedrockagentcore::primitives::DateTime;
use aws_sdk_bedrockagentcore::types::{Content, Conversational, PayloadType, Role};
use clips_core::config::{var, ConfigError};
use clips_core::episode::{Clip, Episode, Store};
use clips_core::events::{EventBridgeEvent, ObjectCreated};
use clips_core::{keys, AwsError};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The memory's actor: the show all of the stack's episodes belong to.
pub const ACTOR_ID: &str = "show";
/// The largest transcript read.
pub const MAX_TRANSCRIPT_BYTES: i64 = 1_000_000;
/// How much of the transcript goes into the prompt (characters).
pub const MAX_PROMPT_CHARS: usize = 150_000;
/// How many earlier memory events give context.
pub const CONTEXT_EVENTS: i32 = 20;
/// The most candidates kept (the best by score).
pub const MAX_CLIPS: usize = 20;
/// The longest clip, seconds.
pub const MAX_CLIP_SECONDS: f64 = 600.0;
/// The answer's size limit, tokens.
pub const MAX_TOKENS: u32 = 4096;

/// Configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table: String,
    /// `BUCKET_NAME`.
    pub bucket: String,
    /// `MEMORY_ID`: the AgentCore memory.
    pub memory_id: String,
    /// `MODEL_ID`: an Anthropic model on Bedrock.
    pub model_id: String,
}

impl Config {
    /// Reads it.
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            table: var("TABLE_NAME")?,
            bucket: var("BUCKET_NAME")?,
            memory_id: var("MEMORY_ID")?,
            model_id: var("MODEL_ID")?,
        })
    }
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Candidates stored.
    Analyzed {
        /// The episode.
        episode_id: String,
        /// How many.
        clip_count: usize,
    },
    /// The model's answer was refused; nothing changed.
    Rejected {
        /// The episode.
        episode_id: String,
        /// Why.
        reason: String,
    },
    /// Nothing to do.
    Dropped {
        /// Why.
        reason: String,
    },
}

#[derive(Deserialize)]
struct Candidate {
    start_seconds: f64,
    end_seconds: f64,
    title: String,
    reason: String,
    score: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Answer {
    Wrapped { clips: Vec<Candidate> },
    Bare(Vec<Candidate>),
}

/// The clip candidates in a model's answer `text`: a JSON object
/// `{"clips": [...]}` (or a bare array), possibly with prose or a code
/// fence around it. Each needs `0 <= start_seconds < end_seconds`, at most
/// [`MAX_CLIP_SECONDS`] long, a title (1 to 200 characters), a reason (1 to
/// 1000) and a score from 0 to 1; any invalid candidate refuses the whole
/// answer. The best [`MAX_CLIPS`] are kept, ordered by start.
pub fn parse_clips(text: &str) -> Result<Vec<Clip>, String> {
    let start = text.find(['{', '[']).ok_or("the answer holds no JSON")?;
    let end = text.rfind(['}', ']']).ok_or("the answer holds no JSON")?;
    if end < start {
        return Err("the answer holds no JSON".into());
    }
    let answer: Answer = serde_json::from_str(&text[start..=end])
        .map_err(|e| format!("the answer is not clip candidates: {e}"))?;
    let candidates = match answer {
        Answer::Wrapped { clips } | Answer::Bare(clips) => clips,
    };
    let mut clips = Vec::with_capacity(candidates.len());
    for (i, c) in candidates.into_iter().enumerate() {
        let bad = |why: &str| Err(format!("candidate {i}: {why}"));
        let (s, e) = (c.start_seconds, c.end_seconds);
        if !(s.is_finite() && e.is_finite()) || s < 0.0 || e <= s {
            return bad("needs 0 <= start_seconds < end_seconds");
        }
        if e - s > MAX_CLIP_SECONDS {
            return bad("is longer than 600 seconds");
        }
        let title = c.title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            return bad("needs a title of 1 to 200 characters");
        }
        let reason = c.reason.trim();
        if reason.is_empty() || reason.chars().count() > 1000 {
            return bad("needs a reason of 1 to 1000 characters");
        }
        if !(0.0..=1.0).contains(&c.score) {
            return bad("needs a score from 0 to 1");
        }
        clips.push(Clip {
            start_seconds: s,
            end_seconds: e,
            title: title.to_string(),
            reason: reason.to_string(),
            score: c.score,
        });
    }
    clips.sort_by(|a, b| b.score.total_cmp(&a.score));
    clips.truncate(MAX_CLIPS);
    clips.sort_by(|a, b| a.start_seconds.total_cmp(&b.start_seconds));
    Ok(clips)
}

/// The request body for the model.
pub fn prompt(episode: &Episode, context: &[String], transcript: &str) -> serde_json::Value {
    let system = "You find short clips worth sharing in the transcript of a livestream episode. \
        Answer with JSON only: {\"clips\": [{\"start_seconds\": number, \"end_seconds\": number, \
        \"title\": string, \"reason\": string, \"score\": number from 0 to 1}]}. \
        Clips are at most 600 seconds long; give at most 20, the best first.";
    let transcript: String = transcript.chars().take(MAX_PROMPT_CHARS).collect();
    let mut user = format!("Episode: {}\n", episode.title);
    if let Some(d) = &episode.description {
        user.push_str(&format!("Description: {d}\n"));
    }
    if !context.is_empty() {
        user.push_str("\nEarlier analyses of this episode:\n");
        for c in context {
            user.push_str(&format!("- {c}\n"));
        }
    }
    user.push_str(&format!("\nTranscript:\n{transcript}"));
    json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": MAX_TOKENS,
        "system": system,
        "messages": [{"role": "user", "content": [{"type": "text", "text": user}]}]
    })
}

/// The function.
pub struct Analyzer {
    store: Store,
    s3: aws_sdk_s3::Client,
    bedrock: aws_sdk_bedrockruntime::Client,
    memory: aws_sdk_bedrockagentcore::Client,
    config: Config,
}

impl Analyzer {
    /// On `sdk`'s clients (Bedrock and AgentCore at their regional
    /// endpoints, or `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` /
    /// `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`).
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Analyzer {
        Analyzer {
            store: Store::new(aws_sdk_dynamodb::Client::new(sdk), &config.table),
            s3: lambda_shared::config::s3_client(sdk),
            bedrock: aws_sdk_bedrockruntime::Client::new(sdk),
            memory: aws_sdk_bedrockagentcore::Client::new(sdk),
            config,
        }
    }

    /// The texts of the episode's earlier memory events, oldest first.
    async fn context(&self, id: &str) -> Result<Vec<String>, AwsError> {
        let out = self
            .memory
            .list_events()
            .memory_id(&self.config.memory_id)
            .actor_id(ACTOR_ID)
            .session_id(id)
            .include_payloads(true)
            .max_results(CONTEXT_EVENTS)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListEvents", e))?;
        Ok(out
            .events()
            .iter()
            .flat_map(|e| e.payload())
            .filter_map(|p| match p {
                PayloadType::Conversational(c) => match c.content() {
                    Some(Content::Text(t)) => Some(format!("{}: {t}", c.role().as_str())),
                    _ => None,
                },
                _ => None,
            })
            .collect())
    }

    async fn remember(&self, episode: &Episode, key: &str, clips: &[Clip]) -> Result<(), AwsError> {
        let turn = |role: Role, text: String| {
            Conversational::builder()
                .role(role)
                .content(Content::Text(text))
                .build()
                .map(PayloadType::Conversational)
                .map_err(|e| AwsError(e.to_string()))
        };
        let user = turn(
            Role::User,
            format!(
                "Find clips in the transcript {key} of episode \"{}\".",
                episode.title
            ),
        )?;
        let assistant = turn(
            Role::Assistant,
            serde_json::to_string(&json!({ "clips": clips }))
                .map_err(|e| AwsError(e.to_string()))?,
        )?;
        self.memory
            .create_event()
            .memory_id(&self.config.memory_id)
            .actor_id(ACTOR_ID)
            .session_id(&episode.id)
            .event_timestamp(DateTime::from_millis(clips_core::now_ms()))
            .payload(user)
            .payload(assistant)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateEvent", e))?;
        Ok(())
    }

    /// Handles one event.
    pub async fn handle(
        &self,
        event: &EventBridgeEvent<ObjectCreated>,
    ) -> Result<Outcome, AwsError> {
        let detail = &event.detail;
        let key = detail.object.key.as_str();
        let drop = |reason: String| {
            tracing::warn!(key, %reason, "event dropped");
            Ok(Outcome::Dropped { reason })
        };
        let Some(id) = keys::episode_of(key, "transcripts/") else {
            return drop(format!("{key} is not an episode transcript"));
        };
        if detail.bucket.name != self.config.bucket {
            return drop(format!(
                "bucket {} is not {}",
                detail.bucket.name, self.config.bucket
            ));
        }
        if self.store.get(id).await?.is_none() {
            return drop(format!("no episode {id}"));
        }
        let object = self
            .s3
            .get_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetObject transcript", e))?;
        if object.content_length.unwrap_or_default() > MAX_TRANSCRIPT_BYTES {
            return drop(format!("{key} is larger than {MAX_TRANSCRIPT_BYTES} bytes"));
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| AwsError(format!("reading {key}: {e}")))?
            .into_bytes();
        let Ok(transcript) = String::from_utf8(bytes.to_vec()) else {
            return drop(format!("{key} is not UTF-8 text"));
        };
        if transcript.trim().is_empty() {
            return drop(format!("{key} is empty"));
        }
        let context = self.context(id).await?;
        // The episode as it is now (the prompt shows its title).
        let Some(episode) = self.store.get(id).await? else {
            return drop(format!("no episode {id}"));
        };
        let body = prompt(&episode, &context, &transcript);
        let out = self
            .bedrock
            .invoke_model()
            .model_id(&self.config.model_id)
            .content_type("application/json")
            .accept("application/json")
            .body(aws_sdk_bedrockruntime::primitives::Blob::new(
                body.to_string(),
            ))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("InvokeModel", e))?;
        let answer: serde_json::Value =
            serde_json::from_slice(out.body.as_ref()).unwrap_or_default();
        let text: String = answer["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["text"].as_str())
            .collect();
        let clips = match parse_clips(&text) {
            Ok(clips) => clips,
            Err(reason) => {
                tracing::error!(episode_id = id, model = %self.config.model_id, %reason, answer = %text.chars().take(2000).collect::<String>(), "the model's answer was refused");
                return Ok(Outcome::Rejected {
                    episode_id: id.to_string(),
                    reason,
                });
            }
        };
        // Conditional on the status read: a concurrent transition (chunking
        // completing) makes it read again.
        let mut episode = episode;
        for attempt in 0.. {
            let old = self.store.clips(id).await?.len();
            if self
                .store
                .analyzed(&episode, old, &clips, key, clips_core::now_ms())
                .await?
            {
                break;
            }
            if attempt == 3 {
                return Err(AwsError(format!(
                    "episode {id} kept changing while its clips were stored"
                )));
            }
            episode = match self.store.get(id).await? {
                Some(e) => e,
                None => return drop(format!("episode {id} is gone")),
            };
        }
        self.remember(&episode, key, &clips).await?;
        tracing::info!(
            episode_id = id,
            clip_count = clips.len(),
            "transcript analysed"
        );
        Ok(Outcome::Analyzed {
            episode_id: id.to_string(),
            clip_count: clips.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_clips;

    #[test]
    fn answers_are_validated_whole() {
        let good = r#"Here you go:
```json
{"clips": [
  {"start_seconds": 300, "end_seconds": 345.5, "title": "The reveal", "reason": "Big news", "score": 0.9},
  {"start_seconds": 12, "end_seconds": 40, "title": " Intro joke ", "reason": "Funny", "score": 0.4}
]}
```"#;
        let clips = parse_clips(good).unwrap();
        assert_eq!(clips.len(), 2);
        assert_eq!(clips[0].title, "Intro joke");
        assert_eq!(clips[1].end_seconds, 345.5);
        assert_eq!(
            parse_clips(
                r#"[{"start_seconds":0,"end_seconds":1,"title":"a","reason":"b","score":1}]"#
            )
            .unwrap()
            .len(),
            1
        );

        for bad in [
            "no json here",
            "{\"clips\": [",
            r#"{"clips": [{"start_seconds": 10, "end_seconds": 5, "title": "a", "reason": "b", "score": 0.5}]}"#,
            r#"{"clips": [{"start_seconds": 0, "end_seconds": 700, "title": "a", "reason": "b", "score": 0.5}]}"#,
            r#"{"clips": [{"start_seconds": 0, "end_seconds": 5, "title": "", "reason": "b", "score": 0.5}]}"#,
            r#"{"clips": [{"start_seconds": 0, "end_seconds": 5, "title": "a", "reason": "b", "score": 7}]}"#,
            r#"{"clips": [{"start_seconds": "0", "end_seconds": 5, "title": "a", "reason": "b", "score": 0.5}]}"#,
            r#"{"candidates": []}"#,
        ] {
            assert!(parse_clips(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_best_twenty_are_kept() {
        let many: Vec<_> = (0..30)
            .map(|i| serde_json::json!({"start_seconds": i * 10, "end_seconds": i * 10 + 5, "title": format!("c{i}"), "reason": "r", "score": f64::from(i) / 30.0}))
            .collect();
        let clips = parse_clips(&serde_json::json!({"clips": many}).to_string()).unwrap();
        assert_eq!(clips.len(), 20);
        assert_eq!(clips[0].title, "c10");
    }
}
