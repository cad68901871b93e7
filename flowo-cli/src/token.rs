//! `flowo token ...`: create, list and revoke API tokens, directly on the database.
//!
//! `create` prints the token alone on the last line of stdout (information before it), so
//! scripts can take it with `tail -n 1`. Only its hash is stored.

use std::collections::HashMap;

use anyhow::bail;
use clap::Subcommand;
use flowo_core::Store;
use flowo_core::account::{ApiToken, ApiTokenId, NewApiToken, Role, TokenScope};
use flowo_core::store::AuditAction;
use flowo_store::StoreOptions;

use crate::config::Global;
use crate::{audit, output, user, workspace};

/// Longest token validity, days (as the HTTP API allows).
const MAX_DAYS: u32 = 36_500;

/// `flowo token`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a token and print it (once).
    Create {
        /// The owner's e-mail address.
        #[arg(long)]
        user: String,
        /// A name for people ("ci", "cluster").
        #[arg(long)]
        name: String,
        /// What it may do: ingest (send events), read, or admin (admins only).
        #[arg(long, default_value = "ingest",
            value_parser = crate::words::<TokenScope>(crate::SCOPES))]
        scope: TokenScope,
        /// Limit it to this workspace (its owner must be a member, or an admin).
        #[arg(long)]
        workspace: Option<String>,
        /// Days until it expires (default: never).
        #[arg(long, value_name = "DAYS",
            value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DAYS)))]
        expires_in: Option<u32>,
    },
    /// List tokens (never their text).
    List {
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
        /// Print a JSON array (as the HTTP API returns).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token.
    Revoke {
        /// The token's id, the start of its id, its prefix (`flowo_abc123`) or the token itself.
        id_or_prefix: String,
    },
}

/// Runs `flowo token ...`.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let store = global.open_store(&StoreOptions::default()).await?;
    match args.command {
        Command::Create {
            user,
            name,
            scope,
            workspace,
            expires_in,
        } => {
            create(
                &*store,
                &user,
                &name,
                scope,
                workspace.as_deref(),
                expires_in,
            )
            .await
        }
        Command::List { user, json } => list(&*store, user.as_deref(), json).await,
        Command::Revoke { id_or_prefix } => revoke(&*store, &id_or_prefix).await,
    }
}

async fn create(
    store: &dyn Store,
    email: &str,
    name: &str,
    scope: TokenScope,
    workspace: Option<&str>,
    expires_in: Option<u32>,
) -> anyhow::Result<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 256 {
        bail!("a token needs a name of 1-256 characters");
    }
    let owner = user::find(store, email).await?;
    if scope == TokenScope::Admin && owner.role != Role::Admin {
        bail!(
            "only administrators can hold admin tokens ({} is {})",
            owner.email,
            owner.role
        );
    }
    let ws = match workspace {
        Some(name) => {
            let ws = workspace::find(store, name).await?;
            let member = owner.role == Role::Admin
                || store
                    .user_workspaces(owner.id)
                    .await?
                    .iter()
                    .any(|w| w.id == ws.id);
            if !member {
                bail!("{} is not a member of workspace {:?}", owner.email, ws.name);
            }
            Some(ws)
        }
        None => None,
    };
    let expires_at =
        expires_in.map(|days| chrono::Utc::now() + chrono::Duration::days(i64::from(days)));
    let plain = flowo_http::auth::generate_token();
    let token = store
        .create_token(NewApiToken {
            user_id: owner.id,
            name: name.to_owned(),
            scope,
            workspace_id: ws.as_ref().map(|w| w.id),
            prefix: plain.prefix.clone(),
            hash: plain.hash.clone(),
            expires_at,
        })
        .await?;
    let details = serde_json::json!({
        "name": token.name, "prefix": token.prefix, "scope": token.scope,
        "user_id": token.user_id, "owner": owner.email, "workspace_id": token.workspace_id,
        "expires_at": token.expires_at,
    });
    audit::record(
        store,
        AuditAction::TokenCreated,
        token.id.to_string(),
        details,
    )
    .await?;
    if owner.disabled {
        eprintln!(
            "warning: {} is disabled; the token works once they are enabled",
            owner.email
        );
    }
    output::line(format_args!(
        "created token {:?} for {} (id {}, prefix {})",
        token.name, owner.email, token.id, token.prefix
    ))?;
    output::line(format_args!(
        "scope {}, workspace {}, expires {}",
        token.scope,
        ws.as_ref().map_or("any", |w| w.name.as_str()),
        token.expires_at.map_or("never".to_owned(), output::time)
    ))?;
    output::line("store it now, it is not shown again:")?;
    output::line(&plain.token)
}

async fn list(store: &dyn Store, email: Option<&str>, json: bool) -> anyhow::Result<()> {
    let owner = match email {
        Some(email) => Some(user::find(store, email).await?.id),
        None => None,
    };
    let tokens = store.list_tokens(owner).await?;
    if json {
        return output::json(&tokens);
    }
    let emails: HashMap<_, _> = store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let workspaces: HashMap<_, _> = store
        .list_workspaces()
        .await?
        .into_iter()
        .map(|w| (w.id, w.name))
        .collect();
    let now = chrono::Utc::now();
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            let status = if t.revoked_at.is_some() {
                "revoked"
            } else if t.is_active(now) {
                "active"
            } else {
                "expired"
            };
            vec![
                t.prefix.clone(),
                t.name.clone(),
                emails.get(&t.user_id).cloned().unwrap_or_default(),
                t.scope.to_string(),
                t.workspace_id
                    .and_then(|w| workspaces.get(&w).cloned())
                    .unwrap_or_else(|| "any".to_owned()),
                status.to_owned(),
                t.expires_at.map_or("never".to_owned(), output::time),
                t.last_used_at.map_or("never".to_owned(), output::time),
                t.id.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "PREFIX",
            "NAME",
            "USER",
            "SCOPE",
            "WORKSPACE",
            "STATUS",
            "EXPIRES",
            "LAST USED",
            "ID",
        ],
        &rows,
    )
}

async fn revoke(store: &dyn Store, needle: &str) -> anyhow::Result<()> {
    let token = find(store, needle.trim()).await?;
    if store.revoke_token(token.id).await? {
        let details = serde_json::json!({
            "name": token.name, "prefix": token.prefix, "user_id": token.user_id,
        });
        audit::record(
            store,
            AuditAction::TokenRevoked,
            token.id.to_string(),
            details,
        )
        .await?;
        output::line(format_args!(
            "revoked token {:?} ({}, id {})",
            token.name, token.prefix, token.id
        ))
    } else {
        output::line(format_args!(
            "token {:?} ({}, id {}) was already revoked",
            token.name, token.prefix, token.id
        ))
    }
}

/// The one token a string names: its id, the start of its id (4 characters at least), its
/// display prefix, or the token itself. Among several matches, active tokens win.
async fn find(store: &dyn Store, needle: &str) -> anyhow::Result<ApiToken> {
    if let Ok(id) = uuid::Uuid::parse_str(needle) {
        return match store.token(ApiTokenId(id)).await? {
            Some(token) => Ok(token),
            None => bail!("token {needle} not found"),
        };
    }
    if needle.starts_with(flowo_http::auth::TOKEN_PREFIX) {
        let hash = flowo_http::auth::token_hash(needle);
        if let Some(token) = store.token_by_hash(&hash).await? {
            return Ok(token);
        }
    }
    if needle.chars().count() < 4 {
        bail!("{needle:?} is too short to name a token: give its id or prefix");
    }
    let needle_lower = needle.to_ascii_lowercase();
    let mut matches: Vec<ApiToken> = store
        .list_tokens(None)
        .await?
        .into_iter()
        .filter(|t| t.prefix == needle || t.id.to_string().starts_with(&needle_lower))
        .collect();
    if matches.len() > 1 {
        let now = chrono::Utc::now();
        let active: Vec<ApiToken> = matches
            .iter()
            .filter(|t| t.is_active(now))
            .cloned()
            .collect();
        if !active.is_empty() {
            matches = active;
        }
    }
    match matches.len() {
        0 => bail!("no token matches {needle:?}"),
        1 => Ok(matches.remove(0)),
        n => {
            let ids: Vec<String> = matches.iter().map(|t| t.id.to_string()).collect();
            bail!(
                "{n} tokens match {needle:?}; give the id: {}",
                ids.join(", ")
            )
        }
    }
}
