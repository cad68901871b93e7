//! Security headers on every response (API, health, metrics, dashboard, errors), as a tower
//! layer: [`SecurityHeadersLayer`].
//!
//! - `X-Content-Type-Options: nosniff`: a JSON answer holding event text (a job's log, a shell
//!   command) is never sniffed into HTML.
//! - `Referrer-Policy: same-origin`, `X-Frame-Options: DENY` (and `frame-ancestors 'none'` in
//!   the CSP), `Cross-Origin-Opener-Policy: same-origin`, `Cross-Origin-Resource-Policy:
//!   same-origin`, and a `Permissions-Policy` that turns off device features nothing uses.
//! - `Content-Security-Policy`: the dashboard sets its own ([`crate::dashboard`]); every other
//!   response gets [`API_CSP`], which allows nothing at all (JSON is not a document).
//! - `Strict-Transport-Security` only with [`crate::HttpConfig::secure_cookies`] (FlowO is served
//!   over TLS, directly or behind a proxy): sent over plain HTTP it would lock browsers out of
//!   an install that has no TLS.
//!
//! A header a handler set already is left as it is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{HeaderName, HeaderValue, Request, Response, header};
use tower::{Layer, Service};

/// The Content-Security-Policy of every response that is not the dashboard's: nothing may be
/// loaded, run, framed or submitted.
pub const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Browser features FlowO never uses, turned off for its pages and anything they embed.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), \
    magnetometer=(), microphone=(), payment=(), usb=()";

/// `Strict-Transport-Security` behind TLS: one year, this host only (FlowO cannot know whether
/// every subdomain serves TLS).
pub const HSTS: &str = "max-age=31536000";

/// Adds the security headers to every response of the service it wraps.
#[derive(Clone, Debug)]
pub struct SecurityHeadersLayer {
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
}

impl SecurityHeadersLayer {
    /// The headers; `Strict-Transport-Security` too when `tls` (secure cookies are configured).
    pub fn new(tls: bool) -> Self {
        let mut headers = vec![
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, API_CSP),
            (
                HeaderName::from_static("permissions-policy"),
                PERMISSIONS_POLICY,
            ),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                "same-origin",
            ),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                "same-origin",
            ),
        ];
        if tls {
            headers.push((header::STRICT_TRANSPORT_SECURITY, HSTS));
        }
        Self {
            headers: Arc::new(
                headers
                    .into_iter()
                    .map(|(name, value)| (name, HeaderValue::from_static(value)))
                    .collect(),
            ),
        }
    }
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders {
            inner,
            headers: self.headers.clone(),
        }
    }
}

/// The service of [`SecurityHeadersLayer`].
#[derive(Clone, Debug)]
pub struct SecurityHeaders<S> {
    inner: S,
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SecurityHeaders<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let response = self.inner.call(request);
        let headers = self.headers.clone();
        Box::pin(async move {
            let mut response = response.await?;
            let out = response.headers_mut();
            for (name, value) in headers.iter() {
                if !out.contains_key(name) {
                    out.insert(name.clone(), value.clone());
                }
            }
            Ok(response)
        })
    }
}
