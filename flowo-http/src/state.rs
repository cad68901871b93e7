//! The server's shared state and configuration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowo_core::Store;
use flowo_core::account::UserId;
use flowo_core::store::StoreError;
use rand::RngCore;

use crate::dashboard::Dashboard;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

/// Input limits: every request is held to them before anything is stored or looked up, and a
/// request over one is answered with the error envelope (status given per limit). The "Limits"
/// section of docs/api.md lists them with their defaults.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest ingest body (`POST /events`) after gzip decompression, bytes; 413.
    pub max_body_bytes: usize,
    /// Largest body of every other endpoint (logins, users, tokens, workspaces), bytes; 413.
    pub max_small_body_bytes: usize,
    /// Deepest nesting of arrays and objects in a JSON request body, the body itself being
    /// level 1 (so an ingested event's `data`, inside `{"events": [{…}]}`, may nest 3 levels
    /// less); 400. Below serde_json's own recursion limit (128), so that every deeper body gets
    /// this limit's answer.
    pub max_json_depth: usize,
    /// Most events in one ingest batch; 413.
    pub max_batch: usize,
    /// Largest `data` of one event, bytes of JSON; 413.
    pub max_event_bytes: usize,
    /// Most tags on a run; 400.
    pub max_tags: usize,
    /// Longest name, tag, search text or other short string, in a body, a path or a query
    /// parameter, characters; 400.
    pub max_short_string: usize,
    /// Longest e-mail address, characters (254, the most SMTP carries); 400.
    pub max_email: usize,
    /// Longest password, characters (the shortest is [`crate::auth::MIN_PASSWORD`]); 400.
    pub max_password: usize,
    /// Largest page (`limit`) of a list endpoint; larger ones are refused, not clamped: 400.
    /// At most [`flowo_core::store::MAX_PAGE`], which the stores hold to in any case.
    pub max_page_size: u32,
    /// Most live streams (`GET /stream`) one user may have open at once; the next gets 429
    /// until one of them ends.
    pub max_streams_per_user: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_small_body_bytes: 64 * 1024,
            max_json_depth: 64,
            max_batch: 5_000,
            max_event_bytes: 1024 * 1024,
            max_tags: 64,
            max_short_string: 256,
            max_email: 254,
            max_password: 1024,
            max_page_size: flowo_core::store::MAX_PAGE,
            max_streams_per_user: 32,
        }
    }
}

impl Limits {
    /// 400 unless `value` is at most [`Limits::max_short_string`] characters and has no NUL
    /// character (which no name needs and PostgreSQL cannot store); `what` names it in the
    /// message.
    pub fn check_short(&self, what: &str, value: &str) -> ApiResult<()> {
        let longest = self.max_short_string;
        if value.chars().count() > longest {
            return Err(ApiError::bad_request(format!(
                "{what} may be at most {longest} characters"
            )));
        }
        if value.contains('\0') {
            return Err(ApiError::bad_request(format!(
                "{what} may not contain a NUL character"
            )));
        }
        Ok(())
    }

    /// 400 unless an e-mail address is at most [`Limits::max_email`] characters without NUL
    /// (whether it is an address at all is the store's to say).
    pub fn check_email(&self, value: &str) -> ApiResult<()> {
        let longest = self.max_email;
        if value.chars().count() > longest || value.contains('\0') {
            return Err(ApiError::bad_request(format!(
                "an e-mail address has at most {longest} characters (and no NUL)"
            )));
        }
        Ok(())
    }

    /// [`Limits::check_short`] for an optional value.
    pub fn check_short_opt(&self, what: &str, value: Option<&str>) -> ApiResult<()> {
        value.map_or(Ok(()), |v| self.check_short(what, v))
    }

    /// 400 unless a password is [`crate::auth::MIN_PASSWORD`] to [`Limits::max_password`]
    /// characters without a NUL character.
    pub fn check_password(&self, password: &str) -> ApiResult<()> {
        let (shortest, longest) = (crate::auth::MIN_PASSWORD, self.max_password);
        let n = password.chars().count();
        if n < shortest || n > longest || password.contains('\0') {
            return Err(ApiError::bad_request(format!(
                "a password needs {shortest} to {longest} characters (and no NUL)"
            )));
        }
        Ok(())
    }

    /// 400 for a login whose e-mail or password is longer than any account can have (before
    /// the attempt is counted or a password hashed).
    pub fn check_login(&self, email: &str, password: &str) -> ApiResult<()> {
        self.check_email(email)?;
        if password.chars().count() > self.max_password {
            return Err(ApiError::bad_request(format!(
                "a password has at most {} characters",
                self.max_password
            )));
        }
        Ok(())
    }

    /// The page size asked for, else `default`; 400 when it is 0 or over
    /// [`Limits::max_page_size`].
    pub fn page_size(&self, limit: Option<u32>, default: u32) -> ApiResult<u32> {
        let most = self.max_page_size.min(flowo_core::store::MAX_PAGE);
        match limit {
            None => Ok(default.min(most)),
            Some(n) if (1..=most).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "limit must be between 1 and {most}, got {n}"
            ))),
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
    streams: Mutex<HashMap<UserId, usize>>,
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
                streams: Mutex::new(HashMap::new()),
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

    /// Takes one of `user`'s live-stream slots, freed when the returned guard is dropped (with
    /// the stream); 429 when they hold [`Limits::max_streams_per_user`] already.
    pub(crate) fn open_stream_slot(&self, user: UserId) -> ApiResult<StreamSlot> {
        let most = self.inner.config.limits.max_streams_per_user;
        let mut map = self
            .inner
            .streams
            .lock()
            .map_err(|_| ApiError::internal("the stream slot table is poisoned"))?;
        let open = map.entry(user).or_insert(0);
        if *open >= most {
            return Err(ApiError::too_many(format!(
                "at most {most} live streams may be open per user; close one first"
            )));
        }
        *open += 1;
        Ok(StreamSlot {
            state: self.clone(),
            user,
        })
    }

    /// How many live streams `user` has open.
    pub fn open_streams(&self, user: UserId) -> usize {
        self.inner
            .streams
            .lock()
            .map_or(0, |map| map.get(&user).copied().unwrap_or(0))
    }
}

/// One open live stream of a user: counts against [`Limits::max_streams_per_user`] until
/// dropped.
pub(crate) struct StreamSlot {
    state: AppState,
    user: UserId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.state.inner.streams.lock()
            && let Some(open) = map.get_mut(&self.user)
        {
            *open = open.saturating_sub(1);
            if *open == 0 {
                map.remove(&self.user);
            }
        }
    }
}
