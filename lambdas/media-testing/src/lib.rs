//! Real servers for the media functions' tests: one PostgreSQL and one
//! Redis per test process (Debian's `postgresql` and `redis-server`,
//! started on free ports in a temporary directory the way `stackctl deploy
//! --env local` starts them, and stopped when the process exits), and a
//! fresh database with the media schema (`stacks/media/migrations/`) per
//! test.

use media_stores::cache::CacheConfig;
use media_stores::postgres::DbConfig;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The servers of this test process.
pub struct Servers {
    /// PostgreSQL's port on 127.0.0.1.
    pub postgres_port: u16,
    /// Redis's port on 127.0.0.1.
    pub redis_port: u16,
    /// PostgreSQL's superuser.
    pub username: String,
    /// Its password.
    pub password: String,
}

fn free_port() -> u16 {
    lambda_shared::testing::free_port()
}

/// The media stack's migrations, in order.
pub fn migrations() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks/media/migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
}

impl Servers {
    /// The servers, started on first use. Panics with what to install when
    /// a server cannot start.
    pub fn shared() -> &'static Servers {
        static SHARED: OnceLock<Servers> = OnceLock::new();
        SHARED.get_or_init(Servers::start)
    }

    fn start() -> Servers {
        let dir = tempfile::Builder::new()
            .prefix("media-stores-servers")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let postgres_port = free_port();
        let redis_port = free_port();
        let redis = stackctl::servers::ensure_redis(&dir, redis_port)
            .unwrap_or_else(|e| panic!("{e:#} (bash .ci/test installs redis-server)"));
        let (pg, creds) = stackctl::servers::ensure_postgres(&dir, postgres_port)
            .unwrap_or_else(|e| panic!("{e:#} (bash .ci/test installs postgresql)"));
        // Both run detached; a watchdog stops them, and removes what they
        // wrote, when this process exits.
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 1; done; \
             kill -INT {pg} 2>/dev/null; kill -TERM {redis} 2>/dev/null; sleep 3; \
             rm -rf '{dir}' /var/tmp/stackctl-postgres-{postgres_port}-*",
            parent = std::process::id(),
            pg = pg.pid.unwrap_or(0),
            redis = redis.pid.unwrap_or(0),
            dir = dir.display(),
        );
        let mut watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs the servers' watchdog");
        // It outlives this process by design; the thread only reaps it
        // should it end first.
        std::thread::spawn(move || watchdog.wait());
        Servers {
            postgres_port,
            redis_port,
            username: creds.username,
            password: creds.password,
        }
    }

    /// A new database holding the media schema, applied from the
    /// migration files; returns its name.
    pub async fn database(&self) -> String {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("media_{}_{n}", std::process::id());
        let admin = self.connect("postgres").await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let db = self.connect(&name).await;
        for file in migrations() {
            let sql = std::fs::read_to_string(&file).unwrap();
            db.batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        name
    }

    /// A superuser connection to `database`.
    pub async fn connect(&self, database: &str) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.postgres_port)
            .user(&self.username)
            .password(&self.password)
            .dbname(database)
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting to {database}: {e}"));
        tokio::spawn(conn);
        client
    }

    /// Stores the superuser's credentials as a secret in `sdk`'s Secrets
    /// Manager (moto) and returns the database's configuration.
    pub async fn db_config(&self, sdk: &aws_config::SdkConfig, database: &str) -> DbConfig {
        let secret = format!("{database}-credentials");
        let value = serde_json::json!({"username": self.username, "password": self.password});
        aws_sdk_secretsmanager::Client::new(sdk)
            .create_secret()
            .name(&secret)
            .secret_string(value.to_string())
            .send()
            .await
            .expect("moto stores the secret");
        DbConfig {
            host: "127.0.0.1".into(),
            port: self.postgres_port,
            name: database.into(),
            secret,
            tls: false,
        }
    }

    /// The Redis configuration (no TLS, no token).
    pub fn cache_config(&self) -> CacheConfig {
        CacheConfig {
            host: "127.0.0.1".into(),
            port: self.redis_port,
            tls: false,
            auth_secret: None,
        }
    }
}

/// The environment variables a function with `connect` grants on `db` and
/// `cache` gets, for these configurations.
pub fn env(db: &DbConfig, cache: &CacheConfig) -> Vec<(String, String)> {
    let mut env = vec![
        ("DB_HOST".to_string(), db.host.clone()),
        ("DB_PORT".to_string(), db.port.to_string()),
        ("DB_NAME".to_string(), db.name.clone()),
        ("DB_SECRET_ARN".to_string(), db.secret.clone()),
        ("DB_TLS".to_string(), db.tls.to_string()),
        ("CACHE_HOST".to_string(), cache.host.clone()),
        ("CACHE_PORT".to_string(), cache.port.to_string()),
        ("CACHE_TLS".to_string(), cache.tls.to_string()),
    ];
    if let Some(s) = &cache.auth_secret {
        env.push(("CACHE_AUTH_SECRET_ARN".to_string(), s.clone()));
    }
    env
}
