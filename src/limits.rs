//! Every AWS limit stackctl checks, written once: the ranges and sets of
//! values AWS accepts and the rules of physical names. Validation of the
//! project file (`validate.rs`) and the kinds' checks both read them here;
//! neither restates a number.

use std::ops::RangeInclusive;

/// Lambda memory, in MB.
pub const FUNCTION_MEMORY_MB: RangeInclusive<u32> = 128..=10240;
/// Lambda timeout, in seconds.
pub const FUNCTION_TIMEOUT_S: RangeInclusive<u32> = 1..=900;
/// Reserved concurrency of one function (the default account quota).
pub const RESERVED_CONCURRENCY: RangeInclusive<u32> = 0..=1000;
/// Messages per invocation of an SQS event source mapping.
pub const BATCH_SIZE: RangeInclusive<u32> = 1..=10_000;
/// Messages per invocation from a FIFO queue.
pub const FIFO_BATCH_SIZE: RangeInclusive<u32> = 1..=10;
/// Largest batch without a batching window.
pub const BATCH_SIZE_WITHOUT_WINDOW: u32 = 10;
/// Seconds an event source mapping gathers a batch.
pub const BATCH_WINDOW_S: RangeInclusive<u32> = 0..=300;
/// Concurrent invocations an SQS event source mapping drives.
pub const MAX_CONCURRENCY: RangeInclusive<u32> = 2..=1000;
/// Retries of a failed stream batch (Lambda's MaximumRetryAttempts).
pub const STREAM_RETRIES: RangeInclusive<u32> = 0..=10_000;
/// SQS visibility timeout, in seconds (12 hours).
pub const VISIBILITY_TIMEOUT_S: RangeInclusive<u32> = 0..=43_200;
/// What Lambda asks of a queue it polls: visibility at least this many
/// times the function's timeout.
pub const VISIBILITY_PER_TIMEOUT: u32 = 6;
/// SQS message retention, in days.
pub const QUEUE_RETENTION_DAYS: RangeInclusive<u32> = 1..=14;
/// SQS delivery delay, in seconds.
pub const QUEUE_DELAY_S: RangeInclusive<u32> = 0..=900;
/// Receives before SQS moves a message to the dead-letter queue.
pub const MAX_RECEIVES: RangeInclusive<u32> = 1..=1000;
/// Availability zones of a `network` (RDS subnet groups need two).
pub const NETWORK_ZONES: RangeInclusive<u32> = 2..=6;
/// RDS allocated storage, in GiB (gp3).
pub const DATABASE_STORAGE_GB: RangeInclusive<u32> = 20..=65_536;
/// RDS automated backups, in days.
pub const DATABASE_BACKUP_DAYS: RangeInclusive<u32> = 1..=35;
/// ElastiCache replicas per node group.
pub const CACHE_REPLICAS: RangeInclusive<u32> = 0..=5;
/// ElastiCache snapshot retention, in days.
pub const CACHE_SNAPSHOT_DAYS: RangeInclusive<u32> = 0..=35;
/// Redis auth token length.
pub const REDIS_TOKEN_LENGTH: RangeInclusive<u32> = 16..=128;
/// Seconds an HTTP API authorizer's answer is cached.
pub const AUTHORIZER_CACHE_S: RangeInclusive<u32> = 0..=3600;
/// Days in an S3 lifecycle rule.
pub const LIFECYCLE_DAYS: RangeInclusive<u32> = 1..=36_500;
/// Length of a generated secret: Secrets Manager allows up to 4096;
/// stackctl refuses fewer than 8 characters, too few for a credential.
pub const SECRET_LENGTH: RangeInclusive<u32> = 8..=4096;

/// CloudWatch Logs retention values, in days.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The allowed log retention nearest to `days`.
pub fn nearest_retention(days: u32) -> u32 {
    LOG_RETENTION_DAYS
        .iter()
        .min_by_key(|d| d.abs_diff(days))
        .copied()
        .unwrap_or(14)
}

/// "allowed: MIN to MAX", the hint of a value out of `range`.
pub fn allowed(range: &RangeInclusive<u32>) -> String {
    format!("allowed: {} to {}", range.start(), range.end())
}

/// Why `name` is not a valid S3 bucket name, if it is not.
pub fn bucket_problem(name: &str) -> Option<String> {
    let len = name.len();
    if !(3..=63).contains(&len) {
        return Some(format!(
            "bucket name `{name}` is {len} characters; S3 allows 3 to 63"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Some(format!(
            "bucket name `{name}` contains `{c}`; S3 allows lowercase letters, digits, `-` and `.`"
        ));
    }
    let first = name.chars().next().unwrap_or('-');
    let last = name.chars().last().unwrap_or('-');
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Some(format!(
            "bucket name `{name}` must begin and end with a letter or digit"
        ));
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Some(format!(
            "bucket name `{name}` has adjacent `.`/`-` characters"
        ));
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        return Some(format!(
            "bucket name `{name}` uses a prefix or suffix S3 reserves"
        ));
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Some(format!("bucket name `{name}` looks like an IP address"));
    }
    None
}

/// Why `name` breaks a "letters, digits and these characters, at most N" rule.
pub fn simple_problem(what: &str, name: &str, max: usize, extra: &str) -> Option<String> {
    if name.is_empty() || name.len() > max {
        return Some(format!(
            "{what} `{name}` is {} characters; the limit is {max}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(*c)))
    {
        let allowed: Vec<String> = extra.chars().map(|c| format!("`{c}`")).collect();
        return Some(format!(
            "{what} `{name}` contains `{c}`; allowed are letters, digits and {}",
            allowed.join(" ")
        ));
    }
    None
}

/// Why a CloudFormation stack name is invalid.
pub fn stack_name_problem(name: &str) -> Option<String> {
    if name.len() > 128 {
        return Some(format!("stack name `{name}` is longer than 128 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some(format!("stack name `{name}` must start with a letter"));
    }
    simple_problem("stack name", name, 128, "-")
}

/// The rule of RDS instance and ElastiCache replication group ids: a
/// lowercase identifier with `-`, at most `max`, not ending with `-` and
/// without `--`.
pub fn hyphenated_id_problem(what: &str, name: &str, max: usize) -> Option<String> {
    identifier_problem(what, name, '-', max).or_else(|| {
        (name.ends_with('-') || name.contains("--"))
            .then(|| format!("{what} `{name}` ends with `-` or holds `--`"))
    })
}

/// Checks that `text` is a lowercase identifier of the form `[a-z][a-z0-9<extra>]*`.
pub fn identifier_problem(what: &str, text: &str, extra: char, max: usize) -> Option<String> {
    let ok_first = text.starts_with(|c: char| c.is_ascii_lowercase());
    let ok_rest = text
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == extra);
    if !ok_first || !ok_rest || text.len() > max {
        return Some(format!(
            "{what} `{text}` must be lowercase letters, digits and `{extra}`, start with a letter, and be at most {max} characters"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphenated_ids_neither_end_with_nor_double_a_hyphen() {
        assert!(hyphenated_id_problem("id", "studio-media-db-dev", 63).is_none());
        assert!(hyphenated_id_problem("id", "db-", 63)
            .unwrap()
            .contains("ends with"));
        assert!(hyphenated_id_problem("id", "a--b", 63)
            .unwrap()
            .contains("holds `--`"));
        assert!(hyphenated_id_problem("id", &"a".repeat(41), 40).is_some());
    }

    #[test]
    fn retention_snaps_to_the_nearest_allowed_value() {
        assert_eq!(nearest_retention(10), 7);
        assert_eq!(nearest_retention(13), 14);
        assert_eq!(nearest_retention(10_000), 3653);
        assert_eq!(allowed(&FUNCTION_MEMORY_MB), "allowed: 128 to 10240");
    }

    #[test]
    fn bucket_rules() {
        assert!(bucket_problem("studio-upload-ingest-dev").is_none());
        assert!(bucket_problem("ab").unwrap().contains("3 to 63"));
        assert!(bucket_problem(&"a".repeat(64))
            .unwrap()
            .contains("64 characters"));
        assert!(bucket_problem("Upper").unwrap().contains("contains `U`"));
        assert!(bucket_problem("a_b").unwrap().contains("contains `_`"));
        assert!(bucket_problem("-ab").unwrap().contains("begin and end"));
        assert!(bucket_problem("a..b").unwrap().contains("adjacent"));
        assert!(bucket_problem("192.168.5.4")
            .unwrap()
            .contains("IP address"));
        assert!(bucket_problem("xn--abc").unwrap().contains("reserves"));
    }

    #[test]
    fn function_and_stack_names() {
        assert!(simple_problem("function name", &"f".repeat(65), 64, "-_")
            .unwrap()
            .contains("limit is 64"));
        assert!(simple_problem("function name", "a.b", 64, "-_")
            .unwrap()
            .contains("contains `.`"));
        assert!(stack_name_problem("studio-upload-dev").is_none());
        assert!(stack_name_problem("1abc").is_some());
        assert!(stack_name_problem("a_b").is_some());
    }
}
