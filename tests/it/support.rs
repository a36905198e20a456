//! Test fixtures: fresh databases for both backends and the demo configuration.

use sales_agent::config::{Config, Overrides};
use sales_agent::store::Db;

/// A fresh database of one backend, removed when dropped where that is possible.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh SQLite database in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/test.db", dir.path().display());
    let db = Db::connect(&url).await.expect("sqlite connects and migrates");
    TestDb { db, url, _dir: Some(dir) }
}

/// A fresh Postgres database on the server of `TEST_DATABASE_URL`, when it is set.
pub async fn postgres() -> Option<TestDb> {
    let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
    let name = format!("sa_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&admin_url).await.expect("TEST_DATABASE_URL reachable");
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}"))).execute(&admin).await.expect("create database");
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').expect("TEST_DATABASE_URL ends with /database");
    let url = format!("{base}/{name}");
    let db = Db::connect(&url).await.expect("postgres connects and migrates");
    Some(TestDb { db, url, _dir: None })
}

/// Every backend available in this run: SQLite always, Postgres when configured. CI always
/// sets TEST_DATABASE_URL, so both are proven on every landing.
pub async fn backends() -> Vec<TestDb> {
    let mut all = vec![sqlite().await];
    if let Some(pg) = postgres().await {
        all.push(pg);
    }
    all
}

/// The demo configuration pointed at `database_url`.
pub fn demo_config(database_url: &str) -> Config {
    Config::load(
        None,
        Overrides {
            database_url: Some(database_url.to_owned()),
            listen: Some("127.0.0.1:0".into()),
            ..Overrides::default()
        },
    )
    .expect("demo configuration loads")
}

/// The sales agent serving the demo configuration (changed by `configure`) on a fresh SQLite
/// database and a free loopback port, with its public URL set to that port.
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub public_url: String,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _db: TestDb,
}

impl Running {
    /// Starts the agent and waits until it is ready.
    pub async fn start(configure: impl FnOnce(&mut Config)) -> Running {
        let test_db = sqlite().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut config = demo_config(&test_db.url);
        config.public_url = format!("http://{address}/mcp");
        for tenant in &mut config.tenants {
            tenant.tenant.agent_url = config.public_url.clone();
        }
        configure(&mut config);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let public_url = config.public_url.clone();
        let task = tokio::spawn(sales_agent::run(config, listener, shutdown.clone()));
        let running = Running { base: format!("http://{address}"), public_url, shutdown, task, _db: test_db };
        let client = reqwest::Client::new();
        for _ in 0..500 {
            if client.get(format!("{}/readyz", running.base)).send().await.is_ok_and(|r| r.status() == 200) {
                return running;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the agent did not become ready");
    }

    /// Shuts the agent down; its run must end cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A clock that stands still (time is injected).
pub struct FixedClock(pub chrono::DateTime<chrono::Utc>);

impl sales_agent::core::ports::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}
