//! The dashboard: the built frontend (`frontend/dist`), embedded in the binary at compile time
//! and served at `/`, so one binary is the whole product.
//!
//! - A file of the build is served with its content type; files under `/assets/` have
//!   content-hashed names and are cached for a year, everything else (`index.html`) is
//!   revalidated on every use.
//! - Any other `GET`/`HEAD` that accepts HTML gets `index.html`: the dashboard routes on the
//!   client (`/runs/<id>`, `/login?first-login=…`). A missing `/assets/…` file is a plain 404.
//! - Paths of the server itself (`/api`, `/healthz`, `/readyz`, `/metrics`) never fall back to
//!   HTML: an unknown one is left bare, and [`crate::error`] answers with the JSON envelope.
//! - A binary compiled without `frontend/dist` answers `/` with a page saying how to build it;
//!   the API works regardless.
//!
//! Responses here are compressed (gzip, brotli) and carry the dashboard's strict
//! Content-Security-Policy ([`CONTENT_SECURITY_POLICY`]; the other security headers are
//! [`crate::security`]'s, on every response).
//!
//! No file is ever read from the server's file system: the files are a map from build path
//! to bytes, and a request path is only ever a key looked up in it (`..` or an encoded `/` is
//! just a key that is not there).
//! Which files are served is a [`Dashboard`] value in [`crate::HttpConfig`], so tests and
//! embedders can supply their own. The dashboard expects to be served at the root of a host:
//! its pages load `/assets/…` and call `/api/v1`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// The build folder's files, included in the binary (in debug builds too); none when the
/// folder did not exist at compile time.
#[derive(rust_embed::Embed)]
#[folder = "../frontend/dist/"]
#[allow_missing = true]
struct Built;

/// Built once per process: the embedded bytes are borrowed, only the index is allocated.
static EMBEDDED: LazyLock<Dashboard> = LazyLock::new(|| {
    Dashboard::from_files(Built::iter().filter_map(|path| {
        let file = Built::get(&path)?;
        let bytes = match file.data {
            std::borrow::Cow::Borrowed(bytes) => Bytes::from_static(bytes),
            std::borrow::Cow::Owned(bytes) => Bytes::from(bytes),
        };
        Some((path, bytes))
    }))
});

/// The file every client-side route is answered with.
const INDEX: &str = "index.html";

/// Where the content-hashed build output lives (Vite's `assets/`); safe to cache for good.
const HASHED_DIR: &str = "assets/";

/// Path prefixes that belong to the server, never to the dashboard's client-side routes.
const SERVER_PATHS: [&str; 4] = ["/api", "/healthz", "/readyz", "/metrics"];

/// The dashboard's Content-Security-Policy (the other security headers come from
/// [`crate::security`] for every response). Scripts only from the build's own files: the
/// built `index.html` has no inline script. Styles also `'unsafe-inline'`, because Ant Design's
/// CSS-in-JS inserts `<style>` elements at run time and React sets `style` attributes; inline
/// styles cannot run code. `data:`/`blob:` images and workers for the charts' exports and
/// icons; `connect-src 'self'` covers the API and the live stream.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
    connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; \
    form-action 'self'; object-src 'none'";

const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";
const CACHE_REVALIDATE: &str = "no-cache";

/// The dashboard's files, by path relative to the build folder (`index.html`,
/// `assets/index-1a2b3c.js`, …). Cheap to clone.
///
/// [`Dashboard::embedded`] is what `frontend/dist` held when this crate was compiled;
/// [`Dashboard::from_files`] makes one from any files (tests, or an embedder's own build).
/// Without an `index.html` the dashboard counts as not built (see [`Dashboard::is_built`]).
#[derive(Clone)]
pub struct Dashboard {
    files: Arc<HashMap<String, Bytes>>,
}

impl Dashboard {
    /// The files embedded at compile time from `frontend/dist`; none when it did not exist
    /// (build the frontend, then rebuild: `flowo-http`'s build script watches the folder).
    pub fn embedded() -> Self {
        EMBEDDED.clone()
    }

    /// A dashboard of these files, keyed by their path in the build folder, `/`-separated
    /// (a leading `/` is ignored).
    pub fn from_files<P, B>(files: impl IntoIterator<Item = (P, B)>) -> Self
    where
        P: AsRef<str>,
        B: Into<Bytes>,
    {
        let files = files
            .into_iter()
            .map(|(path, bytes)| {
                let path = path.as_ref().replace('\\', "/");
                (path.trim_start_matches('/').to_owned(), bytes.into())
            })
            .collect();
        Self {
            files: Arc::new(files),
        }
    }

    /// Whether there is a dashboard to serve (the build has an `index.html`). Without one, `/`
    /// answers a page saying how to build it.
    pub fn is_built(&self) -> bool {
        self.files.contains_key(INDEX)
    }

    fn file(&self, path: &str) -> Option<&Bytes> {
        self.files.get(path)
    }
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("files", &self.files.len())
            .field("built", &self.is_built())
            .finish()
    }
}

/// `/`, `/assets/…` and the fallback for every path no other route takes.
pub(crate) fn router() -> Router<AppState> {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    Router::new()
        .route("/", get(get_dashboard))
        .route("/assets/{*path}", get(get_dashboard))
        .fallback(get_dashboard)
        .layer(CompressionLayer::new())
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
}

/// A file of the dashboard, or `index.html` for a client-side route.
async fn get_dashboard(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let dashboard = &state.config().dashboard;
    let path = uri.path();
    if is_server_path(path) || !(method == Method::GET || method == Method::HEAD) {
        // Left bare: `error::envelope_bare_errors` answers with the JSON envelope.
        return StatusCode::NOT_FOUND.into_response();
    }
    let name = path.trim_start_matches('/');
    if let Some(bytes) = dashboard.file(name).filter(|_| !name.is_empty()) {
        return precompressed(dashboard, name, &headers)
            .unwrap_or_else(|| file_response(name, bytes.clone()));
    }
    if name.starts_with(HASHED_DIR) {
        // A stale or mistyped asset; index.html in its place would be run as a script.
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response();
    }
    if !accepts_html(&headers) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match dashboard.file(INDEX) {
        Some(index) => precompressed(dashboard, INDEX, &headers)
            .unwrap_or_else(|| file_response(INDEX, index.clone())),
        None => (
            [(header::CACHE_CONTROL, CACHE_REVALIDATE)],
            Html(NOT_BUILT_PAGE),
        )
            .into_response(),
    }
}

/// The build's compressed copy of `name` (`name.br` or `name.gz`, written by the frontend's
/// build) when the client takes that encoding, so that nothing is compressed per request.
fn precompressed(dashboard: &Dashboard, name: &str, headers: &HeaderMap) -> Option<Response> {
    let (encoding, bytes) = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(encoding, _)| accepts_encoding(headers, encoding))
        .find_map(|(encoding, suffix)| {
            Some((encoding, dashboard.file(&format!("{name}{suffix}"))?))
        })?;
    let mut response = file_response(name, bytes.clone());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Some(response)
}

/// Whether `Accept-Encoding` names `encoding` without `q=0`.
fn accepts_encoding(headers: &HeaderMap, encoding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            parts
                .next()
                .is_some_and(|e| e.eq_ignore_ascii_case(encoding))
                && !parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q == 0.0)
                })
        })
}

/// Whether `path` is one of the server's own (`/api/…`, `/healthz`, …).
fn is_server_path(path: &str) -> bool {
    SERVER_PATHS.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Whether the client takes HTML: a browser navigating says `text/html`; no `Accept` at all
/// means anything.
fn accepts_html(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return true;
    }
    values
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|item| item.split(';').next().unwrap_or_default().trim())
        .any(|media| {
            media == "*/*"
                || media.eq_ignore_ascii_case("text/html")
                || media.eq_ignore_ascii_case("text/*")
        })
}

/// A file with its content type and caching policy.
fn file_response(name: &str, bytes: Bytes) -> Response {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || mime.subtype() == mime_guess::mime::JAVASCRIPT
        || mime.subtype() == mime_guess::mime::JSON;
    let content_type = if textual && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let content_type = HeaderValue::from_str(&content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let cache = if name.starts_with(HASHED_DIR) {
        CACHE_FOREVER
    } else {
        CACHE_REVALIDATE
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        bytes,
    )
        .into_response()
}

/// `/` of a binary compiled without the frontend.
const NOT_BUILT_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>FlowO: dashboard not built</title></head>
<body>
<h1>FlowO</h1>
<p>The dashboard was not built into this binary.</p>
<p>To include it, build the frontend (Node 20.19 or later), then rebuild <code>flowo</code>,
which embeds <code>frontend/dist</code> at compile time:</p>
<pre>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build
cd .. &amp;&amp; cargo build --release -p flowo-cli</pre>
<p>The API at <code>/api/v1</code> works regardless
(<a href="/api/v1/openapi.json">its OpenAPI document</a>).</p>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_paths_are_whole_segments() {
        for path in ["/api", "/api/", "/api/v1/nope", "/healthz", "/metrics/x"] {
            assert!(is_server_path(path), "{path}");
        }
        for path in ["/", "/apis", "/runs/1", "/healthzz", "/dashboard"] {
            assert!(!is_server_path(path), "{path}");
        }
    }

    #[test]
    fn html_is_accepted_by_browsers_and_by_default() {
        let accept = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(value).expect("ASCII"));
            accepts_html(&headers)
        };
        assert!(accepts_html(&HeaderMap::new()));
        assert!(accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(accept("*/*"));
        assert!(!accept("application/json"));
        assert!(!accept("text/event-stream"));
    }
}
