//! Resolves one stack for one environment into the values the templates lay
//! out: physical names, logical ids, `${...}` references as CloudFormation
//! expressions, per-environment settings, IAM statements. Every problem is
//! recorded as a located diagnostic and the walk goes on, so validation
//! reports all of them at once.

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::kinds::secret::{ExternalSecret, LocalSecret};
use crate::limits::{self, LOG_RETENTION_DAYS};
use crate::model::source::join;
use crate::model::stack::{self, ParamType, Resource};
use crate::model::value::{parse_template, ParamValue, PerEnv, Segment};
use crate::model::{Project, Settings, Stack};
use crate::names::{expand_name, name_pattern, pascal, stack_name};
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

/// The CloudFormation parameter holding the artefact bucket.
pub const ARTEFACT_BUCKET_PARAM: &str = "ArtefactBucket";

/// One resource ready for its kind's template.
pub struct ResourceContext {
    /// Resource key in the stack file.
    pub key: String,
    /// Kind name, which is also the template name.
    pub kind: &'static str,
    /// What the template sees as `r`.
    pub values: Json,
    /// CloudFormation merged onto what the template renders, by logical id.
    pub overrides: Map<String, Json>,
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
    /// Physical names by resource key (kinds that have one).
    pub names: BTreeMap<String, String>,
    /// Secrets an emulator environment gets through the API.
    pub local_secrets: Vec<LocalSecret>,
    /// Secrets whose value is set outside the stack.
    pub external_secrets: Vec<ExternalSecret>,
    /// Logical ids named by `raw` CloudFormation.
    pub logical_refs: Vec<LogicalRef>,
    /// The stack's probes, with their references resolved.
    pub probes: Vec<crate::model::probe::Resolved>,
}

/// A logical id that `raw` CloudFormation names, checked once the whole
/// template is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalRef {
    /// The logical id (or parameter) named.
    pub target: String,
    /// Where, in the stack file.
    pub path: String,
    /// How it is named.
    pub kind: RefKind,
}

/// How `raw` CloudFormation names a logical id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// `Ref` (or an `Fn::Sub` variable): a resource, a parameter or a pseudo parameter.
    Ref,
    /// `Fn::GetAtt` (or an `Fn::Sub` `${Id.Attr}`): a resource.
    GetAtt,
    /// `DependsOn`: a resource.
    DependsOn,
}

/// Walks one stack for one environment.
pub struct Builder<'a> {
    /// The project.
    pub(crate) project: &'a Project,
    /// The stack being resolved.
    pub(crate) stack: &'a Stack,
    /// The environment.
    pub(crate) env: &'a str,
    /// The environment's settings.
    pub(crate) settings: Settings,
    /// Where problems go.
    pub(crate) diags: &'a mut Diagnostics,
    names: BTreeMap<String, String>,
    conditions: BTreeMap<String, Json>,
    logical_ids: BTreeMap<String, String>,
    output_parameters: BTreeMap<String, (String, String)>,
    /// Secrets an emulator environment gets through the API, not the template.
    pub(crate) local_secrets: Vec<LocalSecret>,
    /// Secrets whose value is set outside the stack.
    pub(crate) external_secrets: Vec<ExternalSecret>,
    /// Logical ids named by `raw` CloudFormation, checked after rendering.
    pub(crate) logical_refs: Vec<LogicalRef>,
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
            local_secrets: Vec::new(),
            external_secrets: Vec::new(),
            logical_refs: Vec::new(),
        }
    }

    /// The server this environment binds resource `key` to, if any
    /// (`environments.ENV.bind.STACK.KEY`).
    pub(crate) fn binding(&self, key: &str) -> Option<crate::model::project::Bound> {
        let project: &'a Project = self.project;
        project.file.environments[self.env]
            .bind
            .get(&self.stack.name)
            .and_then(|b| b.get(key))
            .map(|b| b.bound(&project.file.project, self.env))
    }

    /// The server this environment puts in place of resource `key`, if any:
    /// a binding, but for an API bound to `serve` (which is still created,
    /// and only answered elsewhere).
    pub(crate) fn replaced(&self, key: &str) -> Option<crate::model::project::Bound> {
        self.binding(key)
            .filter(|b| b.local != Some(crate::model::project::LocalServer::Serve))
    }

    /// Whether this environment runs on a local emulator (`emulator:`),
    /// where some kinds are provisioned outside the template.
    pub(crate) fn emulated(&self) -> bool {
        self.project.file.environments[self.env].emulator.is_some()
    }

    /// Records a problem at `path` of the stack file.
    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) -> &mut Diagnostic {
        let d = self.stack.source.error(path, message);
        self.diags.push(d);
        self.diags.0.last_mut().expect("just pushed")
    }

    /// Records a problem at `path` of the stack file, with a hint.
    pub(crate) fn error_hint(
        &mut self,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let hint = hint.into();
        self.error(path, message).hint = Some(hint);
    }

    /// Builds the whole stack context.
    pub fn build(mut self) -> StackContext {
        let stack_name = stack_name(self.project, &self.stack.name, self.env);
        self.assign_names();
        let (parameters, param_values) = self.parameters();
        self.check_bindings();
        let mut resources = Vec::new();
        let keys: Vec<String> = self.stack.resources.keys().cloned().collect();
        for key in &keys {
            let path = join("resources", key);
            if let Some(p) = crate::limits::identifier_problem("resource key", key, '_', 64) {
                self.error_hint(&path, p, "use snake_case keys such as `create_upload`");
                continue;
            }
            if crate::render::iam::service_grant_levels(key).is_some() {
                self.error_hint(
                    &path,
                    format!(
                        "`{key}` is reserved: `grants: {{{key}: [...]}}` names the AWS service"
                    ),
                    format!(
                        "rename the resource, e.g. `{key}_{}`",
                        self.stack.resources[key].kind()
                    ),
                );
            }
            let stack: &'a Stack = self.stack;
            let r = &stack.resources[key];
            let values = r.resolve(&mut self, key, &path);
            let overrides = self.overrides(key, &path);
            resources.push(ResourceContext {
                key: key.clone(),
                kind: r.kind(),
                values,
                overrides,
            });
        }
        let mut code_parameters = BTreeMap::new();
        let mut all_params = parameters;
        let functions: Vec<&String> = self
            .stack
            .resources
            .iter()
            .filter(|(_, r)| r.built())
            .map(|(k, _)| k)
            .collect();
        if !functions.is_empty() {
            all_params.insert(
                ARTEFACT_BUCKET_PARAM.to_string(),
                json!({"type": "String", "description": "S3 bucket holding function artefacts (set by stackctl deploy)"}),
            );
            for key in functions {
                let p = crate::kinds::CODE_KEY.of(&pascal(key));
                self.claim(&p, &join("resources", key));
                all_params.insert(
                    p.clone(),
                    json!({"type": "String", "description": format!("S3 key of the `{key}` function's zip (content-addressed, set by stackctl deploy)")}),
                );
                code_parameters.insert(key.clone(), p);
            }
        }
        // A service's image by digest (`REPOSITORY@sha256:…`), set at deploy
        // time: empty until its first push, while the condition leaves out
        // what runs it.
        let imaged: Vec<String> = self
            .stack
            .resources
            .iter()
            .filter(|(k, r)| r.image_crate(k).is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for key in imaged {
            let l = pascal(&key);
            let p = crate::kinds::IMAGE.of(&l);
            let at = join("resources", &key);
            self.claim(&p, &at);
            all_params.insert(
                p.clone(),
                json!({"type": "String", "default": "", "description": format!("Container image of the `{key}` service, by digest (set by stackctl deploy; empty: not pushed yet)")}),
            );
            let c = crate::kinds::HAS_IMAGE.of(&l);
            self.claim(&c, &at);
            self.conditions.insert(c, json!({"not_empty": p}));
        }
        let outputs = self.outputs(&stack_name);
        let probes = self.probes();
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
            local_secrets: std::mem::take(&mut self.local_secrets),
            external_secrets: std::mem::take(&mut self.external_secrets),
            logical_refs: std::mem::take(&mut self.logical_refs),
            probes,
            tags,
            names: std::mem::take(&mut self.names),
        }
    }

    /// The stack's probes with their references resolved: each URL's
    /// `${...}` as any other value's, each `{secret: KEY}` header checked
    /// to name a `secret` of the stack. Probes render into no template.
    fn probes(&mut self) -> Vec<crate::model::probe::Resolved> {
        use crate::model::probe::{HeaderValue, Resolved, ResolvedHeader};
        let stack: &'a Stack = self.stack;
        let mut out = Vec::new();
        for (name, probe) in &stack.probes {
            let at = join("probes", name);
            let path = join(&at, probe.key());
            if let Some(envs) = probe.environments() {
                let project: &'a Project = self.project;
                for (i, e) in envs.iter().enumerate() {
                    if !project.file.environments.contains_key(e) {
                        let d = stack
                            .source
                            .error(
                                crate::model::source::index(&join(&path, "environments"), i),
                                format!("`{e}` is not an environment of the project"),
                            )
                            .suggest(e, project.file.environments.keys().map(String::as_str));
                        self.diags.push(d);
                    }
                }
                if !envs.iter().any(|e| e == self.env) {
                    continue;
                }
            }
            let checked = probe.checked(&stack.source, &at);
            let url = self.value(probe.url(), &join(&path, "url"));
            let mut headers = Vec::new();
            let mut ok = !url.is_null();
            for (header, value) in probe.headers() {
                match value {
                    HeaderValue::Text(t) => {
                        headers.push((header.clone(), ResolvedHeader::Text(t.clone())))
                    }
                    HeaderValue::Secret(s) => {
                        let at = join(&join(&join(&path, "headers"), header), "secret");
                        match self.target(&s.secret, &at, &["secret"]) {
                            Some(r) => {
                                let id = r.attribute(self, &s.secret, "arn", &at);
                                headers.push((
                                    header.clone(),
                                    ResolvedHeader::Secret {
                                        key: s.secret.clone(),
                                        id,
                                        field: s.field.clone(),
                                        prefix: s.prefix.clone(),
                                    },
                                ));
                            }
                            None => ok = false,
                        }
                    }
                }
            }
            if let (true, Some(checked)) = (ok, checked) {
                out.push(Resolved {
                    name: name.clone(),
                    probe: probe.clone(),
                    checked,
                    url,
                    headers,
                });
            }
        }
        out
    }

    /// Every binding of this stack in this environment names a resource of
    /// a kind that can be bound.
    fn check_bindings(&mut self) {
        let project: &'a Project = self.project;
        let Some(bindings) = project.file.environments[self.env]
            .bind
            .get(&self.stack.name)
        else {
            return;
        };
        let emulated = self.emulated();
        for (key, binding) in bindings {
            let path = format!("environments.{}.bind.{}.{key}", self.env, self.stack.name);
            let d = match self.stack.resources.get(key) {
                Some(r) if r.bindable() => {
                    let problem = match (&binding.host, binding.local) {
                        (Some(_), Some(_)) => Some((
                            "a binding names both `host:` and `local:`".to_string(),
                            "keep `host:` for an existing server, or `local:` for one stackctl starts".to_string(),
                        )),
                        (None, None) => Some((
                            "a binding names neither `host:` nor `local:`".to_string(),
                            format!(
                                "add `host:` and `port:` of an existing server, or `local: {}`",
                                r.local_server().map(|s| format!("{s:?}").to_lowercase()).unwrap_or_default()
                            ),
                        )),
                        (Some(_), None) if binding.port.is_none() => Some((
                            "a binding to an existing server names no `port:`".to_string(),
                            "add `port:`".to_string(),
                        )),
                        (None, Some(local)) if r.local_server() != Some(local) => Some((
                            format!(
                                "`{key}` is a {}, which a local {} cannot stand for",
                                r.kind(),
                                format!("{local:?}").to_lowercase()
                            ),
                            format!(
                                "bind it to `local: {}`",
                                r.local_server().map(|s| format!("{s:?}").to_lowercase()).unwrap_or_default()
                            ),
                        )),
                        (None, Some(crate::model::project::LocalServer::Serve)) if binding.port.is_none() => Some((
                            "a `local: serve` binding names no `port:`".to_string(),
                            "add `port:` with a free port (4001, say): the API's address stays http://127.0.0.1:PORT across runs".to_string(),
                        )),
                        (None, Some(_)) if !emulated => Some((
                            format!("stackctl starts local servers only for an emulator environment, and `{}` is not one", self.env),
                            "bind it to an existing server (`host:`, `port:`), or add `emulator: moto` to the environment".to_string(),
                        )),
                        _ => None,
                    };
                    match problem {
                        Some((message, hint)) => project.source.error(&path, message).hint(hint),
                        None => continue,
                    }
                }
                Some(r) => {
                    // Servers (a database, a cache) and the APIs `serve`
                    // answers for.
                    let (apis, servers): (Vec<&str>, Vec<&str>) = crate::kinds::bindable_kinds()
                        .into_iter()
                        .partition(|k| k.ends_with("_api"));
                    project
                        .source
                        .error(
                            &path,
                            format!("`{key}` is a {}, which cannot be bound", r.kind()),
                        )
                        .hint(format!(
                            "only a {} stands for an existing server, and an {} for the API `stackctl serve` answers (`local: serve`)",
                            servers.join(" or "),
                            apis.join(" or ")
                        ))
                }
                None => {
                    let names: Vec<&str> = self
                        .stack
                        .resources
                        .iter()
                        .filter(|(_, r)| r.bindable())
                        .map(|(k, _)| k.as_str())
                        .collect();
                    let d = project.source.error(
                        &path,
                        format!("stack `{}` has no resource `{key}`", self.stack.name),
                    );
                    match crate::diagnostics::closest(key, names.iter().copied()) {
                        Some(best) => d.hint(format!("did you mean `{best}`?")),
                        None if names.is_empty() => d.hint(format!(
                            "stack `{}` declares nothing that can be bound ({})",
                            self.stack.name,
                            crate::kinds::bindable_kinds().join(", ")
                        )),
                        None => d.hint(format!("bindable here: {}", names.join(", "))),
                    }
                }
            };
            self.diags.push(d.in_env(self.env));
        }
    }

    /// The `overrides:` of resource `key`: CloudFormation to merge onto
    /// what its kind renders, by logical id, with short-form tags and
    /// `${...}` references resolved as in `raw`.
    fn overrides(&mut self, key: &str, path: &str) -> Map<String, Json> {
        let stack: &'a Stack = self.stack;
        let Some(value) = stack
            .file
            .resources
            .get(key)
            .and_then(|r| r.get("overrides"))
        else {
            return Map::new();
        };
        let opath = join(path, "overrides");
        let Some(by_id) = value.as_mapping() else {
            self.error_hint(
                &opath,
                "`overrides` must map logical ids to what to merge onto them",
                "for example `overrides: {Uploads: {Properties: {NotificationConfiguration: {EventBridgeConfiguration: {EventBridgeEnabled: true}}}}}`",
            );
            return Map::new();
        };
        let mut out = Map::new();
        for (id, patch) in by_id {
            let id = crate::model::typed::key_text(id).unwrap_or_default();
            let ipath = join(&opath, &id);
            if !patch.is_mapping() {
                self.error_hint(
                    &ipath,
                    format!("the override of `{id}` must be a mapping"),
                    "give the parts of the resource to change: `Properties`, `Metadata`, `DependsOn`, ...",
                );
                continue;
            }
            if patch.get("Type").is_some() {
                self.error_hint(
                    &join(&ipath, "Type"),
                    "an override cannot change a resource's type",
                    "use a `raw` resource for a resource of another type",
                );
            }
            out.insert(id, crate::kinds::raw_cfn::convert(self, patch, &ipath));
        }
        out
    }

    /// Records a logical id, reporting a clash with another resource's.
    pub(crate) fn claim(&mut self, logical: &str, path: &str) {
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
        let stack: &'a Stack = self.stack;
        for (key, r) in &stack.resources {
            if !r.named() {
                continue;
            }
            let key = key.clone();
            let own = r.name_pattern().map(str::to_string);
            let is_own = own.is_some();
            let (pat, path) = match own {
                Some(p) => (p, join(&join("resources", &key), "name")),
                None => (pattern.clone(), join("resources", &key)),
            };
            let Some(name) = self.expand(&pat, &key, &path, is_own) else {
                continue;
            };
            if let Some(problem) = r.name_problem(&name) {
                let env = self.env.to_string();
                let d = self.error(&path, problem);
                d.hint = Some(
                    "shorten the key or the project name, or set `name:` with a pattern that fits"
                        .to_string(),
                );
                d.environments = vec![env];
            }
            self.names.insert(key, name);
        }
    }

    /// Expands a name pattern (see [`crate::names::name_pattern`]). A
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

    /// The physical name of resource `key` in this environment.
    pub(crate) fn name(&self, key: &str) -> String {
        self.names.get(key).cloned().unwrap_or_default()
    }

    /// The value of a per-environment setting for this environment.
    pub(crate) fn per_env<T: Clone>(&mut self, v: &PerEnv<T>, path: &str) -> Option<T> {
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
    pub(crate) fn check_range(
        &mut self,
        v: &PerEnv<u32>,
        path: &str,
        what: &str,
        range: &std::ops::RangeInclusive<u32>,
    ) {
        for (suffix, n) in v.written() {
            if !range.contains(&n) {
                self.error_hint(
                    &format!("{path}{suffix}"),
                    format!("{what} {n} is out of range"),
                    limits::allowed(range),
                );
            }
        }
    }

    /// The value here of the optional numeric field `field` of the resource
    /// at `path`, every written value checked against `range`; `None` when
    /// it is not set (or has no value here, which is reported).
    pub(crate) fn ranged(
        &mut self,
        v: &Option<PerEnv<u32>>,
        path: &str,
        field: &str,
        what: &str,
        range: &std::ops::RangeInclusive<u32>,
    ) -> Option<u32> {
        let v = v.as_ref()?;
        let at = join(path, field);
        self.check_range(v, &at, what, range);
        self.per_env(v, &at)
    }

    /// Checks every written value of a log retention against CloudWatch's set.
    pub(crate) fn check_retention(&mut self, v: &PerEnv<u32>, path: &str) {
        for (suffix, n) in v.written() {
            if !LOG_RETENTION_DAYS.contains(&n) {
                let near = limits::nearest_retention(n);
                let all: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
                self.error_hint(
                    &format!("{path}{suffix}"),
                    format!("log retention of {n} days is not one CloudWatch Logs accepts"),
                    format!(
                        "the nearest allowed value is {near}; allowed: {}",
                        all.join(", ")
                    ),
                );
            }
        }
    }

    /// The resource `key` refers to, checking it exists and is of `kinds`.
    pub(crate) fn target(&mut self, key: &str, path: &str, kinds: &[&str]) -> Option<&'a Resource> {
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
        Some(r.attribute(self, first, attr, path))
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
                crate::limits::identifier_problem("parameter name", name, '_', 64)
            {
                self.error(&path, problem);
                continue;
            }
            let logical = pascal(name);
            self.claim(&logical, &path);
            let mut d = Map::new();
            d.insert(
                "type".into(),
                json!(if p.kind == ParamType::Number {
                    "Number"
                } else {
                    "String"
                }),
            );
            if let Some(desc) = &p.description {
                d.insert("description".into(), json!(desc));
            }
            if let Some(def) = &p.default {
                self.check_param(p, def, &join(&path, "default"), name);
                d.insert("default".into(), json!(def.to_cfn_string()));
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
                    d.insert("allowed".into(), json!(["true", "false"]));
                    self.conditions
                        .insert(format!("{logical}IsTrue"), json!({"is_true": logical}));
                }
                ParamType::Number => {
                    if let Some(m) = p.min {
                        d.insert("min".into(), number(m));
                    }
                    if let Some(m) = p.max {
                        d.insert("max".into(), number(m));
                    }
                }
                ParamType::String => {}
            }
            if let Some(allowed) = &p.allowed {
                d.insert(
                    "allowed".into(),
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

    /// Whether a resource is kept when its stack goes: its `retain`, else the setting.
    pub(crate) fn retain(&mut self, v: &Option<PerEnv<bool>>, path: &str) -> bool {
        match v {
            Some(v) => self.per_env(v, &join(path, "retain")).unwrap_or(false),
            None => self.settings.retain_data,
        }
    }

    /// The CloudFormation condition for a boolean parameter named by `when`.
    pub(crate) fn condition(&mut self, param: &str, path: &str) -> Option<String> {
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
            let export = o.export.then(|| format!("{stack_name}-{name}"));
            out.insert(
                name.clone(),
                json!({"value": value, "description": o.description, "export": export}),
            );
        }
        out
    }
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

#[cfg(test)]
mod tests;
