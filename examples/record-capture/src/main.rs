//! Records a Snakemake capture file into a FlowO store, the way the logger plugin would, and
//! prints the run's summary as the store folded it.
//!
//! A capture is one JSON `logging.LogRecord` per line, as `snakemake-logger-plugin-capture`
//! writes them (see `shared/fixtures/snakemake-events/`). The events are appended in batches,
//! then a `run_finished` event is appended as the plugin's `close()` would send it.
//!
//! Run it with:
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
//! - `--workspace NAME`: the workspace the run lands in (default `default`, created if missing).
//! - `--run-id UUID`: the run's id (default: a new random one). Recording the same capture
//!   under the same id again stores nothing new: appends are idempotent.
//! - `--batch N`: events per append (default 100).
//! - `--no-finish`: leave out `run_finished`, so the run stays `running` (and reads as `lost`
//!   once the store's lost timeout has passed).
//!
//! On failure it prints one line to stderr and exits with status 1.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use flowo_core::event::{Event, RunFinished};
use flowo_core::model::DEFAULT_WORKSPACE;
use flowo_core::store::StoreError;
use flowo_core::{EventEnvelope, JobStatus, RuleSummary, Run, RunError, RunId};
use flowo_store::StoreOptions;

const USAGE: &str = "usage: record-capture <capture.jsonl> [--database-url URL] \
[--workspace NAME] [--run-id UUID] [--batch N] [--no-finish]";

/// The command line.
struct Args {
    capture: PathBuf,
    database_url: Option<String>,
    workspace: String,
    run_id: Option<RunId>,
    batch: usize,
    finish: bool,
}

/// What the command line asks for.
enum Command {
    Record(Args),
    Help,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Command> {
    let mut capture = None;
    let mut database_url = None;
    let mut workspace = DEFAULT_WORKSPACE.to_owned();
    let mut run_id = None;
    let mut batch = 100;
    let mut finish = true;
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
            "--database-url" => database_url = Some(value()?),
            "--workspace" => workspace = value()?,
            "--run-id" => {
                let v = value()?;
                run_id = Some(
                    v.parse()
                        .map_err(|e| anyhow!("--run-id {v:?} is not a UUID: {e}"))?,
                );
            }
            "--batch" => {
                let v = value()?;
                batch = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| anyhow!("--batch {v:?} is not a positive number"))?;
            }
            "--no-finish" => finish = false,
            other if other.starts_with('-') => bail!("unknown option {other} ({USAGE})"),
            _ if capture.is_none() => capture = Some(PathBuf::from(arg)),
            _ => bail!("unexpected argument {arg:?} ({USAGE})"),
        }
    }
    let capture = capture.ok_or_else(|| anyhow!("no capture file given ({USAGE})"))?;
    Ok(Command::Record(Args {
        capture,
        database_url,
        workspace,
        run_id,
        batch,
        finish,
    }))
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

/// Opens the store, with an error that names the (redacted) URL.
async fn open_store(url: &str) -> anyhow::Result<std::sync::Arc<dyn flowo_store::Store>> {
    match flowo_store::open(url, &StoreOptions::default()).await {
        Ok(store) => Ok(store),
        Err(StoreError::UnsupportedUrl(_)) => Err(anyhow!(
            "unsupported database URL {}: use sqlite://PATH or postgres://...",
            redact(url)
        )),
        Err(e) => Err(e).with_context(|| format!("cannot open the store at {}", redact(url))),
    }
}

async fn record(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.capture)
        .with_context(|| format!("cannot read {}", args.capture.display()))?;
    let run_id = args.run_id.unwrap_or_else(RunId::new_random);
    let mut events = flowo_core::record::envelopes_from_capture(&text, run_id)
        .with_context(|| format!("{} is not a capture", args.capture.display()))?;
    if events.is_empty() {
        bail!("{} holds no records", args.capture.display());
    }
    if args.finish {
        // The plugin sends this from close(), right after Snakemake's last record; replaying a
        // capture, "right after" is the last record's time rather than now.
        let last = events.last().map(|e| e.recorded_at).unwrap_or_default();
        events.push(EventEnvelope::new(
            run_id,
            events.len() as u64,
            last,
            &Event::RunFinished(RunFinished::default()),
        ));
    }

    let url = match args.database_url {
        Some(url) => url,
        None => flowo_store::default_database_url()
            .ok_or_else(|| anyhow!("no data directory (HOME is not set): pass --database-url"))?,
    };
    let store = open_store(&url).await?;
    let workspace = store
        .ensure_workspace(&args.workspace)
        .await
        .with_context(|| format!("cannot use workspace {:?}", args.workspace))?;

    let (mut inserted, mut duplicates) = (0, 0);
    for batch in events.chunks(args.batch) {
        let outcome = store
            .append(workspace.id, batch)
            .await
            .with_context(|| format!("cannot append events from seq {}", batch[0].seq))?;
        inserted += outcome.inserted;
        duplicates += outcome.duplicates;
    }
    // Said before reading back, so that a failing read still leaves a trace of what was stored.
    print(&format!(
        "recorded {} events ({inserted} new, {duplicates} already stored) into {}, workspace {}\n",
        events.len(),
        redact(&url),
        workspace.name
    ))?;

    let view = store
        .get_run(run_id)
        .await
        .context("cannot read the run back")?
        .ok_or_else(|| anyhow!("run {run_id} is not in the store after recording it"))?;
    let rules = store
        .rule_summaries(run_id)
        .await
        .context("cannot read the rule summaries")?;
    let errors = store
        .run_errors(run_id)
        .await
        .context("cannot read the run's errors")?;

    print(&summary(&view.run, &rules, &errors)?)
}

/// Writes to stdout. A reader that went away (`record-capture ... | head`) is no error: the
/// run is recorded all the same.
fn print(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// The first line of an error message worth showing next to the exception's name: Snakemake
/// often starts with a line that only repeats the name (`RuleException:`).
fn error_line(exception: Option<&str>, message: &str) -> String {
    let exception = exception.unwrap_or("error");
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && l.trim_end_matches(':') != exception)
        .unwrap_or("");
    if line.starts_with(exception) {
        line.to_owned()
    } else {
        format!("{exception}: {line}")
    }
}

/// The run's summary as printed: the run, its errors, and a table of its rules.
fn summary(run: &Run, rules: &[RuleSummary], errors: &[RunError]) -> Result<String, fmt::Error> {
    let mut out = String::new();
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    writeln!(out)?;
    writeln!(out, "run:        {}", run.id)?;
    writeln!(out, "status:     {}", run.status)?;
    writeln!(out, "name:       {}", or_dash(&run.name))?;
    writeln!(out, "workdir:    {}", or_dash(&run.workdir))?;
    writeln!(out, "snakemake:  {}", or_dash(&run.snakemake_version))?;
    writeln!(out, "progress:   {}/{} jobs done", run.done, run.total)?;
    let counts: Vec<String> = JobStatus::ALL
        .iter()
        .filter(|s| run.jobs.get(**s) > 0)
        .map(|s| format!("{} {s}", run.jobs.get(*s)))
        .collect();
    if counts.is_empty() {
        writeln!(out, "jobs:       none")?;
    } else {
        writeln!(out, "jobs:       {}", counts.join(", "))?;
    }
    if errors.is_empty() {
        writeln!(out, "errors:     none")?;
    } else {
        writeln!(out, "errors:     {}", errors.len())?;
        for e in errors {
            let place = match (&e.rule, e.job_id) {
                (Some(rule), Some(job)) => format!("rule {rule}, job {job}"),
                (Some(rule), None) => format!("rule {rule}"),
                (None, Some(job)) => format!("job {job}"),
                (None, None) => "workflow".to_owned(),
            };
            let line = error_line(e.exception.as_deref(), e.message.as_deref().unwrap_or(""));
            writeln!(out, "  - [{place}] {line}")?;
        }
    }

    if !rules.is_empty() {
        let width = rules.iter().map(|r| r.rule.len()).max().unwrap_or(4).max(4);
        writeln!(out)?;
        writeln!(
            out,
            "{:<width$}  {:>7}  {:>9}  {:>6}  {:>7}  {:>10}  {:>11}  {:>8}",
            "rule",
            "planned",
            "succeeded",
            "failed",
            "running",
            "incomplete",
            "not started",
            "median s"
        )?;
        for r in rules {
            let planned = r.planned.map_or_else(|| "-".to_owned(), |p| p.to_string());
            let median = r
                .duration_median
                .map_or_else(|| "-".to_owned(), |d| format!("{d:.2}"));
            writeln!(
                out,
                "{:<width$}  {planned:>7}  {:>9}  {:>6}  {:>7}  {:>10}  {:>11}  {median:>8}",
                r.rule,
                r.jobs.succeeded,
                r.jobs.failed,
                r.jobs.running,
                r.jobs.incomplete,
                r.not_started,
            )?;
        }
    }
    Ok(out)
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
        Ok(Command::Record(args)) => record(args).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("record-capture: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> anyhow::Result<Command> {
        parse_args(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn options_take_a_separate_or_inline_value() {
        let Ok(Command::Record(a)) = args("c.jsonl --batch=7 --workspace team --no-finish") else {
            panic!("parses");
        };
        assert_eq!(a.capture, PathBuf::from("c.jsonl"));
        assert_eq!(
            (a.batch, a.workspace.as_str(), a.finish),
            (7, "team", false)
        );
        let Ok(Command::Record(a)) = args("--database-url sqlite://x.db c.jsonl") else {
            panic!("parses");
        };
        assert_eq!(a.database_url.as_deref(), Some("sqlite://x.db"));
        assert!(matches!(args("c.jsonl --help"), Ok(Command::Help)));
        for bad in [
            "",
            "c.jsonl --batch",
            "c.jsonl --batch x",
            "a b",
            "c.jsonl --run-id 7",
        ] {
            assert!(args(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("postgres://me:pw@db:5432/flowo?sslmode=require"),
            "postgres://me:***@db:5432/flowo?sslmode=require"
        );
        assert_eq!(redact("postgres://me@db/flowo"), "postgres://me@db/flowo");
        assert_eq!(redact("sqlite:///tmp/a@b/x.db"), "sqlite:///tmp/a@b/x.db");
    }

    #[test]
    fn error_lines_skip_a_bare_exception_name() {
        let line = error_line(
            Some("RuleException"),
            "RuleException:\nCalledProcessError in x",
        );
        assert_eq!(line, "RuleException: CalledProcessError in x");
        let line = error_line(Some("NameError"), "NameError in file S, line 4:\nname");
        assert_eq!(line, "NameError in file S, line 4:");
        assert_eq!(error_line(None, ""), "error: ");
    }

    #[test]
    fn errors_fit_on_one_line() {
        let e = anyhow!("inner\ntext").context("outer");
        assert_eq!(one_line(&e), "outer: inner text");
    }
}
