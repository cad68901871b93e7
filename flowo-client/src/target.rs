//! Where a client's events go and where it reads runs from: a FlowO server over HTTP, or a
//! database directly (the embedded SQLite store by default).
//!
//! The order, the same for the plugin and the `flowo` command: an explicit URL (a plugin
//! setting, `--url` or `FLOWO_URL`), then an explicit database URL (`--database-url` or
//! `FLOWO_DATABASE_URL`), then the config file's `url` (from `flowo login`), then its
//! `database_url`, then the embedded store in FlowO's data directory.

use std::fmt;

use crate::config::{ConfigError, FileConfig, env_token};

/// A resolved destination.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// A FlowO server (`http://` or `https://`), with the token to use, if any.
    Server {
        /// The server's base URL, without a trailing slash.
        url: String,
        /// The API token (`FLOWO_TOKEN`, else the config file's for the same URL).
        token: Option<String>,
    },
    /// A database written directly (`sqlite://...` or `postgres://...`).
    Database {
        /// The database URL.
        url: String,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a token or a password.
        f.write_str(&self.describe())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Whether `url` names a database rather than a server.
pub fn is_database_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|p| lower.starts_with(p))
}

impl Target {
    /// A target from one URL: a server (`http(s)://`) or a database (`sqlite:`, `postgres://`).
    /// A server target gets `FLOWO_TOKEN`, else the config file's token when the file's `url`
    /// is the same server.
    pub fn from_url(url: &str, file: &FileConfig) -> Result<Self, ConfigError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(ConfigError::BadUrl("the URL is empty".into()));
        }
        if is_database_url(url) {
            return Ok(Target::Database {
                url: url.to_owned(),
            });
        }
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(ConfigError::BadUrl(format!(
                "{url:?} is not a FlowO URL: use http(s)://HOST[:PORT] for a server, or \
                 sqlite://PATH or postgres://USER@HOST/DB for a database"
            )));
        }
        let url = url.trim_end_matches('/').to_owned();
        let same_server = file
            .url
            .as_deref()
            .is_some_and(|u| u.trim().trim_end_matches('/') == url);
        let token = env_token().or_else(|| {
            same_server
                .then(|| file.token.clone())
                .flatten()
                .filter(|t| !t.trim().is_empty())
        });
        Ok(Target::Server { url, token })
    }

    /// Resolves the target from an explicit URL, an explicit database URL and the config file
    /// (see the module documentation for the order).
    pub fn resolve(
        url: Option<&str>,
        database_url: Option<&str>,
        file: &FileConfig,
    ) -> Result<Self, ConfigError> {
        fn nonblank(s: Option<&str>) -> Option<&str> {
            s.map(str::trim).filter(|s| !s.is_empty())
        }
        if let Some(url) = nonblank(url) {
            return Self::from_url(url, file);
        }
        if let Some(url) = nonblank(database_url) {
            return Self::from_url(url, file);
        }
        if let Some(url) = nonblank(file.url.as_deref()) {
            return Self::from_url(url, file);
        }
        if let Some(url) = nonblank(file.database_url.as_deref()) {
            return Self::from_url(url, file);
        }
        let url = flowo_store::default_database_url().ok_or_else(|| {
            ConfigError::BadUrl(
                "no data directory is known (HOME is not set): set FLOWO_DATA_DIR or give a URL"
                    .into(),
            )
        })?;
        Ok(Target::Database { url })
    }

    /// The URL, with any password masked; never the token.
    pub fn describe(&self) -> String {
        match self {
            Target::Server { url, .. } => url.clone(),
            Target::Database { url } => flowo_store::mask_password(url),
        }
    }

    /// The URL as given (passwords included): what a spool file records so that it can be
    /// delivered later.
    pub fn url(&self) -> &str {
        match self {
            Target::Server { url, .. } | Target::Database { url } => url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_apart() {
        let file = FileConfig::default();
        assert!(matches!(
            Target::from_url("sqlite:///tmp/x.db", &file),
            Ok(Target::Database { .. })
        ));
        assert!(matches!(
            Target::from_url("postgres://u@h/db", &file),
            Ok(Target::Database { .. })
        ));
        let server = Target::from_url("http://localhost:3100/", &file).expect("server");
        assert_eq!(server.url(), "http://localhost:3100");
        let err = Target::from_url("localhost:3100", &file).expect_err("no scheme");
        assert!(err.to_string().contains("http(s)://"), "{err}");
    }

    #[test]
    fn explicit_beats_file_beats_default() {
        let file = FileConfig {
            url: Some("http://team:3100".into()),
            token: Some("flowo_file".into()),
            database_url: Some("sqlite:///file.db".into()),
            ..FileConfig::default()
        };
        let t = Target::resolve(Some("sqlite:///x.db"), None, &file).expect("explicit");
        assert_eq!(t.url(), "sqlite:///x.db");
        let t = Target::resolve(None, Some("sqlite:///y.db"), &file).expect("database");
        assert_eq!(t.url(), "sqlite:///y.db");
        let t = Target::resolve(None, None, &file).expect("file");
        assert_eq!(t.url(), "http://team:3100");
        if std::env::var_os(crate::config::TOKEN_ENV).is_none() {
            assert!(matches!(t, Target::Server { token: Some(ref k), .. } if k == "flowo_file"));
            // The file's token is not sent to another server.
            let other = Target::resolve(Some("http://other:1"), None, &file).expect("other");
            assert!(matches!(other, Target::Server { token: None, .. }));
        }
        let only_db = FileConfig {
            database_url: Some("sqlite:///file.db".into()),
            ..FileConfig::default()
        };
        let t = Target::resolve(None, None, &only_db).expect("file db");
        assert_eq!(t.url(), "sqlite:///file.db");
    }
}
