//! `agent_memory`: a Bedrock AgentCore memory (`AWS::BedrockAgentCore::Memory`):
//! short-term events kept `event_expiry_days`, and the built-in strategies
//! that extract long-term records from them into namespaces.
//!
//! Its name follows AgentCore's rule, not the naming pattern: a letter,
//! then letters, digits and `_` (no `-`), at most 48 characters. The
//! physical name is `NAME_ENV` (the environment's `-` as `_`), so each
//! environment of an account has its own memory.
//!
//! Grants: `read` (events, sessions, actors, records) and `write` (events),
//! on this memory's ARN only. Attributes: `id`, `arn`.
//!
//! Emulator environments: moto's Memory is a placeholder whose `GetAtt`
//! fails the stack, so the resource is left out there; `id` is the
//! physical name and `arn` the ARN a memory of that id would have, which a
//! local AgentCore stand-in serves.

use super::key::Encryption;
use super::Kind;
use crate::aws::resources::{MemoryState, Resources};
use crate::health::access::{Access, AccessTarget};
use crate::health::{Finding, Pending, Stop, Target};
use crate::model::source::{index, join};
use crate::names::pascal;
use crate::render::context::Builder;
use crate::render::iam;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;

/// A Bedrock AgentCore memory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentMemory {
    /// The memory's name: a letter, then letters, digits and `_`; the
    /// environment is appended (`NAME_ENV`).
    pub name: String,
    /// What it remembers.
    #[serde(default)]
    pub description: Option<String>,
    /// Days a raw event is kept, 7–365 (default 90).
    #[serde(default)]
    pub event_expiry_days: Option<u32>,
    /// The built-in strategies extracting long-term records.
    #[serde(default)]
    pub strategies: Vec<Strategy>,
    /// Encrypt it with a `key` of the stack (default: a key AWS owns).
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

/// One built-in memory strategy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// `summary`, `semantic` or `user_preference`.
    #[serde(rename = "type")]
    pub kind: StrategyType,
    /// Its name (the memory's naming rule).
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Where its records go; may hold `{actorId}`, `{sessionId}` and
    /// `{memoryStrategyId}` (default: AgentCore's).
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// The built-in strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyType {
    /// A running summary of a session.
    Summary,
    /// Facts and knowledge.
    Semantic,
    /// A user's preferences.
    UserPreference,
}

impl StrategyType {
    /// Its property in CloudFormation's `MemoryStrategy`.
    fn property(self) -> &'static str {
        match self {
            StrategyType::Summary => "SummaryMemoryStrategy",
            StrategyType::Semantic => "SemanticMemoryStrategy",
            StrategyType::UserPreference => "UserPreferenceMemoryStrategy",
        }
    }
    fn text(self) -> &'static str {
        match self {
            StrategyType::Summary => "summary",
            StrategyType::Semantic => "semantic",
            StrategyType::UserPreference => "user_preference",
        }
    }
}

/// Days AgentCore keeps an event.
pub const EVENT_EXPIRY_DAYS: std::ops::RangeInclusive<u32> = 7..=365;
/// Days kept when `event_expiry_days` is not set.
pub const DEFAULT_EVENT_EXPIRY_DAYS: u32 = 90;
/// The longest memory or strategy name.
const NAME_MAX: usize = 48;
/// Strategies a memory takes.
const STRATEGIES_MAX: usize = 6;
/// The placeholders a namespace may hold.
pub const PLACEHOLDERS: &[&str] = &["actorId", "sessionId", "memoryStrategyId"];

/// `read`: what reads events, sessions, actors and long-term records.
pub const READ_ACTIONS: &[&str] = &[
    "bedrock-agentcore:ListEvents",
    "bedrock-agentcore:GetEvent",
    "bedrock-agentcore:ListSessions",
    "bedrock-agentcore:ListActors",
    "bedrock-agentcore:RetrieveMemoryRecords",
    "bedrock-agentcore:ListMemoryRecords",
    "bedrock-agentcore:GetMemoryRecord",
];
/// `write`: what records and removes events.
pub const WRITE_ACTIONS: &[&str] = &[
    "bedrock-agentcore:CreateEvent",
    "bedrock-agentcore:DeleteEvent",
];

/// Why `name` breaks AgentCore's naming rule (`[a-zA-Z][a-zA-Z0-9_]{0,47}`),
/// with a hint offering a name that keeps it.
pub fn name_problem(what: &str, name: &str) -> Option<(String, String)> {
    let valid_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let starts = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if name.contains('-') {
        let underscored = name.replace('-', "_");
        let camel: String = name
            .split('-')
            .enumerate()
            .map(|(i, part)| {
                let mut c = part.chars();
                match c.next() {
                    Some(f) if i > 0 => f.to_ascii_uppercase().to_string() + c.as_str(),
                    Some(f) => f.to_string() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect();
        return Some((
            format!("{what} `{name}` contains `-`, which AgentCore does not take"),
            format!("write `{underscored}` or `{camel}`: a letter, then letters, digits and `_`"),
        ));
    }
    if name.is_empty() || !starts || !valid_chars {
        return Some((
            format!("{what} `{name}` is not a name AgentCore takes"),
            "a letter, then letters, digits and `_`".to_string(),
        ));
    }
    if name.len() > NAME_MAX {
        return Some((
            format!("{what} `{name}` is {} characters long", name.len()),
            format!("at most {NAME_MAX}"),
        ));
    }
    None
}

/// The memory's physical name in environment `env`: `NAME_ENV`.
pub fn physical_name(name: &str, env: &str) -> String {
    format!("{name}_{}", env.replace('-', "_"))
}

/// Why namespace `ns` is not one AgentCore takes, with a hint.
pub fn namespace_problem(ns: &str) -> Option<(String, String)> {
    if ns.is_empty() || ns.len() > 1024 {
        return Some((
            format!("a namespace of {} characters", ns.len()),
            "1 to 1024 characters, such as `/facts/{actorId}`".to_string(),
        ));
    }
    let mut rest = ns;
    while !rest.is_empty() {
        let (text, after) = match rest.find('{') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-_/".contains(*c)))
        {
            return Some((
                format!("namespace `{ns}` holds `{bad}`"),
                "letters, digits, `-`, `_`, `/` and the placeholders {actorId}, {sessionId}, {memoryStrategyId}".to_string(),
            ));
        }
        let Some(after) = after else { break };
        let Some(end) = after.find('}') else {
            return Some((
                format!("namespace `{ns}` opens a `{{` it does not close"),
                "write placeholders as `{actorId}`".to_string(),
            ));
        };
        let placeholder = &after[..end];
        if !PLACEHOLDERS.contains(&placeholder) {
            let hint = match crate::diagnostics::closest(placeholder, PLACEHOLDERS.iter().copied()) {
                Some(best) => format!("did you mean `{{{best}}}`? AgentCore fills in {{actorId}}, {{sessionId}} and {{memoryStrategyId}}"),
                None => "AgentCore fills in {actorId}, {sessionId} and {memoryStrategyId} only".to_string(),
            };
            return Some((
                format!("namespace `{ns}` holds the unknown placeholder `{{{placeholder}}}`"),
                hint,
            ));
        }
        rest = &after[end + 1..];
    }
    None
}

/// `status`: ACTIVE passes; CREATING is not settled; FAILED and DELETING fail.
fn health_status(m: &MemoryState, id: &str, env: &str) -> Finding {
    let observed = format!("status {}", m.status);
    let f = match m.status.as_str() {
        "ACTIVE" => Finding::pass("status", format!("memory {id} is ACTIVE")),
        "CREATING" => Finding::unknown("status", format!("memory {id} is still being created"))
            .hint("run health again in a minute"),
        "FAILED" => Finding::fail(
            "status",
            format!(
                "memory {id} FAILED{}",
                m.failure_reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        )
        .hint(format!("fix what the reason names, then `stackctl deploy --env {env}`")),
        "DELETING" => Finding::fail("status", format!("memory {id} is being deleted"))
            .hint(format!("it was deleted outside CloudFormation; after it is gone, `stackctl deploy --env {env}` does not recreate it: remove it from the stack, deploy, and add it back")),
        other => Finding::unknown("status", format!("memory {id} is {other}")),
    };
    f.observed(observed).expected("status ACTIVE")
}

impl Kind for AgentMemory {
    const NAME: &'static str = "agent_memory";
    const TEMPLATE_FILE: &'static str = "agent_memory.yaml.tera";
    const TEMPLATE: &'static str = include_str!("../../templates/agent_memory.yaml.tera");
    const ATTRIBUTES: &'static [&'static str] = &["id", "arn"];
    const GRANT_LEVELS: &'static [&'static str] = &["read", "write"];
    /// Named by `name:` and AgentCore's rule, not the naming pattern.
    const NAMED: bool = false;
    const HEALTH_CHECKS: &'static [&'static str] = &["status"];

    fn name_pattern(&self) -> Option<&str> {
        None
    }

    fn name_problem(_name: &str) -> Option<String> {
        None
    }

    fn writes(level: &str) -> bool {
        level == "write"
    }

    fn encryption_key(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.key.as_str())
    }

    fn resolve(&self, cx: &mut Builder, key: &str, path: &str) -> Json {
        let l = pascal(key);
        cx.claim(&l, path);
        let npath = join(path, "name");
        let physical = physical_name(&self.name, cx.env);
        if let Some((problem, hint)) = name_problem("memory name", &self.name) {
            cx.error_hint(&npath, problem, hint);
        } else if physical.len() > NAME_MAX {
            cx.error_hint(
                &npath,
                format!(
                    "memory name `{physical}` (the name and environment `{}`) is {} characters long",
                    cx.env,
                    physical.len()
                ),
                format!(
                    "AgentCore takes at most {NAME_MAX}: shorten `name:` to {} characters or fewer",
                    NAME_MAX.saturating_sub(physical.len() - self.name.len())
                ),
            );
        }
        if let Some(d) = &self.description {
            if d.is_empty() || d.len() > 4096 {
                cx.error_hint(
                    &join(path, "description"),
                    format!("a description of {} characters", d.len()),
                    "1 to 4096 characters",
                );
            }
        }
        let days = self.event_expiry_days.unwrap_or(DEFAULT_EVENT_EXPIRY_DAYS);
        if !EVENT_EXPIRY_DAYS.contains(&days) {
            cx.error_hint(
                &join(path, "event_expiry_days"),
                format!("an event expiry of {days} days is out of range"),
                crate::limits::allowed(&EVENT_EXPIRY_DAYS),
            );
        }
        let spath = join(path, "strategies");
        if self.strategies.len() > STRATEGIES_MAX {
            cx.error_hint(
                &spath,
                format!("{} strategies", self.strategies.len()),
                format!("a memory takes at most {STRATEGIES_MAX}"),
            );
        }
        let mut types = BTreeSet::new();
        let mut names = BTreeSet::new();
        let mut strategies = Vec::new();
        for (i, s) in self.strategies.iter().enumerate() {
            let ipath = index(&spath, i);
            if !types.insert(s.kind) {
                cx.error_hint(
                    &join(&ipath, "type"),
                    format!("a second `{}` strategy", s.kind.text()),
                    "a memory takes one strategy of each built-in type: merge their namespaces",
                );
            }
            if let Some((problem, hint)) = name_problem("strategy name", &s.name) {
                cx.error_hint(&join(&ipath, "name"), problem, hint);
            } else if !names.insert(s.name.clone()) {
                cx.error_hint(
                    &join(&ipath, "name"),
                    format!("strategy name `{}` is used twice", s.name),
                    "give each strategy a name of its own",
                );
            }
            for (j, ns) in s.namespaces.iter().enumerate() {
                if let Some((problem, hint)) = namespace_problem(ns) {
                    cx.error_hint(&index(&join(&ipath, "namespaces"), j), problem, hint);
                }
            }
            let mut body = json!({"Name": s.name});
            if let Some(d) = &s.description {
                body["Description"] = json!(d);
            }
            if !s.namespaces.is_empty() {
                body["Namespaces"] = json!(s.namespaces);
            }
            strategies.push(json!({ s.kind.property(): body }));
        }
        let key_logical = super::key::resolve(cx, &self.encryption, path);
        json!({
            "logical": l,
            "emulated": cx.emulated(),
            "name": physical,
            "description": self.description,
            "event_expiry_days": days,
            "strategies": strategies,
            "key": key_logical,
        })
    }

    fn attribute(&self, cx: &mut Builder, key: &str, attr: &str, _path: &str) -> Json {
        let l = pascal(key);
        let physical = physical_name(&self.name, cx.env);
        match (attr, cx.emulated()) {
            ("id", false) => json!({"Fn::GetAtt": [l, "MemoryId"]}),
            ("arn", false) => json!({"Fn::GetAtt": [l, "MemoryArn"]}),
            // Not created here: what a local AgentCore stand-in answers to.
            ("id", true) => json!(physical),
            ("arn", true) => iam::sub(format!(
                "arn:${{AWS::Partition}}:bedrock-agentcore:${{AWS::Region}}:${{AWS::AccountId}}:memory/{physical}"
            )),
            // Not an attribute of a memory (ATTRIBUTES is checked first).
            _ => Json::Null,
        }
    }

    fn grant(
        &self,
        cx: &mut Builder,
        key: &str,
        level: &str,
        _prefixes: &[String],
        path: &str,
    ) -> Option<Json> {
        let actions = match level {
            "read" => READ_ACTIONS,
            "write" => WRITE_ACTIONS,
            // Not a level of a memory (GRANT_LEVELS is checked first).
            _ => return None,
        };
        let arn = self.attribute(cx, key, "arn", path);
        Some(iam::allow(key, level, actions, vec![arn], None))
    }

    /// GetMemory (control plane): its status. Skipped on an emulator,
    /// where it is not created.
    fn health<'a, R: Resources>(&'a self, t: Target<'a>, aws: &'a R) -> Vec<Pending<'a>> {
        vec![Pending::new(Self::HEALTH_CHECKS, async move {
            if t.emulated {
                return Err(Stop::Skip(
                    "the local emulator (moto) cannot create AgentCore memories: the stack leaves it out and a local stand-in serves it"
                        .into(),
                ));
            }
            let physical = t.physical_id(&t.logical_id())?;
            // CloudFormation may list it by ARN; GetMemory takes the id.
            let id = physical.rsplit("memory/").next().unwrap_or(physical);
            let m = aws.agent_memory(id).await?;
            Ok(vec![health_status(&m, id, t.env)])
        })]
    }

    /// GetMemory on memories of its name (the id adds a random suffix).
    fn health_access(&self, a: &AccessTarget<'_>) -> Vec<Access> {
        a.property(&a.logical_id(), "Name")
            .map(|name| {
                Access::new(
                    "ReadAgentMemories",
                    &["bedrock-agentcore:GetMemory"],
                    a.arn("bedrock-agentcore", &format!("memory/{name}-*")),
                )
            })
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, render_in, statement};
    use super::*;

    const STACK: &str = "resources:
  data:
    type: key
  clip_memory:
    type: agent_memory
    name: clipAgentMemory
    description: Context of earlier analyses
    strategies:
      - {type: summary, name: episodeSummaries, namespaces: ['/summaries/{actorId}/{sessionId}']}
      - {type: semantic, name: clipFacts, namespaces: ['/facts/{actorId}']}
    encryption: {key: data}
  analyze:
    type: function
    crate: analyze
    environment:
      MEMORY_ID: ${clip_memory.id}
    grants:
      clip_memory: [read, write]
";

    #[test]
    fn the_memory_renders_its_name_expiry_strategies_and_key() {
        let t = render(STACK);
        let m = &t["Resources"]["ClipMemory"];
        assert_eq!(m["Type"], "AWS::BedrockAgentCore::Memory");
        assert_eq!(
            m["Properties"],
            json!({
                "Name": "clipAgentMemory_dev",
                "Description": "Context of earlier analyses",
                "EventExpiryDuration": 90,
                "EncryptionKeyArn": {"Fn::GetAtt": ["Data", "Arn"]},
                "MemoryStrategies": [
                    {"SummaryMemoryStrategy": {"Name": "episodeSummaries", "Namespaces": ["/summaries/{actorId}/{sessionId}"]}},
                    {"SemanticMemoryStrategy": {"Name": "clipFacts", "Namespaces": ["/facts/{actorId}"]}},
                ],
            })
        );
        assert_eq!(
            t["Resources"]["Analyze"]["Properties"]["Environment"]["Variables"]["MEMORY_ID"],
            json!({"Fn::GetAtt": ["ClipMemory", "MemoryId"]})
        );
    }

    #[test]
    fn grants_name_the_data_plane_actions_on_this_memory_only() {
        let t = render(STACK);
        let arn = json!([{"Fn::GetAtt": ["ClipMemory", "MemoryArn"]}]);
        assert_eq!(
            statement(&t, "Analyze", "ClipMemoryRead"),
            json!({"Sid": "ClipMemoryRead", "Effect": "Allow", "Action": [
                "bedrock-agentcore:ListEvents", "bedrock-agentcore:GetEvent",
                "bedrock-agentcore:ListSessions", "bedrock-agentcore:ListActors",
                "bedrock-agentcore:RetrieveMemoryRecords", "bedrock-agentcore:ListMemoryRecords",
                "bedrock-agentcore:GetMemoryRecord"], "Resource": arn})
        );
        assert_eq!(
            statement(&t, "Analyze", "ClipMemoryWrite"),
            json!({"Sid": "ClipMemoryWrite", "Effect": "Allow", "Action": [
                "bedrock-agentcore:CreateEvent", "bedrock-agentcore:DeleteEvent"], "Resource": arn})
        );
        // Encrypted with a key of the stack: writing makes data keys.
        assert_eq!(
            statement(&t, "Analyze", "ClipMemoryKey")["Action"],
            json!(["kms:Decrypt", "kms:GenerateDataKey"])
        );
    }

    #[test]
    fn an_emulator_leaves_the_memory_out_and_names_it_for_a_stand_in() {
        let t = render_in(
            "    endpoint_url: http://127.0.0.1:5000\n    emulator: moto\n",
            STACK,
        );
        assert!(t["Resources"].get("ClipMemory").is_none());
        assert_eq!(
            t["Resources"]["Analyze"]["Properties"]["Environment"]["Variables"]["MEMORY_ID"],
            "clipAgentMemory_dev"
        );
        assert_eq!(
            statement(&t, "Analyze", "ClipMemoryWrite")["Resource"],
            json!([{"Fn::Sub": "arn:${AWS::Partition}:bedrock-agentcore:${AWS::Region}:${AWS::AccountId}:memory/clipAgentMemory_dev"}])
        );
    }

    #[test]
    fn names_follow_agentcores_rule_with_a_hint() {
        let (problem, hint) = name_problem("memory name", "clip-agent-memory").unwrap();
        assert!(problem.contains("`-`"), "{problem}");
        assert!(hint.contains("`clip_agent_memory`"), "{hint}");
        assert!(hint.contains("`clipAgentMemory`"), "{hint}");
        assert!(name_problem("memory name", "1abc").is_some());
        assert!(name_problem("memory name", &"a".repeat(49)).is_some());
        assert_eq!(name_problem("memory name", "clip_Agent9"), None);
        assert_eq!(physical_name("m", "prod-eu"), "m_prod_eu");
    }

    #[test]
    fn namespaces_take_only_agentcores_placeholders() {
        for ok in [
            "/facts/{actorId}",
            "/s/{actorId}/{sessionId}",
            "x",
            "/{memoryStrategyId}/a-b_c",
        ] {
            assert_eq!(namespace_problem(ok), None, "{ok}");
        }
        let (problem, hint) = namespace_problem("/s/{sesionId}").unwrap();
        assert!(problem.contains("{sesionId}"), "{problem}");
        assert!(hint.contains("`{sessionId}`"), "{hint}");
        assert!(namespace_problem("/s/{actorId")
            .unwrap()
            .0
            .contains("does not close"));
        assert!(namespace_problem("/s s").unwrap().0.contains("` `"));
        assert!(namespace_problem("").is_some());
    }

    #[test]
    fn bad_memories_are_located_errors_with_hints() {
        let p = super::super::role::tests::problems(
            "resources:
  clip_memory:
    type: agent_memory
    name: clip-agent-memory
    event_expiry_days: 400
    strategies:
      - {type: summary, name: a, namespaces: ['/s/{actor}']}
      - {type: summary, name: b-c}
",
        );
        assert!(p.contains("resources.clip_memory.name"), "{p}");
        assert!(
            p.contains("memory name `clip-agent-memory` contains `-`"),
            "{p}"
        );
        assert!(
            p.contains("write `clip_agent_memory` or `clipAgentMemory`"),
            "{p}"
        );
        assert!(p.contains("resources.clip_memory.event_expiry_days"), "{p}");
        assert!(
            p.contains("an event expiry of 400 days is out of range"),
            "{p}"
        );
        assert!(
            p.contains("resources.clip_memory.strategies[0].namespaces[0]"),
            "{p}"
        );
        assert!(p.contains("did you mean `{actorId}`?"), "{p}");
        assert!(
            p.contains("resources.clip_memory.strategies[1].type"),
            "{p}"
        );
        assert!(p.contains("a second `summary` strategy"), "{p}");
        assert!(
            p.contains("resources.clip_memory.strategies[1].name"),
            "{p}"
        );
    }

    #[test]
    fn status_is_judged_with_the_failure_reason() {
        let m = |status: &str, reason: Option<&str>| MemoryState {
            status: status.into(),
            failure_reason: reason.map(str::to_string),
        };
        use crate::health::Status;
        assert_eq!(
            health_status(&m("ACTIVE", None), "m-1", "dev").status,
            Status::Pass
        );
        assert_eq!(
            health_status(&m("CREATING", None), "m-1", "dev").status,
            Status::Unknown
        );
        let failed = health_status(&m("FAILED", Some("KMS key disabled")), "m-1", "dev");
        assert_eq!(failed.status, Status::Fail);
        assert!(
            failed.reason.contains("KMS key disabled"),
            "{}",
            failed.reason
        );
        assert_eq!(
            health_status(&m("DELETING", None), "m-1", "dev").status,
            Status::Fail
        );
    }
}
