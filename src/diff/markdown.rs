//! A diff as GitHub Markdown, for a pull-request comment: per stack a
//! heading with its counts, what broadens access in a warning, the
//! replacements, the resource changes in a ```` ```diff ```` block (GitHub
//! colours `+` and `-` lines), and the IAM and network changes as tables.
//! Deterministic: the same diff always gives the same text.

use super::access::{AccessChange, BroadeningKind, WARNING};
use super::iam::{IamStatement, MANAGED_POLICY_ARNS};
use super::network::Direction;
use super::text::{access_text, counts_text, stack_lines, Layout};
use super::StackDiff;

impl StackDiff {
    /// This stack's diff as GitHub Markdown: a `###` heading with the
    /// counts, a warning naming each change that broadens access, the
    /// resources to be replaced and why, the resource, output, parameter
    /// and tag changes in a ```` ```diff ```` block, and an "IAM and network
    /// changes" section of tables. A stack without changes is its heading
    /// alone.
    pub fn to_markdown(&self) -> String {
        let mut md = format!(
            "### `{}` ({}): {}",
            self.stack_name,
            self.stack,
            counts_text(self)
        );
        if let Some(access) = access_text(self) {
            md.push_str(&format!(" · {access}"));
        }
        md.push('\n');
        if !self.has_changes() {
            return md;
        }
        if self.broadens() {
            let what = match self.access {
                AccessChange::NewStack => "grants access (new stack)",
                _ => "broadens access",
            };
            md.push_str(&format!(
                "\n> [!WARNING]\n> **{WARNING} This deploy {what}:**\n"
            ));
            for b in &self.broadening {
                md.push_str(&format!(
                    "> - `{}`: {}: {}\n",
                    b.logical_id,
                    b.kind,
                    code(&b.detail)
                ));
            }
        }
        let replaced: Vec<String> = self
            .replacements()
            .map(|r| format!("`{}` ({})", r.logical_id, r.replacement_causes.join(", ")))
            .collect();
        if !replaced.is_empty() {
            md.push_str(&format!(
                "\n**Replaced** (created anew, then the old one deleted): {}\n",
                replaced.join(", ")
            ));
        }
        let lines: Vec<String> = stack_lines(self, Layout::Diff, false)
            .iter()
            .map(|l| l.diff_form())
            .collect();
        if !lines.is_empty() {
            let fence = fence(&lines);
            md.push_str(&format!("\n{fence}diff\n{}\n{fence}\n", lines.join("\n")));
        }
        if !self.iam.is_empty() || !self.network.is_empty() {
            md.push_str("\n#### IAM and network changes\n");
        }
        if !self.iam.is_empty() {
            md.push_str(
                "\n| | Logical ID | Effect | Actions | Resources | Principals | Condition | |\n\
                 |---|---|---|---|---|---|---|---|\n",
            );
            for c in &self.iam {
                for s in &c.statements {
                    md.push_str(&iam_row(&c.logical_id, s));
                }
            }
        }
        if !self.network.is_empty() {
            md.push_str(
                "\n| | Logical ID | Direction | Protocol | Ports | Peer | |\n\
                 |---|---|---|---|---|---|---|\n",
            );
            for c in &self.network {
                for r in &c.rules {
                    let direction = match r.direction {
                        Direction::Ingress => "ingress",
                        Direction::Egress => "egress",
                    };
                    let mut peer = cell_code(&r.peer);
                    if let Some(group) = &r.group {
                        peer = format!("{peer} (group {})", cell_code(group));
                    }
                    md.push_str(&format!(
                        "| {} | `{}` | {direction} | {} | {} | {peer} | {} |\n",
                        r.change.sign(),
                        c.logical_id,
                        cell(&r.protocol),
                        cell(&r.ports),
                        note(r.broadening),
                    ));
                }
            }
        }
        md
    }
}

/// Several stacks' diffs as one Markdown comment: a `##` title, a summary
/// line, each changed stack as [`StackDiff::to_markdown`] gives it, and the
/// unchanged stacks named on one line.
pub fn markdown_report(title: &str, diffs: &[StackDiff]) -> String {
    let changed: Vec<&StackDiff> = diffs.iter().filter(|d| d.has_changes()).collect();
    let count = |access: AccessChange| diffs.iter().filter(|d| d.access == access).count();
    let mut md = format!(
        "## {title}\n\n{} of {} stack{} would change",
        changed.len(),
        diffs.len(),
        if diffs.len() == 1 { "" } else { "s" }
    );
    match count(AccessChange::Broadens) {
        0 => {}
        1 => md.push_str(&format!("; {WARNING} 1 broadens access")),
        n => md.push_str(&format!("; {WARNING} {n} broaden access")),
    }
    match count(AccessChange::NewStack) {
        0 => {}
        1 => md.push_str(&format!("; {WARNING} 1 new stack grants access")),
        n => md.push_str(&format!("; {WARNING} {n} new stacks grant access")),
    }
    md.push('\n');
    for d in &changed {
        md.push('\n');
        md.push_str(&d.to_markdown());
    }
    let unchanged: Vec<String> = diffs
        .iter()
        .filter(|d| !d.has_changes())
        .map(|d| format!("`{}` ({})", d.stack_name, d.stack))
        .collect();
    if !unchanged.is_empty() {
        md.push_str(&format!("\nNo changes: {}.\n", unchanged.join(", ")));
    }
    md
}

fn iam_row(logical_id: &str, s: &IamStatement) -> String {
    let list = |items: &[String]| {
        items
            .iter()
            .map(|i| cell_code(i))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    let (actions, resources) = if s.policy == MANAGED_POLICY_ARNS {
        ("(managed policy)".to_string(), list(&s.resources))
    } else {
        (list(&s.actions), list(&s.resources))
    };
    format!(
        "| {} | `{logical_id}` | {} | {actions} | {resources} | {} | {} | {} |\n",
        s.change.sign(),
        cell(&s.effect),
        list(&s.principals),
        s.condition.as_deref().map(cell_code).unwrap_or_default(),
        note(s.broadening),
    )
}

fn note(kind: Option<BroadeningKind>) -> String {
    kind.map(|k| format!("{WARNING} **{k}**"))
        .unwrap_or_default()
}

/// Text as an inline code span: backticks fenced by a longer run, line
/// breaks as spaces.
fn code(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let text = text.replace(['\n', '\r'], " ");
    let ticks = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// A code span in a table cell, where a pipe must be escaped even inside
/// the span.
fn cell_code(text: &str) -> String {
    code(&text.replace('|', "\\|"))
}

/// Plain text in a table cell: pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A code fence longer than any run of backticks in `lines`.
fn fence(lines: &[String]) -> String {
    let longest = lines.iter().map(|l| longest_run(l, '`')).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn longest_run(text: &str, c: char) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for ch in text.chars() {
        if ch == c {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::super::testing::{self, map};
    use super::super::{DeployedState, DesiredState};
    use super::*;
    use serde_json::json;

    #[test]
    fn a_realistic_stack_diff() {
        insta::assert_snapshot!(testing::upload_diff().to_markdown());
    }

    #[test]
    fn a_report_of_several_stacks() {
        let unchanged = DeployedState {
            template: json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
            ..DeployedState::default()
        };
        let same = DesiredState {
            template: unchanged.template.clone(),
            ..DesiredState::default()
        };
        let new_stack = DesiredState {
            template: json!({"Resources": {
                "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "HTTP"}},
                "Invoke": {"Type": "AWS::Lambda::Permission", "Properties": {
                    "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": "Fn"},
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*"}}},
            }}),
            parameters: map(&[("Stage", "dev")]),
            ..DesiredState::default()
        };
        let diffs = [
            testing::upload_diff(),
            StackDiff::new("qr-upload", "studio-qr-upload-dev", None, &new_stack),
            StackDiff::new("base", "studio-base-dev", Some(&unchanged), &same),
        ];
        insta::assert_snapshot!(markdown_report("stackctl diff: dev", &diffs));
    }

    #[test]
    fn an_unchanged_stack_is_its_heading() {
        let deployed = DeployedState::default();
        let diff = StackDiff::new(
            "base",
            "studio-base-dev",
            Some(&deployed),
            &DesiredState::default(),
        );
        assert_eq!(
            diff.to_markdown(),
            "### `studio-base-dev` (base): no changes\n"
        );
    }

    #[test]
    fn code_spans_survive_pipes_and_backticks() {
        assert_eq!(code("a|b"), "`a|b`");
        assert_eq!(cell_code("a|b"), "`a\\|b`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(code(""), "");
        assert_eq!(fence(&["x ```` y".to_string()]), "`````");
        assert_eq!(fence(&[]), "```");
    }
}
