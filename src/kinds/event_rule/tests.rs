//! Tests of `event_rule` (and the `put` grant of `event_bus`): what it
//! renders and what it refuses.

use super::super::testing::{render, statements};
use crate::diagnostics::Diagnostic;
use serde_json::{json, Value as Json};

/// A stack with the resources every test names, then `more` (YAML at two
/// spaces).
fn stack(more: &str) -> String {
    format!(
        "resources:
  data:
    type: key
  bus:
    type: event_bus
  uploads:
    type: bucket
    event_bridge: true
  inbox:
    type: queue
    encryption: {{key: data}}
  failed:
    type: queue
    retention_days: 14
  plain:
    type: queue
  alerts:
    type: topic
    encryption: {{key: data}}
  handler:
    type: function
    crate: handler
  items:
    type: table
    attributes: {{id: string}}
    key: [id]
{more}"
    )
}

const RULES: &str = "  on_upload:
    type: event_rule
    description: A video lands under uploads/
    pattern:
      source: [aws.s3]
      detail-type: [Object Created]
      detail:
        bucket: {name: [\"${uploads.name}\"]}
        object: {key: [{prefix: uploads/}]}
        stack: [\"${stack}\"]
    targets:
      - function: handler
      - {queue: inbox, retry: {attempts: 2}, dead_letter: plain}
      - topic: alerts
    retry: {attempts: 8, max_age: 3600}
    dead_letter: failed
  on_order:
    type: event_rule
    bus: bus
    enabled: {default: true, dev: false}
    pattern:
      source: [shop.orders]
    targets: [{queue: inbox}]
";

#[test]
fn a_rule_renders_its_pattern_targets_retry_and_dead_letter_queues() {
    let t = render(&stack(RULES));
    let r = &t["Resources"];
    let rule = &r["OnUpload"]["Properties"];
    assert_eq!(r["OnUpload"]["Type"], "AWS::Events::Rule");
    assert_eq!(rule["Name"], "kinds-app-on-upload-dev");
    assert_eq!(rule["State"], "ENABLED");
    // On the default bus: no bus named.
    assert!(rule.get("EventBusName").is_none(), "{rule}");
    assert_eq!(
        rule["EventPattern"],
        json!({
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": ["kinds-app-uploads-dev"]},
                "object": {"key": [{"prefix": "uploads/"}]},
                "stack": ["app"],
            },
        })
    );
    assert_eq!(
        rule["Targets"],
        json!([
            {
                "Id": "Handler",
                "Arn": {"Fn::GetAtt": ["Handler", "Arn"]},
                "RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600},
                "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["Failed", "Arn"]}},
            },
            {
                // The target's own retry attempts, the rule's age; its own
                // dead-letter queue.
                "Id": "Inbox",
                "Arn": {"Fn::GetAtt": ["Inbox", "Arn"]},
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
                "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["Plain", "Arn"]}},
            },
            {
                "Id": "Alerts",
                "Arn": {"Ref": "Alerts"},
                "RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600},
                "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["Failed", "Arn"]}},
            },
        ])
    );
    // On a bus of the stack: named by `GetAtt Name` (moto's `Ref` is junk),
    // disabled where declared.
    let order = &r["OnOrder"]["Properties"];
    assert_eq!(
        order["EventBusName"],
        json!({"Fn::GetAtt": ["Bus", "Name"]})
    );
    assert_eq!(order["State"], "DISABLED");
    assert!(order["Targets"][0].get("RetryPolicy").is_none());
    assert!(order["Targets"][0].get("DeadLetterConfig").is_none());
}

#[test]
fn only_the_rule_may_invoke_send_and_publish_to_its_targets() {
    let t = render(&stack(RULES));
    let r = &t["Resources"];
    let permission = &r["OnUploadInvokesHandler"]["Properties"];
    assert_eq!(permission["Principal"], "events.amazonaws.com");
    assert_eq!(
        permission["SourceArn"],
        json!({"Fn::GetAtt": ["OnUpload", "Arn"]})
    );
    let send = |queue: &str| -> Json {
        r[format!("{queue}Policy")]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "EventRulesOfTheStackSend")
            .unwrap_or_else(|| panic!("no statement for rules on {queue}"))
            .clone()
    };
    // A target of both rules; the dead-letter queues of one.
    let inbox = send("Inbox");
    assert_eq!(
        inbox["Principal"],
        json!({"Service": "events.amazonaws.com"})
    );
    assert_eq!(inbox["Resource"], json!({"Fn::GetAtt": ["Inbox", "Arn"]}));
    assert_eq!(
        inbox["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!([{"Fn::GetAtt": ["OnOrder", "Arn"]}, {"Fn::GetAtt": ["OnUpload", "Arn"]}])
    );
    for q in ["Failed", "Plain"] {
        assert_eq!(
            send(q)["Condition"]["ArnEquals"]["aws:SourceArn"],
            json!([{"Fn::GetAtt": ["OnUpload", "Arn"]}]),
            "{q}"
        );
    }
    let publish = &r["AlertsPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(publish["Action"], "sns:Publish");
    assert_eq!(
        publish["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!([{"Fn::GetAtt": ["OnUpload", "Arn"]}])
    );
    // The key of the encrypted queue and topic lets EventBridge use it.
    let policy: Json = serde_json::from_str(
        r["Data"]["Properties"]["KeyPolicy"]["Fn::Sub"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let services = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "ServicesOfThisAccountUse")
        .unwrap();
    assert_eq!(
        services["Principal"]["Service"],
        json!(["events.amazonaws.com"])
    );
    // Invoked asynchronously, the function has its own dead-letter queue
    // for what Lambda's retries give up on.
    assert!(r.get("HandlerDeadLetter").is_some());
    assert!(statements(&t, "Handler")
        .iter()
        .any(|s| s["Sid"] == "DeadLetterSend"));
}

#[test]
fn a_fifo_queue_target_gets_a_message_group() {
    let t = render(&stack(
        "  ordered:
    type: queue
    fifo: true
  rule:
    type: event_rule
    pattern: {source: [shop.orders]}
    targets: [{queue: ordered}]
",
    ));
    assert_eq!(
        t["Resources"]["Rule"]["Properties"]["Targets"][0]["SqsParameters"],
        json!({"MessageGroupId": "rule"})
    );
}

/// The problems validation reports for `stack`.
fn problems(stack: &str) -> Vec<Diagnostic> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("stacks")).unwrap();
    std::fs::write(
        root.join("stackctl.yaml"),
        "project: kinds\nstacks:\n  app: {}\nenvironments:\n  dev:\n    region: us-east-1\n",
    )
    .unwrap();
    std::fs::write(root.join("stacks/app.yaml"), stack).unwrap();
    let c = root.join("lambdas/handler");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("Cargo.toml"), "").unwrap();
    match crate::validate::project(root) {
        Ok(_) => panic!("no problem found in\n{stack}"),
        Err(d) => d.0,
    }
}

/// The one problem at `path`.
fn at<'a>(all: &'a [Diagnostic], path: &str) -> &'a Diagnostic {
    let found: Vec<&Diagnostic> = all.iter().filter(|d| d.path == path).collect();
    assert_eq!(found.len(), 1, "at {path}: {all:#?}");
    found[0]
}

#[test]
fn a_broken_pattern_is_reported_where_it_is_with_a_hint() {
    let d = problems(&stack(
        "  rule:
    type: event_rule
    pattern:
      sourse: [aws.s3]
      detail-type: []
      detail:
        bucket: {name: uploads}
        key: {}
    targets: [{function: handler}]
  other:
    type: event_rule
    pattern: {source: [shop.orders], detail: [big]}
    targets: [{function: handler}]
",
    ));
    let p = "resources.rule.pattern";
    let typo = at(&d, &format!("{p}.sourse"));
    assert_eq!(
        typo.message,
        "`sourse` is not a field of an EventBridge event"
    );
    assert_eq!(typo.hint.as_deref(), Some("did you mean `source`?"));
    assert_eq!(typo.line, Some(30));
    let empty = at(&d, &format!("{p}.detail-type"));
    assert!(empty.message.contains("never matches"), "{empty:?}");
    let single = at(&d, &format!("{p}.detail.bucket.name"));
    assert_eq!(single.hint.as_deref(), Some("write `name: [uploads]`"));
    assert!(at(&d, &format!("{p}.detail.key"))
        .message
        .contains("matches nothing"));
    assert!(at(&d, "resources.other.pattern.detail")
        .message
        .contains("matched field by field"));
    assert_eq!(d.len(), 5, "{d:#?}");

    let d = problems(&stack(
        "  rule:
    type: event_rule
    pattern: {}
    targets: [{function: handler}]
",
    ));
    assert_eq!(
        at(&d, "resources.rule.pattern").message,
        "an empty event pattern"
    );
    let d = problems(&stack(
        "  rule:
    type: event_rule
    pattern: [aws.s3]
    targets: [{function: handler}]
",
    ));
    assert!(at(&d, "resources.rule.pattern")
        .message
        .contains("a mapping"));
}

#[test]
fn targets_must_be_functions_queues_or_topics_at_most_five() {
    let d = problems(&stack(
        "  rule:
    type: event_rule
    pattern: {source: [shop.orders]}
    targets:
      - function: items
      - function: inbox
      - {queue: plain, topic: alerts}
      - queue: inbx
      - {queue: plain, dead_letter: alerts}
      - queue: failed
    retry: {attempts: 186, max_age: 30}
    dead_letter: handler
",
    ));
    let p = "resources.rule";
    assert_eq!(
        at(&d, &format!("{p}.targets[0].function")).message,
        "`items` is a table; a rule target is a function, queue or topic"
    );
    assert_eq!(
        at(&d, &format!("{p}.targets[1].function")).hint.as_deref(),
        Some("write `queue: inbox`")
    );
    assert_eq!(
        at(&d, &format!("{p}.targets[2]")).message,
        "the target names queue and topic"
    );
    assert_eq!(
        at(&d, &format!("{p}.targets[3].queue")).hint.as_deref(),
        Some("did you mean `inbox`?")
    );
    assert_eq!(
        at(&d, &format!("{p}.targets[4].dead_letter")).message,
        "`alerts` is a topic, expected a queue"
    );
    assert!(at(&d, &format!("{p}.targets"))
        .message
        .contains("at most 5"));
    assert!(at(&d, &format!("{p}.retry.attempts"))
        .message
        .contains("186"));
    assert!(at(&d, &format!("{p}.retry.max_age"))
        .message
        .contains("30 s"));
    assert_eq!(
        at(&d, &format!("{p}.dead_letter")).message,
        "`handler` is a function, expected a queue"
    );
}

#[test]
fn a_grant_source_is_for_buses_only_and_never_aws() {
    let d = problems(&stack(
        "  emitter:
    type: function
    crate: handler
    grants:
      bus: {access: [put], source: aws.s3}
      plain: {access: [send], source: shop.orders}
",
    ));
    let aws = at(&d, "resources.emitter.grants.bus.source");
    assert!(aws.message.contains("starting with `aws.`"), "{aws:?}");
    assert!(aws.line.is_some());
    let not_bus = at(&d, "resources.emitter.grants.plain.source");
    assert_eq!(
        not_bus.message,
        "only event bus grants take a source; `plain` is a queue"
    );
    assert_eq!(
        not_bus.hint.as_deref(),
        Some("remove `source:`, writing `plain: [LEVEL, ...]`")
    );
}

#[test]
fn the_default_bus_takes_no_name() {
    let d = problems(
        "resources:
  bus:
    type: event_bus
    default: true
    name: mine
",
    );
    assert!(at(&d, "resources.bus.name").message.contains("default bus"));
}

/// The EventBridge part of the clips stack (issue 13's contract): the
/// default bus, rules with retry and one dead-letter queue encrypted with
/// the stack's key, a function putting its own source.
#[test]
fn the_clips_rules_render_with_their_dead_letter_queue_and_key() {
    let t = render(
        "resources:
  data:
    type: key
  transcripts:
    type: bucket
    event_bridge: true
    encryption: {key: data}
  bus:
    type: event_bus
    default: true
  events_dlq:
    type: queue
    retention_days: 14
    encryption: {key: data}
  on_object_created:
    type: function
    crate: handler
    environment:
      EVENT_BUS_NAME: ${bus.name}
      EVENT_SOURCE: clips.episodes
    grants:
      bus: {access: [put], source: clips.episodes}
  on_mediaconvert_state:
    type: function
    crate: handler
  video_uploaded:
    type: event_rule
    pattern:
      source: [aws.s3]
      detail-type: [Object Created]
      detail:
        bucket: {name: [\"${transcripts.name}\"]}
        object: {key: [{prefix: uploads/}]}
    targets:
      - function: on_object_created
    retry: {attempts: 8, max_age: 3600}
    dead_letter: events_dlq
  chunking_state:
    type: event_rule
    pattern:
      source: [aws.mediaconvert]
      detail-type: [MediaConvert Job State Change]
      detail:
        status: [COMPLETE, ERROR]
        userMetadata: {stack: [\"${stack}\"]}
    targets: [{function: on_mediaconvert_state}]
    dead_letter: events_dlq
",
    );
    let r = &t["Resources"];
    assert_eq!(
        r["ChunkingState"]["Properties"]["EventPattern"]["detail"]["userMetadata"],
        json!({"stack": ["app"]})
    );
    assert_eq!(
        r["VideoUploaded"]["Properties"]["EventPattern"]["detail"]["bucket"],
        json!({"name": ["kinds-app-transcripts-dev"]})
    );
    assert_eq!(
        r["Transcripts"]["Properties"]["NotificationConfiguration"],
        json!({"EventBridgeConfiguration": {"EventBridgeEnabled": true}})
    );
    let send = &r["EventsDlqPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(
        send["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!([
            {"Fn::GetAtt": ["ChunkingState", "Arn"]},
            {"Fn::GetAtt": ["VideoUploaded", "Arn"]},
        ])
    );
    // Both functions are invoked asynchronously: each has its dead-letter queue.
    for f in ["OnObjectCreatedDeadLetter", "OnMediaconvertStateDeadLetter"] {
        assert_eq!(r[f]["Type"], "AWS::SQS::Queue", "{f}");
    }
    let put = statements(&t, "OnObjectCreated")
        .into_iter()
        .find(|s| s["Sid"] == "BusPut")
        .unwrap();
    assert_eq!(
        put["Condition"]["StringEquals"]["events:source"],
        "clips.episodes"
    );
    assert_eq!(
        r["OnObjectCreated"]["Properties"]["Environment"]["Variables"]["EVENT_BUS_NAME"],
        "default"
    );
    let policy: Json = serde_json::from_str(
        r["Data"]["Properties"]["KeyPolicy"]["Fn::Sub"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let services = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "ServicesOfThisAccountUse")
        .unwrap();
    assert_eq!(
        services["Principal"]["Service"],
        json!(["events.amazonaws.com"])
    );
}
