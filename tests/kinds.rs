//! Every resource kind deployed to a moto server started by the test, from
//! `tests/fixtures/kinds-project` (one stack using each kind, with a
//! key-encrypted bucket, table, queue and function, a dead-letter queue, a
//! FIFO queue and a queue consumer). What the emulator created is read back
//! through each service's own API: the queues' redrive policies and
//! encryption, the topics' subscriptions, the key's rotation, alias and
//! policy, the event source mapping, the bucket's encryption, the roles
//! tagged as the key's users, and the secrets deploy made through the
//! Secrets Manager API (moto's CloudFormation makes none), read by what the
//! function was given.

mod common;

use common::{block, copy_fixture, json};
use lambda_shared::testing::Moto;
use serde_json::Value;
use std::collections::HashMap;

/// A queue's attributes, by its name.
async fn queue(moto: &Moto, name: &str) -> HashMap<String, String> {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
        .queue_url()
        .unwrap()
        .to_string();
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    out.attributes()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
        .collect()
}

fn output(report: &Value, key: &str) -> String {
    report["stacks"][0]["outputs"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no output {key} in {report}"))
        .to_string()
}

#[test]
fn every_kind_deploys_and_reads_back_as_declared() {
    let moto = Moto::start();
    let dir = copy_fixture("kinds-project");
    let dir = dir.path();
    let report = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(report["stacks"][0]["outcome"], "created", "{report}");
    let key_arn = output(&report, "DataKeyArn");
    // Secrets are placeholders in moto's CloudFormation: deploy made them
    // through the Secrets Manager API, and says the external one needs its
    // value, with the command that sets it from a file.
    let secrets = report["secrets"].as_array().expect("secrets reported");
    let state = |key: &str| {
        secrets
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no secret {key} in {report}"))
            .clone()
    };
    assert_eq!(state("db_password")["created"], true);
    assert_eq!(state("db_password")["needs_value"], false);
    assert_eq!(state("api_token")["created"], true);
    assert_eq!(state("api_token")["needs_value"], true);
    let set_with = state("api_token")["set_with"].as_str().unwrap().to_string();
    assert!(
        set_with.contains("--secret-id kindsfix-all-api-token-local")
            && set_with.contains("file://")
            && set_with.contains(&format!("--endpoint-url {}", moto.endpoint)),
        "{set_with}"
    );
    let dlq_arn = output(&report, "JobsDeadLetterArn");

    block(async {
        // The queue: its dead-letter queue wired, encrypted with the key.
        let jobs = queue(&moto, "kindsfix-all-jobs-local").await;
        let redrive: Value = serde_json::from_str(&jobs["RedrivePolicy"]).unwrap();
        assert_eq!(redrive["deadLetterTargetArn"], dlq_arn.as_str());
        assert_eq!(
            redrive["maxReceiveCount"].to_string().trim_matches('"'),
            "5"
        );
        assert_eq!(jobs["VisibilityTimeout"], "180");
        assert_eq!(jobs["KmsMasterKeyId"], key_arn);
        let dlq = queue(&moto, "kindsfix-all-jobs-local-dlq").await;
        assert_eq!(dlq["MessageRetentionPeriod"], (14 * 86_400).to_string());
        assert_eq!(dlq["KmsMasterKeyId"], key_arn);
        // The FIFO queue and its dead-letter queue, with SQS-managed keys.
        let orders = queue(&moto, "kindsfix-all-orders-local.fifo").await;
        assert_eq!(orders["FifoQueue"], "true");
        assert_eq!(orders["SqsManagedSseEnabled"], "true");
        let redrive: Value = serde_json::from_str(&orders["RedrivePolicy"]).unwrap();
        assert!(redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(":kindsfix-all-orders-local-dlq.fifo"));

        // The topics' subscriptions: people, a queue and a function.
        let config = moto.sdk_config().await;
        let sns = aws_sdk_sns::Client::new(&config);
        let subscriptions = |arn: String| {
            let sns = sns.clone();
            async move {
                let out = sns
                    .list_subscriptions_by_topic()
                    .topic_arn(arn)
                    .send()
                    .await
                    .unwrap();
                let mut found: Vec<(String, String)> = out
                    .subscriptions()
                    .iter()
                    .map(|s| {
                        (
                            s.protocol().unwrap_or_default().to_string(),
                            s.endpoint().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                found.sort();
                found
            }
        };
        assert_eq!(
            subscriptions(output(&report, "AlertsTopicArn")).await,
            [("email".to_string(), "ops@example.com".to_string())]
        );
        let fanout = subscriptions(output(&report, "FanoutTopicArn")).await;
        let protocols: Vec<&str> = fanout.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(protocols, ["lambda", "sqs"], "{fanout:?}");
        assert!(fanout[0].1.ends_with(":function:kindsfix-all-worker-local"));
        assert!(fanout[1].1.ends_with(":kindsfix-all-jobs-local"));

        // The function finds its secret by what it was given, and reads
        // a generated value of the length asked, without excluded characters.
        let lambda = aws_sdk_lambda::Client::new(&config);
        let env = lambda
            .get_function_configuration()
            .function_name("kindsfix-all-worker-local")
            .send()
            .await
            .unwrap()
            .environment()
            .and_then(|e| e.variables().cloned())
            .unwrap_or_default();
        let sm = aws_sdk_secretsmanager::Client::new(&config);
        let value = sm
            .get_secret_value()
            .secret_id(&env["DB_PASSWORD_SECRET"])
            .send()
            .await
            .unwrap();
        let value = value.secret_string().unwrap();
        assert_eq!(value.len(), 40);
        assert!(!value.contains(['"', '@', '/', '\\']));
        // A templated secret: the generated password under its key.
        let login = sm
            .get_secret_value()
            .secret_id("kindsfix-all-service-login-local")
            .send()
            .await
            .unwrap();
        let login: Value = serde_json::from_str(login.secret_string().unwrap()).unwrap();
        assert_eq!(login["username"], "service");
        assert_eq!(login["password"].as_str().unwrap().len(), 24);
        // The connect grant gave the worker the database's address and its
        // master secret, which holds what RDS would put there.
        // The cache is bound to a server on loopback here: the grant gives
        // its address, and no auth secret (the binding names none).
        assert_eq!(env["CACHE_HOST"], "127.0.0.1");
        assert_eq!(env["CACHE_PORT"], "6379");
        assert_eq!(env["CACHE_TLS"], "false");
        assert!(!env.contains_key("CACHE_AUTH_SECRET_ARN"), "{env:?}");
        assert_eq!(env["DB_PORT"], "5432");
        assert_eq!(env["DB_NAME"], "kinds");
        assert!(!env["DB_HOST"].is_empty(), "{env:?}");
        let master = sm
            .get_secret_value()
            .secret_id(&env["DB_SECRET_ARN"])
            .send()
            .await
            .unwrap();
        let master: Value = serde_json::from_str(master.secret_string().unwrap()).unwrap();
        assert_eq!(master["username"], "app");
        assert_eq!(master["password"].as_str().unwrap().len(), 32);
        let token = sm
            .describe_secret()
            .secret_id(&env["API_TOKEN_SECRET"])
            .send()
            .await
            .unwrap();
        assert_eq!(
            token.description(),
            Some("Token of the partner API, set by hand")
        );
        assert!(token.version_ids_to_stages().is_none_or(|v| v.is_empty()));

        // The key: rotation on, its alias, a policy that lets only tagged
        // roles use it.
        let kms = aws_sdk_kms::Client::new(&config);
        let key_id = key_arn.rsplit('/').next().unwrap();
        let rotation = kms
            .get_key_rotation_status()
            .key_id(key_id)
            .send()
            .await
            .unwrap();
        assert!(rotation.key_rotation_enabled());
        let aliases = kms.list_aliases().key_id(key_id).send().await.unwrap();
        let names: Vec<&str> = aliases
            .aliases()
            .iter()
            .filter_map(|a| a.alias_name())
            .collect();
        assert_eq!(names, ["alias/kindsfix-all-data-local"]);
        let policy = kms
            .get_key_policy()
            .key_id(key_id)
            .policy_name("default")
            .send()
            .await
            .unwrap();
        let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
        assert_eq!(
            policy["Statement"][1]["Condition"]["StringEquals"]
                ["aws:PrincipalTag/stackctl-key-user-Data"],
            "true"
        );

        // The consumer: an event source mapping on the queue, and its own
        // environment encrypted with the key.
        let worker = "kindsfix-all-worker-local";
        let mappings = lambda
            .list_event_source_mappings()
            .function_name(worker)
            .send()
            .await
            .unwrap();
        let [m] = mappings.event_source_mappings() else {
            panic!("{mappings:?}");
        };
        assert_eq!(m.batch_size(), Some(5));
        assert!(m
            .event_source_arn()
            .unwrap()
            .ends_with(":kindsfix-all-jobs-local"));
        // The indexer reads the items table's stream from its oldest record.
        let mappings = lambda
            .list_event_source_mappings()
            .function_name("kindsfix-all-indexer-local")
            .send()
            .await
            .unwrap();
        let [m] = mappings.event_source_mappings() else {
            panic!("{mappings:?}");
        };
        assert!(
            m.event_source_arn()
                .unwrap()
                .contains(":table/kindsfix-all-items-local/stream/"),
            "{m:?}"
        );
        assert_eq!(m.batch_size(), Some(100));
        // (moto keeps neither a function's `KmsKeyArn` nor a log group's
        // `KmsKeyId` from a template: those are checked in the rendered
        // template by the kinds' unit tests.)

        // The bucket: SSE-KMS with the key. moto names the root element of
        // this answer differently from S3, which the SDK rejects, so it is
        // read as plain HTTP (moto checks no signatures).
        let url = format!("{}/kindsfix-all-uploads-local?encryption", moto.endpoint);
        let encryption = ureq::get(&url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert!(
            encryption.contains("<SSEAlgorithm>aws:kms</SSEAlgorithm>")
                && encryption.contains(&format!("<KMSMasterKeyID>{key_arn}</KMSMasterKeyID>")),
            "{encryption}"
        );

        // Roles granted something the key encrypts are tagged as its users;
        // that tag is what the key policy lets use it.
        let iam = aws_sdk_iam::Client::new(&config);
        for function in [worker, "kindsfix-all-api-handler-local"] {
            let role_arn = lambda
                .get_function_configuration()
                .function_name(function)
                .send()
                .await
                .unwrap()
                .role()
                .unwrap()
                .to_string();
            let role = role_arn.rsplit('/').next().unwrap();
            let tags = iam.list_role_tags().role_name(role).send().await.unwrap();
            let tags: Vec<(&str, &str)> =
                tags.tags().iter().map(|t| (t.key(), t.value())).collect();
            assert!(
                tags.contains(&("stackctl-key-user-Data", "true")),
                "{function}: {tags:?}"
            );
        }

        // Both functions run in the network's private subnets, each in a
        // security group of its own.
        let cfn = aws_sdk_cloudformation::Client::new(&config);
        let resources = cfn
            .describe_stack_resources()
            .stack_name("kindsfix-all-local")
            .send()
            .await
            .unwrap();
        let physical = |logical: &str| -> String {
            resources
                .stack_resources()
                .iter()
                .find(|r| r.logical_resource_id() == Some(logical))
                .and_then(|r| r.physical_resource_id())
                .unwrap_or_else(|| panic!("no {logical} in the stack"))
                .to_string()
        };
        for (function, group) in [
            (worker, "WorkerSecurityGroup"),
            ("kindsfix-all-api-handler-local", "ApiHandlerSecurityGroup"),
        ] {
            let config = lambda
                .get_function_configuration()
                .function_name(function)
                .send()
                .await
                .unwrap();
            let vpc = config.vpc_config().expect("a VPC configuration");
            assert_eq!(
                vpc.subnet_ids(),
                [physical("NetPrivate1"), physical("NetPrivate2")],
                "{function}"
            );
            assert_eq!(vpc.security_group_ids(), [physical(group)], "{function}");
        }
    });

    block(async {
        // The dashboard graphs the stack's own resources: its dimensions
        // are the deployed names.
        let config = moto.sdk_config().await;
        let cw = aws_sdk_cloudwatch::Client::new(&config);
        let d = cw
            .get_dashboard()
            .dashboard_name("kindsfix-all-ops-local")
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_str(d.dashboard_body().unwrap()).unwrap();
        let items = body["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["properties"]["title"] == "items: throttles")
            .unwrap_or_else(|| panic!("no graph of items in {body}"));
        assert_eq!(
            items["properties"]["metrics"][0],
            serde_json::json!(["AWS/DynamoDB", "ReadThrottleEvents", "TableName", "kindsfix-all-items-local", {"stat": "Sum"}])
        );
        assert_eq!(items["properties"]["region"], "us-east-1");
        // The trail's bucket: private, encrypted with the key.
        let s3 = aws_sdk_s3::Client::new(&config);
        let enc = s3
            .get_bucket_encryption()
            .bucket("kindsfix-all-audit-local-logs")
            .send()
            .await
            .unwrap();
        let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
        let default = rule.apply_server_side_encryption_by_default().unwrap();
        assert_eq!(default.sse_algorithm().as_str(), "aws:kms");
        assert_eq!(default.kms_master_key_id(), Some(key_arn.as_str()));
    });

    // Nothing changed, nothing to do: the generated value stays, and the
    // external secret still asks for its value.
    let again = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(again["stacks"][0]["outcome"], "unchanged", "{again}");
    let secrets: Vec<(&str, bool, bool)> = again["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap(),
                s["created"].as_bool().unwrap(),
                s["needs_value"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(secrets, [("api_token", false, true)]);

    // Destroy leaves nothing behind, the secrets made outside the template
    // included.
    let gone = json(dir, &moto, &["destroy", "--env", "local", "--yes"], 0);
    let mut deleted: Vec<&str> = gone["secrets_deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        [
            "kindsfix-all-api-token-local",
            "kindsfix-all-cache-token-local",
            "kindsfix-all-db-local-master",
            "kindsfix-all-db-password-local",
            "kindsfix-all-service-login-local"
        ]
    );
    // moto never deletes route tables, so locally the VPC is retained
    // (and said so) for the stack to go at all.
    let kept: Vec<(&str, &str)> = gone["kept"]
        .as_array()
        .unwrap_or_else(|| panic!("no kept in {gone}"))
        .iter()
        .map(|k| {
            (
                k["logical_id"].as_str().unwrap(),
                k["resource_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kept, [("Net", "AWS::EC2::VPC")], "{gone}");
    block(async {
        let config = moto.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let left = sqs.list_queues().send().await.unwrap();
        assert_eq!(left.queue_urls(), [] as [String; 0]);
        let sm = aws_sdk_secretsmanager::Client::new(&config);
        let left = sm.list_secrets().send().await.unwrap();
        assert_eq!(left.secret_list().len(), 0, "{left:?}");
    });
}
