//! `flowo audit ...`: the audit log of administrative actions, read directly from the
//! database; and [`record`], with which the admin commands (`flowo user|workspace|token`,
//! `flowo runs prune` on a database) log what they changed, as the actor `cli`.

use clap::Subcommand;
use flowo_core::Store;
use flowo_core::store::{AuditAction, AuditEntry, AuditQuery, CLI_ACTOR, MAX_PAGE, NewAuditEntry};
use flowo_store::StoreOptions;

use crate::config::Global;
use crate::output;

/// `flowo audit`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List recorded actions, newest first: who created, changed, revoked or deleted what.
    List {
        /// Show at most this many entries.
        #[arg(long, default_value_t = 100, value_name = "N",
            value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
        /// Print a JSON array of entries (as the HTTP API's `items`).
        #[arg(long)]
        json: bool,
    },
}

/// Runs `flowo audit ...`.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let store = global.open_store(&StoreOptions::default()).await?;
    match args.command {
        Command::List { limit, json } => {
            let entries = newest(&*store, limit).await?;
            if json {
                return output::json(&entries);
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        output::time(e.at),
                        e.actor.clone(),
                        e.action.to_string(),
                        e.target.clone(),
                        e.details.to_string(),
                    ]
                })
                .collect();
            output::table(&["TIME", "ACTOR", "ACTION", "TARGET", "DETAILS"], &rows)
        }
    }
}

/// The newest `limit` entries, newest first (read page by page).
async fn newest(store: &dyn Store, limit: u32) -> anyhow::Result<Vec<AuditEntry>> {
    let mut entries = Vec::new();
    let mut cursor = None;
    while entries.len() < limit as usize {
        let left = u32::try_from(limit as usize - entries.len()).unwrap_or(MAX_PAGE);
        let page = store
            .list_audit(&AuditQuery {
                cursor,
                limit: left.min(MAX_PAGE),
            })
            .await?;
        entries.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(entries)
}

/// Records an action of a `flowo` command on the database (actor `cli`). `details` must hold
/// no secret.
pub async fn record(
    store: &dyn Store,
    action: AuditAction,
    target: impl Into<String>,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    store
        .record_audit(NewAuditEntry {
            actor_id: None,
            actor: CLI_ACTOR.to_owned(),
            action,
            target: target.into(),
            details,
        })
        .await?;
    Ok(())
}
