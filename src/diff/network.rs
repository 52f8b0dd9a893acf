//! The network section of a diff: security group rules a deploy adds and
//! removes, and which of them broaden access.
//!
//! Rules come from `AWS::EC2::SecurityGroup` (`SecurityGroupIngress`,
//! `SecurityGroupEgress`) and from the standalone
//! `AWS::EC2::SecurityGroupIngress` / `SecurityGroupEgress` resources. A
//! rule is (direction, group, protocol, ports, peer); its description is
//! not part of it. Security groups only allow, so a removed rule never
//! broadens; an added rule does unless a deployed rule of the same resource
//! already covers it (protocol `-1` covers every protocol, a port range its
//! sub-ranges, a CIDR the CIDRs inside it).
//!
//! Not modelled: the allow-all egress rule AWS adds to a group declared
//! without `SecurityGroupEgress`.

use super::access::{changed_parts, Broadening, BroadeningKind, Change};
use super::keyed::scalar_text;
use super::show::{inline, intrinsic, Quote};
use super::Action;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Which way traffic flows through a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Into the group.
    Ingress,
    /// Out of the group.
    Egress,
}

/// The security group rules of one resource that a deploy adds or removes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkChange {
    /// The resource's key under `Resources`.
    pub logical_id: String,
    /// Its type (the rendered one when it exists).
    pub resource_type: String,
    /// Whether the resource itself is added, modified or removed.
    pub action: Action,
    /// Added and removed rules: ingress first, removed before added.
    pub rules: Vec<NetworkRule>,
}

/// One security group rule that appears or disappears.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkRule {
    /// Added or removed.
    pub change: Change,
    /// Ingress or egress.
    pub direction: Direction,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `all`, or the protocol as written;
    /// `(unreadable)` for a rule stackctl cannot read (then `peer` holds
    /// its text).
    pub protocol: String,
    /// `443`, `1024-65535`, `all`, or for ICMP `type 8 code 0`; empty for
    /// all protocols.
    pub ports: String,
    /// `0.0.0.0/0`, `sg <group>`, `prefix list <id>`.
    pub peer: String,
    /// The group a standalone rule resource attaches to.
    pub group: Option<String>,
    /// The rule's description.
    pub description: Option<String>,
    /// How it broadens access; `None` when it does not.
    pub broadening: Option<BroadeningKind>,
}

impl NetworkRule {
    /// The rule on one line: `ingress tcp 443 from 0.0.0.0/0`, `egress all
    /// to sg !Ref Db (group !Ref App)`.
    pub fn summary(&self) -> String {
        let (direction, towards) = match self.direction {
            Direction::Ingress => ("ingress", "from"),
            Direction::Egress => ("egress", "to"),
        };
        let mut s = format!("{direction} {}", self.protocol);
        if !self.ports.is_empty() {
            s = format!("{s} {}", self.ports);
        }
        s = format!("{s} {towards} {}", self.peer);
        if let Some(group) = &self.group {
            s = format!("{s} (group {group})");
        }
        s
    }
}

impl NetworkChange {
    /// The broadening rules, as reasons.
    pub fn broadening(&self) -> impl Iterator<Item = Broadening> + '_ {
        self.rules.iter().filter_map(|r| {
            r.broadening.map(|kind| Broadening {
                logical_id: self.logical_id.clone(),
                resource_type: self.resource_type.clone(),
                kind,
                detail: r.summary(),
            })
        })
    }
}

/// Compares the security group rules of two templates' resources; `before`
/// is `None` when the stack is not deployed (every rule is added).
pub fn diff_network(before: Option<&Value>, after: &Value) -> Vec<NetworkChange> {
    changed_parts(before, after, rules, |a, b| a.keys().eq(b.keys()))
        .into_iter()
        .map(|c| NetworkChange {
            rules: compare(&c.before, &c.after),
            logical_id: c.logical_id,
            resource_type: c.resource_type,
            action: c.action,
        })
        .collect()
}

/// Whom a rule lets through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    Cidr(String),
    Group(String),
    PrefixList(String),
    None,
}

impl Peer {
    fn text(&self) -> String {
        match self {
            Peer::Cidr(c) => c.clone(),
            Peer::Group(g) => format!("sg {g}"),
            Peer::PrefixList(p) => format!("prefix list {p}"),
            Peer::None => "(no peer)".to_string(),
        }
    }
}

/// A rule as compared: everything but its description.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    direction: Direction,
    /// The group of a standalone rule resource; empty inside a group.
    group: String,
    protocol: String,
    from: String,
    to: String,
    peer: Peer,
    /// false: a rule stackctl cannot read, its text in the peer.
    readable: bool,
}

const UNREADABLE: &str = "(unreadable)";

fn bare(v: &Value) -> String {
    inline(v, Quote::Never)
}

fn plain_object(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object().filter(|_| intrinsic(v).is_none())
}

/// The rules a resource declares, each with its description; none for a
/// type without rules.
fn rules(resource: &Value) -> BTreeMap<Rule, Option<String>> {
    let mut out = BTreeMap::new();
    let ty = resource
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let empty = Map::new();
    let props = resource
        .get("Properties")
        .and_then(plain_object)
        .unwrap_or(&empty);
    let group = || {
        props
            .get("GroupId")
            .or_else(|| props.get("GroupName"))
            .map(bare)
            .unwrap_or_default()
    };
    match ty {
        "AWS::EC2::SecurityGroup" => {
            for (key, direction) in [
                ("SecurityGroupIngress", Direction::Ingress),
                ("SecurityGroupEgress", Direction::Egress),
            ] {
                let list = match props.get(key) {
                    None => Vec::new(),
                    Some(Value::Array(items)) => items.iter().collect(),
                    Some(one) => vec![one],
                };
                for item in list {
                    let (rule, description) = rule(direction, String::new(), item);
                    out.insert(rule, description);
                }
            }
        }
        "AWS::EC2::SecurityGroupIngress" => {
            let (rule, description) =
                rule(Direction::Ingress, group(), &Value::Object(props.clone()));
            out.insert(rule, description);
        }
        "AWS::EC2::SecurityGroupEgress" => {
            let (rule, description) =
                rule(Direction::Egress, group(), &Value::Object(props.clone()));
            out.insert(rule, description);
        }
        _ => {}
    }
    out
}

/// One rule and its description.
fn rule(direction: Direction, group: String, v: &Value) -> (Rule, Option<String>) {
    let Some(map) = plain_object(v) else {
        let rule = Rule {
            direction,
            group,
            protocol: UNREADABLE.to_string(),
            from: String::new(),
            to: String::new(),
            peer: Peer::Cidr(bare(v)),
            readable: false,
        };
        return (rule, None);
    };
    let text = |key: &str| {
        map.get(key)
            .map(|v| scalar_text(v).unwrap_or_else(|| bare(v)))
    };
    let protocol = match text("IpProtocol").map(|p| p.to_lowercase()).as_deref() {
        Some("-1" | "all") => "all".to_string(),
        Some("6") => "tcp".to_string(),
        Some("17") => "udp".to_string(),
        Some("1") => "icmp".to_string(),
        Some("58") => "icmpv6".to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let (from, to) = if protocol == "all" {
        (String::new(), String::new())
    } else {
        (
            text("FromPort").unwrap_or_default(),
            text("ToPort").unwrap_or_default(),
        )
    };
    let peer = [
        ("CidrIp", Peer::Cidr as fn(String) -> Peer),
        ("CidrIpv6", Peer::Cidr),
        ("SourceSecurityGroupId", Peer::Group),
        ("SourceSecurityGroupName", Peer::Group),
        ("DestinationSecurityGroupId", Peer::Group),
        ("SourcePrefixListId", Peer::PrefixList),
        ("DestinationPrefixListId", Peer::PrefixList),
    ]
    .into_iter()
    .find_map(|(key, peer)| text(key).map(peer))
    .unwrap_or(Peer::None);
    let rule = Rule {
        direction,
        group,
        protocol,
        from,
        to,
        peer,
        readable: true,
    };
    (rule, text("Description"))
}

/// What differs between two sets of rules.
fn compare(
    old: &BTreeMap<Rule, Option<String>>,
    new: &BTreeMap<Rule, Option<String>>,
) -> Vec<NetworkRule> {
    let mut rows = Vec::new();
    for (rule, description) in old {
        if !new.contains_key(rule) {
            rows.push(row(Change::Removed, rule, description, None));
        }
    }
    for (rule, description) in new {
        if !old.contains_key(rule) {
            let kind = broadens(rule, old.keys());
            rows.push(row(Change::Added, rule, description, kind));
        }
    }
    rows.sort_by(|a, b| {
        (
            a.direction,
            a.change,
            &a.group,
            &a.protocol,
            &a.ports,
            &a.peer,
        )
            .cmp(&(
                b.direction,
                b.change,
                &b.group,
                &b.protocol,
                &b.ports,
                &b.peer,
            ))
    });
    rows
}

fn row(
    change: Change,
    rule: &Rule,
    description: &Option<String>,
    broadening: Option<BroadeningKind>,
) -> NetworkRule {
    NetworkRule {
        change,
        direction: rule.direction,
        protocol: rule.protocol.clone(),
        ports: ports(rule),
        peer: rule.peer.text(),
        group: (!rule.group.is_empty()).then(|| rule.group.clone()),
        description: description.clone(),
        broadening,
    }
}

/// `443`, `1024-65535`, `all`, `type 8 code 0`.
fn ports(rule: &Rule) -> String {
    let (from, to) = (rule.from.as_str(), rule.to.as_str());
    match rule.protocol.as_str() {
        "all" | UNREADABLE => String::new(),
        "icmp" | "icmpv6" => match (from, to) {
            ("-1" | "", _) => "all".to_string(),
            (t, "-1" | "") => format!("type {t}"),
            (t, c) => format!("type {t} code {c}"),
        },
        _ => match (from, to) {
            ("-1", _) | ("", "") | ("0", "65535") => "all".to_string(),
            (f, t) if f == t || t.is_empty() => f.to_string(),
            (f, t) => format!("{f}-{t}"),
        },
    }
}

/// How an added rule broadens access, given the deployed rules.
fn broadens<'r>(t: &Rule, old: impl Iterator<Item = &'r Rule>) -> Option<BroadeningKind> {
    if !t.readable {
        return Some(BroadeningKind::Unreadable);
    }
    let prior: Vec<&Rule> = old
        .filter(|b| b.readable && b.direction == t.direction && b.group == t.group)
        .collect();
    if prior.iter().any(|b| covers(b, t)) {
        return None;
    }
    if let Peer::Cidr(c) = &t.peer {
        if cidr(c).is_some_and(|n| n.prefix == 0) {
            return Some(BroadeningKind::OpenToInternet);
        }
    }
    if prior.iter().any(|b| peer_covers(&b.peer, &t.peer)) {
        return Some(BroadeningKind::WiderPorts);
    }
    Some(match &t.peer {
        Peer::Cidr(c) => {
            let wider = prior
                .iter()
                .any(|b| matches!(&b.peer, Peer::Cidr(x) if cidr_contains(c, x)));
            if wider || cidr(c).is_some_and(|n| n.wide()) {
                BroadeningKind::WiderCidr
            } else {
                BroadeningKind::NewRule
            }
        }
        Peer::Group(_) | Peer::PrefixList(_) => BroadeningKind::NewSourceGroup,
        Peer::None => BroadeningKind::NewRule,
    })
}

/// Whether everything `t` lets through, `b` already did.
fn covers(b: &Rule, t: &Rule) -> bool {
    let protocol = b.protocol == "all" || b.protocol == t.protocol;
    let ports = b.protocol == "all" || ports_cover(b, t);
    protocol && ports && peer_covers(&b.peer, &t.peer)
}

fn ports_cover(b: &Rule, t: &Rule) -> bool {
    if (b.from.as_str(), b.to.as_str()) == (t.from.as_str(), t.to.as_str()) {
        return true;
    }
    let number = |s: &str| s.parse::<i64>().ok();
    let (Some(bf), Some(bt), Some(tf), Some(tt)) = (
        number(&b.from),
        number(&b.to),
        number(&t.from),
        number(&t.to),
    ) else {
        return false;
    };
    if matches!(b.protocol.as_str(), "icmp" | "icmpv6") {
        // Type and code: -1 is any.
        return (bf == -1 || bf == tf) && (bt == -1 || bt == tt);
    }
    let range = |f: i64, t: i64| if f == -1 { (0, 65535) } else { (f, t) };
    let ((bf, bt), (tf, tt)) = (range(bf, bt), range(tf, tt));
    bf <= tf && tt <= bt
}

fn peer_covers(b: &Peer, t: &Peer) -> bool {
    match (b, t) {
        (Peer::Cidr(x), Peer::Cidr(y)) => x == y || cidr_contains(x, y),
        _ => b == t,
    }
}

/// A parsed CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    v6: bool,
    address: u128,
    prefix: u32,
}

impl Cidr {
    fn bits(self) -> u32 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    /// `/8` or wider (IPv4), `/32` or wider (IPv6).
    fn wide(self) -> bool {
        self.prefix <= if self.v6 { 32 } else { 8 }
    }

    fn network(self, prefix: u32) -> u128 {
        if prefix == 0 {
            return 0;
        }
        let width = self.bits();
        let all = if self.v6 {
            u128::MAX
        } else {
            u128::from(u32::MAX)
        };
        self.address & (all << (width - prefix)) & all
    }
}

fn cidr(text: &str) -> Option<Cidr> {
    let (address, prefix) = text.split_once('/')?;
    let prefix: u32 = prefix.parse().ok()?;
    if let Ok(v4) = address.parse::<Ipv4Addr>() {
        return (prefix <= 32).then_some(Cidr {
            v6: false,
            address: u128::from(u32::from(v4)),
            prefix,
        });
    }
    let v6 = address.parse::<Ipv6Addr>().ok()?;
    (prefix <= 128).then_some(Cidr {
        v6: true,
        address: u128::from(v6),
        prefix,
    })
}

/// Whether the block `outer` holds every address of `inner`.
fn cidr_contains(outer: &str, inner: &str) -> bool {
    match (cidr(outer), cidr(inner)) {
        (Some(o), Some(i)) => {
            o.v6 == i.v6 && o.prefix <= i.prefix && o.network(o.prefix) == i.network(o.prefix)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(ingress: Value) -> Value {
        json!({"Resources": {"Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "web", "SecurityGroupIngress": ingress}}}})
    }

    fn tcp(port: Value, peer: (&str, &str)) -> Value {
        let mut rule = json!({"IpProtocol": "tcp", "FromPort": port, "ToPort": port});
        rule[peer.0] = json!(peer.1);
        rule
    }

    /// Each changed rule as `<sign> <summary>[ ⚠ <kind>]`.
    fn rows(before: Option<&Value>, after: &Value) -> Vec<String> {
        diff_network(before, after)
            .iter()
            .flat_map(|c| &c.rules)
            .map(|r| {
                let kind = r.broadening.map(|k| format!(" ⚠ {k}")).unwrap_or_default();
                format!("{} {}{kind}", r.change.sign(), r.summary())
            })
            .collect()
    }

    #[test]
    fn ingress_from_anywhere_broadens_and_its_removal_does_not() {
        let before = group(json!([tcp(json!(443), ("CidrIp", "10.0.0.0/16"))]));
        let after = group(json!([
            tcp(json!(443), ("CidrIp", "10.0.0.0/16")),
            tcp(json!("443"), ("CidrIp", "0.0.0.0/0")),
            tcp(json!(443), ("CidrIpv6", "::/0")),
        ]));
        assert_eq!(
            rows(Some(&before), &after),
            [
                "+ ingress tcp 443 from 0.0.0.0/0 ⚠ open to the internet",
                "+ ingress tcp 443 from ::/0 ⚠ open to the internet",
            ]
        );
        assert_eq!(
            rows(Some(&after), &before),
            [
                "- ingress tcp 443 from 0.0.0.0/0",
                "- ingress tcp 443 from ::/0",
            ]
        );
    }

    #[test]
    fn a_wider_cidr_broadens_a_narrower_one_does_not() {
        let at = |cidr: &str| group(json!([tcp(json!(5432), ("CidrIp", cidr))]));
        assert_eq!(
            rows(Some(&at("10.0.0.0/16")), &at("10.0.0.0/8")),
            [
                "- ingress tcp 5432 from 10.0.0.0/16",
                "+ ingress tcp 5432 from 10.0.0.0/8 ⚠ wider CIDR",
            ]
        );
        assert!(rows(Some(&at("10.0.0.0/8")), &at("10.0.1.0/24"))
            .iter()
            .all(|r| !r.contains('⚠')));
        // New and wide on its own.
        assert_eq!(
            rows(Some(&group(json!([]))), &at("172.0.0.0/8")),
            ["+ ingress tcp 5432 from 172.0.0.0/8 ⚠ wider CIDR"]
        );
        assert_eq!(
            rows(Some(&group(json!([]))), &at("192.168.1.0/24")),
            ["+ ingress tcp 5432 from 192.168.1.0/24 ⚠ new rule"]
        );
    }

    #[test]
    fn new_source_groups_and_more_ports_broaden() {
        let from_lb = tcp(json!(8080), ("SourceSecurityGroupId", "sg-lb"));
        let before = group(json!([from_lb]));
        let mut all_ports = from_lb.clone();
        all_ports["FromPort"] = json!(0);
        all_ports["ToPort"] = json!(65535);
        let after = group(json!([from_lb, all_ports, {"IpProtocol": "-1",
            "SourceSecurityGroupId": {"Fn::GetAtt": ["Bastion", "GroupId"]}}]));
        assert_eq!(
            rows(Some(&before), &after),
            [
                "+ ingress all from sg !GetAtt Bastion.GroupId ⚠ new source group",
                "+ ingress tcp all from sg sg-lb ⚠ more ports",
            ]
        );
        // Every protocol from a peer covers any one rule from it.
        let everything = group(json!([{"IpProtocol": "-1", "CidrIp": "10.0.0.0/8"}]));
        let one_port = group(json!([{"IpProtocol": "-1", "CidrIp": "10.0.0.0/8"},
            tcp(json!(22), ("CidrIp", "10.1.0.0/16"))]));
        assert_eq!(
            rows(Some(&everything), &one_port),
            ["+ ingress tcp 22 from 10.1.0.0/16"]
        );
    }

    #[test]
    fn descriptions_are_not_part_of_a_rule() {
        let mut described = tcp(json!(443), ("CidrIp", "10.0.0.0/16"));
        let before = group(json!([described.clone()]));
        described["Description"] = json!("HTTPS from the VPC");
        assert!(diff_network(Some(&before), &group(json!([described]))).is_empty());
    }

    #[test]
    fn standalone_rules_name_their_group() {
        let template = json!({"Resources": {
            "DbIngress": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
                "GroupId": {"Ref": "DbSg"}, "IpProtocol": 6, "FromPort": 5432, "ToPort": 5432,
                "SourceSecurityGroupId": {"Ref": "AppSg"}}},
            "AppEgress": {"Type": "AWS::EC2::SecurityGroupEgress", "Properties": {
                "GroupId": {"Ref": "AppSg"}, "IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}},
        }});
        let changes = diff_network(None, &template);
        assert_eq!(changes[0].action, Action::Add);
        assert_eq!(changes[0].rules[0].group.as_deref(), Some("!Ref AppSg"));
        assert_eq!(
            rows(None, &template),
            [
                "+ egress all to 0.0.0.0/0 (group !Ref AppSg) ⚠ open to the internet",
                "+ ingress tcp 5432 from sg !Ref AppSg (group !Ref DbSg) ⚠ new source group",
            ]
        );
    }

    #[test]
    fn odd_rules_are_assumed_broadening() {
        let after =
            group(json!({"Fn::If": ["Public", [tcp(json!(80), ("CidrIp", "0.0.0.0/0"))], []]}));
        let changes = diff_network(Some(&group(json!([]))), &after);
        assert_eq!(
            changes[0].rules[0].broadening,
            Some(BroadeningKind::Unreadable)
        );
        assert_eq!(changes[0].rules[0].protocol, "(unreadable)");
    }

    #[test]
    fn ports_and_cidrs_read_and_compare_numerically() {
        let rule = |protocol: &str, from: &str, to: &str| Rule {
            direction: Direction::Ingress,
            group: String::new(),
            protocol: protocol.into(),
            from: from.into(),
            to: to.into(),
            peer: Peer::None,
            readable: true,
        };
        assert_eq!(ports(&rule("tcp", "443", "443")), "443");
        assert_eq!(ports(&rule("tcp", "1024", "65535")), "1024-65535");
        assert_eq!(ports(&rule("udp", "-1", "-1")), "all");
        assert_eq!(ports(&rule("icmp", "8", "-1")), "type 8");
        assert_eq!(ports(&rule("icmp", "3", "4")), "type 3 code 4");
        assert!(ports_cover(
            &rule("tcp", "1000", "2000"),
            &rule("tcp", "1500", "1600")
        ));
        assert!(!ports_cover(
            &rule("tcp", "1000", "2000"),
            &rule("tcp", "1500", "2100")
        ));
        assert!(ports_cover(
            &rule("icmp", "-1", "-1"),
            &rule("icmp", "8", "0")
        ));
        assert!(cidr_contains("10.0.0.0/8", "10.20.0.0/16"));
        assert!(!cidr_contains("10.0.0.0/16", "10.0.0.0/8"));
        assert!(!cidr_contains("10.0.0.0/8", "11.0.0.0/16"));
        assert!(cidr_contains("0.0.0.0/0", "192.168.0.1/32"));
        assert!(cidr_contains("2001:db8::/32", "2001:db8:1::/48"));
        assert!(!cidr_contains("2001:db8::/32", "10.0.0.0/8"));
        assert!(!cidr_contains("10.0.0.0/33", "10.0.0.0/8"));
        assert!(!cidr_contains("!Ref Cidr", "10.0.0.0/8"));
    }
}
