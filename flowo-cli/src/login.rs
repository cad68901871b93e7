//! `flowo login`: saves a server's URL and an API token in the config file, for the client
//! commands and the Snakemake plugin, after checking the token with the server.
//!
//! The token is read from stdin when stdin is not a terminal (`flowo login --url URL <
//! token.txt`), else asked for without echo; never from a flag, which `ps` and shell history
//! would show. Nothing is written unless the server accepts the token.

use anyhow::{Context, bail};
use flowo_client::api::ApiClient;
use flowo_client::config::{config_path, save_login};
use flowo_client::target::is_database_url;

use crate::config::Global;
use crate::output;

/// `flowo login`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Give the server with the global --url (or FLOWO_URL); without it, the \
    config file's url is used again. The token is read from stdin when it is not a terminal, \
    else asked for."
)]
pub struct Args {
    /// The workspace new runs are recorded in.
    #[arg(long)]
    workspace: Option<String>,
}

/// Runs `flowo login`.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    let Some(url) = global
        .url()
        .map(str::to_owned)
        .or_else(|| global.file.url.clone().filter(|u| !u.trim().is_empty()))
    else {
        bail!("which server? give it with --url https://HOST[:PORT]");
    };
    if is_database_url(&url) {
        bail!(
            "login is for FlowO servers, and {} is a database: give it to the other commands \
             with --url or --database-url, or set database_url in the config file",
            crate::config::mask_url(&url)
        );
    }
    let workspace = args.workspace.map(|w| w.trim().to_owned());
    if workspace.as_deref().is_some_and(str::is_empty) {
        bail!("the workspace name is empty");
    }
    let path = config_path()
        .context("no config directory is known (neither XDG_CONFIG_HOME nor HOME is set)")?;
    let api = ApiClient::new(&url, None)?;
    let token = read_token(api.url())?;
    let api = ApiClient::new(api.url(), Some(token.clone()))?;
    let me = match api.me().await {
        Ok(me) => me,
        Err(e) if e.is_unauthorized() => {
            bail!("{} refused this token; nothing was saved ({e})", api.url())
        }
        Err(e) if e.is_unreachable() => bail!("{e}; nothing was saved"),
        Err(e) => bail!("cannot check the token: {e}; nothing was saved"),
    };
    save_login(&path, api.url(), &token, workspace.as_deref())?;
    let workspaces: Vec<&str> = me.workspaces.iter().map(|w| w.name.as_str()).collect();
    output::line(format_args!(
        "Logged in to {} as {} ({}, {} credential); readable workspaces: {}",
        api.url(),
        me.user.email,
        me.user.role.as_str(),
        me.credential,
        if workspaces.is_empty() {
            "none".to_owned()
        } else {
            workspaces.join(", ")
        }
    ))?;
    if let Some(ws) = &workspace {
        output::line(format_args!("New runs will be recorded in workspace {ws}."))?;
    }
    output::line(format_args!("Saved to {}", path.display()))
}

/// The token: stdin's first line when stdin is not a terminal, else typed without echo.
fn read_token(url: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    let token = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("API token for {url}: "))
            .context("cannot read the token from the terminal")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the token from stdin")?;
        line
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("no token given; nothing was saved");
    }
    Ok(token)
}
