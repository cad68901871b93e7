//! Throw-away PostgreSQL databases on the test server (`FLOWO_TEST_DATABASE_URL`), created per
//! section and dropped afterwards, as the store tests do.

use sqlx::Connection;

pub use flowo_testkit::postgres::{admin_url, with_database};

/// A database created for the benchmark.
pub struct PgDb {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl PgDb {
    /// Whether the server answers (prints why not).
    pub async fn reachable() -> bool {
        let admin = admin_url();
        match sqlx::PgConnection::connect(&admin).await {
            Ok(conn) => {
                let _ = conn.close().await;
                true
            }
            Err(e) => {
                println!("SKIPPED PostgreSQL: {admin} is unreachable: {e}");
                false
            }
        }
    }

    /// Creates a fresh, empty database.
    pub async fn create(label: &str) -> anyhow::Result<Self> {
        let admin = admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        let name = format!("flowo_bench_{label}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(Self {
            url: with_database(&admin, &name),
            admin,
            name,
        })
    }

    /// Its size on disk, in bytes.
    pub async fn size(&self) -> anyhow::Result<i64> {
        let mut conn = sqlx::PgConnection::connect(&self.url).await?;
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        Ok(size)
    }

    /// Drops the database (closing other sessions), unless `keep`.
    pub async fn drop_db(self, keep: bool) {
        if keep {
            println!("kept PostgreSQL database: {}", self.url);
            return;
        }
        match sqlx::PgConnection::connect(&self.admin).await {
            Ok(mut conn) => {
                let dropped = sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .execute(&mut conn)
                .await;
                if let Err(e) = dropped {
                    println!("WARNING: could not drop database {}: {e}", self.name);
                }
                let _ = conn.close().await;
            }
            Err(e) => println!("WARNING: could not drop database {}: {e}", self.name),
        }
    }
}
