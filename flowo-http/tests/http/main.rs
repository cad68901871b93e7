//! The HTTP server's test suite (issue 3, "HTTP server, accounts and workspaces"), one binary:
//!
//! - `endpoints`: every endpoint's JSON, as insta snapshots (SQLite).
//! - `authz`: the authorization matrix (every OpenAPI operation × every kind of caller), CSRF
//!   on cookie sessions, bearer JWTs, login rate limiting, disabled users, what lists show to
//!   whom, workspace-limited tokens (both backends).
//! - `bad_input`: bad requests answer 4xx with the error envelope, never 500.
//! - `limits`: every input limit (`flowo_http::Limits`) at its bound and past it: strings,
//!   passwords, JSON depth, page sizes, body sizes, live streams per user (both backends).
//! - `ingest`: every capture posted over HTTP equals the in-memory fold, idempotent batches,
//!   gzip bodies, workspace isolation (both backends).
//! - `stream`: Server-Sent Events on a real socket: live delivery, resume with `Last-Event-ID`
//!   across a server restart, keep-alives, cookie auth, visibility (restart on both backends).
//! - `ops`: `/healthz`, `/readyz`, `/metrics`, the OpenAPI document.
//! - `dashboard`: the dashboard at `/` (built and not built), client-side routes, caching,
//!   compression, security headers; API paths never answered with HTML.
//! - `security`: no path traversal, security headers on every response (HSTS only behind
//!   TLS), JSON content types, cookie attributes, cross-site cookie writes refused, the audit
//!   log (both backends).

mod support;

mod authz;
mod bad_input;
mod dashboard;
mod endpoints;
mod ingest;
mod limits;
mod ops;
mod security;
mod stream;
