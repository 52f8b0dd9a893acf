//! Which property changes make CloudFormation replace a resource.
//!
//! A static table, resource type -> the top-level properties (directly under
//! `Properties`) whose reference page says "Update requires: Replacement"
//! (the registry schemas call them `createOnlyProperties`). It covers the
//! types stackctl renders and their close neighbours; a type that is not
//! listed never reports a replacement. The table errs towards the documented
//! rule: properties that need replacement only for some transitions (VPC
//! `InstanceTenancy` from `default` to `dedicated`) are listed.

/// Resource types, sorted, each with its replacement properties, sorted.
/// A type listed with no properties is known to replace on no property change.
const TABLE: &[(&str, &[&str])] = &[
    (
        "AWS::ApiGateway::Deployment",
        &["DeploymentCanarySettings", "RestApiId"],
    ),
    (
        "AWS::ApiGateway::Resource",
        &["ParentId", "PathPart", "RestApiId"],
    ),
    ("AWS::ApiGateway::RestApi", &[]),
    ("AWS::ApiGateway::Stage", &["RestApiId", "StageName"]),
    ("AWS::ApiGatewayV2::Api", &["ProtocolType"]),
    ("AWS::ApiGatewayV2::ApiMapping", &["DomainName"]),
    ("AWS::ApiGatewayV2::Authorizer", &["ApiId"]),
    ("AWS::ApiGatewayV2::Deployment", &["ApiId"]),
    ("AWS::ApiGatewayV2::DomainName", &["DomainName"]),
    ("AWS::ApiGatewayV2::Integration", &["ApiId"]),
    ("AWS::ApiGatewayV2::Route", &["ApiId"]),
    ("AWS::ApiGatewayV2::Stage", &["ApiId", "StageName"]),
    (
        "AWS::CertificateManager::Certificate",
        &[
            "CertificateAuthorityArn",
            "DomainName",
            "DomainValidationOptions",
            "KeyAlgorithm",
            "SubjectAlternativeNames",
            "ValidationMethod",
        ],
    ),
    ("AWS::CloudFront::OriginAccessControl", &[]),
    ("AWS::CloudWatch::Alarm", &["AlarmName"]),
    ("AWS::CloudWatch::Dashboard", &["DashboardName"]),
    (
        "AWS::DynamoDB::Table",
        &[
            "ImportSourceSpecification",
            "KeySchema",
            "LocalSecondaryIndexes",
            "TableName",
        ],
    ),
    (
        "AWS::EC2::SecurityGroup",
        &["GroupDescription", "GroupName", "VpcId"],
    ),
    (
        "AWS::EC2::Subnet",
        &[
            "AvailabilityZone",
            "AvailabilityZoneId",
            "CidrBlock",
            "Ipv4IpamPoolId",
            "Ipv4NetmaskLength",
            "Ipv6IpamPoolId",
            "Ipv6Native",
            "Ipv6NetmaskLength",
            "OutpostArn",
            "VpcId",
        ],
    ),
    (
        "AWS::EC2::VPC",
        &[
            "CidrBlock",
            "InstanceTenancy",
            "Ipv4IpamPoolId",
            "Ipv4NetmaskLength",
        ],
    ),
    (
        "AWS::ECR::Repository",
        &["EncryptionConfiguration", "RepositoryName"],
    ),
    ("AWS::ECS::Cluster", &["ClusterName"]),
    (
        "AWS::ECS::Service",
        &[
            "Cluster",
            "DeploymentController",
            "LaunchType",
            "Role",
            "SchedulingStrategy",
            "ServiceName",
        ],
    ),
    (
        "AWS::ECS::TaskDefinition",
        &[
            "ContainerDefinitions",
            "Cpu",
            "EphemeralStorage",
            "ExecutionRoleArn",
            "Family",
            "InferenceAccelerators",
            "IpcMode",
            "Memory",
            "NetworkMode",
            "PidMode",
            "PlacementConstraints",
            "ProxyConfiguration",
            "RequiresCompatibilities",
            "RuntimePlatform",
            "TaskRoleArn",
            "Volumes",
        ],
    ),
    (
        "AWS::ElastiCache::ReplicationGroup",
        &[
            "AtRestEncryptionEnabled",
            "CacheSubnetGroupName",
            "DataTieringEnabled",
            "Engine",
            "GlobalReplicationGroupId",
            "KmsKeyId",
            "NetworkType",
            "Port",
            "PreferredCacheClusterAZs",
            "ReplicasPerNodeGroup",
            "ReplicationGroupId",
            "SnapshotArns",
            "SnapshotName",
        ],
    ),
    ("AWS::ElastiCache::SubnetGroup", &["CacheSubnetGroupName"]),
    ("AWS::Events::EventBus", &["EventSourceName", "Name"]),
    ("AWS::Events::Rule", &["EventBusName", "Name"]),
    (
        "AWS::IAM::InstanceProfile",
        &["InstanceProfileName", "Path"],
    ),
    (
        "AWS::IAM::ManagedPolicy",
        &["Description", "ManagedPolicyName", "Path"],
    ),
    ("AWS::IAM::Role", &["Path", "RoleName"]),
    ("AWS::KMS::Alias", &["AliasName"]),
    ("AWS::Lambda::Alias", &["FunctionName", "Name"]),
    (
        "AWS::Lambda::EventSourceMapping",
        &[
            "EventSourceArn",
            "Queues",
            "SelfManagedEventSource",
            "StartingPosition",
            "StartingPositionTimestamp",
            "Topics",
        ],
    ),
    ("AWS::Lambda::Function", &["FunctionName", "PackageType"]),
    (
        "AWS::Lambda::LayerVersion",
        &[
            "CompatibleArchitectures",
            "CompatibleRuntimes",
            "Content",
            "Description",
            "LayerName",
            "LicenseInfo",
        ],
    ),
    (
        "AWS::Lambda::Permission",
        &[
            "Action",
            "EventSourceToken",
            "FunctionName",
            "FunctionUrlAuthType",
            "Principal",
            "PrincipalOrgID",
            "SourceAccount",
            "SourceArn",
        ],
    ),
    ("AWS::Lambda::Url", &["Qualifier", "TargetFunctionArn"]),
    (
        "AWS::Lambda::Version",
        &["CodeSha256", "Description", "FunctionName"],
    ),
    ("AWS::Logs::LogGroup", &["LogGroupName"]),
    ("AWS::Logs::MetricFilter", &["FilterName", "LogGroupName"]),
    (
        "AWS::Logs::SubscriptionFilter",
        &["FilterName", "LogGroupName"],
    ),
    (
        "AWS::RDS::DBCluster",
        &[
            "DBClusterIdentifier",
            "DatabaseName",
            "Engine",
            "EngineMode",
            "KmsKeyId",
            "StorageEncrypted",
        ],
    ),
    (
        "AWS::RDS::DBInstance",
        &[
            "CharacterSetName",
            "DBClusterIdentifier",
            "DBInstanceIdentifier",
            "DBName",
            "KmsKeyId",
            "StorageEncrypted",
        ],
    ),
    ("AWS::RDS::DBSubnetGroup", &["DBSubnetGroupName"]),
    ("AWS::Route53::HostedZone", &["Name"]),
    (
        "AWS::Route53::RecordSet",
        &["HostedZoneId", "HostedZoneName", "Name"],
    ),
    ("AWS::S3::Bucket", &["BucketName", "ObjectLockEnabled"]),
    ("AWS::S3::BucketPolicy", &["Bucket"]),
    (
        "AWS::SNS::Subscription",
        &["Endpoint", "Protocol", "TopicArn"],
    ),
    ("AWS::SNS::Topic", &["FifoTopic", "TopicName"]),
    ("AWS::SQS::Queue", &["FifoQueue", "QueueName"]),
    ("AWS::SSM::Parameter", &["Name"]),
    ("AWS::Scheduler::Schedule", &["GroupName", "Name"]),
    ("AWS::Scheduler::ScheduleGroup", &["Name"]),
    ("AWS::SecretsManager::Secret", &["Name"]),
    (
        "AWS::StepFunctions::StateMachine",
        &["StateMachineName", "StateMachineType"],
    ),
];

/// The top-level properties of `resource_type` whose change requires
/// replacement; empty for a type the table does not know.
pub fn replacement_properties(resource_type: &str) -> &'static [&'static str] {
    TABLE
        .binary_search_by(|(t, _)| (*t).cmp(resource_type))
        .map(|i| TABLE[i].1)
        .unwrap_or(&[])
}

/// Whether changing `top_level_property` (a key directly under `Properties`)
/// of a `resource_type` resource makes CloudFormation replace it.
pub fn requires_replacement(resource_type: &str, top_level_property: &str) -> bool {
    replacement_properties(resource_type).contains(&top_level_property)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique_so_binary_search_finds_every_type() {
        for pair in TABLE.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (ty, props) in TABLE {
            for pair in props.windows(2) {
                assert!(pair[0] < pair[1], "{ty}: {} before {}", pair[0], pair[1]);
            }
            for p in *props {
                assert!(requires_replacement(ty, p), "{ty}.{p} not found");
            }
        }
    }

    #[test]
    fn documented_replacements_are_flagged() {
        let cases = [
            ("AWS::S3::Bucket", "BucketName"),
            ("AWS::DynamoDB::Table", "TableName"),
            ("AWS::DynamoDB::Table", "KeySchema"),
            ("AWS::DynamoDB::Table", "LocalSecondaryIndexes"),
            ("AWS::Lambda::Function", "FunctionName"),
            ("AWS::Lambda::Function", "PackageType"),
            ("AWS::Lambda::Permission", "SourceArn"),
            ("AWS::Lambda::Permission", "FunctionUrlAuthType"),
            ("AWS::IAM::Role", "RoleName"),
            ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"),
            ("AWS::Logs::LogGroup", "LogGroupName"),
            ("AWS::SQS::Queue", "FifoQueue"),
            ("AWS::SNS::Topic", "TopicName"),
            ("AWS::Events::Rule", "EventBusName"),
            ("AWS::Scheduler::Schedule", "GroupName"),
            ("AWS::CloudWatch::Alarm", "AlarmName"),
            ("AWS::ApiGatewayV2::Api", "ProtocolType"),
            ("AWS::ApiGatewayV2::Stage", "StageName"),
            ("AWS::ApiGatewayV2::Route", "ApiId"),
            ("AWS::ApiGatewayV2::Integration", "ApiId"),
            ("AWS::ApiGatewayV2::Deployment", "ApiId"),
            ("AWS::SecretsManager::Secret", "Name"),
            ("AWS::SSM::Parameter", "Name"),
            ("AWS::KMS::Alias", "AliasName"),
            ("AWS::EC2::VPC", "CidrBlock"),
            ("AWS::EC2::Subnet", "AvailabilityZoneId"),
            ("AWS::EC2::SecurityGroup", "GroupDescription"),
            ("AWS::ECS::Cluster", "ClusterName"),
            ("AWS::ECS::TaskDefinition", "ContainerDefinitions"),
            ("AWS::ECS::Service", "LaunchType"),
            ("AWS::RDS::DBInstance", "StorageEncrypted"),
            ("AWS::ElastiCache::ReplicationGroup", "ReplicationGroupId"),
            ("AWS::ElastiCache::SubnetGroup", "CacheSubnetGroupName"),
            ("AWS::S3::BucketPolicy", "Bucket"),
        ];
        for (ty, prop) in cases {
            assert!(requires_replacement(ty, prop), "{ty}.{prop}");
        }
    }

    #[test]
    fn in_place_updates_and_unknown_types_are_not_flagged() {
        assert!(!requires_replacement("AWS::Lambda::Function", "MemorySize"));
        assert!(!requires_replacement("AWS::S3::Bucket", "Tags"));
        assert!(!requires_replacement("AWS::ApiGateway::RestApi", "Name"));
        assert!(!requires_replacement("Custom::Thing", "BucketName"));
        assert!(replacement_properties("AWS::CloudFront::OriginAccessControl").is_empty());
    }
}
