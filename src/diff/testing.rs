//! A realistic deployed and desired stack the text, Markdown and JSON
//! tests share: a function gains `dynamodb:Scan` and loses a write, a
//! security group opens to the internet, a table is renamed (replaced), a
//! queue comes and a topic goes, an output changes and one is new, a
//! parameter changes while a `NoEcho` one is hidden.

use super::{DeployedState, DesiredState, StackDiff};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A name -> value map.
pub(super) fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn role(statements: Value, trust: Value) -> Value {
    json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": trust},
            "Policies": [{
                "PolicyName": "CreateUploadAccess",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            }],
        },
    })
}

fn lambda_trust() -> Value {
    json!([{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}])
}

fn logs() -> Value {
    json!({
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/studio-upload-create-upload-dev:*"}],
    })
}

fn sessions_read(actions: &[&str]) -> Value {
    json!({
        "Sid": "SessionsRead",
        "Effect": "Allow",
        "Action": actions,
        "Resource": [
            {"Fn::GetAtt": ["Sessions", "Arn"]},
            {"Fn::Sub": ["${TableArn}/index/*", {"TableArn": {"Fn::GetAtt": ["Sessions", "Arn"]}}]},
        ],
    })
}

fn ingress(cidr: &str) -> Value {
    json!({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": cidr, "Description": "HTTPS"})
}

fn table(name: &str) -> Value {
    json!({
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        },
    })
}

/// The upload stack as deployed.
pub(super) fn deployed() -> DeployedState {
    DeployedState {
        template: json!({
            "Parameters": {
                "UrlExpirySeconds": {"Type": "Number", "Default": 300},
                "DbPassword": {"Type": "String", "NoEcho": true},
            },
            "Resources": {
                "CreateUpload": {"Type": "AWS::Lambda::Function", "Properties": {
                    "MemorySize": 256,
                    "Role": {"Fn::GetAtt": ["CreateUploadRole", "Arn"]},
                    "Environment": {"Variables": {"TABLE": {"Ref": "Sessions"}}},
                    "Tags": [{"Key": "team", "Value": "media"}, {"Key": "app", "Value": "upload"}],
                }},
                "CreateUploadRole": role(
                    json!([
                        logs(),
                        sessions_read(&["dynamodb:GetItem", "dynamodb:Query"]),
                        {"Sid": "IngestWrite", "Effect": "Allow", "Action": ["s3:PutObject"],
                         "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:s3:::studio-upload-ingest-dev/uploads/*"}]},
                    ]),
                    lambda_trust(),
                ),
                "Sessions": table("studio-sessions-dev"),
                "WebSg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
                    "GroupDescription": "web",
                    "VpcId": {"Ref": "Vpc"},
                    "SecurityGroupIngress": [ingress("10.0.0.0/16")],
                }},
                "OldTopic": {"Type": "AWS::SNS::Topic"},
            },
            "Outputs": {
                "ApiBaseUrl": {"Value": {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/v1"}},
            },
        }),
        parameters: map(&[("UrlExpirySeconds", "300"), ("DbPassword", "****")]),
        tags: map(&[]),
    }
}

/// The upload stack as it would be deployed.
pub(super) fn desired() -> DesiredState {
    DesiredState {
        template: json!({
            "Parameters": {
                "UrlExpirySeconds": {"Type": "Number", "Default": 300},
                "DbPassword": {"Type": "String", "NoEcho": "true"},
            },
            "Resources": {
                "CreateUpload": {"Type": "AWS::Lambda::Function", "Properties": {
                    "MemorySize": 512,
                    "Role": {"Fn::GetAtt": ["CreateUploadRole", "Arn"]},
                    "Environment": {"Variables": {"TABLE": {"Ref": "Sessions"}}},
                    "Tags": [{"Key": "app", "Value": "upload"}, {"Key": "team", "Value": "platform"}],
                }},
                "CreateUploadRole": role(
                    json!([
                        logs(),
                        sessions_read(&["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]),
                    ]),
                    lambda_trust(),
                ),
                "Sessions": table("studio-sessions-v2-dev"),
                "WebSg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
                    "GroupDescription": "web",
                    "VpcId": {"Ref": "Vpc"},
                    "SecurityGroupIngress": [ingress("10.0.0.0/16"), ingress("0.0.0.0/0")],
                }},
                "NewQueue": {"Type": "AWS::SQS::Queue"},
            },
            "Outputs": {
                "ApiBaseUrl": {"Value": {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/v2"}},
                "SessionsArn": {"Value": {"Fn::GetAtt": ["Sessions", "Arn"]},
                                "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-sessions"}}},
            },
        }),
        parameters: map(&[("UrlExpirySeconds", "600"), ("DbPassword", "hunter2")]),
        tags: map(&[("team", "media")]),
    }
}

/// The diff of [`deployed`] against [`desired`].
pub(super) fn upload_diff() -> StackDiff {
    StackDiff::new("upload", "studio-upload-dev", Some(&deployed()), &desired())
}
