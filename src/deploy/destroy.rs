//! What `destroy` will do, found before anything is deleted: the deployed
//! stacks in the order they go (reverse dependency order) with their
//! resources, the buckets that must be emptied first, what deletion
//! policies keep, and the selected stacks that are not deployed. Planning
//! only reads; it refuses what would stop the delete half-way (a deployed
//! stack outside the selection that depends on one inside it, a bucket
//! that holds objects without `--empty-buckets`), and decides how the user
//! agrees: protected environments need their name. What CloudFormation
//! holds is read, not the rendered templates: what is deployed may differ
//! from what would render now.

use crate::aws::buckets::Buckets;
use crate::aws::cloudformation::CloudFormation;
use crate::exit::UsageError;
use crate::kinds::secret::LocalSecret;
use crate::scope::Scope;
use serde::Serialize;
use std::fmt;

/// How many objects are counted before "at least" is good enough.
pub const COUNT_LIMIT: usize = 10_000;

/// A bucket and how many objects it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketObjects {
    /// The stack it belongs to (`null` for the artefact bucket).
    pub stack: Option<String>,
    /// Bucket name.
    pub bucket: String,
    /// Objects (versions included), counted up to 10000.
    pub objects: usize,
}

/// A resource that stays when its stack goes (`DeletionPolicy: Retain`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// The flags of a destroy that change what it does.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Delete the objects of buckets that hold some (`--empty-buckets`).
    pub empty_buckets: bool,
    /// The environment's name, typed ahead (`--confirm-env`).
    pub confirm_env: Option<String>,
    /// Delete the artefact bucket too (`--artefacts`).
    pub artefacts: bool,
    /// Agree without being asked (`--yes`).
    pub yes: bool,
}

impl Options {
    /// Refuses flags that do not fit environment `env`: `--empty-buckets`
    /// where it is protected (stackctl never deletes its data), and a
    /// `--confirm-env` that names another environment.
    pub fn check(&self, env: &str, protected: bool) -> Result<(), UsageError> {
        if protected && self.empty_buckets {
            return Err(UsageError::new(format!(
                "--empty-buckets is refused in protected environment `{env}`: stackctl never deletes its data\nhint: its tables and buckets are retained when their stacks go; empty a bucket by hand if it really must"
            )));
        }
        if let Some(c) = self.confirm_env.as_deref().filter(|c| *c != env) {
            return Err(UsageError::new(format!(
                "--confirm-env `{c}` does not match the environment being destroyed, `{env}`"
            )));
        }
        Ok(())
    }
}

/// One deployed stack as found before deleting anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackToDelete {
    /// The stack's name in the project.
    pub stack: String,
    /// Its CloudFormation name.
    pub name: String,
    /// How many resources it has.
    pub resources: usize,
    /// Its buckets that hold objects, to be emptied first.
    pub full: Vec<BucketObjects>,
    /// Its resources that its deletion policies keep.
    pub kept: Vec<Kept>,
    /// Secrets an emulator environment made outside its template, deleted
    /// with it unless retained.
    pub local_secrets: Vec<LocalSecret>,
}

/// A selected stack that is not deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absent {
    /// The stack's name in the project.
    pub stack: String,
    /// Its CloudFormation name.
    pub name: String,
}

/// What a destroy will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestroyPlan {
    /// Environment.
    pub env: String,
    /// Whether it is protected: its name confirms, and its data stays.
    pub protected: bool,
    /// The deployed stacks, in the order they are deleted (reverse
    /// dependency order).
    pub stacks: Vec<StackToDelete>,
    /// The selected stacks that are not deployed, in the same order.
    pub absent: Vec<Absent>,
    /// The artefact bucket, when it goes too (`--artefacts`).
    pub artefact_bucket: Option<String>,
}

/// How the user agrees to a destroy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Already, by a flag (`--confirm-env` in a protected environment,
    /// `--yes` elsewhere): the plan is shown as a note.
    Given,
    /// By typing the protected environment's name at the terminal.
    TypeName,
    /// By answering yes at the terminal.
    Ask,
}

/// Finds what destroying the selected stacks of `scope` will do, reading
/// CloudFormation and the stacks' buckets, and refuses when the delete
/// could stop half-way.
pub async fn plan<C: CloudFormation, B: Buckets>(
    cfn: &C,
    buckets: &B,
    scope: &Scope,
    options: &Options,
) -> anyhow::Result<DestroyPlan> {
    let e = scope.environment();
    let mut stacks = Vec::new();
    let mut absent = Vec::new();
    for stack in scope.stacks.iter().rev() {
        let name = scope.rendered(stack).stack_name.clone();
        match cfn.describe(&name).await? {
            Some(_) => {
                let mut found = inspect(cfn, buckets, stack, &name).await?;
                found.local_secrets = scope.rendered(stack).local_secrets.clone();
                found.local_secrets.extend(server_secrets(scope, stack));
                stacks.push(found);
            }
            None => absent.push(Absent {
                stack: stack.clone(),
                name,
            }),
        }
    }
    check_dependents(cfn, scope).await?;
    let plan = DestroyPlan {
        env: scope.env.clone(),
        protected: e.protected,
        stacks,
        absent,
        artefact_bucket: options
            .artefacts
            .then(|| e.artefact_bucket(&scope.project.file.project, &scope.env)),
    };
    if !options.empty_buckets {
        plan.check_buckets_empty()?;
    }
    Ok(plan)
}

impl DestroyPlan {
    /// Whether there is nothing to delete: no stack deployed, and the
    /// artefact bucket stays.
    pub fn nothing_to_delete(&self) -> bool {
        self.stacks.is_empty() && self.artefact_bucket.is_none()
    }

    /// The buckets that must be emptied before their stacks go.
    pub fn full_buckets(&self) -> impl Iterator<Item = &BucketObjects> {
        self.stacks.iter().flat_map(|s| &s.full)
    }

    /// Refuses when a bucket holds objects: CloudFormation cannot delete
    /// it, and the stack would end `DELETE_FAILED`.
    pub fn check_buckets_empty(&self) -> anyhow::Result<()> {
        let full: Vec<&BucketObjects> = self.full_buckets().collect();
        if full.is_empty() {
            return Ok(());
        }
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
        let hint = if self.protected {
            "in a protected environment stackctl deletes no data; empty them by hand if they really must go"
        } else {
            "pass --empty-buckets to delete their objects first (they cannot be recovered); nothing was deleted"
        };
        msg.push_str(&format!("\nhint: {hint}"));
        anyhow::bail!(msg)
    }

    /// How the user agrees, given the flags and whether a terminal is there
    /// to ask on; a usage error when agreement cannot be had (a protected
    /// environment wants its name, which `--yes` does not give).
    pub fn consent(&self, options: &Options, interactive: bool) -> Result<Consent, UsageError> {
        let env = &self.env;
        if self.protected {
            if options.confirm_env.as_deref() == Some(env.as_str()) {
                return Ok(Consent::Given);
            }
            if !interactive {
                return Err(UsageError::new(format!(
                    "environment `{env}` is protected: destroying it needs its name as confirmation; nothing was deleted\nhint: pass --confirm-env {env} (--yes is not enough)"
                )));
            }
            return Ok(Consent::TypeName);
        }
        if options.yes {
            return Ok(Consent::Given);
        }
        if !interactive {
            return Err(crate::ui::prompt::no_terminal("destroy"));
        }
        Ok(Consent::Ask)
    }
}

impl fmt::Display for DestroyPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "destroy in {}:", self.env)?;
        for s in &self.stacks {
            write!(
                f,
                "\n  - {} ({})",
                s.name,
                crate::diagnostics::count(s.resources, "resource")
            )?;
            for b in &s.full {
                write!(
                    f,
                    "\n      empty s3://{} first: {} deleted for good",
                    b.bucket,
                    at_least(b.objects)
                )?;
            }
            for k in &s.kept {
                write!(
                    f,
                    "\n      keep {} {} (DeletionPolicy Retain)",
                    k.resource_type,
                    k.physical_id.as_deref().unwrap_or(&k.logical_id)
                )?;
            }
            for l in &s.local_secrets {
                write!(
                    f,
                    "\n      {} secret {} (made outside the template here)",
                    if l.retain { "keep" } else { "delete" },
                    l.name
                )?;
            }
        }
        if let Some(bucket) = &self.artefact_bucket {
            write!(
                f,
                "\n  - artefact bucket s3://{bucket}, with every function zip"
            )?;
        }
        Ok(())
    }
}

/// `n objects` (`1 object`), or `at least n objects` when counting stopped.
pub fn at_least(n: usize) -> String {
    let objects = crate::diagnostics::count(n, "object");
    if n >= COUNT_LIMIT {
        format!("at least {objects}")
    } else {
        objects
    }
}

/// Reads a deployed stack's resources, its buckets' contents and what its
/// deletion policies keep. Buckets are known by their deployed type.
async fn inspect<C: CloudFormation, B: Buckets>(
    cfn: &C,
    buckets: &B,
    stack: &str,
    name: &str,
) -> anyhow::Result<StackToDelete> {
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
        if r.resource_type == HOLDS_OBJECTS {
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
    Ok(StackToDelete {
        stack: stack.to_string(),
        name: name.to_string(),
        resources: resources.len(),
        full,
        kept,
        local_secrets: Vec::new(),
    })
}

/// The credentials secrets stackctl made for the local PostgreSQL servers
/// of `stack`'s bindings (a binding that names its own secret keeps it).
fn server_secrets(scope: &Scope, stack: &str) -> Vec<LocalSecret> {
    let project = &scope.project;
    project.file.environments[&scope.env]
        .bind
        .get(stack)
        .into_iter()
        .flatten()
        .filter(|(_, b)| {
            b.local == Some(crate::model::project::LocalServer::Postgres) && b.secret.is_none()
        })
        .filter_map(|(key, b)| {
            let bound = b.bound(&project.file.project, &scope.env);
            Some(LocalSecret {
                key: key.clone(),
                name: bound.secret?,
                description: format!("Credentials of the PostgreSQL on 127.0.0.1:{}", bound.port),
                generate: None,
                username: None,
                retain: false,
            })
        })
        .collect()
}

/// The one AWS type CloudFormation cannot delete while it holds data: a
/// bucket with objects. Matched on the deployed type, whichever kind (or
/// `raw`) made it.
const HOLDS_OBJECTS: &str = "AWS::S3::Bucket";

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

#[cfg(test)]
mod tests;
