//! The local AWS emulator: deciding whether an endpoint is a loopback
//! `http://` URL, checking that something answers there, and starting a moto
//! server (detached, with its pid and log under the state directory) when
//! nothing does.

use anyhow::{bail, Context, Result};
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a TCP connect may take before the endpoint counts as silent.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// How often a starting moto is polled, and for how long at most.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many lines of moto's log an error shows.
const LOG_TAIL_LINES: usize = 10;

/// What `ensure` found or did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Emulator {
    /// The endpoint is not a loopback http URL (real AWS or a remote emulator): nothing checked.
    NotLocal,
    /// Something already answers there.
    Running,
    /// stackctl started moto: its pid, the log file, and the endpoint.
    Started {
        /// The moto process (its own process group; it outlives stackctl).
        pid: u32,
        /// Where moto's stdout and stderr go.
        log: PathBuf,
        /// The endpoint it serves.
        endpoint: String,
    },
}

impl Emulator {
    /// The note to print when stackctl started moto (`None` otherwise): where it
    /// runs, its pid and log, and how to stop it.
    pub fn note(&self) -> Option<String> {
        match self {
            Emulator::Started { pid, log, endpoint } => Some(format!(
                "started the local AWS emulator (moto) at {endpoint}, pid {pid}, log {}\n  stop it with: kill {pid}",
                log.display()
            )),
            Emulator::NotLocal | Emulator::Running => None,
        }
    }
}

/// What [`ensure`] does when nothing answers at a local endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhenSilent {
    /// Start moto there (the environment asks for it: `emulator: moto`).
    Start,
    /// Fail, with this hint.
    Fail {
        /// What the user can do.
        hint: String,
    },
}

/// Whether `endpoint` is a loopback `http://` URL, where an emulator runs.
pub fn is_local(endpoint: &str) -> bool {
    Local::parse(endpoint).is_some()
}

/// The command that starts moto at a loopback `endpoint` by hand.
pub fn manual_start(endpoint: &str) -> Option<String> {
    Local::parse(endpoint).map(|l| l.manual_start())
}

/// Makes sure `endpoint` answers when it is a loopback `http://` URL.
///
/// `state_dir` is where the pid and log files go (callers pass
/// `<project>/.stackctl`). When nothing answers, `when_silent` says whether
/// to start moto there (and wait until it answers HTTP) or fail with a
/// hint. A malformed URL is `NotLocal`: the AWS client reports it.
pub fn ensure(endpoint: &str, state_dir: &Path, when_silent: WhenSilent) -> Result<Emulator> {
    let Some(local) = Local::parse(endpoint) else {
        return Ok(Emulator::NotLocal);
    };
    if local.answers() {
        return Ok(Emulator::Running);
    }
    if let WhenSilent::Fail { hint } = when_silent {
        bail!("nothing answers at {endpoint}\nhint: {hint}");
    }
    let Some(moto) = moto_command() else {
        bail!(
            "the local emulator at {endpoint} is not running, and moto is not installed\nhint: pip install 'moto[server]'   (stackctl starts it on the next run)"
        );
    };
    start_moto(moto, &local, endpoint, state_dir)
}

/// A loopback `http://` endpoint: the host and port moto listens on.
#[derive(Debug)]
struct Local {
    /// As moto's `-H` takes it: `localhost`, `127.0.0.1`, `::1`.
    host: String,
    port: u16,
    /// The addresses to probe (both families for `localhost`).
    ips: Vec<IpAddr>,
}

impl Local {
    /// `Some` for an `http://` URL whose host is loopback; `None` for any
    /// other scheme or host, and for a malformed URL.
    fn parse(endpoint: &str) -> Option<Local> {
        let rest = endpoint
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
            .and(endpoint.get(7..))?;
        let authority = rest.split(['/', '?', '#']).next()?;
        let (host, port, ips) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, port) = bracketed.split_once(']')?;
                let ip: Ipv6Addr = host.parse().ok().filter(Ipv6Addr::is_loopback)?;
                (host, port, vec![IpAddr::V6(ip)])
            }
            None => {
                let (host, port) =
                    authority.split_at(authority.find(':').unwrap_or(authority.len()));
                let ips = if host.eq_ignore_ascii_case("localhost") {
                    vec![
                        IpAddr::V4(Ipv4Addr::LOCALHOST),
                        IpAddr::V6(Ipv6Addr::LOCALHOST),
                    ]
                } else {
                    let ip: Ipv4Addr = host.parse().ok().filter(Ipv4Addr::is_loopback)?;
                    vec![IpAddr::V4(ip)]
                };
                (host, port, ips)
            }
        };
        let port = match port {
            "" => 80,
            port => port
                .strip_prefix(':')
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)?,
        };
        Some(Local {
            host: host.to_ascii_lowercase(),
            port,
            ips,
        })
    }

    fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.ips.iter().map(|&ip| SocketAddr::new(ip, self.port))
    }

    /// Whether a TCP connect succeeds within `CONNECT_TIMEOUT`.
    fn answers(&self) -> bool {
        self.addrs()
            .any(|addr| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok())
    }

    /// Whether `GET / HTTP/1.0` gets an HTTP status line back.
    fn speaks_http(&self) -> bool {
        self.addrs().any(|addr| {
            let status_line = || -> std::io::Result<String> {
                let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
                stream.set_read_timeout(Some(Duration::from_secs(2)))?;
                stream.set_write_timeout(Some(Duration::from_secs(2)))?;
                stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                let mut line = String::new();
                BufReader::new(stream.take(256)).read_line(&mut line)?;
                Ok(line)
            };
            status_line().is_ok_and(|line| line.starts_with("HTTP/"))
        })
    }

    /// The command a user can run to start the emulator by hand.
    fn manual_start(&self) -> String {
        format!("moto_server -H {} -p {}", self.host, self.port)
    }
}

/// `moto_server` from PATH, else `python3 -m moto.server` when moto's server
/// and its web dependencies import; `None` when neither works.
fn moto_command() -> Option<Command> {
    if let Some(program) = on_path("moto_server") {
        return Some(Command::new(program));
    }
    let importable = Command::new("python3")
        .args(["-c", "import moto.server, flask, flask_cors"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    importable.then(|| {
        let mut command = Command::new("python3");
        command.args(["-m", "moto.server"]);
        command
    })
}

/// The first executable file named `program` in a PATH directory.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Starts moto detached (own process group, output appended to
/// `moto-<port>.log`, pid in `moto-<port>.pid`) and waits until it answers HTTP.
fn start_moto(
    mut moto: Command,
    local: &Local,
    endpoint: &str,
    state_dir: &Path,
) -> Result<Emulator> {
    fs::create_dir_all(state_dir).with_context(|| {
        format!(
            "creating {} to start the local emulator at {endpoint}",
            state_dir.display()
        )
    })?;
    let log = state_dir.join(format!("moto-{}.log", local.port));
    let pid_file = state_dir.join(format!("moto-{}.pid", local.port));
    let open_log = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| {
                format!(
                    "opening {} for the local emulator at {endpoint}",
                    log.display()
                )
            })
    };
    let program = moto.get_program().to_string_lossy().into_owned();
    let mut child = moto
        .args(["-H", &local.host, "-p", &local.port.to_string()])
        .stdin(Stdio::null())
        .stdout(open_log()?)
        .stderr(open_log()?)
        // Its own process group: Ctrl-C on stackctl must not stop it.
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {program} for the local emulator at {endpoint}"))?;
    let pid = child.id();
    if let Err(e) = fs::write(&pid_file, format!("{pid}\n")) {
        // Nobody could find this process later: do not leave it behind.
        let _ = child.kill();
        let _ = child.wait();
        return Err(e).with_context(|| {
            format!(
                "writing {} for the local emulator at {endpoint}",
                pid_file.display()
            )
        });
    }

    // `child` is never waited on nor killed from here on, so moto outlives stackctl.
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if local.speaks_http() {
            return Ok(Emulator::Started {
                pid,
                log,
                endpoint: endpoint.to_string(),
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "moto ({program}) exited ({status}) before the local emulator at {endpoint} answered; the end of {}:{}\nhint: fix the error above, or start it yourself: {}",
                log.display(),
                log_tail(&log),
                local.manual_start()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "the local emulator at {endpoint} did not answer within {} s of starting moto (pid {pid}); the end of {}:{}\nhint: it may still be starting: run stackctl again, or stop it with: kill {pid}",
                START_TIMEOUT.as_secs(),
                log.display(),
                log_tail(&log)
            );
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// The last lines of `log`, each on its own indented line.
fn log_tail(log: &Path) -> String {
    let text = fs::read(log)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return "\n  (the log is empty)".to_string();
    }
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..]
        .iter()
        .map(|line| format!("\n  {line}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A port nothing listens on (for the moment).
    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        listener.local_addr().expect("local address").port()
    }

    #[test]
    fn classifies_endpoints() {
        let cases: &[(&str, Option<(&str, u16)>)] = &[
            ("http://127.0.0.1:5000", Some(("127.0.0.1", 5000))),
            ("http://127.0.0.1:5000/", Some(("127.0.0.1", 5000))),
            ("HTTP://127.0.0.1:5000", Some(("127.0.0.1", 5000))),
            ("http://localhost:4566/path?q=1", Some(("localhost", 4566))),
            ("http://LocalHost:4566", Some(("localhost", 4566))),
            ("http://127.1.2.3:8080", Some(("127.1.2.3", 8080))),
            ("http://127.0.0.1", Some(("127.0.0.1", 80))),
            ("http://localhost#frag", Some(("localhost", 80))),
            ("http://[::1]:5000", Some(("::1", 5000))),
            ("http://[::1]", Some(("::1", 80))),
            (
                "http://[0:0:0:0:0:0:0:1]:5000",
                Some(("0:0:0:0:0:0:0:1", 5000)),
            ),
            // Real AWS, TLS, or a remote emulator.
            ("https://127.0.0.1:5000", None),
            ("https://localhost", None),
            ("https://cloudformation.us-east-1.amazonaws.com", None),
            ("http://10.0.0.5:5000", None),
            ("http://128.0.0.1:5000", None),
            ("http://example.com:5000", None),
            ("http://localhost.example.com:5000", None),
            ("http://[::2]:5000", None),
            ("http://[127.0.0.1]:5000", None),
            // Malformed.
            ("", None),
            ("http://", None),
            ("http://:5000", None),
            ("127.0.0.1:5000", None),
            ("http://127.0.0.1:", None),
            ("http://127.0.0.1:abc", None),
            ("http://127.0.0.1:+80", None),
            ("http://127.0.0.1:70000", None),
            ("http://127.0.0.1:0", None),
            ("http://127.0.0.1:5000x", None),
            ("http://127.1:5000", None),
            ("http://user@127.0.0.1:5000", None),
            ("http://::1:5000", None),
            ("http://[::1:5000", None),
            ("http://[::1]5000", None),
            ("httpé://127.0.0.1", None),
        ];
        for (endpoint, expected) in cases {
            let got = Local::parse(endpoint);
            let got = got.as_ref().map(|l| (l.host.as_str(), l.port));
            assert_eq!(got, *expected, "classifying {endpoint:?}");
        }
    }

    #[test]
    fn localhost_probes_both_address_families() {
        let local = Local::parse("http://localhost:5000").expect("local");
        let addrs: Vec<String> = local.addrs().map(|a| a.to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1:5000", "[::1]:5000"]);
    }

    #[test]
    fn remote_and_https_endpoints_are_not_local() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state_dir = dir.path().join(".stackctl");
        for endpoint in [
            "https://cloudformation.us-east-1.amazonaws.com",
            "https://127.0.0.1:5000",
            "http://192.0.2.1:5000",
        ] {
            let started = Instant::now();
            let got = ensure(endpoint, &state_dir, WhenSilent::Start).expect("ensure");
            assert_eq!(got, Emulator::NotLocal, "{endpoint}");
            // No connect attempt (which would take up to CONNECT_TIMEOUT).
            assert!(started.elapsed() < Duration::from_millis(100), "{endpoint}");
        }
        assert!(
            !state_dir.exists(),
            "nothing is written for a remote endpoint"
        );
    }

    #[test]
    fn not_running_without_start_is_an_error_with_a_hint() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state_dir = dir.path().join(".stackctl");
        let port = free_port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let fail = WhenSilent::Fail {
            hint: "start it".into(),
        };
        let err = ensure(&endpoint, &state_dir, fail).expect_err("nothing listens");
        let message = format!("{err:#}");
        assert_eq!(
            message,
            format!("nothing answers at {endpoint}\nhint: start it")
        );
        assert_eq!(
            manual_start(&endpoint),
            Some(format!("moto_server -H 127.0.0.1 -p {port}"))
        );
        assert!(!state_dir.exists(), "nothing is started or written");
    }

    #[test]
    fn a_listening_endpoint_is_running() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let dir = tempfile::tempdir().expect("temp dir");
        let fail = WhenSilent::Fail {
            hint: String::new(),
        };
        let got = ensure(&format!("http://localhost:{port}"), dir.path(), fail).expect("ensure");
        assert_eq!(got, Emulator::Running);
    }

    #[test]
    fn note_says_how_to_stop_a_started_emulator() {
        let started = Emulator::Started {
            pid: 4242,
            log: PathBuf::from(".stackctl/moto-5000.log"),
            endpoint: "http://127.0.0.1:5000".to_string(),
        };
        assert_eq!(
            started.note().as_deref(),
            Some(
                "started the local AWS emulator (moto) at http://127.0.0.1:5000, pid 4242, log .stackctl/moto-5000.log\n  stop it with: kill 4242"
            )
        );
        assert_eq!(Emulator::Running.note(), None);
        assert_eq!(Emulator::NotLocal.note(), None);
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("moto.log");
        let text: String = (1..=15).map(|i| format!("line {i}\n")).collect();
        fs::write(&log, text).expect("write log");
        let tail = log_tail(&log);
        assert!(tail.starts_with("\n  line 6\n"), "{tail}");
        assert!(tail.ends_with("\n  line 15"), "{tail}");
        assert_eq!(
            log_tail(&dir.path().join("missing.log")),
            "\n  (the log is empty)"
        );
    }

    /// Kills the moto a test started, even when an assertion fails first.
    struct Kill(u32);

    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
    }

    #[test]
    fn starts_moto_when_nothing_answers() {
        assert!(
            moto_command().is_some(),
            "this test needs moto: `moto_server` on PATH or `python3 -m moto.server` (pip install 'moto[server]')"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let state_dir = dir.path().join(".stackctl");
        let port = free_port();
        let endpoint = format!("http://127.0.0.1:{port}");

        let got = ensure(&endpoint, &state_dir, WhenSilent::Start)
            .unwrap_or_else(|e| panic!("starting moto at {endpoint}: {e:#}"));
        let Emulator::Started {
            pid,
            log,
            endpoint: got_endpoint,
        } = got
        else {
            panic!("expected Started, got {got:?}");
        };
        let kill = Kill(pid);
        assert_eq!(got_endpoint, endpoint);
        assert_eq!(log, state_dir.join(format!("moto-{port}.log")));
        assert!(log.is_file(), "the log exists");
        let pid_file =
            fs::read_to_string(state_dir.join(format!("moto-{port}.pid"))).expect("pid file");
        assert_eq!(pid_file.trim(), pid.to_string());

        let local = Local::parse(&endpoint).expect("local");
        assert!(local.speaks_http(), "moto answers HTTP at {endpoint}");
        assert_eq!(
            ensure(
                &endpoint,
                &state_dir,
                WhenSilent::Fail {
                    hint: String::new()
                }
            )
            .expect("second ensure"),
            Emulator::Running
        );

        // The pid is the server's: killing it frees the endpoint.
        drop(kill);
        let deadline = Instant::now() + Duration::from_secs(10);
        while local.answers() {
            assert!(
                Instant::now() < deadline,
                "moto still answers after kill {pid}"
            );
            thread::sleep(POLL_INTERVAL);
        }
        dir.close().expect("removing the temp dir");
    }
}
