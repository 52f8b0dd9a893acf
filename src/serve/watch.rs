//! `serve --watch`: the functions' sources are looked at every second;
//! when one changed, `stackctl build --env ENV` runs (the same binary, in
//! a child process, so a failed build is reported and serve goes on), and
//! the next invocation of a rebuilt function runs its new zip
//! ([`super::functions`] notices it).

use super::report::Reporter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The newest modification time under `dir`, skipping `target/` and
/// hidden directories.
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else if let Ok(m) = meta.modified() {
                newest = newest.max(Some(m));
            }
        }
    }
    newest
}

/// What is watched: the functions' and services' crates and the
/// workspace manifest.
fn sources(root: &Path) -> Option<SystemTime> {
    let manifests = ["Cargo.toml", "Cargo.lock"]
        .iter()
        .filter_map(|f| std::fs::metadata(root.join(f)).ok()?.modified().ok())
        .max();
    newest(&root.join("lambdas")).max(manifests)
}

/// Watches until serve stops.
pub async fn run(root: PathBuf, env: String, reporter: Arc<Reporter>) {
    let mut seen = sources(&root);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = sources(&root);
        if now == seen {
            continue;
        }
        reporter.note(
            "build",
            "sources changed: stackctl build",
            serde_json::json!({"state": "started"}),
        );
        let started = Instant::now();
        let (root2, env2) = (root.clone(), env.clone());
        let out = tokio::task::spawn_blocking(move || {
            let exe = std::env::current_exe()?;
            std::process::Command::new(exe)
                .arg("-C")
                .arg(&root2)
                .args(["build", "--env", &env2, "--quiet"])
                .output()
        })
        .await;
        let secs = started.elapsed().as_secs_f64();
        match out {
            Ok(Ok(o)) if o.status.success() => reporter.note(
                "build",
                &format!("built in {secs:.1} s; the next requests run the new code"),
                serde_json::json!({"state": "built", "seconds": secs}),
            ),
            Ok(Ok(o)) => {
                let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
                reporter.note(
                    "build",
                    &format!("build failed after {secs:.1} s; the old code keeps running:\n{err}"),
                    serde_json::json!({"state": "failed", "seconds": secs, "error": err}),
                );
            }
            Ok(Err(e)) => reporter.note(
                "build",
                &format!("cannot run stackctl build: {e}"),
                serde_json::json!({"state": "failed", "error": e.to_string()}),
            ),
            Err(e) => reporter.note(
                "build",
                &format!("the build task failed: {e}"),
                serde_json::json!({"state": "failed", "error": e.to_string()}),
            ),
        }
        // What the build itself wrote is not a change to build again for.
        seen = sources(&root);
    }
}
