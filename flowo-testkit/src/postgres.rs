//! A fresh PostgreSQL database per test on the server `FLOWO_TEST_DATABASE_URL` (default the
//! local one). When `CI` is set an unreachable server fails the test; elsewhere it is skipped
//! with a message.

use sqlx::Connection;

/// The server for tests.
pub fn admin_url() -> String {
    std::env::var("FLOWO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `db` (query parameters kept).
pub fn with_database(url: &str, db: &str) -> String {
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

/// A database made for one test; dropping it (also when the test panics) drops the database.
#[derive(Debug, PartialEq, Eq)]
pub struct TestDatabase {
    /// The server's admin URL.
    pub admin: String,
    /// The database's name.
    pub name: String,
    /// The database's URL.
    pub url: String,
}

impl TestDatabase {
    /// Creates `<prefix>_<random>`; `None` (after saying so) when the server is unreachable
    /// outside CI.
    pub async fn create(prefix: &str) -> Option<Self> {
        let admin = admin_url();
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
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = with_database(&admin, &name);
        Some(Self { admin, name, url })
    }

    /// Drops the database, closing other sessions (best effort).
    pub async fn drop_database(&self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Dropping needs async I/O, and this may run inside a test's runtime or while it
        // unwinds: use a thread with a runtime of its own.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio_runtime() {
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
            }
        })
        .join();
    }
}

fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
