//! Whole-project validation, with no AWS call: the project file's own rules,
//! stack dependencies, and every stack rendered in every environment. All
//! problems are returned together, sorted by file and line.

use crate::diagnostics::Diagnostics;
use crate::limits::{self, LOG_RETENTION_DAYS};
use crate::limits::{bucket_problem, identifier_problem, stack_name_problem};
use crate::model::source::join;
use crate::model::{self, Project};
use crate::names::name_pattern;
use crate::names::stack_name;
use crate::render::{self, Rendered, Templates};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Loads and checks the project at `root`; on success, every stack rendered in every environment.
///
/// Every file is checked as far as it can be read: a problem in
/// `stackctl.yaml` does not hide those of the stack files, and a stack is
/// rendered (which runs the reference, name and range checks) whenever
/// what it is rendered from was read; see [`model::Gaps`].
pub fn project(root: &Path) -> Result<(Project, Vec<Rendered>), Diagnostics> {
    checked(root, None)
}

/// Loads and checks the project at `root` as [`project`] does, but renders
/// (and so checks references, names and ranges) in environment `env` only:
/// what a command working on that environment needs, at a fraction of the
/// cost of every environment. `validate` checks them all.
pub fn project_for(root: &Path, env: &str) -> Result<(Project, Vec<Rendered>), Diagnostics> {
    checked(root, Some(env))
}

fn checked(root: &Path, only: Option<&str>) -> Result<(Project, Vec<Rendered>), Diagnostics> {
    let model::Loaded {
        project,
        diags: mut all,
        gaps,
    } = model::load_all(root).map_err(Diagnostics::sorted)?;
    all.0.append(&mut rules(&project, &gaps).0);
    for stack in project.stacks.values() {
        if let Err(mut d) = crate::migrations::load(&project, stack) {
            all.0.append(&mut d.0);
        }
    }
    let templates = match Templates::load(root) {
        Ok(t) => Some(t),
        Err(mut d) => {
            all.0.append(&mut d.0);
            None
        }
    };
    let mut rendered = Vec::new();
    if let Some(templates) = &templates {
        let envs = project
            .file
            .environments
            .keys()
            .filter(|e| only.is_none_or(|o| o == e.as_str()));
        for env in envs {
            for (name, stack) in &project.stacks {
                if !gaps.renderable(&project, name, env) {
                    continue;
                }
                match render::render_stack(&project, templates, name, env) {
                    Ok(r) => rendered.push(r),
                    Err(d) => all.0.extend(
                        d.0.into_iter()
                            .filter(|d| !gaps.under_stand_in(name, &stack.source.display, d)),
                    ),
                }
            }
        }
    }
    if all.is_empty() {
        Ok((project, rendered))
    } else {
        let envs: Vec<String> = project.file.environments.keys().cloned().collect();
        Err(all.sorted().collapse_environments(&envs))
    }
}

/// Rules of `stackctl.yaml` itself, for what could be read of it: names
/// that `gaps` says were declared are not reported as unknown.
fn rules(project: &Project, gaps: &model::Gaps) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let src = &project.source;
    let f = &project.file;
    // A project name that is missing is reported once, not again through
    // the stack and bucket names built from it.
    let project_ok = !gaps.project_name
        && match identifier_problem("project name", &f.project, '-', 24) {
            Some(p) => {
                diags.push(src.error("project", p).hint("e.g. `project: studio`"));
                false
            }
            None => true,
        };
    if let Some(naming) = &f.naming {
        if let Err(p) = name_pattern(naming) {
            diags.push(src.error("naming", p.message).hint(p.hint));
        }
    }
    if f.environments.is_empty() && gaps.environments.is_complete() {
        diags.push(
            src.error("environments", "no environments are declared")
                .hint("declare at least `local` and `dev`"),
        );
    }
    if f.stacks.is_empty() && gaps.stacks.is_complete() {
        diags.push(
            src.error("stacks", "no stacks are declared")
                .hint("list each stack file under `stacks:`"),
        );
    }
    check_settings(&f.settings, src, "settings", &mut diags);
    for (name, env) in &f.environments {
        let path = join("environments", name);
        if let Some(p) = identifier_problem("environment name", name, '-', 16) {
            diags.push(src.error(&path, p));
        }
        if !region_ok(&env.region) {
            diags.push(
                src.error(
                    join(&path, "region"),
                    format!("`{}` is not an AWS region name", env.region),
                )
                .hint("e.g. `us-east-1`, `eu-west-1`"),
            );
        }
        if let Some(url) = &env.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                diags.push(
                    src.error(
                        join(&path, "endpoint_url"),
                        format!("`{url}` is not an http(s) URL"),
                    )
                    .hint("e.g. `http://127.0.0.1:4566`"),
                );
            }
        }
        if env.emulator.is_some()
            && !env
                .endpoint_url
                .as_deref()
                .is_some_and(crate::emulator::is_local)
        {
            diags.push(
                src.error(
                    join(&path, "emulator"),
                    "an emulator runs at a loopback `endpoint_url`, and this environment has none",
                )
                .hint("set `endpoint_url: http://127.0.0.1:5000` (or another local port) beside `emulator: moto`"),
            );
        }
        check_settings(&env.settings, src, &join(&path, "settings"), &mut diags);
        let bucket = env.artefact_bucket(&f.project, name);
        if let Some(problem) =
            bucket_problem(&bucket).filter(|_| project_ok || env.artefact_bucket.is_some())
        {
            let at = if env.artefact_bucket.is_some() {
                join(&path, "artefact_bucket")
            } else {
                path.clone()
            };
            diags.push(
                src.error(at, format!("artefact bucket: {problem}"))
                    .hint("set `artefact_bucket:` to a valid S3 bucket name"),
            );
        }
        for stack in env.bind.keys() {
            if !f.stacks.contains_key(stack) && !gaps.stacks.knows(stack) {
                diags.push(
                    src.error(
                        join(&join(&path, "bind"), stack),
                        format!("unknown stack `{stack}`"),
                    )
                    .suggest(stack, f.stacks.keys().map(String::as_str)),
                );
            }
        }
        if let Some(r) = &env.registry {
            check_registry(r, env, &path, src, &mut diags);
        }
        check_local_ports(env, &path, src, &mut diags);
        for stack in env.parameters.keys() {
            if !f.stacks.contains_key(stack) && !gaps.stacks.knows(stack) {
                diags.push(
                    src.error(
                        join(&join(&path, "parameters"), stack),
                        format!("unknown stack `{stack}`"),
                    )
                    .suggest(stack, f.stacks.keys().map(String::as_str)),
                );
            }
        }
    }
    for (name, entry) in &f.stacks {
        let path = join("stacks", name);
        if let Some(p) = identifier_problem("stack name", name, '-', 32) {
            diags.push(src.error(&path, p));
        }
        for env in f.environments.keys().filter(|_| !gaps.project_name) {
            if let Some(p) = stack_name_problem(&stack_name(project, name, env)) {
                diags.push(src.error(&path, p));
            }
        }
        for (i, dep) in entry.depends_on.iter().enumerate() {
            let dpath = format!("{path}.depends_on[{i}]");
            if dep == name {
                diags.push(
                    src.error(dpath, format!("stack `{name}` depends on itself"))
                        .hint("remove it from `depends_on`"),
                );
            } else if !f.stacks.contains_key(dep) && !gaps.stacks.knows(dep) {
                diags.push(
                    src.error(dpath, format!("unknown stack `{dep}`"))
                        .suggest(dep, f.stacks.keys().map(String::as_str)),
                );
            }
        }
    }
    if let Err(cycle) = order(project) {
        let first = cycle.first().cloned().unwrap_or_default();
        diags.push(
            src.error(join("stacks", &first), format!("dependency cycle: {}", cycle.join(" -> ")))
                .hint("stacks deploy in dependency order; break the cycle by removing one `depends_on` entry"),
        );
    }
    diags
}

fn region_ok(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// Stacks in deployment order (dependencies first, ties by name), or one cycle.
pub fn order(project: &Project) -> Result<Vec<String>, Vec<String>> {
    let stacks = &project.file.stacks;
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = stacks
        .iter()
        .map(|(n, e)| {
            let deps = e
                .depends_on
                .iter()
                .map(String::as_str)
                .filter(|d| stacks.contains_key(*d) && d != n)
                .collect();
            (n.as_str(), deps)
        })
        .collect();
    let mut out = Vec::new();
    while !remaining.is_empty() {
        let ready: Vec<&str> = remaining
            .iter()
            .filter(|(_, d)| d.is_empty())
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            // Walk dependencies from the first remaining stack until one repeats.
            let mut path = vec![*remaining.keys().next().unwrap_or(&"")];
            loop {
                let last = path[path.len() - 1];
                let next = remaining
                    .get(last)
                    .and_then(|d| d.iter().next())
                    .copied()
                    .unwrap_or(last);
                if let Some(pos) = path.iter().position(|p| *p == next) {
                    let mut cycle: Vec<String> =
                        path[pos..].iter().map(|s| s.to_string()).collect();
                    cycle.push(next.to_string());
                    return Err(cycle);
                }
                path.push(next);
            }
        }
        for r in ready {
            remaining.remove(r);
            for deps in remaining.values_mut() {
                deps.remove(r);
            }
            out.push(r.to_string());
        }
    }
    Ok(out)
}

/// Range checks of settings wherever they are written.
fn check_settings(
    s: &model::project::SettingsOverrides,
    src: &model::source::Source,
    path: &str,
    diags: &mut Diagnostics,
) {
    if let Some(d) = s.log_retention_days {
        if !LOG_RETENTION_DAYS.contains(&d) {
            let near = limits::nearest_retention(d);
            diags.push(
                src.error(
                    join(path, "log_retention_days"),
                    format!("log retention of {d} days is not one CloudWatch Logs accepts"),
                )
                .hint(format!("the nearest allowed value is {near}")),
            );
        }
    }
    if let Some(m) = s.function_memory {
        if !limits::FUNCTION_MEMORY_MB.contains(&m) {
            diags.push(
                src.error(
                    join(path, "function_memory"),
                    format!("function memory of {m} MB is out of range"),
                )
                .hint(limits::allowed(&limits::FUNCTION_MEMORY_MB)),
            );
        }
    }
    if let Some(t) = s.function_timeout {
        if !limits::FUNCTION_TIMEOUT_S.contains(&t) {
            diags.push(
                src.error(
                    join(path, "function_timeout"),
                    format!("function timeout of {t} s is out of range"),
                )
                .hint(limits::allowed(&limits::FUNCTION_TIMEOUT_S)),
            );
        }
    }
}

/// `environments.ENV.registry`: a local registry is for an environment at
/// a local emulator (ECS in AWS cannot pull from this machine's loopback),
/// on a port of its own.
fn check_registry(
    r: &crate::model::project::RegistrySettings,
    env: &crate::model::project::Environment,
    path: &str,
    src: &crate::model::source::Source,
    diags: &mut Diagnostics,
) {
    let at = join(path, "registry");
    if !r.local {
        diags.push(
            src.error(
                join(&at, "local"),
                "`registry: {local: false}` says nothing: without `registry:`, images go to each service's ECR repository",
            )
            .hint("remove `registry:`, or set `local: true` for a registry stackctl starts on 127.0.0.1"),
        );
        return;
    }
    if !env
        .endpoint_url
        .as_deref()
        .is_some_and(crate::emulator::is_local)
    {
        diags.push(
            src.error(
                join(&at, "local"),
                format!(
                    "a local registry serves only this machine, and this environment deploys to AWS ({}): its services could not pull their images",
                    env.region
                ),
            )
            .hint("remove `registry:` (images go to each service's ECR repository), or use it in an environment with a loopback `endpoint_url`"),
        );
    }
    let port = r
        .port
        .unwrap_or(crate::model::project::RegistrySettings::DEFAULT_PORT);
    if r.port == Some(0) {
        diags.push(
            src.error(
                join(&at, "port"),
                "port 0 is not a port a registry can listen on",
            )
            .hint(format!(
                "leave it out for {}, or name a free port",
                crate::model::project::RegistrySettings::DEFAULT_PORT
            )),
        );
    } else if env
        .endpoint_url
        .as_deref()
        .and_then(|u| u.rsplit(':').next())
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
        == Some(port)
    {
        diags.push(
            src.error(
                join(&at, "port"),
                format!("port {port} is the emulator's (`endpoint_url`)"),
            )
            .hint("give the registry a port of its own, e.g. `port: 5050`"),
        );
    }
}

/// Every server stackctl runs on loopback for an environment (bound
/// PostgreSQL, Redis, `serve`'s APIs, the image registry) has a port of its
/// own: two on one port would answer for each other. A database and a
/// cache may share one server only when both name the same kind.
fn check_local_ports(
    env: &crate::model::project::Environment,
    path: &str,
    src: &crate::model::source::Source,
    diags: &mut Diagnostics,
) {
    use crate::model::project::LocalServer;
    let mut seen: BTreeMap<u16, (LocalServer, String)> = BTreeMap::new();
    if let Some(port) = env.registry.as_ref().and_then(|r| r.local_port()) {
        seen.insert(port, (LocalServer::Registry, join(path, "registry")));
    }
    for (stack, bindings) in &env.bind {
        for (key, b) in bindings {
            let (Some(local), Some(port)) = (b.local, b.port) else {
                continue;
            };
            let at = join(&join(&join(path, "bind"), stack), key);
            match seen.get(&port) {
                // One PostgreSQL (or Redis) may serve several stacks.
                Some((other, _)) if *other == local && local != LocalServer::Serve => {}
                Some((_, first)) => diags.push(
                    src.error(&at, format!("port {port} is already {first}'s"))
                        .hint("give each API `serve` answers for, and each local server, a port of its own"),
                ),
                None => {
                    seen.insert(port, (local, at));
                }
            }
        }
    }
}
