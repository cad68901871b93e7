//! Prometheus metrics (`GET /metrics`): ingested events, duplicates, SSE clients, request
//! latency by route, runs by status.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of the request histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern (`/api/v1/runs/{run_id}`), never the raw path.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Status class (`2xx`, `4xx`, ...).
    pub status: String,
}

/// Labels of the runs gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// Run status.
    pub status: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    /// Events stored by ingest.
    pub events_ingested: Counter<u64, AtomicU64>,
    /// Events that were already stored.
    pub events_duplicate: Counter<u64, AtomicU64>,
    /// Connected SSE clients.
    pub sse_clients: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Request latency, seconds.
    pub requests: Family<RequestLabels, Histogram>,
    /// Runs by status (refreshed when `/metrics` is read).
    pub runs: Family<StatusLabels, Gauge<i64, std::sync::atomic::AtomicI64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry (one per server, so tests can run several).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("flowo");
        let events_ingested = Counter::default();
        let events_duplicate = Counter::default();
        let sse_clients = Gauge::default();
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(
                [
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ]
                .into_iter(),
            )
        });
        let runs = Family::default();
        registry.register(
            "events_ingested",
            "Events stored by ingest",
            events_ingested.clone(),
        );
        registry.register(
            "events_duplicate",
            "Ingested events that were already stored",
            events_duplicate.clone(),
        );
        registry.register(
            "sse_clients",
            "Connected live-stream clients",
            sse_clients.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            requests.clone(),
        );
        registry.register("runs", "Runs by status", runs.clone());
        Self {
            registry,
            events_ingested,
            events_duplicate,
            sse_clients,
            requests,
            runs,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
