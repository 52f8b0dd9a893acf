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

/// `health --env local --only event_bus --only event_rule`, expecting exit
/// `code`: each check's id, status and reason.
fn health(dir: &std::path::Path, moto: &Moto, code: i32) -> Vec<(String, String, String)> {
    let report = json(
        dir,
        moto,
        &[
            "health",
            "--env",
            "local",
            "--only",
            "event_bus",
            "--only",
            "event_rule",
        ],
        code,
    );
    report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {report}"))
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The (id, status) of `checks`.
fn statuses(checks: &[(String, String, String)]) -> Vec<(&str, &str)> {
    checks
        .iter()
        .map(|(id, s, _)| (id.as_str(), s.as_str()))
        .collect()
}

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

        // Health reads the bus and both rules back as declared.
        let checks = health(dir, &moto, 0);
        assert_eq!(
            statuses(&checks),
            [
                ("events/event_bus/orders/exists", "pass"),
                ("events/event_rule/big_orders/dead_letter", "pass"),
                ("events/event_rule/big_orders/enabled", "pass"),
                ("events/event_rule/big_orders/targets", "pass"),
                ("events/event_rule/upload_landed/dead_letter", "pass"),
                ("events/event_rule/upload_landed/enabled", "pass"),
                ("events/event_rule/upload_landed/targets", "pass"),
            ],
            "{checks:#?}"
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

        // Health notices the target removed by hand, and a dead letter.
        let failed_url = sqs
            .get_queue_url()
            .queue_name("evfix-events-failed-local")
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        sqs.send_message()
            .queue_url(&failed_url)
            .message_body("{}")
            .send()
            .await
            .unwrap();
        let checks = health(dir, &moto, 1);
        let find = |id: &str| {
            checks
                .iter()
                .find(|c| c.0 == id)
                .unwrap_or_else(|| panic!("no {id} in {checks:#?}"))
                .clone()
        };
        let targets = find("events/event_rule/big_orders/targets");
        assert_eq!(targets.1, "fail", "{targets:?}");
        assert!(
            targets.2.contains("function:evfix-events-handler-local"),
            "{targets:?}"
        );
        let dlq = find("events/event_rule/big_orders/dead_letter");
        assert_eq!(
            (dlq.1.as_str(), dlq.2.as_str()),
            ("warn", "1 undelivered event in the dead-letter queue")
        );
        assert_eq!(find("events/event_rule/upload_landed/targets").1, "pass");
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
