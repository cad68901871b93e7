//! `flowo health`: whether the client target is ready, as an exit status, for container health
//! checks, load balancers and scripts. A server is ready when `GET /readyz` answers 200 (its
//! database answers); a database when it opens and answers a query. No token is needed.

use flowo_client::Target;
use flowo_client::api::ApiClient;

use crate::config::{Global, open_store};
use crate::output;
use crate::reader::describe;

/// `flowo health`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Give the server with the global --url (or FLOWO_URL), e.g. `flowo health --url \
    http://127.0.0.1:3100`; without one, the target of the other client commands is checked."
)]
pub struct Args {
    /// Print nothing when ready.
    #[arg(long, short)]
    quiet: bool,
}

/// Runs `flowo health`: 0 when ready, 1 (and one line on stderr saying why) when not.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<u8> {
    let (target, _) = global.target()?;
    let checked = match &target {
        Target::Server { url, .. } => match ApiClient::new(url, None) {
            Ok(api) => api.ready().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        Target::Database { url } => match open_store(url, &global.client_store_options()).await {
            Ok(store) => store.head().await.map(drop).map_err(|e| e.to_string()),
            Err(e) => Err(format!("{e:#}")),
        },
    };
    match checked {
        Ok(()) => {
            if !args.quiet {
                output::line(format_args!("ready: {}", describe(&target)))?;
            }
            Ok(0)
        }
        Err(why) => {
            eprintln!("not ready: {}: {why}", describe(&target));
            Ok(1)
        }
    }
}
