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

/// A clock that stands still (time is injected).
pub struct FixedClock(pub chrono::DateTime<chrono::Utc>);

impl sales_agent::core::ports::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}
