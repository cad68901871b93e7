//! `flowo serve`: opens the store, runs the HTTP server (the API, and the dashboard embedded at
//! compile time) until SIGTERM or Ctrl-C, and on the first start of an empty store creates the
//! first administrator with a one-time login link.
//!
//! The JWT signing secret comes from `FLOWO_JWT_SECRET` only (never a flag, which `ps` would
//! show, nor the config file); without it the server generates one and keeps it in the store,
//! so every replica on one database signs alike. There is no built-in secret.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use flowo_http::{AppState, HttpConfig};
use flowo_store::StoreOptions;
use tokio::sync::watch;

use crate::config::{DEFAULT_BIND, Global, mask_url, open_store};
use crate::output;

/// The first administrator's e-mail.
pub use flowo_http::auth::FIRST_ADMIN;

/// How long open connections (live streams) may take to finish after a stop signal.
const GRACE: Duration = Duration::from_secs(10);
/// Longest wait, once the server has stopped, for the store's connections to close.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// The environment variable holding the JWT signing secret.
const JWT_SECRET_ENV: &str = "FLOWO_JWT_SECRET";

/// Shortest JWT secret accepted, bytes.
const MIN_JWT_SECRET: usize = 32;

/// `flowo serve`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The JWT signing secret is read from FLOWO_JWT_SECRET only (at least 32 \
    characters); without it one is generated and kept in the database."
)]
pub struct Args {
    /// Address to listen on [default: 127.0.0.1:3100].
    #[arg(long, env = "FLOWO_BIND", value_name = "ADDR")]
    bind: Option<String>,

    /// Mark session cookies `Secure` (when FlowO is served over HTTPS, directly or behind a
    /// proxy) [default: false].
    #[arg(long, env = "FLOWO_SECURE_COOKIES", value_name = "BOOL", num_args = 0..=1,
        require_equals = true, default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new())]
    secure_cookies: Option<bool>,

    /// A running run whose latest event is older than this reads as lost [default: 100].
    #[arg(long, env = "FLOWO_LOST_AFTER", value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..))]
    lost_after: Option<u64>,

    /// After a stop signal, answer `/readyz` with 503 for this long before closing the
    /// listener, so that a load balancer's health check takes the replica out first
    /// [default: 0].
    #[arg(long, env = "FLOWO_DRAIN", value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(0..=MAX_DRAIN_SECS))]
    drain: Option<u64>,
}

/// Longest drain accepted, seconds.
const MAX_DRAIN_SECS: u64 = 300;

/// Runs the server until a stop signal.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<()> {
    crate::init_logging("info");
    let file = &global.file;
    let bind = args
        .bind
        .or_else(|| file.bind.clone())
        .unwrap_or_else(|| DEFAULT_BIND.to_owned());
    let lost_after = args
        .lost_after
        .or(file.lost_after)
        .unwrap_or(flowo_store::DEFAULT_LOST_AFTER_SECS.unsigned_abs());
    let lost_after = i64::try_from(lost_after)
        .ok()
        .filter(|s| *s >= 1)
        .and_then(chrono::Duration::try_seconds)
        .with_context(|| {
            format!("lost_after must be a positive number of seconds, not {lost_after}")
        })?;
    let secure_cookies = args.secure_cookies.or(file.secure_cookies).unwrap_or(false);
    let drain = args.drain.or(file.drain).unwrap_or(0);
    if drain > MAX_DRAIN_SECS {
        bail!("drain must be at most {MAX_DRAIN_SECS} seconds, not {drain}");
    }
    let drain = Duration::from_secs(drain);
    let jwt_secret = jwt_secret()?;
    // Listen for signals before anything slow, so an early stop request is not lost.
    let mut stops = stop_signals()?;

    let url = global.database_url()?;
    let store = open_store(
        &url,
        &StoreOptions {
            lost_after: Some(lost_after),
            ..StoreOptions::default()
        },
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("cannot listen on {bind}"))?;
    let config = HttpConfig {
        secure_cookies,
        jwt_secret,
        ..HttpConfig::default()
    };
    let state = AppState::new(store.clone(), config)
        .await
        .context("cannot prepare the server")?;
    // After binding: a taken port must not eat the only login link.
    let first_login = flowo_http::auth::bootstrap_first_admin(&*store)
        .await
        .context("cannot create the first administrator")?;

    let dashboard = state.config().dashboard.is_built();
    tracing::info!(database = %mask_url(&url), %addr, lost_after_secs = lost_after.num_seconds(),
        secure_cookies, dashboard, "FlowO listening");
    if !dashboard {
        tracing::warn!(
            "the dashboard was not built into this binary (run `npm ci && npm run build` in \
             frontend/, then rebuild flowo); the API at /api/v1 works regardless"
        );
    }
    let base = base_url(addr);
    let ready = match &first_login {
        Some(token) => format!(
            "FlowO is ready: open {base}/login?first-login={token} to log in (this link works once)"
        ),
        None if dashboard => format!("FlowO is ready: open {base}/ to log in"),
        None => format!("FlowO is ready: the API is at {base}/api/v1 (no dashboard in this build)"),
    };
    if output::line(&ready).is_err() && first_login.is_some() {
        tracing::warn!(
            "could not print the one-time login link; set a password with \
             `flowo user set-password {FIRST_ADMIN} --password-stdin`"
        );
    }

    // The first stop signal drains (when asked to), then closes the listener and ends live
    // streams; open requests get GRACE to finish. A second signal ends either wait at once.
    let (closing_tx, mut closing) = watch::channel(false);
    let draining = state.clone();
    let mut first_stop = stops.clone();
    let shutdown = async move {
        if first_stop.wait_for(|n| *n >= 1).await.is_err() {
            return std::future::pending().await;
        }
        if !drain.is_zero() {
            draining.begin_draining();
            tracing::info!(
                "stopping: /readyz answers 503 for {drain:?} before the listener closes"
            );
            tokio::select! {
                () = tokio::time::sleep(drain) => {}
                _ = first_stop.wait_for(|n| *n >= 2) => {}
            }
        }
        tracing::info!("stopping: finishing open requests");
        closing_tx.send_replace(true);
    };
    let mut last_stop = stops.clone();
    let deadline = async move {
        if closing.wait_for(|c| *c).await.is_err() {
            return std::future::pending().await;
        }
        tokio::select! {
            () = tokio::time::sleep(GRACE) => {
                tracing::warn!("connections still open after {GRACE:?}; closing them");
            }
            _ = stops.wait_for(|n| *n >= 2) => tracing::warn!("second stop signal; closing now"),
        }
    };
    // Memory freed after a burst goes back to the system instead of staying resident.
    crate::memory::spawn_releaser();
    let server = flowo_http::serve(listener, state, shutdown);
    tokio::select! {
        served = server => served.context("the server failed")?,
        () = deadline => {}
    }
    // The store's connections closed: the embedded store's write-ahead log is copied into the
    // database file and removed, and PostgreSQL sees the sessions end rather than drop.
    tokio::select! {
        () = store.close() => {}
        () = tokio::time::sleep(CLOSE_WITHIN) => {
            tracing::warn!("the store's connections did not close within {CLOSE_WITHIN:?}");
        }
        _ = last_stop.wait_for(|n| *n >= 2) => {}
    }
    tracing::info!("stopped");
    Ok(())
}

/// The JWT secret from the environment, if set; too short a secret is refused.
fn jwt_secret() -> anyhow::Result<Option<String>> {
    match std::env::var(JWT_SECRET_ENV) {
        Ok(secret) if secret.len() >= MIN_JWT_SECRET => Ok(Some(secret)),
        Ok(_) => bail!("{JWT_SECRET_ENV} must be at least {MIN_JWT_SECRET} characters"),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{JWT_SECRET_ENV} is not valid UTF-8"),
    }
}

/// The URL people open: a wildcard address is reached through loopback.
fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Counts SIGTERM and SIGINT (Ctrl-C): the first stops the server gracefully, the second at
/// once.
fn stop_signals() -> anyhow::Result<watch::Receiver<u32>> {
    let (tx, rx) = watch::channel(0u32);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        tokio::spawn(async move {
            loop {
                let got = tokio::select! {
                    s = term.recv() => s,
                    s = int.recv() => s,
                };
                if got.is_none() {
                    break;
                }
                tx.send_modify(|n| *n += 1);
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            tx.send_modify(|n| *n += 1);
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_print_as_loopback() {
        let v4: SocketAddr = "0.0.0.0:3100".parse().expect("addr");
        assert_eq!(base_url(v4), "http://127.0.0.1:3100");
        let v6: SocketAddr = "[::]:3100".parse().expect("addr");
        assert_eq!(base_url(v6), "http://[::1]:3100");
        let exact: SocketAddr = "10.1.2.3:80".parse().expect("addr");
        assert_eq!(base_url(exact), "http://10.1.2.3:80");
    }
}
