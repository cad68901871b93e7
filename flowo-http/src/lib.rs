//! FlowO's HTTP server, a library first: [`router`] builds the whole axum application for a
//! store, so a Rust program can mount it in its own server; [`serve`] runs it on a bound
//! listener with graceful shutdown.
//!
//! The API lives under `/api/v1` (JSON, one error envelope for every error, see [`error`]);
//! `/healthz`, `/readyz`, `/metrics` sit at the root; every other path is the dashboard's (see
//! [`dashboard`]), embedded in the binary at compile time.

pub mod auth;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod security;
pub mod state;

use std::future::Future;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;

pub use dashboard::Dashboard;
pub use error::{ApiError, ApiResult};
pub use state::{AppState, HttpConfig, Limits};

/// The application: API, health, metrics, and the dashboard ([`HttpConfig::dashboard`]) on
/// every other path.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", routes::api(&state.config().limits))
        .merge(routes::health::router())
        .merge(dashboard::router())
        .layer(middleware::from_fn(error::envelope_bare_errors))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(security::SecurityHeadersLayer::new(
            state.config().secure_cookies,
        ))
        .with_state(state)
}

/// Records request latency by route pattern.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let status = format!("{}xx", response.status().as_u16() / 100);
    state
        .metrics()
        .requests
        .get_or_create(&metrics::RequestLabels {
            route,
            method,
            status,
        })
        .observe(start.elapsed().as_secs_f64());
    response
}

/// Serves the application on `listener` until `shutdown` completes, then finishes open
/// requests; live streams end (clients resume elsewhere with `Last-Event-ID`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    let shutdown = async move {
        shutdown.await;
        state.begin_shutdown();
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
