//! Runs the planned sources against the emulator: one task per source
//! (one per bucket for S3), stopped by [`Running::stop`] (which puts back
//! what serve changed on the emulator) or on drop.

use super::{
    pattern, schedule, Answer, Invoke, Payload, Report, Source, SourceEvent, Spec, Target,
};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How sources run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Schedules fire on their own (`--schedules on`); off, they fire only
    /// through [`Running::fire`].
    pub schedules: bool,
    /// How long a queue or tap receive waits for messages (long polling,
    /// at most 20 s); a stream or an empty shard is read again after
    /// `poll`.
    pub poll: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            schedules: true,
            poll: Duration::from_millis(500),
        }
    }
}

/// What to put back on the emulator when serve stops.
enum Restore {
    /// Re-enable the emulator's own event source mapping.
    Mapping(String),
    /// Put a rule's function target back in place of the tap.
    RuleTarget {
        rule: String,
        bus: String,
        target: Box<aws_sdk_eventbridge::types::Target>,
    },
    /// Put a bucket's notification configuration back.
    Bucket {
        bucket: String,
        config: Box<aws_sdk_s3::types::NotificationConfiguration>,
    },
    /// Delete a queue serve made.
    Queue(String),
}

/// The running sources.
pub struct Running {
    tasks: Vec<JoinHandle<()>>,
    fire: BTreeMap<String, Arc<Notify>>,
    restore: Vec<Restore>,
    sdk: aws_config::SdkConfig,
}

impl Running {
    /// Fires schedule `id` now (its next run stays on time). False when
    /// no running schedule has that id.
    pub fn fire(&self, id: &str) -> bool {
        match self.fire.get(id) {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }

    /// Stops every source and puts back what serve changed on the
    /// emulator (event source mappings, rule targets, bucket
    /// notifications; its own queues are deleted).
    pub async fn stop(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let lambda = aws_sdk_lambda::Client::new(&self.sdk);
        let events = aws_sdk_eventbridge::Client::new(&self.sdk);
        let s3 = aws_sdk_s3::Client::new(&self.sdk);
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        for r in std::mem::take(&mut self.restore) {
            // Best effort: the emulator may be gone already.
            match r {
                Restore::Mapping(uuid) => {
                    let _ = lambda
                        .update_event_source_mapping()
                        .uuid(uuid)
                        .enabled(true)
                        .send()
                        .await;
                }
                Restore::RuleTarget { rule, bus, target } => {
                    let _ = events
                        .remove_targets()
                        .rule(&rule)
                        .event_bus_name(&bus)
                        .ids(target.id())
                        .send()
                        .await;
                    let _ = events
                        .put_targets()
                        .rule(&rule)
                        .event_bus_name(&bus)
                        .targets(*target)
                        .send()
                        .await;
                }
                Restore::Bucket { bucket, config } => {
                    let _ = s3
                        .put_bucket_notification_configuration()
                        .bucket(bucket)
                        .notification_configuration(*config)
                        .send()
                        .await;
                }
                Restore::Queue(url) => {
                    let _ = sqs.delete_queue().queue_url(url).send().await;
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts every emulated source of `sources`. What cannot be set up on
/// the emulator is reported (a [`SourceEvent`] with no records and the
/// error) and left out.
pub async fn run(
    sources: &[Source],
    sdk: &aws_config::SdkConfig,
    invoke: Invoke,
    report: Report,
    options: Options,
) -> Running {
    let mut running = Running {
        tasks: Vec::new(),
        fire: BTreeMap::new(),
        restore: Vec::new(),
        sdk: sdk.clone(),
    };
    let problem = |s: &Source, e: String| {
        report(SourceEvent {
            source: s.id.clone(),
            function: s.target.function.clone(),
            records: 0,
            outcome: Err(e),
            duration: Duration::ZERO,
        })
    };
    let mut buckets: BTreeMap<String, Vec<&Source>> = BTreeMap::new();
    for s in sources.iter().filter(|s| s.emulated()) {
        let cx = Cx {
            id: s.id.clone(),
            target: s.target.clone(),
            invoke: invoke.clone(),
            report: report.clone(),
        };
        match &s.spec {
            Spec::Schedule {
                expression,
                payload,
            } => {
                let notify = Arc::new(Notify::new());
                running.fire.insert(s.id.clone(), notify.clone());
                let (expression, payload) = (expression.clone(), payload.clone());
                let on = options.schedules;
                running.tasks.push(tokio::spawn(run_schedule(
                    cx, expression, payload, notify, on,
                )));
            }
            Spec::Queue {
                url,
                arn,
                batch_size,
                window,
                report_failures,
                filters,
            } => {
                match disable_mappings(sdk, arn).await {
                    Ok(uuids) => running
                        .restore
                        .extend(uuids.into_iter().map(Restore::Mapping)),
                    Err(e) => problem(
                        s,
                        format!("disabling the emulator's event source mapping: {e}"),
                    ),
                }
                let q = Queue {
                    sqs: aws_sdk_sqs::Client::new(sdk),
                    url: url.clone(),
                    arn: arn.clone(),
                    region: region_of(arn),
                    batch_size: *batch_size,
                    window: *window,
                    report_failures: *report_failures,
                    filters: filters.clone(),
                };
                running
                    .tasks
                    .push(tokio::spawn(run_queue(cx, q, options.poll)));
            }
            Spec::Stream {
                stream_arn,
                trim_horizon,
                batch_size,
                filters,
                retries,
            } => {
                let st = Stream {
                    client: aws_sdk_dynamodbstreams::Client::new(sdk),
                    arn: stream_arn.clone(),
                    trim_horizon: *trim_horizon,
                    batch_size: *batch_size,
                    filters: filters.clone(),
                    retries: *retries,
                };
                running
                    .tasks
                    .push(tokio::spawn(run_stream(cx, st, options.poll)));
            }
            Spec::S3 { bucket, .. } => buckets.entry(bucket.clone()).or_default().push(s),
            Spec::EventRule { rule, bus, target } => {
                let id = target.get("Id").and_then(Value::as_str).unwrap_or_default();
                match tap(sdk, rule, bus, id).await {
                    Ok((url, restore)) => {
                        running.restore.extend(restore);
                        let sqs = aws_sdk_sqs::Client::new(sdk);
                        running.tasks.push(tokio::spawn(run_tap(cx, sqs, url)));
                    }
                    Err(e) => problem(s, format!("tapping rule {rule}: {e}")),
                }
            }
            Spec::None => {}
        }
    }
    for (bucket, group) in buckets {
        match watch_bucket(
            sdk,
            &bucket,
            group.iter().any(|s| {
                matches!(
                    s.spec,
                    Spec::S3 {
                        event_bridge: true,
                        ..
                    }
                )
            }),
        )
        .await
        {
            Ok((url, restore)) => {
                running.restore.extend(restore);
                let subs = group
                    .iter()
                    .filter(|s| !s.target.function.is_empty())
                    .filter_map(|s| match &s.spec {
                        Spec::S3 {
                            events,
                            prefix,
                            suffix,
                            ..
                        } => Some(Notification {
                            cx: Cx {
                                id: s.id.clone(),
                                target: s.target.clone(),
                                invoke: invoke.clone(),
                                report: report.clone(),
                            },
                            events: events.clone(),
                            prefix: prefix.clone(),
                            suffix: suffix.clone(),
                        }),
                        _ => None,
                    })
                    .collect();
                let sqs = aws_sdk_sqs::Client::new(sdk);
                running.tasks.push(tokio::spawn(run_bucket(sqs, url, subs)));
            }
            Err(e) => {
                for s in group {
                    problem(s, format!("watching bucket {bucket}: {e}"));
                }
            }
        }
    }
    running
}

/// One source's delivery context.
#[derive(Clone)]
struct Cx {
    id: String,
    target: Target,
    invoke: Invoke,
    report: Report,
}

impl Cx {
    /// Invokes the function with `event` (`records` in it) and reports it.
    async fn deliver(&self, event: Value, records: usize) -> Answer {
        let start = Instant::now();
        let answer = (self.invoke)(self.target.clone(), event).await;
        (self.report)(SourceEvent {
            source: self.id.clone(),
            function: self.target.function.clone(),
            records,
            outcome: match &answer {
                Answer::Response(_) => Ok(()),
                Answer::Failed(e) => Err(e.clone()),
            },
            duration: start.elapsed(),
        });
        answer
    }

    /// An asynchronous invocation (S3, EventBridge): retried twice on
    /// failure, as Lambda retries asynchronous invocations (it waits a
    /// minute, then two; serve does not).
    /// <https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html>
    async fn deliver_async(&self, event: Value, records: usize) {
        for _ in 0..3 {
            if let Answer::Response(_) = self.deliver(event.clone(), records).await {
                return;
            }
        }
    }

    fn problem(&self, e: String) {
        (self.report)(SourceEvent {
            source: self.id.clone(),
            function: self.target.function.clone(),
            records: 0,
            outcome: Err(e),
            duration: Duration::ZERO,
        })
    }
}

fn region_of(arn: &str) -> String {
    arn.split(':').nth(3).unwrap_or_default().to_string()
}

fn err(e: impl std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

// ---------------------------------------------------------------- schedules

async fn run_schedule(
    cx: Cx,
    expression: schedule::Expression,
    payload: Payload,
    fire: Arc<Notify>,
    on: bool,
) {
    let mut base = SystemTime::now();
    loop {
        let next = if on { expression.next(base) } else { None };
        let wait = async {
            match next {
                Some(t) => {
                    tokio::time::sleep(t.duration_since(SystemTime::now()).unwrap_or_default())
                        .await
                }
                None => std::future::pending().await,
            }
        };
        let scheduled = tokio::select! {
            _ = wait => true,
            _ = fire.notified() => false,
        };
        if scheduled {
            base = next.unwrap_or_else(SystemTime::now);
        }
        let event = match &payload {
            Payload::Input(v) => v.clone(),
            Payload::Scheduled { rule_arn } => scheduled_event(rule_arn, SystemTime::now()),
        };
        cx.deliver(event, 1).await;
    }
}

/// EventBridge's scheduled event for rule `rule_arn` at `time`.
/// <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html>
fn scheduled_event(rule_arn: &str, time: SystemTime) -> Value {
    let mut parts = rule_arn.split(':');
    let region = parts.nth(3).unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": crate::aws::cloudformation::rfc3339(time),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    })
}

// ------------------------------------------------------------------- queues

/// Turns off the emulator's own event source mappings on queue `arn`
/// (moto would take each message as it arrives and fail to invoke the
/// function); their UUIDs, to turn back on.
async fn disable_mappings(sdk: &aws_config::SdkConfig, arn: &str) -> Result<Vec<String>, String> {
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let list = lambda
        .list_event_source_mappings()
        .event_source_arn(arn)
        .send()
        .await
        .map_err(err)?;
    let mut out = Vec::new();
    for m in list.event_source_mappings() {
        let (Some(uuid), Some(state)) = (m.uuid(), m.state()) else {
            continue;
        };
        if state.eq_ignore_ascii_case("disabled") {
            continue;
        }
        lambda
            .update_event_source_mapping()
            .uuid(uuid)
            .enabled(false)
            .send()
            .await
            .map_err(err)?;
        out.push(uuid.to_string());
    }
    Ok(out)
}

struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    region: String,
    batch_size: usize,
    window: Duration,
    report_failures: bool,
    filters: Vec<Value>,
}

async fn run_queue(cx: Cx, q: Queue, poll: Duration) {
    loop {
        let batch = match q.batch(poll).await {
            Ok(b) => b,
            Err(e) => {
                cx.problem(format!("receiving from {}: {e}", q.url));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        q.handle(&cx, batch).await;
    }
}

impl Queue {
    /// Up to `batch_size` messages: what one receive brings, or, with a
    /// batching window, what arrives until the window closes or the batch
    /// is full.
    async fn batch(&self, poll: Duration) -> Result<Vec<aws_sdk_sqs::types::Message>, String> {
        let mut got = Vec::new();
        let opened = Instant::now();
        loop {
            let want = (self.batch_size - got.len()).min(10) as i32;
            let wait = if got.is_empty() {
                poll.as_secs().clamp(1, 20) as i32
            } else {
                1
            };
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(want)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(err)?;
            let n = out.messages().len();
            got.extend(out.messages.unwrap_or_default());
            let full = got.len() >= self.batch_size;
            let window_open = opened.elapsed() < self.window;
            if got.is_empty()
                || full
                || (n > 0 && self.window.is_zero())
                || (!window_open && !got.is_empty())
            {
                return Ok(got);
            }
        }
    }

    /// The SQS event record of `m`, as Lambda builds it.
    /// <https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html>
    fn record(&self, m: &aws_sdk_sqs::types::Message) -> Value {
        let attributes: serde_json::Map<String, Value> = m
            .attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let message_attributes: serde_json::Map<String, Value> = m
            .message_attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| {
                        let mut o = json!({
                            "stringListValues": [],
                            "binaryListValues": [],
                            "dataType": v.data_type(),
                        });
                        if let Some(s) = v.string_value() {
                            o["stringValue"] = json!(s);
                        }
                        if let Some(b) = v.binary_value() {
                            use base64::Engine;
                            o["binaryValue"] =
                                json!(base64::engine::general_purpose::STANDARD.encode(b.as_ref()));
                        }
                        (k.clone(), o)
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "messageId": m.message_id().unwrap_or_default(),
            "receiptHandle": m.receipt_handle().unwrap_or_default(),
            "body": m.body().unwrap_or_default(),
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": m.md5_of_body().unwrap_or_default(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": self.region,
        })
    }

    async fn handle(&self, cx: &Cx, batch: Vec<aws_sdk_sqs::types::Message>) {
        let mut records = Vec::new();
        let mut filtered_out = Vec::new();
        for m in &batch {
            let record = self.record(m);
            // Filters see the body as JSON when it is JSON.
            let mut seen = record.clone();
            if let Some(body) = m.body().and_then(|b| serde_json::from_str::<Value>(b).ok()) {
                seen["body"] = body;
            }
            if pattern::any(&self.filters, &seen) {
                records.push(record);
            } else {
                filtered_out.push(m.receipt_handle().unwrap_or_default().to_string());
            }
        }
        // Lambda deletes the messages no filter matches.
        self.delete(cx, filtered_out).await;
        if records.is_empty() {
            return;
        }
        let ids: Vec<(String, String)> = records
            .iter()
            .map(|r| {
                (
                    r["messageId"].as_str().unwrap_or_default().to_string(),
                    r["receiptHandle"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let n = records.len();
        let answer = cx.deliver(json!({ "Records": records }), n).await;
        let failed = match answer {
            Answer::Failed(_) => return, // the whole batch returns to the queue
            Answer::Response(v) if self.report_failures => match item_failures(&v, &ids) {
                Some(f) => f,
                None => {
                    cx.problem(
                        "the batchItemFailures answer is invalid: the whole batch is retried"
                            .to_string(),
                    );
                    return;
                }
            },
            Answer::Response(_) => BTreeSet::new(),
        };
        if !failed.is_empty() {
            cx.problem(format!(
                "{} of {n} messages failed (batchItemFailures): they return to the queue",
                failed.len()
            ));
        }
        let done = ids
            .into_iter()
            .filter(|(id, _)| !failed.contains(id))
            .map(|(_, h)| h)
            .collect();
        self.delete(cx, done).await;
    }

    async fn delete(&self, cx: &Cx, handles: Vec<String>) {
        for chunk in handles.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .build()
                        .ok()
                })
                .collect();
            if let Err(e) = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                cx.problem(format!("deleting from {}: {}", self.url, err(e)));
            }
        }
    }
}

/// The message ids a `ReportBatchItemFailures` answer names as failed;
/// `None` when the answer makes the whole batch a failure.
/// <https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>
fn item_failures(answer: &Value, batch: &[(String, String)]) -> Option<BTreeSet<String>> {
    // Success: null, {}, an empty or null list.
    let list = match answer.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(BTreeSet::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return None,
    };
    let mut failed = BTreeSet::new();
    for item in list {
        let id = item.get("itemIdentifier").and_then(Value::as_str)?;
        if id.is_empty() || !batch.iter().any(|(m, _)| m == id) {
            return None;
        }
        failed.insert(id.to_string());
    }
    Some(failed)
}

// ------------------------------------------------------------------ streams

struct Stream {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    trim_horizon: bool,
    batch_size: usize,
    filters: Vec<Value>,
    retries: Option<u32>,
}

async fn run_stream(cx: Cx, st: Stream, poll: Duration) {
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    // Each shard's next iterator; shards found later start at their start.
    let mut iterators: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut first = true;
    loop {
        match st.client.describe_stream().stream_arn(&st.arn).send().await {
            Ok(d) => {
                for shard in d
                    .stream_description()
                    .map(|d| d.shards())
                    .unwrap_or_default()
                {
                    let Some(id) = shard.shard_id() else { continue };
                    if iterators.contains_key(id) {
                        continue;
                    }
                    let kind = if first && !st.trim_horizon {
                        ShardIteratorType::Latest
                    } else {
                        ShardIteratorType::TrimHorizon
                    };
                    match st
                        .client
                        .get_shard_iterator()
                        .stream_arn(&st.arn)
                        .shard_id(id)
                        .shard_iterator_type(kind)
                        .send()
                        .await
                    {
                        Ok(it) => {
                            iterators.insert(id.to_string(), it.shard_iterator);
                        }
                        Err(e) => cx.problem(format!("reading stream {}: {}", st.arn, err(e))),
                    }
                }
                first = false;
            }
            Err(e) => cx.problem(format!("describing stream {}: {}", st.arn, err(e))),
        }
        let mut any = false;
        for it in iterators.values_mut() {
            let Some(current) = it.clone() else { continue };
            match st
                .client
                .get_records()
                .shard_iterator(&current)
                .limit(st.batch_size.min(1000) as i32)
                .send()
                .await
            {
                Ok(out) => {
                    let records: Vec<Value> = out
                        .records()
                        .iter()
                        .map(|r| stream_record(r, &st.arn))
                        .collect();
                    *it = out.next_shard_iterator;
                    if records.is_empty() {
                        continue;
                    }
                    any = true;
                    let records: Vec<Value> = records
                        .into_iter()
                        .filter(|r| pattern::any(&st.filters, r))
                        .collect();
                    if records.is_empty() {
                        continue;
                    }
                    st.deliver(&cx, records).await;
                }
                Err(e) => cx.problem(format!("reading stream {}: {}", st.arn, err(e))),
            }
        }
        if !any {
            tokio::time::sleep(poll).await;
        }
    }
}

impl Stream {
    /// Invokes until the batch succeeds or its retries are spent (then it
    /// is skipped, as Lambda does once MaximumRetryAttempts is reached).
    async fn deliver(&self, cx: &Cx, records: Vec<Value>) {
        let n = records.len();
        let event = json!({ "Records": records });
        let mut attempt = 0u32;
        loop {
            if let Answer::Response(_) = cx.deliver(event.clone(), n).await {
                return;
            }
            if self.retries.is_some_and(|r| attempt >= r) {
                cx.problem(format!(
                    "the batch of {n} records failed {} times: skipped",
                    attempt + 1
                ));
                return;
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn attribute(v: &aws_sdk_dynamodbstreams::types::AttributeValue) -> Value {
    use aws_sdk_dynamodbstreams::types::AttributeValue as A;
    use base64::Engine;
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match v {
        A::S(s) => json!({"S": s}),
        A::N(n) => json!({"N": n}),
        A::B(b) => json!({"B": b64(b)}),
        A::Ss(v) => json!({"SS": v}),
        A::Ns(v) => json!({"NS": v}),
        A::Bs(v) => json!({"BS": v.iter().map(b64).collect::<Vec<_>>()}),
        A::M(m) => json!({"M": image(m)}),
        A::L(l) => json!({"L": l.iter().map(attribute).collect::<Vec<_>>()}),
        A::Null(b) => json!({"NULL": b}),
        A::Bool(b) => json!({"BOOL": b}),
        _ => Value::Null,
    }
}

fn image(
    m: &std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Value {
    let sorted: BTreeMap<_, _> = m.iter().collect();
    Value::Object(
        sorted
            .into_iter()
            .map(|(k, v)| (k.clone(), attribute(v)))
            .collect(),
    )
}

/// A stream record as Lambda hands it to a function.
/// <https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html>
fn stream_record(r: &aws_sdk_dynamodbstreams::types::Record, arn: &str) -> Value {
    let mut dynamodb = serde_json::Map::new();
    if let Some(d) = r.dynamodb() {
        if let Some(t) = d.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
        for (name, m) in [
            ("Keys", d.keys()),
            ("NewImage", d.new_image()),
            ("OldImage", d.old_image()),
        ] {
            if let Some(m) = m {
                dynamodb.insert(name.into(), image(m));
            }
        }
        if let Some(s) = d.sequence_number() {
            dynamodb.insert("SequenceNumber".into(), json!(s));
        }
        if let Some(s) = d.size_bytes() {
            dynamodb.insert("SizeBytes".into(), json!(s));
        }
        if let Some(v) = d.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(v.as_str()));
        }
    }
    json!({
        "eventID": r.event_id().unwrap_or_default(),
        "eventName": r.event_name().map(|n| n.as_str()).unwrap_or_default(),
        "eventVersion": r.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region().unwrap_or_default(),
        "dynamodb": dynamodb,
        "eventSourceARN": arn,
    })
}

// ----------------------------------------------------------------------- S3

/// An SQS queue name made of `prefix` and `name` (at most 80 characters
/// of letters, digits, `-` and `_`).
fn queue_name(prefix: &str, name: &str) -> String {
    let clean: String = format!("{prefix}{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean.chars().take(80).collect()
}

async fn own_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String), String> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(err)?
        .queue_url
        .unwrap_or_default();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(err)?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    Ok((url, arn))
}

/// Makes the emulator send `bucket`'s object events to a queue of serve's
/// (and to EventBridge, when `event_bridge`): measured with moto 5.2.1,
/// this gives S3's own records (ObjectCreated:Put, :CompleteMultipartUpload,
/// :Copy, ObjectRemoved:Delete), which polling ListObjectsV2 could only
/// guess from ETags, and costs nothing while the bucket is idle.
async fn watch_bucket(
    sdk: &aws_config::SdkConfig,
    bucket: &str,
    event_bridge: bool,
) -> Result<(String, Vec<Restore>), String> {
    use aws_sdk_s3::types::{
        Event, EventBridgeConfiguration, NotificationConfiguration, QueueConfiguration,
    };
    let s3 = aws_sdk_s3::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    // moto answers a bucket without notifications with an empty
    // `<GetBucketNotificationResponse/>` the SDK cannot parse: that, like
    // any unreadable configuration, counts as none.
    let before = s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|_| {
            aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput::builder().build()
        });
    let (url, arn) = own_queue(&sqs, &queue_name("stackctl-serve-s3-", bucket)).await?;
    let mut config = NotificationConfiguration::builder().queue_configurations(
        QueueConfiguration::builder()
            .id("stackctl-serve")
            .queue_arn(arn)
            .events(Event::from("s3:ObjectCreated:*"))
            .events(Event::from("s3:ObjectRemoved:*"))
            .build()
            .map_err(err)?,
    );
    if event_bridge || before.event_bridge_configuration().is_some() {
        config = config.event_bridge_configuration(EventBridgeConfiguration::builder().build());
    }
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(config.build())
        .send()
        .await
        .map_err(err)?;
    let previous = NotificationConfiguration::builder()
        .set_topic_configurations(before.topic_configurations.clone())
        .set_queue_configurations(before.queue_configurations.clone())
        .set_lambda_function_configurations(before.lambda_function_configurations.clone())
        .set_event_bridge_configuration(before.event_bridge_configuration.clone())
        .build();
    Ok((
        url.clone(),
        vec![
            Restore::Bucket {
                bucket: bucket.to_string(),
                config: Box::new(previous),
            },
            Restore::Queue(url),
        ],
    ))
}

struct Notification {
    cx: Cx,
    events: Vec<String>,
    prefix: String,
    suffix: String,
}

impl Notification {
    fn wants(&self, event_name: &str, key: &str) -> bool {
        let named = self.events.iter().any(|e| {
            let e = e.strip_prefix("s3:").unwrap_or(e);
            match e.strip_suffix('*') {
                Some(family) => event_name.starts_with(family),
                None => e == event_name,
            }
        });
        named && key.starts_with(&self.prefix) && key.ends_with(&self.suffix)
    }
}

async fn run_bucket(sqs: aws_sdk_sqs::Client, url: String, subs: Vec<Notification>) {
    let subs = Arc::new(subs);
    loop {
        let out = match sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                for s in subs.iter() {
                    s.cx.problem(format!("receiving the bucket's events: {}", err(&e)));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for m in out.messages() {
            let body: Value = m
                .body()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or(Value::Null);
            for record in body
                .get("Records")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                if moto_duplicate(&record) {
                    continue;
                }
                let name = record["eventName"].as_str().unwrap_or_default().to_string();
                let key = form_decode(
                    record
                        .pointer("/s3/object/key")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                );
                for s in subs.iter().filter(|s| s.wants(&name, &key)) {
                    let mut r = s3_record(&record);
                    r["s3"]["object"]["key"] = json!(s3_key(&key));
                    r["s3"]["configurationId"] = json!(s.cx.id);
                    let cx = s.cx.clone();
                    tokio::spawn(
                        async move { cx.deliver_async(json!({ "Records": [r] }), 1).await },
                    );
                }
            }
            if let Some(h) = m.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(h)
                    .send()
                    .await;
            }
        }
    }
}

/// A record in the shape S3 sends (its event message structure, version
/// 2.1), from the emulator's: moto 5.2.1 leaves out `userIdentity`,
/// `requestParameters`, `responseElements` and the bucket's
/// `ownerIdentity`, which functions' event types require, and writes its
/// time without a zone.
fn s3_record(moto: &Value) -> Value {
    let text = |p: &str, default: &str| {
        moto.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let bucket = text("/s3/bucket/name", "");
    let mut object = json!({
        "key": text("/s3/object/key", ""),
        "size": moto.pointer("/s3/object/size").cloned().unwrap_or(json!(0)),
        "eTag": text("/s3/object/eTag", ""),
        "sequencer": text("/s3/object/sequencer", "0"),
    });
    if let Some(v) = moto
        .pointer("/s3/object/versionId")
        .filter(|v| v.is_string())
    {
        object["versionId"] = v.clone();
    }
    json!({
        "eventVersion": text("/eventVersion", "2.1"),
        "eventSource": "aws:s3",
        "awsRegion": text("/awsRegion", "us-east-1"),
        "eventTime": s3_time(&text("/eventTime", "1970-01-01T00:00:00.000Z")),
        "eventName": text("/eventName", ""),
        "userIdentity": {"principalId": text("/userIdentity/principalId", "AWS:STACKCTLSERVE")},
        "requestParameters": {"sourceIPAddress": text("/requestParameters/sourceIPAddress", "127.0.0.1")},
        "responseElements": {
            "x-amz-request-id": text("/responseElements/x-amz-request-id", "STACKCTLSERVE"),
            "x-amz-id-2": text("/responseElements/x-amz-id-2", "stackctl/serve"),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": text("/s3/configurationId", ""),
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": text("/s3/bucket/ownerIdentity/principalId", "STACKCTLSERVE")},
                "arn": format!("arn:aws:s3:::{bucket}"),
            },
            "object": object,
        },
    })
}

/// An event time as S3 writes it (`2026-12-01T21:55:12.123Z`): moto 5.2.1
/// writes local microseconds without a zone (`2026-12-01T21:55:12.123456`),
/// which functions' event types refuse. A time with a zone is kept.
fn s3_time(t: &str) -> String {
    let has_zone = t.ends_with('Z') || t.get(19..).is_some_and(|r| r.contains(['+', '-']));
    if has_zone {
        return t.to_string();
    }
    let (seconds, fraction) = t.split_once('.').unwrap_or((t, ""));
    let millis: String = fraction.chars().chain("000".chars()).take(3).collect();
    format!("{seconds}.{millis}Z")
}

/// moto 5.2.1 reports a completed multipart upload twice: as
/// `ObjectCreated:Put` and as `ObjectCreated:CompleteMultipartUpload`
/// (measured). S3 sends only the latter; the former is recognised by its
/// multipart ETag (`MD5-PARTS`), which no single PUT has.
fn moto_duplicate(record: &Value) -> bool {
    record["eventName"] == "ObjectCreated:Put"
        && record
            .pointer("/s3/object/eTag")
            .and_then(Value::as_str)
            .is_some_and(|e| e.contains('-'))
}

/// `+` and `%XX` decoded (the emulator's event keys are form-encoded).
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An object key as S3 puts it in event records: URL-encoded with a space
/// as `+` ("red flower.jpg" becomes "red+flower.jpg"), `/` kept.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>
fn s3_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

// --------------------------------------------------------------- EventBridge

/// Swaps target `id` of `rule` for a queue of serve's, with the same
/// input settings (moto applies them); the queue's URL, and what puts the
/// function target back.
async fn tap(
    sdk: &aws_config::SdkConfig,
    rule: &str,
    bus: &str,
    id: &str,
) -> Result<(String, Vec<Restore>), String> {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let targets = events
        .list_targets_by_rule()
        .rule(rule)
        .event_bus_name(bus)
        .send()
        .await
        .map_err(err)?;
    let Some(original) = targets.targets().iter().find(|t| t.id() == id).cloned() else {
        return Err(format!("the rule has no target {id} on the emulator"));
    };
    let (url, arn) = own_queue(
        &sqs,
        &queue_name("stackctl-serve-tap-", &format!("{rule}-{id}")),
    )
    .await?;
    let tap = aws_sdk_eventbridge::types::Target::builder()
        .id(id)
        .arn(arn)
        .set_input(original.input.clone())
        .set_input_path(original.input_path.clone())
        .set_input_transformer(original.input_transformer.clone())
        .build()
        .map_err(err)?;
    events
        .remove_targets()
        .rule(rule)
        .event_bus_name(bus)
        .ids(id)
        .send()
        .await
        .map_err(err)?;
    events
        .put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .targets(tap)
        .send()
        .await
        .map_err(err)?;
    Ok((
        url.clone(),
        vec![
            Restore::RuleTarget {
                rule: rule.to_string(),
                bus: bus.to_string(),
                target: Box::new(original),
            },
            Restore::Queue(url),
        ],
    ))
}

async fn run_tap(cx: Cx, sqs: aws_sdk_sqs::Client, url: String) {
    loop {
        let out = match sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                cx.problem(format!("receiving the rule's events: {}", err(e)));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            let event =
                serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
            let cx = cx.clone();
            tokio::spawn(async move { cx.deliver_async(event, 1).await });
            if let Some(h) = m.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(h)
                    .send()
                    .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_times_are_written_as_s3_writes_them() {
        assert_eq!(
            super::s3_time("2026-12-01T21:55:12.123456"),
            "2026-12-01T21:55:12.123Z"
        );
        assert_eq!(
            super::s3_time("2026-12-01T21:55:12"),
            "2026-12-01T21:55:12.000Z"
        );
        assert_eq!(
            super::s3_time("2026-12-01T21:55:12.123Z"),
            "2026-12-01T21:55:12.123Z"
        );
        assert_eq!(
            super::s3_time("2026-12-01T21:55:12+00:00"),
            "2026-12-01T21:55:12+00:00"
        );
    }

    use super::*;

    #[test]
    fn keys_and_failures() {
        assert_eq!(
            form_decode("uploads%2Fa+b%281%29.txt"),
            "uploads/a b(1).txt"
        );
        assert_eq!(s3_key("uploads/a b(1).txt"), "uploads/a+b%281%29.txt");
        assert_eq!(form_decode("100%"), "100%");
        let record =
            |name: &str, etag: &str| json!({"eventName": name, "s3": {"object": {"eTag": etag}}});
        assert!(moto_duplicate(&record(
            "ObjectCreated:Put",
            "cb8d7289925309a05b2db09b7709c264-3"
        )));
        assert!(!moto_duplicate(&record(
            "ObjectCreated:CompleteMultipartUpload",
            "cb8d7289925309a05b2db09b7709c264-3"
        )));
        assert!(!moto_duplicate(&record(
            "ObjectCreated:Put",
            "49f68a5c8493ec2c0bf489821c21fc3b"
        )));
        let batch = vec![
            ("m1".to_string(), "h1".to_string()),
            ("m2".to_string(), "h2".to_string()),
        ];
        assert_eq!(item_failures(&Value::Null, &batch), Some(BTreeSet::new()));
        assert_eq!(
            item_failures(&json!({"batchItemFailures": []}), &batch),
            Some(BTreeSet::new())
        );
        assert_eq!(
            item_failures(
                &json!({"batchItemFailures": [{"itemIdentifier": "m2"}]}),
                &batch
            ),
            Some(BTreeSet::from(["m2".to_string()]))
        );
        assert_eq!(
            item_failures(
                &json!({"batchItemFailures": [{"itemIdentifier": "zz"}]}),
                &batch
            ),
            None
        );
        assert_eq!(
            item_failures(
                &json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
                &batch
            ),
            None
        );
        assert_eq!(
            item_failures(&json!({"batchItemFailures": "no"}), &batch),
            None
        );
    }

    #[test]
    fn scheduled_event_shape() {
        let e = scheduled_event(
            "arn:aws:events:us-east-1:123456789012:rule/r",
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(e["detail-type"], "Scheduled Event");
        assert_eq!(e["source"], "aws.events");
        assert_eq!(e["account"], "123456789012");
        assert_eq!(e["region"], "us-east-1");
        assert_eq!(e["time"], "1970-01-01T00:00:00Z");
        assert_eq!(
            e["resources"][0],
            "arn:aws:events:us-east-1:123456789012:rule/r"
        );
    }

    /// A table's stream read through the emulator's Streams API (a table
    /// made here, with no event source mapping of the emulator on it).
    #[test]
    fn stream_consumer_gets_inserts_and_modifies() {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
            ScalarAttributeType, StreamSpecification, StreamViewType,
        };
        let moto = lambda_shared::testing::Moto::shared();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let sdk = moto.sdk_config().await;
            let ddb = aws_sdk_dynamodb::Client::new(&sdk);
            let table = ddb
                .create_table()
                .table_name("serve-stream-test")
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("id")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("id")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .billing_mode(BillingMode::PayPerRequest)
                .stream_specification(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(StreamViewType::NewAndOldImages)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            let arn = table
                .table_description()
                .unwrap()
                .latest_stream_arn()
                .unwrap()
                .to_string();
            let source = Source {
                id: "t/Consumer".into(),
                kind: super::super::Kind::Stream,
                target: Target {
                    stack: "t".into(),
                    function: "changes".into(),
                },
                describe: String::new(),
                unemulated: None,
                notes: Vec::new(),
                spec: Spec::Stream {
                    stream_arn: arn.clone(),
                    trim_horizon: false,
                    batch_size: 10,
                    // Only changes to items whose `n` is above 1.
                    filters: vec![
                        json!({"dynamodb": {"NewImage": {"n": {"N": [{"anything-but": ["1"]}]}}}}),
                    ],
                    retries: Some(0),
                },
            };
            let calls: Arc<std::sync::Mutex<Vec<Value>>> = Arc::default();
            let recorded = calls.clone();
            let invoke: Invoke = Arc::new(move |_t, e| {
                recorded.lock().unwrap().push(e);
                Box::pin(async { Answer::Response(Value::Null) })
            });
            let running = run(
                &[source],
                &sdk,
                invoke,
                Arc::new(|_| {}),
                Options::default(),
            )
            .await;
            // LATEST: what is written once the consumer has its iterator.
            tokio::time::sleep(Duration::from_millis(700)).await;
            let put = |n: &str| {
                ddb.put_item()
                    .table_name("serve-stream-test")
                    .item("id", AttributeValue::S("a".into()))
                    .item("n", AttributeValue::N(n.into()))
                    .send()
            };
            put("2").await.unwrap();
            put("1").await.unwrap();
            put("3").await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            let records: Vec<Value> = loop {
                let got: Vec<Value> = calls
                    .lock()
                    .unwrap()
                    .iter()
                    .flat_map(|e| e["Records"].as_array().cloned().unwrap_or_default())
                    .collect();
                if got.len() >= 2 {
                    break got;
                }
                assert!(Instant::now() < deadline, "only {got:#?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            running.stop().await;
            let names: Vec<&str> = records
                .iter()
                .map(|r| r["eventName"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["INSERT", "MODIFY"], "{records:#?}");
            let modify = &records[1];
            assert_eq!(modify["eventSource"], "aws:dynamodb");
            assert_eq!(modify["eventSourceARN"], arn.as_str());
            assert_eq!(modify["dynamodb"]["Keys"], json!({"id": {"S": "a"}}));
            assert_eq!(modify["dynamodb"]["NewImage"]["n"], json!({"N": "3"}));
            assert_eq!(modify["dynamodb"]["OldImage"]["n"], json!({"N": "1"}));
            assert_eq!(modify["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
        });
    }
}
