//! The functions serve runs: one [`lambda_local::runtime::Pool`] per
//! function, started on first use, running the `bootstrap` of the zip
//! `build` wrote (the artefact `deploy` publishes). Before each invocation
//! the zip is looked at again: after a `build` the new code runs, and the
//! old code's warm processes are retired.

use super::plan::{FnId, FunctionPlan, Plan};
use super::report::{InvocationLine, Reporter};
use anyhow::{anyhow, Context as _};
use lambda_local::runtime::{FunctionSpec, Invocation, LogLine, Outcome, Pool};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What the zip was when its code was unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

struct Running {
    pool: Pool,
    stamp: Stamp,
}

/// Every function of the plan, run on demand.
pub struct Functions {
    root: PathBuf,
    plans: BTreeMap<FnId, FunctionPlan>,
    /// Added to every function's environment: where AWS is (the emulator)
    /// and the credentials to use there.
    aws_env: Vec<(String, String)>,
    max_processes: usize,
    running: Mutex<BTreeMap<FnId, Running>>,
    reporter: Arc<Reporter>,
    /// Where unpacked executables go (`.stackctl/serve/`).
    cache: PathBuf,
}

impl Functions {
    /// The functions of `plan`, for the project at `root`.
    pub fn new(
        root: &Path,
        plan: &Plan,
        aws_env: Vec<(String, String)>,
        max_processes: usize,
        reporter: Arc<Reporter>,
    ) -> Functions {
        Functions {
            root: root.to_path_buf(),
            plans: plan.functions.clone(),
            aws_env,
            max_processes: max_processes.max(1),
            running: Mutex::new(BTreeMap::new()),
            reporter,
            cache: root.join(".stackctl").join("serve"),
        }
    }

    /// Every function's zip exists: else what to build.
    pub fn check_built(&self, env: &str) -> anyhow::Result<()> {
        let missing: Vec<String> = self
            .plans
            .values()
            .filter(|p| !self.root.join(&p.zip).is_file())
            .map(|p| format!("{} ({})", p.id, p.zip.display()))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(crate::exit::UsageError::new(format!(
            "no zip for {}\nhint: stackctl build --env {env}",
            missing.join(", ")
        ))
        .into())
    }

    /// Unpacks the `bootstrap` of `zip` under the cache, named by the zip's
    /// content hash so that a process of older code keeps its file.
    fn unpack(&self, zip: &Path) -> anyhow::Result<PathBuf> {
        let bytes = std::fs::read(zip).with_context(|| format!("reading {}", zip.display()))?;
        let digest = crate::build::zip::sha256_hex(&bytes);
        let dir = self.cache.join(&digest[..16]);
        let out = dir.join("bootstrap");
        if out.is_file() {
            return Ok(out);
        }
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .with_context(|| format!("{} is not a zip", zip.display()))?;
        let mut entry = archive
            .by_name("bootstrap")
            .map_err(|_| anyhow!("{} holds no `bootstrap`", zip.display()))?;
        let mut exe = Vec::new();
        entry.read_to_end(&mut exe)?;
        std::fs::create_dir_all(&dir)?;
        // Written aside and renamed: a process never starts a half-written file.
        let tmp = dir.join(format!("bootstrap.{}", std::process::id()));
        std::fs::write(&tmp, exe)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, &out)?;
        Ok(out)
    }

    /// The pool for `id`, started, or its code replaced when the zip
    /// changed since.
    fn pool(&self, id: &FnId) -> anyhow::Result<Pool> {
        let plan = self
            .plans
            .get(id)
            .ok_or_else(|| anyhow!("no function {id} in the served stacks"))?;
        let zip = self.root.join(&plan.zip);
        let now = stamp(&zip).ok_or_else(|| {
            anyhow!(
                "{} is gone\nhint: stackctl build --env ENV",
                plan.zip.display()
            )
        })?;
        let mut running = self.running.lock().expect("not poisoned");
        if let Some(r) = running.get_mut(id) {
            if r.stamp == now {
                return Ok(r.pool.clone());
            }
            let exe = self.unpack(&zip)?;
            r.pool.replace(exe);
            r.stamp = now;
            self.reporter.note(
                "code",
                &format!("{id}: new code from {}", plan.zip.display()),
                serde_json::json!({"function": id.to_string(), "zip": plan.zip}),
            );
            return Ok(r.pool.clone());
        }
        let exe = self.unpack(&zip)?;
        let mut env: Vec<(String, String)> = plan
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(self.aws_env.iter().cloned());
        let label = id.to_string();
        let reporter = self.reporter.clone();
        let logs = Arc::new(move |l: LogLine| {
            reporter.log(&label, l.request_id.as_deref(), &l.line);
        });
        let pool = Pool::new(
            FunctionSpec {
                name: plan.name.clone(),
                arn: plan.arn.clone(),
                executable: exe,
                env,
                timeout: plan.timeout,
                memory_mb: plan.memory_mb,
                max_processes: self.max_processes,
            },
            logs,
        );
        running.insert(
            id.clone(),
            Running {
                pool: pool.clone(),
                stamp: now,
            },
        );
        Ok(pool)
    }

    /// Invokes `id` with `payload` (the caller reports it: [`Functions::report`]).
    pub async fn invoke(
        &self,
        id: &FnId,
        payload: serde_json::Value,
    ) -> anyhow::Result<Invocation> {
        let pool = self.pool(id)?;
        Ok(pool.invoke(payload).await)
    }

    /// Reports `inv` of `id`, with the client's `status` and serve's own
    /// `overhead` when a client waited.
    pub fn report(
        &self,
        id: &FnId,
        trigger: &str,
        inv: &Invocation,
        status: Option<u16>,
        overhead: Option<Duration>,
    ) {
        let (outcome, error) = describe(&inv.outcome);
        let memory_mb = self.plans.get(id).map(|p| p.memory_mb).unwrap_or(0);
        self.reporter.invocation(&InvocationLine {
            function: id.to_string(),
            trigger: trigger.to_string(),
            request_id: inv.request_id.clone(),
            outcome,
            status,
            duration_ms: ms(inv.duration),
            cold: inv.init.is_some(),
            init_ms: inv.init.map(ms),
            overhead_ms: overhead.map(ms),
            max_memory_mb: inv.max_memory_kb.map(|kb| kb.div_ceil(1024)),
            memory_mb,
            error,
        });
    }

    /// Reports that `id` could not be run at all (its zip is gone, say).
    pub fn failed(&self, id: &FnId, trigger: &str, error: &anyhow::Error) {
        self.reporter.note(
            "invocation",
            &format!("{id:<28} {trigger:<32} cannot run: {error:#}"),
            serde_json::json!({"function": id.to_string(), "trigger": trigger, "outcome": "unavailable", "error": format!("{error:#}")}),
        );
    }

    /// The plan of `id`.
    pub fn plan(&self, id: &FnId) -> Option<&FunctionPlan> {
        self.plans.get(id)
    }

    /// Stops every process.
    pub fn shutdown(&self) {
        for r in self.running.lock().expect("not poisoned").values() {
            r.pool.shutdown();
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// An outcome's name in reports, and its error.
pub fn describe(outcome: &Outcome) -> (&'static str, Option<String>) {
    match outcome {
        Outcome::Response(_) => ("ok", None),
        Outcome::Error {
            error_type,
            error_message,
        } => ("error", Some(format!("{error_type}: {error_message}"))),
        Outcome::Timeout => ("timeout", Some("the function timed out".to_string())),
        Outcome::Crashed { status } => ("crash", Some(format!("the process exited ({status})"))),
        Outcome::InitError {
            error_type,
            error_message,
        } => ("init_error", Some(format!("{error_type}: {error_message}"))),
    }
}
