//! The servers stackctl starts on loopback for `local:` bindings, the way it
//! starts moto: PostgreSQL (Debian's `postgresql`) and Redis (Debian's
//! `redis-server`), each detached, with its data, pid and log under the
//! state directory (`.stackctl/`), kept across runs and never stopped by
//! stackctl. A server already answering on its port is used as it is.
//!
//! The image registry of an environment's `registry: {local: true}`
//! (Debian's `docker-registry`) is started the same way, and is the one
//! stackctl stops: `destroy` of the whole environment stops it and removes
//! its storage ([`stop_registry`]).
//!
//! PostgreSQL refuses to run as root: when stackctl is root, the cluster
//! lives in a directory the `postgres` user owns (under `/var/tmp`, as the
//! project's directory may be closed to other users) and its programs run
//! through `runuser -u postgres`.

use crate::model::project::LocalServer;
use anyhow::{bail, Context, Result};
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

/// The superuser of a PostgreSQL stackctl starts.
pub const POSTGRES_USER: &str = "stackctl";

/// A server on loopback, running.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Running {
    /// Which server.
    pub server: LocalServer,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Whether this run started it (else it was already answering).
    pub started: bool,
    /// Its process, when known.
    pub pid: Option<u32>,
    /// Its log.
    pub log: Option<PathBuf>,
}

impl Running {
    /// The note to print when this run started it: where, pid, log, and
    /// how to stop it.
    pub fn note(&self) -> Option<String> {
        if !self.started {
            return None;
        }
        let what = match self.server {
            LocalServer::Postgres => "PostgreSQL",
            LocalServer::Redis => "Redis",
            LocalServer::Registry => "the image registry",
            LocalServer::Serve => "stackctl serve",
        };
        let mut note = format!("started {what} at 127.0.0.1:{}", self.port);
        if let Some(pid) = self.pid {
            note.push_str(&format!(", pid {pid}"));
        }
        if let Some(log) = &self.log {
            note.push_str(&format!(", log {}", log.display()));
        }
        if let Some(pid) = self.pid {
            note.push_str(&format!("\n  stop it with: kill {pid}"));
        }
        Some(note)
    }
}

/// The superuser's credentials of a PostgreSQL stackctl starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok()
}

/// Makes sure a Redis answers on 127.0.0.1:`port`, starting one when
/// nothing does.
pub fn ensure_redis(state_dir: &Path, port: u16) -> Result<Running> {
    if answers(port) {
        if !speaks_redis(port) {
            bail!(
                "something that is not Redis listens on 127.0.0.1:{port}\nhint: stop it, or give the binding another `port:`"
            );
        }
        return Ok(Running {
            server: LocalServer::Redis,
            port,
            started: false,
            pid: None,
            log: None,
        });
    }
    let Some(program) = find(&["redis-server"], &[]) else {
        bail!(
            "Redis is not installed, and a binding asks stackctl to start one on 127.0.0.1:{port}\nhint: apt-get install redis-server   (stackctl starts it on the next run)"
        );
    };
    let dir = state_dir.join(format!("redis-{port}"));
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = state_dir.join(format!("redis-{port}.log"));
    let mut child = Command::new(&program)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ])
        .arg("--dir")
        .arg(&dir)
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: Ctrl-C on stackctl must not stop it.
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id();
    fs::write(
        state_dir.join(format!("redis-{port}.pid")),
        format!("{pid}\n"),
    )
    .with_context(|| format!("writing the pid of Redis under {}", state_dir.display()))?;
    let deadline = Instant::now() + START_TIMEOUT;
    while !speaks_redis(port) {
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "Redis exited ({status}) before answering on 127.0.0.1:{port}; see {}",
                log.display()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "Redis (pid {pid}) did not answer on 127.0.0.1:{port} within {} s; see {}",
                START_TIMEOUT.as_secs(),
                log.display()
            );
        }
        thread::sleep(POLL_INTERVAL);
    }
    Ok(Running {
        server: LocalServer::Redis,
        port,
        started: true,
        pid: Some(pid),
        log: Some(log),
    })
}

/// Whether a Redis answers `PING` on 127.0.0.1:`port` (or asks for auth).
fn speaks_redis(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let answer = || -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"PING\r\n")?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    answer().is_ok_and(|a| a.starts_with("+PONG") || a.starts_with("-NOAUTH"))
}

/// Makes sure the PostgreSQL stackctl keeps for 127.0.0.1:`port` runs,
/// making its cluster on first use (superuser [`POSTGRES_USER`], a random
/// password kept under the state directory). Returns it and the
/// superuser's credentials.
pub fn ensure_postgres(state_dir: &Path, port: u16) -> Result<(Running, Credentials)> {
    let own = state_dir.join(format!("postgres-{port}"));
    fs::create_dir_all(&own).with_context(|| format!("creating {}", own.display()))?;
    let creds_file = own.join("credentials.json");
    let root = is_root();
    let cluster = if root {
        PathBuf::from("/var/tmp").join(format!(
            "stackctl-postgres-{port}-{}",
            short_hash(&fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_path_buf()))
        ))
    } else {
        own.clone()
    };
    let data = cluster.join("data");
    let log = cluster.join("postgres.log");
    if answers(port) {
        let creds = read_credentials(&creds_file).with_context(|| {
            format!(
                "something listens on 127.0.0.1:{port}, but stackctl has no PostgreSQL there (no {})\nhint: stop it, or give the binding another `port:`",
                creds_file.display()
            )
        })?;
        return Ok((
            Running {
                server: LocalServer::Postgres,
                port,
                started: false,
                pid: postmaster_pid(&data),
                log: Some(log),
            },
            creds,
        ));
    }
    let bin = postgres_bin().ok_or_else(|| {
        anyhow::anyhow!(
            "PostgreSQL is not installed, and a binding asks stackctl to start one on 127.0.0.1:{port}\nhint: apt-get install postgresql   (stackctl starts it on the next run)"
        )
    })?;
    let run_as = root.then_some("postgres");
    if root && !user_exists("postgres") {
        bail!(
            "stackctl runs as root, and PostgreSQL refuses to; its `postgres` user is missing\nhint: apt-get install postgresql (which creates it), or run stackctl as another user"
        );
    }
    let creds = match read_credentials(&creds_file) {
        Ok(c) if data.join("PG_VERSION").exists() => c,
        _ => {
            // A new cluster, with a new password.
            let creds = Credentials {
                username: POSTGRES_USER.to_string(),
                password: uuid::Uuid::new_v4().simple().to_string(),
            };
            init_cluster(&bin, &cluster, &data, &creds, run_as)?;
            write_private(&creds_file, &serde_json::to_string(&creds)?)?;
            creds
        }
    };
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {}",
        data.display()
    );
    let status = pg_command(&bin.join("pg_ctl"), run_as)
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .args([
            "-o",
            &options,
            "-w",
            "-t",
            &START_TIMEOUT.as_secs().to_string(),
            "start",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .status()
        .context("running pg_ctl start")?;
    if !status.success() {
        bail!(
            "PostgreSQL did not start on 127.0.0.1:{port} ({status}); the end of {}:{}",
            log.display(),
            tail(&log)
        );
    }
    Ok((
        Running {
            server: LocalServer::Postgres,
            port,
            started: true,
            pid: postmaster_pid(&data),
            log: Some(log),
        },
        creds,
    ))
}

fn init_cluster(
    bin: &Path,
    cluster: &Path,
    data: &Path,
    creds: &Credentials,
    run_as: Option<&str>,
) -> Result<()> {
    if data.exists() {
        fs::remove_dir_all(data).with_context(|| format!("removing {}", data.display()))?;
    }
    fs::create_dir_all(cluster).with_context(|| format!("creating {}", cluster.display()))?;
    let pwfile = cluster.join("initdb-password");
    write_private(&pwfile, &creds.password)?;
    if let Some(user) = run_as {
        chown(cluster, user)?;
        chown(&pwfile, user)?;
    }
    let out = pg_command(&bin.join("initdb"), run_as)
        .arg("-D")
        .arg(data)
        .args([
            "-U",
            &creds.username,
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .stdin(Stdio::null())
        .output()
        .context("running initdb")?;
    let _ = fs::remove_file(&pwfile);
    if !out.status.success() {
        bail!(
            "initdb failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A PostgreSQL program, run as `user` through `runuser` when given.
fn pg_command(program: &Path, user: Option<&str>) -> Command {
    match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// The directory holding `initdb` and `pg_ctl`: PATH first, then the
/// newest of Debian's `/usr/lib/postgresql/N/bin`.
fn postgres_bin() -> Option<PathBuf> {
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    debian.sort();
    let extra: Vec<PathBuf> = debian.into_iter().rev().map(|(_, p)| p).collect();
    find(&["initdb"], &extra).and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The first executable named one of `names` in PATH or `extra`.
fn find(names: &[&str], extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The superuser's credentials of the PostgreSQL stackctl keeps for
/// 127.0.0.1:`port`, when it has made one.
pub fn postgres_credentials(state_dir: &Path, port: u16) -> Option<Credentials> {
    read_credentials(
        &state_dir
            .join(format!("postgres-{port}"))
            .join("credentials.json"),
    )
    .ok()
}

fn read_credentials(file: &Path) -> Result<Credentials> {
    let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", file.display()))
}

/// Writes `text` to `file`, readable by its owner only.
fn write_private(file: &Path, text: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("writing {}", file.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", file.display()))?;
    fs::set_permissions(file, fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", file.display()))
}

fn postmaster_pid(data: &Path) -> Option<u32> {
    fs::read_to_string(data.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn user_exists(user: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn chown(path: &Path, user: &str) -> Result<()> {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:"))
        .arg(path)
        .status()
        .with_context(|| format!("chown {user} {}", path.display()))?;
    if !status.success() {
        bail!("chown {user} {} failed ({status})", path.display());
    }
    Ok(())
}

fn short_hash(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(path.to_string_lossy().as_bytes());
    hex::encode(&digest[..6])
}

fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..]
        .iter()
        .map(|l| format!("\n  {l}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_port_held_by_something_else_is_not_taken_for_redis() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Answers the connection but never speaks Redis.
        let dir = tempfile::tempdir().unwrap();
        let err = ensure_redis(dir.path(), port).unwrap_err().to_string();
        assert!(err.contains("not Redis"), "{err}");
        drop(listener);
    }

    #[test]
    fn a_port_held_by_something_else_is_not_taken_for_postgres() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let err = format!("{:#}", ensure_postgres(dir.path(), port).unwrap_err());
        assert!(err.contains("stackctl has no PostgreSQL there"), "{err}");
    }
}

/// The directory of the image registry stackctl keeps for 127.0.0.1:`port`:
/// its config and storage.
pub fn registry_dir(state_dir: &Path, port: u16) -> PathBuf {
    state_dir.join(format!("registry-{port}"))
}

/// Makes sure an OCI image registry answers on 127.0.0.1:`port`, starting
/// Debian's `docker-registry` when nothing does: storage on the filesystem
/// under the state directory, http on loopback only, no authentication
/// (nothing but this machine reaches it).
pub fn ensure_registry(state_dir: &Path, port: u16) -> Result<Running> {
    let api = crate::image::registry::Registry::anonymous(&format!("http://127.0.0.1:{port}"));
    let pid_file = state_dir.join(format!("registry-{port}.pid"));
    let log = state_dir.join(format!("registry-{port}.log"));
    if answers(port) {
        if !api.answers() {
            bail!(
                "something that is not an image registry listens on 127.0.0.1:{port}\nhint: stop it, or give `registry:` another `port:`"
            );
        }
        return Ok(Running {
            server: LocalServer::Registry,
            port,
            started: false,
            pid: read_pid(&pid_file),
            log: Some(log),
        });
    }
    let Some(program) = find(&["docker-registry", "registry"], &[]) else {
        bail!(
            "the image registry is not installed, and the environment asks stackctl to start one on 127.0.0.1:{port} (`registry: {{local: true}}`)\nhint: apt-get install docker-registry   (stackctl starts it on the next run)"
        );
    };
    let dir = registry_dir(state_dir, port);
    let storage = dir.join("storage");
    fs::create_dir_all(&storage).with_context(|| format!("creating {}", storage.display()))?;
    let storage =
        fs::canonicalize(&storage).with_context(|| format!("finding {}", storage.display()))?;
    let config = dir.join("config.yml");
    fs::write(&config, registry_config(&storage, port))
        .with_context(|| format!("writing {}", config.display()))?;
    let out = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("opening {}", log.display()))?;
    let mut child = Command::new(&program)
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group: Ctrl-C on stackctl must not stop it.
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id();
    fs::write(&pid_file, format!("{pid}\n"))
        .with_context(|| format!("writing {}", pid_file.display()))?;
    let deadline = Instant::now() + START_TIMEOUT;
    while !api.answers() {
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "the image registry exited ({status}) before answering on 127.0.0.1:{port}; the end of {}:{}",
                log.display(),
                tail(&log)
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "the image registry (pid {pid}) did not answer on 127.0.0.1:{port} within {} s; see {}",
                START_TIMEOUT.as_secs(),
                log.display()
            );
        }
        thread::sleep(POLL_INTERVAL);
    }
    Ok(Running {
        server: LocalServer::Registry,
        port,
        started: true,
        pid: Some(pid),
        log: Some(log),
    })
}

/// docker-registry's configuration: filesystem storage at `storage`,
/// deletes allowed (so `destroy` can empty it), http on 127.0.0.1:`port`.
fn registry_config(storage: &Path, port: u16) -> String {
    format!(
        "version: 0.1\nlog:\n  level: info\n  fields:\n    service: stackctl-registry\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  headers:\n    X-Content-Type-Options: [nosniff]\n",
        storage.display()
    )
}

fn read_pid(file: &Path) -> Option<u32> {
    fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// What stopping the local registry did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegistryStopped {
    /// Its port.
    pub port: u16,
    /// The process stopped, when one of stackctl's ran.
    pub pid: Option<u32>,
    /// Whether its storage was removed.
    pub storage_removed: bool,
}

/// Stops the registry stackctl started on 127.0.0.1:`port` (only a process
/// whose command line is `docker-registry serve` of its own config) and
/// removes its storage, config, pid and log.
pub fn stop_registry(state_dir: &Path, port: u16) -> Result<RegistryStopped> {
    let dir = registry_dir(state_dir, port);
    let pid_file = state_dir.join(format!("registry-{port}.pid"));
    let config = dir.join("config.yml");
    let mut stopped = None;
    if let Some(pid) = read_pid(&pid_file) {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(&*config.to_string_lossy());
        if ours && alive(pid) {
            let status = Command::new("kill")
                .arg(pid.to_string())
                .status()
                .context("running kill")?;
            if !status.success() {
                bail!("could not stop the image registry (pid {pid}): kill {status}");
            }
            let deadline = Instant::now() + START_TIMEOUT;
            while alive(pid) {
                if Instant::now() >= deadline {
                    bail!(
                        "the image registry (pid {pid}) did not stop within {} s",
                        START_TIMEOUT.as_secs()
                    );
                }
                thread::sleep(POLL_INTERVAL);
            }
            stopped = Some(pid);
        }
    }
    let storage_removed = dir.exists();
    if storage_removed {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let _ = fs::remove_file(&pid_file);
    let _ = fs::remove_file(state_dir.join(format!("registry-{port}.log")));
    Ok(RegistryStopped {
        port,
        pid: stopped,
        storage_removed,
    })
}

/// Whether process `pid` runs (a zombie, exited but not reaped, does not).
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
