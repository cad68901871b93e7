//! Authentication and authorization.
//!
//! Three credentials: a browser session (a JWT in the HttpOnly `flowo_session` cookie, with a
//! CSRF token that writes must echo in `X-CSRF-Token`, and refused when the browser says
//! another site sent them), the same JWT as a bearer (scripts), and
//! API tokens (`flowo_…`, bearer; only their SHA-256 is stored). [`Principal`] is the extractor
//! every protected handler takes; its methods decide who may see or change what.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum_extra::extract::CookieJar;
use flowo_core::WorkspaceId;
use flowo_core::account::{ApiTokenId, Role, TokenScope, User, UserId};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Session cookie name.
pub const SESSION_COOKIE: &str = "flowo_session";
/// Readable cookie carrying the CSRF token for the dashboard's scripts.
pub const CSRF_COOKIE: &str = "flowo_csrf";
/// Header that cookie-authenticated writes must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Prefix of every API token.
pub const TOKEN_PREFIX: &str = "flowo_";

/// JWT signing keys.
pub(crate) struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl JwtKeys {
    pub(crate) fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

/// The claims of a session JWT.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The user.
    pub sub: uuid::Uuid,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// The CSRF token bound to this session.
    pub csrf: String,
}

/// A freshly issued session.
pub(crate) struct Session {
    pub jwt: String,
    pub csrf: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Issues a session JWT for a user.
pub(crate) fn issue_session(state: &AppState, user: UserId) -> ApiResult<Session> {
    let now = chrono::Utc::now();
    let expires_at = now + state.config().session_ttl;
    let csrf = random_hex(16);
    let claims = Claims {
        sub: user.0,
        exp: expires_at.timestamp(),
        iat: now.timestamp(),
        csrf: csrf.clone(),
    };
    let jwt = jsonwebtoken::encode(&Header::default(), &claims, &state.keys().encoding)
        .map_err(ApiError::internal)?;
    Ok(Session {
        jwt,
        csrf,
        expires_at,
    })
}

fn decode_session(state: &AppState, jwt: &str) -> ApiResult<Claims> {
    let mut validation = Validation::default();
    validation.leeway = 0;
    jsonwebtoken::decode::<Claims>(jwt, &state.keys().decoding, &validation)
        .map(|data| data.claims)
        .map_err(|_| ApiError::unauthorized("the session is invalid or expired; log in again"))
}

/// Hashes a password with argon2id.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The SHA-256 of a token, hex (what the store keeps).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new API token: the plain text (shown once), its display prefix and its hash.
pub struct PlainToken {
    /// `flowo_` and 40 hex characters.
    pub token: String,
    /// The first characters, to recognise it later.
    pub prefix: String,
    /// SHA-256, hex.
    pub hash: String,
}

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainToken")
            .field("prefix", &self.prefix)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Makes a new API token.
pub fn generate_token() -> PlainToken {
    let token = format!("{TOKEN_PREFIX}{}", random_hex(20));
    PlainToken {
        prefix: token[..TOKEN_PREFIX.len() + 6].to_owned(),
        hash: token_hash(&token),
        token,
    }
}

/// The e-mail of the administrator made on first start.
pub const FIRST_ADMIN: &str = "admin@localhost";

/// On a store without users: makes the first administrator (no password, member of
/// `default`) and a one-time login token for them, redeemed by `POST /api/v1/auth/first-login`.
/// `None` when users exist already (or another replica starting on the same database made the
/// administrator first), so the open door exists only until someone walks through it.
pub async fn bootstrap_first_admin(
    store: &dyn flowo_core::Store,
) -> Result<Option<String>, flowo_core::store::StoreError> {
    use flowo_core::store::StoreError;
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let admin = match store.create_user(FIRST_ADMIN, Role::Admin, None).await {
        Ok(admin) => admin,
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let workspace = store
        .ensure_workspace(flowo_core::model::DEFAULT_WORKSPACE)
        .await?;
    store.add_member(workspace.id, admin.id).await?;
    let token = random_hex(32);
    let key = format!(
        "{}{}",
        crate::routes::auth::FIRST_LOGIN_SETTING,
        token_hash(&token)
    );
    store.init_setting(&key, &admin.id.to_string()).await?;
    tracing::info!(admin = FIRST_ADMIN, "first start: administrator created");
    Ok(Some(token))
}

/// Minimum password length.
pub const MIN_PASSWORD: usize = 8;

/// The password policy with the default limits: 8 to 1024 characters (see
/// [`crate::Limits::check_password`]).
pub fn check_password(password: &str) -> ApiResult<()> {
    crate::Limits::default().check_password(password)
}

/// Refuses a change that would leave no enabled administrator (the install would lock itself
/// out).
pub async fn check_keeps_an_admin(
    store: &dyn flowo_core::Store,
    user: UserId,
    new_role: Option<Role>,
    disabled: Option<bool>,
) -> ApiResult<()> {
    let users = store.list_users().await?;
    let Some(target) = users.iter().find(|u| u.id == user) else {
        return Ok(());
    };
    let stays_admin =
        new_role.unwrap_or(target.role) == Role::Admin && !disabled.unwrap_or(target.disabled);
    let is_active_admin = target.role == Role::Admin && !target.disabled;
    if !is_active_admin || stays_admin {
        return Ok(());
    }
    let others = users
        .iter()
        .filter(|u| u.id != user && u.role == Role::Admin && !u.disabled)
        .count();
    if others == 0 {
        return Err(ApiError::conflict(
            "this is the last enabled administrator; make another one first",
        ));
    }
    Ok(())
}

/// How the caller authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// Browser session cookie.
    Session,
    /// Session JWT as a bearer.
    Bearer,
    /// API token.
    Token {
        /// Its id.
        id: ApiTokenId,
        /// Its scope.
        scope: TokenScope,
        /// The workspace it is limited to.
        workspace: Option<WorkspaceId>,
    },
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// How they authenticated.
    pub credential: Credential,
    /// Workspaces they are a member of.
    pub memberships: Vec<WorkspaceId>,
}

impl Principal {
    fn token_scope(&self) -> Option<TokenScope> {
        match &self.credential {
            Credential::Token { scope, .. } => Some(*scope),
            _ => None,
        }
    }

    fn token_allows_workspace(&self, ws: WorkspaceId) -> bool {
        match &self.credential {
            Credential::Token {
                workspace: Some(limit),
                ..
            } => *limit == ws,
            _ => true,
        }
    }

    fn member_or_admin(&self, ws: WorkspaceId) -> bool {
        self.user.role == Role::Admin || self.memberships.contains(&ws)
    }

    /// Whether the caller is an admin acting with full rights. A token limited to a workspace
    /// never has them, whatever its scope: it acts in that workspace only.
    pub fn is_admin(&self) -> bool {
        let limited = matches!(
            self.credential,
            Credential::Token {
                workspace: Some(_),
                ..
            }
        );
        self.user.role == Role::Admin
            && matches!(self.token_scope(), None | Some(TokenScope::Admin))
            && !limited
    }

    /// 403 unless [`Principal::is_admin`].
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs an administrator"))
        }
    }

    /// Whether the caller may read a workspace's runs.
    pub fn can_read(&self, ws: WorkspaceId) -> bool {
        self.token_scope() != Some(TokenScope::Ingest)
            && self.token_allows_workspace(ws)
            && self.member_or_admin(ws)
    }

    /// The workspaces whose runs the caller may read (`None`: all).
    pub fn readable_workspaces(&self) -> Option<Vec<WorkspaceId>> {
        if self.token_scope() == Some(TokenScope::Ingest) {
            return Some(Vec::new());
        }
        let limit = match &self.credential {
            Credential::Token {
                workspace: Some(ws),
                ..
            } => Some(*ws),
            _ => None,
        };
        match (self.user.role, limit) {
            (Role::Admin, None) => None,
            (Role::Admin, Some(ws)) => Some(vec![ws]),
            (_, Some(ws)) => Some(
                self.memberships
                    .iter()
                    .copied()
                    .filter(|m| *m == ws)
                    .collect(),
            ),
            (_, None) => Some(self.memberships.clone()),
        }
    }

    /// Whether the caller may send events into a workspace.
    pub fn can_ingest(&self, ws: WorkspaceId) -> bool {
        self.token_scope() != Some(TokenScope::Read)
            && self.user.role != Role::Viewer
            && self.token_allows_workspace(ws)
            && self.member_or_admin(ws)
    }

    /// Whether the caller may change a workspace's runs (delete them).
    pub fn can_modify(&self, ws: WorkspaceId) -> bool {
        matches!(self.token_scope(), None | Some(TokenScope::Admin))
            && self.user.role != Role::Viewer
            && self.token_allows_workspace(ws)
            && self.member_or_admin(ws)
    }

    /// Whether the caller may manage their own account (tokens): any session, or an admin
    /// token.
    pub fn can_manage_self(&self) -> bool {
        matches!(self.token_scope(), None | Some(TokenScope::Admin))
    }

    /// 404 for a workspace the caller may not read (not 403, so that ids do not leak).
    pub fn require_read(&self, ws: WorkspaceId, what: &str) -> ApiResult<()> {
        if self.can_read(ws) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("{what} not found")))
        }
    }
}

/// The browser's `Sec-Fetch-Site` header, which pages cannot set.
const FETCH_SITE: &str = "sec-fetch-site";

/// 403 for a request a browser says another site made (`Sec-Fetch-Site: cross-site`, or
/// `same-site`: a sibling subdomain is another application). Checked on cookie-authenticated
/// writes (and logout) besides the CSRF token: a second, independent proof. Browsers that do
/// not send the header rely on the token alone; a proxy cannot change the header's meaning.
pub(crate) fn refuse_cross_site(headers: &axum::http::HeaderMap) -> ApiResult<()> {
    let site = headers
        .get(FETCH_SITE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
        return Err(ApiError::forbidden(
            "a cookie-authenticated write from another site (Sec-Fetch-Site) is refused",
        ));
    }
    Ok(())
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

async fn principal_for(
    state: &AppState,
    user: UserId,
    credential: Credential,
) -> ApiResult<Principal> {
    let store = state.store();
    let user = store
        .user(user)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| ApiError::unauthorized("the account does not exist or is disabled"))?;
    let memberships = store
        .user_workspaces(user.id)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    Ok(Principal {
        user,
        credential,
        memberships,
    })
}

/// Authenticates a request (used by the extractor and by the SSE endpoint).
pub async fn authenticate(parts: &Parts, state: &AppState) -> ApiResult<Principal> {
    if let Some(value) = bearer(parts) {
        if value.starts_with(TOKEN_PREFIX) {
            let store = state.store();
            let token = store
                .token_by_hash(&token_hash(value))
                .await?
                .ok_or_else(|| ApiError::unauthorized("unknown API token"))?;
            let now = chrono::Utc::now();
            if token.revoked_at.is_some() {
                return Err(ApiError::unauthorized("this API token was revoked"));
            }
            if !token.is_active(now) {
                return Err(ApiError::unauthorized("this API token has expired"));
            }
            // Record use at most once a minute, to keep reads from writing.
            if token
                .last_used_at
                .is_none_or(|t| now - t > chrono::Duration::seconds(60))
            {
                store.touch_token(token.id, now).await?;
            }
            let credential = Credential::Token {
                id: token.id,
                scope: token.scope,
                workspace: token.workspace_id,
            };
            return principal_for(state, token.user_id, credential).await;
        }
        let claims = decode_session(state, value)?;
        return principal_for(state, UserId(claims.sub), Credential::Bearer).await;
    }
    let jar = CookieJar::from_headers(&parts.headers);
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        let claims = decode_session(state, cookie.value())?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            refuse_cross_site(&parts.headers)?;
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if sent.is_empty() || sent != claims.csrf {
                return Err(ApiError::forbidden(
                    "missing or wrong X-CSRF-Token header for a cookie-authenticated write",
                ));
            }
        }
        return principal_for(state, UserId(claims.sub), Credential::Session).await;
    }
    Err(ApiError::unauthorized(
        "log in, or send `Authorization: Bearer <token>`",
    ))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await
    }
}
