//! Configuration layers: built-in defaults < the config file < `FLOWO_*` environment < flags.
//!
//! clap already puts a flag above its environment variable; the config file
//! (`$XDG_CONFIG_HOME/flowo/config.toml`, else `~/.config/flowo/config.toml`) is read by
//! [`flowo_client::config`], shared with the Snakemake plugin; this module fills in what
//! neither gave. Secrets (the JWT secret) are never read from the file or a flag.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use flowo_client::config::{FileConfig, config_path};
use flowo_client::target::is_database_url;
use flowo_client::{ConfigError, Target};
use flowo_core::Store;
use flowo_store::{StoreError, StoreOptions};

/// Where `flowo serve` listens unless told otherwise.
pub const DEFAULT_BIND: &str = "127.0.0.1:3100";

/// What every command shares: the URLs from flags or environment, and the config file.
#[derive(Debug)]
pub struct Global {
    url: Option<String>,
    database_url: Option<String>,
    /// The config file's path, when a home or config directory is known.
    pub config_path: Option<PathBuf>,
    /// The config file's values.
    pub file: FileConfig,
}

/// Where a client command's target came from, for `flowo status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetSource {
    /// `--url` or `FLOWO_URL`.
    Url,
    /// `--database-url` or `FLOWO_DATABASE_URL`.
    DatabaseUrl,
    /// The config file's `url` (from `flowo login`).
    FileUrl,
    /// The config file's `database_url`.
    FileDatabaseUrl,
    /// The embedded store in FlowO's data directory.
    Default,
}

impl TargetSource {
    /// Words for people.
    pub fn describe(self) -> &'static str {
        match self {
            TargetSource::Url => "--url / FLOWO_URL",
            TargetSource::DatabaseUrl => "--database-url / FLOWO_DATABASE_URL",
            TargetSource::FileUrl => "the config file's url",
            TargetSource::FileDatabaseUrl => "the config file's database_url",
            TargetSource::Default => "the default (the embedded store)",
        }
    }
}

impl Global {
    /// Reads the config file; `url` and `database_url` are the flags' or environment's values.
    pub fn load(url: Option<String>, database_url: Option<String>) -> anyhow::Result<Self> {
        let config_path = config_path();
        let file = match &config_path {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        Ok(Self {
            url,
            database_url,
            config_path,
            file,
        })
    }

    /// The explicit `--url` / `FLOWO_URL`, if given and not blank.
    pub fn url(&self) -> Option<&str> {
        nonblank(self.url.as_deref())
    }

    /// The database URL: flag or `FLOWO_DATABASE_URL`, else `--url` / `FLOWO_URL` when it
    /// names a database, else the file's, else the embedded store in FlowO's data directory.
    pub fn database_url(&self) -> anyhow::Result<String> {
        // `--url` may name a database too (as for the client commands); a server URL there
        // means nothing to the commands that act on the database, so it is passed over.
        let url_database = self.url().filter(|u| is_database_url(u)).map(str::to_owned);
        let url = nonblank(self.database_url.as_deref())
            .map(str::to_owned)
            .or(url_database)
            .or_else(|| self.file.database_url.clone())
            .or_else(flowo_store::default_database_url);
        match url {
            Some(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
            Some(_) => bail!("the database URL is empty"),
            None => bail!(
                "no data directory is known (HOME is not set): pass --database-url or set \
                 FLOWO_DATABASE_URL"
            ),
        }
    }

    /// Opens the store (which applies pending migrations).
    pub async fn open_store(&self, options: &StoreOptions) -> anyhow::Result<Arc<dyn Store>> {
        let url = self.database_url()?;
        open_store(&url, options).await
    }

    /// Where the client commands (`status`, `runs`, ...) read: a server or a database, in the
    /// order [`Target::resolve`] documents, and which setting named it.
    pub fn target(&self) -> Result<(Target, TargetSource), ConfigError> {
        let target = Target::resolve(
            self.url.as_deref(),
            self.database_url.as_deref(),
            &self.file,
        )?;
        let source = if self.url().is_some() {
            TargetSource::Url
        } else if nonblank(self.database_url.as_deref()).is_some() {
            TargetSource::DatabaseUrl
        } else if nonblank(self.file.url.as_deref()).is_some() {
            TargetSource::FileUrl
        } else if nonblank(self.file.database_url.as_deref()).is_some() {
            TargetSource::FileDatabaseUrl
        } else {
            TargetSource::Default
        };
        Ok((target, source))
    }

    /// Store options for a client command reading a database directly: the lost timeout the
    /// config file gives (as `flowo serve` would use), else the store's default.
    pub fn client_store_options(&self) -> StoreOptions {
        let lost_after = self
            .file
            .lost_after
            .and_then(|s| i64::try_from(s).ok())
            .filter(|s| *s >= 1)
            .and_then(chrono::Duration::try_seconds);
        let mut options = StoreOptions::default();
        if lost_after.is_some() {
            options.lost_after = lost_after;
        }
        options
    }
}

fn nonblank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Opens the store at `url`, with errors that never show a password.
pub async fn open_store(url: &str, options: &StoreOptions) -> anyhow::Result<Arc<dyn Store>> {
    let masked = mask_url(url);
    match flowo_store::open(url, options).await {
        Ok(store) => Ok(store),
        Err(StoreError::UnsupportedUrl(_)) => bail!(
            "unsupported database URL {masked:?}: use sqlite://PATH or postgres://USER@HOST/DB"
        ),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot open the store at {masked}"))),
    }
}

/// The URL with any password replaced by `***`.
pub use flowo_store::mask_password as mask_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_url("postgres://flowo:s3cret@db:5432/flowo"),
            "postgres://flowo:***@db:5432/flowo"
        );
        assert_eq!(
            mask_url("postgres://flowo:p@ss@db/flowo?sslmode=require&password=x"),
            "postgres://flowo:***@db/flowo?sslmode=require&password=***"
        );
        assert_eq!(
            mask_url("postgres://flowo@db/flowo"),
            "postgres://flowo@db/flowo"
        );
        assert_eq!(
            mask_url("sqlite:///var/lib/flowo/flowo.db"),
            "sqlite:///var/lib/flowo/flowo.db"
        );
        assert_eq!(mask_url("sqlite:flowo.db"), "sqlite:flowo.db");
    }
}
