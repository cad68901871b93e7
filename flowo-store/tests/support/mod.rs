//! Shared test support: fixture loading and per-test databases for both backends.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use flowo_core::event::{Event, RunFinished};
use flowo_core::{EventEnvelope, RunId, Store};
use flowo_store::{PgStore, SqliteStore, StoreOptions};

/// The captures folder.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/snakemake-events"
    ))
}

/// Every capture listed in the manifest, as paths relative to the fixtures folder.
pub fn captures() -> Vec<String> {
    let manifest = std::fs::read_to_string(fixtures_dir().join("manifest.json"))
        .expect("the fixtures manifest is readable");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("manifest is JSON");
    manifest["captures"]
        .as_array()
        .expect("captures list")
        .iter()
        .map(|c| c["capture"].as_str().expect("capture path").to_owned())
        .collect()
}

/// A deterministic run id per capture name.
pub fn run_id_for(name: &str) -> RunId {
    let mut bytes = [0u8; 16];
    for (i, b) in name.bytes().enumerate() {
        bytes[i % 16] = bytes[i % 16].wrapping_mul(31).wrapping_add(b);
    }
    RunId(uuid::Uuid::from_bytes(bytes))
}

/// A capture's events as the plugin would send them: the records, then `run_finished` unless
/// the process was killed (SIGKILL never reaches `close()`).
pub fn load_capture(name: &str, run_id: RunId) -> Vec<EventEnvelope> {
    let text = std::fs::read_to_string(fixtures_dir().join(name)).expect("capture is readable");
    let mut events =
        flowo_core::record::envelopes_from_capture(&text, run_id).expect("capture parses");
    if !name.contains("killed") {
        let last = events.last().map(|e| e.recorded_at).unwrap_or_default();
        events.push(EventEnvelope::new(
            run_id,
            events.len() as u64,
            last,
            &Event::RunFinished(RunFinished::default()),
        ));
    }
    events
}

/// Options for tests: no lost timeout unless a test asks for one.
pub fn options(lost_after: Option<chrono::Duration>) -> StoreOptions {
    StoreOptions {
        lost_after,
        ..StoreOptions::default()
    }
}

/// A fresh SQLite store in a temporary directory (kept alive by the returned guard).
pub async fn sqlite(lost_after: Option<chrono::Duration>) -> (Arc<dyn Store>, TestDb) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flowo.db");
    let store = SqliteStore::open(&path, &options(lost_after))
        .await
        .expect("open sqlite store");
    (Arc::new(store), TestDb::Sqlite(dir, path))
}

/// The server for PostgreSQL tests.
pub fn pg_admin_url() -> String {
    std::env::var("FLOWO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(i) => &base[..host_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A fresh PostgreSQL database for one test. Returns `None` (and says so) when PostgreSQL is
/// unreachable outside CI; in CI (`CI` set) that is a failure.
pub async fn pg_database() -> Option<(String, TestDb)> {
    use sqlx::Connection;
    let admin = pg_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL at {admin} is unreachable in CI: {e}");
            }
            eprintln!("SKIPPED: PostgreSQL at {admin} is unreachable: {e}");
            return None;
        }
    };
    let name = format!("flowo_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    Some((with_database(&admin, &name), TestDb::Postgres(admin, name)))
}

/// A fresh PostgreSQL store (see [`pg_database`]).
pub async fn postgres(lost_after: Option<chrono::Duration>) -> Option<(Arc<dyn Store>, TestDb)> {
    let (url, guard) = pg_database().await?;
    let store = PgStore::open(&url, &options(lost_after))
        .await
        .expect("open postgres store");
    Some((Arc::new(store), guard))
}

/// Keeps a test database alive; [`TestDb::cleanup`] removes it.
pub enum TestDb {
    /// A temporary directory and the file in it.
    Sqlite(tempfile::TempDir, PathBuf),
    /// Admin URL and database name.
    Postgres(String, String),
}

impl TestDb {
    /// Removes the database (PostgreSQL: drops it, closing other sessions).
    pub async fn cleanup(self) {
        if let TestDb::Postgres(admin, name) = self {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }

    /// The SQLite file, for tests that open it again.
    pub fn sqlite_path(&self) -> Option<&PathBuf> {
        match self {
            TestDb::Sqlite(_, p) => Some(p),
            TestDb::Postgres(..) => None,
        }
    }
}

/// Runs a conformance test body against both backends.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, db) = $crate::support::sqlite(None).await;
                    $crate::conformance::$name(store).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some((store, db)) = $crate::support::postgres(None).await else { return };
                    $crate::conformance::$name(store).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}
