//! `flowo db ...`: database maintenance. Opening a store applies its pending migrations, so
//! `migrate` opens it and says where; `backup` copies the embedded store while it is in use
//! (PostgreSQL is backed up with `pg_dump`).

use clap::Subcommand;
use flowo_store::StoreOptions;

use crate::config::{Global, mask_url};
use crate::output;

/// `flowo db`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Copy the embedded SQLite store, consistently, while the server runs (PostgreSQL: use
    /// pg_dump).
    Backup {
        /// The new file to write (it must not exist).
        path: std::path::PathBuf,
    },
}

/// Runs `flowo db ...`.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    match args.command {
        Command::Migrate => {
            let url = global.database_url()?;
            let _store = crate::config::open_store(&url, &StoreOptions::default()).await?;
            output::line(format_args!(
                "the database is up to date: {}",
                mask_url(&url)
            ))
        }
        Command::Backup { path } => {
            let url = global.database_url()?;
            flowo_store::backup(&url, &path).await?;
            output::line(format_args!(
                "backed up {} to {}",
                mask_url(&url),
                path.display()
            ))
        }
    }
}
