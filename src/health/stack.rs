//! The checks of a stack itself: its CloudFormation status, every declared
//! resource present in it, and its template, parameters and tags equal to
//! what stackctl would deploy from this checkout (compared as `diff`
//! compares). Reading the stack also gives the resource checks their
//! physical ids ([`Deployed`]).

use super::{read_failed, Check, Deployed, Finding, Status};
use crate::aws::cloudformation::{CloudFormation, StackInfo, StackResource};
use crate::aws::resources::ReadError;
use crate::deploy::desired::{self, CodeKeys, Inputs, Upstream};
use crate::diff::{parse_template, DeployedState, StackDiff};
use crate::render::Rendered;
use std::collections::BTreeMap;

/// The checks of every stack, by name.
pub const CHECKS: &[&str] = &["status", "resources", "template"];

/// What one stack's checks read from CloudFormation.
#[derive(Debug)]
pub struct StackRead {
    /// The stack (`None`: not deployed).
    pub info: Option<StackInfo>,
    /// Its resources (empty when not deployed).
    pub resources: Result<Vec<StackResource>, ReadError>,
    /// The deployed state against this checkout's (`None`: not deployed).
    pub diff: Option<Result<StackDiff, ReadError>>,
}

impl StackRead {
    /// The deployed stack as the resource checks see it, when its
    /// resources could be read.
    /// `None` when it is not deployed (or holds no deployed template yet).
    pub fn deployed(&self) -> Option<Result<Deployed, &ReadError>> {
        let info = self.info.as_ref()?;
        self.diff.as_ref()?;
        Some(
            self.resources
                .as_ref()
                .map(|resources| Deployed::new(info, resources)),
        )
    }
}

/// The code this checkout would deploy to one stack: the code-key
/// parameters of the functions whose zips are current, and the functions
/// that changed since their last build (their code is taken as deployed).
#[derive(Debug, Clone, Default)]
pub struct Code {
    /// Code-key parameter values (and `ArtefactBucket`), by parameter.
    pub keys: BTreeMap<String, String>,
    /// Crates whose zips are not current, so not compared.
    pub stale: Vec<String>,
}

/// Reads stack `r`: its description, resources and template, compared with
/// what this checkout would deploy (`code`; the outputs of other stacks
/// read through `upstream`). Only the description failing is an error;
/// the rest fails on its own.
pub async fn read<C: CloudFormation>(
    cfn: &C,
    upstream: &Upstream<'_, C>,
    r: &Rendered,
    code: &Code,
    env: &str,
) -> Result<StackRead, ReadError> {
    let Some(info) = cfn.describe(&r.stack_name).await? else {
        return Ok(StackRead {
            info: None,
            resources: Ok(Vec::new()),
            diff: None,
        });
    };
    if info.status == "REVIEW_IN_PROGRESS" {
        // A change set was made and never executed: nothing is deployed.
        return Ok(StackRead {
            info: Some(info),
            resources: Ok(Vec::new()),
            diff: None,
        });
    }
    let compare = async {
        let body = cfn.template(&r.stack_name).await?;
        let template = parse_template(&body).map_err(|e| {
            ReadError::new(
                crate::aws::cloudformation::ErrorKind::BadResponse,
                format!("reading the deployed template of {}: {e:#}", r.stack_name),
            )
        })?;
        let mut params = upstream
            .parameters(
                r,
                CodeKeys::AsDeployed(Some(&info)),
                Inputs::WhereKnown,
                env,
            )
            .await
            .map_err(|e| {
                ReadError::new(
                    crate::aws::cloudformation::ErrorKind::Other,
                    format!("{e:#}"),
                )
            })?;
        params.extend(code.keys.clone());
        let desired = desired::state(&r.template, &params, &r.tags).map_err(|e| {
            ReadError::new(
                crate::aws::cloudformation::ErrorKind::Other,
                format!("{e:#}"),
            )
        })?;
        let deployed = DeployedState {
            template,
            parameters: info.parameters.clone(),
            tags: info.tags.clone(),
        };
        Ok(StackDiff::new(
            &r.stack,
            &r.stack_name,
            Some(&deployed),
            &desired,
        ))
    };
    let (resources, diff) = tokio::join!(cfn.resources(&r.stack_name), compare);
    Ok(StackRead {
        resources: resources.map_err(ReadError::from),
        diff: Some(diff),
        info: Some(info),
    })
}

/// The stack checks of `r` from what was read; `waiting`: the run is one
/// of `--wait`'s, where a rolled-back deploy fails.
pub fn findings(
    r: &Rendered,
    read: &StackRead,
    code: &Code,
    env: &str,
    emulated: bool,
    waiting: bool,
) -> Vec<Finding> {
    let Some(info) = &read.info else {
        let missing = format!("stack {} is not deployed in {env}", r.stack_name);
        let skip = format!("not deployed (see {}/stack/status)", r.stack);
        return vec![
            Finding::fail("status", missing)
                .observed("not deployed")
                .expected("CREATE_COMPLETE or UPDATE_COMPLETE")
                .hint(format!("stackctl deploy --env {env} {}", r.stack)),
            Finding::skip("resources", skip.clone()),
            Finding::skip("template", skip),
        ];
    };
    let Some(diff) = &read.diff else {
        let none = format!("no deployed template ({})", info.status);
        return vec![
            status(r, info, env, waiting),
            Finding::skip("resources", none.clone()),
            Finding::skip("template", none),
        ];
    };
    vec![
        status(r, info, env, waiting),
        match &read.resources {
            Ok(found) => resources(r, info, found, env, emulated),
            Err(e) => read_failed("resources", e, env),
        },
        match diff {
            Ok(diff) => template(r, diff, code, env),
            Err(e) => read_failed("template", e, env),
        },
    ]
}

/// The stack's CloudFormation status. A rolled-back update warns, and
/// fails when `waiting` (CI waiting for the deploy it just made).
fn status(r: &Rendered, info: &StackInfo, env: &str, waiting: bool) -> Finding {
    let s = info.status.as_str();
    let why = info
        .reason
        .as_deref()
        .filter(|w| !w.is_empty())
        .map(|w| format!(": {w}"))
        .unwrap_or_default();
    let settled = "CREATE_COMPLETE or UPDATE_COMPLETE";
    let deploy = format!("stackctl deploy --env {env} {}", r.stack);
    let f = match s {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => {
            Finding::pass("status", format!("{} is {s}", r.stack_name))
        }
        "UPDATE_ROLLBACK_COMPLETE" => Finding::new(
            "status",
            if waiting { Status::Fail } else { Status::Warn },
            format!("the last deploy was rolled back{why}"),
        )
        .hint(format!(
            "the stack runs its previous template; `stackctl status --env {env} {}` shows why, fix it and `{deploy}`",
            r.stack
        )),
        "ROLLBACK_COMPLETE" => Finding::fail(
            "status",
            format!("its first create failed and was rolled back{why}"),
        )
        .hint(format!(
            "nothing of it runs; fix the cause, then `{deploy}` deletes and creates it again"
        )),
        "REVIEW_IN_PROGRESS" => Finding::fail(
            "status",
            "never deployed: a change set was made and not executed",
        )
        .hint(deploy),
        "UPDATE_ROLLBACK_FAILED" => Finding::fail("status", format!("{s}{why}")).hint(format!(
            "fix the resources named, then `aws cloudformation continue-update-rollback --stack-name {}`",
            r.stack_name
        )),
        _ if s.ends_with("_FAILED") => Finding::fail("status", format!("{s}{why}")).hint(format!(
            "`stackctl status --env {env} {}` shows the reason; fix it and `{deploy}`",
            r.stack
        )),
        _ if s.ends_with("_IN_PROGRESS") => Finding::unknown(
            "status",
            format!("not settled yet: CloudFormation is working on it ({s})"),
        )
        .hint(format!(
            "run health again when it settles (`stackctl status --env {env} {}`)",
            r.stack
        )),
        _ => Finding::unknown("status", format!("unexpected status {s}{why}")),
    };
    f.observed(s).expected(settled)
}

/// Every CloudFormation resource the declared resources became is in the
/// deployed stack, and none of them failed.
fn resources(
    r: &Rendered,
    info: &StackInfo,
    found: &[StackResource],
    env: &str,
    emulated: bool,
) -> Finding {
    let declared: Vec<&str> = r
        .inventory
        .iter()
        .flat_map(|i| &i.resources)
        .map(|x| x.logical_id.as_str())
        .collect();
    let missing: Vec<&str> = declared
        .iter()
        .copied()
        .filter(|id| !found.iter().any(|f| f.logical_id == *id))
        .collect();
    let failed: Vec<String> = found
        .iter()
        .filter(|f| f.status.ends_with("_FAILED"))
        .map(|f| format!("{} ({})", f.logical_id, f.status))
        .collect();
    let total = declared.len();
    let present = total - missing.len();
    let observed = format!("{present} of {total} present");
    let expected = format!("{total} of {total} present");
    let deploy = format!("stackctl deploy --env {env} {}", r.stack);
    if !failed.is_empty() {
        return Finding::fail("resources", format!("failed: {}", failed.join(", ")))
            .observed(observed)
            .expected(expected)
            .hint(format!(
                "`stackctl status --env {env} {}` shows the stack's reason; fix it and `{deploy}`",
                r.stack
            ));
    }
    if missing.is_empty() {
        return Finding::pass(
            "resources",
            format!("all {total} declared resources are in {}", info.name),
        )
        .observed(observed)
        .expected(expected);
    }
    // moto lists the resources it only pretends to create (API Gateway v2,
    // alarms, ...) without ids: the missing ones may be among them.
    let unnamed = found.iter().filter(|f| f.logical_id.is_empty()).count();
    if emulated && missing.len() <= unnamed {
        return Finding::skip(
            "resources",
            format!(
                "the emulator lists {unnamed} placeholder resources without ids; {} declared resources may be among them: {}",
                missing.len(),
                missing.join(", ")
            ),
        )
        .observed(observed)
        .expected(expected);
    }
    Finding::fail(
        "resources",
        format!("not in the deployed stack: {}", missing.join(", ")),
    )
    .observed(observed)
    .expected(expected)
    .hint(format!(
        "the stack was deployed from another checkout; `stackctl diff --env {env} {}` shows the difference, `{deploy}` adds them",
        r.stack
    ))
}

/// The deployed template, parameters and tags against this checkout's.
fn template(r: &Rendered, diff: &StackDiff, code: &Code, env: &str) -> Finding {
    let not_compared = if code.stale.is_empty() {
        String::new()
    } else {
        format!(
            " (code of {} not compared: changed since its last build)",
            code.stale.join(", ")
        )
    };
    if !diff.has_changes() {
        return Finding::pass(
            "template",
            format!("deployed from this checkout{not_compared}"),
        )
        .observed("no differences")
        .expected("no differences");
    }
    let (add, change, remove) = diff.counts();
    let mut parts = Vec::new();
    if add + change + remove > 0 {
        parts.push(format!(
            "{add} to add, {change} to change, {remove} to remove"
        ));
    }
    let names =
        |what: &str, v: Vec<&str>| (!v.is_empty()).then(|| format!("{what} {}", v.join(", ")));
    parts.extend(names(
        "outputs",
        diff.outputs.iter().map(|o| o.name.as_str()).collect(),
    ));
    parts.extend(names(
        "parameters",
        diff.parameters.iter().map(|p| p.name.as_str()).collect(),
    ));
    parts.extend(names(
        "tags",
        diff.tags.iter().map(|t| t.name.as_str()).collect(),
    ));
    Finding::warn(
        "template",
        format!("not deployed from this checkout{not_compared}"),
    )
    .observed(parts.join("; "))
    .expected("no differences")
    .hint(format!(
        "`stackctl diff --env {env} {0}` shows the differences; `stackctl deploy --env {env} {0}` deploys this checkout",
        r.stack
    ))
}

/// Whether `check` is a stack status that failed for good: a failed or
/// rolled-back operation, which only a new deploy changes, so `--wait`
/// stops waiting on it. (`*_IN_PROGRESS` is not yet settled; a stack not
/// deployed, or holding an unexecuted change set, may be on its way.)
pub fn settled_failure(check: &Check) -> bool {
    check.kind == "stack"
        && check.check == "status"
        && check.status == Status::Fail
        && check
            .observed
            .as_deref()
            .is_some_and(|s| s.ends_with("_FAILED") || s.ends_with("ROLLBACK_COMPLETE"))
}
