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
    /// Roles made for this database, dropped after it.
    roles: Vec<String>,
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
        Some(Self {
            admin,
            name,
            url,
            roles: Vec::new(),
        })
    }

    /// Makes a login role of this database's own, `<name>_<suffix>` with the password `flowo`,
    /// that may connect to it and nothing more (grant it what a test needs); it is dropped after
    /// the database. Returns the role's name and the database's URL as that role.
    pub async fn create_role(&mut self, suffix: &str) -> (String, String) {
        let role = format!("{}_{suffix}", self.name);
        let mut conn = sqlx::PgConnection::connect(&self.admin)
            .await
            .expect("connect to the server");
        for statement in [
            format!("CREATE ROLE {role} LOGIN PASSWORD 'flowo'"),
            format!("GRANT CONNECT ON DATABASE {} TO {role}", self.name),
        ] {
            sqlx::query(&statement)
                .execute(&mut conn)
                .await
                .expect(&statement);
        }
        self.roles.push(role.clone());
        let url = with_user(&self.url, &role, "flowo");
        (role, url)
    }

    /// Drops the database, closing other sessions, then its roles (best effort).
    pub async fn drop_database(&self) {
        drop_all(&self.admin, &self.name, &self.roles).await;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Dropping needs async I/O, and this may run inside a test's runtime or while it
        // unwinds: use a thread with a runtime of its own.
        let (admin, name, roles) = (self.admin.clone(), self.name.clone(), self.roles.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio_runtime() {
                rt.block_on(drop_all(&admin, &name, &roles));
            }
        })
        .join();
    }
}

/// Drops database `name` (closing its sessions), then `roles` (best effort).
async fn drop_all(admin: &str, name: &str, roles: &[String]) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
        for role in roles {
            let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
                .execute(&mut conn)
                .await;
        }
    }
}

/// `url` with `user:password` as its credentials.
pub fn with_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = match rest[..authority_end].rsplit_once('@') {
        Some((_, host)) => format!("{host}{}", &rest[authority_end..]),
        None => rest.to_owned(),
    };
    format!("{scheme}://{user}:{password}@{host}")
}

fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::{with_database, with_user};

    #[test]
    fn users_are_replaced() {
        assert_eq!(
            with_user("postgres://postgres@127.0.0.1:5432/db?x=1", "u", "p"),
            "postgres://u:p@127.0.0.1:5432/db?x=1"
        );
        assert_eq!(
            with_user("postgres://a:b@host/db", "u", "p"),
            "postgres://u:p@host/db"
        );
        assert_eq!(
            with_user("postgres://host/db", "u", "p"),
            "postgres://u:p@host/db"
        );
    }

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
