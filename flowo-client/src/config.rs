//! The config file: `$XDG_CONFIG_HOME/flowo/config.toml`, else `~/.config/flowo/config.toml`.
//!
//! One file serves the server (`database_url`, `bind`, ...) and the clients (`url`, `token`,
//! `workspace`, written by `flowo login`). Unknown keys are an error, so that a typo is not
//! silently ignored. The file holds a token only when `flowo login` wrote it, and is then
//! readable by its owner alone (mode 0600).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The environment variable that holds an API token (beats the config file's).
pub const TOKEN_ENV: &str = "FLOWO_TOKEN";

/// Why the config file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading or writing failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("invalid config file {path}{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// ` line N`, when known.
        line: String,
        /// What is wrong.
        message: String,
    },
    /// No home or config directory is known.
    #[error("no config directory is known (neither XDG_CONFIG_HOME nor HOME is set)")]
    NoConfigDir,
    /// A URL that is neither a server nor a database.
    #[error("{0}")]
    BadUrl(String),
}

/// The config file's keys; all optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Server: database URL.
    pub database_url: Option<String>,
    /// Server: listen address.
    pub bind: Option<String>,
    /// Server: seconds of silence after which a running run reads as lost.
    pub lost_after: Option<u64>,
    /// Server: mark cookies `Secure`.
    pub secure_cookies: Option<bool>,
    /// Server: seconds `/readyz` answers 503 after a stop signal before the listener closes.
    pub drain: Option<u64>,
    /// Clients: the FlowO server to report to and read from (written by `flowo login`).
    pub url: Option<String>,
    /// Clients: the API token for `url` (written by `flowo login`; `FLOWO_TOKEN` beats it).
    pub token: Option<String>,
    /// Clients: the workspace new runs are recorded in.
    pub workspace: Option<String>,
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

/// `FLOWO_TOKEN`, when set and not blank.
pub fn env_token() -> Option<String> {
    std::env::var(TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

impl FileConfig {
    /// Reads the config file at the default path; no path or no file is an empty configuration.
    pub fn load() -> Result<Self, ConfigError> {
        match config_path() {
            Some(path) => Self::read(&path),
            None => Ok(Self::default()),
        }
    }

    /// Reads the config file at `path`; a missing file is an empty configuration.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                });
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
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                message: e.message().to_owned(),
            }
        })
    }
}

/// Writes the client keys (`url`, `token`, and `workspace` when given) into the config file at
/// `path`, keeping its other keys and comments, and makes it readable by its owner only.
pub fn save_login(
    path: &Path,
    url: &str,
    token: &str,
    workspace: Option<&str>,
) -> Result<(), ConfigError> {
    let io = |action, source| ConfigError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io("read", e)),
    };
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Invalid {
                path: path.to_owned(),
                line: String::new(),
                message: e.message().to_owned(),
            })?;
    doc["url"] = toml_edit::value(url);
    doc["token"] = toml_edit::value(token);
    if let Some(ws) = workspace {
        doc["workspace"] = toml_edit::value(ws);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io("write", e))?;
    }
    // Write a private temporary file and rename it over the old one, so that the token is
    // never readable by others, not even for a moment, and a crash leaves the old file intact.
    let tmp = path.with_extension("toml.tmp");
    {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(|e| io("write", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io("write", e))?;
        }
        file.write_all(doc.to_string().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io("write", e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io("write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn login_keeps_other_keys_and_is_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("flowo/config.toml");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, "# mine\nbind = \"0.0.0.0:1\"\ntoken = \"old\"\n").expect("write");
        save_login(&path, "https://flowo.example", "flowo_new", Some("lab")).expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("# mine"), "{text}");
        let config = FileConfig::read(&path).expect("valid");
        assert_eq!(config.bind.as_deref(), Some("0.0.0.0:1"));
        assert_eq!(config.url.as_deref(), Some("https://flowo.example"));
        assert_eq!(config.token.as_deref(), Some("flowo_new"));
        assert_eq!(config.workspace.as_deref(), Some("lab"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
