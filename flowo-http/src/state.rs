//! The server's shared state and configuration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowo_core::Store;
use flowo_core::store::StoreError;
use rand::RngCore;

use crate::dashboard::Dashboard;
use crate::metrics::Metrics;

/// Input limits; each answers 413 or 400 with the error envelope.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body after decompression, bytes.
    pub max_body_bytes: usize,
    /// Most events in one ingest batch.
    pub max_batch: usize,
    /// Largest `data` of one event, bytes of JSON.
    pub max_event_bytes: usize,
    /// Most tags on a run.
    pub max_tags: usize,
    /// Longest name, tag or other short string, characters.
    pub max_short_string: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_batch: 5_000,
            max_event_bytes: 1024 * 1024,
            max_tags: 64,
            max_short_string: 256,
        }
    }
}

/// Server configuration.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Mark cookies `Secure` (set when FlowO is served over TLS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// How long a login lasts.
    pub session_ttl: chrono::Duration,
    /// The JWT signing secret; `None`: generated on first start and kept in the store.
    pub jwt_secret: Option<String>,
    /// Input limits.
    pub limits: Limits,
    /// Login attempts allowed per e-mail within [`HttpConfig::login_window`].
    pub login_attempts: u32,
    /// The login rate-limit window.
    pub login_window: Duration,
    /// Interval of SSE keep-alive comments.
    pub keep_alive: Duration,
    /// The dashboard served at `/`: by default the one embedded at compile time.
    pub dashboard: Dashboard,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            session_ttl: chrono::Duration::hours(12),
            jwt_secret: None,
            limits: Limits::default(),
            login_attempts: 10,
            login_window: Duration::from_secs(300),
            keep_alive: Duration::from_secs(15),
            dashboard: Dashboard::embedded(),
        }
    }
}

/// Everything handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: HttpConfig,
    keys: crate::auth::JwtKeys,
    metrics: Metrics,
    summaries: crate::routes::stream::SummaryCache,
    shutdown: tokio::sync::watch::Sender<bool>,
    draining: std::sync::atomic::AtomicBool,
    login_attempts: Mutex<HashMap<String, (u32, Instant)>>,
}

/// The settings key of the generated JWT secret.
pub const JWT_SECRET_SETTING: &str = "jwt_secret";

impl AppState {
    /// Builds the state; the JWT secret comes from `config` or from the store (generated and
    /// stored on first start, so that every replica on one database signs alike).
    pub async fn new(store: Arc<dyn Store>, config: HttpConfig) -> Result<Self, StoreError> {
        let secret = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None => {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                store
                    .init_setting(JWT_SECRET_SETTING, &hex::encode(bytes))
                    .await?
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                keys: crate::auth::JwtKeys::new(secret.as_bytes()),
                config,
                metrics: Metrics::new(),
                summaries: Default::default(),
                shutdown: tokio::sync::watch::channel(false).0,
                draining: std::sync::atomic::AtomicBool::new(false),
                login_attempts: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }

    pub(crate) fn keys(&self) -> &crate::auth::JwtKeys {
        &self.inner.keys
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Marks the server as about to stop: `/readyz` answers 503 from now on, so that a load
    /// balancer's health check takes this replica out before its listener closes, while
    /// requests still sent to it are served as usual.
    pub fn begin_draining(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`AppState::begin_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner
            .draining
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Tells long-lived responses (live streams) to end: the server is shutting down.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Completes once [`AppState::begin_shutdown`] was called.
    pub fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut rx = self.inner.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }

    pub(crate) fn summaries(&self) -> &crate::routes::stream::SummaryCache {
        &self.inner.summaries
    }

    /// Counts a login attempt for `key`; false when the limit is reached.
    pub(crate) fn allow_login_attempt(&self, key: &str) -> bool {
        let config = &self.inner.config;
        let now = Instant::now();
        let Ok(mut map) = self.inner.login_attempts.lock() else {
            return false;
        };
        if map.len() > 10_000 {
            map.retain(|_, (_, since)| now.duration_since(*since) < config.login_window);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= config.login_window {
            *entry = (0, now);
        }
        entry.0 += 1;
        entry.0 <= config.login_attempts
    }
}
