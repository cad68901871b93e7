//! FlowO's client side, shared by the `flowo` command and the Snakemake plugin (`flowo-py`):
//!
//! - [`config`]: the config file (`~/.config/flowo/config.toml`) that `flowo login` writes;
//! - [`target`]: where events go (the embedded store, a database URL or a server), resolved from
//!   settings, environment and the config file in one place;
//! - [`deliver`]: writing a batch of events to that target;
//! - [`sources`]: reading source files, log tails and benchmark files within size limits;
//! - [`spool`]: the on-disk queue that keeps what could not be delivered, and `flowo sync`;
//! - [`sink`]: the plugin's engine: a bounded queue drained by a background thread that batches,
//!   delivers, spools, replays and sends heartbeats, so that Snakemake never waits on FlowO.

pub mod api;
pub mod config;
pub mod deliver;
pub mod sink;
pub mod sources;
pub mod spool;
pub mod target;

pub use config::{ConfigError, FileConfig};
pub use deliver::{DeliveryError, Destination};
pub use target::Target;
