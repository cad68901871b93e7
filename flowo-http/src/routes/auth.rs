//! Login, logout, the one-time first-start login, and "who am I".

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use flowo_core::Workspace;
use flowo_core::account::{User, UserId};
use serde::{Deserialize, Serialize};

use crate::auth::{self, CSRF_COOKIE, Principal, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use crate::extract;
use crate::state::AppState;

/// Login with e-mail and password.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// E-mail.
    #[schema(max_length = 254)]
    pub email: String,
    /// Password.
    #[schema(max_length = 1024)]
    pub password: String,
}

/// A new session. The JWT is also set as the HttpOnly session cookie; scripts may send it as a
/// bearer instead.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    /// The user.
    pub user: User,
    /// The session JWT.
    pub token: String,
    /// Cookie-authenticated writes must send this in `X-CSRF-Token`.
    pub csrf_token: String,
    /// When the session ends.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Redeem the one-time first-start login token.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct FirstLoginRequest {
    /// The token from the link `flowo serve` printed.
    #[schema(max_length = 256)]
    pub token: String,
}

/// The caller.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The user.
    pub user: User,
    /// Workspaces they may read: their memberships, or every workspace for an admin.
    pub workspaces: Vec<Workspace>,
    /// `session`, `bearer` or `token`.
    pub credential: String,
}

/// Settings key prefix under which a one-time login token's hash maps to a user id.
pub const FIRST_LOGIN_SETTING: &str = "first_login:";

/// The session cookie (HttpOnly: scripts never see the JWT; `SameSite=Lax`: a link from
/// elsewhere opens the dashboard logged in, while other sites' writes carry no cookie) and the
/// CSRF cookie (readable by the dashboard's scripts, `SameSite=Strict`); both `Secure` with
/// `secure_cookies`. Empty values: the cookies that remove them (logout).
fn session_cookies(
    state: &AppState,
    jwt: String,
    csrf: String,
) -> (Cookie<'static>, Cookie<'static>) {
    let secure = state.config().secure_cookies;
    let mut session = Cookie::new(SESSION_COOKIE, jwt);
    session.set_http_only(true);
    session.set_same_site(SameSite::Lax);
    session.set_secure(secure);
    session.set_path("/");
    let mut readable = Cookie::new(CSRF_COOKIE, csrf);
    readable.set_http_only(false);
    readable.set_same_site(SameSite::Strict);
    readable.set_secure(secure);
    readable.set_path("/");
    (session, readable)
}

async fn start_session(
    state: &AppState,
    jar: CookieJar,
    user: User,
) -> ApiResult<(CookieJar, Json<SessionResponse>)> {
    let session = auth::issue_session(state, user.id)?;
    let (cookie, csrf) = session_cookies(state, session.jwt.clone(), session.csrf.clone());
    let jar = jar.add(cookie).add(csrf);
    Ok((
        jar,
        Json(SessionResponse {
            user,
            token: session.jwt,
            csrf_token: session.csrf,
            expires_at: session.expires_at,
        }),
    ))
}

/// Logs in with e-mail and password; rate limited per e-mail.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, body = SessionResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    extract::Json(req): extract::Json<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    state
        .config()
        .limits
        .check_login(&req.email, &req.password)?;
    let email = req.email.trim().to_lowercase();
    if !state.allow_login_attempt(&email) {
        return Err(ApiError::too_many(
            "too many login attempts for this account; wait a few minutes",
        ));
    }
    let denied = || ApiError::unauthorized("wrong e-mail or password");
    let creds = state.store().user_credentials(&email).await?;
    let Some(creds) = creds else {
        // Spend the same time as a real check, so that timing does not reveal accounts.
        let _ = auth::hash_password(&req.password);
        return Err(denied());
    };
    let ok = creds
        .password_hash
        .as_deref()
        .is_some_and(|h| auth::verify_password(&req.password, h));
    if !ok || creds.user.disabled {
        return Err(denied());
    }
    start_session(&state, jar, creds.user).await
}

/// Redeems the one-time login token printed by `flowo serve` on a fresh store.
#[utoipa::path(post, path = "/api/v1/auth/first-login", tag = "auth", request_body = FirstLoginRequest, security(()),
    responses((status = 200, body = SessionResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn first_login(
    State(state): State<AppState>,
    jar: CookieJar,
    extract::Json(req): extract::Json<FirstLoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let denied = || ApiError::unauthorized("this login link is invalid or was used already");
    state.config().limits.check_short("token", &req.token)?;
    if !state.allow_login_attempt("first-login") {
        return Err(ApiError::too_many("too many attempts; wait a few minutes"));
    }
    let key = format!(
        "{FIRST_LOGIN_SETTING}{}",
        auth::token_hash(req.token.trim())
    );
    let store = state.store();
    let user_id = store.setting(&key).await?.ok_or_else(denied)?;
    if !store.remove_setting(&key).await? {
        return Err(denied());
    }
    let id = uuid::Uuid::parse_str(&user_id).map_err(|_| denied())?;
    let user = store
        .user(UserId(id))
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(denied)?;
    start_session(&state, jar, user).await
}

/// Ends the browser session (clears the cookies, with the attributes they were set with).
/// Bearer sessions simply expire. Refused (403) when the browser says another site sent it.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(()),
    responses((status = 204, description = "logged out"), (status = 403, body = crate::error::ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
) -> ApiResult<impl IntoResponse> {
    auth::refuse_cross_site(&headers)?;
    let (session, csrf) = session_cookies(&state, String::new(), String::new());
    let jar = jar.remove(session).remove(csrf);
    Ok((jar, StatusCode::NO_CONTENT))
}

/// The caller and their workspaces.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn get_me(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Me>> {
    let all = state.store().list_workspaces().await?;
    let workspaces = match principal.readable_workspaces() {
        None => all,
        Some(ids) => all.into_iter().filter(|w| ids.contains(&w.id)).collect(),
    };
    let credential = match principal.credential {
        auth::Credential::Session => "session",
        auth::Credential::Bearer => "bearer",
        auth::Credential::Token { .. } => "token",
    };
    Ok(Json(Me {
        user: principal.user,
        workspaces,
        credential: credential.to_owned(),
    }))
}
