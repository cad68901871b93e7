//! Follows a FlowO store's live event stream and prints one line per event as it commits,
//! until Ctrl-C.
//!
//! This is what a dashboard's server does under the hood: `LiveStream::subscribe` replays
//! everything after a stream position from the store, then follows new commits, each event
//! exactly once and in order, including events written by other processes (a Snakemake run
//! recording into the same SQLite file, or another host writing to the same PostgreSQL).
//!
//! Run it in one terminal:
//!
//! ```sh
//! cargo run -p live-stream -- --database-url sqlite:///tmp/flowo-example.db
//! ```
//!
//! and record something into the same store in another (see the `record-capture` example):
//!
//! ```sh
//! cargo run -p record-capture -- ../shared/fixtures/snakemake-events/large/10-large.jsonl \
//!     --database-url sqlite:///tmp/flowo-example.db
//! ```
//!
//! Options:
//!
//! - `--database-url URL`: `sqlite://PATH` or `postgres://...` (default: the embedded store in
//!   FlowO's data directory, `flowo_store::default_database_url()`).
//! - `--run RUN_ID`: only this run's events.
//! - `--after POS`: start after this stream position (`0`: everything stored); by default only
//!   events committed from now on are shown.
//! - `--exit-after N`: exit after printing N events.
//!
//! Each line reads `pos  run  #seq  kind  description`, where `run` is the run id's first
//! eight characters. On failure it prints one line to stderr and exits with status 1.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use flowo_core::event::{Event, LogLevel};
use flowo_core::store::{StoreError, StoredEvent, StreamFilter};
use flowo_core::{RunId, StreamPos};
use flowo_store::StoreOptions;
use futures::StreamExt;

const USAGE: &str =
    "usage: live-stream [--database-url URL] [--run RUN_ID] [--after POS] [--exit-after N]";

/// The command line.
struct Args {
    database_url: Option<String>,
    run: Option<RunId>,
    after: Option<StreamPos>,
    exit_after: Option<u64>,
}

/// What the command line asks for.
enum Command {
    Follow(Args),
    Help,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Command> {
    let mut parsed = Args {
        database_url: None,
        run: None,
        after: None,
        exit_after: None,
    };
    while let Some(arg) = args.next() {
        // `--name=value` and `--name value` both work.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| anyhow!("{name} needs a value"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--database-url" => parsed.database_url = Some(value()?),
            "--run" => {
                let v = value()?;
                parsed.run = Some(
                    v.parse()
                        .map_err(|e| anyhow!("--run {v:?} is not a UUID: {e}"))?,
                );
            }
            "--after" => {
                let v = value()?;
                parsed.after = Some(
                    v.parse()
                        .ok()
                        .filter(|p: &StreamPos| *p >= 0)
                        .ok_or_else(|| anyhow!("--after {v:?} is not a stream position"))?,
                );
            }
            "--exit-after" => {
                let v = value()?;
                parsed.exit_after = Some(
                    v.parse()
                        .map_err(|_| anyhow!("--exit-after {v:?} is not a number"))?,
                );
            }
            _ => bail!("unexpected argument {arg:?} ({USAGE})"),
        }
    }
    Ok(Command::Follow(parsed))
}

/// A database URL safe to print: the password, if any, is hidden.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The first non-blank line of a message, trimmed.
fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// A log level as Python spells it, in lower case.
fn level_word(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warning",
        LogLevel::Error => "error",
        LogLevel::Critical => "critical",
    }
}

/// A short description of an event: what a person watching the run wants to see first.
fn describe(event: &StoredEvent) -> String {
    match event.envelope.event() {
        Event::WorkflowStarted(w) => format!(
            "snakemake {} in {}",
            w.snakemake_version.as_deref().unwrap_or("?"),
            w.cwd.or(w.rundir).as_deref().unwrap_or("?")
        ),
        Event::RunInfo(info) => format!(
            "{} jobs planned",
            info.stats.get("total").copied().unwrap_or_default()
        ),
        Event::JobStarted(j) => format!(
            "jobs {}",
            j.jobs
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        Event::JobInfo(j) => format!("rule {} job {}", j.rule_name, j.jobid),
        Event::Shellcmd(s) => first_line(s.shellcmd.or(s.cmd).as_deref().unwrap_or("")).to_owned(),
        Event::JobFinished(j) => format!("job {}", j.job_id),
        Event::JobError(j) => format!("rule {} job {}", j.rule_name, j.jobid),
        Event::Progress(p) => format!("{}/{} done", p.done, p.total),
        Event::Error(e) => format!(
            "{}: {}",
            e.exception.as_deref().unwrap_or("error"),
            first_line(e.message.as_deref().unwrap_or(""))
        ),
        Event::Log(log) => format!("{}: {}", level_word(log.level), first_line(&log.message)),
        Event::RunFinished(f) => match (f.outcome, f.exit_code) {
            (Some(o), Some(c)) => format!("{o:?}, exit code {c}").to_lowercase(),
            (Some(o), None) => format!("{o:?}").to_lowercase(),
            (None, Some(c)) => format!("exit code {c}"),
            (None, None) => String::new(),
        },
        Event::RunLabels(l) => l.name.unwrap_or_default(),
        Event::RunContext(c) => format!(
            "{} on {}",
            c.command_line.unwrap_or_default(),
            c.host.unwrap_or_default()
        ),
        Event::RunSource(s) => format!("{:?} {} ({} bytes)", s.role, s.file.path, s.file.size),
        Event::JobLogs(l) => format!("job {}: {} log files", l.job_id, l.files.len()),
        Event::JobBenchmark(b) => format!("job {}: {} values", b.job_id, b.values.len()),
        Event::Rulegraph(g) => format!("{} rules", g.rulegraph.nodes.len()),
        Event::Malformed { reason, .. } => format!("malformed: {}", first_line(&reason)),
        Event::ResourcesInfo(r) => match (r.cores, r.nodes) {
            (Some(cores), _) => format!("{cores} cores"),
            (None, Some(nodes)) => format!("{nodes} nodes"),
            (None, None) => String::new(),
        },
        Event::GroupInfo(_)
        | Event::GroupError(_)
        | Event::DebugDag(_)
        | Event::Heartbeat
        | Event::Unknown { .. } => String::new(),
    }
}

async fn follow(args: Args) -> anyhow::Result<()> {
    let url = match args.database_url {
        Some(url) => url,
        None => flowo_store::default_database_url()
            .ok_or_else(|| anyhow!("no data directory (HOME is not set): pass --database-url"))?,
    };
    let store = match flowo_store::open(&url, &StoreOptions::default()).await {
        Ok(store) => store,
        Err(StoreError::UnsupportedUrl(_)) => bail!(
            "unsupported database URL {}: use sqlite://PATH or postgres://...",
            redact(&url)
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open the store at {}", redact(&url)));
        }
    };
    let filter = StreamFilter {
        workspaces: None,
        run: args.run,
    };
    let mut stream = store
        .subscribe(filter, args.after)
        .await
        .context("cannot subscribe to the live stream")?;
    eprintln!("live-stream: following {} (Ctrl-C to stop)", redact(&url));

    let mut stdout = std::io::stdout().lock();
    let mut printed = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while args.exit_after.is_none_or(|n| printed < n) {
        let event = tokio::select! {
            _ = &mut ctrl_c => break,
            next = stream.next() => match next {
                Some(event) => event.context("the live stream failed")?,
                None => bail!("the live stream ended"),
            },
        };
        let run = event.envelope.run_id.to_string();
        let line = writeln!(
            stdout,
            "{:>8}  {}  #{:<5} {:<16} {}",
            event.pos,
            &run[..8],
            event.envelope.seq,
            event.envelope.kind,
            describe(&event)
        );
        if line.is_err() {
            // The reader went away (`live-stream | head`): nothing more to do.
            return Ok(());
        }
        printed += 1;
    }
    Ok(())
}

/// An error and its causes on one line, whatever the database put in its messages. A cause
/// that its parent's message already quotes is left out.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            Ok(())
        }
        Ok(Command::Follow(args)) => follow(args).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("live-stream: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}
