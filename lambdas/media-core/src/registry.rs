//! The model registry: a per-environment JSON document (an environment
//! variable of the functions) naming the models clients may ask for, and
//! the validation of a generation request against it.
//!
//! ```json
//! { "models": {
//!     "flux-schnell": {
//!       "media_type": "image",
//!       "model": "black-forest-labs/flux-schnell",
//!       "version": "5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637",
//!       "parameters": {
//!         "prompt": {"type": "string", "required": true},
//!         "num_outputs": {"type": "integer", "min": 1, "max": 4},
//!         "aspect_ratio": {"type": "string", "enum": ["1:1", "16:9"]}
//!       } } } }
//! ```
//!
//! A request is `{"model": "<name>", "input": {...}, "user_id": "..."}`;
//! every input parameter must be declared, required ones present, and each
//! of the declared type, range and set of values. Errors name the field
//! (`model`, `input.num_outputs`, ...) so the client can fix it.

use crate::MediaType;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The registry document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRegistry {
    /// Models by the name clients use.
    pub models: BTreeMap<String, ModelSpec>,
}

/// One model clients may ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// What it generates.
    pub media_type: MediaType,
    /// Replicate's `owner/name`.
    pub model: String,
    /// The pinned Replicate version id.
    pub version: String,
    /// The input parameters clients may set; any other is refused.
    #[serde(default)]
    pub parameters: BTreeMap<String, ParamSpec>,
}

/// The JSON type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A JSON string.
    String,
    /// A JSON number without fraction or exponent.
    Integer,
    /// Any JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
}

impl ParamType {
    /// The name used in the registry and in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
        }
    }

    /// Whether `v` is of this type.
    pub fn matches(self, v: &Value) -> bool {
        match self {
            ParamType::String => v.is_string(),
            ParamType::Integer => v.is_i64() || v.is_u64(),
            ParamType::Number => v.is_number(),
            ParamType::Boolean => v.is_boolean(),
        }
    }
}

impl std::fmt::Display for ParamType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a parameter accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Its JSON type.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Whether a request must set it.
    #[serde(default)]
    pub required: bool,
    /// Smallest value (integer and number parameters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest value (integer and number parameters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The only values allowed.
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Value>>,
}

/// A registry document that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// The environment variable holding it is not set.
    #[error("environment variable {0} is not set")]
    MissingVariable(String),
    /// It is not JSON of the expected shape.
    #[error("the model registry does not parse: {0}")]
    Parse(String),
    /// It parses, but a model's declaration is inconsistent.
    #[error("model {model:?} in the registry: {message}")]
    Invalid {
        /// The model's registry name.
        model: String,
        /// What is wrong.
        message: String,
    },
}

/// Why a generation request is refused. Each names the offending field as
/// a path into the request body ([`ValidationError::field`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// The body is not a JSON object of the request's shape.
    #[error("{message}")]
    InvalidBody {
        /// The field to blame, when there is one.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The registry has no model of that name.
    #[error("model: unknown model {model:?} (known: {})", known.join(", "))]
    UnknownModel {
        /// The requested name.
        model: String,
        /// The names the registry knows.
        known: Vec<String>,
    },
    /// The model declares no such parameter.
    #[error("{field}: model {model:?} has no parameter {name:?}")]
    UnknownParameter {
        /// `input.<name>`.
        field: String,
        /// The parameter name.
        name: String,
        /// The model.
        model: String,
    },
    /// A required parameter is absent.
    #[error("{field}: required parameter is missing")]
    MissingRequired {
        /// `input.<name>`.
        field: String,
    },
    /// A parameter has the wrong JSON type.
    #[error("{field}: expected {expected}, got {got}")]
    WrongType {
        /// `input.<name>`.
        field: String,
        /// The declared type.
        expected: ParamType,
        /// The JSON type received.
        got: &'static str,
    },
    /// A number is below `min` or above `max`.
    #[error("{field}: {value} is out of range ({})", range_text(*min, *max))]
    OutOfRange {
        /// `input.<name>`.
        field: String,
        /// The value received.
        value: f64,
        /// The declared minimum.
        min: Option<f64>,
        /// The declared maximum.
        max: Option<f64>,
    },
    /// A value is not one of the declared ones.
    #[error("{field}: {value} is not one of {}", Value::Array(allowed.clone()))]
    NotInEnum {
        /// `input.<name>`.
        field: String,
        /// The value received.
        value: Value,
        /// The allowed values.
        allowed: Vec<Value>,
    },
}

fn range_text(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("allowed: {lo} to {hi}"),
        (Some(lo), None) => format!("minimum: {lo}"),
        (None, Some(hi)) => format!("maximum: {hi}"),
        (None, None) => "no bounds".to_string(),
    }
}

impl ValidationError {
    /// The request field to blame: `model`, `input`, `input.<param>`,
    /// `user_id`, or `None` when the body as a whole is wrong.
    pub fn field(&self) -> Option<&str> {
        match self {
            ValidationError::InvalidBody { field, .. } => field.as_deref(),
            ValidationError::UnknownModel { .. } => Some("model"),
            ValidationError::UnknownParameter { field, .. }
            | ValidationError::MissingRequired { field }
            | ValidationError::WrongType { field, .. }
            | ValidationError::OutOfRange { field, .. }
            | ValidationError::NotInEnum { field, .. } => Some(field),
        }
    }
}

/// A request that passed validation, with what starting its prediction
/// needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidatedRequest {
    /// The registry name of the model.
    pub model_name: String,
    /// What it generates.
    pub media_type: MediaType,
    /// Replicate's `owner/name`.
    pub model: String,
    /// The pinned Replicate version id.
    pub version: String,
    /// The input, exactly as given (every key declared and checked).
    pub input: Map<String, Value>,
    /// The user id from the body, if it had one.
    pub user_id: Option<String>,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl ModelRegistry {
    /// Parses and checks a registry document: unknown fields anywhere are
    /// refused, model references must be `owner/name`, versions non-empty
    /// ids, bounds only on numeric parameters with `min <= max`, and enum
    /// values non-empty and of the parameter's type.
    pub fn from_json(text: &str) -> Result<Self, RegistryError> {
        let registry: ModelRegistry =
            serde_json::from_str(text).map_err(|e| RegistryError::Parse(e.to_string()))?;
        registry.check()?;
        Ok(registry)
    }

    /// Reads the registry from the environment variable `name`.
    pub fn from_env(name: &str) -> Result<Self, RegistryError> {
        match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => Self::from_json(&v),
            _ => Err(RegistryError::MissingVariable(name.to_string())),
        }
    }

    fn check(&self) -> Result<(), RegistryError> {
        if self.models.is_empty() {
            return Err(RegistryError::Parse("it declares no models".into()));
        }
        for (name, spec) in &self.models {
            let invalid = |message: String| RegistryError::Invalid {
                model: name.clone(),
                message,
            };
            if name.trim().is_empty() {
                return Err(invalid("the model name is empty".into()));
            }
            let parts: Vec<&str> = spec.model.split('/').collect();
            if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                return Err(invalid(format!(
                    "model {:?} is not of the form owner/name",
                    spec.model
                )));
            }
            if spec.version.is_empty() || !spec.version.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(invalid(format!(
                    "version {:?} is not a Replicate version id",
                    spec.version
                )));
            }
            for (param, p) in &spec.parameters {
                let numeric = matches!(p.kind, ParamType::Integer | ParamType::Number);
                if (p.min.is_some() || p.max.is_some()) && !numeric {
                    return Err(invalid(format!(
                        "parameter {param:?}: min and max apply to integer and number parameters only"
                    )));
                }
                if let (Some(lo), Some(hi)) = (p.min, p.max) {
                    if lo > hi {
                        return Err(invalid(format!(
                            "parameter {param:?}: min {lo} is greater than max {hi}"
                        )));
                    }
                }
                if let Some(allowed) = &p.allowed {
                    if allowed.is_empty() {
                        return Err(invalid(format!("parameter {param:?}: enum is empty")));
                    }
                    if let Some(bad) = allowed.iter().find(|v| !p.kind.matches(v)) {
                        return Err(invalid(format!(
                            "parameter {param:?}: enum value {bad} is not of type {}",
                            p.kind
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The model named `name`.
    pub fn get(&self, name: &str) -> Option<&ModelSpec> {
        self.models.get(name)
    }

    /// Validates a request body given as text.
    pub fn validate_json(&self, body: &str) -> Result<ValidatedRequest, ValidationError> {
        let value: Value =
            serde_json::from_str(body).map_err(|e| ValidationError::InvalidBody {
                field: None,
                message: format!("the body is not valid JSON: {e}"),
            })?;
        self.validate(&value)
    }

    /// Validates a parsed request body.
    pub fn validate(&self, body: &Value) -> Result<ValidatedRequest, ValidationError> {
        let bad = |field: Option<&str>, message: String| ValidationError::InvalidBody {
            field: field.map(str::to_string),
            message,
        };
        let obj = body
            .as_object()
            .ok_or_else(|| bad(None, "the body must be a JSON object".into()))?;
        if let Some(unknown) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "model" | "input" | "user_id"))
        {
            return Err(bad(
                Some(unknown),
                format!("{unknown}: unknown field (expected model, input, user_id)"),
            ));
        }
        let model_name = match obj.get("model") {
            None => return Err(bad(Some("model"), "model: the field is required".into())),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(bad(
                    Some("model"),
                    format!("model: expected string, got {}", json_type(other)),
                ))
            }
        };
        let user_id = match obj.get("user_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                crate::layout::validate_id("user_id", s)
                    .map_err(|e| bad(Some("user_id"), e.to_string()))?;
                Some(s.clone())
            }
            Some(other) => {
                return Err(bad(
                    Some("user_id"),
                    format!("user_id: expected string, got {}", json_type(other)),
                ))
            }
        };
        let input = match obj.get("input") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                return Err(bad(
                    Some("input"),
                    format!("input: expected object, got {}", json_type(other)),
                ))
            }
        };
        let spec = self
            .models
            .get(&model_name)
            .ok_or_else(|| ValidationError::UnknownModel {
                model: model_name.clone(),
                known: self.models.keys().cloned().collect(),
            })?;
        for (name, value) in &input {
            let field = format!("input.{name}");
            let Some(p) = spec.parameters.get(name) else {
                return Err(ValidationError::UnknownParameter {
                    field,
                    name: name.clone(),
                    model: model_name.clone(),
                });
            };
            check_param(&field, p, value)?;
        }
        if let Some(missing) = spec
            .parameters
            .iter()
            .find(|(name, p)| p.required && !input.contains_key(*name))
        {
            return Err(ValidationError::MissingRequired {
                field: format!("input.{}", missing.0),
            });
        }
        Ok(ValidatedRequest {
            model_name,
            media_type: spec.media_type,
            model: spec.model.clone(),
            version: spec.version.clone(),
            input,
            user_id,
        })
    }
}

fn check_param(field: &str, p: &ParamSpec, value: &Value) -> Result<(), ValidationError> {
    if !p.kind.matches(value) {
        return Err(ValidationError::WrongType {
            field: field.to_string(),
            expected: p.kind,
            got: json_type(value),
        });
    }
    if let Some(n) = value.as_f64() {
        let below = p.min.is_some_and(|lo| n < lo);
        let above = p.max.is_some_and(|hi| n > hi);
        if below || above {
            return Err(ValidationError::OutOfRange {
                field: field.to_string(),
                value: n,
                min: p.min,
                max: p.max,
            });
        }
    }
    if let Some(allowed) = &p.allowed {
        let same = |a: &Value| match (a.as_f64(), value.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => a == value,
        };
        if !allowed.iter().any(same) {
            return Err(ValidationError::NotInEnum {
                field: field.to_string(),
                value: value.clone(),
                allowed: allowed.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REGISTRY: &str = r#"{
      "models": {
        "flux-schnell": {
          "media_type": "image",
          "model": "black-forest-labs/flux-schnell",
          "version": "5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637",
          "parameters": {
            "prompt": {"type": "string", "required": true},
            "num_outputs": {"type": "integer", "min": 1, "max": 4},
            "guidance": {"type": "number", "min": 0, "max": 10.5},
            "aspect_ratio": {"type": "string", "enum": ["1:1", "16:9", "9:16"]},
            "seed": {"type": "integer"},
            "fps": {"type": "integer", "enum": [8, 24]},
            "go_fast": {"type": "boolean"}
          }
        },
        "musicgen": {
          "media_type": "audio",
          "model": "meta/musicgen",
          "version": "671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb"
        }
      }
    }"#;

    fn registry() -> ModelRegistry {
        ModelRegistry::from_json(REGISTRY).unwrap()
    }

    fn err(body: Value) -> ValidationError {
        registry().validate(&body).unwrap_err()
    }

    #[test]
    fn a_valid_request_is_normalized() {
        let r = registry()
            .validate(&json!({"model": "flux-schnell", "user_id": "u-1",
                "input": {"prompt": "a cat", "num_outputs": 2, "guidance": 3.5,
                          "aspect_ratio": "16:9", "fps": 24, "go_fast": true}}))
            .unwrap();
        assert_eq!(r.model_name, "flux-schnell");
        assert_eq!(r.media_type, MediaType::Image);
        assert_eq!(r.model, "black-forest-labs/flux-schnell");
        assert!(r.version.starts_with("5599ed"));
        assert_eq!(r.input["prompt"], "a cat");
        assert_eq!(r.input.len(), 6);
        assert_eq!(r.user_id.as_deref(), Some("u-1"));
        // A model without parameters takes an absent or empty input.
        let r = registry()
            .validate_json(r#"{"model": "musicgen"}"#)
            .unwrap();
        assert_eq!(r.media_type, MediaType::Audio);
        assert!(r.input.is_empty() && r.user_id.is_none());
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let e = err(json!({"model": "sdxl", "input": {}}));
        assert_eq!(e.field(), Some("model"));
        assert_eq!(
            e.to_string(),
            "model: unknown model \"sdxl\" (known: flux-schnell, musicgen)"
        );
    }

    #[test]
    fn unknown_parameter_is_named() {
        let e = err(json!({"model": "flux-schnell", "input": {"prompt": "x", "steps": 4}}));
        assert_eq!(
            e,
            ValidationError::UnknownParameter {
                field: "input.steps".into(),
                name: "steps".into(),
                model: "flux-schnell".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "input.steps: model \"flux-schnell\" has no parameter \"steps\""
        );
    }

    #[test]
    fn missing_required_parameter_is_named() {
        let e = err(json!({"model": "flux-schnell", "input": {"num_outputs": 1}}));
        assert_eq!(e.field(), Some("input.prompt"));
        assert_eq!(e.to_string(), "input.prompt: required parameter is missing");
        let e = err(json!({"model": "flux-schnell"}));
        assert!(matches!(e, ValidationError::MissingRequired { .. }));
    }

    #[test]
    fn wrong_types_are_named_with_both_types() {
        for (input, field, expected, got) in [
            (
                json!({"prompt": 5}),
                "input.prompt",
                ParamType::String,
                "integer",
            ),
            (
                json!({"prompt": "x", "num_outputs": 1.5}),
                "input.num_outputs",
                ParamType::Integer,
                "number",
            ),
            (
                json!({"prompt": "x", "num_outputs": "2"}),
                "input.num_outputs",
                ParamType::Integer,
                "string",
            ),
            (
                json!({"prompt": "x", "guidance": true}),
                "input.guidance",
                ParamType::Number,
                "boolean",
            ),
            (
                json!({"prompt": "x", "go_fast": "yes"}),
                "input.go_fast",
                ParamType::Boolean,
                "string",
            ),
            (
                json!({"prompt": null}),
                "input.prompt",
                ParamType::String,
                "null",
            ),
            (
                json!({"prompt": ["a"]}),
                "input.prompt",
                ParamType::String,
                "array",
            ),
        ] {
            let e = err(json!({"model": "flux-schnell", "input": input}));
            assert_eq!(
                e,
                ValidationError::WrongType {
                    field: field.into(),
                    expected,
                    got
                },
                "{input}"
            );
        }
        let e = err(json!({"model": "flux-schnell", "input": {"prompt": 5}}));
        assert_eq!(e.to_string(), "input.prompt: expected string, got integer");
    }

    #[test]
    fn out_of_range_values_are_named_with_the_bounds() {
        let e = err(json!({"model": "flux-schnell", "input": {"prompt": "x", "num_outputs": 5}}));
        assert_eq!(e.field(), Some("input.num_outputs"));
        assert_eq!(
            e.to_string(),
            "input.num_outputs: 5 is out of range (allowed: 1 to 4)"
        );
        let e = err(json!({"model": "flux-schnell", "input": {"prompt": "x", "num_outputs": 0}}));
        assert!(matches!(e, ValidationError::OutOfRange { value, .. } if value == 0.0));
        let e = err(json!({"model": "flux-schnell", "input": {"prompt": "x", "guidance": -0.1}}));
        assert_eq!(
            e.to_string(),
            "input.guidance: -0.1 is out of range (allowed: 0 to 10.5)"
        );
        // Bounds are inclusive.
        for n in [json!(1), json!(4)] {
            assert!(registry()
                .validate(
                    &json!({"model": "flux-schnell", "input": {"prompt": "x", "num_outputs": n}})
                )
                .is_ok());
        }
        assert!(registry()
            .validate(&json!({"model": "flux-schnell", "input": {"prompt": "x", "guidance": 10.5}}))
            .is_ok());
    }

    #[test]
    fn values_outside_the_enum_are_named() {
        let e =
            err(json!({"model": "flux-schnell", "input": {"prompt": "x", "aspect_ratio": "4:3"}}));
        assert_eq!(e.field(), Some("input.aspect_ratio"));
        assert_eq!(
            e.to_string(),
            r#"input.aspect_ratio: "4:3" is not one of ["1:1","16:9","9:16"]"#
        );
        let e = err(json!({"model": "flux-schnell", "input": {"prompt": "x", "fps": 12}}));
        assert!(matches!(e, ValidationError::NotInEnum { .. }));
    }

    #[test]
    fn malformed_bodies_name_the_field() {
        let cases = [
            (json!([1]), None, "the body must be a JSON object"),
            (
                json!({"input": {}}),
                Some("model"),
                "model: the field is required",
            ),
            (
                json!({"model": 3}),
                Some("model"),
                "model: expected string, got integer",
            ),
            (
                json!({"model": "musicgen", "input": "x"}),
                Some("input"),
                "input: expected object, got string",
            ),
            (
                json!({"model": "musicgen", "extra": 1}),
                Some("extra"),
                "extra: unknown field (expected model, input, user_id)",
            ),
            (
                json!({"model": "musicgen", "user_id": 7}),
                Some("user_id"),
                "user_id: expected string, got integer",
            ),
            (
                json!({"model": "musicgen", "user_id": "../x"}),
                Some("user_id"),
                "invalid user_id \"../x\": it contains '/'",
            ),
        ];
        for (body, field, message) in cases {
            let e = err(body.clone());
            assert_eq!(e.field(), field, "{body}");
            assert_eq!(e.to_string(), message, "{body}");
        }
        let e = registry().validate_json("{nope").unwrap_err();
        assert!(
            e.to_string().starts_with("the body is not valid JSON"),
            "{e}"
        );
    }

    #[test]
    fn registry_documents_refuse_unknown_fields() {
        for doc in [
            r#"{"models": {}, "extra": 1}"#,
            r#"{"models": {"m": {"media_type": "image", "model": "a/b", "version": "v1", "pricing": 0.1}}}"#,
            r#"{"models": {"m": {"media_type": "image", "model": "a/b", "version": "v1",
                "parameters": {"p": {"type": "string", "default": "x"}}}}}"#,
        ] {
            let e = ModelRegistry::from_json(doc).unwrap_err();
            assert!(
                matches!(e, RegistryError::Parse(ref m) if m.contains("unknown field")),
                "{e}"
            );
        }
        for doc in [
            r#"{"models": {"m": {"media_type": "gif", "model": "a/b", "version": "v1"}}}"#,
            r#"{"models": {"m": {"media_type": "image", "model": "a/b", "version": "v1",
                "parameters": {"p": {"type": "float"}}}}}"#,
            r#"{"models": {"m": {"media_type": "image", "model": "a/b"}}}"#,
            "[]",
        ] {
            assert!(
                matches!(ModelRegistry::from_json(doc), Err(RegistryError::Parse(_))),
                "{doc}"
            );
        }
    }

    #[test]
    fn inconsistent_declarations_are_refused() {
        let model = |body: &str| format!(r#"{{"models": {{"m": {body}}}}}"#);
        for (body, message) in [
            (
                r#"{"media_type": "image", "model": "flux", "version": "v1"}"#,
                "model \"flux\" is not of the form owner/name",
            ),
            (
                r#"{"media_type": "image", "model": "a/b/c", "version": "v1"}"#,
                "model \"a/b/c\" is not of the form owner/name",
            ),
            (
                r#"{"media_type": "image", "model": "a/b", "version": ""}"#,
                "version \"\" is not a Replicate version id",
            ),
            (
                r#"{"media_type": "image", "model": "a/b", "version": "a:b"}"#,
                "version \"a:b\" is not a Replicate version id",
            ),
            (
                r#"{"media_type": "image", "model": "a/b", "version": "v", "parameters": {"p": {"type": "string", "min": 1}}}"#,
                "parameter \"p\": min and max apply to integer and number parameters only",
            ),
            (
                r#"{"media_type": "image", "model": "a/b", "version": "v", "parameters": {"p": {"type": "integer", "min": 5, "max": 1}}}"#,
                "parameter \"p\": min 5 is greater than max 1",
            ),
            (
                r#"{"media_type": "image", "model": "a/b", "version": "v", "parameters": {"p": {"type": "string", "enum": []}}}"#,
                "parameter \"p\": enum is empty",
            ),
            (
                r#"{"media_type": "image", "model": "a/b", "version": "v", "parameters": {"p": {"type": "string", "enum": ["a", 1]}}}"#,
                "parameter \"p\": enum value 1 is not of type string",
            ),
        ] {
            let e = ModelRegistry::from_json(&model(body)).unwrap_err();
            assert_eq!(
                e,
                RegistryError::Invalid {
                    model: "m".into(),
                    message: message.into()
                },
                "{body}"
            );
        }
        assert!(matches!(
            ModelRegistry::from_json(r#"{"models": {}}"#),
            Err(RegistryError::Parse(m)) if m == "it declares no models"
        ));
    }

    #[test]
    fn from_env_names_the_variable() {
        std::env::set_var("MEDIA_CORE_TEST_MODELS", REGISTRY);
        let r = ModelRegistry::from_env("MEDIA_CORE_TEST_MODELS").unwrap();
        assert!(r.get("musicgen").is_some());
        assert_eq!(
            ModelRegistry::from_env("MEDIA_CORE_TEST_UNSET")
                .unwrap_err()
                .to_string(),
            "environment variable MEDIA_CORE_TEST_UNSET is not set"
        );
    }

    #[test]
    fn registries_round_trip() {
        let r = registry();
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(ModelRegistry::from_json(&text).unwrap(), r);
    }
}
