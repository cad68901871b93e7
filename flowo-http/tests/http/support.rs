//! Test support: a fresh database per test on either backend, the application driven
//! in-process (`oneshot`) or on a real socket, a world of users, workspaces and tokens, the
//! Snakemake capture fixtures, JSON normalisation for snapshots and a small Server-Sent Events
//! reader.
//!
//! PostgreSQL tests skip (saying so) when the server is unreachable, except under CI (`CI` set),
//! where that is a failure.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use flowo_core::account::{NewApiToken, Role, TokenScope, User};
use flowo_core::{EventEnvelope, RunId, Store, Workspace, WorkspaceId};
use flowo_http::{AppState, HttpConfig};
use flowo_store::{PgStore, SqliteStore, StoreOptions};
use futures::{Stream, StreamExt};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// How long a test waits for something that must happen (a stream event, a server stopping)
/// before failing instead of hanging. A bound on liveness, not a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Databases

/// A store backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store, in a temporary directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

/// One test's database; dropping it removes it.
pub enum TestDb {
    /// A temporary directory and the database file in it.
    Sqlite {
        /// Removed on drop.
        _dir: tempfile::TempDir,
        /// The file.
        path: PathBuf,
    },
    /// A database on the test server.
    Postgres(flowo_testkit::postgres::TestDatabase),
}

fn options() -> StoreOptions {
    // No lost timeout: captures are old, and folded state must equal the in-memory fold.
    StoreOptions {
        lost_after: None,
        ..StoreOptions::default()
    }
}

impl TestDb {
    /// A fresh database; `None` when PostgreSQL is unreachable outside CI.
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("flowo.db");
                Some(TestDb::Sqlite { _dir: dir, path })
            }
            Backend::Postgres => flowo_testkit::postgres::TestDatabase::create("flowo_http_test")
                .await
                .map(TestDb::Postgres),
        }
    }

    /// Opens a store on this database; a second call opens a second store (a restarted
    /// server, or a replica) on the same data.
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            TestDb::Sqlite { path, .. } => Arc::new(
                SqliteStore::open(path, &options())
                    .await
                    .expect("open sqlite store"),
            ),
            TestDb::Postgres(db) => Arc::new(
                PgStore::open(&db.url, &options())
                    .await
                    .expect("open postgres store"),
            ),
        }
    }

    /// Drops the PostgreSQL database now (closing every connection to it), so that a test can
    /// see how the server answers when its database is gone. No-op for SQLite.
    pub async fn drop_now(&self) {
        if let TestDb::Postgres(db) = self {
            db.drop_database().await;
        }
    }
}

/// Runs `async fn name(backend: Backend)` test bodies once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            )*
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures

pub use flowo_testkit::fixtures::{captures, load_capture, run_id_for};

/// The JSON body of an ingest request.
pub fn batch(events: &[EventEnvelope]) -> Value {
    json!({ "events": events })
}

// ---------------------------------------------------------------------------------------------
// The application in-process

/// The application on a store, driven without a socket.
pub struct App {
    /// Its state (shared with a socket server when a test starts one).
    pub state: AppState,
    router: axum::Router,
}

impl App {
    /// The application on `store`.
    pub async fn new(store: Arc<dyn Store>, config: HttpConfig) -> Self {
        let state = AppState::new(store, config).await.expect("app state");
        Self {
            router: flowo_http::router(state.clone()),
            state,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.state.store()
    }

    /// Sends one request through the router and reads the whole response.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        Reply::read(self.respond(request).await).await
    }

    /// Sends one request through the router; the body is left unread (an event stream's never
    /// ends).
    pub async fn respond(&self, request: Request<Body>) -> axum::response::Response {
        self.router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible")
    }
}

/// A credential a request carries.
#[derive(Clone, Debug)]
pub enum Cred {
    /// None.
    Anonymous,
    /// `Authorization: Bearer …` (an API token or a session JWT).
    Bearer(String),
    /// The session cookie, and the CSRF header if given.
    Cookie {
        /// The session JWT.
        session: String,
        /// Sent as `X-CSRF-Token`.
        csrf: Option<String>,
    },
}

/// A request being built.
pub struct Call {
    builder: axum::http::request::Builder,
    body: Body,
}

/// Starts a request.
pub fn call(method: &str, uri: &str) -> Call {
    let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    Call {
        builder: Request::builder().method(method).uri(uri),
        body: Body::empty(),
    }
}

impl Call {
    /// Adds a credential.
    pub fn cred(mut self, cred: &Cred) -> Self {
        match cred {
            Cred::Anonymous => {}
            Cred::Bearer(token) => {
                self.builder = self
                    .builder
                    .header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            Cred::Cookie { session, csrf } => {
                self.builder = self.builder.header(
                    header::COOKIE,
                    format!("{}={session}", flowo_http::auth::SESSION_COOKIE),
                );
                if let Some(csrf) = csrf {
                    self.builder = self.builder.header(flowo_http::auth::CSRF_HEADER, csrf);
                }
            }
        }
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// A JSON body.
    pub fn json(mut self, value: &Value) -> Self {
        self.builder = self
            .builder
            .header(header::CONTENT_TYPE, "application/json");
        self.body = Body::from(serde_json::to_vec(value).expect("JSON"));
        self
    }

    /// A raw body.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// The request.
    pub fn build(self) -> Request<Body> {
        self.builder.body(self.body).expect("a valid request")
    }

    /// Sends it.
    pub async fn send(self, app: &App) -> Reply {
        app.send(self.build()).await
    }
}

/// A response, read completely.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// Reads a response completely.
    pub async fn read(response: axum::response::Response) -> Self {
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(PATIENCE, body.collect())
            .await
            .expect("the body ends")
            .expect("response body")
            .to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "expected a JSON body ({e}), status {}: {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// The JSON body, after asserting the status.
    #[track_caller]
    pub fn json_with(self, status: u16) -> Value {
        self.expect(status).json()
    }

    /// Whether the body is the error envelope `{"error": {"code", "message"}}` and nothing else.
    pub fn envelope(&self) -> Option<(String, String)> {
        let json_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let value: Value = serde_json::from_slice(&self.body).ok()?;
        let top = value.as_object()?;
        let error = top.get("error")?.as_object()?;
        let code = error.get("code")?.as_str()?;
        let message = error.get("message")?.as_str()?;
        (json_type && top.len() == 1 && error.len() == 2 && !message.is_empty())
            .then(|| (code.to_owned(), message.to_owned()))
    }

    /// Asserts an error status with the envelope and the given code.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text()
        );
        let (got, _) = self
            .envelope()
            .unwrap_or_else(|| panic!("no error envelope in {:?}", self.text()));
        assert_eq!(got, code, "error code; body: {}", self.text());
        self
    }

    /// `Set-Cookie` headers with their values hidden, sorted (their order is not
    /// meaningful, and not stable), for snapshots.
    pub fn set_cookies(&self) -> Vec<String> {
        let mut cookies: Vec<String> = self
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| {
                let v = v.to_str().expect("ASCII cookie");
                let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
                let (name, value) = pair.split_once('=').expect("name=value");
                let value = if value.is_empty() { "" } else { "[value]" };
                // Removal cookies expire at "now minus a year".
                let attrs: Vec<String> = attrs
                    .split(';')
                    .map(|a| match a.trim().split_once('=') {
                        Some((k, _)) if k.eq_ignore_ascii_case("expires") => {
                            format!(" {k}=[time]")
                        }
                        _ => a.to_owned(),
                    })
                    .collect();
                format!("{name}={value};{}", attrs.join(";"))
            })
            .collect();
        cookies.sort();
        cookies
    }

    /// The value of a cookie this response sets.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next()?.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// A world of users, workspaces and tokens

/// A user who logged in.
pub struct Account {
    /// The user.
    pub user: User,
    /// The session JWT from `/auth/login`.
    pub jwt: String,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Account {
    /// The session JWT as a bearer.
    pub fn bearer(&self) -> Cred {
        Cred::Bearer(self.jwt.clone())
    }

    /// The session cookie, with or without the CSRF header.
    pub fn cookie(&self, with_csrf: bool) -> Cred {
        Cred::Cookie {
            session: self.jwt.clone(),
            csrf: with_csrf.then(|| self.csrf.clone()),
        }
    }
}

/// Workspaces `lab` (W) and `other`, plus `default`; an admin, a member and a viewer of `lab`,
/// and a member of `other` ("outsider"), all logged in; API tokens of the member (ingest, read,
/// expired, revoked) and of the admin (admin scope).
pub struct World {
    /// The application.
    pub app: App,
    /// Workspace W.
    pub lab: Workspace,
    /// Another workspace.
    pub other: Workspace,
    /// Role admin, member of nothing.
    pub admin: Account,
    /// Role member, member of `lab`.
    pub member: Account,
    /// Role viewer, member of `lab`.
    pub viewer: Account,
    /// Role member, member of `other` only.
    pub outsider: Account,
    /// The member's ingest token.
    pub ingest_token: String,
    /// The member's read token.
    pub read_token: String,
    /// The admin's admin token.
    pub admin_token: String,
    /// The member's read token, expired an hour ago.
    pub expired_token: String,
    /// The member's read token, revoked.
    pub revoked_token: String,
    counter: AtomicUsize,
}

/// The password every world user has.
pub const PASSWORD: &str = "correct horse battery";

impl World {
    /// A world on `store` with the default configuration.
    pub async fn new(store: Arc<dyn Store>) -> Self {
        Self::with_config(store, HttpConfig::default()).await
    }

    /// A world on `store`.
    pub async fn with_config(store: Arc<dyn Store>, config: HttpConfig) -> Self {
        let app = App::new(store, config).await;
        let store = app.store().clone();
        store.ensure_workspace("default").await.expect("default");
        let lab = store.create_workspace("lab").await.expect("lab");
        let other = store.create_workspace("other").await.expect("other");
        let hash = flowo_http::auth::hash_password(PASSWORD).expect("hash");
        let mut users = Vec::new();
        for (email, role, ws) in [
            ("admin@example.org", Role::Admin, None),
            ("member@example.org", Role::Member, Some(lab.id)),
            ("viewer@example.org", Role::Viewer, Some(lab.id)),
            ("outsider@example.org", Role::Member, Some(other.id)),
        ] {
            let user = store
                .create_user(email, role, Some(&hash))
                .await
                .expect("create user");
            if let Some(ws) = ws {
                store.add_member(ws, user.id).await.expect("add member");
            }
            users.push(login(&app, user).await);
        }
        let mut users = users.into_iter();
        let mut next = || users.next().expect("four users");
        let (admin, member, viewer, outsider) = (next(), next(), next(), next());
        let hour = chrono::Duration::hours(1);
        let now = chrono::Utc::now();
        let ingest_token = make_token(&store, &member.user, TokenScope::Ingest, None, None).await;
        let read_token = make_token(&store, &member.user, TokenScope::Read, None, None).await;
        let admin_token = make_token(&store, &admin.user, TokenScope::Admin, None, None).await;
        let expired_token = make_token(
            &store,
            &member.user,
            TokenScope::Read,
            None,
            Some(now - hour),
        )
        .await;
        let revoked_token = make_token(&store, &member.user, TokenScope::Read, None, None).await;
        let revoked = store
            .token_by_hash(&flowo_http::auth::token_hash(&revoked_token))
            .await
            .expect("token")
            .expect("stored");
        assert!(store.revoke_token(revoked.id).await.expect("revoke"));
        Self {
            app,
            lab,
            other,
            admin,
            member,
            viewer,
            outsider,
            ingest_token,
            read_token,
            admin_token,
            expired_token,
            revoked_token,
            counter: AtomicUsize::new(0),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.app.store()
    }

    /// A name not used before in this world.
    pub fn unique(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.counter.fetch_add(1, Ordering::Relaxed))
    }

    /// A new user without a password.
    pub async fn new_user(&self, role: Role) -> User {
        let email = format!("{}@example.org", self.unique("user"));
        self.store()
            .create_user(&email, role, None)
            .await
            .expect("create user")
    }

    /// A new API token.
    pub async fn token(
        &self,
        user: &User,
        scope: TokenScope,
        workspace: Option<WorkspaceId>,
    ) -> String {
        make_token(self.store(), user, scope, workspace, None).await
    }

    /// Stores a capture's first events as a new run in `ws` (directly, not over HTTP).
    pub async fn small_run(&self, ws: WorkspaceId) -> RunId {
        let run = RunId::new_random();
        let events = load_capture("success/01-success.jsonl", run);
        self.store()
            .append(ws, &events[..12])
            .await
            .expect("append");
        run
    }
}

async fn make_token(
    store: &Arc<dyn Store>,
    user: &User,
    scope: TokenScope,
    workspace_id: Option<WorkspaceId>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    let plain = flowo_http::auth::generate_token();
    store
        .create_token(NewApiToken {
            user_id: user.id,
            name: format!("{scope} token"),
            scope,
            workspace_id,
            prefix: plain.prefix.clone(),
            hash: plain.hash.clone(),
            expires_at,
        })
        .await
        .expect("create token");
    plain.token
}

/// Logs a world user in over the API.
async fn login(app: &App, user: User) -> Account {
    let reply = call("POST", "/api/v1/auth/login")
        .json(&json!({ "email": user.email, "password": PASSWORD }))
        .send(app)
        .await;
    let body = reply.json_with(200);
    Account {
        user,
        jwt: body["token"].as_str().expect("token").to_owned(),
        csrf: body["csrf_token"].as_str().expect("csrf").to_owned(),
    }
}

/// Posts events in batches of `size`, asserting each batch is stored as new.
pub async fn ingest(
    app: &App,
    cred: &Cred,
    workspace: &str,
    events: &[EventEnvelope],
    size: usize,
) {
    for chunk in events.chunks(size) {
        let body = call("POST", &format!("/api/v1/events?workspace={workspace}"))
            .cred(cred)
            .json(&batch(chunk))
            .send(app)
            .await
            .json_with(200);
        assert_eq!(
            body,
            json!({ "inserted": chunk.len(), "duplicates": 0 }),
            "a new batch is stored"
        );
    }
}

/// Every page of a paged list endpoint (`items` + `next_cursor`), followed through cursors.
pub async fn all_pages(app: &App, cred: &Cred, uri: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let sep = if uri.contains('?') { '&' } else { '?' };
    let mut next: Option<String> = None;
    loop {
        let page_uri = match &next {
            Some(cursor) => format!("{uri}{sep}cursor={cursor}"),
            None => uri.to_owned(),
        };
        let page = call("GET", &page_uri)
            .cred(cred)
            .send(app)
            .await
            .json_with(200);
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => next = Some(percent_encode(cursor)),
            None => return items,
        }
    }
}

/// Percent-encodes a query value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every event of a run over the API, in sequence order.
pub async fn all_events(app: &App, cred: &Cred, run: RunId) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let mut uri = format!("/api/v1/runs/{run}/events?limit=100");
        if let Some(last) = out.last() {
            uri.push_str(&format!("&after_seq={}", last["seq"]));
        }
        let page = call("GET", &uri).cred(cred).send(app).await.json_with(200);
        let page = page.as_array().expect("a list").clone();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/// Makes a JSON value stable for snapshots: each distinct UUID (also inside strings) becomes
/// `[uuid-N]` in order of first appearance, so equal ids stay visibly equal; times the server
/// makes (creation, expiry, receipt) become `[time]`; secrets become `[secret]`. Times from the
/// events themselves stay, as they are part of what is tested.
pub fn redact(value: &Value) -> Value {
    let mut ids = HashMap::new();
    redact_in(value, None, &mut ids)
}

const SERVER_TIMES: &[&str] = &[
    "created_at",
    "added_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "received_at",
];
const SECRETS: &[&str] = &["token", "csrf_token", "secret", "prefix", "next_cursor"];

fn redact_in(value: &Value, key: Option<&str>, ids: &mut HashMap<String, usize>) -> Value {
    match value {
        Value::Null => Value::Null,
        _ if key.is_some_and(|k| SERVER_TIMES.contains(&k)) => json!("[time]"),
        _ if key.is_some_and(|k| SECRETS.contains(&k)) => json!("[secret]"),
        Value::String(s) => Value::String(redact_uuids(s, ids)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| redact_in(v, None, ids)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact_in(v, Some(k), ids)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn redact_uuids(text: &str, ids: &mut HashMap<String, usize>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len() && is_uuid(&bytes[i..i + 36]) {
            let id = text[i..i + 36].to_ascii_lowercase();
            let n = ids.len() + 1;
            let n = *ids.entry(id).or_insert(n);
            out.push_str(&format!("[uuid-{n}]"));
            i += 36;
        } else {
            let c = text[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A server on a socket, and an SSE reader

/// The application served on 127.0.0.1 (a free port), stoppable through its shutdown future.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Starts serving `state`.
    pub async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(flowo_http::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Self { addr, stop, task }
    }

    /// A URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Completes the shutdown future and waits for `serve` to return.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the server stops when its shutdown future completes, open streams included")
            .expect("server task")
            .expect("serve returns Ok");
    }
}

/// One item of an event stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Sse {
    /// An event.
    Event {
        /// `id:`.
        id: Option<String>,
        /// `data:` lines joined by newlines.
        data: String,
    },
    /// A comment line (`:…`), which is what keep-alives are.
    Comment(String),
    /// The `ready` message that opens a stream, with the position it starts after.
    Ready(i64),
}

/// Reads Server-Sent Events from a response body.
pub struct SseReader {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<Sse>,
}

impl SseReader {
    /// Reads `response`'s body.
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            body: Box::pin(response.bytes_stream()),
            buf: Vec::new(),
            pending: Default::default(),
        }
    }

    /// The next item; `None` when the server ends the stream. Fails after [`PATIENCE`] of
    /// silence.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            let chunk = tokio::time::timeout(PATIENCE, self.body.next())
                .await
                .expect("the stream said something in time");
            match chunk {
                None => return None,
                Some(Err(e)) if e.is_body() || e.is_decode() => return None,
                Some(Err(e)) => panic!("reading the stream: {e}"),
                Some(Ok(bytes)) => {
                    self.buf.extend_from_slice(&bytes);
                    self.parse();
                }
            }
        }
    }

    fn parse(&mut self) {
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.buf.drain(..end + 2).collect();
            let block = String::from_utf8(block).expect("UTF-8 stream");
            let mut id = None;
            let mut name = None;
            let mut data: Vec<&str> = Vec::new();
            let mut comments = Vec::new();
            for line in block.lines() {
                if let Some(comment) = line.strip_prefix(':') {
                    comments.push(comment.trim_start().to_owned());
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim_start().to_owned());
                } else if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim_start().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v));
                } else if !line.is_empty() {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            self.pending.extend(comments.into_iter().map(Sse::Comment));
            if name.as_deref() == Some("ready") {
                let id: i64 = id.expect("ready has an id").parse().expect("a position");
                let data: Value = serde_json::from_str(&data.join("\n")).expect("JSON");
                assert_eq!(
                    data["position"],
                    serde_json::json!(id),
                    "ready's data and id agree"
                );
                self.pending.push_back(Sse::Ready(id));
            } else if let Some(name) = name {
                panic!("unexpected SSE event name {name:?}");
            } else if id.is_some() || !data.is_empty() {
                self.pending.push_back(Sse::Event {
                    id,
                    data: data.join("\n"),
                });
            }
        }
    }

    /// The next event (keep-alive comments skipped) as (id, data); `None` at the end.
    pub async fn next_event(&mut self) -> Option<(i64, Value)> {
        loop {
            match self.next().await? {
                Sse::Comment(_) | Sse::Ready(_) => continue,
                Sse::Event { id, data } => {
                    let id = id.expect("every event has an id");
                    let id: i64 = id.parse().expect("the id is a stream position");
                    let data = serde_json::from_str(&data).expect("data is JSON");
                    return Some((id, data));
                }
            }
        }
    }
}

/// Opens `/api/v1/stream` (with `query`) on `server`, asserting 200 and `text/event-stream`.
pub async fn open_stream(
    server: &Server,
    query: &str,
    cred: &Cred,
    last_id: Option<i64>,
) -> SseReader {
    let response = stream_request(server, query, cred, last_id).await;
    assert_eq!(response.status().as_u16(), 200, "stream opens");
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    SseReader::new(response)
}

/// Sends a stream request and returns the response as it is.
pub async fn stream_request(
    server: &Server,
    query: &str,
    cred: &Cred,
    last_id: Option<i64>,
) -> reqwest::Response {
    let client = reqwest::Client::new();
    let mut request = client.get(server.url(&format!("/api/v1/stream{query}")));
    match cred {
        Cred::Anonymous => {}
        Cred::Bearer(token) => request = request.bearer_auth(token),
        Cred::Cookie { session, csrf } => {
            request = request.header(
                header::COOKIE,
                format!("{}={session}", flowo_http::auth::SESSION_COOKIE),
            );
            if let Some(csrf) = csrf {
                request = request.header(flowo_http::auth::CSRF_HEADER, csrf);
            }
        }
    }
    if let Some(id) = last_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("the stream answers in time")
        .expect("stream request")
}
