//! What every function of the upload stacks shares: HTTP responses and
//! errors for API Gateway, JSON logging, configuration from the
//! environment, AWS clients that honour `AWS_ENDPOINT_URL`, and the narrow
//! traits (with their SDK implementations) that handlers are generic over.
//! With the `testing` feature: a moto server and a Lambda Runtime API
//! server for tests, and local fakes of AWS HTTP APIs ([`fakes`]).

pub mod config;
pub mod http;
pub mod logging;
pub mod objects;
pub mod qr;
pub mod upload;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "testing")]
pub mod fakes;

/// Seconds since the Unix epoch.
pub fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// An AWS call failed; the message is for logs, never for clients.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AwsError(pub String);

impl AwsError {
    /// Wraps any SDK error with its full chain of causes.
    pub fn from_sdk<E: std::error::Error>(context: &str, e: E) -> Self {
        let mut msg = format!("{context}: {e}");
        let mut source = e.source();
        while let Some(s) = source {
            msg.push_str(&format!(": {s}"));
            source = s.source();
        }
        AwsError(msg)
    }
}

/// The calendar date (UTC) of an epoch time, as `YYYY-MM-DD`.
pub fn date(epoch: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = epoch.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(951_782_400), "2000-02-29");
        assert_eq!(super::date(1_795_305_600), "2026-11-22");
        assert_eq!(super::date(1_795_391_999), "2026-11-22");
    }
}
