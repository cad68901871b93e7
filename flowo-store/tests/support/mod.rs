//! Shared test support: fixture loading and per-test databases for both backends.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use flowo_core::Store;
use flowo_store::{PgStore, SqliteStore, StoreOptions};

pub use flowo_testkit::fixtures::{captures, load_capture, run_id_for};

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

/// A fresh PostgreSQL database for one test (see `flowo_testkit::postgres`): its URL and the
/// guard that drops it.
pub async fn pg_database() -> Option<(String, TestDb)> {
    let db = flowo_testkit::postgres::TestDatabase::create("flowo_test").await?;
    Some((db.url.clone(), TestDb::Postgres(db)))
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
    /// A database on the test server.
    Postgres(flowo_testkit::postgres::TestDatabase),
}

impl TestDb {
    /// Removes the database (PostgreSQL: drops it, closing other sessions).
    pub async fn cleanup(self) {
        if let TestDb::Postgres(db) = self {
            db.drop_database().await;
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
