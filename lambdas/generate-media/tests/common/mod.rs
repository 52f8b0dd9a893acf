//! What the tests share: a fresh database, the shared Redis, a fresh
//! realtime table in moto, events as the media authorizer passes them on,
//! and a metrics recorder.

#![allow(dead_code)]

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use lambda_shared::testing::{unique, Moto};
use media_core::metrics::Counter;
use media_core::MediaType;
use media_stores::cache::{Cache, CacheConfig};
use media_stores::postgres::{DbConfig, Jobs};
use media_stores::realtime::{Realtime, BY_PREDICTION, BY_USER};
use media_testing::Servers;
use serde_json::{json, Value};
use std::sync::Mutex;

/// A test's stores: its own database and realtime table, the shared Redis.
pub struct Fixture {
    /// moto's configuration.
    pub sdk: aws_config::SdkConfig,
    /// The database's name.
    pub database: String,
    /// Its configuration (credentials in moto's Secrets Manager).
    pub db: DbConfig,
    /// Redis's configuration.
    pub cache: CacheConfig,
    /// The realtime table.
    pub table: String,
}

impl Fixture {
    /// Creates the database and the table.
    pub async fn new() -> Fixture {
        let servers = Servers::shared();
        let sdk = Moto::shared().sdk_config().await;
        let database = servers.database().await;
        let db = servers.db_config(&sdk, &database).await;
        let table = realtime_table(&sdk).await;
        Fixture {
            cache: servers.cache_config(),
            sdk,
            database,
            db,
            table,
        }
    }

    /// A PostgreSQL store on the database.
    pub fn jobs(&self) -> Jobs {
        Jobs::new(self.db.clone(), &self.sdk)
    }

    /// A Redis store.
    pub fn cache_store(&self) -> Cache {
        Cache::new(self.cache.clone(), &self.sdk)
    }

    /// The realtime table.
    pub fn realtime(&self) -> Realtime {
        Realtime::new(&self.sdk, &self.table)
    }

    /// Rows of the `jobs` table.
    pub async fn job_rows(&self) -> i64 {
        let c = Servers::shared().connect(&self.database).await;
        c.query_one("SELECT count(*) FROM jobs", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// The variables every media function gets: moto's, the stores', the
    /// realtime table and the metrics namespace.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = Moto::shared().env();
        env.extend(media_testing::env(&self.db, &self.cache));
        env.push(("REALTIME_TABLE".into(), self.table.clone()));
        env.push(("METRICS_NAMESPACE".into(), "MediaTest".into()));
        env
    }
}

/// A realtime-jobs table as the media stack declares it.
pub async fn realtime_table(sdk: &aws_config::SdkConfig) -> String {
    let name = unique("realtime-jobs");
    let attr = |n: &str, t: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(t)
            .build()
            .unwrap()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let index = |name: &str, pk: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(pk, KeyType::Hash))
            .key_schema(key("timestamp", KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .unwrap()
    };
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("jobId", ScalarAttributeType::S))
        .attribute_definitions(attr("userId", ScalarAttributeType::S))
        .attribute_definitions(attr("predictionId", ScalarAttributeType::S))
        .attribute_definitions(attr("timestamp", ScalarAttributeType::N))
        .key_schema(key("jobId", KeyType::Hash))
        .key_schema(key("timestamp", KeyType::Range))
        .global_secondary_indexes(index(BY_USER, "userId"))
        .global_secondary_indexes(index(BY_PREDICTION, "predictionId"))
        .send()
        .await
        .unwrap();
    name
}

/// A payload-2.0 event for `route` with a JSON body, as the HTTP API sends
/// it after the media authorizer accepted `user` (none: no authorizer).
pub fn event(route: &str, body: &Value, user: Option<&str>) -> Value {
    let mut e = lambda_shared::testing::http_event_json(route, body);
    if let Some(u) = user {
        e["requestContext"]["authorizer"] = json!({"lambda": {"userId": u}});
    }
    e
}

/// The same, typed.
pub fn typed(event: Value) -> aws_lambda_events::apigw::ApiGatewayV2httpRequest {
    serde_json::from_value(event).unwrap()
}

/// Records the counters instead of printing them.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<(Counter, MediaType, String)>>);

impl Recorder {
    /// Every count so far.
    pub fn counts(&self) -> Vec<(Counter, MediaType, String)> {
        self.0.lock().unwrap().clone()
    }
}

impl generate_media::Metrics for Recorder {
    fn count(&self, counter: Counter, media_type: MediaType, model: &str) {
        self.0
            .lock()
            .unwrap()
            .push((counter, media_type, model.to_string()));
    }
}

/// Status, headers and JSON body of a response.
pub fn parts(
    r: &aws_lambda_events::apigw::ApiGatewayV2httpResponse,
) -> (u16, aws_lambda_events::http::HeaderMap, Value) {
    let body = match &r.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => serde_json::from_str(t).unwrap(),
        _ => Value::Null,
    };
    (r.status_code as u16, r.headers.clone(), body)
}
