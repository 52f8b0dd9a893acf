//! Where generated media goes in the bucket (seed 004):
//! `{videos|images|audio}/{userId}/{YYYY}/{MM}/{DD}/{jobId}/{file}`, with
//! the job's `metadata.json` beside its outputs. The date is the job's
//! creation date in UTC, so every file of a job lands under one prefix even
//! when processing crosses midnight.

use crate::MediaType;

/// The name of the metadata document in a job's folder.
pub const METADATA_FILE: &str = "metadata.json";

/// Longest user or job id accepted in a key.
pub const MAX_ID_LEN: usize = 128;

/// A key that cannot be built from the given parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A user id, job id or file name is empty, too long, or has a character
    /// that could leave its folder (`/`, `..`) or is unsafe in an S3 key.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidPart {
        /// `user_id`, `job_id` or `file_name`.
        what: &'static str,
        /// The offending value.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

/// A calendar date (proleptic Gregorian, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
}

impl Date {
    /// The UTC date of a Unix timestamp (seconds; negative is before 1970).
    pub fn from_epoch(epoch_secs: i64) -> Date {
        civil_from_days(epoch_secs.div_euclid(86_400))
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The date `days` days after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, exact over the whole `i64` range of timestamps that
/// matter here).
pub fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in small ranges by construction.
    Date {
        year,
        month: u32::try_from(month).unwrap_or(1),
        day: u32::try_from(day).unwrap_or(1),
    }
}

/// Checks a user or job id: 1 to [`MAX_ID_LEN`] characters of
/// `A-Z a-z 0-9 - _ .`, and neither `.` nor anything containing `..`, so it
/// is exactly one path segment. `what` names it in the error.
pub fn validate_id(what: &'static str, value: &str) -> Result<(), KeyError> {
    let fail = |reason| {
        Err(KeyError::InvalidPart {
            what,
            value: value.to_string(),
            reason,
        })
    };
    if value.is_empty() {
        return fail("it is empty");
    }
    if value.len() > MAX_ID_LEN {
        return fail("it is longer than 128 characters");
    }
    if value.contains('/') {
        return fail("it contains '/'");
    }
    if value == "." || value.contains("..") {
        return fail("it contains '..' or is '.'");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return fail("only letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(())
}

/// The folder of a job's files, without a trailing slash:
/// `{videos|images|audio}/{userId}/{YYYY}/{MM}/{DD}/{jobId}`.
pub fn job_prefix(
    media_type: MediaType,
    user_id: &str,
    job_id: &str,
    created_at: i64,
) -> Result<String, KeyError> {
    validate_id("user_id", user_id)?;
    validate_id("job_id", job_id)?;
    let d = Date::from_epoch(created_at);
    Ok(format!(
        "{}/{user_id}/{:04}/{:02}/{:02}/{job_id}",
        media_type.folder(),
        d.year,
        d.month,
        d.day
    ))
}

/// The key of one file of a job:
/// `{videos|images|audio}/{userId}/{YYYY}/{MM}/{DD}/{jobId}/{file_name}`.
/// `created_at` is the job's creation time (Unix seconds).
pub fn media_key(
    media_type: MediaType,
    user_id: &str,
    job_id: &str,
    created_at: i64,
    file_name: &str,
) -> Result<String, KeyError> {
    let prefix = job_prefix(media_type, user_id, job_id, created_at)?;
    validate_id("file_name", file_name)?;
    Ok(format!("{prefix}/{file_name}"))
}

/// The key of a job's `metadata.json`, beside its outputs.
pub fn metadata_key(
    media_type: MediaType,
    user_id: &str,
    job_id: &str,
    created_at: i64,
) -> Result<String, KeyError> {
    media_key(media_type, user_id, job_id, created_at, METADATA_FILE)
}

/// The extension of the last path segment of `url` (query and fragment
/// ignored), lowercased, when it is 1 to 5 ASCII letters or digits.
pub fn url_extension(url: &str) -> Option<String> {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let path = match without_query.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p).unwrap_or(""),
        None => without_query,
    };
    let segment = path.rsplit('/').next().unwrap_or("");
    let (stem, ext) = segment.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() || ext.len() > 5 {
        return None;
    }
    if !ext.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

/// The file name of the `index`-th output (from 0) of a job: `original` for
/// the first, `original-{index}` for the others, with the extension of the
/// output's URL or else the media type's default (`png`, `mp4`, `mp3`).
pub fn output_file_name(index: usize, url: &str, media_type: MediaType) -> String {
    let ext = url_extension(url).unwrap_or_else(|| media_type.default_extension().to_string());
    if index == 0 {
        format!("original.{ext}")
    } else {
        format!("original-{index}.{ext}")
    }
}

/// The Content-Type to store an output under, from its file name's
/// extension; `application/octet-stream` when unknown.
pub fn content_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i64, m: u32, d: u32) -> Date {
        Date {
            year: y,
            month: m,
            day: d,
        }
    }

    #[test]
    fn civil_dates_match_known_timestamps() {
        assert_eq!(Date::from_epoch(0), date(1970, 1, 1));
        assert_eq!(Date::from_epoch(86_399), date(1970, 1, 1));
        assert_eq!(Date::from_epoch(86_400), date(1970, 1, 2));
        assert_eq!(Date::from_epoch(-1), date(1969, 12, 31));
        assert_eq!(Date::from_epoch(951_782_400), date(2000, 2, 29));
        assert_eq!(Date::from_epoch(951_868_800), date(2000, 3, 1));
        // 1900 and 2100 are not leap years.
        assert_eq!(Date::from_epoch(4_107_542_400), date(2100, 3, 1));
        assert_eq!(Date::from_epoch(-2_203_891_200), date(1900, 3, 1));
        assert_eq!(Date::from_epoch(1_709_164_800), date(2024, 2, 29));
        assert_eq!(Date::from_epoch(1_735_689_599), date(2024, 12, 31));
        assert_eq!(Date::from_epoch(1_735_689_600), date(2025, 1, 1));
        assert_eq!(Date::from_epoch(1_795_391_999), date(2026, 11, 22));
        assert_eq!(Date::from_epoch(253_402_300_799), date(9999, 12, 31));
        assert_eq!(date(2026, 3, 7).to_string(), "2026-03-07");
    }

    #[test]
    fn civil_from_days_is_consecutive_over_four_centuries() {
        // Walk day by day and check each date follows the previous one.
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mut prev = civil_from_days(-1);
        assert_eq!(prev, date(1969, 12, 31));
        for days in 0..146_097 {
            let d = civil_from_days(days);
            let month_len = match prev.month {
                2 if leap(prev.year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            if prev.day < month_len {
                assert_eq!(d, date(prev.year, prev.month, prev.day + 1), "{days}");
            } else if prev.month < 12 {
                assert_eq!(d, date(prev.year, prev.month + 1, 1), "{days}");
            } else {
                assert_eq!(d, date(prev.year + 1, 1, 1), "{days}");
            }
            prev = d;
        }
    }

    #[test]
    fn keys_follow_the_seed_layout() {
        // 2026-03-07T23:59:59Z
        let t = 1_772_927_999;
        assert_eq!(Date::from_epoch(t), date(2026, 3, 7));
        assert_eq!(
            media_key(MediaType::Video, "user-1", "job_42", t, "original.mp4").unwrap(),
            "videos/user-1/2026/03/07/job_42/original.mp4"
        );
        assert_eq!(
            media_key(MediaType::Image, "u", "j", t, "original.png").unwrap(),
            "images/u/2026/03/07/j/original.png"
        );
        assert_eq!(
            metadata_key(MediaType::Audio, "u", "j", t).unwrap(),
            "audio/u/2026/03/07/j/metadata.json"
        );
        assert_eq!(
            job_prefix(MediaType::Audio, "u", "j", t + 1).unwrap(),
            "audio/u/2026/03/08/j"
        );
    }

    #[test]
    fn ids_that_could_escape_their_folder_are_refused() {
        for bad in [
            "", "a/b", "..", ".", "a..b", "../x", "a b", "ü", "a\\b", "a%2F",
        ] {
            let e = media_key(MediaType::Image, bad, "j", 0, "f.png").unwrap_err();
            match &e {
                KeyError::InvalidPart { what, value, .. } => {
                    assert_eq!(*what, "user_id");
                    assert_eq!(value, bad);
                }
            }
            assert!(e.to_string().starts_with("invalid user_id"), "{e}");
            assert!(matches!(
                media_key(MediaType::Image, "u", bad, 0, "f.png"),
                Err(KeyError::InvalidPart { what: "job_id", .. })
            ));
            assert!(matches!(
                media_key(MediaType::Image, "u", "j", 0, bad),
                Err(KeyError::InvalidPart {
                    what: "file_name",
                    ..
                })
            ));
        }
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert!(validate_id("job_id", &long).is_err());
        assert!(validate_id("job_id", &long[1..]).is_ok());
        assert!(validate_id("user_id", "Alice.Smith_01-x").is_ok());
        let e = validate_id("user_id", "a/b").unwrap_err().to_string();
        assert_eq!(e, "invalid user_id \"a/b\": it contains '/'");
    }

    #[test]
    fn output_names_keep_the_url_extension() {
        let url = "https://replicate.delivery/pbxt/abc/out-0.WEBP?x=1#frag";
        assert_eq!(url_extension(url).as_deref(), Some("webp"));
        assert_eq!(output_file_name(0, url, MediaType::Image), "original.webp");
        assert_eq!(
            output_file_name(2, "https://h/x/video.mp4", MediaType::Video),
            "original-2.mp4"
        );
        assert_eq!(
            output_file_name(1, "http://127.0.0.1:9/files/p/1.wav", MediaType::Audio),
            "original-1.wav"
        );
    }

    #[test]
    fn output_names_fall_back_to_the_media_type_default() {
        for (url, m, want) in [
            ("https://h/x/output", MediaType::Image, "original.png"),
            ("https://h/x/output.", MediaType::Video, "original.mp4"),
            ("https://h/x/.hidden", MediaType::Audio, "original.mp3"),
            ("https://h/x/a.toolongext", MediaType::Audio, "original.mp3"),
            ("https://h/x/a.m-p", MediaType::Audio, "original.mp3"),
            ("https://h.example.com", MediaType::Image, "original.png"),
            ("https://h.example.com/", MediaType::Image, "original.png"),
            ("https://h/dir.d/file", MediaType::Video, "original.mp4"),
        ] {
            assert_eq!(output_file_name(0, url, m), want, "{url}");
        }
        // The chosen names are valid key parts.
        assert!(validate_id("file_name", &output_file_name(3, "x", MediaType::Audio)).is_ok());
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("original.png"), "image/png");
        assert_eq!(content_type("original-1.MP4"), "video/mp4");
        assert_eq!(content_type("original.mp3"), "audio/mpeg");
        assert_eq!(content_type(METADATA_FILE), "application/json");
        assert_eq!(content_type("original.bin"), "application/octet-stream");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
