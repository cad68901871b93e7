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

/// Every job search's total (by rule, by status, both, and ones that find nothing) equals the
/// rows it finds: the totals come from the rollups, the rows from the jobs.
pub async fn assert_job_totals_match_rows(store: &dyn Store, run: flowo_core::RunId) {
    use flowo_core::JobStatus;
    use flowo_core::store::JobQuery;

    let all = store
        .list_jobs(
            run,
            &JobQuery {
                limit: flowo_core::store::MAX_PAGE,
                ..Default::default()
            },
        )
        .await
        .expect("jobs");
    let mut rules: Vec<Option<String>> = vec![None, Some("no such rule".into())];
    for job in &all.items {
        if !rules.contains(&Some(job.rule.clone())) {
            rules.push(Some(job.rule.clone()));
        }
    }
    let mut status_sets: Vec<Vec<JobStatus>> = vec![Vec::new(), JobStatus::ALL.to_vec()];
    status_sets.extend(JobStatus::ALL.iter().map(|s| vec![*s]));
    status_sets.push(vec![JobStatus::Succeeded, JobStatus::Failed]);
    status_sets.push(vec![JobStatus::Running, JobStatus::Incomplete]);
    let mut nonzero = 0;
    for rule in &rules {
        for status in &status_sets {
            let page = store
                .list_jobs(
                    run,
                    &JobQuery {
                        rule: rule.clone(),
                        status: status.clone(),
                        limit: flowo_core::store::MAX_PAGE,
                        with_total: true,
                        ..Default::default()
                    },
                )
                .await
                .expect("jobs");
            assert!(page.next_cursor.is_none(), "one page holds them all");
            let expected = all
                .items
                .iter()
                .filter(|j| rule.as_ref().is_none_or(|r| *r == j.rule))
                .filter(|j| status.is_empty() || status.contains(&j.status))
                .count();
            assert_eq!(
                page.items.len(),
                expected,
                "rule {rule:?}, status {status:?}: rows"
            );
            assert_eq!(
                page.total,
                Some(expected as u64),
                "rule {rule:?}, status {status:?}: total"
            );
            if expected > 0 {
                nonzero += 1;
            }
        }
    }
    assert!(
        nonzero > 2,
        "the run has jobs of more than one rule and status"
    );
}
