//! A small YAML emitter for rendered templates. serde_yaml writes YAML 1.2,
//! where `2010-09-09`, `yes`, `on` or `1:20` are plain strings; CloudFormation
//! and the tools around it (cfn-lint, awscli, moto) read YAML 1.1, where those
//! are dates, booleans and numbers. This emitter leaves a string unquoted only
//! when it is unambiguous under both, and quotes everything else JSON-style
//! (a JSON string is a valid YAML double-quoted scalar).

use serde_json::Value as Json;
use std::fmt::Write;

/// The document as block-style YAML.
pub fn to_string(doc: &Json) -> String {
    let mut out = String::new();
    match doc {
        Json::Object(m) if !m.is_empty() => mapping(&mut out, m, 0),
        Json::Array(a) if !a.is_empty() => sequence(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn is_block(v: &Json) -> bool {
    matches!(v, Json::Object(m) if !m.is_empty()) || matches!(v, Json::Array(a) if !a.is_empty())
}

fn mapping(out: &mut String, m: &serde_json::Map<String, Json>, indent: usize) {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first key of a mapping inside a sequence item shares the `- ` line.
        if i > 0 || !out.ends_with("- ") {
            pad(out, indent);
        }
        out.push_str(&string(k));
        out.push(':');
        value(out, v, indent);
    }
}

fn sequence(out: &mut String, a: &[Json], indent: usize) {
    for v in a {
        pad(out, indent);
        out.push_str("- ");
        match v {
            Json::Object(m) if !m.is_empty() => mapping(out, m, indent + 2),
            Json::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                sequence(out, inner, indent + 2);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn value(out: &mut String, v: &Json, indent: usize) {
    if is_block(v) {
        out.push('\n');
        match v {
            Json::Object(m) => mapping(out, m, indent + 2),
            Json::Array(a) => sequence(out, a, indent + 2),
            _ => {}
        }
    } else {
        out.push(' ');
        out.push_str(&scalar(v));
        out.push('\n');
    }
}

fn pad(out: &mut String, indent: usize) {
    let _ = write!(out, "{:indent$}", "");
}

fn scalar(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => string(s),
        Json::Object(_) => "{}".into(),
        Json::Array(_) => "[]".into(),
    }
}

/// Words YAML 1.1 or 1.2 resolve to booleans or null.
const RESERVED: &[&str] = &[
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~",
];

fn string(s: &str) -> String {
    if plain_ok(s) {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
    }
}

/// Plain only when it starts with a letter, `/` or `$`, holds only
/// unremarkable characters, and is no reserved word. Numbers, dates and
/// times all start with a digit, sign or dot, so they are always quoted.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '/' || first == '$') {
        return false;
    }
    if RESERVED.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    let safe = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./$-@:()=,+ ".contains(c));
    safe && !s.contains(": ") && !s.ends_with(':') && !s.ends_with(' ') && !s.contains("  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "2010-09-09",
            "yes",
            "On",
            "n",
            "1:20",
            "012",
            "1e3",
            "~",
            "null",
            "*",
            "-",
            "a: b",
            "#x",
            "",
            " x",
            "true",
        ] {
            assert!(
                string(s).starts_with('"'),
                "{s} must be quoted, got {}",
                string(s)
            );
        }
        for s in [
            "AWS::S3::Bucket",
            "provided.al2023",
            "$connect",
            "/aws/lambda/x",
            "s3:ObjectCreated",
            "Fn::Sub",
        ] {
            assert_eq!(string(s), s, "{s} can stay plain");
        }
    }

    #[test]
    fn output_round_trips() {
        let doc = json!({
            "A": "2010-09-09",
            "B": {"C": [1, "two", {"D": true, "E": []}, [3, 4]], "F": {}},
            "G": "multi\nline \"quoted\"",
            "H": [{"I": {"J": "k"}, "L": 2.5}],
        });
        let text = to_string(&doc);
        let back: Json = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, doc, "{text}");
        assert!(text.starts_with("A: \"2010-09-09\"\n"), "{text}");
        assert!(text.contains("  - I:\n      J: k\n    L: 2.5\n"), "{text}");
    }
}
