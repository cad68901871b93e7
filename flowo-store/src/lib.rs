//! FlowO's stores: the embedded SQLite store (the zero-setup default) and the PostgreSQL store
//! (teams, several server replicas), both implementing every trait of `flowo_core::store`.
//!
//! Pick one with [`open`] and a URL: `sqlite://PATH` or `postgres://...`. Only composition roots
//! (the `flowo` binary, the Python module) call it; everything else takes `Arc<dyn Store>`.

mod accounts;
mod append;
mod audit;
mod error;
mod hub;
mod ingest;
pub mod postgres;
mod rollups;
mod rows;
mod sql;
mod sql_store;
pub mod sqlite;
mod sqlite_raw;
mod sqlite_write;
#[cfg(test)]
mod testing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use flowo_core::store::{Store, StoreError};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Settings shared by both backends.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// A running run whose latest event is older than this reads as `lost` (`None`: never).
    pub lost_after: Option<chrono::Duration>,
    /// SQLite: how long a writer waits for another process's lock.
    pub busy_timeout: Duration,
    /// PostgreSQL: connections in the pool.
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            lost_after: Some(chrono::Duration::seconds(DEFAULT_LOST_AFTER_SECS)),
            busy_timeout: Duration::from_secs(30),
            max_connections: 10,
        }
    }
}

/// sqlx's pool options as every pool of the stores takes them: without sqlx's idle reaper.
///
/// With an idle timeout or a maximum lifetime set (sqlx sets both by default), a pool runs a
/// task that walks its idle connections, counting them first. In sqlx 0.8 that count can wrap
/// to `usize::MAX` when a connection is handed back while another is taken (sqlx issue #3645,
/// fixed in 0.9.1), and the walk then spins a core for ever without yielding: a `flowo`
/// command that never ended was caught doing so, and a server would burn a core. Connections
/// are closed with their pool instead; PostgreSQL's are checked before use (sqlx's default),
/// so one broken while idle is replaced.
pub(crate) fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .idle_timeout(None)
        .max_lifetime(None)
}

/// Default lost timeout: three missed heartbeats of 30 s, and a margin.
pub const DEFAULT_LOST_AFTER_SECS: i64 = 100;

/// FlowO's data directory: `$FLOWO_DATA_DIR`, else `$XDG_DATA_HOME/flowo`, else
/// `~/.local/share/flowo`.
pub fn data_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("FLOWO_DATA_DIR")
        .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("flowo")))
        .or_else(|| env("HOME").map(|h| h.join(".local/share/flowo")))
}

/// The default database URL: the embedded store at `<data dir>/flowo.db`.
pub fn default_database_url() -> Option<String> {
    data_dir().map(|d| format!("sqlite://{}", d.join("flowo.db").display()))
}

/// Writes a consistent copy of the embedded store a `sqlite://` URL names to the new file
/// `dest` while it is in use (see [`sqlite::backup`]). A PostgreSQL database is backed up with
/// PostgreSQL's own tools, so its URL is refused with the command to use.
pub async fn backup(url: &str, dest: &std::path::Path) -> Result<(), StoreError> {
    if let Some(path) = sqlite_path(url) {
        return sqlite::backup(path.as_ref(), dest, StoreOptions::default().busy_timeout).await;
    }
    if is_postgres_url(url) {
        return Err(StoreError::Invalid(
            "a PostgreSQL database is backed up with pg_dump: `pg_dump -Fc -f flowo.dump URL` \
             (restore with pg_restore; see docs/operations.md)"
                .to_owned(),
        ));
    }
    Err(StoreError::UnsupportedUrl(mask_password(url)))
}

/// Whether a URL names a PostgreSQL database.
fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The file a `sqlite://PATH` (or `sqlite:PATH`) URL names, without query parameters.
fn sqlite_path(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(path.split('?').next().unwrap_or(path))
}

/// Opens the store a URL names: `sqlite://PATH` (`sqlite:PATH` too) or `postgres://...`
/// (`postgresql://...`).
pub async fn open(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = sqlite_path(url) {
        if path.is_empty() {
            return Err(StoreError::UnsupportedUrl(mask_password(url)));
        }
        return Ok(Arc::new(SqliteStore::open(path.as_ref(), options).await?));
    }
    if is_postgres_url(url) {
        return Ok(Arc::new(PgStore::open(url, options).await?));
    }
    Err(StoreError::UnsupportedUrl(mask_password(url)))
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn mask_password(url: &str) -> String {
    let masked = mask_user_info(url);
    // libpq-style URLs may also carry `?password=...`.
    let Some((base, query)) = masked.split_once('?') else {
        return masked;
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{base}?{}", params.join("&"))
}

fn mask_user_info(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end],
                &authority[..colon],
                &rest[at..]
            ),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Closes a pool and every connection it had, waiting for them.
///
/// sqlx 0.8's `Pool::close` may return with connections still open (launchbadge/sqlx#3217,
/// fixed in a later release): one whose return began before the pool was closed (an append's
/// writer connection, released just after the append answered) is put back among the idle
/// ones after `close` has closed those, and stays open in a pool nothing can use any more; and
/// `close` may stop waiting while a connection is still out. The pool counts every connection
/// until it is closed, so `close` is called again until that count is zero: each call closes
/// the idle ones, and none can be taken out of a closed pool. A connection held for ever keeps
/// this waiting; callers bound it.
pub(crate) async fn close_pool<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) {
    pool.close().await;
    while pool.size() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::{close_pool, mask_password};
    use std::time::Duration;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(mask_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(mask_password("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(mask_password("mysql://a:b@c"), "mysql://a:***@c");
        assert_eq!(
            mask_password("postgres://flowo:p@ss@db/flowo?sslmode=require&password=x"),
            "postgres://flowo:***@db/flowo?sslmode=require&password=***"
        );
        assert_eq!(mask_password("sqlite:flowo.db"), "sqlite:flowo.db");
    }

    /// A connection whose return to the pool began before the pool was closed is closed too
    /// (plain `close` left it open among the idle ones). Its return is held open here by an
    /// `after_release` that waits, as the writer's does for a round trip to its thread.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_a_pool_closes_a_connection_on_its_way_back() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(|_, _| {
                Box::pin(async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok(true)
                })
            })
            .connect("sqlite::memory:")
            .await
            .expect("pool");
        let conn = pool.acquire().await.expect("connection");
        drop(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let closing = tokio::time::timeout(Duration::from_secs(20), close_pool(&pool));
        assert!(closing.await.is_ok(), "the pool closes");
        assert_eq!(
            pool.size(),
            0,
            "a connection of the closed pool is left open"
        );
    }
}
