//! Scalar values a user writes: parameter values, per-environment values and
//! `${...}` references inside strings.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A parameter value as written in YAML.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged, expecting = "a string, number or boolean")]
pub enum ParamValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text.
    Str(String),
}

impl ParamValue {
    /// The value as CloudFormation receives it (parameters are strings).
    pub fn to_cfn_string(&self) -> String {
        match self {
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::Int(i) => i.to_string(),
            ParamValue::Float(f) => f.to_string(),
            ParamValue::Str(s) => s.clone(),
        }
    }

    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Int(i) => Some(*i as f64),
            ParamValue::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_cfn_string())
    }
}

/// A setting that is either one value or a value per environment:
///
/// ```yaml
/// memory: 256                      # every environment
/// memory: {default: 256, prod: 1024}
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum PerEnv<T> {
    /// The same in every environment.
    One(T),
    /// By environment name; `default` applies to the others.
    ByEnv(BTreeMap<String, T>),
}

/// Reads a mapping as per-environment values and anything else as one value,
/// so a wrong type reports the inner type's own message ("expected u32")
/// rather than serde's generic untagged-enum one.
impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for PerEnv<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_yaml::Value::deserialize(d)?;
        if v.is_mapping() {
            serde_yaml::from_value(v)
                .map(PerEnv::ByEnv)
                .map_err(D::Error::custom)
        } else {
            serde_yaml::from_value(v)
                .map(PerEnv::One)
                .map_err(D::Error::custom)
        }
    }
}

impl<T: Clone> PerEnv<T> {
    /// The value for `env`, if one applies.
    pub fn get(&self, env: &str) -> Option<T> {
        match self {
            PerEnv::One(v) => Some(v.clone()),
            PerEnv::ByEnv(m) => m.get(env).or_else(|| m.get("default")).cloned(),
        }
    }

    /// Every written value with the YAML path suffix it was written at
    /// (`""` for a single value, `.prod` for a per-environment one).
    pub fn written(&self) -> Vec<(String, T)> {
        match self {
            PerEnv::One(v) => vec![(String::new(), v.clone())],
            PerEnv::ByEnv(m) => m
                .iter()
                .map(|(k, v)| (format!(".{k}"), v.clone()))
                .collect(),
        }
    }

    /// The environment keys used (excluding `default`).
    pub fn env_keys(&self) -> Vec<&str> {
        match self {
            PerEnv::One(_) => vec![],
            PerEnv::ByEnv(m) => m
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "default")
                .collect(),
        }
    }
}

/// One piece of a string with `${...}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Plain text.
    Text(String),
    /// A reference: the text between `${` and `}`, split on `.`.
    Ref(Vec<String>),
}

/// Splits `text` into plain text and `${a.b}` references. `$${` is a literal `${`.
pub fn parse_template(text: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        buf.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix("${") {
            buf.push_str("${");
            rest = stripped;
        } else if let Some(body_start) = after.strip_prefix('{') {
            let end = body_start
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            let body = body_start[..end].trim();
            if body.is_empty() {
                return Err(format!("empty reference `${{}}` in `{text}`"));
            }
            if !buf.is_empty() {
                out.push(Segment::Text(std::mem::take(&mut buf)));
            }
            out.push(Segment::Ref(
                body.split('.').map(|s| s.trim().to_string()).collect(),
            ));
            rest = &body_start[end + 1..];
        } else {
            buf.push('$');
            rest = after;
        }
    }
    buf.push_str(rest);
    if !buf.is_empty() {
        out.push(Segment::Text(buf));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_text_and_references() {
        assert_eq!(
            parse_template("https://${api.id}.x/${env}").unwrap(),
            vec![
                Segment::Text("https://".into()),
                Segment::Ref(vec!["api".into(), "id".into()]),
                Segment::Text(".x/".into()),
                Segment::Ref(vec!["env".into()]),
            ]
        );
        assert_eq!(
            parse_template("plain").unwrap(),
            vec![Segment::Text("plain".into())]
        );
        assert_eq!(
            parse_template("$5 and $${x}").unwrap(),
            vec![Segment::Text("$5 and ${x}".into())]
        );
        assert!(parse_template("${oops").is_err());
        assert!(parse_template("${}").is_err());
    }

    #[test]
    fn per_env_values_fall_back_to_default() {
        let v: PerEnv<u32> = serde_yaml::from_str("{default: 7, prod: 30}").unwrap();
        assert_eq!(v.get("dev"), Some(7));
        assert_eq!(v.get("prod"), Some(30));
        let one: PerEnv<u32> = serde_yaml::from_str("5").unwrap();
        assert_eq!(one.get("prod"), Some(5));
        let partial: PerEnv<u32> = serde_yaml::from_str("{prod: 30}").unwrap();
        assert_eq!(partial.get("dev"), None);
    }
}
