//! Template values as a reviewer reads them: CloudFormation intrinsics in
//! their short form (`!Ref X`, `!GetAtt Table.Arn`, `!Sub ...`), object keys
//! sorted, on one line when short, as an indented YAML-like block otherwise.
//! Nothing is ever clipped: a long value takes more lines, not fewer
//! characters.

use serde_json::Value;

/// Longest one-line rendering (in characters) shown after a path; a longer
/// value is shown as a block under it.
pub(super) const INLINE_MAX: usize = 80;

/// How strings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quote {
    /// Always JSON-quoted: property lines, where `"256"` and `a -> b` must
    /// stay unambiguous on one line.
    Always,
    /// Quoted only where YAML would read them as something else (`"*"`,
    /// `"true"`, `"2012-10-17"`): blocks.
    WhenNeeded,
    /// Never quoted (except the empty string and control characters): IAM
    /// and network rows, where every field is text anyway.
    Never,
}

/// `{"Ref": X}`, `{"Condition": "C"}` or `{"Fn::<Name>": arg}` as
/// (`Ref` | `Condition` | `<Name>`, arg); `None` for any other value.
pub(super) fn intrinsic(v: &Value) -> Option<(&str, &Value)> {
    let map = v.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (key, arg) = map.iter().next()?;
    match key.as_str() {
        "Ref" => Some(("Ref", arg)),
        "Condition" if arg.is_string() => Some(("Condition", arg)),
        other => other
            .strip_prefix("Fn::")
            .filter(|name| !name.is_empty())
            .map(|name| (name, arg)),
    }
}

/// `v` on one line: arrays as `[a, b]`, objects as `{K: v}` with sorted
/// keys, intrinsics in short form.
pub(super) fn inline(v: &Value, quote: Quote) -> String {
    let mut out = String::new();
    write_inline(v, quote, &mut out);
    out
}

fn write_inline(v: &Value, quote: Quote, out: &mut String) {
    if let Some((tag, arg)) = intrinsic(v) {
        out.push('!');
        out.push_str(tag);
        out.push(' ');
        match short_intrinsic_argument(tag, arg) {
            Some(text) => out.push_str(&text),
            None => write_inline(arg, quote, out),
        }
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(&b.to_string()),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&quoted(s, quote)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inline(item, quote, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&quoted(key, Quote::WhenNeeded));
                out.push_str(": ");
                write_inline(&map[key], quote, out);
            }
            out.push('}');
        }
    }
}

/// The argument of `!Ref X`, `!Condition C` and `!GetAtt A.B` as the short
/// form writes it: names, never quoted.
fn short_intrinsic_argument(tag: &str, arg: &Value) -> Option<String> {
    match (tag, arg) {
        ("Ref" | "Condition", Value::String(name)) => Some(name.clone()),
        ("GetAtt", Value::Array(parts)) => match parts.as_slice() {
            [Value::String(resource), Value::String(attribute)] => {
                Some(format!("{resource}.{attribute}"))
            }
            _ => None,
        },
        _ => None,
    }
}

/// `s` written as `quote` asks.
pub(super) fn quoted(s: &str, quote: Quote) -> String {
    let json = || Value::from(s).to_string();
    match quote {
        Quote::Always => json(),
        Quote::WhenNeeded if needs_quotes(s) => json(),
        Quote::Never if s.is_empty() || s.chars().any(char::is_control) => json(),
        Quote::WhenNeeded | Quote::Never => s.to_string(),
    }
}

/// Whether YAML would read `s`, written plain, as something other than
/// this string (or not at all).
fn needs_quotes(s: &str) -> bool {
    const INDICATORS: &str = "-?:,[]{}#&*!|>'\"%@`";
    const RESERVED: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    let Some(first) = s.chars().next() else {
        return true;
    };
    s.trim() != s
        || s.chars().any(char::is_control)
        || INDICATORS.contains(first)
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || RESERVED.contains(&s.to_ascii_lowercase().as_str())
        || s.parse::<f64>().is_ok()
        || looks_like_date(s)
}

/// `2012-10-17`: YAML 1.1 reads it as a date.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// `v` as the text after `path: ` when it fits on one line: a scalar or an
/// intrinsic whose one-line form is at most [`INLINE_MAX`] characters, or an
/// empty array or object. `None` means: show it as a [`block`].
pub(super) fn one_line(v: &Value) -> Option<String> {
    let simple = match v {
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty() || intrinsic(v).is_some(),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
    };
    let text = inline(v, Quote::Always);
    (simple && !multi_line(v) && text.chars().count() <= INLINE_MAX).then_some(text)
}

/// Whether a string anywhere in `v` has a line break (a block shows it as
/// lines rather than `\n`).
fn multi_line(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\n'),
        Value::Array(items) => items.iter().any(multi_line),
        Value::Object(map) => map.values().any(multi_line),
        _ => false,
    }
}

/// `v` as YAML-like lines (keys sorted, intrinsics in short form), nested
/// levels indented by two spaces, the first line not indented.
pub(super) fn block(v: &Value) -> Vec<String> {
    let laid = lay(v);
    if laid.head.is_empty() {
        return laid.body;
    }
    let mut lines = vec![laid.head];
    lines.extend(laid.body.into_iter().map(|l| format!("  {l}")));
    lines
}

/// A value laid out in a block: what follows `key: ` or `- ` on the same
/// line (empty for a non-empty array or object), and the lines under it
/// (to be indented by two spaces).
struct Laid {
    head: String,
    body: Vec<String>,
}

fn lay(v: &Value) -> Laid {
    let one = |head: String| Laid {
        head,
        body: Vec::new(),
    };
    if let Some((tag, arg)) = intrinsic(v) {
        if let Some(s) = arg.as_str().filter(|s| s.contains('\n')) {
            let literal = literal(s);
            return Laid {
                head: format!("!{tag} {}", literal.head),
                body: literal.body,
            };
        }
        let text = inline(v, Quote::WhenNeeded);
        let compound = matches!(arg, Value::Array(a) if !a.is_empty())
            || matches!(arg, Value::Object(m) if !m.is_empty());
        if !compound || text.chars().count() <= INLINE_MAX {
            return one(text);
        }
        let inner = lay(arg);
        let mut body = Vec::new();
        if !inner.head.is_empty() {
            body.push(inner.head);
        }
        body.extend(inner.body);
        return Laid {
            head: format!("!{tag}"),
            body,
        };
    }
    match v {
        Value::String(s) if s.contains('\n') => literal(s),
        Value::Array(items) if !items.is_empty() => Laid {
            head: String::new(),
            body: items
                .iter()
                .flat_map(|item| {
                    let laid = lay(item);
                    let mut lines = Vec::new();
                    let mut body = laid.body.into_iter();
                    if laid.head.is_empty() {
                        // A non-empty array or object: its first line
                        // follows the dash.
                        if let Some(first) = body.next() {
                            lines.push(format!("- {first}"));
                        }
                    } else {
                        lines.push(format!("- {}", laid.head));
                    }
                    lines.extend(body.map(|l| format!("  {l}")));
                    lines
                })
                .collect(),
        },
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut body = Vec::new();
            for key in keys {
                let laid = lay(&map[key]);
                let key = quoted(key, Quote::WhenNeeded);
                if laid.head.is_empty() {
                    body.push(format!("{key}:"));
                } else {
                    body.push(format!("{key}: {}", laid.head));
                }
                body.extend(laid.body.into_iter().map(|l| format!("  {l}")));
            }
            Laid {
                head: String::new(),
                body,
            }
        }
        other => one(inline(other, Quote::WhenNeeded)),
    }
}

/// A multi-line string as a YAML literal block (`|`, or `|-` without a
/// final newline); a one-line string as itself.
fn literal(s: &str) -> Laid {
    if !s.contains('\n') {
        return Laid {
            head: quoted(s, Quote::WhenNeeded),
            body: Vec::new(),
        };
    }
    let (text, head) = match s.strip_suffix('\n') {
        Some(text) => (text, "|"),
        None => (s, "|-"),
    };
    Laid {
        head: head.to_string(),
        body: text.split('\n').map(str::to_string).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intrinsics_read_in_short_form() {
        let v = |v: Value| inline(&v, Quote::Always);
        assert_eq!(v(json!({"Ref": "Env"})), "!Ref Env");
        assert_eq!(
            v(json!({"Fn::GetAtt": ["Table", "Arn"]})),
            "!GetAtt Table.Arn"
        );
        assert_eq!(
            v(json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::b/*"})),
            r#"!Sub "arn:${AWS::Partition}:s3:::b/*""#
        );
        assert_eq!(
            inline(
                &json!({"Fn::Sub": ["${T}/index/*", {"T": {"Fn::GetAtt": ["Table", "Arn"]}}]}),
                Quote::Never
            ),
            "!Sub [${T}/index/*, {T: !GetAtt Table.Arn}]"
        );
        assert_eq!(
            v(json!({"Fn::If": ["IsProd", 512, {"Ref": "AWS::NoValue"}]})),
            "!If [\"IsProd\", 512, !Ref AWS::NoValue]"
        );
        // Not intrinsics: two keys, an odd `Condition`, a bare `Fn::`.
        assert_eq!(v(json!({"Ref": "a", "b": 1})), r#"{Ref: "a", b: 1}"#);
        assert_eq!(
            v(json!({"Condition": {"Bool": {"aws:SecureTransport": "false"}}})),
            r#"{Condition: {Bool: {aws:SecureTransport: "false"}}}"#
        );
        assert_eq!(v(json!({"Fn::": 1})), r#"{"Fn::": 1}"#);
        assert_eq!(
            v(json!({"Fn::GetAtt": ["A", {"Ref": "B"}]})),
            r#"!GetAtt ["A", !Ref B]"#
        );
    }

    #[test]
    fn strings_are_quoted_only_where_needed() {
        let yaml = |s: &str| quoted(s, Quote::WhenNeeded);
        assert_eq!(yaml("dynamodb:Scan"), "dynamodb:Scan");
        assert_eq!(yaml("0.0.0.0/0"), "0.0.0.0/0");
        assert_eq!(yaml("${AWS::StackName}-fn"), "${AWS::StackName}-fn");
        for odd in [
            "*",
            "",
            " x",
            "true",
            "No",
            "256",
            "1e3",
            "2012-10-17",
            "a: b",
            "-x",
            "key:",
        ] {
            assert!(yaml(odd).starts_with('"'), "{odd}");
        }
        assert_eq!(quoted("*", Quote::Never), "*");
        assert_eq!(quoted("", Quote::Never), "\"\"");
        assert_eq!(quoted("a\nb", Quote::Never), "\"a\\nb\"");
        assert_eq!(quoted("x", Quote::Always), "\"x\"");
    }

    #[test]
    fn one_line_only_for_short_scalars_and_intrinsics() {
        assert_eq!(one_line(&json!(256)).as_deref(), Some("256"));
        assert_eq!(one_line(&json!("a")).as_deref(), Some("\"a\""));
        assert_eq!(one_line(&json!([])).as_deref(), Some("[]"));
        assert_eq!(one_line(&json!({"Ref": "X"})).as_deref(), Some("!Ref X"));
        assert_eq!(one_line(&json!(["a"])), None);
        assert_eq!(one_line(&json!({"a": 1})), None);
        assert_eq!(one_line(&json!("x".repeat(INLINE_MAX + 1))), None);
        assert_eq!(one_line(&json!("two\nlines")), None);
        assert_eq!(one_line(&json!({"Fn::Sub": "two\nlines"})), None);
    }

    #[test]
    fn blocks_are_yaml_like_with_sorted_keys() {
        let statement = json!({
            "Sid": "SessionsScan",
            "Effect": "Allow",
            "Action": ["dynamodb:Scan"],
            "Resource": [
                {"Fn::GetAtt": ["Sessions", "Arn"]},
                {"Fn::Sub": ["${TableArn}/index/*", {"TableArn": {"Fn::GetAtt": ["Sessions", "Arn"]}}]},
                "*",
            ],
            "Condition": {"StringEquals": {"aws:SourceAccount": ["1", "2"]}},
            "Empty": {},
            "None": [],
        });
        assert_eq!(
            block(&statement).join("\n"),
            "\
Action:
  - dynamodb:Scan
Condition:
  StringEquals:
    aws:SourceAccount:
      - \"1\"
      - \"2\"
Effect: Allow
Empty: {}
None: []
Resource:
  - !GetAtt Sessions.Arn
  - !Sub [${TableArn}/index/*, {TableArn: !GetAtt Sessions.Arn}]
  - \"*\"
Sid: SessionsScan"
        );
    }

    #[test]
    fn long_intrinsics_nested_lists_and_multi_line_strings() {
        let long = "x".repeat(INLINE_MAX);
        let v = json!([
            {"Fn::Join": ["", [long.clone(), {"Ref": "Env"}]]},
            [1, [2]],
            {"Code": {"ZipFile": "exports.handler = async () => {\n  return 1;\n};\n"}},
            {"Fn::Sub": "line one\nline two"},
            long.clone(),
        ]);
        let expected = format!(
            "\
- !Join
  - \"\"
  - - {long}
    - !Ref Env
- - 1
  - - 2
- Code:
    ZipFile: |
      exports.handler = async () => {{
        return 1;
      }};
- !Sub |-
  line one
  line two
- {long}"
        );
        assert_eq!(block(&v).join("\n"), expected);
        assert_eq!(block(&json!("s")), ["s"]);
        assert_eq!(block(&json!({"Ref": "X"})), ["!Ref X"]);
    }
}
