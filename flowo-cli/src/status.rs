//! `flowo status`: the configuration in effect (config file, target and where it came from,
//! workspace, spool and its backlog) and whether it works: for a server, whether it answers
//! (`/healthz`) and takes the token (`/api/v1/auth/me`); for a database, whether it opens and
//! how many runs it holds. Never prints a token or a password.
//!
//! Exit status 0 when everything works, 1 otherwise (the report is printed either way).

use flowo_client::Target;
use flowo_client::api::ApiClient;
use flowo_client::spool::Spool;
use flowo_core::store::RunQuery;
use serde::Serialize;

use crate::config::{Global, open_store};
use crate::output;
use crate::reader::describe;

/// `flowo status`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the report as a JSON object.
    #[arg(long)]
    json: bool,
}

/// What `flowo status` found.
#[derive(Serialize, Debug)]
struct Report {
    /// The config file, when a home or config directory is known.
    config_file: Option<String>,
    /// Whether it exists.
    config_file_exists: bool,
    /// `server` or `database`.
    target_kind: &'static str,
    /// The target's URL, passwords masked.
    target: String,
    /// Which setting named the target.
    target_source: &'static str,
    /// Where the token comes from (servers only): `FLOWO_TOKEN`, `config file`, or none.
    token_source: Option<&'static str>,
    /// The workspace new runs are recorded in, when set.
    workspace: Option<String>,
    /// The spool.
    spool: SpoolReport,
    /// The server's answers (server targets).
    server: Option<ServerReport>,
    /// The database's answers (database targets).
    database: Option<DatabaseReport>,
    /// Whether everything works.
    ok: bool,
}

#[derive(Serialize, Debug, Default)]
struct SpoolReport {
    /// The directory.
    dir: Option<String>,
    /// Runs waiting for delivery.
    runs: u64,
    /// Their events.
    events: u64,
    /// Their size on disk.
    bytes: u64,
    /// Runs still being written by a running Snakemake.
    in_use: u64,
    /// Files whose header is unreadable (`flowo sync` names them and why).
    unreadable: u64,
    /// Why the spool could not be read.
    error: Option<String>,
}

#[derive(Serialize, Debug, Default)]
struct ServerReport {
    /// `/healthz` answered.
    reachable: bool,
    /// Whether the token was accepted; `None` when the server could not be asked.
    token_valid: Option<bool>,
    /// The token's user.
    user: Option<String>,
    /// Their role.
    role: Option<String>,
    /// `token` or `bearer`.
    credential: Option<String>,
    /// Workspaces the token may read.
    workspaces: Vec<String>,
    /// What went wrong.
    error: Option<String>,
}

#[derive(Serialize, Debug, Default)]
struct DatabaseReport {
    /// The store opened (migrations applied).
    opens: bool,
    /// Runs stored.
    runs: Option<u64>,
    /// What went wrong.
    error: Option<String>,
}

/// Runs `flowo status`; the exit status.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<u8> {
    let (target, source) = global.target()?;
    let config_file = global.config_path.as_ref();
    let mut report = Report {
        config_file: config_file.map(|p| p.display().to_string()),
        config_file_exists: config_file.is_some_and(|p| p.is_file()),
        target_kind: match target {
            Target::Server { .. } => "server",
            Target::Database { .. } => "database",
        },
        target: describe(&target),
        target_source: source.describe(),
        token_source: None,
        workspace: global.file.workspace.clone(),
        spool: spool_report(),
        server: None,
        database: None,
        ok: false,
    };
    match &target {
        Target::Server { url, token } => {
            report.token_source = token.as_ref().map(|_| {
                if flowo_client::config::env_token().is_some() {
                    "FLOWO_TOKEN"
                } else {
                    "config file"
                }
            });
            let server = server_report(url, token.clone()).await;
            report.ok = server.reachable && server.token_valid == Some(true);
            report.server = Some(server);
        }
        Target::Database { url } => {
            let database = database_report(url, global).await;
            report.ok = database.opens && database.error.is_none();
            report.database = Some(database);
        }
    }
    if args.json {
        output::json(&report)?;
    } else {
        print(&report)?;
    }
    Ok(if report.ok { 0 } else { 1 })
}

fn spool_report() -> SpoolReport {
    let Some(dir) = Spool::default_dir() else {
        return SpoolReport {
            error: Some("no data directory is known (HOME is not set)".to_owned()),
            ..SpoolReport::default()
        };
    };
    let mut report = SpoolReport {
        dir: Some(dir.display().to_string()),
        ..SpoolReport::default()
    };
    // Opening creates the directory: a status report should not, so a missing one is empty.
    if !dir.is_dir() {
        return report;
    }
    match Spool::open(&dir).and_then(|s| s.pending()) {
        Ok(entries) => {
            for entry in entries {
                report.runs += 1;
                report.events += entry.events;
                report.bytes += entry.bytes;
                report.in_use += u64::from(entry.in_use);
                report.unreadable += u64::from(entry.problem.is_some());
            }
        }
        Err(e) => report.error = Some(format!("cannot read the spool: {e}")),
    }
    report
}

async fn server_report(url: &str, token: Option<String>) -> ServerReport {
    let mut report = ServerReport::default();
    let has_token = token.is_some();
    let api = match ApiClient::new(url, token) {
        Ok(api) => api,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    if let Err(e) = api.health().await {
        report.error = Some(e.to_string());
        return report;
    }
    report.reachable = true;
    if !has_token {
        report.token_valid = Some(false);
        report.error =
            Some("no token: log in with `flowo login --url URL` or set FLOWO_TOKEN".to_owned());
        return report;
    }
    match api.me().await {
        Ok(me) => {
            report.token_valid = Some(true);
            report.user = Some(me.user.email);
            report.role = Some(me.user.role.as_str().to_owned());
            report.credential = Some(me.credential);
            report.workspaces = me.workspaces.into_iter().map(|w| w.name).collect();
        }
        Err(e) if e.is_unauthorized() => {
            report.token_valid = Some(false);
            report.error = Some(format!("the server refused the token: {e}"));
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    report
}

async fn database_report(url: &str, global: &Global) -> DatabaseReport {
    let mut report = DatabaseReport::default();
    let store = match open_store(url, &global.client_store_options()).await {
        Ok(store) => store,
        Err(e) => {
            report.error = Some(format!("{e:#}"));
            return report;
        }
    };
    report.opens = true;
    let count = RunQuery {
        limit: 1,
        with_total: true,
        ..RunQuery::default()
    };
    match store.list_runs(&count).await {
        Ok(page) => report.runs = page.total,
        Err(e) => report.error = Some(format!("cannot count runs: {e}")),
    }
    report
}

fn print(report: &Report) -> anyhow::Result<()> {
    let mut lines: Vec<(&str, String)> = Vec::new();
    let config = match (&report.config_file, report.config_file_exists) {
        (Some(path), true) => path.clone(),
        (Some(path), false) => format!("{path} (does not exist)"),
        (None, _) => "none (neither XDG_CONFIG_HOME nor HOME is set)".to_owned(),
    };
    lines.push(("config file", config));
    lines.push((
        "target",
        format!(
            "{} {} (from {})",
            report.target_kind, report.target, report.target_source
        ),
    ));
    if report.target_kind == "server" {
        lines.push((
            "token",
            report
                .token_source
                .map_or_else(|| "none".to_owned(), |s| format!("from {s}")),
        ));
    }
    lines.push((
        "workspace",
        report.workspace.clone().unwrap_or_else(|| {
            "not set (runs go to the token's workspace, else `default`)".to_owned()
        }),
    ));
    let spool = &report.spool;
    let backlog = match (&spool.dir, &spool.error) {
        (_, Some(error)) => error.clone(),
        (Some(dir), None) if spool.runs == 0 => format!("{dir} (empty)"),
        (Some(dir), None) => format!(
            "{dir}: {} runs, {} events, {} bytes waiting{}{} (deliver with `flowo sync`)",
            spool.runs,
            spool.events,
            spool.bytes,
            if spool.in_use > 0 {
                format!(", {} still being written", spool.in_use)
            } else {
                String::new()
            },
            if spool.unreadable > 0 {
                format!(
                    ", {} UNREADABLE (`flowo sync` says why; they are kept)",
                    spool.unreadable
                )
            } else {
                String::new()
            }
        ),
        (None, None) => "-".to_owned(),
    };
    lines.push(("spool", backlog));
    if let Some(server) = &report.server {
        let reachable = if server.reachable {
            "reachable".to_owned()
        } else {
            format!(
                "UNREACHABLE: {}",
                server.error.as_deref().unwrap_or("no answer")
            )
        };
        lines.push(("server", reachable));
        if server.reachable {
            let token = match server.token_valid {
                Some(true) => format!(
                    "valid: {} ({}, {}), workspaces: {}",
                    server.user.as_deref().unwrap_or("?"),
                    server.role.as_deref().unwrap_or("?"),
                    server.credential.as_deref().unwrap_or("?"),
                    if server.workspaces.is_empty() {
                        "none".to_owned()
                    } else {
                        server.workspaces.join(", ")
                    }
                ),
                _ => format!("INVALID: {}", server.error.as_deref().unwrap_or("refused")),
            };
            lines.push(("token check", token));
        }
    }
    if let Some(database) = &report.database {
        let state = match (database.opens, &database.error, database.runs) {
            (true, None, Some(n)) => format!("opens, {n} runs stored"),
            (true, None, None) => "opens".to_owned(),
            (_, Some(error), _) => format!("FAILS: {error}"),
            (false, None, _) => "FAILS".to_owned(),
        };
        lines.push(("database", state));
    }
    let width = lines.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let text: Vec<String> = lines
        .iter()
        .map(|(k, v)| format!("{:<width$}  {v}", format!("{k}:")))
        .collect();
    output::line(text.join("\n"))?;
    output::line(if report.ok {
        "everything works"
    } else {
        "something does not work (see above)"
    })
}
