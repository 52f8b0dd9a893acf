//! `network`: a VPC with a public and a private subnet in each of N
//! availability zones, an internet gateway, NAT (one per zone, one shared,
//! or none; per environment), gateway endpoints for S3 and DynamoDB on the
//! private routes, interface endpoints where declared, flow logs, and the
//! traffic allowed between what sits on it, written as intent:
//! `allow: [{from: functions, to: db, port: 5432}]`.
//!
//! What sits on a network (a function with `network: main`, later a
//! database or a cache) has a security group of its own, the
//! [`SECURITY_GROUP`] part of its logical id, that lets nothing in; each
//! `allow` rule adds the ingress on the target's group and the egress on
//! the source's. Locally (moto), a stack holding route tables cannot be
//! deleted (moto never deletes them, so the VPC stays in use): in an
//! emulator environment the VPC is retained, and the stack goes.

use super::{Kind, Part, Resource};
use crate::limits;
use crate::model::source::{index, join};
use crate::model::value::PerEnv;
use crate::names::pascal;
use crate::render::context::Builder;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;

/// A VPC across availability zones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Physical name pattern (the VPC's `Name` tag).
    #[serde(default)]
    pub name: Option<String>,
    /// The VPC's IPv4 range: a private range, /16 to /24 (default
    /// `10.0.0.0/16`). Each subnet is a sixteenth of it.
    #[serde(default)]
    pub cidr: Option<String>,
    /// Availability zones, 2–6 (default 2).
    #[serde(default)]
    pub zones: Option<PerEnv<u32>>,
    /// `per_zone`, `shared` or `none` (default: `per_zone` in protected
    /// environments, `shared` elsewhere).
    #[serde(default)]
    pub nat: Option<PerEnv<Nat>>,
    /// Interface endpoints in the private subnets, so traffic to these
    /// services stays in the VPC.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Traffic allowed between what sits on the network.
    #[serde(default)]
    pub allow: Vec<Allow>,
    /// VPC flow logs to CloudWatch Logs (default: in protected environments).
    #[serde(default)]
    pub flow_logs: Option<PerEnv<bool>>,
}

/// How private subnets reach the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nat {
    /// One NAT gateway in each zone: a zone's outage leaves the others online.
    PerZone,
    /// One NAT gateway for every zone: cheaper, one zone's outage cuts all.
    Shared,
    /// No internet from private subnets (AWS services through endpoints only).
    None,
}

/// An AWS service reached through an interface endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// Secrets Manager.
    Secretsmanager,
    /// SQS.
    Sqs,
    /// SNS.
    Sns,
    /// KMS.
    Kms,
    /// CloudWatch Logs.
    Logs,
    /// CloudWatch metrics.
    Monitoring,
    /// Systems Manager.
    Ssm,
    /// STS.
    Sts,
    /// Lambda.
    Lambda,
    /// EventBridge.
    Events,
    /// ECR's API.
    EcrApi,
    /// ECR's image layers.
    EcrDkr,
}

impl Endpoint {
    /// The service name's last part (`com.amazonaws.REGION.<this>`).
    pub fn service(self) -> &'static str {
        match self {
            Endpoint::Secretsmanager => "secretsmanager",
            Endpoint::Sqs => "sqs",
            Endpoint::Sns => "sns",
            Endpoint::Kms => "kms",
            Endpoint::Logs => "logs",
            Endpoint::Monitoring => "monitoring",
            Endpoint::Ssm => "ssm",
            Endpoint::Sts => "sts",
            Endpoint::Lambda => "lambda",
            Endpoint::Events => "events",
            Endpoint::EcrApi => "ecr.api",
            Endpoint::EcrDkr => "ecr.dkr",
        }
    }
}

/// Traffic allowed from one member (or every function) to another.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// `functions` (every function on the network) or a resource key.
    pub from: String,
    /// A resource key on the network.
    pub to: String,
    /// TCP port.
    pub port: u16,
}

/// The security group of a resource on a network.
pub const SECURITY_GROUP: Part = Part {
    name: "security_group",
    suffix: "SecurityGroup",
};
const INTERNET_GATEWAY: Part = Part {
    name: "internet_gateway",
    suffix: "InternetGateway",
};
const GATEWAY_ATTACHMENT: Part = Part {
    name: "gateway_attachment",
    suffix: "GatewayAttachment",
};
const PUBLIC_ROUTES: Part = Part {
    name: "public_routes",
    suffix: "PublicRoutes",
};
const PUBLIC_ROUTE: Part = Part {
    name: "public_route",
    suffix: "PublicRoute",
};
const S3_ENDPOINT: Part = Part {
    name: "s3_endpoint",
    suffix: "S3Endpoint",
};
const DYNAMODB_ENDPOINT: Part = Part {
    name: "dynamodb_endpoint",
    suffix: "DynamodbEndpoint",
};
const ENDPOINT_SECURITY_GROUP: Part = Part {
    name: "endpoint_security_group",
    suffix: "EndpointSecurityGroup",
};
const FLOW_LOGS: Part = Part {
    name: "flow_logs",
    suffix: "FlowLogs",
};
const FLOW_LOG_GROUP: Part = Part {
    name: "flow_log_group",
    suffix: "FlowLogGroup",
};
const FLOW_LOG_ROLE: Part = Part {
    name: "flow_log_role",
    suffix: "FlowLogRole",
};
/// Per zone `N` (1-based), these parts are followed by `N`.
const PUBLIC_SUBNET: Part = Part {
    name: "public",
    suffix: "Public",
};
const PRIVATE_SUBNET: Part = Part {
    name: "private",
    suffix: "Private",
};
const PUBLIC_ASSOCIATION: Part = Part {
    name: "public_association",
    suffix: "PublicAssociation",
};
const PRIVATE_ROUTES: Part = Part {
    name: "private_routes",
    suffix: "PrivateRoutes",
};
const PRIVATE_ASSOCIATION: Part = Part {
    name: "private_association",
    suffix: "PrivateAssociation",
};
const PRIVATE_ROUTE: Part = Part {
    name: "private_route",
    suffix: "PrivateRoute",
};
const NAT_GATEWAY: Part = Part {
    name: "nat",
    suffix: "Nat",
};
const NAT_ADDRESS: Part = Part {
    name: "nat_address",
    suffix: "NatAddress",
};

/// The parts that exist once per zone.
const ZONE_PARTS: &[Part] = &[
    PUBLIC_SUBNET,
    PRIVATE_SUBNET,
    PUBLIC_ASSOCIATION,
    PRIVATE_ROUTES,
    PRIVATE_ASSOCIATION,
    PRIVATE_ROUTE,
];

/// Zones when `zones:` is not set.
const DEFAULT_ZONES: u32 = 2;
/// The VPC's range when `cidr:` is not set.
const DEFAULT_CIDR: &str = "10.0.0.0/16";

/// `from: functions`: every function on the network.
pub const FUNCTIONS: &str = "functions";

impl Network {
    /// Zones in `env` (unchecked: the default where unreadable).
    fn zones_in(&self, env: &str) -> u32 {
        self.zones
            .as_ref()
            .and_then(|z| z.get(env))
            .unwrap_or(DEFAULT_ZONES)
    }
}

/// The logical ids of the private subnets of network `key` in `env`, for
/// what sits on it (`VpcConfig.SubnetIds`, a DB subnet group).
pub fn private_subnets(net: &Network, key: &str, env: &str) -> Vec<String> {
    let l = pascal(key);
    (1..=net.zones_in(env))
        .map(|i| format!("{}{i}", PRIVATE_SUBNET.of(&l)))
        .collect()
}

/// The logical ids of the public subnets of network `key` in `env`, for
/// what faces the internet (a public load balancer).
pub fn public_subnets(net: &Network, key: &str, env: &str) -> Vec<String> {
    let l = pascal(key);
    (1..=net.zones_in(env))
        .map(|i| format!("{}{i}", PUBLIC_SUBNET.of(&l)))
        .collect()
}

/// Why function `function` (on network `on`, if any) cannot reach `target`,
/// which sits on network `net`: not on that network, or no `allow` rule
/// from it (or from `functions`) to the target. With the hint that fixes it.
pub fn unreachable(
    stack: &crate::model::Stack,
    net: &str,
    function: &str,
    on: Option<&str>,
    target: &str,
) -> Option<(String, String)> {
    unreachable_by(stack, net, "function", function, on, target)
}

/// As [`unreachable`], for member `who` of any kind (`noun`: `function`,
/// `service`); only functions are among `from: functions`.
pub fn unreachable_by(
    stack: &crate::model::Stack,
    net: &str,
    noun: &str,
    who: &str,
    on: Option<&str>,
    target: &str,
) -> Option<(String, String)> {
    if on != Some(net) {
        return Some((
            format!("`{target}` is on network `{net}`, and {noun} `{who}` is not"),
            format!("add `network: {net}` to `{who}`"),
        ));
    }
    let Some(Resource::Network(n)) = stack.resources.get(net) else {
        // The missing network is reported where it is named.
        return None;
    };
    let allowed = n
        .allow
        .iter()
        .any(|a| a.to == target && (a.from == who || (noun == "function" && a.from == FUNCTIONS)));
    let or_functions = if noun == "function" {
        " (or `from: functions`)"
    } else {
        ""
    };
    (!allowed).then(|| {
        (
            format!("network `{net}` lets no traffic from `{who}` to `{target}`"),
            format!(
                "add `{{from: {who}, to: {target}, port: PORT}}`{or_functions} to its `allow:`"
            ),
        )
    })
}

/// The resources of `stack` on network `net` (their keys, in key order).
fn members<'s>(stack: &'s crate::model::Stack, net: &str) -> Vec<&'s str> {
    stack
        .resources
        .iter()
        .filter(|(_, r)| r.network() == Some(net))
        .map(|(k, _)| k.as_str())
        .collect()
}

/// A parsed IPv4 range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    base: u32,
    prefix: u32,
}

impl Cidr {
    fn parse(text: &str) -> Result<Self, String> {
        let (ip, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not an IPv4 range (`A.B.C.D/N`)"))?;
        let ip: std::net::Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
        let prefix: u32 = prefix
            .parse()
            .map_err(|_| format!("`/{prefix}` is not a prefix length"))?;
        if !(16..=24).contains(&prefix) {
            return Err(format!(
                "a /{prefix} VPC is out of range: stackctl splits it into 16 subnets, so /16 to /24"
            ));
        }
        if !(ip.is_private()) {
            return Err(format!(
                "`{text}` is not a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)"
            ));
        }
        let base = u32::from(ip);
        let mask = u32::MAX << (32 - prefix);
        if base & !mask != 0 {
            let network = std::net::Ipv4Addr::from(base & mask);
            return Err(format!(
                "`{text}` has host bits set; the range starts at {network}/{prefix}"
            ));
        }
        Ok(Cidr { base, prefix })
    }

    /// The `n`th of the 16 equal subnets.
    fn sixteenth(self, n: u32) -> String {
        let prefix = self.prefix + 4;
        let size = 1u32 << (32 - prefix);
        format!(
            "{}/{prefix}",
            std::net::Ipv4Addr::from(self.base + n * size)
        )
    }
}

impl Kind for Network {
    const NAME: &'static str = "network";
    const TEMPLATE_FILE: &'static str = "network.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/network.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] =
        &["id", "cidr", "private_subnets", "public_subnets"];

    fn name_pattern(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn name_problem(name: &str) -> Option<String> {
        // A tag value: 256 characters of anything.
        (name.len() > 256).then(|| format!("network name `{name}` is longer than 256 characters"))
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        cx.claim(&l, path);
        let cidr_text = self
            .cidr
            .clone()
            .unwrap_or_else(|| DEFAULT_CIDR.to_string());
        let cidr = match Cidr::parse(&cidr_text) {
            Ok(c) => c,
            Err(problem) => {
                cx.error_hint(&join(path, "cidr"), problem, "e.g. `cidr: 10.20.0.0/16`");
                Cidr::parse(DEFAULT_CIDR).expect("the default range parses")
            }
        };
        let zones = cx
            .ranged(
                &self.zones,
                path,
                "zones",
                "a zone count of",
                &limits::NETWORK_ZONES,
            )
            .unwrap_or(DEFAULT_ZONES)
            .clamp(*limits::NETWORK_ZONES.start(), *limits::NETWORK_ZONES.end());
        let protected = cx.project.file.environments[cx.env].protected;
        let nat = match &self.nat {
            Some(n) => cx.per_env(n, &join(path, "nat")).unwrap_or(Nat::Shared),
            None if protected => Nat::PerZone,
            None => Nat::Shared,
        };
        let flow_logs = match &self.flow_logs {
            Some(f) => cx.per_env(f, &join(path, "flow_logs")).unwrap_or(true),
            None => protected,
        };
        let mut fixed = vec![
            INTERNET_GATEWAY,
            GATEWAY_ATTACHMENT,
            PUBLIC_ROUTES,
            PUBLIC_ROUTE,
            S3_ENDPOINT,
            DYNAMODB_ENDPOINT,
        ];
        if !self.endpoints.is_empty() {
            fixed.push(ENDPOINT_SECURITY_GROUP);
        }
        if flow_logs {
            fixed.extend([FLOW_LOGS, FLOW_LOG_GROUP, FLOW_LOG_ROLE]);
        }
        for p in &fixed {
            cx.claim(&p.of(&l), path);
        }
        let mut zone_list = Vec::new();
        for i in 1..=zones {
            let id = |p: Part| format!("{}{i}", p.of(&l));
            for p in ZONE_PARTS {
                cx.claim(&id(*p), path);
            }
            let has_nat = match nat {
                Nat::PerZone => true,
                Nat::Shared => i == 1,
                Nat::None => false,
            };
            if has_nat {
                cx.claim(&id(NAT_GATEWAY), path);
                cx.claim(&id(NAT_ADDRESS), path);
            }
            let nat_for_zone = match nat {
                Nat::PerZone => Some(id(NAT_GATEWAY)),
                Nat::Shared => Some(format!("{}1", NAT_GATEWAY.of(&l))),
                Nat::None => None,
            };
            zone_list.push(json!({
                "index": i - 1,
                "number": i,
                "public": id(PUBLIC_SUBNET),
                "private": id(PRIVATE_SUBNET),
                "public_association": id(PUBLIC_ASSOCIATION),
                "private_association": id(PRIVATE_ASSOCIATION),
                "private_routes": id(PRIVATE_ROUTES),
                "private_route": id(PRIVATE_ROUTE),
                "public_cidr": cidr.sixteenth(i - 1),
                "private_cidr": cidr.sixteenth(8 + i - 1),
                "nat": has_nat.then(|| json!({"logical": id(NAT_GATEWAY), "address": id(NAT_ADDRESS)})),
                "nat_route": nat_for_zone,
            }));
        }
        let mut endpoints = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let logical = format!("{l}{}Endpoint", pascal(&e.service().replace('.', "_")));
            if !seen.insert(*e) {
                cx.error_hint(
                    &index(&join(path, "endpoints"), i),
                    format!("endpoint `{}` is listed twice", e.service()),
                    "list each service once",
                );
                continue;
            }
            cx.claim(&logical, &index(&join(path, "endpoints"), i));
            endpoints.push(json!({"logical": logical, "service": e.service()}));
        }
        let rules = allow_rules(cx, self, key, &l, path);
        let name = cx.name(key);
        json!({
            "ids": super::ids(&l, &fixed),
            "logical": l,
            "name": name,
            "cidr": cidr_text,
            "zones": zone_list,
            "endpoints": endpoints,
            "rules": rules,
            "flow_logs": flow_logs,
            "flow_log_group_name": format!("/aws/vpc/{name}"),
            "log_retention_days": cx.settings.log_retention_days,
            // moto never deletes route tables, so the VPC stays in use and
            // the stack cannot go: locally the VPC is left behind.
            "vpc_deletion_policy": super::DeletionPolicy::retaining(cx.emulated()),
        })
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        let zones = self.zones_in(cx.env);
        let subnets = |p: Part| -> Json {
            let refs: Vec<Json> = (1..=zones)
                .map(|i| json!({"Ref": format!("{}{i}", p.of(&l))}))
                .collect();
            json!({"Fn::Join": [",", refs]})
        };
        match attr {
            "id" => json!({"Ref": l}),
            "cidr" => json!({"Fn::GetAtt": [l, "CidrBlock"]}),
            "private_subnets" => subnets(PRIVATE_SUBNET),
            "public_subnets" => subnets(PUBLIC_SUBNET),
            // Not an attribute of a network (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }
}

/// The `allow:` rules of network `key`, checked: one per (source, target,
/// port), each an ingress on the target's group and an egress on the
/// source's.
fn allow_rules(cx: &mut Builder, net: &Network, key: &str, l: &str, path: &str) -> Vec<Json> {
    let stack = cx.stack;
    let on_net = members(stack, key);
    let functions: Vec<&str> = on_net
        .iter()
        .copied()
        .filter(|m| matches!(stack.resources.get(*m), Some(Resource::Function(_))))
        .collect();
    let mut rules = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, a) in net.allow.iter().enumerate() {
        let apath = index(&join(path, "allow"), i);
        let member = |cx: &mut Builder, which: &str, field: &str| -> bool {
            let fpath = join(&apath, field);
            match stack.resources.get(which) {
                Some(r) if r.network() == Some(key) => true,
                Some(r) => {
                    cx.error_hint(
                        &fpath,
                        format!("{} `{which}` is not on network `{key}`", r.kind()),
                        format!("add `network: {key}` to `{which}`"),
                    );
                    false
                }
                None => {
                    let mut names: Vec<&str> = on_net.clone();
                    if field == "from" {
                        names.push(FUNCTIONS);
                    }
                    let d = stack
                        .source
                        .error(&fpath, format!("`{which}` is not on network `{key}`"))
                        .suggest(which, names);
                    cx.diags.push(d);
                    false
                }
            }
        };
        let sources: Vec<&str> = if a.from == FUNCTIONS {
            if functions.is_empty() {
                cx.error_hint(
                    &join(&apath, "from"),
                    format!("no function is on network `{key}`"),
                    format!("add `network: {key}` to the functions that need `{}`", a.to),
                );
            }
            functions.clone()
        } else if member(cx, &a.from, "from") {
            vec![a.from.as_str()]
        } else {
            Vec::new()
        };
        if !member(cx, &a.to, "to") {
            continue;
        }
        if a.port == 0 {
            cx.error_hint(
                &join(&apath, "port"),
                "port 0 is not a TCP port",
                "e.g. `port: 5432` for PostgreSQL",
            );
            continue;
        }
        // A member bound to an existing server in this environment is not
        // in the VPC here, and has no group to open.
        if cx.replaced(&a.to).is_some() {
            continue;
        }
        for from in sources {
            if from == a.to || cx.replaced(from).is_some() {
                continue;
            }
            if !seen.insert((from.to_string(), a.to.clone(), a.port)) {
                continue;
            }
            let (fl, tl) = (pascal(from), pascal(&a.to));
            let base = format!("{l}{fl}To{tl}{}", a.port);
            cx.claim(&format!("{base}In"), &apath);
            cx.claim(&format!("{base}Out"), &apath);
            rules.push(json!({
                "ingress": format!("{base}In"),
                "egress": format!("{base}Out"),
                "from": SECURITY_GROUP.of(&fl),
                "to": SECURITY_GROUP.of(&tl),
                "from_key": from,
                "to_key": a.to,
                "port": a.port,
            }));
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, statement};
    use super::*;

    #[test]
    fn ranges_split_into_sixteen_subnets() {
        let c = Cidr::parse("10.20.0.0/16").unwrap();
        assert_eq!(c.sixteenth(0), "10.20.0.0/20");
        assert_eq!(c.sixteenth(8), "10.20.128.0/20");
        let c = Cidr::parse("192.168.4.0/24").unwrap();
        assert_eq!(c.sixteenth(15), "192.168.4.240/28");
        assert!(Cidr::parse("10.0.0.1/16")
            .unwrap_err()
            .contains("10.0.0.0/16"));
        assert!(Cidr::parse("8.8.0.0/16")
            .unwrap_err()
            .contains("not a private range"));
        assert!(Cidr::parse("10.0.0.0/8")
            .unwrap_err()
            .contains("/16 to /24"));
        assert!(Cidr::parse("10.0.0.0").is_err());
    }

    const STACK: &str = "resources:
  main:
    type: network
    cidr: 10.20.0.0/16
    zones: 3
    endpoints: [secretsmanager]
    allow:
      - {from: functions, to: worker, port: 8080}
      - {from: api, to: worker, port: 8080}
  api:
    type: function
    crate: api
    network: main
  worker:
    type: function
    crate: worker
    network: main
";

    #[test]
    fn a_network_lays_out_zones_nat_endpoints_and_rules() {
        let t = render(STACK);
        let r = &t["Resources"];
        assert_eq!(r["Main"]["Properties"]["CidrBlock"], "10.20.0.0/16");
        assert_eq!(
            r["MainPrivate3"]["Properties"]["CidrBlock"],
            "10.20.160.0/20"
        );
        // dev is not protected: one NAT gateway for every zone.
        assert!(r.get("MainNat1").is_some() && r.get("MainNat2").is_none());
        assert_eq!(
            r["MainPrivateRoute3"]["Properties"]["NatGatewayId"],
            json!({"Ref": "MainNat1"})
        );
        assert_eq!(
            r["MainSecretsmanagerEndpoint"]["Properties"]["ServiceName"],
            json!({"Fn::Sub": "com.amazonaws.${AWS::Region}.secretsmanager"})
        );
        // `functions` and `api` name the same source once; the worker
        // does not need a rule to itself.
        let ingress: Vec<&String> = r
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.ends_with("In") && k.starts_with("Main"))
            .collect();
        assert_eq!(ingress, ["MainApiToWorker8080In"]);
        let rule = &r["MainApiToWorker8080In"]["Properties"];
        assert_eq!(
            rule["GroupId"],
            json!({"Fn::GetAtt": ["WorkerSecurityGroup", "GroupId"]})
        );
        assert_eq!(
            rule["SourceSecurityGroupId"],
            json!({"Fn::GetAtt": ["ApiSecurityGroup", "GroupId"]})
        );
    }

    #[test]
    fn a_function_on_a_network_gets_private_subnets_its_group_and_eni_rights() {
        let t = render(STACK);
        let f = &t["Resources"]["Api"]["Properties"]["VpcConfig"];
        assert_eq!(
            f["SubnetIds"],
            json!([{"Ref": "MainPrivate1"}, {"Ref": "MainPrivate2"}, {"Ref": "MainPrivate3"}])
        );
        assert_eq!(
            f["SecurityGroupIds"],
            json!([{"Fn::GetAtt": ["ApiSecurityGroup", "GroupId"]}])
        );
        let eni = statement(&t, "Api", "ManageNetworkInterfaces");
        assert!(eni["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("ec2:CreateNetworkInterface")));
    }
}
