//! The opaque list cursor: a page's `LastEvaluatedKey` (string attributes
//! only, as the `GSI1` keys are) as JSON, then `.`, then its HMAC-SHA256,
//! both base64url without padding. The key is the `cursor_key` secret,
//! read from Secrets Manager (`CURSOR_KEY_SECRET_ARN`) on the first list
//! request and kept for the life of the process. A cursor that does not
//! verify (forged, altered, signed with another key, or not one of ours) is
//! refused, so clients cannot make the query start anywhere they like.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{KeyInit, Mac};
use lambda_shared::AwsError;
use std::collections::{BTreeMap, HashMap};

use crate::episode::Key;
use aws_sdk_dynamodb::types::AttributeValue;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The attributes a list cursor holds: the table's and the index's keys.
const ATTRIBUTES: [&str; 4] = ["pk", "sk", "GSI1PK", "GSI1SK"];

/// The shortest secret accepted as a key (bytes).
pub const MIN_KEY_BYTES: usize = 32;

/// A cursor that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid cursor")]
pub struct InvalidCursor;

/// The HMAC key of list cursors.
pub struct CursorKey(Vec<u8>);

impl CursorKey {
    /// A key of at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<CursorKey, AwsError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(AwsError(format!(
                "the cursor key has {} bytes; at least {MIN_KEY_BYTES} are needed",
                bytes.len()
            )));
        }
        Ok(CursorKey(bytes))
    }

    /// Reads the key: the secret's string value.
    pub async fn load(
        sm: &aws_sdk_secretsmanager::Client,
        secret_arn: &str,
    ) -> Result<CursorKey, AwsError> {
        let out = sm
            .get_secret_value()
            .secret_id(secret_arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetSecretValue cursor key", e))?;
        let value = out
            .secret_string
            .map(String::into_bytes)
            .or_else(|| out.secret_binary.map(|b| b.into_inner()))
            .ok_or_else(|| AwsError("the cursor key secret has no value".into()))?;
        CursorKey::new(value)
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(payload);
        mac
    }

    /// The cursor of `key`; None if it holds anything but the string
    /// attributes of a list page's key.
    pub fn encode(&self, key: &Key) -> Option<String> {
        let mut plain = BTreeMap::new();
        for (k, v) in key {
            if !ATTRIBUTES.contains(&k.as_str()) {
                return None;
            }
            plain.insert(k.as_str(), v.as_s().ok()?.as_str());
        }
        let payload = serde_json::to_vec(&plain).ok()?;
        let tag = self.mac(&payload).finalize().into_bytes();
        Some(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// The key a cursor holds, if it verifies.
    pub fn decode(&self, cursor: &str) -> Result<Key, InvalidCursor> {
        if cursor.len() > 2048 {
            return Err(InvalidCursor);
        }
        let (payload, tag) = cursor.split_once('.').ok_or(InvalidCursor)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| InvalidCursor)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidCursor)?;
        self.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| InvalidCursor)?;
        let plain: HashMap<String, String> =
            serde_json::from_slice(&payload).map_err(|_| InvalidCursor)?;
        if plain.len() != ATTRIBUTES.len()
            || !ATTRIBUTES.iter().all(|a| plain.contains_key(*a))
            || plain.get("GSI1PK").map(String::as_str) != Some(crate::keys::EPISODES)
        {
            return Err(InvalidCursor);
        }
        Ok(plain
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect())
    }
}

/// The cursor key, read on first use.
pub struct LazyCursorKey {
    sm: aws_sdk_secretsmanager::Client,
    secret_arn: String,
    key: tokio::sync::OnceCell<CursorKey>,
}

impl LazyCursorKey {
    /// Reads secret `secret_arn` through `sm` when first needed.
    pub fn new(sm: aws_sdk_secretsmanager::Client, secret_arn: impl Into<String>) -> Self {
        LazyCursorKey {
            sm,
            secret_arn: secret_arn.into(),
            key: tokio::sync::OnceCell::new(),
        }
    }

    /// The key (read now if not yet).
    pub async fn get(&self) -> Result<&CursorKey, AwsError> {
        self.key
            .get_or_try_init(|| CursorKey::load(&self.sm, &self.secret_arn))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_key() -> Key {
        [
            ("pk", "EPISODE#a"),
            ("sk", "EPISODE"),
            ("GSI1PK", "EPISODES"),
            ("GSI1SK", "000000000000001#a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
        .collect()
    }

    #[test]
    fn a_cursor_round_trips_and_any_change_is_refused() {
        let key = CursorKey::new(vec![7u8; 64]).unwrap();
        let cursor = key.encode(&page_key()).unwrap();
        assert_eq!(key.decode(&cursor).unwrap(), page_key());

        let other = CursorKey::new(vec![8u8; 64]).unwrap();
        assert_eq!(other.decode(&cursor), Err(InvalidCursor));

        let (payload, tag) = cursor.split_once('.').unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let mut forged: BTreeMap<&str, &str> = serde_json::from_slice(&bytes).unwrap();
        forged.insert("GSI1SK", "999999999999999#z");
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(key.decode(&format!("{forged}.{tag}")), Err(InvalidCursor));
        for junk in ["", ".", "abc", "abc.def", &cursor[1..]] {
            assert_eq!(key.decode(junk), Err(InvalidCursor), "{junk}");
        }
    }

    #[test]
    fn short_keys_and_foreign_attributes_are_refused() {
        assert!(CursorKey::new(vec![1u8; 16]).is_err());
        let key = CursorKey::new(vec![7u8; 32]).unwrap();
        let mut odd = page_key();
        odd.insert("status".into(), AttributeValue::S("x".into()));
        assert_eq!(key.encode(&odd), None);
    }
}
