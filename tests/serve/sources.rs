//! The event sources `stackctl serve` runs, against a moto server started
//! by the test, after `stackctl deploy --env local` of
//! `tests/fixtures/serve-project`. The functions are played by an
//! in-memory [`Invoke`] that records each event and answers as scripted
//! (it stands for the functions, not for AWS): the queue consumer gets a
//! batch of the declared size, a partially failed batch leaves exactly the
//! failed message, which lands in the dead-letter queue after its
//! receives; the schedule fires; an object PUT reaches the notification's
//! function under its prefix and not elsewhere; a rule delivers only
//! matching events to its function; the plan names what cannot run.

use crate::common::{copy_fixture, json};
use lambda_shared::testing::Moto;
use serde_json::{json as j, Value};
use stackctl::serve::sources::{
    self, Answer, Invoke, Kind, Options, SourceEvent, StackInput, Target,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Calls = Arc<Mutex<Vec<(Target, Value)>>>;

/// Waits (up to 20 s) until the events recorded for `function` satisfy
/// `done`; returns them.
async fn wait_for(calls: &Calls, function: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got: Vec<Value> = calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.function == function)
            .map(|(_, e)| e.clone())
            .collect();
        if done(&got) {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{function} got only {got:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn bodies(event: &Value) -> Vec<String> {
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sources_run_against_the_emulator() {
    let moto = Moto::start();
    let dir = copy_fixture("serve-project");
    let dir = dir.path();
    let report = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(report["stacks"][0]["outcome"], "created", "{report}");
    let output = |k: &str| {
        report["stacks"][0]["outputs"][k]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (jobs, bucket, bus) = (output("JobsUrl"), output("BucketName"), output("OrdersBus"));

    let scope = stackctl::scope::Scope::load(dir, "local", &[]).unwrap();
    let rendered = scope.rendered("sources");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sdk = moto.sdk_config().await;
        let cfn = stackctl::aws::cloudformation::SdkCloudFormation::new(&sdk);
        let (deployed, account) = sources::deployed(&cfn, rendered)
            .await
            .unwrap()
            .expect("deployed");
        assert_eq!(account, "123456789012");
        let plan = sources::plan(
            &[StackInput {
                rendered,
                deployed: &deployed,
            }],
            "us-east-1",
            &account,
            &sdk,
        )
        .await;
        let listing: Vec<(String, Kind, String, bool)> = plan
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.kind,
                    s.target.function.clone(),
                    s.emulated(),
                )
            })
            .collect();
        assert_eq!(
            listing,
            vec![
                (
                    "sources/BigOrders/OnOrder".into(),
                    Kind::EventRule,
                    "on_order".into(),
                    true
                ),
                (
                    "sources/ChangesConsumes".into(),
                    Kind::Stream,
                    "changes".into(),
                    false
                ),
                ("sources/Files/0".into(), Kind::S3, "on_upload".into(), true),
                (
                    "sources/Tick/Ticker".into(),
                    Kind::Schedule,
                    "ticker".into(),
                    true
                ),
                (
                    "sources/WorkerConsumes".into(),
                    Kind::Queue,
                    "worker".into(),
                    true
                ),
            ],
            "{plan:#?}"
        );
        let by_id = |id: &str| plan.iter().find(|s| s.id == id).unwrap();
        // moto's own mapping eats the stream's records: said, not run.
        let stream = by_id("sources/ChangesConsumes");
        assert!(
            stream
                .unemulated
                .as_deref()
                .unwrap()
                .contains("event source mapping"),
            "{stream}"
        );
        // `local` turns the notification off; serve runs it and says so.
        let files = by_id("sources/Files/0");
        assert!(
            files
                .notes
                .iter()
                .any(|n| n.contains("NotifyUploads=false")),
            "{files}"
        );
        assert!(files.describe.contains("prefix uploads/"), "{files}");
        assert!(by_id("sources/Tick/Ticker")
            .describe
            .starts_with("rate(1 minute)"));
        assert!(by_id("sources/WorkerConsumes").describe.contains("batch 3"));

        // The functions: record, and fail every message whose body is "bad".
        let calls: Calls = Arc::default();
        let recorded = calls.clone();
        let invoke: Invoke = Arc::new(move |target: Target, event: Value| {
            recorded
                .lock()
                .unwrap()
                .push((target.clone(), event.clone()));
            let answer = if target.function == "worker" {
                let failed: Vec<Value> = event["Records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["body"] == "bad")
                    .map(|r| j!({"itemIdentifier": r["messageId"]}))
                    .collect();
                Answer::Response(j!({ "batchItemFailures": failed }))
            } else {
                Answer::Response(Value::Null)
            };
            Box::pin(async move { answer })
        });
        let log: Arc<Mutex<Vec<SourceEvent>>> = Arc::default();
        let logged = log.clone();
        let running = sources::run(
            &plan,
            &sdk,
            invoke,
            Arc::new(move |e| logged.lock().unwrap().push(e)),
            Options {
                schedules: false,
                poll: Duration::from_millis(200),
            },
        )
        .await;

        // Queue: a batch of three, then only the failed message again, then
        // the dead-letter queue. The fixture's visibility timeout (6 s,
        // six times the function's) is shortened on the emulator so the
        // failed message comes back within the test.
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        sqs.set_queue_attributes()
            .queue_url(&jobs)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "1",
            )
            .send()
            .await
            .unwrap();
        let mut batch = sqs.send_message_batch().queue_url(&jobs);
        for (i, body) in ["a", "bad", "c"].iter().enumerate() {
            batch = batch.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(*body)
                    .build()
                    .unwrap(),
            );
        }
        batch.send().await.unwrap();
        let got = wait_for(&calls, "worker", |g| g.len() >= 2).await;
        let mut first = bodies(&got[0]);
        first.sort();
        assert_eq!(first, ["a", "bad", "c"]);
        let record = &got[0]["Records"][0];
        assert_eq!(record["eventSource"], "aws:sqs");
        assert!(record["eventSourceARN"]
            .as_str()
            .unwrap()
            .ends_with(":srvfix-sources-jobs-local"));
        assert_eq!(record["awsRegion"], "us-east-1");
        assert_eq!(record["attributes"]["ApproximateReceiveCount"], "1");
        assert_eq!(record["md5OfBody"].as_str().unwrap().len(), 32);
        assert_eq!(bodies(&got[1]), ["bad"]);
        assert_eq!(
            got[1]["Records"][0]["attributes"]["ApproximateReceiveCount"],
            "2"
        );
        let dlq = sqs
            .get_queue_url()
            .queue_name("srvfix-sources-jobs-local-dlq")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let mut dead = Vec::new();
        for _ in 0..10 {
            let out = sqs
                .receive_message()
                .queue_url(&dlq)
                .wait_time_seconds(2)
                .send()
                .await
                .unwrap();
            dead.extend(out.messages().iter().map(|m| m.body().unwrap().to_string()));
            if !dead.is_empty() {
                break;
            }
        }
        assert_eq!(dead, ["bad"]);
        assert_eq!(wait_for(&calls, "worker", |_| true).await.len(), 2);

        // Schedule: fired through the hook (`--schedules off`).
        assert!(running.fire("sources/Tick/Ticker"));
        assert!(!running.fire("sources/Nothing"));
        let ticks = wait_for(&calls, "ticker", |g| !g.is_empty()).await;
        assert_eq!(ticks[0]["detail-type"], "Scheduled Event");
        assert_eq!(ticks[0]["source"], "aws.events");
        assert_eq!(
            ticks[0]["resources"][0],
            "arn:aws:events:us-east-1:123456789012:rule/srvfix-sources-tick-local"
        );

        // S3: an object outside the prefix first, then one under it.
        let s3 = aws_sdk_s3::Client::new(&sdk);
        for key in ["other/x.txt", "uploads/a b.txt"] {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hello"))
                .send()
                .await
                .unwrap();
        }
        let uploads = wait_for(&calls, "on_upload", |g| !g.is_empty()).await;
        assert_eq!(uploads.len(), 1, "{uploads:#?}");
        let r = &uploads[0]["Records"][0];
        assert_eq!(r["eventSource"], "aws:s3");
        assert_eq!(r["eventName"], "ObjectCreated:Put");
        assert_eq!(r["s3"]["bucket"]["name"], bucket.as_str());
        assert_eq!(r["s3"]["object"]["key"], "uploads/a+b.txt");
        assert_eq!(r["s3"]["object"]["size"], 5);
        // A multipart upload: one CompleteMultipartUpload event (moto also
        // reports it as a Put, which S3 does not, and serve drops).
        let key = "uploads/big.bin";
        let id = s3
            .create_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .upload_id
            .unwrap();
        let part = s3
            .upload_part()
            .bucket(&bucket)
            .key(key)
            .upload_id(&id)
            .part_number(1)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(
                b"0123456789",
            ))
            .send()
            .await
            .unwrap();
        let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
            .parts(
                aws_sdk_s3::types::CompletedPart::builder()
                    .part_number(1)
                    .e_tag(part.e_tag().unwrap())
                    .build(),
            )
            .build();
        // moto answers with a root element the SDK rejects
        // (CompleteMultipartUploadResponse); the upload completes anyway,
        // which the event below shows.
        let _ = s3
            .complete_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .upload_id(&id)
            .multipart_upload(parts)
            .send()
            .await;
        let uploads = wait_for(&calls, "on_upload", |g| g.len() >= 2).await;
        let r = &uploads[1]["Records"][0];
        assert_eq!(
            r["eventName"], "ObjectCreated:CompleteMultipartUpload",
            "{uploads:#?}"
        );
        assert_eq!(r["s3"]["object"]["key"], "uploads/big.bin");
        assert_eq!(r["s3"]["object"]["size"], 10);

        // EventBridge: a small order first, then a big one.
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let entry = |size: &str| {
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(&bus)
                .source("shop.orders")
                .detail_type("Order Placed")
                .detail(j!({"size": size}).to_string())
                .build()
        };
        let put = events
            .put_events()
            .entries(entry("small"))
            .entries(entry("big"))
            .send()
            .await
            .unwrap();
        assert_eq!(put.failed_entry_count(), 0, "{put:?}");
        let orders = wait_for(&calls, "on_order", |g| !g.is_empty()).await;
        assert_eq!(orders.len(), 1, "{orders:#?}");
        assert_eq!(orders[0]["detail"]["size"], "big");
        assert_eq!(orders[0]["source"], "shop.orders");

        // Every delivery was reported; the partial failure as a problem.
        let log = log.lock().unwrap().clone();
        assert!(
            log.iter()
                .any(|e| e.function == "worker" && e.records == 3 && e.outcome.is_ok()),
            "{log:#?}"
        );
        assert!(
            log.iter().any(|e| e.function == "worker"
                && e.outcome.as_ref().is_err_and(|m| m.contains("1 of 3"))),
            "{log:#?}"
        );

        // Stopping puts the rule's function target back.
        running.stop().await;
        let targets = events
            .list_targets_by_rule()
            .rule("srvfix-sources-big-orders-local")
            .event_bus_name(&bus)
            .send()
            .await
            .unwrap();
        let arns: Vec<&str> = targets.targets().iter().map(|t| t.arn()).collect();
        assert_eq!(arns.len(), 1);
        assert!(
            arns[0].ends_with(":function:srvfix-sources-on-order-local"),
            "{arns:?}"
        );
    });
}
