//! `flowo user ...`: create, list, change role, disable/enable and set passwords, directly on
//! the database.

use std::io::BufRead;

use anyhow::{Context, bail};
use clap::Subcommand;
use flowo_core::Store;
use flowo_core::account::{Role, User};
use flowo_core::store::{AuditAction, UserUpdate};
use flowo_store::StoreOptions;

use crate::config::Global;
use crate::{audit, output};

/// `flowo user`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a user.
    Create {
        /// E-mail address (the login name).
        email: String,
        /// Role.
        #[arg(long, default_value = "member", value_parser = crate::words::<Role>(crate::ROLES))]
        role: Role,
        /// Read a password (first line) from stdin; without it the user cannot log in with a
        /// password until one is set.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// Print a JSON array (as the HTTP API returns).
        #[arg(long)]
        json: bool,
    },
    /// Change a user's role.
    SetRole {
        /// E-mail address.
        email: String,
        /// New role.
        #[arg(value_parser = crate::words::<Role>(crate::ROLES))]
        role: Role,
    },
    /// Disable a user: they cannot log in and their tokens stop working.
    Disable {
        /// E-mail address.
        email: String,
    },
    /// Enable a disabled user.
    Enable {
        /// E-mail address.
        email: String,
    },
    /// Set a user's password, read (first line) from stdin.
    SetPassword {
        /// E-mail address.
        email: String,
        /// Read the password from stdin (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// Runs `flowo user ...`.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    // Read the password before touching the database, so a bad one changes nothing.
    let password_hash = match &args.command {
        Command::Create {
            password_stdin: true,
            ..
        }
        | Command::SetPassword { .. } => Some(read_password_hash()?),
        _ => None,
    };
    let store = global.open_store(&StoreOptions::default()).await?;
    match args.command {
        Command::Create { email, role, .. } => {
            let user = store
                .create_user(&email, role, password_hash.as_deref())
                .await?;
            let details = serde_json::json!({
                "user_id": user.id, "role": user.role, "password_set": password_hash.is_some(),
            });
            audit::record(&*store, AuditAction::UserCreated, &user.email, details).await?;
            output::line(format_args!(
                "created user {} ({}, id {})",
                user.email, user.role, user.id
            ))?;
            if password_hash.is_none() {
                output::line(format_args!(
                    "no password set: use `flowo user set-password {} --password-stdin`",
                    user.email
                ))?;
            }
        }
        Command::List { json } => {
            let users = store.list_users().await?;
            if json {
                output::json(&users)?;
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.email.clone(),
                            u.role.to_string(),
                            if u.disabled { "disabled" } else { "active" }.to_owned(),
                            output::time(u.created_at),
                            u.id.to_string(),
                        ]
                    })
                    .collect();
                output::table(&["EMAIL", "ROLE", "STATUS", "CREATED", "ID"], &rows)?;
            }
        }
        Command::SetRole { email, role } => {
            let user = update(
                &*store,
                &email,
                UserUpdate {
                    role: Some(role),
                    ..UserUpdate::default()
                },
            )
            .await?;
            output::line(format_args!("{} is now {}", user.email, user.role))?;
        }
        Command::Disable { email } => {
            let user = update(
                &*store,
                &email,
                UserUpdate {
                    disabled: Some(true),
                    ..UserUpdate::default()
                },
            )
            .await?;
            output::line(format_args!("disabled {}", user.email))?;
        }
        Command::Enable { email } => {
            let user = update(
                &*store,
                &email,
                UserUpdate {
                    disabled: Some(false),
                    ..UserUpdate::default()
                },
            )
            .await?;
            output::line(format_args!("enabled {}", user.email))?;
        }
        Command::SetPassword { email, .. } => {
            let user = update(
                &*store,
                &email,
                UserUpdate {
                    password_hash: Some(password_hash),
                    ..UserUpdate::default()
                },
            )
            .await?;
            output::line(format_args!("password set for {}", user.email))?;
        }
    }
    Ok(())
}

/// The user with this e-mail, or an error naming it.
pub async fn find(store: &dyn Store, email: &str) -> anyhow::Result<User> {
    match store.user_credentials(email.trim()).await? {
        Some(creds) => Ok(creds.user),
        None => bail!("user {:?} not found", email.trim()),
    }
}

/// Changes a user and records in the audit log what changed.
async fn update(store: &dyn Store, email: &str, update: UserUpdate) -> anyhow::Result<User> {
    let before = find(store, email).await?;
    flowo_http::auth::check_keeps_an_admin(store, before.id, update.role, update.disabled)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let password_set = update.password_hash.is_some();
    let after = store.update_user(before.id, update).await?;
    let changes = flowo_http::routes::audit::user_update_entries(&before, &after, password_set);
    for (action, details) in changes {
        audit::record(store, action, &after.email, details).await?;
    }
    Ok(after)
}

/// Reads the first line of stdin as a password, checks it as the HTTP API does and hashes it.
fn read_password_hash() -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("cannot read the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']);
    flowo_http::auth::check_password(password).map_err(|e| anyhow::anyhow!(e.message))?;
    flowo_http::auth::hash_password(password).map_err(|e| anyhow::anyhow!(e.message))
}
