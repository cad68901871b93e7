//! `flowo runs ...`: runs as the server or database holds them: `list`, `show`, `watch`, and
//! `prune` (retention).
//!
//! These commands read from the client target (`--url`, `flowo login`, else the database), see
//! [`crate::reader`]. Times are shown in UTC.

mod list;
mod prune;
mod show;
mod watch;

use clap::Subcommand;
use flowo_core::Run;

use crate::config::Global;

/// `flowo runs`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List runs, most recently started first.
    List(list::Args),
    /// Show one run: its state, rules and errors.
    Show(show::Args),
    /// Follow a run live until it ends (exit 0 if it succeeded, 1 otherwise).
    Watch(watch::Args),
    /// Delete runs whose latest event is older than a given age (retention).
    Prune(prune::Args),
}

/// Runs `flowo runs ...`; the exit status.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<u8> {
    match args.command {
        Command::List(args) => list::run(args, global).await.map(|()| 0),
        Command::Show(args) => show::run(args, global).await.map(|()| 0),
        Command::Watch(args) => watch::run(args, global).await,
        Command::Prune(args) => prune::run(args, global).await.map(|()| 0),
    }
}

/// A run's id as people read it: its first 8 hex digits.
fn short_id(run: &Run) -> String {
    run.id.0.simple().to_string()[..crate::reader::MIN_PREFIX].to_owned()
}

/// A run's name, else its working directory, else `-`.
fn name(run: &Run) -> String {
    run.name
        .clone()
        .or_else(|| run.workdir.clone())
        .unwrap_or_else(|| "-".to_owned())
}

/// How long the run took (or has been running), for people: `42s`, `3m 07s`, `2h 05m`.
fn duration(run: &Run) -> String {
    let Some(start) = run.started_at else {
        return "-".to_owned();
    };
    let end = match run.status {
        flowo_core::RunStatus::Running => chrono::Utc::now(),
        _ => run.finished_at.or(run.last_event_at).unwrap_or(start),
    };
    human_duration((end - start).num_seconds())
}

fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `done/total`.
fn progress(run: &Run) -> String {
    format!("{}/{}", run.done, run.total)
}

/// The status word, `(dry run)` appended for dry runs.
fn status(run: &Run) -> String {
    if run.dry_run {
        format!("{} (dry run)", run.status.as_str())
    } else {
        run.status.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(-3), "0s");
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(187), "3m 07s");
        assert_eq!(human_duration(7500), "2h 05m");
        assert_eq!(human_duration(90_000), "1d 01h");
    }
}
