//! The `service` kind through the whole pipeline: what it renders, and
//! what it refuses.

use super::super::testing::{render, render_in};
use super::*;

/// A service without a load balancer, with grants of every injecting kind
/// and a table, Bedrock models and an encrypted repository.
const STACK: &str = "resources:
  data:
    type: key
  main:
    type: network
    allow:
      - {from: agents, to: cache, port: 6379}
  cache_token:
    type: secret
    generate: {length: 32, punctuation: false}
  api_key:
    type: secret
    external: true
    encryption: {key: data}
  cache:
    type: cache
    network: main
    node_type: cache.t4g.micro
    auth_token: cache_token
  worlds:
    type: table
    attributes: {world_id: string}
    key: [world_id]
    encryption: {key: data}
  agents:
    type: service
    crate: agent-runtime
    network: main
    cpu: {default: 256, dev: 256}
    memory: {default: 2048, dev: 1024}
    architecture: arm64
    environment:
      WORLDS_TABLE: ${worlds.name}
    grants:
      worlds: [read, write]
      cache: [connect]
      api_key: [read]
    bedrock_models: [anthropic.claude-3-haiku-20240307-v1:0]
    encryption: {key: data}
    images_kept: 5
";

fn statements(t: &Json, role: &str) -> Vec<Json> {
    t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn sids(t: &Json, role: &str) -> Vec<String> {
    statements(t, role)
        .iter()
        .map(|s| s["Sid"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_service_runs_its_image_on_fargate_in_private_subnets_once_pushed() {
    let t = render(STACK);
    let r = &t["Resources"];
    // One cluster, with container insights.
    assert_eq!(
        r[CLUSTER]["Properties"]["ClusterSettings"],
        json!([{"Name": "containerInsights", "Value": "enabled"}])
    );
    // The image parameter, empty until the first push, and the condition
    // that leaves out what runs it meanwhile.
    assert_eq!(t["Parameters"]["AgentsImage"]["Default"], "");
    assert_eq!(
        t["Conditions"]["AgentsHasImage"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AgentsImage"}, ""]}]})
    );
    for id in [
        "AgentsTaskDefinition",
        "Agents",
        "AgentsScalingTarget",
        "AgentsCpuScaling",
        "AgentsMemoryScaling",
    ] {
        assert_eq!(r[id]["Condition"], "AgentsHasImage", "{id}");
    }
    for id in [
        "AgentsRepository",
        "AgentsLogGroup",
        "AgentsTaskRole",
        "AgentsExecutionRole",
    ] {
        assert!(r[id].get("Condition").is_none(), "{id} waits for nothing");
    }
    let td = &r["AgentsTaskDefinition"]["Properties"];
    assert_eq!(td["Cpu"], "256");
    assert_eq!(td["Memory"], "1024");
    assert_eq!(td["RequiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(td["NetworkMode"], "awsvpc");
    assert_eq!(td["RuntimePlatform"]["CpuArchitecture"], "ARM64");
    let c = &td["ContainerDefinitions"][0];
    assert_eq!(c["Image"], json!({"Ref": "AgentsImage"}));
    assert_eq!(c["Name"], "agent-runtime");
    assert_eq!(c["PortMappings"][0]["ContainerPort"], 8080);
    assert_eq!(c["ReadonlyRootFilesystem"], true);
    // No shell in the image: no container health check unless asked.
    assert!(c.get("HealthCheck").is_none());
    let svc = &r["Agents"]["Properties"];
    assert_eq!(
        svc["DeploymentConfiguration"]["DeploymentCircuitBreaker"],
        json!({"Enable": true, "Rollback": true})
    );
    let net = &svc["NetworkConfiguration"]["AwsvpcConfiguration"];
    assert_eq!(net["AssignPublicIp"], "DISABLED");
    assert_eq!(
        net["Subnets"],
        json!([{"Ref": "MainPrivate1"}, {"Ref": "MainPrivate2"}])
    );
    assert_eq!(svc["EnableExecuteCommand"], false);
    // dev: one to two tasks; CPU and memory targets.
    let st = &r["AgentsScalingTarget"]["Properties"];
    assert_eq!(
        (st["MinCapacity"].clone(), st["MaxCapacity"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(
        r["AgentsCpuScaling"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
            ["PredefinedMetricSpecification"]["PredefinedMetricType"],
        "ECSServiceAverageCPUUtilization"
    );
    assert_eq!(
        r["AgentsMemoryScaling"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
            ["TargetValue"],
        75
    );
}

#[test]
fn secrets_are_injected_by_reference_and_read_by_the_execution_role_alone() {
    let t = render(STACK);
    let c = &t["Resources"]["AgentsTaskDefinition"]["Properties"]["ContainerDefinitions"][0];
    let env: BTreeMap<String, Json> = c["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["Name"].as_str().unwrap().to_string(), e["Value"].clone()))
        .collect();
    assert_eq!(env["PORT"], "8080");
    assert_eq!(env["WORLDS_TABLE"], json!({"Ref": "Worlds"}));
    assert_eq!(env["CACHE_TLS"], "true");
    // Nothing secret in the plain environment, not even its ARN.
    for k in env.keys() {
        assert!(
            !k.contains("TOKEN") && !k.contains("SECRET") && k != "API_KEY",
            "{k}"
        );
    }
    assert_eq!(
        c["Secrets"],
        json!([
            {"Name": "API_KEY", "ValueFrom": {"Ref": "ApiKey"}},
            {"Name": "CACHE_AUTH_TOKEN", "ValueFrom": {"Ref": "CacheToken"}},
        ])
    );
    let exec = sids(&t, "AgentsExecutionRole");
    assert_eq!(
        exec,
        [
            "PullOwnImage",
            "RegistryLogin",
            "WriteOwnLogs",
            "ApiKeyRead",
            "CacheConnect",
            "ApiKeyKey"
        ]
    );
    // It decrypts the secret it injects with the secret's key, tagged for it.
    assert_eq!(
        t["Resources"]["AgentsExecutionRole"]["Properties"]["Tags"],
        json!([{"Key": "stackctl-key-user-Data", "Value": "true"}])
    );
    let task = sids(&t, "AgentsTaskRole");
    assert!(
        !task
            .iter()
            .any(|s| s == "CacheConnect" || s == "ApiKeyRead"),
        "{task:?}"
    );
    assert!(task.contains(&"WorldsRead".to_string()) && task.contains(&"WorldsWrite".to_string()));
    // The table is encrypted: the task role uses its key, tagged for it.
    assert!(task.contains(&"WorldsKey".to_string()));
    assert_eq!(
        t["Resources"]["AgentsTaskRole"]["Properties"]["Tags"],
        json!([{"Key": "stackctl-key-user-Data", "Value": "true"}])
    );
    // Bedrock: exactly the models named.
    let models = statements(&t, "AgentsTaskRole")
        .into_iter()
        .find(|s| s["Sid"] == "InvokeModels")
        .unwrap();
    assert_eq!(
        models["Resource"],
        json!([{"Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"}])
    );
    // Pulls from its own repository only; logs to its own group only.
    let pull = &statements(&t, "AgentsExecutionRole")[0];
    assert_eq!(
        pull["Resource"],
        json!([{"Fn::GetAtt": ["AgentsRepository", "Arn"]}])
    );
}

#[test]
fn a_database_grant_injects_user_and_password_from_the_master_secret() {
    let t = render(
        "resources:
  main:
    type: network
    allow:
      - {from: worker, to: db, port: 5432}
  db:
    type: database
    network: main
    engine_version: \"16.8\"
    instance_class: db.t4g.micro
  worker:
    type: service
    crate: worker
    network: main
    grants:
      db: [connect]
",
    );
    let c = &t["Resources"]["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"][0];
    let secret = json!({"Fn::GetAtt": ["Db", "MasterUserSecret.SecretArn"]});
    assert_eq!(
        c["Secrets"],
        json!([
            {"Name": "DB_PASSWORD", "ValueFrom": {"Fn::Join": ["", [secret, ":password::"]]}},
            {"Name": "DB_USERNAME", "ValueFrom": {"Fn::Join": ["", [secret, ":username::"]]}},
        ])
    );
    let names: Vec<&str> = c["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["DB_HOST", "DB_NAME", "DB_PORT", "DB_TLS", "PORT"]);
    assert!(sids(&t, "WorkerExecutionRole").contains(&"DbConnect".to_string()));
}

#[test]
fn the_repository_keeps_the_last_images_immutably_and_encrypted() {
    let t = render(STACK);
    let repo = &t["Resources"]["AgentsRepository"];
    let p = &repo["Properties"];
    assert_eq!(p["RepositoryName"], "kinds-app-agents-dev");
    assert_eq!(p["ImageTagMutability"], "IMMUTABLE");
    assert_eq!(p["ImageScanningConfiguration"]["ScanOnPush"], true);
    assert_eq!(
        p["EncryptionConfiguration"],
        json!({"EncryptionType": "KMS", "KmsKey": {"Fn::GetAtt": ["Data", "Arn"]}})
    );
    let rules: Json = serde_json::from_str(
        p["LifecyclePolicy"]["LifecyclePolicyText"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rules["rules"][0]["selection"]["countNumber"], 5);
    assert_eq!(
        rules["rules"][0]["selection"]["countType"],
        "imageCountMoreThan"
    );
    // dev is not protected: the repository goes with the stack, images and all.
    assert_eq!(repo["DeletionPolicy"], "Delete");
    assert_eq!(p["EmptyOnDelete"], true);
    let lg = &t["Resources"]["AgentsLogGroup"]["Properties"];
    assert_eq!(lg["LogGroupName"], "/ecs/kinds-app-agents-dev");
    assert_eq!(lg["KmsKeyId"], json!({"Fn::GetAtt": ["Data", "Arn"]}));
}

#[test]
fn protected_environments_retain_run_more_and_refuse_exec() {
    let t = render_in(
        "    protected: true\n",
        "resources:
  main:
    type: network
  worker:
    type: service
    crate: worker
    network: main
",
    );
    let r = &t["Resources"];
    assert_eq!(r["WorkerRepository"]["DeletionPolicy"], "Retain");
    assert_eq!(r["WorkerRepository"]["Properties"]["EmptyOnDelete"], false);
    assert_eq!(r["WorkerLogGroup"]["DeletionPolicy"], "Retain");
    let st = &r["WorkerScalingTarget"]["Properties"];
    assert_eq!(
        (st["MinCapacity"].clone(), st["MaxCapacity"].clone()),
        (json!(2), json!(6))
    );
    assert_eq!(r["Worker"]["Properties"]["DesiredCount"], 2);
    assert_eq!(r["Worker"]["Properties"]["EnableExecuteCommand"], false);
}

#[test]
fn fargate_sizes_are_checked_with_the_memory_that_fits() {
    assert_eq!(size_problem(256, 512), None);
    assert_eq!(size_problem(4096, 30720), None);
    assert_eq!(size_problem(16384, 122880), None);
    let (problem, hint) = size_problem(256, 4096).unwrap();
    assert!(problem.contains("4096 MiB"), "{problem}");
    assert!(hint.contains("512, 1024, 2048"), "{hint}");
    assert!(hint.contains("cpu 512 or 1024 or 2048"), "{hint}");
    let (_, hint) = size_problem(1024, 2500).unwrap();
    assert!(
        hint.contains("2048, 3072, 4096, 5120, 6144, 7168, 8192"),
        "{hint}"
    );
    let (_, hint) = size_problem(4096, 4096).unwrap();
    assert!(hint.contains("8192 to 30720 in steps of 1024"), "{hint}");
    let (problem, hint) = size_problem(300, 512).unwrap();
    assert!(problem.contains("300 cpu"), "{problem}");
    assert!(hint.contains("256, 512, 1024"), "{hint}");
}

#[test]
fn target_group_names_fit_32_characters_without_underscores() {
    assert_eq!(
        target_group_name("world-agent_runtime-dev"),
        "world-agent-runtime-dev"
    );
    let long = target_group_name("a-very-long-project-world-management-staging");
    assert_eq!(long.len(), 32, "{long}");
    assert!(long.starts_with("a-very-long-project-wor-"), "{long}");
    assert_ne!(
        long,
        target_group_name("a-very-long-project-world-management-prod2")
    );
}

#[test]
fn default_priorities_skip_the_ones_taken() {
    // Keys in order: a (default), b (110 taken), c (default).
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("stacks")).unwrap();
    std::fs::write(
        root.join("stackctl.yaml"),
        "project: kinds\nstacks:\n  app: {}\nenvironments:\n  dev:\n    region: us-east-1\n",
    )
    .unwrap();
    std::fs::write(
        root.join("stacks/app.yaml"),
        "resources:
  a: {type: service, network: n, load_balancer: lb, paths: [/a]}
  b: {type: service, network: n, load_balancer: lb, paths: [/b], priority: 110}
  c: {type: service, network: n, load_balancer: lb, paths: [/c]}
",
    )
    .unwrap();
    let project = crate::model::load(root).unwrap_or_else(|d| panic!("{d}"));
    let stack = &project.stacks["app"];
    let p = priorities(stack, "lb");
    assert_eq!(p["a"], 100);
    assert_eq!(p["b"], 110);
    assert_eq!(p["c"], 120);
}

#[test]
fn an_alarm_on_a_service_names_cluster_and_service() {
    let t = render(
        "resources:
  main:
    type: network
  worker:
    type: service
    crate: worker
    network: main
  busy:
    type: alarm
    target: worker
    metric: CPUUtilization
    threshold: 80
  few:
    type: alarm
    target: worker
    metric: RunningTaskCount
    comparison: '<'
    threshold: 1
",
    );
    let busy = &t["Resources"]["Busy"]["Properties"];
    assert_eq!(busy["Namespace"], "AWS/ECS");
    assert_eq!(
        busy["Dimensions"],
        json!([
            {"Name": "ClusterName", "Value": {"Ref": CLUSTER}},
            {"Name": "ServiceName", "Value": "kinds-app-worker-dev"},
        ])
    );
    assert_eq!(
        t["Resources"]["Few"]["Properties"]["Namespace"],
        "ECS/ContainerInsights"
    );
}

/// The problems validation reports for `stack` in every environment (a
/// project with `dev` and a protected `prod`), as the user reads them; `crates` exist
/// under services/.
fn problems(stack: &str, crates: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("stacks")).unwrap();
    std::fs::write(
        root.join("stackctl.yaml"),
        "project: kinds\nstacks:\n  app: {}\nenvironments:\n  dev:\n    region: us-east-1\n  prod:\n    region: us-east-1\n    protected: true\n",
    )
    .unwrap();
    std::fs::write(root.join("stacks/app.yaml"), stack).unwrap();
    for c in crates {
        let d = root.join("services").join(c);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("Cargo.toml"), "").unwrap();
    }
    match crate::validate::project(root) {
        Ok(_) => panic!("no problem found in\n{stack}"),
        Err(d) => d.to_string(),
    }
}

/// A stack with network `main` and service `worker` with `fields` (YAML at
/// four spaces).
fn with_worker(fields: &str) -> String {
    format!(
        "resources:
  main:
    type: network
  other:
    type: table
    attributes: {{id: string}}
    key: [id]
  worker:
    type: service
    crate: worker
{fields}"
    )
}

#[test]
fn a_service_on_an_undeclared_network_or_a_non_network_is_located() {
    let p = problems(&with_worker("    network: mian\n"), &["worker"]);
    assert!(p.contains("resources.worker.network"), "{p}");
    assert!(p.contains("stacks/app.yaml:11"), "{p}");
    assert!(p.contains("did you mean `main`?"), "{p}");
    let p = problems(&with_worker("    network: other\n"), &["worker"]);
    assert!(p.contains("resources.worker.network"), "{p}");
    assert!(p.contains("table"), "{p}");
}

#[test]
fn cpu_and_memory_not_a_fargate_pair_say_what_fits() {
    let p = problems(
        &with_worker("    network: main\n    cpu: 256\n    memory: {default: 1024, prod: 4096}\n"),
        &["worker"],
    );
    assert!(p.contains("resources.worker.memory"), "{p}");
    assert!(
        p.contains("4096 MiB of memory does not go with 256 cpu units"),
        "{p}"
    );
    assert!(p.contains("with cpu 256, memory is 512, 1024, 2048"), "{p}");
    assert!(p.contains("environment `prod`"), "{p}");
    let p = problems(
        &with_worker("    network: main\n    cpu: 300\n"),
        &["worker"],
    );
    assert!(p.contains("resources.worker.cpu"), "{p}");
    assert!(
        p.contains("300 cpu units is not a Fargate task size"),
        "{p}"
    );
}

#[test]
fn a_scaling_minimum_above_the_maximum_is_located() {
    let p = problems(
        &with_worker("    network: main\n    scaling: {min: {default: 1, prod: 8}, max: 4}\n"),
        &["worker"],
    );
    assert!(p.contains("resources.worker.scaling.min"), "{p}");
    assert!(
        p.contains("scaling `min` 8 is above `max` 4 in environment `prod`"),
        "{p}"
    );
    assert!(p.contains("lower `min` to 4 or less"), "{p}");
}

#[test]
fn a_load_balancer_that_is_not_one_is_refused() {
    let p = problems(
        &with_worker("    network: main\n    load_balancer: other\n    paths: [/x]\n"),
        &["worker"],
    );
    assert!(p.contains("resources.worker.load_balancer"), "{p}");
    assert!(p.contains("table"), "{p}");
    let p = problems(
        &with_worker("    network: main\n    paths: [/x]\n"),
        &["worker"],
    );
    assert!(p.contains("`paths:` without a `load_balancer:`"), "{p}");
}

#[test]
fn a_missing_crate_names_the_closest() {
    let p = problems(&with_worker("    network: main\n"), &["wroker"]);
    assert!(p.contains("resources.worker.crate"), "{p}");
    assert!(
        p.contains("service `worker` has no crate at services/worker"),
        "{p}"
    );
    assert!(p.contains("did you mean `crate: wroker`?"), "{p}");
}

#[test]
fn exec_in_a_protected_environment_and_wildcard_models_are_refused() {
    let p = problems(
        &with_worker("    network: main\n    exec: true\n    bedrock_models: ['anthropic.*']\n"),
        &["worker"],
    );
    assert!(
        p.contains("ECS Exec on in protected environment `prod`"),
        "{p}"
    );
    assert!(p.contains("resources.worker.bedrock_models[0]"), "{p}");
}

#[test]
fn a_grant_on_something_the_network_does_not_let_it_reach_says_which_rule() {
    let p = problems(
        "resources:
  main:
    type: network
  token:
    type: secret
    generate: {length: 32, punctuation: false}
  cache:
    type: cache
    network: main
    node_type: cache.t4g.micro
    auth_token: token
  worker:
    type: service
    crate: worker
    network: main
    grants:
      cache: [connect]
",
        &["worker"],
    );
    assert!(
        p.contains("network `main` lets no traffic from `worker` to `cache`"),
        "{p}"
    );
    assert!(
        p.contains("add `{from: worker, to: cache, port: PORT}` to its `allow:`"),
        "{p}"
    );
}

fn ecs(desired: i32, running: i32, primary: (&str, Option<&str>)) -> EcsService {
    EcsService {
        status: "ACTIVE".into(),
        desired,
        running,
        pending: 0,
        deployments: vec![crate::aws::resources::EcsDeployment {
            status: "PRIMARY".into(),
            task_definition: format!(
                "arn:aws:ecs:us-east-1:123456789012:task-definition/{}",
                primary.0
            ),
            rollout_state: primary.1.map(str::to_string),
            rollout_reason: None,
        }],
    }
}

const DEPLOYED: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/world-dev:7";

#[test]
fn running_is_judged_on_desired_and_running_counts() {
    use crate::health::Status;
    let ok = ecs(2, 2, ("world-dev:7", Some("COMPLETED")));
    assert_eq!(health_running(&ok, "c", "s").status, Status::Pass);
    let short = ecs(2, 1, ("world-dev:7", Some("COMPLETED")));
    let f = health_running(&short, "c", "s");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(
        f.observed.as_deref(),
        Some("running 1, desired 2, pending 0")
    );
    assert_eq!(
        health_running(&ecs(0, 0, ("world-dev:7", None)), "c", "s").status,
        Status::Warn
    );
    let draining = EcsService {
        status: "DRAINING".into(),
        ..ok
    };
    assert_eq!(health_running(&draining, "c", "s").status, Status::Fail);
}

#[test]
fn a_circuit_breaker_rollback_is_a_failure_not_success() {
    use crate::health::Status;
    let done = ecs(2, 2, ("world-dev:7", Some("COMPLETED")));
    assert_eq!(
        health_deployment(&done, DEPLOYED, "dev").status,
        Status::Pass
    );
    // Rolled back: an older revision is PRIMARY and COMPLETED.
    let rolled_back = ecs(2, 2, ("world-dev:6", Some("COMPLETED")));
    let f = health_deployment(&rolled_back, DEPLOYED, "dev");
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.reason.contains("runs world-dev:6, not world-dev:7"),
        "{}",
        f.reason
    );
    // The new revision's rollout failed.
    let failed = ecs(2, 2, ("world-dev:7", Some("FAILED")));
    assert_eq!(
        health_deployment(&failed, DEPLOYED, "dev").status,
        Status::Fail
    );
    let rolling = ecs(2, 1, ("world-dev:7", Some("IN_PROGRESS")));
    assert_eq!(
        health_deployment(&rolling, DEPLOYED, "dev").status,
        Status::Unknown
    );
}

/// Two services on one load balancer (the `load_balancer` kind's logical
/// ids: `LbListener`, `LbSecurityGroup`).
const ON_LB: &str = "resources:
  net:
    type: network
  lb:
    type: load_balancer
    network: net
  worlds:
    type: service
    crate: worlds
    network: net
    load_balancer: lb
    paths: [/worlds, /worlds/*]
    health_check: {path: /worlds/health, interval: 10, healthy: 3, matcher: 200-299}
  agents:
    type: service
    crate: agents
    network: net
    load_balancer: lb
    paths: [/agents/*]
    priority: 5
  busy:
    type: alarm
    target: lb
    metric: HTTPCode_Target_5XX_Count
    threshold: 5
";

#[test]
fn a_service_on_a_load_balancer_gets_a_target_group_and_a_rule_on_its_listener() {
    let t = render(ON_LB);
    let r = &t["Resources"];
    let tg = &r["WorldsTargetGroup"]["Properties"];
    assert_eq!(tg["TargetType"], "ip");
    assert_eq!(tg["Port"], 8080);
    assert_eq!(tg["VpcId"], json!({"Ref": "Net"}));
    assert_eq!(tg["HealthCheckPath"], "/worlds/health");
    assert_eq!(tg["HealthCheckIntervalSeconds"], 10);
    assert_eq!(tg["HealthyThresholdCount"], 3);
    assert_eq!(tg["Matcher"]["HttpCode"], "200-299");
    assert_eq!(tg["Name"], "kinds-app-worlds-dev");
    let rule = &r["WorldsListenerRule"]["Properties"];
    assert_eq!(rule["ListenerArn"], json!({"Ref": "LbListener"}));
    assert_eq!(
        rule["Conditions"][0]["PathPatternConfig"]["Values"],
        json!(["/worlds", "/worlds/*"])
    );
    assert_eq!(
        rule["Actions"][0]["TargetGroupArn"],
        json!({"Ref": "WorldsTargetGroup"})
    );
    // `agents` took 5; `worlds` the first default.
    assert_eq!(r["AgentsListenerRule"]["Properties"]["Priority"], 5);
    assert_eq!(rule["Priority"], 100);
    // Only the load balancer's group reaches the port.
    let ingress = &r["WorldsSecurityGroup"]["Properties"]["SecurityGroupIngress"];
    assert_eq!(ingress.as_array().unwrap().len(), 1);
    assert_eq!(
        ingress[0]["SourceSecurityGroupId"],
        json!({"Fn::GetAtt": ["LbSecurityGroup", "GroupId"]})
    );
    assert_eq!(ingress[0]["FromPort"], 8080);
    let svc = &r["Worlds"];
    assert_eq!(svc["DependsOn"], json!(["WorldsListenerRule"]));
    assert_eq!(
        svc["Properties"]["LoadBalancers"],
        json!([{"ContainerName": "worlds", "ContainerPort": 8080, "TargetGroupArn": {"Ref": "WorldsTargetGroup"}}])
    );
    assert_eq!(svc["Properties"]["HealthCheckGracePeriodSeconds"], 60);
}

#[test]
fn two_services_taking_one_priority_on_a_listener_are_refused() {
    let p = problems(
        // Defaults skip the priorities taken; two set alike clash.
        &ON_LB.replace(
            "    paths: [/worlds, /worlds/*]\n",
            "    paths: [/worlds, /worlds/*]\n    priority: 5\n",
        ),
        &["worlds", "agents"],
    );
    assert!(
        p.contains(
            "service `worlds` and service `agents` both take priority 5 on load balancer `lb`"
        ) || p.contains(
            "service `agents` and service `worlds` both take priority 5 on load balancer `lb`"
        ),
        "{p}"
    );
    assert!(p.contains("resources.agents.priority"), "{p}");
}
