//! EventBridge kinds deployed to a moto server started by the test, from
//! `tests/fixtures/events-project`: a bus of the stack with a rule sending
//! to a queue and a function (retry policy, dead-letter queue), and a rule
//! on the default bus. What moto created is read back through the
//! EventBridge API (pattern, targets, retry policy, dead-letter queue), and
//! an event put on the bus reaches the target queue only when it matches.

mod common;

use common::{block, copy_fixture, json};
use lambda_shared::testing::Moto;
use serde_json::Value;

fn output(report: &Value, key: &str) -> String {
    report["stacks"][0]["outputs"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no output {key} in {report}"))
        .to_string()
}

/// The bodies of the messages in queue `url` (waiting up to 2 s for the
/// first), as JSON.
async fn messages(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    out.messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

#[test]
fn rules_deploy_as_declared_and_deliver_only_matching_events() {
    let moto = Moto::start();
    let dir = copy_fixture("events-project");
    let dir = dir.path();
    let report = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(report["stacks"][0]["outcome"], "created", "{report}");
    let bus = output(&report, "OrdersBusName");
    assert_eq!(bus, "evfix-events-orders-local");
    let rule_arn = output(&report, "BigOrdersArn");
    let inbox = output(&report, "InboxUrl");

    block(async {
        let config = moto.sdk_config().await;
        let events = aws_sdk_eventbridge::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let queue_arn = |name: &str| format!("arn:aws:sqs:us-east-1:123456789012:{name}");

        // The bus of the stack, and the rule on it as declared.
        let described = events.describe_event_bus().name(&bus).send().await.unwrap();
        assert_eq!(described.name(), Some(bus.as_str()));
        let rule = events
            .describe_rule()
            .name("evfix-events-big-orders-local")
            .event_bus_name(&bus)
            .send()
            .await
            .unwrap();
        assert_eq!(rule.arn(), Some(rule_arn.as_str()));
        assert_eq!(rule.state().map(|s| s.as_str()), Some("ENABLED"));
        let pattern: Value = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
        assert_eq!(
            pattern,
            serde_json::json!({
                "source": ["shop.orders"],
                "detail-type": ["Order Placed"],
                "detail": {"size": ["big"]},
            })
        );
        let targets = events
            .list_targets_by_rule()
            .rule("evfix-events-big-orders-local")
            .event_bus_name(&bus)
            .send()
            .await
            .unwrap();
        let targets = targets.targets();
        assert_eq!(targets.len(), 2, "{targets:?}");
        let inbox_target = targets.iter().find(|t| t.id() == "Inbox").unwrap();
        assert_eq!(inbox_target.arn(), queue_arn("evfix-events-inbox-local"));
        let retry = inbox_target.retry_policy().expect("a retry policy");
        assert_eq!(retry.maximum_retry_attempts(), Some(4));
        assert_eq!(retry.maximum_event_age_in_seconds(), Some(600));
        let failed_arn = queue_arn("evfix-events-failed-local");
        assert_eq!(
            inbox_target.dead_letter_config().and_then(|d| d.arn()),
            Some(failed_arn.as_str())
        );
        let handler = targets.iter().find(|t| t.id() == "Handler").unwrap();
        assert_eq!(
            handler.arn(),
            "arn:aws:lambda:us-east-1:123456789012:function:evfix-events-handler-local"
        );
        // The target's own attempts, the rule's age.
        let retry = handler.retry_policy().expect("a retry policy");
        assert_eq!(retry.maximum_retry_attempts(), Some(2));
        assert_eq!(retry.maximum_event_age_in_seconds(), Some(600));
        assert_eq!(
            handler.dead_letter_config().and_then(|d| d.arn()),
            Some(failed_arn.as_str())
        );

        // The rule on the default bus.
        let upload = events
            .describe_rule()
            .name("evfix-events-upload-landed-local")
            .send()
            .await
            .unwrap();
        let pattern: Value = serde_json::from_str(upload.event_pattern().unwrap()).unwrap();
        assert_eq!(
            pattern["detail"]["bucket"]["name"],
            serde_json::json!(["evfix-events-uploads-local"])
        );

        // A matching order reaches the queue; one of another size, or of
        // another source, does not.
        let entry = |source: &str, size: &str| {
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(&bus)
                .source(source)
                .detail_type("Order Placed")
                .detail(
                    serde_json::json!({"size": size, "order": format!("{source}-{size}")})
                        .to_string(),
                )
                .build()
        };
        let put = events
            .put_events()
            .entries(entry("shop.orders", "small"))
            .entries(entry("other.shop", "big"))
            .send()
            .await
            .unwrap();
        assert_eq!(put.failed_entry_count(), 0, "{put:?}");
        assert_eq!(messages(&sqs, &inbox).await, Vec::<Value>::new());
        // moto hands an event for a function target to Lambda, which runs
        // functions in Docker only: without it PutEvents answers HTTP 500
        // (measured, moto 5.2.1). The function target was read back above;
        // it goes before the matching event is put.
        events
            .remove_targets()
            .rule("evfix-events-big-orders-local")
            .event_bus_name(&bus)
            .ids("Handler")
            .send()
            .await
            .unwrap();
        let put = events
            .put_events()
            .entries(entry("shop.orders", "big"))
            .send()
            .await
            .unwrap();
        assert_eq!(put.failed_entry_count(), 0, "{put:?}");
        let got = messages(&sqs, &inbox).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0]["source"], "shop.orders");
        assert_eq!(got[0]["detail"]["order"], "shop.orders-big");
    });

    // Destroy removes the rules and the bus.
    json(dir, &moto, &["destroy", "--env", "local", "--yes"], 0);
    block(async {
        let config = moto.sdk_config().await;
        let events = aws_sdk_eventbridge::Client::new(&config);
        let buses = events.list_event_buses().send().await.unwrap();
        let names: Vec<&str> = buses
            .event_buses()
            .iter()
            .filter_map(|b| b.name())
            .collect();
        assert_eq!(names, ["default"], "{buses:?}");
        let rules = events.list_rules().send().await.unwrap();
        assert_eq!(rules.rules().len(), 0, "{rules:?}");
    });
}
