//! Typing YAML values into the model's structs, with every problem located.
//!
//! serde stops at the first error, so one typo would hide everything after
//! it. [`entry`] types a value again after each unknown field, with that
//! field reported and removed, so a misspelt key never hides the checks of
//! the rest. A wrong type still stops the value, but the caller may ask for a
//! stand-in: the same value with every unreadable top-level field left out,
//! so that the checks of *other* values that refer to this one (a grant on a
//! table, a route to a function) still run without reporting a missing name.

use super::source::{index, join, Source};
use crate::diagnostics::{closest, Diagnostic, Diagnostics};
use serde::de::DeserializeOwned;
use serde_yaml::Value;

/// How often one value is typed again after a removed field; each attempt
/// removes one key, so this only bounds pathological files.
const MAX_ATTEMPTS: usize = 64;

/// One step of a path below the value being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Why a value did not type: serde's message and where, below the value.
#[derive(Debug)]
struct Failure {
    steps: Vec<Step>,
    message: String,
}

impl Failure {
    /// The dotted path users see, starting at `base`.
    fn path(&self, base: &str) -> String {
        self.steps.iter().fold(base.to_string(), |p, s| match s {
            Step::Key(k) => join(&p, k),
            Step::Index(i) => index(&p, *i),
        })
    }
}

/// One serde pass with the path of its error.
fn attempt<T: DeserializeOwned>(value: Value) -> Result<T, Failure> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let steps = e
            .path()
            .iter()
            .map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Step::Index(*index),
                serde_path_to_error::Segment::Map { key }
                | serde_path_to_error::Segment::Enum { variant: key } => Step::Key(key.clone()),
                serde_path_to_error::Segment::Unknown => Step::Key("?".to_string()),
            })
            .collect();
        let message = e.inner().to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        Failure { steps, message }
    })
}

/// Deserializes `value` (found at `base` in `source`) into `T`, turning serde's
/// first error into a located diagnostic with a hint.
pub fn typed<T: DeserializeOwned>(
    source: &Source,
    base: &str,
    value: Value,
) -> Result<T, Diagnostic> {
    attempt(value).map_err(|f| explain(source, &f.path(base), &f.message))
}

/// What [`entry`] made of a value.
#[derive(Debug)]
pub enum Typed<T> {
    /// Read as written, apart from reported unknown fields.
    Full(T),
    /// A field had the wrong type or was missing (reported); this is the
    /// value without its unreadable top-level fields, for other values'
    /// checks only.
    StandIn(T),
    /// Unreadable (reported).
    Dropped,
}

impl<T> Typed<T> {
    /// The value, whole or stand-in.
    pub fn value(self) -> Option<T> {
        match self {
            Typed::Full(t) | Typed::StandIn(t) => Some(t),
            Typed::Dropped => None,
        }
    }

    /// True when the value was read as written.
    pub fn is_full(&self) -> bool {
        matches!(self, Typed::Full(_))
    }
}

/// Types `value` (found at `base` in `source`) as `T`, reporting into
/// `diags` every problem: an unknown field is removed where it is, a field
/// whose type is wrong is removed with its top-level field, and the value is
/// typed again. With `stand_in`, what is left of a value that had a wrong
/// type is returned as a [`Typed::StandIn`]; without, it is dropped.
pub fn entry<T: DeserializeOwned>(
    source: &Source,
    base: &str,
    mut value: Value,
    stand_in: bool,
    diags: &mut Diagnostics,
) -> Typed<T> {
    // Fields removed so far, by the path of their mapping: a "missing field"
    // for one of them (or for what a misspelt key probably meant) is a
    // consequence of a problem already reported.
    let mut removed: Vec<(Vec<Step>, String)> = Vec::new();
    let mut wrong = false;
    for _ in 0..MAX_ATTEMPTS {
        let failure = match attempt::<T>(value.clone()) {
            Ok(t) if !wrong => return Typed::Full(t),
            Ok(t) if stand_in => return Typed::StandIn(t),
            Ok(_) => return Typed::Dropped,
            Err(f) => f,
        };
        let path = failure.path(base);
        if let Some((given, expected)) = unknown(&failure.message, "unknown field `") {
            diags.push(explain(source, &path, &failure.message));
            let parent = failure.steps[..failure.steps.len().saturating_sub(1)].to_vec();
            if let Some(meant) = closest(&given, expected.iter().map(String::as_str)) {
                removed.push((parent, meant.to_string()));
            }
            if remove(&mut value, &failure.steps) {
                continue;
            }
            // A key serde names but that cannot be found again: set its
            // whole top-level field aside instead.
            wrong = true;
        } else {
            let consequence = missing(&failure.message).is_some_and(|field| {
                removed
                    .iter()
                    .any(|(parent, f)| *parent == failure.steps && f == field)
            });
            if !consequence {
                diags.push(explain(source, &path, &failure.message));
            }
            wrong = true;
        }
        match failure.steps.first() {
            Some(top) if remove(&mut value, std::slice::from_ref(top)) => {
                if let Step::Key(k) = top {
                    removed.push((Vec::new(), k.clone()));
                }
            }
            _ => return Typed::Dropped,
        }
    }
    Typed::Dropped
}

/// Removes the mapping key at `steps` from `value`; false when there is none.
fn remove(value: &mut Value, steps: &[Step]) -> bool {
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut v = value;
    for step in parents {
        v = match (untag(v), step) {
            (Value::Mapping(m), Step::Key(k)) => match find_key(m, k) {
                Some(key) => match m.get_mut(&key) {
                    Some(inner) => inner,
                    None => return false,
                },
                None => return false,
            },
            (Value::Sequence(s), Step::Index(i)) => match s.get_mut(*i) {
                Some(inner) => inner,
                None => return false,
            },
            _ => return false,
        };
    }
    match (untag(v), last) {
        (Value::Mapping(m), Step::Key(k)) => find_key(m, k)
            .and_then(|key| m.shift_remove(&key))
            .is_some(),
        _ => false,
    }
}

/// A tagged value's inner value (`!Tag value`), else the value itself.
fn untag(v: &mut Value) -> &mut Value {
    match v {
        Value::Tagged(t) => untag(&mut t.value),
        other => other,
    }
}

/// The key of `map` that serde names `name` (keys may be numbers or booleans).
fn find_key(map: &serde_yaml::Mapping, name: &str) -> Option<Value> {
    map.keys()
        .find(|k| key_text(k).as_deref() == Some(name))
        .cloned()
}

/// A scalar mapping key as text, the way serde reports it.
pub fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The diagnostic for a key not in `expected`, with the closest as a hint.
pub fn unknown_field(source: &Source, path: &str, given: &str, expected: &[&str]) -> Diagnostic {
    let d = source.error(path, format!("unknown field `{given}`"));
    match closest(given, expected.iter().copied()) {
        Some(best) => d.hint(format!("did you mean `{best}`?")),
        None if expected.is_empty() => d.hint("this mapping takes no fields"),
        None => d.hint(format!(
            "allowed fields: {}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Rewrites serde's messages into stackctl's: unknown fields and variants get
/// a "did you mean" hint, missing fields name the field to add.
fn explain(source: &Source, path: &str, message: &str) -> Diagnostic {
    if let Some((given, expected)) = unknown(message, "unknown field `") {
        // The path already ends with the unknown key.
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        return unknown_field(source, path, &given, &expected);
    }
    if let Some((given, expected)) = unknown(message, "unknown variant `") {
        let d = source.error(path, format!("unknown value `{given}`"));
        return match closest(&given, expected.iter().map(String::as_str)) {
            Some(best) => d.hint(format!("did you mean `{best}`?")),
            None => d.hint(format!("expected one of {}", expected.join(", "))),
        };
    }
    if let Some(field) = missing(message) {
        return source
            .error(path, format!("missing field `{field}`"))
            .hint(format!("add `{field}:` here"));
    }
    if message.starts_with("invalid ") {
        return source
            .error(
                path,
                format!(
                    "wrong type: {}",
                    message.replacen("invalid type: ", "found ", 1)
                ),
            )
            .hint("check the value's type against the configuration reference in README.md");
    }
    // Untagged enums report only their `expecting` text.
    source
        .error(path, format!("wrong type: expected {message}"))
        .hint("check the value's type against the configuration reference in README.md")
}

/// The field named by serde's "missing field `x`".
fn missing(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
}

/// Parses serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
fn unknown(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let (given, tail) = rest.split_once('`')?;
    let expected = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((given.to_string(), expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{bucket::Bucket, function::Function, schedule::Schedule};
    use std::path::Path;

    fn src(text: &str) -> Source {
        Source::parse(Path::new("stacks/t.yaml"), text).unwrap()
    }

    /// Types `resources.r` of `text` (without its `type`) as `T`.
    fn run<T: DeserializeOwned>(text: &str, stand_in: bool) -> (Typed<T>, Diagnostics) {
        let s = src(text);
        let mut v = s.value["resources"]["r"].clone();
        if let Value::Mapping(m) = &mut v {
            m.shift_remove("type");
        }
        let mut diags = Diagnostics::default();
        let t = entry::<T>(&s, "resources.r", v, stand_in, &mut diags);
        (t, diags)
    }

    fn messages(d: &Diagnostics) -> Vec<(String, Option<usize>)> {
        d.0.iter().map(|d| (d.message.clone(), d.line)).collect()
    }

    #[test]
    fn every_unknown_field_is_reported_and_the_rest_is_read() {
        let (t, d) = run::<Function>(
            "resources:\n  r:\n    type: function\n    memroy: 128\n    timeout: 5000\n    timout: 3\n",
            false,
        );
        assert_eq!(
            messages(&d),
            vec![
                ("unknown field `memroy`".to_string(), Some(4)),
                ("unknown field `timout`".to_string(), Some(6)),
            ]
        );
        let Typed::Full(f) = t else {
            panic!("not read: {t:?}")
        };
        // What was written correctly is kept, so its range checks still run.
        assert_eq!(f.timeout.and_then(|t| t.get("dev")), Some(5000));
    }

    #[test]
    fn unknown_fields_inside_lists_are_removed_where_they_are() {
        let (t, d) = run::<Bucket>(
            "resources:\n  r:\n    cors:\n      - methods: [GET]\n      - metods: [PUT]\n        methods: [PUT]\n",
            false,
        );
        assert_eq!(d.0[0].path, "resources.r.cors[1].metods");
        assert_eq!(d.0[0].line, Some(5));
        let Typed::Full(b) = t else {
            panic!("not read: {t:?}")
        };
        assert_eq!(b.cors.len(), 2);
    }

    #[test]
    fn a_misspelt_required_field_is_reported_once() {
        let (t, d) = run::<Schedule>(
            "resources:\n  r:\n    expresion: rate(1 day)\n    target: f\n",
            true,
        );
        assert_eq!(
            messages(&d),
            vec![("unknown field `expresion`".to_string(), Some(3))]
        );
        assert!(matches!(t, Typed::Dropped), "{t:?}");
    }

    #[test]
    fn a_wrong_type_gives_a_stand_in_without_that_field() {
        let (t, d) = run::<Function>(
            "resources:\n  r:\n    timeout: soon\n    memroy: 1\n    memory: 512\n",
            true,
        );
        let m = messages(&d);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].0.starts_with("wrong type"), "{m:?}");
        assert_eq!(m[0].1, Some(3));
        // The wrong type hides nothing after it.
        assert_eq!(m[1], ("unknown field `memroy`".to_string(), Some(4)));
        let Typed::StandIn(f) = t else {
            panic!("no stand-in: {t:?}")
        };
        assert!(f.timeout.is_none());
        assert_eq!(f.memory.and_then(|m| m.get("dev")), Some(512));
        // Without a stand-in the value is dropped, with the same diagnostics.
        let (t, d) = run::<Function>("resources:\n  r:\n    timeout: soon\n", false);
        assert!(matches!(t, Typed::Dropped));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn every_wrong_type_is_reported() {
        let (t, d) = run::<Function>(
            "resources:\n  r:\n    timeout: soon\n    memory: lots\n    environment: {A: [1]}\n",
            true,
        );
        let lines: Vec<Option<usize>> = d.0.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![Some(3), Some(4), Some(5)]);
        assert!(matches!(t, Typed::StandIn(_)));
    }

    #[test]
    fn a_wrong_type_in_a_required_field_drops_the_value() {
        let (t, d) = run::<Schedule>(
            "resources:\n  r:\n    expression: [1]\n    target: f\n",
            true,
        );
        assert!(matches!(t, Typed::Dropped), "{t:?}");
        assert_eq!(d.len(), 1);
        assert_eq!(d.0[0].path, "resources.r.expression");
    }

    #[test]
    fn odd_keys_and_values_never_loop_or_panic() {
        for text in [
            "resources:\n  r:\n    1: x\n",
            "resources:\n  r:\n    true: x\n    [a]: b\n",
            "resources:\n  r: !tag\n    memroy: 1\n",
            "resources:\n  r: 5\n",
            "resources:\n  r: [memroy]\n",
            "resources:\n  r: ~\n",
        ] {
            let (_, d) = run::<Function>(text, true);
            assert!(!d.is_empty() || text.contains("~"), "{text}");
        }
    }
}
