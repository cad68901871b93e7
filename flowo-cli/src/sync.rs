//! `flowo sync`: delivers what the Snakemake plugin spooled when its target was unreachable,
//! each run to the target its spool file names (see [`flowo_client::spool`]), with a progress
//! bar on a terminal and one summary line in any case.
//!
//! Exit status 0 when nothing failed, 1 otherwise, after naming each file that failed and why.
//! Files still being written by a running Snakemake are skipped (and said so). Unreadable lines
//! (a damaged file) are skipped, the rest delivered, and a warning per file says how many and
//! where they were copied (`<run_id>.bad.jsonl` in the spool directory).

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context, bail};
use flowo_client::spool::{Spool, SyncProgress};
use flowo_core::RunId;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Global;
use crate::output;

/// `flowo sync`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The spool directory [default: spool in FlowO's data directory].
    #[arg(long, value_name = "DIR")]
    spool_dir: Option<PathBuf>,
}

/// Runs `flowo sync`; the exit status.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<u8> {
    let explicit = args.spool_dir.is_some();
    let dir = args
        .spool_dir
        .or_else(Spool::default_dir)
        .context("no data directory is known (HOME is not set): give the spool with --spool-dir")?;
    if !dir.is_dir() {
        if explicit {
            bail!("no spool directory at {}", dir.display());
        }
        output::line(format_args!(
            "nothing to deliver: there is no spool at {}",
            dir.display()
        ))?;
        return Ok(0);
    }
    let spool =
        Spool::open(&dir).with_context(|| format!("cannot open the spool {}", dir.display()))?;
    let pending = spool
        .pending()
        .with_context(|| format!("cannot read the spool {}", dir.display()))?;
    if pending.is_empty() {
        output::line(format_args!("nothing to deliver in {}", dir.display()))?;
        return Ok(0);
    }
    let total: u64 = pending.iter().filter(|e| !e.in_use).map(|e| e.events).sum();

    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} delivering [{wide_bar}] {pos}/{len} events {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut delivered: HashMap<RunId, u64> = HashMap::new();
    let mut progress = {
        let bar = bar.clone();
        move |p: &SyncProgress| {
            delivered.insert(p.run_id, p.delivered);
            let done: u64 = delivered.values().sum();
            if done > bar.length().unwrap_or(0) {
                bar.set_length(done);
            }
            bar.set_position(done);
            bar.set_message(format!("(run {})", &p.run_id.0.simple().to_string()[..8]));
        }
    };
    let report = flowo_client::spool::sync(&spool, &global.file, &mut progress).await;
    bar.finish_and_clear();

    let mut summary = format!(
        "delivered {} events of {} runs from {}",
        report.events_delivered,
        report.runs_delivered,
        dir.display()
    );
    if report.bad_lines > 0 {
        summary.push_str(&format!("; skipped {} unreadable lines", report.bad_lines));
    }
    if report.skipped_in_use > 0 {
        summary.push_str(&format!(
            "; {} runs still being written were left for later",
            report.skipped_in_use
        ));
    }
    if !report.failed.is_empty() {
        summary.push_str(&format!("; {} files failed", report.failed.len()));
    }
    output::line(summary)?;
    for bad in &report.bad_files {
        let _ = writeln!(std::io::stderr(), "warning: {bad}");
    }
    for (path, why) in &report.failed {
        let _ = writeln!(
            std::io::stderr(),
            "error: cannot deliver {}: {}",
            path.display(),
            why.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    Ok(if report.failed.is_empty() { 0 } else { 1 })
}
