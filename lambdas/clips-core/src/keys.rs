//! The single-table item layout of the `clips` table (key `pk`, `sk`; index
//! `GSI1` on `GSI1PK`, `GSI1SK`; TTL attribute `ttl`).
//!
//! | item      | `pk`             | `sk`           | `GSI1PK`   | `GSI1SK`                     | `ttl` |
//! |-----------|------------------|----------------|------------|------------------------------|-------|
//! | episode   | `EPISODE#{id}`   | `EPISODE`      | `EPISODES` | `{created_at:015}#{id}`      | —     |
//! | chunk     | `EPISODE#{id}`   | `CHUNK#{n:05}` | —          | —                            | yes   |
//! | clip      | `EPISODE#{id}`   | `CLIP#{n:03}`  | —          | —                            | —     |
//!
//! - An episode (`id`, `title`, `description`, `status`, `created_at` and
//!   `updated_at` in epoch milliseconds, then what the pipeline records:
//!   `upload_key`, `upload_size`, `upload_etag`, `uploaded_at`, `job_id`,
//!   `chunk_count`, `error_code`, `error_message`, `transcript_key`,
//!   `clip_count`, `analyzed_at`) is listed newest first through `GSI1`: the
//!   zero-padded creation time sorts as a string.
//! - Chunk `n` (from 1, as MediaConvert numbers its HLS segments) holds the
//!   segment's `key` in the bucket and its `start_seconds`/`end_seconds`.
//!   Chunks expire ([`CHUNK_TTL_SECS`]) with the objects they name: the
//!   bucket's lifecycle deletes every object after 7 days.
//! - Clip candidate `n` (ordered by start time) holds `start_seconds`,
//!   `end_seconds`, `title`, `reason` and `score` (0 to 1). A new analysis
//!   replaces all of an episode's clips.
//!
//! Everything of one episode shares its partition, so one `Query` on `pk`
//! reads an episode with its chunks and clips.

/// The partition of episode `id`.
pub fn episode_pk(id: &str) -> String {
    format!("EPISODE#{id}")
}

/// The sort key of the episode item itself.
pub const EPISODE_SK: &str = "EPISODE";

/// `GSI1PK` of every episode: the list index's one partition.
pub const EPISODES: &str = "EPISODES";

/// The name of the list index.
pub const GSI1: &str = "GSI1";

/// `GSI1SK` of an episode created at `created_at` (epoch milliseconds).
pub fn episode_gsi1sk(created_at: i64, id: &str) -> String {
    format!("{created_at:015}#{id}")
}

/// The sort key of chunk `n`.
pub fn chunk_sk(n: u32) -> String {
    format!("CHUNK#{n:05}")
}

/// The prefix of every chunk's sort key.
pub const CHUNK_PREFIX: &str = "CHUNK#";

/// The sort key of clip candidate `n`.
pub fn clip_sk(n: u32) -> String {
    format!("CLIP#{n:03}")
}

/// The prefix of every clip's sort key.
pub const CLIP_PREFIX: &str = "CLIP#";

/// How long chunk items live: as long as the chunk objects the bucket's
/// lifecycle keeps (7 days).
pub const CHUNK_TTL_SECS: i64 = 7 * 86_400;

/// Where a client uploads episode `id`'s video.
pub fn upload_key(id: &str) -> String {
    format!("uploads/{id}/video")
}

/// Where a client uploads episode `id`'s transcript (plain UTF-8 text).
pub fn transcript_key(id: &str) -> String {
    format!("transcripts/{id}/transcript.txt")
}

/// Where MediaConvert writes episode `id`'s chunks (a prefix).
pub fn chunks_prefix(id: &str) -> String {
    format!("chunks/{id}/")
}

/// The episode id of an object key under `prefix` (`uploads/`,
/// `transcripts/`): the next path segment, if it looks like an id.
pub fn episode_of<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = key.strip_prefix(prefix)?;
    let (id, tail) = rest.split_once('/')?;
    (valid_id(id) && !tail.is_empty()).then_some(id)
}

/// Whether `id` has the shape of an episode id (a lower-case UUID), so a
/// crafted path or key never reaches the table as a key.
pub fn valid_id(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b9f1c3e-7d1a-4a53-9c1e-2f4b5a6c7d8e";

    #[test]
    fn keys_sort_as_documented() {
        assert_eq!(episode_pk(ID), format!("EPISODE#{ID}"));
        assert!(episode_gsi1sk(999, ID) < episode_gsi1sk(1_000, ID));
        assert_eq!(chunk_sk(7), "CHUNK#00007");
        assert_eq!(clip_sk(12), "CLIP#012");
    }

    #[test]
    fn object_keys_name_their_episode() {
        assert_eq!(episode_of(&upload_key(ID), "uploads/"), Some(ID));
        assert_eq!(episode_of(&transcript_key(ID), "transcripts/"), Some(ID));
        assert_eq!(episode_of(&upload_key(ID), "transcripts/"), None);
        assert_eq!(episode_of("uploads/../x/video", "uploads/"), None);
        assert_eq!(episode_of(&format!("uploads/{ID}/"), "uploads/"), None);
        assert!(!valid_id("0B9F1C3E-7D1A-4A53-9C1E-2F4B5A6C7D8E"));
    }
}
