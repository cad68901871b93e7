//! The sink end to end against real targets: the embedded SQLite store, and a real FlowO HTTP
//! server (flowo-http on a loopback port) that is down, comes up, or refuses events. Records are
//! the real captures of `shared/fixtures/snakemake-events/`, fed as the plugin feeds them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flowo_client::config::FileConfig;
use flowo_client::sink::{CloseReport, Record, Sink, SinkSettings};
use flowo_client::spool::{self, Spool};
use flowo_client::target::Target;
use flowo_core::account::{NewApiToken, Role, TokenScope};
use flowo_core::store::RunEventQuery;
use flowo_core::{RunId, RunStatus, Store};
use serde_json::Value;

fn records(capture: &str) -> Vec<Record> {
    let path = flowo_testkit::fixtures::fixtures_dir().join(capture);
    let text = std::fs::read_to_string(&path).expect("capture");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let Value::Object(mut attrs) = serde_json::from_str::<Value>(l).expect("json") else {
                panic!("a record is an object");
            };
            let created = attrs
                .remove("created")
                .and_then(|c| c.as_f64())
                .expect("created");
            Record::from_attrs(created, &attrs)
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn settings(target: Target, spool: &Path) -> SinkSettings {
    let mut s = SinkSettings::new(target);
    s.spool_dir = Some(spool.to_owned());
    s.flush_interval = Duration::from_millis(20);
    s.close_timeout = Duration::from_secs(5);
    s.verbose = true;
    s
}

/// Settings for the embedded store in `dir`, and its URL.
fn embedded(dir: &Path) -> (SinkSettings, String) {
    let url = format!("sqlite://{}", dir.join("flowo.db").display());
    let s = settings(Target::Database { url: url.clone() }, &dir.join("spool"));
    (s, url)
}

/// The store at `url`.
async fn open_store(url: &str) -> Arc<dyn Store> {
    flowo_store::open(url, &flowo_store::StoreOptions::default())
        .await
        .expect("store")
}

/// The seqs stored for a run, in order.
async fn stored_seqs(store: &Arc<dyn Store>, run: RunId) -> Vec<u64> {
    let mut out = Vec::new();
    let mut query = RunEventQuery {
        after_seq: None,
        kinds: Vec::new(),
        limit: 1000,
    };
    loop {
        let page = store.run_events(run, &query).await.expect("events");
        let n = page.len();
        for e in page {
            query.after_seq = Some(e.envelope.seq);
            out.push(e.envelope.seq);
        }
        if n < 1000 {
            return out;
        }
    }
}

struct Server {
    store: Arc<dyn Store>,
    token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// A real server on `addr` over a SQLite store in `dir`, with an ingest token.
    async fn start(dir: &Path, addr: SocketAddr, limits: flowo_http::state::Limits) -> Server {
        let url = format!("sqlite://{}", dir.join("server.db").display());
        let store = open_store(&url).await;
        let token = match store
            .user_credentials("ci@example.org")
            .await
            .expect("user")
        {
            Some(_) => String::new(),
            None => {
                let user = store
                    .create_user("ci@example.org", Role::Admin, None)
                    .await
                    .expect("user");
                let plain = flowo_http::auth::generate_token();
                store
                    .create_token(NewApiToken {
                        user_id: user.id,
                        name: "ingest".into(),
                        scope: TokenScope::Ingest,
                        workspace_id: None,
                        prefix: plain.prefix.clone(),
                        hash: plain.hash.clone(),
                        expires_at: None,
                    })
                    .await
                    .expect("token");
                plain.token
            }
        };
        let config = flowo_http::HttpConfig {
            limits,
            ..flowo_http::HttpConfig::default()
        };
        let state = flowo_http::AppState::new(store.clone(), config)
            .await
            .expect("state");
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = flowo_http::serve(listener, state, async move {
                let _ = stopped.await;
            })
            .await;
        });
        Server {
            store,
            token,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

#[test]
fn a_run_recorded_into_the_embedded_store_is_complete_and_folded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (s, url) = embedded(dir.path());
    let sink = Sink::start(s);
    let run = sink.run_id();
    for r in records("job-failure/03-job-failure-keep-going.jsonl") {
        sink.record(r);
    }
    let report = sink.close();
    assert!(report.finished);
    assert_eq!(report.pending, 0);
    assert_eq!(report.delivered, report.events);
    // Snakemake's records plus labels, context and run_finished.
    assert_eq!(report.events, 76 + 3);
    assert!(
        (1..=report.events).contains(&report.deliveries),
        "{} deliveries for {} events",
        report.deliveries,
        report.events
    );

    let rt = runtime();
    rt.block_on(async {
        let store = open_store(&url).await;
        let seqs = stored_seqs(&store, run).await;
        assert_eq!(seqs, (0..report.events).collect::<Vec<_>>());
        let view = store.get_run(run).await.expect("get").expect("run");
        assert_eq!(view.run.status, RunStatus::Failed);
        assert_eq!(view.run.jobs.failed, 1);
        assert_eq!(view.run.jobs.succeeded, 10);
    });
    assert!(
        !dir.path()
            .join("spool")
            .join(format!("{run}.spool.jsonl"))
            .exists(),
        "nothing was spooled"
    );
}

/// A record's buffer comes back from the worker for the next record (`Sink::buffer`), empty
/// and as large as it grew; a huge one is freed rather than kept.
#[test]
fn record_buffers_are_reused_and_huge_ones_freed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (s, url) = embedded(dir.path());
    let sink = Sink::start(s);
    let run = sink.run_id();
    let fresh = sink.buffer().capacity();
    let record = |len: usize| {
        let mut json = sink.buffer();
        json.extend_from_slice(b"{\"msg\":\"");
        json.resize(json.len() + len, b'x');
        json.extend_from_slice(b"\"}");
        let capacity = json.capacity();
        sink.record(Record {
            created: 1_700_000_000.0,
            json,
        });
        capacity
    };
    let huge = record(1 << 20);
    assert!(huge >= 1 << 20);
    let grown = record(3000);
    assert!(
        grown > fresh,
        "a buffer of {grown} bytes against a new one's {fresh}"
    );
    let report = sink.close();
    assert!(report.finished);
    let reused = sink.buffer();
    assert!(reused.is_empty());
    assert_eq!(
        reused.capacity(),
        grown,
        "the 3,000-byte record's buffer, not the 1 MiB one's"
    );
    assert_eq!(sink.buffer().capacity(), fresh, "no other buffer was kept");

    let seqs = runtime().block_on(async { stored_seqs(&open_store(&url).await, run).await });
    assert_eq!(seqs, (0..report.events).collect::<Vec<_>>());
}

#[test]
fn a_server_that_comes_up_mid_run_gets_every_event_once_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = free_addr();
    let rt = runtime();
    let mut target_token = None;
    // The token must exist before the run starts: make it on the database the server will use,
    // through a server start that is stopped right away.
    rt.block_on(async {
        let s = Server::start(dir.path(), free_addr(), Default::default()).await;
        target_token = Some(s.token.clone());
        s.stop().await;
    });
    let target = Target::Server {
        url: format!("http://{addr}"),
        token: target_token,
    };
    let sink = Sink::start(settings(target, &dir.path().join("spool")));
    let run = sink.run_id();
    let all = records("large/10-large.jsonl");
    let total = all.len() as u64;
    let mut all = all.into_iter();
    for r in all.by_ref().take(600) {
        sink.record(r);
    }
    // Let some batches fail and go to the spool.
    std::thread::sleep(Duration::from_millis(300));
    let server = rt.block_on(Server::start(dir.path(), addr, Default::default()));
    for r in all {
        sink.record(r);
    }
    let report = sink.close();
    assert_eq!(report.events, total + 3);
    assert_eq!(report.pending, 0, "{report:?}");
    rt.block_on(async {
        let seqs = stored_seqs(&server.store, run).await;
        assert_eq!(seqs, (0..report.events).collect::<Vec<_>>());
        let view = server.store.get_run(run).await.expect("get").expect("run");
        assert_eq!(view.run.status, RunStatus::Succeeded);
        assert_eq!(view.run.jobs.succeeded, 202);
        server.stop().await;
    });
    assert!(
        !dir.path()
            .join("spool")
            .join(format!("{run}.spool.jsonl"))
            .exists(),
        "the spool was replayed and removed"
    );
}

#[test]
fn a_server_down_for_the_whole_run_leaves_a_spool_that_sync_delivers_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = free_addr();
    let rt = runtime();
    let token = rt.block_on(async {
        let s = Server::start(dir.path(), free_addr(), Default::default()).await;
        let token = s.token.clone();
        s.stop().await;
        token
    });
    let url = format!("http://{addr}");
    let target = Target::Server {
        url: url.clone(),
        token: Some(token.clone()),
    };
    let mut s = settings(target, &dir.path().join("spool"));
    s.close_timeout = Duration::from_millis(500);
    let sink = Sink::start(s);
    let run = sink.run_id();
    for r in records("success/01-success.jsonl") {
        sink.record(r);
    }
    let report = sink.close();
    assert_eq!(report.delivered, 0);
    assert_eq!(report.pending, report.events);
    let spooled = report.spool_file.clone().expect("a spool file");
    assert!(spooled.exists());

    let spool = Spool::open(&dir.path().join("spool")).expect("spool");
    let pending = spool.pending().expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].run_id, run);
    assert_eq!(pending[0].events, report.events);
    assert!(!pending[0].in_use, "the closed run released its spool");

    let config = FileConfig {
        url: Some(url.clone()),
        token: Some(token),
        ..FileConfig::default()
    };
    rt.block_on(async {
        let server = Server::start(dir.path(), addr, Default::default()).await;
        let mut seen = Vec::new();
        let sync = spool::sync(&spool, &config, &mut |p| seen.push(p.delivered)).await;
        assert!(sync.failed.is_empty(), "{:?}", sync.failed);
        assert_eq!(sync.events_delivered, report.events);
        assert_eq!(sync.runs_delivered, 1);
        assert_eq!(seen.last().copied(), Some(report.events));
        let again = spool::sync(&spool, &config, &mut |_| {}).await;
        assert_eq!(again.events_delivered, 0);
        let seqs = stored_seqs(&server.store, run).await;
        assert_eq!(seqs, (0..report.events).collect::<Vec<_>>());
        let view = server.store.get_run(run).await.expect("get").expect("run");
        assert_eq!(view.run.status, RunStatus::Succeeded);
        server.stop().await;
    });
    assert!(!spooled.exists());
}

#[test]
fn an_event_the_server_refuses_is_kept_aside_and_the_rest_delivered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = free_addr();
    let rt = runtime();
    let limits = flowo_http::state::Limits {
        max_event_bytes: 4096,
        ..Default::default()
    };
    let server = rt.block_on(Server::start(dir.path(), addr, limits));
    let target = Target::Server {
        url: format!("http://{addr}"),
        token: Some(server.token.clone()),
    };
    let sink = Sink::start(settings(target, &dir.path().join("spool")));
    let run = sink.run_id();
    let mut recs = records("success/01-success.jsonl");
    let mut huge = serde_json::Map::new();
    huge.insert("levelname".into(), "INFO".into());
    huge.insert("message".into(), "x".repeat(10_000).into());
    let created = recs[5].created;
    recs.insert(6, Record::from_attrs(created, &huge));
    for r in recs {
        sink.record(r);
    }
    let report = sink.close();
    assert_eq!(report.pending, 0);
    let refused = dir
        .path()
        .join("spool")
        .join(format!("{run}.refused.jsonl"));
    let text = std::fs::read_to_string(&refused).expect("refused events are kept");
    assert_eq!(text.lines().count(), 1);
    rt.block_on(async {
        let seqs = stored_seqs(&server.store, run).await;
        assert_eq!(seqs.len() as u64, report.events - 1);
        let view = server.store.get_run(run).await.expect("get").expect("run");
        assert_eq!(view.run.status, RunStatus::Succeeded);
        server.stop().await;
    });
}

/// A burst of records is sent once Snakemake goes quiet, not held for the flush interval: with
/// an interval of an hour, the records are stored while the sink is still open.
#[test]
fn a_burst_is_sent_when_snakemake_goes_quiet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut s, url) = embedded(dir.path());
    s.flush_interval = Duration::from_secs(3600);
    s.heartbeat_interval = Duration::from_secs(3600);
    let sink = Sink::start(s);
    let run = sink.run_id();
    let burst = records("job-failure/03-job-failure-keep-going.jsonl");
    let n = burst.len() as u64;
    for r in burst {
        sink.record(r);
    }
    // Labels and context, then every record: the run is open, so no run_finished yet.
    let stored = runtime().block_on(wait_for_events(&url, run, n + 2));
    assert_eq!(
        stored,
        (0..n + 2).collect::<Vec<_>>(),
        "the burst was not stored while the sink was open"
    );
    let report = sink.close();
    assert!(report.finished);
    assert_eq!(report.delivered, report.events);
}

/// No batch holds more than `batch_max` events, however long the flush interval, whether sent
/// as it fills or replayed from the spool at the end: 79 events in batches of at most 10 take
/// at least 8 deliveries, and every event is stored once.
#[test]
fn batches_hold_at_most_batch_max_events() {
    for wait_before_closing in [true, false] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut s, url) = embedded(dir.path());
        s.flush_interval = Duration::from_secs(3600);
        s.heartbeat_interval = Duration::from_secs(3600);
        s.batch_max = 10;
        let sink = Sink::start(s);
        let run = sink.run_id();
        for r in records("job-failure/03-job-failure-keep-going.jsonl") {
            sink.record(r);
        }
        if wait_before_closing {
            // Sent while the sink is open: as batches fill, and the rest once records stop.
            let stored = runtime().block_on(wait_for_events(&url, run, 76 + 2));
            assert_eq!(
                stored.len(),
                76 + 2,
                "the records were not stored while the sink was open"
            );
        }
        // Closing at once gives up what is in flight: it is sent again at the end.
        let report = sink.close();
        batches_were_bounded(&url, run, &report, 10);
    }
}

/// Waits (30 s at most) until `want` events of `run` are stored; the seqs stored.
async fn wait_for_events(url: &str, run: RunId, want: u64) -> Vec<u64> {
    let store = flowo_store::open(url, &flowo_store::StoreOptions::default())
        .await
        .expect("store");
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let seqs = stored_seqs(&store, run).await;
        if seqs.len() as u64 >= want || std::time::Instant::now() > give_up {
            return seqs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event of the run stored once, in deliveries of at most `batch_max` events.
fn batches_were_bounded(url: &str, run: RunId, report: &CloseReport, batch_max: u64) {
    assert_eq!(report.events, 76 + 3);
    assert_eq!(report.delivered, report.events);
    assert!(
        (report.events.div_ceil(batch_max)..=report.events).contains(&report.deliveries),
        "{} deliveries for {} events in batches of at most {batch_max}",
        report.deliveries,
        report.events
    );
    let seqs = runtime().block_on(async {
        let store = flowo_store::open(url, &flowo_store::StoreOptions::default())
            .await
            .expect("store");
        stored_seqs(&store, run).await
    });
    assert_eq!(seqs, (0..report.events).collect::<Vec<_>>());
}

#[test]
fn a_quiet_run_sends_heartbeats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut s, url) = embedded(dir.path());
    s.heartbeat_interval = Duration::from_millis(100);
    let sink = Sink::start(s);
    let run = sink.run_id();
    std::thread::sleep(Duration::from_secs(1));
    sink.close();
    runtime().block_on(async {
        let store = open_store(&url).await;
        let beats = store
            .run_events(
                run,
                &RunEventQuery {
                    after_seq: None,
                    kinds: vec!["heartbeat".into()],
                    limit: 1000,
                },
            )
            .await
            .expect("events");
        assert!(!beats.is_empty(), "no heartbeat in a second of silence");
    });
}

#[test]
fn a_server_that_never_answers_cannot_hold_the_ending_past_the_close_timeout() {
    // A proxy holding requests while no server behind it is up looks like this: connections
    // are accepted and nothing comes back for longer than the close timeout.
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let held = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conns.push(conn);
                        let _ = accepted_tx.send(());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    };
    let target = Target::Server {
        url: format!("http://{addr}"),
        token: Some("flowo_never_checked".to_owned()),
    };
    let mut s = settings(target, &dir.path().join("spool"));
    s.close_timeout = Duration::from_millis(500);
    let sink = Sink::start(s);
    let run = sink.run_id();
    for r in records("success/01-success.jsonl") {
        sink.record(r);
    }
    // The first batch goes out and hangs.
    accepted
        .recv_timeout(Duration::from_secs(60))
        .expect("the sink never connected");
    let report = sink.close();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    held.join().expect("listener");
    assert!(report.finished, "the ending did not finish: {report:?}");
    assert_eq!(report.run_id, Some(run));
    assert_eq!(report.delivered, 0);
    assert!(report.events > 0);
    assert_eq!(
        report.pending, report.events,
        "events neither delivered nor kept"
    );
    let spool = Spool::open(&dir.path().join("spool")).expect("spool");
    let pending = spool.pending().expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].events, report.events);
}

/// Forwards connections on `listener` to `upstream`, holding every chunk of the answers for
/// `delay`: a server that answers, slowly. Says on `accepted` each connection it takes.
async fn slow_proxy(
    listener: tokio::net::TcpListener,
    upstream: SocketAddr,
    delay: Duration,
    accepted: std::sync::mpsc::Sender<()>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    while let Ok((client, _)) = listener.accept().await {
        let _ = accepted.send(());
        tokio::spawn(async move {
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                return;
            };
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = server.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_server).await });
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = from_server.read(&mut buf).await {
                tokio::time::sleep(delay).await;
                if to_client.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Snakemake ending while a delivery is on its way to a slow server: the ending sends that
/// batch again at once rather than through the backlog, so a spool that cannot be written
/// (here a file where its directory should be) is never needed, and every event is stored once.
#[test]
fn a_delivery_in_flight_at_the_ending_is_sent_again_not_spooled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = runtime();
    let addr = free_addr();
    let server = rt.block_on(Server::start(dir.path(), addr, Default::default()));
    let proxy = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let proxy_addr = proxy.local_addr().expect("addr");
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    rt.spawn(slow_proxy(
        proxy,
        addr,
        Duration::from_millis(400),
        accepted_tx,
    ));
    let not_a_dir = dir.path().join("spool-is-a-file");
    std::fs::write(&not_a_dir, "").expect("file");
    let target = Target::Server {
        url: format!("http://{proxy_addr}"),
        token: Some(server.token.clone()),
    };
    let sink = Sink::start(settings(target, &not_a_dir));
    let run = sink.run_id();
    for r in records("success/01-success.jsonl") {
        sink.record(r);
    }
    // The first batch is on its way (its answer takes 400 ms) when Snakemake ends.
    accepted
        .recv_timeout(Duration::from_secs(60))
        .expect("the sink never connected");
    let report = sink.close();
    assert!(report.finished, "{report:?}");
    assert_eq!(
        report.backlogged, 0,
        "events went to the backlog: {report:?}"
    );
    assert_eq!(report.pending, 0, "{report:?}");
    assert_eq!(report.delivered, report.events, "{report:?}");
    rt.block_on(async {
        let seqs = stored_seqs(&server.store, run).await;
        assert_eq!(seqs, (0..report.events).collect::<Vec<_>>());
        server.stop().await;
    });
}

/// The default flush interval follows the target: 250 ms into an SQLite file, whose other
/// readers see its commits by polling every 250 ms; 50 ms to a server or PostgreSQL, whose
/// readers hear of each commit at once.
#[test]
fn the_default_flush_interval_follows_the_target() {
    let interval = |target: Target| SinkSettings::new(target).flush_interval;
    let database = |url: &str| Target::Database { url: url.into() };
    for url in [
        "sqlite:///tmp/flowo.db",
        "SQLite://flowo.db",
        "sqlite::memory:",
    ] {
        assert_eq!(interval(database(url)), Duration::from_millis(250), "{url}");
    }
    for url in ["postgres://postgres@127.0.0.1/flowo", "postgresql://h/db"] {
        assert_eq!(interval(database(url)), Duration::from_millis(50), "{url}");
    }
    let server = Target::Server {
        url: "http://127.0.0.1:8080".into(),
        token: None,
    };
    assert_eq!(interval(server), Duration::from_millis(50));
}
