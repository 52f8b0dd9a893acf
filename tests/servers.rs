//! The servers stackctl starts for `local:` bindings are real: Debian's
//! PostgreSQL and Redis, started on free ports in a temporary state
//! directory, found again on the next run, and stopped by the test.

mod common;

use common::{free_port, StopServers};
use stackctl::servers::{ensure_postgres, ensure_redis};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Stops a server however the test ends.
fn stop(server: &str, pid: Option<u32>, port: u16) -> StopServers {
    StopServers(
        pid.map(|p| (server.to_string(), p, port))
            .into_iter()
            .collect(),
    )
}

#[test]
fn redis_is_started_once_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first = ensure_redis(dir.path(), port).unwrap();
    let _stop = stop("redis", first.pid, port);
    assert!(first.started);
    assert!(first.note().unwrap().contains(&format!("127.0.0.1:{port}")));
    let again = ensure_redis(dir.path(), port).unwrap();
    assert!(!again.started);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"SET k v\r\nGET k\r\n").unwrap();
    let mut buf = [0u8; 64];
    std::thread::sleep(std::time::Duration::from_millis(100));
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("+OK"));
}

#[test]
fn postgres_is_made_started_once_and_takes_its_superuser() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (first, creds) = ensure_postgres(dir.path(), port).unwrap();
    let _stop = stop("postgres", first.pid, port);
    assert!(first.started, "{first:?}");
    let (again, same) = ensure_postgres(dir.path(), port).unwrap();
    assert!(!again.started);
    assert_eq!(creds, same);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let answer: i32 = rt.block_on(async {
        let (client, conn) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(port)
            .user(&creds.username)
            .password(&creds.password)
            .dbname("postgres")
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client.query_one("SELECT 41 + 1", &[]).await.unwrap().get(0)
    });
    assert_eq!(answer, 42);
    // A wrong password is refused: the cluster is not open to anyone.
    let refused = rt.block_on(async {
        tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(port)
            .user(&creds.username)
            .password("wrong")
            .dbname("postgres")
            .connect(tokio_postgres::NoTls)
            .await
            .is_err()
    });
    assert!(refused);
}
