//! Replicate's webhook signatures (the Standard Webhooks scheme). Each
//! delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature`, a space-separated list of `v1,<base64>` entries.
//! The signed content is `{id}.{timestamp}.{raw body}`, the MAC is
//! HMAC-SHA256 keyed with the base64-decoded part of the signing secret
//! after its `whsec_` prefix. A delivery is authentic when one `v1` entry
//! matches (compared in constant time) and its timestamp is within
//! [`TOLERANCE_SECS`] of now, which bounds replays.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a delivery's timestamp may be from now, either way (5 minutes).
pub const TOLERANCE_SECS: i64 = 300;

/// The header carrying the message id.
pub const ID_HEADER: &str = "webhook-id";
/// The header carrying the Unix timestamp of the attempt.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header carrying the signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The prefix of Replicate's signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The signing secret is not `whsec_` followed by base64.
    #[error("the webhook signing secret is invalid: {0}")]
    InvalidSecret(&'static str),
    /// A required header is absent or empty.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a whole number of seconds.
    #[error("the webhook-timestamp header {0:?} is not a Unix timestamp")]
    InvalidTimestamp(String),
    /// The timestamp is more than [`TOLERANCE_SECS`] from now.
    #[error(
        "the webhook timestamp {timestamp} is {skew} s from now (more than {TOLERANCE_SECS} s)"
    )]
    StaleTimestamp {
        /// The delivery's timestamp.
        timestamp: i64,
        /// Its distance from now, in seconds.
        skew: i64,
    },
    /// `webhook-signature` has no `v1` entry whose signature is base64.
    #[error("the webhook-signature header has no valid v1 signature entry")]
    MalformedSignature,
    /// No signature matches the content.
    #[error("the webhook signature does not match")]
    SignatureMismatch,
}

/// A signing secret, decoded. Its `Debug` output hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// Decodes `whsec_<base64>`; the prefix is optional, as Standard
    /// Webhooks libraries accept the bare key too.
    pub fn parse(secret: &str) -> Result<Self, WebhookError> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
        if encoded.is_empty() {
            return Err(WebhookError::InvalidSecret("it is empty"));
        }
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookError::InvalidSecret("the part after whsec_ is not base64"))?;
        if key.is_empty() {
            return Err(WebhookError::InvalidSecret("it is empty"));
        }
        Ok(WebhookSecret { key })
    }

    /// A secret from raw key bytes (tests and the fake provider).
    pub fn from_key(key: impl Into<Vec<u8>>) -> Self {
        WebhookSecret { key: key.into() }
    }

    /// The `whsec_<base64>` form of this secret.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail; the empty
        // key fallback is unreachable.
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .unwrap_or_else(|_| HmacSha256::new(&Default::default()));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The three signature headers of a delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookHeaders {
    /// `webhook-id`.
    pub id: Option<String>,
    /// `webhook-timestamp`.
    pub timestamp: Option<String>,
    /// `webhook-signature`.
    pub signature: Option<String>,
}

impl WebhookHeaders {
    /// Picks the three headers out of `(name, value)` pairs, matching names
    /// case-insensitively (API Gateway lowercases them; other senders may
    /// not).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut h = WebhookHeaders::default();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref().to_string());
            if k.eq_ignore_ascii_case(ID_HEADER) {
                h.id = Some(v);
            } else if k.eq_ignore_ascii_case(TIMESTAMP_HEADER) {
                h.timestamp = Some(v);
            } else if k.eq_ignore_ascii_case(SIGNATURE_HEADER) {
                h.signature = Some(v);
            }
        }
        h
    }
}

/// What a verified delivery says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The message id: the same for retries of one message, so it is the
    /// key to de-duplicate deliveries.
    pub id: String,
    /// When this attempt was sent (Unix seconds).
    pub timestamp: i64,
}

/// The `v1,<base64>` signature of `body` sent as message `id` at
/// `timestamp` (Unix seconds), as Replicate computes it.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret
        .mac(id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// Verifies a delivery against `secret` at time `now` (Unix seconds;
/// injected so tests control the clock). `body` must be the raw body, as
/// received, before any JSON parsing.
pub fn verify(
    secret: &WebhookSecret,
    headers: &WebhookHeaders,
    body: &[u8],
    now: i64,
) -> Result<Verified, WebhookError> {
    let present = |v: &Option<String>, name| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(WebhookError::MissingHeader(name))
    };
    let id = present(&headers.id, ID_HEADER)?;
    let ts_text = present(&headers.timestamp, TIMESTAMP_HEADER)?;
    let signatures = present(&headers.signature, SIGNATURE_HEADER)?;

    let timestamp: i64 = ts_text
        .parse()
        .map_err(|_| WebhookError::InvalidTimestamp(ts_text.clone()))?;
    let skew = now.saturating_sub(timestamp).saturating_abs();
    if skew > TOLERANCE_SECS {
        return Err(WebhookError::StaleTimestamp { timestamp, skew });
    }

    let mac = secret.mac(&id, &ts_text, body);
    let mut any_v1 = false;
    for entry in signatures.split(' ').filter(|e| !e.is_empty()) {
        let Some((version, encoded)) = entry.split_once(',') else {
            continue;
        };
        if version != "v1" {
            continue;
        }
        let Ok(sig) = STANDARD.decode(encoded) else {
            continue;
        };
        any_v1 = true;
        // verify_slice compares in constant time.
        if mac.clone().verify_slice(&sig).is_ok() {
            return Ok(Verified { id, timestamp });
        }
    }
    Err(if any_v1 {
        WebhookError::SignatureMismatch
    } else {
        WebhookError::MalformedSignature
    })
}

/// [`verify`] at the current time.
pub fn verify_now(
    secret: &WebhookSecret,
    headers: &WebhookHeaders,
    body: &[u8],
) -> Result<Verified, WebhookError> {
    verify(secret, headers, body, crate::now_epoch())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks specification's published test vector.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1_614_265_330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers(id: &str, ts: &str, sig: &str) -> WebhookHeaders {
        WebhookHeaders::from_pairs([
            ("Webhook-Id", id),
            ("webhook-timestamp", ts),
            ("WEBHOOK-SIGNATURE", sig),
        ])
    }

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(SPEC_SECRET).unwrap()
    }

    #[test]
    fn sign_matches_the_standard_webhooks_test_vector() {
        assert_eq!(
            sign(&secret(), SPEC_ID, SPEC_TS, SPEC_BODY.as_bytes()),
            SPEC_SIG
        );
        let ok = verify(
            &secret(),
            &headers(SPEC_ID, &SPEC_TS.to_string(), SPEC_SIG),
            SPEC_BODY.as_bytes(),
            SPEC_TS + 10,
        )
        .unwrap();
        assert_eq!(
            ok,
            Verified {
                id: SPEC_ID.into(),
                timestamp: SPEC_TS
            }
        );
    }

    #[test]
    fn any_matching_v1_entry_among_several_is_enough() {
        let sig = format!("v2,abc v1,AAAA {SPEC_SIG} v1,%%%");
        assert!(verify(
            &secret(),
            &headers(SPEC_ID, &SPEC_TS.to_string(), &sig),
            SPEC_BODY.as_bytes(),
            SPEC_TS
        )
        .is_ok());
    }

    #[test]
    fn missing_headers_are_named() {
        let body = SPEC_BODY.as_bytes();
        let ts = SPEC_TS.to_string();
        let cases = [
            (
                WebhookHeaders::from_pairs([
                    ("webhook-timestamp", ts.as_str()),
                    ("webhook-signature", SPEC_SIG),
                ]),
                ID_HEADER,
            ),
            (
                WebhookHeaders::from_pairs([
                    ("webhook-id", SPEC_ID),
                    ("webhook-signature", SPEC_SIG),
                ]),
                TIMESTAMP_HEADER,
            ),
            (
                WebhookHeaders::from_pairs([
                    ("webhook-id", SPEC_ID),
                    ("webhook-timestamp", ts.as_str()),
                ]),
                SIGNATURE_HEADER,
            ),
            (headers(SPEC_ID, &ts, "  "), SIGNATURE_HEADER),
        ];
        for (h, name) in cases {
            let e = verify(&secret(), &h, body, SPEC_TS).unwrap_err();
            assert_eq!(e, WebhookError::MissingHeader(name));
            assert_eq!(e.to_string(), format!("the {name} header is missing"));
        }
    }

    #[test]
    fn tampered_content_does_not_match() {
        let ts = SPEC_TS.to_string();
        let s = secret();
        let tampered_body = verify(
            &s,
            &headers(SPEC_ID, &ts, SPEC_SIG),
            br#"{"test": 2432232315}"#,
            SPEC_TS,
        );
        assert_eq!(tampered_body, Err(WebhookError::SignatureMismatch));
        let other_id = verify(
            &s,
            &headers("msg_other", &ts, SPEC_SIG),
            SPEC_BODY.as_bytes(),
            SPEC_TS,
        );
        assert_eq!(other_id, Err(WebhookError::SignatureMismatch));
        let other_ts = (SPEC_TS + 1).to_string();
        let shifted = verify(
            &s,
            &headers(SPEC_ID, &other_ts, SPEC_SIG),
            SPEC_BODY.as_bytes(),
            SPEC_TS,
        );
        assert_eq!(shifted, Err(WebhookError::SignatureMismatch));
        let wrong_key = WebhookSecret::from_key(b"another key".to_vec());
        let forged = sign(&wrong_key, SPEC_ID, SPEC_TS, SPEC_BODY.as_bytes());
        assert_eq!(
            verify(
                &s,
                &headers(SPEC_ID, &ts, &forged),
                SPEC_BODY.as_bytes(),
                SPEC_TS
            ),
            Err(WebhookError::SignatureMismatch)
        );
        // A truncated signature is a mismatch, not a prefix match.
        let short = &SPEC_SIG[..SPEC_SIG.len() - 8];
        let short = format!("{short}AAAA");
        assert!(verify(
            &s,
            &headers(SPEC_ID, &ts, &short),
            SPEC_BODY.as_bytes(),
            SPEC_TS
        )
        .is_err());
    }

    #[test]
    fn bad_base64_or_no_v1_entry_is_malformed() {
        let ts = SPEC_TS.to_string();
        for sig in [
            "v1,!!!notbase64",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "g0hM9SsE",
            "v1",
        ] {
            assert_eq!(
                verify(
                    &secret(),
                    &headers(SPEC_ID, &ts, sig),
                    SPEC_BODY.as_bytes(),
                    SPEC_TS
                ),
                Err(WebhookError::MalformedSignature),
                "{sig}"
            );
        }
    }

    #[test]
    fn timestamps_outside_five_minutes_are_refused() {
        let s = secret();
        let body = SPEC_BODY.as_bytes();
        let ts = SPEC_TS.to_string();
        let h = headers(SPEC_ID, &ts, SPEC_SIG);
        assert!(verify(&s, &h, body, SPEC_TS + TOLERANCE_SECS).is_ok());
        assert!(verify(&s, &h, body, SPEC_TS - TOLERANCE_SECS).is_ok());
        assert_eq!(
            verify(&s, &h, body, SPEC_TS + TOLERANCE_SECS + 1),
            Err(WebhookError::StaleTimestamp {
                timestamp: SPEC_TS,
                skew: 301
            })
        );
        // From the future too.
        assert!(matches!(
            verify(&s, &h, body, SPEC_TS - 3_600),
            Err(WebhookError::StaleTimestamp { skew: 3_600, .. })
        ));
        // A stale timestamp is refused even with a valid signature for it.
        let old = SPEC_TS - 600;
        let sig = sign(&s, SPEC_ID, old, body);
        assert!(matches!(
            verify(&s, &headers(SPEC_ID, &old.to_string(), &sig), body, SPEC_TS),
            Err(WebhookError::StaleTimestamp { .. })
        ));
        for bad in ["soon", "1.5", "1614265330x"] {
            assert_eq!(
                verify(&s, &headers(SPEC_ID, bad, SPEC_SIG), body, SPEC_TS),
                Err(WebhookError::InvalidTimestamp(bad.into()))
            );
        }
    }

    #[test]
    fn secrets_parse_with_or_without_prefix_and_stay_hidden() {
        let with = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let without = WebhookSecret::parse(&SPEC_SECRET[SECRET_PREFIX.len()..]).unwrap();
        assert_eq!(with, without);
        assert_eq!(with.to_whsec(), SPEC_SECRET);
        assert_eq!(format!("{with:?}"), "WebhookSecret(<redacted>)");
        assert_eq!(
            WebhookSecret::parse("whsec_"),
            Err(WebhookError::InvalidSecret("it is empty"))
        );
        assert!(matches!(
            WebhookSecret::parse("whsec_not base64!"),
            Err(WebhookError::InvalidSecret(_))
        ));
    }

    #[test]
    fn verify_now_uses_the_clock() {
        let s = WebhookSecret::from_key(b"k".to_vec());
        let now = crate::now_epoch();
        let sig = sign(&s, "m1", now, b"{}");
        assert!(verify_now(&s, &headers("m1", &now.to_string(), &sig), b"{}").is_ok());
    }
}
