//! Accounts: users, roles, workspace memberships and API tokens.
//!
//! Only hashes of secrets live here: password hashes (argon2id, made by the HTTP layer) and
//! SHA-256 hashes of API tokens. The plain token is shown once, when it is created.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;
use crate::ids::WorkspaceId;
use crate::model::UnknownStatus;

/// A user id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
#[serde(transparent)]
pub struct UserId(pub Uuid);

/// An API token id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
#[serde(transparent)]
pub struct ApiTokenId(pub Uuid);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ApiTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! words {
    ($ty:ident { $($variant:ident => $word:literal),* $(,)? }) => {
        impl $ty {
            /// The word used in SQL, JSON, the CLI and the UI.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $word),* }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($ty::$variant),)*
                    other => Err(UnknownStatus(other.to_owned())),
                }
            }
        }
    };
}

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, in every workspace.
    Admin,
    /// Read and write in the workspaces they are a member of.
    Member,
    /// Read only, in the workspaces they are a member of.
    Viewer,
}
words!(Role { Admin => "admin", Member => "member", Viewer => "viewer" });

/// What an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Write events only (for compute nodes).
    Ingest,
    /// Read what its user may read.
    Read,
    /// Everything its user may do.
    Admin,
}
words!(TokenScope { Ingest => "ingest", Read => "read", Admin => "admin" });

/// A user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Unique, lower-cased e-mail address (the login name).
    pub email: String,
    /// Role.
    pub role: Role,
    /// A disabled user cannot log in and their tokens stop working.
    pub disabled: bool,
    /// When created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A user with their password hash, for login only.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// PHC-format password hash, if a password is set.
    pub password_hash: Option<String>,
}

impl fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCredentials")
            .field("user", &self.user)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// An API token as stored (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    /// Id.
    pub id: ApiTokenId,
    /// Owner.
    pub user_id: UserId,
    /// A name for people.
    pub name: String,
    /// Scope.
    pub scope: TokenScope,
    /// The workspace it is limited to (ingest tokens write runs there), if any.
    pub workspace_id: Option<WorkspaceId>,
    /// The first characters of the token, to recognise it in lists.
    pub prefix: String,
    /// When created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was last used.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ApiToken {
    /// Whether the token may be used at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}

/// A new token to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApiToken {
    /// Owner.
    pub user_id: UserId,
    /// Name.
    pub name: String,
    /// Scope.
    pub scope: TokenScope,
    /// Workspace limit.
    pub workspace_id: Option<WorkspaceId>,
    /// Display prefix.
    pub prefix: String,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// Expiry.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A workspace member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// The user.
    pub user: User,
    /// When they joined.
    pub added_at: chrono::DateTime<chrono::Utc>,
}
