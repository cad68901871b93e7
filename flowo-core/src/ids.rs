//! Identifier newtypes, so that a run id can never be passed where a workspace id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

uuid_id!(
    /// One Snakemake invocation, as chosen by the producer (the plugin makes it before Snakemake
    /// parses the Snakefile, so runs that fail to parse have one too).
    RunId
);
uuid_id!(
    /// A workspace: the unit of ownership and visibility for runs.
    WorkspaceId
);

/// A Snakemake job id: unique only within one run (Snakemake's `jobid`).
pub type JobId = u64;

/// A producer-assigned position of an event within its run, starting at 0.
pub type Seq = u64;

/// A position in the store's global event stream: strictly increasing in commit order.
pub type StreamPos = i64;
