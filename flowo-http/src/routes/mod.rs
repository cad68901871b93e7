//! The API's routes, one module per resource; handlers are named `<verb>_<resource>`, which are
//! also their OpenAPI operation ids.

pub mod audit;
pub mod auth;
pub mod events;
pub mod health;
pub mod runs;
pub mod stats;
pub mod stream;
pub mod tokens;
pub mod users;
pub mod workspaces;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use tower_http::decompression::RequestDecompressionLayer;

use crate::state::{AppState, Limits};

/// Every `/api/v1` route.
pub fn api(limits: &Limits) -> Router<AppState> {
    // Gzip bodies are accepted on ingest; the body limit counts decompressed bytes.
    let ingest = Router::new()
        .route("/events", post(events::ingest_events))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(RequestDecompressionLayer::new());
    // Every other body is small (logins, users, tokens, workspaces).
    let other = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/first-login", post(auth::first_login))
        .route("/auth/me", get(auth::get_me))
        .route("/runs", get(runs::list_runs))
        .route(
            "/runs/{run_id}",
            get(runs::get_run).delete(runs::delete_run),
        )
        .route("/runs/{run_id}/jobs", get(runs::list_jobs))
        .route("/runs/{run_id}/jobs/{job_id}", get(runs::get_job))
        .route("/runs/{run_id}/job-briefs", get(runs::list_job_briefs))
        .route("/runs/{run_id}/rules", get(runs::list_rules))
        .route("/runs/{run_id}/graph", get(runs::get_rule_graph))
        .route("/runs/{run_id}/timeline", get(runs::get_timeline))
        .route("/runs/{run_id}/errors", get(runs::list_errors))
        .route("/runs/{run_id}/sources", get(runs::list_sources))
        .route("/runs/{run_id}/events", get(events::list_run_events))
        .route("/stats", get(stats::get_stats))
        .route("/stream", get(stream::get_stream))
        .route(
            "/workspaces",
            get(workspaces::list_workspaces).post(workspaces::create_workspace),
        )
        .route("/workspaces/{name}/members", get(workspaces::list_members))
        .route(
            "/workspaces/{name}/members/{email}",
            put(workspaces::add_member).delete(workspaces::remove_member),
        )
        .route("/users", get(users::list_users).post(users::create_user))
        .route("/users/{user_id}", patch(users::update_user))
        .route(
            "/tokens",
            get(tokens::list_tokens).post(tokens::create_token),
        )
        .route("/tokens/{token_id}", delete(tokens::revoke_token))
        .route("/audit", get(audit::list_audit))
        .route("/openapi.json", get(crate::openapi::get_openapi))
        .layer(DefaultBodyLimit::max(limits.max_small_body_bytes));
    Router::new().merge(ingest).merge(other)
}
