//! `stackctl destroy`: an environment's stacks deleted in reverse
//! dependency order, after everything that could stop the delete half-way
//! was checked and the user agreed. Protected environments need their name
//! as confirmation and keep their retained data; buckets that hold objects
//! are emptied only when asked; the artefact bucket stays unless asked.

use super::{interrupted, runtime, Scope};
use crate::aws::buckets::{Buckets, S3Buckets};
use crate::aws::cloudformation::{CloudFormation, SdkCloudFormation};
use crate::cli::{DestroyArgs, GlobalArgs, OutputFormat};
use crate::deploy::wait::SystemClock;
use crate::deploy::{AssumeYes, Confirm, Engine, Outcome, StackReport};
use crate::exit::{Declined, ExitStatus, UsageError};
use crate::output::Printer;
use crate::ui::progress::{Mode, Progress};
use crate::ui::prompt;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// How many objects are counted before "at least" is good enough.
const COUNT_LIMIT: usize = 10_000;

/// A bucket and how many objects it held.
#[derive(Debug, Clone, Serialize)]
pub struct BucketObjects {
    /// The stack it belongs to (`null` for the artefact bucket).
    pub stack: Option<String>,
    /// Bucket name.
    pub bucket: String,
    /// Objects (versions included), counted up to 10000.
    pub objects: usize,
}

/// A resource that stays when its stack goes (`DeletionPolicy: Retain`).
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    /// Its stack.
    pub stack: String,
    /// Logical id.
    pub logical_id: String,
    /// Type.
    pub resource_type: String,
    /// Physical id.
    pub physical_id: Option<String>,
}

/// What `destroy` did.
#[derive(Debug, Serialize)]
pub struct DestroyReport {
    /// Environment.
    pub env: String,
    /// Per stack, in the order they were deleted.
    pub stacks: Vec<StackReport>,
    /// Buckets emptied first.
    pub emptied: Vec<BucketObjects>,
    /// Resources left in place by their deletion policy.
    pub kept: Vec<Kept>,
    /// The artefact bucket, when --artefacts deleted it.
    pub artefact_bucket: Option<BucketObjects>,
    /// Secrets an emulator environment had outside its templates, deleted
    /// with their stacks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets_deleted: Vec<String>,
}

impl DestroyReport {
    /// Success unless a stack failed or was skipped.
    pub fn status(&self) -> ExitStatus {
        crate::deploy::exit_status(&self.stacks)
    }
}

impl fmt::Display for DestroyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.emptied {
            writeln!(
                f,
                "emptied s3://{} ({})",
                b.bucket,
                crate::diagnostics::count(b.objects, "object")
            )?;
        }
        let width = self
            .stacks
            .iter()
            .map(|s| s.stack_name.len())
            .max()
            .unwrap_or(0);
        for s in &self.stacks {
            writeln!(f, "{:width$}  {}", s.stack_name, crate::deploy::summary(s))?;
            if let Some(m) = &s.message {
                for line in m.lines() {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        for k in &self.kept {
            writeln!(
                f,
                "kept {} {} ({}, DeletionPolicy Retain)",
                k.resource_type,
                k.physical_id.as_deref().unwrap_or(&k.logical_id),
                k.stack
            )?;
        }
        for name in &self.secrets_deleted {
            writeln!(f, "deleted secret {name} (made outside the template)")?;
        }
        if let Some(a) = &self.artefact_bucket {
            writeln!(
                f,
                "deleted artefact bucket s3://{} ({})",
                a.bucket,
                crate::diagnostics::count(a.objects, "object")
            )?;
        }
        let deleted = self
            .stacks
            .iter()
            .filter(|s| s.outcome == Outcome::Deleted)
            .count();
        write!(
            f,
            "{deleted} stack{} deleted in {}",
            if deleted == 1 { "" } else { "s" },
            self.env
        )
    }
}

/// One deployed stack as found before deleting anything.
struct Found {
    stack: String,
    name: String,
    resources: usize,
    full: Vec<BucketObjects>,
    kept: Vec<Kept>,
}

/// Settings of one destroy, resolved from the arguments.
struct Settings {
    empty_buckets: bool,
    confirm_env: Option<String>,
    artefacts: bool,
    yes: bool,
    quiet: bool,
    verbose: bool,
    endpoint: Option<String>,
}

/// Destroys the selected stacks.
pub fn run(
    root: &Path,
    args: DestroyArgs,
    global: &GlobalArgs,
    printer: Printer,
) -> anyhow::Result<DestroyReport> {
    let DestroyArgs {
        env,
        stacks,
        empty_buckets,
        confirm_env,
        artefacts,
    } = args;
    let s = Settings {
        empty_buckets,
        confirm_env,
        artefacts,
        yes: global.yes,
        quiet: global.quiet || global.output == OutputFormat::Json,
        verbose: global.verbose,
        endpoint: global.endpoint_url.clone(),
    };
    let scope = Scope::load(root, &env, &stacks)?;
    let e = scope.environment();
    if e.protected && s.empty_buckets {
        return Err(UsageError::new(format!(
            "--empty-buckets is refused in protected environment `{env}`: stackctl never deletes its data\nhint: its tables and buckets are retained when their stacks go; empty a bucket by hand if it really must"
        ))
        .into());
    }
    if let Some(c) = s.confirm_env.as_deref().filter(|c| *c != env) {
        return Err(UsageError::new(format!(
            "--confirm-env `{c}` does not match the environment being destroyed, `{env}`"
        ))
        .into());
    }
    // What would stop the delete is found first (read-only), so that a
    // full bucket is reported before the question a script cannot answer.
    runtime()?.block_on(destroy(&scope, &s, printer))
}

async fn destroy(scope: &Scope, s: &Settings, printer: Printer) -> anyhow::Result<DestroyReport> {
    let e = scope.environment();
    let env = &scope.env;
    let sdk = scope.connect(s.endpoint.as_deref(), false, printer).await?;
    let cfn = SdkCloudFormation::new(&sdk);
    let buckets = S3Buckets::new(&sdk);

    // Find everything first: nothing is deleted when something would fail.
    let mut found = Vec::new();
    let mut absent = Vec::new();
    for stack in scope.stacks.iter().rev() {
        let name = scope.rendered(stack).stack_name.clone();
        match cfn.describe(&name).await? {
            Some(_) => found.push(inspect(&cfn, &buckets, stack, &name).await?),
            None => absent.push((stack.clone(), name)),
        }
    }
    check_dependents(&cfn, scope).await?;
    let full: Vec<&BucketObjects> = found.iter().flat_map(|f| &f.full).collect();
    if !full.is_empty() && !s.empty_buckets {
        let mut msg = String::from(
            "these buckets hold objects, and CloudFormation cannot delete a bucket that does (the stack would end DELETE_FAILED):",
        );
        for b in &full {
            let stack = b.stack.as_deref().unwrap_or("");
            msg.push_str(&format!(
                "\n  s3://{} (stack {stack}): {}",
                b.bucket,
                at_least(b.objects)
            ));
        }
        let hint = if e.protected {
            "in a protected environment stackctl deletes no data; empty them by hand if they really must go".to_string()
        } else {
            "pass --empty-buckets to delete their objects first (they cannot be recovered); nothing was deleted".to_string()
        };
        msg.push_str(&format!("\nhint: {hint}"));
        anyhow::bail!(msg);
    }
    let artefact_bucket = e.artefact_bucket(&scope.project.file.project, env);
    if found.is_empty() && !s.artefacts {
        return Ok(DestroyReport {
            env: env.clone(),
            stacks: absent
                .iter()
                .map(|(stack, name)| not_deployed(stack, name))
                .collect(),
            emptied: Vec::new(),
            kept: Vec::new(),
            artefact_bucket: None,
            secrets_deleted: Vec::new(),
        });
    }

    let plan = plan_text(scope, &found, s, &artefact_bucket);
    confirm(scope, s, &plan, printer)?;

    let clock = SystemClock::default();
    let progress = Progress::new(Mode::detect(s.quiet), s.verbose);
    let engine = Engine {
        cfn: &cfn,
        clock: &clock,
        observer: &progress,
        confirm: &AssumeYes,
    };
    let work = async {
        let mut reports = Vec::new();
        let mut emptied = Vec::new();
        let mut failed = None;
        for f in &found {
            if let Some(stack) = &failed {
                reports.push(StackReport::skipped(
                    &f.stack,
                    &f.name,
                    format!("not deleted: deleting `{stack}` failed first"),
                ));
                continue;
            }
            for b in &f.full {
                let n = buckets.empty(&b.bucket).await?;
                emptied.push(BucketObjects {
                    objects: n,
                    ..b.clone()
                });
            }
            let report = engine.destroy(&f.stack, &f.name, e.protected).await;
            if !report.outcome.ok() {
                failed = Some(f.stack.clone());
            }
            reports.push(report);
        }
        anyhow::Ok((reports, emptied, failed))
    };
    let (mut reports, emptied, failed) = tokio::select! {
        r = work => r?,
        _ = tokio::signal::ctrl_c() => {
            progress.abandon();
            return Err(interrupted(&progress, env).into());
        }
    };
    reports.extend(absent.iter().map(|(stack, name)| not_deployed(stack, name)));
    let mut deleted_artefacts = None;
    if s.artefacts && failed.is_none() {
        if buckets.count(&artefact_bucket, 1).await?.is_some() {
            let objects = buckets.empty(&artefact_bucket).await?;
            buckets.delete(&artefact_bucket).await?;
            deleted_artefacts = Some(BucketObjects {
                stack: None,
                bucket: artefact_bucket.clone(),
                objects,
            });
        } else {
            printer.note(format!("artefact bucket {artefact_bucket} does not exist"));
        }
    }
    // Secrets made outside the templates (emulator environments) go with
    // their stacks, unless retained.
    let mut secrets_deleted = Vec::new();
    let mut kept_secrets = Vec::new();
    let deleted_stacks: Vec<&str> = reports
        .iter()
        .filter(|r| r.outcome == Outcome::Deleted)
        .map(|r| r.stack.as_str())
        .collect();
    if deleted_stacks
        .iter()
        .any(|st| !scope.rendered(st).local_secrets.is_empty())
    {
        let sm = crate::aws::secrets::SdkSecrets::new(&sdk);
        for st in &deleted_stacks {
            for l in &scope.rendered(st).local_secrets {
                if l.retain {
                    kept_secrets.push(Kept {
                        stack: st.to_string(),
                        logical_id: crate::names::pascal(&l.key),
                        resource_type: "AWS::SecretsManager::Secret".into(),
                        physical_id: Some(l.name.clone()),
                    });
                } else if sm.delete_now(&l.name).await? {
                    secrets_deleted.push(l.name.clone());
                }
            }
        }
    }
    // Only what deleted stacks left behind is kept; a stack that was not
    // deleted keeps everything, and says why.
    let kept = found
        .into_iter()
        .flat_map(|f| f.kept)
        .filter(|k| {
            reports
                .iter()
                .any(|r| r.stack == k.stack && r.outcome == Outcome::Deleted)
        })
        .chain(kept_secrets)
        .collect();
    Ok(DestroyReport {
        env: env.clone(),
        stacks: reports,
        emptied,
        kept,
        artefact_bucket: deleted_artefacts,
        secrets_deleted,
    })
}

fn not_deployed(stack: &str, name: &str) -> StackReport {
    let mut r = StackReport::new(stack, name);
    r.outcome = Outcome::NotDeployed;
    r
}

/// `n objects` (`1 object`), or `at least n objects` when counting stopped.
fn at_least(n: usize) -> String {
    let objects = crate::diagnostics::count(n, "object");
    if n >= COUNT_LIMIT {
        format!("at least {objects}")
    } else {
        objects
    }
}

/// Reads a deployed stack's resources, its buckets' contents and what its
/// deletion policies keep.
async fn inspect<C: CloudFormation, B: Buckets>(
    cfn: &C,
    buckets: &B,
    stack: &str,
    name: &str,
) -> anyhow::Result<Found> {
    let resources = cfn.resources(name).await?;
    let template = crate::diff::parse_template(&cfn.template(name).await?).unwrap_or_default();
    let policy = |logical: &str| -> String {
        template
            .pointer(&format!("/Resources/{logical}/DeletionPolicy"))
            .and_then(|p| p.as_str())
            .unwrap_or("Delete")
            .to_string()
    };
    let mut full = Vec::new();
    let mut kept = Vec::new();
    for r in &resources {
        let retained = matches!(
            policy(&r.logical_id).as_str(),
            "Retain" | "RetainExceptOnCreate"
        );
        if retained {
            kept.push(Kept {
                stack: stack.to_string(),
                logical_id: r.logical_id.clone(),
                resource_type: r.resource_type.clone(),
                physical_id: r.physical_id.clone(),
            });
            continue;
        }
        if r.resource_type == "AWS::S3::Bucket" {
            if let Some(bucket) = &r.physical_id {
                if let Some(n) = buckets.count(bucket, COUNT_LIMIT).await? {
                    if n > 0 {
                        full.push(BucketObjects {
                            stack: Some(stack.to_string()),
                            bucket: bucket.clone(),
                            objects: n,
                        });
                    }
                }
            }
        }
    }
    Ok(Found {
        stack: stack.to_string(),
        name: name.to_string(),
        resources: resources.len(),
        full,
        kept,
    })
}

/// Refuses to delete a stack that a deployed, unselected stack depends on.
async fn check_dependents<C: CloudFormation>(cfn: &C, scope: &Scope) -> anyhow::Result<()> {
    for (other, entry) in &scope.project.file.stacks {
        if scope.stacks.contains(other) {
            continue;
        }
        let Some(dep) = entry.depends_on.iter().find(|d| scope.stacks.contains(d)) else {
            continue;
        };
        let name = &scope.rendered(other).stack_name;
        if cfn.describe(name).await?.is_some() {
            anyhow::bail!(
                "stack `{other}` depends on `{dep}` and is still deployed ({name})\nhint: destroy both: stackctl destroy --env {} {dep} {other}",
                scope.env
            );
        }
    }
    Ok(())
}

fn plan_text(scope: &Scope, found: &[Found], s: &Settings, artefact_bucket: &str) -> String {
    let mut text = format!("destroy in {}:", scope.env);
    for f in found {
        text.push_str(&format!(
            "\n  - {} ({})",
            f.name,
            crate::diagnostics::count(f.resources, "resource")
        ));
        for b in &f.full {
            text.push_str(&format!(
                "\n      empty s3://{} first: {} deleted for good",
                b.bucket,
                at_least(b.objects)
            ));
        }
        for k in &f.kept {
            text.push_str(&format!(
                "\n      keep {} {} (DeletionPolicy Retain)",
                k.resource_type,
                k.physical_id.as_deref().unwrap_or(&k.logical_id)
            ));
        }
        for l in &scope.rendered(&f.stack).local_secrets {
            text.push_str(&format!(
                "\n      {} secret {} (made outside the template here)",
                if l.retain { "keep" } else { "delete" },
                l.name
            ));
        }
    }
    if s.artefacts {
        text.push_str(&format!(
            "\n  - artefact bucket s3://{artefact_bucket}, with every function zip"
        ));
    }
    text
}

/// Asks, or checks the flags that stand for asking.
fn confirm(scope: &Scope, s: &Settings, plan: &str, printer: Printer) -> anyhow::Result<()> {
    let env = &scope.env;
    let protected = scope.environment().protected;
    if protected && s.confirm_env.as_deref() == Some(env.as_str()) {
        printer.note(plan);
        return Ok(());
    }
    if protected {
        if !prompt::interactive() {
            return Err(UsageError::new(format!(
                "environment `{env}` is protected: destroying it needs its name as confirmation; nothing was deleted\nhint: pass --confirm-env {env} (--yes is not enough)"
            ))
            .into());
        }
        eprintln!("{plan}");
        if prompt::typed(&format!("`{env}` is a protected environment."), env) {
            return Ok(());
        }
        return Err(Declined::new("not confirmed: nothing was deleted").into());
    }
    if s.yes {
        printer.note(plan);
        return Ok(());
    }
    prompt::require_terminal(false, "destroy")?;
    eprintln!("{plan}");
    let terminal = prompt::TerminalConfirm {
        view: &crate::deploy::observe::Silent,
    };
    if terminal.confirm("Delete these stacks?") {
        Ok(())
    } else {
        Err(Declined::new("not confirmed: nothing was deleted").into())
    }
}
