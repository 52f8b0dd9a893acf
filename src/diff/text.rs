//! The text of a diff, in rain's shape: `+` added, `-` removed, `~`
//! changed, keys sorted, unchanged parts hidden, replacement named the way
//! CDK flags it, broadening marked with [`WARNING`].
//!
//! Every part of a diff becomes [`Line`]s first; the terminal shows a
//! line's sign at its indentation, a Markdown ```` ```diff ```` block puts it
//! in the first column, where GitHub colours it. Both come from here, so
//! the two cannot drift apart.

use super::access::{AccessChange, BroadeningKind, WARNING};
use super::iam::IamChange;
use super::network::NetworkChange;
use super::show::{block, one_line, quoted, Quote, INLINE_MAX};
use super::{Action, OutputChange, PropertyChange, ResourceChange, StackDiff, ValueChange};
use serde_json::Value;
use std::fmt;

/// Where a resource line starts.
const RESOURCE_INDENT: usize = 2;
/// Where a property, output, parameter or tag line starts.
const ITEM_INDENT: usize = 6;
/// Where a row of the IAM or network section starts.
const ROW_INDENT: usize = 10;

const REPLACEMENT_NOTE: &str = "  (requires replacement)";

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    /// `+`, `-`, `~`, or ` ` for a title: the change the line belongs to.
    pub sign: char,
    /// Spaces before the sign in text.
    pub indent: usize,
    /// Whether text shows the sign (the lines of a value shown whole under
    /// its path carry their path's sign only in the Markdown margin).
    pub marked: bool,
    /// The rest of the line.
    pub text: String,
}

/// How a change of a one-line value is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// `~ path: a -> b` on one line.
    Text,
    /// `- path: a` then `+ path: b`, for a ```` ```diff ```` block.
    Diff,
}

impl Line {
    fn marked(sign: char, indent: usize, text: String) -> Line {
        Line {
            sign,
            indent,
            marked: true,
            text,
        }
    }

    fn under(sign: char, indent: usize, text: String) -> Line {
        Line {
            sign,
            indent,
            marked: false,
            text,
        }
    }

    /// The line as the terminal shows it.
    pub fn text_form(&self) -> String {
        let sign = if self.marked { self.sign } else { ' ' };
        format!("{:indent$}{sign} {}", "", self.text, indent = self.indent)
    }

    /// The line in a ```` ```diff ```` block: the sign in the first column
    /// (`!` for a change, which GitHub also colours), the text where it is
    /// in the terminal less the stack's own indentation.
    pub fn diff_form(&self) -> String {
        let sign = match self.sign {
            '~' => '!',
            other => other,
        };
        let indent = self.indent.saturating_sub(RESOURCE_INDENT);
        format!("{sign}{:indent$} {}", "", self.text, indent = indent)
    }
}

fn symbol(before: bool, after: bool) -> char {
    match (before, after) {
        (false, _) => '+',
        (_, false) => '-',
        _ => '~',
    }
}

/// A changed value at `path`: on one line when both sides fit one, else
/// the path and the value(s) as blocks under it.
fn value_lines(
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    note: &str,
    indent: usize,
    layout: Layout,
    out: &mut Vec<Line>,
) {
    let sign = symbol(before.is_some(), after.is_some());
    let short = |v: Option<&Value>| v.map(one_line);
    // `a -> b` on one line only while both together stay short; past that
    // the two sides read better one above the other.
    let together = |b: &str, a: &str| {
        layout == Layout::Diff || b.chars().count() + a.chars().count() <= INLINE_MAX
    };
    match (short(before), short(after)) {
        (Some(Some(b)), Some(Some(a))) if together(&b, &a) => match layout {
            Layout::Text => out.push(Line::marked(
                sign,
                indent,
                format!("{path}: {b} -> {a}{note}"),
            )),
            Layout::Diff => {
                out.push(Line::marked('-', indent, format!("{path}: {b}")));
                out.push(Line::marked('+', indent, format!("{path}: {a}{note}")));
            }
        },
        (Some(Some(v)), None) | (None, Some(Some(v))) => {
            out.push(Line::marked(sign, indent, format!("{path}: {v}{note}")))
        }
        _ => {
            out.push(Line::marked(sign, indent, format!("{path}:{note}")));
            match (before, after) {
                (Some(b), Some(a)) => {
                    for line in block(b) {
                        out.push(Line::marked('-', indent + 4, line));
                    }
                    for line in block(a) {
                        out.push(Line::marked('+', indent + 4, line));
                    }
                }
                (Some(v), None) | (None, Some(v)) => {
                    for line in block(v) {
                        out.push(Line::under(sign, indent + 2, line));
                    }
                }
                (None, None) => {}
            }
        }
    }
}

fn property_lines(p: &PropertyChange, indent: usize, layout: Layout, out: &mut Vec<Line>) {
    let note = if p.requires_replacement {
        REPLACEMENT_NOTE
    } else {
        ""
    };
    value_lines(
        &p.path,
        p.before.as_ref(),
        p.after.as_ref(),
        note,
        indent,
        layout,
        out,
    );
}

/// `Sessions  AWS::DynamoDB::Table  (requires replacement: TableName)`.
pub(super) fn resource_title(r: &ResourceChange) -> String {
    let mut title = format!("{}  {}", r.logical_id, r.resource_type);
    if r.replacement {
        title = format!(
            "{title}  (requires replacement: {})",
            r.replacement_causes.join(", ")
        );
    }
    title
}

pub(super) fn resource_lines(r: &ResourceChange, layout: Layout, out: &mut Vec<Line>) {
    out.push(Line::marked(
        r.action.sign(),
        RESOURCE_INDENT,
        resource_title(r),
    ));
    for p in &r.properties {
        property_lines(p, ITEM_INDENT, layout, out);
    }
}

/// An added or removed output shows its value (the whole definition when
/// it has more than a value); a modified one what changed in it.
fn output_lines(o: &OutputChange, layout: Layout, out: &mut Vec<Line>) {
    if o.action == Action::Modify {
        for p in &o.properties {
            let path = format!("{}.{}", o.name, p.path);
            value_lines(
                &path,
                p.before.as_ref(),
                p.after.as_ref(),
                "",
                ITEM_INDENT,
                layout,
                out,
            );
        }
        return;
    }
    let shown = |v: &Option<Value>| -> Option<Value> {
        let v = v.as_ref()?;
        match v.as_object() {
            Some(map) if map.len() == 1 && map.contains_key("Value") => map.get("Value").cloned(),
            _ => Some(v.clone()),
        }
    };
    value_lines(
        &o.name,
        shown(&o.before).as_ref(),
        shown(&o.after).as_ref(),
        "",
        ITEM_INDENT,
        layout,
        out,
    );
}

/// A parameter or tag value: as is, unless it would be invisible or break
/// the line (then JSON-quoted).
fn shown_text(s: &str) -> String {
    let plain = !s.is_empty() && s.trim() == s && !s.chars().any(char::is_control);
    if plain {
        s.to_string()
    } else {
        quoted(s, Quote::Always)
    }
}

fn named_value_lines(c: &ValueChange, layout: Layout, out: &mut Vec<Line>) {
    let sign = symbol(c.before.is_some(), c.after.is_some());
    match (&c.before, &c.after, layout) {
        (Some(b), Some(a), Layout::Text) => out.push(Line::marked(
            sign,
            ITEM_INDENT,
            format!("{}: {} -> {}", c.name, shown_text(b), shown_text(a)),
        )),
        (Some(b), Some(a), Layout::Diff) => {
            let line = |sign, v: &str| {
                Line::marked(sign, ITEM_INDENT, format!("{}: {}", c.name, shown_text(v)))
            };
            out.push(line('-', b));
            out.push(line('+', a));
        }
        (Some(v), None, _) | (None, Some(v), _) => out.push(Line::marked(
            sign,
            ITEM_INDENT,
            format!("{}: {}", c.name, shown_text(v)),
        )),
        (None, None, _) => {}
    }
}

fn title(text: &str) -> Line {
    Line::under(' ', 0, format!("{text}:"))
}

fn broadening_note(kind: Option<BroadeningKind>) -> String {
    kind.map(|k| format!("  {WARNING} {k}")).unwrap_or_default()
}

pub(super) fn iam_lines(c: &IamChange, out: &mut Vec<Line>) {
    out.push(Line::marked(
        c.action.sign(),
        ITEM_INDENT,
        format!("{}  {}", c.logical_id, c.resource_type),
    ));
    for s in &c.statements {
        out.push(Line::marked(
            s.change.sign(),
            ROW_INDENT,
            format!("{}{}", s.summary(), broadening_note(s.broadening)),
        ));
    }
}

pub(super) fn network_lines(c: &NetworkChange, out: &mut Vec<Line>) {
    out.push(Line::marked(
        c.action.sign(),
        ITEM_INDENT,
        format!("{}  {}", c.logical_id, c.resource_type),
    ));
    for r in &c.rules {
        out.push(Line::marked(
            r.change.sign(),
            ROW_INDENT,
            format!("{}{}", r.summary(), broadening_note(r.broadening)),
        ));
    }
}

/// The resources, then (with `access`) the IAM and network sections, then
/// outputs, parameters and tags, each section under its title.
pub(super) fn stack_lines(d: &StackDiff, layout: Layout, access: bool) -> Vec<Line> {
    let mut out = Vec::new();
    for r in &d.resources {
        resource_lines(r, layout, &mut out);
    }
    if access && !d.iam.is_empty() {
        out.push(title("iam"));
        for c in &d.iam {
            iam_lines(c, &mut out);
        }
    }
    if access && !d.network.is_empty() {
        out.push(title("network"));
        for c in &d.network {
            network_lines(c, &mut out);
        }
    }
    if !d.outputs.is_empty() {
        out.push(title("outputs"));
        for o in &d.outputs {
            output_lines(o, layout, &mut out);
        }
    }
    for (name, changes) in [("parameters", &d.parameters), ("tags", &d.tags)] {
        if changes.is_empty() {
            continue;
        }
        out.push(title(name));
        for c in changes {
            named_value_lines(c, layout, &mut out);
        }
    }
    out
}

/// `not deployed; 2 to add`, `no changes`, or `1 to add, 2 to change, 1 to
/// remove`.
pub(super) fn counts_text(d: &StackDiff) -> String {
    let (add, modify, remove) = d.counts();
    if !d.deployed {
        format!("not deployed; {add} to add")
    } else if !d.has_changes() {
        "no changes".to_string()
    } else {
        format!("{add} to add, {modify} to change, {remove} to remove")
    }
}

/// `⚠ broadens access (2)`, `⚠ new stack grants access (3)`, or nothing.
pub(super) fn access_text(d: &StackDiff) -> Option<String> {
    let n = d.broadening.len();
    match d.access {
        AccessChange::None => None,
        AccessChange::NewStack => Some(format!("{WARNING} new stack grants access ({n})")),
        AccessChange::Broadens => Some(format!("{WARNING} broadens access ({n})")),
    }
}

impl fmt::Display for StackDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if !self.deployed {
            '+'
        } else if self.has_changes() {
            '~'
        } else {
            '='
        };
        write!(
            f,
            "{sign} {} ({}): {}",
            self.stack_name,
            self.stack,
            counts_text(self)
        )?;
        if let Some(access) = access_text(self) {
            write!(f, "; {access}")?;
        }
        for line in stack_lines(self, Layout::Text, true) {
            write!(f, "\n{}", line.text_form())?;
        }
        Ok(())
    }
}

/// Writes lines, one per line, without a final newline.
fn write_lines(f: &mut fmt::Formatter<'_>, lines: &[Line]) -> fmt::Result {
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            writeln!(f)?;
        }
        f.write_str(&line.text_form())?;
    }
    Ok(())
}

/// The resource line and its property lines, indented as in a stack's
/// text, without a final newline.
impl fmt::Display for ResourceChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        resource_lines(self, Layout::Text, &mut lines);
        write_lines(f, &lines)
    }
}

/// The resource line and its statement rows, indented as in a stack's
/// `iam:` section.
impl fmt::Display for IamChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        iam_lines(self, &mut lines);
        write_lines(f, &lines)
    }
}

/// The resource line and its rule rows, indented as in a stack's
/// `network:` section.
impl fmt::Display for NetworkChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        network_lines(self, &mut lines);
        write_lines(f, &lines)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::super::{diff_resources, Action, PropertyChange, ResourceChange};
    use super::*;
    use serde_json::json;

    #[test]
    fn display_shows_the_whole_diff_in_rain_style() {
        let expected = "\
~ studio-upload-dev (upload): 1 to add, 4 to change, 1 to remove; ⚠ broadens access (2)
  ~ CreateUpload  AWS::Lambda::Function
      ~ Properties.MemorySize: 256 -> 512
      ~ Properties.Tags[Key=team].Value: \"media\" -> \"platform\"
  ~ CreateUploadRole  AWS::IAM::Role
      - Properties.Policies[PolicyName=CreateUploadAccess].PolicyDocument.Statement[Sid=IngestWrite]:
          Action:
            - s3:PutObject
          Effect: Allow
          Resource:
            - !Sub arn:${AWS::Partition}:s3:::studio-upload-ingest-dev/uploads/*
          Sid: IngestWrite
      + Properties.Policies[PolicyName=CreateUploadAccess].PolicyDocument.Statement[Sid=SessionsRead].Action: \"dynamodb:Scan\"
  + NewQueue  AWS::SQS::Queue
  - OldTopic  AWS::SNS::Topic
  ~ Sessions  AWS::DynamoDB::Table  (requires replacement: TableName)
      ~ Properties.TableName: \"studio-sessions-dev\" -> \"studio-sessions-v2-dev\"  (requires replacement)
  ~ WebSg  AWS::EC2::SecurityGroup
      + Properties.SecurityGroupIngress:
          CidrIp: 0.0.0.0/0
          Description: HTTPS
          FromPort: 443
          IpProtocol: tcp
          ToPort: 443
  iam:
      ~ CreateUploadRole  AWS::IAM::Role
          - Allow s3:PutObject on !Sub arn:${AWS::Partition}:s3:::studio-upload-ingest-dev/uploads/*
          + Allow dynamodb:Scan on !GetAtt Sessions.Arn, !Sub [${TableArn}/index/*, {TableArn: !GetAtt Sessions.Arn}]  ⚠ new action
  network:
      ~ WebSg  AWS::EC2::SecurityGroup
          + ingress tcp 443 from 0.0.0.0/0  ⚠ open to the internet
  outputs:
      ~ ApiBaseUrl.Value:
          - !Sub https://${Api}.execute-api.${AWS::Region}.amazonaws.com/v1
          + !Sub https://${Api}.execute-api.${AWS::Region}.amazonaws.com/v2
      + SessionsArn:
          Export:
            Name: !Sub ${AWS::StackName}-sessions
          Value: !GetAtt Sessions.Arn
  parameters:
      ~ UrlExpirySeconds: 300 -> 600
  tags:
      + team: media";
        assert_eq!(testing::upload_diff().to_string(), expected);
    }

    #[test]
    fn a_resource_change_displays_alone_as_in_its_stack() {
        // As drift detection would build one.
        let change = ResourceChange {
            logical_id: "Sessions".into(),
            resource_type: "AWS::DynamoDB::Table".into(),
            action: Action::Modify,
            replacement: true,
            replacement_causes: vec!["KeySchema".into(), "TableName".into()],
            properties: vec![
                PropertyChange {
                    path: "Properties.BillingMode".into(),
                    before: Some(json!("PROVISIONED")),
                    after: Some(json!("PAY_PER_REQUEST")),
                    requires_replacement: false,
                },
                PropertyChange {
                    path: "Properties.KeySchema[AttributeName=pk]".into(),
                    before: None,
                    after: Some(json!({"AttributeName": "pk", "KeyType": "HASH"})),
                    requires_replacement: true,
                },
            ],
        };
        assert_eq!(
            change.to_string(),
            "  ~ Sessions  AWS::DynamoDB::Table  (requires replacement: KeySchema, TableName)
      ~ Properties.BillingMode: \"PROVISIONED\" -> \"PAY_PER_REQUEST\"
      + Properties.KeySchema[AttributeName=pk]:  (requires replacement)
          AttributeName: pk
          KeyType: HASH"
        );
        let added = ResourceChange {
            action: Action::Add,
            replacement: false,
            replacement_causes: vec![],
            properties: vec![],
            ..change
        };
        assert_eq!(added.to_string(), "  + Sessions  AWS::DynamoDB::Table");
    }

    #[test]
    fn long_and_multi_line_values_are_never_clipped() {
        let long = format!("Handles uploads{}", " and more".repeat(20));
        let before = json!({"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "Description": "short"}}}});
        let after = json!({"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "Description": long,
            "Code": {"ZipFile": "exports.handler = async () => {\n  return 1;\n};\n"}}}}});
        let changes = diff_resources(Some(&before), &after);
        let expected = format!(
            "  ~ Fn  AWS::Lambda::Function
      + Properties.Code:
          ZipFile: |
            exports.handler = async () => {{
              return 1;
            }};
      ~ Properties.Description:
          - short
          + {long}"
        );
        assert_eq!(changes[0].to_string(), expected);
    }

    #[test]
    fn diff_layout_puts_the_sign_in_the_first_column() {
        let diff = testing::upload_diff();
        let lines: Vec<String> = stack_lines(&diff, Layout::Diff, false)
            .iter()
            .map(Line::diff_form)
            .collect();
        assert_eq!(
            lines[..5],
            [
                "! CreateUpload  AWS::Lambda::Function",
                "-     Properties.MemorySize: 256",
                "+     Properties.MemorySize: 512",
                "-     Properties.Tags[Key=team].Value: \"media\"",
                "+     Properties.Tags[Key=team].Value: \"platform\"",
            ]
        );
        assert!(lines.contains(&"+       CidrIp: 0.0.0.0/0".to_string()));
        assert!(lines.contains(&"  outputs:".to_string()));
        assert!(!lines.iter().any(|l| l.contains("iam:")));
    }

    #[test]
    fn parameter_and_tag_values_are_quoted_only_when_odd() {
        assert_eq!(shown_text("plain value"), "plain value");
        assert_eq!(shown_text(""), "\"\"");
        assert_eq!(shown_text(" padded"), "\" padded\"");
        assert_eq!(shown_text("two\nlines"), "\"two\\nlines\"");
    }

    #[test]
    fn iam_and_network_changes_display_alone() {
        let diff = testing::upload_diff();
        assert_eq!(
            diff.network[0].to_string(),
            "      ~ WebSg  AWS::EC2::SecurityGroup\n          + ingress tcp 443 from 0.0.0.0/0  ⚠ open to the internet"
        );
        assert!(diff.iam[0].to_string().starts_with(
            "      ~ CreateUploadRole  AWS::IAM::Role\n          - Allow s3:PutObject on "
        ));
    }
}
