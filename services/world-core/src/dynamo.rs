//! DynamoDB helpers: records to and from items (serde_dynamo), pages with
//! opaque cursors, whole-partition queries, and batch writes that retry
//! what DynamoDB leaves unprocessed.

use crate::error::ApiError;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The most items one BatchWriteItem takes.
pub const BATCH: usize = 25;

/// `record` as an item.
pub fn to_item<T: Serialize>(record: &T) -> Result<Item, ApiError> {
    serde_dynamo::to_item(record).map_err(|e| ApiError::internal("encoding an item", &e))
}

/// An item as `T`.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, ApiError> {
    serde_dynamo::from_item(item).map_err(|e| ApiError::internal("decoding an item", &e))
}

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Whether an SDK error is DynamoDB's ConditionalCheckFailedException.
pub fn is_conditional_failure<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// A 500 for a failed DynamoDB call, with the causes for the log.
pub fn error<E: std::error::Error + 'static>(operation: &str, table: &str, e: E) -> ApiError {
    ApiError::internal(&format!("DynamoDB {operation} on {table}"), &e)
}

/// One page of results, and where the next one starts.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The records.
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The page size from `?limit=`: `default` when absent, 1..=`max`.
pub fn limit(param: Option<&str>, default: i32, max: i32) -> Result<i32, ApiError> {
    let Some(raw) = param.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    match raw.parse::<i32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::field(
            "limit",
            format!("must be a whole number from 1 to {max}"),
        )),
    }
}

/// The cursor for a query's `LastEvaluatedKey` (URL-safe base64 of its
/// JSON form).
pub fn encode_cursor(last: Option<&Item>) -> Option<String> {
    let last = last.filter(|l| !l.is_empty())?;
    let value: serde_json::Value = serde_dynamo::from_item(last.clone()).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string()))
}

/// The `ExclusiveStartKey` of a `?cursor=`; it must belong to the same
/// partition (`attribute` = `value`) as the query it continues, so a cursor
/// cannot be replayed against another partition.
pub fn decode_cursor(cursor: &str, attribute: &str, value: &str) -> Result<Item, ApiError> {
    let bad = || ApiError::field("cursor", "is not a cursor this listing returned");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| bad())?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if json.get(attribute).and_then(|v| v.as_str()) != Some(value) {
        return Err(bad());
    }
    serde_dynamo::to_item(json).map_err(|_| bad())
}

/// What a listing's query string asks for: the partition (`?FIELD=`,
/// required, checked as an id; `per` says what it lists by, for the
/// error), the page size (`?limit=`, up to 100) and the cursor it
/// continues from (`?cursor=`, of that partition).
pub struct Listing<'a> {
    /// The partition's value.
    pub value: &'a str,
    /// The page size.
    pub limit: i32,
    /// Where the page starts.
    pub cursor: Option<Item>,
}

impl<'a> Listing<'a> {
    /// Reads `params` for a listing by `field` (`default_limit` items a page).
    pub fn of(
        params: &'a HashMap<String, String>,
        field: &str,
        per: &str,
        default_limit: i32,
    ) -> Result<Self, ApiError> {
        let value = params
            .get(field)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ApiError::field(field, format!("is required: {per}")))?;
        crate::error::id(field, value)?;
        let limit = limit(params.get("limit").map(String::as_str), default_limit, 100)?;
        let cursor = params
            .get("cursor")
            .map(|c| decode_cursor(c, field, value))
            .transpose()?;
        Ok(Listing {
            value,
            limit,
            cursor,
        })
    }
}

/// Runs `query` for one page of at most `limit` items from `cursor`.
pub async fn page<T: DeserializeOwned>(
    query: QueryFluentBuilder,
    table: &str,
    limit: i32,
    cursor: Option<Item>,
) -> Result<Page<T>, ApiError> {
    let out = query
        .limit(limit)
        .set_exclusive_start_key(cursor)
        .send()
        .await
        .map_err(|e| error("Query", table, e))?;
    let next_cursor = encode_cursor(out.last_evaluated_key());
    let items = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(from_item)
        .collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor })
}

/// Every item `query` matches, following the pages.
pub async fn query_all(query: QueryFluentBuilder, table: &str) -> Result<Vec<Item>, ApiError> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let out = query
            .clone()
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| error("Query", table, e))?;
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(items),
        }
    }
}

/// Writes `requests` (puts and deletes) to `table` in batches of 25,
/// retrying unprocessed items with backoff.
pub async fn batch_write(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    requests: Vec<WriteRequest>,
) -> Result<(), ApiError> {
    for chunk in requests.chunks(BATCH) {
        let mut pending = chunk.to_vec();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            if attempt > 0 {
                if attempt > 8 {
                    return Err(ApiError::Unavailable(format!(
                        "DynamoDB left {} writes to {table} unprocessed after {attempt} attempts",
                        pending.len()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
            }
            attempt += 1;
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| error("BatchWriteItem", table, e))?;
            pending = out
                .unprocessed_items
                .and_then(|mut m| m.remove(table))
                .unwrap_or_default();
        }
    }
    Ok(())
}

/// A put request for `item`.
pub fn put_request(item: Item) -> Result<WriteRequest, ApiError> {
    let put = aws_sdk_dynamodb::types::PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(|e| ApiError::internal("a put request", &e))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

/// A delete request for the item with `key`.
pub fn delete_request(key: Item) -> Result<WriteRequest, ApiError> {
    let delete = aws_sdk_dynamodb::types::DeleteRequest::builder()
        .set_key(Some(key))
        .build()
        .map_err(|e| ApiError::internal("a delete request", &e))?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_within_their_partition() {
        let key: Item = [
            ("owner_id".to_string(), s("o1")),
            ("world_id".to_string(), s("w1")),
            ("created_at".to_string(), s("2026-11-22T00:00:00.000Z")),
        ]
        .into();
        let c = encode_cursor(Some(&key)).unwrap();
        assert_eq!(decode_cursor(&c, "owner_id", "o1").unwrap(), key);
        assert!(decode_cursor(&c, "owner_id", "o2").is_err());
        assert!(decode_cursor("not a cursor!", "owner_id", "o1").is_err());
        assert_eq!(encode_cursor(Some(&Item::new())), None);
        assert_eq!(encode_cursor(None), None);
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None, 20, 100).unwrap(), 20);
        assert_eq!(limit(Some("5"), 20, 100).unwrap(), 5);
        assert!(limit(Some("0"), 20, 100).is_err());
        assert!(limit(Some("101"), 20, 100).is_err());
        assert!(limit(Some("x"), 20, 100).is_err());
    }
}
