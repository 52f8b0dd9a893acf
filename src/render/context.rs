//! Resolves one stack for one environment into the values the templates lay
//! out: physical names, logical ids, `${...}` references as CloudFormation
//! expressions, per-environment settings, IAM statements. Every problem is
//! recorded as a located diagnostic and the walk goes on, so validation
//! reports all of them at once.

use super::iam;
use super::names::{expand_name, name_pattern, pascal, physical_problem};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::model::source::{index, join};
use crate::model::stack::{self, ParamType, Resource};
use crate::model::value::{parse_template, ParamValue, PerEnv, Segment};
use crate::model::{Project, Settings, Stack};
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

/// The CloudFormation parameter holding the artefact bucket.
pub const ARTEFACT_BUCKET_PARAM: &str = "ArtefactBucket";

/// Valid CloudWatch Logs retention values, in days.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// One resource ready for its kind's template.
pub struct ResourceContext {
    /// Resource key in the stack file.
    pub key: String,
    /// Kind name, which is also the template name.
    pub kind: &'static str,
    /// What the template sees as `r`.
    pub values: Json,
}

/// A stack resolved for one environment.
pub struct StackContext {
    /// CloudFormation stack name.
    pub stack_name: String,
    /// Template-level values (description, parameters, conditions, outputs, metadata).
    pub skeleton: Json,
    /// Resources in key order.
    pub resources: Vec<ResourceContext>,
    /// Stack parameter values for this environment, by logical id.
    pub parameters: BTreeMap<String, String>,
    /// Function key to its code-key parameter, for `build`/`deploy`.
    pub code_parameters: BTreeMap<String, String>,
    /// Parameters whose value is another stack's output, resolved at deploy
    /// time: parameter logical id to (stack, output).
    pub output_parameters: BTreeMap<String, (String, String)>,
    /// Stack tags: the project's, then the environment's.
    pub tags: BTreeMap<String, String>,
}

/// The CloudFormation stack name of `stack` in `env`.
pub fn stack_name(project: &Project, stack: &str, env: &str) -> String {
    format!("{}-{}-{}", project.file.project, stack, env)
}

/// Walks one stack for one environment.
pub struct Builder<'a> {
    project: &'a Project,
    stack: &'a Stack,
    env: &'a str,
    settings: Settings,
    diags: &'a mut Diagnostics,
    names: BTreeMap<String, String>,
    conditions: BTreeMap<String, Json>,
    logical_ids: BTreeMap<String, String>,
    output_parameters: BTreeMap<String, (String, String)>,
}

impl<'a> Builder<'a> {
    /// Starts a walk; `diags` collects what is wrong.
    pub fn new(
        project: &'a Project,
        stack: &'a Stack,
        env: &'a str,
        diags: &'a mut Diagnostics,
    ) -> Self {
        let e = &project.file.environments[env];
        let settings = Settings::resolve(&project.file.settings, &e.settings, e.protected);
        Self {
            project,
            stack,
            env,
            settings,
            diags,
            names: BTreeMap::new(),
            conditions: BTreeMap::new(),
            logical_ids: BTreeMap::new(),
            output_parameters: BTreeMap::new(),
        }
    }

    fn error(&mut self, path: &str, message: impl Into<String>) -> &mut Diagnostic {
        let d = self.stack.source.error(path, message);
        self.diags.push(d);
        self.diags.0.last_mut().expect("just pushed")
    }

    fn error_hint(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        let hint = hint.into();
        self.error(path, message).hint = Some(hint);
    }

    /// Builds the whole stack context.
    pub fn build(mut self) -> StackContext {
        let stack_name = stack_name(self.project, &self.stack.name, self.env);
        self.assign_names();
        let (parameters, param_values) = self.parameters();
        let mut resources = Vec::new();
        let keys: Vec<String> = self.stack.resources.keys().cloned().collect();
        for key in &keys {
            let path = join("resources", key);
            if let Some(p) = crate::render::names::identifier_problem("resource key", key, '_', 64)
            {
                self.error_hint(&path, p, "use snake_case keys such as `create_upload`");
                continue;
            }
            let r = &self.stack.resources[key];
            let values = match r {
                Resource::Bucket(b) => self.bucket(key, b, &path),
                Resource::Table(t) => self.table(key, t, &path),
                Resource::Function(f) => self.function(key, f, &path),
                Resource::HttpApi(a) => self.http_api(key, a, &path),
                Resource::WebsocketApi(a) => self.websocket_api(key, a, &path),
                Resource::Schedule(s) => self.schedule(key, s, &path),
                Resource::Alarm(a) => self.alarm(key, a, &path),
                Resource::Raw(r) => self.raw(key, r, &path),
            };
            resources.push(ResourceContext {
                key: key.clone(),
                kind: r.kind(),
                values,
            });
        }
        let mut code_parameters = BTreeMap::new();
        let mut all_params = parameters;
        let functions: Vec<&String> = self
            .stack
            .resources
            .iter()
            .filter(|(_, r)| matches!(r, Resource::Function(_)))
            .map(|(k, _)| k)
            .collect();
        if !functions.is_empty() {
            all_params.insert(
                ARTEFACT_BUCKET_PARAM.to_string(),
                json!({"Type": "String", "Description": "S3 bucket holding function artefacts (set by stackctl deploy)"}),
            );
            for key in functions {
                let p = format!("{}CodeKey", pascal(key));
                self.claim(&p, &join("resources", key));
                all_params.insert(
                    p.clone(),
                    json!({"Type": "String", "Description": format!("S3 key of the `{key}` function's zip (content-addressed, set by stackctl deploy)")}),
                );
                code_parameters.insert(key.clone(), p);
            }
        }
        let outputs = self.outputs(&stack_name);
        let description = self
            .stack
            .file
            .description
            .clone()
            .unwrap_or_else(|| format!("stack {}", self.stack.name));
        let skeleton = json!({
            "description": format!("{} ({} {})", description.trim(), self.project.file.project, self.env),
            "metadata": {"project": self.project.file.project, "stack": self.stack.name, "environment": self.env},
            "parameters": all_params,
            "conditions": self.conditions,
            "outputs": outputs,
        });
        let e = &self.project.file.environments[self.env];
        let mut tags = self.project.file.tags.clone();
        tags.extend(e.tags.clone());
        StackContext {
            stack_name,
            skeleton,
            resources,
            parameters: param_values,
            code_parameters,
            output_parameters: std::mem::take(&mut self.output_parameters),
            tags,
        }
    }

    /// Records a logical id, reporting a clash with another resource's.
    fn claim(&mut self, logical: &str, path: &str) {
        if let Some(other) = self.logical_ids.get(logical) {
            if other != path {
                let msg =
                    format!("logical id `{logical}` is produced by both `{other}` and `{path}`");
                self.error_hint(path, msg, "rename one of the two keys");
            }
        } else {
            self.logical_ids
                .insert(logical.to_string(), path.to_string());
        }
    }

    fn assign_names(&mut self) {
        let pattern = self
            .project
            .file
            .naming
            .clone()
            .unwrap_or_else(|| crate::model::project::DEFAULT_NAMING.to_string());
        let entries: Vec<(String, Option<String>, &'static str)> = self
            .stack
            .resources
            .iter()
            .map(|(k, r)| (k.clone(), r.name_pattern().map(str::to_string), r.kind()))
            .collect();
        for (key, own, kind) in entries {
            if kind == "raw" {
                continue;
            }
            let is_own = own.is_some();
            let (pat, path) = match own {
                Some(p) => (p, join(&join("resources", &key), "name")),
                None => (pattern.clone(), join("resources", &key)),
            };
            let Some(name) = self.expand(&pat, &key, &path, is_own) else {
                continue;
            };
            if let Some(problem) = physical_problem(kind, &name) {
                let msg = format!("in environment `{}`: {problem}", self.env);
                self.error_hint(
                    &path,
                    msg,
                    "shorten the key or the project name, or set `name:` with a pattern that fits",
                );
            }
            self.names.insert(key, name);
        }
    }

    /// Expands a name pattern (see [`super::names::name_pattern`]). A
    /// problem in a resource's own `name:` is reported at it; the project's
    /// `naming:` is checked once, in `stackctl.yaml`, by validation.
    fn expand(&mut self, pattern: &str, key: &str, path: &str, own: bool) -> Option<String> {
        match name_pattern(pattern) {
            Ok(parts) => Some(expand_name(
                &parts,
                &self.project.file.project,
                &self.stack.name,
                key,
                self.env,
            )),
            Err(p) => {
                if own {
                    self.error_hint(path, p.message, p.hint);
                }
                None
            }
        }
    }

    fn name(&self, key: &str) -> String {
        self.names.get(key).cloned().unwrap_or_default()
    }

    /// The value of a per-environment setting for this environment.
    fn per_env<T: Clone>(&mut self, v: &PerEnv<T>, path: &str) -> Option<T> {
        for k in v.env_keys() {
            if !self.project.file.environments.contains_key(k) {
                let envs: Vec<&str> = self
                    .project
                    .file
                    .environments
                    .keys()
                    .map(String::as_str)
                    .collect();
                let d = self
                    .stack
                    .source
                    .error(join(path, k), format!("unknown environment `{k}`"))
                    .suggest(k, envs);
                self.diags.push(d);
            }
        }
        let got = v.get(self.env);
        if got.is_none() {
            let msg = format!("no value for environment `{}`", self.env);
            self.error_hint(path, msg, "add `default:` or a value for this environment");
        }
        got
    }

    /// Checks every written value of a numeric setting against a range.
    fn check_range(&mut self, v: &PerEnv<u32>, path: &str, what: &str, min: u32, max: u32) {
        for (suffix, n) in v.written() {
            if n < min || n > max {
                self.error_hint(
                    &format!("{path}{suffix}"),
                    format!("{what} {n} is out of range"),
                    format!("allowed: {min} to {max}"),
                );
            }
        }
    }

    fn check_retention(&mut self, v: &PerEnv<u32>, path: &str) {
        for (suffix, n) in v.written() {
            if !LOG_RETENTION_DAYS.contains(&n) {
                let near = LOG_RETENTION_DAYS
                    .iter()
                    .min_by_key(|d| d.abs_diff(n))
                    .copied()
                    .unwrap_or(14);
                self.error_hint(
                    &format!("{path}{suffix}"),
                    format!("log retention of {n} days is not one CloudWatch Logs accepts"),
                    format!("the nearest allowed value is {near}; allowed: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"),
                );
            }
        }
    }

    /// The resource `key` refers to, checking it exists and is of `kinds`.
    fn target(&mut self, key: &str, path: &str, kinds: &[&str]) -> Option<&'a Resource> {
        let stack: &'a Stack = self.stack;
        match stack.resources.get(key) {
            None => {
                let candidates: Vec<&str> = stack
                    .resources
                    .iter()
                    .filter(|(_, r)| kinds.contains(&r.kind()))
                    .map(|(k, _)| k.as_str())
                    .collect();
                let d = stack
                    .source
                    .error(path, format!("`{key}` is not a resource of this stack"))
                    .suggest(key, candidates);
                self.diags.push(d);
                None
            }
            Some(r) if !kinds.contains(&r.kind()) => {
                let msg = format!(
                    "`{key}` is a {}, expected a {}",
                    r.kind(),
                    kinds.join(" or ")
                );
                self.error_hint(path, msg, "point at a resource of the expected type");
                None
            }
            Some(r) => Some(r),
        }
    }

    /// A string with `${...}` references as a CloudFormation value.
    pub fn value(&mut self, text: &str, path: &str) -> Json {
        let segments = match parse_template(text) {
            Ok(s) => s,
            Err(e) => {
                self.error_hint(
                    path,
                    e,
                    "references look like `${resource.attribute}`; write `$${` for a literal `${`",
                );
                return Json::Null;
            }
        };
        if let [Segment::Ref(parts)] = segments.as_slice() {
            return self.reference(parts, path).unwrap_or(Json::Null);
        }
        if segments.iter().all(|s| matches!(s, Segment::Text(_))) {
            return Json::String(text.replace("$${", "${"));
        }
        let mut body = String::new();
        let mut vars = Map::new();
        for s in &segments {
            match s {
                Segment::Text(t) => body.push_str(&t.replace("${", "${!")),
                Segment::Ref(parts) => {
                    let Some(expr) = self.reference(parts, path) else {
                        continue;
                    };
                    if let Json::String(lit) = &expr {
                        body.push_str(&lit.replace("${", "${!"));
                    } else {
                        let var = pascal(&parts.join("_"));
                        body.push_str(&format!("${{{var}}}"));
                        vars.insert(var, expr);
                    }
                }
            }
        }
        if vars.is_empty() {
            Json::String(body.replace("${!", "${"))
        } else {
            json!({"Fn::Sub": [body, vars]})
        }
    }

    /// The CloudFormation expression for `${a.b.c}`.
    fn reference(&mut self, parts: &[String], path: &str) -> Option<Json> {
        let first = parts[0].as_str();
        let simple = |v: Json| if parts.len() == 1 { Some(v) } else { None };
        let pseudo = match first {
            "env" => simple(json!(self.env)),
            "project" => simple(json!(self.project.file.project)),
            "stack" => simple(json!(self.stack.name)),
            "region" => simple(json!({"Ref": "AWS::Region"})),
            "account" => simple(json!({"Ref": "AWS::AccountId"})),
            "partition" => simple(json!({"Ref": "AWS::Partition"})),
            "url_suffix" => simple(json!({"Ref": "AWS::URLSuffix"})),
            _ => None,
        };
        if let Some(v) = pseudo {
            return Some(v);
        }
        match (first, parts.len()) {
            ("param", 2) => {
                let name = &parts[1];
                if self.stack.file.parameters.contains_key(name) {
                    return Some(json!({"Ref": pascal(name)}));
                }
                let names: Vec<&str> = self
                    .stack
                    .file
                    .parameters
                    .keys()
                    .map(String::as_str)
                    .collect();
                let d = self
                    .stack
                    .source
                    .error(
                        path,
                        format!("unknown parameter `{name}` in `${{param.{name}}}`"),
                    )
                    .suggest(name, names);
                self.diags.push(d);
                return None;
            }
            ("import", 3) => return self.import(&parts[1], &parts[2], path),
            _ => {}
        }
        let stack: &'a Stack = self.stack;
        let Some(r) = stack.resources.get(first) else {
            let mut candidates: Vec<&str> = stack.resources.keys().map(String::as_str).collect();
            candidates.extend([
                "param",
                "import",
                "env",
                "project",
                "stack",
                "region",
                "account",
                "partition",
            ]);
            let d = stack
                .source
                .error(
                    path,
                    format!(
                        "`${{{}}}` refers to `{first}`, which is not a resource of this stack",
                        parts.join(".")
                    ),
                )
                .suggest(first, candidates);
            self.diags.push(d);
            return None;
        };
        if parts.len() != 2 {
            let attrs = r.attributes().join(", ");
            self.error_hint(
                path,
                format!(
                    "`${{{}}}` needs one attribute after the resource",
                    parts.join(".")
                ),
                format!("{first} has: {attrs}"),
            );
            return None;
        }
        let attr = parts[1].as_str();
        if !r.attributes().contains(&attr) {
            let d = stack
                .source
                .error(
                    path,
                    format!("{} `{first}` has no attribute `{attr}`", r.kind()),
                )
                .suggest(attr, r.attributes().iter().copied());
            self.diags.push(d);
            return None;
        }
        Some(self.attribute(first, r, attr, path))
    }

    fn attribute(&mut self, key: &str, r: &Resource, attr: &str, path: &str) -> Json {
        let l = pascal(key);
        let name = self.name(key);
        let getatt = |a: &str| json!({"Fn::GetAtt": [l, a]});
        match (r, attr) {
            // Buckets have explicit names, so their name and ARN are written
            // out rather than referenced: that keeps a function that names
            // its bucket free of a dependency cycle with the bucket's
            // notification of that function.
            (Resource::Bucket(_), "name") => json!(name),
            (Resource::Bucket(_), "arn") => {
                json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:s3:::{name}")})
            }
            (Resource::Bucket(_), "domain") => getatt("RegionalDomainName"),
            (Resource::Bucket(b), "website_url") => {
                if b.website.is_none() {
                    self.error_hint(
                        path,
                        format!("bucket `{key}` has no website, so no `website_url`"),
                        "add `website:` to the bucket",
                    );
                }
                getatt("WebsiteURL")
            }
            (Resource::Table(t), "stream_arn") => {
                if t.stream.is_none() {
                    self.error_hint(
                        path,
                        format!("table `{key}` has no stream, so no `stream_arn`"),
                        "add `stream: new_and_old_images` to the table",
                    );
                }
                getatt("StreamArn")
            }
            (Resource::Function(_), "role_arn") => {
                json!({"Fn::GetAtt": [format!("{l}Role"), "Arn"]})
            }
            (Resource::HttpApi(a), "url") => {
                let stage = self.stage(a.stage.as_deref());
                let suffix = if stage == "$default" {
                    String::new()
                } else {
                    format!("/{stage}")
                };
                json!({"Fn::Sub": format!("https://${{{l}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}{suffix}")})
            }
            (Resource::WebsocketApi(a), "url") => {
                let stage = self.stage(a.stage.as_deref());
                json!({"Fn::Sub": format!("wss://${{{l}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}")})
            }
            (Resource::WebsocketApi(a), "management_url") => {
                let stage = self.stage(a.stage.as_deref());
                json!({"Fn::Sub": format!("https://${{{l}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}")})
            }
            (Resource::HttpApi(a), "stage") => json!(self.stage(a.stage.as_deref())),
            (Resource::WebsocketApi(a), "stage") => json!(self.stage(a.stage.as_deref())),
            (_, "arn") => getatt("Arn"),
            _ => json!({"Ref": l}),
        }
    }

    fn stage(&self, stage: Option<&str>) -> String {
        stage.unwrap_or("{env}").replace("{env}", self.env)
    }

    /// `${import.STACK.OUTPUT}`: an export of a stack this one depends on.
    fn import(&mut self, other: &str, output: &str, path: &str) -> Option<Json> {
        let project: &'a Project = self.project;
        let Some(target) = project.stacks.get(other) else {
            let names: Vec<&str> = project.file.stacks.keys().map(String::as_str).collect();
            let d = self
                .stack
                .source
                .error(
                    path,
                    format!("`${{import.{other}.{output}}}` names unknown stack `{other}`"),
                )
                .suggest(other, names);
            self.diags.push(d);
            return None;
        };
        if !depends_on(project, &self.stack.name, other) {
            let msg = format!(
                "stack `{}` imports from `{other}` but does not depend on it",
                self.stack.name
            );
            self.error_hint(
                path,
                msg,
                format!(
                    "add `{other}` to `depends_on` of `{}` in stackctl.yaml",
                    self.stack.name
                ),
            );
        }
        match target.file.outputs.get(output) {
            Some(o) if o.export => Some(
                json!({"Fn::ImportValue": format!("{}-{output}", stack_name(project, other, self.env))}),
            ),
            Some(_) => {
                self.error_hint(
                    path,
                    format!("output `{output}` of stack `{other}` is not exported"),
                    "set `export: true` on it",
                );
                None
            }
            None => {
                let names: Vec<&str> = target.file.outputs.keys().map(String::as_str).collect();
                let d = self
                    .stack
                    .source
                    .error(path, format!("stack `{other}` has no output `{output}`"))
                    .suggest(output, names);
                self.diags.push(d);
                None
            }
        }
    }

    /// Stack parameters as CloudFormation parameters, and their values here.
    fn parameters(&mut self) -> (Map<String, Json>, BTreeMap<String, String>) {
        let mut decl = Map::new();
        let mut values = BTreeMap::new();
        let overrides = self
            .project
            .file
            .environments
            .get(self.env)
            .and_then(|e| e.parameters.get(&self.stack.name))
            .cloned()
            .unwrap_or_default();
        let params = self.stack.file.parameters.clone();
        for (name, p) in &params {
            let path = join("parameters", name);
            if let Some(problem) =
                crate::render::names::identifier_problem("parameter name", name, '_', 64)
            {
                self.error(&path, problem);
                continue;
            }
            let logical = pascal(name);
            self.claim(&logical, &path);
            let mut d = Map::new();
            d.insert(
                "Type".into(),
                json!(if p.kind == ParamType::Number {
                    "Number"
                } else {
                    "String"
                }),
            );
            if let Some(desc) = &p.description {
                d.insert("Description".into(), json!(desc));
            }
            if let Some(def) = &p.default {
                self.check_param(p, def, &join(&path, "default"), name);
                d.insert("Default".into(), json!(def.to_cfn_string()));
            }
            for (env, v) in &p.env {
                let vpath = join(&join(&path, "env"), env);
                if !self.project.file.environments.contains_key(env) {
                    let envs: Vec<&str> = self
                        .project
                        .file
                        .environments
                        .keys()
                        .map(String::as_str)
                        .collect();
                    let dg = self
                        .stack
                        .source
                        .error(&vpath, format!("unknown environment `{env}`"))
                        .suggest(env, envs);
                    self.diags.push(dg);
                }
                self.check_param(p, v, &vpath, name);
            }
            match p.kind {
                ParamType::Boolean => {
                    d.insert("AllowedValues".into(), json!(["true", "false"]));
                    self.conditions.insert(
                        format!("{logical}IsTrue"),
                        json!({"Fn::Equals": [{"Ref": logical}, "true"]}),
                    );
                }
                ParamType::Number => {
                    if let Some(m) = p.min {
                        d.insert("MinValue".into(), number(m));
                    }
                    if let Some(m) = p.max {
                        d.insert("MaxValue".into(), number(m));
                    }
                }
                ParamType::String => {}
            }
            if let Some(allowed) = &p.allowed {
                d.insert(
                    "AllowedValues".into(),
                    json!(allowed
                        .iter()
                        .map(ParamValue::to_cfn_string)
                        .collect::<Vec<_>>()),
                );
            }
            decl.insert(logical.clone(), Json::Object(d));
            if let Some(spec) = &p.from_output {
                self.output_parameter(p, name, spec, &logical, overrides.contains_key(name));
                continue;
            }
            let value = overrides
                .get(name)
                .or_else(|| p.env.get(self.env))
                .or(p.default.as_ref());
            match value {
                Some(v) => {
                    if let Some(o) = overrides.get(name) {
                        self.check_override(p, o, name);
                    }
                    values.insert(logical, v.to_cfn_string());
                }
                None => {
                    let msg = format!(
                        "parameter `{name}` has no value for environment `{}`",
                        self.env
                    );
                    self.error_hint(&path, msg, format!("add `default:`, `env: {{{}: ...}}`, or set it under environments.{}.parameters.{} in stackctl.yaml", self.env, self.env, self.stack.name));
                }
            }
        }
        for name in overrides.keys() {
            if !params.contains_key(name) {
                let names: Vec<&str> = params.keys().map(String::as_str).collect();
                let path = format!(
                    "environments.{}.parameters.{}.{name}",
                    self.env, self.stack.name
                );
                let d = self
                    .project
                    .source
                    .error(
                        &path,
                        format!("stack `{}` has no parameter `{name}`", self.stack.name),
                    )
                    .suggest(name, names);
                self.diags.push(d);
            }
        }
        (decl, values)
    }

    /// A parameter fed by another stack's output (`from_output: STACK.OUTPUT`):
    /// that stack must be a dependency and declare the output, and no
    /// value may be given here as well.
    fn output_parameter(
        &mut self,
        p: &stack::Parameter,
        name: &str,
        spec: &str,
        logical: &str,
        overridden: bool,
    ) {
        let path = join(&join("parameters", name), "from_output");
        if p.default.is_some() || !p.env.is_empty() || overridden {
            self.error_hint(
                &path,
                format!("parameter `{name}` takes its value from `{spec}` and is also given one"),
                "remove `default:` and `env:` (and any override in stackctl.yaml), or remove `from_output:`",
            );
        }
        let Some((other, output)) = spec.split_once('.') else {
            self.error_hint(
                &path,
                format!("`{spec}` does not name a stack output"),
                "write `STACK.OUTPUT`, e.g. `upload.BucketName`",
            );
            return;
        };
        let Some(target) = self.project.stacks.get(other) else {
            let names: Vec<&str> = self.project.stacks.keys().map(String::as_str).collect();
            let d = self
                .stack
                .source
                .error(&path, format!("`{spec}` names unknown stack `{other}`"))
                .suggest(other, names);
            self.diags.push(d);
            return;
        };
        if !depends_on(self.project, &self.stack.name, other) {
            let msg = format!(
                "stack `{}` takes `{spec}` but does not depend on `{other}`",
                self.stack.name
            );
            let hint = format!(
                "add `{other}` to `depends_on` of `{}` in stackctl.yaml, so it is deployed first",
                self.stack.name
            );
            self.error_hint(&path, msg, hint);
            return;
        }
        if !target.file.outputs.contains_key(output) {
            let names: Vec<&str> = target.file.outputs.keys().map(String::as_str).collect();
            let d = self
                .stack
                .source
                .error(&path, format!("stack `{other}` has no output `{output}`"))
                .suggest(output, names);
            self.diags.push(d);
            return;
        }
        self.output_parameters
            .insert(logical.to_string(), (other.to_string(), output.to_string()));
    }

    fn check_override(&mut self, p: &stack::Parameter, v: &ParamValue, name: &str) {
        let path = format!(
            "environments.{}.parameters.{}.{name}",
            self.env, self.stack.name
        );
        if let Some(problem) = param_problem(p, v) {
            let d = self
                .project
                .source
                .error(&path, format!("parameter `{name}`: {problem}"));
            self.diags.push(d);
        }
    }

    fn check_param(&mut self, p: &stack::Parameter, v: &ParamValue, path: &str, name: &str) {
        if let Some(problem) = param_problem(p, v) {
            self.error(path, format!("parameter `{name}`: {problem}"));
        }
    }

    fn retain(&mut self, v: &Option<PerEnv<bool>>, path: &str) -> bool {
        match v {
            Some(v) => self.per_env(v, &join(path, "retain")).unwrap_or(false),
            None => self.settings.retain_data,
        }
    }

    fn bucket(&mut self, key: &str, b: &stack::Bucket, path: &str) -> Json {
        let l = pascal(key);
        for id in [l.clone(), format!("{l}Policy")] {
            self.claim(&id, path);
        }
        let name = self.name(key);
        let retain = self.retain(&b.retain, path);
        let mut cors = Vec::new();
        for (i, rule) in b.cors.iter().enumerate() {
            let rpath = index(&join(path, "cors"), i);
            for (j, m) in rule.methods.iter().enumerate() {
                if !["GET", "PUT", "POST", "DELETE", "HEAD"].contains(&m.as_str()) {
                    let d = self
                        .stack
                        .source
                        .error(
                            index(&join(&rpath, "methods"), j),
                            format!("unknown CORS method `{m}`"),
                        )
                        .suggest(m, ["GET", "PUT", "POST", "DELETE", "HEAD"]);
                    self.diags.push(d);
                }
            }
            let mut r = json!({"AllowedMethods": rule.methods, "AllowedOrigins": rule.origins, "AllowedHeaders": rule.headers});
            if !rule.expose_headers.is_empty() {
                r["ExposedHeaders"] = json!(rule.expose_headers);
            }
            if let Some(age) = rule.max_age {
                r["MaxAge"] = json!(age);
            }
            cors.push(r);
        }
        let mut rules = Vec::new();
        if let Some(lc) = &b.lifecycle {
            let lpath = join(path, "lifecycle");
            let mut rule = Map::new();
            rule.insert("Id".into(), json!("stackctl-lifecycle"));
            rule.insert("Status".into(), json!("Enabled"));
            if let Some(p) = &lc.prefix {
                rule.insert("Prefix".into(), json!(p));
            }
            if let Some(days) = &lc.expire_days {
                self.check_range(days, &join(&lpath, "expire_days"), "expiry of", 1, 36500);
                if let Some(d) = self.per_env(days, &join(&lpath, "expire_days")) {
                    rule.insert("ExpirationInDays".into(), json!(d));
                }
            }
            if let Some(d) = lc.abort_incomplete_multipart_days {
                self.check_range(
                    &PerEnv::One(d),
                    &join(&lpath, "abort_incomplete_multipart_days"),
                    "abort after",
                    1,
                    36500,
                );
                rule.insert(
                    "AbortIncompleteMultipartUpload".into(),
                    json!({"DaysAfterInitiation": d}),
                );
            }
            if let Some(d) = lc.noncurrent_expire_days {
                if !b.versioning {
                    self.error_hint(
                        &join(&lpath, "noncurrent_expire_days"),
                        "non-current versions exist only in versioned buckets",
                        "add `versioning: true` or remove this",
                    );
                }
                rule.insert(
                    "NoncurrentVersionExpiration".into(),
                    json!({"NoncurrentDays": d}),
                );
            }
            let acts = [
                "ExpirationInDays",
                "AbortIncompleteMultipartUpload",
                "NoncurrentVersionExpiration",
            ];
            if !acts.iter().any(|a| rule.contains_key(*a)) {
                self.error_hint(&lpath, "the lifecycle rule does nothing", "set `expire_days`, `abort_incomplete_multipart_days` or `noncurrent_expire_days`");
            }
            rules.push(Json::Object(rule));
        }
        let mut notifications = Vec::new();
        let mut permissions = Vec::new();
        let mut seen_functions = BTreeSet::new();
        for (i, n) in b.notifications.iter().enumerate() {
            let npath = index(&join(path, "notifications"), i);
            if self
                .target(&n.function, &join(&npath, "function"), &["function"])
                .is_none()
            {
                continue;
            }
            for (j, e) in n.events.iter().enumerate() {
                if !["created", "removed"].contains(&e.as_str()) {
                    let d = self
                        .stack
                        .source
                        .error(
                            index(&join(&npath, "events"), j),
                            format!("unknown object event `{e}`"),
                        )
                        .suggest(e, ["created", "removed"]);
                    self.diags.push(d);
                }
            }
            let mut filter = Vec::new();
            if let Some(p) = &n.prefix {
                filter.push(json!({"Name": "prefix", "Value": p}));
            }
            if let Some(s) = &n.suffix {
                filter.push(json!({"Name": "suffix", "Value": s}));
            }
            let condition = n
                .when
                .as_ref()
                .and_then(|w| self.condition(w, &join(&npath, "when")));
            let fl = pascal(&n.function);
            for e in &n.events {
                let event = if e == "removed" {
                    "s3:ObjectRemoved:*"
                } else {
                    "s3:ObjectCreated:*"
                };
                let mut cfg = json!({"Event": event, "Function": {"Fn::GetAtt": [fl, "Arn"]}});
                if !filter.is_empty() {
                    cfg["Filter"] = json!({"S3Key": {"Rules": filter}});
                }
                notifications.push(match &condition {
                    Some(c) => json!({"Fn::If": [c, cfg, {"Ref": "AWS::NoValue"}]}),
                    None => cfg,
                });
            }
            if seen_functions.insert(n.function.clone()) {
                let pl = format!("{l}Invokes{fl}");
                self.claim(&pl, &npath);
                permissions.push(json!({"logical": pl, "function": fl}));
            }
        }
        let (website, public) = match &b.website {
            Some(w) => {
                let public = match &w.public {
                    Some(p) => self
                        .per_env(p, &join(&join(path, "website"), "public"))
                        .unwrap_or(false),
                    None => false,
                };
                let mut cfg = json!({"IndexDocument": w.index});
                if let Some(e) = &w.error {
                    cfg["ErrorDocument"] = json!(e);
                }
                (cfg, public)
            }
            None => (Json::Null, false),
        };
        json!({
            "logical": l,
            "name": name,
            "deletion_policy": if retain { "Retain" } else { "Delete" },
            "versioning": b.versioning,
            "cors": cors,
            "lifecycle_rules": rules,
            "notifications": notifications,
            "permissions": permissions,
            "website": website,
            "public": public,
        })
    }

    /// The CloudFormation condition for a boolean parameter named by `when`.
    fn condition(&mut self, param: &str, path: &str) -> Option<String> {
        match self.stack.file.parameters.get(param) {
            Some(p) if p.kind == ParamType::Boolean => Some(format!("{}IsTrue", pascal(param))),
            Some(_) => {
                self.error_hint(
                    path,
                    format!("parameter `{param}` is not a boolean"),
                    "`when:` takes a parameter of `type: boolean`",
                );
                None
            }
            None => {
                let names: Vec<&str> = self
                    .stack
                    .file
                    .parameters
                    .iter()
                    .filter(|(_, p)| p.kind == ParamType::Boolean)
                    .map(|(k, _)| k.as_str())
                    .collect();
                let d = self
                    .stack
                    .source
                    .error(path, format!("unknown parameter `{param}`"))
                    .suggest(param, names);
                self.diags.push(d);
                None
            }
        }
    }

    fn table(&mut self, key: &str, t: &stack::Table, path: &str) -> Json {
        let l = pascal(key);
        self.claim(&l, path);
        let retain = self.retain(&t.retain, path);
        let pitr = match &t.point_in_time_recovery {
            Some(v) => self
                .per_env(v, &join(path, "point_in_time_recovery"))
                .unwrap_or(false),
            None => self.settings.point_in_time_recovery,
        };
        let mut used = BTreeSet::new();
        let mut attrs = Vec::new();
        for (name, ty) in &t.attributes {
            let code = match ty.as_str() {
                "string" => "S",
                "number" => "N",
                "binary" => "B",
                other => {
                    let d = self
                        .stack
                        .source
                        .error(
                            join(&join(path, "attributes"), name),
                            format!("unknown attribute type `{other}`"),
                        )
                        .suggest(other, ["string", "number", "binary"]);
                    self.diags.push(d);
                    "S"
                }
            };
            attrs.push(json!({"AttributeName": name, "AttributeType": code}));
        }
        let key_schema = self.key_schema(t, &t.key, &join(path, "key"), &mut used);
        let mut gsis = Vec::new();
        for (iname, ix) in &t.indexes {
            let ipath = join(&join(path, "indexes"), iname);
            let ks = self.key_schema(t, &ix.key, &join(&ipath, "key"), &mut used);
            let projection = match &ix.projection {
                None => json!({"ProjectionType": "ALL"}),
                Some(stack::Projection::Kind(k)) if k == "all" => json!({"ProjectionType": "ALL"}),
                Some(stack::Projection::Kind(k)) if k == "keys_only" => {
                    json!({"ProjectionType": "KEYS_ONLY"})
                }
                Some(stack::Projection::Kind(k)) => {
                    let d = self
                        .stack
                        .source
                        .error(
                            join(&ipath, "projection"),
                            format!("unknown projection `{k}`"),
                        )
                        .suggest(k, ["all", "keys_only"]);
                    self.diags.push(d);
                    json!({"ProjectionType": "ALL"})
                }
                Some(stack::Projection::Include(list)) => {
                    json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": list})
                }
            };
            gsis.push(json!({"IndexName": iname, "KeySchema": ks, "Projection": projection}));
        }
        for name in t.attributes.keys() {
            if !used.contains(name) {
                let msg = format!("attribute `{name}` is declared but used by no key or index");
                self.error_hint(
                    &join(&join(path, "attributes"), name),
                    msg,
                    "DynamoDB rejects unused attribute definitions; declare only key attributes",
                );
            }
        }
        let stream = t.stream.as_ref().map(|s| match s.as_str() {
            "new_image" => "NEW_IMAGE",
            "old_image" => "OLD_IMAGE",
            "new_and_old_images" => "NEW_AND_OLD_IMAGES",
            "keys_only" => "KEYS_ONLY",
            other => {
                let d = self
                    .stack
                    .source
                    .error(
                        join(path, "stream"),
                        format!("unknown stream view `{other}`"),
                    )
                    .suggest(
                        other,
                        ["new_image", "old_image", "new_and_old_images", "keys_only"],
                    );
                self.diags.push(d);
                "NEW_AND_OLD_IMAGES"
            }
        });
        json!({
            "logical": l,
            "name": self.name(key),
            "deletion_policy": if retain { "Retain" } else { "Delete" },
            "deletion_protection": retain,
            "attributes": attrs,
            "key_schema": key_schema,
            "indexes": gsis,
            "ttl": t.ttl,
            "stream": stream,
            "point_in_time_recovery": pitr,
        })
    }

    fn key_schema(
        &mut self,
        t: &stack::Table,
        key: &[String],
        path: &str,
        used: &mut BTreeSet<String>,
    ) -> Json {
        if key.is_empty() || key.len() > 2 {
            self.error_hint(
                path,
                format!("a key has one or two attributes, found {}", key.len()),
                "write `[partition]` or `[partition, sort]`",
            );
        }
        let mut out = Vec::new();
        for (i, a) in key.iter().enumerate() {
            if !t.attributes.contains_key(a) {
                let names: Vec<&str> = t.attributes.keys().map(String::as_str).collect();
                let d = self
                    .stack
                    .source
                    .error(
                        index(path, i),
                        format!("key attribute `{a}` is not declared in `attributes`"),
                    )
                    .suggest(a, names);
                self.diags.push(d);
            }
            used.insert(a.clone());
            out.push(json!({"AttributeName": a, "KeyType": if i == 0 { "HASH" } else { "RANGE" }}));
        }
        Json::Array(out)
    }

    fn function(&mut self, key: &str, f: &stack::Function, path: &str) -> Json {
        let l = pascal(key);
        for id in [l.clone(), format!("{l}Role"), format!("{l}LogGroup")] {
            self.claim(&id, path);
        }
        let name = self.name(key);
        let memory = match &f.memory {
            Some(m) => {
                self.check_range(m, &join(path, "memory"), "memory of", 128, 10240);
                self.per_env(m, &join(path, "memory"))
            }
            None => Some(self.settings.function_memory),
        };
        let timeout = match &f.timeout {
            Some(t) => {
                self.check_range(t, &join(path, "timeout"), "timeout of", 1, 900);
                self.per_env(t, &join(path, "timeout"))
            }
            None => Some(self.settings.function_timeout),
        };
        let retention = match &f.log_retention_days {
            Some(r) => {
                self.check_retention(r, &join(path, "log_retention_days"));
                self.per_env(r, &join(path, "log_retention_days"))
            }
            None => Some(self.settings.log_retention_days),
        };
        let reserved = match &f.reserved_concurrency {
            Some(r) => {
                self.check_range(
                    r,
                    &join(path, "reserved_concurrency"),
                    "reserved concurrency of",
                    0,
                    1000,
                );
                self.per_env(r, &join(path, "reserved_concurrency"))
            }
            None => None,
        };
        self.check_crate(key, f, path);
        let arch = f
            .architecture
            .clone()
            .unwrap_or_else(|| "x86_64".to_string());
        if !["x86_64", "arm64"].contains(&arch.as_str()) {
            let d = self
                .stack
                .source
                .error(
                    join(path, "architecture"),
                    format!("unknown architecture `{arch}`"),
                )
                .suggest(&arch, ["x86_64", "arm64"]);
            self.diags.push(d);
        }
        let mut env = Map::new();
        for (k, v) in &f.environment {
            let vpath = join(&join(path, "environment"), k);
            if !k.starts_with(|c: char| c.is_ascii_alphabetic())
                || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                self.error_hint(
                    &vpath,
                    format!("environment variable name `{k}` is invalid"),
                    "use letters, digits and `_`, starting with a letter",
                );
            }
            if k.starts_with("AWS_") {
                self.error_hint(
                    &vpath,
                    format!("`{k}` is reserved by Lambda"),
                    "choose a name that does not start with AWS_",
                );
            }
            env.insert(k.clone(), self.value(v, &vpath));
        }
        let mut statements = iam::baseline(&name, self.settings.tracing);
        for (target, grant) in &f.grants {
            let gpath = join(&join(path, "grants"), target);
            let kinds = ["table", "bucket", "websocket_api", "function"];
            let Some(r) = self.target(target, &gpath, &kinds) else {
                continue;
            };
            let allowed = iam::levels(r.kind());
            if grant.prefix().is_some() && r.kind() != "bucket" {
                self.error_hint(
                    &join(&gpath, "prefix"),
                    "only bucket grants take a prefix",
                    "remove `prefix:`",
                );
            }
            let tl = pascal(target);
            let (arn, extra) = match r {
                Resource::Bucket(_) => {
                    let n = self.name(target);
                    (
                        json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:s3:::{n}")}),
                        json!(n),
                    )
                }
                Resource::Table(_) => (
                    json!({"Fn::GetAtt": [tl, "Arn"]}),
                    json!({"Fn::GetAtt": [tl, "StreamArn"]}),
                ),
                Resource::WebsocketApi(a) => (Json::Null, json!(self.stage(a.stage.as_deref()))),
                _ => (json!({"Fn::GetAtt": [tl, "Arn"]}), Json::Null),
            };
            let t = iam::Target {
                key: target,
                kind: r.kind(),
                arn,
                extra,
            };
            for (i, level) in grant.access().iter().enumerate() {
                let lpath = match grant {
                    stack::Grant::Access(_) => index(&gpath, i),
                    stack::Grant::Scoped { .. } => index(&join(&gpath, "access"), i),
                };
                if !allowed.contains(&level.as_str()) {
                    let d = self
                        .stack
                        .source
                        .error(
                            lpath,
                            format!("`{level}` is not an access level of a {}", r.kind()),
                        )
                        .suggest(level, allowed.iter().copied());
                    self.diags.push(d);
                    continue;
                }
                if level == "stream" {
                    if let Resource::Table(tb) = r {
                        if tb.stream.is_none() {
                            self.error_hint(
                                &lpath,
                                format!("table `{target}` has no stream"),
                                "add `stream:` to the table",
                            );
                        }
                    }
                }
                statements.push(iam::statement(&t, level, grant.prefix()));
            }
        }
        json!({
            "logical": l,
            "name": name,
            "description": f.description,
            "memory": memory,
            "timeout": timeout,
            "architecture": arch,
            "environment": env,
            "statements": statements,
            "log_retention_days": retention,
            "reserved_concurrency": reserved,
            "tracing": self.settings.tracing,
            "code_key_param": format!("{l}CodeKey"),
            "log_group_name": format!("/aws/lambda/{name}"),
            "role_description": format!("Execution role of {name}"),
            "artefact_bucket_param": ARTEFACT_BUCKET_PARAM,
        })
    }

    /// Every function is built from `lambdas/CRATE`, which must be a crate.
    fn check_crate(&mut self, key: &str, f: &stack::Function, path: &str) {
        let name = crate_name(key, f);
        let lambdas = self.project.root.join("lambdas");
        if lambdas.join(&name).join("Cargo.toml").is_file() {
            return;
        }
        let mut existing: Vec<String> = std::fs::read_dir(&lambdas)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().join("Cargo.toml").is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        existing.sort();
        let at = if f.crate_name.is_some() {
            join(path, "crate")
        } else {
            path.to_string()
        };
        let hint = match crate::diagnostics::closest(&name, existing.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `crate: {best}`?"),
            None => format!("create the crate lambdas/{name} (with a binary named `{name}`), or set `crate:` to an existing one"),
        };
        self.error_hint(
            &at,
            format!("function `{key}` has no crate at lambdas/{name}"),
            hint,
        );
    }

    fn throttle(&mut self, t: &Option<stack::Throttle>, path: &str) -> Json {
        match t {
            Some(t) => {
                if t.rate <= 0.0 || t.burst == 0 {
                    self.error_hint(
                        &join(path, "throttle"),
                        "throttle rate and burst must be positive",
                        "e.g. `throttle: {rate: 50, burst: 100}`",
                    );
                }
                json!({"rate": t.rate, "burst": t.burst})
            }
            None => Json::Null,
        }
    }

    /// Integrations, routes and permissions shared by both API kinds.
    fn routes(
        &mut self,
        l: &str,
        routes: &BTreeMap<String, String>,
        path: &str,
        http: bool,
    ) -> (Vec<Json>, Vec<Json>) {
        let mut integrations: BTreeMap<String, Json> = BTreeMap::new();
        let mut out = Vec::new();
        for (route, function) in routes {
            let rpath = join(&join(path, "routes"), route);
            if http {
                if route != "$default" {
                    let (method, p) = route.split_once(' ').unwrap_or(("", ""));
                    let methods = [
                        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
                    ];
                    if !methods.contains(&method) {
                        let d = self
                            .stack
                            .source
                            .error(&rpath, format!("route `{route}` has no valid method"))
                            .suggest(method, methods);
                        self.diags.push(d);
                    } else if !p.starts_with('/') {
                        self.error_hint(
                            &rpath,
                            format!("route `{route}` has no path"),
                            "write routes as `METHOD /path`, e.g. `POST /video/upload/create`",
                        );
                    }
                }
            } else if route.is_empty() || route.contains(' ') {
                self.error_hint(
                    &rpath,
                    format!("route key `{route}` is invalid"),
                    "use `$connect`, `$disconnect`, `$default` or an action name",
                );
            }
            if self.target(function, &rpath, &["function"]).is_none() {
                continue;
            }
            let fl = pascal(function);
            let integration = format!("{l}{fl}Integration");
            if !integrations.contains_key(function) {
                self.claim(&integration, &rpath);
                self.claim(&format!("{l}Invokes{fl}"), &rpath);
                integrations.insert(function.clone(), json!({"logical": integration, "function": fl, "permission": format!("{l}Invokes{fl}")}));
            }
            let rl = format!("{l}Route{}", pascal(route));
            self.claim(&rl, &rpath);
            out.push(json!({"logical": rl, "key": route, "integration": integration}));
        }
        (integrations.into_values().collect(), out)
    }

    fn http_api(&mut self, key: &str, a: &stack::HttpApi, path: &str) -> Json {
        let l = pascal(key);
        for id in [l.clone(), format!("{l}Stage"), format!("{l}AccessLogs")] {
            self.claim(&id, path);
        }
        let (integrations, routes) = self.routes(&l, &a.routes, path, true);
        let cors = a.cors.as_ref().map(|c| {
            let mut v = json!({"AllowOrigins": c.origins, "AllowMethods": c.methods, "AllowHeaders": c.headers});
            if let Some(m) = c.max_age {
                v["MaxAge"] = json!(m);
            }
            v
        });
        json!({
            "logical": l,
            "name": self.name(key),
            "access_log_group": format!("/aws/apigateway/{}", self.name(key)),
            "description": a.description,
            "stage": self.stage(a.stage.as_deref()),
            "cors": cors,
            "integrations": integrations,
            "routes": routes,
            "throttle": self.throttle(&a.throttle, path),
            "log_retention_days": self.settings.log_retention_days,
        })
    }

    fn websocket_api(&mut self, key: &str, a: &stack::WebsocketApi, path: &str) -> Json {
        let l = pascal(key);
        for id in [l.clone(), format!("{l}Stage")] {
            self.claim(&id, path);
        }
        let (integrations, routes) = self.routes(&l, &a.routes, path, false);
        json!({
            "logical": l,
            "name": self.name(key),
            "access_log_group": format!("/aws/apigateway/{}", self.name(key)),
            "description": a.description,
            "stage": self.stage(a.stage.as_deref()),
            "route_selection": a.route_selection.clone().unwrap_or_else(|| "$request.body.action".into()),
            "integrations": integrations,
            "routes": routes,
            "throttle": self.throttle(&a.throttle, path),
        })
    }

    fn schedule(&mut self, key: &str, s: &stack::Schedule, path: &str) -> Json {
        let l = pascal(key);
        for id in [l.clone(), format!("{l}Permission")] {
            self.claim(&id, path);
        }
        if let Some(problem) = schedule_problem(&s.expression) {
            self.error_hint(
                &join(path, "expression"),
                problem,
                "e.g. `rate(1 hour)`, `rate(5 minutes)` or `cron(0 3 * * ? *)`",
            );
        }
        self.target(&s.target, &join(path, "target"), &["function"]);
        let enabled = match &s.enabled {
            Some(e) => self.per_env(e, &join(path, "enabled")).unwrap_or(true),
            None => true,
        };
        json!({
            "logical": l,
            "name": self.name(key),
            "description": s.description,
            "expression": s.expression,
            "enabled": enabled,
            "function": pascal(&s.target),
        })
    }

    fn alarm(&mut self, key: &str, a: &stack::Alarm, path: &str) -> Json {
        let l = pascal(key);
        self.claim(&l, path);
        let target = self.target(
            &a.target,
            &join(path, "target"),
            &["function", "table", "http_api", "websocket_api"],
        );
        let (namespace, dimension, metrics): (&str, &str, &[&str]) =
            match target.map(Resource::kind) {
                Some("function") => (
                    "AWS/Lambda",
                    "FunctionName",
                    &[
                        "Errors",
                        "Duration",
                        "Throttles",
                        "Invocations",
                        "ConcurrentExecutions",
                        "IteratorAge",
                        "DeadLetterErrors",
                    ],
                ),
                Some("table") => (
                    "AWS/DynamoDB",
                    "TableName",
                    &[
                        "ReadThrottleEvents",
                        "WriteThrottleEvents",
                        "ThrottledRequests",
                        "UserErrors",
                        "SystemErrors",
                        "ConsumedReadCapacityUnits",
                        "ConsumedWriteCapacityUnits",
                        "SuccessfulRequestLatency",
                    ],
                ),
                Some(_) => (
                    "AWS/ApiGateway",
                    "ApiId",
                    &[
                        "4xx",
                        "5xx",
                        "Count",
                        "Latency",
                        "IntegrationLatency",
                        "ConnectCount",
                        "MessageCount",
                        "ClientError",
                        "ExecutionError",
                        "IntegrationError",
                    ],
                ),
                None => ("", "", &[]),
            };
        let names: Vec<&str> = a.metric.split('+').map(str::trim).collect();
        if target.is_some() {
            for m in &names {
                if !metrics.contains(m) {
                    let d = self
                        .stack
                        .source
                        .error(
                            join(path, "metric"),
                            format!("`{m}` is not a {namespace} metric stackctl knows"),
                        )
                        .suggest(m, metrics.iter().copied());
                    self.diags.push(d);
                }
            }
        }
        let statistic = a.statistic.clone().unwrap_or_else(|| "Sum".into());
        let stats = ["Sum", "Average", "Minimum", "Maximum", "SampleCount"];
        if !stats.contains(&statistic.as_str()) {
            let d = self
                .stack
                .source
                .error(
                    join(path, "statistic"),
                    format!("unknown statistic `{statistic}`"),
                )
                .suggest(&statistic, stats);
            self.diags.push(d);
        }
        let period = a.period.unwrap_or(300);
        if !(period == 10 || period == 30 || (period >= 60 && period % 60 == 0)) {
            self.error_hint(
                &join(path, "period"),
                format!("period {period} is not valid"),
                "use 10, 30 or a multiple of 60 seconds",
            );
        }
        let evaluation_periods = a.evaluation_periods.unwrap_or(1);
        if evaluation_periods == 0 || u64::from(evaluation_periods) * u64::from(period) > 86_400 {
            self.error_hint(
                &join(path, "evaluation_periods"),
                format!("evaluation_periods {evaluation_periods} is out of range"),
                "at least 1, and periods × evaluation_periods at most one day",
            );
        }
        let comparison = match a.comparison.as_deref().unwrap_or(">") {
            ">" => "GreaterThanThreshold",
            ">=" => "GreaterThanOrEqualToThreshold",
            "<" => "LessThanThreshold",
            "<=" => "LessThanOrEqualToThreshold",
            other => {
                self.error_hint(
                    &join(path, "comparison"),
                    format!("unknown comparison `{other}`"),
                    "use one of >, >=, <, <=",
                );
                "GreaterThanThreshold"
            }
        };
        let threshold = self.per_env(&a.threshold, &join(path, "threshold"));
        let dim = json!([{"Name": dimension, "Value": {"Ref": pascal(&a.target)}}]);
        let metric_list: Vec<Json> = names
            .iter()
            .enumerate()
            .map(|(i, m)| json!({"id": format!("m{i}"), "name": m}))
            .collect();
        let expression = (0..names.len())
            .map(|i| format!("m{i}"))
            .collect::<Vec<_>>()
            .join(" + ");
        json!({
            "logical": l,
            "name": self.name(key),
            "description": a.description,
            "namespace": namespace,
            "dimensions": dim,
            "metrics": metric_list,
            "expression": expression,
            "statistic": statistic,
            "period": period,
            "evaluation_periods": evaluation_periods,
            "threshold": threshold,
            "comparison": comparison,
        })
    }

    fn raw(&mut self, key: &str, r: &stack::Raw, path: &str) -> Json {
        let l = pascal(key);
        self.claim(&l, path);
        let ok = r.resource_type.starts_with("Custom::")
            || (r.resource_type.split("::").count() == 3 && r.resource_type.starts_with("AWS::"));
        if !ok {
            self.error_hint(
                &join(path, "resource_type"),
                format!(
                    "`{}` is not a CloudFormation resource type",
                    r.resource_type
                ),
                "write it as `AWS::Service::Resource` or `Custom::Name`",
            );
        }
        if let Some(p) = &r.deletion_policy {
            if !["Delete", "Retain", "RetainExceptOnCreate", "Snapshot"].contains(&p.as_str()) {
                let d = self
                    .stack
                    .source
                    .error(
                        join(path, "deletion_policy"),
                        format!("unknown deletion policy `{p}`"),
                    )
                    .suggest(p, ["Delete", "Retain", "RetainExceptOnCreate", "Snapshot"]);
                self.diags.push(d);
            }
        }
        let properties = r
            .properties
            .as_ref()
            .map(|p| serde_json::to_value(p).unwrap_or(Json::Null));
        json!({
            "logical": l,
            "type": r.resource_type,
            "properties": properties,
            "depends_on": r.depends_on,
            "deletion_policy": r.deletion_policy,
        })
    }

    fn outputs(&mut self, stack_name: &str) -> Map<String, Json> {
        let mut out = Map::new();
        let outputs = self.stack.file.outputs.clone();
        for (name, o) in &outputs {
            let path = join("outputs", name);
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                self.error_hint(
                    &path,
                    format!("output name `{name}` must be alphanumeric"),
                    "use PascalCase, e.g. `ApiBaseUrl`",
                );
                continue;
            }
            let value = self.value(&o.value, &join(&path, "value"));
            let mut v = json!({"Value": value});
            if let Some(d) = &o.description {
                v["Description"] = json!(d);
            }
            if o.export {
                v["Export"] = json!({"Name": format!("{stack_name}-{name}")});
            }
            out.insert(name.clone(), v);
        }
        out
    }
}

/// The crate a function is built from: `crate:`, or the key with `_` as `-`.
pub fn crate_name(key: &str, f: &stack::Function) -> String {
    f.crate_name
        .clone()
        .unwrap_or_else(|| key.replace('_', "-"))
}

/// A number as JSON, whole numbers without a fraction.
fn number(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// Whether `stack` depends on `other`, directly or through other stacks.
pub fn depends_on(project: &Project, stack: &str, other: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![stack.to_string()];
    while let Some(s) = todo.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        if let Some(e) = project.file.stacks.get(&s) {
            for d in &e.depends_on {
                if d == other {
                    return true;
                }
                todo.push(d.clone());
            }
        }
    }
    false
}

/// Why a value does not fit its parameter's type and constraints.
pub fn param_problem(p: &stack::Parameter, v: &ParamValue) -> Option<String> {
    match (p.kind, v) {
        (ParamType::Boolean, ParamValue::Bool(_)) => None,
        (ParamType::Boolean, _) => Some(format!("`{v}` is not a boolean (true or false)")),
        (ParamType::Number, ParamValue::Int(_) | ParamValue::Float(_)) => {
            let n = v.as_f64().unwrap_or_default();
            if p.min.is_some_and(|m| n < m) || p.max.is_some_and(|m| n > m) {
                Some(format!(
                    "{v} is outside {}..{}",
                    p.min.map(|m| m.to_string()).unwrap_or_default(),
                    p.max.map(|m| m.to_string()).unwrap_or_default()
                ))
            } else {
                None
            }
        }
        (ParamType::Number, _) => Some(format!("`{v}` is not a number")),
        (ParamType::String, _) => None,
    }
    .or_else(|| {
        let allowed = p.allowed.as_ref()?;
        (!allowed
            .iter()
            .any(|a| a.to_cfn_string() == v.to_cfn_string()))
        .then(|| {
            format!(
                "`{v}` is not one of the allowed values {}",
                allowed
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    })
}

/// Why an EventBridge schedule expression is invalid.
pub fn schedule_problem(expr: &str) -> Option<String> {
    if let Some(body) = expr.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut it = body.split_whitespace();
        let (Some(n), Some(unit), None) = (it.next(), it.next(), it.next()) else {
            return Some(format!("`{expr}` is not `rate(N unit)`"));
        };
        let Ok(n) = n.parse::<u32>() else {
            return Some(format!("`{expr}`: `{n}` is not a whole number"));
        };
        if n == 0 {
            return Some(format!("`{expr}`: the rate must be at least 1"));
        }
        let singular = ["minute", "hour", "day"];
        let plural = ["minutes", "hours", "days"];
        return match (n == 1, singular.contains(&unit), plural.contains(&unit)) {
            (true, true, _) | (false, _, true) => None,
            (true, false, true) => Some(format!(
                "`{expr}`: write `rate(1 {})`",
                unit.trim_end_matches('s')
            )),
            (false, true, _) => Some(format!("`{expr}`: write `rate({n} {unit}s)`")),
            _ => Some(format!(
                "`{expr}`: unit `{unit}` is not minutes, hours or days"
            )),
        };
    }
    if let Some(body) = expr.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let fields = body.split_whitespace().count();
        if fields != 6 {
            return Some(format!("`{expr}` has {fields} fields; EventBridge cron takes 6 (minutes hours day-of-month month day-of-week year)"));
        }
        return None;
    }
    Some(format!("`{expr}` is neither `rate(...)` nor `cron(...)`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_expressions() {
        assert!(schedule_problem("rate(1 hour)").is_none());
        assert!(schedule_problem("rate(15 minutes)").is_none());
        assert!(schedule_problem("cron(0 3 * * ? *)").is_none());
        assert!(schedule_problem("rate(1 hours)")
            .unwrap()
            .contains("rate(1 hour)"));
        assert!(schedule_problem("rate(5 minute)")
            .unwrap()
            .contains("rate(5 minutes)"));
        assert!(schedule_problem("rate(0 days)").is_some());
        assert!(schedule_problem("cron(0 3 * * *)").unwrap().contains("6"));
        assert!(schedule_problem("every hour").is_some());
    }
}
