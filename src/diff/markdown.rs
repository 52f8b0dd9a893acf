//! A diff as GitHub Markdown, for a pull-request comment: per stack a
//! heading with its counts, the replacements, and the resource changes in
//! a ```` ```diff ```` block (GitHub colours `+` and `-` lines).
//! Deterministic: the same diff always gives the same text.

use super::text::{counts_text, stack_lines, Layout};
use super::StackDiff;

impl StackDiff {
    /// This stack's diff as GitHub Markdown: a `###` heading with the
    /// counts, the resources to be replaced and why, and the resource,
    /// output, parameter and tag changes in a ```` ```diff ```` block. A
    /// stack without changes is its heading alone.
    pub fn to_markdown(&self) -> String {
        let mut md = format!(
            "### `{}` ({}): {}",
            self.stack_name,
            self.stack,
            counts_text(self)
        );
        md.push('\n');
        if !self.has_changes() {
            return md;
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
        let lines: Vec<String> = stack_lines(self, Layout::Diff)
            .iter()
            .map(|l| l.diff_form())
            .collect();
        if !lines.is_empty() {
            let fence = fence(&lines);
            md.push_str(&format!("\n{fence}diff\n{}\n{fence}\n", lines.join("\n")));
        }
        md
    }
}

/// Several stacks' diffs as one Markdown comment: a `##` title, a summary
/// line, each changed stack as [`StackDiff::to_markdown`] gives it, and the
/// unchanged stacks named on one line.
pub fn markdown_report(title: &str, diffs: &[StackDiff]) -> String {
    let changed: Vec<&StackDiff> = diffs.iter().filter(|d| d.has_changes()).collect();
    let mut md = format!(
        "## {title}\n\n{} of {} stack{} would change",
        changed.len(),
        diffs.len(),
        if diffs.len() == 1 { "" } else { "s" }
    );
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
    fn the_fence_is_longer_than_any_backtick_run() {
        assert_eq!(fence(&["x ```` y".to_string()]), "`````");
        assert_eq!(fence(&[]), "```");
    }
}
