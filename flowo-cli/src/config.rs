//! Configuration layers: built-in defaults < the config file < `FLOWO_*` environment < flags.
//!
//! clap already puts a flag above its environment variable; this module reads the config file
//! (`$XDG_CONFIG_HOME/flowo/config.toml`, else `~/.config/flowo/config.toml`) and fills in what
//! neither gave. Secrets (the JWT secret) are never read from the file or a flag.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use flowo_core::Store;
use flowo_store::{StoreError, StoreOptions};
use serde::Deserialize;

/// Where `flowo serve` listens unless told otherwise.
pub const DEFAULT_BIND: &str = "127.0.0.1:3100";

/// The config file's keys; all optional, unknown keys are an error (a typo should not be
/// silently ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Database URL.
    pub database_url: Option<String>,
    /// Server address.
    pub bind: Option<String>,
    /// Seconds of silence after which a running run reads as lost.
    pub lost_after: Option<u64>,
    /// Mark cookies `Secure`.
    pub secure_cookies: Option<bool>,
}

/// The config file's path, if a home or config directory is known.
pub fn config_path() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    // The XDG spec says relative values are to be ignored.
    env("XDG_CONFIG_HOME")
        .filter(|p| p.is_absolute())
        .map(|d| d.join("flowo/config.toml"))
        .or_else(|| env("HOME").map(|h| h.join(".config/flowo/config.toml")))
}

impl FileConfig {
    /// Reads the config file at `path`; a missing file is an empty configuration.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| {
                    text.as_bytes()[..s.start.min(text.len())]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count()
                        + 1
                })
                .map(|n| format!(" line {n}"))
                .unwrap_or_default();
            anyhow::anyhow!(
                "invalid config file {}{line}: {}",
                path.display(),
                e.message()
            )
        })
    }
}

/// What every command shares: the database URL from flag or environment, and the file.
#[derive(Debug)]
pub struct Global {
    database_url: Option<String>,
    /// The config file's values.
    pub file: FileConfig,
}

impl Global {
    /// Reads the config file; `database_url` is the flag's or environment's value, if any.
    pub fn load(database_url: Option<String>) -> anyhow::Result<Self> {
        let file = match config_path() {
            Some(path) => FileConfig::read(&path)?,
            None => FileConfig::default(),
        };
        Ok(Self { database_url, file })
    }

    /// The database URL: flag or `FLOWO_DATABASE_URL`, else the file's, else the embedded
    /// store in FlowO's data directory.
    pub fn database_url(&self) -> anyhow::Result<String> {
        let url = self
            .database_url
            .clone()
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

/// The URL with any password replaced by `***`: flowo-store masks the user-info part; a
/// `password=` query parameter (which libpq-style URLs allow) is masked here as well.
pub fn mask_url(url: &str) -> String {
    let masked = flowo_store::mask_password(url);
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

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "bind = \"0.0.0.0:1\"\ndatabse_url = \"x\"\n").expect("write");
        let err = FileConfig::read(&path).expect_err("unknown key");
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("databse_url"), "{text}");
        let missing = FileConfig::read(&dir.path().join("none.toml")).expect("missing is empty");
        assert!(missing.bind.is_none());
    }
}
