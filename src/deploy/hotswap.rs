//! Hot-swap (`deploy --hotswap`): when the only difference between a
//! deployed stack and the desired one is function code (the values of the
//! `<Function>CodeKey` parameters), each changed function's code is
//! updated in place through Lambda's API, without a CloudFormation update.
//!
//! The stack then differs from what runs, on purpose. A marker object in
//! the environment's artefact bucket (`hotswaps/STACK_NAME.json`) records
//! which functions run which code, written *before* the first update so
//! that an interrupted hot-swap is never forgotten. `status` and `diff`
//! read the markers and say so; the next deploy without `--hotswap`
//! reconciles ([`reconcile`]): once CloudFormation has the stack as
//! desired, each marked function whose code still differs from what the
//! stack names is pointed back at it, and the marker goes.

use super::observe::Observer;
use super::wait::{Backoff, Clock};
use super::{effective_parameters, Desired, Outcome, StackPlan, StackReport};
use crate::aws::artefacts::ArtefactStore;
use crate::aws::cloudformation::{rfc3339, CloudFormation, PlannedChange, StackInfo};
use crate::aws::functions::{lambda_sha256, CodeState, Functions};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Where markers live in the artefact bucket.
pub const MARKER_PREFIX: &str = "hotswaps/";

/// How long a function's code update may take before stackctl gives up.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(600);

/// One function whose code a hot-swap changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeSwap {
    /// The function's logical id.
    pub logical_id: String,
    /// The template parameter that names its code.
    pub parameter: String,
    /// The code the stack names now (artefact key).
    pub from_key: String,
    /// The code it will run (artefact key).
    pub to_key: String,
}

/// Whether a stack can be hot-swapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Only function code differs.
    Code(Vec<CodeSwap>),
    /// Something else differs too: a normal deploy, for this reason.
    FallBack(String),
}

/// Compares the deployed stack with `d`: code-only differences give the
/// swaps; anything else (template, tags, another parameter) the reason a
/// normal deploy is needed.
pub fn decide(d: &Desired, deployed_template: &str, info: &StackInfo) -> Decision {
    if !super::same_template(deployed_template, &d.template) {
        return Decision::FallBack("the template changed".into());
    }
    if info.tags != d.request.tags {
        return Decision::FallBack("the stack tags changed".into());
    }
    let want = effective_parameters(&d.template, &d.request.parameters);
    let mut swaps = Vec::new();
    let names: std::collections::BTreeSet<&String> =
        want.keys().chain(info.parameters.keys()).collect();
    for name in names {
        let (now, next) = (info.parameters.get(name), want.get(name));
        if now == next || now.is_some_and(|v| v == "****") {
            continue;
        }
        match (d.code.get(name), now, next) {
            (Some(logical_id), Some(from), Some(to)) => swaps.push(CodeSwap {
                logical_id: logical_id.clone(),
                parameter: name.clone(),
                from_key: from.clone(),
                to_key: to.clone(),
            }),
            _ => return Decision::FallBack(format!("parameter {name} changed")),
        }
    }
    if swaps.is_empty() {
        return Decision::FallBack("no function code changed".into());
    }
    Decision::Code(swaps)
}

/// What a marker says of one hot-swapped function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swapped {
    /// Its physical name.
    pub function_name: String,
    /// The code it runs (artefact key).
    pub artefact_key: String,
    /// The code the stack's template parameters name.
    pub template_key: String,
    /// When it was swapped (RFC 3339).
    pub at: String,
}

/// The hot-swapped functions of one stack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// CloudFormation's name of the stack.
    pub stack_name: String,
    /// By logical id.
    pub functions: BTreeMap<String, Swapped>,
}

/// A function that runs other code than its stack names, as `status` and
/// `diff` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HotSwapped {
    /// Its logical id.
    pub logical_id: String,
    /// Its physical name.
    pub function_name: String,
    /// The code it runs.
    pub artefact_key: String,
    /// The code the stack names.
    pub template_key: String,
    /// When it was hot-swapped (RFC 3339).
    pub at: String,
}

impl fmt::Display for HotSwapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hot-swapped: {} ({}) runs {} since {}; the stack names {} until a deploy without --hotswap",
            self.logical_id, self.function_name, self.artefact_key, self.at, self.template_key
        )
    }
}

impl Marker {
    /// The functions it names, by logical id.
    pub fn hot_swapped(&self) -> Vec<HotSwapped> {
        self.functions
            .iter()
            .map(|(logical_id, s)| HotSwapped {
                logical_id: logical_id.clone(),
                function_name: s.function_name.clone(),
                artefact_key: s.artefact_key.clone(),
                template_key: s.template_key.clone(),
                at: s.at.clone(),
            })
            .collect()
    }
}

/// The hot-swapped functions of `stack_name` among `markers`.
pub fn hot_swapped(markers: &BTreeMap<String, Marker>, stack_name: &str) -> Vec<HotSwapped> {
    markers
        .get(stack_name)
        .map(Marker::hot_swapped)
        .unwrap_or_default()
}

/// The key of `stack_name`'s marker.
pub fn marker_key(stack_name: &str) -> String {
    format!("{MARKER_PREFIX}{stack_name}.json")
}

/// Every marker in the artefact bucket, by stack name. A bucket that does
/// not exist holds none.
pub async fn markers<S: ArtefactStore>(
    store: &S,
    bucket: &str,
) -> Result<BTreeMap<String, Marker>> {
    let mut out = BTreeMap::new();
    for key in store.list(bucket, MARKER_PREFIX).await? {
        let Some(body) = store.get(bucket, &key).await? else {
            continue;
        };
        let marker: Marker = serde_json::from_slice(&body)
            .with_context(|| format!("reading the hot-swap marker s3://{bucket}/{key}"))?;
        out.insert(marker.stack_name.clone(), marker);
    }
    Ok(out)
}

/// The collaborators of a hot-swap.
pub struct Swapper<'a, C, F, S, K> {
    /// CloudFormation (the stack's resources).
    pub cfn: &'a C,
    /// Lambda.
    pub functions: &'a F,
    /// The artefact bucket's store (markers).
    pub store: &'a S,
    /// Time.
    pub clock: &'a K,
    /// Who sees progress.
    pub observer: &'a dyn Observer,
    /// The artefact bucket.
    pub bucket: &'a str,
}

impl<C: CloudFormation, F: Functions, S: ArtefactStore, K: Clock> Swapper<'_, C, F, S, K> {
    /// Carries out a hot-swap plan. Never fails: a failure is in the report.
    pub async fn apply(
        &self,
        d: &Desired,
        plan: &StackPlan,
        swaps: &[CodeSwap],
        marker: Option<&Marker>,
    ) -> StackReport {
        let started = self.clock.now();
        let mut report = StackReport::new(&d.stack, &d.request.name);
        report.changes = swaps
            .iter()
            .map(|s| PlannedChange {
                action: "Modify".into(),
                logical_id: s.logical_id.clone(),
                resource_type: "AWS::Lambda::Function".into(),
                replacement: None,
            })
            .collect();
        match self.swap(d, swaps, marker).await {
            Ok(names) => {
                report.outcome = Outcome::HotSwapped;
                report.status = plan.info.as_ref().map(|i| i.status.clone());
                report.outputs = plan
                    .info
                    .as_ref()
                    .map(|i| i.outputs.clone())
                    .unwrap_or_default();
                report.message = Some(format!(
                    "code updated in place: {}; the stack still names the previous code until a deploy without --hotswap",
                    names.join(", ")
                ));
            }
            Err(e) => {
                report.outcome = Outcome::Failed;
                report.message = Some(format!("hot-swap of {}: {e:#}", d.request.name));
            }
        }
        report.seconds = plan.seconds + (self.clock.now() - started).as_secs_f64();
        let ok = report.outcome.ok();
        self.observer.end(&d.stack, &super::summary(&report), ok);
        report
    }

    async fn swap(
        &self,
        d: &Desired,
        swaps: &[CodeSwap],
        marker: Option<&Marker>,
    ) -> Result<Vec<String>> {
        let name = &d.request.name;
        let code_bucket = d
            .request
            .parameters
            .get(crate::render::context::ARTEFACT_BUCKET_PARAM)
            .map(String::as_str)
            .unwrap_or(self.bucket);
        let physical: BTreeMap<String, String> = self
            .cfn
            .resources(name)
            .await
            .map_err(|e| anyhow!(e.message))?
            .into_iter()
            .filter_map(|r| Some((r.logical_id, r.physical_id?)))
            .collect();
        let mut marker = marker.cloned().unwrap_or_else(|| Marker {
            stack_name: name.clone(),
            functions: BTreeMap::new(),
        });
        let mut targets = Vec::new();
        for s in swaps {
            let function = physical
                .get(&s.logical_id)
                .with_context(|| format!("{name} has no deployed resource {}", s.logical_id))?;
            let template_key = marker
                .functions
                .get(&s.logical_id)
                .map_or_else(|| s.from_key.clone(), |m| m.template_key.clone());
            marker.functions.insert(
                s.logical_id.clone(),
                Swapped {
                    function_name: function.clone(),
                    artefact_key: s.to_key.clone(),
                    template_key,
                    at: rfc3339(SystemTime::now()),
                },
            );
            targets.push((function.clone(), s.to_key.clone()));
        }
        // The marker first: a hot-swap cut short is still known.
        self.store
            .put(
                self.bucket,
                &marker_key(name),
                serde_json::to_vec_pretty(&marker)?,
            )
            .await?;
        for (function, key) in &targets {
            self.observer.note(
                &d.stack,
                &format!("updating the code of {function} to {key}"),
            );
        }
        let updates = targets
            .iter()
            .map(|(function, key)| self.update(function, code_bucket, key));
        for r in futures_util::future::join_all(updates).await {
            r?;
        }
        Ok(targets.into_iter().map(|(f, _)| f).collect())
    }

    /// Points `function` at `key` and waits until Lambda has applied it
    /// and reports the zip's sha256.
    async fn update(&self, function: &str, bucket: &str, key: &str) -> Result<()> {
        let mut state = self.functions.update_code(function, bucket, key).await?;
        let started = self.clock.now();
        let mut backoff = Backoff::default();
        while state.updating() {
            if self.clock.now() - started > UPDATE_TIMEOUT {
                bail!(
                    "{function}: the code update is still in progress after {} s",
                    UPDATE_TIMEOUT.as_secs()
                );
            }
            self.clock.sleep(backoff.next_pause()).await;
            state = self.functions.code_state(function).await?;
        }
        check(function, key, &state)
    }

    /// After a normal deploy of `d` (the stack is as desired): points each
    /// function a marker names back at the code the stack names, where it
    /// differs, then removes the marker. Returns the functions updated.
    pub async fn reconcile(&self, d: &Desired, marker: &Marker) -> Result<Vec<String>> {
        let by_logical: BTreeMap<&String, &String> = d
            .code
            .iter()
            .map(|(param, logical)| (logical, param))
            .collect();
        let code_bucket = d
            .request
            .parameters
            .get(crate::render::context::ARTEFACT_BUCKET_PARAM)
            .map(String::as_str)
            .unwrap_or(self.bucket);
        let mut updated = Vec::new();
        for (logical, swapped) in &marker.functions {
            let Some(key) = by_logical
                .get(logical)
                .and_then(|p| d.request.parameters.get(*p))
            else {
                continue;
            };
            let now = self.functions.code_state(&swapped.function_name).await?;
            if check(&swapped.function_name, key, &now).is_ok() {
                continue;
            }
            self.update(&swapped.function_name, code_bucket, key)
                .await?;
            updated.push(swapped.function_name.clone());
        }
        self.store
            .delete(self.bucket, &marker_key(&marker.stack_name))
            .await?;
        Ok(updated)
    }
}

/// A finished update must have succeeded and give the zip's sha256 (which
/// the artefact key holds, hex).
fn check(function: &str, key: &str, state: &CodeState) -> Result<()> {
    if state.last_update_status.as_deref() == Some("Failed") {
        bail!(
            "{function}: Lambda failed to update the code: {}",
            state.reason.as_deref().unwrap_or("no reason given")
        );
    }
    let hex = key
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".zip"))
        .unwrap_or_default();
    match lambda_sha256(hex) {
        Some(want) if want == state.code_sha256 => Ok(()),
        Some(want) => bail!(
            "{function}: Lambda reports code sha256 {} where {key} has {want}",
            state.code_sha256
        ),
        // Not a content-addressed key: nothing to compare with.
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::cloudformation::{StackRequest, TemplateSource};

    fn desired(params: &[(&str, &str)]) -> Desired {
        Desired {
            stack: "app".into(),
            request: StackRequest {
                name: "p-app-dev".into(),
                template: TemplateSource::Body("T".into()),
                parameters: params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                tags: BTreeMap::new(),
                termination_protection: false,
            },
            template: "T".into(),
            method: super::super::Method::Direct,
            hotswap: true,
            code: BTreeMap::from([("FnCodeKey".to_string(), "Fn".to_string())]),
        }
    }

    fn info(params: &[(&str, &str)]) -> StackInfo {
        StackInfo {
            id: "arn".into(),
            name: "p-app-dev".into(),
            status: "UPDATE_COMPLETE".into(),
            reason: None,
            created: None,
            updated: None,
            parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            outputs: BTreeMap::new(),
            tags: BTreeMap::new(),
            termination_protection: false,
        }
    }

    #[test]
    fn only_code_keys_differing_is_a_hot_swap() {
        let d = desired(&[("FnCodeKey", "functions/fn/b.zip"), ("Size", "1")]);
        let i = info(&[("FnCodeKey", "functions/fn/a.zip"), ("Size", "1")]);
        assert_eq!(
            decide(&d, "T", &i),
            Decision::Code(vec![CodeSwap {
                logical_id: "Fn".into(),
                parameter: "FnCodeKey".into(),
                from_key: "functions/fn/a.zip".into(),
                to_key: "functions/fn/b.zip".into(),
            }])
        );
    }

    #[test]
    fn anything_else_falls_back_and_says_why() {
        let d = desired(&[("FnCodeKey", "b"), ("Size", "2")]);
        let i = info(&[("FnCodeKey", "a"), ("Size", "1")]);
        assert_eq!(
            decide(&d, "T", &i),
            Decision::FallBack("parameter Size changed".into())
        );
        let d = desired(&[("FnCodeKey", "b")]);
        let i = info(&[("FnCodeKey", "a")]);
        assert_eq!(
            decide(&d, "T2", &i),
            Decision::FallBack("the template changed".into())
        );
        let mut tagged = info(&[("FnCodeKey", "a")]);
        tagged.tags.insert("team".into(), "x".into());
        assert_eq!(
            decide(&d, "T", &tagged),
            Decision::FallBack("the stack tags changed".into())
        );
    }

    #[test]
    fn the_code_check_compares_lambdas_sha_with_the_key() {
        let key =
            "functions/fn/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.zip";
        let ok = CodeState {
            code_sha256: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into(),
            last_update_status: Some("Successful".into()),
            reason: None,
        };
        assert!(check("f", key, &ok).is_ok());
        let other = CodeState {
            code_sha256: "other=".into(),
            ..ok.clone()
        };
        assert!(check("f", key, &other)
            .unwrap_err()
            .to_string()
            .contains("reports code sha256 other="));
        let failed = CodeState {
            last_update_status: Some("Failed".into()),
            reason: Some("bad zip".into()),
            ..ok
        };
        assert!(check("f", key, &failed)
            .unwrap_err()
            .to_string()
            .ends_with("bad zip"));
    }
}
