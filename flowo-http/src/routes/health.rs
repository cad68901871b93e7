//! `/healthz` (the process answers), `/readyz` (the store answers), `/metrics` (Prometheus).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use flowo_core::RunStatus;
use flowo_core::store::RunQuery;

use crate::metrics::StatusLabels;
use crate::state::AppState;

/// Health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(get_healthz))
        .route("/readyz", get(get_readyz))
        .route("/metrics", get(get_metrics))
}

/// Liveness: always 200 while the process serves.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "alive")))]
pub async fn get_healthz() -> &'static str {
    "ok"
}

/// How long readiness waits for the store. A database that is down can keep a query waiting
/// for the pool's whole acquire timeout (10 s, retrying a server that is shutting down), longer
/// than a probe waits for its answer: the probe then saw no answer at all rather than 503.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Readiness: 200 when the store answers, 503 when it does not or when the server is draining
/// before it stops.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()), responses(
    (status = 200, description = "ready"),
    (status = 503, description = "store unavailable, or draining before a stop")))]
pub async fn get_readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    match tokio::time::timeout(READY_WITHIN, state.store().head()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
        Err(_) => {
            tracing::warn!("not ready: the store did not answer within {READY_WITHIN:?}");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
    }
}

/// Prometheus metrics in the text format.
#[utoipa::path(get, path = "/metrics", tag = "health", security(()), responses((status = 200, description = "metrics")))]
pub async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    for status in RunStatus::ALL {
        let query = RunQuery {
            status: vec![*status],
            limit: 1,
            with_total: true,
            ..RunQuery::default()
        };
        if let Ok(page) = state.store().list_runs(&query).await {
            let n = page.total.unwrap_or(0);
            state
                .metrics()
                .runs
                .get_or_create(&StatusLabels {
                    status: status.as_str().to_owned(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().render(),
    )
}
