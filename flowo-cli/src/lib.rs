//! The `flowo` command as a library: the composition root of FlowO. It picks the store backend
//! from a URL, runs the HTTP server (`flowo serve`) and administers users, workspaces and API
//! tokens directly on the database (`flowo user|workspace|token|audit|db ...`). The client commands
//! (`flowo login|status|sync|runs ...`) work against a FlowO server over HTTP or a database
//! directly, whichever `--url`, `flowo login` or the configuration names.
//!
//! Nothing here needs the main thread: the Snakemake plugin's wheel runs [`run_cli`] from
//! inside Python, which handles Ctrl-C itself.
//!
//! One file per subcommand, each with its `Args` and a `run` function that calls the libraries;
//! the rules themselves live in flowo-core, flowo-store and flowo-http, not here. Errors end as
//! one `error: ...` line on stderr and a non-zero exit.

mod audit;
mod config;
mod db;
mod health;
mod login;
mod memory;
mod output;
mod reader;
mod runs;
mod serve;
mod status;
mod sync;
mod token;
mod user;
mod workspace;

use std::ffi::OsString;
use std::io::Write;

use clap::{Parser, Subcommand};

use crate::config::Global;

/// FlowO: records Snakemake workflow events and serves them to a team.
#[derive(Parser, Debug)]
#[command(name = "flowo", version, about, propagate_version = true)]
struct Cli {
    /// For the client commands (login, status, health, runs): a FlowO server
    /// (`http(s)://HOST[:PORT]`) or a database URL [default: the config file's url, else the
    /// database]. A database URL here also serves the commands that act on the database.
    #[arg(
        long,
        global = true,
        env = "FLOWO_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    url: Option<String>,

    /// The database: `sqlite://PATH` or `postgres://USER@HOST/DB` (default: the embedded
    /// store in FlowO's data directory).
    #[arg(
        long,
        global = true,
        env = "FLOWO_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve(serve::Args),
    /// Manage users.
    User(user::Args),
    /// Manage workspaces and their members.
    Workspace(workspace::Args),
    /// Manage API tokens.
    Token(token::Args),
    /// Read the audit log of administrative actions.
    Audit(audit::Args),
    /// Database maintenance.
    Db(db::Args),
    /// Save a server's URL and an API token for the client commands and the plugin.
    Login(login::Args),
    /// Show the configuration in effect and whether the server or database works.
    Status(status::Args),
    /// Exit 0 when the server (or database) is ready, 1 when not: for health checks.
    Health(health::Args),
    /// Deliver events the plugin spooled while its target was unreachable.
    Sync(sync::Args),
    /// List, show and watch runs.
    Runs(runs::Args),
}

/// The `flowo` command line as clap describes it: every subcommand, flag and environment
/// variable. The configuration reference (`docs/configuration.md`) is checked against it.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

/// Runs the `flowo` command with these arguments (the first is the program name) and returns
/// its exit status. The `flowo` binary and the plugin wheel's `flowo` entry point both call it.
pub fn run_cli(args: Vec<OsString>) -> u8 {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error{at}: {}", one_line(&message));
    }));
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the runtime")),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => 0,
        Err(e) => fail(&e),
    }
}

/// Runs the command; its exit status (commands that report, like `status`, say 1 without an
/// error).
async fn run(cli: Cli) -> anyhow::Result<u8> {
    let global = Global::load(cli.url, cli.database_url)?;
    if !matches!(cli.command, Command::Serve(_)) {
        init_logging("warn");
    }
    let done = |()| 0;
    match cli.command {
        Command::Serve(args) => serve::run(args, &global).await.map(done),
        Command::User(args) => user::run(args, &global).await.map(done),
        Command::Workspace(args) => workspace::run(args, &global).await.map(done),
        Command::Token(args) => token::run(args, &global).await.map(done),
        Command::Audit(args) => audit::run(args, &global).await.map(done),
        Command::Db(args) => db::run(args, &global).await.map(done),
        Command::Login(args) => login::run(args, &global).await.map(done),
        Command::Status(args) => status::run(args, &global).await,
        Command::Health(args) => health::run(args, &global).await,
        Command::Sync(args) => sync::run(args, &global).await,
        Command::Runs(args) => runs::run(args, &global).await,
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (else `default`).
pub(crate) fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn fail(err: &anyhow::Error) -> u8 {
    // The store's own words read oddly on their own ("already exists: user ..."); say them as
    // the HTTP API does.
    let message = match err.downcast_ref::<flowo_store::StoreError>() {
        Some(flowo_store::StoreError::Conflict(what)) if err.chain().count() == 1 => {
            format!("{what} already exists")
        }
        Some(flowo_store::StoreError::NotFound(what)) if err.chain().count() == 1 => {
            format!("{what} not found")
        }
        Some(flowo_store::StoreError::Invalid(why)) if err.chain().count() == 1 => why.clone(),
        _ => format!("{err:#}"),
    };
    let _ = writeln!(std::io::stderr(), "error: {}", one_line(&message));
    1
}

/// Help and version go to stdout as clap renders them; usage errors become one line.
fn usage_error(err: &clap::Error) -> u8 {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            2
        } else {
            0
        };
    }
    let text = err.render().to_string();
    let message = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let _ = writeln!(std::io::stderr(), "error: {message} (see `flowo --help`)");
    2
}

/// The words of a flowo-core enum (`Role`, `TokenScope`) as a clap value parser: help lists
/// them and a wrong one is refused before anything runs.
pub(crate) fn words<T>(
    values: &'static [&'static str],
) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(values).try_map(|s| s.parse::<T>())
}

/// The words of `flowo_core::account::Role`.
pub(crate) const ROLES: &[&str] = &["admin", "member", "viewer"];
/// The words of `flowo_core::account::TokenScope`.
pub(crate) const SCOPES: &[&str] = &["ingest", "read", "admin"];

/// Folds a message onto one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use flowo_core::account::{Role, TokenScope};

    use super::*;

    #[test]
    fn the_word_lists_are_the_cores() {
        // Fails to compile when the core grows a role or scope the lists lack.
        let _every_role = |r: Role| match r {
            Role::Admin | Role::Member | Role::Viewer => (),
        };
        let _every_scope = |s: TokenScope| match s {
            TokenScope::Ingest | TokenScope::Read | TokenScope::Admin => (),
        };
        for w in ROLES {
            assert_eq!(w.parse::<Role>().map(Role::as_str), Ok(*w));
        }
        for w in SCOPES {
            assert_eq!(w.parse::<TokenScope>().map(TokenScope::as_str), Ok(*w));
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
