//! `flowo workspace ...`: create and list workspaces, add and remove members, directly on the
//! database.

use anyhow::bail;
use clap::Subcommand;
use flowo_core::store::AuditAction;
use flowo_core::{Store, Workspace};
use flowo_store::StoreOptions;

use crate::config::Global;
use serde_json::json;

use crate::{audit, output, user};

/// `flowo workspace`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a workspace.
    Create {
        /// 1-64 letters, digits, `-`, `_` or `.`.
        name: String,
    },
    /// List workspaces.
    List {
        /// Print a JSON array (as the HTTP API returns).
        #[arg(long)]
        json: bool,
    },
    /// Add a user to a workspace.
    AddMember {
        /// Workspace name.
        name: String,
        /// The user's e-mail address.
        email: String,
    },
    /// Remove a user from a workspace.
    RemoveMember {
        /// Workspace name.
        name: String,
        /// The user's e-mail address.
        email: String,
    },
}

/// Runs `flowo workspace ...`.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let store = global.open_store(&StoreOptions::default()).await?;
    match args.command {
        Command::Create { name } => {
            let ws = store.create_workspace(name.trim()).await?;
            let details = json!({ "workspace_id": ws.id });
            audit::record(&*store, AuditAction::WorkspaceCreated, &ws.name, details).await?;
            output::line(format_args!("created workspace {} (id {})", ws.name, ws.id))?;
        }
        Command::List { json } => {
            let workspaces = store.list_workspaces().await?;
            if json {
                output::json(&workspaces)?;
            } else {
                let mut rows = Vec::with_capacity(workspaces.len());
                for ws in &workspaces {
                    let members = store.members(ws.id).await?;
                    rows.push(vec![
                        ws.name.clone(),
                        members.len().to_string(),
                        output::time(ws.created_at),
                        ws.id.to_string(),
                    ]);
                }
                output::table(&["NAME", "MEMBERS", "CREATED", "ID"], &rows)?;
            }
        }
        Command::AddMember { name, email } => {
            let ws = find(&*store, &name).await?;
            let user = user::find(&*store, &email).await?;
            store.add_member(ws.id, user.id).await?;
            let details = json!({ "workspace": ws.name, "user_id": user.id });
            audit::record(&*store, AuditAction::MemberAdded, &user.email, details).await?;
            output::line(format_args!("{} is a member of {}", user.email, ws.name))?;
        }
        Command::RemoveMember { name, email } => {
            let ws = find(&*store, &name).await?;
            let user = user::find(&*store, &email).await?;
            if !store.remove_member(ws.id, user.id).await? {
                bail!("{} is not a member of workspace {:?}", user.email, ws.name);
            }
            let details = json!({ "workspace": ws.name, "user_id": user.id });
            audit::record(&*store, AuditAction::MemberRemoved, &user.email, details).await?;
            output::line(format_args!(
                "{} is no longer a member of {}",
                user.email, ws.name
            ))?;
        }
    }
    Ok(())
}

/// The workspace with this name, or an error naming it.
pub async fn find(store: &dyn Store, name: &str) -> anyhow::Result<Workspace> {
    match store.workspace_by_name(name.trim()).await? {
        Some(ws) => Ok(ws),
        None => bail!("workspace {:?} not found", name.trim()),
    }
}
